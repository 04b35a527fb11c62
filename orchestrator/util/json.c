/* Strict JSON parsing for text from outside. */
#include "json.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "text.h"

static bool only_space(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return false;
    }
    return true;
}

/* Tokeners per thread, kept between parses: making one costs more than most of the texts
 * a kernel sends (a zeroed parse stack of `depth` levels and a buffer). One per depth in use,
 * since one execute parses request bodies and kernel messages, which have different caps. */
#define CACHED_DEPTHS 4

struct cached_tokeners {
    json_tokener *tok[CACHED_DEPTHS];
    int depth[CACHED_DEPTHS];
    unsigned next; /* the slot a new depth takes when all are used */
};

static pthread_key_t tokener_key;
static pthread_once_t tokener_once = PTHREAD_ONCE_INIT;
static bool tokener_key_ok;

static void free_cached(void *p)
{
    struct cached_tokeners *c = p;

    for (int i = 0; i < CACHED_DEPTHS; i++) {
        if (c->tok[i] != NULL)
            json_tokener_free(c->tok[i]); /* json-c's free does not take NULL */
    }
    free(c);
}

static void make_key(void)
{
    tokener_key_ok = pthread_key_create(&tokener_key, free_cached) == 0;
}

static struct cached_tokeners *thread_cache(void)
{
    struct cached_tokeners *c;

    pthread_once(&tokener_once, make_key);
    if (!tokener_key_ok)
        return NULL;
    c = pthread_getspecific(tokener_key);
    if (c == NULL) {
        c = calloc(1, sizeof(*c));
        if (c == NULL || pthread_setspecific(tokener_key, c) != 0) {
            free(c);
            return NULL;
        }
    }
    return c;
}

/* This thread's slot for depth: the one holding it, else an empty one, else the next in
 * turn. -1 without a cache. */
static int slot_of(struct cached_tokeners *c, int depth)
{
    int empty = -1;

    for (int i = 0; i < CACHED_DEPTHS; i++) {
        if (c->tok[i] != NULL && c->depth[i] == depth)
            return i;
        if (c->tok[i] == NULL && empty < 0)
            empty = i;
    }
    if (empty >= 0)
        return empty;
    return (int)(c->next++ % CACHED_DEPTHS);
}

/* A reset tokener of the given depth for this thread, or NULL. Not to be freed. */
static json_tokener *thread_tokener(int depth)
{
    struct cached_tokeners *c = thread_cache();
    int i;

    if (c == NULL)
        return NULL;
    i = slot_of(c, depth);
    if (c->tok[i] == NULL || c->depth[i] != depth) {
        if (c->tok[i] != NULL)
            json_tokener_free(c->tok[i]);
        c->tok[i] = json_tokener_new_ex(depth);
        c->depth[i] = depth;
        if (c->tok[i] == NULL)
            return NULL;
        /* utf8_valid() has checked the text already, more strictly than json-c would. */
        json_tokener_set_flags(c->tok[i], JSON_TOKENER_STRICT);
    }
    json_tokener_reset(c->tok[i]);
    return c->tok[i];
}

/* json_tokener_reset() leaves some of a failed parse's state behind (a pending \uD800-\uDBFF
 * escape, which the next text's first \u escape would be decoded against): after a failure
 * this thread starts again from a new tokener. Failures are rare; one text from one client
 * must not change how another client's text reads. */
static void drop_thread_tokener(json_tokener *tok)
{
    struct cached_tokeners *c = tokener_key_ok ? pthread_getspecific(tokener_key) : NULL;

    for (int i = 0; c != NULL && i < CACHED_DEPTHS; i++) {
        if (c->tok[i] == tok) {
            json_tokener_free(tok);
            c->tok[i] = NULL;
        }
    }
}

json_object *json_parse_strict(const char *text, size_t len, int depth)
{
    /* json-c's own UTF-8 check lets overlongs, surrogates and values above U+10FFFF through. */
    if (!utf8_valid(text, len))
        return NULL;
    return json_parse_valid_utf8(text, len, depth);
}

json_object *json_parse_valid_utf8(const char *text, size_t len, int depth)
{
    json_tokener *tok;
    json_object *obj;
    size_t end;

    if (len > (size_t)INT32_MAX)
        return NULL;
    /* The most common text of all (Jupyter's empty metadata and parent headers). */
    if (len == 2 && text[0] == '{' && text[1] == '}' && depth >= 1)
        return json_object_new_object();
    tok = thread_tokener(depth);
    if (tok == NULL)
        return NULL;
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
    json_tokener_reset(tok); /* let go of a partly built value now, not at the next parse */
    if (obj == NULL)
        drop_thread_tokener(tok);
    return obj;
}
