/*
 * cli_import.c: `historian import FILE.csv`: load tag,time,value[,quality]
 * rows over TCP ingest, pipelined, each batch acknowledged durable.
 * A progress bar goes to stderr when it is a terminal; a summary line ends
 * the run. Rows that do not parse are counted and named (first 10).
 */
#include <getopt.h>
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
                 "  rows: tag,time,value[,quality]; time in epoch ms or RFC 3339;\n"
                 "  value a number, true or false; an optional header line is skipped\n");
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

/* What the CSV reader's callbacks need. */
typedef struct {
    hist_sender *s;
    hist_batch_builder *bb;
    const char *token;
    FILE *f;
    long total;
    bool tty;
    double t0, last_draw;
} import_state;

/* Queues what the builder holds, then waits while 32 batches are
 * unacknowledged (the backlog stays small). */
static int import_flush(void *ctx)
{
    import_state *is = ctx;
    int rc = hist_sender_push_batch(is->s, is->bb, is->token, NULL);
    hist_sender_stats st;
    for (;;) {
        hist_sender_get_stats(is->s, &st);
        if (st.queued_batches < 32)
            break;
        hist_sender_pump(is->s, 100);
    }
    return rc;
}

/* Redraws the progress bar on a terminal, at most five times a second. */
static void import_progress(void *ctx)
{
    import_state *is = ctx;
    if (!is->tty || now_s() - is->last_draw <= 0.2)
        return;
    hist_sender_stats st;
    hist_sender_get_stats(is->s, &st);
    progress(ftell(is->f), is->total, st.acked, is->t0);
    is->last_draw = now_s();
}

int cli_import(int argc, char **argv)
{
    static const struct option longs[] = {{"ingest", 1, 0, 'i'},
                                          {"batch", 1, 0, 'b'},
                                          {"token", 1, 0, 'k'},
                                          {"help", 0, 0, 'h'},
                                          {0, 0, 0, 0}};
    const char *ingest = CLI_DEFAULT_INGEST, *token = NULL;
    size_t batch = 5000;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 'i':
            ingest = optarg;
            break;
        case 'b':
            batch = strtoul(optarg, NULL, 10);
            break;
        case 'k':
            token = optarg;
            break;
        case 'h':
            usage(stdout);
            return CLI_OK;
        default:
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (optind != argc - 1 || batch == 0) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *path = argv[optind];
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return CLI_USAGE;
    }
    struct stat sb;
    long total = fstat(fileno(f), &sb) == 0 ? (long)sb.st_size : 0;
    hist_sender *s;
    if (hist_sender_new(ingest, NULL, 16, &s) < 0) {
        fclose(f);
        return CLI_SERVER;
    }
    import_state is = {.s = s,
                       .bb = hist_bb_new(),
                       .token = token,
                       .f = f,
                       .total = total,
                       .tty = isatty(2),
                       .t0 = now_s()};
    uint64_t rows, bad;
    int rc = cli_csv_read(f, path, is.bb, batch, import_flush, import_progress, &is, &rows, &bad);
    fclose(f);
    if (rc == 0)
        rc = import_flush(&is);
    hist_sender_drain(s, 60000);
    hist_sender_stats st;
    hist_sender_get_stats(s, &st);
    if (is.tty) {
        progress(total, total, st.acked, is.t0);
        fputc('\n', stderr);
    }
    double el = now_s() - is.t0;
    printf("imported %llu samples in %llu batches in %.2f s (%.0f samples/s); "
           "%llu refused, %llu not acknowledged, %llu bad lines\n",
           (unsigned long long)st.acked, (unsigned long long)st.batches, el,
           el > 0 ? (double)st.acked / el : 0.0, (unsigned long long)st.rejected,
           (unsigned long long)st.queued, (unsigned long long)bad);
    hist_bb_free(is.bb);
    hist_sender_free(s);
    return rc == 0 && st.queued == 0 && st.rejected == 0 && bad == 0 ? CLI_OK : CLI_SERVER;
}
