/*
 * test_mqtt_acks.c: the in-order ack tracker and the keep-alive clock of
 * ingest/mqtt/. The tracker: PUBACKs come out in receive order and only up
 * to the first message not durable, whatever order the durable marks come
 * in (checked against a model over random runs); the window fills and
 * refuses; a packet id in flight is refused; a reset (a new connection)
 * drops everything and makes the old seqs unknown. The clock: PINGREQ
 * after a silent keep-alive period, dead after an unanswered one, off at 0.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ingest/mqtt/hist_mqtt.h"

static void test_in_order(void)
{
    hist_mqtt_acks a;
    uint16_t ids[16];
    CHECK(hist_mqtt_acks_init(&a, 0) == HIST_EINVAL);
    CHECK(hist_mqtt_acks_init(&a, 65536) == HIST_EINVAL);
    REQUIRE(hist_mqtt_acks_init(&a, 4) == 0);
    CHECK(hist_mqtt_acks_push(&a, 0) == HIST_EINVAL);
    int64_t s1 = hist_mqtt_acks_push(&a, 11), s2 = hist_mqtt_acks_push(&a, 12),
            s3 = hist_mqtt_acks_push(&a, 13), s4 = hist_mqtt_acks_push(&a, 14);
    CHECK(s1 == 0 && s2 == 1 && s3 == 2 && s4 == 3);
    CHECK(hist_mqtt_acks_push(&a, 15) == HIST_ENOSPC); /* window full */
    CHECK(hist_mqtt_acks_waiting(&a) == 4);
    /* durable out of order: nothing leaves until the first is durable */
    CHECK(hist_mqtt_acks_mark(&a, (uint64_t)s3) == 0);
    CHECK(hist_mqtt_acks_mark(&a, (uint64_t)s2) == 0);
    CHECK(hist_mqtt_acks_release(&a, ids, 16) == 0);
    CHECK(hist_mqtt_acks_mark(&a, (uint64_t)s1) == 0);
    CHECK(hist_mqtt_acks_mark(&a, (uint64_t)s1) == 0); /* twice is fine */
    size_t n = hist_mqtt_acks_release(&a, ids, 16);
    CHECK(n == 3 && ids[0] == 11 && ids[1] == 12 && ids[2] == 13);
    CHECK(hist_mqtt_acks_mark(&a, (uint64_t)s1) == HIST_ENOTFOUND); /* released already */
    CHECK(hist_mqtt_acks_mark(&a, 99) == HIST_ENOTFOUND);           /* never given */
    CHECK(hist_mqtt_acks_waiting(&a) == 1);
    /* the window has room again; a packet id still in flight is refused,
     * one released may come back (the broker reuses it) */
    CHECK(hist_mqtt_acks_push(&a, 14) == HIST_EEXIST);
    int64_t s5 = hist_mqtt_acks_push(&a, 11);
    CHECK(s5 == 4);
    /* release honours max */
    CHECK(hist_mqtt_acks_mark(&a, (uint64_t)s4) == 0 && hist_mqtt_acks_mark(&a, (uint64_t)s5) == 0);
    CHECK(hist_mqtt_acks_release(&a, ids, 1) == 1 && ids[0] == 14);
    CHECK(hist_mqtt_acks_release(&a, ids, 16) == 1 && ids[0] == 11);
    CHECK(hist_mqtt_acks_release(&a, ids, 16) == 0 && hist_mqtt_acks_waiting(&a) == 0);

    /* a new connection: the waiting ones are dropped; a late mark for one
     * of them is recognized and changes nothing */
    int64_t s6 = hist_mqtt_acks_push(&a, 21), s7 = hist_mqtt_acks_push(&a, 22);
    hist_mqtt_acks_reset(&a);
    CHECK(hist_mqtt_acks_waiting(&a) == 0);
    CHECK(hist_mqtt_acks_mark(&a, (uint64_t)s6) == HIST_ENOTFOUND);
    int64_t s8 = hist_mqtt_acks_push(&a, 21); /* the broker redelivers it, same id */
    CHECK(s8 > s7);
    CHECK(hist_mqtt_acks_mark(&a, (uint64_t)s7) == HIST_ENOTFOUND);
    CHECK(hist_mqtt_acks_release(&a, ids, 16) == 0);
    CHECK(hist_mqtt_acks_mark(&a, (uint64_t)s8) == 0);
    CHECK(hist_mqtt_acks_release(&a, ids, 16) == 1 && ids[0] == 21);
    hist_mqtt_acks_free(&a);
}

