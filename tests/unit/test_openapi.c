/* The embedded OpenAPI description against the daemon's router and body parsers: the document
 * parses, it describes exactly the operations kernelboxd serves, and the request schemas agree
 * with what request_parse_exec() and request_parse_create() accept. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "openapi_spec.h"
#include "request.h"

/* The operations the daemon serves, written out by hand: a route added to request.c or an
 * operation added to docs/openapi.yaml without the other fails a test below. */
struct served_op {
    const char *method;   /* as in OpenAPI, lower case */
    const char *template; /* the OpenAPI path */
    enum route_id route;
};

static const struct served_op served[] = {
    {"get", "/", ROUTE_ROOT},
    {"get", "/health", ROUTE_HEALTH},
    {"get", "/ready", ROUTE_READY},
    {"get", "/openapi.json", ROUTE_OPENAPI_JSON},
    {"get", "/openapi.yaml", ROUTE_OPENAPI_YAML},
    {"get", "/sessions", ROUTE_SESSIONS},
    {"get", "/sessions/{name}", ROUTE_SESSION},
    {"post", "/sessions/{name}", ROUTE_SESSION},
    {"delete", "/sessions/{name}", ROUTE_SESSION},
    {"post", "/sessions/{name}/execute", ROUTE_SESSION_EXECUTE},
    {"get", "/kernels", ROUTE_KERNELS},
    {"post", "/kernels", ROUTE_KERNELS},
    {"delete", "/kernels", ROUTE_KERNELS},
    {"get", "/kernels/{identifier}", ROUTE_KERNEL},
    {"delete", "/kernels/{identifier}", ROUTE_KERNEL},
    {"post", "/kernels/{identifier}/restart", ROUTE_KERNEL_RESTART},
    {"post", "/kernels/{identifier}/interrupt", ROUTE_KERNEL_INTERRUPT},
    {"post", "/kernels/{identifier}/execute", ROUTE_KERNEL_EXECUTE},
    {"post", "/kernels/{identifier}/execute/retry", ROUTE_KERNEL_RETRY},
    {"get", "/sessions/{name}/files", ROUTE_SESSION_FILES},
    {"get", "/sessions/{name}/files/{path}", ROUTE_SESSION_FILES},
    {"put", "/sessions/{name}/files/{path}", ROUTE_SESSION_FILES},
    {"delete", "/sessions/{name}/files/{path}", ROUTE_SESSION_FILES},
};

#define NSERVED (sizeof(served) / sizeof(served[0]))
#define LAST_ROUTE ROUTE_SESSION_FILES

/* What concrete_path() puts for {path}: a file path below a session's working directory,
 * which, unlike the other parameters, may hold slashes. */
#define FILE_PATH "dir/file.txt"

static const char *const http_methods[] = {"get", "post", "delete", "put"};
static const char *const other_methods[] = {"patch", "head", "options", "trace"};

static json_object *spec;

static int setup(void **state)
{
    (void)state;
    spec = json_tokener_parse(openapi_spec_json);
    return spec == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    json_object_put(spec);
    spec = NULL;
    return 0;
}

static json_object *get(json_object *obj, const char *key)
{
    json_object *v = NULL;

    if (obj == NULL || !json_object_object_get_ex(obj, key, &v))
        return NULL;
    return v;
}

/* Follow a local "#/a/b/c" reference, or return obj itself. */
static json_object *deref(json_object *obj)
{
    json_object *ref = get(obj, "$ref");
    char path[256], *save = NULL, *part;
    json_object *cur = spec;

    if (ref == NULL)
        return obj;
    assert_true(strncmp(json_object_get_string(ref), "#/", 2) == 0);
    snprintf(path, sizeof(path), "%s", json_object_get_string(ref) + 2);
    for (part = strtok_r(path, "/", &save); part != NULL; part = strtok_r(NULL, "/", &save)) {
        cur = get(cur, part);
        assert_non_null(cur);
    }
    return cur;
}

