/* segment.c - immutable segment files: per-series compressed blocks, a block index
 * with summaries, a footer. Written once (flush or compaction), then only read.
 *
 * SEGMENT FORMAT (version SEG_VERSION). Little-endian. Name: seg/<id, 16 hex>.seg,
 * written as <name>.tmp, fsynced, renamed, directory fsynced.
 *   header 32 bytes: 0 magic "SLSG" | 4 u32 version | 8 u64 id | 16 u64 wal_seq_max |
 *                    24 u32 zero | 28 u32 crc32c(0..27)
 *   blocks: each block's bytes (codec.c), back to back from offset 32
 *   index at index_off: n_blocks entries of SEG_ENTRY bytes, sorted by (series_id,
 *     min_ts), blocks of one series not overlapping in time:
 *     0 u32 series_id | 4 u32 count | 8 i64 min_ts | 16 i64 max_ts | 24 f64 sum |
 *     32 f64 sum_sq | 40 f64 min | 48 f64 max | 56 f64 first | 64 f64 last |
 *     72 u64 offset | 80 u32 bytes | 84 u32 crc32c(block bytes)
 *   footer, last 56 bytes: 0 u64 index_off | 8 u32 n_blocks | 12 u32 crc32c(index) |
 *     16 u64 supersedes_min | 24 u64 supersedes_max | 32 u64 wal_seq_max |
 *     40 u32 version | 44 u32 crc32c(0..43) | 48 magic "SLSGEND1"
 *   supersedes_min..max (0..0 for a flush): the ids of the segments a compaction merged
 *     into this one; at open, any of them still present (a crash between the rename
 *     and their deletion) is deleted.
 * The summaries answer aggregates over whole blocks without decoding them (first at
 * min_ts, last at max_ts). The index is the sparse index: one entry per ~1,000 points.
 * Validity: header and footer crcs and magics, index_off + n * SEG_ENTRY + 48 = file
 * size, index crc, every entry in bounds and in order. A segment failing these is
 * reported and not served. Each block's crc is checked at open and on every decode; a
 * failing block is reported (file, block) and left out, the rest is served.
 * Threads: the writer is used by the background thread only; an open seg is
 * immutable and shared by reference count. */
#include "base/crc32c.h"
#include "base/fault.h"
#include "base/log.h"
#include "base/mem.h"
#include "storage/storage_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEG_VERSION 1u
#define SEG_HDR 32u
#define SEG_ENTRY 88u
#define SEG_FOOTER 56u
#define SEG_WBUF (1u << 20)

struct seg_writer {
    int fd;
    char path[700]; /* final name */
    char tmp[720];  /* name while writing */
    char dir[600];
    uint64_t id;
    uint64_t wal_seq_max;
    uint64_t supersedes_min;
    uint64_t supersedes;
    uint64_t off;  /* bytes written so far */
    uint8_t *wbuf; /* pending bytes */
    size_t wlen;
    seg_block *blocks;
    uint32_t n_blocks;
    uint32_t cap_blocks;
    uint8_t *enc; /* one encoded block */
};

static int w_bytes(seg_writer *w, const uint8_t *p, size_t n) {
    if (w->wlen + n > SEG_WBUF) {
        int rc = storage__write_all(w->fd, w->wbuf, w->wlen);
        if (rc < 0) return rc;
        w->wlen = 0;
    }
    if (n > SEG_WBUF) return storage__write_all(w->fd, p, n);
    memcpy(w->wbuf + w->wlen, p, n);
    w->wlen += n;
    return 0;
}

bool seg_name_parse(const char *name, uint64_t *id) {
    if (strlen(name) != 20 || strcmp(name + 16, ".seg") != 0) return false;
    char *end;
    unsigned long long x = strtoull(name, &end, 16);
    if (end != name + 16) return false;
    *id = x;
    return true;
}

