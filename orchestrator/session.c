/* Sessions: the registry of live kernels, each in its own hardened container, their lifecycle
 * (create, handshake, restart, remove) and the queue that runs one execution at a time per
 * session, in arrival order. Loop thread only; container work runs on the worker pool. */
#include "session-int.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "meta.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/jwrite.h"
#include "util/text.h"
#include "wire.h"

static const char *const state_names[] = {"starting", "running", "restarting", "dead",
                                          "removing"};

/* ---- jobs ---------------------------------------------------------------------------- */

static void job_finish_deferred(struct loop_defer *d)
{
    struct session_job *job = LIST_CONTAINER(d, struct session_job, finish);

    job->done(job);
}

void session_job_complete(struct session_registry *reg, struct session_job *job, int error,
                         json_object *body, const char *fmt, ...)
{
    va_list ap;

    list_remove(&job->node);
    if (job->counted != NULL) {
        job->counted->executions--;
        job->counted = NULL;
    }
    job->error = error;
    job->body = body;
    job->detail[0] = '\0';
    if (fmt != NULL) {
        va_start(ap, fmt);
        vsnprintf(job->detail, sizeof(job->detail), fmt, ap);
        va_end(ap);
    }
    list_init(&job->finish.node);
    job->finish.fn = job_finish_deferred;
    loop_defer(reg->p.loop, &job->finish);
}

static void job_prepare(struct session_registry *reg, struct session_job *job)
{
    job->reg = reg;
    job->counted = NULL;
    job->session = NULL;
    job->retry_after = 0;
    job->error = 0;
    job->body = NULL;
    job->body_text = NULL;
    job->body_text_len = 0;
    job->detail[0] = '\0';
    list_init(&job->node);
    list_init(&job->finish.node);
}

void session_job_cleanup(struct session_job *job)
{
    buf_cleanup(&job->file.out);
    json_object_put(job->body);
    job->body = NULL;
    free(job->body_text);
    job->body_text = NULL;
    free(job->exec.code);
    job->exec.code = NULL;
    json_object_put(job->exec.replacement_codes);
    job->exec.replacement_codes = NULL;
}

static void fail_list(struct session_registry *reg, struct list_node *list, int error,
                      const char *detail)
{
    while (!list_empty(list)) {
        struct session_job *job = LIST_CONTAINER(list_first(list), struct session_job, node);

        session_job_complete(reg, job, error, NULL, "%s", detail);
    }
}

/* ---- kernel objects ------------------------------------------------------------------- */

/* Whether an environment variable's name says its value is a secret. */
static bool secret_name(const char *name)
{
    static const char *const words[] = {"KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD",
                                        "CREDENTIAL", "AUTH", "PRIVATE"};
    char upper[REQUEST_ENV_NAME_MAX + 1];
    size_t i;

    for (i = 0; i < REQUEST_ENV_NAME_MAX && name[i] != '\0'; i++)
        upper[i] = (char)((name[i] >= 'a' && name[i] <= 'z') ? name[i] - 32 : name[i]);
    upper[i] = '\0';
    for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
        if (strstr(upper, words[w]) != NULL)
            return true;
    }
    return false;
}

/* The session's environment as the API shows it: values of secret-looking names hidden. */
static json_object *env_json(json_object *env)
{
    json_object *out = json_object_new_object();

    if (env == NULL)
        return out;
    json_object_object_foreach(env, key, val)
    {
        json_object_object_add(out, key,
                               secret_name(key) ? json_object_new_string("<redacted>")
                                                : json_object_get(val));
    }
    return out;
}

json_object *session_json(const struct session *s)
{
    const struct config *cfg = s->reg->cfg;
    json_object *obj = json_object_new_object(), *limits = json_object_new_object();
    char when[40];
    const char *exec_state;

    json_object_object_add(obj, "kernel_id", json_object_new_string(s->kernel_id));
    json_object_object_add(obj, "name", s->name ? json_object_new_string(s->name) : NULL);
    json_object_object_add(obj, "session_name",
                           s->session_name ? json_object_new_string(s->session_name) : NULL);
    json_object_object_add(obj, "status", json_object_new_string(state_names[s->state]));
    if (s->state != ST_READY)
        exec_state = s->state == ST_DEAD || s->state == ST_REMOVING ? "dead" : "starting";
    else
        exec_state = s->exec.active ? "busy" : "idle";
    json_object_object_add(obj, "execution_state", json_object_new_string(exec_state));
    wall_iso8601(s->created_at, when);
    json_object_object_add(obj, "created_at", json_object_new_string(when));
    wall_iso8601(s->last_used_at, when);
    json_object_object_add(obj, "last_used_at", json_object_new_string(when));
    json_object_object_add(obj, "age_seconds",
                           json_object_new_double(wall_now() - s->created_at));
    json_object_object_add(obj, "attempt_count", json_object_new_int64(s->attempt_count));
    json_object_object_add(obj, "tags",
                           s->tags ? json_object_get(s->tags) : json_object_new_object());
    json_object_object_add(obj, "connection_file", NULL);
    json_object_object_add(obj, "image", json_object_new_string(cfg->image));
    json_object_object_add(obj, "runtime",
                           json_object_new_string(cfg->runtime[0] ? cfg->runtime : "default"));
    json_object_object_add(limits, "memory_bytes", json_object_new_int64(s->memory));
    json_object_object_add(limits, "cpus", json_object_new_double(s->cpus));
    json_object_object_add(limits, "pids", json_object_new_int64(s->pids));
    json_object_object_add(limits, "tmpfs_bytes", json_object_new_int64(s->tmpfs));
    json_object_object_add(obj, "env", env_json(s->env));
    json_object_object_add(obj, "startup_code",
                           s->startup_code ? json_object_new_string(s->startup_code) : NULL);
    json_object_object_add(obj, "network", json_object_new_string(s->egress ? "egress" : "none"));
    json_object_object_add(obj, "limits", limits);
    json_object_object_add(obj, "restarts", json_object_new_int64(s->restarts));
    json_object_object_add(obj, "dead_reason",
                           s->state == ST_DEAD ? json_object_new_string(s->dead_reason) : NULL);
    return obj;
}

bool session_alive(const struct session *s)
{
    return s->state == ST_READY && s->kernel != NULL && s->hb_ok;
}

json_object *session_list_json(struct session_registry *reg, const struct tenant *tenant)
{
    json_object *arr = json_object_new_array();
    struct list_node *pos, *tmp;

    LIST_FOREACH_SAFE(pos, tmp, &reg->live)
    {
        struct session *s = LIST_CONTAINER(pos, struct session, node);

        if (s->tenant == tenant)
            json_object_array_add(arr, session_json(s));
    }
    return arr;
}

/* Another tenant's sessions are invisible: they never match. */
static struct session *find(struct session_registry *reg, const struct tenant *tenant,
                            const char *ident, bool by_id)
{
    struct list_node *pos, *tmp;

    LIST_FOREACH_SAFE(pos, tmp, &reg->live)
    {
        struct session *s = LIST_CONTAINER(pos, struct session, node);

        if (s->tenant != tenant)
            continue;
        if ((by_id && strcmp(s->kernel_id, ident) == 0) ||
            (s->name && strcmp(s->name, ident) == 0) ||
            (s->session_name && strcmp(s->session_name, ident) == 0))
            return s;
    }
    return NULL;
}

struct session *session_find_any(struct session_registry *reg, const char *kernel_id)
{
    struct list_node *lists[2] = {&reg->live, &reg->pool};

    for (int i = 0; i < 2; i++) {
        struct list_node *pos, *tmp;

        LIST_FOREACH_SAFE(pos, tmp, lists[i])
        {
            struct session *s = LIST_CONTAINER(pos, struct session, node);

            if (strcmp(s->kernel_id, kernel_id) == 0)
                return s;
        }
    }
    return NULL;
}

struct session *session_find(struct session_registry *reg, const struct tenant *tenant,
                             const char *ident)
{
    return find(reg, tenant, ident, true);
}

struct session *session_find_named(struct session_registry *reg, const struct tenant *tenant,
                                   const char *name)
{
    return find(reg, tenant, name, false);
}

int session_count(const struct session_registry *reg)
{
    return reg->nlive;
}

/* ---- registry ------------------------------------------------------------------------- */

static void on_shutdown_check(struct loop_defer *d);
static void on_shutdown_deadline(struct loop_timer *t);

struct session_registry *session_registry_new(const struct session_registry_params *p)
{
    struct session_registry *reg = calloc(1, sizeof(*reg));

    if (reg == NULL)
        return NULL;
    reg->p = *p;
    reg->cfg = p->cfg;
    list_init(&reg->live);
    list_init(&reg->pool);
    list_init(&reg->dying);
    list_init(&reg->shutdown_check.node);
    reg->shutdown_check.fn = on_shutdown_check;
    loop_timer_init(&reg->shutdown_deadline, on_shutdown_deadline);
    loop_timer_init(&reg->reaper, session_on_reaper);
    reg->engine_up = true;
    pool_init(reg);
    return reg;
}

