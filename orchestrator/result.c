/* The result of one execution, capped as output arrives. Texts keep at most char_limit
 * characters (cut on a character boundary, then marked); items and rich data share a fixed
 * byte budget; anything beyond is counted as truncated and dropped at once. A kernel's
 * message is read from its text (checked by wire_parse()) without building json-c objects:
 * a mime bundle is kept as the JSON text the kernel wrote and written into the answer as it
 * is, and the answer is written straight into one buffer. */
#include "result.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/json.h"
#include "util/jwrite.h"
#include "util/text.h"

/* Text kept up to a number of characters. */
struct capped_text {
    struct buf buf;
    size_t chars;
    bool truncated;
};

enum item_kind {
    ITEM_STREAM,
    ITEM_DISPLAY_DATA,
    ITEM_EXECUTE_RESULT,
    ITEM_UPDATE_DISPLAY_DATA,
    ITEM_ERROR,
    ITEM_CLEAR_OUTPUT,
};

static const char *const kind_names[] = {
    [ITEM_STREAM] = "stream",
    [ITEM_DISPLAY_DATA] = "display_data",
    [ITEM_EXECUTE_RESULT] = "execute_result",
    [ITEM_UPDATE_DISPLAY_DATA] = "update_display_data",
    [ITEM_ERROR] = "error",
    [ITEM_CLEAR_OUTPUT] = "clear_output",
};

/* One entry of outputs[]. JSON texts are the kernel's own, checked by wire_parse(). */
struct item {
    enum item_kind kind;
    char name[8];              /* a stream's name */
    struct capped_text stream; /* a stream's text */
    char *text;                /* the item's text (rich: text/plain, capped), NULL for null */
    size_t text_len;
    char *data; /* JSON object text; NULL for {} */
    size_t data_len;
    char *metadata; /* JSON object text; NULL for {} */
    size_t metadata_len;
    char *display_id; /* JSON string text, quotes included; NULL when absent */
    size_t display_id_len;
    int wait; /* clear_output: -1 when the kernel gave none, else 0 or 1 */
};

struct result {
    long char_limit;
    enum result_status status;
    struct capped_text out;
    struct capped_text err;
    char *error; /* JSON text of {ename, evalue, traceback}, or NULL */
    size_t error_len;
    const char *return_value; /* the last execute_result's text (borrowed); NULL: null */
    size_t return_value_len;
    char *kept_return_value; /* that text, when outputs[] had no room for its item */
    long execution_count; /* -1 until known */
    struct item **items;
    size_t nitems;
    size_t items_cap;
    struct item *last_stream; /* the last item when it is a stream */
    size_t budget_used;
    bool truncated;
    bool kernel_restarted;
    long duration_ms;
    bool saw_reply;
};

static void capped_init(struct capped_text *t)
{
    buf_init(&t->buf, (size_t)-1 / 2);
    t->chars = 0;
    t->truncated = false;
}

/* Append up to the limit; returns the bytes kept. */
static size_t capped_append(struct capped_text *t, long limit, const char *s, size_t len)
{
    size_t room, keep;

    if (len == 0)
        return 0;
    room = t->chars < (size_t)limit ? (size_t)limit - t->chars : 0;
    keep = utf8_prefix(s, len, room);
    if (keep > 0 && buf_append(&t->buf, s, keep) == 0)
        t->chars += utf8_count(s, keep);
    else
        keep = 0;
    if (keep < len)
        t->truncated = true;
    return keep;
}

#define MARKER_LEN (sizeof(RESULT_TRUNCATION_MARKER) - 1) /* ASCII: characters too */

/* Of a text cut for being over limit characters, the bytes kept before the marker, so that
 * the two make limit characters. */
static size_t cut_keep(const char *s, size_t len, long limit)
{
    return utf8_prefix(s, len, (size_t)limit > MARKER_LEN ? (size_t)limit - MARKER_LEN : 0);
}

