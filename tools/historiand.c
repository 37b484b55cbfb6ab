/*
 * historiand.c: the historian server process.
 *
 * With no arguments it runs the embedded default: data in ./historian-data,
 * HTTP on 127.0.0.1:9460, TCP ingest on 127.0.0.1:9461. Options may also
 * come from --config FILE (key=value lines named like the flags, without
 * the dashes); flags given on the command line win. Everything else is in
 * ingest/ (hist_server_run). `historiand --check-data DIR` checks a data
 * directory instead of serving it (check_data.c).
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist_log.h"
#include "common/hist_time.h"
#include "common/hist_version.h"
#include "ingest/hist_server.h"
#include "tools/check_data.h"

/* The options; the config file's strings are owned here (file_strings)
 * and live until main returns. */
typedef struct {
    hist_server_options o;
    int log_level_set;
    const char *check_dir; /* --check-data: check this directory and exit */
    /* repeatable: every --mqtt and --mqtt-topic, config file's first */
    const char *mqtt_urls[16], *mqtt_topics[64];
    char **file_strings;
    size_t n_file_strings;
} config;

static void config_free(config *c)
{
    for (size_t i = 0; i < c->n_file_strings; i++)
        free(c->file_strings[i]);
    free(c->file_strings);
}

/* A copy of a config file value, owned by c; NULL when out of memory. */
static char *config_keep(config *c, const char *val)
{
    char **g = realloc(c->file_strings, (c->n_file_strings + 1) * sizeof *g);
    if (!g)
        return NULL;
    c->file_strings = g;
    char *v = strdup(val);
    if (v)
        c->file_strings[c->n_file_strings++] = v;
    return v;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: historiand [options]\n"
            "       historiand --check-data DIR\n"
            "  --data DIR          data directory (default ./historian-data)\n"
            "  --http ADDR:PORT    HTTP listener (default 127.0.0.1:9460; '' = off)\n"
            "  --ingest ADDR:PORT  TCP ingest listener (default 127.0.0.1:9461; '' = off)\n"
            "  --io MODE           uring | sync | auto (default auto)\n"
            "  --memtable-mb N     memory budget of unsealed samples (default 256)\n"
            "  --wal-mb N          closed WAL segments kept before the oldest buffers' runs\n"
            "                      are logged again, or sealed (default 1024)\n"
            "  --retention DUR     drop data older than DUR (30d, 12h, 90m, 1y; default keep)\n"
            "  --tls-cert FILE     serve TLS (1.2 or newer) on both listeners with this PEM\n"
            "                      certificate chain (needs --tls-key)\n"
            "  --tls-key FILE      the PEM private key of --tls-cert\n"
            "  --tls-client-ca FILE require client certificates signed by this PEM CA\n"
            "  --auth-file FILE    tokens file: lines 'TOKEN|sha256:HEX|cert:SUBJECT\n"
            "                      read|write|admin[,...] [TAG-PATTERN ...]'; reloaded on\n"
            "                      SIGHUP; without it only loopback addresses may be bound\n"
            "  --audit-file FILE   audit trail, JSON lines (default stderr, 'AUDIT ' marker)\n"
            "  --log-level LEVEL   error | warn | info | debug (default info)\n"
            "  --max-frame BYTES   largest TCP frame / HTTP body (default 16777216)\n"
            "  --max-connections N (default 4096)\n"
            "  --idle-timeout S    close idle or stalled connections after S seconds (60)\n"
            "  --writer-queue-mb N stop reading sockets while more than N MiB of requests\n"
            "                      wait for the storage writer (backpressure; default 64)\n"
            "  --scrub-share PCT   percent of one thread's time the start-up scrub may spend\n"
            "                      checking chunks (1-100, default 10; 0 = no scrub)\n"
            "  --compact-share PCT percent of one core the background compactor may use to\n"
            "                      join partial chunks into one per tag-hour (1-100, default\n"
            "                      25; 0 = no background compaction)\n"
            "  --api-workers N     read API requests run at once on the thread pool (1-64,\n"
            "                      default 2)\n"
            "  --api-queue N       read API requests waiting for a worker before the next\n"
            "                      is answered 503 with Retry-After (0-100000, default 32)\n"
            "  --max-rows N        result rows per read request, all tags and Grafana\n"
            "                      targets together (default 20000000)\n"
            "  --max-answer-mb N   bytes of one read answer, in MiB (default 512)\n"
            "  --query-timeout-ms N  time one read request may run (default 30000;\n"
            "                      0 = no deadline)\n"
            "  --max-patterns N    tag patterns (globs, regexes) per read request\n"
            "                      (default 100)\n"
            "  --mqtt URL          subscribe to this MQTT broker (repeatable, up to 16):\n"
            "                      mqtt://[USER[:PASS]@]HOST[:PORT] or mqtts://...; a\n"
            "                      Sparkplug B host (spBv1.0/#) and --mqtt-topic filters,\n"
            "                      QoS 1 in a persistent session, acknowledged once durable\n"
            "  --mqtt-topic FILTER[=TEMPLATE]  plain topics to store (repeatable, up to\n"
            "                      64); the topic is the tag name unless TEMPLATE rewrites\n"
            "                      it: {topic}, {N} (level N), {N..} (levels N on); a\n"
            "                      TEMPLATE without '{' is a prefix\n"
            "  --mqtt-value-field F, --mqtt-time-field F, --mqtt-quality-field F\n"
            "                      plain topics' JSON fields (dotted paths; default value,\n"
            "                      timestamp, quality)\n"
            "  --mqtt-time-unit U  numeric JSON timestamps: s, ms, us or ns (default ms);\n"
            "                      a string timestamp is RFC 3339\n"
            "  --mqtt-death-quality Q  the StatusCode written at a Sparkplug death\n"
            "                      (default 0x80310000, Bad_NoCommunication)\n"
            "  --mqtt-host-id ID   Sparkplug host id: STATE on spBv1.0/STATE/ID (historian)\n"
            "  --mqtt-client-id ID MQTT client id, fixed (default historian-<host id>)\n"
            "  --mqtt-version V    5 or 3.1.1 (default 5)\n"
            "  --mqtt-cafile FILE  mqtts: the CA the broker's certificate must chain to\n"
            "                      (default: the system's)\n"
            "  --mqtt-cert FILE    mqtts: our client certificate (PEM), --mqtt-key its key\n"
            "  --mqtt-keepalive S  MQTT keep alive in seconds (default 30)\n"
            "  --mqtt-session-expiry S  v5: how long the broker keeps our session and\n"
            "                      queues our messages while we are down (default 86400)\n"
            "  --lp-template T     line protocol writes (POST /write, /api/v2/write): the tag\n"
            "                      name of a point, from {measurement}, {field}, {tags},\n"
            "                      {tag:KEY}, {tag?:KEY} (default {tags}/{measurement}/{field})\n"
            "  --lp-quality-field F  a line's field F is the quality of its other fields\n"
            "                      (OPC DA 192 Good, 0 Bad, ... or an OPC UA StatusCode)\n"
            "  --check-data DIR    check DIR (not in use by a server): every chunk against\n"
            "                      its index entry, the WAL, the tag registry; damaged chunks\n"
            "                      are marked; exit 0 clean, 1 damage found, 2 not checked\n"
            "  --config FILE       key=value lines with the options above (flags win)\n"
            "  --help              print this help and exit\n"
            "  --version           print the version and exit\n");
}

