/*
 * ints.c: int64 and bool value columns as PFOR of a transform of the
 * values (see ints.h): frame of reference for levels, deltas for random
 * walks and counters, deltas of deltas for ramps (a fixed-rate counter
 * costs ~0 bits), plain deltas for counters (the block minimum takes out
 * the typical increment: one bit less than zigzagged deltas). ALP's
 * decimal digits (floats.c) use the same transforms.
 *
 * Byte layout (value codecs; x[-1] = d[-1] = 0, d[i] = x[i] - x[i-1],
 * arithmetic mod 2^64; PFOR in bits.c):
 *   22 int_for    PFOR of x[i] + 2^63
 *   23 int_delta  PFOR of zz(d[i])
 *   25 int_dod    PFOR of zz(d[i] - d[i-1])
 *   26 int_dfor   PFOR of d[i] + 2^63
 *   28 int_lpc    a predictor (lpc.c: u8 order, u8 shift, coefficients),
 *                 then PFOR of zz(d[i] - the prediction of d[i])
 * Bool columns use the same codecs; their values must be 0 or 1, checked
 * at encode and decode (chunk.c). With CODEC_PLANES in the codec id
 * (codec.h) the same words are byte planes (planes.c) instead of PFOR.
 */
#include "storage/codec/ints.h"

#include "storage/codec/bits.h"
#include "storage/codec/lpc.h"
#include "storage/codec/planes.h"

void codec__words_encode(codec_wr *w, const uint64_t *x, size_t n, codec_pack pack)
{
    if (pack == CODEC_PACK_PLANES)
        codec__planes_encode(w, x, n);
    else
        codec__pfor_encode(w, x, n);
}

int codec__words_decode(codec_rd *r, uint64_t *out, size_t n, codec_pack pack)
{
    return pack == CODEC_PACK_PLANES ? codec__planes_decode(r, out, n)
                                     : codec__pfor_decode(r, out, n);
}

void codec__ints_encode(codec_wr *w, const int64_t *x, size_t n, codec_int_order order,
                        codec_pack pack, uint64_t *tmp)
{
    if (order == CODEC_INT_LPC) {
        const codec_lpc *p = codec__lpc_fit(w->lpc, x, n);
        if (!p) {
            w->bad = 1; /* nothing to predict: the plain transforms win anyway */
            return;
        }
        codec__lpc_put(w, p);
        codec__lpc_residuals(p, x, n, tmp);
    } else if (order == CODEC_INT_FOR) {
        for (size_t i = 0; i < n; i++)
            tmp[i] = (uint64_t)x[i] + CODEC_SIGN_BIAS;
    } else if (order == CODEC_INT_DFOR) {
        uint64_t prev = 0;
        for (size_t i = 0; i < n; i++) {
            tmp[i] = (uint64_t)x[i] - prev + CODEC_SIGN_BIAS;
            prev = (uint64_t)x[i];
        }
    } else {
        uint64_t prev = 0, prev_d = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t d = (uint64_t)x[i] - prev;
            tmp[i] = codec__zigzag(order == CODEC_INT_DELTA ? d : d - prev_d);
            prev = (uint64_t)x[i];
            prev_d = d;
        }
    }
    codec__words_encode(w, tmp, n, pack);
}

/* Undoes the transform in place (LPC: codec__ints_decode). */
static void ints_undo(uint64_t *out, size_t n, codec_int_order order)
{
    uint64_t prev = 0, d = 0;
    switch (order) {
    case CODEC_INT_LPC:
        return;
    case CODEC_INT_FOR:
        for (size_t i = 0; i < n; i++)
            out[i] -= CODEC_SIGN_BIAS;
        return;
    case CODEC_INT_DFOR:
        for (size_t i = 0; i < n; i++) {
            prev += out[i] - CODEC_SIGN_BIAS;
            out[i] = prev;
        }
        return;
    case CODEC_INT_DELTA:
        for (size_t i = 0; i < n; i++) {
            prev += codec__unzigzag(out[i]);
            out[i] = prev;
        }
        return;
    case CODEC_INT_DOD:
        for (size_t i = 0; i < n; i++) {
            d += codec__unzigzag(out[i]);
            prev += d;
            out[i] = prev;
        }
        return;
    }
}

int codec__ints_decode(codec_rd *r, uint64_t *out, size_t n, codec_int_order order, codec_pack pack)
{
    codec_lpc p;
    if (order == CODEC_INT_LPC && !codec__lpc_get(r, &p))
        return CORRUPT(r);
    int rc = codec__words_decode(r, out, n, pack);
    if (rc < 0)
        return rc;
    if (order == CODEC_INT_LPC)
        codec__lpc_undo(&p, out, n);
    else
        ints_undo(out, n, order);
    return 0;
}

bool codec__bools_valid(const hist_value *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].bits > 1)
            return false;
    return true;
}
