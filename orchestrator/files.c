/* The files API, carried out by the kernel itself: a read-only root and no network leave no
 * other way into a container's tmpfs. Each request is an execute_request with no code and one
 * user expression calling kernelbox_files (in the image), which resolves paths below the
 * working directory without following symlinks and answers with one line of JSON. Data moves
 * base64-encoded in chunks, so no message approaches the socket's size cap. A file operation
 * takes its turn in the session's queue like an execution. */
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "session-int.h"
#include "util/json.h"
#include "util/text.h"

#define FILES_CHUNK (4u << 20)       /* raw bytes per message, either way */
#define FILES_DEADLINE_MS 60000      /* for one chunk */
#define FILES_REPLY_DEPTH 8
#define FILES_LIST_MAX 10000 /* entries in one listing */

/* A JSON string literal of s, which is also a Python string literal of it: the path was
 * checked to hold no control characters, and json-c leaves other characters as UTF-8. */
static json_object *literal(const char *s)
{
    return json_object_new_string(s);
}

static const char *lit_text(json_object *lit)
{
    return json_object_to_json_string_ext(lit, JSON_C_TO_STRING_PLAIN |
                                                   JSON_C_TO_STRING_NOSLASHESCAPE);
}

static void files_finish(struct session *s, int error, json_object *body, const char *detail)
{
    struct exec *e = &s->exec;
    struct session_job *job = e->job;

    loop_timer_stop(s->reg->p.loop, &e->deadline);
    kernel_request_done(&e->req);
    e->active = false;
    e->fileop = false;
    e->job = NULL;
    if (e->abandoned) {
        if (job->counted != NULL) {
            job->counted->executions--;
            job->counted = NULL;
        }
        json_object_put(body);
    } else if (detail != NULL) {
        session_job_complete(s->reg, job, error, body, "%s", detail);
    } else {
        session_job_complete(s->reg, job, error, body, NULL);
    }
    s->last_used_at = wall_now();
    session_exec_done(s);
}

static void on_files_reply(struct kernel_request *req, enum kernel_channel ch,
                           const struct wire_msg *msg);

/* Send the request for the current chunk of the running file operation. */
static void send_chunk(struct session *s)
{
    struct exec *e = &s->exec;
    struct session_file_params *f = &e->job->file;
    json_object *content = json_object_new_object(), *exprs = json_object_new_object();
    json_object *path = literal(f->path);
    char *expr = NULL, *b64 = NULL;
    size_t n = 0;
    int rc;

    switch (f->op) {
    case SESSION_FILE_READ:
        n = strlen(lit_text(path)) + 128;
        expr = malloc(n);
        if (expr != NULL)
            snprintf(expr, n, "__import__('kernelbox_files').read(%s, %" PRIu64 ", %u)",
                     lit_text(path), e->file_offset, FILES_CHUNK);
        break;
    case SESSION_FILE_WRITE: {
        size_t chunk = f->len - e->file_offset;

        if (chunk > FILES_CHUNK)
            chunk = FILES_CHUNK;
        b64 = malloc(4 * ((chunk + 2) / 3) + 1);
        if (b64 != NULL)
            EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)f->data + e->file_offset,
                            (int)chunk);
        e->file_chunk = chunk;
        n = strlen(lit_text(path)) + (b64 ? strlen(b64) : 0) + 128;
        expr = b64 ? malloc(n) : NULL;
        if (expr != NULL)
            snprintf(expr, n, "__import__('kernelbox_files').write(%s, %" PRIu64 ", '%s', %s)",
                     lit_text(path), e->file_offset, b64,
                     e->file_offset + chunk == f->len ? "True" : "False");
        break;
    }
    case SESSION_FILE_LIST:
        n = strlen(lit_text(path)) + 64;
        expr = malloc(n);
        if (expr != NULL)
            snprintf(expr, n, "__import__('kernelbox_files').listdir(%s)", lit_text(path));
        break;
    case SESSION_FILE_DELETE:
        n = strlen(lit_text(path)) + 64;
        expr = malloc(n);
        if (expr != NULL)
            snprintf(expr, n, "__import__('kernelbox_files').remove(%s)", lit_text(path));
        break;
    case SESSION_FILE_NONE:
        break;
    }
    json_object_put(path);
    free(b64);
    if (expr == NULL) {
        json_object_put(content);
        json_object_put(exprs);
        files_finish(s, -EIO, NULL, "kernelboxd is out of memory");
        return;
    }
    json_object_object_add(exprs, "kb", json_object_new_string(expr));
    free(expr);
    json_object_object_add(content, "code", json_object_new_string(""));
    json_object_object_add(content, "silent", json_object_new_boolean(1));
    json_object_object_add(content, "store_history", json_object_new_boolean(0));
    json_object_object_add(content, "user_expressions", exprs);
    json_object_object_add(content, "allow_stdin", json_object_new_boolean(0));
    json_object_object_add(content, "stop_on_error", json_object_new_boolean(0));
    rc = kernel_send(s->kernel, KERNEL_SHELL, "execute_request", content, on_files_reply,
                     &e->req);
    json_object_put(content);
    if (rc < 0) {
        files_finish(s, -EIO, NULL, "kernelboxd could not reach the kernel");
        return;
    }
    loop_timer_start(s->reg->p.loop, &e->deadline, now_ms() + FILES_DEADLINE_MS);
}

