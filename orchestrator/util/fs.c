/* File system helpers that never follow a symlink planted by someone else. */
#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FS_MAX_DEPTH 16

/* Empty the directory open at fd (which this function closes). */
static int empty_dir(int fd, int depth)
{
    DIR *dir;
    struct dirent *ent;
    int rc = 0;

    if (depth > FS_MAX_DEPTH) {
        close(fd);
        return -ELOOP;
    }
    dir = fdopendir(fd);
    if (dir == NULL) {
        rc = -errno;
        close(fd);
        return rc;
    }
    while ((ent = readdir(dir)) != NULL) {
        const char *name = ent->d_name;

        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        if (unlinkat(dirfd(dir), name, 0) == 0)
            continue;
        if (errno == EISDIR || errno == EPERM) {
            int sub = openat(dirfd(dir), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

            if (sub < 0) {
                rc = -errno;
                continue;
            }
            /* A directory someone made unreadable still has to go. */
            fchmod(sub, 0700);
            if (empty_dir(sub, depth + 1) == 0 && unlinkat(dirfd(dir), name, AT_REMOVEDIR) == 0)
                continue;
        }
        if (errno != ENOENT)
            rc = -errno;
    }
    closedir(dir);
    return rc;
}

int fs_remove_tree(const char *path)
{
    struct stat st;
    int fd, rc;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlink(path) == 0 || errno == ENOENT ? 0 : -errno;
    chmod(path, 0700);
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    rc = empty_dir(fd, 0);
    if (rmdir(path) < 0 && errno != ENOENT)
        return rc < 0 ? rc : -errno;
    return 0;
}

int fs_write_new(const char *path, const void *data, size_t len, mode_t mode, gid_t gid)
{
    const char *p = data;
    int fd, rc = 0;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if (gid != (gid_t)-1 && fchown(fd, (uid_t)-1, gid) < 0)
        rc = -errno;
    if (rc == 0 && fchmod(fd, mode) < 0)
        rc = -errno;
    while (rc == 0 && len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        p += n;
        len -= (size_t)n;
    }
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc < 0)
        unlink(path);
    return rc;
}

int fs_make_dir(const char *path, mode_t mode, gid_t gid)
{
    struct stat st;

    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return -errno;
    if (lstat(path, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    if (gid != (gid_t)-1 && st.st_gid != gid && chown(path, (uid_t)-1, gid) < 0)
        return -errno;
    if (chmod(path, mode) < 0)
        return -errno;
    return 0;
}
