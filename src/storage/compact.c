/* compact.c - the background thread's work: flushing the immutable memtable into a
 * new segment, compaction (size-tiered merges) and retention.
 *
 * Flush: the apply thread swapped the memtable out (storage.c swap_memtable) and
 * rotated the WAL, so imm holds exactly the frames up to imm->seq_max. We write them
 * as one segment (wal_seq_max = that seq), publish it in a new segment set with imm
 * cleared in the same write-locked step (readers never see the points twice or not at
 * all), then delete the WAL files it covers. Ingest keeps going into the new active
 * memtable the whole time.
 * Compaction: when STORAGE_SEGMENTS_COMPACT_AT segments exist, the newest tier of
 * segments (tier_pick) is merged into one; on demand (storage_compact) all of them.
 * Retention first drops segments wholly past the age and rewrites in place those
 * mostly past it (retention_pass). A merge keeps, per series, the newest segment's
 * point on equal timestamps (overwritten points drop out), drops points older than
 * the retention cutoff,
 * blocks that failed their checksum stay out. The result records the range of input
 * ids it supersedes, so inputs left behind by a crash are recognised and removed at
 * the next open. The inputs are always the newest segments, so the result (the highest
 * id) ranks correctly above the older segments left alone. Inputs are unlinked once the last reader
 * lets go of them. Read amplification is therefore bounded by STORAGE_SEGMENTS_COMPACT_AT + 2
 * sources. Threads: background thread only (next_seg_id is its alone after open). */
#include "base/log.h"
#include "base/mem.h"
#include "storage/storage_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int flush_visit(uint32_t id, const int64_t *ts, const double *v, uint32_t n, void *arg) {
    return seg_writer_add(arg, id, ts, v, n);
}

static void request_compaction(storage *st) {
    pthread_mutex_lock(&st->bg_mu);
    st->bg_compact_wanted = true;
    pthread_mutex_unlock(&st->bg_mu);
}

/* Publishes set as current (imm cleared if clear_imm). Takes ownership of set. */
static void publish(storage *st, seg_set *set, bool clear_imm) {
    pthread_rwlock_wrlock(&st->mu);
    seg_set *old = st->segs;
    memtab *imm = clear_imm ? st->imm : NULL;
    st->segs = set;
    if (clear_imm) st->imm = NULL;
    pthread_rwlock_unlock(&st->mu);
    seg_set_unref(old);
    if (imm) {
        memtab_free(imm);
        mem_free(MEM_STORAGE, imm);
    }
}

int compact_flush_imm(storage *st) {
    memtab *imm = st->imm; /* only this thread clears it; immutable while set */
    if (!imm) return 0;
    if (st->segs->n >= STORAGE_SEGMENTS_MAX - 1) {
        int rc = compact_run(st, INT64_MIN, false);
        if (rc < 0) return rc;
    }
    seg_set *cur = st->segs; /* only this thread replaces it */
    seg_set *set = seg_set_new();
    if (!set) return -ENOMEM;
    seg *s = NULL;
    int rc = 0;
    if (!memtab_is_empty(imm)) {
        uint64_t id = st->next_seg_id++;
        seg_writer *w;
        if ((rc = seg_writer_open(st->dir, id, imm->seq_max, 0, 0, &w)) < 0) goto fail;
        if ((rc = memtab_visit(imm, flush_visit, w)) < 0) {
            seg_writer_abort(w);
            goto fail;
        }
        if ((rc = seg_writer_finish(w, NULL)) < 0) goto fail;
        char path[700];
        snprintf(path, sizeof path, "%s/seg/%016" PRIx64 ".seg", st->dir, id);
        if ((rc = seg_open(path, NULL, &s)) < 0) goto fail;
        set->s[set->n++] = s;
    }
    for (uint32_t i = 0; i < cur->n; i++) {
        seg_ref(cur->s[i]);
        set->s[set->n++] = cur->s[i];
    }
    uint64_t upto = imm->seq_max;
    publish(st, set, true);
    wal_drop_upto(st->w, upto);
    if (set->n >= STORAGE_SEGMENTS_COMPACT_AT) request_compaction(st);
    return 0;
fail:
    log_error("storage", "flush to a segment failed: %s (data stays in the WAL and memory)",
              sl_strerror(rc));
    seg_set_unref(set);
    return rc;
}

typedef struct cpts {
    int64_t *ts;
    double *v;
    uint32_t n;
    uint32_t cap;
    seg_writer *w;
    uint32_t id;
} cpts;

