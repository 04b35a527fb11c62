/* One kernelboxd started by the benchmark: its own port, runtime directory, key and log
 * file; and what /proc says about it (CPU time, resident memory). */
#ifndef KBBENCH_KBD_H
#define KBBENCH_KBD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct kbd_params {
    const char *exe;   /* path of kernelboxd */
    const char *label; /* short name for logs and the log file, e.g. "cold" */
    const char *image;
    const char *docker_socket;
    const char *log_level;
    long pool_size;
    long long memory_bytes; /* kernel limits, passed on so raw kernels and the daemon's match */
    double cpus;
    long pids_limit;
    long long tmpfs_bytes;
    const char *runtime; /* KERNELBOX_RUNTIME; "" for the engine's default */
};

struct kbd {
    pid_t pid;
    int port;
    char key[49];
    char runtime_dir[64];
    char instance[13]; /* its kernelbox.daemon label, derived from the runtime directory */
    char log_path[128];
};

/* Start a daemon and wait until GET /health answers. Its runtime directory, containers and
 * process are recorded for cleanup first. Returns 0, or a negative errno with err filled. */
int kbd_start(struct kbd *d, const struct kbd_params *p, char *err, size_t errlen);

/* SIGTERM and wait for the daemon to exit (it removes its sessions on the way). Returns its
 * exit code, or -1 when it was killed by a signal or could not be waited for. */
int kbd_stop(struct kbd *d);

/* CPU time (user + system) the process has used, in microseconds; -1 on error. */
long long proc_cpu_us(pid_t pid);

/* How often the process's main thread (kernelboxd's event loop) went to sleep: its voluntary
 * context switches; -1 on error. */
long long proc_voluntary_switches(pid_t pid);

/* VmRSS of the process in KiB; -1 on error. */
long long proc_rss_kib(pid_t pid);

/* A thread that reads VmRSS every interval_us and keeps the peak. */
struct rss_sampler;

struct rss_sampler *rss_sampler_start(pid_t pid, unsigned interval_us);

/* Stop the thread; returns the peak in KiB (-1 when nothing was read) and frees it. */
long long rss_sampler_stop(struct rss_sampler *s);

#endif
