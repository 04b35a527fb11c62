/* Unit tests for util/jscan.c (grammar, depth, member lookup, elements, integers,
 * unescaping), util/jwrite.c (written strings read back) and for the strict json-c parse in
 * util/json.c that shares its inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "util/buf.h"
#include "util/jscan.h"
#include "util/jwrite.h"
#include "util/json.h"

#define S(lit) (lit), (sizeof(lit) - 1)

static void test_valid_texts(void **state)
{
    static const char *const ok[] = {
        "{}", "[]", "0", "-0", "12", "-3.25", "1e5", "1E+5", "2.5e-3", "true", "false", "null",
        "\"\"", " \t\r\n{ \"a\" : [ 1 , { } , \"x\" ] } \n", "\"\\u00e9\\ud83d\\ude00\"",
        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\xc3\xa9\xe6\xbc\xa2\xf0\x9f\x98\x80\"",
        "{\"a\":1,\"a\":2}", "[[[[]]]]", "\"\\ud800\"",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (!jscan_valid(ok[i], strlen(ok[i]), 8))
            fail_msg("refused valid JSON: %s", ok[i]);
    }
}

static void test_invalid_texts(void **state)
{
    static const char *const bad[] = {
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "{\"a\":}", "[1 2]",
        "01", "-01", "00", "1.", "-.5", ".5", "+1", "1e", "1e+", "-", "0x10", "NaN",
        "Infinity", "-Infinity", "tru", "nul", "truex", "{} {}", "[]]", "\"abc",
        "\"a\tb\"",       /* raw control character */
        "\"\\x41\"",      /* unknown escape */
        "\"\\u12G4\"",    /* bad hex */
        "\"\\u12\"",      /* short escape */
        "\"\xc0\x80\"",   /* overlong NUL */
        "\"\xed\xa0\x80\"", /* UTF-8 surrogate */
        "\"\xf4\x90\x80\x80\"", /* above U+10FFFF */
        "\"\xe6\xbc\"",   /* cut sequence */
        "'a'",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (jscan_valid(bad[i], strlen(bad[i]), 8))
            fail_msg("accepted invalid JSON: %s", bad[i]);
    }
    /* A NUL byte is not whitespace, inside or after a value. */
    assert_false(jscan_valid(S("{}\0"), 8));
    assert_false(jscan_valid(S("\"a\0b\""), 8));
}

/* Every byte value at every position of a long string: plain bytes are taken in blocks of
 * eight, so the block test must agree with the byte rule wherever the byte falls. */
static void test_every_byte_in_a_string(void **state)
{
    char text[48];

    (void)state;
    /* Strings of every length up to 40, so that every byte lands at every offset of the
     * scanner's 16- and 8-byte steps and of its byte-by-byte tail, the text ending right
     * after the closing quote. */
    for (int b = 0; b < 256; b++) {
        bool plain = b >= 0x20 && b < 0x80 && b != '"' && b != '\\';

        for (size_t len = 1; len <= 40; len++) {
            for (size_t pos = 1; pos <= len; pos++) {
                memset(text, 'a', sizeof(text));
                text[0] = '"';
                text[pos] = (char)b;
                text[len + 1] = '"';
                if (jscan_valid(text, len + 2, 8) != plain)
                    fail_msg("byte 0x%02x at %zu of %zu: expected %s", b, pos, len,
                             plain ? "valid" : "invalid");
            }
        }
    }
}

static void test_depth(void **state)
{
    (void)state;
    assert_true(jscan_valid(S("[[[]]]"), 3));
    assert_false(jscan_valid(S("[[[]]]"), 2));
    assert_true(jscan_valid(S("{\"a\":{\"b\":[]}}"), 3));
    assert_false(jscan_valid(S("{\"a\":{\"b\":[]}}"), 2));
    assert_true(jscan_valid(S("5"), 0));
    assert_false(jscan_valid(S("{}"), 0));
    /* Deep nesting is refused without recursing into all of it. */
    {
        static char deep[200001];

        memset(deep, '[', 100000);
        memset(deep + 100000, ']', 100000);
        assert_false(jscan_valid(deep, 200000, 64));
    }
}

