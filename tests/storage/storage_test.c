/* storage_test.c - the storage contract as ingest and queries use it: write, read
 * back, aggregate, postings, last write wins, out-of-order points, restart. */
#include "base/buf.h"
#include "base/mem.h"
#include "base/serieskey.h"
#include "storage/storage.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

static void key_of(buf *k, const char *name, const char *const *tags, uint32_t n) {
    sk_view t[8], scratch[8];
    for (uint32_t i = 0; i < n; i++)
        t[i] = (sk_view){(const uint8_t *)tags[i], (uint32_t)strlen(tags[i])};
    buf_reset(k);
    serieskey_build(k, (sk_view){(const uint8_t *)name, (uint32_t)strlen(name)}, t, n, scratch);
}

static storage *open_dir(const char *dir) {
    storage_opts o;
    storage_opts_default(&o);
    o.dir = dir;
    storage *st = NULL;
    sl_diag d;
    if (storage_open(&o, &st, &d) < 0) fprintf(stderr, "open: %s\n", d.msg);
    return st;
}

typedef struct collected {
    int64_t ts[4096];
    double v[4096];
    uint32_t n;
} collected;

static int collect(int64_t ts, double v, void *arg) {
    collected *c = arg;
    if (c->n < 4096) {
        c->ts[c->n] = ts;
        c->v[c->n] = v;
    }
    c->n++;
    return 0;
}

TEST(written_points_are_visible_at_once_and_aggregate_exactly) {
    char dir[256];
    test_tmpdir(dir);
    storage *st = open_dir(dir);
    CHECK(st != NULL);
    buf k;
    buf_init(&k, MEM_MISC, 0);
    const char *tags[] = {"host=a"};
    key_of(&k, "cpu", tags, 1);
    point_batch b;
    point_batch_init(&b);
    for (int i = 0; i < 100; i++)
        CHECK(point_batch_add(&b, 1000 + i, i * 0.5, k.p, (uint32_t)k.len) == 0);
    CHECK(storage_write(st, &b) == 0);
    CHECK(b.seq == 1);
    CHECK(b.series_id[0] != 0);
    uint32_t id;
    CHECK(storage_series_lookup(st, k.p, k.len, &id) == 0);
    CHECK_EQ_INT(id, b.series_id[99]);
    storage_agg a;
    storage_agg_init(&a);
    CHECK(storage_aggregate(st, id, 1010, 1019, &a) == 0);
    CHECK_EQ_INT(a.count, 10);
    CHECK(a.sum == (10 + 11 + 12 + 13 + 14 + 15 + 16 + 17 + 18 + 19) * 0.5);
    CHECK(a.min == 5.0 && a.max == 9.5 && a.first == 5.0 && a.last == 9.5);
    CHECK(storage_sync(st) == 0);
    CHECK(storage_durable_seq(st) >= 1);
    point_batch_free(&b);
    buf_free(&k);
    storage_close(st);
    test_rmrf(dir);
}

TEST(the_same_timestamp_written_twice_keeps_the_last_write_in_memory_and_in_segments) {
    char dir[256];
    test_tmpdir(dir);
    storage *st = open_dir(dir);
    CHECK(st != NULL);
    buf k;
    buf_init(&k, MEM_MISC, 0);
    key_of(&k, "t", NULL, 0);
    point_batch b;
    point_batch_init(&b);
    for (int i = 0; i < 50; i++)
        point_batch_add(&b, i * 10, 1.0, k.p, (uint32_t)k.len);
    CHECK(storage_write(st, &b) == 0);
    uint32_t id = b.series_id[0];
    CHECK(storage_flush(st) == 0); /* first version in a segment */
    point_batch_reset(&b);
    for (int i = 0; i < 50; i += 2)
        point_batch_add(&b, i * 10, 2.0, k.p, (uint32_t)k.len);
    CHECK(storage_write(st, &b) == 0); /* overwrites in the memtable, late */
    storage_agg a;
    storage_agg_init(&a);
    CHECK(storage_aggregate(st, id, INT64_MIN, INT64_MAX, &a) == 0);
    CHECK_EQ_INT(a.count, 50);
    CHECK(a.sum == 25 * 1.0 + 25 * 2.0);
    CHECK(storage_flush(st) == 0);
    storage_agg_init(&a);
    CHECK(storage_aggregate(st, id, INT64_MIN, INT64_MAX, &a) == 0);
    CHECK_EQ_INT(a.count, 50);
    CHECK(a.sum == 75.0);
    CHECK(storage_compact(st) == 0);
    storage_agg_init(&a);
    CHECK(storage_aggregate(st, id, INT64_MIN, INT64_MAX, &a) == 0);
    CHECK_EQ_INT(a.count, 50);
    CHECK(a.sum == 75.0);
    storage_stats s;
    storage_get_stats(st, &s);
    CHECK_EQ_INT(s.segments, 1);
    point_batch_free(&b);
    buf_free(&k);
    storage_close(st);
    test_rmrf(dir);
}

