/* bench_wasm.c - how fast src/wasm runs compiled C compared with the same C run natively.
 *
 * Kernels (kernels.c): a CoreMark-like integer mix, recursive fib, CRC-32, mandelbrot,
 * f64 matrix multiply, a Gorilla decoder and a JSON-building loop. Each is compiled
 * natively into this program (the build's compiler and flags: gcc -O2 in the release
 * build) and to wasm32 with clang-14 -O2 -mbulk-memory (bench_kernels.wasm). For each,
 * the driver checks both return the same checksum, then reports the median of RUNS
 * timed runs after one warm-up run (native and wasm runs alternate), native and wasm, their ratio,
 * and the geometric mean of the ratios (goal <= 8x). Also: the cost of a host-import call
 * (b_host_calls: a wasm loop calling an imported no-op, ns per iteration), and loading a ~120 KB
 * module (big.wasm, 500 functions): wasm_module_new (decode + validate + compile) and
 * wasm_instantiate, median of 21. Single thread; run on an otherwise idle machine for stable
 * figures. Usage: bench_wasm [scale=1] (scale multiplies every kernel's work).
 * bench_wasm -k NAME [scale=1] runs only kernel NAME (e.g. fib), once, in wasm, and prints
 * its checksum: for `valgrind --tool=callgrind`, whose instruction counts compare engine
 * variants repeatably whatever the machine's load. */
#include "base/clock.h"
#include "base/err.h"
#include "kernels.h"
#include "wasm/wasm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef BENCH_WASM_DIR
#error "BENCH_WASM_DIR must name the directory holding bench_kernels.wasm and big.wasm"
#endif

enum { RUNS = 5, LOAD_RUNS = 21 };

static uint8_t *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(len > 0 ? (size_t)len : 1);
    if (p && fread(p, 1, (size_t)len, f) != (size_t)len) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return p;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int64_t median(int64_t *t, int n) {
    qsort(t, (size_t)n, sizeof(*t), cmp_i64);
    return t[n / 2];
}

static const char *host_nop(wasm_instance *caller, void *env, const wasm_val *args,
                            wasm_val *results) {
    (void)caller;
    (void)env;
    results[0].type = WASM_I32;
    results[0].of.i32 = args[0].of.i32 & 1;
    return NULL;
}

typedef struct kernel {
    const char *name; /* export name */
    int32_t arg;      /* work at scale 1 */
    bool wide;        /* returns i64 */
    uint64_t (*native)(int32_t);
} kernel;

static uint64_t n_coremark(int32_t a) {
    return b_coremark(a);
}
static uint64_t n_fib(int32_t a) {
    return (uint32_t)b_fib(a);
}
static uint64_t n_crc32(int32_t a) {
    return b_crc32(a);
}
static uint64_t n_mandel(int32_t a) {
    return (uint32_t)b_mandel(a);
}
static uint64_t n_matmul(int32_t a) {
    return (uint64_t)b_matmul(a);
}
static uint64_t n_gorilla(int32_t a) {
    return (uint64_t)b_gorilla(a);
}
static uint64_t n_json(int32_t a) {
    return b_json(a);
}

static volatile uint64_t sink; /* keeps native results alive */

