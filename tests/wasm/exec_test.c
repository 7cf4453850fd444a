/* exec_test.c - the interpreter's sandbox contract: limits, interrupt, re-entrant host
 * calls, bounds checks, trap reports, function identity across instances.
 * Modules are embedded as bytes; each carries its WebAssembly text (wat2wasm 1.0.32). */
#include <math.h>
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

/* An i32.add (or sub) of a constant that computes an address is folded into the access
 * (the _k forms, runtime_internal.h): the add still wraps at 2^32 before the offset is
 * added in 64 bits, and a trap still reports the access's own code offset.
 * (module
 *   (memory (export "mem") 1)
 *   (func (export "load_k") (param $p i32) (result i32)
 *     (i32.load offset=4 (i32.add (local.get $p) (i32.const 8))))
 *   (func (export "load_sub") (param $p i32) (result i32)
 *     (i32.load8_u offset=16 (i32.sub (local.get $p) (i32.const 8))))
 *   (func (export "store_k") (param $p i32) (param $v i64)
 *     (i64.store offset=2 (i32.add (local.get $p) (i32.const -16)) (local.get $v)))
 *   (func (export "add_ld_k") (param $p i32) (param $x i32) (result i32)
 *     (i32.add (local.get $x) (i32.load offset=4 (i32.add (local.get $p) (i32.const 8)))))
 *   (func (export "mul_ld_k") (param $p i32) (param $x f64) (result f64)
 *     (f64.mul (local.get $x) (f64.load (i32.add (local.get $p) (i32.const 8)))))) */
static const uint8_t addr_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x17, 0x04, 0x60,
    0x01, 0x7f, 0x01, 0x7f, 0x60, 0x02, 0x7f, 0x7e, 0x00, 0x60, 0x02, 0x7f,
    0x7f, 0x01, 0x7f, 0x60, 0x02, 0x7f, 0x7c, 0x01, 0x7c, 0x03, 0x06, 0x05,
    0x00, 0x00, 0x01, 0x02, 0x03, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x3b,
    0x06, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x06, 0x6c, 0x6f, 0x61, 0x64,
    0x5f, 0x6b, 0x00, 0x00, 0x08, 0x6c, 0x6f, 0x61, 0x64, 0x5f, 0x73, 0x75,
    0x62, 0x00, 0x01, 0x07, 0x73, 0x74, 0x6f, 0x72, 0x65, 0x5f, 0x6b, 0x00,
    0x02, 0x08, 0x61, 0x64, 0x64, 0x5f, 0x6c, 0x64, 0x5f, 0x6b, 0x00, 0x03,
    0x08, 0x6d, 0x75, 0x6c, 0x5f, 0x6c, 0x64, 0x5f, 0x6b, 0x00, 0x04, 0x0a,
    0x40, 0x05, 0x0a, 0x00, 0x20, 0x00, 0x41, 0x08, 0x6a, 0x28, 0x02, 0x04,
    0x0b, 0x0a, 0x00, 0x20, 0x00, 0x41, 0x08, 0x6b, 0x2d, 0x00, 0x10, 0x0b,
    0x0c, 0x00, 0x20, 0x00, 0x41, 0x70, 0x6a, 0x20, 0x01, 0x37, 0x03, 0x02,
    0x0b, 0x0d, 0x00, 0x20, 0x01, 0x20, 0x00, 0x41, 0x08, 0x6a, 0x28, 0x02,
    0x04, 0x6a, 0x0b, 0x0d, 0x00, 0x20, 0x01, 0x20, 0x00, 0x41, 0x08, 0x6a,
    0x2b, 0x03, 0x00, 0xa2, 0x0b,
};

static wasm_val f64v(double x) {
    wasm_val v;
    memset(&v, 0, sizeof(v));
    v.type = WASM_F64;
    memcpy(&v.of.f64_bits, &x, 8);
    return v;
}

static double f64_of_val(wasm_val v) {
    double x;
    memcpy(&x, &v.of.f64_bits, 8);
    return x;
}

