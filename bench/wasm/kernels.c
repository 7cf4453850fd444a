/* kernels.c - see kernels.h. Freestanding C (no libc) so the same file builds for
 * wasm32 with -nostdlib; integer overflow is avoided or done in unsigned arithmetic
 * so both builds agree bit for bit. */
#include "kernels.h"

#include <stddef.h>

/* ---- CoreMark-like: list processing, small-matrix integer math, a state machine
 * over text, and CRC-16 over the results (the mix CoreMark measures; our code). ---- */

typedef struct node {
    struct node *next;
    int16_t key;
    int16_t val;
} node;

static uint16_t crc16_step(uint16_t crc, uint8_t byte) {
    crc ^= byte;
    for (int i = 0; i < 8; i++)
        crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xa001) : (uint16_t)(crc >> 1);
    return crc;
}

static uint16_t crc16_u32(uint16_t crc, uint32_t v) {
    for (int i = 0; i < 4; i++)
        crc = crc16_step(crc, (uint8_t)(v >> (8 * i)));
    return crc;
}

static node *list_reverse(node *l) {
    node *prev = NULL;
    while (l) {
        node *n = l->next;
        l->next = prev;
        prev = l;
        l = n;
    }
    return prev;
}

/* Merge sort by val (or by key when by_key). */
static node *list_sort(node *l, int by_key) {
    int insize = 1;
    for (;;) {
        node *p = l;
        node *tail = NULL;
        int merges = 0;
        l = NULL;
        while (p) {
            merges++;
            node *q = p;
            int psize = 0;
            for (int i = 0; i < insize && q; i++) {
                psize++;
                q = q->next;
            }
            int qsize = insize;
            while (psize > 0 || (qsize > 0 && q)) {
                node *e;
                if (psize == 0) {
                    e = q;
                    q = q->next;
                    qsize--;
                } else if (qsize == 0 || !q) {
                    e = p;
                    p = p->next;
                    psize--;
                } else if ((by_key ? p->key - q->key : p->val - q->val) <= 0) {
                    e = p;
                    p = p->next;
                    psize--;
                } else {
                    e = q;
                    q = q->next;
                    qsize--;
                }
                if (tail)
                    tail->next = e;
                else
                    l = e;
                tail = e;
            }
            p = q;
        }
        if (tail) tail->next = NULL;
        if (merges <= 1) return l;
        insize *= 2;
    }
}

static uint16_t bench_list(uint16_t seed) {
    static node nodes[128];
    node *head = NULL;
    for (int i = 127; i >= 0; i--) {
        nodes[i].key = (int16_t)i;
        nodes[i].val = (int16_t)((i * 7919 + seed) & 0x3fff);
        nodes[i].next = head;
        head = &nodes[i];
    }
    uint16_t crc = 0;
    for (int round = 0; round < 4; round++) {
        int16_t want = (int16_t)((seed + round * 37) & 0x3fff);
        int found = 0;
        for (node *n = head; n; n = n->next)
            found += n->val == want || n->key == (want & 127);
        crc = crc16_u32(crc, (uint32_t)found);
        head = list_reverse(head);
        head = list_sort(head, round & 1);
        crc = crc16_u32(crc, (uint32_t)(uint16_t)head->val);
    }
    head = list_sort(head, 1);
    return crc16_u32(crc, (uint32_t)(uint16_t)head->next->key);
}

#define MAT 16

static uint16_t bench_matrix(uint16_t seed) {
    static int16_t a[MAT * MAT];
    static int16_t b[MAT * MAT];
    static int32_t c[MAT * MAT];
    for (int i = 0; i < MAT * MAT; i++) {
        a[i] = (int16_t)((i * 13 + seed) & 0xff);
        b[i] = (int16_t)((i * 7 - seed) & 0xff);
    }
    uint16_t crc = 0;
    for (int i = 0; i < MAT * MAT; i++)
        a[i] = (int16_t)(a[i] + 3);
    for (int i = 0; i < MAT * MAT; i++)
        c[i] = (int32_t)a[i] * 5;
    for (int i = 0; i < MAT; i++) {
        int32_t s = 0;
        for (int j = 0; j < MAT; j++)
            s += (int32_t)a[i * MAT + j] * b[j];
        c[i] = s;
    }
    for (int i = 0; i < MAT; i++)
        for (int j = 0; j < MAT; j++) {
            int32_t s = 0;
            for (int k = 0; k < MAT; k++)
                s += (int32_t)a[i * MAT + k] * b[k * MAT + j];
            c[i * MAT + j] = s;
        }
    for (int i = 0; i < MAT * MAT; i++)
        crc = crc16_u32(crc, (uint32_t)((c[i] >> 3) & 0xfff));
    return crc;
}

