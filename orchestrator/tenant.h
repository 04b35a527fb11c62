/* Tenants at run time: their quotas (defaults, overridden per tenant by the keys file), a
 * token bucket for their request rate, and counts of their live sessions and executions.
 * Loop thread only. */
#ifndef KERNELBOX_TENANT_H
#define KERNELBOX_TENANT_H

#include <stdbool.h>
#include <stdint.h>

#include "auth.h"

struct tenant {
    char name[AUTH_TENANT_MAX + 1];
    struct auth_quota quota; /* effective: overrides, else defaults */
    double tokens;
    uint64_t refilled_us;
    long sessions;   /* live sessions */
    long executions; /* executions running or queued */
    struct tenant *next;
};

struct tenants;

/* A table whose quotas start as defaults. Returns NULL on failure. */
struct tenants *tenants_new(const struct auth_quota *defaults);
void tenants_free(struct tenants *t);

/* The tenant called name, made on first use. NULL only when out of memory. */
struct tenant *tenants_get(struct tenants *t, const char *name);

/* Take the overrides of a (freshly loaded) key table; a is borrowed until the next call. */
void tenants_apply(struct tenants *t, const struct auth *a);

/* Spend one request from the tenant's bucket. Returns true when allowed; otherwise false and
 * *retry_after is the number of seconds until a request would be allowed. */
bool tenant_take_token(struct tenant *t, double *retry_after);

#endif
