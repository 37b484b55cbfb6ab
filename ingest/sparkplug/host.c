/*
 * host.c: the Sparkplug B host application's sessions: one per edge node
 * (group, node), with its devices; births, seq, aliases, deaths and
 * rebirth requests, and the samples they give.
 *
 * A node's states (docs/architecture.md, "Sparkplug B host core"):
 *   unknown  -> NBIRTH -> born
 *   born     -> NDATA/DBIRTH/DDATA/DDEATH with the next seq (mod 256),
 *               known aliases and known devices: samples
 *   born     -> a seq gap, an unknown alias or name, DATA of a device
 *               without a DBIRTH -> awaiting rebirth (data dropped,
 *               counted; a rebirth request returned, at most one per node
 *               per rebirth_interval_ms)
 *   awaiting -> NBIRTH -> born
 *   unknown  -> any DATA -> awaiting (the same request)
 *   born     -> NDEATH whose bdSeq is the birth's -> dead: one sample of
 *               death_quality at the arrival time for every metric of the
 *               node and of its live devices; an NDEATH with another bdSeq
 *               (a late will of an older session) is counted and ignored
 *   dead     -> NBIRTH -> born; DATA -> awaiting (request)
 * A device: DBIRTH -> alive; DDEATH -> dead (death samples); a new NBIRTH
 * makes the node's devices dead without death samples (their DBIRTHs
 * follow it); a device once born keeps its slot (max_devices counts it).
 * Invariants: every sample's tag passed hist_tag_name_check() at its birth;
 * a sample's type is its metric's birth datatype's; memory is bounded by
 * max_nodes x max_devices x the size of the births.
 */
#include <stdlib.h>
#include <string.h>

#include "common/hist_error.h"
#include "ingest/sparkplug/spb.h"
#include "storage/hist_storage.h"

typedef struct {
    char *name; /* the metric name as received, NUL, then the tag */
    const char *tag;
    size_t name_len;
    uint64_t alias;
    bool has_alias, reported, is_bdseq;
    uint32_t datatype;
    int64_t last_ts; /* the latest sample's, INT64_MIN before the first */
    char unit[HIST_TAG_UNIT_MAX + 1];
} spb_def;

typedef struct {
    spb_def *defs;
    size_t n;
    uint32_t *by_alias, *by_name; /* index + 1; 0 = empty; hcap slots */
    size_t hcap;
} spb_table;

typedef struct {
    char *id;
    size_t id_len;
    spb_table t;
    bool alive;
} spb_device;

typedef struct {
    char *group, *node; /* one allocation: group NUL node NUL */
    size_t glen, nlen;
    uint32_t hash;
    spb_table t;
    spb_device *devs;
    size_t n_devs, cap_devs;
    bool born, awaiting, has_bdseq, rebirth_sent;
    uint64_t bdseq, last_rebirth_ms;
    uint8_t seq;
} spb_node;

struct hist_spb_host {
    hist_spb_options o;
    spb_node **nodes;
    size_t n_nodes;
    uint32_t *index; /* node index + 1 by hash; icap slots */
    size_t icap;
    hist_spb_stats stats;
};

/* ---- tables -------------------------------------------------------------- */

static uint32_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (uint32_t)x;
}

static void table_free(spb_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->defs[i].name);
    free(t->defs);
    free(t->by_alias);
    free(t->by_name);
    memset(t, 0, sizeof(*t));
}

static const spb_def *find_alias(const spb_table *t, uint64_t alias)
{
    if (!t->hcap)
        return NULL;
    for (size_t i = mix64(alias) & (t->hcap - 1);; i = (i + 1) & (t->hcap - 1)) {
        uint32_t x = t->by_alias[i];
        if (!x)
            return NULL;
        if (t->defs[x - 1].alias == alias)
            return &t->defs[x - 1];
    }
}

static const spb_def *find_name(const spb_table *t, const char *name, size_t n)
{
    if (!t->hcap)
        return NULL;
    for (size_t i = topic__fnv32(name, n) & (t->hcap - 1);; i = (i + 1) & (t->hcap - 1)) {
        uint32_t x = t->by_name[i];
        if (!x)
            return NULL;
        const spb_def *d = &t->defs[x - 1];
        if (d->name_len == n && !memcmp(d->name, name, n))
            return d;
    }
}