/* The helper's own error codes, as the API answers them. */
static int helper_error(const char *code)
{
    if (strcmp(code, "not_found") == 0)
        return -ENOENT;
    if (strcmp(code, "no_space") == 0)
        return -EDQUOT;
    if (strcmp(code, "exists") == 0 || strcmp(code, "not_empty") == 0)
        return -EEXIST;
    if (strcmp(code, "io") == 0)
        return -EIO;
    return -EINVAL; /* invalid, symlink, is_dir, not_dir, denied */
}

static const char *helper_detail(const char *code)
{
    if (strcmp(code, "symlink") == 0)
        return "the path goes through a symlink: refused, since it could lead outside the "
               "working directory";
    if (strcmp(code, "is_dir") == 0)
        return "the path is a directory (end it with / to list it)";
    if (strcmp(code, "not_dir") == 0)
        return "a part of the path is not a directory";
    if (strcmp(code, "not_found") == 0)
        return "no such file or directory in the session";
    if (strcmp(code, "no_space") == 0)
        return "the session's working directory is full (its tmpfs: limits.tmpfs, by default "
               "KERNELBOX_TMPFS_SIZE)";
    if (strcmp(code, "not_empty") == 0 || strcmp(code, "exists") == 0)
        return "the path is in the way";
    return NULL;
}

static bool decode_into(struct buf *out, const char *b64, size_t len)
{
    unsigned char *raw;
    int n, pad = 0;

    if (len % 4 != 0)
        return false;
    raw = malloc(len / 4 * 3 + 1);
    if (raw == NULL)
        return false;
    n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len);
    if (len > 0 && b64[len - 1] == '=')
        pad++;
    if (len > 1 && b64[len - 2] == '=')
        pad++;
    if (n < 0 || n < pad || buf_append(out, raw, (size_t)(n - pad)) < 0) {
        free(raw);
        return false;
    }
    free(raw);
    return true;
}

/* Turn the helper's listing into the API's: modified as ISO 8601. */
static json_object *listing(const char *path, json_object *entries, bool truncated)
{
    json_object *body = json_object_new_object(), *out = json_object_new_array();
    size_t n = json_object_array_length(entries);

    if (n > FILES_LIST_MAX) { /* the helper holds the same bound; a kernel may not */
        n = FILES_LIST_MAX;
        truncated = true;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *in = json_object_array_get_idx(entries, i), *e = json_object_new_object();
        json_object *v = NULL;
        char when[40];

        if (!json_object_is_type(in, json_type_object)) {
            json_object_put(e);
            continue;
        }
        if (json_object_object_get_ex(in, "name", &v) && json_object_is_type(v, json_type_string))
            json_object_object_add(e, "name", json_object_get(v));
        if (json_object_object_get_ex(in, "size", &v) && json_object_is_type(v, json_type_int))
            json_object_object_add(e, "size", json_object_get(v));
        if (json_object_object_get_ex(in, "type", &v) && json_object_is_type(v, json_type_string))
            json_object_object_add(e, "type", json_object_get(v));
        if (json_object_object_get_ex(in, "modified", &v)) {
            wall_iso8601(json_object_get_double(v), when);
            json_object_object_add(e, "modified", json_object_new_string(when));
        }
        json_object_array_add(out, e);
    }
    json_object_object_add(body, "path", json_object_new_string(path));
    json_object_object_add(body, "entries", out);
    json_object_object_add(body, "truncated", json_object_new_boolean(truncated));
    return body;
}

