/* The Jupyter wire protocol: framing, HMAC-SHA256 signatures and header JSON. Everything a
 * kernel sends is hostile: every length is checked, every signature compared in constant
 * time, every JSON part parsed with a depth cap and UTF-8 validation. */
#include "wire.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/text.h"

/* HMAC-SHA256 with the key's two padded blocks hashed once: each signature copies those
 * states into a working context (no allocation, no provider lookup) instead of keying a new
 * MAC context (RFC 2104: H(K ^ opad, H(K ^ ipad, text))). */
#define HMAC_BLOCK 64

struct wire_key {
    EVP_MD_CTX *inner; /* SHA-256 after K ^ ipad */
    EVP_MD_CTX *outer; /* SHA-256 after K ^ opad */
    EVP_MD_CTX *work;  /* scratch: a key signs on one thread at a time */
};

struct wire_key *wire_key_new(const uint8_t *key, size_t len)
{
    unsigned char block[HMAC_BLOCK], pad[HMAC_BLOCK];
    struct wire_key *k = NULL;
    unsigned int dlen = 0;
    bool ok = false;

    if (len == 0)
        return NULL;
    memset(block, 0, sizeof(block));
    /* A key longer than a block is replaced by its digest. */
    if (len > HMAC_BLOCK) {
        if (EVP_Digest(key, len, block, &dlen, EVP_sha256(), NULL) != 1)
            goto out;
    } else {
        memcpy(block, key, len);
    }
    k = calloc(1, sizeof(*k));
    if (k == NULL)
        goto out;
    k->inner = EVP_MD_CTX_new();
    k->outer = EVP_MD_CTX_new();
    k->work = EVP_MD_CTX_new();
    if (k->inner == NULL || k->outer == NULL || k->work == NULL)
        goto out;
    for (size_t i = 0; i < HMAC_BLOCK; i++)
        pad[i] = block[i] ^ 0x36;
    if (EVP_DigestInit_ex(k->inner, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(k->inner, pad, sizeof(pad)) != 1)
        goto out;
    for (size_t i = 0; i < HMAC_BLOCK; i++)
        pad[i] = block[i] ^ 0x5c;
    if (EVP_DigestInit_ex(k->outer, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(k->outer, pad, sizeof(pad)) != 1)
        goto out;
    ok = true;
out:
    OPENSSL_cleanse(block, sizeof(block));
    OPENSSL_cleanse(pad, sizeof(pad));
    if (!ok) {
        wire_key_free(k);
        return NULL;
    }
    return k;
}

void wire_key_free(struct wire_key *key)
{
    if (key == NULL)
        return;
    /* EVP_MD_CTX_free() cleanses the digest state it holds, keyed blocks included. */
    EVP_MD_CTX_free(key->inner);
    EVP_MD_CTX_free(key->outer);
    EVP_MD_CTX_free(key->work);
    free(key);
}

int wire_sign(const struct wire_key *key, const struct wire_frame parts[4],
              char out[WIRE_SIG_HEX + 1])
{
    unsigned char inner[32], mac[32];
    unsigned int len = 0;
    int rc = -EIO;

    if (EVP_MD_CTX_copy_ex(key->work, key->inner) != 1)
        goto out;
    for (int i = 0; i < 4; i++) {
        if (EVP_DigestUpdate(key->work, parts[i].data, parts[i].len) != 1)
            goto out;
    }
    if (EVP_DigestFinal_ex(key->work, inner, &len) != 1 || len != sizeof(inner))
        goto out;
    if (EVP_MD_CTX_copy_ex(key->work, key->outer) != 1 ||
        EVP_DigestUpdate(key->work, inner, sizeof(inner)) != 1 ||
        EVP_DigestFinal_ex(key->work, mac, &len) != 1 || len != sizeof(mac))
        goto out;
    hex_encode(mac, sizeof(mac), out);
    rc = 0;
out:
    OPENSSL_cleanse(inner, sizeof(inner));
    OPENSSL_cleanse(mac, sizeof(mac));
    return rc;
}

json_object *wire_json_parse(const char *text, size_t len)
{
    return json_parse_strict(text, len, WIRE_JSON_DEPTH);
}

static const char *string_field(json_object *obj, const char *name)
{
    json_object *v = NULL;

    if (!json_object_object_get_ex(obj, name, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static bool is_lower_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

int wire_parse(const struct wire_key *key, const struct wire_frame *frames, size_t nframes,
               struct wire_msg *msg)
{
    const size_t delim_len = sizeof(WIRE_DELIM) - 1;
    char expected[WIRE_SIG_HEX + 1];
    json_object **slots[4];
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

    /* Signature first: nothing of an unsigned message is parsed. */
    if (frames[d + 1].len != WIRE_SIG_HEX || !is_lower_hex(frames[d + 1].data, WIRE_SIG_HEX))
        return -EACCES;
    rc = wire_sign(key, &frames[d + 2], expected);
    if (rc < 0)
        return rc;
    if (CRYPTO_memcmp(expected, frames[d + 1].data, WIRE_SIG_HEX) != 0)
        return -EACCES;

    slots[0] = &msg->header;
    slots[1] = &msg->parent;
    slots[2] = &msg->metadata;
    slots[3] = &msg->content;
    for (int i = 0; i < 4; i++) {
        const struct wire_frame *f = &frames[d + 2 + (size_t)i];

        *slots[i] = wire_json_parse(f->data, f->len);
        if (*slots[i] == NULL || !json_object_is_type(*slots[i], json_type_object))
            goto bad;
    }
    msg->msg_type = string_field(msg->header, "msg_type");
    msg->msg_id = string_field(msg->header, "msg_id");
    if (msg->msg_type == NULL || msg->msg_id == NULL)
        goto bad;
    msg->parent_id = string_field(msg->parent, "msg_id");
    msg->content_len = frames[d + 5].len;
    msg->nbuffers = nframes - d - 6;
    return 0;

bad:
    wire_msg_cleanup(msg);
    return -EBADMSG;
}

void wire_msg_cleanup(struct wire_msg *msg)
{
    json_object_put(msg->header);
    json_object_put(msg->parent);
    json_object_put(msg->metadata);
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
