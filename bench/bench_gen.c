/*
 * bench_gen.c: the data set bench/peers.sh feeds every system, pre-encoded
 * once per wire format so that encoding is never timed.
 *
 *   bench_gen --tags T --seconds D [--batch B] [--hist FILE] [--lp FILE]
 *             [--period-s P] [--start-ns NS]
 *
 * Data: the plant generator (tools/plantgen.h, seed 42, 1 Hz from
 * 2023-11-14T22:13:20Z; its vibration tags sample at 10 Hz) for D seconds,
 * in time order as a plant produces it: second 0 of every tag (tag 0 to
 * T-1), then second 1 of every tag, ... (a vibration tag gives its 10
 * samples of that second together). This stream is cut into bodies of
 * exactly B samples (default 5,000; the last may be shorter); a tag's
 * samples may be split between two bodies. Both files hold the same
 * samples in the same bodies:
 *   --hist FILE  Historian's HTTP write body (POST /api/v1/write,
 *                application/x-protobuf): one WriteRequest per body, one
 *                series per tag run, qualities as generated, no token;
 *   --lp FILE    InfluxDB line protocol (the naming bench/peers.sh always
 *                used): measurement f, i or b by value type, tag "tag" = the
 *                tag's name, field "value", ns timestamps.
 * With --period-s P (> 1) every tag samples once every P seconds instead
 * (vibration tags too), tag t in the seconds s with s % P == t % P, so each
 * second carries T / P samples: a plant's slow scan class (bench/live.sh:
 * 1 M tags at 0.1 Hz). --start-ns moves the first second (default
 * 1700000000 s after the epoch), e.g. to now for a live-pace run.
 * File format (what bench_thin reads): the 8 bytes "THINBOD1", then per
 * body a header of two little-endian u32 (body bytes, samples in it) and
 * the body.
 *
 * Prints:  gen.samples N samples
 *          gen.bodies N bodies
 *          gen.first_contact_bodies N bodies  (the bodies up to and
 *            including the one with the last tag's first sample, in second
 *            0, or P - 1 with --period-s: every tag's first contact)
 *          gen.hist_bytes / gen.lp_bytes N B
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/client/hist_client.h"
#include "tools/plantgen.h"

#define GEN_MAGIC "THINBOD1"

typedef struct {
    FILE *hist, *lp;
    size_t cap; /* samples per body */
    size_t n;   /* samples in the current body */
    int64_t *ts;
    hist_value *v;
    uint32_t *q;
    hist_client_series *series;
    size_t nseries;
    char *text; /* the body as line protocol */
    size_t text_len, text_cap;
    uint64_t bodies, samples, hist_bytes, lp_bytes;
    int failed;
} body_writer;

static void put_u32le(uint8_t *p, uint32_t x)
{
    p[0] = (uint8_t)x;
    p[1] = (uint8_t)(x >> 8);
    p[2] = (uint8_t)(x >> 16);
    p[3] = (uint8_t)(x >> 24);
}

static void write_record(body_writer *w, FILE *f, const void *body, size_t len, uint64_t *bytes)
{
    uint8_t hdr[8];
    put_u32le(hdr, (uint32_t)len);
    put_u32le(hdr + 4, (uint32_t)w->n);
    if (fwrite(hdr, 1, sizeof hdr, f) != sizeof hdr || fwrite(body, 1, len, f) != len)
        w->failed = 1;
    *bytes += sizeof hdr + len;
}

static void lp_append(body_writer *w, const char *name, hist_type ty, int64_t ts, hist_value v)
{
    if (w->text_cap - w->text_len < 512) {
        w->text_cap = w->text_cap * 2 + 4096;
        w->text = realloc(w->text, w->text_cap);
        if (!w->text) {
            fprintf(stderr, "bench_gen: out of memory\n");
            exit(1);
        }
    }
    char *p = w->text + w->text_len;
    size_t room = w->text_cap - w->text_len;
    int k;
    if (ty == HIST_TYPE_FLOAT64)
        k = snprintf(p, room, "f,tag=%s value=%.17g %" PRId64 "\n", name, v.f, ts);
    else if (ty == HIST_TYPE_INT64)
        k = snprintf(p, room, "i,tag=%s value=%" PRId64 "i %" PRId64 "\n", name, v.i, ts);
    else
        k = snprintf(p, room, "b,tag=%s value=%s %" PRId64 "\n", name, v.i ? "true" : "false", ts);
    if (k < 0 || (size_t)k >= room) {
        fprintf(stderr, "bench_gen: tag name too long: %s\n", name);
        exit(1);
    }
    w->text_len += (size_t)k;
}

/* Writes the current body to both files and starts the next one. */
static void flush_body(body_writer *w)
{
    if (!w->n)
        return;
    if (w->hist) {
        uint8_t *buf;
        size_t len;
        if (hist_client_encode(w->bodies + 1, NULL, w->series, w->nseries, &buf, &len) != 0) {
            fprintf(stderr, "bench_gen: encoding body %" PRIu64 " failed\n", w->bodies);
            exit(1);
        }
        write_record(w, w->hist, buf, len, &w->hist_bytes);
        free(buf);
    }
    if (w->lp) {
        for (size_t s = 0; s < w->nseries; s++)
            for (size_t k = 0; k < w->series[s].n; k++)
                lp_append(w, w->series[s].tag, w->series[s].type, w->series[s].ts[k],
                          w->series[s].v[k]);
        write_record(w, w->lp, w->text, w->text_len, &w->lp_bytes);
    }
    w->bodies++;
    w->samples += w->n;
    w->n = 0;
    w->nseries = 0;
    w->text_len = 0;
}

