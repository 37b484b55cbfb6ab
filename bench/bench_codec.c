/*
 * bench_codec.c: size and speed of the chunk codecs (storage/codec/) on
 * the plant data generator's output (tools/plantgen.c).
 *
 * Data: NTAGS tags (plant-like kind mix) for DAY_SECONDS at 1 Hz (vibration
 * tags at 10 Hz), cut into chunks of 8192 samples as the memtable would.
 * Per signal kind and overall it prints, as `name value unit` lines:
 *   codec.<kind>.bytes_per_sample   encoded chunk bytes (header included) / samples
 *   codec.<kind>.encode_msps        encode speed, one core
 *   codec.<kind>.decode_msps        decode speed, one core (best of a few runs)
 *   codec.wins.<codec>              chunks whose value column used that codec
 *   codec.gorilla_baseline.bytes_per_sample
 *       the same data in Gorilla's format alone (delta-of-delta timestamps
 *       at the data's ms resolution with the paper's buckets, XOR values;
 *       no quality, no header), computed here bit by bit, so the claimed
 *       ratio comes from one run on one data set.
 * Usage: bench_codec [ntags] [seconds]   (defaults 200, 86400)
 */
#include "storage/chunk.h"
#include "tools/plantgen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK  8192
#define NKINDS HIST_GEN__KINDS

typedef struct {
    uint8_t *bytes;
    size_t len;
    hist_gen_kind kind;
} enc_chunk;

typedef struct {
    uint64_t samples, bytes, gorilla_bits, chunks;
    double enc_s, dec_s;
} kind_stats;

/* CPU time of this thread: the machine may be shared, and the figures are
 * per core, so time spent descheduled must not count. */
static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Bits of Gorilla's timestamp encoding (VLDB 2015, section 4.1.1) on
 * timestamps in units of `unit` ns. */
static uint64_t gorilla_ts_bits(const int64_t *ts, size_t n, int64_t unit)
{
    uint64_t bits = 64;
    if (n < 2)
        return bits;
    int64_t prev_delta = (ts[1] - ts[0]) / unit;
    bits += prev_delta < (1 << 14) ? 14 : 64;
    for (size_t i = 2; i < n; i++) {
        int64_t delta = (ts[i] - ts[i - 1]) / unit, dod = delta - prev_delta;
        prev_delta = delta;
        if (dod == 0)
            bits += 1;
        else if (dod >= -63 && dod <= 64)
            bits += 2 + 7;
        else if (dod >= -255 && dod <= 256)
            bits += 3 + 9;
        else if (dod >= -2047 && dod <= 2048)
            bits += 4 + 12;
        else if (dod >= INT32_MIN && dod <= INT32_MAX)
            bits += 4 + 32;
        else
            bits += 4 + 64;
    }
    return bits;
}

/* Bits of Gorilla's XOR value encoding (section 4.1.2). */
static uint64_t gorilla_value_bits(const hist_value *v, size_t n, hist_type type)
{
    uint64_t bits = 64, prev;
    unsigned plead = 65, ptrail = 0;
    hist_value d;
    d.f = hist_value_as_double(type, v[0]);
    prev = d.bits;
    for (size_t i = 1; i < n; i++) {
        d.f = hist_value_as_double(type, v[i]);
        uint64_t x = d.bits ^ prev;
        prev = d.bits;
        if (!x) {
            bits += 1;
            continue;
        }
        unsigned lead = (unsigned)__builtin_clzll(x), trail = (unsigned)__builtin_ctzll(x);
        if (lead > 31)
            lead = 31;
        if (plead <= 64 && lead >= plead && trail >= ptrail) {
            bits += 2 + (64 - plead - ptrail);
        } else {
            bits += 2 + 5 + 6 + (64 - lead - trail);
            plead = lead;
            ptrail = trail;
        }
    }
    return bits;
}

