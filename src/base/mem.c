/* mem.c - tagged allocation with per-tag counters and fault injection.
 * Invariant: mem_in_use(t) equals the sum of the sizes of live blocks tagged t.
 * The header keeps the tag too, so a free under the wrong tag is caught. */
#include "base/mem.h"
#include "base/common.h"
#include "base/fault.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct mem_hdr {
    size_t size;  /* user bytes */
    uint32_t tag; /* mem_tag */
    uint32_t magic;
} mem_hdr;
static_assert(sizeof(mem_hdr) == 16, "header keeps 16-byte alignment of user data");

#define MEM_MAGIC 0x5eedf00du

static _Atomic size_t in_use[MEM_TAG_COUNT];

static const char *const tag_names[MEM_TAG_COUNT] = {
    [MEM_MISC] = "misc",       [MEM_NET] = "net",     [MEM_INGEST] = "ingest",
    [MEM_STORAGE] = "storage", [MEM_INDEX] = "index", [MEM_QUERY] = "query",
    [MEM_LIVE] = "live",       [MEM_WASM] = "wasm",   [MEM_WORKFLOW] = "workflow",
};

void *mem_alloc(mem_tag tag, size_t n) {
    SL_ASSERT((unsigned)tag < MEM_TAG_COUNT);
    if (fault_hit(FAULT_ALLOC)) return NULL;
    if (n > SIZE_MAX - sizeof(mem_hdr)) return NULL;
    mem_hdr *h = malloc(sizeof(mem_hdr) + n);
    if (!h) return NULL;
    h->size = n;
    h->tag = (uint32_t)tag;
    h->magic = MEM_MAGIC;
    atomic_fetch_add_explicit(&in_use[tag], n, memory_order_relaxed);
    return h + 1;
}

void *mem_calloc(mem_tag tag, size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) return NULL;
    void *p = mem_alloc(tag, count * size);
    if (p) memset(p, 0, count * size);
    return p;
}

void *mem_realloc(mem_tag tag, void *p, size_t n) {
    if (!p) return mem_alloc(tag, n);
    mem_hdr *h = (mem_hdr *)p - 1;
    SL_ASSERT(h->magic == MEM_MAGIC);
    SL_ASSERT(h->tag == (uint32_t)tag);
    if (fault_hit(FAULT_ALLOC)) return NULL;
    if (n > SIZE_MAX - sizeof(mem_hdr)) return NULL;
    size_t old = h->size;
    mem_hdr *nh = realloc(h, sizeof(mem_hdr) + n);
    if (!nh) return NULL;
    nh->size = n;
    if (n >= old)
        atomic_fetch_add_explicit(&in_use[tag], n - old, memory_order_relaxed);
    else
        atomic_fetch_sub_explicit(&in_use[tag], old - n, memory_order_relaxed);
    return nh + 1;
}

void mem_free(mem_tag tag, void *p) {
    if (!p) return;
    mem_hdr *h = (mem_hdr *)p - 1;
    SL_ASSERT(h->magic == MEM_MAGIC);
    SL_ASSERT(h->tag == (uint32_t)tag);
    atomic_fetch_sub_explicit(&in_use[tag], h->size, memory_order_relaxed);
    h->magic = 0;
    free(h);
}

char *mem_strndup(mem_tag tag, const char *s, size_t n) {
    char *d = mem_alloc(tag, n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

size_t mem_in_use(mem_tag tag) {
    SL_ASSERT((unsigned)tag < MEM_TAG_COUNT);
    return atomic_load_explicit(&in_use[tag], memory_order_relaxed);
}

size_t mem_in_use_total(void) {
    size_t t = 0;
    for (int i = 0; i < MEM_TAG_COUNT; i++) t += mem_in_use((mem_tag)i);
    return t;
}

const char *mem_tag_name(mem_tag tag) {
    SL_ASSERT((unsigned)tag < MEM_TAG_COUNT);
    return tag_names[tag];
}
