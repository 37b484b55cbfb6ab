/*
 * codec.h: what every file of the chunk codecs shares (internal to
 * storage/codec/): the codec id registry, the bounded byte writer, the
 * checked byte reader and CORRUPT(), the one way a decoder says that its
 * input is malformed.
 *
 * Byte layout owned here: integers are little-endian; "varint" is unsigned
 * LEB128, at most 10 bytes and at most 64 bits (a 10th byte above 1 is
 * corrupt); zz(x) is the zigzag of a signed 64-bit x (0, -1, 1, -2, ... as
 * 0, 1, 2, 3, ...). Both are common/hist_varint.h's, shared with the WAL
 * payload and the chunk index entries.
 *
 * Writers never fail midway: a writer that runs out of room goes "bad" and
 * stays so, and the encoder drops that candidate (a candidate longer than
 * the raw column can never win). Readers return false at the end of their
 * bytes; the decoder that called them turns that into CORRUPT(r), so a
 * debug build names the check that failed, not the primitive.
 */
#ifndef HIST_STORAGE_CODEC_CODEC_H
#define HIST_STORAGE_CODEC_CODEC_H

#include "common/hist_varint.h"
#include "storage/chunk.h"

#include <stdbool.h>
#include <string.h>

/* Codec ids, as stored in the chunk header (one byte per column). The
 * numbers are the byte format: never renumber. Each body is described in
 * the file named. */
enum {
    CODEC_TS_RAW = 1,         /* ts.c */
    CODEC_TS_DELTA = 2,       /* ts.c */
    CODEC_TS_DOD = 3,         /* ts.c */
    CODEC_TS_GRID = 4,        /* ts.c */
    CODEC_TS_GRID_SPARSE = 5, /* ts.c */
    CODEC_V_RAW = 16,         /* floats.c (any value type) */
    CODEC_V_CONST = 17,       /* floats.c (any value type) */
    CODEC_V_RLE = 18,         /* floats.c (any value type) */
    CODEC_V_GORILLA = 19,     /* floats.c */
    CODEC_V_ALP_FOR = 20,     /* floats.c */
    CODEC_V_ALP_DELTA = 21,   /* floats.c */
    CODEC_V_INT_FOR = 22,     /* ints.c */
    CODEC_V_INT_DELTA = 23,   /* ints.c */
    CODEC_V_ALP_DOD = 24,     /* floats.c */
    CODEC_V_INT_DOD = 25,     /* ints.c */
    CODEC_V_INT_DFOR = 26,    /* ints.c */
    CODEC_V_ALP_LPC = 27,     /* floats.c, lpc.c */
    CODEC_V_INT_LPC = 28,     /* ints.c, lpc.c */
    CODEC_Q_CONST = 32,       /* quality.c */
    CODEC_Q_RLE = 33,         /* quality.c */
    CODEC_Q_RAW = 34,         /* quality.c */
    CODEC_PLANES = 0x40,      /* planes.c: a flag over 20..28: byte planes, not PFOR */
    CODEC_ZSTD = 0x80,        /* zstd_column.c: a flag over any of the above */
};

_Static_assert(sizeof(hist_value) == 8, "a value reaches disk as its 64 bits");

/* ---- Decode errors ---------------------------------------------------------- */

typedef struct {
    const uint8_t *p, *end;
    hist_chunk_fault *fault; /* where CORRUPT() names the failed check; may be NULL */
    chunk_decoder *dec;      /* what decoding keeps between chunks; may be NULL */
} codec_rd;

/* chunk.h's chunk_decoder: zstd's decompression context, made on first
 * use (zstd_column.c). */
struct chunk_decoder {
    struct ZSTD_DCtx_s *zstd;
};

/* CORRUPT(r) is HIST_ECORRUPT; debug builds (HIST_DEBUG_CHECKS) also write
 * the file and line of the check into r->fault, the first failure only
 * (the innermost check: callers pass the code up, they do not say it
 * again). CORRUPT_AT(fault) is the same without a reader. Use:
 * return CORRUPT(r); */
