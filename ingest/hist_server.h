/*
 * hist_server.h: the ingest front end's only door (folder ingest/).
 *
 * hist_server_run() opens the data directory, listens for TCP ingest
 * (length-prefixed protobuf frames, see docs/protocol.md) and HTTP (writes,
 * /healthz, /metrics and the read API of query/api/hist_api.h) on one libuv
 * loop, both in TLS when tls_cert is set, and returns after SIGTERM/SIGINT
 * once every in-flight batch is durable and acknowledged and the database
 * is closed.
 */
#ifndef HIST_SERVER_H
#define HIST_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "storage/hist_storage.h"

/* What a SIGHUP re-read of the configuration gives the server (the
 * reload callback of hist_server_options): the values that change at run
 * time, and for the log line what changed. */
typedef struct {
    int log_level;          /* HIST_LOG_* */
    const char *auth_file;  /* the tokens file (NULL: none; must stay NULL if it was) */
    const char *access_log; /* NULL: none */
    char applied[256];      /* the changed keys applied now, "log-level, auth-file" */
    char restart[512];      /* the changed keys that need a restart; "" = none */
} hist_server_reload;

/* The log lines' shape: text ("2026-12-03T04:30:00.123Z INFO msg") or one
 * JSON object a line; under systemd (stderr is the journal) each line
 * starts with its syslog priority ("<6>") and has no time of its own. */
typedef enum { HIST_LOG_TEXT = 0, HIST_LOG_JSON = 1 } hist_log_format;

