/* Unit tests for request.c: the route table (404, 405 with Allow, name checks) and the
 * validation of execute, session and kernel bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

/* ---- routes ---- */

static int route(enum http_method method, const char *path, struct route_match *m)
{
    char detail[256];

    detail[0] = '\0';
    return request_route(method, path, m, detail, sizeof(detail));
}

static void expect_route(enum http_method method, const char *path, enum route_id id,
                         const char *param)
{
    struct route_match m;
    int rc = route(method, path, &m);

    if (rc != 0)
        fail_msg("%d %s: got %d, want a match", (int)method, path, rc);
    if (m.id != id)
        fail_msg("%s: route %d, want %d", path, (int)m.id, (int)id);
    assert_string_equal(m.param, param);
}

static void expect_405(enum http_method method, const char *path, const char *allow)
{
    struct route_match m;
    int rc = route(method, path, &m);

    if (rc != -EPERM)
        fail_msg("%d %s: got %d, want -EPERM", (int)method, path, rc);
    assert_non_null(m.allow);
    assert_string_equal(m.allow, allow);
}

static void expect_404(enum http_method method, const char *path)
{
    struct route_match m;
    char detail[64];
    int rc = request_route(method, path, &m, detail, sizeof(detail));

    if (rc != -ENOENT)
        fail_msg("%d %s: got %d, want -ENOENT", (int)method, path, rc);
    assert_string_equal(detail, "Not Found");
}

static void test_method_names(void **state)
{
    (void)state;
    assert_int_equal(request_method("GET"), METHOD_GET);
    assert_int_equal(request_method("HEAD"), METHOD_GET);
    assert_int_equal(request_method("POST"), METHOD_POST);
    assert_int_equal(request_method("DELETE"), METHOD_DELETE);
    assert_int_equal(request_method("PUT"), METHOD_PUT);
    assert_int_equal(request_method("PATCH"), METHOD_OTHER);
    assert_int_equal(request_method("get"), METHOD_OTHER);
    assert_int_equal(request_method(""), METHOD_OTHER);
}

static void test_every_route_and_method(void **state)
{
    (void)state;
    expect_route(METHOD_GET, "/", ROUTE_ROOT, "");
    expect_route(METHOD_GET, "/health", ROUTE_HEALTH, "");
    expect_route(METHOD_GET, "/openapi.json", ROUTE_OPENAPI_JSON, "");
    expect_route(METHOD_GET, "/openapi.yaml", ROUTE_OPENAPI_YAML, "");
    expect_route(METHOD_GET, "/sessions", ROUTE_SESSIONS, "");
    expect_route(METHOD_GET, "/sessions/s1", ROUTE_SESSION, "s1");
    expect_route(METHOD_POST, "/sessions/s1", ROUTE_SESSION, "s1");
    expect_route(METHOD_DELETE, "/sessions/s1", ROUTE_SESSION, "s1");
    expect_route(METHOD_POST, "/sessions/my.session_2-x/execute", ROUTE_SESSION_EXECUTE,
                 "my.session_2-x");
    expect_route(METHOD_GET, "/kernels", ROUTE_KERNELS, "");
    expect_route(METHOD_POST, "/kernels", ROUTE_KERNELS, "");
    expect_route(METHOD_DELETE, "/kernels", ROUTE_KERNELS, "");
    expect_route(METHOD_GET, "/kernels/k9", ROUTE_KERNEL, "k9");
    expect_route(METHOD_DELETE, "/kernels/k9", ROUTE_KERNEL, "k9");
    expect_route(METHOD_POST, "/kernels/k9/restart", ROUTE_KERNEL_RESTART, "k9");
    expect_route(METHOD_POST, "/kernels/k9/interrupt", ROUTE_KERNEL_INTERRUPT, "k9");
    expect_route(METHOD_POST, "/kernels/k9/execute", ROUTE_KERNEL_EXECUTE, "k9");
    expect_route(METHOD_POST, "/kernels/k9/execute/retry", ROUTE_KERNEL_RETRY, "k9");
    /* A name may equal a literal segment of another route. */
    expect_route(METHOD_GET, "/sessions/execute", ROUTE_SESSION, "execute");
    expect_route(METHOD_GET, "/kernels/restart", ROUTE_KERNEL, "restart");
}

static void test_method_not_allowed(void **state)
{
    (void)state;
    expect_405(METHOD_POST, "/", "GET");
    expect_405(METHOD_DELETE, "/health", "GET");
    expect_405(METHOD_POST, "/openapi.json", "GET");
    expect_405(METHOD_OTHER, "/openapi.yaml", "GET");
    expect_405(METHOD_POST, "/sessions", "GET");
    expect_405(METHOD_DELETE, "/sessions", "GET");
    expect_405(METHOD_OTHER, "/sessions/s1", "GET, POST, DELETE");
    expect_405(METHOD_GET, "/sessions/s1/execute", "POST");
    expect_405(METHOD_DELETE, "/sessions/s1/execute", "POST");
    expect_405(METHOD_OTHER, "/kernels", "GET, POST, DELETE");
    expect_405(METHOD_POST, "/kernels/k1", "GET, DELETE");
    expect_405(METHOD_GET, "/kernels/k1/restart", "POST");
    expect_405(METHOD_DELETE, "/kernels/k1/interrupt", "POST");
    expect_405(METHOD_GET, "/kernels/k1/execute", "POST");
    expect_405(METHOD_GET, "/kernels/k1/execute/retry", "POST");
    /* The method is checked before the name: an invalid name on a wrong method is a 405. */
    expect_405(METHOD_GET, "/kernels/-bad/restart", "POST");
}

