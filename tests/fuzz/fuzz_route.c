/* libFuzzer driver for the router: request_method() and request_route() over arbitrary method
 * and path bytes. An input is "<method> <path>": the bytes before the first space are the
 * method, the rest is the path (a NUL inside either ends it, as it would for the C strings
 * libmicrohttpd hands over). */
#include <errno.h>
#include <stdbool.h>

#include "fuzz.h"
#include "request.h"

static bool route_has_param(enum route_id id)
{
    switch (id) {
    case ROUTE_SESSION:
    case ROUTE_SESSION_EXECUTE:
    case ROUTE_KERNEL:
    case ROUTE_KERNEL_RESTART:
    case ROUTE_KERNEL_INTERRUPT:
    case ROUTE_KERNEL_EXECUTE:
    case ROUTE_KERNEL_RETRY:
    case ROUTE_SESSION_FILES:
        return true;
    default:
        return false;
    }
}

/* A file path the router accepted stays below the working directory: relative, no empty,
 * "." or ".." component, no control character. */
static void check_file_path(const char *p)
{
    size_t len = strnlen(p, REQUEST_FILE_PATH_MAX + 1), start = 0;

    FUZZ_CHECK(len <= REQUEST_FILE_PATH_MAX);
    if (len == 0)
        return;
    FUZZ_CHECK(p[0] != '/' && p[len - 1] != '/');
    for (size_t i = 0; i <= len; i++) {
        if (i < len) {
            FUZZ_CHECK((unsigned char)p[i] >= 0x20 && p[i] != 0x7f);
            if (p[i] != '/')
                continue;
        }
        FUZZ_CHECK(i > start);
        FUZZ_CHECK(!(i - start == 1 && p[start] == '.'));
        FUZZ_CHECK(!(i - start == 2 && p[start] == '.' && p[start + 1] == '.'));
        start = i + 1;
    }
}

/* Route once with a detail buffer and once without (as the CORS preflight does); both calls
 * must agree, and what they fill must hold the router's promises. */
static void check_route(enum http_method verb, const char *path)
{
    struct route_match m, bare;
    char detail[128], tiny[6];
    int rc, rc_bare, rc_tiny;

    memset(detail, 'x', sizeof(detail));
    rc = request_route(verb, path, &m, detail, sizeof(detail));
    FUZZ_CHECK(rc == 0 || rc == -ENOENT || rc == -EINVAL || rc == -EPERM);
    if (rc < 0)
        FUZZ_CHECK(fuzz_terminated(detail, sizeof(detail)) && detail[0] != '\0');
    if (rc == -EPERM)
        FUZZ_CHECK(m.allow != NULL);
    if (verb == METHOD_OTHER)
        FUZZ_CHECK(rc != 0);
    if (rc == 0) {
        size_t plen = strnlen(m.param, sizeof(m.param));

        FUZZ_CHECK(plen < sizeof(m.param));
        FUZZ_CHECK(m.id >= ROUTE_ROOT && m.id <= ROUTE_SESSION_FILES);
        FUZZ_CHECK(route_has_param(m.id) == (plen > 0));
        if (m.id == ROUTE_SESSION_FILES)
            check_file_path(m.file_path);
        else
            FUZZ_CHECK(m.file_path[0] == '\0' && !m.file_dir);
        if (plen > 0) {
            FUZZ_CHECK(request_name_valid(m.param, plen));
            FUZZ_CHECK(strstr(path, m.param) != NULL);
        }
    }

    rc_bare = request_route(verb, path, &bare, NULL, 0);
    FUZZ_CHECK(rc_bare == rc);
    FUZZ_CHECK(memcmp(&bare, &m, sizeof(m)) == 0);

    memset(tiny, 'x', sizeof(tiny));
    rc_tiny = request_route(verb, path, &bare, tiny, sizeof(tiny));
    FUZZ_CHECK(rc_tiny == rc);
    if (rc < 0)
        FUZZ_CHECK(fuzz_terminated(tiny, sizeof(tiny)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *space = size > 0 ? memchr(data, ' ', size) : NULL;
    size_t method_len = space != NULL ? (size_t)(space - data) : size;
    char *method = fuzz_strndup(data, method_len);
    char *path =
        space != NULL ? fuzz_strndup(space + 1, size - method_len - 1) : fuzz_strndup(data, 0);
    enum http_method verb = request_method(method);

    FUZZ_CHECK(verb == METHOD_GET || verb == METHOD_POST || verb == METHOD_DELETE ||
               verb == METHOD_PUT || verb == METHOD_OTHER);
    /* Names are checked on counted bytes too (JSON fields may hold a NUL). */
    if (request_name_valid((const char *)data, size))
        FUZZ_CHECK(size >= 1 && size <= REQUEST_NAME_MAX && memchr(data, '\0', size) == NULL);
    check_route(verb, path);
    /* The preflight routes an unknown method as GET. */
    if (verb == METHOD_OTHER)
        check_route(METHOD_GET, path);
    free(method);
    free(path);
    return 0;
}
