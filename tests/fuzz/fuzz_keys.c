/* libFuzzer driver for the API keys: auth_parse_keys() (the keys-file parser) over arbitrary
 * text, auth_check() over the same bytes as an Authorization header, and a round trip: a key
 * made of the input, hashed into a one-line keys file, must authenticate as its tenant.
 * (meta_read()'s parser is not reached: it reads its file itself and has no in-memory entry
 * point.) */
#include <errno.h>
#include <math.h>
#include <stdbool.h>

#include "auth.h"
#include "fuzz.h"
#include "request.h"

static bool quota_ok(const struct auth_quota *q)
{
    return (q->sessions == -1 || (q->sessions >= 0 && q->sessions <= 100000)) &&
           (q->executions == -1 || (q->executions >= 0 && q->executions <= 100000)) &&
           (q->rate == -1 || (isfinite(q->rate) && q->rate > 0 && q->rate <= 1e6)) &&
           (q->burst == -1 || (isfinite(q->burst) && q->burst >= 1 && q->burst <= 1e6)) &&
           (q->max_memory == -1 || q->max_memory >= 32LL << 20) &&
           (q->max_tmpfs == -1 || q->max_tmpfs >= 1LL << 20) &&
           (q->max_cpus == -1 ||
            (isfinite(q->max_cpus) && q->max_cpus > 0 && q->max_cpus <= 256)) &&
           (q->max_pids == -1 || (q->max_pids >= 16 && q->max_pids <= 100000)) &&
           (q->sessions >= 0 || q->executions >= 0 || q->rate > 0 || q->burst > 0 ||
            q->max_memory > 0 || q->max_tmpfs > 0 || q->max_cpus > 0 || q->max_pids > 0);
}

/* The tenant auth_check() returns is one of the table's own strings, or NULL. */
static void check_lookup(const struct auth *a, const char *header)
{
    const char *tenant = auth_check(a, header);
    bool found = tenant == NULL;

    for (size_t i = 0; i < a->nentries && !found; i++)
        found = tenant == a->entries[i].tenant;
    FUZZ_CHECK(found);
}

static void parse_table(const uint8_t *data, size_t size, const char *header)
{
    struct auth a;
    char err[256];
    int rc;

    memset(err, 'x', sizeof(err));
    rc = auth_parse_keys((const char *)data, size, &a, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
    if (rc < 0) {
        FUZZ_CHECK(a.entries == NULL && a.nentries == 0 && a.quotas == NULL && a.nquotas == 0);
        if (rc == -EINVAL)
            FUZZ_CHECK(fuzz_terminated(err, sizeof(err)) && err[0] != '\0');
        return;
    }
    for (size_t i = 0; i < a.nentries; i++) {
        FUZZ_CHECK(request_name_valid(a.entries[i].tenant, strlen(a.entries[i].tenant)));
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(memcmp(a.entries[i].hash, a.entries[j].hash, 32) != 0);
    }
    for (size_t i = 0; i < a.nquotas; i++) {
        struct auth_quota q;

        FUZZ_CHECK(request_name_valid(a.quotas[i].tenant, strlen(a.quotas[i].tenant)));
        FUZZ_CHECK(quota_ok(&a.quotas[i].quota));
        FUZZ_CHECK(auth_quota_of(&a, a.quotas[i].tenant, &q));
        FUZZ_CHECK(memcmp(&q, &a.quotas[i].quota, sizeof(q)) == 0);
    }
    check_lookup(&a, header);
    auth_cleanup(&a);
    FUZZ_CHECK(a.entries == NULL && a.nentries == 0);
}

/* When the input could be a key (what auth_check() accepts after "Bearer "), its hash in a
 * keys file must map it to the tenant, and a different key must not. */
static void round_trip(const char *key)
{
    char hex[65], text[128], header[AUTH_KEY_MAX + 16], err[256];
    size_t len = strlen(key);
    struct auth a;
    const char *tenant;
    int n;

    if (len == 0 || len > AUTH_KEY_MAX || key[0] == ' ' || key[len - 1] == ' ')
        return;
    auth_hash_hex(key, len, hex);
    n = snprintf(text, sizeof(text), "# fuzz\r\nfuzz-tenant %s  # its key\n\n", hex);
    FUZZ_CHECK(n > 0 && (size_t)n < sizeof(text));
    FUZZ_CHECK(auth_parse_keys(text, (size_t)n, &a, err, sizeof(err)) == 0);
    FUZZ_CHECK(a.nentries == 1 && a.nquotas == 0);
    snprintf(header, sizeof(header), "Bearer %s", key);
    tenant = auth_check(&a, header);
    FUZZ_CHECK(tenant != NULL && strcmp(tenant, "fuzz-tenant") == 0);
    snprintf(header, sizeof(header), "bearer   %s ", key);
    tenant = auth_check(&a, header);
    FUZZ_CHECK(tenant != NULL && strcmp(tenant, "fuzz-tenant") == 0);
    snprintf(header, sizeof(header), "Bearer %s!", key);
    FUZZ_CHECK(len == AUTH_KEY_MAX || auth_check(&a, header) == NULL);
    auth_cleanup(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);

    parse_table(data, size, s);
    round_trip(s);
    free(s);
    return 0;
}
