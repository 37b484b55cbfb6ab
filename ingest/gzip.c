/*
 * gzip.c: a request body sent with Content-Encoding: gzip, inflated by
 * zlib into memory under a byte budget, so a small body cannot expand
 * into more than the server allows for any body (a "zip bomb" stops at
 * max_out bytes, HIST_ETOOBIG). Concatenated gzip members (RFC 1952 §2.2)
 * are one body. Pure: no socket, no clock.
 */
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "ingest/ingest.h"

#define GZIP_FIRST_CAP (64u << 10)

/* Grows *buf (cap *cap) to hold more, up to max; false when at max. */
static bool grow(uint8_t **buf, size_t *cap, size_t max, bool *nomem)
{
    if (*cap >= max)
        return false;
    size_t cap2 = *cap ? *cap * 2 : GZIP_FIRST_CAP;
    if (cap2 > max || cap2 < *cap)
        cap2 = max;
    uint8_t *g = realloc(*buf, cap2 ? cap2 : 1);
    if (!g) {
        *nomem = true;
        return false;
    }
    *buf = g, *cap = cap2;
    return true;
}

int gzip__inflate(const uint8_t *in, size_t n, size_t max_out, uint8_t **out, size_t *out_len,
                  const char **why)
{
    *out = NULL, *out_len = 0, *why = "";
    z_stream z = {0};
    if (inflateInit2(&z, 15 + 16) != Z_OK) { /* 16: gzip wrapper only */
        *why = "out of memory";
        return HIST_ENOMEM;
    }
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    bool nomem = false;
    int rc = 0, zr = Z_OK;
    z.next_in = (Bytef *)in;
    z.avail_in = 0;
    size_t fed = 0;
    for (;;) {
        if (z.avail_in == 0 && fed < n) { /* avail_in is 32 bits: feed in pieces */
            size_t piece = n - fed > (1u << 30) ? (1u << 30) : n - fed;
            z.next_in = (Bytef *)in + fed, z.avail_in = (uInt)piece, fed += piece;
        }
        uint8_t probe;
        bool at_max = len == cap && !grow(&buf, &cap, max_out, &nomem);
        if (at_max && nomem) {
            rc = HIST_ENOMEM, *why = "out of memory";
            break;
        }
        /* at the budget: inflate into one spare byte; a byte out means the
         * body is too big, none means it ends here (or is cut short) */
        size_t room = at_max ? 1 : cap - len > (1u << 30) ? (1u << 30) : cap - len;
        z.next_out = at_max ? &probe : buf + len, z.avail_out = (uInt)room;
        zr = inflate(&z, Z_NO_FLUSH);
        if (at_max && z.avail_out == 0) {
            rc = HIST_ETOOBIG, *why = "the inflated body is over the size limit";
            break;
        }
        if (!at_max)
            len += room - z.avail_out;
        if (zr == Z_STREAM_END) {
            if (z.avail_in == 0 && fed == n)
                break;                      /* the whole body */
            if (inflateReset(&z) != Z_OK) { /* another member follows */
                rc = HIST_EPROTO, *why = "gzip: bad member";
                break;
            }
            continue;
        }
        if (zr == Z_BUF_ERROR && z.avail_in == 0 && fed == n) {
            rc = HIST_EPROTO, *why = "gzip: the body ends inside a member";
            break;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = zr == Z_MEM_ERROR ? HIST_ENOMEM : HIST_EPROTO;
            *why = zr == Z_MEM_ERROR ? "out of memory" : "gzip: corrupt data";
            break;
        }
    }
    inflateEnd(&z);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *out = buf, *out_len = len;
    return 0;
}
