/* The HTTP API on libmicrohttpd in external-epoll mode: its descriptors live in the daemon's
 * loop, and a request that waits for a kernel is a suspended connection, not a thread. */
#include "http_api.h"

#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "log.h"
#include "request.h"
#include "tenant.h"
#include "util/buf.h"
#include "util/text.h"

/* libmicrohttpd's memory per connection: the request line and headers, its read buffer and
 * the response's headers. It clears what a request used before the next one on the
 * connection, so more of it costs every request (64 KiB: 3% of the daemon's CPU per
 * execute); 32 KiB still takes headers of well over 8 KiB. */
#define HTTP_HEADER_MEMORY (32u * 1024u)
#define HTTP_RUN_PASSES 4 /* MHD_run() calls in a row while libmicrohttpd has work at hand */
#define HTTP_CORS_MAX_AGE "600"
#define HTTP_SSE_KEEPALIVE_MS 10000
#define HTTP_SSE_BLOCK (64u * 1024u)
#define HTTP_REQUEST_ID_MAX 64
/* How often a connection waiting for its execution or file operation is looked at for a
 * client that has gone (libmicrohttpd does not watch a suspended connection). */
#define HTTP_PEER_CHECK_MS 1000
#define HTTP_CLIENT_GONE 499
#define HTTP_QUEUED_CHECK_US 50000 /* a job that waited this long is looked at before it runs */
/* A body over the cap is read and dropped up to this much more, so that the client can read
 * the 413 instead of finding its connection closed mid-upload; past it, the connection is. */
#define HTTP_DISCARD_MAX (16ull << 20)

struct http_api {
    struct http_api_params p;
    const struct auth *auth; /* swapped by http_api_set_auth() */
    struct MHD_Daemon *mhd;
    struct loop_io io;
    struct loop_defer run_soon; /* a resumed connection is served on the next MHD_run() */
    struct loop_timer run_timer; /* libmicrohttpd's own deadline: timeouts, buffered data */
    struct list_node parked;     /* struct request_ctx waiting on the session layer */
};

struct request_ctx {
    struct list_node node; /* in api->parked while suspended */
    struct http_api *api;
    struct MHD_Connection *conn;
    char request_id[HTTP_REQUEST_ID_MAX + 1];
    char method[8];
    char path[256];
    enum http_method verb;
    struct route_match route;
    const char *tenant;       /* its name, for logs; points into tenant */
    struct tenant *tenant_state;
    char origin[256];         /* an allowed Origin to echo, or "" */
    bool preflight;
    double retry_after;       /* seconds, sent as Retry-After when > 0 */

    /* Server-Sent Events (Accept: text/event-stream on an execute) */
    bool sse;             /* the client asked for a stream */
    bool sse_started;     /* the execution runs: the stream's headers may go out */
    bool sse_queued;      /* the stream response is queued */
    bool sse_finished;    /* the done event is in sse_out */
    bool sse_waiting;     /* the connection is suspended waiting for events */
    bool job_pending;     /* the session layer still holds rc->job */
    bool download;        /* the response is a session's file, not JSON */
    struct buf sse_out;   /* events not yet written */
    size_t sse_sent;      /* how much of sse_out is written */
    uint64_t sse_id;      /* id of the last event */
    struct loop_timer sse_keepalive;
    struct loop_timer peer_check; /* while the session layer holds the job */
    bool peer_gone;               /* the client closed its connection meanwhile */
    struct buf body;
    bool too_large;
    unsigned long long received; /* body bytes read, kept or not */
    bool suspended;
    bool has_response;
    unsigned int status;
    char *response;
    size_t response_len;
    const char *content_type;
    const char *allow;
    bool challenge;
    bool close_after; /* the request's framing is in doubt: no further request on it */
    int success_status;
    struct session_job job;
    uint64_t started_us;
};

/* ---- responses ------------------------------------------------------------------------ */

/* src into dst of size bytes, cut to fit, NUL-terminated (snprintf "%s" without printf). */
static void copy_cut(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);

    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void set_response(struct request_ctx *rc, unsigned int status, char *text, size_t len,
                         const char *content_type)
{
    free(rc->response);
    rc->status = status;
    rc->response = text;
    rc->response_len = len;
    rc->content_type = content_type;
    rc->has_response = true;
}

static void respond_json(struct request_ctx *rc, unsigned int status, json_object *obj)
{
    const char *text;
    char *copy;

    text = obj ? json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE)
               : NULL;
    copy = text ? strdup(text) : NULL;
    json_object_put(obj);
    if (copy == NULL) {
        static const char oom[] = "{\"detail\":\"kernelboxd is out of memory\"}";

        set_response(rc, MHD_HTTP_INTERNAL_SERVER_ERROR, strdup(oom), sizeof(oom) - 1,
                     "application/json");
        return;
    }
    set_response(rc, status, copy, strlen(copy), "application/json");
}

