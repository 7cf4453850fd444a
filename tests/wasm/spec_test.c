/* spec_test.c - runs the official WebAssembly core test suite (../shared/wasm-testsuite,
 * PINNED.md) against src/wasm: every non-SIMD .wast is converted at test time with
 * Debian's wast2json and every command is executed:
 *   module, register, action, assert_return, assert_trap, assert_exhaustion,
 *   assert_invalid, assert_malformed (binary form), assert_unlinkable,
 *   assert_uninstantiable.
 * Text-form assert_malformed (a .wat module) tests a text parser, which a binary engine
 * does not have: those are counted as "n/a", never as passed.
 * Prints one line per file and a closing "N passed, N failed"; fails if any failed.
 * SLUNG_WAST=name (e.g. "i32") runs one file; SLUNG_WAST_VERBOSE=1 prints every failure.
 *
 * The "spectest" host module: print* functions (no output), global_i32 = 666,
 * global_i64 = 666, global_f32 = 666.6, global_f64 = 666.6, table 10..20 funcref,
 * memory 1..2. Externref values `ref.extern N` are the host pointer N + 1 (never NULL).
 * Each .wast runs in its own store; `register` names an instance for later imports. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/common.h"
#include "base/err.h"
#include "base/mem.h"
#include "test.h"
#include "wasm/wasm.h"
#include "wastjson.h"

#define SPEC_VERBOSE_FAILS 8 /* failures printed per file unless SLUNG_WAST_VERBOSE */
#define SPEC_NAMES_MAX 64    /* named/registered instances per file */
#define SPEC_MODULES_MAX 512 /* modules loaded per file */
#define SPEC_VALS_MAX 64     /* args or results of one action */

typedef struct named {
    char name[128];
    wasm_instance *inst;
} named;

typedef struct runner {
    const char *dir;              /* where wast2json wrote the .wasm files */
    wasm_store *store;
    wasm_instance *current;       /* the last module instantiated */
    named names[SPEC_NAMES_MAX];  /* $name -> instance */
    uint32_t name_count;
    named regs[SPEC_NAMES_MAX];   /* registered module names -> instance */
    uint32_t reg_count;
    wasm_module *modules[SPEC_MODULES_MAX];
    uint32_t module_count;
    /* spectest */
    wasm_func *print[7];
    wasm_global *g_i32, *g_i64, *g_f32, *g_f64;
    wasm_table *table;
    wasm_memory *memory;
    /* counts for the current file */
    uint32_t passed;
    uint32_t failed;
    uint32_t na;
    bool verbose;
    const char *file;
} runner;

static const char *host_nop(wasm_instance *caller, void *env, const wasm_val *args,
                            wasm_val *results) {
    return NULL;
}

static void spectest_make(runner *r) {
    static const wasm_valtype p_i32[] = {WASM_I32};
    static const wasm_valtype p_i64[] = {WASM_I64};
    static const wasm_valtype p_f32[] = {WASM_F32};
    static const wasm_valtype p_f64[] = {WASM_F64};
    static const wasm_valtype p_i32_f32[] = {WASM_I32, WASM_F32};
    static const wasm_valtype p_f64_f64[] = {WASM_F64, WASM_F64};
    const wasm_functype types[7] = {
        {0, 0, NULL, NULL}, {1, 0, p_i32, NULL}, {1, 0, p_i64, NULL}, {1, 0, p_f32, NULL},
        {1, 0, p_f64, NULL}, {2, 0, p_i32_f32, NULL}, {2, 0, p_f64_f64, NULL},
    };
    for (int i = 0; i < 7; i++) r->print[i] = wasm_func_new_host(r->store, &types[i], host_nop, NULL);
    float f32 = 666.6f;
    double f64 = 666.6;
    wasm_val v = {.type = WASM_I32};
    v.of.i32 = 666;
    r->g_i32 = wasm_global_new(r->store, v, false);
    v.type = WASM_I64;
    v.of.i64 = 666;
    r->g_i64 = wasm_global_new(r->store, v, false);
    v.type = WASM_F32;
    memcpy(&v.of.f32_bits, &f32, 4);
    r->g_f32 = wasm_global_new(r->store, v, false);
    v.type = WASM_F64;
    memcpy(&v.of.f64_bits, &f64, 8);
    r->g_f64 = wasm_global_new(r->store, v, false);
    r->table = wasm_table_new(r->store, WASM_FUNCREF, 10, 20);
    r->memory = wasm_memory_new(r->store, 1, 2);
}

