/* Unit tests for result.c: iopub and reply messages built by hand are folded into a result,
 * and result_to_json() is checked for texts, items, truncation, budgets and status. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "result.h"
#include "util/text.h"

#define MARKER RESULT_TRUNCATION_MARKER

/* Fold one iopub message whose content is the JSON text content, read from its text as
 * wire_parse() leaves it. */
static void feed(struct result *r, const char *type, const char *content)
{
    struct wire_msg m;

    memset(&m, 0, sizeof(m));
    snprintf(m.msg_type, sizeof(m.msg_type), "%s", type);
    snprintf(m.parent_id, sizeof(m.parent_id), "exec-1");
    m.content_text = content;
    m.content_len = strlen(content);
    if (wire_msg_content(&m) == NULL)
        fail_msg("test content is not JSON: %s", content);
    json_object_put(m.content);
    m.content = NULL;
    result_add_iopub(r, &m);
    wire_msg_cleanup(&m);
}

/* Fold a stream message of len bytes of text (which need not be NUL-terminated). */
static void feed_stream(struct result *r, const char *name, const char *text, size_t len)
{
    json_object *content = json_object_new_object();
    struct wire_msg m;
    size_t tlen = 0;
    const char *t;

    json_object_object_add(content, "name", json_object_new_string(name));
    json_object_object_add(content, "text", json_object_new_string_len(text, (int)len));
    t = json_object_to_json_string_length(content, JSON_C_TO_STRING_PLAIN, &tlen);
    memset(&m, 0, sizeof(m));
    snprintf(m.msg_type, sizeof(m.msg_type), "stream");
    m.content_text = t;
    m.content_len = tlen;
    result_add_iopub(r, &m);
    wire_msg_cleanup(&m);
    json_object_put(content);
}

static void feed_str(struct result *r, const char *name, const char *text)
{
    feed_stream(r, name, text, strlen(text));
}

/* Fold a display_data of content_len bytes (padded; at least its smallest form). */
static void feed_sized_display(struct result *r, size_t content_len)
{
    static const char head[] = "{\"data\":{\"text/plain\":\"img\"},\"metadata\":{},\"pad\":\"";
    size_t min = sizeof(head) - 1 + 2, len = content_len < min ? min : content_len;
    char *text = malloc(len);
    struct wire_msg m;

    assert_non_null(text);
    memcpy(text, head, sizeof(head) - 1);
    memset(text + sizeof(head) - 1, 'x', len - min);
    memcpy(text + len - 2, "\"}", 2);
    memset(&m, 0, sizeof(m));
    snprintf(m.msg_type, sizeof(m.msg_type), "display_data");
    m.content_text = text;
    m.content_len = len;
    result_add_iopub(r, &m);
    wire_msg_cleanup(&m);
    free(text);
}

static void reply(struct result *r, const char *content)
{
    struct wire_msg m;

    memset(&m, 0, sizeof(m));
    snprintf(m.msg_type, sizeof(m.msg_type), "execute_reply");
    m.content_text = content;
    m.content_len = strlen(content);
    result_add_reply(r, &m);
    wire_msg_cleanup(&m);
}

/* The rendered result, checked to serialise to JSON that parses back. */
static json_object *render(const struct result *r)
{
    json_object *obj = result_to_json(r, NULL, -1), *back;
    const char *text;

    assert_non_null(obj);
    text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
    assert_non_null(text);
    back = json_tokener_parse(text);
    assert_non_null(back);
    json_object_put(back);
    return obj;
}

static json_object *get(json_object *obj, const char *key)
{
    json_object *v = NULL;

    if (!json_object_object_get_ex(obj, key, &v))
        fail_msg("no '%s' in %s", key, json_object_to_json_string(obj));
    return v;
}

static const char *get_s(json_object *obj, const char *key)
{
    json_object *v = get(obj, key);

    if (!json_object_is_type(v, json_type_string))
        fail_msg("'%s' is not a string in %s", key, json_object_to_json_string(obj));
    return json_object_get_string(v);
}

static json_object *item(json_object *res, size_t i)
{
    json_object *outputs = get(res, "outputs");

    assert_true(i < json_object_array_length(outputs));
    return json_object_array_get_idx(outputs, i);
}

static size_t noutputs(json_object *res)
{
    return json_object_array_length(get(res, "outputs"));
}

static bool truncated(json_object *res)
{
    return json_object_get_boolean(get(res, "truncated"));
}

