/* buf.c - growable buffer and JSON text helpers. */
#include "base/buf.h"
#include "base/common.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(buf *b, mem_tag tag, size_t max_bytes) {
    memset(b, 0, sizeof(*b));
    b->tag = tag;
    b->max_bytes = max_bytes;
}

void buf_free(buf *b) {
    mem_free(b->tag, b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void buf_reset(buf *b) {
    b->len = 0;
    b->failed = false;
}

bool buf_reserve(buf *b, size_t extra) {
    if (b->failed) return false;
    if (extra > SIZE_MAX - b->len - 1) goto fail;
    size_t need = b->len + extra + 1; /* +1 keeps room for buf_cstr's NUL */
    if (b->max_bytes && need > b->max_bytes + 1) goto fail;
    if (need <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (b->max_bytes && cap > b->max_bytes + 1) cap = b->max_bytes + 1;
    uint8_t *np = mem_realloc(b->tag, b->p, cap);
    if (!np) goto fail;
    b->p = np;
    b->cap = cap;
    return true;
fail:
    b->failed = true;
    return false;
}

void buf_append(buf *b, const void *p, size_t n) {
    if (n == 0 || !buf_reserve(b, n)) return;
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void buf_putc(buf *b, char c) {
    if (!buf_reserve(b, 1)) return;
    b->p[b->len++] = (uint8_t)c;
}

void buf_puts(buf *b, const char *s) { buf_append(b, s, strlen(s)); }

void buf_printf(buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        buf_append(b, small, (size_t)n);
        return;
    }
    if (!buf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

const char *buf_cstr(buf *b) {
    if (b->failed || !buf_reserve(b, 0)) return "";
    b->p[b->len] = '\0';
    return (const char *)b->p;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid (RFC 3629). */
static size_t utf8_seq_len(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, cp = c & 0x07;
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff))) return 0;
    if (cp >= 0xd800 && cp <= 0xdfff) return 0;
    return len;
}

void buf_json_str(buf *b, const void *sv, size_t n) {
    const uint8_t *s = sv;
    buf_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c == '"' || c == '\\') {
            buf_putc(b, '\\');
            buf_putc(b, (char)c);
            i++;
        } else if (c < 0x20) {
            static const char hex[] = "0123456789abcdef";
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            if (c == '\n') buf_puts(b, "\\n");
            else if (c == '\r') buf_puts(b, "\\r");
            else if (c == '\t') buf_puts(b, "\\t");
            else buf_append(b, esc, 6);
            i++;
        } else {
            size_t l = utf8_seq_len(s + i, n - i);
            if (l == 0) {
                buf_append(b, "\xef\xbf\xbd", 3);
                i++;
            } else {
                buf_append(b, s + i, l);
                i += l;
            }
        }
    }
    buf_putc(b, '"');
}

void buf_json_f64(buf *b, double v) {
    if (!isfinite(v)) {
        buf_puts(b, "null");
        return;
    }
    /* Shortest of %.15g/%.16g/%.17g that reads back exactly: 23.5 stays "23.5". */
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) break;
    }
    buf_puts(b, tmp);
}

void buf_json_i64(buf *b, int64_t v) { buf_printf(b, "%" PRId64, v); }
void buf_json_u64(buf *b, uint64_t v) { buf_printf(b, "%" PRIu64, v); }
