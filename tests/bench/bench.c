/* kernelbox-bench: measures kernelboxd against the floor of talking to a kernel straight over
 * ZeroMQ, on the real Docker Engine and kernel image. Prints a table, then one JSON object as
 * the last line of standard output (also written to --json). Targets are reported, never
 * enforced: the exit code is non-zero only when something could not be measured. */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "backend.h"
#include "cleanup.h"
#include "config.h"
#include "engine.h"
#include "httpc.h"
#include "kbd.h"
#include "kernel_seccomp_profile.h"
#include "rawkernel.h"
#include "report.h"
#include "stats.h"
#include "util/text.h"

#define BENCH_WARMUP 20
#define BENCH_PAR 4    /* client threads that create sessions or kernels */
#define BENCH_TP_LOW 8 /* throughput concurrencies */
#define BENCH_TP_HIGH 32
#define BENCH_MEM_SESSIONS 50       /* daemon RSS with this many live sessions ... */
#define BENCH_MEM_SESSIONS_FULL 200 /* ... and this many (skipped when quick) */
#define BENCH_POOL_SIZE 2
#define BENCH_EXEC_TIMEOUT_MS 60000
#define BENCH_START_TIMEOUT_MS 60000
#define BENCH_LARGE_TIMEOUT_S 300
#define BENCH_RSS_INTERVAL_US 2000
#define BENCH_SETTLE_US 500000 /* let freed memory and heartbeats settle before reading RSS */
#define BENCH_STATS_PAR 32     /* stats requests at once */
#define BENCH_MAX_THREADS 64
#define BENCH_CALIBRATE_LOOP 100000000 /* xorshift steps */
#define BENCH_CALIBRATE_PIPE 100000    /* write+read pairs */
#define BENCH_CALIBRATE_PINGPONG 10000 /* round trips between two threads */

#define BENCH_LARGE_CODE                                                                           \
    "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 1048575 + '\\n')"
#define BENCH_LARGE_BYTES (100LL * 1048576)

struct bench {
    bool quick;
    const char *daemon_exe;
    const char *json_path;
    const char *log_level;
    bool only_throughput; /* --only throughput */
    struct config cfg; /* the daemon's defaults: image, socket, kernel limits */
    struct backend *backend;
    void *zctx;
    char runtime_dir[64]; /* the raw kernels' directories go below it */
    char instance[32];    /* their kernelbox.daemon label */
    int n_latency;
    int n_first;
    int tp_seconds;
    uint64_t started_us;

    struct kbd main_daemon; /* pool 0: cold starts, warm executes, throughput, memory */
    struct rawkernel *raw[BENCH_TP_HIGH];
    int nraw;

    json_object *report;
    json_object *logs;
};

/* ---- small helpers ----------------------------------------------------------------------- */

