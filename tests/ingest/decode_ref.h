/*
 * decode_ref.h: the reference ingest decoder (decode_ref.c), protobuf-c's
 * unpack followed by the checks decode.c had, for the tests and benches
 * that compare the new decoder with it.
 */
#ifndef HIST_TESTS_DECODE_REF_H
#define HIST_TESTS_DECODE_REF_H

#include "ingest/ingest.h"

/* decode__request() as it was: same contract, same results. */
int decode_ref_request(const uint8_t *buf, size_t len, hist_in_batch **out, hist_in_result *res,
                       char **token_out);

/* Where two decodes of one input differ: NULL when they agree (return
 * code, result with every series error, token, and batch down to each
 * value's bits), else a static text naming the first difference. */
const char *decode_ref_diff(int rc_a, const hist_in_result *res_a, const hist_in_batch *a,
                            const char *token_a, int rc_b, const hist_in_result *res_b,
                            const hist_in_batch *b, const char *token_b);

/* 64-bit FNV-1a of n bytes: what hist_in_series.hash must hold. */
uint64_t decode_ref_hash(const char *s, size_t n);

#endif