/* Random runs against a model: every released id is the oldest waiting
 * one, and every message up to it was marked durable before release. */
static void test_model(void)
{
    srand(13);
    for (int run = 0; run < 200; run++) {
        uint32_t window = 1 + (uint32_t)(rand() % 40);
        hist_mqtt_acks a;
        REQUIRE(hist_mqtt_acks_init(&a, window) == 0);
        enum { N = 600 };
        static uint16_t id_of[N];
        static int durable[N];
        memset(durable, 0, sizeof durable);
        uint64_t pushed = 0, released = 0;
        uint16_t next_id = (uint16_t)(1 + rand() % 65535);
        int bad = 0;
        for (int step = 0; step < 3000 && released < N; step++) {
            int op = rand() % 3;
            if (op == 0 && pushed < N) {
                int64_t s = hist_mqtt_acks_push(&a, next_id);
                if (pushed - released >= window) {
                    bad |= s != HIST_ENOSPC;
                } else {
                    bad |= s != (int64_t)pushed;
                    id_of[pushed++] = next_id;
                    next_id = (uint16_t)(next_id == 65535 ? 1 : next_id + 1);
                }
            } else if (op == 1 && pushed > released) {
                /* a group commit: several waiting ones, any order */
                int k = 1 + rand() % 5;
                for (int i = 0; i < k; i++) {
                    uint64_t s = released + (uint64_t)rand() % (pushed - released);
                    bad |= hist_mqtt_acks_mark(&a, s) != 0;
                    durable[s] = 1;
                }
            } else {
                uint16_t ids[64];
                size_t n = hist_mqtt_acks_release(&a, ids, 1 + (size_t)(rand() % 64));
                for (size_t i = 0; i < n; i++) {
                    bad |= ids[i] != id_of[released]; /* receive order */
                    bad |= !durable[released];        /* durable, all before it too */
                    released++;
                }
                /* it stopped at the first not durable (or at max) */
                if (n == 0 && released < pushed)
                    bad |= durable[released];
            }
            bad |= hist_mqtt_acks_waiting(&a) != pushed - released;
        }
        CHECKF(!bad, "run %d window %u", run, window);
        hist_mqtt_acks_free(&a);
    }
}

static void test_keepalive(void)
{
    hist_mqtt_keepalive k;
    uint64_t next;
    hist_mqtt_keepalive_init(&k, 10, 0, 1000);
    CHECK(hist_mqtt_keepalive_check(&k, 1000, &next) == HIST_MQTT_KA_IDLE && next == 11000);
    hist_mqtt_keepalive_sent(&k, 5000); /* a PUBACK went out */
    CHECK(hist_mqtt_keepalive_check(&k, 11000, &next) == HIST_MQTT_KA_IDLE && next == 15000);
    CHECK(hist_mqtt_keepalive_check(&k, 15000, &next) == HIST_MQTT_KA_PING && next == 25000);
    CHECK(hist_mqtt_keepalive_check(&k, 20000, &next) == HIST_MQTT_KA_IDLE && next == 25000);
    hist_mqtt_keepalive_received(&k, 20000); /* PINGRESP */
    CHECK(hist_mqtt_keepalive_check(&k, 24999, &next) == HIST_MQTT_KA_IDLE && next == 25000);
    CHECK(hist_mqtt_keepalive_check(&k, 25000, &next) == HIST_MQTT_KA_PING);
    CHECK(hist_mqtt_keepalive_check(&k, 34999, NULL) == HIST_MQTT_KA_IDLE);
    CHECK(hist_mqtt_keepalive_check(&k, 35000, &next) == HIST_MQTT_KA_DEAD); /* no answer */
    /* a ping timeout of its own */
    hist_mqtt_keepalive_init(&k, 60, 2000, 0);
    CHECK(hist_mqtt_keepalive_check(&k, 60000, &next) == HIST_MQTT_KA_PING && next == 62000);
    CHECK(hist_mqtt_keepalive_check(&k, 62000, &next) == HIST_MQTT_KA_DEAD);
    /* off */
    hist_mqtt_keepalive_init(&k, 0, 0, 0);
    CHECK(hist_mqtt_keepalive_check(&k, UINT64_MAX / 2, &next) == HIST_MQTT_KA_IDLE &&
          next == UINT64_MAX);
}

int main(void)
{
    test_in_order();
    test_model();
    test_keepalive();
    return check_summary();
}
