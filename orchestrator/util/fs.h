/* File system helpers that never follow a symlink planted by someone else. */
#ifndef KERNELBOX_UTIL_FS_H
#define KERNELBOX_UTIL_FS_H

#include <stddef.h>
#include <sys/types.h>

/* Remove path and everything below it without following symlinks. A missing path is not an
 * error. Returns 0 or a negative errno. */
int fs_remove_tree(const char *path);

/* Create (O_EXCL, no symlink following) a file holding len bytes with the given mode and
 * group (gid -1: keep). Returns 0 or a negative errno; a partial file is removed. */
int fs_write_new(const char *path, const void *data, size_t len, mode_t mode, gid_t gid);

/* Make dir if missing, then set its mode and group. Returns 0 or a negative errno. */
int fs_make_dir(const char *path, mode_t mode, gid_t gid);

#endif
