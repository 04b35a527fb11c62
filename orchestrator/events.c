/* Follow the Docker Engine's event stream on a thread of its own; reconnect with a growing
 * pause when the engine goes away, and tell the loop when it comes back. */
#include "events.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EVENTS_RETRY_MIN_MS 200
#define EVENTS_RETRY_MAX_MS 3000

struct events {
    struct events_params p;
    char label[160];
    pthread_t thread;
    volatile int stop;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool up; /* as last reported to the loop (this thread's view) */
};

struct engine_note {
    struct events *ev;
    bool up;
    char detail[BACKEND_ERR_MAX];
};

struct event_note {
    struct events *ev;
    struct backend_event event;
};

static void deliver_engine(void *arg)
{
    struct engine_note *n = arg;

    n->ev->p.on_engine(n->ev->p.arg, n->up, n->detail);
    free(n);
}

static void deliver_event(void *arg)
{
    struct event_note *n = arg;

    n->ev->p.on_event(n->ev->p.arg, &n->event);
    free(n);
}

static void report_engine(struct events *ev, bool up, const char *detail)
{
    struct engine_note *n;

    if (ev->up == up)
        return;
    ev->up = up;
    n = calloc(1, sizeof(*n));
    if (n == NULL)
        return;
    n->ev = ev;
    n->up = up;
    snprintf(n->detail, sizeof(n->detail), "%s", detail);
    if (loop_post(ev->p.loop, deliver_engine, n) < 0)
        free(n);
}

static int on_stream_event(void *arg, const struct backend_event *e)
{
    struct events *ev = arg;
    struct event_note *n;

    if (strcmp(e->action, "connected") == 0) {
        report_engine(ev, true, "");
        return ev->stop;
    }
    n = calloc(1, sizeof(*n));
    if (n == NULL)
        return ev->stop;
    n->ev = ev;
    n->event = *e;
    if (loop_post(ev->p.loop, deliver_event, n) < 0)
        free(n);
    return ev->stop;
}

/* Sleep ms unless asked to stop first. */
static void pause_ms(struct events *ev, int ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ev->lock);
    while (!ev->stop) {
        if (pthread_cond_timedwait(&ev->cond, &ev->lock, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&ev->lock);
}

static void *watch(void *arg)
{
    struct events *ev = arg;
    int retry = EVENTS_RETRY_MIN_MS;

    /* Until the first answer the engine counts as up: start-up already checked it. */
    ev->up = true;
    while (!ev->stop) {
        char err[BACKEND_ERR_MAX] = "";
        int rc = ev->p.backend->ops->events(ev->p.backend, ev->label, on_stream_event, ev,
                                            &ev->stop, err, sizeof(err));

        if (ev->stop)
            break;
        if (rc < 0)
            report_engine(ev, false, err);
        else
            retry = EVENTS_RETRY_MIN_MS;
        pause_ms(ev, retry);
        retry = retry * 2 > EVENTS_RETRY_MAX_MS ? EVENTS_RETRY_MAX_MS : retry * 2;
    }
    return NULL;
}

struct events *events_start(const struct events_params *p)
{
    struct events *ev = calloc(1, sizeof(*ev));

    if (ev == NULL)
        return NULL;
    ev->p = *p;
    snprintf(ev->label, sizeof(ev->label), "%s", p->label);
    pthread_mutex_init(&ev->lock, NULL);
    pthread_cond_init(&ev->cond, NULL);
    if (pthread_create(&ev->thread, NULL, watch, ev) != 0) {
        pthread_cond_destroy(&ev->cond);
        pthread_mutex_destroy(&ev->lock);
        free(ev);
        return NULL;
    }
    return ev;
}

void events_stop(struct events *ev)
{
    if (ev == NULL)
        return;
    pthread_mutex_lock(&ev->lock);
    ev->stop = 1;
    pthread_cond_broadcast(&ev->cond);
    pthread_mutex_unlock(&ev->lock);
    pthread_join(ev->thread, NULL);
    pthread_cond_destroy(&ev->cond);
    pthread_mutex_destroy(&ev->lock);
    free(ev);
}
