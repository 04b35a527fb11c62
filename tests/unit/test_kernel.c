/* Unit tests for kernel.c's transport against a fake kernel: a thread that binds the ipc
 * sockets the way a kernel does and speaks ZMTP 3.0 as a server (with zmtp.c's reader). They
 * cover what a real kernel does not do on demand: binding late, dropping a connection,
 * announcing the wrong socket type, and answering while iopub reading is deferred. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "kernel.h"
#include "log.h"
#include "util/text.h"
#include "zmtp.h"

#define KEY "unit-test-kernel-key"
#define WATCHDOG_MS 10000

static char dir[64];

static void msleep(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* ---- the fake kernel (server thread) ---------------------------------------------------- */

static int srv_listen(enum kernel_channel ch)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/" KERNEL_SOCKET_PREFIX "-%d", dir,
             (int)ch + 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

static void write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

/* One accepted connection, with what the client sent parsed by a reader. */
struct peer {
    int fd;
    struct zmtp_reader in;
};

/* Read until the reader reports something other than "need more". Returns the event, or
 * -EPIPE when the client closed the connection. */
static int peer_next(struct peer *p, struct wire_frame *frames, size_t *n)
{
    for (;;) {
        int ev = zmtp_reader_next(&p->in, frames, n);
        uint8_t *buf;
        size_t room;
        ssize_t got;

        if (ev != ZMTP_NEED_MORE)
            return ev;
        assert_int_equal(zmtp_reader_space(&p->in, &buf, &room), 0);
        got = recv(p->fd, buf, room, 0);
        if (got <= 0)
            return -EPIPE;
        zmtp_reader_commit(&p->in, (size_t)got);
    }
}

/* Accept a client and complete the handshake as a server of socket type `type`. Stores the
 * socket type the client announced. */
static void peer_accept(struct peer *p, int lfd, const char *type, char *client_type)
{
    uint8_t greeting[ZMTP_GREETING_LEN], ready[128];
    struct wire_frame frames[WIRE_MAX_FRAMES];
    size_t n;
    int len;

    p->fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(p->fd >= 0);
    assert_int_equal(zmtp_reader_init(&p->in, 1 << 20), 0);
    zmtp_greeting(greeting);
    write_all(p->fd, greeting, sizeof(greeting));
    assert_int_equal(peer_next(p, frames, &n), ZMTP_GREETED);
    len = zmtp_ready(ready, sizeof(ready), type, NULL, 0);
    assert_true(len > 0);
    write_all(p->fd, ready, (size_t)len);
    assert_int_equal(peer_next(p, frames, &n), ZMTP_READY);
    strcpy(client_type, p->in.peer_type);
}

static void peer_close(struct peer *p)
{
    close(p->fd);
    zmtp_reader_cleanup(&p->in);
}

static void peer_send(struct peer *p, const struct wire_frame *frames, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t h[ZMTP_FRAME_HEADER_MAX];
        size_t hl = zmtp_frame_header(h, frames[i].len, i + 1 < n ? ZMTP_MORE : 0);

        write_all(p->fd, h, hl);
        write_all(p->fd, frames[i].data, frames[i].len);
    }
}

/* The kernel's signing key, for the server thread only (a key is for one thread). */
static const struct wire_key *server_key(void)
{
    static struct wire_key *key;

    if (key == NULL)
        key = wire_key_new((const uint8_t *)KEY, strlen(KEY));
    assert_non_null(key);
    return key;
}

/* Receive one request (verified with the kernel's key) and keep its header's text. */
static void peer_recv_request(struct peer *p, char *msg_type, char *header, size_t hlen)
{
    struct wire_frame frames[WIRE_MAX_FRAMES];
    struct wire_msg msg;
    size_t n = 0;

    assert_int_equal(peer_next(p, frames, &n), ZMTP_MESSAGE);
    assert_int_equal(n, 6);
    assert_int_equal(wire_parse(server_key(), frames, n, &msg), 0);
    strcpy(msg_type, msg.msg_type);
    assert_true(frames[2].len < hlen);
    memcpy(header, frames[2].data, frames[2].len);
    header[frames[2].len] = '\0';
    wire_msg_cleanup(&msg);
}

