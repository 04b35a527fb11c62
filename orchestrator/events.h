/* A thread that follows the Docker Engine's event stream (container die and oom) and reports
 * each event, and whether the engine answers at all, to the event loop. */
#ifndef KERNELBOX_EVENTS_H
#define KERNELBOX_EVENTS_H

#include <stdbool.h>

#include "backend.h"
#include "loop.h"

struct events_params {
    struct backend *backend;
    struct loop *loop;
    const char *label; /* key=value every watched container carries */
    /* Both called on the loop thread. */
    void (*on_event)(void *arg, const struct backend_event *ev);
    void (*on_engine)(void *arg, bool up, const char *detail);
    void *arg;
};

struct events;

/* Start watching. Returns NULL on failure. */
struct events *events_start(const struct events_params *p);

/* Stop the thread (within about a second) and free it. NULL is a no-op. */
void events_stop(struct events *ev);

#endif
