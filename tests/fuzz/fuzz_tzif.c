/*
 * fuzz_tzif.c: the TZif reader (query/tz.c) on arbitrary bytes. A zone file
 * is read from disk (TZDIR may point anywhere), so hist_tz_parse must refuse
 * or accept any input without crashing, and an accepted zone must answer
 * offset and local-to-UTC questions (including the footer rule) safely.
 */
#include <stddef.h>
#include <stdint.h>

#include "common/hist_tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hist_tz *tz = NULL;
    if (hist_tz_parse(data, size, &tz) != 0)
        return 0;
    /* Instants from 1800 to 2300, some around the epoch. */
    static const int64_t probes[] = {-5364662400LL, -1,           0, 1, 1700000000LL, 2000000000LL,
                                     4102444800LL,  10413792000LL};
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        int64_t out[2];
        (void)hist_tz_offset(tz, probes[i]);
        (void)hist_tz_local_to_utc(tz, probes[i], out);
    }
    hist_tz_free(tz);
    return 0;
}
