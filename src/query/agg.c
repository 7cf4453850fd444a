/* agg.c - the value of an aggregate, and the bounded sample behind percentiles.
 *
 * Values come from a storage_agg summary (count, sum, sum of squares, min, max,
 * first, last), which merges, so blocks, panes and series combine in any order;
 * summaries start and merge with storage's own storage_agg_init/merge (storage.h),
 * so live and historical answers share one definition (storage_agg_add).
 * STDDEV is the population standard deviation, sqrt(E[x^2] - E[x]^2) clamped at 0.
 * Percentiles are approximate past QAGG_SAMPLE_MAX points: a uniform reservoir
 * sample (algorithm R) with a fixed seed, nearest-rank on the sorted sample; exact
 * (nearest rank) while the points fit. Threads: pure; any thread. */
#include "base/common.h"
#include "base/mem.h"
#include "query/query_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

double qagg__value(const query *q, const storage_agg *a) {
    /* No points: no value, for COUNT too (spec/query.md: {"value":null,"count":0}). */
    if (a->count == 0) return NAN;
    if (q->agg == Q_COUNT) return (double)a->count;
    switch (q->agg) {
    case Q_AVG:
        return a->sum / (double)a->count;
    case Q_MIN:
        return a->min;
    case Q_MAX:
        return a->max;
    case Q_SUM:
        return a->sum;
    case Q_LAST:
        return a->last;
    case Q_FIRST:
        return a->first;
    case Q_STDDEV: {
        double mean = a->sum / (double)a->count;
        double var = a->sum_sq / (double)a->count - mean * mean;
        return var > 0 ? sqrt(var) : 0.0;
    }
    case Q_COUNT:
    case Q_PCT:
        break;
    }
    return NAN; /* Q_PCT is computed from a sample, not a summary */
}

const char *qagg__name(const query *q) {
    static const char *const names[] = {
        [Q_AVG] = "AVG",     [Q_MIN] = "MIN",       [Q_MAX] = "MAX",
        [Q_SUM] = "SUM",     [Q_COUNT] = "COUNT",   [Q_LAST] = "LAST",
        [Q_FIRST] = "FIRST", [Q_STDDEV] = "STDDEV", [Q_PCT] = "percentile",
    };
    return names[q->agg];
}

int qagg__sample_init(qagg_sample *s, uint32_t cap) {
    SL_ASSERT(cap > 0);
    s->v = mem_calloc(MEM_QUERY, cap, sizeof(*s->v));
    if (!s->v) return -ENOMEM;
    s->cap = cap;
    s->len = 0;
    s->seen = 0;
    s->rng = 0x9e3779b97f4a7c15ull;
    return 0;
}

void qagg__sample_free(qagg_sample *s) {
    mem_free(MEM_QUERY, s->v);
    s->v = NULL;
    s->cap = 0;
    s->len = 0;
}

static uint64_t xorshift(uint64_t *st) {
    uint64_t x = *st;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *st = x;
    return x;
}

void qagg__sample_add(qagg_sample *s, double v) {
    s->seen++;
    if (s->len < s->cap) {
        s->v[s->len++] = v;
        return;
    }
    uint64_t j = xorshift(&s->rng) % s->seen;
    if (j < s->cap) s->v[j] = v;
}

static int cmp_f64(const void *a, const void *b) {
    double x = *(const double *)a;
    double y = *(const double *)b;
    /* NaN sorts last so it never hides a real value. */
    if (isnan(x)) return isnan(y) ? 0 : 1;
    if (isnan(y)) return -1;
    return x < y ? -1 : x > y;
}

double qagg__sample_pct(qagg_sample *s, double pct) {
    if (s->len == 0) return NAN;
    qsort(s->v, s->len, sizeof(*s->v), cmp_f64);
    double rank = ceil(pct / 100.0 * (double)s->len);
    uint32_t i = rank < 1 ? 0 : (uint32_t)rank - 1;
    if (i >= s->len) i = s->len - 1;
    return s->v[i];
}
