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

#include "files_reply.h"
#include "log.h"
#include "session-int.h"
#include "util/json.h"
#include "util/text.h"

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
    loop_timer_stop(s->reg->p.loop, &e->grace);
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
                           struct wire_msg *msg);

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
    loop_timer_start(s->reg->p.loop, &e->deadline,
                     now_ms() + (uint64_t)(s->reg->cfg->file_timeout * 1000));
}

static void on_files_reply(struct kernel_request *req, enum kernel_channel ch,
                           struct wire_msg *msg)
{
    struct session *s = LIST_CONTAINER(req, struct session, exec.req);
    struct exec *e = &s->exec;
    struct session_file_params *f = &e->job->file;
    struct files_reply r;
    json_object *body = NULL;

    if (ch == KERNEL_IOPUB) {
        session_stray(s, msg); /* a thread of the session's code printing meanwhile */
        return;
    }
    if (ch != KERNEL_SHELL || strcmp(msg->msg_type, "execute_reply") != 0)
        return;
    if (e->timed_out) {
        /* The interrupt stopped the step that ran past its time: the kernel is free again. */
        files_timeout(s);
        return;
    }
    kernel_request_done(&e->req);
    loop_timer_stop(s->reg->p.loop, &e->deadline);
    /* Whatever the kernel sends is checked: the session's code may have tampered with it. */
    if (files_reply_parse(wire_msg_content(msg), f->op, f->path, f->max, &f->out, &r) < 0) {
        files_finish(s, r.error, NULL, r.detail);
        files_reply_cleanup(&r);
        return;
    }
    switch (f->op) {
    case SESSION_FILE_READ:
        e->file_offset += r.chunk;
        /* A short chunk before the end means the file shrank while it was read. */
        if (r.chunk == FILES_CHUNK && e->file_offset < (uint64_t)r.size) {
            send_chunk(s);
            break;
        }
        files_finish(s, 0, NULL, NULL);
        break;
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
        files_finish(s, 0, r.listing, NULL);
        r.listing = NULL; /* files_finish took it */
        break;
    case SESSION_FILE_DELETE:
        body = json_object_new_object();
        json_object_object_add(body, "deleted", json_object_new_string(f->path));
        files_finish(s, 0, body, NULL);
        break;
    case SESSION_FILE_NONE:
        break;
    }
    files_reply_cleanup(&r);
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
    e->timed_out = false;
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
    char detail[160];

    snprintf(detail, sizeof(detail),
             "the kernel did not carry out the file operation within KERNELBOX_FILE_TIMEOUT "
             "(%g s)", s->reg->cfg->file_timeout);
    files_finish(s, -ETIMEDOUT, NULL, detail);
}