TEST(an_address_computed_by_adding_a_constant_wraps_at_2_to_the_32_before_the_offset) {
    env e;
    wasm_val r;
    wasm_diag d;
    CHECK_EQ_INT(open_env(&e, addr_wasm, sizeof addr_wasm, NULL, NULL, 0), 0);
    wasm_memory *mem = wasm_instance_memory(e.inst);
    uint32_t words[4] = {0x11111111u, 0x22222222u, 0x33333333u, 0x44444444u};
    CHECK_EQ_INT(wasm_memory_write(mem, 0, words, sizeof words), 0);
    uint32_t last = 0x55555555u;
    CHECK_EQ_INT(wasm_memory_write(mem, 65532, &last, 4), 0);
    uint8_t byte16 = 0x33;
    CHECK_EQ_INT(wasm_memory_write(mem, 16, &byte16, 1), 0);
    double three = 3.0;
    CHECK_EQ_INT(wasm_memory_write(mem, 100, &three, 8), 0);

    /* p + 8 + 4 in range, at the last word, and one byte past it. */
    CHECK_EQ_INT(call1(&e, "load_k", 0), 0x44444444u);
    CHECK_EQ_INT(call1(&e, "load_k", 65532 - 12), 0x55555555u);
    wasm_val a = i32v(65532 - 11);
    CHECK_EQ_INT(wasm_func_call(e.store, export_func(e.inst, "load_k"), &a, 1, &r, 1, &d), SL_ETRAP);
    CHECK_EQ_STR(d.msg, "out of bounds memory access");
    CHECK_EQ_INT(addr_wasm[d.offset], 0x28); /* the i32.load, not the folded i32.add */
    /* 0xfffffff8 + 8 wraps to 0, so the word at 0 + 4 (unwrapped it would be 2^32 + 4). */
    CHECK_EQ_INT(call1(&e, "load_k", 0xfffffff8u), 0x22222222u);
    /* p - 8 wraps below 0 to 0xfffffffc; + 16 lands past 2^32, out of bounds. */
    CHECK_EQ_INT(call1(&e, "load_sub", 8), 0x33);
    a = i32v(4);
    CHECK_EQ_INT(wasm_func_call(e.store, export_func(e.inst, "load_sub"), &a, 1, &r, 1, &d), SL_ETRAP);
    CHECK_EQ_STR(d.msg, "out of bounds memory access");
    CHECK_EQ_INT(addr_wasm[d.offset], 0x2d); /* i32.load8_u */

    /* Store at p - 16 + 2: p = 16 writes bytes 2..9; p = 15 wraps to 0xffffffff + 2. */
    wasm_val sv[2] = {i32v(16), {.type = WASM_I64, .of.i64 = 0x0102030405060708ull}};
    CHECK_EQ_INT(wasm_func_call(e.store, export_func(e.inst, "store_k"), sv, 2, NULL, 0, &d), 0);
    uint64_t got = 0;
    CHECK_EQ_INT(wasm_memory_read(mem, 2, &got, 8), 0);
    CHECK_EQ_U64(got, 0x0102030405060708ull);
    sv[0] = i32v(15);
    CHECK_EQ_INT(wasm_func_call(e.store, export_func(e.inst, "store_k"), sv, 2, NULL, 0, &d), SL_ETRAP);
    CHECK_EQ_STR(d.msg, "out of bounds memory access");
    CHECK_EQ_INT(addr_wasm[d.offset], 0x37); /* i64.store */
    sv[0] = i32v(65536 + 16 - 2 - 8); /* the last 8 bytes */
    CHECK_EQ_INT(wasm_func_call(e.store, export_func(e.inst, "store_k"), sv, 2, NULL, 0, &d), 0);
    sv[0] = i32v(65536 + 16 - 2 - 8 + 1); /* one byte past the end */
    CHECK_EQ_INT(wasm_func_call(e.store, export_func(e.inst, "store_k"), sv, 2, NULL, 0, &d), SL_ETRAP);

    /* The folded load also feeds a fused add and a fused f64 multiply. */
    wasm_val args[2] = {i32v(0xfffffff8u), i32v(1)};
    CHECK_EQ_INT(wasm_func_call(e.store, export_func(e.inst, "add_ld_k"), args, 2, &r, 1, &d), 0);
    CHECK_EQ_U64(r.of.i32, 0x03040506u + 1); /* bytes 4..7 of the stored 08 07 06 .. at 2 */
    args[0] = i32v(65532 - 11);
    CHECK_EQ_INT(wasm_func_call(e.store, export_func(e.inst, "add_ld_k"), args, 2, &r, 1, &d), SL_ETRAP);
    CHECK_EQ_INT(addr_wasm[d.offset], 0x28);
    wasm_val m[2] = {i32v(92), f64v(0.5)};
    CHECK_EQ_INT(wasm_func_call(e.store, export_func(e.inst, "mul_ld_k"), m, 2, &r, 1, &d), 0);
    CHECK(f64_of_val(r) == 1.5);
    m[1] = f64v(NAN);
    CHECK_EQ_INT(wasm_func_call(e.store, export_func(e.inst, "mul_ld_k"), m, 2, &r, 1, &d), 0);
    CHECK(isnan(f64_of_val(r)));
    m[0] = i32v(0xfffffff8u + 65536 - 7); /* wraps to 65529: the 8 bytes end past 65536 */
    CHECK_EQ_INT(wasm_func_call(e.store, export_func(e.inst, "mul_ld_k"), m, 2, &r, 1, &d), SL_ETRAP);
    CHECK_EQ_INT(addr_wasm[d.offset], 0x2b); /* f64.load */
    close_env(&e);
}

/* Two local copies in a row run as one instruction (copy2, in order: the second may read
 * what the first wrote); never across a branch target, which would re-run the first.
 * (module
 *   (func (export "swap") (param i32 i32) (result i32)
 *     local.get 0
 *     local.get 1
 *     local.set 0
 *     local.set 1
 *     (i32.sub (local.get 0) (local.get 1)))
 *   (func (export "chain") (param i32 i32) (result i32) (local i32)
 *     (local.set 0 (local.get 1))
 *     (local.set 2 (local.get 0))
 *     (i32.add (i32.mul (local.get 2) (i32.const 100)) (local.get 0)))
 *   (func (export "label_between") (param $n i32) (result i32)
 *     (local $x i32) (local $y i32) (local $count i32)
 *     (local.set $x (local.get $n))
 *     (loop $l
 *       (local.set $y (local.get $x))
 *       (local.set $x (i32.sub (local.get $y) (i32.const 1)))
 *       (local.set $count (i32.add (local.get $count) (i32.const 1)))
 *       (br_if $l (i32.and (i32.ne (local.get $x) (i32.const 0))
 *                          (i32.lt_u (local.get $count) (i32.const 100)))))
 *     (local.get $count))) */
static const uint8_t copies_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0c, 0x02, 0x60,
    0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x03, 0x04,
    0x03, 0x00, 0x00, 0x01, 0x07, 0x20, 0x03, 0x04, 0x73, 0x77, 0x61, 0x70,
    0x00, 0x00, 0x05, 0x63, 0x68, 0x61, 0x69, 0x6e, 0x00, 0x01, 0x0d, 0x6c,
    0x61, 0x62, 0x65, 0x6c, 0x5f, 0x62, 0x65, 0x74, 0x77, 0x65, 0x65, 0x6e,
    0x00, 0x02, 0x0a, 0x55, 0x03, 0x0f, 0x00, 0x20, 0x00, 0x20, 0x01, 0x21,
    0x00, 0x21, 0x01, 0x20, 0x00, 0x20, 0x01, 0x6b, 0x0b, 0x15, 0x01, 0x01,
    0x7f, 0x20, 0x01, 0x21, 0x00, 0x20, 0x00, 0x21, 0x02, 0x20, 0x02, 0x41,
    0xe4, 0x00, 0x6c, 0x20, 0x00, 0x6a, 0x0b, 0x2d, 0x01, 0x03, 0x7f, 0x20,
    0x00, 0x21, 0x01, 0x03, 0x40, 0x20, 0x01, 0x21, 0x02, 0x20, 0x02, 0x41,
    0x01, 0x6b, 0x21, 0x01, 0x20, 0x03, 0x41, 0x01, 0x6a, 0x21, 0x03, 0x20,
    0x01, 0x41, 0x00, 0x47, 0x20, 0x03, 0x41, 0xe4, 0x00, 0x49, 0x71, 0x0d,
    0x00, 0x0b, 0x20, 0x03, 0x0b,
};

