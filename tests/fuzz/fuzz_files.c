/* libFuzzer driver for what a kernel answers to a file operation (files_reply_parse()). The
 * first byte picks the operation and whether the rest is the helper's JSON line, wrapped in an
 * execute_reply's user_expressions as the kernel would send it, or the whole reply content
 * (the session's code can forge either). What comes back is checked against the contract:
 * a known error with a detail, or a result of the right shape within its bounds. */
#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>

#include "files_reply.h"
#include "fuzz.h"
#include "util/json.h"

#define FUZZ_FILES_BUF_MAX 4096 /* the read buffer's cap: small, so that it fills */
#define FUZZ_FILES_MAX_SIZE 2048

static void check_listing(json_object *listing)
{
    json_object *entries = NULL, *v = NULL;
    size_t n;

    FUZZ_CHECK(json_object_is_type(listing, json_type_object));
    FUZZ_CHECK(json_object_object_get_ex(listing, "path", &v) &&
               json_object_is_type(v, json_type_string));
    FUZZ_CHECK(json_object_object_get_ex(listing, "truncated", &v) &&
               json_object_is_type(v, json_type_boolean));
    FUZZ_CHECK(json_object_object_get_ex(listing, "entries", &entries) &&
               json_object_is_type(entries, json_type_array));
    n = json_object_array_length(entries);
    FUZZ_CHECK(n <= FILES_LIST_MAX);
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(entries, i);

        FUZZ_CHECK(json_object_is_type(e, json_type_object));
        json_object_object_foreach(e, key, val)
        {
            if (strcmp(key, "size") == 0) {
                FUZZ_CHECK(json_object_is_type(val, json_type_int));
            } else if (strcmp(key, "modified") == 0) {
                /* ISO 8601 with microseconds, a four-digit year */
                FUZZ_CHECK(json_object_is_type(val, json_type_string));
                FUZZ_CHECK(json_object_get_string_len(val) == 32);
            } else {
                FUZZ_CHECK(strcmp(key, "name") == 0 || strcmp(key, "type") == 0);
                FUZZ_CHECK(json_object_is_type(val, json_type_string));
            }
        }
    }
    /* The API serialises it: that must work too. */
    FUZZ_CHECK(json_object_to_json_string(listing) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum session_file_op ops[] = {SESSION_FILE_READ, SESSION_FILE_WRITE,
                                               SESSION_FILE_LIST, SESSION_FILE_DELETE,
                                               SESSION_FILE_NONE};
    enum session_file_op op;
    json_object *content;
    struct files_reply r;
    struct buf out;
    bool wrapped;
    char *text;
    int rc;

    if (size < 1)
        return 0;
    op = ops[(data[0] & 0x7f) % (sizeof(ops) / sizeof(ops[0]))];
    wrapped = (data[0] & 0x80) == 0;
    text = fuzz_strndup(data + 1, size - 1);
    if (wrapped) {
        json_object *kb = json_object_new_object(), *mime = json_object_new_object();
        json_object *exprs = json_object_new_object();

        content = json_object_new_object();
        json_object_object_add(mime, "text/plain", json_object_new_string(text));
        json_object_object_add(kb, "status", json_object_new_string("ok"));
        json_object_object_add(kb, "data", mime);
        json_object_object_add(exprs, "kb", kb);
        json_object_object_add(content, "user_expressions", exprs);
    } else {
        content = json_parse_strict(text, size - 1, 16);
        if (content == NULL)
            content = json_object_new_object();
    }

    buf_init(&out, FUZZ_FILES_BUF_MAX);
    if (data[0] & 0x40) /* a later chunk: the buffer holds part of the file already */
        FUZZ_CHECK(buf_append(&out, "0123456789", 10) == 0);
    {
        size_t before = out.len;

        rc = files_reply_parse(content, op, "dir/", FUZZ_FILES_MAX_SIZE, &out, &r);
        FUZZ_CHECK(rc == r.error);
        FUZZ_CHECK(fuzz_terminated(r.detail, sizeof(r.detail)));
        FUZZ_CHECK(out.len <= FUZZ_FILES_BUF_MAX);
        if (rc < 0) {
            FUZZ_CHECK(rc == -ENOENT || rc == -EDQUOT || rc == -EEXIST || rc == -EINVAL ||
                       rc == -EIO);
            FUZZ_CHECK(r.detail[0] != '\0');
            FUZZ_CHECK(r.listing == NULL);
        } else {
            FUZZ_CHECK(rc == 0);
            FUZZ_CHECK(op != SESSION_FILE_NONE);
            FUZZ_CHECK((r.listing != NULL) == (op == SESSION_FILE_LIST));
            if (op == SESSION_FILE_READ) {
                FUZZ_CHECK(r.size >= 0 && r.size <= FUZZ_FILES_MAX_SIZE);
                FUZZ_CHECK(r.chunk == out.len - before);
            } else {
                FUZZ_CHECK(out.len == before);
            }
            if (r.listing != NULL)
                check_listing(r.listing);
        }
    }
    files_reply_cleanup(&r);
    FUZZ_CHECK(r.listing == NULL);
    buf_cleanup(&out);
    json_object_put(content);
    free(text);
    return 0;
}
