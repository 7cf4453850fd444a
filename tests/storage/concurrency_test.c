/* concurrency_test.c - readers on other threads see consistent answers while the
 * apply thread writes and the background thread flushes and compacts: every point
 * written before a read started is seen exactly once, values are never torn. Also
 * retention: data older than the configured age disappears from reads and, after
 * compaction, from disk. */
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/serieskey.h"
#include "storage/storage.h"
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define CC_SERIES 4

static void key_of(buf *k, int s) {
    char name[16];
    snprintf(name, sizeof name, "cc%d", s);
    sk_view scratch[1];
    buf_reset(k);
    serieskey_build(k, (sk_view){(const uint8_t *)name, (uint32_t)strlen(name)}, NULL, 0, scratch);
}

typedef struct shared {
    storage *st;
    uint32_t ids[CC_SERIES];
    atomic_long written[CC_SERIES]; /* points 0..written-1 of series s are in */
    atomic_bool stop;
    atomic_int errors;
    atomic_long reads;
} shared;

typedef struct scan_state {
    int64_t next; /* expected next ts */
    int bad;
} scan_state;

static int scan_cb(int64_t ts, double v, void *arg) {
    scan_state *s = arg;
    if (ts != s->next || v != (double)ts * 2.0) s->bad = 1;
    s->next = ts + 1;
    return s->bad;
}

static void *reader(void *arg) {
    shared *sh = arg;
    unsigned seed = 1;
    while (!atomic_load(&sh->stop)) {
        int s = (int)(rand_r(&seed) % CC_SERIES);
        long have = atomic_load(&sh->written[s]);
        if (have == 0) continue;
        storage_agg a;
        storage_agg_init(&a);
        if (storage_aggregate(sh->st, sh->ids[s], 0, have - 1, &a) != 0 ||
            a.count != (uint64_t)have || a.sum != (double)have * (double)(have - 1)) {
            atomic_fetch_add(&sh->errors, 1);
        }
        scan_state ss = {0};
        if (storage_scan(sh->st, sh->ids[s], 0, have - 1, scan_cb, &ss) != 0 || ss.bad ||
            ss.next != have)
            atomic_fetch_add(&sh->errors, 1);
        atomic_fetch_add(&sh->reads, 1);
    }
    return NULL;
}

TEST(readers_on_other_threads_see_every_written_point_during_flushes_and_compactions) {
    char dir[256];
    test_tmpdir(dir);
    log_set_level(LOG_WARN);
    storage_opts o;
    storage_opts_default(&o);
    o.dir = dir;
    o.memtable_bytes_max = 32 * 1024; /* many flushes, so compactions too */
    static shared sh;
    memset(&sh, 0, sizeof sh);
    sl_diag d;
    CHECK(storage_open(&o, &sh.st, &d) == 0);
    buf k;
    buf_init(&k, MEM_MISC, 0);
    point_batch b;
    point_batch_init(&b);
    for (int s = 0; s < CC_SERIES; s++) {
        key_of(&k, s);
        point_batch_reset(&b);
        point_batch_add(&b, 0, 0.0, k.p, (uint32_t)k.len);
        CHECK(storage_write(sh.st, &b) == 0);
        sh.ids[s] = b.series_id[0];
        atomic_store(&sh.written[s], 1);
    }
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, reader, &sh);
    long next[CC_SERIES] = {1, 1, 1, 1};
    for (int round = 0; round < 400; round++) {
        int s = round % CC_SERIES;
        key_of(&k, s);
        point_batch_reset(&b);
        /* Mostly in order; every fifth batch also rewrites some old points (same values). */
        for (int i = 0; i < 200; i++, next[s]++)
            point_batch_add(&b, next[s], (double)next[s] * 2.0, k.p, (uint32_t)k.len);
        if (round % 5 == 0)
            for (long t = 0; t < next[s]; t += 97)
                point_batch_add(&b, t, (double)t * 2.0, k.p, (uint32_t)k.len);
        CHECK(storage_write(sh.st, &b) == 0);
        atomic_store(&sh.written[s], next[s]);
        if (round % 100 == 99) CHECK(storage_compact(sh.st) == 0);
    }
    atomic_store(&sh.stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ_INT(atomic_load(&sh.errors), 0);
    CHECK(atomic_load(&sh.reads) > 10);
    storage_stats ss;
    storage_get_stats(sh.st, &ss);
    CHECK(ss.segments >= 1);
    storage_close(sh.st);
    point_batch_free(&b);
    buf_free(&k);
    test_rmrf(dir);
}

TEST(points_older_than_the_retention_age_disappear_from_reads_and_from_disk) {
    char dir[256];
    test_tmpdir(dir);
    log_set_level(LOG_WARN);
    storage_opts o;
    storage_opts_default(&o);
    o.dir = dir;
    o.retention_ns = 3600ll * 1000000000; /* one hour */
    storage *st;
    sl_diag d;
    CHECK(storage_open(&o, &st, &d) == 0);
    buf k;
    buf_init(&k, MEM_MISC, 0);
    key_of(&k, 0);
    point_batch b;
    point_batch_init(&b);
    int64_t now = clock_realtime_ns();
    for (int i = 0; i < 100; i++) /* 50 two hours old, 50 recent */
        point_batch_add(&b, now - (i < 50 ? 7200ll : 60ll) * 1000000000 + i, 1.0, k.p,
                        (uint32_t)k.len);
    CHECK(storage_write(st, &b) == 0);
    uint32_t id = b.series_id[0];
    storage_agg a;
    storage_agg_init(&a);
    CHECK(storage_aggregate(st, id, INT64_MIN, INT64_MAX, &a) == 0);
    CHECK_EQ_INT(a.count, 50);
    CHECK(storage_flush(st) == 0);
    CHECK(storage_compact(st) == 0);
    storage_close(st);
    /* Without retention, the old points are gone for good after compaction. */
    o.retention_ns = 0;
    CHECK(storage_open(&o, &st, &d) == 0);
    storage_agg_init(&a);
    CHECK(storage_aggregate(st, id, INT64_MIN, INT64_MAX, &a) == 0);
    CHECK_EQ_INT(a.count, 50);
    storage_close(st);
    point_batch_free(&b);
    buf_free(&k);
    test_rmrf(dir);
}
