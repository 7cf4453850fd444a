/* validate.c - WebAssembly 2.0 validation (spec chapter 3) of a decoded module.
 *
 * Code is checked with the spec appendix's algorithm: an operand stack of value
 * types where 0 is the unknown type (what an unreachable stack pops), and a stack of
 * control frames each remembering the operand height at entry and whether the rest
 * of the frame is unreachable (stack-polymorphic). Errors are SL_EINVAL with the
 * reference interpreter's text ("type mismatch", "unknown local 3", ...) and the
 * offending instruction's module offset; module-level checks run in the reference
 * interpreter's order: imports, function types, globals, tables, memories, element
 * and data segments, function bodies, start, exports, "multiple memories".
 * Constant expressions (2.0): one of t.const, ref.null, ref.func, or global.get of an
 * immutable imported global, producing exactly the expected type; validation turns
 * each WASM_CONST_PENDING_ into its final form.
 * Bodies are checked while decode.c walks them (wasm__vctx_body_*), so code is read
 * once; the first body failure is held in the context and reported by
 * wasm__validate() at the bodies' place in that order (malformed bytes anywhere, and
 * earlier module-level errors, win over it).
 * Invariants: (1) the operand stack never drops below the current frame's height;
 *   (2) stacks grow only through vpush/ctrl_push, bounded by WASM_FUNC_STACK_MAX and
 *   WASM_CONTROL_DEPTH_MAX; (3) nothing is allocated in the module except by fix-ups
 *   of already-allocated fields (local run numbering, max_stack, const-exprs).
 * Threads: runs inside wasm_module_new() on the caller's thread. */
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

#define VT_UNKNOWN 0 /* the bottom type of an unreachable stack */
#define V_BLOCKED 1  /* check_instr: a callee's type is unknown (reported elsewhere) */

typedef struct vframe {
    uint16_t op;          /* block, loop, if_, else_; end for the function body */
    bool unreachable;     /* the rest of the frame is stack-polymorphic */
    uint32_t height;      /* operand stack height at entry (after params popped) */
    uint32_t br_stamp;    /* br_table that last checked this frame as a target */
    uint32_t param_count; /* block type */
    uint32_t result_count;
    const wasm_valtype *params;
    const wasm_valtype *results;
} vframe;

struct wasm_vctx {
    wasm_module *m;
    wasm_diag *d;
    uint32_t func_index; /* for diagnostics, UINT32_MAX outside bodies */
    uint32_t off;        /* offset of the instruction being checked */
    uint8_t *vals;       /* operand stack: wasm_valtype bytes or VT_UNKNOWN */
    uint32_t vals_len;
    uint32_t vals_cap;
    vframe *ctrls; /* control stack */
    uint32_t ctrls_len;
    uint32_t ctrls_cap;
    uint32_t vals_max; /* high-water marks for the current body */
    uint32_t ctrls_max;
    uint8_t *refs;                       /* bitmap over funcs: may be the target of ref.func */
    uint8_t popped[WASM_TYPE_ARITY_MAX]; /* pop_vals' result for br_table */
    uint32_t br_stamp;                   /* counts br_table instructions, from 1 */
    uint8_t *local_types;                /* current body's params then locals, a byte each */
    uint32_t local_types_cap;
    /* Bodies are validated while the decoder walks them (one pass over the code);
     * the first failure waits in body_err until validate reaches the bodies in the
     * reference order, since malformed bytes anywhere and earlier module-level
     * errors must win over it. */
    wasm_diag body_err;                     /* the first body's failure */
    bool body_failed;                       /* body_err holds it; later bodies are not checked */
    bool blocked;                           /* a function's type index is unknown: a module-level
                                             * error comes first, bodies are not checked */
    bool active;                            /* the body being decoded is being checked */
    uint32_t data_count;                    /* data segments bodies may name (the data count) */
    wasm_funcdef *fd;                       /* body being checked */
    const wasm_functype *ft; /* its type */ /* its capacity */
};
typedef struct wasm_vctx vctx;

/* Single-result block types point into this. */
static const wasm_valtype single_type[] = {WASM_I32, WASM_I64,     WASM_F32,
                                           WASM_F64, WASM_FUNCREF, WASM_EXTERNREF};

