/*
 * test_mqtt_codec.c: the MQTT codec of ingest/mqtt/ (3.1.1 and 5): every
 * encoder against bytes written out by hand from the spec, PUBLISH,
 * PUBACK and DISCONNECT encoded then decoded (whole, byte by byte, at
 * every split point), the broker's packets (CONNACK, SUBACK, UNSUBACK,
 * PINGRESP, v5 properties), and malformed and hostile input: bad varints,
 * lengths past the end, oversized packets, bad or misplaced or repeated
 * property ids, empty or wildcard or non-UTF-8 topics, packet id 0 on
 * QoS 1, QoS 2, client packets, wrong flags; errors are sticky until reset.
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "ingest/mqtt/hist_mqtt.h"

#define V3 HIST_MQTT_V311
#define V5 HIST_MQTT_V5

/* what a test keeps of a packet (its slices die with the next feed) */
typedef struct {
    hist_mqtt_packet p;
    uint8_t topic[512], payload[4096], codes[64];
    size_t topic_len, payload_len, codes_len;
    int count;    /* packets completed */
    int in_input; /* the last packet's topic pointed into the caller's input */
} got;

static void keep(got *g, const hist_mqtt_packet *p, const uint8_t *in, size_t in_len)
{
    g->p = *p;
    g->count++;
    g->topic_len = p->topic.len < sizeof g->topic ? p->topic.len : 0;
    if (g->topic_len)
        memcpy(g->topic, p->topic.ptr, g->topic_len);
    g->payload_len = p->payload.len < sizeof g->payload ? p->payload.len : 0;
    if (g->payload_len)
        memcpy(g->payload, p->payload.ptr, g->payload_len);
    g->codes_len = p->codes.len < sizeof g->codes ? p->codes.len : 0;
    if (g->codes_len)
        memcpy(g->codes, p->codes.ptr, g->codes_len);
    g->in_input = p->topic.len && p->topic.ptr >= in && p->topic.ptr < in + in_len;
}

/* Feeds b[0..n) in pieces of `step` bytes (0: whole); returns the first
 * error or 0, with every packet kept in g (the last one's copy). */
static int feed(int version, uint32_t max_packet, const uint8_t *b, size_t n, size_t step, got *g)
{
    hist_mqtt_decoder d;
    memset(g, 0, sizeof *g);
    int rc = hist_mqtt_decoder_init(&d, version, max_packet);
    if (rc < 0)
        return rc;
    if (step == 0)
        step = n ? n : 1;
    for (size_t off = 0; off < n && rc >= 0;) {
        size_t piece = n - off < step ? n - off : step, used = 0;
        while (used < piece) {
            hist_mqtt_packet p;
            int r = hist_mqtt_feed(&d, b + off + used, piece - used, &p);
            if (r < 0) {
                rc = r;
                break;
            }
            used += (size_t)r;
            if (p.type)
                keep(g, &p, b + off, piece);
            else if (r == 0)
                break; /* no progress: a bug */
        }
        if (rc >= 0 && used != piece)
            rc = -100;
        off += piece;
    }
    int partial = d.need || d.hdr_len;
    hist_mqtt_decoder_free(&d);
    if (rc >= 0 && partial)
        return -101; /* bytes left over: the input was not whole packets */
    return rc;
}

#define BYTES(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

static int eq(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    return an == bn && memcmp(a, b, an) == 0;
}

