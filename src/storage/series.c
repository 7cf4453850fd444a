/* series.c - the series index: canonical series key <-> dense id, postings per
 * name and per (name, tag), and its persistent form, dir/series.log.
 *
 * SERIES LOG FORMAT (version SERIES_LOG_VERSION). Little-endian.
 *   header 16 bytes: 0 magic "SLSX" | 4 u32 version | 8 u32 reserved (0) |
 *                    12 u32 crc32c(0..11)
 *   record: 0 u32 key_len | 4 u32 crc32c(8..end) | 8 u32 id | 12 key (base/serieskey.h)
 * Records are appended when a series is created, before any WAL frame that uses its
 * id, and fsynced before that frame is reported durable, so replaying the WAL always
 * finds its series. A record is valid iff it fits, its crc matches, id = previous + 1,
 * 0 < key_len <= STORAGE_SERIES_KEY_BYTES_MAX and the key parses. Replay stops at the
 * first invalid record; if the record after it (by its length field) is valid with
 * id + 1, the damaged one is reported (file, offset) and its id is kept as "lost"
 * (no key) so later ids keep their meaning; otherwise it is a torn tail, cut off
 * (unless read-only).
 *
 * Postings: a posting key is u16le name_len | name for "every series named name" and
 * u16le name_len | name | tag for "named name with tag". Ids are created ascending, so
 * appending keeps every posting list sorted.
 * Memory: keys once in an arena, two open-addressing tables of 8 bytes a slot, and
 * 4 bytes per (series, tag) posting: bounded by series_max (opts).
 * Invariants: (1) by_key holds exactly ids 1..count with a key; (2) every posting list
 * is strictly ascending. Threads: see storage_internal.h (storage.mu). */
#include "base/crc32c.h"
#include "base/fault.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/serieskey.h"
#include "storage/storage_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SERIES_LOG_VERSION 1u
#define SERIES_LOG_HDR 16u
#define SERIES_REC_HDR SERIES_LOG_REC_HDR

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    while (n >= 8) {
        h ^= sl_load_u64le(p);
        h *= 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t t = 0;
    for (size_t i = 0; i < n; i++)
        t |= (uint64_t)p[i] << (8 * i);
    h ^= t;
    h *= 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
    return h;
}

/* ---- open-addressing table: value -> key bytes through a getter ---- */

typedef bool (*map_key_fn)(const series_index *ix, uint32_t val, const uint8_t **p, uint32_t *n);

static bool id_key(const series_index *ix, uint32_t val, const uint8_t **p, uint32_t *n) {
    return series_key_get(ix, val, p, n);
}

static bool pkey_key(const series_index *ix, uint32_t val, const uint8_t **p, uint32_t *n) {
    const series_posting *ps = &ix->posts[val - 1];
    *p = ix->pkeys + ps->key_off;
    *n = ps->key_len;
    return true;
}

static uint32_t map_find(const series_index *ix, const series_map *m, map_key_fn get,
                         const uint8_t *key, size_t n, uint32_t h) {
    if (m->cap == 0) return 0;
    uint32_t mask = m->cap - 1;
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t v = m->slots[i].val;
        if (v == 0) return 0;
        if (m->slots[i].hash != h) continue;
        const uint8_t *kp;
        uint32_t kn;
        if (get(ix, v, &kp, &kn) && kn == n && memcmp(kp, key, n) == 0) return v;
    }
}

static void map_put_raw(series_map *m, uint32_t val, uint32_t h) {
    uint32_t mask = m->cap - 1;
    uint32_t i = h & mask;
    while (m->slots[i].val != 0)
        i = (i + 1) & mask;
    m->slots[i].val = val;
    m->slots[i].hash = h;
    m->used++;
}

/* Makes room for one more entry (load <= 1/2). */
static int map_reserve(series_map *m) {
    if ((uint64_t)(m->used + 1) * 2 <= m->cap) return 0;
    uint32_t cap = m->cap ? m->cap * 2 : 1024;
    if (cap == 0 || cap < m->cap) return SL_ELIMIT;
    series_slot *slots = mem_calloc(MEM_INDEX, cap, sizeof(*slots));
    if (!slots) return -ENOMEM;
    series_map old = *m;
    m->slots = slots;
    m->cap = cap;
    m->used = 0;
    for (uint32_t i = 0; i < old.cap; i++)
        if (old.slots[i].val) map_put_raw(m, old.slots[i].val, old.slots[i].hash);
    mem_free(MEM_INDEX, old.slots);
    return 0;
}

