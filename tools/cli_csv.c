/*
 * cli_csv.c: CSV rows, time parsing, the batch builder and the
 * store-and-forward sender (see cli_csv.h).
 *
 * Sender invariants: the queue holds unacknowledged batches in push order;
 * the first `inflight` of them have been sent on the current connection.
 * Acks arrive in order (the server guarantees it), so an ack always belongs
 * to the head. On any connection problem every queued batch becomes unsent
 * again and is resent, in order, after a reconnect: the server's
 * last-write-wins on (tag, ts) makes the resend idempotent.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tools/cli_csv.h"
#include "tools/client_tcp.h"

/* ---- time ------------------------------------------------------------ */

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int hist_cli_parse_time(const char *s, int64_t *ns_out)
{
    if (!strcmp(s, "now")) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        *ns_out = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        return 0;
    }
    size_t len = strlen(s);
    bool all_digits = len > 0;
    for (size_t i = (s[0] == '-'); i < len; i++)
        if (!isdigit((unsigned char)s[i]))
            all_digits = false;
    if (all_digits) {
        char *end;
        errno = 0;
        long long ms = strtoll(s, &end, 10);
        if (errno || *end || ms > HIST_TS_MAX / 1000000 || ms < HIST_TS_MIN / 1000000)
            return HIST_ERANGE;
        *ns_out = (int64_t)ms * 1000000;
        return 0;
    }
    /* RFC 3339: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM) */
    int Y, M, D, h, m, sec;
    if (len < 20 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
        digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &m) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return HIST_EINVAL;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return HIST_EINVAL;
    const char *p = s + 19;
    int64_t frac = 0;
    if (*p == '.') {
        int64_t scale = 100000000;
        p++;
        if (!isdigit((unsigned char)*p))
            return HIST_EINVAL;
        for (; isdigit((unsigned char)*p); p++) {
            frac += (*p - '0') * scale;
            scale /= 10;
        }
    }
    int offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om))
            return HIST_EINVAL;
        offset = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return HIST_EINVAL;
    }
    if (*p)
        return HIST_EINVAL;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    int64_t t = (int64_t)timegm(&tm) - offset;
    *ns_out = t * 1000000000 + frac;
    return 0;
}

/* ---- CSV -------------------------------------------------------------- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = 0;
    if (e - s >= 2 && s[0] == '"' && e[-1] == '"') {
        e[-1] = 0;
        s++;
    }
    return s;
}

int hist_csv_parse_line(char *line, hist_csv_row *row, const char **err)
{
    char *f[5];
    int n = 0;
    char *p = line;
    while (n < 5) {
        f[n++] = p;
        char *comma = strchr(p, ',');
        if (!comma)
            break;
        *comma = 0;
        p = comma + 1;
    }
    for (int i = 0; i < n; i++)
        f[i] = trim(f[i]);
    if (n == 1 && (!f[0][0] || f[0][0] == '#'))
        return 0;
    if (f[0][0] == '#')
        return 0;
    if (n < 3 || n > 4) {
        *err = "expected tag,time,value[,quality]";
        return HIST_EINVAL;
    }
    if (!strcasecmp(f[0], "tag") && !strcasecmp(f[1], "time"))
        return 0; /* header */
    row->tag = f[0];
    if (hist_cli_parse_time(f[1], &row->ts) < 0) {
        *err = "bad time (epoch ms or RFC 3339)";
        return HIST_EINVAL;
    }
    if (!strcasecmp(f[2], "true") || !strcasecmp(f[2], "false")) {
        row->type = HIST_TYPE_BOOL;
        row->v.i = !strcasecmp(f[2], "true");
    } else {
        char *end;
        row->type = HIST_TYPE_FLOAT64;
        row->v.f = strtod(f[2], &end);
        if (end == f[2] || *end) {
            *err = "bad value (a number, true or false)";
            return HIST_EINVAL;
        }
    }
    row->q = 0;
    if (n == 4 && f[3][0]) {
        char *end;
        errno = 0;
        unsigned long q = strtoul(f[3], &end, 0);
        if (errno || *end || q > 0xffffffffUL) {
            *err = "bad quality (an OPC UA StatusCode)";
            return HIST_EINVAL;
        }
        row->q = (uint32_t)q;
    }
    return 1;
}

