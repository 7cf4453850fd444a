/* storage.c - the engine's front: open/recover, write, sync, the WAL and background
 * threads, stats. Reads are in read.c, flush/compaction in compact.c.
 *
 * DATA DIRECTORY LAYOUT
 *   LOCK          flock()ed while open, so two processes never share a directory
 *   series.log    the series index (series.c)
 *   wal/NNN.wal   write-ahead log (wal.c)
 *   seg/NNN.seg   immutable segments (segment.c); NNN.seg.tmp are unfinished, deleted at open
 * Recovery: series.log, then every segment (a damaged one is reported and skipped,
 * corrupt blocks are reported and left out), then the WAL from the highest seq any
 * segment covers. Everything replayed is visible and durable (it was on disk).
 *
 * Invariants: (1) written_seq >= durable_seq >= reported_seq; (2) every point with
 * WAL seq <= segs' max wal_seq_max is in a segment; later ones are in mem or imm;
 * (3) imm != NULL only while the background thread flushes it.
 * Threads: storage_write/flush from any one thread at a time (apply_mu); the WAL
 * thread syncs and runs durable_cb; the background thread flushes and compacts. */
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "storage/storage_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

void storage_opts_default(storage_opts *o) {
    memset(o, 0, sizeof(*o));
    o->dir = "./slung-data";
    o->fsync = STORAGE_FSYNC_BATCH;
    o->fsync_interval_ms = 2;
    o->memtable_bytes_max = 64ull << 20;
    o->memtable_age_ms_max = 60000;
    o->retention_ns = 0;
    o->series_max = STORAGE_SERIES_MAX_DEFAULT;
}

/* ---- recovery ---- */

typedef struct replay_ctx {
    storage *st;
    uint32_t *ids;
    int64_t *ts;
    double *v;
    uint32_t cap;
    uint64_t unknown; /* points naming a series the index does not have */
} replay_ctx;

static int replay_frame(uint64_t seq, uint32_t count, const uint8_t *ids, const uint8_t *ts,
                        const uint8_t *vals, void *arg) {
    replay_ctx *c = arg;
    if (count > c->cap) {
        uint32_t *ni = mem_realloc(MEM_STORAGE, c->ids, (size_t)count * sizeof(*ni));
        if (!ni) return -ENOMEM;
        c->ids = ni;
        int64_t *nt = mem_realloc(MEM_STORAGE, c->ts, (size_t)count * sizeof(*nt));
        if (!nt) return -ENOMEM;
        c->ts = nt;
        double *nv = mem_realloc(MEM_STORAGE, c->v, (size_t)count * sizeof(*nv));
        if (!nv) return -ENOMEM;
        c->v = nv;
        c->cap = count;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t id = sl_load_u32le(ids + 4 * (size_t)i);
        if (id == 0 || id > c->st->ix.count) {
            c->unknown++;
            continue;
        }
        c->ids[k] = id;
        c->ts[k] = (int64_t)sl_load_u64le(ts + 8 * (size_t)i);
        uint64_t bits = sl_load_u64le(vals + 8 * (size_t)i);
        memcpy(&c->v[k], &bits, 8);
        k++;
    }
    if (k == 0) return 0;
    memtab *m = c->st->mem;
    if (m->born_ns == 0) m->born_ns = clock_mono_ns();
    return memtab_insert(m, k, c->ids, c->ts, c->v, seq);
}