static void test_unknown_paths(void **state)
{
    char long_path[1100];

    (void)state;
    expect_404(METHOD_GET, "");
    expect_404(METHOD_GET, "health");
    expect_404(METHOD_GET, "/nope");
    expect_404(METHOD_GET, "/Health");
    expect_404(METHOD_GET, "/health/");
    expect_404(METHOD_GET, "/sessions/");
    expect_404(METHOD_GET, "/sessions/s1/");
    expect_404(METHOD_POST, "/sessions/s1/execute/");
    expect_404(METHOD_GET, "//");
    expect_404(METHOD_GET, "//health");
    expect_404(METHOD_GET, "/sessions//s1");
    expect_404(METHOD_GET, "/sessions//");
    expect_404(METHOD_POST, "/sessions/s1/restart");
    expect_404(METHOD_POST, "/sessions/s1/execute/retry");
    expect_404(METHOD_POST, "/kernels/k1/execute/again");
    expect_404(METHOD_POST, "/kernels/k1/execute/retry/more");
    expect_404(METHOD_POST, "/a/b/c/d/e");
    expect_404(METHOD_GET, "/health/x");
    expect_404(METHOD_GET, "/health?x=1");
    /* Longer than the route buffer. */
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[0] = '/';
    long_path[sizeof(long_path) - 1] = '\0';
    expect_404(METHOD_GET, long_path);
}

static void test_route_names(void **state)
{
    char path[128], name[REQUEST_NAME_MAX + 2], detail[256];
    struct route_match m;
    static const char *const bad[] = {
        ".hidden", "-dash", "_under", "caf\xc3\xa9", "a b", "a%2Fb", "a:b", "a@b", "\xff",
    };

    (void)state;
    /* 64 characters is the longest name. */
    memset(name, 'n', REQUEST_NAME_MAX);
    name[REQUEST_NAME_MAX] = '\0';
    snprintf(path, sizeof(path), "/sessions/%s", name);
    expect_route(METHOD_GET, path, ROUTE_SESSION, name);
    snprintf(path, sizeof(path), "/kernels/%s/execute/retry", name);
    expect_route(METHOD_POST, path, ROUTE_KERNEL_RETRY, name);

    name[REQUEST_NAME_MAX] = 'n';
    name[REQUEST_NAME_MAX + 1] = '\0';
    snprintf(path, sizeof(path), "/sessions/%s", name);
    assert_int_equal(request_route(METHOD_GET, path, &m, detail, sizeof(detail)), -EINVAL);
    assert_non_null(strstr(detail, "invalid name"));
    assert_string_equal(m.param, "");

    expect_route(METHOD_GET, "/sessions/a", ROUTE_SESSION, "a");
    expect_route(METHOD_GET, "/sessions/9", ROUTE_SESSION, "9");
    expect_route(METHOD_GET, "/sessions/a.-_", ROUTE_SESSION, "a.-_");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(path, sizeof(path), "/kernels/%s", bad[i]);
        if (request_route(METHOD_GET, path, &m, detail, sizeof(detail)) != -EINVAL)
            fail_msg("'%s' accepted as a name", bad[i]);
    }
    /* A NULL detail buffer is allowed. */
    assert_int_equal(request_route(METHOD_GET, "/sessions/.x", &m, NULL, 0), -EINVAL);
}

static void test_name_valid(void **state)
{
    char name[REQUEST_NAME_MAX + 1];

    (void)state;
    memset(name, 'Z', sizeof(name));
    assert_true(request_name_valid(name, REQUEST_NAME_MAX));
    assert_false(request_name_valid(name, REQUEST_NAME_MAX + 1));
    assert_false(request_name_valid("", 0));
    assert_true(request_name_valid("A", 1));
    assert_true(request_name_valid("0.a-b_c", 7));
    assert_false(request_name_valid(".a", 2));
    assert_false(request_name_valid("-a", 2));
    assert_false(request_name_valid("a/b", 3));
    assert_false(request_name_valid("a\0b", 3));
    assert_false(request_name_valid("\xc3\xa9", 2));
    /* The length is honoured: only the first byte is looked at here. */
    assert_true(request_name_valid("a/b", 1));
}

/* ---- execute bodies ---- */

static int exec_body(const char *body, bool retry, struct request_exec *r, char *detail,
                     size_t detail_len)
{
    detail[0] = '\0';
    return request_parse_exec(body, strlen(body), retry, r, detail, detail_len);
}

/* Expect body to fail with rc and a detail mentioning word; the output must be empty. */
static void exec_fails(const char *body, bool retry, int rc, const char *word)
{
    struct request_exec r;
    char detail[256];
    int got = exec_body(body, retry, &r, detail, sizeof(detail));

    if (got != rc)
        fail_msg("%s: got %d, want %d (%s)", body, got, rc, detail);
    if (word != NULL && strstr(detail, word) == NULL)
        fail_msg("%s: detail '%s' does not mention '%s'", body, detail, word);
    assert_null(r.code);
    assert_null(r.replacement_codes);
}

