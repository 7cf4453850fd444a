/* instance.c - wasm_instantiate(): link imports, make the module's own objects, compile
 * its functions, run element and data initialisation and the start function.
 *
 * Order (WebAssembly 2.0, 4.5.4 instantiation): imports are checked first (nothing is
 * made if one does not match); then functions, tables, memories and globals are made;
 * then active element segments are applied in order, then active data segments, each
 * bounds-checked as a whole before it is copied: the first out-of-range segment traps
 * and the writes of earlier segments stay (they may be visible through imported
 * tables/memories); then the start function runs.
 *
 * Invariants: (1) an instance's arrays follow the module's index spaces (imports first);
 * (2) every object it makes is adopted by the store at once, so a failure part-way
 * leaks nothing (the store frees it); (3) passive segments keep their contents until
 * dropped; active and declarative ones are dropped once instantiation has used them.
 * Threads: the store's thread. See compile.c for code, store.c for objects. */
#include <string.h>

#include "wasm/module_internal.h"
#include "wasm/runtime_internal.h"

static int fail(wasm_diag *d, int rc, const char *msg) {
    if (d) {
        d->rc = rc;
        d->offset = 0;
        d->func_index = UINT32_MAX;
        snprintf(d->msg, sizeof d->msg, "%s", msg);
    }
    return rc;
}

/* Declared limits (min, max) accept an object now of size n with maximum mx
 * (UINT32_MAX: none): import subtyping of 2.0 (3.3 limits). */
static bool limits_match(uint32_t n, uint32_t mx, const wasm_lim *want) {
    if (n < want->min) return false;
    if (!want->has_max) return true;
    return mx != UINT32_MAX && mx <= want->max;
}

static uint64_t const_eval(const wasm_instance *inst, const wasm_constexpr *e) {
    switch (e->kind) {
    case WASM_CONST_I32:
        return e->of.i32;
    case WASM_CONST_I64:
        return e->of.i64;
    case WASM_CONST_F32:
        return e->of.f32_bits;
    case WASM_CONST_F64:
        return e->of.f64_bits;
    case WASM_CONST_REF_NULL:
        return 0;
    case WASM_CONST_REF_FUNC:
        return (uint64_t)(uintptr_t)inst->funcs[e->of.index];
    case WASM_CONST_GLOBAL:
        return inst->globals[e->of.index]->value;
    default:
        SL_ASSERT(0);
        return 0;
    }
}

static int check_imports(wasm_store *s, const wasm_module *m, const wasm_extern *imports,
                         wasm_diag *d) {
    for (uint32_t i = 0; i < m->import_count; i++) {
        const wasm_importdef *im = &m->imports[i];
        const wasm_extern *ex = &imports[i];
        if (ex->kind != im->kind) return fail(d, SL_EINVAL, "incompatible import type");
        switch (im->kind) {
        case WASM_EXTERN_FUNC: {
            const wasm_functype *ft = &m->types[im->of.type_index];
            uint32_t id;
            if (!ex->of.func || ex->of.func->store != s)
                return fail(d, SL_EINVAL, "incompatible import type");
            if (wasm__type_intern(s, ft->params, ft->param_count, ft->results, ft->result_count,
                                  &id) < 0)
                return fail(d, -ENOMEM, "out of memory");
            if (id != ex->of.func->type_id) return fail(d, SL_EINVAL, "incompatible import type");
            break;
        }
        case WASM_EXTERN_TABLE: {
            const wasm_table *t = ex->of.table;
            if (!t || t->store != s || t->elem != im->of.table.elem ||
                !limits_match(t->size, t->max, &im->of.table.lim))
                return fail(d, SL_EINVAL, "incompatible import type");
            break;
        }
        case WASM_EXTERN_MEMORY: {
            const wasm_memory *mem = ex->of.memory;
            if (!mem || mem->store != s || !limits_match(mem->pages, mem->max_pages, &im->of.memory))
                return fail(d, SL_EINVAL, "incompatible import type");
            break;
        }
        case WASM_EXTERN_GLOBAL: {
            const wasm_global *g = ex->of.global;
            if (!g || g->store != s || g->type != im->of.global.type ||
                g->mutable_ != im->of.global.mutable_)
                return fail(d, SL_EINVAL, "incompatible import type");
            break;
        }
        }
    }
    return 0;
}

