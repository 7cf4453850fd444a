/* wasm.h - a sandboxed WebAssembly 2.0 (no SIMD) interpreter. Knows nothing of Slung.
 *
 * Life cycle: wasm_module_new() decodes and fully validates bytes (never runs an
 * invalid module); a wasm_store holds runtime objects (instances, memories, tables,
 * globals, host functions) under one set of limits; wasm_instantiate() links a
 * module against imports given in the module's import order; wasm_func_call()
 * runs a function and returns a trap as an error with the reason.
 *
 * Sandbox: every memory and table access is bounds-checked; guest code can reach
 * only its store's objects. Limits (memory pages, call depth, value stack) are
 * enforced per store, and wasm_store_interrupt() from any thread stops running
 * guest code at the next loop back-edge or call (trap "interrupted").
 *
 * Threads: a module is immutable once made and may be shared by any threads. A
 * store and everything in it is used by one thread at a time, except
 * wasm_store_interrupt(). Host functions may call back into the same store
 * (wasm_func_call re-enters), e.g. to call the guest's `allocate`.
 *
 * Errors: functions return 0 or a negative code (base/err.h) and fill a wasm_diag:
 *   SL_EPROTO  malformed binary (decode), d->offset = byte offset in the module
 *   SL_EINVAL  invalid module (validation), d->offset = byte offset of the instruction
 *   SL_ENOTFOUND / SL_EINVAL  unlinkable import (d->msg "unknown import" /
 *              "incompatible import type", the spec suite's wording)
 *   SL_ETRAP   a trap; d->msg is the spec suite's text ("integer divide by zero",
 *              "out of bounds memory access", "call stack exhausted", ...) and
 *              d->func_index / d->offset say where
 *   SL_ELIMIT  a store limit was hit at instantiation (memory too large)
 *   -ENOMEM    host allocation failure; the store stays usable */
#ifndef SL_WASM_H
#define SL_WASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wasm_module wasm_module;
typedef struct wasm_store wasm_store;
typedef struct wasm_instance wasm_instance;
typedef struct wasm_func wasm_func;
typedef struct wasm_memory wasm_memory;
typedef struct wasm_table wasm_table;
typedef struct wasm_global wasm_global;

typedef enum wasm_valtype {
    WASM_I32 = 0x7f,
    WASM_I64 = 0x7e,
    WASM_F32 = 0x7d,
    WASM_F64 = 0x7c,
    WASM_FUNCREF = 0x70,
    WASM_EXTERNREF = 0x6f,
} wasm_valtype;

/* Floats travel as bits so NaN payloads survive exactly. A null reference is
 * ref == NULL; a funcref is a wasm_func *; an externref is whatever the host put
 * there (non-NULL). */
typedef struct wasm_val {
    wasm_valtype type;
    union {
        uint32_t i32;
        uint64_t i64;
        uint32_t f32_bits;
        uint64_t f64_bits;
        void *ref;
    } of;
} wasm_val;

typedef struct wasm_functype {
    uint32_t param_count;
    uint32_t result_count;
    const wasm_valtype *params;  /* borrowed: valid as long as its owner */
    const wasm_valtype *results;
} wasm_functype;

typedef enum wasm_extern_kind {
    WASM_EXTERN_FUNC = 0,
    WASM_EXTERN_TABLE = 1,
    WASM_EXTERN_MEMORY = 2,
    WASM_EXTERN_GLOBAL = 3,
} wasm_extern_kind;

typedef struct wasm_extern {
    wasm_extern_kind kind;
    union {
        wasm_func *func;
        wasm_table *table;
        wasm_memory *memory;
        wasm_global *global;
    } of;
} wasm_extern;

typedef struct wasm_diag {
    int rc;              /* the status returned alongside */
    uint32_t offset;     /* byte offset in the module (load) or code offset in the function (trap) */
    uint32_t func_index; /* function of a trap or validation error; UINT32_MAX if none */
    char msg[200];       /* what was wrong, in the spec test suite's words where it has them */
} wasm_diag;

/* Defaults and ceilings of wasm_limits (a larger value is clamped to the ceiling).
 * Memory pages bound each linear memory (64 KiB each; 65536 is the 4 GiB wasm32 space);
 * table elements bound each table; call depth bounds nested calls, including host
 * re-entry; value slots (8 bytes) bound the locals and operand stacks of all frames. */
#define WASM_MEMORY_PAGES_MAX_DEFAULT 1024u
#define WASM_MEMORY_PAGES_MAX_CEILING 65536u
#define WASM_TABLE_ELEMS_MAX_DEFAULT (1u << 20)
#define WASM_TABLE_ELEMS_MAX_CEILING (1u << 26)
#define WASM_CALL_DEPTH_MAX_DEFAULT 10000u
#define WASM_CALL_DEPTH_MAX_CEILING 1000000u
#define WASM_VALUE_STACK_MAX_DEFAULT (1u << 20)
#define WASM_VALUE_STACK_MAX_CEILING (1u << 26)