/* n copies of s. Caller frees. */
static char *repeat(const char *s, size_t n)
{
    size_t len = strlen(s);
    char *out = malloc(len * n + 1);

    assert_non_null(out);
    for (size_t i = 0; i < n; i++)
        memcpy(out + i * len, s, len);
    out[len * n] = '\0';
    return out;
}

/* Check a truncated text: limit characters in all, valid UTF-8, the marker last, and the
 * kept part a prefix of what was sent. */
static void check_cut(const char *got, long limit, const char *sent)
{
    size_t len = strlen(got), mlen = strlen(MARKER);

    assert_true(utf8_valid(got, len));
    assert_int_equal(utf8_count(got, len), (size_t)limit);
    assert_true(len > mlen);
    assert_string_equal(got + len - mlen, MARKER);
    assert_memory_equal(got, sent, len - mlen);
}

static void test_empty_result(void **state)
{
    struct result *r = result_new(100);
    json_object *res;

    (void)state;
    assert_non_null(r);
    assert_int_equal(result_status(r), RESULT_SUCCESS);
    res = render(r);
    assert_int_equal(json_object_object_length(res), 11);
    assert_string_equal(get_s(res, "status"), "success");
    assert_string_equal(get_s(res, "output"), "");
    assert_string_equal(get_s(res, "stderr"), "");
    assert_null(get(res, "error"));
    assert_null(get(res, "return_value"));
    assert_null(get(res, "execution_count"));
    assert_int_equal(json_object_get_int64(get(res, "duration_ms")), 0);
    assert_int_equal(noutputs(res), 0);
    assert_int_equal(json_object_array_length(get(res, "attempts")), 0);
    assert_false(truncated(res));
    assert_false(json_object_get_boolean(get(res, "kernel_restarted")));
    json_object_put(res);
    result_free(r);
    result_free(NULL);
}

static void test_streams_accumulate_and_merge(void **state)
{
    struct result *r = result_new(1000);
    json_object *res, *it;

    (void)state;
    feed_str(r, "stdout", "a");
    feed_str(r, "stdout", "b\n");
    feed_str(r, "stderr", "warn\n");
    feed_str(r, "stderr", "more\n");
    feed_str(r, "stdout", "c");
    feed_str(r, "stdout", "");
    res = render(r);
    assert_string_equal(get_s(res, "output"), "ab\nc");
    assert_string_equal(get_s(res, "stderr"), "warn\nmore\n");
    assert_int_equal(noutputs(res), 3);

    it = item(res, 0);
    assert_string_equal(get_s(it, "kind"), "stream");
    assert_string_equal(get_s(it, "name"), "stdout");
    assert_string_equal(get_s(it, "text"), "ab\n");
    assert_int_equal(json_object_object_length(get(it, "data")), 0);
    assert_int_equal(json_object_object_length(get(it, "metadata")), 0);
    it = item(res, 1);
    assert_string_equal(get_s(it, "name"), "stderr");
    assert_string_equal(get_s(it, "text"), "warn\nmore\n");
    it = item(res, 2);
    assert_string_equal(get_s(it, "name"), "stdout");
    assert_string_equal(get_s(it, "text"), "c");
    assert_false(truncated(res));
    assert_string_equal(get_s(res, "status"), "success");
    json_object_put(res);

    /* Rendering twice gives the same thing (rendering does not consume the texts). */
    res = render(r);
    assert_string_equal(get_s(item(res, 0), "text"), "ab\n");
    json_object_put(res);
    result_free(r);
}

static void test_stream_merge_broken_by_other_items(void **state)
{
    struct result *r = result_new(1000);
    json_object *res;

    (void)state;
    feed_str(r, "stdout", "1");
    feed(r, "display_data", "{\"data\":{\"text/plain\":\"<Figure>\"},\"metadata\":{}}");
    feed_str(r, "stdout", "2");
    feed(r, "clear_output", "{\"wait\":false}");
    feed_str(r, "stdout", "3");
    feed(r, "error", "{\"ename\":\"E\",\"evalue\":\"v\",\"traceback\":[]}");
    feed_str(r, "stdout", "4");
    res = render(r);
    assert_string_equal(get_s(res, "output"), "1234");
    assert_int_equal(noutputs(res), 7);
    assert_string_equal(get_s(item(res, 0), "text"), "1");
    assert_string_equal(get_s(item(res, 1), "kind"), "display_data");
    assert_string_equal(get_s(item(res, 2), "text"), "2");
    assert_string_equal(get_s(item(res, 4), "text"), "3");
    assert_string_equal(get_s(item(res, 6), "text"), "4");
    json_object_put(res);
    result_free(r);
}

