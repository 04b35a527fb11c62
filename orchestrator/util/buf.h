/* Growable byte buffer with a hard cap: a peer can never make it larger than its limit. */
#ifndef KERNELBOX_UTIL_BUF_H
#define KERNELBOX_UTIL_BUF_H

#include <stddef.h>

struct buf {
    char *data; /* always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    size_t max; /* hard limit on len */
};

/* Prepare an empty buffer that will refuse to grow past max bytes. */
void buf_init(struct buf *b, size_t max);

/* Free the storage; the buffer is empty and reusable afterwards. */
void buf_cleanup(struct buf *b);

/* Append len bytes. Returns 0, -ENOSPC when the cap would be passed (nothing is appended),
 * or -ENOMEM. */
int buf_append(struct buf *b, const void *data, size_t len);

/* Append a NUL-terminated string; same returns as buf_append(). */
int buf_append_str(struct buf *b, const char *s);

/* Hand the storage to the caller (who frees it with free()) and leave b empty. Returns an
 * empty, heap-allocated string when nothing was appended, or NULL on allocation failure. */
char *buf_steal(struct buf *b, size_t *len);

#endif