static bool spectest_lookup(runner *r, const char *name, wasm_extern *out) {
    static const char *const prints[7] = {"print",     "print_i32",     "print_i64",
                                          "print_f32", "print_f64",     "print_i32_f32",
                                          "print_f64_f64"};
    for (int i = 0; i < 7; i++) {
        if (strcmp(name, prints[i]) == 0) {
            out->kind = WASM_EXTERN_FUNC;
            out->of.func = r->print[i];
            return true;
        }
    }
    out->kind = WASM_EXTERN_GLOBAL;
    if (strcmp(name, "global_i32") == 0) return (out->of.global = r->g_i32), true;
    if (strcmp(name, "global_i64") == 0) return (out->of.global = r->g_i64), true;
    if (strcmp(name, "global_f32") == 0) return (out->of.global = r->g_f32), true;
    if (strcmp(name, "global_f64") == 0) return (out->of.global = r->g_f64), true;
    if (strcmp(name, "table") == 0) {
        out->kind = WASM_EXTERN_TABLE;
        out->of.table = r->table;
        return true;
    }
    if (strcmp(name, "memory") == 0) {
        out->kind = WASM_EXTERN_MEMORY;
        out->of.memory = r->memory;
        return true;
    }
    return false;
}

static void fail_at(runner *r, const wastjson_val *cmd, const char *fmt, const char *a, const char *b) {
    r->failed++;
    if (r->verbose || r->failed <= SPEC_VERBOSE_FAILS) {
        const wastjson_val *line = wastjson_get(cmd, "line");
        char what[400];
        snprintf(what, sizeof what, fmt, a ? a : "", b ? b : "");
        printf("  FAIL %s:%s %s: %s\n", r->file, line ? line->str : "?",
               wastjson_get_str(cmd, "type"), what);
    }
}

static wasm_instance *find_named(runner *r, named *tab, uint32_t n, const char *name) {
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(tab[i].name, name) == 0) return tab[i].inst;
    return NULL;
}

static void set_named(named *tab, uint32_t *n, const char *name, wasm_instance *inst) {
    for (uint32_t i = 0; i < *n; i++) {
        if (strcmp(tab[i].name, name) == 0) {
            tab[i].inst = inst;
            return;
        }
    }
    if (*n < SPEC_NAMES_MAX) {
        snprintf(tab[*n].name, sizeof tab[*n].name, "%s", name);
        tab[*n].inst = inst;
        (*n)++;
    }
}

/* Reads DIR/filename whole. */
static uint8_t *read_file(const char *dir, const char *name, size_t *n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(len > 0 ? (size_t)len : 1);
    if (p && len > 0 && fread(p, 1, (size_t)len, f) != (size_t)len) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *n = len > 0 ? (size_t)len : 0;
    return p;
}

/* Decodes a module file: 0 ok, else the module_new status (msg in d). */
static int load_module(runner *r, const char *filename, wasm_module **out, wasm_diag *d) {
    size_t n;
    uint8_t *bytes = read_file(r->dir, filename, &n);
    *out = NULL;
    if (!bytes) {
        snprintf(d->msg, sizeof d->msg, "cannot read %s", filename);
        return -ENOENT;
    }
    int rc = wasm_module_new(bytes, n, out, d);
    free(bytes);
    if (rc == 0) {
        if (r->module_count < SPEC_MODULES_MAX) r->modules[r->module_count++] = *out;
        else {
            wasm_module_free(*out);
            *out = NULL;
            snprintf(d->msg, sizeof d->msg, "more than %d modules in one file", SPEC_MODULES_MAX);
            return SL_ELIMIT;
        }
    }
    return rc;
}

