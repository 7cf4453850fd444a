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
    uint32_t last = 0;
    for (uint32_t e = 0; e < n_far; e++) {
        uint32_t i = sl_load_u16le(ex + 10 * (size_t)e);
        if (i >= n || (e > 0 && i <= last)) return SL_ECORRUPT;
        last = i;
        v[i] = u2f(sl_load_u64le(ex + 10 * (size_t)e + 2));
    }
    return 0;
}

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
    size_t xl = xor_encode(v, n, vp, vcap);
    if (xl && xl < best) {
        *len_out = 2 + tl + xl;
        out[1] = 3;
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
    default:
        return SL_ECORRUPT;
    }
}
