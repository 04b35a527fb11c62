/* libFuzzer driver for the ZMTP reader: what a kernel's socket sends, cut into reads of
 * fuzzer-chosen sizes, through zmtp_reader_space/commit/next as kernel.c does, with the
 * bounds checked after every step; each message is then handed to wire_parse() as kernel.c
 * does. A second part re-reads frames written by zmtp_frame_header() and checks them.
 *
 * Input: byte 0 picks the message bound (small, so that skipping is reached) and whether the
 * stream starts with a valid greeting and READY (so that the fuzzer reaches the traffic
 * grammar without having to find them); byte 1 seeds the read sizes; the rest is the
 * stream. */
#include <errno.h>

#include "fuzz.h"
#include "wire.h"
#include "zmtp.h"

static const size_t BOUNDS[] = {16, 300, 4096, 1u << 20};

static const struct wire_key *key(void)
{
    static struct wire_key *k;

    if (k == NULL)
        k = wire_key_new((const uint8_t *)FUZZ_WIRE_KEY, sizeof(FUZZ_WIRE_KEY) - 1);
    FUZZ_CHECK(k != NULL);
    return k;
}

/* The frames of a message lie in the reader's buffer and within the bound. */
static void check_message(const struct zmtp_reader *r, const struct wire_frame *frames,
                          size_t n)
{
    size_t total = 0;
    struct wire_msg msg;

    FUZZ_CHECK(n >= 1 && n <= WIRE_MAX_FRAMES);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = frames[i].data;

        FUZZ_CHECK(p >= r->buf && p + frames[i].len <= r->buf + r->len);
        total += frames[i].len;
    }
    FUZZ_CHECK(total <= r->max_msg);
    if (wire_parse(key(), frames, n, &msg) == 0)
        wire_msg_cleanup(&msg);
}

static void read_stream(const uint8_t *data, size_t size, size_t max_msg, uint8_t seed,
                        bool prefix)
{
    uint8_t greeting[ZMTP_GREETING_LEN], ready_router[64];
    struct wire_frame frames[WIRE_MAX_FRAMES];
    struct zmtp_reader r;
    int ready_len = zmtp_ready(ready_router, sizeof(ready_router), "ROUTER", NULL, 0);
    size_t off = 0, pre_off = 0;
    size_t pre_len = prefix ? sizeof(greeting) + (size_t)ready_len : 0;
    uint32_t rng = seed * 2654435761u + 1;
    bool ended = false;

    FUZZ_CHECK(ready_len > 0);
    zmtp_greeting(greeting);
    FUZZ_CHECK(zmtp_reader_init(&r, max_msg) == 0);
    while (!ended) {
        size_t nframes = 9999, room = 0, n;
        uint8_t *p = NULL;
        int ev = zmtp_reader_next(&r, frames, &nframes);

        FUZZ_CHECK(r.pos <= r.len && r.len <= r.cap);
        /* never more than the message, its framing, a command and a read's slack */
        FUZZ_CHECK(r.cap <= max_msg + WIRE_MAX_FRAMES * ZMTP_FRAME_HEADER_MAX +
                                ZMTP_MAX_COMMAND + (512u << 10));
        switch (ev) {
        case ZMTP_MESSAGE:
            check_message(&r, frames, nframes);
            continue;
        case ZMTP_DROPPED:
        case ZMTP_GREETED:
        case ZMTP_READY:
            FUZZ_CHECK(nframes == 0);
            if (ev == ZMTP_READY)
                FUZZ_CHECK(r.peer_type[0] != '\0' && strlen(r.peer_type) <= 16);
            continue;
        case ZMTP_NEED_MORE:
            break;
        default:
            FUZZ_CHECK(ev == -EPROTO || ev == -EPROTONOSUPPORT || ev == -ECONNREFUSED ||
                       ev == -EMSGSIZE);
            ended = true;
            continue;
        }
        if (off == size && pre_off == pre_len)
            break;
        FUZZ_CHECK(zmtp_reader_space(&r, &p, &room) == 0);
        FUZZ_CHECK(room > 0);
        rng = rng * 1103515245u + 12345u;
        n = 1 + (rng >> 16) % 97;
        if (n > room)
            n = room;
        if (pre_off < pre_len) {
            /* the valid greeting and READY, then the fuzzer's bytes */
            const uint8_t *src = pre_off < sizeof(greeting)
                                     ? greeting + pre_off
                                     : ready_router + (pre_off - sizeof(greeting));
            size_t left = pre_off < sizeof(greeting) ? sizeof(greeting) - pre_off
                                                     : pre_len - pre_off;

            n = n < left ? n : left;
            memcpy(p, src, n);
            pre_off += n;
        } else {
            n = n < size - off ? n : size - off;
            memcpy(p, data + off, n);
            off += n;
        }
        zmtp_reader_commit(&r, n);
    }
    /* a dropped connection starts over with what is left */
    zmtp_reader_reset(&r);
    FUZZ_CHECK(r.len == 0 && r.pos == 0);
    zmtp_reader_cleanup(&r);
}

