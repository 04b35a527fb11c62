/* A kernel container driven straight over ZeroMQ, with no daemon in between: the floor that
 * the daemon's latency is compared with. The container is made exactly as kernelboxd makes
 * one (backend.h, the same hardened spec, connection file and ipc sockets). */
#ifndef KBBENCH_RAWKERNEL_H
#define KBBENCH_RAWKERNEL_H

#include <stddef.h>

struct backend;

struct rawkernel_params {
    void *zctx;
    struct backend *backend;
    const char *runtime_dir; /* the kernel's directory is made below it */
    const char *instance;    /* label kernelbox.daemon */
    const char *name;        /* label kernelbox.session */
    const char *image;
    const char *seccomp_json;
    const char *runtime; /* OCI runtime; "" for the engine's default */
    long long memory_bytes;
    double cpus;
    long pids_limit;
    long long tmpfs_bytes;
    int start_timeout_ms; /* for the kernel to answer kernel_info_request */
};

struct rawkernel;

/* Create and start a container, connect shell and iopub, and wait until the kernel has
 * answered kernel_info_request on shell and its status has come through iopub. Returns the
 * kernel, or NULL with err filled (nothing is left behind then). */
struct rawkernel *rawkernel_start(const struct rawkernel_params *p, char *err, size_t errlen);

/* Run code and wait for execute_reply on shell and status idle on iopub, as the daemon does.
 * Returns 0 when the reply says "ok", with the text/plain of the execute_result (or "") in
 * value; -EPROTO when it says otherwise; -ETIMEDOUT; another negative errno on failure. */
int rawkernel_execute(struct rawkernel *k, const char *code, int timeout_ms, char *value,
                      size_t value_len, char *err, size_t errlen);

/* Milliseconds from the create call to the end of the handshake. */
long rawkernel_ready_ms(const struct rawkernel *k);

/* Close the sockets, remove the container and the kernel's directory. NULL is a no-op.
 * Returns 0 or the negative errno of the removal. */
int rawkernel_free(struct rawkernel *k);

#endif