TEST(late_points_in_random_order_are_returned_sorted_and_once) {
    char dir[256];
    test_tmpdir(dir);
    storage *st = open_dir(dir);
    CHECK(st != NULL);
    buf k;
    buf_init(&k, MEM_MISC, 0);
    key_of(&k, "late", NULL, 0);
    point_batch b;
    point_batch_init(&b);
    srand(7);
    static int64_t perm[3000];
    for (int i = 0; i < 3000; i++)
        perm[i] = i;
    for (int i = 2999; i > 0; i--) {
        int j = rand() % (i + 1);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    uint32_t id = 0;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 3000; i++) {
            point_batch_add(&b, perm[i] * 1000, (double)perm[i] + round, k.p, (uint32_t)k.len);
            if (b.count == 100) {
                CHECK(storage_write(st, &b) == 0);
                id = b.series_id[0];
                point_batch_reset(&b);
            }
        }
        if (round == 0) CHECK(storage_flush(st) == 0);
    }
    static collected c;
    c.n = 0;
    CHECK(storage_scan(st, id, INT64_MIN, INT64_MAX, collect, &c) == 0);
    CHECK_EQ_INT(c.n, 3000);
    for (uint32_t i = 0; i < c.n; i++) {
        CHECK_EQ_INT(c.ts[i], (int64_t)i * 1000);
        CHECK(c.v[i] == (double)i + 1);
    }
    point_batch_free(&b);
    buf_free(&k);
    storage_close(st);
    test_rmrf(dir);
}

TEST(postings_resolve_names_and_tags_and_survive_a_restart) {
    char dir[256];
    test_tmpdir(dir);
    storage *st = open_dir(dir);
    CHECK(st != NULL);
    buf k;
    buf_init(&k, MEM_MISC, 0);
    point_batch b;
    point_batch_init(&b);
    const char *hosts[] = {"host=a", "host=b", "host=c"};
    const char *envs[] = {"env=prod", "env=dev"};
    for (int h = 0; h < 3; h++)
        for (int e = 0; e < 2; e++) {
            const char *tags[] = {hosts[h], envs[e]};
            key_of(&k, "cpu", tags, 2);
            point_batch_add(&b, 1, 1.0, k.p, (uint32_t)k.len);
        }
    key_of(&k, "mem", hosts, 1);
    point_batch_add(&b, 1, 1.0, k.p, (uint32_t)k.len);
    CHECK(storage_write(st, &b) == 0);
    for (int pass = 0; pass < 2; pass++) {
        series_set all = {0}, prod = {0}, a = {0}, out = {0};
        CHECK(storage_postings_name(st, (const uint8_t *)"cpu", 3, 0, &all) == 0);
        CHECK_EQ_INT(all.count, 6);
        CHECK(storage_postings_tag(st, (const uint8_t *)"cpu", 3, (const uint8_t *)"env=prod", 8, 0,
                                   &prod) == 0);
        CHECK_EQ_INT(prod.count, 3);
        CHECK(storage_postings_tag(st, (const uint8_t *)"cpu", 3, (const uint8_t *)"host=a", 6, 0,
                                   &a) == 0);
        CHECK_EQ_INT(a.count, 2);
        CHECK(series_set_and(&prod, &a, &out) == 0);
        CHECK_EQ_INT(out.count, 1);
        CHECK(series_set_andnot(&all, &prod, &out) == 0);
        CHECK_EQ_INT(out.count, 3);
        CHECK(series_set_or(&prod, &a, &out) == 0);
        CHECK_EQ_INT(out.count, 4);
        CHECK(storage_postings_name(st, (const uint8_t *)"cpu", 3, 5, &all) == SL_ELIMIT);
        CHECK(storage_postings_name(st, (const uint8_t *)"nope", 4, 0, &all) == 0);
        CHECK_EQ_INT(all.count, 0);
        buf key;
        buf_init(&key, MEM_MISC, 0);
        CHECK(storage_series_key(st, out.ids[0], &key) == 0);
        uint32_t back;
        CHECK(storage_series_lookup(st, key.p, key.len, &back) == 0);
        CHECK_EQ_INT(back, out.ids[0]);
        buf_free(&key);
        series_set_free(&all);
        series_set_free(&prod);
        series_set_free(&a);
        series_set_free(&out);
        CHECK_EQ_INT(storage_series_count(st), 7);
        storage_close(st);
        st = open_dir(dir);
        CHECK(st != NULL);
    }
    storage_close(st);
    point_batch_free(&b);
    buf_free(&k);
    test_rmrf(dir);
}

