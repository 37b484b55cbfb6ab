/*
 * name.c: a line protocol point's Historian tag name: templates (their
 * syntax is in hist_lineproto.h), expanding one for a field of a line,
 * and the check of the result.
 *
 * The check is Historian's tag name rule (storage's hist_tag_name_check():
 * 1..255 bytes of valid UTF-8, no control character (C0, DEL, C1),
 * '/'-separated segments, none empty), done here in hist_common terms
 * because this module may not call storage/. parse.c has already refused
 * invalid UTF-8 and C0/DEL in measurements, keys and values (the line
 * protocol spec does) and marked the spans holding a C1 character; the
 * template's literals were checked when it was compiled. What is left to
 * check here is the length, the C1 marks of the spans used, and the
 * segments.
 */
#include <stdio.h>
#include <string.h>

#include "common/hist_text.h"
#include "ingest/lineproto/lp_internal.h"

static void set_err(char *err, size_t cap, const char *msg, size_t at)
{
    if (err && cap)
        snprintf(err, cap, "template, byte %zu: %s", at + 1, msg);
}

/* Bytes of one valid UTF-8 character that is not a control character at
 * s (n bytes left), 0 when there is none. */
static size_t text_char(const unsigned char *s, size_t n)
{
    if (s[0] < 0x20 || s[0] == 0x7f)
        return 0;
    size_t l = hist_utf8_len(s, n);
    if (l == 2 && s[0] == 0xc2 && s[1] <= 0x9f)
        return 0; /* C1 */
    return l;
}

static int add_part(hist_lp_template *t, int kind, size_t off, size_t len)
{
    if (t->nparts == HIST_LP_TEMPLATE_PARTS)
        return HIST_EINVAL;
    /* two literals in a row ({{ between them) become one */
    if (kind == LP_LIT && t->nparts > 0 && t->part[t->nparts - 1].kind == LP_LIT &&
        t->part[t->nparts - 1].off + t->part[t->nparts - 1].len == off) {
        t->part[t->nparts - 1].len = (uint8_t)(t->part[t->nparts - 1].len + len);
        return 0;
    }
    t->part[t->nparts++] = (hist_lp_part){(uint8_t)kind, (uint8_t)len, (uint16_t)off};
    return 0;
}

/* The placeholder inside braces, s[0..n): adds it. */
static int placeholder(hist_lp_template *t, const char *s, size_t n, size_t *used)
{
    static const struct {
        const char *name;
        int kind;
    } fixed[] = {{"measurement", LP_MEASUREMENT}, {"field", LP_FIELD}, {"tags", LP_TAGS}};
    for (size_t i = 0; i < 3; i++)
        if (strlen(fixed[i].name) == n && memcmp(s, fixed[i].name, n) == 0) {
            if (fixed[i].kind == LP_FIELD)
                t->has_field = true;
            return add_part(t, fixed[i].kind, 0, 0);
        }
    int kind = n > 4 && memcmp(s, "tag:", 4) == 0    ? LP_TAG
               : n > 5 && memcmp(s, "tag?:", 5) == 0 ? LP_TAG_OPT
                                                     : 0;
    if (!kind)
        return HIST_EINVAL;
    size_t skip = kind == LP_TAG ? 4 : 5;
    for (size_t i = skip; i < n;) {
        size_t l = text_char((const unsigned char *)s + i, n - i);
        if (l == 0)
            return HIST_EINVAL;
        i += l;
    }
    memcpy(t->text + *used, s + skip, n - skip);
    t->names_tags = true;
    int rc = add_part(t, kind, *used, n - skip);
    *used += n - skip;
    return rc;
}

int hist_lp_template_parse(hist_lp_template *t, const char *pattern, char *err, size_t errcap)
{
    memset(t, 0, sizeof *t);
    size_t n = pattern ? strlen(pattern) : 0;
    if (n == 0 || n > HIST_LP_TEMPLATE_MAX) {
        set_err(err, errcap, n ? "over 255 bytes" : "empty", 0);
        return HIST_EINVAL;
    }
    size_t used = 0;
    for (size_t i = 0; i < n;) {
        char c = pattern[i];
        if ((c == '{' || c == '}') && i + 1 < n && pattern[i + 1] == c) {
            t->text[used] = c;
            if (add_part(t, LP_LIT, used++, 1)) {
                set_err(err, errcap, "too many parts", i);
                return HIST_EINVAL;
            }
            i += 2;
            continue;
        }
        if (c == '}') {
            set_err(err, errcap, "a '}' without its '{' (write '}}' for a brace)", i);
            return HIST_EINVAL;
        }
        if (c == '{') {
            const char *end = memchr(pattern + i, '}', n - i);
            if (!end || placeholder(t, pattern + i + 1, (size_t)(end - pattern) - i - 1, &used)) {
                set_err(err, errcap,
                        "unknown placeholder (known: {measurement}, {field}, {tags}, {tag:KEY}, "
                        "{tag?:KEY}; '{{' for a brace)",
                        i);
                return HIST_EINVAL;
            }
            i = (size_t)(end - pattern) + 1;
            continue;
        }
        size_t l = text_char((const unsigned char *)pattern + i, n - i);
        if (l == 0) {
            set_err(err, errcap, "a control character or invalid UTF-8", i);
            return HIST_EINVAL;
        }
        memcpy(t->text + used, pattern + i, l);
        if (add_part(t, LP_LIT, used, l)) {
            set_err(err, errcap, "too many parts", i);
            return HIST_EINVAL;
        }
        used += l;
        i += l;
    }
    return 0;
}

