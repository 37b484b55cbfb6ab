/*
 * tz.c: TZif reader (RFC 8536) and POSIX TZ rule evaluator for calendar
 * buckets and zone-less CSV times. See hist_tz.h for the door.
 *
 * A zone is: a sorted table of transition instants, each naming a local
 * time type (UT offset); the offset before the first transition is type
 * 0's; after the last transition the footer rule (std/dst offsets and the
 * yearly DST start/end dates) applies when the file has one, else the last
 * type stays. Only the v2+ 64-bit block is used when present; a v1-only
 * file is read through its 32-bit block. Leap-second records are skipped
 * (times are POSIX times).
 *
 * Parsing never trusts the file: every count is checked against the bytes
 * left, type indexes against the type count, transitions must ascend, and
 * offsets must be within +-26 h (fuzzed by tests/fuzz/fuzz_tzif.c).
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist_tz.h"
#include "common/hist_bytes.h"
#include "common/hist_error.h"

#define TZ_MAX_FILE   (1u << 20)
#define TZ_MAX_OFFSET (26 * 3600)

/* One POSIX TZ date: Jn (1..365, no Feb 29), n (0..365) or Mm.w.d. */
typedef struct {
    char kind; /* 'J', 'N' or 'M' */
    int n, m, w, d;
    int32_t secs; /* local time of day of the change, may be <0 or >24h */
} tz_date;

typedef struct {
    int32_t std_off, dst_off; /* seconds east of UTC */
    bool has_dst;
    tz_date start, end;
} tz_rule;

struct hist_tz {
    size_t ntrans;
    int64_t *trans;
    int32_t *trans_off; /* offset in effect from trans[i] on */
    int32_t first_off;  /* before trans[0] */
    bool has_rule;
    tz_rule rule;
};

/* ---- POSIX TZ string ---- */

static const char *parse_name(const char *s)
{
    if (*s == '<') {
        const char *e = strchr(s, '>');
        return (e && e > s + 1) ? e + 1 : NULL;
    }
    const char *p = s;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    return p - s >= 3 ? p : NULL;
}

static const char *parse_num(const char *s, int max, int *out)
{
    if (*s < '0' || *s > '9')
        return NULL;
    int v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s++ - '0');
        if (v > max)
            return NULL;
    }
    *out = v;
    return s;
}

/* [+-]hh[:mm[:ss]] with hours up to max_h, as seconds. */
static const char *parse_hms(const char *s, int max_h, int32_t *out)
{
    int sign = 1, h = 0, m = 0, sec = 0;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    if (!(s = parse_num(s, max_h, &h)))
        return NULL;
    if (*s == ':') {
        if (!(s = parse_num(s + 1, 59, &m)))
            return NULL;
        if (*s == ':' && !(s = parse_num(s + 1, 59, &sec)))
            return NULL;
    }
    *out = sign * (h * 3600 + m * 60 + sec);
    return s;
}

static const char *parse_date(const char *s, tz_date *dt)
{
    memset(dt, 0, sizeof(*dt));
    if (*s == 'J') {
        dt->kind = 'J';
        if (!(s = parse_num(s + 1, 365, &dt->n)) || dt->n < 1)
            return NULL;
    } else if (*s == 'M') {
        dt->kind = 'M';
        if (!(s = parse_num(s + 1, 12, &dt->m)) || dt->m < 1 || *s != '.')
            return NULL;
        if (!(s = parse_num(s + 1, 5, &dt->w)) || dt->w < 1 || *s != '.')
            return NULL;
        if (!(s = parse_num(s + 1, 6, &dt->d)))
            return NULL;
    } else {
        dt->kind = 'N';
        if (!(s = parse_num(s, 365, &dt->n)))
            return NULL;
    }
    dt->secs = 2 * 3600;
    if (*s == '/' && !(s = parse_hms(s + 1, 167, &dt->secs)))
        return NULL;
    return s;
}

/* Parses the footer rule; false when it is not a valid TZ string. */
static bool parse_rule(const char *s, tz_rule *r)
{
    memset(r, 0, sizeof(*r));
    int32_t off;
    if (!(s = parse_name(s)) || !(s = parse_hms(s, 24, &off)))
        return false;
    r->std_off = -off; /* POSIX offsets are west-positive */
    r->dst_off = r->std_off;
    if (*s == '\0')
        return true;
    if (!(s = parse_name(s)))
        return false;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*s != ',' && *s != '\0') {
        if (!(s = parse_hms(s, 24, &off)))
            return false;
        r->dst_off = -off;
    }
    if (*s == '\0') { /* no rule given: the US rule, as POSIX says */
        r->start = (tz_date){'M', 0, 3, 2, 0, 7200};
        r->end = (tz_date){'M', 0, 11, 1, 0, 7200};
        return true;
    }
    if (*s != ',' || !(s = parse_date(s + 1, &r->start)))
        return false;
    if (*s != ',' || !(s = parse_date(s + 1, &r->end)))
        return false;
    return *s == '\0';
}

