/* wal_test.c - WAL recovery: a torn tail is cut and everything before it replays; a
 * damaged frame in the middle is reported with file and offset and replay continues
 * past it; equal timestamps in one batch keep the last. */
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/serieskey.h"
#include "storage/storage.h"
#include "test.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static storage *open_dir(const char *dir) {
    storage_opts o;
    storage_opts_default(&o);
    o.dir = dir;
    storage *st = NULL;
    sl_diag d;
    if (storage_open(&o, &st, &d) < 0) fprintf(stderr, "open: %s\n", d.msg);
    return st;
}

/* Writes 3 batches of 10 points (ts 0..29) to series "w" and closes. */
static uint32_t three_batches(const char *dir) {
    storage *st = open_dir(dir);
    if (!st) return 0;
    buf k;
    buf_init(&k, MEM_MISC, 0);
    sk_view scratch[1];
    serieskey_build(&k, (sk_view){(const uint8_t *)"w", 1}, NULL, 0, scratch);
    point_batch b;
    point_batch_init(&b);
    uint32_t id = 0;
    for (int j = 0; j < 3; j++) {
        point_batch_reset(&b);
        for (int i = 0; i < 10; i++)
            point_batch_add(&b, j * 10 + i, 1.0, k.p, (uint32_t)k.len);
        if (storage_write(st, &b) != 0)
            id = 0;
        else
            id = b.series_id[0];
    }
    storage_close(st);
    point_batch_free(&b);
    buf_free(&k);
    return id;
}

static void wal_path(const char *dir, char *out, size_t n) {
    char wd[300];
    snprintf(wd, sizeof wd, "%s/wal", dir);
    DIR *d = opendir(wd);
    out[0] = 0;
    if (!d) return;
    struct dirent *e;
    off_t best = -1;
    while ((e = readdir(d))) {
        if (!strstr(e->d_name, ".wal")) continue;
        char p[600];
        snprintf(p, sizeof p, "%s/%.255s", wd, e->d_name);
        struct stat sb;
        if (stat(p, &sb) == 0 && sb.st_size > best) {
            best = sb.st_size;
            snprintf(out, n, "%s", p);
        }
    }
    closedir(d);
}

static uint64_t count(const char *dir, uint32_t id) {
    storage *st = open_dir(dir);
    if (!st) return UINT64_MAX;
    storage_agg a;
    storage_agg_init(&a);
    storage_aggregate(st, id, INT64_MIN, INT64_MAX, &a);
    storage_close(st);
    return a.count;
}

/* Frames are 16 + 8 + 20 * 10 = 224 bytes after the 32-byte header. */
#define FRAME_BYTES 224

TEST(wal_replay_cuts_a_torn_tail_and_keeps_earlier_frames) {
    char dir[256];
    test_tmpdir(dir);
    log_set_level(LOG_OFF);
    uint32_t id = three_batches(dir);
    CHECK(id != 0);
    char p[600];
    wal_path(dir, p, sizeof p);
    CHECK(p[0] != 0);
    struct stat sb;
    CHECK(stat(p, &sb) == 0);
    CHECK_EQ_INT(sb.st_size, 32 + 3 * FRAME_BYTES);
    CHECK(truncate(p, sb.st_size - 50) == 0); /* the third frame is torn */
    buf out;
    buf_init(&out, MEM_MISC, 0);
    CHECK(storage_check(dir, &out) == SL_ECORRUPT);
    CHECK_MSG(strstr(buf_cstr(&out), "torn tail") != NULL, "%s", buf_cstr(&out));
    CHECK_EQ_INT(count(dir, id), 20);
    /* Opening cut the tail: the directory is clean now and stays at 20 points. */
    buf_reset(&out);
    CHECK_MSG(storage_check(dir, &out) == 0, "%s", buf_cstr(&out));
    CHECK_EQ_INT(count(dir, id), 20);
    buf_free(&out);
    test_rmrf(dir);
}

