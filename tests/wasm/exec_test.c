/* exec_test.c - the interpreter's sandbox contract: limits, interrupt, re-entrant host
 * calls, bounds checks, trap reports, function identity across instances.
 * Modules are embedded as bytes; each carries its WebAssembly text (wat2wasm 1.0.32). */
#include <pthread.h>
#include <time.h>

#include "base/err.h"
#include "base/mem.h"
#include "test.h"
#include "wasm/wasm.h"

/*
 * (module
 *   (func (export "spin") (loop $l (br $l)))
 *   (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1))))
 */
static const uint8_t loop_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x02, 0x60, 0x00, 0x00, 0x60, 0x02,
    0x7f, 0x7f, 0x01, 0x7f, 0x03, 0x03, 0x02, 0x00, 0x01, 0x07, 0x0e, 0x02, 0x04, 0x73, 0x70, 0x69,
    0x6e, 0x00, 0x00, 0x03, 0x61, 0x64, 0x64, 0x00, 0x01, 0x0a, 0x11, 0x02, 0x07, 0x00, 0x03, 0x40,
    0x0c, 0x00, 0x0b, 0x0b, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b,
};

/*
 * (module
 *   (func $down (export "down") (param i32) (result i32)
 *     (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
 *       (else (i32.add (i32.const 1) (call $down (i32.sub (local.get 0) (i32.const 1)))))))
 *   (func $fat (export "fat") (param i32) (result i32)
 *     (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64)
 *     (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
 *       (else (call $fat (i32.sub (local.get 0) (i32.const 1)))))))
 */
static const uint8_t rec_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f,
    0x03, 0x03, 0x02, 0x00, 0x00, 0x07, 0x0e, 0x02, 0x04, 0x64, 0x6f, 0x77, 0x6e, 0x00, 0x00, 0x03,
    0x66, 0x61, 0x74, 0x00, 0x01, 0x0a, 0x2c, 0x02, 0x15, 0x00, 0x20, 0x00, 0x45, 0x04, 0x7f, 0x41,
    0x00, 0x05, 0x41, 0x01, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x10, 0x00, 0x6a, 0x0b, 0x0b, 0x14, 0x01,
    0x10, 0x7e, 0x20, 0x00, 0x45, 0x04, 0x7f, 0x41, 0x00, 0x05, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x10,
    0x01, 0x0b, 0x0b,
};

/*
 * (module
 *   (import "env" "make_greeting" (func $make (param i32) (result i32)))
 *   (memory (export "memory") 1 4)
 *   (global $bump (mut i32) (i32.const 1024))
 *   (func (export "allocate") (param i32) (result i32)
 *     (local i32)
 *     (local.set 1 (global.get $bump))
 *     (global.set $bump (i32.add (global.get $bump) (local.get 0)))
 *     (local.get 1))
 *   (func (export "run") (result i32)
 *     (local i32)
 *     (local.set 0 (call $make (i32.const 5)))
 *     (i32.add (i32.load8_u (local.get 0)) (i32.load8_u offset=4 (local.get 0))))
 *   (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
 *   (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
 *   (func (export "load_off") (param i32) (result i32) (i32.load offset=0xffffffff (local.get 0)))
 *   (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1))))
 */
static const uint8_t reenter_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x10, 0x03, 0x60, 0x01, 0x7f, 0x01, 0x7f,
    0x60, 0x00, 0x01, 0x7f, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x02, 0x15, 0x01, 0x03, 0x65, 0x6e,
    0x76, 0x0d, 0x6d, 0x61, 0x6b, 0x65, 0x5f, 0x67, 0x72, 0x65, 0x65, 0x74, 0x69, 0x6e, 0x67, 0x00,
    0x00, 0x03, 0x07, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x05, 0x04, 0x01, 0x01, 0x01, 0x04,
    0x06, 0x07, 0x01, 0x7f, 0x01, 0x41, 0x80, 0x08, 0x0b, 0x07, 0x3a, 0x07, 0x06, 0x6d, 0x65, 0x6d,
    0x6f, 0x72, 0x79, 0x02, 0x00, 0x08, 0x61, 0x6c, 0x6c, 0x6f, 0x63, 0x61, 0x74, 0x65, 0x00, 0x01,
    0x03, 0x72, 0x75, 0x6e, 0x00, 0x02, 0x04, 0x67, 0x72, 0x6f, 0x77, 0x00, 0x03, 0x04, 0x6c, 0x6f,
    0x61, 0x64, 0x00, 0x04, 0x08, 0x6c, 0x6f, 0x61, 0x64, 0x5f, 0x6f, 0x66, 0x66, 0x00, 0x05, 0x03,
    0x64, 0x69, 0x76, 0x00, 0x06, 0x0a, 0x4c, 0x06, 0x11, 0x01, 0x01, 0x7f, 0x23, 0x00, 0x21, 0x01,
    0x23, 0x00, 0x20, 0x00, 0x6a, 0x24, 0x00, 0x20, 0x01, 0x0b, 0x15, 0x01, 0x01, 0x7f, 0x41, 0x05,
    0x10, 0x00, 0x21, 0x00, 0x20, 0x00, 0x2d, 0x00, 0x00, 0x20, 0x00, 0x2d, 0x00, 0x04, 0x6a, 0x0b,
    0x06, 0x00, 0x20, 0x00, 0x40, 0x00, 0x0b, 0x07, 0x00, 0x20, 0x00, 0x28, 0x02, 0x00, 0x0b, 0x0b,
    0x00, 0x20, 0x00, 0x28, 0x02, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x0b, 0x07, 0x00, 0x20, 0x00, 0x20,
    0x01, 0x6d, 0x0b,
};

