/*
 * cli_simulate.c: `historian simulate`, a plant gateway simulator with
 * store-and-forward.
 *
 * It generates plant-like data (tools/plantgen.h) or replays a CSV file,
 * groups it into batches, writes every batch to the spool directory (one
 * fsync'd file per batch) and streams the batches to the TCP ingest port,
 * pipelined. A batch's file is deleted only when the server acknowledged
 * it durable. When the server is unreachable or stops acknowledging, the
 * simulator keeps generating into the spool, reconnects with a bounded
 * backoff and resends in order. Batches found in the spool at start (an
 * earlier run died) are sent first.
 *
 * Pacing: by default data is produced in real time (rate samples per
 * second per tag); --fast produces it as fast as the server takes it.
 *
 * Phases: parse the options, open the sender (and its spool), generate or
 * replay into batches, drain, print the summary.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/cli.h"
#include "tools/cli_csv.h"
#include "tools/plantgen.h"

typedef struct {
    uint32_t tags;
    double rate;
    double duration;
    size_t batch;
    const char *ingest;
    const char *server; /* --server: ingest goes to its host */
    char ingest_buf[300];
    const char *spool;
    uint64_t seed;
    int64_t start_ns;
    const char *csv;
    const char *token;
    hist_tls_opts tls;
    bool fast;
    bool catch_up;
    unsigned window;
    double drain_s;
    bool start_set; /* --start given */
} sim_opts;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: historian simulate [options]\n"
            "  --tags N          tags to generate (default 100)\n"
            "  --rate R          samples per second per tag (default 1)\n"
            "  --duration S      seconds of data (default 60)\n"
            "  --batch N         samples per request (default 1000)\n"
            "  --server URL      the server: ingest goes to its host, port 9461, TLS for\n"
            "                    https:// (default $HISTORIAN_SERVER)\n"
            "  --ingest H:P      TCP ingest address (default " CLI_DEFAULT_INGEST ");\n"
            "                    tcps://H:P for TLS\n"
            "  --tls             TLS (as tcps://): the server is verified against --cacert\n"
            "  --cacert FILE     CA certificates (PEM; default: the system's CAs)\n"
            "  --cert FILE       client certificate (PEM); --key FILE its key\n"
            "  --spool DIR       store-and-forward directory (default ./historian-spool)\n"
            "  --seed N          generator seed (default 1)\n"
            "  --start TIME      first timestamp, as in query: RFC 3339, epoch ms, now,\n"
            "                    -24h, now-7d (default now)\n"
            "  --csv FILE        replay a CSV file (what `historian import` reads)\n"
            "  --token T         auth token (or $HISTORIAN_TOKEN)\n"
            "  --fast            do not pace in real time\n"
            "  --catch-up        pace by the samples' own times: a --start in the past\n"
            "                    is sent at once, then the data follows in real time\n"
            "  --window N        requests in flight before waiting for acks (default 16)\n"
            "  --drain-timeout S after the data ends, give up resending after S s (default 60)\n"
            "Prints 'sent N acked N spooled N' (samples) at the end; exit 0 when all\n"
            "were acknowledged.\n");
}

static int64_t clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

static const struct option simulate_options[] = {
    {"tags", 1, 0, 't'},   {"rate", 1, 0, 'r'},          {"duration", 1, 0, 'd'},
    {"batch", 1, 0, 'b'},  {"ingest", 1, 0, 'i'},        {"spool", 1, 0, 's'},
    {"seed", 1, 0, 'S'},   {"start", 1, 0, 'T'},         {"csv", 1, 0, 'c'},
    {"token", 1, 0, 'k'},  {"fast", 0, 0, 'f'},          {"catch-up", 0, 0, 'C'},
    {"window", 1, 0, 'w'}, {"drain-timeout", 1, 0, 'D'}, {"help", 0, 0, 'h'},
    {"tls", 0, 0, 'L'},    {"cacert", 1, 0, 'A'},        {"cert", 1, 0, 'E'},
    {"key", 1, 0, 'K'},    {"server", 1, 0, 'U'},        {0, 0, 0, 0}};

/* The options that take a number: true when ch is one (parsed into o,
 * *end where the number stopped). */
static bool simulate_take_number(sim_opts *o, int ch, char **end)
{
    switch (ch) {
    case 't':
        o->tags = (uint32_t)strtoul(optarg, end, 10);
        return true;
    case 'r':
        o->rate = strtod(optarg, end);
        return true;
    case 'd':
        o->duration = strtod(optarg, end);
        return true;
    case 'b':
        o->batch = strtoul(optarg, end, 10);
        return true;
    case 'S':
        o->seed = strtoull(optarg, end, 10);
        return true;
    case 'w':
        o->window = (unsigned)strtoul(optarg, end, 10);
        return true;
    case 'D':
        o->drain_s = strtod(optarg, end);
        return true;
    }
    return false;
}

