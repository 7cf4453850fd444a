/* rd.h - a bounds-checked cursor over untrusted bytes (STYLE rule 19).
 * Every read checks the remaining length first and advances only on success,
 * so a failed read leaves the cursor where the bad field starts (for sl_diag). */
#ifndef SL_RD_H
#define SL_RD_H

#include "base/common.h"
#include "base/err.h"

typedef struct rd {
    const uint8_t *start; /* first byte, for offsets in diagnostics */
    const uint8_t *p;     /* next unread byte */
    const uint8_t *end;   /* one past the last byte */
} rd;

static inline void rd_init(rd *r, const uint8_t *p, size_t n) {
    r->start = p;
    r->p = p;
    r->end = p + n;
}
static inline size_t rd_left(const rd *r) { return (size_t)(r->end - r->p); }
static inline uint32_t rd_offset(const rd *r) { return (uint32_t)(r->p - r->start); }

static inline int rd_u16le(rd *r, uint16_t *v) {
    if (rd_left(r) < 2) return SL_EPROTO;
    *v = sl_load_u16le(r->p);
    r->p += 2;
    return 0;
}
static inline int rd_u32le(rd *r, uint32_t *v) {
    if (rd_left(r) < 4) return SL_EPROTO;
    *v = sl_load_u32le(r->p);
    r->p += 4;
    return 0;
}
static inline int rd_u64le(rd *r, uint64_t *v) {
    if (rd_left(r) < 8) return SL_EPROTO;
    *v = sl_load_u64le(r->p);
    r->p += 8;
    return 0;
}
/* A view of the next n bytes; valid as long as the underlying buffer. */
static inline int rd_bytes(rd *r, size_t n, const uint8_t **out) {
    if (rd_left(r) < n) return SL_EPROTO;
    *out = r->p;
    r->p += n;
    return 0;
}

#endif
