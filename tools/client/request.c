/*
 * request.c: write requests of the gateway client library (see
 * hist_client.h): series packed into a protobuf WriteRequest, and the
 * batch builder that groups samples by tag into one.
 */
#include <stdlib.h>
#include <string.h>

#include "common/hist_array.h"
#include "tools/client/hist_client.h"

/* ---- WriteRequest ------------------------------------------------------ */

/* Column space for every series of one request, split up as they go. */
typedef struct {
    int64_t *deltas;
    int64_t *ivals;
    protobuf_c_boolean *bvals;
    double *fvals;
} request_columns;

static void set_values(Historian__V1__Series *m, const hist_client_series *s,
                       const request_columns *col, size_t at)
{
    switch (s->type) {
    case HIST_TYPE_INT64:
        m->n_i64 = s->n;
        m->i64 = col->ivals + at;
        for (size_t k = 0; k < s->n; k++)
            col->ivals[at + k] = s->v[k].i;
        m->type = HISTORIAN__V1__VALUE_TYPE__VALUE_TYPE_INT64;
        break;
    case HIST_TYPE_BOOL:
        m->n_b = s->n;
        m->b = col->bvals + at;
        for (size_t k = 0; k < s->n; k++)
            col->bvals[at + k] = s->v[k].i != 0;
        m->type = HISTORIAN__V1__VALUE_TYPE__VALUE_TYPE_BOOL;
        break;
    default:
        m->n_f64 = s->n;
        m->f64 = col->fvals + at;
        memcpy(col->fvals + at, s->v, s->n * sizeof(double));
        m->type = HISTORIAN__V1__VALUE_TYPE__VALUE_TYPE_FLOAT64;
        break;
    }
}

/* Qualities go on the wire only when some sample is not Good. */
static void set_quality(Historian__V1__Series *m, const hist_client_series *s)
{
    if (!s->q)
        return;
    for (size_t k = 0; k < s->n; k++) {
        if (s->q[k] != 0) {
            m->n_quality = s->n;
            m->quality = (uint32_t *)s->q;
            return;
        }
    }
}

/* One Series message over s; its columns start at `at` in col. */
static void set_series(Historian__V1__Series *m, const hist_client_series *s,
                       const request_columns *col, size_t at)
{
    Historian__V1__Series init = HISTORIAN__V1__SERIES__INIT;
    *m = init;
    m->tag = (char *)s->tag;
    m->n_ts_delta = s->n;
    m->ts_delta = col->deltas + at;
    for (size_t k = 0; k < s->n; k++)
        /* wrapping subtraction: the server adds the deltas back up */
        col->deltas[at + k] = k ? (int64_t)((uint64_t)s->ts[k] - (uint64_t)s->ts[k - 1]) : s->ts[0];
    set_values(m, s, col, at);
    set_quality(m, s);
}

static int pack_request(uint64_t batch_id, const char *token, Historian__V1__Series **ptrs,
                        size_t nseries, uint8_t **out, size_t *len)
{
    Historian__V1__WriteRequest req = HISTORIAN__V1__WRITE_REQUEST__INIT;
    req.batch_id = batch_id;
    req.token = token ? (char *)token : (char *)"";
    req.n_series = nseries;
    req.series = ptrs;
    *len = historian__v1__write_request__get_packed_size(&req);
    *out = malloc(*len + 1);
    if (!*out)
        return HIST_ENOMEM;
    historian__v1__write_request__pack(&req, *out);
    return 0;
}

int hist_client_encode(uint64_t batch_id, const char *token, const hist_client_series *series,
                       size_t nseries, uint8_t **out, size_t *len)
{
    size_t total = 0;
    for (size_t i = 0; i < nseries; i++)
        total += series[i].n;
    Historian__V1__Series *msgs = calloc(nseries + 1, sizeof *msgs);
    Historian__V1__Series **ptrs = calloc(nseries + 1, sizeof *ptrs);
    request_columns col = {
        malloc((total + 1) * sizeof *col.deltas), malloc((total + 1) * sizeof *col.ivals),
        malloc((total + 1) * sizeof *col.bvals), malloc((total + 1) * sizeof *col.fvals)};
    int rc = HIST_ENOMEM;
    if (msgs && ptrs && col.deltas && col.ivals && col.bvals && col.fvals) {
        for (size_t i = 0, at = 0; i < nseries; at += series[i].n, i++) {
            set_series(&msgs[i], &series[i], &col, at);
            ptrs[i] = &msgs[i];
        }
        rc = pack_request(batch_id, token, ptrs, nseries, out, len);
    }
    free(msgs);
    free(ptrs);
    free(col.deltas);
    free(col.ivals);
    free(col.bvals);
    free(col.fvals);
    return rc;
}

/* ---- Batch builder ------------------------------------------------------- */

typedef struct {
    char *tag;
    hist_type type;
    size_t n, cap;
    int64_t *ts;
    hist_value *v;
    uint32_t *q;
} bb_series;

struct hist_batch_builder {
    bb_series *series;
    size_t n, cap;
    size_t *slots; /* open addressing: series index + 1 */
    size_t nslots;
    size_t samples;
};