/* Adds one tag's run of samples, cutting bodies at exactly cap samples. */
static void add_run(body_writer *w, const char *name, hist_type ty, size_t n, const int64_t *ts,
                    const hist_value *v, const uint32_t *q)
{
    while (n) {
        size_t take = w->cap - w->n;
        if (take > n)
            take = n;
        memcpy(w->ts + w->n, ts, take * sizeof *ts);
        memcpy(w->v + w->n, v, take * sizeof *v);
        memcpy(w->q + w->n, q, take * sizeof *q);
        w->series[w->nseries++] =
            (hist_client_series){name, ty, take, w->ts + w->n, w->v + w->n, w->q + w->n};
        w->n += take;
        ts += take;
        v += take;
        q += take;
        n -= take;
        if (w->n == w->cap)
            flush_body(w);
    }
}

static FILE *open_out(const char *path)
{
    if (!path)
        return NULL;
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(GEN_MAGIC, 1, 8, f) != 8) {
        perror(path);
        exit(1);
    }
    return f;
}

static int close_out(FILE *f, const char *path)
{
    if (f && fclose(f) != 0) {
        perror(path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longs[] = {
        {"tags", 1, 0, 't'}, {"seconds", 1, 0, 's'}, {"batch", 1, 0, 'b'}, {"hist", 1, 0, 'H'},
        {"lp", 1, 0, 'l'},   {"period-s", 1, 0, 'p'}, {"start-ns", 1, 0, 'S'}, {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    uint64_t period = 1;
    int64_t start_ns = INT64_C(1700000000000000000);
    uint32_t ntags = 1000;
    uint64_t seconds = 60;
    size_t batch = 5000;
    const char *hist_path = NULL, *lp_path = NULL;
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 't':
            ntags = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 's':
            seconds = strtoull(optarg, NULL, 10);
            break;
        case 'b':
            batch = strtoul(optarg, NULL, 10);
            break;
        case 'H':
            hist_path = optarg;
            break;
        case 'l':
            lp_path = optarg;
            break;
        case 'p':
            period = strtoull(optarg, NULL, 10);
            break;
        case 'S':
            start_ns = strtoll(optarg, NULL, 10);
            break;
        default:
            fprintf(stderr, "usage: bench_gen --tags T --seconds D [--batch B] [--hist FILE] "
                            "[--lp FILE] [--period-s P] [--start-ns NS]\n");
            return ch == 'h' ? 0 : 2;
        }
    }
    if (!ntags || !seconds || !batch || batch > 10000000 || (!hist_path && !lp_path) || !period ||
        period > 86400) {
        fprintf(stderr, "bench_gen: --tags, --seconds and --batch must be positive (batch at "
                        "most 10 M), and --hist or --lp given\n");
        return 2;
    }
    body_writer w = {.cap = batch};
    w.ts = malloc(batch * sizeof *w.ts);
    w.v = malloc(batch * sizeof *w.v);
    w.q = malloc(batch * sizeof *w.q);
    w.series = malloc(batch * sizeof *w.series);
    w.hist = open_out(hist_path);
    w.lp = open_out(lp_path);
    int64_t period_ns = (int64_t)period * 1000000000;
    hist_gen *gen = hist_gen_new(ntags, 42, start_ns, period == 1 ? 1000000000 : period_ns);
    if (!w.ts || !w.v || !w.q || !w.series || !gen) {
        fprintf(stderr, "bench_gen: out of memory\n");
        return 1;
    }
    uint64_t first_contact = 0;
    int64_t ts[10];
    hist_value v[10];
    uint32_t q[10];
    for (uint64_t s = 0; s < seconds; s++) {
        for (uint32_t t = (uint32_t)(s % period); t < ntags; t += (uint32_t)period) {
            size_t per_s = period == 1 && hist_gen_tag_kind(gen, t) == HIST_GEN_VIBRATION ? 10 : 1;
            size_t n = hist_gen_next(gen, t, per_s, ts, v, q);
            for (size_t k = 0; period > 1 && k < n; k++)
                ts[k] += (int64_t)(t % period) * 1000000000; /* its phase in the period */
            add_run(&w, hist_gen_tag_name(gen, t), hist_gen_tag_type(gen, t), n, ts, v, q);
        }
        if (s == period - 1 || (period > seconds && s == seconds - 1))
            first_contact = w.bodies + (w.n ? 1 : 0);
    }
    flush_body(&w);
    hist_gen_free(gen);
    if (close_out(w.hist, hist_path) || close_out(w.lp, lp_path) || w.failed) {
        fprintf(stderr, "bench_gen: writing the bodies failed\n");
        return 1;
    }
    printf("gen.samples %" PRIu64 " samples\n", w.samples);
    printf("gen.bodies %" PRIu64 " bodies\n", w.bodies);
    printf("gen.first_contact_bodies %" PRIu64 " bodies\n", first_contact);
    if (hist_path)
        printf("gen.hist_bytes %" PRIu64 " B\n", w.hist_bytes);
    if (lp_path)
        printf("gen.lp_bytes %" PRIu64 " B\n", w.lp_bytes);
    free(w.ts);
    free(w.v);
    free(w.q);
    free(w.series);
    free(w.text);
    return 0;
}