static void respond_error(struct request_ctx *rc, unsigned int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void respond_error(struct request_ctx *rc, unsigned int status, const char *fmt, ...)
{
    json_object *obj = json_object_new_object();
    char detail[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    json_object_object_add(obj, "detail", json_object_new_string(detail));
    respond_json(rc, status, obj);
}

/* The one place where an error code becomes an HTTP status. */
static unsigned int status_for(int error)
{
    switch (error) {
    case -ENOENT:
        return MHD_HTTP_NOT_FOUND;
    case -EEXIST:
    case -ECANCELED:
    case -EAGAIN:
        return MHD_HTTP_CONFLICT;
    case -EINVAL:
        return MHD_HTTP_UNPROCESSABLE_CONTENT;
    case -EBADMSG:
        return MHD_HTTP_BAD_REQUEST;
    case -EFBIG:
        return MHD_HTTP_CONTENT_TOO_LARGE;
    case -EHOSTUNREACH:
    case -ESHUTDOWN:
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    case -ETIMEDOUT:
        return MHD_HTTP_GATEWAY_TIMEOUT;
    case -EDQUOT:
        return MHD_HTTP_INSUFFICIENT_STORAGE;
    case -EUSERS:
        return MHD_HTTP_TOO_MANY_REQUESTS;
    case -ENOSPC:
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    default:
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

static enum MHD_Result send_response(struct request_ctx *rc)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(rc->response_len, rc->response,
                                           MHD_RESPMEM_MUST_FREE);
    if (resp == NULL)
        return MHD_NO;
    rc->response = NULL;
    MHD_add_response_header(resp, "Content-Type", rc->content_type);
    MHD_add_response_header(resp, "X-Request-Id", rc->request_id);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (rc->allow != NULL)
        MHD_add_response_header(resp, "Allow", rc->allow);
    if (rc->download) {
        /* A file written by untrusted code: never rendered in the API's origin. */
        MHD_add_response_header(resp, "Content-Disposition", "attachment");
        MHD_add_response_header(resp, "Content-Security-Policy", "sandbox");
    }
    if (rc->challenge)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"kernelbox\"");
    if (rc->close_after)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (rc->retry_after > 0) {
        char secs[32];

        snprintf(secs, sizeof(secs), "%.0f", rc->retry_after < 1 ? 1 : ceil(rc->retry_after));
        MHD_add_response_header(resp, "Retry-After", secs);
    }
    if (rc->api->p.cfg->cors_origins != NULL)
        MHD_add_response_header(resp, "Vary", "Origin");
    if (rc->origin[0] != '\0') {
        /* Exact origins only, and never with credentials: the key travels in a header the
         * page sets itself. */
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", rc->origin);
        if (rc->preflight) {
            MHD_add_response_header(resp, "Access-Control-Allow-Methods",
                                    "GET, POST, PUT, DELETE");
            MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                    "Authorization, Content-Type, X-Request-Id");
            MHD_add_response_header(resp, "Access-Control-Max-Age", HTTP_CORS_MAX_AGE);
        } else {
            MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                                    "X-Request-Id, Retry-After");
        }
    }
    ret = MHD_queue_response(rc->conn, rc->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- session jobs --------------------------------------------------------------------- */

/* A Content-Type from a file name's extension; unknown ones are plain bytes. */
static const char *content_type_of(const char *path)
{
    static const struct {
        const char *ext;
        const char *type;
    } types[] = {
        {".png", "image/png"},       {".jpg", "image/jpeg"},       {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},       {".svg", "image/svg+xml"},    {".webp", "image/webp"},
        {".pdf", "application/pdf"}, {".json", "application/json"}, {".csv", "text/csv"},
        {".txt", "text/plain"},      {".md", "text/markdown"},     {".html", "text/html"},
        {".py", "text/x-python"},    {".parquet", "application/vnd.apache.parquet"},
        {".zip", "application/zip"}, {".gz", "application/gzip"},  {".tar", "application/x-tar"},
    };
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');

    if (dot == NULL || (slash != NULL && dot < slash))
        return "application/octet-stream";
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcasecmp(dot, types[i].ext) == 0)
            return types[i].type;
    }
    return "application/octet-stream";
}

static void sse_append(struct request_ctx *rc, const char *event, json_object *data);
static void sse_wake(struct request_ctx *rc);

/* Give a parked connection back to libmicrohttpd, to be served on its next run. */
static void unpark(struct request_ctx *rc)
{
    if (!rc->suspended)
        return;
    rc->suspended = false;
    list_remove(&rc->node);
    MHD_resume_connection(rc->conn);
    /* In external-poll mode a resume does not wake the loop by itself. */
    loop_defer(rc->api->p.loop, &rc->api->run_soon);
}

static void on_job_done(struct session_job *job)
{
    struct request_ctx *rc = job->owner;

    rc->job_pending = false;
    if (rc->sse_started) {
        /* The stream is open: the outcome is its last event. */
        json_object *data = NULL;

        if (job->error < 0) {
            data = json_object_new_object();
            json_object_object_add(data, "status", json_object_new_int(
                                                       (int)status_for(job->error)));
            json_object_object_add(data, "detail", json_object_new_string(job->detail));
            sse_append(rc, "failed", data);
        } else if (job->body != NULL) {
            json_object_object_del(job->body, "outputs");
            sse_append(rc, "done", job->body); /* borrowed: session_job_cleanup() frees it */
        }
        json_object_put(data);
        rc->sse_finished = true;
        loop_timer_stop(rc->api->p.loop, &rc->sse_keepalive);
        session_job_cleanup(job);
        sse_wake(rc);
        return;
    }
    if (job->error < 0) {
        rc->retry_after = job->retry_after;
        respond_error(rc, status_for(job->error), "%s", job->detail);
    } else if (job->file.op == SESSION_FILE_READ) {
        size_t len = 0;
        char *bytes = buf_steal(&job->file.out, &len);

        if (bytes == NULL)
            respond_error(rc, MHD_HTTP_INTERNAL_SERVER_ERROR, "kernelboxd is out of memory");
        else
            set_response(rc, MHD_HTTP_OK, bytes, len, content_type_of(job->file.path));
        rc->download = true;
    } else if (job->body_text != NULL) {
        set_response(rc, (unsigned int)rc->success_status, job->body_text, job->body_text_len,
                     "application/json");
        job->body_text = NULL;
    } else if (job->body == NULL) {
        respond_error(rc, MHD_HTTP_INTERNAL_SERVER_ERROR, "kernelboxd is out of memory");
    } else {
        respond_json(rc, (unsigned int)rc->success_status, job->body);
        job->body = NULL;
    }
    session_job_cleanup(job);
    unpark(rc);
}

