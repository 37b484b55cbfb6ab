/*
 * tag_row.c: the bytes of a tag's row in the LMDB `tag` database.
 *
 * Rows were the fixed-layout hist_index_tag (584 bytes, the strings
 * NUL-padded to their maximum), and the sealer rewrites a tag's row in
 * every commit that raises its flushed LSN: at a million tags the rows were
 * most of the index and most of its pages in memory. A row is packed now:
 *
 *   u8 0xA7 (the packed form), u8 type, u8 name length, u8 unit length,
 *   u16le description length, u32le id, u64le deadband (the double's
 *   bits), i64le created_ns, u64le flushed_lsn, i64le max_span, then the
 *   name, unit and description bytes (no NULs).
 *
 * At most 42 + 255 + 31 + 255 = 583 bytes, so a row of exactly
 * sizeof(hist_index_tag) bytes is always the old fixed layout, which is
 * still read (a data directory written before keeps working; each row is
 * packed when it is next written). Every read is bounds-checked and a row
 * must be used exactly (fuzzed by tests/fuzz/fuzz_index_entry.c).
 */
#include "storage/index.h"

#include "common/hist_bytes.h"

#include <string.h>

enum { ROW_PACKED = 0xA7, ROW_HEAD = 42 };

_Static_assert(ROW_HEAD + HIST_TAG_NAME_MAX + HIST_TAG_UNIT_MAX + HIST_TAG_DESC_MAX <
                   sizeof(hist_index_tag),
               "a packed row is never as long as a fixed-layout one");
_Static_assert(HIST_TAG_ROW_MAX >=
                   ROW_HEAD + HIST_TAG_NAME_MAX + HIST_TAG_UNIT_MAX + HIST_TAG_DESC_MAX,
               "HIST_TAG_ROW_MAX holds any packed row");

static size_t bounded_len(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    return n > max ? max : n;
}

size_t tag_row__pack(const hist_index_tag *t, uint8_t *out)
{
    size_t nl = bounded_len(t->name, HIST_TAG_NAME_MAX);
    size_t ul = bounded_len(t->unit, HIST_TAG_UNIT_MAX);
    size_t dl = bounded_len(t->description, HIST_TAG_DESC_MAX);
    uint64_t deadband;
    memcpy(&deadband, &t->deadband, 8);
    out[0] = ROW_PACKED;
    out[1] = (uint8_t)t->type;
    out[2] = (uint8_t)nl;
    out[3] = (uint8_t)ul;
    out[4] = (uint8_t)dl;
    out[5] = (uint8_t)(dl >> 8);
    hist_put_le32(out + 6, t->id);
    hist_put_le64(out + 10, deadband);
    hist_put_le64(out + 18, (uint64_t)t->created_ns);
    hist_put_le64(out + 26, t->flushed_lsn);
    hist_put_le64(out + 34, (uint64_t)t->max_span);
    uint8_t *p = out + ROW_HEAD;
    memcpy(p, t->name, nl);
    memcpy(p + nl, t->unit, ul);
    memcpy(p + nl + ul, t->description, dl);
    return ROW_HEAD + nl + ul + dl;
}

int tag_row__unpack(const void *data, size_t len, hist_index_tag *out)
{
    const uint8_t *b = data;
    if (len == sizeof(*out)) { /* the fixed layout of before */
        memcpy(out, data, sizeof(*out));
        if (out->type > UINT8_MAX)
            return HIST_ECORRUPT;
        /* Each string ends at its first NUL, with zeros after (as written). */
        size_t nl = bounded_len(out->name, HIST_TAG_NAME_MAX);
        size_t ul = bounded_len(out->unit, HIST_TAG_UNIT_MAX);
        size_t dl = bounded_len(out->description, HIST_TAG_DESC_MAX);
        memset(out->name + nl, 0, sizeof(out->name) - nl);
        memset(out->unit + ul, 0, sizeof(out->unit) - ul);
        memset(out->description + dl, 0, sizeof(out->description) - dl);
        return 0;
    }
    if (len < ROW_HEAD || b[0] != ROW_PACKED)
        return HIST_ECORRUPT;
    size_t nl = b[2], ul = b[3], dl = (size_t)b[4] | (size_t)b[5] << 8;
    if (nl > HIST_TAG_NAME_MAX || ul > HIST_TAG_UNIT_MAX || dl > HIST_TAG_DESC_MAX ||
        len != ROW_HEAD + nl + ul + dl || memchr(b + ROW_HEAD, 0, nl + ul + dl))
        return HIST_ECORRUPT;
    memset(out, 0, sizeof(*out));
    out->type = b[1];
    out->id = hist_get_le32(b + 6);
    uint64_t deadband = hist_get_le64(b + 10);
    memcpy(&out->deadband, &deadband, 8);
    out->created_ns = (int64_t)hist_get_le64(b + 18);
    out->flushed_lsn = hist_get_le64(b + 26);
    out->max_span = (int64_t)hist_get_le64(b + 34);
    const uint8_t *p = b + ROW_HEAD;
    memcpy(out->name, p, nl);
    memcpy(out->unit, p + nl, ul);
    memcpy(out->description, p + nl + ul, dl);
    return 0;
}
