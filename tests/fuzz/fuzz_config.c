/* libFuzzer driver for the settings parsers that take text from the environment or the
 * command line: config_parse_size(), config_parse_listen() and config_check_origins(), each
 * given the whole input as one NUL-terminated string. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include "config.h"
#include "fuzz.h"

static void check_size(const char *s)
{
    long long v = -12345;
    int rc = config_parse_size(s, &v);

    FUZZ_CHECK(rc == 0 || rc == -EINVAL);
    if (rc == 0)
        FUZZ_CHECK(v >= 0);
    else
        FUZZ_CHECK(v == -12345);
}

static void check_listen(const char *s)
{
    struct sockaddr_storage addr;
    socklen_t len = 0;
    char text[INET6_ADDRSTRLEN];
    int rc = config_parse_listen(s, &addr, &len);

    FUZZ_CHECK(rc == 0 || rc == -EINVAL);
    if (rc < 0)
        return;
    if (addr.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&addr;

        FUZZ_CHECK(len == sizeof(*in) && ntohs(in->sin_port) >= 1);
        FUZZ_CHECK(inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text)) != NULL);
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&addr;

        FUZZ_CHECK(addr.ss_family == AF_INET6);
        FUZZ_CHECK(len == sizeof(*in6) && ntohs(in6->sin6_port) >= 1);
        FUZZ_CHECK(s[0] == '[');
    }
}

static void check_origins(const char *s)
{
    char err[200];
    int rc;

    memset(err, 'x', sizeof(err));
    rc = config_check_origins(s, err, sizeof(err), "KERNELBOX_CORS_ORIGINS");
    FUZZ_CHECK(rc == 0 || rc == -EINVAL);
    if (rc < 0)
        FUZZ_CHECK(fuzz_terminated(err, sizeof(err)) &&
                   strncmp(err, "KERNELBOX_CORS_ORIGINS: ", 24) == 0);
    else
        FUZZ_CHECK(s[0] == '\0' || strncmp(s, "http", 4) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);

    check_size(s);
    check_listen(s);
    check_origins(s);
    free(s);
    return 0;
}