/* The options that are flags or text. */
static int simulate_take_text(sim_opts *o, int ch)
{
    switch (ch) {
    case 'i':
        o->ingest = optarg;
        return CLI_CONTINUE;
    case 'U':
        o->server = optarg;
        return CLI_CONTINUE;
    case 's':
        o->spool = optarg;
        return CLI_CONTINUE;
    case 'T':
        if (cli_parse_time(optarg, &o->start_ns) < 0) {
            fprintf(stderr, "simulate: bad --start '%s'\n", optarg);
            return CLI_USAGE;
        }
        o->start_set = true;
        return CLI_CONTINUE;
    case 'c':
        o->csv = optarg;
        return CLI_CONTINUE;
    case 'k':
        o->token = optarg;
        return CLI_CONTINUE;
    case 'f':
        o->fast = true;
        return CLI_CONTINUE;
    case 'C':
        o->catch_up = true;
        return CLI_CONTINUE;
    }
    if (cli_tls_option(&o->tls, ch, optarg))
        return CLI_CONTINUE;
    return cli_help_or_usage(ch, usage);
}

static int simulate_take_option(void *ctx, int ch, char **argv)
{
    sim_opts *o = ctx;
    char *end = NULL;
    if (!simulate_take_number(o, ch, &end))
        return simulate_take_text(o, ch);
    if (*end) {
        fprintf(stderr, "simulate: bad number '%s'\n", optarg);
        return CLI_USAGE;
    }
    return CLI_CONTINUE;
}

static int simulate_parse_options(int argc, char **argv, sim_opts *o)
{
    *o = (sim_opts){.tags = 100,
                    .rate = 1,
                    .duration = 60,
                    .batch = 1000,
                    .spool = "./historian-spool",
                    .seed = 1,
                    .window = 16,
                    .drain_s = 60};
    int rc = cli_each_option(argc, argv, "", simulate_options, true, simulate_take_option, o);
    if (rc != CLI_CONTINUE)
        return rc;
    if (optind < argc || o->tags == 0 || o->rate <= 0 || o->duration <= 0 || o->batch == 0 ||
        o->window == 0) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (!o->start_set)
        cli_parse_time("now", &o->start_ns);
    if (!o->token)
        o->token = getenv("HISTORIAN_TOKEN");
    o->ingest = cli_ingest_address(o->ingest, o->server, o->ingest_buf, sizeof o->ingest_buf);
    return CLI_CONTINUE;
}

typedef struct {
    hist_sender *sender;
    hist_batch_builder *bb;
    const char *token;
    size_t batch;
} sim_state;

static int flush_batch(sim_state *st)
{
    uint64_t id;
    int rc = hist_sender_push_batch(st->sender, st->bb, st->token, &id);
    if (rc < 0)
        fprintf(stderr, "simulate: cannot spool batch %llu: %s\n", (unsigned long long)id,
                hist_strerror(rc));
    return rc;
}

/* The generator and its buffers for one round (step samples of a tag). */
typedef struct {
    hist_gen *gen;
    size_t step;
    int64_t *ts;
    hist_value *v;
    uint32_t *q;
} sim_generator;

static int generator_open(const sim_opts *o, sim_generator *g)
{
    int64_t period = (int64_t)(1e9 / o->rate);
    if (period < 1)
        period = 1;
    g->gen = hist_gen_new(o->tags, o->seed, o->start_ns, period);
    if (!g->gen)
        return HIST_ENOMEM;
    g->step = (size_t)(o->rate / 10);
    if (g->step < 1)
        g->step = 1;
    g->ts = malloc(g->step * sizeof *g->ts);
    g->v = malloc(g->step * sizeof *g->v);
    g->q = malloc(g->step * sizeof *g->q);
    return 0;
}

static void generator_close(sim_generator *g)
{
    free(g->ts);
    free(g->v);
    free(g->q);
    hist_gen_free(g->gen);
}