static int load_segments(storage *st, sl_diag *d) {
    char segdir[600];
    snprintf(segdir, sizeof segdir, "%s/seg", st->dir);
    if (!st->opts.read_only && mkdir(segdir, 0755) < 0 && errno != EEXIST)
        return sl_diag_set(d, -errno, 0, "%s: cannot create: %s", segdir, strerror(errno));
    DIR *dh = opendir(segdir);
    if (!dh) {
        if (errno == ENOENT && st->opts.read_only) return 0;
        return sl_diag_set(d, -errno, 0, "%s: cannot list: %s", segdir, strerror(errno));
    }
    seg *found[STORAGE_SEGMENTS_MAX];
    uint32_t n = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(dh)) != NULL) {
        uint64_t id;
        size_t len = strlen(e->d_name);
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", segdir, e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0) {
            if (!st->opts.read_only) unlink(path); /* an unfinished flush or compaction */
            continue;
        }
        if (!seg_name_parse(e->d_name, &id)) continue;
        if (id >= st->next_seg_id) st->next_seg_id = id + 1;
        seg *s;
        if (seg_open(path, NULL, &s) < 0) continue; /* reported by seg_open */
        if (n == STORAGE_SEGMENTS_MAX) {
            seg_unref(s);
            rc = sl_diag_set(d, SL_ELIMIT, 0, "%s: more than %u segments", segdir,
                             STORAGE_SEGMENTS_MAX);
            break;
        }
        atomic_fetch_add(&st->corrupt_blocks, s->n_bad);
        found[n++] = s;
    }
    closedir(dh);
    if (rc < 0) {
        for (uint32_t i = 0; i < n; i++)
            seg_unref(found[i]);
        return rc;
    }
    /* A compaction result supersedes its inputs; inputs left by a crash between the
     * result's rename and their deletion are dropped now. */
    seg_set *set = st->segs;
    bool superseded[STORAGE_SEGMENTS_MAX] = {false};
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < n && !superseded[i]; j++)
            superseded[i] = found[j]->id > found[i]->id && found[j]->supersedes != 0 &&
                            found[i]->id >= found[j]->supersedes_min &&
                            found[i]->id <= found[j]->supersedes;
    for (uint32_t i = 0; i < n; i++) {
        if (superseded[i]) {
            if (!st->opts.read_only) atomic_store(&found[i]->obsolete, true);
            seg_unref(found[i]);
            continue;
        }
        set->s[set->n++] = found[i];
    }
    /* Newest first. */
    for (uint32_t i = 1; i < set->n; i++)
        for (uint32_t j = i; j > 0 && set->s[j]->id > set->s[j - 1]->id; j--) {
            seg *t = set->s[j];
            set->s[j] = set->s[j - 1];
            set->s[j - 1] = t;
        }
    return 0;
}

/* ---- threads ---- */

static void report_durable(storage *st) {
    uint64_t d = atomic_load(&st->durable_seq);
    if (d > atomic_load(&st->reported_seq)) {
        atomic_store(&st->reported_seq, d);
        if (st->opts.durable_cb) st->opts.durable_cb(d, st->opts.durable_arg);
    }
}

static int do_sync(storage *st) {
    int64_t t0 = clock_mono_ns();
    int rc = series_log_sync(&st->ix);
    uint64_t upto = 0;
    if (rc == 0) rc = wal_sync(st->w, &upto);
    if (rc < 0) {
        log_error("storage", "WAL fsync failed: %s", sl_strerror(rc));
        return rc;
    }
    uint64_t ns = (uint64_t)(clock_mono_ns() - t0);
    atomic_fetch_add(&st->fsyncs, 1);
    atomic_fetch_add(&st->fsync_ns_total, ns);
    if (ns > atomic_load(&st->fsync_ns_max)) atomic_store(&st->fsync_ns_max, ns);
    if (upto > atomic_load(&st->durable_seq)) atomic_store(&st->durable_seq, upto);
    return 0;
}

/* Waits on wal_cond until ms have passed or the thread is told to stop. wal_mu held. */
static void wal_wait_ms(storage *st, uint32_t ms) {
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (long)(ms % 1000) * 1000000;
    if (dl.tv_nsec >= 1000000000) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000;
    }
    while (!st->wal_stop) {
        if (pthread_cond_timedwait(&st->wal_cond, &st->wal_mu, &dl) == ETIMEDOUT) break;
    }
}

