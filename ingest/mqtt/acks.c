/*
 * acks.c: the in-order ack tracker. A ring of `window` entries (packet id,
 * durable flag) indexed by sequence number modulo window, from head (the
 * oldest not released) to next; a 65,536-bit map of the packet ids in
 * flight catches a broker resending one we hold. The invariant it keeps
 * (hist_mqtt.h): release() hands out a packet id only when its message and
 * every earlier one are durable; so the caller's PUBACKs never run ahead
 * of the WAL, and they leave in receive order (MQTT [MQTT-4.6.0-2]).
 */
#include <stdlib.h>
#include <string.h>

#include "ingest/mqtt/mqtt_internal.h"

#define ID_WORDS (65536 / 64)

int hist_mqtt_acks_init(hist_mqtt_acks *a, uint32_t window)
{
    memset(a, 0, sizeof *a);
    if (window == 0 || window > 65535)
        return HIST_EINVAL;
    a->ids = malloc(window * sizeof *a->ids);
    a->durable = calloc(window, 1);
    a->pending = calloc(ID_WORDS, sizeof *a->pending);
    if (!a->ids || !a->durable || !a->pending) {
        hist_mqtt_acks_free(a);
        return HIST_ENOMEM;
    }
    a->window = window;
    return 0;
}

void hist_mqtt_acks_free(hist_mqtt_acks *a)
{
    free(a->ids);
    free(a->durable);
    free(a->pending);
    memset(a, 0, sizeof *a);
}

void hist_mqtt_acks_reset(hist_mqtt_acks *a)
{
    /* seqs keep growing: marks for the old connection's messages miss */
    a->head = a->next;
    memset(a->pending, 0, ID_WORDS * sizeof *a->pending);
}

static int in_flight(const hist_mqtt_acks *a, uint16_t id)
{
    return (a->pending[id / 64] >> (id % 64)) & 1;
}

int64_t hist_mqtt_acks_push(hist_mqtt_acks *a, uint16_t packet_id)
{
    if (packet_id == 0)
        return HIST_EINVAL;
    if (in_flight(a, packet_id))
        return HIST_EEXIST;
    if (a->next - a->head >= a->window)
        return HIST_ENOSPC;
    uint64_t seq = a->next++;
    a->ids[seq % a->window] = packet_id;
    a->durable[seq % a->window] = 0;
    a->pending[packet_id / 64] |= 1ull << (packet_id % 64);
    return (int64_t)seq;
}

int hist_mqtt_acks_mark(hist_mqtt_acks *a, uint64_t seq)
{
    if (seq < a->head || seq >= a->next)
        return HIST_ENOTFOUND;
    a->durable[seq % a->window] = 1;
    return 0;
}

size_t hist_mqtt_acks_release(hist_mqtt_acks *a, uint16_t *ids, size_t max)
{
    size_t n = 0;
    /* strictly from the head, stopping at the first message not durable:
     * the invariant of hist_mqtt.h */
    while (n < max && a->head < a->next && a->durable[a->head % a->window]) {
        uint16_t id = a->ids[a->head % a->window];
        a->pending[id / 64] &= ~(1ull << (id % 64));
        ids[n++] = id;
        a->head++;
    }
    return n;
}

uint32_t hist_mqtt_acks_waiting(const hist_mqtt_acks *a)
{
    return (uint32_t)(a->next - a->head);
}
