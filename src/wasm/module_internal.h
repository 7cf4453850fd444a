/* module_internal.h - a decoded, validated WebAssembly module as plain structs.
 *
 * Who may rely on what:
 *   - decode.c fills every struct here from the binary; validate.c then checks the
 *     whole module and fills the validator-computed fields (marked "validator").
 *     module.c owns the life cycle (wasm_module_new / wasm_module_free).
 *   - compile.c, exec.c, instance.c and store.c (the runtime) may read every field of
 *     a module that wasm_module_new() returned: by then it is fully validated, so all
 *     indices are in range, all types match, every code body is well-formed and
 *     every const-expr has the type its user expects. They never write to it.
 *   - Changes to this header are additive only (new fields, new enum values at the
 *     end); the existing fields keep their meaning.
 *
 * Invariants of a module returned by wasm_module_new():
 *   (1) Index spaces put imports first: funcs[0 .. func_import_count) are the
 *       imported functions in import order, then the code section's; the same holds
 *       for tables, memories and globals.
 *   (2) bytes is the module's own copy of the binary; every [start, end) offset
 *       below is into it and within size.
 *   (3) Every pointer array has exactly its count entries (NULL when the count is 0);
 *       all memory belongs to the module's arena and is freed by wasm_module_free().
 *   (4) memory_count <= 1 (2.0 "multiple memories"); a data segment's memory is 0.
 *   (5) Names (import module/name, export name) are NUL-terminated copies of valid
 *       UTF-8; they may contain U+0000, so *_len gives the full length.
 *
 * Threads: immutable after wasm_module_new(); any number of threads may read it.
 * See opcodes.def for the instruction table, leb.h for the shared byte reader. */
#ifndef SL_WASM_MODULE_INTERNAL_H
#define SL_WASM_MODULE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/rd.h"
#include "wasm/wasm.h"

/* ---- limits (STYLE rule 9) ----
 * Each bounds memory that grows with input. A module over a limit is rejected by
 * wasm_module_new() with SL_ELIMIT and the limit's name in the message. The spec's
 * own bounds (u32 counts, "too many locals" at 2^32) are enforced as it says. */

/* Module bytes accepted. Workflows are small; keeps every offset in u32 math. */
#define WASM_MODULE_BYTES_MAX (64u << 20)
/* Locals declared by one function (excluding params). A call reserves a slot per
 * local, so this also bounds one frame; the spec allows up to 2^32 - 1. */
#define WASM_FUNC_LOCALS_MAX 50000u
/* Nested blocks (block/loop/if) in one function body: bounds the validator's and
 * the compiler's control stacks. */
#define WASM_CONTROL_DEPTH_MAX 10000u
/* Operand values live at once in one body (validation's stack; a call pushing many
 * results could otherwise grow it far beyond the module's size). The runtime's
 * default value stack (1 M slots) could not run a deeper function anyway. */
#define WASM_FUNC_STACK_MAX (1u << 20)
/* Parameters or results of one function type. */
#define WASM_TYPE_ARITY_MAX 1000u

/* ---- the instruction table ---- */

/* Immediate kinds; see opcodes.def for each one's encoding. */
typedef enum wasm_imm {
    IMM_NONE = 0,
    IMM_BLOCKTYPE,
    IMM_LABEL,
    IMM_BRTABLE,
    IMM_FUNC,
    IMM_CALL_INDIRECT,
    IMM_LOCAL,
    IMM_GLOBAL,
    IMM_TABLE,
    IMM_MEM8,
    IMM_MEM16,
    IMM_MEM32,
    IMM_MEM64,
    IMM_MEMIDX,
    IMM_I32,
    IMM_I64,
    IMM_F32,
    IMM_F64,
    IMM_REFTYPE,
    IMM_SELECT_T,
    IMM_MEMORY_INIT,
    IMM_DATA,
    IMM_MEMORY_COPY,
    IMM_TABLE_INIT,
    IMM_ELEM,
    IMM_TABLE_COPY,
} wasm_imm;

/* WASM_OP_<id> = code: a byte, or 0xFC00 | sub-opcode for 0xFC-prefixed ones. */
typedef enum wasm_op {
#define OP(code, id, text, imm, pops, pushes) WASM_OP_##id = code,
#include "wasm/opcodes.def"
#undef OP
} wasm_op;

/* One row of opcodes.def as data. For SIGX rows sig_fixed is false and the arrays
 * are empty; otherwise pops[0 .. pop_count) in push order, likewise pushes. */
