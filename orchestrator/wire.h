/* The Jupyter wire protocol, version 5.3: framing, HMAC-SHA256 signatures and header JSON.
 * Pure functions over memory: no sockets, no clocks except where a caller passes one. */
#ifndef KERNELBOX_WIRE_H
#define KERNELBOX_WIRE_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

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

/* A verified, parsed message. The json objects are owned by the message; the strings point
 * into them. */
struct wire_msg {
    json_object *header;
    json_object *parent;
    json_object *metadata;
    json_object *content;
    const char *msg_type;
    const char *msg_id;
    const char *parent_id; /* NULL when the parent header is empty */
    size_t content_len;    /* bytes of the content frame, for budgets */
    size_t nbuffers;
};

/* Make a signing key from len raw bytes. Returns NULL on failure. The caller frees it with
 * wire_key_free(), which wipes it. A key holds scratch state: sign or parse with one key on
 * one thread at a time. */
struct wire_key *wire_key_new(const uint8_t *key, size_t len);
void wire_key_free(struct wire_key *key);

/* Write the lowercase hex HMAC-SHA256 of the four parts (header, parent, metadata, content)
 * and a NUL into out. Returns 0 or -EIO. */
int wire_sign(const struct wire_key *key, const struct wire_frame parts[4],
              char out[WIRE_SIG_HEX + 1]);

/* Verify and parse the frames of one received message (identities, delimiter, signature,
 * four JSON parts, buffers). Returns 0 and fills msg; -EBADMSG when the framing or JSON is
 * malformed; -EACCES when the signature does not match. On error msg is left empty. */
int wire_parse(const struct wire_key *key, const struct wire_frame *frames, size_t nframes,
               struct wire_msg *msg);

/* Release what wire_parse() filled; safe on an empty or already cleaned message. */
void wire_msg_cleanup(struct wire_msg *msg);

/* Format a message header for msg_type into out. date is an epoch time. Returns the length,
 * or -ENOSPC when out is too small. */
int wire_header(char *out, size_t outlen, const char *msg_id, const char *session,
                const char *msg_type, double date);

/* Parse len bytes of JSON text (well-formed UTF-8, at most WIRE_JSON_DEPTH deep, nothing
 * after the value). Returns a new reference or NULL. */
json_object *wire_json_parse(const char *text, size_t len);

#endif
