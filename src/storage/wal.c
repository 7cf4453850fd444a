/* wal.c - the write-ahead log: append-only files in dir/wal/, one frame per batch.
 *
 * WAL FORMAT (version WAL_VERSION). Little-endian. File name: <first seq, 16 hex>.wal
 *   header 32 bytes: 0 magic "SLW1" | 4 u32 version | 8 u64 first_seq |
 *                    16 12 bytes zero | 28 u32 crc32c(0..27)
 *   frame: 0 u32 payload_len | 4 u32 crc32c(8..end) | 8 u64 seq | 16 payload
 *   payload: 0 u32 count | 4 u32 zero | 8 u32 series_id[count] | i64 ts_ns[count] |
 *            f64 value[count] (IEEE-754 bits)
 * A frame is valid iff it fits in the file, payload_len = 8 + 20 * count, 0 < count <=
 * BATCH_POINTS_MAX, its crc matches and seq = previous seq + 1 (the first frame of a
 * file carries the header's first_seq).
 * Recovery: frames replay in seq order across files. At an invalid frame, if the frame
 * after it (stepping by its length field) is valid with seq + 1, or, failing that, a
 * valid frame with a later seq (up to WAL_RESYNC_SEQS on) starts at any later offset,
 * the damaged frames are reported with file and offset and replay goes on from there;
 * otherwise the rest of the file is a torn tail (normal after kill -9): reported, cut
 * off, and replay goes on with the next file. A new file is started at every open, so a torn file
 * is never appended to. Durability: wal_append() write(2)s the frame (survives kill -9 on return);
 * wal_sync() fdatasyncs (survives power loss). Files whose frames all reached a
 * segment are deleted by wal_drop_upto().
 * Threads: append/rotate/drop from the apply thread; sync from the WAL thread; w->mu
 * serialises sync against rotation so the fd being synced is never closed under it. */
#include "base/crc32c.h"
#include "base/fault.h"
#include "base/log.h"
#include "base/mem.h"
#include "storage/storage_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define WAL_VERSION 1u
#define WAL_HDR 32u
#define WAL_FRAME_HDR 16u
/* How far past a damaged frame recovery looks for the next valid seq. */
#define WAL_RESYNC_SEQS 1000000u

typedef struct wal_file {
    uint64_t first_seq;
    uint64_t last_seq; /* first_seq - 1 when empty */
    uint64_t bytes;
} wal_file;

struct wal {
    char dir[600]; /* dir/wal */
    bool read_only;
    int fd; /* current file, -1 if none */
    uint64_t fd_first_seq;
    uint64_t fd_bytes;
    atomic_uint_fast64_t last_seq; /* last frame fully written */
    pthread_mutex_t mu;
    wal_file *closed; /* older files, ascending */
    uint32_t n_closed;
    uint32_t cap_closed;
    uint8_t *scratch; /* one encoded frame */
    size_t scratch_cap;
    atomic_uint_fast64_t bytes; /* all WAL files */
};

static void file_path(const wal *w, uint64_t first_seq, char *out, size_t n) {
    snprintf(out, n, "%s/%016llx.wal", w->dir, (unsigned long long)first_seq);
}

static int fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

static int closed_push(wal *w, wal_file f) {
    if (w->n_closed == w->cap_closed) {
        uint32_t cap = w->cap_closed ? w->cap_closed * 2 : 16;
        wal_file *np = mem_realloc(MEM_STORAGE, w->closed, (size_t)cap * sizeof(*np));
        if (!np) return -ENOMEM;
        w->closed = np;
        w->cap_closed = cap;
    }
    w->closed[w->n_closed++] = f;
    return 0;
}

/* Checks the frame at off; returns its total length if valid with seq want, else 0. */
static size_t frame_valid(const uint8_t *p, size_t size, size_t off, uint64_t want) {
    if (size - off < WAL_FRAME_HDR + 8) return 0;
    uint32_t len = sl_load_u32le(p + off);
    if (len < 8 || len > STORAGE_WAL_PAYLOAD_MAX || size - off - WAL_FRAME_HDR < len) return 0;
    const uint8_t *pl = p + off + WAL_FRAME_HDR;
    uint32_t count = sl_load_u32le(pl);
    if (count == 0 || count > BATCH_POINTS_MAX || len != 8u + 20u * count) return 0;
    if (sl_load_u64le(p + off + 8) != want) return 0;
    if (crc32c(p + off + 8, 8 + (size_t)len) != sl_load_u32le(p + off + 4)) return 0;
    return WAL_FRAME_HDR + len;
}

