/* exec.c - the interpreter: runs code compiled by compile.c, and wasm_func_call().
 *
 * Dispatch: direct threading. Every instruction's first cell holds the address of its
 * handler label in run(); a handler does its work, then NEXT(n) advances pc by the n
 * cells the instruction occupies and jumps to the next handler:
 *     #define NEXT(n) do { pc += (n); goto *pc->op; } while (0)
 * This is the one macro in Slung that hides a goto (STYLE rule 8): one indirect jump per
 * instruction, no decode, no switch. GCC and clang accept `&&label` / `goto *p` under
 * -std=c11 (they are extensions that only -pedantic reports).
 *
 * Registers: pc (next instruction), fp (slot 0 of the running frame: locals, then the
 * operand stack; instructions name slots, see run()), mb/msz (memory 0 of the running
 * instance: base and byte size, reloaded after calls and grows, since a host function
 * or another instance sharing the memory may grow it).
 *
 * Invariants: (1) every memory access checks ea + width <= msz with ea computed in 64
 * bits, so no guest address reaches outside the buffer; (2) every call checks the call
 * depth and that the callee's whole frame (frame_slots) fits in the value stack, so no
 * slot index of a running function is outside the stack (compile.c sized the frame);
 * (3) a trap unwinds to the wasm__exec() that began the run, restoring s->depth/s->sp.
 *
 * Interrupts: every backward branch (so every loop iteration) and every call reads
 * store->interrupt; wasm_store_interrupt() sets it from any thread.
 *
 * Threads: the store's thread. See compile.c for the code format. */
#include <math.h>
#include <string.h>

#include "wasm/runtime_internal.h"

#define TRAP_UNREACHABLE "unreachable"
#define TRAP_DIV_ZERO "integer divide by zero"
#define TRAP_INT_OVERFLOW "integer overflow"
#define TRAP_INVALID_CONV "invalid conversion to integer"
#define TRAP_MEM_OOB "out of bounds memory access"
#define TRAP_TABLE_OOB "out of bounds table access"
#define TRAP_UNDEF_ELEM "undefined element"
#define TRAP_UNINIT_ELEM "uninitialized element"
#define TRAP_SIG_MISMATCH "indirect call type mismatch"
#define TRAP_EXHAUSTED "call stack exhausted"
#define TRAP_INTERRUPTED "interrupted"

/* Largest param or result count handled with stack buffers when calling a host
 * function; larger signatures allocate. */
#define HOST_VALS_INLINE 16

static inline float f32_of(uint64_t v) {
    float f;
    uint32_t b = (uint32_t)v;
    memcpy(&f, &b, 4);
    return f;
}
static inline double f64_of(uint64_t v) {
    double f;
    memcpy(&f, &v, 8);
    return f;
}
static inline uint64_t bits_f32(float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}
static inline uint64_t bits_f64(double f) {
    uint64_t b;
    memcpy(&b, &f, 8);
    return b;
}

/* Rounding ops: a NaN operand is returned quieted (a + a), since inlined libm
 * rounding (gcc -O2 without SSE4.1) passes a signalling NaN through unchanged and wasm
 * requires an arithmetic NaN result. */

/* fmin/fmax as wasm defines them: NaN in gives NaN out, -0 < +0. */
static inline float wf32_min(float a, float b) {
    if (a != a || b != b) return a + b;
    if (a == b) return f32_of(bits_f32(a) | bits_f32(b));
    return a < b ? a : b;
}
static inline float wf32_max(float a, float b) {
    if (a != a || b != b) return a + b;
    if (a == b) return f32_of(bits_f32(a) & bits_f32(b));
    return a > b ? a : b;
}
static inline double wf64_min(double a, double b) {
    if (a != a || b != b) return a + b;
    if (a == b) return f64_of(bits_f64(a) | bits_f64(b));
    return a < b ? a : b;
}
static inline double wf64_max(double a, double b) {
    if (a != a || b != b) return a + b;
    if (a == b) return f64_of(bits_f64(a) & bits_f64(b));
    return a > b ? a : b;
}

/* Moves n slots down to dst (dst <= src, the only direction branches and returns move:
 * results go to the label's or frame's base). A loop: n is small, a libc call costs more. */
static inline void slots_down(uint64_t *dst, const uint64_t *src, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) dst[i] = src[i];
}

static inline uint32_t rotl32(uint32_t x, uint32_t n) {
    n &= 31;
    return n ? (x << n) | (x >> (32 - n)) : x;
}
static inline uint32_t rotr32(uint32_t x, uint32_t n) {
    n &= 31;
    return n ? (x >> n) | (x << (32 - n)) : x;
}
static inline uint64_t rotl64(uint64_t x, uint64_t n) {
    n &= 63;
    return n ? (x << n) | (x >> (64 - n)) : x;
}
static inline uint64_t rotr64(uint64_t x, uint64_t n) {
    n &= 63;
    return n ? (x >> n) | (x << (64 - n)) : x;
}

/* Saturating truncations (0xfc 0..7): NaN -> 0, out of range -> the nearest bound. */
static inline uint64_t sat_i32_s(double x) {
    if (x != x) return 0;
    if (x <= -2147483649.0) return (uint32_t)INT32_MIN;
    if (x >= 2147483648.0) return (uint32_t)INT32_MAX;
    return (uint32_t)(int32_t)x;
}
static inline uint64_t sat_i32_u(double x) {
    if (x != x || x <= -1.0) return 0;
    if (x >= 4294967296.0) return UINT32_MAX;
    return (uint32_t)x;
}
static inline uint64_t sat_i64_s(double x) {
    if (x != x) return 0;
    if (x < -9223372036854775808.0) return (uint64_t)INT64_MIN;
    if (x >= 9223372036854775808.0) return (uint64_t)INT64_MAX;
    return (uint64_t)(int64_t)x;
}
static inline uint64_t sat_i64_u(double x) {
    if (x != x || x <= -1.0) return 0;
    if (x >= 18446744073709551616.0) return UINT64_MAX;
    return (uint64_t)x;
}

void wasm__trap_diag(wasm_diag *d, const char *msg, uint32_t func_index, uint32_t offset) {
    if (!d) return;
    d->rc = SL_ETRAP;
    d->func_index = func_index;
    d->offset = offset;
    snprintf(d->msg, sizeof d->msg, "%s", msg);
}

/* Code offset (in the module) of the instruction at pc in f, for trap reports. */
static uint32_t code_offset(const wasm_func *f, const wcell *pc) {
    if (!f || f->is_host || !f->offsets || f->offset_count == 0) return 0;
    uint32_t cell = (uint32_t)(pc - f->code);
    uint32_t lo = 0;
    uint32_t hi = f->offset_count;
    while (hi - lo > 1) { /* last instruction starting at or before cell */
        uint32_t mid = lo + (hi - lo) / 2;
        if (f->offsets[2 * mid] <= cell) lo = mid;
        else hi = mid;
    }
    return f->offsets[2 * lo + 1];
}

/* Calls host function f with its args at base[0 .. np); on success the results replace
 * them. Returns the host's trap message or NULL (*oom on allocation failure). */
static const char *host_call(wasm_store *s, wasm_func *f, wasm_instance *caller, uint64_t *base,
                             bool *oom) {
    const wasm__ftype *t = &s->types[f->type_id];
    wasm_val args_inline[HOST_VALS_INLINE];
    wasm_val res_inline[HOST_VALS_INLINE];
    wasm_val *args = args_inline;
    wasm_val *res = res_inline;
    const char *msg = NULL;
    *oom = false;
    if (t->param_count > HOST_VALS_INLINE)
        args = mem_calloc(MEM_WASM, t->param_count, sizeof(*args));
    if (t->result_count > HOST_VALS_INLINE)
        res = mem_calloc(MEM_WASM, t->result_count, sizeof(*res));
    if (!args || !res) {
        *oom = true;
        msg = "out of host memory";
        goto out;
    }
    for (uint32_t i = 0; i < t->param_count; i++) {
        memset(&args[i], 0, sizeof(args[i]));
        args[i].type = t->params[i];
        if (t->params[i] == WASM_FUNCREF || t->params[i] == WASM_EXTERNREF)
            args[i].of.ref = (void *)(uintptr_t)base[i];
        else if (t->params[i] == WASM_I32 || t->params[i] == WASM_F32)
            args[i].of.i32 = (uint32_t)base[i];
        else args[i].of.i64 = base[i];
    }
    for (uint32_t i = 0; i < t->result_count; i++) {
        memset(&res[i], 0, sizeof(res[i]));
        res[i].type = t->params[t->param_count + i];
    }
    /* Re-entry: a nested wasm_func_call() uses the stack above the args and results. */
    s->sp = base + SL_MAX(t->param_count, t->result_count) - 1;
    msg = f->fn(caller, f->env, args, res);
    if (!msg) {
        for (uint32_t i = 0; i < t->result_count; i++) {
            wasm_valtype rt = t->params[t->param_count + i];
            uint64_t v;
            if (rt == WASM_FUNCREF || rt == WASM_EXTERNREF) v = (uint64_t)(uintptr_t)res[i].of.ref;
            else if (rt == WASM_I32 || rt == WASM_F32) v = res[i].of.i32;
            else v = res[i].of.i64;
            base[i] = v;
        }
    }
out:
    if (args != args_inline) mem_free(MEM_WASM, args);
    if (res != res_inline) mem_free(MEM_WASM, res);
    return msg;
}

