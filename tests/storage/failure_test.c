/* failure_test.c - disk full, failed fsync, failed allocation and bad directories
 * give a clear error and leave the store consistent: a failed write applies nothing
 * of its batch, and the store reopens with exactly the successful writes. */
#include "base/buf.h"
#include "base/fault.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/serieskey.h"
#include "storage/storage.h"
#include "test.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void key_of(buf *k, const char *name) {
    sk_view scratch[1];
    buf_reset(k);
    serieskey_build(k, (sk_view){(const uint8_t *)name, (uint32_t)strlen(name)}, NULL, 0, scratch);
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

static uint64_t count_of(storage *st, const char *name) {
    buf k;
    buf_init(&k, MEM_MISC, 0);
    key_of(&k, name);
    uint32_t id;
    uint64_t n = 0;
    if (storage_series_lookup(st, k.p, k.len, &id) == 0) {
        storage_agg a;
        storage_agg_init(&a);
        storage_aggregate(st, id, INT64_MIN, INT64_MAX, &a);
        n = a.count;
    }
    buf_free(&k);
    return n;
}

/* Builds the batch first, then arms alloc_fault_n (0 = none) for storage_write only. */
static int write_points_fault(storage *st, const char *name, int64_t t0, uint32_t n,
                              long alloc_fault_n) {
    buf k;
    buf_init(&k, MEM_MISC, 0);
    key_of(&k, name);
    point_batch b;
    point_batch_init(&b);
    for (uint32_t i = 0; i < n; i++)
        point_batch_add(&b, t0 + i, (double)i, k.p, (uint32_t)k.len);
    if (alloc_fault_n) fault_arm(FAULT_ALLOC, alloc_fault_n);
    int rc = storage_write(st, &b);
    fault_arm(FAULT_ALLOC, 0);
    point_batch_free(&b);
    buf_free(&k);
    return rc;
}

static int write_points(storage *st, const char *name, int64_t t0, uint32_t n) {
    return write_points_fault(st, name, t0, n, 0);
}

TEST(disk_full_on_a_write_is_a_clean_error_and_applies_nothing) {
    char dir[256];
    test_tmpdir(dir);
    log_set_level(LOG_OFF);
    storage *st = open_dir(dir);
    CHECK(st != NULL);
    CHECK(write_points(st, "a", 0, 10) == 0);
    /* The WAL frame write fails (the series exists already). */
    fault_arm(FAULT_WRITE, 1);
    CHECK_EQ_INT(write_points(st, "a", 100, 10), -ENOSPC);
    fault_arm(FAULT_WRITE, 0);
    CHECK_EQ_INT(count_of(st, "a"), 10);
    /* A new series whose series-log record cannot be written is not created. */
    fault_arm(FAULT_WRITE, 1);
    CHECK_EQ_INT(write_points(st, "b", 0, 10), -ENOSPC);
    fault_arm(FAULT_WRITE, 0);
    CHECK_EQ_INT(count_of(st, "b"), 0);
    /* Writing goes on once space is back. */
    CHECK(write_points(st, "a", 200, 10) == 0);
    CHECK(write_points(st, "b", 0, 5) == 0);
    storage_close(st);
    st = open_dir(dir);
    CHECK(st != NULL);
    CHECK_EQ_INT(count_of(st, "a"), 20);
    CHECK_EQ_INT(count_of(st, "b"), 5);
    buf out;
    buf_init(&out, MEM_MISC, 0);
    storage_close(st);
    CHECK_MSG(storage_check(dir, &out) == 0, "%s", buf_cstr(&out));
    buf_free(&out);
    test_rmrf(dir);
}

TEST(disk_full_during_a_flush_keeps_the_data_readable_and_in_the_wal) {
    char dir[256];
    test_tmpdir(dir);
    log_set_level(LOG_OFF);
    storage *st = open_dir(dir);
    CHECK(st != NULL);
    CHECK(write_points(st, "a", 0, 3000) == 0);
    fault_arm(FAULT_WRITE, 1);
    CHECK(storage_flush(st) < 0);
    fault_arm(FAULT_WRITE, 0);
    CHECK_EQ_INT(count_of(st, "a"), 3000);
    storage_close(st);
    st = open_dir(dir);
    CHECK(st != NULL);
    CHECK_EQ_INT(count_of(st, "a"), 3000);
    CHECK(storage_flush(st) == 0);
    CHECK_EQ_INT(count_of(st, "a"), 3000);
    storage_close(st);
    test_rmrf(dir);
}