/* Resolves imports and instantiates. Link errors: SL_ENOTFOUND "unknown import". */
static int link_and_instantiate(runner *r, const wasm_module *m, wasm_instance **out, wasm_diag *d) {
    size_t n = wasm_module_import_count(m);
    wasm_extern *ex = calloc(n + 1, sizeof(*ex));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        wasm_import_info info;
        wasm_module_import(m, i, &info);
        bool found = false;
        if (strcmp(info.module, "spectest") == 0) {
            found = spectest_lookup(r, info.name, &ex[i]);
        } else {
            wasm_instance *from = find_named(r, r->regs, r->reg_count, info.module);
            if (from) found = wasm_instance_export(from, info.name, &ex[i]) == 0;
        }
        if (!found) {
            snprintf(d->msg, sizeof d->msg, "unknown import %s.%s", info.module, info.name);
            d->rc = rc = SL_ENOTFOUND;
        }
    }
    if (rc == 0) rc = wasm_instantiate(r->store, m, ex, n, out, d);
    free(ex);
    return rc;
}

static bool parse_u64(const char *s, uint64_t *v) {
    if (!s) return false;
    char *end;
    errno = 0;
    *v = strtoull(s, &end, 10);
    return errno == 0 && *end == 0;
}

/* A JSON value {type, value} as a wasm_val (args; expected non-NaN values). */
static bool json_val(const wastjson_val *j, wasm_val *out) {
    const char *t = wastjson_get_str(j, "type");
    const char *v = wastjson_get_str(j, "value");
    uint64_t x = 0;
    memset(out, 0, sizeof(*out));
    if (!t) return false;
    if (strcmp(t, "i32") == 0 || strcmp(t, "f32") == 0) {
        out->type = t[0] == 'i' ? WASM_I32 : WASM_F32;
        if (!parse_u64(v, &x)) return false;
        out->of.i32 = (uint32_t)x;
    } else if (strcmp(t, "i64") == 0 || strcmp(t, "f64") == 0) {
        out->type = t[0] == 'i' ? WASM_I64 : WASM_F64;
        if (!parse_u64(v, &x)) return false;
        out->of.i64 = x;
    } else if (strcmp(t, "externref") == 0 || strcmp(t, "funcref") == 0) {
        out->type = t[0] == 'e' ? WASM_EXTERNREF : WASM_FUNCREF;
        if (!v || strcmp(v, "null") == 0) out->of.ref = NULL;
        else if (parse_u64(v, &x)) out->of.ref = (void *)(uintptr_t)(x + 1);
        else return false;
    } else {
        return false;
    }
    return true;
}

/* Does result `got` match expectation j (NaN patterns, null refs)? */
static bool val_matches(const wastjson_val *j, const wasm_val *got) {
    const char *t = wastjson_get_str(j, "type");
    const char *v = wastjson_get_str(j, "value");
    if (!t) return false;
    if (v && strncmp(v, "nan:", 4) == 0) {
        bool canonical = strcmp(v, "nan:canonical") == 0;
        if (strcmp(t, "f32") == 0) {
            uint32_t b = got->of.f32_bits;
            if (got->type != WASM_F32 || (b & 0x7f800000u) != 0x7f800000u) return false;
            return canonical ? (b & 0x7fffffffu) == 0x7fc00000u : (b & 0x00400000u) != 0;
        }
        if (strcmp(t, "f64") == 0) {
            uint64_t b = got->of.f64_bits;
            if (got->type != WASM_F64 || (b & 0x7ff0000000000000ull) != 0x7ff0000000000000ull)
                return false;
            return canonical ? (b & 0x7fffffffffffffffull) == 0x7ff8000000000000ull
                             : (b & 0x0008000000000000ull) != 0;
        }
        return false;
    }
    if (strcmp(t, "funcref") == 0 && !v) return got->type == WASM_FUNCREF && got->of.ref;
    wasm_val want;
    if (!json_val(j, &want)) return false;
    if (want.type != got->type) return false;
    switch (want.type) {
    case WASM_I32:
    case WASM_F32:
        return want.of.i32 == got->of.i32;
    case WASM_I64:
    case WASM_F64:
        return want.of.i64 == got->of.i64;
    case WASM_FUNCREF:
        return want.of.ref ? got->of.ref != NULL : got->of.ref == NULL;
    default:
        return want.of.ref == got->of.ref;
    }
}

