/* memtable.c - points accepted but not yet in a segment, per series.
 *
 * Each series keeps a main run, sorted strictly by timestamp, and a small "late"
 * buffer in arrival order for points older than the main run's last point. An
 * in-order point appends (or replaces the last point on an equal timestamp); a late
 * point appends to the late buffer in O(1). When the late buffer outgrows
 * max(MEMTAB_LATE_MIN, n / 4) it is sorted and merged into the main run, so
 * out-of-order ingest costs O(log n) amortised per point, never O(n).
 * Last write wins: within the late buffer the later entry wins; a late entry wins
 * over the main run (a late entry is always newer than a main point with its
 * timestamp, since main only grows past its last timestamp).
 * Invariants: (1) ts[0..n) strictly ascending; (2) every late_ts < ts[n-1] at the time
 * it was added; (3) bytes approximates the heap held.
 * Threads: the apply thread mutates the active memtable under storage.mu (write);
 * readers copy under storage.mu (read); the flushing memtable is immutable. */
#include "base/mem.h"
#include "storage/storage_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MEMTAB_LATE_MIN 256u

void memtab_init(memtab *m) {
    memset(m, 0, sizeof(*m));
}

static void series_free(memtab_series *s) {
    if (!s) return;
    mem_free(MEM_STORAGE, s->ts);
    mem_free(MEM_STORAGE, s->v);
    mem_free(MEM_STORAGE, s->late_ts);
    mem_free(MEM_STORAGE, s->late_v);
    mem_free(MEM_STORAGE, s);
}

void memtab_free(memtab *m) {
    if (!m) return;
    for (uint32_t i = 0; i < m->ids_cap; i++)
        series_free(m->by_id[i]);
    mem_free(MEM_STORAGE, m->by_id);
    mem_free(MEM_STORAGE, m->touched);
    memset(m, 0, sizeof(*m));
}

bool memtab_is_empty(const memtab *m) {
    return m->points == 0;
}

/* Sorted, deduplicated (last wins) copy of the late buffer: index sort. */
typedef struct late_ent {
    int64_t ts;
    uint32_t idx;
} late_ent;