/* Memory 0 of an instance that has none: no bytes, so exec needs no NULL test. */
wasm_memory wasm__no_memory;

/* The caller of the entry function: its frame returns to halt_code. Never runs. */
static wasm_func halt_func = {.mem0 = &wasm__no_memory};

/* Zeroes a frame's nl declared locals at lp. The first WASM__ZERO_SLOTS are written
 * unconditionally (frames have room for them, compile.c), so a function with few locals
 * pays for neither a loop nor a memset call. */
static inline void zero_locals(uint64_t *lp, uint32_t nl) {
    static_assert(WASM__ZERO_SLOTS == 4, "the stores below");
    lp[0] = 0;
    lp[1] = 0;
    lp[2] = 0;
    lp[3] = 0;
    for (uint32_t i = WASM__ZERO_SLOTS; i < nl; i++) lp[i] = 0;
}

/* The interpreter. With labels_out set, only reports the handler table.
 *
 * Cells of each instruction after its handler cell (w(a, b) is one cell holding two u32;
 * slot numbers are indices from fp; "k" is a 64-bit constant cell; T a target cell):
 *   br, br_loop T | br_move w(keep, src) w(dst, -) T | br_if_move w(cond, keep) w(src, dst) T
 *   bif_eqz, bif_nez w(a, -) T | bif_<cmp>_ss w(a, b) T | bif_<cmp>_sc w(a, k32) T
 *   addk_bif_<cmp>_ssl w(x, y) w(k, b) T | addk_bif_<cmp>_scl w(x, y) w(k, k32) T |
 *   addk_bif_eqz_l, addk_bif_nez_l w(x, y) w(k, -) T: x = y + k (i32), then as bif_*_l
 *   fbif_<cmp>_ss, fbifn_<cmp>_ss w(a, b) T | fbif_<cmp>_sc, fbifn_<cmp>_sc w(a, -) k64 T
 *   ff_<op1>_<op2>_l, _r w(t, a1) w(d, b1) w(c, -) (two chained f64 ops)
 *   ii_<op1>_<op2> w(dst, x) w(k1, k2) | select_andk w(dst, a) w(b, x) k (cond x & k)
 *   select_kk w(dst, cond) k1 k2 (both values constant)
 *   f64_axpy w(t, x) w(addr1, k1) offset1 w(addr2, k2) offset2 (m[a2] += (t = x * m[a1]))
 *   add2k w(d1, s1) w(d2, s2) w(k1, k2): d1 = s1 + k1, then d2 = s2 + k2 (i32)
 *   br_table w(index, n) w(src, keep) then n + 1 entries w(dst, -) T
 *   ret w(src, n) | ret1 w(src, -) (one result) | call, call_local func w(argbase, -)
 *   call_indirect table w(type_id, argbase) w(index, -)
 *   copy w(dst, src) | copy2 w(dst, src) w(dst2, src2) (two copies, in order) | copy3 (three)
 *   const_ w(dst, -) k | select w(dst, a) w(b, cond)
 *   global_get w(dst, -) ptr | global_set w(src, -) ptr
 *   <binop>_ss w(dst, a) w(b, -) | <binop>_sc w(dst, a) k | <unop> w(dst, a)
 *   <binop>_ld w(dst, a) w(addr, k) offset (b loaded from memory, the fused load)
 *   loads w(dst, addr) offset | stores w(addr, value) offset; their _k forms add w(k, -):
 *   the address is (u32)(fp[addr] + k) + offset, k a folded i32.add of a constant
 *   memory_size w(dst, -) | table_size w(dst, -) table
 *   stack-form ops (operands at the top of the operand stack; t = slots in use, so the
 *   top is fp[t - 1]): table_get/set/grow/fill w(t, -) table | table_copy w(t, -) dst src
 *   table_init w(t, -) table elem | memory_grow/fill/copy w(t, -) | memory_init w(t, -) data
 *   ref_is_null w(t, -) | elem_drop elem | data_drop data
 * Backward branches (br_loop, the _l / _ssl / _scl forms, br_move, br_if_move,
 * br_table) check the interrupt flag before they dispatch, inline in each handler (one
 * shared dispatch site would defeat indirect-branch prediction); forward ones do not. */