TEST(a_failed_fsync_is_reported_and_does_not_advance_the_durable_seq) {
    char dir[256];
    test_tmpdir(dir);
    log_set_level(LOG_OFF);
    storage_opts o;
    storage_opts_default(&o);
    o.dir = dir;
    o.fsync = STORAGE_FSYNC_ALWAYS;
    o.fsync_interval_ms = 60000; /* the WAL thread's retry waits this long */
    storage *st;
    sl_diag d;
    CHECK(storage_open(&o, &st, &d) == 0);
    CHECK(write_points(st, "a", 0, 10) == 0);
    uint64_t before = storage_durable_seq(st);
    CHECK_EQ_INT(before, 1);
    fault_arm(FAULT_FSYNC, 1);
    CHECK(write_points(st, "a", 10, 10) == 0); /* applied; only durability waits */
    CHECK_EQ_INT(storage_durable_seq(st), before);
    CHECK(storage_sync(st) == 0);
    CHECK_EQ_INT(storage_durable_seq(st), 2);
    storage_close(st);
    test_rmrf(dir);
}

TEST(allocation_failure_at_any_point_of_a_write_applies_the_batch_whole_or_not_at_all) {
    char dir[256];
    test_tmpdir(dir);
    log_set_level(LOG_OFF);
    storage *st = open_dir(dir);
    CHECK(st != NULL);
    uint64_t have = 0;
    int failed = 0;
    char name[32];
    for (long n = 1; n < 200; n++) {
        snprintf(name, sizeof name, "s%ld", n % 3);
        uint64_t before = count_of(st, name);
        int rc = write_points_fault(st, name, (int64_t)n * 1000, 100, n % 12 + 1);
        uint64_t after = count_of(st, name);
        if (rc == 0) {
            CHECK_EQ_INT(after, before + 100);
            have += 100;
        } else {
            failed++;
            CHECK_MSG(after == before, "n=%ld rc=%d: %llu points before, %llu after", n, rc,
                      (unsigned long long)before, (unsigned long long)after);
        }
    }
    CHECK_MSG(failed > 0, "no injected allocation failure hit storage_write");
    uint64_t total = count_of(st, "s0") + count_of(st, "s1") + count_of(st, "s2");
    CHECK_EQ_INT(total, have);
    storage_close(st);
    st = open_dir(dir);
    CHECK(st != NULL);
    total = count_of(st, "s0") + count_of(st, "s1") + count_of(st, "s2");
    CHECK_EQ_INT(total, have);
    storage_close(st);
    test_rmrf(dir);
}

TEST(a_missing_parent_directory_or_a_file_in_the_way_is_a_clear_open_error) {
    storage_opts o;
    storage_opts_default(&o);
    storage *st = (storage *)1;
    sl_diag d;
    o.dir = "/nonexistent-slung-parent/data";
    CHECK_EQ_INT(storage_open(&o, &st, &d), -ENOENT);
    CHECK(st == NULL);
    CHECK_MSG(strstr(d.msg, "/nonexistent-slung-parent/data") != NULL, "%s", d.msg);
    char dir[256];
    test_tmpdir(dir);
    char file[300];
    snprintf(file, sizeof file, "%s/plain", dir);
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    fclose(f);
    o.dir = file;
    CHECK_EQ_INT(storage_open(&o, &st, &d), -ENOTDIR);
    CHECK(strstr(d.msg, "not a directory") != NULL);
    /* Two opens of one directory: the second is refused, not corrupting the first. */
    o.dir = dir;
    storage *a;
    CHECK(storage_open(&o, &a, &d) == 0);
    CHECK(storage_open(&o, &st, &d) < 0);
    CHECK(strstr(d.msg, "in use") != NULL);
    storage_close(a);
    test_rmrf(dir);
}

/* Opens dir in a child process that cannot write it: as root (CI) the child drops to
 * the unprivileged uid/gid 65534 first, since root ignores permission bits. Returns
 * the storage_open status; msg gets its diagnostic. */
