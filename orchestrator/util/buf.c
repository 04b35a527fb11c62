/* Growable byte buffer with a hard cap. */
#include "buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void buf_cleanup(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

static int grow(struct buf *b, size_t need)
{
    size_t cap = b->cap ? b->cap : 256;
    char *data;

    while (cap < need) {
        if (cap > ((size_t)-1) / 2)
            return -ENOMEM;
        cap *= 2;
    }
    if (cap > b->max + 1)
        cap = b->max + 1;
    data = realloc(b->data, cap);
    if (data == NULL)
        return -ENOMEM;
    b->data = data;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *data, size_t len)
{
    int rc;

    if (len > b->max || b->len > b->max - len)
        return -ENOSPC;
    if (b->len + len + 1 > b->cap) {
        rc = grow(b, b->len + len + 1);
        if (rc < 0)
            return rc;
    }
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

char *buf_steal(struct buf *b, size_t *len)
{
    char *data = b->data;

    if (data == NULL)
        data = calloc(1, 1);
    if (len != NULL)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return data;
}