TEST(restart_recovers_every_point_from_wal_and_segments) {
    char dir[256];
    test_tmpdir(dir);
    storage *st = open_dir(dir);
    CHECK(st != NULL);
    buf k;
    buf_init(&k, MEM_MISC, 0);
    point_batch b;
    point_batch_init(&b);
    char name[32];
    for (int s = 0; s < 20; s++) {
        snprintf(name, sizeof name, "s%d", s);
        key_of(&k, name, NULL, 0);
        for (int i = 0; i < 500; i++)
            point_batch_add(&b, (int64_t)i * 1000000000, s + i * 0.25, k.p, (uint32_t)k.len);
        CHECK(storage_write(st, &b) == 0);
        point_batch_reset(&b);
        if (s == 9) CHECK(storage_flush(st) == 0);
    }
    storage_close(st);
    st = open_dir(dir);
    CHECK(st != NULL);
    for (int s = 0; s < 20; s++) {
        snprintf(name, sizeof name, "s%d", s);
        key_of(&k, name, NULL, 0);
        uint32_t id;
        CHECK(storage_series_lookup(st, k.p, k.len, &id) == 0);
        storage_agg a;
        storage_agg_init(&a);
        CHECK(storage_aggregate(st, id, INT64_MIN, INT64_MAX, &a) == 0);
        CHECK_EQ_INT(a.count, 500);
        CHECK(a.first == s && a.last == s + 499 * 0.25);
    }
    /* New writes after recovery continue the sequence. */
    key_of(&k, "s0", NULL, 0);
    point_batch_add(&b, 1, 1, k.p, (uint32_t)k.len);
    CHECK(storage_write(st, &b) == 0);
    CHECK(b.seq == 21);
    storage_close(st);
    point_batch_free(&b);
    buf_free(&k);
    test_rmrf(dir);
}

static uint64_t segments_now(storage *st) {
    storage_stats s;
    storage_get_stats(st, &s);
    return s.segments;
}

TEST(background_compaction_keeps_segments_bounded_and_every_point) {
    char dir[256];
    test_tmpdir(dir);
    storage *st = open_dir(dir);
    CHECK(st != NULL);
    buf k;
    buf_init(&k, MEM_MISC, 0);
    key_of(&k, "tier", NULL, 0);
    point_batch b;
    point_batch_init(&b);
    uint32_t id = 0;
    for (int round = 0; round < 20; round++) {
        point_batch_reset(&b);
        int n = round % 4 == 0 ? 3000 : 200; /* uneven sizes exercise the tiers */
        for (int i = 0; i < n; i++)
            point_batch_add(&b, (int64_t)round * 10000 + i, 1.0, k.p, (uint32_t)k.len);
        CHECK(storage_write(st, &b) == 0);
        id = b.series_id[0];
        CHECK(storage_flush(st) == 0);
        CHECK(segments_now(st) <= STORAGE_SEGMENTS_COMPACT_AT + 1);
    }
    for (int w = 0; w < 200 && segments_now(st) >= STORAGE_SEGMENTS_COMPACT_AT; w++)
        usleep(10000);
    CHECK(segments_now(st) < STORAGE_SEGMENTS_COMPACT_AT);
    storage_agg a;
    storage_agg_init(&a);
    CHECK(storage_aggregate(st, id, INT64_MIN, INT64_MAX, &a) == 0);
    CHECK_EQ_INT(a.count, 5 * 3000 + 15 * 200);
    storage_close(st);
    point_batch_free(&b);
    buf_free(&k);
    test_rmrf(dir);
}