/* The next n samples of every tag into batches. */
static int generate_round(const sim_opts *o, sim_state *st, sim_generator *g, size_t n)
{
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < o->tags; i++) {
        size_t got = hist_gen_next(g->gen, i, n, g->ts, g->v, g->q);
        rc = hist_bb_add_many(st->bb, hist_gen_tag_name(g->gen, i), hist_gen_tag_type(g->gen, i),
                              got, g->ts, g->v, g->q);
        if (rc == 0 && hist_bb_samples(st->bb) >= st->batch)
            rc = flush_batch(st);
    }
    return rc;
}

/* Keeps the network moving until the next round is due on the pace
 * clock; --fast pumps once, waiting 50 ms when the backlog is large. */
static void keep_pace(const sim_opts *o, sim_state *st, clockid_t pace, int64_t due)
{
    do {
        int64_t left_ms = o->fast ? 0 : (due - clock_ns(pace)) / 1000000;
        hist_sender_stats ss;
        hist_sender_get_stats(st->sender, &ss);
        int wait = left_ms > 0 ? (int)left_ms : (ss.queued_batches > 4u * o->window ? 50 : 0);
        hist_sender_pump(st->sender, wait);
    } while (!o->fast && clock_ns(pace) < due);
}

/* Generated data: in rounds of `step` samples per tag, each released when
 * its time has come (unless --fast). */
static int simulate_generate(const sim_opts *o, sim_state *st)
{
    sim_generator g = {0};
    int rc = generator_open(o, &g);
    uint64_t per_tag = (uint64_t)(o->rate * o->duration + 0.5);
    /* A round is due done/rate seconds after t0: the simulator's own start,
     * or with --catch-up the first sample's time on the wall clock, the way
     * a gateway sends a backlog at once and then keeps pace. */
    clockid_t pace = o->catch_up ? CLOCK_REALTIME : CLOCK_MONOTONIC;
    int64_t t0 = o->catch_up ? o->start_ns : mono_ns();
    for (uint64_t done = 0; rc == 0 && done < per_tag;) {
        size_t n = per_tag - done < g.step ? (size_t)(per_tag - done) : g.step;
        rc = generate_round(o, st, &g, n);
        done += n;
        keep_pace(o, st, pace, t0 + (int64_t)((double)done / o->rate * 1e9));
    }
    if (rc == 0)
        rc = flush_batch(st);
    generator_close(&g);
    return rc;
}

static int flush_and_pump(void *ctx)
{
    sim_state *st = ctx;
    int rc = flush_batch(st);
    hist_sender_pump(st->sender, 0);
    return rc;
}

static int simulate_replay_csv(const sim_opts *o, sim_state *st)
{
    FILE *f = fopen(o->csv, "r");
    if (!f) {
        perror(o->csv);
        return HIST_EIO;
    }
    cli_csv_counts counts;
    cli_csv_sink sink = {.batch = st->batch, .flush = flush_and_pump, .ctx = st};
    const hist_csv_opts csv = {0};
    int rc = cli_csv_read(f, o->csv, &csv, st->bb, &sink, &counts);
    fclose(f);
    return rc ? rc : flush_batch(st);
}

/* "sent N acked N spooled N"; the exit code says whether all arrived. */
static int simulate_print_summary(const sim_state *st, int send_rc)
{
    hist_sender_stats ss;
    hist_sender_get_stats(st->sender, &ss);
    printf("sent %llu acked %llu spooled %llu\n", (unsigned long long)ss.sent,
           (unsigned long long)ss.acked, (unsigned long long)ss.queued);
    fflush(stdout);
    if (ss.rejected)
        fprintf(stderr, "simulate: %llu samples refused by the server\n",
                (unsigned long long)ss.rejected);
    return send_rc == 0 && ss.queued == 0 && ss.rejected == 0 ? CLI_OK : CLI_SERVER;
}

int cli_simulate(int argc, char **argv)
{
    sim_opts o;
    int rc = simulate_parse_options(argc, argv, &o);
    if (rc != CLI_CONTINUE)
        return rc;
    sim_state st = {.token = o.token, .batch = o.batch};
    /* batch ids continue after whatever an earlier run left in the spool */
    if (hist_sender_new(o.ingest, o.spool, o.window, &st.sender) < 0 ||
        hist_sender_set_tls(st.sender, &o.tls) < 0)
        return CLI_SERVER;
    st.bb = hist_bb_new();
    int send_rc = o.csv ? simulate_replay_csv(&o, &st) : simulate_generate(&o, &st);
    /* drain: resend until everything is acknowledged or the time is up */
    hist_sender_drain(st.sender, (int64_t)(o.drain_s * 1e3));
    rc = simulate_print_summary(&st, send_rc);
    hist_bb_free(st.bb);
    hist_sender_free(st.sender);
    return rc;
}
