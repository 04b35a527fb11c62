/* Unit tests for config.c: defaults, every environment variable, flags over the environment,
 * errors that name the variable or flag, the size and listen parsers, and the option table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* The .c itself, to reach the static options[] table. It comes before cmocka.h, whose fail()
 * macro would otherwise rewrite config.c's own static fail(). */
#include "config.c"

#include <cmocka.h>

#include <netinet/in.h>
#include <stdio.h>

#define MIB_LL (1024LL * 1024LL)

/* Every test starts from an environment without any KERNELBOX_ variable of the table. */
static int clear_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < NOPTIONS; i++)
        unsetenv(options[i].env);
    return 0;
}

/* config_load() with argv = {"kernelboxd", args...}; the config must be cleaned up. */
static int load(struct config *cfg, enum config_action *action, char *err, size_t errlen,
                int nargs, char **args)
{
    char *argv[16];

    assert_true(nargs < 15);
    argv[0] = "kernelboxd";
    for (int i = 0; i < nargs; i++)
        argv[i + 1] = args[i];
    argv[nargs + 1] = NULL;
    err[0] = '\0';
    return config_load(cfg, nargs + 1, argv, action, err, errlen);
}

static int load_env(struct config *cfg, char *err, size_t errlen)
{
    enum config_action action;

    return load(cfg, &action, err, errlen, 0, NULL);
}

static uint16_t port_of(const struct config *cfg)
{
    if (cfg->addr.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&cfg->addr)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)&cfg->addr)->sin6_port);
}