/* Frames written with zmtp_frame_header() read back as written. */
static void round_trip(const uint8_t *data, size_t size)
{
    uint8_t *stream = malloc(ZMTP_GREETING_LEN + 64 + size * 2 + 64 * ZMTP_FRAME_HEADER_MAX);
    uint8_t ready[64], *p = stream;
    struct wire_frame frames[WIRE_MAX_FRAMES];
    struct zmtp_reader r;
    size_t nframes = 0, want = 0, cut = 0, left = size, room;
    int n, ev;

    FUZZ_CHECK(stream != NULL);
    zmtp_greeting(p);
    p += ZMTP_GREETING_LEN;
    n = zmtp_ready(ready, sizeof(ready), "ROUTER", NULL, 0);
    FUZZ_CHECK(n > 0);
    memcpy(p, ready, (size_t)n);
    p += n;
    /* the input cut into frames at every 0xFF byte */
    while (want < WIRE_MAX_FRAMES) {
        const uint8_t *sep = memchr(data + cut, 0xFF, left);
        size_t len = sep != NULL ? (size_t)(sep - (data + cut)) : left;

        p += zmtp_frame_header(p, len, sep != NULL && want + 1 < WIRE_MAX_FRAMES ? ZMTP_MORE : 0);
        memcpy(p, data + cut, len);
        p += len;
        want++;
        if (sep == NULL || want == WIRE_MAX_FRAMES)
            break;
        cut += len + 1;
        left -= len + 1;
    }
    FUZZ_CHECK(zmtp_reader_init(&r, 1u << 20) == 0);
    ev = ZMTP_NEED_MORE;
    {
        size_t total = (size_t)(p - stream), off = 0;
        uint8_t *dst;

        while (ev >= 0 && ev != ZMTP_MESSAGE) {
            ev = zmtp_reader_next(&r, frames, &nframes);
            if (ev == ZMTP_NEED_MORE) {
                FUZZ_CHECK(off < total);
                FUZZ_CHECK(zmtp_reader_space(&r, &dst, &room) == 0);
                room = room < total - off ? room : total - off;
                memcpy(dst, stream + off, room);
                zmtp_reader_commit(&r, room);
                off += room;
            }
        }
    }
    FUZZ_CHECK(ev == ZMTP_MESSAGE);
    FUZZ_CHECK(nframes == want);
    cut = 0;
    for (size_t i = 0; i < nframes; i++) {
        FUZZ_CHECK(memcmp(frames[i].data, data + cut, frames[i].len) == 0);
        cut += frames[i].len + 1;
    }
    zmtp_reader_cleanup(&r);
    free(stream);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    read_stream(data + 2, size - 2, BOUNDS[data[0] & 3], data[1], (data[0] & 4) != 0);
    round_trip(data + 2, size - 2);
    return 0;
}
