/* diff_runner.c - runs a binaryen -ttf module in our engine (src/wasm) and prints the
 * same trace run_v8.js prints for node's V8; diff_test.py compares the two.
 *
 * Trace (see run_v8.js for the authoritative description): "instantiate ok|trap CAT|
 * link-error|invalid"; per exported function in export order (hangLimitInitializer
 * runs before each call and is not listed): "call NAME", "log-T VALUE" per
 * fuzzing-support.log-* call, then "result V..." or "trap CAT". i32, f32 and f64
 * values print as the 16 hex digits of the IEEE double JS would see (or "nan"); i64
 * prints as signed decimal with an "n" suffix.
 * Usage: wasm_diff_runner FILE.wasm. Exit status 0 unless the file cannot be read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "wasm/wasm.h"

static void print_double(double v) {
    if (v != v) {
        fputs("nan", stdout);
        return;
    }
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    printf("%016llx", (unsigned long long)b);
}

static void print_val(const wasm_val *v) {
    switch (v->type) {
    case WASM_I32:
        print_double((double)(int32_t)v->of.i32);
        break;
    case WASM_I64:
        printf("%lldn", (long long)(int64_t)v->of.i64);
        break;
    case WASM_F32: {
        float f;
        memcpy(&f, &v->of.f32_bits, sizeof(f));
        print_double((double)f);
        break;
    }
    case WASM_F64: {
        double d;
        memcpy(&d, &v->of.f64_bits, sizeof(d));
        print_double(d);
        break;
    }
    default:
        fputs(v->of.ref ? "ref" : "null", stdout);
        break;
    }
}

/* The trap classes V8 and the spec wording can both be mapped to (run_v8.js). */
static const char *category(const char *msg) {
    static const struct {
        const char *needle;
        const char *cat;
    } map[] = {
        {"unreachable", "unreachable"},
        {"integer divide by zero", "divzero"},
        {"integer overflow", "intrange"}, /* V8 folds these three into one message */
        {"invalid conversion to integer", "intrange"},
        {"out of bounds memory access", "memory"},
        {"undefined element", "table"},
        {"uninitialized element", "table"},
        {"indirect call type mismatch", "table"},
        {"out of bounds table access", "table"},
        {"call stack exhausted", "stack"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strstr(msg, map[i].needle)) return map[i].cat;
    return NULL;
}

static void print_trap(const char *prefix, const wasm_diag *d) {
    const char *cat = category(d->msg);
    if (cat)
        printf("%s%s\n", prefix, cat);
    else
        printf("%sother:%s\n", prefix, d->msg);
}

static const char *log_fn(wasm_instance *caller, void *env, const wasm_val *args,
                          wasm_val *results) {
    (void)caller;
    (void)results;
    printf("%s ", (const char *)env);
    print_val(&args[0]);
    putchar('\n');
    return NULL;
}

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

int main(int argc, char **argv) {
    size_t n;
    wasm_diag d;
    if (argc != 2) {
        fprintf(stderr, "usage: wasm_diff_runner FILE.wasm\n");
        return 2;
    }
    uint8_t *bytes = read_file(argv[1], &n);
    if (!bytes) {
        fprintf(stderr, "wasm_diff_runner: cannot read %s\n", argv[1]);
        return 2;
    }
    wasm_module *m = NULL;
    wasm_store *s = NULL;
    wasm_instance *inst = NULL;
    wasm_extern imports[64];
    memset(&d, 0, sizeof(d));
    if (wasm_module_new(bytes, n, &m, &d) < 0) {
        puts("instantiate invalid");
        fprintf(stderr, "wasm_diff_runner: %s at %u\n", d.msg, d.offset);
        goto done;
    }
    wasm_limits limits;
    memset(&limits, 0, sizeof(limits));
    if (wasm_store_new(&limits, &s) < 0) goto done;
    size_t ni = wasm_module_import_count(m);
    for (size_t i = 0; i < ni; i++) {
        wasm_import_info info;
        wasm_module_import(m, i, &info);
        static const char *const logs[] = {"log-i32", "log-i64", "log-f32", "log-f64"};
        const char *which = NULL;
        for (size_t k = 0; k < 4; k++)
            if (strcmp(info.module, "fuzzing-support") == 0 && strcmp(info.name, logs[k]) == 0)
                which = logs[k];
        if (!which || info.kind != WASM_EXTERN_FUNC || i >= 64) {
            puts("instantiate link-error");
            goto done;
        }
        imports[i].kind = WASM_EXTERN_FUNC;
        imports[i].of.func = wasm_func_new_host(s, &info.func, log_fn, (void *)which);
    }
    int rc = wasm_instantiate(s, m, imports, ni, &inst, &d);
    if (rc == SL_ETRAP) {
        print_trap("instantiate trap ", &d);
        goto done;
    }
    if (rc < 0) {
        puts("instantiate link-error");
        goto done;
    }
    puts("instantiate ok");
    wasm_extern hang;
    bool has_hang = wasm_instance_export(inst, "hangLimitInitializer", &hang) == 0 &&
                    hang.kind == WASM_EXTERN_FUNC;
    size_t ne = wasm_module_export_count(m);
    for (size_t i = 0; i < ne; i++) {
        const char *name;
        wasm_extern_kind kind;
        wasm_module_export(m, i, &name, &kind);
        if (kind != WASM_EXTERN_FUNC || strcmp(name, "hangLimitInitializer") == 0) continue;
        printf("call %s\n", name);
        wasm_val res[16];
        if (has_hang && wasm_func_call(s, hang.of.func, NULL, 0, res, 0, &d) < 0) {
            print_trap("trap ", &d);
            continue;
        }
        wasm_extern e;
        wasm_functype ft;
        if (wasm_instance_export(inst, name, &e) < 0) continue;
        wasm_func_type(e.of.func, &ft);
        wasm_val args[64];
        if (ft.param_count > 64 || ft.result_count > 16) {
            printf("trap other:too many params or results\n");
            continue;
        }
        for (uint32_t k = 0; k < ft.param_count; k++) {
            memset(&args[k], 0, sizeof(args[k]));
            args[k].type = ft.params[k];
        }
        rc = wasm_func_call(s, e.of.func, args, ft.param_count, res, ft.result_count, &d);
        if (rc < 0) {
            print_trap("trap ", &d);
            continue;
        }
        fputs("result", stdout);
        for (uint32_t k = 0; k < ft.result_count; k++) {
            putchar(' ');
            print_val(&res[k]);
        }
        putchar('\n');
    }
done:
    wasm_store_free(s);
    wasm_module_free(m);
    free(bytes);
    return 0;
}
