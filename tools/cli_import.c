/*
 * cli_import.c: `historian import FILE.csv|-`: load a CSV file (long form
 * tag,time,value[,quality] or wide form time,tagA,tagB,...; the reader is
 * ingest/csv/hist_csv.h, the server's) over TCP ingest, pipelined, each
 * batch acknowledged durable. A progress bar goes to stderr when it is a
 * terminal; a summary line ends the run. Bad rows are counted and the
 * first 10 named with their line and column.
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

#include "common/hist_error.h"
#include "tools/cli.h"
#include "tools/cli_csv.h"
#include "tools/cli_read.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: historian import [options] FILE.csv|-\n"
            "\n"
            "Loads CSV over TCP ingest (- reads standard input). Long form:\n"
            "tag,time,value[,quality], with or without a header; a header names the\n"
            "columns in any order (tag|name, time|ts|ts_ms|timestamp, value, quality).\n"
            "Wide form: a header time,TAG_A,TAG_B,... and one time per row.\n"
            "Times: epoch ms, RFC 3339, or zone-less \"2026-03-29 02:30:00\" (in --tz).\n"
            "Values: numbers (float64), true/false (bool), 42i (int64). Quality: an\n"
            "OPC UA StatusCode (decimal or 0x hex; empty = 0, Good).\n"
            "\n"
            "  -d, --delimiter C   field delimiter: , (default) ; or tab\n"
            "      --decimal-comma values use ',' as the decimal mark (1,5)\n"
            "      --tz ZONE       IANA zone of zone-less times (default UTC)\n"
            "      --int64         integers without '.' or exponent are int64 (an export\n"
            "                      of int64 tags)\n"
            "  -b, --batch N       samples per batch (default 5000)\n"
            "      --server URL    the server: ingest goes to its host, port 9461, TLS\n"
            "                      for https:// (default $HISTORIAN_SERVER, else %s)\n"
            "      --ingest H:P    the TCP ingest address itself (tcps://H:P for TLS)\n"
            "      --token TOKEN   a token with the write scope (or $HISTORIAN_TOKEN)\n"
            "      --tls           TLS, the server verified against --cacert (default:\n"
            "                      the system's CAs)\n"
            "      --cacert FILE   CA certificates (PEM)\n"
            "      --cert FILE     client certificate (PEM); --key FILE its key\n"
            "  -h, --help\n"
            "\n"
            "Exit status: 0 every row stored, 1 bad rows, refused or unacknowledged\n"
            "samples, or a server/network error, 2 bad command line.\n",
            CLI_DEFAULT_INGEST);
}

/* "[#####.....]  42%  N samples  R/s"; without a total (a pipe) the bytes. */
static void progress(uint64_t done, uint64_t total, uint64_t samples, double t0)
{
    double el = cli_mono_s() - t0;
    double rate = el > 0 ? (double)samples / el : 0.0;
    if (total == 0) {
        fprintf(stderr, "\r%llu bytes  %llu samples  %.0f/s ", (unsigned long long)done,
                (unsigned long long)samples, rate);
        return;
    }
    int width = 30;
    double frac = done >= total ? 1.0 : (double)done / (double)total;
    int fill = (int)(frac * width);
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r[%s] %3d%%  %llu samples  %.0f/s ", bar, (int)(100.0 * frac),
            (unsigned long long)samples, rate);
}

typedef struct {
    const char *ingest, *server, *token, *path;
    char ingest_buf[300];
    size_t batch;
    hist_csv_opts csv;
    FILE *f;
    uint64_t total, read; /* the file's size (0: unknown), bytes read */
    hist_tls_opts tls;
    hist_sender *s;
    hist_batch_builder *bb;
    bool tty;
    double t0, last_draw;
    cli_csv_counts counts;
} import_command;

enum { OPT_DECIMAL_COMMA = 256, OPT_TZ, OPT_INT64, OPT_SERVER };

