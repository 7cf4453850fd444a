/* decode.c - the WebAssembly binary format (spec 2.0 chapter 5) into a wasm_module.
 *
 * Decoding checks well-formedness (SL_EPROTO, "malformed"); validate.c checks types
 * and indices. Function bodies are handed to the validator instruction by instruction
 * as they are walked (wasm__vctx_body_*), so code is read once; its verdict waits
 * until decoding has finished, since a malformed byte anywhere wins. Messages and
 * their order follow the reference interpreter, whose wording the suite expects:
 *   - one cursor runs over the whole module; a section or function body is parsed
 *     from its start and only then compared with its declared size ("section size
 *     mismatch"), so a body missing its `end` may run on into the next bytes;
 *   - a length (section size, vector count, name or byte-string length) larger than
 *     the bytes left in the module counted from the length's own first byte is
 *     "length out of bounds"; running out of bytes inside a section is "unexpected
 *     end of section or function", before the first section "unexpected end";
 *   - after the last section: "function and code section have inconsistent lengths",
 *     "data count and data section have inconsistent lengths", "data count section
 *     required", in that order.
 * Invariants: (1) the cursor never passes the module's end; (2) arrays are sized
 *   from counts capped by the bytes left in their section (each entry takes at least
 *   one byte, so a larger count is bound to fail: its extra entries are decoded into
 *   a scratch slot and never stored); (3) everything allocated lives in the module's
 *   arena, so a failure leaks nothing.
 * Threads: runs inside wasm_module_new() on the caller's thread. See validate.c next. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/common.h"
#include "base/err.h"
#include "base/mem.h"
#include "wasm/instr.h"
#include "wasm/leb.h"
#include "wasm/module_internal.h"

/* Block kinds on the decoder's nesting stack. */
enum { CTL_BLOCK = 0, CTL_IF = 1, CTL_ELSE = 2 };

typedef struct dec {
    wasm_module *m;         /* being filled */
    rd r;                   /* over the whole module; r.start = m->bytes */
    wasm_diag *d;           /* caller's diagnostics, may be NULL */
    uint32_t func_index;    /* function being decoded, for diagnostics; UINT32_MAX if none */
    uint32_t section_end;   /* declared end offset of the current section */
    bool in_section;        /* running out of bytes is "unexpected end of section ..." */
    bool uses_data;         /* some body has memory.init or data.drop */
    uint32_t defined_funcs; /* entries of the function section */
    uint32_t code_count;    /* entries of the code section */
    uint32_t datacount;     /* the data count section's value, if present */
    wasm_vctx *vc;          /* validates bodies as they are walked */
    bool space_made[4];     /* index space of each wasm_extern_kind allocated */
    uint8_t *ctl;           /* nesting stack of CTL_* while walking an expression */
    uint32_t ctl_cap;       /* its capacity */
} dec;

