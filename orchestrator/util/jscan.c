/* A strict JSON scanner over memory: validation and member lookup without allocating. */
#include "jscan.h"

#include <errno.h>
#include <stdint.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* The longest member name jscan_members() looks for, unescaped; longer keys cannot match. */
#define JSCAN_NAME_MAX 64

struct scan {
    const unsigned char *p;
    const unsigned char *end;
    int depth; /* containers that may still be opened */
};

static bool value(struct scan *s, struct jscan_value *out);

static void skip_space(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits at p (which has at least four bytes) as a number, or -1. */
static long hex4(const unsigned char *p)
{
    long v = 0;

    for (int i = 0; i < 4; i++) {
        int d = hex_digit(p[i]);

        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Bytes that stand for themselves inside a string: printable ASCII but '"' and '\\'. */
static bool plain_byte(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* Whether the eight bytes at p are all plain, tested at once: none below 0x20 or above 0x7F,
 * none a '"' or a '\\' (the exact "has a byte less than n" and "has a zero byte" tests). */
static bool plain8(const unsigned char *p)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
    uint64_t x, quote, bslash, ctrl;

    memcpy(&x, p, sizeof(x));
    ctrl = (x - ones * 0x20) & ~x;
    quote = x ^ (ones * '"');
    quote = (quote - ones) & ~quote;
    bslash = x ^ (ones * '\\');
    bslash = (bslash - ones) & ~bslash;
    return ((ctrl | quote | bslash | x) & highs) == 0;
}

#ifdef __SSE2__
/* The bytes of the sixteen at p that are not plain, as a mask (bit i for p[i]): a '"', a
 * '\\', or below 0x20 or from 0x80 up (both are below 0x20 as signed bytes). */
static unsigned special16(const unsigned char *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i quote = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
    __m128i backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
    __m128i other = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));

    return (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), other));
}
#endif