static int run(wasm_store *s, wasm_func *entry, const void *const **labels_out, wasm_diag *d) {
#define WASM__LABEL_C(name) [IOP_##name] = &&L_##name,
#define WASM__LABEL_CMP(name, neg) [IOP_bif_##name##_ss] = &&L_bif_##name##_ss, \
                                   [IOP_bif_##name##_sc] = &&L_bif_##name##_sc, \
                                   [IOP_bif_##name##_ssl] = &&L_bif_##name##_ssl, \
                                   [IOP_bif_##name##_scl] = &&L_bif_##name##_scl, \
                                   [IOP_addk_bif_##name##_ssl] = &&L_addk_bif_##name##_ssl, \
                                   [IOP_addk_bif_##name##_scl] = &&L_addk_bif_##name##_scl,
#define WASM__LABEL_FCMP(name, op) [IOP_fbif_##name##_ss] = &&L_fbif_##name##_ss, \
                                   [IOP_fbif_##name##_sc] = &&L_fbif_##name##_sc, \
                                   [IOP_fbifn_##name##_ss] = &&L_fbifn_##name##_ss, \
                                   [IOP_fbifn_##name##_sc] = &&L_fbifn_##name##_sc,
#define WASM__LABEL_FF(o1, o2) [IOP_ff_##o1##_##o2##_l] = &&L_ff_##o1##_##o2##_l, \
                               [IOP_ff_##o1##_##o2##_r] = &&L_ff_##o1##_##o2##_r,
#define WASM__LABEL_II(o1, o2) [IOP_ii_##o1##_##o2] = &&L_ii_##o1##_##o2,
#define WASM__LABEL_BI(name, code) [IOP_##name##_ss] = &&L_##name##_ss, \
                                   [IOP_##name##_sc] = &&L_##name##_sc,
#define WASM__LABEL_BF(name, code) [IOP_##name##_ss] = &&L_##name##_ss, \
                                   [IOP_##name##_sc] = &&L_##name##_sc,
#define WASM__LABEL_U(name, code) [IOP_##name] = &&L_##name,
#define WASM__LABEL_LD(name, load) [IOP_##name##_ld] = &&L_##name##_ld,
#define WASM__LABEL_LDST(name, load) [IOP_##name##_ldst] = &&L_##name##_ldst,
#define WASM__LABEL_MEM(name) [IOP_##name] = &&L_##name, [IOP_##name##_k] = &&L_##name##_k,
    static const void *const labels[IOP_COUNT] = {
        WASM__IOPS_CONTROL(WASM__LABEL_C) WASM__IOPS_CMP(WASM__LABEL_CMP)
        WASM__IOPS_FCMP(WASM__LABEL_FCMP) WASM__IOPS_FF(WASM__LABEL_FF)
        WASM__IOPS_II(WASM__LABEL_II)
        WASM__IOPS_BIN_INT(WASM__LABEL_BI) WASM__IOPS_BIN_FLT(WASM__LABEL_BF)
        WASM__IOPS_UNARY(WASM__LABEL_U) WASM__IOPS_LD(WASM__LABEL_LD)
        WASM__IOPS_LD(WASM__LABEL_LDST) WASM__IOPS_MEM(WASM__LABEL_MEM)};
    static const wcell halt_code[1] = {{.op = &&L_halt}};
    if (labels_out) {
        *labels_out = labels;
        return 0;
    }

#define NEXT(n)           \
    do {                  \
        pc += (n);        \
        goto *pc->op;     \
    } while (0)
/* A taken branch: checks the interrupt before going on, so every loop back-edge (and
 * so every loop without calls) stops within a few instructions of a request. */
#define BRANCH_TO(target)                                                     \
    do {                                                                      \
        pc = (target);                                                        \
        if (sl_unlikely(atomic_load_explicit(intr, memory_order_relaxed))) { \
            msg = TRAP_INTERRUPTED;                                           \
            goto trap;                                                        \
        }                                                                     \
        NEXT(0);                                                              \
    } while (0)

    const uint32_t entry_depth = s->depth;
    uint64_t *const entry_base = s->sp - entry->param_count + 1;
    const wcell *pc = halt_code; /* the entry's frame returns to halt_code */
    uint64_t *fp = NULL;
    uint64_t *callee_fp = entry_base;
    wasm_func *cur = &halt_func; /* until the entry runs: its frame's caller */
    wasm_func *callee = entry;
    uint8_t *mb = NULL;
    uint64_t msz = 0;
    const char *msg = NULL;
    uint32_t trap_index = UINT32_MAX; /* element index for "uninitialized element N" */
    wasm__frame *const frames = s->frames;
    wasm__frame *const fr_max = frames + s->limits.call_depth_max;
    wasm__frame *fr = frames + s->depth; /* the next free frame */
    uint64_t *const stack_end = s->stack_end;
    atomic_int *const intr = &s->interrupt;
    goto do_call;

do_call:
    /* callee's args are at callee_fp[0 .. np); pc is the caller's next instruction. */
    if (sl_unlikely(atomic_load_explicit(&s->interrupt, memory_order_relaxed))) {
        msg = TRAP_INTERRUPTED;
        goto trap;
    }
    if (callee->is_host) {
        bool oom;
        s->depth = (uint32_t)(fr - frames);
        msg = host_call(s, callee, cur->inst, callee_fp, &oom);
        if (msg) {
            if (oom) {
                s->depth = entry_depth;
                s->sp = entry_base - 1;
                wasm__trap_diag(d, msg, UINT32_MAX, 0);
                if (d) d->rc = -ENOMEM;
                return -ENOMEM;
            }
            goto trap;
        }
        if (cur == &halt_func) goto L_halt; /* the entry itself was a host function */
        goto reload_memory;
    }
    if (sl_unlikely(fr >= fr_max)) {
        msg = TRAP_EXHAUSTED;
        goto trap;
    }
    if (sl_unlikely((size_t)(stack_end - callee_fp) < callee->frame_slots)) {
        msg = TRAP_EXHAUSTED;
        goto trap;
    }
    fr->ret_pc = pc;
    fr->fp = fp;
    fr->func = cur;
    fr++;
    fp = callee_fp;
    zero_locals(fp + callee->param_count, callee->local_count);
    cur = callee;
    pc = callee->code;
reload_memory:
    mb = cur->mem0->data;
    msz = cur->mem0->bytes;
    NEXT(0);

L_halt:
    s->depth = entry_depth;
    s->sp = entry_base + entry->result_count - 1;
    return 0;

trap: {
    uint32_t fi = UINT32_MAX;
    uint32_t off = 0;
    if (cur != &halt_func && !cur->is_host) {
        fi = cur->index;
        off = code_offset(cur, pc);
    } else if (cur == &halt_func && !callee->is_host) {
        fi = callee->index; /* stopped before the entry function's first instruction */
    }
    s->depth = entry_depth;
    s->sp = entry_base - 1;
    if (trap_index != UINT32_MAX) {
        char text[64];
        snprintf(text, sizeof text, "%s %u", msg, trap_index);
        wasm__trap_diag(d, text, fi, off);
    } else {
        wasm__trap_diag(d, msg, fi, off);
    }
    return SL_ETRAP;
}

L_unreachable:
    msg = TRAP_UNREACHABLE;
    goto trap;

L_br:
    pc = pc[1].p;
    NEXT(0);
L_br_loop:
    BRANCH_TO(pc[1].p);
L_br_move: {
    uint32_t keep = pc[1].w.a;
    slots_down(fp + pc[2].w.a, fp + pc[1].w.b, keep);
    BRANCH_TO(pc[3].p);
}
L_br_if_move:
    if ((uint32_t)fp[pc[1].w.a]) {
        uint32_t keep = pc[1].w.b;
        slots_down(fp + pc[2].w.b, fp + pc[2].w.a, keep);
        BRANCH_TO(pc[3].p);
    }
    NEXT(4);
L_bif_eqz:
    if (!(uint32_t)fp[pc[1].w.a]) {
        pc = pc[2].p;
        NEXT(0);
    }
    NEXT(3);
L_bif_nez:
    if ((uint32_t)fp[pc[1].w.a]) {
        pc = pc[2].p;
        NEXT(0);
    }
    NEXT(3);
L_bif_eqz_l:
    if (!(uint32_t)fp[pc[1].w.a]) {
        BRANCH_TO(pc[2].p);
    }
    NEXT(3);
L_bif_nez_l:
    if ((uint32_t)fp[pc[1].w.a]) {
        BRANCH_TO(pc[2].p);
    }
    NEXT(3);
L_addk_bif_eqz_l: {
    uint32_t x = (uint32_t)fp[pc[1].w.b] + pc[2].w.a;
    fp[pc[1].w.a] = x;
    if (x == 0) {
        BRANCH_TO(pc[3].p);
    }
    NEXT(4);
}
L_addk_bif_nez_l: {
    uint32_t x = (uint32_t)fp[pc[1].w.b] + pc[2].w.a;
    fp[pc[1].w.a] = x;
    if (x != 0) {
        BRANCH_TO(pc[3].p);
    }
    NEXT(4);
}
L_br_table: {
    uint32_t n = pc[1].w.b;
    uint32_t i = (uint32_t)fp[pc[1].w.a];
    uint32_t src = pc[2].w.a;
    uint32_t keep = pc[2].w.b;
    if (i > n) i = n;
    const wcell *e = pc + 3 + 2 * (size_t)i;
    slots_down(fp + e[0].w.a, fp + src, keep);
    BRANCH_TO(e[1].p);
}
L_ret: {
    uint32_t n = pc[1].w.b;
    slots_down(fp, fp + pc[1].w.a, n);
    fr--;
    pc = fr->ret_pc;
    fp = fr->fp;
    cur = fr->func;
    mb = cur->mem0->data; /* halt_func's is no_memory */
    msz = cur->mem0->bytes;
    NEXT(0);
}
L_ret1:
    fp[0] = fp[pc[1].w.a];
    fr--;
    pc = fr->ret_pc;
    fp = fr->fp;
    cur = fr->func;
    mb = cur->mem0->data;
    msz = cur->mem0->bytes;
    NEXT(0);
L_call:
    callee = pc[1].p;
    callee_fp = fp + pc[2].w.a;
    pc += 3;
    goto do_call;
L_call_local: {
    /* A guest function of the running instance: same memory, so no reload on entry. */
    wasm_func *f = pc[1].p;
    uint64_t *nfp = fp + pc[2].w.a;
    if (sl_unlikely(atomic_load_explicit(intr, memory_order_relaxed))) {
        msg = TRAP_INTERRUPTED;
        goto trap;
    }
    /* Both limits as plain compares: the frame's end as an address, no division. */
    if (sl_unlikely(fr >= fr_max ||
                    (uintptr_t)nfp + (uintptr_t)f->frame_slots * sizeof(*nfp) >
                        (uintptr_t)stack_end)) {
        msg = TRAP_EXHAUSTED;
        goto trap;
    }
    fr->ret_pc = pc + 3;
    fr->fp = fp;
    fr->func = cur;
    fr++;
    fp = nfp;
    zero_locals(fp + f->param_count, f->local_count);
    cur = f;
    pc = f->code;
    NEXT(0);
}
L_call_indirect: {
    wasm_table *t = pc[1].p;
    uint32_t i = (uint32_t)fp[pc[3].w.a];
    if (i >= t->size) {
        msg = TRAP_UNDEF_ELEM;
        goto trap;
    }
    callee = t->elems[i];
    if (!callee) {
        msg = TRAP_UNINIT_ELEM;
        trap_index = i;
        goto trap;
    }
    if (callee->type_id != pc[2].w.a) {
        msg = TRAP_SIG_MISMATCH;
        goto trap;
    }
    callee_fp = fp + pc[2].w.b;
    pc += 4;
    goto do_call;
}
L_copy:
    fp[pc[1].w.a] = fp[pc[1].w.b];
    NEXT(2);
L_copy2:
    fp[pc[1].w.a] = fp[pc[1].w.b];
    fp[pc[2].w.a] = fp[pc[2].w.b];
    NEXT(3);
L_copy3:
    fp[pc[1].w.a] = fp[pc[1].w.b];
    fp[pc[2].w.a] = fp[pc[2].w.b];
    fp[pc[3].w.a] = fp[pc[3].w.b];
    NEXT(4);
L_const_:
    fp[pc[1].w.a] = pc[2].u;
    NEXT(3);
L_select:
    fp[pc[1].w.a] = (uint32_t)fp[pc[2].w.b] ? fp[pc[1].w.b] : fp[pc[2].w.a];
    NEXT(3);
L_add2k:
    fp[pc[1].w.a] = (uint32_t)((uint32_t)fp[pc[1].w.b] + pc[3].w.a);
    fp[pc[2].w.a] = (uint32_t)((uint32_t)fp[pc[2].w.b] + pc[3].w.b);
    NEXT(4);
L_select_kk:
    fp[pc[1].w.a] = (uint32_t)fp[pc[1].w.b] ? pc[2].u : pc[3].u;
    NEXT(4);
L_select_andk:
    fp[pc[1].w.a] = ((uint32_t)fp[pc[2].w.b] & (uint32_t)pc[3].u) ? fp[pc[1].w.b] : fp[pc[2].w.a];
    NEXT(4);
L_global_get:
    fp[pc[1].w.a] = *(uint64_t *)pc[2].p;
    NEXT(3);
L_global_set:
    *(uint64_t *)pc[2].p = fp[pc[1].w.a];
    NEXT(3);

    /* ---- fused i32 compare + branch ---- */
#define BIF(name, op)                                                 \
    L_bif_##name##_ss:                                                \
    if (op((uint32_t)fp[pc[1].w.a], (uint32_t)fp[pc[1].w.b])) {       \
        pc = pc[2].p;                                                 \
        NEXT(0);                                                      \
    }                                                                 \
    NEXT(3);                                                          \
    L_bif_##name##_sc:                                                \
    if (op((uint32_t)fp[pc[1].w.a], pc[1].w.b)) {                     \
        pc = pc[2].p;                                                 \
        NEXT(0);                                                      \
    }                                                                 \
    NEXT(3);                                                          \
    L_bif_##name##_ssl:                                               \
    if (op((uint32_t)fp[pc[1].w.a], (uint32_t)fp[pc[1].w.b])) {       \
        BRANCH_TO(pc[2].p);                                           \
    }                                                                 \
    NEXT(3);                                                          \
    L_bif_##name##_scl:                                               \
    if (op((uint32_t)fp[pc[1].w.a], pc[1].w.b)) {                     \
        BRANCH_TO(pc[2].p);                                           \
    }                                                                 \
    NEXT(3);                                                          \
    L_addk_bif_##name##_ssl: {                                        \
        uint32_t x = (uint32_t)fp[pc[1].w.b] + pc[2].w.a;             \
        fp[pc[1].w.a] = x;                                            \
        if (op(x, (uint32_t)fp[pc[2].w.b])) {                         \
            BRANCH_TO(pc[3].p);                                       \
        }                                                             \
        NEXT(4);                                                      \
    }                                                                 \
    L_addk_bif_##name##_scl: {                                        \
        uint32_t x = (uint32_t)fp[pc[1].w.b] + pc[2].w.a;             \
        fp[pc[1].w.a] = x;                                            \
        if (op(x, pc[2].w.b)) {                                       \
            BRANCH_TO(pc[3].p);                                       \
        }                                                             \
        NEXT(4);                                                      \
    }
#define CMP_EQ(a, b) ((a) == (b))
#define CMP_NE(a, b) ((a) != (b))
#define CMP_LT_S(a, b) ((int32_t)(a) < (int32_t)(b))
#define CMP_LT_U(a, b) ((a) < (b))
#define CMP_GT_S(a, b) ((int32_t)(a) > (int32_t)(b))
#define CMP_GT_U(a, b) ((a) > (b))
#define CMP_LE_S(a, b) ((int32_t)(a) <= (int32_t)(b))
#define CMP_LE_U(a, b) ((a) <= (b))
#define CMP_GE_S(a, b) ((int32_t)(a) >= (int32_t)(b))
#define CMP_GE_U(a, b) ((a) >= (b))
    BIF(eq, CMP_EQ)
    BIF(ne, CMP_NE)
    BIF(lt_s, CMP_LT_S)
    BIF(lt_u, CMP_LT_U)
    BIF(gt_s, CMP_GT_S)
    BIF(gt_u, CMP_GT_U)
    BIF(le_s, CMP_LE_S)
    BIF(le_u, CMP_LE_U)
    BIF(ge_s, CMP_GE_S)
    BIF(ge_u, CMP_GE_U)
#undef BIF

    /* ---- fused f64 compare + forward branch: fbif_ if true, fbifn_ if false ---- */
#define FBIF(name, op)                                                \
    L_fbif_##name##_ss:                                               \
    if (f64_of(fp[pc[1].w.a]) op f64_of(fp[pc[1].w.b])) {             \
        pc = pc[2].p;                                                 \
        NEXT(0);                                                      \
    }                                                                 \
    NEXT(3);                                                          \
    L_fbif_##name##_sc:                                               \
    if (f64_of(fp[pc[1].w.a]) op f64_of(pc[2].u)) {                   \
        pc = pc[3].p;                                                 \
        NEXT(0);                                                      \
    }                                                                 \
    NEXT(4);                                                          \
    L_fbifn_##name##_ss:                                              \
    if (!(f64_of(fp[pc[1].w.a]) op f64_of(fp[pc[1].w.b]))) {          \
        pc = pc[2].p;                                                 \
        NEXT(0);                                                      \
    }                                                                 \
    NEXT(3);                                                          \
    L_fbifn_##name##_sc:                                              \
    if (!(f64_of(fp[pc[1].w.a]) op f64_of(pc[2].u))) {                \
        pc = pc[3].p;                                                 \
        NEXT(0);                                                      \
    }                                                                 \
    NEXT(4);
    WASM__IOPS_FCMP(FBIF)
#undef FBIF

    /* ---- two chained f64 ops: m = a1 op1 b1 -> fp[t]; then m op2 c (_l) or c op2 m (_r)
     * -> fp[d].
     * Each rounds as the separate instruction would (no contraction: -ffp-contract=off).
     * c is read after fp[t] is written, as the second instruction would read it. */
#define FF_OP_add +
#define FF_OP_sub -
#define FF_OP_mul *
#define FF(o1, o2)                                                    \
    L_ff_##o1##_##o2##_l: {                                           \
        double m = f64_of(fp[pc[1].w.b]) FF_OP_##o1 f64_of(fp[pc[2].w.b]); \
        fp[pc[1].w.a] = bits_f64(m);                                  \
        fp[pc[2].w.a] = bits_f64(m FF_OP_##o2 f64_of(fp[pc[3].w.a])); \
        NEXT(4);                                                      \
    }                                                                 \
    L_ff_##o1##_##o2##_r: {                                           \
        double m = f64_of(fp[pc[1].w.b]) FF_OP_##o1 f64_of(fp[pc[2].w.b]); \
        fp[pc[1].w.a] = bits_f64(m);                                  \
        fp[pc[2].w.a] = bits_f64(f64_of(fp[pc[3].w.a]) FF_OP_##o2 m); \
        NEXT(4);                                                      \
    }
    WASM__IOPS_FF(FF)
#undef FF
#undef FF_OP_add
#undef FF_OP_sub
#undef FF_OP_mul

    /* ---- two chained i32 ops with constants: (x op1 k1) op2 k2 ---- */
#define II_OP_add +
#define II_OP_and &
#define II_OP_xor ^
#define II_OP_shl <<
#define II_OP_shr_u >>
#define II(o1, o2)                                                    \
    L_ii_##o1##_##o2: {                                               \
        uint32_t t = (uint32_t)fp[pc[1].w.b] II_OP_##o1 pc[2].w.a;    \
        fp[pc[1].w.a] = (uint32_t)(t II_OP_##o2 pc[2].w.b);           \
        NEXT(3);                                                      \
    }
    WASM__IOPS_II(II)
#undef II
#undef II_OP_add
#undef II_OP_and
#undef II_OP_xor
#undef II_OP_shl
#undef II_OP_shr_u

    /* ---- tables (stack form: sp is the top operand) ---- */
L_table_get: {
    uint64_t *sp = fp + pc[1].w.a - 1;
    wasm_table *t = pc[2].p;
    uint32_t i = (uint32_t)sp[0];
    if (i >= t->size) {
        msg = TRAP_TABLE_OOB;
        goto trap;
    }
    sp[0] = (uint64_t)(uintptr_t)t->elems[i];
    NEXT(3);
}
L_table_set: {
    uint64_t *sp = fp + pc[1].w.a - 1;
    wasm_table *t = pc[2].p;
    uint32_t i = (uint32_t)sp[-1];
    if (i >= t->size) {
        msg = TRAP_TABLE_OOB;
        goto trap;
    }
    t->elems[i] = (void *)(uintptr_t)sp[0];
    NEXT(3);
}
L_table_size:
    fp[pc[1].w.a] = ((wasm_table *)pc[2].p)->size;
    NEXT(3);
L_table_grow: {
    uint64_t *sp = fp + pc[1].w.a - 1;
    wasm_table *t = pc[2].p;
    uint32_t delta = (uint32_t)sp[0];
    void *init = (void *)(uintptr_t)sp[-1];
    uint32_t old;
    if (wasm__table_grow(t, delta, init, &old) < 0) sp[-1] = UINT32_MAX;
    else sp[-1] = old;
    NEXT(3);
}
L_table_fill: {
    uint64_t *sp = fp + pc[1].w.a - 1;
    wasm_table *t = pc[2].p;
    uint32_t n = (uint32_t)sp[0];
    void *v = (void *)(uintptr_t)sp[-1];
    uint32_t i = (uint32_t)sp[-2];
    if ((uint64_t)i + n > t->size) {
        msg = TRAP_TABLE_OOB;
        goto trap;
    }
    for (uint32_t k = 0; k < n; k++) t->elems[i + k] = v;
    NEXT(3);
}
L_table_copy: {
    uint64_t *sp = fp + pc[1].w.a - 1;
    wasm_table *dt = pc[2].p;
    wasm_table *st = pc[3].p;
    uint32_t n = (uint32_t)sp[0];
    uint32_t si = (uint32_t)sp[-1];
    uint32_t di = (uint32_t)sp[-2];
    if ((uint64_t)si + n > st->size || (uint64_t)di + n > dt->size) {
        msg = TRAP_TABLE_OOB;
        goto trap;
    }
    if (n) memmove(dt->elems + di, st->elems + si, n * sizeof(void *));
    NEXT(4);
}
L_table_init: {
    uint64_t *sp = fp + pc[1].w.a - 1;
    wasm_table *t = pc[2].p;
    wasm__elem *e = pc[3].p;
    uint32_t n = (uint32_t)sp[0];
    uint32_t si = (uint32_t)sp[-1];
    uint32_t di = (uint32_t)sp[-2];
    if ((uint64_t)si + n > e->count || (uint64_t)di + n > t->size) {
        msg = TRAP_TABLE_OOB;
        goto trap;
    }
    if (n) memcpy(t->elems + di, e->refs + si, n * sizeof(void *));
    NEXT(4);
}
L_elem_drop:
    ((wasm__elem *)pc[1].p)->count = 0;
    NEXT(2);

    /* ---- memory ---- */
L_memory_size:
    fp[pc[1].w.a] = cur->mem0->pages;
    NEXT(2);
L_memory_grow: {
    uint64_t *sp = fp + pc[1].w.a - 1;
    uint32_t old;
    wasm_memory *m = cur->mem0;
    if (wasm__memory_grow(m, (uint32_t)sp[0], &old) < 0) sp[0] = UINT32_MAX;
    else sp[0] = old;
    mb = m->data;
    msz = m->bytes;
    NEXT(2);
}
L_memory_fill: {
    uint64_t *sp = fp + pc[1].w.a - 1;
    uint32_t n = (uint32_t)sp[0];
    uint8_t v = (uint8_t)sp[-1];
    uint32_t di = (uint32_t)sp[-2];
    if ((uint64_t)di + n > msz) {
        msg = TRAP_MEM_OOB;
        goto trap;
    }
    if (n) memset(mb + di, v, n);
    NEXT(2);
}
L_memory_copy: {
    uint64_t *sp = fp + pc[1].w.a - 1;
    uint32_t n = (uint32_t)sp[0];
    uint32_t si = (uint32_t)sp[-1];
    uint32_t di = (uint32_t)sp[-2];
    if ((uint64_t)si + n > msz || (uint64_t)di + n > msz) {
        msg = TRAP_MEM_OOB;
        goto trap;
    }
    if (n) memmove(mb + di, mb + si, n);
    NEXT(2);
}
L_memory_init: {
    uint64_t *sp = fp + pc[1].w.a - 1;
    wasm__data *seg = pc[2].p;
    uint32_t n = (uint32_t)sp[0];
    uint32_t si = (uint32_t)sp[-1];
    uint32_t di = (uint32_t)sp[-2];
    if ((uint64_t)si + n > seg->len || (uint64_t)di + n > msz) {
        msg = TRAP_MEM_OOB;
        goto trap;
    }
    if (n) memcpy(mb + di, seg->bytes + si, n);
    NEXT(3);
}
L_data_drop:
    ((wasm__data *)pc[1].p)->len = 0;
    NEXT(2);
L_ref_is_null: {
    uint64_t *sp = fp + pc[1].w.a - 1;
    sp[0] = sp[0] == 0;
    NEXT(2);
}

    /* Loads and stores: w(dst or addr slot, ...) then the static offset; ea in 64 bits.
     * The _k forms carry w(k, -) after it: an i32.add of the constant k that compile.c
     * folded into the access, so the address is (u32)(base + k) + offset, wrapping at
     * 2^32 exactly as the add would have. These macros expand to whole handlers; their
     * gotos are visible here. */
#define EA(base, off) ((uint64_t)(uint32_t)(base) + (off))
#define EA_K(base, k, off) ((uint64_t)(uint32_t)((uint32_t)(base) + (k)) + (off))
#define LOAD_AT(ea, ctype, width, conv, n)                        \
    {                                                             \
        ctype v_;                                                 \
        if (sl_unlikely((ea) + (width) > msz)) {                  \
            msg = TRAP_MEM_OOB;                                   \
            goto trap;                                            \
        }                                                         \
        memcpy(&v_, mb + (ea), (width));                          \
        fp[pc[1].w.a] = conv;                                     \
        NEXT(n);                                                  \
    }
#define LOAD(name, ctype, width, conv)                            \
    L_##name: {                                                   \
        uint64_t ea = EA(fp[pc[1].w.b], pc[2].u);                 \
        LOAD_AT(ea, ctype, width, conv, 3)                        \
    }                                                             \
    L_##name##_k: {                                               \
        uint64_t ea = EA_K(fp[pc[1].w.b], pc[3].w.a, pc[2].u);    \
        LOAD_AT(ea, ctype, width, conv, 4)                        \
    }
    LOAD(i32_load, uint32_t, 4, (uint64_t)v_)
    LOAD(i64_load, uint64_t, 8, v_)
    LOAD(f32_load, uint32_t, 4, (uint64_t)v_)
    LOAD(f64_load, uint64_t, 8, v_)
    LOAD(i32_load8_s, int8_t, 1, (uint32_t)(int32_t)v_)
    LOAD(i32_load8_u, uint8_t, 1, (uint64_t)v_)
    LOAD(i32_load16_s, int16_t, 2, (uint32_t)(int32_t)v_)
    LOAD(i32_load16_u, uint16_t, 2, (uint64_t)v_)
    LOAD(i64_load8_s, int8_t, 1, (uint64_t)(int64_t)v_)
    LOAD(i64_load8_u, uint8_t, 1, (uint64_t)v_)
    LOAD(i64_load16_s, int16_t, 2, (uint64_t)(int64_t)v_)
    LOAD(i64_load16_u, uint16_t, 2, (uint64_t)v_)
    LOAD(i64_load32_s, int32_t, 4, (uint64_t)(int64_t)v_)
    LOAD(i64_load32_u, uint32_t, 4, (uint64_t)v_)
#undef LOAD
#undef LOAD_AT

#define STORE_AT(ea, ctype, width, n)                             \
    {                                                             \
        ctype v_ = (ctype)fp[pc[1].w.b];                          \
        if (sl_unlikely((ea) + (width) > msz)) {                  \
            msg = TRAP_MEM_OOB;                                   \
            goto trap;                                            \
        }                                                         \
        memcpy(mb + (ea), &v_, (width));                          \
        NEXT(n);                                                  \
    }
#define STORE(name, ctype, width)                                 \
    L_##name: {                                                   \
        uint64_t ea = EA(fp[pc[1].w.a], pc[2].u);                 \
        STORE_AT(ea, ctype, width, 3)                             \
    }                                                             \
    L_##name##_k: {                                               \
        uint64_t ea = EA_K(fp[pc[1].w.a], pc[3].w.a, pc[2].u);    \
        STORE_AT(ea, ctype, width, 4)                             \
    }
    STORE(i32_store, uint32_t, 4)
    STORE(i64_store, uint64_t, 8)
    STORE(f32_store, uint32_t, 4)
    STORE(f64_store, uint64_t, 8)
    STORE(i32_store8, uint8_t, 1)
    STORE(i32_store16, uint16_t, 2)
    STORE(i64_store8, uint8_t, 1)
    STORE(i64_store16, uint16_t, 2)
    STORE(i64_store32, uint32_t, 4)
#undef STORE
#undef STORE_AT

    /* Load + binary op: b is loaded (bounds-checked exactly as the load would be), from
     * the address w(addr, k) offset formed as a _k load forms it (k = 0 when none). */
#define LD_BIN(name, ctype, width, T, conv, expr)                    \
    L_##name##_ld: {                                                 \
        uint64_t ea = EA_K(fp[pc[2].w.a], pc[2].w.b, pc[3].u);       \
        ctype v_;                                                    \
        if (sl_unlikely(ea + (width) > msz)) {                       \
            msg = TRAP_MEM_OOB;                                      \
            goto trap;                                               \
        }                                                            \
        memcpy(&v_, mb + ea, (width));                               \
        T a = conv(fp[pc[1].w.b]);                                   \
        T b = conv(v_);                                              \
        fp[pc[1].w.a] = (expr);                                      \
        NEXT(4);                                                     \
    }
    /* Read-modify-write (load + op + store back, fused): the same load and bounds check,
     * then the result replaces the loaded bytes. */
#define LDST_BIN(name, ctype, width, T, conv, expr)                  \
    L_##name##_ldst: {                                               \
        uint64_t ea = EA_K(fp[pc[2].w.a], pc[2].w.b, pc[3].u);       \
        ctype v_;                                                    \
        if (sl_unlikely(ea + (width) > msz)) {                       \
            msg = TRAP_MEM_OOB;                                      \
            goto trap;                                               \
        }                                                            \
        memcpy(&v_, mb + ea, (width));                               \
        T a = conv(fp[pc[1].w.b]);                                   \
        T b = conv(v_);                                              \
        v_ = (ctype)(expr);                                          \
        memcpy(mb + ea, &v_, (width));                               \
        NEXT(4);                                                     \
    }
#define ID32(v) ((uint32_t)(v))
#define ID64(v) ((uint64_t)(v))
#define LD_OPS(M) \
    M(f64_add, uint64_t, 8, double, f64_of, bits_f64(a + b)) \
    M(f64_sub, uint64_t, 8, double, f64_of, bits_f64(a - b)) \
    M(f64_mul, uint64_t, 8, double, f64_of, bits_f64(a * b)) \
    M(f32_add, uint32_t, 4, float, f32_of, bits_f32(a + b)) \
    M(f32_sub, uint32_t, 4, float, f32_of, bits_f32(a - b)) \
    M(f32_mul, uint32_t, 4, float, f32_of, bits_f32(a * b)) \
    M(i32_add, uint32_t, 4, uint32_t, ID32, (uint32_t)(a + b)) \
    M(i32_sub, uint32_t, 4, uint32_t, ID32, (uint32_t)(a - b)) \
    M(i32_mul, uint32_t, 4, uint32_t, ID32, (uint32_t)(a * b)) \
    M(i32_and, uint32_t, 4, uint32_t, ID32, a & b) \
    M(i32_or, uint32_t, 4, uint32_t, ID32, a | b) \
    M(i32_xor, uint32_t, 4, uint32_t, ID32, a ^ b) \
    M(i64_add, uint64_t, 8, uint64_t, ID64, a + b) \
    M(i64_sub, uint64_t, 8, uint64_t, ID64, a - b) \
    M(i64_mul, uint64_t, 8, uint64_t, ID64, a * b) \
    M(i64_and, uint64_t, 8, uint64_t, ID64, a & b) \
    M(i64_or, uint64_t, 8, uint64_t, ID64, a | b) \
    M(i64_xor, uint64_t, 8, uint64_t, ID64, a ^ b)
    LD_OPS(LD_BIN)
    LD_OPS(LDST_BIN)
    /* f64_mul_ld then f64_add_ldst on its result (m[p2] += x * m[p1]): the same two
     * accesses in the same order; a trap in the second reports from pc + 4, where
     * compile.c keeps the second's code offset. */
L_f64_axpy: {
    uint64_t ea = EA_K(fp[pc[2].w.a], pc[2].w.b, pc[3].u);
    uint64_t v_;
    if (sl_unlikely(ea + 8 > msz)) {
        msg = TRAP_MEM_OOB;
        goto trap;
    }
    memcpy(&v_, mb + ea, 8);
    double m = f64_of(fp[pc[1].w.b]) * f64_of(v_);
    fp[pc[1].w.a] = bits_f64(m);
    ea = EA_K(fp[pc[4].w.a], pc[4].w.b, pc[5].u);
    if (sl_unlikely(ea + 8 > msz)) {
        pc += 4;
        msg = TRAP_MEM_OOB;
        goto trap;
    }
    memcpy(&v_, mb + ea, 8);
    v_ = bits_f64(m + f64_of(v_));
    memcpy(mb + ea, &v_, 8);
    NEXT(6);
}
#undef LD_BIN

    /* ---- numeric: w(dst, a) then w(b, -) (_ss) or the constant (_sc) ---- */
#define I32_BIN(name, expr)                                \
    L_##name##_ss: {                                       \
        uint32_t a = (uint32_t)fp[pc[1].w.b];              \
        uint32_t b = (uint32_t)fp[pc[2].w.a];              \
        fp[pc[1].w.a] = (uint32_t)(expr);                  \
        NEXT(3);                                           \
    }                                                      \
    L_##name##_sc: {                                       \
        uint32_t a = (uint32_t)fp[pc[1].w.b];              \
        uint32_t b = (uint32_t)pc[2].u;                    \
        fp[pc[1].w.a] = (uint32_t)(expr);                  \
        NEXT(3);                                           \
    }
#define I64_BIN(name, expr)                                \
    L_##name##_ss: {                                       \
        uint64_t a = fp[pc[1].w.b];                        \
        uint64_t b = fp[pc[2].w.a];                        \
        fp[pc[1].w.a] = (uint64_t)(expr);                  \
        NEXT(3);                                           \
    }                                                      \
    L_##name##_sc: {                                       \
        uint64_t a = fp[pc[1].w.b];                        \
        uint64_t b = pc[2].u;                              \
        fp[pc[1].w.a] = (uint64_t)(expr);                  \
        NEXT(3);                                           \
    }