static void put_unit(spb_def *d, const spb_metric *m)
{
    size_t n = m->unit_len < HIST_TAG_UNIT_MAX ? m->unit_len : HIST_TAG_UNIT_MAX;
    while (n > 0 && n < m->unit_len && ((uint8_t)m->unit[n] & 0xc0) == 0x80)
        n--; /* not inside a character */
    memcpy(d->unit, m->unit, n);
    d->unit[n] = '\0';
}

/* ---- results ------------------------------------------------------------- */

static void stats_add(hist_spb_stats *a, const hist_spb_stats *b)
{
    a->messages += b->messages, a->samples += b->samples, a->refused += b->refused;
    a->dropped += b->dropped, a->rebirths += b->rebirths, a->unsupported += b->unsupported;
    a->invalid += b->invalid, a->renamed += b->renamed, a->stale_deaths += b->stale_deaths;
}

static int reserve(hist_spb_result *r, size_t more)
{
    if (r->n_samples + more <= r->cap_samples)
        return 0;
    size_t cap = r->cap_samples ? r->cap_samples : 16;
    while (cap < r->n_samples + more)
        cap *= 2;
    hist_spb_sample *s = realloc(r->samples, cap * sizeof(*s));
    if (!s)
        return HIST_ENOMEM;
    r->samples = s;
    r->cap_samples = cap;
    return 0;
}

/* The storage type of a Sparkplug datatype; 0 when unsupported. */
static hist_type type_of(uint32_t dt)
{
    switch (dt) {
    case SPB_INT8:
    case SPB_INT16:
    case SPB_INT32:
    case SPB_INT64:
    case SPB_UINT8:
    case SPB_UINT16:
    case SPB_UINT32:
    case SPB_UINT64:
    case SPB_DATETIME:
        return HIST_TYPE_INT64;
    case SPB_FLOAT:
    case SPB_DOUBLE:
        return HIST_TYPE_FLOAT64;
    case SPB_BOOLEAN:
        return HIST_TYPE_BOOL;
    default:
        return (hist_type)0;
    }
}

/* A metric value as its datatype says; NULL, or why it is refused. */
static const char *value_of(uint32_t dt, const spb_metric *m, hist_value *v)
{
    bool integer = m->value_field == SPB_V_INT || m->value_field == SPB_V_LONG;
    uint64_t u = m->u;
    switch (dt) {
    case SPB_FLOAT:
    case SPB_DOUBLE:
        if (m->value_field != SPB_V_FLOAT && m->value_field != SPB_V_DOUBLE)
            return "no float_value or double_value";
        v->f = m->d;
        return NULL;
    case SPB_BOOLEAN:
        if (m->value_field != SPB_V_BOOL)
            return "no boolean_value";
        v->i = u != 0;
        return NULL;
    default:
        if (!integer)
            return "no int_value or long_value";
    }
    switch (dt) { /* two's complement in the low bits, as Tahu writes them */
    case SPB_INT8:
        v->i = (int8_t)(uint8_t)u;
        break;
    case SPB_INT16:
        v->i = (int16_t)(uint16_t)u;
        break;
    case SPB_INT32:
        v->i = (int32_t)(uint32_t)u;
        break;
    case SPB_INT64:
        v->i = (int64_t)u;
        break;
    case SPB_UINT8:
        v->i = (uint8_t)u;
        break;
    case SPB_UINT16:
        v->i = (uint16_t)u;
        break;
    case SPB_UINT32:
        v->i = (uint32_t)u;
        break;
    default: /* UInt64, DateTime (ms since the epoch) */
        if (u > INT64_MAX)
            return "over 2^63-1";
        v->i = (int64_t)u;
    }
    return NULL;
}

/* Once per metric name (a rebirth with the same datatype keeps the mark)
 * a line saying why its values are not stored. */
static void report(hist_spb_host *h, spb_def *d, const char *what)
{
    if (d->reported)
        return;
    d->reported = true;
    hist_logf(&h->o.log, HIST_LOG_WARN, "sparkplug: %s: %s (datatype %u); not stored", d->tag, what,
              (unsigned)d->datatype);
}

