/* fmt.c - number conversion and the snprintf subset of the C SDK (slung.h), without
 * stdio: wasi-libc's stdio and strtod would import fd_seek/fd_close, which the Slung
 * host does not provide (shared/spec/workflows.md lists the WASI functions it has).
 *
 * Shortest doubles (slung_format_double): a double is m * 2^e exactly, so its decimal
 * expansion is finite; expand() computes it exactly with a base-1e9 bignum (m * 2^e,
 * or m * 5^-e shifted by e decimal places). The same is done for the two midpoints
 * between v and its neighbours, which bound every decimal that reads back as v (round
 * half to even: the midpoints themselves belong to v when m is even). For p = 1..17
 * the expansion of v rounded to p digits (half to even) is the closest p-digit
 * decimal; the first that lies inside the midpoints is printed. In the rare case where
 * the closest p-digit decimal falls outside but a farther one would be inside (only
 * possible at a power of two, where the interval is lopsided) the output is one digit
 * longer than the shortest; it still reads back exactly.
 *
 * Invariants: (1) a bignum has at most BIG_LIMBS limbs, enough for 2^1026 and for
 * 2^55 * 5^1076 (the extremes expand() is given); (2) writer output never passes
 * w->cap - 1 and w->len counts everything asked for, like snprintf.
 * Portable C (no wasm-only code), so tests/sdk runs it natively.
 * Threads: any; no state outside the arguments (about 4 KB of stack per call). */
#include "slung.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

/* ---- exact decimal expansion ---- */

#define BIG_BASE 1000000000u
#define BIG_LIMBS 100  /* 2^55 * 5^1076 < 10^770 = 86 limbs; invariant 1 */
#define DIGITS_MAX 900 /* BIG_LIMBS * 9 */

typedef struct big {
    uint32_t limb[BIG_LIMBS]; /* little-endian base 1e9 */
    int n;                    /* limbs in use; 0 means the value 0 */
} big;

typedef struct decimal {
    char d[DIGITS_MAX + 1]; /* significant digits, no leading zero; value = 0.d * 10^dp */
    int nd;                 /* digits in d (0 for the value 0) */
    int dp;                 /* decimal point position */
} decimal;

static void big_set(big *b, uint64_t v) {
    b->n = 0;
    while (v) {
        b->limb[b->n++] = (uint32_t)(v % BIG_BASE);
        v /= BIG_BASE;
    }
}

static void big_mul(big *b, uint32_t k) {
    uint64_t carry = 0;
    for (int i = 0; i < b->n; i++) {
        uint64_t t = (uint64_t)b->limb[i] * k + carry;
        b->limb[i] = (uint32_t)(t % BIG_BASE);
        carry = t / BIG_BASE;
    }
    while (carry && b->n < BIG_LIMBS) {
        b->limb[b->n++] = (uint32_t)(carry % BIG_BASE);
        carry /= BIG_BASE;
    }
}

/* out = the exact decimal expansion of m * 2^e2 (m < 2^56, -1076 <= e2 <= 971). */
static void expand(uint64_t m, int e2, decimal *out) {
    big b;
    big_set(&b, m);
    int shift10 = 0;
    if (e2 >= 0) {
        for (int left = e2; left > 0; left -= 29)
            big_mul(&b, 1u << (left < 29 ? left : 29));
    } else {
        for (int left = -e2; left > 0; left -= 13) {
            uint32_t p = 1;
            for (int i = 0; i < (left < 13 ? left : 13); i++)
                p *= 5;
            big_mul(&b, p);
        }
        shift10 = e2;
    }
    out->nd = 0;
    if (b.n == 0) {
        out->dp = 0;
        return;
    }
    char tmp[10];
    int t = 0;
    for (uint32_t top = b.limb[b.n - 1]; top; top /= 10)
        tmp[t++] = (char)('0' + top % 10);
    while (t)
        out->d[out->nd++] = tmp[--t];
    for (int i = b.n - 2; i >= 0; i--) {
        uint32_t l = b.limb[i];
        for (int k = 8; k >= 0; k--) {
            out->d[out->nd + k] = (char)('0' + l % 10);
            l /= 10;
        }
        out->nd += 9;
    }
    out->dp = out->nd + shift10;
    while (out->nd > 0 && out->d[out->nd - 1] == '0')
        out->nd--;
}

/* Compares two non-negative decimals (trailing zeros trimmed): <0, 0, >0. */
static int decimal_cmp(const decimal *a, const decimal *b) {
    if (a->nd == 0 || b->nd == 0) return (a->nd != 0) - (b->nd != 0);
    if (a->dp != b->dp) return a->dp < b->dp ? -1 : 1;
    for (int i = 0; i < a->nd || i < b->nd; i++) {
        char x = i < a->nd ? a->d[i] : '0';
        char y = i < b->nd ? b->d[i] : '0';
        if (x != y) return x < y ? -1 : 1;
    }
    return 0;
}

