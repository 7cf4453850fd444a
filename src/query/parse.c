/* parse.c - the query language: text -> struct query (query_internal.h).
 *
 * GRAMMAR (spec/query.md; keywords and units are case-insensitive):
 *   query    := OP ':' SERIES ':' TAGS [ ':' RANGE [ ':' GROUP ] ]
 *   OP       := AVG | MIN | MAX | SUM | COUNT | LAST | FIRST | STDDEV | P<n>
 *               (P<n>: approximate percentile, 0 < n < 100, e.g. P50, P99, P99.9)
 *   SERIES   := one or more bytes other than ':'
 *   TAGS     := '[' WS* [ expr ] WS* ']'
 *   expr     := operand ( WS+ binop WS+ operand )*      left to right, no precedence
 *   operand  := ( NOT WS+ )* TAG | '(' expr ')'         at most QUERY_DEPTH_MAX deep
 *   binop    := AND | OR | NOT                          binary NOT = AND NOT
 *   TAG      := bytes other than space, tab, ':', '[', ']', '(', ')'
 *   RANGE    := '[' WS* span WS* ']' | '[' WS* time WS* ',' WS* time WS* ']'
 *   span     := DIGITS UNIT                             > 0
 *   time     := now | ['-'] DIGITS (ns since the epoch) | DIGITS UNIT (before now)
 *   GROUP    := DIGITS UNIT                             bucket width, needs a RANGE
 *   UNIT     := ns | us | ms | s | sec | second | m | min | minute | h | hr | hour
 *               | d | day | w | week, each also with a trailing 's'
 * Limits: QUERY_TAGS_MAX tags, QUERY_TOKENS_MAX tokens in TAGS, QUERY_TEXT_BYTES_MAX.
 * Parentheses are delimiters inside TAGS, so a tag cannot contain them (documented
 * in docs/PROTOCOLS.md). A two-time range is normalised (start <= end), inclusive.
 * Errors fill sl_diag with SL_EPARSE, offset = 1-based column, and a message that
 * ends "at column N", e.g. "expected ']' at column 17".
 * Invariants: see query_internal.h. Threads: pure; any thread. */
#include "base/common.h"
#include "base/mem.h"
#include "query/query_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct qparser {
    query *q;        /* being filled (a stack copy without its nodes) */
    q_node *nodes;   /* scratch nodes [QUERY_NODES_MAX] */
    const char *s;   /* q->text */
    uint32_t n;      /* its length */
    uint32_t pos;    /* next byte */
    uint32_t tokens; /* tokens read inside TAGS */
    int64_t now_ns;  /* what `now` means */
    sl_diag *d;      /* error out */
} qparser;

static int perr(qparser *p, uint32_t at, const char *what) {
    return sl_diag_set(p->d, SL_EPARSE, at + 1, "%s at column %u", what, at + 1);
}

/* Copies up to 24 bytes of s[at..] that form one word, for messages, replacing
 * bytes that are not printable ASCII with '?'. */
static void word_show(const char *s, uint32_t n, char out[32]) {
    uint32_t i = 0;
    for (; i < n && i < 24; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c >= 0x20 && c < 0x7f && c != '\'' && c != '"' && c != '\\') ? (char)c : '?';
    }
    if (i < n) {
        out[i++] = '.';
        out[i++] = '.';
    }
    out[i] = '\0';
}

static bool is_ws(char c) {
    return c == ' ' || c == '\t';
}

static void skip_ws(qparser *p) {
    while (p->pos < p->n && is_ws(p->s[p->pos]))
        p->pos++;
}

static bool word_eq(const char *s, uint32_t n, const char *kw) {
    size_t k = strlen(kw);
    return n == k && strncasecmp(s, kw, k) == 0;
}

/* ---- aggregates ---- */