/* A string, s->p at its opening quote. Sets *escaped when it holds a backslash. */
static bool string(struct scan *s, bool *escaped)
{
    *escaped = false;
    s->p++;
    while (s->p < s->end) {
        unsigned char c;
        size_t n;

#ifdef __SSE2__
        /* The common case, plain text: sixteen bytes at a time, to the first that is not. */
        while (s->end - s->p >= 16) {
            unsigned special = special16(s->p);

            if (special != 0) {
                s->p += __builtin_ctz(special);
                break;
            }
            s->p += 16;
        }
#endif
        while (s->end - s->p >= 8 && plain8(s->p))
            s->p += 8; /* eight bytes at a time */
        while (s->p < s->end && plain_byte(*s->p))
            s->p++;
        if (s->p >= s->end)
            break;
        c = *s->p;
        if (c == '"') {
            s->p++;
            return true;
        }
        if (c == '\\') {
            *escaped = true;
            if (s->end - s->p < 2)
                return false;
            switch (s->p[1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                s->p += 2;
                continue;
            case 'u':
                if (s->end - s->p < 6 || hex4(s->p + 2) < 0)
                    return false;
                s->p += 6;
                continue;
            default:
                return false;
            }
        }
        if (c < 0x20)
            return false; /* control characters must be escaped */
        n = utf8_seq(s->p, (size_t)(s->end - s->p));
        if (n == 0)
            return false;
        s->p += n;
    }
    return false;
}

static bool digits(struct scan *s)
{
    const unsigned char *start = s->p;

    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > start;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool number(struct scan *s)
{
    if (s->p < s->end && *s->p == '-')
        s->p++;
    if (s->p >= s->end)
        return false;
    if (*s->p == '0')
        s->p++;
    else if (!digits(s))
        return false;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (!digits(s))
            return false;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (!digits(s))
            return false;
    }
    return true;
}

static bool literal(struct scan *s, const char *word, size_t len)
{
    if ((size_t)(s->end - s->p) < len || memcmp(s->p, word, len) != 0)
        return false;
    s->p += len;
    return true;
}

/* The names jscan_members() looks for, and where their values go. */
struct lookup {
    const char *const *names;
    const size_t *name_len;
    size_t n;
    struct jscan_value *out;
    size_t count; /* members seen */
};

/* Whether the key (a string value, quotes included) unescapes to name. */
static bool key_is(const struct jscan_value *key, bool escaped, const char *name, size_t name_len)
{
    char buf[JSCAN_NAME_MAX + 1];
    ssize_t n;

    if (!escaped)
        return key->len == name_len + 2 && memcmp(key->text + 1, name, name_len) == 0;
    n = jscan_string(key, buf, sizeof(buf));
    return n >= 0 && (size_t)n == name_len && memcmp(buf, name, name_len) == 0;
}

/* One "name": value member at s->p. With want, the value of a wanted name is recorded. */
static bool member(struct scan *s, struct lookup *want)
{
    struct jscan_value key = {JSCAN_STRING, (const char *)s->p, 0}, val;
    bool escaped;

    if (s->p >= s->end || *s->p != '"' || !string(s, &escaped))
        return false;
    key.len = (size_t)((const char *)s->p - key.text);
    skip_space(s);
    if (s->p >= s->end || *s->p != ':')
        return false;
    s->p++;
    skip_space(s);
    if (!value(s, &val))
        return false;
    if (want != NULL)
        want->count++;
    for (size_t i = 0; want != NULL && i < want->n; i++) {
        if (key_is(&key, escaped, want->names[i], want->name_len[i]))
            want->out[i] = val;
    }
    return true;
}

/* An object or an array at s->p, nested within the depth cap. want applies to the members
 * of this object only, not to those of objects inside it. */
static bool container(struct scan *s, struct lookup *want)
{
    const unsigned char close = *s->p == '{' ? '}' : ']';
    bool ok;

    if (s->depth <= 0)
        return false;
    s->depth--;
    s->p++;
    skip_space(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        s->depth++;
        return true;
    }
    for (;;) {
        ok = close == '}' ? member(s, want) : value(s, NULL);
        if (!ok)
            break;
        skip_space(s);
        ok = s->p < s->end && (*s->p == close || *s->p == ',');
        if (!ok || *s->p++ == close)
            break;
        skip_space(s);
    }
    s->depth++;
    return ok;
}

/* One value at s->p (no leading space); out, when given, gets its type and text. */
static bool value(struct scan *s, struct jscan_value *out)
{
    const unsigned char *start = s->p;
    enum jscan_type type;
    bool ok, escaped;

    if (s->p >= s->end)
        return false;
    switch (*s->p) {
    case '{':
    case '[':
        type = *s->p == '{' ? JSCAN_OBJECT : JSCAN_ARRAY;
        ok = container(s, NULL);
        break;
    case '"':
        type = JSCAN_STRING;
        ok = string(s, &escaped);
        break;
    case 't':
        type = JSCAN_TRUE;
        ok = literal(s, "true", 4);
        break;
    case 'f':
        type = JSCAN_FALSE;
        ok = literal(s, "false", 5);
        break;
    case 'n':
        type = JSCAN_NULL;
        ok = literal(s, "null", 4);
        break;
    default:
        type = JSCAN_NUMBER;
        ok = number(s);
        break;
    }
    if (ok && out != NULL) {
        out->type = type;
        out->text = (const char *)start;
        out->len = (size_t)(s->p - start);
    }
    return ok;
}

bool jscan_valid(const char *text, size_t len, int depth)
{
    struct scan s = {(const unsigned char *)text, (const unsigned char *)text + len, depth};

    skip_space(&s);
    if (!value(&s, NULL))
        return false;
    skip_space(&s);
    return s.p == s.end;
}

int jscan_members_counted(const char *text, size_t len, int depth, const char *const *names,
                          size_t n, struct jscan_value *out, size_t *count)
{
    struct scan s = {(const unsigned char *)text, (const unsigned char *)text + len, depth};
    size_t name_len[16];
    struct lookup want = {names, name_len, n, out, 0};

    if (n > sizeof(name_len) / sizeof(name_len[0]))
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        out[i].type = JSCAN_NONE;
        out[i].text = NULL;
        out[i].len = 0;
        name_len[i] = strlen(names[i]);
    }
    skip_space(&s);
    if (s.p >= s.end || *s.p != '{') {
        /* Valid JSON of another kind, or not JSON at all. */
        return jscan_valid(text, len, depth) ? -EINVAL : -EBADMSG;
    }
    if (!container(&s, &want))
        return -EBADMSG;
    skip_space(&s);
    if (s.p != s.end)
        return -EBADMSG;
    if (count != NULL)
        *count = want.count;
    return 0;
}

int jscan_members(const char *text, size_t len, int depth, const char *const *names, size_t n,
                  struct jscan_value *out)
{
    return jscan_members_counted(text, len, depth, names, n, out, NULL);
}

