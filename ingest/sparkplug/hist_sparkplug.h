/*
 * hist_sparkplug.h: the door of ingest/sparkplug/, the Sparkplug B
 * (Eclipse Sparkplug 3.0) host application core: topics, payloads, the
 * session of every edge node, tag names, and the two messages a host
 * publishes. Pure: no network, no clock, no storage; the MQTT client of
 * historiand hands it (topic, payload, now) and gets samples to write and
 * actions to publish.
 *
 * Use:
 *   hist_spb_host *h = hist_spb_host_new(&opts);
 *   hist_spb_result r = {0};
 *   for each MQTT message:
 *       hist_spb_host_handle(h, topic, tlen, payload, plen, now_ms, &r);
 *       write r.samples[0 .. r.n_samples) (tag, type, ts, value, quality);
 *       if (r.rebirth) publish r.rebirth_payload to r.rebirth_topic (QoS 0);
 *   hist_spb_result_free(&r); hist_spb_host_free(h);
 * r's pointers stay valid until the next hist_spb_host_handle() on h.
 *
 * Threads: a host is used by one thread at a time; hosts share nothing.
 * docs/protocol.md ("MQTT / Sparkplug B") has the mapping rules and tables.
 */
#ifndef HIST_INGEST_SPARKPLUG_H
#define HIST_INGEST_SPARKPLUG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hist_log.h"
#include "common/hist_types.h"

/* ---- topics ------------------------------------------------------------ */

typedef enum {
    HIST_SPB_NBIRTH = 1,
    HIST_SPB_NDATA,
    HIST_SPB_NDEATH,
    HIST_SPB_DBIRTH,
    HIST_SPB_DDATA,
    HIST_SPB_DDEATH,
    HIST_SPB_NCMD,
    HIST_SPB_DCMD,
    HIST_SPB_STATE, /* spBv1.0/STATE/<host_id> */
} hist_spb_kind;

/* A topic's parts, pointing into the topic (not NUL-terminated). */
typedef struct {
    hist_spb_kind kind;
    const char *group, *node, *device, *host; /* NULL when absent */
    size_t group_len, node_len, device_len, host_len;
} hist_spb_topic;

/* Parses `spBv1.0/<group>/<KIND>/<node>[/<device>]` (device for D* kinds
 * only) or `spBv1.0/STATE/<host_id>`; every id non-empty, without '+', '#'
 * or NUL. 0, or HIST_EINVAL with *why saying what is wrong. */
int hist_spb_topic_parse(const char *topic, size_t len, hist_spb_topic *t, const char **why);

/* The name of a kind ("NBIRTH"); "?" when out of range. */
const char *hist_spb_kind_name(hist_spb_kind kind);

/* ---- the host ---------------------------------------------------------- */

typedef struct {
    uint32_t death_quality;       /* at NDEATH/DDEATH; 0 = Bad_NoCommunication */
    uint32_t null_quality;        /* for is_null; 0 = Bad (0x80000000) */
    uint64_t rebirth_interval_ms; /* at most one rebirth request per node per
                                     interval; 0 = 5000 */
    size_t max_payload;           /* bytes; larger payloads are refused; 0 = 16 MiB */
    size_t max_metrics;           /* per payload; more are refused; 0 = 100000 */
    size_t max_nodes;             /* edge nodes tracked; 0 = 100000 */
    size_t max_devices;           /* devices per node; 0 = 10000 */
    hist_log_sink log;            /* one line per unsupported metric name, per
                                     refused message, per rebirth request */
} hist_spb_options;

#define HIST_SPB_BAD_NO_COMMUNICATION 0x80310000u
#define HIST_SPB_REBIRTH_PAYLOAD_MAX  64

/* Counters since hist_spb_host_new(); the same fields, for one message, in
 * hist_spb_result. */