/*
 * (module (memory 8))
 */
static const uint8_t big_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x03, 0x01, 0x00, 0x08,
};

/*
 * (module
 *   (func $f (export "f") (result i32) (i32.const 42))
 *   (table (export "t") 2 funcref)
 *   (elem (i32.const 0) $f)
 *   (func (export "call0") (result i32) (call_indirect (result i32) (i32.const 0))))
 */
static const uint8_t funcs_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, 0x03,
    0x03, 0x02, 0x00, 0x00, 0x04, 0x04, 0x01, 0x70, 0x00, 0x02, 0x07, 0x11, 0x03, 0x01, 0x66, 0x00,
    0x00, 0x01, 0x74, 0x01, 0x00, 0x05, 0x63, 0x61, 0x6c, 0x6c, 0x30, 0x00, 0x01, 0x09, 0x07, 0x01,
    0x00, 0x41, 0x00, 0x0b, 0x01, 0x00, 0x0a, 0x0e, 0x02, 0x04, 0x00, 0x41, 0x2a, 0x0b, 0x07, 0x00,
    0x41, 0x00, 0x11, 0x00, 0x00, 0x0b,
};

/*
 * (module
 *   (import "a" "f" (func $g (result i32)))
 *   (table (export "t") 1 funcref)
 *   (elem (i32.const 0) $g))
 */
static const uint8_t importer_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, 0x02,
    0x07, 0x01, 0x01, 0x61, 0x01, 0x66, 0x00, 0x00, 0x04, 0x04, 0x01, 0x70, 0x00, 0x01, 0x07, 0x05,
    0x01, 0x01, 0x74, 0x01, 0x00, 0x09, 0x07, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x00,
};

/*
 * (module
 *   (func $fib (export "fib") (param i32) (result i32)
 *     (if (result i32) (i32.lt_s (local.get 0) (i32.const 2))
 *       (then (local.get 0))
 *       (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
 *                      (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
 *   (func (export "loop") (param i32) (result i32)
 *     (local i32 i32)
 *     (block $done
 *       (loop $l
 *         (br_if $done (i32.ge_u (local.get 1) (local.get 0)))
 *         (local.set 2 (i32.add (local.get 2) (i32.xor (local.get 1) (i32.mul (local.get 1) (i32.const 7)))))
 *         (local.set 1 (i32.add (local.get 1) (i32.const 1)))
 *         (br $l)))
 *     (local.get 2)))
 */
static const uint8_t fib_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f,
    0x03, 0x03, 0x02, 0x00, 0x00, 0x07, 0x0e, 0x02, 0x03, 0x66, 0x69, 0x62, 0x00, 0x00, 0x04, 0x6c,
    0x6f, 0x6f, 0x70, 0x00, 0x01, 0x0a, 0x48, 0x02, 0x1c, 0x00, 0x20, 0x00, 0x41, 0x02, 0x48, 0x04,
    0x7f, 0x20, 0x00, 0x05, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x10, 0x00, 0x20, 0x00, 0x41, 0x02, 0x6b,
    0x10, 0x00, 0x6a, 0x0b, 0x0b, 0x29, 0x01, 0x02, 0x7f, 0x02, 0x40, 0x03, 0x40, 0x20, 0x01, 0x20,
    0x00, 0x4f, 0x0d, 0x01, 0x20, 0x02, 0x20, 0x01, 0x20, 0x01, 0x41, 0x07, 0x6c, 0x73, 0x6a, 0x21,
    0x02, 0x20, 0x01, 0x41, 0x01, 0x6a, 0x21, 0x01, 0x0c, 0x00, 0x0b, 0x0b, 0x20, 0x02, 0x0b,
};