/* ---- batch builder ----------------------------------------------------- */

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

static bb_series *bb_find(hist_batch_builder *bb, const char *tag, hist_type type)
{
    if ((bb->n + 1) * 2 > bb->nslots) {
        size_t ns = bb->nslots ? bb->nslots * 2 : 256;
        size_t *slots = calloc(ns, sizeof *slots);
        if (!slots)
            return NULL;
        for (size_t i = 0; i < bb->n; i++) {
            size_t j = hash_str(bb->series[i].tag) & (ns - 1);
            while (slots[j])
                j = (j + 1) & (ns - 1);
            slots[j] = i + 1;
        }
        free(bb->slots);
        bb->slots = slots;
        bb->nslots = ns;
    }
    size_t j = hash_str(tag) & (bb->nslots - 1);
    for (; bb->slots[j]; j = (j + 1) & (bb->nslots - 1))
        if (!strcmp(bb->series[bb->slots[j] - 1].tag, tag))
            return &bb->series[bb->slots[j] - 1];
    if (bb->n == bb->cap) {
        size_t cap = bb->cap ? bb->cap * 2 : 64;
        bb_series *g = realloc(bb->series, cap * sizeof *g);
        if (!g)
            return NULL;
        bb->series = g;
        bb->cap = cap;
    }
    bb_series *s = &bb->series[bb->n];
    memset(s, 0, sizeof *s);
    s->tag = strdup(tag);
    s->type = type;
    if (!s->tag)
        return NULL;
    bb->slots[j] = ++bb->n;
    return s;
}

int hist_bb_add_many(hist_batch_builder *bb, const char *tag, hist_type type, size_t n,
                     const int64_t *ts, const hist_value *v, const uint32_t *q)
{
    bb_series *s = bb_find(bb, tag, type);
    if (!s)
        return HIST_ENOMEM;
    if (s->type != type)
        return HIST_ETYPE;
    if (s->n + n > s->cap) {
        size_t cap = s->cap ? s->cap : 16;
        while (cap < s->n + n)
            cap *= 2;
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
    }
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

/* ---- sender ------------------------------------------------------------- */

typedef struct sbatch {
    struct sbatch *next;
    uint64_t id;
    uint64_t samples;
    uint8_t *bytes;
    size_t len;
    bool sent_once;
} sbatch;

struct hist_sender {
    char *ingest;
    char *spool;
    unsigned window;
    hist_tcp_client *conn;
    sbatch *head, *tail;
    sbatch *next_unsent; /* first queued batch not sent on this connection */
    unsigned inflight;
    int64_t retry_at_ms, backoff_ms;
    int64_t last_ack_ms;
    uint64_t spool_max_id;
    hist_sender_stats st;
};

#define ACK_STALL_MS   10000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void spool_path(const hist_sender *s, uint64_t id, char *out, size_t len)
{
    snprintf(out, len, "%s/%020llu.batch", s->spool, (unsigned long long)id);
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* File format: 8-byte sample count (LE), then the encoded request. */
static int spool_write(hist_sender *s, const sbatch *b)
{
    char path[1024], tmp[1100];
    spool_path(s, b->id, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return HIST_EIO;
    uint8_t head[8];
    for (int i = 0; i < 8; i++)
        head[i] = (uint8_t)(b->samples >> (8 * i));
    bool ok =
        write(fd, head, 8) == 8 && write(fd, b->bytes, b->len) == (ssize_t)b->len && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, path) != 0 || fsync_dir(s->spool) != 0) {
        unlink(tmp);
        return HIST_EIO;
    }
    return 0;
}

static void enqueue(hist_sender *s, sbatch *b)
{
    if (s->tail)
        s->tail->next = b;
    else
        s->head = b;
    s->tail = b;
    if (!s->next_unsent)
        s->next_unsent = b;
    s->st.queued += b->samples;
    s->st.queued_batches++;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads batches left by an earlier run, oldest (lowest id) first. */
static int spool_load(hist_sender *s)
{
    DIR *d = opendir(s->spool);
    if (!d)
        return HIST_EIO;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l != 26 || strcmp(e->d_name + 20, ".batch"))
            continue;
        char **g = realloc(names, (n + 1) * sizeof *g);
        if (!g)
            break;
        names = g;
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", s->spool, names[i]);
        FILE *f = fopen(path, "rb");
        struct stat sb;
        sbatch *b = calloc(1, sizeof *b);
        if (f && b && fstat(fileno(f), &sb) == 0 && sb.st_size >= 8) {
            uint8_t head[8];
            b->len = (size_t)sb.st_size - 8;
            b->bytes = malloc(b->len + 1);
            if (b->bytes && fread(head, 1, 8, f) == 8 && fread(b->bytes, 1, b->len, f) == b->len) {
                for (int k = 0; k < 8; k++)
                    b->samples |= (uint64_t)head[k] << (8 * k);
                b->id = strtoull(names[i], NULL, 10);
                if (b->id > s->spool_max_id)
                    s->spool_max_id = b->id;
                enqueue(s, b);
                b = NULL;
            }
        }
        if (b) {
            fprintf(stderr, "spool: skipping unreadable %s\n", path);
            free(b->bytes);
            free(b);
        }
        if (f)
            fclose(f);
        free(names[i]);
    }
    free(names);
    return 0;
}

