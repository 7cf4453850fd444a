/* storage.h - durable point storage: WAL, memtable, segments, series index.
 *
 * Contract (spec/storage.md):
 *  - storage_write() resolves each point's series (creating it), appends the batch
 *    to the WAL and inserts it into the memtable. On return the points are visible
 *    to reads; they are durable once storage_durable_seq() >= the batch's seq
 *    (b->seq), and the durable callback reports that from the WAL thread.
 *  - The same (series, timestamp) written twice keeps the last write, everywhere.
 *  - Late points are accepted at any age (retention aside).
 *  - storage_open() replays the WAL and loads segments and the index; damage is
 *    reported (file, offset/block) through the log and storage_check(), and the
 *    rest is served.
 * Threads: storage_write and storage_sync from one "apply" thread at a time;
 * reads (lookup, postings, aggregate, scan) from any thread concurrently with it.
 * Background flush, compaction and retention run on storage's own threads. */
#ifndef SL_STORAGE_H
#define SL_STORAGE_H

#include "base/batch.h"
#include "base/buf.h"
#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct storage storage;

/* ---- limits (STYLE rule 9) ---- */

/* Series the index accepts unless storage_opts.series_max says otherwise. A batch that
 * would create one more fails whole with SL_ELIMIT. The index costs about 170 bytes a
 * series (key, tables, postings) in memory; ceiling: ids are u32. */
#define STORAGE_SERIES_MAX_DEFAULT (10u * 1000u * 1000u)
#define STORAGE_SERIES_MAX_CEILING (UINT32_MAX - 1u)
/* Points per segment block. About 1,000 keeps one block decode (16 KiB) cheap for the
 * edges of a range while whole blocks aggregate from their summaries; a reader holds
 * one decoded block per segment it merges. Fixed by the segment format. */
#define STORAGE_BLOCK_POINTS_MAX 1024u
/* Longest canonical series key accepted (from a batch or from series.log). Longer keys
 * are refused with SL_EINVAL; ingest's own limits (u16 name and tags) come first. */
#define STORAGE_SERIES_KEY_BYTES_MAX (1u << 20)
/* A WAL file is closed and a new one started past this size (and at every flush), so
 * files whose points reached a segment can be deleted whole. */
#define STORAGE_WAL_FILE_BYTES_MAX (256u << 20)
/* Background compaction merges the newest size tier of segments into one once this
 * many exist, so a read merges at most this many segments plus two memtables (bounded
 * read amplification). */
#define STORAGE_SEGMENTS_COMPACT_AT 8u
/* Hard ceiling on segments in one directory; a flush that would pass it compacts first,
 * and opening a directory holding more fails with SL_ELIMIT. */
#define STORAGE_SEGMENTS_MAX 64u

typedef enum storage_fsync {
    STORAGE_FSYNC_BATCH = 0, /* group commit: at most fsync_interval_ms between fsyncs */
    STORAGE_FSYNC_ALWAYS,    /* fsync before the batch is durable, each write */
    STORAGE_FSYNC_NONE,      /* durable = written to the OS (survives kill -9, not power loss) */
} storage_fsync;

/* Called on the WAL thread when every batch with seq <= durable_seq is durable. It may
 * run until storage_close() returns (the final sync at close is reported too). */
typedef void (*storage_durable_cb)(uint64_t durable_seq, void *arg);

typedef struct storage_opts {
    const char *dir;                /* data directory; created if missing */
    storage_fsync fsync;            /* default STORAGE_FSYNC_BATCH */
    uint32_t fsync_interval_ms;     /* batch policy window; default 2 */
    uint64_t memtable_bytes_max;    /* flush to a segment past this; default 64 MiB */
    uint32_t memtable_age_ms_max;   /* or past this age; default 60000 */
    int64_t retention_ns;           /* drop data older than now - this; 0 = keep forever */
    uint32_t series_max;            /* refuse new series past this; 0 = STORAGE_SERIES_MAX_DEFAULT */
    storage_durable_cb durable_cb;  /* may be NULL */
    void *durable_arg;
    bool read_only;                 /* open for `slung check`/inspection: no WAL writes */
} storage_opts;

void storage_opts_default(storage_opts *o);

/* Opens (creating if needed) and recovers the directory. On failure *out = NULL and
 * d says why (missing permission, disk full, unreadable WAL header...). */
int storage_open(const storage_opts *opts, storage **out, sl_diag *d);
/* Flushes the WAL (fsync), stops background threads, frees everything. NULL ok. */
void storage_close(storage *st);