/* Hand the request to the session layer and park the connection until it answers. */
static void park(struct request_ctx *rc, int success_status)
{
    rc->success_status = success_status;
    rc->suspended = true;
    list_push_back(&rc->api->parked, &rc->node);
    MHD_suspend_connection(rc->conn);
    if (rc->job_pending)
        loop_timer_start(rc->api->p.loop, &rc->peer_check, now_ms() + HTTP_PEER_CHECK_MS);
}

/* Whether the client has closed the connection (or it failed): its end of the stream, seen
 * without taking anything a client may have sent ahead (a pipelined request). A client that
 * only shuts down its sending side looks the same, and is taken as gone too. */
static bool client_closed(const struct request_ctx *rc)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(rc->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    char c;
    ssize_t n;

    if (ci == NULL)
        return false;
    n = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* A waiting connection whose client has left is handed back to libmicrohttpd, which closes
 * it; on_completed() then abandons the job: a running execution is interrupted, a queued
 * one never runs. Without this, a client that gave up (a timeout, a crash) left its code
 * running for nobody, and its retry waited in the session's queue behind it. */
static bool check_peer(struct request_ctx *rc)
{
    if (rc->peer_gone)
        return true;
    if (!rc->job_pending || !(rc->suspended || rc->sse_waiting) || !client_closed(rc))
        return false;
    rc->peer_gone = true;
    loop_timer_stop(rc->api->p.loop, &rc->peer_check);
    if (rc->suspended)
        unpark(rc);
    else
        sse_wake(rc);
    return true;
}

static void on_peer_check(struct loop_timer *t)
{
    struct request_ctx *rc = LIST_CONTAINER(t, struct request_ctx, peer_check);

    if (rc->job_pending && !check_peer(rc))
        loop_timer_start(rc->api->p.loop, &rc->peer_check, now_ms() + HTTP_PEER_CHECK_MS);
}

/* Asked by the session layer when a queued job's turn comes: one that waited less than a
 * check period would otherwise run although its client had left. A job that did not wait
 * (most of them: its session was idle) is not looked at, which would cost a system call per
 * execute; the periodic check finds its client gone while it runs. */
static bool job_client_gone(struct session_job *job)
{
    struct request_ctx *rc = job->owner;

    return rc != NULL && (rc->peer_gone || (now_us() - rc->started_us >= HTTP_QUEUED_CHECK_US &&
                                            check_peer(rc)));
}

static void init_job(struct request_ctx *rc)
{
    memset(&rc->job, 0, sizeof(rc->job));
    rc->job.done = on_job_done;
    rc->job.client_gone = job_client_gone;
    rc->job.owner = rc;
    rc->job.request_id = rc->request_id;
    rc->job.tenant = rc->tenant;
}

/* ---- routes --------------------------------------------------------------------------- */

static json_object *api_link(const char *href, const char *description)
{
    json_object *obj = json_object_new_object();

    json_object_object_add(obj, "href", json_object_new_string(href));
    json_object_object_add(obj, "description", json_object_new_string(description));
    return obj;
}

static void route_root(struct request_ctx *rc)
{
    json_object *obj = json_object_new_object(), *links = json_object_new_object();

    json_object_object_add(obj, "service", json_object_new_string("kernelbox"));
    json_object_object_add(obj, "version", json_object_new_string(KERNELBOX_VERSION));
    json_object_object_add(links, "health", api_link("/health", "Liveness of the daemon."));
    json_object_object_add(links, "ready",
                           api_link("/ready", "Whether the Docker Engine answers (503 if not)."));
    json_object_object_add(links, "openapi", api_link("/openapi.json", "OpenAPI description."));
    json_object_object_add(links, "openapi_yaml", api_link("/openapi.yaml", "The same, as YAML."));
    json_object_object_add(links, "sessions", api_link("/sessions", "Named sessions."));
    json_object_object_add(links, "kernels", api_link("/kernels", "Kernels by id."));
    json_object_object_add(obj, "links", links);
    respond_json(rc, MHD_HTTP_OK, obj);
}

static void route_health(struct request_ctx *rc)
{
    json_object *obj = json_object_new_object();

    json_object_object_add(obj, "status", json_object_new_string("ok"));
    json_object_object_add(obj, "service", json_object_new_string("kernelbox"));
    json_object_object_add(obj, "version", json_object_new_string(KERNELBOX_VERSION));
    respond_json(rc, MHD_HTTP_OK, obj);
}

static void respond_text(struct request_ctx *rc, const char *text, const char *content_type)
{
    char *copy = strdup(text);

    if (copy == NULL) {
        respond_error(rc, MHD_HTTP_INTERNAL_SERVER_ERROR, "kernelboxd is out of memory");
        return;
    }
    set_response(rc, MHD_HTTP_OK, copy, strlen(copy), content_type);
}

/* ---- streaming (Server-Sent Events) ---------------------------------------------------- */

/* Add one event to the stream; data is borrowed. */
static void sse_append(struct request_ctx *rc, const char *event, json_object *data)
{
    char head[96];
    const char *text = data ? json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN |
                                                                  JSON_C_TO_STRING_NOSLASHESCAPE)
                            : "{}";

    /* JSON text holds no newline, so one data line carries the whole event. */
    snprintf(head, sizeof(head), "id: %llu\nevent: %s\ndata: ",
             (unsigned long long)++rc->sse_id, event);
    if (buf_append_str(&rc->sse_out, head) < 0 || buf_append_str(&rc->sse_out, text) < 0 ||
        buf_append_str(&rc->sse_out, "\n\n") < 0)
        log_warn(&(struct log_ctx){.request_id = rc->request_id}, "http.stream",
                 "event dropped: out of memory");
}

