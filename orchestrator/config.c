/* kernelboxd's settings: one table of options, each with its environment variable, its flag,
 * its default and its bounds. Everything is checked before the daemon starts serving. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum opt_type {
    OPT_LISTEN,
    OPT_SECRET,
    OPT_STRING,
    OPT_TEXT,
    OPT_ABS_PATH,
    OPT_SECONDS,
    OPT_INT,
    OPT_SIZE,
    OPT_FLOAT,
    OPT_LEVEL,
    OPT_CHOICE,
    OPT_ORIGINS,
    OPT_NAME,
};

struct option_def {
    const char *env;
    const char *flag; /* NULL: environment only (secrets never go on a command line) */
    enum opt_type type;
    const char *def; /* NULL: no default */
    double min;
    double max;
    size_t offset;
    size_t size; /* of the field, to bound strings and check types */
    const char *help;
};

#define FIELD(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)
#define MIB (1024.0 * 1024.0)

static const struct option_def options[] = {
    {"KERNELBOX_LISTEN", "--listen", OPT_LISTEN, "127.0.0.1:8080", 0, 0, FIELD(listen),
     "address and port to serve HTTP on (host:port or [v6]:port)"},
    {"KERNELBOX_API_KEY", NULL, OPT_SECRET, NULL, CONFIG_API_KEY_MIN, CONFIG_API_KEY_MAX,
     FIELD(api_key), "the bearer key clients must send; generated and printed once if unset"},
    {"KERNELBOX_DOCKER_SOCKET", "--docker-socket", OPT_ABS_PATH, "/var/run/docker.sock", 0, 0,
     FIELD(docker_socket), "Unix socket of the Docker Engine API"},
    {"KERNELBOX_IMAGE", "--image", OPT_STRING, "kernelbox/kernel:latest", 0, 0, FIELD(image),
     "image every kernel container runs"},
    {"KERNELBOX_RUNTIME_DIR", "--runtime-dir", OPT_ABS_PATH, "/run/kernelbox", 0, 0,
     FIELD(runtime_dir), "directory (ideally a tmpfs) holding one folder of sockets per session"},
    {"KERNELBOX_EXECUTION_TIMEOUT", "--execution-timeout", OPT_SECONDS, "60", 0.1, 86400, FIELD(execution_timeout),
     "seconds an execute may run when the request names no timeout"},
    {"KERNELBOX_OUTPUT_CHAR_LIMIT", "--output-char-limit", OPT_INT, "10000", 100, 10000000,
     FIELD(output_char_limit), "characters kept of stdout, of stderr and of each output item"},
    {"KERNELBOX_MAX_RETRIES", "--max-retries", OPT_INT, "5", 1, 100, FIELD(max_retries),
     "attempts of execute/retry when the request names none"},
    {"KERNELBOX_STARTUP_CODE", "--startup-code", OPT_TEXT, "", 0, 65536, FIELD(startup_code),
     "Python run in every new kernel before it is handed out"},
    {"KERNELBOX_MEMORY_LIMIT", "--memory-limit", OPT_SIZE, "512MiB", 32 * MIB,
     1024.0 * 1024 * MIB, FIELD(memory_limit), "memory limit of each kernel container (no swap)"},
    {"KERNELBOX_CPUS", "--cpus", OPT_FLOAT, "1", 0.01, 256, FIELD(cpus),
     "CPUs each kernel container may use"},
    {"KERNELBOX_PIDS_LIMIT", "--pids-limit", OPT_INT, "256", 16, 65536, FIELD(pids_limit),
     "processes and threads each kernel container may hold"},
    {"KERNELBOX_TMPFS_SIZE", "--tmpfs-size", OPT_SIZE, "256MiB", 1 * MIB, 64 * 1024 * MIB,
     FIELD(tmpfs_size), "size of each writable tmpfs of a kernel container (/home/sandbox and /tmp)"},
    {"KERNELBOX_MAX_BODY", "--max-body", OPT_SIZE, "1MiB", 1024, 64 * MIB, FIELD(max_body),
     "largest HTTP request body accepted"},
    {"KERNELBOX_START_TIMEOUT", "--start-timeout", OPT_SECONDS, "30", 1, 600, FIELD(start_timeout),
     "seconds a new kernel has to answer before its start counts as failed"},
    {"KERNELBOX_INTERRUPT_GRACE", "--interrupt-grace", OPT_SECONDS, "2", 0.1, 60, FIELD(interrupt_grace),
     "seconds a timed-out kernel has to stop after an interrupt before it is restarted"},
    {"KERNELBOX_FILE_TIMEOUT", "--file-timeout", OPT_SECONDS, "60", 1, 3600, FIELD(file_timeout),
     "seconds the kernel has to carry out one step (an 8 MiB chunk) of a file operation"},
    {"KERNELBOX_DOCKER_WORKERS", "--docker-workers", OPT_INT, "4", 1, 64, FIELD(docker_workers),
     "threads that talk to the Docker Engine"},
    {"KERNELBOX_LOG_LEVEL", "--log-level", OPT_LEVEL, "info", 0, 0, FIELD(log_level),
     "debug, info, warn or error"},
    {"KERNELBOX_SECRET_FILE", "--secret-file", OPT_ABS_PATH, NULL, 0, 0, FIELD(secret_file),
     "0600 file with the secret kernel keys derive from (default <runtime dir>/secret)"},
    {"KERNELBOX_SHUTDOWN", "--shutdown", OPT_CHOICE, "keep", 0, 0, FIELD(shutdown_remove),
     "on SIGTERM: keep kernels running for the next start, or remove them (keep|remove)"},
    {"KERNELBOX_SHUTDOWN_GRACE", "--shutdown-grace", OPT_SECONDS, "30", 0, 3600,
     FIELD(shutdown_grace), "seconds running executions may finish after SIGTERM"},
    {"KERNELBOX_KERNEL_IDLE_TIMEOUT", "--kernel-idle-timeout", OPT_SECONDS, "1800", 0, 31536000,
     FIELD(kernel_idle_timeout), "seconds without an execute before a session is removed (0: never)"},
    {"KERNELBOX_MAX_SESSION_AGE", "--max-session-age", OPT_SECONDS, "0", 0, 31536000,
     FIELD(max_session_age), "seconds a session may live at most (0: no limit)"},
    {"KERNELBOX_POOL_SIZE", "--pool-size", OPT_INT, "2", 0, 256, FIELD(pool_size),
     "warm kernels kept started ahead of demand"},
    {"KERNELBOX_API_KEYS_FILE", "--api-keys-file", OPT_ABS_PATH, NULL, 0, 0,
     FIELD(api_keys_file), "file of '<tenant> <sha256 of key>' lines (mode 0600); re-read on SIGHUP"},
    {"KERNELBOX_MAX_SESSIONS", "--max-sessions", OPT_INT, "100", 1, 100000, FIELD(max_sessions),
     "live sessions (warm kernels included) of all tenants together; then 503"},
    {"KERNELBOX_TENANT_MAX_SESSIONS", "--tenant-max-sessions", OPT_INT, "20", 0, 100000,
     FIELD(tenant_max_sessions), "live sessions per tenant, unless its quota line says otherwise"},
    {"KERNELBOX_TENANT_MAX_EXECUTIONS", "--tenant-max-executions", OPT_INT, "20", 0, 100000,
     FIELD(tenant_max_executions), "executions running or queued per tenant"},
    {"KERNELBOX_TENANT_RATE", "--tenant-rate", OPT_FLOAT, "50", 0.01, 1000000,
     FIELD(tenant_rate), "requests per second per tenant, sustained"},
    {"KERNELBOX_TENANT_BURST", "--tenant-burst", OPT_FLOAT, "100", 1, 1000000,
     FIELD(tenant_burst), "requests per tenant allowed at once above the rate"},
    {"KERNELBOX_CORS_ORIGINS", "--cors-origins", OPT_ORIGINS, "", 0, 4096, FIELD(cors_origins),
     "comma-separated exact origins browsers may call from (none: CORS off)"},
    {"KERNELBOX_MAX_CONNECTIONS", "--max-connections", OPT_INT, "1024", 1, 65536,
     FIELD(max_connections), "HTTP connections at once"},
    {"KERNELBOX_MAX_CONNECTIONS_PER_IP", "--max-connections-per-ip", OPT_INT, "64", 1, 65536,
     FIELD(max_connections_per_ip), "HTTP connections at once from one address"},
    {"KERNELBOX_CONNECTION_TIMEOUT", "--connection-timeout", OPT_SECONDS, "30", 1, 3600,
     FIELD(connection_timeout), "seconds a client may take to send its request (and idle)"},
    {"KERNELBOX_RUNTIME", "--runtime", OPT_NAME, "", 0, 0, FIELD(runtime),
     "OCI runtime of the kernels, e.g. runsc (gVisor); must be known to the engine"},
    {"KERNELBOX_MAX_UPLOAD", "--max-upload", OPT_SIZE, "64MiB", 1024, 1024 * MIB,
     FIELD(max_upload), "largest file the files API writes or reads"},
    {"KERNELBOX_ALLOW_EGRESS", "--allow-egress", OPT_INT, "0", 0, 1, FIELD(allow_egress),
     "1: sessions may ask for network \"egress\" (outbound access); 0: none may"},
    {"KERNELBOX_SELF_SECCOMP", "--self-seccomp", OPT_INT, "1", 0, 1, FIELD(self_seccomp),
     "1: confine kernelboxd with its own seccomp allow-list after start-up; 0: do not"},
};

