/* store.c - the store: limits, interrupt flag, value stack, interned function types, and
 * the host-made objects (functions, memories, tables, globals) with their accessors.
 *
 * Invariants: (1) every object made in a store is in store->objects exactly once and is
 * freed by wasm_store_free() only; (2) a memory's bytes == pages * 64 KiB and pages never
 * exceeds min(max_pages, limits.memory_pages_max); likewise a table's size never exceeds
 * min(max, limits.table_elems_max); (3) equal function types have equal type ids.
 * Threads: the store's thread, except wasm_store_interrupt() (an atomic store).
 * See instance.c for instantiation, exec.c for running code. */
#include <string.h>

#include "wasm/runtime_internal.h"

static uint32_t limit_or(uint32_t v, uint32_t def, uint32_t ceiling) {
    if (v == 0) return def;
    return v > ceiling ? ceiling : v;
}

int wasm_store_new(const wasm_limits *limits, wasm_store **out) {
    wasm_store *s;
    *out = NULL;
    s = mem_calloc(MEM_WASM, 1, sizeof(*s));
    if (!s) return -ENOMEM;
    wasm_limits l = {0};
    if (limits) l = *limits;
    s->limits.memory_pages_max =
        limit_or(l.memory_pages_max, WASM_MEMORY_PAGES_MAX_DEFAULT, WASM_MEMORY_PAGES_MAX_CEILING);
    s->limits.table_elems_max =
        limit_or(l.table_elems_max, WASM_TABLE_ELEMS_MAX_DEFAULT, WASM_TABLE_ELEMS_MAX_CEILING);
    s->limits.call_depth_max =
        limit_or(l.call_depth_max, WASM_CALL_DEPTH_MAX_DEFAULT, WASM_CALL_DEPTH_MAX_CEILING);
    s->limits.value_stack_max =
        limit_or(l.value_stack_max, WASM_VALUE_STACK_MAX_DEFAULT, WASM_VALUE_STACK_MAX_CEILING);
    atomic_init(&s->interrupt, 0);
    *out = s;
    return 0;
}

int wasm__stack_ensure(wasm_store *s) {
    if (s->stack) return 0;
    s->stack = mem_calloc(MEM_WASM, s->limits.value_stack_max, sizeof(uint64_t));
    s->frames = mem_calloc(MEM_WASM, (size_t)s->limits.call_depth_max + 1, sizeof(wasm__frame));
    if (!s->stack || !s->frames) {
        mem_free(MEM_WASM, s->stack);
        mem_free(MEM_WASM, s->frames);
        s->stack = NULL;
        s->frames = NULL;
        return -ENOMEM;
    }
    s->stack_end = s->stack + s->limits.value_stack_max;
    s->sp = s->stack - 1;
    s->depth = 0;
    return 0;
}

static void obj_free(void *tagged) {
    int kind = (int)((uintptr_t)tagged & 7);
    void *p = (void *)((uintptr_t)tagged & ~(uintptr_t)7);
    switch (kind) {
    case WASM__OBJ_FUNC: {
        wasm_func *f = p;
        mem_free(MEM_WASM, f->code);
        mem_free(MEM_WASM, f->offsets);
        break;
    }
    case WASM__OBJ_MEMORY:
        mem_free(MEM_WASM, ((wasm_memory *)p)->data);
        break;
    case WASM__OBJ_TABLE:
        mem_free(MEM_WASM, ((wasm_table *)p)->elems);
        break;
    case WASM__OBJ_GLOBAL:
        break;
    case WASM__OBJ_INSTANCE: {
        wasm_instance *in = p;
        mem_free(MEM_WASM, in->funcs);
        mem_free(MEM_WASM, in->tables);
        mem_free(MEM_WASM, in->memories);
        mem_free(MEM_WASM, in->globals);
        for (uint32_t i = 0; i < in->elem_count; i++) mem_free(MEM_WASM, in->elems[i].refs);
        mem_free(MEM_WASM, in->elems);
        mem_free(MEM_WASM, in->datas);
        mem_free(MEM_WASM, in->type_ids);
        break;
    }
    default:
        SL_ASSERT(0);
    }
    mem_free(MEM_WASM, p);
}

void wasm_store_free(wasm_store *s) {
    if (!s) return;
    for (size_t i = 0; i < s->object_count; i++) obj_free(s->objects[i]);
    for (uint32_t i = 0; i < s->type_count; i++) mem_free(MEM_WASM, s->types[i].params);
    mem_free(MEM_WASM, s->objects);
    mem_free(MEM_WASM, s->types);
    mem_free(MEM_WASM, s->stack);
    mem_free(MEM_WASM, s->frames);
    mem_free(MEM_WASM, s);
}

