/* bench_storage.c - storage figures for the goals (a benchmark, never a test).
 *   bench_storage [--shared DIR] [--tmp DIR] [--intervals N] [--per-file]
 * Reports, each on one line:
 *   NAB (DIR/data/nab): append points/s, bytes/point on disk (segments + series log)
 *   TSBS-like: 4,000 hosts x 10 metrics every 10 s for N intervals (default 250, so
 *     10 M points), integer random walks and a float (two-decimal) variant: append
 *     points/s on one core (the apply thread's storage_write), bytes/point on disk
 *   AVG over 1 M points of one series, warm (median of 20 runs), after compaction
 *   WAL replay: MB of WAL replayed per second at open (memtable never flushed)
 *   Series index: 1 M series (cpu,host=...,dc=...): creation rate, index bytes per
 *     series, postings lookup time, reopen time
 * fsync policy "none" for append figures: they measure the engine, not the disk. */
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/serieskey.h"
#include "storage/storage.h"
#include "storage/storage_internal.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char tmp_root[256] = "/tmp";

/* CPU time of the calling thread: append rates are points per CPU-second of the apply
 * thread, which stays meaningful when other processes share the cores. */
static int64_t thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void rmrf(const char *p) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    if (system(cmd) != 0) fprintf(stderr, "rm failed\n");
}

static uint64_t du_store(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd,
             "du -sb --exclude=wal --exclude=LOCK '%s/seg' '%s/series.log' | "
             "awk '{s+=$1} END {print s}'",
             dir, dir);
    FILE *p = popen(cmd, "r");
    unsigned long long n = 0;
    if (p) {
        if (fscanf(p, "%llu", &n) != 1) n = 0;
        pclose(p);
    }
    /* du counts the seg directory entry itself (4 KiB); take it back out. */
    return n > 4096 ? n - 4096 : n;
}

static storage *open_store(const char *dir, uint64_t memtable_max) {
    storage_opts o;
    storage_opts_default(&o);
    o.dir = dir;
    o.fsync = STORAGE_FSYNC_NONE;
    if (memtable_max) o.memtable_bytes_max = memtable_max;
    storage *st;
    sl_diag d;
    if (storage_open(&o, &st, &d) < 0) {
        fprintf(stderr, "open %s: %s\n", dir, d.msg);
        exit(1);
    }
    return st;
}

static void key_of(buf *k, const char *name, const char *tag1, const char *tag2) {
    sk_view t[2], scratch[2];
    uint32_t n = 0;
    if (tag1) t[n++] = (sk_view){(const uint8_t *)tag1, (uint32_t)strlen(tag1)};
    if (tag2) t[n++] = (sk_view){(const uint8_t *)tag2, (uint32_t)strlen(tag2)};
    buf_reset(k);
    serieskey_build(k, (sk_view){(const uint8_t *)name, (uint32_t)strlen(name)}, t, n, scratch);
}

/* ---- NAB ---- */

typedef struct series_data {
    char tag[200];
    int64_t *ts;
    double *v;
    uint32_t n;
} series_data;

static uint32_t load_nab(const char *shared, series_data *out, uint32_t max) {
    const char *dirs[] = {"artificialWithAnomaly", "realAWSCloudwatch", "realAdExchange",
                          "realKnownCause",        "realTraffic",       "realTweets",
                          "artificialNoAnomaly"};
    uint32_t n = 0;
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/data/nab/%s", shared, dirs[i]);
        DIR *d = opendir(p);
        if (!d) continue;
        struct dirent *e;
        while ((e = readdir(d)) && n < max) {
            size_t l = strlen(e->d_name);
            if (l < 5 || strcmp(e->d_name + l - 4, ".csv")) continue;
            char fp[900];
            snprintf(fp, sizeof fp, "%s/%s", p, e->d_name);
            FILE *f = fopen(fp, "r");
            if (!f) continue;
            series_data *s = &out[n];
            snprintf(s->tag, sizeof s->tag, "file=%s", e->d_name);
            uint32_t cap = 1024;
            s->ts = malloc(cap * sizeof(*s->ts));
            s->v = malloc(cap * sizeof(*s->v));
            s->n = 0;
            char line[256];
            while (fgets(line, sizeof line, f)) {
                struct tm tm = {0};
                char *rest = strptime(line, "%Y-%m-%d %H:%M:%S", &tm);
                if (!rest || *rest != ',') continue;
                if (s->n == cap) {
                    cap *= 2;
                    s->ts = realloc(s->ts, cap * sizeof(*s->ts));
                    s->v = realloc(s->v, cap * sizeof(*s->v));
                }
                s->ts[s->n] = (int64_t)timegm(&tm) * 1000000000;
                s->v[s->n++] = strtod(rest + 1, NULL);
            }
            fclose(f);
            if (s->n) n++;
        }
        closedir(d);
    }
    return n;
}