static int grow_bytes(uint8_t **p, uint64_t *cap, uint64_t need) {
    if (need <= *cap) return 0;
    uint64_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    uint8_t *np = mem_realloc(MEM_INDEX, *p, c);
    if (!np) return -ENOMEM;
    *p = np;
    *cap = c;
    return 0;
}

int series_index_init(series_index *ix, uint32_t max) {
    memset(ix, 0, sizeof(*ix));
    ix->max = max;
    ix->log_fd = -1;
    atomic_init(&ix->log_dirty, 0);
    return 0;
}

void series_index_free(series_index *ix) {
    mem_free(MEM_INDEX, ix->keys);
    mem_free(MEM_INDEX, ix->key_ref);
    mem_free(MEM_INDEX, ix->by_key.slots);
    mem_free(MEM_INDEX, ix->by_pkey.slots);
    for (uint32_t i = 0; i < ix->posts_n; i++)
        mem_free(MEM_INDEX, ix->posts[i].ids);
    mem_free(MEM_INDEX, ix->posts);
    mem_free(MEM_INDEX, ix->pkeys);
    if (ix->log_fd >= 0) close(ix->log_fd);
    memset(ix, 0, sizeof(*ix));
    ix->log_fd = -1;
}

bool series_key_get(const series_index *ix, uint32_t id, const uint8_t **key, uint32_t *n) {
    if (id == 0 || id > ix->count || ix->key_ref[id].len == 0) return false;
    *key = ix->keys + ix->key_ref[id].off;
    *n = ix->key_ref[id].len;
    return true;
}

int series_lookup(const series_index *ix, const uint8_t *key, size_t n, uint32_t *id) {
    uint32_t h = (uint32_t)hash_bytes(key, n);
    uint32_t v = map_find(ix, &ix->by_key, id_key, key, n, h);
    if (v == 0) return SL_ENOTFOUND;
    *id = v;
    return 0;
}

static const uint32_t *posting_ids(const series_posting *ps) {
    return ps->ids ? ps->ids : &ps->one;
}

/* Appends id to the posting list of pkey, creating it. */
static int posting_add(series_index *ix, const uint8_t *pkey, size_t n, uint32_t id) {
    uint32_t h = (uint32_t)hash_bytes(pkey, n);
    uint32_t v = map_find(ix, &ix->by_pkey, pkey_key, pkey, n, h);
    if (v == 0) {
        int rc = map_reserve(&ix->by_pkey);
        if (rc < 0) return rc;
        if (ix->posts_n == ix->posts_cap) {
            uint32_t cap = ix->posts_cap ? ix->posts_cap * 2 : 256;
            series_posting *np = mem_realloc(MEM_INDEX, ix->posts, (size_t)cap * sizeof(*np));
            if (!np) return -ENOMEM;
            ix->posts = np;
            ix->posts_cap = cap;
        }
        if ((rc = grow_bytes(&ix->pkeys, &ix->pkeys_cap, ix->pkeys_len + n)) < 0) return rc;
        series_posting *ps = &ix->posts[ix->posts_n];
        memset(ps, 0, sizeof(*ps));
        memcpy(ix->pkeys + ix->pkeys_len, pkey, n);
        ps->key_off = ix->pkeys_len;
        ps->key_len = (uint32_t)n;
        ix->pkeys_len += n;
        ix->posts_n++;
        v = ix->posts_n;
        map_put_raw(&ix->by_pkey, v, h);
    }
    series_posting *ps = &ix->posts[v - 1];
    SL_ASSERT(ps->n == 0 || posting_ids(ps)[ps->n - 1] < id);
    if (ps->n == 0) { /* most tags of a high-cardinality set have one series: inline */
        ps->one = id;
        ps->n = 1;
        return 0;
    }
    if (ps->ids == NULL || ps->n == ps->cap) {
        uint32_t cap = ps->cap ? ps->cap * 2 : 4;
        uint32_t *np = mem_realloc(MEM_INDEX, ps->ids, (size_t)cap * sizeof(*np));
        if (!np) return -ENOMEM;
        if (!ps->ids) np[0] = ps->one;
        ps->ids = np;
        ps->cap = cap;
    }
    ps->ids[ps->n++] = id;
    return 0;
}