static void *wal_main(void *arg) {
    storage *st = arg;
    pthread_mutex_lock(&st->wal_mu);
    while (!st->wal_stop) {
        uint64_t w = atomic_load(&st->written_seq);
        if (st->opts.fsync != STORAGE_FSYNC_NONE && w > atomic_load(&st->durable_seq)) {
            /* Group commit: let the window fill, then one fsync for all of it. Under
             * "always" the apply thread syncs itself; this only retries a failed one. */
            if (st->opts.fsync_interval_ms > 0) wal_wait_ms(st, st->opts.fsync_interval_ms);
            if (st->wal_stop) break; /* storage_close syncs itself */
            pthread_mutex_unlock(&st->wal_mu);
            int rc = do_sync(st);
            pthread_mutex_lock(&st->wal_mu);
            if (rc < 0) wal_wait_ms(st, 100); /* acks stay held back; retry */
        } else if (st->opts.fsync == STORAGE_FSYNC_NONE && w > atomic_load(&st->durable_seq)) {
            atomic_store(&st->durable_seq, w);
        }
        if (atomic_load(&st->durable_seq) > atomic_load(&st->reported_seq)) {
            pthread_mutex_unlock(&st->wal_mu);
            report_durable(st);
            pthread_mutex_lock(&st->wal_mu);
            continue;
        }
        if (atomic_load(&st->written_seq) > atomic_load(&st->durable_seq)) continue;
        pthread_cond_wait(&st->wal_cond, &st->wal_mu);
    }
    pthread_mutex_unlock(&st->wal_mu);
    report_durable(st); /* the final sync of storage_close, still from this thread */
    return NULL;
}

static void wal_kick(storage *st) {
    pthread_mutex_lock(&st->wal_mu);
    pthread_cond_signal(&st->wal_cond);
    pthread_mutex_unlock(&st->wal_mu);
}

static void *bg_main(void *arg) {
    storage *st = arg;
    int64_t retention_last_ns = clock_mono_ns();
    pthread_mutex_lock(&st->bg_mu);
    while (!st->bg_stop) {
        if (st->bg_flush_wanted) {
            st->bg_flush_wanted = false;
            pthread_mutex_unlock(&st->bg_mu);
            int rc = compact_flush_imm(st);
            pthread_mutex_lock(&st->bg_mu);
            if (rc < 0) {
                st->bg_error = rc;
                st->bg_flush_wanted = true; /* imm stays readable; retry after a pause */
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += 1;
                pthread_cond_timedwait(&st->bg_cond, &st->bg_mu, &ts);
            }
            pthread_cond_broadcast(&st->flush_done);
            continue;
        }
        if (st->bg_compact_wanted) {
            st->bg_compact_wanted = false;
            bool full = st->bg_compact_full;
            st->bg_compact_full = false;
            pthread_mutex_unlock(&st->bg_mu);
            int64_t cutoff =
                st->opts.retention_ns > 0 ? clock_realtime_ns() - st->opts.retention_ns : INT64_MIN;
            int rc = compact_run(st, cutoff, full);
            pthread_mutex_lock(&st->bg_mu);
            if (rc < 0) st->bg_error = rc;
            st->compact_gen++;
            pthread_cond_broadcast(&st->flush_done);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&st->bg_cond, &st->bg_mu, &ts);
        /* Periodic: retention runs at least once a minute when configured. */
        if (st->opts.retention_ns > 0) {
            int64_t now = clock_mono_ns();
            if (now - retention_last_ns > 60ll * 1000000000ll) {
                retention_last_ns = now;
                st->bg_compact_wanted = true;
            }
        }
    }
    pthread_mutex_unlock(&st->bg_mu);
    return NULL;
}

/* ---- open / close ---- */

static void storage_free(storage *st) {
    wal_close(st->w);
    if (st->segs) seg_set_unref(st->segs);
    memtab_free(st->mem);
    mem_free(MEM_STORAGE, st->mem);
    memtab_free(st->imm);
    mem_free(MEM_STORAGE, st->imm);
    series_index_free(&st->ix);
    mem_free(MEM_STORAGE, st->new_slots);
    mem_free(MEM_STORAGE, st->new_first);
    buf_free(&st->new_log);
    if (st->lock_fd >= 0) close(st->lock_fd);
    pthread_rwlock_destroy(&st->mu);
    pthread_mutex_destroy(&st->apply_mu);
    pthread_mutex_destroy(&st->bg_mu);
    pthread_cond_destroy(&st->bg_cond);
    pthread_cond_destroy(&st->flush_done);
    pthread_mutex_destroy(&st->wal_mu);
    pthread_cond_destroy(&st->wal_cond);
    mem_free(MEM_STORAGE, st);
}

