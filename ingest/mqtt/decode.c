/*
 * decode.c: the incremental decoder of the packets a broker sends to a
 * client (MQTT 3.1.1 and 5): the fixed header byte by byte (type and flags
 * checked at once, the remaining length a minimal varint of at most 4
 * bytes, the maximum packet size checked before the body arrives), then
 * the body, read in place when it lies wholly in one input and assembled
 * in the decoder's buffer (bounded by the maximum) when it straddles
 * inputs. Every field is read through mqtt_reader, which checks each
 * length against the packet's end. v5 properties: each id checked against
 * the packet type it may appear in, duplicates refused, values checked,
 * the useful ones kept, the rest skipped.
 */
#include <stdlib.h>
#include <string.h>

#include "common/hist_text.h"
#include "ingest/mqtt/mqtt_internal.h"

#define DEFAULT_MAX_PACKET (1u << 20)

int hist_mqtt_decoder_init(hist_mqtt_decoder *d, int version, uint32_t max_packet)
{
    if (version != HIST_MQTT_V311 && version != HIST_MQTT_V5)
        return HIST_EINVAL;
    if (max_packet > HIST_MQTT_PACKET_MAX)
        return HIST_EINVAL;
    memset(d, 0, sizeof *d);
    d->version = version;
    d->max_packet = max_packet ? max_packet : DEFAULT_MAX_PACKET;
    if (d->max_packet < 2)
        d->max_packet = 2; /* room for a PINGRESP at least */
    return 0;
}

void hist_mqtt_decoder_reset(hist_mqtt_decoder *d)
{
    d->hdr_len = 0;
    d->need = 0;
    d->len = 0;
    d->error = 0;
}

void hist_mqtt_decoder_free(hist_mqtt_decoder *d)
{
    free(d->buf);
    d->buf = NULL;
    d->cap = d->len = 0;
}

/* ---- v5 properties ---------------------------------------------------- */

enum { K_NONE, K_BYTE, K_U16, K_U32, K_VARINT, K_BIN, K_PAIR };

#define T(type) (1u << HIST_MQTT_##type)
#define ACKS    (T(PUBACK) | T(SUBACK) | T(UNSUBACK))

/* by property id: its value's kind and the packets (received by a client)
 * it may appear in; one not listed (kind K_NONE) is malformed */
static const struct {
    uint8_t kind;
    uint16_t in;
} props_table[0x2B] = {
    [MQTT_P_PAYLOAD_FORMAT] = {K_BYTE, T(PUBLISH)},
    [MQTT_P_MESSAGE_EXPIRY] = {K_U32, T(PUBLISH)},
    [MQTT_P_CONTENT_TYPE] = {K_BIN, T(PUBLISH)},
    [MQTT_P_RESPONSE_TOPIC] = {K_BIN, T(PUBLISH)},
    [MQTT_P_CORRELATION_DATA] = {K_BIN, T(PUBLISH)},
    [MQTT_P_SUBSCRIPTION_ID] = {K_VARINT, T(PUBLISH)},
    [MQTT_P_SESSION_EXPIRY] = {K_U32, T(CONNACK) | T(DISCONNECT)},
    [MQTT_P_ASSIGNED_CLIENT_ID] = {K_BIN, T(CONNACK)},
    [MQTT_P_SERVER_KEEP_ALIVE] = {K_U16, T(CONNACK)},
    [MQTT_P_AUTH_METHOD] = {K_BIN, T(CONNACK)},
    [MQTT_P_AUTH_DATA] = {K_BIN, T(CONNACK)},
    [MQTT_P_RESPONSE_INFO] = {K_BIN, T(CONNACK)},
    [MQTT_P_SERVER_REFERENCE] = {K_BIN, T(CONNACK) | T(DISCONNECT)},
    [MQTT_P_REASON_STRING] = {K_BIN, T(CONNACK) | ACKS | T(DISCONNECT)},
    [MQTT_P_RECEIVE_MAX] = {K_U16, T(CONNACK)},
    [MQTT_P_TOPIC_ALIAS_MAX] = {K_U16, T(CONNACK)},
    [MQTT_P_TOPIC_ALIAS] = {K_U16, T(PUBLISH)},
    [MQTT_P_MAX_QOS] = {K_BYTE, T(CONNACK)},
    [MQTT_P_RETAIN_AVAILABLE] = {K_BYTE, T(CONNACK)},
    [MQTT_P_USER_PROPERTY] = {K_PAIR, T(CONNACK) | T(PUBLISH) | ACKS | T(DISCONNECT)},
    [MQTT_P_MAX_PACKET] = {K_U32, T(CONNACK)},
    [MQTT_P_WILDCARD_SUB_AVAILABLE] = {K_BYTE, T(CONNACK)},
    [MQTT_P_SUB_ID_AVAILABLE] = {K_BYTE, T(CONNACK)},
    [MQTT_P_SHARED_SUB_AVAILABLE] = {K_BYTE, T(CONNACK)},
};

