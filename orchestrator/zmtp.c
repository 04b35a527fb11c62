/* ZMTP 3.0 with the NULL mechanism, as a client of one kernel socket. The peer is hostile:
 * every length is checked before it is used, a message larger than its bound is skipped
 * without being held, and anything that breaks the grammar ends the connection. */
#include "zmtp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define READ_MIN 4096u           /* least room offered to a read */
#define SHRINK_ABOVE (64u << 10) /* an empty buffer larger than this is given back */
#define GROW_SLACK (256u << 10)  /* most a growing buffer gets beyond what it needs */

enum { ST_GREETING, ST_HANDSHAKE, ST_TRAFFIC };

static const char MECHANISM[] = "NULL";

void zmtp_greeting(uint8_t out[ZMTP_GREETING_LEN])
{
    memset(out, 0, ZMTP_GREETING_LEN);
    /* signature: 0xFF, eight bytes of padding (a 1.0 peer would read them as a length, so
     * they hold 1), 0x7F */
    out[0] = 0xFF;
    out[8] = 0x01;
    out[9] = 0x7F;
    out[10] = 3; /* version 3.0 */
    out[11] = 0;
    memcpy(out + 12, MECHANISM, sizeof(MECHANISM) - 1);
    /* as-server 0 and the filler: zero */
}