static uint32_t call2(env *e, const char *name, uint32_t a, uint32_t b) {
    wasm_val args[2] = {i32v(a), i32v(b)};
    wasm_val res[1];
    wasm_diag d;
    if (wasm_func_call(e->store, export_func(e->inst, name), args, 2, res, 1, &d) < 0) return 0xdeadbeef;
    return res[0].of.i32;
}

TEST(consecutive_local_copies_happen_in_order_and_a_loop_start_between_them_keeps_them_apart) {
    env e;
    CHECK_EQ_INT(open_env(&e, copies_wasm, sizeof copies_wasm, NULL, NULL, 0), 0);
    CHECK_EQ_INT(call2(&e, "swap", 3, 10), 7);          /* locals swapped: 10 - 3 */
    CHECK_EQ_INT(call2(&e, "chain", 1, 2), 2 * 100 + 2); /* local 2 gets local 0's new value */
    CHECK_EQ_INT(call1(&e, "label_between", 5), 5);      /* 100 if the loop re-ran x = n */
    close_env(&e);
}

/* A loop counter's add and the back branch that tests it run as one instruction
 * (addk_bif_*); the add still wraps at 2^32, signed and unsigned compares keep their
 * meaning, and an operand order the compiler has to mirror (limit > i) is kept.
 * Each returns iterations * 1000 + the counter's final value.
 * (module
 *   (func (export "lt_s") (param $i i32) (result i32) (local $n i32)
 *     (loop $l
 *       (local.set $n (i32.add (local.get $n) (i32.const 1)))
 *       (br_if $l (i32.lt_s (local.tee $i (i32.add (local.get $i) (i32.const 0x40000000)))
 *                           (i32.const 0))))
 *     (i32.add (i32.mul (local.get $n) (i32.const 1000)) (local.get $i)))
 *   (func (export "gt_u_swapped") (param $i i32) (param $limit i32) (result i32) (local $n i32)
 *     (loop $l
 *       (local.set $n (i32.add (local.get $n) (i32.const 1)))
 *       (br_if $l (i32.gt_u (local.get $limit)
 *                           (local.tee $i (i32.add (local.get $i) (i32.const 1))))))
 *     (i32.add (i32.mul (local.get $n) (i32.const 1000)) (local.get $i)))
 *   (func (export "ne") (param $i i32) (result i32) (local $n i32)
 *     (loop $l
 *       (local.set $n (i32.add (local.get $n) (i32.const 1)))
 *       (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 2))) (i32.const 0))))
 *     (i32.add (i32.mul (local.get $n) (i32.const 1000)) (local.get $i)))
 *   (func (export "nez") (param $i i32) (result i32) (local $n i32)
 *     (loop $l
 *       (local.set $n (i32.add (local.get $n) (i32.const 1)))
 *       (br_if $l (local.tee $i (i32.add (local.get $i) (i32.const 1)))))
 *     (i32.add (i32.mul (local.get $n) (i32.const 1000)) (local.get $i)))
 *   (func (export "eqz") (param $i i32) (result i32) (local $n i32)
 *     (loop $l
 *       (local.set $n (i32.add (local.get $n) (i32.const 1)))
 *       (br_if $l (i32.eqz (local.tee $i (i32.add (local.get $i) (i32.const 1))))))
 *     (i32.add (i32.mul (local.get $n) (i32.const 1000)) (local.get $i)))) */
static const uint8_t loops_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0c, 0x02, 0x60,
  0x01, 0x7f, 0x01, 0x7f, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x03, 0x06,
  0x05, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07, 0x28, 0x05, 0x04, 0x6c, 0x74,
  0x5f, 0x73, 0x00, 0x00, 0x0c, 0x67, 0x74, 0x5f, 0x75, 0x5f, 0x73, 0x77,
  0x61, 0x70, 0x70, 0x65, 0x64, 0x00, 0x01, 0x02, 0x6e, 0x65, 0x00, 0x02,
  0x03, 0x6e, 0x65, 0x7a, 0x00, 0x03, 0x03, 0x65, 0x71, 0x7a, 0x00, 0x04,
  0x0a, 0xb4, 0x01, 0x05, 0x27, 0x01, 0x01, 0x7f, 0x03, 0x40, 0x20, 0x01,
  0x41, 0x01, 0x6a, 0x21, 0x01, 0x20, 0x00, 0x41, 0x80, 0x80, 0x80, 0x80,
  0x04, 0x6a, 0x22, 0x00, 0x41, 0x00, 0x48, 0x0d, 0x00, 0x0b, 0x20, 0x01,
  0x41, 0xe8, 0x07, 0x6c, 0x20, 0x00, 0x6a, 0x0b, 0x23, 0x01, 0x01, 0x7f,
  0x03, 0x40, 0x20, 0x02, 0x41, 0x01, 0x6a, 0x21, 0x02, 0x20, 0x01, 0x20,
  0x00, 0x41, 0x01, 0x6a, 0x22, 0x00, 0x4b, 0x0d, 0x00, 0x0b, 0x20, 0x02,
  0x41, 0xe8, 0x07, 0x6c, 0x20, 0x00, 0x6a, 0x0b, 0x23, 0x01, 0x01, 0x7f,
  0x03, 0x40, 0x20, 0x01, 0x41, 0x01, 0x6a, 0x21, 0x01, 0x20, 0x00, 0x41,
  0x02, 0x6a, 0x22, 0x00, 0x41, 0x00, 0x47, 0x0d, 0x00, 0x0b, 0x20, 0x01,
  0x41, 0xe8, 0x07, 0x6c, 0x20, 0x00, 0x6a, 0x0b, 0x20, 0x01, 0x01, 0x7f,
  0x03, 0x40, 0x20, 0x01, 0x41, 0x01, 0x6a, 0x21, 0x01, 0x20, 0x00, 0x41,
  0x01, 0x6a, 0x22, 0x00, 0x0d, 0x00, 0x0b, 0x20, 0x01, 0x41, 0xe8, 0x07,
  0x6c, 0x20, 0x00, 0x6a, 0x0b, 0x21, 0x01, 0x01, 0x7f, 0x03, 0x40, 0x20,
  0x01, 0x41, 0x01, 0x6a, 0x21, 0x01, 0x20, 0x00, 0x41, 0x01, 0x6a, 0x22,
  0x00, 0x45, 0x0d, 0x00, 0x0b, 0x20, 0x01, 0x41, 0xe8, 0x07, 0x6c, 0x20,
  0x00, 0x6a, 0x0b,
};

