/* history_test.c - historical queries against a real storage directory: series from
 * the tag postings, aggregates, ranges, group-by-time, limits, and the equivalence of
 * a live window with the historical query over the same range. */
#include "base/buf.h"
#include "base/clock.h"
#include "base/common.h"
#include "base/fault.h"
#include "base/serieskey.h"
#include "query/live.h"
#include "query/query.h"
#include "storage/storage.h"
#include "query_test_util.h"
#include "test.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#define S_NS 1000000000ll

typedef struct fixture {
    char dir[256];
    storage *st;
} fixture;

static bool fx_open(fixture *f) {
    test_tmpdir(f->dir);
    storage_opts o;
    storage_opts_default(&o);
    o.dir = f->dir;
    o.fsync = STORAGE_FSYNC_NONE;
    sl_diag d;
    if (storage_open(&o, &f->st, &d) != 0) {
        test_fail(__FILE__, __LINE__, "storage_open: %s", d.msg);
        return false;
    }
    return true;
}

static void fx_close(fixture *f) {
    storage_close(f->st);
    test_rmrf(f->dir);
}

static int write1(storage *st, const char *name, const char **tags, int64_t ts, double v) {
    point_batch b;
    point_batch_init(&b);
    add_point(&b, name, tags, ts, v);
    int rc = storage_write(st, &b);
    point_batch_free(&b);
    return rc;
}

/* Runs text; returns rc, fills *r. */
static int hq(storage *st, const char *text, query_result *r, sl_diag *d) {
    query_limits lim = {.series_max = 1000, .buckets_max = 1000};
    return query_history(st, text, strlen(text), &lim, r, d);
}

static double hv(storage *st, const char *text, uint64_t *count) {
    query_result r;
    sl_diag d;
    sl_diag_clear(&d);
    int rc = hq(st, text, &r, &d);
    if (rc != 0) {
        test_fail(__FILE__, __LINE__, "'%s': %s", text, d.msg);
        return NAN;
    }
    if (count) *count = r.count;
    query_result_free(&r);
    return r.value;
}

static void write_cpu(storage *st) {
    /* host=a: 1,2,3 at t=10,20,30; host=b: 10,20 at t=10,20; dc tags split them. */
    SL_ASSERT(write1(st, "cpu", (const char *[]){"host=a", "dc=eu", NULL}, 10, 1) == 0);
    SL_ASSERT(write1(st, "cpu", (const char *[]){"host=a", "dc=eu", NULL}, 20, 2) == 0);
    SL_ASSERT(write1(st, "cpu", (const char *[]){"host=a", "dc=eu", NULL}, 30, 3) == 0);
    SL_ASSERT(write1(st, "cpu", (const char *[]){"host=b", "dc=us", NULL}, 10, 10) == 0);
    SL_ASSERT(write1(st, "cpu", (const char *[]){"host=b", "dc=us", NULL}, 20, 20) == 0);
    SL_ASSERT(write1(st, "mem", (const char *[]){"host=a", "dc=eu", NULL}, 10, 1000) == 0);
}

TEST(aggregates_cover_every_matching_series_of_the_name) {
    fixture f;
    if (!fx_open(&f)) return;
    write_cpu(f.st);
    uint64_t n;
    CHECK(hv(f.st, "SUM:cpu:[]", &n) == 36);
    CHECK_EQ_U64(n, 5);
    CHECK(hv(f.st, "AVG:cpu:[host=a]", &n) == 2);
    CHECK_EQ_U64(n, 3);
    CHECK(hv(f.st, "MIN:cpu:[]", NULL) == 1);
    CHECK(hv(f.st, "MAX:cpu:[]", NULL) == 20);
    CHECK(hv(f.st, "COUNT:cpu:[]", NULL) == 5);
    CHECK(hv(f.st, "FIRST:cpu:[host=a]", NULL) == 1);
    CHECK(hv(f.st, "LAST:cpu:[host=a]", NULL) == 3);
    CHECK(fabs(hv(f.st, "STDDEV:cpu:[host=a]", NULL) - sqrt(2.0 / 3.0)) < 1e-12);
    CHECK(hv(f.st, "P50:cpu:[host=a]", NULL) == 2);
    CHECK(hv(f.st, "P99:cpu:[]", NULL) == 20);
    fx_close(&f);
}