/* The day (since the epoch) a rule date falls on in year y. */
static int64_t date_day(const tz_date *dt, int64_t y)
{
    int64_t jan1 = hist_days_from_civil(y, 1, 1);
    if (dt->kind == 'J')
        return jan1 + dt->n - 1 + (hist_leap_year(y) && dt->n >= 60);
    if (dt->kind == 'N')
        return jan1 + dt->n;
    int64_t d1 = hist_days_from_civil(y, dt->m, 1);
    int wd1 = (int)(((d1 % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday (4) */
    int64_t day = d1 + (dt->d - wd1 + 7) % 7 + (int64_t)(dt->w - 1) * 7;
    while (day >= d1 + hist_days_in_month(y, dt->m))
        day -= 7;
    return day;
}

static int32_t rule_offset(const tz_rule *r, int64_t utc)
{
    if (!r->has_dst)
        return r->std_off;
    int64_t y;
    int m, d;
    hist_civil_from_days(hist_tz_floor_div(utc + r->std_off, 86400), &y, &m, &d);
    /* The start is given in standard time, the end in daylight time. */
    int64_t start = date_day(&r->start, y) * 86400 + r->start.secs - r->std_off;
    int64_t end = date_day(&r->end, y) * 86400 + r->end.secs - r->dst_off;
    bool dst = start < end ? (utc >= start && utc < end) : !(utc >= end && utc < start);
    return dst ? r->dst_off : r->std_off;
}

/* ---- TZif ---- */

typedef struct {
    const uint8_t *p;
    size_t left;
} reader;

static int64_t be64(const uint8_t *p)
{
    return (int64_t)hist_get_be64(p);
}

typedef struct {
    int version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
} tzif_header;

static bool read_header(reader *r, tzif_header *h)
{
    if (r->left < 44 || memcmp(r->p, "TZif", 4) != 0)
        return false;
    h->version = r->p[4] == 0 ? 1 : r->p[4] - '0';
    if (h->version < 1 || h->version > 9)
        return false;
    const uint8_t *c = r->p + 20;
    h->isutcnt = hist_get_be32(c);
    h->isstdcnt = hist_get_be32(c + 4);
    h->leapcnt = hist_get_be32(c + 8);
    h->timecnt = hist_get_be32(c + 12);
    h->typecnt = hist_get_be32(c + 16);
    h->charcnt = hist_get_be32(c + 20);
    r->p += 44;
    r->left -= 44;
    if (h->typecnt == 0 || h->typecnt > 256 || h->charcnt == 0 || h->timecnt > 100000 ||
        h->leapcnt > 100000 || (h->isutcnt && h->isutcnt != h->typecnt) ||
        (h->isstdcnt && h->isstdcnt != h->typecnt) || h->charcnt > 100000)
        return false;
    return true;
}

static size_t block_size(const tzif_header *h, size_t tsize)
{
    return (size_t)h->timecnt * tsize + h->timecnt + (size_t)h->typecnt * 6 + h->charcnt +
           (size_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

/* Reads one data block (tsize 4 for v1, 8 for v2+) into tz. */
static int read_block(reader *r, const tzif_header *h, size_t tsize, hist_tz *tz)
{
    if (r->left < block_size(h, tsize))
        return HIST_ECORRUPT;
    const uint8_t *times = r->p;
    const uint8_t *idx = times + (size_t)h->timecnt * tsize;
    const uint8_t *types = idx + h->timecnt;
    int32_t offs[256];
    for (uint32_t i = 0; i < h->typecnt; i++) {
        int32_t off = (int32_t)hist_get_be32(types + 6 * i);
        if (off < -TZ_MAX_OFFSET || off > TZ_MAX_OFFSET || types[6 * i + 4] > 1 ||
            types[6 * i + 5] >= h->charcnt)
            return HIST_ECORRUPT;
        offs[i] = off;
    }
    tz->trans = malloc(((size_t)h->timecnt + 1) * sizeof(*tz->trans));
    tz->trans_off = malloc(((size_t)h->timecnt + 1) * sizeof(*tz->trans_off));
    if (!tz->trans || !tz->trans_off)
        return HIST_ENOMEM;
    for (uint32_t i = 0; i < h->timecnt; i++) {
        int64_t t = tsize == 8 ? be64(times + 8 * i) : (int32_t)hist_get_be32(times + 4 * i);
        if (idx[i] >= h->typecnt || (i > 0 && t <= tz->trans[i - 1]))
            return HIST_ECORRUPT;
        tz->trans[i] = t;
        tz->trans_off[i] = offs[idx[i]];
    }
    tz->ntrans = h->timecnt;
    tz->first_off = offs[0];
    r->p += block_size(h, tsize);
    r->left -= block_size(h, tsize);
    return 0;
}

int hist_tz_parse(const uint8_t *buf, size_t len, hist_tz **out)
{
    *out = NULL;
    reader r = {buf, len};
    tzif_header h;
    if (!read_header(&r, &h))
        return HIST_ECORRUPT;
    hist_tz *tz = calloc(1, sizeof(*tz));
    if (!tz)
        return HIST_ENOMEM;
    int rc;
    if (h.version >= 2) {
        /* Skip the v1 block; the v2 header and 64-bit block follow. */
        size_t skip = block_size(&h, 4);
        if (r.left < skip) {
            rc = HIST_ECORRUPT;
            goto fail;
        }
        r.p += skip;
        r.left -= skip;
        if (!read_header(&r, &h)) {
            rc = HIST_ECORRUPT;
            goto fail;
        }
        if ((rc = read_block(&r, &h, 8, tz)) < 0)
            goto fail;
        /* Footer: "\n" TZ-string "\n" (may be empty). */
        if (r.left < 2 || r.p[0] != '\n') {
            rc = HIST_ECORRUPT;
            goto fail;
        }
        const uint8_t *nl = memchr(r.p + 1, '\n', r.left - 1);
        if (!nl || nl - r.p - 1 > 255) {
            rc = HIST_ECORRUPT;
            goto fail;
        }
        char rule[256];
        size_t rlen = (size_t)(nl - r.p - 1);
        memcpy(rule, r.p + 1, rlen);
        rule[rlen] = '\0';
        if (rlen > 0) {
            if (strlen(rule) != rlen || !parse_rule(rule, &tz->rule)) {
                rc = HIST_ECORRUPT;
                goto fail;
            }
            tz->has_rule = true;
        }
    } else if ((rc = read_block(&r, &h, 4, tz)) < 0) {
        goto fail;
    }
    *out = tz;
    return 0;
fail:
    hist_tz_free(tz);
    return rc;
}

void hist_tz_free(hist_tz *tz)
{
    if (!tz)
        return;
    free(tz->trans);
    free(tz->trans_off);
    free(tz);
}

static bool name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 200 || name[0] == '/' || strstr(name, "..") || strstr(name, "//"))
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '-' || c == '+' || c == '.'))
            return false;
    }
    return name[len - 1] != '/';
}

