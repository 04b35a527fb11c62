/* Unit tests for zmtp.c: the greeting and READY a client sends, checked byte by byte against
 * the ZMTP 3.0 grammar, and the reader fed what a server (or a hostile kernel) sends, whole
 * and a byte at a time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "zmtp.h"

/* A byte stream under construction. */
struct stream {
    uint8_t *p;
    size_t len, cap;
};

static void put(struct stream *s, const void *data, size_t len)
{
    if (s->len + len > s->cap) {
        s->cap = (s->len + len) * 2;
        s->p = realloc(s->p, s->cap);
        assert_non_null(s->p);
    }
    memcpy(s->p + s->len, data, len);
    s->len += len;
}

static void put_greeting(struct stream *s, int major, const char *mechanism)
{
    uint8_t g[ZMTP_GREETING_LEN];

    zmtp_greeting(g);
    g[10] = (uint8_t)major;
    g[11] = 1;
    memset(g + 12, 0, 20);
    memcpy(g + 12, mechanism, strlen(mechanism));
    put(s, g, sizeof(g));
}

static void put_frame(struct stream *s, const void *data, uint64_t len, unsigned flags)
{
    uint8_t h[ZMTP_FRAME_HEADER_MAX];

    put(s, h, zmtp_frame_header(h, len, flags));
    put(s, data, (size_t)len);
}

static void put_ready(struct stream *s, const char *type)
{
    uint8_t cmd[256];
    int n = zmtp_ready(cmd, sizeof(cmd), type, NULL, 0);

    assert_true(n > 0);
    put(s, cmd, (size_t)n);
}

/* A message of frames given as NUL-terminated strings. */
static void put_message(struct stream *s, const char *const *frames, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put_frame(s, frames[i], strlen(frames[i]), i + 1 < n ? ZMTP_MORE : 0);
}

struct seen {
    int greeted, ready, messages, dropped;
    int error;
    size_t last_nframes;
    char last[4][64];
};

/* Feed the stream to a reader in pieces of at most chunk bytes, gathering what it reports. */
static void feed(const struct stream *s, size_t chunk, size_t max_msg, struct seen *seen)
{
    struct zmtp_reader r;
    size_t off = 0;

    memset(seen, 0, sizeof(*seen));
    assert_int_equal(zmtp_reader_init(&r, max_msg), 0);
    while (seen->error == 0) {
        struct wire_frame frames[WIRE_MAX_FRAMES];
        size_t nframes = 0, room = 0, n;
        uint8_t *p = NULL;
        int ev = zmtp_reader_next(&r, frames, &nframes);

        if (ev < 0) {
            seen->error = ev;
            break;
        }
        if (ev == ZMTP_GREETED)
            seen->greeted++;
        if (ev == ZMTP_READY)
            seen->ready++;
        if (ev == ZMTP_DROPPED)
            seen->dropped++;
        if (ev == ZMTP_MESSAGE) {
            seen->messages++;
            seen->last_nframes = nframes;
            for (size_t i = 0; i < nframes && i < 4; i++) {
                size_t l = frames[i].len < 63 ? frames[i].len : 63;

                memcpy(seen->last[i], frames[i].data, l);
                seen->last[i][l] = '\0';
            }
        }
        if (ev != ZMTP_NEED_MORE)
            continue;
        if (off == s->len)
            break;
        assert_int_equal(zmtp_reader_space(&r, &p, &room), 0);
        assert_true(room > 0);
        /* the buffer stays near what the bound allows */
        assert_true(r.cap <= max_msg + WIRE_MAX_FRAMES * ZMTP_FRAME_HEADER_MAX +
                                 ZMTP_MAX_COMMAND + (1u << 20));
        n = s->len - off;
        if (n > chunk)
            n = chunk;
        if (n > room)
            n = room;
        memcpy(p, s->p + off, n);
        zmtp_reader_commit(&r, n);
        off += n;
    }
    zmtp_reader_cleanup(&r);
}

static const size_t CHUNKS[] = {1, 2, 7, 63, 64, 65, 4096, 1u << 20};

static void test_greeting_bytes(void **state)
{
    uint8_t g[ZMTP_GREETING_LEN];

    (void)state;
    zmtp_greeting(g);
    assert_int_equal(g[0], 0xFF);
    assert_int_equal(g[9], 0x7F);
    assert_int_equal(g[10], 3);
    assert_int_equal(g[11], 0);
    assert_memory_equal(g + 12, "NULL", 4);
    for (int i = 16; i < 64; i++)
        assert_int_equal(g[i], 0);
}