int lp__key_cmp(const lp_span *a, const lp_span *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->p, b->p, n);
    if (c)
        return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

/* The output being built: at most HIST_LP_NAME_MAX bytes. */
typedef struct {
    char *out;
    size_t len;
    bool over, c1, drop_slash;
} name_buf;

static void put(name_buf *b, const char *s, size_t n)
{
    if (b->len + n > HIST_LP_NAME_MAX) {
        b->over = true;
        return;
    }
    memcpy(b->out + b->len, s, n);
    b->len += n;
}

/* A literal of the template: a '/' that an empty placeholder before it
 * took goes. */
static void put_lit(name_buf *b, const char *s, size_t n)
{
    if (n > 0 && b->drop_slash && s[0] == '/') {
        s++;
        n--;
    }
    b->drop_slash = false;
    put(b, s, n);
}

static void put_span(name_buf *b, const lp_span *s)
{
    b->drop_slash = false;
    b->c1 |= s->c1;
    put(b, s->p, s->len);
}

/* A placeholder that gave nothing takes the '/' after it, or at the end
 * the one before it. */
static void gave_nothing(name_buf *b)
{
    b->drop_slash = true;
}

static bool named_by_template(const hist_lp_template *t, const lp_span *key)
{
    for (size_t i = 0; i < t->nparts; i++) {
        const hist_lp_part *p = &t->part[i];
        if ((p->kind == LP_TAG || p->kind == LP_TAG_OPT) && p->len == key->len &&
            memcmp(t->text + p->off, key->p, key->len) == 0)
            return true;
    }
    return false;
}

static const lp_tag *find_tag(const lp_line *line, const char *key, size_t len)
{
    for (size_t i = 0; i < line->ntags; i++)
        if (line->tags[i].key.len == len && memcmp(line->tags[i].key.p, key, len) == 0)
            return &line->tags[i];
    return NULL;
}

static void put_tags(name_buf *b, const hist_lp_template *t, const lp_line *line, bool filter)
{
    size_t before = b->len;
    bool any = false;
    for (size_t i = 0; i < line->ntags; i++) {
        if (filter && named_by_template(t, &line->tags[i].key))
            continue;
        if (any)
            put(b, "/", 1);
        put_span(b, &line->tags[i].val);
        any = true;
    }
    if (!any || b->len == before)
        gave_nothing(b);
}

/* Segments: none empty, so no leading, trailing or doubled '/'. */
static bool segments_ok(const char *s, size_t n)
{
    if (n == 0 || s[0] == '/' || s[n - 1] == '/')
        return false;
    /* eight pairs (s[i + k], s[i + k + 1]) at a time: a byte of x is zero
     * where both are '/'; the test for a zero byte is exact */
    const uint64_t slashes = UINT64_C(0x2f2f2f2f2f2f2f2f);
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
    size_t i = 0;
    for (; i + 9 <= n; i += 8) {
        uint64_t a, b;
        memcpy(&a, s + i, 8);
        memcpy(&b, s + i + 1, 8);
        uint64_t x = (a ^ slashes) | (b ^ slashes);
        if ((x - ones) & ~x & highs)
            return false;
    }
    for (i = i ? i : 1; i < n; i++)
        if (s[i] == '/' && s[i - 1] == '/')
            return false;
    return true;
}

int lp__name(const hist_lp_template *t, const lp_line *line, const lp_span *field, char *out,
             const char **why)
{
    name_buf b = {.out = out};
    bool filter = t->names_tags; /* {tags} leaves the named ones out */
    for (size_t i = 0; i < t->nparts; i++) {
        const hist_lp_part *p = &t->part[i];
        switch (p->kind) {
        case LP_LIT:
            put_lit(&b, t->text + p->off, p->len);
            break;
        case LP_MEASUREMENT:
            put_span(&b, &line->measurement);
            break;
        case LP_FIELD:
            put_span(&b, field);
            break;
        case LP_TAGS:
            put_tags(&b, t, line, filter);
            break;
        default: {
            const lp_tag *tag = find_tag(line, t->text + p->off, p->len);
            if (tag) {
                put_span(&b, &tag->val);
            } else if (p->kind == LP_TAG_OPT) {
                gave_nothing(&b);
            } else {
                *why = "the template's {tag:KEY} is not a tag of the line";
                return HIST_ENAME;
            }
        }
        }
    }
    if (b.drop_slash && b.len > 0 && out[b.len - 1] == '/')
        b.len--;
    out[b.len] = '\0';
    if (b.over) {
        *why = "the tag name would be over 255 bytes";
        return HIST_ENAME;
    }
    if (b.c1) {
        *why = "the tag name would hold a C1 control character";
        return HIST_ENAME;
    }
    if (!segments_ok(out, b.len)) {
        *why = b.len ? "the tag name would have an empty segment (a leading, trailing or "
                       "doubled '/')"
                     : "the tag name would be empty";
        return HIST_ENAME;
    }
    return (int)b.len;
}
