/*
 * fuzz_index_entry.c: the packed chunk entries of the LMDB index
 * (storage/index_entry.c) on arbitrary bytes. Index values are read from
 * disk for every chunk a query touches, so entry__unpack must refuse
 * or accept any input without crashing; an accepted entry must pack back
 * into bytes that unpack to the very same entry.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
