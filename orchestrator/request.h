/* What a client sends, checked before anything acts on it: the route table, path segments and
 * JSON bodies. Pure functions, unit-tested and fuzzed. */
#ifndef KERNELBOX_REQUEST_H
#define KERNELBOX_REQUEST_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#define REQUEST_NAME_MAX 64
#define REQUEST_JSON_DEPTH 32
#define REQUEST_MAX_TAGS 64
#define REQUEST_TAG_KEY_MAX 128
#define REQUEST_TAG_VALUE_MAX 1024
#define REQUEST_MAX_REPLACEMENTS 100
#define REQUEST_MAX_TIMEOUT 86400.0
#define REQUEST_MIN_TIMEOUT 0.1

enum route_id {
    ROUTE_ROOT,
    ROUTE_HEALTH,
    ROUTE_READY,
    ROUTE_OPENAPI_JSON,
    ROUTE_OPENAPI_YAML,
    ROUTE_SESSIONS,
    ROUTE_SESSION,
    ROUTE_SESSION_EXECUTE,
    ROUTE_KERNELS,
    ROUTE_KERNEL,
    ROUTE_KERNEL_RESTART,
    ROUTE_KERNEL_INTERRUPT,
    ROUTE_KERNEL_EXECUTE,
    ROUTE_KERNEL_RETRY,
    ROUTE_SESSION_FILES, /* /sessions/{name}/files[/{path}] */
};

enum http_method {
    METHOD_GET = 1,
    METHOD_POST = 2,
    METHOD_DELETE = 4,
    METHOD_PUT = 8,
    METHOD_OTHER = 16
};

#define REQUEST_FILE_PATH_MAX 1024
#define REQUEST_FILE_NAME_MAX 255

struct route_match {
    enum route_id id;
    char param[REQUEST_NAME_MAX + 1]; /* the {name} or {id} segment, validated */
    /* For ROUTE_SESSION_FILES: the path below the working directory, without leading or
     * trailing slash ("" for the directory itself), and whether it named a directory. */
    char file_path[REQUEST_FILE_PATH_MAX + 1];
    bool file_dir;
    const char *allow;                /* for 405: the methods the path accepts */
};

/* Map a method name to enum http_method. */
enum http_method request_method(const char *method);

/* True when s is a valid session name or kernel id: [A-Za-z0-9][A-Za-z0-9._-]{0,63}. */
bool request_name_valid(const char *s, size_t len);

/* Match method and path. Returns 0 with m filled; -ENOENT for an unknown path; -EINVAL when
 * the {name}/{id} segment is invalid (detail says why); -EPERM when the path exists but not
 * for this method (m->allow lists the methods). */
int request_route(enum http_method method, const char *path, struct route_match *m,
                  char *detail, size_t detail_len);

/* A validated execute or execute/retry body. */
struct request_exec {
    char *code;     /* owned */
    bool bash;
    double timeout; /* < 0: the configured default */
    int max_attempts;               /* 0 unless retry; then >= 1, or 0 for the default */
    json_object *replacement_codes; /* owned; array of strings, or NULL */
};

/* Parse and validate an execute body (retry: also max_attempts and replacement_codes).
 * Returns 0; -EBADMSG when the body is not JSON; -EINVAL when a field is wrong (detail names
 * it). */
int request_parse_exec(const char *body, size_t len, bool retry, struct request_exec *out,
                       char *detail, size_t detail_len);

void request_exec_cleanup(struct request_exec *r);

/* Settings a session may be created with; every field is optional. */
struct request_settings {
    long long memory; /* bytes; 0 when not given */
    double cpus;      /* 0 when not given */
    long pids;        /* 0 when not given */
    long long tmpfs;  /* bytes; 0 when not given */
    json_object *env; /* object of strings, or NULL; owned */
    char *startup_code; /* or NULL; owned */
    bool egress;        /* network "egress" rather than "none" */
};

#define REQUEST_MAX_ENV 64
#define REQUEST_ENV_NAME_MAX 128
#define REQUEST_ENV_VALUE_MAX 4096
#define REQUEST_STARTUP_CODE_MAX 65536

/* What POST /sessions/{name} and POST /kernels may carry. */
struct request_create {
    char *name;         /* POST /kernels only */
    char *session_name; /* POST /kernels only */
    json_object *tags;
    struct request_settings settings;
};

/* Parse a create body: {"tags", "limits", "env", "startup_code", "network"} and, when
 * kernel_fields, also "name" and "session_name". An empty body is all defaults. Returns like
 * request_parse_exec(); free out with request_create_cleanup(). Limits are checked for form
 * and sanity here; against a tenant's maxima by the session layer. */
int request_parse_create(const char *body, size_t len, bool kernel_fields,
                         struct request_create *out, char *detail, size_t detail_len);

void request_create_cleanup(struct request_create *c);

/* request_parse_create() keeping only the tags (settings are parsed and checked, then
 * dropped). An empty body gives *tags = NULL. *tags is a new reference or NULL. */
int request_parse_session(const char *body, size_t len, json_object **tags, char *detail,
                          size_t detail_len);

/* request_parse_create() for POST /kernels keeping only the names and tags. Outputs are owned
 * by the caller (free / json_object_put). */
int request_parse_kernel(const char *body, size_t len, char **name, char **session_name,
                         json_object **tags, char *detail, size_t detail_len);

#endif
