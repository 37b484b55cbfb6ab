/*
 * auth.c: the tokens file, its grants, and the lookups by token and by
 * TLS client certificate subject.
 *
 * The file has one grant per line (docs/protocol.md, "Tokens file"):
 *   TOKEN SCOPES [PATTERN ...]
 *   sha256:<64 hex> SCOPES [PATTERN ...]      the token's SHA-256 instead
 *   cert:SUBJECT SCOPES [PATTERN ...]         a client certificate subject
 * SCOPES is a comma list of read, write, admin (admin implies both others);
 * the patterns (common/hist_tagset.h: '*' inside one segment, '**' any
 * depth) limit the tags the grant may read or write; none = every tag. A
 * field may be double-quoted (a subject with spaces: cert:"CN=gw 1,O=Acme");
 * inside quotes \" and \\ stand for themselves. '#' outside quotes starts a
 * comment. Any bad line refuses the whole file, naming FILE:LINE.
 *
 * Secrets: only SHA-256 digests are kept in memory, plain tokens are
 * hashed at load. A token presented is hashed once and compared with every
 * token grant by CRYPTO_memcmp (constant time), all of them, so neither the
 * time nor the position of a match tells anything of the secret. A grant's
 * id ("sha256:" and the digest's first 8 hex digits, or "cert:LINE") is what
 * logs and the audit trail print; it is never the token.
 *
 * Lifetime: a hist_auth is a snapshot of one load, shared by reference
 * count. The server holds one reference (the current file); every request
 * that outlives its loop-thread callback (an API request on the thread
 * pool, an authenticated TCP connection) holds one more, so a SIGHUP reload
 * that replaces the server's snapshot never frees a grant still in use.
 * Invariant: refs are taken and dropped only on the loop thread (no atomics
 * needed); other threads only read a grant they were handed together with
 * a reference, and a snapshot is immutable once loaded.
 *
 * Without a tokens file (auth == NULL) every lookup answers the open grant:
 * every scope, every tag; server.c then refuses non-loopback addresses.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ingest/ingest.h"
#include "query/api/hist_api.h"

#define AUTH_LINE_MAX 65536

typedef struct {
    bool cert;
    unsigned char digest[32]; /* token grants: SHA-256 of the token */
    char *subject;            /* cert grants */
    auth_grant g;
} auth_entry;

struct hist_auth {
    auth_entry *v;
    size_t n;
    unsigned refs; /* loop thread only (see the top of this file) */
};

static const auth_grant open_grant = {
    .scopes = HIST_SCOPE_READ | HIST_SCOPE_WRITE | HIST_SCOPE_ADMIN,
    .tags = NULL,
    .id = "open",
    .subject = NULL,
};

static int parse_scopes(char *list, unsigned *out)
{
    unsigned scopes = 0;
    size_t n = strlen(list);
    if (n == 0 || list[0] == ',' || list[n - 1] == ',' || strstr(list, ",,"))
        return -1; /* no empty element */
    for (char *save = NULL, *s = strtok_r(list, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        if (!strcmp(s, "read"))
            scopes |= HIST_SCOPE_READ;
        else if (!strcmp(s, "write"))
            scopes |= HIST_SCOPE_WRITE;
        else if (!strcmp(s, "admin"))
            scopes |= HIST_SCOPE_ADMIN | HIST_SCOPE_READ | HIST_SCOPE_WRITE;
        else
            return -1;
    }
    *out = scopes;
    return scopes ? 0 : -1;
}

/* Splits a line into fields in place: whitespace separates, "..." quotes
 * (quotes dropped, \" and \\ unescaped), '#' outside quotes ends the line.
 * Returns the number of fields (at most max), or -1 for an unclosed quote
 * or too many fields. */
static int split_fields(char *line, char **fields, int max)
{
    int n = 0;
    char *r = line;
    for (;;) {
        while (*r == ' ' || *r == '\t' || *r == '\r' || *r == '\n')
            r++;
        if (!*r || *r == '#')
            return n;
        if (n == max)
            return -1;
        char *w = r;
        fields[n++] = w;
        bool quoted = false;
        for (;;) {
            char ch = *r;
            if (!ch) {
                if (quoted)
                    return -1;
                break;
            }
            if (quoted) {
                if (ch == '"') {
                    quoted = false;
                    r++;
                    continue;
                }
                if (ch == '\\' && (r[1] == '"' || r[1] == '\\'))
                    ch = *++r;
            } else {
                if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '#')
                    break;
                if (ch == '"') {
                    quoted = true;
                    r++;
                    continue;
                }
            }
            *w++ = ch;
            r++;
        }
        bool end = !*r || *r == '#';
        if (*r && !end)
            r++;
        *w = '\0';
        if (end)
            return n;
    }
}

