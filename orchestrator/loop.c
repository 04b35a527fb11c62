/* The daemon's one event loop: epoll, a timer heap, posted callbacks, deferred work. */
#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "util/text.h"

#define LOOP_MAX_EVENTS 128
#define LOOP_MAX_TIMERS_PER_ITERATION 256
#define LOOP_DEFER_ROUNDS 4

struct posted {
    struct posted *next;
    void (*fn)(void *arg);
    void *arg;
};

struct loop {
    int epfd;
    int wakefd;
    struct loop_io wake_io;
    struct loop_timer **heap; /* 1-based binary min-heap */
    size_t heap_len;
    size_t heap_cap;
    struct list_node deferred;
    pthread_mutex_t posted_lock;
    struct posted *posted_head;
    struct posted *posted_tail;
    atomic_bool has_posted; /* posted_head != NULL, readable without the lock */
    atomic_bool stopping;
    bool wake_soon;
    int (*prepare)(void *arg);
    void *prepare_arg;
};

static void heap_swap(struct loop *loop, size_t a, size_t b)
{
    struct loop_timer *t = loop->heap[a];

    loop->heap[a] = loop->heap[b];
    loop->heap[b] = t;
    loop->heap[a]->heap_index = a;
    loop->heap[b]->heap_index = b;
}

static void heap_up(struct loop *loop, size_t i)
{
    while (i > 1 && loop->heap[i / 2]->deadline_ms > loop->heap[i]->deadline_ms) {
        heap_swap(loop, i, i / 2);
        i /= 2;
    }
}

static void heap_down(struct loop *loop, size_t i)
{
    for (;;) {
        size_t l = 2 * i, r = l + 1, m = i;

        if (l <= loop->heap_len && loop->heap[l]->deadline_ms < loop->heap[m]->deadline_ms)
            m = l;
        if (r <= loop->heap_len && loop->heap[r]->deadline_ms < loop->heap[m]->deadline_ms)
            m = r;
        if (m == i)
            return;
        heap_swap(loop, i, m);
        i = m;
    }
}

static void drain_wake(void *arg, uint32_t events)
{
    struct loop *loop = arg;
    uint64_t n;

    (void)events;
    if (read(loop->wakefd, &n, sizeof(n)) < 0) {
        /* EAGAIN: another wake-up already drained it. */
    }
}

struct loop *loop_new(void)
{
    struct loop *loop = calloc(1, sizeof(*loop));

    if (loop == NULL)
        return NULL;
    loop->epfd = -1;
    loop->wakefd = -1;
    list_init(&loop->deferred);
    pthread_mutex_init(&loop->posted_lock, NULL);
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    loop->heap_cap = 64;
    /* An array of pointers. NOLINTNEXTLINE(bugprone-sizeof-expression) */
    loop->heap = calloc(loop->heap_cap + 1, sizeof(*loop->heap));
    if (loop->epfd < 0 || loop->wakefd < 0 || loop->heap == NULL)
        goto error;
    loop->wake_io.fd = loop->wakefd;
    loop->wake_io.fn = drain_wake;
    loop->wake_io.arg = loop;
    if (loop_io_add(loop, &loop->wake_io, EPOLLIN) < 0)
        goto error;
    return loop;

error:
    loop_free(loop);
    return NULL;
}

static void run_deferred(struct loop *loop);

void loop_free(struct loop *loop)
{
    struct posted *p, *next;

    if (loop == NULL)
        return;
    /* Deferred work is still owed, such as the free of a kernel closed after the last run. */
    run_deferred(loop);
    for (p = loop->posted_head; p != NULL; p = next) {
        next = p->next;
        free(p);
    }
    if (loop->epfd >= 0)
        close(loop->epfd);
    if (loop->wakefd >= 0)
        close(loop->wakefd);
    pthread_mutex_destroy(&loop->posted_lock);
    free(loop->heap);
    free(loop);
}

static int io_ctl(struct loop *loop, int op, struct loop_io *io, uint32_t events)
{
    struct epoll_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.events = events;
    ev.data.ptr = io;
    if (epoll_ctl(loop->epfd, op, io->fd, &ev) < 0)
        return -errno;
    return 0;
}

int loop_io_add(struct loop *loop, struct loop_io *io, uint32_t events)
{
    return io_ctl(loop, EPOLL_CTL_ADD, io, events);
}

int loop_io_mod(struct loop *loop, struct loop_io *io, uint32_t events)
{
    return io_ctl(loop, EPOLL_CTL_MOD, io, events);
}

