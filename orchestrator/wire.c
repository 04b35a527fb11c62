/* The Jupyter wire protocol: framing, HMAC-SHA256 signatures and header JSON. Everything a
 * kernel sends is hostile: every length is checked, every signature compared in constant
 * time, every JSON part parsed with a depth cap and UTF-8 validation. */
/* The SHA-256 functions wire_sign() uses are deprecated in OpenSSL 3.0 (see below). */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "wire.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/jscan.h"
#include "util/json.h"
#include "util/text.h"

/* HMAC-SHA256 with the key's two padded blocks hashed once: each signature starts from a
 * plain copy of those states (RFC 2104: H(K ^ opad, H(K ^ ipad, text))). This uses OpenSSL's
 * direct SHA-256 functions, deprecated in 3.0 but kept there: its EVP interface frees and
 * allocates provider state on every context copy, which cost this daemon more than hashing
 * the message itself (perf: about 8% of its CPU per execute, against under 3% now). */
#define HMAC_BLOCK 64

struct wire_key {
    SHA256_CTX inner; /* after K ^ ipad */
    SHA256_CTX outer; /* after K ^ opad */
};

struct wire_key *wire_key_new(const uint8_t *key, size_t len)
{
    unsigned char block[HMAC_BLOCK], pad[HMAC_BLOCK];
    struct wire_key *k;

    if (len == 0)
        return NULL;
    k = calloc(1, sizeof(*k));
    if (k == NULL)
        return NULL;
    memset(block, 0, sizeof(block));
    /* A key longer than a block is replaced by its digest. */
    if (len > HMAC_BLOCK)
        SHA256(key, len, block);
    else
        memcpy(block, key, len);
    for (size_t i = 0; i < HMAC_BLOCK; i++)
        pad[i] = block[i] ^ 0x36;
    SHA256_Init(&k->inner);
    SHA256_Update(&k->inner, pad, sizeof(pad));
    for (size_t i = 0; i < HMAC_BLOCK; i++)
        pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&k->outer);
    SHA256_Update(&k->outer, pad, sizeof(pad));
    OPENSSL_cleanse(block, sizeof(block));
    OPENSSL_cleanse(pad, sizeof(pad));
    return k;
}

void wire_key_free(struct wire_key *key)
{
    if (key == NULL)
        return;
    OPENSSL_cleanse(key, sizeof(*key)); /* the keyed states */
    free(key);
}

int wire_sign(const struct wire_key *key, const struct wire_frame parts[4],
              char out[WIRE_SIG_HEX + 1])
{
    unsigned char inner[SHA256_DIGEST_LENGTH], mac[SHA256_DIGEST_LENGTH];
    SHA256_CTX work = key->inner;

    for (int i = 0; i < 4; i++)
        SHA256_Update(&work, parts[i].data, parts[i].len);
    SHA256_Final(inner, &work);
    work = key->outer;
    SHA256_Update(&work, inner, sizeof(inner));
    SHA256_Final(mac, &work);
    hex_encode(mac, sizeof(mac), out);
    OPENSSL_cleanse(&work, sizeof(work));
    OPENSSL_cleanse(inner, sizeof(inner));
    OPENSSL_cleanse(mac, sizeof(mac));
    return 0;
}

json_object *wire_json_parse(const char *text, size_t len)
{
    return json_parse_strict(text, len, WIRE_JSON_DEPTH);
}

/* Unescape a string value into out (outlen bytes). False when it is not a string, does not
 * fit, or holds a NUL (which a C string would silently cut). */
static bool read_name(const struct jscan_value *v, char *out, size_t outlen)
{
    ssize_t n = jscan_string(v, out, outlen);

    if (n < 0 || memchr(out, '\0', (size_t)n) != NULL) {
        out[0] = '\0';
        return false;
    }
    return true;
}

static bool is_lower_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

/* The header names msg_type (read) and msg_id (only required). */
static bool read_header(const struct wire_frame *f, struct wire_msg *msg)
{
    static const char *const names[] = {"msg_type", "msg_id"};
    struct jscan_value v[2];

    if (jscan_members(f->data, f->len, WIRE_JSON_DEPTH, names, 2, v) < 0)
        return false;
    return v[1].type == JSCAN_STRING && read_name(&v[0], msg->msg_type, sizeof(msg->msg_type));
}

static bool read_parent(const struct wire_frame *f, struct wire_msg *msg)
{
    static const char *const names[] = {"msg_id"};
    struct jscan_value v;

    if (jscan_members(f->data, f->len, WIRE_JSON_DEPTH, names, 1, &v) < 0)
        return false;
    if (v.type == JSCAN_STRING)
        read_name(&v, msg->parent_id, sizeof(msg->parent_id)); /* or "": not one of ours */
    return true;
}