static int name_cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Lists dir's WAL files as first seqs, ascending. */
static int list_files(const char *dir, uint64_t **out, uint32_t *n_out) {
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : -errno;
    uint64_t *v = NULL;
    uint32_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *s = e->d_name;
        if (strlen(s) != 20 || strcmp(s + 16, ".wal") != 0) continue;
        char *end;
        unsigned long long x = strtoull(s, &end, 16);
        if (end != s + 16) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *np = mem_realloc(MEM_STORAGE, v, cap * sizeof(*np));
            if (!np) {
                mem_free(MEM_STORAGE, v);
                closedir(d);
                return -ENOMEM;
            }
            v = np;
        }
        v[n++] = x;
    }
    closedir(d);
    if (n > 1) qsort(v, n, sizeof(*v), name_cmp);
    *out = v;
    *n_out = n;
    return 0;
}

/* Replays one file. *next_seq is the seq expected next (0 = take the header's). */
static int replay_file(wal *w, uint64_t first, uint64_t skip_upto, wal_replay_cb cb, void *arg,
                       buf *report, uint64_t *next_seq, wal_file *info) {
    char path[700];
    file_path(w, first, path, sizeof path);
    int fd;
    size_t size;
    int orc = storage__open_sized(path, w->read_only ? O_RDONLY | O_CLOEXEC : O_RDWR | O_CLOEXEC,
                                  report, &fd, &size);
    if (orc < 0) return orc;
    info->first_seq = first;
    info->last_seq = first - 1;
    info->bytes = size;
    int rc = 0;
    const uint8_t *p = NULL;
    if (size > 0) {
        p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            rc = -errno;
            close(fd);
            return rc;
        }
    }
    if (size < WAL_HDR || memcmp(p, "SLW1", 4) != 0 || crc32c(p, 28) != sl_load_u32le(p + 28) ||
        sl_load_u64le(p + 8) != first) {
        /* An empty or half-written header is what a crash right after creating the file
         * leaves; anything else with a bad header is damage. */
        bool torn = size < WAL_HDR;
        log_warn("storage", "%s: %s header, file skipped", path, torn ? "incomplete" : "bad");
        if (report && !torn) buf_printf(report, "%s: offset 0: bad header\n", path);
        goto done;
    }
    if (sl_load_u32le(p + 4) != WAL_VERSION) {
        log_error("storage", "%s: version %u unsupported, file skipped", path,
                  sl_load_u32le(p + 4));
        if (report) buf_printf(report, "%s: unsupported version %u\n", path, sl_load_u32le(p + 4));
        goto done;
    }
    if (*next_seq != 0 && first < *next_seq) {
        log_error("storage", "%s: starts at seq %llu, before %llu: file skipped", path,
                  (unsigned long long)first, (unsigned long long)*next_seq);
        if (report)
            buf_printf(report, "%s: offset 8: first seq %llu overlaps earlier files\n", path,
                       (unsigned long long)first);
        goto done;
    }
    uint64_t want = first;
    size_t off = WAL_HDR;
    while (off < size) {
        size_t fl = frame_valid(p, size, off, want);
        if (fl == 0) {
            uint32_t claimed = size - off >= 4 ? sl_load_u32le(p + off) : 0;
            size_t next = off + WAL_FRAME_HDR + (size_t)claimed;
            if (claimed >= 8 && claimed <= STORAGE_WAL_PAYLOAD_MAX && next < size &&
                frame_valid(p, size, next, want + 1)) {
                log_error("storage", "%s: offset %zu: damaged frame (seq %llu) skipped", path, off,
                          (unsigned long long)want);
                if (report)
                    buf_printf(report, "%s: offset %zu: damaged frame, seq %llu lost\n", path, off,
                               (unsigned long long)want);
                off = next;
                want++;
                continue;
            }
            /* The length field itself may be what is damaged: look further on for a
             * valid frame with a later seq before calling the rest a torn tail. */
            size_t found = 0;
            uint64_t found_seq = 0;
            for (size_t q = off + 1; q + WAL_FRAME_HDR + 8 <= size && !found; q++) {
                uint64_t sq = sl_load_u64le(p + q + 8);
                if (sq > want && sq - want <= WAL_RESYNC_SEQS && frame_valid(p, size, q, sq)) {
                    found = q;
                    found_seq = sq;
                }
            }
            if (found) {
                log_error("storage", "%s: offset %zu: damaged frames (seq %llu..%llu) skipped",
                          path, off, (unsigned long long)want, (unsigned long long)found_seq - 1);
                if (report)
                    buf_printf(report, "%s: offset %zu: damaged frames, seq %llu..%llu lost\n",
                               path, off, (unsigned long long)want,
                               (unsigned long long)found_seq - 1);
                off = found;
                want = found_seq;
                continue;
            }
            log_warn("storage", "%s: torn tail at offset %zu (%zu bytes) cut", path, off,
                     size - off);
            if (report)
                buf_printf(report, "%s: offset %zu: torn tail of %zu bytes\n", path, off,
                           size - off);
            if (!w->read_only && ftruncate(fd, (off_t)off) < 0) {
                rc = -errno;
                log_error("storage", "%s: cannot cut torn tail: %s", path, strerror(errno));
                goto done;
            }
            info->bytes = off;
            break;
        }
        if (want > skip_upto && cb) {
            const uint8_t *pl = p + off + WAL_FRAME_HDR;
            uint32_t count = sl_load_u32le(pl);
            rc = cb(want, count, pl + 8, pl + 8 + 4 * (size_t)count, pl + 8 + 12 * (size_t)count,
                    arg);
            if (rc < 0) goto done;
        }
        info->last_seq = want;
        want++;
        off += fl;
    }
    *next_seq = want;
