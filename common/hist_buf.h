/*
 * hist_buf.h: a growable text buffer, the one every writer of text uses
 * (the HTTP read API's JSON and CSV answers, the /metrics page).
 *
 * The data is NUL-terminated whenever it is not failed. Errors are sticky:
 * after an allocation failure every call is a no-op and hist_buf.failed is
 * set; check it once at the end (hist_buf_take() returns NULL then).
 */
#ifndef HIST_COMMON_BUF_H
#define HIST_COMMON_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *data; /* NUL-terminated when not failed */
    size_t len, cap;
    bool failed;
} hist_buf;

void hist_buf_init(hist_buf *b);
void hist_buf_free(hist_buf *b);
void hist_buf_append(hist_buf *b, const char *s, size_t n);
void hist_buf_puts(hist_buf *b, const char *s);
void hist_buf_printf(hist_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the data over (malloc'd, NUL-terminated); the buffer is empty after.
 * NULL when the buffer failed (it is freed then) or is out of memory. */
char *hist_buf_take(hist_buf *b, size_t *len_out);
/* Room for n more bytes at the end (NULL when out of memory), then how
 * many of them were written. */
char *hist_buf_space(hist_buf *b, size_t n);
void hist_buf_commit(hist_buf *b, size_t n);

#endif