/*
 * (module
 *   (func (export "old_plus_new") (param i32) (result i32)
 *     local.get 0
 *     local.get 0
 *     i32.const 1
 *     i32.add
 *     local.set 0
 *     local.get 0
 *     i32.add)
 *   (func (export "tee_keeps_old") (param i32) (result i32)
 *     local.get 0
 *     local.get 0
 *     i32.const 10
 *     i32.mul
 *     local.tee 0
 *     i32.sub)
 *   (func (export "block_value") (param i32) (result i32)
 *     (local i32)
 *     (block (result i32)
 *       (drop (br_if 0 (i32.const 7) (local.get 0)))
 *       (i32.add (local.get 0) (i32.const 100)))
 *     (local.set 1)
 *     (local.get 1))
 *   (func (export "loop_sum") (param i32) (result i32)
 *     (local i32)
 *     (loop $l
 *       (local.set 1 (i32.add (local.get 1) (local.get 0)))
 *       (br_if $l (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))))
 *     (local.get 1))
 *   (func (export "const_left") (param i32) (result i32)
 *     ;; bit 0: 5 < x (signed); bit 1: 10 >u x as an if; bit 2: 7 - x is not commutative
 *     (i32.or
 *       (i32.or (i32.lt_s (i32.const 5) (local.get 0))
 *               (if (result i32) (i32.gt_u (i32.const 10) (local.get 0))
 *                 (then (i32.const 2)) (else (i32.const 0))))
 *       (i32.shl (i32.eq (i32.sub (i32.const 7) (local.get 0)) (i32.const 4)) (i32.const 2)))))
 */
static const uint8_t peep_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f,
    0x03, 0x06, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x46, 0x05, 0x0c, 0x6f, 0x6c, 0x64, 0x5f,
    0x70, 0x6c, 0x75, 0x73, 0x5f, 0x6e, 0x65, 0x77, 0x00, 0x00, 0x0d, 0x74, 0x65, 0x65, 0x5f, 0x6b,
    0x65, 0x65, 0x70, 0x73, 0x5f, 0x6f, 0x6c, 0x64, 0x00, 0x01, 0x0b, 0x62, 0x6c, 0x6f, 0x63, 0x6b,
    0x5f, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x00, 0x02, 0x08, 0x6c, 0x6f, 0x6f, 0x70, 0x5f, 0x73, 0x75,
    0x6d, 0x00, 0x03, 0x0a, 0x63, 0x6f, 0x6e, 0x73, 0x74, 0x5f, 0x6c, 0x65, 0x66, 0x74, 0x00, 0x04,
    0x0a, 0x72, 0x05, 0x0e, 0x00, 0x20, 0x00, 0x20, 0x00, 0x41, 0x01, 0x6a, 0x21, 0x00, 0x20, 0x00,
    0x6a, 0x0b, 0x0c, 0x00, 0x20, 0x00, 0x20, 0x00, 0x41, 0x0a, 0x6c, 0x22, 0x00, 0x6b, 0x0b, 0x18,
    0x01, 0x01, 0x7f, 0x02, 0x7f, 0x41, 0x07, 0x20, 0x00, 0x0d, 0x00, 0x1a, 0x20, 0x00, 0x41, 0xe4,
    0x00, 0x6a, 0x0b, 0x21, 0x01, 0x20, 0x01, 0x0b, 0x19, 0x01, 0x01, 0x7f, 0x03, 0x40, 0x20, 0x01,
    0x20, 0x00, 0x6a, 0x21, 0x01, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x22, 0x00, 0x0d, 0x00, 0x0b, 0x20,
    0x01, 0x0b, 0x21, 0x00, 0x41, 0x05, 0x20, 0x00, 0x48, 0x41, 0x0a, 0x20, 0x00, 0x4b, 0x04, 0x7f,
    0x41, 0x02, 0x05, 0x41, 0x00, 0x0b, 0x72, 0x41, 0x07, 0x20, 0x00, 0x6b, 0x41, 0x04, 0x46, 0x41,
    0x02, 0x74, 0x72, 0x0b,
};

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

typedef struct env {
    wasm_store *store;
    wasm_module *module;
    wasm_instance *inst;
} env;

static int open_env(env *e, const uint8_t *bytes, size_t n, const wasm_limits *lim,
                    const wasm_extern *imports, size_t nimports) {
    wasm_diag d;
    memset(e, 0, sizeof(*e));
    int rc = wasm_module_new(bytes, n, &e->module, &d);
    if (rc < 0) return rc;
    if ((rc = wasm_store_new(lim, &e->store)) < 0) return rc;
    return wasm_instantiate(e->store, e->module, imports, nimports, &e->inst, &d);
}

static void close_env(env *e) {
    wasm_store_free(e->store);
    wasm_module_free(e->module);
}

static wasm_func *export_func(wasm_instance *inst, const char *name) {
    wasm_extern ex;
    if (wasm_instance_export(inst, name, &ex) < 0 || ex.kind != WASM_EXTERN_FUNC) return NULL;
    return ex.of.func;
}

static wasm_val i32v(uint32_t v) {
    wasm_val x;
    memset(&x, 0, sizeof(x));
    x.type = WASM_I32;
    x.of.i32 = v;
    return x;
}

typedef struct interrupter {
    wasm_store *store;
    int64_t sent_ns;
} interrupter;

static void *interrupt_later(void *arg) {
    interrupter *it = arg;
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    it->sent_ns = now_ns();
    wasm_store_interrupt(it->store);
    return NULL;
}