int seg_writer_open(const char *dir, uint64_t id, uint64_t wal_seq_max, uint64_t supersedes_min,
                    uint64_t supersedes, seg_writer **out) {
    *out = NULL;
    seg_writer *w = mem_calloc(MEM_STORAGE, 1, sizeof(*w));
    if (!w) return -ENOMEM;
    w->wbuf = mem_alloc(MEM_STORAGE, SEG_WBUF);
    w->enc = mem_alloc(MEM_STORAGE, CODEC_BYTES_MAX);
    if (!w->wbuf || !w->enc) {
        mem_free(MEM_STORAGE, w->wbuf);
        mem_free(MEM_STORAGE, w->enc);
        mem_free(MEM_STORAGE, w);
        return -ENOMEM;
    }
    snprintf(w->dir, sizeof w->dir, "%s/seg", dir);
    snprintf(w->path, sizeof w->path, "%s/%016" PRIx64 ".seg", w->dir, id);
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp", w->path);
    w->id = id;
    w->wal_seq_max = wal_seq_max;
    w->supersedes_min = supersedes_min;
    w->supersedes = supersedes;
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        int rc = -errno;
        mem_free(MEM_STORAGE, w->wbuf);
        mem_free(MEM_STORAGE, w->enc);
        mem_free(MEM_STORAGE, w);
        return rc;
    }
    uint8_t hdr[SEG_HDR] = {'S', 'L', 'S', 'G'};
    sl_store_u32le(hdr + 4, SEG_VERSION);
    sl_store_u64le(hdr + 8, id);
    sl_store_u64le(hdr + 16, wal_seq_max);
    sl_store_u32le(hdr + 28, crc32c(hdr, 28));
    int rc = w_bytes(w, hdr, sizeof hdr);
    if (rc < 0) {
        seg_writer_abort(w);
        return rc;
    }
    w->off = SEG_HDR;
    *out = w;
    return 0;
}

void seg_writer_abort(seg_writer *w) {
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    unlink(w->tmp);
    mem_free(MEM_STORAGE, w->wbuf);
    mem_free(MEM_STORAGE, w->enc);
    mem_free(MEM_STORAGE, w->blocks);
    mem_free(MEM_STORAGE, w);
}

static int add_block(seg_writer *w, uint32_t id, const int64_t *ts, const double *v, uint32_t n) {
    if (w->n_blocks == w->cap_blocks) {
        uint32_t cap = w->cap_blocks ? w->cap_blocks * 2 : 256;
        seg_block *nb = mem_realloc(MEM_STORAGE, w->blocks, (size_t)cap * sizeof(*nb));
        if (!nb) return -ENOMEM;
        w->blocks = nb;
        w->cap_blocks = cap;
    }
    size_t len;
    int rc = codec_encode(ts, v, n, w->enc, CODEC_BYTES_MAX, &len);
    if (rc < 0) return rc;
    storage_agg a;
    storage_agg_init(&a);
    for (uint32_t i = 0; i < n; i++)
        storage_agg_add(&a, ts[i], v[i]);
    seg_block *b = &w->blocks[w->n_blocks];
    b->series_id = id;
    b->count = n;
    b->min_ts = ts[0];
    b->max_ts = ts[n - 1];
    b->sum = a.sum;
    b->sum_sq = a.sum_sq;
    b->min = a.min;
    b->max = a.max;
    b->first = v[0];
    b->last = v[n - 1];
    b->offset = w->off;
    b->bytes = (uint32_t)len;
    b->crc = crc32c(w->enc, len);
    if ((rc = w_bytes(w, w->enc, len)) < 0) return rc;
    w->off += len;
    w->n_blocks++;
    return 0;
}

int seg_writer_add(seg_writer *w, uint32_t series_id, const int64_t *ts, const double *v,
                   uint32_t n) {
    SL_ASSERT(series_id > 0);
    SL_ASSERT(w->n_blocks == 0 || w->blocks[w->n_blocks - 1].series_id < series_id ||
              (w->blocks[w->n_blocks - 1].series_id == series_id &&
               w->blocks[w->n_blocks - 1].max_ts < ts[0]));
    for (uint32_t i = 0; i < n; i += STORAGE_BLOCK_POINTS_MAX) {
        uint32_t k = SL_MIN(STORAGE_BLOCK_POINTS_MAX, n - i);
        int rc = add_block(w, series_id, ts + i, v + i, k);
        if (rc < 0) return rc;
    }
    return 0;
}

