/* exec.c - historical queries: matching series from the tag postings, then one
 * aggregate over their points in the range.
 *
 * PLAN. The tag expression tree (query_internal.h) maps onto series_set algebra:
 *   TAG t      -> storage_postings_tag(name, t)
 *   a AND b    -> and(a, b);   a OR b -> or(a, b);   a NOT b -> andnot(a, b)
 *   NOT a      -> andnot(postings_name(name), a);    `[]` -> postings_name(name)
 * so no query scans every series. Every postings answer is bounded by the series
 * limit (query_limits.series_max, --query-series-max): past it the query fails with
 * SL_ELIMIT and "query matches more than N series" rather than pinning memory. The
 * limit applies to each intermediate set too (a NOT over a huge name is refused even
 * if the final set is small: documented in docs/OPERATIONS.md).
 *
 * AGGREGATION. Without group-by, each series goes through storage_aggregate(), which
 * uses block summaries for whole blocks and counts a (series, timestamp) once, and
 * the summaries merge. Percentiles scan the points into a bounded sample (agg.c).
 * Group-by-time scans each series once, folding points into buckets aligned to
 * multiples of the bucket width since the epoch; at most query_limits.buckets_max
 * buckets (SL_ELIMIT past it). A group-by needs a RANGE (the grammar has it after one).
 * Threads: any thread; storage reads are safe concurrently with writes. */
#include "base/clock.h"
#include "base/common.h"
#include "base/mem.h"
#include "query/query_internal.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* Defaults when query_limits leaves a field 0. Series: the server's
 * --query-series-max default; buckets: 100,000 x 72-byte summaries = 7.2 MB. */
#define QUERY_SERIES_MAX_DEFAULT 100000u
#define QUERY_BUCKETS_MAX_DEFAULT 100000u
/* Group-by: when buckets x series is at most this, each bucket of each series is
 * aggregated from storage's block summaries (fast for few series with many points:
 * 0.2 ms for 1 M points in 11 buckets); past it each series is scanned once
 * (cheaper than many small lookups: 4,000 series x 61 buckets took 0.5 s by lookups,
 * 50 ms by scanning; bench/query/bench_history.c). */
#define QUERY_GROUP_SUMMARY_CALLS_MAX 4096u

typedef struct qexec {
    storage *st;
    const query *q;
    uint32_t series_max;
    sl_diag *d;
} qexec;

static int set_error(qexec *x, int rc) {
    if (rc == SL_ELIMIT)
        return sl_diag_set(x->d, SL_ELIMIT, 0,
                           "query matches more than %u series (limit --query-series-max)",
                           x->series_max);
    return sl_diag_set(x->d, rc, 0, "reading the series index failed: %s", sl_strerror(rc));
}

static int eval_set(qexec *x, int idx, series_set *out) {
    const query *q = x->q;
    const uint8_t *name = (const uint8_t *)q->text + q->name_off;
    int rc;
    if (idx < 0) {
        rc = storage_postings_name(x->st, name, q->name_len, x->series_max, out);
        if (rc == SL_ENOTFOUND) {
            out->count = 0;
            return 0;
        }
        return rc < 0 ? set_error(x, rc) : 0;
    }
    const q_node *nd = &q->nodes[idx];
    if (nd->kind == QN_TAG) {
        rc = storage_postings_tag(x->st, name, q->name_len, (const uint8_t *)q->text + nd->tag_off,
                                  nd->tag_len, x->series_max, out);
        if (rc == SL_ENOTFOUND) {
            out->count = 0;
            return 0;
        }
        return rc < 0 ? set_error(x, rc) : 0;
    }
    series_set a = {0};
    series_set b = {0};
    if (nd->kind == QN_NOT) {
        rc = eval_set(x, -1, &a);
        if (rc == 0) rc = eval_set(x, nd->left, &b);
        if (rc == 0 && (rc = series_set_andnot(&a, &b, out)) < 0) rc = set_error(x, rc);
    } else {
        rc = eval_set(x, nd->left, &a);
        if (rc == 0) rc = eval_set(x, nd->right, &b);
        if (rc == 0) {
            switch (nd->kind) {
            case QN_AND:
                rc = series_set_and(&a, &b, out);
                break;
            case QN_OR:
                rc = series_set_or(&a, &b, out);
                break;
            default:
                SL_ASSERT(nd->kind == QN_ANDNOT);
                rc = series_set_andnot(&a, &b, out);
                break;
            }
            if (rc < 0) rc = set_error(x, rc);
        }
    }
    series_set_free(&a);
    series_set_free(&b);
    if (rc == 0 && out->count > x->series_max) rc = set_error(x, SL_ELIMIT);
    return rc;
}

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t r = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? r - 1 : r;
}

