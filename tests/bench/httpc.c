/* The benchmark's HTTP/1.1 client. It does as little as it can per request, so that what a
 * measurement shows is the daemon: one send() for the whole request, one recv() per chunk
 * with the timeout set on the socket rather than a poll() before each read. */
#include "httpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#define HTTPC_HEAD_MAX 8192
#define HTTPC_INITIAL_BUF ((size_t)64 * 1024)

void httpc_init(struct httpc *c, int port, const char *key)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->port = port;
    c->key = key;
}

static void disconnect(struct httpc *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->len = 0;
}

void httpc_cleanup(struct httpc *c)
{
    disconnect(c);
    free(c->buf);
    c->buf = NULL;
    c->cap = 0;
}

int httpc_connect(struct httpc *c)
{
    struct sockaddr_in sa;
    int one = 1, fd, rc;

    disconnect(c);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)c->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->fd = fd;
    c->timeout_ms = 0;
    return 0;
}

static int set_timeout(struct httpc *c, int timeout_ms)
{
    struct timeval tv;

    if (c->timeout_ms == timeout_ms)
        return 0;
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000;
    if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
        return -errno;
    c->timeout_ms = timeout_ms;
    return 0;
}

/* Send head and body as one segment (one sendmsg() call unless the socket is full). */
static int send_request(int fd, const char *head, size_t hlen, const char *body, size_t blen)
{
    struct iovec iov[2] = {{(void *)head, hlen}, {(void *)body, blen}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = blen > 0 ? 2 : 1};

    while (mh.msg_iovlen > 0) {
        ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
        size_t left;

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EPIPE ? -ECONNRESET : -errno;
        }
        left = (size_t)n;
        while (mh.msg_iovlen > 0 && left >= mh.msg_iov[0].iov_len) {
            left -= mh.msg_iov[0].iov_len;
            mh.msg_iov++;
            mh.msg_iovlen--;
        }
        if (mh.msg_iovlen > 0) {
            mh.msg_iov[0].iov_base = (char *)mh.msg_iov[0].iov_base + left;
            mh.msg_iov[0].iov_len -= left;
        }
    }
    return 0;
}

/* Read more bytes into the buffer (keeping one byte for a NUL). */
static int fill(struct httpc *c)
{
    ssize_t n;

    if (c->cap - c->len < 4096) {
        size_t cap = c->cap ? c->cap * 2 : HTTPC_INITIAL_BUF;
        char *nb;

        if (cap > HTTPC_MAX_RESPONSE + HTTPC_HEAD_MAX + 1)
            return -EFBIG;
        nb = realloc(c->buf, cap);
        if (nb == NULL)
            return -ENOMEM;
        c->buf = nb;
        c->cap = cap;
    }
    for (;;) {
        n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
        if (n > 0)
            break;
        if (n == 0)
            return -ECONNRESET;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return -ETIMEDOUT;
        return -errno;
    }
    c->len += (size_t)n;
    return 0;
}

/* The value of header name in head[0..len), or NULL; *vlen gets its length. */
static const char *header_value(const char *head, size_t len, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name);
    const char *p = memchr(head, '\n', len), *end = head + len;

    while (p != NULL && p + 1 < end) {
        const char *line = p + 1, *eol = memchr(line, '\n', (size_t)(end - line));

        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - line) > nlen && line[nlen] == ':' &&
            strncasecmp(line, name, nlen) == 0) {
            const char *v = line + nlen + 1;

            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            *vlen = (size_t)(eol - v);
            while (*vlen > 0 && (v[*vlen - 1] == '\r' || v[*vlen - 1] == ' '))
                (*vlen)--;
            return v;
        }
        p = eol < end ? eol : NULL;
    }
    return NULL;
}

int httpc_request(struct httpc *c, const char *method, const char *path, const char *body,
                  int timeout_ms, struct httpc_response *r)
{
    char head[HTTPC_HEAD_MAX], *hend = NULL;
    size_t blen = body ? strlen(body) : 0, hlen, clen = 0, total, vlen = 0;
    const char *v;
    bool close_after = false;
    int n, rc;

    memset(r, 0, sizeof(*r));
    if (c->fd < 0) {
        rc = httpc_connect(c);
        if (rc < 0)
            return rc;
    }
    n = snprintf(head, sizeof(head),
                 "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s%s%s"
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                 method, path, c->port, c->key ? "Authorization: Bearer " : "",
                 c->key ? c->key : "", c->key ? "\r\n" : "", blen);
    if (n < 0 || (size_t)n >= sizeof(head))
        return -ENAMETOOLONG;
    rc = set_timeout(c, timeout_ms);
    if (rc == 0)
        rc = send_request(c->fd, head, (size_t)n, body, blen);
    if (rc < 0)
        goto error;

    c->len = 0;
    for (;;) {
        if (c->len > 0) {
            c->buf[c->len] = '\0';
            hend = memmem(c->buf, c->len, "\r\n\r\n", 4);
            if (hend != NULL)
                break;
            if (c->len > HTTPC_HEAD_MAX) {
                rc = -EPROTO;
                goto error;
            }
        }
        rc = fill(c);
        if (rc < 0)
            goto error;
    }
    hlen = (size_t)(hend - c->buf) + 4;
    if (hlen < 12 || strncmp(c->buf, "HTTP/1.", 7) != 0) {
        rc = -EPROTO;
        goto error;
    }
    r->status = atoi(c->buf + 9);
    v = header_value(c->buf, hlen, "Content-Length", &vlen);
    if (v == NULL) {
        /* The daemon always sends a length; nothing else is supported. */
        rc = -EPROTO;
        goto error;
    }
    clen = strtoull(v, NULL, 10);
    if (clen > HTTPC_MAX_RESPONSE) {
        rc = -EFBIG;
        goto error;
    }
    v = header_value(c->buf, hlen, "Connection", &vlen);
    if (v != NULL && vlen == 5 && strncasecmp(v, "close", 5) == 0)
        close_after = true;
    total = hlen + clen;
    while (c->len < total) {
        rc = fill(c);
        if (rc < 0)
            goto error;
    }
    /* Nothing is pipelined, so whatever came after the body is not ours. */
    c->buf[total] = '\0';
    r->body = c->buf + hlen;
    r->body_len = clen;
    c->len = 0;
    if (close_after) {
        close(c->fd);
        c->fd = -1;
    }
    return 0;

error:
    disconnect(c);
    memset(r, 0, sizeof(*r));
    return rc;
}
