/* libFuzzer driver for the request bodies: every input is handed, as it is (not
 * NUL-terminated), to request_parse_exec() (plain and retry), request_parse_create() (session
 * and kernel fields), request_parse_session() and request_parse_kernel(), and what each one
 * returns is checked against its contract. */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdbool.h>

#include "fuzz.h"
#include "request.h"

static void check_rc(int rc, const char *detail, size_t detail_len)
{
    FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -EINVAL || rc == -ENOMEM);
    if (rc == -EBADMSG || rc == -EINVAL)
        FUZZ_CHECK(fuzz_terminated(detail, detail_len) && detail[0] != '\0');
}

static void check_tags(json_object *tags)
{
    int n = 0;

    if (tags == NULL)
        return;
    FUZZ_CHECK(json_object_is_type(tags, json_type_object));
    json_object_object_foreach(tags, key, val)
    {
        size_t klen = strlen(key);

        FUZZ_CHECK(klen >= 1 && klen <= REQUEST_TAG_KEY_MAX);
        FUZZ_CHECK(json_object_is_type(val, json_type_string));
        FUZZ_CHECK(json_object_get_string_len(val) <= REQUEST_TAG_VALUE_MAX);
        n++;
    }
    FUZZ_CHECK(n <= REQUEST_MAX_TAGS);
}

static int parse_exec(const char *body, size_t len, bool retry)
{
    struct request_exec ex;
    char detail[256];
    int rc;

    memset(detail, 'x', sizeof(detail));
    rc = request_parse_exec(body, len, retry, &ex, detail, sizeof(detail));
    check_rc(rc, detail, sizeof(detail));
    if (rc < 0) {
        FUZZ_CHECK(ex.code == NULL && ex.replacement_codes == NULL);
        return rc;
    }
    FUZZ_CHECK(ex.code != NULL);
    FUZZ_CHECK(ex.timeout == -1 || (isfinite(ex.timeout) && ex.timeout >= REQUEST_MIN_TIMEOUT &&
                                    ex.timeout <= REQUEST_MAX_TIMEOUT));
    if (!retry) {
        FUZZ_CHECK(ex.max_attempts == 0 && ex.replacement_codes == NULL);
    } else {
        FUZZ_CHECK(ex.max_attempts >= 0 && ex.max_attempts <= REQUEST_MAX_REPLACEMENTS);
        if (ex.replacement_codes != NULL) {
            size_t n = json_object_array_length(ex.replacement_codes);

            FUZZ_CHECK(n <= REQUEST_MAX_REPLACEMENTS);
            for (size_t i = 0; i < n; i++) {
                json_object *item = json_object_array_get_idx(ex.replacement_codes, i);

                FUZZ_CHECK(json_object_is_type(item, json_type_string));
                FUZZ_CHECK(strlen(json_object_get_string(item)) ==
                           (size_t)json_object_get_string_len(item));
            }
        }
    }
    request_exec_cleanup(&ex);
    FUZZ_CHECK(ex.code == NULL && ex.replacement_codes == NULL);
    request_exec_cleanup(&ex); /* twice is harmless */
    return 0;
}

