/* wastjson.c - the JSON reader of wastjson.h, for wast2json output (tests only).
 *
 * Shared: compiled into validate_suite_test (wasm-decode) and spec_test (wasm-exec).
 * A recursive-descent parser over a bounds-checked cursor; recursion depth is
 * bounded by WASTJSON_DEPTH_MAX. Invariants: (1) the cursor never passes end;
 * (2) on failure everything allocated so far is freed and err says where.
 * Threads: none shared; one document per caller. */
#include "wastjson.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

typedef struct jp {
    const char *start; /* first byte, for offsets */
    const char *p;     /* next unread byte */
    const char *end;   /* one past the last byte */
    char *err;         /* caller's error buffer */
    size_t err_len;    /* its size */
    bool failed;       /* err holds the first failure */
} jp;

static bool jp_fail(jp *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool jp_fail(jp *j, const char *fmt, ...) {
    if (j->failed) return false;
    j->failed = true;
    if (j->err && j->err_len > 0) {
        char why[160];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        snprintf(j->err, j->err_len, "offset %zu: %s", (size_t)(j->p - j->start), why);
    }
    return false;
}

static void jp_skip_ws(jp *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static void val_release(wastjson_val *v) {
    for (size_t i = 0; i < v->count; i++)
        val_release(&v->items[i]);
    mem_free(MEM_MISC, v->items);
    mem_free(MEM_MISC, v->str);
    mem_free(MEM_MISC, v->key);
    memset(v, 0, sizeof(*v));
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool jp_hex4(jp *j, uint32_t *out) {
    if (j->end - j->p < 4) return jp_fail(j, "truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(j->p[i]);
        if (d < 0) return jp_fail(j, "bad hex digit in \\u escape");
        v = v << 4 | (uint32_t)d;
    }
    j->p += 4;
    *out = v;
    return true;
}

/* Appends code point cp as UTF-8 to buf (which has room: at most 4 bytes). */
static size_t utf8_put(char *buf, uint32_t cp) {
    if (cp < 0x80) {
        buf[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        buf[0] = (char)(0xC0 | cp >> 6);
        buf[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        buf[0] = (char)(0xE0 | cp >> 12);
        buf[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        buf[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    buf[0] = (char)(0xF0 | cp >> 18);
    buf[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    buf[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    buf[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Parses a string at j->p (the opening quote) into a fresh NUL-terminated buffer.
 * The decoded form is never longer than the source, so one allocation suffices. */
static bool jp_string(jp *j, char **out, size_t *len_out) {
    if (j->p >= j->end || *j->p != '"') return jp_fail(j, "expected a string");
    j->p++;
    const char *q = j->p;
    while (q < j->end && *q != '"')
        q += (*q == '\\' && q + 1 < j->end) ? 2 : 1;
    if (q >= j->end) return jp_fail(j, "unterminated string");
    char *buf = mem_alloc(MEM_MISC, (size_t)(q - j->p) + 1);
    if (!buf) return jp_fail(j, "out of memory");
    size_t n = 0;
    while (*j->p != '"') {
        unsigned char c = (unsigned char)*j->p;
        if (c < 0x20) {
            mem_free(MEM_MISC, buf);
            return jp_fail(j, "control character in string");
        }
        if (c != '\\') {
            buf[n++] = (char)c;
            j->p++;
            continue;
        }
        j->p++; /* the backslash; the scan above guarantees a next byte */
        char e = *j->p++;
        switch (e) {
        case '"':
            buf[n++] = '"';
            break;
        case '\\':
            buf[n++] = '\\';
            break;
        case '/':
            buf[n++] = '/';
            break;
        case 'b':
            buf[n++] = '\b';
            break;
        case 'f':
            buf[n++] = '\f';
            break;
        case 'n':
            buf[n++] = '\n';
            break;
        case 'r':
            buf[n++] = '\r';
            break;
        case 't':
            buf[n++] = '\t';
            break;
        case 'u': {
            uint32_t cp;
            if (!jp_hex4(j, &cp)) goto fail;
            if (cp >= 0xD800 && cp < 0xDC00) {
                /* A high surrogate must be followed by \u and a low surrogate. */
                uint32_t lo;
                if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u') {
                    jp_fail(j, "lone high surrogate");
                    goto fail;
                }
                j->p += 2;
                if (!jp_hex4(j, &lo)) goto fail;
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    jp_fail(j, "bad low surrogate");
                    goto fail;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                jp_fail(j, "lone low surrogate");
                goto fail;
            }
            /* \uXXXX is 6 source bytes and yields at most 3 (4 for a 12-byte pair). */
            n += utf8_put(buf + n, cp);
            break;
        }
        default:
            j->p--;
            jp_fail(j, "bad escape \\%c", e);
            goto fail;
        }
    }
    j->p++; /* closing quote */
    buf[n] = '\0';
    *out = buf;
    *len_out = n;
    return true;
fail:
    mem_free(MEM_MISC, buf);
    return false;
}

static bool jp_number(jp *j, wastjson_val *v) {
    const char *s = j->p;
    if (j->p < j->end && *j->p == '-') j->p++;
    if (j->p >= j->end || !(*j->p >= '0' && *j->p <= '9')) return jp_fail(j, "bad number");
    if (*j->p == '0') {
        j->p++;
    } else {
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (j->p >= j->end || !(*j->p >= '0' && *j->p <= '9')) return jp_fail(j, "bad fraction");
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
        if (j->p >= j->end || !(*j->p >= '0' && *j->p <= '9')) return jp_fail(j, "bad exponent");
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    v->kind = WASTJSON_NUMBER;
    v->str = mem_strndup(MEM_MISC, s, (size_t)(j->p - s));
    if (!v->str) return jp_fail(j, "out of memory");
    v->len = (size_t)(j->p - s);
    v->num = strtod(v->str, NULL); /* the grammar above is a subset of strtod's */
    return true;
}

static bool jp_literal(jp *j, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
        return jp_fail(j, "unexpected character");
    j->p += n;
    return true;
}

static bool jp_value(jp *j, wastjson_val *v, int depth);

/* Grows *items to hold one more entry; the new entry is zeroed. */
static wastjson_val *items_push(jp *j, wastjson_val *c, size_t *cap) {
    if (c->count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        wastjson_val *n = mem_realloc(MEM_MISC, c->items, ncap * sizeof(*n));
        if (!n) {
            jp_fail(j, "out of memory");
            return NULL;
        }
        c->items = n;
        *cap = ncap;
    }
    wastjson_val *e = &c->items[c->count++];
    memset(e, 0, sizeof(*e));
    return e;
}

static bool jp_container(jp *j, wastjson_val *v, int depth, bool is_object) {
    char close = is_object ? '}' : ']';
    size_t cap = 0;
    v->kind = is_object ? WASTJSON_OBJECT : WASTJSON_ARRAY;
    if (depth >= WASTJSON_DEPTH_MAX) return jp_fail(j, "nested deeper than %d", WASTJSON_DEPTH_MAX);
    j->p++; /* the opening bracket */
    jp_skip_ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        return true;
    }
    for (;;) {
        wastjson_val *e = items_push(j, v, &cap);
        if (!e) return false;
        if (is_object) {
            jp_skip_ws(j);
            if (!jp_string(j, &e->key, &e->key_len)) return false;
            jp_skip_ws(j);
            if (j->p >= j->end || *j->p != ':') return jp_fail(j, "expected ':'");
            j->p++;
        }
        if (!jp_value(j, e, depth + 1)) return false;
        jp_skip_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == close) {
            j->p++;
            return true;
        }
        return jp_fail(j, "expected ',' or '%c'", close);
    }
}

static bool jp_value(jp *j, wastjson_val *v, int depth) {
    jp_skip_ws(j);
    if (j->p >= j->end) return jp_fail(j, "unexpected end of input");
    switch (*j->p) {
    case '{':
        return jp_container(j, v, depth, true);
    case '[':
        return jp_container(j, v, depth, false);
    case '"':
        v->kind = WASTJSON_STRING;
        return jp_string(j, &v->str, &v->len);
    case 't':
        v->kind = WASTJSON_BOOL;
        v->b = true;
        return jp_literal(j, "true");
    case 'f':
        v->kind = WASTJSON_BOOL;
        return jp_literal(j, "false");
    case 'n':
        v->kind = WASTJSON_NULL;
        return jp_literal(j, "null");
    default:
        return jp_number(j, v);
    }
}

wastjson_val *wastjson_parse(const char *text, size_t n, char *err, size_t err_len) {
    jp j = {.start = text, .p = text, .end = text + n, .err = err, .err_len = err_len};
    wastjson_val *root = mem_alloc(MEM_MISC, sizeof(*root));
    if (!root) {
        if (err && err_len) snprintf(err, err_len, "out of memory");
        return NULL;
    }
    memset(root, 0, sizeof(*root));
    if (!jp_value(&j, root, 0)) goto fail;
    jp_skip_ws(&j);
    if (j.p != j.end) {
        jp_fail(&j, "trailing bytes after the document");
        goto fail;
    }
    return root;
fail:
    wastjson_free(root);
    return NULL;
}

/* Largest JSON file read: wast2json's biggest output is a few MB. */
#define WASTJSON_FILE_BYTES_MAX (256u << 20)

wastjson_val *wastjson_load(const char *path, char *err, size_t err_len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0;
    size_t cap = 0;
    wastjson_val *v = NULL;
    for (;;) {
        if (n == cap) {
            if (cap >= WASTJSON_FILE_BYTES_MAX) {
                snprintf(err, err_len, "%s: larger than %u bytes", path, WASTJSON_FILE_BYTES_MAX);
                goto done;
            }
            size_t ncap = cap ? cap * 2 : 65536;
            char *nb = mem_realloc(MEM_MISC, buf, ncap);
            if (!nb) {
                snprintf(err, err_len, "%s: out of memory", path);
                goto done;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        snprintf(err, err_len, "%s: read error", path);
        goto done;
    }
    v = wastjson_parse(buf, n, err, err_len);
done:
    mem_free(MEM_MISC, buf);
    fclose(f);
    return v;
}

void wastjson_free(wastjson_val *v) {
    if (!v) return;
    val_release(v);
    mem_free(MEM_MISC, v);
}

const wastjson_val *wastjson_get(const wastjson_val *v, const char *key) {
    if (!v || v->kind != WASTJSON_OBJECT) return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < v->count; i++) {
        const wastjson_val *e = &v->items[i];
        if (e->key_len == n && memcmp(e->key, key, n) == 0) return e;
    }
    return NULL;
}

const char *wastjson_get_str(const wastjson_val *v, const char *key) {
    const wastjson_val *e = wastjson_get(v, key);
    return e && e->kind == WASTJSON_STRING ? e->str : NULL;
}

const wastjson_val *wastjson_at(const wastjson_val *v, size_t i) {
    if (!v || v->kind != WASTJSON_ARRAY || i >= v->count) return NULL;
    return &v->items[i];
}

size_t wastjson_len(const wastjson_val *v) {
    return v && v->kind == WASTJSON_ARRAY ? v->count : 0;
}
