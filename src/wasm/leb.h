/* leb.h - reading WebAssembly's binary encodings through a bounds-checked cursor.
 *
 * Uses base/rd.h's cursor (rd_init, rd_left, rd_offset). Every reader checks the
 * remaining length before each byte, advances only on success, and on failure
 * returns SL_EPROTO and sets *why to the spec test suite's wording:
 *   "unexpected end"                   the bytes ran out mid-value
 *   "integer representation too long" an LEB128 longer than ceil(N / 7) bytes
 *   "integer too large"                the last byte's unused bits are not zero
 *                                      (unsigned) or not the sign's copies (signed)
 * (the spec, 5.2.2: "the total number of bytes encoding a value of type uN must not
 * exceed ceil(N/7) bytes" and unused bits of the last byte must be 0 / sign bits).
 * Callers that read code already validated (the compiler) may ignore the status.
 * Threads: pure functions over the caller's cursor. */
#ifndef SL_WASM_LEB_H
#define SL_WASM_LEB_H

#include "base/rd.h"

static inline int wasm__u8(rd *r, uint8_t *v, const char **why) {
    if (r->p >= r->end) {
        *why = "unexpected end";
        return SL_EPROTO;
    }
    *v = *r->p++;
    return 0;
}

/* Unsigned LEB128 of at most bits (<= 64) bits into *v. */
static inline int wasm__leb_u(rd *r, unsigned bits, uint64_t *v, const char **why) {
    const uint8_t *p = r->p;
    uint64_t x = 0;
    unsigned shift = 0;
    for (;;) {
        if (p >= r->end) {
            *why = "unexpected end";
            return SL_EPROTO;
        }
        uint8_t b = *p++;
        if (bits - shift <= 7) {
            /* The last byte this width allows: no bits past the width, then no
             * continuation (checked in this order, as the reference interpreter). */
            if (((b & 0x7F) >> (bits - shift)) != 0) {
                *why = "integer too large";
                return SL_EPROTO;
            }
            if (b & 0x80) {
                *why = "integer representation too long";
                return SL_EPROTO;
            }
            x |= (uint64_t)b << shift;
            break;
        }
        x |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) break;
        shift += 7;
    }
    r->p = p;
    *v = x;
    return 0;
}

/* Signed LEB128 of at most bits (<= 64) bits, sign-extended into *v. */
static inline int wasm__leb_s(rd *r, unsigned bits, int64_t *v, const char **why) {
    const uint8_t *p = r->p;
    uint64_t x = 0;
    unsigned shift = 0;
    uint8_t b;
    for (;;) {
        if (p >= r->end) {
            *why = "unexpected end";
            return SL_EPROTO;
        }
        b = *p++;
        if (bits - shift <= 7) {
            unsigned used = bits - shift; /* value bits in this byte, incl. the sign bit */
            /* Bits used-1 .. 6 must all equal the sign bit (used-1). */
            uint8_t rest = (uint8_t)((b & 0x7F) >> (used - 1));
            uint8_t ones = (uint8_t)(0x7F >> (used - 1));
            if (rest != 0 && rest != ones) {
                *why = "integer too large";
                return SL_EPROTO;
            }
            if (b & 0x80) {
                *why = "integer representation too long";
                return SL_EPROTO;
            }
            x |= (uint64_t)(b & 0x7F) << shift;
            shift += 7;
            break;
        }
        x |= (uint64_t)(b & 0x7F) << shift;
        shift += 7;
        if (!(b & 0x80)) break;
    }
    /* Sign-extend from the last byte's bit 6. */
    if (shift < 64 && (b & 0x40)) x |= ~(uint64_t)0 << shift;
    r->p = p;
    *v = (int64_t)x;
    return 0;
}

static inline int wasm__u32(rd *r, uint32_t *v, const char **why) {
    if (r->p < r->end && *r->p < 0x80) { /* one byte: most indices and counts */
        *v = *r->p++;
        return 0;
    }
    uint64_t x;
    int rc = wasm__leb_u(r, 32, &x, why);
    if (rc == 0) *v = (uint32_t)x;
    return rc;
}

static inline int wasm__s32(rd *r, int32_t *v, const char **why) {
    if (r->p < r->end && *r->p < 0x80) { /* one byte: -64 .. 63 */
        uint8_t b = *r->p++;
        *v = (b & 0x40) ? (int32_t)b - 128 : (int32_t)b;
        return 0;
    }
    int64_t x;
    int rc = wasm__leb_s(r, 32, &x, why);
    if (rc == 0) *v = (int32_t)x;
    return rc;
}

/* Block types are s33: negative one-byte values are value types / empty. */
static inline int wasm__s33(rd *r, int64_t *v, const char **why) {
    return wasm__leb_s(r, 33, v, why);
}

static inline int wasm__s64(rd *r, int64_t *v, const char **why) {
    return wasm__leb_s(r, 64, v, why);
}

/* IEEE bits of an f32 / f64 immediate (little-endian). */
static inline int wasm__f32(rd *r, uint32_t *bits, const char **why) {
    if (rd_u32le(r, bits) < 0) {
        *why = "unexpected end";
        return SL_EPROTO;
    }
    return 0;
}

static inline int wasm__f64(rd *r, uint64_t *bits, const char **why) {
    if (rd_u64le(r, bits) < 0) {
        *why = "unexpected end";
        return SL_EPROTO;
    }
    return 0;
}

#endif
