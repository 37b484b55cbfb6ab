/*
 * cli_import.c: `historian import FILE.csv`: load tag,time,value[,quality]
 * rows over TCP ingest, pipelined, each batch acknowledged durable.
 * A progress bar goes to stderr when it is a terminal; a summary line ends
 * the run. Rows that do not parse are counted and named (first 10).
 * Phases: parse the options, open the file and the sender, send every
 * row in batches, print the summary.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tools/cli.h"
#include "tools/cli_csv.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: historian import FILE.csv [--ingest HOST:PORT] [--batch N] [--token T]\n"
                 "         [--tls] [--cacert FILE] [--cert FILE --key FILE]\n"
                 "  rows: tag,time,value[,quality]; time in epoch ms or RFC 3339;\n"
                 "  value a number, true or false; an optional header line is skipped\n"
                 "  --ingest tcps://HOST:PORT or --tls: TLS, the server verified against\n"
                 "  --cacert (default: the system's CAs); --cert/--key: a client certificate\n");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void progress(long done, long total, uint64_t samples, double t0)
{
    int width = 30;
    int fill = total > 0 ? (int)((double)done / (double)total * width) : 0;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    double el = now_s() - t0;
    fprintf(stderr, "\r[%s] %3d%%  %llu samples  %.0f/s ", bar,
            total > 0 ? (int)(100.0 * (double)done / (double)total) : 0,
            (unsigned long long)samples, el > 0 ? (double)samples / el : 0.0);
}

typedef struct {
    const char *ingest, *token, *path;
    size_t batch;
    FILE *f;
    long total; /* the file's size, for the progress bar */
    hist_tls_opts tls;
    hist_sender *s;
    hist_batch_builder *bb;
    bool tty;
    double t0, last_draw;
    uint64_t bad; /* lines that did not parse */
} import_command;

static const struct option import_options[] = {
    {"ingest", 1, 0, 'i'}, {"batch", 1, 0, 'b'},  {"token", 1, 0, 'k'},
    {"tls", 0, 0, 'L'},    {"cacert", 1, 0, 'A'}, {"cert", 1, 0, 'E'},
    {"key", 1, 0, 'K'},    {"help", 0, 0, 'h'},   {0, 0, 0, 0}};

static int import_take_option(void *ctx, int ch, char **argv)
{
    import_command *c = ctx;
    switch (ch) {
    case 'i':
        c->ingest = optarg;
        return CLI_CONTINUE;
    case 'b':
        c->batch = strtoul(optarg, NULL, 10);
        return CLI_CONTINUE;
    case 'k':
        c->token = optarg;
        return CLI_CONTINUE;
    }
    if (cli_tls_option(&c->tls, ch, optarg))
        return CLI_CONTINUE;
    return cli_help_or_usage(ch, usage);
}

/* The options, then exactly one FILE. */
static int import_parse_options(import_command *c, int argc, char **argv)
{
    int rc = cli_each_option(argc, argv, "", import_options, true, import_take_option, c);
    if (rc != CLI_CONTINUE)
        return rc;
    if (optind != argc - 1 || c->batch == 0) {
        usage(stderr);
        return CLI_USAGE;
    }
    c->path = argv[optind];
    return CLI_CONTINUE;
}

/* The file to read and the sender to write it with. */
static int import_open(import_command *c)
{
    c->f = fopen(c->path, "r");
    if (!c->f) {
        perror(c->path);
        return CLI_USAGE;
    }
    struct stat sb;
    c->total = fstat(fileno(c->f), &sb) == 0 ? (long)sb.st_size : 0;
    if (hist_sender_new(c->ingest, NULL, 16, &c->s) < 0 || hist_sender_set_tls(c->s, &c->tls) < 0)
        return CLI_SERVER;
    c->bb = hist_bb_new();
    c->tty = isatty(2);
    c->t0 = now_s();
    return CLI_CONTINUE;
}

/* Queues what the builder holds, then waits while 32 batches are
 * unacknowledged (the backlog stays small). */
static int import_flush(void *ctx)
{
    import_command *c = ctx;
    int rc = hist_sender_push_batch(c->s, c->bb, c->token, NULL);
    hist_sender_stats st;
    for (;;) {
        hist_sender_get_stats(c->s, &st);
        if (st.queued_batches < 32)
            break;
        hist_sender_pump(c->s, 100);
    }
    return rc;
}

/* Redraws the progress bar on a terminal, at most five times a second. */
static void import_progress(void *ctx)
{
    import_command *c = ctx;
    if (!c->tty || now_s() - c->last_draw <= 0.2)
        return;
    hist_sender_stats st;
    hist_sender_get_stats(c->s, &st);
    progress(ftell(c->f), c->total, st.acked, c->t0);
    c->last_draw = now_s();
}

/* Every row in batches, then up to a minute for the last acks. 0 or the
 * first error of queueing a batch. */
static int import_send(import_command *c)
{
    uint64_t rows;
    int rc = cli_csv_read(c->f, c->path, c->bb, c->batch, import_flush, import_progress, c, &rows,
                          &c->bad);
    fclose(c->f);
    c->f = NULL;
    if (rc == 0)
        rc = import_flush(c);
    hist_sender_drain(c->s, 60000);
    return rc;
}

/* The summary line; the exit code says whether every row arrived. */
static int import_print_summary(const import_command *c, int send_rc)
{
    hist_sender_stats st;
    hist_sender_get_stats(c->s, &st);
    if (c->tty) {
        progress(c->total, c->total, st.acked, c->t0);
        fputc('\n', stderr);
    }
    double el = now_s() - c->t0;
    printf("imported %llu samples in %llu batches in %.2f s (%.0f samples/s); "
           "%llu refused, %llu not acknowledged, %llu bad lines\n",
           (unsigned long long)st.acked, (unsigned long long)st.batches, el,
           el > 0 ? (double)st.acked / el : 0.0, (unsigned long long)st.rejected,
           (unsigned long long)st.queued, (unsigned long long)c->bad);
    return send_rc == 0 && st.queued == 0 && st.rejected == 0 && c->bad == 0 ? CLI_OK : CLI_SERVER;
}

int cli_import(int argc, char **argv)
{
    import_command c = {.ingest = CLI_DEFAULT_INGEST, .batch = 5000};
    int rc = import_parse_options(&c, argc, argv);
    if (rc == CLI_CONTINUE)
        rc = import_open(&c);
    if (rc == CLI_CONTINUE)
        rc = import_print_summary(&c, import_send(&c));
    if (c.f)
        fclose(c.f);
    hist_bb_free(c.bb);
    hist_sender_free(c.s);
    return rc;
}
