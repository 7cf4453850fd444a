/* batch.c - columnar point batch. Invariant: for i < count, key_off[i] + key_len[i]
 * <= keys_len, and keys_len <= keys_cap. */
#include "base/batch.h"
#include "base/common.h"
#include "base/err.h"

#include <errno.h>
#include <string.h>

void point_batch_init(point_batch *b) { memset(b, 0, sizeof(*b)); }

void point_batch_free(point_batch *b) {
    mem_free(MEM_INGEST, b->ts_ns);
    mem_free(MEM_INGEST, b->value);
    mem_free(MEM_INGEST, b->series_id);
    mem_free(MEM_INGEST, b->key_off);
    mem_free(MEM_INGEST, b->key_len);
    mem_free(MEM_INGEST, b->keys);
    memset(b, 0, sizeof(*b));
}

void point_batch_reset(point_batch *b) {
    b->count = 0;
    b->keys_len = 0;
    b->producer_id = 0;
    b->seq = 0;
}

static int grow_points(point_batch *b) {
    uint32_t cap = b->cap ? b->cap * 2 : 64;
    if (cap > BATCH_POINTS_MAX) cap = BATCH_POINTS_MAX;
    void *arrays[5] = {b->ts_ns, b->value, b->series_id, b->key_off, b->key_len};
    const size_t sizes[5] = {sizeof(int64_t), sizeof(double), sizeof(uint32_t),
                             sizeof(uint32_t), sizeof(uint32_t)};
    for (int i = 0; i < 5; i++) {
        void *np = mem_realloc(MEM_INGEST, arrays[i], (size_t)cap * sizes[i]);
        if (!np) {
            /* Arrays already grown keep their new size; cap stays old, so all is consistent. */
            b->ts_ns = i > 0 ? arrays[0] : b->ts_ns;
            b->value = i > 1 ? arrays[1] : b->value;
            b->series_id = i > 2 ? arrays[2] : b->series_id;
            b->key_off = i > 3 ? arrays[3] : b->key_off;
            return -ENOMEM;
        }
        arrays[i] = np;
    }
    b->ts_ns = arrays[0];
    b->value = arrays[1];
    b->series_id = arrays[2];
    b->key_off = arrays[3];
    b->key_len = arrays[4];
    b->cap = cap;
    return 0;
}

int point_batch_add(point_batch *b, int64_t ts_ns, double value, const uint8_t *key,
                    uint32_t key_len) {
    if (b->count >= BATCH_POINTS_MAX) return SL_ELIMIT;
    if (b->count == b->cap) {
        int rc = grow_points(b);
        if (rc < 0) return rc;
    }
    uint32_t i = b->count;
    if (i > 0 && b->key_len[i - 1] == key_len &&
        memcmp(b->keys + b->key_off[i - 1], key, key_len) == 0) {
        b->key_off[i] = b->key_off[i - 1];
    } else {
        if (b->keys_len + key_len > b->keys_cap) {
            size_t cap = b->keys_cap ? b->keys_cap : 1024;
            while (cap < b->keys_len + key_len) cap *= 2;
            uint8_t *np = mem_realloc(MEM_INGEST, b->keys, cap);
            if (!np) return -ENOMEM;
            b->keys = np;
            b->keys_cap = cap;
        }
        if (b->keys_len > UINT32_MAX - key_len) return SL_ELIMIT;
        memcpy(b->keys + b->keys_len, key, key_len);
        b->key_off[i] = (uint32_t)b->keys_len;
        b->keys_len += key_len;
    }
    b->key_len[i] = key_len;
    b->ts_ns[i] = ts_ns;
    b->value[i] = value;
    b->series_id[i] = 0;
    b->count = i + 1;
    return 0;
}

void point_batch_truncate(point_batch *b, uint32_t count_keep) {
    SL_ASSERT(count_keep <= b->count);
    if (count_keep == b->count) return;
    b->count = count_keep;
    /* Keys past the last kept point's key are garbage now; reclaim them. */
    size_t end = 0;
    if (count_keep > 0) end = (size_t)b->key_off[count_keep - 1] + b->key_len[count_keep - 1];
    b->keys_len = end;
}