/* out = v rounded to p significant digits, half to even (exact: v's digits are). */
static void decimal_round(const decimal *v, int p, decimal *out) {
    *out = *v;
    if (v->nd <= p) return;
    bool up;
    char next = v->d[p];
    if (next != '5') {
        up = next > '5';
    } else {
        bool rest = false;
        for (int i = p + 1; i < v->nd; i++)
            rest |= v->d[i] != '0';
        up = rest || ((v->d[p - 1] - '0') & 1);
    }
    out->nd = p;
    if (up) {
        int i = p - 1;
        while (i >= 0 && out->d[i] == '9')
            out->d[i--] = '0';
        if (i >= 0) {
            out->d[i]++;
        } else {
            out->d[0] = '1';
            out->nd = 1;
            out->dp++;
        }
    }
    while (out->nd > 0 && out->d[out->nd - 1] == '0')
        out->nd--;
}

/* Lays out 0.d * 10^dp like JavaScript: fixed for -6 < dp <= 21, else d.ddde+X. */
static size_t decimal_text(const decimal *x, bool neg, char *buf) {
    size_t k = 0;
    if (neg) buf[k++] = '-';
    if (x->dp > 0 && x->dp <= 21) {
        for (int i = 0; i < x->dp; i++)
            buf[k++] = i < x->nd ? x->d[i] : '0';
        if (x->nd > x->dp) {
            buf[k++] = '.';
            for (int i = x->dp; i < x->nd; i++)
                buf[k++] = x->d[i];
        }
    } else if (x->dp <= 0 && x->dp > -6) {
        buf[k++] = '0';
        buf[k++] = '.';
        for (int i = 0; i < -x->dp; i++)
            buf[k++] = '0';
        for (int i = 0; i < x->nd; i++)
            buf[k++] = x->d[i];
    } else {
        buf[k++] = x->d[0];
        if (x->nd > 1) {
            buf[k++] = '.';
            for (int i = 1; i < x->nd; i++)
                buf[k++] = x->d[i];
        }
        int e = x->dp - 1;
        buf[k++] = 'e';
        buf[k++] = e < 0 ? '-' : '+';
        if (e < 0) e = -e;
        char tmp[4];
        int t = 0;
        do {
            tmp[t++] = (char)('0' + e % 10);
            e /= 10;
        } while (e);
        while (t)
            buf[k++] = tmp[--t];
    }
    buf[k] = '\0';
    return k;
}

size_t slung_format_double(char *buf, size_t n, double v) {
    char text[SLUNG_DOUBLE_CHARS_MAX];
    size_t len;
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    bool neg = bits >> 63;
    int ebits = (int)((bits >> 52) & 0x7ff);
    uint64_t frac = bits & ((1ull << 52) - 1);

    if (ebits == 0x7ff) {
        const char *s = frac ? "NaN" : (neg ? "-inf" : "inf");
        len = strlen(s);
        memcpy(text, s, len + 1);
    } else if (ebits == 0 && frac == 0) {
        len = neg ? 2 : 1;
        memcpy(text, neg ? "-0" : "0", len + 1);
    } else {
        decimal exact;
        decimal lo;
        decimal hi;
        decimal cand;
        uint64_t m = ebits ? frac | (1ull << 52) : frac;
        int e = ebits ? ebits - 1075 : -1074;
        expand(m, e, &exact);
        expand(2 * m + 1, e - 1, &hi);
        if (frac == 0 && ebits > 1)
            expand(4 * m - 1, e - 2, &lo); /* the neighbour below is twice as close */
        else
            expand(2 * m - 1, e - 1, &lo);
        bool even = (m & 1) == 0;
        for (int p = 1; p <= 17; p++) {
            decimal_round(&exact, p, &cand);
            int c_lo = decimal_cmp(&cand, &lo);
            int c_hi = decimal_cmp(&cand, &hi);
            if ((c_lo > 0 || (even && c_lo == 0)) && (c_hi < 0 || (even && c_hi == 0))) break;
        }
        len = decimal_text(&cand, neg, text);
    }
    if (n > 0) {
        size_t c = len < n - 1 ? len : n - 1;
        memcpy(buf, text, c);
        buf[c] = '\0';
    }
    return len;
}

/* ---- parsing ---- */

