/*
 * cli_csv.c: CSV files read into the gateway client's batch builder, for
 * `historian import` and `historian simulate --csv`, through the CSV
 * sample reader the server shares (ingest/csv/hist_csv.h); times on the
 * command line; the ingest address from --server (see cli_csv.h).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/hist_error.h"
#include "common/hist_time.h"
#include "tools/cli.h"
#include "tools/cli_csv.h"

/* ---- time ------------------------------------------------------------ */

int cli_parse_time(const char *s, int64_t *ns_out)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return hist_time_parse(s, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec, ns_out);
}

/* ---- reading a file ---------------------------------------------------- */

typedef struct {
    hist_batch_builder *bb;
    const cli_csv_sink *sink;
} csv_target;

/* One sample into the batch: a flush first when its tag changes type,
 * one after when the batch is full. */
static int take_sample(void *ctx, const hist_csv_sample *s)
{
    csv_target *t = ctx;
    int rc = hist_bb_add(t->bb, s->tag, s->type, s->ts, s->v, s->q);
    if (rc == HIST_ETYPE) {
        if ((rc = t->sink->flush(t->sink->ctx)) < 0)
            return rc;
        rc = hist_bb_add(t->bb, s->tag, s->type, s->ts, s->v, s->q);
    }
    if (rc == 0 && hist_bb_samples(t->bb) >= t->sink->batch)
        rc = t->sink->flush(t->sink->ctx);
    return rc;
}

static void print_errors(const char *path, const hist_csv_stats *st)
{
    for (int i = 0; i < st->nerrors; i++) {
        const hist_csv_error *e = &st->errors[i];
        if (e->column_name)
            fprintf(stderr, "%s:%ld:%d: %s: %s\n", path, e->line, e->column, e->column_name,
                    e->msg);
        else
            fprintf(stderr, "%s:%ld:%d: %s\n", path, e->line, e->column, e->msg);
    }
    if (st->bad > (uint64_t)st->nerrors)
        fprintf(stderr, "%s: %llu more bad rows\n", path,
                (unsigned long long)(st->bad - (uint64_t)st->nerrors));
}

int cli_csv_read(FILE *f, const char *path, const hist_csv_opts *opts, hist_batch_builder *bb,
                 const cli_csv_sink *sink, cli_csv_counts *counts)
{
    memset(counts, 0, sizeof *counts);
    csv_target t = {.bb = bb, .sink = sink};
    hist_csv *r;
    int rc = hist_csv_new(opts, take_sample, &t, &r);
    if (rc < 0)
        return rc;
    static char buf[1 << 16];
    uint64_t total = 0;
    size_t n;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, f)) > 0) {
        rc = hist_csv_feed(r, buf, n);
        total += n;
        if (sink->progress)
            sink->progress(sink->ctx, total);
    }
    if (rc == 0 && ferror(f)) {
        perror(path);
        rc = HIST_EIO;
    }
    if (rc == 0)
        rc = hist_csv_finish(r);
    const hist_csv_stats *st = hist_csv_get_stats(r);
    print_errors(path, st);
    counts->rows = st->rows;
    counts->samples = st->samples;
    counts->bad = st->bad;
    hist_csv_free(r);
    return rc;
}

/* ---- the ingest address ------------------------------------------------ */

const char *cli_ingest_address(const char *ingest, const char *server, char *buf, size_t cap)
{
    if (ingest)
        return ingest;
    if (!server)
        server = getenv("HISTORIAN_SERVER");
    if (!server || !*server)
        return CLI_DEFAULT_INGEST;
    bool tls = !strncmp(server, "https://", 8);
    const char *host = strstr(server, "://");
    host = host ? host + 3 : server;
    size_t n = strcspn(host, "/");
    const char *end = host + n;
    if (host[0] == '[') { /* [v6]:port */
        const char *close = memchr(host, ']', n);
        end = close ? close + 1 : end;
    } else {
        const char *colon = memchr(host, ':', n);
        end = colon ? colon : end;
    }
    snprintf(buf, cap, "%s%.*s:9461", tls ? "tcps://" : "", (int)(end - host), host);
    return buf;
}
