/* validate_diff_test.c - our load verdict agrees with wabt's wasm-validate.
 *
 * Takes the fuzz corpus (fuzz/wasm_decode/corpus: valid modules of the official suite)
 * and makes MUTANTS modules from it with a fixed-seed generator (1 to 4 random bytes
 * replaced after the header), then asks both wasm_module_new and wabt's wasm-validate
 * (SIMD disabled: we implement 2.0 without it) whether each module is valid. The two
 * must agree on accept/reject; messages differ between the tools and are not compared.
 * Where they disagree, node's V8 (WebAssembly.validate) decides: wabt 1.0.32 accepts
 * a few malformed bodies (see below); a disagreement V8 does not settle in our favour
 * fails the test.
 * Mutants hit every section, so this checks decoder and validator against an
 * independent implementation where the official suite has no case. Needs wasm-validate
 * (wabt) and node (both from scripts/install-deps.sh); deterministic, so it cannot
 * flake. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "test.h"
#include "wasm/wasm.h"

#define MUTANTS 1000
#define CORPUS_FILES_MAX 64
#define MODULE_BYTES_MAX (64u << 10)

typedef struct blob {
    uint8_t *b;    /* bytes (mem_alloc) */
    size_t n;      /* length */
    char name[64]; /* corpus file name */
} blob;

/* xorshift64*: a fixed sequence on every machine. */
static uint64_t rng_next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static bool blob_read(const char *path, blob *out) {
    out->b = NULL;
    out->n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    out->b = mem_alloc(MEM_MISC, MODULE_BYTES_MAX);
    out->n = out->b ? fread(out->b, 1, MODULE_BYTES_MAX, f) : 0;
    fclose(f);
    return out->b != NULL && out->n > 8 && out->n < MODULE_BYTES_MAX;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

TEST(mutated_modules_get_the_same_valid_or_invalid_verdict_as_wabt) {
    if (system("command -v wasm-validate >/dev/null 2>&1") != 0) {
        test_skip("wasm-validate (wabt) is not installed");
        return;
    }
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/fuzz/wasm_decode/corpus", test_source_dir());
    DIR *d = opendir(dir);
    CHECK_MSG(d != NULL, "cannot open %s", dir);
    char *names[CORPUS_FILES_MAX];
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && count < CORPUS_FILES_MAX)
        if (strstr(e->d_name, ".wasm"))
            names[count++] = mem_strndup(MEM_MISC, e->d_name, strlen(e->d_name));
    closedir(d);
    CHECK(count > 0);
    qsort(names, count, sizeof(names[0]), name_cmp); /* readdir order is not fixed */
    blob corpus[CORPUS_FILES_MAX];
    size_t loaded = 0;
    for (size_t i = 0; i < count; i++) {
        char path[2048];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if (blob_read(path, &corpus[loaded])) {
            snprintf(corpus[loaded].name, sizeof(corpus[loaded].name), "%s", names[i]);
            loaded++;
        } else
            mem_free(MEM_MISC, corpus[loaded].b);
        mem_free(MEM_MISC, names[i]);
    }
    CHECK(loaded > 0);

    char tmp[256];
    test_tmpdir(tmp);
    char path[512];
    snprintf(path, sizeof(path), "%s/mutant.wasm", tmp);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "wasm-validate --disable-simd '%s' >/dev/null 2>&1", path);
    uint8_t *buf = mem_alloc(MEM_MISC, MODULE_BYTES_MAX);
    CHECK(buf != NULL);
    uint64_t seed = 0x5eed5eed12345678ull;
    unsigned accepted = 0;
    unsigned tie_breaks = 0;
    char node_cmd[1024];
    snprintf(node_cmd, sizeof(node_cmd),
             "node -e 'process.exit(WebAssembly.validate(require(\"fs\").readFileSync("
             "process.argv[1])) ? 0 : 1)' '%s' >/dev/null 2>&1",
             path);
    unsigned disagreements = 0;
    for (int k = 0; k < MUTANTS; k++) {
        const blob *src = &corpus[rng_next(&seed) % loaded];
        memcpy(buf, src->b, src->n);
        int flips = 1 + (int)(rng_next(&seed) % 4);
        char what[128] = "";
        for (int f = 0; f < flips; f++) {
            size_t at = 8 + rng_next(&seed) % (src->n - 8);
            buf[at] = (uint8_t)rng_next(&seed);
            size_t used = strlen(what);
            snprintf(what + used, sizeof(what) - used, " [%zu]=0x%02x", at, buf[at]);
        }
        FILE *out = fopen(path, "wb");
        CHECK(out != NULL);
        CHECK(fwrite(buf, 1, src->n, out) == src->n);
        fclose(out);
        wasm_module *m = NULL;
        wasm_diag diag;
        bool ours = wasm_module_new(buf, src->n, &m, &diag) == 0;
        wasm_module_free(m);
        bool wabt = system(cmd) == 0;
        accepted += ours;
        if (ours != wabt) {
            /* wabt is lenient in places (e.g. it accepts a body whose last `end`
             * closes an inner block, leaving the function's own end missing); V8's
             * WebAssembly.validate breaks the tie. */
            bool v8 = system(node_cmd) == 0;
            if (v8 == ours) {
                tie_breaks++;
                printf("mutant %d of %s,%s: wasm-validate %s, V8 and we %s (%s)\n", k, src->name,
                       what, wabt ? "accepts" : "rejects", ours ? "accept" : "reject",
                       ours ? "" : diag.msg);
                continue;
            }
            disagreements++;
            printf("mutant %d of %s,%s: we %s (%s at %u), wasm-validate %s\n", k, src->name, what,
                   ours ? "accept" : "reject", ours ? "" : diag.msg, ours ? 0 : diag.offset,
                   wabt ? "accepts" : "rejects");
        }
    }
    printf("%d mutants: %u accepted by us, %u settled by V8 for us, %u disagreements\n", MUTANTS,
           accepted, tie_breaks, disagreements);
    test_rmrf(tmp);
    mem_free(MEM_MISC, buf);
    for (size_t i = 0; i < loaded; i++)
        mem_free(MEM_MISC, corpus[i].b);
    CHECK_EQ_INT(disagreements, 0);
    CHECK(accepted > 0); /* some mutants stay valid: both sides of the verdict are tested */
}