static int hex_digest(const char *hex, unsigned char *out)
{
    if (strlen(hex) != 64)
        return -1;
    for (int i = 0; i < 32; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            int ch = tolower((unsigned char)hex[2 * i + k]);
            if (ch >= '0' && ch <= '9')
                v = v * 16 + (unsigned)(ch - '0');
            else if (ch >= 'a' && ch <= 'f')
                v = v * 16 + (unsigned)(ch - 'a' + 10);
            else
                return -1;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

int auth__sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 0;
    if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) || n != 32)
        return HIST_ENOMEM;
    return 0;
}

static void entry_free(auth_entry *e)
{
    free(e->subject);
    hist_tagset_free(e->g.tags);
}

/* Parses one line's fields into e; NULL or the reason. */
static const char *parse_line(char **f, int nf, int lineno, auth_entry *e)
{
    memset(e, 0, sizeof *e);
    if (nf < 2)
        return "expected 'TOKEN SCOPES [PATTERN ...]' (SCOPES: read, write, admin, "
               "comma-separated)";
    if (parse_scopes(f[1], &e->g.scopes) < 0)
        return "bad scopes: a comma list of read, write, admin";
    if (!strncmp(f[0], "cert:", 5)) {
        const char *subj = f[0] + 5;
        if (!*subj)
            return "cert: needs a subject (cert:CN=...,O=...; quoted when it has spaces)";
        for (const char *q = subj; *q; q++)
            if ((unsigned char)*q < 0x20)
                return "control character in the certificate subject";
        e->cert = true;
        if (!(e->subject = strdup(subj)))
            return "out of memory";
        e->g.subject = e->subject;
        snprintf(e->g.id, sizeof e->g.id, "cert:%d", lineno);
    } else {
        if (!strncmp(f[0], "sha256:", 7)) {
            if (hex_digest(f[0] + 7, e->digest) < 0)
                return "sha256: must be followed by 64 hex digits";
        } else {
            for (const char *q = f[0]; *q; q++)
                if ((unsigned char)*q < 0x21)
                    return "control character in the token";
            if (auth__sha256(f[0], strlen(f[0]), e->digest) < 0)
                return "out of memory";
        }
        snprintf(e->g.id, sizeof e->g.id, "sha256:%02x%02x%02x%02x", e->digest[0], e->digest[1],
                 e->digest[2], e->digest[3]);
    }
    if (nf > 2) {
        for (int i = 2; i < nf; i++)
            if (hist_tagset_check(f[i]) < 0)
                return "bad tag pattern (segments of '/', '*' inside one, '**' alone for any "
                       "depth, no empty segment)";
        int rc = hist_tagset_compile((const char *const *)(f + 2), (size_t)(nf - 2), &e->g.tags);
        if (rc == HIST_EINVAL)
            return "too many tag patterns";
        if (rc < 0)
            return "out of memory";
    }
    return NULL;
}

/* The line of an earlier grant for the same token or subject, or 0. */
static int duplicate_of(const hist_auth *a, const auth_entry *e, const int *lines)
{
    for (size_t i = 0; i < a->n; i++) {
        const auth_entry *o = &a->v[i];
        if (o->cert != e->cert)
            continue;
        if (e->cert ? !strcmp(o->subject, e->subject) : !memcmp(o->digest, e->digest, 32))
            return lines[i];
    }
    return 0;
}

