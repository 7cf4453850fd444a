/* fuzz_query.c - libFuzzer target for the query parser (src/query/parse.c).
 * Any input either parses or fails with SL_EPARSE and a column inside the text
 * (or just past it); a parsed query's tag expression is then evaluated against a
 * series key built from the query's own tags, exercising match.c, and registered as a
 * live query that is fed, polled and removed (live.c). Never crashes. */
#include "base/buf.h"
#include "base/common.h"
#include "base/serieskey.h"
#include "query/live.h"
#include "query/query_internal.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    query *q = NULL;
    sl_diag d;
    sl_diag_clear(&d);
    int rc = query_parse((const char *)data, size, 1700000000000000000ll, &q, &d);
    if (rc < 0) {
        SL_ASSERT(rc == SL_EPARSE || rc == -12 /* -ENOMEM */);
        SL_ASSERT(q == NULL);
        if (rc == SL_EPARSE) SL_ASSERT(d.offset >= 1);
        return 0;
    }
    SL_ASSERT(q != NULL);
    SL_ASSERT(q->t0_ns <= q->t1_ns);
    /* Evaluate against tags taken from the query's own tag words. */
    sk_view tags[8];
    sk_view scratch[8];
    uint32_t n = 0;
    for (uint32_t i = 0; i < q->node_count && n < 8; i++)
        if (q->nodes[i].kind == QN_TAG && (size & (1u << (i % 8))))
            tags[n++] =
                (sk_view){(const uint8_t *)q->text + q->nodes[i].tag_off, q->nodes[i].tag_len};
    buf key;
    buf_init(&key, MEM_MISC, 0);
    if (serieskey_build(&key, (sk_view){(const uint8_t *)q->text + q->name_off, q->name_len}, tags,
                        n, scratch) == 0)
        (void)qmatch__key(q, key.p, key.len);
    uint32_t off;
    uint32_t len;
    (void)qmatch__required_tag(q, &off, &len);
    /* The same text as a live query, fed that key twice and polled, then removed. */
    static live_registry *reg;
    if (!reg) SL_ASSERT(live_registry_new(16, &reg) == 0);
    uint64_t h;
    if (key.len > 0 && live_register(reg, (const char *)data, size, &h, &d) == 0) {
        point_batch b;
        point_batch_init(&b);
        b.producer_id = size;
        if (point_batch_add(&b, (int64_t)size * 1000, (double)size, key.p, (uint32_t)key.len) ==
                0 &&
            point_batch_add(&b, -(int64_t)size, 0.5, key.p, (uint32_t)key.len) == 0 &&
            point_batch_add(&b, INT64_MIN, -1, key.p, (uint32_t)key.len) == 0 &&
            point_batch_add(&b, INT64_MAX, 1e308, key.p, (uint32_t)key.len) == 0)
            live_feed(reg, &b);
        point_batch_free(&b);
        buf ev;
        buf_init(&ev, MEM_MISC, 0);
        SL_ASSERT(live_poll(reg, h, 0, &ev) >= 0);
        buf_free(&ev);
        SL_ASSERT(live_unregister(reg, h) == 0);
        SL_ASSERT(live_count(reg) == 0);
    }
    buf_free(&key);
    query_free(q);
    return 0;
}