static void test_defaults(void **state)
{
    struct config cfg;
    enum config_action action = CONFIG_HELP;
    char err[256];
    const struct sockaddr_in *in = (const struct sockaddr_in *)&cfg.addr;

    (void)state;
    assert_int_equal(load(&cfg, &action, err, sizeof(err), 0, NULL), 0);
    assert_int_equal(action, CONFIG_RUN);
    assert_string_equal(cfg.listen, "127.0.0.1:8080");
    assert_int_equal(cfg.addr.ss_family, AF_INET);
    assert_int_equal(cfg.addr_len, sizeof(struct sockaddr_in));
    assert_int_equal(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
    assert_int_equal(port_of(&cfg), 8080);
    assert_null(cfg.api_key);
    assert_string_equal(cfg.docker_socket, "/var/run/docker.sock");
    assert_string_equal(cfg.image, "kernelbox/kernel:latest");
    assert_string_equal(cfg.runtime_dir, "/run/kernelbox");
    assert_true(cfg.execution_timeout == 60.0);
    assert_int_equal(cfg.output_char_limit, 10000);
    assert_int_equal(cfg.max_retries, 5);
    assert_null(cfg.startup_code);
    assert_int_equal(cfg.memory_limit, 512 * MIB_LL);
    assert_true(cfg.cpus == 1.0);
    assert_int_equal(cfg.pids_limit, 256);
    assert_int_equal(cfg.tmpfs_size, 256 * MIB_LL);
    assert_int_equal(cfg.max_body, MIB_LL);
    assert_true(cfg.start_timeout == 30.0);
    assert_true(cfg.interrupt_grace == 2.0);
    assert_int_equal(cfg.log_level, LOG_INFO);
    assert_int_equal(cfg.docker_workers, 4);
    config_cleanup(&cfg);
    /* Cleaning twice is harmless. */
    config_cleanup(&cfg);
}

static void test_env_sets_every_option(void **state)
{
    struct config cfg;
    char err[256];

    (void)state;
    setenv("KERNELBOX_LISTEN", "0.0.0.0:9999", 1);
    setenv("KERNELBOX_API_KEY", "0123456789abcdef-key", 1);
    setenv("KERNELBOX_DOCKER_SOCKET", "/tmp/docker.sock", 1);
    setenv("KERNELBOX_IMAGE", "registry.local:5000/kb/kernel@sha256:abc", 1);
    setenv("KERNELBOX_RUNTIME_DIR", "/run/kb-test/", 1);
    setenv("KERNELBOX_EXECUTION_TIMEOUT", "2.5", 1);
    setenv("KERNELBOX_OUTPUT_CHAR_LIMIT", "12345", 1);
    setenv("KERNELBOX_MAX_RETRIES", "7", 1);
    setenv("KERNELBOX_STARTUP_CODE", "import os\nprint('hi')", 1);
    setenv("KERNELBOX_MEMORY_LIMIT", "1g", 1);
    setenv("KERNELBOX_CPUS", "0.5", 1);
    setenv("KERNELBOX_PIDS_LIMIT", "64", 1);
    setenv("KERNELBOX_TMPFS_SIZE", "64m", 1);
    setenv("KERNELBOX_MAX_BODY", "2048", 1);
    setenv("KERNELBOX_START_TIMEOUT", "45", 1);
    setenv("KERNELBOX_INTERRUPT_GRACE", "0.25", 1);
    setenv("KERNELBOX_DOCKER_WORKERS", "2", 1);
    setenv("KERNELBOX_LOG_LEVEL", "DEBUG", 1);

    assert_int_equal(load_env(&cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg.listen, "0.0.0.0:9999");
    assert_int_equal(port_of(&cfg), 9999);
    assert_non_null(cfg.api_key);
    assert_string_equal(cfg.api_key, "0123456789abcdef-key");
    assert_string_equal(cfg.docker_socket, "/tmp/docker.sock");
    assert_string_equal(cfg.image, "registry.local:5000/kb/kernel@sha256:abc");
    /* Trailing slashes are dropped so joined paths do not double up. */
    assert_string_equal(cfg.runtime_dir, "/run/kb-test");
    assert_true(cfg.execution_timeout == 2.5);
    assert_int_equal(cfg.output_char_limit, 12345);
    assert_int_equal(cfg.max_retries, 7);
    assert_non_null(cfg.startup_code);
    assert_string_equal(cfg.startup_code, "import os\nprint('hi')");
    assert_int_equal(cfg.memory_limit, 1024 * MIB_LL);
    assert_true(cfg.cpus == 0.5);
    assert_int_equal(cfg.pids_limit, 64);
    assert_int_equal(cfg.tmpfs_size, 64 * MIB_LL);
    assert_int_equal(cfg.max_body, 2048);
    assert_true(cfg.start_timeout == 45.0);
    assert_true(cfg.interrupt_grace == 0.25);
    assert_int_equal(cfg.docker_workers, 2);
    assert_int_equal(cfg.log_level, LOG_DEBUG);
    config_cleanup(&cfg);
    assert_null(cfg.api_key);
    assert_null(cfg.startup_code);
}

static void test_env_boundaries_accepted(void **state)
{
    static const struct {
        const char *env, *value;
    } ok[] = {
        {"KERNELBOX_EXECUTION_TIMEOUT", "0.1"},
        {"KERNELBOX_EXECUTION_TIMEOUT", "86400"},
        {"KERNELBOX_CPUS", "0.01"},
        {"KERNELBOX_CPUS", "256"},
        {"KERNELBOX_OUTPUT_CHAR_LIMIT", "100"},
        {"KERNELBOX_OUTPUT_CHAR_LIMIT", "10000000"},
        {"KERNELBOX_MEMORY_LIMIT", "32MiB"},
        {"KERNELBOX_MEMORY_LIMIT", "1024g"},
        {"KERNELBOX_MAX_RETRIES", "1"},
        {"KERNELBOX_MAX_RETRIES", "100"},
        {"KERNELBOX_PIDS_LIMIT", "16"},
        {"KERNELBOX_LOG_LEVEL", "warning"},
        {"KERNELBOX_STARTUP_CODE", ""},
        {"KERNELBOX_LISTEN", "localhost:1"},
        {"KERNELBOX_LISTEN", "[::]:65535"},
    };
    struct config cfg;
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        setenv(ok[i].env, ok[i].value, 1);
        if (load_env(&cfg, err, sizeof(err)) != 0)
            fail_msg("%s=%s refused: %s", ok[i].env, ok[i].value, err);
        config_cleanup(&cfg);
        unsetenv(ok[i].env);
    }
}

static void test_env_edge_values(void **state)
{
    char key16[17], key256[257], dir[CONFIG_RUNTIME_DIR_MAX + 1];
    struct config cfg;
    char err[256];

    (void)state;
    memset(key16, 'k', 16);
    key16[16] = '\0';
    memset(key256, '~', 256);
    key256[256] = '\0';
    setenv("KERNELBOX_API_KEY", key16, 1);
    assert_int_equal(load_env(&cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg.api_key, key16);
    config_cleanup(&cfg);
    setenv("KERNELBOX_API_KEY", key256, 1);
    assert_int_equal(load_env(&cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg.api_key, key256);
    config_cleanup(&cfg);
    unsetenv("KERNELBOX_API_KEY");

    /* A runtime directory of exactly CONFIG_RUNTIME_DIR_MAX bytes fits. */
    dir[0] = '/';
    memset(dir + 1, 'r', CONFIG_RUNTIME_DIR_MAX - 1);
    dir[CONFIG_RUNTIME_DIR_MAX] = '\0';
    setenv("KERNELBOX_RUNTIME_DIR", dir, 1);
    assert_int_equal(load_env(&cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg.runtime_dir, dir);
    config_cleanup(&cfg);
    setenv("KERNELBOX_RUNTIME_DIR", "/", 1);
    assert_int_equal(load_env(&cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg.runtime_dir, "/");
    config_cleanup(&cfg);
}

static void test_env_invalid_values_named(void **state)
{
    char long_dir[CONFIG_RUNTIME_DIR_MAX + 2], long_key[CONFIG_API_KEY_MAX + 2];
    char long_listen[200], *long_code;
    const struct {
        const char *env, *value;
    } bad[] = {
        {"KERNELBOX_MEMORY_LIMIT", "abc"},
        {"KERNELBOX_MEMORY_LIMIT", "16MiB"},
        {"KERNELBOX_MEMORY_LIMIT", "2t"},
        {"KERNELBOX_MEMORY_LIMIT", "512 MiB"},
        {"KERNELBOX_MEMORY_LIMIT", "-512m"},
        {"KERNELBOX_CPUS", "0"},
        {"KERNELBOX_CPUS", "-1"},
        {"KERNELBOX_CPUS", "257"},
        {"KERNELBOX_CPUS", "two"},
        {"KERNELBOX_CPUS", "nan"},
        {"KERNELBOX_CPUS", "inf"},
        {"KERNELBOX_CPUS", ""},
        {"KERNELBOX_LISTEN", "nohost"},
        {"KERNELBOX_LISTEN", "127.0.0.1:0"},
        {"KERNELBOX_LISTEN", "127.0.0.1:65536"},
        {"KERNELBOX_LISTEN", "127.0.0.1:"},
        {"KERNELBOX_LISTEN", ":8080"},
        {"KERNELBOX_LISTEN", "::1:8080"},
        {"KERNELBOX_LISTEN", "[::1]8080"},
        {"KERNELBOX_LISTEN", "example.com:80"},
        {"KERNELBOX_LISTEN", long_listen},
        {"KERNELBOX_API_KEY", "short-key"},
        {"KERNELBOX_API_KEY", "fifteen-chars-x"},
        {"KERNELBOX_API_KEY", "has a space in the middle"},
        {"KERNELBOX_API_KEY", "non-ascii-\xc3\xa9-0123456789"},
        {"KERNELBOX_API_KEY", long_key},
        {"KERNELBOX_RUNTIME_DIR", "run/kernelbox"},
        {"KERNELBOX_RUNTIME_DIR", ""},
        {"KERNELBOX_RUNTIME_DIR", long_dir},
        {"KERNELBOX_RUNTIME_DIR", "/run/../etc"},
        {"KERNELBOX_RUNTIME_DIR", "/run/.."},
        {"KERNELBOX_DOCKER_SOCKET", "docker.sock"},
        {"KERNELBOX_EXECUTION_TIMEOUT", "0.01"},
        {"KERNELBOX_EXECUTION_TIMEOUT", "86401"},
        {"KERNELBOX_EXECUTION_TIMEOUT", " 5"},
        {"KERNELBOX_EXECUTION_TIMEOUT", "5s"},
        {"KERNELBOX_OUTPUT_CHAR_LIMIT", "-1"},
        {"KERNELBOX_OUTPUT_CHAR_LIMIT", "99"},
        {"KERNELBOX_OUTPUT_CHAR_LIMIT", "10000001"},
        {"KERNELBOX_OUTPUT_CHAR_LIMIT", "1e4"},
        {"KERNELBOX_OUTPUT_CHAR_LIMIT", "99999999999999999999999"},
        {"KERNELBOX_MAX_RETRIES", "0"},
        {"KERNELBOX_MAX_RETRIES", "101"},
        {"KERNELBOX_PIDS_LIMIT", "15"},
        {"KERNELBOX_TMPFS_SIZE", "1k"},
        {"KERNELBOX_MAX_BODY", "100"},
        {"KERNELBOX_IMAGE", ""},
        {"KERNELBOX_IMAGE", "kernel image"},
        {"KERNELBOX_IMAGE", "img;rm -rf"},
        {"KERNELBOX_START_TIMEOUT", "0.5"},
        {"KERNELBOX_INTERRUPT_GRACE", "61"},
        {"KERNELBOX_DOCKER_WORKERS", "0"},
        {"KERNELBOX_DOCKER_WORKERS", "65"},
        {"KERNELBOX_LOG_LEVEL", "verbose"},
        {"KERNELBOX_STARTUP_CODE", NULL}, /* filled below: one byte over the cap */
    };
    struct config cfg;
    char err[512];

    (void)state;
    long_dir[0] = '/';
    memset(long_dir + 1, 'r', CONFIG_RUNTIME_DIR_MAX);
    long_dir[CONFIG_RUNTIME_DIR_MAX + 1] = '\0';
    memset(long_key, 'k', CONFIG_API_KEY_MAX + 1);
    long_key[CONFIG_API_KEY_MAX + 1] = '\0';
    memset(long_listen, '1', sizeof(long_listen) - 6);
    memcpy(long_listen + sizeof(long_listen) - 6, ":8080", 6);
    long_code = malloc(65538);
    assert_non_null(long_code);
    memset(long_code, '#', 65537);
    long_code[65537] = '\0';

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *value = bad[i].value ? bad[i].value : long_code;
        int rc;

        setenv(bad[i].env, value, 1);
        rc = load_env(&cfg, err, sizeof(err));
        config_cleanup(&cfg);
        unsetenv(bad[i].env);
        if (rc != -EINVAL)
            fail_msg("%s='%.40s' gave %d, want -EINVAL", bad[i].env, value, rc);
        if (strstr(err, bad[i].env) == NULL)
            fail_msg("the error for %s does not name it: '%s'", bad[i].env, err);
    }
    free(long_code);
}

static void test_error_after_secret_does_not_leak(void **state)
{
    struct config cfg;
    char err[256];

    (void)state;
    /* The key is applied first, then a later variable fails: cleanup must free the key
     * (the sanitizer build reports a leak otherwise). */
    setenv("KERNELBOX_API_KEY", "0123456789abcdef", 1);
    setenv("KERNELBOX_STARTUP_CODE", "x = 1", 1);
    setenv("KERNELBOX_LOG_LEVEL", "loud", 1);
    assert_int_equal(load_env(&cfg, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "KERNELBOX_LOG_LEVEL"));
    config_cleanup(&cfg);
    assert_null(cfg.api_key);
    assert_null(cfg.startup_code);
}

static void test_flags_override_env(void **state)
{
    char *eq_form[] = {"--listen=127.0.0.1:9001", "--cpus=2"};
    char *split_form[] = {"--listen", "[::1]:9002", "--memory-limit", "64m"};
    char *last_wins[] = {"--max-retries=3", "--max-retries", "9"};
    char *text_flag[] = {"--startup-code=print(1)", "--runtime-dir", "/tmp/kb"};
    const struct sockaddr_in6 *in6;
    struct config cfg;
    enum config_action action;
    char err[256];

    (void)state;
    setenv("KERNELBOX_LISTEN", "127.0.0.1:9000", 1);
    setenv("KERNELBOX_CPUS", "3", 1);
    setenv("KERNELBOX_MEMORY_LIMIT", "128m", 1);
    setenv("KERNELBOX_MAX_RETRIES", "4", 1);

    assert_int_equal(load(&cfg, &action, err, sizeof(err), 2, eq_form), 0);
    assert_int_equal(action, CONFIG_RUN);
    assert_string_equal(cfg.listen, "127.0.0.1:9001");
    assert_int_equal(port_of(&cfg), 9001);
    assert_true(cfg.cpus == 2.0);
    assert_int_equal(cfg.memory_limit, 128 * MIB_LL); /* from the environment */
    config_cleanup(&cfg);

    assert_int_equal(load(&cfg, &action, err, sizeof(err), 4, split_form), 0);
    assert_string_equal(cfg.listen, "[::1]:9002");
    assert_int_equal(cfg.addr.ss_family, AF_INET6);
    assert_int_equal(cfg.addr_len, sizeof(struct sockaddr_in6));
    in6 = (const struct sockaddr_in6 *)&cfg.addr;
    assert_true(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
    assert_int_equal(port_of(&cfg), 9002);
    assert_int_equal(cfg.memory_limit, 64 * MIB_LL);
    assert_true(cfg.cpus == 3.0);
    config_cleanup(&cfg);

    assert_int_equal(load(&cfg, &action, err, sizeof(err), 3, last_wins), 0);
    assert_int_equal(cfg.max_retries, 9);
    config_cleanup(&cfg);

    assert_int_equal(load(&cfg, &action, err, sizeof(err), 3, text_flag), 0);
    assert_string_equal(cfg.startup_code, "print(1)");
    assert_string_equal(cfg.runtime_dir, "/tmp/kb");
    config_cleanup(&cfg);
}

static void test_flag_errors(void **state)
{
    char *unknown[] = {"--bogus=1"};
    char *positional[] = {"serve"};
    char *secret[] = {"--api-key=0123456789abcdef"};
    char *missing[] = {"--cpus=1", "--listen"};
    char *bad_value[] = {"--cpus=0"};
    char *bad_split[] = {"--execution-timeout", "0.01"};
    char *prefix[] = {"--list=127.0.0.1:1"};
    struct config cfg;
    enum config_action action;
    char err[256];

    (void)state;
    assert_int_equal(load(&cfg, &action, err, sizeof(err), 1, unknown), -EINVAL);
    assert_non_null(strstr(err, "--bogus"));
    config_cleanup(&cfg);
    assert_int_equal(load(&cfg, &action, err, sizeof(err), 1, positional), -EINVAL);
    assert_non_null(strstr(err, "serve"));
    config_cleanup(&cfg);
    /* Secrets are never taken from the command line. */
    assert_int_equal(load(&cfg, &action, err, sizeof(err), 1, secret), -EINVAL);
    assert_null(cfg.api_key);
    config_cleanup(&cfg);
    assert_int_equal(load(&cfg, &action, err, sizeof(err), 2, missing), -EINVAL);
    assert_non_null(strstr(err, "--listen"));
    config_cleanup(&cfg);
    assert_int_equal(load(&cfg, &action, err, sizeof(err), 1, bad_value), -EINVAL);
    assert_non_null(strstr(err, "--cpus"));
    config_cleanup(&cfg);
    assert_int_equal(load(&cfg, &action, err, sizeof(err), 2, bad_split), -EINVAL);
    assert_non_null(strstr(err, "--execution-timeout"));
    config_cleanup(&cfg);
    assert_int_equal(load(&cfg, &action, err, sizeof(err), 1, prefix), -EINVAL);
    config_cleanup(&cfg);
}

static void test_help_and_version(void **state)
{
    char *help[] = {"--cpus=2", "--help"};
    char *short_help[] = {"-h"};
    char *version[] = {"--version", "--bogus"};
    struct config cfg;
    enum config_action action;
    char err[256], *text = NULL;
    size_t text_len = 0;
    FILE *out;

    (void)state;
    assert_int_equal(load(&cfg, &action, err, sizeof(err), 2, help), 0);
    assert_int_equal(action, CONFIG_HELP);
    config_cleanup(&cfg);
    assert_int_equal(load(&cfg, &action, err, sizeof(err), 1, short_help), 0);
    assert_int_equal(action, CONFIG_HELP);
    config_cleanup(&cfg);
    assert_int_equal(load(&cfg, &action, err, sizeof(err), 2, version), 0);
    assert_int_equal(action, CONFIG_VERSION);
    config_cleanup(&cfg);

    /* The usage text lists every variable and flag. */
    out = open_memstream(&text, &text_len);
    assert_non_null(out);
    config_usage(out);
    fclose(out);
    for (size_t i = 0; i < NOPTIONS; i++) {
        assert_non_null(strstr(text, options[i].env));
        if (options[i].flag != NULL)
            assert_non_null(strstr(text, options[i].flag));
    }
    assert_non_null(strstr(text, "--help"));
    assert_non_null(strstr(text, "--version"));
    free(text);
}

static void test_parse_size(void **state)
{
    static const struct {
        const char *s;
        long long want;
    } ok[] = {
        {"0", 0},
        {"1048576", 1048576},
        {"512MiB", 512 * MIB_LL},
        {"512mib", 512 * MIB_LL},
        {"64m", 64 * MIB_LL},
        {"64MB", 64 * MIB_LL},
        {"1g", 1024 * MIB_LL},
        {"1GiB", 1024 * MIB_LL},
        {"3k", 3072},
        {"7b", 7},
        {"2t", 2LL << 40},
        {"9223372036854775807", LLONG_MAX},
        {"8388607t", 8388607LL << 40},
    };
    static const char *const bad[] = {
        "",       "m",     "-1",     "+1",       " 1",   "1 ",    "1.5g",  "1mm", "1x",
        "1kibx",  "0x10",  "1e3",    "12MiB ", "9223372036854775808",
        "99999999999999999999", "8388608t", "9007199254740992k", "18446744073709551616",
    };
    long long v;

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        v = -7;
        if (config_parse_size(ok[i].s, &v) != 0)
            fail_msg("'%s' refused", ok[i].s);
        if (v != ok[i].want)
            fail_msg("'%s' gave %lld, want %lld", ok[i].s, v, ok[i].want);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = -7;
        if (config_parse_size(bad[i], &v) != -EINVAL)
            fail_msg("'%s' accepted as %lld", bad[i], v);
        assert_int_equal(v, -7);
    }
}

static void test_parse_listen(void **state)
{
    static const char *const bad[] = {
        "",           "127.0.0.1",      "127.0.0.1:0",    "127.0.0.1:65536", "127.0.0.1:-1",
        "127.0.0.1:", "127.0.0.1:80x",  "127.0.0.1: 80",  ":80",             "nohost",
        "::1:80",     "[::1]",          "[::1]:",         "[::1]80",         "[]:80",
        "[127.0.0.1]:80", "[localhost]:80", "256.0.0.1:80", "example.com:80", "[::1:80",
        "1.2.3.4:99999999999999999999",
    };
    struct sockaddr_storage addr;
    const struct sockaddr_in *in = (const struct sockaddr_in *)&addr;
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&addr;
    socklen_t len = 0;
    char text[INET6_ADDRSTRLEN];

    (void)state;
    assert_int_equal(config_parse_listen("10.1.2.3:8080", &addr, &len), 0);
    assert_int_equal(addr.ss_family, AF_INET);
    assert_int_equal(len, sizeof(struct sockaddr_in));
    assert_int_equal(ntohs(in->sin_port), 8080);
    assert_string_equal(inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text)), "10.1.2.3");

    assert_int_equal(config_parse_listen("[::1]:80", &addr, &len), 0);
    assert_int_equal(addr.ss_family, AF_INET6);
    assert_int_equal(len, sizeof(struct sockaddr_in6));
    assert_int_equal(ntohs(in6->sin6_port), 80);
    assert_true(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));

    assert_int_equal(config_parse_listen("[fe80::1:2]:65535", &addr, &len), 0);
    assert_int_equal(ntohs(in6->sin6_port), 65535);
    assert_string_equal(inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text)), "fe80::1:2");

    assert_int_equal(config_parse_listen("localhost:1", &addr, &len), 0);
    assert_int_equal(addr.ss_family, AF_INET);
    assert_int_equal(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
    assert_int_equal(ntohs(in->sin_port), 1);

    assert_int_equal(config_parse_listen("0.0.0.0:443", &addr, &len), 0);
    assert_int_equal(in->sin_addr.s_addr, htonl(INADDR_ANY));

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (config_parse_listen(bad[i], &addr, &len) != -EINVAL)
            fail_msg("'%s' accepted", bad[i]);
    }
}