void session_registry_free(struct session_registry *reg)
{
    if (reg == NULL)
        return;
    loop_timer_stop(reg->p.loop, &reg->shutdown_deadline);
    loop_timer_stop(reg->p.loop, &reg->reaper);
    list_remove(&reg->shutdown_check.node);
    loop_timer_stop(reg->p.loop, &reg->pool_timer);
    while (!list_empty(&reg->live))
        session_destroy(LIST_CONTAINER(list_first(&reg->live), struct session, node));
    while (!list_empty(&reg->pool))
        session_destroy(LIST_CONTAINER(list_first(&reg->pool), struct session, node));
    while (!list_empty(&reg->dying))
        session_destroy(LIST_CONTAINER(list_first(&reg->dying), struct session, node));
    free(reg);
}

/* ---- lifecycle work (worker threads) -------------------------------------------------- */

static int write_connection_file(const char *dir, const char *key, char *err, size_t errlen)
{
    char path[256], text[1024];
    int n, rc;

    snprintf(path, sizeof(path), "%s/" BACKEND_CONNECTION_FILE, dir);
    n = snprintf(text, sizeof(text),
                 "{\"transport\":\"ipc\",\"ip\":\"" BACKEND_KERNEL_DIR
                 "/" KERNEL_SOCKET_PREFIX "\",\"shell_port\":%d,\"iopub_port\":%d,"
                 "\"control_port\":%d,\"stdin_port\":%d,\"hb_port\":%d,"
                 "\"signature_scheme\":\"hmac-sha256\",\"key\":\"%s\","
                 "\"kernel_name\":\"python3\"}\n",
                 KERNEL_SHELL + 1, KERNEL_IOPUB + 1, KERNEL_CONTROL + 1, KERNEL_STDIN + 1,
                 KERNEL_HB + 1, key);
    unlink(path);
    /* Readable by the kernel's group only, and gone once the kernel has read it. */
    rc = fs_write_new(path, text, (size_t)n, 0440, SESSION_KERNEL_GID);
    OPENSSL_cleanse(text, sizeof(text));
    if (rc < 0)
        snprintf(err, errlen, "cannot write the connection file in %s: %s", dir, strerror(-rc));
    return rc;
}

