/*
 * fuzz_sparkplug.c: libFuzzer target for the Sparkplug B host core
 * (ingest/sparkplug/), the code that reads MQTT payloads from edge nodes.
 *
 * An input is a run of messages fed to one host, so births, data, deaths
 * and rebirths meet in every order: each message is a selector byte (a
 * topic from the table below, or with its top bit set a raw topic of the
 * next byte's length), a 16-bit little-endian payload length (cut to what
 * is left), the payload, and a clock step byte (x 97 ms; a step of 255
 * sends the clock back a minute). make_sparkplug_corpus.py writes the
 * seeds in this format.
 *
 * Invariants, for every message: the host returns 0 or one of the codes
 * its door names, with a reason when it refuses; every sample has a tag
 * that passes hist_tag_name_check(), a known type, a bool of 0 or 1, a
 * timestamp within HIST_TS_MIN..HIST_TS_MAX and a unit of at most
 * HIST_TAG_UNIT_MAX bytes; a rebirth request is addressed to
 * spBv1.0/<group>/NCMD/<node> and reads back as one Boolean metric; the
 * host's totals are the sum of the messages' counts. Allocations are
 * bounded by -malloc_limit_mb (tests/fuzz/CMakeLists.txt).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist_error.h"
#include "ingest/sparkplug/spb.h"
#include "storage/hist_storage.h"

static const char *topics[] = {
    "spBv1.0/G/NBIRTH/E",       "spBv1.0/G/NDATA/E",    "spBv1.0/G/NDEATH/E",
    "spBv1.0/G/DBIRTH/E/D",     "spBv1.0/G/DDATA/E/D",  "spBv1.0/G/DDEATH/E/D",
    "spBv1.0/G/DBIRTH/E/D2",    "spBv1.0/G/DDATA/E/D2", "spBv1.0/G/NBIRTH/E2",
    "spBv1.0/G/NDATA/E2",       "spBv1.0/G/NDEATH/E2",  "spBv1.0/STATE/h",
    "spBv1.0/G/NCMD/E",         "spBv1.0/G/DDATA/E",    "spBv1.0/G\x01/NBIRTH/\xff",
    "spBv1.0/G\x01/NDATA/\xff",
};
#define NTOPICS (sizeof(topics) / sizeof(topics[0]))

static void check_result(int rc, const hist_spb_result *r)
{
    if (rc != 0 && rc != HIST_EINVAL && rc != HIST_EPROTO && rc != HIST_ETOOBIG &&
        rc != HIST_ENOMEM)
        abort();
    if (rc != 0 && rc != HIST_ENOMEM && (!r->why || !*r->why))
        abort();
    if (r->n_samples != r->stats.samples)
        abort();
    for (size_t i = 0; i < r->n_samples; i++) {
        const hist_spb_sample *s = &r->samples[i];
        if (!s->tag || hist_tag_name_check(s->tag, strlen(s->tag)) != 0)
            abort();
        if (s->type != HIST_TYPE_INT64 && s->type != HIST_TYPE_FLOAT64 && s->type != HIST_TYPE_BOOL)
            abort();
        if (s->type == HIST_TYPE_BOOL && s->v.i != 0 && s->v.i != 1)
            abort();
        if (s->ts < HIST_TS_MIN || s->ts > HIST_TS_MAX)
            abort();
        if (!s->unit || strlen(s->unit) > HIST_TAG_UNIT_MAX)
            abort();
    }
    if (r->rebirth) {
        if (strncmp(r->rebirth_topic, "spBv1.0/", 8) != 0 || !strstr(r->rebirth_topic, "/NCMD/"))
            abort();
        spb_payload p;
        const char *why;
        if (spb_payload__decode(r->rebirth_payload, r->rebirth_payload_len, 1, &p, &why) != 0 ||
            p.n_metrics != 1 || p.metrics[0].value_field != SPB_V_BOOL || p.metrics[0].u != 1)
            abort();
        spb_payload__free(&p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hist_spb_host *h = hist_spb_host_new(&(hist_spb_options){.rebirth_interval_ms = 1000,
                                                             .max_nodes = 8,
                                                             .max_devices = 4,
                                                             .max_payload = 60000,
                                                             .max_metrics = 4096});
    if (!h)
        return 0;
    hist_spb_result r = {0};
    hist_spb_stats sum = {0};
    uint64_t now = 1700000000000ull;
    const uint8_t *p = data, *end = data + size;
    for (int n = 0; p < end && n < 1024; n++) {
        uint8_t sel = *p++;
        const char *topic;
        size_t tlen;
        if (sel & 0x80) {
            tlen = p < end ? *p++ : 0;
            if (tlen > (size_t)(end - p))
                tlen = (size_t)(end - p);
            topic = (const char *)p;
            p += tlen;
        } else {
            topic = topics[sel % NTOPICS];
            tlen = strlen(topic);
        }
        size_t plen = 0;
        if (end - p >= 2) {
            plen = (size_t)p[0] | (size_t)p[1] << 8;
            p += 2;
        }
        if (plen > (size_t)(end - p))
            plen = (size_t)(end - p);
        /* the payload in its own allocation: a read past it is seen */
        uint8_t *payload = malloc(plen ? plen : 1);
        if (!payload)
            break;
        memcpy(payload, p, plen);
        p += plen;
        int rc = hist_spb_host_handle(h, topic, tlen, payload, plen, now, &r);
        check_result(rc, &r);
        free(payload);
        sum.messages += r.stats.messages, sum.samples += r.stats.samples;
        sum.refused += r.stats.refused, sum.dropped += r.stats.dropped;
        sum.rebirths += r.stats.rebirths, sum.unsupported += r.stats.unsupported;
        sum.invalid += r.stats.invalid, sum.renamed += r.stats.renamed;
        sum.stale_deaths += r.stats.stale_deaths;
        uint8_t step = p < end ? *p++ : 1;
        now = step == 255 ? now - 60000 : now + step * 97u;
    }
    hist_spb_stats st = hist_spb_host_stats(h);
    if (memcmp(&st, &sum, sizeof(st)) != 0)
        abort();
    hist_spb_result_free(&r);
    hist_spb_host_free(h);
    return 0;
}
