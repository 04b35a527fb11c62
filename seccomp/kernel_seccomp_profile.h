/* kernel_seccomp_profile.h: the seccomp profile of the kernel containers, as the exact bytes
 * of seccomp/kernel.json, generated at build time from seccomp/kernel.policy. */
#ifndef KERNELBOX_KERNEL_SECCOMP_PROFILE_H
#define KERNELBOX_KERNEL_SECCOMP_PROFILE_H

/* The Docker/OCI JSON profile, NUL-terminated. */
extern const char kernel_seccomp_profile_json[];

/* strlen(kernel_seccomp_profile_json). */
extern const unsigned long kernel_seccomp_profile_json_len;

#endif