static void test_exec_minimal(void **state)
{
    struct request_exec r;
    char detail[256];

    (void)state;
    assert_int_equal(exec_body("{\"code\":\"print(1)\"}", false, &r, detail, sizeof(detail)),
                     0);
    assert_string_equal(r.code, "print(1)");
    assert_false(r.bash);
    assert_true(r.timeout < 0);
    assert_int_equal(r.max_attempts, 0);
    assert_null(r.replacement_codes);
    request_exec_cleanup(&r);
    assert_null(r.code);
    request_exec_cleanup(&r);

    /* Escapes and multi-byte text come through decoded. */
    assert_int_equal(
        exec_body("{\"code\":\"x = '\\u00e9\xe2\x82\xac'\\n\"}", false, &r, detail, sizeof(detail)),
        0);
    assert_string_equal(r.code, "x = '\xc3\xa9\xe2\x82\xac'\n");
    request_exec_cleanup(&r);

    /* Whitespace around the object is fine; an empty code string is a valid program. */
    assert_int_equal(exec_body(" \r\n\t{\"code\":\"\"}\n \t\r", false, &r, detail, sizeof(detail)),
                     0);
    assert_string_equal(r.code, "");
    request_exec_cleanup(&r);
}

/* An execute body is read without json-c when it holds nothing unusual; the retry parse
 * always goes through json-c. Both must read the same bodies the same way. */
static void test_exec_fast_read_matches_full_parse(void **state)
{
    static const char *const bodies[] = {
        "{\"code\":\"1+1\"}",
        "{\"code\":\"print(1)\",\"language\":\"python\"}",
        "{\"language\":\"bash\",\"code\":\"ls /\"}",
        "{\"code\":\"x\",\"timeout\":2.5}",
        "{\"code\":\"x\",\"timeout\":1e1,\"language\":\"bash\"}",
        "{\"code\":\"x\",\"timeout\":60}",
        "{\"code\":\"x\",\"timeout\":null}",
        "{\"code\":\"x\",\"language\":null}",
        "{\"code\":\"a\",\"code\":\"b\"}",
        "{\"code\":\"\\ud83d\\ude00 \\u00e9 \\\" \\\\ \\/ \\b\\f\\n\\r\\t\"}",
        "{\"code\":\"\\u0041\\u20ac\xe2\x82\xac\"}",
        " {\n\"code\" : \"y\" , \"timeout\" : 0.5 }\n",
    };
    char detail[256];

    (void)state;
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct request_exec fast, full;

        if (exec_body(bodies[i], false, &fast, detail, sizeof(detail)) != 0)
            fail_msg("%s: %s", bodies[i], detail);
        if (exec_body(bodies[i], true, &full, detail, sizeof(detail)) != 0)
            fail_msg("%s (retry): %s", bodies[i], detail);
        assert_string_equal(fast.code, full.code);
        assert_int_equal(fast.bash, full.bash);
        assert_true(fast.timeout == full.timeout);
        request_exec_cleanup(&fast);
        request_exec_cleanup(&full);
    }
    /* What the quick read leaves to the full parse still fails as it did. */
    exec_fails("{\"code\":\"x\",\"timeout\":0}", false, -EINVAL, "timeout");
    exec_fails("{\"code\":\"x\",\"timeout\":1e999}", false, -EINVAL, "timeout");
    exec_fails("{\"code\":\"x\",\"language\":\"pythonx\"}", false, -EINVAL, "language");
    exec_fails("{\"code\":\"x\",\"language\":\"bash\\u0000\"}", false, -EINVAL, "language");
    exec_fails("{\"code\":\"x\",\"extra\":1}", false, -EINVAL, "extra");
    exec_fails("{\"code\":\"x\",\"max_attempts\":2}", false, -EINVAL, "max_attempts");
}

static void test_exec_code_field(void **state)
{
    (void)state;
    exec_fails("{}", false, -EINVAL, "code");
    exec_fails("{\"code\":null}", false, -EINVAL, "code");
    exec_fails("{\"code\":5}", false, -EINVAL, "code");
    exec_fails("{\"code\":[\"a\"]}", false, -EINVAL, "code");
    exec_fails("{\"code\":{\"a\":1}}", false, -EINVAL, "code");
    exec_fails("{\"code\":true}", false, -EINVAL, "code");
    exec_fails("{\"code\":\"a\\u0000b\"}", false, -EINVAL, "NUL");
    exec_fails("{\"code\":\"\\u0000\"}", false, -EINVAL, "NUL");
}

static void test_exec_language(void **state)
{
    struct request_exec r;
    char detail[256];

    (void)state;
    assert_int_equal(exec_body("{\"code\":\"ls\",\"language\":\"bash\"}", false, &r, detail,
                               sizeof(detail)),
                     0);
    assert_true(r.bash);
    request_exec_cleanup(&r);
    assert_int_equal(exec_body("{\"code\":\"1\",\"language\":\"python\"}", false, &r, detail,
                               sizeof(detail)),
                     0);
    assert_false(r.bash);
    request_exec_cleanup(&r);
    /* null means the default. */
    assert_int_equal(exec_body("{\"code\":\"1\",\"language\":null}", false, &r, detail,
                               sizeof(detail)),
                     0);
    assert_false(r.bash);
    request_exec_cleanup(&r);

    exec_fails("{\"code\":\"1\",\"language\":\"ruby\"}", false, -EINVAL, "language");
    exec_fails("{\"code\":\"1\",\"language\":\"Python\"}", false, -EINVAL, "language");
    exec_fails("{\"code\":\"1\",\"language\":\"\"}", false, -EINVAL, "language");
    exec_fails("{\"code\":\"1\",\"language\":1}", false, -EINVAL, "language");
    exec_fails("{\"code\":\"1\",\"language\":[\"bash\"]}", false, -EINVAL, "language");
    exec_fails("{\"code\":\"1\",\"language\":\"bash\\u0000x\"}", false, -EINVAL, "language");
}

