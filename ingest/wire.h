/*
 * wire.h: reading the protobuf wire format, by the rules protobuf-c 1.4
 * applies when it unpacks a message, for decode.c's WriteRequest reader
 * and sparkplug/payload.c's Sparkplug B Payload reader (nothing else
 * includes it).
 *
 * The rules, each as protobuf-c has it (its protobuf-c.c, unpack path):
 *   - a field key is a varint of at most 5 bytes; its first byte must carry
 *     a field number (0x00..0x07 are refused), though a longer key whose
 *     number is 0 is only an unknown field; the field number is the key's
 *     bits above the 3 wire-type bits, 32 of them at most;
 *   - wire types 0 (varint), 1 (8 bytes), 2 (length-delimited) and 5 (4
 *     bytes) are read or skipped; 3 and 4 (groups), 6 and 7 are refused;
 *   - a varint is at most 10 bytes; a 10th byte above 1 is accepted and its
 *     bits past the 64th are dropped (hist_varint_get() refuses that case,
 *     so wire__varint() reads 10-byte varints itself);
 *   - a length prefix is a varint of at most 5 bytes, at most INT_MAX, and
 *     the bytes it counts must all be there;
 *   - a bool is true when any byte of its encoding has a low 7-bit part
 *     that is not 0 (so a 10-byte varint 0x80 .. 0x80 0x02, whose value is
 *     0 once cut to 64 bits, is true), and a repeated bool takes a varint,
 *     an 8-byte or a 4-byte field alike.
 * Every reader takes a cursor *p and the end of its message; on success it
 * moves *p past what it read and returns 0, on failure it returns
 * HIST_EPROTO and leaves *p alone. Header-only: the decoder calls these
 * once per field and per packed element.
 */
#ifndef HIST_INGEST_WIRE_H
#define HIST_INGEST_WIRE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hist_bytes.h"
#include "common/hist_error.h"
#include "common/hist_varint.h"

enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

#define WIRE_KEY_MAX 5 /* bytes of a field key */
#define WIRE_LEN_MAX 5 /* bytes of a length prefix */

/* The varint at *p: 0 or HIST_EPROTO (cut short by end, or over 10 bytes).
 * With 10 bytes or more left it is read unrolled, without an end check a
 * byte (the elements of packed arrays, the hot loop); nearer the end
 * hist_varint_get() reads it, where a 10th byte cannot occur. */
static inline int wire__varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    const uint8_t *q = *p;
    if (end - q < HIST_VARINT_MAX)
        return hist_varint_get(p, end, v) ? HIST_EPROTO : 0;
    uint64_t x = 0;
#pragma GCC unroll 9
    for (unsigned i = 0; i < HIST_VARINT_MAX - 1; i++) {
        uint64_t b = q[i];
        x |= (b & 0x7f) << (7 * i);
        if (b < 0x80) {
            *v = x;
            *p = q + i + 1;
            return 0;
        }
    }
    uint64_t b = q[HIST_VARINT_MAX - 1];
    if (b & 0x80)
        return HIST_EPROTO; /* over 10 bytes */
    *v = x | b << 63;       /* protobuf-c drops the bits past the 64th */
    *p = q + HIST_VARINT_MAX;
    return 0;
}

/* A bool varint at *p: true when any of its bytes has low bits set. */
static inline int wire__bool(const uint8_t **p, const uint8_t *end, int64_t *b)
{
    const uint8_t *q = *p;
    size_t avail = (size_t)(end - q);
    unsigned bits = 0;
    for (size_t i = 0; i < HIST_VARINT_MAX && i < avail; i++) {
        bits |= q[i] & 0x7f;
        if (!(q[i] & 0x80)) {
            *b = bits != 0;
            *p = q + i + 1;
            return 0;
        }
    }
    return HIST_EPROTO;
}

/* A fixed-size bool field (wire types 1 and 5): n raw bytes at p. */
static inline int64_t wire__bool_fixed(const uint8_t *p, size_t n)
{
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++)
        bits |= p[i] & 0x7f;
    return bits != 0;
}

/* Counts the varints of a packed array (data, n): 0 and *count, or
 * HIST_EPROTO when one runs over 10 bytes or past the end. */
static inline int wire__count_varints(const uint8_t *data, size_t n, size_t *count)
{
    /* eight bytes at a time: a varint ends at each byte whose top bit is
     * clear; run counts the continuation bytes since the last end, across
     * words (inside a word two ends are less than 10 bytes apart) */
    const uint64_t tops = UINT64_C(0x8080808080808080);
    size_t c = 0, run = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t ends = ~hist_get_le64(data + i) & tops; /* bit 8k+7: byte k ends one */
        if (!ends) {
            if ((run += 8) >= HIST_VARINT_MAX)
                return HIST_EPROTO;
            continue;
        }
        if (run + (size_t)(__builtin_ctzll(ends) >> 3) >= HIST_VARINT_MAX)
            return HIST_EPROTO;
        c += (size_t)__builtin_popcountll(ends);
        run = (size_t)(__builtin_clzll(ends) >> 3); /* bytes after the last end */
    }
    for (; i < n; i++) {
        if (data[i] & 0x80) {
            if (++run == HIST_VARINT_MAX)
                return HIST_EPROTO;
        } else {
            c++;
            run = 0;
        }
    }
    if (run)
        return HIST_EPROTO;
    *count = c;
    return 0;
}

/* A field key at *p (p < end): its field number and wire type. */
static inline int wire__key(const uint8_t **p, const uint8_t *end, uint32_t *field, unsigned *type)
{
    const uint8_t *q = *p;
    if (q[0] < 0x80) { /* field numbers 1..15: one byte */
        if (q[0] < 0x08)
            return HIST_EPROTO; /* field number 0 */
        *field = q[0] >> 3;
        *type = q[0] & 7;
        *p = q + 1;
        return 0;
    }
    uint64_t v;
    if (hist_varint_get(&q, end, &v) != 0 || q - *p > WIRE_KEY_MAX)
        return HIST_EPROTO;
    *field = (uint32_t)(v >> 3); /* at most 35 bits: 32 of field number */
    *type = (unsigned)(v & 7);
    *p = q;
    return 0;
}

/* A length-delimited field's bytes at *p: *data and *n. */
static inline int wire__bytes(const uint8_t **p, const uint8_t *end, const uint8_t **data,
                              size_t *n)
{
    const uint8_t *q = *p;
    uint64_t v;
    if (hist_varint_get(&q, end, &v) != 0 || q - *p > WIRE_LEN_MAX || v > INT_MAX ||
        v > (uint64_t)(end - q))
        return HIST_EPROTO;
    *data = q;
    *n = (size_t)v;
    *p = q + v;
    return 0;
}

/* Skips the value of a field of wire type type (an unknown field). */
static inline int wire__skip(const uint8_t **p, const uint8_t *end, unsigned type)
{
    uint64_t v;
    const uint8_t *data;
    size_t n;
    switch (type) {
    case WIRE_VARINT:
        return wire__varint(p, end, &v);
    case WIRE_I64:
    case WIRE_I32:
        n = type == WIRE_I64 ? 8 : 4;
        if ((size_t)(end - *p) < n)
            return HIST_EPROTO;
        *p += n;
        return 0;
    case WIRE_LEN:
        return wire__bytes(p, end, &data, &n);
    default: /* groups (3, 4) and the unused 6, 7: protobuf-c refuses them */
        return HIST_EPROTO;
    }
}

#endif
