/*
 * regex.c: the regular expressions of Grafana's regex filters (=~, !~),
 * matched in linear time and bounded memory (api_internal.h, level of
 * tag_match.c: calls nothing of the API).
 *
 * Client text must never reach a backtracking or exponential compiler:
 * glibc's regcomp took 6.8 s and 3.35 GiB for ((((a{1,50}){1,50}){1,50}){1,50}).
 * Here a pattern is parsed into a small tree, compiled into a Thompson
 * program (a bounded {m,n} is written out, its copies counted against
 * RE_MAX_PROG instructions) and run by a Pike VM: one pass over the text,
 * at most one thread per instruction, so a match costs O(text x program)
 * time and O(program) memory, whatever the pattern.
 *
 * Syntax (what Grafana users write; POSIX ERE semantics for match or not):
 * literals, '\' escapes (\. \\ \d \D \w \W \s \S \t \n), '.', classes
 * [abc] [^a-z] with [:alpha:]-style names, '*', '+', '?', '{m}', '{m,}',
 * '{m,n}' (m, n <= RE_MAX_REPEAT), a lazy '?' after a quantifier (same
 * match/no-match), '|', groups '(...)' and '(?:...)', anchors '^' '$'.
 * Back-references and look-around are refused. re__match() searches: the
 * pattern may match anywhere unless anchored.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/api/api_internal.h"

enum { N_EMPTY, N_CHAR, N_ANY, N_CLASS, N_BOL, N_EOL, N_CAT, N_ALT, N_REP };

typedef struct {
    int kind;
    int a, b;     /* children (CAT, ALT; REP uses a) */
    int c;        /* N_CHAR: the byte; N_CLASS: class index */
    int min, max; /* N_REP; max -1 = unbounded */
} re_node;

enum { I_CHAR, I_ANY, I_CLASS, I_BOL, I_EOL, I_SPLIT, I_JMP, I_MATCH };

typedef struct {
    uint8_t op;
    int x, y; /* I_CHAR: x the byte; I_CLASS: x the class; SPLIT: x, y; JMP: x */
} re_inst;

struct re_prog {
    re_inst *code;
    int n;
    uint8_t (*cls)[32];
    int ncls;
};

typedef struct {
    const char *s;
    size_t i, len;
    re_node nodes[RE_MAX_NODES];
    int nn;
    uint8_t cls[RE_MAX_CLASSES][32];
    int ncls;
    int depth;
    const char *err;
} re_parser;

static int node(re_parser *p, int kind, int a, int b)
{
    if (p->nn >= RE_MAX_NODES) {
        p->err = "pattern has too many parts";
        return -1;
    }
    re_node *n = &p->nodes[p->nn];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->a = a;
    n->b = b;
    return p->nn++;
}

static void set_bit(uint8_t *c, int ch)
{
    c[ch >> 3] |= (uint8_t)(1u << (ch & 7));
}

static int new_class(re_parser *p)
{
    if (p->ncls >= RE_MAX_CLASSES) {
        p->err = "pattern has too many character classes";
        return -1;
    }
    memset(p->cls[p->ncls], 0, 32);
    return p->ncls++;
}

/* Adds the bytes of a \d \w \s (lower case) to c; 0, or -1 when e is not one. */
static int add_perl_class(uint8_t *c, char e)
{
    for (int ch = 0; ch < 256; ch++) {
        bool in;
        if (e == 'd')
            in = ch >= '0' && ch <= '9';
        else if (e == 'w')
            in = isalnum(ch) || ch == '_';
        else if (e == 's')
            in = ch == ' ' || (ch >= '\t' && ch <= '\r');
        else
            return -1;
        if (in && ch < 128)
            set_bit(c, ch);
    }
    return 0;
}

static int add_named_class(uint8_t *c, const char *name, size_t len)
{
    static const char *const names[] = {"alpha", "digit",  "alnum", "space", "upper", "lower",
                                        "punct", "xdigit", "blank", "cntrl", "print", "graph"};
    int k = -1;
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strlen(names[i]) == len && !memcmp(names[i], name, len))
            k = i;
    if (k < 0)
        return -1;
    for (int ch = 0; ch < 128; ch++) {
        int (*f[])(int) = {isalpha, isdigit,  isalnum, isspace, isupper, islower,
                           ispunct, isxdigit, isblank, iscntrl, isprint, isgraph};
        if (f[k](ch))
            set_bit(c, ch);
    }
    return 0;
}