static void test_small_encoders(void)
{
    uint8_t out[64];
    CHECK(hist_mqtt_encode_pingreq(out, sizeof out) == 2 && eq(out, 2, BYTES(0xC0, 0x00)));
    CHECK(hist_mqtt_encode_pingreq(NULL, 0) == 2);
    CHECK(hist_mqtt_encode_pingreq(out, 1) == HIST_ENOSPC);
    CHECK(hist_mqtt_encode_disconnect(out, sizeof out, V3, 0) == 2 && eq(out, 2, BYTES(0xE0, 0)));
    CHECK(hist_mqtt_encode_disconnect(out, sizeof out, V5, 0) == 2 && eq(out, 2, BYTES(0xE0, 0)));
    CHECK(hist_mqtt_encode_disconnect(out, sizeof out, V5, 4) == 3 &&
          eq(out, 3, BYTES(0xE0, 1, 4)));
    CHECK(hist_mqtt_encode_disconnect(out, sizeof out, V3, 4) == HIST_EINVAL);
    CHECK(hist_mqtt_encode_disconnect(out, sizeof out, 3, 0) == HIST_EINVAL); /* MQTT 3.1 */
    CHECK(hist_mqtt_encode_puback(out, sizeof out, V3, 0x1234, 0) == 4 &&
          eq(out, 4, BYTES(0x40, 2, 0x12, 0x34)));
    CHECK(hist_mqtt_encode_puback(out, sizeof out, V5, 0x1234, 0) == 4 &&
          eq(out, 4, BYTES(0x40, 2, 0x12, 0x34)));
    CHECK(hist_mqtt_encode_puback(out, sizeof out, V5, 0x1234, 0x10) == 5 &&
          eq(out, 5, BYTES(0x40, 3, 0x12, 0x34, 0x10)));
    CHECK(hist_mqtt_encode_puback(out, sizeof out, V5, 0, 0) == HIST_EINVAL);
    CHECK(hist_mqtt_encode_puback(out, sizeof out, V3, 7, 0x80) == HIST_EINVAL);
    memset(out, 0xAA, sizeof out);
    CHECK(hist_mqtt_encode_puback(out, 3, V3, 7, 0) == HIST_ENOSPC && out[0] == 0xAA);
}

static void test_connect(void)
{
    uint8_t out[256];
    hist_mqtt_connect_opts o = {.version = V3,
                                .client_id = "hist",
                                .keep_alive_s = 30,
                                .username = "u",
                                .password = (const uint8_t *)"pw",
                                .password_len = 2,
                                .will_topic = "s/h",
                                .will_payload = (const uint8_t *)"off",
                                .will_payload_len = 3,
                                .will_qos = 1,
                                .will_retain = true};
    /* flags: user 0x80 | password 0x40 | will retain 0x20 | will QoS 1 0x08
     * | will 0x04, clean session 0 */
    const uint8_t v3[] = {0x10, 33,  0,   4,   'M', 'Q', 'T', 'T', 4,   0xEC, 0,   30,
                          0,    4,   'h', 'i', 's', 't', 0,   3,   's', '/',  'h', 0,
                          3,    'o', 'f', 'f', 0,   1,   'u', 0,   2,   'p',  'w'};
    int n = hist_mqtt_encode_connect(out, sizeof out, &o);
    CHECKF(eq(out, (size_t)n, v3, sizeof v3), "n %d", n);
    CHECK(hist_mqtt_encode_connect(NULL, 0, &o) == (int)sizeof v3);
    CHECK(hist_mqtt_encode_connect(out, sizeof v3 - 1, &o) == HIST_ENOSPC);

    /* v5: Session Expiry 3600, Receive Maximum 100, Maximum Packet Size
     * 65536; the will gets an empty property list; clean start 0 */
    o.version = V5;
    const uint8_t v5[] = {0x10, 48,  0,   4,    'M',  'Q',  'T', 'T', 5,    0xEC, 0,   30,  13,
                          0x11, 0,   0,   0x0E, 0x10, 0x21, 0,   100, 0x27, 0,    1,   0,   0,
                          0,    4,   'h', 'i',  's',  't',  0,   0,   3,    's',  '/', 'h', 0,
                          3,    'o', 'f', 'f',  0,    1,    'u', 0,   2,    'p',  'w'};
    o.session_expiry_s = 3600;
    o.receive_max = 100;
    o.max_packet = 65536;
    n = hist_mqtt_encode_connect(out, sizeof out, &o);
    CHECKF(eq(out, (size_t)n, v5, sizeof v5), "n %d", n);

    /* minimal, clean */
    hist_mqtt_connect_opts m = {.version = V3, .client_id = "", .clean = true};
    const uint8_t v3min[] = {0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 0, 0, 0};
    n = hist_mqtt_encode_connect(out, sizeof out, &m);
    CHECK(eq(out, (size_t)n, v3min, sizeof v3min));
    m.version = V5;
    const uint8_t v5min[] = {0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 0, 0, 0, 0};
    n = hist_mqtt_encode_connect(out, sizeof out, &m);
    CHECK(eq(out, (size_t)n, v5min, sizeof v5min));

    /* rules */
    m.clean = false;
    CHECK(hist_mqtt_encode_connect(out, sizeof out, &m) == HIST_EINVAL); /* empty id, session */
    hist_mqtt_connect_opts bad = {
        .version = V3, .client_id = "x", .password = (const uint8_t *)"p", .password_len = 1};
    CHECK(hist_mqtt_encode_connect(out, sizeof out, &bad) == HIST_EINVAL); /* password, no user */
    bad.version = V5;
    CHECK(hist_mqtt_encode_connect(out, sizeof out, &bad) > 0); /* allowed in 5 */
    bad.will_topic = "a/+";
    CHECK(hist_mqtt_encode_connect(out, sizeof out, &bad) == HIST_EINVAL);
    bad.will_topic = "a";
    bad.will_qos = 3;
    CHECK(hist_mqtt_encode_connect(out, sizeof out, &bad) == HIST_EINVAL);
    bad.version = 6;
    bad.will_qos = 0;
    CHECK(hist_mqtt_encode_connect(out, sizeof out, &bad) == HIST_EINVAL);
    static char longid[70000];
    memset(longid, 'a', sizeof longid - 1);
    hist_mqtt_connect_opts lo = {.version = V3, .client_id = longid};
    CHECK(hist_mqtt_encode_connect(NULL, 0, &lo) == HIST_EINVAL);
}