static int ts_cmp(const void *a, const void *b) {
    const int64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : (x[1] < y[1] ? -1 : 1);
}

/* Bytes the codec needs for one series (sorted, last write wins), for --per-file. */
static size_t codec_bytes(const series_data *s) {
    int64_t *pairs = malloc(s->n * 2 * sizeof(int64_t));
    for (uint32_t i = 0; i < s->n; i++) {
        pairs[2 * i] = s->ts[i];
        pairs[2 * i + 1] = i;
    }
    qsort(pairs, s->n, 2 * sizeof(int64_t), ts_cmp);
    int64_t *ts = malloc(s->n * sizeof(*ts));
    double *v = malloc(s->n * sizeof(*v));
    uint32_t k = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        if (i + 1 < s->n && pairs[2 * i + 2] == pairs[2 * i]) continue;
        ts[k] = pairs[2 * i];
        v[k++] = s->v[pairs[2 * i + 1]];
    }
    static uint8_t enc[CODEC_BYTES_MAX];
    size_t total = 0;
    for (uint32_t i = 0; i < k; i += STORAGE_BLOCK_POINTS_MAX) {
        uint32_t n = k - i < STORAGE_BLOCK_POINTS_MAX ? k - i : STORAGE_BLOCK_POINTS_MAX;
        size_t len;
        codec_encode(ts + i, v + i, n, enc, sizeof enc, &len);
        total += len + 88; /* + its index entry */
    }
    free(pairs);
    free(ts);
    free(v);
    return total;
}

static void bench_nab(const char *shared, bool per_file) {
    static series_data files[256];
    uint32_t nf = load_nab(shared, files, 256);
    if (nf == 0) {
        printf("NAB: no data under %s/data/nab, skipped\n", shared);
        return;
    }
    char dir[400];
    snprintf(dir, sizeof dir, "%s/bench-nab-%d", tmp_root, (int)getpid());
    rmrf(dir);
    storage *st = open_store(dir, 0);
    buf k;
    buf_init(&k, MEM_MISC, 0);
    point_batch b;
    point_batch_init(&b);
    uint64_t total = 0;
    int64_t t_write = 0, c_write = 0;
    for (uint32_t f = 0; f < nf; f++) {
        key_of(&k, "nab", files[f].tag, NULL);
        for (uint32_t i = 0; i < files[f].n; i++) {
            point_batch_add(&b, files[f].ts[i], files[f].v[i], k.p, (uint32_t)k.len);
            if (b.count == 10000 || i + 1 == files[f].n) {
                int64_t t0 = clock_mono_ns(), c0 = thread_cpu_ns();
                storage_write(st, &b);
                t_write += clock_mono_ns() - t0;
                c_write += thread_cpu_ns() - c0;
                point_batch_reset(&b);
            }
        }
        total += files[f].n;
    }
    storage_flush(st);
    storage_compact(st);
    storage_close(st);
    uint64_t bytes = du_store(dir);
    printf("NAB: %u series, %llu points: append %.2f M points/s per CPU-second (%.2f M/s wall); "
           "%.3f bytes/point on disk (segments + index + series log, %llu bytes)\n",
           nf, (unsigned long long)total, (double)total / ((double)c_write / 1e9) / 1e6,
           (double)total / ((double)t_write / 1e9) / 1e6, (double)bytes / (double)total,
           (unsigned long long)bytes);
    if (per_file) {
        for (uint32_t f = 0; f < nf; f++)
            printf("  %-60s %6u points %.3f bytes/point\n", files[f].tag, files[f].n,
                   (double)codec_bytes(&files[f]) / files[f].n);
    }
    for (uint32_t f = 0; f < nf; f++) {
        free(files[f].ts);
        free(files[f].v);
    }
    point_batch_free(&b);
    buf_free(&k);
    rmrf(dir);
}

/* ---- TSBS-like ---- */

