/* toolchain_test.c - modules from real toolchains run through src/wasm (wasm.h) give
 * the same results as the same code compiled natively.
 *
 * build_modules.sh (the fixture test wasm_toolchain/real_toolchains_build_the_test_modules)
 * builds kernels.c with clang-14 (-O0, -O2), clang-16 (-O2, and with bulk memory, sign
 * extension, non-trapping float-to-int and reference types), clang-19 (-O2); the C SDK's
 * fmt.c with clang-14 + wasi-libc + compiler-rt (sdk_fmt_kernel.c); and rust_kernels.rs
 * with Debian's rustc for wasm32-unknown-unknown, wasm32-wasi and natively. The C code is
 * also linked into this executable; the native Rust build is dlopen'ed. Every exported
 * kernel is called with the same arguments on both sides and the results compared bit
 * for bit. The wasm32-wasi module's println! goes through our fd_write. */
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>

#include "base/err.h"
#include "kernels.h"
#include "test.h"
#include "wasm/wasm.h"

#ifndef TOOLCHAIN_MODULE_DIR
#error "TOOLCHAIN_MODULE_DIR must name the directory build_modules.sh writes"
#endif

/* ---- loading ---- */

typedef struct wasi_ctx {
    char out[4096]; /* what the guest wrote to fd 1 and 2 */
    size_t out_len;
    int exit_code; /* proc_exit's argument, -1 if not called */
} wasi_ctx;

typedef struct loaded {
    uint8_t *bytes;
    wasm_module *module;
    wasm_store *store;
    wasm_instance *inst;
    wasi_ctx wasi;
} loaded;

static const char *wasi_fd_write(wasm_instance *caller, void *env, const wasm_val *args,
                                 wasm_val *results) {
    wasi_ctx *w = env;
    wasm_memory *mem = wasm_instance_memory(caller);
    uint32_t fd = args[0].of.i32;
    uint32_t iovs = args[1].of.i32;
    uint32_t count = args[2].of.i32;
    uint32_t total = 0;
    results[0].type = WASM_I32;
    results[0].of.i32 = 8; /* EBADF */
    if (fd != 1 && fd != 2) return NULL;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t iov[2];
        if (wasm_memory_read(mem, (uint64_t)iovs + 8ull * i, iov, sizeof(iov)) < 0) {
            results[0].of.i32 = 21; /* EFAULT */
            return NULL;
        }
        size_t room = sizeof(w->out) - 1 - w->out_len;
        size_t take = iov[1] < room ? iov[1] : room;
        if (wasm_memory_read(mem, iov[0], w->out + w->out_len, take) < 0) {
            results[0].of.i32 = 21;
            return NULL;
        }
        w->out_len += take;
        total += iov[1];
    }
    if (wasm_memory_write(mem, args[3].of.i32, &total, sizeof(total)) < 0) {
        results[0].of.i32 = 21;
        return NULL;
    }
    results[0].of.i32 = 0;
    return NULL;
}

static const char *wasi_environ_sizes_get(wasm_instance *caller, void *env, const wasm_val *args,
                                          wasm_val *results) {
    (void)env;
    uint32_t zero = 0;
    wasm_memory *mem = wasm_instance_memory(caller);
    int rc = wasm_memory_write(mem, args[0].of.i32, &zero, 4);
    if (rc == 0) rc = wasm_memory_write(mem, args[1].of.i32, &zero, 4);
    results[0].type = WASM_I32;
    results[0].of.i32 = rc == 0 ? 0 : 21;
    return NULL;
}

static const char *wasi_environ_get(wasm_instance *caller, void *env, const wasm_val *args,
                                    wasm_val *results) {
    (void)caller;
    (void)env;
    (void)args;
    results[0].type = WASM_I32;
    results[0].of.i32 = 0; /* no variables: nothing to write */
    return NULL;
}

static const char *wasi_proc_exit(wasm_instance *caller, void *env, const wasm_val *args,
                                  wasm_val *results) {
    (void)caller;
    (void)results;
    ((wasi_ctx *)env)->exit_code = (int)args[0].of.i32;
    return "proc_exit";
}

static void unload(loaded *l) {
    wasm_store_free(l->store);
    wasm_module_free(l->module);
    free(l->bytes);
    memset(l, 0, sizeof(*l));
}