static void test_malformed_streams_ignored(void **state)
{
    struct result *r = result_new(1000);
    json_object *res;

    (void)state;
    feed(r, "stream", "{\"name\":\"stdout\"}");
    feed(r, "stream", "{\"text\":\"x\"}");
    feed(r, "stream", "{\"name\":\"stdout\",\"text\":5}");
    feed(r, "stream", "{\"name\":\"stdin\",\"text\":\"x\"}");
    feed(r, "stream", "{\"name\":7,\"text\":\"x\"}");
    feed(r, "stream", "{\"name\":\"stdoutXX\",\"text\":\"x\"}");
    feed(r, "display_data", "{\"metadata\":{}}");
    feed(r, "display_data", "{\"data\":\"text\"}");
    feed(r, "status", "{\"execution_state\":\"busy\"}");
    feed(r, "comm_msg", "{\"data\":{}}");
    feed(r, "execute_input", "{\"execution_count\":\"9\"}");
    res = render(r);
    assert_string_equal(get_s(res, "output"), "");
    assert_int_equal(noutputs(res), 0);
    assert_null(get(res, "execution_count"));
    assert_string_equal(get_s(res, "status"), "success");
    json_object_put(res);
    result_free(r);
}

/* What the session layer holds between executions goes in through result_add_stream(): it
 * merges with the stream messages around it, and its live event carries what was kept. */
static void test_stream_text_and_parts(void **state)
{
    struct result *r = result_new(40);
    struct wire_msg m;
    const char *name = NULL;
    char *text = NULL;
    size_t len = 0;
    json_object *res, *ev;
    static const char content[] = "{\"name\":\"stderr\",\"text\":\"late\\u00e9\\n\"}";

    (void)state;
    memset(&m, 0, sizeof(m));
    m.content_text = content;
    m.content_len = strlen(content);
    assert_int_equal(result_stream_parts(&m, &name, &text, &len), 0);
    assert_string_equal(name, "stderr");
    assert_int_equal(len, 7);
    assert_memory_equal(text, "late\xc3\xa9\n", 7);
    free(text);
    m.content_text = "{\"name\":\"stdin\",\"text\":\"x\"}";
    m.content_len = strlen(m.content_text);
    assert_int_equal(result_stream_parts(&m, &name, &text, &len), -EINVAL);
    assert_null(text);

    ev = result_add_stream(r, "stdout", "held\n", 5, true);
    assert_non_null(ev);
    assert_string_equal(get_s(ev, "name"), "stdout");
    assert_string_equal(get_s(ev, "text"), "held\n");
    json_object_put(ev);
    assert_null(result_add_stream(r, "stdout", "x", 1, false));
    feed_str(r, "stdout", "y");
    res = render(r);
    assert_int_equal(noutputs(res), 1);
    assert_false(truncated(res));
    assert_string_equal(get_s(res, "output"), "held\nxy");
    json_object_put(res);
    /* Caps apply as to any stream: a live client gets what fits in the 40 characters, the
     * answer makes room for the marker. */
    ev = result_add_stream(r, "stdout", "0123456789012345678901234567890123456789", 40, true);
    assert_non_null(ev);
    assert_string_equal(get_s(ev, "text"), "012345678901234567890123456789012");
    json_object_put(ev);
    res = render(r);
    assert_true(truncated(res));
    assert_string_equal(get_s(res, "output"), "held\nxy01" MARKER);
    json_object_put(res);
    result_free(r);

    r = result_new(1000);
    result_add_stream(r, "stderr", "e", 1, false);
    result_mark_truncated(r);
    res = render(r);
    assert_string_equal(get_s(res, "stderr"), "e");
    assert_true(truncated(res));
    json_object_put(res);
    result_free(r);
}

