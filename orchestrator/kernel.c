/* One Jupyter client per kernel, speaking ZMTP 3.0 itself over the ipc sockets in the session
 * directory: no library thread between the event loop and the kernel. Everything the kernel
 * sends is verified (HMAC-SHA256) and bounded before it reaches the owner of a request. */
#include "kernel.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "util/text.h"
#include "zmtp.h"

/* A kernel is hostile: what it can make the daemon hold is bounded per channel by the
 * largest message it may send (a larger one is skipped as it streams in, never held) and
 * what the daemon queues for it. */
#define KERNEL_MAX_MSG (8u << 20)       /* one message from shell or iopub, frame bodies */
#define KERNEL_MAX_SMALL_MSG (1u << 20) /* control, stdin, heartbeat */
#define KERNEL_MAX_QUEUED (32u << 20)   /* bytes waiting to be written to one channel */
#define KERNEL_PUMP_BYTES (4u << 20)    /* bytes read per channel per loop iteration */
#define KERNEL_PUMP_BUDGET 64           /* messages per channel per loop iteration */
#define KERNEL_TRIM_BYTES (1u << 20)    /* after messages this large, give memory back */
#define KERNEL_SESSION_HEX 32
#define KERNEL_IOV_MAX 64
/* A starting kernel binds its sockets a second or so after its container starts: retry
 * often enough that the connection follows the bind within 20 ms (a refused connect is two
 * system calls), and less often once a kernel has been unreachable for a while. */
#define KERNEL_RETRY_FIRST_MS 10
#define KERNEL_RETRY_MS 20
#define KERNEL_RETRY_SLOW_MS 250
#define KERNEL_RETRY_FAST_FOR_MS 10000
#define KERNEL_PRE_MAX 160 /* greeting, READY and the subscription */

enum conn_state {
    CONN_DOWN,      /* not connected; the retry timer is armed */
    CONN_GREETING,  /* our greeting sent, waiting for the kernel's */
    CONN_HANDSHAKE, /* our READY sent, waiting for the kernel's */
    CONN_READY,     /* messages flow */
};

/* One encoded message waiting to be written. */
struct out_chunk {
    struct list_node node;
    size_t len;
    uint8_t data[];
};

struct kernel;

/* One channel: a stream socket to the kernel's ZMTP socket of the same name. */
struct kernel_conn {
    struct loop_io io;
    struct kernel *k;
    enum kernel_channel ch;
    enum conn_state state;
    uint32_t watched; /* the events the loop watches for io.fd */
    struct zmtp_reader in;
    uint8_t pre[KERNEL_PRE_MAX]; /* protocol bytes, written before any message */
    size_t pre_len, pre_off;
    struct list_node out; /* struct out_chunk, whole messages */
    size_t out_bytes;
    size_t head_off; /* bytes of the first chunk already written */
    struct loop_timer retry;
    uint64_t down_since_ms;
    bool reported; /* a protocol error was logged for this kernel and channel (once) */
};

struct kernel {
    struct loop *loop;
    struct kernel_conn ch[KERNEL_NCHANNELS];
    struct sockaddr_un addr[KERNEL_NCHANNELS];
    struct wire_key *key;
    struct kernel_events ev;
    char session[KERNEL_SESSION_HEX + 1];
    uint64_t counter;
    struct list_node pending; /* struct kernel_request */
    struct loop_defer release;
    bool closed;
    bool iopub_deferred;           /* iopub is left unread until a shell message or the timer */
    struct loop_timer iopub_timer;
    struct loop_defer iopub_resume;
    /* iopub is not watched while no request waits on it (what a kernel publishes then has no
     * reader anyway): the read that finishes a request does not re-arm it, and the next
     * request does so only if it does not defer iopub itself. Two epoll_ctl() calls fewer
     * per execute. A closed connection is still reported (EPOLLHUP needs no asking). */
    bool iopub_resting;
    struct loop_defer iopub_arm;
    uint64_t dropped;

    /* heartbeat */
    struct loop_timer hb_timer;
    uint64_t hb_interval_ms;
    int hb_max_misses;
    int hb_misses;
    bool hb_waiting;
    bool hb_lost_reported;
};

