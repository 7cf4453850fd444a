/* fuzz_storage_segment.c - opening a damaged segment file (untrusted disk bytes)
 * reports it or serves what verifies; decoding every block never crashes. */
#include "base/log.h"
#include "storage/storage_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[256];
    if (!path[0]) {
        log_set_level(LOG_OFF);
        snprintf(path, sizeof path, "/tmp/fuzz-seg-%d.seg", (int)getpid());
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    close(fd);
    seg *s;
    if (seg_open(path, NULL, &s) == 0) {
        static int64_t ts[STORAGE_BLOCK_POINTS_MAX];
        static double v[STORAGE_BLOCK_POINTS_MAX];
        for (uint32_t i = 0; i < s->n_blocks; i++) {
            if (s->bad[i]) continue;
            int rc = seg_block_decode(s, i, ts, v);
            if (rc != 0 && rc != SL_ECORRUPT) abort();
        }
        seg_unref(s);
    }
    unlink(path);
    return 0;
}
