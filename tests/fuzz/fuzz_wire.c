/* libFuzzer driver for the kernel side: wire_parse() over arbitrary frame sets signed with a
 * fixed key, a sign-then-parse round trip, and the parsed messages folded into a result
 * (result_add_iopub/result_add_reply) and rendered (result_to_json), as kernel.c and
 * session.c do with what a kernel sends.
 *
 * Input: one mode byte, then frames separated by 0xFF bytes (a byte that never occurs in the
 * UTF-8 JSON parts, so nothing of interest is lost to the scheme). Mode bits:
 *   0     re-sign: put the right signature after the delimiter, so that the fuzzer gets past
 *         the HMAC check and reaches the JSON parts and the result
 *   1     deliver as a shell message (execute_reply) rather than an iopub one
 *   2-3   fold the message into the result 1 to 4 times (every second time through
 *         result_add_iopub_event(), as for a streaming client)
 *   4-5   char limit of the result: 100, 257, 1000 or 10000 characters
 *   6-7   with the frame count, which message type the round trip signs */
#include <errno.h>
#include <json-c/json.h>

#include "fuzz.h"
#include "result.h"
#include "util/jscan.h"
#include "util/text.h"
#include "wire.h"

#define MAX_FRAMES (WIRE_MAX_FRAMES + 8)

static const char KEY[] = FUZZ_WIRE_KEY;

static const char *const TYPES[] = {
    "stream",        "display_data",        "execute_result", "error",  "clear_output",
    "execute_input", "update_display_data", "execute_reply",  "status", "kernel_info_reply",
};
#define NTYPES (sizeof(TYPES) / sizeof(TYPES[0]))

static const long LIMITS[] = {100, 257, 1000, 10000};

static const struct wire_key *key(void)
{
    static struct wire_key *k;

    if (k == NULL)
        k = wire_key_new((const uint8_t *)KEY, sizeof(KEY) - 1);
    FUZZ_CHECK(k != NULL);
    return k;
}

/* What session.c does with one message of an execution; with event, as for a streaming
 * (SSE) client, which also gets the live event: valid UTF-8, like all that clients see. */
static void deliver(struct result *r, struct wire_msg *msg, bool shell, bool event)
{
    if (shell) {
        if (strcmp(msg->msg_type, "execute_reply") == 0)
            result_add_reply(r, msg);
    } else if (strcmp(msg->msg_type, "status") != 0) {
        if (event) {
            json_object *ev = result_add_iopub_event(r, msg);
            const char *text;

            if (ev != NULL) {
                text = json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN);
                FUZZ_CHECK(text != NULL && utf8_valid(text, strlen(text)));
            }
            json_object_put(ev);
        } else {
            result_add_iopub(r, msg);
        }
    }
}

static size_t delimiter(const struct wire_frame *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (f[i].len == sizeof(WIRE_DELIM) - 1 && memcmp(f[i].data, WIRE_DELIM, f[i].len) == 0)
            return i;
    }
    return n;
}

/* Sign a message of our own (header from wire_header(), content taken from the input when it
 * is a JSON object) and check that it parses back to what went in, and that a flipped
 * signature digit is refused. The parsed message is handed to the result too. */
