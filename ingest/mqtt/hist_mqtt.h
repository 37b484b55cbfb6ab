/*
 * hist_mqtt.h: the MQTT client protocol (3.1.1 and 5), pure: bytes in,
 * bytes out, no sockets, no clock, no threads. The door of ingest/mqtt/
 * (library hist_mqtt, on hist_common only); a later step runs it on libuv
 * inside historiand.
 *
 * Four parts:
 *   - encoders of what a client sends: CONNECT, SUBSCRIBE, PUBLISH (QoS 0
 *     and 1), PUBACK, PINGREQ, DISCONNECT;
 *   - an incremental decoder of what a broker sends: CONNACK, PUBLISH
 *     (QoS 0 and 1), PUBACK, SUBACK, UNSUBACK, PINGRESP, DISCONNECT (v5);
 *   - the in-order ack tracker: PUBACKs leave strictly in receive order and
 *     only for messages that are durable, with every earlier one;
 *   - the keep-alive clock (when to PINGREQ, when the broker is dead).
 *
 * Errors are negative codes from common/hist_error.h: HIST_EINVAL (an
 * argument breaks a rule), HIST_ENOSPC (the output buffer is too small, or
 * the ack window is full), HIST_EPROTO (the broker's bytes are malformed or
 * break the protocol: close the connection), HIST_ETOOBIG (a packet over
 * the decoder's maximum), HIST_ENOMEM.
 *
 * QoS 2 is refused, not handled: we subscribe with QoS 1, so the broker
 * sends at most QoS 1 (it downgrades, MQTT 3.1.1 §3.8.4 / 5.0 §3.8.4); a
 * QoS 2 PUBLISH, PUBREC, PUBREL or PUBCOMP from it is HIST_EPROTO.
 */
#ifndef HIST_INGEST_MQTT_H
#define HIST_INGEST_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hist_error.h"

enum { HIST_MQTT_V311 = 4, HIST_MQTT_V5 = 5 }; /* the protocol level byte */

/* Control packet types (the high nibble of the first byte). */
enum {
    HIST_MQTT_CONNECT = 1,
    HIST_MQTT_CONNACK = 2,
    HIST_MQTT_PUBLISH = 3,
    HIST_MQTT_PUBACK = 4,
    HIST_MQTT_PUBREC = 5,
    HIST_MQTT_PUBREL = 6,
    HIST_MQTT_PUBCOMP = 7,
    HIST_MQTT_SUBSCRIBE = 8,
    HIST_MQTT_SUBACK = 9,
    HIST_MQTT_UNSUBSCRIBE = 10,
    HIST_MQTT_UNSUBACK = 11,
    HIST_MQTT_PINGREQ = 12,
    HIST_MQTT_PINGRESP = 13,
    HIST_MQTT_DISCONNECT = 14,
    HIST_MQTT_AUTH = 15,
};

/* The largest remaining length a 4-byte varint holds, and so the largest
 * packet (1 type byte + 4 length bytes + that). */
#define HIST_MQTT_REMAINING_MAX 268435455u
#define HIST_MQTT_PACKET_MAX    (HIST_MQTT_REMAINING_MAX + 5u)

/* Bytes that belong to someone else: see each use for how long they live. */
typedef struct {
    const uint8_t *ptr;
    size_t len;
} hist_mqtt_slice;

/* ---- encoders --------------------------------------------------------
 * Each writes one whole packet to out[0..cap) and returns its length
 * (> 0); with out == NULL it writes nothing and returns the length the
 * packet needs. HIST_ENOSPC when cap is too small (nothing written),
 * HIST_EINVAL when an argument breaks a protocol rule (a string over
 * 65,535 bytes, an empty topic, a wildcard in a topic name, packet id 0
 * where one is required, a packet over HIST_MQTT_REMAINING_MAX). Strings
 * are NUL-terminated; NULL means absent where a field is optional. */