static int dec_fail(dec *dc, int rc, uint32_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int dec_fail(dec *dc, int rc, uint32_t offset, const char *fmt, ...) {
    wasm_diag *d = dc->d;
    if (d) {
        va_list ap;
        d->rc = rc;
        d->offset = offset;
        d->func_index = dc->func_index;
        va_start(ap, fmt);
        vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* A malformed-input failure reported by a reader with the suite's text. */
static int dec_bad(dec *dc, const char *why, uint32_t offset) {
    if (dc->in_section && strcmp(why, "unexpected end") == 0)
        why = "unexpected end of section or function";
    return dec_fail(dc, SL_EPROTO, offset, "%s", why);
}

static int dec_nomem(dec *dc) {
    return dec_fail(dc, -ENOMEM, rd_offset(&dc->r), "out of memory decoding the module");
}

int wasm__instr_read(rd *r, wasm_instr *in, const char **why, uint32_t *why_off) {
    return wasm__instr_read_inline(r, in, why, why_off);
}

/* ---- dec-level readers: fail with a diagnostic ---- */

static int d_u8(dec *dc, uint8_t *v) {
    const char *why;
    uint32_t off = rd_offset(&dc->r);
    if (wasm__u8(&dc->r, v, &why) < 0) return dec_bad(dc, why, off);
    return 0;
}

static int d_u32(dec *dc, uint32_t *v) {
    const char *why;
    uint32_t off = rd_offset(&dc->r);
    if (wasm__u32(&dc->r, v, &why) < 0) return dec_bad(dc, why, off);
    return 0;
}

static int d_len32(dec *dc, uint32_t *n) {
    const char *why;
    uint32_t off;
    if (wasm__read_len32(&dc->r, n, &why, &off) < 0) return dec_bad(dc, why, off);
    return 0;
}

static int d_valtype(dec *dc, wasm_valtype *vt) {
    const char *why;
    uint32_t off;
    if (wasm__read_valtype(&dc->r, vt, &why, &off) < 0) return dec_bad(dc, why, off);
    return 0;
}

static int d_reftype(dec *dc, wasm_valtype *vt) {
    const char *why;
    uint32_t off;
    if (wasm__read_reftype(&dc->r, vt, &why, &off) < 0) return dec_bad(dc, why, off);
    return 0;
}

/* Entries worth storing for a count: the rest must fail (invariant 2). */
static uint32_t vec_cap(const dec *dc, uint32_t count) {
    uint32_t pos = rd_offset(&dc->r);
    uint32_t left = pos < dc->section_end ? dc->section_end - pos : 0;
    return count < left ? count : left;
}

/* Arena array of n entries of size bytes each (n may be 0: NULL). */
static void *dec_array(dec *dc, uint32_t n, size_t size) {
    if (n == 0) return NULL;
    return wasm__alloc(dc->m, (size_t)n * size);
}

/* Well-formed UTF-8 (RFC 3629): shortest form, no surrogates, at most U+10FFFF. */
static bool utf8_valid(const uint8_t *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t len;
        uint8_t lo = 0x80, hi = 0xBF; /* bounds of the second byte */
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            return false;
        }
        if (n - i < len) return false;
        if (p[i + 1] < lo || p[i + 1] > hi) return false;
        for (size_t k = 2; k < len; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xBF) return false;
        i += len;
    }
    return true;
}

/* A name: a length, then that many bytes of UTF-8. Copied NUL-terminated when out
 * is not NULL. */
static int d_name(dec *dc, const char **out, uint32_t *len_out) {
    uint32_t n = 0;
    const uint8_t *p;
    if (d_len32(dc, &n) < 0) return SL_EPROTO;
    uint32_t off = rd_offset(&dc->r);
    if (rd_bytes(&dc->r, n, &p) < 0) return dec_bad(dc, "unexpected end", off);
    if (!utf8_valid(p, n)) return dec_fail(dc, SL_EPROTO, off, "malformed UTF-8 encoding");
    if (out) {
        char *s = wasm__alloc(dc->m, (size_t)n + 1);
        if (!s) return dec_nomem(dc);
        memcpy(s, p, n);
        s[n] = '\0';
        *out = s;
        *len_out = n;
    }
    return 0;
}

static int d_limits(dec *dc, wasm_lim *lim) {
    uint64_t flags;
    const char *why;
    uint32_t off = rd_offset(&dc->r);
    /* 2.0 knows flags 0 (min) and 1 (min, max): the reference decoder reads them as
     * a one-bit LEB128, so 2 is "integer too large" and 0x81 0x00 "... too long". */
    if (wasm__leb_u(&dc->r, 1, &flags, &why) < 0) return dec_bad(dc, why, off);
    if (d_u32(dc, &lim->min) < 0) return SL_EPROTO;
    lim->has_max = flags & 1;
    lim->max = UINT32_MAX;
    if (lim->has_max && d_u32(dc, &lim->max) < 0) return SL_EPROTO;
    return 0;
}

static int d_tabletype(dec *dc, wasm_tabletype *t) {
    if (d_reftype(dc, &t->elem) < 0) return SL_EPROTO;
    return d_limits(dc, &t->lim);
}

static int d_globaltype(dec *dc, wasm_globaltype *g) {
    uint8_t mut = 0;
    if (d_valtype(dc, &g->type) < 0) return SL_EPROTO;
    uint32_t off = rd_offset(&dc->r);
    if (d_u8(dc, &mut) < 0) return SL_EPROTO;
    if (mut > 1) return dec_fail(dc, SL_EPROTO, off, "malformed mutability");
    g->mutable_ = mut == 1;
    return 0;
}

/* ---- expressions ---- */

static int ctl_push(dec *dc, uint32_t depth, uint8_t kind) {
    if (depth >= WASM_CONTROL_DEPTH_MAX)
        return dec_fail(dc, SL_ELIMIT, rd_offset(&dc->r),
                        "blocks nested deeper than WASM_CONTROL_DEPTH_MAX (%u)",
                        WASM_CONTROL_DEPTH_MAX);
    if (depth == dc->ctl_cap) {
        uint32_t ncap = dc->ctl_cap ? dc->ctl_cap * 2 : 64;
        uint8_t *n = mem_realloc(MEM_WASM, dc->ctl, ncap);
        if (!n) return dec_nomem(dc);
        dc->ctl = n;
        dc->ctl_cap = ncap;
    }
    dc->ctl[depth] = kind;
    return 0;
}

/* Passes an instruction of a body to the validator (which keeps its verdict). */
static int d_check(dec *dc, const wasm_instr *in) {
    if (wasm__vctx_body_instr(dc->vc, in) < 0) return dec_nomem(dc);
    return 0;
}

/* An end or else at offset off: 0 when it ends the expression, 1 to go on, <0 on
 * error. Only an `if` without an else yet may continue with one; anywhere else the
 * block's instruction list ends there and its `end` is missing. */
static int d_structure(dec *dc, uint8_t b, uint32_t off, uint32_t *depth, bool is_body) {
    if (b == WASM_OP_else_) {
        if (*depth == 0 || dc->ctl[*depth - 1] != CTL_IF)
            return dec_fail(dc, SL_EPROTO, off, "END opcode expected");
        dc->ctl[*depth - 1] = CTL_ELSE;
    }
    dc->r.p++;
    if (is_body) {
        wasm_instr in;
        memset(&in, 0, sizeof(in));
        in.op = b;
        in.offset = off;
        if (d_check(dc, &in) < 0) return -ENOMEM;
    }
    if (b == WASM_OP_else_) return 1;
    if (*depth == 0) return 0;
    (*depth)--;
    return 1;
}

/* Walks one expression (a body's instructions or a constant expression) through
 * its final `end`, checking that it is well-formed. */
static int d_expr(dec *dc, bool is_body) {
    uint32_t depth = 0;
    for (;;) {
        uint32_t off = rd_offset(&dc->r);
        if (dc->r.p >= dc->r.end) return dec_bad(dc, "unexpected end", off);
        uint8_t b = *dc->r.p;
        if (b == WASM_OP_end || b == WASM_OP_else_) {
            int rc = d_structure(dc, b, off, &depth, is_body);
            if (rc <= 0) return rc; /* the expression's final end, or an error */
            continue;
        }
        if (b < 0xFC && wasm__ops[b].sig_fixed && wasm__ops[b].imm == IMM_NONE) {
            /* One byte, no immediate: nothing to decode, one table row to check. */
            dc->r.p++;
            if (is_body && wasm__vctx_body_simple(dc->vc, &wasm__ops[b], off) < 0)
                return dec_nomem(dc);
            continue;
        }
        wasm_instr in;
        const char *why;
        uint32_t why_off;
        if (wasm__instr_read_inline(&dc->r, &in, &why, &why_off) < 0) {
            if (strcmp(why, "illegal opcode") == 0)
                return dec_fail(dc, SL_EPROTO, why_off, "illegal opcode 0x%02x", b);
            return dec_bad(dc, why, why_off);
        }
        switch (in.op) {
        case WASM_OP_block:
        case WASM_OP_loop:
            if (ctl_push(dc, depth, CTL_BLOCK) < 0) return SL_EPROTO;
            depth++;
            break;
        case WASM_OP_if_:
            if (ctl_push(dc, depth, CTL_IF) < 0) return SL_EPROTO;
            depth++;
            break;
        case WASM_OP_memory_init:
        case WASM_OP_data_drop:
            if (is_body) dc->uses_data = true;
            break;
        default:
            break;
        }
        if (is_body && d_check(dc, &in) < 0) return -ENOMEM;
    }
}

/* A constant expression: remembered by offset, validated later (validate.c). */
static int d_constexpr(dec *dc, wasm_constexpr *e) {
    e->kind = WASM_CONST_PENDING_;
    e->expr_offset = rd_offset(&dc->r);
    return d_expr(dc, false);
}

/* ---- index spaces ---- */

/* Allocates the kind's index space with room for the imports plus `defined`
 * entries and fills in the imported ones. Called once per kind. */
static int space_make(dec *dc, wasm_extern_kind kind, uint32_t defined) {
    wasm_module *m = dc->m;
    SL_ASSERT(!dc->space_made[kind]);
    dc->space_made[kind] = true;
    uint32_t imported = 0;
    for (uint32_t i = 0; i < m->import_count; i++)
        imported += m->imports[i].kind == kind;
    uint64_t total = (uint64_t)imported + defined;
    if (total > UINT32_MAX)
        return dec_fail(dc, SL_ELIMIT, rd_offset(&dc->r), "index space larger than 2^32-1");
    uint32_t n = (uint32_t)total;
    switch (kind) {
    case WASM_EXTERN_FUNC:
        SL_ASSERT(m->funcs == NULL);
        m->funcs = dec_array(dc, n, sizeof(*m->funcs));
        if (n && !m->funcs) return dec_nomem(dc);
        m->func_count = n;
        m->func_import_count = imported;
        break;
    case WASM_EXTERN_TABLE:
        SL_ASSERT(m->tables == NULL);
        m->tables = dec_array(dc, n, sizeof(*m->tables));
        if (n && !m->tables) return dec_nomem(dc);
        m->table_count = n;
        m->table_import_count = imported;
        break;
    case WASM_EXTERN_MEMORY:
        SL_ASSERT(m->memories == NULL);
        m->memories = dec_array(dc, n, sizeof(*m->memories));
        if (n && !m->memories) return dec_nomem(dc);
        m->memory_count = n;
        m->memory_import_count = imported;
        break;
    case WASM_EXTERN_GLOBAL:
        SL_ASSERT(m->globals == NULL);
        m->globals = dec_array(dc, n, sizeof(*m->globals));
        if (n && !m->globals) return dec_nomem(dc);
        m->global_count = n;
        m->global_import_count = imported;
        break;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < m->import_count; i++) {
        const wasm_importdef *im = &m->imports[i];
        if (im->kind != kind) continue;
        switch (kind) {
        case WASM_EXTERN_FUNC:
            m->funcs[k].type_index = im->of.type_index;
            m->funcs[k].import_index = i;
            m->funcs[k].type_offset = im->offset;
            break;
        case WASM_EXTERN_TABLE:
            m->tables[k].type = im->of.table;
            m->tables[k].import_index = i;
            m->tables[k].offset = im->offset;
            break;
        case WASM_EXTERN_MEMORY:
            m->memories[k].lim = im->of.memory;
            m->memories[k].import_index = i;
            m->memories[k].offset = im->offset;
            break;
        case WASM_EXTERN_GLOBAL:
            m->globals[k].type = im->of.global;
            m->globals[k].import_index = i;
            break;
        }
        k++;
    }
    for (uint32_t i = imported; i < n; i++) {
        switch (kind) {
        case WASM_EXTERN_FUNC:
            m->funcs[i].import_index = UINT32_MAX;
            break;
        case WASM_EXTERN_TABLE:
            m->tables[i].import_index = UINT32_MAX;
            break;
        case WASM_EXTERN_MEMORY:
            m->memories[i].import_index = UINT32_MAX;
            break;
        case WASM_EXTERN_GLOBAL:
            m->globals[i].import_index = UINT32_MAX;
            break;
        }
    }
    return 0;
}

/* Index spaces of kinds without a section of their own hold just imports. Runs at
 * the code section (bodies need every space; sections 3-6 all precede it) and at
 * the end for modules without code. */
static int spaces_finish(dec *dc) {
    for (unsigned k = 0; k < 4; k++)
        if (!dc->space_made[k] && space_make(dc, (wasm_extern_kind)k, 0) < 0) return SL_EPROTO;
    return 0;
}

/* ---- sections ---- */

static int sec_custom(dec *dc, uint32_t size, uint32_t start) {
    if (d_name(dc, NULL, NULL) < 0) return SL_EPROTO;
    uint32_t used = rd_offset(&dc->r) - start;
    if (used > size) return dec_bad(dc, "unexpected end", rd_offset(&dc->r));
    /* A size may pass the length check yet overrun the module by its own byte. */
    if (size - used > rd_left(&dc->r)) return dec_bad(dc, "unexpected end", dc->m->size);
    dc->r.p += size - used; /* the payload is not interpreted */
    return 0;
}

static int sec_type(dec *dc) {
    wasm_module *m = dc->m;
    uint32_t count = 0;
    if (d_len32(dc, &count) < 0) return SL_EPROTO;
    uint32_t cap = vec_cap(dc, count);
    m->types = dec_array(dc, cap, sizeof(*m->types));
    if (cap && !m->types) return dec_nomem(dc);
    m->type_count = cap;
    for (uint32_t i = 0; i < count; i++) {
        wasm_functype scratch;
        wasm_functype *ft = i < cap ? &m->types[i] : &scratch;
        uint32_t off = rd_offset(&dc->r);
        int64_t form;
        const char *why;
        if (wasm__leb_s(&dc->r, 7, &form, &why) < 0) return dec_bad(dc, why, off);
        if (form != -0x20) return dec_fail(dc, SL_EPROTO, off, "malformed function type");
        for (int side = 0; side < 2; side++) {
            uint32_t n = 0;
            if (d_len32(dc, &n) < 0) return SL_EPROTO;
            if (n > WASM_TYPE_ARITY_MAX)
                return dec_fail(dc, SL_ELIMIT, off,
                                "function type with %u %s exceeds WASM_TYPE_ARITY_MAX (%u)", n,
                                side ? "results" : "params", WASM_TYPE_ARITY_MAX);
            wasm_valtype *ts = dec_array(dc, n, sizeof(*ts));
            if (n && !ts) return dec_nomem(dc);
            for (uint32_t k = 0; k < n; k++)
                if (d_valtype(dc, &ts[k]) < 0) return SL_EPROTO;
            if (side == 0) {
                ft->param_count = n;
                ft->params = ts;
            } else {
                ft->result_count = n;
                ft->results = ts;
            }
        }
    }
    return 0;
}

static int sec_import(dec *dc) {
    wasm_module *m = dc->m;
    uint32_t count = 0;
    if (d_len32(dc, &count) < 0) return SL_EPROTO;
    uint32_t cap = vec_cap(dc, count);
    m->imports = dec_array(dc, cap, sizeof(*m->imports));
    if (cap && !m->imports) return dec_nomem(dc);
    m->import_count = cap;
    uint32_t per_kind[4] = {0, 0, 0, 0};
    for (uint32_t i = 0; i < count; i++) {
        wasm_importdef scratch;
        wasm_importdef *im = i < cap ? &m->imports[i] : &scratch;
        uint8_t kind = 0;
        if (d_name(dc, &im->module, &im->module_len) < 0) return SL_EPROTO;
        if (d_name(dc, &im->name, &im->name_len) < 0) return SL_EPROTO;
        uint32_t off = rd_offset(&dc->r);
        im->offset = off;
        if (d_u8(dc, &kind) < 0) return SL_EPROTO;
        switch (kind) {
        case 0:
            if (d_u32(dc, &im->of.type_index) < 0) return SL_EPROTO;
            break;
        case 1:
            if (d_tabletype(dc, &im->of.table) < 0) return SL_EPROTO;
            break;
        case 2:
            if (d_limits(dc, &im->of.memory) < 0) return SL_EPROTO;
            break;
        case 3:
            if (d_globaltype(dc, &im->of.global) < 0) return SL_EPROTO;
            break;
        default:
            return dec_fail(dc, SL_EPROTO, off, "malformed import kind");
        }
        im->kind = (wasm_extern_kind)kind;
        im->index = per_kind[kind]++;
    }
    return 0;
}

static int sec_function(dec *dc) {
    uint32_t count = 0;
    if (d_len32(dc, &count) < 0) return SL_EPROTO;
    uint32_t cap = vec_cap(dc, count);
    if (space_make(dc, WASM_EXTERN_FUNC, cap) < 0) return SL_EPROTO;
    dc->defined_funcs = cap;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t scratch;
        uint32_t *t = &scratch;
        if (i < cap) {
            wasm_funcdef *f = &dc->m->funcs[dc->m->func_import_count + i];
            f->type_offset = rd_offset(&dc->r);
            t = &f->type_index;
        }
        if (d_u32(dc, t) < 0) return SL_EPROTO;
    }
    return 0;
}