/* Loads and instantiates TOOLCHAIN_MODULE_DIR/name; records a failure and returns
 * false if anything goes wrong. */
static bool load(const char *name, loaded *l) {
    char path[512];
    wasm_diag d;
    memset(l, 0, sizeof(*l));
    memset(&d, 0, sizeof(d));
    l->wasi.exit_code = -1;
    snprintf(path, sizeof path, "%s/%s", TOOLCHAIN_MODULE_DIR, name);
    size_t n;
    l->bytes = test_read_file(path, &n);
    if (!l->bytes) {
        test_fail(__FILE__, __LINE__, "%s is missing: run build_modules.sh", path);
        return false;
    }
    int rc = wasm_module_new(l->bytes, n, &l->module, &d);
    if (rc < 0) {
        test_fail(__FILE__, __LINE__, "%s does not load: %s at offset %u", name, d.msg, d.offset);
        return false;
    }
    wasm_limits limits;
    memset(&limits, 0, sizeof(limits));
    if (wasm_store_new(&limits, &l->store) < 0) {
        test_fail(__FILE__, __LINE__, "wasm_store_new failed");
        return false;
    }
    size_t ni = wasm_module_import_count(l->module);
    wasm_extern imports[16];
    if (ni > 16) {
        test_fail(__FILE__, __LINE__, "%s has %zu imports", name, ni);
        return false;
    }
    for (size_t i = 0; i < ni; i++) {
        wasm_import_info info;
        wasm_module_import(l->module, i, &info);
        wasm_host_fn fn = NULL;
        if (strcmp(info.module, "wasi_snapshot_preview1") == 0) {
            if (strcmp(info.name, "fd_write") == 0)
                fn = wasi_fd_write;
            else if (strcmp(info.name, "environ_sizes_get") == 0)
                fn = wasi_environ_sizes_get;
            else if (strcmp(info.name, "environ_get") == 0)
                fn = wasi_environ_get;
            else if (strcmp(info.name, "proc_exit") == 0)
                fn = wasi_proc_exit;
        }
        if (!fn || info.kind != WASM_EXTERN_FUNC) {
            test_fail(__FILE__, __LINE__, "%s imports %s.%s, which this test does not provide",
                      name, info.module, info.name);
            return false;
        }
        imports[i].kind = WASM_EXTERN_FUNC;
        imports[i].of.func = wasm_func_new_host(l->store, &info.func, fn, &l->wasi);
        if (!imports[i].of.func) {
            test_fail(__FILE__, __LINE__, "wasm_func_new_host failed");
            return false;
        }
    }
    rc = wasm_instantiate(l->store, l->module, imports, ni, &l->inst, &d);
    if (rc < 0) {
        test_fail(__FILE__, __LINE__, "%s does not instantiate: %s", name, d.msg);
        return false;
    }
    return true;
}

/* Calls export `fn` with args; returns the status and fills *result (one result). */
static int call(loaded *l, const char *fn, const wasm_val *args, size_t nargs, wasm_val *result,
                wasm_diag *d) {
    wasm_extern e;
    memset(d, 0, sizeof(*d));
    if (wasm_instance_export(l->inst, fn, &e) < 0 || e.kind != WASM_EXTERN_FUNC) {
        snprintf(d->msg, sizeof d->msg, "no exported function %s", fn);
        return SL_ENOTFOUND;
    }
    return wasm_func_call(l->store, e.of.func, args, nargs, result, 1, d);
}

static wasm_val v_i32(int32_t x) {
    wasm_val v = {.type = WASM_I32, .of.i32 = (uint32_t)x};
    return v;
}
static wasm_val v_i64(int64_t x) {
    wasm_val v = {.type = WASM_I64, .of.i64 = (uint64_t)x};
    return v;
}
static wasm_val v_f64(double x) {
    wasm_val v = {.type = WASM_F64};
    memcpy(&v.of.f64_bits, &x, 8);
    return v;
}
static wasm_val v_f32(float x) {
    wasm_val v = {.type = WASM_F32};
    memcpy(&v.of.f32_bits, &x, 4);
    return v;
}