/* The sample of metric m (resolved to d) of payload p. */
static void emit(hist_spb_host *h, hist_spb_result *r, spb_def *d, const spb_metric *m,
                 const spb_payload *p, uint64_t now_ms)
{
    if (m->has_unit)
        put_unit(d, m);
    hist_type type = type_of(d->datatype);
    if (!type) {
        r->stats.unsupported++;
        report(h, d, "unsupported datatype");
        return;
    }
    uint64_t ms = m->has_timestamp ? m->timestamp : p->has_timestamp ? p->timestamp : now_ms;
    if (ms > (uint64_t)(HIST_TS_MAX / 1000000)) {
        r->stats.invalid++;
        report(h, d, "timestamp out of range");
        return;
    }
    hist_spb_sample *s = &r->samples[r->n_samples];
    s->tag = d->tag, s->unit = d->unit, s->type = type;
    s->unit_given = m->has_unit;
    s->ts = (int64_t)ms * 1000000;
    s->historical = m->is_historical;
    s->q = m->has_quality ? hist_quality_from_da(m->quality) : HIST_QUALITY_GOOD;
    s->v.bits = 0;
    if (m->is_null) {
        if (!hist_quality_is_bad(s->q))
            s->q = h->o.null_quality;
    } else {
        const char *why = value_of(d->datatype, m, &s->v);
        if (why) {
            r->stats.invalid++;
            report(h, d, why);
            return;
        }
    }
    if (s->ts > d->last_ts)
        d->last_ts = s->ts;
    r->n_samples++;
    r->stats.samples++;
}

/* One death sample for every stored metric of t at ts (after the metric's
 * latest sample). */
static int emit_deaths(hist_spb_host *h, hist_spb_result *r, spb_table *t, int64_t ts)
{
    if (reserve(r, t->n))
        return HIST_ENOMEM;
    for (size_t i = 0; i < t->n; i++) {
        spb_def *d = &t->defs[i];
        hist_type type = type_of(d->datatype);
        if (!type || d->is_bdseq)
            continue;
        int64_t at = ts > d->last_ts ? ts : d->last_ts < HIST_TS_MAX ? d->last_ts + 1 : d->last_ts;
        d->last_ts = at;
        r->samples[r->n_samples++] = (hist_spb_sample){
            .tag = d->tag, .unit = d->unit, .type = type, .ts = at, .q = h->o.death_quality};
        r->stats.samples++;
    }
    return 0;
}

/* ---- births -------------------------------------------------------------- */

static bool is_bdseq(const spb_metric *m)
{
    return m->has_name && m->name_len == 5 && !memcmp(m->name, "bdSeq", 5);
}

/* A birth's table (into *t, empty on entry) and its samples; old is the
 * table it replaces (a metric there keeps its latest sample time and
 * whether its refusal was logged). */
static int birth(hist_spb_host *h, hist_spb_result *r, const hist_spb_topic *tp,
                 const spb_payload *p, bool node, uint64_t now_ms, const spb_table *old,
                 spb_table *t)
{
    size_t n = p->n_metrics, hcap = 4;
    while (hcap < 2 * n)
        hcap *= 2;
    t->defs = calloc(n ? n : 1, sizeof(*t->defs));
    t->by_alias = calloc(hcap, sizeof(uint32_t));
    t->by_name = calloc(hcap, sizeof(uint32_t));
    t->hcap = hcap;
    if (!t->defs || !t->by_alias || !t->by_name || reserve(r, n))
        return HIST_ENOMEM;
    const char *dev = node ? NULL : tp->device;
    size_t dlen = node ? 0 : tp->device_len;
    for (size_t i = 0; i < n; i++) {
        const spb_metric *m = &p->metrics[i];
        if (!m->has_name || (m->has_alias && find_alias(t, m->alias)) ||
            find_name(t, m->name, m->name_len)) {
            r->stats.invalid++; /* no name, or a name or alias given twice */
            hist_logf(&h->o.log, HIST_LOG_WARN,
                      "sparkplug: %s of %.*s/%.*s: metric %zu has no name or repeats one; "
                      "not stored",
                      hist_spb_kind_name(tp->kind), (int)tp->group_len, tp->group,
                      (int)tp->node_len, tp->node, i);
            continue;
        }
        char tag[HIST_TAG_NAME_MAX + 1];
        if (hist_spb_tag_name(tp->group, tp->group_len, tp->node, tp->node_len, dev, dlen, m->name,
                              m->name_len, tag))
            r->stats.renamed++;
        size_t tl = strlen(tag);
        if (hist_tag_name_check(tag, tl) != 0) { /* cannot happen: the rule's promise */
            r->stats.invalid++;
            continue;
        }
        spb_def *d = &t->defs[t->n];
        d->name = malloc(m->name_len + 1 + tl + 1);
        if (!d->name)
            return HIST_ENOMEM;
        if (m->name_len)
            memcpy(d->name, m->name, m->name_len);
        d->name[m->name_len] = '\0';
        memcpy(d->name + m->name_len + 1, tag, tl + 1);
        d->tag = d->name + m->name_len + 1;
        d->name_len = m->name_len;
        d->alias = m->alias, d->has_alias = m->has_alias;
        d->datatype = m->datatype;
        d->last_ts = INT64_MIN;
        const spb_def *o = old ? find_name(old, m->name, m->name_len) : NULL;
        if (o) {
            d->last_ts = o->last_ts;
            d->reported = o->reported && o->datatype == d->datatype;
        }
        d->is_bdseq = node && is_bdseq(m);
        uint32_t x = (uint32_t)++t->n;
        size_t j = topic__fnv32(m->name, m->name_len) & (hcap - 1);
        while (t->by_name[j])
            j = (j + 1) & (hcap - 1);
        t->by_name[j] = x;
        if (m->has_alias) {
            for (j = mix64(m->alias) & (hcap - 1); t->by_alias[j]; j = (j + 1) & (hcap - 1)) {
            }
            t->by_alias[j] = x;
        }
        if (!d->is_bdseq)
            emit(h, r, d, m, p, now_ms);
    }
    return 0;
}