static void test_members(void **state)
{
    static const char text[] = "{\"msg_id\":\"x1\",\"n\":-2.5e3,\"o\":{\"msg_id\":\"inner\"},"
                               "\"msg_\\u0074ype\":\"status\",\"t\":true,\"z\":null,"
                               "\"msg_id\":\"x2\",\"a\":[1,{}]}";
    const char *names[] = {"msg_id", "msg_type", "n", "o", "t", "z", "a", "missing"};
    struct jscan_value v[8];
    char buf[32];

    (void)state;
    assert_int_equal(jscan_members(S(text), 8, names, 8, v), 0);
    /* The last of two members with one name, as json-c keeps it; never the nested one. */
    assert_int_equal(v[0].type, JSCAN_STRING);
    assert_int_equal(jscan_string(&v[0], buf, sizeof(buf)), 2);
    assert_string_equal(buf, "x2");
    /* A name written with an escape is the same name. */
    assert_int_equal(v[1].type, JSCAN_STRING);
    assert_int_equal(jscan_string(&v[1], buf, sizeof(buf)), 6);
    assert_string_equal(buf, "status");
    assert_int_equal(v[2].type, JSCAN_NUMBER);
    assert_int_equal(v[2].len, 6);
    assert_memory_equal(v[2].text, "-2.5e3", 6);
    assert_int_equal(v[3].type, JSCAN_OBJECT);
    assert_int_equal(v[3].len, strlen("{\"msg_id\":\"inner\"}"));
    assert_int_equal(v[4].type, JSCAN_TRUE);
    assert_int_equal(v[5].type, JSCAN_NULL);
    assert_int_equal(v[6].type, JSCAN_ARRAY);
    assert_memory_equal(v[6].text, "[1,{}]", 6);
    assert_int_equal(v[7].type, JSCAN_NONE);
    assert_null(v[7].text);

    assert_int_equal(jscan_members(S("{}"), 8, names, 1, v), 0);
    assert_int_equal(v[0].type, JSCAN_NONE);
    assert_int_equal(jscan_members(S(" [1] "), 8, names, 1, v), -EINVAL);
    assert_int_equal(jscan_members(S("\"msg_id\""), 8, names, 1, v), -EINVAL);
    assert_int_equal(jscan_members(S("{\"msg_id\":\"x\""), 8, names, 1, v), -EBADMSG);
    assert_int_equal(jscan_members(S("{\"msg_id\":\"x\"} x"), 8, names, 1, v), -EBADMSG);
    assert_int_equal(jscan_members(S("{\"a\":[[1]]}"), 2, names, 1, v), -EBADMSG);
    assert_int_equal(jscan_members(S(""), 8, names, 1, v), -EBADMSG);
}

static void test_string(void **state)
{
    struct jscan_value v = {JSCAN_STRING, NULL, 0};
    char buf[16];

    (void)state;
    v.text = "\"a\\u0000b\"";
    v.len = strlen(v.text);
    assert_int_equal(jscan_string(&v, buf, sizeof(buf)), 3);
    assert_memory_equal(buf, "a\0b", 4);
    /* A pair becomes one code point; a lone half becomes U+FFFD. */
    v.text = "\"\\ud83d\\ude00|\\udc00|\\ud800\\u0041\"";
    v.len = strlen(v.text);
    assert_int_equal(jscan_string(&v, buf, sizeof(buf)), 4 + 1 + 3 + 1 + 3 + 1);
    assert_string_equal(buf, "\xf0\x9f\x98\x80|\xef\xbf\xbd|\xef\xbf\xbd" "A");
    /* U+1DA00, which json-c 0.16 reads as U+FFFD. */
    v.text = "\"\\ud836\\ude00\"";
    v.len = strlen(v.text);
    assert_int_equal(jscan_string(&v, buf, sizeof(buf)), 4);
    assert_string_equal(buf, "\xf0\x9d\xa8\x80");
    v.text = "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"";
    v.len = strlen(v.text);
    assert_int_equal(jscan_string(&v, buf, sizeof(buf)), 8);
    assert_string_equal(buf, "\"\\/\b\f\n\r\t");
    /* Too small: -ENOSPC, and nothing written past the end. */
    v.text = "\"abcdef\"";
    v.len = strlen(v.text);
    memset(buf, 'Z', sizeof(buf));
    assert_int_equal(jscan_string(&v, buf, 6), -ENOSPC);
    assert_int_equal(buf[6], 'Z');
    assert_int_equal(jscan_string(&v, buf, 7), 6);
    assert_string_equal(buf, "abcdef");
    v.text = "\"\\u00e9\"";
    v.len = strlen(v.text);
    assert_int_equal(jscan_string(&v, buf, 2), -ENOSPC);
    assert_int_equal(jscan_string(&v, buf, 3), 2);
    v.type = JSCAN_NUMBER;
    assert_int_equal(jscan_string(&v, buf, sizeof(buf)), -EINVAL);
}

/* One failed parse must not change how the next text on this thread reads: json-c's tokener
 * keeps a high surrogate whose low half was cut short across json_tokener_reset(), and the
 * next text's first \u escape came out with a U+FFFD before it. */
static void test_elements(void **state)
{
    struct jscan_value v[3];
    const char *t;

    (void)state;
    t = " [ \"a\" , 2, {\"x\": [1]}, null ] ";
    assert_int_equal(jscan_elements(t, strlen(t), 4, v, 3), 4); /* counted past max */
    assert_int_equal(v[0].type, JSCAN_STRING);
    assert_int_equal(v[1].type, JSCAN_NUMBER);
    assert_int_equal(v[2].type, JSCAN_OBJECT);
    assert_int_equal(v[2].len, strlen("{\"x\": [1]}"));
    assert_int_equal(jscan_elements("[]", 2, 1, v, 3), 0);
    assert_int_equal(jscan_elements("{}", 2, 1, v, 3), -EINVAL);
    assert_int_equal(jscan_elements("[1,]", 4, 1, v, 3), -EBADMSG);
    assert_int_equal(jscan_elements("[1 2]", 5, 1, v, 3), -EBADMSG);
    assert_int_equal(jscan_elements("[1] x", 5, 1, v, 3), -EBADMSG);
    assert_int_equal(jscan_elements("[[1]]", 5, 1, v, 3), -EBADMSG); /* depth */
    assert_int_equal(jscan_elements("[[1]]", 5, 2, v, 3), 1);
}