static void test_subscribe(void)
{
    uint8_t out[64];
    const char *f[] = {"a/#", "b"};
    const uint8_t v3[] = {0x82, 12, 0, 1, 0, 3, 'a', '/', '#', 1, 0, 1, 'b', 1};
    int n = hist_mqtt_encode_subscribe(out, sizeof out, V3, 1, f, 2, 1);
    CHECK(eq(out, (size_t)n, v3, sizeof v3));
    const uint8_t v5[] = {0x82, 13, 0x01, 0x02, 0, 0, 3, 'a', '/', '#', 1, 0, 1, 'b', 1};
    n = hist_mqtt_encode_subscribe(out, sizeof out, V5, 0x0102, f, 2, 1);
    CHECK(eq(out, (size_t)n, v5, sizeof v5));
    CHECK(hist_mqtt_encode_subscribe(out, sizeof out, V5, 0, f, 2, 1) == HIST_EINVAL);
    CHECK(hist_mqtt_encode_subscribe(out, sizeof out, V5, 1, f, 0, 1) == HIST_EINVAL);
    CHECK(hist_mqtt_encode_subscribe(out, sizeof out, V5, 1, f, 2, 3) == HIST_EINVAL);
    const char *empty[] = {""};
    CHECK(hist_mqtt_encode_subscribe(out, sizeof out, V5, 1, empty, 1, 1) == HIST_EINVAL);
    CHECK(hist_mqtt_encode_subscribe(out, 5, V3, 1, f, 2, 1) == HIST_ENOSPC);
}

/* one PUBLISH encoded, then decoded whole, byte by byte and at every split */
static void publish_round_trip(int version, const char *topic, size_t payload_len, uint8_t qos,
                               bool retain, bool dup, bool utf8)
{
    static uint8_t payload[4000], out[4100];
    for (size_t i = 0; i < payload_len; i++)
        payload[i] = (uint8_t)(i * 7 + 3);
    hist_mqtt_publish_msg m = {.topic = topic,
                               .payload = payload,
                               .payload_len = payload_len,
                               .qos = qos,
                               .retain = retain,
                               .dup = dup,
                               .packet_id = 0xBEEF,
                               .utf8 = utf8};
    int n = hist_mqtt_encode_publish(out, sizeof out, version, &m);
    REQUIRE(n > 0);
    CHECK(hist_mqtt_encode_publish(NULL, 0, version, &m) == n);
    size_t steps[] = {0, 1, 2, 3, 7, 64};
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        got g;
        int rc = feed(version, 0, out, (size_t)n, steps[s], &g);
        CHECKF(rc == 0 && g.count == 1, "rc %d count %d step %zu", rc, g.count, steps[s]);
        CHECK(g.p.type == HIST_MQTT_PUBLISH && g.p.qos == qos && g.p.retain == retain &&
              g.p.dup == dup && g.p.size == (uint32_t)n);
        CHECK(g.p.packet_id == (qos ? 0xBEEF : 0));
        CHECK(eq(g.topic, g.topic_len, (const uint8_t *)topic, strlen(topic)));
        CHECK(eq(g.payload, g.payload_len, payload, payload_len));
        if (steps[s] == 0)
            CHECK(g.in_input); /* whole in one input: slices into it, no copy */
        if (steps[s] == 1)
            CHECK(!g.in_input); /* assembled */
        if (version == V5 && utf8)
            CHECK(g.p.props.payload_format == 1 &&
                  (g.p.props.seen & (1u << HIST_MQTT_PROP_PAYLOAD_FORMAT)));
    }
    /* every split point into two inputs */
    for (size_t cut = 1; cut < (size_t)n && cut < 40; cut++) {
        hist_mqtt_decoder d;
        hist_mqtt_decoder_init(&d, version, 0);
        hist_mqtt_packet p;
        int r1 = hist_mqtt_feed(&d, out, cut, &p);
        CHECK(r1 == (int)cut && p.type == 0);
        int r2 = hist_mqtt_feed(&d, out + cut, (size_t)n - cut, &p);
        CHECK(r2 == n - (int)cut && p.type == HIST_MQTT_PUBLISH && p.payload.len == payload_len);
        hist_mqtt_decoder_free(&d);
    }
}