static int escape_byte(char e)
{
    switch (e) {
    case 't':
        return '\t';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    default:
        if (isalnum((unsigned char)e))
            return -1; /* \b, \1, \p...: not supported */
        return (unsigned char)e;
    }
}

static int parse_class(re_parser *p)
{
    int k = new_class(p);
    if (k < 0)
        return -1;
    uint8_t *c = p->cls[k];
    bool neg = false, first = true;
    if (p->i < p->len && p->s[p->i] == '^') {
        neg = true;
        p->i++;
    }
    for (;;) {
        if (p->i >= p->len) {
            p->err = "unclosed [";
            return -1;
        }
        char ch = p->s[p->i];
        if (ch == ']' && !first) {
            p->i++;
            break;
        }
        first = false;
        int lo;
        if (ch == '[' && p->i + 1 < p->len && p->s[p->i + 1] == ':') {
            const char *end = memchr(p->s + p->i + 2, ':', p->len - p->i - 2);
            if (!end || end + 1 >= p->s + p->len || end[1] != ']' ||
                add_named_class(c, p->s + p->i + 2, (size_t)(end - p->s - p->i - 2)) < 0) {
                p->err = "unknown [:class:]";
                return -1;
            }
            p->i = (size_t)(end - p->s) + 2;
            continue;
        }
        if (ch == '\\' && p->i + 1 < p->len) {
            char e = p->s[p->i + 1];
            p->i += 2;
            if (add_perl_class(c, (char)tolower((unsigned char)e)) == 0) {
                if (isupper((unsigned char)e)) {
                    p->err = "\\D, \\W, \\S inside [...] are not supported";
                    return -1;
                }
                continue;
            }
            if ((lo = escape_byte(e)) < 0) {
                p->err = "unsupported escape in [...]";
                return -1;
            }
        } else {
            lo = (unsigned char)ch;
            p->i++;
        }
        int hi = lo;
        if (p->i + 1 < p->len && p->s[p->i] == '-' && p->s[p->i + 1] != ']') {
            hi = (unsigned char)p->s[p->i + 1];
            p->i += 2;
            if (hi == '\\' && p->i < p->len && (hi = escape_byte(p->s[p->i++])) < 0) {
                p->err = "unsupported escape in [...]";
                return -1;
            }
            if (hi < lo) {
                p->err = "bad range in [...]";
                return -1;
            }
        }
        for (int x = lo; x <= hi; x++)
            set_bit(c, x);
    }
    if (neg)
        for (int x = 0; x < 32; x++)
            c[x] = (uint8_t)~c[x];
    int n = node(p, N_CLASS, -1, -1);
    if (n >= 0)
        p->nodes[n].c = k;
    return n;
}

static int parse_alt(re_parser *p);

static int parse_atom(re_parser *p)
{
    char ch = p->s[p->i++];
    int n;
    switch (ch) {
    case '(':
        if (++p->depth > RE_MAX_DEPTH) {
            p->err = "groups nested too deep";
            return -1;
        }
        if (p->i + 1 < p->len && p->s[p->i] == '?') {
            if (p->s[p->i + 1] != ':') {
                p->err = "(?...) other than (?:...) is not supported";
                return -1;
            }
            p->i += 2;
        }
        n = parse_alt(p);
        if (n < 0)
            return -1;
        if (p->i >= p->len || p->s[p->i] != ')') {
            p->err = "unclosed (";
            return -1;
        }
        p->i++;
        p->depth--;
        return n;
    case '.':
        return node(p, N_ANY, -1, -1);
    case '^':
        return node(p, N_BOL, -1, -1);
    case '$':
        return node(p, N_EOL, -1, -1);
    case '[':
        return parse_class(p);
    case '\\': {
        if (p->i >= p->len) {
            p->err = "trailing \\";
            return -1;
        }
        char e = p->s[p->i++];
        char le = (char)tolower((unsigned char)e);
        if (le == 'd' || le == 'w' || le == 's') {
            int k = new_class(p);
            if (k < 0)
                return -1;
            memset(p->cls[k], 0, 32);
            add_perl_class(p->cls[k], le);
            if (isupper((unsigned char)e))
                for (int x = 0; x < 32; x++)
                    p->cls[k][x] = (uint8_t)~p->cls[k][x];
            n = node(p, N_CLASS, -1, -1);
            if (n >= 0)
                p->nodes[n].c = k;
            return n;
        }
        int b = escape_byte(e);
        if (b < 0) {
            p->err = "unsupported escape (back-references and \\b are not supported)";
            return -1;
        }
        n = node(p, N_CHAR, -1, -1);
        if (n >= 0)
            p->nodes[n].c = b;
        return n;
    }
    case '*':
    case '+':
    case '?':
    case '{':
        p->err = "a repetition operator with nothing to repeat";
        return -1;
    default:
        n = node(p, N_CHAR, -1, -1);
        if (n >= 0)
            p->nodes[n].c = (unsigned char)ch;
        return n;
    }
}

