/*
 * chunk.c: the chunk format (see storage/chunk.h): one tag's sorted
 * samples in, a self-contained byte string out, and back, bit-exactly.
 * This file owns the header and the column layout, picks each column's
 * codec and checks the header before any codec reads a byte; the codecs
 * are in the files of their families (ts.c, floats.c, ints.c, quality.c,
 * on bits.c; zstd_column.c wraps any of them).
 *
 * Every timestamp and value codec that applies is tried; the smallest
 * wins, per chunk and column (a tie goes to the one tried first). The
 * integer transforms are tried with both packings, PFOR and byte planes.
 * Then zstd is tried over the winning body (not over planes) and kept
 * only where it halves it.
 * Decoding checks every length, count and codec id against the buffer:
 * chunk__decode() never reads or writes out of bounds, whatever the
 * input, and reports HIST_ECORRUPT; decoded timestamps are checked to be
 * strictly increasing and bools to be 0 or 1, so a caller can rely on both.
 *
 * Speed: decoding is fixed-width bit unpacking plus one pass per column;
 * no allocation except for zstd columns. Encoding tries every candidate
 * (several passes and two scratch buffers per chunk): it is the slow side,
 * paid once per chunk by the sealer. bench/bench_codec.c measures both.
 *
 * Byte format (all integers little-endian):
 *
 *   header, 28 bytes
 *     0  "HCK1"
 *     4  u8  version (1)
 *     5  u8  type (hist_type: 1 float64, 2 int64, 3 bool)
 *     6  u8  ts codec      7 u8 value codec      8 u8 quality codec
 *     9  u8[3] zero
 *     12 u32 count (>= 1: a chunk is never empty, encode of 0 samples is
 *            HIST_EINVAL)
 *     16 u32 ts bytes      20 u32 value bytes    24 u32 quality bytes
 *   then the three column bodies, back to back; the chunk is exactly
 *   28 + ts + value + quality bytes long, and each codec must use every
 *   byte of its column.
 *
 *   Codec ids (the registry is in codec.h; each body's layout is in the
 *   top comment of the file named):
 *     timestamps  1 raw, 2 delta, 3 dod, 4 grid, 5 grid_sparse     ts.c
 *     values      16 raw, 17 const, 18 rle (any type)              floats.c
 *                 19 gorilla, 20 alp_for, 21 alp_delta, 24 alp_dod,
 *                 27 alp_lpc (float64)                            floats.c
 *                 22 int_for, 23 int_delta, 25 int_dod, 26 int_dfor,
 *                 28 int_lpc (int64 and bool)                       ints.c
 *     quality     32 const, 33 rle, 34 raw                       quality.c
 *     | 0x40      byte planes in place of PFOR, over 20..28 only   planes.c
 *     | 0x80      zstd over that body (never with 0x40)      zstd_column.c
 *
 * Chunk sizes: a column length is a u32, so a chunk holds at most
 * HIST_CHUNK_MAX_SAMPLES samples (raw columns must fit).
 */
#include "storage/chunk.h"

#include "storage/codec/codec.h"
#include "storage/codec/floats.h"
#include "storage/codec/ints.h"
#include "storage/codec/lpc.h"
#include "storage/codec/planes.h"
#include "storage/codec/quality.h"
#include "storage/codec/ts.h"
#include "storage/codec/zstd_column.h"

#include <stdlib.h>
#include <zstd.h>

#define CHUNK_MAGIC   "HCK1"
#define CHUNK_VERSION 1

/* Header field offsets. */
enum {
    HDR_MAGIC = 0,
    HDR_VERSION = 4,
    HDR_TYPE = 5,
    HDR_CODECS = 6, /* ts, value, quality: u8 each */
    HDR_ZERO = 9,   /* 3 bytes */
    HDR_COUNT = 12,
    HDR_LENS = 16, /* ts, value, quality: u32 each */
    CHUNK_HEADER = 28,
};

