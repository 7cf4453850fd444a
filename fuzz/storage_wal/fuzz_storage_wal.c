/* fuzz_storage_wal.c - replaying a damaged WAL file (untrusted disk bytes) never
 * crashes, and every frame handed to recovery is whole and within its bounds. */
#include "base/log.h"
#include "storage/storage_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static int on_frame(uint64_t seq, uint32_t count, const uint8_t *ids, const uint8_t *ts,
                    const uint8_t *vals, void *arg) {
    uint64_t *sum = arg;
    if (count == 0 || count > BATCH_POINTS_MAX) abort();
    for (uint32_t i = 0; i < count; i++)
        *sum += sl_load_u32le(ids + 4 * (size_t)i) + sl_load_u64le(ts + 8 * (size_t)i) +
                sl_load_u64le(vals + 8 * (size_t)i) + seq;
    return 0;
}

static char dir[256], path[320], last[320];

/* libFuzzer ends with exit(): leave no scratch files behind. */
static void cleanup(void) {
    char p[320];
    if (last[0]) unlink(last);
    snprintf(p, sizeof p, "%s/wal", dir);
    rmdir(p);
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        atexit(cleanup);
        log_set_level(LOG_OFF);
        snprintf(dir, sizeof dir, "/tmp/fuzz-wal-%d", (int)getpid());
        mkdir(dir, 0755);
        snprintf(path, sizeof path, "%s/wal", dir);
        mkdir(path, 0755);
    }
    /* Name the file after the first seq its header claims, as the writer does, so
     * inputs get past the name check to the frames. */
    uint64_t first = size >= 16 ? sl_load_u64le(data + 8) : 1;
    if (last[0]) unlink(last);
    snprintf(path, sizeof path, "%s/wal/%016llx.wal", dir, (unsigned long long)first);
    snprintf(last, sizeof last, "%s", path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    close(fd);
    wal *w;
    sl_diag d;
    uint64_t sum = 0;
    if (wal_open(dir, true, 0, on_frame, &sum, NULL, &w, &d) == 0) wal_close(w);
    return 0;
}
