/* serieskey.c - canonical series keys: build, read, format. */
#include "base/serieskey.h"
#include "base/common.h"

#include <stdlib.h>
#include <string.h>

static int view_cmp(const void *a, const void *b) {
    const sk_view *x = a;
    const sk_view *y = b;
    uint32_t n = x->n < y->n ? x->n : y->n;
    int c = n ? memcmp(x->p, y->p, n) : 0;
    if (c) return c;
    return (x->n > y->n) - (x->n < y->n);
}

int serieskey_build(buf *out, sk_view name, const sk_view *tags, uint32_t tag_count,
                    sk_view *scratch) {
    if (name.n > 0xffff) return SL_ELIMIT;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < tag_count; i++) {
        if (tags[i].n == 0) continue;
        if (tags[i].n > 0xffff) return SL_ELIMIT;
        scratch[kept++] = tags[i];
    }
    /* Insertion sort for the common few tags; qsort beyond. */
    if (kept <= 16) {
        for (uint32_t i = 1; i < kept; i++) {
            sk_view v = scratch[i];
            uint32_t j = i;
            while (j > 0 && view_cmp(&scratch[j - 1], &v) > 0) {
                scratch[j] = scratch[j - 1];
                j--;
            }
            scratch[j] = v;
        }
    } else {
        qsort(scratch, kept, sizeof(*scratch), view_cmp);
    }
    uint32_t unique = 0;
    for (uint32_t i = 0; i < kept; i++)
        if (unique == 0 || view_cmp(&scratch[unique - 1], &scratch[i]) != 0)
            scratch[unique++] = scratch[i];
    uint8_t len2[2];
    sl_store_u16le(len2, (uint16_t)name.n);
    buf_append(out, len2, 2);
    buf_append(out, name.p, name.n);
    sl_store_u16le(len2, (uint16_t)unique);
    buf_append(out, len2, 2);
    for (uint32_t i = 0; i < unique; i++) {
        sl_store_u16le(len2, (uint16_t)scratch[i].n);
        buf_append(out, len2, 2);
        buf_append(out, scratch[i].p, scratch[i].n);
    }
    return buf_failed(out) ? -12 /* -ENOMEM */ : 0;
}

int serieskey_open(const uint8_t *key, size_t n, sk_view *name, uint32_t *tag_count, sk_iter *it) {
    if (n < 4) return SL_ECORRUPT;
    uint16_t nl = sl_load_u16le(key);
    if ((size_t)nl + 4 > n) return SL_ECORRUPT;
    name->p = key + 2;
    name->n = nl;
    *tag_count = sl_load_u16le(key + 2 + nl);
    it->p = key + 4 + nl;
    it->end = key + n;
    it->left = *tag_count;
    return 0;
}

int serieskey_next_tag(sk_iter *it, sk_view *tag) {
    if (it->left == 0) return it->p == it->end ? 0 : SL_ECORRUPT;
    if (it->end - it->p < 2) return SL_ECORRUPT;
    uint16_t tl = sl_load_u16le(it->p);
    if (it->end - it->p - 2 < tl) return SL_ECORRUPT;
    tag->p = it->p + 2;
    tag->n = tl;
    it->p += 2 + tl;
    it->left--;
    return 1;
}

int serieskey_format(buf *out, const uint8_t *key, size_t n) {
    sk_view name;
    sk_view tag;
    uint32_t count;
    sk_iter it;
    int rc = serieskey_open(key, n, &name, &count, &it);
    if (rc < 0) return rc;
    buf_append(out, name.p, name.n);
    while ((rc = serieskey_next_tag(&it, &tag)) > 0) {
        buf_putc(out, ',');
        buf_append(out, tag.p, tag.n);
    }
    return rc;
}