/* Per-store limits; 0 in a field means its default. */
typedef struct wasm_limits {
    uint32_t memory_pages_max; /* 64 KiB pages per memory; default 1024 (64 MiB), ceiling 65536 */
    uint32_t table_elems_max;  /* elements per table; default 1 M */
    uint32_t call_depth_max;   /* nested calls; default 10000 -> trap "call stack exhausted" */
    uint32_t value_stack_max;  /* value slots across all frames; default 1 M -> same trap */
} wasm_limits;

/* ---- modules ---- */

int wasm_module_new(const uint8_t *bytes, size_t n, wasm_module **out, wasm_diag *d);
void wasm_module_free(wasm_module *m); /* after every instance made from it is gone */

typedef struct wasm_import_info {
    const char *module; /* NUL-terminated, borrowed from the module */
    const char *name;
    wasm_extern_kind kind;
    wasm_functype func; /* for WASM_EXTERN_FUNC */
} wasm_import_info;

size_t wasm_module_import_count(const wasm_module *m);
void wasm_module_import(const wasm_module *m, size_t i, wasm_import_info *out);
size_t wasm_module_export_count(const wasm_module *m);
/* Name and kind of export i (name borrowed from the module). */
void wasm_module_export(const wasm_module *m, size_t i, const char **name, wasm_extern_kind *kind);

/* ---- stores and host objects ---- */

int wasm_store_new(const wasm_limits *limits, wasm_store **out);
void wasm_store_free(wasm_store *s); /* frees every object in it; NULL ok */
void wasm_store_interrupt(wasm_store *s);       /* any thread; sticky until cleared */
void wasm_store_clear_interrupt(wasm_store *s); /* store's thread */

/* A host function. Return NULL on success or a trap message (static or owned by
 * env, read before the next call) to trap the caller. results has
 * type->result_count slots to fill. caller is the instance whose code called. */
typedef const char *(*wasm_host_fn)(wasm_instance *caller, void *env, const wasm_val *args,
                                    wasm_val *results);
wasm_func *wasm_func_new_host(wasm_store *s, const wasm_functype *type, wasm_host_fn fn, void *env);
wasm_memory *wasm_memory_new(wasm_store *s, uint32_t min_pages, uint32_t max_pages /* UINT32_MAX: none */);
wasm_table *wasm_table_new(wasm_store *s, wasm_valtype elem, uint32_t min, uint32_t max /* UINT32_MAX: none */);
wasm_global *wasm_global_new(wasm_store *s, wasm_val init, bool mutable_);

/* ---- instances ---- */

/* imports[i] satisfies the module's import i (wasm_module_import order).
 * Runs data/elem initialisation and the start function (a trap there is SL_ETRAP,
 * with the 2.0 semantics of what stays initialised). */
int wasm_instantiate(wasm_store *s, const wasm_module *m, const wasm_extern *imports,
                     size_t import_count, wasm_instance **out, wasm_diag *d);
int wasm_instance_export(wasm_instance *inst, const char *name, wasm_extern *out); /* SL_ENOTFOUND */
/* The same for a name of name_len bytes that may contain U+0000. */
int wasm_instance_export_n(wasm_instance *inst, const char *name, size_t name_len, wasm_extern *out);
/* The instance's memory 0 or NULL. */
wasm_memory *wasm_instance_memory(wasm_instance *inst);

/* ---- running ---- */

void wasm_func_type(const wasm_func *f, wasm_functype *out);
/* Calls f. args must match its params (count and types, else SL_EINVAL); results
 * receives result_count values. */
int wasm_func_call(wasm_store *s, wasm_func *f, const wasm_val *args, size_t nargs,
                   wasm_val *results, size_t nresults, wasm_diag *d);

/* ---- memory, tables, globals ---- */

/* A view of the bytes; invalidated by any grow (including guest memory.grow). */
uint8_t *wasm_memory_data(wasm_memory *mem, uint64_t *bytes_out);
uint32_t wasm_memory_pages(const wasm_memory *mem);
/* Bounds-checked copies; SL_EINVAL if [offset, offset+n) is outside memory. */
int wasm_memory_read(wasm_memory *mem, uint64_t offset, void *dst, size_t n);
int wasm_memory_write(wasm_memory *mem, uint64_t offset, const void *src, size_t n);

wasm_val wasm_global_get(const wasm_global *g);
uint32_t wasm_table_size(const wasm_table *t);
int wasm_table_get(const wasm_table *t, uint32_t i, wasm_val *out);

#endif
