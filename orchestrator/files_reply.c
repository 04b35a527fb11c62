/* Checking what the kernel's file helper answered: see files_reply.h. */
#include "files_reply.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/text.h"

#define UNUSABLE "the kernel's file helper did not answer usably"

static int fail(struct files_reply *r, int error, const char *detail)
{
    r->error = error;
    snprintf(r->detail, sizeof(r->detail), "%s", detail);
    return error;
}

/* obj[key] when it is a string, else NULL. */
static const char *string_of(json_object *obj, const char *key)
{
    json_object *v = NULL;

    if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
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
    if (strcmp(code, "not_file") == 0)
        return "the path is not a regular file (a FIFO, a socket or a device): refused, since "
               "reading or writing it could wait forever";
    if (strcmp(code, "not_found") == 0)
        return "no such file or directory in the session";
    if (strcmp(code, "no_space") == 0)
        return "the session's working directory is full (its tmpfs: limits.tmpfs, by default "
               "KERNELBOX_TMPFS_SIZE)";
    if (strcmp(code, "not_empty") == 0 || strcmp(code, "exists") == 0)
        return "the path is in the way";
    return NULL;
}

/* Append the bytes of base64 text b64 to out. False when it is not base64 or out is full. */
static bool decode_into(struct buf *out, const char *b64, size_t len)
{
    unsigned char *raw;
    int n, pad = 0;

    if (len % 4 != 0 || len > (size_t)INT32_MAX)
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

/* The helper's listing as the API's: known fields of known types, modified as ISO 8601. */
static json_object *listing(const char *path, json_object *entries, bool truncated)
{
    json_object *body = json_object_new_object(), *out = json_object_new_array();
    size_t n = json_object_array_length(entries);

    if (n > FILES_LIST_MAX) { /* the helper holds the same bound; a kernel may not */
        n = FILES_LIST_MAX;
        truncated = true;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *in = json_object_array_get_idx(entries, i), *e, *v = NULL;
        char when[40];

        if (!json_object_is_type(in, json_type_object))
            continue;
        e = json_object_new_object();
        if (json_object_object_get_ex(in, "name", &v) && json_object_is_type(v, json_type_string))
            json_object_object_add(e, "name", json_object_get(v));
        if (json_object_object_get_ex(in, "size", &v) && json_object_is_type(v, json_type_int))
            json_object_object_add(e, "size", json_object_get(v));
        if (json_object_object_get_ex(in, "type", &v) && json_object_is_type(v, json_type_string))
            json_object_object_add(e, "type", json_object_get(v));
        if (json_object_object_get_ex(in, "modified", &v) &&
            (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int))) {
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

static int parse_read(json_object *reply, uint64_t max_size, struct buf *out,
                      struct files_reply *r)
{
    json_object *v = NULL;
    const char *data = string_of(reply, "data");
    size_t before = out->len;

    if (json_object_object_get_ex(reply, "size", &v) && json_object_is_type(v, json_type_int))
        r->size = json_object_get_int64(v);
    if (r->size < 0 || data == NULL)
        return fail(r, -EIO, UNUSABLE);
    if ((uint64_t)r->size > max_size) {
        snprintf(r->detail, sizeof(r->detail),
                 "the file is larger than KERNELBOX_MAX_UPLOAD (%llu bytes); read it from code",
                 (unsigned long long)max_size);
        r->error = -EINVAL;
        return r->error;
    }
    if (!decode_into(out, data, strlen(data)))
        return fail(r, -EIO, "the kernel sent a file chunk that is not base64, or too long");
    r->chunk = out->len - before;
    return 0;
}

int files_reply_parse(json_object *content, enum session_file_op op, const char *path,
                      uint64_t max_size, struct buf *out, struct files_reply *r)
{
    json_object *exprs = NULL, *kb = NULL, *data = NULL, *reply = NULL, *v = NULL;
    const char *status, *text = NULL, *code;

    memset(r, 0, sizeof(*r));
    r->size = -1;
    if (json_object_object_get_ex(content, "user_expressions", &exprs) &&
        json_object_object_get_ex(exprs, "kb", &kb) && (status = string_of(kb, "status")) &&
        strcmp(status, "ok") == 0 && json_object_object_get_ex(kb, "data", &data))
        text = string_of(data, "text/plain");
    if (text != NULL)
        reply = json_parse_strict(text, strlen(text), FILES_REPLY_DEPTH);
    if (reply == NULL || !json_object_is_type(reply, json_type_object)) {
        json_object_put(reply);
        return fail(r, -EIO, UNUSABLE);
    }
    if (!json_object_object_get_ex(reply, "ok", &v) || !json_object_is_type(v, json_type_boolean) ||
        !json_object_get_boolean(v)) {
        const char *message = string_of(reply, "message");

        code = string_of(reply, "error");
        if (code == NULL)
            code = "io";
        r->error = helper_error(code);
        if (helper_detail(code) != NULL)
            snprintf(r->detail, sizeof(r->detail), "%s", helper_detail(code));
        else
            snprintf(r->detail, sizeof(r->detail), "file operation failed: %.200s",
                     message != NULL ? message : code);
        json_object_put(reply);
        return r->error;
    }
    switch (op) {
    case SESSION_FILE_READ:
        parse_read(reply, max_size, out, r);
        break;
    case SESSION_FILE_LIST:
        if (!json_object_object_get_ex(reply, "entries", &v) ||
            !json_object_is_type(v, json_type_array)) {
            fail(r, -EIO, UNUSABLE);
            break;
        }
        {
            json_object *more = NULL;
            bool truncated = json_object_object_get_ex(reply, "truncated", &more) &&
                             json_object_is_type(more, json_type_boolean) &&
                             json_object_get_boolean(more);

            r->listing = listing(path, v, truncated);
        }
        break;
    case SESSION_FILE_WRITE:
    case SESSION_FILE_DELETE:
        break;
    case SESSION_FILE_NONE:
    default:
        fail(r, -EIO, UNUSABLE);
        break;
    }
    json_object_put(reply);
    return r->error;
}

void files_reply_cleanup(struct files_reply *r)
{
    json_object_put(r->listing);
    r->listing = NULL;
}
