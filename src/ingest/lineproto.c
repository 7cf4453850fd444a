/* lineproto.c - InfluxDB line protocol v1 for POST /write.
 *
 * GRAMMAR (one line per '\n'; a '\r' before it is dropped):
 *   line        = ws* ( comment | blank | point ) ws*
 *   comment     = '#' any*                       (ignored)
 *   point       = measurement ( ',' tag )* ' '+ field ( ',' field )* ( ' '+ timestamp )?
 *   measurement = non-empty; '\,' and '\ ' stand for ',' and ' '
 *   tag         = tag_key '=' tag_value          (both non-empty; '\,' '\=' '\ ' escapes)
 *   field       = field_key '=' field_value      (key non-empty; '\,' '\=' '\ ' escapes)
 *   field_value = float | integer 'i' | unsigned 'u' | boolean | '"' string '"'
 *   float       = [+-]? ( digits ( '.' digits? )? | '.' digits ) ( [eE] [+-]? digits )?
 *   boolean     = t T true True TRUE f F false False FALSE   -> 1.0 / 0.0
 *   string      = '\"' and '\\' escapes; may not hold a newline
 *   timestamp   = '-'? digits, in the request's precision (ns, us, ms, s)
 * A backslash before any other byte is a literal backslash (as InfluxDB does).
 *
 * CHOICES (docs/PROTOCOLS.md, tests/ingest/lineproto_test.c):
 *   - field `value` -> series `measurement`; field `f` -> series `measurement.f`;
 *     tags -> `key=value` tags of the canonical key (base/serieskey.h).
 *   - integers and unsigned integers become doubles (exact up to 2^53).
 *   - string fields are parsed (so the line must be well-formed) and skipped: a
 *     numeric store has no place for them, and rejecting them would make Telegraf
 *     inputs that mix strings and numbers unusable. A line of only strings emits
 *     nothing and is not an error.
 *   - a missing timestamp is the request's server time (one value per request).
 *   - floats that overflow (1e999) are an error; NaN and Inf literals are not floats.
 *   - a number token is at most LP_NUMBER_CHARS_MAX characters.
 *   - the whole body is checked before any point is emitted: all or nothing.
 * Errors: "line 3: expected '=' after field key at column 17"; lines and columns
 * count from 1, columns in bytes. Threads: one parser per thread. */
#include "ingest/lineproto.h"
#include "base/common.h"
#include "base/mem.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest number token (float, integer, timestamp) accepted; longer is an error
 * rather than a guess. 64 covers every double written with 17 significant digits
 * and an exponent, and every i64/u64. */
#define LP_NUMBER_CHARS_MAX 64u

typedef struct lp_field {
    sk_view key;  /* unescaped, in lp->text */
    double value; /* numeric value */
    bool skip;    /* a string field: parsed, not stored */
} lp_field;

/* One line being parsed. */
typedef struct lp_line {
    const uint8_t *p;    /* first byte of the line */
    uint32_t len;        /* bytes, without '\n' and a trailing '\r' */
    uint32_t pos;        /* next byte to read */
    uint32_t lineno;     /* 1-based */
    sk_view measurement; /* unescaped, in lp->text */
    uint32_t tag_count;  /* tags in lp->tags */
    uint32_t field_count;
    bool has_ts;
    int64_t ts; /* as written (precision not applied) */
} lp_line;

/* The fields of the current line, owned by the parser (the header names only the
 * struct, so lp_field stays private). */
typedef struct lp_fields {
    lp_field f[LINEPROTO_FIELDS_MAX];
} lp_fields;

int lineproto_precision_parse(const char *s, size_t n, lineproto_precision *out) {
    static const struct {
        const char *name;
        lineproto_precision p;
    } names[] = {{"ns", LINEPROTO_NS}, {"n", LINEPROTO_NS},  {"us", LINEPROTO_US},
                 {"u", LINEPROTO_US},  {"ms", LINEPROTO_MS}, {"s", LINEPROTO_S}};
    for (size_t i = 0; i < SL_ARRAY_LEN(names); i++) {
        if (strlen(names[i].name) == n && memcmp(names[i].name, s, n) == 0) {
            *out = names[i].p;
            return 0;
        }
    }
    return SL_EINVAL;
}