TEST(compaction_inputs_left_behind_by_a_crash_are_removed_and_never_resurface) {
    char dir[256], aside[256];
    test_tmpdir(dir);
    test_tmpdir(aside);
    storage *st = open_dir(dir);
    CHECK(st != NULL);
    buf k;
    buf_init(&k, MEM_MISC, 0);
    key_of(&k, "sup", NULL, 0);
    point_batch b;
    point_batch_init(&b);
    for (int v = 1; v <= 2; v++) {
        point_batch_reset(&b);
        for (int i = 0; i < 100; i++)
            point_batch_add(&b, i, (double)v, k.p, (uint32_t)k.len);
        CHECK(storage_write(st, &b) == 0);
        CHECK(storage_flush(st) == 0);
    }
    uint32_t id = b.series_id[0];
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cp %s/seg/*.seg %s/", dir, aside);
    CHECK(system(cmd) == 0);
    CHECK(storage_compact(st) == 0);
    CHECK_EQ_INT(segments_now(st), 1);
    storage_close(st);
    /* As if the process died after the result's rename, before the inputs' unlink. */
    snprintf(cmd, sizeof cmd, "cp %s/*.seg %s/seg/", aside, dir);
    CHECK(system(cmd) == 0);
    st = open_dir(dir);
    CHECK(st != NULL);
    CHECK_EQ_INT(segments_now(st), 1);
    storage_agg a;
    storage_agg_init(&a);
    CHECK(storage_aggregate(st, id, INT64_MIN, INT64_MAX, &a) == 0);
    CHECK_EQ_INT(a.count, 100);
    CHECK(a.sum == 200.0);
    storage_close(st);
    snprintf(cmd, sizeof cmd, "test $(ls %s/seg | wc -l) -eq 1", dir);
    CHECK(system(cmd) == 0);
    point_batch_free(&b);
    buf_free(&k);
    test_rmrf(dir);
    test_rmrf(aside);
}

TEST(an_old_memtable_is_flushed_by_age_and_a_read_only_open_changes_nothing) {
    char dir[256];
    test_tmpdir(dir);
    storage_opts o;
    storage_opts_default(&o);
    o.dir = dir;
    o.memtable_age_ms_max = 50;
    storage *st;
    sl_diag d;
    CHECK(storage_open(&o, &st, &d) == 0);
    buf k;
    buf_init(&k, MEM_MISC, 0);
    key_of(&k, "age", NULL, 0);
    point_batch b;
    point_batch_init(&b);
    point_batch_add(&b, 1, 1.0, k.p, (uint32_t)k.len);
    CHECK(storage_write(st, &b) == 0);
    usleep(100 * 1000);
    point_batch_reset(&b);
    point_batch_add(&b, 2, 2.0, k.p, (uint32_t)k.len);
    CHECK(storage_write(st, &b) == 0); /* this write finds the memtable too old */
    for (int w = 0; w < 200 && segments_now(st) == 0; w++)
        usleep(10000);
    CHECK_EQ_INT(segments_now(st), 1);
    storage_close(st);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -lR --time-style=+%%s.%%N %s > %s.before", dir, dir);
    CHECK(system(cmd) == 0);
    o.read_only = true;
    CHECK(storage_open(&o, &st, &d) == 0);
    uint32_t id;
    CHECK(storage_series_lookup(st, k.p, k.len, &id) == 0);
    storage_agg a;
    storage_agg_init(&a);
    CHECK(storage_aggregate(st, id, INT64_MIN, INT64_MAX, &a) == 0);
    CHECK_EQ_INT(a.count, 2);
    CHECK(storage_write(st, &b) == SL_EINVAL);
    storage_close(st);
    snprintf(cmd, sizeof cmd, "ls -lR --time-style=+%%s.%%N %s | diff -q - %s.before", dir, dir);
    CHECK_MSG(system(cmd) == 0, "a read-only open changed the directory");
    snprintf(cmd, sizeof cmd, "%s.before", dir);
    unlink(cmd);
    point_batch_free(&b);
    buf_free(&k);
    test_rmrf(dir);
}
