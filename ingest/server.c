/*
 * server.c: the loop, the listeners, signals and shutdown.
 *
 * Startup: load the TLS certificate and key when given (tls.c; a bad file
 * stops the start here, before any data is touched), open the data
 * directory (recovery runs here), start the writer thread and the start-up
 * scrub (storage's background pass over every chunk), bind the HTTP and
 * TCP ingest listeners (both TLS when a certificate is given), print one
 * line with the addresses. Without a tokens file only loopback addresses
 * may be bound, with TLS or without: an unauthenticated historian must not
 * be reachable from the network.
 *
 * Shutdown (first SIGTERM/SIGINT): stop accepting, stop reading, let every
 * in-flight batch reach its group commit and its ack leave, then close the
 * connections, stop the writer and close the database (which seals the
 * memtable). A second signal exits at once: acknowledged data is in the WAL
 * already, so nothing acknowledged is lost.
 *
 * A once-a-second sweep closes connections idle for idle_timeout_ms, and
 * connections stuck that long in the middle of a message (slow clients);
 * a TLS handshake gets min(idle_timeout_ms, HANDSHAKE_LIMIT_MS).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ingest/ingest.h"

#define DRAIN_LIMIT_MS     10000
#define HANDSHAKE_LIMIT_MS 10000

void hist_server_options_init(hist_server_options *o)
{
    memset(o, 0, sizeof *o);
    o->data_dir = "./historian-data";
    o->http_addr = "127.0.0.1:9460";
    o->ingest_addr = "127.0.0.1:9461";
    o->io = HIST_IO_AUTO;
    o->log_level = HIST_LOG_INFO;
    o->max_frame = 16u << 20;
    o->max_connections = 4096;
    o->max_header = 16u << 10;
    o->idle_timeout_ms = 60000;
    o->writer_queue_bytes = 64u << 20;
    o->max_pipeline = 64;
    o->scrub_share = 10;
    o->compact_share = 25;
    o->api_workers = 2;
    o->api_queue = 32;
    o->api_max_rows = UINT64_C(20000000);
    o->api_max_bytes = (size_t)512 << 20;
    o->api_timeout_ms = 30000;
    o->api_max_patterns = 100;
    o->mqtt_host_id = "historian";
    o->mqtt_version = 5;
    o->mqtt_keepalive_s = 30;
    o->mqtt_session_expiry_s = 86400;
}

/* "ADDR:PORT", "[v6]:PORT" or "localhost:PORT" -> sockaddr. */
static int parse_addr(const char *text, struct sockaddr_storage *out)
{
    char host[128];
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text || (size_t)(colon - text) >= sizeof host)
        return HIST_EINVAL;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535)
        return HIST_EINVAL;
    if (!strcmp(host, "localhost"))
        strcpy(host, "127.0.0.1");
    if (host[0] == '[') {
        size_t n = strlen(host);
        if (host[n - 1] != ']')
            return HIST_EINVAL;
        host[n - 1] = 0;
        return uv_ip6_addr(host + 1, (int)port, (struct sockaddr_in6 *)out) ? HIST_EINVAL : 0;
    }
    return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) ? HIST_EINVAL : 0;
}

static bool is_loopback(const struct sockaddr_storage *a)
{
    if (a->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
    if (a->ss_family == AF_INET6) {
        const struct in6_addr *x = &((const struct sockaddr_in6 *)a)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(x);
    }
    return false;
}

static void addr_text(const struct sockaddr *sa, char *out, size_t len)
{
    char ip[64] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        uv_ip4_name((const struct sockaddr_in *)sa, ip, sizeof ip);
        port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
        snprintf(out, len, "%s:%d", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        uv_ip6_name((const struct sockaddr_in6 *)sa, ip, sizeof ip);
        port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
        snprintf(out, len, "[%s]:%d", ip, port);
    } else {
        snprintf(out, len, "?");
    }
}

static void on_writer_drain(void *ctx)
{
    hist_server *srv = ctx;
    if (srv->paused && writer__queued_bytes(srv->writer) < srv->opts.writer_queue_bytes / 2) {
        srv->paused = false;
        conn__update_reading_all(srv);
    }
    for (size_t i = 0; i < srv->n_links; i++)
        link__update_reading(srv->links[i]); /* conn__submit may have paused them */
}

static void on_connection(uv_stream_t *listener, int status)
{
    hist_server *srv = listener->data;
    if (status < 0 || srv->draining)
        return;
    /* each listener speaks one protocol (docs/protocol.md, docs/api.md) */
    const conn__proto *proto =
        listener == (uv_stream_t *)&srv->tcp_listener ? &tcp__proto : &http__proto;
    hist_conn *c = conn__new(srv, proto);
    if (!c)
        return;
    uv_tcp_init(srv->loop, &c->tcp);
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        conn__refuse(c);
        return;
    }
    srv->metrics.connections_total++;
    if (srv->metrics.connections_open >= srv->opts.max_connections || proto->init_state(c) < 0) {
        srv->metrics.connections_refused++;
        hist_logf(&srv->log, HIST_LOG_DEBUG, "connection refused: limit of %u reached",
                  srv->opts.max_connections);
        conn__refuse(c);
        return;
    }
    struct sockaddr_storage peer;
    int plen = sizeof peer;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&peer, &plen) == 0)
        addr_text((struct sockaddr *)&peer, c->peer, sizeof c->peer);
    uv_tcp_nodelay(&c->tcp, 1);
    conn__start(c);
}

