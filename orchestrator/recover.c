/* Keeping sessions through faults: re-adopting the kernels an earlier daemon left running,
 * following the engine's die and oom events, reconciling after the engine comes back, and
 * reaping sessions past their idle or age limit. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "meta.h"
#include "session-int.h"
#include "util/fs.h"
#include "util/text.h"

#define ADOPTED_MAX 65536
#define REAPER_MIN_MS 250
#define REAPER_MAX_MS 10000

static const char *label_of(json_object *container, const char *key)
{
    json_object *labels = NULL, *v = NULL;

    if (!json_object_object_get_ex(container, "Labels", &labels) ||
        !json_object_object_get_ex(labels, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static const char *string_of(json_object *obj, const char *key)
{
    json_object *v = NULL;

    if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* The 12-hex-digit id in a container name "/kernelbox-<id>", or NULL. */
static const char *short_id_of(json_object *container, char out[META_SHORT_LEN + 1])
{
    json_object *names = NULL;
    const char *name;

    if (!json_object_object_get_ex(container, "Names", &names) ||
        !json_object_is_type(names, json_type_array) || json_object_array_length(names) != 1)
        return NULL;
    /* "/kernelbox-<id>", or "/kernelbox-<id>-<session>" once a pooled kernel is taken. */
    name = json_object_get_string(json_object_array_get_idx(names, 0));
    if (name == NULL || strncmp(name, "/kernelbox-", 11) != 0 ||
        strlen(name + 11) < META_SHORT_LEN ||
        (name[11 + META_SHORT_LEN] != '\0' && name[11 + META_SHORT_LEN] != '-'))
        return NULL;
    memcpy(out, name + 11, META_SHORT_LEN);
    out[META_SHORT_LEN] = '\0';
    return out;
}

/* Why a stopped container's kernel is gone, from its inspect JSON. */
static void death_reason(struct backend *b, const char *id, char *out, size_t outlen)
{
    json_object *info = NULL, *state = NULL, *v = NULL;
    char err[BACKEND_ERR_MAX];

    snprintf(out, outlen, "exited");
    if (b->ops->inspect(b, id, &info, err, sizeof(err)) < 0)
        return;
    if (json_object_object_get_ex(info, "State", &state)) {
        if (json_object_object_get_ex(state, "OOMKilled", &v) && json_object_get_boolean(v))
            snprintf(out, outlen, "oom_killed");
        else if (json_object_object_get_ex(state, "ExitCode", &v))
            snprintf(out, outlen, "exited %d", json_object_get_int(v));
    }
    json_object_put(info);
}

static bool name_taken(struct session_registry *reg, const struct tenant *tenant,
                       const struct meta *m)
{
    return (m->name[0] != '\0' && session_find_named(reg, tenant, m->name) != NULL) ||
           (m->session_name[0] != '\0' &&
            session_find_named(reg, tenant, m->session_name) != NULL);
}

/* Take over one container of this daemon that has valid metadata. */
static int adopt(struct session_registry *reg, struct tenant *tenant, const struct meta *m,
                 const char *container_id, bool running)
{
    struct backend *b = reg->p.backend;
    struct session *s;

    s = session_alloc(reg, tenant, m->kernel_id, m->short_id, m->name[0] ? m->name : NULL,
                      m->session_name[0] ? m->session_name : NULL, m->tags);
    if (s == NULL)
        return -ENOMEM;
    snprintf(s->container_id, sizeof(s->container_id), "%s", container_id);
    {
        struct request_settings st = {
            .memory = m->memory,
            .cpus = m->cpus,
            .pids = m->pids,
            .tmpfs = m->tmpfs,
            .env = m->env,
            .startup_code = m->startup_code,
            .egress = m->egress,
        };

        if (session_apply_settings(s, &st) < 0)
            return -ENOMEM;
    }
    s->created_at = m->created_at;
    s->attempt_count = m->attempt_count;
    s->restarts = m->restarts;
    s->generation = m->generation;
    if (!running) {
        char reason[64];

        death_reason(b, container_id, reason, sizeof(reason));
        s->state = ST_DEAD;
        snprintf(s->dead_reason, sizeof(s->dead_reason), "%s", reason);
        s->restart_unreported = true;
        log_info(&(struct log_ctx){.session = m->session_name}, "kernel.adopt",
                 "kernel %s found stopped (%s); it restarts on the next execute", m->kernel_id,
                 reason);
        return 0;
    }
    s->adopting = true;
    session_handshake_begin(s);
    return 0;
}

