/* bench_storage.c - storage figures for the goals (a benchmark, never a test).
 *   bench_storage [--shared DIR] [--tmp DIR] [--intervals N] [--per-file] [--floor]
 * Reports, each on one line:
 *   NAB (DIR/data/nab): append points/s, bytes/point on disk (segments + series log)
 *   NAB floor: how few bytes NAB's values could take losslessly (below); --floor prints
 *     it per file and stops there (no timing runs)
 *   TSBS-like: 4,000 hosts x 10 metrics every 10 s for N intervals (default 250, so
 *     10 M points), integer random walks and a float (two-decimal) variant: append
 *     points/s on one core (the apply thread's storage_write), bytes/point on disk
 *   AVG over 1 M points of one series, warm (median of 20 runs), after compaction
 *   WAL replay: MB of WAL replayed per second at open (memtable never flushed)
 *   Series index: 1 M series (cpu,host=...,dc=...): creation rate, index bytes per
 *     series, postings lookup time, reopen time
 * fsync policy "none" for append figures: they measure the engine, not the disk.
 *
 * THE FLOOR (values only; timestamps, block headers and index entries are what the
 * codec spends on them now, the "ours - ours val" column). Each series as the store
 * keeps it (sorted, last write wins):
 * (a) Achievable: bits an adaptive entropy coder pays under simple models, summed
 *   sequentially (so it is a code length a real coder can reach, not a plug-in
 *   entropy, which is meaningless when most residuals are distinct). Values are the
 *   codec's decimal integers k = value x 10^d (ulp offsets of "near" values coded as
 *   symbols, "far" values 64 bits); the residual after the best of three predictors
 *   (none: k itself; previous k; linear 2k[i-1] - k[i-2]) is coded by the cheapest of
 *   model B (bit length of zigzag(residual), optionally with the 2 bits after the
 *   leading one, as adaptive symbols, plus the remaining low bits raw: what a fair
 *   coder pays for sparse residuals) and model A (each distinct residual an adaptive
 *   symbol, new ones escaping to model B). Adaptive symbols use PPM method C
 *   (c / (T + m), escape m / (T + m)). The best d per slice is searched. Given per
 *   1,024-point block (models restart: what a block codec can reach) and per series.
 * (b) Lower bound: the low decimal digits that are noise. Points repeating the
 *   previous value or taking a frequent value (5+ occurrences) are set aside
 *   (conditioning on that flag only lowers entropy). On the rest, as integers either
 *   at the series' decimals or scaled to a fixed number of significant digits
 *   (whichever bounds higher), digit position j = 0, 1, ... (0 = last) counts while
 *   it is independent (chi-square on the 10 x 10 contingency table, p = 0.01, digits
 *   under 2% left out) of digit j + 1 of the same value and of digit j of the
 *   previous value. A digit independent of the rest of its value and of the past
 *   cannot be predicted, so no lossless coder spends less than its entropy: the bound
 *   is the sum of the passing digits' plug-in entropies (biased low), times the share
 *   of points kept. k(uni) = passing positions, and how many of the first were also
 *   uniform (chi-square, 9 df); H3 = Miller-Madow entropy of the last 3 digits jointly
 *   (9.97 bits if uniform); S = significant-digit scaling won. It is statistical
 *   evidence (pairwise tests), not a proof, and deliberately loose: every digit above
 *   the first dependent one counts as free. */
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

/* The series as the store keeps it: sorted by time, a repeated timestamp keeping the
 * value written last. Returns the count; *ts and *v are malloc'd. */
static uint32_t sorted_series(const series_data *s, int64_t **ts_out, double **v_out) {
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
    free(pairs);
    *ts_out = ts;
    *v_out = v;
    return k;
}

/* Bytes the codec needs for one series (blocks + their index entries), for --per-file;
 * *value_bytes_out gets the part that codes values (the rest is timestamps, block
 * headers and index entries): a block's length less the length of the same block with
 * a constant value, whose value part is 8 bytes. */
