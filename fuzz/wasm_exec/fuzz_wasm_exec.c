/* fuzz_wasm_exec.c - runs any module that decodes and validates, under tight limits.
 *
 * Every import is satisfied by a matching host object (functions return zeros);
 * every exported function is called with zero arguments. Limits: 16 memory pages,
 * 1024 table elements, call depth 256, 64 K value slots, and a watchdog thread that
 * interrupts the store once a call has run for WATCHDOG_MS. Expectation: no crash,
 * no sanitizer report, no leak, whatever the module does (traps are fine).
 * Threads: libFuzzer's thread plus the watchdog, which touches only atomics and
 * wasm_store_interrupt(). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wasm/wasm.h"

#define WATCHDOG_MS 20
#define EXPORT_CALLS_MAX 64

static _Atomic(wasm_store *) watched;
static atomic_llong deadline_ns;
static pthread_once_t watchdog_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *watchdog(void *arg) {
    (void)arg;
    for (;;) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&watch_lock);
        wasm_store *s = atomic_load(&watched);
        if (s && now_ns() > atomic_load(&deadline_ns)) wasm_store_interrupt(s);
        pthread_mutex_unlock(&watch_lock);
    }
    return NULL;
}

static void start_watchdog(void) {
    pthread_t th;
    if (pthread_create(&th, NULL, watchdog, NULL) == 0) pthread_detach(th);
}

static const char *host_zero(wasm_instance *caller, void *env, const wasm_val *args,
                             wasm_val *results) {
    const wasm_functype *ft = env;
    for (uint32_t i = 0; i < ft->result_count; i++) {
        memset(&results[i], 0, sizeof(results[i]));
        results[i].type = ft->results[i];
    }
    return NULL;
}

static wasm_val zero_of(wasm_valtype t) {
    wasm_val v;
    memset(&v, 0, sizeof(v));
    v.type = t;
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    wasm_module *m = NULL;
    wasm_store *s = NULL;
    wasm_instance *inst = NULL;
    wasm_extern *imports = NULL;
    wasm_functype *types = NULL;
    wasm_diag d;
    pthread_once(&watchdog_once, start_watchdog);
    if (wasm_module_new(data, size, &m, &d) < 0) return 0;
    wasm_limits lim = {.memory_pages_max = 16, .table_elems_max = 1024, .call_depth_max = 256,
                       .value_stack_max = 65536};
    if (wasm_store_new(&lim, &s) < 0) goto out;
    size_t ni = wasm_module_import_count(m);
    imports = calloc(ni + 1, sizeof(*imports));
    types = calloc(ni + 1, sizeof(*types));
    if (!imports || !types) goto out;
    for (size_t i = 0; i < ni; i++) {
        wasm_import_info info;
        wasm_module_import(m, i, &info);
        imports[i].kind = info.kind;
        switch (info.kind) {
        case WASM_EXTERN_FUNC:
            types[i] = info.func; /* borrowed from m, which outlives the calls */
            imports[i].of.func = wasm_func_new_host(s, &types[i], host_zero, &types[i]);
            break;
        case WASM_EXTERN_MEMORY:
            imports[i].of.memory = wasm_memory_new(s, 1, 16);
            break;
        case WASM_EXTERN_TABLE:
            imports[i].of.table = wasm_table_new(s, WASM_FUNCREF, 10, 20);
            break;
        case WASM_EXTERN_GLOBAL:
            imports[i].of.global = wasm_global_new(s, zero_of(WASM_I32), false);
            break;
        }
    }
    if (wasm_instantiate(s, m, imports, ni, &inst, &d) < 0) goto out;
    size_t ne = wasm_module_export_count(m);
    for (size_t i = 0; i < ne && i < EXPORT_CALLS_MAX; i++) {
        const char *name;
        wasm_extern_kind kind;
        wasm_extern ex;
        wasm_module_export(m, i, &name, &kind);
        /* Names may hold U+0000, so a C-string lookup can find another export. */
        if (kind != WASM_EXTERN_FUNC || wasm_instance_export(inst, name, &ex) < 0 ||
            ex.kind != WASM_EXTERN_FUNC)
            continue;
        wasm_functype ft;
        wasm_func_type(ex.of.func, &ft);
        wasm_val args[16];
        wasm_val res[16];
        if (ft.param_count > 16 || ft.result_count > 16) continue;
        for (uint32_t k = 0; k < ft.param_count; k++) args[k] = zero_of(ft.params[k]);
        wasm_store_clear_interrupt(s);
        atomic_store(&deadline_ns, now_ns() + WATCHDOG_MS * 1000000LL);
        atomic_store(&watched, s);
        wasm_func_call(s, ex.of.func, args, ft.param_count, res, ft.result_count, &d);
        pthread_mutex_lock(&watch_lock);
        atomic_store(&watched, NULL);
        pthread_mutex_unlock(&watch_lock);
    }
out:
    free(imports);
    free(types);
    wasm_store_free(s);
    wasm_module_free(m);
    return 0;
}