static void remove_sockets(const char *dir)
{
    char path[256];

    for (int c = 0; c < KERNEL_NCHANNELS; c++) {
        snprintf(path, sizeof(path), "%s/" KERNEL_SOCKET_PREFIX "-%d", dir, c + 1);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/" BACKEND_CONNECTION_FILE, dir);
    unlink(path);
}

static void lc_run(struct work *w)
{
    struct lifecycle *lc = LIST_CONTAINER(w, struct lifecycle, work);
    struct session *s = lc->s;
    struct session_registry *reg = s->reg;
    const struct config *cfg = reg->cfg;
    struct backend *b = reg->p.backend;
    char name[64];
    uint64_t t0;
    int rc = 0;

    lc->err[0] = '\0';
    lc->create_ms = 0;
    lc->start_ms = 0;
    switch (lc->op) {
    case LC_CREATE: {
        struct backend_kernel_spec spec = {
            .image = cfg->image,
            .container_name = name,
            .session_dir = s->dir,
            .session_name = s->session_name ? s->session_name : (s->name ? s->name : ""),
            .kernel_id = s->kernel_id,
            .tenant = s->tenant ? s->tenant->name : "",
            .instance = reg->p.instance,
            .user = "1000:1000",
            .seccomp_json = reg->p.seccomp_json,
            .runtime = cfg->runtime,
            .memory_bytes = s->memory,
            .cpus = s->cpus,
            .pids_limit = s->pids,
            .tmpfs_bytes = s->tmpfs,
            .env = s->env,
            .network = s->egress ? reg->p.egress_network : NULL,
        };

        snprintf(name, sizeof(name), "kernelbox-%s", s->short_id);
        rc = fs_make_dir(s->dir, 0770, SESSION_KERNEL_GID);
        if (rc < 0) {
            snprintf(lc->err, sizeof(lc->err), "cannot create %s: %s", s->dir, strerror(-rc));
            break;
        }
        remove_sockets(s->dir);
        rc = write_connection_file(s->dir, lc->key, lc->err, sizeof(lc->err));
        if (rc < 0)
            break;
        if (spec.network != NULL) {
            /* Made at start-up; made again if the engine was away then or it was removed. */
            rc = b->ops->network_ensure(b, spec.network, reg->p.instance, lc->err,
                                        sizeof(lc->err));
            if (rc < 0)
                break;
        }
        t0 = now_us();
        rc = b->ops->create(b, &spec, lc->container_id, lc->err, sizeof(lc->err));
        lc->create_ms = (long)((now_us() - t0) / 1000);
        if (rc < 0)
            break;
        lc->start_ns = (long long)(wall_now() * 1e9);
        t0 = now_us();
        rc = b->ops->start(b, lc->container_id, lc->err, sizeof(lc->err));
        lc->start_ms = (long)((now_us() - t0) / 1000);
        break;
    }
    case LC_RESTART:
        rc = b->ops->stop(b, lc->container_id, lc->err, sizeof(lc->err));
        if (rc < 0)
            break;
        chmod(s->dir, 0770);
        remove_sockets(s->dir);
        rc = write_connection_file(s->dir, lc->key, lc->err, sizeof(lc->err));
        if (rc < 0)
            break;
        lc->start_ns = (long long)(wall_now() * 1e9);
        t0 = now_us();
        rc = b->ops->start(b, lc->container_id, lc->err, sizeof(lc->err));
        lc->start_ms = (long)((now_us() - t0) / 1000);
        break;
    case LC_REMOVE:
        if (lc->container_id[0] != '\0') {
            rc = b->ops->remove(b, lc->container_id, lc->err, sizeof(lc->err));
            if (rc < 0)
                break;
        }
        rc = fs_remove_tree(s->dir);
        if (rc < 0) {
            snprintf(lc->err, sizeof(lc->err), "cannot remove %s: %s", s->dir, strerror(-rc));
            break;
        }
        rc = meta_remove(cfg->runtime_dir, s->short_id);
        if (rc < 0)
            snprintf(lc->err, sizeof(lc->err), "cannot remove the metadata of %s: %s",
                     s->short_id, strerror(-rc));
        break;
    }
    OPENSSL_cleanse(lc->key, sizeof(lc->key));
    lc->rc = rc;
}

static void lc_done(struct work *w);

static void lc_submit(struct session *s, enum lc_op op)
{
    struct lifecycle *lc = &s->lc;
    int rc;

    lc->s = s;
    lc->op = op;
    lc->rc = 0;
    lc->err[0] = '\0';
    lc->work.run = lc_run;
    lc->work.done = lc_done;
    lc->start_ns = 0;
    /* Every start has a key of its own, derived from the daemon's secret and the start
     * number, so a restarted daemon can derive it again. */
    if (op == LC_CREATE || op == LC_RESTART)
        secret_kernel_key(s->reg->p.secret, s->kernel_id, s->generation, lc->key);
    snprintf(lc->container_id, sizeof(lc->container_id), "%s", s->container_id);
    s->lc_busy = true;
    if (op != LC_REMOVE)
        s->start_begin_us = now_us();
    rc = workers_submit(s->reg->p.workers, &lc->work);
    if (rc < 0) {
        lc->rc = rc;
        snprintf(lc->err, sizeof(lc->err), "the daemon is stopping");
        s->lc_busy = false;
        lc_done(&lc->work);
    }
}

/* ---- state changes -------------------------------------------------------------------- */

static void exec_finish(struct session *s);
static void exec_attempt(struct session *s);
static void on_stray(void *owner, struct wire_msg *msg);

static void schedule_kick(struct session *s)
{
    loop_defer(s->reg->p.loop, &s->kick);
}

static void drop_kernel(struct session *s)
{
    struct loop *loop = s->reg->p.loop;

    loop_timer_stop(loop, &s->hs_timeout);
    loop_timer_stop(loop, &s->hs_resend);
    kernel_request_done(&s->hs_req);
    kernel_request_done(&s->exec.req);
    kernel_free(s->kernel);
    s->kernel = NULL;
    s->hb_ok = false;
    s->hs_phase = 0;
}

static void stop_exec_timers(struct session *s)
{
    struct loop *loop = s->reg->p.loop;

    loop_timer_stop(loop, &s->exec.deadline);
    loop_timer_stop(loop, &s->exec.grace);
    loop_timer_stop(loop, &s->exec.idle_wait);
}

/* End the running execution with status and an explanatory error. The startup code has no
 * client, so it is simply dropped. */
static void exec_abort(struct session *s, enum result_status status, const char *ename,
                       const char *evalue)
{
    struct exec *e = &s->exec;

    if (!e->active)
        return;
    if (e->fileop) {
        files_abort(s, -EIO, evalue);
        return;
    }
    stop_exec_timers(s);
    kernel_request_done(&e->req);
    if (e->job == NULL) {
        e->active = false;
        result_free(e->result);
        e->result = NULL;
        return;
    }
    result_fail(e->result, status, ename, evalue);
    exec_finish(s);
}

/* The kernel is gone: fail what it was running, remember why, restart on the next execute. */
void session_kernel_died(struct session *s, const char *reason)
{
    if (s->pooled) {
        pool_lost(s, reason);
        return;
    }
    log_warn(&(struct log_ctx){.session = s->session_name ? s->session_name : s->kernel_id},
             "kernel.died", "kernel %s died: %s", s->kernel_id, reason);
    drop_kernel(s);
    s->state = ST_DEAD;
    snprintf(s->dead_reason, sizeof(s->dead_reason), "%s", reason);
    exec_abort(s, RESULT_KERNEL_DIED, "KernelDied", reason);
    /* The next result, on a fresh kernel, is the one that reports the lost state. */
    s->restart_unreported = true;
    schedule_kick(s);
}

/* A heartbeat gone quiet is a question for the engine, which knows whether the container
 * still runs (a busy host can delay a heartbeat; it cannot fake a running container). */
struct hb_check {
    struct work work;
    struct session_registry *reg;
    char kernel_id[KERNEL_ID_LEN + 1];
    char container_id[BACKEND_ID_MAX];
    int rc;
    bool running;
    char reason[64];
    char err[BACKEND_ERR_MAX];
};

static void hb_check_run(struct work *w)
{
    struct hb_check *c = LIST_CONTAINER(w, struct hb_check, work);
    struct backend *b = c->reg->p.backend;
    json_object *info = NULL, *state = NULL, *v = NULL;

    c->rc = b->ops->inspect(b, c->container_id, &info, c->err, sizeof(c->err));
    if (c->rc < 0)
        return;
    snprintf(c->reason, sizeof(c->reason), "heartbeat lost");
    if (json_object_object_get_ex(info, "State", &state)) {
        c->running = json_object_object_get_ex(state, "Running", &v) &&
                     json_object_get_boolean(v);
        if (json_object_object_get_ex(state, "OOMKilled", &v) && json_object_get_boolean(v))
            snprintf(c->reason, sizeof(c->reason), "oom_killed");
        else if (!c->running && json_object_object_get_ex(state, "ExitCode", &v))
            snprintf(c->reason, sizeof(c->reason), "exited %d", json_object_get_int(v));
    }
    json_object_put(info);
}

static void hb_check_done(struct work *w)
{
    struct hb_check *c = LIST_CONTAINER(w, struct hb_check, work);
    struct session *s = session_find_any(c->reg, c->kernel_id);

    if (s != NULL && s->state == ST_READY && s->kernel != NULL &&
        strcmp(s->container_id, c->container_id) == 0) {
        if (c->rc == 0 && c->running) {
            log_warn(&(struct log_ctx){.session = s->session_name ? s->session_name
                                                                   : s->kernel_id},
                     "kernel.heartbeat_late",
                     "kernel %s missed heartbeats but its container runs; still waiting",
                     s->kernel_id);
            s->hb_ok = true;
            kernel_heartbeat_start(s->kernel, HEARTBEAT_INTERVAL_MS, HEARTBEAT_MISSES);
        } else {
            session_kernel_died(s, c->rc == 0 ? c->reason : "heartbeat lost");
        }
    }
    free(c);
}

static void on_hb_lost(void *owner)
{
    struct session *s = owner;
    struct hb_check *c;

    s->hb_ok = false;
    if (s->state != ST_READY)
        return;
    c = calloc(1, sizeof(*c));
    if (c == NULL || !s->reg->engine_up) {
        free(c);
        session_kernel_died(s, "heartbeat lost");
        return;
    }
    c->reg = s->reg;
    snprintf(c->kernel_id, sizeof(c->kernel_id), "%s", s->kernel_id);
    snprintf(c->container_id, sizeof(c->container_id), "%s", s->container_id);
    c->work.run = hb_check_run;
    c->work.done = hb_check_done;
    if (workers_submit(s->reg->p.workers, &c->work) < 0) {
        free(c);
        session_kernel_died(s, "heartbeat lost");
    }
}

/* Starting failed: fail everyone waiting, and take the session down or mark it dead. */
void session_start_failed(struct session *s, int error, const char *detail)
{
    struct session_registry *reg = s->reg;

    if (s->pooled) {
        pool_lost(s, detail);
        return;
    }
    log_error(&(struct log_ctx){.session = s->session_name ? s->session_name : s->kernel_id},
              "kernel.start_failed", "%s", detail);
    drop_kernel(s);
    exec_abort(s, RESULT_KERNEL_DIED, "KernelDied", detail);
    fail_list(reg, &s->waiters, error, detail);
    fail_list(reg, &s->queue, error, detail);
    if (s->state == ST_STARTING) {
        /* A session that never started is not kept: its name is free again. */
        session_begin_remove(s);
        return;
    }
    s->state = ST_DEAD;
    snprintf(s->dead_reason, sizeof(s->dead_reason), "%s", detail);
}

static void became_ready(struct session *s)
{
    struct list_node *pos, *tmp;

    s->state = ST_READY;
    s->dead_reason[0] = '\0';
    LIST_FOREACH_SAFE(pos, tmp, &s->waiters)
    {
        struct session_job *job = LIST_CONTAINER(pos, struct session_job, node);

        session_job_complete(s->reg, job, 0, session_json(s), NULL);
    }
    schedule_kick(s);
}

static int error_from_backend(int rc)
{
    if (rc == -EHOSTUNREACH || rc == -ESHUTDOWN)
        return rc;
    return -EIO;
}

static void lc_done(struct work *w)
{
    struct lifecycle *lc = LIST_CONTAINER(w, struct lifecycle, work);
    struct session *s = lc->s;
    struct session_registry *reg = s->reg;
    enum lc_op op = lc->op;

    session_shutdown_poke(reg);
    s->lc_busy = false;
    if (op == LC_CREATE && lc->container_id[0] != '\0')
        snprintf(s->container_id, sizeof(s->container_id), "%s", lc->container_id);
    if (lc->start_ns != 0)
        s->start_ns = lc->start_ns;
    s->create_ms = lc->create_ms;
    s->engine_start_ms = lc->start_ms;

    if (op == LC_REMOVE) {
        struct list_node *pos, *tmp;

        if (lc->rc < 0) {
            /* The container may still exist: keep the session, dead, so a later DELETE can
             * try again. */
            log_error(NULL, "session.remove_failed", "%s", lc->err);
            LIST_FOREACH_SAFE(pos, tmp, &s->delete_jobs)
            {
                session_job_complete(reg, LIST_CONTAINER(pos, struct session_job, node),
                             error_from_backend(lc->rc), NULL, "%s", lc->err);
            }
            if (s->batch != NULL) {
                if (s->batch->first_error == 0) {
                    s->batch->first_error = error_from_backend(lc->rc);
                    snprintf(s->batch->detail, sizeof(s->batch->detail), "%s", lc->err);
                }
            }
        } else {
            LIST_FOREACH_SAFE(pos, tmp, &s->delete_jobs)
            {
                json_object *body = json_object_new_object();

                json_object_object_add(body, "destroyed", json_object_new_boolean(1));
                session_job_complete(reg, LIST_CONTAINER(pos, struct session_job, node), 0, body, NULL);
            }
            if (s->batch != NULL)
                json_object_array_add(s->batch->ids, json_object_new_string(s->kernel_id));
        }
        if (s->batch != NULL) {
            struct delete_batch *batch = s->batch;

            s->batch = NULL;
            if (--batch->remaining == 0) {
                if (batch->first_error < 0)
                    session_job_complete(reg, batch->job, batch->first_error, NULL, "%s",
                                 batch->detail);
                else {
                    json_object *body = json_object_new_object();

                    json_object_object_add(body, "destroyed", json_object_get(batch->ids));
                    session_job_complete(reg, batch->job, 0, body, NULL);
                }
                json_object_put(batch->ids);
                free(batch);
            }
        }
        if (lc->rc < 0 && !reg->shutting_down && !s->pooled) {
            list_remove(&s->node);
            list_push_back(&reg->live, &s->node);
            reg->nlive++;
            s->tenant->sessions++;
            s->state = ST_DEAD;
            snprintf(s->dead_reason, sizeof(s->dead_reason), "removal failed: %.400s", lc->err);
            return;
        }
        if (lc->rc == 0)
            log_info(&(struct log_ctx){.session = s->session_name}, "session.removed",
                     "kernel %s removed", s->kernel_id);
        session_destroy(s);
        return;
    }

    if (s->remove_pending) {
        session_begin_remove(s);
        return;
    }
    if (op == LC_RESTART && lc->rc == -ENOENT) {
        /* The container itself is gone (removed behind our back, or lost with the engine):
         * the session lives on in a new one. */
        log_warn(&(struct log_ctx){.session = s->session_name ? s->session_name : s->kernel_id},
                 "kernel.recreate", "container of kernel %s is gone; creating a new one",
                 s->kernel_id);
        s->container_id[0] = '\0';
        s->generation++;
        session_save_meta(s);
        lc_submit(s, LC_CREATE);
        return;
    }
    if (lc->rc < 0) {
        int error = error_from_backend(lc->rc);

        session_start_failed(s, error, lc->err);
        return;
    }
    session_handshake_begin(s);
}

/* ---- handshake ---------------------------------------------------------------------------- */

static void on_handshake_msg(struct kernel_request *req, enum kernel_channel ch,
                             struct wire_msg *msg);

static void handshake_resend(struct session *s)
{
    json_object *content = json_object_new_object();

    s->hs_reply = false;
    s->hs_iopub = false;
    /* On control, so that a kernel found busy (re-adopted mid-execution) answers too. */
    kernel_send(s->kernel, KERNEL_CONTROL, "kernel_info_request", content, on_handshake_msg,
                &s->hs_req);
    json_object_put(content);
    loop_timer_start(s->reg->p.loop, &s->hs_resend, now_ms() + HANDSHAKE_RESEND_MS);
}

static void start_exec(struct session *s, struct session_job *job, const char *code);

static void handshake_complete(struct session *s)
{
    struct session_registry *reg = s->reg;
    char path[256];

    loop_timer_stop(reg->p.loop, &s->hs_timeout);
    loop_timer_stop(reg->p.loop, &s->hs_resend);
    kernel_request_done(&s->hs_req);
    /* The launcher removed the connection file on reading it; make sure, then close the
     * directory so code in the kernel cannot fill the host's runtime directory. */
    snprintf(path, sizeof(path), "%s/" BACKEND_CONNECTION_FILE, s->dir);
    unlink(path);
    chmod(s->dir, 0550);
    s->hb_ok = true;
    kernel_heartbeat_start(s->kernel, HEARTBEAT_INTERVAL_MS, HEARTBEAT_MISSES);
    if (s->adopting)
        log_info(&(struct log_ctx){.session = s->session_name ? s->session_name : s->kernel_id},
                 "kernel.ready", "kernel %s re-adopted", s->kernel_id);
    else
        log_emit(LOG_INFO,
                 &(struct log_ctx){.session = s->session_name ? s->session_name : s->kernel_id},
                 "kernel.ready", (long)((now_us() - s->start_begin_us) / 1000),
                 "kernel %s ready (engine: create %ld ms, start %ld ms)", s->kernel_id,
                 s->create_ms, s->engine_start_ms);
    if (s->adopting) {
        /* A running kernel keeps its state; its startup code ran when it started. */
        s->adopting = false;
        s->hs_phase = 0;
        became_ready(s);
        return;
    }
    if (reg->cfg->startup_code != NULL || s->startup_code != NULL) {
        /* Phase 2: the daemon's startup code; phase 3: the session's own. */
        s->hs_phase = reg->cfg->startup_code != NULL ? 2 : 3;
        start_exec(s, NULL, s->hs_phase == 2 ? reg->cfg->startup_code : s->startup_code);
        return;
    }
    s->hs_phase = 0;
    became_ready(s);
}

static void on_handshake_msg(struct kernel_request *req, enum kernel_channel ch,
                             struct wire_msg *msg)
{
    struct session *s = LIST_CONTAINER(req, struct session, hs_req);

    if (ch == KERNEL_CONTROL && strcmp(msg->msg_type, "kernel_info_reply") == 0)
        s->hs_reply = true;
    else if (ch == KERNEL_IOPUB && strcmp(msg->msg_type, "status") == 0)
        s->hs_iopub = true;
    if (s->hs_reply && s->hs_iopub) {
        handshake_complete(s);
        return;
    }
    /* The reply is in but iopub missed the broadcast (it was still subscribing): ask again
     * soon rather than after the full resend interval. */
    if (s->hs_reply)
        loop_timer_start(s->reg->p.loop, &s->hs_resend, now_ms() + HANDSHAKE_IOPUB_RESEND_MS);
}

static void on_hs_resend(struct loop_timer *t)
{
    struct session *s = LIST_CONTAINER(t, struct session, hs_resend);

    if (s->kernel != NULL && s->hs_phase == 1)
        handshake_resend(s);
}

static void on_hs_timeout(struct loop_timer *t)
{
    struct session *s = LIST_CONTAINER(t, struct session, hs_timeout);
    char detail[SESSION_DETAIL_MAX];

    if (s->adopting) {
        /* A kernel that does not answer with the key it should hold cannot be trusted with
         * its state: replace it, and say so in the next result. */
        log_warn(&(struct log_ctx){.session = s->session_name ? s->session_name : s->kernel_id},
                 "kernel.adopt_failed", "kernel %s did not answer; restarting it",
                 s->kernel_id);
        session_restart_kernel(s);
        return;
    }
    snprintf(detail, sizeof(detail), "the kernel did not answer within %.0f s of starting",
             s->reg->cfg->start_timeout);
    session_start_failed(s, -ETIMEDOUT, detail);
}

void session_handshake_begin(struct session *s)
{
    struct session_registry *reg = s->reg;
    struct kernel_events ev = {.owner = s, .hb_lost = on_hb_lost, .stray = on_stray};
    char key[SECRET_KEY_HEX + 1];
    double timeout;

    secret_kernel_key(reg->p.secret, s->kernel_id, s->generation, key);
    s->kernel = kernel_new(reg->p.loop, s->dir, key, SECRET_KEY_HEX, &ev);
    OPENSSL_cleanse(key, sizeof(key));
    if (s->kernel == NULL) {
        session_start_failed(s, -EIO, "cannot open the kernel's sockets");
        return;
    }
    s->hs_phase = 1;
    /* A kernel that was already running answers at once or not at all. */
    timeout = reg->cfg->start_timeout;
    if (s->adopting && timeout > ADOPT_TIMEOUT_S)
        timeout = ADOPT_TIMEOUT_S;
    loop_timer_start(reg->p.loop, &s->hs_timeout, now_ms() + (uint64_t)(timeout * 1000));
    handshake_resend(s);
}

/* ---- executions ------------------------------------------------------------------------ */

static void exec_send_interrupt(struct session *s)
{
    json_object *content = json_object_new_object();

    if (s->kernel != NULL)
        kernel_send(s->kernel, KERNEL_CONTROL, "interrupt_request", content, NULL, NULL);
    json_object_put(content);
}

/* One chunk of stream output into the running execution, and to its live client if any. */
static void exec_stream(struct session *s, const char *name, const char *text, size_t len)
{
    struct exec *e = &s->exec;

    if (e->job->on_output != NULL) {
        json_object *event = result_add_stream(e->result, name, text, len, true);

        if (event != NULL)
            e->job->on_output(e->job, "stream", event);
    } else {
        result_add_stream(e->result, name, text, len, false);
    }
}

/* Whether output that belongs to no request can go to the running execution now. */
static bool exec_takes_strays(const struct session *s)
{
    const struct exec *e = &s->exec;

    return e->active && e->job != NULL && !e->fileop && !e->abandoned && e->result != NULL;
}

/* Hold a chunk for the next execution, as much of it as fits (cut at a character). Chunks
 * of one stream in a row become one item of the result when they are delivered. */
static void late_keep(struct session *s, const char *name, const char *text, size_t len)
{
    char head[LATE_RECORD_HEAD];
    uint32_t n;

    if (len > LATE_OUTPUT_MAX - s->late_text) {
        s->late_cut = true;
        len = LATE_OUTPUT_MAX - s->late_text;
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80)
            len--;
    }
    if (len == 0)
        return;
    head[0] = strcmp(name, "stderr") == 0 ? 'e' : 'o';
    n = (uint32_t)len;
    memcpy(head + 1, &n, sizeof(n));
    if (buf_append(&s->late, head, sizeof(head)) < 0) {
        s->late_cut = true;
        return;
    }
    if (buf_append(&s->late, text, len) < 0) {
        s->late.len -= sizeof(head);
        s->late.data[s->late.len] = '\0';
        s->late_cut = true;
        return;
    }
    s->late_text += len;
}

