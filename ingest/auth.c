/*
 * auth.c: bearer tokens and their scopes.
 *
 * The tokens file has one token per line: `token scope[,scope]` with scopes
 * read, write and admin; '#' starts a comment. HTTP clients send
 * "Authorization: Bearer <token>"; TCP clients put the token in the first
 * frame's WriteRequest.token. Without a tokens file every caller holds every
 * scope, and server.c then refuses to bind anything but loopback addresses.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "query/api/hist_api.h"

typedef struct {
    char *token;
    unsigned scopes;
} auth_entry;

struct hist_auth {
    auth_entry *entries;
    size_t n;
};

static int parse_scopes(char *list, unsigned *out)
{
    unsigned scopes = 0;
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

int auth__load(const char *path, hist_auth **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open tokens file %s: %s", path, strerror(errno));
        return HIST_EIO;
    }
    hist_auth *a = calloc(1, sizeof *a);
    char line[1024];
    int lineno = 0, rc = 0;
    while (a && fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *save = NULL;
        char *tok = strtok_r(line, " \t\r\n", &save);
        if (!tok)
            continue;
        char *scopes = strtok_r(NULL, " \t\r\n", &save);
        unsigned bits;
        if (!scopes || strtok_r(NULL, " \t\r\n", &save) || parse_scopes(scopes, &bits) < 0) {
            snprintf(err, errlen, "%s:%d: expected 'token read|write|admin[,...]'", path, lineno);
            rc = HIST_EINVAL;
            break;
        }
        auth_entry *grown = realloc(a->entries, (a->n + 1) * sizeof *grown);
        if (!grown) {
            rc = HIST_ENOMEM;
            break;
        }
        a->entries = grown;
        a->entries[a->n].token = strdup(tok);
        a->entries[a->n].scopes = bits;
        if (!a->entries[a->n].token) {
            rc = HIST_ENOMEM;
            break;
        }
        a->n++;
    }
    fclose(f);
    if (!a)
        rc = HIST_ENOMEM;
    if (rc == 0 && a->n == 0) {
        snprintf(err, errlen, "%s: no tokens", path);
        rc = HIST_EINVAL;
    }
    if (rc < 0) {
        auth__free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void auth__free(hist_auth *auth)
{
    if (!auth)
        return;
    for (size_t i = 0; i < auth->n; i++)
        free(auth->entries[i].token);
    free(auth->entries);
    free(auth);
}

/* Compares without an early exit so the time taken does not reveal how
 * much of a guessed token was right. */
static bool token_equal(const char *known, const char *given, size_t len)
{
    size_t klen = strlen(known);
    unsigned diff = (unsigned)(klen ^ len);
    for (size_t i = 0; i < len; i++)
        diff |= (unsigned char)given[i] ^ (unsigned char)(i < klen ? known[i] : 0);
    return diff == 0;
}

unsigned auth__scopes(const hist_auth *auth, const char *token, size_t len)
{
    if (!auth)
        return HIST_SCOPE_READ | HIST_SCOPE_WRITE | HIST_SCOPE_ADMIN;
    if (!token || len == 0)
        return 0;
    for (size_t i = 0; i < auth->n; i++)
        if (token_equal(auth->entries[i].token, token, len))
            return auth->entries[i].scopes;
    return 0;
}
