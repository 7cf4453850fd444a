/* live.h - live queries: registered filters fed by every ingested point.
 *
 * live_register() parses a query and returns a handle (>= 1). live_feed() runs on
 * the apply thread after each batch is written; it finds the queries a point may
 * match through an index by series name and tag (not a scan of every query) and
 * folds the point into each matching query's pending event. live_poll() hands out
 * the pending event as the JSON of spec/query.md:
 *   {"timestamp":T,"value":V,"tags":["a=1"],"producers":[3,7]}
 * Points arriving between polls fold into one aggregate; span ranges keep a
 * sliding window in event time in bounded memory. Nothing grows without bound:
 * producers sets and windows have documented caps (see live.c).
 * Threads: feed from the apply thread; register/poll/unregister from any thread. */
#ifndef SL_LIVE_H
#define SL_LIVE_H

#include "base/batch.h"
#include "base/buf.h"
#include "base/err.h"

#include <stdint.h>

typedef struct live_registry live_registry;

int live_registry_new(uint32_t queries_max, live_registry **out);
void live_registry_free(live_registry *r);

/* Handle >= 1 in *handle; SL_EPARSE (d says where) or SL_ELIMIT. */
int live_register(live_registry *r, const char *text, size_t n, uint64_t *handle, sl_diag *d);
/* Removes the query and its pending event; SL_ENOTFOUND for an unknown handle. */
int live_unregister(live_registry *r, uint64_t handle);

/* Apply thread: b->series_id[] is filled and b->producer_id set. */
void live_feed(live_registry *r, const point_batch *b);

/* Appends the pending event's JSON to out and clears it: 1. If none is pending,
 * waits up to timeout_ms for one (0 = do not wait): 0 if none came.
 * SL_ENOTFOUND for an unknown handle. */
int live_poll(live_registry *r, uint64_t handle, uint32_t timeout_ms, buf *out);

uint32_t live_count(const live_registry *r);

/* Verifies the registry's invariants (live.c): every registered query is in exactly
 * one index bucket and its slot; bucket reference counts add up. O(queries); for tests
 * and debugging. 0 if consistent, SL_ECORRUPT (and a log line) otherwise. */
int live_registry_check(live_registry *r);

#endif
