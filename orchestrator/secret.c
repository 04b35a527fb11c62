/* The daemon's secret and the kernel keys derived from it. */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/text.h"

static int read_exact(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -EIO;
        got += (size_t)n;
    }
    return 0;
}

static int create(struct secret *s, const char *path, char *err, size_t errlen)
{
    int fd, rc;

    rc = random_bytes(s->bytes, sizeof(s->bytes));
    if (rc < 0) {
        snprintf(err, errlen, "cannot draw random bytes: %s", strerror(-rc));
        return rc;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return rc;
    }
    if (write(fd, s->bytes, sizeof(s->bytes)) != (ssize_t)sizeof(s->bytes) || fsync(fd) < 0) {
        rc = -EIO;
        snprintf(err, errlen, "cannot write %s", path);
        close(fd);
        unlink(path);
        return rc;
    }
    close(fd);
    return 0;
}

int secret_load(struct secret *s, const char *path, char *err, size_t errlen)
{
    struct stat st;
    int fd, rc;

    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return create(s, path, err, errlen);
        rc = -errno;
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return rc;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != SECRET_LEN) {
        snprintf(err, errlen, "%s is not a %d-byte regular file", path, SECRET_LEN);
        close(fd);
        return -EINVAL;
    }
    if ((st.st_mode & 077) != 0 || st.st_uid != geteuid()) {
        snprintf(err, errlen, "%s must belong to this user and be mode 0600", path);
        close(fd);
        return -EPERM;
    }
    rc = read_exact(fd, s->bytes, sizeof(s->bytes));
    close(fd);
    if (rc < 0)
        snprintf(err, errlen, "cannot read %s", path);
    return rc;
}

void secret_kernel_key(const struct secret *s, const char *kernel_id, unsigned long generation,
                       char out[SECRET_KEY_HEX + 1])
{
    unsigned char mac[32];
    unsigned int maclen = sizeof(mac);
    char label[160];
    int n;

    n = snprintf(label, sizeof(label), "kernelbox kernel key v1|%s|%lu", kernel_id, generation);
    HMAC(EVP_sha256(), s->bytes, SECRET_LEN, (const unsigned char *)label, (size_t)n, mac,
         &maclen);
    hex_encode(mac, sizeof(mac), out);
    OPENSSL_cleanse(mac, sizeof(mac));
}

void secret_cleanup(struct secret *s)
{
    OPENSSL_cleanse(s->bytes, sizeof(s->bytes));
}
