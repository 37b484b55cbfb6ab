/*
 * topic.c: Sparkplug topics (spBv1.0/<group>/<KIND>/<node>[/<device>],
 * spBv1.0/STATE/<host>), the rule that turns a metric into a valid tag
 * name, and the host's STATE JSON.
 *
 * The name rule (docs/protocol.md, "Tag names"): the name is
 * group/node[/device]/metric, the metric's '/' adding levels; then
 *   - a byte that is not part of valid UTF-8, a control character (C0, DEL,
 *     C1), becomes '_' (each byte of it);
 *   - an empty segment (a leading, trailing or doubled '/' of the metric
 *     name, an empty metric name) becomes "_";
 *   - a name the two steps changed, or one over HIST_TAG_NAME_MAX bytes, is
 *     cut (at a character boundary) so that "~" and the 8 hex digits of the
 *     FNV-1a 32 hash of the name as received fit, and gets them: two
 *     metrics whose names differ never share a tag, and a mapped name is
 *     recognisable.
 * The result always passes hist_tag_name_check().
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/hist_error.h"
#include "common/hist_text.h"
#include "ingest/sparkplug/spb.h"
#include "storage/hist_storage.h"

static const struct {
    const char *name;
    hist_spb_kind kind;
    bool device;
} kinds[] = {
    {"NBIRTH", HIST_SPB_NBIRTH, false}, {"NDATA", HIST_SPB_NDATA, false},
    {"NDEATH", HIST_SPB_NDEATH, false}, {"DBIRTH", HIST_SPB_DBIRTH, true},
    {"DDATA", HIST_SPB_DDATA, true},    {"DDEATH", HIST_SPB_DDEATH, true},
    {"NCMD", HIST_SPB_NCMD, false},     {"DCMD", HIST_SPB_DCMD, true},
};

const char *hist_spb_kind_name(hist_spb_kind kind)
{
    if (kind == HIST_SPB_STATE)
        return "STATE";
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (kinds[i].kind == kind)
            return kinds[i].name;
    return "?";
}

/* An id: non-empty, no MQTT wildcard, no NUL. */
static const char *id_bad(const char *s, size_t n, const char *what)
{
    if (n == 0)
        return what;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '+' || s[i] == '#' || s[i] == '\0')
            return "an id holds '+', '#' or NUL";
    return NULL;
}

int hist_spb_topic_parse(const char *topic, size_t len, hist_spb_topic *t, const char **why)
{
    static const char ns[] = "spBv1.0/";
    memset(t, 0, sizeof(*t));
    const char *seg[6];
    size_t sl[6], n = 0;
    if (len < sizeof(ns) - 1 || memcmp(topic, ns, sizeof(ns) - 1) != 0) {
        *why = "not a Sparkplug B topic (spBv1.0/...)";
        return HIST_EINVAL;
    }
    const char *p = topic + sizeof(ns) - 1, *end = topic + len;
    for (;;) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *e = slash ? slash : end;
        if (n == 5) {
            *why = "too many topic levels";
            return HIST_EINVAL;
        }
        seg[n] = p, sl[n] = (size_t)(e - p), n++;
        if (!slash)
            break;
        p = slash + 1;
    }
    if (n == 2 && sl[0] == 5 && memcmp(seg[0], "STATE", 5) == 0) {
        if ((*why = id_bad(seg[1], sl[1], "empty host id")))
            return HIST_EINVAL;
        t->kind = HIST_SPB_STATE, t->host = seg[1], t->host_len = sl[1];
        return 0;
    }
    if (n < 3) {
        *why = "too few topic levels (spBv1.0/<group>/<type>/<node>[/<device>])";
        return HIST_EINVAL;
    }
    size_t k = 0, nk = sizeof(kinds) / sizeof(kinds[0]);
    while (k < nk && !(strlen(kinds[k].name) == sl[1] && !memcmp(kinds[k].name, seg[1], sl[1])))
        k++;
    if (k == nk) {
        *why = "unknown message type (NBIRTH, NDATA, NDEATH, DBIRTH, DDATA, DDEATH, NCMD, DCMD)";
        return HIST_EINVAL;
    }
    if (n != (kinds[k].device ? 4u : 3u)) {
        *why = kinds[k].device ? "a device message needs spBv1.0/<group>/<type>/<node>/<device>"
                               : "a node message is spBv1.0/<group>/<type>/<node>";
        return HIST_EINVAL;
    }
    if ((*why = id_bad(seg[0], sl[0], "empty group id")) ||
        (*why = id_bad(seg[2], sl[2], "empty edge node id")) ||
        (n == 4 && (*why = id_bad(seg[3], sl[3], "empty device id"))))
        return HIST_EINVAL;
    t->kind = kinds[k].kind;
    t->group = seg[0], t->group_len = sl[0];
    t->node = seg[2], t->node_len = sl[2];
    if (n == 4)
        t->device = seg[3], t->device_len = sl[3];
    *why = "";
    return 0;
}

