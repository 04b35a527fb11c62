/* kernelboxd: start-up order (config, runtime directory, Docker Engine, leftovers, HTTP),
 * the event loop, and an orderly shutdown that leaves no container behind. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "auth.h"
#include "backend.h"
#include "config.h"
#include "events.h"
#include "http_api.h"
#include "kernel.h"
#include "kernel_seccomp_profile.h"
#include "log.h"
#include "loop.h"
#include "openapi_spec.h"
#include "sandbox.h"
#include "secret.h"
#include "session.h"
#include "tenant.h"
#include "util/text.h"
#include "workers.h"

#define SHUTDOWN_REMOVE_MS 60000 /* after the grace, at most this long to remove sessions */
#define SHUTDOWN_FLUSH_MS 2000    /* at most this long for the last answers to be written */
#define SHUTDOWN_FLUSH_POLL_MS 20

struct daemon {
    struct config cfg;
    struct loop *loop;
    struct workers *workers;
    struct backend *backend;
    struct session_registry *reg;
    struct http_api *http;
    struct auth *auth;
    struct tenants *tenants;
    struct secret secret;
    struct events *events;
    char instance[13];
    char egress_network[64];
    int sigfd;
    int lockfd; /* holds an exclusive lock on the runtime directory */
    struct loop_io sig_io;
    struct loop_timer shutdown_timer;
    struct loop_timer flush_timer;
    uint64_t flush_deadline;
    bool stopping;
};

/* Make sure the runtime directory exists and is ours alone; warn when it is not a tmpfs. */
static int prepare_runtime_dir(const struct config *cfg, char *err, size_t errlen)
{
    struct statfs fs;
    struct stat st;

    if (mkdir(cfg->runtime_dir, 0711) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "KERNELBOX_RUNTIME_DIR: cannot create %s: %s", cfg->runtime_dir,
                 strerror(errno));
        return -errno;
    }
    if (lstat(cfg->runtime_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "KERNELBOX_RUNTIME_DIR: %s is not a directory", cfg->runtime_dir);
        return -ENOTDIR;
    }
    if (st.st_uid != geteuid()) {
        snprintf(err, errlen, "KERNELBOX_RUNTIME_DIR: %s belongs to another user",
                 cfg->runtime_dir);
        return -EPERM;
    }
    /* Others may pass through to a session's sockets only by knowing its name. */
    if (chmod(cfg->runtime_dir, 0711) < 0) {
        snprintf(err, errlen, "KERNELBOX_RUNTIME_DIR: cannot set the mode of %s: %s",
                 cfg->runtime_dir, strerror(errno));
        return -errno;
    }
    if (statfs(cfg->runtime_dir, &fs) == 0 && fs.f_type != TMPFS_MAGIC)
        log_warn(NULL, "startup.runtime_dir",
                 "%s is not a tmpfs: connection files would touch a disk for a moment",
                 cfg->runtime_dir);
    return 0;
}

/* One daemon per runtime directory: two would take over each other's containers. */
static int lock_runtime_dir(struct daemon *d, char *err, size_t errlen)
{
    char path[CONFIG_RUNTIME_DIR_MAX + 16];

    snprintf(path, sizeof(path), "%s/lock", d->cfg.runtime_dir);
    d->lockfd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (d->lockfd < 0) {
        snprintf(err, errlen, "KERNELBOX_RUNTIME_DIR: cannot open %s: %s", path,
                 strerror(errno));
        return -errno;
    }
    if (flock(d->lockfd, LOCK_EX | LOCK_NB) < 0) {
        snprintf(err, errlen,
                 "KERNELBOX_RUNTIME_DIR: another kernelboxd already uses %s; give each daemon "
                 "its own runtime directory",
                 d->cfg.runtime_dir);
        return -EBUSY;
    }
    return 0;
}