TEST(an_infinite_loop_stops_within_milliseconds_of_an_interrupt_from_another_thread) {
    env e;
    CHECK_EQ_INT(open_env(&e, loop_wasm, sizeof loop_wasm, NULL, NULL, 0), 0);
    wasm_func *spin = export_func(e.inst, "spin");
    CHECK(spin);
    interrupter it = {e.store, 0};
    pthread_t th;
    CHECK_EQ_INT(pthread_create(&th, NULL, interrupt_later, &it), 0);
    wasm_diag d;
    int rc = wasm_func_call(e.store, spin, NULL, 0, NULL, 0, &d);
    int64_t stopped = now_ns();
    pthread_join(th, NULL);
    CHECK_EQ_INT(rc, SL_ETRAP);
    CHECK_EQ_STR(d.msg, "interrupted");
    CHECK_EQ_INT(d.func_index, 0);
    int64_t lag_us = (stopped - it.sent_ns) / 1000;
    printf("interrupt to stop: %lld us\n", (long long)lag_us);
    /* Typically tens of microseconds; the bound leaves room for a loaded CI machine
     * descheduling the spinning thread. */
    CHECK_MSG(lag_us < 50000, "took %lld us to stop", (long long)lag_us);
    /* The interrupt is sticky until cleared; then the store runs code again. */
    wasm_val args[2] = {i32v(2), i32v(3)};
    wasm_val res[1];
    CHECK_EQ_INT(wasm_func_call(e.store, export_func(e.inst, "add"), args, 2, res, 1, &d), SL_ETRAP);
    wasm_store_clear_interrupt(e.store);
    CHECK_EQ_INT(wasm_func_call(e.store, export_func(e.inst, "add"), args, 2, res, 1, &d), 0);
    CHECK_EQ_INT(res[0].of.i32, 5);
    close_env(&e);
}

TEST(an_interrupt_stops_a_long_recursion_that_has_no_loops) {
    env e;
    CHECK_EQ_INT(open_env(&e, fib_wasm, sizeof fib_wasm, NULL, NULL, 0), 0);
    wasm_func *fib = export_func(e.inst, "fib");
    CHECK(fib);
    wasm_val a = i32v(60); /* about 2^42 calls: runs for hours unless stopped */
    wasm_val res[1];
    interrupter it = {e.store, 0};
    pthread_t th;
    CHECK_EQ_INT(pthread_create(&th, NULL, interrupt_later, &it), 0);
    wasm_diag d;
    int rc = wasm_func_call(e.store, fib, &a, 1, res, 1, &d);
    int64_t stopped = now_ns();
    pthread_join(th, NULL);
    CHECK_EQ_INT(rc, SL_ETRAP);
    CHECK_EQ_STR(d.msg, "interrupted");
    CHECK_MSG((stopped - it.sent_ns) / 1000 < 50000, "took %lld us to stop",
              (long long)((stopped - it.sent_ns) / 1000));
    /* Unwound completely: after clearing, the same store computes fib(20). */
    wasm_store_clear_interrupt(e.store);
    a = i32v(20);
    CHECK_EQ_INT(wasm_func_call(e.store, fib, &a, 1, res, 1, &d), 0);
    CHECK_EQ_INT(res[0].of.i32, 6765);
    close_env(&e);
}

TEST(deep_recursion_traps_at_the_call_depth_limit_and_the_store_stays_usable) {
    env e;
    wasm_limits lim = {.call_depth_max = 200};
    CHECK_EQ_INT(open_env(&e, rec_wasm, sizeof rec_wasm, &lim, NULL, 0), 0);
    wasm_func *down = export_func(e.inst, "down");
    wasm_diag d;
    wasm_val a = i32v(150);
    wasm_val res[1];
    CHECK_EQ_INT(wasm_func_call(e.store, down, &a, 1, res, 1, &d), 0);
    CHECK_EQ_INT(res[0].of.i32, 150);
    a = i32v(1000000);
    CHECK_EQ_INT(wasm_func_call(e.store, down, &a, 1, res, 1, &d), SL_ETRAP);
    CHECK_EQ_STR(d.msg, "call stack exhausted");
    a = i32v(10);
    CHECK_EQ_INT(wasm_func_call(e.store, down, &a, 1, res, 1, &d), 0);
    CHECK_EQ_INT(res[0].of.i32, 10);
    close_env(&e);
}

TEST(frames_with_many_locals_trap_at_the_value_stack_limit) {
    env e;
    wasm_limits lim = {.value_stack_max = 4096};
    CHECK_EQ_INT(open_env(&e, rec_wasm, sizeof rec_wasm, &lim, NULL, 0), 0);
    wasm_func *fat = export_func(e.inst, "fat");
    wasm_diag d;
    wasm_val a = i32v(10);
    wasm_val res[1];
    CHECK_EQ_INT(wasm_func_call(e.store, fat, &a, 1, res, 1, &d), 0);
    /* 17 locals a frame: 4096 slots hold fewer than 300 frames, far below the depth limit. */
    a = i32v(1000);
    CHECK_EQ_INT(wasm_func_call(e.store, fat, &a, 1, res, 1, &d), SL_ETRAP);
    CHECK_EQ_STR(d.msg, "call stack exhausted");
    close_env(&e);
}