void loop_io_del(struct loop *loop, struct loop_io *io)
{
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

void loop_timer_init(struct loop_timer *timer, loop_timer_fn fn)
{
    timer->deadline_ms = 0;
    timer->heap_index = 0;
    timer->fn = fn;
}

void loop_timer_start(struct loop *loop, struct loop_timer *timer, uint64_t deadline_ms)
{
    if (timer->heap_index != 0) {
        uint64_t old = timer->deadline_ms;

        timer->deadline_ms = deadline_ms;
        if (deadline_ms < old)
            heap_up(loop, timer->heap_index);
        else
            heap_down(loop, timer->heap_index);
        return;
    }
    if (loop->heap_len == loop->heap_cap) {
        size_t cap = loop->heap_cap * 2;
        /* An array of pointers. NOLINTNEXTLINE(bugprone-sizeof-expression) */
        struct loop_timer **heap = realloc(loop->heap, (cap + 1) * sizeof(*heap));

        if (heap == NULL)
            abort(); /* a timer that silently never fires would hang a client forever */
        loop->heap = heap;
        loop->heap_cap = cap;
    }
    timer->deadline_ms = deadline_ms;
    loop->heap[++loop->heap_len] = timer;
    timer->heap_index = loop->heap_len;
    heap_up(loop, loop->heap_len);
}

void loop_timer_stop(struct loop *loop, struct loop_timer *timer)
{
    size_t i = timer->heap_index;

    if (i == 0)
        return;
    if (i != loop->heap_len) {
        heap_swap(loop, i, loop->heap_len);
        loop->heap_len--;
        heap_up(loop, i);
        heap_down(loop, i);
    } else {
        loop->heap_len--;
    }
    timer->heap_index = 0;
}

void loop_defer(struct loop *loop, struct loop_defer *d)
{
    if (list_node_linked(&d->node))
        return;
    list_push_back(&loop->deferred, &d->node);
}

static void wake(struct loop *loop)
{
    uint64_t one = 1;

    if (write(loop->wakefd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is saturated, so a wake-up is pending anyway. */
    }
}

int loop_post(struct loop *loop, void (*fn)(void *arg), void *arg)
{
    struct posted *p = malloc(sizeof(*p));

    if (p == NULL)
        return -ENOMEM;
    p->next = NULL;
    p->fn = fn;
    p->arg = arg;
    pthread_mutex_lock(&loop->posted_lock);
    if (loop->posted_tail != NULL)
        loop->posted_tail->next = p;
    else
        loop->posted_head = p;
    loop->posted_tail = p;
    atomic_store(&loop->has_posted, true);
    pthread_mutex_unlock(&loop->posted_lock);
    wake(loop);
    return 0;
}

void loop_wake_soon(struct loop *loop)
{
    loop->wake_soon = true;
}

void loop_set_prepare(struct loop *loop, int (*fn)(void *arg), void *arg)
{
    loop->prepare = fn;
    loop->prepare_arg = arg;
}

void loop_stop(struct loop *loop)
{
    atomic_store(&loop->stopping, true);
    wake(loop);
}

static void run_posted(struct loop *loop)
{
    struct posted *p, *next;

    /* Most iterations have nothing posted: no lock for them. A post that lands right after
     * this look has also written the eventfd, so the next epoll_wait() returns at once. */
    if (!atomic_load(&loop->has_posted))
        return;
    pthread_mutex_lock(&loop->posted_lock);
    p = loop->posted_head;
    loop->posted_head = NULL;
    loop->posted_tail = NULL;
    atomic_store(&loop->has_posted, false);
    pthread_mutex_unlock(&loop->posted_lock);
    for (; p != NULL; p = next) {
        next = p->next;
        p->fn(p->arg);
        free(p);
    }
}

static void run_timers(struct loop *loop)
{
    uint64_t now = now_ms();

    for (int n = 0; n < LOOP_MAX_TIMERS_PER_ITERATION && loop->heap_len > 0; n++) {
        struct loop_timer *t = loop->heap[1];

        if (t->deadline_ms > now)
            return;
        loop_timer_stop(loop, t);
        t->fn(t);
    }
    if (loop->heap_len > 0 && loop->heap[1]->deadline_ms <= now)
        loop->wake_soon = true;
}

/* Run what is deferred now; what this defers in turn waits for the next batch. */
static void run_batch(struct loop *loop)
{
    struct list_node batch;

    list_init(&batch);
    if (list_empty(&loop->deferred))
        return;
    batch.next = loop->deferred.next;
    batch.prev = loop->deferred.prev;
    batch.next->prev = &batch;
    batch.prev->next = &batch;
    list_init(&loop->deferred);
    while (!list_empty(&batch)) {
        struct list_node *node = list_first(&batch);
        struct loop_defer *d = LIST_CONTAINER(node, struct loop_defer, node);

        list_remove(node);
        d->fn(d);
    }
}

/* A finished execution hands its result on through a few deferred steps (reply read, result
 * delivered, connection resumed): they run in this iteration, up to LOOP_DEFER_ROUNDS
 * batches, rather than costing one more epoll_wait() each. Work that keeps deferring itself
 * still lets the loop wait for events in between. */
static void run_deferred(struct loop *loop)
{
    for (int round = 0; round < LOOP_DEFER_ROUNDS && !list_empty(&loop->deferred); round++)
        run_batch(loop);
}

static int next_timeout(struct loop *loop)
{
    int timeout = -1;

    if (loop->wake_soon || !list_empty(&loop->deferred))
        return 0;
    if (loop->heap_len > 0) {
        uint64_t now = now_ms(), deadline = loop->heap[1]->deadline_ms;

        timeout = deadline <= now ? 0 : (int)(deadline - now > 60000 ? 60000 : deadline - now);
    }
    if (loop->prepare != NULL) {
        int t = loop->prepare(loop->prepare_arg);

        if (t >= 0 && (timeout < 0 || t < timeout))
            timeout = t;
    }
    return timeout;
}

int loop_run(struct loop *loop)
{
    struct epoll_event events[LOOP_MAX_EVENTS];

    /* The lines one turn logs (a request's and its execution's) go out in one write before
     * the loop waits. */
    log_batch_start();
    while (!atomic_load(&loop->stopping)) {
        int timeout = next_timeout(loop), n;

        loop->wake_soon = false;
        if (timeout != 0)
            log_flush();
        n = epoll_wait(loop->epfd, events, LOOP_MAX_EVENTS, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_batch_stop();
            return -errno;
        }
        for (int i = 0; i < n; i++) {
            struct loop_io *io = events[i].data.ptr;

            io->fn(io->arg, events[i].events);
        }
        run_posted(loop);
        run_timers(loop);
        run_deferred(loop);
    }
    atomic_store(&loop->stopping, false); /* the stop is used up: a later call runs again */
    log_batch_stop();
    return 0;
}