#ifdef HIST_DEBUG_CHECKS
static inline int codec__corrupt(hist_chunk_fault *fault, const char *file, int line)
{
    if (fault && !fault->file) {
        fault->file = file;
        fault->line = line;
    }
    return HIST_ECORRUPT;
}
#define CORRUPT_AT(fault) codec__corrupt((fault), __FILE__, __LINE__)
#else
#define CORRUPT_AT(fault) ((void)(fault), HIST_ECORRUPT)
#endif
#define CORRUPT(r) CORRUPT_AT((r)->fault)

/* ---- Words and integers --------------------------------------------------------- */

static inline uint64_t codec__zigzag(uint64_t x)
{
    return hist_zigzag((int64_t)x);
}

static inline uint64_t codec__unzigzag(uint64_t u)
{
    return (uint64_t)hist_unzigzag(u);
}

static inline unsigned codec__bit_length(uint64_t x)
{
    return x ? 64u - (unsigned)__builtin_clzll(x) : 0u;
}

static inline uint64_t codec__load64(const uint8_t *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    return x;
}

static inline void codec__store64(uint8_t *p, uint64_t x)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    memcpy(p, &x, 8);
}

static inline uint32_t codec__load32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void codec__store32(uint8_t *p, uint32_t x)
{
    p[0] = (uint8_t)x;
    p[1] = (uint8_t)(x >> 8);
    p[2] = (uint8_t)(x >> 16);
    p[3] = (uint8_t)(x >> 24);
}

/* ---- Writer: bounded, sticky error ---------------------------------------------- */

typedef struct {
    uint8_t *p, *end;
    int bad;                  /* set when something did not fit (or a codec declined) */
    struct ZSTD_CCtx_s *zstd; /* the encode's zstd context for byte planes; NULL: none */
    struct codec_lpc_memo *lpc; /* the column's predictor, fitted once for all its
                                 * candidates (lpc.h) */
} codec_wr;

static inline void codec__put(codec_wr *w, const void *src, size_t len)
{
    if (w->bad || (size_t)(w->end - w->p) < len) {
        w->bad = 1;
        return;
    }
    memcpy(w->p, src, len);
    w->p += len;
}

static inline void codec__put_u8(codec_wr *w, uint8_t x)
{
    codec__put(w, &x, 1);
}

static inline void codec__put_u32(codec_wr *w, uint32_t x)
{
    uint8_t b[4];
    codec__store32(b, x);
    codec__put(w, b, 4);
}

static inline void codec__put_u64(codec_wr *w, uint64_t x)
{
    uint8_t b[8];
    codec__store64(b, x);
    codec__put(w, b, 8);
}

static inline void codec__put_varint(codec_wr *w, uint64_t x)
{
    uint8_t b[HIST_VARINT_MAX];
    codec__put(w, b, (size_t)(hist_varint_put(b, x) - b));
}

/* n words as n x u64: the raw timestamp and value columns. */
static inline void codec__put_u64s(codec_wr *w, const uint64_t *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        codec__put_u64(w, x[i]);
}

/* ---- Reader: every read checked against the end ---------------------------------- */

static inline bool codec__get_u8(codec_rd *r, uint8_t *x)
{
    if (r->p >= r->end)
        return false;
    *x = *r->p++;
    return true;
}

static inline bool codec__get_u64(codec_rd *r, uint64_t *x)
{
    if (r->end - r->p < 8)
        return false;
    *x = codec__load64(r->p);
    r->p += 8;
    return true;
}

static inline bool codec__get_varint(codec_rd *r, uint64_t *x)
{
    return hist_varint_get(&r->p, r->end, x) == 0;
}

/* A varint count that must be 1..max: a number of runs, a run's length. */
static inline bool codec__get_count(codec_rd *r, uint64_t max, uint64_t *x)
{
    return codec__get_varint(r, x) && *x != 0 && *x <= max;
}

/* The next n items of size bytes each (skipped), or NULL if fewer remain. */
static inline const uint8_t *codec__take(codec_rd *r, size_t n, size_t size)
{
    if ((size_t)(r->end - r->p) / size < n)
        return NULL;
    const uint8_t *p = r->p;
    r->p += n * size;
    return p;
}

#endif
