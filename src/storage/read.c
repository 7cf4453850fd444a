/* read.c - storage_aggregate and storage_scan: one series over a time range, merged
 * across the active memtable, the flushing memtable and every segment.
 *
 * A read takes a snapshot under storage.mu (read): it copies the memtable points of
 * the series in range (sorted, deduplicated) and takes a reference on the segment
 * set; then it runs unlocked. Sources are ranked newest first (active memtable,
 * flushing memtable, segments by descending id); within one source, points and blocks
 * are sorted and do not overlap. The merge repeatedly takes the smallest head
 * timestamp; on a tie the newest source wins and the others skip that timestamp
 * (last write wins). A source's head before its current block is decoded is the
 * block's min_ts (exact). A whole block inside the range whose [min_ts, max_ts] no
 * other source reaches into is folded from its summary without decoding it.
 * Fast path (aggregate): when only the active memtable holds the series in range and
 * its run has no late points, the points are folded in place under the read lock.
 * Retention: points older than now - retention_ns are invisible even before
 * compaction removes them.
 * Memory: one decoded block per segment source (16 KiB) and the memtable copy, per
 * call. Threads: any. */
#include "base/clock.h"
#include "base/mem.h"
#include "storage/storage_internal.h"

#include <errno.h>
#include <string.h>

typedef struct rsrc {
    /* memtable source: a decoded run; segment source: blocks [blk, blk_end) */
    const seg *sg;
    uint32_t blk;
    uint32_t blk_end;
    bool decoded; /* ts/v hold the current block (or the memtable run) */
    const int64_t *ts;
    const double *v;
    uint32_t n;
    uint32_t pos;
    int64_t *tsbuf; /* [STORAGE_BLOCK_POINTS_MAX] for segment sources */
    double *vbuf;
} rsrc;

typedef struct rsnap {
    seg_set *set;
    int64_t *mts[2];
    double *mv[2];
    uint32_t mn[2];
    uint32_t mcap[2];
    rsrc *src;
    uint32_t n_src;
    int64_t *blockbuf; /* one allocation for every segment source's buffers */
} rsnap;

static void snap_free(rsnap *s) {
    for (int i = 0; i < 2; i++) {
        mem_free(MEM_STORAGE, s->mts[i]);
        mem_free(MEM_STORAGE, s->mv[i]);
    }
    if (s->set) seg_set_unref(s->set);
    mem_free(MEM_STORAGE, s->src);
    mem_free(MEM_STORAGE, s->blockbuf);
}

/* Skips bad blocks and blocks entirely before t0. */
static void src_seek_block(rsrc *r, int64_t t0) {
    while (r->blk < r->blk_end && (r->sg->bad[r->blk] || r->sg->blocks[r->blk].max_ts < t0))
        r->blk++;
    r->decoded = false;
}

static bool src_done(const rsrc *r) {
    if (r->sg == NULL) return r->pos >= r->n;
    return r->blk >= r->blk_end;
}

static int64_t src_head(const rsrc *r) {
    if (r->decoded) return r->ts[r->pos];
    return r->sg->blocks[r->blk].min_ts;
}

static int src_decode(rsrc *r, int64_t t0) {
    int rc = seg_block_decode(r->sg, r->blk, r->tsbuf, r->vbuf);
    if (rc < 0) return rc;
    r->ts = r->tsbuf;
    r->v = r->vbuf;
    r->n = r->sg->blocks[r->blk].count;
    r->pos = 0;
    while (r->pos < r->n && r->ts[r->pos] < t0)
        r->pos++;
    r->decoded = true;
    return 0;
}

/* Moves past the current point. */
static void src_next(rsrc *r, int64_t t0) {
    r->pos++;
    if (r->sg && r->pos >= r->n) {
        r->blk++;
        src_seek_block(r, t0);
    }
}

