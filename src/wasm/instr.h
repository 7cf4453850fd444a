/* instr.h - reading one instruction and its immediates, inline for the hot loops.
 *
 * decode.c walks every expression with it (well-formedness, the suite's malformed
 * texts) and validate.c re-reads bodies with it; wasm__instr_read() in decode.c is
 * the out-of-line entry for other files. Value and reference types are read as the
 * reference interpreter's signed 7-bit LEB128, so a byte with its top bit set is
 * "integer representation too long" and an unknown one "malformed reference type".
 * Threads: pure functions over the caller's cursor. */
#ifndef SL_WASM_INSTR_H
#define SL_WASM_INSTR_H

#include "wasm/leb.h"
#include "wasm/module_internal.h"

/* Value types are read as a signed 7-bit LEB128 (the reference interpreter's s7),
 * so a byte with its top bit set is "integer representation too long". */
static inline int wasm__read_valtype(rd *r, wasm_valtype *vt, const char **why, uint32_t *why_off) {
    *why_off = rd_offset(r);
    if (r->p >= r->end) {
        *why = "unexpected end";
        return SL_EPROTO;
    }
    uint8_t b = *r->p;
    int64_t v;
    if (wasm__leb_s(r, 7, &v, why) < 0) return SL_EPROTO;
    if (b >= 0x7C) {
        *vt = (wasm_valtype)b; /* 0x7F i32, 0x7E i64, 0x7D f32, 0x7C f64 */
        return 0;
    }
    if (b >= 0x71) {
        /* 0x7B is v128: SIMD is not supported; the rest are no type at all. */
        *why = "malformed value type";
        return SL_EPROTO;
    }
    if (b == WASM_FUNCREF || b == WASM_EXTERNREF) {
        *vt = (wasm_valtype)b;
        return 0;
    }
    *why = "malformed reference type";
    return SL_EPROTO;
}

static inline int wasm__read_reftype(rd *r, wasm_valtype *vt, const char **why, uint32_t *why_off) {
    *why_off = rd_offset(r);
    if (r->p >= r->end) {
        *why = "unexpected end";
        return SL_EPROTO;
    }
    uint8_t b = *r->p;
    int64_t v;
    if (wasm__leb_s(r, 7, &v, why) < 0) return SL_EPROTO;
    if (b == WASM_FUNCREF || b == WASM_EXTERNREF) {
        *vt = (wasm_valtype)b;
        return 0;
    }
    *why = "malformed reference type";
    return SL_EPROTO;
}

/* A vector length: at most the bytes left counted from the length's first byte. */
static inline int wasm__read_len32(rd *r, uint32_t *n, const char **why, uint32_t *why_off) {
    *why_off = rd_offset(r);
    size_t left = rd_left(r);
    if (wasm__u32(r, n, why) < 0) return SL_EPROTO;
    if (*n > left) {
        *why = "length out of bounds";
        return SL_EPROTO;
    }
    return 0;
}

static inline int wasm__read_zero(rd *r, const char **why, uint32_t *why_off) {
    uint8_t b;
    *why_off = rd_offset(r);
    if (wasm__u8(r, &b, why) < 0) return SL_EPROTO;
    if (b != 0) {
        *why = "zero byte expected";
        return SL_EPROTO;
    }
    return 0;
}

/* ---- instructions ---- */

static inline int wasm__read_blocktype(rd *r, wasm_instr *in, const char **why, uint32_t *why_off) {
    *why_off = rd_offset(r);
    if (r->p >= r->end) {
        *why = "unexpected end";
        return SL_EPROTO;
    }
    uint8_t b = *r->p;
    if (b == 0x40) {
        r->p++;
        in->a = WASM_BLOCK_EMPTY;
        return 0;
    }
    if ((b & 0xC0) == 0x40) {
        in->a = WASM_BLOCK_VAL;
        return wasm__read_valtype(r, &in->type, why, why_off);
    }
    int64_t v;
    if (wasm__s33(r, &v, why) < 0) return SL_EPROTO;
    in->a = WASM_BLOCK_INDEX;
    in->b = (uint32_t)v; /* a negative s33 wraps, as the reference interpreter's i32 */
    return 0;
}