/* Adds id with key to memory (key already validated). */
static int index_insert(series_index *ix, const uint8_t *key, uint32_t n, uint32_t id) {
    SL_ASSERT(id == ix->count + 1);
    int rc;
    if (id >= ix->ids_cap) {
        uint64_t cap64 = ix->ids_cap ? (uint64_t)ix->ids_cap * 2 : 1024;
        uint32_t cap = cap64 > UINT32_MAX ? UINT32_MAX : (uint32_t)cap64;
        series_key_ref *nr = mem_realloc(MEM_INDEX, ix->key_ref, (size_t)cap * sizeof(*nr));
        if (!nr) return -ENOMEM;
        ix->key_ref = nr;
        ix->ids_cap = cap;
    }
    if (n > 0) {
        if ((rc = grow_bytes(&ix->keys, &ix->keys_cap, ix->keys_len + n)) < 0) return rc;
        if ((rc = map_reserve(&ix->by_key)) < 0) return rc;
    }
    ix->key_ref[id].off = ix->keys_len;
    ix->key_ref[id].len = n;
    if (n == 0) { /* lost in a damaged log: the id stays taken, nothing maps to it */
        ix->count = id;
        return 0;
    }
    memcpy(ix->keys + ix->keys_len, key, n);
    ix->keys_len += n;
    ix->count = id;
    map_put_raw(&ix->by_key, id, (uint32_t)hash_bytes(key, n));

    /* Postings. A failure here leaves the series without some postings: report it. */
    sk_view name, tag;
    uint32_t tags;
    sk_iter it;
    if (serieskey_open(key, n, &name, &tags, &it) < 0) return SL_ECORRUPT;
    uint8_t small[512];
    size_t pn = 2 + name.n;
    if ((rc = posting_add(ix, key, pn, id)) < 0) return rc;
    while ((rc = serieskey_next_tag(&it, &tag)) > 0) {
        uint8_t *pk = small;
        size_t tn = pn + tag.n;
        if (tn > sizeof(small)) {
            pk = mem_alloc(MEM_INDEX, tn);
            if (!pk) return -ENOMEM;
        }
        memcpy(pk, key, pn);
        memcpy(pk + pn, tag.p, tag.n);
        rc = posting_add(ix, pk, tn, id);
        if (pk != small) mem_free(MEM_INDEX, pk);
        if (rc < 0) return rc;
    }
    return rc < 0 ? SL_ECORRUPT : 0;
}

uint32_t series_hash(const uint8_t *key, size_t n) {
    return (uint32_t)hash_bytes(key, n);
}

bool series_key_valid(const uint8_t *key, size_t n) {
    if (n == 0 || n > STORAGE_SERIES_KEY_BYTES_MAX) return false;
    sk_view name, tag;
    uint32_t tags;
    sk_iter it;
    if (serieskey_open(key, n, &name, &tags, &it) < 0) return false;
    int rc;
    while ((rc = serieskey_next_tag(&it, &tag)) > 0) {
    }
    return rc == 0;
}

void series_log_record(buf *out, const uint8_t *key, size_t n, uint32_t id) {
    uint8_t hdr[SERIES_REC_HDR];
    sl_store_u32le(hdr, (uint32_t)n);
    sl_store_u32le(hdr + 8, id);
    sl_store_u32le(hdr + 4, crc32c_extend(crc32c(hdr + 8, 4), key, n));
    buf_append(out, hdr, sizeof hdr);
    buf_append(out, key, n);
}

void series_log_cut(series_index *ix, uint64_t bytes) {
    if (ix->log_fd < 0 || bytes >= ix->log_bytes) return;
    ix->log_bytes = bytes;
    if (ftruncate(ix->log_fd, (off_t)bytes) < 0 || lseek(ix->log_fd, (off_t)bytes, SEEK_SET) < 0)
        log_error("storage", "series.log: cannot cut back: %s", strerror(errno));
}