static int snap_take(storage *st, uint32_t id, int64_t t0, int64_t t1, rsnap *s) {
    memset(s, 0, sizeof(*s));
    pthread_rwlock_rdlock(&st->mu);
    int rc = memtab_copy_range(st->mem, id, t0, t1, &s->mts[0], &s->mv[0], &s->mn[0], &s->mcap[0]);
    if (rc == 0 && st->imm)
        rc = memtab_copy_range(st->imm, id, t0, t1, &s->mts[1], &s->mv[1], &s->mn[1], &s->mcap[1]);
    s->set = st->segs;
    atomic_fetch_add(&s->set->refs, 1);
    pthread_rwlock_unlock(&st->mu);
    if (rc < 0) return rc;
    uint32_t nseg = s->set->n;
    s->src = mem_calloc(MEM_STORAGE, 2 + nseg, sizeof(*s->src));
    if (!s->src) return -ENOMEM;
    /* Count the segments that hold this series in range, to size the buffers. */
    uint32_t need = 0;
    for (uint32_t i = 0; i < nseg; i++) {
        const seg *g = s->set->s[i];
        if (g->n_blocks == 0 || g->max_ts < t0 || g->min_ts > t1) continue;
        rsrc *r = &s->src[s->n_src];
        r->sg = g;
        seg_series_blocks(g, id, &r->blk, &r->blk_end);
        src_seek_block(r, t0);
        if (src_done(r)) continue;
        if (g->blocks[r->blk].min_ts > t1) continue;
        s->n_src++;
        need++;
    }
    /* Memtables go first (newest), so shift segment sources down by two slots. */
    memmove(s->src + 2, s->src, (size_t)s->n_src * sizeof(*s->src));
    memset(s->src, 0, 2 * sizeof(*s->src));
    for (int i = 0; i < 2; i++) {
        s->src[i].ts = s->mts[i];
        s->src[i].v = s->mv[i];
        s->src[i].n = s->mn[i];
        s->src[i].decoded = true;
    }
    s->n_src += 2;
    if (need > 0) {
        size_t per = STORAGE_BLOCK_POINTS_MAX;
        s->blockbuf = mem_alloc(MEM_STORAGE, (size_t)need * per * 16);
        if (!s->blockbuf) return -ENOMEM;
        for (uint32_t i = 0; i < need; i++) {
            s->src[2 + i].tsbuf = s->blockbuf + (size_t)i * per * 2;
            s->src[2 + i].vbuf = (double *)(s->blockbuf + (size_t)i * per * 2 + per);
        }
    }
    return 0;
}

static int64_t retention_floor(const storage *st, int64_t t0) {
    if (st->opts.retention_ns <= 0) return t0;
    int64_t cut = clock_realtime_ns() - st->opts.retention_ns;
    return cut > t0 ? cut : t0;
}

typedef struct rsink {
    storage_agg *agg;    /* aggregate mode */
    storage_point_cb cb; /* scan mode */
    void *arg;
} rsink;

static int run_merge(rsnap *s, int64_t t0, int64_t t1, rsink *k) {
    for (;;) {
        /* Pick the source with the smallest head; ties go to the newest (lowest i). */
        int best = -1;
        int64_t bts = 0;
        for (uint32_t i = 0; i < s->n_src; i++) {
            if (src_done(&s->src[i])) continue;
            int64_t h = src_head(&s->src[i]);
            if (best < 0 || h < bts) {
                best = (int)i;
                bts = h;
            }
        }
        if (best < 0 || bts > t1) return 0;
        rsrc *r = &s->src[best];
        if (!r->decoded) {
            const seg_block *b = &r->sg->blocks[r->blk];
            if (k->agg && b->min_ts >= t0 && b->max_ts <= t1) {
                bool alone = true;
                for (uint32_t i = 0; i < s->n_src && alone; i++) {
                    if (i == (uint32_t)best || src_done(&s->src[i])) continue;
                    if (src_head(&s->src[i]) <= b->max_ts) alone = false;
                }
                if (alone) {
                    storage_agg a = {.count = b->count,
                                     .sum = b->sum,
                                     .sum_sq = b->sum_sq,
                                     .min = b->min,
                                     .max = b->max,
                                     .first_ts = b->min_ts,
                                     .first = b->first,
                                     .last_ts = b->max_ts,
                                     .last = b->last};
                    storage_agg_merge(k->agg, &a);
                    r->blk++;
                    src_seek_block(r, t0);
                    continue;
                }
            }
            int rc = src_decode(r, t0);
            if (rc < 0) return rc;
            if (r->pos >= r->n) { /* nothing of this block is in range */
                r->blk++;
                src_seek_block(r, t0);
                continue;
            }
            continue; /* heads changed: pick again */
        }
        int64_t ts = r->ts[r->pos];
        double v = r->v[r->pos];
        src_next(r, t0);
        /* Older sources holding the same timestamp are overwritten: skip it there. */
        for (uint32_t i = (uint32_t)best + 1; i < s->n_src; i++) {
            rsrc *o = &s->src[i];
            if (src_done(o) || src_head(o) != ts) continue;
            if (!o->decoded) {
                int rc = src_decode(o, t0);
                if (rc < 0) return rc;
                if (o->pos >= o->n) {
                    o->blk++;
                    src_seek_block(o, t0);
                    continue;
                }
            }
            if (o->ts[o->pos] == ts) src_next(o, t0);
        }
        if (ts < t0) continue;
        if (k->agg) {
            storage_agg_add(k->agg, ts, v);
        } else {
            int rc = k->cb(ts, v, k->arg);
            if (rc != 0) return rc;
        }
    }
}