static int sec_table(dec *dc) {
    uint32_t count = 0;
    if (d_len32(dc, &count) < 0) return SL_EPROTO;
    uint32_t cap = vec_cap(dc, count);
    if (space_make(dc, WASM_EXTERN_TABLE, cap) < 0) return SL_EPROTO;
    for (uint32_t i = 0; i < count; i++) {
        wasm_tabledef scratch;
        wasm_tabledef *t = i < cap ? &dc->m->tables[dc->m->table_import_count + i] : &scratch;
        t->offset = rd_offset(&dc->r);
        if (d_tabletype(dc, &t->type) < 0) return SL_EPROTO;
    }
    return 0;
}

static int sec_memory(dec *dc) {
    uint32_t count = 0;
    if (d_len32(dc, &count) < 0) return SL_EPROTO;
    uint32_t cap = vec_cap(dc, count);
    if (space_make(dc, WASM_EXTERN_MEMORY, cap) < 0) return SL_EPROTO;
    for (uint32_t i = 0; i < count; i++) {
        wasm_memdef scratch;
        wasm_memdef *l = i < cap ? &dc->m->memories[dc->m->memory_import_count + i] : &scratch;
        l->offset = rd_offset(&dc->r);
        if (d_limits(dc, &l->lim) < 0) return SL_EPROTO;
    }
    return 0;
}

