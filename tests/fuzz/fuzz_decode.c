/*
 * fuzz_decode.c: libFuzzer target for the ingest decoder, the first code
 * that touches bytes from the network (a TCP frame body or an HTTP
 * POST /api/v1/write body).
 *
 * For any input, decode__request() must either refuse it with a
 * negative code and a result that names the reason, or return a batch
 * whose every series keeps the rules the storage writer relies on: a valid
 * tag name, a known type, parallel arrays (n may be 0: an empty series
 * with a type hint is valid and the writer skips it), timestamps within
 * HIST_TS_MIN..HIST_TS_MAX, bools 0 or 1, each name's hash (the writer's
 * cache key) its 64-bit FNV-1a, the batch's id and wire size the request's.
 * Either way the result must encode as a WriteResponse that decodes again,
 * and as valid JSON. fuzz_decode_diff.c compares the decoder with
 * protobuf-c's unpack.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "batch_check.h"
#include "ingest/ingest.h"
#include "proto/historian.pb-c.h"

static void check_batch(const hist_in_batch *b, const hist_in_result *res, size_t size)
{
    if (b->batch_id != res->batch_id || b->samples != res->samples)
        abort();
    fuzz_check_batch(b, size);
}

static void check_result_encodes(const hist_in_result *res)
{
    uint8_t *wire = NULL;
    size_t len = 0;
    if (decode__result_to_proto(res, 4, &wire, &len) == 0) {
        Historian__V1__WriteResponse *r =
            historian__v1__write_response__unpack(NULL, len - 4, wire + 4);
        if (!r || r->batch_id != res->batch_id)
            abort();
        historian__v1__write_response__free_unpacked(r, NULL);
    }
    free(wire);
    char *json = NULL;
    if (decode__result_to_json(res, &json, &len) == 0) {
        json_error_t err;
        json_t *j = json_loadb(json, len, 0, &err);
        if (!j)
            abort();
        json_decref(j);
    }
    free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hist_in_batch *batch = NULL;
    hist_in_result res;
    memset(&res, 0, sizeof(res));
    char *token = NULL;
    int rc = decode__request(data, size, &batch, &res, &token);
    if (rc == 0) {
        if (!batch)
            abort();
        check_batch(batch, &res, size);
    } else if (rc > 0 || batch || (res.code == 0 && !res.error && res.nerrors == 0)) {
        abort(); /* a refusal must say why */
    }
    if (token && !token[0])
        abort(); /* an empty token is no token */
    check_result_encodes(&res);
    decode__result_clear(&res);
    free(batch);
    free(token);
    return 0;
}