int storage_open(const storage_opts *opts, storage **out, sl_diag *d) {
    *out = NULL;
    sl_diag_clear(d);
    if (!opts || !opts->dir || !opts->dir[0])
        return sl_diag_set(d, SL_EINVAL, 0, "no data directory given");
    if (strlen(opts->dir) >= 400)
        return sl_diag_set(d, SL_EINVAL, 0, "data directory path longer than 400 bytes");
    if (opts->fsync > STORAGE_FSYNC_NONE)
        return sl_diag_set(d, SL_EINVAL, 0, "unknown fsync policy %d", (int)opts->fsync);
    storage *st = mem_calloc(MEM_STORAGE, 1, sizeof(*st));
    if (!st) return sl_diag_set(d, -ENOMEM, 0, "out of memory opening storage");
    st->opts = *opts;
    snprintf(st->dir, sizeof st->dir, "%s", opts->dir);
    st->opts.dir = st->dir;
    if (st->opts.series_max == 0) st->opts.series_max = STORAGE_SERIES_MAX_DEFAULT;
    if (st->opts.series_max > STORAGE_SERIES_MAX_CEILING)
        st->opts.series_max = STORAGE_SERIES_MAX_CEILING;
    if (st->opts.memtable_bytes_max == 0) st->opts.memtable_bytes_max = 64ull << 20;
    st->lock_fd = -1;
    st->next_seg_id = 1;
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&st->mu, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&st->apply_mu, NULL);
    pthread_mutex_init(&st->bg_mu, NULL);
    pthread_cond_init(&st->bg_cond, NULL);
    pthread_cond_init(&st->flush_done, NULL);
    pthread_mutex_init(&st->wal_mu, NULL);
    pthread_cond_init(&st->wal_cond, NULL);
    series_index_init(&st->ix, st->opts.series_max);
    buf_init(&st->new_log, MEM_STORAGE, 0);
    int rc;
    st->mem = mem_calloc(MEM_STORAGE, 1, sizeof(*st->mem));
    st->segs = seg_set_new();
    if (!st->mem || !st->segs) {
        rc = sl_diag_set(d, -ENOMEM, 0, "out of memory opening storage");
        goto fail;
    }
    memtab_init(st->mem);

    struct stat sb;
    if (stat(st->dir, &sb) < 0) {
        if (errno != ENOENT || opts->read_only || mkdir(st->dir, 0755) < 0) {
            rc = sl_diag_set(d, -errno, 0, "data directory %s: %s", st->dir, strerror(errno));
            goto fail;
        }
    } else if (!S_ISDIR(sb.st_mode)) {
        rc = sl_diag_set(d, -ENOTDIR, 0, "data directory %s is not a directory", st->dir);
        goto fail;
    }
    if (!opts->read_only) {
        char lp[600];
        snprintf(lp, sizeof lp, "%s/LOCK", st->dir);
        st->lock_fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (st->lock_fd < 0) {
            rc = sl_diag_set(d, -errno, 0, "%s: %s", lp, strerror(errno));
            goto fail;
        }
        if (flock(st->lock_fd, LOCK_EX | LOCK_NB) < 0) {
            rc = sl_diag_set(d, -errno, 0, "%s is in use by another process (%s)", st->dir,
                             strerror(errno));
            goto fail;
        }
    }
    if ((rc = series_log_open(&st->ix, st->dir, opts->read_only, NULL, d)) < 0) goto fail;
    if ((rc = load_segments(st, d)) < 0) goto fail;
    uint64_t covered = 0;
    for (uint32_t i = 0; i < st->segs->n; i++)
        if (st->segs->s[i]->wal_seq_max > covered) covered = st->segs->s[i]->wal_seq_max;
    replay_ctx rc_ctx = {.st = st};
    int64_t t0 = clock_mono_ns();
    rc = wal_open(st->dir, opts->read_only, covered, replay_frame, &rc_ctx, NULL, &st->w, d);
    mem_free(MEM_STORAGE, rc_ctx.ids);
    mem_free(MEM_STORAGE, rc_ctx.ts);
    mem_free(MEM_STORAGE, rc_ctx.v);
    if (rc < 0) goto fail;
    if (rc_ctx.unknown)
        log_error("storage", "%s: %llu WAL points name series missing from series.log; skipped",
                  st->dir, (unsigned long long)rc_ctx.unknown);
    uint64_t last = wal_last_seq(st->w);
    if (last < covered) last = covered;
    atomic_init(&st->written_seq, last);
    atomic_init(&st->durable_seq, last);
    atomic_init(&st->reported_seq, last);
    log_info("storage",
             "%s: opened: %u series, %u segments, %llu points replayed from the WAL "
             "in %.1f ms",
             st->dir, st->ix.count, st->segs->n, (unsigned long long)st->mem->points,
             (double)(clock_mono_ns() - t0) / 1e6);
    if (!opts->read_only) {
        if (pthread_create(&st->wal_thread, NULL, wal_main, st) != 0) {
            rc = sl_diag_set(d, -EAGAIN, 0, "cannot start the WAL thread");
            goto fail;
        }
        st->wal_running = true;
        if (pthread_create(&st->bg_thread, NULL, bg_main, st) != 0) {
            rc = sl_diag_set(d, -EAGAIN, 0, "cannot start the background thread");
            goto fail;
        }
        st->bg_running = true;
        if (st->segs->n >= STORAGE_SEGMENTS_COMPACT_AT) {
            /* A crash may have cut the last compaction short. */
            pthread_mutex_lock(&st->bg_mu);
            st->bg_compact_wanted = true;
            pthread_cond_signal(&st->bg_cond);
            pthread_mutex_unlock(&st->bg_mu);
        }
    }
    *out = st;
    return 0;
