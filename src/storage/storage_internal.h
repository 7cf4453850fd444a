/* storage_internal.h - what the files of src/storage share; only storage and its own
 * tests, fuzz targets and benchmark include this (STYLE rule 2). One section per file, in data-flow order:
 * series index -> WAL -> memtable -> codec -> segment -> read -> compaction.
 *
 * Locking (the choice the storage issue asks us to document): one writer-preferring
 * rwlock, storage.mu, guards every mutable in-memory structure (series index growth,
 * the active and the flushing memtable, the current segment set pointer). The apply
 * thread is the only mutator of the index and the active memtable, so it reads them
 * without the lock and takes it for writing only while it changes them (a batch
 * insert, a new series, a memtable swap). Readers hold it for reading only long
 * enough to copy the memtable points of one series in their range (or, for an
 * aggregate over memtable-only data, to fold them in place) and to take a reference
 * on the immutable segment set; the rest of a query runs unlocked on immutable,
 * reference-counted segments (RCU-like). */
#ifndef SL_STORAGE_INTERNAL_H
#define SL_STORAGE_INTERNAL_H

#include "base/buf.h"
#include "base/common.h"
#include "storage/storage.h"

#include <pthread.h>
#include <stdatomic.h>

/* ------------------------------------------------------------------ fileio.c */
/* Writes all n bytes, retrying short writes and EINTR. -errno on failure; an armed
 * FAULT_WRITE fails it as a full disk would (-ENOSPC). */
int storage__write_all(int fd, const void *p, size_t n);
/* Opens path with flags and reads its size. On failure logs and appends
 * "<path>: cannot open: <why>" to report (NULL ok) and returns -errno. */
int storage__open_sized(const char *path, int flags, buf *report, int *fd_out, size_t *size_out);

/* ------------------------------------------------------------------ limits */
/* The user-visible limits are in storage.h (STYLE rule 9); these follow from them. */

/* Largest WAL frame payload: one full batch (u32 id + i64 ts + f64 value a point). */
#define STORAGE_WAL_PAYLOAD_MAX (16u + (size_t)BATCH_POINTS_MAX * 20u)

/* ------------------------------------------------------------ series.c */

/* One slot: value and hash side by side, so a probe touches one cache line. */
typedef struct series_slot {
    uint32_t val;  /* id or posting index; 0 = empty */
    uint32_t hash; /* low 32 bits of the key hash */
} series_slot;

typedef struct series_key_ref {
    uint64_t off; /* key bytes in series_index.keys */
    uint32_t len; /* 0 = lost in a damaged log */
} series_key_ref;

typedef struct series_map {
    series_slot *slots; /* [cap] */
    uint32_t cap;       /* power of two */
    uint32_t used;      /* filled slots */
} series_map;

typedef struct series_posting {
    uint32_t *ids;    /* ascending (ids are created in order); NULL while n <= 1 */
    uint32_t one;     /* the only id while ids == NULL */
    uint32_t n;       /* ids in use */
    uint32_t cap;     /* ids allocated */
    uint64_t key_off; /* posting key bytes in series_index.pkeys */
    uint32_t key_len;
} series_posting;

/* The index: ids are dense from 1. Mutated by the apply thread under storage.mu
 * (write); read by anyone under storage.mu (read). */
typedef struct series_index {
    uint8_t *keys;           /* canonical keys back to back */
    uint64_t keys_len;       /* bytes used */
    uint64_t keys_cap;       /* bytes allocated */
    series_key_ref *key_ref; /* [ids_cap] where id's key is (index 0 unused) */
    uint32_t count;          /* highest id */
    uint32_t ids_cap;        /* entries allocated in key_off/key_len */
    uint32_t max;            /* refuse new series past this */
    series_map by_key;       /* key -> id */
    series_map by_pkey;      /* posting key -> posting index + 1 */
    series_posting *posts;   /* [posts_cap] */
    uint32_t posts_n;
    uint32_t posts_cap;
    uint8_t *pkeys; /* posting keys back to back */
    uint64_t pkeys_len;
    uint64_t pkeys_cap;
    int log_fd;                     /* series.log, -1 when read-only */
    uint64_t log_bytes;             /* valid bytes in the log */
    atomic_uint_fast64_t log_dirty; /* appended since the last fsync */
} series_index;

