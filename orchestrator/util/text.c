/* Small text helpers: UTF-8 counting and cutting, hex, random identifiers, clocks. */
#include "text.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

size_t utf8_seq(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        if (avail >= 2 && (s[1] & 0xC0) == 0x80)
            return 2;
        return 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (avail < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0 && s[1] < 0xA0)
            return 0; /* overlong */
        if (c == 0xED && s[1] >= 0xA0)
            return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (avail < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
            (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90)
            return 0; /* overlong */
        if (c == 0xF4 && s[1] >= 0x90)
            return 0; /* above U+10FFFF */
        return 4;
    }
    return 0;
}

size_t utf8_count(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, n = 0, step;

    while (i < len) {
        step = utf8_seq(p + i, len - i);
        i += step ? step : 1;
        n++;
    }
    return n;
}

size_t utf8_prefix(const char *s, size_t len, size_t max_chars)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, n = 0, step;

    while (i < len && n < max_chars) {
        step = utf8_seq(p + i, len - i);
        i += step ? step : 1;
        n++;
    }
    return i;
}

bool utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, step;

    while (i < len) {
        uint64_t word;

        /* Most text is ASCII: take it eight bytes at a time. */
        if (len - i >= sizeof(word)) {
            memcpy(&word, p + i, sizeof(word));
            if ((word & UINT64_C(0x8080808080808080)) == 0) {
                i += sizeof(word);
                continue;
            }
        }
        step = utf8_seq(p + i, len - i);
        if (step == 0)
            return false;
        i += step;
    }
    return true;
}

void hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0F];
    }
    out[2 * len] = '\0';
}

int random_bytes(void *buf, size_t len)
{
    unsigned char *p = buf;
    ssize_t got;

    while (len > 0) {
        got = getrandom(p, len, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += got;
        len -= (size_t)got;
    }
    return 0;
}

int random_hex(char *out, size_t len)
{
    uint8_t raw[64];
    size_t bytes = (len + 1) / 2;
    char hex[129];
    int rc;

    if (bytes > sizeof(raw))
        return -EINVAL;
    rc = random_bytes(raw, bytes);
    if (rc < 0)
        return rc;
    hex_encode(raw, bytes, hex);
    /* hex_encode() wrote 2 * bytes >= len digits; the analyzer cannot follow the rounding. */
    for (size_t i = 0; i < len; i++)
        out[i] = hex[i]; /* NOLINT(clang-analyzer-core.uninitialized.Assign) */
    out[len] = '\0';
    return 0;
}

/* Random bytes for identifiers, drawn from the kernel 256 at a time per thread. */
#define ID_POOL_BYTES 256
static __thread uint8_t id_pool[ID_POOL_BYTES];
static __thread size_t id_pool_left;

int random_id_hex(char *out, size_t len)
{
    size_t bytes = (len + 1) / 2;
    char hex[3];
    int rc;

    if (bytes > ID_POOL_BYTES)
        return -EINVAL;
    if (id_pool_left < bytes) {
        rc = random_bytes(id_pool, sizeof(id_pool));
        if (rc < 0)
            return rc;
        id_pool_left = sizeof(id_pool);
    }
    for (size_t i = 0; i < len; i += 2) {
        uint8_t *b = &id_pool[ID_POOL_BYTES - id_pool_left];

        hex_encode(b, 1, hex);
        *b = 0; /* a byte is used once */
        id_pool_left--;
        out[i] = hex[0];
        if (i + 1 < len)
            out[i + 1] = hex[1];
    }
    out[len] = '\0';
    return 0;
}

uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

double wall_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void wall_iso8601(double t, char out[40])
{
    /* The date and time of day, formatted once per second per thread: every request to a
     * kernel carries a date, and gmtime_r() and a formatted print cost more than the rest. */
    static __thread time_t cached_secs = -1;
    static __thread char cached[32];
    static __thread size_t cached_len;
    struct tm tm;
    time_t secs;
    long micros;
    char *p;

    /* t may come from a kernel: keep it where a time_t and a four-digit year can hold it. */
    if (!(t >= 0.0))
        t = 0.0; /* negative, or NaN */
    if (t > WALL_ISO8601_MAX)
        t = WALL_ISO8601_MAX;
    secs = (time_t)t;
    micros = (long)((t - (double)secs) * 1e6);
    if (micros < 0)
        micros = 0;
    if (micros > 999999)
        micros = 999999;
    if (secs != cached_secs) {
        char tmp[96];
        int n;

        if (gmtime_r(&secs, &tm) == NULL)
            memset(&tm, 0, sizeof(tm));
        n = snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        if (n < 0 || (size_t)n >= sizeof(cached))
            n = 0; /* cannot happen within WALL_ISO8601_MAX */
        memcpy(cached, tmp, (size_t)n);
        cached_len = (size_t)n;
        cached_secs = secs;
    }
    memcpy(out, cached, cached_len);
    p = out + cached_len;
    *p++ = '.';
    for (int i = 5; i >= 0; i--) {
        p[i] = (char)('0' + micros % 10);
        micros /= 10;
    }
    memcpy(p + 6, "+00:00", 7);
}