static int late_cmp(const void *a, const void *b) {
    const late_ent *x = a, *y = b;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

/* Fills ts/v (capacity late_n) with the sorted late points, last write wins. */
static int late_sorted(const memtab_series *s, int64_t *ts, double *v, uint32_t *n_out) {
    late_ent *e = mem_alloc(MEM_STORAGE, (size_t)s->late_n * sizeof(*e) + 1);
    if (!e) return -ENOMEM;
    for (uint32_t i = 0; i < s->late_n; i++) {
        e[i].ts = s->late_ts[i];
        e[i].idx = i;
    }
    qsort(e, s->late_n, sizeof(*e), late_cmp);
    uint32_t k = 0;
    for (uint32_t i = 0; i < s->late_n; i++) {
        if (i + 1 < s->late_n && e[i + 1].ts == e[i].ts) continue; /* a later write follows */
        ts[k] = e[i].ts;
        v[k] = s->late_v[e[i].idx];
        k++;
    }
    mem_free(MEM_STORAGE, e);
    *n_out = k;
    return 0;
}

/* Merges two sorted runs, b winning ties, into ts/v; returns the count. */
static uint32_t merge_runs(const int64_t *ats, const double *av, uint32_t an, const int64_t *bts,
                           const double *bv, uint32_t bn, int64_t *ts, double *v) {
    uint32_t i = 0, j = 0, k = 0;
    while (i < an || j < bn) {
        if (j >= bn || (i < an && ats[i] < bts[j])) {
            ts[k] = ats[i];
            v[k++] = av[i++];
        } else {
            if (i < an && ats[i] == bts[j]) i++;
            ts[k] = bts[j];
            v[k++] = bv[j++];
        }
    }
    return k;
}

static int late_fold(memtab *m, memtab_series *s) {
    uint32_t cap = s->n + s->late_n;
    int64_t *lts = mem_alloc(MEM_STORAGE, (size_t)s->late_n * sizeof(*lts));
    double *lv = mem_alloc(MEM_STORAGE, (size_t)s->late_n * sizeof(*lv));
    int64_t *nts = mem_alloc(MEM_STORAGE, (size_t)cap * sizeof(*nts));
    double *nv = mem_alloc(MEM_STORAGE, (size_t)cap * sizeof(*nv));
    uint32_t ln = 0;
    int rc = -ENOMEM;
    if (!lts || !lv || !nts || !nv) goto out;
    if ((rc = late_sorted(s, lts, lv, &ln)) < 0) goto out;
    uint32_t n = merge_runs(s->ts, s->v, s->n, lts, lv, ln, nts, nv);
    m->bytes -= (uint64_t)s->cap * 16;
    mem_free(MEM_STORAGE, s->ts);
    mem_free(MEM_STORAGE, s->v);
    s->ts = nts;
    s->v = nv;
    s->n = n;
    s->cap = cap;
    m->bytes += (uint64_t)cap * 16;
    nts = NULL;
    nv = NULL;
    s->late_n = 0;
    rc = 0;
out:
    mem_free(MEM_STORAGE, lts);
    mem_free(MEM_STORAGE, lv);
    mem_free(MEM_STORAGE, nts);
    mem_free(MEM_STORAGE, nv);
    return rc;
}

/* Finds or creates series id. */
static int series_get(memtab *m, uint32_t id, memtab_series **out) {
    if (id >= m->ids_cap) {
        uint64_t cap64 = m->ids_cap ? m->ids_cap : 1024;
        while (cap64 <= id)
            cap64 *= 2;
        uint32_t cap = cap64 > UINT32_MAX ? UINT32_MAX : (uint32_t)cap64;
        memtab_series **np = mem_realloc(MEM_STORAGE, m->by_id, (size_t)cap * sizeof(*np));
        if (!np) return -ENOMEM;
        memset(np + m->ids_cap, 0, (size_t)(cap - m->ids_cap) * sizeof(*np));
        m->bytes += (uint64_t)(cap - m->ids_cap) * sizeof(*np);
        m->by_id = np;
        m->ids_cap = cap;
    }
    memtab_series *s = m->by_id[id];
    if (!s) {
        s = mem_calloc(MEM_STORAGE, 1, sizeof(*s));
        if (!s) return -ENOMEM;
        m->by_id[id] = s;
        m->bytes += sizeof(*s);
    }
    *out = s;
    return 0;
}

static int grow_pair(int64_t **ts, double **v, uint32_t *cap_io, uint64_t need, uint64_t *bytes) {
    if (need <= *cap_io) return 0;
    uint64_t cap = *cap_io ? *cap_io : 8;
    while (cap < need)
        cap *= 2;
    if (cap > UINT32_MAX) return SL_ELIMIT;
    int64_t *nts = mem_realloc(MEM_STORAGE, *ts, (size_t)cap * sizeof(*nts));
    if (!nts) return -ENOMEM;
    *ts = nts;
    double *nv = mem_realloc(MEM_STORAGE, *v, (size_t)cap * sizeof(*nv));
    if (!nv) return -ENOMEM;
    *v = nv;
    *bytes += (cap - *cap_io) * 16;
    *cap_io = (uint32_t)cap;
    return 0;
}

static void pend_clear(memtab *m, uint32_t nt) {
    for (uint32_t j = 0; j < nt; j++) {
        memtab_series *s = m->by_id[m->touched[j]];
        s->pend_main = 0;
        s->pend_late = 0;
        s->pend_mark = false;
    }
}

int memtab_reserve(memtab *m, uint32_t count, const uint32_t *ids, const int64_t *ts) {
    /* Pass 1 counts, per series, where each point will go; pass 2 reserves exactly
     * that for each series touched, so memtab_apply cannot fail and the batch goes in
     * whole or not at all. */
    if (count > m->touched_cap) {
        uint32_t *nt = mem_realloc(MEM_STORAGE, m->touched, (size_t)count * sizeof(*nt));
        if (!nt) return -ENOMEM;
        m->bytes += (uint64_t)(count - m->touched_cap) * sizeof(*nt);
        m->touched = nt;
        m->touched_cap = count;
    }
    int rc = 0;
    uint32_t nt = 0;
    for (uint32_t i = 0; i < count; i++) {
        memtab_series *s;
        if ((rc = series_get(m, ids[i], &s)) < 0) goto fail;
        if (!s->pend_mark) {
            s->pend_mark = true;
            s->pend_last = s->n ? s->ts[s->n - 1] : INT64_MIN;
            m->touched[nt++] = ids[i];
        }
        if (s->pend_main == 0 && s->n == 0 && ts[i] == INT64_MIN) {
            s->pend_main++; /* the very first point may be INT64_MIN */
        } else if (ts[i] > s->pend_last) {
            s->pend_main++;
            s->pend_last = ts[i];
        } else if (ts[i] < s->pend_last) {
            s->pend_late++;
        }
    }
    for (uint32_t j = 0; j < nt; j++) {
        memtab_series *s = m->by_id[m->touched[j]];
        if ((rc = grow_pair(&s->ts, &s->v, &s->cap, (uint64_t)s->n + s->pend_main, &m->bytes)) < 0)
            goto fail;
        if (s->pend_late && (rc = grow_pair(&s->late_ts, &s->late_v, &s->late_cap,
                                            (uint64_t)s->late_n + s->pend_late, &m->bytes)) < 0)
            goto fail;
    }
    pend_clear(m, nt);
    return 0;
fail:
    pend_clear(m, nt);
    return rc;
}

void memtab_apply(memtab *m, uint32_t count, const uint32_t *ids, const int64_t *ts,
                  const double *v, uint64_t seq) {
    for (uint32_t i = 0; i < count; i++) {
        memtab_series *s = m->by_id[ids[i]];
        if (s->n == 0 || ts[i] > s->ts[s->n - 1]) {
            SL_ASSERT(s->n < s->cap);
            s->ts[s->n] = ts[i];
            s->v[s->n++] = v[i];
        } else if (ts[i] == s->ts[s->n - 1]) {
            s->v[s->n - 1] = v[i];
        } else {
            SL_ASSERT(s->late_n < s->late_cap);
            s->late_ts[s->late_n] = ts[i];
            s->late_v[s->late_n++] = v[i];
        }
    }
    m->points += count;
    /* Fold oversized late buffers. A failed fold leaves the buffer as it was. */
    for (uint32_t i = 0; i < count; i++) {
        memtab_series *s = m->by_id[ids[i]];
        if (s->late_n > SL_MAX(MEMTAB_LATE_MIN, s->n / 4)) (void)late_fold(m, s);
    }
    if (seq > m->seq_max) m->seq_max = seq;
}

int memtab_insert(memtab *m, uint32_t count, const uint32_t *ids, const int64_t *ts,
                  const double *v, uint64_t seq) {
    int rc = memtab_reserve(m, count, ids, ts);
    if (rc < 0) return rc;
    memtab_apply(m, count, ids, ts, v, seq);
    return 0;
}

static uint32_t lower_bound(const int64_t *ts, uint32_t n, int64_t t) {
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ts[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int memtab_copy_range(const memtab *m, uint32_t id, int64_t t0, int64_t t1, int64_t **tsp,
                      double **vp, uint32_t *n_out, uint32_t *cap_io) {
    *n_out = 0;
    if (id >= m->ids_cap || !m->by_id[id] || t1 < t0) return 0;
    const memtab_series *s = m->by_id[id];
    uint32_t a = lower_bound(s->ts, s->n, t0);
    uint32_t b = t1 == INT64_MAX ? s->n : lower_bound(s->ts, s->n, t1 + 1);
    uint32_t main_n = b - a;
    uint64_t need = (uint64_t)main_n + 2u * s->late_n;
    if (need > UINT32_MAX) return SL_ELIMIT;
    if (need == 0) return 0;
    if (need > *cap_io) {
        int64_t *nts = mem_realloc(MEM_STORAGE, *tsp, (size_t)need * sizeof(*nts) + 8);
        if (!nts) return -ENOMEM;
        *tsp = nts;
        double *nv = mem_realloc(MEM_STORAGE, *vp, (size_t)need * sizeof(*nv) + 8);
        if (!nv) return -ENOMEM;
        *vp = nv;
        *cap_io = (uint32_t)need;
    }
    int64_t *ts = *tsp;
    double *v = *vp;
    if (s->late_n == 0) {
        memcpy(ts, s->ts + a, (size_t)main_n * sizeof(*ts));
        memcpy(v, s->v + a, (size_t)main_n * sizeof(*v));
        *n_out = main_n;
        return 0;
    }
    /* Sorted late points go after the main slot, then merge into the front. The main
     * part is copied to the tail region first so the merge never overwrites input. */
    uint32_t ln = 0;
    int64_t *lts = ts + main_n + s->late_n;
    double *lv = v + main_n + s->late_n;
    int rc = late_sorted(s, lts, lv, &ln);
    if (rc < 0) return rc;
    uint32_t la = lower_bound(lts, ln, t0);
    uint32_t lb = t1 == INT64_MAX ? ln : lower_bound(lts, ln, t1 + 1);
    /* main part: copy to [late_n, late_n + main_n) so merging into [0..) is safe. */
    int64_t *mts = ts + s->late_n;
    double *mv = v + s->late_n;
    memmove(mts, s->ts + a, (size_t)main_n * sizeof(*ts));
    memmove(mv, s->v + a, (size_t)main_n * sizeof(*v));
    *n_out = merge_runs(mts, mv, main_n, lts + la, lv + la, lb - la, ts, v);
    return 0;
}

int memtab_visit(const memtab *m, memtab_visit_fn fn, void *arg) {
    int64_t *ts = NULL;
    double *v = NULL;
    uint32_t cap = 0;
    int rc = 0;
    for (uint32_t id = 1; id < m->ids_cap; id++) {
        if (!m->by_id[id]) continue;
        uint32_t n;
        if ((rc = memtab_copy_range(m, id, INT64_MIN, INT64_MAX, &ts, &v, &n, &cap)) < 0) break;
        if (n > 0 && (rc = fn(id, ts, v, n, arg)) != 0) break;
    }
    mem_free(MEM_STORAGE, ts);
    mem_free(MEM_STORAGE, v);
    return rc;
}

bool memtab_aggregate_sorted(const memtab *m, uint32_t id, int64_t t0, int64_t t1, storage_agg *a) {
    if (id >= m->ids_cap || !m->by_id[id]) return true; /* nothing here */
    const memtab_series *s = m->by_id[id];
    if (s->late_n > 0) return false; /* needs the merge (and dedup) of memtab_copy_range */
    uint32_t lo = lower_bound(s->ts, s->n, t0);
    uint32_t hi = t1 == INT64_MAX ? s->n : lower_bound(s->ts, s->n, t1 + 1);
    for (uint32_t i = lo; i < hi; i++)
        storage_agg_add(a, s->ts[i], s->v[i]);
    return true;
}