static const struct {
    const char *name;
    q_agg agg;
} aggs[] = {
    {"AVG", Q_AVG},     {"MIN", Q_MIN},   {"MAX", Q_MAX},     {"SUM", Q_SUM},
    {"COUNT", Q_COUNT}, {"LAST", Q_LAST}, {"FIRST", Q_FIRST}, {"STDDEV", Q_STDDEV},
};

/* P<n>: digits with an optional fraction, 0 < n < 100. */
static bool parse_pct(const char *s, uint32_t n, double *out) {
    if (n < 2 || (s[0] != 'P' && s[0] != 'p')) return false;
    double v = 0;
    double scale = 0;
    uint32_t digits = 0;
    for (uint32_t i = 1; i < n; i++) {
        char c = s[i];
        if (c == '.' && scale == 0 && digits > 0) {
            scale = 1;
        } else if (c >= '0' && c <= '9') {
            if (++digits > 6) return false;
            if (scale == 0) {
                v = v * 10 + (c - '0');
            } else {
                scale /= 10;
                v += (c - '0') * scale;
            }
        } else {
            return false;
        }
    }
    if (digits == 0 || s[n - 1] == '.' || !(v > 0 && v < 100)) return false;
    *out = v;
    return true;
}

static int parse_op(qparser *p) {
    uint32_t start = p->pos;
    while (p->pos < p->n && p->s[p->pos] != ':')
        p->pos++;
    uint32_t len = p->pos - start;
    if (len == 0) return perr(p, start, "missing aggregate (AVG, MIN, MAX, SUM, COUNT...)");
    const char *w = p->s + start;
    bool found = false;
    for (size_t i = 0; i < SL_ARRAY_LEN(aggs); i++) {
        if (word_eq(w, len, aggs[i].name)) {
            p->q->agg = aggs[i].agg;
            found = true;
        }
    }
    if (!found && parse_pct(w, len, &p->q->pct)) {
        p->q->agg = Q_PCT;
        found = true;
    }
    if (!found) {
        char show[32];
        word_show(w, len, show);
        return sl_diag_set(p->d, SL_EPARSE, start + 1, "unknown aggregate '%s' at column %u", show,
                           start + 1);
    }
    if (p->pos == p->n) return perr(p, p->pos, "expected ':' after the aggregate");
    p->pos++;
    return 0;
}

static int parse_series(qparser *p) {
    uint32_t start = p->pos;
    while (p->pos < p->n && p->s[p->pos] != ':')
        p->pos++;
    if (p->pos == start) return perr(p, start, "missing series name");
    p->q->name_off = start;
    p->q->name_len = p->pos - start;
    if (p->pos == p->n) return perr(p, p->pos, "expected ':' and a tag list after the series name");
    p->pos++;
    return 0;
}

/* ---- tag expressions ---- */

typedef enum { TK_END, TK_WORD, TK_LPAREN, TK_RPAREN, TK_RBRACKET, TK_BAD } tk_kind;

typedef struct tk {
    tk_kind kind;
    uint32_t at;  /* column - 1 */
    uint32_t len; /* TK_WORD */
} tk;

static bool is_word_byte(char c) {
    return !is_ws(c) && c != ':' && c != '[' && c != ']' && c != '(' && c != ')';
}

/* Reads the next token after optional whitespace; TK_END at ':' or end of text
 * (the bracket is unclosed), TK_BAD at a stray '['. */
static tk next_tk(qparser *p) {
    skip_ws(p);
    tk t = {TK_END, p->pos, 0};
    if (p->pos >= p->n) return t;
    char c = p->s[p->pos];
    switch (c) {
    case ':':
        return t;
    case '(':
        t.kind = TK_LPAREN;
        p->pos++;
        break;
    case ')':
        t.kind = TK_RPAREN;
        p->pos++;
        break;
    case ']':
        t.kind = TK_RBRACKET;
        p->pos++;
        break;
    case '[':
        t.kind = TK_BAD;
        break;
    default:
        t.kind = TK_WORD;
        while (p->pos < p->n && is_word_byte(p->s[p->pos]))
            p->pos++;
        t.len = p->pos - t.at;
        break;
    }
    p->tokens++;
    return t;
}

