/*
 * buf.c: the growable text buffer of hist_buf.h.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist_array.h"
#include "common/hist_buf.h"

void hist_buf_init(hist_buf *b)
{
    memset(b, 0, sizeof *b);
}

void hist_buf_free(hist_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* Makes room for n more bytes plus the terminating NUL. */
static bool reserve(hist_buf *b, size_t n)
{
    if (b->failed)
        return false;
    if (n >= SIZE_MAX - b->len) {
        b->failed = true;
        return false;
    }
    if (HIST_ARRAY_RESERVE(b->data, b->cap, b->len + n + 1, 256) < 0) {
        b->failed = true;
        return false;
    }
    return true;
}

void hist_buf_append(hist_buf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

char *hist_buf_space(hist_buf *b, size_t n)
{
    return reserve(b, n) ? b->data + b->len : NULL;
}

void hist_buf_commit(hist_buf *b, size_t n)
{
    b->len += n;
    b->data[b->len] = '\0';
}

void hist_buf_puts(hist_buf *b, const char *s)
{
    hist_buf_append(b, s, strlen(s));
}

void hist_buf_printf(hist_buf *b, const char *fmt, ...)
{
    char small[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        hist_buf_append(b, small, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *hist_buf_take(hist_buf *b, size_t *len_out)
{
    if (b->failed) {
        hist_buf_free(b);
        return NULL;
    }
    if (!b->data && !reserve(b, 0))
        return NULL;
    char *p = b->data;
    if (len_out)
        *len_out = b->len;
    memset(b, 0, sizeof *b);
    return p;
}
