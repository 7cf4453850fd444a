/* agg.c - storage_agg: a mergeable running aggregate (count, sum, sum of squares,
 * min, max, first and last by timestamp). Block summaries in segments hold the same
 * fields, so an aggregate over whole blocks merges summaries without decoding.
 * Invariants: count == 0 means every other field is its identity (min = +inf,
 * max = -inf, first_ts = INT64_MAX, last_ts = INT64_MIN). NaN values take part in
 * sum as IEEE says; min/max ignore NaN unless every value is NaN.
 * Threads: plain data, owned by the caller. */
#include "storage/storage.h"

#include <math.h>
#include <stdint.h>

void storage_agg_init(storage_agg *a) {
    a->count = 0;
    a->sum = 0;
    a->sum_sq = 0;
    a->min = INFINITY;
    a->max = -INFINITY;
    a->first_ts = INT64_MAX;
    a->first = NAN;
    a->last_ts = INT64_MIN;
    a->last = NAN;
}

void storage_agg_add(storage_agg *a, int64_t ts_ns, double v) {
    a->count++;
    a->sum += v;
    a->sum_sq += v * v;
    if (a->count == 1 || v < a->min || isnan(a->min)) a->min = v;
    if (a->count == 1 || v > a->max || isnan(a->max)) a->max = v;
    if (a->count == 1 || ts_ns < a->first_ts) { /* count: a lone point at INT64_MAX is first too */
        a->first_ts = ts_ns;
        a->first = v;
    }
    if (ts_ns >= a->last_ts) {
        a->last_ts = ts_ns;
        a->last = v;
    }
}

void storage_agg_merge(storage_agg *into, const storage_agg *from) {
    if (from->count == 0) return;
    if (into->count == 0) {
        *into = *from;
        return;
    }
    into->count += from->count;
    into->sum += from->sum;
    into->sum_sq += from->sum_sq;
    if (from->min < into->min || isnan(into->min)) into->min = from->min;
    if (from->max > into->max || isnan(into->max)) into->max = from->max;
    if (from->first_ts < into->first_ts) {
        into->first_ts = from->first_ts;
        into->first = from->first;
    }
    if (from->last_ts >= into->last_ts) {
        into->last_ts = from->last_ts;
        into->last = from->last;
    }
}