static void test_exec_timeout(void **state)
{
    static const struct {
        const char *value;
        double want;
    } ok[] = {
        {"10", 10.0}, {"2.5", 2.5}, {"0.1", 0.1}, {"86400", 86400.0}, {"86400.0", 86400.0},
        {"1e2", 100.0},
    };
    static const char *const bad[] = {
        "0", "0.09", "-1", "86401", "86400.001", "\"10\"", "true", "[10]", "{}", "1e999",
        "-1e999", "99999999999999999999",
    };
    struct request_exec r;
    char body[128], detail[256];

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        snprintf(body, sizeof(body), "{\"code\":\"1\",\"timeout\":%s}", ok[i].value);
        if (exec_body(body, false, &r, detail, sizeof(detail)) != 0)
            fail_msg("%s refused: %s", body, detail);
        assert_true(r.timeout == ok[i].want);
        request_exec_cleanup(&r);
    }
    assert_int_equal(exec_body("{\"code\":\"1\",\"timeout\":null}", false, &r, detail,
                               sizeof(detail)),
                     0);
    assert_true(r.timeout < 0);
    request_exec_cleanup(&r);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(body, sizeof(body), "{\"code\":\"1\",\"timeout\":%s}", bad[i]);
        exec_fails(body, false, -EINVAL, "timeout");
    }
}

static void test_exec_unknown_and_retry_fields(void **state)
{
    struct request_exec r;
    char detail[256];

    (void)state;
    exec_fails("{\"code\":\"1\",\"cod\":\"2\"}", false, -EINVAL, "unknown field 'cod'");
    exec_fails("{\"code\":\"1\",\"session\":\"s\"}", false, -EINVAL, "session");
    exec_fails("{\"code\":\"1\",\"max_attempts\":3}", false, -EINVAL, "max_attempts");
    exec_fails("{\"code\":\"1\",\"replacement_codes\":[]}", false, -EINVAL,
               "replacement_codes");
    exec_fails("{\"code\":\"1\",\"max_attempts\":3,\"x\":1}", true, -EINVAL, "'x'");

    assert_int_equal(exec_body("{\"code\":\"1\"}", true, &r, detail, sizeof(detail)), 0);
    assert_int_equal(r.max_attempts, 0);
    assert_null(r.replacement_codes);
    request_exec_cleanup(&r);

    assert_int_equal(exec_body("{\"code\":\"1\",\"max_attempts\":3,\"replacement_codes\":"
                               "[\"a\",\"b\\n\"],\"language\":\"bash\",\"timeout\":5}",
                               true, &r, detail, sizeof(detail)),
                     0);
    assert_int_equal(r.max_attempts, 3);
    assert_true(r.bash);
    assert_true(r.timeout == 5.0);
    assert_non_null(r.replacement_codes);
    assert_int_equal(json_object_array_length(r.replacement_codes), 2);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(r.replacement_codes, 1)),
                        "b\n");
    request_exec_cleanup(&r);
    assert_null(r.replacement_codes);

    /* null means the default for retry fields too. */
    assert_int_equal(exec_body("{\"code\":\"1\",\"max_attempts\":null,\"replacement_codes\":null}",
                               true, &r, detail, sizeof(detail)),
                     0);
    assert_int_equal(r.max_attempts, 0);
    assert_null(r.replacement_codes);
    request_exec_cleanup(&r);
}

static void test_exec_max_attempts_bounds(void **state)
{
    struct request_exec r;
    char body[128], detail[256];
    static const char *const bad[] = {"0", "-1", "101", "2.5", "1.0", "\"3\"", "true",
                                      "[3]", "99999999999999999999", "-99999999999999999999"};

    (void)state;
    for (int n = 1; n <= REQUEST_MAX_REPLACEMENTS; n += REQUEST_MAX_REPLACEMENTS - 1) {
        snprintf(body, sizeof(body), "{\"code\":\"1\",\"max_attempts\":%d}", n);
        assert_int_equal(exec_body(body, true, &r, detail, sizeof(detail)), 0);
        assert_int_equal(r.max_attempts, n);
        request_exec_cleanup(&r);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(body, sizeof(body), "{\"code\":\"1\",\"max_attempts\":%s}", bad[i]);
        exec_fails(body, true, -EINVAL, "max_attempts");
    }
}

