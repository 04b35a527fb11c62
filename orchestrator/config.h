/* kernelboxd's settings: one table of options (environment variable, flag, default, bounds),
 * read and validated once at start-up. */
#ifndef KERNELBOX_CONFIG_H
#define KERNELBOX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "log.h"

#define CONFIG_RUNTIME_DIR_MAX 80 /* leaves room for "/<id>/k-N" within a socket path */
#define CONFIG_API_KEY_MIN 16
#define CONFIG_API_KEY_MAX 256

struct config {
    char listen[128];             /* as given, e.g. 127.0.0.1:8080 */
    struct sockaddr_storage addr; /* parsed listen address */
    socklen_t addr_len;
    char *api_key; /* NULL until main generates one */
    char docker_socket[108];
    char image[256];
    char runtime_dir[CONFIG_RUNTIME_DIR_MAX + 1];
    double execution_timeout; /* seconds */
    long output_char_limit;
    long max_retries;
    char *startup_code; /* NULL when empty */
    long long memory_limit; /* bytes */
    double cpus;
    long pids_limit;
    long long tmpfs_size; /* bytes */
    long long max_body;   /* bytes */
    double start_timeout;   /* seconds a new kernel has to answer */
    double interrupt_grace; /* seconds between interrupt and restart */
    double file_timeout;    /* seconds one step of a file operation may take */
    enum log_level log_level;
    long docker_workers;
    char secret_file[256]; /* "" until main puts it in the runtime directory */
    int shutdown_remove;   /* 0: keep kernels running on exit; 1: remove them */
    double shutdown_grace; /* seconds in-flight executions may finish on SIGTERM */
    double kernel_idle_timeout; /* seconds; 0: never */
    double max_session_age;     /* seconds; 0: no limit */
    long pool_size;             /* warm kernels kept ready */
    char api_keys_file[256];    /* "" when there is none */
    long max_sessions;          /* live sessions and warm kernels, all tenants together */
    long tenant_max_sessions;
    long tenant_max_executions;
    double tenant_rate;  /* requests per second */
    double tenant_burst; /* requests at once */
    char *cors_origins;  /* comma-separated exact origins, or NULL */
    long max_connections;
    long max_connections_per_ip;
    double connection_timeout; /* seconds a client may take to send a request */
    char runtime[64];          /* OCI runtime for kernels; "" for the engine's default */
    long self_seccomp;         /* 1: confine the daemon after start-up */
    long long max_upload;      /* bytes of one file through the files API */
    long allow_egress;         /* 1: sessions may ask for network "egress" */
};

/* Outcome of config_load() besides an error. */
enum config_action { CONFIG_RUN = 0, CONFIG_HELP, CONFIG_VERSION };

/* Fill cfg from defaults, then the environment, then argv (flags win). Returns 0 with
 * *action set, or -EINVAL with a message naming the variable or flag in err. */
int config_load(struct config *cfg, int argc, char **argv, enum config_action *action,
                char *err, size_t errlen);

/* Free what config_load() allocated. */
void config_cleanup(struct config *cfg);

/* Print every option with its variable, flag, default and meaning. */
void config_usage(FILE *out);

/* Check a comma-separated list of exact origins (scheme://host[:port]). Returns 0, or -EINVAL
 * with a message naming the variable name in err. */
int config_check_origins(const char *list, char *err, size_t errlen, const char *name);

/* Parse a byte size such as "512MiB", "64m" or "1048576". Returns 0 or -EINVAL. */
int config_parse_size(const char *s, long long *out);

/* Parse "host:port" or "[v6]:port" with a numeric host (or "localhost"). Returns 0 or
 * -EINVAL. */
int config_parse_listen(const char *s, struct sockaddr_storage *addr, socklen_t *len);

#endif