#define F32_BIN(name, expr)                                \
    L_##name##_ss: {                                       \
        float a = f32_of(fp[pc[1].w.b]);                   \
        float b = f32_of(fp[pc[2].w.a]);                   \
        fp[pc[1].w.a] = (expr);                            \
        NEXT(3);                                           \
    }                                                      \
    L_##name##_sc: {                                       \
        float a = f32_of(fp[pc[1].w.b]);                   \
        float b = f32_of(pc[2].u);                         \
        fp[pc[1].w.a] = (expr);                            \
        NEXT(3);                                           \
    }
#define F64_BIN(name, expr)                                \
    L_##name##_ss: {                                       \
        double a = f64_of(fp[pc[1].w.b]);                  \
        double b = f64_of(fp[pc[2].w.a]);                  \
        fp[pc[1].w.a] = (expr);                            \
        NEXT(3);                                           \
    }                                                      \
    L_##name##_sc: {                                       \
        double a = f64_of(fp[pc[1].w.b]);                  \
        double b = f64_of(pc[2].u);                        \
        fp[pc[1].w.a] = (expr);                            \
        NEXT(3);                                           \
    }
#define UN(name, type, get, expr)                          \
    L_##name: {                                            \
        type a = get(fp[pc[1].w.b]);                       \
        fp[pc[1].w.a] = (expr);                            \
        NEXT(2);                                           \
    }
    /* Trapping integer division; one macro makes both forms. */
