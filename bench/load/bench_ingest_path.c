/* bench_ingest_path.c - CPU cost of the server's ingest path without the network:
 * frame_decode -> ingest_submit -> apply thread -> storage_write (real storage,
 * batch fsync policy, in a fresh directory under $TMPDIR), for the same frames
 * bench_load sends (P points per frame cycling over S series, two tags each).
 * Prints points per process CPU-second (user+sys of all threads, getrusage) and
 * the time split decode / apply, so the network's share of bench_load's figure can
 * be told apart. One run, bounded by --points-total. Not a test.
 * Usage: bench_ingest_path [--series 1000] [--points 100] [--frames-per-batch 1]
 *        [--points-total 20000000] [--fsync batch|always|none] [--unsorted-tags]
 *        [--decode-only] */
#include "base/buf.h"
#include "base/clock.h"
#include "base/common.h"
#include "base/mem.h"
#include "ingest/frame.h"
#include "ingest/ingest.h"
#include "storage/storage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
    uint32_t series = 1000;
    uint32_t points = 100;
    uint32_t frames_per_batch = 1;
    uint64_t total = 20000000;
    const char *fsync_name = "batch";
    int unsorted = 0;
    int decode_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--unsorted-tags")) {
            unsorted = 1;
            continue;
        }
        if (!strcmp(argv[i], "--decode-only")) {
            decode_only = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "flag %s needs a value\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--series"))
            series = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--points"))
            points = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--frames-per-batch"))
            frames_per_batch = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--points-total"))
            total = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--fsync"))
            fsync_name = argv[i + 1];
        else {
            fprintf(stderr, "unknown flag %s\n", argv[i]);
            return 2;
        }
        i++;
    }
    if (series == 0 || points == 0 || frames_per_batch == 0 ||
        (uint64_t)points * frames_per_batch > BATCH_POINTS_MAX)
        return 2;

    /* The frames: enough distinct ones to cycle over every series. */
    uint32_t nframes = (series + points - 1) / points;
    if (nframes < 16) nframes = 16;
    buf *frames = calloc(nframes, sizeof(*frames));
    if (!frames) return 1;
    uint64_t s_next = 0;
    int64_t ts = clock_realtime_ns();
    for (uint32_t f = 0; f < nframes; f++) {
        buf_init(&frames[f], MEM_MISC, 0);
        for (uint32_t j = 0; j < points; j++) {
            char sv[32];
            int sn = snprintf(sv, sizeof sv, "series=%u", (uint32_t)(s_next++ % series));
            /* Sorted (host < series) unless --unsorted-tags: the decoder's fast path
             * takes a sorted tag list as the key; unsorted ones are sorted. */
            sk_view host = {(const uint8_t *)"host=c0", 7};
            sk_view ser = {(const uint8_t *)sv, (uint32_t)sn};
            sk_view tags[2] = {unsorted ? ser : host, unsorted ? host : ser};
            if (frame_encode_point(&frames[f], ts++, 0.5 * j, "load", 4, tags, 2) != 0) return 1;
        }
    }

    char dir[256];
    snprintf(dir, sizeof dir, "%s/slung-bench-ingest-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) return 1;
    storage_opts so;
    storage_opts_default(&so);
    so.dir = dir;
    if (!strcmp(fsync_name, "always"))
        so.fsync = STORAGE_FSYNC_ALWAYS;
    else if (!strcmp(fsync_name, "none"))
        so.fsync = STORAGE_FSYNC_NONE;
    storage *st;
    sl_diag d;
    if (storage_open(&so, &st, &d) < 0) {
        fprintf(stderr, "storage_open: %s\n", d.msg);
        return 1;
    }
    ingest *in;
    ingest_opts io = {0};
    if (ingest_new(st, &io, &in) < 0) return 1;
    frame_decoder fd;
    frame_limits fl;
    frame_limits_default(&fl);
    if (frame_decoder_init(&fd, &fl) < 0) return 1;
    point_batch b;
    point_batch_init(&b);

    double c0 = cpu_s();
    int64_t w0 = clock_mono_ns();
    int64_t decode_ns = 0;
    uint64_t done = 0;
    uint64_t eagain = 0;
    uint64_t ticket = 0;
    uint32_t f = 0;
    while (done < total) {
        int64_t d0 = clock_mono_ns();
        for (uint32_t k = 0; k < frames_per_batch; k++) {
            /* Fresh timestamps each round so storage sees new points, not rewrites. */
            buf *fr = &frames[f];
            int64_t base = ts;
            size_t off = 0;
            for (int64_t j = 0; off < fr->len; j++) {
                sl_store_u64le(fr->p + off, (uint64_t)(base + j));
                uint16_t tag_count = sl_load_u16le(fr->p + off + 18);
                off += FRAME_POINT_HEADER_BYTES + sl_load_u16le(fr->p + off + 16);
                for (uint16_t t = 0; t < tag_count; t++)
                    off += 2 + sl_load_u16le(fr->p + off);
            }
            ts += points;
            if (frame_decode(&fd, fr->p, fr->len, &b, &d) < 0) {
                fprintf(stderr, "decode: %s\n", d.msg);
                return 1;
            }
            f = (f + 1) % nframes;
        }
        decode_ns += clock_mono_ns() - d0;
        uint32_t n = b.count;
        if (decode_only) {
            point_batch_reset(&b);
            done += n;
            continue;
        }
        int rc;
        while ((rc = ingest_submit(in, &b, &ticket)) == -EAGAIN) {
            eagain++;
            usleep(50);
        }
        if (rc < 0) return 1;
        done += n;
    }
    while (ingest_durable_ticket(in) < ticket)
        usleep(200);
    int64_t wall_ns = clock_mono_ns() - w0;
    double cpu = cpu_s() - c0;
    ingest_stats is;
    ingest_get_stats(in, &is);
    storage_stats ss;
    storage_get_stats(st, &ss);
    printf("%s tags=%s series=%u points_per_frame=%u frames_per_batch=%u fsync=%s points=%llu "
           "wall_s=%.2f "
           "cpu_s=%.2f points_per_cpu_s=%.0f points_per_wall_s=%.0f decode_cpu_share=%.2f "
           "queue_full=%llu fsyncs=%llu failed=%llu\n",
           decode_only ? "decode-only" : "decode+apply", unsorted ? "unsorted" : "sorted", series,
           points, frames_per_batch, fsync_name, (unsigned long long)done, wall_ns / 1e9, cpu,
           done / cpu, done / (wall_ns / 1e9), decode_ns / 1e9 / cpu, (unsigned long long)eagain,
           (unsigned long long)ss.fsyncs, (unsigned long long)is.points_failed);
    ingest_free(in);
    storage_close(st);
    point_batch_free(&b);
    frame_decoder_free(&fd);
    for (uint32_t i = 0; i < nframes; i++)
        buf_free(&frames[i]);
    free(frames);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return 0;
}