static void remove_container(struct backend *b, const char *id, const char *why)
{
    char err[BACKEND_ERR_MAX];

    log_info(NULL, "startup.orphan", "removing container %.12s: %s", id, why);
    if (b->ops->remove(b, id, err, sizeof(err)) < 0)
        log_warn(NULL, "startup.orphan", "%s", err);
}

static bool in_list(char (*ids)[META_SHORT_LEN + 1], int n, const char *id)
{
    for (int i = 0; i < n; i++) {
        if (strncmp(ids[i], id, META_SHORT_LEN) == 0)
            return true;
    }
    return false;
}

/* Remove from the runtime directory every session folder and metadata file that belongs to
 * no adopted session. The daemon's secret and foreign files are left alone. */
static void sweep_runtime_dir(struct session_registry *reg, char (*kept)[META_SHORT_LEN + 1],
                              int nkept)
{
    const char *root = reg->cfg->runtime_dir;
    struct dirent *ent;
    char path[512];
    DIR *dir;

    dir = opendir(root);
    if (dir == NULL)
        return;
    while ((ent = readdir(dir)) != NULL) {
        const char *name = ent->d_name;
        size_t len = strlen(name);
        bool session_dir = len == META_SHORT_LEN && strspn(name, "0123456789abcdef") == len;
        bool meta = meta_is_file_name(name);
        bool tmp = name[0] == '.' && len == META_SHORT_LEN + 5 &&
                   strcmp(name + META_SHORT_LEN + 1, ".tmp") == 0;

        if (!session_dir && !meta && !tmp)
            continue;
        if (!tmp && in_list(kept, nkept, name))
            continue;
        snprintf(path, sizeof(path), "%s/%s", root, name);
        if (fs_remove_tree(path) == 0)
            log_info(NULL, "startup.sweep", "removed %s, which belonged to no session", path);
    }
    closedir(dir);
}

int session_recover(struct session_registry *reg, char *err, size_t errlen)
{
    struct backend *b = reg->p.backend;
    char label[160], (*kept)[META_SHORT_LEN + 1] = NULL;
    json_object *list = NULL;
    int nkept = 0, rc;
    size_t n;

    snprintf(label, sizeof(label), "kernelbox.daemon=%s", reg->p.instance);
    rc = b->ops->list(b, label, &list, err, errlen);
    if (rc < 0)
        return rc;
    n = json_object_array_length(list);
    kept = calloc(n + 1, sizeof(*kept));
    if (kept == NULL) {
        json_object_put(list);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n && i < ADOPTED_MAX; i++) {
        json_object *c = json_object_array_get_idx(list, i);
        const char *id = string_of(c, "Id"), *state = string_of(c, "State");
        const char *kernel_id = label_of(c, "kernelbox.kernel_id");
        char short_id[META_SHORT_LEN + 1];
        struct tenant *tenant;
        struct meta m;

        if (id == NULL)
            continue;
        if (short_id_of(c, short_id) == NULL || kernel_id == NULL ||
            meta_read(reg->cfg->runtime_dir, short_id, &m) < 0) {
            remove_container(b, id, "no usable record of its session");
            continue;
        }
        tenant = m.pooled ? NULL : tenants_get(reg->p.tenants, m.tenant);
        if (strcmp(m.kernel_id, kernel_id) != 0 || m.pooled != (m.tenant[0] == '\0') ||
            (!m.pooled && (tenant == NULL || name_taken(reg, tenant, &m)))) {
            remove_container(b, id, "its record does not match");
            meta_cleanup(&m);
            continue;
        }
        if (adopt(reg, tenant, &m, id, state != NULL && strcmp(state, "running") == 0) == 0)
            memcpy(kept[nkept++], short_id, sizeof(kept[0]));
        meta_cleanup(&m);
    }
    json_object_put(list);
    sweep_runtime_dir(reg, kept, nkept);
    free(kept);
    return nkept;
}