_Static_assert(HDR_CODECS + 3 == HDR_ZERO && HDR_ZERO + 3 == HDR_COUNT &&
                   HDR_COUNT + 4 == HDR_LENS && HDR_LENS + 3 * 4 == CHUNK_HEADER,
               "the header is 28 bytes, its fields back to back");
_Static_assert(8 * (uint64_t)HIST_CHUNK_MAX_SAMPLES + 64 <= UINT32_MAX,
               "a raw column (and an encoder buffer) fits a u32 length");

enum { COL_TS, COL_VALUE, COL_QUALITY };

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The value codecs that are an integer transform over PFOR, in the order
 * the encoder tries them (ties go to the first). */
typedef struct {
    uint8_t codec;
    codec_int_order order;
} ordered_codec;

/* float64 */
static const ordered_codec alp_codecs[] = {
    {CODEC_V_ALP_FOR, CODEC_INT_FOR},
    {CODEC_V_ALP_DELTA, CODEC_INT_DELTA},
    {CODEC_V_ALP_DOD, CODEC_INT_DOD},
    {CODEC_V_ALP_LPC, CODEC_INT_LPC},
};
/* int64, bool */
static const ordered_codec int_codecs[] = {
    {CODEC_V_INT_FOR, CODEC_INT_FOR}, {CODEC_V_INT_DELTA, CODEC_INT_DELTA},
    {CODEC_V_INT_DOD, CODEC_INT_DOD}, {CODEC_V_INT_DFOR, CODEC_INT_DFOR},
    {CODEC_V_INT_LPC, CODEC_INT_LPC},
};

/* The entry of codec in table t of n, or NULL. */
static const ordered_codec *find_ordered(const ordered_codec *t, size_t n, uint8_t codec)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].codec == codec)
            return &t[i];
    return NULL;
}

/* ---- Encoder: candidates, the smallest wins --------------------------------------- */

/* The packings an integer transform is tried with: PFOR always; byte
 * planes from PLANES_MIN_SAMPLES on (below it zstd's frame and table
 * overhead, tens of bytes a plane, eats the gain), when they save more
 * than 1/PLANES_HANDICAP (enc_offer). */
#define PLANES_MIN_SAMPLES 256
#define PLANES_HANDICAP    31

typedef struct {
    uint8_t *best, *cand;
    size_t cap, best_len, best_cost; /* cost: what enc_offer() compares */
    uint8_t best_codec;
    uint64_t *tmp;  /* n scratch words */
    int64_t *ks;    /* n scratch ints (ALP digits) */
    ZSTD_CCtx *zstd; /* the byte planes' context for every column, made once per encode
                      * (its set-up runs cpuid, which a virtual machine traps); NULL:
                      * no planes (CHUNK_NO_ZSTD, a short chunk) */
    codec_lpc_memo lpc; /* the column's predictor, shared by its two packings */
    bool frozen;        /* CHUNK_NO_ZSTD: no predictor either (see enc_tries) */
} enc_ctx;

/* Starts a column. */
static void enc_begin(enc_ctx *c)
{
    c->best_len = SIZE_MAX;
    c->best_cost = SIZE_MAX;
    c->best_codec = 0;
    c->lpc.state = 0;
}

/* Opens a writer on the candidate buffer. */
static codec_wr enc_writer(enc_ctx *c)
{
    codec_wr w = {c->cand, c->cand + c->cap, 0, c->zstd, &c->lpc};
    return w;
}

static void enc_swap(enc_ctx *c)
{
    uint8_t *t = c->best;
    c->best = c->cand;
    c->cand = t;
}

/* Keeps the candidate just written if it beats the best so far. Byte
 * planes count 1/31 more than their length: they decode at about 3/4 of
 * PFOR's speed (bench_codec), so a gain under ~3 % is not worth it. */