#define DIV(name, T, S, getb, op, check_overflow)          \
    L_##name##_##S: {                                      \
        T a = (T)fp[pc[1].w.b];                            \
        T b = (T)(getb);                                   \
        if (b == 0) {                                      \
            msg = TRAP_DIV_ZERO;                           \
            goto trap;                                     \
        }                                                  \
        check_overflow                                     \
        fp[pc[1].w.a] = op;                                \
        NEXT(3);                                           \
    }
#define U32(v) ((uint32_t)(v))
#define U64(v) ((uint64_t)(v))
#define NO_CHECK
#define I32_OVF                                            \
    if (a == INT32_MIN && b == -1) {                       \
        msg = TRAP_INT_OVERFLOW;                           \
        goto trap;                                         \
    }
#define I64_OVF                                            \
    if (a == INT64_MIN && b == -1) {                       \
        msg = TRAP_INT_OVERFLOW;                           \
        goto trap;                                         \
    }
    DIV(i32_div_s, int32_t, ss, fp[pc[2].w.a], (uint32_t)(a / b), I32_OVF)
    DIV(i32_div_s, int32_t, sc, pc[2].u, (uint32_t)(a / b), I32_OVF)
    DIV(i32_div_u, uint32_t, ss, fp[pc[2].w.a], a / b, NO_CHECK)
    DIV(i32_div_u, uint32_t, sc, pc[2].u, a / b, NO_CHECK)
    DIV(i32_rem_s, int32_t, ss, fp[pc[2].w.a], (b == -1) ? 0 : (uint32_t)(a % b), NO_CHECK)
    DIV(i32_rem_s, int32_t, sc, pc[2].u, (b == -1) ? 0 : (uint32_t)(a % b), NO_CHECK)
    DIV(i32_rem_u, uint32_t, ss, fp[pc[2].w.a], a % b, NO_CHECK)
    DIV(i32_rem_u, uint32_t, sc, pc[2].u, a % b, NO_CHECK)
    DIV(i64_div_s, int64_t, ss, fp[pc[2].w.a], (uint64_t)(a / b), I64_OVF)
    DIV(i64_div_s, int64_t, sc, pc[2].u, (uint64_t)(a / b), I64_OVF)
    DIV(i64_div_u, uint64_t, ss, fp[pc[2].w.a], a / b, NO_CHECK)
    DIV(i64_div_u, uint64_t, sc, pc[2].u, a / b, NO_CHECK)
    DIV(i64_rem_s, int64_t, ss, fp[pc[2].w.a], (b == -1) ? 0 : (uint64_t)(a % b), NO_CHECK)
    DIV(i64_rem_s, int64_t, sc, pc[2].u, (b == -1) ? 0 : (uint64_t)(a % b), NO_CHECK)
    DIV(i64_rem_u, uint64_t, ss, fp[pc[2].w.a], a % b, NO_CHECK)
    DIV(i64_rem_u, uint64_t, sc, pc[2].u, a % b, NO_CHECK)