#define HOSTS 4000
#define METRICS 10

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void bench_tsbs(uint32_t intervals, bool floats) {
    char dir[400];
    snprintf(dir, sizeof dir, "%s/bench-tsbs-%d", tmp_root, (int)getpid());
    rmrf(dir);
    storage *st = open_store(dir, 256ull << 20);
    static const char *metrics[METRICS] = {
        "usage_user", "usage_system",  "usage_idle",  "usage_nice",  "usage_iowait",
        "usage_irq",  "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"};
    /* Keys are built once; the timed part is storage_write of full batches. */
    uint32_t nseries = HOSTS * METRICS;
    buf *keys = malloc(nseries * sizeof(buf));
    double *state = malloc(nseries * sizeof(double));
    for (uint32_t h = 0; h < HOSTS; h++)
        for (uint32_t m = 0; m < METRICS; m++) {
            char host[32];
            snprintf(host, sizeof host, "hostname=host_%u", h);
            buf_init(&keys[h * METRICS + m], MEM_MISC, 0);
            key_of(&keys[h * METRICS + m], metrics[m], host, "region=eu-west-1");
            state[h * METRICS + m] = (double)(rng() % 100);
        }
    point_batch b;
    point_batch_init(&b);
    int64_t t_write = 0, c_write = 0;
    uint64_t total = 0;
    int64_t ts0 = 1700000000ll * 1000000000ll;
    for (uint32_t t = 0; t < intervals; t++) {
        for (uint32_t s = 0; s < nseries; s++) {
            double x = state[s];
            if (floats) {
                x += (double)((int64_t)(rng() % 201) - 100) / 100.0;
                x = (double)llround(x * 100) / 100.0;
            } else {
                x += (double)((int64_t)(rng() % 5) - 2);
            }
            state[s] = x;
            point_batch_add(&b, ts0 + (int64_t)t * 10000000000ll, x, keys[s].p,
                            (uint32_t)keys[s].len);
            if (b.count == 10000) {
                int64_t t0 = clock_mono_ns(), c0 = thread_cpu_ns();
                storage_write(st, &b);
                t_write += clock_mono_ns() - t0;
                c_write += thread_cpu_ns() - c0;
                total += b.count;
                point_batch_reset(&b);
            }
        }
    }
    if (b.count) {
        total += b.count;
        storage_write(st, &b);
    }
    storage_flush(st);
    storage_compact(st);
    storage_close(st);
    uint64_t bytes = du_store(dir);
    printf("TSBS-like %s: %u series x %u intervals = %llu points: append %.2f M points/s per "
           "CPU-second (%.2f M/s wall); %.3f bytes/point on disk (%llu bytes)\n",
           floats ? "float (2 decimals)" : "integer", nseries, intervals, (unsigned long long)total,
           (double)total / ((double)c_write / 1e9) / 1e6,
           (double)total / ((double)t_write / 1e9) / 1e6, (double)bytes / (double)total,
           (unsigned long long)bytes);
    for (uint32_t s = 0; s < nseries; s++)
        buf_free(&keys[s]);
    free(keys);
    free(state);
    point_batch_free(&b);
    rmrf(dir);
}

/* ---- aggregate and replay ---- */

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void bench_agg_and_replay(void) {
    char dir[400];
    snprintf(dir, sizeof dir, "%s/bench-agg-%d", tmp_root, (int)getpid());
    rmrf(dir);
    storage *st = open_store(dir, 1ull << 30);
    buf k;
    buf_init(&k, MEM_MISC, 0);
    key_of(&k, "one", "series=1", NULL);
    point_batch b;
    point_batch_init(&b);
    const uint32_t n = 1000000;
    double x = 0;
    for (uint32_t i = 0; i < n; i++) {
        x += (double)((int64_t)(rng() % 2001) - 1000) / 1000.0;
        point_batch_add(&b, (int64_t)i * 1000000000, x, k.p, (uint32_t)k.len);
        if (b.count == 50000) {
            storage_write(st, &b);
            point_batch_reset(&b);
        }
    }
    uint32_t id = b.series_id[0];
    storage_write(st, &b);
    storage_close(st);
    /* Replay: everything is still in the WAL (1 GiB memtable never flushed). */
    char wald[500];
    snprintf(wald, sizeof wald, "%s/wal", dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "du -sb '%s'", wald);
    FILE *p = popen(cmd, "r");
    unsigned long long wal_bytes = 0;
    if (p) {
        if (fscanf(p, "%llu", &wal_bytes) != 1) wal_bytes = 0;
        pclose(p);
    }
    int64_t t0 = clock_mono_ns();
    st = open_store(dir, 1ull << 30);
    double secs = (double)(clock_mono_ns() - t0) / 1e9;
    printf("WAL replay: %.1f MB in %.3f s = %.0f MB/s (%.1f s per GB)\n", wal_bytes / 1e6, secs,
           wal_bytes / 1e6 / secs, secs / (wal_bytes / 1e9));
    int64_t lat[20];
    storage_agg a;
    /* Memtable-only first (before flush), then from the compacted segment. */
    for (int r = 0; r < 20; r++) {
        storage_agg_init(&a);
        int64_t t1 = clock_mono_ns();
        storage_aggregate(st, id, INT64_MIN, INT64_MAX, &a);
        lat[r] = clock_mono_ns() - t1;
    }
    qsort(lat, 20, sizeof lat[0], cmp_i64);
    printf("AVG over %llu points of one series, in the memtable: median %.3f ms\n",
           (unsigned long long)a.count, lat[10] / 1e6);
    storage_flush(st);
    storage_compact(st);
    for (int r = 0; r < 20; r++) {
        storage_agg_init(&a);
        int64_t t1 = clock_mono_ns();
        storage_aggregate(st, id, INT64_MIN, INT64_MAX, &a);
        lat[r] = clock_mono_ns() - t1;
    }
    qsort(lat, 20, sizeof lat[0], cmp_i64);
    printf("AVG over %llu points of one series, from segments (warm): median %.3f ms\n",
           (unsigned long long)a.count, lat[10] / 1e6);
    /* An unaligned range: edge blocks decode, the middle uses summaries. */
    for (int r = 0; r < 20; r++) {
        storage_agg_init(&a);
        int64_t t1 = clock_mono_ns();
        storage_aggregate(st, id, 777ll * 1000000000, 999777ll * 1000000000, &a);
        lat[r] = clock_mono_ns() - t1;
    }
    qsort(lat, 20, sizeof lat[0], cmp_i64);
    printf("AVG over %llu points, range not aligned to blocks (warm): median %.3f ms\n",
           (unsigned long long)a.count, lat[10] / 1e6);
    storage_close(st);
    point_batch_free(&b);
    buf_free(&k);
    rmrf(dir);
}

