/* codec.c - encoding of one block of points (timestamps and values) for segments.
 *
 * BLOCK ENCODING (covered by SEG_VERSION in segment.c: a change here bumps it). Bit streams
 * are LSB-first. n (1..STORAGE_BLOCK_POINTS_MAX) is stored in the segment index.
 *   0 u8 ts_mode | 1 u8 val_mode | timestamps | values
 * ts_mode 0, regular: i64 first | u64 delta (all deltas equal; 0 bits a point).
 * ts_mode 1, delta-of-delta: i64 first | u64 first delta | bit stream, one code per
 *   later point on zigzag(dod) (64-bit wrapping arithmetic, so any jump round-trips):
 *   bit 0 -> dod 0; bit 1 -> a 2-bit selector s (0: 7 bits, 1: 14 bits, 2: 24 bits,
 *   3: 64 bits) then zigzag(dod) in that many bits.
 * val_mode 0, raw: n x f64.
 * val_mode 1, constant: one f64 (all n values have the same bits).
 * val_mode 2, decimal (d = 0..15): 0 u8 d | 1 u8 w0 | 2 u8 w1 | 3 u8 w2 | 4 i64 k0 |
 *   12 u16 n_far | 14 u8 w_off | n_far x (u16 index, u64 bits) | bit stream: for points
 *   1..n-1, a 2-bit selector s (0..2) then zigzag(k_i - k_{i-1}) in w_s bits (w0 = 255:
 *   no selectors, every delta in w2 bits, cheaper when deltas have one size); then, if
 *   w_off > 0, for every point one bit and, if set, zigzag(ulp offset) in w_off bits.
 *   Value i = (double)k_i / 10^d with its ulp offset added to the bit pattern ("near"
 *   points: 6.0820000000000025 is 6.082 plus 2 ulps, common in real data); "far"
 *   points (NaN, inf, -0.0, anything else off the grid) are listed with raw bits and
 *   their k repeats the previous k. Lossless by construction: the encoder checks each
 *   value's reconstruction. Integer-valued data is d = 0.
 * val_mode 3, XOR (Gorilla): u64 first | per later value: '0' same bits; '10' XOR
 *   fits the previous window; '11' + 6-bit leading zeros + 6-bit (length - 1) + bits.
 * val_mode 4, decimal entropy-coded (added after version 1 shipped; blocks in modes
 *   0-3 are unchanged, so every older segment still reads; a binary from before mode 4
 *   reports mode-4 blocks as damaged, so no downgrade): the same k_i, near and far
 *   points as mode 2, residuals coded with rANS over static per-block frequencies.
 *   0 u8 d | 1 u8 pred | 2 u8 n_dict | 3 u8 has_off | 4 u16 n_far | 6 u16 bits_len |
 *   8 n_far x (u16 index, u64 bits) | bit stream, bits_len bytes | rANS bytes, to the end.
 *   pred: residual r_i = k_i - p_i with p_i = 0 (0), k_{i-1} (1) or 2k_{i-1} - k_{i-2}
 *   (2), p_0 = 0 and for pred 2 p_1 = k_0 (64-bit wrapping). Symbols of z = zigzag(r):
 *   0..3 are z itself; 4 + 2(c - 3) + b for c = bitlen(z) in 3..64, b the bit below the
 *   leading one, the c - 2 bits below it raw; 128 + j is dictionary entry j (a whole
 *   z). Offset symbols (has_off): 0 on the grid, else c = bitlen(zigzag(ulp offset))
 *   with c - 1 raw bits. Bit stream: n_dict entries (7-bit length, bits below the
 *   leading one); the value table, then (has_off) the offset table: 8-bit count of used
 *   symbols, per used symbol in order gamma(symbol - previous symbol) (previous = -1
 *   at first; gamma(x) = bitlen(x) - 1 zeros, a one, the bits below x's leading one)
 *   and its frequency (4-bit length, bits below the leading one); frequencies sum to
 *   4,096. Then, per point in order, its raw bits (value, then offset). rANS: 32-bit
 *   state, u32 initial state then bytes read forward; a symbol decodes as slot =
 *   x mod 4096, s with start_s <= slot < start_s + f_s, x = f_s (x >> 12) + slot -
 *   start_s, then bytes shifted in while x < 2^23. Per point: value symbol, then (if
 *   has_off) offset symbol. Valid iff the tables sum to 4,096, the final state is
 *   2^23 and every rANS byte is used.
 * The encoder tries each mode and keeps the smallest. The decoder checks every length
 * against the bytes it was given: corrupt input gives SL_ECORRUPT, never a read past
 * the end (fuzz/storage_codec).
 * Threads: pure functions. */
#include "storage/storage_internal.h"

#include <math.h>
#include <string.h>

#define DEC_DIGITS_MAX 15

/* Powers of ten up to 1e15 are exact doubles, so the scale never adds error. */
static const double pow10_tab[DEC_DIGITS_MAX + 1] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                                     1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

/* ---- bit streams ---- */

typedef struct bw {
    uint8_t *p;
    size_t cap;
    size_t len;    /* bytes completed */
    uint64_t acc;  /* pending bits, LSB first */
    unsigned nacc; /* pending bit count, < 8 between calls */
    bool overflow;
} bw;

static void bw_put32(bw *w, uint64_t v, unsigned k) {
    SL_ASSERT(k <= 32);
    if (k < 64) v &= k == 0 ? 0 : (~0ull >> (64 - k));
    w->acc |= v << w->nacc;
    w->nacc += k;
    while (w->nacc >= 8) {
        if (w->len < w->cap)
            w->p[w->len] = (uint8_t)w->acc;
        else
            w->overflow = true;
        w->len++;
        w->acc >>= 8;
        w->nacc -= 8;
    }
}