void lineproto_limits_default(lineproto_limits *l) {
    l->line_bytes_max = LINEPROTO_LINE_BYTES_MAX_DEFAULT;
    l->lines_max = LINEPROTO_LINES_MAX_DEFAULT;
    l->tags_max = LINEPROTO_TAGS_MAX_DEFAULT;
}

int lineproto_parser_init(lineproto_parser *lp, const lineproto_limits *limits) {
    memset(lp, 0, sizeof(*lp));
    if (limits->line_bytes_max == 0 || limits->line_bytes_max > LINEPROTO_LINE_BYTES_MAX_CEILING)
        return SL_EINVAL;
    if (limits->lines_max == 0 || limits->lines_max > LINEPROTO_LINES_MAX_CEILING) return SL_EINVAL;
    if (limits->tags_max > LINEPROTO_TAGS_MAX_CEILING) return SL_EINVAL;
    lp->limits = *limits;
    buf_init(&lp->text, MEM_INGEST, 0);
    buf_init(&lp->name, MEM_INGEST, 0);
    buf_init(&lp->key, MEM_INGEST, 0);
    size_t tags_n = (size_t)limits->tags_max + 1;
    lp->tags = mem_calloc(MEM_INGEST, tags_n, sizeof(*lp->tags));
    lp->scratch = mem_calloc(MEM_INGEST, tags_n, sizeof(*lp->scratch));
    lp->fields = mem_alloc(MEM_INGEST, sizeof(lp_fields));
    if (!lp->tags || !lp->scratch || !lp->fields) {
        lineproto_parser_free(lp);
        return -ENOMEM;
    }
    return 0;
}

void lineproto_parser_free(lineproto_parser *lp) {
    mem_free(MEM_INGEST, lp->tags);
    mem_free(MEM_INGEST, lp->scratch);
    mem_free(MEM_INGEST, lp->fields);
    buf_free(&lp->text);
    buf_free(&lp->name);
    buf_free(&lp->key);
    memset(lp, 0, sizeof(*lp));
}

/* ---- one line ---- */

/* Fills d with "line N: <what> at column C" (C is 1-based; offset = byte in body). */
static int lp_fail(sl_diag *d, int rc, const lp_line *l, uint32_t line_off, uint32_t pos,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int lp_fail(sl_diag *d, int rc, const lp_line *l, uint32_t line_off, uint32_t pos,
                   const char *fmt, ...) {
    char what[120];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return sl_diag_set(d, rc, line_off + pos, "line %u: %s at column %u", l->lineno, what, pos + 1);
}

static inline bool lp_at_end(const lp_line *l) {
    return l->pos >= l->len;
}
static inline uint8_t lp_peek(const lp_line *l) {
    return l->p[l->pos];
}

/* Escape classes: which bytes end a token and which a backslash may escape. */
enum {
    LP_STOP_COMMA = 1, /* ',' ends the token */
    LP_STOP_SPACE = 2, /* ' ' ends the token */
    LP_STOP_EQ = 4,    /* '=' ends the token */
    LP_ESC_EQ = 8,     /* '\=' is an escape (tag keys/values, field keys) */
};

static bool lp_is_stop(uint8_t c, unsigned cls) {
    return (c == ',' && (cls & LP_STOP_COMMA)) || (c == ' ' && (cls & LP_STOP_SPACE)) ||
           (c == '=' && (cls & LP_STOP_EQ));
}

/* Reads an escaped token up to a stop byte (not consumed) or the end of line,
 * appending its unescaped bytes to lp->text (reserved by the caller, so views stay
 * valid). */
static sk_view lp_read_token(lineproto_parser *lp, lp_line *l, unsigned cls) {
    sk_view v;
    v.p = lp->text.p + lp->text.len;
    size_t start = lp->text.len;
    while (!lp_at_end(l)) {
        /* Unescaped bytes never outnumber the line's, for which text was reserved. */
        SL_DEBUG_ASSERT(lp->text.len < lp->text.cap);
        uint8_t c = lp_peek(l);
        if (c == '\\' && l->pos + 1 < l->len) {
            uint8_t e = l->p[l->pos + 1];
            if (e == ',' || e == ' ' || (e == '=' && (cls & LP_ESC_EQ))) {
                lp->text.p[lp->text.len++] = e;
                l->pos += 2;
                continue;
            }
        } else if (lp_is_stop(c, cls)) {
            break;
        }
        lp->text.p[lp->text.len++] = c;
        l->pos++;
    }
    v.n = (uint32_t)(lp->text.len - start);
    return v;
}

/* A view of the raw token up to ',' or ' ' or the end (numbers, booleans). */
static sk_view lp_read_raw(lp_line *l) {
    sk_view v = {l->p + l->pos, 0};
    while (!lp_at_end(l) && lp_peek(l) != ',' && lp_peek(l) != ' ')
        l->pos++;
    v.n = (uint32_t)(l->p + l->pos - v.p);
    return v;
}

static bool lp_token_is(sk_view v, const char *s) {
    return v.n == strlen(s) && memcmp(v.p, s, v.n) == 0;
}

static bool lp_is_digit(uint8_t c) {
    return c >= '0' && c <= '9';
}

/* Parses a decimal u64 from all of digits[0..n); false on overflow or non-digit. */
static bool lp_parse_u64(const uint8_t *s, uint32_t n, uint64_t *out) {
    if (n == 0) return false;
    uint64_t v = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!lp_is_digit(s[i])) return false;
        uint64_t digit = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - digit) / 10) return false;
        v = v * 10 + digit;
    }
    *out = v;
    return true;
}

