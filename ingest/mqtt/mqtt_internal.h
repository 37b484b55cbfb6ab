/*
 * mqtt_internal.h: what the files of ingest/mqtt/ share: the wire's
 * primitives (big-endian integers, length-prefixed strings, the
 * remaining-length varint), inline. Nothing outside ingest/mqtt/ includes
 * it (the door is hist_mqtt.h).
 *
 * Files, none calling another (each stands on this header only):
 *   encode.c     the packets a client sends
 *   decode.c     the incremental decoder of a broker's packets, v5
 *                properties
 *   acks.c       the in-order ack tracker
 *   keepalive.c  the keep-alive clock
 */
#ifndef HIST_INGEST_MQTT_INTERNAL_H
#define HIST_INGEST_MQTT_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "ingest/mqtt/hist_mqtt.h"

/* v5 property identifiers (MQTT 5.0 §2.2.2.2) */
enum {
    MQTT_P_PAYLOAD_FORMAT = 0x01,
    MQTT_P_MESSAGE_EXPIRY = 0x02,
    MQTT_P_CONTENT_TYPE = 0x03,
    MQTT_P_RESPONSE_TOPIC = 0x08,
    MQTT_P_CORRELATION_DATA = 0x09,
    MQTT_P_SUBSCRIPTION_ID = 0x0B,
    MQTT_P_SESSION_EXPIRY = 0x11,
    MQTT_P_ASSIGNED_CLIENT_ID = 0x12,
    MQTT_P_SERVER_KEEP_ALIVE = 0x13,
    MQTT_P_AUTH_METHOD = 0x15,
    MQTT_P_AUTH_DATA = 0x16,
    MQTT_P_REQUEST_PROBLEM_INFO = 0x17,
    MQTT_P_WILL_DELAY = 0x18,
    MQTT_P_REQUEST_RESPONSE_INFO = 0x19,
    MQTT_P_RESPONSE_INFO = 0x1A,
    MQTT_P_SERVER_REFERENCE = 0x1C,
    MQTT_P_REASON_STRING = 0x1F,
    MQTT_P_RECEIVE_MAX = 0x21,
    MQTT_P_TOPIC_ALIAS_MAX = 0x22,
    MQTT_P_TOPIC_ALIAS = 0x23,
    MQTT_P_MAX_QOS = 0x24,
    MQTT_P_RETAIN_AVAILABLE = 0x25,
    MQTT_P_USER_PROPERTY = 0x26,
    MQTT_P_MAX_PACKET = 0x27,
    MQTT_P_WILDCARD_SUB_AVAILABLE = 0x28,
    MQTT_P_SUB_ID_AVAILABLE = 0x29,
    MQTT_P_SHARED_SUB_AVAILABLE = 0x2A,
};

/* bytes of the remaining-length varint for n (n <= HIST_MQTT_REMAINING_MAX) */
static inline size_t mqtt_varint_size(uint32_t n)
{
    return n < 128u ? 1 : n < 16384u ? 2 : n < 2097152u ? 3 : 4;
}

static inline uint8_t *mqtt_put_varint(uint8_t *p, uint32_t n)
{
    do {
        uint8_t b = (uint8_t)(n & 0x7f);
        n >>= 7;
        *p++ = n ? (uint8_t)(b | 0x80) : b;
    } while (n);
    return p;
}

static inline uint8_t *mqtt_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static inline uint8_t *mqtt_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

/* a two-byte length, then the bytes (len <= 65,535, checked by the caller) */
static inline uint8_t *mqtt_put_bin(uint8_t *p, const void *s, size_t len)
{
    p = mqtt_put_u16(p, (uint16_t)len);
    if (len)
        memcpy(p, s, len);
    return p + len;
}

/* A bounded reader over one packet's body; every get checks its length
 * and fails (returns -1, nothing read) when it would pass the end. */
typedef struct {
    const uint8_t *p, *end;
} mqtt_reader;

static inline size_t mqtt_left(const mqtt_reader *r)
{
    return (size_t)(r->end - r->p);
}

static inline int mqtt_get_u8(mqtt_reader *r, uint8_t *v)
{
    if (mqtt_left(r) < 1)
        return -1;
    *v = *r->p++;
    return 0;
}

static inline int mqtt_get_u16(mqtt_reader *r, uint16_t *v)
{
    if (mqtt_left(r) < 2)
        return -1;
    *v = (uint16_t)((r->p[0] << 8) | r->p[1]);
    r->p += 2;
    return 0;
}

static inline int mqtt_get_u32(mqtt_reader *r, uint32_t *v)
{
    if (mqtt_left(r) < 4)
        return -1;
    *v = ((uint32_t)r->p[0] << 24) | ((uint32_t)r->p[1] << 16) | ((uint32_t)r->p[2] << 8) | r->p[3];
    r->p += 4;
    return 0;
}

/* a two-byte length and that many bytes, as a slice into the packet */
static inline int mqtt_get_bin(mqtt_reader *r, hist_mqtt_slice *s)
{
    uint16_t n;
    if (mqtt_get_u16(r, &n) < 0 || mqtt_left(r) < n) {
        return -1;
    }
    s->ptr = r->p;
    s->len = n;
    r->p += n;
    return 0;
}

/* A variable byte integer of at most 4 bytes, minimally encoded
 * (MQTT 5.0 §1.5.5, [MQTT-1.5.5-1]); -1 when cut short, too long or not
 * minimal. */
static inline int mqtt_get_varint(mqtt_reader *r, uint32_t *v)
{
    uint32_t n = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t b;
        if (mqtt_get_u8(r, &b) < 0)
            return -1;
        n |= (uint32_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (i > 0 && b == 0)
                return -1; /* a trailing zero group: not minimal */
            *v = n;
            return 0;
        }
    }
    return -1; /* a fifth byte */
}

#endif