static enum http_method method_enum(const char *m)
{
    if (strcmp(m, "get") == 0)
        return METHOD_GET;
    if (strcmp(m, "post") == 0)
        return METHOD_POST;
    if (strcmp(m, "delete") == 0)
        return METHOD_DELETE;
    if (strcmp(m, "put") == 0)
        return METHOD_PUT;
    return METHOD_OTHER;
}

/* "/kernels/{identifier}/execute" -> "/kernels/demo/execute", and {path} -> FILE_PATH;
 * sets *templated. */
static void concrete_path(const char *template, char *out, size_t len, bool *templated)
{
    size_t o = 0;

    *templated = false;
    for (const char *p = template; *p != '\0' && o + 1 < len;) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            const char *value = strncmp(p, "{path}", 6) == 0 ? FILE_PATH : "demo";
            size_t n = strlen(value);

            assert_non_null(close);
            assert_true(o + n + 1 < len);
            memcpy(out + o, value, n);
            o += n;
            p = close + 1;
            *templated = true;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

static const struct served_op *find_served(const char *method, const char *template)
{
    for (size_t i = 0; i < NSERVED; i++) {
        if (strcmp(served[i].method, method) == 0 && strcmp(served[i].template, template) == 0)
            return &served[i];
    }
    return NULL;
}

static void test_spec_parses(void **state)
{
    json_object *v;

    (void)state;
    assert_non_null(spec);
    assert_true(json_object_is_type(spec, json_type_object));
    v = get(spec, "openapi");
    assert_non_null(v);
    assert_string_equal(json_object_get_string(v), "3.0.3");
    assert_non_null(get(get(spec, "info"), "title"));
    assert_non_null(get(get(spec, "info"), "version"));
    assert_true(json_object_is_type(get(spec, "paths"), json_type_object));
    assert_non_null(get(get(get(spec, "components"), "securitySchemes"), "bearerAuth"));
}

/* Every served operation is routed by the daemon to its route, and described in the spec. */
static void test_served_ops_route_and_are_documented(void **state)
{
    json_object *paths = get(spec, "paths");

    (void)state;
    for (size_t i = 0; i < NSERVED; i++) {
        struct route_match m;
        char path[256], detail[256];
        bool templated;
        int rc;

        concrete_path(served[i].template, path, sizeof(path), &templated);
        rc = request_route(method_enum(served[i].method), path, &m, detail, sizeof(detail));
        if (rc != 0)
            fail_msg("%s %s: request_route() = %d (%s)", served[i].method, path, rc, detail);
        assert_int_equal(m.id, served[i].route);
        if (templated)
            assert_string_equal(m.param, "demo");
        if (served[i].route == ROUTE_SESSION_FILES)
            assert_string_equal(m.file_path, strstr(served[i].template, "{path}") ? FILE_PATH
                                                                                  : "");
        if (get(get(paths, served[i].template), served[i].method) == NULL)
            fail_msg("%s %s is served but not in docs/openapi.yaml", served[i].method,
                     served[i].template);
    }
}

/* Every operation in the spec is served: it is in the table, and the router accepts it. */
static void test_documented_ops_are_served(void **state)
{
    json_object *paths = get(spec, "paths");
    size_t count = 0;

    (void)state;
    json_object_object_foreach(paths, template, item)
    {
        char path[256], detail[256];
        bool templated;

        concrete_path(template, path, sizeof(path), &templated);
        for (size_t k = 0; k < sizeof(other_methods) / sizeof(other_methods[0]); k++) {
            if (get(item, other_methods[k]) != NULL)
                fail_msg("%s %s is documented, but kernelboxd serves only GET, POST, PUT "
                         "and DELETE operations",
                         other_methods[k], template);
        }
        for (size_t k = 0; k < sizeof(http_methods) / sizeof(http_methods[0]); k++) {
            const char *method = http_methods[k];
            const struct served_op *op;
            struct route_match m;
            int rc;

            if (get(item, method) == NULL)
                continue;
            count++;
            op = find_served(method, template);
            if (op == NULL)
                fail_msg("%s %s is documented but not in the table of served operations",
                         method, template);
            rc = request_route(method_enum(method), path, &m, detail, sizeof(detail));
            if (rc != 0)
                fail_msg("%s %s is documented but request_route() = %d (%s)", method, path,
                         rc, detail);
            assert_int_equal(m.id, op->route);
        }
    }
    assert_int_equal(count, NSERVED);
}

/* The daemon serves nothing beyond the table: on each path, the methods it allows are exactly
 * the table's, and every route id it has appears in the table. */
static void test_no_undocumented_routes(void **state)
{
    bool seen[LAST_ROUTE + 1] = {false};

    (void)state;
    for (size_t i = 0; i < NSERVED; i++) {
        char path[256], detail[256];
        struct route_match m;
        bool templated;

        seen[served[i].route] = true;
        concrete_path(served[i].template, path, sizeof(path), &templated);
        for (size_t k = 0; k < sizeof(http_methods) / sizeof(http_methods[0]); k++) {
            int rc = request_route(method_enum(http_methods[k]), path, &m, detail,
                                   sizeof(detail));
            bool listed = find_served(http_methods[k], served[i].template) != NULL;

            if (listed && rc != 0)
                fail_msg("%s %s: expected to be served, got %d", http_methods[k], path, rc);
            if (!listed && rc != -EPERM)
                fail_msg("%s %s: served (%d) but not documented", http_methods[k], path, rc);
        }
        /* A method no route takes gets 405 with Allow naming the table's methods. */
        assert_int_equal(request_route(METHOD_OTHER, path, &m, detail, sizeof(detail)), -EPERM);
        assert_non_null(m.allow);
        for (size_t k = 0; k < sizeof(http_methods) / sizeof(http_methods[0]); k++) {
            char upper[8];
            size_t n = strlen(http_methods[k]);

            for (size_t c = 0; c <= n; c++)
                upper[c] = (char)(http_methods[k][c] >= 'a' && http_methods[k][c] <= 'z'
                                      ? http_methods[k][c] - 'a' + 'A'
                                      : http_methods[k][c]);
            if ((strstr(m.allow, upper) != NULL) !=
                (find_served(http_methods[k], served[i].template) != NULL))
                fail_msg("%s: Allow is '%s', which disagrees with the table on %s", path,
                         m.allow, upper);
        }
    }
    for (int r = 0; r <= LAST_ROUTE; r++) {
        if (!seen[r])
            fail_msg("route id %d is not in the table of served operations", r);
    }
}

/* Near misses of documented paths are not served. */
static void test_unknown_paths(void **state)
{
    static const char *const paths[] = {
        "/sessions/demo/", "/session", "/kernels/demo/execute/retry/x", "/sessions/demo/retry",
        "/kernels/demo/execute/again", "//sessions", "/docs", "/openapi", "/sessions/demo/interrupt",
    };
    struct route_match m;
    char detail[256];

    (void)state;
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        if (request_route(METHOD_GET, paths[i], &m, detail, sizeof(detail)) != -ENOENT)
            fail_msg("%s: expected 404", paths[i]);
    }
}

