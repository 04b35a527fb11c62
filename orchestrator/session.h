/* Sessions: the registry of live kernels (each one hardened container), their lifecycle, and
 * the per-session queue that runs executions one at a time in arrival order. Everything here
 * runs on the loop thread; blocking container work goes to the worker pool. */
#ifndef KERNELBOX_SESSION_H
#define KERNELBOX_SESSION_H

#include <json-c/json.h>
#include <stdbool.h>

#include "backend.h"
#include "config.h"
#include "request.h"
#include "loop.h"
#include "util/buf.h"
#include "util/list.h"
#include "workers.h"

struct secret;

#define SESSION_NAME_MAX 64
#define SESSION_REQUEST_ID_MAX 64 /* longer request ids are cut in logs */
#define SESSION_DETAIL_MAX 512
#define SESSION_KERNEL_UID 1000 /* the image's sandbox user */
#define SESSION_KERNEL_GID 1000

struct session;
struct session_registry;
struct tenant;
struct tenants;

/* A files API request (operations run inside the kernel, below its working directory). */
enum session_file_op {
    SESSION_FILE_NONE = 0,
    SESSION_FILE_READ,
    SESSION_FILE_WRITE,
    SESSION_FILE_LIST,
    SESSION_FILE_DELETE,
};

#define SESSION_FILE_PATH_MAX 1024

struct session_file_params {
    enum session_file_op op;
    char path[SESSION_FILE_PATH_MAX + 1]; /* relative, validated; "" is the directory */
    const char *data;                     /* WRITE: the bytes (borrowed) */
    size_t len;
    size_t max;      /* READ: refuse files larger than this */
    struct buf out;  /* READ: the file's bytes, owned by the job */
};

/* What an execute asks for. Strings and JSON are owned by the job. */
struct session_exec_params {
    char *code;
    bool bash;
    double timeout;                 /* seconds */
    int max_attempts;               /* 0: a plain execute; >= 1: execute/retry */
    json_object *replacement_codes; /* array of strings, or NULL */
};

/* One request to the session layer. The caller fills done (and exec for executes), calls one
 * of the functions below, and gets done(job) later on the loop thread, never from inside the
 * call. Until then the job must stay alive.
 *
 * Outcome: error is 0 and body the response object (owned by the job; an execute without
 *   on_output gives its result as JSON text in body_text instead), or error is
 *   -ENOENT (no such session), -EEXIST (name taken), -EHOSTUNREACH (engine unreachable),
 *   -ECANCELED (the session was deleted while the job waited), -ESHUTDOWN (daemon stopping),
 *   -ETIMEDOUT (kernel did not start in time), -EUSERS (a tenant quota; see retry_after),
 *   -ENOSPC (the daemon's session cap; see retry_after) or -EIO, with detail saying what
 *   happened. */
struct session_job {
    void (*done)(struct session_job *job);
    void *owner;
    const char *request_id; /* for logs; may be NULL */
    const char *tenant;     /* for logs; may be NULL */
    /* Optional, for streaming executions: called when the execution starts running on the
     * kernel, and for every output event as it arrives (the event, a new reference, goes to
     * the callee; kind is the Jupyter message type). */
    void (*on_start)(struct session_job *job);
    void (*on_output)(struct session_job *job, const char *kind, json_object *event);
    /* Optional: asked when the job's turn comes in its session's queue. True when its
     * client has left: the job is passed over (and its owner abandons it). */
    bool (*client_gone)(struct session_job *job);
    struct session_exec_params exec;
    struct session_file_params file;

    int error;
    char detail[SESSION_DETAIL_MAX];
    json_object *body;
    char *body_text; /* owned by the job, body_text_len bytes and a NUL */
    size_t body_text_len;
    double retry_after; /* seconds, for -EUSERS (a quota) and -ENOSPC (the global cap) */

    /* private to session.c */
    struct list_node node;
    struct loop_defer finish;
    struct session_registry *reg;
    struct tenant *counted; /* the tenant whose execution count this job holds */
    struct session *session; /* where an execution is queued or running */
};

struct session_registry_params {
    const struct config *cfg;
    struct loop *loop;
    struct workers *workers;
    struct backend *backend;
    const char *instance;         /* this daemon's label value */
    const char *seccomp_json;     /* the kernel containers' profile */
    const struct secret *secret;  /* kernel keys are derived from it */
    struct tenants *tenants;      /* quotas and counts per tenant */
    const char *egress_network;   /* the network of egress sessions; NULL: egress refused */
};

/* Create the registry. Returns NULL on failure. */
struct session_registry *session_registry_new(const struct session_registry_params *p);

/* Free the registry and every session object (containers are not touched: call
 * session_shutdown() first). NULL is a no-op. */
void session_registry_free(struct session_registry *reg);

/* Take over the sessions an earlier run of this daemon left (containers with this instance's
 * label and a metadata file): running kernels are reconnected with their state, stopped ones
 * are kept as dead sessions. Containers that cannot be adopted are removed, and the runtime
 * directory is swept of what belongs to no session. Blocking: call before the loop runs.
 * Returns the number of sessions taken over, or a negative errno with err filled. */