void wasm_store_interrupt(wasm_store *s) { atomic_store_explicit(&s->interrupt, 1, memory_order_relaxed); }

void wasm_store_clear_interrupt(wasm_store *s) {
    atomic_store_explicit(&s->interrupt, 0, memory_order_relaxed);
}

int wasm__store_adopt(wasm_store *s, void *obj, int kind) {
    SL_ASSERT(((uintptr_t)obj & 7) == 0);
    SL_ASSERT(kind >= 0 && kind <= WASM__OBJ_INSTANCE);
    if (s->object_count == s->object_cap) {
        size_t nc = s->object_cap ? s->object_cap * 2 : 32;
        void **p = mem_realloc(MEM_WASM, s->objects, nc * sizeof(*p));
        if (!p) return -ENOMEM;
        s->objects = p;
        s->object_cap = nc;
    }
    s->objects[s->object_count++] = (void *)((uintptr_t)obj | (uintptr_t)kind);
    return 0;
}

int wasm__type_intern(wasm_store *s, const wasm_valtype *params, uint32_t np,
                      const wasm_valtype *results, uint32_t nr, uint32_t *id_out) {
    for (uint32_t i = 0; i < s->type_count; i++) {
        const wasm__ftype *t = &s->types[i];
        if (t->param_count != np || t->result_count != nr) continue;
        if (np && memcmp(t->params, params, np * sizeof(*params)) != 0) continue;
        if (nr && memcmp(t->params + np, results, nr * sizeof(*results)) != 0) continue;
        *id_out = i;
        return 0;
    }
    if (s->type_count == s->type_cap) {
        uint32_t nc = s->type_cap ? s->type_cap * 2 : 16;
        wasm__ftype *p = mem_realloc(MEM_WASM, s->types, (size_t)nc * sizeof(*p));
        if (!p) return -ENOMEM;
        s->types = p;
        s->type_cap = nc;
    }
    wasm__ftype *t = &s->types[s->type_count];
    t->param_count = np;
    t->result_count = nr;
    t->params = mem_calloc(MEM_WASM, (size_t)np + nr + 1, sizeof(wasm_valtype));
    if (!t->params) return -ENOMEM;
    if (np) memcpy(t->params, params, np * sizeof(*params));
    if (nr) memcpy(t->params + np, results, nr * sizeof(*results));
    *id_out = s->type_count++;
    return 0;
}

wasm_func *wasm_func_new_host(wasm_store *s, const wasm_functype *type, wasm_host_fn fn, void *env) {
    wasm_func *f;
    uint32_t id;
    if (!s || !type || !fn) return NULL;
    if (wasm__type_intern(s, type->params, type->param_count, type->results, type->result_count,
                          &id) < 0)
        return NULL;
    f = mem_calloc(MEM_WASM, 1, sizeof(*f));
    if (!f) return NULL;
    f->store = s;
    f->type_id = id;
    f->is_host = true;
    f->fn = fn;
    f->env = env;
    f->index = UINT32_MAX;
    f->param_count = type->param_count;
    f->result_count = type->result_count;
    if (wasm__store_adopt(s, f, WASM__OBJ_FUNC) < 0) {
        mem_free(MEM_WASM, f);
        return NULL;
    }
    return f;
}

wasm_memory *wasm__memory_make(wasm_store *s, uint32_t min, uint32_t max) {
    wasm_memory *m;
    if (min > s->limits.memory_pages_max) return NULL;
    m = mem_calloc(MEM_WASM, 1, sizeof(*m));
    if (!m) return NULL;
    m->store = s;
    m->max_pages = max;
    if (min) {
        m->data = mem_calloc(MEM_WASM, min, WASM_PAGE_BYTES);
        if (!m->data) {
            mem_free(MEM_WASM, m);
            return NULL;
        }
    }
    m->pages = min;
    m->bytes = (uint64_t)min * WASM_PAGE_BYTES;
    if (wasm__store_adopt(s, m, WASM__OBJ_MEMORY) < 0) {
        mem_free(MEM_WASM, m->data);
        mem_free(MEM_WASM, m);
        return NULL;
    }
    return m;
}

wasm_memory *wasm_memory_new(wasm_store *s, uint32_t min_pages, uint32_t max_pages) {
    if (!s || min_pages > max_pages || min_pages > WASM_MEMORY_PAGES_MAX_CEILING) return NULL;
    return wasm__memory_make(s, min_pages, max_pages);
}

