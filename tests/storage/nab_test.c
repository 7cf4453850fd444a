/* nab_test.c - every series of the NAB corpus (../shared/data/nab, real data)
 * comes back bit-exact after a write, a flush into compressed segments, compaction
 * and a restart; and the store stays under the size goal per point. */
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/serieskey.h"
#include "storage/storage.h"
#include "storage/storage_internal.h"
#include "test.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#define NAB_FILES_MAX 128
#define NAB_POINTS_MAX 40000

typedef struct nab_series {
    char name[160];
    int64_t *ts;
    double *v;
    uint32_t n;
} nab_series;

static nab_series files[NAB_FILES_MAX];
static uint32_t n_files;

static int parse_csv(const char *path, nab_series *s) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[256];
    s->ts = malloc(NAB_POINTS_MAX * sizeof(*s->ts));
    s->v = malloc(NAB_POINTS_MAX * sizeof(*s->v));
    s->n = 0;
    while (fgets(line, sizeof line, f) && s->n < NAB_POINTS_MAX) {
        struct tm tm = {0};
        char *rest = strptime(line, "%Y-%m-%d %H:%M:%S", &tm);
        if (!rest || *rest != ',') continue; /* the header line */
        s->ts[s->n] = (int64_t)timegm(&tm) * 1000000000;
        s->v[s->n] = strtod(rest + 1, NULL);
        s->n++;
    }
    fclose(f);
    return 0;
}

static void load_nab(const char *root) {
    const char *dirs[] = {"artificialWithAnomaly", "realAWSCloudwatch", "realAdExchange",
                          "realKnownCause",        "realTraffic",       "realTweets",
                          "artificialNoAnomaly"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/data/nab/%s", root, dirs[i]);
        DIR *d = opendir(p);
        if (!d) continue;
        struct dirent *e;
        while ((e = readdir(d)) && n_files < NAB_FILES_MAX) {
            size_t l = strlen(e->d_name);
            if (l < 5 || strcmp(e->d_name + l - 4, ".csv")) continue;
            char fp[800];
            snprintf(fp, sizeof fp, "%s/%s", p, e->d_name);
            nab_series *s = &files[n_files];
            snprintf(s->name, sizeof s->name, "file=%s/%s", dirs[i], e->d_name);
            if (parse_csv(fp, s) == 0 && s->n > 0) n_files++;
        }
        closedir(d);
    }
}

static void key_of(buf *k, const char *tag) {
    sk_view t = {(const uint8_t *)tag, (uint32_t)strlen(tag)}, scratch[1];
    buf_reset(k);
    serieskey_build(k, (sk_view){(const uint8_t *)"nab", 3}, &t, 1, scratch);
}

/* Expected answer: the file's points sorted by time, a repeated timestamp keeping the
 * value that came last in the file (NAB has both: some files go back in time). */
typedef struct ent {
    int64_t ts;
    uint32_t idx;
} ent;

static int ent_cmp(const void *a, const void *b) {
    const ent *x = a, *y = b;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->idx < y->idx ? -1 : 1;
}

static uint32_t expected(const nab_series *s, int64_t *ts, double *v) {
    ent *e = malloc(s->n * sizeof(*e));
    for (uint32_t i = 0; i < s->n; i++)
        e[i] = (ent){s->ts[i], i};
    qsort(e, s->n, sizeof(*e), ent_cmp);
    uint32_t k = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        if (i + 1 < s->n && e[i + 1].ts == e[i].ts) continue;
        ts[k] = e[i].ts;
        v[k++] = s->v[e[i].idx];
    }
    free(e);
    return k;
}

typedef struct cmp {
    const int64_t *ts;
    const double *v;
    uint32_t n;
    uint32_t i;
    int bad;
} cmp;

static int cmp_point(int64_t ts, double v, void *arg) {
    cmp *c = arg;
    if (c->i >= c->n || c->ts[c->i] != ts) {
        c->bad = 1;
        return 1;
    }
    if (memcmp(&v, &c->v[c->i], 8) != 0) {
        c->bad = 2;
        return 1;
    }
    c->i++;
    return 0;
}

static uint64_t du(const char *dir) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "du -sb --exclude=wal %s", dir);
    FILE *p = popen(cmd, "r");
    unsigned long long n = 0;
    if (p) {
        if (fscanf(p, "%llu", &n) != 1) n = 0;
        pclose(p);
    }
    return n;
}

