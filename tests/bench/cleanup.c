/* The benchmark's cleanup list. A dedicated thread takes SIGINT/SIGTERM/SIGHUP (blocked in
 * every other thread), so the sweep runs in an ordinary thread context, never inside a
 * signal handler. */
#include "cleanup.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "util/fs.h"
#include "util/text.h"

#define CLEANUP_MAX 32
#define CLEANUP_WORKERS 4
#define CLEANUP_ENGINE_WAIT_MS 70000 /* longer than one engine call may take */

struct pid_entry {
    pid_t pid;
    int timeout_s;
};

static struct {
    pthread_mutex_t lock;
    pthread_mutex_t run_lock;
    struct backend *backend;
    char *dirs[CLEANUP_MAX];
    int ndirs;
    char *instances[CLEANUP_MAX];
    int ninstances;
    struct pid_entry pids[CLEANUP_MAX];
    int npids;
    atomic_int in_flight;
    atomic_bool stopping;
    atomic_bool interrupted;
    bool done;
    int result;
} cl = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .run_lock = PTHREAD_MUTEX_INITIALIZER,
};

static void add_string(char **list, int *n, const char *s)
{
    pthread_mutex_lock(&cl.lock);
    if (*n < CLEANUP_MAX)
        list[(*n)++] = strdup(s);
    pthread_mutex_unlock(&cl.lock);
}

void cleanup_add_dir(const char *path)
{
    add_string(cl.dirs, &cl.ndirs, path);
}

void cleanup_add_instance(const char *instance)
{
    add_string(cl.instances, &cl.ninstances, instance);
}

void cleanup_add_pid(pid_t pid, int timeout_s)
{
    pthread_mutex_lock(&cl.lock);
    if (cl.npids < CLEANUP_MAX)
        cl.pids[cl.npids++] = (struct pid_entry){pid, timeout_s};
    pthread_mutex_unlock(&cl.lock);
}

static void forget_pid(pid_t pid)
{
    pthread_mutex_lock(&cl.lock);
    for (int i = 0; i < cl.npids; i++) {
        if (cl.pids[i].pid == pid) {
            cl.pids[i] = cl.pids[--cl.npids];
            break;
        }
    }
    pthread_mutex_unlock(&cl.lock);
}

int cleanup_stop_pid(pid_t pid, int timeout_s)
{
    uint64_t deadline = now_ms() + (uint64_t)timeout_s * 1000;
    bool killed = false;
    int status = -1;

    kill(pid, SIGTERM);
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            status = -1; /* reaped elsewhere */
            break;
        }
        if (!killed && now_ms() >= deadline) {
            fprintf(stderr, "kbbench: daemon %d did not stop within %d s; killing it\n", (int)pid,
                    timeout_s);
            kill(pid, SIGKILL);
            killed = true;
        }
        usleep(20000);
    }
    forget_pid(pid);
    return status;
}

bool cleanup_engine_enter(void)
{
    atomic_fetch_add(&cl.in_flight, 1);
    if (atomic_load(&cl.stopping)) {
        atomic_fetch_sub(&cl.in_flight, 1);
        return false;
    }
    return true;
}

void cleanup_engine_leave(void)
{
    atomic_fetch_sub(&cl.in_flight, 1);
}

bool cleanup_interrupted(void)
{
    return atomic_load(&cl.interrupted);
}

/* ---- removing containers by label ----------------------------------------------------- */

struct sweep {
    json_object *ids; /* array of strings */
    atomic_size_t next;
    atomic_int failed;
};

static void *sweep_worker(void *arg)
{
    struct sweep *sw = arg;
    char err[BACKEND_ERR_MAX];

    for (;;) {
        size_t i = atomic_fetch_add(&sw->next, 1);
        const char *id;

        if (i >= json_object_array_length(sw->ids))
            break;
        id = json_object_get_string(json_object_array_get_idx(sw->ids, i));
        if (cl.backend->ops->remove(cl.backend, id, err, sizeof(err)) < 0) {
            fprintf(stderr, "kbbench: cannot remove container %.12s: %s\n", id, err);
            atomic_fetch_add(&sw->failed, 1);
        }
    }
    return NULL;
}

/* Ids of the containers labelled kernelbox.daemon=instance, as a new JSON array, or NULL
 * when the engine cannot say. */
static json_object *list_instance(const char *instance)
{
    char label[128], err[BACKEND_ERR_MAX];
    json_object *summaries = NULL, *ids;

    snprintf(label, sizeof(label), "kernelbox.daemon=%s", instance);
    if (cl.backend->ops->list(cl.backend, label, &summaries, err, sizeof(err)) < 0) {
        fprintf(stderr, "kbbench: cannot list containers %s: %s\n", label, err);
        return NULL;
    }
    ids = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(summaries); i++) {
        json_object *id = NULL;

        if (json_object_object_get_ex(json_object_array_get_idx(summaries, i), "Id", &id))
            json_object_array_add(ids, json_object_get(id));
    }
    json_object_put(summaries);
    return ids;
}

