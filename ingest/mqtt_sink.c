/*
 * mqtt_sink.c: what an MQTT message becomes. A topic under spBv1.0/ goes
 * to the broker's Sparkplug B host (sparkplug/hist_sparkplug.h: births,
 * aliases, seq, deaths); every other topic to the plain-topic map
 * (mqtt_plain.c: routes, templates, JSON fields). The samples land in the
 * caller's batch builder (many messages, one write job); a rebirth request
 * comes back for the caller to publish.
 *
 * One sink per broker: edge node sessions belong to the broker they were
 * born on. Loop thread only. Pure of I/O: no socket, no writer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "ingest/ingest.h"
#include "ingest/sparkplug/hist_sparkplug.h"

#define SPB_PREFIX "spBv1.0/"

struct mqtt_sink {
    hist_spb_host *spb;
    hist_spb_result r;
    plain_map *plain;
};

int sink__new(const hist_log_sink *log, const sink_options *o, mqtt_sink **out, char *err,
              size_t errlen)
{
    *out = NULL;
    mqtt_sink *s = calloc(1, sizeof *s);
    hist_spb_options so = {.log = *log, .death_quality = o->death_quality};
    if (!s || !(s->spb = hist_spb_host_new(&so))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return HIST_ENOMEM;
    }
    int rc = plain__new(o, log, &s->plain, err, errlen);
    if (rc < 0) {
        sink__free(s);
        return rc;
    }
    *out = s;
    return 0;
}

size_t sink__filter_count(const mqtt_sink *s)
{
    return plain__filter_count(s->plain);
}

const char *sink__filter(const mqtt_sink *s, size_t i)
{
    return plain__filter(s->plain, i);
}

void sink__free(mqtt_sink *s)
{
    if (!s)
        return;
    hist_spb_result_free(&s->r);
    hist_spb_host_free(s->spb);
    plain__free(s->plain);
    free(s);
}

/* A Sparkplug message: its samples into b, its counts into c. */
static int sparkplug_message(mqtt_sink *s, const char *topic, size_t tlen, const uint8_t *payload,
                             size_t plen, uint64_t now_ms, batch_builder *b, sink_publish *pub,
                             sink_counts *c)
{
    hist_spb_result *r = &s->r;
    int rc = hist_spb_host_handle(s->spb, topic, tlen, payload, plen, now_ms, r);
    if (rc == HIST_ENOMEM)
        return rc;
    c->refused += r->stats.refused;
    c->unsupported += r->stats.unsupported + r->stats.invalid;
    c->dropped += r->stats.dropped;
    for (size_t i = 0; i < r->n_samples; i++) {
        const hist_spb_sample *x = &r->samples[i];
        /* a unit only where the message gave one: the writer records it in
         * the tag's metadata when it differs (a birth's, or a data's
         * engUnit that changes it) */
        if (batch__add(b, x->tag, x->unit_given ? x->unit : NULL, x->type, x->ts, x->v, x->q) < 0)
            return HIST_ENOMEM;
    }
    c->samples += r->n_samples;
    if (r->rebirth) {
        c->rebirths++;
        pub->topic = r->rebirth_topic;
        pub->payload = r->rebirth_payload;
        pub->len = r->rebirth_payload_len;
    }
    return 0;
}

static int plain_message(mqtt_sink *s, const char *topic, size_t tlen, const uint8_t *payload,
                         size_t plen, uint64_t now_ms, batch_builder *b, sink_counts *c)
{
    plain_sample x;
    if (plain__sample(s->plain, topic, tlen, payload, plen, now_ms, &x, c) < 0)
        return 0; /* refused: counted and logged */
    if (batch__add(b, x.tag, NULL, x.type, x.ts, x.v, x.q) < 0)
        return HIST_ENOMEM;
    c->samples++;
    return 0;
}

int sink__message(mqtt_sink *s, const char *topic, size_t tlen, const uint8_t *payload, size_t plen,
                  uint64_t now_ms, batch_builder *b, sink_publish *pub, sink_counts *c)
{
    memset(pub, 0, sizeof *pub);
    c->messages++;
    if (tlen >= sizeof SPB_PREFIX - 1 && !memcmp(topic, SPB_PREFIX, sizeof SPB_PREFIX - 1))
        return sparkplug_message(s, topic, tlen, payload, plen, now_ms, b, pub, c);
    return plain_message(s, topic, tlen, payload, plen, now_ms, b, c);
}