static void test_truncation_counts_characters(void **state)
{
    const long limit = 100;
    struct result *r = result_new(limit);
    char *chunk = repeat("\xc3\xa9", 50), *all = repeat("\xc3\xa9", 150);
    json_object *res;
    const char *out;

    (void)state;
    /* 150 two-byte characters (300 bytes) in three chunks. */
    for (int i = 0; i < 3; i++)
        feed_str(r, "stdout", chunk);
    res = render(r);
    out = get_s(res, "output");
    check_cut(out, limit, all);
    /* The kept part is limit minus the marker's characters: 69 whole characters. */
    assert_int_equal(strlen(out), (size_t)(limit - (long)strlen(MARKER)) * 2 + strlen(MARKER));
    assert_true(truncated(res));
    assert_int_equal(noutputs(res), 1);
    check_cut(get_s(item(res, 0), "text"), limit, all);
    assert_string_equal(get_s(res, "stderr"), "");
    json_object_put(res);
    result_free(r);
    free(chunk);
    free(all);

    /* Four-byte characters after one ASCII byte: the cut still lands between characters. */
    r = result_new(limit);
    all = repeat("\xf0\x9f\x98\x80", 200);
    feed_str(r, "stderr", "x");
    feed_str(r, "stderr", all);
    res = render(r);
    out = get_s(res, "stderr");
    assert_int_equal(out[0], 'x');
    check_cut(out + 1, limit - 1, all);
    assert_string_equal(get_s(res, "output"), "");
    assert_true(truncated(res));
    json_object_put(res);
    result_free(r);
    free(all);
}

static void test_no_truncation_at_exact_limit(void **state)
{
    const long limit = 100;
    struct result *r = result_new(limit);
    char *half = repeat("\xe2\x82\xac", 50), *all = repeat("\xe2\x82\xac", 100);
    json_object *res;

    (void)state;
    feed_str(r, "stdout", half);
    feed_str(r, "stdout", half);
    res = render(r);
    assert_string_equal(get_s(res, "output"), all);
    assert_string_equal(get_s(item(res, 0), "text"), all);
    assert_false(truncated(res));
    json_object_put(res);

    /* One more character tips it over. */
    feed_str(r, "stdout", "!");
    res = render(r);
    check_cut(get_s(res, "output"), limit, all);
    assert_true(truncated(res));
    json_object_put(res);
    result_free(r);
    free(half);
    free(all);
}

static void test_execute_result(void **state)
{
    struct result *r = result_new(1000);
    json_object *res, *it, *data;

    (void)state;
    feed(r, "execute_input", "{\"code\":\"6*7\",\"execution_count\":7}");
    feed(r, "execute_result",
         "{\"data\":{\"text/plain\":\"42\",\"text/html\":\"<b>42</b>\"},\"metadata\":{\"a\":1},"
         "\"execution_count\":7}");
    res = render(r);
    assert_string_equal(get_s(res, "return_value"), "42");
    assert_int_equal(json_object_get_int64(get(res, "execution_count")), 7);
    assert_int_equal(noutputs(res), 1);
    it = item(res, 0);
    assert_string_equal(get_s(it, "kind"), "execute_result");
    assert_string_equal(get_s(it, "text"), "42");
    data = get(it, "data");
    assert_string_equal(get_s(data, "text/html"), "<b>42</b>");
    assert_int_equal(json_object_get_int(get(get(it, "metadata"), "a")), 1);
    json_object_put(res);
    result_free(r);

    /* A long repr is cut like any text, and marks the result truncated. */
    r = result_new(100);
    {
        char *big = repeat("9", 500), content[700];

        snprintf(content, sizeof(content), "{\"data\":{\"text/plain\":\"%s\"},\"metadata\":{}}",
                 big);
        feed(r, "execute_result", content);
        res = render(r);
        check_cut(get_s(res, "return_value"), 100, big);
        check_cut(get_s(item(res, 0), "text"), 100, big);
        assert_true(truncated(res));
        json_object_put(res);
        free(big);
    }
    result_free(r);
}

static void test_execute_input_and_reply_count(void **state)
{
    struct result *r = result_new(1000);
    json_object *res;

    (void)state;
    feed(r, "execute_input", "{\"code\":\"x\",\"execution_count\":3}");
    res = render(r);
    assert_int_equal(json_object_get_int64(get(res, "execution_count")), 3);
    assert_int_equal(noutputs(res), 0);
    json_object_put(res);
    reply(r, "{\"status\":\"ok\",\"execution_count\":4}");
    res = render(r);
    assert_int_equal(json_object_get_int64(get(res, "execution_count")), 4);
    assert_string_equal(get_s(res, "status"), "success");
    assert_null(get(res, "error"));
    json_object_put(res);
    result_free(r);
}