/* The label that tells this daemon's containers from another's on the same engine. */
static void instance_id(const struct config *cfg, char out[13])
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH + 1];

    SHA256((const unsigned char *)cfg->runtime_dir, strlen(cfg->runtime_dir), digest);
    hex_encode(digest, sizeof(digest), hex);
    memcpy(out, hex, 12);
    out[12] = '\0';
}

static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Every answer is written before the loop stops: wait (briefly) for connections to drain. */
static void on_flush_timer(struct loop_timer *t)
{
    struct daemon *d = LIST_CONTAINER(t, struct daemon, flush_timer);

    if (http_api_connections(d->http) == 0 || now_ms() >= d->flush_deadline) {
        log_info(NULL, "shutdown.done", "%s",
                 d->cfg.shutdown_remove ? "every session removed"
                                        : "kernels left running for the next start");
        loop_stop(d->loop);
        return;
    }
    loop_timer_start(d->loop, &d->flush_timer, now_ms() + SHUTDOWN_FLUSH_POLL_MS);
}

static void on_shutdown_complete(void *arg)
{
    struct daemon *d = arg;

    d->flush_deadline = now_ms() + SHUTDOWN_FLUSH_MS;
    loop_timer_init(&d->flush_timer, on_flush_timer);
    on_flush_timer(&d->flush_timer);
}

static void on_shutdown_deadline(struct loop_timer *t)
{
    struct daemon *d = LIST_CONTAINER(t, struct daemon, shutdown_timer);

    log_error(NULL, "shutdown.deadline", "sessions still being removed; exiting anyway");
    loop_stop(d->loop);
}

static void begin_shutdown(struct daemon *d, const char *why)
{
    if (d->stopping)
        return;
    d->stopping = true;
    log_info(NULL, "shutdown.begin", "%s: %d session(s); in-flight executions have %.0f s; "
             "then kernels are %s", why, session_count(d->reg), d->cfg.shutdown_grace,
             d->cfg.shutdown_remove ? "removed" : "left running for the next start");
    http_api_quiesce(d->http);
    loop_timer_init(&d->shutdown_timer, on_shutdown_deadline);
    loop_timer_start(d->loop, &d->shutdown_timer,
                     now_ms() + (uint64_t)(d->cfg.shutdown_grace * 1000) + SHUTDOWN_REMOVE_MS);
    session_shutdown(d->reg, d->cfg.shutdown_remove, d->cfg.shutdown_grace,
                     on_shutdown_complete, d);
}

static void on_engine_event(void *arg, const struct backend_event *ev)
{
    struct daemon *d = arg;

    session_engine_event(d->reg, ev);
}

static void on_engine_state(void *arg, bool up, const char *detail)
{
    struct daemon *d = arg;

    session_engine_state(d->reg, up, detail);
}

/* SIGHUP: read the keys again; a file that does not load leaves the old keys in force. */
static void reload_keys(struct daemon *d)
{
    char err[512];
    struct auth *fresh;

    if (d->cfg.api_keys_file[0] == '\0') {
        log_info(NULL, "keys.reload", "SIGHUP: no KERNELBOX_API_KEYS_FILE to read");
        return;
    }
    fresh = auth_load(d->cfg.api_key, d->cfg.api_keys_file, err, sizeof(err));
    if (fresh == NULL) {
        log_error(NULL, "keys.reload", "keeping the keys in force: %s", err);
        return;
    }
    http_api_set_auth(d->http, fresh);
    tenants_apply(d->tenants, fresh);
    auth_free(d->auth);
    d->auth = fresh;
    log_info(NULL, "keys.reload", "%zu key(s) and %zu quota line(s) in force", fresh->nentries,
             fresh->nquotas);
}

