/* bench_history.c - historical query latency (GET /query's work without HTTP).
 *
 * 1. One series, 1,000,000 points (1 ms apart), flushed to segments: AVG and MAX over
 *    all of it (goal <= 1 ms warm; the original server took 160 ms).
 * 2. 4,000 series (tag host=hN, dc=x), one point per 10 s for the last hour
 *    (1.44 M points), flushed: AVG:cpu:[dc=x]:[1h] and MAX:cpu:[]:[1h] (goal <= 20 ms).
 * Each figure is the median of 21 runs after one warm-up run, single thread.
 * Usage: bench_history [dir] (default: a fresh directory under /tmp, removed after). */
#include "base/buf.h"
#include "base/clock.h"
#include "base/common.h"
#include "base/serieskey.h"
#include "query/query.h"
#include "storage/storage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void bench(storage *st, const char *text) {
    enum { RUNS = 21 };
    int64_t t[RUNS];
    query_limits lim = {.series_max = 100000, .buckets_max = 0};
    query_result r;
    sl_diag d;
    if (query_history(st, text, strlen(text), &lim, &r, &d) != 0) {
        fprintf(stderr, "%s: %s\n", text, d.msg);
        exit(1);
    }
    query_result_free(&r);
    for (int i = 0; i < RUNS; i++) {
        int64_t t0 = clock_mono_ns();
        SL_ASSERT(query_history(st, text, strlen(text), &lim, &r, &d) == 0);
        t[i] = clock_mono_ns() - t0;
        query_result_free(&r);
    }
    qsort(t, RUNS, sizeof(t[0]), cmp_i64);
    printf("%-32s %10.3f ms median (min %.3f, max %.3f), value %.6g over %llu points\n", text,
           t[RUNS / 2] / 1e6, t[0] / 1e6, t[RUNS - 1] / 1e6, r.value, (unsigned long long)r.count);
}

static void key_for(buf *k, const char *name, const char *t1, const char *t2) {
    sk_view tags[2] = {{(const uint8_t *)t1, (uint32_t)strlen(t1)},
                       {(const uint8_t *)t2, (uint32_t)strlen(t2)}};
    sk_view scratch[2];
    buf_reset(k);
    serieskey_build(k, (sk_view){(const uint8_t *)name, (uint32_t)strlen(name)}, tags, 2, scratch);
}

int main(int argc, char **argv) {
    char dir[256];
    bool own = argc < 2;
    if (own) {
        snprintf(dir, sizeof(dir), "/tmp/slung-bench-query-XXXXXX");
        if (!mkdtemp(dir)) return 1;
    } else {
        snprintf(dir, sizeof(dir), "%s", argv[1]);
    }
    storage_opts o;
    storage_opts_default(&o);
    o.dir = dir;
    o.fsync = STORAGE_FSYNC_NONE;
    storage *st;
    sl_diag d;
    if (storage_open(&o, &st, &d) != 0) {
        fprintf(stderr, "storage_open: %s\n", d.msg);
        return 1;
    }
    buf k;
    buf_init(&k, MEM_MISC, 0);
    point_batch b;
    point_batch_init(&b);
    int64_t now = clock_realtime_ns();
    int64_t t0 = now - 1000000ll * 1000000; /* 1 M ms ago */
    key_for(&k, "one", "host=a", "dc=x");
    for (int i = 0; i < 1000000; i++) {
        SL_ASSERT(point_batch_add(&b, t0 + (int64_t)i * 1000000, (double)(i % 1000), k.p,
                                  (uint32_t)k.len) == 0);
        if (b.count == 10000) {
            SL_ASSERT(storage_write(st, &b) == 0);
            point_batch_reset(&b);
        }
    }
    for (int s = 0; s < 4000; s++) {
        char host[32];
        snprintf(host, sizeof(host), "host=h%d", s);
        key_for(&k, "cpu", host, "dc=x");
        for (int i = 0; i < 360; i++) {
            SL_ASSERT(point_batch_add(&b, now - 3590ll * 1000000000 + (int64_t)i * 10000000000,
                                      (double)((s + i) % 100), k.p, (uint32_t)k.len) == 0);
            if (b.count == 10000) {
                SL_ASSERT(storage_write(st, &b) == 0);
                point_batch_reset(&b);
            }
        }
    }
    if (b.count) SL_ASSERT(storage_write(st, &b) == 0);
    point_batch_free(&b);
    buf_free(&k);
    int64_t tf = clock_mono_ns();
    SL_ASSERT(storage_flush(st) == 0);
    printf("wrote 2.44 M points, flushed in %.0f ms\n", (clock_mono_ns() - tf) / 1e6);
    bench(st, "AVG:one:[host=a]");
    bench(st, "MAX:one:[host=a]");
    bench(st, "AVG:one:[]:[900s]");
    bench(st, "AVG:cpu:[dc=x]:[1h]");
    bench(st, "MAX:cpu:[]:[1h]");
    bench(st, "AVG:cpu:[]:[1h]:1m");
    bench(st, "AVG:cpu:[]:[1h]:10m");
    bench(st, "AVG:one:[]:[1000s]:100s");
    storage_close(st);
    if (own) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0) return 1;
    }
    return 0;
}