int series_log_append(series_index *ix, const uint8_t *p, size_t n) {
    if (ix->log_fd < 0 || n == 0) return 0;
    uint64_t before = ix->log_bytes;
    int rc = storage__write_all(ix->log_fd, p, n);
    if (rc < 0) {
        /* Cut back so the log never holds a half record. */
        ix->log_bytes = before + n;
        series_log_cut(ix, before);
        return rc;
    }
    ix->log_bytes += n;
    atomic_fetch_add(&ix->log_dirty, 1);
    return 0;
}

int series_insert(series_index *ix, const uint8_t *key, size_t n, uint32_t id) {
    SL_ASSERT(id == ix->count + 1);
    return index_insert(ix, key, (uint32_t)n, id);
}

int series_log_sync(series_index *ix) {
    if (ix->log_fd < 0) return 0;
    uint64_t dirty = atomic_load(&ix->log_dirty);
    if (dirty == 0) return 0;
    if (fault_hit(FAULT_FSYNC)) return -EIO;
    if (fdatasync(ix->log_fd) < 0) return -errno;
    atomic_fetch_sub(&ix->log_dirty, dirty);
    return 0;
}

int series_postings(const series_index *ix, const uint8_t *pkey, size_t n, uint32_t limit,
                    series_set *out) {
    uint32_t h = (uint32_t)hash_bytes(pkey, n);
    uint32_t v = map_find(ix, &ix->by_pkey, pkey_key, pkey, n, h);
    out->count = 0;
    if (v == 0) return 0;
    const series_posting *ps = &ix->posts[v - 1];
    if (limit && ps->n > limit) return SL_ELIMIT;
    if (ps->n > out->cap) {
        uint32_t *np = mem_realloc(MEM_INDEX, out->ids, (size_t)ps->n * sizeof(*np));
        if (!np) return -ENOMEM;
        out->ids = np;
        out->cap = ps->n;
    }
    memcpy(out->ids, posting_ids(ps), (size_t)ps->n * sizeof(uint32_t));
    out->count = ps->n;
    return 0;
}

/* ---- the log ---- */

/* Checks the record at off; 1 = valid (fills key view), 0 = invalid. */
static int rec_valid(const uint8_t *p, size_t size, size_t off, uint32_t want_id,
                     uint32_t *key_len) {
    if (size - off < SERIES_REC_HDR) return 0;
    uint32_t n = sl_load_u32le(p + off);
    if (n == 0 || n > STORAGE_SERIES_KEY_BYTES_MAX || size - off - SERIES_REC_HDR < n) return 0;
    if (crc32c(p + off + 8, 4 + (size_t)n) != sl_load_u32le(p + off + 4)) return 0;
    if (sl_load_u32le(p + off + 8) != want_id) return 0;
    sk_view name;
    uint32_t tags;
    sk_iter it;
    if (serieskey_open(p + off + SERIES_REC_HDR, n, &name, &tags, &it) < 0) return 0;
    sk_view tag;
    int rc;
    while ((rc = serieskey_next_tag(&it, &tag)) > 0) {
    }
    if (rc < 0) return 0;
    *key_len = n;
    return 1;
}

static int read_file(int fd, uint8_t **out, size_t *n_out) {
    struct stat sb;
    if (fstat(fd, &sb) < 0) return -errno;
    size_t n = (size_t)sb.st_size;
    uint8_t *p = mem_alloc(MEM_INDEX, n ? n : 1);
    if (!p) return -ENOMEM;
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, p + got, n - got, (off_t)got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            int e = k < 0 ? -errno : -EIO;
            mem_free(MEM_INDEX, p);
            return e;
        }
        got += (size_t)k;
    }
    *out = p;
    *n_out = n;
    return 0;
}

