/* API keys: a presented bearer key maps to a tenant. Keys are kept only as SHA-256 hashes and
 * compared in constant time. The keys file also carries per-tenant quota overrides. */
#ifndef KERNELBOX_AUTH_H
#define KERNELBOX_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#define AUTH_GENERATED_KEY_LEN 48 /* hex digits of a generated key */
#define AUTH_DEFAULT_TENANT "default"
#define AUTH_TENANT_MAX 64
#define AUTH_KEY_MIN 16
#define AUTH_KEY_MAX 1024
#define AUTH_FILE_MAX (1u << 20)
#define AUTH_MAX_ENTRIES 10000

/* Limits of one tenant; a negative value means "not set here, use the default". */
struct auth_quota {
    long sessions;   /* live sessions */
    long executions; /* executions running or queued */
    double rate;     /* requests per second, sustained */
    double burst;    /* requests allowed at once */
    /* The most one session may ask for in its "limits" */
    long long max_memory;
    double max_cpus;
    long max_pids;
    long long max_tmpfs;
};

struct auth_entry {
    char tenant[AUTH_TENANT_MAX + 1];
    unsigned char hash[32];
};

struct auth_tenant_quota {
    char tenant[AUTH_TENANT_MAX + 1];
    struct auth_quota quota;
};

struct auth {
    struct auth_entry *entries;
    size_t nentries;
    struct auth_tenant_quota *quotas;
    size_t nquotas;
};

/* Parse the text of a keys file. Each line is blank, a comment (#...), a key
 *     <tenant> <sha256 of the key, 64 lowercase hex digits>
 * or a quota override
 *     <tenant> quota [sessions=N] [executions=N] [rate=R] [burst=B] [memory=SIZE] [cpus=C]
 *                    [pids=N] [tmpfs=SIZE]
 * Returns 0 and fills out (free with auth_cleanup()), or -EINVAL with "line N: why" in err. A
 * malformed line, a hash listed twice or a tenant with two quota lines is an error. */
int auth_parse_keys(const char *text, size_t len, struct auth *out, char *err, size_t errlen);

/* Build the key table: the keys file at path (may be NULL) and the single key (may be NULL)
 * for tenant "default". A keys file that group or others can read, or that is not a regular
 * file, is refused. Returns NULL with err filled on failure. */
struct auth *auth_load(const char *single_key, const char *path, char *err, size_t errlen);

/* Free a table; NULL is a no-op. */
void auth_free(struct auth *a);
void auth_cleanup(struct auth *a);

/* Check an Authorization header value ("Bearer <key>"). Returns the tenant (owned by a), or
 * NULL when the header is missing, malformed or holds an unknown key. */
const char *auth_check(const struct auth *a, const char *authorization);

/* The quota overrides of tenant, if the keys file has a line for it. */
bool auth_quota_of(const struct auth *a, const char *tenant, struct auth_quota *out);

/* SHA-256 of key as 64 lowercase hex digits and a NUL, the form the keys file holds. */
void auth_hash_hex(const char *key, size_t len, char out[65]);

/* Write a fresh random key (AUTH_GENERATED_KEY_LEN hex digits and a NUL) into out. Returns 0
 * or a negative errno. */
int auth_generate_key(char *out, size_t outlen);

#endif
