/* Strict JSON parsing for text from outside. */
#include "json.h"

#include <stdbool.h>
#include <stdint.h>

#include "text.h"

static bool only_space(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return false;
    }
    return true;
}

json_object *json_parse_strict(const char *text, size_t len, int depth)
{
    json_tokener *tok;
    json_object *obj;
    size_t end;

    /* json-c's own UTF-8 check lets overlongs, surrogates and values above U+10FFFF through. */
    if (len > (size_t)INT32_MAX || !utf8_valid(text, len))
        return NULL;
    tok = json_tokener_new_ex(depth);
    if (tok == NULL)
        return NULL;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    /* A value cut short leaves the tokener waiting for more (json_tokener_continue) and
     * returns NULL, so truncated text is refused like any other malformed text. */
    obj = json_tokener_parse_ex(tok, text, (int)len);
    if (obj != NULL) {
        end = json_tokener_get_parse_end(tok);
        if (json_tokener_get_error(tok) != json_tokener_success || end > len ||
            !only_space(text + end, len - end)) {
            json_object_put(obj);
            obj = NULL;
        }
    } else if (json_tokener_get_error(tok) == json_tokener_continue) {
        /* A number or literal at the very end (as in "5") cannot know it is complete: one NUL
         * byte tells the tokener the text is over. All of text was consumed already. */
        obj = json_tokener_parse_ex(tok, "", 1);
        if (obj != NULL && json_tokener_get_error(tok) != json_tokener_success) {
            json_object_put(obj);
            obj = NULL;
        }
    }
    json_tokener_free(tok);
    return obj;
}
