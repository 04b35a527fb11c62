/* Starting and stopping kernelboxd for the benchmark, and reading its /proc entries. */
#include "kbd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "httpc.h"
#include "util/text.h"

#define KBD_START_TIMEOUT_MS 20000
#define KBD_STOP_TIMEOUT_S 180 /* removing 200 sessions takes a while */
#define KBD_ENV_MAX 32

static int free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

    if (fd < 0)
        return -errno;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port > 0 ? port : -EADDRNOTAVAIL;
}

/* The label kernelboxd puts on its containers: the first 12 hex digits of the SHA-256 of
 * its runtime directory (instance_id() in orchestrator/main.c). */
static void instance_of(const char *runtime_dir, char out[13])
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH + 1];

    SHA256((const unsigned char *)runtime_dir, strlen(runtime_dir), digest);
    hex_encode(digest, sizeof(digest), hex);
    memcpy(out, hex, 12);
    out[12] = '\0';
}

/* The last few lines of the daemon's log, for an error message. */
static void log_tail(const char *path, char *out, size_t outlen)
{
    size_t want = outlen - 1;
    ssize_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    out[0] = '\0';
    if (fd < 0)
        return;
    if (lseek(fd, 0, SEEK_END) > (off_t)want)
        lseek(fd, -(off_t)want, SEEK_END);
    else
        lseek(fd, 0, SEEK_SET);
    n = read(fd, out, want);
    close(fd);
    out[n > 0 ? n : 0] = '\0';
}

struct env {
    char store[KBD_ENV_MAX][320];
    char *list[KBD_ENV_MAX + 1]; /* NULL-terminated, for execve() */
    int n;
};

