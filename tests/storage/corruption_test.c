/* corruption_test.c - flipped bytes and truncated files in a copy of a data
 * directory: storage reports them, never crashes, never returns a wrong point, and
 * when `check` calls a directory clean every point is there. */
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/serieskey.h"
#include "storage/storage.h"
#include "test.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define C_SERIES 5
#define C_POINTS 3000

static double value_of(int s, int64_t ts) {
    return s * 1000.0 + (double)(ts % 977) * 0.25;
}

static void key_of(buf *k, int s) {
    char name[16];
    snprintf(name, sizeof name, "c%d", s);
    sk_view scratch[1];
    buf_reset(k);
    serieskey_build(k, (sk_view){(const uint8_t *)name, (uint32_t)strlen(name)}, NULL, 0, scratch);
}

static int build_store(const char *dir) {
    storage_opts o;
    storage_opts_default(&o);
    o.dir = dir;
    storage *st;
    sl_diag d;
    if (storage_open(&o, &st, &d) < 0) return -1;
    buf k;
    buf_init(&k, MEM_MISC, 0);
    point_batch b;
    point_batch_init(&b);
    for (int part = 0; part < 3; part++) {
        for (int s = 0; s < C_SERIES; s++) {
            key_of(&k, s);
            for (int64_t i = part * 1000; i < (part + 1) * 1000; i++)
                point_batch_add(&b, i * 1000, value_of(s, i * 1000), k.p, (uint32_t)k.len);
            storage_write(st, &b);
            point_batch_reset(&b);
        }
        if (part == 0) storage_flush(st);
        if (part == 1) {
            storage_flush(st);
            storage_compact(st);
            storage_flush(st);
        }
    }
    /* part 0 + 1 in segments, part 2 in the WAL only */
    point_batch_free(&b);
    buf_free(&k);
    storage_close(st);
    return 0;
}

typedef struct seen {
    int s;
    uint64_t n;
    int wrong;
} seen;

static int check_point(int64_t ts, double v, void *arg) {
    seen *x = arg;
    if (v != value_of(x->s, ts) || ts % 1000 != 0 || ts < 0 || ts >= C_POINTS * 1000ll)
        x->wrong = 1;
    x->n++;
    return 0;
}

/* Files of the store, relative paths. */
static int list_files(const char *dir, char names[][300], int max) {
    int n = 0;
    const char *subs[] = {"", "wal/", "seg/"};
    for (int i = 0; i < 3; i++) {
        char p[400];
        snprintf(p, sizeof p, "%s/%s", dir, subs[i]);
        DIR *d = opendir(p);
        if (!d) continue;
        struct dirent *e;
        while ((e = readdir(d)) && n < max) {
            if (e->d_name[0] == '.' || !strcmp(e->d_name, "LOCK") || !strcmp(e->d_name, "wal") ||
                !strcmp(e->d_name, "seg"))
                continue;
            snprintf(names[n++], 300, "%s%.255s", subs[i], e->d_name);
        }
        closedir(d);
    }
    return n;
}

