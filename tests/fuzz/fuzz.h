/* Shared by the libFuzzer drivers: a check that stays on in release builds, and a helper that
 * copies fuzz bytes into an exactly sized, NUL-terminated heap string (so that AddressSanitizer
 * sees any read past its end). */
#ifndef KERNELBOX_FUZZ_H
#define KERNELBOX_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* assert() is compiled out with NDEBUG (RelWithDebInfo); a broken property must still crash. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The HMAC key fuzz_wire verifies with, and wire_seeds signs its seed messages with. */
#define FUZZ_WIRE_KEY "kernelbox-fuzz-key-0123456789abc"

/* fuzz_wire's frame separator: a byte that never occurs in UTF-8 text. */
#define FUZZ_WIRE_SEP 0xFF

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A new string holding data[0..size) and a NUL; aborts when out of memory. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    FUZZ_CHECK(s != NULL);
    if (size > 0)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* True when the detail buffer holds a NUL-terminated message within its size. */
static inline int fuzz_terminated(const char *buf, size_t size)
{
    return memchr(buf, '\0', size) != NULL;
}

#endif