static int open_without_permission(const char *dir, char *msg, size_t msg_cap) {
    int fds[2];
    if (pipe(fds) < 0) return -999;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0)) _exit(99);
        storage_opts o;
        storage_opts_default(&o);
        o.dir = dir;
        storage *st = NULL;
        sl_diag d;
        int rc = storage_open(&o, &st, &d);
        if (rc == 0) storage_close(st);
        char line[600];
        int n = snprintf(line, sizeof line, "%d %s", rc, rc < 0 ? d.msg : "");
        ssize_t w = write(fds[1], line, (size_t)n);
        _exit(w == n ? 0 : 98);
    }
    close(fds[1]);
    char line[600] = {0};
    ssize_t got = read(fds[0], line, sizeof line - 1);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (got <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -999;
    int rc = atoi(line);
    const char *sp = strchr(line, ' ');
    snprintf(msg, msg_cap, "%s", sp ? sp + 1 : "");
    return rc;
}

TEST(a_data_directory_without_permission_is_a_clear_open_error_and_stays_intact) {
    char dir[256];
    test_tmpdir(dir);
    log_set_level(LOG_OFF);
    CHECK(chmod(dir, 0755) == 0); /* others may enter the parent, not write in it */
    char data[300];
    snprintf(data, sizeof data, "%s/data", dir);
    char msg[600];
    /* A directory that cannot be created. */
    CHECK_EQ_INT(open_without_permission(data, msg, sizeof msg), -EACCES);
    CHECK_MSG(strstr(msg, data) != NULL && strstr(msg, "ermission denied") != NULL, "%s", msg);
    /* An existing store whose files the server's user cannot write. */
    storage *st = open_dir(data);
    CHECK(st != NULL);
    CHECK(write_points(st, "a", 0, 10) == 0);
    storage_close(st);
    CHECK(chmod(data, 0755) == 0);
    CHECK_EQ_INT(open_without_permission(data, msg, sizeof msg), -EACCES);
    CHECK_MSG(strstr(msg, "ermission denied") != NULL, "%s", msg);
    /* The refused open changed nothing: the owner still reads every point. */
    st = open_dir(data);
    CHECK(st != NULL);
    CHECK_EQ_INT(count_of(st, "a"), 10);
    storage_close(st);
    buf out;
    buf_init(&out, MEM_MISC, 0);
    CHECK_MSG(storage_check(data, &out) == 0, "%s", buf_cstr(&out));
    buf_free(&out);
    test_rmrf(dir);
}

TEST(the_series_limit_refuses_the_whole_batch_that_would_pass_it) {
    char dir[256];
    test_tmpdir(dir);
    log_set_level(LOG_OFF);
    storage_opts o;
    storage_opts_default(&o);
    o.dir = dir;
    o.series_max = 2;
    storage *st;
    sl_diag d;
    CHECK(storage_open(&o, &st, &d) == 0);
    CHECK(write_points(st, "a", 0, 5) == 0);
    CHECK(write_points(st, "b", 0, 5) == 0);
    CHECK_EQ_INT(write_points(st, "c", 0, 5), SL_ELIMIT);
    CHECK_EQ_INT(count_of(st, "c"), 0);
    CHECK_EQ_INT(storage_series_count(st), 2);
    CHECK(write_points(st, "a", 100, 5) == 0); /* known series still take points */
    CHECK_EQ_INT(count_of(st, "a"), 10);
    storage_close(st);
    /* One batch of three new series against a limit that allows two: none is created. */
    o.series_max = 4;
    CHECK(storage_open(&o, &st, &d) == 0);
    buf k;
    buf_init(&k, MEM_MISC, 0);
    point_batch b;
    point_batch_init(&b);
    const char *names[] = {"x", "y", "z", "x"};
    for (int i = 0; i < 4; i++) {
        key_of(&k, names[i]);
        point_batch_add(&b, i, 1.0, k.p, (uint32_t)k.len);
    }
    CHECK_EQ_INT(storage_write(st, &b), SL_ELIMIT);
    CHECK_EQ_INT(storage_series_count(st), 2);
    point_batch_truncate(&b, 3); /* x, y, z: still three new */
    CHECK_EQ_INT(storage_write(st, &b), SL_ELIMIT);
    point_batch_truncate(&b, 2); /* x, y: fits */
    CHECK(storage_write(st, &b) == 0);
    CHECK_EQ_INT(storage_series_count(st), 4);
    storage_close(st);
    st = open_dir(dir);
    CHECK(st != NULL);
    CHECK_EQ_INT(storage_series_count(st), 4);
    CHECK_EQ_INT(count_of(st, "x"), 1);
    storage_close(st);
    point_batch_free(&b);
    buf_free(&k);
    test_rmrf(dir);
}