static void test_error_from_iopub(void **state)
{
    struct result *r = result_new(1000);
    json_object *res, *err, *it;

    (void)state;
    feed_str(r, "stdout", "before\n");
    feed(r, "error",
         "{\"ename\":\"ValueError\",\"evalue\":\"bad value\",\"traceback\":"
         "[\"Traceback (most recent call last)\",7,\"ValueError: bad value\"]}");
    assert_int_equal(result_status(r), RESULT_ERROR);
    /* The reply that follows does not replace the richer iopub error. */
    reply(r, "{\"status\":\"error\",\"ename\":\"Other\",\"evalue\":\"x\",\"traceback\":[],"
             "\"execution_count\":5}");
    res = render(r);
    assert_string_equal(get_s(res, "status"), "error");
    assert_string_equal(get_s(res, "output"), "before\n");
    assert_int_equal(json_object_get_int64(get(res, "execution_count")), 5);
    err = get(res, "error");
    assert_string_equal(get_s(err, "ename"), "ValueError");
    assert_string_equal(get_s(err, "evalue"), "bad value");
    /* Non-string traceback lines are skipped. */
    assert_int_equal(json_object_array_length(get(err, "traceback")), 2);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(get(err, "traceback"), 1)),
                        "ValueError: bad value");
    assert_int_equal(noutputs(res), 2);
    it = item(res, 1);
    assert_string_equal(get_s(it, "kind"), "error");
    assert_string_equal(get_s(it, "text"), "ValueError: bad value");
    assert_string_equal(get_s(get(it, "data"), "ename"), "ValueError");
    assert_false(truncated(res));
    json_object_put(res);
    result_free(r);
}

static void test_error_caps(void **state)
{
    const long limit = 100;
    struct result *r = result_new(limit);
    char *ename = repeat("E", 300), *evalue = repeat("v", 300), *line = repeat("t", 150);
    size_t cap = 4096 + 250 * 160;
    char *content = malloc(cap);
    json_object *res, *err, *tb;
    size_t n;

    (void)state;
    assert_non_null(content);
    n = (size_t)snprintf(content, cap, "{\"ename\":\"%s\",\"evalue\":\"%s\",\"traceback\":[",
                         ename, evalue);
    for (int i = 0; i < 250; i++)
        n += (size_t)snprintf(content + n, cap - n, "%s\"%s\"", i ? "," : "", line);
    snprintf(content + n, cap - n, "]}");
    feed(r, "error", content);
    res = render(r);
    err = get(res, "error");
    /* ename has its own cap of 256 characters; evalue and each line the result's limit. */
    check_cut(get_s(err, "ename"), 256, ename);
    check_cut(get_s(err, "evalue"), limit, evalue);
    tb = get(err, "traceback");
    assert_int_equal(json_object_array_length(tb), RESULT_MAX_TRACEBACK);
    check_cut(json_object_get_string(json_object_array_get_idx(tb, 0)), limit, line);
    assert_true(truncated(res));
    json_object_put(res);
    result_free(r);
    free(ename);
    free(evalue);
    free(line);
    free(content);

    /* A missing ename becomes "Error". */
    r = result_new(limit);
    feed(r, "error", "{\"evalue\":\"boom\"}");
    res = render(r);
    assert_string_equal(get_s(get(res, "error"), "ename"), "Error");
    assert_string_equal(get_s(item(res, 0), "text"), "Error: boom");
    assert_int_equal(json_object_array_length(get(get(res, "error"), "traceback")), 0);
    json_object_put(res);
    result_free(r);
}

static void test_reply_error_without_iopub_error(void **state)
{
    struct result *r = result_new(1000);
    json_object *res, *err;

    (void)state;
    reply(r, "{\"status\":\"error\",\"ename\":\"KeyboardInterrupt\",\"evalue\":\"\",\"traceback\":"
             "[\"line\"],\"execution_count\":4}");
    assert_int_equal(result_status(r), RESULT_ERROR);
    res = render(r);
    assert_string_equal(get_s(res, "status"), "error");
    err = get(res, "error");
    assert_non_null(err);
    assert_string_equal(get_s(err, "ename"), "KeyboardInterrupt");
    assert_string_equal(get_s(err, "evalue"), "");
    assert_int_equal(json_object_array_length(get(err, "traceback")), 1);
    assert_int_equal(json_object_get_int64(get(res, "execution_count")), 4);
    assert_int_equal(noutputs(res), 0);
    json_object_put(res);
    result_free(r);
}

static void test_reply_aborted(void **state)
{
    struct result *r = result_new(1000);
    json_object *res, *err;

    (void)state;
    reply(r, "{\"status\":\"aborted\"}");
    res = render(r);
    assert_string_equal(get_s(res, "status"), "error");
    err = get(res, "error");
    assert_string_equal(get_s(err, "ename"), "ExecutionAborted");
    assert_true(strlen(get_s(err, "evalue")) > 0);
    assert_int_equal(json_object_array_length(get(err, "traceback")), 0);
    json_object_put(res);
    result_free(r);
}