static bool is_object(const struct wire_frame *f)
{
    return jscan_members(f->data, f->len, WIRE_JSON_DEPTH, NULL, 0, NULL) == 0;
}

int wire_parse(const struct wire_key *key, const struct wire_frame *frames, size_t nframes,
               struct wire_msg *msg)
{
    const size_t delim_len = sizeof(WIRE_DELIM) - 1;
    char expected[WIRE_SIG_HEX + 1];
    const struct wire_frame *parts;
    size_t d;
    int rc;

    memset(msg, 0, sizeof(*msg));
    if (nframes > WIRE_MAX_FRAMES)
        return -EBADMSG;
    for (d = 0; d < nframes; d++) {
        if (frames[d].len == delim_len && memcmp(frames[d].data, WIRE_DELIM, delim_len) == 0)
            break;
    }
    if (d == nframes || nframes - d < 6)
        return -EBADMSG;

    /* Signature first: nothing of an unsigned message is read. */
    if (frames[d + 1].len != WIRE_SIG_HEX || !is_lower_hex(frames[d + 1].data, WIRE_SIG_HEX))
        return -EACCES;
    rc = wire_sign(key, &frames[d + 2], expected);
    if (rc < 0)
        return rc;
    if (CRYPTO_memcmp(expected, frames[d + 1].data, WIRE_SIG_HEX) != 0)
        return -EACCES;

    parts = &frames[d + 2];
    if (!read_header(&parts[0], msg) || !read_parent(&parts[1], msg) || !is_object(&parts[2]) ||
        !is_object(&parts[3])) {
        memset(msg, 0, sizeof(*msg));
        return -EBADMSG;
    }
    msg->content_text = parts[3].data;
    msg->content_len = parts[3].len;
    msg->nbuffers = nframes - d - 6;
    return 0;
}

json_object *wire_msg_content(struct wire_msg *msg)
{
    /* wire_parse() checked the text, UTF-8 included: json-c need not be preceded by a second
     * pass over what may be megabytes of output. json-c counts the scalar inside the deepest
     * container as a level of its own, jscan does not: one more takes what jscan took. */
    if (msg->content == NULL && msg->content_text != NULL)
        msg->content = json_parse_valid_utf8(msg->content_text, msg->content_len,
                                             WIRE_JSON_DEPTH + 1);
    return msg->content;
}

/* The content's member name, found without building anything; JSCAN_NONE when absent. */
static struct jscan_value content_member(const struct wire_msg *msg, const char *name)
{
    struct jscan_value v = {JSCAN_NONE, NULL, 0};

    if (msg->content_text != NULL &&
        jscan_members(msg->content_text, msg->content_len, WIRE_JSON_DEPTH, &name, 1, &v) < 0)
        v.type = JSCAN_NONE;
    return v;
}

ssize_t wire_msg_content_str(const struct wire_msg *msg, const char *name, char *out,
                             size_t outlen)
{
    struct jscan_value v = content_member(msg, name);

    if (v.type != JSCAN_STRING)
        return -ENOENT;
    return jscan_string(&v, out, outlen);
}

int wire_msg_content_int(const struct wire_msg *msg, const char *name, long long *out)
{
    struct jscan_value v = content_member(msg, name);

    return jscan_int(&v, out) == 0 ? 0 : -ENOENT;
}

int wire_msg_content_members(const struct wire_msg *msg, const char *const *names, size_t n,
                             struct jscan_value *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (struct jscan_value){JSCAN_NONE, NULL, 0};
    if (msg->content_text == NULL ||
        jscan_members(msg->content_text, msg->content_len, WIRE_JSON_DEPTH, names, n, out) < 0)
        return -ENOENT;
    return 0;
}

void wire_msg_cleanup(struct wire_msg *msg)
{
    json_object_put(msg->content);
    memset(msg, 0, sizeof(*msg));
}

int wire_header(char *out, size_t outlen, const char *msg_id, const char *session,
                const char *msg_type, double date)
{
    char when[40];
    int n;

    wall_iso8601(date, when);
    /* msg_id, session and msg_type are generated by kernelboxd itself: plain ASCII that
     * needs no escaping. */
    n = snprintf(out, outlen,
                 "{\"msg_id\":\"%s\",\"session\":\"%s\",\"username\":\"kernelbox\","
                 "\"date\":\"%s\",\"msg_type\":\"%s\",\"version\":\"" WIRE_PROTOCOL_VERSION
                 "\"}",
                 msg_id, session, when, msg_type);
    if (n < 0 || (size_t)n >= outlen)
        return -ENOSPC;
    return n;
}
