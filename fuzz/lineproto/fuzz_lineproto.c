/* fuzz_lineproto.c - libFuzzer target for the InfluxDB line protocol parser.
 * The first byte picks the precision; the rest is the body. Checks beyond "no
 * crash": a body is all or nothing (no point emitted on a parse error), every key
 * is a valid canonical key, and the count returned equals the points emitted.
 * Corpus: corpus/. */
#include "base/mem.h"
#include "base/serieskey.h"
#include "ingest/lineproto.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int emit(point_batch *b, void *arg) {
    uint64_t *points = arg;
    if (b->count == 0 || b->count > BATCH_POINTS_MAX) abort();
    for (uint32_t i = 0; i < b->count; i++) {
        uint32_t n;
        const uint8_t *k = point_batch_key(b, i, &n);
        sk_view name;
        sk_view tag;
        uint32_t count;
        sk_iter it;
        if (serieskey_open(k, n, &name, &count, &it) < 0 || name.n == 0) abort();
        int rc;
        while ((rc = serieskey_next_tag(&it, &tag)) > 0)
            if (tag.n == 0) abort();
        if (rc < 0) abort();
    }
    *points += b->count;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static lineproto_parser lp;
    static bool ready;
    if (!ready) {
        lineproto_limits l = {.line_bytes_max = 4096, .lines_max = 512, .tags_max = 8};
        if (lineproto_parser_init(&lp, &l) != 0) abort();
        ready = true;
    }
    if (size == 0) return 0;
    lineproto_precision prec = (lineproto_precision)(data[0] % 4);
    point_batch b;
    point_batch_init(&b);
    uint64_t points = 0;
    sl_diag d;
    long rc = lineproto_parse(&lp, data + 1, size - 1, prec, 123456789, &b, emit, &points, &d);
    if (rc < 0) {
        if (points != 0) abort();
        if (d.rc != rc || d.offset > size - 1 || strncmp(d.msg, "line ", 5) != 0) abort();
    } else if ((uint64_t)rc != points) {
        abort();
    }
    point_batch_free(&b);
    return 0;
}