static void bw_put(bw *w, uint64_t v, unsigned k) {
    if (k > 32) {
        bw_put32(w, v & 0xFFFFFFFFu, 32);
        bw_put32(w, v >> 32, k - 32);
    } else {
        bw_put32(w, v, k);
    }
}

static void bw_flush(bw *w) {
    if (w->nacc > 0) bw_put32(w, 0, 8 - w->nacc);
}

typedef struct br {
    const uint8_t *p;
    size_t len;
    size_t pos; /* next byte to load */
    uint64_t acc;
    unsigned nacc;
    bool bad; /* read past the end */
} br;

static uint64_t br_get32(br *r, unsigned k) {
    while (r->nacc < k) {
        if (r->pos >= r->len) {
            r->bad = true;
            return 0;
        }
        r->acc |= (uint64_t)r->p[r->pos++] << r->nacc;
        r->nacc += 8;
    }
    uint64_t v = k == 0 ? 0 : r->acc & (~0ull >> (64 - k));
    r->acc = k == 64 ? 0 : r->acc >> k;
    r->nacc -= k;
    return v;
}

static uint64_t br_get(br *r, unsigned k) {
    if (k > 32) {
        uint64_t lo = br_get32(r, 32);
        return lo | br_get32(r, k - 32) << 32;
    }
    return br_get32(r, k);
}

