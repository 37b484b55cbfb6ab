/*
 * chunk.h: encoding one tag's samples into a self-contained chunk (internal
 * to storage/; the code is in storage/codec/).
 *
 * A chunk holds up to HIST_CHUNK_MAX_SAMPLES samples of one tag, sorted by
 * time with no duplicate timestamps. Layout: a 28-byte header (magic
 * "HCK1", version, type, count, codec id and byte length of each column),
 * then three columns, each encoded on its own (timestamps and values with
 * whichever of their codecs makes them smallest for this chunk):
 *   timestamps  in their common unit (the gcd of the deltas): offsets from
 *               the sampling grid, deltas from the period, or deltas of
 *               deltas, PFOR bit-packed in blocks of 128; or raw
 *               (storage/codec/ts.c)
 *   values      float64: ALP-style decimals (the digits PFOR-packed as
 *               they are, as deltas or as deltas of deltas), Gorilla XOR
 *               (storage/codec/floats.c); int64 and bool: frame of
 *               reference, deltas, deltas of deltas or plain deltas, PFOR
 *               packed (storage/codec/ints.c); any type: constant,
 *               run-length or raw bits (storage/codec/floats.c)
 *   quality     constant; run-length where runs are few; else raw
 *               (storage/codec/quality.c)
 * The integer transforms' words are PFOR blocks or, where smaller, byte
 * planes with zstd's entropy coding (storage/codec/planes.c). Then zstd
 * over a column's body where that halves it (storage/codec/zstd_column.c).
 * The byte format is in the top comments of storage/codec/chunk.c (header,
 * columns) and of each codec file (bodies).
 *
 * Lossless: every float64 bit pattern and every int64 comes back exactly.
 * chunk__decode() checks every length and count against the buffer and
 * never reads or writes out of bounds, whatever the input (it is fuzzed);
 * what it returns has strictly increasing timestamps and bools of 0 or 1.
 */
#ifndef HIST_STORAGE_CHUNK_H
#define HIST_STORAGE_CHUNK_H

#include "storage/hist_storage.h"

/* A column's length is a u32, and a raw column must fit. */
#define HIST_CHUNK_MAX_SAMPLES ((UINT32_MAX - 64u) / 8u)

typedef struct {
    hist_type type;
    uint32_t count;
    uint8_t ts_codec, value_codec, quality_codec; /* for stats and benches */
    uint32_t ts_bytes, value_bytes, quality_bytes;
} hist_chunk_info;

/* Which check found a chunk corrupt, for triaging a fuzz finding or a
 * damaged chunk: a file in storage/codec/ and a line. Filled in debug
 * builds (HIST_DEBUG_CHECKS: Debug, sanitizer and fuzz builds) only;
 * {NULL, 0} in release builds and whenever the decode did not say
 * HIST_ECORRUPT. */
typedef struct {
    const char *file;
    int line;
} hist_chunk_fault;

/* Upper bound of the encoded size of n samples. */
size_t chunk__bound(size_t n);

/* Encodes n samples (sorted, unique timestamps; q may be NULL = all Good)
 * into out[0..cap). Returns the encoded length (> 0) or a negative error:
 * HIST_EINVAL for n == 0, unsorted or duplicate timestamps, an unknown
 * type or a bool other than 0/1; HIST_ERANGE for too many samples;
 * HIST_ENOSPC if cap is too small; HIST_ENOMEM. */
int64_t chunk__encode(hist_type type, const int64_t *ts, const hist_value *v, const uint32_t *q,
                      size_t n, uint8_t *out, size_t cap);

/* chunk__encode() with flags: CHUNK_NO_ZSTD skips zstd, the pass over a
 * column, the byte planes and the linear predictor (the frozen runs in
 * memory, storage/freeze.c, which are decoded often and re-encoded with
 * zstd when sealed). The bytes decode as any chunk's. */
enum { CHUNK_NO_ZSTD = 1 };
int64_t chunk__encode_flags(hist_type type, const int64_t *ts, const hist_value *v,
                            const uint32_t *q, size_t n, uint8_t *out, size_t cap, unsigned flags);

/* Reads and checks the header only. 0 or HIST_ECORRUPT. */
int chunk__peek(const uint8_t *buf, size_t len, hist_chunk_info *info);

/* Decodes a chunk into arrays of room for cap samples each (cap must be at
 * least info.count). q may be NULL: the quality column is then neither
 * decoded nor checked. Returns the sample count or a negative error
 * (HIST_ECORRUPT for anything malformed, HIST_ENOSPC if cap is too small,
 * HIST_ENOMEM if a zstd column cannot be inflated for want of memory). */
int64_t chunk__decode(const uint8_t *buf, size_t len, int64_t *ts, hist_value *v, uint32_t *q,
                      size_t cap);

/* What decoding keeps from one chunk to the next: zstd's decompression
 * context, which takes about a third of a byte-planes column's decode
 * time to set up. Used by one thread at a time. */
typedef struct chunk_decoder chunk_decoder;
chunk_decoder *chunk__decoder_new(void); /* NULL: out of memory */
void chunk__decoder_free(chunk_decoder *d);

/* chunk__decode() with a decoder (NULL: one for this call only). */
int64_t chunk__decode_with(chunk_decoder *d, const uint8_t *buf, size_t len, int64_t *ts,
                           hist_value *v, uint32_t *q, size_t cap);

/* chunk__decode(), saying in *fault (may be NULL) which check failed
 * when the result is HIST_ECORRUPT (debug builds; see hist_chunk_fault). */
int64_t chunk__decode_traced(const uint8_t *buf, size_t len, int64_t *ts, hist_value *v,
                             uint32_t *q, size_t cap, hist_chunk_fault *fault);

/* Codec names, for benches and `historian stats`. */
const char *chunk__codec_name(uint8_t codec);

#endif