/* The wasm result as 64 raw bits (i32 and f32 zero-extended), for exact comparison. */
static uint64_t raw(const wasm_val *v) {
    switch (v->type) {
    case WASM_I32:
        return v->of.i32;
    case WASM_F32:
        return v->of.f32_bits;
    case WASM_I64:
        return v->of.i64;
    case WASM_F64:
        return v->of.f64_bits;
    default:
        return 0xdeadbeefdeadbeefull;
    }
}

static uint64_t raw_f64(double x) {
    uint64_t b;
    memcpy(&b, &x, 8);
    return b;
}
static uint64_t raw_f32(float x) {
    uint32_t b;
    memcpy(&b, &x, 4);
    return b;
}

/* Checks one call: module result must equal `want` (raw bits). */
#define EXPECT_CALL(l, fn, want, ...)                                                              \
    do {                                                                                           \
        wasm_val args_[] = {__VA_ARGS__};                                                          \
        wasm_val res_;                                                                             \
        wasm_diag d_;                                                                              \
        int rc_ = call(l, fn, args_, sizeof(args_) / sizeof(args_[0]), &res_, &d_);                \
        CHECK_MSG(rc_ == 0, "%s: %s failed %d: %s", module_name, fn, rc_, d_.msg);                 \
        CHECK_MSG(raw(&res_) == (uint64_t)(want), "%s: %s = %#llx, native %#llx", module_name, fn, \
                  (unsigned long long)raw(&res_), (unsigned long long)(want));                     \
    } while (0)

/* ---- C modules ---- */

static const char *const c_modules[] = {"c_clang14_O0.wasm", "c_clang14_O2.wasm",
                                        "c_clang16_O2.wasm", "c_clang16_features.wasm",
                                        "c_clang19_O2.wasm"};

static void check_c_module(const char *module_name) {
    loaded l;
    if (!load(module_name, &l)) {
        unload(&l);
        return;
    }
    loaded *m = &l;
    EXPECT_CALL(m, "k_fib", (uint32_t)k_fib(10), v_i32(10));
    EXPECT_CALL(m, "k_fib", (uint32_t)k_fib(100000), v_i32(100000));
    EXPECT_CALL(m, "k_fib_rec", (uint32_t)k_fib_rec(20), v_i32(20));
    EXPECT_CALL(m, "k_crc32", k_crc32(65536), v_i32(65536));
    EXPECT_CALL(m, "k_sort", k_sort(4096, 1), v_i32(4096), v_i32(1));
    EXPECT_CALL(m, "k_mandel", (uint32_t)k_mandel(48, 100), v_i32(48), v_i32(100));
    EXPECT_CALL(m, "k_i64_mix", (uint64_t)k_i64_mix(123456789, -987654321), v_i64(123456789),
                v_i64(-987654321));
    static const int32_t div_cases[][2] = {{7, 2},          {-7, 2},          {7, -2}, {-7, -2},
                                           {INT32_MIN, 3},  {INT32_MAX, -1},  {0, 5},  {100, 0},
                                           {INT32_MIN, -1}, {123456789, 1000}};
    for (size_t i = 0; i < sizeof div_cases / sizeof div_cases[0]; i++)
        EXPECT_CALL(m, "k_divs", (uint64_t)k_divs(div_cases[i][0], div_cases[i][1]),
                    v_i32(div_cases[i][0]), v_i32(div_cases[i][1]));
    EXPECT_CALL(m, "k_switch", (uint32_t)k_switch(10000), v_i32(10000));
    EXPECT_CALL(m, "k_indirect", (uint32_t)k_indirect(10000), v_i32(10000));
    EXPECT_CALL(m, "k_bytes", k_bytes(8192), v_i32(8192));
    static const int32_t sext_cases[] = {0, 0x80, 0x7f, 0x12345678, -1, 0x7fff80ff, INT32_MIN};
    for (size_t i = 0; i < sizeof sext_cases / sizeof sext_cases[0]; i++)
        EXPECT_CALL(m, "k_sext", (uint32_t)k_sext(sext_cases[i]), v_i32(sext_cases[i]));
    static const double f2i_cases[] = {0.0,        1.5,          -2.75, 123456.789,
                                       -2147483.5, 2147483000.9, -0.999};
    for (size_t i = 0; i < sizeof f2i_cases / sizeof f2i_cases[0]; i++)
        EXPECT_CALL(m, "k_f2i", (uint64_t)k_f2i(f2i_cases[i]), v_f64(f2i_cases[i]));
    EXPECT_CALL(m, "k_float", raw_f64(k_float(1.5, 2000)), v_f64(1.5), v_i32(2000));
    EXPECT_CALL(m, "k_f32", raw_f32(k_f32(2.0f, 2000)), v_f32(2.0f), v_i32(2000));
    EXPECT_CALL(m, "k_matmul", raw_f64(k_matmul(24)), v_i32(24));
    EXPECT_CALL(m, "k_strings", k_strings(5000), v_i32(5000));
    unload(&l);
}

