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

/* ---- blocks written by the encoder before val_mode 4 existed ---- */

/* Written by the codec as it was before the entropy-coded mode (bytes captured from
 * it); each must keep decoding to the values its generator below produces. */
/* old_block_decimal: ts_mode 0, val_mode 2 */
static const uint8_t old_block_decimal[103] = {
    0x00, 0x02, 0x00, 0x00, 0x2a, 0x36, 0xfe, 0x9c, 0x97, 0x17, 0x00, 0xca, 0x9a, 0x3b, 0x00,
    0x00, 0x00, 0x00, 0x01, 0xff, 0x04, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x04, 0x00, 0x02, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x7f, 0x07, 0x00,
    0x8a, 0x16, 0xd9, 0xce, 0xf7, 0x53, 0x18, 0x40, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x80, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f, 0xce, 0xb9,
    0x0f, 0x38, 0x88, 0x20, 0x02, 0x7e, 0x8d, 0x73, 0xdf, 0xb9, 0xef, 0xdc, 0x77, 0xce, 0x7d,
    0xe7, 0xbe, 0x73, 0xdf, 0x39, 0xf7, 0x9d, 0x03, 0x00, 0x05, 0x00, 0x00, 0x00,
};
/* old_block_xor: ts_mode 1, val_mode 3 */
static const uint8_t old_block_xor[184] = {
    0x01, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe9, 0x03, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x21, 0x24, 0x11, 0x42, 0x08, 0x49, 0x84, 0x10, 0x42, 0x08, 0x49, 0x84, 0x10, 0x42,
    0x12, 0x21, 0x84, 0x10, 0x42, 0x12, 0x21, 0x84, 0x00, 0x3a, 0x8b, 0xdc, 0x58, 0x76, 0xaa, 0x1e,
    0x44, 0x2b, 0x75, 0x5f, 0x7d, 0x95, 0x91, 0x47, 0x1b, 0xdf, 0x81, 0x3c, 0x8f, 0x59, 0x1d, 0xda,
    0x91, 0x1e, 0xa2, 0xc7, 0x28, 0x52, 0x64, 0x53, 0xb8, 0x08, 0xcd, 0xbf, 0x39, 0xac, 0x50, 0xc4,
    0xe0, 0xdc, 0x1e, 0x77, 0x88, 0x11, 0xbc, 0x0b, 0xcc, 0x41, 0x46, 0x81, 0x90, 0x82, 0x28, 0x95,
    0x10, 0x48, 0xba, 0x17, 0x72, 0xb1, 0xcd, 0x2b, 0xf7, 0x59, 0x50, 0x8d, 0xd0, 0xb2, 0xd9, 0x8d,
    0x37, 0x90, 0x22, 0x34, 0x7f, 0x73, 0x75, 0xcf, 0xd0, 0xa0, 0x8a, 0x2e, 0x4f, 0x37, 0x53, 0xd0,
    0xdc, 0x8b, 0xb6, 0xa7, 0xc8, 0xf0, 0x11, 0x86, 0xaa, 0xef, 0xea, 0x93, 0x2d, 0xd0, 0x7b, 0x97,
    0xf8, 0x5b, 0x71, 0x54, 0x90, 0xf2, 0xc1, 0x25, 0x06, 0xba, 0xfd, 0x50, 0xf8, 0xf8, 0xa1, 0x68,
    0x8b, 0x29, 0xd0, 0x35, 0x71, 0xf7, 0xcf, 0xbd, 0x57, 0x90, 0x21, 0xea, 0xb4, 0x89, 0xde, 0xe7,
    0x53, 0x84, 0xfb, 0x0a, 0x0d, 0x73, 0x3a, 0x00,
};
/* old_block_raw: ts_mode 0, val_mode 0 */
static const uint8_t old_block_raw[42] = {
    0x00, 0x00, 0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x15, 0x7c, 0x4a, 0x7f, 0xb9, 0x79, 0x37, 0x9e, 0x2a, 0xf8,
    0x94, 0xfe, 0x72, 0xf3, 0x6e, 0x3c, 0x3f, 0x74, 0xdf, 0x7d, 0x2c, 0x6d, 0xa6, 0xda,
};
/* old_block_constant: ts_mode 1, val_mode 1 */
static const uint8_t old_block_constant[36] = {
    0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x41, 0x05, 0x15, 0x54, 0x50, 0x41,
    0x05, 0x15, 0x54, 0x50, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x45, 0x40,
};