/* The values of OPT_CHOICE options, by index. */
static const char *const shutdown_choices[] = {"keep", "remove", NULL};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

int config_parse_size(const char *s, long long *out)
{
    static const struct {
        const char *suffix;
        long long mult;
    } units[] = {
        {"", 1},         {"b", 1},        {"k", 1LL << 10}, {"kb", 1LL << 10},
        {"kib", 1LL << 10}, {"m", 1LL << 20}, {"mb", 1LL << 20}, {"mib", 1LL << 20},
        {"g", 1LL << 30}, {"gb", 1LL << 30}, {"gib", 1LL << 30}, {"t", 1LL << 40},
        {"tb", 1LL << 40}, {"tib", 1LL << 40},
    };
    unsigned long long value = 0;
    const char *p = s;

    if (!isdigit((unsigned char)*p))
        return -EINVAL;
    while (isdigit((unsigned char)*p)) {
        if (value > (unsigned long long)LLONG_MAX / 10)
            return -EINVAL;
        value = value * 10 + (unsigned long long)(*p - '0');
        p++;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(p, units[i].suffix) != 0)
            continue;
        if (value > (unsigned long long)(LLONG_MAX / units[i].mult))
            return -EINVAL;
        *out = (long long)value * units[i].mult;
        return 0;
    }
    return -EINVAL;
}