TEST(a_loop_counter_fused_with_its_back_branch_wraps_and_compares_like_separate_instructions) {
    env e;
    CHECK_EQ_INT(open_env(&e, loops_wasm, sizeof loops_wasm, NULL, NULL, 0), 0);
    /* 2^30 steps: 2^31 wraps to INT32_MIN (< 0 signed), then -2^30, then 0 stops it;
     * an unsigned compare would stop after one. */
    CHECK_EQ_INT(call1(&e, "lt_s", 0x40000000u), 3 * 1000);
    /* 5 >u i, i from -1: wraps to 0 first, then counts to 5 (six passes). */
    CHECK_EQ_INT(call2(&e, "gt_u_swapped", 0xffffffffu, 5), 6 * 1000 + 5);
    CHECK_EQ_INT(call2(&e, "gt_u_swapped", 0, 1), 1 * 1000 + 1);
    CHECK_EQ_INT(call1(&e, "ne", (uint32_t)-10), 5 * 1000);  /* -10 + 5 * 2 wraps to 0 */
    CHECK_EQ_INT(call1(&e, "nez", (uint32_t)-3), 3 * 1000);  /* -2, -1, 0 */
    CHECK_EQ_INT(call1(&e, "eqz", (uint32_t)-1), 2 * 1000 + 1); /* 0 repeats, 1 stops */
    close_env(&e);
}

/* An f64 compare feeding if / br_if runs as one compare-and-branch (fbif_, fbifn_): the
 * else-branch of an if is taken when the compare is false, NaN included, not when the
 * inverse compare is true.
 * (module
 *   (func (export "if_lt") (param f64 f64) (result i32)
 *     (if (result i32) (f64.lt (local.get 0) (local.get 1)) (then (i32.const 1)) (else (i32.const 0))))
 *   (func (export "if_ge_k") (param f64) (result i32)
 *     (if (result i32) (f64.ge (local.get 0) (f64.const 4)) (then (i32.const 1)) (else (i32.const 0))))
 *   (func (export "brif_le") (param f64 f64) (result i32) (local i32)
 *     (block (br_if 0 (f64.le (local.get 0) (local.get 1))) (local.set 2 (i32.const 7)))
 *     (local.get 2))
 *   (func (export "brif_ne_k") (param f64) (result i32) (local i32)
 *     (block (br_if 0 (f64.ne (local.get 0) (f64.const 1.5))) (local.set 1 (i32.const 7)))
 *     (local.get 1))
 *   (func (export "if_not_le") (param f64 f64) (result i32)
 *     (if (result i32) (i32.eqz (f64.le (local.get 0) (local.get 1)))
 *       (then (i32.const 1)) (else (i32.const 0))))
 *   (func (export "brif_not_gt_k") (param f64) (result i32) (local i32)
 *     (block (br_if 0 (i32.eqz (f64.gt (local.get 0) (f64.const 0)))) (local.set 1 (i32.const 7)))
 *     (local.get 1))) */
static const uint8_t fcmp_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0c, 0x02, 0x60,
  0x02, 0x7c, 0x7c, 0x01, 0x7f, 0x60, 0x01, 0x7c, 0x01, 0x7f, 0x03, 0x07,
  0x06, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x07, 0x45, 0x06, 0x05, 0x69,
  0x66, 0x5f, 0x6c, 0x74, 0x00, 0x00, 0x07, 0x69, 0x66, 0x5f, 0x67, 0x65,
  0x5f, 0x6b, 0x00, 0x01, 0x07, 0x62, 0x72, 0x69, 0x66, 0x5f, 0x6c, 0x65,
  0x00, 0x02, 0x09, 0x62, 0x72, 0x69, 0x66, 0x5f, 0x6e, 0x65, 0x5f, 0x6b,
  0x00, 0x03, 0x09, 0x69, 0x66, 0x5f, 0x6e, 0x6f, 0x74, 0x5f, 0x6c, 0x65,
  0x00, 0x04, 0x0d, 0x62, 0x72, 0x69, 0x66, 0x5f, 0x6e, 0x6f, 0x74, 0x5f,
  0x67, 0x74, 0x5f, 0x6b, 0x00, 0x05, 0x0a, 0x87, 0x01, 0x06, 0x0f, 0x00,
  0x20, 0x00, 0x20, 0x01, 0x63, 0x04, 0x7f, 0x41, 0x01, 0x05, 0x41, 0x00,
  0x0b, 0x0b, 0x16, 0x00, 0x20, 0x00, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x10, 0x40, 0x66, 0x04, 0x7f, 0x41, 0x01, 0x05, 0x41, 0x00, 0x0b,
  0x0b, 0x14, 0x01, 0x01, 0x7f, 0x02, 0x40, 0x20, 0x00, 0x20, 0x01, 0x65,
  0x0d, 0x00, 0x41, 0x07, 0x21, 0x02, 0x0b, 0x20, 0x02, 0x0b, 0x1b, 0x01,
  0x01, 0x7f, 0x02, 0x40, 0x20, 0x00, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0xf8, 0x3f, 0x62, 0x0d, 0x00, 0x41, 0x07, 0x21, 0x01, 0x0b, 0x20,
  0x01, 0x0b, 0x10, 0x00, 0x20, 0x00, 0x20, 0x01, 0x65, 0x45, 0x04, 0x7f,
  0x41, 0x01, 0x05, 0x41, 0x00, 0x0b, 0x0b, 0x1c, 0x01, 0x01, 0x7f, 0x02,
  0x40, 0x20, 0x00, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x64, 0x45, 0x0d, 0x00, 0x41, 0x07, 0x21, 0x01, 0x0b, 0x20, 0x01, 0x0b,
};

static uint32_t call_f64(env *e, const char *name, double a, double b, size_t nargs) {
    wasm_val args[2] = {f64v(a), f64v(b)};
    wasm_val res[1];
    wasm_diag d;
    if (wasm_func_call(e->store, export_func(e->inst, name), args, nargs, res, 1, &d) < 0)
        return 0xdeadbeef;
    return res[0].of.i32;
}