/* Parses '-'? digits into an i64; false on overflow or a bad byte. */
static bool lp_parse_i64(const uint8_t *s, uint32_t n, int64_t *out) {
    bool neg = n > 0 && s[0] == '-';
    uint64_t mag;
    if (!lp_parse_u64(s + neg, n - neg, &mag)) return false;
    if (neg) {
        if (mag > (uint64_t)INT64_MAX + 1) return false;
        *out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    } else {
        if (mag > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)mag;
    }
    return true;
}

/* True if s[0..n) is a float literal of the grammar above. */
static bool lp_is_float(const uint8_t *s, uint32_t n) {
    uint32_t i = 0;
    uint32_t digits = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    while (i < n && lp_is_digit(s[i]))
        i++, digits++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && lp_is_digit(s[i]))
            i++, digits++;
    }
    if (digits == 0) return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        uint32_t exp_digits = 0;
        while (i < n && lp_is_digit(s[i]))
            i++, exp_digits++;
        if (exp_digits == 0) return false;
    }
    return i == n;
}

/* Parses a field value at l->pos into *f; 0 or an lp_fail code. */
static int lp_field_value(lp_line *l, uint32_t line_off, lp_field *f, sl_diag *d) {
    const uint32_t at = l->pos;
    if (lp_at_end(l) || lp_peek(l) == ',' || lp_peek(l) == ' ')
        return lp_fail(d, SL_EPARSE, l, line_off, at, "missing field value");
    if (lp_peek(l) == '"') {
        l->pos++;
        while (!lp_at_end(l) && lp_peek(l) != '"') {
            if (lp_peek(l) == '\\' && l->pos + 1 < l->len &&
                (l->p[l->pos + 1] == '"' || l->p[l->pos + 1] == '\\'))
                l->pos++;
            l->pos++;
        }
        if (lp_at_end(l)) return lp_fail(d, SL_EPARSE, l, line_off, at, "unterminated string");
        l->pos++;
        f->skip = true;
        f->value = 0;
        return 0;
    }
    sk_view t = lp_read_raw(l);
    f->skip = false;
    if (lp_token_is(t, "t") || lp_token_is(t, "T") || lp_token_is(t, "true") ||
        lp_token_is(t, "True") || lp_token_is(t, "TRUE")) {
        f->value = 1.0;
        return 0;
    }
    if (lp_token_is(t, "f") || lp_token_is(t, "F") || lp_token_is(t, "false") ||
        lp_token_is(t, "False") || lp_token_is(t, "FALSE")) {
        f->value = 0.0;
        return 0;
    }
    if (t.n > LP_NUMBER_CHARS_MAX)
        return lp_fail(d, SL_EPARSE, l, line_off, at, "number longer than %u characters",
                       LP_NUMBER_CHARS_MAX);
    uint8_t last = t.p[t.n - 1];
    if (last == 'i') {
        int64_t v;
        if (!lp_parse_i64(t.p, t.n - 1, &v))
            return lp_fail(d, SL_EPARSE, l, line_off, at, "invalid integer field value");
        f->value = (double)v;
        return 0;
    }
    if (last == 'u') {
        uint64_t v;
        if (!lp_parse_u64(t.p, t.n - 1, &v))
            return lp_fail(d, SL_EPARSE, l, line_off, at, "invalid unsigned field value");
        f->value = (double)v;
        return 0;
    }
    if (!lp_is_float(t.p, t.n))
        return lp_fail(d, SL_EPARSE, l, line_off, at, "invalid field value");
    char tmp[LP_NUMBER_CHARS_MAX + 1];
    memcpy(tmp, t.p, t.n);
    tmp[t.n] = '\0';
    errno = 0;
    double v = strtod(tmp, NULL);
    if (errno == ERANGE && isinf(v))
        return lp_fail(d, SL_EPARSE, l, line_off, at, "float field value out of range");
    f->value = v;
    return 0;
}

