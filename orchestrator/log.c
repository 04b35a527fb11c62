/* Structured logs: one JSON object per line on standard error. */
#include "log.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util/text.h"

static enum log_level min_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
    min_level = level;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = LOG_WARN;
        return 0;
    }
    return -EINVAL;
}

static void add_str(json_object *obj, const char *key, const char *value)
{
    if (value != NULL && value[0] != '\0')
        json_object_object_add(obj, key, json_object_new_string(value));
}

void log_emit(enum log_level level, const struct log_ctx *ctx, const char *event,
              long duration_ms, const char *fmt, ...)
{
    char when[40], msg[2048];
    const char *line;
    json_object *obj;
    va_list ap;

    if (level < min_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    wall_iso8601(wall_now(), when);

    obj = json_object_new_object();
    if (obj == NULL)
        return;
    add_str(obj, "time", when);
    add_str(obj, "level", level_names[level]);
    add_str(obj, "event", event);
    if (ctx != NULL) {
        add_str(obj, "request_id", ctx->request_id);
        add_str(obj, "tenant", ctx->tenant);
        add_str(obj, "session", ctx->session);
    }
    if (duration_ms >= 0)
        json_object_object_add(obj, "duration_ms", json_object_new_int64(duration_ms));
    add_str(obj, "msg", msg);
    line = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
                                                   JSON_C_TO_STRING_NOSLASHESCAPE);
    if (line != NULL) {
        struct iovec iov[2] = {{(void *)line, strlen(line)}, {(void *)"\n", 1}};

        /* One call per line keeps lines whole when several threads log at once. */
        if (writev(STDERR_FILENO, iov, 2) < 0) {
            /* Nowhere left to report a failing log stream. */
        }
    }
    json_object_put(obj);
}
