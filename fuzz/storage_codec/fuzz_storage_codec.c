/* fuzz_storage_codec.c - block decoding of untrusted bytes (a damaged segment) never
 * reads out of bounds and never crashes; and any points encode and decode back to
 * the same bits.
 * Input byte 0: even = decode the rest as a block of n points (n from bytes 1-2);
 * odd = the rest is (i64 ts, f64 value) pairs, sorted and deduplicated by timestamp,
 * which must round-trip bit-exactly. */
#include "base/log.h"
#include "storage/storage_internal.h"

#include <stdlib.h>
#include <string.h>

static int64_t ts[STORAGE_BLOCK_POINTS_MAX];
static double v[STORAGE_BLOCK_POINTS_MAX];
static int64_t ts2[STORAGE_BLOCK_POINTS_MAX];
static double v2[STORAGE_BLOCK_POINTS_MAX];
static uint8_t enc[CODEC_BYTES_MAX];

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    if ((data[0] & 1) == 0) {
        uint32_t n = (uint32_t)(data[1] | data[2] << 8) % (STORAGE_BLOCK_POINTS_MAX + 1);
        int rc = codec_decode(data + 3, size - 3, n, ts, v);
        if (rc != 0 && rc != SL_ECORRUPT) abort();
        return 0;
    }
    size_t n = (size - 1) / 16;
    if (n == 0) return 0;
    if (n > STORAGE_BLOCK_POINTS_MAX) n = STORAGE_BLOCK_POINTS_MAX;
    for (size_t i = 0; i < n; i++)
        memcpy(&ts[i], data + 1 + 16 * i, 8);
    qsort(ts, n, sizeof ts[0], cmp_i64);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || ts[i] != ts[k - 1]) ts[k++] = ts[i];
    for (size_t i = 0; i < k; i++)
        memcpy(&v[i], data + 1 + 16 * i + 8, 8);
    size_t len;
    if (codec_encode(ts, v, (uint32_t)k, enc, sizeof enc, &len) != 0) abort();
    if (codec_decode(enc, len, (uint32_t)k, ts2, v2) != 0) abort();
    for (size_t i = 0; i < k; i++)
        if (ts2[i] != ts[i] || memcmp(&v2[i], &v[i], 8) != 0) abort();
    return 0;
}
