/* validate_suite_test.c - the official WebAssembly test suite's decode/validate verdicts.
 *
 * For each of the 90 non-SIMD .wast files in ../shared/wasm-testsuite (simd_* are
 * skipped: SIMD is not supported), converts it with Debian's wast2json and checks
 * every command about loading a module:
 *   module, assert_unlinkable, assert_uninstantiable  the binary must load;
 *   assert_invalid                 must fail with SL_EINVAL, message starting with
 *                                  the expected text (the reference interpreter's rule);
 *   assert_malformed (binary)      must fail with SL_EPROTO, same message rule;
 *   assert_malformed (text)        tests the text parser: counted, not applicable.
 * Prints per-file totals and "N passed, N failed". Needs ../shared and wast2json
 * (scripts/install-deps.sh installs wabt); skips when either is absent.
 * Links wastjson.c (tests/wasm/CMakeLists.txt adds it to this executable). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "test.h"
#include "wasm/wasm.h"
#include "wastjson.h"

/* Largest .wasm read from a conversion; the suite's biggest is well under this. */
#define SUITE_WASM_BYTES_MAX (16u << 20)

typedef struct tally {
    unsigned passed;
    unsigned failed;
    unsigned text_malformed; /* not applicable to a binary decoder */
} tally;

/* Where wast2json (wabt 1.0.32) writes different bytes than the .wast text means,
 * the binary deserves a different verdict than the text. Each entry says which, and
 * is applied only while the bytes still show the artifact (absent_byte not in the
 * file), so a fixed wabt makes the original expectation apply again. */
typedef struct artifact {
    const char *file;    /* .wast base name */
    const char *line;    /* command line number as wast2json reports it */
    uint8_t absent_byte; /* the opcode the text means but the binary lacks */
    const char *text;    /* the verdict the bytes deserve */
} artifact;

static const artifact artifacts[] = {
    /* `select (result)` with an empty type list comes out as plain select (0x1B), not
     * 0x1C 0x00: the binary is a plain select of one operand, a type mismatch. */
    {"select", "324", 0x1C, "type mismatch"},
};

static const char *artifact_text(const char *file, const char *line, const uint8_t *bytes,
                                 size_t n) {
    for (size_t i = 0; i < sizeof(artifacts) / sizeof(artifacts[0]); i++) {
        const artifact *a = &artifacts[i];
        if (strcmp(a->file, file) != 0 || strcmp(a->line, line) != 0) continue;
        if (memchr(bytes, a->absent_byte, n) != NULL) return NULL;
        return a->text;
    }
    return NULL;
}

static uint8_t *file_read(const char *path, size_t *n_out) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = mem_alloc(MEM_MISC, SUITE_WASM_BYTES_MAX);
    size_t n = buf ? fread(buf, 1, SUITE_WASM_BYTES_MAX, f) : 0;
    fclose(f);
    *n_out = n;
    return buf;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Runs one command; returns true when the verdict matches the suite's. */
static bool run_command(const char *dir, const wastjson_val *cmd, const char *type, tally *t,
                        const char *file) {
    const char *fn = wastjson_get_str(cmd, "filename");
    const wastjson_val *line = wastjson_get(cmd, "line");
    bool expect_ok = strcmp(type, "module") == 0 || strcmp(type, "assert_unlinkable") == 0 ||
                     strcmp(type, "assert_uninstantiable") == 0;
    bool invalid = strcmp(type, "assert_invalid") == 0;
    bool malformed = strcmp(type, "assert_malformed") == 0;
    if (!expect_ok && !invalid && !malformed) return true;
    if (malformed) {
        const char *mt = wastjson_get_str(cmd, "module_type");
        if (!mt || strcmp(mt, "binary") != 0) {
            t->text_malformed++;
            return true;
        }
    }
    if (!fn) {
        t->failed++;
        printf("  %s:%s: %s without a filename\n", file, line ? line->str : "?", type);
        return false;
    }
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, fn);
    size_t n = 0;
    uint8_t *bytes = file_read(path, &n);
    if (!bytes) {
        t->failed++;
        printf("  %s:%s: cannot read %s\n", file, line ? line->str : "?", path);
        return false;
    }
    wasm_module *m = NULL;
    wasm_diag d;
    int rc = wasm_module_new(bytes, n, &m, &d);
    wasm_module_free(m);
    bool ok;
    const char *text = wastjson_get_str(cmd, "text");
    const char *fixed = line ? artifact_text(file, line->str, bytes, n) : NULL;
    mem_free(MEM_MISC, bytes);
    if (fixed) {
        printf("  %s:%s: wast2json artifact: the binary's verdict is \"%s\", not \"%s\"\n", file,
               line->str, fixed, text ? text : "?");
        text = fixed;
    }
    if (expect_ok) {
        ok = rc == 0;
    } else {
        int want = invalid ? SL_EINVAL : SL_EPROTO;
        ok = rc == want && text && strncmp(d.msg, text, strlen(text)) == 0;
    }
    if (ok) {
        t->passed++;
    } else {
        t->failed++;
        printf("  %s:%s: %s %s: expected %s, got rc %d \"%s\" at offset %u\n", file,
               line ? line->str : "?", type, fn, expect_ok ? "success" : (text ? text : "?"), rc,
               rc ? d.msg : "", rc ? d.offset : 0);
    }
    return ok;
}