TEST(clang14_O0_module_computes_what_native_code_computes) {
    check_c_module(c_modules[0]);
}

TEST(clang14_O2_module_computes_what_native_code_computes) {
    check_c_module(c_modules[1]);
}

TEST(clang16_O2_module_computes_what_native_code_computes) {
    check_c_module(c_modules[2]);
}

TEST(
    clang16_module_with_bulk_memory_sign_ext_and_saturating_conversions_computes_what_native_code_computes) {
    check_c_module(c_modules[3]);
}

/* ---- the C SDK's fmt.c with wasi-libc and compiler-rt ---- */

uint64_t t_format_hash(int32_t n, uint64_t seed);       /* sdk_fmt_kernel.c */
int32_t t_roundtrip_failures(int32_t n, uint64_t seed); /* sdk_fmt_kernel.c */

TEST(c_sdk_number_formatting_built_with_wasi_libc_and_soft_float_matches_native) {
    const char *module_name = "c_sdk_fmt.wasm";
    loaded l;
    if (!load(module_name, &l)) {
        unload(&l);
        return;
    }
    loaded *m = &l;
    EXPECT_CALL(m, "t_format_hash", t_format_hash(500, 0x9e3779b97f4a7c15ull), v_i32(500),
                v_i64((int64_t)0x9e3779b97f4a7c15ull));
    /* 128-bit long double (compiler-rt) parses every 17-digit text back exactly. */
    EXPECT_CALL(m, "t_roundtrip_failures", 0, v_i32(500), v_i64(12345));
    unload(&l);
}

/* ---- Rust modules ---- */

typedef struct rust_native {
    void *so;
    int32_t (*fib)(int32_t);
    uint32_t (*crc32)(int32_t);
    uint32_t (*sort)(int32_t, uint32_t);
    int32_t (*mandel)(int32_t, int32_t);
    uint32_t (*strings)(int32_t);
    uint64_t (*float_fmt)(double, int32_t);
    uint64_t (*i128)(uint64_t, uint64_t);
    uint64_t (*dyn)(int32_t);
    uint32_t (*alloc)(int32_t);
} rust_native;

static bool rust_native_open(rust_native *r) {
    memset(r, 0, sizeof(*r));
    r->so = dlopen(TOOLCHAIN_MODULE_DIR "/librust_native.so", RTLD_NOW | RTLD_LOCAL);
    if (!r->so) {
        test_fail(__FILE__, __LINE__, "dlopen librust_native.so: %s", dlerror());
        return false;
    }
    /* POSIX guarantees a data pointer from dlsym converts to a function pointer. */
#define SYM(field, name)                                                                           \
    do {                                                                                           \
        void *p_ = dlsym(r->so, name);                                                             \
        if (!p_) {                                                                                 \
            test_fail(__FILE__, __LINE__, "librust_native.so lacks %s", name);                     \
            return false;                                                                          \
        }                                                                                          \
        memcpy(&r->field, &p_, sizeof(p_));                                                        \
    } while (0)
    SYM(fib, "r_fib");
    SYM(crc32, "r_crc32");
    SYM(sort, "r_sort");
    SYM(mandel, "r_mandel");
    SYM(strings, "r_strings");
    SYM(float_fmt, "r_float_fmt");
    SYM(i128, "r_i128");
    SYM(dyn, "r_dyn");
    SYM(alloc, "r_alloc");
#undef SYM
    return true;
}