static int v_fail(vctx *vc, uint32_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int v_fail(vctx *vc, uint32_t offset, const char *fmt, ...) {
    wasm_diag *d = vc->d;
    if (d) {
        va_list ap;
        d->rc = SL_EINVAL;
        d->offset = offset;
        d->func_index = vc->func_index;
        va_start(ap, fmt);
        vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
        va_end(ap);
    }
    return SL_EINVAL;
}

static int v_nomem(vctx *vc) {
    if (vc->d) {
        vc->d->rc = -ENOMEM;
        vc->d->offset = vc->off;
        vc->d->func_index = vc->func_index;
        snprintf(vc->d->msg, sizeof(vc->d->msg), "out of memory validating the module");
    }
    return -ENOMEM;
}

static int mismatch(vctx *vc) {
    return v_fail(vc, vc->off, "type mismatch");
}

static bool is_num(uint8_t t) {
    return t == VT_UNKNOWN || t == WASM_I32 || t == WASM_I64 || t == WASM_F32 || t == WASM_F64;
}
static bool is_ref(uint8_t t) {
    return t == VT_UNKNOWN || t == WASM_FUNCREF || t == WASM_EXTERNREF;
}

/* ---- the operand and control stacks ---- */

/* The operand stack is full: grow it, up to WASM_FUNC_STACK_MAX. */
__attribute__((noinline)) static int vals_grow(vctx *vc) {
    if (vc->vals_cap >= WASM_FUNC_STACK_MAX) {
        v_fail(vc, vc->off, "operand stack deeper than WASM_FUNC_STACK_MAX (%u)",
               WASM_FUNC_STACK_MAX);
        vc->d->rc = SL_ELIMIT;
        return SL_ELIMIT;
    }
    uint32_t ncap = vc->vals_cap ? vc->vals_cap * 2 : 256;
    uint8_t *n = mem_realloc(MEM_WASM, vc->vals, ncap);
    if (!n) return v_nomem(vc);
    vc->vals = n;
    vc->vals_cap = ncap;
    return 0;
}

static inline int vpush(vctx *vc, uint8_t t) {
    if (sl_unlikely(vc->vals_len == vc->vals_cap)) {
        int rc = vals_grow(vc);
        if (rc < 0) return rc;
    }
    vc->vals[vc->vals_len++] = t;
    if (vc->vals_len > vc->vals_max) vc->vals_max = vc->vals_len;
    return 0;
}

/* Pops any value; *t = VT_UNKNOWN when the frame is unreachable and empty. */
static int vpop(vctx *vc, uint8_t *t) {
    const vframe *f = &vc->ctrls[vc->ctrls_len - 1];
    if (vc->vals_len == f->height) {
        if (f->unreachable) {
            *t = VT_UNKNOWN;
            return 0;
        }
        return mismatch(vc);
    }
    SL_ASSERT(vc->vals_len > f->height);
    *t = vc->vals[--vc->vals_len];
    return 0;
}

static int vpop_expect(vctx *vc, uint8_t expect, uint8_t *actual) {
    uint8_t t = VT_UNKNOWN;
    if (vpop(vc, &t) < 0) return SL_EINVAL;
    if (t != expect && t != VT_UNKNOWN && expect != VT_UNKNOWN) return mismatch(vc);
    if (actual) *actual = t; /* unknown stays unknown (br_table pushes it back) */
    return 0;
}

static int vpush_n(vctx *vc, const wasm_valtype *ts, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        int rc = vpush(vc, (uint8_t)ts[i]);
        if (rc < 0) return rc;
    }
    return 0;
}

static int vpop_n(vctx *vc, const wasm_valtype *ts, uint32_t n) {
    for (uint32_t i = n; i > 0; i--)
        if (vpop_expect(vc, (uint8_t)ts[i - 1], NULL) < 0) return SL_EINVAL;
    return 0;
}

static int ctrl_push(vctx *vc, uint16_t op, uint32_t np, const wasm_valtype *params, uint32_t nr,
                     const wasm_valtype *results) {
    if (vc->ctrls_len == vc->ctrls_cap) {
        uint32_t ncap = vc->ctrls_cap ? vc->ctrls_cap * 2 : 32;
        vframe *n = mem_realloc(MEM_WASM, vc->ctrls, (size_t)ncap * sizeof(*n));
        if (!n) return v_nomem(vc);
        vc->ctrls = n;
        vc->ctrls_cap = ncap;
    }
    vframe *f = &vc->ctrls[vc->ctrls_len++];
    if (vc->ctrls_len > vc->ctrls_max) vc->ctrls_max = vc->ctrls_len;
    f->op = op;
    f->unreachable = false;
    f->br_stamp = 0;
    f->height = vc->vals_len;
    f->param_count = np;
    f->params = params;
    f->result_count = nr;
    f->results = results;
    return vpush_n(vc, params, np);
}

static int ctrl_pop(vctx *vc, vframe *out) {
    SL_ASSERT(vc->ctrls_len > 0);
    const vframe *f = &vc->ctrls[vc->ctrls_len - 1];
    if (vpop_n(vc, f->results, f->result_count) < 0) return SL_EINVAL;
    if (vc->vals_len != f->height) return mismatch(vc);
    *out = *f;
    vc->ctrls_len--;
    return 0;
}

static void set_unreachable(vctx *vc) {
    vframe *f = &vc->ctrls[vc->ctrls_len - 1];
    vc->vals_len = f->height;
    f->unreachable = true;
}

/* The types a branch to frame f carries: a loop's params, else its results. */
static void label_types(const vframe *f, const wasm_valtype **ts, uint32_t *n) {
    if (f->op == WASM_OP_loop) {
        *ts = f->params;
        *n = f->param_count;
    } else {
        *ts = f->results;
        *n = f->result_count;
    }
}

/* ---- lookups with the reference interpreter's "unknown <thing> <index>" ---- */

static int need_memory(vctx *vc, uint32_t i) {
    if (i >= vc->m->memory_count) return v_fail(vc, vc->off, "unknown memory %u", i);
    return 0;
}

static int need_table(vctx *vc, uint32_t i) {
    if (i >= vc->m->table_count) return v_fail(vc, vc->off, "unknown table %u", i);
    return 0;
}

static int need_func(vctx *vc, uint32_t i) {
    if (i >= vc->m->func_count) return v_fail(vc, vc->off, "unknown function %u", i);
    return 0;
}