int series_index_init(series_index *ix, uint32_t max);
void series_index_free(series_index *ix);
int series_lookup(const series_index *ix, const uint8_t *key, size_t n, uint32_t *id);
bool series_key_get(const series_index *ix, uint32_t id, const uint8_t **key, uint32_t *n);
/* Batch creation (storage.c resolve_ids): records for all new series of a batch go to
 * the log in one write before any goes into memory, so a failed write changes nothing. */
#define SERIES_LOG_REC_HDR 12u /* bytes before the key in a series.log record */
uint32_t series_hash(const uint8_t *key, size_t n);
bool series_key_valid(const uint8_t *key, size_t n);
void series_log_record(buf *out, const uint8_t *key, size_t n, uint32_t id);
int series_log_append(series_index *ix, const uint8_t *p, size_t n);
void series_log_cut(series_index *ix, uint64_t bytes);
/* Adds key as id (== count + 1) in memory only; caller holds storage.mu for writing. */
int series_insert(series_index *ix, const uint8_t *key, size_t n, uint32_t id);
int series_postings(const series_index *ix, const uint8_t *pkey, size_t n, uint32_t limit,
                    series_set *out);
/* Loads dir/series.log (creating it unless read_only). Problems go to report. */
int series_log_open(series_index *ix, const char *dir, bool read_only, buf *report, sl_diag *d);
int series_log_sync(series_index *ix);

/* --------------------------------------------------------------- wal.c */

typedef struct wal wal;
/* Called for each valid frame during replay; payload validated already. */
typedef int (*wal_replay_cb)(uint64_t seq, uint32_t count, const uint8_t *ids, const uint8_t *ts,
                             const uint8_t *vals, void *arg);

/* Replays every WAL file of dir/wal in seq order (frames with seq <= skip_upto are
 * passed over), reports damage to report, truncates a torn tail unless read_only,
 * then (unless read_only) opens a fresh file for appends. */
int wal_open(const char *dir, bool read_only, uint64_t skip_upto, wal_replay_cb cb, void *arg,
             buf *report, wal **out, sl_diag *d);
void wal_close(wal *w);
/* Highest seq seen (replayed or appended). */
uint64_t wal_last_seq(const wal *w);
/* Apply thread: encodes and writes one frame (seq = last + 1) with write(2). On
 * failure the file is cut back to where it was and nothing counts. */
int wal_append(wal *w, const point_batch *b, uint64_t *seq_out);
/* fdatasync of the current file. Any thread; serialised with rotation. */
int wal_sync(wal *w, uint64_t *synced_upto);
/* Apply thread: starts a new file; returns the seq every older file stays at or below. */
int wal_rotate(wal *w, uint64_t *upto);
/* Deletes closed WAL files whose frames are all <= upto (they are in segments). */
void wal_drop_upto(wal *w, uint64_t upto);
uint64_t wal_bytes(const wal *w);
int wal_check_dir(const char *dir, uint32_t series_n, buf *report, uint64_t *frames_out);

/* ----------------------------------------------------------- memtable.c */

typedef struct memtab_series {
    int64_t *ts; /* [cap] sorted strictly ascending */
    double *v;   /* [cap] */
    uint32_t n;
    uint32_t cap;
    int64_t *late_ts; /* [late_cap] points older than ts[n-1], insertion order */
    double *late_v;
    uint32_t late_n;
    uint32_t late_cap;
    uint32_t pend_main; /* memtab_insert pass 1: points of this batch going to main */
    uint32_t pend_late; /* ... and to the late buffer */
    int64_t pend_last;  /* ... and the main run's last timestamp after them */
    bool pend_mark;     /* ... and this series is in memtab.touched */
} memtab_series;