static void round_trip(struct result *r, const char *type, const struct wire_frame *content_in,
                       unsigned nbuffers, double date, bool with_parent)
{
    char header[512], parent[512], sig[WIRE_SIG_HEX + 1];
    struct wire_frame f[7 + 2], parts[4];
    json_object *want = NULL;
    const char *content = "{}";
    size_t content_len = 2;
    struct wire_msg msg;
    int hlen, plen, rc;

    if (content_in != NULL) {
        want = wire_json_parse(content_in->data, content_in->len);
        /* json-c takes a few things RFC 8259 does not, which wire_parse() refuses. */
        if (want != NULL && json_object_is_type(want, json_type_object) &&
            jscan_members(content_in->data, content_in->len, WIRE_JSON_DEPTH, NULL, 0, NULL) == 0) {
            content = content_in->data;
            content_len = content_in->len;
        } else {
            json_object_put(want);
            want = NULL;
        }
    }
    hlen = wire_header(header, sizeof(header), "0123456789abcdef0123456789abcdef", "fuzz-session",
                       type, date);
    FUZZ_CHECK(hlen > 0);
    plen = 2;
    strcpy(parent, "{}");
    if (with_parent) {
        plen = wire_header(parent, sizeof(parent), "fedcba9876543210fedcba9876543210",
                           "fuzz-client", "execute_request", date);
        FUZZ_CHECK(plen > 0);
    }
    parts[0] = (struct wire_frame){header, (size_t)hlen};
    parts[1] = (struct wire_frame){parent, (size_t)plen};
    parts[2] = (struct wire_frame){"{}", 2};
    parts[3] = (struct wire_frame){content, content_len};
    FUZZ_CHECK(wire_sign(key(), parts, sig) == 0);
    FUZZ_CHECK(strlen(sig) == WIRE_SIG_HEX);

    f[0] = (struct wire_frame){"fuzz-identity", 13};
    f[1] = (struct wire_frame){WIRE_DELIM, sizeof(WIRE_DELIM) - 1};
    f[2] = (struct wire_frame){sig, WIRE_SIG_HEX};
    memcpy(&f[3], parts, sizeof(parts));
    for (unsigned i = 0; i < nbuffers; i++)
        f[7 + i] = (struct wire_frame){"\x00\x01\xff", 3};

    rc = wire_parse(key(), f, 7 + nbuffers, &msg);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(strcmp(msg.msg_type, type) == 0);
    if (with_parent)
        FUZZ_CHECK(strcmp(msg.parent_id, "fedcba9876543210fedcba9876543210") == 0);
    else
        FUZZ_CHECK(msg.parent_id[0] == '\0');
    FUZZ_CHECK(msg.content_text == content && msg.content_len == content_len &&
               msg.nbuffers == nbuffers && msg.content == NULL);
    if (want != NULL)
        FUZZ_CHECK(json_object_equal(want, wire_msg_content(&msg)));
    else
        FUZZ_CHECK(json_object_object_length(wire_msg_content(&msg)) == 0);
    deliver(r, &msg, strcmp(type, "execute_reply") == 0, with_parent);
    wire_msg_cleanup(&msg);
    wire_msg_cleanup(&msg); /* twice is harmless */

    sig[date > 0 ? (size_t)date % WIRE_SIG_HEX : 0] ^= 0x01; /* '0'<->'1', 'a'<->'`', ... */
    FUZZ_CHECK(wire_parse(key(), f, 7 + nbuffers, &msg) == -EACCES);
    FUZZ_CHECK(msg.content == NULL && msg.content_text == NULL && msg.msg_type[0] == '\0');
    json_object_put(want);
}

