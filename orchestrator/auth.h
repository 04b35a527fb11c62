/* API keys: a presented bearer key maps to a tenant, compared in constant time. Keys are kept
 * only as SHA-256 hashes. */
#ifndef KERNELBOX_AUTH_H
#define KERNELBOX_AUTH_H

#include <stddef.h>

#define AUTH_GENERATED_KEY_LEN 48 /* hex digits of a generated key */
#define AUTH_DEFAULT_TENANT "default"

struct auth;

/* Accept the single key for tenant "default". The key is hashed at once; the caller keeps
 * ownership of its copy. Returns NULL on failure. */
struct auth *auth_new(const char *key);

/* NULL is a no-op. */
void auth_free(struct auth *a);

/* Check an Authorization header value ("Bearer <key>"). Returns the tenant name, or NULL
 * when the header is missing, malformed or holds an unknown key. */
const char *auth_check(const struct auth *a, const char *authorization);

/* Write a fresh random key (AUTH_GENERATED_KEY_LEN hex digits and a NUL) into out. Returns 0
 * or a negative errno. */
int auth_generate_key(char *out, size_t outlen);

#endif