static void test_publish(void)
{
    publish_round_trip(V3, "spBv1.0/STATE/historian", 10, 1, true, false, false);
    publish_round_trip(V5, "spBv1.0/STATE/historian", 10, 1, true, false, true);
    publish_round_trip(V3, "a", 0, 0, false, false, false);
    publish_round_trip(V5, "a", 0, 0, false, false, false);
    publish_round_trip(V3, "plant/line 1/temp \xc3\xa9", 200, 1, false, true,
                       false); /* 2-byte length */
    publish_round_trip(V5, "x/y", 3000, 1, false, true, false);
    publish_round_trip(V5, "x/y", 127 - 6, 0, false, false, false); /* remaining 127, then 128 */
    publish_round_trip(V5, "x/y", 128 - 6, 0, false, false, false);

    uint8_t out[64];
    hist_mqtt_publish_msg m = {.topic = "a/#", .qos = 0};
    CHECK(hist_mqtt_encode_publish(out, sizeof out, V3, &m) == HIST_EINVAL);
    m.topic = "";
    CHECK(hist_mqtt_encode_publish(out, sizeof out, V3, &m) == HIST_EINVAL);
    m.topic = "a";
    m.qos = 1;
    CHECK(hist_mqtt_encode_publish(out, sizeof out, V3, &m) == HIST_EINVAL); /* id 0 */
    m.qos = 2;
    m.packet_id = 1;
    CHECK(hist_mqtt_encode_publish(out, sizeof out, V3, &m) == HIST_EINVAL);
    m.qos = 0;
    m.dup = true;
    CHECK(hist_mqtt_encode_publish(out, sizeof out, V3, &m) == HIST_EINVAL);
    /* a 4-byte remaining length: measured, not written */
    static uint8_t big[3000000];
    hist_mqtt_publish_msg b = {.topic = "t", .payload = big, .payload_len = sizeof big};
    int n = hist_mqtt_encode_publish(NULL, 0, V3, &b);
    CHECK(n == 1 + 4 + 3 + (int)sizeof big);
}

static void test_acks_decode(void)
{
    uint8_t out[16];
    got g;
    int n = hist_mqtt_encode_puback(out, sizeof out, V3, 9, 0);
    CHECK(feed(V3, 0, out, (size_t)n, 0, &g) == 0 && g.p.type == HIST_MQTT_PUBACK &&
          g.p.packet_id == 9 && g.p.reason == 0);
    n = hist_mqtt_encode_puback(out, sizeof out, V5, 9, 0x10);
    CHECK(feed(V5, 0, out, (size_t)n, 1, &g) == 0 && g.p.type == HIST_MQTT_PUBACK &&
          g.p.packet_id == 9 && g.p.reason == 0x10);
    /* v5 PUBACK with a reason string property */
    CHECK(feed(V5, 0, BYTES(0x40, 8, 0, 9, 0x80, 4, 0x1F, 0, 1, 'x'), 0, &g) == 0 &&
          g.p.reason == 0x80 && g.p.props.reason_string.len == 1);
    n = hist_mqtt_encode_disconnect(out, sizeof out, V5, 0x8E);
    CHECK(feed(V5, 0, out, (size_t)n, 0, &g) == 0 && g.p.type == HIST_MQTT_DISCONNECT &&
          g.p.reason == 0x8E);
    CHECK(feed(V5, 0, BYTES(0xE0, 0), 0, &g) == 0 && g.p.type == HIST_MQTT_DISCONNECT &&
          g.p.reason == 0);
    /* DISCONNECT with Session Expiry and Server Reference */
    CHECK(feed(V5, 0, BYTES(0xE0, 12, 0x9C, 10, 0x11, 0, 0, 0, 5, 0x1C, 0, 2, 'h', '2'), 0, &g) ==
              0 &&
          g.p.reason == 0x9C && g.p.props.session_expiry_s == 5 &&
          g.p.props.server_reference.len == 2);
}