#undef DIV

    I32_BIN(i32_eq, a == b)
    I32_BIN(i32_ne, a != b)
    I32_BIN(i32_lt_s, (int32_t)a < (int32_t)b)
    I32_BIN(i32_lt_u, a < b)
    I32_BIN(i32_gt_s, (int32_t)a > (int32_t)b)
    I32_BIN(i32_gt_u, a > b)
    I32_BIN(i32_le_s, (int32_t)a <= (int32_t)b)
    I32_BIN(i32_le_u, a <= b)
    I32_BIN(i32_ge_s, (int32_t)a >= (int32_t)b)
    I32_BIN(i32_ge_u, a >= b)
    I64_BIN(i64_eq, a == b)
    I64_BIN(i64_ne, a != b)
    I64_BIN(i64_lt_s, (int64_t)a < (int64_t)b)
    I64_BIN(i64_lt_u, a < b)
    I64_BIN(i64_gt_s, (int64_t)a > (int64_t)b)
    I64_BIN(i64_gt_u, a > b)
    I64_BIN(i64_le_s, (int64_t)a <= (int64_t)b)
    I64_BIN(i64_le_u, a <= b)
    I64_BIN(i64_ge_s, (int64_t)a >= (int64_t)b)
    I64_BIN(i64_ge_u, a >= b)
    F32_BIN(f32_eq, a == b)
    F32_BIN(f32_ne, a != b)
    F32_BIN(f32_lt, a < b)
    F32_BIN(f32_gt, a > b)
    F32_BIN(f32_le, a <= b)
    F32_BIN(f32_ge, a >= b)
    F64_BIN(f64_eq, a == b)
    F64_BIN(f64_ne, a != b)
    F64_BIN(f64_lt, a < b)
    F64_BIN(f64_gt, a > b)
    F64_BIN(f64_le, a <= b)
    F64_BIN(f64_ge, a >= b)

    UN(i32_eqz, uint32_t, U32, a == 0)
    UN(i64_eqz, uint64_t, U64, a == 0)
    UN(i32_clz, uint32_t, U32, a ? (uint32_t)__builtin_clz(a) : 32u)
    UN(i32_ctz, uint32_t, U32, a ? (uint32_t)__builtin_ctz(a) : 32u)
    UN(i32_popcnt, uint32_t, U32, (uint32_t)__builtin_popcount(a))
    I32_BIN(i32_add, a + b)
    I32_BIN(i32_sub, a - b)
    I32_BIN(i32_mul, a * b)
    I32_BIN(i32_and, a & b)
    I32_BIN(i32_or, a | b)
    I32_BIN(i32_xor, a ^ b)
    I32_BIN(i32_shl, a << (b & 31))
    I32_BIN(i32_shr_s, (uint32_t)((int32_t)a >> (b & 31)))
    I32_BIN(i32_shr_u, a >> (b & 31))
    I32_BIN(i32_rotl, rotl32(a, b))
    I32_BIN(i32_rotr, rotr32(a, b))

    UN(i64_clz, uint64_t, U64, a ? (uint64_t)__builtin_clzll(a) : 64u)
    UN(i64_ctz, uint64_t, U64, a ? (uint64_t)__builtin_ctzll(a) : 64u)
    UN(i64_popcnt, uint64_t, U64, (uint64_t)__builtin_popcountll(a))
    I64_BIN(i64_add, a + b)
    I64_BIN(i64_sub, a - b)
    I64_BIN(i64_mul, a * b)
    I64_BIN(i64_and, a & b)
    I64_BIN(i64_or, a | b)
    I64_BIN(i64_xor, a ^ b)
    I64_BIN(i64_shl, a << (b & 63))
    I64_BIN(i64_shr_s, (uint64_t)((int64_t)a >> (b & 63)))
    I64_BIN(i64_shr_u, a >> (b & 63))
    I64_BIN(i64_rotl, rotl64(a, b))
    I64_BIN(i64_rotr, rotr64(a, b))

    UN(f32_abs, uint64_t, U64, a & 0x7fffffffu)
    UN(f32_neg, uint64_t, U64, (a ^ 0x80000000u) & 0xffffffffu)
    UN(f32_ceil, float, f32_of, bits_f32(a != a ? a + a : ceilf(a)))
    UN(f32_floor, float, f32_of, bits_f32(a != a ? a + a : floorf(a)))
    UN(f32_trunc, float, f32_of, bits_f32(a != a ? a + a : truncf(a)))
    UN(f32_nearest, float, f32_of, bits_f32(a != a ? a + a : nearbyintf(a)))
    UN(f32_sqrt, float, f32_of, bits_f32(sqrtf(a)))
    F32_BIN(f32_add, bits_f32(a + b))
    F32_BIN(f32_sub, bits_f32(a - b))
    F32_BIN(f32_mul, bits_f32(a * b))
    F32_BIN(f32_div, bits_f32(a / b))
    F32_BIN(f32_min, bits_f32(wf32_min(a, b)))
    F32_BIN(f32_max, bits_f32(wf32_max(a, b)))
