/* Internals shared by session.c (registry, lifecycle, executions) and recover.c (re-adoption,
 * engine events, reaping). Nothing outside these two files includes this header. */
#ifndef KERNELBOX_SESSION_INT_H
#define KERNELBOX_SESSION_INT_H

#include "kernel.h"
#include "request.h"
#include "result.h"
#include "secret.h"
#include "session.h"
#include "tenant.h"
#include "util/buf.h"

#define SHORT_ID_LEN 12
#define KERNEL_ID_LEN 32
#define HANDSHAKE_RESEND_MS 1000
#define HANDSHAKE_IOPUB_RESEND_MS 20
#define IDLE_AFTER_REPLY_MS 2000 /* how long to wait for "idle" once the reply is in */
#define HEARTBEAT_INTERVAL_MS 1000
#define HEARTBEAT_MISSES 10
/* How long a non-streaming execution's iopub may stay unread waiting for its reply. The
 * kernel's output meanwhile waits in the socket and its own queue; most executions reply
 * within this, the rest are read as usual once it runs out. */
#define EXEC_IOPUB_DEFER_MS 20
/* Output held between executions (see struct session's late): at most this many bytes of
 * text, in records with a head of a name byte and a uint32_t length. */
#define LATE_OUTPUT_MAX (64 * 1024)
#define LATE_RECORD_HEAD 5
#define ADOPT_TIMEOUT_S 10.0 /* a kernel found running answers at once or not at all */

enum session_state { ST_STARTING, ST_READY, ST_RESTARTING, ST_DEAD, ST_REMOVING };
enum lc_op { LC_CREATE, LC_RESTART, LC_REMOVE };

struct lifecycle {
    struct work work;
    struct session *s;
    enum lc_op op;
    char key[SECRET_KEY_HEX + 1];
    char container_id[BACKEND_ID_MAX];
    long long start_ns; /* wall clock just before the container was started */
    long create_ms;     /* how long the engine took to create the container */
    long start_ms;      /* ... and to start it */
    int rc;
    char err[BACKEND_ERR_MAX];
};

struct exec {
    bool active;
    struct session_job *job; /* NULL while the startup code runs */
    struct kernel_request req;
    struct result *result;
    json_object *attempts;
    int attempt;
    const char *code;
    uint64_t started_us;
    struct loop_timer deadline;
    struct loop_timer grace;
    struct loop_timer idle_wait;
    bool got_reply;
    bool got_idle;
    bool timed_out;
    bool restarted;       /* the kernel was replaced during this job */
    bool awaiting_kernel; /* next attempt waits for a fresh kernel */
    bool abandoned;       /* its client went away: finish quietly */
    bool fileop;          /* a files API operation (files.c), not an execution */
    uint64_t file_offset; /* bytes of the file done */
    size_t file_chunk;    /* bytes in the chunk in flight (writes) */
    struct session_job orphan; /* stands in for an abandoned job until the end */
    char orphan_request_id[SESSION_REQUEST_ID_MAX + 1]; /* its request id, for the log */
};

struct delete_batch {
    struct session_job *job;
    int remaining;
    json_object *ids;
    int first_error;
    char detail[SESSION_DETAIL_MAX];
};

struct session {
    struct session_registry *reg;
    struct list_node node;
    char kernel_id[KERNEL_ID_LEN + 1];
    char short_id[SHORT_ID_LEN + 1];
    char *name;
    char *session_name;
    json_object *tags;
    double created_at;
    double last_used_at;
    long attempt_count;
    long restarts;
    unsigned long generation; /* start number: selects the derived key */
    long long start_ns;       /* when the running container was started (engine events) */
    long long oom_ns;         /* when the engine last reported an OOM kill in it */
    bool adopting;            /* a kernel found running at start-up, being reconnected */
    bool pooled;              /* a warm kernel waiting in reg->pool for a session */
    struct tenant *tenant;    /* whose session it is; NULL while pooled */
    /* How its container is made: the daemon's defaults unless the session asked otherwise. */
    long long memory;
    double cpus;
    long pids;
    long long tmpfs;
    json_object *env;     /* object of strings, or NULL */
    char *startup_code;   /* run after KERNELBOX_STARTUP_CODE, or NULL */
    bool egress;
    uint64_t start_begin_us;  /* when the current start began, for the ready log */
    long create_ms;           /* engine time of the current start */
    long engine_start_ms;
    enum session_state state;
    char dead_reason[SESSION_DETAIL_MAX];
    char container_id[BACKEND_ID_MAX];
    char dir[CONFIG_RUNTIME_DIR_MAX + 2 + SHORT_ID_LEN];
    struct kernel *kernel;
    bool hb_ok;

    int hs_phase; /* 0 idle, 1 kernel_info, 2 startup code */
    struct kernel_request hs_req;
    bool hs_reply;
    bool hs_iopub;
    struct loop_timer hs_timeout;
    struct loop_timer hs_resend;