typedef struct {
    int version;               /* HIST_MQTT_V311 or HIST_MQTT_V5 */
    const char *client_id;     /* "" lets the broker assign one (needs clean) */
    bool clean;                /* 3.1.1 Clean Session / 5 Clean Start */
    uint16_t keep_alive_s;     /* 0: no keep alive */
    uint32_t session_expiry_s; /* v5 Session Expiry Interval; 0: absent (the
                                  session ends with the connection) */
    uint16_t receive_max;      /* v5 Receive Maximum; 0: absent (65,535) */
    uint32_t max_packet;       /* v5 Maximum Packet Size; 0: absent (no limit) */
    const char *username;      /* NULL: none */
    const uint8_t *password;   /* NULL: none (3.1.1: needs a username) */
    size_t password_len;
    const char *will_topic; /* NULL: no will */
    const uint8_t *will_payload;
    size_t will_payload_len;
    uint8_t will_qos; /* 0..2 */
    bool will_retain;
} hist_mqtt_connect_opts;

int hist_mqtt_encode_connect(uint8_t *out, size_t cap, const hist_mqtt_connect_opts *o);

/* SUBSCRIBE of n >= 1 filters, all with the same maximum QoS (0..2; we
 * use 1). v5 subscription options: No Local 0, Retain As Published 0,
 * Retain Handling 0 (send retained messages at subscribe). */
int hist_mqtt_encode_subscribe(uint8_t *out, size_t cap, int version, uint16_t packet_id,
                               const char *const *filters, size_t n, uint8_t qos);

typedef struct {
    const char *topic; /* a topic name: no '+' or '#' */
    const uint8_t *payload;
    size_t payload_len;
    uint8_t qos; /* 0 or 1 */
    bool retain, dup;
    uint16_t packet_id; /* QoS 1: non-zero; QoS 0: ignored */
    bool utf8;          /* v5: Payload Format Indicator 1 (UTF-8 text) */
} hist_mqtt_publish_msg;

int hist_mqtt_encode_publish(uint8_t *out, size_t cap, int version, const hist_mqtt_publish_msg *m);

/* PUBACK; reason (v5 reason code, 0 Success) must be 0 in 3.1.1. v5 with
 * reason 0 is the short form (no reason byte, MQTT 5 §3.4.2.1). */
int hist_mqtt_encode_puback(uint8_t *out, size_t cap, int version, uint16_t packet_id,
                            uint8_t reason);
int hist_mqtt_encode_pingreq(uint8_t *out, size_t cap);
/* DISCONNECT; reason as for PUBACK (v5: 0 normal, 0x04 with the will). */
int hist_mqtt_encode_disconnect(uint8_t *out, size_t cap, int version, uint8_t reason);

/* ---- decoder --------------------------------------------------------- */

/* The v5 properties the client uses; every other property a packet may
 * carry is checked (id allowed for that packet, length inside it, at most
 * once unless the spec allows more) and skipped. A slice points into the
 * packet (same lifetime as the packet's other slices). */
typedef struct {
    uint32_t seen;                /* bit (1 << HIST_MQTT_PROP_*) for each one present */
    uint32_t session_expiry_s;    /* CONNACK, DISCONNECT */
    uint16_t receive_max;         /* CONNACK: the broker's, for our PUBLISHes */
    uint8_t max_qos;              /* CONNACK */
    uint8_t retain_available;     /* CONNACK */
    uint32_t max_packet;          /* CONNACK: the broker's Maximum Packet Size */
    uint16_t topic_alias_max;     /* CONNACK */
    uint16_t server_keep_alive_s; /* CONNACK: replaces our keep alive */
    uint8_t payload_format;       /* PUBLISH */
    uint32_t message_expiry_s;    /* PUBLISH */
    uint32_t subscription_id;     /* PUBLISH: the first one */
    hist_mqtt_slice assigned_client_id, reason_string, server_reference, content_type;
} hist_mqtt_props;

enum { /* bit numbers in hist_mqtt_props.seen */
       HIST_MQTT_PROP_SESSION_EXPIRY = 0,
       HIST_MQTT_PROP_RECEIVE_MAX,
       HIST_MQTT_PROP_MAX_QOS,
       HIST_MQTT_PROP_RETAIN_AVAILABLE,
       HIST_MQTT_PROP_MAX_PACKET,
       HIST_MQTT_PROP_TOPIC_ALIAS_MAX,
       HIST_MQTT_PROP_SERVER_KEEP_ALIVE,
       HIST_MQTT_PROP_PAYLOAD_FORMAT,
       HIST_MQTT_PROP_MESSAGE_EXPIRY,
       HIST_MQTT_PROP_SUBSCRIPTION_ID,
       HIST_MQTT_PROP_ASSIGNED_CLIENT_ID,
       HIST_MQTT_PROP_REASON_STRING,
       HIST_MQTT_PROP_SERVER_REFERENCE,
       HIST_MQTT_PROP_CONTENT_TYPE,
};

