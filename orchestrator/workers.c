/* A fixed pool of threads for blocking calls; completions go back to the event loop. */
#include "workers.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

struct workers {
    struct loop *loop;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct work *head;
    struct work *tail;
    bool stopping;
    atomic_int pending;
    int nthreads;
    pthread_t *threads;
};


static void complete(void *arg)
{
    struct work *w = arg;

    w->done(w);
}

static void *worker_main(void *arg)
{
    struct workers *pool = arg;

    for (;;) {
        struct work *w;

        pthread_mutex_lock(&pool->lock);
        while (pool->head == NULL && !pool->stopping)
            pthread_cond_wait(&pool->cond, &pool->lock);
        w = pool->head;
        if (w == NULL) {
            pthread_mutex_unlock(&pool->lock);
            return NULL;
        }
        pool->head = w->next;
        if (pool->head == NULL)
            pool->tail = NULL;
        pthread_mutex_unlock(&pool->lock);

        w->run(w);
        atomic_fetch_sub(&pool->pending, 1);
        while (loop_post(pool->loop, complete, w) < 0) {
            /* Out of memory for a few bytes: wait rather than lose a completion. */
            struct timespec ts = {0, 10 * 1000 * 1000};

            nanosleep(&ts, NULL);
        }
    }
}

struct workers *workers_new(struct loop *loop, int n)
{
    struct workers *pool = calloc(1, sizeof(*pool));

    if (pool == NULL)
        return NULL;
    pool->loop = loop;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->cond, NULL);
    pool->threads = calloc((size_t)n, sizeof(pthread_t));
    if (pool->threads == NULL) {
        workers_free(pool);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (pthread_create(&pool->threads[i], NULL, worker_main, pool) != 0) {
            workers_free(pool);
            return NULL;
        }
        pool->nthreads++;
    }
    return pool;
}

int workers_submit(struct workers *pool, struct work *w)
{
    pthread_mutex_lock(&pool->lock);
    if (pool->stopping) {
        pthread_mutex_unlock(&pool->lock);
        return -ESHUTDOWN;
    }
    w->next = NULL;
    if (pool->tail != NULL)
        pool->tail->next = w;
    else
        pool->head = w;
    pool->tail = w;
    atomic_fetch_add(&pool->pending, 1);
    pthread_cond_signal(&pool->cond);
    pthread_mutex_unlock(&pool->lock);
    return 0;
}

int workers_pending(struct workers *pool)
{
    return atomic_load(&pool->pending);
}

void workers_free(struct workers *pool)
{
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->stopping = true;
    pthread_cond_broadcast(&pool->cond);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->nthreads; i++)
        pthread_join(pool->threads[i], NULL);
    free(pool->threads);
    pthread_cond_destroy(&pool->cond);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}