static int cpts_flush(cpts *c) {
    if (c->n == 0) return 0;
    int rc = seg_writer_add(c->w, c->id, c->ts, c->v, c->n);
    c->n = 0;
    return rc;
}

static int cpts_add(int64_t ts, double v, void *arg) {
    cpts *c = arg;
    if (c->n == c->cap) {
        int rc = cpts_flush(c); /* whole blocks at a time keep memory bounded */
        if (rc < 0) return rc;
    }
    c->ts[c->n] = ts;
    c->v[c->n++] = v;
    return 0;
}

/* How many of the newest segments to merge (size-tiered): drop the oldest from the
 * selection while it is more than twice the size of everything newer, so big old
 * segments are not rewritten for every small flush. Write amplification stays
 * logarithmic; read amplification stays <= STORAGE_SEGMENTS_COMPACT_AT. */
static uint32_t tier_pick(const seg_set *cur) {
    uint32_t k = cur->n;
    while (k > 2) {
        uint64_t newer = 0;
        for (uint32_t i = 0; i + 1 < k; i++)
            newer += cur->s[i]->map_bytes;
        if (cur->s[k - 1]->map_bytes <= 2 * newer) break;
        k--;
    }
    return k;
}

/* Retention, segment by segment: a segment whose every block is older than the cutoff
 * is dropped whole; one where at least a quarter of the points are is rewritten in
 * place (same id, so it keeps its rank; the rename replaces the file atomically and
 * readers keep their mapping of the old one). Reads hide expired points meanwhile. */
static int retention_pass(storage *st, int64_t cutoff_ns) {
    seg_set *cur = st->segs;
    seg_set *set = seg_set_new();
    if (!set) return -ENOMEM;
    bool changed = false;
    int rc = 0;
    for (uint32_t i = 0; i < cur->n; i++) {
        seg *g = cur->s[i];
        uint64_t total = 0, old = 0;
        for (uint32_t b = 0; b < g->n_blocks; b++) {
            total += g->blocks[b].count;
            if (g->blocks[b].max_ts < cutoff_ns) old += g->blocks[b].count;
        }
        if (total > 0 && old == total && g->n_bad == 0) {
            atomic_store(&g->obsolete, true); /* unlinked when the last reader lets go */
            changed = true;
            continue;
        }
        if (old > 0 && old * 4 >= total && rc == 0) {
            seg_set one = {.n = 1, .s = {g}};
            seg_writer *w;
            seg *ng = NULL;
            if ((rc = seg_writer_open(st->dir, g->id, g->wal_seq_max, g->supersedes_min,
                                      g->supersedes, &w)) == 0) {
                cpts c = {.w = w, .cap = STORAGE_BLOCK_POINTS_MAX * 8};
                c.ts = mem_alloc(MEM_STORAGE, (size_t)c.cap * sizeof(*c.ts));
                c.v = mem_alloc(MEM_STORAGE, (size_t)c.cap * sizeof(*c.v));
                rc = c.ts && c.v ? 0 : -ENOMEM;
                for (uint32_t b = 0; b < g->n_blocks && rc == 0;) {
                    uint32_t sid = g->blocks[b].series_id;
                    c.id = sid;
                    c.n = 0;
                    rc = storage__merge_segs(&one, sid, cutoff_ns, INT64_MAX, cpts_add, &c);
                    if (rc == 0) rc = cpts_flush(&c);
                    while (b < g->n_blocks && g->blocks[b].series_id == sid)
                        b++;
                }
                mem_free(MEM_STORAGE, c.ts);
                mem_free(MEM_STORAGE, c.v);
                if (rc == 0)
                    rc = seg_writer_finish(w, NULL);
                else
                    seg_writer_abort(w);
                if (rc == 0) rc = seg_open(g->path, NULL, &ng);
            }
            if (rc == 0) {
                set->s[set->n++] = ng; /* g is not obsolete: its path is ng's now */
                changed = true;
                continue;
            }
            log_error("storage", "%s: retention rewrite failed: %s", g->path, sl_strerror(rc));
        }
        seg_ref(g);
        set->s[set->n++] = g;
    }
    if (!changed) {
        seg_set_unref(set);
        return rc;
    }
    publish(st, set, false);
    return rc;
}