static int need_type(vctx *vc, uint32_t i) {
    if (i >= vc->m->type_count) return v_fail(vc, vc->off, "unknown type %u", i);
    return 0;
}

static int need_elem(vctx *vc, uint32_t i) {
    if (i >= vc->m->elem_count) return v_fail(vc, vc->off, "unknown elem segment %u", i);
    return 0;
}

static int need_data(vctx *vc, uint32_t i) {
    if (i >= vc->data_count) return v_fail(vc, vc->off, "unknown data segment %u", i);
    return 0;
}

static int need_global(vctx *vc, uint32_t i, uint32_t visible) {
    if (i >= visible) return v_fail(vc, vc->off, "unknown global %u", i);
    return 0;
}

static const wasm_functype *func_type(const wasm_module *m, uint32_t f) {
    return &m->types[m->funcs[f].type_index];
}

/* ---- function bodies ---- */

static int block_type(vctx *vc, const wasm_instr *in, uint32_t *np, const wasm_valtype **params,
                      uint32_t *nr, const wasm_valtype **results) {
    *np = 0;
    *params = NULL;
    *nr = 0;
    *results = NULL;
    if (in->a == WASM_BLOCK_EMPTY) return 0;
    if (in->a == WASM_BLOCK_VAL) {
        for (size_t i = 0; i < SL_ARRAY_LEN(single_type); i++) {
            if (single_type[i] == in->type) {
                *nr = 1;
                *results = &single_type[i];
                return 0;
            }
        }
        SL_ASSERT(!"decoder accepted an unknown value type");
    }
    if (need_type(vc, in->b) < 0) return SL_EINVAL;
    const wasm_functype *ft = &vc->m->types[in->b];
    *np = ft->param_count;
    *params = ft->params;
    *nr = ft->result_count;
    *results = ft->results;
    return 0;
}

/* Natural alignment (log2 bytes) of a memory access immediate kind. */
static uint32_t natural_align(uint8_t imm) {
    switch (imm) {
    case IMM_MEM8:
        return 0;
    case IMM_MEM16:
        return 1;
    case IMM_MEM32:
        return 2;
    default:
        return 3;
    }
}

/* Context checks implied by a fixed-signature row's immediates (opcodes.def). */
static int check_fixed_context(vctx *vc, const wasm_opinfo *info, const wasm_instr *in) {
    wasm_module *m = vc->m;
    switch ((wasm_imm)info->imm) {
    case IMM_MEM8:
    case IMM_MEM16:
    case IMM_MEM32:
    case IMM_MEM64:
        if (need_memory(vc, 0) < 0) return SL_EINVAL;
        if (in->a > natural_align(info->imm))
            return v_fail(vc, vc->off, "alignment must not be larger than natural");
        return 0;
    case IMM_MEMIDX:
    case IMM_MEMORY_COPY:
        return need_memory(vc, 0);
    case IMM_MEMORY_INIT:
        if (need_memory(vc, 0) < 0) return SL_EINVAL;
        return need_data(vc, in->a);
    case IMM_DATA:
        return need_data(vc, in->a);
    case IMM_ELEM:
        return need_elem(vc, in->a);
    case IMM_TABLE:
        return need_table(vc, in->a);
    case IMM_TABLE_INIT:
        if (need_table(vc, in->b) < 0) return SL_EINVAL;
        if (need_elem(vc, in->a) < 0) return SL_EINVAL;
        if (m->tables[in->b].type.elem != m->elems[in->a].type) return mismatch(vc);
        return 0;
    case IMM_TABLE_COPY:
        if (need_table(vc, in->a) < 0) return SL_EINVAL;
        if (need_table(vc, in->b) < 0) return SL_EINVAL;
        if (m->tables[in->a].type.elem != m->tables[in->b].type.elem) return mismatch(vc);
        return 0;
    default:
        return 0;
    }
}

/* Pops and pushes of a fixed-signature row. */
static inline int check_sig(vctx *vc, const wasm_opinfo *info) {
    uint32_t n = info->pop_count;
    const vframe *f = &vc->ctrls[vc->ctrls_len - 1];
    if (n == 0) {
        /* Nothing to pop (nop, memory.size, data.drop, ...). */
    } else if (sl_likely(vc->vals_len - f->height >= n)) {
        /* Every operand is on the stack: compare in place (unknown matches all). */
        const uint8_t *top = vc->vals + vc->vals_len - n;
        for (uint32_t i = 0; i < n; i++)
            if (top[i] != (uint8_t)info->pops[i] && top[i] != VT_UNKNOWN) return mismatch(vc);
        vc->vals_len -= n;
    } else {
        for (uint32_t i = n; i > 0; i--)
            if (vpop_expect(vc, (uint8_t)info->pops[i - 1], NULL) < 0) return SL_EINVAL;
    }
    if (info->push_count == 1) return vpush(vc, (uint8_t)info->push);
    return 0;
}

static int check_fixed(vctx *vc, const wasm_opinfo *info, const wasm_instr *in) {
    if (info->imm != IMM_NONE && check_fixed_context(vc, info, in) < 0) return SL_EINVAL;
    return check_sig(vc, info);
}