static void test_clear_output_and_display_ids(void **state)
{
    struct result *r = result_new(1000);
    json_object *res, *it;

    (void)state;
    feed(r, "clear_output", "{\"wait\":true}");
    feed(r, "display_data",
         "{\"data\":{\"text/plain\":\"0%\"},\"metadata\":{},"
         "\"transient\":{\"display_id\":\"d1\"}}");
    feed(r, "update_display_data",
         "{\"data\":{\"text/plain\":\"100%\"},\"metadata\":{},"
         "\"transient\":{\"display_id\":\"d1\"}}");
    feed(r, "clear_output", "{}");
    res = render(r);
    assert_int_equal(noutputs(res), 4);
    it = item(res, 0);
    assert_string_equal(get_s(it, "kind"), "clear_output");
    assert_true(json_object_get_boolean(get(get(it, "data"), "wait")));
    it = item(res, 1);
    assert_string_equal(get_s(it, "kind"), "display_data");
    assert_string_equal(get_s(it, "display_id"), "d1");
    assert_string_equal(get_s(it, "text"), "0%");
    it = item(res, 2);
    assert_string_equal(get_s(it, "kind"), "update_display_data");
    assert_string_equal(get_s(it, "display_id"), "d1");
    assert_string_equal(get_s(it, "text"), "100%");
    it = item(res, 3);
    assert_int_equal(json_object_object_length(get(it, "data")), 0);
    /* display_data is not a return value. */
    assert_null(get(res, "return_value"));
    json_object_put(res);
    result_free(r);
}

static void test_max_outputs(void **state)
{
    struct result *r = result_new(1000);
    json_object *res;

    (void)state;
    for (int i = 0; i < RESULT_MAX_OUTPUTS + 200; i++) {
        if (i % 2 == 0)
            feed(r, "display_data", "{\"data\":{\"text/plain\":\"x\"},\"metadata\":{}}");
        else
            feed(r, "clear_output", "{\"wait\":true}");
    }
    res = render(r);
    assert_int_equal(noutputs(res), RESULT_MAX_OUTPUTS);
    assert_true(truncated(res));
    json_object_put(res);

    /* Streams still reach output and stderr, but make no new item. */
    feed_str(r, "stdout", "late");
    res = render(r);
    assert_int_equal(noutputs(res), RESULT_MAX_OUTPUTS);
    assert_string_equal(get_s(res, "output"), "late");
    assert_null(get(res, "return_value"));
    json_object_put(res);

    /* The execution's value is its answer: kept without an item, capped like any text, and
     * the last one wins. */
    feed(r, "execute_result",
         "{\"data\":{\"text/plain\":\"41\"},\"metadata\":{},\"execution_count\":8}");
    feed(r, "execute_result",
         "{\"data\":{\"text/plain\":\"42\"},\"metadata\":{},\"execution_count\":9}");
    res = render(r);
    assert_int_equal(noutputs(res), RESULT_MAX_OUTPUTS);
    assert_string_equal(get_s(res, "return_value"), "42");
    assert_int_equal(json_object_get_int64(get(res, "execution_count")), 9);
    assert_true(truncated(res));
    json_object_put(res);
    result_free(r);

    r = result_new(100);
    for (int i = 0; i < RESULT_MAX_OUTPUTS; i++)
        feed(r, "display_data", "{\"data\":{\"text/plain\":\"x\"},\"metadata\":{}}");
    {
        char *big = repeat("7", 500), content[700];

        snprintf(content, sizeof(content),
                 "{\"data\":{\"text/plain\":\"%s\"},\"metadata\":{}}", big);
        feed(r, "execute_result", content);
        res = render(r);
        check_cut(get_s(res, "return_value"), 100, big);
        json_object_put(res);
        free(big);
    }
    /* Without text/plain there is no value to give. */
    result_free(r);
    r = result_new(100);
    for (int i = 0; i < RESULT_MAX_OUTPUTS; i++)
        feed(r, "display_data", "{\"data\":{\"text/plain\":\"x\"},\"metadata\":{}}");
    feed(r, "execute_result", "{\"data\":{\"image/png\":\"AAAA\"},\"metadata\":{}}");
    res = render(r);
    assert_null(get(res, "return_value"));
    json_object_put(res);
    result_free(r);
}

