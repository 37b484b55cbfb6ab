/*
 * audit.c: the audit trail, one JSON object a line (docs/api.md, "Audit
 * trail").
 *
 * Lines go to --audit-file FILE (opened O_APPEND, created 0600), or to
 * stderr behind the marker "AUDIT " when no file is given, so they can be
 * told from the log. Each line is one write(2) of the whole line.
 * Recorded: authentication failures, refused scopes, refused tags, admin
 * actions (whatever their outcome) and tokens-file reloads. Fields: time
 * (RFC 3339 UTC, milliseconds), event, proto, peer, grant (the grant's id,
 * never a token) or subject (a certificate's), method, route, status, and
 * when they apply tag and detail. Every string is JSON-escaped; bytes that
 * are not UTF-8 become U+FFFD.
 *
 * Threads: the server calls audit__log on the loop thread only (an API
 * request's outcome is logged in its after-work callback, which libuv runs
 * on the loop); the mutex makes a call from any other thread safe all the
 * same.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hist_buf.h"
#include "common/hist_text.h"
#include "ingest/ingest.h"

struct hist_audit {
    int fd;
    bool own_fd;
    const char *prefix; /* "AUDIT " on stderr, "" in a file */
    pthread_mutex_t mu;
    uint64_t lines, failures;
};

static int open_append(const char *path, int *fd, char *err, size_t errlen)
{
    *fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (*fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return HIST_EIO;
    }
    return 0;
}

int audit__open_lines(const char *path, const char *stderr_prefix, hist_audit **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    hist_audit *a = calloc(1, sizeof *a);
    if (!a)
        return HIST_ENOMEM;
    if (path && *path && strcmp(path, "-")) {
        int rc = open_append(path, &a->fd, err, errlen);
        if (rc < 0) {
            free(a);
            return rc;
        }
        a->own_fd = true;
        a->prefix = "";
    } else {
        a->fd = STDERR_FILENO;
        a->prefix = stderr_prefix;
    }
    pthread_mutex_init(&a->mu, NULL);
    *out = a;
    return 0;
}

int audit__open(const char *path, hist_audit **out, char *err, size_t errlen)
{
    char why[400];
    int rc = audit__open_lines(path, "AUDIT ", out, why, sizeof why);
    if (rc < 0)
        snprintf(err, errlen, "audit file: %s", why);
    return rc;
}

int audit__reopen(hist_audit *a, const char *path, char *err, size_t errlen)
{
    if (!a->own_fd || !path || !*path || !strcmp(path, "-"))
        return 0; /* stderr stays stderr */
    int fd;
    int rc = open_append(path, &fd, err, errlen);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&a->mu);
    int old = a->fd;
    a->fd = fd;
    pthread_mutex_unlock(&a->mu);
    close(old);
    return 0;
}

void audit__close(hist_audit *a)
{
    if (!a)
        return;
    if (a->own_fd)
        close(a->fd);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

void audit__json_string(hist_buf *b, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str);
    hist_buf_append(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            hist_buf_append(b, e, 2);
            i++;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            char e[2] = {'\\', c == '\n' ? 'n' : c == '\r' ? 'r' : 't'};
            hist_buf_append(b, e, 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            hist_buf_printf(b, "\\u%04x", c);
            i++;
        } else if (c >= 0x80) {
            size_t k = hist_utf8_len(s + i, n - i);
            if (k) {
                hist_buf_append(b, (const char *)s + i, k);
                i += k;
            } else {
                hist_buf_puts(b, "\\ufffd");
                i++;
            }
        } else {
            hist_buf_append(b, (const char *)s + i, 1);
            i++;
        }
    }
    hist_buf_append(b, "\"", 1);
}

static void field(hist_buf *b, const char *key, const char *val)
{
    if (!val)
        return;
    hist_buf_printf(b, ",\"%s\":", key);
    audit__json_string(b, val);
}

/* Under a->mu. */
static void write_all(hist_audit *a, const char *p, size_t left)
{
    while (left) {
        ssize_t w = write(a->fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            a->failures++;
            return;
        }
        p += w;
        left -= (size_t)w;
    }
}

void audit__log(hist_audit *a, const audit_event *ev)
{
    if (!a)
        return;
    char stamp[40];
    clock__wall_stamp(stamp, sizeof stamp);
    hist_buf b;
    hist_buf_init(&b);
    hist_buf_printf(&b, "{\"time\":\"%s\"", stamp);
    field(&b, "event", ev->event);
    field(&b, "proto", ev->proto);
    field(&b, "peer", ev->peer);
    field(&b, "grant", ev->grant ? ev->grant->id : NULL);
    field(&b, "subject", ev->subject ? ev->subject : ev->grant ? ev->grant->subject : NULL);
    field(&b, "method", ev->method);
    field(&b, "route", ev->route);
    hist_buf_printf(&b, ",\"status\":%d", ev->status);
    field(&b, "tag", ev->tag);
    field(&b, "detail", ev->detail);
    hist_buf_puts(&b, "}\n");
    const char *oom = "{\"event\":\"out of memory\"}\n";
    audit__write_line(a, b.failed ? oom : b.data, b.failed ? strlen(oom) : b.len);
    hist_buf_free(&b);
}

void audit__write_line(hist_audit *a, const char *line, size_t len)
{
    hist_buf b; /* the prefix and the line in one write, so lines do not mix */
    hist_buf_init(&b);
    hist_buf_puts(&b, a->prefix);
    hist_buf_append(&b, line, len);
    pthread_mutex_lock(&a->mu);
    if (b.failed)
        a->failures++;
    else
        write_all(a, b.data, b.len);
    a->lines++;
    pthread_mutex_unlock(&a->mu);
    hist_buf_free(&b);
}