static void keep(hist_mqtt_props *pr, int bit)
{
    pr->seen |= 1u << bit;
}

/* One packet's property list: its length, then the properties, all inside
 * r; on success r stands after them. */
static int read_props(mqtt_reader *r, uint8_t type, hist_mqtt_props *pr)
{
    uint32_t n;
    if (mqtt_get_varint(r, &n) < 0 || n > mqtt_left(r))
        return HIST_EPROTO;
    mqtt_reader pr_r = {r->p, r->p + n};
    r->p += n;
    uint64_t seen = 0;
    while (mqtt_left(&pr_r)) {
        uint32_t id; /* a varint in the spec; every id defined fits in one byte */
        if (mqtt_get_varint(&pr_r, &id) < 0 || id >= sizeof props_table / sizeof props_table[0])
            return HIST_EPROTO;
        if (props_table[id].kind == K_NONE || !(props_table[id].in & (1u << type)))
            return HIST_EPROTO; /* not a property of this packet */
        if ((seen & (1ull << id)) && id != MQTT_P_USER_PROPERTY && id != MQTT_P_SUBSCRIPTION_ID)
            return HIST_EPROTO; /* "more than once is a Protocol Error" */
        seen |= 1ull << id;
        uint8_t b = 0;
        uint16_t u16 = 0;
        uint32_t u32 = 0;
        hist_mqtt_slice s = {0}, s2;
        int bad = 0;
        switch (props_table[id].kind) {
        case K_BYTE:
            bad = mqtt_get_u8(&pr_r, &b) < 0 || b > 1;
            break; /* every byte property is 0/1 */
        case K_U16:
            bad = mqtt_get_u16(&pr_r, &u16) < 0;
            break;
        case K_U32:
            bad = mqtt_get_u32(&pr_r, &u32) < 0;
            break;
        case K_VARINT:
            bad = mqtt_get_varint(&pr_r, &u32) < 0;
            break;
        case K_BIN:
            bad = mqtt_get_bin(&pr_r, &s) < 0;
            break;
        case K_PAIR:
            bad = mqtt_get_bin(&pr_r, &s) < 0 || mqtt_get_bin(&pr_r, &s2) < 0;
            break;
        }
        if (bad)
            return HIST_EPROTO;
        switch (id) {
        case MQTT_P_PAYLOAD_FORMAT:
            pr->payload_format = b;
            keep(pr, HIST_MQTT_PROP_PAYLOAD_FORMAT);
            break;
        case MQTT_P_MESSAGE_EXPIRY:
            pr->message_expiry_s = u32;
            keep(pr, HIST_MQTT_PROP_MESSAGE_EXPIRY);
            break;
        case MQTT_P_CONTENT_TYPE:
            pr->content_type = s;
            keep(pr, HIST_MQTT_PROP_CONTENT_TYPE);
            break;
        case MQTT_P_SUBSCRIPTION_ID:
            if (u32 == 0)
                return HIST_EPROTO; /* 1..268,435,455 */
            if (!(pr->seen & (1u << HIST_MQTT_PROP_SUBSCRIPTION_ID)))
                pr->subscription_id = u32;
            keep(pr, HIST_MQTT_PROP_SUBSCRIPTION_ID);
            break;
        case MQTT_P_SESSION_EXPIRY:
            pr->session_expiry_s = u32;
            keep(pr, HIST_MQTT_PROP_SESSION_EXPIRY);
            break;
        case MQTT_P_ASSIGNED_CLIENT_ID:
            pr->assigned_client_id = s;
            keep(pr, HIST_MQTT_PROP_ASSIGNED_CLIENT_ID);
            break;
        case MQTT_P_SERVER_KEEP_ALIVE:
            pr->server_keep_alive_s = u16;
            keep(pr, HIST_MQTT_PROP_SERVER_KEEP_ALIVE);
            break;
        case MQTT_P_SERVER_REFERENCE:
            pr->server_reference = s;
            keep(pr, HIST_MQTT_PROP_SERVER_REFERENCE);
            break;
        case MQTT_P_REASON_STRING:
            pr->reason_string = s;
            keep(pr, HIST_MQTT_PROP_REASON_STRING);
            break;
        case MQTT_P_RECEIVE_MAX:
            if (u16 == 0)
                return HIST_EPROTO; /* "a value of 0 is a Protocol Error" */
            pr->receive_max = u16;
            keep(pr, HIST_MQTT_PROP_RECEIVE_MAX);
            break;
        case MQTT_P_TOPIC_ALIAS_MAX:
            pr->topic_alias_max = u16;
            keep(pr, HIST_MQTT_PROP_TOPIC_ALIAS_MAX);
            break;
        case MQTT_P_TOPIC_ALIAS:
            /* we send no Topic Alias Maximum, so ours is 0 and a server
             * may send no alias (5.0 §3.3.2.3.4) */
            return HIST_EPROTO;
        case MQTT_P_MAX_QOS:
            pr->max_qos = b;
            keep(pr, HIST_MQTT_PROP_MAX_QOS);
            break;
        case MQTT_P_RETAIN_AVAILABLE:
            pr->retain_available = b;
            keep(pr, HIST_MQTT_PROP_RETAIN_AVAILABLE);
            break;
        case MQTT_P_MAX_PACKET:
            if (u32 == 0)
                return HIST_EPROTO;
            pr->max_packet = u32;
            keep(pr, HIST_MQTT_PROP_MAX_PACKET);
            break;
        default:
            break; /* checked and skipped */
        }
    }
    return 0;
}

