/*
 * hist_text.h: text that arrives encoded, decoded by one checked rule set.
 *
 * hist_url_decode() percent-decodes a URL part. Its rules:
 *   - "%XX" with two hex digits, either case ("%2f" and "%2F"), is the byte
 *     0xXX;
 *   - with HIST_URL_FORM, '+' is a space (query strings and form bodies,
 *     application/x-www-form-urlencoded); without it '+' stays '+' (a path);
 *   - a '%' not followed by two hex digits, and "%00" (a NUL would cut
 *     the C string short), are malformed: HIST_EINVAL, nothing returned;
 *   - with HIST_URL_LENIENT a malformed '%' is kept as it is and "%00"
 *     gives a NUL byte (counted in *out_len), for callers that always
 *     accepted such text (the read API's parameters);
 *   - every other byte is copied as it is.
 *
 * hist_utf8_len() measures one UTF-8 sequence by RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF (what JSON writers need to
 * pass text through or replace it).
 */
#ifndef HIST_COMMON_TEXT_H
#define HIST_COMMON_TEXT_H

#include <stddef.h>

enum {
    HIST_URL_FORM = 1u,    /* '+' is a space */
    HIST_URL_LENIENT = 2u, /* malformed escapes are kept, not refused */
};

/* Decodes src[0..n) into a new malloc'd, NUL-terminated *out (its length,
 * without the NUL, in *out_len when out_len is not NULL). Returns 0,
 * HIST_EINVAL (malformed, see above) or HIST_ENOMEM; *out is NULL then. */
int hist_url_decode(const char *src, size_t n, unsigned flags, char **out, size_t *out_len);

/* The value of key in a query string ("a=1&b=2", undecoded), decoded with
 * HIST_URL_FORM into a new malloc'd *out: 1; 0 when key is absent (*out
 * NULL); HIST_EINVAL (malformed) or HIST_ENOMEM. */
int hist_query_param(const char *query, const char *key, char **out);

/* Bytes of the one valid UTF-8 sequence at s (n >= 1 bytes there; 1 for
 * ASCII), or 0 when the bytes there are not one. */
size_t hist_utf8_len(const unsigned char *s, size_t n);

#endif