static void test_exec_replacement_codes(void **state)
{
    struct request_exec r;
    char detail[256], *body;
    size_t cap = 64 + 6 * (REQUEST_MAX_REPLACEMENTS + 1), n;

    (void)state;
    exec_fails("{\"code\":\"1\",\"replacement_codes\":\"a\"}", true, -EINVAL,
               "replacement_codes");
    exec_fails("{\"code\":\"1\",\"replacement_codes\":{}}", true, -EINVAL, "replacement_codes");
    exec_fails("{\"code\":\"1\",\"replacement_codes\":[\"a\",1]}", true, -EINVAL,
               "replacement_codes[1]");
    exec_fails("{\"code\":\"1\",\"replacement_codes\":[null]}", true, -EINVAL,
               "replacement_codes[0]");
    exec_fails("{\"code\":\"1\",\"replacement_codes\":[[\"a\"]]}", true, -EINVAL,
               "replacement_codes[0]");
    exec_fails("{\"code\":\"1\",\"replacement_codes\":[\"ok\",\"a\\u0000\"]}", true, -EINVAL,
               "replacement_codes[1]");

    assert_int_equal(exec_body("{\"code\":\"1\",\"replacement_codes\":[]}", true, &r, detail,
                               sizeof(detail)),
                     0);
    assert_int_equal(json_object_array_length(r.replacement_codes), 0);
    request_exec_cleanup(&r);

    /* REQUEST_MAX_REPLACEMENTS entries are accepted, one more is not. */
    body = malloc(cap);
    assert_non_null(body);
    for (int total = REQUEST_MAX_REPLACEMENTS; total <= REQUEST_MAX_REPLACEMENTS + 1; total++) {
        n = (size_t)snprintf(body, cap, "{\"code\":\"1\",\"replacement_codes\":[");
        for (int i = 0; i < total; i++)
            n += (size_t)snprintf(body + n, cap - n, "%s\"c\"", i ? "," : "");
        snprintf(body + n, cap - n, "]}");
        if (total == REQUEST_MAX_REPLACEMENTS) {
            assert_int_equal(exec_body(body, true, &r, detail, sizeof(detail)), 0);
            assert_int_equal(json_object_array_length(r.replacement_codes), total);
            request_exec_cleanup(&r);
        } else {
            exec_fails(body, true, -EINVAL, "replacement_codes");
        }
    }
    free(body);
}

static char *nested_body(int depth)
{
    /* {"code":"1","x": + (depth - 1) arrays + } : depth levels in all. */
    size_t cap = 64 + 2 * (size_t)depth, n;
    char *s = malloc(cap);

    assert_non_null(s);
    n = (size_t)snprintf(s, cap, "{\"code\":\"1\",\"x\":");
    for (int i = 1; i < depth; i++)
        s[n++] = '[';
    for (int i = 1; i < depth; i++)
        s[n++] = ']';
    s[n++] = '}';
    s[n] = '\0';
    return s;
}

static void test_exec_body_shape(void **state)
{
    struct request_exec r;
    char detail[256], *ok, *deep;

    (void)state;
    /* Not an object. */
    exec_fails("[]", false, -EINVAL, "object");
    exec_fails("[{\"code\":\"1\"}]", false, -EINVAL, "object");
    exec_fails("\"code\"", false, -EINVAL, "object");
    /* json-c cannot tell a parsed null from a failure, so all that is promised is a refusal. */
    assert_true(exec_body("null", false, &r, detail, sizeof(detail)) < 0);
    assert_null(r.code);
    exec_fails("5 ", false, -EINVAL, "object");
    exec_fails("true ", false, -EINVAL, "object");
    /* Empty bodies. */
    exec_fails("", false, -EINVAL, "required");
    exec_fails(" \n\t\r ", false, -EINVAL, "required");
    /* Not JSON, or more than one value. */
    exec_fails("{\"code\":\"1\"}x", false, -EBADMSG, "JSON");
    exec_fails("{\"code\":\"1\"} {}", false, -EBADMSG, "JSON");
    exec_fails("{\"code\":\"1\"},", false, -EBADMSG, "JSON");
    exec_fails("{\"code\":\"1\"", false, -EBADMSG, "JSON");
    exec_fails("{\"code\":'1'}", false, -EBADMSG, "JSON");
    exec_fails("{\"code\":\"1\",}", false, -EBADMSG, "JSON");
    exec_fails("{code:\"1\"}", false, -EBADMSG, "JSON");
    exec_fails("{\"code\":\"1\"}\v", false, -EBADMSG, "JSON");
    /* Invalid UTF-8, inside a string or outside. */
    exec_fails("{\"code\":\"\xc3\x28\"}", false, -EBADMSG, "UTF-8");
    exec_fails("{\"code\":\"\xed\xa0\x80\"}", false, -EBADMSG, "UTF-8");
    exec_fails("{\"code\":\"\xf4\x90\x80\x80\"}", false, -EBADMSG, "UTF-8");
    exec_fails("{\"code\":\"\xe0\x80\xaf\"}", false, -EBADMSG, "UTF-8");
    exec_fails("{\"code\":\"1\"}\xff", false, -EBADMSG, "UTF-8");

    /* Depth: REQUEST_JSON_DEPTH levels parse (then fail on the unknown field), one more does
     * not parse at all. */
    ok = nested_body(REQUEST_JSON_DEPTH);
    deep = nested_body(REQUEST_JSON_DEPTH + 1);
    exec_fails(ok, false, -EINVAL, "unknown field 'x'");
    exec_fails(deep, false, -EBADMSG, "deeper");
    free(ok);
    free(deep);

    /* A body with an embedded NUL after the object is not trailing whitespace. */
    assert_int_equal(request_parse_exec("{\"code\":\"1\"}\0", 13, false, &r, detail,
                                        sizeof(detail)),
                     -EBADMSG);
    assert_null(r.code);
    /* The length is honoured: bytes past it are ignored. */
    assert_int_equal(request_parse_exec("{\"code\":\"1\"}garbage", 12, false, &r, detail,
                                        sizeof(detail)),
                     0);
    assert_string_equal(r.code, "1");
    request_exec_cleanup(&r);
}

/* A bare number is as much "not an object" as a bare string, whether or not it is followed by
 * whitespace. */
static void test_exec_bare_number_is_not_object(void **state)
{
    (void)state;
    exec_fails("5", false, -EINVAL, "object");
    exec_fails("-1.5", false, -EINVAL, "object");
    exec_fails("true", false, -EINVAL, "object");
}

