/* err.c - status code text and sl_diag helpers. */
#include "base/err.h"
#include "base/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *sl_strerror(int rc) {
    switch (rc) {
    case 0: return "ok";
    case SL_ECORRUPT: return "stored data is corrupt";
    case SL_ELIMIT: return "limit exceeded";
    case SL_EPROTO: return "protocol error";
    case SL_ETRAP: return "guest trapped";
    case SL_EPARSE: return "parse error";
    case SL_ENOTFOUND: return "not found";
    case SL_ECLOSED: return "closed";
    case SL_EINVAL: return "invalid argument";
    default: break;
    }
    if (rc < 0 && rc > -1000) return strerror(-rc);
    return "unknown error";
}

int sl_diag_set(sl_diag *d, int rc, uint32_t offset, const char *fmt, ...) {
    if (!d) return rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
    va_end(ap);
    d->rc = rc;
    d->offset = offset;
    return rc;
}

void sl_diag_clear(sl_diag *d) {
    if (!d) return;
    d->rc = 0;
    d->offset = 0;
    d->msg[0] = '\0';
}

void sl_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "slung: assertion failed: %s (%s:%d)\n", expr, file, line);
    fflush(stderr);
    abort();
}
