/*
 * mqtt_link.c: historiand's connection to one MQTT broker (--mqtt URL), on
 * the loop thread: resolve, connect (TLS for mqtts://), CONNECT with a
 * fixed client id and a persistent session, SUBSCRIBE QoS 1, the host's
 * Sparkplug STATE (online, retained, with an offline will), then the
 * messages: each read's PUBLISHes go through the broker's sink
 * (mqtt_sink.c) into one write job.
 *
 * INVARIANT (durable before acknowledged): a QoS 1 message's PUBACK leaves
 * only after the job holding its samples came back from the writer's
 * group commit without a fatal error, and after every message received
 * before it (hist_mqtt_acks: in receive order). A job that failed for a
 * reason of the moment (a full disk, a failed fsync) acknowledges nothing:
 * the connection is closed without DISCONNECT and reopened after a
 * back-off, and the broker redelivers every unacknowledged message of the
 * session. A message refused for its content (malformed, unmapped, a type
 * conflict) is acknowledged: redelivery would not change it; it is
 * counted. Many messages share one group commit, so the rate is not one
 * fsync per message.
 *
 * The broker's own limit on unacknowledged messages (v5: our Receive
 * Maximum; mosquitto: max_inflight_messages) bounds what waits here; past
 * the writer's queue budget the link stops reading, like every connection.
 *
 * Lifecycle: DOWN -> RESOLVING -> CONNECTING -> (mqtts: HANDSHAKE, the TLS
 * handshake; CONNECT only once it finished) -> CONNACK -> SUBACK -> UP;
 * any failure -> CLOSING (the handle's close) -> DOWN, retried after a
 * back-off of 0.5 s doubling to 30 s. A 100 ms tick drives deadlines,
 * keep-alive and retries. Shutdown: STATE offline, DISCONNECT, close.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist_text.h"
#include "ingest/ingest.h"
#include "ingest/mqtt/hist_mqtt.h"
#include "ingest/sparkplug/hist_sparkplug.h"

#define TICK_MS         100
#define STEP_LIMIT_MS   10000 /* resolve, connect, handshake, CONNACK, SUBACK: each */
#define BACKOFF_MIN_MS  500
#define BACKOFF_MAX_MS  30000
#define ACK_WINDOW      65535
#define RECEIVE_MAX     4096
#define READ_BUF        65536
#define MAX_FILTERS     64
#define PUBACKS_AT_ONCE 1024

enum { DOWN, RESOLVING, CONNECTING, HANDSHAKE, CONNACK, SUBACK, UP, CLOSING };

struct mqtt_link {
    hist_server *srv;
    mqtt_stats stats;
    /* from the URL */
    char host[256], port[8];
    bool tls_on;
    char *user, *pass;
    /* the session */
    char client_id[256], state_topic[300];
    const char *filters[MAX_FILTERS];
    size_t n_filters;
    int version;
    /* the connection */
    int state;
    unsigned addr_turn; /* which of the host's addresses to try: the next
                           one after a failed connect */
    bool tcp_open, reading, stopping;
    bool gai_pending; /* a resolution is in flight: its request is busy */
    uv_tcp_t tcp;
    uv_getaddrinfo_t gai;
    uv_connect_t connect_req;
    uv_shutdown_t shutdown_req;
    uv_timer_t tick;
    uint64_t step_deadline_ms, retry_at_ms, backoff_ms;
    uint64_t state_ts_ms; /* the STATE timestamp of this connection (birth and will) */
    bool ever_up;
    tls__ctx *tls_ctx;
    tls__conn *tls;
    hist_mqtt_decoder dec;
    hist_mqtt_acks acks;
    hist_mqtt_keepalive ka;
    uint16_t next_pid;
    mqtt_sink *sink;
    batch_builder batch;
    unsigned jobs; /* submitted, not yet back */
    char rbuf[READ_BUF];
    uint8_t pbuf[READ_BUF]; /* TLS plaintext */
};

/* A write job's owner: the messages [first, last] of the tracker. */
typedef struct {
    mqtt_link *link;
    uint64_t first, last; /* seqs; first > last: none */
} link_job;