TEST(an_f64_compare_that_branches_treats_nan_as_false_in_both_directions) {
    env e;
    CHECK_EQ_INT(open_env(&e, fcmp_wasm, sizeof fcmp_wasm, NULL, NULL, 0), 0);
    CHECK_EQ_INT(call_f64(&e, "if_lt", 1, 2, 2), 1);
    CHECK_EQ_INT(call_f64(&e, "if_lt", 2, 1, 2), 0);
    CHECK_EQ_INT(call_f64(&e, "if_lt", NAN, 1, 2), 0);
    CHECK_EQ_INT(call_f64(&e, "if_lt", 1, NAN, 2), 0);
    CHECK_EQ_INT(call_f64(&e, "if_ge_k", 4, 0, 1), 1);
    CHECK_EQ_INT(call_f64(&e, "if_ge_k", 3.9, 0, 1), 0);
    CHECK_EQ_INT(call_f64(&e, "if_ge_k", NAN, 0, 1), 0);
    /* br_if taken leaves the local at 0; not taken sets it to 7. */
    CHECK_EQ_INT(call_f64(&e, "brif_le", 1, 1, 2), 0);
    CHECK_EQ_INT(call_f64(&e, "brif_le", -0.0, 0.0, 2), 0);
    CHECK_EQ_INT(call_f64(&e, "brif_le", 2, 1, 2), 7);
    CHECK_EQ_INT(call_f64(&e, "brif_le", NAN, 1, 2), 7);
    CHECK_EQ_INT(call_f64(&e, "brif_ne_k", 1.5, 0, 1), 7);
    CHECK_EQ_INT(call_f64(&e, "brif_ne_k", 2, 0, 1), 0);
    CHECK_EQ_INT(call_f64(&e, "brif_ne_k", NAN, 0, 1), 0); /* NaN != 1.5 is true */
    /* i32.eqz of the compare flips the branch: NaN makes the compare false, eqz true. */
    CHECK_EQ_INT(call_f64(&e, "if_not_le", 1, 2, 2), 0);
    CHECK_EQ_INT(call_f64(&e, "if_not_le", 2, 1, 2), 1);
    CHECK_EQ_INT(call_f64(&e, "if_not_le", NAN, 1, 2), 1);
    CHECK_EQ_INT(call_f64(&e, "brif_not_gt_k", 1, 0, 1), 7);
    CHECK_EQ_INT(call_f64(&e, "brif_not_gt_k", -1, 0, 1), 0);
    CHECK_EQ_INT(call_f64(&e, "brif_not_gt_k", NAN, 0, 1), 0);
    close_env(&e);
}

/* Two chained f64 ops run as one instruction (ff_*): each still rounds on its own (a
 * fused multiply-add would not), the operand order of a subtraction is kept, and the
 * first result still reaches a local.tee.
 * (module
 *   (func (export "mul_add") (param f64 f64 f64) (result f64)
 *     (f64.add (f64.mul (local.get 0) (local.get 1)) (local.get 2)))
 *   (func (export "sub_from") (param f64 f64 f64) (result f64)
 *     (f64.sub (local.get 2) (f64.add (local.get 0) (local.get 1))))
 *   (func (export "tee_chain") (param f64 f64 f64) (result f64) (local f64)
 *     (f64.sub (f64.add (local.tee 3 (f64.mul (local.get 0) (local.get 1))) (local.get 0))
 *              (local.get 3)))) */
static const uint8_t ff_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x01, 0x60,
  0x03, 0x7c, 0x7c, 0x7c, 0x01, 0x7c, 0x03, 0x04, 0x03, 0x00, 0x00, 0x00,
  0x07, 0x22, 0x03, 0x07, 0x6d, 0x75, 0x6c, 0x5f, 0x61, 0x64, 0x64, 0x00,
  0x00, 0x08, 0x73, 0x75, 0x62, 0x5f, 0x66, 0x72, 0x6f, 0x6d, 0x00, 0x01,
  0x09, 0x74, 0x65, 0x65, 0x5f, 0x63, 0x68, 0x61, 0x69, 0x6e, 0x00, 0x02,
  0x0a, 0x29, 0x03, 0x0a, 0x00, 0x20, 0x00, 0x20, 0x01, 0xa2, 0x20, 0x02,
  0xa0, 0x0b, 0x0a, 0x00, 0x20, 0x02, 0x20, 0x00, 0x20, 0x01, 0xa0, 0xa1,
  0x0b, 0x11, 0x01, 0x01, 0x7c, 0x20, 0x00, 0x20, 0x01, 0xa2, 0x22, 0x03,
  0x20, 0x00, 0xa0, 0x20, 0x03, 0xa1, 0x0b,
};

static double call_f64x3(env *e, const char *name, double a, double b, double c) {
    wasm_val args[3] = {f64v(a), f64v(b), f64v(c)};
    wasm_val res[1];
    wasm_diag d;
    if (wasm_func_call(e->store, export_func(e->inst, name), args, 3, res, 1, &d) < 0) return -12345;
    return f64_of_val(res[0]);
}

TEST(chained_f64_arithmetic_rounds_each_step_and_keeps_operand_order) {
    env e;
    CHECK_EQ_INT(open_env(&e, ff_wasm, sizeof ff_wasm, NULL, NULL, 0), 0);
    /* (1 + 2^-30)(1 - 2^-30) = 1 - 2^-60 rounds to 1, so + -1 gives 0; fused: -2^-60. */
    double a = 1.0 + 0x1p-30;
    double b = 1.0 - 0x1p-30;
    CHECK(call_f64x3(&e, "mul_add", a, b, -1.0) == 0.0);
    CHECK(call_f64x3(&e, "mul_add", 3, 4, 5) == 17.0);
    CHECK(isnan(call_f64x3(&e, "mul_add", NAN, 1, 1)));
    CHECK(isnan(call_f64x3(&e, "mul_add", 1, 1, NAN)));
    CHECK(call_f64x3(&e, "sub_from", 1, 2, 10) == 7.0); /* 10 - (1 + 2), not (1 + 2) - 10 */
    CHECK(call_f64x3(&e, "tee_chain", 3, 4, 0) == 3.0); /* (3 * 4 + 3) - the tee'd 12 */
    close_env(&e);
}