/* ---- nodes --------------------------------------------------------------- */

static uint32_t node_hash(const char *g, size_t gl, const char *n, size_t nl)
{
    uint32_t a = topic__fnv32(g, gl), b = topic__fnv32(n, nl);
    return a ^ (b * 0x9e3779b1u + 0x7f4a7c15u + (a << 6) + (a >> 2));
}

static spb_node *node_find(hist_spb_host *h, const hist_spb_topic *t, uint32_t hash)
{
    if (!h->icap)
        return NULL;
    for (size_t i = hash & (h->icap - 1);; i = (i + 1) & (h->icap - 1)) {
        uint32_t x = h->index[i];
        if (!x)
            return NULL;
        spb_node *n = h->nodes[x - 1];
        if (n->hash == hash && n->glen == t->group_len && n->nlen == t->node_len &&
            !memcmp(n->group, t->group, n->glen) && !memcmp(n->node, t->node, n->nlen))
            return n;
    }
}

static int index_grow(hist_spb_host *h)
{
    size_t cap = h->icap ? 2 * h->icap : 64;
    uint32_t *ix = calloc(cap, sizeof(*ix));
    spb_node **nodes = realloc(h->nodes, cap / 2 * sizeof(*nodes));
    if (!ix || !nodes) {
        free(ix);
        if (nodes)
            h->nodes = nodes;
        return HIST_ENOMEM;
    }
    h->nodes = nodes;
    for (size_t k = 0; k < h->n_nodes; k++) {
        size_t i = h->nodes[k]->hash & (cap - 1);
        while (ix[i])
            i = (i + 1) & (cap - 1);
        ix[i] = (uint32_t)(k + 1);
    }
    free(h->index);
    h->index = ix;
    h->icap = cap;
    return 0;
}

/* The node of topic t, created (unknown state) when missing; NULL with
 * *rc set when over max_nodes or out of memory. */
static spb_node *node_get(hist_spb_host *h, const hist_spb_topic *t, int *rc)
{
    uint32_t hash = node_hash(t->group, t->group_len, t->node, t->node_len);
    spb_node *n = node_find(h, t, hash);
    if (n)
        return n;
    if (h->n_nodes >= h->o.max_nodes) {
        *rc = HIST_ETOOBIG;
        return NULL;
    }
    *rc = HIST_ENOMEM;
    if ((h->n_nodes + 1) * 2 > h->icap && index_grow(h) != 0)
        return NULL;
    n = calloc(1, sizeof(*n));
    char *s = malloc(t->group_len + t->node_len + 2);
    if (!n || !s) {
        free(n);
        free(s);
        return NULL;
    }
    memcpy(s, t->group, t->group_len);
    s[t->group_len] = '\0';
    memcpy(s + t->group_len + 1, t->node, t->node_len);
    s[t->group_len + 1 + t->node_len] = '\0';
    n->group = s, n->node = s + t->group_len + 1;
    n->glen = t->group_len, n->nlen = t->node_len;
    n->hash = hash;
    h->nodes[h->n_nodes++] = n;
    size_t i = hash & (h->icap - 1);
    while (h->index[i])
        i = (i + 1) & (h->icap - 1);
    h->index[i] = (uint32_t)h->n_nodes;
    return n;
}

