/*
 * mqtt_plain.c: plain MQTT topics (a unified namespace without Sparkplug)
 * become samples. Each --mqtt-topic FILTER[=TEMPLATE] is a route: a topic
 * the FILTER matches ('+' one level, '#' the rest) is stored under a tag
 * named by the TEMPLATE, or under the topic itself when there is none.
 *
 * TEMPLATE: text with placeholders {topic} (the whole topic), {N} (level
 * N, from 1) and {N..} (levels N to the last, '/'-joined). A TEMPLATE
 * without a '{' is a prefix: the tag is TEMPLATE followed by the topic.
 * The first route whose filter matches wins.
 *
 * Payload: a bare number, true/false, or a JSON object whose value,
 * timestamp and quality fields are found by name (configurable, dotted
 * paths reach into nested objects: "data.v"). Numbers are float64 (a
 * topic that sends 21 then 21.5 stays one tag); a null value is stored as
 * a Bad-quality sample. A numeric timestamp is in the configured unit (s,
 * ms, us or ns; default ms), a string one is RFC 3339; none means the
 * arrival time. A quality is an OPC UA StatusCode (integer) or one of
 * "good", "uncertain", "bad".
 *
 * Anything else (a topic that is no tag name, a payload of another shape)
 * is refused: counted, and logged once per topic, for the first
 * PLAIN_LOGGED_MAX topics (then once, that further ones go unlogged).
 * Loop thread only; pure of I/O.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "common/hist_assert.h"
#include "common/hist_hash.h"
#include "common/hist_time.h"
#include "ingest/ingest.h"

#define PLAIN_PAYLOAD_MAX  65536
#define PLAIN_LEVEL_MAX    64   /* the topic levels a template can name */
#define PLAIN_LOGGED_MAX   4096 /* topics whose refusal is remembered */
#define PLAIN_FIELD_MAX    8    /* parts of a dotted field path */
#define PLAIN_FIELD_LENMAX 127

typedef struct {
    char *filter;
    char *tmpl; /* NULL: the topic is the name */
    bool prefix;
} plain_route;

/* A dotted field path, split: parts[0..n). */
typedef struct {
    char parts[PLAIN_FIELD_MAX][PLAIN_FIELD_LENMAX + 1];
    size_t n;
} field_path;

struct plain_map {
    plain_route *routes;
    size_t n_routes;
    field_path value, time, quality;
    int64_t unit_ns; /* one numeric timestamp unit, in ns */
    hist_log_sink log;
    uint64_t *logged; /* hashes of topics already logged, open addressing */
    size_t n_logged;
    bool logged_full;
};

/* ---- options, checked at start --------------------------------------- */

static int field_path_parse(const char *text, const char *dflt, field_path *p, char *err,
                            size_t errlen)
{
    const char *s = text && *text ? text : dflt;
    p->n = 0;
    for (;;) {
        size_t len = strcspn(s, ".");
        if (!len || len > PLAIN_FIELD_LENMAX || p->n == PLAIN_FIELD_MAX) {
            snprintf(err, errlen, "MQTT JSON field '%s': 1..%d dot-separated names of 1..%d bytes",
                     text, PLAIN_FIELD_MAX, PLAIN_FIELD_LENMAX);
            return HIST_EINVAL;
        }
        memcpy(p->parts[p->n], s, len);
        p->parts[p->n++][len] = 0;
        if (!s[len])
            return 0;
        s += len + 1;
    }
}

static int time_unit_parse(const char *text, int64_t *ns, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        int64_t ns;
    } units[] = {{"s", 1000000000}, {"ms", 1000000}, {"us", 1000}, {"ns", 1}};
    if (!text || !*text)
        text = "ms";
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(text, units[i].name)) {
            *ns = units[i].ns;
            return 0;
        }
    snprintf(err, errlen, "--mqtt-time-unit '%s': one of s, ms, us, ns", text);
    return HIST_EINVAL;
}

/* A placeholder's level: "{3}" → 3, open false; "{3..}" → 3, open true;
 * "{topic}" → 0. Returns the bytes it spans, or 0 if it is not one. */