/* Send a signed message of msg_type whose parent is the header given, with topic frames
 * before the delimiter when topic is not NULL (as a publisher does). */
static void peer_reply(struct peer *p, const char *topic, const char *msg_type,
                       const char *parent, const char *content)
{
    struct wire_frame frames[7];
    char header[512], sig[WIRE_SIG_HEX + 1];
    size_t n = 0;
    int hl;

    hl = wire_header(header, sizeof(header), "fake-1", "fake", msg_type, 0);
    assert_true(hl > 0);
    if (topic != NULL)
        frames[n++] = (struct wire_frame){topic, strlen(topic)};
    frames[n++] = (struct wire_frame){WIRE_DELIM, strlen(WIRE_DELIM)};
    frames[n++] = (struct wire_frame){sig, WIRE_SIG_HEX};
    frames[n++] = (struct wire_frame){header, (size_t)hl};
    frames[n++] = (struct wire_frame){parent, strlen(parent)};
    frames[n++] = (struct wire_frame){"{}", 2};
    frames[n++] = (struct wire_frame){content, strlen(content)};
    assert_int_equal(wire_sign(server_key(), &frames[n - 4], sig), 0);
    peer_send(p, frames, n);
}

/* ---- the client side (loop thread) ------------------------------------------------------ */

struct client {
    struct loop *loop;
    struct kernel *k;
    struct kernel_request req;
    struct loop_timer watchdog, later;
    bool timed_out;
    int replies, broadcasts;
    char order[16]; /* 's' for a shell reply, 'i' for an iopub message, in arrival order */
    uint64_t sent_ms, iopub_ms;
    int stop_after; /* stop the loop after this many messages */
};

static void on_watchdog(struct loop_timer *t)
{
    struct client *c = LIST_CONTAINER(t, struct client, watchdog);

    c->timed_out = true;
    loop_stop(c->loop);
}

static void on_msg(struct kernel_request *req, enum kernel_channel ch, struct wire_msg *msg)
{
    struct client *c = LIST_CONTAINER(req, struct client, req);
    size_t n = strlen(c->order);

    if (ch == KERNEL_SHELL)
        c->replies++;
    else
        c->broadcasts++;
    if (ch == KERNEL_IOPUB)
        c->iopub_ms = now_ms();
    if (n + 1 < sizeof(c->order)) {
        c->order[n] = ch == KERNEL_SHELL ? 's' : 'i';
        c->order[n + 1] = '\0';
    }
    if (c->replies + c->broadcasts >= c->stop_after)
        loop_stop(c->loop);
}

static void client_init(struct client *c)
{
    struct kernel_events ev = {.owner = c};

    memset(c, 0, sizeof(*c));
    c->loop = loop_new();
    assert_non_null(c->loop);
    c->k = kernel_new(c->loop, dir, KEY, strlen(KEY), &ev);
    assert_non_null(c->k);
    list_init(&c->req.node);
    loop_timer_init(&c->watchdog, on_watchdog);
    loop_timer_start(c->loop, &c->watchdog, now_ms() + WATCHDOG_MS);
}

static void client_send(struct client *c)
{
    json_object *content = json_object_new_object();

    json_object_object_add(content, "code", json_object_new_string("1+1"));
    assert_int_equal(kernel_send(c->k, KERNEL_SHELL, "execute_request", content, on_msg, &c->req),
                     0);
    json_object_put(content);
    c->sent_ms = now_ms();
}

static void client_run(struct client *c, int stop_after)
{
    c->stop_after = stop_after;
    assert_int_equal(loop_run(c->loop), 0);
    assert_false(c->timed_out);
}

static void client_cleanup(struct client *c)
{
    kernel_free(c->k);
    loop_free(c->loop);
}

static void make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/kbunit-kernel-XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    char path[128];

    for (int c = 1; c <= KERNEL_NCHANNELS; c++) {
        snprintf(path, sizeof(path), "%s/" KERNEL_SOCKET_PREFIX "-%d", dir, c);
        unlink(path);
    }
    assert_int_equal(rmdir(dir), 0);
}

/* ---- scenario 1: bind late, drop, reconnect --------------------------------------------- */

