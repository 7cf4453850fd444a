/* kernels.c - see kernels.h. Freestanding (no libc): the wasm builds link nothing
 * else but wasm_rt.c (memcpy/memset for the MVP builds). */
#include "kernels.h"

#include <stddef.h>

int32_t k_fib(int32_t n) {
    uint32_t a = 0;
    uint32_t b = 1;
    for (int32_t i = 0; i < n; i++) {
        uint32_t t = a + b; /* wraps for large n: unsigned, defined */
        a = b;
        b = t;
    }
    return (int32_t)a;
}

int32_t k_fib_rec(int32_t n) {
    return n < 2 ? n : k_fib_rec(n - 1) + k_fib_rec(n - 2);
}

static uint8_t buffer[1 << 16];

static void fill(uint8_t *p, int32_t n, uint32_t seed) {
    for (int32_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (uint8_t)(seed >> 24);
    }
}

uint32_t k_crc32(int32_t n) {
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    if (n > (int32_t)sizeof(buffer)) n = (int32_t)sizeof(buffer);
    fill(buffer, n, 7);
    uint32_t crc = 0xffffffffu;
    for (int32_t i = 0; i < n; i++)
        crc = table[(crc ^ buffer[i]) & 0xff] ^ (crc >> 8);
    return crc ^ 0xffffffffu;
}

static void quicksort(int32_t *a, int32_t lo, int32_t hi) {
    while (lo < hi) {
        int32_t p = a[(lo + hi) / 2];
        int32_t i = lo;
        int32_t j = hi;
        while (i <= j) {
            while (a[i] < p)
                i++;
            while (a[j] > p)
                j--;
            if (i <= j) {
                int32_t t = a[i];
                a[i++] = a[j];
                a[j--] = t;
            }
        }
        if (j - lo < hi - i) {
            quicksort(a, lo, j);
            lo = i;
        } else {
            quicksort(a, i, hi);
            hi = j;
        }
    }
}

uint32_t k_sort(int32_t n, uint32_t seed) {
    static int32_t v[4096];
    if (n > 4096) n = 4096;
    for (int32_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = (int32_t)(seed >> 1) - (1 << 30);
    }
    quicksort(v, 0, n - 1);
    uint32_t h = 2166136261u;
    for (int32_t i = 0; i < n; i++) {
        if (i > 0 && v[i - 1] > v[i]) return 0; /* not sorted */
        h = (h ^ (uint32_t)v[i]) * 16777619u;
    }
    return h;
}

int32_t k_mandel(int32_t size, int32_t iters) {
    int32_t inside = 0;
    for (int32_t y = 0; y < size; y++) {
        for (int32_t x = 0; x < size; x++) {
            double cr = 2.5 * x / size - 2.0;
            double ci = 2.0 * y / size - 1.0;
            double zr = 0;
            double zi = 0;
            int32_t k = 0;
            while (k < iters && zr * zr + zi * zi <= 4.0) {
                double t = zr * zr - zi * zi + cr;
                zi = 2.0 * zr * zi + ci;
                zr = t;
                k++;
            }
            inside += k == iters;
        }
    }
    return inside;
}

int64_t k_i64_mix(int64_t a, int64_t b) {
    uint64_t x = (uint64_t)a;
    uint64_t y = (uint64_t)b | 1;
    for (int i = 0; i < 64; i++) {
        x = (x << 7 | x >> 57) ^ (y * 0x9e3779b97f4a7c15ull);
        y += x / y + x % y;
        x ^= (uint64_t)((int64_t)x >> 13);
    }
    return (int64_t)(x ^ y);
}

int64_t k_divs(int32_t a, int32_t b) {
    if (b == 0 || (a == INT32_MIN && b == -1)) return -1;
    int64_t q = a / b;
    int64_t r = a % b;
    uint32_t uq = (uint32_t)a / (uint32_t)b;
    uint32_t ur = (uint32_t)a % (uint32_t)b;
    int64_t wide = ((int64_t)a * 1000003) / ((int64_t)b * 7 - 1 == 0 ? 1 : (int64_t)b * 7 - 1);
    return q * 31 + r * 17 + (int64_t)uq * 13 + ur + wide;
}

int32_t k_switch(int32_t n) {
    int32_t acc = 0;
    for (int32_t i = 0; i < n; i++) {
        switch ((i * 7 + acc) & 15) {
        case 0:
            acc += 3;
            break;
        case 1:
            acc ^= 0x55;
            break;
        case 2:
            acc -= i;
            break;
        case 3:
            acc *= 3;
            break;
        case 4:
            acc += i * i;
            break;
        case 5:
            acc = (int32_t)((uint32_t)acc >> 1);
            break;
        case 6:
            acc |= 0x100;
            break;
        case 7:
            acc &= 0x7ffff;
            break;
        case 8:
            acc += 11;
            break;
        case 9:
            acc -= 5;
            break;
        case 11:
            acc ^= i;
            break;
        case 13:
            acc += acc >> 3;
            break;
        default:
            acc += 1;
            break;
        }
        acc &= 0xffffff;
    }
    return acc;
}

