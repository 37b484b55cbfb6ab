/*
 * hist_csv.h: the CSV sample reader, pure (bytes in, samples out, no I/O),
 * shared by `historian import` and the server. Door of ingest/csv/
 * (library hist_csv, on hist_common and Debian's libcsv only, so the CLI
 * links it without the storage engine).
 *
 * Bytes come in chunks of any size (hist_csv_feed), cut anywhere; samples
 * go out through a callback as each row ends. Memory is bounded whatever
 * the input: a field over HIST_CSV_FIELD_MAX bytes, a row over
 * HIST_CSV_ROW_MAX bytes or HIST_CSV_COLS_MAX fields is a bad row.
 *
 * What it reads (docs/protocol.md, "CSV"):
 *   - RFC 4180 fields: quoted fields with embedded delimiters, "" quotes
 *     and newlines; LF, CRLF or CR line ends; an optional UTF-8 BOM; blank
 *     lines skipped. The delimiter is ',' or an option (';' for European
 *     Excel); with decimal_comma, values use ',' as the decimal mark.
 *   - A header (the first non-blank row) when it names the columns: tag or
 *     name; time, ts, ts_ms or timestamp; value; quality (any case, any
 *     order, surrounding spaces ignored). Without a header the columns are
 *     tag,time,value[,quality]. Wide form: a header whose first column is
 *     a time column and which has no tag, value or quality column: every
 *     other column is a tag, every non-empty cell a sample.
 *   - time: epoch milliseconds (digits, optionally '-'), RFC 3339 with a
 *     zone (Z or +hh:mm; 'T' or ' ' between date and time), or a zone-less
 *     local time "YYYY-MM-DD[ T]hh:mm:ss[.frac]" / "YYYY-MM-DD" read in the
 *     option's IANA zone (UTC without one); a local time that does not
 *     exist (clocks jumped forward) is a bad row, a repeated one (clocks
 *     went back) is its first instant.
 *   - value: true/false (any case) -> bool; an integer with an 'i' suffix
 *     ("42i") -> int64; with ints_as_int64, an integer without '.' or
 *     exponent -> int64; any other number (strtod: also NaN, Inf) ->
 *     float64.
 *   - quality: an OPC UA StatusCode, decimal or 0x hex; empty is 0 (Good).
 *   - tag: taken byte for byte (no trimming), 1..255 bytes; the server
 *     checks the rest of the tag rules.
 * A bad row gives no sample: it is counted, and the first HIST_CSV_ERRORS_KEPT
 * are kept with their physical line (1-based, embedded newlines counted)
 * and column (1-based field index, 0 for the row as a whole).
 */
#ifndef HIST_INGEST_CSV_H
#define HIST_INGEST_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hist_types.h"

#define HIST_CSV_FIELD_MAX   65536
#define HIST_CSV_ROW_MAX     (1 << 20)
#define HIST_CSV_COLS_MAX    4096
#define HIST_CSV_ERRORS_KEPT 10
#define HIST_CSV_MSG_MAX     160

typedef struct {
    char delimiter;     /* 0 = ',' */
    bool decimal_comma; /* values: "1,5" = 1.5 */
    bool ints_as_int64; /* "42" = int64 42 (else float64 42.0) */
    const char *tz;     /* IANA zone of zone-less times; NULL or "" = UTC */
} hist_csv_opts;

typedef struct {
    const char *tag; /* NUL-terminated, valid during the callback only */
    int64_t ts;      /* ns since the epoch */
    hist_type type;
    hist_value v;
    uint32_t q;
    long line; /* the physical line the row starts on */
} hist_csv_sample;

/* Called for every sample of a good row, in row order. A negative return
 * stops the reader: hist_csv_feed/finish return it. */
typedef int (*hist_csv_sample_fn)(void *ctx, const hist_csv_sample *s);

typedef struct {
    long line;
    int column;
    const char *column_name; /* "tag", "time", "value", "quality" or NULL */
    char msg[HIST_CSV_MSG_MAX];
} hist_csv_error;

typedef struct {
    uint64_t rows;    /* rows read, good and bad (not a good header, not blank lines) */
    uint64_t samples; /* samples handed to the callback */
    uint64_t bad;     /* bad rows */
    long lines;       /* physical lines read so far */
    bool header, wide;
    int nerrors; /* kept in errors[] (at most HIST_CSV_ERRORS_KEPT) */
    hist_csv_error errors[HIST_CSV_ERRORS_KEPT];
} hist_csv_stats;

typedef struct hist_csv hist_csv;

/* HIST_EINVAL for an unknown zone or a delimiter that cannot be one ('"',
 * CR, LF; '.' with decimal_comma), HIST_ENOMEM. fn gets ctx. */
int hist_csv_new(const hist_csv_opts *opts, hist_csv_sample_fn fn, void *ctx, hist_csv **out);
/* Reads len more bytes. 0, or the callback's error (the reader is then
 * stopped), or HIST_ENOMEM. */
int hist_csv_feed(hist_csv *r, const void *buf, size_t len);
/* The end of the input: the last row even without a line end. */
int hist_csv_finish(hist_csv *r);
const hist_csv_stats *hist_csv_get_stats(const hist_csv *r);
/* "line 3, column 2 (time): bad time ..." for a kept error. */
void hist_csv_format_error(const hist_csv_error *e, char *out, size_t cap);
void hist_csv_free(hist_csv *r);

#endif