static const struct option import_options[] = {{"ingest", 1, 0, 'i'},
                                               {"batch", 1, 0, 'b'},
                                               {"token", 1, 0, 'k'},
                                               {"tls", 0, 0, 'L'},
                                               {"cacert", 1, 0, 'A'},
                                               {"cert", 1, 0, 'E'},
                                               {"key", 1, 0, 'K'},
                                               {"delimiter", 1, 0, 'd'},
                                               {"decimal-comma", 0, 0, OPT_DECIMAL_COMMA},
                                               {"tz", 1, 0, OPT_TZ},
                                               {"int64", 0, 0, OPT_INT64},
                                               {"server", 1, 0, OPT_SERVER},
                                               {"help", 0, 0, 'h'},
                                               {0, 0, 0, 0}};

/* ",", ";", "tab" or "\t", or any other single byte. */
static int take_delimiter(import_command *c, const char *arg)
{
    if (!strcmp(arg, "tab") || !strcmp(arg, "\\t"))
        arg = "\t";
    if (strlen(arg) != 1 || strchr("\"\r\n", arg[0])) {
        fprintf(stderr, "historian import: --delimiter is one character (, ; or tab)\n");
        return CLI_USAGE;
    }
    c->csv.delimiter = arg[0];
    return CLI_CONTINUE;
}

static int import_take_option(void *ctx, int ch, char **argv)
{
    import_command *c = ctx;
    (void)argv;
    char *end;
    switch (ch) {
    case 'i':
        c->ingest = optarg;
        return CLI_CONTINUE;
    case OPT_SERVER:
        c->server = optarg;
        return CLI_CONTINUE;
    case 'b':
        c->batch = strtoul(optarg, &end, 10);
        return *end ? CLI_USAGE : CLI_CONTINUE;
    case 'k':
        c->token = optarg;
        return CLI_CONTINUE;
    case 'd':
        return take_delimiter(c, optarg);
    case OPT_DECIMAL_COMMA:
        c->csv.decimal_comma = true;
        return CLI_CONTINUE;
    case OPT_TZ:
        c->csv.tz = optarg;
        return CLI_CONTINUE;
    case OPT_INT64:
        c->csv.ints_as_int64 = true;
        return CLI_CONTINUE;
    }
    if (cli_tls_option(&c->tls, ch, optarg))
        return CLI_CONTINUE;
    return cli_help_or_usage(ch, usage);
}

/* The options, then exactly one FILE. */
static int import_parse_options(import_command *c, int argc, char **argv)
{
    int rc = cli_each_option(argc, argv, "d:b:h", import_options, true, import_take_option, c);
    if (rc != CLI_CONTINUE)
        return rc;
    if (optind != argc - 1 || c->batch == 0) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (c->csv.decimal_comma && (c->csv.delimiter == 0 || c->csv.delimiter == ',')) {
        fprintf(stderr, "historian import: --decimal-comma needs another --delimiter (;)\n");
        return CLI_USAGE;
    }
    hist_csv *probe; /* the options as the reader will take them: a zone that loads */
    if (hist_csv_new(&c->csv, NULL, NULL, &probe) < 0) {
        fprintf(stderr, "historian import: unknown time zone '%s'\n", c->csv.tz);
        return CLI_USAGE;
    }
    hist_csv_free(probe);
    c->path = argv[optind];
    if (!c->token)
        c->token = getenv("HISTORIAN_TOKEN");
    c->ingest = cli_ingest_address(c->ingest, c->server, c->ingest_buf, sizeof c->ingest_buf);
    return CLI_CONTINUE;
}

/* The file to read and the sender to write it with. */
static int import_open(import_command *c)
{
    bool in = !strcmp(c->path, "-");
    c->f = in ? stdin : fopen(c->path, "rb");
    if (!c->f) {
        perror(c->path);
        return CLI_USAGE;
    }
    struct stat sb;
    c->total = fstat(fileno(c->f), &sb) == 0 && S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
    if (hist_sender_new(c->ingest, NULL, 16, &c->s) < 0 || hist_sender_set_tls(c->s, &c->tls) < 0)
        return CLI_SERVER;
    c->bb = hist_bb_new();
    c->tty = isatty(2);
    c->t0 = cli_mono_s();
    return CLI_CONTINUE;
}