int compact_run(storage *st, int64_t cutoff_ns, bool full) {
    if (cutoff_ns != INT64_MIN) {
        int rc = retention_pass(st, cutoff_ns);
        if (rc < 0) return rc;
    }
    seg_set *cur = st->segs; /* only this thread replaces it */
    if (cur->n == 0) return 0;
    if (!full && cur->n < STORAGE_SEGMENTS_COMPACT_AT) return 0;
    if (cur->n == 1 && cur->s[0]->n_bad == 0 &&
        (cutoff_ns == INT64_MIN || cur->s[0]->min_ts >= cutoff_ns))
        return 0;
    /* Explicit requests rewrite everything; otherwise the newest tier. */
    uint32_t k = full ? cur->n : tier_pick(cur);
    if (k < 2 && !full) return 0;
    uint64_t sup_min = UINT64_MAX, sup = 0, walmax = 0;
    for (uint32_t i = 0; i < cur->n; i++) {
        if (cur->s[i]->wal_seq_max > walmax) walmax = cur->s[i]->wal_seq_max;
        if (i >= k) continue;
        if (cur->s[i]->id > sup) sup = cur->s[i]->id;
        if (cur->s[i]->id < sup_min) sup_min = cur->s[i]->id;
    }
    /* The inputs are the k newest; their merge must still rank above the rest. */
    seg_set in = {.n = k};
    for (uint32_t i = 0; i < k; i++)
        in.s[i] = cur->s[i];
    uint64_t id = st->next_seg_id++;
    seg_writer *w;
    int rc = seg_writer_open(st->dir, id, walmax, sup_min, sup, &w);
    if (rc < 0) return rc;
    cpts c = {.w = w, .cap = STORAGE_BLOCK_POINTS_MAX * 8};
    c.ts = mem_alloc(MEM_STORAGE, (size_t)c.cap * sizeof(*c.ts));
    c.v = mem_alloc(MEM_STORAGE, (size_t)c.cap * sizeof(*c.v));
    uint32_t *cursor = mem_calloc(MEM_STORAGE, k, sizeof(*cursor));
    if (!c.ts || !c.v || !cursor) {
        rc = -ENOMEM;
        goto fail;
    }
    /* Walk series ids in ascending order across all inputs. */
    for (;;) {
        uint32_t next = 0;
        for (uint32_t i = 0; i < k; i++) {
            const seg *g = in.s[i];
            if (cursor[i] < g->n_blocks && (next == 0 || g->blocks[cursor[i]].series_id < next))
                next = g->blocks[cursor[i]].series_id;
        }
        if (next == 0) break;
        if (__atomic_load_n(&st->bg_stop, __ATOMIC_RELAXED)) {
            rc = SL_ECLOSED; /* closing: the inputs stay as they are */
            goto fail;
        }
        c.id = next;
        c.n = 0;
        rc = storage__merge_segs(&in, next, cutoff_ns, INT64_MAX, cpts_add, &c);
        if (rc == 0) rc = cpts_flush(&c);
        if (rc < 0) goto fail;
        for (uint32_t i = 0; i < k; i++) {
            const seg *g = in.s[i];
            while (cursor[i] < g->n_blocks && g->blocks[cursor[i]].series_id == next)
                cursor[i]++;
        }
    }
    mem_free(MEM_STORAGE, c.ts);
    mem_free(MEM_STORAGE, c.v);
    mem_free(MEM_STORAGE, cursor);
    c.ts = NULL;
    c.v = NULL;
    cursor = NULL;
    if ((rc = seg_writer_finish(w, NULL)) < 0) {
        w = NULL;
        goto fail;
    }
    w = NULL;
    char path[700];
    snprintf(path, sizeof path, "%s/seg/%016" PRIx64 ".seg", st->dir, id);
    seg *s;
    if ((rc = seg_open(path, NULL, &s)) < 0) goto fail;
    seg_set *set = seg_set_new();
    if (!set) {
        seg_unref(s);
        rc = -ENOMEM;
        goto fail;
    }
    set->s[set->n++] = s;
    for (uint32_t i = k; i < cur->n; i++) {
        seg_ref(cur->s[i]);
        set->s[set->n++] = cur->s[i];
    }
    for (uint32_t i = 0; i < k; i++)
        atomic_store(&cur->s[i]->obsolete, true);
    uint32_t n_in = cur->n;
    publish(st, set, false); /* may free cur */
    log_info("storage", "compacted %u of %u segments into %016" PRIx64, k, n_in, id);
    return 0;
fail:
    log_error("storage", "compaction failed: %s", sl_strerror(rc));
    seg_writer_abort(w);
    mem_free(MEM_STORAGE, c.ts);
    mem_free(MEM_STORAGE, c.v);
    mem_free(MEM_STORAGE, cursor);
    return rc;
}