typedef struct {
    uint64_t messages;     /* handled (every topic under spBv1.0/) */
    uint64_t samples;      /* emitted */
    uint64_t refused;      /* messages refused: bad topic, malformed payload,
                              over a limit */
    uint64_t dropped;      /* metrics dropped while a node awaits its rebirth */
    uint64_t rebirths;     /* rebirth requests returned */
    uint64_t unsupported;  /* metric values of an unsupported datatype */
    uint64_t invalid;      /* metric values refused: UInt64 over 2^63-1, a
                              value field that does not fit the datatype, a
                              timestamp out of range, a birth metric without
                              a name */
    uint64_t renamed;      /* tag names mapped by the name rule (at births) */
    uint64_t stale_deaths; /* NDEATHs whose bdSeq is not the birth's */
} hist_spb_stats;

/* One value to write. tag is a valid tag name (hist_tag_name_check()). */
typedef struct {
    const char *tag;  /* NUL-terminated */
    const char *unit; /* the metric's engineering unit, "" when none */
    bool unit_given;  /* this message set it (a birth's or a data's engUnit) */
    hist_type type;
    int64_t ts; /* ns since the Unix epoch */
    hist_value v;
    uint32_t q;      /* OPC UA StatusCode */
    bool historical; /* is_historical: the edge's store-and-forward */
} hist_spb_sample;

typedef struct {
    hist_spb_kind kind;       /* 0 when the topic did not parse */
    hist_spb_sample *samples; /* n_samples of them */
    size_t n_samples, cap_samples;
    bool rebirth;        /* publish rebirth_payload to rebirth_topic */
    char *rebirth_topic; /* "spBv1.0/<group>/NCMD/<node>" */
    size_t rebirth_topic_cap;
    uint8_t rebirth_payload[HIST_SPB_REBIRTH_PAYLOAD_MAX];
    size_t rebirth_payload_len;
    const char *why;      /* why the message was refused or dropped; "" */
    hist_spb_stats stats; /* this message's counts */
} hist_spb_result;

typedef struct hist_spb_host hist_spb_host;

/* NULL when out of memory. opts may be NULL (all defaults). */
hist_spb_host *hist_spb_host_new(const hist_spb_options *opts);
void hist_spb_host_free(hist_spb_host *h);

/* Handles one message: topic (len bytes) and its payload. now_ms is the
 * wall clock (ms since the Unix epoch): the arrival time (for metrics
 * without a timestamp and for NDEATH) and the rebirth rate limit's clock.
 * Fills *res (reset first). Returns 0 when the message was taken (its
 * samples, possibly none, are in res; dropped data is counted, not an
 * error), HIST_EINVAL or HIST_EPROTO or HIST_ETOOBIG when it was refused
 * (res->why says why), HIST_ENOMEM. */
int hist_spb_host_handle(hist_spb_host *h, const char *topic, size_t topic_len,
                         const uint8_t *payload, size_t len, uint64_t now_ms, hist_spb_result *res);

/* The totals. */
hist_spb_stats hist_spb_host_stats(const hist_spb_host *h);

/* Frees what a result holds (it may be reused after). */
void hist_spb_result_free(hist_spb_result *res);

/* ---- what a host publishes --------------------------------------------- */

/* The NCMD rebirth request: a Payload with timestamp ts_ms and one metric
 * "Node Control/Rebirth", Boolean true, at ts_ms. Returns its length (at
 * most HIST_SPB_REBIRTH_PAYLOAD_MAX), HIST_ENOSPC when cap is too small. */
int hist_spb_rebirth_encode(uint64_t ts_ms, uint8_t *buf, size_t cap);

/* The host's STATE payload, {"online":true,"timestamp":<ms>}, NUL-ended.
 * Returns its length, HIST_ENOSPC when cap is too small. */
int hist_spb_state_json(bool online, uint64_t ts_ms, char *buf, size_t cap);

/* Writes the tag name of metric (mlen bytes) of node (and device, when
 * dlen > 0) of group, mapped by the name rule, NUL-terminated, into out
 * (HIST_TAG_NAME_MAX + 1 bytes). Returns 1 when the rule changed it, 0 when
 * not. */
int hist_spb_tag_name(const char *group, size_t glen, const char *node, size_t nlen,
                      const char *device, size_t dlen, const char *metric, size_t mlen, char *out);

#endif