static json_object *schema(const char *name)
{
    json_object *s = get(get(get(spec, "components"), "schemas"), name);

    if (s == NULL)
        fail_msg("components/schemas/%s is missing", name);
    return s;
}

static void test_named_schemas_exist(void **state)
{
    static const char *const names[] = {
        "Kernel",          "KernelList",     "SessionList",     "ExecuteRequest",
        "RetryRequest",    "ExecutionResult", "OutputItem",     "ErrorInfo",
        "AttemptSnapshot", "Error",          "Health",          "Root",
        "Ready",           "SessionRequest", "CreateKernelRequest", "LimitsRequest",
        "EnvRequest",      "FileListing",    "FileEntry",       "FileWritten",
        "FileDeleted",     "EventStream",    "StreamDoneEvent", "StreamFailedEvent",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_true(json_object_is_type(schema(names[i]), json_type_object));
}

/* Only GET /health is open; every other operation documents 401. */
static void test_security(void **state)
{
    json_object *paths = get(spec, "paths");

    (void)state;
    assert_non_null(get(spec, "security"));
    json_object_object_foreach(paths, template, item)
    {
        for (size_t k = 0; k < sizeof(http_methods) / sizeof(http_methods[0]); k++) {
            json_object *op = get(item, http_methods[k]), *sec;
            bool open;

            if (op == NULL)
                continue;
            sec = get(op, "security");
            open = sec != NULL && json_object_array_length(sec) == 0;
            if (open != (strcmp(template, "/health") == 0 || strcmp(template, "/ready") == 0))
                fail_msg("%s %s: only /health and /ready may be open", http_methods[k],
                         template);
            if (!open && get(get(op, "responses"), "401") == NULL)
                fail_msg("%s %s: no 401 response", http_methods[k], template);
        }
    }
}

/* The property names of a request schema, and a body made of its example. */
static void check_request_schema(const char *name, bool retry)
{
    static const char *const plain[] = {"code", "language", "timeout", NULL};
    static const char *const extra[] = {"max_attempts", "replacement_codes", NULL};
    json_object *s = schema(name), *props = get(s, "properties"), *ap, *example;
    struct request_exec ex;
    char detail[256];
    const char *body;
    size_t n = 0;

    ap = get(s, "additionalProperties");
    assert_non_null(ap);
    assert_true(json_object_is_type(ap, json_type_boolean));
    assert_false(json_object_get_boolean(ap)); /* unknown fields are refused */
    for (const char *const *k = plain; *k != NULL; k++, n++)
        assert_non_null(get(props, *k));
    for (const char *const *k = extra; *k != NULL; k++) {
        if (retry) {
            assert_non_null(get(props, *k));
            n++;
        } else {
            assert_null(get(props, *k));
        }
    }
    assert_int_equal(json_object_object_length(props), n);

    /* The bounds the parser enforces. */
    assert_true(json_object_get_double(get(get(props, "timeout"), "minimum")) ==
                REQUEST_MIN_TIMEOUT);
    assert_true(json_object_get_double(get(get(props, "timeout"), "maximum")) ==
                REQUEST_MAX_TIMEOUT);
    if (retry) {
        assert_int_equal(json_object_get_int(get(get(props, "max_attempts"), "maximum")),
                         REQUEST_MAX_REPLACEMENTS);
        assert_int_equal(json_object_get_int(get(get(props, "replacement_codes"), "maxItems")),
                         REQUEST_MAX_REPLACEMENTS);
    }

    /* The schema's example is a body the daemon accepts. */
    example = get(s, "example");
    assert_non_null(example);
    body = json_object_to_json_string(example);
    if (request_parse_exec(body, strlen(body), retry, &ex, detail, sizeof(detail)) != 0)
        fail_msg("%s example refused: %s", name, detail);
    request_exec_cleanup(&ex);

    /* A field the schema does not list is refused. */
    body = "{\"code\": \"1\", \"not_a_field\": 1}";
    assert_int_equal(request_parse_exec(body, strlen(body), retry, &ex, detail, sizeof(detail)),
                     -EINVAL);
}

static void test_request_schemas_match_parser(void **state)
{
    (void)state;
    check_request_schema("ExecuteRequest", false);
    check_request_schema("RetryRequest", true);
}

/* The request examples of the execute operations are accepted by the parser. */
static void test_operation_examples_parse(void **state)
{
    static const struct {
        const char *path;
        bool retry;
    } ops[] = {
        {"/sessions/{name}/execute", false},
        {"/kernels/{identifier}/execute", false},
        {"/kernels/{identifier}/execute/retry", true},
    };
    size_t checked = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        json_object *media = get(get(get(get(get(get(spec, "paths"), ops[i].path), "post"),
                                         "requestBody"),
                                     "content"),
                                 "application/json");
        json_object *examples = get(media, "examples"), *one = get(media, "example");
        struct request_exec ex;
        char detail[256];

        assert_non_null(media);
        if (one != NULL) {
            const char *body = json_object_to_json_string(one);

            if (request_parse_exec(body, strlen(body), ops[i].retry, &ex, detail,
                                   sizeof(detail)) != 0)
                fail_msg("%s example refused: %s", ops[i].path, detail);
            request_exec_cleanup(&ex);
            checked++;
        }
        if (examples != NULL) {
            json_object_object_foreach(examples, key, val)
            {
                const char *body = json_object_to_json_string(get(deref(val), "value"));

                if (request_parse_exec(body, strlen(body), ops[i].retry, &ex, detail,
                                       sizeof(detail)) != 0)
                    fail_msg("%s example %s refused: %s", ops[i].path, key, detail);
                request_exec_cleanup(&ex);
                checked++;
            }
        }
    }
    assert_true(checked >= 3);
}