/* New bytes to write: let libmicrohttpd pull them. */
static void sse_wake(struct request_ctx *rc)
{
    if (rc->sse_waiting) {
        rc->sse_waiting = false;
        MHD_resume_connection(rc->conn);
        loop_defer(rc->api->p.loop, &rc->api->run_soon);
    }
}

static void on_sse_keepalive(struct loop_timer *t)
{
    struct request_ctx *rc = LIST_CONTAINER(t, struct request_ctx, sse_keepalive);

    /* A comment line: proxies see traffic, and a client that left is found out. */
    buf_append_str(&rc->sse_out, ": keep-alive\n\n");
    sse_wake(rc);
    loop_timer_start(rc->api->p.loop, &rc->sse_keepalive, now_ms() + HTTP_SSE_KEEPALIVE_MS);
}

static void on_sse_start(struct session_job *job)
{
    struct request_ctx *rc = job->owner;

    rc->sse_started = true;
    loop_timer_start(rc->api->p.loop, &rc->sse_keepalive, now_ms() + HTTP_SSE_KEEPALIVE_MS);
    /* Resume so that the handler queues the stream's headers now. */
    unpark(rc);
}

static void on_sse_output(struct session_job *job, const char *kind, json_object *event)
{
    struct request_ctx *rc = job->owner;

    sse_append(rc, kind, event);
    json_object_put(event);
    sse_wake(rc);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct request_ctx *rc = cls;
    size_t avail = rc->sse_out.len - rc->sse_sent;

    (void)pos;
    if (rc->peer_gone)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (avail == 0) {
        if (rc->sse_finished)
            return MHD_CONTENT_READER_END_OF_STREAM;
        /* Nothing yet: wait without spinning until an event or a keep-alive comes. */
        rc->sse_waiting = true;
        MHD_suspend_connection(rc->conn);
        return 0;
    }
    if (avail > max)
        avail = max;
    memcpy(out, rc->sse_out.data + rc->sse_sent, avail);
    rc->sse_sent += avail;
    if (rc->sse_sent == rc->sse_out.len) {
        /* Everything is out: reuse the buffer from its start. */
        rc->sse_out.len = 0;
        rc->sse_sent = 0;
    }
    return (ssize_t)avail;
}

