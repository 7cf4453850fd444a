/* module.c - the module life cycle: wasm_module_new/free and the import/export views.
 *
 * wasm_module_new() copies the bytes, decodes them (decode.c), validates the result
 * (validate.c) and only then hands the module out; a failed call frees everything.
 * Invariants: (1) a module handed out is fully validated and never changes again;
 *   (2) every array and string of it sits in its arena, which wasm_module_free()
 *   releases chunk by chunk.
 * Threads: a module is immutable once made; any thread may read it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/common.h"
#include "base/err.h"
#include "base/mem.h"
#include "wasm/module_internal.h"

/* The arena: a list of chunks, bump-allocated. Most modules fit in a few chunks, so
 * decoding costs a handful of mem_alloc calls however many entries it makes. */
typedef struct arena_chunk arena_chunk;
struct arena_chunk {
    arena_chunk *next;  /* older chunk */
    size_t size;        /* usable bytes after the header */
    size_t used;        /* bytes handed out */
    max_align_t data[]; /* the bytes, maximally aligned */
};

struct wasm_arena {
    arena_chunk *head;  /* chunk being filled; older ones follow */
    size_t chunk_bytes; /* size of the next ordinary chunk; grows to bound chunk count */
};

#define ARENA_CHUNK_MIN 4096u
#define ARENA_CHUNK_MAX (1u << 20)

void *wasm__alloc(wasm_module *m, size_t bytes) {
    wasm_arena *a = m->arena;
    SL_ASSERT(a != NULL);
    size_t align = sizeof(max_align_t);
    if (bytes > SIZE_MAX - align) return NULL;
    size_t need = (bytes + align - 1) / align * align;
    arena_chunk *c = a->head;
    if (!c || c->size - c->used < need) {
        size_t size = need > a->chunk_bytes ? need : a->chunk_bytes;
        if (size > SIZE_MAX - sizeof(arena_chunk)) return NULL;
        c = mem_alloc(MEM_WASM, sizeof(arena_chunk) + size);
        if (!c) return NULL;
        c->size = size;
        c->used = 0;
        c->next = a->head;
        a->head = c;
        if (a->chunk_bytes < ARENA_CHUNK_MAX) a->chunk_bytes *= 2;
    }
    void *p = (char *)c->data + c->used;
    c->used += need;
    SL_ASSERT(c->used <= c->size);
    memset(p, 0, bytes);
    return p;
}

static void arena_free(wasm_arena *a) {
    if (!a) return;
    arena_chunk *c = a->head;
    while (c) {
        arena_chunk *next = c->next;
        mem_free(MEM_WASM, c);
        c = next;
    }
    mem_free(MEM_WASM, a);
}

static int module_fail(wasm_diag *d, int rc, const char *msg) {
    if (d) {
        d->rc = rc;
        d->offset = 0;
        d->func_index = UINT32_MAX;
        snprintf(d->msg, sizeof(d->msg), "%s", msg);
    }
    return rc;
}

int wasm_module_new(const uint8_t *bytes, size_t n, wasm_module **out, wasm_diag *d) {
    SL_ASSERT(out != NULL);
    SL_ASSERT(bytes != NULL || n == 0);
    *out = NULL;
    if (d) {
        memset(d, 0, sizeof(*d));
        d->func_index = UINT32_MAX;
    }
    if (n > WASM_MODULE_BYTES_MAX)
        return module_fail(d, SL_ELIMIT, "module larger than WASM_MODULE_BYTES_MAX (64 MiB)");
    wasm_module *m = mem_calloc(MEM_WASM, 1, sizeof(*m));
    if (!m) return module_fail(d, -ENOMEM, "out of memory");
    m->arena = mem_calloc(MEM_WASM, 1, sizeof(*m->arena));
    if (!m->arena) goto fail_nomem;
    m->arena->chunk_bytes = ARENA_CHUNK_MIN;
    if (n > 0) {
        m->bytes = mem_alloc(MEM_WASM, n);
        if (!m->bytes) goto fail_nomem;
        memcpy(m->bytes, bytes, n);
    }
    m->size = (uint32_t)n;
    wasm_vctx *vc;
    if (wasm__vctx_new(m, &vc) < 0) goto fail_nomem;
    int rc = wasm__decode(m, vc, d);
    if (rc == 0) rc = wasm__validate(m, vc, d);
    wasm__vctx_free(vc);
    if (rc < 0) {
        wasm_module_free(m);
        return rc;
    }
    *out = m;
    return 0;
fail_nomem:
    wasm_module_free(m);
    return module_fail(d, -ENOMEM, "out of memory");
}

void wasm_module_free(wasm_module *m) {
    if (!m) return;
    arena_free(m->arena);
    mem_free(MEM_WASM, m->bytes);
    mem_free(MEM_WASM, m);
}

size_t wasm_module_import_count(const wasm_module *m) {
    SL_ASSERT(m != NULL);
    return m->import_count;
}

void wasm_module_import(const wasm_module *m, size_t i, wasm_import_info *out) {
    SL_ASSERT(m != NULL);
    SL_ASSERT(i < m->import_count);
    const wasm_importdef *im = &m->imports[i];
    memset(out, 0, sizeof(*out));
    out->module = im->module;
    out->name = im->name;
    out->kind = im->kind;
    if (im->kind == WASM_EXTERN_FUNC) out->func = m->types[im->of.type_index];
}

size_t wasm_module_export_count(const wasm_module *m) {
    SL_ASSERT(m != NULL);
    return m->export_count;
}

void wasm_module_export(const wasm_module *m, size_t i, const char **name, wasm_extern_kind *kind) {
    SL_ASSERT(m != NULL);
    SL_ASSERT(i < m->export_count);
    if (name) *name = m->exports[i].name;
    if (kind) *kind = m->exports[i].kind;
}

wasm_valtype wasm__local_type(const wasm_module *m, const wasm_funcdef *f, uint32_t i) {
    const wasm_functype *ft = &m->types[f->type_index];
    if (i < ft->param_count) return ft->params[i];
    /* Binary search the runs: local_groups[k].first is increasing. */
    uint32_t lo = 0;
    uint32_t hi = f->local_group_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const wasm_localgroup *g = &f->local_groups[mid];
        if (i < g->first)
            hi = mid;
        else if (i - g->first >= g->count)
            lo = mid + 1;
        else
            return g->type;
    }
    return (wasm_valtype)0;
}
