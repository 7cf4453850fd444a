/* query_test_util.h - helpers the tests of tests/query share: canonical series keys
 * and points built from a name and a NULL-terminated tag list (at most
 * QT_TAGS_MAX tags), as a producer's frame would give them (base/serieskey.h).
 * Header-only (static functions), included by one test file per executable. */
#ifndef SL_QUERY_TEST_UTIL_H
#define SL_QUERY_TEST_UTIL_H

#include "base/batch.h"
#include "base/buf.h"
#include "base/common.h"
#include "base/serieskey.h"

#include <string.h>

#define QT_TAGS_MAX 16

/* Appends the canonical key of name with tags (NULL-terminated, may be NULL) to b. */
static inline void qt_key(buf *b, const char *name, const char **tags) {
    sk_view tv[QT_TAGS_MAX];
    sk_view scratch[QT_TAGS_MAX];
    uint32_t n = 0;
    for (; tags && tags[n]; n++) {
        SL_ASSERT(n < QT_TAGS_MAX);
        tv[n] = (sk_view){(const uint8_t *)tags[n], (uint32_t)strlen(tags[n])};
    }
    SL_ASSERT(serieskey_build(b, (sk_view){(const uint8_t *)name, (uint32_t)strlen(name)}, tv, n,
                              scratch) == 0);
}

/* Appends one point of name with tags (NULL-terminated, may be NULL) to pb. */
static inline void add_point(point_batch *pb, const char *name, const char **tags, int64_t ts,
                             double v) {
    buf k;
    buf_init(&k, MEM_MISC, 0);
    qt_key(&k, name, tags);
    SL_ASSERT(point_batch_add(pb, ts, v, k.p, (uint32_t)k.len) == 0);
    buf_free(&k);
}

#endif