/* True if some segment of set holds a (served) block of id overlapping [t0, t1]. */
static bool segs_have(const seg_set *set, uint32_t id, int64_t t0, int64_t t1) {
    for (uint32_t i = 0; i < set->n; i++) {
        const seg *g = set->s[i];
        if (g->n_blocks == 0 || g->max_ts < t0 || g->min_ts > t1) continue;
        uint32_t lo, hi;
        seg_series_blocks(g, id, &lo, &hi);
        for (uint32_t b = lo; b < hi; b++) /* blocks of a series are few after compaction */
            if (!g->bad[b] && g->blocks[b].max_ts >= t0 && g->blocks[b].min_ts <= t1) return true;
    }
    return false;
}

int storage_aggregate(storage *st, uint32_t id, int64_t t0_ns, int64_t t1_ns, storage_agg *a) {
    t0_ns = retention_floor(st, t0_ns);
    if (t1_ns < t0_ns) return 0;
    /* Fast path for recent data: only the active memtable holds the series in range and
     * its run is sorted, so fold it in place under the read lock, without a copy. */
    pthread_rwlock_rdlock(&st->mu);
    bool done = false;
    bool imm_has = st->imm && id < st->imm->ids_cap && st->imm->by_id[id];
    if (!imm_has && !segs_have(st->segs, id, t0_ns, t1_ns)) {
        storage_agg part;
        storage_agg_init(&part);
        done = memtab_aggregate_sorted(st->mem, id, t0_ns, t1_ns, &part);
        if (done) storage_agg_merge(a, &part);
    }
    pthread_rwlock_unlock(&st->mu);
    if (done) return 0;
    rsnap s;
    int rc = snap_take(st, id, t0_ns, t1_ns, &s);
    if (rc == 0) {
        rsink k = {.agg = a};
        rc = run_merge(&s, t0_ns, t1_ns, &k);
    }
    snap_free(&s);
    return rc;
}

int storage_scan(storage *st, uint32_t id, int64_t t0_ns, int64_t t1_ns, storage_point_cb cb,
                 void *arg) {
    t0_ns = retention_floor(st, t0_ns);
    if (t1_ns < t0_ns) return 0;
    rsnap s;
    int rc = snap_take(st, id, t0_ns, t1_ns, &s);
    if (rc == 0) {
        rsink k = {.cb = cb, .arg = arg};
        rc = run_merge(&s, t0_ns, t1_ns, &k);
    }
    snap_free(&s);
    return rc;
}

int storage__merge_segs(seg_set *set, uint32_t id, int64_t t0, int64_t t1, storage_point_cb cb,
                        void *arg) {
    rsnap s;
    memset(&s, 0, sizeof(s));
    uint32_t nseg = set->n;
    s.src = mem_calloc(MEM_STORAGE, nseg + 1, sizeof(*s.src));
    s.blockbuf = mem_alloc(MEM_STORAGE, (size_t)(nseg + 1) * STORAGE_BLOCK_POINTS_MAX * 16);
    int rc = -ENOMEM;
    if (!s.src || !s.blockbuf) goto out;
    for (uint32_t i = 0; i < nseg; i++) {
        rsrc *r = &s.src[s.n_src];
        r->sg = set->s[i];
        seg_series_blocks(r->sg, id, &r->blk, &r->blk_end);
        src_seek_block(r, t0);
        if (src_done(r)) continue;
        r->tsbuf = s.blockbuf + (size_t)s.n_src * STORAGE_BLOCK_POINTS_MAX * 2;
        r->vbuf = (double *)(r->tsbuf + STORAGE_BLOCK_POINTS_MAX);
        s.n_src++;
    }
    rsink k = {.cb = cb, .arg = arg};
    rc = run_merge(&s, t0, t1, &k);
out:
    mem_free(MEM_STORAGE, s.src);
    mem_free(MEM_STORAGE, s.blockbuf);
    return rc;
}