static inline uint64_t zz(int64_t v) {
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static inline int64_t unzz(uint64_t u) {
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static unsigned bitlen(uint64_t u) {
    return u ? 64u - (unsigned)__builtin_clzll(u) : 0u;
}

static uint64_t f2u(double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}
static double u2f(uint64_t u) {
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* ---- timestamps ---- */

static const unsigned dod_width[4] = {7, 14, 24, 64};

static size_t ts_encode(const int64_t *ts, uint32_t n, uint8_t *out, size_t cap, uint8_t *mode) {
    SL_ASSERT(cap >= 16);
    sl_store_u64le(out, (uint64_t)ts[0]);
    uint64_t d0 = n > 1 ? (uint64_t)ts[1] - (uint64_t)ts[0] : 0;
    sl_store_u64le(out + 8, d0);
    bool regular = true;
    for (uint32_t i = 2; i < n && regular; i++)
        regular = (uint64_t)ts[i] - (uint64_t)ts[i - 1] == d0;
    if (regular) {
        *mode = 0;
        return 16;
    }
    *mode = 1;
    bw w = {.p = out + 16, .cap = cap - 16};
    uint64_t prev_d = d0;
    for (uint32_t i = 2; i < n; i++) {
        uint64_t d = (uint64_t)ts[i] - (uint64_t)ts[i - 1];
        uint64_t z = zz((int64_t)(d - prev_d));
        prev_d = d;
        if (z == 0) {
            bw_put(&w, 0, 1);
            continue;
        }
        unsigned s = 0;
        while (bitlen(z) > dod_width[s])
            s++;
        bw_put(&w, 1 | (uint64_t)s << 1, 3);
        bw_put(&w, z, dod_width[s]);
    }
    bw_flush(&w);
    if (w.overflow) return 0;
    return 16 + w.len;
}

static int ts_decode(uint8_t mode, const uint8_t *p, size_t len, uint32_t n, int64_t *ts,
                     size_t *used) {
    if (len < 16) return SL_ECORRUPT;
    ts[0] = (int64_t)sl_load_u64le(p);
    uint64_t d = sl_load_u64le(p + 8);
    if (mode == 0) {
        for (uint32_t i = 1; i < n; i++)
            ts[i] = (int64_t)((uint64_t)ts[i - 1] + d);
        *used = 16;
    } else if (mode == 1) {
        if (n > 1) ts[1] = (int64_t)((uint64_t)ts[0] + d);
        br r = {.p = p + 16, .len = len - 16};
        for (uint32_t i = 2; i < n; i++) {
            if (br_get(&r, 1)) {
                unsigned s = (unsigned)br_get(&r, 2);
                d += (uint64_t)unzz(br_get(&r, dod_width[s]));
            }
            ts[i] = (int64_t)((uint64_t)ts[i - 1] + d);
        }
        if (r.bad) return SL_ECORRUPT;
        *used = 16 + r.pos;
    } else {
        return SL_ECORRUPT;
    }
    /* Timestamps in a block are strictly ascending; anything else is damage. */
    for (uint32_t i = 1; i < n; i++)
        if (ts[i] <= ts[i - 1]) return SL_ECORRUPT;
    return 0;
}

/* ---- values: XOR ---- */

static size_t xor_encode(const double *v, uint32_t n, uint8_t *out, size_t cap) {
    if (cap < 8) return 0;
    uint64_t prev = f2u(v[0]);
    sl_store_u64le(out, prev);
    bw w = {.p = out + 8, .cap = cap - 8};
    unsigned lead = 65, trail = 0; /* no window yet */
    for (uint32_t i = 1; i < n; i++) {
        uint64_t cur = f2u(v[i]);
        uint64_t x = cur ^ prev;
        prev = cur;
        if (x == 0) {
            bw_put(&w, 0, 1);
            continue;
        }
        unsigned l = (unsigned)__builtin_clzll(x), t = (unsigned)__builtin_ctzll(x);
        if (l > 63) l = 63;
        if (lead <= 64 && l >= lead && t >= trail) {
            bw_put(&w, 1, 2); /* bits 1,0 -> '10' read LSB first as 1 then 0 */
            bw_put(&w, x >> trail, 64 - lead - trail);
        } else {
            bw_put(&w, 3, 2);
            unsigned len = 64 - l - t;
            bw_put(&w, l, 6);
            bw_put(&w, len - 1, 6);
            bw_put(&w, x >> t, len);
            lead = l;
            trail = t;
        }
    }
    bw_flush(&w);
    if (w.overflow) return 0;
    return 8 + w.len;
}

static int xor_decode(const uint8_t *p, size_t len, uint32_t n, double *v) {
    if (len < 8) return SL_ECORRUPT;
    uint64_t prev = sl_load_u64le(p);
    v[0] = u2f(prev);
    br r = {.p = p + 8, .len = len - 8};
    unsigned lead = 65, trail = 0;
    for (uint32_t i = 1; i < n; i++) {
        if (br_get(&r, 1) == 0) {
            v[i] = u2f(prev);
            continue;
        }
        uint64_t x;
        if (br_get(&r, 1) == 0) {
            if (lead > 64) return SL_ECORRUPT; /* reuse before any window */
            x = br_get(&r, 64 - lead - trail) << trail;
        } else {
            unsigned l = (unsigned)br_get(&r, 6);
            unsigned bits = (unsigned)br_get(&r, 6) + 1;
            if (l + bits > 64) return SL_ECORRUPT;
            unsigned t = 64 - l - bits;
            x = br_get(&r, bits) << t;
            lead = l;
            trail = t;
        }
        if (r.bad) return SL_ECORRUPT;
        prev ^= x;
        v[i] = u2f(prev);
    }
    return r.bad ? SL_ECORRUPT : 0;
}

/* ---- values: decimal ---- */

/* How v relates to the decimal grid at d digits. */
typedef enum dec_fit_kind { DEC_EXACT, DEC_NEAR, DEC_FAR } dec_fit_kind;

/* k = round(v * 10^d); EXACT if (double)k / 10^d has v's bits, NEAR if it is within
 * DEC_NEAR_MAX units in the last place of v (same sign: *off = bits(v) - bits(grid)),
 * which is what "0.1 + 0.2"-style arithmetic leaves in real data; FAR otherwise. */
#define DEC_NEAR_MAX 32767
static dec_fit_kind dec_fit(double v, unsigned d, int64_t *k, int64_t *off) {
    if (!isfinite(v)) return DEC_FAR;
    double s = v * pow10_tab[d];
    if (!(s > -9007199254740992.0 && s < 9007199254740992.0)) return DEC_FAR;
    int64_t r = llrint(s);
    uint64_t g = f2u((double)r / pow10_tab[d]);
    uint64_t u = f2u(v);
    *k = r;
    if (g == u) return DEC_EXACT;
    if ((g >> 63) != (u >> 63)) return DEC_FAR; /* -0.0 and sign flips */
    int64_t o = (int64_t)(u - g);
    if (o < -DEC_NEAR_MAX || o > DEC_NEAR_MAX) return DEC_FAR;
    *off = o;
    return DEC_NEAR;
}

typedef struct dec_plan {
    unsigned d;
    unsigned w[3];
    bool fixed;     /* every delta in w[2] bits, no selectors (w0 stored as 255) */
    unsigned w_off; /* bits of zigzag(ulp offset) in the near stream; 0 = no stream */
    uint32_t n_far;
    size_t bytes;
} dec_plan;

#define DEC_HDR 15u

/* Size in bytes of the decimal encoding at d, with its widths; 0 if unusable. */
static size_t dec_plan_make(const double *v, uint32_t n, unsigned d, dec_plan *pl) {
    uint32_t hist[65] = {0};
    int64_t prev = 0;
    uint32_t far = 0, near = 0;
    unsigned w_off = 0;
    for (uint32_t i = 0; i < n; i++) {
        int64_t k, off = 0;
        dec_fit_kind f = dec_fit(v[i], d, &k, &off);
        if (f == DEC_FAR) {
            far++;
            k = prev; /* a far exception repeats the previous k */
        } else if (f == DEC_NEAR) {
            near++;
            unsigned b = bitlen(zz(off));
            if (b > w_off) w_off = b;
        }
        if (i > 0) hist[bitlen(zz((int64_t)((uint64_t)k - (uint64_t)prev)))]++;
        prev = k;
    }
    if (far > UINT16_MAX) return 0;
    /* Choose w0 <= w1 <= w2 = max used width minimising 2 + width per value. */
    unsigned maxw = 0;
    for (unsigned b = 0; b <= 64; b++)
        if (hist[b]) maxw = b;
    uint64_t cum[66] = {0}; /* cum[b] = values with bitlen < b */
    for (unsigned b = 0; b <= 64; b++)
        cum[b + 1] = cum[b] + hist[b];
    uint64_t best = UINT64_MAX;
    unsigned bw0 = 0, bw1 = 0;
    for (unsigned a = 0; a <= maxw; a++) {
        for (unsigned b = a; b <= maxw; b++) {
            uint64_t c = cum[a + 1] * a + (cum[b + 1] - cum[a + 1]) * b +
                         (cum[maxw + 1] - cum[b + 1]) * maxw;
            if (c < best) {
                best = c;
                bw0 = a;
                bw1 = b;
            }
        }
    }
    uint64_t bits = best + 2ull * (n - 1);
    pl->d = d;
    pl->w[0] = bw0;
    pl->w[1] = bw1;
    pl->w[2] = maxw;
    pl->fixed = (uint64_t)maxw * (n - 1) <= bits;
    if (pl->fixed) bits = (uint64_t)maxw * (n - 1);
    pl->w_off = near ? w_off : 0;
    if (near) bits += n + (uint64_t)near * w_off;
    pl->n_far = far;
    pl->bytes = DEC_HDR + (size_t)far * 10 + (size_t)((bits + 7) / 8);
    return pl->bytes;
}

static size_t dec_encode(const double *v, uint32_t n, const dec_plan *pl, uint8_t *out,
                         size_t cap) {
    size_t hdr = DEC_HDR + (size_t)pl->n_far * 10;
    if (cap < hdr) return 0;
    out[0] = (uint8_t)pl->d;
    out[1] = pl->fixed ? 255 : (uint8_t)pl->w[0];
    out[2] = (uint8_t)pl->w[1];
    out[3] = (uint8_t)pl->w[2];
    sl_store_u16le(out + 12, (uint16_t)pl->n_far);
    out[14] = (uint8_t)pl->w_off;
    uint8_t *ex = out + DEC_HDR;
    bw w = {.p = out + hdr, .cap = cap - hdr};
    int64_t prev = 0;
    for (uint32_t i = 0; i < n; i++) {
        int64_t k, off;
        if (dec_fit(v[i], pl->d, &k, &off) == DEC_FAR) {
            sl_store_u16le(ex, (uint16_t)i);
            sl_store_u64le(ex + 2, f2u(v[i]));
            ex += 10;
            k = prev;
        }
        if (i == 0) {
            sl_store_u64le(out + 4, (uint64_t)k);
        } else {
            uint64_t z = zz((int64_t)((uint64_t)k - (uint64_t)prev));
            if (pl->fixed) {
                bw_put(&w, z, pl->w[2]);
            } else {
                unsigned b = bitlen(z);
                unsigned s = b <= pl->w[0] ? 0 : b <= pl->w[1] ? 1 : 2;
                bw_put(&w, s, 2);
                bw_put(&w, z, pl->w[s]);
            }
        }
        prev = k;
    }
    if (pl->w_off) {
        for (uint32_t i = 0; i < n; i++) {
            int64_t k, off = 0;
            if (dec_fit(v[i], pl->d, &k, &off) == DEC_NEAR) {
                bw_put(&w, 1, 1);
                bw_put(&w, zz(off), pl->w_off);
            } else {
                bw_put(&w, 0, 1);
            }
        }
    }
    bw_flush(&w);
    if (w.overflow) return 0;
    return hdr + w.len;
}

/* Both decimal modes store the values that no scaled integer reaches ("far") as
 * (u16 index, u64 bits) pairs in increasing index order; this puts them in place
 * over the placeholders the integer stream decoded. */
static int far_exceptions_apply(const uint8_t *ex, uint32_t n_far, uint32_t n, double *v) {
    uint32_t last = 0;
    for (uint32_t e = 0; e < n_far; e++) {
        uint32_t i = sl_load_u16le(ex + 10 * (size_t)e);
        if (i >= n || (e > 0 && i <= last)) return SL_ECORRUPT;
        last = i;
        v[i] = u2f(sl_load_u64le(ex + 10 * (size_t)e + 2));
    }
    return 0;
}

static int dec_decode(const uint8_t *p, size_t len, uint32_t n, double *v) {
    if (len < DEC_HDR) return SL_ECORRUPT;
    unsigned d = p[0];
    unsigned w[4] = {p[1], p[2], p[3], 64};
    bool fixed = w[0] == 255;
    if (fixed) w[0] = 0;
    unsigned w_off = p[14];
    if (d > DEC_DIGITS_MAX || w[0] > 64 || w[1] > 64 || w[2] > 64 || w_off > 17) return SL_ECORRUPT;
    int64_t k = (int64_t)sl_load_u64le(p + 4);
    uint32_t n_far = sl_load_u16le(p + 12);
    if (n_far > n || len - DEC_HDR < (size_t)n_far * 10) return SL_ECORRUPT;
    const uint8_t *ex = p + DEC_HDR;
    size_t hdr = DEC_HDR + (size_t)n_far * 10;
    br r = {.p = p + hdr, .len = len - hdr};
    double scale = pow10_tab[d];
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0) {
            unsigned s = fixed ? 2 : (unsigned)br_get(&r, 2);
            if (s == 3) return SL_ECORRUPT;
            k = (int64_t)((uint64_t)k + (uint64_t)unzz(br_get(&r, w[s])));
        }
        v[i] = (double)k / scale;
    }
    if (w_off) {
        for (uint32_t i = 0; i < n; i++) {
            if (br_get(&r, 1)) v[i] = u2f(f2u(v[i]) + (uint64_t)unzz(br_get(&r, w_off)));
        }
    }
    if (r.bad) return SL_ECORRUPT;
    return far_exceptions_apply(ex, n_far, n, v);
}

/* ---- values: decimal, entropy-coded (val_mode 4) ---- */

/* rANS (range asymmetric numeral systems) with static per-block frequencies summing
 * to ENT_M; 32-bit state kept in [RANS_L, 256 * RANS_L), renormalised a byte at a
 * time. The encoder runs backwards over the symbols, the decoder forwards. */
#define ENT_SCALE_BITS 12u
#define ENT_M (1u << ENT_SCALE_BITS)
#define RANS_L (1u << 23)
/* Residual symbols: 0..3 are zigzag residuals 0..3; from 4, two per bit length c in
 * 3..64 (the bit after the leading one), the c - 2 lower bits raw. Then up to
 * ENT_DICT_MAX dictionary symbols, each one whole residual (part of the format: a
 * decoder rejects more; 64 made NAB no smaller, 2.459 against 2.458 bytes/point). */
#define ENT_CLASS_SYMS 128u
#define ENT_DICT_MAX 32u
#define ENT_SYMS (ENT_CLASS_SYMS + ENT_DICT_MAX)
/* Offset symbols: 0 = on the grid, c = bit length (1..16) of zigzag(ulp offset). */
#define ENT_OFF_SYMS 17u
#define ENT_HDR 8u
/* A dictionary entry must be worth its table bits. */
#define ENT_DICT_MIN_COUNT 4u

typedef struct ent_table {
    uint16_t freq[ENT_SYMS];  /* 0 = symbol unused */
    uint16_t start[ENT_SYMS]; /* cumulative frequency before the symbol */
} ent_table;

static unsigned ent_class(uint64_t z, uint64_t *raw, unsigned *nraw) {
    if (z < 4) {
        *nraw = 0;
        *raw = 0;
        return (unsigned)z;
    }
    unsigned c = bitlen(z);
    *nraw = c - 2;
    *raw = z & (~0ull >> (64 - (c - 2)));
    return 4 + 2 * (c - 3) + (unsigned)((z >> (c - 2)) & 1);
}

static unsigned ent_off_sym(int64_t off) {
    return bitlen(zz(off)); /* |off| <= DEC_NEAR_MAX, so at most 16 */
}

/* Frequencies from counts: proportional, at least 1 for every used symbol, sum ENT_M. */
static void ent_normalize(const uint32_t *cnt, unsigned nsym, uint32_t total, ent_table *t) {
    SL_ASSERT(total > 0);
    uint32_t sum = 0;
    for (unsigned s = 0; s < nsym; s++) {
        uint32_t f = 0;
        if (cnt[s]) {
            f = (uint32_t)(((uint64_t)cnt[s] * ENT_M + total / 2) / total);
            if (f == 0) f = 1;
        }
        t->freq[s] = (uint16_t)f;
        sum += f;
    }
    while (sum != ENT_M) {
        unsigned big = 0;
        for (unsigned s = 1; s < nsym; s++)
            if (t->freq[s] > t->freq[big]) big = s;
        if (sum < ENT_M) {
            t->freq[big] = (uint16_t)(t->freq[big] + (ENT_M - sum));
            sum = ENT_M;
        } else {
            uint32_t take = sum - ENT_M;
            if (take > t->freq[big] - 1u) take = t->freq[big] - 1u;
            SL_ASSERT(take > 0); /* at most 160 symbols of ENT_M = 4096: one exceeds 1 */
            t->freq[big] = (uint16_t)(t->freq[big] - take);
            sum -= take;
        }
    }
    uint32_t c = 0;
    for (unsigned s = 0; s < nsym; s++) {
        t->start[s] = (uint16_t)c;
        c += t->freq[s];
    }
    SL_ASSERT(c == ENT_M);
}

/* Table in the bit stream: 8 bits used-symbol count, then per used symbol in order
 * gamma(gap + 1) (gap = symbols skipped) and its frequency as 4 bits of bit length
 * (1..13) then the bits below the leading one. */
static void gamma_put(bw *w, uint32_t x) {
    unsigned b = bitlen(x);
    bw_put(w, 0, b - 1);
    bw_put(w, 1, 1);
    bw_put(w, x, b - 1);
}

static uint32_t gamma_get(br *r) {
    unsigned zeros = 0;
    while (br_get(r, 1) == 0) {
        if (r->bad || ++zeros > 16) {
            r->bad = true;
            return 0;
        }
    }
    return (uint32_t)((1u << zeros) | br_get(r, zeros));
}

static void ent_table_put(bw *w, const ent_table *t, unsigned nsym) {
    unsigned used = 0;
    for (unsigned s = 0; s < nsym; s++)
        used += t->freq[s] > 0;
    bw_put(w, used, 8);
    int prev = -1;
    for (unsigned s = 0; s < nsym; s++) {
        if (!t->freq[s]) continue;
        gamma_put(w, (uint32_t)((int)s - prev));
        prev = (int)s;
        unsigned b = bitlen(t->freq[s]);
        bw_put(w, b, 4);
        bw_put(w, t->freq[s], b - 1);
    }
}

/* Reads a table and fills lut (slot -> symbol); false if it is not a valid table. */
static bool ent_table_get(br *r, ent_table *t, unsigned nsym, uint8_t *lut) {
    memset(t->freq, 0, sizeof t->freq);
    unsigned used = (unsigned)br_get(r, 8);
    if (used == 0 || used > nsym) return false;
    uint32_t sum = 0;
    int prev = -1;
    for (unsigned u = 0; u < used; u++) {
        uint32_t gap = gamma_get(r);
        unsigned b = (unsigned)br_get(r, 4);
        if (r->bad || b == 0 || b > ENT_SCALE_BITS + 1) return false;
        int s = prev + (int)gap;
        if (s >= (int)nsym) return false;
        uint32_t f = (1u << (b - 1)) | (uint32_t)br_get(r, b - 1);
        if (f > ENT_M - sum) return false;
        t->freq[s] = (uint16_t)f;
        t->start[s] = (uint16_t)sum;
        memset(lut + sum, (int)s, f);
        sum += f;
        prev = s;
    }
    return !r->bad && sum == ENT_M;
}

typedef struct rans_enc {
    uint8_t *buf; /* bytes are written backwards from buf + cap */
    size_t cap;   /* bytes at buf */
    size_t len;   /* bytes written, the last len of buf */
    uint32_t x;   /* state, in [RANS_L, 256 * RANS_L) between symbols */
} rans_enc;

static void rans_put(rans_enc *e, const ent_table *t, unsigned s) {
    uint32_t f = t->freq[s];
    SL_ASSERT(f > 0);
    uint32_t x_max = ((RANS_L >> ENT_SCALE_BITS) << 8) * f;
    while (e->x >= x_max) {
        SL_ASSERT(e->len < e->cap);
        e->buf[e->cap - ++e->len] = (uint8_t)e->x;
        e->x >>= 8;
    }
    e->x = ((e->x / f) << ENT_SCALE_BITS) + e->x % f + t->start[s];
}

typedef struct rans_dec {
    const uint8_t *p;   /* next byte to shift in */
    const uint8_t *end; /* one past the last rANS byte */
    uint32_t x;         /* state */
    bool bad;           /* ran out of bytes */
} rans_dec;

static inline unsigned rans_get(rans_dec *d, const ent_table *t, const uint8_t *lut) {
    uint32_t slot = d->x & (ENT_M - 1);
    unsigned s = lut[slot];
    d->x = t->freq[s] * (d->x >> ENT_SCALE_BITS) + slot - t->start[s];
    while (d->x < RANS_L) {
        if (d->p >= d->end) {
            d->bad = true;
            return s;
        }
        d->x = d->x << 8 | *d->p++;
    }
    return s;
}

static int64_t ent_predict(unsigned pred, const int64_t *k, uint32_t i) {
    if (pred == 0 || i == 0) return 0;
    if (pred == 1 || i == 1) return k[i - 1];
    return (int64_t)(2 * (uint64_t)k[i - 1] - (uint64_t)k[i - 2]);
}

/* A residual dictionary: the most frequent zigzag residuals (at least
 * ENT_DICT_MIN_COUNT times), most frequent first. */
typedef struct ent_dict {
    uint64_t z[ENT_DICT_MAX];     /* zigzag residuals */
    uint32_t count[ENT_DICT_MAX]; /* occurrences of z[j] in the block */
    unsigned n;                   /* entries used */
} ent_dict;

#define ENT_HASH_SLOTS (2 * STORAGE_BLOCK_POINTS_MAX)

static void ent_dict_build(const uint64_t *z, uint32_t n, ent_dict *dict) {
    static_assert((ENT_HASH_SLOTS & (ENT_HASH_SLOTS - 1)) == 0, "power of two");
    uint64_t key[ENT_HASH_SLOTS];
    uint16_t cnt[ENT_HASH_SLOTS];
    memset(cnt, 0, sizeof cnt);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t h = (uint32_t)((z[i] * 0x9E3779B97F4A7C15ull) >> 53) & (ENT_HASH_SLOTS - 1);
        while (cnt[h] && key[h] != z[i])
            h = (h + 1) & (ENT_HASH_SLOTS - 1);
        key[h] = z[i];
        cnt[h]++;
    }
    dict->n = 0;
    for (uint32_t h = 0; h < ENT_HASH_SLOTS; h++) {
        if (cnt[h] < ENT_DICT_MIN_COUNT) continue;
        /* Insertion into the top list, most frequent first; ties by value (stable). */
        unsigned pos = dict->n;
        while (pos > 0 && (dict->count[pos - 1] < cnt[h] ||
                           (dict->count[pos - 1] == cnt[h] && dict->z[pos - 1] > key[h])))
            pos--;
        if (pos >= ENT_DICT_MAX) continue;
        unsigned last = dict->n < ENT_DICT_MAX ? dict->n : ENT_DICT_MAX - 1;
        for (unsigned j = last; j > pos; j--) {
            dict->z[j] = dict->z[j - 1];
            dict->count[j] = dict->count[j - 1];
        }
        dict->z[pos] = key[h];
        dict->count[pos] = cnt[h];
        if (dict->n < ENT_DICT_MAX) dict->n++;
    }
}