typedef struct {
    uv_write_t req;
    uv_buf_t buf;
    char data[];
} link_write;

static void link_close(mqtt_link *l, const char *why);
static int send_connect(mqtt_link *l);

/* ---- URL ------------------------------------------------------------- */

static int decoded(const char *s, size_t n, char **out)
{
    return hist_url_decode(s, n, 0, out, NULL);
}

/* mqtt[s]://[USER[:PASS]@]HOST[:PORT] ([v6] literals too). */
static int parse_url(mqtt_link *l, const char *url, char *err, size_t errlen)
{
    const char *p;
    if (!strncmp(url, "mqtt://", 7))
        p = url + 7;
    else if (!strncmp(url, "mqtts://", 8))
        p = url + 8, l->tls_on = true;
    else
        goto bad;
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        size_t ulen = colon ? (size_t)(colon - p) : (size_t)(at - p);
        if (decoded(p, ulen, &l->user) < 0 ||
            (colon && decoded(colon + 1, (size_t)(at - colon - 1), &l->pass) < 0))
            goto bad;
        p = at + 1;
    }
    const char *end = p + strcspn(p, "/?#");
    if (*end && strcmp(end, "/"))
        goto bad;
    const char *hend, *port = NULL;
    if (*p == '[') {
        hend = memchr(p, ']', (size_t)(end - p));
        if (!hend)
            goto bad;
        if (hend + 1 < end) {
            if (hend[1] != ':')
                goto bad;
            port = hend + 2;
        }
        p++;
    } else {
        hend = memchr(p, ':', (size_t)(end - p));
        if (hend)
            port = hend + 1;
        else
            hend = end;
    }
    size_t hlen = (size_t)(hend - p);
    if (!hlen || hlen >= sizeof l->host)
        goto bad;
    memcpy(l->host, p, hlen);
    l->host[hlen] = 0;
    size_t plen = port ? (size_t)(end - port) : 0;
    if (port && (!plen || plen > 5 || strspn(port, "0123456789") < plen))
        goto bad;
    if (port)
        memcpy(l->port, port, plen), l->port[plen] = 0;
    else
        snprintf(l->port, sizeof l->port, "%s", l->tls_on ? "8883" : "1883");
    if (atoi(l->port) < 1 || atoi(l->port) > 65535)
        goto bad;
    snprintf(l->stats.broker, sizeof l->stats.broker, "%s%s%s:%s", strchr(l->host, ':') ? "[" : "",
             l->host, strchr(l->host, ':') ? "]" : "", l->port);
    return 0;
bad:
    snprintf(err, errlen, "--mqtt %s: want mqtt://[USER[:PASS]@]HOST[:PORT] or mqtts://...", url);
    return HIST_EINVAL;
}

/* ---- sending ----------------------------------------------------------- */

static void on_written(uv_write_t *req, int status)
{
    (void)status; /* a failed write shows as a read error or EOF */
    free(req);
}

static int send_raw(mqtt_link *l, const void *data, size_t len)
{
    link_write *w = malloc(sizeof *w + len);
    if (!w)
        return HIST_ENOMEM;
    memcpy(w->data, data, len);
    w->buf = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&l->tcp, &w->buf, 1, on_written) < 0) {
        free(w);
        return HIST_EIO;
    }
    return 0;
}

/* What the TLS session wants on the wire. */
static int flush_tls(mqtt_link *l)
{
    char *out;
    size_t n;
    if (tls__take_out(l->tls, &out, &n) < 0)
        return HIST_ENOMEM;
    int rc = n ? send_raw(l, out, n) : 0;
    free(out);
    return rc;
}