ssize_t jscan_elements(const char *text, size_t len, int depth, struct jscan_value *out,
                       size_t max)
{
    struct scan s = {(const unsigned char *)text, (const unsigned char *)text + len, depth - 1};
    size_t count = 0;

    skip_space(&s);
    if (s.p >= s.end || *s.p != '[')
        return jscan_valid(text, len, depth) ? -EINVAL : -EBADMSG;
    if (depth <= 0)
        return -EBADMSG;
    s.p++;
    skip_space(&s);
    if (s.p < s.end && *s.p == ']') {
        s.p++;
    } else {
        for (;;) {
            struct jscan_value v;

            if (!value(&s, &v))
                return -EBADMSG;
            if (count < max)
                out[count] = v;
            count++;
            skip_space(&s);
            if (s.p >= s.end)
                return -EBADMSG;
            if (*s.p++ == ']')
                break;
            if (s.p[-1] != ',')
                return -EBADMSG;
            skip_space(&s);
        }
    }
    skip_space(&s);
    return s.p == s.end ? (ssize_t)count : -EBADMSG;
}

int jscan_int(const struct jscan_value *v, long long *out)
{
    char digits[24];
    char *end;
    long long n;

    /* An integer as JSON writes one: an optional '-' and digits (the scan checked the form). */
    if (v->type != JSCAN_NUMBER || v->len >= sizeof(digits) ||
        memchr(v->text, '.', v->len) != NULL || memchr(v->text, 'e', v->len) != NULL ||
        memchr(v->text, 'E', v->len) != NULL)
        return -EINVAL;
    memcpy(digits, v->text, v->len);
    digits[v->len] = '\0';
    errno = 0;
    n = strtoll(digits, &end, 10);
    if (errno != 0 || *end != '\0')
        return -EINVAL;
    *out = n;
    return 0;
}

/* Append code point cp as UTF-8 at out[*pos], within outlen - 1 bytes. */
static bool put_utf8(char *out, size_t outlen, size_t *pos, uint32_t cp)
{
    unsigned char b[4];
    size_t n;

    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | (cp >> 6));
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | (cp >> 12));
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (unsigned char)(0xF0 | (cp >> 18));
        b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    if (*pos + n >= outlen)
        return false;
    memcpy(out + *pos, b, n);
    *pos += n;
    return true;
}

ssize_t jscan_string(const struct jscan_value *v, char *out, size_t outlen)
{
    const unsigned char *p, *end;
    size_t pos = 0;

    if (v->type != JSCAN_STRING || v->len < 2 || outlen == 0)
        return v->type != JSCAN_STRING || v->len < 2 ? -EINVAL : -ENOSPC;
    /* The value was checked when it was scanned: between the quotes, only valid escapes. */
    p = (const unsigned char *)v->text + 1;
    end = (const unsigned char *)v->text + v->len - 1;
    while (p < end) {
        const unsigned char *run = p;
        uint32_t cp;

        while (p < end && *p != '\\')
            p++;
        if (p > run) {
            size_t n = (size_t)(p - run);

            if (pos + n >= outlen)
                return -ENOSPC;
            memcpy(out + pos, run, n);
            pos += n;
            continue;
        }
        switch (p[1]) {
        case 'b':
            cp = '\b';
            break;
        case 'f':
            cp = '\f';
            break;
        case 'n':
            cp = '\n';
            break;
        case 'r':
            cp = '\r';
            break;
        case 't':
            cp = '\t';
            break;
        case 'u':
            cp = (uint32_t)hex4(p + 2);
            if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 12 && p[6] == '\\' && p[7] == 'u') {
                long low = hex4(p + 8);

                if (low >= 0xDC00 && low <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (uint32_t)(low - 0xDC00);
                    p += 6;
                }
            }
            if (cp >= 0xD800 && cp <= 0xDFFF)
                cp = 0xFFFD;
            p += 4;
            break;
        default: /* '"', '\\', '/' */
            cp = p[1];
            break;
        }
        p += 2;
        if (!put_utf8(out, outlen, &pos, cp))
            return -ENOSPC;
    }
    out[pos] = '\0';
    return (ssize_t)pos;
}

char *jscan_string_dup(const struct jscan_value *v, size_t *len)
{
    char *out;
    ssize_t n;

    if (v->type != JSCAN_STRING)
        return NULL;
    out = malloc(v->len + 1); /* unescaping never lengthens a string */
    if (out == NULL)
        return NULL;
    n = jscan_string(v, out, v->len + 1);
    if (n < 0) {
        free(out);
        return NULL;
    }
    *len = (size_t)n;
    return out;
}
