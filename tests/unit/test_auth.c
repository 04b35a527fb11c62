/* Unit tests for auth.c: the keys file's grammar (keys, quota lines, every refusal with its
 * line number), and checking an Authorization header against the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

#define KEY_A "alpha-key-0123456789abcdef"
#define KEY_B "beta-key-0123456789abcdef"

static char hash_a[65], hash_b[65];

static int setup(void **state)
{
    (void)state;
    auth_hash_hex(KEY_A, strlen(KEY_A), hash_a);
    auth_hash_hex(KEY_B, strlen(KEY_B), hash_b);
    return 0;
}

/* Parse text; returns what auth_parse_keys() returns, err holding its message. */
static int parse(const char *text, struct auth *out, char *err, size_t errlen)
{
    err[0] = '\0';
    return auth_parse_keys(text, strlen(text), out, err, errlen);
}

static void expect_refused(const char *text, const char *fragment)
{
    struct auth a;
    char err[256];

    if (parse(text, &a, err, sizeof(err)) != -EINVAL) {
        auth_cleanup(&a);
        fail_msg("accepted: %s", text);
    }
    if (strstr(err, fragment) == NULL)
        fail_msg("for %s: the message '%s' lacks '%s'", text, err, fragment);
}

static void test_hash_is_sha256_hex(void **state)
{
    char hex[65];

    (void)state;
    auth_hash_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_keys_comments_blank_lines_and_crlf(void **state)
{
    struct auth a;
    char text[512], err[256];
    char header[128];

    (void)state;
    snprintf(text, sizeof(text), "# tenants\r\n\r\nalpha %s  # the first\r\n   \nbeta\t%s", hash_a,
             hash_b);
    assert_int_equal(parse(text, &a, err, sizeof(err)), 0);
    assert_int_equal(a.nentries, 2);
    assert_int_equal(a.nquotas, 0);
    snprintf(header, sizeof(header), "Bearer %s", KEY_A);
    assert_string_equal(auth_check(&a, header), "alpha");
    snprintf(header, sizeof(header), "bearer   %s  ", KEY_B);
    assert_string_equal(auth_check(&a, header), "beta");
    auth_cleanup(&a);
}

static void test_check_refuses_what_is_not_a_listed_bearer_key(void **state)
{
    struct auth a;
    char text[256], err[256], header[2200];

    (void)state;
    snprintf(text, sizeof(text), "alpha %s\n", hash_a);
    assert_int_equal(parse(text, &a, err, sizeof(err)), 0);
    assert_null(auth_check(&a, NULL));
    assert_null(auth_check(&a, ""));
    assert_null(auth_check(&a, "Bearer "));
    assert_null(auth_check(&a, "Bearer      "));
    assert_null(auth_check(&a, KEY_A));             /* no scheme */
    assert_null(auth_check(&a, "Basic " KEY_A));    /* another scheme */
    assert_null(auth_check(&a, "Bearer" KEY_A));    /* no space */
    assert_null(auth_check(&a, "Bearer " KEY_A "x")); /* longer */
    assert_null(auth_check(&a, "Bearer alpha-key-0123456789abcde")); /* shorter */
    assert_null(auth_check(&a, "Bearer " KEY_B));   /* valid elsewhere */
    /* A key over the maximum length is never hashed, let alone matched. */
    memcpy(header, "Bearer ", 7);
    memset(header + 7, 'k', AUTH_KEY_MAX + 1);
    header[7 + AUTH_KEY_MAX + 1] = '\0';
    assert_null(auth_check(&a, header));
    assert_null(auth_check(NULL, "Bearer " KEY_A));
    assert_string_equal(auth_check(&a, "Bearer " KEY_A), "alpha");
    auth_cleanup(&a);
}

static void test_a_quota_line_may_name_all_eight_limits(void **state)
{
    struct auth a;
    struct auth_quota q;
    char text[512], err[256];

    (void)state;
    snprintf(text, sizeof(text),
             "alpha %s\n"
             "alpha quota sessions=5 executions=2 rate=2.5 burst=10 memory=1GiB cpus=1.5 "
             "pids=128 tmpfs=64MiB\n"
             "beta quota sessions=0\n",
             hash_a);
    assert_int_equal(parse(text, &a, err, sizeof(err)), 0);
    assert_int_equal(a.nquotas, 2);
    assert_true(auth_quota_of(&a, "alpha", &q));
    assert_int_equal(q.sessions, 5);
    assert_int_equal(q.executions, 2);
    assert_true(q.rate == 2.5 && q.burst == 10);
    assert_int_equal(q.max_memory, 1LL << 30);
    assert_true(q.max_cpus == 1.5);
    assert_int_equal(q.max_pids, 128);
    assert_int_equal(q.max_tmpfs, 64LL << 20);
    /* What a line does not name stays unset (negative): the defaults apply. */
    assert_true(auth_quota_of(&a, "beta", &q));
    assert_int_equal(q.sessions, 0);
    assert_true(q.executions < 0 && q.rate < 0 && q.burst < 0 && q.max_memory < 0 &&
                q.max_cpus < 0 && q.max_pids < 0 && q.max_tmpfs < 0);
    assert_false(auth_quota_of(&a, "gamma", &q));
    auth_cleanup(&a);
}

static void test_malformed_lines_are_refused_with_their_number(void **state)
{
    char text[512];

    (void)state;
    expect_refused("alpha\n", "line 1: expected");
    snprintf(text, sizeof(text), "# ok\nalpha %s extra\n", hash_a);
    expect_refused(text, "line 2: a key line");
    expect_refused("alpha 0123\n", "64 lowercase hex");
    snprintf(text, sizeof(text), "alpha %.63sG\n", hash_a);
    expect_refused(text, "64 lowercase hex");
    snprintf(text, sizeof(text), "alpha %s\n", hash_a);
    for (char *p = text; *p != '\0'; p++) {
        if (*p >= 'a' && *p <= 'f' && p > text + 6)
            *p = (char)(*p - 'a' + 'A');
    }
    expect_refused(text, "64 lowercase hex");
    snprintf(text, sizeof(text), "alpha %s\nbeta %s\n", hash_a, hash_a);
    expect_refused(text, "line 2: this key is already listed");
    snprintf(text, sizeof(text), "-alpha %s\n", hash_a);
    expect_refused(text, "tenant must match");
    snprintf(text, sizeof(text), "%s %s\n",
             "a0123456789012345678901234567890123456789012345678901234567890123", hash_a);
    expect_refused(text, "tenant must match");
}

static void test_bad_quota_lines_are_refused(void **state)
{
    (void)state;
    expect_refused("alpha quota\n", "at least one limit");
    expect_refused("alpha quota sessions\n", "expected name=value");
    expect_refused("alpha quota sessions=-1\n", "sessions must be");
    expect_refused("alpha quota sessions=1x\n", "sessions must be");
    expect_refused("alpha quota sessions=1 sessions=2\n", "repeated limit 'sessions'");
    expect_refused("alpha quota disk=1\n", "unknown or repeated limit 'disk'");
    expect_refused("alpha quota rate=0\n", "rate must be");
    expect_refused("alpha quota rate=inf\n", "rate must be");
    expect_refused("alpha quota rate=1e3\n", "rate must be");
    expect_refused("alpha quota rate=0x10\n", "rate must be");
    expect_refused("alpha quota burst=0.5\n", "burst must be");
    expect_refused("alpha quota memory=1MiB\n", "memory must be");
    expect_refused("alpha quota tmpfs=12\n", "tmpfs must be");
    expect_refused("alpha quota cpus=300\n", "cpus must be");
    expect_refused("alpha quota pids=8\n", "pids must be");
    expect_refused("alpha quota sessions=1\nalpha quota executions=1\n",
                   "line 2: a second quota line");
    /* Nine limits cannot all be different ones: the line is refused as too long. */
    expect_refused("alpha quota sessions=1 executions=1 rate=1 burst=1 memory=64MiB cpus=1 "
                   "pids=16 tmpfs=1MiB sessions=2\n",
                   "more than 10 words");
}

static void test_bytes_a_keys_file_may_not_hold(void **state)
{
    struct auth a;
    char err[256], *big;
    static const char nul[] = "alpha quota sessions=1\0\n";
    static const char bad_utf8[] = "# caf\xc3\n";

    (void)state;
    assert_int_equal(auth_parse_keys(nul, sizeof(nul) - 1, &a, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "NUL"));
    assert_int_equal(parse(bad_utf8, &a, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "UTF-8"));
    /* A line longer than the line buffer, and a file larger than the cap. */
    big = malloc(AUTH_FILE_MAX + 2);
    assert_non_null(big);
    memset(big, '#', AUTH_FILE_MAX + 1);
    big[AUTH_FILE_MAX + 1] = '\0';
    assert_int_equal(auth_parse_keys(big, 8192, &a, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "line 1: longer than"));
    assert_int_equal(auth_parse_keys(big, AUTH_FILE_MAX + 1, &a, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "larger than"));
    free(big);
}

static void test_generated_keys_are_fresh_hex(void **state)
{
    char k1[AUTH_GENERATED_KEY_LEN + 1], k2[AUTH_GENERATED_KEY_LEN + 1];

    (void)state;
    assert_int_equal(auth_generate_key(k1, sizeof(k1)), 0);
    assert_int_equal(auth_generate_key(k2, sizeof(k2)), 0);
    assert_int_equal(strlen(k1), AUTH_GENERATED_KEY_LEN);
    assert_int_equal(strspn(k1, "0123456789abcdef"), AUTH_GENERATED_KEY_LEN);
    assert_string_not_equal(k1, k2);
    assert_true(auth_generate_key(k1, AUTH_GENERATED_KEY_LEN) < 0); /* no room for the NUL */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_is_sha256_hex),
        cmocka_unit_test(test_keys_comments_blank_lines_and_crlf),
        cmocka_unit_test(test_check_refuses_what_is_not_a_listed_bearer_key),
        cmocka_unit_test(test_a_quota_line_may_name_all_eight_limits),
        cmocka_unit_test(test_malformed_lines_are_refused_with_their_number),
        cmocka_unit_test(test_bad_quota_lines_are_refused),
        cmocka_unit_test(test_bytes_a_keys_file_may_not_hold),
        cmocka_unit_test(test_generated_keys_are_fresh_hex),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