uint32_t topic__fnv32(const void *data, size_t n)
{
    const uint8_t *p = data;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* The length of the valid, allowed UTF-8 character at p (1..4), 0 when
 * the byte there must be replaced (storage's rule: no C0, DEL, C1). */
static size_t char_len(const uint8_t *p, size_t left)
{
    uint8_t c = p[0];
    if (c < 0x80)
        return c < 0x20 || c == 0x7f ? 0 : 1;
    size_t len = hist_utf8_len(p, left);
    return len == 2 && c == 0xc2 && p[1] <= 0x9f ? 0 : len; /* no C1 controls */
}

enum { NAME_BUF = 4 * HIST_TAG_NAME_MAX };

/* Appends part (n bytes) to out (at *o, at most cap), mapped; slashes
 * keeps '/' as a separator (the metric name), else '/' is replaced. Sets
 * *changed when a byte is replaced or an empty segment filled. What does
 * not fit in cap is left out (*o then passes cap: the name is over-long
 * and gets its hash anyway). */
static void put_part(char *out, size_t *o, size_t cap, const char *part, size_t n, bool slashes,
                     bool *changed)
{
    const uint8_t *p = (const uint8_t *)part;
    size_t seg = 0;
    for (size_t i = 0; i < n;) {
        if (p[i] == '/' && slashes) {
            if (seg == 0) {
                if (*o < cap)
                    out[(*o)++] = '_';
                *changed = true;
            }
            if (*o < cap)
                out[(*o)++] = '/';
            seg = 0;
            i++;
            continue;
        }
        size_t l = p[i] == '/' ? 0 : char_len(p + i, n - i);
        if (l == 0) {
            if (*o < cap)
                out[(*o)++] = '_';
            *changed = true;
            i++;
            seg++;
            continue;
        }
        if (*o + l <= cap)
            memcpy(out + *o, p + i, l);
        *o += l;
        if (*o > cap)
            *o = cap + 1; /* over: marks it too long */
        i += l;
        seg += l;
    }
    if (seg == 0) {
        if (*o < cap)
            out[(*o)++] = '_';
        *changed = true;
    }
}

int hist_spb_tag_name(const char *group, size_t glen, const char *node, size_t nlen,
                      const char *device, size_t dlen, const char *metric, size_t mlen, char *out)
{
    char buf[NAME_BUF + 2];
    size_t o = 0;
    bool changed = false;
    put_part(buf, &o, NAME_BUF, group, glen, false, &changed);
    if (o < NAME_BUF)
        buf[o++] = '/';
    put_part(buf, &o, NAME_BUF, node, nlen, false, &changed);
    if (dlen) {
        if (o < NAME_BUF)
            buf[o++] = '/';
        put_part(buf, &o, NAME_BUF, device, dlen, false, &changed);
    }
    if (o < NAME_BUF)
        buf[o++] = '/';
    put_part(buf, &o, NAME_BUF, metric, mlen, true, &changed);
    if (!changed && o <= HIST_TAG_NAME_MAX) {
        memcpy(out, buf, o);
        out[o] = '\0';
        return 0;
    }
    /* the hash of the name as received: group, node, device, metric with
     * a NUL between them (ids hold no NUL) */
    uint32_t h = 2166136261u;
    const char *parts[4] = {group, node, device, metric};
    size_t lens[4] = {glen, nlen, dlen, mlen};
    for (int i = 0; i < 4; i++) {
        for (size_t j = 0; j < lens[i]; j++)
            h = (h ^ (uint8_t)parts[i][j]) * 16777619u;
        h = (h ^ 0) * 16777619u;
    }
    size_t keep = o > NAME_BUF ? NAME_BUF : o;
    if (keep > HIST_TAG_NAME_MAX - 9)
        keep = HIST_TAG_NAME_MAX - 9;
    while (keep > 0 && keep < o && ((uint8_t)buf[keep] & 0xc0) == 0x80)
        keep--; /* not inside a character */
    memcpy(out, buf, keep);
    snprintf(out + keep, 10, "~%08" PRIx32, h);
    return 1;
}

int hist_spb_state_json(bool online, uint64_t ts_ms, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "{\"online\":%s,\"timestamp\":%" PRIu64 "}",
                     online ? "true" : "false", ts_ms);
    return n < 0 || (size_t)n >= cap ? HIST_ENOSPC : n;
}