/* ---- engine events --------------------------------------------------------------------- */

static struct session *in_list_by_container(struct list_node *list, const char *id)
{
    struct list_node *pos, *tmp;

    LIST_FOREACH_SAFE(pos, tmp, list)
    {
        struct session *s = LIST_CONTAINER(pos, struct session, node);

        if (s->container_id[0] != '\0' && strcmp(s->container_id, id) == 0)
            return s;
    }
    return NULL;
}

static struct session *by_container(struct session_registry *reg, const char *id)
{
    struct session *s = in_list_by_container(&reg->live, id);

    return s != NULL ? s : in_list_by_container(&reg->pool, id);
}

void session_engine_event(struct session_registry *reg, const struct backend_event *ev)
{
    struct session *s = by_container(reg, ev->id);
    char reason[64];

    if (s == NULL)
        return;
    if (strcmp(ev->action, "oom") == 0) {
        s->oom_ns = ev->time_ns;
        return;
    }
    if (strcmp(ev->action, "die") != 0)
        return;
    /* Our own stop before a restart, or news older than the running container. */
    if (s->lc_busy || ev->time_ns < s->start_ns)
        return;
    if (s->oom_ns != 0 && s->oom_ns >= s->start_ns)
        snprintf(reason, sizeof(reason), "oom_killed");
    else
        snprintf(reason, sizeof(reason), "exited %d", ev->exit_code);
    switch (s->state) {
    case ST_READY:
        session_kernel_died(s, reason);
        break;
    case ST_STARTING:
    case ST_RESTARTING: {
        char detail[SESSION_DETAIL_MAX];

        snprintf(detail, sizeof(detail), "the kernel stopped while starting (%s)", reason);
        session_start_failed(s, -EIO, detail);
        break;
    }
    case ST_DEAD:
    case ST_REMOVING:
        break;
    }
}

/* After the engine was away: a session whose container is gone or stopped is dead. */
struct reconcile {
    struct work work;
    struct session_registry *reg;
    json_object *list;
    int rc;
    char err[BACKEND_ERR_MAX];
};

static void reconcile_run(struct work *w)
{
    struct reconcile *r = LIST_CONTAINER(w, struct reconcile, work);
    char label[160];

    snprintf(label, sizeof(label), "kernelbox.daemon=%s", r->reg->p.instance);
    r->rc = r->reg->p.backend->ops->list(r->reg->p.backend, label, &r->list, r->err,
                                         sizeof(r->err));
}

/* Sessions of list whose container is missing from the engine's list, or stopped, died. */
static void check_against(struct list_node *list, json_object *containers)
{
    struct list_node *pos, *tmp;

    LIST_FOREACH_SAFE(pos, tmp, list)
    {
        struct session *s = LIST_CONTAINER(pos, struct session, node);
        const char *state = NULL;

        if (s->state != ST_READY || s->lc_busy)
            continue;
        for (size_t i = 0; i < json_object_array_length(containers); i++) {
            json_object *c = json_object_array_get_idx(containers, i);
            const char *id = string_of(c, "Id");

            if (id != NULL && strcmp(id, s->container_id) == 0) {
                state = string_of(c, "State");
                if (state == NULL)
                    state = "unknown";
                break;
            }
        }
        if (state == NULL)
            session_kernel_died(s, "container gone while the engine was away");
        else if (strcmp(state, "running") != 0)
            session_kernel_died(s, "container stopped while the engine was away");
    }
}

