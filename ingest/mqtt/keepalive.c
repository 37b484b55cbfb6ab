/*
 * keepalive.c: the keep-alive clock of an MQTT client, given now_ms (no
 * clock of its own): a PINGREQ when nothing was sent for a keep-alive
 * period (the broker closes a connection silent for 1.5 periods, MQTT
 * §3.1.2.10), and the broker dead when a PINGREQ went unanswered for the
 * ping timeout (any packet received counts as an answer).
 */
#include "ingest/mqtt/mqtt_internal.h"

void hist_mqtt_keepalive_init(hist_mqtt_keepalive *k, uint16_t keep_alive_s,
                              uint64_t ping_timeout_ms, uint64_t now_ms)
{
    k->keep_alive_ms = (uint64_t)keep_alive_s * 1000;
    k->ping_timeout_ms = ping_timeout_ms ? ping_timeout_ms : k->keep_alive_ms;
    k->last_sent_ms = now_ms;
    k->ping_sent_ms = 0;
    k->ping_outstanding = false;
}

void hist_mqtt_keepalive_sent(hist_mqtt_keepalive *k, uint64_t now_ms)
{
    k->last_sent_ms = now_ms;
}

void hist_mqtt_keepalive_received(hist_mqtt_keepalive *k, uint64_t now_ms)
{
    (void)now_ms;
    k->ping_outstanding = false;
}

int hist_mqtt_keepalive_check(hist_mqtt_keepalive *k, uint64_t now_ms, uint64_t *next_ms)
{
    uint64_t next = UINT64_MAX;
    int what = HIST_MQTT_KA_IDLE;
    if (k->keep_alive_ms == 0) {
        /* off */
    } else if (k->ping_outstanding) {
        uint64_t dead_at = k->ping_sent_ms + k->ping_timeout_ms;
        if (now_ms >= dead_at)
            what = HIST_MQTT_KA_DEAD;
        else
            next = dead_at;
    } else if (now_ms >= k->last_sent_ms + k->keep_alive_ms) {
        what = HIST_MQTT_KA_PING;
        k->ping_outstanding = true;
        k->ping_sent_ms = now_ms;
        k->last_sent_ms = now_ms;
        next = now_ms + k->ping_timeout_ms;
    } else {
        next = k->last_sent_ms + k->keep_alive_ms;
    }
    if (next_ms)
        *next_ms = next;
    return what;
}
