/* Writing JSON text into a buf: strings escaped as they are copied, JSON already checked
 * (a kernel's mime bundle, say) spliced in as it is. A failed append sticks: the writer then
 * ignores everything until its owner looks at err. */
#ifndef KERNELBOX_UTIL_JWRITE_H
#define KERNELBOX_UTIL_JWRITE_H

#include <stddef.h>
#include <string.h>

#include "buf.h"

struct jwrite {
    struct buf *out;
    int err; /* 0, or the first error of buf_append() */
};

/* Bytes as they are: punctuation, keys written by hand, or JSON text known to be valid. */
void jw_raw(struct jwrite *w, const char *s, size_t len);

/* A NUL-terminated literal, as jw_raw() (inline: a literal's length is known when built). */
static inline void jw_lit(struct jwrite *w, const char *s)
{
    jw_raw(w, s, strlen(s));
}

/* len bytes of UTF-8 as a JSON string, quotes included: '"', '\\' and control characters are
 * escaped (as json-c writes them); everything else, multi-byte characters too, is copied. */
void jw_string(struct jwrite *w, const char *s, size_t len);

/* The same, without the quotes, for a string written in pieces. */
void jw_string_chars(struct jwrite *w, const char *s, size_t len);

/* A decimal integer. */
void jw_int(struct jwrite *w, long long v);

#endif
