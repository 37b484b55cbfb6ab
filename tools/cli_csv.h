/*
 * cli_csv.h: shared by `historian import` and `historian simulate --csv`:
 * a CSV file read with the CSV sample reader (ingest/csv/hist_csv.h, the
 * one the server uses too) into a batch builder of the gateway client
 * library (tools/client/hist_client.h); times on the command line; the
 * ingest address the write commands derive from --server.
 */
#ifndef HIST_TOOLS_CLI_CSV_H
#define HIST_TOOLS_CLI_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ingest/csv/hist_csv.h"
#include "tools/client/hist_client.h"

/* What hist_time_parse() reads, as `historian query` does ("now", "-24h",
 * "now-7d", epoch milliseconds, RFC 3339 such as
 * "2024-01-01T00:00:00.250+01:00"). */
int cli_parse_time(const char *s, int64_t *ns_out);

/* What a read of a file did. */
typedef struct {
    uint64_t rows, samples, bad; /* data rows, samples read, bad rows */
} cli_csv_counts;

/* The reader's callbacks: flush(ctx) whenever bb holds `batch` samples and
 * before a sample whose tag changes type in the batch (the server then
 * judges that batch alone); progress(ctx, bytes read so far) after every
 * chunk when not NULL. */
typedef struct {
    size_t batch;
    int (*flush)(void *ctx);
    void (*progress)(void *ctx, uint64_t bytes);
    void *ctx;
} cli_csv_sink;

/* Reads f (named path in messages; "-" is standard input to the caller)
 * to its end into bb through sink. The first HIST_CSV_ERRORS_KEPT bad rows
 * are printed on stderr as "path:LINE:COLUMN: what" (COLUMN 0: the row).
 * Returns 0, HIST_EINVAL for a bad option (an unknown --tz zone), HIST_EIO
 * for a read error, or the first error of flush. What is left in bb is the
 * caller's to flush. */
int cli_csv_read(FILE *f, const char *path, const hist_csv_opts *opts, hist_batch_builder *bb,
                 const cli_csv_sink *sink, cli_csv_counts *counts);

/* The ingest address of a write command: --ingest when given, else the
 * host of --server or $HISTORIAN_SERVER with the ingest port 9461
 * ("tcps://" when the server is https://), else CLI_DEFAULT_INGEST. The
 * text lives in buf. */
const char *cli_ingest_address(const char *ingest, const char *server, char *buf, size_t cap);

#endif