static int parse_double(const char *s, double *out)
{
    char *end = NULL;
    double v;

    /* Plain decimal only: no sign, no hex floats, no "inf". */
    if (!isdigit((unsigned char)*s) && !(*s == '.' && isdigit((unsigned char)s[1])))
        return -EINVAL;
    if (strpbrk(s, "xXpP") != NULL)
        return -EINVAL;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v))
        return -EINVAL;
    *out = v;
    return 0;
}

static int parse_long(const char *s, long *out)
{
    char *end = NULL;
    long v;

    /* Plain decimal only: a leading sign or space is refused. */
    if (!isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return -EINVAL;
    *out = v;
    return 0;
}

int config_parse_listen(const char *s, struct sockaddr_storage *addr, socklen_t *len)
{
    char host[64];
    const char *colon, *port_s;
    size_t host_len;
    long port;

    memset(addr, 0, sizeof(*addr));
    if (s[0] == '[') {
        const char *close = strchr(s, ']');

        if (close == NULL || close[1] != ':')
            return -EINVAL;
        host_len = (size_t)(close - s - 1);
        if (host_len == 0 || host_len >= sizeof(host))
            return -EINVAL;
        memcpy(host, s + 1, host_len);
        host[host_len] = '\0';
        port_s = close + 2;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || strchr(s, ':') != colon)
            return -EINVAL;
        host_len = (size_t)(colon - s);
        if (host_len == 0 || host_len >= sizeof(host))
            return -EINVAL;
        memcpy(host, s, host_len);
        host[host_len] = '\0';
        port_s = colon + 1;
    }
    if (parse_long(port_s, &port) < 0 || port < 1 || port > 65535)
        return -EINVAL;
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");

    if (s[0] != '[') {
        struct sockaddr_in *in = (struct sockaddr_in *)addr;

        if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
            return -EINVAL;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        *len = sizeof(*in);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;

        if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
            return -EINVAL;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*in6);
    }
    return 0;
}