/* One decoded packet. Its slices (topic, payload, codes, the properties')
 * point either into the input of the hist_mqtt_feed() call that completed
 * it (a packet wholly inside one input: no copy) or into the decoder's own
 * buffer (a packet that straddled inputs). Either way they are valid until
 * the next hist_mqtt_feed(), hist_mqtt_decoder_reset() or _free() on that
 * decoder, and never longer than the caller keeps that input: copy what
 * must outlive the packet. */
typedef struct {
    uint8_t type;  /* HIST_MQTT_*; 0: no packet completed by this call */
    uint8_t flags; /* the low nibble of the first byte */
    uint32_t size; /* the whole packet, fixed header included */
    /* CONNACK */
    bool session_present;
    uint8_t reason; /* CONNACK (3.1.1: return code 0..5), PUBACK, DISCONNECT */
    /* PUBLISH */
    uint8_t qos;
    bool dup, retain;
    uint16_t packet_id; /* PUBLISH QoS 1, PUBACK, SUBACK, UNSUBACK */
    hist_mqtt_slice topic, payload;
    /* SUBACK / UNSUBACK: one reason byte per filter, in order (SUBACK: the
     * granted QoS 0..2 or a failure code >= 0x80) */
    hist_mqtt_slice codes;
    hist_mqtt_props props; /* v5 only; zeroed in 3.1.1 */
} hist_mqtt_packet;

typedef struct {
    int version;
    uint32_t max_packet; /* the largest whole packet accepted */
    /* private */
    uint8_t hdr[5];
    uint8_t hdr_len;
    uint32_t need; /* the whole packet's size once the header is read; 0 before */
    uint8_t *buf;  /* a packet straddling inputs, assembled */
    size_t len, cap;
    int error; /* sticky: a decoder that failed stays failed until reset */
} hist_mqtt_decoder;

/* max_packet: 0 for the default (1 MiB); at most HIST_MQTT_PACKET_MAX. */
int hist_mqtt_decoder_init(hist_mqtt_decoder *d, int version, uint32_t max_packet);
void hist_mqtt_decoder_reset(hist_mqtt_decoder *d); /* a new connection */
void hist_mqtt_decoder_free(hist_mqtt_decoder *d);

/* Feeds in[0..len). Returns how many bytes it consumed (>= 0) and sets
 * p->type when a packet completed (then it stops right after that packet:
 * call again with the rest); p->type == 0 means every byte was consumed and
 * the packet is not complete yet. Negative on error (sticky): HIST_EPROTO,
 * HIST_ETOOBIG (known as soon as the length is, before the body arrives),
 * HIST_ENOMEM. Loop: while (off < n) { r = feed(d, in + off, n - off, &p);
 * if (r < 0) fail; off += r; if (p.type) handle(&p); } */
int hist_mqtt_feed(hist_mqtt_decoder *d, const uint8_t *in, size_t len, hist_mqtt_packet *p);

/* ---- the in-order ack tracker ------------------------------------------
 * Every QoS 1 PUBLISH received gets a sequence number (hist_mqtt_acks_push,
 * in receive order). The caller marks sequence numbers durable once their
 * samples are in the WAL (after a group commit: many at once, in any
 * order). hist_mqtt_acks_release() hands out the packet ids to PUBACK,
 * strictly in receive order, up to the first message that is not durable.
 *
 * INVARIANT: a PUBACK is never sent before its message and every message
 * received before it are durable. It makes the broker's session the only
 * copy of anything not yet in our WAL (the broker keeps every unacked QoS 1
 * message and redelivers it after a reconnect), and it is what MQTT
 * requires anyway: PUBACKs in the order of the PUBLISHes (3.1.1 and 5.0
 * §4.6, [MQTT-4.6.0-2]). The caller relies on it by sending exactly what
 * release() returns, in that order, and nothing else.
 *
 * Sequence numbers grow across hist_mqtt_acks_reset() (a new connection),
 * so a durable mark that arrives late for a message of an old connection
 * is recognized (HIST_ENOTFOUND) and ignored: that message's PUBACK is
 * lost with its connection, the broker redelivers it (DUP) and it is
 * written again (the same sample twice; the store keeps one). */
