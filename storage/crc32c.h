/*
 * crc32c.h: CRC-32C (Castagnoli), for WAL records and chunk checksums.
 * Uses the SSE4.2 instruction where the CPU has it, a table otherwise.
 */
#ifndef HIST_STORAGE_CRC32C_H
#define HIST_STORAGE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) over len bytes. */
uint32_t crc32c__compute(uint32_t crc, const void *data, size_t len);

#endif