/* Two i32 ops with constants in a row (ii_*) and a select on x & k (select_andk) run as
 * one instruction each: the shift count is still taken mod 32, adds still wrap, and the
 * select tests all 32 bits of the and.
 * (module
 *   (func (export "sel_and") (param $x i32) (param $a i32) (param $b i32) (result i32)
 *     (select (local.get $a) (local.get $b) (i32.and (local.get $x) (i32.const 0x80000001))))
 *   (func (export "shr_and") (param i32) (result i32)
 *     (i32.and (i32.shr_u (local.get 0) (i32.const 33)) (i32.const 0x7fff)))
 *   (func (export "and_xor") (param i32) (result i32)
 *     (i32.xor (i32.and (local.get 0) (i32.const 0xff00)) (i32.const 0xffff0000)))
 *   (func (export "add_and") (param i32) (result i32)
 *     (i32.and (i32.add (local.get 0) (i32.const 0x10)) (i32.const 0xff)))
 *   (func (export "shl_add") (param i32) (result i32)
 *     (i32.add (i32.shl (local.get 0) (i32.const 31)) (i32.const 0x80000000)))
 *   (func (export "and_add") (param i32) (result i32)
 *     (i32.add (i32.and (local.get 0) (i32.const 0xffffffff)) (i32.const 1)))) */
static const uint8_t ii_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0d, 0x02, 0x60,
  0x03, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x03,
  0x07, 0x06, 0x00, 0x01, 0x01, 0x01, 0x01, 0x01, 0x07, 0x3d, 0x06, 0x07,
  0x73, 0x65, 0x6c, 0x5f, 0x61, 0x6e, 0x64, 0x00, 0x00, 0x07, 0x73, 0x68,
  0x72, 0x5f, 0x61, 0x6e, 0x64, 0x00, 0x01, 0x07, 0x61, 0x6e, 0x64, 0x5f,
  0x78, 0x6f, 0x72, 0x00, 0x02, 0x07, 0x61, 0x64, 0x64, 0x5f, 0x61, 0x6e,
  0x64, 0x00, 0x03, 0x07, 0x73, 0x68, 0x6c, 0x5f, 0x61, 0x64, 0x64, 0x00,
  0x04, 0x07, 0x61, 0x6e, 0x64, 0x5f, 0x61, 0x64, 0x64, 0x00, 0x05, 0x0a,
  0x54, 0x06, 0x10, 0x00, 0x20, 0x01, 0x20, 0x02, 0x20, 0x00, 0x41, 0x81,
  0x80, 0x80, 0x80, 0x78, 0x71, 0x1b, 0x0b, 0x0c, 0x00, 0x20, 0x00, 0x41,
  0x21, 0x76, 0x41, 0xff, 0xff, 0x01, 0x71, 0x0b, 0x0e, 0x00, 0x20, 0x00,
  0x41, 0x80, 0xfe, 0x03, 0x71, 0x41, 0x80, 0x80, 0x7c, 0x73, 0x0b, 0x0b,
  0x00, 0x20, 0x00, 0x41, 0x10, 0x6a, 0x41, 0xff, 0x01, 0x71, 0x0b, 0x0e,
  0x00, 0x20, 0x00, 0x41, 0x1f, 0x74, 0x41, 0x80, 0x80, 0x80, 0x80, 0x78,
  0x6a, 0x0b, 0x0a, 0x00, 0x20, 0x00, 0x41, 0x7f, 0x71, 0x41, 0x01, 0x6a,
  0x0b,
};

TEST(chained_i32_ops_with_constants_and_a_masked_select_compute_what_the_separate_ops_do) {
    env e;
    CHECK_EQ_INT(open_env(&e, ii_wasm, sizeof ii_wasm, NULL, NULL, 0), 0);
    wasm_val args[3] = {i32v(0x80000000u), i32v(11), i32v(22)};
    wasm_val r;
    wasm_diag d;
    CHECK_EQ_INT(wasm_func_call(e.store, export_func(e.inst, "sel_and"), args, 3, &r, 1, &d), 0);
    CHECK_EQ_INT(r.of.i32, 11); /* bit 31 alone selects a */
    args[0] = i32v(2);
    CHECK_EQ_INT(wasm_func_call(e.store, export_func(e.inst, "sel_and"), args, 3, &r, 1, &d), 0);
    CHECK_EQ_INT(r.of.i32, 22);
    CHECK_EQ_INT(call1(&e, "shr_and", 0xffffffffu), 0x7fff);      /* >> 33 is >> 1 */
    CHECK_EQ_INT(call1(&e, "and_xor", 0x12345678u), 0xffff5600u);
    CHECK_EQ_INT(call1(&e, "add_and", 0xfffffff8u), 8);           /* the add wraps to 8 */
    CHECK_EQ_INT(call1(&e, "shl_add", 1), 0);                     /* 2^31 + 2^31 wraps */
    CHECK_EQ_INT(call1(&e, "shl_add", 2), 0x80000000u);           /* 2 << 31 is 0 */
    CHECK_EQ_INT(call1(&e, "and_add", 0xffffffffu), 0);
    close_env(&e);
}

/* m[dst + 8] += a * m[src + 16], the matrix-multiply inner step, runs as one f64_axpy:
 * the product is rounded before the add, and each of its two accesses traps with its
 * own code offset (0x35: the load from src, 0x3b: the load from dst).
 * (module
 *   (memory (export "mem") 1)
 *   (func (export "axpy") (param $dst i32) (param $src i32) (param $a f64)
 *     (f64.store offset=8 (local.get $dst)
 *       (f64.add (f64.mul (local.get $a) (f64.load offset=16 (local.get $src)))
 *                (f64.load offset=8 (local.get $dst)))))) */
static const uint8_t axpy_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x07, 0x01, 0x60,
  0x03, 0x7f, 0x7f, 0x7c, 0x00, 0x03, 0x02, 0x01, 0x00, 0x05, 0x03, 0x01,
  0x00, 0x01, 0x07, 0x0e, 0x02, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x04,
  0x61, 0x78, 0x70, 0x79, 0x00, 0x00, 0x0a, 0x17, 0x01, 0x15, 0x00, 0x20,
  0x00, 0x20, 0x02, 0x20, 0x01, 0x2b, 0x03, 0x10, 0xa2, 0x20, 0x00, 0x2b,
  0x03, 0x08, 0xa0, 0x39, 0x03, 0x08, 0x0b,
};