TEST(damaged_files_are_reported_and_never_crash_or_return_wrong_points) {
    char base[256], work[256];
    test_tmpdir(base);
    test_tmpdir(work);
    log_set_level(LOG_OFF);
    CHECK(build_store(base) == 0);
    char names[32][300];
    int nf = list_files(base, names, 32);
    CHECK(nf >= 3);
    srand(11);
    buf k, report;
    buf_init(&k, MEM_MISC, 0);
    buf_init(&report, MEM_MISC, 0);
    int reported = 0, opened = 0;
    for (int it = 0; it < 150; it++) {
        char cmd[900];
        snprintf(cmd, sizeof cmd, "rm -rf %s && cp -a %s %s", work, base, work);
        CHECK(system(cmd) == 0);
        const char *victim = names[it % nf];
        char path[600];
        snprintf(path, sizeof path, "%.255s/%.299s", work, victim);
        struct stat sb;
        CHECK(stat(path, &sb) == 0);
        bool truncated = it % 3 == 2;
        if (truncated) {
            CHECK(truncate(path, rand() % (sb.st_size + 1)) == 0);
        } else {
            int fd = open(path, O_RDWR);
            CHECK(fd >= 0);
            off_t off = rand() % sb.st_size;
            uint8_t c;
            CHECK(pread(fd, &c, 1, off) == 1);
            c ^= (uint8_t)(1 + rand() % 255);
            CHECK(pwrite(fd, &c, 1, off) == 1);
            close(fd);
        }
        buf_reset(&report);
        int crc = storage_check(work, &report);
        CHECK_MSG(crc == 0 || crc == SL_ECORRUPT, "check: %d", crc);
        if (crc == SL_ECORRUPT) reported++;
        storage_opts o;
        storage_opts_default(&o);
        o.dir = work;
        storage *st;
        sl_diag d;
        if (storage_open(&o, &st, &d) < 0) {
            /* Only the series index is essential; anything else must still open. */
            CHECK_MSG(strstr(victim, "series.log") != NULL, "%s damaged: open failed: %s", victim,
                      d.msg);
            CHECK(crc == SL_ECORRUPT);
            continue;
        }
        opened++;
        uint64_t total = 0;
        for (int s = 0; s < C_SERIES; s++) {
            key_of(&k, s);
            uint32_t id;
            if (storage_series_lookup(st, k.p, k.len, &id) < 0) continue;
            seen x = {.s = s};
            int rc = storage_scan(st, id, INT64_MIN, INT64_MAX, check_point, &x);
            CHECK(rc == 0 || rc == SL_ECORRUPT);
            CHECK_MSG(!x.wrong, "%s damaged: series %d returned a wrong point", victim, s);
            storage_agg a;
            storage_agg_init(&a);
            rc = storage_aggregate(st, id, INT64_MIN, INT64_MAX, &a);
            CHECK(rc == 0 || rc == SL_ECORRUPT);
            CHECK(a.count <= C_POINTS);
            total += x.n;
        }
        storage_close(st);
        if (crc == 0 && !truncated)
            CHECK_MSG(total == (uint64_t)C_SERIES * C_POINTS,
                      "%s damaged, check says clean, but %llu points of %d are served", victim,
                      (unsigned long long)total, C_SERIES * C_POINTS);
    }
    CHECK(reported > 50);
    CHECK(opened > 50);
    buf_free(&k);
    buf_free(&report);
    test_rmrf(work);
    test_rmrf(base);
}

TEST(check_reports_a_clean_directory_as_clean_and_names_a_damaged_block) {
    char dir[256];
    test_tmpdir(dir);
    log_set_level(LOG_OFF);
    CHECK(build_store(dir) == 0);
    buf out;
    buf_init(&out, MEM_MISC, 0);
    CHECK_MSG(storage_check(dir, &out) == 0, "%s", buf_cstr(&out));
    CHECK(strstr(buf_cstr(&out), "ok") != NULL);
    /* Damage the first block of the (only) segment. */
    char names[32][300];
    int nf = list_files(dir, names, 32);
    char path[600] = "";
    for (int i = 0; i < nf; i++)
        if (strstr(names[i], ".seg")) snprintf(path, sizeof path, "%.255s/%.299s", dir, names[i]);
    CHECK(path[0] != 0);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    uint8_t c;
    CHECK(pread(fd, &c, 1, 40) == 1);
    c ^= 0x55;
    CHECK(pwrite(fd, &c, 1, 40) == 1);
    close(fd);
    buf_reset(&out);
    CHECK(storage_check(dir, &out) == SL_ECORRUPT);
    CHECK_MSG(strstr(buf_cstr(&out), "block 0") != NULL, "%s", buf_cstr(&out));
    CHECK(strstr(buf_cstr(&out), ".seg") != NULL);
    /* The server still starts and serves the other series. */
    storage_opts o;
    storage_opts_default(&o);
    o.dir = dir;
    storage *st;
    sl_diag d;
    CHECK(storage_open(&o, &st, &d) == 0);
    storage_stats ss;
    storage_get_stats(st, &ss);
    CHECK_EQ_INT(ss.corrupt_blocks, 1);
    buf k;
    buf_init(&k, MEM_MISC, 0);
    key_of(&k, C_SERIES - 1);
    uint32_t id;
    CHECK(storage_series_lookup(st, k.p, k.len, &id) == 0);
    storage_agg a;
    storage_agg_init(&a);
    CHECK(storage_aggregate(st, id, INT64_MIN, INT64_MAX, &a) == 0);
    CHECK_EQ_INT(a.count, C_POINTS);
    storage_close(st);
    buf_free(&k);
    buf_free(&out);
    test_rmrf(dir);
}