fail:
    if (st->wal_running) {
        pthread_mutex_lock(&st->wal_mu);
        st->wal_stop = true;
        pthread_cond_signal(&st->wal_cond);
        pthread_mutex_unlock(&st->wal_mu);
        pthread_join(st->wal_thread, NULL);
    }
    storage_free(st);
    return rc;
}

void storage_close(storage *st) {
    if (!st) return;
    if (st->bg_running) {
        pthread_mutex_lock(&st->bg_mu);
        __atomic_store_n(&st->bg_stop, true, __ATOMIC_RELAXED); /* compaction polls it */
        pthread_cond_signal(&st->bg_cond);
        pthread_mutex_unlock(&st->bg_mu);
        pthread_join(st->bg_thread, NULL);
    }
    if (!st->opts.read_only && st->w) (void)do_sync(st);
    if (st->wal_running) {
        pthread_mutex_lock(&st->wal_mu);
        st->wal_stop = true;
        pthread_cond_signal(&st->wal_cond);
        pthread_mutex_unlock(&st->wal_mu);
        pthread_join(st->wal_thread, NULL);
    }
    storage_free(st);
}

/* ---- writes ---- */

/* A memtable is being flushed. imm is written under mu by the background thread. */
static bool imm_busy(storage *st) {
    pthread_rwlock_rdlock(&st->mu);
    bool busy = st->imm != NULL;
    pthread_rwlock_unlock(&st->mu);
    return busy;
}

/* Swaps the active memtable out for flushing. apply_mu held. */
static int swap_memtable(storage *st) {
    if (imm_busy(st)) return 0; /* a flush is running; the next trigger retries */
    memtab *fresh = mem_calloc(MEM_STORAGE, 1, sizeof(*fresh));
    if (!fresh) return -ENOMEM;
    memtab_init(fresh);
    uint64_t upto;
    int rc = wal_rotate(st->w, &upto);
    if (rc < 0) {
        mem_free(MEM_STORAGE, fresh);
        return rc;
    }
    pthread_rwlock_wrlock(&st->mu);
    st->imm = st->mem;
    st->imm->seq_max = upto;
    st->mem = fresh;
    pthread_rwlock_unlock(&st->mu);
    pthread_mutex_lock(&st->bg_mu);
    st->bg_flush_wanted = true;
    pthread_cond_signal(&st->bg_cond);
    pthread_mutex_unlock(&st->bg_mu);
    return 0;
}

