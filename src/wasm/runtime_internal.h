/* runtime_internal.h - the runtime half of src/wasm: store objects, compiled code, exec.
 *
 * Object model: a wasm_store owns every runtime object made in it (functions, memories,
 * tables, globals, instances) and frees them all in wasm_store_free(). A funcref value is
 * the wasm_func pointer itself, so a function keeps its identity across instances (an
 * imported function is the exporter's object, not a copy). Function types are interned
 * per store: two functions have equal types iff their type_id is equal, which makes the
 * call_indirect signature check one integer compare.
 *
 * Value representation: every value occupies one 64-bit slot (uint64_t). i32 is stored
 * zero-extended, f32/f64 as their bits, references as the pointer (NULL = null ref).
 *
 * Compiled code (compile.c writes it, exec.c runs it): an array of wcell. Each
 * instruction is one cell holding the handler's label address (direct threading)
 * followed by its immediates, already decoded and resolved: branch targets are cell
 * pointers, globals are pointers to their value slot, callees are wasm_func pointers.
 * Code is compiled per instance, so these pointers are fixed at instantiation.
 *
 * Frames: fp points at local 0 (params first, then declared locals); the operand stack
 * of the frame follows at fp[params + locals]. Operand heights are static in validated
 * code, so every operand has a fixed slot index relative to fp: instructions name their
 * source and destination slots (a register machine over the frame; no sp at run time).
 *
 * Threads: everything here belongs to the store's thread, except store->interrupt. */
#ifndef SL_WASM_RUNTIME_INTERNAL_H
#define SL_WASM_RUNTIME_INTERNAL_H

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>

#include "base/common.h"
#include "base/err.h"
#include "base/mem.h"
#include "wasm/wasm.h"

#define WASM_PAGE_BYTES 65536u

static_assert(WASM_MEMORY_PAGES_MAX_DEFAULT <= WASM_MEMORY_PAGES_MAX_CEILING, "default > ceiling");
static_assert(WASM_TABLE_ELEMS_MAX_DEFAULT <= WASM_TABLE_ELEMS_MAX_CEILING, "default > ceiling");
static_assert(WASM_CALL_DEPTH_MAX_DEFAULT <= WASM_CALL_DEPTH_MAX_CEILING, "default > ceiling");
static_assert(WASM_VALUE_STACK_MAX_DEFAULT <= WASM_VALUE_STACK_MAX_CEILING, "default > ceiling");

/* One cell of compiled code. */
typedef union wcell {
    const void *op; /* handler label (the first cell of an instruction) */
    uint64_t u;     /* an immediate */
    int64_t i;
    void *p;        /* a resolved object: wasm_func, wasm_table, global slot, target cell */
    struct {
        uint32_t a;
        uint32_t b;
    } w; /* two 32-bit immediates */
} wcell;

/* An interned function type. */
typedef struct wasm__ftype {
    uint32_t param_count;
    uint32_t result_count;
    wasm_valtype *params; /* owns param_count + result_count entries; results follow */
} wasm__ftype;

struct wasm_func {
    wasm_store *store;      /* owner */
    uint32_t type_id;       /* index in store->types */
    bool is_host;           /* host function (fn, env) or guest code (inst, code) */
    wasm_host_fn fn;        /* host: the callback */
    void *env;              /* host: its argument */
    wasm_instance *inst;    /* guest: defining instance */
    uint32_t index;         /* guest: function index in its module */
    uint32_t param_count;   /* cached from the type */
    uint32_t result_count;  /* cached from the type */
    uint32_t local_count;   /* guest: declared locals after the params */
    uint32_t frame_slots;   /* guest: params + locals + max operand height */
    wcell *code;            /* guest: owns the compiled code */
    uint32_t *offsets;      /* guest: owns pairs (cell index, code offset) per instruction;
                             * f64_axpy has a second pair at its second access's cells */
    uint32_t offset_count;  /* guest: pairs in offsets */
    uint32_t body_offset;   /* guest: module offset of the function body */
    wasm_memory *mem0;      /* guest: its instance's memory 0, or &wasm__no_memory (exec
                             * reloads its base and size after calls) */
};

struct wasm_memory {
    wasm_store *store;  /* owner */
    uint8_t *data;      /* owns bytes; NULL when bytes == 0 */
    uint64_t bytes;     /* pages * 64 KiB */
    uint32_t pages;     /* current size */
    uint32_t max_pages; /* declared maximum, UINT32_MAX when none */
};