static int check_br_table(vctx *vc, const wasm_instr *in) {
    if (vpop_expect(vc, WASM_I32, NULL) < 0) return SL_EINVAL;
    if (in->b >= vc->ctrls_len) return v_fail(vc, vc->off, "unknown label %u", in->b);
    const wasm_valtype *dts;
    uint32_t arity;
    label_types(&vc->ctrls[vc->ctrls_len - 1 - in->b], &dts, &arity);
    vc->br_stamp++;
    rd r;
    rd_init(&r, in->labels, (size_t)(vc->m->bytes + vc->m->size - in->labels));
    for (uint32_t i = 0; i < in->a; i++) {
        uint32_t l;
        const char *why;
        int rc = wasm__u32(&r, &l, &why);
        SL_ASSERT(rc == 0); /* the decoder read these labels already */
        if (l >= vc->ctrls_len) return v_fail(vc, vc->off, "unknown label %u", l);
        const wasm_valtype *ts;
        uint32_t n;
        vframe *target = &vc->ctrls[vc->ctrls_len - 1 - l];
        label_types(target, &ts, &n);
        if (n != arity) return mismatch(vc);
        /* A frame already checked by this br_table would pass again unchanged:
         * skipping it keeps the cost at one check per distinct target frame. */
        if (target->br_stamp == vc->br_stamp) continue;
        target->br_stamp = vc->br_stamp;
        /* Pop with this label's types, then put back what was there. */
        for (uint32_t k = n; k > 0; k--)
            if (vpop_expect(vc, (uint8_t)ts[k - 1], &vc->popped[k - 1]) < 0) return SL_EINVAL;
        for (uint32_t k = 0; k < n; k++) {
            int prc = vpush(vc, vc->popped[k]);
            if (prc < 0) return prc;
        }
    }
    if (vpop_n(vc, dts, arity) < 0) return SL_EINVAL;
    set_unreachable(vc);
    return 0;
}