static void test_broker_packets(void)
{
    got g;
    /* CONNACK 3.1.1: session present, accepted; refused (5 not authorized) */
    CHECK(feed(V3, 0, BYTES(0x20, 2, 1, 0), 0, &g) == 0 && g.p.type == HIST_MQTT_CONNACK &&
          g.p.session_present && g.p.reason == 0);
    CHECK(feed(V3, 0, BYTES(0x20, 2, 0, 5), 0, &g) == 0 && !g.p.session_present && g.p.reason == 5);
    /* CONNACK 5 with properties: Receive Maximum 20, Maximum QoS 1, Assigned
     * Client Identifier "abc", a User Property, Server Keep Alive 15,
     * Retain Available 1, Maximum Packet Size 1000, Topic Alias Maximum 10,
     * Session Expiry 60, Wildcard/SubId/Shared available */
    const uint8_t c5[] = {0x20, 45,  0x00, 0x00, 42,   0x21, 0, 20,   0x24, 1,    0x12, 0,
                          3,    'a', 'b',  'c',  0x26, 0,    1, 'k',  0,    1,    'v',  0x13,
                          0,    15,  0x25, 1,    0x27, 0,    0, 3,    0xE8, 0x22, 0,    10,
                          0x11, 0,   0,    0,    60,   0x28, 1, 0x29, 0,    0x2A, 1};
    int rc = feed(V5, 0, c5, sizeof c5, 0, &g);
    CHECKF(rc == 0, "rc %d", rc);
    CHECK(g.p.type == HIST_MQTT_CONNACK && !g.p.session_present && g.p.reason == 0);
    CHECK(g.p.props.receive_max == 20 && g.p.props.max_qos == 1 &&
          g.p.props.assigned_client_id.len == 3 && g.p.props.server_keep_alive_s == 15 &&
          g.p.props.retain_available == 1 && g.p.props.max_packet == 1000 &&
          g.p.props.topic_alias_max == 10 && g.p.props.session_expiry_s == 60);
    CHECK(g.p.props.seen & (1u << HIST_MQTT_PROP_RECEIVE_MAX));
    CHECK(!(g.p.props.seen & (1u << HIST_MQTT_PROP_REASON_STRING)));
    CHECK(feed(V5, 0, c5, sizeof c5, 1, &g) == 0 && g.p.props.receive_max == 20);
    /* CONNACK 5 refused: 0x86 bad user name or password */
    CHECK(feed(V5, 0, BYTES(0x20, 3, 0, 0x86, 0), 0, &g) == 0 && g.p.reason == 0x86);
    /* SUBACK: granted 1 and a failure */
    CHECK(feed(V3, 0, BYTES(0x90, 4, 0, 1, 1, 0x80), 0, &g) == 0 && g.p.type == HIST_MQTT_SUBACK &&
          g.p.packet_id == 1 && eq(g.codes, g.codes_len, BYTES(1, 0x80)));
    CHECK(feed(V5, 0, BYTES(0x90, 9, 0, 2, 4, 0x1F, 0, 1, 'n', 0x01, 0x87), 0, &g) == 0 &&
          eq(g.codes, g.codes_len, BYTES(1, 0x87)) && g.p.props.reason_string.len == 1);
    /* UNSUBACK, PINGRESP */
    CHECK(feed(V3, 0, BYTES(0xB0, 2, 0, 3), 0, &g) == 0 && g.p.type == HIST_MQTT_UNSUBACK &&
          g.p.packet_id == 3);
    CHECK(feed(V5, 0, BYTES(0xB0, 4, 0, 3, 0, 0x11), 0, &g) == 0 && g.codes_len == 1);
    CHECK(feed(V3, 0, BYTES(0xD0, 0), 0, &g) == 0 && g.p.type == HIST_MQTT_PINGRESP &&
          g.p.size == 2);
    /* v5 PUBLISH with Message Expiry, two Subscription Identifiers, a User
     * Property, Content Type, Response Topic, Correlation Data */
    const uint8_t p5[] = {0x32, 38,   0,    3,    'a',  '/', 'b',  0, 7, 28,  0x02, 0,  0,    0,
                          9,    0x0B, 0x81, 0x01, 0x0B, 2,   0x26, 0, 1, 'k', 0,    0,  0x03, 0,
                          1,    'j',  0x08, 0,    1,    'r', 0x09, 0, 1, 1,   'h',  'i'};
    rc = feed(V5, 0, p5, sizeof p5, 0, &g);
    CHECKF(rc == 0, "rc %d", rc);
    CHECK(g.p.type == HIST_MQTT_PUBLISH && g.p.packet_id == 7 && g.p.props.message_expiry_s == 9 &&
          g.p.props.subscription_id == 129 && g.p.props.content_type.len == 1 &&
          eq(g.payload, g.payload_len, (const uint8_t *)"hi", 2));
    /* several packets in one input, then split anyhow */
    const uint8_t many[] = {0x20, 2,   0,    0, 0x90, 3, 0, 1, 1,   0x30, 4, 0,  1,
                            'a',  'z', 0xD0, 0, 0x32, 6, 0, 1, 'b', 0,    5, 'q'};
    for (size_t step = 0; step < 9; step++) {
        CHECK(feed(V3, 0, many, sizeof many, step, &g) == 0 && g.count == 5 &&
              g.p.type == HIST_MQTT_PUBLISH && g.p.packet_id == 5 && g.payload_len == 1);
    }
}

