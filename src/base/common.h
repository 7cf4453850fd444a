/* common.h - assertions and small helpers every module uses.
 *
 * SL_ASSERT is for our own bugs and stays on in release builds (STYLE rule 17):
 * a broken invariant stops the process with file and line rather than corrupting
 * data. Bytes from the network, disk or a guest are input: check them, never
 * assert them. SL_DEBUG_ASSERT is for O(n) checks and compiles out with NDEBUG. */
#ifndef SL_COMMON_H
#define SL_COMMON_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void sl_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));

#define SL_ASSERT(e) ((e) ? (void)0 : sl_assert_fail(#e, __FILE__, __LINE__))
#ifdef NDEBUG
#define SL_DEBUG_ASSERT(e) ((void)0)
#else
#define SL_DEBUG_ASSERT(e) SL_ASSERT(e)
#endif

#define SL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define sl_likely(x) __builtin_expect(!!(x), 1)
#define sl_unlikely(x) __builtin_expect(!!(x), 0)

/* Little-endian loads and stores for wire and disk formats (unaligned-safe). */
static inline uint16_t sl_load_u16le(const uint8_t *p) {
    return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}
static inline uint32_t sl_load_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t sl_load_u64le(const uint8_t *p) {
    return (uint64_t)sl_load_u32le(p) | (uint64_t)sl_load_u32le(p + 4) << 32;
}
static inline void sl_store_u16le(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void sl_store_u32le(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static inline void sl_store_u64le(uint8_t *p, uint64_t v) {
    sl_store_u32le(p, (uint32_t)v);
    sl_store_u32le(p + 4, (uint32_t)(v >> 32));
}

#endif