    struct lifecycle lc;
    bool lc_busy;
    bool remove_pending;
    struct list_node queue;       /* executions, in arrival order */
    struct list_node waiters;     /* jobs answered with the kernel object once ready */
    struct list_node delete_jobs; /* jobs answered once the container is gone */
    struct delete_batch *batch;
    struct exec exec;
    /* Output the kernel published while no execution could take it (a thread that outlived
     * its cell): records of a name byte ('o', 'e'), a uint32_t length and the text, held for
     * the next execution; late_cut when some did not fit. */
    struct buf late;
    size_t late_text; /* bytes of text in late */
    bool late_cut;
    bool restart_unreported;
    struct loop_defer kick;
};

struct session_registry {
    struct session_registry_params p;
    const struct config *cfg;
    struct list_node live;
    struct list_node pool;  /* warm kernels, not yet anyone's session */
    struct list_node dying;
    int nlive;
    int npool;
    struct loop_timer pool_timer; /* refill after a failed start, with a growing pause */
    uint64_t pool_backoff_ms;
    bool shutting_down; /* no new work is accepted */
    bool drained;       /* what still waited at the end of the grace was answered */
    bool remove_on_shutdown;
    void (*shutdown_done)(void *arg);
    void *shutdown_arg;
    struct loop_defer shutdown_check;
    struct loop_timer shutdown_deadline;
    bool engine_up;
    bool engine_was_down; /* reconcile with the engine once it answers again */
    char engine_detail[BACKEND_ERR_MAX];
    struct loop_timer reaper;
};


/* Complete job at the loop's next safe point (never inside the caller's call). */
void session_job_complete(struct session_registry *reg, struct session_job *job, int error,
                          json_object *body, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Allocate a session in state STARTING and link it into the registry (into the warm pool
 * when pooled); nothing is started. */
struct session *session_alloc(struct session_registry *reg, struct tenant *tenant,
                              const char *kernel_id, const char *short_id, const char *name,
                              const char *session_name, json_object *tags);

/* Take the settings (borrowed) for a session not started yet. Returns 0 or -ENOMEM. */
int session_apply_settings(struct session *s, const struct request_settings *st);

/* Whether s was made with the daemon's defaults (so a warm kernel can stand in for it). */
bool session_default_settings(const struct request_settings *st);

/* Record the metadata of a freshly allocated session and create its container. */
void session_start_new(struct session *s);

/* Any session or warm kernel with this kernel id, whatever its tenant. */
struct session *session_find_any(struct session_registry *reg, const char *kernel_id);

/* Unlink and free s at once (its kernel connection too). */
void session_destroy(struct session *s);

/* Take s out of the registry and remove its container, directory and metadata. */
void session_begin_remove(struct session *s);

/* Replace the kernel in the same container: stop it, next key, start, handshake. */
void session_restart_kernel(struct session *s);

/* The kernel is gone: fail what it ran, remember why; the next execute restarts it. */
void session_kernel_died(struct session *s, const char *reason);

/* Starting (or restarting) s failed: fail everyone waiting; a session that never started is
 * removed, one that ran before is left dead. */
void session_start_failed(struct session *s, int error, const char *detail);

/* Connect to the kernel of s (key of s->generation) and wait until it answers. */
void session_handshake_begin(struct session *s);

/* Record what re-adoption needs in the session's metadata file. */
void session_save_meta(struct session *s);

/* Re-check whether a shutdown in progress can move on. */
void session_shutdown_poke(struct session_registry *reg);

/* The reaper's timer (recover.c): remove sessions idle or older than the configured limits. */
void session_on_reaper(struct loop_timer *t);

/* The running job (an execution or a file operation) is over: start the next one. */
void session_exec_done(struct session *s);

/* Files API (files.c): run job's file operation on s's kernel; end it early with an error. */
void files_start(struct session *s, struct session_job *job);
void files_abort(struct session *s, int error, const char *detail);
void files_timeout(struct session *s);

/* Warm pool (pool.c). */
void pool_init(struct session_registry *reg);
/* Start kernels until the pool holds KERNELBOX_POOL_SIZE (ready or starting). */
void pool_fill(struct session_registry *reg);
/* A pool kernel failed or died: remove it and refill after a growing pause. */
void pool_lost(struct session *s, const char *why);
/* Hand a ready pool kernel to a new session; NULL when none is ready. */
struct session *pool_take(struct session_registry *reg, struct tenant *tenant,
                          const char *name, const char *session_name, json_object *tags);
/* Rename a kernel's container after its session, for people reading `docker ps`. */
void pool_rename(struct session *s);

/* Output on iopub that is no execution's own: what a thread prints after its cell has
 * answered, or while a file operation runs. Only streams are kept: a late result, error or
 * display belongs to a cell that has already answered. The running execution takes it;
 * otherwise it waits (up to LATE_OUTPUT_MAX) for the next one. */
void session_stray(struct session *s, struct wire_msg *msg);

#endif