/* What the daemon announces on each channel, and what it accepts from the kernel. */
static const char *const our_types[KERNEL_NCHANNELS] = {"DEALER", "SUB", "DEALER", "DEALER",
                                                        "DEALER"};
static const char *const peer_types[KERNEL_NCHANNELS][2] = {
    {"ROUTER", NULL}, {"PUB", "XPUB"}, {"ROUTER", NULL}, {"ROUTER", NULL}, {"ROUTER", "REP"}};
static const char *const channel_names[KERNEL_NCHANNELS] = {"shell", "iopub", "control",
                                                            "stdin", "hb"};

static void conn_connect(struct kernel_conn *c);
static void conn_drop(struct kernel_conn *c, int err);
static void conn_read(struct kernel_conn *c);
static void conn_flush(struct kernel_conn *c);
static void on_hb_timer(struct loop_timer *t);

/* EPOLLIN, unless this is iopub and its reading is deferred (kernel_iopub_defer) or it rests
 * (no request waits on it). */
static uint32_t in_events(const struct kernel_conn *c)
{
    return (c->ch == KERNEL_IOPUB && (c->k->iopub_deferred || c->k->iopub_resting)) ? 0
                                                                                    : EPOLLIN;
}

static void watch(struct kernel_conn *c, uint32_t events)
{
    if (c->watched != events && c->io.fd >= 0 && loop_io_mod(c->k->loop, &c->io, events) == 0)
        c->watched = events;
}

static void on_socket(void *arg, uint32_t events)
{
    struct kernel_conn *c = arg;

    if (c->k->closed || c->io.fd < 0)
        return;
    if (events & EPOLLOUT)
        conn_flush(c);
    if (!c->k->closed && c->io.fd >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        conn_read(c);
}

static void on_retry(struct loop_timer *t)
{
    struct kernel_conn *c = LIST_CONTAINER(t, struct kernel_conn, retry);

    if (!c->k->closed && c->state == CONN_DOWN)
        conn_connect(c);
}

/* Unlink and free the first queued message. */
static void drop_head(struct kernel_conn *c)
{
    struct list_node *first = list_first(&c->out);
    struct out_chunk *chunk = LIST_CONTAINER(first, struct out_chunk, node);

    list_remove(first);
    c->out_bytes -= chunk->len;
    c->head_off = 0;
    free(chunk);
}

static void on_release(struct loop_defer *d)
{
    struct kernel *k = LIST_CONTAINER(d, struct kernel, release);

    for (int c = 0; c < KERNEL_NCHANNELS; c++) {
        zmtp_reader_cleanup(&k->ch[c].in);
        while (!list_empty(&k->ch[c].out))
            drop_head(&k->ch[c]);
    }
    free(k);
}

static void schedule_retry(struct kernel_conn *c)
{
    uint64_t now = now_ms(), delay = KERNEL_RETRY_MS;

    if (c->down_since_ms == 0) {
        c->down_since_ms = now;
        delay = KERNEL_RETRY_FIRST_MS;
    } else if (now - c->down_since_ms > KERNEL_RETRY_FAST_FOR_MS) {
        delay = KERNEL_RETRY_SLOW_MS;
    }
    loop_timer_start(c->k->loop, &c->retry, now + delay);
}

/* Queue protocol bytes ahead of every message. They are few and fit. */
static void pre_put(struct kernel_conn *c, const void *data, size_t len)
{
    if (c->pre_off == c->pre_len)
        c->pre_off = c->pre_len = 0;
    if (len <= sizeof(c->pre) - c->pre_len) {
        memcpy(c->pre + c->pre_len, data, len);
        c->pre_len += len;
    }
}

/* Try to connect now; on failure try again after a short while. The ipc socket accepts at
 * once or refuses at once: a stream connect to a Unix socket does not stay in progress. */
static void conn_connect(struct kernel_conn *c)
{
    struct kernel *k = c->k;
    uint8_t greeting[ZMTP_GREETING_LEN];
    int fd;

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        schedule_retry(c);
        return;
    }
    if (connect(fd, (const struct sockaddr *)&k->addr[c->ch], sizeof(k->addr[c->ch])) < 0) {
        close(fd);
        schedule_retry(c);
        return;
    }
    c->io.fd = fd;
    c->watched = EPOLLIN | EPOLLOUT;
    if (loop_io_add(k->loop, &c->io, c->watched) < 0) {
        close(fd);
        c->io.fd = -1;
        schedule_retry(c);
        return;
    }
    c->state = CONN_GREETING;
    zmtp_greeting(greeting);
    pre_put(c, greeting, sizeof(greeting));
    conn_flush(c);
}