/* Queues what the builder holds, then waits while 32 batches are
 * unacknowledged (the backlog stays small), but not for ever: after
 * IMPORT_STALL_S seconds without a new acknowledgement the import stops
 * (HIST_ETIMEDOUT; the server is down or unreachable). */
#define IMPORT_STALL_S 60
static int import_flush(void *ctx)
{
    import_command *c = ctx;
    int rc = hist_sender_push_batch(c->s, c->bb, c->token, NULL);
    hist_sender_stats st;
    hist_sender_get_stats(c->s, &st);
    uint64_t acked = st.acked;
    double since = cli_mono_s();
    while (rc == 0 && st.queued_batches >= 32) {
        hist_sender_pump(c->s, 100);
        hist_sender_get_stats(c->s, &st);
        if (st.acked != acked) {
            acked = st.acked;
            since = cli_mono_s();
        } else if (cli_mono_s() - since > IMPORT_STALL_S) {
            fprintf(stderr, "historian import: nothing acknowledged for %d s; giving up\n",
                    IMPORT_STALL_S);
            rc = HIST_ETIMEDOUT;
        }
    }
    return rc;
}

/* Redraws the progress bar on a terminal, at most five times a second. */
static void import_progress(void *ctx, uint64_t bytes)
{
    import_command *c = ctx;
    c->read = bytes;
    if (!c->tty || cli_mono_s() - c->last_draw <= 0.2)
        return;
    hist_sender_stats st;
    hist_sender_get_stats(c->s, &st);
    progress(bytes, c->total, st.acked, c->t0);
    c->last_draw = cli_mono_s();
}

/* Every row in batches, then up to a minute for the last acks. 0 or the
 * first error of reading or queueing a batch. */
static int import_send(import_command *c)
{
    cli_csv_sink sink = {
        .batch = c->batch, .flush = import_flush, .progress = import_progress, .ctx = c};
    int rc = cli_csv_read(c->f, c->path, &c->csv, c->bb, &sink, &c->counts);
    if (c->f != stdin)
        fclose(c->f);
    c->f = NULL;
    if (rc == 0)
        rc = import_flush(c);
    if (rc != HIST_ETIMEDOUT)
        hist_sender_drain(c->s, 60000);
    return rc;
}

/* The summary line; the exit code says whether every row arrived. */
static int import_print_summary(const import_command *c, int send_rc)
{
    hist_sender_stats st;
    hist_sender_get_stats(c->s, &st);
    if (c->tty) {
        progress(c->total ? c->total : c->read, c->total, st.acked, c->t0);
        fputc('\n', stderr);
    }
    double el = cli_mono_s() - c->t0;
    printf("imported %llu samples in %llu batches in %.2f s (%.0f samples/s); "
           "%llu refused, %llu not acknowledged, %llu bad rows\n",
           (unsigned long long)st.acked, (unsigned long long)st.batches, el,
           el > 0 ? (double)st.acked / el : 0.0, (unsigned long long)st.rejected,
           (unsigned long long)st.queued, (unsigned long long)c->counts.bad);
    return send_rc == 0 && st.queued == 0 && st.rejected == 0 && c->counts.bad == 0 ? CLI_OK
                                                                                    : CLI_SERVER;
}

int cli_import(int argc, char **argv)
{
    import_command c = {.batch = 5000};
    int rc = import_parse_options(&c, argc, argv);
    if (rc == CLI_CONTINUE)
        rc = import_open(&c);
    if (rc == CLI_CONTINUE)
        rc = import_print_summary(&c, import_send(&c));
    if (c.f && c.f != stdin)
        fclose(c.f);
    hist_bb_free(c.bb);
    hist_sender_free(c.s);
    return rc;
}