static void test_outputs_budget(void **state)
{
    const size_t mib = 1u << 20;
    struct result *r = result_new(1000);
    json_object *res;

    (void)state;
    feed_sized_display(r, 10 * mib);
    res = render(r);
    assert_int_equal(noutputs(res), 1);
    assert_false(truncated(res));
    json_object_put(res);

    /* 10 MiB more would pass the 16 MiB budget: dropped. */
    feed_sized_display(r, 10 * mib);
    res = render(r);
    assert_int_equal(noutputs(res), 1);
    assert_true(truncated(res));
    json_object_put(res);

    /* What is left still fits, to the byte; then nothing more does. */
    feed_sized_display(r, RESULT_OUTPUTS_BUDGET - 10 * mib);
    feed_sized_display(r, 1); /* its smallest form, a few dozen bytes */
    feed(r, "clear_output", "{}");
    feed(r, "error", "{\"ename\":\"E\",\"evalue\":\"v\"}");
    feed_str(r, "stdout", "still counted");
    res = render(r);
    assert_int_equal(noutputs(res), 2);
    assert_string_equal(get_s(res, "output"), "still counted");
    /* The error still sets the status and the error field, without an item. */
    assert_string_equal(get_s(res, "status"), "error");
    assert_string_equal(get_s(get(res, "error"), "ename"), "E");
    json_object_put(res);
    result_free(r);

    /* A claimed size larger than the whole budget is refused at once. */
    r = result_new(1000);
    feed_sized_display(r, RESULT_OUTPUTS_BUDGET + 1);
    res = render(r);
    assert_int_equal(noutputs(res), 0);
    assert_true(truncated(res));
    json_object_put(res);
    result_free(r);
}

static size_t rendered_len(const struct result *r)
{
    json_object *res = result_to_json(r, NULL, -1);
    size_t len;

    assert_non_null(res);
    len = strlen(json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN));
    json_object_put(res);
    return len;
}

static void test_memory_bound_100mb_stream(void **state)
{
    const size_t chunk_len = 64u << 10, total = 100u << 20;
    const long limit = 10000;
    struct result *r = result_new(limit);
    char *chunk = malloc(chunk_len);
    json_object *res;

    (void)state;
    assert_non_null(chunk);
    for (size_t i = 0; i < chunk_len; i++)
        chunk[i] = (char)('a' + i % 26);
    for (size_t sent = 0; sent < total; sent += chunk_len)
        feed_stream(r, "stdout", chunk, chunk_len);
    /* Held: the output text and one merged item, each limit characters. */
    assert_true(rendered_len(r) < 3 * (size_t)limit);
    res = render(r);
    check_cut(get_s(res, "output"), limit, chunk);
    assert_int_equal(noutputs(res), 1);
    check_cut(get_s(item(res, 0), "text"), limit, chunk);
    assert_true(truncated(res));
    json_object_put(res);
    result_free(r);
    free(chunk);
}

static void test_memory_bound_interleaved_streams(void **state)
{
    /* With the largest limit and stdout/stderr alternating, every chunk opens an item: the
     * shared budget (not the character limit) is what must stop growth. */
    const size_t chunk_len = 64u << 10, total = 100u << 20;
    const long limit = 10000000;
    struct result *r = result_new(limit);
    char *chunk = malloc(chunk_len);
    size_t n = 0, len;

    (void)state;
    assert_non_null(chunk);
    memset(chunk, 'z', chunk_len);
    for (size_t sent = 0; sent < total; sent += chunk_len, n++)
        feed_stream(r, n % 2 ? "stderr" : "stdout", chunk, chunk_len);
    len = rendered_len(r);
    assert_true(len <= 2 * (size_t)limit + RESULT_OUTPUTS_BUDGET + (1u << 20));
    assert_true(len < total);
    result_free(r);
    free(chunk);
}