typedef struct wasm_opinfo {
    uint16_t code;        /* as in opcodes.def */
    uint8_t imm;          /* wasm_imm */
    bool sig_fixed;       /* false for SIGX rows: the validator checks them by hand */
    uint8_t pop_count;    /* operands popped (fixed rows) */
    uint8_t push_count;   /* operands pushed (fixed rows), 0 or 1 */
    wasm_valtype pops[3]; /* their types, first pushed first */
    wasm_valtype push;    /* the pushed type when push_count == 1 */
    const char *text;     /* "i32.add" */
} wasm_opinfo;

/* The rows as a table: single-byte codes at their byte, 0xFC-prefixed ones at
 * 256 + sub-opcode; empty slots (text == NULL) are no instruction. */
#define WASM_OP_SLOTS (256 + 18)
#define WASM_OP_SLOT_CONST(code) ((code) < 0x100 ? (code) : 256 + ((code)&0xFF))
extern const wasm_opinfo wasm__ops[WASM_OP_SLOTS];

/* The row for code, or NULL when code names no 2.0 non-SIMD instruction. */
static inline const wasm_opinfo *wasm__opinfo(uint16_t code) {
    unsigned slot;
    if (code < 0x100)
        slot = code;
    else if ((code >> 8) == 0xFC && (code & 0xFF) < 18)
        slot = 256u + (code & 0xFFu);
    else
        return NULL;
    return wasm__ops[slot].text ? &wasm__ops[slot] : NULL;
}

/* ---- types ---- */

/* Limits of a table or memory as declared. */
typedef struct wasm_lim {
    uint32_t min; /* initial size (pages or elements) */
    uint32_t max; /* maximum when has_max, else UINT32_MAX */
    bool has_max; /* a maximum was declared */
} wasm_lim;

typedef struct wasm_tabletype {
    wasm_valtype elem; /* WASM_FUNCREF or WASM_EXTERNREF */
    wasm_lim lim;      /* in elements */
} wasm_tabletype;

typedef struct wasm_globaltype {
    wasm_valtype type; /* any value type */
    bool mutable_;     /* declared var */
} wasm_globaltype;

/* A constant expression of 2.0: exactly one instruction then end. */
typedef enum wasm_constexpr_kind {
    WASM_CONST_I32 = 0,  /* i32.const: of.i32 */
    WASM_CONST_I64,      /* i64.const: of.i64 */
    WASM_CONST_F32,      /* f32.const: of.f32_bits */
    WASM_CONST_F64,      /* f64.const: of.f64_bits */
    WASM_CONST_REF_NULL, /* ref.null t: type says which reference type */
    WASM_CONST_REF_FUNC, /* ref.func of.index */
    WASM_CONST_GLOBAL,   /* global.get of.index (an imported global, validated) */
    /* Decoder-internal: bytes at expr_offset not yet validated. validate.c replaces
     * it with one of the kinds above; the runtime never sees it. */
    WASM_CONST_PENDING_,
} wasm_constexpr_kind;

typedef struct wasm_constexpr {
    uint8_t kind;         /* wasm_constexpr_kind */
    wasm_valtype type;    /* the value type the expression produces */
    uint32_t expr_offset; /* module offset of the expression's first byte */
    union {
        uint32_t i32;
        uint64_t i64;
        uint32_t f32_bits;
        uint64_t f64_bits;
        uint32_t index; /* function index (REF_FUNC) or global index (GLOBAL) */
    } of;
} wasm_constexpr;

/* ---- index-space entries ---- */

/* A run of locals of one type, as the code section declares them. */
typedef struct wasm_localgroup {
    uint32_t count;    /* locals in this run, > 0 */
    uint32_t first;    /* local index of the run's first local: params are counted, so the
                        * first run starts at the function type's param_count */
    wasm_valtype type; /* their type */
} wasm_localgroup;

typedef struct wasm_funcdef {
    uint32_t type_index;   /* into types */
    uint32_t import_index; /* into imports when imported, else UINT32_MAX */
    /* The rest is for functions defined here (zero for imports). */
    uint32_t body_start;        /* offset of the body (after its size field): the locals vector */
    uint32_t code_start;        /* offset of the first instruction (after the locals) */
    uint32_t code_end;          /* offset one past the body's final `end` (0x0B) */
    uint32_t local_count;       /* declared locals, params excluded; <= WASM_FUNC_LOCALS_MAX */
    uint32_t local_group_count; /* entries in local_groups */
    wasm_localgroup *local_groups; /* runs in declaration order (params not included) */
    uint32_t max_stack;            /* validator: most operand values live at once in the body */
    uint32_t max_depth;   /* validator: most control frames at once, incl. the body's own */
    uint32_t type_offset; /* module offset of its type index (function section or import) */
} wasm_funcdef;

