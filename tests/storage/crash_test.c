/* crash_test.c - kill -9 at random moments: every acknowledged (durable) point is
 * there after recovery, exactly once, with its value; the store always opens.
 *
 * A forked child opens the store (small memtable, so flushes and compactions run
 * and get killed too), writes batches whose content is a pure function of their WAL
 * seq, and reports each durable seq to the parent over a pipe from the durable
 * callback. The parent SIGKILLs it after a random delay, reopens the directory and
 * checks every point of every seq reported durable. Iterations rotate through the
 * fsync policies (batch, always, none). SLUNG_CRASH_ITERS sets the
 * iterations (200 here; scripts/crash-nightly.sh runs more). */
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/serieskey.h"
#include "storage/storage.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CRASH_SERIES 7

static int report_fd = -1;

static void on_durable(uint64_t seq, void *arg) {
    (void)arg;
    ssize_t k = write(report_fd, &seq, sizeof seq);
    (void)k;
}

static void series_key(buf *k, uint64_t s) {
    char tag[16];
    snprintf(tag, sizeof tag, "k=%u", (unsigned)(s % CRASH_SERIES));
    sk_view t = {(const uint8_t *)tag, (uint32_t)strlen(tag)}, scratch[1];
    buf_reset(k);
    serieskey_build(k, (sk_view){(const uint8_t *)"crash", 5}, &t, 1, scratch);
}

static uint32_t points_of(uint64_t s) {
    return 1 + (uint32_t)(s % 50);
}
static double value_of(uint64_t s, uint32_t i) {
    return (double)s * 0.5 + i;
}

static void child_run(const char *dir, int fd, storage_fsync policy) {
    report_fd = fd;
    log_set_level(LOG_ERROR);
    storage_opts o;
    storage_opts_default(&o);
    o.dir = dir;
    o.fsync = policy; /* each policy's "durable" must survive kill -9 */
    o.memtable_bytes_max = 64 * 1024;
    o.durable_cb = on_durable;
    storage *st;
    sl_diag d;
    if (storage_open(&o, &st, &d) < 0) {
        fprintf(stderr, "child: open: %s\n", d.msg);
        _exit(3);
    }
    buf k;
    buf_init(&k, MEM_MISC, 0);
    point_batch b;
    point_batch_init(&b);
    for (;;) {
        /* The next seq is the last written + 1; storage assigns it in order. */
        static uint64_t next;
        if (next == 0) next = storage_durable_seq(st) + 1;
        series_key(&k, next);
        point_batch_reset(&b);
        for (uint32_t i = 0; i < points_of(next); i++)
            point_batch_add(&b, (int64_t)next * 1000 + i, value_of(next, i), k.p, (uint32_t)k.len);
        if (storage_write(st, &b) < 0) _exit(4);
        if (b.seq != next) _exit(5);
        next++;
    }
}

typedef struct verify {
    uint32_t *count; /* [cap] points seen per seq */
    uint64_t cap;
    int bad;
    char why[200];
} verify;

static int verify_point(int64_t ts, double v, void *arg) {
    verify *vf = arg;
    uint64_t s = (uint64_t)(ts / 1000);
    uint32_t i = (uint32_t)(ts % 1000);
    if (ts < 0 || i >= points_of(s) || v != value_of(s, i)) {
        vf->bad = 1;
        snprintf(vf->why, sizeof vf->why, "unexpected point ts=%lld v=%g", (long long)ts, v);
        return 1;
    }
    if (s < vf->cap) vf->count[s]++;
    return 0;
}

/* Every point the store returns is one we wrote, and every seq <= durable_max is there
 * in full. One scan per series. */
static int verify_store(const char *dir, uint64_t durable_max, char *why, size_t why_n) {
    storage_opts o;
    storage_opts_default(&o);
    o.dir = dir;
    o.memtable_bytes_max = 64 * 1024;
    storage *st;
    sl_diag d;
    if (storage_open(&o, &st, &d) < 0) {
        snprintf(why, why_n, "store does not open: %s", d.msg);
        return -1;
    }
    int rc = 0;
    buf k;
    buf_init(&k, MEM_MISC, 0);
    verify vf = {.cap = durable_max + 1};
    vf.count = calloc(vf.cap, sizeof(*vf.count));
    for (uint64_t s = 0; s < CRASH_SERIES && rc == 0; s++) {
        series_key(&k, s);
        uint32_t id;
        if (storage_series_lookup(st, k.p, k.len, &id) < 0) continue;
        storage_scan(st, id, INT64_MIN, INT64_MAX, verify_point, &vf);
        if (vf.bad) {
            snprintf(why, why_n, "%s", vf.why);
            rc = -1;
        }
    }
    for (uint64_t s = 1; s <= durable_max && rc == 0; s++) {
        if (vf.count[s] != points_of(s)) {
            snprintf(why, why_n, "durable seq %llu: %u points of %u", (unsigned long long)s,
                     vf.count[s], points_of(s));
            rc = -1;
        }
    }
    free(vf.count);
    buf_free(&k);
    storage_close(st);
    return rc;
}

TEST(every_acknowledged_point_survives_kill_9_at_random_moments) {
    /* kill -9 keeps what reached the OS, so fsync only costs time here: use tmpfs when
     * there is one (the suite shares a loaded disk). */
    char dir[256];
    const char *tmp = getenv("TMPDIR");
    if (access("/dev/shm", W_OK) == 0) setenv("TMPDIR", "/dev/shm", 1);
    test_tmpdir(dir);
    if (tmp)
        setenv("TMPDIR", tmp, 1);
    else
        unsetenv("TMPDIR");
    const char *env = getenv("SLUNG_CRASH_ITERS");
    int iters = env ? atoi(env) : 200;
    log_set_level(LOG_ERROR);
    uint64_t durable_max = 0;
    srand((unsigned)time(NULL));
    for (int it = 0; it < iters; it++) {
        int p[2];
        CHECK(pipe(p) == 0);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            child_run(dir, p[1], (storage_fsync)(it % 3));
            _exit(0);
        }
        close(p[1]);
        usleep((useconds_t)(1000 + rand() % 40000));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        CHECK_MSG(WIFSIGNALED(status), "child exited on its own with status %d (iteration %d)",
                  WEXITSTATUS(status), it);
        uint64_t seq;
        ssize_t n;
        while ((n = read(p[0], &seq, sizeof seq)) == (ssize_t)sizeof seq)
            if (seq > durable_max) durable_max = seq;
        close(p[0]);
        char why[256];
        CHECK_MSG(verify_store(dir, durable_max, why, sizeof why) == 0, "iteration %d: %s", it,
                  why);
    }
    CHECK_MSG(durable_max > 0, "no batch was ever reported durable");
    printf("  %d kills, %llu batches durable\n", iters, (unsigned long long)durable_max);
    test_rmrf(dir);
}