done:
    if (p) munmap((void *)p, size);
    close(fd);
    return rc;
}

static int file_create(wal *w, uint64_t first_seq) {
    char path[700];
    file_path(w, first_seq, path, sizeof path);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    uint8_t hdr[WAL_HDR] = {'S', 'L', 'W', '1'};
    sl_store_u32le(hdr + 4, WAL_VERSION);
    sl_store_u64le(hdr + 8, first_seq);
    sl_store_u32le(hdr + 28, crc32c(hdr, 28));
    int rc = storage__write_all(fd, hdr, sizeof hdr);
    if (rc == 0 && fdatasync(fd) < 0) rc = -errno;
    if (rc == 0) rc = fsync_dir(w->dir);
    if (rc < 0) {
        close(fd);
        unlink(path);
        return rc;
    }
    w->fd = fd;
    w->fd_first_seq = first_seq;
    w->fd_bytes = WAL_HDR;
    atomic_fetch_add(&w->bytes, WAL_HDR);
    return 0;
}

int wal_open(const char *dir, bool read_only, uint64_t skip_upto, wal_replay_cb cb, void *arg,
             buf *report, wal **out, sl_diag *d) {
    *out = NULL;
    wal *w = mem_calloc(MEM_STORAGE, 1, sizeof(*w));
    if (!w) return sl_diag_set(d, -ENOMEM, 0, "out of memory opening the WAL");
    snprintf(w->dir, sizeof w->dir, "%s/wal", dir);
    w->read_only = read_only;
    w->fd = -1;
    pthread_mutex_init(&w->mu, NULL);
    int rc;
    if (!read_only && mkdir(w->dir, 0755) < 0 && errno != EEXIST) {
        rc = sl_diag_set(d, -errno, 0, "%s: cannot create: %s", w->dir, strerror(errno));
        goto fail;
    }
    uint64_t *firsts;
    uint32_t n;
    if ((rc = list_files(w->dir, &firsts, &n)) < 0) {
        sl_diag_set(d, rc, 0, "%s: cannot list: %s", w->dir, sl_strerror(rc));
        goto fail;
    }
    uint64_t next = 0;
    uint64_t last = skip_upto;
    for (uint32_t i = 0; i < n; i++) {
        wal_file info;
        rc = replay_file(w, firsts[i], skip_upto, cb, arg, report, &next, &info);
        if (rc < 0) {
            mem_free(MEM_STORAGE, firsts);
            sl_diag_set(d, rc, 0, "%s/%016llx.wal: replay failed: %s", w->dir,
                        (unsigned long long)firsts[i], sl_strerror(rc));
            goto fail;
        }
        if (info.last_seq + 1 > info.first_seq && info.last_seq > last) last = info.last_seq;
        atomic_fetch_add(&w->bytes, info.bytes);
        if ((rc = closed_push(w, info)) < 0) {
            mem_free(MEM_STORAGE, firsts);
            sl_diag_set(d, rc, 0, "out of memory replaying the WAL");
            goto fail;
        }
    }
    mem_free(MEM_STORAGE, firsts);
    atomic_init(&w->last_seq, last);
    if (!read_only) {
        /* A replayed file with no frames that would carry the new file's name is
         * replaced (it is what a crash right after a rotation leaves). */
        if (w->n_closed > 0 && w->closed[w->n_closed - 1].first_seq == last + 1) {
            atomic_fetch_sub(&w->bytes, w->closed[w->n_closed - 1].bytes);
            w->n_closed--;
        }
        if ((rc = file_create(w, last + 1)) < 0) {
            sl_diag_set(d, rc, 0, "%s: cannot create a WAL file: %s", w->dir, sl_strerror(rc));
            goto fail;
        }
    }
    *out = w;
    return 0;
fail:
    pthread_mutex_destroy(&w->mu);
    mem_free(MEM_STORAGE, w->closed);
    mem_free(MEM_STORAGE, w);
    return rc;
}

