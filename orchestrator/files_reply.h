/* The kernel's answer to a file operation, checked. The answer comes from inside the sandbox,
 * where the session's code may have replaced the file helper or the kernel's messaging, so
 * nothing in it is trusted: every field is type-checked and bounded. Pure (no session, no
 * I/O) and fuzzed. */
#ifndef KERNELBOX_FILES_REPLY_H
#define KERNELBOX_FILES_REPLY_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "session.h"
#include "util/buf.h"

#define FILES_CHUNK (4u << 20) /* raw bytes per message, either way */
#define FILES_REPLY_DEPTH 8
#define FILES_LIST_MAX 10000 /* entries in one listing */
#define FILES_DETAIL_MAX 256

struct files_reply {
    int error;                      /* 0, -ENOENT, -EDQUOT, -EEXIST, -EINVAL or -EIO */
    char detail[FILES_DETAIL_MAX];  /* why, when error != 0 */
    int64_t size;                   /* read: the whole file's size */
    size_t chunk;                   /* read: bytes this answer appended to out */
    json_object *listing;           /* list: {"path", "entries", "truncated"}, owned */
};

/* Check the content of the execute_reply to a file request (its user expression "kb") for
 * op on path. A read appends the chunk's bytes to out, refusing a file larger than max_size.
 * Returns r->error; r->listing is set for a list that succeeded. */
int files_reply_parse(json_object *content, enum session_file_op op, const char *path,
                      uint64_t max_size, struct buf *out, struct files_reply *r);

/* Free what r holds. */
void files_reply_cleanup(struct files_reply *r);

#endif
