/* libFuzzer driver for folding a kernel's messages into a result (result.c). The input is a
 * sequence of messages separated by FUZZ_WIRE_SEP: each starts with a byte that picks its
 * msg_type, and the rest is its content as JSON (a kernel that the session's code owns can
 * sign any content). Every live event and the final result object are checked: the right
 * types, sizes bounded by the result's caps, and the answer's text strictly valid JSON,
 * whatever the kernel sent. */
#include <json-c/json.h>
#include <stdbool.h>

#include "fuzz.h"
#include "result.h"
#include "util/jscan.h"
#include "wire.h"

#define FUZZ_RESULT_CHAR_LIMIT 200
#define FUZZ_RESULT_MAX_MESSAGES 64

static const char *const types[] = {
    "stream",        "display_data", "update_display_data", "execute_result",
    "error",         "clear_output", "execute_input",       "status",
    "execute_reply", "comm_msg",
};

static void check_event(json_object *event, const char *type)
{
    if (event == NULL)
        return;
    FUZZ_CHECK(json_object_is_type(event, json_type_object));
    FUZZ_CHECK(json_object_to_json_string(event) != NULL);
    if (strcmp(type, "stream") == 0) {
        json_object *v = NULL;

        FUZZ_CHECK(json_object_object_get_ex(event, "text", &v) &&
                   json_object_is_type(v, json_type_string));
        FUZZ_CHECK(json_object_get_string_len(v) <=
                   FUZZ_RESULT_CHAR_LIMIT * 4 + (int)sizeof(RESULT_TRUNCATION_MARKER));
    }
}

static void check_result(json_object *res)
{
    json_object *outputs = NULL, *v = NULL;
    const char *text;

    FUZZ_CHECK(json_object_is_type(res, json_type_object));
    FUZZ_CHECK(json_object_object_get_ex(res, "status", &v) &&
               json_object_is_type(v, json_type_string));
    FUZZ_CHECK(json_object_object_get_ex(res, "outputs", &outputs) &&
               json_object_is_type(outputs, json_type_array));
    FUZZ_CHECK(json_object_array_length(outputs) <= RESULT_MAX_OUTPUTS + 1);
    for (const char *const *key = (const char *const[]){"output", "stderr", NULL}; *key; key++) {
        FUZZ_CHECK(json_object_object_get_ex(res, *key, &v) &&
                   json_object_is_type(v, json_type_string));
        /* characters, at most four bytes each, and the marker */
        FUZZ_CHECK(json_object_get_string_len(v) <=
                   FUZZ_RESULT_CHAR_LIMIT * 4 + (int)sizeof(RESULT_TRUNCATION_MARKER));
    }
    text = json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN);
    FUZZ_CHECK(text != NULL);
    /* The whole answer stays within the outputs budget and the per-text caps. */
    FUZZ_CHECK(strlen(text) < 6 * (size_t)RESULT_OUTPUTS_BUDGET);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct result *r = result_new(FUZZ_RESULT_CHAR_LIMIT);
    size_t start = 0;
    int n = 0;

    FUZZ_CHECK(r != NULL);
    while (start < size && n++ < FUZZ_RESULT_MAX_MESSAGES) {
        const uint8_t *end = memchr(data + start, FUZZ_WIRE_SEP, size - start);
        size_t len = end ? (size_t)(end - (data + start)) : size - start;
        struct wire_msg msg = {0};
        const char *type;
        char *text;

        if (len == 0) {
            start += 1;
            continue;
        }
        type = types[data[start] % (sizeof(types) / sizeof(types[0]))];
        text = fuzz_strndup(data + start + 1, len - 1);
        /* As wire_parse() leaves a message: the content read from its text when needed. */
        if (jscan_members(text, len - 1, 16, NULL, 0, NULL) == 0)
            msg.content_text = text;
        else
            msg.content = json_object_new_object();
        snprintf(msg.msg_type, sizeof(msg.msg_type), "%s", type);
        msg.content_len = len - 1;
        if (strcmp(type, "execute_reply") == 0) {
            result_add_reply(r, &msg);
        } else if (strcmp(type, "stream") == 0 && (data[start] & 0x40)) {
            /* The way output held between executions comes in: the stream's parts, whole
             * and cut where the hold cuts them (at a character). */
            const char *name = NULL;
            char *parts = NULL;
            size_t plen = 0;
            bool live = (data[start] & 0x20) != 0;

            if (result_stream_parts(&msg, &name, &parts, &plen) == 0) {
                json_object *event = result_add_stream(r, name, parts, plen, live);
                size_t cut = plen / 2;

                check_event(event, type);
                json_object_put(event);
                while (cut > 0 && ((unsigned char)parts[cut] & 0xC0) == 0x80)
                    cut--;
                event = result_add_stream(r, name, parts, cut, live);
                check_event(event, type);
                json_object_put(event);
            }
            free(parts);
        } else if (data[start] & 0x80) {
            result_add_iopub(r, &msg);
        } else {
            json_object *event = result_add_iopub_event(r, &msg);

            check_event(event, type);
            json_object_put(event);
        }
        wire_msg_cleanup(&msg);
        free(text);
        start += len + 1;
    }
    {
        json_object *count = result_execution_count(r), *res, *attempt;

        size_t len = 0;
        char *text = result_to_text(r, NULL, -1, &len);

        json_object_put(count);
        /* The answer is written by hand around the kernel's own JSON: strictly valid JSON
         * and UTF-8 whatever the kernel sent. */
        FUZZ_CHECK(text != NULL && jscan_valid(text, len, WIRE_JSON_DEPTH + 8));
        free(text);
        res = result_to_json(r, NULL, -1);
        FUZZ_CHECK(res != NULL);
        check_result(res);
        json_object_put(res);
        attempt = result_attempt_json(r, 1, "1+1");
        FUZZ_CHECK(attempt != NULL && json_object_is_type(attempt, json_type_object));
        json_object_put(attempt);
    }
    result_free(r);
    return 0;
}