static size_t placeholder(const char *s, unsigned *level, bool *open)
{
    HIST_ASSERT(*s == '{');
    if (!strncmp(s, "{topic}", 7)) {
        *level = 0, *open = true;
        return 7;
    }
    char *end;
    unsigned long n = strtoul(s + 1, &end, 10);
    if (end == s + 1 || s[1] < '1' || s[1] > '9' || n > PLAIN_LEVEL_MAX)
        return 0;
    *level = (unsigned)n;
    *open = !strncmp(end, "..", 2);
    if (*open)
        end += 2;
    return *end == '}' ? (size_t)(end + 1 - s) : 0;
}

static int template_check(const char *spec, const char *t, char *err, size_t errlen)
{
    for (const char *s = strchr(t, '{'); s; s = strchr(s + 1, '{')) {
        unsigned level;
        bool open;
        if (!placeholder(s, &level, &open)) {
            snprintf(err, errlen,
                     "--mqtt-topic '%s': the template's placeholders are {topic}, {N} and "
                     "{N..} (N from 1 to %d)",
                     spec, PLAIN_LEVEL_MAX);
            return HIST_EINVAL;
        }
    }
    return 0;
}

static int route_parse(const char *spec, plain_route *r, char *err, size_t errlen)
{
    size_t len = strcspn(spec, "=");
    if (!len) {
        snprintf(err, errlen, "--mqtt-topic '%s': no topic filter", spec);
        return HIST_EINVAL;
    }
    const char *hash = memchr(spec, '#', len);
    if (hash && (hash != spec + len - 1 || (hash > spec && hash[-1] != '/'))) {
        snprintf(err, errlen, "--mqtt-topic '%s': '#' must be the filter's last level", spec);
        return HIST_EINVAL;
    }
    if (!(r->filter = strndup(spec, len)))
        return HIST_ENOMEM;
    if (!spec[len])
        return 0;
    const char *t = spec + len + 1;
    if (!*t) {
        snprintf(err, errlen, "--mqtt-topic '%s': empty template", spec);
        return HIST_EINVAL;
    }
    int rc = template_check(spec, t, err, errlen);
    if (rc < 0)
        return rc;
    r->prefix = !strchr(t, '{');
    return (r->tmpl = strdup(t)) ? 0 : HIST_ENOMEM;
}

int plain__new(const sink_options *o, const hist_log_sink *log, plain_map **out, char *err,
               size_t errlen)
{
    *out = NULL;
    plain_map *m = calloc(1, sizeof *m);
    if (!m || !(m->routes = calloc(o->n_topics + 1, sizeof *m->routes)) ||
        !(m->logged = calloc(PLAIN_LOGGED_MAX * 2, sizeof *m->logged))) {
        plain__free(m);
        snprintf(err, errlen, "out of memory");
        return HIST_ENOMEM;
    }
    m->log = *log;
    int rc = field_path_parse(o->value_field, "value", &m->value, err, errlen);
    if (rc == 0)
        rc = field_path_parse(o->time_field, "timestamp", &m->time, err, errlen);
    if (rc == 0)
        rc = field_path_parse(o->quality_field, "quality", &m->quality, err, errlen);
    if (rc == 0)
        rc = time_unit_parse(o->time_unit, &m->unit_ns, err, errlen);
    /* n_routes counts a route that failed too (the increment runs before
     * the test): it may hold its filter, which plain__free frees */
    for (size_t i = 0; rc == 0 && i < o->n_topics; i++, m->n_routes++)
        rc = route_parse(o->topics[i], &m->routes[i], err, errlen);
    if (rc < 0) {
        if (rc == HIST_ENOMEM)
            snprintf(err, errlen, "out of memory");
        plain__free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void plain__free(plain_map *m)
{
    if (!m)
        return;
    for (size_t i = 0; m->routes && i < m->n_routes; i++) {
        free(m->routes[i].filter);
        free(m->routes[i].tmpl);
    }
    free(m->routes);
    free(m->logged);
    free(m);
}

size_t plain__filter_count(const plain_map *m)
{
    return m->n_routes;
}

const char *plain__filter(const plain_map *m, size_t i)
{
    HIST_ASSERT(i < m->n_routes);
    return m->routes[i].filter;
}

/* ---- refusals, logged once per topic ---------------------------------- */

/* Whether topic is logged for the first time (and remembers it). */
static bool first_refusal(plain_map *m, const char *topic, size_t tlen)
{
    uint64_t h = hist_fnv1a(topic, tlen) | 1; /* 0 marks a free slot */
    size_t cap = PLAIN_LOGGED_MAX * 2, i = (size_t)(h % cap);
    while (m->logged[i]) {
        if (m->logged[i] == h)
            return false;
        i = (i + 1) % cap;
    }
    if (m->n_logged == PLAIN_LOGGED_MAX) {
        bool first = !m->logged_full;
        m->logged_full = true;
        if (first)
            hist_logf(&m->log, HIST_LOG_WARN,
                      "mqtt: %d topics refused; refusals of further topics are not logged "
                      "(historian_mqtt_refused_total counts them)",
                      PLAIN_LOGGED_MAX);
        return false;
    }
    m->logged[i] = h;
    m->n_logged++;
    return true;
}

static void refuse(plain_map *m, const char *topic, size_t tlen, sink_counts *c, const char *why)
{
    c->refused++;
    if (first_refusal(m, topic, tlen))
        hist_logf(&m->log, HIST_LOG_WARN, "mqtt: topic '%.*s': %s (logged once per topic)",
                  (int)(tlen > 200 ? 200 : tlen), topic, why);
}

/* ---- the tag name ------------------------------------------------------ */

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
        if (!slash) /* "a/#" matches "a" too (MQTT 5.0 §4.7.1.2) */
            return !*f || !strcmp(f, "/#");
        if (!*f)
            return false;
        f++, t++;
    }
}