TEST(every_nab_series_round_trips_bit_exact_through_segments_and_a_restart) {
    const char *shared = test_shared_dir();
    if (!shared) {
        test_skip("../shared (NAB data) is absent");
        return;
    }
    load_nab(shared);
    if (n_files == 0) {
        test_skip("no NAB CSV files under ../shared/data/nab");
        return;
    }
    log_set_level(LOG_WARN);
    char dir[256];
    test_tmpdir(dir);
    storage_opts o;
    storage_opts_default(&o);
    o.dir = dir;
    storage *st;
    sl_diag d;
    CHECK(storage_open(&o, &st, &d) == 0);
    buf k;
    buf_init(&k, MEM_MISC, 0);
    point_batch b;
    point_batch_init(&b);
    uint64_t total = 0;
    for (uint32_t f = 0; f < n_files; f++) {
        key_of(&k, files[f].name);
        for (uint32_t i = 0; i < files[f].n; i++) {
            CHECK(point_batch_add(&b, files[f].ts[i], files[f].v[i], k.p, (uint32_t)k.len) == 0);
            if (b.count == 5000) {
                CHECK(storage_write(st, &b) == 0);
                point_batch_reset(&b);
            }
        }
        total += files[f].n;
        if (f == n_files / 2) CHECK(storage_flush(st) == 0);
    }
    if (b.count) CHECK(storage_write(st, &b) == 0);
    CHECK(storage_flush(st) == 0);
    CHECK(storage_compact(st) == 0);
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t f = 0; f < n_files; f++) {
            key_of(&k, files[f].name);
            uint32_t id;
            CHECK(storage_series_lookup(st, k.p, k.len, &id) == 0);
            static int64_t ets[NAB_POINTS_MAX];
            static double ev[NAB_POINTS_MAX];
            cmp c = {.ts = ets, .v = ev, .n = expected(&files[f], ets, ev)};
            int rc = storage_scan(st, id, INT64_MIN, INT64_MAX, cmp_point, &c);
            CHECK_MSG(rc == 0 && c.bad == 0, "%s: rc %d, mismatch (%d) after point %u of %u",
                      files[f].name, rc, c.bad, c.i, files[f].n);
            CHECK_MSG(c.i == c.n, "%s: %u of %u points", files[f].name, c.i, c.n);
        }
        storage_close(st);
        CHECK(storage_open(&o, &st, &d) == 0);
    }
    storage_stats ss;
    storage_get_stats(st, &ss);
    printf("  segments: %llu, %llu bytes\n", (unsigned long long)ss.segments,
           (unsigned long long)ss.segment_bytes);
    storage_close(st);
    point_batch_free(&b);
    buf_free(&k);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls -laR %s", dir);
    if (getenv("NAB_LS")) system(cmd);
    uint64_t bytes = du(dir);
    printf("  NAB: %u series, %llu points, %llu bytes on disk (index included): %.3f bytes/point\n",
           n_files, (unsigned long long)total, (unsigned long long)bytes,
           (double)bytes / (double)total);
    for (uint32_t f = 0; f < n_files; f++) {
        free(files[f].ts);
        free(files[f].v);
    }
    test_rmrf(dir);
}

/* The codec alone, block by block as a flush cuts a series: bit-exact, and within the
 * size the entropy-coded decimal mode reaches (timestamps and block headers included,
 * index entries and files not). The codec before that mode took 2.65 here. */
TEST(every_nab_block_round_trips_through_the_codec_at_under_2_4_bytes_a_point) {
    const char *shared = test_shared_dir();
    if (!shared) {
        test_skip("../shared (NAB data) is absent");
        return;
    }
    n_files = 0;
    load_nab(shared);
    if (n_files == 0) {
        test_skip("no NAB CSV files under ../shared/data/nab");
        return;
    }
    static int64_t ets[NAB_POINTS_MAX], ts2[STORAGE_BLOCK_POINTS_MAX];
    static double ev[NAB_POINTS_MAX], v2[STORAGE_BLOCK_POINTS_MAX];
    static uint8_t enc[CODEC_BYTES_MAX];
    uint64_t bytes = 0, points = 0;
    for (uint32_t f = 0; f < n_files; f++) {
        uint32_t n = expected(&files[f], ets, ev);
        for (uint32_t i = 0; i < n; i += STORAGE_BLOCK_POINTS_MAX) {
            uint32_t m = n - i < STORAGE_BLOCK_POINTS_MAX ? n - i : STORAGE_BLOCK_POINTS_MAX;
            size_t len;
            CHECK(codec_encode(ets + i, ev + i, m, enc, sizeof enc, &len) == 0);
            CHECK_MSG(codec_decode(enc, len, m, ts2, v2) == 0, "%s block at %u", files[f].name, i);
            for (uint32_t j = 0; j < m; j++) {
                CHECK_MSG(ts2[j] == ets[i + j] && memcmp(&v2[j], &ev[i + j], 8) == 0,
                          "%s point %u: %.17g, want %.17g", files[f].name, i + j, v2[j], ev[i + j]);
            }
            bytes += len;
            points += m;
        }
    }
    printf("  NAB through the codec: %llu points, %llu bytes: %.3f bytes/point\n",
           (unsigned long long)points, (unsigned long long)bytes, (double)bytes / (double)points);
    CHECK_MSG(bytes * 10 < points * 24, "%.3f bytes/point", (double)bytes / (double)points);
    for (uint32_t f = 0; f < n_files; f++) {
        free(files[f].ts);
        free(files[f].v);
    }
    n_files = 0;
}
