/* sdk_fmt_kernel.c - the C guest SDK's number conversion (sdk/c/src/fmt.c) as a
 * toolchain workload: clang-14 for wasm32-wasi with wasi-libc and compiler-rt
 * (fmt.c's long double is 128-bit soft float there), built by build_modules.sh into
 * c_sdk_fmt.wasm and linked natively into the test. Heavy on i64 multiply/divide
 * (the bignum), byte stores and calls into libc. */
#include <stdint.h>
#include <string.h>

#include "kernels.h"
#include "slung.h"

KEXPORT(t_format_hash) uint64_t t_format_hash(int32_t n, uint64_t seed);
KEXPORT(t_roundtrip_failures) int32_t t_roundtrip_failures(int32_t n, uint64_t seed);

static double next_double(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    double v;
    memcpy(&v, s, sizeof(v));
    return v;
}

/* FNV-1a over the shortest text of n pseudo-random doubles (NaN and inf included). */
uint64_t t_format_hash(int32_t n, uint64_t seed) {
    uint64_t h = 1469598103934665603ull;
    char buf[SLUNG_DOUBLE_CHARS_MAX];
    for (int32_t i = 0; i < n; i++) {
        size_t k = slung_format_double(buf, sizeof(buf), next_double(&seed));
        for (size_t j = 0; j < k; j++)
            h = (h ^ (uint8_t)buf[j]) * 1099511628211ull;
        h = (h ^ k) * 1099511628211ull;
    }
    return h;
}

/* How many finite doubles do not read back from their shortest text. */
int32_t t_roundtrip_failures(int32_t n, uint64_t seed) {
    int32_t bad = 0;
    char buf[SLUNG_DOUBLE_CHARS_MAX];
    for (int32_t i = 0; i < n; i++) {
        double v = next_double(&seed);
        if (v != v || v - v != 0) continue;
        size_t k = slung_format_double(buf, sizeof(buf), v);
        double back;
        if (slung_parse_double(buf, k, &back) != 0 || memcmp(&back, &v, sizeof(v)) != 0) bad++;
    }
    return bad;
}