int session_recover(struct session_registry *reg, char *err, size_t errlen);

/* An engine event (die, oom) about one of this daemon's containers. */
void session_engine_event(struct session_registry *reg, const struct backend_event *ev);

/* The engine stopped or started answering. When it answers again every session is checked
 * against the containers that survived. */
void session_engine_state(struct session_registry *reg, bool up, const char *detail);

/* Whether the engine answers; when not, detail says why. */
bool session_engine_ready(const struct session_registry *reg, char *detail, size_t detail_len);

/* Start removing sessions past KERNELBOX_KERNEL_IDLE_TIMEOUT or KERNELBOX_MAX_SESSION_AGE. */
void session_reaper_start(struct session_registry *reg);

/* Start filling the warm pool (KERNELBOX_POOL_SIZE kernels). */
void session_pool_start(struct session_registry *reg);

/* Warm kernels ready to hand out, and all of them (ready or starting). */
void session_pool_counts(const struct session_registry *reg, int *ready, int *total);

/* Find a live session of tenant by kernel id, kernel name or session name (the /kernels/{id}
 * paths). Another tenant's sessions are never found. */
struct session *session_find(struct session_registry *reg, const struct tenant *tenant,
                             const char *ident);

/* Find a live session of tenant by kernel name or session name, not by id (the
 * /sessions/{name} paths). */
struct session *session_find_named(struct session_registry *reg, const struct tenant *tenant,
                                   const char *name);

/* The kernel object of a session. New reference. */
json_object *session_json(const struct session *s);

/* Whether the session's kernel is alive (running, with an answering heartbeat). */
bool session_alive(const struct session *s);

/* The kernel objects of tenant's live sessions, oldest first. New reference. */
json_object *session_list_json(struct session_registry *reg, const struct tenant *tenant);

/* Get or create the session called name; body is its kernel object once it is ready. tags
 * and settings (borrowed, may be NULL) apply only when the session is created; settings
 * above the tenant's maxima fail with -EINVAL. */
void session_get_or_create(struct session_registry *reg, struct tenant *tenant,
                           const char *name, json_object *tags,
                           const struct request_settings *settings, struct session_job *job);

/* Create a kernel (POST /kernels). name and session_name may be NULL; a name or session name
 * already used by a live kernel fails with -EEXIST. */
void session_create_kernel(struct session_registry *reg, struct tenant *tenant,
                           const char *name, const char *session_name, json_object *tags,
                           const struct request_settings *settings, struct session_job *job);

/* Run job->exec on the session called name, creating it if needed; body is the result. */
void session_execute_named(struct session_registry *reg, struct tenant *tenant,
                           const char *name, struct session_job *job);

/* Run job->file on the session called name (created first when create is true, as an upload
 * may come before any execute). In the session's queue like an execution. body is the
 * listing, {"path", "size"} after a write, {"deleted": path}; a read leaves body NULL and the
 * bytes in job->file.out. Besides the usual errors: -EINVAL (the path leaves the working
 * directory through a symlink, or names a directory where a file is needed), -EDQUOT (the
 * session's storage is full, also when the file is larger than job->file.max). */
void session_files(struct session_registry *reg, struct tenant *tenant, const char *name,
                   bool create, struct session_job *job);

/* Run job->exec on session s; body is the result object. */
void session_execute(struct session_registry *reg, struct session *s, struct session_job *job);

/* Replace s's kernel with a fresh one (state is lost); body is the kernel object. */
void session_restart(struct session_registry *reg, struct session *s, struct session_job *job);

/* The client of an execute job went away: drop it from its queue, or interrupt the kernel
 * and discard its result when it is running. done() is not called for it, and the job's
 * memory may be freed as soon as this returns. */
void session_job_abandon(struct session_registry *reg, struct session_job *job);

/* Interrupt what s is running. Returns 0, or -EAGAIN when s has no running kernel. */
int session_interrupt(struct session_registry *reg, struct session *s);

/* Remove s, its container and its directory; body is {"destroyed": true}. */
void session_delete(struct session_registry *reg, struct session *s, struct session_job *job);

/* Remove every session of tenant; body is {"destroyed": [kernel ids]}. */
void session_delete_all(struct session_registry *reg, const struct tenant *tenant,
                        struct session_job *job);

/* Begin shutting down: new work is refused with -ESHUTDOWN at once; executions running or
 * queued may finish for grace_s seconds, then whatever still waits is answered with
 * -ESHUTDOWN. Then every session is removed (remove) or left running for the next start.
 * done(arg) is called on the loop thread at the end. */
void session_shutdown(struct session_registry *reg, bool remove, double grace_s,
                      void (*done)(void *arg), void *arg);

/* Number of live sessions. */
int session_count(const struct session_registry *reg);

/* Release what a job owns (body, exec strings). */
void session_job_cleanup(struct session_job *job);

#endif
