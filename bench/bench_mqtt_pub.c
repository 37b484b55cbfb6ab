/*
 * bench_mqtt_pub.c: the thin MQTT publisher of bench/mqtt.sh. It connects
 * to a broker on 127.0.0.1 over a blocking socket with our own codec
 * (ingest/mqtt/hist_mqtt.h) and publishes pre-encoded Sparkplug B payloads
 * (packed by protobuf-c from proto/sparkplug_b.proto) at QoS 1 with a
 * window of PUBLISHes in flight, reading the broker's PUBACKs as they come:
 * it measures the broker, not one round trip per message.
 *
 *   bench_mqtt_pub --port P [--metrics M] [--count N] [--window W]
 *                  [--group G] [--node E] [--start-ms MS] [--raw TOPIC]
 *                  [--v5] [--client-id ID] [--name NAME] [--timeout-s S]
 *
 * Sparkplug mode (the default): one NBIRTH of edge node E in group G (seq
 * 0, timestamp MS, the bdSeq metric and M Double metrics m000.. with
 * aliases 1..M), then N NDATA by alias (seq 1, 2, ..., 255, 0, 1, ...),
 * timestamps one second apart after the birth's. Message k (the birth is
 * k = 0) carries the value k + j for metric j, so a reader can check them.
 * --raw TOPIC: the N NDATA payloads, byte for byte, to a plain topic and no
 * birth (the broker's ceiling run, with a subscriber on TOPIC).
 *
 * Everything is encoded before the clock starts. Prints "name value unit"
 * lines: NAME_msgs, NAME_seconds (first PUBLISH to last PUBACK),
 * NAME_msgs_per_s, NAME_samples_per_s (Sparkplug mode: metrics per
 * message), NAME_payload_bytes (average), NAME_first_publish_unix_s (the
 * wall clock of the first PUBLISH, for a script that times what follows).
 * Exits 1, saying why, on any failure or when the broker stops answering
 * for --timeout-s (30).
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "ingest/mqtt/hist_mqtt.h"
#include "proto/sparkplug_b.pb-c.h"
#include "tests/mqtt/loopback.h"

#define DT_INT64  4
#define DT_DOUBLE 10
#define READ_BUF  65536

typedef struct {
    int port;
    int metrics;
    long count;
    int window;
    const char *group, *node;
    uint64_t start_ms;
    const char *raw_topic; /* NULL: Sparkplug mode */
    int version;
    const char *client_id;
    const char *name;
    int timeout_s;
} pub_opts;

/* Whole PUBLISH packets back to back; packet i is buf[off[i] .. off[i + 1]). */
typedef struct {
    uint8_t *buf;
    size_t len, cap;
    size_t *off;
    size_t n;
    size_t payload_bytes;
} packets;

static void usage(void)
{
    fprintf(stderr, "usage: bench_mqtt_pub --port P [--metrics M] [--count N] [--window W]\n"
                    "       [--group G] [--node E] [--start-ms MS] [--raw TOPIC] [--v5]\n"
                    "       [--client-id ID] [--name NAME] [--timeout-s S]\n");
    exit(2);
}

static int parse_args(int argc, char **argv, pub_opts *o)
{
    *o = (pub_opts){.metrics = 10,
                    .count = 10000,
                    .window = 100,
                    .group = "bench",
                    .node = "edge1",
                    .start_ms = 1767225600000ull, /* 2026-01-01T00:00:00Z */
                    .version = HIST_MQTT_V311,
                    .client_id = "bench-mqtt-pub",
                    .name = "mqtt_pub",
                    .timeout_s = 30};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--v5")) {
            o->version = HIST_MQTT_V5;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--port"))
            o->port = atoi(v);
        else if (!strcmp(a, "--metrics"))
            o->metrics = atoi(v);
        else if (!strcmp(a, "--count"))
            o->count = atol(v);
        else if (!strcmp(a, "--window"))
            o->window = atoi(v);
        else if (!strcmp(a, "--group"))
            o->group = v;
        else if (!strcmp(a, "--node"))
            o->node = v;
        else if (!strcmp(a, "--start-ms"))
            o->start_ms = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--raw"))
            o->raw_topic = v;
        else if (!strcmp(a, "--client-id"))
            o->client_id = v;
        else if (!strcmp(a, "--name"))
            o->name = v;
        else if (!strcmp(a, "--timeout-s"))
            o->timeout_s = atoi(v);
        else
            usage();
    }
    if (o->port <= 0 || o->port > 65535 || o->metrics < 1 || o->metrics > 100000 || o->count < 1 ||
        o->window < 1 || o->window > 65535 || o->timeout_s < 1)
        usage();
    return 0;
}