static tk peek_tk(qparser *p) {
    uint32_t pos = p->pos;
    uint32_t tokens = p->tokens;
    tk t = next_tk(p);
    p->pos = pos;
    p->tokens = tokens;
    return t;
}

static bool is_keyword(const qparser *p, const tk *t, const char *kw) {
    return t->kind == TK_WORD && word_eq(p->s + t->at, t->len, kw);
}

static int closer_error(qparser *p, uint32_t at, unsigned depth) {
    return perr(p, at, depth ? "expected ')'" : "expected ']'");
}

static int new_node(qparser *p, uint32_t at, q_node_kind kind, int left, int right) {
    query *q = p->q;
    if (q->node_count >= QUERY_NODES_MAX) return perr(p, at, "tag expression too long");
    q_node *nd = &p->nodes[q->node_count];
    nd->kind = kind;
    nd->left = (int16_t)left;
    nd->right = (int16_t)right;
    nd->tag_off = 0;
    nd->tag_len = 0;
    return (int)q->node_count++;
}

static int parse_expr(qparser *p, unsigned depth);

/* Returns the node index of one operand, or a negative error. */
static int parse_operand(qparser *p, unsigned depth) {
    uint32_t nots = 0;
    uint32_t not_at[QUERY_TOKENS_MAX];
    int node;
    for (;;) {
        if (p->tokens >= QUERY_TOKENS_MAX)
            return sl_diag_set(p->d, SL_EPARSE, p->pos + 1,
                               "tag expression has more than %u tokens at column %u",
                               QUERY_TOKENS_MAX, p->pos + 1);
        tk t = next_tk(p);
        if (t.kind == TK_WORD && is_keyword(p, &t, "NOT")) {
            not_at[nots++] = t.at;
            tk after = peek_tk(p);
            if (after.kind == TK_WORD && after.at == p->pos)
                return perr(p, t.at + t.len, "expected a space after NOT");
            continue;
        }
        if (t.kind == TK_LPAREN) {
            if (depth + 1 > QUERY_DEPTH_MAX)
                return sl_diag_set(p->d, SL_EPARSE, t.at + 1,
                                   "parentheses nested deeper than %u at column %u",
                                   QUERY_DEPTH_MAX, t.at + 1);
            node = parse_expr(p, depth + 1);
            if (node < 0) return node;
            if (node == INT16_MAX) return perr(p, t.at, "empty parentheses");
            break;
        }
        if (t.kind == TK_WORD) {
            if (is_keyword(p, &t, "AND") || is_keyword(p, &t, "OR")) {
                char show[32];
                word_show(p->s + t.at, t.len, show);
                return sl_diag_set(p->d, SL_EPARSE, t.at + 1,
                                   "expected a tag at column %u, found '%s'", t.at + 1, show);
            }
            if (p->q->tag_count >= QUERY_TAGS_MAX)
                return sl_diag_set(p->d, SL_EPARSE, t.at + 1, "more than %u tags at column %u",
                                   QUERY_TAGS_MAX, t.at + 1);
            node = new_node(p, t.at, QN_TAG, -1, -1);
            if (node < 0) return node;
            p->nodes[node].tag_off = t.at;
            p->nodes[node].tag_len = t.len;
            p->q->tag_count++;
            break;
        }
        if (t.kind == TK_BAD) return perr(p, t.at, "unexpected '['");
        return perr(p, t.at, "expected a tag"); /* ']', ')', ':' or the end */
    }
    while (nots > 0) {
        node = new_node(p, not_at[nots - 1], QN_NOT, node, -1);
        if (node < 0) return node;
        nots--;
    }
    return node;
}

/* Parses up to and including the closer (']' at depth 0, ')' deeper). Returns the
 * root node, INT16_MAX for an empty expression, or a negative error. */