int auth__load(const char *path, hist_auth **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open tokens file %s: %s", path, strerror(errno));
        return HIST_EIO;
    }
    hist_auth *a = calloc(1, sizeof *a);
    int *lines = NULL;
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, rc = a ? 0 : HIST_ENOMEM;
    ssize_t got;
    while (rc == 0 && (got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (got > AUTH_LINE_MAX) {
            snprintf(err, errlen, "%s:%d: line longer than %d bytes", path, lineno, AUTH_LINE_MAX);
            rc = HIST_EINVAL;
            break;
        }
        if (memchr(line, '\0', (size_t)got)) {
            snprintf(err, errlen, "%s:%d: NUL byte in the line", path, lineno);
            rc = HIST_EINVAL;
            break;
        }
        char *fields[HIST_TAGSET_MAX + 2];
        int nf = split_fields(line, fields, HIST_TAGSET_MAX + 2);
        if (nf == 0)
            continue;
        auth_entry e;
        const char *why = nf < 0 ? "unclosed quote or too many fields" : NULL;
        if (!why)
            why = parse_line(fields, nf, lineno, &e);
        else
            memset(&e, 0, sizeof e);
        int dup = why ? 0 : duplicate_of(a, &e, lines);
        if (why || dup) {
            if (dup)
                snprintf(err, errlen, "%s:%d: the same %s as line %d", path, lineno,
                         e.cert ? "certificate subject" : "token", dup);
            else
                snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
            entry_free(&e);
            rc = HIST_EINVAL;
            break;
        }
        auth_entry *grown = realloc(a->v, (a->n + 1) * sizeof *grown);
        int *lgrown = grown ? realloc(lines, (a->n + 1) * sizeof *lgrown) : NULL;
        if (grown)
            a->v = grown;
        if (!lgrown) {
            entry_free(&e);
            snprintf(err, errlen, "%s:%d: out of memory", path, lineno);
            rc = HIST_ENOMEM;
            break;
        }
        lines = lgrown;
        lines[a->n] = lineno;
        a->v[a->n] = e;
        if (e.cert) /* the copy owns the subject: point at it */
            a->v[a->n].g.subject = a->v[a->n].subject;
        a->n++;
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
        rc = HIST_EIO;
    }
    fclose(f);
    free(line);
    free(lines);
    if (rc == 0 && a->n == 0) {
        snprintf(err, errlen, "%s: no grants (an empty tokens file would lock everyone out)", path);
        rc = HIST_EINVAL;
    }
    if (rc < 0) {
        if (a)
            a->refs = 1;
        auth__unref(a);
        return rc;
    }
    a->refs = 1;
    *out = a;
    return 0;
}

void auth__ref(hist_auth *auth)
{
    if (auth)
        auth->refs++;
}

void auth__unref(hist_auth *auth)
{
    if (!auth || --auth->refs > 0)
        return;
    for (size_t i = 0; i < auth->n; i++)
        entry_free(&auth->v[i]);
    free(auth->v);
    free(auth);
}

size_t auth__count(const hist_auth *auth)
{
    return auth ? auth->n : 0;
}

const auth_grant *auth__grant_for_token(const hist_auth *auth, const void *token, size_t len)
{
    if (!auth)
        return &open_grant;
    if (!token || len == 0)
        return NULL;
    unsigned char d[32];
    if (auth__sha256(token, len, d) < 0)
        return NULL;
    return auth__grant_for_digest(auth, d);
}

const auth_grant *auth__grant_for_digest(const hist_auth *auth, const unsigned char d[32])
{
    if (!auth)
        return &open_grant;
    /* every token grant is compared, a match does not end the loop */
    const auth_grant *found = NULL;
    for (size_t i = 0; i < auth->n; i++) {
        const auth_entry *e = &auth->v[i];
        int differ = CRYPTO_memcmp(e->digest, d, 32);
        if (!e->cert && differ == 0 && !found)
            found = &e->g;
    }
    return found;
}

const auth_grant *auth__grant_for_subject(const hist_auth *auth, const char *subject)
{
    if (!auth)
        return &open_grant;
    if (!subject || !*subject)
        return NULL;
    for (size_t i = 0; i < auth->n; i++)
        if (auth->v[i].cert && !strcmp(auth->v[i].subject, subject))
            return &auth->v[i].g;
    return NULL;
}

bool auth__allows_tag(const auth_grant *g, const char *name)
{
    return g && hist_tagset_matches(g->tags, name);
}