static void test_int(void **state)
{
    static const struct {
        const char *text;
        int rc;
        long long want;
    } cases[] = {
        {"0", 0, 0},         {"-12", 0, -12},
        {"9223372036854775807", 0, INT64_MAX},
        {"-9223372036854775808", 0, INT64_MIN},
        {"9223372036854775808", -EINVAL, 0},
        {"1.0", -EINVAL, 0}, {"1e2", -EINVAL, 0}, {"1E2", -EINVAL, 0},
        {"123456789012345678901234567890", -EINVAL, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct jscan_value v = {JSCAN_NUMBER, cases[i].text, strlen(cases[i].text)};
        long long got = 42;

        assert_int_equal(jscan_int(&v, &got), cases[i].rc);
        if (cases[i].rc == 0)
            assert_true(got == cases[i].want);
    }
    {
        struct jscan_value v = {JSCAN_STRING, "\"1\"", 3};
        long long got;

        assert_int_equal(jscan_int(&v, &got), -EINVAL);
    }
}

/* Every byte value at every position of a short string: jw_string() writes JSON that both
 * jscan and json-c accept and that unescapes to the same bytes. */
static void test_written_strings_read_back(void **state)
{
    char in[4], back[16];

    (void)state;
    for (int c = 0; c < 256; c++) {
        for (size_t pos = 0; pos < sizeof(in); pos++) {
            struct buf b;
            struct jwrite w = {&b, 0};
            struct jscan_value v;
            json_object *obj;

            memset(in, 'a', sizeof(in));
            /* Bytes of 0x80 and up are only written inside a character: make one. */
            if (c >= 0x80) {
                in[pos] = (char)0xc2;
                in[(pos + 1) % sizeof(in)] = (char)(0x80 | (c & 0x3f));
                if (pos + 1 == sizeof(in))
                    continue;
            } else {
                in[pos] = (char)c;
            }
            buf_init(&b, 1024);
            jw_string(&w, in, sizeof(in));
            assert_int_equal(w.err, 0);
            assert_true(jscan_valid(b.data, b.len, 1));
            v = (struct jscan_value){JSCAN_STRING, b.data, b.len};
            assert_int_equal(jscan_string(&v, back, sizeof(back)), (ssize_t)sizeof(in));
            assert_memory_equal(back, in, sizeof(in));
            obj = json_tokener_parse(b.data);
            assert_non_null(obj);
            assert_int_equal(json_object_get_string_len(obj), (int)sizeof(in));
            assert_memory_equal(json_object_get_string(obj), in, sizeof(in));
            json_object_put(obj);
            buf_cleanup(&b);
        }
    }
}

static void test_written_ints(void **state)
{
    static const long long values[] = {0, 1, -1, 9, 10, -10, 12345, 1000000007, LLONG_MAX,
                                       LLONG_MIN, LLONG_MIN + 1};

    (void)state;
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        struct buf b;
        struct jwrite w = {&b, 0};
        char want[32];

        buf_init(&b, 64);
        jw_int(&w, values[i]);
        snprintf(want, sizeof(want), "%lld", values[i]);
        assert_int_equal(w.err, 0);
        assert_string_equal(b.data, want);
        buf_cleanup(&b);
    }
}

static void test_strict_parse_forgets_a_failed_text(void **state)
{
    json_object *o;

    (void)state;
    assert_null(json_parse_strict(S("[\"\\ud800\\u"), 8));
    o = json_parse_strict(S("\"\\u0041\""), 8);
    assert_non_null(o);
    assert_string_equal(json_object_get_string(o), "A");
    json_object_put(o);
    assert_null(json_parse_strict(S("{\"k\":\"\\udbff\\u00zz\""), 8));
    o = json_parse_strict(S("{\"\\u0062\":\"\\u0063\"}"), 8);
    assert_non_null(o);
    assert_string_equal(json_object_get_string(json_object_object_get(o, "b")), "c");
    json_object_put(o);
    /* Texts of several depth caps in turn (each cap has its tokener): the same holds. */
    for (int depth = 4; depth <= 64; depth *= 2) {
        assert_null(json_parse_strict(S("[\"\\ud800\\u"), depth));
        for (int other = 4; other <= 64; other *= 2) {
            o = json_parse_strict(S("[\"\\u0041\"]"), other);
            assert_non_null(o);
            assert_string_equal(json_object_get_string(json_object_array_get_idx(o, 0)), "A");
            json_object_put(o);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_texts),
        cmocka_unit_test(test_invalid_texts),
        cmocka_unit_test(test_every_byte_in_a_string),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_members),
        cmocka_unit_test(test_string),
        cmocka_unit_test(test_elements),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_written_strings_read_back),
        cmocka_unit_test(test_written_ints),
        cmocka_unit_test(test_strict_parse_forgets_a_failed_text),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