static int listen_on(hist_server *srv, uv_tcp_t *h, const char *addr, char *bound, size_t blen)
{
    struct sockaddr_storage sa;
    if (parse_addr(addr, &sa) < 0) {
        hist_logf(&srv->log, HIST_LOG_ERROR, "bad address '%s' (want ADDR:PORT)", addr);
        return HIST_EINVAL;
    }
    if (!srv->auth && !is_loopback(&sa)) {
        hist_logf(&srv->log, HIST_LOG_ERROR,
                  "refusing to listen on %s without a tokens file (--auth-file): "
                  "only loopback addresses may be bound unauthenticated",
                  addr);
        return HIST_EAUTH;
    }
    uv_tcp_init(srv->loop, h);
    h->data = srv;
    int rc = uv_tcp_bind(h, (struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)h, 1024, on_connection);
    if (rc != 0) {
        hist_logf(&srv->log, HIST_LOG_ERROR, "cannot listen on %s: %s", addr, uv_strerror(rc));
        return HIST_EIO;
    }
    struct sockaddr_storage got;
    int glen = sizeof got;
    uv_tcp_getsockname(h, (struct sockaddr *)&got, &glen);
    addr_text((struct sockaddr *)&got, bound, blen);
    return 0;
}

static bool drained(hist_server *srv)
{
    if (writer__inflight(srv->writer) || srv->api_inflight)
        return false;
    for (hist_conn *c = srv->conns; c; c = c->next)
        if (c->pending || conn__unsent(c))
            return false;
    return true;
}

static void finish_shutdown(hist_server *srv)
{
    while (srv->conns)
        conn__close(srv->conns, "server shutting down");
    for (size_t i = 0; i < srv->n_links; i++)
        link__stop(srv->links[i]);
    writer__stop(srv->writer);
    uv_close((uv_handle_t *)&srv->sweep, NULL);
    uv_close((uv_handle_t *)&srv->sigint, NULL);
    uv_close((uv_handle_t *)&srv->sigterm, NULL);
    uv_close((uv_handle_t *)&srv->sighup, NULL);
}

static void on_sweep(uv_timer_t *t)
{
    hist_server *srv = t->data;
    uint64_t now = clock__now_ms();
    if (srv->draining) {
        if (drained(srv) || now > srv->drain_deadline_ms) {
            if (!drained(srv))
                hist_logf(&srv->log, HIST_LOG_WARN, "shutdown: gave up waiting for slow clients");
            uv_timer_stop(t);
            finish_shutdown(srv);
        }
        return;
    }
    uint64_t limit = srv->opts.idle_timeout_ms;
    uint64_t hs_limit = limit < HANDSHAKE_LIMIT_MS ? limit : HANDSHAKE_LIMIT_MS;
    for (hist_conn *c = srv->conns, *next; c; c = next) {
        next = c->next;
        if (conn__tls_handshaking(c)) {
            if (now - c->msg_start_ms > hs_limit) {
                srv->metrics.tls_handshake_failures++;
                conn__close(c, "TLS handshake not completed in time");
            }
        } else if (c->msg_start_ms && now - c->msg_start_ms > limit)
            conn__close(c, "message incomplete for too long (slow client)");
        else if (!c->pending && !c->msg_start_ms && now - c->last_activity_ms > limit)
            conn__close(c, "idle timeout");
    }
}