int hist_tz_load(const char *name, hist_tz **out)
{
    *out = NULL;
    if (name[0] == '\0' || strcmp(name, "UTC") == 0) {
        *out = calloc(1, sizeof(**out));
        return *out ? 0 : HIST_ENOMEM;
    }
    if (!name_ok(name))
        return HIST_EINVAL;
    const char *dir = getenv("TZDIR");
    if (!dir || !*dir)
        dir = "/usr/share/zoneinfo";
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return HIST_EINVAL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return HIST_EINVAL;
    uint8_t *buf = malloc(TZ_MAX_FILE);
    if (!buf) {
        fclose(f);
        return HIST_ENOMEM;
    }
    size_t len = fread(buf, 1, TZ_MAX_FILE, f);
    fclose(f);
    int rc = hist_tz_parse(buf, len, out);
    free(buf);
    if (rc == HIST_ECORRUPT)
        rc = HIST_EINVAL; /* a directory, or not a zone file */
    return rc;
}

int32_t hist_tz_offset(const hist_tz *tz, int64_t utc)
{
    if (tz->ntrans == 0)
        return tz->has_rule ? rule_offset(&tz->rule, utc) : tz->first_off;
    if (utc < tz->trans[0])
        return tz->first_off;
    if (utc >= tz->trans[tz->ntrans - 1] && tz->has_rule)
        return rule_offset(&tz->rule, utc);
    size_t lo = 0, hi = tz->ntrans; /* trans[lo] <= utc < trans[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= utc)
            lo = mid;
        else
            hi = mid;
    }
    return tz->trans_off[lo];
}

int hist_tz_local_to_utc(const hist_tz *tz, int64_t local, int64_t out[2])
{
    /* Candidate offsets: those in effect within two days either side (no
     * zone changes offset twice within that window). */
    int32_t cand[5];
    int ncand = 0, n = 0;
    int32_t omin = INT32_MAX, omax = INT32_MIN;
    for (int k = -2; k <= 2; k++) {
        int32_t o = hist_tz_offset(tz, local + k * 86400);
        bool seen = false;
        for (int j = 0; j < ncand; j++)
            seen |= cand[j] == o;
        if (!seen)
            cand[ncand++] = o;
        omin = o < omin ? o : omin;
        omax = o > omax ? o : omax;
    }
    for (int j = 0; j < ncand; j++) {
        int64_t u = local - cand[j];
        if (hist_tz_offset(tz, u) != cand[j])
            continue;
        if (n == 1 && out[0] == u)
            continue;
        if (n < 2)
            out[n++] = u;
    }
    if (n == 2 && out[0] > out[1]) {
        int64_t t = out[0];
        out[0] = out[1];
        out[1] = t;
    }
    if (n > 0)
        return n;
    /* A gap: the first instant whose wall time is at or after local. */
    int64_t lo = local - omax, hi = local - omin;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (mid + hist_tz_offset(tz, mid) >= local)
            hi = mid;
        else
            lo = mid + 1;
    }
    out[0] = lo;
    return 0;
}