/* Stop watching and close the socket, if there is one. */
static void conn_close(struct kernel_conn *c)
{
    if (c->io.fd >= 0) {
        loop_io_del(c->k->loop, &c->io);
        close(c->io.fd);
        c->io.fd = -1;
    }
}

/* Close the connection and start again: what was read is forgotten, a message half
 * written is dropped (the kernel dropped its first half too), whole ones stay queued. */
static void conn_drop(struct kernel_conn *c, int err)
{
    struct kernel *k = c->k;

    if (err != 0 && err != -ECONNRESET && err != -EPIPE && !c->reported) {
        c->reported = true;
        log_warn(NULL, "kernel.protocol", "%s connection to the kernel dropped: %s",
                 channel_names[c->ch], strerror(-err));
    }
    conn_close(c);
    c->state = CONN_DOWN;
    if (c->ch == KERNEL_IOPUB)
        k->iopub_resting = false; /* a new connection's handshake needs reading */
    c->pre_len = c->pre_off = 0;
    zmtp_reader_reset(&c->in);
    if (c->head_off > 0)
        drop_head(c);
    if (!k->closed)
        schedule_retry(c);
}

/* Write iov[0..n) to the connection. Returns the bytes written, 0 when the socket is full,
 * or a negative errno after dropping the connection. */