static void enc_offer(enc_ctx *c, const codec_wr *w, uint8_t codec)
{
    size_t len = (size_t)(w->p - c->cand);
    size_t cost = (codec & CODEC_PLANES) ? len + len / PLANES_HANDICAP : len;
    if (w->bad || cost >= c->best_cost)
        return;
    enc_swap(c);
    c->best_len = len;
    c->best_cost = cost;
    c->best_codec = codec;
}

static void enc_ts(enc_ctx *c, const int64_t *ts, size_t n)
{
    static const uint8_t order[] = {CODEC_TS_GRID, CODEC_TS_GRID_SPARSE, CODEC_TS_DELTA,
                                    CODEC_TS_DOD, CODEC_TS_RAW};
    enc_begin(c);
    for (size_t i = 0; i < COUNT(order); i++) {
        codec_wr w = enc_writer(c);
        codec__ts_encode(&w, order[i], ts, n, c->tmp);
        enc_offer(c, &w, order[i]);
    }
}

static size_t enc_packings(const enc_ctx *c)
{
    return c->zstd ? 2 : 1;
}

static uint8_t packed_codec(uint8_t codec, codec_pack pack)
{
    return pack == CODEC_PACK_PLANES ? (uint8_t)(codec | CODEC_PLANES) : codec;
}

/* Whether to try a transform. A frozen run (CHUNK_NO_ZSTD) is decoded at
 * every merge and encoded again when sealed, so it takes neither the
 * predictor's fit nor its slower decoding: with them, test_freeze went
 * from 104-112 s to over 120 s in a ctest -j2 suite beside another. */
static bool enc_tries(const enc_ctx *c, codec_int_order order)
{
    return order != CODEC_INT_LPC || !c->frozen;
}

static void enc_floats(enc_ctx *c, const hist_value *v, size_t n)
{
    unsigned e = codec__alp_choose_e(v, n);
    for (size_t i = 0; i < COUNT(alp_codecs); i++)
        for (size_t pk = 0; pk < enc_packings(c) && enc_tries(c, alp_codecs[i].order); pk++) {
            codec_wr w = enc_writer(c);
            codec__alp_encode(&w, v, n, e, alp_codecs[i].order, (codec_pack)pk, c->ks, c->tmp);
            enc_offer(c, &w, packed_codec(alp_codecs[i].codec, (codec_pack)pk));
        }
    codec_wr w = enc_writer(c);
    codec__gorilla_encode(&w, v, n);
    enc_offer(c, &w, CODEC_V_GORILLA);
}

static void enc_ints(enc_ctx *c, const hist_value *v, size_t n)
{
    const int64_t *x = (const int64_t *)v; /* hist_value holds an int64_t */
    for (size_t i = 0; i < COUNT(int_codecs); i++)
        for (size_t pk = 0; pk < enc_packings(c) && enc_tries(c, int_codecs[i].order); pk++) {
            codec_wr w = enc_writer(c);
            codec__ints_encode(&w, x, n, int_codecs[i].order, (codec_pack)pk, c->tmp);
            enc_offer(c, &w, packed_codec(int_codecs[i].codec, (codec_pack)pk));
        }
}

static void enc_values(enc_ctx *c, hist_type type, const hist_value *v, size_t n)
{
    enc_begin(c);
    codec_wr w = enc_writer(c);
    if (codec__v_is_const(v, n)) {
        codec__v_const_encode(&w, v, n);
        enc_offer(c, &w, CODEC_V_CONST);
        return; /* nothing is smaller than 8 bytes */
    }
    codec__v_rle_encode(&w, v, n);
    enc_offer(c, &w, CODEC_V_RLE);
    if (type == HIST_TYPE_FLOAT64)
        enc_floats(c, v, n);
    else
        enc_ints(c, v, n);
    w = enc_writer(c);
    codec__v_raw_encode(&w, v, n);
    enc_offer(c, &w, CODEC_V_RAW);
}

static void enc_quality(enc_ctx *c, const uint32_t *q, size_t n)
{
    enc_begin(c);
    codec_wr w = enc_writer(c);
    uint8_t codec = codec__quality_encode(&w, q, n);
    enc_offer(c, &w, codec);
}

