/* Unit tests for util/text.c: UTF-8 counting, cutting and validation against tricky and random
 * input (checked by an independent decoder), hex, random identifiers and clock formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/text.h"

#define S(lit) (lit), (sizeof(lit) - 1)

/* Reference decoder, written from RFC 3629 independently of text.c: the length of the
 * well-formed sequence at s, or 0. */
static size_t ref_seq(const unsigned char *s, size_t avail)
{
    uint32_t cp, min;
    size_t n;

    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0) {
        n = 2;
        cp = s[0] & 0x1F;
        min = 0x80;
    } else if ((s[0] & 0xF0) == 0xE0) {
        n = 3;
        cp = s[0] & 0x0F;
        min = 0x800;
    } else if ((s[0] & 0xF8) == 0xF0) {
        n = 4;
        cp = s[0] & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

static bool ref_valid(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t n = ref_seq(s + i, len - i);

        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

static size_t ref_count(const unsigned char *s, size_t len)
{
    size_t chars = 0;

    for (size_t i = 0; i < len; chars++) {
        size_t n = ref_seq(s + i, len - i);

        i += n ? n : 1;
    }
    return chars;
}

static void test_utf8_valid_tricky(void **state)
{
    static const struct {
        const char *s;
        size_t len;
        bool valid;
        size_t chars;
    } cases[] = {
        {S(""), true, 0},
        {S("plain ascii"), true, 11},
        {"a\0b", 3, true, 3},
        {S("\xc3\xa9"), true, 1},                 /* U+00E9 */
        {S("\xc2\x80"), true, 1},                 /* U+0080, smallest 2-byte */
        {S("\xdf\xbf"), true, 1},                 /* U+07FF */
        {S("\xe0\xa0\x80"), true, 1},             /* U+0800, smallest 3-byte */
        {S("\xed\x9f\xbf"), true, 1},             /* U+D7FF, just below the surrogates */
        {S("\xee\x80\x80"), true, 1},             /* U+E000, just above */
        {S("\xef\xbf\xbf"), true, 1},             /* U+FFFF */
        {S("\xf0\x90\x80\x80"), true, 1},         /* U+10000, smallest 4-byte */
        {S("\xf4\x8f\xbf\xbf"), true, 1},         /* U+10FFFF, the largest */
        {S("a\xe2\x82\xac" "b\xf0\x9f\x98\x80"), true, 4},
        /* Overlongs. */
        {S("\xc0\x80"), false, 2},
        {S("\xc1\xbf"), false, 2},
        {S("\xe0\x80\x80"), false, 3},
        {S("\xe0\x9f\xbf"), false, 3},
        {S("\xf0\x80\x80\x80"), false, 4},
        {S("\xf0\x8f\xbf\xbf"), false, 4},
        /* Surrogates, encoded directly. */
        {S("\xed\xa0\x80"), false, 3},
        {S("\xed\xbf\xbf"), false, 3},
        {S("\xed\xa0\xbd\xed\xb8\x80"), false, 6},
        /* Above U+10FFFF and bytes that never appear. */
        {S("\xf4\x90\x80\x80"), false, 4},
        {S("\xf5\x80\x80\x80"), false, 4},
        {S("\xf8\x88\x80\x80\x80"), false, 5},
        {S("\xfe"), false, 1},
        {S("\xff"), false, 1},
        /* Truncated sequences, at the end and in the middle. */
        {S("\xc3"), false, 1},
        {S("\xe2\x82"), false, 2},
        {S("\xf0\x9f\x98"), false, 3},
        {S("\xf0\x9f\x98" "a"), false, 4},
        {S("ab\xe2\x82"), false, 4},
        /* Lone and extra continuation bytes, bad continuations. */
        {S("\x80"), false, 1},
        {S("\xbf"), false, 1},
        {S("\xc3\xa9\xa9"), false, 2},
        {S("\xc3\x28"), false, 2},
        {S("\xe2\x28\xa1"), false, 3},
        {S("\xf0\x28\x8c\xbc"), false, 4},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const unsigned char *u = (const unsigned char *)cases[i].s;

        if (utf8_valid(cases[i].s, cases[i].len) != cases[i].valid)
            fail_msg("case %zu: utf8_valid gave %d", i, !cases[i].valid);
        if (utf8_count(cases[i].s, cases[i].len) != cases[i].chars)
            fail_msg("case %zu: utf8_count gave %zu, want %zu", i,
                     utf8_count(cases[i].s, cases[i].len), cases[i].chars);
        /* The table and the reference decoder agree (a check on the test itself). */
        assert_int_equal(ref_valid(u, cases[i].len), cases[i].valid);
        assert_int_equal(ref_count(u, cases[i].len), cases[i].chars);
    }
}

static void test_utf8_exhaustive_short(void **state)
{
    unsigned char b[3];

    (void)state;
    /* Every 1-, 2- and 3-byte string. */
    for (unsigned a = 0; a < 256; a++) {
        b[0] = (unsigned char)a;
        assert_int_equal(utf8_valid((const char *)b, 1), ref_valid(b, 1));
        for (unsigned c = 0; c < 256; c++) {
            b[1] = (unsigned char)c;
            if (utf8_valid((const char *)b, 2) != ref_valid(b, 2))
                fail_msg("%02x %02x", a, c);
            assert_int_equal(utf8_count((const char *)b, 2), ref_count(b, 2));
            for (unsigned d = 0x80; d < 0xC0; d++) {
                b[2] = (unsigned char)d;
                if (utf8_valid((const char *)b, 3) != ref_valid(b, 3))
                    fail_msg("%02x %02x %02x", a, c, d);
            }
        }
    }
    /* Every 4-byte lead with every second byte (continuations fixed). */
    for (unsigned a = 0xF0; a < 0x100; a++) {
        for (unsigned c = 0; c < 256; c++) {
            unsigned char q[4] = {(unsigned char)a, (unsigned char)c, 0x80, 0xBF};

            if (utf8_valid((const char *)q, 4) != ref_valid(q, 4))
                fail_msg("%02x %02x 80 bf", a, c);
        }
    }
}

static void test_utf8_random_against_reference(void **state)
{
    /* Bytes biased toward lead and continuation values so sequences form often. */
    static const unsigned char pool[] = {
        'a',  0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2,
        0xDF, 0xE0, 0xE1, 0xED, 0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xFF,
    };
    unsigned char s[24];

    (void)state;
    srand(42);
    for (int iter = 0; iter < 50000; iter++) {
        size_t len = (size_t)rand() % sizeof(s), chars;

        for (size_t i = 0; i < len; i++)
            s[i] = rand() % 3 ? pool[(size_t)rand() % sizeof(pool)] : (unsigned char)rand();
        chars = utf8_count((const char *)s, len);
        assert_int_equal(utf8_valid((const char *)s, len), ref_valid(s, len));
        assert_int_equal(chars, ref_count(s, len));
        /* Cutting at every count: never more characters than asked, never a split
         * sequence (the cut is where the reference decoder's steps land). */
        for (size_t k = 0; k <= chars + 1; k++) {
            size_t cut = utf8_prefix((const char *)s, len, k), at = 0, n = 0;

            while (at < len && n < k) {
                size_t step = ref_seq(s + at, len - at);

                at += step ? step : 1;
                n++;
            }
            if (cut != at)
                fail_msg("iteration %d: prefix(%zu) = %zu, want %zu", iter, k, cut, at);
            assert_int_equal(utf8_count((const char *)s, cut), k < chars ? k : chars);
        }
    }
}

static void test_utf8_prefix(void **state)
{
    /* "a" (1 byte) + e-acute (2) + euro (3) + emoji (4) = 10 bytes, 4 characters. */
    static const char s[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";

    (void)state;
    assert_int_equal(utf8_prefix(s, 10, 0), 0);
    assert_int_equal(utf8_prefix(s, 10, 1), 1);
    assert_int_equal(utf8_prefix(s, 10, 2), 3);
    assert_int_equal(utf8_prefix(s, 10, 3), 6);
    assert_int_equal(utf8_prefix(s, 10, 4), 10);
    assert_int_equal(utf8_prefix(s, 10, 1000), 10);
    assert_int_equal(utf8_prefix(s, 0, 5), 0);
    /* A length that cuts the emoji: its first bytes count as invalid single bytes, and the
     * prefix never reads past len. */
    assert_int_equal(utf8_prefix(s, 8, 4), 7);
    assert_int_equal(utf8_count(s, 8), 5);
    assert_false(utf8_valid(s, 8));
    assert_true(utf8_valid(s, 6));
    assert_false(utf8_valid(s, 5));
}

static void test_hex_encode(void **state)
{
    static const uint8_t in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff};
    char out[2 * sizeof(in) + 2];

    (void)state;
    memset(out, 'X', sizeof(out));
    hex_encode(in, sizeof(in), out);
    assert_string_equal(out, "00017f80abcdefff");
    assert_int_equal(out[2 * sizeof(in) + 1], 'X');
    hex_encode(in, 0, out);
    assert_string_equal(out, "");
}

static bool all_lower_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

static void test_random_hex(void **state)
{
    static const size_t lens[] = {0, 1, 2, 7, 31, 32, 64, 127, 128};
    char out[200], other[200];
    unsigned seen[16] = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        memset(out, 'X', sizeof(out));
        assert_int_equal(random_hex(out, lens[i]), 0);
        assert_int_equal(strlen(out), lens[i]);
        assert_true(all_lower_hex(out, lens[i]));
        /* Nothing written past the NUL. */
        assert_int_equal(out[lens[i] + 1], 'X');
    }
    /* Too long for one call. */
    assert_int_equal(random_hex(out, 129), -EINVAL);

    /* Two identifiers differ; over many draws every digit turns up. */
    assert_int_equal(random_hex(out, 32), 0);
    assert_int_equal(random_hex(other, 32), 0);
    assert_string_not_equal(out, other);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(random_hex(out, 64), 0);
        for (size_t j = 0; j < 64; j++)
            seen[out[j] <= '9' ? out[j] - '0' : out[j] - 'a' + 10]++;
    }
    for (int d = 0; d < 16; d++)
        assert_true(seen[d] > 0);
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Request ids: the same contract as random_hex() from a per-thread pool; ids drawn across
 * many refills of the pool never repeat. */
static void test_random_id_hex(void **state)
{
    static const size_t lens[] = {0, 1, 2, 7, 16, 31, 511, 512};
    static char ids[2000][17];
    char out[600];
    unsigned seen[16] = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        memset(out, 'X', sizeof(out));
        assert_int_equal(random_id_hex(out, lens[i]), 0);
        assert_int_equal(strlen(out), lens[i]);
        assert_true(all_lower_hex(out, lens[i]));
        assert_int_equal(out[lens[i] + 1], 'X');
    }
    assert_int_equal(random_id_hex(out, 513), -EINVAL);
    for (size_t i = 0; i < 2000; i++) {
        assert_int_equal(random_id_hex(ids[i], 16), 0);
        for (size_t j = 0; j < 16; j++)
            seen[ids[i][j] <= '9' ? ids[i][j] - '0' : ids[i][j] - 'a' + 10]++;
    }
    qsort(ids, 2000, sizeof(ids[0]), cmp_id);
    for (size_t i = 1; i < 2000; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    /* 32000 digits: each of the sixteen turns up roughly 2000 times. */
    for (int d = 0; d < 16; d++)
        assert_in_range(seen[d], 1500, 2500);
}

static void test_random_bytes(void **state)
{
    uint8_t a[64], b[64];

    (void)state;
    assert_int_equal(random_bytes(a, sizeof(a)), 0);
    assert_int_equal(random_bytes(b, sizeof(b)), 0);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_int_equal(random_bytes(a, 0), 0);
}

static void test_wall_iso8601(void **state)
{
    char out[40];
    struct tm tm;
    int year, mon, day, hour, min, sec, usec, consumed = 0;
    double now;

    (void)state;
    wall_iso8601(0.0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000000+00:00");
    wall_iso8601(1700000000.25, out);
    assert_string_equal(out, "2023-11-14T22:13:20.250000+00:00");
    wall_iso8601(951782400.5, out); /* a leap day */
    assert_string_equal(out, "2000-02-29T00:00:00.500000+00:00");
    wall_iso8601(4102444799.0, out);
    assert_string_equal(out, "2099-12-31T23:59:59.000000+00:00");
    /* The same second again (its date and time are kept from the call before), then the
     * next one and back. */
    wall_iso8601(4102444799.5, out);
    assert_string_equal(out, "2099-12-31T23:59:59.500000+00:00");
    wall_iso8601(4102444800.25, out);
    assert_string_equal(out, "2100-01-01T00:00:00.250000+00:00");
    wall_iso8601(4102444799.75, out);
    assert_string_equal(out, "2099-12-31T23:59:59.750000+00:00");

    /* Times a kernel may send (a file's "modified"): clamped, never undefined. */
    wall_iso8601(-5.0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000000+00:00");
    wall_iso8601(NAN, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000000+00:00");
    wall_iso8601(1e300, out);
    assert_string_equal(out, "9999-12-31T23:59:59.000000+00:00");
    wall_iso8601(INFINITY, out);
    assert_string_equal(out, "9999-12-31T23:59:59.000000+00:00");

    /* The current time: the fixed format, and the same second as gmtime_r. */
    now = wall_now();
    wall_iso8601(now, out);
    assert_int_equal(strlen(out), 32);
    assert_int_equal(sscanf(out, "%4d-%2d-%2dT%2d:%2d:%2d.%6d+00:00%n", &year, &mon, &day, &hour,
                            &min, &sec, &usec, &consumed),
                     7);
    assert_int_equal(consumed, 32);
    {
        time_t t = (time_t)now;

        gmtime_r(&t, &tm);
    }
    assert_int_equal(year, tm.tm_year + 1900);
    assert_int_equal(mon, tm.tm_mon + 1);
    assert_int_equal(day, tm.tm_mday);
    assert_int_equal(sec, tm.tm_sec);
    assert_in_range(usec, 0, 999999);
}

static void test_clocks(void **state)
{
    uint64_t ms1, ms2, us1, us2;
    struct timespec pause = {0, 20 * 1000 * 1000};
    double w1, w2;

    (void)state;
    ms1 = now_ms();
    us1 = now_us();
    w1 = wall_now();
    nanosleep(&pause, NULL);
    ms2 = now_ms();
    us2 = now_us();
    w2 = wall_now();
    assert_true(ms2 >= ms1 + 19);
    assert_true(us2 >= us1 + 19000);
    /* The two monotonic clocks agree to within a millisecond or so. */
    assert_true(us2 / 1000 >= ms2 - 1 && us2 / 1000 <= ms2 + 5);
    assert_true(w2 > w1);
    assert_true(w1 > 1600000000.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_valid_tricky),
        cmocka_unit_test(test_utf8_exhaustive_short),
        cmocka_unit_test(test_utf8_random_against_reference),
        cmocka_unit_test(test_utf8_prefix),
        cmocka_unit_test(test_hex_encode),
        cmocka_unit_test(test_random_hex),
        cmocka_unit_test(test_random_id_hex),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_wall_iso8601),
        cmocka_unit_test(test_clocks),
    };

    return cmocka_run_group_tests_name("text", tests, NULL, NULL);
}
