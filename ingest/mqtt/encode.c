/*
 * encode.c: the MQTT packets a client sends (3.1.1 and 5): CONNECT,
 * SUBSCRIBE, PUBLISH (QoS 0/1), PUBACK, PINGREQ, DISCONNECT. Each encoder
 * measures the packet first, checks every length, then writes it whole or
 * not at all (out == NULL: measure only).
 */
#include <string.h>

#include "ingest/mqtt/mqtt_internal.h"

#define STR_MAX 65535u

static int version_ok(int v)
{
    return v == HIST_MQTT_V311 || v == HIST_MQTT_V5;
}

/* a topic name: 1..65,535 bytes, no wildcard, no NUL (MQTT-3.3.2-2) */
static int topic_name_ok(const char *t, size_t *len)
{
    if (!t)
        return 0;
    size_t n = strlen(t);
    if (n == 0 || n > STR_MAX || strpbrk(t, "+#"))
        return 0;
    *len = n;
    return 1;
}

/* the whole packet's size from its remaining length, or HIST_EINVAL */
static int64_t packet_size(uint64_t remaining)
{
    if (remaining > HIST_MQTT_REMAINING_MAX)
        return HIST_EINVAL;
    return (int64_t)(1 + mqtt_varint_size((uint32_t)remaining) + remaining);
}

/* the fixed header; returns where the variable header starts */
static uint8_t *put_fixed(uint8_t *p, uint8_t type, uint8_t flags, uint32_t remaining)
{
    *p++ = (uint8_t)(type << 4 | flags);
    return mqtt_put_varint(p, remaining);
}

/* 0: write; > 0: only measure (returns it); < 0: an error to return */
static int64_t room(uint8_t *out, size_t cap, int64_t size)
{
    if (size < 0)
        return size;
    if (size > INT32_MAX)
        return HIST_EINVAL;
    if (!out)
        return size;
    if ((uint64_t)size > cap)
        return HIST_ENOSPC;
    return 0;
}

int hist_mqtt_encode_connect(uint8_t *out, size_t cap, const hist_mqtt_connect_opts *o)
{
    if (!o || !version_ok(o->version) || !o->client_id)
        return HIST_EINVAL;
    const bool v5 = o->version == HIST_MQTT_V5;
    size_t id_len = strlen(o->client_id), user_len = 0, will_topic_len = 0;
    if (id_len > STR_MAX || (id_len == 0 && !o->clean))
        return HIST_EINVAL; /* MQTT-3.1.3-7: an empty id needs a clean session */
    if (o->username && (user_len = strlen(o->username)) > STR_MAX)
        return HIST_EINVAL;
    if (o->password && o->password_len > STR_MAX)
        return HIST_EINVAL;
    if (o->password && !o->username && !v5)
        return HIST_EINVAL; /* MQTT-3.1.2-22 */
    if (o->will_topic) {
        if (!topic_name_ok(o->will_topic, &will_topic_len) || o->will_qos > 2 ||
            o->will_payload_len > STR_MAX || (o->will_payload_len && !o->will_payload))
            return HIST_EINVAL;
    }
    /* v5 CONNECT properties */
    uint32_t props = 0;
    if (v5) {
        if (o->session_expiry_s)
            props += 5;
        if (o->receive_max)
            props += 3;
        if (o->max_packet)
            props += 5;
    }
    uint64_t rem = 10; /* "MQTT" name (6), level, flags, keep alive */
    if (v5)
        rem += mqtt_varint_size(props) + props;
    rem += 2 + id_len;
    if (o->will_topic)
        rem +=
            (v5 ? 1 : 0) + 2 + will_topic_len + 2 + o->will_payload_len; /* v5: empty will props */
    if (o->username)
        rem += 2 + user_len;
    if (o->password)
        rem += 2 + o->password_len;
    int64_t size = packet_size(rem), r = room(out, cap, size);
    if (r)
        return (int)r;

    uint8_t flags = 0;
    if (o->clean)
        flags |= 0x02;
    if (o->will_topic)
        flags |= (uint8_t)(0x04 | o->will_qos << 3 | (o->will_retain ? 0x20 : 0));
    if (o->password)
        flags |= 0x40;
    if (o->username)
        flags |= 0x80;
    uint8_t *p = put_fixed(out, HIST_MQTT_CONNECT, 0, (uint32_t)rem);
    p = mqtt_put_bin(p, "MQTT", 4);
    *p++ = (uint8_t)o->version;
    *p++ = flags;
    p = mqtt_put_u16(p, o->keep_alive_s);
    if (v5) {
        p = mqtt_put_varint(p, props);
        if (o->session_expiry_s) {
            *p++ = MQTT_P_SESSION_EXPIRY;
            p = mqtt_put_u32(p, o->session_expiry_s);
        }
        if (o->receive_max) {
            *p++ = MQTT_P_RECEIVE_MAX;
            p = mqtt_put_u16(p, o->receive_max);
        }
        if (o->max_packet) {
            *p++ = MQTT_P_MAX_PACKET;
            p = mqtt_put_u32(p, o->max_packet);
        }
    }
    p = mqtt_put_bin(p, o->client_id, id_len);
    if (o->will_topic) {
        if (v5)
            *p++ = 0; /* no will properties */
        p = mqtt_put_bin(p, o->will_topic, will_topic_len);
        p = mqtt_put_bin(p, o->will_payload, o->will_payload_len);
    }
    if (o->username)
        p = mqtt_put_bin(p, o->username, user_len);
    if (o->password)
        p = mqtt_put_bin(p, o->password, o->password_len);
    return (int)(p - out);
}