/* Batch-local table of new keys: finds the point that introduced an equal key. */
static uint32_t *new_slot(storage *st, const point_batch *b, const uint8_t *k, uint32_t n,
                          uint32_t h) {
    uint32_t mask = st->new_cap - 1;
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t v = st->new_slots[i];
        if (v == 0) return &st->new_slots[i];
        uint32_t on;
        const uint8_t *ok = point_batch_key(b, v - 1, &on);
        if (on == n && memcmp(ok, k, n) == 0) return &st->new_slots[i];
    }
}

/* Fills b->series_id. New series are numbered in order of first appearance; their
 * series.log records are written in one write(2), then they enter the index. A failure
 * before that write leaves nothing created; the series limit fails the whole batch. */
static int resolve_ids(storage *st, point_batch *b) {
    uint32_t n_new = 0;
    uint32_t base = st->ix.count;
    for (uint32_t i = 0; i < b->count; i++) {
        if (i > 0 && b->key_off[i] == b->key_off[i - 1] && b->key_len[i] == b->key_len[i - 1]) {
            b->series_id[i] = b->series_id[i - 1];
            continue;
        }
        uint32_t n;
        const uint8_t *k = point_batch_key(b, i, &n);
        uint32_t id;
        if (series_lookup(&st->ix, k, n, &id) == 0) {
            b->series_id[i] = id;
            continue;
        }
        if (n_new == 0) {
            /* Table sized for the whole batch at load <= 1/2: no growth mid-batch. */
            uint32_t cap = 16;
            while (cap < 2 * b->count)
                cap *= 2;
            if (cap > st->new_cap) {
                uint32_t *ns = mem_realloc(MEM_STORAGE, st->new_slots, (size_t)cap * sizeof(*ns));
                if (!ns) return -ENOMEM;
                st->new_slots = ns;
                st->new_cap = cap;
            }
            if (b->count > st->new_first_cap) {
                uint32_t *nf =
                    mem_realloc(MEM_STORAGE, st->new_first, (size_t)b->count * sizeof(*nf));
                if (!nf) return -ENOMEM;
                st->new_first = nf;
                st->new_first_cap = b->count;
            }
            memset(st->new_slots, 0, (size_t)st->new_cap * sizeof(*st->new_slots));
        }
        uint32_t *slot = new_slot(st, b, k, n, series_hash(k, n));
        if (*slot) {
            b->series_id[i] = b->series_id[*slot - 1];
            continue;
        }
        if (!series_key_valid(k, n)) return SL_EINVAL;
        if ((uint64_t)base + n_new + 1 > st->opts.series_max) return SL_ELIMIT;
        *slot = i + 1;
        st->new_first[n_new++] = i;
        b->series_id[i] = base + n_new;
    }
    if (n_new == 0) return 0;
    buf_reset(&st->new_log);
    for (uint32_t j = 0; j < n_new; j++) {
        uint32_t n;
        const uint8_t *k = point_batch_key(b, st->new_first[j], &n);
        series_log_record(&st->new_log, k, n, base + 1 + j);
    }
    if (buf_failed(&st->new_log)) return -ENOMEM;
    uint64_t log_before = st->ix.log_bytes;
    int rc = series_log_append(&st->ix, st->new_log.p, st->new_log.len);
    if (rc < 0) return rc;
    pthread_rwlock_wrlock(&st->mu);
    uint64_t off = log_before;
    for (uint32_t j = 0; j < n_new && rc == 0; j++) {
        uint32_t n;
        const uint8_t *k = point_batch_key(b, st->new_first[j], &n);
        if ((rc = series_insert(&st->ix, k, n, base + 1 + j)) < 0) {
            /* Not in memory: its record and every later one leave the log too. */
            if (st->ix.count != base + 1 + j)
                series_log_cut(&st->ix, off);
            else
                series_log_cut(&st->ix, off + SERIES_LOG_REC_HDR + n);
        }
        off += SERIES_LOG_REC_HDR + n;
    }
    pthread_rwlock_unlock(&st->mu);
    return rc;
}

