/* One Jupyter client per kernel over ZeroMQ ipc:// sockets. Everything the kernel sends is
 * verified (HMAC-SHA256) and bounded before it reaches the owner of a request. */
#include "kernel.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <zmq.h>

#include "log.h"
#include "util/text.h"

/* A kernel is hostile: what it can make the daemon hold is bounded per kernel by the largest
 * message it may send times the messages queued for it. A larger message drops the
 * connection (libzmq reconnects); a full queue holds the kernel back (shell) or drops its
 * broadcasts (iopub). */
#define KERNEL_MAX_MSG (8LL << 20)       /* one frame from shell or iopub */
#define KERNEL_RCVHWM 2                  /* messages queued per socket */
#define KERNEL_PUMP_BYTES (4u << 20)     /* bytes handled per kernel per loop iteration */
#define KERNEL_TRIM_BYTES (1u << 20)     /* after messages this large, give memory back */
#define KERNEL_MAX_SMALL_MSG (1LL << 20) /* control, stdin, heartbeat */
#define KERNEL_PUMP_BUDGET 64            /* messages per socket per loop iteration */
#define KERNEL_SESSION_HEX 32

struct kernel;

struct kernel_socket {
    struct loop_io io;
    struct kernel *k;
    void *sock;
};

struct kernel {
    struct loop *loop;
    struct kernel_socket ch[KERNEL_NCHANNELS];
    struct wire_key *key;
    struct kernel_events ev;
    char session[KERNEL_SESSION_HEX + 1];
    uint64_t counter;
    struct list_node pending; /* struct kernel_request */
    struct loop_defer pump;   /* re-check sockets after a send or a full budget */
    unsigned pump_mask;       /* which channels the deferred pump looks at (1 << channel) */
    struct loop_defer release;
    bool closed;
    uint64_t dropped;

    /* heartbeat */
    struct loop_timer hb_timer;
    uint64_t hb_interval_ms;
    int hb_max_misses;
    int hb_misses;
    bool hb_waiting;
    bool hb_lost_reported;
};

static const int socket_types[KERNEL_NCHANNELS] = {ZMQ_DEALER, ZMQ_SUB, ZMQ_DEALER, ZMQ_DEALER,
                                                   ZMQ_REQ};
static const char *const channel_names[KERNEL_NCHANNELS] = {"shell", "iopub", "control",
                                                            "stdin", "hb"};

void *kernel_context_new(int max_sockets)
{
    void *ctx = zmq_ctx_new(), *warmup;

    if (ctx == NULL)
        return NULL;
    zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, max_sockets);
    zmq_ctx_set(ctx, ZMQ_IO_THREADS, 1);
    zmq_ctx_set(ctx, ZMQ_BLOCKY, 0);
    /* libzmq starts its threads with the first socket: start them now, before the daemon
     * confines itself, rather than in the middle of a request. */
    warmup = zmq_socket(ctx, ZMQ_DEALER);
    if (warmup != NULL)
        zmq_close(warmup);
    return ctx;
}

static void pump(struct kernel *k, unsigned mask);

/* Look at channel c again on the next loop iteration. */
static void pump_soon(struct kernel *k, enum kernel_channel c)
{
    k->pump_mask |= 1u << c;
    loop_defer(k->loop, &k->pump);
}

static void on_socket(void *arg, uint32_t events)
{
    struct kernel_socket *s = arg;

    (void)events;
    if (!s->k->closed)
        pump(s->k, 1u << (unsigned)(s - s->k->ch));
}

static void on_pump_defer(struct loop_defer *d)
{
    struct kernel *k = LIST_CONTAINER(d, struct kernel, pump);
    unsigned mask = k->pump_mask;

    k->pump_mask = 0;
    if (!k->closed)
        pump(k, mask);
}

static void on_release(struct loop_defer *d)
{
    struct kernel *k = LIST_CONTAINER(d, struct kernel, release);

    free(k);
}

static void on_hb_timer(struct loop_timer *t);

static int set_int(void *sock, int opt, int value)
{
    return zmq_setsockopt(sock, opt, &value, sizeof(value));
}