static void on_files_reply(struct kernel_request *req, enum kernel_channel ch,
                           const struct wire_msg *msg)
{
    struct session *s = LIST_CONTAINER(req, struct session, exec.req);
    struct exec *e = &s->exec;
    struct session_file_params *f = &e->job->file;
    json_object *exprs = NULL, *kb = NULL, *v = NULL, *reply = NULL, *body = NULL, *more = NULL;
    const char *text = NULL;
    bool ok = false;

    if (ch != KERNEL_SHELL || strcmp(msg->msg_type, "execute_reply") != 0)
        return;
    kernel_request_done(&e->req);
    loop_timer_stop(s->reg->p.loop, &e->deadline);
    if (json_object_object_get_ex(msg->content, "user_expressions", &exprs) &&
        json_object_object_get_ex(exprs, "kb", &kb) &&
        json_object_object_get_ex(kb, "status", &v) &&
        strcmp(json_object_get_string(v), "ok") == 0 &&
        json_object_object_get_ex(kb, "data", &v) &&
        json_object_object_get_ex(v, "text/plain", &v) && json_object_is_type(v, json_type_string))
        text = json_object_get_string(v);
    /* Whatever the kernel sends is checked: it may have been tampered with by the code the
     * session ran. */
    if (text != NULL)
        reply = json_parse_strict(text, strlen(text), FILES_REPLY_DEPTH);
    if (reply == NULL || !json_object_is_type(reply, json_type_object)) {
        json_object_put(reply);
        files_finish(s, -EIO, NULL, "the kernel's file helper did not answer usably");
        return;
    }
    ok = json_object_object_get_ex(reply, "ok", &v) && json_object_get_boolean(v);
    if (!ok) {
        const char *code = json_object_object_get_ex(reply, "error", &v) &&
                                   json_object_is_type(v, json_type_string)
                               ? json_object_get_string(v)
                               : "io";
        const char *detail = helper_detail(code);
        char msgbuf[256];

        if (detail == NULL) {
            snprintf(msgbuf, sizeof(msgbuf), "file operation failed: %s",
                     json_object_object_get_ex(reply, "message", &v)
                         ? json_object_get_string(v)
                         : code);
            detail = msgbuf;
        }
        files_finish(s, helper_error(code), NULL, detail);
        json_object_put(reply);
        return;
    }
    switch (f->op) {
    case SESSION_FILE_READ: {
        int64_t size = json_object_object_get_ex(reply, "size", &v) ? json_object_get_int64(v)
                                                                     : -1;
        const char *data = json_object_object_get_ex(reply, "data", &v) &&
                                   json_object_is_type(v, json_type_string)
                               ? json_object_get_string(v)
                               : NULL;
        size_t before = f->out.len;

        if (size < 0 || data == NULL) {
            files_finish(s, -EIO, NULL, "the kernel's file helper did not answer usably");
            break;
        }
        if ((uint64_t)size > f->max) {
            char detail[128];

            snprintf(detail, sizeof(detail),
                     "the file is larger than KERNELBOX_MAX_UPLOAD (%zu bytes); read it from code",
                     f->max);
            files_finish(s, -EINVAL, NULL, detail);
            break;
        }
        if (!decode_into(&f->out, data, strlen(data))) {
            files_finish(s, -EIO, NULL, "the kernel sent a file chunk that is not base64");
            break;
        }
        e->file_offset += f->out.len - before;
        /* A short chunk before the end means the file shrank while it was read. */
        if (f->out.len - before == FILES_CHUNK && e->file_offset < (uint64_t)size) {
            send_chunk(s);
            break;
        }
        files_finish(s, 0, NULL, NULL);
        break;
    }
    case SESSION_FILE_WRITE:
        e->file_offset += e->file_chunk;
        if (e->file_offset < f->len) {
            send_chunk(s);
            break;
        }
        body = json_object_new_object();
        json_object_object_add(body, "path", json_object_new_string(f->path));
        json_object_object_add(body, "size", json_object_new_int64((int64_t)f->len));
        files_finish(s, 0, body, NULL);
        break;
    case SESSION_FILE_LIST:
        if (!json_object_object_get_ex(reply, "entries", &v) ||
            !json_object_is_type(v, json_type_array)) {
            files_finish(s, -EIO, NULL, "the kernel's file helper did not answer usably");
            break;
        }
        json_object_object_get_ex(reply, "truncated", &more); /* absent: NULL, false */
        files_finish(s, 0, listing(f->path, v, json_object_get_boolean(more)), NULL);
        break;
    case SESSION_FILE_DELETE:
        body = json_object_new_object();
        json_object_object_add(body, "deleted", json_object_new_string(f->path));
        files_finish(s, 0, body, NULL);
        break;
    case SESSION_FILE_NONE:
        break;
    }
    json_object_put(reply);
}

void files_start(struct session *s, struct session_job *job)
{
    struct exec *e = &s->exec;

    e->active = true;
    e->fileop = true;
    e->abandoned = false;
    e->job = job;
    e->file_offset = 0;
    e->file_chunk = 0;
    e->started_us = now_us();
    s->last_used_at = wall_now();
    send_chunk(s);
}

void files_abort(struct session *s, int error, const char *detail)
{
    files_finish(s, error, NULL, detail);
}

void files_timeout(struct session *s)
{
    files_finish(s, -ETIMEDOUT, NULL, "the kernel did not answer the file operation within 60 s");
}