/* ---- high cardinality ---- */

static void bench_cardinality(uint32_t nseries) {
    char dir[400];
    snprintf(dir, sizeof dir, "%s/bench-card-%d", tmp_root, (int)getpid());
    rmrf(dir);
    storage *st = open_store(dir, 1ull << 30);
    size_t idx0 = mem_in_use(MEM_INDEX);
    buf k;
    buf_init(&k, MEM_MISC, 0);
    point_batch b;
    point_batch_init(&b);
    int64_t t0 = clock_mono_ns();
    for (uint32_t i = 0; i < nseries; i++) {
        char host[32], dc[32];
        snprintf(host, sizeof host, "host=h%07u", i);
        snprintf(dc, sizeof dc, "dc=dc%u", i % 16);
        key_of(&k, "cpu", host, dc);
        point_batch_add(&b, 1, 1.0, k.p, (uint32_t)k.len);
        if (b.count == 10000 || i + 1 == nseries) {
            storage_write(st, &b);
            point_batch_reset(&b);
        }
    }
    double secs = (double)(clock_mono_ns() - t0) / 1e9;
    size_t idx = mem_in_use(MEM_INDEX) - idx0;
    series_set s = {0};
    int64_t t1 = clock_mono_ns();
    storage_postings_tag(st, (const uint8_t *)"cpu", 3, (const uint8_t *)"dc=dc3", 6, 0, &s);
    double post_ms = (double)(clock_mono_ns() - t1) / 1e6;
    printf("Series index: %u series created in %.2f s (%.0f k/s); index memory %.1f bytes/series; "
           "postings for one tag (%u series) in %.3f ms\n",
           nseries, secs, nseries / secs / 1e3, (double)idx / nseries, s.count, post_ms);
    series_set_free(&s);
    storage_close(st);
    t1 = clock_mono_ns();
    st = open_store(dir, 1ull << 30);
    printf("Series index: reopen with %u series in %.2f s\n", storage_series_count(st),
           (double)(clock_mono_ns() - t1) / 1e9);
    storage_close(st);
    point_batch_free(&b);
    buf_free(&k);
    rmrf(dir);
}

int main(int argc, char **argv) {
    const char *shared = "../shared";
    uint32_t intervals = 250;
    bool per_file = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--shared") && i + 1 < argc)
            shared = argv[++i];
        else if (!strcmp(argv[i], "--tmp") && i + 1 < argc)
            snprintf(tmp_root, sizeof tmp_root, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--intervals") && i + 1 < argc)
            intervals = (uint32_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--per-file"))
            per_file = true;
        else {
            fprintf(
                stderr,
                "usage: bench_storage [--shared DIR] [--tmp DIR] [--intervals N] [--per-file]\n");
            return 2;
        }
    }
    log_set_level(LOG_WARN);
    bench_nab(shared, per_file);
    bench_tsbs(intervals, false);
    bench_tsbs(intervals, true);
    bench_agg_and_replay();
    bench_cardinality(1000000);
    return 0;
}
