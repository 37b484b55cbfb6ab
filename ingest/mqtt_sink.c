/*
 * mqtt_sink.c: what an MQTT message becomes. A topic under spBv1.0/ goes
 * to the broker's Sparkplug B host (sparkplug/hist_sparkplug.h: births,
 * aliases, seq, deaths); every other topic to the plain-topic map. The
 * plain topics (--mqtt-topic FILTER) are stored under the topic as the
 * tag name: a bare number, true/false, or {"value","timestamp" (ms),
 * "quality"}; numbers are float64. The
 * samples land in the caller's batch builder (many messages, one write
 * job); a rebirth request comes back for the caller to publish.
 *
 * One sink per broker: edge node sessions belong to the broker they were
 * born on. Loop thread only. Pure of I/O: no socket, no writer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ingest/ingest.h"
#include "ingest/sparkplug/hist_sparkplug.h"

#define SPB_PREFIX "spBv1.0/"

struct mqtt_sink {
    hist_spb_host *spb;
    hist_spb_result r;
    hist_log_sink log;
    char **filters; /* the plain topic filters, in the order given */
    size_t n_filters;
};

int sink__new(const hist_log_sink *log, const char *const *specs, size_t n, mqtt_sink **out,
              char *err, size_t errlen)
{
    *out = NULL;
    mqtt_sink *s = calloc(1, sizeof *s);
    if (!s || !(s->filters = calloc(n + 1, sizeof *s->filters))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return HIST_ENOMEM;
    }
    s->log = *log;
    hist_spb_options o = {.log = s->log};
    s->spb = hist_spb_host_new(&o);
    int rc = s->spb ? 0 : HIST_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t len = strcspn(specs[i], "=");
        if (!len) {
            snprintf(err, errlen, "--mqtt-topic '%s': no topic filter", specs[i]);
            rc = HIST_EINVAL;
        } else if (!(s->filters[s->n_filters++] = strndup(specs[i], len))) {
            rc = HIST_ENOMEM;
        }
    }
    if (rc < 0) {
        if (rc == HIST_ENOMEM)
            snprintf(err, errlen, "out of memory");
        sink__free(s);
        return rc;
    }
    *out = s;
    return 0;
}

size_t sink__filter_count(const mqtt_sink *s)
{
    return s->n_filters;
}

const char *sink__filter(const mqtt_sink *s, size_t i)
{
    return s->filters[i];
}

void sink__free(mqtt_sink *s)
{
    if (!s)
        return;
    hist_spb_result_free(&s->r);
    hist_spb_host_free(s->spb);
    for (size_t i = 0; i < s->n_filters; i++)
        free(s->filters[i]);
    free(s->filters);
    free(s);
}

static bool is_birth(hist_spb_kind k)
{
    return k == HIST_SPB_NBIRTH || k == HIST_SPB_DBIRTH;
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
    bool birth = is_birth(r->kind);
    for (size_t i = 0; i < r->n_samples; i++) {
        const hist_spb_sample *x = &r->samples[i];
        if (batch__add(b, x->tag, birth ? x->unit : NULL, x->type, x->ts, x->v, x->q) < 0)
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

/* Whether topic matches an MQTT filter ('+' one level, '#' the rest). */
static bool filter_matches(const char *f, const char *t, size_t tlen)
{
    const char *end = t + tlen;
    for (;;) {
        if (*f == '#')
            return true;
        size_t fl = strcspn(f, "/");
        const char *slash = memchr(t, '/', (size_t)(end - t));
        size_t tl = slash ? (size_t)(slash - t) : (size_t)(end - t);
        if (!(fl == 1 && *f == '+') && (fl != tl || memcmp(f, t, tl)))
            return false;
        f += fl;
        t += tl;
        if (!*f || !slash)
            return !*f && !slash;
        f++, t++;
    }
}

/* A plain topic's payload: a bare number, true/false, or JSON
 * {"value": number|bool, "timestamp": ms, "quality": StatusCode}. */
static int plain_value(const uint8_t *payload, size_t plen, uint64_t now_ms, hist_type *type,
                       hist_value *v, int64_t *ts, uint32_t *q)
{
    json_error_t e;
    json_t *j =
        json_loadb((const char *)payload, plen, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
    json_t *val = j, *t = NULL, *qj = NULL;
    if (j && json_is_object(j)) {
        val = json_object_get(j, "value");
        t = json_object_get(j, "timestamp");
        qj = json_object_get(j, "quality");
    }
    int rc = 0;
    *ts = (int64_t)now_ms * 1000000;
    *q = 0;
    if (json_is_boolean(val)) {
        *type = HIST_TYPE_BOOL;
        v->i = json_is_true(val);
    } else if (json_is_number(val)) {
        /* numbers are float64: a topic that sends 21 then 21.5 stays one tag */
        *type = HIST_TYPE_FLOAT64;
        v->f = json_number_value(val);
    } else {
        rc = HIST_EINVAL;
    }
    if (rc == 0 && t) {
        double ms = json_number_value(t);
        if (!json_is_number(t) || !(ms > -6.3e15 && ms < 6.3e15))
            rc = HIST_EINVAL;
        else
            *ts = (int64_t)(ms * 1e6);
    }
    if (rc == 0 && qj) {
        if (!json_is_integer(qj) || json_integer_value(qj) < 0 ||
            json_integer_value(qj) > (json_int_t)UINT32_MAX)
            rc = HIST_EINVAL;
        else
            *q = (uint32_t)json_integer_value(qj);
    }
    json_decref(j);
    return rc;
}

static int plain_message(mqtt_sink *s, const char *topic, size_t tlen, const uint8_t *payload,
                         size_t plen, uint64_t now_ms, batch_builder *b, sink_counts *c)
{
    size_t i = 0;
    while (i < s->n_filters && !filter_matches(s->filters[i], topic, tlen))
        i++;
    char name[HIST_TAG_NAME_MAX + 1];
    if (i == s->n_filters || tlen > HIST_TAG_NAME_MAX || hist_tag_name_check(topic, tlen) < 0) {
        c->refused++; /* not a topic this sink maps, or not a tag name */
        return 0;
    }
    memcpy(name, topic, tlen);
    name[tlen] = 0;
    hist_type type;
    hist_value v;
    int64_t ts;
    uint32_t q;
    if (plen > 65536 || plain_value(payload, plen, now_ms, &type, &v, &ts, &q) < 0) {
        c->refused++;
        return 0;
    }
    if (batch__add(b, name, NULL, type, ts, v, q) < 0)
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