/* The create bodies: the schemas list exactly the fields request_parse_create() knows, with
 * its bounds, and their examples are accepted. */
static void check_create_schema(const char *name, bool kernel_fields)
{
    static const char *const common[] = {"tags", "limits", "env", "startup_code", "network",
                                         NULL};
    static const char *const kernel_only[] = {"name", "session_name", NULL};
    json_object *s = schema(name), *props = get(s, "properties"), *ap, *example;
    struct request_create c;
    char detail[256];
    const char *body;
    size_t n = 0;

    ap = get(s, "additionalProperties");
    assert_non_null(ap);
    assert_false(json_object_get_boolean(ap));
    for (const char *const *k = common; *k != NULL; k++, n++)
        if (get(props, *k) == NULL)
            fail_msg("%s lacks the property %s", name, *k);
    for (const char *const *k = kernel_only; *k != NULL; k++) {
        if (kernel_fields) {
            assert_non_null(get(props, *k));
            n++;
        } else {
            assert_null(get(props, *k));
        }
    }
    assert_int_equal(json_object_object_length(props), n);

    example = get(s, "example");
    assert_non_null(example);
    body = json_object_to_json_string(example);
    if (request_parse_create(body, strlen(body), kernel_fields, &c, detail, sizeof(detail)) != 0)
        fail_msg("%s example refused: %s", name, detail);
    request_create_cleanup(&c);

    body = "{\"not_a_field\": 1}";
    assert_int_equal(request_parse_create(body, strlen(body), kernel_fields, &c, detail,
                                          sizeof(detail)),
                     -EINVAL);
}