TEST(tag_expressions_select_series_through_the_postings) {
    fixture f;
    if (!fx_open(&f)) return;
    write_cpu(f.st);
    CHECK(hv(f.st, "SUM:cpu:[host=a OR host=b]", NULL) == 36);
    CHECK(hv(f.st, "SUM:cpu:[host=a AND dc=us]", NULL) != hv(f.st, "SUM:cpu:[]", NULL));
    uint64_t n = 99;
    double v = hv(f.st, "SUM:cpu:[host=a AND dc=us]", &n);
    CHECK(isnan(v));
    CHECK_EQ_U64(n, 0);
    CHECK(hv(f.st, "SUM:cpu:[NOT host=a]", NULL) == 30);
    CHECK(hv(f.st, "SUM:cpu:[dc=eu NOT host=b]", NULL) == 6);
    CHECK(hv(f.st, "SUM:cpu:[(host=b OR host=zz) AND NOT dc=eu]", NULL) == 30);
    CHECK(hv(f.st, "SUM:mem:[host=a]", NULL) == 1000);
    v = hv(f.st, "SUM:nosuch:[host=a]", &n);
    CHECK(isnan(v));
    fx_close(&f);
}

TEST(a_two_time_range_is_inclusive_at_both_ends) {
    fixture f;
    if (!fx_open(&f)) return;
    write_cpu(f.st);
    uint64_t n;
    CHECK(hv(f.st, "SUM:cpu:[host=a]:[10,20]", &n) == 3);
    CHECK_EQ_U64(n, 2);
    CHECK(hv(f.st, "SUM:cpu:[host=a]:[30,20]", &n) == 5);
    CHECK(hv(f.st, "SUM:cpu:[host=a]:[11,19]", &n) != 0);
    CHECK_EQ_U64(n, 0);
    fx_close(&f);
}

TEST(a_span_range_means_the_last_span_before_now) {
    fixture f;
    if (!fx_open(&f)) return;
    int64_t now = clock_realtime_ns();
    CHECK_EQ_INT(write1(f.st, "t", NULL, now - 2 * 3600 * S_NS, 100), 0);
    CHECK_EQ_INT(write1(f.st, "t", NULL, now - 30 * 60 * S_NS, 5), 0);
    CHECK_EQ_INT(write1(f.st, "t", NULL, now - 60 * S_NS, 6), 0);
    CHECK(hv(f.st, "SUM:t:[]:[1h]", NULL) == 11);
    CHECK(hv(f.st, "SUM:t:[]:[5min]", NULL) == 6);
    CHECK(hv(f.st, "SUM:t:[]:[3h,now]", NULL) == 111);
    CHECK(hv(f.st, "SUM:t:[]:[3h,1h]", NULL) == 100);
    fx_close(&f);
}

TEST(the_same_series_and_timestamp_counts_once_with_the_last_write) {
    fixture f;
    if (!fx_open(&f)) return;
    CHECK_EQ_INT(write1(f.st, "d", (const char *[]){"k=v", NULL}, 5, 1), 0);
    CHECK_EQ_INT(write1(f.st, "d", (const char *[]){"k=v", NULL}, 5, 7), 0);
    uint64_t n;
    CHECK(hv(f.st, "SUM:d:[k=v]", &n) == 7);
    CHECK_EQ_U64(n, 1);
    CHECK_EQ_INT(storage_flush(f.st), 0);
    CHECK_EQ_INT(write1(f.st, "d", (const char *[]){"k=v", NULL}, 5, 9), 0);
    CHECK(hv(f.st, "SUM:d:[k=v]", &n) == 9);
    CHECK_EQ_U64(n, 1);
    fx_close(&f);
}