/* ---- packet bodies ---------------------------------------------------- */

/* A topic name as received: not empty, no wildcard, no NUL, well-formed
 * UTF-8 without surrogates (MQTT 1.5.4, 3.3.2.1). */
static int topic_ok(const uint8_t *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        if (c == 0 || c == '+' || c == '#')
            return 0;
        size_t k = hist_utf8_len(s + i, n - i);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

static int suback_code_ok(int version, uint8_t c)
{
    if (c <= 2 || c == 0x80)
        return 1;
    if (version != HIST_MQTT_V5)
        return 0;
    switch (c) {
    case 0x83:
    case 0x87:
    case 0x8F:
    case 0x91:
    case 0x97:
    case 0x9E:
    case 0xA1:
    case 0xA2:
        return 1;
    }
    return 0;
}

/* the first byte: a packet a broker may send this client, with its flags */
static int first_byte_ok(int version, uint8_t b)
{
    uint8_t type = b >> 4, flags = b & 0x0f;
    switch (type) {
    case HIST_MQTT_PUBLISH: {
        uint8_t qos = (flags >> 1) & 3;
        return qos <= 1 && !(qos == 0 && (flags & 0x08)); /* QoS 2 refused; DUP needs QoS > 0 */
    }
    case HIST_MQTT_CONNACK:
    case HIST_MQTT_PUBACK:
    case HIST_MQTT_SUBACK:
    case HIST_MQTT_UNSUBACK:
    case HIST_MQTT_PINGRESP:
        return flags == 0;
    case HIST_MQTT_DISCONNECT:
        return flags == 0 && version == HIST_MQTT_V5;
    default:
        return 0; /* client packets, QoS 2 flows, AUTH, reserved 0 */
    }
}

static int parse_body(int version, uint8_t first, const uint8_t *body, size_t len,
                      hist_mqtt_packet *p)
{
    const bool v5 = version == HIST_MQTT_V5;
    mqtt_reader r = {body, body + len};
    uint8_t type = first >> 4;
    int rc;
    switch (type) {
    case HIST_MQTT_CONNACK: {
        uint8_t flags;
        if (mqtt_get_u8(&r, &flags) < 0 || mqtt_get_u8(&r, &p->reason) < 0 || (flags & 0xfe))
            return HIST_EPROTO;
        p->session_present = flags & 1;
        if (p->session_present && p->reason)
            return HIST_EPROTO; /* MQTT-3.2.2-4, MQTT-3.2.2-6 */
        if (!v5 && p->reason > 5)
            return HIST_EPROTO;
        if (v5 && p->reason && p->reason < 0x80)
            return HIST_EPROTO;
        if (v5 && (rc = read_props(&r, type, &p->props)) < 0)
            return rc;
        break;
    }
    case HIST_MQTT_PUBLISH: {
        if (mqtt_get_bin(&r, &p->topic) < 0 || !topic_ok(p->topic.ptr, p->topic.len))
            return HIST_EPROTO;
        if (p->qos && (mqtt_get_u16(&r, &p->packet_id) < 0 || p->packet_id == 0))
            return HIST_EPROTO; /* MQTT-2.3.1-1 */
        if (v5 && (rc = read_props(&r, type, &p->props)) < 0)
            return rc;
        p->payload.ptr = r.p;
        p->payload.len = mqtt_left(&r);
        r.p = r.end;
        break;
    }
    case HIST_MQTT_PUBACK:
        if (mqtt_get_u16(&r, &p->packet_id) < 0 || p->packet_id == 0)
            return HIST_EPROTO;
        if (v5 && mqtt_left(&r)) { /* reason and properties may be left out */
            (void)mqtt_get_u8(&r, &p->reason);
            if (mqtt_left(&r) && (rc = read_props(&r, type, &p->props)) < 0)
                return rc;
        }
        break;
    case HIST_MQTT_SUBACK:
    case HIST_MQTT_UNSUBACK:
        if (mqtt_get_u16(&r, &p->packet_id) < 0 || p->packet_id == 0)
            return HIST_EPROTO;
        if (v5 && (rc = read_props(&r, type, &p->props)) < 0)
            return rc;
        p->codes.ptr = r.p;
        p->codes.len = mqtt_left(&r);
        r.p = r.end;
        if (type == HIST_MQTT_SUBACK) {
            if (p->codes.len == 0)
                return HIST_EPROTO;
            for (size_t i = 0; i < p->codes.len; i++)
                if (!suback_code_ok(version, p->codes.ptr[i]))
                    return HIST_EPROTO;
        } else if (v5 ? p->codes.len == 0 : p->codes.len != 0) {
            return HIST_EPROTO; /* 3.1.1's UNSUBACK has no payload, 5's one code a filter */
        }
        break;
    case HIST_MQTT_PINGRESP:
        break;
    case HIST_MQTT_DISCONNECT: /* v5 only (first_byte_ok) */
        if (mqtt_left(&r)) {
            (void)mqtt_get_u8(&r, &p->reason);
            if (mqtt_left(&r) && (rc = read_props(&r, type, &p->props)) < 0)
                return rc;
        }
        break;
    default:
        return HIST_EPROTO;
    }
    return mqtt_left(&r) ? HIST_EPROTO : 0; /* bytes past the last field */
}

static int complete(hist_mqtt_decoder *d, const uint8_t *body, size_t len, hist_mqtt_packet *p)
{
    uint8_t first = d->hdr[0];
    memset(p, 0, sizeof *p);
    p->flags = first & 0x0f;
    p->size = d->need;
    if ((first >> 4) == HIST_MQTT_PUBLISH) {
        p->qos = (first >> 1) & 3;
        p->dup = (first & 0x08) != 0;
        p->retain = first & 1;
    }
    int rc = parse_body(d->version, first, body, len, p);
    d->hdr_len = 0;
    d->need = 0;
    d->len = 0;
    if (rc < 0) {
        memset(p, 0, sizeof *p);
        return rc;
    }
    p->type = first >> 4;
    return 0;
}

static int fail(hist_mqtt_decoder *d, int rc)
{
    d->error = rc;
    return rc;
}

int hist_mqtt_feed(hist_mqtt_decoder *d, const uint8_t *in, size_t len, hist_mqtt_packet *p)
{
    p->type = 0;
    if (d->error)
        return d->error;
    size_t used = 0;
    /* the fixed header, byte by byte */
    while (d->need == 0) {
        if (used == len)
            return (int)used;
        uint8_t b = in[used++];
        if (d->hdr_len == 0 && !first_byte_ok(d->version, b))
            return fail(d, HIST_EPROTO);
        d->hdr[d->hdr_len++] = b;
        if (d->hdr_len == 1 || (b & 0x80)) {
            if (d->hdr_len == 5)
                return fail(d, HIST_EPROTO); /* a fifth length byte */
            continue;
        }
        if (d->hdr_len > 2 && b == 0)
            return fail(d, HIST_EPROTO); /* not the shortest encoding */
        uint32_t rem = 0;
        for (int i = d->hdr_len - 1; i >= 1; i--)
            rem = rem << 7 | (d->hdr[i] & 0x7f);
        uint64_t need = (uint64_t)d->hdr_len + rem;
        if (need > d->max_packet)
            return fail(d, HIST_ETOOBIG);
        d->need = (uint32_t)need;
        d->len = 0;
    }
    size_t body = d->need - d->hdr_len, avail = len - used;
    if (d->len == 0 && avail >= body) { /* wholly in this input: in place */
        int rc = complete(d, in + used, body, p);
        return rc < 0 ? fail(d, rc) : (int)(used + body);
    }
    size_t take = body - d->len < avail ? body - d->len : avail;
    if (d->cap < body) {
        /* grow with what arrives (double, at most the body), so a header
         * announcing a large packet costs memory only as its bytes come */
        size_t want = d->len + take, cap = d->cap ? d->cap : 256;
        while (cap < want)
            cap *= 2;
        if (cap > body)
            cap = body;
        if (cap > d->cap) {
            uint8_t *nb = realloc(d->buf, cap);
            if (!nb)
                return fail(d, HIST_ENOMEM);
            d->buf = nb;
            d->cap = cap;
        }
    }
    memcpy(d->buf + d->len, in + used, take);
    d->len += take;
    used += take;
    if (d->len == body) {
        int rc = complete(d, d->buf, body, p);
        if (rc < 0)
            return fail(d, rc);
    }
    return (int)used;
}