int wasm__memory_grow(wasm_memory *m, uint32_t delta, uint32_t *old_pages_out) {
    uint64_t want = (uint64_t)m->pages + delta;
    uint32_t cap = m->store->limits.memory_pages_max;
    if (m->max_pages < cap) cap = m->max_pages;
    if (want > cap) return SL_ELIMIT;
    *old_pages_out = m->pages;
    if (delta == 0) return 0;
    uint64_t nbytes = want * WASM_PAGE_BYTES;
    uint8_t *p = mem_realloc(MEM_WASM, m->data, (size_t)nbytes);
    if (!p) return -ENOMEM;
    memset(p + m->bytes, 0, (size_t)(nbytes - m->bytes));
    m->data = p;
    m->bytes = nbytes;
    m->pages = (uint32_t)want;
    return 0;
}

wasm_table *wasm__table_make(wasm_store *s, wasm_valtype elem, uint32_t min, uint32_t max) {
    wasm_table *t;
    if (min > s->limits.table_elems_max) return NULL;
    t = mem_calloc(MEM_WASM, 1, sizeof(*t));
    if (!t) return NULL;
    t->store = s;
    t->elem = elem;
    t->max = max;
    if (min) {
        t->elems = mem_calloc(MEM_WASM, min, sizeof(void *));
        if (!t->elems) {
            mem_free(MEM_WASM, t);
            return NULL;
        }
    }
    t->size = min;
    if (wasm__store_adopt(s, t, WASM__OBJ_TABLE) < 0) {
        mem_free(MEM_WASM, t->elems);
        mem_free(MEM_WASM, t);
        return NULL;
    }
    return t;
}

wasm_table *wasm_table_new(wasm_store *s, wasm_valtype elem, uint32_t min, uint32_t max) {
    if (!s || min > max || (elem != WASM_FUNCREF && elem != WASM_EXTERNREF)) return NULL;
    return wasm__table_make(s, elem, min, max);
}

int wasm__table_grow(wasm_table *t, uint32_t delta, void *init, uint32_t *old_size_out) {
    uint64_t want = (uint64_t)t->size + delta;
    uint32_t cap = t->store->limits.table_elems_max;
    if (t->max < cap) cap = t->max;
    if (want > cap) return SL_ELIMIT;
    *old_size_out = t->size;
    if (delta == 0) return 0;
    void **p = mem_realloc(MEM_WASM, t->elems, (size_t)want * sizeof(void *));
    if (!p) return -ENOMEM;
    for (uint64_t i = t->size; i < want; i++) p[i] = init;
    t->elems = p;
    t->size = (uint32_t)want;
    return 0;
}

wasm_global *wasm_global_new(wasm_store *s, wasm_val init, bool mutable_) {
    wasm_global *g;
    if (!s) return NULL;
    g = mem_calloc(MEM_WASM, 1, sizeof(*g));
    if (!g) return NULL;
    g->store = s;
    g->type = init.type;
    g->mutable_ = mutable_;
    switch (init.type) {
    case WASM_I32:
    case WASM_F32:
        g->value = init.of.i32;
        break;
    case WASM_I64:
    case WASM_F64:
        g->value = init.of.i64;
        break;
    default:
        g->value = (uint64_t)(uintptr_t)init.of.ref;
        break;
    }
    if (wasm__store_adopt(s, g, WASM__OBJ_GLOBAL) < 0) {
        mem_free(MEM_WASM, g);
        return NULL;
    }
    return g;
}

wasm_val wasm_global_get(const wasm_global *g) {
    wasm_val v;
    memset(&v, 0, sizeof(v));
    v.type = g->type;
    switch (g->type) {
    case WASM_I32:
    case WASM_F32:
        v.of.i32 = (uint32_t)g->value;
        break;
    case WASM_I64:
    case WASM_F64:
        v.of.i64 = g->value;
        break;
    default:
        v.of.ref = (void *)(uintptr_t)g->value;
        break;
    }
    return v;
}

uint8_t *wasm_memory_data(wasm_memory *mem, uint64_t *bytes_out) {
    if (bytes_out) *bytes_out = mem->bytes;
    return mem->data;
}

uint32_t wasm_memory_pages(const wasm_memory *mem) { return mem->pages; }

int wasm_memory_read(wasm_memory *mem, uint64_t offset, void *dst, size_t n) {
    if (offset > mem->bytes || n > mem->bytes - offset) return SL_EINVAL;
    if (n) memcpy(dst, mem->data + offset, n);
    return 0;
}

int wasm_memory_write(wasm_memory *mem, uint64_t offset, const void *src, size_t n) {
    if (offset > mem->bytes || n > mem->bytes - offset) return SL_EINVAL;
    if (n) memcpy(mem->data + offset, src, n);
    return 0;
}

uint32_t wasm_table_size(const wasm_table *t) { return t->size; }

int wasm_table_get(const wasm_table *t, uint32_t i, wasm_val *out) {
    if (i >= t->size) return SL_EINVAL;
    memset(out, 0, sizeof(*out));
    out->type = t->elem;
    out->of.ref = t->elems[i];
    return 0;
}
