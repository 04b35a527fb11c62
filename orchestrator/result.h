/* The result of one execution: what the kernel printed and displayed, capped as it arrives so
 * that no amount of output can grow the daemon past a fixed budget, and its JSON form. */
#ifndef KERNELBOX_RESULT_H
#define KERNELBOX_RESULT_H

#include <json-c/json.h>
#include <stdbool.h>

#include "wire.h"

#define RESULT_MAX_OUTPUTS 1000          /* items in outputs[] */
#define RESULT_OUTPUTS_BUDGET (16u << 20) /* bytes of item text and rich data together */
#define RESULT_MAX_TRACEBACK 200         /* traceback lines kept */
#define RESULT_TRUNCATION_MARKER "\n...[truncated by kernelbox]..."

enum result_status {
    RESULT_SUCCESS = 0,
    RESULT_ERROR,
    RESULT_TIMEOUT,
    RESULT_MAX_ATTEMPTS,
    RESULT_KERNEL_DIED,
};

struct result;

/* A new, empty result keeping at most char_limit characters of each text. NULL on failure. */
struct result *result_new(long char_limit);

/* NULL is a no-op. */
void result_free(struct result *r);

/* Fold one iopub message (stream, display_data, update_display_data, execute_result, error,
 * clear_output, execute_input) into the result. Other types are ignored. */
void result_add_iopub(struct result *r, struct wire_msg *msg);

/* The same, and return the live event for what was kept of the message (a new reference:
 * for a stream, {name, text} with the text that fitted; for display_data, execute_result and
 * update_display_data, {data, metadata, display_id?}; for error, {ename, evalue, traceback};
 * for clear_output, {wait}), or NULL when nothing of it was kept or it has no event. */
json_object *result_add_iopub_event(struct result *r, struct wire_msg *msg);

/* The name ("stdout" or "stderr") and the text of a stream message, unescaped into *text
 * (len bytes and a NUL; the caller frees it). -EINVAL for any other stream or a malformed
 * message. */
int result_stream_parts(const struct wire_msg *msg, const char **name, char **text,
                        size_t *len);

/* Fold len bytes of a stream's text (valid UTF-8, as result_stream_parts() gives it, or a
 * part of that cut between characters) into the result, as a stream message would be. With
 * want_event, return the live event for what was kept ({name, text}, a new reference), or
 * NULL when nothing was kept. */
json_object *result_add_stream(struct result *r, const char *name, const char *text, size_t len,
                               bool want_event);

/* The execution count seen so far, as JSON (NULL when unknown). New reference. */
json_object *result_execution_count(const struct result *r);

/* Fold the shell execute_reply into the result (status, execution count, error fallback). */
void result_add_reply(struct result *r, struct wire_msg *msg);

/* Mark the result as failed with a status other than error, with an explanatory error. */
void result_fail(struct result *r, enum result_status status, const char *ename,
                 const char *evalue);

void result_set_duration(struct result *r, long duration_ms);

/* Some of the output was not kept: the answer says "truncated": true. */
void result_mark_truncated(struct result *r);

void result_set_kernel_restarted(struct result *r, bool restarted);

enum result_status result_status(const struct result *r);
const char *result_status_name(enum result_status status);

/* A snapshot for attempts[]: attempt, code, status, output, stderr, error. New reference. */
json_object *result_attempt_json(const struct result *r, int attempt, const char *code);

/* The full result object as JSON text, written straight from the result: a new allocation
 * of *len bytes and a NUL, or NULL when out of memory. attempts (may be NULL) is borrowed;
 * status overrides the result's own status when >= 0. */
char *result_to_text(const struct result *r, json_object *attempts, int status, size_t *len);

/* The same as json-c objects. New reference, or NULL when out of memory. */
json_object *result_to_json(const struct result *r, json_object *attempts, int status);

#endif
