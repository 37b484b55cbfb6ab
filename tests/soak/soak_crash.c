/*
 * soak_crash.c: a long kill -9 soak of the storage engine or historiand,
 * run by hand (never by ctest).
 *
 *   soak_crash --io uring|sync [--target storage|server] [--rounds N]
 *              [--seconds S] [--seed N] [--verbose]
 *
 * Runs tests/crash/'s rounds (crash_run.h: the plant's requests, kill -9,
 * a checker comparing every key with the model, crash upon crash on one
 * directory) until N rounds have run or S seconds have passed (defaults
 * 1000 rounds, 3 h), then a clean close and a last check. Progress and the
 * full tally go to stderr; stdout gets exactly one closing line:
 *   rounds N acked N lost N wrong N phantom N
 * acked: samples of acknowledged requests, each checked after its kill;
 * lost, wrong, phantom: keys, each counted once. Exit 0 only when nothing
 * was lost, wrong or phantom, every chunk read right and no round failed.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crash_run.h"

#define PROGRESS_EVERY 50 /* rounds */

typedef struct {
    hist_io_mode io;
    crash_target target;
    uint64_t rounds;
    double seconds;
    uint64_t seed;
    bool verbose;
} soak_opts;

static void usage(FILE *out)
{
    fprintf(out, "usage: soak_crash --io uring|sync [--target storage|server] [--rounds N]\n"
                 "                  [--seconds S] [--seed N] [--verbose]\n");
}

static int parse_opts(int argc, char **argv, soak_opts *o)
{
    static const struct option longs[] = {
        {"io", 1, 0, 'i'},   {"target", 1, 0, 't'},  {"rounds", 1, 0, 'r'}, {"seconds", 1, 0, 's'},
        {"seed", 1, 0, 'S'}, {"verbose", 0, 0, 'v'}, {"help", 0, 0, 'h'},   {0, 0, 0, 0}};
    *o = (soak_opts){.io = HIST_IO_AUTO, .rounds = 1000, .seconds = 3 * 3600, .seed = crash_seed()};
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        if (ch == 'i' && (!strcmp(optarg, "uring") || !strcmp(optarg, "sync")))
            o->io = optarg[0] == 'u' ? HIST_IO_URING : HIST_IO_SYNC;
        else if (ch == 't' && (!strcmp(optarg, "storage") || !strcmp(optarg, "server")))
            o->target = optarg[1] == 't' ? CRASH_STORAGE : CRASH_SERVER;
        else if (ch == 'r')
            o->rounds = strtoull(optarg, NULL, 10);
        else if (ch == 's')
            o->seconds = strtod(optarg, NULL);
        else if (ch == 'S')
            o->seed = strtoull(optarg, NULL, 10);
        else if (ch == 'v')
            o->verbose = true;
        else if (ch == 'h')
            return 1;
        else
            return -1;
    }
    return optind == argc && o->io != HIST_IO_AUTO && o->rounds > 0 && o->seconds > 0 ? 0 : -1;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    soak_opts o;
    int p = parse_opts(argc, argv, &o);
    if (p != 0) {
        usage(p > 0 ? stdout : stderr);
        return p > 0 ? 0 : 2;
    }
    setenv("HIST_BIN_DIR", HIST_SOAK_BIN_DIR, 0); /* historiand, unless told otherwise */
    const char *label = o.io == HIST_IO_URING ? "io_uring" : "sync";
    if (!crash_io_available(o.io)) {
        fprintf(stderr, "soak: %s cannot be used here\n", label);
        return 2;
    }
    fprintf(stderr, "soak: %s on %s, seed %llu, up to %llu rounds in %.0f s\n",
            o.target == CRASH_SERVER ? "historiand" : "the storage engine", label,
            (unsigned long long)o.seed, (unsigned long long)o.rounds, o.seconds);
    crash_run *r;
    if (crash_run_new(o.target, o.io, o.seed, o.verbose, &r) != 0)
        return 2;
    double t0 = now_s();
    const crash_tally *t = crash_run_tally(r);
    while (t->rounds < o.rounds && now_s() - t0 < o.seconds) {
        double left = o.seconds - (now_s() - t0);
        crash_run_rounds(
            r, o.rounds - t->rounds < PROGRESS_EVERY ? o.rounds - t->rounds : PROGRESS_EVERY, left);
        fprintf(stderr, "soak: %.0f s: ", now_s() - t0);
        crash_tally_print(stderr, label, t);
    }
    int rc = crash_run_finish(r);
    crash_tally_print(stderr, label, t);
    printf("rounds %llu acked %llu lost %llu wrong %llu phantom %llu\n",
           (unsigned long long)t->rounds, (unsigned long long)t->acked, (unsigned long long)t->lost,
           (unsigned long long)t->wrong, (unsigned long long)t->phantom);
    bool clean = rc == 0 && t->lost == 0 && t->wrong == 0 && t->phantom == 0 &&
                 t->bad_chunks == 0 && t->failures == 0;
    crash_run_free(r);
    return clean ? 0 : 1;
}
