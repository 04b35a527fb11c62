/* The daemon's secret: a random 256-bit value in a 0600 file, from which every kernel's HMAC
 * key is derived, so that a restarted daemon can talk to kernels it did not start. */
#ifndef KERNELBOX_SECRET_H
#define KERNELBOX_SECRET_H

#include <stddef.h>
#include <stdint.h>

#define SECRET_LEN 32
#define SECRET_KEY_HEX 64 /* hex digits of a derived kernel key */

struct secret {
    uint8_t bytes[SECRET_LEN];
};

/* Read the secret from path, or create it (mode 0600, O_EXCL) when missing. A file that is
 * not a regular file of exactly SECRET_LEN bytes, or that group or others can read, is
 * refused. Returns 0 or a negative errno with err filled. */
int secret_load(struct secret *s, const char *path, char *err, size_t errlen);

/* Derive the key of a kernel's start number generation: 64 lowercase hex digits of
 * HMAC-SHA256(secret, "kernelbox kernel key v1|" kernel_id "|" generation) and a NUL. */
void secret_kernel_key(const struct secret *s, const char *kernel_id, unsigned long generation,
                       char out[SECRET_KEY_HEX + 1]);

/* Wipe the secret. */
void secret_cleanup(struct secret *s);

#endif
