/*
 * pbw.h: a protobuf wire-format writer for tests and benches that build
 * WriteRequest bytes by hand, field by field, in any encoding: packed or
 * unpacked arrays, repeated or split fields, unknown fields of any wire
 * type, broken varints and lengths. Nothing checks what is written.
 *
 * Header-only; one growable buffer (pbw), abort() when memory runs out.
 */
#ifndef HIST_TESTS_PBW_H
#define HIST_TESTS_PBW_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist_varint.h"

typedef struct {
    uint8_t *p;
    size_t len, cap;
} pbw;

static inline void pbw_raw(pbw *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *grown = realloc(b->p, cap);
        if (!grown)
            abort();
        b->p = grown;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
}

static inline void pbw_byte(pbw *b, uint8_t x)
{
    pbw_raw(b, &x, 1);
}

static inline void pbw_varint(pbw *b, uint64_t x)
{
    uint8_t tmp[HIST_VARINT_MAX];
    pbw_raw(b, tmp, (size_t)(hist_varint_put(tmp, x) - tmp));
}

static inline void pbw_key(pbw *b, uint64_t field, unsigned wire_type)
{
    pbw_varint(b, field << 3 | wire_type);
}

/* field = varint x (wire type 0) */
static inline void pbw_uint(pbw *b, uint64_t field, uint64_t x)
{
    pbw_key(b, field, 0);
    pbw_varint(b, x);
}

static inline void pbw_sint(pbw *b, uint64_t field, int64_t x)
{
    pbw_uint(b, field, hist_zigzag(x));
}

/* field = 8 bytes (wire type 1), little-endian */
static inline void pbw_fixed64(pbw *b, uint64_t field, uint64_t x)
{
    uint8_t t[8];
    for (int i = 0; i < 8; i++)
        t[i] = (uint8_t)(x >> (8 * i));
    pbw_key(b, field, 1);
    pbw_raw(b, t, 8);
}

static inline void pbw_double(pbw *b, uint64_t field, double x)
{
    uint64_t u;
    memcpy(&u, &x, 8);
    pbw_fixed64(b, field, u);
}

/* field = 4 bytes (wire type 5) */
static inline void pbw_fixed32(pbw *b, uint64_t field, uint32_t x)
{
    uint8_t t[4];
    for (int i = 0; i < 4; i++)
        t[i] = (uint8_t)(x >> (8 * i));
    pbw_key(b, field, 5);
    pbw_raw(b, t, 4);
}

/* field = length-delimited bytes (wire type 2) */
static inline void pbw_bytes(pbw *b, uint64_t field, const void *data, size_t n)
{
    pbw_key(b, field, 2);
    pbw_varint(b, n);
    pbw_raw(b, data, n);
}

static inline void pbw_str(pbw *b, uint64_t field, const char *s)
{
    pbw_bytes(b, field, s, strlen(s));
}

/* A message built in m, appended as field of b; m is emptied. */
static inline void pbw_msg(pbw *b, uint64_t field, pbw *m)
{
    pbw_bytes(b, field, m->p, m->len);
    m->len = 0;
}

/* Packed arrays (wire type 2). */
static inline void pbw_packed_sint(pbw *b, uint64_t field, const int64_t *x, size_t n)
{
    pbw body = {0};
    for (size_t i = 0; i < n; i++)
        pbw_varint(&body, hist_zigzag(x[i]));
    pbw_bytes(b, field, body.p, body.len);
    free(body.p);
}

static inline void pbw_packed_uint(pbw *b, uint64_t field, const uint64_t *x, size_t n)
{
    pbw body = {0};
    for (size_t i = 0; i < n; i++)
        pbw_varint(&body, x[i]);
    pbw_bytes(b, field, body.p, body.len);
    free(body.p);
}

static inline void pbw_packed_double(pbw *b, uint64_t field, const double *x, size_t n)
{
    pbw_bytes(b, field, x, n * 8); /* little-endian hosts only, as the project is */
}

static inline void pbw_free(pbw *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

#endif