/* The text as the client sees it, as a JSON string: marked when something was cut. */
static void write_capped(struct jwrite *w, const struct capped_text *t, long limit)
{
    const char *data = t->buf.data ? t->buf.data : "";

    if (!t->truncated) {
        jw_string(w, data, t->buf.len);
        return;
    }
    jw_raw(w, "\"", 1);
    jw_string_chars(w, data, cut_keep(data, t->buf.len, limit));
    jw_string_chars(w, RESULT_TRUNCATION_MARKER, MARKER_LEN);
    jw_raw(w, "\"", 1);
}

/* At most limit characters of text (len bytes and a NUL, which this takes over: handed back
 * or freed), marked as write_capped() marks a cut (which marks the result truncated). *outlen
 * gets the bytes. NULL when text is NULL or memory runs out. */
static char *cap_text(struct result *r, long limit, char *text, size_t len, size_t *outlen)
{
    size_t keep;
    char *cut;

    if (text == NULL)
        return NULL;
    if (utf8_prefix(text, len, (size_t)limit) == len) {
        *outlen = len;
        return text;
    }
    r->truncated = true;
    keep = cut_keep(text, len, limit);
    cut = malloc(keep + MARKER_LEN + 1);
    if (cut != NULL) {
        memcpy(cut, text, keep);
        memcpy(cut + keep, RESULT_TRUNCATION_MARKER, MARKER_LEN + 1);
        *outlen = keep + MARKER_LEN;
    }
    free(text);
    return cut;
}

/* A copy of len bytes and a NUL; NULL when out of memory. */
static char *copy_bytes(const char *s, size_t len)
{
    char *c = malloc(len + 1);

    if (c != NULL) {
        memcpy(c, s, len);
        c[len] = '\0';
    }
    return c;
}

struct result *result_new(long char_limit)
{
    struct result *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->char_limit = char_limit;
    r->execution_count = -1;
    capped_init(&r->out);
    capped_init(&r->err);
    return r;
}

static void item_free(struct item *it)
{
    buf_cleanup(&it->stream.buf);
    free(it->text);
    free(it->data);
    free(it->metadata);
    free(it->display_id);
    free(it);
}

void result_free(struct result *r)
{
    if (r == NULL)
        return;
    buf_cleanup(&r->out.buf);
    buf_cleanup(&r->err.buf);
    free(r->error);
    free(r->kept_return_value);
    for (size_t i = 0; i < r->nitems; i++)
        item_free(r->items[i]);
    free(r->items);
    free(r);
}

/* Reserve bytes of the shared budget and a slot in outputs[]; false when either is spent. */
static bool take_budget(struct result *r, size_t bytes)
{
    if (r->nitems >= RESULT_MAX_OUTPUTS || bytes > RESULT_OUTPUTS_BUDGET - r->budget_used) {
        r->truncated = true;
        return false;
    }
    r->budget_used += bytes;
    return true;
}

/* A new item appended to outputs[] (its budget already taken); NULL when out of memory. */
static struct item *new_item(struct result *r, enum item_kind kind)
{
    struct item *it;

    if (r->nitems == r->items_cap) {
        size_t cap = r->items_cap ? r->items_cap * 2 : 4;
        struct item **items = realloc(r->items, cap * sizeof(struct item *));

        if (items == NULL)
            return NULL;
        r->items = items;
        r->items_cap = cap;
    }
    it = calloc(1, sizeof(*it));
    if (it == NULL)
        return NULL;
    it->kind = kind;
    it->wait = -1;
    capped_init(&it->stream);
    r->items[r->nitems++] = it;
    return it;
}

int result_stream_parts(const struct wire_msg *msg, const char **name, char **text, size_t *len)
{
    static const char *const names[] = {"name", "text"};
    struct jscan_value v[2];
    char buf[8];
    ssize_t n;

    *text = NULL;
    *len = 0;
    wire_msg_content_members(msg, names, 2, v);
    n = v[0].type == JSCAN_STRING ? jscan_string(&v[0], buf, sizeof(buf)) : -EINVAL;
    if (n == 6 && strcmp(buf, "stderr") == 0)
        *name = "stderr";
    else if (n == 6 && strcmp(buf, "stdout") == 0)
        *name = "stdout";
    else
        return -EINVAL;
    *text = jscan_string_dup(&v[1], len);
    return *text == NULL ? -EINVAL : 0;
}

