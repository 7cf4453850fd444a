/* check.c - storage_check: offline verification of a data directory (`slung check`).
 *
 * Reads everything, writes nothing: series.log (every record, as series.c replays
 * it), every segment (header, footer, index, then every block: checksum, decode,
 * and the index summary recomputed from the decoded points must match bit for bit),
 * and every WAL file (every frame, as recovery would replay it; frames naming a
 * series the log does not have are problems too). One line per problem with file and
 * offset or block, then a summary line.
 * Threads: any; touches no open storage. */
#include "base/log.h"
#include "base/mem.h"
#include "storage/storage_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static bool same_bits(double a, double b) {
    return memcmp(&a, &b, sizeof a) == 0;
}

static uint64_t check_segment(const char *path, buf *out, uint64_t *points, uint32_t series_n) {
    seg *s;
    size_t before = out->len;
    if (seg_open(path, out, &s) < 0) return out->len != before ? 1 : 1;
    uint64_t problems = s->n_bad;
    int64_t ts[STORAGE_BLOCK_POINTS_MAX];
    double v[STORAGE_BLOCK_POINTS_MAX];
    for (uint32_t i = 0; i < s->n_blocks; i++) {
        if (s->bad[i]) continue; /* reported by seg_open */
        const seg_block *b = &s->blocks[i];
        if (b->series_id > series_n) {
            buf_printf(out, "%s: block %u: series %u is not in series.log\n", path, i,
                       b->series_id);
            problems++;
        }
        if (seg_block_decode(s, i, ts, v) < 0) {
            buf_printf(out, "%s: block %u (offset %llu): does not decode\n", path, i,
                       (unsigned long long)b->offset);
            problems++;
            continue;
        }
        storage_agg a;
        storage_agg_init(&a);
        for (uint32_t j = 0; j < b->count; j++)
            storage_agg_add(&a, ts[j], v[j]);
        if (!same_bits(a.sum, b->sum) || !same_bits(a.sum_sq, b->sum_sq) ||
            !same_bits(a.min, b->min) || !same_bits(a.max, b->max) || !same_bits(v[0], b->first) ||
            !same_bits(v[b->count - 1], b->last)) {
            buf_printf(out, "%s: block %u: summary disagrees with its points\n", path, i);
            problems++;
        }
        *points += b->count;
    }
    seg_unref(s);
    return problems;
}

/* Lines appended to out since byte from. */
static uint64_t count_lines(const buf *out, size_t from) {
    uint64_t n = 0;
    for (size_t i = from; i < out->len; i++)
        n += out->p[i] == '\n';
    return n;
}

int storage_check(const char *dir, buf *out) {
    struct stat sb;
    if (stat(dir, &sb) < 0) {
        buf_printf(out, "%s: %s\n", dir, strerror(errno));
        return -errno;
    }
    if (!S_ISDIR(sb.st_mode)) {
        buf_printf(out, "%s: not a directory\n", dir);
        return -ENOTDIR;
    }
    uint64_t problems = 0;
    size_t before = out->len;
    series_index ix;
    series_index_init(&ix, UINT32_MAX);
    sl_diag d;
    if (series_log_open(&ix, dir, true, out, &d) < 0 && out->len == before) {
        buf_printf(out, "%s\n", d.msg);
    }
    problems += count_lines(out, before);
    uint32_t series_n = ix.count;
    series_index_free(&ix);

    char segdir[600];
    snprintf(segdir, sizeof segdir, "%s/seg", dir);
    uint64_t segments = 0, points = 0;
    DIR *dh = opendir(segdir);
    if (dh) {
        struct dirent *e;
        while ((e = readdir(dh)) != NULL) {
            uint64_t id;
            if (!seg_name_parse(e->d_name, &id)) continue;
            char path[1200];
            snprintf(path, sizeof path, "%s/%s", segdir, e->d_name);
            problems += check_segment(path, out, &points, series_n);
            segments++;
        }
        closedir(dh);
    } else if (errno != ENOENT) {
        buf_printf(out, "%s: cannot list: %s\n", segdir, strerror(errno));
        problems++;
    }
    uint64_t frames = 0;
    size_t wb = out->len;
    (void)wal_check_dir(dir, series_n, out, &frames);
    problems += count_lines(out, wb);
    buf_printf(out, "%s: %u series, %llu segments (%llu points), %llu WAL frames: ", dir, series_n,
               (unsigned long long)segments, (unsigned long long)points,
               (unsigned long long)frames);
    if (problems)
        buf_printf(out, "%llu problems\n", (unsigned long long)problems);
    else
        buf_puts(out, "ok\n");
    if (buf_failed(out)) return -ENOMEM;
    return problems ? SL_ECORRUPT : 0;
}
