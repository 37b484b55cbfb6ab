/*
 * text.c: hist_url_decode() (hist_text.h), one rule set for request paths,
 * query strings and form bodies, and hist_query_param() on it (the write
 * endpoints' parameters); hist_utf8_len(), one UTF-8 rule for the JSON
 * writers (the API's answers, the audit trail).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist_error.h"
#include "common/hist_text.h"

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int hist_url_decode(const char *src, size_t n, unsigned flags, char **out, size_t *out_len)
{
    *out = NULL;
    char *d = malloc(n + 1);
    if (!d)
        return HIST_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (src[i] == '+' && (flags & HIST_URL_FORM)) {
            d[k++] = ' ';
            continue;
        }
        if (src[i] != '%') {
            d[k++] = src[i];
            continue;
        }
        int hi = i + 2 < n ? hex_digit(src[i + 1]) : -1;
        int lo = i + 2 < n ? hex_digit(src[i + 2]) : -1;
        bool bad = hi < 0 || lo < 0;
        if (!(flags & HIST_URL_LENIENT) && (bad || (hi == 0 && lo == 0))) {
            free(d);
            return HIST_EINVAL;
        }
        if (bad) {
            d[k++] = '%';
            continue;
        }
        d[k++] = (char)(hi * 16 + lo);
        i += 2;
    }
    d[k] = '\0';
    *out = d;
    if (out_len)
        *out_len = k;
    return 0;
}

size_t hist_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned cp, min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

int hist_query_param(const char *query, const char *key, char **out)
{
    *out = NULL;
    size_t klen = strlen(key);
    for (const char *p = query; p && *p;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > klen && !strncmp(p, key, klen) && p[klen] == '=') {
            int rc = hist_url_decode(p + klen + 1, len - klen - 1, HIST_URL_FORM, out, NULL);
            return rc < 0 ? rc : 1;
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
}