/* a * b, saturated to the int64 range (bucket edges near the ends of time). */
static int64_t mul_sat(int64_t a, int64_t b) {
    int64_t r;
    if (!__builtin_mul_overflow(a, b, &r)) return r;
    return (a < 0) != (b < 0) ? INT64_MIN : INT64_MAX;
}

typedef struct bucket_fold {
    storage_agg *aggs; /* [count] */
    int64_t first;     /* bucket number of aggs[0] */
    int64_t width;     /* bucket width ns */
    uint32_t count;
} bucket_fold;

static int fold_bucket(int64_t ts_ns, double value, void *arg) {
    bucket_fold *f = arg;
    int64_t i = floor_div(ts_ns, f->width) - f->first;
    SL_ASSERT(i >= 0);
    SL_ASSERT(i < (int64_t)f->count);
    storage_agg_add(&f->aggs[i], ts_ns, value);
    return 0;
}

static int fold_sample(int64_t ts_ns, double value, void *arg) {
    (void)ts_ns;
    qagg__sample_add(arg, value);
    return 0;
}

static int run_group(qexec *x, const series_set *set, const query_limits *lim, query_result *out) {
    const query *q = x->q;
    uint32_t buckets_max = lim && lim->buckets_max ? lim->buckets_max : QUERY_BUCKETS_MAX_DEFAULT;
    int64_t b0 = floor_div(q->t0_ns, q->bucket_ns);
    int64_t b1 = floor_div(q->t1_ns, q->bucket_ns);
    /* b1 >= b0; the unsigned difference cannot overflow even for [INT64_MIN, INT64_MAX]. */
    if ((uint64_t)b1 - (uint64_t)b0 >= buckets_max)
        return sl_diag_set(x->d, SL_ELIMIT, 0,
                           "group-by-time would make more than %u buckets; widen the bucket or "
                           "narrow the range",
                           buckets_max);
    uint32_t n = (uint32_t)((uint64_t)b1 - (uint64_t)b0 + 1);
    bucket_fold f = {.first = b0, .width = q->bucket_ns, .count = n};
    f.aggs = mem_calloc(MEM_QUERY, n, sizeof(*f.aggs));
    out->bucket_start_ns = mem_calloc(MEM_QUERY, n, sizeof(*out->bucket_start_ns));
    out->bucket_value = mem_calloc(MEM_QUERY, n, sizeof(*out->bucket_value));
    out->bucket_points = mem_calloc(MEM_QUERY, n, sizeof(*out->bucket_points));
    int rc = 0;
    if (!f.aggs || !out->bucket_start_ns || !out->bucket_value || !out->bucket_points) {
        rc = sl_diag_set(x->d, -ENOMEM, 0, "out of memory for %u buckets", n);
        goto done;
    }
    for (uint32_t i = 0; i < n; i++)
        storage_agg_init(&f.aggs[i]);
    for (uint32_t s = 0; s < set->count; s++) {
        if ((uint64_t)n * set->count <= QUERY_GROUP_SUMMARY_CALLS_MAX) {
            /* Few buckets: one storage_aggregate per bucket uses block summaries. */
            for (uint32_t i = 0; i < n && rc == 0; i++) {
                int64_t lo = SL_MAX(q->t0_ns, mul_sat(b0 + (int64_t)i, q->bucket_ns));
                int64_t next = mul_sat(b0 + (int64_t)i + 1, q->bucket_ns);
                int64_t hi = SL_MIN(q->t1_ns, next == INT64_MAX ? INT64_MAX : next - 1);
                rc = storage_aggregate(x->st, set->ids[s], lo, hi, &f.aggs[i]);
            }
        } else {
            rc = storage_scan(x->st, set->ids[s], q->t0_ns, q->t1_ns, fold_bucket, &f);
        }
        if (rc < 0) {
            rc = sl_diag_set(x->d, rc, 0, "reading series %u failed: %s", set->ids[s],
                             sl_strerror(rc));
            goto done;
        }
    }
    storage_agg total;
    storage_agg_init(&total);
    for (uint32_t i = 0; i < n; i++) {
        out->bucket_start_ns[i] = mul_sat(b0 + (int64_t)i, q->bucket_ns);
        out->bucket_value[i] = qagg__value(q, &f.aggs[i]);
        out->bucket_points[i] = f.aggs[i].count;
        storage_agg_merge(&total, &f.aggs[i]);
    }
    out->bucket_count = n;
    out->value = qagg__value(q, &total);
    out->count = total.count;
done:
    mem_free(MEM_QUERY, f.aggs);
    return rc;
}