static int check_instr(vctx *vc, const wasm_funcdef *fd, const wasm_functype *ft,
                       const wasm_instr *in) {
    wasm_module *m = vc->m;
    const wasm_opinfo *info = wasm__opinfo(in->op);
    SL_ASSERT(info != NULL);
    if (info->sig_fixed) return check_fixed(vc, info, in);

    uint32_t np;
    uint32_t nr;
    const wasm_valtype *params;
    const wasm_valtype *results;
    uint8_t t = VT_UNKNOWN;
    uint8_t t2 = VT_UNKNOWN;
    switch ((wasm_op)in->op) {
    case WASM_OP_unreachable:
        set_unreachable(vc);
        return 0;
    case WASM_OP_block:
    case WASM_OP_loop:
    case WASM_OP_if_:
        if (block_type(vc, in, &np, &params, &nr, &results) < 0) return SL_EINVAL;
        if (in->op == WASM_OP_if_ && vpop_expect(vc, WASM_I32, NULL) < 0) return SL_EINVAL;
        if (vpop_n(vc, params, np) < 0) return SL_EINVAL;
        if (vc->ctrls_len >= WASM_CONTROL_DEPTH_MAX)
            return v_fail(vc, vc->off, "blocks nested deeper than WASM_CONTROL_DEPTH_MAX");
        return ctrl_push(vc, in->op, np, params, nr, results);
    case WASM_OP_else_: {
        vframe f;
        SL_ASSERT(vc->ctrls[vc->ctrls_len - 1].op == WASM_OP_if_); /* decoder checked */
        if (ctrl_pop(vc, &f) < 0) return SL_EINVAL;
        return ctrl_push(vc, WASM_OP_else_, f.param_count, f.params, f.result_count, f.results);
    }
    case WASM_OP_end: {
        vframe f;
        if (ctrl_pop(vc, &f) < 0) return SL_EINVAL;
        if (f.op == WASM_OP_if_) {
            /* No else: the missing branch passes its params through unchanged. */
            if (f.param_count != f.result_count) return mismatch(vc);
            for (uint32_t i = 0; i < f.param_count; i++)
                if (f.params[i] != f.results[i]) return mismatch(vc);
        }
        if (vc->ctrls_len == 0) return 0; /* the body's own end */
        return vpush_n(vc, f.results, f.result_count);
    }
    case WASM_OP_br:
    case WASM_OP_br_if: {
        if (in->a >= vc->ctrls_len) return v_fail(vc, vc->off, "unknown label %u", in->a);
        if (in->op == WASM_OP_br_if && vpop_expect(vc, WASM_I32, NULL) < 0) return SL_EINVAL;
        label_types(&vc->ctrls[vc->ctrls_len - 1 - in->a], &results, &nr);
        if (vpop_n(vc, results, nr) < 0) return SL_EINVAL;
        if (in->op == WASM_OP_br) {
            set_unreachable(vc);
            return 0;
        }
        return vpush_n(vc, results, nr);
    }
    case WASM_OP_br_table:
        return check_br_table(vc, in);
    case WASM_OP_return_:
        if (vpop_n(vc, ft->results, ft->result_count) < 0) return SL_EINVAL;
        set_unreachable(vc);
        return 0;
    case WASM_OP_call: {
        if (need_func(vc, in->a) < 0) return SL_EINVAL;
        if (m->funcs[in->a].type_index >= m->type_count) return V_BLOCKED;
        const wasm_functype *ct = func_type(m, in->a);
        if (vpop_n(vc, ct->params, ct->param_count) < 0) return SL_EINVAL;
        return vpush_n(vc, ct->results, ct->result_count);
    }
    case WASM_OP_call_indirect: {
        if (need_table(vc, in->b) < 0) return SL_EINVAL;
        if (need_type(vc, in->a) < 0) return SL_EINVAL;
        if (m->tables[in->b].type.elem != WASM_FUNCREF) return mismatch(vc);
        const wasm_functype *ct = &m->types[in->a];
        if (vpop_expect(vc, WASM_I32, NULL) < 0) return SL_EINVAL;
        if (vpop_n(vc, ct->params, ct->param_count) < 0) return SL_EINVAL;
        return vpush_n(vc, ct->results, ct->result_count);
    }
    case WASM_OP_drop:
        return vpop(vc, &t);
    case WASM_OP_select:
        if (vpop_expect(vc, WASM_I32, NULL) < 0) return SL_EINVAL;
        if (vpop(vc, &t) < 0) return SL_EINVAL;
        if (vpop(vc, &t2) < 0) return SL_EINVAL;
        if (!is_num(t) || !is_num(t2)) return mismatch(vc);
        if (t != t2 && t != VT_UNKNOWN && t2 != VT_UNKNOWN) return mismatch(vc);
        return vpush(vc, t == VT_UNKNOWN ? t2 : t);
    case WASM_OP_select_t:
        if (in->a != 1) return v_fail(vc, vc->off, "invalid result arity");
        if (vpop_expect(vc, WASM_I32, NULL) < 0) return SL_EINVAL;
        if (vpop_expect(vc, (uint8_t)in->type, NULL) < 0) return SL_EINVAL;
        if (vpop_expect(vc, (uint8_t)in->type, NULL) < 0) return SL_EINVAL;
        return vpush(vc, (uint8_t)in->type);
    case WASM_OP_local_get:
    case WASM_OP_local_set:
    case WASM_OP_local_tee: {
        if ((uint64_t)in->a >= (uint64_t)ft->param_count + fd->local_count)
            return v_fail(vc, vc->off, "unknown local %u", in->a);
        uint8_t lt = vc->local_types[in->a];
        SL_DEBUG_ASSERT(lt == (uint8_t)wasm__local_type(m, fd, in->a));
        if (in->op == WASM_OP_local_get) return vpush(vc, lt);
        if (vpop_expect(vc, lt, NULL) < 0) return SL_EINVAL;
        if (in->op == WASM_OP_local_tee) return vpush(vc, lt);
        return 0;
    }
    case WASM_OP_global_get:
        if (need_global(vc, in->a, m->global_count) < 0) return SL_EINVAL;
        return vpush(vc, (uint8_t)m->globals[in->a].type.type);
    case WASM_OP_global_set:
        if (need_global(vc, in->a, m->global_count) < 0) return SL_EINVAL;
        if (!m->globals[in->a].type.mutable_) return v_fail(vc, vc->off, "global is immutable");
        return vpop_expect(vc, (uint8_t)m->globals[in->a].type.type, NULL);
    case WASM_OP_table_get:
        if (need_table(vc, in->a) < 0) return SL_EINVAL;
        if (vpop_expect(vc, WASM_I32, NULL) < 0) return SL_EINVAL;
        return vpush(vc, (uint8_t)m->tables[in->a].type.elem);
    case WASM_OP_table_set:
        if (need_table(vc, in->a) < 0) return SL_EINVAL;
        if (vpop_expect(vc, (uint8_t)m->tables[in->a].type.elem, NULL) < 0) return SL_EINVAL;
        return vpop_expect(vc, WASM_I32, NULL);
    case WASM_OP_table_grow:
        if (need_table(vc, in->a) < 0) return SL_EINVAL;
        if (vpop_expect(vc, WASM_I32, NULL) < 0) return SL_EINVAL;
        if (vpop_expect(vc, (uint8_t)m->tables[in->a].type.elem, NULL) < 0) return SL_EINVAL;
        return vpush(vc, WASM_I32);
    case WASM_OP_table_fill:
        if (need_table(vc, in->a) < 0) return SL_EINVAL;
        if (vpop_expect(vc, WASM_I32, NULL) < 0) return SL_EINVAL;
        if (vpop_expect(vc, (uint8_t)m->tables[in->a].type.elem, NULL) < 0) return SL_EINVAL;
        return vpop_expect(vc, WASM_I32, NULL);
    case WASM_OP_ref_null:
        return vpush(vc, (uint8_t)in->type);
    case WASM_OP_ref_is_null:
        if (vpop(vc, &t) < 0) return SL_EINVAL;
        if (!is_ref(t)) return mismatch(vc);
        return vpush(vc, WASM_I32);
    case WASM_OP_ref_func:
        if (need_func(vc, in->a) < 0) return SL_EINVAL;
        if (!(vc->refs[in->a / 8] & (1u << (in->a % 8))))
            return v_fail(vc, vc->off, "undeclared function reference");
        return vpush(vc, WASM_FUNCREF);
    default:
        break;
    }
    SL_ASSERT(!"opcodes.def SIGX row without a validation case");
    return SL_EINVAL;
}

/* The first instruction of a constant expression is ref.func x: x, else UINT32_MAX.
 * Used before the expressions are validated (C.refs for bodies). */