typedef struct wasm_tabledef {
    wasm_tabletype type;   /* reference type and limits */
    uint32_t import_index; /* into imports when imported, else UINT32_MAX */
    uint32_t offset;       /* module offset of its table type (diagnostics) */
} wasm_tabledef;

typedef struct wasm_memdef {
    wasm_lim lim;          /* in 64 KiB pages; min, max <= 65536 */
    uint32_t import_index; /* into imports when imported, else UINT32_MAX */
    uint32_t offset;       /* module offset of its limits (diagnostics) */
} wasm_memdef;

typedef struct wasm_globaldef {
    wasm_globaltype type;  /* value type and mutability */
    uint32_t import_index; /* into imports when imported, else UINT32_MAX */
    wasm_constexpr init;   /* initial value (defined globals only) */
} wasm_globaldef;

typedef struct wasm_importdef {
    const char *module;    /* NUL-terminated, valid UTF-8 */
    uint32_t module_len;   /* bytes, without the NUL */
    const char *name;      /* NUL-terminated, valid UTF-8 */
    uint32_t name_len;     /* bytes, without the NUL */
    wasm_extern_kind kind; /* which union member holds */
    union {
        uint32_t type_index;    /* FUNC: into types */
        wasm_tabletype table;   /* TABLE */
        wasm_lim memory;        /* MEMORY: in pages */
        wasm_globaltype global; /* GLOBAL */
    } of;
    uint32_t index;  /* index in the kind's index space (funcs, tables, ...) */
    uint32_t offset; /* module offset of its description (after the names) */
} wasm_importdef;

typedef struct wasm_exportdef {
    const char *name;      /* NUL-terminated, valid UTF-8, unique in the module */
    uint32_t name_len;     /* bytes, without the NUL */
    wasm_extern_kind kind; /* which index space */
    uint32_t index;        /* into funcs / tables / memories / globals */
    uint32_t offset;       /* module offset of the entry (diagnostics) */
} wasm_exportdef;

typedef enum wasm_segmode {
    WASM_SEG_ACTIVE = 0,  /* copied at instantiation, then dropped */
    WASM_SEG_PASSIVE,     /* kept for memory.init / table.init until dropped */
    WASM_SEG_DECLARATIVE, /* elem only: declares ref.func targets; dropped at once */
} wasm_segmode;

typedef struct wasm_elemdef {
    uint8_t mode;          /* wasm_segmode */
    wasm_valtype type;     /* WASM_FUNCREF or WASM_EXTERNREF */
    uint32_t table_index;  /* ACTIVE only */
    wasm_constexpr offset; /* ACTIVE only: an i32 expression */
    uint32_t item_count;   /* entries in items */
    /* Every item as an expression of `type`, whatever the binary form: the
     * function-index forms become WASM_CONST_REF_FUNC entries. */
    wasm_constexpr *items;
} wasm_elemdef;

typedef struct wasm_datadef {
    uint8_t mode;          /* WASM_SEG_ACTIVE or WASM_SEG_PASSIVE */
    uint32_t memory_index; /* ACTIVE only: always 0 */
    wasm_constexpr offset; /* ACTIVE only: an i32 expression */
    uint32_t data_start;   /* offset of the bytes in the module's bytes */
    uint32_t data_len;     /* their length */
} wasm_datadef;

/* ---- the module ---- */

typedef struct wasm_arena wasm_arena; /* module.c: bump allocator for everything below */

struct wasm_module {
    uint8_t *bytes;    /* owns: a copy of the binary */
    uint32_t size;     /* its length */
    wasm_arena *arena; /* owns every array and string below */

    uint32_t type_count;
    wasm_functype *types; /* params/results point into the arena */

    uint32_t import_count;
    wasm_importdef *imports;

    uint32_t func_count; /* imported + defined */
    uint32_t func_import_count;
    wasm_funcdef *funcs;

    uint32_t table_count;
    uint32_t table_import_count;
    wasm_tabledef *tables;

    uint32_t memory_count; /* 0 or 1 */
    uint32_t memory_import_count;
    wasm_memdef *memories;

    uint32_t global_count;
    uint32_t global_import_count;
    wasm_globaldef *globals;

    uint32_t export_count;
    wasm_exportdef *exports;