int config_check_origins(const char *list, char *err, size_t errlen, const char *name)
{
    const char *p = list;

    while (*p != '\0') {
        const char *end = strchr(p, ','), *host;
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char origin[512];

        if (n == 0 || n >= sizeof(origin))
            return fail(err, errlen, "%s: empty or overlong origin in the list", name);
        memcpy(origin, p, n);
        origin[n] = '\0';
        if (strncmp(origin, "https://", 8) == 0)
            host = origin + 8;
        else if (strncmp(origin, "http://", 7) == 0)
            host = origin + 7;
        else
            return fail(err, errlen, "%s: '%s' must start with http:// or https://", name,
                        origin);
        if (*host == '\0')
            return fail(err, errlen, "%s: '%s' has no host", name, origin);
        for (const char *c = host; *c; c++) {
            if (!isalnum((unsigned char)*c) && strchr(".-:[]", *c) == NULL)
                return fail(err, errlen,
                            "%s: '%s' is not an exact origin (scheme://host[:port], no path, "
                            "no wildcard)",
                            name, origin);
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

static bool image_ref_ok(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s) && strchr("._-/:@", *s) == NULL)
            return false;
    }
    return true;
}

static bool secret_ok(const char *s)
{
    for (; *s; s++) {
        if (*s <= 0x20 || *s >= 0x7F)
            return false;
    }
    return true;
}

/* Apply one textual value to the field the option describes. */
static int apply(struct config *cfg, const struct option_def *o, const char *name,
                 const char *value, char *err, size_t errlen)
{
    char *field = (char *)cfg + o->offset;
    size_t len = strlen(value);
    long long size;
    double d;
    long l;

    switch (o->type) {
    case OPT_LISTEN:
        if (len >= o->size || config_parse_listen(value, &cfg->addr, &cfg->addr_len) < 0)
            return fail(err, errlen, "%s: expected host:port with a numeric host, got '%s'",
                        name, value);
        memcpy(field, value, len + 1);
        return 0;
    case OPT_SECRET:
        if (len == 0) {
            /* Empty counts as unset (docker-compose passes ${VAR:-} this way). */
            free(cfg->api_key);
            cfg->api_key = NULL;
            return 0;
        }
        if (len < (size_t)o->min || len > (size_t)o->max || !secret_ok(value))
            return fail(err, errlen,
                        "%s: must be %d to %d printable characters without spaces", name,
                        (int)o->min, (int)o->max);
        free(cfg->api_key);
        cfg->api_key = strdup(value);
        return cfg->api_key ? 0 : -ENOMEM;
    case OPT_STRING:
        if (len == 0 || len >= o->size || !image_ref_ok(value))
            return fail(err, errlen, "%s: '%s' is not a valid image reference", name, value);
        memcpy(field, value, len + 1);
        return 0;
    case OPT_TEXT: {
        char **slot = (char **)(void *)field;

        if (len > (size_t)o->max)
            return fail(err, errlen, "%s: longer than %d bytes", name, (int)o->max);
        free(*slot);
        *slot = NULL;
        if (len > 0) {
            *slot = strdup(value);
            if (*slot == NULL)
                return -ENOMEM;
        }
        return 0;
    }
    case OPT_ABS_PATH:
        if (value[0] != '/' || len >= o->size || strstr(value, "/../") != NULL ||
            (len >= 3 && strcmp(value + len - 3, "/..") == 0))
            return fail(err, errlen, "%s: expected an absolute path shorter than %zu bytes",
                        name, o->size);
        memcpy(field, value, len + 1);
        /* Trailing slashes would double up when paths are joined. */
        while (len > 1 && field[len - 1] == '/')
            field[--len] = '\0';
        return 0;
    case OPT_SECONDS:
    case OPT_FLOAT:
        if (parse_double(value, &d) < 0 || d < o->min || d > o->max)
            return fail(err, errlen, "%s: expected a number from %g to %g, got '%s'", name,
                        o->min, o->max, value);
        memcpy(field, &d, sizeof(d));
        return 0;
    case OPT_INT:
        if (parse_long(value, &l) < 0 || l < (long)o->min || l > (long)o->max)
            return fail(err, errlen, "%s: expected an integer from %ld to %ld, got '%s'", name,
                        (long)o->min, (long)o->max, value);
        memcpy(field, &l, sizeof(l));
        return 0;
    case OPT_SIZE:
        if (config_parse_size(value, &size) < 0 || (double)size < o->min ||
            (double)size > o->max)
            return fail(err, errlen,
                        "%s: expected a size from %.0f to %.0f bytes (suffixes k, m, g, "
                        "KiB, MiB, GiB), got '%s'",
                        name, o->min, o->max, value);
        memcpy(field, &size, sizeof(size));
        return 0;
    case OPT_CHOICE:
        for (int i = 0; shutdown_choices[i] != NULL; i++) {
            if (strcmp(value, shutdown_choices[i]) == 0) {
                memcpy(field, &i, sizeof(i));
                return 0;
            }
        }
        return fail(err, errlen, "%s: expected keep or remove, got '%s'", name, value);
    case OPT_ORIGINS: {
        char **slot = (char **)(void *)field;

        if (len > (size_t)o->max)
            return fail(err, errlen, "%s: longer than %d bytes", name, (int)o->max);
        if (config_check_origins(value, err, errlen, name) < 0)
            return -EINVAL;
        free(*slot);
        *slot = len > 0 ? strdup(value) : NULL;
        return (len > 0 && *slot == NULL) ? -ENOMEM : 0;
    }
    case OPT_NAME:
        for (size_t i = 0; i < len; i++) {
            if (!isalnum((unsigned char)value[i]) && strchr("._-", value[i]) == NULL)
                return fail(err, errlen, "%s: '%s' is not a valid name", name, value);
        }
        if (len >= o->size)
            return fail(err, errlen, "%s: longer than %zu bytes", name, o->size - 1);
        memcpy(field, value, len + 1);
        return 0;
    case OPT_LEVEL:
        if (log_level_parse(value, (enum log_level *)(void *)field) < 0)
            return fail(err, errlen, "%s: expected debug, info, warn or error, got '%s'", name,
                        value);
        return 0;
    }
    return -EINVAL;
}