static unsigned ent_symbol(uint64_t z, const ent_dict *dict, uint64_t *raw, unsigned *nraw) {
    for (unsigned j = 0; j < dict->n; j++) {
        if (dict->z[j] == z) {
            *nraw = 0;
            *raw = 0;
            return ENT_CLASS_SYMS + j;
        }
    }
    return ent_class(z, raw, nraw);
}

/* Estimated bits for n symbols with these counts (static code), raw bits and tables. */
static double ent_cost(const uint32_t *cnt, uint32_t n, uint64_t raw_bits, const ent_dict *dict) {
    double bits = (double)raw_bits;
    for (unsigned s = 0; s < ENT_SYMS; s++)
        if (cnt[s]) bits += (double)cnt[s] * log2((double)n / cnt[s]) + 14;
    for (unsigned j = 0; j < dict->n; j++)
        bits += 7 + bitlen(dict->z[j]);
    return bits;
}

/* Encodes v[0..n-1] in val_mode 4 at d digits into out; the size, 0 if it does not fit
 * or the block has more far values than the format holds. */
static size_t ent_encode(const double *v, uint32_t n, unsigned d, uint8_t *out, size_t cap) {
    int64_t k[STORAGE_BLOCK_POINTS_MAX];
    int16_t off[STORAGE_BLOCK_POINTS_MAX];
    uint64_t z[STORAGE_BLOCK_POINTS_MAX];
    uint8_t sym[STORAGE_BLOCK_POINTS_MAX];
    uint8_t osym[STORAGE_BLOCK_POINTS_MAX];
    uint8_t rbuf[4 * STORAGE_BLOCK_POINTS_MAX + 8];
    SL_ASSERT(n >= 1);
    SL_ASSERT(n <= STORAGE_BLOCK_POINTS_MAX);
    uint32_t far = 0, near = 0;
    int64_t prev = 0;
    for (uint32_t i = 0; i < n; i++) {
        int64_t o = 0;
        dec_fit_kind f = dec_fit(v[i], d, &k[i], &o);
        if (f == DEC_FAR) {
            far++;
            k[i] = prev;
            o = 0;
        }
        near += f == DEC_NEAR;
        off[i] = (int16_t)o;
        prev = k[i];
    }
    if (far > UINT16_MAX) return 0;
    size_t hdr = ENT_HDR + (size_t)far * 10;
    if (cap < hdr) return 0;
    /* The cheapest predictor, with or without a dictionary. */
    unsigned best_pred = 1;
    ent_dict best_dict = {.n = 0};
    double best = INFINITY;
    for (unsigned p = 0; p < 3; p++) {
        for (uint32_t i = 0; i < n; i++)
            z[i] = zz((int64_t)((uint64_t)k[i] - (uint64_t)ent_predict(p, k, i)));
        uint32_t cnt[ENT_SYMS] = {0};
        uint64_t raw_bits = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint64_t raw;
            unsigned nraw;
            cnt[ent_class(z[i], &raw, &nraw)]++;
            raw_bits += nraw;
        }
        ent_dict none = {.n = 0};
        double c0 = ent_cost(cnt, n, raw_bits, &none);
        ent_dict dict;
        ent_dict_build(z, n, &dict);
        double c1 = INFINITY;
        if (dict.n) {
            /* Dictionary hits leave their class symbols (and raw bits). */
            for (unsigned j = 0; j < dict.n; j++) {
                uint64_t raw;
                unsigned nraw;
                cnt[ent_class(dict.z[j], &raw, &nraw)] -= dict.count[j];
                raw_bits -= (uint64_t)nraw * dict.count[j];
                cnt[ENT_CLASS_SYMS + j] = dict.count[j];
            }
            c1 = ent_cost(cnt, n, raw_bits, &dict);
        }
        if (c0 < best) {
            best = c0;
            best_pred = p;
            best_dict = none;
        }
        if (c1 < best) {
            best = c1;
            best_pred = p;
            best_dict = dict;
        }
    }
    /* Symbols and counts. */
    uint32_t cnt[ENT_SYMS] = {0};
    uint32_t ocnt[ENT_OFF_SYMS] = {0};
    for (uint32_t i = 0; i < n; i++) {
        uint64_t raw;
        unsigned nraw;
        z[i] = zz((int64_t)((uint64_t)k[i] - (uint64_t)ent_predict(best_pred, k, i)));
        sym[i] = (uint8_t)ent_symbol(z[i], &best_dict, &raw, &nraw);
        cnt[sym[i]]++;
        osym[i] = (uint8_t)ent_off_sym(off[i]);
        ocnt[osym[i]]++;
    }
    ent_table t, ot;
    ent_normalize(cnt, ENT_SYMS, n, &t);
    if (near) ent_normalize(ocnt, ENT_OFF_SYMS, n, &ot);
    /* Header and far values. */
    out[0] = (uint8_t)d;
    out[1] = (uint8_t)best_pred;
    out[2] = (uint8_t)best_dict.n;
    out[3] = near ? 1 : 0;
    sl_store_u16le(out + 4, (uint16_t)far);
    uint8_t *ex = out + ENT_HDR;
    for (uint32_t i = 0; i < n; i++) {
        int64_t kk, o;
        if (dec_fit(v[i], d, &kk, &o) == DEC_FAR) {
            sl_store_u16le(ex, (uint16_t)i);
            sl_store_u64le(ex + 2, f2u(v[i]));
            ex += 10;
        }
    }
    /* Bit stream: dictionary, tables, then each point's raw bits in order. */
    bw w = {.p = out + hdr, .cap = cap - hdr};
    for (unsigned j = 0; j < best_dict.n; j++) {
        unsigned b = bitlen(best_dict.z[j]);
        bw_put(&w, b, 7);
        if (b > 1) bw_put(&w, best_dict.z[j], b - 1);
    }
    ent_table_put(&w, &t, ENT_SYMS);
    if (near) ent_table_put(&w, &ot, ENT_OFF_SYMS);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t raw = 0;
        unsigned nraw = 0;
        if (sym[i] < ENT_CLASS_SYMS) ent_class(z[i], &raw, &nraw);
        bw_put(&w, raw, nraw);
        if (near && osym[i] > 1) bw_put(&w, zz(off[i]), osym[i] - 1u);
    }
    bw_flush(&w);
    if (w.overflow || w.len > UINT16_MAX) return 0;
    sl_store_u16le(out + 6, (uint16_t)w.len);
    /* rANS, backwards: the decoder reads each point's value symbol then its offset. */
    rans_enc e = {.buf = rbuf, .cap = sizeof rbuf, .len = 0, .x = RANS_L};
    for (uint32_t i = n; i-- > 0;) {
        if (near) rans_put(&e, &ot, osym[i]);
        rans_put(&e, &t, sym[i]);
    }
    SL_ASSERT(e.len + 4 <= e.cap);
    e.len += 4;
    sl_store_u32le(rbuf + e.cap - e.len, e.x);
    size_t total = hdr + w.len + e.len;
    if (total > cap) return 0;
    memcpy(out + hdr + w.len, rbuf + e.cap - e.len, e.len);
    return total;
}

