/* sset.c - series_set: sorted, unique series ids, and the set algebra a tag
 * expression (AND, OR, NOT) resolves with. Linear merges over sorted arrays.
 * Invariants: ids[0..count) strictly ascending; count <= cap.
 * Threads: caller-owned plain data. */
#include "base/common.h"
#include "base/mem.h"
#include "storage/storage.h"

#include <errno.h>

void series_set_free(series_set *s) {
    if (!s) return;
    mem_free(MEM_INDEX, s->ids);
    s->ids = NULL;
    s->count = 0;
    s->cap = 0;
}

static int sset_reserve(series_set *s, uint32_t n) {
    if (n <= s->cap) return 0;
    uint32_t *p = mem_realloc(MEM_INDEX, s->ids, (size_t)n * sizeof(*p));
    if (!p && n > 0) return -ENOMEM;
    s->ids = p;
    s->cap = n;
    return 0;
}

int series_set_and(const series_set *a, const series_set *b, series_set *out) {
    SL_ASSERT(out != a);
    SL_ASSERT(out != b);
    int rc = sset_reserve(out, SL_MIN(a->count, b->count));
    if (rc < 0) return rc;
    uint32_t i = 0, j = 0, k = 0;
    while (i < a->count && j < b->count) {
        if (a->ids[i] < b->ids[j]) {
            i++;
        } else if (a->ids[i] > b->ids[j]) {
            j++;
        } else {
            out->ids[k++] = a->ids[i];
            i++;
            j++;
        }
    }
    out->count = k;
    return 0;
}

int series_set_or(const series_set *a, const series_set *b, series_set *out) {
    SL_ASSERT(out != a);
    SL_ASSERT(out != b);
    if ((uint64_t)a->count + b->count > UINT32_MAX) return SL_ELIMIT;
    int rc = sset_reserve(out, a->count + b->count);
    if (rc < 0) return rc;
    uint32_t i = 0, j = 0, k = 0;
    while (i < a->count || j < b->count) {
        if (j >= b->count || (i < a->count && a->ids[i] < b->ids[j])) {
            out->ids[k++] = a->ids[i++];
        } else if (i >= a->count || b->ids[j] < a->ids[i]) {
            out->ids[k++] = b->ids[j++];
        } else {
            out->ids[k++] = a->ids[i];
            i++;
            j++;
        }
    }
    out->count = k;
    return 0;
}

int series_set_andnot(const series_set *a, const series_set *b, series_set *out) {
    SL_ASSERT(out != a);
    SL_ASSERT(out != b);
    int rc = sset_reserve(out, a->count);
    if (rc < 0) return rc;
    uint32_t i = 0, j = 0, k = 0;
    while (i < a->count) {
        while (j < b->count && b->ids[j] < a->ids[i])
            j++;
        if (j < b->count && b->ids[j] == a->ids[i]) {
            i++;
            continue;
        }
        out->ids[k++] = a->ids[i++];
    }
    out->count = k;
    return 0;
}
