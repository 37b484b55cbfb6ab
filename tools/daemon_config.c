/*
 * daemon_config.c: historiand's options, from the command line and from
 * a configuration file (docs/configuration.md).
 *
 * The file has one "key = value" a line, the keys named like the flags
 * without the dashes, '#' starts a comment line. It is read first, then
 * the flags, so a flag wins over the file. An unknown key, a bad value or
 * a line without '=' stops the start with FILE:LINE and the reason.
 *
 * Every key given, with the value that took effect, is kept in order
 * (given[]), so a SIGHUP can read the file again with the same flags and
 * tell what changed (daemon_config__reload): log-level, auth-file and
 * access-log change at run time (from the configuration in force), every
 * other key needs a restart (so it is told from the configuration the
 * server started with, at every SIGHUP until then).
 * A reload's configuration stays alive until exit (the server may keep
 * pointers into its strings); SIGHUPs are rare.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist_time.h"
#include "tools/daemon_config.h"

/* Keys that may be given more than once: each adds a value. */
static bool repeatable(const char *key)
{
    return !strcmp(key, "mqtt") || !strcmp(key, "mqtt-topic") || !strcmp(key, "retention-rule");
}

/* Whether a SIGHUP applies a change of key from old to fresh (reload.c);
 * the rest need a restart. auth-file changes at run time only from one
 * file to another: with a tokens file or without decides which addresses
 * may be bound. */
static bool runtime_key(const char *key, const struct daemon_config *old,
                        const struct daemon_config *fresh)
{
    if (!strcmp(key, "auth-file"))
        return old->o.auth_file && fresh->o.auth_file;
    return !strcmp(key, "log-level") || !strcmp(key, "access-log");
}

/* Flags without a value. */
static bool bare_flag(const char *key)
{
    return !strcmp(key, "check-config") || !strcmp(key, "repair");
}

/* A copy owned by c; NULL when out of memory. */
static char *keep(daemon_config *c, const char *s)
{
    char **g = realloc(c->strings, (c->n_strings + 1) * sizeof *g);
    if (!g)
        return NULL;
    c->strings = g;
    char *v = strdup(s);
    if (v)
        c->strings[c->n_strings++] = v;
    return v;
}

/* Records key=val as given (both owned by c). */
static int remember(daemon_config *c, const char *key, const char *val)
{
    daemon_config_entry *g = realloc(c->given, (c->n_given + 1) * sizeof *g);
    if (!g)
        return -1;
    c->given = g;
    const char *k = keep(c, key), *v = k ? keep(c, val) : NULL;
    if (!v)
        return -1;
    c->given[c->n_given++] = (daemon_config_entry){k, v};
    return 0;
}