typedef struct {
    const char *data_dir;      /* default "./historian-data" */
    const char *http_addr;     /* "ADDR:PORT", default "127.0.0.1:9460"; "" = no HTTP */
    const char *ingest_addr;   /* default "127.0.0.1:9461"; "" = no TCP ingest */
    hist_io_mode io;           /* default HIST_IO_AUTO */
    size_t memtable_bytes;     /* 0 = storage default */
    size_t wal_bytes;          /* 0 = storage default (see hist_db_options) */
    int64_t retention_ns;      /* 0 = keep forever */
    /* --retention-rule PATTERN=DUR, in order (first match wins; see
     * hist_db_options.retention_rules); the strings are the caller's. */
    const char *retention_rules[HIST_RETENTION_RULES_MAX];
    size_t nretention_rules;
    /* TLS on both listeners (TLS 1.2 or newer) when tls_cert is set: the
     * PEM certificate chain and its PEM private key. tls_client_ca (PEM
     * CA certificates) requires client certificates that chain to it. */
    const char *tls_cert, *tls_key, *tls_client_ca;
    const char *auth_file;     /* NULL = no auth: only loopback addresses may be bound;
                                  reloaded on SIGHUP */
    const char *audit_file;    /* audit trail (JSON lines); NULL = stderr, "AUDIT " marker */
    int log_level;             /* HIST_LOG_*; default HIST_LOG_INFO */
    hist_log_format log_format; /* default HIST_LOG_TEXT */
    /* One line per HTTP request (time, peer, method, route, status, bytes,
     * duration, grant id), in the log format; "-" = stderr; NULL = none.
     * Reopened at SIGHUP (log rotation). */
    const char *access_log;
    /* SIGHUP: the tokens file is loaded again; with reload set, the
     * configuration is read again first (reload(reload_ctx, ...) returns
     * 0 and fills out, or < 0 with the reason in err: nothing changes),
     * the level, tokens file and access log take the new values, and the
     * keys that need a restart are logged. */
    int (*reload)(void *ctx, hist_server_reload *out, char *err, size_t errlen);
    void *reload_ctx;
    size_t max_frame;          /* largest TCP frame / HTTP body; default 16 MiB */
    unsigned max_connections;  /* default 4096 */
    size_t max_header;         /* HTTP request line + headers; default 16 KiB */
    unsigned idle_timeout_ms;  /* idle or stalled-mid-message connections are closed; 60 s */
    size_t writer_queue_bytes; /* backpressure: stop reading sockets above this; 64 MiB */
    unsigned max_pipeline;     /* unanswered requests per connection before reading pauses; 64 */
    /* Percent of one thread's time the start-up scrub may spend checking
     * chunks (it sleeps the rest); 0 = no scrub at start-up; default 10. */
    unsigned scrub_share;
    /* Percent of one core the background compactor may use (storage's
     * compact_share); 0 = none; default 25. */
    unsigned compact_share;
    /* The read API's budgets (query/api/hist_api.h, docs/api.md "Limits").
     * Heavy requests (every route of hist_api_owns_path) run at most
     * api_workers at a time on the libuv thread pool (which only they use;
     * hist_server_run sets UV_THREADPOOL_SIZE to max(4, api_workers) unless
     * it is set), up to api_queue more wait in arrival order, and the next
     * is answered 503 with Retry-After. */
    unsigned api_workers;      /* default 2 */
    unsigned api_queue;        /* default 32 */
    uint64_t api_max_rows;     /* rows per request, all tags and targets; default 20 M */
    size_t api_max_bytes;      /* bytes of one answer; default 512 MiB */
    uint32_t api_timeout_ms;   /* time one request may run; default 30 s */
    uint32_t api_max_patterns; /* tag patterns per request; default 100 */
    /* MQTT (docs/protocol.md "MQTT"): historiand subscribes to each broker
     * as a Sparkplug B host application (spBv1.0/#) and to the plain topic
     * filters, QoS 1 in a persistent session; a message is acknowledged to
     * the broker only once its samples are durable in the WAL. */
    const char *const *mqtt_urls; /* n_mqtt of "mqtt[s]://[USER[:PASS]@]HOST[:PORT]" */
    size_t n_mqtt;
    const char *mqtt_host_id;   /* Sparkplug host id (STATE topic); default "historian" */
    const char *mqtt_client_id; /* default "historian-<host id>" */
    int mqtt_version;           /* 5 or 4 (3.1.1); default 5 */
    const char *mqtt_cafile;    /* mqtts: the broker's CA (default: the system's) */
    const char *mqtt_cert, *mqtt_key; /* mqtts: a client certificate, when the broker asks */
    uint16_t mqtt_keepalive_s;        /* default 30 */
    uint32_t mqtt_session_expiry_s;   /* v5: how long the broker keeps our session
                                         (and queues messages) while we are away;
                                         default 86400 */
    const char *const *mqtt_topics;   /* n_mqtt_topics "FILTER[=TEMPLATE]" (plain topics) */
    size_t n_mqtt_topics;
    /* plain topics' JSON payloads: the fields (dotted paths; NULL: value,
     * timestamp, quality) and the unit of a numeric timestamp (s, ms, us,
     * ns; NULL: ms) */
    const char *mqtt_value_field, *mqtt_time_field, *mqtt_quality_field;
    const char *mqtt_time_unit;
    /* Line protocol writes (POST /write, /api/v2/write): the tag name
     * template (NULL: {tags}/{measurement}/{field}; docs/protocol.md) and
     * the field whose value is the quality of a line's other fields */
    const char *lp_template, *lp_quality_field;
    uint32_t mqtt_death_quality; /* Sparkplug deaths' StatusCode; 0: Bad_NoCommunication */
} hist_server_options;

void hist_server_options_init(hist_server_options *opts);

/* Checks what can be checked of opts without opening the data directory
 * or binding anything (--check-config): the addresses and the rule that
 * only loopback is served without a tokens file, the tokens file, the TLS
 * files, the line protocol template, the MQTT URLs and topic filters.
 * Returns 0, or a negative HIST_E* code with the reason in err. */
int hist_server_check(const hist_server_options *opts, char *err, size_t errlen);

/* Runs until SIGTERM/SIGINT (a second signal exits the process at once).
 * Prints one line with the listening addresses to stdout when ready.
 * Returns 0 after a clean shutdown, a negative HIST_E* code when it could
 * not start (the reason is logged). */
int hist_server_run(const hist_server_options *opts);

#endif
