/*
 * chunk.h: encoding one tag's samples into a self-contained chunk (internal
 * to storage/).
 *
 * A chunk holds up to 2^32-1 samples of one tag, sorted by time with no
 * duplicate timestamps. Layout: a header (magic "HCK1", version, type,
 * count, codec id and byte length of each column), then three columns each
 * encoded on its own:
 *   timestamps  delta-of-delta, zigzag, bit-packed
 *   values      the smallest of: decimal scaling (ALP-style) + frame of
 *               reference bit packing, Gorilla XOR, constant / run-length;
 *               zstd over the column only where that makes it smaller
 *   quality     run-length
 * Lossless: every float64 bit pattern and every int64 comes back exactly.
 * hist_chunk_decode() checks every length and count against the buffer and
 * never reads or writes out of bounds, whatever the input (it is fuzzed).
 */
#ifndef HIST_STORAGE_CHUNK_H
#define HIST_STORAGE_CHUNK_H

#include "storage/hist_storage.h"

typedef struct {
    hist_type type;
    uint32_t count;
    uint8_t ts_codec, value_codec, quality_codec; /* for stats and benches */
    uint32_t ts_bytes, value_bytes, quality_bytes;
} hist_chunk_info;

/* Upper bound of the encoded size of n samples. */
size_t hist_chunk_bound(size_t n);

/* Encodes n samples (sorted, unique timestamps; q may be NULL = all Good)
 * into out[0..cap). Returns the encoded length (> 0) or a negative error. */
int64_t hist_chunk_encode(hist_type type, const int64_t *ts, const hist_value *v,
                          const uint32_t *q, size_t n, uint8_t *out, size_t cap);

/* Reads and checks the header only. */
int hist_chunk_peek(const uint8_t *buf, size_t len, hist_chunk_info *info);

/* Decodes a chunk into arrays of room for cap samples each (cap must be at
 * least info.count). Returns the sample count or a negative error
 * (HIST_ECORRUPT for anything malformed, HIST_ENOSPC if cap is too small). */
int64_t hist_chunk_decode(const uint8_t *buf, size_t len, int64_t *ts, hist_value *v, uint32_t *q,
                          size_t cap);

/* Codec names, for benches and `historian stats`. */
const char *hist_chunk_codec_name(uint8_t codec);

#endif