static int parse_number(re_parser *p, int *out)
{
    if (p->i >= p->len || !isdigit((unsigned char)p->s[p->i]))
        return -1;
    long v = 0;
    while (p->i < p->len && isdigit((unsigned char)p->s[p->i])) {
        v = v * 10 + (p->s[p->i++] - '0');
        if (v > RE_MAX_REPEAT)
            return -2;
    }
    *out = (int)v;
    return 0;
}

/* {m}, {m,}, {m,n} after the '{'. */
static int parse_bound(re_parser *p, int *min, int *max)
{
    int r = parse_number(p, min);
    if (r == 0) {
        *max = *min;
        if (p->i < p->len && p->s[p->i] == ',') {
            p->i++;
            *max = -1;
            if (p->i < p->len && p->s[p->i] != '}')
                r = parse_number(p, max);
        }
    }
    if (r == -2) {
        p->err = "a repetition count over " RE_MAX_REPEAT_TEXT;
        return -1;
    }
    if (r < 0 || p->i >= p->len || p->s[p->i] != '}' || (*max >= 0 && *max < *min)) {
        p->err = "bad {m,n} repetition";
        return -1;
    }
    p->i++;
    return 0;
}

static int parse_repeat(re_parser *p)
{
    int n = parse_atom(p);
    while (n >= 0 && p->i < p->len) {
        char ch = p->s[p->i];
        int min, max;
        if (ch == '*')
            min = 0, max = -1;
        else if (ch == '+')
            min = 1, max = -1;
        else if (ch == '?')
            min = 0, max = 1;
        else if (ch == '{')
            min = max = 0;
        else
            break;
        p->i++;
        if (ch == '{' && parse_bound(p, &min, &max) < 0)
            return -1;
        if (p->i < p->len && p->s[p->i] == '?')
            p->i++; /* lazy: the same set of matching strings */
        int r = node(p, N_REP, n, -1);
        if (r < 0)
            return -1;
        p->nodes[r].min = min;
        p->nodes[r].max = max;
        n = r;
    }
    return n;
}

static int parse_cat(re_parser *p)
{
    int n = -1;
    while (p->i < p->len && p->s[p->i] != '|' && p->s[p->i] != ')') {
        int a = parse_repeat(p);
        if (a < 0)
            return -1;
        n = n < 0 ? a : node(p, N_CAT, n, a);
        if (n < 0)
            return -1;
    }
    return n < 0 ? node(p, N_EMPTY, -1, -1) : n;
}

static int parse_alt(re_parser *p)
{
    int n = parse_cat(p);
    while (n >= 0 && p->i < p->len && p->s[p->i] == '|') {
        p->i++;
        int b = parse_cat(p);
        if (b < 0)
            return -1;
        n = node(p, N_ALT, n, b);
    }
    return n;
}

/* ---- Compiling ------------------------------------------------------------------- */

typedef struct {
    const re_parser *p;
    re_inst code[RE_MAX_PROG];
    int n;
    bool full;
} re_emit;

static int emit(re_emit *e, int op, int x, int y)
{
    if (e->n >= RE_MAX_PROG) {
        e->full = true;
        return -1;
    }
    e->code[e->n] = (re_inst){.op = (uint8_t)op, .x = x, .y = y};
    return e->n++;
}

static int gen(re_emit *e, int ni);

