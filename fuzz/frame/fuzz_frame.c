/* fuzz_frame.c - libFuzzer target for the point frame decoder and the ack parser.
 * Checks beyond "no crash": a frame is accepted whole or not at all, every key it
 * produced is a valid canonical key (sorted, unique, non-empty tags) equal to what
 * serieskey_build makes of the point's tags (the decoder has a fast path for tags
 * sent sorted), and a decoded frame re-encodes to bytes that decode to the same
 * points. Corpus: corpus/. */
#include "base/mem.h"
#include "base/serieskey.h"
#include "ingest/frame.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_key(const uint8_t *k, uint32_t n) {
    sk_view name;
    sk_view tag;
    sk_view prev = {NULL, 0};
    uint32_t count;
    sk_iter it;
    if (serieskey_open(k, n, &name, &count, &it) < 0) abort();
    if (name.n == 0) abort();
    int rc;
    while ((rc = serieskey_next_tag(&it, &tag)) > 0) {
        if (tag.n == 0) abort();
        if (prev.p) {
            uint32_t m = SL_MIN(prev.n, tag.n);
            int c = memcmp(prev.p, tag.p, m);
            if (c > 0 || (c == 0 && prev.n >= tag.n)) abort(); /* sorted and unique */
        }
        prev = tag;
    }
    if (rc < 0) abort();
}

/* Walks a frame that decoded (so every length is in bounds) and checks point i's
 * key against serieskey_build of its tags as sent. */
static void check_keys_against_build(const uint8_t *data, size_t size, const point_batch *b) {
    size_t off = 0;
    uint32_t i = 1; /* the batch's point 0 was there before */
    buf k;
    buf_init(&k, MEM_MISC, 0);
    while (off < size) {
        sk_view name = {data + off + 20, sl_load_u16le(data + off + 16)};
        uint16_t tag_count = sl_load_u16le(data + off + 18);
        sk_view tags[8];
        sk_view scratch[8];
        if (tag_count > 8) abort(); /* the decoder's limit */
        off += 20 + name.n;
        for (uint16_t t = 0; t < tag_count; t++) {
            tags[t].n = sl_load_u16le(data + off);
            tags[t].p = data + off + 2;
            off += 2 + tags[t].n;
        }
        buf_reset(&k);
        if (serieskey_build(&k, name, tags, tag_count, scratch) != 0) abort();
        uint32_t n;
        const uint8_t *got = point_batch_key(b, i, &n);
        if (n != k.len || memcmp(got, k.p, n) != 0) abort();
        i++;
    }
    if (i != b->count || off != size) abort();
    buf_free(&k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static frame_decoder fd;
    static bool ready;
    if (!ready) {
        frame_limits l;
        frame_limits_default(&l);
        l.tags_per_point_max = 8; /* small, so the limit path is reachable */
        if (frame_decoder_init(&fd, &l) != 0) abort();
        ready = true;
    }
    point_batch b;
    point_batch_init(&b);
    /* A point already in the batch must survive a rejected frame untouched. */
    static const uint8_t key0[] = {1, 0, 'z', 0, 0};
    if (point_batch_add(&b, 7, 7.0, key0, sizeof key0) != 0) abort();
    sl_diag d;
    int rc = frame_decode(&fd, data, size, &b, &d);
    if (rc < 0) {
        if (b.count != 1 || b.ts_ns[0] != 7 || b.key_len[0] != sizeof key0) abort();
        if (d.rc != rc || d.offset > size || d.msg[0] == '\0') abort();
    } else {
        if (b.count < 2) abort();
        check_keys_against_build(data, size, &b);
        buf re;
        buf_init(&re, MEM_MISC, 0);
        for (uint32_t i = 1; i < b.count; i++) {
            uint32_t n;
            const uint8_t *k = point_batch_key(&b, i, &n);
            check_key(k, n);
            /* Re-encode from the canonical key. */
            sk_view name;
            uint32_t count;
            sk_iter it;
            sk_view tags[8];
            uint32_t t = 0;
            serieskey_open(k, n, &name, &count, &it);
            while (t < 8 && serieskey_next_tag(&it, &tags[t]) > 0)
                t++;
            if (frame_encode_point(&re, b.ts_ns[i], b.value[i], (const char *)name.p, name.n, tags,
                                   t) != 0)
                abort();
        }
        point_batch c;
        point_batch_init(&c);
        if (frame_decode(&fd, re.p, re.len, &c, NULL) != 0) abort();
        if (c.count != b.count - 1) abort();
        for (uint32_t i = 0; i < c.count; i++) {
            uint32_t n1;
            uint32_t n2;
            const uint8_t *k1 = point_batch_key(&c, i, &n1);
            const uint8_t *k2 = point_batch_key(&b, i + 1, &n2);
            if (n1 != n2 || memcmp(k1, k2, n1) != 0) abort();
            if (c.ts_ns[i] != b.ts_ns[i + 1]) abort();
            if (memcmp(&c.value[i], &b.value[i + 1], sizeof(double)) != 0) abort();
        }
        point_batch_free(&c);
        buf_free(&re);
    }
    point_batch_free(&b);
    uint64_t ack;
    (void)frame_parse_ack(data, size, &ack);
    return 0;
}