struct wasm_table {
    wasm_store *store;    /* owner */
    wasm_valtype elem;    /* WASM_FUNCREF or WASM_EXTERNREF */
    void **elems;         /* owns size entries; NULL is the null reference */
    uint32_t size;        /* current size */
    uint32_t max;         /* declared maximum, UINT32_MAX when none */
};

struct wasm_global {
    wasm_store *store;  /* owner */
    uint64_t value;     /* the slot; guest code reads and writes it directly */
    wasm_valtype type;  /* value type */
    bool mutable_;      /* var or const */
};

/* Runtime state of an element or data segment (dropped segments have count 0). */
typedef struct wasm__elem {
    void **refs;    /* owns count references */
    uint32_t count; /* 0 once dropped */
} wasm__elem;

typedef struct wasm__data {
    const uint8_t *bytes; /* view into the module's bytes */
    uint32_t len;         /* 0 once dropped */
} wasm__data;

struct wasm_instance {
    wasm_store *store;          /* owner */
    const wasm_module *module;  /* borrowed: outlives the instance (wasm.h) */
    wasm_func **funcs;          /* owns the array; objects owned by the store */
    uint32_t func_count;        /* imported + defined */
    wasm_table **tables;        /* owns the array */
    uint32_t table_count;
    wasm_memory **memories;     /* owns the array */
    uint32_t memory_count;
    wasm_global **globals;      /* owns the array */
    uint32_t global_count;
    wasm__elem *elems;          /* owns the segments */
    uint32_t elem_count;
    wasm__data *datas;          /* owns the array */
    uint32_t data_count;
    uint32_t *type_ids;         /* owns: module type index -> store type id */
    uint32_t type_count;
};

/* A call frame saved by a call: where to go back to. */
typedef struct wasm__frame {
    const wcell *ret_pc; /* the caller's next instruction */
    uint64_t *fp;        /* the caller's locals */
    wasm_func *func;     /* the caller */
} wasm__frame;

struct wasm_store {
    wasm_limits limits;         /* with defaults filled in */
    atomic_int interrupt;       /* set by wasm_store_interrupt from any thread */
    uint64_t *stack;            /* owns limits.value_stack_max slots, allocated on first call */
    uint64_t *stack_end;        /* one past the last slot */
    uint64_t *sp;               /* top used slot (stack - 1 when empty) */
    wasm__frame *frames;        /* owns limits.call_depth_max + 1 frames */
    uint32_t depth;             /* frames in use */
    wasm__ftype *types;         /* owns the interned types */
    uint32_t type_count;
    uint32_t type_cap;
    void **objects;             /* owns every object: tag in the low 3 bits (wasm__obj) */
    size_t object_count;
    size_t object_cap;
};

/* store.c */
enum { WASM__OBJ_FUNC = 0, WASM__OBJ_MEMORY, WASM__OBJ_TABLE, WASM__OBJ_GLOBAL, WASM__OBJ_INSTANCE };
int wasm__store_adopt(wasm_store *s, void *obj, int kind);
int wasm__type_intern(wasm_store *s, const wasm_valtype *params, uint32_t np,
                      const wasm_valtype *results, uint32_t nr, uint32_t *id_out);
int wasm__memory_grow(wasm_memory *m, uint32_t delta, uint32_t *old_pages_out);
int wasm__table_grow(wasm_table *t, uint32_t delta, void *init, uint32_t *old_size_out);
wasm_memory *wasm__memory_make(wasm_store *s, uint32_t min, uint32_t max);
wasm_table *wasm__table_make(wasm_store *s, wasm_valtype elem, uint32_t min, uint32_t max);
int wasm__stack_ensure(wasm_store *s);

/* compile.c: translates body of function f (a guest function of inst). */
int wasm__compile(wasm_instance *inst, wasm_func *f, wasm_diag *d);

/* exec.c: zeroes this many slots after the params on every call whatever the local
 * count, so every frame has at least param_count + WASM__ZERO_SLOTS slots. */
#define WASM__ZERO_SLOTS 4
/* exec.c: memory 0 of functions whose instance has no memory (0 bytes). */
extern wasm_memory wasm__no_memory;
/* exec.c: the label address table compile.c emits (index = wasm__iop). */
const void *const *wasm__labels(void);
/* Runs guest function f with its args at s->sp; leaves results there. */
int wasm__exec(wasm_store *s, wasm_func *f, wasm_diag *d);
/* Trap texts (the spec suite's words). */
void wasm__trap_diag(wasm_diag *d, const char *msg, uint32_t func_index, uint32_t offset);