static void devices_free(spb_node *n)
{
    for (size_t i = 0; i < n->n_devs; i++) {
        free(n->devs[i].id);
        table_free(&n->devs[i].t);
    }
    free(n->devs);
    n->devs = NULL;
    n->n_devs = n->cap_devs = 0;
}

static spb_device *device_find(spb_node *n, const char *id, size_t len)
{
    for (size_t i = 0; i < n->n_devs; i++)
        if (n->devs[i].id_len == len && !memcmp(n->devs[i].id, id, len))
            return &n->devs[i];
    return NULL;
}

/* Asks node n for a rebirth, unless it was asked less than an interval
 * ago (a clock that went back counts as an interval passed). */
static int ask_rebirth(hist_spb_host *h, spb_node *n, uint64_t now_ms, hist_spb_result *r)
{
    if (n->rebirth_sent && now_ms >= n->last_rebirth_ms &&
        now_ms - n->last_rebirth_ms < h->o.rebirth_interval_ms)
        return 0;
    size_t need = sizeof("spBv1.0//NCMD/") + n->glen + n->nlen;
    if (need > r->rebirth_topic_cap) {
        char *t = realloc(r->rebirth_topic, need);
        if (!t)
            return HIST_ENOMEM;
        r->rebirth_topic = t;
        r->rebirth_topic_cap = need;
    }
    memcpy(r->rebirth_topic, "spBv1.0/", 8);
    memcpy(r->rebirth_topic + 8, n->group, n->glen);
    memcpy(r->rebirth_topic + 8 + n->glen, "/NCMD/", 6);
    memcpy(r->rebirth_topic + 14 + n->glen, n->node, n->nlen + 1);
    r->rebirth_payload_len =
        (size_t)hist_spb_rebirth_encode(now_ms, r->rebirth_payload, sizeof(r->rebirth_payload));
    r->rebirth = true;
    r->stats.rebirths++;
    n->rebirth_sent = true;
    n->last_rebirth_ms = now_ms;
    hist_logf(&h->o.log, HIST_LOG_INFO, "sparkplug: %s/%s: %s; rebirth requested", n->group,
              n->node, r->why);
    return 0;
}

/* Drops the message's metrics (n awaits its rebirth) and asks for one. */
static int drop(hist_spb_host *h, spb_node *n, const spb_payload *p, uint64_t now_ms,
                hist_spb_result *r, const char *why)
{
    n->awaiting = true;
    r->why = why;
    r->stats.dropped += p->n_metrics;
    return ask_rebirth(h, n, now_ms, r);
}

static bool seq_next(spb_node *n, const spb_payload *p)
{
    if (!p->has_seq || p->seq > 255 || p->seq != (uint8_t)(n->seq + 1))
        return false;
    n->seq = (uint8_t)p->seq;
    return true;
}

static const spb_metric *find_metric(const spb_payload *p, bool (*match)(const spb_metric *))
{
    for (size_t i = 0; i < p->n_metrics; i++)
        if (match(&p->metrics[i]))
            return &p->metrics[i];
    return NULL;
}

static int on_nbirth(hist_spb_host *h, spb_node *n, const hist_spb_topic *t, const spb_payload *p,
                     uint64_t now_ms, hist_spb_result *r)
{
    spb_table fresh = {0};
    int rc = birth(h, r, t, p, true, now_ms, &n->t, &fresh);
    if (rc) {
        table_free(&fresh);
        r->n_samples = 0;
        r->stats.samples = 0;
        return rc;
    }
    table_free(&n->t);
    /* the devices wait for their DBIRTHs; their tables stay as the prior
     * of the next DBIRTH, so a metric's "logged once" mark and its latest
     * sample time survive the rebirth */
    for (size_t i = 0; i < n->n_devs; i++)
        n->devs[i].alive = false;
    n->t = fresh;
    const spb_metric *bd = find_metric(p, is_bdseq);
    n->has_bdseq = bd && (bd->value_field == SPB_V_INT || bd->value_field == SPB_V_LONG);
    n->bdseq = n->has_bdseq ? bd->u : 0;
    n->seq = p->has_seq && p->seq <= 255 ? (uint8_t)p->seq : 0;
    n->born = true;
    n->awaiting = false;
    return 0;
}