static int open_socket(struct kernel *k, void *zctx, enum kernel_channel c, const char *dir)
{
    struct kernel_socket *s = &k->ch[c];
    int64_t maxmsg = (c == KERNEL_SHELL || c == KERNEL_IOPUB) ? KERNEL_MAX_MSG
                                                              : KERNEL_MAX_SMALL_MSG;
    char endpoint[256];
    size_t fdlen = sizeof(int);
    int fd = -1;

    s->k = k;
    s->sock = zmq_socket(zctx, socket_types[c]);
    if (s->sock == NULL)
        return -errno;
    set_int(s->sock, ZMQ_LINGER, 0);
    /* A starting kernel binds its sockets a second or so after the container starts: retry
     * often enough that the connection follows the bind within 20 ms (a failed ipc connect
     * is one system call). */
    set_int(s->sock, ZMQ_RECONNECT_IVL, 10);
    set_int(s->sock, ZMQ_RECONNECT_IVL_MAX, 20);
    zmq_setsockopt(s->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
    set_int(s->sock, ZMQ_RCVHWM, KERNEL_RCVHWM);
    if (c == KERNEL_SHELL || c == KERNEL_STDIN) {
        /* The kernel routes stdin requests to the identity of the shell client. */
        zmq_setsockopt(s->sock, ZMQ_ROUTING_ID, k->session, KERNEL_SESSION_HEX);
    }
    if (c == KERNEL_IOPUB)
        zmq_setsockopt(s->sock, ZMQ_SUBSCRIBE, "", 0);
    if (c == KERNEL_HB) {
        /* A lost echo must not wedge the REQ state machine. */
        set_int(s->sock, ZMQ_REQ_RELAXED, 1);
        set_int(s->sock, ZMQ_REQ_CORRELATE, 1);
    }
    if ((size_t)snprintf(endpoint, sizeof(endpoint), "ipc://%s/" KERNEL_SOCKET_PREFIX "-%d", dir,
                         (int)c + 1) >= sizeof(endpoint))
        return -ENAMETOOLONG;
    if (zmq_connect(s->sock, endpoint) != 0)
        return -errno;
    if (zmq_getsockopt(s->sock, ZMQ_FD, &fd, &fdlen) != 0)
        return -errno;
    s->io.fd = fd;
    s->io.fn = on_socket;
    s->io.arg = s;
    return loop_io_add(k->loop, &s->io, EPOLLIN);
}

struct kernel *kernel_new(struct loop *loop, void *zctx, const char *dir, const char *key,
                          size_t key_len, const struct kernel_events *ev)
{
    struct kernel *k = calloc(1, sizeof(*k));

    if (k == NULL)
        return NULL;
    k->loop = loop;
    k->ev = *ev;
    list_init(&k->pending);
    list_init(&k->pump.node);
    k->pump.fn = on_pump_defer;
    list_init(&k->release.node);
    k->release.fn = on_release;
    loop_timer_init(&k->hb_timer, on_hb_timer);
    for (int c = 0; c < KERNEL_NCHANNELS; c++)
        k->ch[c].io.fd = -1;
    if (random_hex(k->session, KERNEL_SESSION_HEX) < 0)
        goto error;
    k->key = wire_key_new((const uint8_t *)key, key_len);
    if (k->key == NULL)
        goto error;
    for (int c = 0; c < KERNEL_NCHANNELS; c++) {
        if (open_socket(k, zctx, (enum kernel_channel)c, dir) < 0)
            goto error;
    }
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
    list_remove(&k->pump.node);
    while (!list_empty(&k->pending))
        list_remove(list_first(&k->pending));
    for (int c = 0; c < KERNEL_NCHANNELS; c++) {
        if (k->ch[c].io.fd >= 0)
            loop_io_del(k->loop, &k->ch[c].io);
        if (k->ch[c].sock != NULL)
            zmq_close(k->ch[c].sock);
        k->ch[c].sock = NULL;
    }
    wire_key_free(k->key);
    k->key = NULL;
    /* An event for one of these sockets may still be queued in this iteration. */
    loop_defer(k->loop, &k->release);
}

static int send_frame(void *sock, const void *data, size_t len, int more)
{
    int flags = ZMQ_DONTWAIT | (more ? ZMQ_SNDMORE : 0);

    if (zmq_send(sock, data, len, flags) < 0)
        return -errno;
    return 0;
}

int kernel_send(struct kernel *k, enum kernel_channel ch, const char *msg_type,
                json_object *content, kernel_msg_fn fn, struct kernel_request *req)
{
    char header[512], msg_id[KERNEL_MSG_ID_MAX], sig[WIRE_SIG_HEX + 1];
    struct wire_frame parts[4];
    const char *body;
    void *sock;
    int n, rc;

    if (k->closed || ch == KERNEL_IOPUB || ch == KERNEL_HB)
        return -EINVAL;
    sock = k->ch[ch].sock;
    snprintf(msg_id, sizeof(msg_id), "%s_%llu", k->session, (unsigned long long)++k->counter);
    n = wire_header(header, sizeof(header), msg_id, k->session, msg_type, wall_now());
    if (n < 0)
        return n;
    body = json_object_to_json_string_ext(content, JSON_C_TO_STRING_PLAIN |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE);
    if (body == NULL)
        return -ENOMEM;
    parts[0].data = header;
    parts[0].len = (size_t)n;
    parts[1].data = "{}";
    parts[1].len = 2;
    parts[2].data = "{}";
    parts[2].len = 2;
    parts[3].data = body;
    parts[3].len = strlen(body);
    rc = wire_sign(k->key, parts, sig);
    if (rc < 0)
        return rc;

    /* A DEALER either queues the whole message or refuses the first frame. */
    rc = send_frame(sock, WIRE_DELIM, sizeof(WIRE_DELIM) - 1, 1);
    if (rc < 0)
        return rc;
    send_frame(sock, sig, WIRE_SIG_HEX, 1);
    for (int i = 0; i < 4; i++)
        send_frame(sock, parts[i].data, parts[i].len, i < 3);

    if (req != NULL) {
        snprintf(req->msg_id, sizeof(req->msg_id), "%s", msg_id);
        req->fn = fn;
        list_remove(&req->node);
        list_push_back(&k->pending, &req->node);
    }
    /* Sending can consume the socket's readiness signal: look at it again. */
    pump_soon(k, ch);
    return 0;
}

void kernel_request_done(struct kernel_request *req)
{
    list_remove(&req->node);
}

uint64_t kernel_dropped(const struct kernel *k)
{
    return k->dropped;
}

static struct kernel_request *find_request(struct kernel *k, const char *parent_id)
{
    struct list_node *pos, *tmp;

    if (parent_id == NULL)
        return NULL;
    LIST_FOREACH_SAFE(pos, tmp, &k->pending)
    {
        struct kernel_request *req = LIST_CONTAINER(pos, struct kernel_request, node);

        if (strcmp(req->msg_id, parent_id) == 0)
            return req;
    }
    return NULL;
}

/* Receive every frame of one message. Returns the number of frames, 0 when nothing is
 * waiting, or -EBADMSG for a message with more than max frames (drained and dropped). */
static int recv_frames(void *sock, zmq_msg_t *frames, int max)
{
    bool overflow = false;
    int n = 0;

    for (;;) {
        /* cppcheck-suppress uninitvar ; only its address is taken: zmq_msg_init() fills it */
        zmq_msg_t scratch, *m = n < max ? &frames[n] : &scratch;
        int more;

        zmq_msg_init(m);
        /* The frames after the first arrive with it: waiting for them never blocks. */
        if (zmq_msg_recv(m, sock, (n == 0 && !overflow) ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(m);
            break;
        }
        more = zmq_msg_more(m);
        if (m == &scratch) {
            zmq_msg_close(m);
            overflow = true;
        } else {
            n++;
        }
        if (!more)
            break;
    }
    if (overflow) {
        for (int i = 0; i < n; i++)
            zmq_msg_close(&frames[i]);
        return -EBADMSG;
    }
    return n;
}

static void dispatch(struct kernel *k, enum kernel_channel c, zmq_msg_t *frames, int n)
{
    struct wire_frame wf[WIRE_MAX_FRAMES];
    struct kernel_request *req;
    struct wire_msg msg;
    int rc;

    for (int i = 0; i < n; i++) {
        wf[i].data = zmq_msg_data(&frames[i]);
        wf[i].len = zmq_msg_size(&frames[i]);
    }
    rc = wire_parse(k->key, wf, (size_t)n, &msg);
    if (rc < 0) {
        k->dropped++;
        log_warn(NULL, "kernel.message_dropped", "%s message dropped: %s", channel_names[c],
                 rc == -EACCES ? "bad signature" : "malformed");
        return;
    }
    req = find_request(k, msg.parent_id);
    if (req != NULL)
        req->fn(req, c, &msg);
    wire_msg_cleanup(&msg);
}

static void pump_heartbeat(struct kernel *k)
{
    char echo[64];

    while (zmq_recv(k->ch[KERNEL_HB].sock, echo, sizeof(echo), ZMQ_DONTWAIT) >= 0) {
        k->hb_waiting = false;
        k->hb_misses = 0;
    }
}

/* Read what the channels in mask hold. Each socket has its own descriptor, so an event
 * names the one channel to look at; a deferred pump names those touched since. */
static void pump(struct kernel *k, unsigned mask)
{
    zmq_msg_t frames[WIRE_MAX_FRAMES];
    bool big = false;
    size_t bytes = 0;

    for (int c = 0; c < KERNEL_NCHANNELS && !k->closed; c++) {
        void *sock = k->ch[c].sock;
        int events = 0, budget = KERNEL_PUMP_BUDGET;
        size_t len = sizeof(events);

        if (!(mask & (1u << c)))
            continue;
        if (c == KERNEL_HB) {
            pump_heartbeat(k);
        } else {
            /* A fair share per iteration, in messages and in bytes, so that one kernel
             * cannot stall the loop for every other session. A receive that finds nothing
             * ends the turn; it costs less than asking for ZMQ_EVENTS first. */
            while (budget-- > 0 && bytes < KERNEL_PUMP_BYTES && !k->closed) {
                size_t size = 0;
                int n = recv_frames(sock, frames, WIRE_MAX_FRAMES);

                if (n == 0)
                    break;
                if (n < 0) {
                    k->dropped++;
                    continue;
                }
                for (int i = 0; i < n; i++)
                    size += zmq_msg_size(&frames[i]);
                bytes += size;
                big = big || size >= KERNEL_TRIM_BYTES;
                dispatch(k, (enum kernel_channel)c, frames, n);
                for (int i = 0; i < n; i++)
                    zmq_msg_close(&frames[i]);
            }
        }
        if (k->closed)
            break;
        /* Reading ZMQ_EVENTS re-arms the edge-triggered descriptor; what is still waiting
         * (a full budget, or a message that came in meanwhile) is read next iteration. */
        if (zmq_getsockopt(sock, ZMQ_EVENTS, &events, &len) == 0 && (events & ZMQ_POLLIN))
            pump_soon(k, (enum kernel_channel)c);
    }
    if (big)
        malloc_trim(0); /* large messages leave large free blocks: hand them back */
}

static void on_hb_timer(struct loop_timer *t)
{
    struct kernel *k = LIST_CONTAINER(t, struct kernel, hb_timer);

    if (k->closed)
        return;
    pump_heartbeat(k);
    if (k->hb_waiting) {
        k->hb_misses++;
        if (k->hb_misses >= k->hb_max_misses && !k->hb_lost_reported) {
            k->hb_lost_reported = true;
            if (k->ev.hb_lost != NULL)
                k->ev.hb_lost(k->ev.owner);
            return;
        }
    }
    if (zmq_send(k->ch[KERNEL_HB].sock, "ping", 4, ZMQ_DONTWAIT) >= 0)
        k->hb_waiting = true;
    pump_soon(k, KERNEL_HB);
    loop_timer_start(k->loop, &k->hb_timer, now_ms() + k->hb_interval_ms);
}

void kernel_heartbeat_start(struct kernel *k, uint64_t interval_ms, int misses)
{
    k->hb_interval_ms = interval_ms;
    k->hb_max_misses = misses;
    k->hb_misses = 0;
    k->hb_waiting = false;
    loop_timer_start(k->loop, &k->hb_timer, now_ms() + interval_ms);
}