__attribute__((always_inline)) static inline int
wasm__instr_read_inline(rd *r, wasm_instr *in, const char **why, uint32_t *why_off) {
    uint8_t b;
    uint16_t code;
    /* Fields are set one by one: a memset here costs more than decoding most
     * instructions. Fields an immediate kind does not use are zero. */
    in->a = 0;
    in->b = 0;
    in->s = 0;
    in->bits = 0;
    in->type = (wasm_valtype)0;
    in->labels = NULL;
    in->offset = rd_offset(r);
    *why_off = in->offset;
    if (wasm__u8(r, &b, why) < 0) return SL_EPROTO;
    code = b;
    if (b == 0xFC) {
        uint32_t sub;
        *why_off = rd_offset(r);
        if (wasm__u32(r, &sub, why) < 0) return SL_EPROTO;
        if (sub > 0xFF) {
            *why = "illegal opcode";
            *why_off = in->offset;
            return SL_EPROTO;
        }
        code = (uint16_t)(0xFC00 | sub);
    }
    const wasm_opinfo *info = wasm__opinfo(code);
    if (!info) {
        *why = "illegal opcode";
        *why_off = in->offset;
        return SL_EPROTO;
    }
    in->op = code;
    *why_off = rd_offset(r);
    switch ((wasm_imm)info->imm) {
    case IMM_NONE:
        return 0;
    case IMM_BLOCKTYPE:
        return wasm__read_blocktype(r, in, why, why_off);
    case IMM_LABEL:
    case IMM_FUNC:
    case IMM_LOCAL:
    case IMM_GLOBAL:
    case IMM_TABLE:
    case IMM_DATA:
    case IMM_ELEM:
        return wasm__u32(r, &in->a, why);
    case IMM_BRTABLE: {
        if (wasm__read_len32(r, &in->a, why, why_off) < 0) return SL_EPROTO;
        in->labels = r->p;
        for (uint32_t i = 0; i < in->a; i++) {
            uint32_t l;
            *why_off = rd_offset(r);
            if (wasm__u32(r, &l, why) < 0) return SL_EPROTO;
        }
        *why_off = rd_offset(r);
        return wasm__u32(r, &in->b, why);
    }
    case IMM_CALL_INDIRECT:
    case IMM_TABLE_INIT:
    case IMM_TABLE_COPY:
    case IMM_MEM8:
    case IMM_MEM16:
    case IMM_MEM32:
    case IMM_MEM64:
        if (wasm__u32(r, &in->a, why) < 0) return SL_EPROTO;
        *why_off = rd_offset(r);
        return wasm__u32(r, &in->b, why);
    case IMM_MEMIDX:
        return wasm__read_zero(r, why, why_off);
    case IMM_I32: {
        int32_t v;
        if (wasm__s32(r, &v, why) < 0) return SL_EPROTO;
        in->s = v;
        return 0;
    }
    case IMM_I64:
        return wasm__s64(r, &in->s, why);
    case IMM_F32: {
        uint32_t bits;
        if (wasm__f32(r, &bits, why) < 0) return SL_EPROTO;
        in->bits = bits;
        return 0;
    }
    case IMM_F64:
        return wasm__f64(r, &in->bits, why);
    case IMM_REFTYPE:
        return wasm__read_reftype(r, &in->type, why, why_off);
    case IMM_SELECT_T: {
        if (wasm__read_len32(r, &in->a, why, why_off) < 0) return SL_EPROTO;
        for (uint32_t i = 0; i < in->a; i++) {
            wasm_valtype t;
            if (wasm__read_valtype(r, &t, why, why_off) < 0) return SL_EPROTO;
            if (i == 0) in->type = t;
        }
        return 0;
    }
    case IMM_MEMORY_INIT:
        if (wasm__u32(r, &in->a, why) < 0) return SL_EPROTO;
        return wasm__read_zero(r, why, why_off);
    case IMM_MEMORY_COPY:
        if (wasm__read_zero(r, why, why_off) < 0) return SL_EPROTO;
        return wasm__read_zero(r, why, why_off);
    }
    SL_ASSERT(!"opcodes.def row with an unknown immediate kind");
    return SL_EPROTO;
}

#endif