static void test_create_schemas_match_parser(void **state)
{
    json_object *limits = schema("LimitsRequest"), *lp = get(limits, "properties");
    json_object *env = schema("EnvRequest"), *net = schema("Network");
    struct request_create c;
    char detail[256];
    const char *body;

    (void)state;
    check_create_schema("SessionRequest", false);
    check_create_schema("CreateKernelRequest", true);

    /* limits: the four fields, with the parser's bounds */
    assert_false(json_object_get_boolean(get(limits, "additionalProperties")));
    assert_int_equal(json_object_object_length(lp), 4);
    assert_non_null(get(lp, "memory"));
    assert_non_null(get(lp, "tmpfs"));
    assert_true(json_object_get_double(get(get(lp, "cpus"), "minimum")) == 0.01);
    assert_true(json_object_get_double(get(get(lp, "cpus"), "maximum")) == 256);
    assert_int_equal(json_object_get_int(get(get(lp, "pids"), "minimum")), 16);
    assert_int_equal(json_object_get_int(get(get(lp, "pids"), "maximum")), 65536);
    body = json_object_to_json_string(get(limits, "example"));
    {
        char wrapped[512];

        snprintf(wrapped, sizeof(wrapped), "{\"limits\": %s}", body);
        if (request_parse_create(wrapped, strlen(wrapped), false, &c, detail,
                                 sizeof(detail)) != 0)
            fail_msg("LimitsRequest example refused: %s", detail);
        request_create_cleanup(&c);
    }

    /* env and startup_code: the parser's caps */
    assert_int_equal(json_object_get_int(get(env, "maxProperties")), REQUEST_MAX_ENV);
    assert_int_equal(json_object_get_int(get(get(env, "additionalProperties"), "maxLength")),
                     REQUEST_ENV_VALUE_MAX);
    assert_int_equal(json_object_get_int(get(schema("StartupCode"), "maxLength")),
                     REQUEST_STARTUP_CODE_MAX);

    /* network: every value of the enum but null is one the parser takes */
    for (size_t i = 0; i < json_object_array_length(get(net, "enum")); i++) {
        json_object *v = json_object_array_get_idx(get(net, "enum"), i);
        char wrapped[64];

        if (v == NULL)
            continue;
        snprintf(wrapped, sizeof(wrapped), "{\"network\": \"%s\"}", json_object_get_string(v));
        if (request_parse_create(wrapped, strlen(wrapped), false, &c, detail,
                                 sizeof(detail)) != 0)
            fail_msg("network %s refused: %s", json_object_get_string(v), detail);
        request_create_cleanup(&c);
    }
}