/* The running execution's output begins with what was held for it. */
static void late_deliver(struct session *s)
{
    uint32_t n;

    for (size_t off = 0; off + LATE_RECORD_HEAD <= s->late.len; off += LATE_RECORD_HEAD + n) {
        memcpy(&n, s->late.data + off + 1, sizeof(n));
        exec_stream(s, s->late.data[off] == 'e' ? "stderr" : "stdout",
                    s->late.data + off + LATE_RECORD_HEAD, n);
    }
    if (s->late_cut)
        result_mark_truncated(s->exec.result);
    buf_cleanup(&s->late);
    s->late_text = 0;
    s->late_cut = false;
}

void session_stray(struct session *s, struct wire_msg *msg)
{
    const char *name = NULL;
    char *text = NULL;
    size_t len = 0;

    if (strcmp(msg->msg_type, "stream") != 0 ||
        result_stream_parts(msg, &name, &text, &len) != 0) {
        free(text);
        return;
    }
    if (exec_takes_strays(s))
        exec_stream(s, name, text, len);
    else
        late_keep(s, name, text, len);
    free(text);
}

static void on_stray(void *owner, struct wire_msg *msg)
{
    session_stray(owner, msg);
}

static void on_exec_msg(struct kernel_request *req, enum kernel_channel ch,
                        struct wire_msg *msg);

static void on_deadline(struct loop_timer *t)
{
    struct session *s = LIST_CONTAINER(t, struct session, exec.deadline);

    /* A file operation's step past its time is interrupted the same way (a file system that
     * does not answer, a helper the session's code replaced): its answer waits until the
     * kernel has stopped it, so that the next request does not queue behind it inside the
     * kernel (on_files_reply, and on_grace when the kernel ignores the interrupt). */
    s->exec.timed_out = true;
    exec_send_interrupt(s);
    loop_timer_start(s->reg->p.loop, &s->exec.grace,
                     now_ms() + (uint64_t)(s->reg->cfg->interrupt_grace * 1000));
}

static void attempt_done(struct session *s);

static void on_grace(struct loop_timer *t)
{
    struct session *s = LIST_CONTAINER(t, struct session, exec.grace);
    struct exec *e = &s->exec;
    char reason[128];

    snprintf(reason, sizeof(reason), "the kernel did not stop within %.1f s of an interrupt",
             s->reg->cfg->interrupt_grace);
    if (e->fileop) {
        log_warn(&(struct log_ctx){.session = s->session_name ? s->session_name : s->kernel_id},
                 "files.killed", "a file operation ran past its time and %s; restarting it",
                 reason);
        files_timeout(s);
        session_restart_kernel(s);
        return;
    }
    if (e->job == NULL) {
        /* The startup code hangs: the start fails. */
        stop_exec_timers(s);
        kernel_request_done(&e->req);
        result_fail(e->result, RESULT_TIMEOUT, "TimeoutError", reason);
        exec_finish(s);
        return;
    }
    /* The kernel ignored the interrupt: its state is lost either way, so replace it. */
    log_warn(&(struct log_ctx){.session = s->session_name ? s->session_name : s->kernel_id},
             "execute.killed", "%s; restarting it", reason);
    e->restarted = true;
    session_restart_kernel(s);
    attempt_done(s);
}

