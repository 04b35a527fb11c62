/* The Jupyter wire protocol, version 5.3: framing, HMAC-SHA256 signatures and header JSON.
 * Pure functions over memory: no sockets, no clocks except where a caller passes one. */
#ifndef KERNELBOX_WIRE_H
#define KERNELBOX_WIRE_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/jscan.h"

#define WIRE_DELIM "<IDS|MSG>"
#define WIRE_KEY_LEN 32        /* bytes of a fresh per-kernel key (256 bits) */
#define WIRE_SIG_HEX 64        /* hex digits of an HMAC-SHA256 signature */
#define WIRE_MAX_FRAMES 64     /* identities + delimiter + 5 parts + buffers */
#define WIRE_JSON_DEPTH 64     /* nesting accepted in a kernel's JSON */
#define WIRE_PROTOCOL_VERSION "5.3"

struct wire_key;

struct wire_frame {
    const void *data;
    size_t len;
};

#define WIRE_TYPE_MAX 64   /* bytes of a msg_type kernelboxd accepts */
#define WIRE_PARENT_MAX 128 /* bytes of a parent msg_id that can be one of kernelboxd's */

/* A verified message. Its header and parent header are read by wire_parse() into the fields
 * below; its content is only checked there, and turned into json-c objects by
 * wire_msg_content() when a reader needs them (most messages are consumed by their type, or
 * by one field of their content). content_text points into the frames given to wire_parse():
 * it is valid only while they are. The metadata part is checked and never read. */
struct wire_msg {
    char msg_type[WIRE_TYPE_MAX + 1];
    char parent_id[WIRE_PARENT_MAX + 1]; /* "" when the parent header has none kernelboxd
                                          * could have sent (absent, empty, too long, NUL) */
    const char *content_text;
    size_t content_len; /* bytes of the content frame, for budgets */
    json_object *content; /* NULL until wire_msg_content() parsed it */
    size_t nbuffers;
};

/* Make a signing key from len raw bytes. Returns NULL on failure. The caller frees it with
 * wire_key_free(), which wipes it. A key is only read once made: any thread may use it. */
struct wire_key *wire_key_new(const uint8_t *key, size_t len);
void wire_key_free(struct wire_key *key);

/* Write the lowercase hex HMAC-SHA256 of the four parts (header, parent, metadata, content)
 * and a NUL into out. Returns 0. */
int wire_sign(const struct wire_key *key, const struct wire_frame parts[4],
              char out[WIRE_SIG_HEX + 1]);

/* Verify the frames of one received message (identities, delimiter, signature, four JSON
 * parts, buffers) and read its header. Returns 0 and fills msg; -EBADMSG when the framing or
 * any JSON part is malformed (each must be an object; the header needs string msg_type, of at
 * most WIRE_TYPE_MAX bytes and no NUL, and msg_id); -EACCES when the signature does not
 * match. On error msg is left empty. */
int wire_parse(const struct wire_key *key, const struct wire_frame *frames, size_t nframes,
               struct wire_msg *msg);

/* The content as json-c objects, parsed on the first call and owned by msg; NULL only when
 * memory runs out (wire_parse() has checked the text). */
json_object *wire_msg_content(struct wire_msg *msg);

/* The content's top-level member name when it is a string: unescaped into out with a NUL
 * after it. Returns its length; -ENOENT when there is no such string member; -ENOSPC when it
 * needs more than outlen - 1 bytes. Reads the text without building objects. */
ssize_t wire_msg_content_str(const struct wire_msg *msg, const char *name, char *out,
                             size_t outlen);

/* The content's top-level member name when it is an integer (no fraction, no exponent) that
 * fits in 64 bits. Returns 0 and sets *out, or -ENOENT. Reads the text without building
 * objects. */
int wire_msg_content_int(const struct wire_msg *msg, const char *name, long long *out);

/* The content's top-level members names[0..n) (n at most 16), found in its text without
 * building anything: out[i] is JSCAN_NONE for a name that is absent. Returns 0; -ENOENT,
 * every out[i] JSCAN_NONE, when the message carries no content text. */
int wire_msg_content_members(const struct wire_msg *msg, const char *const *names, size_t n,
                             struct jscan_value *out);

/* Release what wire_parse() and wire_msg_content() made; safe on an empty or already cleaned
 * message. */
void wire_msg_cleanup(struct wire_msg *msg);

/* Format a message header for msg_type into out. date is an epoch time. Returns the length,
 * or -ENOSPC when out is too small. */
int wire_header(char *out, size_t outlen, const char *msg_id, const char *session,
                const char *msg_type, double date);

/* Parse len bytes of JSON text (well-formed UTF-8, at most WIRE_JSON_DEPTH deep, nothing
 * after the value). Returns a new reference or NULL. */
json_object *wire_json_parse(const char *text, size_t len);

#endif
