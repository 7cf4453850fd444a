/* err.h - status codes and human diagnostics.
 *
 * Functions return int: 0 on success, negative on failure. -1..-999 are -errno
 * (-ENOMEM, -EIO, -EAGAIN); Slung's own codes sit below that (STYLE rule 6).
 * Every parser of user input also fills an sl_diag: what was wrong and where. */
#ifndef SL_ERR_H
#define SL_ERR_H

#include <stdint.h>

enum {
    SL_ECORRUPT = -1001, /* stored bytes fail a checksum or a bound */
    SL_ELIMIT = -1002,   /* a configured limit would be exceeded */
    SL_EPROTO = -1003,   /* the peer broke the wire protocol */
    SL_ETRAP = -1004,    /* guest code trapped */
    SL_EPARSE = -1005,   /* user text (query, JSON, line protocol) does not parse */
    SL_ENOTFOUND = -1006,/* a named thing (series, handle, workflow) does not exist */
    SL_ECLOSED = -1007,  /* the object was closed or is shutting down */
    SL_EINVAL = -1008,   /* an argument is out of its documented range */
};

/* Static text for any status code (ours or -errno); never NULL. */
const char *sl_strerror(int rc);

/* Where and what. offset is a byte offset or a column, as the filler documents. */
typedef struct sl_diag {
    int rc;          /* the status returned alongside */
    uint32_t offset; /* byte offset (frames, modules) or 1-based column (queries) */
    char msg[160];   /* one sentence, no trailing newline */
} sl_diag;

/* Fills d (NULL is allowed and ignored) and returns rc, so parsers can write
 * `return sl_diag_set(d, SL_EPROTO, off, "tag %u runs past end", i);` */
int sl_diag_set(sl_diag *d, int rc, uint32_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void sl_diag_clear(sl_diag *d);

#endif