static void test_hostile(void)
{
    got g;
    /* the remaining length: a fifth byte; not minimal; cut short */
    CHECK(feed(V3, 0, BYTES(0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01), 0, &g) == HIST_EPROTO);
    CHECK(feed(V3, 0, BYTES(0xD0, 0x80, 0x00), 0, &g) == HIST_EPROTO);
    CHECK(feed(V3, 0, BYTES(0x30, 0x80), 0, &g) == -101); /* incomplete */
    /* the largest 4-byte length is too big for the default 1 MiB */
    CHECK(feed(V3, 0, BYTES(0x30, 0xFF, 0xFF, 0xFF, 0x7F), 0, &g) == HIST_ETOOBIG);
    /* oversized, known from the header alone (3 of 203 bytes fed) */
    CHECK(feed(V3, 100, BYTES(0x30, 0xC8, 0x01), 0, &g) == HIST_ETOOBIG);
    CHECK(feed(V3, 100, BYTES(0x30, 98, 0, 1, 'a'), 0, &g) == -101); /* 100: fits */
    /* lengths past the end: the topic's, the packet id's, the properties' */
    CHECK(feed(V3, 0, BYTES(0x30, 4, 0, 9, 'a', 'b'), 0, &g) == HIST_EPROTO);
    CHECK(feed(V3, 0, BYTES(0x32, 4, 0, 1, 'a', 0), 0, &g) == HIST_EPROTO);
    CHECK(feed(V5, 0, BYTES(0x30, 5, 0, 1, 'a', 9, 0), 0, &g) == HIST_EPROTO);
    CHECK(feed(V5, 0, BYTES(0x30, 6, 0, 1, 'a', 2, 0x03, 0), 0, &g) ==
          HIST_EPROTO);                                                        /* string cut */
    CHECK(feed(V5, 0, BYTES(0x30, 4, 0, 1, 'a', 0x80), 0, &g) == HIST_EPROTO); /* varint cut */
    /* property ids: unknown, not for this packet, repeated, bad values */
    CHECK(feed(V5, 0, BYTES(0x30, 6, 0, 1, 'a', 2, 0x7F, 0), 0, &g) == HIST_EPROTO);
    CHECK(feed(V5, 0, BYTES(0x30, 6, 0, 1, 'a', 2, 0x00, 0), 0, &g) == HIST_EPROTO);
    CHECK(feed(V5, 0, BYTES(0x30, 7, 0, 1, 'a', 3, 0x21, 0, 5), 0, &g) == HIST_EPROTO);
    CHECK(feed(V5, 0, BYTES(0x30, 8, 0, 1, 'a', 4, 0x01, 0, 0x01, 1), 0, &g) == HIST_EPROTO);
    CHECK(feed(V5, 0, BYTES(0x30, 6, 0, 1, 'a', 2, 0x01, 2), 0, &g) == HIST_EPROTO);
    CHECK(feed(V5, 0, BYTES(0x30, 6, 0, 1, 'a', 2, 0x0B, 0), 0, &g) == HIST_EPROTO); /* sub id 0 */
    CHECK(feed(V5, 0, BYTES(0x30, 7, 0, 1, 'a', 3, 0x23, 0, 1), 0, &g) == HIST_EPROTO); /* alias */
    CHECK(feed(V5, 0, BYTES(0x20, 6, 0, 0, 3, 0x21, 0, 0), 0, &g) == HIST_EPROTO); /* rcv max 0 */
    CHECK(feed(V5, 0, BYTES(0x20, 8, 0, 0, 5, 0x27, 0, 0, 0, 0), 0, &g) == HIST_EPROTO);
    CHECK(feed(V5, 0, BYTES(0x20, 5, 0, 0, 2, 0x24, 2), 0, &g) == HIST_EPROTO); /* max QoS 2 */
    CHECK(feed(V5, 0, BYTES(0x20, 2, 0, 0), 0, &g) == HIST_EPROTO); /* v5 needs the props length */
    CHECK(feed(V5, 0, BYTES(0x20, 4, 0, 0, 0, 0), 0, &g) == HIST_EPROTO); /* a byte past them */
    CHECK(feed(V5, 0, BYTES(0x40, 5, 0, 1, 0, 1, 0x01), 0, &g) == HIST_EPROTO); /* PUBACK prop */
    /* topics: empty, wildcards, NUL, bad UTF-8 (overlong, surrogate, cut) */
    CHECK(feed(V3, 0, BYTES(0x30, 2, 0, 0), 0, &g) == HIST_EPROTO);
    CHECK(feed(V5, 0, BYTES(0x30, 3, 0, 0, 0), 0, &g) == HIST_EPROTO);
    CHECK(feed(V3, 0, BYTES(0x30, 3, 0, 1, '#'), 0, &g) == HIST_EPROTO);
    CHECK(feed(V3, 0, BYTES(0x30, 5, 0, 3, 'a', '+', 'b'), 0, &g) == HIST_EPROTO);
    CHECK(feed(V3, 0, BYTES(0x30, 4, 0, 2, 'a', 0), 0, &g) == HIST_EPROTO);
    CHECK(feed(V3, 0, BYTES(0x30, 4, 0, 2, 0xC0, 0x80), 0, &g) == HIST_EPROTO);
    CHECK(feed(V3, 0, BYTES(0x30, 5, 0, 3, 0xED, 0xA0, 0x80), 0, &g) == HIST_EPROTO);
    CHECK(feed(V3, 0, BYTES(0x30, 4, 0, 2, 'a', 0xE2), 0, &g) == HIST_EPROTO);
    CHECK(feed(V3, 0, BYTES(0x30, 5, 0, 3, 0xE2, 0x82, 0xAC), 0, &g) == 0); /* the euro sign */
    /* packet id 0: PUBLISH QoS 1, PUBACK, SUBACK */
    CHECK(feed(V3, 0, BYTES(0x32, 5, 0, 1, 'a', 0, 0), 0, &g) == HIST_EPROTO);
    CHECK(feed(V3, 0, BYTES(0x40, 2, 0, 0), 0, &g) == HIST_EPROTO);
    CHECK(feed(V3, 0, BYTES(0x90, 3, 0, 0, 1), 0, &g) == HIST_EPROTO);
    /* QoS 2 and 3, DUP on QoS 0: refused at the first byte */
    CHECK(feed(V3, 0, BYTES(0x34), 0, &g) == HIST_EPROTO);
    CHECK(feed(V3, 0, BYTES(0x36), 0, &g) == HIST_EPROTO);
    CHECK(feed(V3, 0, BYTES(0x38), 0, &g) == HIST_EPROTO);
    /* packets a broker does not send a client here */
    const uint8_t firsts[] = {0x00, 0x10, 0x50, 0x62, 0x70, 0x82,
                              0xA2, 0xC0, 0xF0, 0x41, 0x21, 0xD1};
    for (size_t i = 0; i < sizeof firsts; i++)
        CHECKF(feed(V5, 0, &firsts[i], 1, 0, &g) == HIST_EPROTO, "first byte %02x", firsts[i]);
    CHECK(feed(V3, 0, BYTES(0xE0, 0), 0, &g) ==
          HIST_EPROTO); /* no DISCONNECT from a 3.1.1 server */
    /* wrong bodies */
    CHECK(feed(V3, 0, BYTES(0x20, 2, 2, 0), 0, &g) == HIST_EPROTO);       /* CONNACK flags */
    CHECK(feed(V3, 0, BYTES(0x20, 2, 1, 5), 0, &g) == HIST_EPROTO);       /* present + refused */
    CHECK(feed(V3, 0, BYTES(0x20, 2, 0, 6), 0, &g) == HIST_EPROTO);       /* return code 6 */
    CHECK(feed(V3, 0, BYTES(0x20, 3, 0, 0, 0), 0, &g) == HIST_EPROTO);    /* a byte too many */
    CHECK(feed(V3, 0, BYTES(0x20, 1, 0), 0, &g) == HIST_EPROTO);          /* a byte short */
    CHECK(feed(V5, 0, BYTES(0x20, 3, 0, 0x05, 0), 0, &g) == HIST_EPROTO); /* v5 code < 0x80 */
    CHECK(feed(V3, 0, BYTES(0xD0, 1, 0), 0, &g) == HIST_EPROTO);          /* PINGRESP body */
    CHECK(feed(V3, 0, BYTES(0x40, 3, 0, 1, 0), 0, &g) == HIST_EPROTO);    /* 3.1.1 PUBACK + 1 */
    CHECK(feed(V3, 0, BYTES(0x90, 3, 0, 1, 3), 0, &g) == HIST_EPROTO);    /* SUBACK code 3 */
    CHECK(feed(V3, 0, BYTES(0x90, 3, 0, 1, 0x87), 0, &g) == HIST_EPROTO); /* a v5 code in 3.1.1 */
    CHECK(feed(V3, 0, BYTES(0x90, 2, 0, 1), 0, &g) == HIST_EPROTO);       /* no codes */
    CHECK(feed(V3, 0, BYTES(0xB0, 3, 0, 1, 0), 0, &g) == HIST_EPROTO);    /* 3.1.1 UNSUBACK + 1 */
    CHECK(feed(V5, 0, BYTES(0xB0, 3, 0, 1, 0), 0, &g) == HIST_EPROTO);    /* v5: no codes */

    /* errors are sticky until reset; reset starts a new stream */
    hist_mqtt_decoder d;
    hist_mqtt_packet p;
    CHECK(hist_mqtt_decoder_init(&d, 3, 0) == HIST_EINVAL);
    CHECK(hist_mqtt_decoder_init(&d, V3, HIST_MQTT_PACKET_MAX + 1) == HIST_EINVAL);
    CHECK_OK(hist_mqtt_decoder_init(&d, V3, 0));
    CHECK(hist_mqtt_feed(&d, (const uint8_t *)"\x30\x04\x00", 3, &p) == 3 && p.type == 0);
    CHECK(hist_mqtt_feed(&d,
                         (const uint8_t *)"\x00"
                                          "ab",
                         3, &p) == HIST_EPROTO); /* empty topic */
    CHECK(hist_mqtt_feed(&d, (const uint8_t *)"\xD0\x00", 2, &p) == HIST_EPROTO);
    hist_mqtt_decoder_reset(&d);
    CHECK(hist_mqtt_feed(&d, (const uint8_t *)"\xD0\x00", 2, &p) == 2 &&
          p.type == HIST_MQTT_PINGRESP);
    CHECK(hist_mqtt_feed(&d, (const uint8_t *)"", 0, &p) == 0 && p.type == 0);
    hist_mqtt_decoder_free(&d);
}

int main(void)
{
    test_small_encoders();
    test_connect();
    test_subscribe();
    test_publish();
    test_acks_decode();
    test_broker_packets();
    test_hostile();
    return check_summary();
}