/* Internal instruction set (exec.c documents each one's cells). Register-style: operands
 * and results are frame slots (fp-relative indices) carried as immediates. */
#define WASM__IOPS_CONTROL(X) \
    X(unreachable) X(halt) X(br) X(br_loop) X(br_move) X(br_if_move) X(br_table) X(ret) X(ret1) \
    X(call) X(call_local) X(call_indirect) X(copy) X(copy2) X(copy3) X(const_) X(select) \
    X(select_andk) X(select_kk) X(f64_axpy) X(add2k) X(global_get) X(global_set) \
    X(table_get) X(table_set) X(table_size) X(table_grow) X(table_fill) X(table_copy) \
    X(table_init) X(elem_drop) X(memory_size) X(memory_grow) X(memory_fill) \
    X(memory_copy) X(memory_init) X(data_drop) X(ref_is_null) \
    X(bif_eqz) X(bif_nez) X(bif_eqz_l) X(bif_nez_l) \
    X(addk_bif_eqz_l) X(addk_bif_nez_l)

/* Loads and stores, in wasm opcode order (0x28..0x3e). Each has a plain form and a _k
 * form whose address adds a folded i32 constant first (exec.c, EA_K). */
#define WASM__IOPS_MEM(X) \
    X(i32_load) X(i64_load) X(f32_load) X(f64_load) X(i32_load8_s) X(i32_load8_u) \
    X(i32_load16_s) X(i32_load16_u) X(i64_load8_s) X(i64_load8_u) X(i64_load16_s) \
    X(i64_load16_u) X(i64_load32_s) X(i64_load32_u) X(i32_store) X(i64_store) \
    X(f32_store) X(f64_store) X(i32_store8) X(i32_store16) X(i64_store8) \
    X(i64_store16) X(i64_store32)

/* i32 comparisons that fuse with a following br_if / if: X(name, negation). Each has
 * forward forms (_ss, _sc) and loop forms (_ssl, _scl) that check for an interrupt
 * when they branch back; likewise bif_eqz/bif_nez and bif_eqz_l/bif_nez_l. A loop form
 * right after the i32 add of a constant to its left operand (a loop counter) fuses
 * with the add too: addk_bif_<name>_ssl / _scl, addk_bif_eqz_l / addk_bif_nez_l. */
#define WASM__IOPS_CMP(X) \
    X(eq, ne) X(ne, eq) X(lt_s, ge_s) X(lt_u, ge_u) X(gt_s, le_s) X(gt_u, le_u) \
    X(le_s, gt_s) X(le_u, gt_u) X(ge_s, lt_s) X(ge_u, lt_u)

/* f64 comparisons that fuse with a following forward br_if (fbif_: branch if true) or
 * if (fbifn_: branch if false), each in _ss and _sc forms. */
#define WASM__IOPS_FCMP(X) X(eq, ==) X(ne, !=) X(lt, <) X(gt, >) X(le, <=) X(ge, >=)

/* Two f64 ops in a row where the second takes the first's result (a chain such as
 * x * y + z): X(first, second). Form _l: m = first(a1, b1) then d = second(m, c);
 * form _r: d = second(c, m). The first's result is still written to its slot. */
#define WASM__IOPS_FF(X) \
    X(add, add) X(add, sub) X(add, mul) X(sub, add) X(sub, sub) X(sub, mul) X(mul, add) \
    X(mul, sub) X(mul, mul)

/* Two i32 ops with constant right operands in a row, the second on the first's result:
 * X(first, second) -> ii_<first>_<second> w(dst, x) w(k1, k2): dst = (x first k1)
 * second k2 (shift counts masked by compile.c). */
#define WASM__IOPS_II(X) X(shr_u, and) X(and, xor) X(and, add) X(shl, add) X(add, and)

/* Integer binary ops: X(name, wasm opcode). Each has a slot,slot form (_ss) and a
 * slot,constant form (_sc). */