static uint32_t pending_ref_func(const wasm_module *m, const wasm_constexpr *e) {
    if (e->kind == WASM_CONST_REF_FUNC) return e->of.index;
    if (e->kind != WASM_CONST_PENDING_) return UINT32_MAX;
    rd r;
    wasm_instr in;
    const char *why;
    uint32_t why_off;
    rd_init(&r, m->bytes, m->size);
    r.p = m->bytes + e->expr_offset;
    if (wasm__instr_read_inline(&r, &in, &why, &why_off) < 0) return UINT32_MAX;
    return in.op == WASM_OP_ref_func ? in.a : UINT32_MAX;
}

static void refs_add(vctx *vc, uint32_t f) {
    if (f < vc->m->func_count) vc->refs[f / 8] |= (uint8_t)(1u << (f % 8));
}

int wasm__vctx_new(wasm_module *m, wasm_vctx **out) {
    vctx *vc = mem_calloc(MEM_WASM, 1, sizeof(*vc));
    *out = vc;
    if (!vc) return -ENOMEM;
    vc->m = m;
    vc->func_index = UINT32_MAX;
    vc->d = &vc->body_err;
    return 0;
}

void wasm__vctx_free(wasm_vctx *vc) {
    if (!vc) return;
    mem_free(MEM_WASM, vc->vals);
    mem_free(MEM_WASM, vc->ctrls);
    mem_free(MEM_WASM, vc->refs);
    mem_free(MEM_WASM, vc->local_types);
    mem_free(MEM_WASM, vc);
}

/* C.refs: functions named outside function bodies (element segments, global
 * initialisers, exports) may be the target of ref.func inside them. */
int wasm__vctx_code_begin(wasm_vctx *vc, uint32_t data_count) {
    wasm_module *m = vc->m;
    SL_ASSERT(vc->refs == NULL);
    vc->data_count = data_count;
    vc->refs = mem_calloc(MEM_WASM, (size_t)m->func_count / 8 + 1, 1);
    if (!vc->refs) return -ENOMEM;
    for (uint32_t i = 0; i < m->elem_count; i++)
        for (uint32_t k = 0; k < m->elems[i].item_count; k++)
            refs_add(vc, pending_ref_func(m, &m->elems[i].items[k]));
    for (uint32_t i = m->global_import_count; i < m->global_count; i++)
        refs_add(vc, pending_ref_func(m, &m->globals[i].init));
    for (uint32_t i = 0; i < m->export_count; i++)
        if (m->exports[i].kind == WASM_EXTERN_FUNC) refs_add(vc, m->exports[i].index);
    return 0;
}

int wasm__vctx_body_begin(wasm_vctx *vc, uint32_t fi) {
    wasm_module *m = vc->m;
    vc->active = false;
    if (vc->blocked || vc->body_failed) return 0;
    SL_ASSERT(vc->refs != NULL);
    wasm_funcdef *fd = &m->funcs[fi];
    if (fd->type_index >= m->type_count) {
        vc->blocked = true;
        return 0;
    }
    const wasm_functype *ft = &m->types[fd->type_index];
    vc->fd = fd;
    vc->ft = ft;
    vc->func_index = fi;
    vc->vals_len = 0;
    vc->ctrls_len = 0;
    vc->vals_max = 0;
    vc->ctrls_max = 0;
    /* Local runs were numbered from 0 by the decoder; params come first. */
    for (uint32_t g = 0; g < fd->local_group_count; g++)
        fd->local_groups[g].first += ft->param_count;
    /* Every local's type in one byte, for O(1) local.get/set/tee. The total is
     * bounded by WASM_TYPE_ARITY_MAX + WASM_FUNC_LOCALS_MAX. */
    uint32_t nlocals = ft->param_count + fd->local_count;
    if (nlocals > vc->local_types_cap) {
        uint8_t *n = mem_realloc(MEM_WASM, vc->local_types, nlocals);
        if (!n) return v_nomem(vc);
        vc->local_types = n;
        vc->local_types_cap = nlocals;
    }
    for (uint32_t i = 0; i < ft->param_count; i++)
        vc->local_types[i] = (uint8_t)ft->params[i];
    for (uint32_t g = 0; g < fd->local_group_count; g++) {
        const wasm_localgroup *lg = &fd->local_groups[g];
        memset(vc->local_types + lg->first, (uint8_t)lg->type, lg->count);
    }
    vc->off = fd->code_start;
    int rc = ctrl_push(vc, WASM_OP_end, 0, NULL, ft->result_count, ft->results);
    if (rc == -ENOMEM) return rc;
    if (rc < 0) {
        vc->body_failed = true;
        return 0;
    }
    vc->active = true;
    return 0;
}

/* Records a failed check: only -ENOMEM goes back to the decoder. */
static int body_verdict(vctx *vc, int rc) {
    vc->active = false;
    if (rc == -ENOMEM) return rc;
    if (rc == V_BLOCKED)
        vc->blocked = true;
    else
        vc->body_failed = true; /* body_err says why */
    return 0;
}

int wasm__vctx_body_instr(wasm_vctx *vc, const wasm_instr *in) {
    if (!vc->active) return 0;
    vc->off = in->offset;
    int rc = check_instr(vc, vc->fd, vc->ft, in);
    if (sl_likely(rc == 0)) return 0;
    return body_verdict(vc, rc);
}