/* ---- payloads ------------------------------------------------------------ */

typedef struct {
    HistSpb__Payload p;
    HistSpb__Payload__Metric *m;
    HistSpb__Payload__Metric **mp;
    char (*names)[16];
    int n; /* metrics, bdSeq included */
} spb_payload;

static int payload_init(spb_payload *x, int metrics)
{
    x->n = metrics + 1;
    x->m = calloc((size_t)x->n, sizeof *x->m);
    x->mp = calloc((size_t)x->n, sizeof *x->mp);
    x->names = calloc((size_t)metrics, sizeof *x->names);
    if (!x->m || !x->mp || !x->names)
        return HIST_ENOMEM;
    for (int j = 0; j < metrics; j++)
        snprintf(x->names[j], sizeof x->names[j], "m%03d", j);
    return 0;
}

static void payload_free(spb_payload *x)
{
    free(x->m);
    free(x->mp);
    free(x->names);
}

/* Message k: the birth (k == 0: names, aliases, datatypes, bdSeq) or data
 * (aliases only); seq k mod 256, timestamp start + k s, values k + j. */
static void payload_fill(spb_payload *x, uint64_t start_ms, long k)
{
    bool birth = k == 0;
    x->p = (HistSpb__Payload)HIST_SPB__PAYLOAD__INIT;
    x->p.has_timestamp = 1;
    x->p.timestamp = start_ms + (uint64_t)k * 1000;
    x->p.has_seq = 1;
    x->p.seq = (uint64_t)(k % 256);
    x->p.metrics = x->mp;
    x->p.n_metrics = 0;
    int metrics = x->n - 1;
    for (int j = 0; j < metrics; j++) {
        HistSpb__Payload__Metric *m = &x->m[j];
        *m = (HistSpb__Payload__Metric)HIST_SPB__PAYLOAD__METRIC__INIT;
        m->has_alias = 1;
        m->alias = (uint64_t)j + 1;
        if (birth) {
            m->name = x->names[j];
            m->has_datatype = 1;
            m->datatype = DT_DOUBLE;
        }
        m->value_case = HIST_SPB__PAYLOAD__METRIC__VALUE_DOUBLE_VALUE;
        m->double_value = (double)k + (double)j;
        x->mp[x->p.n_metrics++] = m;
    }
    if (birth) {
        HistSpb__Payload__Metric *m = &x->m[metrics];
        *m = (HistSpb__Payload__Metric)HIST_SPB__PAYLOAD__METRIC__INIT;
        m->name = "bdSeq";
        m->has_datatype = 1;
        m->datatype = DT_INT64;
        m->value_case = HIST_SPB__PAYLOAD__METRIC__VALUE_LONG_VALUE;
        m->long_value = 0;
        x->mp[x->p.n_metrics++] = m;
    }
}

/* ---- packets ------------------------------------------------------------- */

static int packets_reserve(packets *ps, size_t more)
{
    if (ps->len + more <= ps->cap)
        return 0;
    size_t cap = ps->cap ? ps->cap : 1 << 20;
    while (cap < ps->len + more)
        cap *= 2;
    uint8_t *b = realloc(ps->buf, cap);
    if (!b)
        return HIST_ENOMEM;
    ps->buf = b;
    ps->cap = cap;
    return 0;
}

static uint16_t packet_id(size_t i)
{
    return (uint16_t)(i % 65535 + 1);
}

static int packets_add(packets *ps, int version, const char *topic, const uint8_t *payload,
                       size_t len)
{
    hist_mqtt_publish_msg m = {.topic = topic,
                               .payload = payload,
                               .payload_len = len,
                               .qos = 1,
                               .packet_id = packet_id(ps->n)};
    int need = hist_mqtt_encode_publish(NULL, 0, version, &m);
    if (need < 0)
        return need;
    if (packets_reserve(ps, (size_t)need) < 0)
        return HIST_ENOMEM;
    int n = hist_mqtt_encode_publish(ps->buf + ps->len, ps->cap - ps->len, version, &m);
    if (n < 0)
        return n;
    ps->off[ps->n++] = ps->len;
    ps->len += (size_t)n;
    ps->off[ps->n] = ps->len;
    ps->payload_bytes += len;
    return 0;
}