static void begin_shutdown(hist_server *srv)
{
    service__notify(srv, "STOPPING=1");
    hist_logf(&srv->log, HIST_LOG_INFO, "shutting down: finishing in-flight batches");
    srv->draining = true;
    srv->drain_deadline_ms = clock__now_ms() + DRAIN_LIMIT_MS;
    if (srv->http_on)
        uv_close((uv_handle_t *)&srv->http_listener, NULL);
    if (srv->tcp_on)
        uv_close((uv_handle_t *)&srv->tcp_listener, NULL);
    srv->http_on = srv->tcp_on = false;
    conn__update_reading_all(srv);
    for (size_t i = 0; i < srv->n_links; i++)
        link__update_reading(srv->links[i]);
    uv_timer_start(&srv->sweep, on_sweep, 0, 20);
}

static void on_signal(uv_signal_t *h, int signum)
{
    hist_server *srv = h->data;
    if (++srv->signals > 1) {
        hist_logf(&srv->log, HIST_LOG_WARN, "second signal: exiting now");
        _exit(1);
    }
    hist_logf(&srv->log, HIST_LOG_INFO, "signal %d", signum);
    begin_shutdown(srv);
}

/* SIGHUP: reload.c. */
static void on_sighup(uv_signal_t *h, int signum)
{
    (void)signum;
    reload__run(h->data);
}

/* The start-up scrub: every chunk checked in the background, with a
 * bounded share of the time; hist_db_close() stops it. */
static void start_scrub(hist_server *srv)
{
    if (!srv->opts.scrub_share)
        return;
    hist_scrub_options so;
    hist_scrub_options_init(&so);
    so.share_pct = srv->opts.scrub_share;
    int rc = hist_db_scrub_start(srv->db, &so);
    if (rc < 0)
        hist_logf(&srv->log, HIST_LOG_WARN, "start-up scrub not started: %s", hist_strerror(rc));
}

/* One link per --mqtt broker; a bad URL or option stops the start. */
static int start_links(hist_server *srv)
{
    size_t n = srv->opts.n_mqtt;
    if (!n)
        return 0;
    srv->links = calloc(n, sizeof *srv->links);
    srv->link_stats = calloc(n, sizeof *srv->link_stats);
    if (!srv->links || !srv->link_stats)
        return HIST_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        char err[512] = "";
        int rc = link__new(srv, srv->opts.mqtt_urls[i], &srv->links[i], err, sizeof err);
        if (rc < 0) {
            hist_logf(&srv->log, HIST_LOG_ERROR, "%s", err);
            return rc;
        }
        srv->link_stats[i] = link__stats(srv->links[i]);
        srv->n_links++;
    }
    srv->metrics.mqtt = srv->link_stats;
    srv->metrics.n_mqtt = srv->n_links;
    return 0;
}

static void free_links(hist_server *srv)
{
    for (size_t i = 0; i < srv->n_links; i++)
        link__free(srv->links[i]);
    free(srv->links);
    free(srv->link_stats);
}

