/* What a client sends, checked before anything acts on it: the route table, path segments and
 * JSON bodies. No I/O and no state: every function here is unit-tested and fuzzed. */
#include "request.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util/jscan.h"
#include "util/json.h"
#include "util/text.h"

/* A path pattern: literal segments, and "*" for the one {name}/{id} parameter. */
struct route_def {
    enum route_id id;
    const char *segments[4];
    int methods; /* enum http_method bits */
    const char *allow;
};

static const struct route_def routes[] = {
    {ROUTE_ROOT, {NULL}, METHOD_GET, "GET"},
    {ROUTE_HEALTH, {"health", NULL}, METHOD_GET, "GET"},
    {ROUTE_READY, {"ready", NULL}, METHOD_GET, "GET"},
    {ROUTE_OPENAPI_JSON, {"openapi.json", NULL}, METHOD_GET, "GET"},
    {ROUTE_OPENAPI_YAML, {"openapi.yaml", NULL}, METHOD_GET, "GET"},
    {ROUTE_SESSIONS, {"sessions", NULL}, METHOD_GET, "GET"},
    {ROUTE_SESSION, {"sessions", "*", NULL}, METHOD_GET | METHOD_POST | METHOD_DELETE,
     "GET, POST, DELETE"},
    {ROUTE_SESSION_EXECUTE, {"sessions", "*", "execute", NULL}, METHOD_POST, "POST"},
    {ROUTE_KERNELS, {"kernels", NULL}, METHOD_GET | METHOD_POST | METHOD_DELETE,
     "GET, POST, DELETE"},
    {ROUTE_KERNEL, {"kernels", "*", NULL}, METHOD_GET | METHOD_DELETE, "GET, DELETE"},
    {ROUTE_KERNEL_RESTART, {"kernels", "*", "restart", NULL}, METHOD_POST, "POST"},
    {ROUTE_KERNEL_INTERRUPT, {"kernels", "*", "interrupt", NULL}, METHOD_POST, "POST"},
    {ROUTE_KERNEL_EXECUTE, {"kernels", "*", "execute", NULL}, METHOD_POST, "POST"},
    {ROUTE_KERNEL_RETRY, {"kernels", "*", "execute", "retry"}, METHOD_POST, "POST"},
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))
#define MAX_SEGMENTS 4
#define MAX_PATH 1024

static int fail(char *detail, size_t detail_len, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *detail, size_t detail_len, int rc, const char *fmt, ...)
{
    va_list ap;

    if (detail != NULL && detail_len > 0) {
        va_start(ap, fmt);
        vsnprintf(detail, detail_len, fmt, ap);
        va_end(ap);
    }
    return rc;
}

enum http_method request_method(const char *method)
{
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
        return METHOD_GET;
    if (strcmp(method, "POST") == 0)
        return METHOD_POST;
    if (strcmp(method, "DELETE") == 0)
        return METHOD_DELETE;
    if (strcmp(method, "PUT") == 0)
        return METHOD_PUT;
    return METHOD_OTHER;
}

bool request_name_valid(const char *s, size_t len)
{
    if (len == 0 || len > REQUEST_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return false;
    }
    return true;
}

/* Split path into segments in place. Returns the count, or -1 when there are too many or
 * the path is malformed (empty segment, no leading slash). */
static int split(char *path, char *segs[MAX_SEGMENTS])
{
    int n = 0;
    char *p = path;

    if (*p != '/')
        return -1;
    p++;
    if (*p == '\0')
        return 0;
    while (*p != '\0') {
        char *slash = strchr(p, '/');

        if (n == MAX_SEGMENTS)
            return -1;
        if (slash == p)
            return -1;
        segs[n++] = p;
        if (slash == NULL)
            break;
        *slash = '\0';
        p = slash + 1;
        if (*p == '\0')
            return -1; /* trailing slash */
    }
    return n;
}

/* Check a file path below the working directory: components that are not empty, "." or
 * "..", hold no control character and are valid UTF-8. */
