/* API keys, kept as SHA-256 hashes and compared in constant time. */
#include "auth.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/text.h"

struct auth {
    unsigned char hash[SHA256_DIGEST_LENGTH];
};

struct auth *auth_new(const char *key)
{
    struct auth *a;

    if (key == NULL || key[0] == '\0')
        return NULL;
    a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    SHA256((const unsigned char *)key, strlen(key), a->hash);
    return a;
}

void auth_free(struct auth *a)
{
    if (a == NULL)
        return;
    OPENSSL_cleanse(a, sizeof(*a));
    free(a);
}

const char *auth_check(const struct auth *a, const char *authorization)
{
    unsigned char hash[SHA256_DIGEST_LENGTH];
    const char *key;
    size_t len;
    int same;

    if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
        return NULL;
    key = authorization + 7;
    while (*key == ' ')
        key++;
    len = strlen(key);
    while (len > 0 && key[len - 1] == ' ')
        len--;
    if (len == 0 || len > 1024)
        return NULL;
    /* Hashing first makes the comparison independent of the key's length. */
    SHA256((const unsigned char *)key, len, hash);
    same = CRYPTO_memcmp(hash, a->hash, sizeof(hash)) == 0;
    OPENSSL_cleanse(hash, sizeof(hash));
    return same ? AUTH_DEFAULT_TENANT : NULL;
}

int auth_generate_key(char *out, size_t outlen)
{
    if (outlen < AUTH_GENERATED_KEY_LEN + 1)
        return -ENOSPC;
    return random_hex(out, AUTH_GENERATED_KEY_LEN);
}