typedef int32_t (*op_fn)(int32_t, int32_t);
static int32_t op_add(int32_t a, int32_t b) {
    return a + b;
}
static int32_t op_sub(int32_t a, int32_t b) {
    return a - b;
}
static int32_t op_xor(int32_t a, int32_t b) {
    return a ^ b;
}
static int32_t op_mul(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a * (uint32_t)b);
}
static int32_t op_max(int32_t a, int32_t b) {
    return a > b ? a : b;
}

int32_t k_indirect(int32_t n) {
    static op_fn ops[5] = {op_add, op_sub, op_xor, op_mul, op_max};
    int32_t acc = 1;
    for (int32_t i = 0; i < n; i++)
        acc = ops[(uint32_t)(i + acc) % 5u](acc, i) & 0xfffff;
    return acc;
}

uint32_t k_bytes(int32_t n) {
    static uint8_t a[8192];
    static uint8_t b[8192];
    if (n > 8192) n = 8192;
    fill(a, n, 99);
    __builtin_memset(b, 0x5a, sizeof(b));
    for (int32_t k = 1; k < 8; k++) {
        __builtin_memcpy(b + k, a, (size_t)(n - k));
        __builtin_memmove(a + k, a, (size_t)(n - k)); /* overlapping */
    }
    uint32_t h = 0;
    for (int32_t i = 0; i < n; i++)
        h = h * 31 + a[i] + 7u * b[i];
    return h;
}

int32_t k_sext(int32_t x) {
    int8_t b = (int8_t)(x & 0xff);
    int16_t h = (int16_t)((x >> 8) & 0xffff);
    int64_t w = (int32_t)x;
    return b * 3 + h + (int32_t)(w >> 40) + (int32_t)(int8_t)(x >> 3);
}

int64_t k_f2i(double x) {
    /* In range for every conversion: the test passes |x| < 2^31. */
    int32_t i = (int32_t)x;
    uint32_t u = (uint32_t)(x < 0 ? -x : x);
    int64_t l = (int64_t)(x * 1000.0);
    float f = (float)x;
    return (int64_t)i * 3 + u + l + (int64_t)(int32_t)f;
}

double k_float(double x, int32_t n) {
    double acc = x;
    for (int32_t i = 1; i <= n; i++) {
        acc = acc * 1.0000001 + 1.0 / i;
        acc = __builtin_sqrt(acc * acc + 1.0);
        acc = acc - __builtin_floor(acc / 1000.0) * 1000.0;
        acc = (acc < 1e9 ? acc : 1e9) + __builtin_copysign(0.5, -acc) + __builtin_fabs(-0.25);
        acc += __builtin_trunc(acc / 3) - __builtin_ceil(acc / 5) + __builtin_nearbyint(acc / 7);
    }
    return acc;
}

float k_f32(float x, int32_t n) {
    float acc = x;
    for (int32_t i = 1; i <= n; i++) {
        acc = acc * 1.001f + (float)i / 7.0f;
        acc = __builtin_sqrtf(acc);
        acc = (acc > 0.5f ? acc : 0.5f) - __builtin_floorf(acc / 3.0f);
    }
    return acc;
}

double k_matmul(int32_t n) {
    static double a[32 * 32];
    static double b[32 * 32];
    static double c[32 * 32];
    if (n > 32) n = 32;
    for (int32_t i = 0; i < n * n; i++) {
        a[i] = (double)(i % 7) * 0.5 - 1.0;
        b[i] = (double)(i % 5) * 0.25 + 0.125;
    }
    for (int32_t i = 0; i < n; i++)
        for (int32_t j = 0; j < n; j++) {
            double s = 0;
            for (int32_t k = 0; k < n; k++)
                s += a[i * n + k] * b[k * n + j];
            c[i * n + j] = s;
        }
    double t = 0;
    for (int32_t i = 0; i < n * n; i++)
        t += c[i] * (double)(i % 3 + 1);
    return t;
}

uint32_t k_strings(int32_t n) {
    /* A string-building loop on the shadow stack: decimal digits, reversal, hashing. */
    char buf[64];
    uint32_t h = 5381;
    for (int32_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)i * 2654435761u;
        int len = 0;
        do {
            buf[len++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        for (int l = 0, r = len - 1; l < r; l++, r--) {
            char t = buf[l];
            buf[l] = buf[r];
            buf[r] = t;
        }
        for (int k = 0; k < len; k++)
            h = h * 33 + (uint8_t)buf[k];
    }
    return h;
}
