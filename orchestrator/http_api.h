/* The HTTP API (KernelBox's paths and JSON, plus a little) on libmicrohttpd, driven by the
 * daemon's event loop. The only module that turns an error into an HTTP status. */
#ifndef KERNELBOX_HTTP_API_H
#define KERNELBOX_HTTP_API_H

#include <stddef.h>

#include "auth.h"
#include "config.h"
#include "loop.h"
#include "session.h"

struct tenants;

#define KERNELBOX_VERSION "0.1.0"

struct http_api;

struct http_api_params {
    const struct config *cfg;
    struct loop *loop;
    struct session_registry *reg;
    const struct auth *auth;
    struct tenants *tenants;
    const char *openapi_json;
    const char *openapi_yaml;
};

/* Listen on cfg->listen and serve from the loop. Returns NULL with err filled on failure. */
struct http_api *http_api_new(const struct http_api_params *p, char *err, size_t errlen);

/* Stop accepting connections; requests in progress go on. */
void http_api_quiesce(struct http_api *api);

/* Use a new key table (after SIGHUP); the old one may be freed once this returns. */
void http_api_set_auth(struct http_api *api, const struct auth *auth);

/* Connections still open (requests being answered, or idle keep-alive ones). */
unsigned int http_api_connections(struct http_api *api);

/* Close every connection and free the server. NULL is a no-op. */
void http_api_free(struct http_api *api);

#endif