/* Appends len bytes to name (HIST_TAG_NAME_MAX + 1 bytes); false if full. */
static bool append(char *name, size_t *n, const char *s, size_t len)
{
    if (*n + len > HIST_TAG_NAME_MAX)
        return false;
    memcpy(name + *n, s, len);
    *n += len;
    return true;
}

/* Levels level.. (open) or level of the topic, 1-based; level 0 the whole
 * topic. False if the topic has fewer levels. */
static bool topic_levels(const char *t, size_t tlen, unsigned level, bool open, const char **s,
                         size_t *len)
{
    const char *end = t + tlen;
    for (unsigned l = 1; l < level; l++) {
        const char *slash = memchr(t, '/', (size_t)(end - t));
        if (!slash)
            return false;
        t = slash + 1;
    }
    const char *slash = open ? NULL : memchr(t, '/', (size_t)(end - t));
    *s = t;
    *len = (size_t)((slash ? slash : end) - t);
    return true;
}

/* The tag name of topic by route r into name; NULL or why not. */
static const char *tag_name(const plain_route *r, const char *topic, size_t tlen, char *name)
{
    size_t n = 0;
    bool fits = true;
    if (!r->tmpl) {
        fits = append(name, &n, topic, tlen);
    } else if (r->prefix) {
        fits = append(name, &n, r->tmpl, strlen(r->tmpl)) && append(name, &n, topic, tlen);
    } else {
        for (const char *s = r->tmpl; *s && fits;) {
            unsigned level;
            bool open;
            size_t span = *s == '{' ? placeholder(s, &level, &open) : 0;
            if (!span) {
                size_t lit = strcspn(s + 1, "{") + 1;
                fits = append(name, &n, s, lit);
                s += lit;
                continue;
            }
            const char *part;
            size_t plen;
            if (!topic_levels(topic, tlen, level, open, &part, &plen))
                return "the template names a level the topic does not have";
            fits = append(name, &n, part, plen);
            s += span;
        }
    }
    if (!fits)
        return "the tag name would be over 255 bytes";
    name[n] = 0;
    if (hist_tag_name_check(name, n) < 0)
        return "not a tag name (empty level, control character or bad UTF-8)";
    return NULL;
}

/* ---- the payload ------------------------------------------------------- */

/* The member of j at path, or NULL (also when j is no object). */
static json_t *field(json_t *j, const field_path *p)
{
    for (size_t i = 0; j && i < p->n; i++)
        j = json_is_object(j) ? json_object_get(j, p->parts[i]) : NULL;
    return j;
}