static int on_ndeath(hist_spb_host *h, spb_node *n, const spb_payload *p, uint64_t now_ms,
                     hist_spb_result *r)
{
    const spb_metric *bd = find_metric(p, is_bdseq);
    bool has = bd && (bd->value_field == SPB_V_INT || bd->value_field == SPB_V_LONG);
    if (!n->born || (n->has_bdseq && has && bd->u != n->bdseq)) {
        r->stats.stale_deaths += n->born;
        r->why = n->born ? "NDEATH of an older session (bdSeq)" : "NDEATH of a node not born";
        return 0;
    }
    int64_t ts =
        now_ms > (uint64_t)(HIST_TS_MAX / 1000000) ? HIST_TS_MAX : (int64_t)now_ms * 1000000;
    int rc = emit_deaths(h, r, &n->t, ts);
    for (size_t i = 0; !rc && i < n->n_devs; i++)
        if (n->devs[i].alive) {
            rc = emit_deaths(h, r, &n->devs[i].t, ts);
            n->devs[i].alive = false;
        }
    n->born = false;
    n->awaiting = false;
    return rc;
}

/* Resolves every metric of p in t; false when one is unknown. */
static bool resolve(const spb_table *t, const spb_payload *p, const spb_def **defs)
{
    for (size_t i = 0; i < p->n_metrics; i++) {
        const spb_metric *m = &p->metrics[i];
        defs[i] = m->has_alias  ? find_alias(t, m->alias)
                  : m->has_name ? find_name(t, m->name, m->name_len)
                                : NULL;
        if (!defs[i])
            return false;
    }
    return true;
}

static int on_data(hist_spb_host *h, spb_node *n, spb_table *t, const spb_payload *p,
                   uint64_t now_ms, hist_spb_result *r)
{
    const spb_def **defs = malloc((p->n_metrics ? p->n_metrics : 1) * sizeof(*defs));
    if (!defs || reserve(r, p->n_metrics)) {
        free(defs);
        return HIST_ENOMEM;
    }
    int rc = 0;
    if (!resolve(t, p, defs))
        rc = drop(h, n, p, now_ms, r, "a metric of unknown alias or name");
    else
        for (size_t i = 0; i < p->n_metrics; i++)
            emit(h, r, (spb_def *)defs[i], &p->metrics[i], p, now_ms);
    free(defs);
    return rc;
}

/* NDATA, DBIRTH, DDATA, DDEATH: the node must be born, the seq next. */
static int on_session(hist_spb_host *h, spb_node *n, const hist_spb_topic *t, const spb_payload *p,
                      uint64_t now_ms, hist_spb_result *r)
{
    if (!n->born)
        return drop(h, n, p, now_ms, r, "data before the node's birth");
    if (n->awaiting)
        return drop(h, n, p, now_ms, r, "awaiting the node's rebirth");
    if (!seq_next(n, p))
        return drop(h, n, p, now_ms, r, "a seq gap");
    if (t->kind == HIST_SPB_NDATA)
        return on_data(h, n, &n->t, p, now_ms, r);
    spb_device *d = device_find(n, t->device, t->device_len);
    if (t->kind == HIST_SPB_DBIRTH) {
        if (!d) {
            if (n->n_devs >= h->o.max_devices) {
                r->why = "too many devices on one node";
                r->stats.refused++;
                return HIST_ETOOBIG;
            }
            if (n->n_devs == n->cap_devs) {
                size_t cap = n->cap_devs ? 2 * n->cap_devs : 4;
                spb_device *g = realloc(n->devs, cap * sizeof(*g));
                if (!g)
                    return HIST_ENOMEM;
                n->devs = g, n->cap_devs = cap;
            }
            char *id = malloc(t->device_len + 1);
            if (!id)
                return HIST_ENOMEM;
            memcpy(id, t->device, t->device_len);
            id[t->device_len] = '\0';
            d = &n->devs[n->n_devs++];
            memset(d, 0, sizeof(*d));
            d->id = id, d->id_len = t->device_len;
        }
        spb_table fresh = {0};
        int rc = birth(h, r, t, p, false, now_ms, &d->t, &fresh);
        if (rc) {
            table_free(&fresh);
            r->n_samples = 0;
            r->stats.samples = 0;
            return rc;
        }
        table_free(&d->t);
        d->t = fresh;
        d->alive = true;
        return 0;
    }
    if (t->kind == HIST_SPB_DDEATH) {
        if (!d || !d->alive) {
            r->why = "DDEATH of a device not alive";
            return 0;
        }
        uint64_t ms = p->has_timestamp ? p->timestamp : now_ms;
        int64_t ts = ms > (uint64_t)(HIST_TS_MAX / 1000000) ? HIST_TS_MAX : (int64_t)ms * 1000000;
        d->alive = false;
        return emit_deaths(h, r, &d->t, ts);
    }
    if (!d || !d->alive) /* DDATA */
        return drop(h, n, p, now_ms, r, "data of a device without a birth");
    return on_data(h, n, &d->t, p, now_ms, r);
}