static int sec_global(dec *dc) {
    uint32_t count = 0;
    if (d_len32(dc, &count) < 0) return SL_EPROTO;
    uint32_t cap = vec_cap(dc, count);
    if (space_make(dc, WASM_EXTERN_GLOBAL, cap) < 0) return SL_EPROTO;
    for (uint32_t i = 0; i < count; i++) {
        wasm_globaldef scratch;
        wasm_globaldef *g = i < cap ? &dc->m->globals[dc->m->global_import_count + i] : &scratch;
        if (d_globaltype(dc, &g->type) < 0) return SL_EPROTO;
        if (d_constexpr(dc, &g->init) < 0) return SL_EPROTO;
    }
    return 0;
}

static int sec_export(dec *dc) {
    wasm_module *m = dc->m;
    uint32_t count = 0;
    if (d_len32(dc, &count) < 0) return SL_EPROTO;
    uint32_t cap = vec_cap(dc, count);
    m->exports = dec_array(dc, cap, sizeof(*m->exports));
    if (cap && !m->exports) return dec_nomem(dc);
    m->export_count = cap;
    for (uint32_t i = 0; i < count; i++) {
        wasm_exportdef scratch;
        wasm_exportdef *ex = i < cap ? &m->exports[i] : &scratch;
        ex->offset = rd_offset(&dc->r);
        uint8_t kind = 0;
        if (d_name(dc, &ex->name, &ex->name_len) < 0) return SL_EPROTO;
        uint32_t off = rd_offset(&dc->r);
        if (d_u8(dc, &kind) < 0) return SL_EPROTO;
        if (kind > 3) return dec_fail(dc, SL_EPROTO, off, "malformed export kind");
        ex->kind = (wasm_extern_kind)kind;
        if (d_u32(dc, &ex->index) < 0) return SL_EPROTO;
    }
    return 0;
}