static void old_gen(int which, int64_t *ts, double *v, uint32_t *n) {
    if (which == 0) {
        *n = 40;
        for (int i = 0; i < 40; i++) {
            ts[i] = 1700000000000000000 + (int64_t)i * 1000000000;
            v[i] = (double)(i * 7 % 23) / 10.0;
        }
        v[5] = NAN;
        v[7] = 6.0820000000000025;
        v[9] = -0.0;
        v[11] = INFINITY;
        v[13] = 0.1 + 0.2;
    } else if (which == 1) {
        *n = 20;
        for (int i = 0; i < 20; i++) {
            ts[i] = (int64_t)i * 1000 + (i * i) % 7;
            v[i] = sqrt(i + 2.0) * 1e20;
        }
    } else if (which == 2) {
        *n = 3;
        for (int i = 0; i < 3; i++) {
            ts[i] = -5 + i;
            uint64_t u = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
            memcpy(&v[i], &u, 8);
        }
    } else {
        *n = 10;
        for (int i = 0; i < 10; i++) {
            ts[i] = (int64_t)i * i * 10;
            v[i] = 42.5;
        }
    }
}

TEST(blocks_written_before_the_entropy_coded_mode_still_decode_bit_exactly) {
    const uint8_t *blocks[4] = {old_block_decimal, old_block_xor, old_block_raw,
                                old_block_constant};
    const size_t lens[4] = {sizeof old_block_decimal, sizeof old_block_xor, sizeof old_block_raw,
                            sizeof old_block_constant};
    for (int b = 0; b < 4; b++) {
        int64_t ts[64], ts2[64];
        double v[64], v2[64];
        uint32_t n;
        old_gen(b, ts, v, &n);
        CHECK_MSG(codec_decode(blocks[b], lens[b], n, ts2, v2) == 0, "block %d", b);
        for (uint32_t i = 0; i < n; i++) {
            CHECK_MSG(ts2[i] == ts[i], "block %d point %u: ts", b, i);
            CHECK_MSG(same_bits(v2[i], v[i]), "block %d point %u: %.17g, want %.17g", b, i, v2[i],
                      v[i]);
        }
    }
}

/* ---- val_mode 4: decimal integers, entropy-coded ---- */

/* A residual with a geometric distribution (mean about 2^bits): the skewed noise of
 * real sensors, for which the entropy-coded mode beats fixed-width fields. */
static int64_t geometric(unsigned bits) {
    int64_t r = 0;
    while (rand() % 8 != 0)
        r += 1 + rand() % (1 << bits);
    return rand() % 2 ? r : -r;
}

/* Encodes, checks the block took val_mode 4, decodes bit-exactly; the size or 0. */
static size_t roundtrip_mode4(const int64_t *ts, const double *v, uint32_t n) {
    size_t len = roundtrip(ts, v, n);
    if (len == 0) return 0;
    if (enc[1] != 4) {
        printf("  val_mode %u, not 4\n", enc[1]);
        return 0;
    }
    return len;
}