/* ---- session and kernel bodies ---- */

static int session_body(const char *body, json_object **tags, char *detail, size_t len)
{
    detail[0] = '\0';
    return request_parse_session(body, strlen(body), tags, detail, len);
}

static void session_fails(const char *body, int rc, const char *word)
{
    json_object *tags = (json_object *)&tags;
    char detail[256];
    int got = session_body(body, &tags, detail, sizeof(detail));

    if (got != rc)
        fail_msg("%.80s: got %d, want %d (%s)", body, got, rc, detail);
    if (word != NULL && strstr(detail, word) == NULL)
        fail_msg("%.80s: detail '%s' does not mention '%s'", body, detail, word);
    assert_null(tags);
}

/* {"tags":{"k0":"v",...}} with n entries, key of key_len and value of value_len bytes. */
static char *tags_body(int n, size_t key_len, size_t value_len)
{
    size_t cap = 32 + (size_t)n * (key_len + value_len + 32), len;
    char *s = malloc(cap);

    assert_non_null(s);
    len = (size_t)snprintf(s, cap, "{\"tags\":{");
    for (int i = 0; i < n; i++) {
        int w = snprintf(s + len, cap - len, "%s\"%d", i ? "," : "", i);

        len += (size_t)w;
        for (size_t k = (size_t)w - (i ? 2 : 1); k < key_len; k++)
            s[len++] = 'k';
        s[len++] = '"';
        s[len++] = ':';
        s[len++] = '"';
        for (size_t k = 0; k < value_len; k++)
            s[len++] = 'v';
        s[len++] = '"';
    }
    snprintf(s + len, cap - len, "}}");
    return s;
}

static void test_session_body(void **state)
{
    json_object *tags = NULL;
    char detail[256], *body;

    (void)state;
    assert_int_equal(session_body("", &tags, detail, sizeof(detail)), 0);
    assert_null(tags);
    assert_int_equal(session_body("  \n", &tags, detail, sizeof(detail)), 0);
    assert_null(tags);
    assert_int_equal(session_body("{}", &tags, detail, sizeof(detail)), 0);
    assert_null(tags);
    assert_int_equal(session_body("{\"tags\":null}", &tags, detail, sizeof(detail)), 0);
    assert_null(tags);
    assert_int_equal(session_body("{\"tags\":{}}", &tags, detail, sizeof(detail)), 0);
    assert_non_null(tags);
    assert_int_equal(json_object_object_length(tags), 0);
    json_object_put(tags);
    assert_int_equal(session_body("{\"tags\":{\"team\":\"ml\",\"owner\":\"\"}}", &tags, detail,
                                  sizeof(detail)),
                     0);
    assert_string_equal(json_object_get_string(json_object_object_get(tags, "team")), "ml");
    assert_string_equal(json_object_get_string(json_object_object_get(tags, "owner")), "");
    json_object_put(tags);

    session_fails("[]", -EINVAL, "object");
    session_fails("{\"name\":\"x\"}", -EINVAL, "unknown field 'name'");
    session_fails("{\"tags\":[]}", -EINVAL, "tags");
    session_fails("{\"tags\":\"a=b\"}", -EINVAL, "tags");
    session_fails("{\"tags\":{\"a\":1}}", -EINVAL, "tags");
    session_fails("{\"tags\":{\"a\":null}}", -EINVAL, "tags");
    session_fails("{\"tags\":{\"a\":{\"b\":\"c\"}}}", -EINVAL, "tags");
    session_fails("{\"tags\":{\"\":\"v\"}}", -EINVAL, "tags");
    session_fails("{\"tags\":{}", -EBADMSG, "JSON");
    session_fails("{\"tags\":{\"a\":\"\xc3\"}}", -EBADMSG, "UTF-8");

    /* Count, key length and value length: the limit passes, one more fails. */
    body = tags_body(REQUEST_MAX_TAGS, 4, 4);
    assert_int_equal(session_body(body, &tags, detail, sizeof(detail)), 0);
    assert_int_equal(json_object_object_length(tags), REQUEST_MAX_TAGS);
    json_object_put(tags);
    free(body);
    body = tags_body(REQUEST_MAX_TAGS + 1, 4, 4);
    session_fails(body, -EINVAL, "at most");
    free(body);

    body = tags_body(1, REQUEST_TAG_KEY_MAX, 1);
    assert_int_equal(session_body(body, &tags, detail, sizeof(detail)), 0);
    json_object_put(tags);
    free(body);
    body = tags_body(1, REQUEST_TAG_KEY_MAX + 1, 1);
    session_fails(body, -EINVAL, "keys");
    free(body);

    body = tags_body(2, 3, REQUEST_TAG_VALUE_MAX);
    assert_int_equal(session_body(body, &tags, detail, sizeof(detail)), 0);
    json_object_put(tags);
    free(body);
    body = tags_body(2, 3, REQUEST_TAG_VALUE_MAX + 1);
    session_fails(body, -EINVAL, "longer");
    free(body);
}

static void test_tags_body_helper(void **state)
{
    /* The helper itself: keys of exactly key_len bytes. */
    char *body = tags_body(2, 5, 2);

    (void)state;
    assert_string_equal(body, "{\"tags\":{\"0kkkk\":\"vv\",\"1kkkk\":\"vv\"}}");
    free(body);
}

/* A create body (POST /sessions/{name} when kernel_fields is false, POST /kernels when true)
 * must be refused with rc and a detail naming word, leaving nothing allocated. */