int wasm__vctx_body_simple(wasm_vctx *vc, const wasm_opinfo *info, uint32_t offset) {
    SL_ASSERT(info->sig_fixed);
    SL_ASSERT(info->imm == IMM_NONE);
    if (!vc->active) return 0;
    vc->off = offset;
    int rc = check_sig(vc, info);
    if (sl_likely(rc == 0)) return 0;
    return body_verdict(vc, rc);
}

void wasm__vctx_body_end(wasm_vctx *vc) {
    if (!vc->active) return;
    SL_ASSERT(vc->ctrls_len == 0); /* the decoder found the body's final end */
    vc->fd->max_stack = vc->vals_max;
    vc->fd->max_depth = vc->ctrls_max;
    vc->active = false;
    vc->func_index = UINT32_MAX;
}

/* ---- constant expressions ---- */

/* Validates the pending expression e against type `want` with `visible` globals in
 * scope (the imported ones) and rewrites it into its decoded form. */
static int check_const(vctx *vc, wasm_constexpr *e, wasm_valtype want) {
    wasm_module *m = vc->m;
    SL_ASSERT(e->kind == WASM_CONST_PENDING_);
    rd r;
    rd_init(&r, m->bytes, m->size);
    r.p = m->bytes + e->expr_offset;
    uint32_t count = 0;
    wasm_constexpr out;
    memset(&out, 0, sizeof(out));
    out.expr_offset = e->expr_offset;
    for (;;) {
        wasm_instr in;
        const char *why;
        uint32_t why_off;
        int rc = wasm__instr_read_inline(&r, &in, &why, &why_off);
        SL_ASSERT(rc == 0); /* the decoder walked this expression already */
        vc->off = in.offset;
        if (in.op == WASM_OP_end) break;
        count++;
        switch (in.op) {
        case WASM_OP_i32_const:
            out.kind = WASM_CONST_I32;
            out.type = WASM_I32;
            out.of.i32 = (uint32_t)in.s;
            break;
        case WASM_OP_i64_const:
            out.kind = WASM_CONST_I64;
            out.type = WASM_I64;
            out.of.i64 = (uint64_t)in.s;
            break;
        case WASM_OP_f32_const:
            out.kind = WASM_CONST_F32;
            out.type = WASM_F32;
            out.of.f32_bits = (uint32_t)in.bits;
            break;
        case WASM_OP_f64_const:
            out.kind = WASM_CONST_F64;
            out.type = WASM_F64;
            out.of.f64_bits = in.bits;
            break;
        case WASM_OP_ref_null:
            out.kind = WASM_CONST_REF_NULL;
            out.type = in.type;
            break;
        case WASM_OP_ref_func:
            if (need_func(vc, in.a) < 0) return SL_EINVAL;
            out.kind = WASM_CONST_REF_FUNC;
            out.type = WASM_FUNCREF;
            out.of.index = in.a;
            break;
        case WASM_OP_global_get:
            /* 2.0: only imported globals are in scope, and they must be immutable. */
            if (need_global(vc, in.a, m->global_import_count) < 0) return SL_EINVAL;
            if (m->globals[in.a].type.mutable_)
                return v_fail(vc, vc->off, "constant expression required");
            out.kind = WASM_CONST_GLOBAL;
            out.type = m->globals[in.a].type.type;
            out.of.index = in.a;
            break;
        default:
            return v_fail(vc, vc->off, "constant expression required");
        }
    }
    /* The sequence must leave exactly one value of the wanted type. */
    if (count != 1 || out.type != want) return mismatch(vc);
    *e = out;
    return 0;
}

/* ---- module-level checks ---- */

static int check_limits(vctx *vc, const wasm_lim *lim, uint64_t range, const char *what) {
    if (lim->min > range) return v_fail(vc, vc->off, "%s", what);
    if (lim->has_max) {
        if (lim->max > range) return v_fail(vc, vc->off, "%s", what);
        if (lim->min > lim->max)
            return v_fail(vc, vc->off, "size minimum must not be greater than maximum");
    }
    return 0;
}

#define MEMORY_LIMIT_TEXT "memory size must be at most 65536 pages (4GiB)"
#define TABLE_LIMIT_TEXT "table size must be at most 2^32-1"

/* FNV-1a over an export name, for the duplicate check. */
static uint32_t name_hash(const char *s, uint32_t n) {
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static int check_exports(vctx *vc) {
    wasm_module *m = vc->m;
    uint32_t n = m->export_count;
    if (n == 0) return 0;
    /* Open addressing over export indices: table of 2n+1 slots, UINT32_MAX empty. */
    uint32_t slots = 2 * n + 1;
    uint32_t *tab = mem_alloc(MEM_WASM, (size_t)slots * sizeof(*tab));
    if (!tab) return v_nomem(vc);
    memset(tab, 0xFF, (size_t)slots * sizeof(*tab));
    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        const wasm_exportdef *ex = &m->exports[i];
        uint32_t count = 0;
        vc->off = ex->offset;
        switch (ex->kind) {
        case WASM_EXTERN_FUNC:
            rc = need_func(vc, ex->index);
            break;
        case WASM_EXTERN_TABLE:
            rc = need_table(vc, ex->index);
            break;
        case WASM_EXTERN_MEMORY:
            rc = need_memory(vc, ex->index);
            break;
        case WASM_EXTERN_GLOBAL:
            rc = need_global(vc, ex->index, m->global_count);
            break;
        }
        if (rc < 0) break;
        for (uint32_t s = name_hash(ex->name, ex->name_len) % slots;; s = (s + 1) % slots) {
            SL_ASSERT(count++ < slots);
            if (tab[s] == UINT32_MAX) {
                tab[s] = i;
                break;
            }
            const wasm_exportdef *o = &m->exports[tab[s]];
            if (o->name_len == ex->name_len && memcmp(o->name, ex->name, ex->name_len) == 0) {
                rc = v_fail(vc, vc->off, "duplicate export name");
                break;
            }
        }
    }
    mem_free(MEM_WASM, tab);
    return rc;
}