static void test_frame_headers(void **state)
{
    uint8_t h[ZMTP_FRAME_HEADER_MAX];

    (void)state;
    assert_int_equal(zmtp_frame_header(h, 0, 0), 2);
    assert_int_equal(h[0], 0);
    assert_int_equal(h[1], 0);
    assert_int_equal(zmtp_frame_header(h, 255, ZMTP_MORE), 2);
    assert_int_equal(h[0], ZMTP_MORE);
    assert_int_equal(h[1], 255);
    assert_int_equal(zmtp_frame_header(h, 256, ZMTP_MORE), 9);
    assert_int_equal(h[0], ZMTP_MORE | ZMTP_LONG);
    assert_int_equal(h[7], 1);
    assert_int_equal(h[8], 0);
    assert_int_equal(zmtp_frame_header(h, 0x0102030405060708ULL, ZMTP_COMMAND), 9);
    assert_int_equal(h[0], ZMTP_COMMAND | ZMTP_LONG);
    for (int i = 1; i <= 8; i++)
        assert_int_equal(h[i], i);
    /* only the flags a frame may carry */
    assert_int_equal(zmtp_frame_header(h, 3, 0xF0u | ZMTP_MORE), 2);
    assert_int_equal(h[0], ZMTP_MORE);
}

static void test_ready_bytes(void **state)
{
    static const uint8_t want[] = {
        ZMTP_COMMAND, 45, 5, 'R', 'E', 'A', 'D', 'Y', 11, 'S', 'o', 'c', 'k', 'e', 't', '-',
        'T', 'y', 'p', 'e', 0, 0, 0, 6, 'D', 'E', 'A', 'L', 'E', 'R', 8, 'I', 'd', 'e', 'n',
        't', 'i', 't', 'y', 0, 0, 0, 4, 'a', 'b', 'c', 'd'};
    uint8_t out[128];
    char id[ZMTP_IDENTITY_MAX + 1];

    (void)state;
    assert_int_equal(zmtp_ready(out, sizeof(out), "DEALER", "abcd", 4), (int)sizeof(want));
    assert_memory_equal(out, want, sizeof(want));
    assert_int_equal(zmtp_ready(out, 10, "DEALER", "abcd", 4), -ENOSPC);
    assert_int_equal(zmtp_ready(out, sizeof(out), "", NULL, 0), -EINVAL);
    assert_int_equal(zmtp_ready(out, sizeof(out), "A_TYPE_FAR_TOO_LONG", NULL, 0), -EINVAL);
    memset(id, 'x', sizeof(id));
    assert_int_equal(zmtp_ready(out, sizeof(out), "DEALER", id, sizeof(id)), -EINVAL);
}

/* What a libzmq ROUTER sends, then two messages, read in every chunking. */
static void test_server_stream(void **state)
{
    static const char *const m1[] = {"<IDS|MSG>", "sig", "{\"h\":1}", "{}"};
    static const char *const m2[] = {"only"};
    struct stream s = {0};
    struct seen seen;
    char big[300];

    (void)state;
    put_greeting(&s, 3, "NULL");
    put_ready(&s, "ROUTER");
    put_message(&s, m1, 4);
    /* a command after the handshake (a 3.1 heartbeat) is ignored */
    put_frame(&s, "\x04PING\x00\x00", 7, ZMTP_COMMAND);
    memset(big, 'b', sizeof(big));
    put_frame(&s, big, sizeof(big), ZMTP_MORE); /* a long frame */
    put_message(&s, m2, 1);
    for (size_t i = 0; i < sizeof(CHUNKS) / sizeof(CHUNKS[0]); i++) {
        feed(&s, CHUNKS[i], 1 << 20, &seen);
        assert_int_equal(seen.error, 0);
        assert_int_equal(seen.greeted, 1);
        assert_int_equal(seen.ready, 1);
        assert_int_equal(seen.messages, 2);
        assert_int_equal(seen.dropped, 0);
        assert_int_equal(seen.last_nframes, 2);
        assert_string_equal(seen.last[1], "only");
        assert_int_equal(seen.last[0][0], 'b');
    }
    free(s.p);
}