#define WASM__IOPS_BIN_INT(X) \
    X(i32_eq, 0x46) X(i32_ne, 0x47) X(i32_lt_s, 0x48) X(i32_lt_u, 0x49) X(i32_gt_s, 0x4a) \
    X(i32_gt_u, 0x4b) X(i32_le_s, 0x4c) X(i32_le_u, 0x4d) X(i32_ge_s, 0x4e) X(i32_ge_u, 0x4f) \
    X(i64_eq, 0x51) X(i64_ne, 0x52) X(i64_lt_s, 0x53) X(i64_lt_u, 0x54) X(i64_gt_s, 0x55) \
    X(i64_gt_u, 0x56) X(i64_le_s, 0x57) X(i64_le_u, 0x58) X(i64_ge_s, 0x59) X(i64_ge_u, 0x5a) \
    X(i32_add, 0x6a) X(i32_sub, 0x6b) X(i32_mul, 0x6c) X(i32_div_s, 0x6d) X(i32_div_u, 0x6e) \
    X(i32_rem_s, 0x6f) X(i32_rem_u, 0x70) X(i32_and, 0x71) X(i32_or, 0x72) X(i32_xor, 0x73) \
    X(i32_shl, 0x74) X(i32_shr_s, 0x75) X(i32_shr_u, 0x76) X(i32_rotl, 0x77) X(i32_rotr, 0x78) \
    X(i64_add, 0x7c) X(i64_sub, 0x7d) X(i64_mul, 0x7e) X(i64_div_s, 0x7f) X(i64_div_u, 0x80) \
    X(i64_rem_s, 0x81) X(i64_rem_u, 0x82) X(i64_and, 0x83) X(i64_or, 0x84) X(i64_xor, 0x85) \
    X(i64_shl, 0x86) X(i64_shr_s, 0x87) X(i64_shr_u, 0x88) X(i64_rotl, 0x89) X(i64_rotr, 0x8a)

/* Float binary ops: X(name, wasm opcode); _ss and _sc forms as for integers. */
#define WASM__IOPS_BIN_FLT(X) \
    X(f32_eq, 0x5b) X(f32_ne, 0x5c) X(f32_lt, 0x5d) X(f32_gt, 0x5e) X(f32_le, 0x5f) \
    X(f32_ge, 0x60) X(f64_eq, 0x61) X(f64_ne, 0x62) X(f64_lt, 0x63) X(f64_gt, 0x64) \
    X(f64_le, 0x65) X(f64_ge, 0x66) X(f32_add, 0x92) X(f32_sub, 0x93) X(f32_mul, 0x94) \
    X(f32_div, 0x95) X(f32_min, 0x96) X(f32_max, 0x97) X(f32_copysign, 0x98) \
    X(f64_add, 0xa0) X(f64_sub, 0xa1) X(f64_mul, 0xa2) X(f64_div, 0xa3) X(f64_min, 0xa4) \
    X(f64_max, 0xa5) X(f64_copysign, 0xa6)

/* Binary ops whose right operand comes straight from the load just before them:
 * X(name, the load). Form _ld: w(dst, a) w(addr, k) offset (addressed as a _k load).
 * Form _ldst (the same cells, dst unused): read-modify-write, the result is stored back
 * to the loaded address (a load + op + store of the same width, address and offset
 * fused). */
#define WASM__IOPS_LD(X) \
    X(f64_add, f64_load) X(f64_sub, f64_load) X(f64_mul, f64_load) X(f32_add, f32_load) \
    X(f32_sub, f32_load) X(f32_mul, f32_load) X(i32_add, i32_load) X(i32_sub, i32_load) \
    X(i32_mul, i32_load) X(i32_and, i32_load) X(i32_or, i32_load) X(i32_xor, i32_load) \
    X(i64_add, i64_load) X(i64_sub, i64_load) X(i64_mul, i64_load) X(i64_and, i64_load) \
    X(i64_or, i64_load) X(i64_xor, i64_load)