static size_t codec_bytes(const series_data *s, size_t *value_bytes_out) {
    int64_t *ts;
    double *v;
    uint32_t k = sorted_series(s, &ts, &v);
    static uint8_t enc[CODEC_BYTES_MAX];
    static double same[STORAGE_BLOCK_POINTS_MAX];
    size_t total = 0, values = 0;
    for (uint32_t i = 0; i < k; i += STORAGE_BLOCK_POINTS_MAX) {
        uint32_t n = k - i < STORAGE_BLOCK_POINTS_MAX ? k - i : STORAGE_BLOCK_POINTS_MAX;
        size_t len, len_const;
        codec_encode(ts + i, v + i, n, enc, sizeof enc, &len);
        codec_encode(ts + i, same, n, enc, sizeof enc, &len_const);
        total += len + 88; /* + its index entry */
        values += len - len_const + 8;
    }
    free(ts);
    free(v);
    if (value_bytes_out) *value_bytes_out = values;
    return total;
}

/* ---- floor: how few bytes NAB's values could take (method atop this file) ---- */

#define FLOOR_DIGITS_MAX 15
/* Ulps of arithmetic error tolerated around a decimal when finding a value's own
 * digits (0.1 + 0.2 leaves 1; wider offsets are decimal digits in disguise), and the
 * codec's own limit, which estimate (a) uses so that it covers what the codec does. */
#define FLOOR_NEAR_TIGHT 64
#define FLOOR_NEAR_CODEC 32767

static const double floor_pow10[FLOOR_DIGITS_MAX + 1] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

