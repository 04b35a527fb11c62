/* A strict JSON scanner over memory: checks one JSON text (RFC 8259 grammar, well-formed
 * UTF-8, a depth cap) and finds the members of an object by name, without building anything
 * and without allocating. For the texts kernelboxd reads a few fields of and would otherwise
 * turn whole into json-c objects (the headers of every kernel message). */
#ifndef KERNELBOX_UTIL_JSCAN_H
#define KERNELBOX_UTIL_JSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum jscan_type {
    JSCAN_NONE = 0, /* no such member */
    JSCAN_OBJECT,
    JSCAN_ARRAY,
    JSCAN_STRING,
    JSCAN_NUMBER,
    JSCAN_TRUE,
    JSCAN_FALSE,
    JSCAN_NULL,
};

/* A value as written in the text: for a string, text starts at its opening quote. */
struct jscan_value {
    enum jscan_type type;
    const char *text;
    size_t len;
};

/* True when text[0..len) is exactly one JSON value (whitespace around it allowed) with
 * containers nested at most depth deep and every string well-formed UTF-8. */
bool jscan_valid(const char *text, size_t len, int depth);

/* Check text as jscan_valid() does and, when it is an object, set out[i] to the value of its
 * member named names[i] (the last one when a name repeats; type JSCAN_NONE when there is
 * none). Names are compared after unescaping. Returns 0; -EBADMSG when the text is not valid
 * JSON; -EINVAL when it is valid but not an object. */
int jscan_members(const char *text, size_t len, int depth, const char *const *names, size_t n,
                  struct jscan_value *out);

/* jscan_members(), and *count set to the number of members the object has (a repeated name
 * counted each time): with it a caller can tell that nothing but the names it asked for is
 * there. */
int jscan_members_counted(const char *text, size_t len, int depth, const char *const *names,
                          size_t n, struct jscan_value *out, size_t *count);

/* Check text as jscan_valid() does and, when it is an array, set out[0..max) to its first
 * elements. Returns the number of elements (which may be more than max); -EBADMSG when the
 * text is not valid JSON; -EINVAL when it is valid but not an array. */
ssize_t jscan_elements(const char *text, size_t len, int depth, struct jscan_value *out,
                       size_t max);

/* A JSCAN_NUMBER value written as an integer (no fraction, no exponent) that fits in 64 bits.
 * Returns 0 and sets *out; -EINVAL otherwise. */
int jscan_int(const struct jscan_value *v, long long *out);

/* Unescape a JSCAN_STRING value into out with a NUL after it. A \u escape of a lone surrogate
 * becomes U+FFFD. Returns the length (the text may hold NUL bytes of its own, from \u0000);
 * -EINVAL when v is not a string; -ENOSPC when it needs more than outlen - 1 bytes. */
ssize_t jscan_string(const struct jscan_value *v, char *out, size_t outlen);

/* jscan_string() into a new allocation: *len bytes and a NUL (the text may hold NULs of its
 * own). NULL when v is not a string or memory runs out. */
char *jscan_string_dup(const struct jscan_value *v, size_t *len);

#endif
