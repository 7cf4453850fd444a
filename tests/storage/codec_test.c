/* codec_test.c - every block encoder round-trips bit-exactly, including the values
 * and timestamps that break naive encoders, and rejects damaged input cleanly. */
#include "storage/storage_internal.h"
#include "test.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

static uint8_t enc[CODEC_BYTES_MAX];

static bool same_bits(double a, double b) {
    return memcmp(&a, &b, 8) == 0;
}

/* Encodes and decodes; returns the encoded size, 0 on a mismatch. */
static size_t roundtrip(const int64_t *ts, const double *v, uint32_t n) {
    size_t len = 0;
    if (codec_encode(ts, v, n, enc, sizeof enc, &len) != 0) return 0;
    static int64_t ts2[STORAGE_BLOCK_POINTS_MAX];
    static double v2[STORAGE_BLOCK_POINTS_MAX];
    if (codec_decode(enc, len, n, ts2, v2) != 0) return 0;
    for (uint32_t i = 0; i < n; i++) {
        if (ts2[i] != ts[i] || !same_bits(v2[i], v[i])) return 0;
    }
    return len;
}

TEST(special_float_values_round_trip_bit_exactly_in_every_value_mode) {
    static int64_t ts[STORAGE_BLOCK_POINTS_MAX];
    static double v[STORAGE_BLOCK_POINTS_MAX];
    const double specials[] = {
        NAN,     -NAN,    INFINITY, -INFINITY, -0.0,   0.0, DBL_MIN / 4,        -DBL_MIN / 3,
        DBL_MIN, DBL_MAX, -DBL_MAX, 1e308,     5e-324, 0.1, 51.846000000000004, 9007199254740993.0,
        1.5,     -2.25};
    uint32_t ns = (uint32_t)(sizeof specials / sizeof specials[0]);
    for (uint32_t i = 0; i < STORAGE_BLOCK_POINTS_MAX; i++)
        ts[i] = (int64_t)i * 10;
    /* All specials mixed in with decimals: the decimal mode must carry them as exceptions. */
    for (uint32_t i = 0; i < STORAGE_BLOCK_POINTS_MAX; i++)
        v[i] = i % 37 == 0 ? specials[(i / 37) % ns] : (double)(int)(i % 100) / 10.0;
    CHECK(roundtrip(ts, v, STORAGE_BLOCK_POINTS_MAX) > 0);
    /* Only specials: XOR or raw. */
    for (uint32_t i = 0; i < STORAGE_BLOCK_POINTS_MAX; i++)
        v[i] = specials[i % ns];
    CHECK(roundtrip(ts, v, STORAGE_BLOCK_POINTS_MAX) > 0);
    /* Each special alone, and as a constant block. */
    for (uint32_t s = 0; s < ns; s++) {
        v[0] = specials[s];
        CHECK(roundtrip(ts, v, 1) > 0);
        for (uint32_t i = 0; i < 100; i++)
            v[i] = specials[s];
        CHECK(roundtrip(ts, v, 100) > 0);
    }
    /* Random bit patterns (noise) fall back without loss. */
    srand(1);
    for (uint32_t i = 0; i < STORAGE_BLOCK_POINTS_MAX; i++) {
        uint64_t u = (uint64_t)rand() << 40 ^ (uint64_t)rand() << 20 ^ (uint64_t)rand();
        memcpy(&v[i], &u, 8);
    }
    CHECK(roundtrip(ts, v, STORAGE_BLOCK_POINTS_MAX) > 0);
}

TEST(timestamps_round_trip_with_huge_jumps_negative_times_and_extremes) {
    static int64_t ts[STORAGE_BLOCK_POINTS_MAX];
    static double v[STORAGE_BLOCK_POINTS_MAX];
    for (uint32_t i = 0; i < STORAGE_BLOCK_POINTS_MAX; i++)
        v[i] = 1.0;
    /* Negative times, before the epoch, regular. */
    for (uint32_t i = 0; i < 500; i++)
        ts[i] = -1000000000000 + (int64_t)i * 7;
    CHECK(roundtrip(ts, v, 500) > 0);
    /* Irregular with a jump across most of the int64 range. */
    ts[0] = INT64_MIN;
    ts[1] = INT64_MIN + 1;
    ts[2] = -5;
    ts[3] = 0;
    ts[4] = 3;
    ts[5] = INT64_MAX - 1;
    ts[6] = INT64_MAX;
    CHECK(roundtrip(ts, v, 7) > 0);
    /* Jittered intervals use every dod width. */
    srand(3);
    ts[0] = 1700000000000000000;
    for (uint32_t i = 1; i < STORAGE_BLOCK_POINTS_MAX; i++)
        ts[i] = ts[i - 1] + 1 +
                (i % 5 == 0   ? rand() % 100000000
                 : i % 7 == 0 ? (1ll << 40)
                              : rand() % 50);
    CHECK(roundtrip(ts, v, STORAGE_BLOCK_POINTS_MAX) > 0);
}

TEST(regular_integer_series_take_under_half_a_byte_per_point) {
    static int64_t ts[STORAGE_BLOCK_POINTS_MAX];
    static double v[STORAGE_BLOCK_POINTS_MAX];
    srand(5);
    double x = 500;
    for (uint32_t i = 0; i < STORAGE_BLOCK_POINTS_MAX; i++) {
        ts[i] = 1600000000000000000 + (int64_t)i * 10000000000;
        x += rand() % 5 - 2; /* integer random walk, steps -2..2 */
        v[i] = x;
    }
    size_t len = roundtrip(ts, v, STORAGE_BLOCK_POINTS_MAX);
    CHECK(len > 0);
    CHECK_MSG(len * 2 < STORAGE_BLOCK_POINTS_MAX, "%zu bytes for %u points", len,
              STORAGE_BLOCK_POINTS_MAX);
    /* Two-decimal values (money, temperatures) use the decimal mode. */
    for (uint32_t i = 0; i < STORAGE_BLOCK_POINTS_MAX; i++)
        v[i] = (double)(2000 + rand() % 50) / 100.0;
    len = roundtrip(ts, v, STORAGE_BLOCK_POINTS_MAX);
    CHECK(len > 0);
    CHECK_MSG(len < STORAGE_BLOCK_POINTS_MAX, "%zu bytes for %u points", len,
              STORAGE_BLOCK_POINTS_MAX);
}

TEST(damaged_blocks_are_rejected_without_reading_out_of_bounds) {
    static int64_t ts[STORAGE_BLOCK_POINTS_MAX];
    static double v[STORAGE_BLOCK_POINTS_MAX];
    srand(9);
    for (uint32_t i = 0; i < 300; i++) {
        ts[i] = (int64_t)i * 1000 + rand() % 10;
        v[i] = (double)(rand() % 1000) / 8.0;
    }
    size_t len;
    CHECK(codec_encode(ts, v, 300, enc, sizeof enc, &len) == 0);
    /* Every truncation decodes to an error or to some points, never crashes. */
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut + 1);
        memcpy(copy, enc, cut);
        int rc = codec_decode(copy, cut, 300, ts, v);
        free(copy);
        CHECK(rc == 0 || rc == SL_ECORRUPT);
    }
    CHECK(codec_decode(enc, len, 0, ts, v) == SL_ECORRUPT);
    CHECK(codec_decode(enc, len, STORAGE_BLOCK_POINTS_MAX + 1, ts, v) == SL_ECORRUPT);
    enc[0] = 9;
    CHECK(codec_decode(enc, len, 300, ts, v) == SL_ECORRUPT);
}
