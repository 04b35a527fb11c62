/* The result of one execution, capped as output arrives. Texts keep at most char_limit
 * characters (cut on a character boundary, then marked); items and rich data share a fixed
 * byte budget; anything beyond is counted as truncated and dropped at once. */
#include "result.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/text.h"

/* Text kept up to a number of characters. */
struct capped_text {
    struct buf buf;
    size_t chars;
    bool truncated;
};

struct result {
    long char_limit;
    enum result_status status;
    struct capped_text out;
    struct capped_text err;
    json_object *error;        /* {ename, evalue, traceback} or NULL */
    json_object *return_value; /* string or NULL */
    long execution_count;      /* -1 until known */
    json_object *outputs;      /* array of items */
    struct capped_text *last_stream; /* text of the last item when it is a stream */
    char last_stream_name[8];
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

/* The text as the client sees it: marked when something was cut. New reference. */
static json_object *capped_json(const struct capped_text *t, long limit)
{
    const char *marker = RESULT_TRUNCATION_MARKER;
    size_t marker_chars = strlen(marker), keep;
    struct buf out;
    json_object *s;

    if (!t->truncated)
        return json_object_new_string_len(t->buf.data ? t->buf.data : "", (int)t->buf.len);
    keep = (size_t)limit > marker_chars ? (size_t)limit - marker_chars : 0;
    keep = utf8_prefix(t->buf.data ? t->buf.data : "", t->buf.len, keep);
    buf_init(&out, t->buf.len + marker_chars + 1);
    buf_append(&out, t->buf.data ? t->buf.data : "", keep);
    buf_append_str(&out, marker);
    s = json_object_new_string_len(out.data, (int)out.len);
    buf_cleanup(&out);
    return s;
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
    r->outputs = json_object_new_array();
    if (r->outputs == NULL) {
        free(r);
        return NULL;
    }
    return r;
}

static void free_stream_text(json_object *obj, void *userdata)
{
    struct capped_text *t = userdata;

    (void)obj;
    buf_cleanup(&t->buf);
    free(t);
}

void result_free(struct result *r)
{
    if (r == NULL)
        return;
    buf_cleanup(&r->out.buf);
    buf_cleanup(&r->err.buf);
    json_object_put(r->error);
    json_object_put(r->return_value);
    json_object_put(r->outputs);
    free(r);
}

static const char *get_str(json_object *obj, const char *key, size_t *len)
{
    json_object *v = NULL;

    if (obj == NULL || !json_object_object_get_ex(obj, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    if (len != NULL)
        *len = (size_t)json_object_get_string_len(v);
    return json_object_get_string(v);
}

static json_object *get_obj(json_object *obj, const char *key)
{
    json_object *v = NULL;

    if (obj == NULL || !json_object_object_get_ex(obj, key, &v) ||
        !json_object_is_type(v, json_type_object))
        return NULL;
    return v;
}

/* Reserve bytes of the shared budget and a slot in outputs[]; false when either is spent. */
static bool take_budget(struct result *r, size_t bytes)
{
    if (json_object_array_length(r->outputs) >= RESULT_MAX_OUTPUTS ||
        bytes > RESULT_OUTPUTS_BUDGET - r->budget_used) {
        r->truncated = true;
        return false;
    }
    r->budget_used += bytes;
    return true;
}

static json_object *new_item(const char *kind)
{
    json_object *item = json_object_new_object();

    json_object_object_add(item, "kind", json_object_new_string(kind));
    json_object_object_add(item, "text", NULL);
    json_object_object_add(item, "name", NULL);
    json_object_object_add(item, "data", json_object_new_object());
    json_object_object_add(item, "metadata", json_object_new_object());
    return item;
}

/* Returns how many bytes of the chunk the stream's text kept (what a live client sees). */
static size_t add_stream(struct result *r, json_object *content)
{
    size_t len = 0, kept_item, kept;
    const char *name = get_str(content, "name", NULL);
    const char *text = get_str(content, "text", &len);
    struct capped_text *target;

    if (name == NULL || text == NULL)
        return 0;
    if (strcmp(name, "stderr") == 0) {
        target = &r->err;
    } else if (strcmp(name, "stdout") == 0) {
        target = &r->out;
    } else {
        return 0;
    }
    kept = capped_append(target, r->char_limit, text, len);

    /* Consecutive chunks of one stream become one item, so a chatty loop is one entry. */
    if (r->last_stream == NULL || strcmp(r->last_stream_name, name) != 0) {
        struct capped_text *t;
        json_object *item;

        if (!take_budget(r, 64)) {
            r->last_stream = NULL;
            return kept;
        }
        t = calloc(1, sizeof(*t));
        if (t == NULL)
            return kept;
        capped_init(t);
        item = new_item("stream");
        json_object_object_add(item, "name", json_object_new_string(name));
        /* The item's text is filled from t when the result is rendered. */
        json_object_set_userdata(item, t, free_stream_text);
        json_object_array_add(r->outputs, item);
        r->last_stream = t;
        snprintf(r->last_stream_name, sizeof(r->last_stream_name), "%s", name);
    }
    if (len > RESULT_OUTPUTS_BUDGET - r->budget_used) {
        r->last_stream->truncated = true;
        r->truncated = true;
        return kept;
    }
    kept_item = capped_append(r->last_stream, r->char_limit, text, len);
    r->budget_used += kept_item;
    return kept;
}

/* A JSON string of at most limit characters of s; a cut marks the result truncated. */
static json_object *cap_string(struct result *r, long limit, const char *s, size_t len)
{
    struct capped_text t;
    json_object *out;

    capped_init(&t);
    capped_append(&t, limit, s, len);
    if (t.truncated)
        r->truncated = true;
    out = capped_json(&t, limit);
    buf_cleanup(&t.buf);
    return out;
}

static void add_rich(struct result *r, const char *kind, json_object *content, size_t size)
{
    json_object *data = get_obj(content, "data"), *metadata = get_obj(content, "metadata");
    json_object *transient = get_obj(content, "transient"), *item, *v = NULL;
    size_t plain_len = 0;
    const char *plain;

    r->last_stream = NULL;
    if (data == NULL || !take_budget(r, size))
        return;
    item = new_item(kind);
    json_object_object_add(item, "data", json_object_get(data));
    if (metadata != NULL)
        json_object_object_add(item, "metadata", json_object_get(metadata));
    if (transient != NULL && json_object_object_get_ex(transient, "display_id", &v) &&
        json_object_is_type(v, json_type_string))
        json_object_object_add(item, "display_id", json_object_get(v));
    plain = get_str(data, "text/plain", &plain_len);
    if (plain != NULL) {
        json_object *text = cap_string(r, r->char_limit, plain, plain_len);

        json_object_object_add(item, "text", text);
        if (strcmp(kind, "execute_result") == 0) {
            json_object_put(r->return_value);
            r->return_value = json_object_get(text);
        }
    }
    if (strcmp(kind, "execute_result") == 0 &&
        json_object_object_get_ex(content, "execution_count", &v) &&
        json_object_is_type(v, json_type_int))
        r->execution_count = (long)json_object_get_int64(v);
    json_object_array_add(r->outputs, item);
}

/* Build {ename, evalue, traceback} from a kernel's error content, capped. */
static json_object *error_json(struct result *r, json_object *content)
{
    json_object *err = json_object_new_object(), *tb = json_object_new_array(), *src = NULL;
    size_t ename_len = 0, evalue_len = 0;
    const char *ename = get_str(content, "ename", &ename_len);
    const char *evalue = get_str(content, "evalue", &evalue_len);

    if (ename == NULL) {
        ename = "Error";
        ename_len = 5;
    }
    json_object_object_add(err, "ename", cap_string(r, 256, ename, ename_len));
    json_object_object_add(err, "evalue",
                           cap_string(r, r->char_limit, evalue ? evalue : "", evalue_len));
    if (json_object_object_get_ex(content, "traceback", &src) &&
        json_object_is_type(src, json_type_array)) {
        size_t n = json_object_array_length(src);

        for (size_t i = 0; i < n && i < RESULT_MAX_TRACEBACK; i++) {
            json_object *line = json_object_array_get_idx(src, i);

            if (!json_object_is_type(line, json_type_string))
                continue;
            json_object_array_add(tb, cap_string(r, r->char_limit, json_object_get_string(line),
                                                 (size_t)json_object_get_string_len(line)));
        }
        if (n > RESULT_MAX_TRACEBACK)
            r->truncated = true;
    }
    json_object_object_add(err, "traceback", tb);
    return err;
}

static void add_error(struct result *r, json_object *content, size_t size)
{
    json_object *err = error_json(r, content), *item;
    const char *ename = NULL, *evalue = NULL;
    json_object *v = NULL;
    size_t n;
    char *text;

    r->last_stream = NULL;
    if (r->status == RESULT_SUCCESS)
        r->status = RESULT_ERROR;
    json_object_put(r->error);
    r->error = err;
    if (!take_budget(r, size))
        return;
    if (json_object_object_get_ex(err, "ename", &v))
        ename = json_object_get_string(v);
    if (json_object_object_get_ex(err, "evalue", &v))
        evalue = json_object_get_string(v);
    item = new_item("error");
    n = strlen(ename ? ename : "") + strlen(evalue ? evalue : "") + 3;
    text = malloc(n);
    if (text != NULL) {
        snprintf(text, n, "%s: %s", ename ? ename : "", evalue ? evalue : "");
        json_object_object_add(item, "text", json_object_new_string(text));
        free(text);
    }
    json_object_object_add(item, "data", json_object_get(err));
    json_object_array_add(r->outputs, item);
}

/* The live event for the item just appended: what the JSON result will hold of it. */
static json_object *item_event(json_object *item, const char *type)
{
    json_object *event = json_object_new_object(), *v = NULL;

    if (strcmp(type, "error") == 0) {
        json_object *data = json_object_object_get(item, "data");

        json_object_object_foreach(data, key, val)
        {
            json_object_object_add(event, key, json_object_get(val));
        }
        return event;
    }
    if (strcmp(type, "clear_output") == 0) {
        json_object *data = json_object_object_get(item, "data");

        json_object_object_add(event, "wait",
                               json_object_new_boolean(
                                   json_object_object_get_ex(data, "wait", &v) &&
                                   json_object_get_boolean(v)));
        return event;
    }
    json_object_object_add(event, "data", json_object_get(json_object_object_get(item, "data")));
    json_object_object_add(event, "metadata",
                           json_object_get(json_object_object_get(item, "metadata")));
    if (json_object_object_get_ex(item, "display_id", &v))
        json_object_object_add(event, "display_id", json_object_get(v));
    return event;
}

json_object *result_add_iopub_event(struct result *r, struct wire_msg *msg)
{
    size_t before = json_object_array_length(r->outputs);
    const char *type = msg->msg_type;

    if (strcmp(type, "stream") == 0) {
        json_object *content = wire_msg_content(msg), *event;
        size_t len = 0, kept = add_stream(r, content);
        const char *text = get_str(content, "text", &len);

        if (kept == 0 || text == NULL)
            return NULL;
        event = json_object_new_object();
        json_object_object_add(event, "name",
                               json_object_new_string(get_str(content, "name", NULL)));
        json_object_object_add(event, "text", json_object_new_string_len(text, (int)kept));
        return event;
    }
    result_add_iopub(r, msg);
    if (json_object_array_length(r->outputs) == before)
        return NULL;
    return item_event(json_object_array_get_idx(r->outputs, before), type);
}

void result_add_iopub(struct result *r, struct wire_msg *msg)
{
    const char *type = msg->msg_type;

    if (strcmp(type, "stream") == 0) {
        add_stream(r, wire_msg_content(msg));
    } else if (strcmp(type, "display_data") == 0 || strcmp(type, "execute_result") == 0 ||
               strcmp(type, "update_display_data") == 0) {
        add_rich(r, type, wire_msg_content(msg), msg->content_len);
    } else if (strcmp(type, "error") == 0) {
        add_error(r, wire_msg_content(msg), msg->content_len);
    } else if (strcmp(type, "clear_output") == 0) {
        json_object *item, *v = NULL;

        r->last_stream = NULL;
        if (!take_budget(r, 64))
            return;
        item = new_item("clear_output");
        if (json_object_object_get_ex(wire_msg_content(msg), "wait", &v) &&
            json_object_is_type(v, json_type_boolean))
            json_object_object_add(json_object_object_get(item, "data"), "wait",
                                   json_object_new_boolean(json_object_get_boolean(v)));
        json_object_array_add(r->outputs, item);
    } else if (strcmp(type, "execute_input") == 0) {
        long long count;

        /* The code it echoes can be long: only the count is read, from the text. */
        if (wire_msg_content_int(msg, "execution_count", &count) == 0 && count >= LONG_MIN &&
            count <= LONG_MAX)
            r->execution_count = (long)count;
    }
}

void result_add_reply(struct result *r, struct wire_msg *msg)
{
    json_object *content = wire_msg_content(msg), *v = NULL;
    const char *status = get_str(content, "status", NULL);

    r->saw_reply = true;
    if (json_object_object_get_ex(content, "execution_count", &v) &&
        json_object_is_type(v, json_type_int))
        r->execution_count = (long)json_object_get_int64(v);
    if (status == NULL || strcmp(status, "ok") == 0)
        return;
    if (r->status == RESULT_SUCCESS)
        r->status = RESULT_ERROR;
    if (r->error == NULL) {
        if (strcmp(status, "aborted") == 0) {
            result_fail(r, RESULT_ERROR, "ExecutionAborted",
                        "the kernel aborted this execution");
        } else {
            r->error = error_json(r, content);
        }
    }
}

void result_fail(struct result *r, enum result_status status, const char *ename,
                 const char *evalue)
{
    json_object *err = json_object_new_object();

    r->status = status;
    json_object_object_add(err, "ename", json_object_new_string(ename));
    json_object_object_add(err, "evalue", json_object_new_string(evalue));
    json_object_object_add(err, "traceback", json_object_new_array());
    json_object_put(r->error);
    r->error = err;
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

json_object *result_attempt_json(const struct result *r, int attempt, const char *code)
{
    json_object *a = json_object_new_object();

    json_object_object_add(a, "attempt", json_object_new_int(attempt));
    json_object_object_add(a, "code", json_object_new_string(code));
    json_object_object_add(a, "status", json_object_new_string(result_status_name(r->status)));
    json_object_object_add(a, "output", capped_json(&r->out, r->char_limit));
    json_object_object_add(a, "stderr", capped_json(&r->err, r->char_limit));
    json_object_object_add(a, "error", r->error ? json_object_get(r->error) : NULL);
    return a;
}

/* Copy an item, filling a stream item's text from the capped text it carries. */
static json_object *render_item(const struct result *r, json_object *item, bool *truncated)
{
    struct capped_text *t = json_object_get_userdata(item);
    json_object *copy = json_object_new_object();

    json_object_object_foreach(item, key, val)
    {
        json_object_object_add(copy, key, json_object_get(val));
    }
    if (t != NULL) {
        json_object_object_add(copy, "text", capped_json(t, r->char_limit));
        if (t->truncated)
            *truncated = true;
    }
    return copy;
}

json_object *result_execution_count(const struct result *r)
{
    return r->execution_count >= 0 ? json_object_new_int64(r->execution_count) : NULL;
}

json_object *result_to_json(const struct result *r, json_object *attempts, int status)
{
    json_object *obj = json_object_new_object(), *outputs = json_object_new_array();
    enum result_status st = status >= 0 ? (enum result_status)status : r->status;
    bool truncated = any_truncated(r);
    size_t n = json_object_array_length(r->outputs);

    if (obj == NULL || outputs == NULL) {
        json_object_put(obj);
        json_object_put(outputs);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        json_object_array_add(outputs,
                              render_item(r, json_object_array_get_idx(r->outputs, i),
                                          &truncated));
    json_object_object_add(obj, "status", json_object_new_string(result_status_name(st)));
    json_object_object_add(obj, "output", capped_json(&r->out, r->char_limit));
    json_object_object_add(obj, "stderr", capped_json(&r->err, r->char_limit));
    json_object_object_add(obj, "error", r->error ? json_object_get(r->error) : NULL);
    json_object_object_add(obj, "return_value",
                           r->return_value ? json_object_get(r->return_value) : NULL);
    json_object_object_add(obj, "execution_count",
                           r->execution_count >= 0 ? json_object_new_int64(r->execution_count)
                                                   : NULL);
    json_object_object_add(obj, "duration_ms", json_object_new_int64(r->duration_ms));
    json_object_object_add(obj, "outputs", outputs);
    json_object_object_add(obj, "attempts",
                           attempts ? json_object_get(attempts) : json_object_new_array());
    json_object_object_add(obj, "truncated", json_object_new_boolean(truncated));
    json_object_object_add(obj, "kernel_restarted",
                           json_object_new_boolean(r->kernel_restarted));
    return obj;
}
