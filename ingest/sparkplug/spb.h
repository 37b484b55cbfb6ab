/*
 * spb.h: what the files of ingest/sparkplug/ share; nothing outside the
 * folder includes it (the door is hist_sparkplug.h). Names are unit__name.
 *
 * Layering: calls go down this list, never up or across a level:
 *   1. topic.c    topic parsing, the tag name rule, the STATE JSON
 *      payload.c  the Payload reader (protobuf wire format, by hand, on
 *                 ingest/wire.h), the rebirth encoder
 *   2. host.c     the host: edge node sessions (births, seq, aliases,
 *                 deaths, rebirth requests) and the samples they give
 */
#ifndef HIST_INGEST_SPARKPLUG_SPB_H
#define HIST_INGEST_SPARKPLUG_SPB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/sparkplug/hist_sparkplug.h"

/* Sparkplug DataType numbers used here */
enum {
    SPB_INT8 = 1,
    SPB_INT16 = 2,
    SPB_INT32 = 3,
    SPB_INT64 = 4,
    SPB_UINT8 = 5,
    SPB_UINT16 = 6,
    SPB_UINT32 = 7,
    SPB_UINT64 = 8,
    SPB_FLOAT = 9,
    SPB_DOUBLE = 10,
    SPB_BOOLEAN = 11,
    SPB_DATETIME = 13,
};

/* Metric value fields (their field numbers) */
enum {
    SPB_V_NONE = 0,
    SPB_V_INT = 10,
    SPB_V_LONG = 11,
    SPB_V_FLOAT = 12,
    SPB_V_DOUBLE = 13,
    SPB_V_BOOL = 14,
    SPB_V_STRING = 15,
    SPB_V_BYTES = 16,
    SPB_V_DATASET = 17,
    SPB_V_TEMPLATE = 18,
    SPB_V_EXTENSION = 19,
};

/* ---- payload.c ------------------------------------------------------ */

/* One metric as read; strings point into the payload. */
typedef struct {
    const char *name;
    size_t name_len;
    const char *unit; /* the engUnit / engineeringUnit / EngUnit property */
    size_t unit_len;
    uint64_t alias, timestamp;
    uint32_t datatype;
    bool has_name, has_alias, has_timestamp, has_datatype, has_unit, has_quality;
    bool is_historical, is_transient, is_null;
    int value_field; /* SPB_V_*: the last value field read (a oneof) */
    uint64_t u;      /* SPB_V_INT, SPB_V_LONG, SPB_V_BOOL (0/1) */
    double d;        /* SPB_V_FLOAT, SPB_V_DOUBLE */
    int64_t quality; /* the Quality property (Ignition's integer) */
} spb_metric;

typedef struct {
    uint64_t timestamp, seq;
    bool has_timestamp, has_seq;
    spb_metric *metrics; /* n_metrics, malloc'ed (NULL when none) */
    size_t n_metrics;
} spb_payload;

/* Reads a Payload (len bytes). Allocates one array of at most
 * min(len / 2, max_metrics) metrics and nothing else; strings point into
 * buf. 0, HIST_EPROTO or HIST_ETOOBIG (over max_metrics) with *why,
 * HIST_ENOMEM. Unknown fields are skipped; nested messages (metadata,
 * datasets, templates, nested property sets) are skipped without being
 * read, so nothing recurses. */
int spb_payload__decode(const uint8_t *buf, size_t len, size_t max_metrics, spb_payload *p,
                    const char **why);
void spb_payload__free(spb_payload *p);

/* ---- topic.c -------------------------------------------------------- */

/* FNV-1a 32 of n bytes */
uint32_t topic__fnv32(const void *data, size_t n);

#endif