TEST(wal_replay_reports_a_damaged_middle_frame_with_its_offset_and_continues_past_it) {
    char dir[256];
    test_tmpdir(dir);
    log_set_level(LOG_OFF);
    uint32_t id = three_batches(dir);
    CHECK(id != 0);
    char p[600];
    wal_path(dir, p, sizeof p);
    int fd = open(p, O_RDWR);
    CHECK(fd >= 0);
    off_t off = 32 + FRAME_BYTES + 100; /* inside frame 2's payload */
    uint8_t c;
    CHECK(pread(fd, &c, 1, off) == 1);
    c ^= 1;
    CHECK(pwrite(fd, &c, 1, off) == 1);
    close(fd);
    buf out;
    buf_init(&out, MEM_MISC, 0);
    CHECK(storage_check(dir, &out) == SL_ECORRUPT);
    char want[64];
    snprintf(want, sizeof want, "offset %d: damaged frame", 32 + FRAME_BYTES);
    CHECK_MSG(strstr(buf_cstr(&out), want) != NULL, "%s", buf_cstr(&out));
    CHECK_EQ_INT(count(dir, id), 20); /* frames 1 and 3 */
    buf_free(&out);
    test_rmrf(dir);
}

TEST(equal_timestamps_in_one_batch_keep_the_last_value) {
    char dir[256];
    test_tmpdir(dir);
    log_set_level(LOG_OFF);
    storage *st = open_dir(dir);
    CHECK(st != NULL);
    buf k;
    buf_init(&k, MEM_MISC, 0);
    sk_view scratch[1];
    serieskey_build(&k, (sk_view){(const uint8_t *)"eq", 2}, NULL, 0, scratch);
    point_batch b;
    point_batch_init(&b);
    for (int i = 0; i < 100; i++)
        point_batch_add(&b, 5, (double)i, k.p, (uint32_t)k.len);
    point_batch_add(&b, 3, 1.0, k.p, (uint32_t)k.len);
    point_batch_add(&b, 3, 2.0, k.p, (uint32_t)k.len);
    CHECK(storage_write(st, &b) == 0);
    uint32_t id = b.series_id[0];
    for (int pass = 0; pass < 2; pass++) {
        storage_agg a;
        storage_agg_init(&a);
        CHECK(storage_aggregate(st, id, INT64_MIN, INT64_MAX, &a) == 0);
        CHECK_EQ_INT(a.count, 2);
        CHECK(a.first_ts == 3 && a.first == 2.0);
        CHECK(a.last_ts == 5 && a.last == 99.0);
        CHECK(storage_flush(st) == 0);
    }
    storage_close(st);
    point_batch_free(&b);
    buf_free(&k);
    test_rmrf(dir);
}

TEST(wal_replay_finds_the_next_frame_when_a_damaged_frame_lies_about_its_length) {
    char dir[256];
    test_tmpdir(dir);
    log_set_level(LOG_OFF);
    uint32_t id = three_batches(dir);
    CHECK(id != 0);
    char p[600];
    wal_path(dir, p, sizeof p);
    int fd = open(p, O_RDWR);
    CHECK(fd >= 0);
    uint8_t len[4] = {0x10, 0x27, 0, 0}; /* frame 2 claims 10,000 bytes */
    CHECK(pwrite(fd, len, 4, 32 + FRAME_BYTES) == 4);
    close(fd);
    buf out;
    buf_init(&out, MEM_MISC, 0);
    CHECK(storage_check(dir, &out) == SL_ECORRUPT);
    char want[64];
    snprintf(want, sizeof want, "offset %d: damaged frames, seq 2..2 lost", 32 + FRAME_BYTES);
    CHECK_MSG(strstr(buf_cstr(&out), want) != NULL, "%s", buf_cstr(&out));
    CHECK_EQ_INT(count(dir, id), 20); /* frames 1 and 3; nothing cut */
    buf_free(&out);
    test_rmrf(dir);
}
