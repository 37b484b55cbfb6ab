/*
 * cli_csv.h: shared by `historian import` and `historian simulate`:
 * CSV rows (tag,time,value[,quality]) and their times, read into a batch
 * builder of the gateway client library (tools/client/hist_client.h).
 */
#ifndef HIST_TOOLS_CLI_CSV_H
#define HIST_TOOLS_CLI_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>

#include "tools/client/hist_client.h"

/* What hist_time_parse() reads ("now", "-24h", epoch milliseconds, RFC 3339
 * such as "2024-01-01T00:00:00.250+01:00"), and negative epoch
 * milliseconds. */
int cli_parse_time(const char *s, int64_t *ns_out);

typedef struct {
    const char *tag; /* points into the line */
    int64_t ts;
    hist_type type; /* "true"/"false" -> bool, else float64 */
    hist_value v;
    uint32_t q;
} cli_csv_row;

/* Parses one line in place. 1 = a row, 0 = blank/comment/header, negative
 * = bad line with *err set. */
int cli_csv_parse_line(char *line, cli_csv_row *row, const char **err);

/* Reads tag,time,value[,quality] rows from f (named path in messages) into
 * bb. Calls flush(ctx) whenever bb holds `batch` samples, and before a row
 * whose tag changes type (the server then judges that batch alone); calls
 * progress(ctx) after every row when it is not NULL. The first 10 bad lines
 * are reported on stderr; *rows and *bad count data rows and bad lines.
 * Returns 0 or the first error of flush. What is left in bb is the
 * caller's to flush. */
int cli_csv_read(FILE *f, const char *path, hist_batch_builder *bb, size_t batch,
                 int (*flush)(void *ctx), void (*progress)(void *ctx), void *ctx, uint64_t *rows,
                 uint64_t *bad);

#endif