static void on_idle_wait(struct loop_timer *t)
{
    struct session *s = LIST_CONTAINER(t, struct session, exec.idle_wait);

    /* The reply came but "idle" never did (iopub dropped it): finish with what we have. */
    s->exec.got_idle = true;
    on_exec_msg(&s->exec.req, KERNEL_IOPUB, NULL);
}

static void exec_attempt(struct session *s)
{
    struct exec *e = &s->exec;
    struct session_registry *reg = s->reg;
    const struct config *cfg = reg->cfg;
    double timeout = e->job ? e->job->exec.timeout : cfg->start_timeout;
    bool bash = e->job ? e->job->exec.bash : false;
    bool silent = e->job == NULL;
    struct buf content;
    struct jwrite w = {&content, 0};
    int rc;

    e->awaiting_kernel = false;
    e->got_reply = false;
    e->got_idle = false;
    e->timed_out = false;
    /* The content is written straight as JSON text: no json-c objects per execute. */
    buf_init(&content, (size_t)-1 / 2);
    jw_lit(&w, "{\"code\":\"");
    if (bash)
        jw_string_chars(&w, "%%bash\n", 7);
    jw_string_chars(&w, e->code, strlen(e->code));
    jw_lit(&w, silent ? "\",\"silent\":true,\"store_history\":false"
                      : "\",\"silent\":false,\"store_history\":true");
    /* One execution at a time already; aborting "queued" requests after an error would only
     * abort the next one if it arrived within the kernel's abort window. */
    jw_lit(&w, ",\"user_expressions\":{},\"allow_stdin\":false,\"stop_on_error\":false}");
    if (w.err != 0) {
        buf_cleanup(&content);
        result_fail(e->result, RESULT_ERROR, "MemoryError", "kernelboxd is out of memory");
        exec_finish(s);
        return;
    }
    rc = kernel_send_text(s->kernel, KERNEL_SHELL, "execute_request", content.data, content.len,
                          on_exec_msg, &e->req);
    buf_cleanup(&content);
    if (rc < 0) {
        result_fail(e->result, RESULT_ERROR, "KernelUnavailable",
                    "kernelboxd could not send the code to the kernel");
        exec_finish(s);
        return;
    }
    /* Nobody follows this execution's output live: read its broadcasts with its reply. */
    if (e->job == NULL || e->job->on_output == NULL)
        kernel_iopub_defer(s->kernel, EXEC_IOPUB_DEFER_MS);
    loop_timer_start(reg->p.loop, &e->deadline, now_ms() + (uint64_t)(timeout * 1000));
}

static void start_exec(struct session *s, struct session_job *job, const char *code)
{
    struct exec *e = &s->exec;

    e->active = true;
    e->abandoned = false;
    e->job = job;
    e->code = code;
    e->attempt = 1;
    e->restarted = false;
    e->started_us = now_us();
    e->result = result_new(s->reg->cfg->output_char_limit);
    e->attempts = job && job->exec.max_attempts > 0 ? json_object_new_array() : NULL;
    if (e->result == NULL) {
        if (job != NULL)
            session_job_complete(s->reg, job, -EIO, NULL, "kernelboxd is out of memory");
        e->active = false;
        json_object_put(e->attempts);
        e->attempts = NULL;
        return;
    }
    if (job != NULL) {
        s->last_used_at = wall_now();
        if (job->exec.max_attempts > 0) {
            s->attempt_count++;
            session_save_meta(s);
        }
        if (job->on_start != NULL)
            job->on_start(job);
        late_deliver(s);
    }
    exec_attempt(s);
}

/* One attempt ended (reply and idle seen, or timed out and stopped). Retry or finish. A
 * retry on a kernel being replaced waits for it (on_kick starts it). */
static void attempt_done(struct session *s)
{
    struct exec *e = &s->exec;
    struct session_job *job = e->job;
    enum result_status st;
    json_object *repl;
    struct result *fresh;

    stop_exec_timers(s);
    kernel_request_done(&e->req);
    if (e->timed_out)
        result_fail(e->result, RESULT_TIMEOUT, "TimeoutError",
                    "the execution timed out and was interrupted");
    st = result_status(e->result);
    if (job == NULL || job->exec.max_attempts == 0 || st == RESULT_SUCCESS ||
        e->attempt >= job->exec.max_attempts) {
        exec_finish(s);
        return;
    }
    fresh = result_new(s->reg->cfg->output_char_limit);
    if (fresh == NULL) {
        exec_finish(s);
        return;
    }
    json_object_array_add(e->attempts, result_attempt_json(e->result, e->attempt, e->code));
    repl = job->exec.replacement_codes;
    if (repl != NULL && (size_t)(e->attempt - 1) < json_object_array_length(repl))
        e->code = json_object_get_string(json_object_array_get_idx(repl, (size_t)e->attempt - 1));
    e->attempt++;
    s->attempt_count++;
    session_save_meta(s);
    result_free(e->result);
    e->result = fresh;
    if (s->state == ST_READY && s->kernel != NULL)
        exec_attempt(s);
    else
        e->awaiting_kernel = true;
}

static void on_exec_msg(struct kernel_request *req, enum kernel_channel ch,
                        struct wire_msg *msg)
{
    struct session *s = LIST_CONTAINER(req, struct session, exec.req);
    struct exec *e = &s->exec;

    if (msg != NULL) {
        if (ch == KERNEL_IOPUB) {
            if (strcmp(msg->msg_type, "status") == 0) {
                char state[16];

                if (wire_msg_content_str(msg, "execution_state", state, sizeof(state)) >= 0 &&
                    strcmp(state, "idle") == 0)
                    e->got_idle = true;
            } else if (e->job != NULL && e->job->on_output != NULL && !e->abandoned) {
                json_object *event = result_add_iopub_event(e->result, msg);

                if (event != NULL)
                    e->job->on_output(e->job, msg->msg_type, event);
            } else {
                result_add_iopub(e->result, msg);
            }
        } else if (ch == KERNEL_SHELL && strcmp(msg->msg_type, "execute_reply") == 0) {
            result_add_reply(e->result, msg);
            e->got_reply = true;
        }
    }
    if (e->got_reply && e->got_idle) {
        attempt_done(s);
        return;
    }
    /* After the reply, wait for "idle" as long as output for this execution keeps coming:
     * only a quiet iopub means the broadcast was lost. */
    if (e->got_reply && (msg != NULL || !loop_timer_armed(&e->idle_wait)))
        loop_timer_start(s->reg->p.loop, &e->idle_wait, now_ms() + IDLE_AFTER_REPLY_MS);
}

/* Deliver the result (or, for the startup code, finish starting) and free the slot. */
static void exec_finish(struct session *s)
{
    struct exec *e = &s->exec;
    struct session_job *job = e->job;
    long duration = (long)((now_us() - e->started_us) / 1000);
    enum result_status st = result_status(e->result);
    int status = -1;

    stop_exec_timers(s);
    kernel_request_done(&e->req);
    e->active = false;
    e->job = NULL;
    if (job == NULL) {
        /* The startup code: a failure fails the start. */
        char detail[SESSION_DETAIL_MAX];
        json_object *body = result_to_json(e->result, NULL, -1), *err = NULL, *v = NULL;

        result_free(e->result);
        e->result = NULL;
        const char *what = s->hs_phase == 3 ? "the session's startup_code"
                                            : "KERNELBOX_STARTUP_CODE";

        if (st == RESULT_SUCCESS && s->state != ST_DEAD && s->kernel != NULL) {
            json_object_put(body);
            if (s->hs_phase == 2 && s->startup_code != NULL) {
                s->hs_phase = 3;
                start_exec(s, NULL, s->startup_code);
                return;
            }
            s->hs_phase = 0;
            became_ready(s);
            return;
        }
        snprintf(detail, sizeof(detail), "%s failed (%s)", what, result_status_name(st));
        if (body != NULL && json_object_object_get_ex(body, "error", &err) && err != NULL &&
            json_object_object_get_ex(err, "evalue", &v) && json_object_is_type(v, json_type_string)) {
            json_object *ename = NULL;

            json_object_object_get_ex(err, "ename", &ename);
            snprintf(detail, sizeof(detail), "%s failed: %s: %s", what,
                     json_object_is_type(ename, json_type_string) ? json_object_get_string(ename)
                                                                  : "Error",
                     json_object_get_string(v));
        }
        json_object_put(body);
        /* The session's own startup_code raising or running past its time is the client's
         * error (422: sending it again as it is would fail again); KERNELBOX_STARTUP_CODE
         * failing, or the kernel dying under it, is the server's (500). */
        if (s->state != ST_DEAD)
            session_start_failed(s,
                                 s->hs_phase == 3 && (st == RESULT_ERROR || st == RESULT_TIMEOUT)
                                     ? -EINVAL
                                     : -EIO,
                                 detail);
        return;
    }
    if (e->attempts != NULL) {
        json_object_array_add(e->attempts, result_attempt_json(e->result, e->attempt, e->code));
        if (st != RESULT_SUCCESS && st != RESULT_KERNEL_DIED &&
            e->attempt >= job->exec.max_attempts)
            status = RESULT_MAX_ATTEMPTS;
    }
    result_set_duration(e->result, duration);
    result_set_kernel_restarted(e->result, e->restarted || s->restart_unreported);
    s->restart_unreported = false;
    s->last_used_at = wall_now();
    if (e->abandoned) {
        /* Its client left: nobody to answer, but the tenant's execution slot frees up. */
        if (job->counted != NULL) {
            job->counted->executions--;
            job->counted = NULL;
        }
    } else if (job->on_output != NULL) {
        session_job_complete(s->reg, job, 0, result_to_json(e->result, e->attempts, status),
                             NULL);
    } else {
        /* Written straight into the answer's text: no json-c tree to build and serialise. */
        job->body_text = result_to_text(e->result, e->attempts, status, &job->body_text_len);
        session_job_complete(s->reg, job, 0, NULL, NULL);
    }
    log_emit(LOG_INFO,
             &(struct log_ctx){.request_id = job->request_id,
                               .tenant = job->tenant,
                               .session = s->session_name ? s->session_name : s->kernel_id},
             "execute.done", duration, "status %s%s",
             result_status_name(status >= 0 ? (enum result_status)status : st),
             e->abandoned ? " (its client had gone)" : "");
    result_free(e->result);
    e->result = NULL;
    json_object_put(e->attempts);
    e->attempts = NULL;
    schedule_kick(s);
    session_shutdown_poke(s->reg);
}