static int parse_expr(qparser *p, unsigned depth) {
    tk first = peek_tk(p);
    if (first.kind == TK_RBRACKET && depth == 0) {
        next_tk(p);
        return INT16_MAX;
    }
    if (first.kind == TK_RPAREN && depth > 0) {
        next_tk(p);
        return INT16_MAX;
    }
    int left = parse_operand(p, depth);
    if (left < 0) return left;
    for (;;) {
        uint32_t ws_before = p->pos;
        tk t = next_tk(p);
        if (t.kind == TK_RBRACKET) {
            if (depth > 0) return perr(p, t.at, "expected ')'");
            return left;
        }
        if (t.kind == TK_RPAREN) {
            if (depth == 0) return perr(p, t.at, "unbalanced ')'");
            return left;
        }
        if (t.kind == TK_END) return closer_error(p, t.at, depth);
        if (t.kind == TK_BAD) return perr(p, t.at, "unexpected '['");
        q_node_kind kind;
        if (is_keyword(p, &t, "AND")) {
            kind = QN_AND;
        } else if (is_keyword(p, &t, "OR")) {
            kind = QN_OR;
        } else if (is_keyword(p, &t, "NOT")) {
            kind = QN_ANDNOT;
        } else {
            char show[32];
            if (t.kind == TK_WORD) {
                word_show(p->s + t.at, t.len, show);
            } else {
                show[0] = p->s[t.at];
                show[1] = '\0';
            }
            return sl_diag_set(p->d, SL_EPARSE, t.at + 1,
                               "expected AND, OR, NOT or '%c' at column %u, found '%s'",
                               depth ? ')' : ']', t.at + 1, show);
        }
        if (t.at == ws_before) return perr(p, t.at, "expected a space before the operator");
        tk after = peek_tk(p);
        if (after.kind == TK_WORD && after.at == p->pos)
            return perr(p, t.at + t.len, "expected a space after the operator");
        int right = parse_operand(p, depth);
        if (right < 0) return right;
        left = new_node(p, t.at, kind, left, right);
        if (left < 0) return left;
    }
}

/* ---- time ---- */

typedef struct unit_def {
    const char *name;
    int64_t ns;
} unit_def;

static const unit_def units[] = {
    {"ns", 1},
    {"nanosecond", 1},
    {"us", 1000},
    {"microsecond", 1000},
    {"ms", 1000000},
    {"millisecond", 1000000},
    {"s", 1000000000},
    {"sec", 1000000000},
    {"second", 1000000000},
    {"m", 60000000000},
    {"min", 60000000000},
    {"minute", 60000000000},
    {"h", 3600000000000},
    {"hr", 3600000000000},
    {"hour", 3600000000000},
    {"d", 86400000000000},
    {"day", 86400000000000},
    {"w", 604800000000000},
    {"week", 604800000000000},
};

/* Unit word -> ns per unit; 0 if unknown. A trailing 's' is a plural ("mins"). */
static int64_t unit_ns(const char *s, uint32_t n) {
    for (size_t i = 0; i < SL_ARRAY_LEN(units); i++) {
        size_t k = strlen(units[i].name);
        if (n == k && strncasecmp(s, units[i].name, k) == 0) return units[i].ns;
        if (n == k + 1 && strncasecmp(s, units[i].name, k) == 0 && (s[k] == 's' || s[k] == 'S'))
            return units[i].ns;
    }
    return 0;
}

typedef enum { TV_NOW, TV_ABS, TV_REL } tv_kind;

