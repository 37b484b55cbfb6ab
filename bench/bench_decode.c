/*
 * bench_decode.c: what decoding a write request costs the server's loop
 * thread: decode__request() (ingest/decode.c, which reads the wire format
 * itself) against the decoder it replaced (tests/ingest/decode_ref.c:
 * protobuf-c's unpack, then a copy into the batch), on the same bodies.
 *
 * Bodies: 5,000 samples of the plant generator (tools/plantgen.h, seed 42,
 * 1 Hz from 2023-11-14T22:13:20Z, 100,000 tags), encoded by the gateway
 * client (hist_client_encode), in two shapes:
 *   many  5,000 series of one sample: second 0 of tags 0..4999, the shape
 *         of bench_gen's bodies (every tag's sample of a second together)
 *   one   1 series of 5,000 samples (tag 0, seconds 0..4999)
 * Each decode is timed alone (the batch is freed outside the clock, as the
 * writer thread frees it); the figure is the best of --runs rounds of
 * --reps decodes. Prints, for each shape S and decoder D (old, new):
 *   decode.S.D.samples_per_s  samples/s
 *   decode.S.D.us_per_request us
 *   decode.S.speedup          x  (old time / new time)
 *   decode.S.body_bytes       B
 *
 * Usage: bench_decode [--runs R] [--reps N] [--shape many|one|both]
 */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decode_ref.h"
#include "tools/client/hist_client.h"
#include "tools/plantgen.h"

#define SAMPLES 5000
#define TAGS    100000

typedef int (*decode_fn)(const uint8_t *buf, size_t len, hist_in_batch **out, hist_in_result *res,
                         char **token_out);

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* The body of one shape: nseries series of per samples each. */
static int make_body(hist_gen *gen, size_t nseries, size_t per, uint8_t **out, size_t *len)
{
    int64_t *ts = calloc(SAMPLES, sizeof *ts);
    hist_value *v = calloc(SAMPLES, sizeof *v);
    uint32_t *q = calloc(SAMPLES, sizeof *q);
    hist_client_series *s = calloc(nseries, sizeof *s);
    int rc = ts && v && q && s ? 0 : -1;
    size_t at = 0;
    for (size_t i = 0; rc == 0 && i < nseries; i++) {
        size_t n = hist_gen_next(gen, (uint32_t)i, per, ts + at, v + at, q + at);
        s[i].tag = hist_gen_tag_name(gen, (uint32_t)i);
        s[i].type = hist_gen_tag_type(gen, (uint32_t)i);
        s[i].n = n;
        s[i].ts = ts + at;
        s[i].v = v + at;
        s[i].q = q + at;
        at += n;
    }
    if (rc == 0)
        rc = hist_client_encode(1, NULL, s, nseries, out, len);
    free(ts), free(v), free(q), free(s);
    return rc;
}

/* The best round's ns per decode, or NAN when a decode failed. */
static double best_ns(decode_fn fn, const uint8_t *body, size_t len, unsigned runs, unsigned reps)
{
    double best = INFINITY;
    for (unsigned r = 0; r < runs; r++) {
        double sum = 0;
        for (unsigned k = 0; k < reps; k++) {
            hist_in_batch *b = NULL;
            hist_in_result res;
            double t0 = now_ns();
            int rc = fn(body, len, &b, &res, NULL);
            sum += now_ns() - t0;
            if (rc != 0 || !b || b->samples != SAMPLES) {
                fprintf(stderr, "bench_decode: decode failed: %d\n", rc);
                return NAN;
            }
            free(b);
            decode__result_clear(&res);
        }
        if (sum / reps < best)
            best = sum / reps;
    }
    return best;
}

static int run_shape(const char *name, const uint8_t *body, size_t len, unsigned runs,
                     unsigned reps)
{
    double old_ns = best_ns(decode_ref_request, body, len, runs, reps);
    double new_ns = best_ns(decode__request, body, len, runs, reps);
    if (isnan(old_ns) || isnan(new_ns))
        return 1;
    printf("decode.%s.body_bytes %zu B\n", name, len);
    printf("decode.%s.old.samples_per_s %.0f samples/s\n", name, SAMPLES / old_ns * 1e9);
    printf("decode.%s.old.us_per_request %.1f us\n", name, old_ns / 1e3);
    printf("decode.%s.new.samples_per_s %.0f samples/s\n", name, SAMPLES / new_ns * 1e9);
    printf("decode.%s.new.us_per_request %.1f us\n", name, new_ns / 1e3);
    printf("decode.%s.speedup %.2f x\n", name, old_ns / new_ns);
    return 0;
}

int main(int argc, char **argv)
{
    unsigned runs = 5, reps = 200;
    const char *shape = "both";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--runs") == 0)
            runs = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--reps") == 0)
            reps = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--shape") == 0)
            shape = argv[i + 1];
    }
    bool many_on = !strcmp(shape, "many") || !strcmp(shape, "both");
    bool one_on = !strcmp(shape, "one") || !strcmp(shape, "both");
    if (runs == 0 || reps == 0 || argc % 2 == 0 || (!many_on && !one_on)) {
        fprintf(stderr, "usage: bench_decode [--runs R] [--reps N] [--shape many|one|both]\n");
        return 2;
    }
    const int64_t start = INT64_C(1700000000) * 1000000000;
    hist_gen *gen = hist_gen_new(TAGS, 42, start, 1000000000);
    uint8_t *many = NULL, *one = NULL;
    size_t many_len = 0, one_len = 0;
    if (!gen || make_body(gen, SAMPLES, 1, &many, &many_len) != 0) {
        fprintf(stderr, "bench_decode: building the bodies failed\n");
        return 1;
    }
    hist_gen_free(gen);
    gen = hist_gen_new(TAGS, 42, start, 1000000000); /* tag 0 from second 0 again */
    if (!gen || make_body(gen, 1, SAMPLES, &one, &one_len) != 0) {
        fprintf(stderr, "bench_decode: building the bodies failed\n");
        return 1;
    }
    hist_gen_free(gen);
    int rc = 0;
    if (many_on)
        rc |= run_shape("many", many, many_len, runs, reps);
    if (one_on)
        rc |= run_shape("one", one, one_len, runs, reps);
    free(many);
    free(one);
    return rc;
}