static const double exact_pow10[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static long double pow10_ld(int k) {
    long double r = 1.0L;
    long double sq = 10.0L;
    for (; k; k >>= 1) {
        if (k & 1) r *= sq;
        sq *= sq;
    }
    return r;
}

int slung_parse_double(const char *s, size_t len, double *out) {
    size_t i = 0;
    bool neg = false;
    uint64_t m = 0;
    int kept = 0;  /* significant digits in m */
    int exp10 = 0; /* value = m * 10^exp10 (before the explicit exponent) */
    bool digits = false;

    if (!s) return SLUNG_EINVAL;
    if (i < len && s[i] == '-') {
        neg = true;
        i++;
    }
    if (i < len && s[i] == '0') {
        digits = true;
        i++;
    } else {
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            digits = true;
            if (kept < 19) {
                m = m * 10 + (uint64_t)(s[i] - '0');
                kept += m != 0;
            } else {
                exp10++;
            }
            i++;
        }
    }
    if (!digits) return SLUNG_EINVAL;
    if (i < len && s[i] == '.') {
        i++;
        if (i >= len || s[i] < '0' || s[i] > '9') return SLUNG_EINVAL;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (kept < 19) {
                m = m * 10 + (uint64_t)(s[i] - '0');
                kept += m != 0;
                exp10--;
            }
            i++;
        }
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        bool eneg = false;
        int e = 0;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
        if (i >= len || s[i] < '0' || s[i] > '9') return SLUNG_EINVAL;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (e < 100000) e = e * 10 + (s[i] - '0'); /* beyond: 0 or inf anyway */
            i++;
        }
        exp10 += eneg ? -e : e;
    }
    if (i != len) return SLUNG_EINVAL;

    double v;
    if (m == 0) {
        v = 0.0;
    } else if (exp10 > 330) {
        v = HUGE_VAL;
    } else if (exp10 < -360) {
        v = 0.0;
    } else if (m < (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
        /* Both operands exact, one IEEE operation: correctly rounded. */
        v = exp10 >= 0 ? (double)m * exact_pow10[exp10] : (double)m / exact_pow10[-exp10];
    } else {
        long double r = (long double)m;
        r = exp10 >= 0 ? r * pow10_ld(exp10) : r / pow10_ld(-exp10);
        v = (double)r;
    }
    *out = neg ? -v : v;
    return 0;
}

/* ---- printf subset ---- */

typedef struct writer {
    char *buf;  /* NULL when only counting */
    size_t cap; /* bytes in buf */
    size_t len; /* bytes asked for so far (may exceed cap) */
} writer;

static void put(writer *w, const char *s, size_t n) {
    if (w->buf && w->len + 1 < w->cap) {
        size_t room = w->cap - 1 - w->len;
        memcpy(w->buf + w->len, s, n < room ? n : room);
    }
    w->len += n;
}

static void put_u64(writer *w, uint64_t v, unsigned base, bool neg) {
    char tmp[24];
    int t = 0;
    do {
        tmp[t++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (neg) tmp[t++] = '-';
    char rev[24];
    for (int i = 0; i < t; i++)
        rev[i] = tmp[t - 1 - i];
    put(w, rev, (size_t)t);
}

int slung_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap) {
    writer w = {buf, n, 0};
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            put(&w, p, 1);
            continue;
        }
        const char *start = p++;
        int longs = 0;
        bool size = false;
        while (*p == 'l') {
            longs++;
            p++;
        }
        if (*p == 'z') {
            size = true;
            p++;
        }
        switch (*p) {
        case '%':
            put(&w, "%", 1);
            break;
        case 'c': {
            char c = (char)va_arg(ap, int);
            put(&w, &c, 1);
            break;
        }
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s) s = "(null)";
            put(&w, s, strlen(s));
            break;
        }
        case 'd':
        case 'i': {
            int64_t v = size         ? (int64_t)va_arg(ap, ptrdiff_t)
                        : longs >= 2 ? (int64_t)va_arg(ap, long long)
                        : longs == 1 ? (int64_t)va_arg(ap, long)
                                     : (int64_t)va_arg(ap, int);
            uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
            put_u64(&w, mag, 10, v < 0);
            break;
        }
        case 'u':
        case 'x': {
            uint64_t v = size         ? (uint64_t)va_arg(ap, size_t)
                         : longs >= 2 ? (uint64_t)va_arg(ap, unsigned long long)
                         : longs == 1 ? (uint64_t)va_arg(ap, unsigned long)
                                      : (uint64_t)va_arg(ap, unsigned);
            put_u64(&w, v, *p == 'x' ? 16 : 10, false);
            break;
        }
        case 'g':
        case 'f': {
            char num[SLUNG_DOUBLE_CHARS_MAX];
            size_t k = slung_format_double(num, sizeof(num), va_arg(ap, double));
            put(&w, num, k);
            break;
        }
        default:
            /* Unsupported conversion: printed as written; stop at a trailing '%'. */
            if (*p == '\0') {
                put(&w, start, (size_t)(p - start));
                p--;
            } else {
                put(&w, start, (size_t)(p - start) + 1);
            }
            break;
        }
    }
    if (buf && n > 0) buf[w.len < n ? w.len : n - 1] = '\0';
    return w.len > INT32_MAX ? INT32_MAX : (int)w.len;
}

int slung_snprintf(char *buf, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = slung_vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return r;
}