typedef struct memtab {
    memtab_series **by_id; /* [ids_cap] NULL = no points */
    uint32_t ids_cap;
    uint64_t bytes;    /* approximate heap bytes */
    uint64_t points;   /* points inserted (duplicates included) */
    uint64_t seq_max;  /* highest WAL seq inserted */
    int64_t born_ns;   /* monotonic time of the first insert, 0 if empty */
    uint32_t *touched; /* memtab_reserve scratch: series ids of the batch, once each */
    uint32_t touched_cap;
} memtab;

void memtab_init(memtab *m);
void memtab_free(memtab *m);
/* Makes room for the points (-ENOMEM, nothing changes); then memtab_apply cannot
 * fail. memtab_insert does both. */
int memtab_reserve(memtab *m, uint32_t count, const uint32_t *ids, const int64_t *ts);
void memtab_apply(memtab *m, uint32_t count, const uint32_t *ids, const int64_t *ts,
                  const double *v, uint64_t seq);
int memtab_insert(memtab *m, uint32_t count, const uint32_t *ids, const int64_t *ts,
                  const double *v, uint64_t seq);
/* Visits series id's points sorted, last write wins (flush). Allocates scratch. */
typedef int (*memtab_visit_fn)(uint32_t id, const int64_t *ts, const double *v, uint32_t n,
                               void *arg);
int memtab_visit(const memtab *m, memtab_visit_fn fn, void *arg);
/* Copies series id's points in [t0, t1], sorted, last write wins, into out arrays
 * grown with mem_realloc (MEM_STORAGE). */
int memtab_copy_range(const memtab *m, uint32_t id, int64_t t0, int64_t t1, int64_t **ts,
                      double **v, uint32_t *n, uint32_t *cap);
bool memtab_is_empty(const memtab *m);
/* Folds series id's points in [t0, t1] into a straight from the sorted run; false (and
 * nothing added) if late points make a merge necessary. */
bool memtab_aggregate_sorted(const memtab *m, uint32_t id, int64_t t0, int64_t t1, storage_agg *a);

/* -------------------------------------------------------------- codec.c */

/* Encoded block sizes are bounded by this (raw fallback + headers). */
#define CODEC_BYTES_MAX (STORAGE_BLOCK_POINTS_MAX * 17u + 64u)

int codec_encode(const int64_t *ts, const double *v, uint32_t n, uint8_t *out, size_t cap,
                 size_t *len_out);
/* Decodes exactly n points; SL_ECORRUPT if the bytes do not hold them. */
int codec_decode(const uint8_t *p, size_t len, uint32_t n, int64_t *ts, double *v);

/* ------------------------------------------------------------ segment.c */

typedef struct seg_block {
    uint32_t series_id;
    uint32_t count;
    int64_t min_ts;
    int64_t max_ts;
    double sum;
    double sum_sq;
    double min;
    double max;
    double first;
    double last;
    uint64_t offset; /* of the block's encoded bytes in the file */
    uint32_t bytes;
    uint32_t crc; /* crc32c of the encoded bytes */
} seg_block;

typedef struct seg {
    atomic_int refs;
    char path[512];
    uint64_t id;             /* file number: newer segments have larger ids */
    uint64_t wal_seq_max;    /* every WAL frame <= this is in this or an older segment */
    uint64_t supersedes_min; /* a compaction result replaces the segment ids in */
    uint64_t supersedes;     /* [supersedes_min, supersedes]; 0..0 for a flush */
    int64_t min_ts;
    int64_t max_ts;
    const uint8_t *map; /* whole file, read-only mapping */
    size_t map_bytes;
    seg_block *blocks; /* [n_blocks] sorted by (series_id, min_ts) */
    uint32_t n_blocks;
    uint8_t *bad; /* [n_blocks] 1 = failed its checksum at open: skipped */
    uint32_t n_bad;
    atomic_bool obsolete; /* compacted away: unlink when the last reference goes */
} seg;

/* Streaming writer: blocks must arrive sorted by (series_id, ts). */
typedef struct seg_writer seg_writer;
int seg_writer_open(const char *dir, uint64_t id, uint64_t wal_seq_max, uint64_t supersedes_min,
                    uint64_t supersedes, seg_writer **out);
