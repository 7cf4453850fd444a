/* check_cli_test.c - `slung check DIR` (the real binary, $SLUNG_BIN): exit 0 and "ok"
 * on a clean directory; exit 1 naming the file and block of a damaged one; exit 3
 * on a directory that does not exist. */
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/serieskey.h"
#include "storage/storage.h"
#include "test.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int run(const char *bin, const char *dir, char *out, size_t cap) {
    char cmd[800];
    snprintf(cmd, sizeof cmd, "'%s' check '%s' 2>&1", bin, dir);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(slung_check_exits_0_on_a_clean_directory_and_1_naming_a_damaged_block) {
    const char *bin = getenv("SLUNG_BIN");
    if (!bin || access(bin, X_OK) != 0) {
        test_skip("the slung binary ($SLUNG_BIN) is not built");
        return;
    }
    char dir[256];
    test_tmpdir(dir);
    log_set_level(LOG_OFF);
    storage_opts o;
    storage_opts_default(&o);
    o.dir = dir;
    storage *st;
    sl_diag d;
    CHECK(storage_open(&o, &st, &d) == 0);
    buf k;
    buf_init(&k, MEM_MISC, 0);
    sk_view scratch[1];
    serieskey_build(&k, (sk_view){(const uint8_t *)"chk", 3}, NULL, 0, scratch);
    point_batch b;
    point_batch_init(&b);
    for (int i = 0; i < 3000; i++)
        point_batch_add(&b, i, i * 0.5, k.p, (uint32_t)k.len);
    CHECK(storage_write(st, &b) == 0);
    CHECK(storage_flush(st) == 0);
    storage_close(st);
    static char out[8192];
    CHECK_EQ_INT(run(bin, dir, out, sizeof out), 0);
    CHECK_MSG(strstr(out, "ok") != NULL, "%s", out);
    /* Flip a byte inside the second block's data. */
    char segdir[300], path[600] = "";
    snprintf(segdir, sizeof segdir, "%s/seg", dir);
    DIR *dh = opendir(segdir);
    CHECK(dh != NULL);
    struct dirent *e;
    while ((e = readdir(dh)))
        if (strstr(e->d_name, ".seg")) snprintf(path, sizeof path, "%s/%.255s", segdir, e->d_name);
    closedir(dh);
    CHECK(path[0] != 0);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    off_t size = lseek(fd, 0, SEEK_END);
    /* Blocks start at 32 and the first of 3 is small; the middle of the data area is
     * inside block 1 or 2. Find which by asking check itself afterwards. */
    off_t off = 32 + (size - 32 - 3 * 88 - 48) / 2;
    uint8_t c;
    CHECK(pread(fd, &c, 1, off) == 1);
    c ^= 0xFF;
    CHECK(pwrite(fd, &c, 1, off) == 1);
    close(fd);
    CHECK_EQ_INT(run(bin, dir, out, sizeof out), 1);
    CHECK_MSG(strstr(out, ".seg: block ") != NULL && strstr(out, "checksum mismatch"), "%s", out);
    CHECK_MSG(strstr(out, "1 problems") != NULL, "%s", out);
    char missing[300];
    snprintf(missing, sizeof missing, "%s/nope", dir);
    CHECK_EQ_INT(run(bin, missing, out, sizeof out), 3);
    point_batch_free(&b);
    buf_free(&k);
    test_rmrf(dir);
}