/* Every PUBLISH of the run, encoded. */
static int build_packets(const pub_opts *o, packets *ps)
{
    size_t total = (size_t)o->count + (o->raw_topic ? 0 : 1);
    ps->off = calloc(total + 1, sizeof *ps->off);
    spb_payload x = {0};
    int rc = ps->off ? payload_init(&x, o->metrics) : HIST_ENOMEM;
    char birth_topic[256], data_topic[256];
    snprintf(birth_topic, sizeof birth_topic, "spBv1.0/%s/NBIRTH/%s", o->group, o->node);
    snprintf(data_topic, sizeof data_topic, "spBv1.0/%s/NDATA/%s", o->group, o->node);
    const char *topic = o->raw_topic ? o->raw_topic : data_topic;
    uint8_t *pb = NULL;
    size_t pb_cap = 0;
    for (long k = o->raw_topic ? 1 : 0; rc == 0 && k <= o->count; k++) {
        payload_fill(&x, o->start_ms, k);
        size_t len = hist_spb__payload__get_packed_size(&x.p);
        if (len > pb_cap) {
            uint8_t *b = realloc(pb, len * 2);
            if (!b) {
                rc = HIST_ENOMEM;
                break;
            }
            pb = b;
            pb_cap = len * 2;
        }
        hist_spb__payload__pack(&x.p, pb);
        rc = packets_add(ps, o->version, k == 0 ? birth_topic : topic, pb, len);
    }
    free(pb);
    payload_free(&x);
    return rc;
}

/* ---- the connection ------------------------------------------------------ */

typedef struct {
    int fd;
    hist_mqtt_decoder dec;
    uint8_t rbuf[READ_BUF];
    size_t roff, rlen; /* rbuf[roff, rlen): read, not yet decoded */
    int timeout_ms;
} conn;

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return HIST_EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Waits up to the timeout for bytes and reads them: their count, or a
 * negative code (HIST_ETIMEDOUT, HIST_ECLOSED, HIST_EIO). */
static ssize_t read_some(conn *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int r;
    do
        r = poll(&p, 1, c->timeout_ms);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return HIST_ETIMEDOUT;
    if (r < 0)
        return HIST_EIO;
    ssize_t n = read(c->fd, c->rbuf, sizeof c->rbuf);
    if (n == 0)
        return HIST_ECLOSED;
    return n < 0 ? HIST_EIO : n;
}

/* The next packet from the broker (reading when nothing is buffered): 0,
 * or a negative code. */
static int next_packet(conn *c, hist_mqtt_packet *p)
{
    for (;;) {
        while (c->roff < c->rlen) {
            int r = hist_mqtt_feed(&c->dec, c->rbuf + c->roff, c->rlen - c->roff, p);
            if (r < 0)
                return r;
            c->roff += (size_t)r;
            if (p->type) /* a whole packet; 0: the bytes were a part of one */
                return 0;
        }
        ssize_t got = read_some(c);
        if (got < 0)
            return (int)got;
        c->roff = 0, c->rlen = (size_t)got;
    }
}

/* CONNECT, then the CONNACK; *receive_max: the broker's (v5), or 65,535. */
static int mqtt_connect(conn *c, const pub_opts *o, uint32_t *receive_max)
{
    hist_mqtt_connect_opts co = {.version = o->version, .client_id = o->client_id, .clean = true};
    uint8_t out[512];
    int n = hist_mqtt_encode_connect(out, sizeof out, &co);
    if (n < 0 || write_all(c->fd, out, (size_t)n) < 0)
        return n < 0 ? n : HIST_EIO;
    *receive_max = 65535;
    hist_mqtt_packet p;
    do
        if ((n = next_packet(c, &p)) < 0)
            return n;
    while (p.type != HIST_MQTT_CONNACK);
    if (p.reason)
        return HIST_EAUTH;
    if (p.props.seen & (1u << HIST_MQTT_PROP_RECEIVE_MAX))
        *receive_max = p.props.receive_max;
    return 0;
}

/* ---- the run ------------------------------------------------------------- */

typedef struct {
    size_t sent, acked, inflight;
    uint64_t pending[65536 / 64]; /* packet ids in flight */
} window_state;