/* Tries zstd over the best body; keeps it when smaller. Never over
 * planes: they are zstd's entropy coding already. */
static void enc_try_zstd(enc_ctx *c)
{
    if (c->best_codec & CODEC_PLANES)
        return;
    size_t z = codec__zstd_wrap(c->best, c->best_len, c->cand, c->cap);
    if (z == 0)
        return;
    enc_swap(c);
    c->best_len = z;
    c->best_codec |= CODEC_ZSTD;
}

size_t chunk__bound(size_t n)
{
    return CHUNK_HEADER + 20 * n + 64;
}

static int check_input(hist_type type, const int64_t *ts, const hist_value *v, size_t n)
{
    if (type != HIST_TYPE_FLOAT64 && type != HIST_TYPE_INT64 && type != HIST_TYPE_BOOL)
        return HIST_EINVAL;
    if (n == 0 || !ts || !v)
        return HIST_EINVAL;
    if (n > HIST_CHUNK_MAX_SAMPLES)
        return HIST_ERANGE;
    for (size_t i = 1; i < n; i++)
        if (ts[i] <= ts[i - 1])
            return HIST_EINVAL;
    if (type == HIST_TYPE_BOOL && !codec__bools_valid(v, n))
        return HIST_EINVAL;
    return 0;
}

/* One allocation for all scratch: two column buffers and two arrays of n
 * words. A candidate larger than the raw column can never win: the buffers
 * need no more room than that, and a candidate that overflows is dropped. */
static uint8_t *enc_alloc(enc_ctx *c, size_t n)
{
    c->cap = (8 * n + 64 + 7) & ~(size_t)7;
    uint8_t *scratch = malloc(2 * c->cap + 2 * n * sizeof(uint64_t));
    if (!scratch)
        return NULL;
    c->best = scratch;
    c->cand = scratch + c->cap;
    c->tmp = (uint64_t *)(scratch + 2 * c->cap);
    c->ks = (int64_t *)(scratch + 2 * c->cap + n * sizeof(uint64_t));
    return scratch;
}

static void put_header(uint8_t *out, hist_type type, size_t n, const uint8_t codecs[3],
                       const uint32_t lens[3])
{
    memcpy(out + HDR_MAGIC, CHUNK_MAGIC, 4);
    out[HDR_VERSION] = CHUNK_VERSION;
    out[HDR_TYPE] = (uint8_t)type;
    memcpy(out + HDR_CODECS, codecs, 3);
    memset(out + HDR_ZERO, 0, 3);
    codec__store32(out + HDR_COUNT, (uint32_t)n);
    for (int col = 0; col < 3; col++)
        codec__store32(out + HDR_LENS + 4 * col, lens[col]);
}

int64_t chunk__encode(hist_type type, const int64_t *ts, const hist_value *v, const uint32_t *q,
                      size_t n, uint8_t *out, size_t cap)
{
    return chunk__encode_flags(type, ts, v, q, n, out, cap, 0);
}