/* e? : SPLIT L1 L2; L1: e; L2: */
static int gen_opt(re_emit *e, int ni)
{
    int s = emit(e, I_SPLIT, 0, 0);
    if (s < 0)
        return -1;
    e->code[s].x = e->n;
    if (gen(e, ni) < 0)
        return -1;
    e->code[s].y = e->n;
    return 0;
}

/* e* : L0: SPLIT L1 L2; L1: e; JMP L0; L2: */
static int gen_star(re_emit *e, int ni)
{
    int s = emit(e, I_SPLIT, 0, 0);
    if (s < 0)
        return -1;
    e->code[s].x = e->n;
    if (gen(e, ni) < 0 || emit(e, I_JMP, s, 0) < 0)
        return -1;
    e->code[s].y = e->n;
    return 0;
}

static int gen(re_emit *e, int ni)
{
    const re_node *n = &e->p->nodes[ni];
    switch (n->kind) {
    case N_EMPTY:
        return 0;
    case N_CHAR:
        return emit(e, I_CHAR, n->c, 0) < 0 ? -1 : 0;
    case N_ANY:
        return emit(e, I_ANY, 0, 0) < 0 ? -1 : 0;
    case N_CLASS:
        return emit(e, I_CLASS, n->c, 0) < 0 ? -1 : 0;
    case N_BOL:
        return emit(e, I_BOL, 0, 0) < 0 ? -1 : 0;
    case N_EOL:
        return emit(e, I_EOL, 0, 0) < 0 ? -1 : 0;
    case N_CAT:
        return gen(e, n->a) < 0 || gen(e, n->b) < 0 ? -1 : 0;
    case N_ALT: {
        /* SPLIT L1 L2; L1: a; JMP L3; L2: b; L3: */
        int s = emit(e, I_SPLIT, 0, 0);
        if (s < 0)
            return -1;
        e->code[s].x = e->n;
        if (gen(e, n->a) < 0)
            return -1;
        int j = emit(e, I_JMP, 0, 0);
        if (j < 0)
            return -1;
        e->code[s].y = e->n;
        if (gen(e, n->b) < 0)
            return -1;
        e->code[j].x = e->n;
        return 0;
    }
    case N_REP:
        for (int k = 0; k < n->min; k++)
            if (gen(e, n->a) < 0)
                return -1;
        if (n->max < 0)
            return gen_star(e, n->a);
        for (int k = n->min; k < n->max; k++)
            if (gen_opt(e, n->a) < 0)
                return -1;
        return 0;
    default:
        return -1;
    }
}

static int compile_len(const char *pattern, size_t len, re_prog **out, const char **err);

int re__compile(const char *pattern, re_prog **out, const char **err)
{
    *out = NULL;
    *err = NULL;
    size_t len = strlen(pattern);
    if (len > RE_MAX_PATTERN) {
        *err = "pattern longer than " RE_MAX_PATTERN_TEXT " bytes";
        return HIST_ETOOBIG;
    }
    return compile_len(pattern, len, out, err);
}

static int compile_len(const char *pattern, size_t len, re_prog **out, const char **err)
{
    *out = NULL;
    *err = NULL;
    re_parser *p = calloc(1, sizeof *p);
    re_emit *e = calloc(1, sizeof *e);
    re_prog *r = calloc(1, sizeof *r);
    if (!p || !e || !r) {
        free(p);
        free(e);
        free(r);
        return HIST_ENOMEM;
    }
    p->s = pattern;
    p->len = len;
    int rc = 0;
    int root = parse_alt(p);
    if (root >= 0 && p->i < p->len) {
        p->err = "unmatched )";
        root = -1;
    }
    if (root < 0) {
        *err = p->err ? p->err : "bad pattern";
        rc = HIST_EINVAL;
        goto out;
    }
    e->p = p;
    if (gen(e, root) < 0 || emit(e, I_MATCH, 0, 0) < 0) {
        *err = "pattern expands to more than " RE_MAX_PROG_TEXT
               " instructions (nested or large {m,n} repetitions)";
        rc = HIST_ETOOBIG;
        goto out;
    }
    r->code = malloc((size_t)e->n * sizeof *r->code);
    r->cls = malloc((size_t)(p->ncls ? p->ncls : 1) * 32);
    if (!r->code || !r->cls) {
        rc = HIST_ENOMEM;
        goto out;
    }
    memcpy(r->code, e->code, (size_t)e->n * sizeof *r->code);
    memcpy(r->cls, p->cls, (size_t)p->ncls * 32);
    r->n = e->n;
    r->ncls = p->ncls;
    *out = r;
    r = NULL;
out:
    re__free(r);
    free(p);
    free(e);
    return rc;
}

