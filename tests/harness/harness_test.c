/* harness_test.c - the helpers of tests/test.h that other tests build on:
 * test_read_file (whole files, NUL-terminated, NULL for a missing file) and
 * test_tmpdir/test_rmrf. */
#include "test.h"

#include <stdlib.h>
#include <sys/stat.h>

/* Writes the file; false if it could not be written whole. */
static bool write_bytes(const char *path, const unsigned char *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

TEST(test_read_file_returns_every_byte_of_a_file_larger_than_one_read_and_a_nul_after) {
    char dir[256];
    test_tmpdir(dir);
    char path[300];
    snprintf(path, sizeof(path), "%s/data.bin", dir);
    size_t n = 200000; /* more than the helper's first 64 KiB read */
    unsigned char *want = malloc(n);
    CHECK(want != NULL);
    for (size_t i = 0; i < n; i++)
        want[i] = (unsigned char)(i * 7 + 3);
    CHECK(write_bytes(path, want, n));
    size_t len = 1;
    unsigned char *got = test_read_file(path, &len);
    bool same = got && len == n && memcmp(got, want, n) == 0 && got[n] == '\0';
    free(got);
    free(want);
    test_rmrf(dir);
    CHECK(same);
}

TEST(test_read_file_of_an_empty_file_is_an_empty_string_and_of_a_missing_file_null) {
    char dir[256];
    test_tmpdir(dir);
    char path[300];
    snprintf(path, sizeof(path), "%s/empty", dir);
    CHECK(write_bytes(path, (const unsigned char *)"", 0));
    size_t len = 9;
    unsigned char *got = test_read_file(path, &len);
    CHECK(got != NULL);
    CHECK_EQ_INT(len, 0);
    CHECK_EQ_INT(got[0], 0);
    free(got);
    snprintf(path, sizeof(path), "%s/missing", dir);
    len = 9;
    CHECK(test_read_file(path, &len) == NULL);
    CHECK_EQ_INT(len, 0);
    test_rmrf(dir);
    struct stat st;
    CHECK(stat(dir, &st) != 0); /* test_rmrf removed the whole tree */
}