static void lp_skip_spaces(lp_line *l) {
    while (!lp_at_end(l) && lp_peek(l) == ' ')
        l->pos++;
}

/* Parses one non-blank, non-comment line into l, lp->tags, lp->fields. The text
 * buffer is reserved for the line's unescaped bytes first, so views stay valid. */
static int lp_parse_line(lineproto_parser *lp, lp_line *l, uint32_t line_off, sl_diag *d) {
    buf_reset(&lp->text);
    if (!buf_reserve(&lp->text, (size_t)l->len + 1))
        return sl_diag_set(d, -ENOMEM, line_off, "line %u: out of memory", l->lineno);
    lp_fields *fields = lp->fields;
    l->tag_count = 0;
    l->field_count = 0;
    l->has_ts = false;

    uint32_t at = l->pos;
    l->measurement = lp_read_token(lp, l, LP_STOP_COMMA | LP_STOP_SPACE);
    if (l->measurement.n == 0) return lp_fail(d, SL_EPARSE, l, line_off, at, "empty measurement");
    if (l->measurement.n > 0xffff) /* checked here so the filling pass cannot fail on it */
        return lp_fail(d, SL_ELIMIT, l, line_off, at, "measurement longer than 65535 bytes");
    while (!lp_at_end(l) && lp_peek(l) == ',') {
        l->pos++;
        at = l->pos;
        if (l->tag_count == lp->limits.tags_max)
            return lp_fail(d, SL_ELIMIT, l, line_off, at, "more than %u tags", lp->limits.tags_max);
        sk_view key = lp_read_token(lp, l, LP_STOP_COMMA | LP_STOP_SPACE | LP_STOP_EQ | LP_ESC_EQ);
        if (key.n == 0) return lp_fail(d, SL_EPARSE, l, line_off, at, "empty tag key");
        if (lp_at_end(l) || lp_peek(l) != '=')
            return lp_fail(d, SL_EPARSE, l, line_off, l->pos, "expected '=' after tag key");
        lp->text.p[lp->text.len++] = '=';
        l->pos++;
        uint32_t vat = l->pos;
        sk_view val = lp_read_token(lp, l, LP_STOP_COMMA | LP_STOP_SPACE | LP_ESC_EQ);
        if (val.n == 0) return lp_fail(d, SL_EPARSE, l, line_off, vat, "empty tag value");
        sk_view tag = {key.p, key.n + 1 + val.n};
        if (tag.n > 0xffff)
            return lp_fail(d, SL_ELIMIT, l, line_off, at, "tag longer than 65535 bytes");
        lp->tags[l->tag_count++] = tag;
    }
    if (lp_at_end(l) || lp_peek(l) != ' ')
        return lp_fail(d, SL_EPARSE, l, line_off, l->pos, "expected ' ' and fields after %s",
                       l->tag_count ? "tags" : "measurement");
    lp_skip_spaces(l);
    if (lp_at_end(l)) return lp_fail(d, SL_EPARSE, l, line_off, l->pos, "expected fields");
    for (;;) {
        at = l->pos;
        if (l->field_count == LINEPROTO_FIELDS_MAX)
            return lp_fail(d, SL_ELIMIT, l, line_off, at, "more than %u fields",
                           LINEPROTO_FIELDS_MAX);
        lp_field *f = &fields->f[l->field_count];
        f->key = lp_read_token(lp, l, LP_STOP_COMMA | LP_STOP_SPACE | LP_STOP_EQ | LP_ESC_EQ);
        if (f->key.n == 0) return lp_fail(d, SL_EPARSE, l, line_off, at, "empty field key");
        if (lp_at_end(l) || lp_peek(l) != '=')
            return lp_fail(d, SL_EPARSE, l, line_off, l->pos, "expected '=' after field key");
        l->pos++;
        int rc = lp_field_value(l, line_off, f, d);
        if (rc < 0) return rc;
        if (!f->skip && !lp_token_is(f->key, "value") &&
            (size_t)l->measurement.n + 1 + f->key.n > 0xffff)
            return lp_fail(d, SL_ELIMIT, l, line_off, at,
                           "series name measurement.field longer than 65535 bytes");
        l->field_count++;
        if (lp_at_end(l) || lp_peek(l) != ',') break;
        l->pos++;
    }
    if (lp_at_end(l)) return 0;
    if (lp_peek(l) != ' ')
        return lp_fail(d, SL_EPARSE, l, line_off, l->pos, "expected ',' or ' ' after field value");
    lp_skip_spaces(l);
    if (lp_at_end(l)) return 0;
    at = l->pos;
    sk_view ts = lp_read_raw(l);
    if (ts.n > LP_NUMBER_CHARS_MAX || !lp_parse_i64(ts.p, ts.n, &l->ts))
        return lp_fail(d, SL_EPARSE, l, line_off, at, "invalid timestamp");
    l->has_ts = true;
    lp_skip_spaces(l);
    if (!lp_at_end(l))
        return lp_fail(d, SL_EPARSE, l, line_off, l->pos, "unexpected bytes after timestamp");
    return 0;
}