static int sec_start(dec *dc) {
    dc->m->start_offset = rd_offset(&dc->r);
    if (d_u32(dc, &dc->m->start) < 0) return SL_EPROTO;
    dc->m->has_start = true;
    return 0;
}

/* Element items for the function-index forms (0..3): ref.func of each index. */
static int elem_func_indices(dec *dc, wasm_elemdef *e) {
    uint32_t count = 0;
    if (d_len32(dc, &count) < 0) return SL_EPROTO;
    uint32_t cap = vec_cap(dc, count);
    e->items = dec_array(dc, cap, sizeof(*e->items));
    if (cap && !e->items) return dec_nomem(dc);
    e->item_count = cap;
    for (uint32_t i = 0; i < count; i++) {
        wasm_constexpr scratch;
        wasm_constexpr *it = i < cap ? &e->items[i] : &scratch;
        it->kind = WASM_CONST_REF_FUNC;
        it->type = WASM_FUNCREF;
        it->expr_offset = rd_offset(&dc->r);
        if (d_u32(dc, &it->of.index) < 0) return SL_EPROTO;
    }
    return 0;
}

/* Element items for the expression forms (4..7). */
static int elem_exprs(dec *dc, wasm_elemdef *e) {
    uint32_t count = 0;
    if (d_len32(dc, &count) < 0) return SL_EPROTO;
    uint32_t cap = vec_cap(dc, count);
    e->items = dec_array(dc, cap, sizeof(*e->items));
    if (cap && !e->items) return dec_nomem(dc);
    e->item_count = cap;
    for (uint32_t i = 0; i < count; i++) {
        wasm_constexpr scratch;
        wasm_constexpr *it = i < cap ? &e->items[i] : &scratch;
        if (d_constexpr(dc, it) < 0) return SL_EPROTO;
    }
    return 0;
}