static void create_fails(const char *body, bool kernel_fields, const char *word)
{
    struct request_create c;
    char detail[256] = "";
    int got = request_parse_create(body, strlen(body), kernel_fields, &c, detail,
                                   sizeof(detail));

    if (got != -EINVAL)
        fail_msg("%.100s: got %d, want -EINVAL (%s)", body, got, detail);
    if (strstr(detail, word) == NULL)
        fail_msg("%.100s: detail '%s' does not mention '%s'", body, detail, word);
    assert_null(c.name);
    assert_null(c.tags);
    assert_null(c.settings.env);
    assert_null(c.settings.startup_code);
}

static void test_create_settings(void **state)
{
    static const char body[] =
        "{\"name\":\"k1\",\"session_name\":\"s1\",\"tags\":{\"team\":\"x\"},"
        "\"limits\":{\"memory\":\"256MiB\",\"cpus\":0.5,\"pids\":64,\"tmpfs\":1048576},"
        "\"env\":{\"MODE\":\"eda\",\"_x1\":\"\"},\"startup_code\":\"import os\","
        "\"network\":\"egress\"}";
    static const char quiet[] = "{\"startup_code\":\"\",\"network\":\"none\"}";
    struct request_create c;
    char detail[256];

    (void)state;
    assert_int_equal(request_parse_create(body, strlen(body), true, &c, detail, sizeof(detail)),
                     0);
    assert_string_equal(c.name, "k1");
    assert_string_equal(c.session_name, "s1");
    assert_non_null(c.tags);
    assert_int_equal(c.settings.memory, 256LL << 20);
    assert_true(c.settings.cpus == 0.5);
    assert_int_equal(c.settings.pids, 64);
    assert_int_equal(c.settings.tmpfs, 1LL << 20);
    assert_int_equal(json_object_object_length(c.settings.env), 2);
    assert_string_equal(c.settings.startup_code, "import os");
    assert_true(c.settings.egress);
    request_create_cleanup(&c);
    /* Nothing given: everything at its default, and an empty startup code is none. */
    assert_int_equal(request_parse_create("", 0, false, &c, detail, sizeof(detail)), 0);
    assert_true(c.settings.memory == 0 && c.settings.cpus == 0 && c.settings.pids == 0 &&
                c.settings.tmpfs == 0 && c.settings.env == NULL && !c.settings.egress);
    request_create_cleanup(&c);
    assert_int_equal(request_parse_create(quiet, strlen(quiet), false, &c, detail, sizeof(detail)),
                     0);
    assert_null(c.settings.startup_code);
    assert_false(c.settings.egress);
    request_create_cleanup(&c);
}

static void test_create_settings_refused(void **state)
{
    char *big;
    size_t off;

    (void)state;
    create_fails("{\"name\":\"k\"}", false, "unknown field");
    create_fails("{\"limits\":[]}", false, "limits: must be an object");
    create_fails("{\"limits\":{\"disk\":1}}", false, "unknown field");
    create_fails("{\"limits\":{\"memory\":\"1k\"}}", false, "limits.memory");
    create_fails("{\"limits\":{\"memory\":1.5e9}}", false, "limits.memory");
    create_fails("{\"limits\":{\"memory\":\"256MiB\\u0000x\"}}", false, "limits.memory");
    create_fails("{\"limits\":{\"tmpfs\":1000}}", false, "limits.tmpfs");
    create_fails("{\"limits\":{\"cpus\":0}}", false, "limits.cpus");
    create_fails("{\"limits\":{\"cpus\":257}}", false, "limits.cpus");
    create_fails("{\"limits\":{\"cpus\":\"1\"}}", false, "limits.cpus");
    create_fails("{\"limits\":{\"pids\":15}}", false, "limits.pids");
    create_fails("{\"limits\":{\"pids\":64.5}}", false, "limits.pids");
    create_fails("{\"env\":[\"A=1\"]}", false, "env: must be an object");
    create_fails("{\"env\":{\"1A\":\"x\"}}", false, "not a variable name");
    create_fails("{\"env\":{\"A-B\":\"x\"}}", false, "not a variable name");
    create_fails("{\"env\":{\"KERNELBOX_KEY\":\"x\"}}", false, "not a variable name");
    create_fails("{\"env\":{\"A\":1}}", false, "must be a string");
    create_fails("{\"env\":{\"A\":\"x\\u0000y\"}}", false, "without NUL");
    create_fails("{\"startup_code\":\"a\\u0000\"}", false, "startup_code");
    create_fails("{\"startup_code\":7}", false, "startup_code");
    create_fails("{\"network\":\"host\"}", false, "network");
    create_fails("{\"network\":\"egress\\u0000\"}", false, "network");
    create_fails("{\"network\":true}", false, "network");
    /* Too many variables, and a value over its cap. */
    big = malloc(65536);
    assert_non_null(big);
    off = (size_t)snprintf(big, 65536, "{\"env\":{");
    for (int i = 0; i <= REQUEST_MAX_ENV; i++)
        off += (size_t)snprintf(big + off, 65536 - off, "%s\"V%d\":\"x\"", i ? "," : "", i);
    snprintf(big + off, 65536 - off, "}}");
    create_fails(big, false, "at most");
    off = (size_t)snprintf(big, 65536, "{\"env\":{\"V\":\"");
    memset(big + off, 'v', REQUEST_ENV_VALUE_MAX + 1);
    snprintf(big + off + REQUEST_ENV_VALUE_MAX + 1, 16, "\"}}");
    create_fails(big, false, "at most");
    free(big);
}