int storage_write(storage *st, point_batch *b) {
    SL_ASSERT(st != NULL);
    if (st->opts.read_only) return SL_EINVAL;
    if (b->count == 0) {
        b->seq = atomic_load(&st->written_seq);
        return 0;
    }
    pthread_mutex_lock(&st->apply_mu);
    int rc = resolve_ids(st, b);
    if (rc < 0) goto out;
    pthread_rwlock_wrlock(&st->mu);
    rc = memtab_reserve(st->mem, b->count, b->series_id, b->ts_ns);
    pthread_rwlock_unlock(&st->mu);
    if (rc < 0) goto out;
    uint64_t seq;
    if ((rc = wal_append(st->w, b, &seq)) < 0) goto out;
    pthread_rwlock_wrlock(&st->mu);
    memtab_apply(st->mem, b->count, b->series_id, b->ts_ns, b->value, seq);
    if (st->mem->born_ns == 0) st->mem->born_ns = clock_mono_ns();
    pthread_rwlock_unlock(&st->mu);
    b->seq = seq;
    atomic_store(&st->written_seq, seq);
    atomic_fetch_add(&st->points_written, b->count);
    if (st->opts.fsync == STORAGE_FSYNC_ALWAYS) {
        rc = do_sync(st);
        /* The batch is applied and in the OS; only its durability report waits. */
        if (rc < 0) log_error("storage", "fsync after write failed: %s", sl_strerror(rc));
        rc = 0;
    }
    wal_kick(st);
    /* Flush triggers: size or age. Past twice the size with a flush still running,
     * ingest waits for it (backpressure) so memory stays bounded. */
    bool big = st->mem->bytes > st->opts.memtable_bytes_max;
    bool old = st->opts.memtable_age_ms_max > 0 && st->mem->born_ns != 0 &&
               clock_mono_ns() - st->mem->born_ns > (int64_t)st->opts.memtable_age_ms_max * 1000000;
    if (big || old) {
        if (st->mem->bytes > 2 * st->opts.memtable_bytes_max && imm_busy(st)) {
            pthread_mutex_lock(&st->bg_mu);
            while (imm_busy(st) && !st->bg_stop && st->bg_error == 0)
                pthread_cond_wait(&st->flush_done, &st->bg_mu);
            pthread_mutex_unlock(&st->bg_mu);
        }
        int frc = swap_memtable(st);
        if (frc < 0) log_warn("storage", "memtable swap failed: %s", sl_strerror(frc));
    }
out:
    pthread_mutex_unlock(&st->apply_mu);
    return rc;
}

uint64_t storage_durable_seq(const storage *st) {
    return atomic_load(&((storage *)st)->durable_seq);
}

int storage_sync(storage *st) {
    if (st->opts.read_only) return 0;
    int rc = do_sync(st);
    if (rc == 0) wal_kick(st);
    return rc;
}

int storage_flush(storage *st) {
    if (st->opts.read_only) return 0;
    pthread_mutex_lock(&st->apply_mu);
    /* Wait for a running flush, then swap and wait for ours. */
    pthread_mutex_lock(&st->bg_mu);
    while (imm_busy(st) && st->bg_error == 0)
        pthread_cond_wait(&st->flush_done, &st->bg_mu);
    pthread_mutex_unlock(&st->bg_mu);
    int rc = 0;
    if (!memtab_is_empty(st->mem)) rc = swap_memtable(st);
    if (rc == 0) {
        pthread_mutex_lock(&st->bg_mu);
        st->bg_error = 0;
        while (imm_busy(st) && st->bg_error == 0)
            pthread_cond_wait(&st->flush_done, &st->bg_mu);
        rc = st->bg_error;
        pthread_mutex_unlock(&st->bg_mu);
    }
    pthread_mutex_unlock(&st->apply_mu);
    return rc;
}

int storage_compact(storage *st) {
    if (st->opts.read_only) return 0;
    pthread_mutex_lock(&st->bg_mu);
    /* Runs on the background thread; wait until it has done it. */
    while (imm_busy(st) && st->bg_error == 0)
        pthread_cond_wait(&st->flush_done, &st->bg_mu);
    st->bg_error = 0;
    st->bg_compact_wanted = true;
    st->bg_compact_full = true;
    uint64_t gen = st->compact_gen;
    pthread_cond_signal(&st->bg_cond);
    while (st->compact_gen == gen && !st->bg_stop)
        pthread_cond_wait(&st->flush_done, &st->bg_mu);
    int rc = st->bg_error;
    pthread_mutex_unlock(&st->bg_mu);
    return rc;
}