static void env_add(struct env *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void env_add(struct env *e, const char *fmt, ...)
{
    va_list ap;

    if (e->n == KBD_ENV_MAX)
        return;
    va_start(ap, fmt);
    vsnprintf(e->store[e->n], sizeof(e->store[0]), fmt, ap);
    va_end(ap);
    e->list[e->n] = e->store[e->n];
    e->list[++e->n] = NULL;
}

int kbd_start(struct kbd *d, const struct kbd_params *p, char *err, size_t errlen)
{
    static struct env env; /* main thread only */
    char rnd[9], tail[1024];
    char *argv[] = {(char *)p->exe, NULL};
    const char *path = getenv("PATH");
    struct httpc c;
    uint64_t deadline;
    int port, logfd, status;
    pid_t pid;

    memset(d, 0, sizeof(*d));
    port = free_port();
    if (port < 0 || random_hex(rnd, 8) < 0 || random_hex(d->key, 48) < 0) {
        snprintf(err, errlen, "cannot pick a port or a key");
        return -EIO;
    }
    d->port = port;
    snprintf(d->runtime_dir, sizeof(d->runtime_dir), "/run/kbbench-%s", rnd);
    instance_of(d->runtime_dir, d->instance);
    snprintf(d->log_path, sizeof(d->log_path), "/tmp/kbbench-%s-%s.log", rnd, p->label);
    cleanup_add_dir(d->runtime_dir);
    cleanup_add_instance(d->instance);

    memset(&env, 0, sizeof(env));
    env_add(&env, "PATH=%s", path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
    env_add(&env, "KERNELBOX_LISTEN=127.0.0.1:%d", port);
    env_add(&env, "KERNELBOX_RUNTIME_DIR=%s", d->runtime_dir);
    env_add(&env, "KERNELBOX_API_KEY=%s", d->key);
    env_add(&env, "KERNELBOX_IMAGE=%s", p->image);
    env_add(&env, "KERNELBOX_DOCKER_SOCKET=%s", p->docker_socket);
    env_add(&env, "KERNELBOX_SHUTDOWN=remove");
    env_add(&env, "KERNELBOX_SHUTDOWN_GRACE=5");
    env_add(&env, "KERNELBOX_LOG_LEVEL=%s", p->log_level);
    env_add(&env, "KERNELBOX_POOL_SIZE=%ld", p->pool_size);
    env_add(&env, "KERNELBOX_MEMORY_LIMIT=%lld", p->memory_bytes);
    env_add(&env, "KERNELBOX_CPUS=%g", p->cpus);
    env_add(&env, "KERNELBOX_PIDS_LIMIT=%ld", p->pids_limit);
    env_add(&env, "KERNELBOX_TMPFS_SIZE=%lld", p->tmpfs_bytes);
    if (p->runtime != NULL && p->runtime[0] != '\0')
        env_add(&env, "KERNELBOX_RUNTIME=%s", p->runtime);
    /* Limits meant for untrusted tenants would throttle the measurement itself (one key,
     * hundreds of sessions, thousands of requests a second from one address). A daemon
     * that does not know a variable ignores it. */
    env_add(&env, "KERNELBOX_MAX_SESSIONS=100000");
    env_add(&env, "KERNELBOX_TENANT_MAX_SESSIONS=100000");
    env_add(&env, "KERNELBOX_TENANT_MAX_EXECUTIONS=100000");
    env_add(&env, "KERNELBOX_TENANT_RATE=1000000");
    env_add(&env, "KERNELBOX_TENANT_BURST=1000000");
    env_add(&env, "KERNELBOX_MAX_CONNECTIONS_PER_IP=65536");

    logfd = open(d->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (logfd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", d->log_path, strerror(errno));
        return -errno;
    }
    pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(logfd);
        return -EIO;
    }
    if (pid == 0) {
        sigset_t none;
        int nullfd = open("/dev/null", O_RDONLY);

        /* Its own process group: a ^C reaches the benchmark, which stops it in order. If the
         * benchmark dies outright, the daemon gets SIGTERM and removes its kernels. */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        if (nullfd >= 0)
            dup2(nullfd, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        execve(p->exe, argv, env.list);
        _exit(127);
    }
    close(logfd);
    d->pid = pid;
    cleanup_add_pid(pid, KBD_STOP_TIMEOUT_S);

    httpc_init(&c, port, NULL);
    deadline = now_ms() + KBD_START_TIMEOUT_MS;
    while (now_ms() < deadline) {
        struct httpc_response r;
        siginfo_t si;

        /* Look without reaping: cleanup_stop_pid() reaps and forgets it. */
        si.si_pid = 0;
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid) {
            d->pid = 0;
            status = cleanup_stop_pid(pid, 1);
            log_tail(d->log_path, tail, sizeof(tail));
            snprintf(err, errlen, "kernelboxd exited at start (%s %d): %s",
                     WIFEXITED(status) ? "code" : "signal",
                     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), tail);
            httpc_cleanup(&c);
            return -ECHILD;
        }
        if (httpc_request(&c, "GET", "/health", NULL, 2000, &r) == 0 && r.status == 200) {
            httpc_cleanup(&c);
            return 0;
        }
        httpc_cleanup(&c);
        usleep(20000);
    }
    snprintf(err, errlen, "kernelboxd did not answer /health within %d s (log: %s)",
             KBD_START_TIMEOUT_MS / 1000, d->log_path);
    return -ETIMEDOUT;
}

int kbd_stop(struct kbd *d)
{
    int status;

    if (d->pid <= 0)
        return -1;
    status = cleanup_stop_pid(d->pid, KBD_STOP_TIMEOUT_S);
    d->pid = 0;
    if (status < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* Read /proc/<pid>/<name> into buf (NUL-terminated). Returns 0, or -1 when it cannot. */
static int read_proc(pid_t pid, const char *name, char *buf, size_t size)
{
    char path[64];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return 0;
}

long long proc_cpu_us(pid_t pid)
{
    char buf[1024], *p;
    unsigned long long utime = 0, stime = 0;

    if (read_proc(pid, "stat", buf, sizeof(buf)) < 0)
        return -1;
    /* The command name may hold spaces and parentheses: fields count from the last ')'. */
    p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    /* After ")": state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
     * cmajflt utime(14) stime(15). */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) !=
        2)
        return -1;
    return (long long)((utime + stime) * 1000000ULL / (unsigned long long)sysconf(_SC_CLK_TCK));
}

/* The number after "\n<field>:" in /proc/<pid>/status; -1 on error. */
static long long status_field(pid_t pid, const char *field)
{
    char buf[4096], *p;

    if (read_proc(pid, "status", buf, sizeof(buf)) < 0)
        return -1;
    p = strstr(buf, field);
    if (p == NULL)
        return -1;
    return strtoll(p + strlen(field), NULL, 10);
}

long long proc_voluntary_switches(pid_t pid)
{
    return status_field(pid, "\nvoluntary_ctxt_switches:");
}

long long proc_rss_kib(pid_t pid)
{
    return status_field(pid, "\nVmRSS:");
}

struct rss_sampler {
    pthread_t thread;
    pid_t pid;
    unsigned interval_us;
    atomic_bool stop;
    long long peak;
};

static void *sampler_main(void *arg)
{
    struct rss_sampler *s = arg;

    while (!atomic_load(&s->stop)) {
        long long v = proc_rss_kib(s->pid);

        if (v > s->peak)
            s->peak = v;
        usleep(s->interval_us);
    }
    return NULL;
}

struct rss_sampler *rss_sampler_start(pid_t pid, unsigned interval_us)
{
    struct rss_sampler *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->pid = pid;
    s->interval_us = interval_us;
    s->peak = -1;
    atomic_init(&s->stop, false);
    if (pthread_create(&s->thread, NULL, sampler_main, s) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

long long rss_sampler_stop(struct rss_sampler *s)
{
    long long peak;

    if (s == NULL)
        return -1;
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    peak = s->peak;
    free(s);
    return peak;
}
