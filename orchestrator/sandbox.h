/* The daemon's own confinement: after start-up, a libseccomp allow-list on every thread, with
 * no-new-privileges, so that a compromised kernelboxd can neither run a program nor trace,
 * mount or unshare anything. */
#ifndef KERNELBOX_SANDBOX_H
#define KERNELBOX_SANDBOX_H

#include <stddef.h>

/* Install the filter on all threads of the process (synchronised). Call once, when every
 * thread the daemon needs exists. Returns 0 or a negative errno with err filled. */
int sandbox_enter(char *err, size_t errlen);

#endif