/* Each typed option must write into a field of the matching C type: apply() copies a double,
 * a long or a long long into it, so a size mismatch would corrupt the struct. */
static void test_options_field_types(void **state)
{
    (void)state;
    for (size_t i = 0; i < NOPTIONS; i++) {
        const struct option_def *o = &options[i];
        size_t want = 0;

        switch (o->type) {
        case OPT_SECONDS:
        case OPT_FLOAT:
            want = sizeof(double);
            break;
        case OPT_INT:
            want = sizeof(long);
            break;
        case OPT_SIZE:
            want = sizeof(long long);
            break;
        case OPT_SECRET:
        case OPT_TEXT:
        case OPT_ORIGINS:
            want = sizeof(char *);
            break;
        case OPT_LEVEL:
            want = sizeof(enum log_level);
            break;
        case OPT_CHOICE:
            want = sizeof(int);
            break;
        case OPT_LISTEN:
        case OPT_STRING:
        case OPT_ABS_PATH:
        case OPT_NAME:
            /* A character array: anything holding more than a NUL. */
            if (o->size < 2)
                fail_msg("%s: string field of %zu bytes", o->env, o->size);
            break;
        }
        if (want != 0 && o->size != want)
            fail_msg("%s: field is %zu bytes, its type needs %zu", o->env, o->size, want);
        if (o->offset + o->size > sizeof(struct config))
            fail_msg("%s: field outside struct config", o->env);
        if (o->min > o->max)
            fail_msg("%s: min %g > max %g", o->env, o->min, o->max);
        if (o->help == NULL || o->help[0] == '\0')
            fail_msg("%s: no help text", o->env);

        /* Names agree: KERNELBOX_FOO_BAR <-> --foo-bar; each env and field appears once. */
        assert_int_equal(strncmp(o->env, "KERNELBOX_", 10), 0);
        if (o->flag != NULL) {
            const char *e = o->env + 10, *f = o->flag + 2;

            assert_int_equal(strncmp(o->flag, "--", 2), 0);
            assert_int_equal(strlen(e), strlen(f));
            for (; *e != '\0'; e++, f++) {
                char c = *e == '_' ? '-' : (char)tolower((unsigned char)*e);

                if (c != *f)
                    fail_msg("%s and %s do not match", o->env, o->flag);
            }
        }
        for (size_t j = i + 1; j < NOPTIONS; j++) {
            assert_string_not_equal(o->env, options[j].env);
            if (o->offset == options[j].offset)
                fail_msg("%s and %s share a field", o->env, options[j].env);
        }
    }
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    long len;

    if (f == NULL)
        return NULL;
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    assert_true(len >= 0);
    rewind(f);
    text = calloc(1, (size_t)len + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    return text;
}

static void test_options_documented(void **state)
{
    const char *path = KERNELBOX_SOURCE_DIR "/docs/configuration.md";
    char *doc = read_file(path);

    (void)state;
    if (doc == NULL) {
        print_message("%s does not exist yet: not checking it\n", path);
        skip();
    }
    for (size_t i = 0; i < NOPTIONS; i++) {
        if (strstr(doc, options[i].env) == NULL) {
            free(doc);
            fail_msg("%s is not mentioned in docs/configuration.md", options[i].env);
        }
    }
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clear_env),
        cmocka_unit_test_setup(test_env_sets_every_option, clear_env),
        cmocka_unit_test_setup(test_env_boundaries_accepted, clear_env),
        cmocka_unit_test_setup(test_env_edge_values, clear_env),
        cmocka_unit_test_setup(test_env_invalid_values_named, clear_env),
        cmocka_unit_test_setup(test_error_after_secret_does_not_leak, clear_env),
        cmocka_unit_test_setup(test_flags_override_env, clear_env),
        cmocka_unit_test_setup(test_flag_errors, clear_env),
        cmocka_unit_test_setup(test_help_and_version, clear_env),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_listen),
        cmocka_unit_test(test_options_field_types),
        cmocka_unit_test(test_options_documented),
    };

    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