/* ---- the door ------------------------------------------------------------ */

hist_spb_host *hist_spb_host_new(const hist_spb_options *opts)
{
    hist_spb_host *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    if (opts)
        h->o = *opts;
    if (!h->o.death_quality)
        h->o.death_quality = HIST_SPB_BAD_NO_COMMUNICATION;
    if (!h->o.null_quality)
        h->o.null_quality = HIST_QUALITY_BAD;
    if (!h->o.rebirth_interval_ms)
        h->o.rebirth_interval_ms = 5000;
    if (!h->o.max_payload)
        h->o.max_payload = 16u << 20;
    if (!h->o.max_metrics)
        h->o.max_metrics = 100000;
    if (!h->o.max_nodes)
        h->o.max_nodes = 100000;
    if (!h->o.max_devices)
        h->o.max_devices = 10000;
    return h;
}

void hist_spb_host_free(hist_spb_host *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n_nodes; i++) {
        table_free(&h->nodes[i]->t);
        devices_free(h->nodes[i]);
        free(h->nodes[i]->group);
        free(h->nodes[i]);
    }
    free(h->nodes);
    free(h->index);
    free(h);
}

hist_spb_stats hist_spb_host_stats(const hist_spb_host *h)
{
    return h->stats;
}

void hist_spb_result_free(hist_spb_result *r)
{
    free(r->samples);
    free(r->rebirth_topic);
    memset(r, 0, sizeof(*r));
}

static int refuse(hist_spb_host *h, hist_spb_result *r, int rc, const char *why)
{
    r->why = why;
    r->stats.refused++;
    hist_logf(&h->o.log, HIST_LOG_DEBUG, "sparkplug: message refused: %s", why);
    return rc;
}

int hist_spb_host_handle(hist_spb_host *h, const char *topic, size_t topic_len,
                         const uint8_t *payload, size_t len, uint64_t now_ms, hist_spb_result *r)
{
    r->kind = 0;
    r->n_samples = 0;
    r->rebirth = false;
    r->rebirth_payload_len = 0;
    r->why = "";
    memset(&r->stats, 0, sizeof(r->stats));
    r->stats.messages = 1;
    hist_spb_topic t;
    const char *why;
    int rc;
    if (hist_spb_topic_parse(topic, topic_len, &t, &why) != 0) {
        rc = refuse(h, r, HIST_EINVAL, why);
        goto out;
    }
    r->kind = t.kind;
    if (t.kind == HIST_SPB_STATE || t.kind == HIST_SPB_NCMD || t.kind == HIST_SPB_DCMD) {
        rc = 0; /* other hosts' state, commands to edge nodes: not data */
        goto out;
    }
    if (len > h->o.max_payload) {
        rc = refuse(h, r, HIST_ETOOBIG, "payload over max_payload");
        goto out;
    }
    spb_payload p;
    rc = spb_payload__decode(payload ? payload : (const uint8_t *)"", len, h->o.max_metrics, &p, &why);
    if (rc) {
        rc = refuse(h, r, rc, why);
        goto out;
    }
    spb_node *n = node_get(h, &t, &rc);
    if (!n) {
        rc = refuse(h, r, rc, rc == HIST_ETOOBIG ? "too many edge nodes" : "out of memory");
    } else if (t.kind == HIST_SPB_NBIRTH) {
        rc = on_nbirth(h, n, &t, &p, now_ms, r);
    } else if (t.kind == HIST_SPB_NDEATH) {
        rc = on_ndeath(h, n, &p, now_ms, r);
    } else {
        rc = on_session(h, n, &t, &p, now_ms, r);
    }
    spb_payload__free(&p);
out:
    stats_add(&h->stats, &r->stats);
    return rc;
}