/* Applies precision; false if the result leaves the i64 range. */
static bool lp_scale_ts(int64_t ts, lineproto_precision precision, int64_t *out) {
    static const int64_t mul[] = {1, 1000, 1000000, 1000000000};
    int64_t m = mul[precision];
    if (ts > INT64_MAX / m || ts < INT64_MIN / m) return false;
    *out = ts * m;
    return true;
}

/* Hands b to emit and leaves it empty with the same producer. A failure is
 * emit's (storage's), not the body's: d says so, without a line number. */
static int lp_emit(point_batch *b, lineproto_emit_fn emit, void *arg, long points, sl_diag *d) {
    uint64_t producer_id = b->producer_id;
    uint32_t n = b->count;
    int rc = emit(b, arg);
    point_batch_truncate(b, 0);
    b->producer_id = producer_id;
    if (rc < 0)
        return sl_diag_set(d, rc, 0, "storing points failed after %ld of them: %s",
                           points - (long)n, sl_strerror(rc));
    return 0;
}

/* Adds the line's numeric fields to b, emitting b whenever it is full. */
static int lp_add_points(lineproto_parser *lp, const lp_line *l, uint32_t line_off, int64_t ts_ns,
                         point_batch *b, lineproto_emit_fn emit, void *arg, long *points,
                         sl_diag *d) {
    lp_fields *fields = lp->fields;
    for (uint32_t i = 0; i < l->field_count; i++) {
        const lp_field *f = &fields->f[i];
        if (f->skip) continue;
        sk_view series = l->measurement;
        if (!lp_token_is(f->key, "value")) {
            buf_reset(&lp->name);
            buf_append(&lp->name, l->measurement.p, l->measurement.n);
            buf_putc(&lp->name, '.');
            buf_append(&lp->name, f->key.p, f->key.n);
            if (buf_failed(&lp->name))
                return sl_diag_set(d, -ENOMEM, line_off, "line %u: out of memory", l->lineno);
            series.p = lp->name.p;
            series.n = (uint32_t)lp->name.len;
        }
        buf_reset(&lp->key);
        int rc = serieskey_build(&lp->key, series, lp->tags, l->tag_count, lp->scratch);
        if (rc < 0) return sl_diag_set(d, rc, line_off, "line %u: %s", l->lineno, sl_strerror(rc));
        /* Each field of a line repeats the line's tags in its key, so keys can
         * outgrow the body many times over: emit before they pass the bound. */
        if (b->count == BATCH_POINTS_MAX ||
            (b->count > 0 && b->keys_len + lp->key.len > LINEPROTO_BATCH_KEY_BYTES_MAX)) {
            rc = lp_emit(b, emit, arg, *points, d);
            if (rc < 0) return rc;
        }
        rc = point_batch_add(b, ts_ns, f->value, lp->key.p, (uint32_t)lp->key.len);
        if (rc < 0) return sl_diag_set(d, rc, line_off, "line %u: %s", l->lineno, sl_strerror(rc));
        (*points)++;
    }
    return 0;
}