/* Host import: calls the guest's allocate(n) re-entrantly and writes "hello" there. */
static const char *make_greeting(wasm_instance *caller, void *envp, const wasm_val *args,
                                 wasm_val *results) {
    env *e = envp;
    wasm_diag d;
    wasm_val n = args[0];
    wasm_val ptr[1];
    if (wasm_func_call(e->store, export_func(e->inst, "allocate"), &n, 1, ptr, 1, &d) < 0)
        return "allocate failed";
    if (wasm_memory_write(wasm_instance_memory(caller), ptr[0].of.i32, "hello", 5) < 0)
        return "allocate returned a bad pointer";
    results[0] = ptr[0];
    return NULL;
}

static const char *host_trap(wasm_instance *caller, void *envp, const wasm_val *args,
                             wasm_val *results) {
    return "host says no";
}

TEST(a_host_function_can_call_back_into_the_guest_that_called_it) {
    env e;
    wasm_diag d;
    const wasm_valtype p[] = {WASM_I32};
    const wasm_functype ft = {1, 1, p, p};
    memset(&e, 0, sizeof(e));
    CHECK_EQ_INT(wasm_module_new(reenter_wasm, sizeof reenter_wasm, &e.module, &d), 0);
    CHECK_EQ_INT(wasm_store_new(NULL, &e.store), 0);
    wasm_extern imp = {.kind = WASM_EXTERN_FUNC};
    imp.of.func = wasm_func_new_host(e.store, &ft, make_greeting, &e);
    CHECK(imp.of.func);
    CHECK_EQ_INT(wasm_instantiate(e.store, e.module, &imp, 1, &e.inst, &d), 0);
    wasm_val res[1];
    CHECK_EQ_INT(wasm_func_call(e.store, export_func(e.inst, "run"), NULL, 0, res, 1, &d), 0);
    CHECK_EQ_INT(res[0].of.i32, 'h' + 'o');
    /* The host wrote the greeting where the guest's allocate put it: its first block. */
    uint8_t buf[5];
    CHECK_EQ_INT(wasm_memory_read(wasm_instance_memory(e.inst), 1024, buf, 5), 0);
    CHECK(memcmp(buf, "hello", 5) == 0);
    close_env(&e);
}

TEST(a_host_function_trap_reaches_the_caller_with_its_message) {
    env e;
    wasm_diag d;
    const wasm_valtype p[] = {WASM_I32};
    const wasm_functype ft = {1, 1, p, p};
    memset(&e, 0, sizeof(e));
    CHECK_EQ_INT(wasm_module_new(reenter_wasm, sizeof reenter_wasm, &e.module, &d), 0);
    CHECK_EQ_INT(wasm_store_new(NULL, &e.store), 0);
    wasm_extern imp = {.kind = WASM_EXTERN_FUNC};
    imp.of.func = wasm_func_new_host(e.store, &ft, host_trap, NULL);
    CHECK_EQ_INT(wasm_instantiate(e.store, e.module, &imp, 1, &e.inst, &d), 0);
    wasm_val res[1];
    CHECK_EQ_INT(wasm_func_call(e.store, export_func(e.inst, "run"), NULL, 0, res, 1, &d), SL_ETRAP);
    CHECK_EQ_STR(d.msg, "host says no");
    close_env(&e);
}

TEST(memory_grow_fails_past_the_store_page_limit_and_instantiation_over_it_is_refused) {
    env e;
    wasm_diag d;
    wasm_limits lim = {.memory_pages_max = 3};
    const wasm_valtype p[] = {WASM_I32};
    const wasm_functype ft = {1, 1, p, p};
    memset(&e, 0, sizeof(e));
    CHECK_EQ_INT(wasm_module_new(reenter_wasm, sizeof reenter_wasm, &e.module, &d), 0);
    CHECK_EQ_INT(wasm_store_new(&lim, &e.store), 0);
    wasm_extern imp = {.kind = WASM_EXTERN_FUNC};
    imp.of.func = wasm_func_new_host(e.store, &ft, host_trap, NULL);
    CHECK_EQ_INT(wasm_instantiate(e.store, e.module, &imp, 1, &e.inst, &d), 0);
    wasm_func *grow = export_func(e.inst, "grow");
    wasm_val a = i32v(2);
    wasm_val res[1];
    CHECK_EQ_INT(wasm_func_call(e.store, grow, &a, 1, res, 1, &d), 0);
    CHECK_EQ_INT(res[0].of.i32, 1); /* old size */
    a = i32v(1);
    CHECK_EQ_INT(wasm_func_call(e.store, grow, &a, 1, res, 1, &d), 0);
    CHECK_EQ_INT(res[0].of.i32, UINT32_MAX); /* 4 pages > limit 3 */
    CHECK_EQ_INT(wasm_memory_pages(wasm_instance_memory(e.inst)), 3);
    close_env(&e);

    env b;
    CHECK_EQ_INT(open_env(&b, big_wasm, sizeof big_wasm, &lim, NULL, 0), SL_ELIMIT);
    close_env(&b);
}