/* Runs an action. Returns the call status; results/count filled on success. */
static int do_action(runner *r, const wastjson_val *act, wasm_val *results, size_t *nres,
                     wasm_diag *d) {
    const char *type = wastjson_get_str(act, "type");
    const char *mod = wastjson_get_str(act, "module");
    const char *field = wastjson_get_str(act, "field");
    wasm_instance *inst = mod ? find_named(r, r->names, r->name_count, mod) : r->current;
    wasm_extern ex;
    memset(d, 0, sizeof(*d));
    *nres = 0;
    if (!inst) {
        snprintf(d->msg, sizeof d->msg, "no module %s", mod ? mod : "(current)");
        return SL_ENOTFOUND;
    }
    const wastjson_val *fv = wastjson_get(act, "field");
    if (!field || wasm_instance_export_n(inst, field, fv->len, &ex) < 0) {
        snprintf(d->msg, sizeof d->msg, "no export %s", field ? field : "?");
        return SL_ENOTFOUND;
    }
    if (type && strcmp(type, "get") == 0) {
        if (ex.kind != WASM_EXTERN_GLOBAL) return SL_EINVAL;
        results[0] = wasm_global_get(ex.of.global);
        *nres = 1;
        return 0;
    }
    if (ex.kind != WASM_EXTERN_FUNC) return SL_EINVAL;
    const wastjson_val *args = wastjson_get(act, "args");
    wasm_val av[SPEC_VALS_MAX];
    size_t na = wastjson_len(args);
    if (na > SPEC_VALS_MAX) return SL_ELIMIT;
    for (size_t i = 0; i < na; i++) {
        if (!json_val(wastjson_at(args, i), &av[i])) {
            snprintf(d->msg, sizeof d->msg, "bad argument %zu", i);
            return SL_EINVAL;
        }
    }
    wasm_functype ft;
    wasm_func_type(ex.of.func, &ft);
    if (ft.result_count > SPEC_VALS_MAX) return SL_ELIMIT;
    int rc = wasm_func_call(r->store, ex.of.func, av, na, results, ft.result_count, d);
    if (rc == 0) *nres = ft.result_count;
    return rc;
}