static void close_any(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* A server for opts, with the defaults of fields left 0; NULL when out of
 * memory. Nothing is opened yet. */
static hist_server *server_new(const hist_server_options *opts)
{
    hist_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return NULL;
    srv->opts = *opts;
    log__init(&srv->log_out, opts->log_format);
    srv->log = log__sink(&srv->log_out, opts->log_level);
    if (!srv->opts.max_pipeline)
        srv->opts.max_pipeline = 64;
    /* options set field by field: the read API's budgets take their defaults */
    hist_server_options def;
    hist_server_options_init(&def);
    if (!srv->opts.api_workers)
        srv->opts.api_workers = def.api_workers;
    if (!srv->opts.api_max_rows)
        srv->opts.api_max_rows = def.api_max_rows;
    if (!srv->opts.api_max_bytes)
        srv->opts.api_max_bytes = def.api_max_bytes;
    if (!srv->opts.api_max_patterns)
        srv->opts.api_max_patterns = def.api_max_patterns;
    srv->auth_file = opts->auth_file ? strdup(opts->auth_file) : NULL;
    srv->access_log = opts->access_log ? strdup(opts->access_log) : NULL;
    srv->opts.auth_file = srv->auth_file;
    srv->opts.access_log = srv->access_log;
    if ((opts->auth_file && !srv->auth_file) || (opts->access_log && !srv->access_log)) {
        free(srv->auth_file);
        free(srv->access_log);
        free(srv);
        return NULL;
    }
    return srv;
}

static void server_free(hist_server *srv)
{
    free_links(srv);
    tls__ctx_free(srv->tls);
    auth__unref(srv->auth);
    audit__close(srv->audit);
    audit__close(srv->access);
    free(srv->auth_file);
    free(srv->access_log);
    free(srv);
}

/* What start-up checks before touching data: the line protocol template,
 * the tokens file, the TLS files, the addresses (only loopback without a
 * tokens file). Each failure is logged. */
static int check_before_data(hist_server *srv)
{
    const hist_server_options *opts = &srv->opts;
    char err[512];
    int rc = lpw__config_init(&srv->lp, opts->lp_template, opts->lp_quality_field,
                              srv->opts.max_frame, err, sizeof err);
    if (rc == 0 && opts->auth_file)
        rc = auth__load(opts->auth_file, &srv->auth, err, sizeof err);
    if (rc < 0) {
        hist_logf(&srv->log, HIST_LOG_ERROR, "%s", err);
        return rc;
    }
    if (opts->tls_cert || opts->tls_key || opts->tls_client_ca) {
        if (!opts->tls_cert || !opts->tls_key) {
            hist_logf(&srv->log, HIST_LOG_ERROR,
                      "TLS needs both --tls-cert and --tls-key (--tls-client-ca adds to them)");
            return HIST_EINVAL;
        }
        rc = tls__ctx_new(opts->tls_cert, opts->tls_key, opts->tls_client_ca, &srv->tls, err,
                          sizeof err);
        if (rc < 0) {
            hist_logf(&srv->log, HIST_LOG_ERROR, "%s", err);
            return rc;
        }
    }
    const char *addrs[2] = {opts->http_addr, opts->ingest_addr};
    for (int i = 0; i < 2; i++) {
        struct sockaddr_storage sa;
        if (!addrs[i] || !*addrs[i])
            continue;
        if (parse_addr(addrs[i], &sa) < 0) {
            hist_logf(&srv->log, HIST_LOG_ERROR, "bad address '%s' (want ADDR:PORT)", addrs[i]);
            return HIST_EINVAL;
        }
        if (!srv->auth && !is_loopback(&sa)) {
            hist_logf(&srv->log, HIST_LOG_ERROR,
                      "refusing to listen on %s without a tokens file (--auth-file): "
                      "only loopback addresses may be bound unauthenticated",
                      addrs[i]);
            return HIST_EAUTH;
        }
    }
    return 0;
}

/* --check-config: the log line of the last error, kept for err. */
typedef struct {
    char last[HIST_LOG_LINE];
    log_out out;
} check_log;

static void check_log_line(void *ctx, int level, const char *msg)
{
    check_log *cl = ctx;
    if (level == HIST_LOG_ERROR)
        snprintf(cl->last, sizeof cl->last, "%s", msg); /* the caller says it */
    else
        log__line(&cl->out, level, msg);
}

int hist_server_check(const hist_server_options *opts, char *err, size_t errlen)
{
    hist_server *srv = server_new(opts);
    if (!srv) {
        snprintf(err, errlen, "out of memory");
        return HIST_ENOMEM;
    }
    check_log cl = {.last = ""};
    log__init(&cl.out, opts->log_format);
    srv->log = (hist_log_sink){check_log_line, &cl, HIST_LOG_WARN, HIST_LOG_WARN};
    int rc = check_before_data(srv);
    /* the MQTT links' URLs, host id, topic filters and TLS files, with
     * nothing started (no loop) */
    for (size_t i = 0; rc == 0 && i < opts->n_mqtt; i++) {
        mqtt_link *l;
        rc = link__new(srv, opts->mqtt_urls[i], &l, cl.last, sizeof cl.last);
        if (rc == 0)
            link__free(l);
    }
    if (rc < 0)
        snprintf(err, errlen, "%s", *cl.last ? cl.last : hist_strerror(rc));
    server_free(srv);
    return rc;
}

int hist_server_run(const hist_server_options *opts)
{
    hist_server *srv = server_new(opts);
    uv_loop_t loop;
    int rc;
    char http_bound[80] = "-", tcp_bound[80] = "-";
    if (!srv)
        return HIST_ENOMEM;
    srv->loop = &loop;
    /* The thread pool (made at the first uv_queue_work) needs a thread per
     * API worker; an operator's UV_THREADPOOL_SIZE wins. */
    char pool[16];
    snprintf(pool, sizeof pool, "%u", srv->opts.api_workers > 4 ? srv->opts.api_workers : 4);
    setenv("UV_THREADPOOL_SIZE", pool, 0);
    signal(SIGPIPE, SIG_IGN);
    /* A file-size limit (ulimit -f) must fail a write with EFBIG, which the
     * storage treats as a full disk, not kill the server. */
    signal(SIGXFSZ, SIG_IGN);
    uv_loop_init(&loop);
    service__fit_fd_limit(srv);

    {
        char err[512];
        rc = audit__open(opts->audit_file, &srv->audit, err, sizeof err);
        if (rc == 0)
            rc = access__open(srv, err, sizeof err);
        if (rc < 0) {
            hist_logf(&srv->log, HIST_LOG_ERROR, "%s", err);
            goto fail_loop;
        }
    }
    /* refuse bad files and an unauthenticated public address before
     * touching data */
    rc = check_before_data(srv);
    if (rc < 0)
        goto fail_loop;

    hist_db_options dbo;
    hist_db_options_init(&dbo);
    dbo.dir = opts->data_dir;
    dbo.io = opts->io;
    if (opts->memtable_bytes)
        dbo.memtable_bytes = opts->memtable_bytes;
    if (opts->wal_bytes)
        dbo.wal_bytes = opts->wal_bytes;
    dbo.retention_ns = opts->retention_ns;
    dbo.retention_rules = opts->retention_rules;
    dbo.nretention_rules = opts->nretention_rules;
    dbo.lazy_close = true; /* a restart leaves short runs in the WAL, not tiny chunks */
    dbo.compact_share = opts->compact_share / 100.0;
    dbo.log = log__from_storage;
    dbo.log_ctx = &srv->log;
    dbo.log_level = srv->opts.log_level;
    rc = hist_db_open(&dbo, &srv->db);
    if (rc < 0) {
        hist_logf(&srv->log, HIST_LOG_ERROR, "cannot open data directory %s: %s", opts->data_dir,
                  hist_strerror(rc));
        goto fail_loop;
    }
    rc = writer__start(&loop, srv->db, &srv->log, &srv->writer);
    if (rc < 0)
        goto fail_db;
    start_scrub(srv);
    writer__on_drain(srv->writer, on_writer_drain, srv);
    if (opts->http_addr && *opts->http_addr) {
        rc = listen_on(srv, &srv->http_listener, opts->http_addr, http_bound, sizeof http_bound);
        srv->http_on = true;
        if (rc < 0)
            goto fail_listen;
    }
    if (opts->ingest_addr && *opts->ingest_addr) {
        rc = listen_on(srv, &srv->tcp_listener, opts->ingest_addr, tcp_bound, sizeof tcp_bound);
        srv->tcp_on = true;
        if (rc < 0)
            goto fail_listen;
    }
    uv_signal_init(&loop, &srv->sigint);
    uv_signal_init(&loop, &srv->sigterm);
    srv->sigint.data = srv->sigterm.data = srv;
    uv_signal_start(&srv->sigint, on_signal, SIGINT);
    uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
    uv_signal_init(&loop, &srv->sighup);
    srv->sighup.data = srv;
    uv_signal_start(&srv->sighup, on_sighup, SIGHUP);
    uv_timer_init(&loop, &srv->sweep);
    srv->sweep.data = srv;
    uv_timer_start(&srv->sweep, on_sweep, 1000, 1000);
    rc = start_links(srv);
    if (rc < 0)
        goto fail_listen;

    hist_db_stats st;
    const char *io = hist_db_get_stats(srv->db, &st) == 0 && st.io_backend ? st.io_backend : "?";
    printf("historiand listening http=%s ingest=%s data=%s io=%s auth=%s tls=%s\n", http_bound,
           tcp_bound, opts->data_dir, io, srv->auth ? "tokens" : "off(loopback only)",
           !srv->tls                         ? "off"
           : tls__ctx_client_certs(srv->tls) ? "on+client-certs"
                                             : "on");
    fflush(stdout);
    {
        char ready[200];
        snprintf(ready, sizeof ready, "READY=1\nSTATUS=serving http=%s ingest=%s", http_bound,
                 tcp_bound);
        service__notify(srv, ready);
    }

    uv_run(&loop, UV_RUN_DEFAULT);
    rc = hist_db_close(srv->db);
    if (rc < 0)
        hist_logf(&srv->log, HIST_LOG_ERROR, "closing the database: %s", hist_strerror(rc));
    else
        hist_logf(&srv->log, HIST_LOG_INFO, "stopped cleanly");
    uv_loop_close(&loop);
    server_free(srv);
    return rc < 0 ? rc : 0;

fail_listen:
    writer__stop(srv->writer);
    uv_walk(&loop, close_any, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
fail_db:
    hist_db_close(srv->db);
fail_loop:
    uv_loop_close(&loop);
    server_free(srv);
    return rc;
}