static uint64_t floor_zz(int64_t v) {
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static unsigned floor_bitlen(uint64_t u) {
    return u ? 64u - (unsigned)__builtin_clzll(u) : 0u;
}

/* v against the decimal grid at d digits, by the codec's rules: 0 exact (k / 10^d has
 * v's bits), 1 near (within near_max ulps, same sign; *off = the ulp offset), 2 far
 * (NaN, inf, -0.0, off the grid). */
static int floor_fit(double v, unsigned d, int64_t near_max, int64_t *k, int64_t *off) {
    if (!isfinite(v)) return 2;
    double s = v * floor_pow10[d];
    if (!(s > -9007199254740992.0 && s < 9007199254740992.0)) return 2;
    int64_t r = llrint(s);
    double g = (double)r / floor_pow10[d];
    uint64_t gu, vu;
    memcpy(&gu, &g, 8);
    memcpy(&vu, &v, 8);
    *k = r;
    *off = 0;
    if (gu == vu) return 0;
    if ((gu >> 63) != (vu >> 63)) return 2;
    int64_t o = (int64_t)(vu - gu);
    if (o < -near_max || o > near_max) return 2;
    *off = o;
    return 1;
}

/* An adaptive frequency model over a sparse alphabet (PPM method C): a symbol seen c
 * times costs -log2(c / (T + m)) bits, an unseen one -log2(m / (T + m)) (the escape)
 * plus whatever the fallback charges; T = symbols coded, m = distinct ones so far. */
typedef struct esc_model {
    uint64_t *key;  /* open addressing; slot empty when cnt is 0 */
    uint32_t *cnt;  /* occurrences of key so far */
    uint32_t cap;   /* slots, a power of two */
    uint32_t m;     /* distinct symbols seen */
    uint64_t total; /* symbols coded */
} esc_model;

static void esc_init(esc_model *e, uint32_t n) {
    e->cap = 16;
    while (e->cap < 2 * n + 2)
        e->cap *= 2;
    e->key = calloc(e->cap, sizeof(*e->key));
    e->cnt = calloc(e->cap, sizeof(*e->cnt));
    e->m = 0;
    e->total = 0;
}

static void esc_free(esc_model *e) {
    free(e->key);
    free(e->cnt);
}

/* Bits to code sym; *fresh tells whether the caller must add the fallback's cost. */
static double esc_code(esc_model *e, uint64_t sym, bool *fresh) {
    uint32_t h = (uint32_t)((sym * 0x9E3779B97F4A7C15ull) >> 32) & (e->cap - 1);
    while (e->cnt[h] && e->key[h] != sym)
        h = (h + 1) & (e->cap - 1);
    double bits = 0;
    double denom = (double)e->total + e->m;
    if (e->cnt[h]) {
        bits = -log2((double)e->cnt[h] / denom);
        *fresh = false;
    } else {
        if (e->total > 0) bits = -log2((double)e->m / denom);
        e->key[h] = sym;
        e->m++;
        *fresh = true;
    }
    e->cnt[h]++;
    e->total++;
    return bits;
}

/* Magnitude class of z with s refinement bits: small z are their own class; larger z
 * are (bit length, the s bits after the leading one), the remaining low bits raw. */
static uint64_t mag_class(uint64_t z, unsigned s, unsigned *raw) {
    unsigned c = floor_bitlen(z);
    if (c <= s + 1) {
        *raw = 0;
        return z;
    }
    *raw = c - 1 - s;
    return (1ull << (s + 1)) + (uint64_t)(c - s - 2) * (1ull << s) +
           ((z >> *raw) & ((1ull << s) - 1));
}

/* Model B: adaptive magnitude classes + raw low bits; new classes uniform over all. */
static double mag_bits(esc_model *e, uint64_t z, unsigned s) {
    unsigned raw;
    uint64_t cl = mag_class(z, s, &raw);
    bool fresh;
    double bits = esc_code(e, cl, &fresh) + raw;
    if (fresh) bits += log2((double)((2u << s) + (63u - s) * (1u << s)));
    return bits;
}

/* Bits an adaptive coder needs for z[0..n-1] (zigzag residuals): the cheapest of
 * model B with 0 or 2 refinement bits and model A (each distinct residual its own
 * symbol, new ones escaping to model B with 2 refinement bits). */
static double resid_bits(const uint64_t *z, uint32_t n) {
    esc_model b0, b2, a, a_fb;
    esc_init(&b0, n);
    esc_init(&b2, n);
    esc_init(&a, n);
    esc_init(&a_fb, n);
    double c_b0 = 0, c_b2 = 0, c_a = 0;
    for (uint32_t i = 0; i < n; i++) {
        c_b0 += mag_bits(&b0, z[i], 0);
        c_b2 += mag_bits(&b2, z[i], 2);
        bool fresh;
        c_a += esc_code(&a, z[i], &fresh);
        if (fresh) c_a += mag_bits(&a_fb, z[i], 2);
    }
    esc_free(&b0);
    esc_free(&b2);
    esc_free(&a);
    esc_free(&a_fb);
    double best = c_b0 < c_b2 ? c_b0 : c_b2;
    return c_a < best ? c_a : best;
}

/* Predictors of k_i from the slice's own history. */
enum { PRED_NONE, PRED_PREV, PRED_LINEAR, PRED_COUNT };
static const char *const pred_name[PRED_COUNT] = {"none", "prev", "linear"};

/* Estimate (a) for one slice of a series at d digits: bits of the cheapest predictor's
 * residuals, plus the ulp offsets of near values (model A, only if any), plus 64 bits
 * and an index for each far value (its k repeats the previous one, as in the codec). */
static double slice_bits(const double *v, uint32_t n, unsigned d, int *pred_out) {
    int64_t *k = malloc(n * sizeof(*k));
    uint64_t *z = malloc(n * sizeof(*z));
    uint32_t far = 0, near = 0;
    esc_model off;
    esc_init(&off, n);
    double off_bits = 0;
    for (uint32_t i = 0; i < n; i++) {
        int64_t o;
        int f = floor_fit(v[i], d, FLOOR_NEAR_CODEC, &k[i], &o);
        if (f == 2) {
            far++;
            k[i] = i ? k[i - 1] : 0;
            o = 0;
        }
        near += f == 1;
        bool fresh;
        off_bits += esc_code(&off, floor_zz(o), &fresh);
        if (fresh) off_bits += 16; /* uniform over the offsets the codec allows */
    }
    esc_free(&off);
    double best = INFINITY;
    *pred_out = PRED_PREV;
    for (int p = 0; p < PRED_COUNT; p++) {
        for (uint32_t i = 0; i < n; i++) {
            int64_t pr = 0;
            if (p == PRED_PREV && i >= 1) pr = k[i - 1];
            if (p == PRED_LINEAR && i == 1) pr = k[0];
            if (p == PRED_LINEAR && i >= 2)
                pr = (int64_t)(2 * (uint64_t)k[i - 1] - (uint64_t)k[i - 2]);
            z[i] = floor_zz((int64_t)((uint64_t)k[i] - (uint64_t)pr));
        }
        double b = resid_bits(z, n);
        if (b < best) {
            best = b;
            *pred_out = p;
        }
    }
    free(k);
    free(z);
    if (near) best += off_bits;
    return best + (double)far * (64 + log2((double)n + 1));
}

/* Estimate (a) for one slice: the cheapest slice_bits over the digits d = 0..15 at
 * which at most an eighth of the values are far, up to the first d that fits every
 * value exactly (more digits only widen the residuals). */
static double slice_best(const double *v, uint32_t n, int *pred_out) {
    double best = INFINITY;
    for (unsigned d = 0; d <= FLOOR_DIGITS_MAX; d++) {
        uint32_t far = 0, inexact = 0;
        for (uint32_t i = 0; i < n; i++) {
            int64_t k, o;
            int f = floor_fit(v[i], d, FLOOR_NEAR_CODEC, &k, &o);
            far += f == 2;
            inexact += f != 0;
        }
        if (far <= n / 8) {
            int p = PRED_PREV;
            double b = slice_bits(v, n, d, &p);
            if (b < best) {
                best = b;
                *pred_out = p;
            }
        }
        if (inexact == 0) break;
    }
    if (best == INFINITY) best = 64.0 * n; /* raw */
    return best;
}

/* The series' digits: the smallest d at which the most values are exact or within a
 * few ulps (FLOOR_NEAR_TIGHT). */
static unsigned floor_digits(const double *v, uint32_t n) {
    unsigned best_d = 0;
    uint32_t best_fit = 0;
    for (unsigned d = 0; d <= FLOOR_DIGITS_MAX; d++) {
        uint32_t fit = 0;
        for (uint32_t i = 0; i < n; i++) {
            int64_t k, o;
            fit += floor_fit(v[i], d, FLOOR_NEAR_TIGHT, &k, &o) != 2;
        }
        if (fit > best_fit) {
            best_fit = fit;
            best_d = d;
        }
        if (fit == n) break;
    }
    return best_d;
}

/* Chi-square value exceeded with probability 0.01 at df degrees of freedom
 * (Wilson-Hilferty: within a fraction of a percent of the table for df >= 4). */
static double chi2_crit(double df) {
    double a = 2.0 / (9.0 * df);
    double c = 1.0 - a + 2.3263 * sqrt(a);
    return df * c * c * c;
}

static unsigned digit_at(int64_t k, unsigned j) {
    uint64_t u = k < 0 ? (uint64_t)0 - (uint64_t)k : (uint64_t)k;
    for (unsigned i = 0; i < j; i++)
        u /= 10;
    return (unsigned)(u % 10);
}

/* Whether a 10 x 10 table is consistent with independence of its two digits:
 * chi-square over the rows and columns that occur ((r - 1)(c - 1) degrees of
 * freedom), p = 0.01. A constant digit is independent of anything. */
static bool indep_ok(const uint32_t t[10][10], uint32_t n) {
    double row[10] = {0}, col[10] = {0};
    for (int a = 0; a < 10; a++)
        for (int b = 0; b < 10; b++) {
            row[a] += t[a][b];
            col[b] += t[a][b];
        }
    /* Digits seen in under 2% of points are left out: their expected cell counts are
     * too small for the chi-square approximation. */
    double rare = n / 50.0, kept = 0;
    unsigned nr = 0, nc = 0;
    for (int a = 0; a < 10; a++) {
        nr += row[a] >= rare;
        nc += col[a] >= rare;
    }
    if (nr < 2 || nc < 2) return true;
    for (int a = 0; a < 10; a++)
        for (int b = 0; b < 10; b++)
            if (row[a] >= rare && col[b] >= rare) kept += t[a][b];
    double rk[10] = {0}, ck[10] = {0};
    for (int a = 0; a < 10; a++)
        for (int b = 0; b < 10; b++)
            if (row[a] >= rare && col[b] >= rare) {
                rk[a] += t[a][b];
                ck[b] += t[a][b];
            }
    double x = 0;
    for (int a = 0; a < 10; a++)
        for (int b = 0; b < 10; b++) {
            if (row[a] < rare || col[b] < rare) continue;
            double e = rk[a] * ck[b] / kept;
            if (e > 0) x += (t[a][b] - e) * (t[a][b] - e) / e;
        }
    return x <= chi2_crit((double)(nr - 1) * (nc - 1));
}

typedef struct digit_bound {
    double bits;    /* per point: sum of the plug-in entropies of the passing digits */
    unsigned k;     /* low digit positions that passed the independence tests */
    unsigned k_uni; /* of those, the ones also uniform (chi-square, 9 df, p = 0.01) */
    double h3;      /* Miller-Madow entropy of the last 3 digits jointly (max 9.97) */
} digit_bound;

/* Lower bound (b) on one representation K[0..m-1] of a series' values as integers.
 * Digit position j (0 = last) passes if it is independent of digit j + 1 of the same
 * value and of digit j of the previous value; the first failure stops the count.
 * Digits independent of the rest of the value and of the past cannot be predicted,
 * so no lossless coder spends less than their entropy on them: the bound is the sum
 * of their plug-in entropies (biased low, which keeps it a lower bound). */
static digit_bound digit_bound_of(const int64_t *K, uint32_t m) {
    digit_bound r = {0, 0, 0, 0};
    if (m < 500) return r; /* too few for 5 per cell of a 10 x 10 table */
    for (unsigned j = 0; j < 18; j++) {
        uint32_t c[10] = {0};
        uint32_t up[10][10] = {{0}};
        uint32_t ser[10][10] = {{0}};
        for (uint32_t i = 0; i < m; i++) {
            unsigned dj = digit_at(K[i], j);
            c[dj]++;
            up[dj][digit_at(K[i], j + 1)]++;
            if (i > 0) ser[dj][digit_at(K[i - 1], j)]++;
        }
        if (!indep_ok(up, m) || !indep_ok(ser, m - 1)) break;
        double x = 0, e = m / 10.0, h = 0;
        for (int a = 0; a < 10; a++) {
            x += (c[a] - e) * (c[a] - e) / e;
            if (c[a]) h -= (double)c[a] / m * log2((double)c[a] / m);
        }
        r.bits += h;
        r.k = j + 1;
        if (x <= chi2_crit(9) && r.k_uni == j) r.k_uni = j + 1;
    }
    uint32_t *c3 = calloc(1000, sizeof(*c3));
    for (uint32_t i = 0; i < m; i++) {
        uint64_t u = K[i] < 0 ? (uint64_t)0 - (uint64_t)K[i] : (uint64_t)K[i];
        c3[u % 1000]++;
    }
    uint32_t used = 0;
    for (int a = 0; a < 1000; a++) {
        if (!c3[a]) continue;
        used++;
        double p = (double)c3[a] / m;
        r.h3 -= p * log2(p);
    }
    r.h3 += (used - 1) / (2.0 * m * log(2.0));
    free(c3);
    return r;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Estimate (b) for a series, per point of the whole series. Points that repeat the
 * previous value or take one of the series' frequent values (5 or more occurrences:
 * zeros, idle readings) are set aside: entropy only drops when conditioned on that
 * flag, so (share of the other points) x (their bound) stays a lower bound. On the
 * other points, the larger of the bounds for two representations as integers: (1)
 * k = value x 10^d at the series' digits d; (2) significant digits: each value scaled
 * to S digits, S the most any value has (data written as "%.12g" has 12 significant
 * digits whatever its magnitude). *sig_out tells which won. */
static digit_bound floor_digit_test(const double *v, uint32_t n, unsigned d, bool *sig_out) {
    int64_t *k = malloc(n * sizeof(*k));
    int64_t *ks = malloc(n * sizeof(*ks));
    int *lead = malloc(n * sizeof(*lead));
    uint64_t *bits = malloc(n * sizeof(*bits));
    memcpy(bits, v, n * sizeof(*bits));
    qsort(bits, n, sizeof(*bits), cmp_u64);
    uint32_t m = 0;
    int s_max = 0;
    for (uint32_t i = 0; i < n; i++) {
        int64_t o;
        uint64_t u;
        memcpy(&u, &v[i], 8);
        if (i > 0 && memcmp(&v[i], &v[i - 1], 8) == 0) continue;
        uint64_t *lo = bits, *hi = bits + n; /* count u's occurrences */
        while (lo < hi) {
            uint64_t *mid = lo + (hi - lo) / 2;
            if (*mid < u)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo + 4 < bits + n && lo[4] == u) continue;
        if (floor_fit(v[i], d, FLOOR_NEAR_TIGHT, &k[m], &o) == 2) continue;
        /* The value's own digits: the fewest decimals that fit it. */
        unsigned di = 0;
        while (di < d && floor_fit(v[i], di, FLOOR_NEAR_TIGHT, &ks[m], &o) == 2)
            di++;
        floor_fit(v[i], di, FLOOR_NEAR_TIGHT, &ks[m], &o);
        uint64_t a = ks[m] < 0 ? (uint64_t)0 - (uint64_t)ks[m] : (uint64_t)ks[m];
        int nd = 0, tz = 0;
        for (uint64_t t = a; t; t /= 10)
            nd++;
        for (uint64_t t = a; t && t % 10 == 0; t /= 10)
            tz++;
        lead[m] = a ? nd - 1 - (int)di : INT32_MIN; /* power of ten of the leading digit */
        if (a && nd - tz > s_max) s_max = nd - tz;
        /* K = value x 10^(S - 1 - lead) once S is known: keep k at its own digits. */
        ks[m] = (int64_t)((uint64_t)ks[m] * 32 + di);
        m++;
    }
    digit_bound fixed = digit_bound_of(k, m);
    bool sig_ok = s_max > 0 && s_max <= 18;
    for (uint32_t i = 0; i < m && sig_ok; i++) {
        unsigned di = (unsigned)((uint64_t)ks[i] & 31);
        int64_t kk = (ks[i] - (int64_t)di) / 32;
        if (lead[i] == INT32_MIN) {
            ks[i] = 0;
            continue;
        }
        int shift = s_max - 1 - lead[i] - (int)di;
        if (shift < 0) {
            sig_ok = false;
            break;
        }
        for (int s = 0; s < shift; s++)
            kk *= 10;
        ks[i] = kk;
    }
    digit_bound sig = sig_ok ? digit_bound_of(ks, m) : (digit_bound){0, 0, 0, 0};
    free(k);
    free(ks);
    free(lead);
    free(bits);
    *sig_out = sig.bits > fixed.bits;
    digit_bound r = sig.bits > fixed.bits ? sig : fixed;
    r.bits *= (double)m / n;
    return r;
}

/* Codec speed on NAB's blocks, in memory, one thread: every series cut into blocks as
 * a flush would, encoded then decoded 20 times (best round kept: least disturbed by
 * other processes); and how many blocks use each value mode. */
static void bench_codec_speed(const series_data *files, uint32_t nf) {
    uint32_t nblocks = 0;
    uint64_t points = 0;
    for (uint32_t f = 0; f < nf; f++)
        nblocks += (files[f].n + STORAGE_BLOCK_POINTS_MAX - 1) / STORAGE_BLOCK_POINTS_MAX;
    uint8_t **enc = calloc(nblocks, sizeof(*enc));
    size_t *len = calloc(nblocks, sizeof(*len));
    uint32_t *cnt = calloc(nblocks, sizeof(*cnt));
    int64_t **bts = calloc(nblocks, sizeof(*bts));
    double **bv = calloc(nblocks, sizeof(*bv));
    uint32_t b = 0;
    for (uint32_t f = 0; f < nf; f++) {
        int64_t *ts;
        double *v;
        uint32_t k = sorted_series(&files[f], &ts, &v);
        for (uint32_t i = 0; i < k; i += STORAGE_BLOCK_POINTS_MAX, b++) {
            cnt[b] = k - i < STORAGE_BLOCK_POINTS_MAX ? k - i : STORAGE_BLOCK_POINTS_MAX;
            bts[b] = malloc(cnt[b] * sizeof(int64_t));
            bv[b] = malloc(cnt[b] * sizeof(double));
            memcpy(bts[b], ts + i, cnt[b] * sizeof(int64_t));
            memcpy(bv[b], v + i, cnt[b] * sizeof(double));
            enc[b] = malloc(CODEC_BYTES_MAX);
            points += cnt[b];
        }
        free(ts);
        free(v);
    }
    nblocks = b;
    static int64_t ts2[STORAGE_BLOCK_POINTS_MAX];
    static double v2[STORAGE_BLOCK_POINTS_MAX];
    int64_t best_enc = INT64_MAX, best_dec = INT64_MAX;
    for (int r = 0; r < 20; r++) {
        int64_t t0 = thread_cpu_ns();
        for (b = 0; b < nblocks; b++)
            codec_encode(bts[b], bv[b], cnt[b], enc[b], CODEC_BYTES_MAX, &len[b]);
        int64_t t1 = thread_cpu_ns();
        for (b = 0; b < nblocks; b++) {
            if (codec_decode(enc[b], len[b], cnt[b], ts2, v2) != 0) {
                fprintf(stderr, "codec: block %u does not decode\n", b);
                exit(1);
            }
        }
        int64_t t2 = thread_cpu_ns();
        if (t1 - t0 < best_enc) best_enc = t1 - t0;
        if (t2 - t1 < best_dec) best_dec = t2 - t1;
    }
    uint32_t modes[256] = {0};
    for (b = 0; b < nblocks; b++)
        modes[enc[b][1]]++;
    printf("NAB codec, %u blocks in memory: encode %.1f M points/s, decode %.1f M points/s "
           "(best of 20, CPU time of one thread); blocks per value mode:",
           nblocks, (double)points / ((double)best_enc / 1e9) / 1e6,
           (double)points / ((double)best_dec / 1e9) / 1e6);
    for (int m = 0; m < 256; m++)
        if (modes[m]) printf(" %d:%u", m, modes[m]);
    printf("\n");
    for (b = 0; b < nblocks; b++) {
        free(enc[b]);
        free(bts[b]);
        free(bv[b]);
    }
    free(enc);
    free(len);
    free(cnt);
    free(bts);
    free(bv);
}

/* Prints the floor per file (per_file) and overall. on_disk: the store's bytes for all
 * of NAB (0 if not measured), to which the floor adds what is not values. */
static void floor_report(const series_data *files, uint32_t nf, uint64_t on_disk, bool per_file) {
    double ours_all = 0, ours_val = 0, a_ser = 0, a_blk = 0, b_low = 0;
    uint64_t points = 0;
    if (per_file)
        printf("  %-40s %6s %2s %-6s %8s %8s %8s %8s %-9s %8s %5s\n", "floor: file", "points", "d",
               "pred", "ours", "ours val", "(a) ser", "(a) blk", "k(uni)", "(b)", "H3");
    for (uint32_t f = 0; f < nf; f++) {
        int64_t *ts;
        double *v;
        uint32_t n = sorted_series(&files[f], &ts, &v);
        size_t val;
        size_t all = codec_bytes(&files[f], &val);
        unsigned d = floor_digits(v, n);
        int pred = PRED_PREV;
        double ser = slice_best(v, n, &pred) / 8;
        double blk = 0;
        for (uint32_t i = 0; i < n; i += STORAGE_BLOCK_POINTS_MAX) {
            uint32_t m = n - i < STORAGE_BLOCK_POINTS_MAX ? n - i : STORAGE_BLOCK_POINTS_MAX;
            int p = PRED_PREV;
            blk += slice_best(v + i, m, &p) / 8;
        }
        bool sig;
        digit_bound dr = floor_digit_test(v, n, d, &sig);
        double low = (double)n * dr.bits / 8;
        if (per_file)
            printf("  %-40.40s %6u %2u %-6s %8.3f %8.3f %8.3f %8.3f %2u(%2u)%-3s %8.3f %5.2f\n",
                   files[f].tag + 5, n, d, pred_name[pred], (double)all / n, (double)val / n,
                   ser / n, blk / n, dr.k, dr.k_uni, sig ? " S" : "", low / n, dr.h3);
        ours_all += (double)all;
        ours_val += (double)val;
        a_ser += ser;
        a_blk += blk;
        b_low += low;
        points += n;
        free(ts);
        free(v);
    }
    double p = (double)points;
    printf("NAB floor (values only, bytes/point; method atop bench_storage.c): ours %.3f "
           "(%.3f with timestamps and index entries); (a) adaptive entropy coder under simple "
           "models %.3f whole series, %.3f per 1,024-point block; (b) lower bound from "
           "incompressible low digits %.3f\n",
           ours_val / p, ours_all / p, a_ser / p, a_blk / p, b_low / p);
    if (on_disk)
        printf("NAB floor on disk (our timestamps, index and files + values at (a) per block): "
               "%.3f bytes/point; + values at (b): %.3f (goal 1.0; now %.3f)\n",
               ((double)on_disk - ours_val + a_blk) / p, ((double)on_disk - ours_val + b_low) / p,
               (double)on_disk / p);
}

static void bench_nab(const char *shared, bool per_file, bool floor_per_file) {
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
                   (double)codec_bytes(&files[f], NULL) / files[f].n);
    }
    floor_report(files, nf, bytes, floor_per_file);
    bench_codec_speed(files, nf);
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
    bool floor_only = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--shared") && i + 1 < argc)
            shared = argv[++i];
        else if (!strcmp(argv[i], "--tmp") && i + 1 < argc)
            snprintf(tmp_root, sizeof tmp_root, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--intervals") && i + 1 < argc)
            intervals = (uint32_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--per-file"))
            per_file = true;
        else if (!strcmp(argv[i], "--floor"))
            floor_only = true;
        else {
            fprintf(stderr,
                    "usage: bench_storage [--shared DIR] [--tmp DIR] [--intervals N] [--per-file] "
                    "[--floor]\n");
            return 2;
        }
    }
    log_set_level(LOG_WARN);
    bench_nab(shared, per_file, floor_only);
    if (floor_only) return 0; /* the floor table alone: no timing runs */
    bench_tsbs(intervals, false);
    bench_tsbs(intervals, true);
    bench_agg_and_replay();
    bench_cardinality(1000000);
    return 0;
}
