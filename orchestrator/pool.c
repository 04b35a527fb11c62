/* The warm pool: kernels started ahead of demand, hardened and started exactly like a
 * session's (startup code included), handed to new sessions at once. A pooled kernel is a
 * session object that nobody owns yet; taking one rewrites its metadata, which is what a
 * restarted daemon reads, since a container's labels cannot change. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "session-int.h"
#include "util/text.h"

#define POOL_BACKOFF_MIN_MS 500
#define POOL_BACKOFF_MAX_MS 30000

struct rename_work {
    struct work work;
    struct backend *backend;
    char id[BACKEND_ID_MAX];
    char name[128];
    char err[BACKEND_ERR_MAX];
    int rc;
};

static void on_pool_timer(struct loop_timer *t)
{
    struct session_registry *reg = LIST_CONTAINER(t, struct session_registry, pool_timer);

    pool_fill(reg);
}

void pool_init(struct session_registry *reg)
{
    loop_timer_init(&reg->pool_timer, on_pool_timer);
    reg->pool_backoff_ms = 0;
}

void pool_fill(struct session_registry *reg)
{
    long want = reg->cfg->pool_size;

    /* After a failed start the pool waits for its timer; sessions do not wait for the pool. */
    if (loop_timer_armed(&reg->pool_timer) || reg->shutting_down || !reg->engine_up)
        return;
    while (reg->npool < want) {
        struct session *s;

        if (reg->nlive + reg->npool >= reg->cfg->max_sessions)
            return; /* warm kernels count against the daemon's cap */
        s = session_alloc(reg, NULL, NULL, NULL, NULL, NULL, NULL);

        if (s == NULL)
            return;
        log_debug(NULL, "pool.start", "starting warm kernel %s", s->kernel_id);
        session_start_new(s);
    }
}

void pool_lost(struct session *s, const char *why)
{
    struct session_registry *reg = s->reg;
    bool ready_before = s->state == ST_READY;

    log_warn(NULL, "pool.lost", "warm kernel %s lost: %s", s->kernel_id, why);
    session_begin_remove(s);
    if (reg->shutting_down)
        return;
    if (ready_before) {
        /* A kernel that ran and then died: replace it now. */
        reg->pool_backoff_ms = 0;
        pool_fill(reg);
        return;
    }
    /* It never came up: the image, the engine or the startup code is at fault, and trying
     * again at once would only spin. */
    reg->pool_backoff_ms = reg->pool_backoff_ms == 0 ? POOL_BACKOFF_MIN_MS
                                                     : reg->pool_backoff_ms * 2;
    if (reg->pool_backoff_ms > POOL_BACKOFF_MAX_MS)
        reg->pool_backoff_ms = POOL_BACKOFF_MAX_MS;
    loop_timer_start(reg->p.loop, &reg->pool_timer, now_ms() + reg->pool_backoff_ms);
}

struct session *pool_take(struct session_registry *reg, struct tenant *tenant,
                          const char *name, const char *session_name, json_object *tags)
{
    struct list_node *pos, *tmp;
    struct session *s = NULL;
    char *name_copy, *session_copy;

    LIST_FOREACH_SAFE(pos, tmp, &reg->pool)
    {
        struct session *c = LIST_CONTAINER(pos, struct session, node);

        if (c->state == ST_READY && !c->exec.active && !c->lc_busy) {
            s = c;
            break;
        }
    }
    if (s == NULL)
        return NULL;
    name_copy = name ? strdup(name) : NULL;
    session_copy = session_name ? strdup(session_name) : NULL;
    if ((name != NULL && name_copy == NULL) || (session_name != NULL && session_copy == NULL)) {
        free(name_copy);
        free(session_copy);
        return NULL;
    }
    s->name = name_copy;
    s->session_name = session_copy;
    json_object_put(s->tags);
    s->tags = tags ? json_object_get(tags) : json_object_new_object();
    list_remove(&s->node);
    reg->npool--;
    list_push_back(&reg->live, &s->node);
    reg->nlive++;
    s->pooled = false;
    s->tenant = tenant;
    tenant->sessions++;
    s->created_at = wall_now();
    s->last_used_at = s->created_at;
    /* From here on a restarted daemon adopts it as this session. */
    session_save_meta(s);
    reg->pool_backoff_ms = 0;
    log_info(&(struct log_ctx){.session = session_name ? session_name : s->kernel_id},
             "session.create", "kernel %s taken from the warm pool", s->kernel_id);
    pool_rename(s);
    pool_fill(reg);
    return s;
}

static void rename_run(struct work *w)
{
    struct rename_work *r = LIST_CONTAINER(w, struct rename_work, work);

    r->rc = r->backend->ops->rename(r->backend, r->id, r->name, r->err, sizeof(r->err));
}

static void rename_done(struct work *w)
{
    struct rename_work *r = LIST_CONTAINER(w, struct rename_work, work);

    if (r->rc < 0 && r->rc != -ENOENT)
        log_debug(NULL, "pool.rename", "%s", r->err);
    free(r);
}

void pool_rename(struct session *s)
{
    struct rename_work *r;
    const char *label = s->session_name ? s->session_name : s->name;

    if (label == NULL || s->container_id[0] == '\0')
        return;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return;
    r->backend = s->reg->p.backend;
    snprintf(r->id, sizeof(r->id), "%s", s->container_id);
    snprintf(r->name, sizeof(r->name), "kernelbox-%s-%s", s->short_id, label);
    r->work.run = rename_run;
    r->work.done = rename_done;
    if (workers_submit(s->reg->p.workers, &r->work) < 0)
        free(r);
}

void session_pool_start(struct session_registry *reg)
{
    pool_fill(reg);
}

void session_pool_counts(const struct session_registry *reg, int *ready, int *total)
{
    const struct list_node *pos;

    *ready = 0;
    *total = reg->npool;
    for (pos = reg->pool.next; pos != &reg->pool; pos = pos->next) {
        const struct session *s = LIST_CONTAINER(pos, struct session, node);

        if (s->state == ST_READY && !s->exec.active)
            (*ready)++;
    }
}