enum { S_START, S_INT, S_FRAC, S_EXP_SIGN, S_EXP, S_SIGN, S_INVALID, S_COUNT };

static uint16_t bench_state(uint16_t seed) {
    static const char text[] = "5012,1.23,-874,+122,7.0e3,0x1f,--5,3.14159,-0.5e-2,42,abc,"
                               "9999999,+.5,6e+7,1.,.,-,12e,88,0,-0,";
    uint32_t counts[S_COUNT] = {0};
    int state = S_START;
    for (int rep = 0; rep < 4; rep++) {
        for (const char *p = text; *p; p++) {
            char ch = (char)(*p ^ ((seed + rep) & 1 ? 0 : 0)); /* same text each time */
            if (ch == ',') {
                counts[state]++;
                state = S_START;
                continue;
            }
            int digit = ch >= '0' && ch <= '9';
            switch (state) {
            case S_START:
                state = digit                      ? S_INT
                        : (ch == '+' || ch == '-') ? S_SIGN
                        : ch == '.'                ? S_FRAC
                                                   : S_INVALID;
                break;
            case S_SIGN:
                state = digit ? S_INT : ch == '.' ? S_FRAC : S_INVALID;
                break;
            case S_INT:
                state = digit                      ? S_INT
                        : ch == '.'                ? S_FRAC
                        : (ch == 'e' || ch == 'E') ? S_EXP_SIGN
                                                   : S_INVALID;
                break;
            case S_FRAC:
                state = digit ? S_FRAC : (ch == 'e' || ch == 'E') ? S_EXP_SIGN : S_INVALID;
                break;
            case S_EXP_SIGN:
                state = digit || ch == '+' || ch == '-' ? S_EXP : S_INVALID;
                break;
            case S_EXP:
                state = digit ? S_EXP : S_INVALID;
                break;
            default:
                break;
            }
        }
    }
    uint16_t crc = seed;
    for (int i = 0; i < S_COUNT; i++)
        crc = crc16_u32(crc, counts[i]);
    return crc;
}

uint32_t b_coremark(int32_t iterations) {
    uint16_t crc = 0;
    for (int32_t i = 0; i < iterations; i++) {
        uint16_t seed = (uint16_t)(i * 31 + crc);
        crc = crc16_u32(crc, bench_list(seed));
        crc = crc16_u32(crc, bench_matrix(seed));
        crc = crc16_u32(crc, bench_state(seed));
    }
    return crc;
}

/* ---- fib: calls and returns ---- */

int32_t b_fib(int32_t n) {
    return n < 2 ? n : b_fib(n - 1) + b_fib(n - 2);
}

/* ---- CRC-32 (table driven) over a 64 KiB buffer, `rounds` times ---- */

uint32_t b_crc32(int32_t rounds) {
    static uint8_t buf[1 << 16];
    static uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    uint32_t seed = 12345;
    for (size_t i = 0; i < sizeof(buf); i++) {
        seed = seed * 1664525u + 1013904223u;
        buf[i] = (uint8_t)(seed >> 24);
    }
    uint32_t crc = 0;
    for (int32_t r = 0; r < rounds; r++) {
        crc = ~crc;
        for (size_t i = 0; i < sizeof(buf); i++)
            crc = table[(crc ^ buf[i]) & 0xff] ^ (crc >> 8);
        crc = ~crc;
    }
    return crc;
}

/* ---- mandelbrot: f64 arithmetic and branches ---- */