static int call_axpy(env *e, uint32_t dst, uint32_t src, double a, wasm_diag *d) {
    wasm_val args[3] = {i32v(dst), i32v(src), f64v(a)};
    return wasm_func_call(e->store, export_func(e->inst, "axpy"), args, 3, NULL, 0, d);
}

static double mem_f64(wasm_memory *mem, uint64_t at) {
    double x = -12345;
    if (wasm_memory_read(mem, at, &x, 8) < 0) return -12345;
    return x;
}

TEST(a_multiply_accumulate_into_memory_rounds_twice_and_traps_at_the_access_that_failed) {
    env e;
    wasm_diag d;
    CHECK_EQ_INT(open_env(&e, axpy_wasm, sizeof axpy_wasm, NULL, NULL, 0), 0);
    wasm_memory *mem = wasm_instance_memory(e.inst);
    double v = 1.0;
    CHECK_EQ_INT(wasm_memory_write(mem, 8, &v, 8), 0);
    v = 2.0;
    CHECK_EQ_INT(wasm_memory_write(mem, 116, &v, 8), 0);
    CHECK_EQ_INT(call_axpy(&e, 0, 100, 3.0, &d), 0);
    CHECK(mem_f64(mem, 8) == 7.0);
    /* (1 + 2^-30)(1 - 2^-30) rounds to 1 before adding -1: 0, where a fused op gives -2^-60. */
    v = -1.0;
    CHECK_EQ_INT(wasm_memory_write(mem, 8, &v, 8), 0);
    v = 1.0 - 0x1p-30;
    CHECK_EQ_INT(wasm_memory_write(mem, 116, &v, 8), 0);
    CHECK_EQ_INT(call_axpy(&e, 0, 100, 1.0 + 0x1p-30, &d), 0);
    CHECK(mem_f64(mem, 8) == 0.0);
    CHECK_EQ_INT(call_axpy(&e, 0, 100, NAN, &d), 0);
    CHECK(isnan(mem_f64(mem, 8)));
    /* The last in-bounds cells work; one byte further traps at the access that failed. */
    v = 1.0;
    CHECK_EQ_INT(wasm_memory_write(mem, 65528, &v, 8), 0);
    CHECK_EQ_INT(call_axpy(&e, 65528 - 8, 65528 - 16, 2.0, &d), 0);
    CHECK(mem_f64(mem, 65528) == 3.0);
    CHECK_EQ_INT(call_axpy(&e, 0, 65528 - 16 + 1, 2.0, &d), SL_ETRAP);
    CHECK_EQ_STR(d.msg, "out of bounds memory access");
    CHECK_EQ_INT(d.offset, 0x35);
    CHECK_EQ_INT(call_axpy(&e, 65528 - 8 + 1, 100, 2.0, &d), SL_ETRAP);
    CHECK_EQ_STR(d.msg, "out of bounds memory access");
    CHECK_EQ_INT(d.offset, 0x3b);
    CHECK_EQ_INT(axpy_wasm[0x35], 0x2b); /* both are f64.load */
    CHECK_EQ_INT(axpy_wasm[0x3b], 0x2b);
    close_env(&e);
}

/* Two i32 adds of constants in a row, the first into a local, run as one add2k: in
 * order (the second may read the first's local), wrapping; and when the second only
 * computes an address it is still folded into the access instead.
 * (module
 *   (memory (export "mem") 1)
 *   (func (export "two_adds") (param $a i32) (result i32) (local $x i32) (local $y i32)
 *     (local.set $x (i32.add (local.get $a) (i32.const 1)))
 *     (local.set $y (i32.add (local.get $x) (i32.const -1)))
 *     (i32.add (i32.mul (local.get $x) (i32.const 1000)) (local.get $y)))
 *   (func (export "add_then_load") (param $p i32) (result i32) (local $q i32)
 *     (local.set $q (i32.add (local.get $p) (i32.const 4)))
 *     (i32.add (i32.load (i32.add (local.get $p) (i32.const 8))) (local.get $q)))) */
static const uint8_t add2_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60,
  0x01, 0x7f, 0x01, 0x7f, 0x03, 0x03, 0x02, 0x00, 0x00, 0x05, 0x03, 0x01,
  0x00, 0x01, 0x07, 0x22, 0x03, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x08,
  0x74, 0x77, 0x6f, 0x5f, 0x61, 0x64, 0x64, 0x73, 0x00, 0x00, 0x0d, 0x61,
  0x64, 0x64, 0x5f, 0x74, 0x68, 0x65, 0x6e, 0x5f, 0x6c, 0x6f, 0x61, 0x64,
  0x00, 0x01, 0x0a, 0x34, 0x02, 0x1b, 0x01, 0x02, 0x7f, 0x20, 0x00, 0x41,
  0x01, 0x6a, 0x21, 0x01, 0x20, 0x01, 0x41, 0x7f, 0x6a, 0x21, 0x02, 0x20,
  0x01, 0x41, 0xe8, 0x07, 0x6c, 0x20, 0x02, 0x6a, 0x0b, 0x16, 0x01, 0x01,
  0x7f, 0x20, 0x00, 0x41, 0x04, 0x6a, 0x21, 0x01, 0x20, 0x00, 0x41, 0x08,
  0x6a, 0x28, 0x02, 0x00, 0x20, 0x01, 0x6a, 0x0b,
};