void wal_close(wal *w) {
    if (!w) return;
    if (w->fd >= 0) {
        if (fdatasync(w->fd) < 0)
            log_error("storage", "WAL fdatasync at close: %s", strerror(errno));
        close(w->fd);
    }
    pthread_mutex_destroy(&w->mu);
    mem_free(MEM_STORAGE, w->closed);
    mem_free(MEM_STORAGE, w->scratch);
    mem_free(MEM_STORAGE, w);
}

uint64_t wal_last_seq(const wal *w) {
    return atomic_load(&((wal *)w)->last_seq);
}
uint64_t wal_bytes(const wal *w) {
    return atomic_load(&((wal *)w)->bytes);
}

int wal_rotate(wal *w, uint64_t *upto) {
    SL_ASSERT(!w->read_only);
    uint64_t last = atomic_load(&w->last_seq);
    *upto = last;
    if (w->fd >= 0 && w->fd_bytes == WAL_HDR) return 0; /* already fresh */
    pthread_mutex_lock(&w->mu);
    int rc = 0;
    if (w->fd >= 0) {
        if (fault_hit(FAULT_FSYNC))
            rc = -EIO;
        else if (fdatasync(w->fd) < 0)
            rc = -errno;
        if (rc < 0) {
            pthread_mutex_unlock(&w->mu);
            return rc;
        }
        wal_file f = {w->fd_first_seq, last, w->fd_bytes};
        if ((rc = closed_push(w, f)) < 0) {
            pthread_mutex_unlock(&w->mu);
            return rc;
        }
        close(w->fd);
        w->fd = -1;
    }
    rc = file_create(w, last + 1);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int wal_append(wal *w, const point_batch *b, uint64_t *seq_out) {
    SL_ASSERT(b->count > 0);
    SL_ASSERT(b->count <= BATCH_POINTS_MAX);
    if (w->fd < 0) return SL_ECLOSED;
    if (w->fd_bytes > STORAGE_WAL_FILE_BYTES_MAX) {
        uint64_t upto;
        int rc = wal_rotate(w, &upto);
        if (rc < 0) return rc;
    }
    size_t len = 8 + 20 * (size_t)b->count;
    size_t total = WAL_FRAME_HDR + len;
    if (total > w->scratch_cap) {
        uint8_t *np = mem_realloc(MEM_STORAGE, w->scratch, total);
        if (!np) return -ENOMEM;
        w->scratch = np;
        w->scratch_cap = total;
    }
    uint64_t seq = atomic_load(&w->last_seq) + 1;
    uint8_t *p = w->scratch;
    sl_store_u32le(p, (uint32_t)len);
    sl_store_u64le(p + 8, seq);
    uint8_t *pl = p + WAL_FRAME_HDR;
    sl_store_u32le(pl, b->count);
    sl_store_u32le(pl + 4, 0);
    /* The in-memory arrays are little-endian on every platform we build for. */
    memcpy(pl + 8, b->series_id, 4 * (size_t)b->count);
    memcpy(pl + 8 + 4 * (size_t)b->count, b->ts_ns, 8 * (size_t)b->count);
    memcpy(pl + 8 + 12 * (size_t)b->count, b->value, 8 * (size_t)b->count);
    sl_store_u32le(p + 4, crc32c(p + 8, 8 + len));
    SL_DEBUG_ASSERT(frame_valid(p, total, 0, seq) == total);
    int rc = storage__write_all(w->fd, p, total);
    if (rc < 0) {
        /* Cut the partial frame so the file stays a valid prefix. */
        if (ftruncate(w->fd, (off_t)w->fd_bytes) < 0 ||
            lseek(w->fd, (off_t)w->fd_bytes, SEEK_SET) < 0)
            log_error("storage", "WAL: cannot cut a failed write back: %s", strerror(errno));
        return rc;
    }
    w->fd_bytes += total;
    atomic_fetch_add(&w->bytes, total);
    atomic_store(&w->last_seq, seq);
    *seq_out = seq;
    return 0;
}

int wal_sync(wal *w, uint64_t *synced_upto) {
    pthread_mutex_lock(&w->mu);
    uint64_t upto = atomic_load(&w->last_seq);
    int rc = 0;
    if (w->fd >= 0) {
        if (fault_hit(FAULT_FSYNC))
            rc = -EIO;
        else if (fdatasync(w->fd) < 0)
            rc = -errno;
    }
    pthread_mutex_unlock(&w->mu);
    if (rc == 0) *synced_upto = upto;
    return rc;
}

void wal_drop_upto(wal *w, uint64_t upto) {
    pthread_mutex_lock(&w->mu);
    uint32_t k = 0;
    for (uint32_t i = 0; i < w->n_closed; i++) {
        wal_file *f = &w->closed[i];
        if (f->last_seq <= upto) {
            char path[700];
            file_path(w, f->first_seq, path, sizeof path);
            if (unlink(path) < 0 && errno != ENOENT) {
                log_warn("storage", "%s: cannot delete: %s", path, strerror(errno));
                w->closed[k++] = *f;
                continue;
            }
            atomic_fetch_sub(&w->bytes, f->bytes);
        } else {
            w->closed[k++] = *f;
        }
    }
    w->n_closed = k;
    pthread_mutex_unlock(&w->mu);
}

typedef struct check_ctx {
    uint32_t series_n;
    uint64_t unknown;
    uint64_t first_seq;
} check_ctx;

static int check_frame(uint64_t seq, uint32_t count, const uint8_t *ids, const uint8_t *ts,
                       const uint8_t *vals, void *arg) {
    check_ctx *c = arg;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t id = sl_load_u32le(ids + 4 * (size_t)i);
        if (id == 0 || id > c->series_n) {
            if (c->unknown++ == 0) c->first_seq = seq;
        }
    }
    return 0;
}

int wal_check_dir(const char *dir, uint32_t series_n, buf *report, uint64_t *frames_out) {
    wal *w;
    sl_diag d;
    size_t before = report ? report->len : 0;
    check_ctx c = {.series_n = series_n};
    int rc = wal_open(dir, true, 0, check_frame, &c, report, &w, &d);
    if (rc < 0) {
        if (report) buf_printf(report, "%s\n", d.msg);
        return rc;
    }
    uint64_t frames = 0;
    for (uint32_t i = 0; i < w->n_closed; i++)
        frames += w->closed[i].last_seq + 1 - w->closed[i].first_seq;
    *frames_out = frames;
    wal_close(w);
    if (c.unknown && report)
        buf_printf(report,
                   "%s/wal: %llu points (first in seq %llu) name series missing from "
                   "series.log\n",
                   dir, (unsigned long long)c.unknown, (unsigned long long)c.first_seq);
    return report && report->len != before ? SL_ECORRUPT : 0;
}