static enum MHD_Result queue_stream(struct request_ctx *rc)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HTTP_SSE_BLOCK, sse_read, rc,
                                             NULL);
    if (resp == NULL)
        return MHD_NO;
    rc->sse_queued = true;
    rc->status = MHD_HTTP_OK;
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    MHD_add_response_header(resp, "X-Request-Id", rc->request_id);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (rc->api->p.cfg->cors_origins != NULL)
        MHD_add_response_header(resp, "Vary", "Origin");
    if (rc->origin[0] != '\0')
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", rc->origin);
    ret = MHD_queue_response(rc->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Fill job->exec from a validated body; false when a response was set instead. */
static bool take_exec(struct request_ctx *rc, bool retry)
{
    const struct config *cfg = rc->api->p.cfg;
    struct request_exec ex;
    char detail[256];
    int err;

    err = request_parse_exec(rc->body.data ? rc->body.data : "", rc->body.len, retry, &ex,
                             detail, sizeof(detail));
    if (err < 0) {
        respond_error(rc, status_for(err), "%s", detail);
        return false;
    }
    init_job(rc);
    rc->job.exec.code = ex.code;
    rc->job.exec.bash = ex.bash;
    rc->job.exec.timeout = ex.timeout > 0 ? ex.timeout : cfg->execution_timeout;
    rc->job.exec.max_attempts = retry ? (ex.max_attempts > 0 ? ex.max_attempts
                                                             : (int)cfg->max_retries)
                                      : 0;
    rc->job.exec.replacement_codes = ex.replacement_codes;
    rc->job_pending = true;
    if (rc->sse) {
        rc->job.on_start = on_sse_start;
        rc->job.on_output = on_sse_output;
    }
    return true;
}

static struct session *find_or_404(struct request_ctx *rc, const char *what)
{
    struct session *s = strcmp(what, "session") == 0
                            ? session_find_named(rc->api->p.reg, rc->tenant_state,
                                                 rc->route.param)
                            : session_find(rc->api->p.reg, rc->tenant_state, rc->route.param);

    if (s == NULL)
        respond_error(rc, MHD_HTTP_NOT_FOUND, "Unknown %s: %s", what, rc->route.param);
    return s;
}

static void dispatch(struct request_ctx *rc)
{
    struct session_registry *reg = rc->api->p.reg;
    const char *body = rc->body.data ? rc->body.data : "";
    char detail[256];
    struct session *s;
    json_object *obj;
    int err;

    switch (rc->route.id) {
    case ROUTE_ROOT:
        route_root(rc);
        return;
    case ROUTE_HEALTH:
        route_health(rc);
        return;
    case ROUTE_READY: {
        char why[BACKEND_ERR_MAX];

        if (!session_engine_ready(reg, why, sizeof(why))) {
            respond_error(rc, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready: %s", why);
            return;
        }
        obj = json_object_new_object();
        json_object_object_add(obj, "status", json_object_new_string("ready"));
        json_object_object_add(obj, "engine", json_object_new_string("ok"));
        json_object_object_add(obj, "sessions", json_object_new_int(session_count(reg)));
        {
            int ready = 0, total = 0;
            json_object *pool = json_object_new_object();

            session_pool_counts(reg, &ready, &total);
            json_object_object_add(pool, "ready", json_object_new_int(ready));
            json_object_object_add(pool, "size", json_object_new_int(total));
            json_object_object_add(obj, "pool", pool);
        }
        respond_json(rc, MHD_HTTP_OK, obj);
        return;
    }
    case ROUTE_OPENAPI_JSON:
        respond_text(rc, rc->api->p.openapi_json, "application/json");
        return;
    case ROUTE_OPENAPI_YAML:
        respond_text(rc, rc->api->p.openapi_yaml, "application/yaml");
        return;
    case ROUTE_SESSIONS:
        obj = json_object_new_object();
        json_object_object_add(obj, "sessions", session_list_json(reg, rc->tenant_state));
        respond_json(rc, MHD_HTTP_OK, obj);
        return;
    case ROUTE_SESSION:
        if (rc->verb == METHOD_GET) {
            s = find_or_404(rc, "session");
            if (s != NULL)
                respond_json(rc, MHD_HTTP_OK, session_json(s));
        } else if (rc->verb == METHOD_DELETE) {
            s = find_or_404(rc, "session");
            if (s == NULL)
                return;
            init_job(rc);
            session_delete(reg, s, &rc->job);
            park(rc, MHD_HTTP_OK);
        } else {
            struct request_create c;

            err = request_parse_create(body, rc->body.len, false, &c, detail, sizeof(detail));
            if (err < 0) {
                respond_error(rc, status_for(err), "%s", detail);
                return;
            }
            init_job(rc);
            session_get_or_create(reg, rc->tenant_state, rc->route.param, c.tags, &c.settings,
                                  &rc->job);
            request_create_cleanup(&c);
            park(rc, MHD_HTTP_OK);
        }
        return;
    case ROUTE_SESSION_EXECUTE:
        if (!take_exec(rc, false))
            return;
        session_execute_named(reg, rc->tenant_state, rc->route.param, &rc->job);
        park(rc, MHD_HTTP_OK);
        return;
    case ROUTE_KERNELS:
        if (rc->verb == METHOD_GET) {
            obj = json_object_new_object();
            json_object_object_add(obj, "kernels", session_list_json(reg, rc->tenant_state));
            respond_json(rc, MHD_HTTP_OK, obj);
        } else if (rc->verb == METHOD_DELETE) {
            init_job(rc);
            session_delete_all(reg, rc->tenant_state, &rc->job);
            park(rc, MHD_HTTP_OK);
        } else {
            struct request_create c;

            err = request_parse_create(body, rc->body.len, true, &c, detail, sizeof(detail));
            if (err < 0) {
                respond_error(rc, status_for(err), "%s", detail);
                return;
            }
            init_job(rc);
            session_create_kernel(reg, rc->tenant_state, c.name, c.session_name, c.tags,
                                  &c.settings, &rc->job);
            request_create_cleanup(&c);
            park(rc, MHD_HTTP_CREATED);
        }
        return;
    case ROUTE_KERNEL:
        s = find_or_404(rc, "kernel");
        if (s == NULL)
            return;
        if (rc->verb == METHOD_GET) {
            obj = json_object_new_object();
            json_object_object_add(obj, "alive", json_object_new_boolean(session_alive(s)));
            json_object_object_add(obj, "kernel", session_json(s));
            respond_json(rc, MHD_HTTP_OK, obj);
        } else {
            init_job(rc);
            session_delete(reg, s, &rc->job);
            park(rc, MHD_HTTP_OK);
        }
        return;
    case ROUTE_KERNEL_RESTART:
        s = find_or_404(rc, "kernel");
        if (s == NULL)
            return;
        init_job(rc);
        session_restart(reg, s, &rc->job);
        park(rc, MHD_HTTP_OK);
        return;
    case ROUTE_KERNEL_INTERRUPT:
        s = find_or_404(rc, "kernel");
        if (s == NULL)
            return;
        err = session_interrupt(reg, s);
        if (err < 0)
            respond_error(rc, status_for(err), "kernel %s is not running", rc->route.param);
        else
            respond_json(rc, MHD_HTTP_OK, session_json(s));
        return;
    case ROUTE_SESSION_FILES:
        init_job(rc);
        rc->job_pending = true;
        snprintf(rc->job.file.path, sizeof(rc->job.file.path), "%s", rc->route.file_path);
        buf_init(&rc->job.file.out, (size_t)rc->api->p.cfg->max_upload);
        rc->job.file.max = (size_t)rc->api->p.cfg->max_upload;
        if (rc->verb == METHOD_PUT) {
            rc->job.file.op = SESSION_FILE_WRITE;
            rc->job.file.data = body;
            rc->job.file.len = rc->body.len;
        } else if (rc->verb == METHOD_DELETE) {
            rc->job.file.op = SESSION_FILE_DELETE;
        } else {
            rc->job.file.op = rc->route.file_dir ? SESSION_FILE_LIST : SESSION_FILE_READ;
        }
        session_files(reg, rc->tenant_state, rc->route.param,
                      rc->job.file.op == SESSION_FILE_WRITE, &rc->job);
        park(rc, MHD_HTTP_OK);
        return;
    case ROUTE_KERNEL_EXECUTE:
    case ROUTE_KERNEL_RETRY:
        s = find_or_404(rc, "kernel");
        if (s == NULL || !take_exec(rc, rc->route.id == ROUTE_KERNEL_RETRY))
            return;
        session_execute(reg, s, &rc->job);
        park(rc, MHD_HTTP_OK);
        return;
    }
    respond_error(rc, MHD_HTTP_NOT_FOUND, "Not Found");
}

/* ---- libmicrohttpd callbacks ---------------------------------------------------------- */

static bool request_id_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > HTTP_REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* Whether origin is one of the exact origins in the comma-separated list. */
static bool origin_allowed(const char *list, const char *origin)
{
    size_t n = strlen(origin);
    const char *p = list;

    if (list == NULL || n == 0)
        return false;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);

        if (len == n && strncmp(p, origin, n) == 0)
            return true;
        p += len;
        if (*p == ',')
            p++;
    }
    return false;
}