TEST(two_adds_of_constants_in_a_row_run_in_order_and_still_wrap) {
    env e;
    wasm_diag d;
    wasm_val r;
    CHECK_EQ_INT(open_env(&e, add2_wasm, sizeof add2_wasm, NULL, NULL, 0), 0);
    CHECK_EQ_INT(call1(&e, "two_adds", 5), 6 * 1000 + 5);
    CHECK_EQ_INT(call1(&e, "two_adds", 0xffffffffu), 0xffffffffu); /* x wraps to 0, y to -1 */
    uint32_t hundred = 100;
    CHECK_EQ_INT(wasm_memory_write(wasm_instance_memory(e.inst), 0, &hundred, 4), 0);
    /* p + 8 wraps to 0: loads 100; q = p + 4 = -4: 100 - 4. */
    CHECK_EQ_INT(call1(&e, "add_then_load", 0xfffffff8u), 96);
    wasm_val a = i32v(65536 - 8 - 3);
    CHECK_EQ_INT(wasm_func_call(e.store, export_func(e.inst, "add_then_load"), &a, 1, &r, 1, &d),
                 SL_ETRAP);
    CHECK_EQ_STR(d.msg, "out of bounds memory access");
    CHECK_EQ_INT(add2_wasm[d.offset], 0x28); /* i32.load */
    close_env(&e);
}

/* A select between two constants is one instruction (select_kk) that returns either
 * constant's 64 bits unchanged, -0 and a NaN payload included.
 * (module
 *   (func (export "sel_i64") (param i32) (result i64)
 *     (select (i64.const 0x8000000000000001) (i64.const -2) (local.get 0)))
 *   (func (export "sel_f64_bits") (param i32) (result i64)
 *     (i64.reinterpret_f64
 *       (select (f64.const -0) (f64.const nan:0x4) (local.get 0))))) */
static const uint8_t selk_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60,
  0x01, 0x7f, 0x01, 0x7e, 0x03, 0x03, 0x02, 0x00, 0x00, 0x07, 0x1a, 0x02,
  0x07, 0x73, 0x65, 0x6c, 0x5f, 0x69, 0x36, 0x34, 0x00, 0x00, 0x0c, 0x73,
  0x65, 0x6c, 0x5f, 0x66, 0x36, 0x34, 0x5f, 0x62, 0x69, 0x74, 0x73, 0x00,
  0x01, 0x0a, 0x2d, 0x02, 0x12, 0x00, 0x42, 0x81, 0x80, 0x80, 0x80, 0x80,
  0x80, 0x80, 0x80, 0x80, 0x7f, 0x42, 0x7e, 0x20, 0x00, 0x1b, 0x0b, 0x18,
  0x00, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x44, 0x04,
  0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f, 0x20, 0x00, 0x1b, 0xbd, 0x0b,
};

static uint64_t call1_i64(env *e, const char *name, uint32_t arg) {
    wasm_val a = i32v(arg);
    wasm_val res[1];
    wasm_diag d;
    if (wasm_func_call(e->store, export_func(e->inst, name), &a, 1, res, 1, &d) < 0) return 0xdead;
    return res[0].of.i64;
}

TEST(a_select_between_two_constants_returns_either_constant_bit_for_bit) {
    env e;
    CHECK_EQ_INT(open_env(&e, selk_wasm, sizeof selk_wasm, NULL, NULL, 0), 0);
    CHECK_EQ_U64(call1_i64(&e, "sel_i64", 1), 0x8000000000000001ull);
    CHECK_EQ_U64(call1_i64(&e, "sel_i64", 0x80000000u), 0x8000000000000001ull);
    CHECK_EQ_U64(call1_i64(&e, "sel_i64", 0), (uint64_t)-2);
    CHECK_EQ_U64(call1_i64(&e, "sel_f64_bits", 7), 0x8000000000000000ull);  /* -0 */
    CHECK_EQ_U64(call1_i64(&e, "sel_f64_bits", 0), 0x7ff0000000000004ull);  /* nan:0x4 */
    close_env(&e);
}

/* Three local copies in a row run as one copy3, in order.
 * (module
 *   (func (export "chain3") (param i32 i32) (result i32) (local i32 i32)
 *     (local.set 0 (local.get 1))
 *     (local.set 2 (local.get 0))
 *     (local.set 3 (local.get 2))
 *     (i32.add (i32.mul (local.get 3) (i32.const 100)) (local.get 0)))
 *   (func (export "rotate3") (param i32 i32 i32) (result i32)
 *     local.get 0
 *     local.get 1
 *     local.get 2
 *     local.set 0
 *     local.set 2
 *     local.set 1
 *     (i32.add (i32.add (i32.mul (local.get 0) (i32.const 100))
 *                       (i32.mul (local.get 1) (i32.const 10)))
 *              (local.get 2)))) */
static const uint8_t copy3_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0e, 0x02, 0x60,
  0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x01, 0x7f,
  0x03, 0x03, 0x02, 0x00, 0x01, 0x07, 0x14, 0x02, 0x06, 0x63, 0x68, 0x61,
  0x69, 0x6e, 0x33, 0x00, 0x00, 0x07, 0x72, 0x6f, 0x74, 0x61, 0x74, 0x65,
  0x33, 0x00, 0x01, 0x0a, 0x39, 0x02, 0x19, 0x01, 0x02, 0x7f, 0x20, 0x01,
  0x21, 0x00, 0x20, 0x00, 0x21, 0x02, 0x20, 0x02, 0x21, 0x03, 0x20, 0x03,
  0x41, 0xe4, 0x00, 0x6c, 0x20, 0x00, 0x6a, 0x0b, 0x1d, 0x00, 0x20, 0x00,
  0x20, 0x01, 0x20, 0x02, 0x21, 0x00, 0x21, 0x02, 0x21, 0x01, 0x20, 0x00,
  0x41, 0xe4, 0x00, 0x6c, 0x20, 0x01, 0x41, 0x0a, 0x6c, 0x6a, 0x20, 0x02,
  0x6a, 0x0b,
};

TEST(three_consecutive_local_copies_happen_in_order) {
    env e;
    wasm_diag d;
    wasm_val r;
    CHECK_EQ_INT(open_env(&e, copy3_wasm, sizeof copy3_wasm, NULL, NULL, 0), 0);
    CHECK_EQ_INT(call2(&e, "chain3", 1, 2), 2 * 100 + 2); /* each copy sees the one before */
    wasm_val args[3] = {i32v(1), i32v(2), i32v(3)};
    CHECK_EQ_INT(wasm_func_call(e.store, export_func(e.inst, "rotate3"), args, 3, &r, 1, &d), 0);
    CHECK_EQ_INT(r.of.i32, 3 * 100 + 1 * 10 + 2); /* locals (c, a, b) */
    close_env(&e);
}
