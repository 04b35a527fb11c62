/* What the session layer asks of a container backend: create, start, signal, remove, list and
 * inspect kernel containers. The local Docker Engine (docker.c) is the one implementation.
 * Every call blocks, so it runs on a worker thread, never on the event loop. */
#ifndef KERNELBOX_BACKEND_H
#define KERNELBOX_BACKEND_H

#include <json-c/json.h>
#include <stddef.h>

#define BACKEND_ID_MAX 80     /* container ids are 64 hex digits */
#define BACKEND_ERR_MAX 512

/* Errors, beside -ENOMEM:
 *   -EHOSTUNREACH  the engine does not answer (socket missing, refused, timed out)
 *   -ENOENT        no such container or image
 *   -EEXIST        a container of that name exists
 *   -EIO           the engine answered with an error; the message says which */

/* Everything that makes one hardened kernel container. */
struct backend_kernel_spec {
    const char *image;
    const char *container_name;
    const char *session_dir;  /* host path bind-mounted at BACKEND_KERNEL_DIR */
    const char *session_name; /* label kernelbox.session */
    const char *kernel_id;    /* label kernelbox.kernel_id */
    const char *tenant;       /* label kernelbox.tenant ("" for a warm kernel) */
    const char *instance;     /* label kernelbox.daemon: which daemon owns it */
    const char *user;         /* "uid:gid" */
    const char *seccomp_json; /* profile content */
    const char *runtime;      /* OCI runtime; "" for the engine's default */
    json_object *env;         /* the session's variables (object of strings), or NULL */
    const char *network;      /* a network to join instead of none (egress), or NULL */
    long long memory_bytes;
    double cpus;
    long pids_limit;
    long long tmpfs_bytes;
};

#define BACKEND_KERNEL_DIR "/kernelbox"          /* the session directory, inside */
#define BACKEND_WORK_DIR "/home/sandbox"         /* the kernel's working directory (tmpfs) */
#define BACKEND_CONNECTION_FILE "kernel.json"    /* read and removed by the launcher */

/* One container event from the engine. */
struct backend_event {
    char id[BACKEND_ID_MAX];
    char action[16];    /* "die", "oom", ... ; "connected" when the stream opens */
    int exit_code;      /* for "die" */
    long long time_ns;  /* when the engine saw it */
};

/* Called on the watching thread for every event; a nonzero return stops the stream. */
typedef int (*backend_event_fn)(void *arg, const struct backend_event *ev);

struct backend;

struct backend_ops {
    /* Check that the engine answers, the image exists (-ENOENT otherwise) and the runtime
     * (when not "") is one the engine knows (-ENOTSUP otherwise). */
    int (*check)(struct backend *b, const char *image, const char *runtime, char *err,
                 size_t errlen);
    /* Create (not start) a container; writes its id into id[BACKEND_ID_MAX]. */
    int (*create)(struct backend *b, const struct backend_kernel_spec *spec, char *id,
                  char *err, size_t errlen);
    int (*start)(struct backend *b, const char *id, char *err, size_t errlen);
    /* Send a signal such as "SIGKILL" or "SIGINT"; a stopped container is not an error. */
    int (*kill)(struct backend *b, const char *id, const char *signal, char *err,
                size_t errlen);
    /* Kill a container and wait until it has stopped; a stopped container is not an error. */
    int (*stop)(struct backend *b, const char *id, char *err, size_t errlen);
    /* Remove a container and its anonymous volumes, stopping it first; a missing container is
     * not an error. */
    int (*remove)(struct backend *b, const char *id, char *err, size_t errlen);
    /* List containers carrying label key=value (value NULL: any value); *out is a JSON array
     * of the engine's summaries. */
    int (*list)(struct backend *b, const char *label, json_object **out, char *err,
                size_t errlen);
    /* Make sure the network name exists (a bridge whose containers cannot reach each other),
     * labelled for this daemon; create it when missing. */
    int (*network_ensure)(struct backend *b, const char *name, const char *instance, char *err,
                          size_t errlen);
    /* Remove a network; a missing one is not an error. */
    int (*network_remove)(struct backend *b, const char *name, char *err, size_t errlen);
    /* Give a container a new name. */
    int (*rename)(struct backend *b, const char *id, const char *name, char *err,
                  size_t errlen);
    /* Inspect one container; *out is the engine's JSON. */
    int (*inspect)(struct backend *b, const char *id, json_object **out, char *err,
                   size_t errlen);
    /* Stream die and oom events of containers carrying label (key=value) to fn until fn
     * returns nonzero, *stop becomes nonzero (checked about once a second) or the stream
     * breaks. Returns 0 when stopped, or the error that broke the stream. */
    int (*events)(struct backend *b, const char *label, backend_event_fn fn, void *arg,
                  const volatile int *stop, char *err, size_t errlen);
};

struct backend {
    const struct backend_ops *ops;
};

/* Make a backend for the Docker Engine at socket_path. Returns NULL on failure. */
struct backend *docker_backend_new(const char *socket_path);
void docker_backend_free(struct backend *b);

/* Build the engine's container-create JSON for spec (exposed for unit tests). Returns a new
 * reference or NULL. */
json_object *docker_kernel_spec_json(const struct backend_kernel_spec *spec);

#endif