int seg_writer_add(seg_writer *w, uint32_t series_id, const int64_t *ts, const double *v,
                   uint32_t n);
/* Writes index and footer, fsyncs, renames into place, fsyncs dir. Frees w. */
int seg_writer_finish(seg_writer *w, uint64_t *bytes_out);
void seg_writer_abort(seg_writer *w);

/* Opens and validates; corrupt blocks are marked bad and reported. */
int seg_open(const char *path, buf *report, seg **out);
void seg_ref(seg *s);
void seg_unref(seg *s);
/* First block of series id (blocks [*lo, *hi)). */
void seg_series_blocks(const seg *s, uint32_t id, uint32_t *lo, uint32_t *hi);
int seg_block_decode(const seg *s, uint32_t i, int64_t *ts, double *v);
/* Parses "<16 hex>.seg" into its id. */
bool seg_name_parse(const char *name, uint64_t *id);

/* The immutable set readers see. Newest segment first. */
typedef struct seg_set {
    atomic_int refs;
    uint32_t n;
    seg *s[STORAGE_SEGMENTS_MAX];
} seg_set;

seg_set *seg_set_new(void);
void seg_set_unref(seg_set *set);

/* ------------------------------------------------------------ storage.c */

struct storage {
    storage_opts opts;
    char dir[512];
    int lock_fd;          /* dir/LOCK, flock()ed; -1 read-only */
    uint64_t compact_gen; /* compactions finished (bg_mu) */
    uint32_t *new_slots;  /* resolve_ids scratch (apply thread): batch-local table of */
    uint32_t new_cap;     /* new keys, point index + 1 per slot; power of two */
    uint32_t *new_first;  /* point index of each new key, in id order */
    uint32_t new_first_cap;
    buf new_log;         /* their series.log records */
    pthread_rwlock_t mu; /* see the top of this file */
    series_index ix;
    memtab *mem;   /* active: apply thread inserts */
    memtab *imm;   /* being flushed, read-only; NULL if none */
    seg_set *segs; /* current set; swapped under mu */
    wal *w;
    pthread_mutex_t apply_mu; /* one storage_write/flush swap at a time */
    pthread_mutex_t bg_mu;    /* guards the bg_* fields and compaction */
    pthread_cond_t bg_cond;
    pthread_t bg_thread;
    bool bg_running;
    bool bg_stop;
    bool bg_flush_wanted;
    bool bg_compact_wanted;
    bool bg_compact_full;      /* the wanted compaction merges everything */
    int bg_error;              /* last background failure, for stats/logs */
    pthread_cond_t flush_done; /* signalled when imm goes back to NULL */
    pthread_t wal_thread;
    bool wal_running;
    pthread_mutex_t wal_mu;
    pthread_cond_t wal_cond;
    bool wal_stop;
    atomic_uint_fast64_t written_seq;  /* last seq written to the WAL */
    atomic_uint_fast64_t durable_seq;  /* last seq durable under the policy */
    atomic_uint_fast64_t reported_seq; /* last seq given to durable_cb */
    uint64_t next_seg_id;
    atomic_uint_fast64_t points_written;
    atomic_uint_fast64_t fsyncs;
    atomic_uint_fast64_t fsync_ns_total;
    atomic_uint_fast64_t fsync_ns_max;
    atomic_uint_fast64_t corrupt_blocks;
};

/* compact.c: merges segments into one, dropping overwritten points and points older
 * than cutoff_ns (INT64_MIN = keep all): all of them if full, else the newest tier.
 * Runs on the background thread. */
int compact_run(storage *st, int64_t cutoff_ns, bool full);
/* flush: writes st->imm into a new segment (background thread). */
int compact_flush_imm(storage *st);
/* Merged iteration used by flush and compaction: every series' points, sorted. */

/* read.c: merged points of series id over the segments of set only (compaction). */
int storage__merge_segs(seg_set *set, uint32_t id, int64_t t0, int64_t t1, storage_point_cb cb,
                        void *arg);

#endif