/* Returns how many bytes of the chunk the stream's text kept (what a live client sees). */
static size_t add_stream_text(struct result *r, const char *name, const char *text, size_t len)
{
    struct capped_text *target = strcmp(name, "stderr") == 0 ? &r->err : &r->out;
    size_t kept_item, kept = capped_append(target, r->char_limit, text, len);

    /* Consecutive chunks of one stream become one item, so a chatty loop is one entry. */
    if (r->last_stream == NULL || strcmp(r->last_stream->name, name) != 0) {
        struct item *it;

        r->last_stream = NULL;
        if (!take_budget(r, 64))
            return kept;
        it = new_item(r, ITEM_STREAM);
        if (it == NULL)
            return kept;
        snprintf(it->name, sizeof(it->name), "%s", name);
        r->last_stream = it;
    }
    if (len > RESULT_OUTPUTS_BUDGET - r->budget_used) {
        r->last_stream->stream.truncated = true;
        r->truncated = true;
        return kept;
    }
    kept_item = capped_append(&r->last_stream->stream, r->char_limit, text, len);
    r->budget_used += kept_item;
    return kept;
}

/* An execution count the kernel gave (an integer), kept as the result's. */
static void take_count(struct result *r, const struct jscan_value *v)
{
    long long count;

    if (jscan_int(v, &count) == 0 && count >= LONG_MIN && count <= LONG_MAX)
        r->execution_count = (long)count;
}

/* A mime bundle's text/plain, capped like any text; NULL when it has none. */
static char *plain_text(struct result *r, const struct jscan_value *data, size_t *outlen)
{
    static const char *const plain_name[] = {"text/plain"};
    struct jscan_value plain;
    size_t len = 0;
    char *raw;

    if (jscan_members(data->text, data->len, WIRE_JSON_DEPTH, plain_name, 1, &plain) != 0 ||
        plain.type != JSCAN_STRING)
        return NULL;
    raw = jscan_string_dup(&plain, &len); /* before len is read below */
    return cap_text(r, r->char_limit, raw, len, outlen);
}

static void add_rich(struct result *r, enum item_kind kind, const struct wire_msg *msg)
{
    static const char *const names[] = {"data", "metadata", "transient", "execution_count"};
    static const char *const id_name[] = {"display_id"};
    struct jscan_value v[4], id;
    struct item *it;

    r->last_stream = NULL;
    wire_msg_content_members(msg, names, 4, v);
    if (v[0].type != JSCAN_OBJECT)
        return;
    if (kind == ITEM_EXECUTE_RESULT)
        take_count(r, &v[3]);
    if (!take_budget(r, msg->content_len)) {
        /* outputs[] is full, yet the execution's value is still its answer: keep it apart */
        size_t len = 0;
        char *text = kind == ITEM_EXECUTE_RESULT ? plain_text(r, &v[0], &len) : NULL;

        if (text != NULL) {
            free(r->kept_return_value);
            r->kept_return_value = text;
            r->return_value = text;
            r->return_value_len = len;
        }
        return;
    }
    it = new_item(r, kind);
    if (it == NULL)
        return;
    it->data = copy_bytes(v[0].text, v[0].len);
    it->data_len = v[0].len;
    if (v[1].type == JSCAN_OBJECT) {
        it->metadata = copy_bytes(v[1].text, v[1].len);
        it->metadata_len = v[1].len;
    }
    if (v[2].type == JSCAN_OBJECT &&
        jscan_members(v[2].text, v[2].len, WIRE_JSON_DEPTH, id_name, 1, &id) == 0 &&
        id.type == JSCAN_STRING) {
        it->display_id = copy_bytes(id.text, id.len);
        it->display_id_len = id.len;
    }
    it->text = plain_text(r, &v[0], &it->text_len);
    if (kind == ITEM_EXECUTE_RESULT && it->text != NULL) {
        r->return_value = it->text; /* items live as long as the result */
        r->return_value_len = it->text_len;
    }
}