/* Start the next queued execution when the kernel is free, or a restart when it is dead. */
static void on_kick(struct loop_defer *d)
{
    struct session *s = LIST_CONTAINER(d, struct session, kick);
    struct session_job *job;
    struct list_node *pos, *tmp;

    if (s->lc_busy || s->state == ST_REMOVING)
        return;
    if (s->exec.active) {
        if (s->exec.awaiting_kernel && s->state == ST_READY)
            exec_attempt(s);
        else if (s->exec.awaiting_kernel && s->state == ST_DEAD)
            session_restart_kernel(s);
        return;
    }
    if (s->state == ST_DEAD && !list_empty(&s->queue)) {
        session_restart_kernel(s);
        return;
    }
    if (s->state != ST_READY || list_empty(&s->queue))
        return;
    job = NULL;
    LIST_FOREACH_SAFE(pos, tmp, &s->queue)
    {
        struct session_job *next = LIST_CONTAINER(pos, struct session_job, node);

        /* A job whose client left while it waited is not run for nobody; its owner takes
         * it out of the queue with session_job_abandon(). */
        if (next->client_gone == NULL || !next->client_gone(next)) {
            job = next;
            break;
        }
    }
    if (job == NULL)
        return;
    list_remove(&job->node);
    if (job->file.op != SESSION_FILE_NONE)
        files_start(s, job);
    else
        start_exec(s, job, job->exec.code);
}

void session_exec_done(struct session *s)
{
    schedule_kick(s);
    session_shutdown_poke(s->reg);
}

/* Replace the kernel in the same container: stop it, new key, start, handshake. */
void session_restart_kernel(struct session *s)
{
    log_info(&(struct log_ctx){.session = s->session_name ? s->session_name : s->kernel_id},
             "kernel.restart", "restarting kernel %s", s->kernel_id);
    drop_kernel(s);
    s->state = ST_RESTARTING;
    s->restarts++;
    s->restart_unreported = true;
    s->adopting = false;
    /* The next start gets the next key; recorded first, so that a daemon restarted in the
     * middle derives the key this start will use. */
    s->generation++;
    session_save_meta(s);
    lc_submit(s, LC_RESTART);
}

/* ---- creation and removal ------------------------------------------------------------ */

static void on_kick_init(struct session *s)
{
    list_init(&s->kick.node);
    s->kick.fn = on_kick;
}

struct session *session_alloc(struct session_registry *reg, struct tenant *tenant,
                              const char *kernel_id, const char *short_id, const char *name,
                              const char *session_name, json_object *tags)
{
    bool pooled = tenant == NULL;
    struct session *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->reg = reg;
    list_init(&s->node);
    list_init(&s->queue);
    list_init(&s->waiters);
    list_init(&s->delete_jobs);
    list_init(&s->hs_req.node);
    list_init(&s->exec.req.node);
    buf_init(&s->late, LATE_OUTPUT_MAX * (LATE_RECORD_HEAD + 1));
    on_kick_init(s);
    loop_timer_init(&s->hs_timeout, on_hs_timeout);
    loop_timer_init(&s->hs_resend, on_hs_resend);
    loop_timer_init(&s->exec.deadline, on_deadline);
    loop_timer_init(&s->exec.grace, on_grace);
    loop_timer_init(&s->exec.idle_wait, on_idle_wait);
    if (kernel_id != NULL)
        snprintf(s->kernel_id, sizeof(s->kernel_id), "%s", kernel_id);
    else if (random_hex(s->kernel_id, KERNEL_ID_LEN) < 0)
        goto error;
    if (short_id != NULL)
        snprintf(s->short_id, sizeof(s->short_id), "%s", short_id);
    else if (random_hex(s->short_id, SHORT_ID_LEN) < 0)
        goto error;
    if (name != NULL && (s->name = strdup(name)) == NULL)
        goto error;
    if (session_name != NULL && (s->session_name = strdup(session_name)) == NULL)
        goto error;
    s->tags = tags ? json_object_get(tags) : json_object_new_object();
    snprintf(s->dir, sizeof(s->dir), "%s/%s", reg->cfg->runtime_dir, s->short_id);
    s->created_at = wall_now();
    s->last_used_at = s->created_at;
    s->generation = 1;
    s->state = ST_STARTING;
    s->pooled = pooled;
    s->memory = reg->cfg->memory_limit;
    s->cpus = reg->cfg->cpus;
    s->pids = reg->cfg->pids_limit;
    s->tmpfs = reg->cfg->tmpfs_size;
    s->tenant = tenant;
    if (pooled) {
        list_push_back(&reg->pool, &s->node);
        reg->npool++;
    } else {
        list_push_back(&reg->live, &s->node);
        reg->nlive++;
        tenant->sessions++;
    }
    return s;

error:
    free(s->name);
    free(s->session_name);
    free(s);
    return NULL;
}

void session_start_new(struct session *s)
{
    session_save_meta(s);
    lc_submit(s, LC_CREATE);
}

/* Whether the daemon's default limits fit within the tenant's maxima. */
static bool defaults_fit(const struct session_registry *reg, const struct tenant *tenant)
{
    const struct config *cfg = reg->cfg;

    return cfg->memory_limit <= tenant->quota.max_memory && cfg->cpus <= tenant->quota.max_cpus &&
           cfg->pids_limit <= tenant->quota.max_pids && cfg->tmpfs_size <= tenant->quota.max_tmpfs;
}

/* A new session: a warm kernel from the pool when one is ready, else a new container. */
static struct session *session_new(struct session_registry *reg, struct tenant *tenant,
                                   const char *name, const char *session_name, json_object *tags,
                                   const struct request_settings *settings)
{
    /* A warm kernel was made with the defaults: it can only stand in for a default session of
     * a tenant allowed the defaults. */
    struct session *s = session_default_settings(settings) && defaults_fit(reg, tenant)
                            ? pool_take(reg, tenant, name, session_name, tags)
                            : NULL;

    if (s != NULL)
        return s;
    s = session_alloc(reg, tenant, NULL, NULL, name, session_name, tags);
    if (s == NULL)
        return NULL;
    /* A tenant with lower maxima than the daemon's defaults gets its maxima by default. */
    if (s->memory > tenant->quota.max_memory)
        s->memory = tenant->quota.max_memory;
    if (s->cpus > tenant->quota.max_cpus)
        s->cpus = tenant->quota.max_cpus;
    if (s->pids > tenant->quota.max_pids)
        s->pids = tenant->quota.max_pids;
    if (s->tmpfs > tenant->quota.max_tmpfs)
        s->tmpfs = tenant->quota.max_tmpfs;
    if (session_apply_settings(s, settings) < 0) {
        session_destroy(s);
        return NULL;
    }
    log_info(&(struct log_ctx){.session = session_name ? session_name : s->kernel_id},
             "session.create", "creating kernel %s", s->kernel_id);
    session_start_new(s);
    return s;
}

void session_save_meta(struct session *s)
{
    struct meta m;
    int rc;

    memset(&m, 0, sizeof(m));
    memcpy(m.kernel_id, s->kernel_id, sizeof(m.kernel_id));
    memcpy(m.short_id, s->short_id, sizeof(m.short_id));
    snprintf(m.name, sizeof(m.name), "%s", s->name ? s->name : "");
    snprintf(m.session_name, sizeof(m.session_name), "%s", s->session_name ? s->session_name : "");
    m.tags = s->tags;
    m.created_at = s->created_at;
    m.attempt_count = s->attempt_count;
    m.restarts = s->restarts;
    m.generation = s->generation;
    m.pooled = s->pooled;
    snprintf(m.tenant, sizeof(m.tenant), "%s", s->tenant ? s->tenant->name : "");
    m.memory = s->memory;
    m.cpus = s->cpus;
    m.pids = s->pids;
    m.tmpfs = s->tmpfs;
    m.env = s->env;
    m.startup_code = s->startup_code;
    m.egress = s->egress;
    rc = meta_write(s->reg->cfg->runtime_dir, &m);
    if (rc < 0)
        log_error(&(struct log_ctx){.session = s->session_name}, "session.meta",
                  "cannot record kernel %s for re-adoption: %s", s->kernel_id, strerror(-rc));
}