static int check_file_path(const char *p, size_t len, char *detail, size_t detail_len)
{
    size_t start = 0;

    if (len > REQUEST_FILE_PATH_MAX || !utf8_valid(p, len))
        return fail(detail, detail_len, -EINVAL,
                    "file path: at most %d bytes of valid UTF-8", REQUEST_FILE_PATH_MAX);
    for (size_t i = 0; i <= len; i++) {
        size_t n;

        if (i < len && (unsigned char)p[i] < 0x20)
            return fail(detail, detail_len, -EINVAL, "file path: control characters refused");
        if (i < len && p[i] == 0x7f)
            return fail(detail, detail_len, -EINVAL, "file path: control characters refused");
        if (i < len && p[i] != '/')
            continue;
        n = i - start;
        if (n == 0 || n > REQUEST_FILE_NAME_MAX ||
            (n == 1 && p[start] == '.') || (n == 2 && p[start] == '.' && p[start + 1] == '.'))
            return fail(detail, detail_len, -EINVAL,
                        "file path: '.', '..', empty and over-long names are refused; paths "
                        "are relative to the working directory");
        start = i + 1;
    }
    return 0;
}

/* /sessions/{name}/files[/{path}[/]]: matched on the raw path, since {path} has slashes. */
static int route_files(enum http_method method, const char *path, struct route_match *m,
                       char *detail, size_t detail_len)
{
    const char *name = path + strlen("/sessions/"), *slash = strchr(name, '/'), *rest;
    size_t name_len, rest_len;

    if (slash == NULL || strncmp(slash, "/files", 6) != 0 ||
        (slash[6] != '\0' && slash[6] != '/'))
        return -ENOENT;
    rest = slash[6] == '/' ? slash + 7 : slash + 6;
    name_len = (size_t)(slash - name);
    /* The working directory itself is only listed; files and folders below it are also
     * written and deleted. */
    if (*rest == '\0' && method != METHOD_GET) {
        m->allow = "GET";
        return fail(detail, detail_len, -EPERM, "Method Not Allowed");
    }
    if (!(method & (METHOD_GET | METHOD_PUT | METHOD_DELETE))) {
        m->allow = "GET, PUT, DELETE";
        return fail(detail, detail_len, -EPERM, "Method Not Allowed");
    }
    if (!request_name_valid(name, name_len))
        return fail(detail, detail_len, -EINVAL,
                    "invalid name: must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    memcpy(m->param, name, name_len);
    m->param[name_len] = '\0';
    rest_len = strlen(rest);
    m->file_dir = rest_len == 0 || rest[rest_len - 1] == '/';
    if (rest_len > 0 && rest[rest_len - 1] == '/')
        rest_len--;
    if (rest_len > 0 && check_file_path(rest, rest_len, detail, detail_len) < 0)
        return -EINVAL;
    if (m->file_dir && method == METHOD_PUT)
        return fail(detail, detail_len, -EINVAL, "file path: PUT needs a file name");
    memcpy(m->file_path, rest, rest_len);
    m->file_path[rest_len] = '\0';
    m->id = ROUTE_SESSION_FILES;
    return 0;
}

int request_route(enum http_method method, const char *path, struct route_match *m,
                  char *detail, size_t detail_len)
{
    char copy[MAX_PATH], *segs[MAX_SEGMENTS];
    size_t len = strlen(path);
    int n;

    memset(m, 0, sizeof(*m));
    /* The files route first: its {path} may be longer than any other path. */
    if (strncmp(path, "/sessions/", 10) == 0) {
        int rc = route_files(method, path, m, detail, detail_len);

        if (rc != -ENOENT)
            return rc;
    }
    if (len >= sizeof(copy))
        return fail(detail, detail_len, -ENOENT, "Not Found");
    memcpy(copy, path, len + 1);
    n = split(copy, segs);
    if (n < 0)
        return fail(detail, detail_len, -ENOENT, "Not Found");

    for (size_t r = 0; r < NROUTES; r++) {
        const struct route_def *def = &routes[r];
        const char *param = NULL;
        int k;

        for (k = 0; k < MAX_SEGMENTS && def->segments[k] != NULL; k++) {
            if (k >= n)
                break;
            if (strcmp(def->segments[k], "*") == 0)
                param = segs[k];
            else if (strcmp(def->segments[k], segs[k]) != 0)
                break;
        }
        if ((k < MAX_SEGMENTS && def->segments[k] != NULL) || k != n)
            continue;
        /* The path matches this route. */
        if (!(def->methods & (int)method)) {
            m->allow = def->allow;
            return fail(detail, detail_len, -EPERM, "Method Not Allowed");
        }
        if (param != NULL) {
            if (!request_name_valid(param, strlen(param)))
                return fail(detail, detail_len, -EINVAL,
                            "invalid name: must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}");
            memcpy(m->param, param, strlen(param) + 1);
        }
        m->id = def->id;
        return 0;
    }
    return fail(detail, detail_len, -ENOENT, "Not Found");
}

/* Parse a body that must be a JSON object. An empty body gives *obj = NULL when allowed. */
static int parse_object(const char *body, size_t len, bool allow_empty, json_object **obj,
                        char *detail, size_t detail_len)
{
    size_t i = 0;

    *obj = NULL;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r'))
        i++;
    if (i == len) {
        if (allow_empty)
            return 0;
        return fail(detail, detail_len, -EINVAL, "a JSON object body is required");
    }
    if (!utf8_valid(body, len))
        return fail(detail, detail_len, -EBADMSG, "request body is not valid UTF-8");
    *obj = json_parse_strict(body, len, REQUEST_JSON_DEPTH);
    if (*obj == NULL)
        return fail(detail, detail_len, -EBADMSG,
                    "request body is not valid JSON (or nested deeper than %d levels)",
                    REQUEST_JSON_DEPTH);
    if (!json_object_is_type(*obj, json_type_object)) {
        json_object_put(*obj);
        *obj = NULL;
        return fail(detail, detail_len, -EINVAL, "request body must be a JSON object");
    }
    return 0;
}

/* Reject any key of obj not in allowed (NULL-terminated). */
static int check_keys(json_object *obj, const char *const *allowed, char *detail,
                      size_t detail_len)
{
    json_object_object_foreach(obj, key, val)
    {
        bool known = false;

        (void)val;
        for (const char *const *a = allowed; *a != NULL; a++) {
            if (strcmp(*a, key) == 0) {
                known = true;
                break;
            }
        }
        if (!known)
            return fail(detail, detail_len, -EINVAL, "unknown field '%.64s'", key);
    }
    return 0;
}

static int parse_tags(json_object *obj, json_object **tags, char *detail, size_t detail_len)
{
    json_object *v = NULL;
    int n = 0;

    *tags = NULL;
    if (!json_object_object_get_ex(obj, "tags", &v) || v == NULL)
        return 0;
    if (!json_object_is_type(v, json_type_object))
        return fail(detail, detail_len, -EINVAL, "tags: must be an object of strings");
    json_object_object_foreach(v, key, val)
    {
        if (++n > REQUEST_MAX_TAGS)
            return fail(detail, detail_len, -EINVAL, "tags: at most %d entries",
                        REQUEST_MAX_TAGS);
        if (strlen(key) == 0 || strlen(key) > REQUEST_TAG_KEY_MAX)
            return fail(detail, detail_len, -EINVAL, "tags: keys must be 1 to %d bytes",
                        REQUEST_TAG_KEY_MAX);
        if (!json_object_is_type(val, json_type_string))
            return fail(detail, detail_len, -EINVAL, "tags: value of '%.64s' must be a string",
                        key);
        if (json_object_get_string_len(val) > REQUEST_TAG_VALUE_MAX)
            return fail(detail, detail_len, -EINVAL,
                        "tags: value of '%.64s' is longer than %d bytes", key,
                        REQUEST_TAG_VALUE_MAX);
    }
    *tags = json_object_get(v);
    return 0;
}

static int opt_name(json_object *obj, const char *field, char **out, char *detail,
                    size_t detail_len)
{
    json_object *v = NULL;
    const char *s;

    *out = NULL;
    if (!json_object_object_get_ex(obj, field, &v) || v == NULL)
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return fail(detail, detail_len, -EINVAL, "%s: must be a string", field);
    s = json_object_get_string(v);
    if (!request_name_valid(s, (size_t)json_object_get_string_len(v)))
        return fail(detail, detail_len, -EINVAL,
                    "%s: must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}", field);
    *out = strdup(s);
    return *out ? 0 : -ENOMEM;
}

/* The common execute body, {"code": ..., "language"?: ..., "timeout"?: ...} with nothing
 * else and nothing wrong, read without building json-c objects. Returns 1 when it filled out;
 * 0 when the body is anything else (an error to explain, a null, a repeated or unknown field,
 * json-c's laxities), which the full parse below then handles as it always has. */
static int parse_exec_fast(const char *body, size_t len, struct request_exec *out)
{
    static const char *const names[] = {"code", "language", "timeout"};
    struct jscan_value v[3];
    size_t count = 0, found = 0, code_len = 0;
    char lang[8], *end;
    ssize_t n;

    if (jscan_members_counted(body, len, REQUEST_JSON_DEPTH, names, 3, v, &count) < 0)
        return 0;
    for (size_t i = 0; i < 3; i++)
        found += v[i].type != JSCAN_NONE;
    if (count != found || v[0].type != JSCAN_STRING)
        return 0;
    if (v[1].type != JSCAN_NONE) {
        n = v[1].type == JSCAN_STRING ? jscan_string(&v[1], lang, sizeof(lang)) : -EINVAL;
        if (n == 6 && strcmp(lang, "python") == 0)
            out->bash = false;
        else if (n == 4 && strcmp(lang, "bash") == 0)
            out->bash = true;
        else
            return 0;
    }
    if (v[2].type != JSCAN_NONE) {
        char num[64];
        double t;

        if (v[2].type != JSCAN_NUMBER || v[2].len >= sizeof(num))
            return 0;
        memcpy(num, v[2].text, v[2].len);
        num[v[2].len] = '\0';
        t = strtod(num, &end);
        if (*end != '\0' || !isfinite(t) || t < REQUEST_MIN_TIMEOUT || t > REQUEST_MAX_TIMEOUT)
            return 0;
        out->timeout = t;
    }
    out->code = jscan_string_dup(&v[0], &code_len);
    if (out->code == NULL)
        return 0;
    if (memchr(out->code, '\0', code_len) != NULL) {
        free(out->code);
        out->code = NULL;
        out->bash = false;
        out->timeout = -1;
        return 0;
    }
    return 1;
}

int request_parse_exec(const char *body, size_t len, bool retry, struct request_exec *out,
                       char *detail, size_t detail_len)
{
    static const char *const plain_keys[] = {"code", "language", "timeout", NULL};
    static const char *const retry_keys[] = {"code",         "language",          "timeout",
                                             "max_attempts", "replacement_codes", NULL};
    json_object *obj = NULL, *v = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    out->timeout = -1;
    if (!retry && parse_exec_fast(body, len, out) == 1)
        return 0;
    out->bash = false;
    out->timeout = -1;
    rc = parse_object(body, len, false, &obj, detail, detail_len);
    if (rc < 0)
        return rc;
    rc = check_keys(obj, retry ? retry_keys : plain_keys, detail, detail_len);
    if (rc < 0)
        goto out;

    if (!json_object_object_get_ex(obj, "code", &v) || v == NULL) {
        rc = fail(detail, detail_len, -EINVAL, "code: field required");
        goto out;
    }
    if (!json_object_is_type(v, json_type_string)) {
        rc = fail(detail, detail_len, -EINVAL, "code: must be a string");
        goto out;
    }
    out->code = malloc((size_t)json_object_get_string_len(v) + 1);
    if (out->code == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    memcpy(out->code, json_object_get_string(v), (size_t)json_object_get_string_len(v) + 1);
    if (strlen(out->code) != (size_t)json_object_get_string_len(v)) {
        rc = fail(detail, detail_len, -EINVAL, "code: must not contain NUL characters");
        goto out;
    }

    if (json_object_object_get_ex(obj, "language", &v) && v != NULL) {
        const char *lang = "";

        /* A NUL inside ("bash\u0000x") must not pass for "bash". */
        if (json_object_is_type(v, json_type_string) &&
            strlen(json_object_get_string(v)) == (size_t)json_object_get_string_len(v))
            lang = json_object_get_string(v);

        if (strcmp(lang, "python") == 0) {
            out->bash = false;
        } else if (strcmp(lang, "bash") == 0) {
            out->bash = true;
        } else {
            rc = fail(detail, detail_len, -EINVAL, "language: must be 'python' or 'bash'");
            goto out;
        }
    }

    if (json_object_object_get_ex(obj, "timeout", &v) && v != NULL) {
        double t;

        if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int)) {
            rc = fail(detail, detail_len, -EINVAL, "timeout: must be a number of seconds");
            goto out;
        }
        t = json_object_get_double(v);
        if (!isfinite(t) || t < REQUEST_MIN_TIMEOUT || t > REQUEST_MAX_TIMEOUT) {
            rc = fail(detail, detail_len, -EINVAL,
                      "timeout: must be from %.1f to %.0f seconds", REQUEST_MIN_TIMEOUT,
                      REQUEST_MAX_TIMEOUT);
            goto out;
        }
        out->timeout = t;
    }

    if (retry && json_object_object_get_ex(obj, "max_attempts", &v) && v != NULL) {
        int64_t n;

        if (!json_object_is_type(v, json_type_int)) {
            rc = fail(detail, detail_len, -EINVAL, "max_attempts: must be an integer");
            goto out;
        }
        n = json_object_get_int64(v);
        if (n < 1 || n > REQUEST_MAX_REPLACEMENTS) {
            rc = fail(detail, detail_len, -EINVAL, "max_attempts: must be from 1 to %d",
                      REQUEST_MAX_REPLACEMENTS);
            goto out;
        }
        out->max_attempts = (int)n;
    }

    if (retry && json_object_object_get_ex(obj, "replacement_codes", &v) && v != NULL) {
        size_t n;

        if (!json_object_is_type(v, json_type_array)) {
            rc = fail(detail, detail_len, -EINVAL,
                      "replacement_codes: must be an array of strings");
            goto out;
        }
        n = json_object_array_length(v);
        if (n > REQUEST_MAX_REPLACEMENTS) {
            rc = fail(detail, detail_len, -EINVAL, "replacement_codes: at most %d entries",
                      REQUEST_MAX_REPLACEMENTS);
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            json_object *item = json_object_array_get_idx(v, i);

            if (!json_object_is_type(item, json_type_string) ||
                strlen(json_object_get_string(item)) !=
                    (size_t)json_object_get_string_len(item)) {
                rc = fail(detail, detail_len, -EINVAL,
                          "replacement_codes[%zu]: must be a string without NUL characters",
                          i);
                goto out;
            }
        }
        out->replacement_codes = json_object_get(v);
    }
    rc = 0;

out:
    json_object_put(obj);
    if (rc < 0)
        request_exec_cleanup(out);
    return rc;
}