/* The settings of a create body, within the bounds request.h promises. */
static void check_settings(const struct request_settings *st)
{
    FUZZ_CHECK(st->memory == 0 || st->memory >= 32LL << 20);
    FUZZ_CHECK(st->tmpfs == 0 || st->tmpfs >= 1LL << 20);
    FUZZ_CHECK(st->cpus == 0 || (isfinite(st->cpus) && st->cpus >= 0.01 && st->cpus <= 256));
    FUZZ_CHECK(st->pids == 0 || (st->pids >= 16 && st->pids <= 65536));
    if (st->startup_code != NULL)
        FUZZ_CHECK(strlen(st->startup_code) <= REQUEST_STARTUP_CODE_MAX);
    if (st->env != NULL) {
        int n = 0;

        FUZZ_CHECK(json_object_is_type(st->env, json_type_object));
        json_object_object_foreach(st->env, key, val)
        {
            size_t klen = strlen(key);

            FUZZ_CHECK(klen >= 1 && klen <= REQUEST_ENV_NAME_MAX);
            FUZZ_CHECK(strncmp(key, "KERNELBOX_", 10) != 0);
            FUZZ_CHECK(strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                   "0123456789_") == klen &&
                       !(key[0] >= '0' && key[0] <= '9'));
            FUZZ_CHECK(json_object_is_type(val, json_type_string));
            FUZZ_CHECK(strlen(json_object_get_string(val)) ==
                       (size_t)json_object_get_string_len(val));
            FUZZ_CHECK(json_object_get_string_len(val) <= REQUEST_ENV_VALUE_MAX);
            n++;
        }
        FUZZ_CHECK(n <= REQUEST_MAX_ENV);
    }
}

static int parse_create(const char *body, size_t len, bool kernel_fields)
{
    struct request_create c;
    char detail[256];
    int rc;

    memset(detail, 'x', sizeof(detail));
    rc = request_parse_create(body, len, kernel_fields, &c, detail, sizeof(detail));
    check_rc(rc, detail, sizeof(detail));
    if (rc < 0) {
        FUZZ_CHECK(c.name == NULL && c.session_name == NULL && c.tags == NULL &&
                   c.settings.env == NULL && c.settings.startup_code == NULL);
        return rc;
    }
    if (!kernel_fields)
        FUZZ_CHECK(c.name == NULL && c.session_name == NULL);
    if (c.name != NULL)
        FUZZ_CHECK(request_name_valid(c.name, strlen(c.name)));
    if (c.session_name != NULL)
        FUZZ_CHECK(request_name_valid(c.session_name, strlen(c.session_name)));
    check_tags(c.tags);
    check_settings(&c.settings);
    request_create_cleanup(&c);
    FUZZ_CHECK(c.tags == NULL && c.settings.env == NULL);
    return 0;
}

static int parse_session(const char *body, size_t len)
{
    json_object *tags = NULL;
    char detail[256];
    int rc;

    memset(detail, 'x', sizeof(detail));
    rc = request_parse_session(body, len, &tags, detail, sizeof(detail));
    check_rc(rc, detail, sizeof(detail));
    if (rc < 0)
        FUZZ_CHECK(tags == NULL);
    check_tags(tags);
    json_object_put(tags);
    return rc;
}

static int parse_kernel(const char *body, size_t len)
{
    char *name = NULL, *session_name = NULL, detail[256];
    json_object *tags = NULL;
    int rc;

    memset(detail, 'x', sizeof(detail));
    rc = request_parse_kernel(body, len, &name, &session_name, &tags, detail, sizeof(detail));
    check_rc(rc, detail, sizeof(detail));
    if (rc < 0)
        FUZZ_CHECK(name == NULL && session_name == NULL && tags == NULL);
    if (name != NULL)
        FUZZ_CHECK(request_name_valid(name, strlen(name)));
    if (session_name != NULL)
        FUZZ_CHECK(request_name_valid(session_name, strlen(session_name)));
    check_tags(tags);
    free(name);
    free(session_name);
    json_object_put(tags);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    int plain, retry, rc_session, rc_kernel;

    plain = parse_exec(body, size, false);
    retry = parse_exec(body, size, true);
    /* The retry body is a superset of the plain one. */
    if (plain == 0)
        FUZZ_CHECK(retry == 0);
    /* The session and kernel parsers are the create parser keeping less; a body a session
     * accepts, a kernel accepts too. */
    rc_session = parse_create(body, size, false);
    rc_kernel = parse_create(body, size, true);
    if (rc_session == 0)
        FUZZ_CHECK(rc_kernel == 0);
    FUZZ_CHECK(parse_session(body, size) == rc_session);
    FUZZ_CHECK(parse_kernel(body, size) == rc_kernel);
    return 0;
}