static int parse_size(const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

/* An OPC UA StatusCode: decimal or 0x hex, 32 bits. */
static int parse_status_code(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end || s[0] == '-' || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* Applies one option; key without dashes. Returns 0 or -1 (message printed). */
static int apply(config *c, const char *key, const char *val)
{
    unsigned long long n;
    hist_server_options *o = &c->o;
    if (!strcmp(key, "data")) {
        o->data_dir = val;
    } else if (!strcmp(key, "http")) {
        o->http_addr = val;
    } else if (!strcmp(key, "ingest")) {
        o->ingest_addr = val;
    } else if (!strcmp(key, "io")) {
        if (!strcmp(val, "uring"))
            o->io = HIST_IO_URING;
        else if (!strcmp(val, "sync"))
            o->io = HIST_IO_SYNC;
        else if (!strcmp(val, "auto"))
            o->io = HIST_IO_AUTO;
        else
            goto bad;
    } else if (!strcmp(key, "memtable-mb")) {
        if (parse_size(val, &n) || n == 0 || n > (1ull << 20))
            goto bad;
        o->memtable_bytes = (size_t)n << 20;
    } else if (!strcmp(key, "wal-mb")) {
        if (parse_size(val, &n) || n == 0 || n > (1ull << 30))
            goto bad;
        o->wal_bytes = (size_t)n << 20;
    } else if (!strcmp(key, "retention")) {
        if (hist_duration_parse(val, &o->retention_ns))
            goto bad;
    } else if (!strcmp(key, "auth-file")) {
        o->auth_file = val;
    } else if (!strcmp(key, "tls-cert")) {
        o->tls_cert = val;
    } else if (!strcmp(key, "tls-key")) {
        o->tls_key = val;
    } else if (!strcmp(key, "tls-client-ca")) {
        o->tls_client_ca = val;
    } else if (!strcmp(key, "audit-file")) {
        o->audit_file = val;
    } else if (!strcmp(key, "log-level")) {
        if ((o->log_level = hist_log_level_parse(val)) < 0)
            goto bad;
    } else if (!strcmp(key, "max-frame")) {
        if (parse_size(val, &n) || n < 64 || n > (1ull << 30))
            goto bad;
        o->max_frame = (size_t)n;
    } else if (!strcmp(key, "max-connections")) {
        if (parse_size(val, &n) || n == 0 || n > 1000000)
            goto bad;
        o->max_connections = (unsigned)n;
    } else if (!strcmp(key, "writer-queue-mb")) {
        if (parse_size(val, &n) || n == 0 || n > (1ull << 20))
            goto bad;
        o->writer_queue_bytes = (size_t)n << 20;
    } else if (!strcmp(key, "scrub-share")) {
        if (parse_size(val, &n) || n > 100)
            goto bad;
        o->scrub_share = (unsigned)n;
    } else if (!strcmp(key, "compact-share")) {
        if (parse_size(val, &n) || n > 100)
            goto bad;
        o->compact_share = (unsigned)n;
    } else if (!strcmp(key, "api-workers")) {
        if (parse_size(val, &n) || n == 0 || n > 64)
            goto bad;
        o->api_workers = (unsigned)n;
    } else if (!strcmp(key, "api-queue")) {
        if (parse_size(val, &n) || n > 100000)
            goto bad;
        o->api_queue = (unsigned)n;
    } else if (!strcmp(key, "max-rows")) {
        if (parse_size(val, &n) || n == 0 || n > (1ull << 40))
            goto bad;
        o->api_max_rows = n;
    } else if (!strcmp(key, "max-answer-mb")) {
        if (parse_size(val, &n) || n == 0 || n > (1ull << 20))
            goto bad;
        o->api_max_bytes = (size_t)n << 20;
    } else if (!strcmp(key, "query-timeout-ms")) {
        if (parse_size(val, &n) || n > 86400000)
            goto bad;
        o->api_timeout_ms = (uint32_t)n;
    } else if (!strcmp(key, "max-patterns")) {
        if (parse_size(val, &n) || n == 0 || n > 1000000)
            goto bad;
        o->api_max_patterns = (uint32_t)n;
    } else if (!strcmp(key, "mqtt")) {
        if (o->n_mqtt == sizeof c->mqtt_urls / sizeof *c->mqtt_urls)
            goto bad;
        c->mqtt_urls[o->n_mqtt++] = val;
        o->mqtt_urls = c->mqtt_urls;
    } else if (!strcmp(key, "mqtt-topic")) {
        if (o->n_mqtt_topics == sizeof c->mqtt_topics / sizeof *c->mqtt_topics)
            goto bad;
        c->mqtt_topics[o->n_mqtt_topics++] = val;
        o->mqtt_topics = c->mqtt_topics;
    } else if (!strcmp(key, "mqtt-host-id")) {
        o->mqtt_host_id = val;
    } else if (!strcmp(key, "mqtt-client-id")) {
        o->mqtt_client_id = val;
    } else if (!strcmp(key, "mqtt-version")) {
        if (!strcmp(val, "5"))
            o->mqtt_version = 5;
        else if (!strcmp(val, "3.1.1") || !strcmp(val, "4"))
            o->mqtt_version = 4;
        else
            goto bad;
    } else if (!strcmp(key, "mqtt-cafile")) {
        o->mqtt_cafile = val;
    } else if (!strcmp(key, "mqtt-cert")) {
        o->mqtt_cert = val;
    } else if (!strcmp(key, "mqtt-key")) {
        o->mqtt_key = val;
    } else if (!strcmp(key, "mqtt-keepalive")) {
        if (parse_size(val, &n) || n > 65535)
            goto bad;
        o->mqtt_keepalive_s = (uint16_t)n;
    } else if (!strcmp(key, "mqtt-session-expiry")) {
        if (parse_size(val, &n) || n > UINT32_MAX)
            goto bad;
        o->mqtt_session_expiry_s = (uint32_t)n;
    } else if (!strcmp(key, "mqtt-value-field")) {
        o->mqtt_value_field = val;
    } else if (!strcmp(key, "mqtt-time-field")) {
        o->mqtt_time_field = val;
    } else if (!strcmp(key, "mqtt-quality-field")) {
        o->mqtt_quality_field = val;
    } else if (!strcmp(key, "mqtt-time-unit")) {
        o->mqtt_time_unit = val;
    } else if (!strcmp(key, "lp-template")) {
        o->lp_template = val;
    } else if (!strcmp(key, "lp-quality-field")) {
        o->lp_quality_field = val;
    } else if (!strcmp(key, "mqtt-death-quality")) {
        if (parse_status_code(val, &o->mqtt_death_quality))
            goto bad;
    } else if (!strcmp(key, "check-data")) {
        c->check_dir = val;
    } else if (!strcmp(key, "idle-timeout")) {
        if (parse_size(val, &n) || n == 0 || n > 86400)
            goto bad;
        o->idle_timeout_ms = (unsigned)n * 1000;
    } else {
        fprintf(stderr, "historiand: unknown option '%s'\n", key);
        return -1;
    }
    return 0;
bad:
    fprintf(stderr, "historiand: bad value '%s' for %s\n", val, key);
    return -1;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        *--e = 0;
    return s;
}

static int load_config(config *c, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "historiand: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[1024];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            fprintf(stderr, "historiand: %s:%d: expected key=value\n", path, lineno);
            rc = -1;
            break;
        }
        *eq = 0;
        char *val = config_keep(c, trim(eq + 1));
        if (!val || apply(c, trim(s), val) < 0) {
            fprintf(stderr, "historiand: in %s:%d\n", path, lineno);
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

/*
 * Query answers are built in arrays of up to tens of MiB (a raw page of a
 * million samples). glibc serves such blocks with fresh mmaps and gives
 * them back at free, so every answer paid a page fault per 4 KiB again
 * (a third of a raw read's time). Keeping blocks up to 32 MiB (glibc's
 * ceiling for this knob) in the heap and not trimming it lets the next
 * answer reuse the pages. What stays resident is the largest answer's
 * working set, per malloc arena.
 */
static void tune_malloc(void)
{
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

static int run(config *c, int argc, char **argv)
{
    hist_server_options_init(&c->o);
    /* config file first, so the flags override it */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--version")) {
            printf("historiand %s (git %s)\n", HIST_VERSION, HIST_GIT_DESCRIBE);
            return 0;
        }
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) {
                usage(stderr);
                return 2;
            }
            if (load_config(c, argv[i + 1]) < 0)
                return 2;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2)) {
            fprintf(stderr, "historiand: unexpected argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
        char key[64];
        const char *val;
        const char *eq = strchr(a, '=');
        if (eq) {
            snprintf(key, sizeof key, "%.*s", (int)(eq - a - 2), a + 2);
            val = eq + 1;
        } else {
            snprintf(key, sizeof key, "%s", a + 2);
            if (i + 1 >= argc) {
                fprintf(stderr, "historiand: %s needs a value\n", a);
                return 2;
            }
            val = argv[++i];
        }
        if (!strcmp(key, "config"))
            continue;
        if (apply(c, key, val) < 0)
            return 2;
    }
    if (c->check_dir)
        return check_data__run(c->check_dir, stdout);
    return hist_server_run(&c->o) < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    tune_malloc();
    config c = {0};
    int rc = run(&c, argc, argv);
    config_free(&c);
    return rc;
}