long lineproto_parse(lineproto_parser *lp, const uint8_t *body, size_t n,
                     lineproto_precision precision, int64_t now_ns, point_batch *b,
                     lineproto_emit_fn emit, void *arg, sl_diag *d) {
    SL_ASSERT(lp->fields != NULL);
    SL_ASSERT(precision <= LINEPROTO_S);
    long points = 0;
    /* Pass 0 checks every line and emits nothing; pass 1 fills and emits. */
    for (int pass = 0; pass < 2; pass++) {
        size_t off = 0;
        uint32_t lineno = 0;
        while (off < n) {
            const uint8_t *nl = memchr(body + off, '\n', n - off);
            size_t end = nl ? (size_t)(nl - body) : n;
            size_t len = end - off;
            if (len > 0 && body[end - 1] == '\r') len--;
            lp_line l = {.p = body + off, .pos = 0, .lineno = ++lineno};
            if (lineno > lp->limits.lines_max)
                return sl_diag_set(d, SL_ELIMIT, (uint32_t)SL_MIN(off, UINT32_MAX),
                                   "line %u: more than %u lines in one request", lineno,
                                   lp->limits.lines_max);
            if (len > lp->limits.line_bytes_max)
                return sl_diag_set(d, SL_ELIMIT, (uint32_t)SL_MIN(off, UINT32_MAX),
                                   "line %u: longer than the limit of %u bytes", lineno,
                                   lp->limits.line_bytes_max);
            l.len = (uint32_t)len;
            const uint32_t line_off = (uint32_t)SL_MIN(off, UINT32_MAX);
            off = nl ? end + 1 : n;
            lp_skip_spaces(&l);
            if (lp_at_end(&l) || lp_peek(&l) == '#') continue;
            int rc = lp_parse_line(lp, &l, line_off, d);
            if (rc < 0) {
                SL_ASSERT(pass == 0); /* pass 1 parses the same bytes */
                return rc;
            }
            int64_t ts_ns = now_ns;
            if (l.has_ts && !lp_scale_ts(l.ts, precision, &ts_ns))
                return sl_diag_set(d, SL_EPARSE, line_off,
                                   "line %u: timestamp out of range for its precision", lineno);
            if (pass == 1) {
                rc = lp_add_points(lp, &l, line_off, ts_ns, b, emit, arg, &points, d);
                if (rc < 0) return rc;
            }
        }
    }
    if (b->count > 0) {
        int rc = lp_emit(b, emit, arg, points, d);
        if (rc < 0) return rc;
    }
    return points;
}