/* Apply thread. Fills b->series_id[] and b->seq. Visible on return. Errors leave
 * nothing of the batch applied (e.g. SL_ELIMIT when the series limit is hit,
 * -ENOSPC, -EIO), so the caller can report and keep running. */
int storage_write(storage *st, point_batch *b);
/* Highest seq durable under the fsync policy. Any thread. */
uint64_t storage_durable_seq(const storage *st);
/* Forces everything written so far to be durable (fsync) before returning. */
int storage_sync(storage *st);

/* ---- series index ---- */

/* Series id of a canonical key (base/serieskey.h), SL_ENOTFOUND if unknown. */
int storage_series_lookup(storage *st, const uint8_t *key, size_t n, uint32_t *id);
/* Appends the canonical key of series id to out. */
int storage_series_key(storage *st, uint32_t id, buf *out);
uint32_t storage_series_count(const storage *st);

/* A set of series ids, sorted ascending, unique. Caller-owned; free with
 * series_set_free. Operations write into out (which may alias neither input). */
typedef struct series_set {
    uint32_t *ids;
    uint32_t count;
    uint32_t cap;
} series_set;

void series_set_free(series_set *s);
int series_set_and(const series_set *a, const series_set *b, series_set *out);
int series_set_or(const series_set *a, const series_set *b, series_set *out);
int series_set_andnot(const series_set *a, const series_set *b, series_set *out);

/* Postings: every series with this name; every series with this name that carries
 * this tag (exact bytes). out is replaced. limit bounds the answer (SL_ELIMIT past
 * it) so a query cannot pin unbounded memory; 0 = no limit. */
int storage_postings_name(storage *st, const uint8_t *name, size_t n, uint32_t limit,
                          series_set *out);
int storage_postings_tag(storage *st, const uint8_t *name, size_t name_n, const uint8_t *tag,
                         size_t tag_n, uint32_t limit, series_set *out);

/* ---- reads ---- */

/* Running aggregate over points; merge-able, so blocks summarise into one. */
typedef struct storage_agg {
    uint64_t count;
    double sum;
    double sum_sq;   /* for STDDEV */
    double min;
    double max;
    int64_t first_ts;
    double first;    /* value at the smallest timestamp */
    int64_t last_ts;
    double last;     /* value at the largest timestamp */
} storage_agg;

void storage_agg_init(storage_agg *a);
void storage_agg_add(storage_agg *a, int64_t ts_ns, double v);
void storage_agg_merge(storage_agg *into, const storage_agg *from);

/* Aggregates series id over [t0_ns, t1_ns] (inclusive), each timestamp once (last
 * write wins), into *a (merged into what *a holds). Uses block summaries for whole
 * blocks. Any thread. */
int storage_aggregate(storage *st, uint32_t id, int64_t t0_ns, int64_t t1_ns, storage_agg *a);

/* Calls cb for every point of series id in [t0_ns, t1_ns] in timestamp order, each
 * timestamp once (last write wins). cb returns 0 to go on, non-zero to stop (that
 * value is returned). Any thread. */
typedef int (*storage_point_cb)(int64_t ts_ns, double value, void *arg);
int storage_scan(storage *st, uint32_t id, int64_t t0_ns, int64_t t1_ns, storage_point_cb cb,
                 void *arg);

/* ---- maintenance ---- */

/* Flushes the memtable to segments now (tests, shutdown). */
int storage_flush(storage *st);
/* Runs one retention pass and merges every segment into one, now (normally the
 * background thread merges size tiers). Returns once done. */
int storage_compact(storage *st);

/* Offline verification of a data directory (`slung check DIR`): writes one line per
 * problem (file, offset/block, what) and a summary to out. Returns 0 if clean,
 * SL_ECORRUPT if problems were found, <0 on other errors. Never modifies DIR. */
int storage_check(const char *dir, buf *out);

/* Figures for /health and /metrics. Any thread. */
typedef struct storage_stats {
    uint64_t points_written;
    uint64_t series;
    uint64_t wal_bytes;
    uint64_t segment_bytes;
    uint64_t segments;
    uint64_t fsyncs;
    uint64_t fsync_ns_total;
    uint64_t fsync_ns_max;
    uint64_t memtable_bytes;
    uint64_t corrupt_blocks;
} storage_stats;
void storage_get_stats(storage *st, storage_stats *out);

#endif
