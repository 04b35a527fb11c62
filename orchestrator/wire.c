/* The Jupyter wire protocol: framing, HMAC-SHA256 signatures and header JSON. Everything a
 * kernel sends is hostile: every length is checked, every signature compared in constant
 * time, every JSON part parsed with a depth cap and UTF-8 validation. */
#include "wire.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/text.h"

struct wire_key {
    EVP_MAC_CTX *ctx; /* keyed template, duplicated for each signature */
};

struct wire_key *wire_key_new(const uint8_t *key, size_t len)
{
    struct wire_key *k = NULL;
    EVP_MAC *mac = NULL;
    OSSL_PARAM params[2];
    char digest[] = "SHA256";

    if (len == 0)
        return NULL;
    k = calloc(1, sizeof(*k));
    if (k == NULL)
        goto error;
    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL)
        goto error;
    k->ctx = EVP_MAC_CTX_new(mac);
    if (k->ctx == NULL)
        goto error;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_MAC_init(k->ctx, key, len, params) != 1)
        goto error;
    EVP_MAC_free(mac);
    return k;

error:
    EVP_MAC_free(mac);
    wire_key_free(k);
    return NULL;
}

void wire_key_free(struct wire_key *key)
{
    if (key == NULL)
        return;
    /* EVP_MAC_CTX_free() cleanses the key material it holds. */
    EVP_MAC_CTX_free(key->ctx);
    free(key);
}

int wire_sign(const struct wire_key *key, const struct wire_frame parts[4],
              char out[WIRE_SIG_HEX + 1])
{
    unsigned char mac[32];
    EVP_MAC_CTX *ctx;
    size_t maclen = 0;
    int rc = -EIO;

    ctx = EVP_MAC_CTX_dup(key->ctx);
    if (ctx == NULL)
        return -EIO;
    for (int i = 0; i < 4; i++) {
        if (EVP_MAC_update(ctx, parts[i].data, parts[i].len) != 1)
            goto out;
    }
    if (EVP_MAC_final(ctx, mac, &maclen, sizeof(mac)) != 1 || maclen != sizeof(mac))
        goto out;
    hex_encode(mac, sizeof(mac), out);
    rc = 0;
out:
    EVP_MAC_CTX_free(ctx);
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