struct late_bind {
    char first_type[ZMTP_SOCKET_TYPE_MAX + 1], second_type[ZMTP_SOCKET_TYPE_MAX + 1];
    char msg_type[64], header[512];
    int second_requests;
};

static void *late_bind_server(void *arg)
{
    struct late_bind *s = arg;
    struct peer p;
    int lfd;

    msleep(100); /* the client is retrying meanwhile, its request queued */
    lfd = srv_listen(KERNEL_SHELL);
    peer_accept(&p, lfd, "ROUTER", s->first_type);
    peer_recv_request(&p, s->msg_type, s->header, sizeof(s->header));
    peer_reply(&p, NULL, "execute_reply", s->header, "{\"status\":\"ok\"}");
    /* drop the connection, as a restarting peer does; the client connects again */
    peer_close(&p);
    peer_accept(&p, lfd, "ROUTER", s->second_type);
    peer_recv_request(&p, s->msg_type, s->header, sizeof(s->header));
    s->second_requests++;
    peer_reply(&p, NULL, "execute_reply", s->header, "{\"status\":\"ok\"}");
    peer_close(&p);
    close(lfd);
    return NULL;
}

static void on_later_send(struct loop_timer *t)
{
    client_send(LIST_CONTAINER(t, struct client, later));
}

static void test_late_bind_drop_and_reconnect(void **state)
{
    struct late_bind s = {0};
    struct client c;
    pthread_t th;

    (void)state;
    make_dir();
    client_init(&c);
    client_send(&c); /* before the kernel has bound anything */
    assert_int_equal(pthread_create(&th, NULL, late_bind_server, &s), 0);
    client_run(&c, 1);
    assert_int_equal(c.replies, 1);
    assert_string_equal(s.first_type, "DEALER");
    assert_string_equal(s.msg_type, "execute_request");
    /* the server dropped the connection; a request made after the client noticed goes to
     * the new connection */
    loop_timer_init(&c.later, on_later_send);
    loop_timer_start(c.loop, &c.later, now_ms() + 200);
    client_run(&c, 2);
    assert_int_equal(c.replies, 2);
    pthread_join(th, NULL);
    assert_int_equal(s.second_requests, 1);
    assert_string_equal(s.second_type, "DEALER");
    client_cleanup(&c);
    remove_dir();
}

/* ---- scenario 2: a peer of the wrong type is refused ------------------------------------ */

struct wrong_type {
    int refused;
    char type[ZMTP_SOCKET_TYPE_MAX + 1];
};

static void *wrong_type_server(void *arg)
{
    struct wrong_type *s = arg;
    struct wire_frame frames[WIRE_MAX_FRAMES];
    size_t n;
    struct peer p;
    int lfd = srv_listen(KERNEL_SHELL);

    for (int i = 0; i < 2; i++) {
        peer_accept(&p, lfd, "PUB", s->type); /* a shell socket is a ROUTER */
        if (peer_next(&p, frames, &n) == -EPIPE)
            s->refused++;
        peer_close(&p);
    }
    close(lfd);
    return NULL;
}

static void on_stop(struct loop_timer *t)
{
    loop_stop(LIST_CONTAINER(t, struct client, later)->loop);
}

static void test_wrong_peer_type_is_refused(void **state)
{
    struct wrong_type s = {0};
    struct client c;
    pthread_t th;

    (void)state;
    make_dir();
    client_init(&c);
    assert_int_equal(pthread_create(&th, NULL, wrong_type_server, &s), 0);
    loop_timer_init(&c.later, on_stop);
    loop_timer_start(c.loop, &c.later, now_ms() + 500);
    client_run(&c, 1);
    pthread_join(th, NULL);
    /* refused twice: the client closed each connection and tried again */
    assert_int_equal(s.refused, 2);
    client_cleanup(&c);
    remove_dir();
}

/* ---- scenario 3: deferred iopub --------------------------------------------------------- */

struct deferred {
    char msg_type[64], header[512];
    int reply_delay_ms; /* < 0: never reply */
};