TEST(every_memory_access_is_bounds_checked_including_address_plus_offset_overflow) {
    env e;
    wasm_diag d;
    const wasm_valtype p[] = {WASM_I32};
    const wasm_functype ft = {1, 1, p, p};
    memset(&e, 0, sizeof(e));
    CHECK_EQ_INT(wasm_module_new(reenter_wasm, sizeof reenter_wasm, &e.module, &d), 0);
    CHECK_EQ_INT(wasm_store_new(NULL, &e.store), 0);
    wasm_extern imp = {.kind = WASM_EXTERN_FUNC};
    imp.of.func = wasm_func_new_host(e.store, &ft, host_trap, NULL);
    CHECK_EQ_INT(wasm_instantiate(e.store, e.module, &imp, 1, &e.inst, &d), 0);
    wasm_func *load = export_func(e.inst, "load");
    wasm_func *load_off = export_func(e.inst, "load_off");
    wasm_val a = i32v(65532);
    wasm_val res[1];
    CHECK_EQ_INT(wasm_func_call(e.store, load, &a, 1, res, 1, &d), 0);
    a = i32v(65533);
    CHECK_EQ_INT(wasm_func_call(e.store, load, &a, 1, res, 1, &d), SL_ETRAP);
    CHECK_EQ_STR(d.msg, "out of bounds memory access");
    a = i32v(0xffffffffu);
    CHECK_EQ_INT(wasm_func_call(e.store, load, &a, 1, res, 1, &d), SL_ETRAP);
    a = i32v(1);
    CHECK_EQ_INT(wasm_func_call(e.store, load_off, &a, 1, res, 1, &d), SL_ETRAP);
    CHECK_EQ_STR(d.msg, "out of bounds memory access");
    uint8_t buf[8];
    wasm_memory *mem = wasm_instance_memory(e.inst);
    CHECK_EQ_INT(wasm_memory_read(mem, 65536 - 8, buf, 8), 0);
    CHECK_EQ_INT(wasm_memory_read(mem, 65536 - 7, buf, 8), SL_EINVAL);
    CHECK_EQ_INT(wasm_memory_write(mem, UINT64_MAX - 2, buf, 8), SL_EINVAL);
    close_env(&e);
}

TEST(a_trap_reports_the_function_index_and_the_code_offset_of_the_instruction) {
    env e;
    wasm_diag d;
    const wasm_valtype p[] = {WASM_I32};
    const wasm_functype ft = {1, 1, p, p};
    memset(&e, 0, sizeof(e));
    CHECK_EQ_INT(wasm_module_new(reenter_wasm, sizeof reenter_wasm, &e.module, &d), 0);
    CHECK_EQ_INT(wasm_store_new(NULL, &e.store), 0);
    wasm_extern imp = {.kind = WASM_EXTERN_FUNC};
    imp.of.func = wasm_func_new_host(e.store, &ft, host_trap, NULL);
    CHECK_EQ_INT(wasm_instantiate(e.store, e.module, &imp, 1, &e.inst, &d), 0);
    wasm_val args[2] = {i32v(7), i32v(0)};
    wasm_val res[1];
    CHECK_EQ_INT(wasm_func_call(e.store, export_func(e.inst, "div"), args, 2, res, 1, &d), SL_ETRAP);
    CHECK_EQ_STR(d.msg, "integer divide by zero");
    CHECK_EQ_INT(d.func_index, 6); /* import 0, then allocate run grow load load_off div */
    CHECK(d.offset > 0 && d.offset < sizeof reenter_wasm);
    CHECK_EQ_INT(reenter_wasm[d.offset], 0x6d); /* i32.div_s */
    args[0] = i32v(0x80000000u);
    args[1] = i32v(0xffffffffu);
    CHECK_EQ_INT(wasm_func_call(e.store, export_func(e.inst, "div"), args, 2, res, 1, &d), SL_ETRAP);
    CHECK_EQ_STR(d.msg, "integer overflow");
    close_env(&e);
}

TEST(a_function_keeps_its_identity_when_imported_into_another_instance) {
    env a;
    wasm_diag d;
    wasm_module *mb = NULL;
    wasm_instance *ib = NULL;
    CHECK_EQ_INT(open_env(&a, funcs_wasm, sizeof funcs_wasm, NULL, NULL, 0), 0);
    wasm_func *f = export_func(a.inst, "f");
    CHECK(f);
    CHECK_EQ_INT(wasm_module_new(importer_wasm, sizeof importer_wasm, &mb, &d), 0);
    wasm_extern imp = {.kind = WASM_EXTERN_FUNC};
    imp.of.func = f;
    CHECK_EQ_INT(wasm_instantiate(a.store, mb, &imp, 1, &ib, &d), 0);
    wasm_extern t;
    CHECK_EQ_INT(wasm_instance_export(ib, "t", &t), 0);
    wasm_val v;
    CHECK_EQ_INT(wasm_table_get(t.of.table, 0, &v), 0);
    CHECK(v.of.ref == f);
    CHECK_EQ_INT(wasm_instance_export(a.inst, "t", &t), 0);
    CHECK_EQ_INT(wasm_table_get(t.of.table, 0, &v), 0);
    CHECK(v.of.ref == f);
    wasm_val res[1];
    CHECK_EQ_INT(wasm_func_call(a.store, export_func(a.inst, "call0"), NULL, 0, res, 1, &d), 0);
    CHECK_EQ_INT(res[0].of.i32, 42);
    /* A wrong import type is refused with the spec's wording. */
    const wasm_functype bad = {0, 0, NULL, NULL};
    imp.of.func = wasm_func_new_host(a.store, &bad, host_trap, NULL);
    CHECK_EQ_INT(wasm_instantiate(a.store, mb, &imp, 1, &ib, &d), SL_EINVAL);
    CHECK_EQ_STR(d.msg, "incompatible import type");
    close_env(&a);
    wasm_module_free(mb);
}

