/*
 * fuzz_decode_diff.c: differential libFuzzer target for the ingest
 * decoder. decode__request() reads the WriteRequest wire format itself;
 * the reference (tests/ingest/decode_ref.c) is the decoder it replaced:
 * protobuf-c's unpack, then the same checks on the message structs. For
 * every input both must refuse alike (return code, code, error text and
 * every series error) or accept alike: the same batch (batch id, names,
 * hashes, types, timestamps, value bits, qualities) and the same token.
 * The new decoder's batch must also keep fuzz_decode.c's invariants.
 *
 * The seed corpus (corpus/fuzz_decode_diff/, written by
 * make_decode_corpus.py) has packed and unpacked arrays, split repeated
 * fields, scalars given twice, unknown fields of every wire type, odd keys
 * and 10-byte varints, so mutations start from messages that decode.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch_check.h"
#include "decode_ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hist_in_batch *a = NULL, *b = NULL;
    hist_in_result ra, rb;
    char *ta = NULL, *tb = NULL;
    int rca = decode__request(data, size, &a, &ra, &ta);
    int rcb = decode_ref_request(data, size, &b, &rb, &tb);
    const char *diff = decode_ref_diff(rca, &ra, a, ta, rcb, &rb, b, tb);
    if (diff) {
        fprintf(stderr, "decoders differ in the %s: new rc %d (%s), protobuf-c rc %d (%s)\n", diff,
                rca, ra.error ? ra.error : "-", rcb, rb.error ? rb.error : "-");
        abort();
    }
    if (rca == 0) {
        if (!a || ra.batch_id != a->batch_id)
            abort();
        fuzz_check_batch(a, size);
    } else if (rca > 0 || a || (ra.code == 0 && !ra.error && ra.nerrors == 0)) {
        abort(); /* a refusal must say why */
    }
    if (ta && !ta[0])
        abort(); /* an empty token is no token */
    decode__result_clear(&ra);
    decode__result_clear(&rb);
    free(a);
    free(b);
    free(ta);
    free(tb);
    return 0;
}