int32_t b_mandel(int32_t size) {
    int32_t inside = 0;
    for (int32_t y = 0; y < size; y++)
        for (int32_t x = 0; x < size; x++) {
            double cr = 2.5 * x / size - 2.0;
            double ci = 2.0 * y / size - 1.0;
            double zr = 0;
            double zi = 0;
            int32_t k = 0;
            while (k < 256 && zr * zr + zi * zi <= 4.0) {
                double t = zr * zr - zi * zi + cr;
                zi = 2.0 * zr * zi + ci;
                zr = t;
                k++;
            }
            inside += k;
        }
    return inside;
}

/* ---- matrix multiply: f64, memory-bound inner loop ---- */

int64_t b_matmul(int32_t n) {
    static double a[256 * 256];
    static double b[256 * 256];
    static double c[256 * 256];
    if (n > 256) n = 256;
    for (int32_t i = 0; i < n * n; i++) {
        a[i] = (double)(i % 17) * 0.25 - 2.0;
        b[i] = (double)(i % 13) * 0.5 + 0.125;
        c[i] = 0;
    }
    for (int32_t i = 0; i < n; i++)
        for (int32_t k = 0; k < n; k++) {
            double aik = a[i * n + k];
            for (int32_t j = 0; j < n; j++)
                c[i * n + j] += aik * b[k * n + j];
        }
    double t = 0;
    for (int32_t i = 0; i < n * n; i++)
        t += c[i];
    return (int64_t)t;
}

/* ---- Gorilla (Facebook's TSDB compression): timestamps as delta-of-delta, values as
 * XOR with the previous value, bit-packed. Encoded once; the benchmark is decoding. ---- */

#define GORILLA_POINTS 4096

typedef struct bitw {
    uint64_t *words;
    uint32_t bit;
} bitw;

typedef struct bitr {
    const uint64_t *words;
    uint32_t bit;
} bitr;

static void put_bits(bitw *w, uint64_t v, int n) {
    for (int i = n - 1; i >= 0; i--) {
        if ((v >> i) & 1) w->words[w->bit >> 6] |= 1ull << (63 - (w->bit & 63));
        w->bit++;
    }
}

static uint64_t get_bits(bitr *r, int n) {
    uint64_t v = 0;
    while (n > 0) {
        uint32_t off = r->bit & 63;
        int take = 64 - (int)off < n ? 64 - (int)off : n;
        uint64_t word = r->words[r->bit >> 6] << off;
        v = take == 64 ? word : (v << take) | (word >> (64 - take)); /* no shift by 64 */
        r->bit += (uint32_t)take;
        n -= take;
    }
    return v;
}

static uint64_t f64_bits(double d) {
    uint64_t b;
    __builtin_memcpy(&b, &d, 8);
    return b;
}

static double bits_f64(uint64_t b) {
    double d;
    __builtin_memcpy(&d, &b, 8);
    return d;
}

static uint64_t gorilla_buf[GORILLA_POINTS * 3];
static uint32_t gorilla_bits;

static void gorilla_encode(void) {
    bitw w = {gorilla_buf, 0};
    int64_t ts = 1700000000000;
    int64_t prev_delta = 0;
    uint64_t prev = f64_bits(20.0);
    int lead_prev = 64;
    int trail_prev = 0;
    uint32_t seed = 1;
    put_bits(&w, (uint64_t)ts, 64);
    put_bits(&w, prev, 64);
    for (int i = 1; i < GORILLA_POINTS; i++) {
        seed = seed * 1103515245u + 12345u;
        int64_t delta = 1000 + (int64_t)((seed >> 16) % 3) - 1; /* jittered 1 s */
        int64_t dod = delta - prev_delta;
        prev_delta = delta;
        if (dod == 0)
            put_bits(&w, 0, 1);
        else if (dod >= -63 && dod <= 64) {
            put_bits(&w, 2, 2);
            put_bits(&w, (uint64_t)(dod + 63), 7);
        } else if (dod >= -255 && dod <= 256) {
            put_bits(&w, 6, 3);
            put_bits(&w, (uint64_t)(dod + 255), 9);
        } else if (dod >= -2047 && dod <= 2048) {
            put_bits(&w, 14, 4);
            put_bits(&w, (uint64_t)(dod + 2047), 12);
        } else {
            put_bits(&w, 15, 4);
            put_bits(&w, (uint64_t)dod, 64);
        }
        double v = 20.0 + (double)((seed >> 8) % 64) * 0.25;
        uint64_t cur = f64_bits(v);
        uint64_t x = cur ^ prev;
        prev = cur;
        if (x == 0) {
            put_bits(&w, 0, 1);
            continue;
        }
        int lead = __builtin_clzll(x);
        int trail = __builtin_ctzll(x);
        if (lead > 31) lead = 31;
        if (lead >= lead_prev && trail >= trail_prev) {
            put_bits(&w, 2, 2);
            put_bits(&w, x >> trail_prev, 64 - lead_prev - trail_prev);
        } else {
            put_bits(&w, 3, 2);
            put_bits(&w, (uint64_t)lead, 5);
            put_bits(&w, (uint64_t)(64 - lead - trail - 1), 6);
            put_bits(&w, x >> trail, 64 - lead - trail);
            lead_prev = lead;
            trail_prev = trail;
        }
    }
    gorilla_bits = w.bit;
}