/* A CORS preflight: answered only for an allowed origin asking for a method we serve. */
static void preflight(struct request_ctx *rc, const char *url, const char *origin)
{
    const char *method = MHD_lookup_connection_value(rc->conn, MHD_HEADER_KIND,
                                                     "Access-Control-Request-Method");
    struct route_match m;
    enum http_method verb;
    int err;

    if (origin == NULL || method == NULL) {
        /* Not a CORS preflight: OPTIONS is not served; Allow names what this path serves. */
        err = request_route(METHOD_OTHER, url, &m, NULL, 0);
        if (err == -ENOENT) {
            respond_error(rc, MHD_HTTP_NOT_FOUND, "Not Found");
            return;
        }
        rc->allow = m.allow != NULL ? m.allow : "GET, POST, DELETE";
        respond_error(rc, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed");
        return;
    }
    if (rc->origin[0] == '\0') {
        respond_error(rc, MHD_HTTP_FORBIDDEN, "origin not allowed");
        return;
    }
    verb = request_method(method);
    err = request_route(verb == METHOD_OTHER ? METHOD_GET : verb, url, &m, NULL, 0);
    if (verb == METHOD_OTHER || err == -ENOENT || err == -EPERM) {
        rc->origin[0] = '\0';
        respond_error(rc, MHD_HTTP_FORBIDDEN, "method or path not allowed");
        return;
    }
    rc->preflight = true;
    set_response(rc, MHD_HTTP_NO_CONTENT, strdup(""), 0, "text/plain");
}

struct framing {
    int content_length; /* how many Content-Length headers */
    int transfer_encoding;
    bool chunked_only; /* every Transfer-Encoding says exactly "chunked" */
    bool bad_name;     /* a header name that is not an HTTP token ("Content-Length :") */
};

/* RFC 9110 tchar: what a header name is made of. */
static bool token_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    struct framing *f = cls;

    (void)kind;
    if (*key == '\0')
        f->bad_name = true;
    for (const char *p = key; *p != '\0'; p++)
        if (!token_char((unsigned char)*p))
            f->bad_name = true;
    if (strcasecmp(key, "Content-Length") == 0) {
        f->content_length++;
    } else if (strcasecmp(key, "Transfer-Encoding") == 0) {
        f->transfer_encoding++;
        if (value == NULL || strcasecmp(value, "chunked") != 0)
            f->chunked_only = false;
    }
    return MHD_YES;
}

/* Where the body ends must be beyond doubt. A proxy in front of the daemon that read a
 * request's length otherwise than libmicrohttpd (two Content-Length headers, one beside
 * Transfer-Encoding, which takes precedence, or "Content-Length :" that one of them trims
 * and the other takes for another header) would pass what it took for the next request
 * inside this one's body, or the other way round: a request smuggled past it, and answers
 * handed to the wrong client on a shared connection. Such a request gets 400 and its
 * connection is closed. */
static bool framing_ok(struct request_ctx *rc)
{
    struct framing f = {.chunked_only = true};
    const char *why;

    MHD_get_connection_values(rc->conn, MHD_HEADER_KIND, count_framing, &f);
    if (f.bad_name)
        why = "a header name holds a character a name cannot (a space before the colon?)";
    else if (f.content_length > 1)
        why = "more than one Content-Length header";
    else if (f.transfer_encoding > 1 || !f.chunked_only)
        why = "Transfer-Encoding: only a single \"chunked\" is understood";
    else if (f.content_length == 1 && f.transfer_encoding == 1)
        why = "both Content-Length and Transfer-Encoding: the body's length is in doubt";
    else
        return true; /* one Content-Length, chunked alone, or no body */
    rc->close_after = true;
    respond_error(rc, MHD_HTTP_BAD_REQUEST, "%s", why);
    return false;
}

/* First sight of a request: route, authenticate, check the announced body size. Sets a
 * response when the request is refused. */