static int elem_kind(dec *dc, wasm_valtype *t) {
    uint8_t k = 0;
    uint32_t off = rd_offset(&dc->r);
    if (d_u8(dc, &k) < 0) return SL_EPROTO;
    if (k != 0) return dec_fail(dc, SL_EPROTO, off, "malformed element kind");
    *t = WASM_FUNCREF;
    return 0;
}

static int sec_elem(dec *dc) {
    wasm_module *m = dc->m;
    uint32_t count = 0;
    if (d_len32(dc, &count) < 0) return SL_EPROTO;
    uint32_t cap = vec_cap(dc, count);
    m->elems = dec_array(dc, cap, sizeof(*m->elems));
    if (cap && !m->elems) return dec_nomem(dc);
    m->elem_count = cap;
    for (uint32_t i = 0; i < count; i++) {
        wasm_elemdef scratch;
        wasm_elemdef *e = i < cap ? &m->elems[i] : &scratch;
        memset(e, 0, sizeof(*e));
        uint32_t form = 0;
        uint32_t off = rd_offset(&dc->r);
        if (d_u32(dc, &form) < 0) return SL_EPROTO;
        /* Bit 0: passive/declarative (else active); bit 1: explicit table index
         * (active) or declarative (otherwise); bit 2: items are expressions. */
        if (form > 7) return dec_fail(dc, SL_EPROTO, off, "malformed elements segment kind");
        bool exprs = form & 4;
        if (form & 1) {
            e->mode = (form & 2) ? WASM_SEG_DECLARATIVE : WASM_SEG_PASSIVE;
        } else {
            e->mode = WASM_SEG_ACTIVE;
            if ((form & 2) && d_u32(dc, &e->table_index) < 0) return SL_EPROTO;
            if (d_constexpr(dc, &e->offset) < 0) return SL_EPROTO;
        }
        e->type = WASM_FUNCREF;
        if (form == 0 || form == 4) {
            /* The short active forms carry no element type: funcref. */
        } else if (exprs) {
            if (d_reftype(dc, &e->type) < 0) return SL_EPROTO;
        } else {
            if (elem_kind(dc, &e->type) < 0) return SL_EPROTO;
        }
        if ((exprs ? elem_exprs(dc, e) : elem_func_indices(dc, e)) < 0) return SL_EPROTO;
    }
    return 0;
}

static int sec_datacount(dec *dc) {
    if (d_u32(dc, &dc->datacount) < 0) return SL_EPROTO;
    dc->m->has_datacount = true;
    return 0;
}