int series_log_open(series_index *ix, const char *dir, bool read_only, buf *report, sl_diag *d) {
    char path[600];
    snprintf(path, sizeof path, "%s/series.log", dir);
    int fd = open(path, read_only ? O_RDONLY | O_CLOEXEC : O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        if (read_only && errno == ENOENT) return 0; /* an empty store */
        return sl_diag_set(d, -errno, 0, "%s: %s", path, strerror(errno));
    }
    uint8_t *p = NULL;
    size_t size = 0;
    int rc = read_file(fd, &p, &size);
    if (rc < 0) {
        sl_diag_set(d, rc, 0, "%s: cannot read: %s", path, sl_strerror(rc));
        close(fd);
        return rc;
    }
    if (size == 0 && !read_only) {
        uint8_t hdr[SERIES_LOG_HDR] = {'S', 'L', 'S', 'X'};
        sl_store_u32le(hdr + 4, SERIES_LOG_VERSION);
        sl_store_u32le(hdr + 12, crc32c(hdr, 12));
        if ((rc = storage__write_all(fd, hdr, sizeof hdr)) < 0 || (fsync(fd) < 0 && (rc = -errno))) {
            sl_diag_set(d, rc, 0, "%s: cannot write header: %s", path, sl_strerror(rc));
            goto fail;
        }
        size = SERIES_LOG_HDR;
        mem_free(MEM_INDEX, p);
        ix->log_fd = fd;
        ix->log_bytes = size;
        return 0;
    }
    if (size < SERIES_LOG_HDR || memcmp(p, "SLSX", 4) != 0 ||
        crc32c(p, 12) != sl_load_u32le(p + 12)) {
        rc = sl_diag_set(d, SL_ECORRUPT, 0, "%s: bad header (not a series log, or damaged)", path);
        if (report) buf_printf(report, "%s: offset 0: bad header\n", path);
        goto fail;
    }
    if (sl_load_u32le(p + 4) != SERIES_LOG_VERSION) {
        rc = sl_diag_set(d, SL_ECORRUPT, 4, "%s: version %u, this build reads %u", path,
                         sl_load_u32le(p + 4), SERIES_LOG_VERSION);
        if (report) buf_printf(report, "%s: unsupported version %u\n", path, sl_load_u32le(p + 4));
        goto fail;
    }
    size_t off = SERIES_LOG_HDR;
    while (off < size) {
        uint32_t want = ix->count + 1;
        uint32_t n = 0;
        if (rec_valid(p, size, off, want, &n)) {
            if ((rc = index_insert(ix, p + off + SERIES_REC_HDR, n, want)) < 0) {
                sl_diag_set(d, rc, (uint32_t)off, "%s: loading series %u: %s", path, want,
                            sl_strerror(rc));
                goto fail;
            }
            off += SERIES_REC_HDR + n;
            continue;
        }
        /* Damaged record: can we step over it? */
        uint32_t claimed = size - off >= 4 ? sl_load_u32le(p + off) : 0;
        size_t next = off + SERIES_REC_HDR + (size_t)claimed;
        uint32_t n2 = 0;
        if (claimed > 0 && claimed <= STORAGE_SERIES_KEY_BYTES_MAX && next < size &&
            rec_valid(p, size, next, want + 1, &n2)) {
            log_error("storage", "%s: offset %zu: damaged record for series %u skipped", path, off,
                      want);
            if (report)
                buf_printf(report, "%s: offset %zu: damaged record (series %u lost)\n", path, off,
                           want);
            if ((rc = index_insert(ix, NULL, 0, want)) < 0) goto fail;
            off = next;
            continue;
        }
        log_warn("storage", "%s: torn tail at offset %zu (%zu bytes) cut", path, off, size - off);
        if (report)
            buf_printf(report, "%s: offset %zu: torn tail of %zu bytes\n", path, off, size - off);
        if (!read_only && ftruncate(fd, (off_t)off) < 0) {
            rc = sl_diag_set(d, -errno, (uint32_t)off, "%s: cannot cut torn tail: %s", path,
                             strerror(errno));
            goto fail;
        }
        size = off;
        break;
    }
    mem_free(MEM_INDEX, p);
    p = NULL;
    if (read_only) {
        close(fd);
        return 0;
    }
    if (lseek(fd, (off_t)size, SEEK_SET) < 0) {
        rc = sl_diag_set(d, -errno, 0, "%s: seek: %s", path, strerror(errno));
        goto fail;
    }
    ix->log_fd = fd;
    ix->log_bytes = size;
    return 0;
fail:
    mem_free(MEM_INDEX, p);
    close(fd);
    return rc;
}