static void admit(struct request_ctx *rc, const char *url)
{
    const struct config *cfg = rc->api->p.cfg;
    long long max_body;
    const char *hdr;
    char detail[256];
    int err;

    if (!framing_ok(rc))
        return;

    hdr = MHD_lookup_connection_value(rc->conn, MHD_HEADER_KIND, "Origin");
    if (hdr != NULL && origin_allowed(cfg->cors_origins, hdr))
        snprintf(rc->origin, sizeof(rc->origin), "%s", hdr);
    if (strcmp(rc->method, "OPTIONS") == 0) {
        preflight(rc, url, hdr);
        return;
    }
    err = request_route(rc->verb, url, &rc->route, detail, sizeof(detail));
    if (err == -EPERM) {
        rc->allow = rc->route.allow;
        respond_error(rc, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed");
        return;
    }
    if (err == -ENOENT) {
        respond_error(rc, MHD_HTTP_NOT_FOUND, "Not Found");
        return;
    }
    /* Probes (health, readiness) answer without a key; nothing else does. */
    if ((rc->route.id != ROUTE_HEALTH && rc->route.id != ROUTE_READY) || err < 0) {
        double wait = 0;
        const char *tenant;

        hdr = MHD_lookup_connection_value(rc->conn, MHD_HEADER_KIND, "Authorization");
        tenant = auth_check(rc->api->auth, hdr);
        if (tenant == NULL) {
            rc->challenge = true;
            respond_error(rc, MHD_HTTP_UNAUTHORIZED,
                          hdr ? "invalid API key" : "missing Authorization: Bearer <key>");
            return;
        }
        rc->tenant_state = tenants_get(rc->api->p.tenants, tenant);
        if (rc->tenant_state == NULL) {
            respond_error(rc, MHD_HTTP_INTERNAL_SERVER_ERROR, "kernelboxd is out of memory");
            return;
        }
        rc->tenant = rc->tenant_state->name;
        if (!tenant_take_token(rc->tenant_state, &wait)) {
            rc->retry_after = wait;
            respond_error(rc, MHD_HTTP_TOO_MANY_REQUESTS,
                          "quota exceeded: request rate (%.4g per second, bursts of %.4g)",
                          rc->tenant_state->quota.rate, rc->tenant_state->quota.burst);
            return;
        }
    }
    if (err < 0) {
        respond_error(rc, status_for(err), "%s", detail);
        return;
    }
    if (rc->route.id == ROUTE_SESSION_FILES && rc->verb == METHOD_PUT)
        rc->body.max = (size_t)cfg->max_upload;
    max_body = (long long)rc->body.max;
    hdr = MHD_lookup_connection_value(rc->conn, MHD_HEADER_KIND, "Content-Length");
    if (hdr != NULL) {
        char *end = NULL;
        unsigned long long n = strtoull(hdr, &end, 10);

        if (end == hdr || *end != '\0') {
            respond_error(rc, MHD_HTTP_BAD_REQUEST, "malformed Content-Length");
            return;
        }
        if (n > (unsigned long long)max_body + HTTP_DISCARD_MAX) {
            respond_error(rc, MHD_HTTP_CONTENT_TOO_LARGE,
                          "request body larger than %lld bytes", max_body);
            return;
        }
        if (n > (unsigned long long)max_body)
            rc->too_large = true;
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    struct http_api *api = cls;
    struct request_ctx *rc = *req_cls;

    (void)version;
    if (rc == NULL) {
        const char *rid;

        rc = calloc(1, sizeof(*rc));
        if (rc == NULL)
            return MHD_NO;
        *req_cls = rc;
        list_init(&rc->node);
        rc->api = api;
        rc->conn = conn;
        rc->started_us = now_us();
        rc->verb = request_method(method);
        copy_cut(rc->method, sizeof(rc->method), method);
        copy_cut(rc->path, sizeof(rc->path), url);
        buf_init(&rc->body, (size_t)api->p.cfg->max_body);
        /* Bounded by the result's own caps: events carry only what the result keeps. */
        buf_init(&rc->sse_out, (size_t)1 << 30);
        loop_timer_init(&rc->sse_keepalive, on_sse_keepalive);
        loop_timer_init(&rc->peer_check, on_peer_check);
        {
            const char *accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept");

            rc->sse = accept != NULL && strstr(accept, "text/event-stream") != NULL;
        }
        rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
        if (rid != NULL && request_id_ok(rid))
            snprintf(rc->request_id, sizeof(rc->request_id), "%s", rid);
        else
            random_id_hex(rc->request_id, 16);
        admit(rc, url);
        if (rc->has_response)
            return send_response(rc);
        return MHD_YES;
    }
    if (rc->peer_gone) {
        /* Its client left while the job waited: an answer for nobody (in the log as 499,
         * "client closed request"), whose writing fails and closes the connection. */
        respond_error(rc, HTTP_CLIENT_GONE, "the client closed its connection");
        return send_response(rc);
    }
    if (*upload_data_size > 0) {
        if (!rc->too_large && buf_append(&rc->body, upload_data, *upload_data_size) < 0) {
            rc->too_large = true;
            buf_cleanup(&rc->body);
        }
        rc->received += *upload_data_size;
        if (rc->too_large && rc->received > rc->body.max + HTTP_DISCARD_MAX)
            return MHD_NO; /* close: this client is not worth reading any further */
        /* A client dribbling its body cannot hold the connection past the timeout. */
        if (now_us() - rc->started_us > (uint64_t)(api->p.cfg->connection_timeout * 1e6))
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rc->sse_started && !rc->sse_queued)
        return queue_stream(rc);
    if (!rc->has_response && !rc->suspended && !rc->sse_started) {
        if (rc->too_large)
            respond_error(rc, MHD_HTTP_CONTENT_TOO_LARGE, "request body larger than %zu bytes",
                          rc->body.max);
        else
            dispatch(rc);
    }
    if (rc->has_response && !rc->suspended)
        return send_response(rc);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct request_ctx *rc = *req_cls;
    long duration;

    (void)cls;
    (void)conn;
    if (rc == NULL)
        return;
    duration = (long)((now_us() - rc->started_us) / 1000);
    if ((rc->route.id != ROUTE_HEALTH && rc->route.id != ROUTE_READY) || rc->status >= 400)
        log_emit(LOG_INFO,
                 &(struct log_ctx){.request_id = rc->request_id, .tenant = rc->tenant},
                 "http.request", duration, "%s %s -> %u%s", rc->method, rc->path, rc->status,
                 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed)");
    loop_timer_stop(rc->api->p.loop, &rc->sse_keepalive);
    loop_timer_stop(rc->api->p.loop, &rc->peer_check);
    if (rc->job_pending) {
        /* The client left before its execution ended: stop running it for nobody. */
        session_job_abandon(rc->api->p.reg, &rc->job);
        rc->job_pending = false;
    }
    buf_cleanup(&rc->body);
    buf_cleanup(&rc->sse_out);
    free(rc->response);
    session_job_cleanup(&rc->job);
    free(rc);
    *req_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_warn(NULL, "http.server", "%s", msg);
}

/* Let libmicrohttpd work, again while it says it has more to do at once (a response sent on a
 * keep-alive connection takes it a few passes to be ready for the next request): each pass
 * here saves the loop a wait for nothing. */
static void run_mhd(struct http_api *api)
{
    MHD_UNSIGNED_LONG_LONG ms = 0;

    for (int pass = 0; pass < HTTP_RUN_PASSES; pass++) {
        MHD_run(api->mhd);
        if (MHD_get_timeout(api->mhd, &ms) != MHD_YES || ms != 0)
            break;
    }
}

static void on_run_soon(struct loop_defer *d)
{
    run_mhd(LIST_CONTAINER(d, struct http_api, run_soon));
}

static void on_mhd_ready(void *arg, uint32_t events)
{
    (void)events;
    run_mhd(arg);
}

static void on_run_timer(struct loop_timer *t)
{
    run_mhd(LIST_CONTAINER(t, struct http_api, run_timer));
}

/* Before the loop waits: libmicrohttpd may have work with no descriptor event to announce it
 * (data already read into its buffers, connection timeouts), so arm a timer for it. */
static int mhd_timeout(void *arg)
{
    struct http_api *api = arg;
    MHD_UNSIGNED_LONG_LONG ms = 0;

    if (MHD_get_timeout(api->mhd, &ms) != MHD_YES) {
        loop_timer_stop(api->p.loop, &api->run_timer);
        return -1;
    }
    if (ms > 60000)
        ms = 60000;
    loop_timer_start(api->p.loop, &api->run_timer, now_ms() + ms);
    return (int)ms;
}

struct http_api *http_api_new(const struct http_api_params *p, char *err, size_t errlen)
{
    struct http_api *api = calloc(1, sizeof(*api));
    const union MHD_DaemonInfo *info;
    unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;

    if (api == NULL)
        return NULL;
    api->p = *p;
    api->auth = p->auth;
    list_init(&api->run_soon.node);
    list_init(&api->parked);
    api->run_soon.fn = on_run_soon;
    loop_timer_init(&api->run_timer, on_run_timer);
    if (p->cfg->addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    api->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, api, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, api,
        MHD_OPTION_SOCK_ADDR,
        (const struct sockaddr *)&p->cfg->addr, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)p->cfg->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned int)p->cfg->max_connections_per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)(p->cfg->connection_timeout + 0.5), MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)HTTP_HEADER_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, on_completed, api,
        MHD_OPTION_LISTEN_BACKLOG_SIZE,
        (unsigned int)512, MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1, MHD_OPTION_STRICT_FOR_CLIENT,
        (int)1, MHD_OPTION_END);
    if (api->mhd == NULL) {
        snprintf(err, errlen, "cannot listen on %s (address in use, or not an address of this host)",
                 p->cfg->listen);
        free(api);
        return NULL;
    }
    info = MHD_get_daemon_info(api->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    api->io.fd = info ? info->epoll_fd : -1;
    api->io.fn = on_mhd_ready;
    api->io.arg = api;
    if (api->io.fd < 0 || loop_io_add(p->loop, &api->io, EPOLLIN) < 0) {
        snprintf(err, errlen, "cannot watch the HTTP server's descriptors");
        MHD_stop_daemon(api->mhd);
        free(api);
        return NULL;
    }
    loop_set_prepare(p->loop, mhd_timeout, api);
    return api;
}

