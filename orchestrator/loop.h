/* The daemon's one event loop: epoll over file descriptors, absolute-deadline timers in a
 * heap, callbacks posted from other threads, and work deferred to the end of an iteration. */
#ifndef KERNELBOX_LOOP_H
#define KERNELBOX_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/list.h"

struct loop;

typedef void (*loop_io_fn)(void *arg, uint32_t events);

/* A watched descriptor; embed it in the owner and keep it alive while registered. */
struct loop_io {
    int fd;
    loop_io_fn fn;
    void *arg;
};

struct loop_timer;
typedef void (*loop_timer_fn)(struct loop_timer *timer);

/* A one-shot timer; embed it in the owner. */
struct loop_timer {
    uint64_t deadline_ms; /* monotonic */
    size_t heap_index;    /* 0 when not armed */
    loop_timer_fn fn;
};

/* Work run on the loop thread after the current iteration's events (a safe point). */
struct loop_defer {
    struct list_node node;
    void (*fn)(struct loop_defer *d);
};

/* Create a loop. Returns NULL on failure. */
struct loop *loop_new(void);

/* Run the work still deferred, then free the loop; registered descriptors are not closed.
 * NULL is a no-op. */
void loop_free(struct loop *loop);

/* Watch io->fd for events (EPOLLIN, EPOLLOUT; level-triggered). Returns 0 or -errno. */
int loop_io_add(struct loop *loop, struct loop_io *io, uint32_t events);

/* Change the events watched for io->fd. Returns 0 or -errno. */
int loop_io_mod(struct loop *loop, struct loop_io *io, uint32_t events);

/* Stop watching io->fd. */
void loop_io_del(struct loop *loop, struct loop_io *io);

/* Prepare a timer; it is not armed. */
void loop_timer_init(struct loop_timer *timer, loop_timer_fn fn);

/* Arm (or re-arm) timer to fire once at deadline_ms on the monotonic clock. */
void loop_timer_start(struct loop *loop, struct loop_timer *timer, uint64_t deadline_ms);

/* Disarm timer; a no-op when it is not armed. */
void loop_timer_stop(struct loop *loop, struct loop_timer *timer);

static inline bool loop_timer_armed(const struct loop_timer *timer)
{
    return timer->heap_index != 0;
}

/* Run d->fn once the current iteration's events are handled. Work deferred from deferred
 * work runs in the same iteration for a few rounds, then after the next wait for events.
 * Deferring a struct that is already queued is a no-op. */
void loop_defer(struct loop *loop, struct loop_defer *d);

/* Call fn(arg) on the loop thread soon. Safe from any thread. Returns 0 or -ENOMEM. */
int loop_post(struct loop *loop, void (*fn)(void *arg), void *arg);

/* Ask for a zero timeout on the next wait (there is more work than one iteration allows). */
void loop_wake_soon(struct loop *loop);

/* Register fn to be called before every wait with the timeout the loop is about to use;
 * it returns a timeout in ms (or -1) that may shorten the wait. One hook only. */
void loop_set_prepare(struct loop *loop, int (*fn)(void *arg), void *arg);

/* Run until loop_stop(); a later call runs again. Returns 0, or -errno if waiting failed. */
int loop_run(struct loop *loop);

/* Make loop_run() return after the current iteration. Safe from any thread. */
void loop_stop(struct loop *loop);

#endif