int64_t b_gorilla(int32_t rounds) {
    if (gorilla_bits == 0) gorilla_encode();
    int64_t check = 0;
    for (int32_t r = 0; r < rounds; r++) {
        bitr rd = {gorilla_buf, 0};
        int64_t ts = (int64_t)get_bits(&rd, 64);
        uint64_t prev = get_bits(&rd, 64);
        int64_t delta = 0;
        int lead_prev = 0;
        int mean_bits = 0;
        double sum = bits_f64(prev);
        for (int i = 1; i < GORILLA_POINTS; i++) {
            int64_t dod;
            if (get_bits(&rd, 1) == 0)
                dod = 0;
            else if (get_bits(&rd, 1) == 0)
                dod = (int64_t)get_bits(&rd, 7) - 63;
            else if (get_bits(&rd, 1) == 0)
                dod = (int64_t)get_bits(&rd, 9) - 255;
            else if (get_bits(&rd, 1) == 0)
                dod = (int64_t)get_bits(&rd, 12) - 2047;
            else
                dod = (int64_t)get_bits(&rd, 64);
            delta += dod;
            ts += delta;
            if (get_bits(&rd, 1) == 1) {
                if (get_bits(&rd, 1) == 1) {
                    lead_prev = (int)get_bits(&rd, 5);
                    mean_bits = (int)get_bits(&rd, 6) + 1;
                }
                int trail = 64 - lead_prev - mean_bits;
                prev ^= get_bits(&rd, mean_bits) << trail;
            }
            sum += bits_f64(prev);
        }
        check += ts + (int64_t)(sum * 4.0);
    }
    return check;
}

/* ---- JSON building: the event text a live query hands a workflow ---- */

static char *put_u64_text(char *p, uint64_t v) {
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static char *put_str(char *p, const char *s) {
    while (*s)
        *p++ = *s++;
    return p;
}

uint32_t b_json(int32_t events) {
    static char buf[256];
    uint32_t h = 2166136261u;
    uint64_t ts = 1709481600000000000ull;
    for (int32_t i = 0; i < events; i++) {
        char *p = buf;
        uint32_t centi = (uint32_t)(2000 + (i * 37) % 1500); /* value with 2 decimals */
        p = put_str(p, "{\"timestamp\":");
        p = put_u64_text(p, ts + (uint64_t)i * 1000000);
        p = put_str(p, ",\"value\":");
        p = put_u64_text(p, centi / 100);
        *p++ = '.';
        *p++ = (char)('0' + centi / 10 % 10);
        *p++ = (char)('0' + centi % 10);
        p = put_str(p, ",\"tags\":[\"sensor=");
        p = put_u64_text(p, (uint64_t)(i % 16));
        p = put_str(p, "\",\"unit=c\"],\"producers\":[");
        p = put_u64_text(p, (uint64_t)(i % 5 + 1));
        *p++ = ',';
        p = put_u64_text(p, (uint64_t)(i % 7 + 10));
        p = put_str(p, "]}");
        for (char *q = buf; q < p; q++)
            h = (h ^ (uint8_t)*q) * 16777619u;
    }
    return h;
}

#ifdef __wasm__
int32_t b_host_calls(int32_t n) {
    int32_t acc = 0;
    for (int32_t i = 0; i < n; i++)
        acc += bench_nop(i);
    return acc;
}
#endif
