/* test_main.c - runs every registered TEST (or those whose name contains argv[1])
 * and closes with "N passed, N failed, N skipped". */
#include "test.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TESTS_MAX 1024

static struct {
    const char *name;
    test_fn fn;
} tests[TESTS_MAX];
static int test_count;
static bool cur_failed;
static bool cur_skipped;
static const char *cur_name;

void test_register(const char *name, test_fn fn) {
    if (test_count == TESTS_MAX) {
        fprintf(stderr, "too many tests\n");
        exit(2);
    }
    tests[test_count].name = name;
    tests[test_count].fn = fn;
    test_count++;
}

void test_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stdout, "  FAIL %s:%d: ", file, line);
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    cur_failed = true;
}

void test_skip(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stdout, "  SKIP %s: ", cur_name);
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    cur_skipped = true;
}

bool test_failed(void) { return cur_failed; }

const char *test_source_dir(void) {
    const char *s = getenv("SLUNG_SOURCE_DIR");
    return s && *s ? s : SLUNG_SOURCE_DIR;
}

const char *test_shared_dir(void) {
    static char path[4096];
    const char *env = getenv("SLUNG_SHARED_DIR");
    if (env && *env) snprintf(path, sizeof(path), "%s", env);
    else snprintf(path, sizeof(path), "%s/../shared", test_source_dir());
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
    return path;
}

void test_tmpdir(char out[256]) {
    const char *t = getenv("TMPDIR");
    snprintf(out, 256, "%s/slung-test-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(out)) {
        perror("mkdtemp");
        exit(2);
    }
}

void test_rmrf(const char *path) {
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[4096];
            snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            test_rmrf(sub);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

unsigned char *test_read_file(const char *path, size_t *len) {
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *p = NULL;
    size_t n = 0;
    size_t cap = 0;
    for (;;) {
        if (cap - n < 65536) {
            size_t ncap = cap ? cap * 2 : 65536;
            unsigned char *np = realloc(p, ncap + 1);
            if (!np) goto fail;
            p = np;
            cap = ncap;
        }
        size_t r = fread(p + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    if (ferror(f)) goto fail;
    fclose(f);
    p[n] = '\0';
    *len = n;
    return p;
fail:
    free(p);
    fclose(f);
    return NULL;
}

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : NULL;
    int passed = 0, failed = 0, skipped = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < test_count; i++) {
        if (filter && !strstr(tests[i].name, filter)) continue;
        cur_name = tests[i].name;
        cur_failed = cur_skipped = false;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        tests[i].fn();
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        if (cur_failed) {
            failed++;
            printf("not ok %s (%.1f ms)\n", cur_name, ms);
        } else if (cur_skipped) {
            skipped++;
            printf("skip %s\n", cur_name);
        } else {
            passed++;
            printf("ok %s (%.1f ms)\n", cur_name, ms);
        }
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    if (failed) return 1;
    if (passed == 0 && skipped > 0) return 77;
    return 0;
}