static int d_body(dec *dc, wasm_funcdef *f, bool check) {
    uint32_t size = 0;
    if (d_len32(dc, &size) < 0) return SL_EPROTO;
    uint32_t start = rd_offset(&dc->r);
    uint32_t groups = 0;
    if (d_len32(dc, &groups) < 0) return SL_EPROTO;
    uint32_t cap = vec_cap(dc, groups);
    f->body_start = start;
    f->local_groups = dec_array(dc, cap, sizeof(*f->local_groups));
    if (cap && !f->local_groups) return dec_nomem(dc);
    f->local_group_count = cap;
    uint64_t total = 0;
    uint32_t kept = 0; /* runs of zero locals are read but not stored */
    for (uint32_t i = 0; i < groups; i++) {
        wasm_localgroup scratch;
        wasm_localgroup *g = kept < cap ? &f->local_groups[kept] : &scratch;
        if (d_u32(dc, &g->count) < 0) return SL_EPROTO;
        if (d_valtype(dc, &g->type) < 0) return SL_EPROTO;
        g->first = (uint32_t)total; /* params added by validate.c, which knows the type */
        total += g->count;
        if (g->count > 0 && kept < cap) kept++;
    }
    f->local_group_count = kept;
    if (total >= (1ull << 32)) return dec_fail(dc, SL_EPROTO, start, "too many locals");
    if (total > WASM_FUNC_LOCALS_MAX)
        return dec_fail(dc, SL_ELIMIT, start,
                        "function declares %llu locals, more than WASM_FUNC_LOCALS_MAX (%u)",
                        (unsigned long long)total, WASM_FUNC_LOCALS_MAX);
    f->local_count = (uint32_t)total;
    /* More runs than bytes left in the section: some were not stored, and the body
     * overruns its section, which is malformed. Do not validate what is missing. */
    if (groups > cap) check = false;
    f->code_start = rd_offset(&dc->r);
    if (check && wasm__vctx_body_begin(dc->vc, dc->func_index) < 0) return dec_nomem(dc);
    if (d_expr(dc, check) < 0) return SL_EPROTO;
    if (check) wasm__vctx_body_end(dc->vc);
    f->code_end = rd_offset(&dc->r);
    if (f->code_end - start != size) return dec_fail(dc, SL_EPROTO, start, "section size mismatch");
    return 0;
}

static int sec_code(dec *dc) {
    wasm_module *m = dc->m;
    uint32_t count = 0;
    if (d_len32(dc, &count) < 0) return SL_EPROTO;
    dc->code_count = count;
    if (spaces_finish(dc) < 0) return SL_EPROTO;
    if (wasm__vctx_code_begin(dc->vc, m->has_datacount ? dc->datacount : 0) < 0)
        return dec_nomem(dc);
    for (uint32_t i = 0; i < count; i++) {
        wasm_funcdef scratch;
        wasm_funcdef *f = &scratch;
        memset(&scratch, 0, sizeof(scratch));
        dc->func_index = m->func_import_count + i;
        bool check = i < dc->defined_funcs; /* the others fail: inconsistent lengths */
        if (check) f = &m->funcs[dc->func_index];
        if (d_body(dc, f, check) < 0) return SL_EPROTO;
    }
    dc->func_index = UINT32_MAX;
    return 0;
}

static int d_data(dec *dc, wasm_datadef *dd) {
    uint32_t form = 0;
    uint32_t off = rd_offset(&dc->r);
    if (d_u32(dc, &form) < 0) return SL_EPROTO;
    switch (form) {
    case 0:
        dd->mode = WASM_SEG_ACTIVE;
        break;
    case 1:
        dd->mode = WASM_SEG_PASSIVE;
        break;
    case 2:
        dd->mode = WASM_SEG_ACTIVE;
        if (d_u32(dc, &dd->memory_index) < 0) return SL_EPROTO;
        break;
    default:
        return dec_fail(dc, SL_EPROTO, off, "malformed data segment kind");
    }
    if (dd->mode == WASM_SEG_ACTIVE && d_constexpr(dc, &dd->offset) < 0) return SL_EPROTO;
    uint32_t n = 0;
    const uint8_t *p;
    if (d_len32(dc, &n) < 0) return SL_EPROTO;
    off = rd_offset(&dc->r);
    if (rd_bytes(&dc->r, n, &p) < 0) return dec_bad(dc, "unexpected end", off);
    dd->data_start = off;
    dd->data_len = n;
    return 0;
}

static int sec_data(dec *dc) {
    wasm_module *m = dc->m;
    uint32_t count = 0;
    if (d_len32(dc, &count) < 0) return SL_EPROTO;
    uint32_t cap = vec_cap(dc, count);
    m->datas = dec_array(dc, cap, sizeof(*m->datas));
    if (cap && !m->datas) return dec_nomem(dc);
    m->data_count = cap;
    for (uint32_t i = 0; i < count; i++) {
        wasm_datadef scratch;
        wasm_datadef *dd = i < cap ? &m->datas[i] : &scratch;
        memset(dd, 0, sizeof(*dd));
        if (d_data(dc, dd) < 0) return SL_EPROTO;
    }
    return 0;
}

