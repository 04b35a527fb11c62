/* Structured logs: one JSON object per line on standard error. */
#include "log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/jwrite.h"
#include "util/text.h"

static enum log_level min_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* The lines of a thread that batches (the event loop's), not yet written. */
static __thread struct buf batch;
static __thread bool batching;

static void write_out(const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, data, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* nowhere left to report a failing log stream */
        data += n;
        len -= (size_t)n;
    }
}

void log_batch_start(void)
{
    if (batching)
        return;
    buf_init(&batch, 2 * LOG_BATCH_MAX);
    batching = true;
}

void log_flush(void)
{
    if (!batching || batch.len == 0)
        return;
    write_out(batch.data, batch.len);
    batch.len = 0;
}

void log_batch_stop(void)
{
    if (!batching)
        return;
    log_flush();
    buf_cleanup(&batch);
    batching = false;
}

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

/* ,"key":"value" when value is set and not empty. */
static void add_str(struct jwrite *w, const char *key, const char *value)
{
    if (value == NULL || value[0] == '\0')
        return;
    jw_raw(w, ",\"", 2);
    jw_raw(w, key, strlen(key));
    jw_raw(w, "\":", 2);
    jw_string(w, value, strlen(value));
}

void log_emit(enum log_level level, const struct log_ctx *ctx, const char *event,
              long duration_ms, const char *fmt, ...)
{
    char when[40], msg[2048];
    struct buf line;
    struct jwrite w = {&line, 0};
    va_list ap;

    if (level < min_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    wall_iso8601(wall_now(), when);

    /* Written straight as JSON text: a line per request at the default level must not cost
     * a tree of objects. */
    buf_init(&line, (size_t)-1 / 2);
    jw_lit(&w, "{\"time\":");
    jw_string(&w, when, strlen(when));
    add_str(&w, "level", level_names[level]);
    add_str(&w, "event", event);
    if (ctx != NULL) {
        add_str(&w, "request_id", ctx->request_id);
        add_str(&w, "tenant", ctx->tenant);
        add_str(&w, "session", ctx->session);
    }
    if (duration_ms >= 0) {
        jw_lit(&w, ",\"duration_ms\":");
        jw_int(&w, duration_ms);
    }
    add_str(&w, "msg", msg);
    jw_lit(&w, "}\n");
    if (w.err != 0) {
        buf_cleanup(&line);
        return;
    }
    /* Whole lines in one call each keep lines whole when several threads log at once. A
     * batching thread's lines wait for its next flush, unless this is a warning or an error
     * (which go out at once, with what came before them). */
    if (batching && level < LOG_WARN && buf_append(&batch, line.data, line.len) == 0) {
        if (batch.len >= LOG_BATCH_MAX)
            log_flush();
    } else {
        log_flush();
        write_out(line.data, line.len);
    }
    buf_cleanup(&line);
}