static ssize_t conn_write(struct kernel_conn *c, struct iovec *iov, size_t n)
{
    struct msghdr mh;
    ssize_t w;
    int err;

    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = iov;
    mh.msg_iovlen = n;
    do {
        w = sendmsg(c->io.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (w < 0 && errno == EINTR);
    if (w >= 0)
        return w;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
    err = -errno;
    conn_drop(c, err);
    return err;
}

/* Write what is queued: protocol bytes first, then whole messages once the handshake is
 * done. Watches for EPOLLOUT exactly while something is left. */
static void conn_flush(struct kernel_conn *c)
{
    while (c->pre_off < c->pre_len) {
        struct iovec iov = {c->pre + c->pre_off, c->pre_len - c->pre_off};
        ssize_t w = conn_write(c, &iov, 1);

        if (w < 0)
            return;
        if (w == 0) {
            watch(c, in_events(c) | EPOLLOUT);
            return;
        }
        c->pre_off += (size_t)w;
    }
    while (c->state == CONN_READY && !list_empty(&c->out)) {
        struct iovec iov[KERNEL_IOV_MAX];
        struct list_node *pos;
        size_t off = c->head_off, left;
        int n = 0;
        ssize_t w;

        for (pos = c->out.next; pos != &c->out && n < KERNEL_IOV_MAX; pos = pos->next) {
            struct out_chunk *chunk = LIST_CONTAINER(pos, struct out_chunk, node);
            /* Chunks are unlinked before they are freed; the analyzer cannot tell that a
             * node reached from the head is linked. NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
            size_t len = chunk->len;

            iov[n].iov_base = chunk->data + off;
            iov[n].iov_len = len - off;
            n++;
            off = 0;
        }
        w = conn_write(c, iov, (size_t)n);
        if (w < 0)
            return;
        if (w == 0) {
            watch(c, in_events(c) | EPOLLOUT);
            return;
        }
        left = (size_t)w;
        while (left > 0) {
            struct out_chunk *chunk = LIST_CONTAINER(list_first(&c->out), struct out_chunk, node);
            size_t rest = chunk->len - c->head_off;

            if (left < rest) {
                c->head_off += left;
                break;
            }
            left -= rest;
            drop_head(c);
        }
    }
    watch(c, in_events(c));
}

static bool peer_type_ok(const struct kernel_conn *c)
{
    for (int i = 0; i < 2; i++) {
        const char *t = peer_types[c->ch][i];

        if (t != NULL && strcmp(t, c->in.peer_type) == 0)
            return true;
    }
    return false;
}

/* The kernel's greeting arrived: announce ourselves. */
static void on_greeted(struct kernel_conn *c)
{
    struct kernel *k = c->k;
    uint8_t ready[KERNEL_PRE_MAX];
    bool identity = c->ch == KERNEL_SHELL || c->ch == KERNEL_STDIN;
    int n;

    /* The kernel routes stdin requests to the identity of the shell client. */
    n = zmtp_ready(ready, sizeof(ready), our_types[c->ch], identity ? k->session : NULL,
                   identity ? KERNEL_SESSION_HEX : 0);
    if (n < 0) {
        conn_drop(c, n);
        return;
    }
    pre_put(c, ready, (size_t)n);
    c->state = CONN_HANDSHAKE;
    conn_flush(c);
}

/* The kernel's READY arrived: subscribe to everything on iopub and let messages flow. */
static void on_ready(struct kernel_conn *c)
{
    static const uint8_t subscribe_all[] = {0x00, 0x01, 0x01};

    if (!peer_type_ok(c)) {
        conn_drop(c, -EPROTOTYPE);
        return;
    }
    if (c->ch == KERNEL_IOPUB)
        pre_put(c, subscribe_all, sizeof(subscribe_all));
    c->state = CONN_READY;
    /* Only a finished handshake counts as being up: a peer that accepts and then fails it
     * is tried less and less often, like one that refuses. */
    c->down_since_ms = 0;
    conn_flush(c);
}

static struct kernel_request *find_request(struct kernel *k, const char *parent_id)
{
    struct list_node *pos, *tmp;

    if (parent_id[0] == '\0')
        return NULL;
    LIST_FOREACH_SAFE(pos, tmp, &k->pending)
    {
        struct kernel_request *req = LIST_CONTAINER(pos, struct kernel_request, node);

        if (strcmp(req->msg_id, parent_id) == 0)
            return req;
    }
    return NULL;
}

static void dispatch(struct kernel *k, enum kernel_channel c, const struct wire_frame *frames,
                     size_t n)
{
    struct kernel_request *req;
    struct wire_msg msg;
    int rc;

    if (c == KERNEL_SHELL && k->iopub_deferred)
        loop_defer(k->loop, &k->iopub_resume); /* read iopub once this turn's events are done */
    if (c == KERNEL_HB) {
        /* any echo answers the ping */
        k->hb_waiting = false;
        k->hb_misses = 0;
        return;
    }
    rc = wire_parse(k->key, frames, n, &msg);
    if (rc < 0) {
        k->dropped++;
        log_warn(NULL, "kernel.message_dropped", "%s message dropped: %s", channel_names[c],
                 rc == -EACCES ? "bad signature" : "malformed");
        return;
    }
    req = find_request(k, msg.parent_id);
    if (req != NULL)
        req->fn(req, c, &msg);
    else if (c == KERNEL_IOPUB && k->ev.stray != NULL)
        k->ev.stray(k->ev.owner, &msg);
    wire_msg_cleanup(&msg);
}

/* Read and handle what the kernel sent, within a fair share per iteration in messages and in
 * bytes, so that one kernel cannot stall the loop for every other session. Every complete
 * message read is handled before the turn ends; the descriptor is level-triggered, so what
 * stays in the socket is reported again on the next iteration. */
static void conn_read(struct kernel_conn *c)
{
    struct kernel *k = c->k;
    struct wire_frame frames[WIRE_MAX_FRAMES];
    int budget = KERNEL_PUMP_BUDGET;
    size_t bytes = 0;
    bool big = false, eof = false, drained = false;

    while (!k->closed && c->io.fd >= 0) {
        size_t nframes = 0, room = 0;
        uint8_t *p = NULL;
        ssize_t n;
        int ev = zmtp_reader_next(&c->in, frames, &nframes);

        if (ev < 0) {
            conn_drop(c, ev);
            return;
        }
        switch (ev) {
        case ZMTP_GREETED:
            on_greeted(c);
            continue;
        case ZMTP_READY:
            on_ready(c);
            continue;
        case ZMTP_DROPPED:
            k->dropped++;
            log_warn(NULL, "kernel.message_dropped",
                     "%s message dropped: over %zu bytes or %d frames", channel_names[c->ch],
                     c->in.max_msg, WIRE_MAX_FRAMES);
            budget--;
            continue;
        case ZMTP_MESSAGE: {
            size_t size = 0;

            for (size_t i = 0; i < nframes; i++)
                size += frames[i].len;
            big = big || size >= KERNEL_TRIM_BYTES;
            budget--;
            dispatch(k, c->ch, frames, nframes);
            continue;
        }
        default:
            break;
        }
        /* ZMTP_NEED_MORE */
        if (eof) {
            conn_drop(c, 0);
            break;
        }
        /* A read that did not fill the space found the socket empty: asking again would only
         * return EAGAIN. Whatever comes later, epoll reports. */
        if (drained || budget <= 0 || bytes >= KERNEL_PUMP_BYTES)
            break;
        if (zmtp_reader_space(&c->in, &p, &room) < 0) {
            conn_drop(c, -ENOMEM);
            break;
        }
        n = recv(c->io.fd, p, room, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0) {
            conn_drop(c, -errno);
            break;
        }
        if (n == 0) {
            eof = true; /* parse what came before the end, then drop */
            continue;
        }
        zmtp_reader_commit(&c->in, (size_t)n);
        bytes += (size_t)n;
        drained = (size_t)n < room;
    }
    if (big)
        malloc_trim(0); /* large messages leave large free blocks: hand them back */
}

/* Read iopub again: a shell message arrived, or the deferral ran out. */
static void iopub_resume(struct kernel *k)
{
    struct kernel_conn *c = &k->ch[KERNEL_IOPUB];

    if (k->closed || !k->iopub_deferred)
        return;
    k->iopub_deferred = false;
    loop_timer_stop(k->loop, &k->iopub_timer);
    list_remove(&k->iopub_resume.node);
    if (c->io.fd < 0)
        return;
    conn_read(c); /* what is waiting is read now rather than after another wait */
    if (k->closed || c->io.fd < 0)
        return;
    if (list_empty(&k->pending) && c->state == CONN_READY && c->pre_off == c->pre_len)
        k->iopub_resting = true; /* that read finished what waited on iopub */
    else
        watch(c, c->watched | EPOLLIN);
}

/* A request was sent while iopub rested: watch it again, unless the request deferred iopub
 * meanwhile (this runs after the sender's turn). */
static void on_iopub_arm(struct loop_defer *d)
{
    struct kernel *k = LIST_CONTAINER(d, struct kernel, iopub_arm);
    struct kernel_conn *c = &k->ch[KERNEL_IOPUB];

    if (!k->closed && c->io.fd >= 0)
        watch(c, in_events(c) | (c->watched & EPOLLOUT));
}

static void on_iopub_resume(struct loop_defer *d)
{
    iopub_resume(LIST_CONTAINER(d, struct kernel, iopub_resume));
}

static void on_iopub_timer(struct loop_timer *t)
{
    iopub_resume(LIST_CONTAINER(t, struct kernel, iopub_timer));
}

void kernel_iopub_defer(struct kernel *k, uint64_t ms)
{
    struct kernel_conn *c = &k->ch[KERNEL_IOPUB];

    if (k->closed || c->state != CONN_READY || c->pre_off != c->pre_len)
        return;
    k->iopub_deferred = true;
    watch(c, c->watched & ~(uint32_t)EPOLLIN);
    loop_timer_start(k->loop, &k->iopub_timer, now_ms() + ms);
}

struct kernel *kernel_new(struct loop *loop, const char *dir, const char *key, size_t key_len,
                          const struct kernel_events *ev)
{
    struct kernel *k = calloc(1, sizeof(*k));

    if (k == NULL)
        return NULL;
    k->loop = loop;
    k->ev = *ev;
    list_init(&k->pending);
    list_init(&k->release.node);
    k->release.fn = on_release;
    list_init(&k->iopub_resume.node);
    k->iopub_resume.fn = on_iopub_resume;
    list_init(&k->iopub_arm.node);
    k->iopub_arm.fn = on_iopub_arm;
    loop_timer_init(&k->iopub_timer, on_iopub_timer);
    loop_timer_init(&k->hb_timer, on_hb_timer);
    for (int i = 0; i < KERNEL_NCHANNELS; i++) {
        struct kernel_conn *c = &k->ch[i];

        c->k = k;
        c->ch = (enum kernel_channel)i;
        c->io.fd = -1;
        c->io.fn = on_socket;
        c->io.arg = c;
        c->state = CONN_DOWN;
        list_init(&c->out);
        loop_timer_init(&c->retry, on_retry);
    }
    if (random_hex(k->session, KERNEL_SESSION_HEX) < 0)
        goto error;
    k->key = wire_key_new((const uint8_t *)key, key_len);
    if (k->key == NULL)
        goto error;
    for (int i = 0; i < KERNEL_NCHANNELS; i++) {
        size_t max = (i == KERNEL_SHELL || i == KERNEL_IOPUB) ? KERNEL_MAX_MSG
                                                              : KERNEL_MAX_SMALL_MSG;

        k->addr[i].sun_family = AF_UNIX;
        if ((size_t)snprintf(k->addr[i].sun_path, sizeof(k->addr[i].sun_path),
                             "%s/" KERNEL_SOCKET_PREFIX "-%d", dir,
                             i + 1) >= sizeof(k->addr[i].sun_path))
            goto error;
        if (zmtp_reader_init(&k->ch[i].in, max) < 0)
            goto error;
    }
    for (int i = 0; i < KERNEL_NCHANNELS; i++)
        conn_connect(&k->ch[i]);
    return k;

error:
    kernel_free(k);
    return NULL;
}

void kernel_free(struct kernel *k)
{
    if (k == NULL || k->closed)
        return;
    k->closed = true;
    loop_timer_stop(k->loop, &k->hb_timer);
    loop_timer_stop(k->loop, &k->iopub_timer);
    list_remove(&k->iopub_resume.node);
    list_remove(&k->iopub_arm.node);
    while (!list_empty(&k->pending))
        list_remove(list_first(&k->pending));
    for (int i = 0; i < KERNEL_NCHANNELS; i++) {
        struct kernel_conn *c = &k->ch[i];

        loop_timer_stop(k->loop, &c->retry);
        conn_close(c);
    }
    wire_key_free(k->key);
    k->key = NULL;
    /* An event for one of these sockets may still be queued in this iteration, and a
     * message being dispatched still points into a channel's buffer. */
    loop_defer(k->loop, &k->release);
}

/* Queue the encoded frames of one message, or write them at once when nothing is waiting
 * and the connection is up: the usual case costs one system call and no copy. */
static int conn_send(struct kernel_conn *c, const struct wire_frame *frames, size_t n)
{
    uint8_t headers[WIRE_MAX_FRAMES][ZMTP_FRAME_HEADER_MAX];
    struct iovec iov[2 * WIRE_MAX_FRAMES];
    struct out_chunk *chunk;
    size_t total = 0, written = 0, niov = 0, off = 0;

    for (size_t i = 0; i < n; i++) {
        size_t h = zmtp_frame_header(headers[i], frames[i].len, i + 1 < n ? ZMTP_MORE : 0);

        iov[niov].iov_base = headers[i];
        iov[niov++].iov_len = h;
        iov[niov].iov_base = (void *)frames[i].data;
        iov[niov++].iov_len = frames[i].len;
        total += h + frames[i].len;
    }
    if (c->out_bytes + total > KERNEL_MAX_QUEUED)
        return -EAGAIN;
    if (c->state == CONN_READY && list_empty(&c->out) && c->pre_off == c->pre_len) {
        ssize_t w = conn_write(c, iov, niov);

        if (w > 0 && (size_t)w == total)
            return 0;
        if (w > 0)
            written = (size_t)w; /* on failure the connection is down: queued whole */
    }
    /* The whole message is kept, even when part of it went out: if the connection drops
     * before the rest does, the message is dropped whole (head_off > 0). */
    chunk = malloc(sizeof(*chunk) + total);
    if (chunk == NULL) {
        if (written > 0)
            conn_drop(c, -ENOMEM); /* half a message is on the wire: start again */
        return -ENOMEM;
    }
    chunk->len = total;
    for (size_t i = 0; i < niov; i++) {
        memcpy(chunk->data + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    list_push_back(&c->out, &chunk->node);
    c->out_bytes += chunk->len;
    if (written > 0)
        c->head_off = written; /* it is the only chunk: the queue was empty */
    if (c->state == CONN_READY)
        watch(c, in_events(c) | EPOLLOUT);
    return 0;
}

int kernel_send_text(struct kernel *k, enum kernel_channel ch, const char *msg_type,
                     const char *content, size_t len, kernel_msg_fn fn,
                     struct kernel_request *req)
{
    char header[512], msg_id[KERNEL_MSG_ID_MAX], sig[WIRE_SIG_HEX + 1];
    struct wire_frame frames[6];
    int n, rc;

    if (k->closed || ch == KERNEL_IOPUB || ch == KERNEL_HB)
        return -EINVAL;
    snprintf(msg_id, sizeof(msg_id), "%s_%llu", k->session, (unsigned long long)++k->counter);
    n = wire_header(header, sizeof(header), msg_id, k->session, msg_type, wall_now());
    if (n < 0)
        return n;
    frames[0].data = WIRE_DELIM;
    frames[0].len = sizeof(WIRE_DELIM) - 1;
    frames[1].data = sig;
    frames[1].len = WIRE_SIG_HEX;
    frames[2].data = header;
    frames[2].len = (size_t)n;
    frames[3].data = "{}";
    frames[3].len = 2;
    frames[4].data = "{}";
    frames[4].len = 2;
    frames[5].data = content;
    frames[5].len = len;
    rc = wire_sign(k->key, frames + 2, sig);
    if (rc < 0)
        return rc;
    rc = conn_send(&k->ch[ch], frames, 6);
    if (rc < 0)
        return rc;
    if (req != NULL) {
        snprintf(req->msg_id, sizeof(req->msg_id), "%s", msg_id);
        req->fn = fn;
        list_remove(&req->node);
        list_push_back(&k->pending, &req->node);
        if (k->iopub_resting) {
            k->iopub_resting = false;
            list_remove(&k->iopub_arm.node);
            loop_defer(k->loop, &k->iopub_arm);
        }
    }
    return 0;
}

int kernel_send(struct kernel *k, enum kernel_channel ch, const char *msg_type,
                json_object *content, kernel_msg_fn fn, struct kernel_request *req)
{
    size_t len = 0;
    const char *body = json_object_to_json_string_length(
        content, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);

    if (body == NULL)
        return -ENOMEM;
    return kernel_send_text(k, ch, msg_type, body, len, fn, req);
}

void kernel_request_done(struct kernel_request *req)
{
    list_remove(&req->node);
}

uint64_t kernel_dropped(const struct kernel *k)
{
    return k->dropped;
}

/* Ping: an empty delimiter then the payload, the envelope both an echoing ROUTER and a REP
 * send back. While the channel is down the ping counts as unanswered, so that a kernel whose
 * socket is gone is noticed. */
static void send_ping(struct kernel *k)
{
    static const struct wire_frame ping[2] = {{"", 0}, {"ping", 4}};
    struct kernel_conn *c = &k->ch[KERNEL_HB];

    k->hb_waiting = true;
    if (c->state == CONN_READY && list_empty(&c->out))
        conn_send(c, ping, 2);
}

uint64_t kernel_hb_next(uint64_t now, uint64_t interval)
{
    uint64_t next;

    if (interval == 0)
        return now;
    next = (now / interval + 1) * interval;
    if (next - now < interval / 2)
        next += interval;
    return next;
}

static void on_hb_timer(struct loop_timer *t)
{
    struct kernel *k = LIST_CONTAINER(t, struct kernel, hb_timer);

    if (k->closed)
        return;
    if (k->hb_waiting) {
        k->hb_misses++;
        if (k->hb_misses >= k->hb_max_misses && !k->hb_lost_reported) {
            k->hb_lost_reported = true;
            if (k->ev.hb_lost != NULL)
                k->ev.hb_lost(k->ev.owner);
            return;
        }
    }
    send_ping(k);
    loop_timer_start(k->loop, &k->hb_timer, kernel_hb_next(now_ms(), k->hb_interval_ms));
}

void kernel_heartbeat_start(struct kernel *k, uint64_t interval_ms, int misses)
{
    k->hb_interval_ms = interval_ms;
    k->hb_max_misses = misses;
    k->hb_misses = 0;
    k->hb_waiting = false;
    loop_timer_start(k->loop, &k->hb_timer, kernel_hb_next(now_ms(), interval_ms));
}