void daemon_config__usage(FILE *out)
{
    fprintf(out,
            "usage: historiand [options]\n"
            "       historiand --check-data DIR [--repair]\n"
            "       historiand --check-config [options]\n"
            "  --data DIR          data directory (default ./historian-data)\n"
            "  --http ADDR:PORT    HTTP listener (default 127.0.0.1:9460; '' = off)\n"
            "  --ingest ADDR:PORT  TCP ingest listener (default 127.0.0.1:9461; '' = off)\n"
            "  --io MODE           uring | sync | auto (default auto)\n"
            "  --memtable-mb N     memory budget of unsealed samples (default 256)\n"
            "  --wal-mb N          closed WAL segments kept before the oldest buffers' runs\n"
            "                      are logged again, or sealed (default 1024)\n"
            "  --retention DUR     drop data older than DUR (30d, 12h, 90m, 1y; default keep)\n"
            "  --retention-rule PATTERN=DUR  retention for the tags PATTERN matches (repeatable;\n"
            "                      '*' in a segment, '**' any depth; first match wins; DUR\n"
            "                      or forever; the others keep --retention)\n"
            "  --tls-cert FILE     serve TLS (1.2 or newer) on both listeners with this PEM\n"
            "                      certificate chain (needs --tls-key)\n"
            "  --tls-key FILE      the PEM private key of --tls-cert\n"
            "  --tls-client-ca FILE require client certificates signed by this PEM CA\n"
            "  --auth-file FILE    tokens file: lines 'TOKEN|sha256:HEX|cert:SUBJECT\n"
            "                      read|write|admin[,...] [TAG-PATTERN ...]'; reloaded on\n"
            "                      SIGHUP; without it only loopback addresses may be bound\n"
            "  --audit-file FILE   audit trail, JSON lines (default stderr, 'AUDIT ' marker)\n"
            "  --log-level LEVEL   error | warn | info | debug (default info; SIGHUP\n"
            "                      applies a changed --config file's level)\n"
            "  --log-format F      text | json: the log's lines (default text; under systemd\n"
            "                      each line starts with its journald priority)\n"
            "  --access-log FILE   one line per HTTP request (route, status, bytes, duration,\n"
            "                      grant id) in the log format; '-' = stderr; reopened on\n"
            "                      SIGHUP (log rotation)\n"
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
            "  --repair            with --check-data: then remove the index entries of the\n"
            "                      damaged chunks (their samples are lost), listing each\n"
            "  --config FILE       key = value lines with the options above, named without\n"
            "                      the dashes (flags win); re-read on SIGHUP\n"
            "                      (docs/configuration.md)\n"
            "  --check-config      check the options and the files they name (tokens, TLS,\n"
            "                      MQTT), say what is wrong, exit 0 good or 2 bad; starts\n"
            "                      nothing\n"
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

/* Applies one option; key without dashes. Returns 0, or -1 with the
 * reason in err. */
static int apply(daemon_config *c, const char *key, const char *val, char *err, size_t errlen)
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
    } else if (!strcmp(key, "retention-rule")) {
        if (o->nretention_rules == HIST_RETENTION_RULES_MAX ||
            hist_retention_rule_parse(val, NULL, NULL))
            goto bad;
        o->retention_rules[o->nretention_rules++] = val;
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
    } else if (!strcmp(key, "log-format")) {
        if (!strcmp(val, "text"))
            o->log_format = HIST_LOG_TEXT;
        else if (!strcmp(val, "json"))
            o->log_format = HIST_LOG_JSON;
        else
            goto bad;
    } else if (!strcmp(key, "access-log")) {
        o->access_log = *val ? val : NULL;
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
        snprintf(err, errlen, "unknown option '%s'", key);
        return -1;
    }
    return 0;
bad:
    snprintf(err, errlen, "bad value '%s' for %s", val, key);
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

/* Applies and remembers one key; err says why not. */
static int set_key(daemon_config *c, const char *key, const char *val, char *err, size_t errlen)
{
    if (apply(c, key, val, err, errlen) < 0)
        return -1;
    if (remember(c, key, val) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Reads path's key = value lines; on error prints FILE:LINE and why. */
static int load_file(daemon_config *c, const char *path, FILE *errout)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(errout, "historiand: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char err[512];
        if (!strchr(line, '\n') && !feof(f)) {
            fprintf(errout, "historiand: %s:%d: line longer than %zu bytes\n", path, lineno,
                    sizeof line - 2);
            rc = -1;
            break;
        }
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            fprintf(errout, "historiand: %s:%d: expected key = value\n", path, lineno);
            rc = -1;
            break;
        }
        *eq = 0;
        char *val = keep(c, trim(eq + 1));
        if (!val) {
            fprintf(errout, "historiand: out of memory\n");
            rc = -1;
        } else if (set_key(c, trim(s), val, err, sizeof err) < 0) {
            fprintf(errout, "historiand: %s:%d: %s\n", path, lineno, err);
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

int daemon_config__parse(daemon_config *c, int argc, char **argv, FILE *errout)
{
    memset(c, 0, sizeof *c);
    hist_server_options_init(&c->o);
    c->argc = argc;
    c->argv = argv;
    /* the file first, so the flags override it */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            c->help = true;
            return 0;
        }
        if (!strcmp(argv[i], "--version")) {
            c->version = true;
            return 0;
        }
        if (!strcmp(argv[i], "--config") || !strncmp(argv[i], "--config=", 9)) {
            const char *path = argv[i][8] == '=' ? argv[i] + 9 : i + 1 < argc ? argv[++i] : NULL;
            if (!path) {
                fprintf(errout, "historiand: --config needs a file\n");
                return -1;
            }
            if (c->config_path) {
                fprintf(errout, "historiand: --config given twice\n");
                return -1;
            }
            c->config_path = path;
            if (load_file(c, path, errout) < 0)
                return -1;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2)) {
            fprintf(errout, "historiand: unexpected argument '%s' (options start with --)\n", a);
            return -1;
        }
        char key[64];
        const char *val;
        const char *eq = strchr(a, '=');
        if (eq) {
            snprintf(key, sizeof key, "%.*s", (int)(eq - a - 2), a + 2);
            val = eq + 1;
        } else {
            snprintf(key, sizeof key, "%s", a + 2);
            if (bare_flag(key)) {
                val = "1";
            } else if (!strcmp(key, "config")) {
                i++; /* read above */
                continue;
            } else if (i + 1 >= argc) {
                fprintf(errout, "historiand: %s needs a value\n", a);
                return -1;
            } else {
                val = argv[++i];
            }
        }
        if (!strcmp(key, "config"))
            continue;
        char err[512];
        if (!strcmp(key, "check-config")) {
            c->check_config = true;
        } else if (!strcmp(key, "repair")) {
            c->repair = true;
        } else if (set_key(c, key, val, err, sizeof err) < 0) {
            fprintf(errout, "historiand: %s\n", err);
            return -1;
        }
    }
    return 0;
}

void daemon_config__free(daemon_config *c)
{
    if (!c)
        return;
    daemon_config__free(c->prev);
    free(c->prev);
    for (size_t i = 0; i < c->n_strings; i++)
        free(c->strings[i]);
    free(c->strings);
    free(c->given);
}

/* The value key took in c ("" when not given; repeatable keys: every
 * value, one a line), into buf. */
static void effective(const daemon_config *c, const char *key, hist_buf *buf)
{
    bool many = repeatable(key);
    for (size_t i = 0; i < c->n_given; i++) {
        if (strcmp(c->given[i].key, key))
            continue;
        if (!many)
            buf->len = 0;
        hist_buf_puts(buf, c->given[i].val);
        hist_buf_puts(buf, "\n");
    }
}

static bool key_changed(const daemon_config *a, const daemon_config *b, const char *key)
{
    hist_buf x, y;
    hist_buf_init(&x);
    hist_buf_init(&y);
    effective(a, key, &x);
    effective(b, key, &y);
    bool same = x.len == y.len && (!x.len || !memcmp(x.data, y.data, x.len));
    hist_buf_free(&x);
    hist_buf_free(&y);
    return !same;
}

/* Adds key to list (a comma list in a fixed buffer) unless it is there. */
static void list_add(char *list, size_t cap, const char *key)
{
    size_t n = strlen(key), len = strlen(list);
    for (const char *p = list; (p = strstr(p, key)); p += n)
        if ((p == list || p[-2] == ',') && (p[n] == ',' || !p[n]))
            return;
    snprintf(list + len, cap - len, "%s%s", len ? ", " : "", key);
}

/* The keys of k that changed: a run-time key from the configuration in
 * force (cur) to fresh, any other from the one the server started with
 * (first) to fresh, since only a restart applies those. */
static void diff_keys(const daemon_config *cur, const daemon_config *first,
                      const daemon_config *fresh, const daemon_config *k, hist_server_reload *out)
{
    for (size_t i = 0; i < k->n_given; i++) {
        const char *key = k->given[i].key;
        if (runtime_key(key, cur, fresh)) {
            if (key_changed(cur, fresh, key))
                list_add(out->applied, sizeof out->applied, key);
        } else if (key_changed(first, fresh, key)) {
            list_add(out->restart, sizeof out->restart, key);
        }
    }
}

int daemon_config__reload(void *ctx, hist_server_reload *out, char *err, size_t errlen)
{
    daemon_config *c = ctx;
    daemon_config fresh;
    char *msg = NULL;
    size_t msg_len = 0;
    FILE *errs = open_memstream(&msg, &msg_len);
    if (!errs) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = daemon_config__parse(&fresh, c->argc, c->argv, errs);
    fclose(errs);
    if (rc < 0) {
        /* the first line of what start-up would have printed */
        size_t n = msg ? strcspn(msg, "\n") : 0;
        snprintf(err, errlen, "%.*s", (int)n, msg ? msg : "");
        free(msg);
        daemon_config__free(&fresh);
        return -1;
    }
    free(msg);
    memset(out, 0, sizeof *out);
    const daemon_config *first = c;
    while (first->prev)
        first = first->prev;
    diff_keys(c, first, &fresh, &fresh, out);
    diff_keys(c, first, &fresh, c, out);     /* keys the file no longer gives */
    diff_keys(c, first, &fresh, first, out); /* ... or gave at the start */
    out->log_level = fresh.o.log_level;
    out->auth_file = fresh.o.auth_file;
    out->access_log = fresh.o.access_log;
    /* fresh becomes c; the old configuration stays alive behind it */
    daemon_config *old = malloc(sizeof *old);
    if (!old) {
        daemon_config__free(&fresh);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *old = *c;
    *c = fresh;
    c->prev = old;
    /* the repeatable keys' arrays moved with their structs */
    old->o.mqtt_urls = old->mqtt_urls;
    old->o.mqtt_topics = old->mqtt_topics;
    c->o.mqtt_urls = c->mqtt_urls;
    c->o.mqtt_topics = c->mqtt_topics;
    c->o.reload = old->o.reload;
    c->o.reload_ctx = old->o.reload_ctx;
    return 0;
}
