/* Unit tests for loop.c (included, to check the timer heap from the inside): timer order and
 * heap integrity, deferred work, and posting or stopping from other threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "loop.c"

#include <fcntl.h>
#include <stdio.h>
#include <time.h>

#define WATCHDOG_MS 5000

/* A timer that stops a loop that would otherwise hang, and says so. */
struct watchdog {
    struct loop_timer timer;
    struct loop *loop;
    bool fired;
};

static void watchdog_fire(struct loop_timer *t)
{
    struct watchdog *w = LIST_CONTAINER(t, struct watchdog, timer);

    w->fired = true;
    loop_stop(w->loop);
}

static void watchdog_start(struct watchdog *w, struct loop *loop)
{
    w->loop = loop;
    w->fired = false;
    loop_timer_init(&w->timer, watchdog_fire);
    loop_timer_start(loop, &w->timer, now_ms() + WATCHDOG_MS);
}

/* The heap property and the back-pointers, checked in full. */
static void check_heap(const struct loop *loop)
{
    for (size_t i = 1; i <= loop->heap_len; i++) {
        if (loop->heap[i]->heap_index != i)
            fail_msg("heap[%zu] says it is at %zu", i, loop->heap[i]->heap_index);
        if (i > 1 && loop->heap[i / 2]->deadline_ms > loop->heap[i]->deadline_ms)
            fail_msg("heap[%zu] = %llu above heap[%zu] = %llu", i / 2,
                     (unsigned long long)loop->heap[i / 2]->deadline_ms, i,
                     (unsigned long long)loop->heap[i]->deadline_ms);
    }
}