void request_exec_cleanup(struct request_exec *r)
{
    free(r->code);
    r->code = NULL;
    json_object_put(r->replacement_codes);
    r->replacement_codes = NULL;
}

static bool env_name_ok(const char *s, size_t len)
{
    if (len == 0 || len > REQUEST_ENV_NAME_MAX || strncmp(s, "KERNELBOX_", 10) == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';

        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

/* The text of a JSON string that holds no NUL byte, else NULL: "egress\u0000x" is not
 * "egress". */
static const char *plain_string(json_object *v)
{
    const char *s;

    if (!json_object_is_type(v, json_type_string))
        return NULL;
    s = json_object_get_string(v);
    return strlen(s) == (size_t)json_object_get_string_len(v) ? s : NULL;
}

/* A size given as a number of bytes or a string such as "256MiB". */
static int size_field(json_object *v, const char *name, long long min, long long *out,
                      char *detail, size_t detail_len)
{
    long long n = -1;

    if (json_object_is_type(v, json_type_int)) {
        n = json_object_get_int64(v);
    } else if (plain_string(v) != NULL) {
        if (config_parse_size(plain_string(v), &n) < 0)
            n = -1;
    }
    if (n < min)
        return fail(detail, detail_len, -EINVAL,
                    "limits.%s: a size of at least %lld bytes (a number, or like \"256MiB\")",
                    name, min);
    *out = n;
    return 0;
}

static int parse_limits(json_object *obj, struct request_settings *st, char *detail,
                        size_t detail_len)
{
    static const char *const keys[] = {"memory", "cpus", "pids", "tmpfs", NULL};
    json_object *lim = NULL, *v = NULL;
    int rc;

    if (!json_object_object_get_ex(obj, "limits", &lim) || lim == NULL)
        return 0;
    if (!json_object_is_type(lim, json_type_object))
        return fail(detail, detail_len, -EINVAL, "limits: must be an object");
    rc = check_keys(lim, keys, detail, detail_len);
    if (rc < 0)
        return rc;
    if (json_object_object_get_ex(lim, "memory", &v) && v != NULL) {
        rc = size_field(v, "memory", 32LL << 20, &st->memory, detail, detail_len);
        if (rc < 0)
            return rc;
    }
    if (json_object_object_get_ex(lim, "tmpfs", &v) && v != NULL) {
        rc = size_field(v, "tmpfs", 1LL << 20, &st->tmpfs, detail, detail_len);
        if (rc < 0)
            return rc;
    }
    if (json_object_object_get_ex(lim, "cpus", &v) && v != NULL) {
        double c = json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)
                       ? json_object_get_double(v)
                       : -1;

        if (!isfinite(c) || c < 0.01 || c > 256)
            return fail(detail, detail_len, -EINVAL, "limits.cpus: a number from 0.01 to 256");
        st->cpus = c;
    }
    if (json_object_object_get_ex(lim, "pids", &v) && v != NULL) {
        int64_t p = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;

        if (p < 16 || p > 65536)
            return fail(detail, detail_len, -EINVAL, "limits.pids: an integer from 16 to 65536");
        st->pids = (long)p;
    }
    return 0;
}

static int parse_env(json_object *obj, struct request_settings *st, char *detail,
                     size_t detail_len)
{
    json_object *env = NULL;
    int n = 0;

    if (!json_object_object_get_ex(obj, "env", &env) || env == NULL)
        return 0;
    if (!json_object_is_type(env, json_type_object))
        return fail(detail, detail_len, -EINVAL, "env: must be an object of strings");
    json_object_object_foreach(env, key, val)
    {
        if (++n > REQUEST_MAX_ENV)
            return fail(detail, detail_len, -EINVAL, "env: at most %d variables",
                        REQUEST_MAX_ENV);
        if (!env_name_ok(key, strlen(key)))
            return fail(detail, detail_len, -EINVAL,
                        "env: '%.64s' is not a variable name ([A-Za-z_][A-Za-z0-9_]*, not "
                        "KERNELBOX_*)",
                        key);
        if (!json_object_is_type(val, json_type_string) ||
            strlen(json_object_get_string(val)) != (size_t)json_object_get_string_len(val) ||
            json_object_get_string_len(val) > REQUEST_ENV_VALUE_MAX)
            return fail(detail, detail_len, -EINVAL,
                        "env: the value of '%.64s' must be a string of at most %d bytes "
                        "without NUL",
                        key, REQUEST_ENV_VALUE_MAX);
    }
    st->env = json_object_get(env);
    return 0;
}

int request_parse_create(const char *body, size_t len, bool kernel_fields,
                         struct request_create *out, char *detail, size_t detail_len)
{
    static const char *const session_keys[] = {"tags", "limits", "env", "startup_code",
                                               "network", NULL};
    static const char *const kernel_keys[] = {"name", "session_name", "tags", "limits", "env",
                                              "startup_code", "network", NULL};
    json_object *obj = NULL, *v = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = parse_object(body, len, true, &obj, detail, detail_len);
    if (rc < 0 || obj == NULL)
        return rc;
    rc = check_keys(obj, kernel_fields ? kernel_keys : session_keys, detail, detail_len);
    if (rc == 0 && kernel_fields)
        rc = opt_name(obj, "name", &out->name, detail, detail_len);
    if (rc == 0 && kernel_fields)
        rc = opt_name(obj, "session_name", &out->session_name, detail, detail_len);
    if (rc == 0)
        rc = parse_tags(obj, &out->tags, detail, detail_len);
    if (rc == 0)
        rc = parse_limits(obj, &out->settings, detail, detail_len);
    if (rc == 0)
        rc = parse_env(obj, &out->settings, detail, detail_len);
    if (rc == 0 && json_object_object_get_ex(obj, "startup_code", &v) && v != NULL) {
        if (!json_object_is_type(v, json_type_string) ||
            strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v) ||
            json_object_get_string_len(v) > REQUEST_STARTUP_CODE_MAX) {
            rc = fail(detail, detail_len, -EINVAL,
                      "startup_code: a string of at most %d bytes without NUL",
                      REQUEST_STARTUP_CODE_MAX);
        } else if (json_object_get_string_len(v) > 0) {
            out->settings.startup_code = strdup(json_object_get_string(v));
            if (out->settings.startup_code == NULL)
                rc = -ENOMEM;
        }
    }
    if (rc == 0 && json_object_object_get_ex(obj, "network", &v) && v != NULL) {
        const char *net = plain_string(v) != NULL ? plain_string(v) : "";

        if (strcmp(net, "egress") == 0)
            out->settings.egress = true;
        else if (strcmp(net, "none") != 0)
            rc = fail(detail, detail_len, -EINVAL, "network: must be 'none' or 'egress'");
    }
    json_object_put(obj);
    if (rc < 0)
        request_create_cleanup(out);
    return rc;
}

void request_create_cleanup(struct request_create *c)
{
    free(c->name);
    free(c->session_name);
    json_object_put(c->tags);
    json_object_put(c->settings.env);
    free(c->settings.startup_code);
    memset(c, 0, sizeof(*c));
}

int request_parse_session(const char *body, size_t len, json_object **tags, char *detail,
                          size_t detail_len)
{
    struct request_create c;
    int rc = request_parse_create(body, len, false, &c, detail, detail_len);

    *tags = NULL;
    if (rc < 0)
        return rc;
    *tags = c.tags;
    c.tags = NULL;
    request_create_cleanup(&c);
    return 0;
}

int request_parse_kernel(const char *body, size_t len, char **name, char **session_name,
                         json_object **tags, char *detail, size_t detail_len)
{
    struct request_create c;
    int rc = request_parse_create(body, len, true, &c, detail, detail_len);

    *name = NULL;
    *session_name = NULL;
    *tags = NULL;
    if (rc < 0)
        return rc;
    *name = c.name;
    *session_name = c.session_name;
    *tags = c.tags;
    c.name = NULL;
    c.session_name = NULL;
    c.tags = NULL;
    request_create_cleanup(&c);
    return 0;
}