static struct bench *g_bench; /* for progress(), which prints the elapsed time */

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void progress(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "[%6.1fs] ", g_bench ? (double)(now_us() - g_bench->started_us) / 1e6 : 0.0);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Give up: the atexit handler stops the daemons and removes everything. */
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;

    /* After a signal, failures are the cleanup's doing: the signal thread reports and exits. */
    if (cleanup_interrupted())
        exit(1);
    fprintf(stderr, "kbbench: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static double ms_of_us(uint64_t us)
{
    return (double)us / 1000.0;
}

/* median, p90 and p99 of s (milliseconds) into obj. */
static void add_percentiles(json_object *obj, const struct samples *s)
{
    json_object_object_add(obj, "n", json_object_new_int((int)s->n));
    json_object_object_add(obj, "median", report_num(samples_median(s), 3));
    json_object_object_add(obj, "p90", report_num(samples_percentile(s, 90), 3));
    json_object_object_add(obj, "p99", report_num(samples_percentile(s, 99), 3));
}

/* Run fn(arg, worker, i) for every i in [0, n) on nthreads threads. */
struct par {
    int n;
    atomic_int next;
    atomic_int worker_seq;
    void (*fn)(void *arg, int worker, int i);
    void *arg;
};

static void *par_main(void *p)
{
    struct par *par = p;
    int worker = atomic_fetch_add(&par->worker_seq, 1);

    for (;;) {
        int i = atomic_fetch_add(&par->next, 1);

        if (i >= par->n || cleanup_interrupted())
            break;
        par->fn(par->arg, worker, i);
    }
    return NULL;
}

static void par_for(int n, int nthreads, void (*fn)(void *arg, int worker, int i), void *arg)
{
    struct par par = {.n = n, .fn = fn, .arg = arg};
    pthread_t th[BENCH_MAX_THREADS] = {0};
    int started = 0;

    atomic_init(&par.next, 0);
    atomic_init(&par.worker_seq, 0);
    if (nthreads > n)
        nthreads = n;
    if (nthreads > BENCH_MAX_THREADS)
        nthreads = BENCH_MAX_THREADS;
    for (int t = 0; t < nthreads; t++) {
        if (pthread_create(&th[started], NULL, par_main, &par) == 0)
            started++;
    }
    if (started == 0)
        par_main(&par);
    for (int t = 0; t < started; t++)
        pthread_join(th[t], NULL);
}

/* ---- talking to the daemon ---------------------------------------------------------------- */

struct exec_result {
    int http_status;
    char status[24]; /* "success", "error", ... */
    char value[64];  /* return_value, "" when null */
    bool truncated;
    size_t output_len;
    char detail[160]; /* what went wrong, for a message */
};

static const char *str_field(json_object *obj, const char *name)
{
    json_object *v = NULL;

    if (!json_object_object_get_ex(obj, name, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* POST body to path and read a result object. Returns 0 when the daemon answered 200 with
 * status "success", -EPROTO when it answered otherwise (r says how), or the client's error. */
static int http_execute(struct httpc *c, const char *path, const char *body, int timeout_ms,
                        struct exec_result *r)
{
    struct httpc_response resp;
    json_object *obj = NULL, *v = NULL;
    const char *s;
    int rc;

    memset(r, 0, sizeof(*r));
    rc = httpc_request(c, "POST", path, body, timeout_ms, &resp);
    if (rc < 0) {
        snprintf(r->detail, sizeof(r->detail), "%s", strerror(-rc));
        return rc;
    }
    r->http_status = resp.status;
    obj = json_tokener_parse(resp.body);
    if (resp.status != 200 || obj == NULL) {
        snprintf(r->detail, sizeof(r->detail), "HTTP %d: %.120s", resp.status, resp.body);
        rc = -EPROTO;
        goto out;
    }
    s = str_field(obj, "status");
    snprintf(r->status, sizeof(r->status), "%s", s ? s : "");
    s = str_field(obj, "return_value");
    snprintf(r->value, sizeof(r->value), "%s", s ? s : "");
    if (json_object_object_get_ex(obj, "truncated", &v))
        r->truncated = json_object_get_boolean(v);
    s = str_field(obj, "output");
    r->output_len = s ? strlen(s) : 0;
    if (strcmp(r->status, "success") != 0) {
        snprintf(r->detail, sizeof(r->detail), "status %s: %.120s", r->status, resp.body);
        rc = -EPROTO;
    }
out:
    json_object_put(obj);
    return rc;
}

static void exec_path(char *out, size_t len, const char *session)
{
    snprintf(out, len, "/sessions/%s/execute", session);
}

/* GET /ready and read its counters. Returns 0 or a negative errno. */
static int daemon_ready(const struct kbd *d, int *sessions, int *pool_ready)
{
    struct httpc c;
    struct httpc_response r;
    json_object *obj = NULL, *pool = NULL, *v = NULL;
    int rc;

    httpc_init(&c, d->port, d->key);
    rc = httpc_request(&c, "GET", "/ready", NULL, 10000, &r);
    if (rc < 0)
        goto out;
    obj = json_tokener_parse(r.body);
    if (r.status != 200 || obj == NULL) {
        rc = -EPROTO;
        goto out;
    }
    if (sessions != NULL && json_object_object_get_ex(obj, "sessions", &v))
        *sessions = json_object_get_int(v);
    if (pool_ready != NULL && json_object_object_get_ex(obj, "pool", &pool) &&
        json_object_object_get_ex(pool, "ready", &v))
        *pool_ready = json_object_get_int(v);
out:
    json_object_put(obj);
    httpc_cleanup(&c);
    return rc;
}

static void start_daemon(struct bench *b, struct kbd *d, const char *label, long pool_size)
{
    struct kbd_params p = {
        .exe = b->daemon_exe,
        .label = label,
        .image = b->cfg.image,
        .docker_socket = b->cfg.docker_socket,
        .log_level = b->log_level,
        .pool_size = pool_size,
        .memory_bytes = b->cfg.memory_limit,
        .cpus = b->cfg.cpus,
        .pids_limit = b->cfg.pids_limit,
        .tmpfs_bytes = b->cfg.tmpfs_size,
        .runtime = b->cfg.runtime,
    };
    char err[1536];

    if (kbd_start(d, &p, err, sizeof(err)) < 0)
        die("cannot start kernelboxd (%s): %s", label, err);
    json_object_object_add(b->logs, label, json_object_new_string(d->log_path));
    progress("kernelboxd '%s' (pool %ld) on 127.0.0.1:%d, runtime %s, log %s", label, pool_size,
             d->port, d->runtime_dir, d->log_path);
}

static void stop_daemon(struct kbd *d, const char *label)
{
    uint64_t t0 = now_us();
    int code = kbd_stop(d);

    if (code != 0)
        die("kernelboxd '%s' exited with %d (log: %s)", label, code, d->log_path);
    progress("kernelboxd '%s' stopped in %.1f s", label, (double)(now_us() - t0) / 1e6);
}

/* Create sessions prefix<first>.. prefix<first+n-1> through BENCH_PAR clients. */
struct create_job {
    const struct kbd *d;
    const char *prefix;
    int first;
    struct httpc clients[BENCH_PAR];
    atomic_int failed;
    char err[256];
};

static void create_one(void *arg, int worker, int i)
{
    struct create_job *job = arg;
    struct httpc_response r;
    char path[96];
    int rc;

    snprintf(path, sizeof(path), "/sessions/%s%d", job->prefix, job->first + i);
    rc = httpc_request(&job->clients[worker], "POST", path, "{}", BENCH_START_TIMEOUT_MS, &r);
    if (rc < 0 || (r.status != 200 && r.status != 201)) {
        if (atomic_fetch_add(&job->failed, 1) == 0)
            snprintf(job->err, sizeof(job->err), "POST %s: %s", path,
                     rc < 0 ? strerror(-rc) : r.body);
    }
}

static void create_sessions(struct bench *b, const char *prefix, int first, int n)
{
    struct create_job job = {.d = &b->main_daemon, .prefix = prefix, .first = first};
    uint64_t t0 = now_us();

    if (n <= 0)
        return;
    atomic_init(&job.failed, 0);
    for (int w = 0; w < BENCH_PAR; w++)
        httpc_init(&job.clients[w], b->main_daemon.port, b->main_daemon.key);
    par_for(n, BENCH_PAR, create_one, &job);
    for (int w = 0; w < BENCH_PAR; w++)
        httpc_cleanup(&job.clients[w]);
    if (cleanup_interrupted() || atomic_load(&job.failed) > 0)
        die("creating sessions %s%d..: %d failed; first: %s", prefix, first,
            atomic_load(&job.failed), job.err);
    progress("created %d sessions (%s%d..%s%d) in %.1f s", n, prefix, first, prefix, first + n - 1,
             (double)(now_us() - t0) / 1e6);
}

/* Create one session by name. */
static void create_session(struct bench *b, const char *name)
{
    struct httpc c;
    struct httpc_response r;
    char path[96];
    int rc;

    snprintf(path, sizeof(path), "/sessions/%s", name);
    httpc_init(&c, b->main_daemon.port, b->main_daemon.key);
    rc = httpc_request(&c, "POST", path, "{}", BENCH_START_TIMEOUT_MS, &r);
    if (rc < 0 || (r.status != 200 && r.status != 201))
        die("POST %s: %s", path, rc < 0 ? strerror(-rc) : r.body);
    httpc_cleanup(&c);
}

/* ---- raw kernels --------------------------------------------------------------------------- */

struct raw_job {
    struct bench *b;
    atomic_int failed;
    char err[512];
};

static void raw_start_one(void *arg, int worker, int i)
{
    struct raw_job *job = arg;
    struct bench *b = job->b;
    char name[32], err[512];
    struct rawkernel_params p = {
        .zctx = b->zctx,
        .backend = b->backend,
        .runtime_dir = b->runtime_dir,
        .instance = b->instance,
        .name = name,
        .image = b->cfg.image,
        .seccomp_json = kernel_seccomp_profile_json,
        .runtime = b->cfg.runtime,
        .memory_bytes = b->cfg.memory_limit,
        .cpus = b->cfg.cpus,
        .pids_limit = b->cfg.pids_limit,
        .tmpfs_bytes = b->cfg.tmpfs_size,
        .start_timeout_ms = BENCH_START_TIMEOUT_MS,
    };

    (void)worker;
    snprintf(name, sizeof(name), "raw-%d", i);
    b->raw[i] = rawkernel_start(&p, err, sizeof(err));
    if (b->raw[i] == NULL && atomic_fetch_add(&job->failed, 1) == 0)
        snprintf(job->err, sizeof(job->err), "%s", err);
}

static void start_raw_kernels(struct bench *b, int n)
{
    struct raw_job job = {.b = b};
    uint64_t t0 = now_us();

    atomic_init(&job.failed, 0);
    par_for(n, BENCH_PAR, raw_start_one, &job);
    b->nraw = n;
    if (cleanup_interrupted() || atomic_load(&job.failed) > 0)
        die("starting raw kernels: %d failed; first: %s", atomic_load(&job.failed), job.err);
    progress("started %d raw kernels in %.1f s", n, (double)(now_us() - t0) / 1e6);
}

static void raw_free_one(void *arg, int worker, int i)
{
    struct bench *b = arg;

    (void)worker;
    rawkernel_free(b->raw[i]);
    b->raw[i] = NULL;
}

static void *raw_free_all(void *arg)
{
    struct bench *b = arg;

    par_for(b->nraw, BENCH_PAR, raw_free_one, b);
    return NULL;
}

/* ---- 1, 2: floor and warm execute ----------------------------------------------------------- */

static void raw_exec_checked(struct rawkernel *k, const char *code, const char *want)
{
    char value[64], err[256];
    int rc =
        rawkernel_execute(k, code, BENCH_EXEC_TIMEOUT_MS, value, sizeof(value), err, sizeof(err));

    if (rc < 0)
        die("raw execute of '%s': %s", code, err);
    if (want != NULL && strcmp(value, want) != 0)
        die("raw execute of '%s' gave '%s', not '%s'", code, value, want);
}

static void http_exec_checked(struct httpc *c, const char *path, const char *body, const char *want)
{
    struct exec_result r;

    if (http_execute(c, path, body, BENCH_EXEC_TIMEOUT_MS, &r) < 0)
        die("POST %s %s: %s", path, body, r.detail);
    if (want != NULL && strcmp(r.value, want) != 0)
        die("POST %s %s gave return_value '%s', not '%s'", path, body, r.value, want);
}

/* A count (microseconds, sleeps) per execute; NaN when there were none. */
static double per_execute(long long us, long executes)
{
    return executes > 0 ? (double)us / (double)executes : NAN;
}

/* Floor and warm samples alternate, so that whatever else the machine does touches both. */
static void measure_floor_and_warm(struct bench *b)
{
    static const char body[] = "{\"code\":\"1+1\"}";
    struct samples floor_s, warm_s;
    json_object *floor_o = json_object_new_object(), *warm_o = json_object_new_object();
    struct httpc c;
    char path[96];
    double floor_med, warm_med;
    long long cpu_before, cpu_after, sleeps_before, sleeps_after;

    samples_init(&floor_s);
    samples_init(&warm_s);
    httpc_init(&c, b->main_daemon.port, b->main_daemon.key);
    exec_path(path, sizeof(path), "warm");
    for (int i = 0; i < BENCH_WARMUP; i++) {
        raw_exec_checked(b->raw[0], "1+1", "2");
        http_exec_checked(&c, path, body, "2");
    }
    /* The daemon's CPU over the samples: one client executing in a row, no other work but
     * the heartbeats of the idle sessions (a few us per execute). */
    cpu_before = proc_cpu_us(b->main_daemon.pid);
    sleeps_before = proc_voluntary_switches(b->main_daemon.pid);
    for (int i = 0; i < b->n_latency; i++) {
        uint64_t t0 = now_us(), t1, t2;

        raw_exec_checked(b->raw[0], "1+1", "2");
        t1 = now_us();
        http_exec_checked(&c, path, body, "2");
        t2 = now_us();
        samples_add(&floor_s, ms_of_us(t1 - t0));
        samples_add(&warm_s, ms_of_us(t2 - t1));
    }
    cpu_after = proc_cpu_us(b->main_daemon.pid);
    sleeps_after = proc_voluntary_switches(b->main_daemon.pid);
    if (cpu_before < 0 || cpu_after < 0 || sleeps_before < 0 || sleeps_after < 0)
        die("cannot read /proc/%d/stat or status", (int)b->main_daemon.pid);
    httpc_cleanup(&c);

    floor_med = samples_median(&floor_s);
    warm_med = samples_median(&warm_s);
    add_percentiles(floor_o, &floor_s);
    add_percentiles(warm_o, &warm_s);
    json_object_object_add(warm_o, "ratio_to_floor", report_num(warm_med / floor_med, 3));
    json_object_object_add(warm_o, "overhead_ms", report_num(warm_med - floor_med, 3));
    json_object_object_add(warm_o, "daemon_cpu_us_per_execute",
                           report_num(per_execute(cpu_after - cpu_before, b->n_latency), 1));
    json_object_object_add(
        warm_o, "daemon_loop_sleeps_per_execute",
        report_num(per_execute(sleeps_after - sleeps_before, b->n_latency), 2));
    json_object_object_add(b->report, "floor", floor_o);
    json_object_object_add(b->report, "warm_execute", warm_o);
    progress("floor median %.3f ms, warm_execute median %.3f ms (%d samples each)", floor_med,
             warm_med, b->n_latency);
    samples_cleanup(&floor_s);
    samples_cleanup(&warm_s);
}

/* ---- 3, 4: first results ------------------------------------------------------------------ */

/* Time POST /sessions/<name>/execute on a new connection, from connect to full response. */
static double first_result_ms(const struct kbd *d, const char *name)
{
    static const char body[] = "{\"code\":\"1+1\"}";
    struct exec_result r;
    struct httpc c;
    char path[96];
    uint64_t t0, t1;
    int rc;

    exec_path(path, sizeof(path), name);
    httpc_init(&c, d->port, d->key);
    t0 = now_us();
    rc = http_execute(&c, path, body, BENCH_START_TIMEOUT_MS, &r);
    t1 = now_us();
    httpc_cleanup(&c);
    if (rc < 0)
        die("first execute on %s: %s", name, r.detail);
    if (strcmp(r.value, "2") != 0)
        die("first execute on %s gave '%s', not '2'", name, r.value);
    return ms_of_us(t1 - t0);
}

static void wait_pool_ready(const struct kbd *d, int want)
{
    uint64_t deadline = now_ms() + BENCH_START_TIMEOUT_MS;
    int ready = -1;

    while (now_ms() < deadline && !cleanup_interrupted()) {
        if (daemon_ready(d, NULL, &ready) == 0 && ready >= want)
            return;
        usleep(20000);
    }
    die("the warm pool did not reach %d ready kernels within %d s (it has %d)", want,
        BENCH_START_TIMEOUT_MS / 1000, ready);
}

static json_object *first_result_json(const struct samples *s)
{
    json_object *obj = json_object_new_object(), *arr = json_object_new_array();

    add_percentiles(obj, s);
    for (size_t i = 0; i < s->n; i++)
        json_object_array_add(arr, report_num(s->v[i], 3));
    json_object_object_add(obj, "samples", arr);
    return obj;
}

static void measure_pooled_first_result(struct bench *b)
{
    struct kbd d;
    struct samples s;
    char name[32];

    samples_init(&s);
    start_daemon(b, &d, "pooled", BENCH_POOL_SIZE);
    for (int i = 0; i < b->n_first; i++) {
        wait_pool_ready(&d, BENCH_POOL_SIZE);
        snprintf(name, sizeof(name), "pooled-%d", i);
        samples_add(&s, first_result_ms(&d, name));
    }
    progress("pooled_first_result median %.1f ms (%zu samples)", samples_median(&s), s.n);
    json_object_object_add(b->report, "pooled_first_result", first_result_json(&s));
    samples_cleanup(&s);
    stop_daemon(&d, "pooled");
}

static void measure_cold_first_result(struct bench *b)
{
    struct samples s;
    char name[32];

    samples_init(&s);
    for (int i = 0; i < b->n_first; i++) {
        snprintf(name, sizeof(name), "cold-%d", i);
        samples_add(&s, first_result_ms(&b->main_daemon, name));
    }
    progress("cold_first_result median %.1f ms (%zu samples)", samples_median(&s), s.n);
    json_object_object_add(b->report, "cold_first_result", first_result_json(&s));
    samples_cleanup(&s);
}

/* ---- 5, 6: throughput and daemon CPU -------------------------------------------------------- */

struct tp_run;

struct tp_thread {
    pthread_t thread;
    struct tp_run *run;
    struct httpc http;
    char path[96];
    struct rawkernel *raw;
    long done;
    long errors;
    uint64_t end_us;
    char first_error[200];
};

struct tp_run {
    int n;
    pthread_barrier_t ready;
    pthread_barrier_t go;
    uint64_t deadline_us;
    struct tp_thread t[BENCH_TP_HIGH];
};

/* The code each client runs, and the same as an HTTP body. */
static const char *const tp_code[2] = {"n = 0", "n += 1\nn"};
static const char *const tp_body[2] = {"{\"code\":\"n = 0\"}", "{\"code\":\"n += 1\\nn\"}"};

/* One execute of tp_code[step] on the thread's session or kernel. Returns 0 with the integer
 * result in *value (LONG_MIN when there was none), or -1 with first_error filled once. */
static int tp_exec(struct tp_thread *t, int step, long *value)
{
    char text[64], err[256];
    int rc;

    *value = LONG_MIN;
    if (t->raw != NULL) {
        rc = rawkernel_execute(t->raw, tp_code[step], BENCH_EXEC_TIMEOUT_MS, text, sizeof(text),
                               err, sizeof(err));
    } else {
        struct exec_result r;

        rc = http_execute(&t->http, t->path, tp_body[step], BENCH_EXEC_TIMEOUT_MS, &r);
        snprintf(err, sizeof(err), "%s", r.detail);
        snprintf(text, sizeof(text), "%s", r.value);
    }
    if (rc < 0) {
        if (t->first_error[0] == '\0')
            snprintf(t->first_error, sizeof(t->first_error), "%.*s",
                     (int)sizeof(t->first_error) - 1, err);
        return -1;
    }
    if (text[0] != '\0')
        *value = strtol(text, NULL, 10);
    return 0;
}

static void *tp_main(void *arg)
{
    struct tp_thread *t = arg;
    struct tp_run *run = t->run;
    long expected = 1, value;

    if (tp_exec(t, 0, &value) < 0)
        t->errors++;
    pthread_barrier_wait(&run->ready);
    pthread_barrier_wait(&run->go);
    while (now_us() < run->deadline_us) {
        int rc = tp_exec(t, 1, &value);

        t->done++;
        if (rc < 0 || value != expected) {
            t->errors++;
            if (rc == 0 && t->first_error[0] == '\0')
                snprintf(t->first_error, sizeof(t->first_error),
                         "return_value %ld where %ld was due", value, expected);
        }
        expected = (rc == 0 && value != LONG_MIN) ? value + 1 : expected + 1;
    }
    t->end_us = now_us();
    return NULL;
}

struct tp_result {
    int sessions;
    long executes;
    long errors;
    double seconds;
    double per_s;
    long long client_cpu_us; /* this program's CPU time during the run */
    char first_error[200];
};

/* CPU time this process has used, in microseconds. */
static long long self_cpu_us(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
           (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
}

/* n clients at once for tp_seconds, on the daemon's sessions tp-0.. or on raw kernels. */
static struct tp_result run_throughput(struct bench *b, int n, bool raw)
{
    struct tp_run *run = calloc(1, sizeof(*run));
    struct tp_result res = {.sessions = n};
    uint64_t t0, last = 0;
    long long cpu0 = self_cpu_us();
    int started = 0;

    if (run == NULL)
        die("out of memory");
    run->n = n;
    pthread_barrier_init(&run->ready, NULL, (unsigned)n + 1);
    pthread_barrier_init(&run->go, NULL, (unsigned)n + 1);
    run->deadline_us = UINT64_MAX;
    for (int i = 0; i < n; i++) {
        struct tp_thread *t = &run->t[i];

        t->run = run;
        if (raw) {
            t->raw = b->raw[i];
        } else {
            httpc_init(&t->http, b->main_daemon.port, b->main_daemon.key);
            snprintf(t->path, sizeof(t->path), "/sessions/tp-%d/execute", i);
        }
    }
    for (int i = 0; i < n; i++) {
        if (pthread_create(&run->t[i].thread, NULL, tp_main, &run->t[i]) != 0)
            die("cannot start client thread %d", i);
        started++;
    }
    pthread_barrier_wait(&run->ready);
    t0 = now_us();
    run->deadline_us = t0 + (uint64_t)b->tp_seconds * 1000000;
    pthread_barrier_wait(&run->go);
    for (int i = 0; i < started; i++) {
        struct tp_thread *t = &run->t[i];

        pthread_join(t->thread, NULL);
        res.executes += t->done;
        res.errors += t->errors;
        if (t->end_us > last)
            last = t->end_us;
        if (res.first_error[0] == '\0' && t->first_error[0] != '\0')
            snprintf(res.first_error, sizeof(res.first_error), "%s", t->first_error);
        if (!raw)
            httpc_cleanup(&t->http);
    }
    pthread_barrier_destroy(&run->ready);
    pthread_barrier_destroy(&run->go);
    free(run);
    res.client_cpu_us = self_cpu_us() - cpu0;
    res.seconds = (double)(last - t0) / 1e6;
    res.per_s = res.seconds > 0 ? (double)res.executes / res.seconds : NAN;
    progress("throughput %s x%d: %ld executes in %.2f s = %.0f/s, %ld errors%s%s",
             raw ? "raw ZeroMQ" : "daemon", n, res.executes, res.seconds, res.per_s, res.errors,
             res.first_error[0] ? "; first: " : "", res.first_error);
    return res;
}

static void measure_throughput(struct bench *b)
{
    static const int levels[] = {BENCH_TP_LOW, BENCH_TP_HIGH};
    struct tp_result raw[2], via[2];
    json_object *tp = json_object_new_object();
    long long cpu_run[2], cpu_total = 0, sleeps_run[2];
    long executes = 0;
    double cpu_per_exec;

    /* Raw and daemon runs alternate, so that neither gets a quieter moment of the machine.
     * The daemon's CPU counts only while its own runs go. */
    for (int i = 0; i < 2; i++) {
        long long before, after, sleeps_before, sleeps_after;

        raw[i] = run_throughput(b, levels[i], true);
        before = proc_cpu_us(b->main_daemon.pid);
        sleeps_before = proc_voluntary_switches(b->main_daemon.pid);
        via[i] = run_throughput(b, levels[i], false);
        after = proc_cpu_us(b->main_daemon.pid);
        sleeps_after = proc_voluntary_switches(b->main_daemon.pid);
        if (before < 0 || after < 0 || sleeps_before < 0 || sleeps_after < 0)
            die("cannot read /proc/%d/stat or status", (int)b->main_daemon.pid);
        cpu_run[i] = after - before;
        sleeps_run[i] = sleeps_after - sleeps_before;
        cpu_total += cpu_run[i];
        executes += via[i].executes;
    }

    json_object_object_add(tp, "seconds_per_run", json_object_new_int(b->tp_seconds));
    for (int i = 0; i < 2; i++) {
        json_object *o = json_object_new_object();
        char key[8];

        json_object_object_add(o, "executes_per_s", report_num(via[i].per_s, 1));
        json_object_object_add(o, "executes", json_object_new_int64(via[i].executes));
        json_object_object_add(o, "errors", json_object_new_int64(via[i].errors));
        json_object_object_add(o, "raw_executes_per_s", report_num(raw[i].per_s, 1));
        json_object_object_add(o, "raw_errors", json_object_new_int64(raw[i].errors));
        json_object_object_add(o, "ratio_to_raw", report_num(via[i].per_s / raw[i].per_s, 3));
        json_object_object_add(o, "daemon_cpu_us_per_execute",
                               report_num(per_execute(cpu_run[i], via[i].executes), 1));
        json_object_object_add(o, "daemon_loop_sleeps_per_execute",
                               report_num(per_execute(sleeps_run[i], via[i].executes), 2));
        json_object_object_add(o, "client_cpu_us_per_execute",
                               report_num(per_execute(via[i].client_cpu_us, via[i].executes), 1));
        json_object_object_add(o, "raw_client_cpu_us_per_execute",
                               report_num(per_execute(raw[i].client_cpu_us, raw[i].executes), 1));
        if (via[i].first_error[0] != '\0')
            json_object_object_add(o, "first_error", json_object_new_string(via[i].first_error));
        if (raw[i].first_error[0] != '\0')
            json_object_object_add(o, "raw_first_error",
                                   json_object_new_string(raw[i].first_error));
        snprintf(key, sizeof(key), "%d", levels[i]);
        json_object_object_add(tp, key, o);
    }
    json_object_object_add(b->report, "throughput", tp);
    cpu_per_exec = per_execute(cpu_total, executes);
    json_object_object_add(b->report, "daemon_cpu_us_per_execute", report_num(cpu_per_exec, 1));
    progress("daemon CPU: %.2f s over %ld executes = %.1f us per execute", (double)cpu_total / 1e6,
             executes, cpu_per_exec);
}

/* ---- 7: memory ------------------------------------------------------------------------------ */

static double rss_mib(pid_t pid)
{
    long long kib = proc_rss_kib(pid);

    if (kib < 0)
        die("cannot read /proc/%d/status", (int)pid);
    return (double)kib / 1024.0;
}

/* Bring the daemon's live sessions up to target; returns how many it has then. */
static int fill_sessions(struct bench *b, int target, int *next_fill)
{
    int live = -1;

    if (daemon_ready(&b->main_daemon, &live, NULL) < 0)
        die("GET /ready failed");
    if (live < target) {
        create_sessions(b, "fill-", *next_fill, target - live);
        *next_fill += target - live;
    }
    if (daemon_ready(&b->main_daemon, &live, NULL) < 0 || live < target)
        die("the daemon has %d live sessions, %d were made", live, target);
    return live;
}

struct kmem_job {
    struct bench *b;
    json_object *ids;
    double *mib;
    atomic_int failed;
    char err[256];
};

static void kmem_one(void *arg, int worker, int i)
{
    struct kmem_job *job = arg;
    const char *id = json_object_get_string(json_object_array_get_idx(job->ids, (size_t)i));
    long long bytes = 0;
    char err[256];

    (void)worker;
    if (engine_container_memory(job->b->cfg.docker_socket, id, &bytes, err, sizeof(err)) < 0) {
        if (atomic_fetch_add(&job->failed, 1) == 0)
            snprintf(job->err, sizeof(job->err), "%s", err);
        job->mib[i] = NAN;
        return;
    }
    job->mib[i] = (double)bytes / 1048576.0;
}

/* Memory of every kernel container of the main daemon, from the engine's stats. */
static json_object *kernel_memory(struct bench *b)
{
    struct kmem_job job = {.b = b};
    json_object *summaries = NULL, *obj = json_object_new_object();
    struct samples s;
    char label[64], err[BACKEND_ERR_MAX];
    size_t n;

    snprintf(label, sizeof(label), "kernelbox.daemon=%s", b->main_daemon.instance);
    if (b->backend->ops->list(b->backend, label, &summaries, err, sizeof(err)) < 0)
        die("listing the daemon's containers: %s", err);
    n = json_object_array_length(summaries);
    job.ids = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        json_object *id = NULL;

        if (json_object_object_get_ex(json_object_array_get_idx(summaries, i), "Id", &id))
            json_object_array_add(job.ids, json_object_get(id));
    }
    json_object_put(summaries);
    n = json_object_array_length(job.ids);
    job.mib = calloc(n ? n : 1, sizeof(double));
    if (job.mib == NULL)
        die("out of memory");
    atomic_init(&job.failed, 0);
    /* The engine answers a stats request at its next collection tick (about a second on
     * cgroup v1, one-shot or not): ask for all of them at once. */
    par_for((int)n, BENCH_STATS_PAR, kmem_one, &job);
    if (atomic_load(&job.failed) > 0)
        die("container stats: %d failed; first: %s", atomic_load(&job.failed), job.err);
    samples_init(&s);
    for (size_t i = 0; i < n; i++)
        samples_add(&s, job.mib[i]);
    json_object_object_add(obj, "containers", json_object_new_int((int)n));
    json_object_object_add(obj, "median", report_num(samples_median(&s), 1));
    json_object_object_add(obj, "p90", report_num(samples_percentile(&s, 90), 1));
    json_object_object_add(obj, "max", report_num(samples_percentile(&s, 100), 1));
    progress("kernel containers: median %.1f MiB over %zu", samples_median(&s), n);
    samples_cleanup(&s);
    free(job.mib);
    json_object_put(job.ids);
    return obj;
}

/* 8: one execute printing 100 MiB, with the daemon's VmRSS sampled throughout. */
static void measure_large_output(struct bench *b)
{
    json_object *req = json_object_new_object(), *obj = json_object_new_object();
    struct rss_sampler *sampler;
    struct exec_result r;
    struct httpc c;
    char path[96];
    long long before, peak;
    uint64_t t0, t1;
    int rc;

    json_object_object_add(req, "code", json_object_new_string(BENCH_LARGE_CODE));
    json_object_object_add(req, "timeout", json_object_new_int(BENCH_LARGE_TIMEOUT_S));
    exec_path(path, sizeof(path), "warm");
    httpc_init(&c, b->main_daemon.port, b->main_daemon.key);
    if (httpc_connect(&c) < 0)
        die("cannot connect to the daemon");
    before = proc_rss_kib(b->main_daemon.pid);
    sampler = rss_sampler_start(b->main_daemon.pid, BENCH_RSS_INTERVAL_US);
    if (sampler == NULL || before < 0)
        die("cannot sample the daemon's memory");
    t0 = now_us();
    rc = http_execute(&c, path, json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN),
                      (BENCH_LARGE_TIMEOUT_S + 60) * 1000, &r);
    t1 = now_us();
    peak = rss_sampler_stop(sampler);
    httpc_cleanup(&c);
    json_object_put(req);
    if (rc < 0)
        die("large output: %s", r.detail);
    if (peak < before)
        peak = before;

    json_object_object_add(obj, "bytes_printed", json_object_new_int64(BENCH_LARGE_BYTES));
    json_object_object_add(obj, "time_ms", report_num(ms_of_us(t1 - t0), 1));
    json_object_object_add(obj, "status", json_object_new_string(r.status));
    json_object_object_add(obj, "truncated", json_object_new_boolean(r.truncated));
    json_object_object_add(obj, "output_chars_returned",
                           json_object_new_int64((int64_t)r.output_len));
    json_object_object_add(obj, "rss_before_mib", report_num((double)before / 1024.0, 1));
    json_object_object_add(obj, "rss_peak_mib", report_num((double)peak / 1024.0, 1));
    json_object_object_add(obj, "rss_growth_mib", report_num((double)(peak - before) / 1024.0, 1));
    json_object_object_add(b->report, "large_output", obj);
    progress("large output: %.1f s, truncated %s, daemon RSS %.1f -> peak %.1f MiB",
             (double)(t1 - t0) / 1e6, r.truncated ? "true" : "false", (double)before / 1024.0,
             (double)peak / 1024.0);
}

static void measure_memory(struct bench *b, double idle_mib)
{
    json_object *rss = json_object_new_object();
    int next_fill = 0, live;
    double mib;

    json_object_object_add(rss, "idle", report_num(idle_mib, 1));
    live = fill_sessions(b, BENCH_MEM_SESSIONS, &next_fill);
    usleep(BENCH_SETTLE_US);
    mib = rss_mib(b->main_daemon.pid);
    json_object_object_add(rss, "sessions_50", report_num(mib, 1));
    progress("daemon RSS with %d live sessions: %.1f MiB", live, mib);
    json_object_object_add(b->report, "kernel_rss_mib", kernel_memory(b));
    measure_large_output(b);
    if (b->quick) {
        json_object_object_add(rss, "sessions_200", NULL);
    } else {
        live = fill_sessions(b, BENCH_MEM_SESSIONS_FULL, &next_fill);
        usleep(BENCH_SETTLE_US);
        mib = rss_mib(b->main_daemon.pid);
        json_object_object_add(rss, "sessions_200", report_num(mib, 1));
        progress("daemon RSS with %d live sessions: %.1f MiB", live, mib);
    }
    json_object_object_add(b->report, "daemon_rss_mib", rss);
}

/* ---- the host ---------------------------------------------------------------------------- */

/* How fast this machine is at the three things the measurements are made of, timed at the
 * start and at the end, because a shared virtual machine can be tens of percent slower from
 * one hour to the next: plain arithmetic (milliseconds for a fixed loop), a system call
 * (microseconds for a write and a read on a pipe, in one thread), and waking another thread
 * (microseconds for a ping-pong between two threads over pipes: two wake-ups), which is what
 * every ZeroMQ message costs twice (I/O thread, then the thread that reads it). */
struct pingpong {
    int to_peer[2];
    int from_peer[2];
};

static void *pingpong_peer(void *arg)
{
    struct pingpong *pp = arg;
    char c;

    while (read(pp->to_peer[0], &c, 1) == 1 && c != 'q') {
        if (write(pp->from_peer[1], &c, 1) != 1)
            break;
    }
    return NULL;
}

static double pingpong_us(void)
{
    struct pingpong pp = {{-1, -1}, {-1, -1}};
    pthread_t peer;
    double us = NAN;
    uint64_t t0;
    char c = 'p';
    bool ok = true;

    if (pipe(pp.to_peer) < 0 || pipe(pp.from_peer) < 0)
        goto out;
    if (pthread_create(&peer, NULL, pingpong_peer, &pp) != 0)
        goto out;
    t0 = now_us();
    for (int i = 0; i < BENCH_CALIBRATE_PINGPONG && ok; i++)
        ok = write(pp.to_peer[1], &c, 1) == 1 && read(pp.from_peer[0], &c, 1) == 1;
    if (ok)
        us = (double)(now_us() - t0) / BENCH_CALIBRATE_PINGPONG;
    c = 'q';
    if (write(pp.to_peer[1], &c, 1) == 1)
        pthread_join(peer, NULL);
    else
        pthread_detach(peer);
out:
    for (int i = 0; i < 2; i++) {
        if (pp.to_peer[i] >= 0)
            close(pp.to_peer[i]);
        if (pp.from_peer[i] >= 0)
            close(pp.from_peer[i]);
    }
    return us;
}

static double syscall_us(void)
{
    int fds[2] = {-1, -1};
    double us = NAN;
    uint64_t t0;
    char c = 0;
    bool ok = true;

    if (pipe(fds) < 0)
        return NAN;
    t0 = now_us();
    for (int i = 0; i < BENCH_CALIBRATE_PIPE && ok; i++)
        ok = write(fds[1], &c, 1) == 1 && read(fds[0], &c, 1) == 1;
    if (ok)
        us = (double)(now_us() - t0) / BENCH_CALIBRATE_PIPE;
    close(fds[0]);
    close(fds[1]);
    return us;
}

static double loop_ms(void)
{
    volatile uint64_t sink;
    uint64_t x = 88172645463325252ULL, t0 = now_us();

    for (int i = 0; i < BENCH_CALIBRATE_LOOP; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    sink = x;
    (void)sink;
    return ms_of_us(now_us() - t0);
}

static void calibrate(json_object *host, const char *when)
{
    char key[64];

    snprintf(key, sizeof(key), "cpu_loop_ms_%s", when);
    json_object_object_add(host, key, report_num(loop_ms(), 1));
    snprintf(key, sizeof(key), "pipe_syscalls_us_%s", when);
    json_object_object_add(host, key, report_num(syscall_us(), 2));
    snprintf(key, sizeof(key), "thread_pingpong_us_%s", when);
    json_object_object_add(host, key, report_num(pingpong_us(), 1));
}

static double loadavg_1m(void)
{
    double v = NAN;
    FILE *f = fopen("/proc/loadavg", "r");

    if (f != NULL) {
        if (fscanf(f, "%lf", &v) != 1)
            v = NAN;
        fclose(f);
    }
    return v;
}

/* Kernel containers on the engine that are not the benchmark's (another daemon's, a test's):
 * they share the machine with the measurement. -1 when the engine cannot say. */
static int foreign_kernels(struct bench *b)
{
    json_object *all = NULL;
    char err[BACKEND_ERR_MAX];
    int n;

    if (b->backend->ops->list(b->backend, "kernelbox.managed=true", &all, err, sizeof(err)) < 0)
        return -1;
    n = (int)json_object_array_length(all);
    json_object_put(all);
    return n;
}

/* ---- main ----------------------------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: kernelbox-bench [--quick] [--daemon PATH] [--json PATH] [--image IMAGE]\n"
            "                       [--log-level LEVEL] [--only throughput]\n"
            "  --quick       fewer samples and shorter runs, no 200-session step (also QUICK=1)\n"
            "  --daemon      kernelboxd to measure (default: ../../kernelboxd from this program)\n"
            "  --json        where to write the JSON report too (default: ../../bench.json)\n"
            "  --image       kernel image (default: the daemon's default)\n"
            "  --log-level   the daemons' KERNELBOX_LOG_LEVEL (default: warn)\n"
            "  --only throughput\n"
            "                only the throughput runs and the daemon's CPU per execute, for\n"
            "                measuring a change to the execute path quickly\n");
}

/* dir/../../name relative to this program, in out. */
static void beside_build(const char *name, char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;

    if (n <= 0)
        die("cannot find this program's path");
    exe[n] = '\0';
    /* <build>/tests/bench/kernelbox-bench -> <build> */
    for (int i = 0; i < 3; i++) {
        slash = strrchr(exe, '/');
        if (slash == NULL)
            die("unexpected program path %s", exe);
        *slash = '\0';
    }
    if ((size_t)snprintf(out, len, "%s/%s", exe, name) >= len)
        die("path too long: %s/%s", exe, name);
}

static void parse_args(struct bench *b, int argc, char **argv)
{
    static char daemon_path[PATH_MAX], json_path[PATH_MAX], resolved[PATH_MAX];
    const char *quick = getenv("QUICK");

    b->quick = quick != NULL && quick[0] != '\0' && strcmp(quick, "0") != 0;
    b->log_level = "warn";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--quick") == 0) {
            b->quick = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (v != NULL && strcmp(a, "--daemon") == 0) {
            b->daemon_exe = v;
            i++;
        } else if (v != NULL && strcmp(a, "--json") == 0) {
            b->json_path = v;
            i++;
        } else if (v != NULL && strcmp(a, "--image") == 0) {
            snprintf(b->cfg.image, sizeof(b->cfg.image), "%s", v);
            i++;
        } else if (v != NULL && strcmp(a, "--log-level") == 0) {
            b->log_level = v;
            i++;
        } else if (v != NULL && strcmp(a, "--only") == 0 && strcmp(v, "throughput") == 0) {
            b->only_throughput = true;
            i++;
        } else {
            usage(stderr);
            exit(2);
        }
    }
    if (b->daemon_exe == NULL) {
        beside_build("kernelboxd", daemon_path, sizeof(daemon_path));
        b->daemon_exe = daemon_path;
    }
    if (b->json_path == NULL) {
        beside_build("bench.json", json_path, sizeof(json_path));
        b->json_path = json_path;
    }
    if (realpath(b->daemon_exe, resolved) == NULL || access(resolved, X_OK) != 0)
        die("no kernelboxd at %s (build it, or name it with --daemon)", b->daemon_exe);
    b->daemon_exe = resolved;
    b->n_latency = b->quick ? 150 : 300;
    b->n_first = b->quick ? 3 : 5;
    b->tp_seconds = b->quick ? 5 : 10;
}

/* The daemon's defaults for the kernels' image and limits, so that raw kernels get exactly
 * what the daemon's get. An --image given beforehand wins. */
static void load_defaults(struct bench *b, int argc, char **argv)
{
    char *cargv[] = {argv[0], NULL}, image[sizeof(b->cfg.image)], err[512];
    enum config_action action;

    (void)argc;
    snprintf(image, sizeof(image), "%s", b->cfg.image);
    if (config_load(&b->cfg, 1, cargv, &action, err, sizeof(err)) < 0)
        die("%s", err);
    if (image[0] != '\0')
        snprintf(b->cfg.image, sizeof(b->cfg.image), "%s", image);
}

int main(int argc, char **argv)
{
    static struct bench bench;
    struct bench *b = &bench;
    pthread_t remover;
    char rnd[9], err[BACKEND_ERR_MAX];
    json_object *settings, *host;
    const char *text;
    double idle_mib, load;
    int foreign;
    FILE *f;
    int left;

    b->started_us = now_us();
    g_bench = b;
    setvbuf(stdout, NULL, _IOLBF, 0);
    parse_args(b, argc, argv);
    load_defaults(b, argc, argv);
    if (geteuid() != 0)
        die("run as root (make bench uses sudo): the daemon and the kernels' directories need it");

    b->backend = docker_backend_new(b->cfg.docker_socket);
    if (b->backend == NULL)
        die("out of memory");
    if (cleanup_init(b->backend) < 0)
        die("cannot set up cleanup");
    if (b->backend->ops->check(b->backend, b->cfg.image, b->cfg.runtime, err, sizeof(err)) < 0)
        die("%s", err);
    b->zctx = zmq_ctx_new();
    if (b->zctx == NULL || random_hex(rnd, 8) < 0)
        die("cannot set up ZeroMQ");
    zmq_ctx_set(b->zctx, ZMQ_MAX_SOCKETS, 4096);
    snprintf(b->runtime_dir, sizeof(b->runtime_dir), "/run/kbbench-%s", rnd);
    snprintf(b->instance, sizeof(b->instance), "bench-%s", rnd);
    cleanup_add_instance(b->instance);
    cleanup_add_dir(b->runtime_dir);
    if (mkdir(b->runtime_dir, 0711) < 0)
        die("cannot create %s: %s", b->runtime_dir, strerror(errno));

    b->report = json_object_new_object();
    b->logs = json_object_new_object();
    settings = json_object_new_object();
    host = json_object_new_object();
    json_object_object_add(b->report, "quick", json_object_new_boolean(b->quick));
    json_object_object_add(b->report, "settings", settings);
    json_object_object_add(settings, "latency_samples", json_object_new_int(b->n_latency));
    json_object_object_add(settings, "first_result_samples", json_object_new_int(b->n_first));
    json_object_object_add(settings, "throughput_seconds", json_object_new_int(b->tp_seconds));
    json_object_object_add(settings, "image", json_object_new_string(b->cfg.image));
    json_object_object_add(settings, "daemon", json_object_new_string(b->daemon_exe));
    json_object_object_add(b->report, "host", host);
    json_object_object_add(host, "cpus", json_object_new_int((int)sysconf(_SC_NPROCESSORS_ONLN)));
    load = loadavg_1m();
    foreign = foreign_kernels(b);
    json_object_object_add(host, "loadavg_start", report_num(load, 2));
    calibrate(host, "start");
    json_object_object_add(host, "other_kernel_containers_start", json_object_new_int(foreign));
    if (load > (double)sysconf(_SC_NPROCESSORS_ONLN) / 2)
        progress("warning: the machine is busy (load %.2f, %d other kernel containers): "
                 "expect noisy figures",
                 load, foreign);
    progress("%s run; kernels: %s, %lld MiB, %.2f CPU, %ld pids, %lld MiB /tmp",
             b->quick ? "quick" : "full", b->cfg.image, b->cfg.memory_limit >> 20, b->cfg.cpus,
             b->cfg.pids_limit, b->cfg.tmpfs_size >> 20);

    /* The pooled daemon runs alone, first, so that no other start competes with it. */
    if (!b->only_throughput)
        measure_pooled_first_result(b);

    start_daemon(b, &b->main_daemon, "main", 0);
    usleep(BENCH_SETTLE_US);
    idle_mib = rss_mib(b->main_daemon.pid);
    if (!b->only_throughput)
        measure_cold_first_result(b);

    /* Everything the latency and throughput runs use exists before any of them starts. */
    start_raw_kernels(b, BENCH_TP_HIGH);
    if (!b->only_throughput)
        create_session(b, "warm");
    create_sessions(b, "tp-", 0, BENCH_TP_HIGH);
    usleep(BENCH_SETTLE_US);
    if (!b->only_throughput)
        measure_floor_and_warm(b);
    measure_throughput(b);
    if (!b->only_throughput)
        measure_memory(b, idle_mib);

    /* The daemon removes its sessions while the raw kernels go. */
    progress("stopping: the main daemon removes its sessions; the raw kernels are removed");
    if (pthread_create(&remover, NULL, raw_free_all, b) != 0) {
        raw_free_all(b);
        stop_daemon(&b->main_daemon, "main");
    } else {
        stop_daemon(&b->main_daemon, "main");
        pthread_join(remover, NULL);
    }
    if (cleanup_run() < 0)
        die("cleanup failed");
    left = cleanup_verify();
    if (left > 0)
        die("%d thing(s) left behind", left);
    progress("nothing left behind (containers labelled %s or of the daemons, /run/kbbench-*)",
             b->instance);

    json_object_object_add(host, "loadavg_end", report_num(loadavg_1m(), 2));
    calibrate(host, "end");
    json_object_object_add(host, "other_kernel_containers_end",
                           json_object_new_int(foreign_kernels(b)));
    json_object_object_add(b->report, "logs", b->logs);
    json_object_object_add(b->report, "wall_s",
                           report_num((double)(now_us() - b->started_us) / 1e6, 1));
    report_add_targets(b->report);
    report_print_table(stdout, b->report);
    text = json_object_to_json_string_ext(b->report,
                                          JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    f = fopen(b->json_path, "w");
    if (f == NULL || fprintf(f, "%s\n", text) < 0 || fclose(f) != 0)
        die("cannot write %s", b->json_path);
    printf("%s\n", text);
    json_object_put(b->report);
    zmq_ctx_term(b->zctx);
    config_cleanup(&b->cfg);
    return 0;
}
