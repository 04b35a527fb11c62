/* A few threads for blocking calls (the Docker Engine API, file system work), so the event
 * loop never waits on them. A job runs on a worker, then its completion on the loop thread. */
#ifndef KERNELBOX_WORKERS_H
#define KERNELBOX_WORKERS_H

#include "loop.h"

struct work {
    struct work *next;            /* queue link, owned by the pool */
    void (*run)(struct work *w);  /* on a worker thread: must not touch loop-owned state */
    void (*done)(struct work *w); /* on the loop thread, after run */
};

struct workers;

/* Start n threads that report completions to loop. Returns NULL on failure. */
struct workers *workers_new(struct loop *loop, int n);

/* Queue w. Returns 0, or -ESHUTDOWN once workers_free() has begun. */
int workers_submit(struct workers *pool, struct work *w);

/* Number of jobs queued or running. */
int workers_pending(struct workers *pool);

/* Finish the queued jobs, join the threads and free the pool. Completions of jobs that ran
 * are still posted to the loop. NULL is a no-op. */
void workers_free(struct workers *pool);

#endif
