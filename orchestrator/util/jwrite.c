/* Writing JSON text into a buf. */
#include "jwrite.h"

#include <string.h>

void jw_raw(struct jwrite *w, const char *s, size_t len)
{
    if (w->err == 0 && len > 0)
        w->err = buf_append(w->out, s, len);
}

void jw_string_chars(struct jwrite *w, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6];
        size_t n = 2;

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        jw_raw(w, s + run, i - run);
        run = i + 1;
        esc[0] = '\\';
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
            break;
        }
        jw_raw(w, esc, n);
    }
    jw_raw(w, s + run, len - run);
}

void jw_string(struct jwrite *w, const char *s, size_t len)
{
    jw_raw(w, "\"", 1);
    jw_string_chars(w, s, len);
    jw_raw(w, "\"", 1);
}

void jw_int(struct jwrite *w, long long v)
{
    char digits[24], *p = digits + sizeof(digits);
    /* The magnitude as unsigned: -LLONG_MIN does not fit a long long. */
    unsigned long long m = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;

    do {
        *--p = (char)('0' + m % 10);
        m /= 10;
    } while (m != 0);
    if (v < 0)
        *--p = '-';
    jw_raw(w, p, (size_t)(digits + sizeof(digits) - p));
}