static const char *timestamp_of(const plain_map *m, json_t *t, int64_t *ts)
{
    if (json_is_string(t)) {
        const char *s = json_string_value(t);
        /* RFC 3339 only: hist_time_parse also reads "now" and "-1h" */
        if (!strchr(s, 'T') || hist_time_parse(s, 0, ts) < 0)
            return "timestamp: not RFC 3339";
        return NULL;
    }
    if (!json_is_number(t))
        return "timestamp: neither a number nor an RFC 3339 string";
    if (json_is_integer(t)) {
        json_int_t i = json_integer_value(t);
        if (i > HIST_TS_MAX / m->unit_ns || i < -(HIST_TS_MAX / m->unit_ns))
            return "timestamp: out of range";
        *ts = (int64_t)i * m->unit_ns;
        return NULL;
    }
    /* whole units and the fraction apart: 1767229200000.5 ms times 1e6 in
     * one double would be off by up to 128 ns */
    double x = json_real_value(t), whole = floor(x);
    if (!(whole * (double)m->unit_ns > -(double)HIST_TS_MAX &&
          whole * (double)m->unit_ns < (double)HIST_TS_MAX))
        return "timestamp: out of range";
    *ts = (int64_t)whole * m->unit_ns + (int64_t)llround((x - whole) * (double)m->unit_ns);
    return NULL;
}

static const char *quality_of(json_t *q, uint32_t *out)
{
    if (json_is_string(q)) {
        static const struct {
            const char *name;
            uint32_t q;
        } names[] = {{"good", HIST_QUALITY_GOOD},
                     {"uncertain", HIST_QUALITY_UNCERTAIN},
                     {"bad", HIST_QUALITY_BAD}};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (!strcasecmp(json_string_value(q), names[i].name)) {
                *out = names[i].q;
                return NULL;
            }
        return "quality: a string other than good, uncertain, bad";
    }
    if (!json_is_integer(q) || json_integer_value(q) < 0 ||
        json_integer_value(q) > (json_int_t)UINT32_MAX)
        return "quality: not an OPC UA StatusCode (0..4294967295)";
    *out = (uint32_t)json_integer_value(q);
    return NULL;
}

/* One sample from payload into x; NULL, or why not. */
static const char *sample_of(const plain_map *m, json_t *j, uint64_t now_ms, plain_sample *x)
{
    json_t *val = j, *t = NULL, *q = NULL;
    if (json_is_object(j)) {
        val = field(j, &m->value);
        t = field(j, &m->time);
        q = field(j, &m->quality);
        if (!val)
            return "a JSON object without its value field";
    }
    x->ts = (int64_t)now_ms * 1000000;
    x->q = HIST_QUALITY_GOOD;
    x->v.bits = 0;
    const char *why = t ? timestamp_of(m, t, &x->ts) : NULL;
    if (!why && q)
        why = quality_of(q, &x->q);
    if (why)
        return why;
    if (json_is_boolean(val)) {
        x->type = HIST_TYPE_BOOL;
        x->v.i = json_is_true(val);
    } else if (json_is_number(val)) {
        x->type = HIST_TYPE_FLOAT64;
        x->v.f = json_number_value(val);
    } else if (json_is_null(val)) {
        x->type = HIST_TYPE_FLOAT64;
        if (!hist_quality_is_bad(x->q))
            x->q = HIST_QUALITY_BAD;
    } else {
        return "the value is neither a number, true/false nor null";
    }
    return NULL;
}

int plain__sample(plain_map *m, const char *topic, size_t tlen, const uint8_t *payload, size_t plen,
                  uint64_t now_ms, plain_sample *x, sink_counts *c)
{
    size_t i = 0;
    while (i < m->n_routes && !filter_matches(m->routes[i].filter, topic, tlen))
        i++;
    if (i == m->n_routes) {
        refuse(m, topic, tlen, c, "no --mqtt-topic filter matches");
        return HIST_ENOTFOUND;
    }
    const char *why = tag_name(&m->routes[i], topic, tlen, x->tag);
    if (!why && plen > PLAIN_PAYLOAD_MAX)
        why = "payload over 64 KiB";
    json_t *j = NULL;
    json_error_t e;
    if (!why && !(j = json_loadb((const char *)payload, plen,
                                 JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e)))
        why = "payload is no number, true/false or JSON";
    if (!why)
        why = sample_of(m, j, now_ms, x);
    json_decref(j);
    if (why) {
        refuse(m, topic, tlen, c, why);
        return HIST_EINVAL;
    }
    return 0;
}
