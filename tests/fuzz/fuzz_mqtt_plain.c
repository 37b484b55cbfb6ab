/*
 * fuzz_mqtt_plain.c: libFuzzer target for the plain MQTT topic mapping
 * (ingest/mqtt_plain.c): routes with templates, and JSON payloads read by
 * jansson and mapped to samples.
 *
 * An input is a selector byte (which option set of the table below: its
 * routes, JSON field paths and time unit), then messages, each a topic
 * and a payload separated by NUL bytes (topic NUL payload NUL topic ...).
 *
 * Invariants, for every message: plain__sample() returns 0, HIST_ENOTFOUND
 * or HIST_EINVAL, and a refusal is counted; a sample has a tag that passes
 * hist_tag_name_check(), type float64 or bool (0 or 1), a timestamp within
 * HIST_TS_MIN..HIST_TS_MAX; the same message mapped twice gives the same
 * sample (no state leaks from one message into the next). Allocations are bounded by -malloc_limit_mb.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"

static const char *routes_a[] = {"#"};
static const char *routes_b[] = {"a/+/c={2}/{3..}", "a/#=p/", "+/+={topic}/{1}", "x/#"};
static const sink_options options[] = {
    {.topics = routes_a, .n_topics = 1},
    {.topics = routes_b, .n_topics = 4, .time_unit = "ns"},
    {.topics = routes_b,
     .n_topics = 4,
     .value_field = "d.v",
     .time_field = "d.t",
     .quality_field = "q",
     .time_unit = "s"},
};
#define NOPTIONS (sizeof options / sizeof options[0])

static void check_sample(const plain_sample *x, int rc)
{
    if (rc != 0)
        return;
    if (hist_tag_name_check(x->tag, strlen(x->tag)) != 0)
        abort();
    if (x->type != HIST_TYPE_FLOAT64 && x->type != HIST_TYPE_BOOL)
        abort();
    if (x->type == HIST_TYPE_BOOL && x->v.i != 0 && x->v.i != 1)
        abort();
    if (x->ts < HIST_TS_MIN || x->ts > HIST_TS_MAX)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    hist_log_sink log = hist_log_sink_make(NULL, NULL, -1); /* quiet */
    plain_map *m = NULL;
    char err[256];
    if (plain__new(&options[data[0] % NOPTIONS], &log, &m, err, sizeof err) != 0)
        abort(); /* the table's options are all valid */
    const uint8_t *p = data + 1, *end = data + size;
    while (p < end) {
        const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
        const uint8_t *topic = p;
        size_t tlen = (size_t)((nul ? nul : end) - p);
        p = nul ? nul + 1 : end;
        nul = memchr(p, 0, (size_t)(end - p));
        const uint8_t *payload = p;
        size_t plen = (size_t)((nul ? nul : end) - p);
        p = nul ? nul + 1 : end;
        plain_sample x, y;
        sink_counts c = {0};
        int rc = plain__sample(m, (const char *)topic, tlen, payload, plen, 1767225600000u, &x, &c);
        if (rc != 0 && rc != HIST_ENOTFOUND && rc != HIST_EINVAL)
            abort();
        if ((rc != 0) != (c.refused == 1))
            abort();
        check_sample(&x, rc);
        int rc2 =
            plain__sample(m, (const char *)topic, tlen, payload, plen, 1767225600000u, &y, &c);
        if (rc2 != rc || (rc == 0 && (strcmp(x.tag, y.tag) || x.type != y.type ||
                                      x.v.bits != y.v.bits || x.ts != y.ts || x.q != y.q)))
            abort();
    }
    plain__free(m);
    return 0;
}
