/* crc32c.h - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum
 * of every WAL record and segment block. Uses the SSE4.2 crc32 instruction when
 * the CPU has it, a slicing table otherwise; both give identical results.
 * crc32c_extend(0, p, n) == crc32c(p, n); chaining extends a running value. */
#ifndef SL_CRC32C_H
#define SL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c_extend(uint32_t crc, const void *p, size_t n);
static inline uint32_t crc32c(const void *p, size_t n) { return crc32c_extend(0, p, n); }

#endif
