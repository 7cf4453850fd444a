/* match.c - does a series' tag set satisfy a query's tag expression?
 *
 * Used by live queries for every ingested point that reaches a candidate query, so
 * it allocates nothing: tags are looked up in the canonical key (base/serieskey.h,
 * tags sorted and unique) by a linear walk, keys having few tags (ingest bounds
 * them by --tags-per-point-max). Recursion depth is bounded by QUERY_NODES_MAX
 * because children always have smaller indexes than their parent.
 * Threads: pure; any thread. */
#include "base/common.h"
#include "base/serieskey.h"
#include "query/query_internal.h"

#include <string.h>

static bool key_has_tag(const uint8_t *key, size_t n, const char *tag, uint32_t len) {
    sk_view name;
    uint32_t count;
    sk_iter it;
    if (serieskey_open(key, n, &name, &count, &it) < 0) return false;
    sk_view t;
    while (serieskey_next_tag(&it, &t) > 0) {
        if (t.n == len && memcmp(t.p, tag, len) == 0) return true;
    }
    return false;
}

static bool eval(const query *q, int idx, const uint8_t *key, size_t n) {
    SL_ASSERT(idx >= 0);
    SL_ASSERT((uint32_t)idx < q->node_count);
    const q_node *nd = &q->nodes[idx];
    switch (nd->kind) {
    case QN_TAG:
        return key_has_tag(key, n, q->text + nd->tag_off, nd->tag_len);
    case QN_NOT:
        return !eval(q, nd->left, key, n);
    case QN_AND:
        return eval(q, nd->left, key, n) && eval(q, nd->right, key, n);
    case QN_OR:
        return eval(q, nd->left, key, n) || eval(q, nd->right, key, n);
    case QN_ANDNOT:
        return eval(q, nd->left, key, n) && !eval(q, nd->right, key, n);
    }
    return false;
}

bool qmatch__key(const query *q, const uint8_t *key, size_t n) {
    sk_view name;
    uint32_t count;
    sk_iter it;
    if (serieskey_open(key, n, &name, &count, &it) < 0) return false;
    if (q->root < 0) return true;
    return eval(q, q->root, key, n);
}

/* A tag node every match must carry, or -1. */
static int required(const query *q, int idx) {
    const q_node *nd = &q->nodes[idx];
    switch (nd->kind) {
    case QN_TAG:
        return idx;
    case QN_AND: {
        int l = required(q, nd->left);
        return l >= 0 ? l : required(q, nd->right);
    }
    case QN_ANDNOT:
        return required(q, nd->left);
    case QN_NOT:
    case QN_OR:
        return -1;
    }
    return -1;
}

int qmatch__required_tag(const query *q, uint32_t *off, uint32_t *len) {
    if (q->root < 0) return 0;
    int idx = required(q, q->root);
    if (idx < 0) return 0;
    SL_ASSERT(q->nodes[idx].kind == QN_TAG);
    *off = q->nodes[idx].tag_off;
    *len = q->nodes[idx].tag_len;
    return 1;
}
