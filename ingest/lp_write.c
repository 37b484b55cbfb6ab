/*
 * lp_write.c: an InfluxDB line protocol write (POST /write, the 1.x API,
 * and POST /api/v2/write) made into one batch: the body inflated when it
 * came gzip'd (gzip.c), parsed by ingest/lineproto/, its points gathered
 * into series (batch.c), and what the request's answer says when it is
 * refused, in InfluxDB's error shape {"code": "...", "message": "..."}.
 *
 * The rule (docs/protocol.md "Line protocol over HTTP"): a request is
 * written whole or refused whole. A line that does not parse refuses the
 * request (400, naming the line and column; nothing is written), unlike
 * InfluxDB, which writes the valid lines of a partly bad batch. String
 * fields are not stored (no string tags yet): they are left out, counted
 * (historian_lp_refused_fields_total, and the answer's header), and the
 * rest of the line is written. The db, rp, org and bucket parameters are
 * accepted and not part of tag names. Pure of I/O: the caller submits the
 * batch and sends the answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist_text.h"
#include "ingest/ingest.h"

int lpw__config_init(lpw_config *cfg, const char *tmpl, const char *quality_field, size_t max_body,
                     char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->quality_field = quality_field && *quality_field ? quality_field : NULL;
    cfg->max_body = max_body;
    if (!tmpl || !*tmpl)
        return 0;
    char why[256] = "";
    if (hist_lp_template_parse(&cfg->tmpl, tmpl, why, sizeof why) < 0) {
        snprintf(err, errlen, "--lp-template '%s': %s", tmpl, why);
        return HIST_EINVAL;
    }
    cfg->has_tmpl = true;
    return 0;
}

/* The value of key in a query string into out: 1, 0 when absent, -1 when
 * malformed or over cap - 1 bytes. */
static int query_param(const char *query, const char *key, char *out, size_t cap)
{
    char *v;
    int rc = hist_query_param(query, key, &v);
    if (rc <= 0)
        return rc < 0 ? -1 : 0;
    bool fits = strlen(v) < cap;
    if (fits)
        strcpy(out, v);
    free(v);
    return fits ? 1 : -1;
}

bool lpw__token_param(const char *query, char *out, size_t cap)
{
    return query_param(query, "p", out, cap) == 1;
}

static int refuse(lpw_outcome *oc, int status, const char *msg)
{
    oc->status = status;
    snprintf(oc->msg, sizeof oc->msg, "%s", msg);
    return status == 413 ? HIST_ETOOBIG : status == 500 ? HIST_ENOMEM : HIST_EINVAL;
}

/* The points of r as one whole (not partial) batch. */
static int batch_of(const hist_lp_result *r, hist_in_batch **out)
{
    batch_builder b;
    batch__init(&b);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < r->npoints; i++) {
        const hist_lp_point *p = &r->points[i];
        rc = batch__add(&b, p->name, NULL, p->type, p->ts, p->v, p->quality);
    }
    if (rc == 0)
        rc = batch__build(&b, 0, false, out); /* whole or not at all */
    batch__free(&b);
    return rc;
}

int lpw__decode(const lpw_config *cfg, const char *query, bool gzipped, const uint8_t *body,
                size_t len, int64_t now_ns, hist_in_batch **out, lpw_outcome *oc)
{
    *out = NULL;
    memset(oc, 0, sizeof *oc);
    char prec_name[8] = "";
    hist_lp_precision prec = HIST_LP_NS;
    int has = query_param(query, "precision", prec_name, sizeof prec_name);
    if (has < 0 || (has > 0 && hist_lp_precision_parse(prec_name, &prec) < 0))
        return refuse(oc, 400, "precision: one of ns, us (u), ms, s, m, h");
    uint8_t *plain = NULL;
    if (gzipped) {
        size_t plen;
        const char *why;
        int rc = gzip__inflate(body, len, cfg->max_body, &plain, &plen, &why);
        if (rc == HIST_ETOOBIG)
            return refuse(oc, 413, why);
        if (rc < 0)
            return refuse(oc, rc == HIST_ENOMEM ? 500 : 400, why);
        body = plain, len = plen;
    }
    hist_lp_options o = {.name_template = cfg->has_tmpl ? &cfg->tmpl : NULL,
                         .quality_field = cfg->quality_field,
                         .strict_but_strings = true};
    hist_lp_result r;
    hist_lp_result_init(&r);
    int rc =
        hist_lp_parse(&o, prec, now_ns, (const char *)(body ? body : (const uint8_t *)""), len, &r);
    free(plain);
    if (rc < 0) {
        char msg[sizeof r.error.msg + 64];
        snprintf(msg, sizeof msg, "%s; nothing was written", r.error.msg);
        hist_lp_result_free(&r);
        return refuse(oc, rc == HIST_ENOMEM ? 500 : 400, msg);
    }
    oc->points = r.npoints;
    oc->refused = r.refused;
    if (r.refused)
        snprintf(oc->msg, sizeof oc->msg, "%s", r.refusal.msg);
    rc = batch_of(&r, out);
    hist_lp_result_free(&r);
    if (rc < 0)
        return refuse(oc, 500, "out of memory");
    oc->status = 204;
    return 0;
}

const char *lpw__code_of(int status)
{
    switch (status) {
    case 401:
        return "unauthorized";
    case 403:
        return "forbidden";
    case 404:
        return "not found";
    case 413:
        return "request too large";
    case 500:
        return "internal error";
    case 503:
        return "unavailable";
    default:
        return "invalid";
    }
}

size_t lpw__error_json(char *buf, size_t cap, const char *code, const char *msg)
{
    size_t k = (size_t)snprintf(buf, cap, "{\"code\":\"%s\",\"message\":\"", code);
    size_t left = strlen(msg);
    for (const char *p = msg; *p && k + 8 < cap; p++, left--) {
        unsigned char ch = (unsigned char)*p;
        size_t n = ch >= 0x80 ? hist_utf8_len((const unsigned char *)p, left) : 1;
        if (ch == '"' || ch == '\\') {
            buf[k++] = '\\', buf[k++] = (char)ch;
        } else if (ch >= 0x80 && n > 0 && k + n + 8 < cap) { /* a whole UTF-8 sequence */
            memcpy(buf + k, p, n);
            k += n, p += n - 1, left -= n - 1;
        } else if (ch >= 0x20) {
            buf[k++] = ch >= 0x80 ? '?' : (char)ch; /* not UTF-8: JSON must be */
        }
    }
    k += (size_t)snprintf(buf + k, cap - k, "\"}");
    return k < cap ? k : cap - 1;
}