/* A message over the bound and one with too many frames are skipped; the next arrives. */
static void test_oversized_messages_are_skipped(void **state)
{
    static const char *const ok[] = {"<IDS|MSG>", "after"};
    struct stream s = {0};
    struct seen seen;
    uint8_t *huge = calloc(1, 5000);

    (void)state;
    assert_non_null(huge);
    put_greeting(&s, 3, "NULL");
    put_ready(&s, "PUB");
    put_frame(&s, "a", 1, ZMTP_MORE);
    put_frame(&s, huge, 5000, ZMTP_MORE); /* over the 4096-byte bound */
    put_frame(&s, "z", 1, 0);
    for (int i = 0; i < WIRE_MAX_FRAMES + 1; i++)
        put_frame(&s, "f", 1, i < WIRE_MAX_FRAMES ? ZMTP_MORE : 0);
    put_frame(&s, huge, 4000, ZMTP_MORE); /* two frames that together pass the bound */
    put_frame(&s, huge, 200, 0);
    put_message(&s, ok, 2);
    for (size_t i = 0; i < sizeof(CHUNKS) / sizeof(CHUNKS[0]); i++) {
        feed(&s, CHUNKS[i], 4096, &seen);
        assert_int_equal(seen.error, 0);
        assert_int_equal(seen.dropped, 3);
        assert_int_equal(seen.messages, 1);
        assert_string_equal(seen.last[1], "after");
    }
    /* exactly WIRE_MAX_FRAMES frames, and exactly the bound, pass */
    free(s.p);
    memset(&s, 0, sizeof(s));
    put_greeting(&s, 3, "NULL");
    put_ready(&s, "PUB");
    for (int i = 0; i < WIRE_MAX_FRAMES; i++)
        put_frame(&s, "f", 1, i + 1 < WIRE_MAX_FRAMES ? ZMTP_MORE : 0);
    put_frame(&s, huge, 4096, 0);
    feed(&s, 4096, 4096, &seen);
    assert_int_equal(seen.error, 0);
    assert_int_equal(seen.messages, 2);
    assert_int_equal(seen.dropped, 0);
    free(s.p);
    free(huge);
}

/* A stream that breaks the protocol ends with the error, after what was valid before it. */
static int first_error(void (*build)(struct stream *s))
{
    struct stream s = {0};
    struct seen seen;
    int err = 0;

    build(&s);
    for (size_t i = 0; i < sizeof(CHUNKS) / sizeof(CHUNKS[0]); i++) {
        feed(&s, CHUNKS[i], 1 << 16, &seen);
        if (i == 0)
            err = seen.error;
        assert_int_equal(seen.error, err);
    }
    free(s.p);
    return err;
}

static void not_zmtp(struct stream *s)
{
    put(s, "HTTP/1.1 200 OK\r\n", 17);
}
static void zmtp_2(struct stream *s)
{
    put_greeting(s, 1, "NULL");
}
static void curve(struct stream *s)
{
    put_greeting(s, 3, "CURVE");
}
static void mechanism_tail(struct stream *s)
{
    put_greeting(s, 3, "NULLX");
}
static void message_before_ready(struct stream *s)
{
    put_greeting(s, 3, "NULL");
    put_frame(s, "x", 1, 0);
}
static void error_command(struct stream *s)
{
    put_greeting(s, 3, "NULL");
    put_frame(s, "\x05" "ERROR\x03" "bad", 10, ZMTP_COMMAND);
}
static void other_command_first(struct stream *s)
{
    put_greeting(s, 3, "NULL");
    put_frame(s, "\x04PING\x00\x00", 7, ZMTP_COMMAND);
}
static void ready_without_type(struct stream *s)
{
    put_greeting(s, 3, "NULL");
    put_frame(s, "\x05READY\x08Identity\x00\x00\x00\x01x", 20, ZMTP_COMMAND);
}
static void ready_property_overruns(struct stream *s)
{
    put_greeting(s, 3, "NULL");
    put_frame(s, "\x05READY\x0bSocket-Type\x00\x00\x01\x00PUB", 25, ZMTP_COMMAND);
}
static void ready_type_not_a_name(struct stream *s)
{
    put_greeting(s, 3, "NULL");
    put_frame(s, "\x05READY\x0bSocket-Type\x00\x00\x00\x03p\x00b", 25, ZMTP_COMMAND);
}
static void reserved_flag(struct stream *s)
{
    put_greeting(s, 3, "NULL");
    put_ready(s, "ROUTER");
    put_frame(s, "x", 1, 0);
    s->p[s->len - 3] |= 0x10;
}
static void command_inside_message(struct stream *s)
{
    put_greeting(s, 3, "NULL");
    put_ready(s, "ROUTER");
    put_frame(s, "x", 1, ZMTP_MORE);
    put_frame(s, "\x04PING\x00\x00", 7, ZMTP_COMMAND);
}
static void huge_command(struct stream *s)
{
    uint8_t h[ZMTP_FRAME_HEADER_MAX];

    put_greeting(s, 3, "NULL");
    put(s, h, zmtp_frame_header(h, ZMTP_MAX_COMMAND + 1, ZMTP_COMMAND));
}
static void absurd_length(struct stream *s)
{
    static const uint8_t h[] = {ZMTP_LONG, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};

    put_greeting(s, 3, "NULL");
    put_ready(s, "ROUTER");
    put(s, h, sizeof(h));
    put(s, "tail", 4);
}