/* Every text the client sees is valid UTF-8 and, stream and result texts, within the limit. */
static void check_rendered(json_object *obj, long limit)
{
    json_object *outputs = NULL, *v = NULL;
    const char *text;

    FUZZ_CHECK(obj != NULL);
    text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
    FUZZ_CHECK(text != NULL && utf8_valid(text, strlen(text)));
    FUZZ_CHECK(json_object_object_get_ex(obj, "output", &v));
    FUZZ_CHECK(utf8_count(json_object_get_string(v), (size_t)json_object_get_string_len(v)) <=
               (size_t)limit);
    FUZZ_CHECK(json_object_object_get_ex(obj, "stderr", &v));
    FUZZ_CHECK(utf8_count(json_object_get_string(v), (size_t)json_object_get_string_len(v)) <=
               (size_t)limit);
    FUZZ_CHECK(json_object_object_get_ex(obj, "outputs", &outputs));
    FUZZ_CHECK(json_object_array_length(outputs) <= RESULT_MAX_OUTPUTS);
    for (size_t i = 0; i < json_object_array_length(outputs); i++) {
        json_object *item = json_object_array_get_idx(outputs, i), *kind = NULL, *t = NULL;

        FUZZ_CHECK(json_object_object_get_ex(item, "kind", &kind));
        if (strcmp(json_object_get_string(kind), "error") == 0)
            continue; /* "ename: evalue", each part capped on its own */
        if (json_object_object_get_ex(item, "text", &t) && t != NULL)
            FUZZ_CHECK(utf8_count(json_object_get_string(t),
                                  (size_t)json_object_get_string_len(t)) <= (size_t)limit);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wire_frame frames[MAX_FRAMES];
    char *copies[MAX_FRAMES] = {NULL};
    char sig[WIRE_SIG_HEX + 1];
    size_t n = 0, start = 1, d;
    struct result *r;
    struct wire_msg msg;
    json_object *attempts, *rendered;
    unsigned mode;
    bool shell;
    long limit;
    int rc;

    if (size == 0)
        return 0;
    mode = data[0];
    shell = (mode & 2) != 0;
    limit = LIMITS[(mode >> 4) & 3];

    /* Split into frames, each in a buffer of its own so that reading past one is caught. */
    for (size_t i = 1; i <= size && n < MAX_FRAMES; i++) {
        if (i < size && data[i] != FUZZ_WIRE_SEP && !(n == MAX_FRAMES - 1))
            continue;
        if (n == MAX_FRAMES - 1)
            i = size; /* the last frame takes the rest */
        copies[n] = fuzz_strndup(data + start, i - start);
        frames[n].data = copies[n];
        frames[n].len = i - start;
        n++;
        start = i + 1;
    }

    d = delimiter(frames, n);
    if ((mode & 1) && d < n && n - d >= 6) {
        FUZZ_CHECK(wire_sign(key(), &frames[d + 2], sig) == 0);
        frames[d + 1].data = sig;
        frames[d + 1].len = WIRE_SIG_HEX;
    }

    r = result_new(limit);
    FUZZ_CHECK(r != NULL);
    rc = wire_parse(key(), frames, n, &msg);
    FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -EACCES);
    if (rc == 0) {
        FUZZ_CHECK(d < n && msg.nbuffers == n - d - 6 && msg.content_len == frames[d + 5].len &&
                   msg.content_text == frames[d + 5].data);
        FUZZ_CHECK(memchr(msg.msg_type, '\0', sizeof(msg.msg_type)) != NULL);
        FUZZ_CHECK(memchr(msg.parent_id, '\0', sizeof(msg.parent_id)) != NULL);
        /* What wire_parse() checked, json-c reads as an object. */
        FUZZ_CHECK(json_object_is_type(wire_msg_content(&msg), json_type_object));
        for (unsigned i = 0; i <= ((mode >> 2) & 3); i++)
            deliver(r, &msg, shell, (i & 1) != 0);
        wire_msg_cleanup(&msg);
    } else {
        FUZZ_CHECK(msg.content == NULL && msg.content_text == NULL && msg.msg_type[0] == '\0' &&
                   msg.parent_id[0] == '\0' && msg.content_len == 0 && msg.nbuffers == 0);
    }

    round_trip(r, TYPES[((mode >> 6) + n) % NTYPES], n > 0 ? &frames[n - 1] : NULL,
               (unsigned)(n % 3), 1.7e9 + (double)size / 7.0, (mode & 0x40) != 0);

    attempts = json_object_new_array();
    FUZZ_CHECK(attempts != NULL);
    json_object_array_add(attempts, result_attempt_json(r, 1, "print('fuzz')"));
    FUZZ_CHECK(strcmp(result_status_name(result_status(r)), "") != 0);
    rendered = result_to_json(r, attempts, -1);
    check_rendered(rendered, limit);
    json_object_put(rendered);
    if (mode & 0x80) {
        result_fail(r, RESULT_TIMEOUT, "TimeoutError", "timed out");
        rendered = result_to_json(r, NULL, RESULT_KERNEL_DIED);
        check_rendered(rendered, limit);
        json_object_put(rendered);
    }
    json_object_put(attempts);
    result_free(r);
    for (size_t i = 0; i < n; i++)
        free(copies[i]);
    return 0;
}