/* {"ename": ..., "evalue": ..., "traceback": [ with the two names given. */
static void write_error_start(struct jwrite *w, const char *ename, size_t elen,
                              const char *evalue, size_t vlen)
{
    jw_lit(w, "{\"ename\":");
    jw_string(w, ename, elen);
    jw_lit(w, ",\"evalue\":");
    jw_string(w, evalue, vlen);
    jw_lit(w, ",\"traceback\":[");
}

/* Write {ename, evalue, traceback} from a kernel's error content, capped, into a new
 * allocation (*outlen bytes); with summary, also "ename: evalue" as kept (the caller frees
 * it). NULL when memory runs out. */
static char *error_json(struct result *r, const struct wire_msg *msg, size_t *outlen,
                        char **summary, size_t *summary_len)
{
    static const char *const names[] = {"ename", "evalue", "traceback"};
    struct jscan_value v[3], *lines = NULL;
    size_t len = 0, elen = 0, vlen = 0;
    char *raw, *ename, *evalue, *text;
    struct buf out;
    struct jwrite w = {&out, 0};
    ssize_t n = 0;

    wire_msg_content_members(msg, names, 3, v);
    raw = jscan_string_dup(&v[0], &len);
    if (raw == NULL) {
        raw = strdup("Error");
        len = 5;
    }
    ename = cap_text(r, 256, raw, len, &elen);
    raw = jscan_string_dup(&v[1], &len);
    if (raw == NULL) {
        raw = strdup("");
        len = 0;
    }
    evalue = cap_text(r, r->char_limit, raw, len, &vlen);
    buf_init(&out, (size_t)-1 / 2);
    write_error_start(&w, ename ? ename : "", ename ? elen : 0, evalue ? evalue : "",
                      evalue ? vlen : 0);
    if (v[2].type == JSCAN_ARRAY) {
        lines = calloc(RESULT_MAX_TRACEBACK, sizeof(*lines));
        n = lines ? jscan_elements(v[2].text, v[2].len, WIRE_JSON_DEPTH, lines,
                                   RESULT_MAX_TRACEBACK)
                  : 0;
    }
    for (ssize_t i = 0, written = 0; i < n && i < RESULT_MAX_TRACEBACK; i++) {
        size_t tlen = 0, clen = 0;
        char *line = jscan_string_dup(&lines[i], &tlen);

        line = cap_text(r, r->char_limit, line, tlen, &clen);

        if (line == NULL)
            continue;
        if (written++ > 0)
            jw_raw(&w, ",", 1);
        jw_string(&w, line, clen);
        free(line);
    }
    if (n > RESULT_MAX_TRACEBACK)
        r->truncated = true;
    free(lines);
    jw_lit(&w, "]}");
    text = w.err == 0 ? buf_steal(&out, outlen) : NULL;
    buf_cleanup(&out);
    if (summary != NULL) {
        *summary = malloc(elen + vlen + 3);
        if (*summary != NULL) {
            memcpy(*summary, ename ? ename : "", elen);
            memcpy(*summary + elen, ": ", 2);
            memcpy(*summary + elen + 2, evalue ? evalue : "", vlen);
            (*summary)[elen + 2 + vlen] = '\0';
            *summary_len = elen + 2 + vlen;
        }
    }
    free(ename);
    free(evalue);
    return text;
}

static void add_error(struct result *r, const struct wire_msg *msg)
{
    size_t len = 0, summary_len = 0;
    char *summary = NULL;
    char *err = error_json(r, msg, &len, &summary, &summary_len);
    struct item *it;

    r->last_stream = NULL;
    if (r->status == RESULT_SUCCESS)
        r->status = RESULT_ERROR;
    free(r->error);
    r->error = err;
    r->error_len = len;
    if (err != NULL && take_budget(r, msg->content_len) &&
        (it = new_item(r, ITEM_ERROR)) != NULL) {
        it->data = copy_bytes(err, len);
        it->data_len = len;
        it->text = summary;
        it->text_len = summary_len;
        summary = NULL;
    }
    free(summary);
}