static void test_protocol_errors(void **state)
{
    (void)state;
    assert_int_equal(first_error(not_zmtp), -EPROTO);
    assert_int_equal(first_error(zmtp_2), -EPROTONOSUPPORT);
    assert_int_equal(first_error(curve), -EPROTONOSUPPORT);
    assert_int_equal(first_error(mechanism_tail), -EPROTONOSUPPORT);
    assert_int_equal(first_error(message_before_ready), -EPROTO);
    assert_int_equal(first_error(error_command), -ECONNREFUSED);
    assert_int_equal(first_error(other_command_first), -EPROTO);
    assert_int_equal(first_error(ready_without_type), -EPROTO);
    assert_int_equal(first_error(ready_property_overruns), -EPROTO);
    assert_int_equal(first_error(ready_type_not_a_name), -EPROTO);
    assert_int_equal(first_error(reserved_flag), -EPROTO);
    assert_int_equal(first_error(command_inside_message), -EPROTO);
    assert_int_equal(first_error(huge_command), -EPROTO);
    /* an 18-EiB frame is neither waited for nor skipped: it ends the connection */
    assert_int_equal(first_error(absurd_length), -EMSGSIZE);
}

/* After a reset the reader expects a greeting again and has given its large buffer back. */
static void test_reset(void **state)
{
    struct zmtp_reader r;
    struct wire_frame frames[WIRE_MAX_FRAMES];
    struct stream s = {0};
    size_t nframes, room;
    uint8_t *p, *big = calloc(1, 1 << 20);

    (void)state;
    assert_non_null(big);
    put_greeting(&s, 3, "NULL");
    put_ready(&s, "ROUTER");
    put_frame(&s, big, 1 << 20, 0);
    assert_int_equal(zmtp_reader_init(&r, 2 << 20), 0);
    for (size_t off = 0; off < s.len;) {
        size_t n;

        while (zmtp_reader_next(&r, frames, &nframes) > 0)
            ;
        assert_int_equal(zmtp_reader_space(&r, &p, &room), 0);
        n = s.len - off < room ? s.len - off : room;
        memcpy(p, s.p + off, n);
        zmtp_reader_commit(&r, n);
        off += n;
    }
    assert_int_equal(zmtp_reader_next(&r, frames, &nframes), ZMTP_MESSAGE);
    assert_int_equal(frames[0].len, 1 << 20);
    assert_true(r.cap >= 1 << 20);
    zmtp_reader_reset(&r);
    assert_true(r.cap < 1 << 16);
    assert_int_equal(zmtp_reader_next(&r, frames, &nframes), ZMTP_NEED_MORE);
    assert_int_equal(zmtp_reader_space(&r, &p, &room), 0);
    memcpy(p, s.p, ZMTP_GREETING_LEN);
    zmtp_reader_commit(&r, ZMTP_GREETING_LEN);
    assert_int_equal(zmtp_reader_next(&r, frames, &nframes), ZMTP_GREETED);
    zmtp_reader_cleanup(&r);
    zmtp_reader_cleanup(&r);
    free(s.p);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greeting_bytes),
        cmocka_unit_test(test_frame_headers),
        cmocka_unit_test(test_ready_bytes),
        cmocka_unit_test(test_server_stream),
        cmocka_unit_test(test_oversized_messages_are_skipped),
        cmocka_unit_test(test_protocol_errors),
        cmocka_unit_test(test_reset),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
