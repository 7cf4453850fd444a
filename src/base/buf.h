/* buf.h - a growable byte buffer and the JSON writing helpers built on it.
 *
 * Used wherever the server builds text: JSON answers, events, metrics. Appends
 * never fail silently: on allocation failure (or past max_bytes) the buffer is
 * marked failed, later appends are ignored and buf_failed() says so, so a caller
 * checks once at the end. JSON numbers follow spec/query.md: NaN and +-inf are
 * written as null; other doubles round-trip exactly (%.17g, trimmed). */
#ifndef SL_BUF_H
#define SL_BUF_H

#include "base/mem.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct buf {
    uint8_t *p;       /* bytes; not NUL-terminated unless buf_cstr() was called */
    size_t len;       /* bytes used */
    size_t cap;       /* bytes allocated */
    size_t max_bytes; /* 0 = no limit other than memory */
    mem_tag tag;      /* owner for mem_* accounting */
    bool failed;      /* an append did not fit; contents are incomplete */
} buf;

void buf_init(buf *b, mem_tag tag, size_t max_bytes);
void buf_free(buf *b);
void buf_reset(buf *b); /* len = 0, failed = false; keeps the allocation */
static inline bool buf_failed(const buf *b) { return b->failed; }

bool buf_reserve(buf *b, size_t extra);
void buf_append(buf *b, const void *p, size_t n);
void buf_putc(buf *b, char c);
void buf_puts(buf *b, const char *s);
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *buf_cstr(buf *b); /* NUL-terminates (not counted in len); "" if failed */

/* JSON pieces. buf_json_str escapes per RFC 8259 and replaces invalid UTF-8 with U+FFFD. */
void buf_json_str(buf *b, const void *s, size_t n);
void buf_json_f64(buf *b, double v);
void buf_json_i64(buf *b, int64_t v);
void buf_json_u64(buf *b, uint64_t v);

#endif
