/* print.c - slung_printf and slung_eprintf: format with slung_vsnprintf (fmt.c) into a
 * static buffer of SLUNG_PRINTF_BYTES_MAX bytes and write it with WASI fd_write, which
 * the host sends to the workflow's log (shared/spec/workflows.md, WASI subset).
 * Threads: one static buffer (a workflow is single-threaded). */
#include "slung.h"

#include <wasi/api.h>

static int write_fd(int fd, const char *fmt, va_list ap) {
    static char line[SLUNG_PRINTF_BYTES_MAX];
    int k = slung_vsnprintf(line, sizeof(line), fmt, ap);
    size_t len = (size_t)k < sizeof(line) ? (size_t)k : sizeof(line) - 1;
    size_t done = 0;
    while (done < len) {
        __wasi_ciovec_t iov = {(const uint8_t *)line + done, len - done};
        __wasi_size_t wrote = 0;
        if (__wasi_fd_write((__wasi_fd_t)fd, &iov, 1, &wrote) != 0 || wrote == 0)
            return SLUNG_EREFUSED;
        done += wrote;
    }
    return (int)len;
}

int slung_printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = write_fd(1, fmt, ap);
    va_end(ap);
    return r;
}

int slung_eprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = write_fd(2, fmt, ap);
    va_end(ap);
    return r;
}