TEST(every_non_simd_suite_module_loads_or_is_rejected_with_the_reference_reason) {
    const char *shared = test_shared_dir();
    if (!shared) {
        test_skip("../shared is absent: no official wasm test suite");
        return;
    }
    if (system("command -v wast2json >/dev/null 2>&1") != 0) {
        test_skip("wast2json (wabt) is not installed");
        return;
    }
    char suite[1024];
    snprintf(suite, sizeof(suite), "%s/wasm-testsuite", shared);
    DIR *dir = opendir(suite);
    CHECK_MSG(dir != NULL, "cannot open %s", suite);
    char *names[256];
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL && count < sizeof(names) / sizeof(names[0])) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".wast") != 0) continue;
        if (strncmp(e->d_name, "simd_", 5) == 0) continue;
        names[count++] = mem_strndup(MEM_MISC, e->d_name, len - 5);
    }
    closedir(dir);
    qsort(names, count, sizeof(names[0]), name_cmp);

    char tmp[256];
    test_tmpdir(tmp);
    tally all = {0, 0, 0};
    unsigned files_failed = 0;
    for (size_t i = 0; i < count; i++) {
        char cmdline[3072];
        char json[1024];
        snprintf(json, sizeof(json), "%s/%s.json", tmp, names[i]);
        snprintf(cmdline, sizeof(cmdline), "wast2json '%s/%s.wast' -o '%s' 2>/dev/null", suite,
                 names[i], json);
        tally t = {0, 0, 0};
        if (system(cmdline) != 0) {
            printf("%-28s wast2json failed\n", names[i]);
            all.failed++;
            files_failed++;
            continue;
        }
        char err[200];
        wastjson_val *doc = wastjson_load(json, err, sizeof(err));
        if (!doc) {
            printf("%-28s bad JSON: %s\n", names[i], err);
            all.failed++;
            files_failed++;
            continue;
        }
        const wastjson_val *cmds = wastjson_get(doc, "commands");
        for (size_t k = 0; k < wastjson_len(cmds); k++) {
            const wastjson_val *cmd = wastjson_at(cmds, k);
            const char *type = wastjson_get_str(cmd, "type");
            if (type) run_command(tmp, cmd, type, &t, names[i]);
        }
        wastjson_free(doc);
        printf("%-28s %5u passed %4u failed %4u text-malformed (n/a)\n", names[i], t.passed,
               t.failed, t.text_malformed);
        all.passed += t.passed;
        all.failed += t.failed;
        all.text_malformed += t.text_malformed;
        files_failed += t.failed > 0;
    }
    test_rmrf(tmp);
    for (size_t i = 0; i < count; i++)
        mem_free(MEM_MISC, names[i]);
    printf("%u passed, %u failed (%u text-format assert_malformed not applicable; %zu files)\n",
           all.passed, all.failed, all.text_malformed, count);
    CHECK_EQ_INT(count, 90);
    CHECK_MSG(all.failed == 0, "%u suite commands failed in %u files", all.failed, files_failed);
}