TEST(group_by_time_returns_one_value_per_aligned_bucket_in_json) {
    fixture f;
    if (!fx_open(&f)) return;
    for (int i = 0; i < 6; i++)
        CHECK_EQ_INT(write1(f.st, "g", NULL, i * 10, i), 0);
    query_result r;
    sl_diag d;
    CHECK_EQ_INT(hq(f.st, "SUM:g:[]:[0,59]:20ns", &r, &d), 0);
    CHECK_EQ_INT(r.bucket_count, 3);
    buf out;
    buf_init(&out, MEM_MISC, 0);
    query_result_json(&r, &out);
    CHECK_EQ_STR(buf_cstr(&out),
                 "{\"value\":15,\"count\":6,\"buckets\":[{\"start\":0,\"value\":1,\"count\":2},"
                 "{\"start\":20,\"value\":5,\"count\":2},{\"start\":40,\"value\":9,\"count\":2}]}");
    query_result_free(&r);
    /* An empty bucket has a null value. */
    CHECK_EQ_INT(hq(f.st, "AVG:g:[]:[0,149]:50ns", &r, &d), 0);
    buf_reset(&out);
    query_result_json(&r, &out);
    CHECK_EQ_STR(
        buf_cstr(&out),
        "{\"value\":2.5,\"count\":6,\"buckets\":[{\"start\":0,\"value\":2,\"count\":5},"
        "{\"start\":50,\"value\":5,\"count\":1},{\"start\":100,\"value\":null,\"count\":0}]}");
    query_result_free(&r);
    /* Many buckets take the scanning path; the answer is the same. */
    query_limits lim = {.series_max = 10, .buckets_max = 10000};
    const char *many = "SUM:g:[]:[0,4999]:1ns";
    CHECK_EQ_INT(query_history(f.st, many, strlen(many), &lim, &r, &d), 0);
    CHECK_EQ_INT(r.bucket_count, 5000);
    CHECK(r.value == 15);
    CHECK_EQ_U64(r.count, 6);
    CHECK(r.bucket_value[10] == 1);
    CHECK_EQ_U64(r.bucket_points[10], 1);
    CHECK(isnan(r.bucket_value[11]));
    CHECK_EQ_U64(r.bucket_points[11], 0);
    query_result_free(&r);
    CHECK_EQ_INT(hq(f.st, "SUM:g:[]:[0,1000000]:1ns", &r, &d), SL_ELIMIT);
    CHECK(strstr(d.msg, "more than 1000 buckets") != NULL);
    buf_free(&out);
    fx_close(&f);
}

TEST(an_empty_answer_is_null_with_count_zero_and_a_parse_error_says_where) {
    fixture f;
    if (!fx_open(&f)) return;
    query_result r;
    sl_diag d;
    CHECK_EQ_INT(hq(f.st, "AVG:none:[]", &r, &d), 0);
    buf out;
    buf_init(&out, MEM_MISC, 0);
    query_result_json(&r, &out);
    CHECK_EQ_STR(buf_cstr(&out), "{\"value\":null,\"count\":0}");
    query_result_free(&r);
    CHECK_EQ_INT(hq(f.st, "AVG:cpu:[host=a:[1h]", &r, &d), SL_EPARSE);
    CHECK_EQ_STR(d.msg, "expected ']' at column 16");
    buf_free(&out);
    fx_close(&f);
}