static int run(qexec *x, const series_set *set, const query_limits *lim, query_result *out) {
    const query *q = x->q;
    if (q->bucket_ns) return run_group(x, set, lim, out);
    int rc;
    if (q->agg == Q_PCT) {
        qagg_sample s;
        if (qagg__sample_init(&s, QAGG_SAMPLE_MAX) < 0)
            return sl_diag_set(x->d, -ENOMEM, 0, "out of memory for the percentile sample");
        for (uint32_t i = 0; i < set->count; i++) {
            rc = storage_scan(x->st, set->ids[i], q->t0_ns, q->t1_ns, fold_sample, &s);
            if (rc < 0) {
                qagg__sample_free(&s);
                return sl_diag_set(x->d, rc, 0, "reading series %u failed: %s", set->ids[i],
                                   sl_strerror(rc));
            }
        }
        out->value = qagg__sample_pct(&s, q->pct);
        out->count = s.seen;
        qagg__sample_free(&s);
        return 0;
    }
    storage_agg a;
    storage_agg_init(&a);
    for (uint32_t i = 0; i < set->count; i++) {
        storage_agg one;
        storage_agg_init(&one);
        rc = storage_aggregate(x->st, set->ids[i], q->t0_ns, q->t1_ns, &one);
        if (rc < 0)
            return sl_diag_set(x->d, rc, 0, "reading series %u failed: %s", set->ids[i],
                               sl_strerror(rc));
        storage_agg_merge(&a, &one);
    }
    out->value = qagg__value(q, &a);
    out->count = a.count;
    return 0;
}

int query_history(struct storage *st, const char *text, size_t n, const query_limits *lim,
                  query_result *out, sl_diag *d) {
    memset(out, 0, sizeof(*out));
    out->value = NAN;
    query *q;
    int rc = query_parse(text, n, clock_realtime_ns(), &q, d);
    if (rc < 0) return rc;
    if (q->agg == Q_PCT && q->bucket_ns) {
        query_free(q);
        return sl_diag_set(d, SL_EPARSE, 1, "percentiles cannot be grouped by time at column 1");
    }
    qexec x = {
        .st = st,
        .q = q,
        .series_max = lim && lim->series_max ? lim->series_max : QUERY_SERIES_MAX_DEFAULT,
        .d = d,
    };
    series_set set = {0};
    rc = eval_set(&x, q->root, &set);
    if (rc == 0) rc = run(&x, &set, lim, out);
    series_set_free(&set);
    query_free(q);
    if (rc < 0) {
        query_result_free(out);
        out->value = NAN;
    }
    return rc;
}

void query_result_free(query_result *r) {
    if (!r) return;
    mem_free(MEM_QUERY, r->bucket_start_ns);
    mem_free(MEM_QUERY, r->bucket_value);
    mem_free(MEM_QUERY, r->bucket_points);
    r->bucket_start_ns = NULL;
    r->bucket_value = NULL;
    r->bucket_points = NULL;
    r->bucket_count = 0;
}

void query_result_json(const query_result *r, buf *out) {
    buf_puts(out, "{\"value\":");
    buf_json_f64(out, r->value);
    buf_puts(out, ",\"count\":");
    buf_json_u64(out, r->count);
    if (r->bucket_count > 0) {
        buf_puts(out, ",\"buckets\":[");
        for (uint32_t i = 0; i < r->bucket_count; i++) {
            if (i) buf_putc(out, ',');
            buf_puts(out, "{\"start\":");
            buf_json_i64(out, r->bucket_start_ns[i]);
            buf_puts(out, ",\"value\":");
            buf_json_f64(out, r->bucket_value[i]);
            buf_puts(out, ",\"count\":");
            buf_json_u64(out, r->bucket_points[i]);
            buf_putc(out, '}');
        }
        buf_putc(out, ']');
    }
    buf_putc(out, '}');
}
