/* batch.h - a batch of points in columnar form, the unit that flows
 * ingest -> storage (WAL, memtable) -> live queries without copying.
 *
 * Point i is (ts_ns[i], value[i], series key keys[key_off[i] .. +key_len[i]]).
 * series_id[i] is 0 until storage resolves it (storage_write fills it). Keys of
 * consecutive points of the same series share one copy (point_batch_add checks
 * the previous key), so a multi-point frame of one series stores its key once.
 * producer_id: the connection the batch came from (0 = write_event).
 * Ownership: a batch owns its arrays; whoever holds the pointer owns the batch.
 * Thread: one thread at a time; hand it over through a queue. */
#ifndef SL_BATCH_H
#define SL_BATCH_H

#include "base/mem.h"

#include <stddef.h>
#include <stdint.h>

/* Points in one batch. Bounds the memory one frame or HTTP body can pin before
 * it is applied (about 40 bytes a point plus keys); larger inputs are split by
 * the producer of the batch. */
#define BATCH_POINTS_MAX (64u * 1024u)

typedef struct point_batch {
    uint32_t count;       /* points in use */
    uint32_t cap;         /* points allocated */
    int64_t *ts_ns;       /* [cap] timestamp, ns since the Unix epoch */
    double *value;        /* [cap] */
    uint32_t *series_id;  /* [cap] 0 = not yet resolved by storage */
    uint32_t *key_off;    /* [cap] offset of point i's canonical key in keys */
    uint32_t *key_len;    /* [cap] length of that key */
    uint8_t *keys;        /* canonical series keys (base/serieskey.h) */
    size_t keys_len;      /* bytes used in keys */
    size_t keys_cap;      /* bytes allocated in keys */
    uint64_t producer_id; /* connection id; 0 for write_event */
    uint64_t seq;         /* set by storage: WAL sequence of this batch */
} point_batch;

void point_batch_init(point_batch *b);
void point_batch_free(point_batch *b);  /* frees arrays; b can be re-initialised */
void point_batch_reset(point_batch *b); /* count = 0, keeps allocations */

/* Appends one point; copies key unless it equals the previous point's key.
 * Returns 0, -ENOMEM, or SL_ELIMIT past BATCH_POINTS_MAX. */
int point_batch_add(point_batch *b, int64_t ts_ns, double value, const uint8_t *key,
                    uint32_t key_len);

/* Drops points from index count_keep on (used to undo a partially decoded frame). */
void point_batch_truncate(point_batch *b, uint32_t count_keep);

static inline const uint8_t *point_batch_key(const point_batch *b, uint32_t i, uint32_t *len) {
    *len = b->key_len[i];
    return b->keys + b->key_off[i];
}

#endif
