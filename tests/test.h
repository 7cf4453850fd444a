/* test.h - the test harness: TEST(name) functions, CHECK macros, skips.
 *
 * Each tests/<module>/<thing>_test.c is one executable and one ctest test. Name
 * a TEST after the behaviour a user depends on (STYLE rule 20). A failed CHECK
 * records the failure and returns from the current function. test_skip() marks
 * the test skipped with a one-line reason (e.g. ../shared is absent in a user's
 * clone); an executable whose tests all skipped exits 77, which ctest reports as
 * skipped. Run one test: ./test_x name_substring. */
#ifndef SL_TEST_H
#define SL_TEST_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
void test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool test_failed(void); /* the current test has failed so far */

#define TEST(name)                                                                      \
    static void name(void);                                                             \
    __attribute__((constructor)) static void name##_register(void) { test_register(#name, name); } \
    static void name(void)

#define CHECK(c)                                                       \
    do {                                                               \
        if (!(c)) {                                                    \
            test_fail(__FILE__, __LINE__, "CHECK(%s)", #c);            \
            return;                                                    \
        }                                                              \
    } while (0)

#define CHECK_MSG(c, ...)                                              \
    do {                                                               \
        if (!(c)) {                                                    \
            test_fail(__FILE__, __LINE__, __VA_ARGS__);                \
            return;                                                    \
        }                                                              \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                    \
    do {                                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                                   \
        if (a_ != b_) {                                                                       \
            test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_);          \
            return;                                                                           \
        }                                                                                     \
    } while (0)

#define CHECK_EQ_U64(a, b)                                                                    \
    do {                                                                                      \
        uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                                      \
        if (a_ != b_) {                                                                       \
            test_fail(__FILE__, __LINE__, "%s == %s: %" PRIu64 " != %" PRIu64, #a, #b, a_, b_); \
            return;                                                                           \
        }                                                                                     \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                    \
    do {                                                                                      \
        const char *a_ = (a), *b_ = (b);                                                      \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                              \
            test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,               \
                      a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                \
            return;                                                                           \
        }                                                                                     \
    } while (0)

/* Directory of the shared test data (SLUNG_SHARED_DIR, else <source>/../shared),
 * or NULL when absent: callers then test_skip() with a one-line reason. */
const char *test_shared_dir(void);
/* The project's source root (for fixtures in tests/). */
const char *test_source_dir(void);
/* Makes a fresh empty directory under $TMPDIR; path written to out (256 bytes). */
void test_tmpdir(char out[256]);
/* rm -rf path; ignores errors. */
void test_rmrf(const char *path);
/* The whole file at path (wasm modules, fixtures), or NULL if it cannot be opened
 * or read. *len is its size. The caller frees the bytes with free() (not mem_free:
 * test data, not a module's memory). One spare NUL byte follows the data, so a
 * text file can be used as a C string. */
unsigned char *test_read_file(const char *path, size_t *len);

#endif