/* One time or duration token: [-]DIGITS [UNIT] | now. Stops before ws, ',' ']' ':'. */
static int parse_timeval(qparser *p, tv_kind *kind, int64_t *v) {
    uint32_t start = p->pos;
    while (p->pos < p->n && !is_ws(p->s[p->pos]) && p->s[p->pos] != ',' && p->s[p->pos] != ']' &&
           p->s[p->pos] != ':')
        p->pos++;
    const char *w = p->s + start;
    uint32_t len = p->pos - start;
    if (len == 0) return perr(p, start, "expected a time (now, nanoseconds, or e.g. 5min)");
    if (word_eq(w, len, "now")) {
        *kind = TV_NOW;
        *v = 0;
        return 0;
    }
    uint32_t i = 0;
    bool neg = false;
    if (w[0] == '-') {
        neg = true;
        i = 1;
    }
    uint32_t digits_start = i;
    uint64_t mag = 0;
    for (; i < len && w[i] >= '0' && w[i] <= '9'; i++) {
        uint64_t dgt = (uint64_t)(w[i] - '0');
        if (mag > (UINT64_MAX - dgt) / 10) return perr(p, start, "number too large");
        mag = mag * 10 + dgt;
    }
    if (i == digits_start) {
        char show[32];
        word_show(w, len, show);
        return sl_diag_set(p->d, SL_EPARSE, start + 1, "expected a number at column %u, found '%s'",
                           start + 1, show);
    }
    if (i == len) {
        uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        if (mag > lim) return perr(p, start, "number too large");
        *kind = TV_ABS;
        *v = neg ? (int64_t)(0 - mag) : (int64_t)mag;
        return 0;
    }
    if (neg) return perr(p, start, "a duration cannot be negative");
    int64_t u = unit_ns(w + i, len - i);
    if (u == 0) {
        char show[32];
        word_show(w + i, len - i, show);
        return sl_diag_set(p->d, SL_EPARSE, start + i + 1,
                           "unknown time unit '%s' at column %u (ns, us, ms, s, min, h, d, w)",
                           show, start + i + 1);
    }
    if (mag > (uint64_t)(INT64_MAX / u)) return perr(p, start, "duration too large");
    *kind = TV_REL;
    *v = (int64_t)mag * u;
    return 0;
}

static int64_t resolve(const qparser *p, tv_kind kind, int64_t v) {
    switch (kind) {
    case TV_NOW:
        return p->now_ns;
    case TV_ABS:
        return v;
    case TV_REL:
        /* now_ns - v without overflow: v >= 0, so only INT64_MIN can be crossed. */
        if (p->now_ns < 0 && v > p->now_ns - INT64_MIN) return INT64_MIN;
        return p->now_ns - v;
    }
    return v;
}

static int parse_range(qparser *p) {
    query *q = p->q;
    if (p->pos >= p->n || p->s[p->pos] != '[')
        return perr(p, p->pos, "expected '[' to open the time range");
    p->pos++;
    skip_ws(p);
    uint32_t a_at = p->pos;
    tv_kind ka;
    int64_t va;
    int rc = parse_timeval(p, &ka, &va);
    if (rc < 0) return rc;
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == ',') {
        p->pos++;
        skip_ws(p);
        tv_kind kb;
        int64_t vb;
        if ((rc = parse_timeval(p, &kb, &vb)) < 0) return rc;
        skip_ws(p);
        if (p->pos >= p->n || p->s[p->pos] != ']') return perr(p, p->pos, "expected ']'");
        p->pos++;
        int64_t ta = resolve(p, ka, va);
        int64_t tb = resolve(p, kb, vb);
        q->range = Q_RANGE_FIXED;
        if (ta <= tb) {
            q->t0_ns = ta;
            q->t1_ns = tb;
            q->t1_is_now = kb == TV_NOW || (ka == TV_NOW && ta == tb);
        } else {
            q->t0_ns = tb;
            q->t1_ns = ta;
            q->t1_is_now = ka == TV_NOW;
        }
        return 0;
    }
    if (p->pos >= p->n || p->s[p->pos] != ']') return perr(p, p->pos, "expected ',' or ']'");
    p->pos++;
    if (ka != TV_REL) return perr(p, a_at, "a one-part range must be a span such as 5min");
    if (va <= 0) return perr(p, a_at, "a span must be longer than zero");
    q->range = Q_RANGE_SPAN;
    q->span_ns = va;
    q->t0_ns = resolve(p, TV_REL, va);
    q->t1_ns = p->now_ns;
    q->t1_is_now = true;
    return 0;
}

