/* fileio.c - the few file operations every storage file writer and reader shares:
 * complete writes (with the disk-full fault point tests use) and open-with-size that
 * reports why a file cannot be opened. Threads: any; no shared state. */
#include "base/fault.h"
#include "base/log.h"
#include "storage/storage_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int storage__write_all(int fd, const void *data, size_t n) {
    const uint8_t *p = data;
    while (n > 0) {
        if (fault_hit(FAULT_WRITE)) return -ENOSPC;
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int storage__open_sized(const char *path, int flags, buf *report, int *fd_out, size_t *size_out) {
    int fd = open(path, flags);
    if (fd < 0) {
        int rc = -errno;
        log_error("storage", "%s: cannot open: %s", path, strerror(-rc));
        if (report) buf_printf(report, "%s: cannot open: %s\n", path, strerror(-rc));
        return rc;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    *fd_out = fd;
    *size_out = (size_t)sb.st_size;
    return 0;
}