static void add_clear_output(struct result *r, const struct wire_msg *msg)
{
    static const char *const names[] = {"wait"};
    struct jscan_value v;
    struct item *it;

    r->last_stream = NULL;
    if (!take_budget(r, 64) || (it = new_item(r, ITEM_CLEAR_OUTPUT)) == NULL)
        return;
    wire_msg_content_members(msg, names, 1, &v);
    if (v.type == JSCAN_TRUE || v.type == JSCAN_FALSE)
        it->wait = v.type == JSCAN_TRUE;
}

/* An item's data and metadata objects, as JSON text. */
static void write_object_or_empty(struct jwrite *w, const char *text, size_t len)
{
    if (text != NULL)
        jw_raw(w, text, len);
    else
        jw_raw(w, "{}", 2);
}

static void write_clear_data(struct jwrite *w, const struct item *it)
{
    if (it->wait < 0)
        jw_raw(w, "{}", 2);
    else
        jw_lit(w, it->wait ? "{\"wait\":true}" : "{\"wait\":false}");
}

/* What ends an item and a rich item's event: ,"metadata":...[,"display_id":...]} */
static void write_item_end(struct jwrite *w, const struct item *it)
{
    jw_lit(w, ",\"metadata\":");
    write_object_or_empty(w, it->metadata, it->metadata_len);
    if (it->display_id != NULL) {
        jw_lit(w, ",\"display_id\":");
        jw_raw(w, it->display_id, it->display_id_len);
    }
    jw_raw(w, "}", 1);
}

/* The live event for an item: what the JSON result holds of it. */
static void write_event(struct jwrite *w, const struct item *it)
{
    if (it->kind == ITEM_ERROR) {
        write_object_or_empty(w, it->data, it->data_len);
        return;
    }
    if (it->kind == ITEM_CLEAR_OUTPUT) {
        jw_lit(w, it->wait > 0 ? "{\"wait\":true}" : "{\"wait\":false}");
        return;
    }
    jw_lit(w, "{\"data\":");
    write_object_or_empty(w, it->data, it->data_len);
    write_item_end(w, it);
}

/* JSON text written by a jwrite as json-c objects (for the live events and the rarer
 * callers that want a tree); NULL when out of memory. */
static json_object *tree_of(struct buf *b, int err)
{
    json_object *obj = NULL;

    if (err == 0 && b->data != NULL)
        obj = json_parse_valid_utf8(b->data, b->len, WIRE_JSON_DEPTH + 8);
    buf_cleanup(b);
    return obj;
}

/* The stream event a live client gets for the kept part of a chunk. */
static json_object *stream_event(const char *name, const char *chunk, size_t kept)
{
    struct buf b;
    struct jwrite w = {&b, 0};

    buf_init(&b, (size_t)-1 / 2);
    jw_lit(&w, "{\"name\":");
    jw_string(&w, name, strlen(name));
    jw_lit(&w, ",\"text\":");
    jw_string(&w, chunk, kept);
    jw_raw(&w, "}", 1);
    return tree_of(&b, w.err);
}

json_object *result_add_stream(struct result *r, const char *name, const char *text, size_t len,
                               bool want_event)
{
    size_t kept = add_stream_text(r, name, text, len);

    return want_event && kept > 0 ? stream_event(name, text, kept) : NULL;
}

json_object *result_add_iopub_event(struct result *r, struct wire_msg *msg)
{
    size_t before = r->nitems;
    struct buf b;
    struct jwrite w = {&b, 0};

    if (strcmp(msg->msg_type, "stream") == 0) {
        const char *name = NULL;
        char *chunk = NULL;
        size_t len = 0;
        json_object *event = NULL;

        if (result_stream_parts(msg, &name, &chunk, &len) == 0)
            event = result_add_stream(r, name, chunk, len, true);
        free(chunk);
        return event;
    }
    result_add_iopub(r, msg);
    if (r->nitems == before)
        return NULL;
    buf_init(&b, (size_t)-1 / 2);
    write_event(&w, r->items[before]);
    return tree_of(&b, w.err);
}