TEST(calls_with_wrong_argument_types_are_refused_before_running) {
    env e;
    wasm_diag d;
    CHECK_EQ_INT(open_env(&e, loop_wasm, sizeof loop_wasm, NULL, NULL, 0), 0);
    wasm_val args[2] = {i32v(1), i32v(2)};
    args[1].type = WASM_I64;
    wasm_val res[1];
    CHECK_EQ_INT(wasm_func_call(e.store, export_func(e.inst, "add"), args, 2, res, 1, &d), SL_EINVAL);
    CHECK_EQ_INT(wasm_func_call(e.store, export_func(e.inst, "add"), args, 1, res, 1, &d), SL_EINVAL);
    close_env(&e);
}

static uint32_t call1(env *e, const char *name, uint32_t arg) {
    wasm_val a = i32v(arg);
    wasm_val res[1];
    wasm_diag d;
    res[0].of.i32 = 0xdeadbeef;
    if (wasm_func_call(e->store, export_func(e->inst, name), &a, 1, res, 1, &d) < 0) return 0xdeadbeef;
    return res[0].of.i32;
}

/* The compiler defers local.get and rewrites a producer's destination to the local a
 * following local.set names; these pin the cases where that must not happen. */
TEST(values_read_from_a_local_survive_a_later_write_to_that_local) {
    env e;
    CHECK_EQ_INT(open_env(&e, peep_wasm, sizeof peep_wasm, NULL, NULL, 0), 0);
    CHECK_EQ_INT(call1(&e, "old_plus_new", 5), 11);                 /* 5 + 6 */
    CHECK_EQ_INT(call1(&e, "tee_keeps_old", 3), (uint32_t)(3 - 30)); /* old - new */
    CHECK_EQ_INT(call1(&e, "block_value", 0), 100);                 /* falls through */
    CHECK_EQ_INT(call1(&e, "block_value", 1), 7);                   /* br_if with 7 */
    CHECK_EQ_INT(call1(&e, "loop_sum", 100), 5050);
    CHECK_EQ_INT(call1(&e, "const_left", 6), 1 | 2);       /* 5 < 6, 10 > 6 */
    CHECK_EQ_INT(call1(&e, "const_left", 5), 2);           /* 5 < 5 is false */
    CHECK_EQ_INT(call1(&e, "const_left", 3), 2 | 4);       /* 7 - 3 == 4 */
    CHECK_EQ_INT(call1(&e, "const_left", 11), 1);          /* 5 < 11 only */
    close_env(&e);
}

/* Read-modify-write of one memory cell, the shape the compiler fuses into a single
 * load-op-store instruction (runtime_internal.h, "_ldst"), and a store to another
 * cell, which it must not fuse:
 * (module
 *   (memory (export "mem") 1)
 *   (func (export "add_i32") (param $p i32) (param $x i32) (result i32)
 *     (i32.store offset=4 (local.get $p) (i32.add (i32.load offset=4 (local.get $p)) (local.get $x)))
 *     (i32.load offset=4 (local.get $p)))
 *   (func (export "xor_i64") (param $p i32) (param $x i64) (result i64)
 *     (i64.store offset=8 (local.get $p) (i64.xor (i64.load offset=8 (local.get $p)) (local.get $x)))
 *     (i64.load offset=8 (local.get $p)))
 *   (func (export "add_f64") (param $p i32) (param $x f64) (result f64)
 *     (f64.store offset=16 (local.get $p) (f64.add (f64.load offset=16 (local.get $p)) (local.get $x)))
 *     (f64.load offset=16 (local.get $p)))
 *   (func (export "add_i32_other_slot") (param $p i32) (param $x i32) (result i32)
 *     (i32.store offset=24 (local.get $p) (i32.add (i32.load offset=4 (local.get $p)) (local.get $x)))
 *     (i32.load offset=24 (local.get $p)))) */