static void *deferred_server(void *arg)
{
    struct deferred *s = arg;
    char type[ZMTP_SOCKET_TYPE_MAX + 1];
    struct peer shell, iopub;
    int lshell = srv_listen(KERNEL_SHELL), liopub = srv_listen(KERNEL_IOPUB);
    struct wire_frame frames[WIRE_MAX_FRAMES];
    size_t n;

    peer_accept(&shell, lshell, "ROUTER", type);
    peer_accept(&iopub, liopub, "PUB", type);
    assert_string_equal(type, "SUB");
    /* the subscription to everything: one frame holding 0x01 */
    assert_int_equal(peer_next(&iopub, frames, &n), ZMTP_MESSAGE);
    assert_int_equal(n, 1);
    assert_int_equal(frames[0].len, 1);
    assert_int_equal(((const uint8_t *)frames[0].data)[0], 1);
    peer_recv_request(&shell, s->msg_type, s->header, sizeof(s->header));
    peer_reply(&iopub, "kernel.fake.execute_result", "execute_result", s->header,
               "{\"data\":{\"text/plain\":\"2\"}}");
    if (s->reply_delay_ms >= 0) {
        msleep(s->reply_delay_ms);
        peer_reply(&shell, NULL, "execute_reply", s->header, "{\"status\":\"ok\"}");
    }
    msleep(300);
    peer_close(&shell);
    peer_close(&iopub);
    close(lshell);
    close(liopub);
    return NULL;
}

static void on_deferred_send(struct loop_timer *t)
{
    struct client *c = LIST_CONTAINER(t, struct client, later);

    client_send(c);
    kernel_iopub_defer(c->k, 150);
}

static void run_deferred(int reply_delay_ms, struct client *c)
{
    struct deferred s = {.reply_delay_ms = reply_delay_ms};
    pthread_t th;

    make_dir();
    client_init(c);
    assert_int_equal(pthread_create(&th, NULL, deferred_server, &s), 0);
    /* send once both channels are up (the server accepts them first) */
    loop_timer_init(&c->later, on_deferred_send);
    loop_timer_start(c->loop, &c->later, now_ms() + 150);
    client_run(c, reply_delay_ms >= 0 ? 2 : 1);
    pthread_join(th, NULL);
    client_cleanup(c);
    remove_dir();
}

static void test_deferred_iopub_is_read_with_the_reply(void **state)
{
    struct client c;

    (void)state;
    /* the result is published 50 ms before the reply: it is handled after the reply, in
     * the same turn, not when it arrived */
    run_deferred(50, &c);
    assert_string_equal(c.order, "si");
    assert_true(c.iopub_ms - c.sent_ms >= 50);
}

static void test_deferred_iopub_is_read_when_the_deferral_ends(void **state)
{
    struct client c;

    (void)state;
    /* no reply at all: iopub is read once the 150 ms deferral runs out */
    run_deferred(-1, &c);
    assert_string_equal(c.order, "i");
    assert_true(c.iopub_ms - c.sent_ms >= 150);
    assert_true(c.iopub_ms - c.sent_ms < 2000);
}

/* ---- scenario 4: the heartbeat ---------------------------------------------------------- */

#define HB_INTERVAL_MS 50
#define HB_MISSES 3
#define HB_ANSWERED 5

struct hb_server {
    char type[ZMTP_SOCKET_TYPE_MAX + 1];
    int pings;            /* pings received */
    uint64_t last_echo_ms; /* when the last answered ping was echoed */
    bool stop;            /* set by the test once the loss is reported */
};

/* Echo the first HB_ANSWERED pings, as a kernel's heartbeat thread does, then go quiet with
 * the connection still open (a kernel that hangs). */
static void *hb_server_main(void *arg)
{
    struct hb_server *s = arg;
    struct wire_frame frames[WIRE_MAX_FRAMES];
    struct peer p;
    size_t n;
    int lfd = srv_listen(KERNEL_HB);

    peer_accept(&p, lfd, "REP", s->type);
    while (!__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST)) {
        struct pollfd pfd = {.fd = p.fd, .events = POLLIN};

        if (poll(&pfd, 1, 20) <= 0)
            continue;
        if (peer_next(&p, frames, &n) != ZMTP_MESSAGE)
            break;
        s->pings++;
        if (s->pings <= HB_ANSWERED) {
            peer_send(&p, frames, n);
            __atomic_store_n(&s->last_echo_ms, now_ms(), __ATOMIC_SEQ_CST);
        }
    }
    peer_close(&p);
    close(lfd);
    return NULL;
}

