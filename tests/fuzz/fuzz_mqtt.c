/*
 * fuzz_mqtt.c: libFuzzer target for the MQTT decoder of ingest/mqtt/, the
 * code that reads a broker's bytes.
 *
 * Input: byte 0 picks the version (bit 0: 3.1.1 or 5), byte 1 seeds the
 * split points, the rest is the stream a broker sends. The stream is
 * decoded twice: in one input, and cut at pseudo-random points into many
 * inputs. Both must give the same packets (type, size, fields, the
 * topic's and payload's bytes) and stop with the same result, with no
 * crash and no allocation over the decoder's maximum packet size (the
 * target runs with -malloc_limit_mb as well). Every PUBLISH decoded is
 * encoded again with its topic, payload, QoS, flags and packet id and
 * decoded: the same topic and payload come back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/mqtt/hist_mqtt.h"

#define MAX_PACKET  65536
#define MAX_PACKETS 4096

typedef struct {
    uint8_t type, qos, reason, flags;
    bool dup, retain, session_present;
    uint16_t packet_id;
    uint32_t size;
    uint64_t topic_hash, payload_hash, codes_hash;
    size_t topic_len, payload_len, codes_len;
} rec;

typedef struct {
    rec r[MAX_PACKETS];
    size_t n;
    int rc;
} run;

static uint64_t fnv(hist_mqtt_slice s)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < s.len; i++)
        h = (h ^ s.ptr[i]) * 1099511628211ull;
    return h;
}

static void reencode(int version, const hist_mqtt_packet *p)
{
    static uint8_t out[MAX_PACKET + 16];
    static char topic[65536];
    memcpy(topic, p->topic.ptr, p->topic.len); /* no NUL inside: the decoder refuses one */
    topic[p->topic.len] = 0;
    hist_mqtt_publish_msg m = {.topic = topic,
                               .payload = p->payload.ptr,
                               .payload_len = p->payload.len,
                               .qos = p->qos,
                               .retain = p->retain,
                               .dup = p->dup,
                               .packet_id = p->packet_id,
                               .utf8 = p->props.payload_format == 1};
    int n = hist_mqtt_encode_publish(out, sizeof out, version, &m);
    if (n <= 0)
        abort();
    hist_mqtt_decoder d;
    hist_mqtt_packet q;
    if (hist_mqtt_decoder_init(&d, version, (uint32_t)sizeof out) < 0)
        abort();
    if (hist_mqtt_feed(&d, out, (size_t)n, &q) != n || q.type != HIST_MQTT_PUBLISH)
        abort();
    if (q.topic.len != p->topic.len || memcmp(q.topic.ptr, p->topic.ptr, p->topic.len) ||
        q.payload.len != p->payload.len ||
        (p->payload.len && memcmp(q.payload.ptr, p->payload.ptr, p->payload.len)) ||
        q.qos != p->qos || q.dup != p->dup || q.retain != p->retain || q.packet_id != p->packet_id)
        abort();
    hist_mqtt_decoder_free(&d);
}

/* cut: 0 = one input; else a xorshift seed for the piece lengths */
static void decode(int version, const uint8_t *in, size_t len, uint32_t cut, run *out, int check)
{
    hist_mqtt_decoder d;
    if (hist_mqtt_decoder_init(&d, version, MAX_PACKET) < 0)
        abort();
    out->n = 0;
    out->rc = 0;
    size_t off = 0;
    uint32_t x = cut | 1;
    while (off < len && out->rc == 0) {
        size_t piece = len - off;
        if (cut) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            size_t k = 1 + x % (x & 0x100 ? 300 : 8);
            piece = k < piece ? k : piece;
        }
        size_t used = 0;
        while (used < piece) {
            hist_mqtt_packet p;
            int r = hist_mqtt_feed(&d, in + off + used, piece - used, &p);
            if (r < 0) {
                out->rc = r;
                break;
            }
            if ((size_t)r > piece - used || d.cap > MAX_PACKET)
                abort();
            used += (size_t)r;
            if (!p.type) {
                if ((size_t)r != piece - used + (size_t)r) /* no packet: it took all */
                    abort();
                continue;
            }
            if (p.size > MAX_PACKET || p.size < 2 || out->n == MAX_PACKETS)
                abort();
            rec *e = &out->r[out->n++];
            memset(e, 0, sizeof *e);
            e->type = p.type, e->qos = p.qos, e->reason = p.reason, e->flags = p.flags;
            e->dup = p.dup, e->retain = p.retain, e->session_present = p.session_present;
            e->packet_id = p.packet_id, e->size = p.size;
            e->topic_hash = fnv(p.topic), e->topic_len = p.topic.len;
            e->payload_hash = fnv(p.payload), e->payload_len = p.payload.len;
            e->codes_hash = fnv(p.codes), e->codes_len = p.codes.len;
            if (p.type == HIST_MQTT_PUBLISH) {
                if ((p.qos == 1) != (p.packet_id != 0) || p.topic.len == 0)
                    abort();
                if (check)
                    reencode(version, &p);
            }
        }
        off += piece;
    }
    hist_mqtt_decoder_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static run whole, split;
    int version = data[0] & 1 ? HIST_MQTT_V5 : HIST_MQTT_V311;
    uint32_t seed = 0x9e3779b9u * (data[1] + 1u);
    decode(version, data + 2, size - 2, 0, &whole, 1);
    decode(version, data + 2, size - 2, seed, &split, 0);
    /* an error ends the stream: a split run may see it only after the
     * packets before it, the same ones */
    if (whole.rc != split.rc || whole.n != split.n)
        abort();
    for (size_t i = 0; i < whole.n; i++)
        if (memcmp(&whole.r[i], &split.r[i], sizeof(rec)) != 0)
            abort();
    return 0;
}