static int ent_decode(const uint8_t *p, size_t len, uint32_t n, double *v) {
    if (len < ENT_HDR) return SL_ECORRUPT;
    unsigned d = p[0], pred = p[1], n_dict = p[2], has_off = p[3];
    uint32_t n_far = sl_load_u16le(p + 4);
    size_t bits_len = sl_load_u16le(p + 6);
    if (d > DEC_DIGITS_MAX || pred > 2 || n_dict > ENT_DICT_MAX || has_off > 1 || n_far > n)
        return SL_ECORRUPT;
    size_t hdr = ENT_HDR + (size_t)n_far * 10;
    if (len < hdr || len - hdr < bits_len) return SL_ECORRUPT;
    br r = {.p = p + hdr, .len = bits_len};
    uint64_t dict[ENT_DICT_MAX];
    for (unsigned j = 0; j < n_dict; j++) {
        unsigned b = (unsigned)br_get(&r, 7);
        if (b > 64) return SL_ECORRUPT;
        dict[j] = b == 0 ? 0 : (1ull << (b - 1)) | br_get(&r, b - 1);
    }
    ent_table t, ot;
    uint8_t lut[ENT_M], olut[ENT_M];
    if (!ent_table_get(&r, &t, ENT_CLASS_SYMS + n_dict, lut)) return SL_ECORRUPT;
    if (has_off && !ent_table_get(&r, &ot, ENT_OFF_SYMS, olut)) return SL_ECORRUPT;
    rans_dec rd = {.p = p + hdr + bits_len, .end = p + len};
    if (rd.end - rd.p < 4) return SL_ECORRUPT;
    rd.x = sl_load_u32le(rd.p);
    rd.p += 4;
    if (rd.x < RANS_L || rd.x >= RANS_L << 8) return SL_ECORRUPT; /* the encoder's range */
    double scale = pow10_tab[d];
    int64_t k1 = 0, k2 = 0; /* k[i - 1], k[i - 2] */
    for (uint32_t i = 0; i < n; i++) {
        unsigned s = rans_get(&rd, &t, lut);
        uint64_t zv;
        if (s >= ENT_CLASS_SYMS) {
            zv = dict[s - ENT_CLASS_SYMS];
        } else if (s < 4) {
            zv = s;
        } else {
            unsigned c = (s - 4) / 2 + 3;
            zv = 1ull << (c - 1) | (uint64_t)((s - 4) & 1) << (c - 2) | br_get(&r, c - 2);
        }
        int64_t pr = pred == 0 || i == 0   ? 0
                     : pred == 1 || i == 1 ? k1
                                           : (int64_t)(2 * (uint64_t)k1 - (uint64_t)k2);
        int64_t k = (int64_t)((uint64_t)pr + (uint64_t)unzz(zv));
        k2 = k1;
        k1 = k;
        v[i] = (double)k / scale;
        if (has_off) {
            unsigned os = rans_get(&rd, &ot, olut);
            if (os > 0) {
                uint64_t oz = 1ull << (os - 1) | br_get(&r, os - 1);
                v[i] = u2f(f2u(v[i]) + (uint64_t)unzz(oz));
            }
        }
        if (rd.bad || r.bad) return SL_ECORRUPT;
    }
    /* The encoder started from RANS_L and every byte it wrote is consumed. */
    if (rd.x != RANS_L || rd.p != rd.end) return SL_ECORRUPT;
    return far_exceptions_apply(p + ENT_HDR, n_far, n, v);
}

