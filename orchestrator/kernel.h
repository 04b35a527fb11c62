/* One Jupyter client per kernel: the five ZeroMQ channels (shell, iopub, control, stdin,
 * heartbeat) over the ipc sockets in the session directory, spoken (ZMTP 3.0) from the event
 * loop itself, messages signed and verified, replies and broadcasts routed to the request
 * they answer. Loop thread only. */
#ifndef KERNELBOX_KERNEL_H
#define KERNELBOX_KERNEL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "loop.h"
#include "util/list.h"
#include "wire.h"

enum kernel_channel {
    KERNEL_SHELL = 0,
    KERNEL_IOPUB,
    KERNEL_CONTROL,
    KERNEL_STDIN,
    KERNEL_HB,
    KERNEL_NCHANNELS
};

/* The socket of channel c is "<dir>/k-<c+1>" (ipykernel names ipc sockets ip-port). */
#define KERNEL_SOCKET_PREFIX "k"
#define KERNEL_MSG_ID_MAX 64

struct kernel;
struct kernel_request;

/* Called for every verified message on shell, control, stdin or iopub whose parent is req. */
typedef void (*kernel_msg_fn)(struct kernel_request *req, enum kernel_channel ch,
                              struct wire_msg *msg);

/* A request in flight; embed it in the owner. */
struct kernel_request {
    struct list_node node;
    char msg_id[KERNEL_MSG_ID_MAX];
    kernel_msg_fn fn;
};

struct kernel_events {
    void *owner;
    /* The heartbeat went unanswered too long. Called once; the kernel object stays valid. */
    void (*hb_lost)(void *owner);
    /* Optional: a verified iopub message whose parent is no pending request, such as what a
     * thread prints after the cell that started it has finished. */
    void (*stray)(void *owner, struct wire_msg *msg);
};

/* Connect to the kernel whose sockets are in dir, signing with the key_len bytes of key (the
 * kernel's HMAC key is the text of the connection file's "key"). Channels connect when the
 * kernel has bound its sockets and reconnect when they drop, so this succeeds before then;
 * messages sent meanwhile wait. Returns NULL on failure (no memory, dir too long). */
struct kernel *kernel_new(struct loop *loop, const char *dir, const char *key, size_t key_len,
                          const struct kernel_events *ev);

/* Close the sockets and free the kernel. Pending requests are forgotten without a call.
 * The memory is released at the loop's next safe point. NULL is a no-op. */
void kernel_free(struct kernel *k);

/* Send msg_type with content (borrowed) on a channel. When req is given, its fn is called
 * for every message whose parent is this one until kernel_request_done(req).
 * Returns 0 or -errno (-EAGAIN when the channel's queue is full). */
int kernel_send(struct kernel *k, enum kernel_channel ch, const char *msg_type,
                json_object *content, kernel_msg_fn fn, struct kernel_request *req);

/* kernel_send() with the content given as len bytes of JSON text (an object), written by
 * the caller: the execute path builds no json-c objects. */
int kernel_send_text(struct kernel *k, enum kernel_channel ch, const char *msg_type,
                     const char *content, size_t len, kernel_msg_fn fn,
                     struct kernel_request *req);

/* Leave iopub unread until the next message on shell, or for at most ms: the broadcasts of
 * a short execution (busy, execute_input, its result) are then read in one go with its
 * reply rather than each waking the loop. Only for requests whose output nobody follows as
 * it comes; what waits meanwhile stays in the socket and the kernel's queue. */
void kernel_iopub_defer(struct kernel *k, uint64_t ms);

/* Stop routing messages to req; a no-op if it is not pending. */
void kernel_request_done(struct kernel_request *req);

/* Ping the heartbeat channel every interval_ms; after misses unanswered pings call hb_lost.
 * Pings go out on multiples of interval_ms of the monotonic clock (kernel_hb_next), so that
 * every kernel with the same interval is pinged in the same loop turn. */
void kernel_heartbeat_start(struct kernel *k, uint64_t interval_ms, int misses);

/* When the next ping is due after now_ms: the next multiple of interval_ms at least half an
 * interval away (interval_ms 0: now_ms). */
uint64_t kernel_hb_next(uint64_t now_ms, uint64_t interval_ms);

/* Messages dropped for a bad signature or bad framing since the kernel was connected. */
uint64_t kernel_dropped(const struct kernel *k);

#endif