/* Makes the instance's objects and arrays (no code yet). */
static int make_objects(wasm_store *s, wasm_instance *inst, const wasm_extern *imports,
                        wasm_diag *d) {
    const wasm_module *m = inst->module;
    inst->type_ids = mem_calloc(MEM_WASM, m->type_count + 1, sizeof(uint32_t));
    inst->funcs = mem_calloc(MEM_WASM, m->func_count + 1, sizeof(wasm_func *));
    inst->tables = mem_calloc(MEM_WASM, m->table_count + 1, sizeof(wasm_table *));
    inst->memories = mem_calloc(MEM_WASM, m->memory_count + 1, sizeof(wasm_memory *));
    inst->globals = mem_calloc(MEM_WASM, m->global_count + 1, sizeof(wasm_global *));
    inst->elems = mem_calloc(MEM_WASM, m->elem_count + 1, sizeof(wasm__elem));
    inst->datas = mem_calloc(MEM_WASM, m->data_count + 1, sizeof(wasm__data));
    if (!inst->type_ids || !inst->funcs || !inst->tables || !inst->memories || !inst->globals ||
        !inst->elems || !inst->datas)
        return fail(d, -ENOMEM, "out of memory");
    inst->type_count = m->type_count;
    for (uint32_t i = 0; i < m->type_count; i++) {
        const wasm_functype *ft = &m->types[i];
        if (wasm__type_intern(s, ft->params, ft->param_count, ft->results, ft->result_count,
                              &inst->type_ids[i]) < 0)
            return fail(d, -ENOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < m->func_count; i++) {
        const wasm_funcdef *fd = &m->funcs[i];
        if (fd->import_index != UINT32_MAX) {
            inst->funcs[i] = imports[fd->import_index].of.func;
            continue;
        }
        wasm_func *f = mem_calloc(MEM_WASM, 1, sizeof(*f));
        if (!f) return fail(d, -ENOMEM, "out of memory");
        if (wasm__store_adopt(s, f, WASM__OBJ_FUNC) < 0) {
            mem_free(MEM_WASM, f);
            return fail(d, -ENOMEM, "out of memory");
        }
        f->store = s;
        f->type_id = inst->type_ids[fd->type_index];
        f->inst = inst;
        f->index = i;
        f->param_count = m->types[fd->type_index].param_count;
        f->result_count = m->types[fd->type_index].result_count;
        f->local_count = fd->local_count;
        f->body_offset = fd->body_start;
        inst->funcs[i] = f;
    }
    inst->func_count = m->func_count;
    for (uint32_t i = 0; i < m->table_count; i++) {
        const wasm_tabledef *td = &m->tables[i];
        if (td->import_index != UINT32_MAX) {
            inst->tables[i] = imports[td->import_index].of.table;
            continue;
        }
        inst->tables[i] = wasm__table_make(s, td->type.elem, td->type.lim.min,
                                           td->type.lim.has_max ? td->type.lim.max : UINT32_MAX);
        if (!inst->tables[i]) {
            if (td->type.lim.min > s->limits.table_elems_max)
                return fail(d, SL_ELIMIT, "table size exceeds the store's table_elems_max");
            return fail(d, -ENOMEM, "out of memory");
        }
    }
    inst->table_count = m->table_count;
    for (uint32_t i = 0; i < m->memory_count; i++) {
        const wasm_memdef *md = &m->memories[i];
        if (md->import_index != UINT32_MAX) {
            inst->memories[i] = imports[md->import_index].of.memory;
            continue;
        }
        inst->memories[i] =
            wasm__memory_make(s, md->lim.min, md->lim.has_max ? md->lim.max : UINT32_MAX);
        if (!inst->memories[i]) {
            if (md->lim.min > s->limits.memory_pages_max)
                return fail(d, SL_ELIMIT, "memory size exceeds the store's memory_pages_max");
            return fail(d, -ENOMEM, "out of memory");
        }
    }
    inst->memory_count = m->memory_count;
    for (uint32_t i = 0; i < m->global_count; i++) {
        const wasm_globaldef *gd = &m->globals[i];
        if (gd->import_index != UINT32_MAX) {
            inst->globals[i] = imports[gd->import_index].of.global;
            continue;
        }
        wasm_global *g = mem_calloc(MEM_WASM, 1, sizeof(*g));
        if (!g) return fail(d, -ENOMEM, "out of memory");
        if (wasm__store_adopt(s, g, WASM__OBJ_GLOBAL) < 0) {
            mem_free(MEM_WASM, g);
            return fail(d, -ENOMEM, "out of memory");
        }
        g->store = s;
        g->type = gd->type.type;
        g->mutable_ = gd->type.mutable_;
        /* Only imported globals (already set) may be read: validated. */
        g->value = const_eval(inst, &gd->init);
        inst->globals[i] = g;
        inst->global_count = i + 1;
    }
    inst->global_count = m->global_count;
    for (uint32_t i = 0; i < m->elem_count; i++) {
        const wasm_elemdef *ed = &m->elems[i];
        wasm__elem *e = &inst->elems[i];
        if (ed->item_count) {
            e->refs = mem_calloc(MEM_WASM, ed->item_count, sizeof(void *));
            if (!e->refs) return fail(d, -ENOMEM, "out of memory");
        }
        for (uint32_t k = 0; k < ed->item_count; k++)
            e->refs[k] = (void *)(uintptr_t)const_eval(inst, &ed->items[k]);
        e->count = ed->item_count;
        inst->elem_count = i + 1;
    }
    inst->elem_count = m->elem_count;
    for (uint32_t i = 0; i < m->data_count; i++) {
        inst->datas[i].bytes = m->bytes + m->datas[i].data_start;
        inst->datas[i].len = m->datas[i].data_len;
    }
    inst->data_count = m->data_count;
    return 0;
}

/* Active segments in order, then start; a trap leaves earlier writes in place. */
static int initialise(wasm_store *s, wasm_instance *inst, wasm_diag *d) {
    const wasm_module *m = inst->module;
    for (uint32_t i = 0; i < m->elem_count; i++) {
        const wasm_elemdef *ed = &m->elems[i];
        wasm__elem *e = &inst->elems[i];
        if (ed->mode == WASM_SEG_ACTIVE) {
            wasm_table *t = inst->tables[ed->table_index];
            uint32_t off = (uint32_t)const_eval(inst, &ed->offset);
            if ((uint64_t)off + e->count > t->size) {
                wasm__trap_diag(d, "out of bounds table access", UINT32_MAX, 0);
                return SL_ETRAP;
            }
            if (e->count) memcpy(t->elems + off, e->refs, e->count * sizeof(void *));
        }
        if (ed->mode != WASM_SEG_PASSIVE) e->count = 0;
    }
    for (uint32_t i = 0; i < m->data_count; i++) {
        const wasm_datadef *dd = &m->datas[i];
        wasm__data *seg = &inst->datas[i];
        if (dd->mode != WASM_SEG_ACTIVE) continue;
        wasm_memory *mem = inst->memories[0];
        uint32_t off = (uint32_t)const_eval(inst, &dd->offset);
        if ((uint64_t)off + seg->len > mem->bytes) {
            wasm__trap_diag(d, "out of bounds memory access", UINT32_MAX, 0);
            return SL_ETRAP;
        }
        if (seg->len) memcpy(mem->data + off, seg->bytes, seg->len);
        seg->len = 0;
    }
    if (m->has_start) {
        wasm_func *f = inst->funcs[m->start];
        return wasm_func_call(s, f, NULL, 0, NULL, 0, d);
    }
    return 0;
}

int wasm_instantiate(wasm_store *s, const wasm_module *m, const wasm_extern *imports,
                     size_t import_count, wasm_instance **out, wasm_diag *d) {
    wasm_instance *inst;
    int rc;
    *out = NULL;
    if (d) {
        memset(d, 0, sizeof(*d));
        d->func_index = UINT32_MAX;
    }
    if (import_count != m->import_count)
        return fail(d, SL_EINVAL, "wrong number of imports");
    if ((rc = check_imports(s, m, imports, d)) < 0) return rc;
    inst = mem_calloc(MEM_WASM, 1, sizeof(*inst));
    if (!inst) return fail(d, -ENOMEM, "out of memory");
    if (wasm__store_adopt(s, inst, WASM__OBJ_INSTANCE) < 0) {
        mem_free(MEM_WASM, inst);
        return fail(d, -ENOMEM, "out of memory");
    }
    inst->store = s;
    inst->module = m;
    if ((rc = make_objects(s, inst, imports, d)) < 0) return rc;
    for (uint32_t i = m->func_import_count; i < m->func_count; i++) {
        if ((rc = wasm__compile(inst, inst->funcs[i], d)) < 0) return rc;
    }
    if ((rc = initialise(s, inst, d)) < 0) return rc;
    *out = inst;
    return 0;
}

int wasm_instance_export(wasm_instance *inst, const char *name, wasm_extern *out) {
    return wasm_instance_export_n(inst, name, strlen(name), out);
}

int wasm_instance_export_n(wasm_instance *inst, const char *name, size_t name_len, wasm_extern *out) {
    const wasm_module *m = inst->module;
    for (uint32_t i = 0; i < m->export_count; i++) {
        const wasm_exportdef *e = &m->exports[i];
        if (e->name_len != name_len || memcmp(e->name, name, name_len) != 0) continue;
        out->kind = e->kind;
        switch (e->kind) {
        case WASM_EXTERN_FUNC:
            out->of.func = inst->funcs[e->index];
            break;
        case WASM_EXTERN_TABLE:
            out->of.table = inst->tables[e->index];
            break;
        case WASM_EXTERN_MEMORY:
            out->of.memory = inst->memories[e->index];
            break;
        case WASM_EXTERN_GLOBAL:
            out->of.global = inst->globals[e->index];
            break;
        }
        return 0;
    }
    return SL_ENOTFOUND;
}

wasm_memory *wasm_instance_memory(wasm_instance *inst) {
    return inst->memory_count ? inst->memories[0] : NULL;
}