/* The request examples of the create operations are accepted by the parser. */
static void test_create_examples_parse(void **state)
{
    static const struct {
        const char *path;
        bool kernel_fields;
    } ops[] = {
        {"/sessions/{name}", false},
        {"/kernels", true},
    };
    size_t checked = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        json_object *media = get(get(get(get(get(get(spec, "paths"), ops[i].path), "post"),
                                         "requestBody"),
                                     "content"),
                                 "application/json");
        json_object *examples = get(media, "examples");
        struct request_create c;
        char detail[256];

        assert_non_null(examples);
        json_object_object_foreach(examples, key, val)
        {
            const char *body = json_object_to_json_string(get(deref(val), "value"));

            if (request_parse_create(body, strlen(body), ops[i].kernel_fields, &c, detail,
                                     sizeof(detail)) != 0)
                fail_msg("%s example %s refused: %s", ops[i].path, key, detail);
            request_create_cleanup(&c);
            checked++;
        }
    }
    assert_true(checked >= 4);
}

/* The execute operations answer JSON, or a stream when asked; the done event is the result
 * without its outputs. */
static void test_streaming_documented(void **state)
{
    static const char *const ops[] = {
        "/sessions/{name}/execute",
        "/kernels/{identifier}/execute",
        "/kernels/{identifier}/execute/retry",
    };
    json_object *result = get(schema("ExecutionResult"), "properties");
    json_object *done = get(schema("StreamDoneEvent"), "properties");

    (void)state;
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        json_object *ok = deref(get(get(get(get(get(spec, "paths"), ops[i]), "post"),
                                        "responses"),
                                    "200"));
        json_object *content = get(ok, "content");

        if (get(content, "application/json") == NULL || get(content, "text/event-stream") == NULL)
            fail_msg("POST %s: 200 must offer application/json and text/event-stream", ops[i]);
    }
    assert_null(get(done, "outputs"));
    assert_int_equal(json_object_object_length(done), json_object_object_length(result) - 1);
    json_object_object_foreach(result, key, val)
    {
        (void)val;
        if (strcmp(key, "outputs") != 0 && get(done, key) == NULL)
            fail_msg("StreamDoneEvent lacks the result's %s", key);
    }
}

