/* bench_wasm_load.c - how long wasm_module_new (decode + full validation) takes.
 *
 * Loads one module many times and prints the best and median time per load and the
 * throughput. The module is a file given on the command line, or by default one built
 * here of about 100 KB: 1200 functions whose bodies mix blocks, loops, if/else,
 * br_table, calls, memory access, i64/f64 locals and a global, plus a table, an
 * element segment naming every function, exports and a data segment. The budget the
 * wasm issue sets: instantiating a 100 KB module in <= 2 ms, so loading must be well
 * under that. One run; not a test: never run by ctest.
 * Usage: bench_wasm_load [--iters N] [module.wasm] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "base/mem.h"
#include "wasm/wasm.h"

typedef struct out {
    uint8_t *b;
    size_t n;
    size_t cap;
} out;

static void put(out *o, const void *p, size_t n) {
    if (o->n + n > o->cap) {
        o->cap = (o->n + n) * 2;
        o->b = realloc(o->b, o->cap);
        if (!o->b) {
            perror("realloc");
            exit(1);
        }
    }
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void put_u32(out *o, uint32_t v) {
    do {
        uint8_t byte = v & 0x7F;
        v >>= 7;
        if (v) byte |= 0x80;
        put(o, &byte, 1);
    } while (v);
}

static void put_section(out *o, uint8_t id, const out *payload) {
    put(o, &id, 1);
    put_u32(o, (uint32_t)payload->n);
    put(o, payload->b, payload->n);
}

#define FUNCS 1200u

/* One body of type (i32, i32) -> i32 with locals 2, 3: i64 and 4: f64; calls callee. */
static void body(out *code, uint32_t callee) {
    static const uint8_t head[] = {
        0x02, 0x02, 0x7e, 0x01, 0x7c,             /* locals: 2 x i64, 1 x f64 */
        0x02, 0x7f,                               /* block (result i32) */
        0x20, 0x00, 0x20, 0x01, 0x6a, 0x21, 0x00, /* l0 = l0 + l1 */
        0x03, 0x40,                               /* loop */
        0x20, 0x00, 0x41, 0x01, 0x6b, 0x22, 0x00, /* l0 = l0 - 1 (tee) */
        0xad, 0x20, 0x02, 0x7c, 0x21, 0x02,       /* l2 += (i64)that */
        0x20, 0x00, 0x0d, 0x00, 0x0b,             /* br_if 0 while l0; end */
        0x41, 0x00, 0x28, 0x02, 0x04,             /* i32.load offset=4 */
        0x41, 0x00, 0x20, 0x01, 0x36, 0x02, 0x00, /* i32.store */
        0x20, 0x01, 0x04, 0x7f,                   /* if (result i32) */
        0x44, 0,    0,    0,    0,    0,    0,    0xf8, 0x3f, 0x21, 0x04, /* l4 = 1.5 */
        0x41, 0x07, 0x05,                                                 /* 7 else */
        0x20, 0x00, 0x20, 0x01, 0x10,                                     /* call callee(l0, l1) */
    };
    static const uint8_t tail[] = {
        0x0b, 0x6a,                                                 /* end if; add */
        0x02, 0x40, 0x20, 0x00, 0x0e, 0x02, 0x00, 0x00, 0x00, 0x0b, /* br_table */
        0x23, 0x00, 0x6a,                                           /* + global 0 */
        0x20, 0x02, 0xa7, 0x6a,                                     /* + (i32)l2 */
        0x0b, 0x0b,                                                 /* end block; end body */
    };
    uint8_t idx[2] = {(uint8_t)(0x80 | (callee & 0x7F)), (uint8_t)(callee >> 7)};
    put_u32(code, (uint32_t)(sizeof(head) + sizeof(idx) + sizeof(tail)));
    put(code, head, sizeof(head));
    put(code, idx, sizeof(idx));
    put(code, tail, sizeof(tail));
}

static out synth_module(void) {
    out m = {0};
    out s = {0};
    static const uint8_t header[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
    put(&m, header, sizeof(header));
    /* type 0: (i32, i32) -> i32 */
    put(&s, "\x01\x60\x02\x7f\x7f\x01\x7f", 7);
    put_section(&m, 1, &s);
    s.n = 0;
    put_u32(&s, FUNCS);
    for (uint32_t i = 0; i < FUNCS; i++)
        put(&s, "\x00", 1);
    put_section(&m, 3, &s);
    s.n = 0;
    put(&s, "\x01\x70\x00", 3);
    put_u32(&s, FUNCS);
    put_section(&m, 4, &s);
    s.n = 0;
    put(&s, "\x01\x00\x01", 3);
    put_section(&m, 5, &s);
    s.n = 0;
    put(&s, "\x01\x7f\x00\x41\x05\x0b", 6);
    put_section(&m, 6, &s);
    s.n = 0;
    put(&s, "\x0b", 1); /* 10 function exports + memory */
    for (int i = 0; i < 10; i++) {
        char name[3] = {'f', (char)('0' + i), 0};
        put(&s, "\x02", 1);
        put(&s, name, 2);
        put(&s, "\x00", 1);
        put_u32(&s, (uint32_t)i * 100);
    }
    put(&s, "\x03mem\x02\x00", 6);
    put_section(&m, 7, &s);
    s.n = 0;
    put(&s, "\x01\x00\x41\x00\x0b", 5);
    put_u32(&s, FUNCS);
    for (uint32_t i = 0; i < FUNCS; i++)
        put_u32(&s, i);
    put_section(&m, 9, &s);
    s.n = 0;
    put_u32(&s, FUNCS);
    for (uint32_t i = 0; i < FUNCS; i++)
        body(&s, (i + 1) % FUNCS);
    put_section(&m, 10, &s);
    s.n = 0;
    put(&s, "\x01\x00\x41\x10\x0b", 5);
    put_u32(&s, 1024);
    for (int i = 0; i < 1024; i++) {
        uint8_t b = (uint8_t)i;
        put(&s, &b, 1);
    }
    put_section(&m, 11, &s);
    free(s.b);
    return m;
}

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int iters = 200;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc)
            iters = atoi(argv[++i]);
        else
            path = argv[i];
    }
    if (iters < 1) iters = 1;
    out m = {0};
    if (path) {
        FILE *f = fopen(path, "rb");
        if (!f) {
            perror(path);
            return 1;
        }
        uint8_t buf[65536];
        size_t got;
        while ((got = fread(buf, 1, sizeof(buf), f)) > 0)
            put(&m, buf, got);
        fclose(f);
    } else {
        m = synth_module();
    }
    double *t = malloc(sizeof(double) * (size_t)iters);
    if (!t) return 1;
    for (int i = 0; i < iters; i++) {
        wasm_module *mod = NULL;
        wasm_diag d;
        double t0 = now_us();
        int rc = wasm_module_new(m.b, m.n, &mod, &d);
        double t1 = now_us();
        if (rc != 0) {
            fprintf(stderr, "load failed: %s (%s) at offset %u\n", d.msg, sl_strerror(rc),
                    d.offset);
            return 1;
        }
        wasm_module_free(mod);
        t[i] = t1 - t0;
    }
    qsort(t, (size_t)iters, sizeof(double), cmp_double);
    printf("module %s: %zu bytes, %d loads\n", path ? path : "(synthesized)", m.n, iters);
    printf("wasm_module_new: best %.1f us, median %.1f us, %.0f MB/s at the median\n", t[0],
           t[iters / 2], (double)m.n / t[iters / 2]);
    free(t);
    free(m.b);
    return 0;
}
