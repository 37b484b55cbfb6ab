/*
 * crash_server.c: historiand's kill -9 rounds (crash_run.h).
 *
 * A round (re)starts historiand on the run's data directory, streams the
 * plant's requests over TCP with a window of 1-8 requests in flight for
 * 0.1-0.4 s, reads the sealer's counters from GET /api/v1/stats, and kills
 * the server with requests still in flight. An acknowledged request is in
 * the model from its ack on (the server acknowledges only durable ones).
 * Every tenth round first compacts the directory while historiand is down.
 */
#include "crash_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACK_TIMEOUT_MS 30000
#define COMPACT_EVERY  10 /* rounds */

static int server_start(crash_run *r)
{
    const char *args[] = {"--io",
                          r->io == HIST_IO_URING ? "uring" : "sync",
                          "--memtable-mb",
                          "1",
                          "--wal-mb",
                          "1",
                          "--log-level",
                          "warn",
                          NULL};
    if (r->h.pid > 0)
        return 0;
    /* The first start makes the temp root; a restart whose port was taken
     * meanwhile starts again on fresh ports. */
    bool first = !r->h.root[0];
    int rc = first ? harness_start(&r->h, args) : harness_restart(&r->h, args);
    if (rc != 0 && !first) {
        harness_stop(&r->h, 2000);
        rc = harness_start(&r->h, args);
    }
    snprintf(r->dir, sizeof(r->dir), "%s", r->h.data_dir);
    if (rc != 0) {
        fprintf(stderr, "crash: historiand did not start\n");
        harness_dump_log(&r->h);
        return HIST_EIO;
    }
    return 0;
}

static int send_request(crash_run *r, hist_tcp_client *c)
{
    const plant_batch *b = crash_send_next(r); /* in flight from here: it may arrive */
    hist_client_series s[PLANT_MAX_TAGS];
    for (int j = 0; j < b->nseries; j++) {
        const plant_series *p = &b->series[j];
        const plant_tag *t = &r->plant.tags[p->tag];
        s[j] = (hist_client_series){t->name, t->type, p->n, p->ts, p->v, p->q};
    }
    uint8_t *buf;
    size_t len;
    int rc = hist_client_encode(++r->next_id, NULL, s, (size_t)b->nseries, &buf, &len);
    if (rc == 0) {
        rc = hist_tcp_client_send(c, buf, len);
        free(buf);
    }
    return rc;
}

/* The oldest request's answer: acknowledged, it joins the model. */
static int recv_ack(crash_run *r, hist_tcp_client *c)
{
    Historian__V1__WriteResponse *resp;
    int rc = hist_tcp_client_recv(c, ACK_TIMEOUT_MS, &resp);
    if (rc)
        return rc;
    uint64_t want = r->next_id - r->flight_n + 1;
    if (resp->code != 0 || resp->batch_id != want) {
        fprintf(stderr, "crash: request %llu answered as %llu with %d (%s)\n",
                (unsigned long long)want, (unsigned long long)resp->batch_id, (int)resp->code,
                resp->error ? resp->error : "");
        rc = HIST_EPROTO;
    }
    historian__v1__write_response__free_unpacked(resp, NULL);
    if (rc == 0)
        crash_acked(r, &r->flight[r->flight_head]);
    r->flight_head = (r->flight_head + 1) % CRASH_FLIGHT_MAX;
    r->flight_n--;
    return rc;
}

static int stream(crash_run *r, hist_tcp_client *c, size_t window, int64_t until_ms)
{
    int rc = 0;
    while (rc == 0 && crash_now_ms() < until_ms) {
        while (rc == 0 && r->flight_n < window)
            rc = send_request(r, c);
        if (rc == 0)
            rc = recv_ack(r, c);
    }
    return rc;
}

static uint64_t json_uint(const char *body, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(body, pat);
    return p ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

/* The sealer's counters since this start, and the backend in use. */
static void read_stats(crash_run *r)
{
    harness_response resp;
    if (harness_http(r->h.http_port, "GET", "/api/v1/stats", NULL, NULL, 0, &resp) != 0)
        return;
    r->tally.seals_held += json_uint(resp.body, "seals_held");
    r->tally.seals_memory += json_uint(resp.body, "seals_memory");
    r->tally.seals_wal += json_uint(resp.body, "seals_wal");
    r->tally.freezes += json_uint(resp.body, "freezes");
    r->tally.runs_logged += json_uint(resp.body, "runs_logged");
    const char *b = strstr(resp.body, "\"io_backend\":\"");
    if (b)
        snprintf(r->tally.backend, sizeof(r->tally.backend), "%.*s", (int)strcspn(b + 14, "\""),
                 b + 14);
    harness_response_free(&resp);
}

int crash_server_round(crash_run *r)
{
    /* historiand's background compactor merges settled tag-hours only;
     * overwrites elsewhere pile up as overlapping chunks that every read
     * merges. Now and then, while it is down, compact them all. */
    int rc = r->tally.rounds % COMPACT_EVERY == COMPACT_EVERY - 1 ? crash_compact(r) : 0;
    if (rc == 0)
        rc = server_start(r);
    hist_tcp_client *c = NULL;
    if (rc == 0)
        rc = hist_tcp_client_connect(r->h.ingest_addr, 5000, &c);
    size_t window = 1 + crash_rand(r) % CRASH_FLIGHT_MAX;
    if (rc == 0)
        rc = stream(r, c, window, crash_now_ms() + 100 + (int64_t)(crash_rand(r) % 301));
    if (rc == 0)
        read_stats(r);
    harness_kill9(&r->h); /* mid-ingest: requests are in flight */
    if (c)
        hist_tcp_client_close(c);
    if (rc)
        fprintf(stderr, "crash: streaming to historiand failed: %s\n", hist_strerror(rc));
    return rc;
}

int crash_server_finish(crash_run *r)
{
    int rc = server_start(r);
    if (rc == 0 && harness_stop(&r->h, 30000) != 0) {
        fprintf(stderr, "crash: historiand did not stop cleanly\n");
        harness_dump_log(&r->h);
        rc = HIST_EIO;
    }
    return rc;
}