static void reconcile_done(struct work *w)
{
    struct reconcile *r = LIST_CONTAINER(w, struct reconcile, work);

    if (r->rc < 0) {
        log_warn(NULL, "engine.reconcile", "%s", r->err);
        free(r);
        return;
    }
    check_against(&r->reg->live, r->list);
    check_against(&r->reg->pool, r->list);
    json_object_put(r->list);
    free(r);
}

void session_engine_state(struct session_registry *reg, bool up, const char *detail)
{
    struct reconcile *r;

    if (!up) {
        if (reg->engine_up)
            log_warn(NULL, "engine.down", "%s", detail);
        reg->engine_up = false;
        reg->engine_was_down = true;
        snprintf(reg->engine_detail, sizeof(reg->engine_detail), "%s", detail);
        return;
    }
    reg->engine_up = true;
    reg->engine_detail[0] = '\0';
    pool_fill(reg);
    if (!reg->engine_was_down)
        return;
    reg->engine_was_down = false;
    log_info(NULL, "engine.up", "the Docker Engine answers again; checking every session");
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return;
    r->reg = reg;
    r->work.run = reconcile_run;
    r->work.done = reconcile_done;
    if (workers_submit(reg->p.workers, &r->work) < 0)
        free(r);
}

bool session_engine_ready(const struct session_registry *reg, char *detail, size_t detail_len)
{
    if (!reg->engine_up)
        snprintf(detail, detail_len, "%s", reg->engine_detail);
    return reg->engine_up;
}

/* ---- reaping ------------------------------------------------------------------------- */

static uint64_t reaper_interval_ms(const struct config *cfg)
{
    double limit = cfg->kernel_idle_timeout;

    if (cfg->max_session_age > 0 && (limit <= 0 || cfg->max_session_age < limit))
        limit = cfg->max_session_age;
    if (limit * 1000 / 4 < REAPER_MIN_MS)
        return REAPER_MIN_MS;
    if (limit * 1000 / 4 > REAPER_MAX_MS)
        return REAPER_MAX_MS;
    return (uint64_t)(limit * 1000 / 4);
}

void session_on_reaper(struct loop_timer *t)
{
    struct session_registry *reg = LIST_CONTAINER(t, struct session_registry, reaper);
    const struct config *cfg = reg->cfg;
    struct list_node *pos, *tmp;
    double now = wall_now();

    LIST_FOREACH_SAFE(pos, tmp, &reg->live)
    {
        struct session *s = LIST_CONTAINER(pos, struct session, node);
        const char *why = NULL;

        if (s->exec.active || !list_empty(&s->queue) || !list_empty(&s->waiters) ||
            s->lc_busy || s->state == ST_STARTING || s->state == ST_RESTARTING)
            continue;
        if (cfg->kernel_idle_timeout > 0 && now - s->last_used_at >= cfg->kernel_idle_timeout)
            why = "idle";
        else if (cfg->max_session_age > 0 && now - s->created_at >= cfg->max_session_age)
            why = "too old";
        if (why == NULL)
            continue;
        log_info(&(struct log_ctx){.session = s->session_name ? s->session_name : s->kernel_id},
                 "session.reaped", "removing kernel %s: %s", s->kernel_id, why);
        session_begin_remove(s);
    }
    if (!reg->shutting_down)
        loop_timer_start(reg->p.loop, &reg->reaper, now_ms() + reaper_interval_ms(cfg));
}

void session_reaper_start(struct session_registry *reg)
{
    const struct config *cfg = reg->cfg;

    if (cfg->kernel_idle_timeout <= 0 && cfg->max_session_age <= 0)
        return;
    loop_timer_start(reg->p.loop, &reg->reaper, now_ms() + reaper_interval_ms(cfg));
}