typedef struct {
    uint32_t window;   /* capacity: our Receive Maximum (v5) / the broker's inflight limit */
    uint64_t head;     /* seq of the oldest entry not released */
    uint64_t next;     /* seq the next push gets */
    uint16_t *ids;     /* ring of window packet ids */
    uint8_t *durable;  /* ring of window flags */
    uint64_t *pending; /* bitmap of 65,536 packet ids in flight */
} hist_mqtt_acks;

int hist_mqtt_acks_init(hist_mqtt_acks *a, uint32_t window); /* window 1..65,535 */
void hist_mqtt_acks_free(hist_mqtt_acks *a);
/* A new connection: every entry is dropped (the broker redelivers them). */
void hist_mqtt_acks_reset(hist_mqtt_acks *a);
/* A QoS 1 PUBLISH with packet_id arrived: its seq (>= 0). HIST_ENOSPC when
 * window messages wait already (the broker broke Receive Maximum: v5
 * DISCONNECT 0x93; close the connection); HIST_EEXIST when packet_id is in
 * flight already (a redelivery of a message we hold: drop it, the
 * original's PUBACK answers both); HIST_EINVAL for packet id 0. */
int64_t hist_mqtt_acks_push(hist_mqtt_acks *a, uint16_t packet_id);
/* seq's message is durable. 0, or HIST_ENOTFOUND for a seq released
 * already, of an old connection, or never given. Marking twice is 0. */
int hist_mqtt_acks_mark(hist_mqtt_acks *a, uint64_t seq);
/* Pops the leading durable entries (at most max) into ids[], in receive
 * order: send one PUBACK for each, in that order. Returns the count. */
size_t hist_mqtt_acks_release(hist_mqtt_acks *a, uint16_t *ids, size_t max);
uint32_t hist_mqtt_acks_waiting(const hist_mqtt_acks *a); /* pushed, not released */

/* ---- keep alive --------------------------------------------------------
 * The client must send some packet within each keep-alive period (MQTT
 * §3.1.2.10): when nothing was sent for keep_alive, send a PINGREQ; when a
 * PINGREQ got no answer (no packet at all came back) within ping_timeout,
 * the broker is dead: close and reconnect. keep_alive 0 turns both off. */
typedef struct {
    uint64_t keep_alive_ms, ping_timeout_ms;
    uint64_t last_sent_ms, ping_sent_ms;
    bool ping_outstanding;
} hist_mqtt_keepalive;

enum { HIST_MQTT_KA_IDLE = 0, HIST_MQTT_KA_PING = 1, HIST_MQTT_KA_DEAD = 2 };

/* At CONNACK: keep_alive_s is ours or the broker's Server Keep Alive;
 * ping_timeout_ms 0 means keep_alive. */
void hist_mqtt_keepalive_init(hist_mqtt_keepalive *k, uint16_t keep_alive_s,
                              uint64_t ping_timeout_ms, uint64_t now_ms);
void hist_mqtt_keepalive_sent(hist_mqtt_keepalive *k, uint64_t now_ms);     /* any packet */
void hist_mqtt_keepalive_received(hist_mqtt_keepalive *k, uint64_t now_ms); /* any packet */
/* What to do now: HIST_MQTT_KA_PING (send a PINGREQ now: the clock has
 * noted it as sent and outstanding), HIST_MQTT_KA_DEAD (close), or
 * HIST_MQTT_KA_IDLE; *next_ms (may be NULL) is when to ask again
 * (UINT64_MAX: never, keep alive off). */
int hist_mqtt_keepalive_check(hist_mqtt_keepalive *k, uint64_t now_ms, uint64_t *next_ms);

#endif