L_f32_copysign_ss:
    fp[pc[1].w.a] = (fp[pc[1].w.b] & 0x7fffffffu) | (fp[pc[2].w.a] & 0x80000000u);
    NEXT(3);
L_f32_copysign_sc:
    fp[pc[1].w.a] = (fp[pc[1].w.b] & 0x7fffffffu) | (pc[2].u & 0x80000000u);
    NEXT(3);
    UN(f64_abs, uint64_t, U64, a & 0x7fffffffffffffffull)
    UN(f64_neg, uint64_t, U64, a ^ 0x8000000000000000ull)
    UN(f64_ceil, double, f64_of, bits_f64(a != a ? a + a : ceil(a)))
    UN(f64_floor, double, f64_of, bits_f64(a != a ? a + a : floor(a)))
    UN(f64_trunc, double, f64_of, bits_f64(a != a ? a + a : trunc(a)))
    UN(f64_nearest, double, f64_of, bits_f64(a != a ? a + a : nearbyint(a)))
    UN(f64_sqrt, double, f64_of, bits_f64(sqrt(a)))
    F64_BIN(f64_add, bits_f64(a + b))
    F64_BIN(f64_sub, bits_f64(a - b))
    F64_BIN(f64_mul, bits_f64(a * b))
    F64_BIN(f64_div, bits_f64(a / b))
    F64_BIN(f64_min, bits_f64(wf64_min(a, b)))
    F64_BIN(f64_max, bits_f64(wf64_max(a, b)))
L_f64_copysign_ss:
    fp[pc[1].w.a] =
        (fp[pc[1].w.b] & 0x7fffffffffffffffull) | (fp[pc[2].w.a] & 0x8000000000000000ull);
    NEXT(3);
L_f64_copysign_sc:
    fp[pc[1].w.a] =
        (fp[pc[1].w.b] & 0x7fffffffffffffffull) | (pc[2].u & 0x8000000000000000ull);
    NEXT(3);

    UN(i32_wrap_i64, uint64_t, U64, (uint32_t)a)
    /* Trapping truncations: NaN is an invalid conversion, out of range an overflow. The
     * bounds are the first values outside the target range, all exact in float/double. */