int re__compile_whole(const char *pattern, re_prog **out, const char **err)
{
    char buf[RE_MAX_PATTERN + 8];
    *out = NULL;
    if (strlen(pattern) > RE_MAX_PATTERN) {
        *err = "pattern longer than " RE_MAX_PATTERN_TEXT " bytes";
        return HIST_ETOOBIG;
    }
    snprintf(buf, sizeof buf, "^(%s)$", pattern);
    /* the four bytes added are not the client's: lift the length check */
    return compile_len(buf, strlen(buf), out, err);
}

void re__free(re_prog *r)
{
    if (!r)
        return;
    free(r->code);
    free(r->cls);
    free(r);
}

/* ---- Matching: a Pike VM ------------------------------------------------------- */

typedef struct {
    int *pc;    /* dense list of instructions */
    int *where; /* sparse index: where[pc] < n && pc[where[pc]] == pc */
    int n;
} re_list;

static bool on_list(const re_list *l, int pc)
{
    return l->where[pc] < l->n && l->pc[l->where[pc]] == pc;
}

/* Follows SPLIT, JMP and the anchors from pc at text position i; adds
 * the instructions that consume a byte (and MATCH). Iterative: an
 * explicit stack of at most prog->n entries, each pc visited once. */
static void add_thread(const re_prog *r, re_list *l, int *stack, int pc, size_t i, size_t len)
{
    int sp = 0;
    stack[sp++] = pc;
    while (sp > 0) {
        pc = stack[--sp];
        if (on_list(l, pc))
            continue;
        l->where[pc] = l->n;
        l->pc[l->n++] = pc;
        const re_inst *in = &r->code[pc];
        switch (in->op) {
        case I_JMP:
            stack[sp++] = in->x;
            break;
        case I_SPLIT:
            stack[sp++] = in->y;
            stack[sp++] = in->x;
            break;
        case I_BOL:
            if (i == 0)
                stack[sp++] = pc + 1;
            break;
        case I_EOL:
            if (i == len)
                stack[sp++] = pc + 1;
            break;
        default:
            break;
        }
    }
}

int re__match(const re_prog *r, const char *text, size_t len)
{
    int n = r->n;
    int *mem = malloc(((size_t)n * 6 + 2) * sizeof *mem);
    if (!mem)
        return HIST_ENOMEM;
    re_list a = {mem, mem + n, 0}, b = {mem + 2 * n, mem + 3 * n, 0};
    /* add_thread's stack: one push to start, then at most two per pc it
     * puts on the list, so 2n + 1 entries always suffice. */
    int *stack = mem + 4 * n;
    memset(a.where, 0x7f, (size_t)n * sizeof(int));
    memset(b.where, 0x7f, (size_t)n * sizeof(int));
    re_list *cur = &a, *next = &b;
    int found = 0;
    for (size_t i = 0;; i++) {
        add_thread(r, cur, stack, 0, i, len); /* unanchored: a thread starts here */
        for (int k = 0; k < cur->n && !found; k++) {
            const re_inst *in = &r->code[cur->pc[k]];
            int c = i < len ? (unsigned char)text[i] : -1;
            bool step = false;
            switch (in->op) {
            case I_MATCH:
                found = 1;
                break;
            case I_CHAR:
                step = c == in->x;
                break;
            case I_ANY:
                step = c >= 0; /* POSIX: '.' matches any byte */
                break;
            case I_CLASS:
                step = c >= 0 && (r->cls[in->x][c >> 3] >> (c & 7)) & 1;
                break;
            default:
                break;
            }
            if (step)
                add_thread(r, next, stack, cur->pc[k] + 1, i + 1, len);
        }
        if (found || i >= len)
            break;
        re_list *t = cur;
        cur = next;
        next = t;
        next->n = 0;
    }
    free(mem);
    return found;
}