/* Take s off the live list or the pool, keeping the counts right. */
static void unlink_session(struct session *s)
{
    if (s->state != ST_REMOVING) {
        if (s->pooled) {
            s->reg->npool--;
        } else {
            s->reg->nlive--;
            s->tenant->sessions--;
        }
    }
    list_remove(&s->node);
}

int session_apply_settings(struct session *s, const struct request_settings *st)
{
    if (st == NULL)
        return 0;
    if (st->memory > 0)
        s->memory = st->memory;
    if (st->cpus > 0)
        s->cpus = st->cpus;
    if (st->pids > 0)
        s->pids = st->pids;
    if (st->tmpfs > 0)
        s->tmpfs = st->tmpfs;
    s->egress = st->egress;
    json_object_put(s->env);
    s->env = st->env ? json_object_get(st->env) : NULL;
    free(s->startup_code);
    s->startup_code = NULL;
    if (st->startup_code != NULL && (s->startup_code = strdup(st->startup_code)) == NULL)
        return -ENOMEM;
    return 0;
}

bool session_default_settings(const struct request_settings *st)
{
    return st == NULL || (st->memory == 0 && st->cpus == 0 && st->pids == 0 && st->tmpfs == 0 &&
                          st->env == NULL && st->startup_code == NULL && !st->egress);
}

void session_destroy(struct session *s)
{
    json_object_put(s->env);
    free(s->startup_code);
    drop_kernel(s);
    stop_exec_timers(s);
    list_remove(&s->kick.node);
    unlink_session(s);
    result_free(s->exec.result);
    json_object_put(s->exec.attempts);
    buf_cleanup(&s->late);
    free(s->name);
    free(s->session_name);
    json_object_put(s->tags);
    OPENSSL_cleanse(s->lc.key, sizeof(s->lc.key));
    free(s);
}

/* Take s out of the registry at once and remove its container and directory. */
void session_begin_remove(struct session *s)
{
    struct session_registry *reg = s->reg;

    if (s->state != ST_REMOVING) {
        unlink_session(s);
        list_push_back(&reg->dying, &s->node);
        s->state = ST_REMOVING;
    }
    drop_kernel(s);
    if (reg->shutting_down) {
        exec_abort(s, RESULT_KERNEL_DIED, "DaemonShutdown",
                   "kernelboxd is shutting down and removed this session");
        fail_list(reg, &s->queue, -ESHUTDOWN, "kernelboxd is shutting down");
        fail_list(reg, &s->waiters, -ESHUTDOWN, "kernelboxd is shutting down");
    } else {
        exec_abort(s, RESULT_KERNEL_DIED, "SessionDeleted",
                   "the session was deleted while this execution ran");
        fail_list(reg, &s->queue, -ECANCELED,
                  "the session was deleted while this request waited");
        fail_list(reg, &s->waiters, -ECANCELED,
                  "the session was deleted while this request waited");
    }
    if (s->lc_busy) {
        s->remove_pending = true;
        return;
    }
    s->remove_pending = false;
    lc_submit(s, LC_REMOVE);
}

/* ---- public operations --------------------------------------------------------------- */

static bool refuse_if_stopping(struct session_registry *reg, struct session_job *job)
{
    if (!reg->shutting_down)
        return false;
    session_job_complete(reg, job, -ESHUTDOWN, NULL, "kernelboxd is shutting down");
    return true;
}

/* Whether tenant may have one more session; when not, job is answered and false returned. */
static bool admit_session(struct session_registry *reg, struct tenant *tenant,
                          struct session_job *job)
{
    if (reg->nlive >= reg->cfg->max_sessions) {
        job->retry_after = 5;
        session_job_complete(reg, job, -ENOSPC, NULL,
                             "kernelboxd is at its capacity of %ld sessions "
                             "(KERNELBOX_MAX_SESSIONS)",
                             reg->cfg->max_sessions);
        return false;
    }
    if (tenant->sessions >= tenant->quota.sessions) {
        job->retry_after = 5;
        session_job_complete(reg, job, -EUSERS, NULL,
                             "quota exceeded: sessions (%ld live, the limit is %ld)",
                             tenant->sessions, tenant->quota.sessions);
        return false;
    }
    return true;
}

/* Whether the settings a session asks for stay within its tenant's maxima and what the daemon
 * allows; if not, job is answered with 422 and false returned. */
static bool admit_settings(struct session_registry *reg, const struct tenant *tenant,
                           const struct request_settings *st, struct session_job *job)
{
    const struct auth_quota *q = &tenant->quota;

    if (st == NULL)
        return true;
    if (st->memory > q->max_memory) {
        session_job_complete(reg, job, -EINVAL, NULL,
                             "limits.memory: above this tenant's maximum of %lld bytes",
                             q->max_memory);
        return false;
    }
    if (st->cpus > q->max_cpus) {
        session_job_complete(reg, job, -EINVAL, NULL,
                             "limits.cpus: above this tenant's maximum of %g", q->max_cpus);
        return false;
    }
    if (st->pids > q->max_pids) {
        session_job_complete(reg, job, -EINVAL, NULL,
                             "limits.pids: above this tenant's maximum of %ld", q->max_pids);
        return false;
    }
    if (st->tmpfs > q->max_tmpfs) {
        session_job_complete(reg, job, -EINVAL, NULL,
                             "limits.tmpfs: above this tenant's maximum of %lld bytes",
                             q->max_tmpfs);
        return false;
    }
    if (st->egress && reg->p.egress_network == NULL) {
        session_job_complete(reg, job, -EINVAL, NULL,
                             "network: egress is not allowed here (KERNELBOX_ALLOW_EGRESS)");
        return false;
    }
    return true;
}

/* Answer job with the kernel object once s is ready; a dead kernel is replaced first. */
static void wait_ready(struct session *s, struct session_job *job)
{
    if (s->state == ST_READY) {
        session_job_complete(s->reg, job, 0, session_json(s), NULL);
        return;
    }
    list_push_back(&s->waiters, &job->node);
    if (s->state == ST_DEAD && !s->lc_busy && !s->exec.active)
        session_restart_kernel(s);
}

void session_get_or_create(struct session_registry *reg, struct tenant *tenant,
                           const char *name, json_object *tags,
                           const struct request_settings *settings, struct session_job *job)
{
    struct session *s;

    job_prepare(reg, job);
    if (refuse_if_stopping(reg, job))
        return;
    s = session_find_named(reg, tenant, name);
    if (s == NULL && !admit_session(reg, tenant, job))
        return;
    /* Settings a new session could not have are refused for an existing one too, although
     * its own stay as they are. */
    if (!admit_settings(reg, tenant, settings, job))
        return;
    if (s == NULL)
        s = session_new(reg, tenant, name, name, tags, settings);
    if (s == NULL) {
        session_job_complete(reg, job, -EIO, NULL, "cannot create a session: out of memory");
        return;
    }
    wait_ready(s, job);
}

void session_create_kernel(struct session_registry *reg, struct tenant *tenant,
                           const char *name, const char *session_name, json_object *tags,
                           const struct request_settings *settings, struct session_job *job)
{
    struct session *s;

    job_prepare(reg, job);
    if (refuse_if_stopping(reg, job))
        return;
    if ((name != NULL && session_find_named(reg, tenant, name) != NULL) ||
        (session_name != NULL && session_find_named(reg, tenant, session_name) != NULL)) {
        session_job_complete(reg, job, -EEXIST, NULL, "a live kernel already uses the name '%s'",
                             name != NULL && session_find_named(reg, tenant, name) != NULL
                                 ? name
                                 : session_name);
        return;
    }
    if (!admit_session(reg, tenant, job) || !admit_settings(reg, tenant, settings, job))
        return;
    s = session_new(reg, tenant, name, session_name, tags, settings);
    if (s == NULL) {
        session_job_complete(reg, job, -EIO, NULL, "cannot create a kernel: out of memory");
        return;
    }
    wait_ready(s, job);
}

/* Whether tenant is at its limit of executions; if so job is answered with 429. */
static bool over_execution_quota(struct session_registry *reg, struct tenant *tenant,
                                 struct session_job *job)
{
    if (tenant->executions < tenant->quota.executions)
        return false;
    job->retry_after = 1;
    session_job_complete(reg, job, -EUSERS, NULL,
                         "quota exceeded: executions (%ld running or queued, the limit is %ld)",
                         tenant->executions, tenant->quota.executions);
    return true;
}

/* Queue job on s, counting it against its tenant until it is answered. */
static void enqueue(struct session_registry *reg, struct session *s, struct session_job *job)
{
    if (over_execution_quota(reg, s->tenant, job))
        return;
    s->tenant->executions++;
    job->counted = s->tenant;
    job->session = s;
    list_push_back(&s->queue, &job->node);
    schedule_kick(s);
}

void session_execute(struct session_registry *reg, struct session *s, struct session_job *job)
{
    job_prepare(reg, job);
    if (refuse_if_stopping(reg, job))
        return;
    enqueue(reg, s, job);
}