#ifndef NDEBUG
/* Debug builds decode every entropy-coded block they write and compare the bits. */
static bool ent_check(const uint8_t *p, size_t len, const double *v, uint32_t n) {
    double back[STORAGE_BLOCK_POINTS_MAX];
    if (ent_decode(p, len, n, back) != 0) return false;
    return memcmp(back, v, n * sizeof(*v)) == 0;
}
#endif

/* ---- block ---- */

int codec_encode(const int64_t *ts, const double *v, uint32_t n, uint8_t *out, size_t cap,
                 size_t *len_out) {
    SL_ASSERT(n >= 1);
    SL_ASSERT(n <= STORAGE_BLOCK_POINTS_MAX);
    SL_ASSERT(cap >= CODEC_BYTES_MAX);
    uint8_t mode;
    size_t tl = ts_encode(ts, n, out + 2, cap - 2, &mode);
    SL_ASSERT(tl > 0); /* cap holds the worst case */
    out[0] = mode;
    uint8_t *vp = out + 2 + tl;
    size_t vcap = cap - 2 - tl;
    /* Constant? */
    bool constant = true;
    for (uint32_t i = 1; i < n && constant; i++)
        constant = f2u(v[i]) == f2u(v[0]);
    if (constant) {
        out[1] = 1;
        sl_store_u64le(vp, f2u(v[0]));
        *len_out = 2 + tl + 8;
        return 0;
    }
    size_t best = 8 * (size_t)n; /* raw */
    uint8_t best_mode = 0;
    dec_plan best_plan = {0};
    for (unsigned d = 0; d <= DEC_DIGITS_MAX; d++) {
        dec_plan pl;
        size_t b = dec_plan_make(v, n, d, &pl);
        if (b && b < best) {
            best = b;
            best_mode = 2;
            best_plan = pl;
        }
        if (b && pl.n_far == 0 && pl.w_off == 0) break; /* more digits only widen deltas */
    }
    /* The entropy-coded decimal mode at the decimal mode's digits. */
    uint8_t ent_buf[CODEC_BYTES_MAX];
    size_t el = 0;
    if (best_mode == 2) {
        el = ent_encode(v, n, best_plan.d, ent_buf, sizeof ent_buf);
        if (el && el < best) {
            best = el;
            best_mode = 4;
        }
    }
    size_t xl = xor_encode(v, n, vp, vcap);
    if (xl && xl < best) {
        *len_out = 2 + tl + xl;
        out[1] = 3;
        return 0;
    }
    if (best_mode == 4 && el <= vcap) {
        SL_DEBUG_ASSERT(ent_check(ent_buf, el, v, n));
        memcpy(vp, ent_buf, el);
        out[1] = 4;
        *len_out = 2 + tl + el;
        return 0;
    }
    if (best_mode == 2) {
        size_t dl = dec_encode(v, n, &best_plan, vp, vcap);
        if (dl) {
            out[1] = 2;
            *len_out = 2 + tl + dl;
            return 0;
        }
    }
    out[1] = 0;
    for (uint32_t i = 0; i < n; i++)
        sl_store_u64le(vp + 8 * (size_t)i, f2u(v[i]));
    *len_out = 2 + tl + 8 * (size_t)n;
    return 0;
}

int codec_decode(const uint8_t *p, size_t len, uint32_t n, int64_t *ts, double *v) {
    if (n == 0 || n > STORAGE_BLOCK_POINTS_MAX || len < 2) return SL_ECORRUPT;
    size_t used;
    int rc = ts_decode(p[0], p + 2, len - 2, n, ts, &used);
    if (rc < 0) return rc;
    const uint8_t *vp = p + 2 + used;
    size_t vl = len - 2 - used;
    switch (p[1]) {
    case 0:
        if (vl != 8 * (size_t)n) return SL_ECORRUPT;
        for (uint32_t i = 0; i < n; i++)
            v[i] = u2f(sl_load_u64le(vp + 8 * (size_t)i));
        return 0;
    case 1:
        if (vl != 8) return SL_ECORRUPT;
        for (uint32_t i = 0; i < n; i++)
            v[i] = u2f(sl_load_u64le(vp));
        return 0;
    case 2:
        return dec_decode(vp, vl, n, v);
    case 3:
        return xor_decode(vp, vl, n, v);
    case 4:
        return ent_decode(vp, vl, n, v);
    default:
        return SL_ECORRUPT;
    }
}
