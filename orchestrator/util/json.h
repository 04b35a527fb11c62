/* Strict JSON parsing for text from outside: well-formed UTF-8, a depth cap, one value. */
#ifndef KERNELBOX_UTIL_JSON_H
#define KERNELBOX_UTIL_JSON_H

#include <json-c/json.h>
#include <stddef.h>

/* Parse len bytes holding exactly one JSON value (surrounding whitespace allowed), nested at
 * most depth levels as json-c counts them (every value on the way down, a scalar inside the
 * deepest container included: jscan's depth counts containers only, one fewer), with valid
 * UTF-8. Returns a new reference or NULL. */
json_object *json_parse_strict(const char *text, size_t len, int depth);

/* json_parse_strict() for text already known to be well-formed UTF-8 (checked by
 * jscan_valid(), say), which it does not check again. */
json_object *json_parse_valid_utf8(const char *text, size_t len, int depth);

#endif