static void entry_store(uint8_t *p, const seg_block *b) {
    uint64_t u;
    sl_store_u32le(p, b->series_id);
    sl_store_u32le(p + 4, b->count);
    sl_store_u64le(p + 8, (uint64_t)b->min_ts);
    sl_store_u64le(p + 16, (uint64_t)b->max_ts);
    const double f[6] = {b->sum, b->sum_sq, b->min, b->max, b->first, b->last};
    for (int i = 0; i < 6; i++) {
        memcpy(&u, &f[i], 8);
        sl_store_u64le(p + 24 + 8 * i, u);
    }
    sl_store_u64le(p + 72, b->offset);
    sl_store_u32le(p + 80, b->bytes);
    sl_store_u32le(p + 84, b->crc);
}

static void entry_load(const uint8_t *p, seg_block *b) {
    b->series_id = sl_load_u32le(p);
    b->count = sl_load_u32le(p + 4);
    b->min_ts = (int64_t)sl_load_u64le(p + 8);
    b->max_ts = (int64_t)sl_load_u64le(p + 16);
    double *f[6] = {&b->sum, &b->sum_sq, &b->min, &b->max, &b->first, &b->last};
    for (int i = 0; i < 6; i++) {
        uint64_t u = sl_load_u64le(p + 24 + 8 * i);
        memcpy(f[i], &u, 8);
    }
    b->offset = sl_load_u64le(p + 72);
    b->bytes = sl_load_u32le(p + 80);
    b->crc = sl_load_u32le(p + 84);
}

int seg_writer_finish(seg_writer *w, uint64_t *bytes_out) {
    int rc = 0;
    uint64_t index_off = w->off;
    uint32_t icrc = 0;
    uint8_t e[SEG_ENTRY];
    for (uint32_t i = 0; i < w->n_blocks && rc == 0; i++) {
        entry_store(e, &w->blocks[i]);
        icrc = crc32c_extend(icrc, e, sizeof e);
        rc = w_bytes(w, e, sizeof e);
    }
    if (rc < 0) goto fail;
    uint8_t f[SEG_FOOTER] = {0};
    sl_store_u64le(f, index_off);
    sl_store_u32le(f + 8, w->n_blocks);
    sl_store_u32le(f + 12, icrc);
    sl_store_u64le(f + 16, w->supersedes_min);
    sl_store_u64le(f + 24, w->supersedes);
    sl_store_u64le(f + 32, w->wal_seq_max);
    sl_store_u32le(f + 40, SEG_VERSION);
    sl_store_u32le(f + 44, crc32c(f, 44));
    memcpy(f + 48, "SLSGEND1", 8);
    if ((rc = w_bytes(w, f, sizeof f)) < 0) goto fail;
    if ((rc = storage__write_all(w->fd, w->wbuf, w->wlen)) < 0) goto fail;
    w->wlen = 0;
    if (fault_hit(FAULT_FSYNC))
        rc = -EIO;
    else if (fsync(w->fd) < 0)
        rc = -errno;
    if (rc < 0) goto fail;
    if (close(w->fd) < 0) {
        w->fd = -1;
        rc = -errno;
        goto fail;
    }
    w->fd = -1;
    if (rename(w->tmp, w->path) < 0) {
        rc = -errno;
        goto fail;
    }
    int dfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) < 0) rc = -errno;
        close(dfd);
    }
    if (rc < 0) goto fail;
    if (bytes_out) *bytes_out = index_off + (uint64_t)w->n_blocks * SEG_ENTRY + SEG_FOOTER;
    w->tmp[0] = 0;
    mem_free(MEM_STORAGE, w->wbuf);
    mem_free(MEM_STORAGE, w->enc);
    mem_free(MEM_STORAGE, w->blocks);
    mem_free(MEM_STORAGE, w);
    return 0;
