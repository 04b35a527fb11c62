/* Tenants at run time: quotas, request-rate buckets, session and execution counts. */
#include "tenant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/text.h"

struct tenants {
    struct auth_quota defaults;
    const struct auth *auth;
    struct tenant *head;
};

struct tenants *tenants_new(const struct auth_quota *defaults)
{
    struct tenants *t = calloc(1, sizeof(*t));

    if (t != NULL)
        t->defaults = *defaults;
    return t;
}

void tenants_free(struct tenants *t)
{
    struct tenant *x, *next;

    if (t == NULL)
        return;
    for (x = t->head; x != NULL; x = next) {
        next = x->next;
        free(x);
    }
    free(t);
}

static void effective_quota(const struct tenants *t, struct tenant *x)
{
    struct auth_quota over;

    x->quota = t->defaults;
    if (!auth_quota_of(t->auth, x->name, &over))
        return;
    if (over.sessions >= 0)
        x->quota.sessions = over.sessions;
    if (over.executions >= 0)
        x->quota.executions = over.executions;
    if (over.rate > 0)
        x->quota.rate = over.rate;
    if (over.burst > 0)
        x->quota.burst = over.burst;
    if (over.max_memory > 0)
        x->quota.max_memory = over.max_memory;
    if (over.max_cpus > 0)
        x->quota.max_cpus = over.max_cpus;
    if (over.max_pids > 0)
        x->quota.max_pids = over.max_pids;
    if (over.max_tmpfs > 0)
        x->quota.max_tmpfs = over.max_tmpfs;
    if (x->tokens > x->quota.burst)
        x->tokens = x->quota.burst;
}

struct tenant *tenants_get(struct tenants *t, const char *name)
{
    struct tenant *x;

    for (x = t->head; x != NULL; x = x->next) {
        if (strcmp(x->name, name) == 0)
            return x;
    }
    x = calloc(1, sizeof(*x));
    if (x == NULL)
        return NULL;
    snprintf(x->name, sizeof(x->name), "%s", name);
    effective_quota(t, x);
    x->tokens = x->quota.burst;
    x->refilled_us = now_us();
    x->next = t->head;
    t->head = x;
    return x;
}

void tenants_apply(struct tenants *t, const struct auth *a)
{
    t->auth = a;
    for (struct tenant *x = t->head; x != NULL; x = x->next)
        effective_quota(t, x);
}

bool tenant_take_token(struct tenant *t, double *retry_after)
{
    uint64_t now = now_us();
    double elapsed = (double)(now - t->refilled_us) / 1e6;

    t->tokens += elapsed * t->quota.rate;
    if (t->tokens > t->quota.burst)
        t->tokens = t->quota.burst;
    t->refilled_us = now;
    if (t->tokens >= 1.0) {
        t->tokens -= 1.0;
        return true;
    }
    *retry_after = (1.0 - t->tokens) / t->quota.rate;
    return false;
}