struct hb_client {
    struct client c;
    int lost;
    uint64_t lost_ms;
};

static void on_hb_lost(void *owner)
{
    struct hb_client *h = owner;

    h->lost++;
    h->lost_ms = now_ms();
    loop_stop(h->c.loop);
}

/* Pings are due on multiples of the interval, never sooner than half an interval away. */
static void test_heartbeat_deadlines_are_aligned(void **state)
{
    static const uint64_t intervals[] = {1, 2, 3, 50, 1000, 1001, 60000};
    static const uint64_t nows[] = {0, 1, 499, 500, 501, 999, 1000, 123456789, 1767225600123};

    (void)state;
    for (size_t i = 0; i < sizeof(intervals) / sizeof(intervals[0]); i++) {
        for (size_t j = 0; j < sizeof(nows) / sizeof(nows[0]); j++) {
            uint64_t iv = intervals[i], now = nows[j], next = kernel_hb_next(now, iv);

            assert_int_equal(next % iv, 0);
            assert_true(next > now || iv == 1);
            assert_true(next - now >= iv / 2);
            assert_true(next - now <= iv + iv / 2);
        }
    }
    assert_int_equal(kernel_hb_next(1000, 1000), 2000);
    assert_int_equal(kernel_hb_next(1499, 1000), 2000);
    assert_int_equal(kernel_hb_next(1501, 1000), 3000);
    assert_int_equal(kernel_hb_next(77, 0), 77);
    /* Two kernels started at different moments are pinged at the same moments. */
    assert_int_equal(kernel_hb_next(10120, 1000), kernel_hb_next(10380, 1000));
}

/* Answered pings keep the kernel alive; once they go unanswered, the loss is reported once,
 * after the configured number of misses and not before. */
static void test_heartbeat_loss_is_reported_after_the_misses(void **state)
{
    struct hb_server s = {0};
    struct hb_client h;
    struct kernel_events ev;
    pthread_t th;

    (void)state;
    make_dir();
    memset(&h, 0, sizeof(h));
    h.c.loop = loop_new();
    assert_non_null(h.c.loop);
    ev = (struct kernel_events){.owner = &h, .hb_lost = on_hb_lost};
    h.c.k = kernel_new(h.c.loop, dir, KEY, strlen(KEY), &ev);
    assert_non_null(h.c.k);
    loop_timer_init(&h.c.watchdog, on_watchdog);
    loop_timer_start(h.c.loop, &h.c.watchdog, now_ms() + WATCHDOG_MS);
    assert_int_equal(pthread_create(&th, NULL, hb_server_main, &s), 0);
    kernel_heartbeat_start(h.c.k, HB_INTERVAL_MS, HB_MISSES);
    assert_int_equal(loop_run(h.c.loop), 0);
    assert_false(h.c.timed_out);
    __atomic_store_n(&s.stop, true, __ATOMIC_SEQ_CST);
    pthread_join(th, NULL);

    assert_string_equal(s.type, "DEALER");
    assert_int_equal(h.lost, 1);
    /* every answered ping counted as an answer: the loss came only after they stopped, and
     * after at least the misses' worth of intervals of silence */
    assert_true(s.pings >= HB_ANSWERED + HB_MISSES);
    assert_true(h.lost_ms - s.last_echo_ms >= (uint64_t)(HB_MISSES - 1) * HB_INTERVAL_MS);
    assert_int_equal(kernel_dropped(h.c.k), 0);
    client_cleanup(&h.c);
    remove_dir();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_late_bind_drop_and_reconnect),
        cmocka_unit_test(test_wrong_peer_type_is_refused),
        cmocka_unit_test(test_deferred_iopub_is_read_with_the_reply),
        cmocka_unit_test(test_deferred_iopub_is_read_when_the_deferral_ends),
        cmocka_unit_test(test_heartbeat_deadlines_are_aligned),
        cmocka_unit_test(test_heartbeat_loss_is_reported_after_the_misses),
    };

    log_set_level(LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