static const uint8_t rmw_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x13, 0x03, 0x60,
    0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x02, 0x7f, 0x7e, 0x01, 0x7e, 0x60,
    0x02, 0x7f, 0x7c, 0x01, 0x7c, 0x03, 0x05, 0x04, 0x00, 0x01, 0x02, 0x00,
    0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x3a, 0x05, 0x03, 0x6d, 0x65, 0x6d,
    0x02, 0x00, 0x07, 0x61, 0x64, 0x64, 0x5f, 0x69, 0x33, 0x32, 0x00, 0x00,
    0x07, 0x78, 0x6f, 0x72, 0x5f, 0x69, 0x36, 0x34, 0x00, 0x01, 0x07, 0x61,
    0x64, 0x64, 0x5f, 0x66, 0x36, 0x34, 0x00, 0x02, 0x12, 0x61, 0x64, 0x64,
    0x5f, 0x69, 0x33, 0x32, 0x5f, 0x6f, 0x74, 0x68, 0x65, 0x72, 0x5f, 0x73,
    0x6c, 0x6f, 0x74, 0x00, 0x03, 0x0a, 0x55, 0x04, 0x14, 0x00, 0x20, 0x00,
    0x20, 0x00, 0x28, 0x02, 0x04, 0x20, 0x01, 0x6a, 0x36, 0x02, 0x04, 0x20,
    0x00, 0x28, 0x02, 0x04, 0x0b, 0x14, 0x00, 0x20, 0x00, 0x20, 0x00, 0x29,
    0x03, 0x08, 0x20, 0x01, 0x85, 0x37, 0x03, 0x08, 0x20, 0x00, 0x29, 0x03,
    0x08, 0x0b, 0x14, 0x00, 0x20, 0x00, 0x20, 0x00, 0x2b, 0x03, 0x10, 0x20,
    0x01, 0xa0, 0x39, 0x03, 0x10, 0x20, 0x00, 0x2b, 0x03, 0x10, 0x0b, 0x14,
    0x00, 0x20, 0x00, 0x20, 0x00, 0x28, 0x02, 0x04, 0x20, 0x01, 0x6a, 0x36,
    0x02, 0x18, 0x20, 0x00, 0x28, 0x02, 0x18, 0x0b,
};

static int call_rmw(env *e, const char *name, wasm_val a, wasm_val b, wasm_val *out, wasm_diag *d) {
    wasm_val args[2] = {a, b};
    return wasm_func_call(e->store, export_func(e->inst, name), args, 2, out, 1, d);
}

TEST(a_read_modify_write_of_memory_stores_the_right_value_in_the_right_cell_or_traps) {
    env e;
    wasm_val r;
    wasm_diag d;
    CHECK_EQ_INT(open_env(&e, rmw_wasm, sizeof rmw_wasm, NULL, NULL, 0), 0);
    wasm_extern ex;
    CHECK_EQ_INT(wasm_instance_export(e.inst, "mem", &ex), 0);
    wasm_memory *mem = ex.of.memory;
    const uint32_t base = 1000;
    uint32_t five = 5;
    uint64_t bits = 0xf0f0f0f00f0f0f0full;
    double one_half = 0.5;
    CHECK_EQ_INT(wasm_memory_write(mem, base + 4, &five, 4), 0);
    CHECK_EQ_INT(wasm_memory_write(mem, base + 8, &bits, 8), 0);
    CHECK_EQ_INT(wasm_memory_write(mem, base + 16, &one_half, 8), 0);

    CHECK_EQ_INT(call_rmw(&e, "add_i32", i32v(base), i32v(7), &r, &d), 0);
    CHECK_EQ_U64(r.of.i32, 12);
    wasm_val x64 = {.type = WASM_I64, .of.i64 = 0xffffffff00000000ull};
    CHECK_EQ_INT(call_rmw(&e, "xor_i64", i32v(base), x64, &r, &d), 0);
    CHECK_EQ_U64(r.of.i64, 0x0f0f0f0f0f0f0f0full);
    double two = 2.0;
    wasm_val xf = {.type = WASM_F64};
    memcpy(&xf.of.f64_bits, &two, 8);
    CHECK_EQ_INT(call_rmw(&e, "add_f64", i32v(base), xf, &r, &d), 0);
    double got;
    memcpy(&got, &r.of.f64_bits, 8);
    CHECK(got == 2.5);
    /* Different store cell: the source cell keeps its value. */
    CHECK_EQ_INT(call_rmw(&e, "add_i32_other_slot", i32v(base), i32v(1), &r, &d), 0);
    CHECK_EQ_U64(r.of.i32, 13);
    uint32_t cell;
    CHECK_EQ_INT(wasm_memory_read(mem, base + 4, &cell, 4), 0);
    CHECK_EQ_U64(cell, 12);
    /* The last in-bounds cell works; one past it traps and leaves memory alone. */
    CHECK_EQ_INT(call_rmw(&e, "add_i32", i32v(65536 - 8), i32v(1), &r, &d), 0);
    CHECK_EQ_U64(r.of.i32, 1);
    CHECK_EQ_INT(call_rmw(&e, "add_i32", i32v(65536 - 7), i32v(1), &r, &d), SL_ETRAP);
    CHECK(strncmp(d.msg, "out of bounds memory access", 28) == 0);
    CHECK_EQ_INT(wasm_memory_read(mem, 65536 - 4, &cell, 4), 0);
    CHECK_EQ_U64(cell, 1);
    close_env(&e);
}