/* Unary ops: X(name, wasm opcode). */
#define WASM__IOPS_UNARY(X) \
    X(i32_eqz, 0x45) X(i64_eqz, 0x50) X(i32_clz, 0x67) X(i32_ctz, 0x68) X(i32_popcnt, 0x69) \
    X(i64_clz, 0x79) X(i64_ctz, 0x7a) X(i64_popcnt, 0x7b) \
    X(f32_abs, 0x8b) X(f32_neg, 0x8c) X(f32_ceil, 0x8d) X(f32_floor, 0x8e) \
    X(f32_trunc, 0x8f) X(f32_nearest, 0x90) X(f32_sqrt, 0x91) \
    X(f64_abs, 0x99) X(f64_neg, 0x9a) X(f64_ceil, 0x9b) X(f64_floor, 0x9c) \
    X(f64_trunc, 0x9d) X(f64_nearest, 0x9e) X(f64_sqrt, 0x9f) \
    X(i32_wrap_i64, 0xa7) X(i32_trunc_f32_s, 0xa8) X(i32_trunc_f32_u, 0xa9) \
    X(i32_trunc_f64_s, 0xaa) X(i32_trunc_f64_u, 0xab) X(i64_extend_i32_s, 0xac) \
    X(i64_extend_i32_u, 0xad) X(i64_trunc_f32_s, 0xae) X(i64_trunc_f32_u, 0xaf) \
    X(i64_trunc_f64_s, 0xb0) X(i64_trunc_f64_u, 0xb1) X(f32_convert_i32_s, 0xb2) \
    X(f32_convert_i32_u, 0xb3) X(f32_convert_i64_s, 0xb4) \
    X(f32_convert_i64_u, 0xb5) X(f32_demote_f64, 0xb6) X(f64_convert_i32_s, 0xb7) \
    X(f64_convert_i32_u, 0xb8) X(f64_convert_i64_s, 0xb9) \
    X(f64_convert_i64_u, 0xba) X(f64_promote_f32, 0xbb) \
    X(i32_reinterpret_f32, 0xbc) X(i64_reinterpret_f64, 0xbd) \
    X(f32_reinterpret_i32, 0xbe) X(f64_reinterpret_i64, 0xbf) \
    X(i32_extend8_s, 0xc0) X(i32_extend16_s, 0xc1) X(i64_extend8_s, 0xc2) \
    X(i64_extend16_s, 0xc3) X(i64_extend32_s, 0xc4) \
    X(i32_trunc_sat_f32_s, 0xfc00) X(i32_trunc_sat_f32_u, 0xfc01) \
    X(i32_trunc_sat_f64_s, 0xfc02) X(i32_trunc_sat_f64_u, 0xfc03) \
    X(i64_trunc_sat_f32_s, 0xfc04) X(i64_trunc_sat_f32_u, 0xfc05) \
    X(i64_trunc_sat_f64_s, 0xfc06) X(i64_trunc_sat_f64_u, 0xfc07)

#define WASM__IOP_ENUM_C(name) IOP_##name,
#define WASM__IOP_ENUM_CMP(name, neg) \
    IOP_bif_##name##_ss, IOP_bif_##name##_sc, IOP_bif_##name##_ssl, IOP_bif_##name##_scl, \
    IOP_addk_bif_##name##_ssl, IOP_addk_bif_##name##_scl,
#define WASM__IOP_ENUM_FCMP(name, op) \
    IOP_fbif_##name##_ss, IOP_fbif_##name##_sc, IOP_fbifn_##name##_ss, IOP_fbifn_##name##_sc,
#define WASM__IOP_ENUM_FF(a, b) IOP_ff_##a##_##b##_l, IOP_ff_##a##_##b##_r,
#define WASM__IOP_ENUM_II(o1, o2) IOP_ii_##o1##_##o2,
#define WASM__IOP_ENUM_BI(name, code) IOP_##name##_ss, IOP_##name##_sc,
#define WASM__IOP_ENUM_BF(name, code) IOP_##name##_ss, IOP_##name##_sc,
#define WASM__IOP_ENUM_U(name, code) IOP_##name,
#define WASM__IOP_ENUM_LD(name, load) IOP_##name##_ld,
#define WASM__IOP_ENUM_LDST(name, load) IOP_##name##_ldst,
#define WASM__IOP_ENUM_K(name) IOP_##name##_k,
typedef enum wasm__iop {
    WASM__IOPS_CONTROL(WASM__IOP_ENUM_C) WASM__IOPS_CMP(WASM__IOP_ENUM_CMP)
    WASM__IOPS_FCMP(WASM__IOP_ENUM_FCMP) WASM__IOPS_FF(WASM__IOP_ENUM_FF)
    WASM__IOPS_II(WASM__IOP_ENUM_II)
    WASM__IOPS_BIN_INT(WASM__IOP_ENUM_BI) WASM__IOPS_BIN_FLT(WASM__IOP_ENUM_BF)
    WASM__IOPS_UNARY(WASM__IOP_ENUM_U) WASM__IOPS_LD(WASM__IOP_ENUM_LD)
    WASM__IOPS_LD(WASM__IOP_ENUM_LDST) WASM__IOPS_MEM(WASM__IOP_ENUM_C)
    WASM__IOPS_MEM(WASM__IOP_ENUM_K) IOP_COUNT
} wasm__iop;

#endif