static void test_attempt_snapshot(void **state)
{
    struct result *r = result_new(1000);
    json_object *a, *b;

    (void)state;
    feed_str(r, "stdout", "out1");
    feed_str(r, "stderr", "err1");
    feed(r, "error", "{\"ename\":\"NameError\",\"evalue\":\"x\",\"traceback\":[]}");
    a = result_attempt_json(r, 2, "print(x)");
    assert_non_null(a);
    assert_int_equal(json_object_object_length(a), 6);
    assert_int_equal(json_object_get_int(get(a, "attempt")), 2);
    assert_string_equal(get_s(a, "code"), "print(x)");
    assert_string_equal(get_s(a, "status"), "error");
    assert_string_equal(get_s(a, "output"), "out1");
    assert_string_equal(get_s(a, "stderr"), "err1");
    assert_string_equal(get_s(get(a, "error"), "ename"), "NameError");

    /* The snapshot does not follow later changes. */
    feed_str(r, "stdout", "out2");
    feed(r, "error", "{\"ename\":\"TypeError\",\"evalue\":\"y\"}");
    assert_string_equal(get_s(a, "output"), "out1");
    assert_string_equal(get_s(get(a, "error"), "ename"), "NameError");

    /* A successful attempt has a null error. */
    b = result_attempt_json(r, 1, "x");
    assert_string_equal(get_s(b, "output"), "out1out2");
    json_object_put(b);
    result_free(r);
    r = result_new(1000);
    b = result_attempt_json(r, 1, "1");
    assert_string_equal(get_s(b, "status"), "success");
    assert_null(get(b, "error"));
    json_object_put(b);
    json_object_put(a);
    result_free(r);
}

static void test_status_overrides_and_fields(void **state)
{
    struct result *r = result_new(1000);
    json_object *attempts = json_object_new_array(), *res;

    (void)state;
    json_object_array_add(attempts, result_attempt_json(r, 1, "a"));
    result_fail(r, RESULT_TIMEOUT, "TimeoutError", "execution exceeded 5 seconds");
    result_set_duration(r, 1234);
    result_set_kernel_restarted(r, true);
    assert_int_equal(result_status(r), RESULT_TIMEOUT);

    res = result_to_json(r, attempts, -1);
    assert_string_equal(get_s(res, "status"), "timeout");
    assert_string_equal(get_s(get(res, "error"), "ename"), "TimeoutError");
    assert_int_equal(json_object_get_int64(get(res, "duration_ms")), 1234);
    assert_true(json_object_get_boolean(get(res, "kernel_restarted")));
    assert_int_equal(json_object_array_length(get(res, "attempts")), 1);
    json_object_put(res);

    res = result_to_json(r, attempts, RESULT_MAX_ATTEMPTS);
    assert_string_equal(get_s(res, "status"), "max_attempts_exceeded");
    json_object_put(res);
    /* attempts was borrowed: still ours and intact. */
    assert_int_equal(json_object_array_length(attempts), 1);
    json_object_put(attempts);

    assert_string_equal(result_status_name(RESULT_SUCCESS), "success");
    assert_string_equal(result_status_name(RESULT_ERROR), "error");
    assert_string_equal(result_status_name(RESULT_TIMEOUT), "timeout");
    assert_string_equal(result_status_name(RESULT_MAX_ATTEMPTS), "max_attempts_exceeded");
    assert_string_equal(result_status_name(RESULT_KERNEL_DIED), "kernel_died");

    /* An error arriving after a failure does not downgrade the status. */
    result_fail(r, RESULT_KERNEL_DIED, "KernelDied", "the kernel exited");
    feed(r, "error", "{\"ename\":\"E\",\"evalue\":\"v\"}");
    reply(r, "{\"status\":\"error\"}");
    assert_int_equal(result_status(r), RESULT_KERNEL_DIED);
    result_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_result),
        cmocka_unit_test(test_streams_accumulate_and_merge),
        cmocka_unit_test(test_stream_merge_broken_by_other_items),
        cmocka_unit_test(test_malformed_streams_ignored),
        cmocka_unit_test(test_stream_text_and_parts),
        cmocka_unit_test(test_truncation_counts_characters),
        cmocka_unit_test(test_no_truncation_at_exact_limit),
        cmocka_unit_test(test_execute_result),
        cmocka_unit_test(test_execute_input_and_reply_count),
        cmocka_unit_test(test_error_from_iopub),
        cmocka_unit_test(test_error_caps),
        cmocka_unit_test(test_reply_error_without_iopub_error),
        cmocka_unit_test(test_reply_aborted),
        cmocka_unit_test(test_clear_output_and_display_ids),
        cmocka_unit_test(test_max_outputs),
        cmocka_unit_test(test_outputs_budget),
        cmocka_unit_test(test_memory_bound_100mb_stream),
        cmocka_unit_test(test_memory_bound_interleaved_streams),
        cmocka_unit_test(test_attempt_snapshot),
        cmocka_unit_test(test_status_overrides_and_fields),
    };

    return cmocka_run_group_tests_name("result", tests, NULL, NULL);
}
