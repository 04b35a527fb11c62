/* Small text helpers: UTF-8 counting and cutting, hex, random identifiers, clocks. */
#ifndef KERNELBOX_UTIL_TEXT_H
#define KERNELBOX_UTIL_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Number of code points in s[0..len), counting each invalid byte as one. */
size_t utf8_count(const char *s, size_t len);

/* Byte length of the longest prefix of s[0..len) that holds at most max_chars code points
 * and does not split a multi-byte sequence. */
size_t utf8_prefix(const char *s, size_t len, size_t max_chars);

/* Length of the well-formed UTF-8 sequence at s (at most avail >= 1 bytes), or 0 when the
 * bytes there are not one. */
size_t utf8_seq(const unsigned char *s, size_t avail);

/* True when s[0..len) is well-formed UTF-8 (no overlongs, surrogates or values > U+10FFFF). */
bool utf8_valid(const char *s, size_t len);

/* Write 2*len lowercase hex digits and a NUL into out (which holds 2*len+1 bytes). */
void hex_encode(const uint8_t *in, size_t len, char *out);

/* Fill buf with len bytes from the kernel's CSPRNG. Returns 0 or a negative errno. */
int random_bytes(void *buf, size_t len);

/* Write len random lowercase hex digits and a NUL into out. Returns 0 or a negative errno. */
int random_hex(char *out, size_t len);

/* Like random_hex(), from a per-thread pool refilled from the kernel's CSPRNG 256 bytes at a
 * time: for identifiers made once per request that are not secrets (never for keys). */
int random_id_hex(char *out, size_t len);

/* Milliseconds on the monotonic clock. */
uint64_t now_ms(void);

/* Microseconds on the monotonic clock. */
uint64_t now_us(void);

/* Seconds since the epoch on the wall clock, with microseconds. */
double wall_now(void);

/* Format an epoch time as ISO 8601 UTC with microseconds and "+00:00" into out[40]. */
/* The last second of the year 9999: later (or negative, or NaN) times are clamped. */
#define WALL_ISO8601_MAX 253402300799.0
void wall_iso8601(double t, char out[40]);

#endif