hist_batch_builder *hist_bb_new(void)
{
    return calloc(1, sizeof(hist_batch_builder));
}

static void bb_reset(hist_batch_builder *bb)
{
    for (size_t i = 0; i < bb->n; i++) {
        free(bb->series[i].tag);
        free(bb->series[i].ts);
        free(bb->series[i].v);
        free(bb->series[i].q);
    }
    bb->n = 0;
    bb->samples = 0;
    if (bb->slots)
        memset(bb->slots, 0, bb->nslots * sizeof *bb->slots);
}

void hist_bb_free(hist_batch_builder *bb)
{
    if (!bb)
        return;
    bb_reset(bb);
    free(bb->series);
    free(bb->slots);
    free(bb);
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* Keeps the hash table at most half full: 0, or HIST_ENOMEM. */
static int bb_grow_slots(hist_batch_builder *bb)
{
    if ((bb->n + 1) * 2 <= bb->nslots)
        return 0;
    size_t ns = bb->nslots ? bb->nslots * 2 : 256;
    size_t *slots = calloc(ns, sizeof *slots);
    if (!slots)
        return HIST_ENOMEM;
    for (size_t i = 0; i < bb->n; i++) {
        size_t j = hash_str(bb->series[i].tag) & (ns - 1);
        while (slots[j])
            j = (j + 1) & (ns - 1);
        slots[j] = i + 1;
    }
    free(bb->slots);
    bb->slots = slots;
    bb->nslots = ns;
    return 0;
}

/* A new, empty series for tag in slot j. */
static bb_series *bb_append(hist_batch_builder *bb, size_t j, const char *tag, hist_type type)
{
    if (HIST_ARRAY_RESERVE(bb->series, bb->cap, bb->n + 1, 64) < 0)
        return NULL;
    bb_series *s = &bb->series[bb->n];
    memset(s, 0, sizeof *s);
    s->tag = strdup(tag);
    s->type = type;
    if (!s->tag)
        return NULL;
    bb->slots[j] = ++bb->n;
    return s;
}

/* The tag's series in this batch, new when it has none yet. */
static bb_series *bb_find(hist_batch_builder *bb, const char *tag, hist_type type)
{
    if (bb_grow_slots(bb) < 0)
        return NULL;
    size_t j = hash_str(tag) & (bb->nslots - 1);
    for (; bb->slots[j]; j = (j + 1) & (bb->nslots - 1))
        if (!strcmp(bb->series[bb->slots[j] - 1].tag, tag))
            return &bb->series[bb->slots[j] - 1];
    return bb_append(bb, j, tag, type);
}

/* Room for n more samples in s: 0, or HIST_ENOMEM. */
static int bb_reserve(bb_series *s, size_t n)
{
    if (s->n + n <= s->cap)
        return 0;
    if (n > SIZE_MAX - s->n)
        return HIST_ENOMEM;
    size_t cap = hist_array_cap(s->cap, s->n + n, sizeof(hist_value), 16);
    if (cap == 0)
        return HIST_ENOMEM;
    int64_t *t2 = realloc(s->ts, cap * sizeof *t2);
    if (t2)
        s->ts = t2;
    hist_value *v2 = realloc(s->v, cap * sizeof *v2);
    if (v2)
        s->v = v2;
    uint32_t *q2 = realloc(s->q, cap * sizeof *q2);
    if (q2)
        s->q = q2;
    if (!t2 || !v2 || !q2)
        return HIST_ENOMEM;
    s->cap = cap;
    return 0;
}

int hist_bb_add_many(hist_batch_builder *bb, const char *tag, hist_type type, size_t n,
                     const int64_t *ts, const hist_value *v, const uint32_t *q)
{
    bb_series *s = bb_find(bb, tag, type);
    if (!s)
        return HIST_ENOMEM;
    if (s->type != type)
        return HIST_ETYPE;
    if (bb_reserve(s, n) < 0)
        return HIST_ENOMEM;
    memcpy(s->ts + s->n, ts, n * sizeof *ts);
    memcpy(s->v + s->n, v, n * sizeof *v);
    if (q)
        memcpy(s->q + s->n, q, n * sizeof *q);
    else
        memset(s->q + s->n, 0, n * sizeof *q);
    s->n += n;
    bb->samples += n;
    return 0;
}

int hist_bb_add(hist_batch_builder *bb, const char *tag, hist_type type, int64_t ts, hist_value v,
                uint32_t q)
{
    return hist_bb_add_many(bb, tag, type, 1, &ts, &v, &q);
}

size_t hist_bb_samples(const hist_batch_builder *bb)
{
    return bb->samples;
}

int hist_bb_encode(hist_batch_builder *bb, uint64_t batch_id, const char *token, uint8_t **out,
                   size_t *len)
{
    hist_client_series *cs = calloc(bb->n + 1, sizeof *cs);
    if (!cs)
        return HIST_ENOMEM;
    for (size_t i = 0; i < bb->n; i++) {
        bb_series *s = &bb->series[i];
        cs[i] = (hist_client_series){s->tag, s->type, s->n, s->ts, s->v, s->q};
    }
    int rc = hist_client_encode(batch_id, token, cs, bb->n, out, len);
    free(cs);
    bb_reset(bb);
    return rc;
}