static int on_puback(window_state *w, uint16_t id)
{
    uint64_t bit = 1ull << (id % 64);
    if (!(w->pending[id / 64] & bit)) {
        fprintf(stderr, "bench_mqtt_pub: PUBACK for packet id %u, not in flight\n", id);
        return HIST_EPROTO;
    }
    w->pending[id / 64] &= ~bit;
    w->inflight--;
    w->acked++;
    return 0;
}

/* Sends what the window allows, in one write. */
static int top_up(conn *c, const packets *ps, window_state *w, size_t window)
{
    size_t k = window - w->inflight;
    if (k > ps->n - w->sent)
        k = ps->n - w->sent;
    if (k == 0)
        return 0;
    for (size_t i = w->sent; i < w->sent + k; i++) {
        uint16_t id = packet_id(i);
        if (w->pending[id / 64] & (1ull << (id % 64))) {
            fprintf(stderr, "bench_mqtt_pub: packet id %u still in flight\n", id);
            return HIST_EBUSY;
        }
        w->pending[id / 64] |= 1ull << (id % 64);
    }
    int rc = write_all(c->fd, ps->buf + ps->off[w->sent], ps->off[w->sent + k] - ps->off[w->sent]);
    w->sent += k;
    w->inflight += k;
    return rc;
}

static int run(conn *c, const packets *ps, size_t window)
{
    static window_state w;
    memset(&w, 0, sizeof w);
    while (w.acked < ps->n) {
        int rc = c->roff < c->rlen ? 0 : top_up(c, ps, &w, window); /* once per read */
        hist_mqtt_packet p;
        if (rc < 0 || (rc = next_packet(c, &p)) < 0)
            return rc;
        if (p.type == HIST_MQTT_PUBACK) {
            if (p.reason >= 0x80) {
                fprintf(stderr, "bench_mqtt_pub: PUBACK reason 0x%02x\n", p.reason);
                return HIST_EPROTO;
            }
            if ((rc = on_puback(&w, p.packet_id)) < 0)
                return rc;
        } else if (p.type == HIST_MQTT_DISCONNECT) {
            return HIST_ECLOSED;
        }
    }
    return 0;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    pub_opts o;
    parse_args(argc, argv, &o);
    packets ps = {0};
    int rc = build_packets(&o, &ps);
    if (rc < 0) {
        fprintf(stderr, "bench_mqtt_pub: encoding: %s\n", hist_strerror(rc));
        return 1;
    }
    static conn c;
    c.timeout_ms = o.timeout_s * 1000;
    c.fd = loopback_connect(o.port);
    if (c.fd < 0 || hist_mqtt_decoder_init(&c.dec, o.version, 0) < 0) {
        fprintf(stderr, "bench_mqtt_pub: cannot connect to 127.0.0.1:%d\n", o.port);
        return 1;
    }
    uint32_t receive_max;
    if ((rc = mqtt_connect(&c, &o, &receive_max)) < 0) {
        fprintf(stderr, "bench_mqtt_pub: CONNECT: %s\n", hist_strerror(rc));
        return 1;
    }
    size_t window = (size_t)o.window < receive_max ? (size_t)o.window : receive_max;
    double first_wall = wall_s();
    double t0 = bench_now_s();
    rc = run(&c, &ps, window);
    double secs = bench_now_s() - t0;
    if (rc < 0) {
        fprintf(stderr, "bench_mqtt_pub: publishing: %s\n", hist_strerror(rc));
        return 1;
    }
    uint8_t bye[8];
    int n = hist_mqtt_encode_disconnect(bye, sizeof bye, o.version, 0);
    if (n > 0)
        write_all(c.fd, bye, (size_t)n);
    close(c.fd);
    hist_mqtt_decoder_free(&c.dec);
    double mps = secs > 0 ? (double)ps.n / secs : 0;
    printf("%s_msgs %zu msg\n", o.name, ps.n);
    printf("%s_seconds %.3f s\n", o.name, secs);
    printf("%s_msgs_per_s %.0f msg/s\n", o.name, mps);
    if (!o.raw_topic)
        printf("%s_samples_per_s %.0f samples/s\n", o.name, mps * o.metrics);
    printf("%s_payload_bytes %.0f B\n", o.name, (double)ps.payload_bytes / (double)ps.n);
    printf("%s_first_publish_unix_s %.6f s\n", o.name, first_wall);
    free(ps.buf);
    free(ps.off);
    return 0;
}