void result_add_iopub(struct result *r, struct wire_msg *msg)
{
    const char *type = msg->msg_type;

    if (strcmp(type, "stream") == 0) {
        const char *name = NULL;
        char *chunk = NULL;
        size_t len = 0;

        if (result_stream_parts(msg, &name, &chunk, &len) == 0)
            add_stream_text(r, name, chunk, len);
        free(chunk);
    } else if (strcmp(type, "display_data") == 0) {
        add_rich(r, ITEM_DISPLAY_DATA, msg);
    } else if (strcmp(type, "execute_result") == 0) {
        add_rich(r, ITEM_EXECUTE_RESULT, msg);
    } else if (strcmp(type, "update_display_data") == 0) {
        add_rich(r, ITEM_UPDATE_DISPLAY_DATA, msg);
    } else if (strcmp(type, "error") == 0) {
        add_error(r, msg);
    } else if (strcmp(type, "clear_output") == 0) {
        add_clear_output(r, msg);
    } else if (strcmp(type, "execute_input") == 0) {
        long long count;

        /* The code it echoes can be long: only the count is read, from the text. */
        if (wire_msg_content_int(msg, "execution_count", &count) == 0)
            r->execution_count = (long)count;
    }
}

void result_add_reply(struct result *r, struct wire_msg *msg)
{
    static const char *const names[] = {"status", "execution_count"};
    struct jscan_value v[2];
    char status[16];
    ssize_t n;

    r->saw_reply = true;
    wire_msg_content_members(msg, names, 2, v);
    take_count(r, &v[1]);
    if (v[0].type != JSCAN_STRING)
        return;
    n = jscan_string(&v[0], status, sizeof(status));
    if (n == 2 && strcmp(status, "ok") == 0)
        return;
    if (r->status == RESULT_SUCCESS)
        r->status = RESULT_ERROR;
    if (r->error == NULL) {
        if (n == 7 && strcmp(status, "aborted") == 0) {
            result_fail(r, RESULT_ERROR, "ExecutionAborted",
                        "the kernel aborted this execution");
        } else {
            r->error = error_json(r, msg, &r->error_len, NULL, NULL);
        }
    }
}

void result_fail(struct result *r, enum result_status status, const char *ename,
                 const char *evalue)
{
    struct buf b;
    struct jwrite w = {&b, 0};

    r->status = status;
    buf_init(&b, (size_t)-1 / 2);
    write_error_start(&w, ename, strlen(ename), evalue, strlen(evalue));
    jw_lit(&w, "]}");
    free(r->error);
    r->error = w.err == 0 ? buf_steal(&b, &r->error_len) : NULL;
    buf_cleanup(&b);
}

void result_mark_truncated(struct result *r)
{
    r->truncated = true;
}

void result_set_duration(struct result *r, long duration_ms)
{
    r->duration_ms = duration_ms;
}

void result_set_kernel_restarted(struct result *r, bool restarted)
{
    r->kernel_restarted = restarted;
}

enum result_status result_status(const struct result *r)
{
    return r->status;
}

const char *result_status_name(enum result_status status)
{
    switch (status) {
    case RESULT_SUCCESS:
        return "success";
    case RESULT_ERROR:
        return "error";
    case RESULT_TIMEOUT:
        return "timeout";
    case RESULT_MAX_ATTEMPTS:
        return "max_attempts_exceeded";
    case RESULT_KERNEL_DIED:
        return "kernel_died";
    }
    return "error";
}

static bool any_truncated(const struct result *r)
{
    return r->truncated || r->out.truncated || r->err.truncated;
}

static void write_error(struct jwrite *w, const struct result *r)
{
    if (r->error != NULL)
        jw_raw(w, r->error, r->error_len);
    else
        jw_raw(w, "null", 4);
}

json_object *result_attempt_json(const struct result *r, int attempt, const char *code)
{
    struct buf b;
    struct jwrite w = {&b, 0};
    const char *status = result_status_name(r->status);

    buf_init(&b, (size_t)-1 / 2);
    jw_lit(&w, "{\"attempt\":");
    jw_int(&w, attempt);
    jw_lit(&w, ",\"code\":");
    jw_string(&w, code, strlen(code));
    jw_lit(&w, ",\"status\":");
    jw_string(&w, status, strlen(status));
    jw_lit(&w, ",\"output\":");
    write_capped(&w, &r->out, r->char_limit);
    jw_lit(&w, ",\"stderr\":");
    write_capped(&w, &r->err, r->char_limit);
    jw_lit(&w, ",\"error\":");
    write_error(&w, r);
    jw_raw(&w, "}", 1);
    return tree_of(&b, w.err);
}

