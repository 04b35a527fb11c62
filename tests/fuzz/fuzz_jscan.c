/* libFuzzer driver for util/jscan.c, checked against json-c: every input is scanned as it is
 * (not NUL-terminated) and parsed by json_parse_strict(). What jscan accepts, json-c must
 * accept; what only json-c accepts must hold one of json-c's known departures from RFC 8259.
 * For an object, every member json-c sees must be found by jscan_members() with the same kind
 * of value and, for strings, the same unescaped bytes. */
#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>

#include "fuzz.h"
#include "util/jscan.h"
#include "util/json.h"

#define DEPTH 8

static enum jscan_type kind_of(json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_object:
        return JSCAN_OBJECT;
    case json_type_array:
        return JSCAN_ARRAY;
    case json_type_string:
        return JSCAN_STRING;
    case json_type_int:
    case json_type_double:
        return JSCAN_NUMBER;
    case json_type_boolean:
        return json_object_get_boolean(v) ? JSCAN_TRUE : JSCAN_FALSE;
    case json_type_null:
    default:
        return JSCAN_NULL;
    }
}

/* json-c, even in strict mode, takes raw control characters inside strings, a '.' without a
 * digit on each side ("1.", "1.e5", "-.5"), leading zeros ("-01", "[00]"), NaN and
 * [-]Infinity, and a member name in single quotes ({'a':1}). RFC 8259 allows none of them;
 * jscan refuses them. (The tests for leading zeros and quotes also fire where they are
 * harmless, "1e-05" or a quote inside a string, which only makes the check looser.) */
static bool json_c_laxity(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];

        if (c < 0x20 || c == 'N' || c == 'I' || c == '\'')
            return true;
        if (c == '.' && (i + 1 == len || text[i + 1] < '0' || text[i + 1] > '9' || i == 0 ||
                         text[i - 1] < '0' || text[i - 1] > '9'))
            return true;
        if (c == '0' && i + 1 < len && text[i + 1] >= '0' && text[i + 1] <= '9' &&
            (i == 0 || !strchr("0123456789.eE+", text[i - 1])))
            return true;
    }
    return false;
}

/* Texts left out of the member comparison, where json-c reads them wrong: json-c keeps
 * member names as C strings ("a\u0000b" becomes "a" and can take another member's place),
 * and it decodes some surrogate pairs as U+FFFD ("\ud836\ude00", which is U+1DA00). */
static bool json_c_misreads(const char *text, size_t len)
{
    static const char nul[] = "\\u0000";

    if (memmem(text, len, nul, sizeof(nul) - 1) != NULL)
        return true;
    for (size_t i = 0; i + 3 < len; i++) {
        if (text[i] == '\\' && text[i + 1] == 'u' && (text[i + 2] == 'd' || text[i + 2] == 'D') &&
            strchr("89abAB", text[i + 3]) != NULL && text[i + 3] != '\0')
            return true;
    }
    return false;
}

static bool is_null_text(const char *text, size_t len)
{
    size_t i = 0;

    while (i < len && strchr(" \t\n\r", text[i]) != NULL && text[i] != '\0')
        i++;
    while (len > i && strchr(" \t\n\r", text[len - 1]) != NULL && text[len - 1] != '\0')
        len--;
    return len - i == 4 && memcmp(text + i, "null", 4) == 0;
}

static void check_string(const struct jscan_value *v, json_object *ref)
{
    int ref_len = json_object_get_string_len(ref);
    char *buf = malloc((size_t)ref_len + 1);
    ssize_t n;

    FUZZ_CHECK(buf != NULL);
    n = jscan_string(v, buf, (size_t)ref_len + 1);
    FUZZ_CHECK(n == ref_len);
    FUZZ_CHECK(memcmp(buf, json_object_get_string(ref), (size_t)ref_len) == 0);
    FUZZ_CHECK(buf[n] == '\0');
    /* One byte less never fits and never writes past the buffer. */
    FUZZ_CHECK(jscan_string(v, buf, (size_t)ref_len) == -ENOSPC);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size > 0 ? size : 1);
    json_object *ref;
    bool valid;

    FUZZ_CHECK(text != NULL);
    if (size > 0)
        memcpy(text, data, size); /* exactly sized: ASan sees any read past the end */
    valid = jscan_valid(text, size, DEPTH);
    /* The caps count differently: jscan counts containers, json-c every value on its stack,
     * a scalar inside the deepest container too. json-c one level up therefore takes all
     * that jscan takes, and at most one container more. */
    ref = json_parse_strict(text, size, DEPTH + 1);
    if (valid)
        FUZZ_CHECK(ref != NULL || is_null_text(text, size)); /* json-c's "null" is NULL */
    else if (ref != NULL)
        FUZZ_CHECK(json_c_laxity(text, size) || jscan_valid(text, size, DEPTH + 1));
    if (valid && json_object_is_type(ref, json_type_object) && !json_c_misreads(text, size)) {
        const char *names[16];
        struct jscan_value out[16];
        size_t n = 0;

        json_object_object_foreach(ref, key, val)
        {
            (void)val;
            if (n < 16 && strlen(key) <= 64)
                names[n++] = key;
        }
        FUZZ_CHECK(jscan_members(text, size, DEPTH, names, n, out) == 0);
        for (size_t i = 0; i < n; i++) {
            json_object *v = json_object_object_get(ref, names[i]);

            FUZZ_CHECK(out[i].type == kind_of(v));
            FUZZ_CHECK(out[i].text >= text && out[i].text + out[i].len <= text + size);
            FUZZ_CHECK(jscan_valid(out[i].text, out[i].len, DEPTH));
            if (out[i].type == JSCAN_STRING)
                check_string(&out[i], v);
        }
    } else if (!valid || !json_object_is_type(ref, json_type_object)) {
        const char *names[1] = {"msg_id"};
        struct jscan_value out[1];
        int rc = jscan_members(text, size, DEPTH, names, 1, out);

        FUZZ_CHECK(rc == (valid ? -EINVAL : -EBADMSG));
    }
    json_object_put(ref);
    free(text);
    return 0;
}