static const struct option_def *find_flag(const char *arg, size_t len)
{
    for (size_t i = 0; i < NOPTIONS; i++) {
        if (options[i].flag != NULL && strlen(options[i].flag) == len &&
            strncmp(options[i].flag, arg, len) == 0)
            return &options[i];
    }
    return NULL;
}

int config_load(struct config *cfg, int argc, char **argv, enum config_action *action,
                char *err, size_t errlen)
{
    const char *value;
    int rc;

    memset(cfg, 0, sizeof(*cfg));
    *action = CONFIG_RUN;
    for (size_t i = 0; i < NOPTIONS; i++) {
        if (options[i].def == NULL)
            continue;
        rc = apply(cfg, &options[i], options[i].env, options[i].def, err, errlen);
        if (rc < 0)
            return rc;
    }
    for (size_t i = 0; i < NOPTIONS; i++) {
        value = getenv(options[i].env);
        if (value == NULL)
            continue;
        rc = apply(cfg, &options[i], options[i].env, value, err, errlen);
        if (rc < 0)
            return rc;
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        const struct option_def *o;

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            *action = CONFIG_HELP;
            return 0;
        }
        if (strcmp(arg, "--version") == 0) {
            *action = CONFIG_VERSION;
            return 0;
        }
        o = find_flag(arg, name_len);
        if (o == NULL)
            return fail(err, errlen, "unknown argument '%s' (see --help)", arg);
        if (eq != NULL) {
            value = eq + 1;
        } else {
            if (i + 1 >= argc)
                return fail(err, errlen, "%s needs a value", o->flag);
            value = argv[++i];
        }
        rc = apply(cfg, o, o->flag, value, err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void config_cleanup(struct config *cfg)
{
    if (cfg->api_key != NULL) {
        /* The key is a secret: do not leave it in freed memory. */
        OPENSSL_cleanse(cfg->api_key, strlen(cfg->api_key));
        free(cfg->api_key);
        cfg->api_key = NULL;
    }
    free(cfg->startup_code);
    cfg->startup_code = NULL;
    free(cfg->cors_origins);
    cfg->cors_origins = NULL;
}

void config_usage(FILE *out)
{
    fprintf(out, "usage: kernelboxd [options]\n\n"
                 "Every option can be set by its environment variable; a flag wins.\n\n");
    for (size_t i = 0; i < NOPTIONS; i++) {
        const struct option_def *o = &options[i];

        fprintf(out, "  %-30s %s\n", o->env, o->flag ? o->flag : "(environment only)");
        fprintf(out, "      %s", o->help);
        if (o->def != NULL && o->def[0] != '\0')
            fprintf(out, " (default %s)", o->def);
        fprintf(out, "\n");
    }
    fprintf(out, "\n  --help      this text\n  --version   print the version\n");
}