TEST(a_query_matching_more_series_than_the_limit_fails_clearly) {
    fixture f;
    if (!fx_open(&f)) return;
    point_batch b;
    point_batch_init(&b);
    for (int i = 0; i < 1500; i++) {
        char tag[32];
        snprintf(tag, sizeof(tag), "id=%d", i);
        add_point(&b, "many", (const char *[]){tag, "all=1", NULL}, 1, 1);
    }
    CHECK_EQ_INT(storage_write(f.st, &b), 0);
    point_batch_free(&b);
    query_result r;
    sl_diag d;
    CHECK_EQ_INT(hq(f.st, "COUNT:many:[all=1]", &r, &d), SL_ELIMIT);
    CHECK(strstr(d.msg, "more than 1000 series") != NULL);
    CHECK_EQ_INT(hq(f.st, "COUNT:many:[]", &r, &d), SL_ELIMIT);
    CHECK(hv(f.st, "COUNT:many:[id=7 OR id=8]", NULL) == 2);
    fx_close(&f);
}

/* Polls each live query and compares it with the historical query over the window's
 * range: [floor(newest / 1 s) - 59 s, newest] for a 60 s span (60 panes of 1 s). */
static const char *const eq_ops[] = {"SUM", "COUNT",  "MIN",   "MAX",
                                     "AVG", "STDDEV", "FIRST", "LAST"};
#define EQ_OPS 8

static void eq_compare(storage *st, live_registry *lr, const uint64_t *h, int64_t newest) {
    int64_t w0 = (newest / S_NS - 59) * S_NS;
    for (int i = 0; i < EQ_OPS; i++) {
        buf ev;
        buf_init(&ev, MEM_MISC, 0);
        int rc = live_poll(lr, h[i], 0, &ev);
        const char *v = strstr(buf_cstr(&ev), "\"value\":");
        double live_v = v ? strtod(v + 8, NULL) : NAN;
        buf_free(&ev);
        CHECK_EQ_INT(rc, 1);
        char text[128];
        snprintf(text, sizeof(text), "%s:eq:[host=a OR host=b]:[%lld,%lld]", eq_ops[i],
                 (long long)w0, (long long)newest);
        double hist_v = hv(st, text, NULL);
        if (i == 4 || i == 5) { /* AVG, STDDEV: divisions */
            CHECK_MSG(fabs(live_v - hist_v) <= 1e-9 * fabs(hist_v), "%s: live %.17g hist %.17g",
                      eq_ops[i], live_v, hist_v);
        } else {
            CHECK_MSG(live_v == hist_v, "%s at %lld: live %.17g hist %.17g", eq_ops[i],
                      (long long)newest, live_v, hist_v);
        }
    }
}

/* Random data, 10% of points out of order (up to 30 s late in a 60 s window): at
 * every checkpoint the live window's value equals the historical query over the
 * same range, exactly for SUM/COUNT/MIN/MAX/FIRST/LAST (integer values, unique
 * timestamps) and within 1e-9 relative for AVG and STDDEV. */
