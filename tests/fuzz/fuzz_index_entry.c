/*
 * fuzz_index_entry.c: the packed chunk entries of the LMDB index
 * (storage/index_entry.c) on arbitrary bytes. Index values are read from
 * disk for every chunk a query touches, so entry__unpack must refuse
 * or accept any input without crashing; an accepted entry must pack back
 * into bytes that unpack to the very same entry. The same bytes go to the
 * tag row reader (storage/tag_row.c): an accepted packed row packs back to
 * the very same bytes, an accepted old fixed-layout row to a packed row
 * that reads back the same.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_tag_row(const uint8_t *data, size_t size)
{
    hist_index_tag a, b;
    if (tag_row__unpack(data, size, &a) != 0)
        return;
    uint8_t buf[HIST_TAG_ROW_MAX];
    size_t n = tag_row__pack(&a, buf);
    if (n > sizeof(buf) || tag_row__unpack(buf, n, &b) != 0 || memcmp(&a, &b, sizeof(a)) != 0)
        abort();
    if (size != sizeof(hist_index_tag) && (n != size || memcmp(buf, data, n) != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_tag_row(data, size);
    /* The key's parts come from the first bytes, the value is the rest. */
    int64_t start = 0;
    if (size >= 8) {
        memcpy(&start, data, 8);
        data += 8, size -= 8;
    }
    hist_chunk_ref a, b;
    if (entry__unpack(data, size, 7, start, 42, &a) != 0)
        return 0;
    uint8_t buf[HIST_CHUNK_ENTRY_MAX];
    size_t n = entry__pack(&a, buf);
    if (n > sizeof(buf) || entry__unpack(buf, n, 7, start, 42, &b) != 0 ||
        memcmp(&a, &b, sizeof(a)) != 0)
        abort();
    return 0;
}