static int parse_group(qparser *p) {
    uint32_t at = p->pos;
    tv_kind k;
    int64_t v;
    int rc = parse_timeval(p, &k, &v);
    if (rc < 0) return rc;
    if (k != TV_REL) return perr(p, at, "a group-by bucket must be a duration such as 1m");
    if (v <= 0) return perr(p, at, "a group-by bucket must be longer than zero");
    p->q->bucket_ns = v;
    return 0;
}

int query_parse(const char *text, size_t n, int64_t now_ns, query **out, sl_diag *d) {
    SL_ASSERT(out != NULL);
    *out = NULL;
    if (text == NULL) n = 0;
    if (n > QUERY_TEXT_BYTES_MAX)
        return sl_diag_set(d, SL_EPARSE, QUERY_TEXT_BYTES_MAX + 1,
                           "query longer than %u bytes at column %u", QUERY_TEXT_BYTES_MAX,
                           QUERY_TEXT_BYTES_MAX + 1);
    for (size_t i = 0; i < n; i++)
        if (text[i] == '\0' || text[i] == '\n' || text[i] == '\r')
            return sl_diag_set(d, SL_EPARSE, (uint32_t)i + 1,
                               "control character in query at column %u", (unsigned)i + 1);
    /* Parse into a stack query with full-size scratch nodes, then copy into one
     * allocation sized to what was used (live queries keep many of these). */
    q_node scratch[QUERY_NODES_MAX];
    query tmp;
    memset(&tmp, 0, sizeof(tmp));
    tmp.root = -1;
    tmp.range = Q_RANGE_ALL;
    tmp.t0_ns = INT64_MIN;
    tmp.t1_ns = INT64_MAX;
    tmp.text_len = (uint32_t)n;
    qparser p = {.q = &tmp,
                 .nodes = scratch,
                 .s = text ? text : "",
                 .n = (uint32_t)n,
                 .now_ns = now_ns,
                 .d = d};
    int rc;
    if ((rc = parse_op(&p)) < 0) return rc;
    if ((rc = parse_series(&p)) < 0) return rc;
    if (p.pos >= p.n || p.s[p.pos] != '[') return perr(&p, p.pos, "expected '['");
    p.pos++;
    rc = parse_expr(&p, 0);
    if (rc < 0) return rc;
    tmp.root = rc == INT16_MAX ? -1 : rc;
    if (p.pos < p.n) {
        if (p.s[p.pos] != ':') return perr(&p, p.pos, "expected ':' or the end of the query");
        p.pos++;
        if ((rc = parse_range(&p)) < 0) return rc;
        if (p.pos < p.n) {
            if (p.s[p.pos] != ':') return perr(&p, p.pos, "expected ':' or the end of the query");
            p.pos++;
            if ((rc = parse_group(&p)) < 0) return rc;
            if (p.pos < p.n) return perr(&p, p.pos, "expected the end of the query");
        }
    }
    SL_ASSERT(tmp.t0_ns <= tmp.t1_ns);
    SL_ASSERT(tmp.node_count <= QUERY_NODES_MAX);
    size_t nodes_bytes = tmp.node_count * sizeof(q_node);
    query *q = mem_alloc(MEM_QUERY, sizeof(*q) + nodes_bytes + n + 1);
    if (!q) return sl_diag_set(d, -ENOMEM, 0, "out of memory parsing the query");
    *q = tmp;
    if (nodes_bytes) memcpy(q->nodes, scratch, nodes_bytes);
    char *t = (char *)q->nodes + nodes_bytes;
    if (n) memcpy(t, text, n);
    t[n] = '\0';
    q->text = t;
    *out = q;
    return 0;
}

void query_free(query *q) {
    mem_free(MEM_QUERY, q);
}