/* File paths: slashes, a trailing slash for directories, and the refusals the spec names. */
static void test_file_paths(void **state)
{
    static const struct {
        enum http_method method;
        const char *path;
        int rc;
        const char *file_path;
        bool dir;
    } cases[] = {
        {METHOD_GET, "/sessions/demo/files", 0, "", true},
        {METHOD_GET, "/sessions/demo/files/", 0, "", true},
        {METHOD_GET, "/sessions/demo/files/data/", 0, "data", true},
        {METHOD_GET, "/sessions/demo/files/data/2024/report.csv", 0, "data/2024/report.csv",
         false},
        {METHOD_PUT, "/sessions/demo/files/caf\xc3\xa9 menu.txt", 0, "caf\xc3\xa9 menu.txt",
         false},
        {METHOD_DELETE, "/sessions/demo/files/out/", 0, "out", true},
        {METHOD_GET, "/sessions/demo/files/a/../b", -EINVAL, NULL, false},
        {METHOD_GET, "/sessions/demo/files/./b", -EINVAL, NULL, false},
        {METHOD_GET, "/sessions/demo/files/a//b", -EINVAL, NULL, false},
        {METHOD_GET, "/sessions/demo/files/a\x01", -EINVAL, NULL, false},
        {METHOD_GET, "/sessions/demo/files/caf\xff", -EINVAL, NULL, false},
        {METHOD_PUT, "/sessions/demo/files/dir/", -EINVAL, NULL, false},
        {METHOD_DELETE, "/sessions/demo/files", -EPERM, NULL, false},
        {METHOD_PUT, "/sessions/demo/files/", -EPERM, NULL, false},
        {METHOD_POST, "/sessions/demo/files/x", -EPERM, NULL, false},
        {METHOD_GET, "/sessions/-demo/files/x", -EINVAL, NULL, false},
    };
    json_object *param = get(get(get(spec, "components"), "parameters"), "FilePath");

    (void)state;
    assert_non_null(param);
    assert_string_equal(json_object_get_string(get(param, "in")), "path");
    assert_int_equal(json_object_get_int(get(get(param, "schema"), "maxLength")),
                     REQUEST_FILE_PATH_MAX);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct route_match m;
        char detail[256];
        int rc = request_route(cases[i].method, cases[i].path, &m, detail, sizeof(detail));

        if (rc != cases[i].rc)
            fail_msg("%s: request_route() = %d (%s), expected %d", cases[i].path, rc, detail,
                     cases[i].rc);
        /* The working directory itself is only listed. */
        if (rc == -EPERM)
            assert_string_equal(m.allow, strstr(cases[i].path, "/files/x") != NULL
                                             ? "GET, PUT, DELETE"
                                             : "GET");
        if (rc != 0)
            continue;
        assert_int_equal(m.id, ROUTE_SESSION_FILES);
        assert_string_equal(m.param, "demo");
        assert_string_equal(m.file_path, cases[i].file_path);
        assert_int_equal(m.file_dir, cases[i].dir);
    }
}

/* The path parameters carry the name pattern the router enforces. */
static void test_path_parameter_pattern(void **state)
{
    json_object *name = schema("Name");

    (void)state;
    assert_string_equal(json_object_get_string(get(name, "pattern")),
                        "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");
    assert_int_equal(json_object_get_int(get(name, "maxLength")), REQUEST_NAME_MAX);
    assert_true(request_name_valid("demo", 4));
    assert_false(request_name_valid("-demo", 5));
    assert_false(request_name_valid("de/mo", 5));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_parses),
        cmocka_unit_test(test_served_ops_route_and_are_documented),
        cmocka_unit_test(test_documented_ops_are_served),
        cmocka_unit_test(test_no_undocumented_routes),
        cmocka_unit_test(test_unknown_paths),
        cmocka_unit_test(test_named_schemas_exist),
        cmocka_unit_test(test_security),
        cmocka_unit_test(test_request_schemas_match_parser),
        cmocka_unit_test(test_operation_examples_parse),
        cmocka_unit_test(test_create_schemas_match_parser),
        cmocka_unit_test(test_create_examples_parse),
        cmocka_unit_test(test_streaming_documented),
        cmocka_unit_test(test_file_paths),
        cmocka_unit_test(test_path_parameter_pattern),
    };

    return cmocka_run_group_tests_name("openapi", tests, setup, teardown);
}
