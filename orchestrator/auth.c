/* API keys, kept as SHA-256 hashes and compared in constant time, and the keys file parser
 * (pure, fuzzed). */
/* hash_key() uses OpenSSL's direct SHA-256 functions, deprecated in 3.0: see there. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "auth.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "request.h"
#include "util/buf.h"
#include "util/text.h"

#define AUTH_LINE_MAX 4096
#define AUTH_QUOTA_COUNT_MAX 100000
#define AUTH_QUOTA_RATE_MAX 1e6

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* SHA-256 of a key. OpenSSL 3.0's one-shot SHA256() looks the algorithm up in its provider
 * store and allocates a context on every call, ten times the cost of the hashing itself, and
 * every request pays it; the direct functions do not. */
static void hash_key(const char *key, size_t len, unsigned char out[SHA256_DIGEST_LENGTH])
{
    SHA256_CTX ctx;

    SHA256_Init(&ctx);
    SHA256_Update(&ctx, key, len);
    SHA256_Final(out, &ctx);
    OPENSSL_cleanse(&ctx, sizeof(ctx));
}

void auth_hash_hex(const char *key, size_t len, char out[65])
{
    unsigned char hash[SHA256_DIGEST_LENGTH];

    hash_key(key, len, hash);
    hex_encode(hash, sizeof(hash), out);
    OPENSSL_cleanse(hash, sizeof(hash));
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static bool parse_hash(const char *s, size_t len, unsigned char out[32])
{
    if (len != 64)
        return false;
    for (size_t i = 0; i < 32; i++) {
        int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

/* The most words a line may have: "<tenant> quota" and each of the 8 limits once. */
#define AUTH_LINE_WORDS 10

/* Split a line into at most max whitespace-separated words (in place). */
static int split_words(char *line, char **words, int max)
{
    int n = 0;
    char *p = line;

    while (*p != '\0') {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        if (n == max)
            return -1;
        words[n++] = p;
        while (*p != '\0' && *p != ' ' && *p != '\t')
            p++;
        if (*p != '\0')
            *p++ = '\0';
    }
    return n;
}

static int parse_count(const char *s, long *out)
{
    char *end = NULL;
    long v;

    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0 || v > AUTH_QUOTA_COUNT_MAX)
        return -1;
    *out = v;
    return 0;
}

static int parse_rate(const char *s, double *out)
{
    char *end = NULL;
    double v;

    if (!isdigit((unsigned char)*s) || strpbrk(s, "xXpPeE") != NULL)
        return -1;
    v = strtod(s, &end);
    if (*end != '\0' || !isfinite(v) || v <= 0 || v > AUTH_QUOTA_RATE_MAX)
        return -1;
    *out = v;
    return 0;
}

static int parse_quota(char **words, int n, struct auth_quota *q, char *err, size_t errlen,
                       size_t lineno)
{
    q->sessions = -1;
    q->executions = -1;
    q->rate = -1;
    q->burst = -1;
    q->max_memory = -1;
    q->max_cpus = -1;
    q->max_pids = -1;
    q->max_tmpfs = -1;
    if (n == 2)
        return fail(err, errlen, "line %zu: a quota line needs at least one limit", lineno);
    for (int i = 2; i < n; i++) {
        char *eq = strchr(words[i], '=');
        const char *value;

        if (eq == NULL)
            return fail(err, errlen, "line %zu: expected name=value, got '%.64s'", lineno,
                        words[i]);
        *eq = '\0';
        value = eq + 1;
        if (strcmp(words[i], "sessions") == 0 && q->sessions < 0) {
            if (parse_count(value, &q->sessions) < 0)
                return fail(err, errlen, "line %zu: sessions must be an integer from 0 to %d",
                            lineno, AUTH_QUOTA_COUNT_MAX);
        } else if (strcmp(words[i], "executions") == 0 && q->executions < 0) {
            if (parse_count(value, &q->executions) < 0)
                return fail(err, errlen, "line %zu: executions must be an integer from 0 to %d",
                            lineno, AUTH_QUOTA_COUNT_MAX);
        } else if (strcmp(words[i], "rate") == 0 && q->rate < 0) {
            if (parse_rate(value, &q->rate) < 0)
                return fail(err, errlen, "line %zu: rate must be a positive number of requests "
                            "per second", lineno);
        } else if (strcmp(words[i], "burst") == 0 && q->burst < 0) {
            if (parse_rate(value, &q->burst) < 0 || q->burst < 1)
                return fail(err, errlen, "line %zu: burst must be a number of requests >= 1",
                            lineno);
        } else if (strcmp(words[i], "memory") == 0 && q->max_memory < 0) {
            if (config_parse_size(value, &q->max_memory) < 0 || q->max_memory < (32LL << 20))
                return fail(err, errlen, "line %zu: memory must be a size of at least 32MiB",
                            lineno);
        } else if (strcmp(words[i], "tmpfs") == 0 && q->max_tmpfs < 0) {
            if (config_parse_size(value, &q->max_tmpfs) < 0 || q->max_tmpfs < (1LL << 20))
                return fail(err, errlen, "line %zu: tmpfs must be a size of at least 1MiB",
                            lineno);
        } else if (strcmp(words[i], "cpus") == 0 && q->max_cpus < 0) {
            if (parse_rate(value, &q->max_cpus) < 0 || q->max_cpus > 256)
                return fail(err, errlen, "line %zu: cpus must be a number up to 256", lineno);
        } else if (strcmp(words[i], "pids") == 0 && q->max_pids < 0) {
            if (parse_count(value, &q->max_pids) < 0 || q->max_pids < 16)
                return fail(err, errlen, "line %zu: pids must be an integer from 16", lineno);
        } else {
            return fail(err, errlen, "line %zu: unknown or repeated limit '%.32s' (sessions, "
                        "executions, rate, burst, memory, cpus, pids, tmpfs)", lineno, words[i]);
        }
    }
    return 0;
}

int auth_parse_keys(const char *text, size_t len, struct auth *out, char *err, size_t errlen)
{
    size_t pos = 0, lineno = 0;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (len > AUTH_FILE_MAX)
        return fail(err, errlen, "larger than %u bytes", AUTH_FILE_MAX);
    if (!utf8_valid(text, len))
        return fail(err, errlen, "not valid UTF-8");
    while (pos < len && rc == 0) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        char line[AUTH_LINE_MAX], *words[AUTH_LINE_WORDS], *hash_comment;
        int nw;

        lineno++;
        if (n >= sizeof(line)) {
            rc = fail(err, errlen, "line %zu: longer than %d bytes", lineno, AUTH_LINE_MAX - 1);
            break;
        }
        memcpy(line, text + pos, n);
        line[n] = '\0';
        pos += n + (nl ? 1 : 0);
        if (n > 0 && line[n - 1] == '\r')
            line[--n] = '\0';
        if (memchr(line, '\0', n) != NULL) {
            rc = fail(err, errlen, "line %zu: holds a NUL byte", lineno);
            break;
        }
        hash_comment = strchr(line, '#');
        if (hash_comment != NULL)
            *hash_comment = '\0';
        nw = split_words(line, words, AUTH_LINE_WORDS);
        if (nw == 0)
            continue;
        if (nw < 0) {
            rc = fail(err, errlen, "line %zu: more than %d words (a quota line names each of "
                      "the 8 limits at most once)", lineno, AUTH_LINE_WORDS);
            break;
        }
        if (nw < 2) {
            rc = fail(err, errlen, "line %zu: expected '<tenant> <sha256 hex>' or '<tenant> "
                      "quota ...'", lineno);
            break;
        }
        if (!request_name_valid(words[0], strlen(words[0]))) {
            rc = fail(err, errlen, "line %zu: tenant must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}",
                      lineno);
            break;
        }
        if (strcmp(words[1], "quota") == 0) {
            struct auth_tenant_quota *q;

            for (size_t i = 0; i < out->nquotas; i++) {
                if (strcmp(out->quotas[i].tenant, words[0]) == 0) {
                    rc = fail(err, errlen, "line %zu: a second quota line for tenant '%s'",
                              lineno, words[0]);
                    break;
                }
            }
            if (rc < 0)
                break;
            if (out->nquotas >= AUTH_MAX_ENTRIES) {
                rc = fail(err, errlen, "line %zu: more than %d quota lines", lineno,
                          AUTH_MAX_ENTRIES);
                break;
            }
            q = realloc(out->quotas, (out->nquotas + 1) * sizeof(*q));
            if (q == NULL) {
                rc = -ENOMEM;
                break;
            }
            out->quotas = q;
            q = &out->quotas[out->nquotas];
            snprintf(q->tenant, sizeof(q->tenant), "%s", words[0]);
            rc = parse_quota(words, nw, &q->quota, err, errlen, lineno);
            if (rc == 0)
                out->nquotas++;
        } else {
            struct auth_entry *e;

            if (nw != 2) {
                rc = fail(err, errlen, "line %zu: a key line is '<tenant> <sha256 hex>' and "
                          "nothing more", lineno);
                break;
            }
            if (out->nentries >= AUTH_MAX_ENTRIES) {
                rc = fail(err, errlen, "line %zu: more than %d keys", lineno, AUTH_MAX_ENTRIES);
                break;
            }
            e = realloc(out->entries, (out->nentries + 1) * sizeof(*e));
            if (e == NULL) {
                rc = -ENOMEM;
                break;
            }
            out->entries = e;
            e = &out->entries[out->nentries];
            snprintf(e->tenant, sizeof(e->tenant), "%s", words[0]);
            if (!parse_hash(words[1], strlen(words[1]), e->hash)) {
                rc = fail(err, errlen, "line %zu: the hash must be 64 lowercase hex digits "
                          "(kernelboxd hash-key prints it)", lineno);
                break;
            }
            for (size_t i = 0; i < out->nentries; i++) {
                if (CRYPTO_memcmp(out->entries[i].hash, e->hash, sizeof(e->hash)) == 0) {
                    rc = fail(err, errlen, "line %zu: this key is already listed (line of "
                              "tenant '%s')", lineno, out->entries[i].tenant);
                    break;
                }
            }
            if (rc == 0)
                out->nentries++;
        }
    }
    if (rc < 0)
        auth_cleanup(out);
    return rc;
}

void auth_cleanup(struct auth *a)
{
    if (a->entries != NULL)
        OPENSSL_cleanse(a->entries, a->nentries * sizeof(*a->entries));
    free(a->entries);
    free(a->quotas);
    memset(a, 0, sizeof(*a));
}

void auth_free(struct auth *a)
{
    if (a == NULL)
        return;
    auth_cleanup(a);
    free(a);
}

static int read_keys_file(const char *path, struct buf *out, char *err, size_t errlen)
{
    struct stat st;
    int fd, rc = 0;

    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return fail(err, errlen, "cannot open %s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, errlen, "%s is not a regular file", path);
    }
    if ((st.st_mode & 044) != 0) {
        close(fd);
        return fail(err, errlen, "%s is readable by group or others (mode %03o); chmod 600 it",
                    path, (unsigned)(st.st_mode & 0777));
    }
    for (;;) {
        char chunk[4096];
        ssize_t n = read(fd, chunk, sizeof(chunk));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = fail(err, errlen, "cannot read %s: %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        if (buf_append(out, chunk, (size_t)n) < 0) {
            rc = fail(err, errlen, "%s is larger than %u bytes", path, AUTH_FILE_MAX);
            break;
        }
    }
    close(fd);
    return rc;
}

struct auth *auth_load(const char *single_key, const char *path, char *err, size_t errlen)
{
    struct auth *a = calloc(1, sizeof(*a));
    char parse_err[256];
    struct buf text;

    if (a == NULL)
        return NULL;
    if (path != NULL && path[0] != '\0') {
        buf_init(&text, AUTH_FILE_MAX);
        if (read_keys_file(path, &text, err, errlen) < 0) {
            buf_cleanup(&text);
            free(a);
            return NULL;
        }
        if (auth_parse_keys(text.data ? text.data : "", text.len, a, parse_err,
                            sizeof(parse_err)) < 0) {
            snprintf(err, errlen, "%s: %s", path, parse_err);
            buf_cleanup(&text);
            free(a);
            return NULL;
        }
        buf_cleanup(&text);
    }
    if (single_key != NULL && single_key[0] != '\0') {
        struct auth_entry *e = realloc(a->entries, (a->nentries + 1) * sizeof(*e));

        if (e == NULL) {
            auth_free(a);
            return NULL;
        }
        a->entries = e;
        e = &a->entries[a->nentries];
        snprintf(e->tenant, sizeof(e->tenant), "%s", AUTH_DEFAULT_TENANT);
        hash_key(single_key, strlen(single_key), e->hash);
        for (size_t i = 0; i < a->nentries; i++) {
            if (CRYPTO_memcmp(a->entries[i].hash, e->hash, sizeof(e->hash)) == 0) {
                snprintf(err, errlen, "KERNELBOX_API_KEY is also in the keys file (tenant '%s')",
                         a->entries[i].tenant);
                auth_free(a);
                return NULL;
            }
        }
        a->nentries++;
    }
    if (a->nentries == 0) {
        snprintf(err, errlen, "no API key: the keys file lists none");
        auth_free(a);
        return NULL;
    }
    return a;
}

const char *auth_check(const struct auth *a, const char *authorization)
{
    unsigned char hash[SHA256_DIGEST_LENGTH];
    const char *key, *tenant = NULL;
    size_t len;

    if (a == NULL || authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
        return NULL;
    key = authorization + 7;
    while (*key == ' ')
        key++;
    len = strlen(key);
    while (len > 0 && key[len - 1] == ' ')
        len--;
    if (len == 0 || len > AUTH_KEY_MAX)
        return NULL;
    /* Hashing first makes each comparison independent of the key's length; every entry is
     * compared, so the time does not depend on which one matches. */
    hash_key(key, len, hash);
    for (size_t i = 0; i < a->nentries; i++) {
        if (CRYPTO_memcmp(hash, a->entries[i].hash, sizeof(hash)) == 0 && tenant == NULL)
            tenant = a->entries[i].tenant;
    }
    OPENSSL_cleanse(hash, sizeof(hash));
    return tenant;
}

bool auth_quota_of(const struct auth *a, const char *tenant, struct auth_quota *out)
{
    for (size_t i = 0; a != NULL && i < a->nquotas; i++) {
        if (strcmp(a->quotas[i].tenant, tenant) == 0) {
            *out = a->quotas[i].quota;
            return true;
        }
    }
    return false;
}

int auth_generate_key(char *out, size_t outlen)
{
    if (outlen < AUTH_GENERATED_KEY_LEN + 1)
        return -ENOSPC;
    return random_hex(out, AUTH_GENERATED_KEY_LEN);
}