TEST(entropy_coded_mode_round_trips_special_values_near_values_and_huge_jumps) {
    static int64_t ts[STORAGE_BLOCK_POINTS_MAX];
    static double v[STORAGE_BLOCK_POINTS_MAX];
    const double specials[] = {NAN,          -NAN,   INFINITY, -INFINITY, -0.0,  DBL_MIN / 4,
                               -DBL_MIN / 3, 5e-324, DBL_MAX,  -DBL_MAX,  1e300, DBL_MIN};
    uint32_t ns = (uint32_t)(sizeof specials / sizeof specials[0]);
    for (uint32_t i = 0; i < STORAGE_BLOCK_POINTS_MAX; i++)
        ts[i] = 1600000000000000000 + (int64_t)i * 60000000000;
    /* Three-decimal noise with far values (every special) and near values mixed in. */
    srand(11);
    int64_t k = 50000;
    for (uint32_t i = 0; i < STORAGE_BLOCK_POINTS_MAX; i++) {
        k += geometric(3);
        v[i] = (double)k / 1000.0;
        if (i % 41 == 7) v[i] = specials[(i / 41) % ns];
        if (i % 29 == 3) v[i] = 0.1 + 0.2 + (double)(i % 5); /* near: ulps off the grid */
    }
    CHECK(roundtrip_mode4(ts, v, STORAGE_BLOCK_POINTS_MAX) > 0);
    /* Huge jumps: integers hopping across +-2^52 between small steps (residual classes
     * up to 64 bits, wrapping prediction). */
    srand(12);
    for (uint32_t i = 0; i < STORAGE_BLOCK_POINTS_MAX; i++) {
        double base = i % 97 == 50 ? 4503599627370495.0 : i % 89 == 40 ? -4503599627370495.0 : 0;
        v[i] = base + (double)(1000 + geometric(2));
    }
    CHECK(roundtrip_mode4(ts, v, STORAGE_BLOCK_POINTS_MAX) > 0);
    /* A linear ramp with small noise (the linear predictor) and negative values. */
    srand(13);
    for (uint32_t i = 0; i < STORAGE_BLOCK_POINTS_MAX; i++)
        v[i] = (double)(-300000 + 977 * (int64_t)i + geometric(1)) / 100.0;
    CHECK(roundtrip_mode4(ts, v, STORAGE_BLOCK_POINTS_MAX) > 0);
    /* A few distinct readings with skewed frequencies (the residual dictionary). */
    srand(14);
    const double readings[] = {0.066, 0.068, 0.134, 0.132, 0.1, 0.102, 12.5};
    for (uint32_t i = 0; i < STORAGE_BLOCK_POINTS_MAX; i++) {
        int r = rand() % 64;
        v[i] = readings[r < 40 ? 0 : r < 52 ? 1 : r < 57 ? 2 : r < 60 ? 3 : r < 62 ? 4 : 5 + r % 2];
    }
    size_t len = roundtrip_mode4(ts, v, STORAGE_BLOCK_POINTS_MAX);
    CHECK(len > 0);
    /* About 1.8 bits of entropy a point: well under a byte per point with timestamps. */
    CHECK_MSG(len * 3 < STORAGE_BLOCK_POINTS_MAX, "%zu bytes", len);
    /* Short blocks still round-trip whatever mode they take. */
    for (uint32_t n = 1; n <= 40; n++)
        CHECK_MSG(roundtrip(ts, v, n) > 0, "n = %u", n);
}

TEST(integer_random_walk_steps_cost_close_to_their_entropy) {
    static int64_t ts[STORAGE_BLOCK_POINTS_MAX];
    static double v[STORAGE_BLOCK_POINTS_MAX];
    srand(15);
    double x = 500;
    for (uint32_t i = 0; i < STORAGE_BLOCK_POINTS_MAX; i++) {
        ts[i] = 1600000000000000000 + (int64_t)i * 10000000000;
        x += rand() % 5 - 2; /* five equally likely steps: log2(5) = 2.32 bits */
        v[i] = x;
    }
    size_t len = roundtrip(ts, v, STORAGE_BLOCK_POINTS_MAX);
    CHECK(len > 0);
    /* Entropy 297 bytes; 64 for the timestamps, headers, frequency table, coder state
     * and first value. Fixed-width fields took 3 bits a point: 417 bytes in all. */
    CHECK_MSG(len <= 297 + 64, "%zu bytes for %u points", len, STORAGE_BLOCK_POINTS_MAX);
}

TEST(damaged_entropy_coded_blocks_are_rejected_without_reading_out_of_bounds) {
    static int64_t ts[STORAGE_BLOCK_POINTS_MAX];
    static double v[STORAGE_BLOCK_POINTS_MAX];
    srand(16);
    int64_t k = 0;
    for (uint32_t i = 0; i < 400; i++) {
        ts[i] = (int64_t)i * 1000;
        k += geometric(4);
        v[i] = (double)k / 100.0;
        if (i % 50 == 9) v[i] = NAN;
        if (i % 31 == 4) v[i] = 0.1 + 0.2;
    }
    size_t len;
    CHECK(codec_encode(ts, v, 400, enc, sizeof enc, &len) == 0);
    CHECK(enc[1] == 4);
    static uint8_t copy[CODEC_BYTES_MAX];
    /* Every truncation, and every byte changed in two ways: an error or some points,
     * never a crash or a read out of bounds (ASan). */
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *c = malloc(cut + 1);
        memcpy(c, enc, cut);
        int rc = codec_decode(c, cut, 400, ts, v);
        free(c);
        CHECK(rc == 0 || rc == SL_ECORRUPT);
    }
    for (size_t i = 0; i < len; i++) {
        for (int how = 0; how < 2; how++) {
            memcpy(copy, enc, len);
            copy[i] = how ? (uint8_t)(copy[i] ^ 0xFF) : (uint8_t)(copy[i] + 1);
            int rc = codec_decode(copy, len, 400, ts, v);
            CHECK_MSG(rc == 0 || rc == SL_ECORRUPT, "byte %zu: rc %d", i, rc);
        }
    }
}
