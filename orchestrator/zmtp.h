/* ZMTP 3.0, the ZeroMQ transport protocol, with the NULL security mechanism: the greeting,
 * the READY handshake and the framing of messages. Pure functions over memory; the socket
 * and its descriptor belong to the caller (kernel.c). */
#ifndef KERNELBOX_ZMTP_H
#define KERNELBOX_ZMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define ZMTP_GREETING_LEN 64
#define ZMTP_FRAME_HEADER_MAX 9     /* flags + 8-byte length */
#define ZMTP_MAX_COMMAND (64u << 10) /* largest command (READY and its properties) accepted */
#define ZMTP_MAX_SKIP (256ull << 20) /* a frame larger than this is not skipped: it ends the
                                      * connection (no peer of ours sends one) */
#define ZMTP_SOCKET_TYPE_MAX 16
#define ZMTP_IDENTITY_MAX 255

/* Frame flags. */
#define ZMTP_MORE 0x01u
#define ZMTP_LONG 0x02u
#define ZMTP_COMMAND 0x04u

/* Write the 64-byte greeting of a ZMTP 3.0 client with the NULL mechanism. */
void zmtp_greeting(uint8_t out[ZMTP_GREETING_LEN]);

/* Write the header of a frame of len bytes into out. Returns its length (2 or 9). */
size_t zmtp_frame_header(uint8_t out[ZMTP_FRAME_HEADER_MAX], uint64_t len, unsigned flags);

/* Write a whole READY command frame announcing socket_type (e.g. "DEALER") and, when
 * identity_len > 0, an Identity property. Returns its length, or -ENOSPC when out is too
 * small, or -EINVAL for a type or identity that does not fit the protocol. */
int zmtp_ready(uint8_t *out, size_t outlen, const char *socket_type, const void *identity,
               size_t identity_len);

/* What zmtp_reader_next() found. */
enum zmtp_event {
    ZMTP_NEED_MORE = 0, /* nothing complete: read more */
    ZMTP_GREETED,       /* the peer's greeting is valid: send READY now */
    ZMTP_READY,         /* the peer's READY arrived: r->peer_type names its socket type */
    ZMTP_MESSAGE,       /* a whole message: frames[0..nframes) point into the buffer */
    ZMTP_DROPPED,       /* a whole message too large or with too many frames was skipped */
};

/* The incoming half of one connection: bytes read from the socket go into one growing
 * buffer, bounded by max_msg bytes of message plus framing. Embed it; fields are private
 * except peer_type. */
struct zmtp_reader {
    uint8_t *buf;
    size_t cap, len; /* buf[0..len) holds what was read */
    size_t pos;      /* parsing position */
    size_t max_msg;  /* bytes of frame bodies one message may hold */
    size_t min_cap;  /* what the buffer shrinks back to when empty */
    int state;
    /* the message being gathered: frame bodies as offsets into buf */
    bool in_msg;
    bool discard;          /* too large: frame bodies are skipped until its last frame */
    uint64_t skip;         /* bytes of the current frame body still to skip */
    bool skip_last;        /* the frame being skipped is the message's last */
    size_t msg_start;      /* offset of its first frame header */
    size_t msg_bytes;      /* sum of its frame bodies so far */
    size_t nframes;
    size_t frame_off[WIRE_MAX_FRAMES];
    size_t frame_len[WIRE_MAX_FRAMES];
    char peer_type[ZMTP_SOCKET_TYPE_MAX + 1];
};

/* Prepare r for one connection. Returns 0 or -ENOMEM. */
int zmtp_reader_init(struct zmtp_reader *r, size_t max_msg);

/* Free r's buffer. Safe on a zeroed or already cleaned reader. */
void zmtp_reader_cleanup(struct zmtp_reader *r);

/* Forget everything read: the connection was dropped and a new one starts with a greeting.
 * Gives back a buffer grown for a large message. */
void zmtp_reader_reset(struct zmtp_reader *r);

/* Where to read the next bytes to: *room > 0 bytes at *p. Invalidates the frames of the last
 * message. Returns 0 or -ENOMEM. */
int zmtp_reader_space(struct zmtp_reader *r, uint8_t **p, size_t *room);

/* n bytes were read into the space zmtp_reader_space() gave. */
void zmtp_reader_commit(struct zmtp_reader *r, size_t n);

/* Parse what was read. Returns an enum zmtp_event, or a negative errno when the peer broke
 * the protocol and the connection must be dropped: -EPROTO (bad greeting, framing or
 * handshake), -EPROTONOSUPPORT (a ZMTP older than 3.0 or a mechanism other than NULL),
 * -ECONNREFUSED (the peer sent ERROR), -EMSGSIZE (a frame over ZMTP_MAX_SKIP, which would
 * stall the stream for that long). For ZMTP_MESSAGE, frames[0..*nframes) stay valid
 * until the next call on r; frames has room for WIRE_MAX_FRAMES. */
int zmtp_reader_next(struct zmtp_reader *r, struct wire_frame *frames, size_t *nframes);

#endif
