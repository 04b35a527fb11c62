/* A small HTTP/1.1 client for the benchmark: one TCP connection to 127.0.0.1, kept alive,
 * requests with Content-Length bodies, responses read by their Content-Length. Blocking; one
 * thread per client. */
#ifndef KBBENCH_HTTPC_H
#define KBBENCH_HTTPC_H

#include <stddef.h>

#define HTTPC_MAX_RESPONSE (64u << 20) /* a response larger than this is an error */

struct httpc {
    int fd;
    int port;
    const char *key; /* bearer key, borrowed; NULL sends none */
    int timeout_ms;  /* receive timeout currently set on fd */
    char *buf;       /* received bytes */
    size_t len;
    size_t cap;
};

struct httpc_response {
    int status;
    const char *body; /* NUL-terminated; points into the client, valid until its next call */
    size_t body_len;
};

/* Prepare a client of the daemon on 127.0.0.1:port; it connects on the first request. */
void httpc_init(struct httpc *c, int port, const char *key);

/* Connect now (a request connects by itself when needed). Returns 0 or a negative errno. */
int httpc_connect(struct httpc *c);

/* Close the connection and free the buffers; the client can be used again. */
void httpc_cleanup(struct httpc *c);

/* Send one request (body NULL: none) and read the whole response, waiting at most timeout_ms
 * for each read. Returns 0 with r filled (any status), or a negative errno: -ETIMEDOUT,
 * -ECONNRESET when the server closed the connection, -EPROTO for a response that cannot be
 * parsed, -EFBIG over HTTPC_MAX_RESPONSE. After an error the connection is closed. */
int httpc_request(struct httpc *c, const char *method, const char *path, const char *body,
                  int timeout_ms, struct httpc_response *r);

#endif