void http_api_set_auth(struct http_api *api, const struct auth *auth)
{
    api->auth = auth;
}

unsigned int http_api_connections(struct http_api *api)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(api->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

    return info ? info->num_connections : 0;
}

void http_api_quiesce(struct http_api *api)
{
    MHD_socket fd = MHD_quiesce_daemon(api->mhd);

    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

void http_api_free(struct http_api *api)
{
    if (api == NULL)
        return;
    /* libmicrohttpd refuses to stop with suspended connections: answer them first. Their
     * jobs are abandoned with the registry, which never calls back once the loop is done. */
    while (!list_empty(&api->parked)) {
        struct request_ctx *rc = LIST_CONTAINER(list_first(&api->parked), struct request_ctx,
                                                node);

        list_remove(&rc->node);
        rc->suspended = false;
        rc->job.owner = NULL;
        respond_error(rc, MHD_HTTP_SERVICE_UNAVAILABLE, "kernelboxd is shutting down");
        MHD_resume_connection(rc->conn);
    }
    MHD_run(api->mhd);
    loop_set_prepare(api->p.loop, NULL, NULL);
    list_remove(&api->run_soon.node);
    loop_timer_stop(api->p.loop, &api->run_timer);
    loop_io_del(api->p.loop, &api->io);
    MHD_stop_daemon(api->mhd);
    free(api);
}