#define TRUNC(name, ftype, get, lo_ok, hi_ok, conv)   \
    L_##name: {                                       \
        ftype a = get(fp[pc[1].w.b]);                 \
        if (a != a) {                                 \
            msg = TRAP_INVALID_CONV;                  \
            goto trap;                                \
        }                                             \
        if (!((lo_ok) && (hi_ok))) {                  \
            msg = TRAP_INT_OVERFLOW;                  \
            goto trap;                                \
        }                                             \
        fp[pc[1].w.a] = (conv);                       \
        NEXT(2);                                      \
    }
    TRUNC(i32_trunc_f32_s, float, f32_of, a >= -2147483648.0f, a < 2147483648.0f,
          (uint32_t)(int32_t)a)
    TRUNC(i32_trunc_f32_u, float, f32_of, a > -1.0f, a < 4294967296.0f, (uint32_t)a)
    TRUNC(i32_trunc_f64_s, double, f64_of, a > -2147483649.0, a < 2147483648.0,
          (uint32_t)(int32_t)a)
    TRUNC(i32_trunc_f64_u, double, f64_of, a > -1.0, a < 4294967296.0, (uint32_t)a)
    TRUNC(i64_trunc_f32_s, float, f32_of, a >= -9223372036854775808.0f,
          a < 9223372036854775808.0f, (uint64_t)(int64_t)a)
    TRUNC(i64_trunc_f32_u, float, f32_of, a > -1.0f, a < 18446744073709551616.0f, (uint64_t)a)
    TRUNC(i64_trunc_f64_s, double, f64_of, a >= -9223372036854775808.0,
          a < 9223372036854775808.0, (uint64_t)(int64_t)a)
    TRUNC(i64_trunc_f64_u, double, f64_of, a > -1.0, a < 18446744073709551616.0, (uint64_t)a)
#undef TRUNC
    UN(i64_extend_i32_s, uint64_t, U64, (uint64_t)(int64_t)(int32_t)(uint32_t)a)
    UN(i64_extend_i32_u, uint64_t, U64, (uint64_t)(uint32_t)a)
    UN(f32_convert_i32_s, uint64_t, U64, bits_f32((float)(int32_t)(uint32_t)a))
    UN(f32_convert_i32_u, uint64_t, U64, bits_f32((float)(uint32_t)a))
    UN(f32_convert_i64_s, uint64_t, U64, bits_f32((float)(int64_t)a))
    UN(f32_convert_i64_u, uint64_t, U64, bits_f32((float)a))
    UN(f32_demote_f64, double, f64_of, bits_f32((float)a))
    UN(f64_convert_i32_s, uint64_t, U64, bits_f64((double)(int32_t)(uint32_t)a))
    UN(f64_convert_i32_u, uint64_t, U64, bits_f64((double)(uint32_t)a))
    UN(f64_convert_i64_s, uint64_t, U64, bits_f64((double)(int64_t)a))
    UN(f64_convert_i64_u, uint64_t, U64, bits_f64((double)a))
    UN(f64_promote_f32, float, f32_of, bits_f64((double)a))
    UN(i32_reinterpret_f32, uint64_t, U64, a & 0xffffffffu)
    UN(i64_reinterpret_f64, uint64_t, U64, a)
    UN(f32_reinterpret_i32, uint64_t, U64, a & 0xffffffffu)
    UN(f64_reinterpret_i64, uint64_t, U64, a)
    UN(i32_extend8_s, uint64_t, U64, (uint32_t)(int32_t)(int8_t)(uint8_t)a)
    UN(i32_extend16_s, uint64_t, U64, (uint32_t)(int32_t)(int16_t)(uint16_t)a)
    UN(i64_extend8_s, uint64_t, U64, (uint64_t)(int64_t)(int8_t)(uint8_t)a)
    UN(i64_extend16_s, uint64_t, U64, (uint64_t)(int64_t)(int16_t)(uint16_t)a)
    UN(i64_extend32_s, uint64_t, U64, (uint64_t)(int64_t)(int32_t)(uint32_t)a)
    UN(i32_trunc_sat_f32_s, float, f32_of, sat_i32_s((double)a))
    UN(i32_trunc_sat_f32_u, float, f32_of, sat_i32_u((double)a))
    UN(i32_trunc_sat_f64_s, double, f64_of, sat_i32_s(a))
    UN(i32_trunc_sat_f64_u, double, f64_of, sat_i32_u(a))
    UN(i64_trunc_sat_f32_s, float, f32_of, sat_i64_s((double)a))
    UN(i64_trunc_sat_f32_u, float, f32_of, sat_i64_u((double)a))
    UN(i64_trunc_sat_f64_s, double, f64_of, sat_i64_s(a))
    UN(i64_trunc_sat_f64_u, double, f64_of, sat_i64_u(a))
#undef LDST_BIN
#undef EA
#undef EA_K
#undef LD_OPS
#undef ID32
#undef ID64
#undef I32_BIN
#undef I64_BIN
#undef F32_BIN
#undef F64_BIN
#undef UN
#undef U32
#undef U64
#undef NEXT
}

const void *const *wasm__labels(void) {
    const void *const *labels = NULL;
    run(NULL, NULL, &labels, NULL);
    return labels;
}

int wasm__exec(wasm_store *s, wasm_func *f, wasm_diag *d) {
    SL_ASSERT(!f->is_host || f->fn);
    SL_ASSERT(s->depth < s->limits.call_depth_max + 1);
    if (s->depth >= s->limits.call_depth_max) {
        s->sp -= f->param_count;
        wasm__trap_diag(d, TRAP_EXHAUSTED, f->is_host ? UINT32_MAX : f->index, 0);
        return SL_ETRAP;
    }
    return run(s, f, NULL, d);
}

/* ---- the public call ---- */

void wasm_func_type(const wasm_func *f, wasm_functype *out) {
    const wasm__ftype *t = &f->store->types[f->type_id];
    out->param_count = t->param_count;
    out->result_count = t->result_count;
    out->params = t->params;
    out->results = t->params + t->param_count;
}

int wasm_func_call(wasm_store *s, wasm_func *f, const wasm_val *args, size_t nargs,
                   wasm_val *results, size_t nresults, wasm_diag *d) {
    const wasm__ftype *t;
    int rc;
    if (d) {
        memset(d, 0, sizeof(*d));
        d->func_index = UINT32_MAX;
    }
    if (!s || !f || f->store != s) {
        if (d) snprintf(d->msg, sizeof d->msg, "function belongs to another store");
        return d ? (d->rc = SL_EINVAL) : SL_EINVAL;
    }
    t = &s->types[f->type_id];
    if (nargs != t->param_count || nresults < t->result_count) {
        if (d) snprintf(d->msg, sizeof d->msg, "expected %u args and %u results, got %zu and %zu",
                        t->param_count, t->result_count, nargs, nresults);
        return d ? (d->rc = SL_EINVAL) : SL_EINVAL;
    }
    for (size_t i = 0; i < nargs; i++) {
        if (args[i].type != t->params[i]) {
            if (d) snprintf(d->msg, sizeof d->msg, "argument %zu has the wrong type", i);
            return d ? (d->rc = SL_EINVAL) : SL_EINVAL;
        }
    }
    if ((rc = wasm__stack_ensure(s)) < 0) {
        if (d) snprintf(d->msg, sizeof d->msg, "cannot allocate the value stack");
        return d ? (d->rc = rc) : rc;
    }
    /* Room for the args and results themselves; frames check their own room. */
    if ((size_t)(s->stack_end - (s->sp + 1)) < (size_t)t->param_count + t->result_count + 1) {
        wasm__trap_diag(d, TRAP_EXHAUSTED, UINT32_MAX, 0);
        return SL_ETRAP;
    }
    uint64_t *base = s->sp + 1;
    for (size_t i = 0; i < nargs; i++) {
        wasm_valtype ty = t->params[i];
        if (ty == WASM_FUNCREF || ty == WASM_EXTERNREF) base[i] = (uint64_t)(uintptr_t)args[i].of.ref;
        else if (ty == WASM_I32 || ty == WASM_F32) base[i] = args[i].of.i32;
        else base[i] = args[i].of.i64;
    }
    s->sp = base + nargs - 1;
    rc = wasm__exec(s, f, d);
    if (rc < 0) {
        s->sp = base - 1;
        return rc;
    }
    for (size_t i = 0; i < t->result_count; i++) {
        wasm_valtype ty = t->params[t->param_count + i];
        memset(&results[i], 0, sizeof(results[i]));
        results[i].type = ty;
        if (ty == WASM_FUNCREF || ty == WASM_EXTERNREF) results[i].of.ref = (void *)(uintptr_t)base[i];
        else if (ty == WASM_I32 || ty == WASM_F32) results[i].of.i32 = (uint32_t)base[i];
        else results[i].of.i64 = base[i];
    }
    s->sp = base - 1;
    return 0;
}
