/*
 * cli_csv.h: shared by `historian import` and `historian simulate`:
 * CSV rows (tag,time,value[,quality]), time parsing, a batch builder that
 * groups samples by tag into one WriteRequest, and the store-and-forward
 * sender that ships batches over TCP ingest (pipelined, acks in order).
 */
#ifndef HIST_TOOLS_CLI_CSV_H
#define HIST_TOOLS_CLI_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>

#include "storage/hist_storage.h"

/* "now", epoch milliseconds ("1700000000000"), or RFC 3339
 * ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00.250+01:00"). */
int hist_cli_parse_time(const char *s, int64_t *ns_out);

typedef struct {
    const char *tag; /* points into the line */
    int64_t ts;
    hist_type type; /* "true"/"false" -> bool, else float64 */
    hist_value v;
    uint32_t q;
} hist_csv_row;

/* Parses one line in place. 1 = a row, 0 = blank/comment/header, negative
 * = bad line with *err set. */
int hist_csv_parse_line(char *line, hist_csv_row *row, const char **err);

/* ---- batch builder ---------------------------------------------------- */

typedef struct hist_batch_builder hist_batch_builder;

/* Reads tag,time,value[,quality] rows from f (named path in messages) into
 * bb. Calls flush(ctx) whenever bb holds `batch` samples, and before a row
 * whose tag changes type (the server then judges that batch alone); calls
 * progress(ctx) after every row when it is not NULL. The first 10 bad lines
 * are reported on stderr; *rows and *bad count data rows and bad lines.
 * Returns 0 or the first error of flush. What is left in bb is the
 * caller's to flush. */
int hist_csv_read(FILE *f, const char *path, hist_batch_builder *bb, size_t batch,
                  int (*flush)(void *ctx), void (*progress)(void *ctx), void *ctx, uint64_t *rows,
                  uint64_t *bad);
hist_batch_builder *hist_bb_new(void);
void hist_bb_free(hist_batch_builder *bb);
/* HIST_ETYPE when the tag already has samples of another type in this batch. */
int hist_bb_add(hist_batch_builder *bb, const char *tag, hist_type type, int64_t ts, hist_value v,
                uint32_t q);
int hist_bb_add_many(hist_batch_builder *bb, const char *tag, hist_type type, size_t n,
                     const int64_t *ts, const hist_value *v, const uint32_t *q);
size_t hist_bb_samples(const hist_batch_builder *bb);
/* Encodes what was added (WriteRequest without frame header) and empties it. */
int hist_bb_encode(hist_batch_builder *bb, uint64_t batch_id, const char *token, uint8_t **out,
                   size_t *len);

/* ---- store-and-forward sender ------------------------------------------ */

typedef struct hist_sender hist_sender;

typedef struct {
    uint64_t sent;     /* samples handed to the network at least once */
    uint64_t acked;    /* samples acknowledged durable */
    uint64_t rejected; /* samples in batches the server refused */
    uint64_t queued;   /* samples not yet acknowledged (spooled when a dir is set) */
    uint64_t queued_batches;
    uint64_t reconnects;
} hist_sender_stats;

/* spool_dir NULL: batches are kept in memory only. With a spool dir, every
 * batch is written there (one file, fsync'd) before it is sent and deleted
 * when acknowledged; batches found there at start are sent first. */
int hist_sender_new(const char *ingest, const char *spool_dir, unsigned window, hist_sender **out);
void hist_sender_free(hist_sender *s);
/* Queues a batch (takes ownership of bytes). The batch id is the one inside
 * the encoded request (used to match acks). */
int hist_sender_push(hist_sender *s, uint64_t batch_id, uint8_t *bytes, size_t len,
                     uint64_t samples);
/* Connects (with backoff), sends what the window allows and reads acks for
 * up to timeout_ms. */
void hist_sender_pump(hist_sender *s, int timeout_ms);
void hist_sender_get_stats(const hist_sender *s, hist_sender_stats *out);
/* The highest batch id found in the spool at start (0 if none). */
uint64_t hist_sender_spool_max_id(const hist_sender *s);

#endif