int64_t chunk__encode_flags(hist_type type, const int64_t *ts, const hist_value *v,
                            const uint32_t *q, size_t n, uint8_t *out, size_t cap, unsigned flags)
{
    int rc = check_input(type, ts, v, n);
    if (rc < 0)
        return rc;
    enc_ctx c;
    uint8_t *scratch = enc_alloc(&c, n);
    if (!scratch)
        return HIST_ENOMEM;
    c.zstd = n >= PLANES_MIN_SAMPLES && !(flags & CHUNK_NO_ZSTD) ? codec__planes_cctx_new() : NULL;
    c.frozen = (flags & CHUNK_NO_ZSTD) != 0;
    int64_t result = 0;
    uint8_t codecs[3];
    uint32_t lens[3];
    size_t off = CHUNK_HEADER;
    for (int col = COL_TS; col <= COL_QUALITY; col++) {
        if (col == COL_TS)
            enc_ts(&c, ts, n);
        else if (col == COL_VALUE)
            enc_values(&c, type, v, n);
        else
            enc_quality(&c, q, n);
        if (c.best_len == SIZE_MAX) { /* cannot happen: raw always fits */
            result = HIST_EINVAL;
            break;
        }
        if (!(flags & CHUNK_NO_ZSTD))
            enc_try_zstd(&c);
        if (off + c.best_len > cap) {
            result = HIST_ENOSPC;
            break;
        }
        memcpy(out + off, c.best, c.best_len);
        off += c.best_len;
        codecs[col] = c.best_codec;
        lens[col] = (uint32_t)c.best_len;
    }
    if (result == 0) {
        put_header(out, type, n, codecs, lens);
        result = (int64_t)off;
    }
    ZSTD_freeCCtx(c.zstd);
    free(scratch);
    return result;
}

/* ---- Decoder -------------------------------------------------------------------------- */

/* Whether base is one of the integer-transform codecs of the type. */
static int is_transform(hist_type type, uint8_t base)
{
    return type == HIST_TYPE_FLOAT64 ? find_ordered(alp_codecs, COUNT(alp_codecs), base) != NULL
                                     : find_ordered(int_codecs, COUNT(int_codecs), base) != NULL;
}

static int codec_valid(int col, hist_type type, uint8_t codec)
{
    uint8_t base = codec & (uint8_t) ~(CODEC_ZSTD | CODEC_PLANES);
    if (codec & CODEC_PLANES) /* only over the integer transforms, never zstd'ed */
        return col == COL_VALUE && !(codec & CODEC_ZSTD) && is_transform(type, base);
    switch (col) {
    case COL_TS:
        return base >= CODEC_TS_RAW && base <= CODEC_TS_GRID_SPARSE;
    case COL_VALUE:
        if (base == CODEC_V_RAW || base == CODEC_V_CONST || base == CODEC_V_RLE)
            return 1;
        return (type == HIST_TYPE_FLOAT64 && base == CODEC_V_GORILLA) || is_transform(type, base);
    default:
        return base >= CODEC_Q_CONST && base <= CODEC_Q_RAW;
    }
}

static int peek(const uint8_t *buf, size_t len, hist_chunk_info *info, hist_chunk_fault *fault)
{
    if (!buf || len < CHUNK_HEADER || memcmp(buf + HDR_MAGIC, CHUNK_MAGIC, 4) != 0 ||
        buf[HDR_VERSION] != CHUNK_VERSION || buf[HDR_ZERO] || buf[HDR_ZERO + 1] ||
        buf[HDR_ZERO + 2])
        return CORRUPT_AT(fault);
    hist_type type = (hist_type)buf[HDR_TYPE];
    if (type != HIST_TYPE_FLOAT64 && type != HIST_TYPE_INT64 && type != HIST_TYPE_BOOL)
        return CORRUPT_AT(fault);
    uint32_t count = codec__load32(buf + HDR_COUNT);
    uint64_t lens[3], total = CHUNK_HEADER;
    for (int col = 0; col < 3; col++) {
        lens[col] = codec__load32(buf + HDR_LENS + 4 * col);
        total += lens[col];
        if (!codec_valid(col, type, buf[HDR_CODECS + col]))
            return CORRUPT_AT(fault);
    }
    if (count == 0 || total != len)
        return CORRUPT_AT(fault);
    if (info) {
        info->type = type;
        info->count = count;
        info->ts_codec = buf[HDR_CODECS];
        info->value_codec = buf[HDR_CODECS + 1];
        info->quality_codec = buf[HDR_CODECS + 2];
        info->ts_bytes = (uint32_t)lens[COL_TS];
        info->value_bytes = (uint32_t)lens[COL_VALUE];
        info->quality_bytes = (uint32_t)lens[COL_QUALITY];
    }
    return 0;
}

