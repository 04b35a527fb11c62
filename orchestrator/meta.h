/* What a restarted daemon needs to re-adopt a session beyond what Docker knows: one small
 * JSON file per session in the runtime directory (root only, written atomically). */
#ifndef KERNELBOX_META_H
#define KERNELBOX_META_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#define META_ID_LEN 32
#define META_SHORT_LEN 12
#define META_NAME_MAX 64

struct meta {
    char kernel_id[META_ID_LEN + 1];
    char short_id[META_SHORT_LEN + 1];
    char name[META_NAME_MAX + 1];         /* "" when none */
    char session_name[META_NAME_MAX + 1]; /* "" when none */
    json_object *tags;                    /* owned; an object of strings */
    double created_at;
    long attempt_count;
    long restarts;
    unsigned long generation; /* which derived key the running kernel holds */
    bool pooled;              /* a warm kernel that belongs to no session yet */
    char tenant[META_NAME_MAX + 1]; /* whose session; "" when pooled */
    /* the session's own settings, so a re-created container is the same */
    long long memory;
    double cpus;
    long pids;
    long long tmpfs;
    json_object *env;   /* owned; object of strings, or NULL */
    char *startup_code; /* owned, or NULL */
    bool egress;
};

/* Write m to "<dir>/<short_id>.json" (mode 0600) by renaming a temporary file over it.
 * Returns 0 or a negative errno. */
int meta_write(const char *dir, const struct meta *m);

/* Read and validate the file of short_id. Returns 0 (m filled; free with meta_cleanup()),
 * -ENOENT, or -EBADMSG when the file is malformed. */
int meta_read(const char *dir, const char *short_id, struct meta *m);

/* Remove the file of short_id; a missing file is not an error. */
int meta_remove(const char *dir, const char *short_id);

/* True when name is "<12 hex digits>.json", the name of a metadata file. */
bool meta_is_file_name(const char *name);

void meta_cleanup(struct meta *m);

#endif