int hist_mqtt_encode_subscribe(uint8_t *out, size_t cap, int version, uint16_t packet_id,
                               const char *const *filters, size_t n, uint8_t qos)
{
    if (!version_ok(version) || packet_id == 0 || !filters || n == 0 || qos > 2)
        return HIST_EINVAL;
    uint64_t rem = 2 + (version == HIST_MQTT_V5 ? 1 : 0); /* packet id, v5: empty props */
    for (size_t i = 0; i < n; i++) {
        size_t len = filters[i] ? strlen(filters[i]) : 0;
        if (len == 0 || len > STR_MAX) /* MQTT-4.7.3-1: at least one character */
            return HIST_EINVAL;
        rem += 2 + len + 1;
        if (rem > HIST_MQTT_REMAINING_MAX)
            return HIST_EINVAL;
    }
    int64_t size = packet_size(rem), r = room(out, cap, size);
    if (r)
        return (int)r;
    uint8_t *p = put_fixed(out, HIST_MQTT_SUBSCRIBE, 0x02, (uint32_t)rem); /* MQTT-3.8.1-1 */
    p = mqtt_put_u16(p, packet_id);
    if (version == HIST_MQTT_V5)
        *p++ = 0;
    for (size_t i = 0; i < n; i++) {
        p = mqtt_put_bin(p, filters[i], strlen(filters[i]));
        *p++ = qos; /* v5: the options byte; No Local, RAP, Retain Handling 0 */
    }
    return (int)(p - out);
}

int hist_mqtt_encode_publish(uint8_t *out, size_t cap, int version, const hist_mqtt_publish_msg *m)
{
    size_t topic_len;
    if (!m || !version_ok(version) || !topic_name_ok(m->topic, &topic_len) || m->qos > 1)
        return HIST_EINVAL;
    if ((m->qos == 1 && m->packet_id == 0) || (m->qos == 0 && m->dup)) /* MQTT-3.3.1-2 */
        return HIST_EINVAL;
    if (m->payload_len && !m->payload)
        return HIST_EINVAL;
    const bool v5 = version == HIST_MQTT_V5;
    uint32_t props = v5 && m->utf8 ? 2 : 0;
    uint64_t rem = 2 + (uint64_t)topic_len + (m->qos ? 2 : 0) + (uint64_t)m->payload_len;
    if (v5)
        rem += mqtt_varint_size(props) + props;
    int64_t size = packet_size(rem), r = room(out, cap, size);
    if (r)
        return (int)r;
    uint8_t flags = (uint8_t)((m->dup ? 0x08 : 0) | m->qos << 1 | (m->retain ? 0x01 : 0));
    uint8_t *p = put_fixed(out, HIST_MQTT_PUBLISH, flags, (uint32_t)rem);
    p = mqtt_put_bin(p, m->topic, topic_len);
    if (m->qos)
        p = mqtt_put_u16(p, m->packet_id);
    if (v5) {
        p = mqtt_put_varint(p, props);
        if (props) {
            *p++ = MQTT_P_PAYLOAD_FORMAT;
            *p++ = 1;
        }
    }
    if (m->payload_len)
        memcpy(p, m->payload, m->payload_len);
    p += m->payload_len;
    return (int)(p - out);
}

int hist_mqtt_encode_puback(uint8_t *out, size_t cap, int version, uint16_t packet_id,
                            uint8_t reason)
{
    if (!version_ok(version) || packet_id == 0 || (version == HIST_MQTT_V311 && reason))
        return HIST_EINVAL;
    uint32_t rem = reason ? 3 : 2; /* v5 with Success: the short form */
    int64_t r = room(out, cap, packet_size(rem));
    if (r)
        return (int)r;
    uint8_t *p = put_fixed(out, HIST_MQTT_PUBACK, 0, rem);
    p = mqtt_put_u16(p, packet_id);
    if (reason)
        *p++ = reason;
    return (int)(p - out);
}

int hist_mqtt_encode_pingreq(uint8_t *out, size_t cap)
{
    int64_t r = room(out, cap, 2);
    if (r)
        return (int)r;
    out[0] = HIST_MQTT_PINGREQ << 4;
    out[1] = 0;
    return 2;
}

int hist_mqtt_encode_disconnect(uint8_t *out, size_t cap, int version, uint8_t reason)
{
    if (!version_ok(version) || (version == HIST_MQTT_V311 && reason))
        return HIST_EINVAL;
    uint32_t rem = reason ? 1 : 0;
    int64_t r = room(out, cap, packet_size(rem));
    if (r)
        return (int)r;
    uint8_t *p = put_fixed(out, HIST_MQTT_DISCONNECT, 0, rem);
    if (reason)
        *p++ = reason;
    return (int)(p - out);
}