static int check_module(vctx *vc) {
    wasm_module *m = vc->m;
    vc->off = 0;
    for (uint32_t i = 0; i < m->import_count; i++) {
        const wasm_importdef *im = &m->imports[i];
        vc->off = im->offset;
        switch (im->kind) {
        case WASM_EXTERN_FUNC:
            if (need_type(vc, im->of.type_index) < 0) return SL_EINVAL;
            break;
        case WASM_EXTERN_TABLE:
            if (check_limits(vc, &im->of.table.lim, UINT32_MAX, TABLE_LIMIT_TEXT) < 0)
                return SL_EINVAL;
            break;
        case WASM_EXTERN_MEMORY:
            if (check_limits(vc, &im->of.memory, 65536, MEMORY_LIMIT_TEXT) < 0) return SL_EINVAL;
            break;
        case WASM_EXTERN_GLOBAL:
            break;
        }
    }
    for (uint32_t i = m->func_import_count; i < m->func_count; i++) {
        vc->off = m->funcs[i].type_offset;
        if (need_type(vc, m->funcs[i].type_index) < 0) return SL_EINVAL;
    }
    for (uint32_t i = m->global_import_count; i < m->global_count; i++)
        if (check_const(vc, &m->globals[i].init, m->globals[i].type.type) < 0) return SL_EINVAL;
    for (uint32_t i = m->table_import_count; i < m->table_count; i++) {
        vc->off = m->tables[i].offset;
        if (check_limits(vc, &m->tables[i].type.lim, UINT32_MAX, TABLE_LIMIT_TEXT) < 0)
            return SL_EINVAL;
    }
    for (uint32_t i = m->memory_import_count; i < m->memory_count; i++) {
        vc->off = m->memories[i].offset;
        if (check_limits(vc, &m->memories[i].lim, 65536, MEMORY_LIMIT_TEXT) < 0) return SL_EINVAL;
    }
    for (uint32_t i = 0; i < m->elem_count; i++) {
        wasm_elemdef *e = &m->elems[i];
        for (uint32_t k = 0; k < e->item_count; k++) {
            wasm_constexpr *it = &e->items[k];
            if (it->kind == WASM_CONST_PENDING_) {
                if (check_const(vc, it, e->type) < 0) return SL_EINVAL;
            } else {
                vc->off = it->expr_offset;
                if (need_func(vc, it->of.index) < 0) return SL_EINVAL;
            }
        }
        if (e->mode == WASM_SEG_ACTIVE) {
            vc->off = e->offset.expr_offset;
            if (need_table(vc, e->table_index) < 0) return SL_EINVAL;
            if (m->tables[e->table_index].type.elem != e->type) return mismatch(vc);
            if (check_const(vc, &e->offset, WASM_I32) < 0) return SL_EINVAL;
        }
    }
    for (uint32_t i = 0; i < m->data_count; i++) {
        wasm_datadef *dd = &m->datas[i];
        if (dd->mode != WASM_SEG_ACTIVE) continue;
        vc->off = dd->offset.expr_offset;
        if (need_memory(vc, dd->memory_index) < 0) return SL_EINVAL;
        if (check_const(vc, &dd->offset, WASM_I32) < 0) return SL_EINVAL;
    }

    /* Bodies were checked as the decoder walked them; their first failure comes
     * here, after every earlier module-level check passed. */
    if (vc->body_failed) {
        *vc->d = vc->body_err;
        return vc->body_err.rc;
    }
    SL_ASSERT(!vc->blocked); /* an unknown function type failed above */
    if (m->has_start) {
        vc->off = m->start_offset;
        if (need_func(vc, m->start) < 0) return SL_EINVAL;
        const wasm_functype *st = func_type(m, m->start);
        if (st->param_count != 0 || st->result_count != 0)
            return v_fail(vc, vc->off, "start function must not have parameters or results");
    }
    int rc = check_exports(vc);
    if (rc < 0) return rc;
    /* At the second memory's limits. */
    if (m->memory_count > 1) return v_fail(vc, m->memories[1].offset, "multiple memories");
    return 0;
}

int wasm__validate(wasm_module *m, wasm_vctx *vc, wasm_diag *d) {
    SL_ASSERT(m != NULL);
    SL_ASSERT(vc->m == m);
    wasm_diag local;
    vc->d = d ? d : &local; /* failures always record their status here */
    vc->func_index = UINT32_MAX;
    int rc = check_module(vc);
    if (rc < 0) rc = vc->d->rc;
    vc->d = &vc->body_err;
    SL_ASSERT(rc <= 0);
    return rc;
}