static void check_rust_module(const char *module_name, bool wasi) {
    rust_native nat;
    loaded l;
    if (!rust_native_open(&nat)) return;
    if (!load(module_name, &l)) {
        unload(&l);
        dlclose(nat.so);
        return;
    }
    loaded *m = &l;
    /* The same algorithms as kernels.c: Rust's output must match C's too. */
    CHECK_EQ_U64((uint32_t)nat.fib(100000), (uint32_t)k_fib(100000));
    CHECK_EQ_U64(nat.crc32(65536), k_crc32(65536));
    CHECK_EQ_U64(nat.sort(4096, 1), k_sort(4096, 1));
    CHECK_EQ_U64(nat.strings(5000), k_strings(5000));
    EXPECT_CALL(m, "r_fib", (uint32_t)nat.fib(100000), v_i32(100000));
    EXPECT_CALL(m, "r_crc32", nat.crc32(65536), v_i32(65536));
    EXPECT_CALL(m, "r_sort", nat.sort(4096, 1), v_i32(4096), v_i32(1));
    EXPECT_CALL(m, "r_mandel", (uint32_t)nat.mandel(48, 100), v_i32(48), v_i32(100));
    EXPECT_CALL(m, "r_strings", nat.strings(5000), v_i32(5000));
    EXPECT_CALL(m, "r_float_fmt", nat.float_fmt(1.0 / 3.0, 300), v_f64(1.0 / 3.0), v_i32(300));
    EXPECT_CALL(m, "r_float_fmt", nat.float_fmt(1e300, 50), v_f64(1e300), v_i32(50));
    static const uint64_t i128_cases[][2] = {{1, 1},
                                             {0xffffffffffffffffull, 0xfffffffffffffffeull},
                                             {0x123456789abcdefull, 77},
                                             {0, 0x8000000000000000ull}};
    for (size_t i = 0; i < sizeof i128_cases / sizeof i128_cases[0]; i++)
        EXPECT_CALL(m, "r_i128", nat.i128(i128_cases[i][0], i128_cases[i][1]),
                    v_i64((int64_t)i128_cases[i][0]), v_i64((int64_t)i128_cases[i][1]));
    EXPECT_CALL(m, "r_dyn", nat.dyn(3000), v_i32(3000));
    EXPECT_CALL(m, "r_alloc", nat.alloc(8), v_i32(8));
    EXPECT_CALL(m, "r_panic", 3, v_i32(3));

    /* An out-of-bounds index panics: with panic=abort that is a trap, not a crash. */
    wasm_val arg = v_i32(20);
    wasm_val res;
    wasm_diag d;
    CHECK_EQ_INT(call(m, "r_panic", &arg, 1, &res, &d), SL_ETRAP);
    /* Asking for more than the store's memory limit (64 MiB) makes the allocator fail
     * (memory.grow returns -1), which Rust turns into a trap as well. */
    arg = v_i32(200);
    CHECK_EQ_INT(call(m, "r_alloc", &arg, 1, &res, &d), SL_ETRAP);

    if (wasi) {
        m->wasi.out_len = 0;
        EXPECT_CALL(m, "r_hello", 42, v_i32(41));
        m->wasi.out[m->wasi.out_len] = '\0';
        CHECK_EQ_STR(m->wasi.out, "hello from rust 41 5.125\n");
    }
    unload(&l);
    dlclose(nat.so);
}

TEST(clang19_O2_module_computes_what_native_code_computes) {
    check_c_module(c_modules[4]);
}

/* Guards the coverage claim of build_modules.sh: Debian's rustc (its lld) writes
 * call_indirect's type index as a 5-byte padded LEB128, which the engine must accept.
 * If a toolchain update stops doing so, this says the test no longer covers it. */
TEST(rust_module_contains_call_indirect_with_padded_leb128_immediates) {
    size_t n;
    uint8_t *bytes = test_read_file(TOOLCHAIN_MODULE_DIR "/rust_unknown.wasm", &n);
    CHECK(bytes != NULL);
    static const uint8_t padded[] = {0x11, 0x80, 0x80, 0x80, 0x80, 0x00}; /* type 0, 5 bytes */
    bool found = memmem(bytes, n, padded, sizeof(padded)) != NULL;
    free(bytes);
    CHECK(found);
}

TEST(rust_wasm32_unknown_unknown_module_computes_what_native_rust_computes) {
    check_rust_module("rust_unknown.wasm", false);
}

TEST(rust_wasm32_wasi_module_computes_what_native_rust_computes_and_prints_through_fd_write) {
    check_rust_module("rust_wasi.wasm", true);
}