static void write_item(struct jwrite *w, const struct result *r, const struct item *it,
                       bool *truncated)
{
    const char *kind = kind_names[it->kind];

    jw_lit(w, "{\"kind\":");
    jw_string(w, kind, strlen(kind));
    jw_lit(w, ",\"text\":");
    if (it->kind == ITEM_STREAM) {
        write_capped(w, &it->stream, r->char_limit);
        if (it->stream.truncated)
            *truncated = true;
    } else if (it->text != NULL) {
        jw_string(w, it->text, it->text_len);
    } else {
        jw_raw(w, "null", 4);
    }
    jw_lit(w, ",\"name\":");
    if (it->kind == ITEM_STREAM)
        jw_string(w, it->name, strlen(it->name));
    else
        jw_raw(w, "null", 4);
    jw_lit(w, ",\"data\":");
    if (it->kind == ITEM_CLEAR_OUTPUT)
        write_clear_data(w, it);
    else
        write_object_or_empty(w, it->data, it->data_len);
    write_item_end(w, it);
}

json_object *result_execution_count(const struct result *r)
{
    return r->execution_count >= 0 ? json_object_new_int64(r->execution_count) : NULL;
}

char *result_to_text(const struct result *r, json_object *attempts, int status, size_t *len)
{
    enum result_status st = status >= 0 ? (enum result_status)status : r->status;
    const char *name = result_status_name(st);
    bool truncated = any_truncated(r);
    struct buf b;
    struct jwrite w = {&b, 0};
    char *text;

    buf_init(&b, (size_t)-1 / 2);
    jw_lit(&w, "{\"status\":");
    jw_string(&w, name, strlen(name));
    jw_lit(&w, ",\"output\":");
    write_capped(&w, &r->out, r->char_limit);
    jw_lit(&w, ",\"stderr\":");
    write_capped(&w, &r->err, r->char_limit);
    jw_lit(&w, ",\"error\":");
    write_error(&w, r);
    jw_lit(&w, ",\"return_value\":");
    if (r->return_value != NULL)
        jw_string(&w, r->return_value, r->return_value_len);
    else
        jw_raw(&w, "null", 4);
    jw_lit(&w, ",\"execution_count\":");
    if (r->execution_count >= 0)
        jw_int(&w, r->execution_count);
    else
        jw_raw(&w, "null", 4);
    jw_lit(&w, ",\"duration_ms\":");
    jw_int(&w, r->duration_ms);
    jw_lit(&w, ",\"outputs\":[");
    for (size_t i = 0; i < r->nitems; i++) {
        if (i > 0)
            jw_raw(&w, ",", 1);
        write_item(&w, r, r->items[i], &truncated);
    }
    jw_lit(&w, "],\"attempts\":");
    if (attempts != NULL)
        jw_lit(&w, json_object_to_json_string_ext(attempts, JSON_C_TO_STRING_PLAIN |
                                                                JSON_C_TO_STRING_NOSLASHESCAPE));
    else
        jw_raw(&w, "[]", 2);
    jw_lit(&w, ",\"truncated\":");
    jw_lit(&w, truncated ? "true" : "false");
    jw_lit(&w, ",\"kernel_restarted\":");
    jw_lit(&w, r->kernel_restarted ? "true" : "false");
    jw_raw(&w, "}", 1);
    text = w.err == 0 ? buf_steal(&b, len) : NULL;
    buf_cleanup(&b);
    return text;
}

json_object *result_to_json(const struct result *r, json_object *attempts, int status)
{
    size_t len = 0;
    char *text = result_to_text(r, attempts, status, &len);
    json_object *obj;

    if (text == NULL)
        return NULL;
    obj = json_parse_valid_utf8(text, len, WIRE_JSON_DEPTH + 8);
    free(text);
    return obj;
}