/* One or more whole packets to the broker. */
static int send_bytes(mqtt_link *l, const void *data, size_t len)
{
    if (!l->tcp_open || l->state == CLOSING)
        return HIST_ECLOSED;
    hist_mqtt_keepalive_sent(&l->ka, clock__now_ms());
    if (!l->tls)
        return send_raw(l, data, len);
    for (size_t off = 0; off < len;) {
        long k = tls__write(l->tls, (const char *)data + off, len - off);
        if (k <= 0)
            return HIST_EPROTO;
        off += (size_t)k;
        int rc = flush_tls(l);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int publish(mqtt_link *l, const char *topic, const void *payload, size_t len, uint8_t qos,
                   bool retain)
{
    if (!++l->next_pid)
        l->next_pid = 1;
    hist_mqtt_publish_msg m = {.topic = topic,
                               .payload = payload,
                               .payload_len = len,
                               .qos = qos,
                               .retain = retain,
                               .packet_id = l->next_pid};
    int need = hist_mqtt_encode_publish(NULL, 0, l->version, &m);
    if (need < 0)
        return need;
    uint8_t *buf = malloc((size_t)need);
    if (!buf)
        return HIST_ENOMEM;
    int n = hist_mqtt_encode_publish(buf, (size_t)need, l->version, &m);
    int rc = n > 0 ? send_bytes(l, buf, (size_t)n) : n;
    free(buf);
    return rc;
}

static int publish_state(mqtt_link *l, bool online)
{
    char json[96];
    int n = hist_spb_state_json(online, l->state_ts_ms, json, sizeof json);
    return n < 0 ? n : publish(l, l->state_topic, json, (size_t)n, 1, true);
}

/* Whether the broker has accepted our session (CONNACK): from then on it
 * may send PUBLISH, before our SUBACK too. A persistent session's queued
 * messages come at once after CONNACK, so dropping them until SUBACK
 * would leave them unacknowledged and the broker's window full. */
static bool session_open(const mqtt_link *l)
{
    return l->state == SUBACK || l->state == UP;
}

/* The PUBACKs the tracker releases: messages durable, in receive order. */
static void send_pubacks(mqtt_link *l)
{
    uint16_t ids[PUBACKS_AT_ONCE];
    uint8_t buf[PUBACKS_AT_ONCE * 4];
    size_t n;
    while ((n = hist_mqtt_acks_release(&l->acks, ids, PUBACKS_AT_ONCE)) > 0) {
        size_t len = 0;
        for (size_t i = 0; i < n; i++)
            len +=
                (size_t)hist_mqtt_encode_puback(buf + len, sizeof buf - len, l->version, ids[i], 0);
        if (send_bytes(l, buf, len) < 0)
            return; /* the connection is going: the broker redelivers */
        l->stats.acks += n;
    }
}

/* ---- the write job ------------------------------------------------------ */

static void mark_durable(mqtt_link *l, uint64_t first, uint64_t last)
{
    for (uint64_t s = first; s <= last && first <= last; s++)
        hist_mqtt_acks_mark(&l->acks, s); /* HIST_ENOTFOUND: an old connection's */
    if (session_open(l))
        send_pubacks(l);
}

static void job_done(hist_job *job)
{
    link_job *o = job->owner;
    mqtt_link *l = o->link;
    hist_in_result *res = &job->result;
    l->jobs--;
    metrics__count_result(&l->srv->metrics, res);
    l->stats.samples += res->written;
    if (res->fatal) {
        hist_logf(&l->srv->log, HIST_LOG_WARN,
                  "mqtt %s: not written (%s): reconnecting; the broker keeps the messages",
                  l->stats.broker, res->error ? res->error : hist_strerror(res->code));
        link_close(l, "write failed");
    } else {
        if (res->nerrors)
            hist_logf(&l->srv->log, HIST_LOG_WARN, "mqtt %s: %zu series not written, first: %s: %s",
                      l->stats.broker, res->nerrors, res->errors[0].tag, res->errors[0].message);
        mark_durable(l, o->first, o->last);
    }
    decode__result_clear(res);
    free(o);
    free(job);
}

/* The samples of this read's messages as one job; the messages without a
 * sample are durable at once (after every earlier one, as always). */
static void submit_batch(mqtt_link *l, uint64_t first, uint64_t last)
{
    hist_in_batch *b = NULL;
    if (batch__build(&l->batch, 0, true, &b) < 0) {
        link_close(l, "out of memory");
        return;
    }
    if (!b) {
        mark_durable(l, first, last);
        return;
    }
    hist_job *job = calloc(1, sizeof *job);
    link_job *o = job ? malloc(sizeof *o) : NULL;
    if (!o) {
        free(job);
        free(b);
        link_close(l, "out of memory");
        return;
    }
    *o = (link_job){l, first, last};
    job->batch = b;
    job->bytes = b->wire_bytes;
    job->owner = o;
    job->done = job_done;
    l->jobs++;
    conn__submit(l->srv, job);
    link__update_reading(l);
}

/* ---- packets ------------------------------------------------------------ */

static void on_publish(mqtt_link *l, const hist_mqtt_packet *p, uint64_t *first, uint64_t *last)
{
    l->stats.messages++;
    if (p->qos == 1) {
        int64_t seq = hist_mqtt_acks_push(&l->acks, p->packet_id);
        if (seq == HIST_EEXIST)
            return; /* redelivered while we hold it: the first one's PUBACK answers both */
        if (seq < 0) {
            link_close(l, "the broker sent more unacknowledged messages than allowed");
            return;
        }
        if (*first > *last)
            *first = (uint64_t)seq;
        *last = (uint64_t)seq;
    }
    sink_counts c = {0};
    sink_publish pub;
    int rc = sink__message(l->sink, (const char *)p->topic.ptr, p->topic.len, p->payload.ptr,
                           p->payload.len, clock__wall_ms(), &l->batch, &pub, &c);
    if (rc < 0) {
        link_close(l, "out of memory");
        return;
    }
    l->stats.refused += c.refused;
    l->stats.unsupported += c.unsupported;
    l->stats.rebirths += c.rebirths;
    if (pub.topic)
        publish(l, pub.topic, pub.payload, pub.len, 0, false);
}

/* The name of a refusing CONNACK's code: v5 reason codes (MQTT 5
 * §3.2.2.2), 3.1.1 return codes 1..5 (MQTT 3.1.1 §3.2.2.3). */
static const char *connack_name(int version, uint8_t code)
{
    static const struct {
        uint8_t code;
        const char *name;
    } v5[] = {{0x80, "unspecified error"},
              {0x81, "malformed packet"},
              {0x82, "protocol error"},
              {0x83, "implementation specific error"},
              {0x84, "unsupported protocol version"},
              {0x85, "client identifier not valid"},
              {0x86, "bad user name or password"},
              {0x87, "not authorized"},
              {0x88, "server unavailable"},
              {0x89, "server busy"},
              {0x8A, "banned"},
              {0x8C, "bad authentication method"},
              {0x95, "packet too large"},
              {0x97, "quota exceeded"},
              {0x99, "payload format invalid"},
              {0x9A, "retain not supported"},
              {0x9B, "QoS not supported"},
              {0x9C, "use another server"},
              {0x9D, "server moved"},
              {0x9F, "connection rate exceeded"}};
    static const char *const v311[] = {NULL,
                                       "unacceptable protocol version",
                                       "identifier rejected",
                                       "server unavailable",
                                       "bad user name or password",
                                       "not authorized"};
    if (version == HIST_MQTT_V311)
        return code && code < sizeof v311 / sizeof v311[0] ? v311[code] : "unknown code";
    for (size_t i = 0; i < sizeof v5 / sizeof v5[0]; i++)
        if (v5[i].code == code)
            return v5[i].name;
    return "unknown code";
}

static void on_connack(mqtt_link *l, const hist_mqtt_packet *p)
{
    if (l->state != CONNACK || p->reason) {
        char why[80];
        snprintf(why, sizeof why, "CONNACK refused: 0x%02x %s", p->reason,
                 connack_name(l->version, p->reason));
        hist_logf(&l->srv->log, HIST_LOG_ERROR, "mqtt %s: connection refused by the broker: %s",
                  l->stats.broker, why);
        link_close(l, why);
        return;
    }
    uint16_t ka = l->srv->opts.mqtt_keepalive_s;
    if (p->props.seen & (1u << HIST_MQTT_PROP_SERVER_KEEP_ALIVE))
        ka = p->props.server_keep_alive_s;
    hist_mqtt_keepalive_init(&l->ka, ka, 0, clock__now_ms());
    uint8_t buf[8192];
    int n = hist_mqtt_encode_subscribe(buf, sizeof buf, l->version, 1, l->filters, l->n_filters, 1);
    if (n < 0 || send_bytes(l, buf, (size_t)n) < 0) {
        link_close(l, "SUBSCRIBE could not be sent");
        return;
    }
    hist_logf(&l->srv->log, HIST_LOG_INFO, "mqtt %s: connected (session %s)", l->stats.broker,
              p->session_present ? "resumed" : "new");
    l->state = SUBACK;
    l->step_deadline_ms = clock__now_ms() + STEP_LIMIT_MS;
}

static void on_suback(mqtt_link *l, const hist_mqtt_packet *p)
{
    for (size_t i = 0; i < p->codes.len; i++)
        if (p->codes.ptr[i] >= 0x80)
            hist_logf(&l->srv->log, HIST_LOG_ERROR, "mqtt %s: subscription to %s refused (0x%02x)",
                      l->stats.broker, i < l->n_filters ? l->filters[i] : "?", p->codes.ptr[i]);
    if (l->state != SUBACK)
        return;
    l->state = UP;
    l->stats.connected = true;
    snprintf(l->stats.state, sizeof l->stats.state, "connected");
    l->backoff_ms = BACKOFF_MIN_MS;
    publish_state(l, true);
}

static void on_packet(mqtt_link *l, const hist_mqtt_packet *p, uint64_t *first, uint64_t *last)
{
    hist_mqtt_keepalive_received(&l->ka, clock__now_ms());
    switch (p->type) {
    case HIST_MQTT_CONNACK:
        on_connack(l, p);
        break;
    case HIST_MQTT_SUBACK:
        on_suback(l, p);
        break;
    case HIST_MQTT_PUBLISH:
        if (session_open(l))
            on_publish(l, p, first, last);
        break;
    case HIST_MQTT_DISCONNECT:
        hist_logf(&l->srv->log, HIST_LOG_WARN, "mqtt %s: the broker disconnected us (0x%02x)",
                  l->stats.broker, p->reason);
        link_close(l, "DISCONNECT from the broker");
        break;
    default: /* PUBACK of our STATE, PINGRESP, UNSUBACK */
        break;
    }
}

/* Plaintext from the broker: every packet in it, then one job. */
static void on_plain(mqtt_link *l, const uint8_t *in, size_t n)
{
    uint64_t first = 1, last = 0;
    for (size_t off = 0; off < n && l->state != CLOSING;) {
        hist_mqtt_packet p;
        int r = hist_mqtt_feed(&l->dec, in + off, n - off, &p);
        if (r < 0) {
            hist_logf(&l->srv->log, HIST_LOG_ERROR, "mqtt %s: %s from the broker", l->stats.broker,
                      r == HIST_ETOOBIG ? "a packet over the size limit" : "malformed packet");
            link_close(l, "protocol error");
            return;
        }
        off += (size_t)r;
        if (p.type)
            on_packet(l, &p, &first, &last);
    }
    if (l->state == CLOSING)
        batch__clear(&l->batch); /* the broker redelivers them */
    else if (first <= last || l->batch.n)
        submit_batch(l, first, last);
}

static void tls_input(mqtt_link *l, const void *in, size_t n)
{
    if (tls__feed(l->tls, in, n) < 0) {
        link_close(l, "out of memory");
        return;
    }
    for (;;) {
        bool was_done = tls__handshake_done(l->tls);
        long k = tls__read(l->tls, l->pbuf, sizeof l->pbuf);
        if (flush_tls(l) < 0) {
            link_close(l, "TLS output failed");
            return;
        }
        if (!was_done && tls__handshake_done(l->tls)) {
            hist_logf(&l->srv->log, HIST_LOG_DEBUG, "mqtt %s: TLS %s %s", l->stats.broker,
                      tls__version(l->tls), tls__cipher(l->tls));
            if (l->state == HANDSHAKE && send_connect(l) < 0) {
                link_close(l, "CONNECT could not be sent");
                return;
            }
        }
        if (k == 0)
            return;
        if (k < 0) {
            /* the reason goes to /healthz too ("down: TLS: server
             * certificate: ..."): "TLS failed" alone did not say why */
            char why[160];
            snprintf(why, sizeof why, "TLS: %s", tls__reason(l->tls));
            hist_logf(&l->srv->log, HIST_LOG_ERROR, "mqtt %s: %s", l->stats.broker, why);
            link_close(l, why);
            return;
        }
        on_plain(l, l->pbuf, (size_t)k);
        if (l->state == CLOSING)
            return;
    }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    mqtt_link *l = h->data;
    *buf = uv_buf_init(l->rbuf, sizeof l->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    mqtt_link *l = s->data;
    if (n < 0) {
        link_close(l, n == UV_EOF ? "the broker closed the connection" : uv_strerror((int)n));
        return;
    }
    if (l->tls)
        tls_input(l, buf->base, (size_t)n);
    else
        on_plain(l, (const uint8_t *)buf->base, (size_t)n);
}

/* ---- connecting ----------------------------------------------------------- */

static int send_connect(mqtt_link *l)
{
    char will[96];
    l->state_ts_ms = clock__wall_ms();
    int wn = hist_spb_state_json(false, l->state_ts_ms, will, sizeof will);
    hist_mqtt_connect_opts o = {
        .version = l->version,
        .client_id = l->client_id,
        .clean = false,
        .keep_alive_s = l->srv->opts.mqtt_keepalive_s,
        .session_expiry_s = l->version == HIST_MQTT_V5 ? l->srv->opts.mqtt_session_expiry_s : 0,
        .receive_max = RECEIVE_MAX,
        .username = l->user,
        .password = (const uint8_t *)l->pass,
        .password_len = l->pass ? strlen(l->pass) : 0,
        .will_topic = l->state_topic,
        .will_payload = (const uint8_t *)will,
        .will_payload_len = wn > 0 ? (size_t)wn : 0,
        .will_qos = 1,
        .will_retain = true,
    };
    uint8_t buf[2048];
    int n = hist_mqtt_encode_connect(buf, sizeof buf, &o);
    if (n < 0)
        return n;
    l->state = CONNACK;
    l->step_deadline_ms = clock__now_ms() + STEP_LIMIT_MS;
    return send_bytes(l, buf, (size_t)n);
}

static void on_connected(uv_connect_t *req, int status)
{
    mqtt_link *l = req->data;
    if (l->state != CONNECTING)
        return;
    if (status < 0) {
        l->addr_turn++; /* a host with several addresses: the next one, next time */
        link_close(l, uv_strerror(status));
        return;
    }
    uv_tcp_nodelay(&l->tcp, 1);
    if (l->tls_on) {
        l->tls = tls__conn_new_client(l->tls_ctx, l->host);
        if (!l->tls) {
            link_close(l, "TLS session could not be made");
            return;
        }
        tls__read(l->tls, l->pbuf, 0); /* the ClientHello */
        if (flush_tls(l) < 0) {
            link_close(l, "TLS output failed");
            return;
        }
        /* CONNECT waits for the handshake (tls_input): written now, it
         * would fail, the session not being ready for application data */
        l->state = HANDSHAKE;
        l->step_deadline_ms = clock__now_ms() + STEP_LIMIT_MS;
        link__update_reading(l);
        return;
    }
    if (send_connect(l) < 0)
        link_close(l, "CONNECT could not be sent");
    else
        link__update_reading(l);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    mqtt_link *l = req->data;
    l->gai_pending = false;
    if (l->state != RESOLVING || l->stopping) { /* closed meanwhile */
        uv_freeaddrinfo(res);
        return;
    }
    if (status < 0 || !res) {
        uv_freeaddrinfo(res);
        link_close(l, status < 0 ? uv_strerror(status) : "no address");
        return;
    }
    unsigned n = 0;
    for (const struct addrinfo *a = res; a; a = a->ai_next)
        n++;
    const struct addrinfo *a = res;
    for (unsigned i = l->addr_turn % n; i > 0; i--)
        a = a->ai_next;
    uv_tcp_init(l->srv->loop, &l->tcp);
    l->tcp.data = l;
    l->tcp_open = true;
    l->state = CONNECTING;
    l->connect_req.data = l;
    int rc = uv_tcp_connect(&l->connect_req, &l->tcp, a->ai_addr, on_connected);
    uv_freeaddrinfo(res);
    if (rc < 0)
        link_close(l, uv_strerror(rc));
}

static void start_connect(mqtt_link *l)
{
    hist_mqtt_decoder_reset(&l->dec);
    hist_mqtt_acks_reset(&l->acks);
    batch__clear(&l->batch);
    if (l->ever_up)
        l->stats.reconnects++;
    l->ever_up = true;
    snprintf(l->stats.state, sizeof l->stats.state, "connecting");
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    l->state = RESOLVING;
    l->step_deadline_ms = clock__now_ms() + STEP_LIMIT_MS;
    l->gai.data = l;
    if (uv_getaddrinfo(l->srv->loop, &l->gai, on_resolved, l->host, l->port, &hints) < 0)
        link_close(l, "the name could not be resolved");
    else
        l->gai_pending = true;
}

/* ---- closing ---------------------------------------------------------------- */

/* DOWN, the next attempt after the back-off, which doubles. */
static void went_down(mqtt_link *l)
{
    l->state = DOWN;
    l->retry_at_ms = clock__now_ms() + l->backoff_ms;
    l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
}

static void on_closed(uv_handle_t *h)
{
    mqtt_link *l = h->data;
    l->tcp_open = false;
    l->reading = false;
    went_down(l);
}

/* Drops the connection without DISCONNECT: what the broker has not had a
 * PUBACK for stays in our session and comes again. */
static void link_close(mqtt_link *l, const char *why)
{
    if (l->state == CLOSING || l->state == DOWN)
        return;
    if (!l->stopping)
        hist_logf(&l->srv->log, HIST_LOG_WARN, "mqtt %s: connection lost: %s; retrying in %.1f s",
                  l->stats.broker, why, l->backoff_ms / 1000.0);
    l->stats.connected = false;
    snprintf(l->stats.state, sizeof l->stats.state, "down: %s", why);
    tls__conn_free(l->tls);
    l->tls = NULL;
    if (!l->tcp_open) { /* resolving (its callback sees the state and stops) */
        went_down(l);
        return;
    }
    l->state = CLOSING;
    if (!uv_is_closing((uv_handle_t *)&l->tcp))
        uv_close((uv_handle_t *)&l->tcp, on_closed);
}

static void on_tick(uv_timer_t *t)
{
    mqtt_link *l = t->data;
    uint64_t now = clock__now_ms();
    if (l->stopping)
        return;
    if (l->state == DOWN && !l->gai_pending && now >= l->retry_at_ms && !l->srv->draining) {
        start_connect(l);
    } else if (l->state >= RESOLVING && l->state <= SUBACK && now > l->step_deadline_ms) {
        link_close(l, "timed out");
    } else if (l->state == UP) {
        int ka = hist_mqtt_keepalive_check(&l->ka, now, NULL);
        if (ka == HIST_MQTT_KA_DEAD) {
            link_close(l, "no answer to PINGREQ");
        } else if (ka == HIST_MQTT_KA_PING) {
            uint8_t buf[2];
            int n = hist_mqtt_encode_pingreq(buf, sizeof buf);
            send_bytes(l, buf, (size_t)n);
        }
    }
}

/* ---- the door (ingest.h) ----------------------------------------------------- */

void link__update_reading(mqtt_link *l)
{
    if (!l->tcp_open || l->state == CLOSING || l->state < HANDSHAKE)
        return;
    bool want = !l->srv->paused && !l->srv->draining;
    if (want && !l->reading)
        uv_read_start((uv_stream_t *)&l->tcp, on_alloc, on_read);
    else if (!want && l->reading)
        uv_read_stop((uv_stream_t *)&l->tcp);
    l->reading = want;
}

int link__new(hist_server *srv, const char *url, mqtt_link **out, char *err, size_t errlen)
{
    const hist_server_options *o = &srv->opts;
    *out = NULL;
    mqtt_link *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return HIST_ENOMEM;
    }
    l->srv = srv;
    int rc = parse_url(l, url, err, errlen);
    const char *host_id = o->mqtt_host_id && *o->mqtt_host_id ? o->mqtt_host_id : "historian";
    if (rc == 0 && strpbrk(host_id, "/+#")) {
        snprintf(err, errlen, "--mqtt-host-id %s: no '/', '+' or '#' in a host id", host_id);
        rc = HIST_EINVAL;
    }
    if (rc == 0) {
        if (o->mqtt_client_id && *o->mqtt_client_id)
            snprintf(l->client_id, sizeof l->client_id, "%s", o->mqtt_client_id);
        else
            snprintf(l->client_id, sizeof l->client_id, "historian-%s", host_id);
        snprintf(l->state_topic, sizeof l->state_topic, "spBv1.0/STATE/%s", host_id);
        l->version = o->mqtt_version == HIST_MQTT_V311 ? HIST_MQTT_V311 : HIST_MQTT_V5;
        l->backoff_ms = BACKOFF_MIN_MS;
        snprintf(l->stats.state, sizeof l->stats.state, "connecting");
    }
    if (rc == 0 && l->tls_on)
        rc = tls__client_ctx_new(o->mqtt_cafile, o->mqtt_cert, o->mqtt_key, &l->tls_ctx, err,
                                 errlen);
    if (rc == 0 && (hist_mqtt_decoder_init(&l->dec, l->version, 0) < 0 ||
                    hist_mqtt_acks_init(&l->acks, ACK_WINDOW) < 0)) {
        snprintf(err, errlen, "out of memory");
        rc = HIST_ENOMEM;
    }
    sink_options so = {.topics = o->mqtt_topics,
                       .n_topics = o->n_mqtt_topics,
                       .value_field = o->mqtt_value_field,
                       .time_field = o->mqtt_time_field,
                       .quality_field = o->mqtt_quality_field,
                       .time_unit = o->mqtt_time_unit,
                       .death_quality = o->mqtt_death_quality};
    if (rc == 0)
        rc = sink__new(&srv->log, &so, &l->sink, err, errlen);
    if (rc == 0) {
        l->filters[l->n_filters++] = "spBv1.0/#";
        for (size_t i = 0; i < sink__filter_count(l->sink) && l->n_filters < MAX_FILTERS; i++)
            l->filters[l->n_filters++] = sink__filter(l->sink, i);
    }
    if (rc < 0) {
        link__free(l);
        return rc;
    }
    batch__init(&l->batch);
    *out = l;
    if (!srv->loop)
        return 0; /* hist_server_check: the options are good, nothing starts */
    uv_timer_init(srv->loop, &l->tick);
    l->tick.data = l;
    uv_timer_start(&l->tick, on_tick, 0, TICK_MS);
    return 0;
}

const mqtt_stats *link__stats(const mqtt_link *l)
{
    return &l->stats;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    mqtt_link *l = req->data;
    if (!uv_is_closing((uv_handle_t *)&l->tcp))
        uv_close((uv_handle_t *)&l->tcp, on_closed);
}

void link__stop(mqtt_link *l)
{
    l->stopping = true;
    uv_timer_stop(&l->tick);
    uv_close((uv_handle_t *)&l->tick, NULL);
    if (l->state == UP) {
        /* Sparkplug: a host going offline on purpose says so itself (the
         * will is for a death); then DISCONNECT (v5: normal, no will) */
        publish_state(l, false);
        uint8_t buf[8];
        int n = hist_mqtt_encode_disconnect(buf, sizeof buf, l->version, 0);
        if (n > 0)
            send_bytes(l, buf, (size_t)n);
        l->state = CLOSING;
        l->stats.connected = false;
        l->shutdown_req.data = l;
        if (l->tls) {
            tls__shutdown(l->tls);
            flush_tls(l);
        }
        if (uv_shutdown(&l->shutdown_req, (uv_stream_t *)&l->tcp, on_shutdown) < 0)
            uv_close((uv_handle_t *)&l->tcp, on_closed);
        return;
    }
    link_close(l, "server shutting down");
}

void link__free(mqtt_link *l)
{
    if (!l)
        return;
    sink__free(l->sink);
    batch__free(&l->batch);
    hist_mqtt_acks_free(&l->acks);
    hist_mqtt_decoder_free(&l->dec);
    tls__conn_free(l->tls);
    tls__ctx_free(l->tls_ctx);
    free(l->user);
    free(l->pass);
    free(l);
}