TEST(a_live_window_equals_the_historical_query_over_the_same_range) {
    fixture f;
    if (!fx_open(&f)) return;
    live_registry *lr;
    CHECK_EQ_INT(live_registry_new(16, &lr), 0);
    uint64_t h[EQ_OPS];
    for (int i = 0; i < EQ_OPS; i++) {
        char text[64];
        snprintf(text, sizeof(text), "%s:eq:[host=a OR host=b]:[60s]", eq_ops[i]);
        sl_diag d;
        CHECK_EQ_INT(live_register(lr, text, strlen(text), &h[i], &d), 0);
    }
    srand(7);
    int64_t base = 1700000000ll * S_NS;
    int64_t t = base;
    int64_t newest = base;
    const char *hosts[] = {"host=a", "host=b", "host=c"};
    int late = 0;
    for (int i = 0; i < 6000; i++) {
        point_batch b;
        point_batch_init(&b);
        b.producer_id = (uint64_t)(i % 3 + 1);
        t += (rand() % 50) * 1000000ll; /* up to 50 ms apart */
        int64_t ts = t;
        if (rand() % 10 == 0) {
            ts -= (rand() % 30000) * 1000000ll; /* up to 30 s late */
            late++;
        }
        ts += i; /* unique timestamps: storage keeps one point per (series, ts), a live
                  * query counts every arrival (docs/PROTOCOLS.md) */
        if (ts > newest) newest = ts;
        double v = (double)(rand() % 2001 - 1000); /* integers: sums are exact */
        const char *host = i % 1000 == 999 ? hosts[0] : hosts[rand() % 3];
        add_point(&b, "eq", (const char *[]){host, NULL}, ts, v);
        CHECK_EQ_INT(storage_write(f.st, &b), 0);
        live_feed(lr, &b);
        point_batch_free(&b);
        if (i % 1000 == 999) { /* the point matched, so an event is pending */
            eq_compare(f.st, lr, h, newest);
            if (test_failed()) break;
        }
    }
    CHECK(late > 400);
    if (!test_failed()) CHECK_EQ_INT(storage_flush(f.st), 0);
    if (!test_failed()) {
        /* After a flush the historical side reads segments (block summaries). */
        point_batch b;
        point_batch_init(&b);
        b.producer_id = 9;
        add_point(&b, "eq", (const char *[]){"host=a", NULL}, newest + 1, 5);
        CHECK_EQ_INT(storage_write(f.st, &b), 0);
        live_feed(lr, &b);
        point_batch_free(&b);
        eq_compare(f.st, lr, h, newest + 1);
    }
    live_registry_free(lr);
    fx_close(&f);
}

TEST(a_historical_query_fails_cleanly_when_any_allocation_fails) {
    fixture f;
    if (!fx_open(&f)) return;
    write_cpu(f.st);
    const char *texts[] = {"SUM:cpu:[(host=a OR host=b) NOT dc=zz]", "P50:cpu:[]",
                           "AVG:cpu:[]:[0,100]:10ns"};
    for (size_t t = 0; t < 3; t++) {
        size_t before = mem_in_use(MEM_QUERY);
        int n;
        for (n = 1; n < 200; n++) {
            query_result r;
            sl_diag d;
            fault_arm(FAULT_ALLOC, n);
            int rc = hq(f.st, texts[t], &r, &d);
            fault_arm(FAULT_ALLOC, 0);
            if (rc == 0) {
                CHECK(r.value == (t == 0 ? 36 : t == 1 ? 3 : 7.2));
                query_result_free(&r);
                break;
            }
            CHECK_MSG(rc == -ENOMEM, "%s: rc %d (%s)", texts[t], rc, d.msg);
            CHECK(isnan(r.value));
            CHECK_EQ_INT(r.bucket_count, 0);
        }
        CHECK(n > 1);
        CHECK_EQ_U64(mem_in_use(MEM_QUERY), before);
    }
    fx_close(&f);
}

TEST(group_by_over_the_whole_time_line_is_refused_not_overflowed) {
    fixture f;
    if (!fx_open(&f)) return;
    CHECK_EQ_INT(write1(f.st, "e", NULL, INT64_MIN + 1, 1), 0);
    CHECK_EQ_INT(write1(f.st, "e", NULL, INT64_MAX, 2), 0);
    query_result r;
    sl_diag d;
    CHECK_EQ_INT(hq(f.st, "SUM:e:[]:[-9223372036854775808,9223372036854775807]:1ns", &r, &d),
                 SL_ELIMIT);
    /* Two buckets of 2^62 ns: the edges saturate instead of overflowing. */
    CHECK_EQ_INT(hq(f.st,
                    "SUM:e:[]:[-9223372036854775808,9223372036854775807]:4611686018427387904ns", &r,
                    &d),
                 0);
    CHECK(r.value == 3);
    CHECK_EQ_INT(r.bucket_count, 4);
    CHECK(r.bucket_value[0] == 1);
    CHECK(r.bucket_value[3] == 2);
    query_result_free(&r);
    fx_close(&f);
}
