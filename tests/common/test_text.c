/*
 * test_text.c: hist_url_decode() (common/hist_text.h): hex escapes in both
 * cases, '+' only for forms, malformed escapes and %00 refused (a path) or
 * kept (HIST_URL_LENIENT, the read API's parameters).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/hist_error.h"
#include "common/hist_text.h"

/* Decodes s with flags; expects rc and, when rc is 0, want (wlen bytes). */
static void expect(const char *s, unsigned flags, int rc, const char *want, size_t wlen)
{
    char *out = (char *)1;
    size_t len = 12345;
    int got = hist_url_decode(s, strlen(s), flags, &out, &len);
    CHECKF(got == rc, "%s (flags %u): rc %d, want %d", s, flags, got, rc);
    if (rc != 0) {
        CHECKF(out == NULL, "%s: out is set on an error", s);
        return;
    }
    CHECKF(out && len == wlen && !memcmp(out, want, wlen) && out[len] == '\0',
           "%s (flags %u): got \"%s\" (%zu bytes)", s, flags, out ? out : "(null)", len);
    free(out);
}

/* hist_query_param(): a key's value decoded, absent, malformed; a key
 * that is only a prefix of another key does not match it. */
static void test_query_param(void)
{
    char *v;
    CHECK(hist_query_param("db=x&precision=ms&p=a%2Bb+c", "precision", &v) == 1 &&
          !strcmp(v, "ms"));
    free(v);
    CHECK(hist_query_param("db=x&precision=ms&p=a%2Bb+c", "p", &v) == 1 && !strcmp(v, "a+b c"));
    free(v);
    CHECK(hist_query_param("pp=1&p=", "p", &v) == 1 && !strcmp(v, "")); /* empty, not absent */
    free(v);
    CHECK(hist_query_param("", "p", &v) == 0 && !v);
    CHECK(hist_query_param("prec=1", "precision", &v) == 0 && !v);
    CHECK(hist_query_param("tz=%zz", "tz", &v) == HIST_EINVAL && !v);
    CHECK(hist_query_param("a=1&&tz=UTC", "tz", &v) == 1 && !strcmp(v, "UTC"));
    free(v);
}

int main(void)
{
    test_query_param();
    const unsigned form = HIST_URL_FORM | HIST_URL_LENIENT;
    /* escapes in both cases, anywhere */
    expect("a%2Fb%2fc", 0, 0, "a/b/c", 5);
    expect("%41%62", 0, 0, "Ab", 2);
    expect("%e2%82%AC", form, 0, "\xe2\x82\xac", 3);
    expect("", 0, 0, "", 0);
    /* '+' is a space in forms only */
    expect("a+b", 0, 0, "a+b", 3);
    expect("a+b%2B", form, 0, "a b+", 4);
    /* malformed escapes: refused in a path ... */
    expect("%", 0, HIST_EINVAL, NULL, 0);
    expect("a%4", 0, HIST_EINVAL, NULL, 0);
    expect("%zz", 0, HIST_EINVAL, NULL, 0);
    expect("%4g", 0, HIST_EINVAL, NULL, 0);
    expect("/x%00y", 0, HIST_EINVAL, NULL, 0);
    /* ... kept as they are with HIST_URL_LENIENT, %00 a NUL byte */
    expect("%", form, 0, "%", 1);
    expect("100%", form, 0, "100%", 4);
    expect("%zz+%4", form, 0, "%zz %4", 6);
    expect("a%00b", form, 0, "a\0b", 3);
    /* out_len may be NULL */
    char *out = NULL;
    CHECK_OK(hist_url_decode("x%20y", 5, 0, &out, NULL));
    CHECK(out && !strcmp(out, "x y"));
    free(out);
    /* n bounds the input: an escape cut by n is malformed */
    CHECK(hist_url_decode("%41", 2, 0, &out, NULL) == HIST_EINVAL && out == NULL);
    return check_summary();
}