int chunk__peek(const uint8_t *buf, size_t len, hist_chunk_info *info)
{
    return peek(buf, len, info, NULL);
}

static int decode_values(codec_rd *r, uint8_t codec, hist_value *v, size_t n)
{
    codec_pack pack = (codec & CODEC_PLANES) ? CODEC_PACK_PLANES : CODEC_PACK_PFOR;
    codec &= (uint8_t)~CODEC_PLANES;
    switch (codec) {
    case CODEC_V_RAW:
        return codec__v_raw_decode(r, v, n);
    case CODEC_V_CONST:
        return codec__v_const_decode(r, v, n);
    case CODEC_V_RLE:
        return codec__v_rle_decode(r, v, n);
    case CODEC_V_GORILLA:
        return codec__gorilla_decode(r, v, n);
    }
    const ordered_codec *oc = find_ordered(alp_codecs, COUNT(alp_codecs), codec);
    if (oc)
        return codec__alp_decode(r, v, n, oc->order, pack);
    oc = find_ordered(int_codecs, COUNT(int_codecs), codec);
    if (oc) /* hist_value is a union holding a uint64_t */
        return codec__ints_decode(r, (uint64_t *)v, n, oc->order, pack);
    return CORRUPT(r);
}

/* The arrays one decode fills, and where it names a failed check. */
typedef struct {
    hist_type type;
    size_t n;
    int64_t *ts;
    hist_value *v;
    uint32_t *q;
    hist_chunk_fault *fault;
    chunk_decoder *dec; /* may be NULL */
} dec_ctx;

/* Decodes one column: unwraps zstd, runs the codec, insists it used every
 * byte of the column. */
static int decode_column(const dec_ctx *d, int col, uint8_t codec, const uint8_t *p, size_t len)
{
    codec_rd r = {p, p + len, d->fault, d->dec};
    uint8_t *owned;
    int rc = codec__zstd_unwrap(&r, codec, d->n, &owned);
    if (rc < 0)
        return rc;
    uint8_t base = codec & (uint8_t)~CODEC_ZSTD;
    if (col == COL_TS)
        rc = codec__ts_decode(&r, base, d->ts, d->n);
    else if (col == COL_VALUE)
        rc = decode_values(&r, base, d->v, d->n);
    else
        rc = codec__quality_decode(&r, base, d->q, d->n);
    if (rc == 0 && r.p != r.end)
        rc = CORRUPT(&r); /* trailing bytes: the lengths do not agree */
    free(owned);
    return rc;
}

static int decode_columns(const dec_ctx *d, const uint8_t *buf, const hist_chunk_info *info)
{
    const uint8_t *p = buf + CHUNK_HEADER;
    int rc = decode_column(d, COL_TS, info->ts_codec, p, info->ts_bytes);
    p += info->ts_bytes;
    if (rc == 0)
        rc = decode_column(d, COL_VALUE, info->value_codec, p, info->value_bytes);
    p += info->value_bytes;
    if (rc == 0 && d->q)
        rc = decode_column(d, COL_QUALITY, info->quality_codec, p, info->quality_bytes);
    if (rc == 0 && info->type == HIST_TYPE_BOOL && !codec__bools_valid(d->v, d->n))
        rc = CORRUPT_AT(d->fault);
    return rc;
}

static int64_t decode_chunk(chunk_decoder *dec, const uint8_t *buf, size_t len, int64_t *ts,
                            hist_value *v, uint32_t *q, size_t cap, hist_chunk_fault *fault)
{
    if (fault) {
        fault->file = NULL;
        fault->line = 0;
    }
    hist_chunk_info info;
    int rc = peek(buf, len, &info, fault);
    if (rc < 0)
        return rc;
    if (cap < info.count)
        return HIST_ENOSPC;
    if (!ts || !v)
        return HIST_EINVAL;
    dec_ctx d = {info.type, info.count, ts, v, q, fault, dec};
    rc = decode_columns(&d, buf, &info);
    return rc < 0 ? rc : (int64_t)info.count;
}