int main(int argc, char **argv) {
    const char *only = NULL; /* -k NAME: that kernel once, wasm only */
    if (argc > 2 && strcmp(argv[1], "-k") == 0) {
        only = argv[2];
        argc -= 2;
        argv += 2;
    }
    int scale = argc > 1 ? atoi(argv[1]) : 1;
    if (scale < 1) scale = 1;
    const kernel kernels[] = {
        {"b_coremark", 2000 * scale, false, n_coremark},
        {"b_fib", 32, false, n_fib},
        {"b_crc32", 40 * scale, false, n_crc32},
        {"b_mandel", 200 * scale, false, n_mandel},
        {"b_matmul", 256, true, n_matmul},
        {"b_gorilla", 100 * scale, true, n_gorilla},
        {"b_json", 200000 * scale, false, n_json},
    };
    size_t n;
    wasm_diag d;
    uint8_t *bytes = read_file(BENCH_WASM_DIR "/bench_kernels.wasm", &n);
    if (!bytes) {
        fprintf(stderr, "bench_wasm: %s/bench_kernels.wasm is missing\n", BENCH_WASM_DIR);
        return 1;
    }
    wasm_module *m;
    wasm_store *s;
    wasm_instance *inst;
    wasm_limits limits;
    memset(&limits, 0, sizeof(limits));
    if (wasm_module_new(bytes, n, &m, &d) < 0 || wasm_store_new(&limits, &s) < 0) {
        fprintf(stderr, "bench_wasm: load failed: %s\n", d.msg);
        return 1;
    }
    wasm_import_info info;
    wasm_module_import(m, 0, &info);
    wasm_extern imp = {.kind = WASM_EXTERN_FUNC,
                       .of.func = wasm_func_new_host(s, &info.func, host_nop, NULL)};
    if (wasm_instantiate(s, m, &imp, 1, &inst, &d) < 0) {
        fprintf(stderr, "bench_wasm: instantiate failed: %s\n", d.msg);
        return 1;
    }

    if (only) {
        for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
            wasm_extern e;
            if (strcmp(kernels[k].name + 2, only) != 0) continue;
            if (wasm_instance_export(inst, kernels[k].name, &e) < 0) return 1;
            wasm_val arg = {.type = WASM_I32, .of.i32 = (uint32_t)kernels[k].arg};
            wasm_val res;
            if (wasm_func_call(s, e.of.func, &arg, 1, &res, 1, &d) < 0) {
                fprintf(stderr, "bench_wasm: %s trapped: %s\n", only, d.msg);
                return 1;
            }
            printf("%s %llu\n", only,
                   (unsigned long long)(kernels[k].wide ? res.of.i64 : res.of.i32));
            wasm_store_free(s);
            wasm_module_free(m);
            free(bytes);
            return 0;
        }
        fprintf(stderr, "bench_wasm: no kernel %s\n", only);
        return 1;
    }

    printf("%-12s %12s %12s %8s\n", "kernel", "native ms", "wasm ms", "ratio");
    double log_sum = 0;
    int failures = 0;
    for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
        const kernel *kn = &kernels[k];
        wasm_extern e;
        if (wasm_instance_export(inst, kn->name, &e) < 0) {
            fprintf(stderr, "bench_wasm: no export %s\n", kn->name);
            return 1;
        }
        int64_t tn[RUNS];
        int64_t tw[RUNS];
        uint64_t want = 0;
        uint64_t got = 0;
        /* Native and wasm runs alternate so a change in machine load hits both. */
        for (int r = -1; r < RUNS; r++) {
            int64_t t0 = clock_mono_ns();
            want = kn->native(kn->arg);
            int64_t t1 = clock_mono_ns();
            sink = want;
            wasm_val arg = {.type = WASM_I32, .of.i32 = (uint32_t)kn->arg};
            wasm_val res;
            int rc = wasm_func_call(s, e.of.func, &arg, 1, &res, 1, &d);
            int64_t t2 = clock_mono_ns();
            if (rc < 0) {
                fprintf(stderr, "bench_wasm: %s trapped: %s\n", kn->name, d.msg);
                return 1;
            }
            got = kn->wide ? res.of.i64 : res.of.i32;
            if (r >= 0) {
                tn[r] = t1 - t0;
                tw[r] = t2 - t1;
            }
        }
        if (!kn->wide) want &= 0xffffffffu;
        double nat_ms = (double)median(tn, RUNS) / 1e6;
        double wasm_ms = (double)median(tw, RUNS) / 1e6;
        double ratio = wasm_ms / nat_ms;
        log_sum += log(ratio);
        printf("%-12s %12.2f %12.2f %7.2fx%s\n", kn->name + 2, nat_ms, wasm_ms, ratio,
               want == got ? "" : "  CHECKSUM MISMATCH");
        failures += want != got;
    }
    size_t nk = sizeof kernels / sizeof kernels[0];
    printf("%-12s %12s %12s %7.2fx  (goal <= 8x)\n", "geomean", "", "", exp(log_sum / (double)nk));

    /* Host-import calls. */
    {
        wasm_extern e;
        wasm_instance_export(inst, "b_host_calls", &e);
        int32_t calls = 2000000;
        int64_t t[RUNS];
        for (int r = -1; r < RUNS; r++) {
            wasm_val arg = {.type = WASM_I32, .of.i32 = (uint32_t)calls};
            wasm_val res;
            int64_t t0 = clock_mono_ns();
            wasm_func_call(s, e.of.func, &arg, 1, &res, 1, &d);
            if (r >= 0) t[r] = clock_mono_ns() - t0;
        }
        printf("host import call: %.1f ns per call (loop included, %d calls)\n",
               (double)median(t, RUNS) / calls, calls);
    }
    wasm_store_free(s);
    wasm_module_free(m);
    free(bytes);

    /* Loading a ~100 KB module. */
    bytes = read_file(BENCH_WASM_DIR "/big.wasm", &n);
    if (!bytes) {
        fprintf(stderr, "bench_wasm: big.wasm is missing\n");
        return 1;
    }
    int64_t tl[LOAD_RUNS];
    int64_t ti[LOAD_RUNS];
    for (int r = 0; r < LOAD_RUNS; r++) {
        int64_t t0 = clock_mono_ns();
        if (wasm_module_new(bytes, n, &m, &d) < 0) {
            fprintf(stderr, "bench_wasm: big.wasm: %s\n", d.msg);
            return 1;
        }
        int64_t t1 = clock_mono_ns();
        wasm_store_new(&limits, &s);
        if (wasm_instantiate(s, m, NULL, 0, &inst, &d) < 0) {
            fprintf(stderr, "bench_wasm: big.wasm instantiate: %s\n", d.msg);
            return 1;
        }
        int64_t t2 = clock_mono_ns();
        tl[r] = t1 - t0;
        ti[r] = t2 - t1;
        wasm_store_free(s);
        wasm_module_free(m);
    }
    printf("module of %zu bytes: load (decode+validate+compile) %.2f ms, instantiate %.3f ms\n", n,
           (double)median(tl, LOAD_RUNS) / 1e6, (double)median(ti, LOAD_RUNS) / 1e6);
    free(bytes);
    return failures ? 1 : 0;
}