static void msleep(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* ---- timers ---- */

struct rec_timer {
    struct loop_timer timer;
    struct loop *loop;
    int id;
    int fires;
    uint64_t fired_at;
};

/* What fired, in order. */
static struct {
    int ids[4096];
    uint64_t deadlines[4096];
    size_t n;
} fired;

static void record_fire(struct loop_timer *t)
{
    struct rec_timer *r = LIST_CONTAINER(t, struct rec_timer, timer);

    r->fires++;
    r->fired_at = now_ms();
    if (fired.n < 4096) {
        fired.ids[fired.n] = r->id;
        fired.deadlines[fired.n] = t->deadline_ms;
    }
    fired.n++;
    /* A fired timer is disarmed before its callback runs. */
    assert_false(loop_timer_armed(t));
}

static void stop_fire(struct loop_timer *t)
{
    struct rec_timer *r = LIST_CONTAINER(t, struct rec_timer, timer);

    r->fires++;
    loop_stop(r->loop);
}

static void assert_fired_in_order(void)
{
    for (size_t i = 1; i < fired.n; i++) {
        if (fired.deadlines[i - 1] > fired.deadlines[i])
            fail_msg("fire %zu (deadline %llu) after one due at %llu", i,
                     (unsigned long long)fired.deadlines[i],
                     (unsigned long long)fired.deadlines[i - 1]);
    }
}

static void test_due_timers_fire_in_deadline_order(void **state)
{
    /* More due timers than one iteration handles (LOOP_MAX_TIMERS_PER_ITERATION). */
    enum { N = 600 };
    struct loop *loop = loop_new();
    struct rec_timer *timers = calloc(N, sizeof(*timers)), stopper;
    struct watchdog wd;
    uint64_t base = now_ms();

    (void)state;
    assert_non_null(loop);
    assert_non_null(timers);
    memset(&fired, 0, sizeof(fired));
    srand(7);
    for (int i = 0; i < N; i++) {
        timers[i].id = i;
        loop_timer_init(&timers[i].timer, record_fire);
        loop_timer_start(loop, &timers[i].timer, base - 1 - (uint64_t)(rand() % 1000));
    }
    check_heap(loop);
    memset(&stopper, 0, sizeof(stopper));
    stopper.loop = loop;
    loop_timer_init(&stopper.timer, stop_fire);
    loop_timer_start(loop, &stopper.timer, base + 30);
    watchdog_start(&wd, loop);

    assert_int_equal(loop_run(loop), 0);
    assert_false(wd.fired);
    assert_int_equal(stopper.fires, 1);
    assert_int_equal(fired.n, N);
    assert_fired_in_order();
    for (int i = 0; i < N; i++)
        assert_int_equal(timers[i].fires, 1);
    loop_timer_stop(loop, &wd.timer);
    assert_int_equal(loop->heap_len, 0);
    loop_free(loop);
    free(timers);
}

static void test_future_timers_wait_for_deadline(void **state)
{
    enum { N = 40 };
    struct loop *loop = loop_new();
    struct rec_timer timers[N], stopper;
    struct watchdog wd;
    uint64_t base = now_ms();

    (void)state;
    memset(&fired, 0, sizeof(fired));
    srand(11);
    for (int i = 0; i < N; i++) {
        memset(&timers[i], 0, sizeof(timers[i]));
        timers[i].id = i;
        loop_timer_init(&timers[i].timer, record_fire);
        loop_timer_start(loop, &timers[i].timer, base + 1 + (uint64_t)(rand() % 60));
    }
    memset(&stopper, 0, sizeof(stopper));
    stopper.loop = loop;
    loop_timer_init(&stopper.timer, stop_fire);
    loop_timer_start(loop, &stopper.timer, base + 100);
    watchdog_start(&wd, loop);

    assert_int_equal(loop_run(loop), 0);
    assert_false(wd.fired);
    assert_int_equal(fired.n, N);
    assert_fired_in_order();
    for (int i = 0; i < N; i++) {
        assert_int_equal(timers[i].fires, 1);
        /* Never early. */
        assert_true(timers[i].fired_at >= timers[i].timer.deadline_ms);
    }
    assert_true(now_ms() >= base + 100);
    loop_free(loop);
}

static void test_timer_heap_integrity_random(void **state)
{
    enum { N = 500, OPS = 20000 };
    struct loop *loop = loop_new();
    struct rec_timer *timers = calloc(N, sizeof(*timers)), stopper;
    struct watchdog wd;
    uint64_t base = now_ms();
    size_t armed = 0;

    (void)state;
    assert_non_null(timers);
    memset(&fired, 0, sizeof(fired));
    srand(2024);
    for (int i = 0; i < N; i++) {
        timers[i].id = i;
        loop_timer_init(&timers[i].timer, record_fire);
        assert_false(loop_timer_armed(&timers[i].timer));
    }
    /* Start, re-arm earlier or later, and stop at random; many equal deadlines. */
    for (int op = 0; op < OPS; op++) {
        struct rec_timer *t = &timers[rand() % N];
        int what = rand() % 3;

        if (what < 2) {
            loop_timer_start(loop, &t->timer, base - 1 - (uint64_t)(rand() % 300));
        } else {
            loop_timer_stop(loop, &t->timer);
            loop_timer_stop(loop, &t->timer); /* a second stop is a no-op */
        }
        if (op % 16 == 0 || op == OPS - 1)
            check_heap(loop);
    }
    check_heap(loop);
    for (int i = 0; i < N; i++) {
        struct loop_timer *t = &timers[i].timer;

        if (loop_timer_armed(t)) {
            armed++;
            assert_ptr_equal(loop->heap[t->heap_index], t);
        }
    }
    assert_int_equal(loop->heap_len, armed);
    assert_true(armed > 0 && armed < N);

    memset(&stopper, 0, sizeof(stopper));
    stopper.loop = loop;
    loop_timer_init(&stopper.timer, stop_fire);
    loop_timer_start(loop, &stopper.timer, base + 20);
    watchdog_start(&wd, loop);
    assert_int_equal(loop_run(loop), 0);
    assert_false(wd.fired);
    /* Exactly the armed timers fired, once each, in deadline order. */
    assert_int_equal(fired.n, armed);
    assert_fired_in_order();
    for (int i = 0; i < N; i++)
        assert_true(timers[i].fires <= 1);
    loop_free(loop);
    free(timers);
}

/* A timer whose callback stops another due timer, and one that re-arms itself. */
struct interplay {
    struct loop_timer a, b, again;
    struct loop *loop;
    int a_fires, b_fires, again_fires;
};

static void interplay_a(struct loop_timer *t)
{
    struct interplay *p = LIST_CONTAINER(t, struct interplay, a);

    p->a_fires++;
    loop_timer_stop(p->loop, &p->b);
}

static void interplay_b(struct loop_timer *t)
{
    struct interplay *p = LIST_CONTAINER(t, struct interplay, b);

    p->b_fires++;
}

static void interplay_again(struct loop_timer *t)
{
    struct interplay *p = LIST_CONTAINER(t, struct interplay, again);

    if (++p->again_fires < 3)
        loop_timer_start(p->loop, t, now_ms() + 2);
    else
        loop_stop(p->loop);
}

static void test_timer_stop_and_rearm_from_callbacks(void **state)
{
    struct loop *loop = loop_new();
    struct interplay p;
    struct watchdog wd;
    uint64_t base = now_ms();

    (void)state;
    memset(&p, 0, sizeof(p));
    p.loop = loop;
    loop_timer_init(&p.a, interplay_a);
    loop_timer_init(&p.b, interplay_b);
    loop_timer_init(&p.again, interplay_again);
    loop_timer_start(loop, &p.b, base - 5);
    loop_timer_start(loop, &p.a, base - 10);
    /* Re-arming to a later then an earlier deadline keeps it where it belongs. */
    loop_timer_start(loop, &p.again, base + 1000);
    loop_timer_start(loop, &p.again, base + 1);
    check_heap(loop);
    watchdog_start(&wd, loop);
    assert_int_equal(loop_run(loop), 0);
    assert_false(wd.fired);
    assert_int_equal(p.a_fires, 1);
    assert_int_equal(p.b_fires, 0);
    assert_int_equal(p.again_fires, 3);
    assert_false(loop_timer_armed(&p.b));
    loop_free(loop);
}

/* ---- deferred work ---- */

struct defer_ctx {
    struct loop *loop;
    struct loop_io io;
    struct loop_defer d, d2;
    int iteration;     /* counted by the io callback, which runs every iteration */
    char log[64][16];  /* "io@N", "d@N", "d2@N" in the order things ran */
    int nlog;
    int d_runs;
};

static void note(struct defer_ctx *c, const char *what)
{
    if (c->nlog < 64)
        snprintf(c->log[c->nlog], sizeof(c->log[0]), "%s@%d", what, c->iteration);
    c->nlog++;
}

static void defer_io(void *arg, uint32_t events)
{
    struct defer_ctx *c = arg;

    (void)events;
    c->iteration++;
    note(c, "io");
    if (c->iteration == 1) {
        loop_defer(c->loop, &c->d);
        loop_defer(c->loop, &c->d); /* already queued: a no-op */
    }
}

static void defer_d2(struct loop_defer *d)
{
    struct defer_ctx *c = LIST_CONTAINER(d, struct defer_ctx, d2);

    note(c, "d2");
}

static void defer_d(struct loop_defer *d)
{
    struct defer_ctx *c = LIST_CONTAINER(d, struct defer_ctx, d);

    note(c, "d");
    c->d_runs++;
    if (c->d_runs == 1)
        loop_defer(c->loop, &c->d2);
    if (c->d_runs < 6)
        loop_defer(c->loop, &c->d); /* re-deferred from its own run: a later round */
    else
        loop_stop(c->loop);
}

/* Deferred work runs after the iteration's events; what it defers runs in further rounds of
 * the same iteration, four in all, and the rest after the next wait for events. */
static void test_defer_runs_after_io_and_redefers_next_iteration(void **state)
{
    static const char *const want[] = {"io@1", "d@1", "d2@1", "d@1", "d@1",
                                       "d@1",  "io@2", "d@2", "d@2"};
    struct defer_ctx c;
    struct watchdog wd;
    int fds[2];

    (void)state;
    memset(&c, 0, sizeof(c));
    c.loop = loop_new();
    assert_non_null(c.loop);
    list_init(&c.d.node);
    list_init(&c.d2.node);
    c.d.fn = defer_d;
    c.d2.fn = defer_d2;
    /* A pipe with an unread byte is readable on every iteration (level-triggered). */
    assert_int_equal(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    assert_int_equal(write(fds[1], "x", 1), 1);
    c.io.fd = fds[0];
    c.io.fn = defer_io;
    c.io.arg = &c;
    assert_int_equal(loop_io_add(c.loop, &c.io, EPOLLIN), 0);
    watchdog_start(&wd, c.loop);

    assert_int_equal(loop_run(c.loop), 0);
    assert_false(wd.fired);
    assert_int_equal(c.nlog, (int)(sizeof(want) / sizeof(want[0])));
    for (int i = 0; i < c.nlog; i++)
        assert_string_equal(c.log[i], want[i]);
    assert_false(list_node_linked(&c.d.node));

    loop_io_del(c.loop, &c.io);
    loop_free(c.loop);
    close(fds[0]);
    close(fds[1]);
}

struct spin {
    struct loop *loop;
    struct loop_defer d;
    int runs;
};

static void spin_fn(struct loop_defer *d)
{
    struct spin *s = LIST_CONTAINER(d, struct spin, d);

    if (++s->runs < 5)
        loop_defer(s->loop, d);
    else
        loop_stop(s->loop);
}

static void test_defer_does_not_block_without_events(void **state)
{
    struct spin s;
    struct watchdog wd;
    uint64_t start;

    (void)state;
    memset(&s, 0, sizeof(s));
    s.loop = loop_new();
    s.d.fn = spin_fn;
    /* Deferred before the loop runs, with nothing else to wake it: the wait must not block. */
    loop_defer(s.loop, &s.d);
    watchdog_start(&wd, s.loop);
    start = now_ms();
    assert_int_equal(loop_run(s.loop), 0);
    assert_false(wd.fired);
    assert_int_equal(s.runs, 5);
    assert_true(now_ms() - start < 1000);
    loop_free(s.loop);
}

/* ---- other threads ---- */

struct cross {
    struct loop *loop;
    pthread_t loop_thread;
    bool ran_on_loop_thread;
    int posted_runs;
    long delay_ms;
};

static void posted_fn(void *arg)
{
    struct cross *x = arg;

    x->posted_runs++;
    x->ran_on_loop_thread = pthread_equal(pthread_self(), x->loop_thread) != 0;
    loop_stop(x->loop);
}

static void *post_later(void *arg)
{
    struct cross *x = arg;

    msleep(x->delay_ms);
    if (loop_post(x->loop, posted_fn, x) != 0)
        x->posted_runs = -100;
    return NULL;
}

static void *stop_later(void *arg)
{
    struct cross *x = arg;

    msleep(x->delay_ms);
    loop_stop(x->loop);
    return NULL;
}

static void test_post_from_thread_wakes_blocked_loop(void **state)
{
    struct cross x;
    struct watchdog wd;
    pthread_t th;
    uint64_t start;

    (void)state;
    memset(&x, 0, sizeof(x));
    x.loop = loop_new();
    x.loop_thread = pthread_self();
    x.delay_ms = 100;
    /* Nothing but the watchdog is due: the loop sleeps in epoll_wait until the post. */
    watchdog_start(&wd, x.loop);
    start = now_ms();
    assert_int_equal(pthread_create(&th, NULL, post_later, &x), 0);
    assert_int_equal(loop_run(x.loop), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_false(wd.fired);
    assert_int_equal(x.posted_runs, 1);
    assert_true(x.ran_on_loop_thread);
    assert_true(now_ms() - start >= 90);
    assert_true(now_ms() - start < 2000);
    loop_free(x.loop);
}

static void test_stop_from_thread(void **state)
{
    struct cross x;
    struct watchdog wd;
    pthread_t th;
    uint64_t start;

    (void)state;
    memset(&x, 0, sizeof(x));
    x.loop = loop_new();
    x.delay_ms = 100;
    watchdog_start(&wd, x.loop);
    start = now_ms();
    assert_int_equal(pthread_create(&th, NULL, stop_later, &x), 0);
    assert_int_equal(loop_run(x.loop), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_false(wd.fired);
    assert_true(now_ms() - start < 2000);

    /* Stopped before it runs: returns at once. */
    loop_free(x.loop);
    x.loop = loop_new();
    loop_stop(x.loop);
    watchdog_start(&wd, x.loop);
    assert_int_equal(loop_run(x.loop), 0);
    assert_false(wd.fired);
    loop_free(x.loop);
    loop_free(NULL);
}

enum { POSTERS = 4, POSTS = 2000 };

struct flood {
    struct loop *loop;
    int next_seq[POSTERS]; /* touched on the loop thread only */
    int total;
    int out_of_order;
};

struct flood_msg {
    struct flood *f;
    int poster;
    int seq;
};

static struct flood_msg flood_msgs[POSTERS][POSTS];

static void flood_fn(void *arg)
{
    struct flood_msg *m = arg;
    struct flood *f = m->f;

    if (m->seq != f->next_seq[m->poster])
        f->out_of_order++;
    f->next_seq[m->poster] = m->seq + 1;
    if (++f->total == POSTERS * POSTS)
        loop_stop(f->loop);
}

static void *flood_thread(void *arg)
{
    struct flood_msg *row = arg;

    for (int i = 0; i < POSTS; i++) {
        while (loop_post(row[i].f->loop, flood_fn, &row[i]) != 0)
            msleep(1);
    }
    return NULL;
}

static void test_posts_from_many_threads_all_run_in_order(void **state)
{
    struct flood f;
    struct watchdog wd;
    pthread_t th[POSTERS];

    (void)state;
    memset(&f, 0, sizeof(f));
    f.loop = loop_new();
    for (int p = 0; p < POSTERS; p++) {
        for (int i = 0; i < POSTS; i++) {
            flood_msgs[p][i].f = &f;
            flood_msgs[p][i].poster = p;
            flood_msgs[p][i].seq = i;
        }
    }
    watchdog_start(&wd, f.loop);
    for (int p = 0; p < POSTERS; p++)
        assert_int_equal(pthread_create(&th[p], NULL, flood_thread, flood_msgs[p]), 0);
    assert_int_equal(loop_run(f.loop), 0);
    for (int p = 0; p < POSTERS; p++)
        assert_int_equal(pthread_join(th[p], NULL), 0);
    assert_false(wd.fired);
    assert_int_equal(f.total, POSTERS * POSTS);
    assert_int_equal(f.out_of_order, 0);
    loop_free(f.loop);
}

/* ---- the prepare hook ---- */

struct prep {
    struct loop *loop;
    int calls;
};

static int prepare_fn(void *arg)
{
    struct prep *p = arg;

    if (++p->calls == 3)
        loop_stop(p->loop);
    return 5;
}

static void test_prepare_shortens_wait(void **state)
{
    struct prep p;
    struct watchdog wd;
    uint64_t start;

    (void)state;
    memset(&p, 0, sizeof(p));
    p.loop = loop_new();
    loop_set_prepare(p.loop, prepare_fn, &p);
    /* Only the watchdog is armed, far away; the hook's 5 ms makes the loop go round. */
    watchdog_start(&wd, p.loop);
    start = now_ms();
    assert_int_equal(loop_run(p.loop), 0);
    assert_false(wd.fired);
    assert_int_equal(p.calls, 3);
    assert_true(now_ms() - start < 1000);
    loop_free(p.loop);
}

/* Standard error replaced by a pipe whose read end does not block. */
struct captured {
    int read_fd;
    int saved_stderr;
};

static void capture_stderr(struct captured *c)
{
    int fds[2];

    assert_int_equal(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    c->saved_stderr = dup(STDERR_FILENO);
    assert_true(c->saved_stderr >= 0);
    assert_int_equal(dup2(fds[1], STDERR_FILENO), STDERR_FILENO);
    close(fds[1]);
    c->read_fd = fds[0];
}

static void release_stderr(struct captured *c)
{
    assert_int_equal(dup2(c->saved_stderr, STDERR_FILENO), STDERR_FILENO);
    close(c->saved_stderr);
    close(c->read_fd);
}

/* Everything waiting in the pipe (up to cap - 1 bytes), NUL-terminated; its length. */
static size_t drain(struct captured *c, char *out, size_t cap)
{
    size_t len = 0;

    for (;;) {
        ssize_t n = read(c->read_fd, out + len, cap - 1 - len);

        if (n <= 0)
            break;
        len += (size_t)n;
    }
    out[len] = '\0';
    return len;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

static void test_log_batch_keeps_lines_until_flushed(void **state)
{
    static char out[65536];
    struct captured c;

    (void)state;
    log_set_level(LOG_INFO);
    capture_stderr(&c);
    log_batch_start();
    log_info(NULL, "test.one", "first");
    log_debug(NULL, "test.hidden", "below the level");
    log_info(NULL, "test.two", "second");
    assert_int_equal(drain(&c, out, sizeof(out)), 0);
    log_flush();
    drain(&c, out, sizeof(out));
    assert_int_equal(count_lines(out), 2);
    assert_non_null(strstr(out, "\"msg\":\"first\"}\n{"));
    assert_non_null(strstr(out, "\"msg\":\"second\"}\n"));
    assert_null(strstr(out, "below the level"));

    /* A warning goes out at once, after what waited. */
    log_info(NULL, "test.three", "third");
    log_warn(NULL, "test.warn", "careful");
    drain(&c, out, sizeof(out));
    assert_int_equal(count_lines(out), 2);
    assert_true(strstr(out, "third") < strstr(out, "careful"));

    /* A full batch is written without waiting for a flush. */
    for (int i = 0; i < 200; i++)
        log_info(NULL, "test.many", "line %03d of a long run of lines that fills the batch", i);
    assert_true(drain(&c, out, sizeof(out)) >= LOG_BATCH_MAX);
    log_batch_stop();
    assert_true(drain(&c, out, sizeof(out)) > 0);
    assert_non_null(strstr(out, "line 199 of"));

    /* Not batching: each line at once. */
    log_info(NULL, "test.after", "unbatched");
    drain(&c, out, sizeof(out));
    assert_non_null(strstr(out, "unbatched"));
    release_stderr(&c);
}

struct logging_turn {
    struct loop *loop;
    struct loop_defer defer;
    struct loop_timer check;
    struct captured *c;
    char seen[4096];
};

static void log_in_turn(struct loop_defer *d)
{
    (void)d;
    log_info(NULL, "test.turn", "logged in a turn");
}

static void check_after_wait(struct loop_timer *t)
{
    struct logging_turn *lt = LIST_CONTAINER(t, struct logging_turn, check);

    drain(lt->c, lt->seen, sizeof(lt->seen));
    loop_stop(lt->loop);
}

static void test_loop_writes_its_lines_before_it_waits(void **state)
{
    struct logging_turn lt;
    struct captured c;

    (void)state;
    memset(&lt, 0, sizeof(lt));
    log_set_level(LOG_INFO);
    capture_stderr(&c);
    lt.c = &c;
    lt.loop = loop_new();
    list_init(&lt.defer.node);
    lt.defer.fn = log_in_turn;
    loop_defer(lt.loop, &lt.defer);
    /* The loop logs in its first turn, then waits 20 ms for the timer: the line must be in
     * the pipe by then. */
    loop_timer_init(&lt.check, check_after_wait);
    loop_timer_start(lt.loop, &lt.check, now_ms() + 20);
    assert_int_equal(loop_run(lt.loop), 0);
    assert_non_null(strstr(lt.seen, "logged in a turn"));
    loop_free(lt.loop);
    release_stderr(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_due_timers_fire_in_deadline_order),
        cmocka_unit_test(test_future_timers_wait_for_deadline),
        cmocka_unit_test(test_timer_heap_integrity_random),
        cmocka_unit_test(test_timer_stop_and_rearm_from_callbacks),
        cmocka_unit_test(test_defer_runs_after_io_and_redefers_next_iteration),
        cmocka_unit_test(test_defer_does_not_block_without_events),
        cmocka_unit_test(test_post_from_thread_wakes_blocked_loop),
        cmocka_unit_test(test_stop_from_thread),
        cmocka_unit_test(test_posts_from_many_threads_all_run_in_order),
        cmocka_unit_test(test_prepare_shortens_wait),
        cmocka_unit_test(test_log_batch_keeps_lines_until_flushed),
        cmocka_unit_test(test_loop_writes_its_lines_before_it_waits),
    };

    return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