int hist_sender_new(const char *ingest, const char *spool_dir, unsigned window, hist_sender **out)
{
    hist_sender *s = calloc(1, sizeof *s);
    if (!s)
        return HIST_ENOMEM;
    s->ingest = strdup(ingest);
    s->window = window ? window : 16;
    s->backoff_ms = BACKOFF_MIN_MS;
    if (spool_dir) {
        s->spool = strdup(spool_dir);
        mkdir(spool_dir, 0755);
        if (spool_load(s) < 0) {
            fprintf(stderr, "spool: cannot read %s: %s\n", spool_dir, strerror(errno));
            hist_sender_free(s);
            return HIST_EIO;
        }
    }
    *out = s;
    return 0;
}

void hist_sender_free(hist_sender *s)
{
    if (!s)
        return;
    hist_tcp_client_close(s->conn);
    for (sbatch *b = s->head, *n; b; b = n) {
        n = b->next;
        free(b->bytes);
        free(b);
    }
    free(s->ingest);
    free(s->spool);
    free(s);
}

uint64_t hist_sender_spool_max_id(const hist_sender *s)
{
    return s->spool_max_id;
}

int hist_sender_push(hist_sender *s, uint64_t batch_id, uint8_t *bytes, size_t len,
                     uint64_t samples)
{
    sbatch *b = calloc(1, sizeof *b);
    if (!b) {
        free(bytes);
        return HIST_ENOMEM;
    }
    b->id = batch_id;
    b->bytes = bytes;
    b->len = len;
    b->samples = samples;
    if (s->spool) {
        int rc = spool_write(s, b);
        if (rc < 0) {
            free(b->bytes);
            free(b);
            return rc;
        }
    }
    enqueue(s, b);
    return 0;
}

static void disconnect(hist_sender *s, const char *why)
{
    if (!s->conn)
        return;
    s->backoff_ms = s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->backoff_ms * 2;
    fprintf(stderr, "ingest connection lost (%s); %llu batches queued, reconnecting\n", why,
            (unsigned long long)s->st.queued_batches);
    hist_tcp_client_close(s->conn);
    s->conn = NULL;
    s->next_unsent = s->head;
    s->inflight = 0;
    s->retry_at_ms = mono_ms() + s->backoff_ms;
}

static void pop_head(hist_sender *s)
{
    sbatch *b = s->head;
    s->head = b->next;
    if (!s->head)
        s->tail = NULL;
    s->st.queued -= b->samples;
    s->st.queued_batches--;
    if (s->spool) {
        char path[1024];
        spool_path(s, b->id, path, sizeof path);
        unlink(path);
    }
    free(b->bytes);
    free(b);
}