int main(int argc, char **argv)
{
    uint32_t ntags = argc > 1 ? (uint32_t)atoi(argv[1]) : 200;
    int64_t seconds = argc > 2 ? atoll(argv[2]) : 86400;
    int64_t period = 1000000000;
    hist_gen *gen = hist_gen_new(ntags, 42, 1767225600000000000ll, period);
    if (!gen || ntags == 0 || seconds <= 0) {
        fprintf(stderr, "usage: bench_codec [ntags] [seconds]\n");
        return 2;
    }
    int64_t *ts = malloc(CHUNK * sizeof(*ts));
    hist_value *v = malloc(CHUNK * sizeof(*v));
    uint32_t *q = malloc(CHUNK * sizeof(*q));
    size_t bound = chunk__bound(CHUNK);
    uint8_t *buf = malloc(bound);
    size_t nchunks = 0, cap_chunks = 1024;
    enc_chunk *chunks = malloc(cap_chunks * sizeof(*chunks));
    kind_stats ks[NKINDS];
    memset(ks, 0, sizeof(ks));
    uint64_t wins[256] = {0}, ts_wins[256] = {0};
    if (!ts || !v || !q || !buf || !chunks)
        return 1;

    /* Encode: generate a tag's day chunk by chunk, time only the encoding. */
    for (uint32_t tag = 0; tag < ntags; tag++) {
        hist_gen_kind kind = hist_gen_tag_kind(gen, tag);
        hist_type type = hist_gen_tag_type(gen, tag);
        int64_t total = kind == HIST_GEN_VIBRATION ? seconds * 10 : seconds;
        for (int64_t done = 0; done < total;) {
            size_t want = total - done < CHUNK ? (size_t)(total - done) : CHUNK;
            size_t n = hist_gen_next(gen, tag, want, ts, v, q);
            done += (int64_t)n;
            double t0 = now_s();
            int64_t len = chunk__encode(type, ts, v, q, n, buf, bound);
            ks[kind].enc_s += now_s() - t0;
            if (len <= 0) {
                fprintf(stderr, "encode failed: %s\n", hist_strerror((int)len));
                return 1;
            }
            hist_chunk_info info;
            chunk__peek(buf, (size_t)len, &info);
            wins[info.value_codec]++;
            ts_wins[info.ts_codec]++;
            ks[kind].samples += n;
            ks[kind].bytes += (uint64_t)len;
            ks[kind].chunks++;
            ks[kind].gorilla_bits +=
                gorilla_ts_bits(ts, n, 1000000) + gorilla_value_bits(v, n, type);
            if (nchunks == cap_chunks) {
                cap_chunks *= 2;
                chunks = realloc(chunks, cap_chunks * sizeof(*chunks));
                if (!chunks)
                    return 1;
            }
            chunks[nchunks].bytes = malloc((size_t)len);
            memcpy(chunks[nchunks].bytes, buf, (size_t)len);
            chunks[nchunks].len = (size_t)len;
            chunks[nchunks].kind = kind;
            nchunks++;
        }
    }

    /* Decode: per kind, every chunk of that kind in one timed loop; five
     * passes, keep the fastest. One decoder for them all, as a db keeps
     * (storage/chunk_store.c). */
    chunk_decoder *dec = chunk__decoder_new();
    double best[NKINDS];
    for (int k = 0; k < NKINDS; k++) {
        best[k] = 1e30;
        for (int pass = 0; pass < 5; pass++) {
            double t0 = now_s();
            for (size_t c = 0; c < nchunks; c++) {
                if (chunks[c].kind != (hist_gen_kind)k)
                    continue;
                int64_t got =
                    chunk__decode_with(dec, chunks[c].bytes, chunks[c].len, ts, v, q, CHUNK);
                if (got <= 0) {
                    fprintf(stderr, "decode failed: %s\n", hist_strerror((int)got));
                    return 1;
                }
            }
            double spent = now_s() - t0;
            if (spent < best[k])
                best[k] = spent;
        }
    }
    chunk__decoder_free(dec);

    kind_stats all;
    memset(&all, 0, sizeof(all));
    for (int k = 0; k < NKINDS; k++) {
        kind_stats *s = &ks[k];
        if (!s->samples)
            continue;
        s->dec_s = best[k];
        const char *name = hist_gen_kind_name((hist_gen_kind)k);
        printf("codec.%s.samples %llu samples\n", name, (unsigned long long)s->samples);
        printf("codec.%s.bytes_per_sample %.4f B\n", name, (double)s->bytes / (double)s->samples);
        printf("codec.%s.gorilla_bytes_per_sample %.4f B\n", name,
               (double)s->gorilla_bits / 8.0 / (double)s->samples);
        printf("codec.%s.encode_msps %.1f Msamples/s\n", name, (double)s->samples / s->enc_s / 1e6);
        printf("codec.%s.decode_msps %.1f Msamples/s\n", name, (double)s->samples / s->dec_s / 1e6);
        all.samples += s->samples;
        all.bytes += s->bytes;
        all.gorilla_bits += s->gorilla_bits;
        all.chunks += s->chunks;
        all.enc_s += s->enc_s;
        all.dec_s += s->dec_s;
    }
    double bps = (double)all.bytes / (double)all.samples;
    double gbps = (double)all.gorilla_bits / 8.0 / (double)all.samples;
    printf("codec.overall.tags %u tags\n", ntags);
    printf("codec.overall.samples %llu samples\n", (unsigned long long)all.samples);
    printf("codec.overall.chunks %llu chunks\n", (unsigned long long)all.chunks);
    printf("codec.overall.bytes_per_sample %.4f B\n", bps);
    printf("codec.overall.encode_msps %.1f Msamples/s\n", (double)all.samples / all.enc_s / 1e6);
    printf("codec.overall.decode_msps %.1f Msamples/s\n", (double)all.samples / all.dec_s / 1e6);
    printf("codec.gorilla_baseline.bytes_per_sample %.4f B\n", gbps);
    printf("codec.overall.gorilla_over_ours %.2f x\n", gbps / bps);
    printf("codec.overall.raw_over_ours %.1f x\n", 16.0 / bps); /* 8 B ts + 8 B value */
    for (int id = 0; id < 256; id++)
        if (wins[id])
            printf("codec.wins.%s %llu chunks\n", chunk__codec_name((uint8_t)id),
                   (unsigned long long)wins[id]);
    for (int id = 0; id < 256; id++)
        if (ts_wins[id])
            printf("codec.ts_wins.%s %llu chunks\n", chunk__codec_name((uint8_t)id),
                   (unsigned long long)ts_wins[id]);

    for (size_t c = 0; c < nchunks; c++)
        free(chunks[c].bytes);
    free(chunks);
    free(ts);
    free(v);
    free(q);
    free(buf);
    hist_gen_free(gen);
    return 0;
}