    bool has_start;
    uint32_t start; /* function index, type [] -> [] */

    uint32_t elem_count;
    wasm_elemdef *elems;

    uint32_t data_count; /* entries of datas */
    wasm_datadef *datas;
    bool has_datacount;    /* a data count section was present (equals data_count) */
    uint32_t start_offset; /* module offset of the start section's index (diagnostics) */
};

/* Type of local i of defined function f (params first), or 0 if out of range. */
wasm_valtype wasm__local_type(const wasm_module *m, const wasm_funcdef *f, uint32_t i);

/* ---- reading instructions (decode.c) ---- */

/* Block type kinds, in wasm_instr.a for block/loop/if. */
enum {
    WASM_BLOCK_EMPTY = 0, /* [] -> [] */
    WASM_BLOCK_VAL = 1,   /* [] -> [type] */
    WASM_BLOCK_INDEX = 2, /* types[b]; b may be out of range until validated */
};

/* One decoded instruction with its immediates. Which fields hold what:
 *   BLOCKTYPE       a = WASM_BLOCK_*, type (VAL) or b (INDEX)
 *   LABEL FUNC LOCAL GLOBAL TABLE DATA ELEM   a = the index
 *   BRTABLE         a = label count, labels = their LEB128s (re-read with
 *                   wasm__u32), b = default label
 *   CALL_INDIRECT   a = type index, b = table index
 *   MEM8..MEM64     a = align (log2), b = offset
 *   I32 I64         s = the value, sign-extended
 *   F32 F64         bits = the IEEE bits
 *   REFTYPE         type
 *   SELECT_T        a = number of types, type = the first (when a >= 1)
 *   MEMORY_INIT     a = data index
 *   TABLE_INIT      a = element index, b = table index
 *   TABLE_COPY      a = destination table, b = source table */
typedef struct wasm_instr {
    uint16_t op;           /* wasm_op */
    uint32_t offset;       /* module offset of the opcode's first byte */
    uint32_t a;            /* first immediate, see above */
    uint32_t b;            /* second immediate */
    int64_t s;             /* integer constant */
    uint64_t bits;         /* float constant bits */
    wasm_valtype type;     /* value or reference type immediate */
    const uint8_t *labels; /* br_table label vector */
} wasm_instr;

/* Reads one instruction at r (whose start is the module's first byte, so offsets
 * are module offsets). On malformed bytes returns SL_EPROTO with the suite's text in
 * *why and the failing byte's offset in *why_offset. Code from a module that
 * wasm_module_new() accepted never fails. */
int wasm__instr_read(rd *r, wasm_instr *in, const char **why, uint32_t *why_offset);

/* ---- internal entry points (module.c calls them in this order) ---- */

/* Validation state (validate.c). The decoder drives body validation while it walks
 * each body, so code is read once; module-level checks run afterwards. */
typedef struct wasm_vctx wasm_vctx;
int wasm__vctx_new(wasm_module *m, wasm_vctx **out); /* -ENOMEM */
void wasm__vctx_free(wasm_vctx *vc);                 /* NULL is a no-op */
/* At the code section: data_count = the data count section's value (0 if none). */
int wasm__vctx_code_begin(wasm_vctx *vc, uint32_t data_count);
/* Around each defined function's body, and for each of its instructions in order
 * (including every else and end). Only -ENOMEM is returned; a validation failure
 * is kept for wasm__validate(), which reports it in the reference order. */
int wasm__vctx_body_begin(wasm_vctx *vc, uint32_t func_index);
int wasm__vctx_body_instr(wasm_vctx *vc, const wasm_instr *in);
/* The same for a row with no immediate and a fixed signature (most numeric ops):
 * the decoder skips reading it into a wasm_instr. */
int wasm__vctx_body_simple(wasm_vctx *vc, const wasm_opinfo *info, uint32_t offset);
void wasm__vctx_body_end(wasm_vctx *vc);

/* Zeroed memory from the module's arena, or NULL when out of memory. */
void *wasm__alloc(wasm_module *m, size_t bytes);
/* Decodes m->bytes into m and checks bodies through vc (SL_EPROTO: malformed;
 * SL_ELIMIT; -ENOMEM). */
int wasm__decode(wasm_module *m, wasm_vctx *vc, wasm_diag *d);
/* The remaining validation in the reference order (SL_EINVAL: invalid; -ENOMEM). */
int wasm__validate(wasm_module *m, wasm_vctx *vc, wasm_diag *d);

#endif