int64_t chunk__decode_traced(const uint8_t *buf, size_t len, int64_t *ts, hist_value *v,
                             uint32_t *q, size_t cap, hist_chunk_fault *fault)
{
    return decode_chunk(NULL, buf, len, ts, v, q, cap, fault);
}

int64_t chunk__decode(const uint8_t *buf, size_t len, int64_t *ts, hist_value *v, uint32_t *q,
                      size_t cap)
{
    return decode_chunk(NULL, buf, len, ts, v, q, cap, NULL);
}

int64_t chunk__decode_with(chunk_decoder *d, const uint8_t *buf, size_t len, int64_t *ts,
                           hist_value *v, uint32_t *q, size_t cap)
{
    return decode_chunk(d, buf, len, ts, v, q, cap, NULL);
}

chunk_decoder *chunk__decoder_new(void)
{
    return calloc(1, sizeof(chunk_decoder));
}

void chunk__decoder_free(chunk_decoder *d)
{
    if (d)
        ZSTD_freeDCtx(d->zstd);
    free(d);
}

const char *chunk__codec_name(uint8_t codec)
{
    static const struct {
        uint8_t id;
        const char *name, *zname, *pname; /* plain, | CODEC_ZSTD, | CODEC_PLANES */
    } names[] = {
        {CODEC_TS_RAW, "ts_raw", "zstd+ts_raw", NULL},
        {CODEC_TS_DELTA, "ts_delta", "zstd+ts_delta", NULL},
        {CODEC_TS_DOD, "ts_dod", "zstd+ts_dod", NULL},
        {CODEC_TS_GRID, "ts_grid", "zstd+ts_grid", NULL},
        {CODEC_TS_GRID_SPARSE, "ts_grid_sparse", "zstd+ts_grid_sparse", NULL},
        {CODEC_V_RAW, "raw", "zstd+raw", NULL},
        {CODEC_V_CONST, "const", "zstd+const", NULL},
        {CODEC_V_RLE, "rle", "zstd+rle", NULL},
        {CODEC_V_GORILLA, "gorilla", "zstd+gorilla", NULL},
        {CODEC_V_ALP_FOR, "alp_for", "zstd+alp_for", "planes+alp_for"},
        {CODEC_V_ALP_DELTA, "alp_delta", "zstd+alp_delta", "planes+alp_delta"},
        {CODEC_V_INT_FOR, "int_for", "zstd+int_for", "planes+int_for"},
        {CODEC_V_INT_DELTA, "int_delta", "zstd+int_delta", "planes+int_delta"},
        {CODEC_V_ALP_DOD, "alp_dod", "zstd+alp_dod", "planes+alp_dod"},
        {CODEC_V_INT_DOD, "int_dod", "zstd+int_dod", "planes+int_dod"},
        {CODEC_V_INT_DFOR, "int_dfor", "zstd+int_dfor", "planes+int_dfor"},
        {CODEC_V_ALP_LPC, "alp_lpc", "zstd+alp_lpc", "planes+alp_lpc"},
        {CODEC_V_INT_LPC, "int_lpc", "zstd+int_lpc", "planes+int_lpc"},
        {CODEC_Q_CONST, "q_const", "zstd+q_const", NULL},
        {CODEC_Q_RLE, "q_rle", "zstd+q_rle", NULL},
        {CODEC_Q_RAW, "q_raw", "zstd+q_raw", NULL},
    };
    uint8_t base = codec & (uint8_t) ~(CODEC_ZSTD | CODEC_PLANES);
    for (size_t i = 0; i < COUNT(names); i++) {
        if (names[i].id != base)
            continue;
        if (codec & CODEC_PLANES)
            return (codec & CODEC_ZSTD) || !names[i].pname ? "unknown" : names[i].pname;
        return (codec & CODEC_ZSTD) ? names[i].zname : names[i].name;
    }
    return "unknown";
}