static void run_command(runner *r, const wastjson_val *cmd) {
    const char *type = wastjson_get_str(cmd, "type");
    const char *filename = wastjson_get_str(cmd, "filename");
    const wastjson_val *act = wastjson_get(cmd, "action");
    wasm_diag d;
    wasm_module *m = NULL;
    wasm_instance *inst = NULL;
    wasm_val res[SPEC_VALS_MAX];
    size_t nres = 0;
    int rc;
    memset(&d, 0, sizeof(d));
    if (!type) {
        fail_at(r, cmd, "command without a type%s%s", NULL, NULL);
        return;
    }
    if (strcmp(type, "module") == 0) {
        const char *name = wastjson_get_str(cmd, "name");
        r->current = NULL;
        rc = load_module(r, filename, &m, &d);
        if (rc == 0) rc = link_and_instantiate(r, m, &inst, &d);
        if (rc < 0) {
            fail_at(r, cmd, "%s%s", d.msg, NULL);
            return;
        }
        r->current = inst;
        if (name) set_named(r->names, &r->name_count, name, inst);
        r->passed++;
    } else if (strcmp(type, "register") == 0) {
        const char *name = wastjson_get_str(cmd, "name");
        const char *as = wastjson_get_str(cmd, "as");
        inst = name ? find_named(r, r->names, r->name_count, name) : r->current;
        if (!inst || !as) {
            fail_at(r, cmd, "nothing to register as %s%s", as, NULL);
            return;
        }
        set_named(r->regs, &r->reg_count, as, inst);
        r->passed++;
    } else if (strcmp(type, "action") == 0) {
        rc = do_action(r, act, res, &nres, &d);
        if (rc < 0) fail_at(r, cmd, "action failed: %s%s", d.msg, NULL);
        else r->passed++;
    } else if (strcmp(type, "assert_return") == 0) {
        const wastjson_val *exp = wastjson_get(cmd, "expected");
        rc = do_action(r, act, res, &nres, &d);
        if (rc < 0) {
            fail_at(r, cmd, "%s %s", wastjson_get_str(act, "field"), d.msg);
            return;
        }
        if (nres != wastjson_len(exp)) {
            fail_at(r, cmd, "%s: wrong result count%s", wastjson_get_str(act, "field"), NULL);
            return;
        }
        for (size_t i = 0; i < nres; i++) {
            if (!val_matches(wastjson_at(exp, i), &res[i])) {
                char got[64];
                snprintf(got, sizeof got, "result %zu = 0x%llx", i, (unsigned long long)res[i].of.i64);
                if (res[i].type == WASM_I32 || res[i].type == WASM_F32)
                    snprintf(got, sizeof got, "result %zu = 0x%x", i, res[i].of.i32);
                fail_at(r, cmd, "%s: %s", wastjson_get_str(act, "field"), got);
                return;
            }
        }
        r->passed++;
    } else if (strcmp(type, "assert_trap") == 0 || strcmp(type, "assert_exhaustion") == 0) {
        const char *text = wastjson_get_str(cmd, "text");
        rc = do_action(r, act, res, &nres, &d);
        if (rc != SL_ETRAP) {
            fail_at(r, cmd, "expected trap \"%s\", got %s", text, rc == 0 ? "success" : d.msg);
            return;
        }
        if (text && strncmp(d.msg, text, strlen(text)) != 0) {
            fail_at(r, cmd, "expected trap \"%s\", got \"%s\"", text, d.msg);
            return;
        }
        r->passed++;
    } else if (strcmp(type, "assert_invalid") == 0 || strcmp(type, "assert_malformed") == 0) {
        const char *mt = wastjson_get_str(cmd, "module_type");
        if (mt && strcmp(mt, "text") == 0) {
            r->na++;
            return;
        }
        rc = load_module(r, filename, &m, &d);
        if (rc == 0) {
            fail_at(r, cmd, "module accepted; expected \"%s\"%s", wastjson_get_str(cmd, "text"), NULL);
            return;
        }
        r->passed++;
    } else if (strcmp(type, "assert_unlinkable") == 0 ||
               strcmp(type, "assert_uninstantiable") == 0) {
        bool trap = type[7] == 'u' && type[8] == 'n' && type[9] == 'i';
        rc = load_module(r, filename, &m, &d);
        if (rc < 0) {
            fail_at(r, cmd, "module rejected: %s%s", d.msg, NULL);
            return;
        }
        rc = link_and_instantiate(r, m, &inst, &d);
        if (rc == 0 || (trap && rc != SL_ETRAP) || (!trap && rc == SL_ETRAP)) {
            fail_at(r, cmd, "expected \"%s\", got \"%s\"", wastjson_get_str(cmd, "text"),
                    rc == 0 ? "success" : d.msg);
            return;
        }
        r->passed++;
    } else {
        fail_at(r, cmd, "unknown command %s%s", type, NULL);
    }
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Converts and runs one .wast; adds to the totals. */
static void run_file(const char *suite, const char *tmp, const char *name, uint32_t *tp,
                     uint32_t *tf, uint32_t *tna) {
    char base[256];
    char cmdline[1024];
    char json[512];
    char err[200];
    runner r;
    snprintf(base, sizeof base, "%.*s", (int)(strlen(name) - 5), name);
    int jn = snprintf(json, sizeof json, "%s/%s.json", tmp, base);
    int cn = snprintf(cmdline, sizeof cmdline, "wast2json '%s/%s' -o '%s' 2>&1", suite, name, json);
    if (jn < 0 || jn >= (int)sizeof json || cn < 0 || cn >= (int)sizeof cmdline) {
        printf("%-28s path too long\n", name);
        (*tf)++;
        return;
    }
    memset(&r, 0, sizeof(r));
    r.dir = tmp;
    r.file = name;
    r.verbose = getenv("SLUNG_WAST_VERBOSE") != NULL;
    if (system(cmdline) != 0) {
        printf("%-28s wast2json failed\n", name);
        (*tf)++;
        return;
    }
    wastjson_val *doc = wastjson_load(json, err, sizeof err);
    if (!doc) {
        printf("%-28s bad json: %s\n", name, err);
        (*tf)++;
        return;
    }
    /* Generous memory limit: the suite grows memories to a few hundred pages. */
    wasm_limits lim = {.memory_pages_max = 65536};
    if (wasm_store_new(&lim, &r.store) < 0) {
        wastjson_free(doc);
        (*tf)++;
        return;
    }
    spectest_make(&r);
    const wastjson_val *cmds = wastjson_get(doc, "commands");
    for (size_t i = 0; i < wastjson_len(cmds); i++) run_command(&r, wastjson_at(cmds, i));
    wasm_store_free(r.store);
    for (uint32_t i = 0; i < r.module_count; i++) wasm_module_free(r.modules[i]);
    wastjson_free(doc);
    printf("%-28s %5u passed, %3u failed, %3u n/a (text format)\n", name, r.passed, r.failed, r.na);
    *tp += r.passed;
    *tf += r.failed;
    *tna += r.na;
}

static bool have_wast2json(void) {
    return system("command -v wast2json >/dev/null 2>&1") == 0;
}

TEST(every_non_simd_command_of_the_official_core_test_suite_passes) {
    const char *shared = test_shared_dir();
    char suite[512];
    char tmp[256];
    if (!shared) {
        test_skip("../shared is absent: no pinned WebAssembly test suite");
        return;
    }
    if (!have_wast2json()) {
        test_skip("wast2json (Debian package wabt) is not installed");
        return;
    }
    snprintf(suite, sizeof suite, "%s/wasm-testsuite", shared);
    DIR *dir = opendir(suite);
    if (!dir) {
        test_skip("%s is absent", suite);
        return;
    }
    const char *only = getenv("SLUNG_WAST");
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL && n < SL_ARRAY_LEN(names)) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".wast") != 0) continue;
        if (strncmp(e->d_name, "simd_", 5) == 0) continue;
        if (only && (strlen(only) != len - 5 || strncmp(e->d_name, only, len - 5) != 0)) continue;
        names[n++] = strdup(e->d_name);
    }
    closedir(dir);
    qsort(names, n, sizeof(names[0]), cmp_str);
    test_tmpdir(tmp);
    uint32_t passed = 0;
    uint32_t failed = 0;
    uint32_t na = 0;
    for (size_t i = 0; i < n; i++) {
        run_file(suite, tmp, names[i], &passed, &failed, &na);
        fflush(stdout);
        free(names[i]);
    }
    test_rmrf(tmp);
    printf("%zu files; %u text-format assert_malformed not applicable\n", n, na);
    printf("%u passed, %u failed\n", passed, failed);
    CHECK(n > 0);
    CHECK_EQ_INT(failed, 0);
}
