/* Structured logs: one JSON object per line on standard error. Never pass a secret here. */
#ifndef KERNELBOX_LOG_H
#define KERNELBOX_LOG_H

#include <stdarg.h>

#define LOG_BATCH_MAX 16384 /* a batching thread writes its lines once they reach this */

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

/* What a line is about; every field may be NULL. */
struct log_ctx {
    const char *request_id;
    const char *tenant;
    const char *session;
};

/* Lines below level are dropped. */
void log_set_level(enum log_level level);

/* Parse "debug", "info", "warn" or "error". Returns 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);

/* Emit one line: time, level, event, the context fields, duration_ms when >= 0, and the
 * printf-style message. Safe to call from any thread. */
void log_emit(enum log_level level, const struct log_ctx *ctx, const char *event,
              long duration_ms, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* From now on this thread's debug and info lines are kept and written together by
 * log_flush() (the event loop calls it before it waits), or once 16 KiB are waiting; a
 * warning or an error writes what waits and itself at once. */
void log_batch_start(void);

/* Write the lines this thread kept, if it batches. */
void log_flush(void);

/* Flush and stop batching on this thread. */
void log_batch_stop(void);

#define log_debug(ctx, event, ...) log_emit(LOG_DEBUG, ctx, event, -1, __VA_ARGS__)
#define log_info(ctx, event, ...) log_emit(LOG_INFO, ctx, event, -1, __VA_ARGS__)
#define log_warn(ctx, event, ...) log_emit(LOG_WARN, ctx, event, -1, __VA_ARGS__)
#define log_error(ctx, event, ...) log_emit(LOG_ERROR, ctx, event, -1, __VA_ARGS__)

#endif