/* Position of each known section id in the required order (custom: 0). */
static const uint8_t section_rank[13] = {
    [0] = 0, [1] = 1, [2] = 2, [3] = 3,   [4] = 4,   [5] = 5,   [6] = 6,
    [7] = 7, [8] = 8, [9] = 9, [12] = 10, [10] = 11, [11] = 12,
};

static int d_section(dec *dc, uint8_t id, uint32_t size, uint32_t start) {
    switch (id) {
    case 0:
        return sec_custom(dc, size, start);
    case 1:
        return sec_type(dc);
    case 2:
        return sec_import(dc);
    case 3:
        return sec_function(dc);
    case 4:
        return sec_table(dc);
    case 5:
        return sec_memory(dc);
    case 6:
        return sec_global(dc);
    case 7:
        return sec_export(dc);
    case 8:
        return sec_start(dc);
    case 9:
        return sec_elem(dc);
    case 10:
        return sec_code(dc);
    case 11:
        return sec_data(dc);
    case 12:
        return sec_datacount(dc);
    }
    SL_ASSERT(!"section id checked by the caller");
    return SL_EPROTO;
}

static int d_module(dec *dc) {
    wasm_module *m = dc->m;
    uint32_t v;
    if (rd_u32le(&dc->r, &v) < 0) return dec_fail(dc, SL_EPROTO, 0, "unexpected end");
    if (v != 0x6D736100u) return dec_fail(dc, SL_EPROTO, 0, "magic header not detected");
    if (rd_u32le(&dc->r, &v) < 0) return dec_fail(dc, SL_EPROTO, 4, "unexpected end");
    if (v != 1) return dec_fail(dc, SL_EPROTO, 4, "unknown binary version");

    uint8_t last_rank = 0;
    bool seen[13] = {false};
    while (dc->r.p < dc->r.end) {
        uint32_t off = rd_offset(&dc->r);
        uint8_t id = *dc->r.p;
        if (id > 12) return dec_fail(dc, SL_EPROTO, off, "malformed section id");
        if (id != 0) {
            if (section_rank[id] <= last_rank)
                return dec_fail(dc, SL_EPROTO, off, "unexpected content after last section");
            last_rank = section_rank[id];
            seen[id] = true;
        }
        dc->r.p++;
        uint32_t size = 0;
        if (d_len32(dc, &size) < 0) return SL_EPROTO;
        uint32_t start = rd_offset(&dc->r);
        dc->in_section = true;
        dc->section_end = start + size;
        if (d_section(dc, id, size, start) < 0) return SL_EPROTO;
        if (rd_offset(&dc->r) != start + size)
            return dec_fail(dc, SL_EPROTO, start, "section size mismatch");
        dc->in_section = false;
    }
    /* Index spaces of kinds without a section of their own hold just imports. */
    if (spaces_finish(dc) < 0) return SL_EPROTO;

    uint32_t end = rd_offset(&dc->r);
    if (dc->defined_funcs != dc->code_count)
        return dec_fail(dc, SL_EPROTO, end, "function and code section have inconsistent lengths");
    if (m->has_datacount && dc->datacount != m->data_count)
        return dec_fail(dc, SL_EPROTO, end,
                        "data count and data section have inconsistent lengths");
    /* Without a data section no data index exists: validation reports "unknown data
     * segment" instead (what the suite expects of wast2json's output for such text
     * modules); with one, a body naming a segment needs the count up front. */
    if (!m->has_datacount && dc->uses_data && seen[11])
        return dec_fail(dc, SL_EPROTO, end, "data count section required");
    return 0;
}

/* Every failure goes through dec_fail() exactly once, which records its status in
 * the diagnostic; readers then just return a negative value up the chain. */
int wasm__decode(wasm_module *m, wasm_vctx *vc, wasm_diag *d) {
    SL_ASSERT(m->bytes != NULL || m->size == 0);
    SL_ASSERT(m->types == NULL);
    wasm_diag local;
    dec dc;
    memset(&dc, 0, sizeof(dc));
    dc.m = m;
    dc.d = d ? d : &local;
    dc.func_index = UINT32_MAX;
    dc.vc = vc;
    static const uint8_t no_bytes[1]; /* an empty module has no buffer to point into */
    rd_init(&dc.r, m->bytes ? m->bytes : no_bytes, m->size);
    int rc = d_module(&dc);
    if (rc < 0) rc = dc.d->rc;
    mem_free(MEM_WASM, dc.ctl);
    SL_ASSERT(rc <= 0);
    SL_ASSERT(dc.r.p <= dc.r.end);
    return rc;
}