static int kernel_body(const char *body, char **name, char **session_name, json_object **tags,
                       char *detail, size_t len)
{
    detail[0] = '\0';
    return request_parse_kernel(body, strlen(body), name, session_name, tags, detail, len);
}

static void kernel_fails(const char *body, int rc, const char *word)
{
    char *name = (char *)&name, *session_name = (char *)&session_name, detail[256];
    json_object *tags = (json_object *)&tags;
    int got = kernel_body(body, &name, &session_name, &tags, detail, sizeof(detail));

    if (got != rc)
        fail_msg("%.80s: got %d, want %d (%s)", body, got, rc, detail);
    if (word != NULL && strstr(detail, word) == NULL)
        fail_msg("%.80s: detail '%s' does not mention '%s'", body, detail, word);
    assert_null(name);
    assert_null(session_name);
    assert_null(tags);
}

static void test_kernel_body(void **state)
{
    char *name = NULL, *session_name = NULL, detail[256], body[256], long_name[70];
    json_object *tags = NULL;

    (void)state;
    assert_int_equal(kernel_body("", &name, &session_name, &tags, detail, sizeof(detail)), 0);
    assert_null(name);
    assert_null(session_name);
    assert_null(tags);
    assert_int_equal(kernel_body("{}", &name, &session_name, &tags, detail, sizeof(detail)), 0);
    assert_null(name);

    assert_int_equal(kernel_body("{\"name\":\"k1\",\"session_name\":\"s.1\","
                                 "\"tags\":{\"a\":\"b\"}}",
                                 &name, &session_name, &tags, detail, sizeof(detail)),
                     0);
    assert_string_equal(name, "k1");
    assert_string_equal(session_name, "s.1");
    assert_string_equal(json_object_get_string(json_object_object_get(tags, "a")), "b");
    free(name);
    free(session_name);
    json_object_put(tags);

    assert_int_equal(kernel_body("{\"name\":null,\"session_name\":\"s\"}", &name, &session_name,
                                 &tags, detail, sizeof(detail)),
                     0);
    assert_null(name);
    assert_string_equal(session_name, "s");
    free(session_name);

    memset(long_name, 'a', REQUEST_NAME_MAX);
    long_name[REQUEST_NAME_MAX] = '\0';
    snprintf(body, sizeof(body), "{\"name\":\"%s\"}", long_name);
    assert_int_equal(kernel_body(body, &name, &session_name, &tags, detail, sizeof(detail)), 0);
    assert_string_equal(name, long_name);
    free(name);
    long_name[REQUEST_NAME_MAX] = 'a';
    long_name[REQUEST_NAME_MAX + 1] = '\0';
    snprintf(body, sizeof(body), "{\"name\":\"%s\"}", long_name);
    kernel_fails(body, -EINVAL, "name");

    kernel_fails("{\"name\":\"\"}", -EINVAL, "name");
    kernel_fails("{\"name\":\".k\"}", -EINVAL, "name");
    kernel_fails("{\"name\":\"-k\"}", -EINVAL, "name");
    kernel_fails("{\"name\":\"k/1\"}", -EINVAL, "name");
    kernel_fails("{\"name\":\"k\\u0000x\"}", -EINVAL, "name");
    kernel_fails("{\"name\":\"caf\\u00e9\"}", -EINVAL, "name");
    kernel_fails("{\"name\":7}", -EINVAL, "name");
    kernel_fails("{\"session_name\":\"_s\"}", -EINVAL, "session_name");
    kernel_fails("{\"session_name\":[]}", -EINVAL, "session_name");
    /* A failure late in the body frees what was already taken. */
    kernel_fails("{\"name\":\"k\",\"session_name\":\"s\",\"tags\":{\"a\":2}}", -EINVAL, "tags");
    kernel_fails("{\"name\":\"k\",\"session_name\":\"-s\"}", -EINVAL, "session_name");
    kernel_fails("{\"name\":\"k\",\"image\":\"x\"}", -EINVAL, "unknown field 'image'");
    kernel_fails("{\"name\":\"k\"", -EBADMSG, NULL);
    kernel_fails("7", -EINVAL, "object");
    kernel_fails("\"k\"", -EINVAL, "object");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_method_names),
        cmocka_unit_test(test_every_route_and_method),
        cmocka_unit_test(test_method_not_allowed),
        cmocka_unit_test(test_unknown_paths),
        cmocka_unit_test(test_route_names),
        cmocka_unit_test(test_name_valid),
        cmocka_unit_test(test_exec_minimal),
        cmocka_unit_test(test_exec_fast_read_matches_full_parse),
        cmocka_unit_test(test_exec_code_field),
        cmocka_unit_test(test_exec_language),
        cmocka_unit_test(test_exec_timeout),
        cmocka_unit_test(test_exec_unknown_and_retry_fields),
        cmocka_unit_test(test_exec_max_attempts_bounds),
        cmocka_unit_test(test_exec_replacement_codes),
        cmocka_unit_test(test_exec_body_shape),
        cmocka_unit_test(test_exec_bare_number_is_not_object),
        cmocka_unit_test(test_tags_body_helper),
        cmocka_unit_test(test_session_body),
        cmocka_unit_test(test_kernel_body),
        cmocka_unit_test(test_create_settings),
        cmocka_unit_test(test_create_settings_refused),
    };

    return cmocka_run_group_tests_name("request", tests, NULL, NULL);
}