/* Remove every container of the recorded instances. Returns the number not removed. */
static int sweep_containers(void)
{
    struct sweep sw;
    pthread_t th[CLEANUP_WORKERS];
    int nth = 0, failed = 0;

    sw.ids = json_object_new_array();
    atomic_init(&sw.next, 0);
    atomic_init(&sw.failed, 0);
    for (int i = 0; i < cl.ninstances; i++) {
        json_object *ids = list_instance(cl.instances[i]);

        if (ids == NULL) {
            failed++;
            continue;
        }
        for (size_t j = 0; j < json_object_array_length(ids); j++)
            json_object_array_add(sw.ids, json_object_get(json_object_array_get_idx(ids, j)));
        json_object_put(ids);
    }
    if (json_object_array_length(sw.ids) > 0)
        fprintf(stderr, "kbbench: removing %zu container(s)\n", json_object_array_length(sw.ids));
    for (int i = 0; i < CLEANUP_WORKERS; i++) {
        if (pthread_create(&th[nth], NULL, sweep_worker, &sw) == 0)
            nth++;
    }
    if (nth == 0)
        sweep_worker(&sw);
    for (int i = 0; i < nth; i++)
        pthread_join(th[i], NULL);
    failed += atomic_load(&sw.failed);
    json_object_put(sw.ids);
    return failed;
}

int cleanup_run(void)
{
    struct pid_entry pids[CLEANUP_MAX];
    uint64_t deadline;
    int npids, problems = 0;

    pthread_mutex_lock(&cl.run_lock);
    if (cl.done) {
        pthread_mutex_unlock(&cl.run_lock);
        return cl.result;
    }
    atomic_store(&cl.stopping, true);
    /* Let the container calls in flight finish, so that what they make is swept too. */
    deadline = now_ms() + CLEANUP_ENGINE_WAIT_MS;
    while (atomic_load(&cl.in_flight) > 0 && now_ms() < deadline)
        usleep(10000);

    pthread_mutex_lock(&cl.lock);
    npids = cl.npids;
    memcpy(pids, cl.pids, sizeof(pids));
    pthread_mutex_unlock(&cl.lock);
    /* Every daemon stops at once (each removes its own sessions); then wait for each. */
    for (int i = 0; i < npids; i++)
        kill(pids[i].pid, SIGTERM);
    for (int i = 0; i < npids; i++)
        cleanup_stop_pid(pids[i].pid, pids[i].timeout_s);

    if (cl.backend != NULL)
        problems += sweep_containers();
    for (int i = 0; i < cl.ndirs; i++) {
        int rc = fs_remove_tree(cl.dirs[i]);

        if (rc < 0) {
            fprintf(stderr, "kbbench: cannot remove %s: %s\n", cl.dirs[i], strerror(-rc));
            problems++;
        }
    }
    cl.done = true;
    cl.result = problems > 0 ? -1 : 0;
    pthread_mutex_unlock(&cl.run_lock);
    return cl.result;
}

int cleanup_verify(void)
{
    struct stat st;
    int left = 0;

    for (int i = 0; i < cl.ninstances; i++) {
        json_object *ids = list_instance(cl.instances[i]);

        if (ids == NULL) {
            left++;
            continue;
        }
        for (size_t j = 0; j < json_object_array_length(ids); j++) {
            fprintf(stderr, "kbbench: left behind: container %.12s (kernelbox.daemon=%s)\n",
                    json_object_get_string(json_object_array_get_idx(ids, j)), cl.instances[i]);
            left++;
        }
        json_object_put(ids);
    }
    for (int i = 0; i < cl.ndirs; i++) {
        if (lstat(cl.dirs[i], &st) == 0) {
            fprintf(stderr, "kbbench: left behind: %s\n", cl.dirs[i]);
            left++;
        }
    }
    return left;
}

/* ---- signals --------------------------------------------------------------------------- */

static void *signal_thread(void *arg)
{
    sigset_t *set = arg;
    int sig = 0;

    while (sigwait(set, &sig) != 0)
        ;
    atomic_store(&cl.interrupted, true);
    fprintf(stderr,
            "\nkbbench: %s: stopping the daemons and removing what the benchmark "
            "made (this takes a few seconds)\n",
            strsignal(sig));
    cleanup_run();
    _exit(128 + sig);
    return NULL;
}

static void at_exit(void)
{
    cleanup_run();
}

int cleanup_init(struct backend *b)
{
    static sigset_t set;
    pthread_t th;
    int rc;

    cl.backend = b;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (rc != 0)
        return -rc;
    /* A write to a connection the daemon closed is an error to report, not a death. */
    signal(SIGPIPE, SIG_IGN);
    rc = pthread_create(&th, NULL, signal_thread, &set);
    if (rc != 0)
        return -rc;
    pthread_detach(th);
    if (atexit(at_exit) != 0)
        return -ENOMEM;
    return 0;
}