static void on_signal(void *arg, uint32_t events)
{
    struct daemon *d = arg;
    struct signalfd_siginfo si;

    (void)events;
    while (read(d->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
            begin_shutdown(d, si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
        else if (si.ssi_signo == SIGHUP && !d->stopping)
            reload_keys(d);
    }
}

static int setup_signals(struct daemon *d)
{
    sigset_t set;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    /* Blocked before any thread starts, so every thread inherits the mask. */
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    d->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return d->sigfd < 0 ? -1 : 0;
}

static void print_banner(const struct daemon *d, bool generated)
{
    const char *listen = d->cfg.listen;

    printf("kernelbox %s listening on http://%s\n", KERNELBOX_VERSION, listen);
    if (generated) {
        printf("No KERNELBOX_API_KEY was set, so this run uses a generated key "
               "(shown once, never logged):\n\n    %s\n\n",
               d->cfg.api_key);
        printf("Authenticate every request with it, for example:\n"
               "    curl -H 'Authorization: Bearer %s' http://%s/sessions\n",
               d->cfg.api_key, listen);
    } else {
        printf("Authenticate with the key in KERNELBOX_API_KEY, for example:\n"
               "    curl -H \"Authorization: Bearer $KERNELBOX_API_KEY\" http://%s/sessions\n",
               listen);
    }
    fflush(stdout);
}

static int run(struct daemon *d)
{
    struct session_registry_params rp;
    struct http_api_params hp;
    char err[BACKEND_ERR_MAX];
    bool generated = false;
    int rc;

    if (d->cfg.api_key == NULL && d->cfg.api_keys_file[0] == '\0') {
        char key[AUTH_GENERATED_KEY_LEN + 1];

        if (auth_generate_key(key, sizeof(key)) < 0) {
            fprintf(stderr, "kernelboxd: cannot generate an API key\n");
            return 1;
        }
        d->cfg.api_key = strdup(key);
        OPENSSL_cleanse(key, sizeof(key));
        generated = true;
    }
    d->auth = auth_load(d->cfg.api_key, d->cfg.api_keys_file, err, sizeof(err));
    if (d->auth == NULL) {
        fprintf(stderr, "kernelboxd: KERNELBOX_API_KEYS_FILE: %s\n", err);
        return 1;
    }
    {
        struct auth_quota defaults = {
            .sessions = d->cfg.tenant_max_sessions,
            .executions = d->cfg.tenant_max_executions,
            .rate = d->cfg.tenant_rate,
            .burst = d->cfg.tenant_burst,
            /* By default a session may lower its limits, not raise them. */
            .max_memory = d->cfg.memory_limit,
            .max_cpus = d->cfg.cpus,
            .max_pids = d->cfg.pids_limit,
            .max_tmpfs = d->cfg.tmpfs_size,
        };

        d->tenants = tenants_new(&defaults);
        if (d->tenants == NULL) {
            fprintf(stderr, "kernelboxd: out of memory\n");
            return 1;
        }
        tenants_apply(d->tenants, d->auth);
    }
    if (prepare_runtime_dir(&d->cfg, err, sizeof(err)) < 0 ||
        lock_runtime_dir(d, err, sizeof(err)) < 0) {
        fprintf(stderr, "kernelboxd: %s\n", err);
        return 1;
    }
    instance_id(&d->cfg, d->instance);
    if (d->cfg.secret_file[0] == '\0')
        snprintf(d->cfg.secret_file, sizeof(d->cfg.secret_file), "%s/secret",
                 d->cfg.runtime_dir);
    if (secret_load(&d->secret, d->cfg.secret_file, err, sizeof(err)) < 0) {
        fprintf(stderr, "kernelboxd: KERNELBOX_SECRET_FILE: %s\n", err);
        return 1;
    }
    raise_fd_limit();
    if (setup_signals(d) < 0) {
        fprintf(stderr, "kernelboxd: cannot set up signal handling: %s\n", strerror(errno));
        return 1;
    }

    d->backend = docker_backend_new(d->cfg.docker_socket);
    if (d->backend == NULL) {
        fprintf(stderr, "kernelboxd: out of memory\n");
        return 1;
    }
    memset(&rp, 0, sizeof(rp));
    rp.cfg = &d->cfg;
    rp.backend = d->backend;
    rp.instance = d->instance;
    rp.seccomp_json = kernel_seccomp_profile_json;
    rp.secret = &d->secret;
    rp.tenants = d->tenants;

    rc = d->backend->ops->check(d->backend, d->cfg.image, d->cfg.runtime, err, sizeof(err));
    if (rc == -ENOENT) {
        fprintf(stderr, "kernelboxd: KERNELBOX_IMAGE: %s\n", err);
        return 1;
    }
    if (rc == -ENOTSUP) {
        fprintf(stderr, "kernelboxd: KERNELBOX_RUNTIME: %s\n", err);
        return 1;
    }
    bool engine_up = rc == 0;

    snprintf(d->egress_network, sizeof(d->egress_network), "kernelbox-egress-%s", d->instance);
    if (!d->cfg.allow_egress && engine_up) {
        /* Egress was allowed by an earlier run: its network goes with it. */
        d->backend->ops->network_remove(d->backend, d->egress_network, err, sizeof(err));
    }
    if (d->cfg.allow_egress) {
        if (engine_up &&
            d->backend->ops->network_ensure(d->backend, d->egress_network, d->instance, err,
                                            sizeof(err)) < 0) {
            fprintf(stderr, "kernelboxd: KERNELBOX_ALLOW_EGRESS: %s\n", err);
            return 1;
        }
        rp.egress_network = d->egress_network;
    }

    if (!engine_up) {
        /* Keep serving: requests that need the engine get 503 until it answers. */
        log_warn(NULL, "startup.engine", "%s; sessions will fail with 503 until it answers",
                 err);
    }

    d->loop = loop_new();
    if (d->loop == NULL) {
        fprintf(stderr, "kernelboxd: cannot create the event loop\n");
        return 1;
    }
    d->workers = workers_new(d->loop, (int)d->cfg.docker_workers);
    if (d->workers == NULL) {
        fprintf(stderr, "kernelboxd: cannot start worker threads\n");
        return 1;
    }
    rp.loop = d->loop;
    rp.workers = d->workers;
    d->reg = session_registry_new(&rp);
    if (d->reg == NULL) {
        fprintf(stderr, "kernelboxd: out of memory\n");
        return 1;
    }
    if (engine_up) {
        rc = session_recover(d->reg, err, sizeof(err));
        if (rc < 0)
            log_warn(NULL, "startup.recover", "%s", err);
        else if (rc > 0)
            log_info(NULL, "startup.recover", "took over %d session(s) left running", rc);
    } else {
        session_engine_state(d->reg, false, err);
    }
    session_reaper_start(d->reg);
    session_pool_start(d->reg);
    {
        char label[64];
        struct events_params ep = {
            .backend = d->backend,
            .loop = d->loop,
            .label = label,
            .on_event = on_engine_event,
            .on_engine = on_engine_state,
            .arg = d,
        };

        snprintf(label, sizeof(label), "kernelbox.daemon=%s", d->instance);
        d->events = events_start(&ep);
        if (d->events == NULL) {
            fprintf(stderr, "kernelboxd: cannot start the engine event watcher\n");
            return 1;
        }
    }
    d->sig_io.fd = d->sigfd;
    d->sig_io.fn = on_signal;
    d->sig_io.arg = d;
    loop_io_add(d->loop, &d->sig_io, EPOLLIN);

    memset(&hp, 0, sizeof(hp));
    hp.cfg = &d->cfg;
    hp.loop = d->loop;
    hp.reg = d->reg;
    hp.auth = d->auth;
    hp.tenants = d->tenants;
    hp.openapi_json = openapi_spec_json;
    hp.openapi_yaml = openapi_spec_yaml;
    d->http = http_api_new(&hp, err, sizeof(err));
    if (d->http == NULL) {
        fprintf(stderr, "kernelboxd: KERNELBOX_LISTEN: %s\n", err);
        return 1;
    }
    /* Every thread exists now (workers, the event watcher): confine them all. */
    if (d->cfg.self_seccomp) {
        if (sandbox_enter(err, sizeof(err)) < 0) {
            fprintf(stderr, "kernelboxd: cannot confine itself: %s\n", err);
            return 1;
        }
        log_info(NULL, "startup.seccomp", "confined by its own seccomp allow-list");
    } else {
        log_warn(NULL, "startup.seccomp",
                 "KERNELBOX_SELF_SECCOMP=0: kernelboxd runs WITHOUT its own seccomp filter; "
                 "use this only to debug");
    }
    print_banner(d, generated);
    log_info(NULL, "startup.ready", "listening on %s; image %s; runtime directory %s",
             d->cfg.listen, d->cfg.image, d->cfg.runtime_dir);

    rc = loop_run(d->loop);
    if (rc < 0) {
        log_error(NULL, "loop.failed", "event loop failed: %s", strerror(-rc));
        return 1;
    }
    if (d->cfg.allow_egress && d->cfg.shutdown_remove &&
        d->backend->ops->network_remove(d->backend, d->egress_network, err, sizeof(err)) < 0)
        log_warn(NULL, "shutdown.network", "%s", err);
    return 0;
}

/* kernelboxd hash-key: read a key on standard input, print the line form of its hash. */
static int hash_key(void)
{
    char key[AUTH_KEY_MAX + 2], hex[65];
    size_t len;

    if (fgets(key, sizeof(key), stdin) == NULL) {
        fprintf(stderr, "kernelboxd hash-key: no key on standard input\n");
        return 2;
    }
    len = strcspn(key, "\r\n");
    key[len] = '\0';
    if (len < AUTH_KEY_MIN || len > AUTH_KEY_MAX) {
        fprintf(stderr, "kernelboxd hash-key: a key has %d to %d characters\n", AUTH_KEY_MIN,
                AUTH_KEY_MAX);
        OPENSSL_cleanse(key, sizeof(key));
        return 2;
    }
    for (size_t i = 0; i < len; i++) {
        if (key[i] <= 0x20 || key[i] >= 0x7f) {
            fprintf(stderr, "kernelboxd hash-key: a key is printable ASCII without spaces\n");
            OPENSSL_cleanse(key, sizeof(key));
            return 2;
        }
    }
    auth_hash_hex(key, len, hex);
    OPENSSL_cleanse(key, sizeof(key));
    printf("%s\n", hex);
    return 0;
}

static void cleanup(struct daemon *d)
{
    events_stop(d->events);
    http_api_free(d->http);
    session_registry_free(d->reg);
    workers_free(d->workers);
    loop_free(d->loop);
    docker_backend_free(d->backend);
    auth_free(d->auth);
    tenants_free(d->tenants);
    secret_cleanup(&d->secret);
    if (d->sigfd >= 0)
        close(d->sigfd);
    if (d->lockfd >= 0)
        close(d->lockfd);
    config_cleanup(&d->cfg);
}

int main(int argc, char **argv)
{
    static struct daemon d;
    enum config_action action;
    char err[512];
    int rc;

    d.sigfd = -1;
    d.lockfd = -1;
    if (argc == 2 && strcmp(argv[1], "hash-key") == 0)
        return hash_key();
    if (config_load(&d.cfg, argc, argv, &action, err, sizeof(err)) < 0) {
        fprintf(stderr, "kernelboxd: %s\n", err);
        config_cleanup(&d.cfg);
        return 2;
    }
    if (action == CONFIG_HELP) {
        config_usage(stdout);
        config_cleanup(&d.cfg);
        return 0;
    }
    if (action == CONFIG_VERSION) {
        printf("kernelboxd %s\n", KERNELBOX_VERSION);
        config_cleanup(&d.cfg);
        return 0;
    }
    log_set_level(d.cfg.log_level);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = run(&d);
    cleanup(&d);
    curl_global_cleanup();
    return rc;
}
