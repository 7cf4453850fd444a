/* event.c - parses the event JSON a live query delivers (shared/spec/query.md):
 *   {"timestamp":1709481600000000000,"value":23.5,"tags":["sensor=1"],"producers":[3,7]}
 * Exactly these four fields are required, each once; unknown extra fields are skipped
 * (a newer host stays compatible) up to SLUNG_JSON_DEPTH_MAX deep. `value` may be null
 * (NaN). `timestamp` must be an integer in int64, producers integers in uint64.
 * Strings follow RFC 8259 (escapes, \u with surrogate pairs -> UTF-8; raw control
 * characters are refused).
 *
 * Invariants: (1) the cursor never reads at or past `end`; (2) unescaped text is never
 * longer than its escaped form, so all strings of one event fit an arena of n bytes.
 * Threads: none shared. */
#include "internal.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct cursor {
    const uint8_t *p;   /* next byte */
    const uint8_t *end; /* one past the last byte */
    char *arena;        /* where unescaped strings go */
    size_t arena_used;  /* bytes of arena in use */
} cursor;

static void skip_ws(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool eat(cursor *c, char ch) {
    skip_ws(c);
    if (c->p < c->end && *c->p == (uint8_t)ch) {
        c->p++;
        return true;
    }
    return false;
}

static int hex4(cursor *c, uint32_t *out) {
    uint32_t v = 0;
    if (c->end - c->p < 4) return SLUNG_EBADEVENT;
    for (int i = 0; i < 4; i++) {
        uint8_t h = *c->p++;
        v <<= 4;
        if (h >= '0' && h <= '9')
            v |= (uint32_t)(h - '0');
        else if (h >= 'a' && h <= 'f')
            v |= (uint32_t)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F')
            v |= (uint32_t)(h - 'A' + 10);
        else
            return SLUNG_EBADEVENT;
    }
    *out = v;
    return 0;
}

/* Parses a string (cursor at its opening quote after whitespace) into the arena;
 * *out is its NUL-terminated text there. */
static int parse_string(cursor *c, const char **out) {
    if (!eat(c, '"')) return SLUNG_EBADEVENT;
    char *dst = c->arena + c->arena_used;
    size_t k = 0;
    for (;;) {
        if (c->p >= c->end) return SLUNG_EBADEVENT;
        uint8_t ch = *c->p++;
        if (ch == '"') break;
        if (ch < 0x20) return SLUNG_EBADEVENT;
        if (ch != '\\') {
            dst[k++] = (char)ch;
            continue;
        }
        if (c->p >= c->end) return SLUNG_EBADEVENT;
        ch = *c->p++;
        switch (ch) {
        case '"':
        case '\\':
        case '/':
            dst[k++] = (char)ch;
            break;
        case 'b':
            dst[k++] = '\b';
            break;
        case 'f':
            dst[k++] = '\f';
            break;
        case 'n':
            dst[k++] = '\n';
            break;
        case 'r':
            dst[k++] = '\r';
            break;
        case 't':
            dst[k++] = '\t';
            break;
        case 'u': {
            uint32_t cp;
            if (hex4(c, &cp) < 0) return SLUNG_EBADEVENT;
            if (cp >= 0xdc00 && cp <= 0xdfff) return SLUNG_EBADEVENT;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                uint32_t lo;
                if (c->end - c->p < 2 || c->p[0] != '\\' || c->p[1] != 'u') return SLUNG_EBADEVENT;
                c->p += 2;
                if (hex4(c, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff) return SLUNG_EBADEVENT;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            /* UTF-8 of cp is at most as long as its escape (6 or 12 bytes). */
            if (cp < 0x80) {
                dst[k++] = (char)cp;
            } else if (cp < 0x800) {
                dst[k++] = (char)(0xc0 | cp >> 6);
                dst[k++] = (char)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                dst[k++] = (char)(0xe0 | cp >> 12);
                dst[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                dst[k++] = (char)(0x80 | (cp & 0x3f));
            } else {
                dst[k++] = (char)(0xf0 | cp >> 18);
                dst[k++] = (char)(0x80 | ((cp >> 12) & 0x3f));
                dst[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                dst[k++] = (char)(0x80 | (cp & 0x3f));
            }
            break;
        }
        default:
            return SLUNG_EBADEVENT;
        }
    }
    dst[k] = '\0';
    c->arena_used += k + 1; /* invariant 2: k + 1 <= escaped bytes including quotes */
    *out = dst;
    return 0;
}

/* The extent of a JSON number at the cursor; checks its grammar. */
static int number_text(cursor *c, const char **s, size_t *len) {
    skip_ws(c);
    const uint8_t *start = c->p;
    while (c->p < c->end && (strchr("+-.eE", *c->p) || (*c->p >= '0' && *c->p <= '9')) &&
           *c->p != '\0')
        c->p++;
    *s = (const char *)start;
    *len = (size_t)(c->p - start);
    double ignored;
    return *len && slung_parse_double(*s, *len, &ignored) == 0 ? 0 : SLUNG_EBADEVENT;
}

static int parse_i64(cursor *c, int64_t *out) {
    const char *s;
    size_t len;
    if (number_text(c, &s, &len) < 0) return SLUNG_EBADEVENT;
    size_t i = s[0] == '-';
    if (i == len) return SLUNG_EBADEVENT;
    uint64_t mag = 0;
    uint64_t limit = i ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return SLUNG_EBADEVENT; /* fraction or exponent */
        uint64_t d = (uint64_t)(s[i] - '0');
        if (mag > (limit - d) / 10) return SLUNG_EBADEVENT;
        mag = mag * 10 + d;
    }
    *out = s[0] == '-' ? (int64_t)(0 - mag) : (int64_t)mag;
    return 0;
}

static int parse_u64(cursor *c, uint64_t *out) {
    const char *s;
    size_t len;
    if (number_text(c, &s, &len) < 0) return SLUNG_EBADEVENT;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return SLUNG_EBADEVENT;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return SLUNG_EBADEVENT;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static bool literal(cursor *c, const char *word) {
    size_t n = strlen(word);
    skip_ws(c);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return false;
    c->p += n;
    return true;
}

static int skip_value(cursor *c, int depth) {
    if (depth > SLUNG_JSON_DEPTH_MAX) return SLUNG_EBADEVENT;
    skip_ws(c);
    if (c->p >= c->end) return SLUNG_EBADEVENT;
    const char *ignored;
    size_t len;
    switch (*c->p) {
    case '"': {
        size_t mark = c->arena_used;
        int rc = parse_string(c, &ignored);
        c->arena_used = mark;
        return rc;
    }
    case '[':
        c->p++;
        if (eat(c, ']')) return 0;
        do {
            if (skip_value(c, depth + 1) < 0) return SLUNG_EBADEVENT;
        } while (eat(c, ','));
        return eat(c, ']') ? 0 : SLUNG_EBADEVENT;
    case '{':
        c->p++;
        if (eat(c, '}')) return 0;
        do {
            size_t mark = c->arena_used;
            int rc = parse_string(c, &ignored);
            c->arena_used = mark;
            if (rc < 0 || !eat(c, ':') || skip_value(c, depth + 1) < 0) return SLUNG_EBADEVENT;
        } while (eat(c, ','));
        return eat(c, '}') ? 0 : SLUNG_EBADEVENT;
    case 't':
        return literal(c, "true") ? 0 : SLUNG_EBADEVENT;
    case 'f':
        return literal(c, "false") ? 0 : SLUNG_EBADEVENT;
    case 'n':
        return literal(c, "null") ? 0 : SLUNG_EBADEVENT;
    default:
        return number_text(c, &ignored, &len);
    }
}

/* Appends to a growing array (doubling); *cap 0 means none yet. */
static int grow(void **arr, size_t *cap, size_t count, size_t elem) {
    if (count < *cap) return 0;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = realloc(*arr, ncap * elem);
    if (!p) return SLUNG_ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

static int parse_tags(cursor *c, slung__event_store *s) {
    size_t cap = 0;
    if (!eat(c, '[')) return SLUNG_EBADEVENT;
    if (eat(c, ']')) return 0;
    do {
        const char *t;
        int rc = grow((void **)&s->tags, &cap, s->ev.tag_count, sizeof(*s->tags));
        if (rc < 0) return rc;
        if (parse_string(c, &t) < 0) return SLUNG_EBADEVENT;
        s->tags[s->ev.tag_count++] = t;
    } while (eat(c, ','));
    return eat(c, ']') ? 0 : SLUNG_EBADEVENT;
}

static int parse_producers(cursor *c, slung__event_store *s) {
    size_t cap = 0;
    if (!eat(c, '[')) return SLUNG_EBADEVENT;
    if (eat(c, ']')) return 0;
    do {
        int rc = grow((void **)&s->producers, &cap, s->ev.producer_count, sizeof(*s->producers));
        if (rc < 0) return rc;
        if (parse_u64(c, &s->producers[s->ev.producer_count]) < 0) return SLUNG_EBADEVENT;
        s->ev.producer_count++;
    } while (eat(c, ','));
    return eat(c, ']') ? 0 : SLUNG_EBADEVENT;
}

static int parse_value(cursor *c, double *out) {
    const char *s;
    size_t len;
    if (literal(c, "null")) {
        *out = NAN;
        return 0;
    }
    if (number_text(c, &s, &len) < 0) return SLUNG_EBADEVENT;
    return slung_parse_double(s, len, out) == 0 ? 0 : SLUNG_EBADEVENT;
}

static int parse_object(cursor *c, slung__event_store *s) {
    enum { F_TS = 1, F_VALUE = 2, F_TAGS = 4, F_PRODUCERS = 8, F_ALL = 15 };
    unsigned seen = 0;
    if (!eat(c, '{')) return SLUNG_EBADEVENT;
    if (!eat(c, '}')) {
        do {
            const char *key;
            size_t mark = c->arena_used;
            int rc = parse_string(c, &key);
            unsigned field = 0;
            if (rc < 0 || !eat(c, ':')) return SLUNG_EBADEVENT;
            if (strcmp(key, "timestamp") == 0)
                field = F_TS;
            else if (strcmp(key, "value") == 0)
                field = F_VALUE;
            else if (strcmp(key, "tags") == 0)
                field = F_TAGS;
            else if (strcmp(key, "producers") == 0)
                field = F_PRODUCERS;
            c->arena_used = mark; /* keys are not kept */
            if (field & seen) return SLUNG_EBADEVENT;
            seen |= field;
            switch (field) {
            case F_TS:
                rc = parse_i64(c, &s->ev.timestamp);
                break;
            case F_VALUE:
                rc = parse_value(c, &s->ev.value);
                break;
            case F_TAGS:
                rc = parse_tags(c, s);
                break;
            case F_PRODUCERS:
                rc = parse_producers(c, s);
                break;
            default:
                rc = skip_value(c, 1);
                break;
            }
            if (rc < 0) return rc;
        } while (eat(c, ','));
        if (!eat(c, '}')) return SLUNG_EBADEVENT;
    }
    skip_ws(c);
    if (c->p != c->end) return SLUNG_EBADEVENT;
    return seen == F_ALL ? 0 : SLUNG_EBADEVENT;
}

int slung__event_parse(const uint8_t *p, size_t n, slung__event_store *out) {
    memset(out, 0, sizeof(*out));
    out->strings = malloc(n + 1);
    if (!out->strings) return SLUNG_ENOMEM;
    cursor c = {p, p + n, out->strings, 0};
    int rc = parse_object(&c, out);
    if (rc < 0) {
        slung__event_store_free(out);
        return rc;
    }
    out->ev.tags = out->tags;
    out->ev.producers = out->producers;
    return 0;
}

void slung__event_store_free(slung__event_store *s) {
    free(s->strings);
    free(s->tags);
    free(s->producers);
    memset(s, 0, sizeof(*s));
}