size_t zmtp_frame_header(uint8_t out[ZMTP_FRAME_HEADER_MAX], uint64_t len, unsigned flags)
{
    flags &= ZMTP_MORE | ZMTP_COMMAND;
    if (len <= 255) {
        out[0] = (uint8_t)flags;
        out[1] = (uint8_t)len;
        return 2;
    }
    out[0] = (uint8_t)(flags | ZMTP_LONG);
    for (int i = 0; i < 8; i++)
        out[1 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 9;
}

/* Write one property: a 1-byte name length, the name (not NUL-terminated), a 4-byte value
 * length and the value. */
static uint8_t *put_property(uint8_t *p, const char *name, size_t nlen, const void *value,
                             size_t len)
{
    *p++ = (uint8_t)nlen;
    for (size_t i = 0; i < nlen; i++)
        *p++ = (uint8_t)name[i];
    for (int i = 0; i < 4; i++)
        *p++ = (uint8_t)(len >> (24 - 8 * i));
    if (len > 0)
        memcpy(p, value, len);
    return p + len;
}

int zmtp_ready(uint8_t *out, size_t outlen, const char *socket_type, const void *identity,
               size_t identity_len)
{
    static const char name[] = "READY";
    size_t tlen = strlen(socket_type), body, hlen;
    uint8_t header[ZMTP_FRAME_HEADER_MAX], *p;

    if (tlen == 0 || tlen > ZMTP_SOCKET_TYPE_MAX || identity_len > ZMTP_IDENTITY_MAX)
        return -EINVAL;
    body = 1 + (sizeof(name) - 1) + (1 + 11 + 4 + tlen);
    if (identity_len > 0)
        body += 1 + 8 + 4 + identity_len;
    hlen = zmtp_frame_header(header, body, ZMTP_COMMAND);
    if (outlen < hlen + body)
        return -ENOSPC;
    memcpy(out, header, hlen);
    p = out + hlen;
    *p++ = (uint8_t)(sizeof(name) - 1);
    memcpy(p, name, sizeof(name) - 1);
    p += sizeof(name) - 1;
    p = put_property(p, "Socket-Type", 11, socket_type, tlen);
    if (identity_len > 0)
        p = put_property(p, "Identity", 8, identity, identity_len);
    return (int)(p - out);
}

int zmtp_reader_init(struct zmtp_reader *r, size_t max_msg)
{
    memset(r, 0, sizeof(*r));
    r->max_msg = max_msg;
    r->min_cap = READ_MIN;
    r->buf = malloc(r->min_cap);
    if (r->buf == NULL)
        return -ENOMEM;
    r->cap = r->min_cap;
    r->state = ST_GREETING;
    return 0;
}

void zmtp_reader_cleanup(struct zmtp_reader *r)
{
    free(r->buf);
    r->buf = NULL;
    r->cap = r->len = r->pos = 0;
}

static void forget_message(struct zmtp_reader *r)
{
    r->in_msg = false;
    r->discard = false;
    r->skip = 0;
    r->skip_last = false;
    r->msg_bytes = 0;
    r->nframes = 0;
}

/* Give an empty buffer's memory back down to its first size (keeping it when that fails). */
static void shrink(struct zmtp_reader *r)
{
    uint8_t *smaller;

    if (r->cap <= r->min_cap)
        return;
    smaller = realloc(r->buf, r->min_cap);
    if (smaller != NULL) {
        r->buf = smaller;
        r->cap = r->min_cap;
    }
}

void zmtp_reader_reset(struct zmtp_reader *r)
{
    forget_message(r);
    r->len = r->pos = r->msg_start = 0;
    r->state = ST_GREETING;
    r->peer_type[0] = '\0';
    shrink(r);
}

/* The first byte of buf that must stay: the start of the message being gathered, or the
 * parsing position. */
static size_t keep_from(const struct zmtp_reader *r)
{
    return (r->in_msg && !r->discard) ? r->msg_start : r->pos;
}

static void shift(struct zmtp_reader *r, size_t by)
{
    if (by == 0)
        return;
    memmove(r->buf, r->buf + by, r->len - by);
    r->len -= by;
    r->pos -= by;
    if (r->in_msg && !r->discard) {
        r->msg_start -= by;
        for (size_t i = 0; i < r->nframes; i++)
            r->frame_off[i] -= by;
    }
}

/* Bytes a frame header at buf[pos..len) takes, 0 when incomplete. Stores flags and size. */
static size_t parse_header(const struct zmtp_reader *r, unsigned *flags, uint64_t *size)
{
    const uint8_t *p = r->buf + r->pos;
    size_t avail = r->len - r->pos;

    if (avail < 1)
        return 0;
    *flags = p[0];
    if (!(p[0] & ZMTP_LONG)) {
        if (avail < 2)
            return 0;
        *size = p[1];
        return 2;
    }
    if (avail < 9)
        return 0;
    *size = 0;
    for (int i = 0; i < 8; i++)
        *size = (*size << 8) | p[1 + i];
    return 9;
}

/* Bytes buf must hold from pos on to finish what is being parsed. */
static size_t wanted(const struct zmtp_reader *r)
{
    unsigned flags = 0;
    uint64_t size = 0;
    size_t h;

    if (r->state == ST_GREETING)
        return ZMTP_GREETING_LEN;
    if (r->discard && r->skip > 0)
        return 1;
    h = parse_header(r, &flags, &size);
    if (h == 0)
        return ZMTP_FRAME_HEADER_MAX;
    /* a body larger than its bound is never waited for whole: it is refused or skipped */
    if ((flags & ZMTP_COMMAND) && size > ZMTP_MAX_COMMAND)
        return h;
    if (!(flags & ZMTP_COMMAND) && (r->discard || size > r->max_msg - r->msg_bytes))
        return h;
    return h + (size_t)size;
}

int zmtp_reader_space(struct zmtp_reader *r, uint8_t **p, size_t *room)
{
    size_t keep = keep_from(r), need;

    /* Bytes the buffer must hold from the parsing position on to finish what is being
     * parsed, and at least READ_MIN of room for the read. */
    need = r->pos + wanted(r);
    if (need < r->len + READ_MIN)
        need = r->len + READ_MIN;
    /* Move what must stay to the front when that costs nothing (nothing stays) or when it
     * makes the room needed; otherwise leave it where it is. */
    if (keep > 0 && (keep == r->len || need > r->cap)) {
        shift(r, keep);
        need -= keep;
    }
    if (r->len == 0 && r->cap > SHRINK_ABOVE && need <= r->min_cap)
        shrink(r);
    if (need > r->cap) {
        /* double, for reads that each add a little, but never far beyond what is needed */
        size_t cap = r->cap * 2;
        uint8_t *bigger;

        if (cap > need + GROW_SLACK)
            cap = need + GROW_SLACK;
        if (cap < need)
            cap = need;
        bigger = realloc(r->buf, cap);
        if (bigger == NULL)
            return -ENOMEM;
        r->buf = bigger;
        r->cap = cap;
    }
    *p = r->buf + r->len;
    *room = r->cap - r->len;
    return 0;
}

void zmtp_reader_commit(struct zmtp_reader *r, size_t n)
{
    if (n > r->cap - r->len)
        n = r->cap - r->len;
    r->len += n;
}

static int parse_greeting(struct zmtp_reader *r)
{
    const uint8_t *g = r->buf + r->pos;
    size_t avail = r->len - r->pos;

    /* Refuse what is not ZMTP as early as the bytes show it. */
    if (avail >= 1 && g[0] != 0xFF)
        return -EPROTO;
    if (avail >= 10 && g[9] != 0x7F)
        return -EPROTO;
    if (avail >= 11 && g[10] < 3)
        return -EPROTONOSUPPORT;
    if (avail < ZMTP_GREETING_LEN)
        return ZMTP_NEED_MORE;
    if (memcmp(g + 12, MECHANISM, sizeof(MECHANISM) - 1) != 0)
        return -EPROTONOSUPPORT;
    for (size_t i = 12 + sizeof(MECHANISM) - 1; i < 32; i++) {
        if (g[i] != 0)
            return -EPROTONOSUPPORT;
    }
    r->pos += ZMTP_GREETING_LEN;
    r->state = ST_HANDSHAKE;
    return ZMTP_GREETED;
}

static uint32_t get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static bool is_command(const uint8_t *body, size_t len, const char *name)
{
    size_t nlen = strlen(name);

    return len >= 1 + nlen && body[0] == nlen && memcmp(body + 1, name, nlen) == 0;
}

/* The properties of a READY command: name-length, name, 4-byte value length, value, as
 * many as fit exactly. Socket-Type must be there and short; the rest is ignored. */
static int parse_ready(struct zmtp_reader *r, const uint8_t *p, size_t len)
{
    bool have_type = false;

    while (len > 0) {
        size_t nlen = p[0];
        uint32_t vlen;

        if (nlen == 0 || len < 1 + nlen + 4)
            return -EPROTO;
        vlen = get_be32(p + 1 + nlen);
        if (vlen > len - 1 - nlen - 4)
            return -EPROTO;
        if (nlen == 11 && strncasecmp((const char *)p + 1, "Socket-Type", 11) == 0) {
            const uint8_t *v = p + 1 + nlen + 4;

            if (have_type || vlen == 0 || vlen > ZMTP_SOCKET_TYPE_MAX)
                return -EPROTO;
            for (uint32_t i = 0; i < vlen; i++) {
                if (v[i] < 'A' || v[i] > 'Z')
                    return -EPROTO;
            }
            memcpy(r->peer_type, v, vlen);
            r->peer_type[vlen] = '\0';
            have_type = true;
        }
        p += 1 + nlen + 4 + vlen;
        len -= 1 + nlen + 4 + vlen;
    }
    return have_type ? 0 : -EPROTO;
}

/* A command frame whose whole body is at buf[pos + h ..]. During the handshake only READY
 * is expected; afterwards commands (heartbeats of a newer peer) are read and ignored. */
static int parse_command(struct zmtp_reader *r, size_t h, uint64_t size)
{
    const uint8_t *body = r->buf + r->pos + h;
    int rc;

    if (is_command(body, (size_t)size, "ERROR"))
        return -ECONNREFUSED;
    if (r->state == ST_HANDSHAKE) {
        if (!is_command(body, (size_t)size, "READY"))
            return -EPROTO;
        rc = parse_ready(r, body + 6, (size_t)size - 6);
        if (rc < 0)
            return rc;
        r->state = ST_TRAFFIC;
        r->pos += h + (size_t)size;
        return ZMTP_READY;
    }
    if (size == 0 || body[0] == 0 || body[0] > size - 1)
        return -EPROTO;
    r->pos += h + (size_t)size;
    return ZMTP_NEED_MORE; /* nothing for the caller: go on parsing */
}

static int end_message(struct zmtp_reader *r, struct wire_frame *frames, size_t *nframes)
{
    bool dropped = r->discard;

    if (!dropped) {
        for (size_t i = 0; i < r->nframes; i++) {
            frames[i].data = r->buf + r->frame_off[i];
            frames[i].len = r->frame_len[i];
        }
        *nframes = r->nframes;
    } else {
        *nframes = 0;
    }
    forget_message(r);
    return dropped ? ZMTP_DROPPED : ZMTP_MESSAGE;
}

int zmtp_reader_next(struct zmtp_reader *r, struct wire_frame *frames, size_t *nframes)
{
    *nframes = 0;
    if (r->state == ST_GREETING)
        return parse_greeting(r);

    for (;;) {
        unsigned flags = 0;
        uint64_t size = 0;
        size_t h;

        /* the rest of a skipped frame body */
        if (r->discard && r->skip > 0) {
            size_t n = r->len - r->pos;

            if ((uint64_t)n > r->skip)
                n = (size_t)r->skip;
            r->pos += n;
            r->skip -= n;
            if (r->skip > 0)
                return ZMTP_NEED_MORE;
            if (r->skip_last)
                return end_message(r, frames, nframes);
        }
        h = parse_header(r, &flags, &size);
        if (h == 0)
            return ZMTP_NEED_MORE;
        if (flags & ~(ZMTP_MORE | ZMTP_LONG | ZMTP_COMMAND))
            return -EPROTO;
        if (flags & ZMTP_COMMAND) {
            int rc;

            if ((flags & ZMTP_MORE) || r->in_msg || size > ZMTP_MAX_COMMAND)
                return -EPROTO;
            if (r->len - r->pos - h < size)
                return ZMTP_NEED_MORE;
            rc = parse_command(r, h, size);
            if (rc != ZMTP_NEED_MORE)
                return rc;
            continue;
        }
        if (r->state != ST_TRAFFIC)
            return -EPROTO; /* a message before the handshake ended */
        if (size > ZMTP_MAX_SKIP)
            return -EMSGSIZE;
        if (!r->in_msg) {
            r->in_msg = true;
            r->msg_start = r->pos;
        }
        if (!r->discard && (r->nframes == WIRE_MAX_FRAMES || size > r->max_msg - r->msg_bytes))
            r->discard = true; /* what was gathered is dropped with the rest */
        if (r->discard) {
            r->pos += h;
            r->skip = size;
            r->skip_last = !(flags & ZMTP_MORE);
            if (size == 0 && r->skip_last)
                return end_message(r, frames, nframes);
            continue;
        }
        if (r->len - r->pos - h < size)
            return ZMTP_NEED_MORE;
        r->frame_off[r->nframes] = r->pos + h;
        r->frame_len[r->nframes] = (size_t)size;
        r->nframes++;
        r->msg_bytes += (size_t)size;
        r->pos += h + (size_t)size;
        if (!(flags & ZMTP_MORE))
            return end_message(r, frames, nframes);
    }
}