static void on_ack(hist_sender *s, Historian__V1__WriteResponse *r)
{
    sbatch *b = s->head;
    if (!b || s->inflight == 0 || r->batch_id != b->id) {
        disconnect(s, "ack out of order");
        return;
    }
    s->inflight--;
    s->last_ack_ms = mono_ms();
    if (r->code == 0) {
        s->st.acked += b->samples;
        s->backoff_ms = BACKOFF_MIN_MS;
    } else if (r->code == HIST_EIO || r->code == HIST_EBUSY || r->code == HIST_ECLOSED ||
               r->code == HIST_ENOMEM || r->code == HIST_EAUTH) {
        /* the server could not take it now: keep it and retry later */
        fprintf(stderr, "batch %llu not written (%s): will retry\n", (unsigned long long)b->id,
                r->error);
        disconnect(s, "server error");
        return;
    } else {
        s->st.rejected += b->samples;
        fprintf(stderr, "batch %llu refused: %s%s%s\n", (unsigned long long)b->id, r->error,
                r->n_errors ? " " : "", r->n_errors ? r->errors[0]->message : "");
    }
    pop_head(s);
}

void hist_sender_pump(hist_sender *s, int timeout_ms)
{
    int64_t end = mono_ms() + timeout_ms;
    do {
        int64_t now = mono_ms();
        if (!s->conn) {
            if (!s->head)
                return;
            if (now < s->retry_at_ms) {
                int64_t wait = s->retry_at_ms - now;
                if (wait > end - now)
                    wait = end - now;
                if (wait > 0)
                    usleep((useconds_t)wait * 1000);
                continue;
            }
            if (hist_tcp_client_connect(s->ingest, 1000, &s->conn) != 0) {
                s->conn = NULL;
                s->backoff_ms =
                    s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->backoff_ms * 2;
                s->retry_at_ms = mono_ms() + s->backoff_ms;
                continue;
            }
            if (s->st.sent)
                s->st.reconnects++;
            /* the backoff is reset by an ack, not by a connect: a server
             * that accepts and then refuses must not be hammered */
            s->next_unsent = s->head;
            s->inflight = 0;
            s->last_ack_ms = mono_ms();
        }
        while (s->conn && s->next_unsent && s->inflight < s->window) {
            sbatch *b = s->next_unsent;
            if (hist_tcp_client_send(s->conn, b->bytes, b->len) != 0) {
                disconnect(s, "send failed");
                break;
            }
            if (!b->sent_once) {
                b->sent_once = true;
                s->st.sent += b->samples;
            }
            if (s->inflight == 0)
                s->last_ack_ms = mono_ms();
            s->inflight++;
            s->next_unsent = b->next;
        }
        if (!s->conn)
            continue;
        if (s->inflight == 0)
            return;
        int left = (int)(end - mono_ms());
        Historian__V1__WriteResponse *r = NULL;
        int rc = hist_tcp_client_recv(s->conn, left > 0 ? left : 0, &r);
        if (rc == 0) {
            on_ack(s, r);
            historian__v1__write_response__free_unpacked(r, NULL);
        } else if (rc == HIST_EBUSY) {
            if (mono_ms() - s->last_ack_ms > ACK_STALL_MS)
                disconnect(s, "server stopped acknowledging");
        } else {
            disconnect(s, rc == HIST_ECLOSED ? "closed by the server" : "receive failed");
        }
    } while (mono_ms() < end);
}

void hist_sender_get_stats(const hist_sender *s, hist_sender_stats *out)
{
    *out = s->st;
}

int hist_csv_read(FILE *f, const char *path, hist_batch_builder *bb, size_t batch,
                  int (*flush)(void *ctx), void (*progress)(void *ctx), void *ctx, uint64_t *rows,
                  uint64_t *bad)
{
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    int rc = 0;
    *rows = *bad = 0;
    while (rc == 0 && getline(&line, &cap, f) > 0) {
        lineno++;
        hist_csv_row row;
        const char *err = NULL;
        int r = hist_csv_parse_line(line, &row, &err);
        if (r < 0 && (*bad)++ < 10)
            fprintf(stderr, "%s:%ld: %s\n", path, lineno, err);
        if (r <= 0)
            continue;
        (*rows)++;
        if (hist_bb_add(bb, row.tag, row.type, row.ts, row.v, row.q) == HIST_ETYPE) {
            rc = flush(ctx);
            if (rc == 0)
                rc = hist_bb_add(bb, row.tag, row.type, row.ts, row.v, row.q);
        }
        if (rc == 0 && hist_bb_samples(bb) >= batch)
            rc = flush(ctx);
        if (progress)
            progress(ctx);
    }
    free(line);
    return rc;
}