/* ---- index ---- */

int storage_series_lookup(storage *st, const uint8_t *key, size_t n, uint32_t *id) {
    pthread_rwlock_rdlock(&st->mu);
    int rc = series_lookup(&st->ix, key, n, id);
    pthread_rwlock_unlock(&st->mu);
    return rc;
}

int storage_series_key(storage *st, uint32_t id, buf *out) {
    pthread_rwlock_rdlock(&st->mu);
    const uint8_t *k;
    uint32_t n;
    int rc = SL_ENOTFOUND;
    if (series_key_get(&st->ix, id, &k, &n)) {
        buf_append(out, k, n);
        rc = buf_failed(out) ? -ENOMEM : 0;
    }
    pthread_rwlock_unlock(&st->mu);
    return rc;
}

uint32_t storage_series_count(const storage *st) {
    storage *s = (storage *)st;
    pthread_rwlock_rdlock(&s->mu);
    uint32_t n = s->ix.count;
    pthread_rwlock_unlock(&s->mu);
    return n;
}

int storage_postings_name(storage *st, const uint8_t *name, size_t n, uint32_t limit,
                          series_set *out) {
    if (n > UINT16_MAX) {
        out->count = 0;
        return 0;
    }
    uint8_t small[258];
    uint8_t *pk = n + 2 <= sizeof small ? small : mem_alloc(MEM_INDEX, n + 2);
    if (!pk) return -ENOMEM;
    sl_store_u16le(pk, (uint16_t)n);
    memcpy(pk + 2, name, n);
    pthread_rwlock_rdlock(&st->mu);
    int rc = series_postings(&st->ix, pk, n + 2, limit, out);
    pthread_rwlock_unlock(&st->mu);
    if (pk != small) mem_free(MEM_INDEX, pk);
    return rc;
}

int storage_postings_tag(storage *st, const uint8_t *name, size_t name_n, const uint8_t *tag,
                         size_t tag_n, uint32_t limit, series_set *out) {
    if (name_n > UINT16_MAX || tag_n == 0 || tag_n > UINT16_MAX) {
        out->count = 0;
        return 0;
    }
    size_t n = 2 + name_n + tag_n;
    uint8_t small[512];
    uint8_t *pk = n <= sizeof small ? small : mem_alloc(MEM_INDEX, n);
    if (!pk) return -ENOMEM;
    sl_store_u16le(pk, (uint16_t)name_n);
    memcpy(pk + 2, name, name_n);
    memcpy(pk + 2 + name_n, tag, tag_n);
    pthread_rwlock_rdlock(&st->mu);
    int rc = series_postings(&st->ix, pk, n, limit, out);
    pthread_rwlock_unlock(&st->mu);
    if (pk != small) mem_free(MEM_INDEX, pk);
    return rc;
}

/* ---- stats ---- */

void storage_get_stats(storage *st, storage_stats *out) {
    memset(out, 0, sizeof(*out));
    out->points_written = atomic_load(&st->points_written);
    out->fsyncs = atomic_load(&st->fsyncs);
    out->fsync_ns_total = atomic_load(&st->fsync_ns_total);
    out->fsync_ns_max = atomic_load(&st->fsync_ns_max);
    out->corrupt_blocks = atomic_load(&st->corrupt_blocks);
    out->wal_bytes = st->w ? wal_bytes(st->w) : 0;
    pthread_rwlock_rdlock(&st->mu);
    out->series = st->ix.count;
    out->memtable_bytes = st->mem->bytes + (st->imm ? st->imm->bytes : 0);
    out->segments = st->segs->n;
    for (uint32_t i = 0; i < st->segs->n; i++)
        out->segment_bytes += st->segs->s[i]->map_bytes;
    pthread_rwlock_unlock(&st->mu);
}