fail:
    seg_writer_abort(w);
    return rc;
}

/* ---- reading ---- */

static int seg_bad(const char *path, buf *report, const char *what) {
    log_error("storage", "%s: %s; segment not served", path, what);
    if (report) buf_printf(report, "%s: %s\n", path, what);
    return SL_ECORRUPT;
}

int seg_open(const char *path, buf *report, seg **out) {
    *out = NULL;
    int fd;
    size_t size;
    int orc = storage__open_sized(path, O_RDONLY | O_CLOEXEC, report, &fd, &size);
    if (orc < 0) return orc;
    if (size < SEG_HDR + SEG_FOOTER) {
        close(fd);
        return seg_bad(path, report, "offset 0: file too short for header and footer");
    }
    const uint8_t *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return -errno;
    seg *s = mem_calloc(MEM_STORAGE, 1, sizeof(*s));
    int rc;
    if (!s) {
        munmap((void *)p, size);
        return -ENOMEM;
    }
    atomic_init(&s->refs, 1);
    atomic_init(&s->obsolete, false);
    snprintf(s->path, sizeof s->path, "%s", path);
    s->map = p;
    s->map_bytes = size;
    const uint8_t *f = p + size - SEG_FOOTER;
    char what[200];
    if (memcmp(p, "SLSG", 4) != 0 || crc32c(p, 28) != sl_load_u32le(p + 28)) {
        rc = seg_bad(path, report, "offset 0: bad header");
        goto fail;
    }
    if (sl_load_u32le(p + 4) != SEG_VERSION) {
        snprintf(what, sizeof what, "offset 4: unsupported version %u", sl_load_u32le(p + 4));
        rc = seg_bad(path, report, what);
        goto fail;
    }
    if (memcmp(f + 48, "SLSGEND1", 8) != 0 || crc32c(f, 44) != sl_load_u32le(f + 44) ||
        sl_load_u32le(f + 40) != SEG_VERSION) {
        snprintf(what, sizeof what, "offset %zu: bad footer", size - SEG_FOOTER);
        rc = seg_bad(path, report, what);
        goto fail;
    }
    s->id = sl_load_u64le(p + 8);
    s->supersedes_min = sl_load_u64le(f + 16);
    s->supersedes = sl_load_u64le(f + 24);
    s->wal_seq_max = sl_load_u64le(f + 32);
    uint64_t index_off = sl_load_u64le(f);
    uint32_t n = sl_load_u32le(f + 8);
    if (index_off < SEG_HDR || index_off > size ||
        (size - SEG_FOOTER - index_off) / SEG_ENTRY != n ||
        (size - SEG_FOOTER - index_off) % SEG_ENTRY != 0) {
        snprintf(what, sizeof what, "offset %zu: index bounds do not match the file size",
                 size - SEG_FOOTER);
        rc = seg_bad(path, report, what);
        goto fail;
    }
    if (crc32c(p + index_off, (size_t)n * SEG_ENTRY) != sl_load_u32le(f + 12)) {
        snprintf(what, sizeof what, "offset %" PRIu64 ": index checksum mismatch", index_off);
        rc = seg_bad(path, report, what);
        goto fail;
    }
    s->blocks = mem_alloc(MEM_STORAGE, (size_t)n * sizeof(seg_block) + 1);
    s->bad = mem_calloc(MEM_STORAGE, (size_t)n + 1, 1);
    if (!s->blocks || !s->bad) {
        rc = -ENOMEM;
        goto fail;
    }
    s->n_blocks = n;
    s->min_ts = INT64_MAX;
    s->max_ts = INT64_MIN;
    for (uint32_t i = 0; i < n; i++) {
        seg_block *b = &s->blocks[i];
        entry_load(p + index_off + (size_t)i * SEG_ENTRY, b);
        const seg_block *pb = i > 0 ? &s->blocks[i - 1] : NULL;
        const char *why = NULL;
        if (b->series_id == 0)
            why = "series id 0";
        else if (b->count == 0 || b->count > STORAGE_BLOCK_POINTS_MAX)
            why = "bad point count";
        else if (b->min_ts > b->max_ts)
            why = "min_ts > max_ts";
        else if (b->offset < SEG_HDR || b->offset > index_off || b->bytes > index_off - b->offset)
            why = "block runs outside the data area";
        else if (b->bytes > CODEC_BYTES_MAX)
            why = "block larger than any encoding";
        else if (pb && (pb->series_id > b->series_id ||
                        (pb->series_id == b->series_id && pb->max_ts >= b->min_ts)))
            why = "index out of order";
        if (why) {
            snprintf(what, sizeof what, "block %u (index offset %" PRIu64 "): %s", i,
                     index_off + (uint64_t)i * SEG_ENTRY, why);
            rc = seg_bad(path, report, what);
            goto fail;
        }
        if (crc32c(p + b->offset, b->bytes) != b->crc) {
            s->bad[i] = 1;
            s->n_bad++;
            log_error("storage",
                      "%s: block %u (offset %" PRIu64 ", series %u): checksum "
                      "mismatch; block not served",
                      path, i, b->offset, b->series_id);
            if (report)
                buf_printf(report,
                           "%s: block %u (offset %" PRIu64 ", series %u): checksum "
                           "mismatch\n",
                           path, i, b->offset, b->series_id);
            continue;
        }
        if (b->min_ts < s->min_ts) s->min_ts = b->min_ts;
        if (b->max_ts > s->max_ts) s->max_ts = b->max_ts;
    }
    *out = s;
    return 0;
fail:
    munmap((void *)p, size);
    mem_free(MEM_STORAGE, s->blocks);
    mem_free(MEM_STORAGE, s->bad);
    mem_free(MEM_STORAGE, s);
    return rc;
}

