/* Unit tests for wire.c: HMAC-SHA256 signatures checked against OpenSSL's one-shot HMAC() and
 * fixed vectors, and wire_parse() fed well-formed and hostile frames. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

static const char TEST_KEY[] = "kernelbox-unit-test-key";

/* A message under construction: frames point at strings owned by the test. */
struct frames {
    struct wire_frame f[WIRE_MAX_FRAMES + 8];
    size_t n;
    char sig[WIRE_SIG_HEX + 1];
};

/* Lowercase hex HMAC-SHA256 over the concatenated parts, computed with OpenSSL's one-shot
 * HMAC() so that it shares no code with wire_sign(). */
static void reference_hmac(const void *key, size_t keylen, const struct wire_frame parts[4],
                           char out[WIRE_SIG_HEX + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    size_t total = 0, off = 0;
    unsigned char *joined;

    for (int i = 0; i < 4; i++)
        total += parts[i].len;
    joined = malloc(total + 1);
    assert_non_null(joined);
    for (int i = 0; i < 4; i++) {
        if (parts[i].len > 0)
            memcpy(joined + off, parts[i].data, parts[i].len);
        off += parts[i].len;
    }
    assert_non_null(HMAC(EVP_sha256(), key, (int)keylen, joined, total, md, &mdlen));
    assert_int_equal(mdlen, 32);
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    free(joined);
}

static struct wire_key *test_key(void)
{
    struct wire_key *k = wire_key_new((const uint8_t *)TEST_KEY, strlen(TEST_KEY));

    assert_non_null(k);
    return k;
}

static void push(struct frames *m, const void *data, size_t len)
{
    assert_true(m->n < sizeof(m->f) / sizeof(m->f[0]));
    m->f[m->n].data = data;
    m->f[m->n].len = len;
    m->n++;
}

static void push_str(struct frames *m, const char *s)
{
    push(m, s, strlen(s));
}

/* Build identities, the delimiter, a correct signature (by TEST_KEY), the four parts and
 * nbuffers buffer frames. */
static void build(struct frames *m, size_t nident, const char *header, const char *parent,
                  const char *metadata, const char *content, size_t nbuffers)
{
    static const char *const idents[] = {"client-a", "\x00\x01\xff", "third"};
    const char *parts[4] = {header, parent, metadata, content};
    struct wire_frame sigparts[4];
    size_t first;

    memset(m, 0, sizeof(*m));
    for (size_t i = 0; i < nident; i++)
        push(m, idents[i % 3], i % 3 == 1 ? 3 : strlen(idents[i % 3]));
    push_str(m, WIRE_DELIM);
    push(m, m->sig, WIRE_SIG_HEX);
    first = m->n;
    for (int i = 0; i < 4; i++)
        push_str(m, parts[i]);
    for (size_t i = 0; i < nbuffers; i++)
        push(m, "\x00\x01raw buffer", 12);
    memcpy(sigparts, &m->f[first], sizeof(sigparts));
    reference_hmac(TEST_KEY, strlen(TEST_KEY), sigparts, m->sig);
}

static const char HEADER[] = "{\"msg_id\":\"m-1\",\"msg_type\":\"status\",\"session\":\"s\"}";
static const char PARENT[] = "{\"msg_id\":\"p-9\",\"msg_type\":\"execute_request\"}";
static const char CONTENT[] = "{\"execution_state\":\"idle\"}";

/* Parse m and return the code, checking that a failure leaves msg empty. */
static int parse(const struct wire_key *k, const struct frames *m, struct wire_msg *msg)
{
    int rc;

    /* Poison the struct: wire_parse() must reset every field itself. */
    memset(msg, 0x5a, sizeof(*msg));
    rc = wire_parse(k, m->f, m->n, msg);
    if (rc < 0) {
        assert_null(msg->content);
        assert_null(msg->content_text);
        assert_string_equal(msg->msg_type, "");
        assert_string_equal(msg->parent_id, "");
        assert_int_equal(msg->content_len, 0);
        assert_int_equal(msg->nbuffers, 0);
    }
    return rc;
}

static int parse_parts(const char *header, const char *parent, const char *metadata,
                       const char *content)
{
    struct wire_key *k = test_key();
    struct wire_msg msg;
    struct frames m;
    int rc;

    build(&m, 1, header, parent, metadata, content, 0);
    rc = parse(k, &m, &msg);
    wire_msg_cleanup(&msg);
    wire_key_free(k);
    return rc;
}

static void test_sign_fixed_vectors(void **state)
{
    /* RFC 4231 test case 2, with the data split over the four parts (Jupyter signs their
     * concatenation). */
    static const char rfc_key[] = "Jefe";
    static const struct wire_frame rfc_parts[4] = {
        {"what do ya", 10}, {" want ", 6}, {"for ", 4}, {"nothing?", 8}};
    /* Checked with: python3 -c 'import hmac,hashlib; h=hmac.new(b"kernelbox-unit-test-key",
     * digestmod=hashlib.sha256); [h.update(p) for p in (b"{\"msg_id\":\"m1\",\"msg_type\":
     * \"status\"}", b"{}", b"{}", b"{\"execution_state\":\"idle\"}")]; print(h.hexdigest())' */
    static const struct wire_frame jupyter_parts[4] = {
        {"{\"msg_id\":\"m1\",\"msg_type\":\"status\"}", 35},
        {"{}", 2},
        {"{}", 2},
        {"{\"execution_state\":\"idle\"}", 26}};
    struct wire_key *k;
    char sig[WIRE_SIG_HEX + 1];

    (void)state;
    k = wire_key_new((const uint8_t *)rfc_key, 4);
    assert_non_null(k);
    assert_int_equal(wire_sign(k, rfc_parts, sig), 0);
    assert_string_equal(sig, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    wire_key_free(k);

    k = test_key();
    assert_int_equal(wire_sign(k, jupyter_parts, sig), 0);
    assert_string_equal(sig, "a0b0c2b8f52cd72d8b2be742a66c07cc97c94586a016f0fa8d260ba3d54c14e9");
    /* The keyed template is reused: signing again gives the same answer. */
    assert_int_equal(wire_sign(k, jupyter_parts, sig), 0);
    assert_string_equal(sig, "a0b0c2b8f52cd72d8b2be742a66c07cc97c94586a016f0fa8d260ba3d54c14e9");
    wire_key_free(k);
}

static void test_sign_matches_openssl_hmac(void **state)
{
    unsigned char key[200], data[4][300];
    struct wire_frame parts[4];
    char got[WIRE_SIG_HEX + 1], want[WIRE_SIG_HEX + 1];

    (void)state;
    srand(1234);
    for (int iter = 0; iter < 300; iter++) {
        /* Keys longer than the 64-byte SHA-256 block are hashed first: cover both. */
        size_t keylen = 1 + (size_t)rand() % sizeof(key);
        struct wire_key *k;

        for (size_t i = 0; i < keylen; i++)
            key[i] = (unsigned char)rand();
        for (int p = 0; p < 4; p++) {
            parts[p].len = (size_t)rand() % (iter % 5 == 0 ? 2 : sizeof(data[p]));
            for (size_t i = 0; i < parts[p].len; i++)
                data[p][i] = (unsigned char)rand();
            parts[p].data = data[p];
        }
        k = wire_key_new(key, keylen);
        assert_non_null(k);
        assert_int_equal(wire_sign(k, parts, got), 0);
        reference_hmac(key, keylen, parts, want);
        assert_string_equal(got, want);
        assert_int_equal(strlen(got), WIRE_SIG_HEX);
        wire_key_free(k);
    }
}

static void test_key_new_rejects_empty_and_free_null(void **state)
{
    (void)state;
    assert_null(wire_key_new((const uint8_t *)"", 0));
    wire_key_free(NULL);
}

static void test_parse_accepts_signed_message(void **state)
{
    struct wire_key *k = test_key();
    struct wire_msg msg;
    struct frames m;

    (void)state;
    for (size_t nident = 0; nident <= 3; nident++) {
        build(&m, nident, HEADER, PARENT, "{}", CONTENT, 0);
        assert_int_equal(parse(k, &m, &msg), 0);
        assert_string_equal(msg.msg_type, "status");
        assert_string_equal(msg.parent_id, "p-9");
        /* The content is read only when asked for, and then kept. */
        assert_null(msg.content);
        assert_ptr_equal(msg.content_text, m.f[m.n - 1].data);
        assert_int_equal(msg.content_len, strlen(CONTENT));
        assert_true(json_object_is_type(wire_msg_content(&msg), json_type_object));
        assert_ptr_equal(wire_msg_content(&msg), msg.content);
        assert_string_equal(
            json_object_get_string(json_object_object_get(msg.content, "execution_state")),
            "idle");
        assert_int_equal(msg.nbuffers, 0);
        wire_msg_cleanup(&msg);
    }
    wire_key_free(k);
}

static void test_parse_counts_buffers(void **state)
{
    struct wire_key *k = test_key();
    struct wire_msg msg;
    struct frames m;

    (void)state;
    build(&m, 1, HEADER, PARENT, "{}", CONTENT, 2);
    assert_int_equal(parse(k, &m, &msg), 0);
    assert_int_equal(msg.nbuffers, 2);
    wire_msg_cleanup(&msg);

    /* Buffers are not signed (only the four parts are), so changing one keeps it valid. */
    m.f[m.n - 1].data = "other";
    m.f[m.n - 1].len = 5;
    assert_int_equal(parse(k, &m, &msg), 0);
    wire_msg_cleanup(&msg);
    wire_key_free(k);
}

static void test_parse_frame_count_limits(void **state)
{
    struct wire_key *k = test_key();
    struct wire_msg msg;
    struct frames m;

    (void)state;
    /* Exactly WIRE_MAX_FRAMES: one identity, delimiter, signature, 4 parts, the rest buffers. */
    build(&m, 1, HEADER, PARENT, "{}", CONTENT, WIRE_MAX_FRAMES - 7);
    assert_int_equal(m.n, WIRE_MAX_FRAMES);
    assert_int_equal(parse(k, &m, &msg), 0);
    assert_int_equal(msg.nbuffers, WIRE_MAX_FRAMES - 7);
    wire_msg_cleanup(&msg);

    build(&m, 1, HEADER, PARENT, "{}", CONTENT, WIRE_MAX_FRAMES - 6);
    assert_int_equal(m.n, WIRE_MAX_FRAMES + 1);
    assert_int_equal(parse(k, &m, &msg), -EBADMSG);

    /* Too few: drop the content frame. */
    build(&m, 1, HEADER, PARENT, "{}", CONTENT, 0);
    m.n--;
    assert_int_equal(parse(k, &m, &msg), -EBADMSG);
    /* Nothing at all. */
    assert_int_equal(wire_parse(k, m.f, 0, &msg), -EBADMSG);
    wire_key_free(k);
}

static void test_parse_requires_delimiter(void **state)
{
    struct wire_key *k = test_key();
    struct wire_msg msg;
    struct frames m;

    (void)state;
    build(&m, 1, HEADER, PARENT, "{}", CONTENT, 0);
    m.f[1].data = "<ids|msg>";
    assert_int_equal(parse(k, &m, &msg), -EBADMSG);
    m.f[1].data = "<IDS|MSG>x";
    m.f[1].len = 10;
    assert_int_equal(parse(k, &m, &msg), -EBADMSG);
    /* Frames shifted so the delimiter is missing altogether. */
    build(&m, 0, HEADER, PARENT, "{}", CONTENT, 0);
    assert_int_equal(parse(k, &m, &msg), 0);
    wire_msg_cleanup(&msg);
    assert_int_equal(wire_parse(k, m.f + 1, m.n - 1, &msg), -EBADMSG);
    wire_key_free(k);
}

static void test_parse_rejects_bad_signatures(void **state)
{
    struct wire_key *k = test_key(), *other;
    struct wire_msg msg;
    struct frames m;
    char sig[WIRE_SIG_HEX + 2];

    (void)state;
    build(&m, 1, HEADER, PARENT, "{}", CONTENT, 0);

    /* One hex digit changed. */
    m.sig[10] = m.sig[10] == '0' ? '1' : '0';
    assert_int_equal(parse(k, &m, &msg), -EACCES);
    build(&m, 1, HEADER, PARENT, "{}", CONTENT, 0);
    m.sig[WIRE_SIG_HEX - 1] = m.sig[WIRE_SIG_HEX - 1] == 'a' ? 'b' : 'a';
    assert_int_equal(parse(k, &m, &msg), -EACCES);

    /* The right digest in uppercase is refused: Jupyter signs in lowercase. */
    build(&m, 1, HEADER, PARENT, "{}", CONTENT, 0);
    for (size_t i = 0; i < WIRE_SIG_HEX; i++) {
        if (m.sig[i] >= 'a' && m.sig[i] <= 'f')
            m.sig[i] = (char)(m.sig[i] - 'a' + 'A');
    }
    assert_non_null(strpbrk(m.sig, "ABCDEF"));
    assert_int_equal(parse(k, &m, &msg), -EACCES);

    /* Wrong lengths: one short, one long (the correct digest plus a digit), empty. */
    build(&m, 1, HEADER, PARENT, "{}", CONTENT, 0);
    m.f[2].len = WIRE_SIG_HEX - 1;
    assert_int_equal(parse(k, &m, &msg), -EACCES);
    memcpy(sig, m.sig, WIRE_SIG_HEX);
    sig[WIRE_SIG_HEX] = '0';
    sig[WIRE_SIG_HEX + 1] = '\0';
    m.f[2].data = sig;
    m.f[2].len = WIRE_SIG_HEX + 1;
    assert_int_equal(parse(k, &m, &msg), -EACCES);
    m.f[2].len = 0;
    assert_int_equal(parse(k, &m, &msg), -EACCES);

    /* Signed with another key. */
    other = wire_key_new((const uint8_t *)"another-key", 11);
    assert_non_null(other);
    build(&m, 1, HEADER, PARENT, "{}", CONTENT, 0);
    assert_int_equal(parse(other, &m, &msg), -EACCES);
    wire_key_free(other);

    /* A part changed after signing, and two parts swapped. */
    build(&m, 1, HEADER, PARENT, "{}", CONTENT, 0);
    m.f[6].data = "{\"execution_state\":\"busy\"}";
    assert_int_equal(parse(k, &m, &msg), -EACCES);
    build(&m, 1, HEADER, PARENT, "{}", "{}", 0);
    m.f[4].data = "{}";
    m.f[4].len = 2;
    m.f[6].data = PARENT;
    m.f[6].len = strlen(PARENT);
    assert_int_equal(parse(k, &m, &msg), -EACCES);
    wire_key_free(k);
}

static void test_parse_rejects_malformed_json(void **state)
{
    (void)state;
    /* Non-object parts. */
    assert_int_equal(parse_parts("[]", PARENT, "{}", CONTENT), -EBADMSG);
    assert_int_equal(parse_parts(HEADER, "null", "{}", CONTENT), -EBADMSG);
    assert_int_equal(parse_parts(HEADER, PARENT, "\"text\"", CONTENT), -EBADMSG);
    assert_int_equal(parse_parts(HEADER, PARENT, "{}", "5 "), -EBADMSG);
    assert_int_equal(parse_parts(HEADER, PARENT, "{}", ""), -EBADMSG);
    /* Header fields missing or of the wrong type. */
    assert_int_equal(parse_parts("{\"msg_id\":\"m\"}", PARENT, "{}", CONTENT), -EBADMSG);
    assert_int_equal(parse_parts("{\"msg_type\":\"status\"}", PARENT, "{}", CONTENT), -EBADMSG);
    assert_int_equal(parse_parts("{\"msg_id\":1,\"msg_type\":\"status\"}", PARENT, "{}", CONTENT),
                     -EBADMSG);
    assert_int_equal(parse_parts("{\"msg_id\":\"m\",\"msg_type\":null}", PARENT, "{}", CONTENT),
                     -EBADMSG);
    /* Invalid UTF-8: a lone continuation byte, an overlong '/', a surrogate. */
    assert_int_equal(parse_parts(HEADER, PARENT, "{}", "{\"text\":\"a\x80\"}"), -EBADMSG);
    assert_int_equal(parse_parts(HEADER, PARENT, "{}", "{\"text\":\"\xc0\xaf\"}"), -EBADMSG);
    assert_int_equal(parse_parts(HEADER, PARENT, "{}", "{\"text\":\"\xed\xa0\x80\"}"), -EBADMSG);
    assert_int_equal(parse_parts(HEADER, PARENT, "{}", "{\"t\xff\":1}"), -EBADMSG);
    /* Trailing garbage, a second value, a truncated value. */
    assert_int_equal(parse_parts(HEADER, PARENT, "{}", "{}x"), -EBADMSG);
    assert_int_equal(parse_parts(HEADER, PARENT, "{}", "{} {}"), -EBADMSG);
    assert_int_equal(parse_parts(HEADER, PARENT, "{}", "{\"a\":1"), -EBADMSG);
    assert_int_equal(parse_parts(HEADER, PARENT, "{}", "{\"a\":1,}"), -EBADMSG);
    /* Metadata is never read, but is checked like every part. */
    assert_int_equal(parse_parts(HEADER, PARENT, "{\"a\":", CONTENT), -EBADMSG);
    assert_int_equal(parse_parts(HEADER, PARENT, "[]", CONTENT), -EBADMSG);
    /* A msg_type longer than any Jupyter type, or one a NUL would cut to a known type. */
    {
        char header[WIRE_TYPE_MAX + 64];

        snprintf(header, sizeof(header), "{\"msg_id\":\"m\",\"msg_type\":\"%0*d\"}",
                 WIRE_TYPE_MAX + 1, 1);
        assert_int_equal(parse_parts(header, PARENT, "{}", CONTENT), -EBADMSG);
        snprintf(header, sizeof(header), "{\"msg_id\":\"m\",\"msg_type\":\"%0*d\"}",
                 WIRE_TYPE_MAX, 1);
        assert_int_equal(parse_parts(header, PARENT, "{}", CONTENT), 0);
    }
    assert_int_equal(
        parse_parts("{\"msg_id\":\"m\",\"msg_type\":\"status\\u0000x\"}", PARENT, "{}", CONTENT),
        -EBADMSG);
    /* Surrounding whitespace is fine. */
    assert_int_equal(parse_parts(HEADER, PARENT, "{}", " {\"a\":1}\n"), 0);
}

/* One field of the content, read from its text: no json-c object is made. */
static void test_content_fields(void **state)
{
    static const char content[] =
        "{\"execution_state\":\"id\\u006ce\",\"execution_count\":42,\"f\":1.5,\"e\":1e3,"
        "\"neg\":-7,\"big\":99999999999999999999,\"o\":{\"execution_count\":1}}";
    struct wire_key *k = test_key();
    struct wire_msg msg;
    struct frames m;
    long long n = 0;
    char buf[8];

    (void)state;
    build(&m, 1, "{\"msg_id\":\"m\",\"msg_type\":\"st\\u0061tus\"}", PARENT, "{}", content, 0);
    assert_int_equal(parse(k, &m, &msg), 0);
    assert_string_equal(msg.msg_type, "status"); /* names are compared unescaped */
    assert_int_equal(wire_msg_content_str(&msg, "execution_state", buf, sizeof(buf)), 4);
    assert_string_equal(buf, "idle");
    assert_int_equal(wire_msg_content_str(&msg, "execution_state", buf, 4), -ENOSPC);
    assert_int_equal(wire_msg_content_str(&msg, "execution_count", buf, sizeof(buf)), -ENOENT);
    assert_int_equal(wire_msg_content_str(&msg, "missing", buf, sizeof(buf)), -ENOENT);
    assert_int_equal(wire_msg_content_int(&msg, "execution_count", &n), 0);
    assert_int_equal(n, 42);
    assert_int_equal(wire_msg_content_int(&msg, "neg", &n), 0);
    assert_int_equal(n, -7);
    assert_int_equal(wire_msg_content_int(&msg, "f", &n), -ENOENT);
    assert_int_equal(wire_msg_content_int(&msg, "e", &n), -ENOENT);
    assert_int_equal(wire_msg_content_int(&msg, "big", &n), -ENOENT);
    assert_int_equal(wire_msg_content_int(&msg, "execution_state", &n), -ENOENT);
    assert_int_equal(wire_msg_content_int(&msg, "o", &n), -ENOENT);
    assert_null(msg.content);
    wire_msg_cleanup(&msg);
    wire_key_free(k);
}

/* "{\"a\":" + (depth - 1) nested arrays + "}": depth levels in all. */
static char *nested(int depth)
{
    size_t n = 0, cap = 16 + 2 * (size_t)depth;
    char *s = malloc(cap);

    assert_non_null(s);
    n += (size_t)snprintf(s, cap, "{\"a\":");
    for (int i = 1; i < depth; i++)
        s[n++] = '[';
    for (int i = 1; i < depth; i++)
        s[n++] = ']';
    s[n++] = '}';
    s[n] = '\0';
    return s;
}

static void test_parse_depth_cap(void **state)
{
    char *ok = nested(WIRE_JSON_DEPTH), *deep = nested(WIRE_JSON_DEPTH + 1);

    (void)state;
    assert_int_equal(parse_parts(HEADER, PARENT, "{}", ok), 0);
    assert_int_equal(parse_parts(HEADER, PARENT, "{}", deep), -EBADMSG);
    assert_int_equal(parse_parts(HEADER, PARENT, deep, "{}"), -EBADMSG);
    free(ok);
    free(deep);
}

static void test_parse_parent_id(void **state)
{
    struct wire_key *k = test_key();
    struct wire_msg msg;
    struct frames m;

    (void)state;
    build(&m, 1, HEADER, "{}", "{}", CONTENT, 0);
    assert_int_equal(parse(k, &m, &msg), 0);
    assert_string_equal(msg.parent_id, "");
    wire_msg_cleanup(&msg);

    build(&m, 1, HEADER, "{\"msg_id\":42}", "{}", CONTENT, 0);
    assert_int_equal(parse(k, &m, &msg), 0);
    assert_string_equal(msg.parent_id, "");
    wire_msg_cleanup(&msg);

    /* Ids no request of kernelboxd could have: too long, or cut short by a NUL. */
    {
        char parent[WIRE_PARENT_MAX + 32];

        snprintf(parent, sizeof(parent), "{\"msg_id\":\"%0*d\"}", WIRE_PARENT_MAX + 1, 7);
        build(&m, 1, HEADER, parent, "{}", CONTENT, 0);
        assert_int_equal(parse(k, &m, &msg), 0);
        assert_string_equal(msg.parent_id, "");
        wire_msg_cleanup(&msg);
        snprintf(parent, sizeof(parent), "{\"msg_id\":\"%0*d\"}", WIRE_PARENT_MAX, 7);
        build(&m, 1, HEADER, parent, "{}", CONTENT, 0);
        assert_int_equal(parse(k, &m, &msg), 0);
        assert_int_equal(strlen(msg.parent_id), WIRE_PARENT_MAX);
        wire_msg_cleanup(&msg);
    }
    build(&m, 1, HEADER, "{\"msg_id\":\"abc\\u0000d\"}", "{}", CONTENT, 0);
    assert_int_equal(parse(k, &m, &msg), 0);
    assert_string_equal(msg.parent_id, "");
    wire_msg_cleanup(&msg);

    build(&m, 1, HEADER, "{\"msg_id\":\"abc\\u00e9\"}", "{}", CONTENT, 0);
    assert_int_equal(parse(k, &m, &msg), 0);
    assert_string_equal(msg.parent_id, "abc\xc3\xa9");
    wire_msg_cleanup(&msg);
    wire_key_free(k);
}

static void test_msg_cleanup_idempotent(void **state)
{
    struct wire_key *k = test_key();
    struct wire_msg msg;
    struct frames m;

    (void)state;
    memset(&msg, 0, sizeof(msg));
    wire_msg_cleanup(&msg);
    build(&m, 2, HEADER, PARENT, "{}", CONTENT, 1);
    assert_int_equal(parse(k, &m, &msg), 0);
    assert_non_null(wire_msg_content(&msg));
    wire_msg_cleanup(&msg);
    assert_null(msg.content);
    assert_null(msg.content_text);
    assert_string_equal(msg.msg_type, "");
    assert_int_equal(msg.nbuffers, 0);
    wire_msg_cleanup(&msg);
    wire_key_free(k);
}

static void test_header_json(void **state)
{
    char out[512];
    json_object *h, *v;
    int n;

    (void)state;
    n = wire_header(out, sizeof(out), "0123abcd", "sess-1", "execute_request", 1700000000.25);
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(out));
    h = wire_json_parse(out, (size_t)n);
    assert_non_null(h);
    assert_true(json_object_is_type(h, json_type_object));
    assert_int_equal(json_object_object_length(h), 6);
    assert_true(json_object_object_get_ex(h, "msg_id", &v));
    assert_string_equal(json_object_get_string(v), "0123abcd");
    assert_true(json_object_object_get_ex(h, "session", &v));
    assert_string_equal(json_object_get_string(v), "sess-1");
    assert_true(json_object_object_get_ex(h, "username", &v));
    assert_string_equal(json_object_get_string(v), "kernelbox");
    assert_true(json_object_object_get_ex(h, "msg_type", &v));
    assert_string_equal(json_object_get_string(v), "execute_request");
    assert_true(json_object_object_get_ex(h, "version", &v));
    assert_string_equal(json_object_get_string(v), "5.3");
    assert_true(json_object_object_get_ex(h, "date", &v));
    assert_string_equal(json_object_get_string(v), "2023-11-14T22:13:20.250000+00:00");
    json_object_put(h);

    /* Exactly enough room, then one byte short. */
    assert_int_equal(wire_header(out, (size_t)n + 1, "0123abcd", "sess-1", "execute_request",
                                 1700000000.25),
                     n);
    assert_int_equal(wire_header(out, (size_t)n, "0123abcd", "sess-1", "execute_request",
                                 1700000000.25),
                     -ENOSPC);
    assert_int_equal(wire_header(out, 10, "a", "b", "c", 0), -ENOSPC);
}

static void test_json_parse_contract(void **state)
{
    static const char good[] = "{\"a\":[1,2,{\"b\":null}]}";
    json_object *o;

    (void)state;
    o = wire_json_parse(good, strlen(good));
    assert_non_null(o);
    json_object_put(o);
    /* The length is honoured: a NUL or extra text past it is not read. */
    o = wire_json_parse("{}garbage", 2);
    assert_non_null(o);
    json_object_put(o);
    assert_null(wire_json_parse("{}\0", 3));
    assert_null(wire_json_parse("", 0));
    assert_null(wire_json_parse("   ", 3));
    assert_null(wire_json_parse("{\"a\":'1'}", 9));
    /* Not asserted: json-c 0.16 takes single-quoted keys ({'a':1}) even in strict mode. */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_fixed_vectors),
        cmocka_unit_test(test_sign_matches_openssl_hmac),
        cmocka_unit_test(test_key_new_rejects_empty_and_free_null),
        cmocka_unit_test(test_parse_accepts_signed_message),
        cmocka_unit_test(test_parse_counts_buffers),
        cmocka_unit_test(test_parse_frame_count_limits),
        cmocka_unit_test(test_parse_requires_delimiter),
        cmocka_unit_test(test_parse_rejects_bad_signatures),
        cmocka_unit_test(test_parse_rejects_malformed_json),
        cmocka_unit_test(test_parse_depth_cap),
        cmocka_unit_test(test_content_fields),
        cmocka_unit_test(test_parse_parent_id),
        cmocka_unit_test(test_msg_cleanup_idempotent),
        cmocka_unit_test(test_header_json),
        cmocka_unit_test(test_json_parse_contract),
    };

    return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