void session_execute_named(struct session_registry *reg, struct tenant *tenant,
                           const char *name, struct session_job *job)
{
    struct session *s;

    job_prepare(reg, job);
    if (refuse_if_stopping(reg, job))
        return;
    s = session_find_named(reg, tenant, name);
    if (s == NULL) {
        /* Refuse before creating a session the execution could not use. */
        if (over_execution_quota(reg, tenant, job) || !admit_session(reg, tenant, job))
            return;
        s = session_new(reg, tenant, name, name, NULL, NULL);
    }
    if (s == NULL) {
        session_job_complete(reg, job, -EIO, NULL, "cannot create a session: out of memory");
        return;
    }
    enqueue(reg, s, job);
}

void session_files(struct session_registry *reg, struct tenant *tenant, const char *name,
                   bool create, struct session_job *job)
{
    struct session *s;

    job_prepare(reg, job);
    if (refuse_if_stopping(reg, job))
        return;
    s = session_find_named(reg, tenant, name);
    if (s == NULL && !create) {
        session_job_complete(reg, job, -ENOENT, NULL, "Unknown session: %s", name);
        return;
    }
    if (s == NULL) {
        if (over_execution_quota(reg, tenant, job) || !admit_session(reg, tenant, job))
            return;
        s = session_new(reg, tenant, name, name, NULL, NULL);
    }
    if (s == NULL) {
        session_job_complete(reg, job, -EIO, NULL, "cannot create a session: out of memory");
        return;
    }
    enqueue(reg, s, job);
}

void session_restart(struct session_registry *reg, struct session *s, struct session_job *job)
{
    job_prepare(reg, job);
    if (refuse_if_stopping(reg, job))
        return;
    list_push_back(&s->waiters, &job->node);
    if (s->state == ST_STARTING || s->state == ST_RESTARTING)
        return; /* a fresh kernel is on its way already */
    s->exec.restarted = true;
    exec_abort(s, RESULT_KERNEL_DIED, "KernelRestarted",
               "the kernel was restarted by request while this execution ran");
    session_restart_kernel(s);
}

/* The stand-in of an abandoned job is answered by nobody. */
static void orphan_done(struct session_job *job)
{
    json_object_put(job->body);
    job->body = NULL;
    free(job->body_text);
    job->body_text = NULL;
}

void session_job_abandon(struct session_registry *reg, struct session_job *job)
{
    struct session *s = job->session;

    list_remove(&job->finish.node);
    if (s == NULL)
        return;
    if (s->exec.active && s->exec.job == job && s->exec.fileop) {
        /* Whatever chunk is in flight finishes in the kernel, unanswered. */
        s->exec.abandoned = true;
        files_abort(s, -ECANCELED, NULL);
        return;
    }
    if (s->exec.active && s->exec.job == job) {
        /* The kernel is interrupted; the result is dropped when the execution ends. The job's
         * memory may go away at once, so nothing of it is used after the log line. */
        s->exec.abandoned = true;
        s->exec.job = &s->exec.orphan;
        s->exec.orphan = *job;
        list_init(&s->exec.orphan.node);
        list_init(&s->exec.orphan.finish.node);
        snprintf(s->exec.orphan_request_id, sizeof(s->exec.orphan_request_id), "%s",
                 job->request_id != NULL ? job->request_id : "");
        s->exec.orphan.request_id = job->request_id != NULL ? s->exec.orphan_request_id : NULL;
        s->exec.orphan.tenant = s->tenant != NULL ? s->tenant->name : NULL;
        s->exec.orphan.on_output = NULL;
        s->exec.orphan.client_gone = NULL;
        s->exec.orphan.exec.code = NULL;
        s->exec.orphan.exec.replacement_codes = NULL;
        s->exec.orphan.exec.max_attempts = 0; /* no further attempts for nobody */
        s->exec.orphan.done = orphan_done;
        s->exec.code = "";
        exec_send_interrupt(s);
        return;
    }
    if (list_node_linked(&job->node)) {
        list_remove(&job->node);
        if (job->counted != NULL) {
            job->counted->executions--;
            job->counted = NULL;
        }
    }
    (void)reg;
}

int session_interrupt(struct session_registry *reg, struct session *s)
{
    (void)reg;
    if (s->state != ST_READY || s->kernel == NULL)
        return -EAGAIN;
    exec_send_interrupt(s);
    return 0;
}

void session_delete(struct session_registry *reg, struct session *s, struct session_job *job)
{
    job_prepare(reg, job);
    list_push_back(&s->delete_jobs, &job->node);
    session_begin_remove(s);
}

void session_delete_all(struct session_registry *reg, const struct tenant *tenant,
                        struct session_job *job)
{
    struct delete_batch *batch;
    struct list_node *pos, *tmp;

    job_prepare(reg, job);
    batch = calloc(1, sizeof(*batch));
    if (batch == NULL) {
        session_job_complete(reg, job, -EIO, NULL, "out of memory");
        return;
    }
    batch->job = job;
    batch->ids = json_object_new_array();
    LIST_FOREACH_SAFE(pos, tmp, &reg->live)
    {
        struct session *s = LIST_CONTAINER(pos, struct session, node);

        if (s->tenant != tenant)
            continue;
        s->batch = batch;
        batch->remaining++;
        session_begin_remove(s);
    }
    if (batch->remaining == 0) {
        json_object *body = json_object_new_object();

        json_object_object_add(body, "destroyed", batch->ids);
        session_job_complete(reg, job, 0, body, NULL);
        free(batch);
    }
}

/* Nothing left to wait for: no execution running or queued, no start in flight. */
static bool all_idle(struct session_registry *reg)
{
    struct list_node *pos, *tmp;

    LIST_FOREACH_SAFE(pos, tmp, &reg->live)
    {
        struct session *s = LIST_CONTAINER(pos, struct session, node);

        if (s->exec.active || !list_empty(&s->queue) || !list_empty(&s->waiters) ||
            (s->lc_busy && s->state != ST_DEAD))
            return false;
    }
    return true;
}

/* End of the drain: whatever still waits gets 503; then remove every session or leave
 * the kernels running for the next start. */
static void drain_finish(struct session_registry *reg)
{
    struct list_node *pos, *tmp;

    loop_timer_stop(reg->p.loop, &reg->shutdown_deadline);
    reg->drained = true;
    LIST_FOREACH_SAFE(pos, tmp, &reg->live)
    {
        struct session *s = LIST_CONTAINER(pos, struct session, node);

        if (s->exec.active && s->exec.fileop) {
            files_abort(s, -ESHUTDOWN, "kernelboxd is shutting down");
        } else if (s->exec.active && s->exec.job != NULL) {
            struct session_job *job = s->exec.job;

            /* The code goes on running in the kernel; only this request ends. */
            stop_exec_timers(s);
            kernel_request_done(&s->exec.req);
            s->exec.active = false;
            s->exec.job = NULL;
            result_free(s->exec.result);
            s->exec.result = NULL;
            json_object_put(s->exec.attempts);
            s->exec.attempts = NULL;
            session_job_complete(reg, job, -ESHUTDOWN, NULL,
                                 "kernelboxd is shutting down; the execution did not finish "
                                 "in time and its result is lost");
        }
        fail_list(reg, &s->queue, -ESHUTDOWN, "kernelboxd is shutting down");
        fail_list(reg, &s->waiters, -ESHUTDOWN, "kernelboxd is shutting down");
    }
    if (reg->remove_on_shutdown) {
        while (!list_empty(&reg->live))
            session_begin_remove(LIST_CONTAINER(list_first(&reg->live), struct session, node));
        while (!list_empty(&reg->pool))
            session_begin_remove(LIST_CONTAINER(list_first(&reg->pool), struct session, node));
    }
}

static void on_shutdown_check(struct loop_defer *d)
{
    struct session_registry *reg = LIST_CONTAINER(d, struct session_registry, shutdown_check);
    void (*done)(void *);

    if (reg->shutdown_done == NULL)
        return;
    if (!reg->drained) {
        if (!all_idle(reg) && loop_timer_armed(&reg->shutdown_deadline))
            return;
        drain_finish(reg);
    }
    if (!list_empty(&reg->dying) ||
        (reg->remove_on_shutdown && (!list_empty(&reg->live) || !list_empty(&reg->pool))))
        return;
    done = reg->shutdown_done;
    reg->shutdown_done = NULL;
    done(reg->shutdown_arg);
}

static void on_shutdown_deadline(struct loop_timer *t)
{
    struct session_registry *reg = LIST_CONTAINER(t, struct session_registry, shutdown_deadline);

    log_warn(NULL, "shutdown.grace_over", "executions still running; answering them with 503");
    loop_defer(reg->p.loop, &reg->shutdown_check);
}

void session_shutdown_poke(struct session_registry *reg)
{
    if (reg->shutdown_done != NULL)
        loop_defer(reg->p.loop, &reg->shutdown_check);
}

void session_shutdown(struct session_registry *reg, bool remove, double grace_s,
                      void (*done)(void *arg), void *arg)
{
    reg->shutting_down = true;
    reg->remove_on_shutdown = remove;
    reg->shutdown_done = done;
    reg->shutdown_arg = arg;
    loop_timer_start(reg->p.loop, &reg->shutdown_deadline,
                     now_ms() + (uint64_t)(grace_s * 1000));
    loop_defer(reg->p.loop, &reg->shutdown_check);
}