void seg_ref(seg *s) {
    atomic_fetch_add(&s->refs, 1);
}

void seg_unref(seg *s) {
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
    if (atomic_load(&s->obsolete) && unlink(s->path) < 0)
        log_warn("storage", "%s: cannot delete: %s", s->path, strerror(errno));
    munmap((void *)s->map, s->map_bytes);
    mem_free(MEM_STORAGE, s->blocks);
    mem_free(MEM_STORAGE, s->bad);
    mem_free(MEM_STORAGE, s);
}

void seg_series_blocks(const seg *s, uint32_t id, uint32_t *lo_out, uint32_t *hi_out) {
    uint32_t lo = 0, hi = s->n_blocks;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->blocks[mid].series_id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint32_t a = lo;
    hi = s->n_blocks;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->blocks[mid].series_id <= id)
            lo = mid + 1;
        else
            hi = mid;
    }
    *lo_out = a;
    *hi_out = lo;
}

int seg_block_decode(const seg *s, uint32_t i, int64_t *ts, double *v) {
    SL_ASSERT(i < s->n_blocks);
    const seg_block *b = &s->blocks[i];
    const uint8_t *p = s->map + b->offset;
    if (crc32c(p, b->bytes) != b->crc) {
        log_error("storage", "%s: block %u: checksum mismatch on read", s->path, i);
        return SL_ECORRUPT;
    }
    int rc = codec_decode(p, b->bytes, b->count, ts, v);
    if (rc < 0) {
        log_error("storage", "%s: block %u: does not decode", s->path, i);
        return rc;
    }
    if (ts[0] != b->min_ts || ts[b->count - 1] != b->max_ts) {
        log_error("storage", "%s: block %u: timestamps disagree with the index", s->path, i);
        return SL_ECORRUPT;
    }
    return 0;
}

seg_set *seg_set_new(void) {
    seg_set *set = mem_calloc(MEM_STORAGE, 1, sizeof(*set));
    if (set) atomic_init(&set->refs, 1);
    return set;
}

void seg_set_unref(seg_set *set) {
    if (!set || atomic_fetch_sub(&set->refs, 1) != 1) return;
    for (uint32_t i = 0; i < set->n; i++)
        seg_unref(set->s[i]);
    mem_free(MEM_STORAGE, set);
}
