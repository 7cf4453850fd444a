/* bench_latency.c - live event latency: from a decoded batch entering ingest to the
 * event being returned by live_poll, under background load.
 *
 * In one process: storage (fsync batch, the server default) + ingest's apply thread
 * with live_feed as its sink, as `slung serve` wires them. A submitter thread sends
 * background batches of 1,000 points ("bg,host=hN") at RATE points/s (default
 * 500,000) and, every 2 ms, a probe batch with one point "lat,probe=1" whose value is
 * its submit time (CLOCK_MONOTONIC ns). A poller thread waits in live_poll on
 * "LAST:lat:[probe=1]" and records now - value for every event. Excludes network
 * and frame decoding (microseconds for one point); includes queueing behind the
 * background batches, storage_write (WAL append + memtable) and live matching.
 * Usage: bench_latency [seconds=3] [rate=500000]. Prints p50/p90/p99/max. */
#include "base/buf.h"
#include "base/clock.h"
#include "base/common.h"
#include "base/serieskey.h"
#include "ingest/ingest.h"
#include "query/live.h"
#include "storage/storage.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SAMPLES_MAX 100000

static live_registry *reg;
static uint64_t handle;
static atomic_bool stop;
static int64_t samples[SAMPLES_MAX];
static int sample_count;

static int64_t applied[SAMPLES_MAX]; /* submit -> sink called (apply thread) */
static int applied_count;

static void sink(const point_batch *b, void *arg) {
    (void)arg;
    if (b->count == 1 && applied_count < SAMPLES_MAX)
        applied[applied_count++] = clock_mono_ns() - (int64_t)b->value[0];
    live_feed(reg, b);
}

static void *poller(void *arg) {
    (void)arg;
    buf out;
    buf_init(&out, MEM_MISC, 0);
    while (!atomic_load(&stop)) {
        buf_reset(&out);
        if (live_poll(reg, handle, 100, &out) != 1) continue;
        int64_t now = clock_mono_ns();
        const char *v = strstr(buf_cstr(&out), "\"value\":");
        if (v && sample_count < SAMPLES_MAX)
            samples[sample_count++] = now - (int64_t)strtod(v + 8, NULL);
    }
    buf_free(&out);
    return NULL;
}

static void key_for(buf *k, const char *name, const char *tag) {
    sk_view tags[1] = {{(const uint8_t *)tag, (uint32_t)strlen(tag)}};
    sk_view scratch[1];
    buf_reset(k);
    serieskey_build(k, (sk_view){(const uint8_t *)name, (uint32_t)strlen(name)}, tags, 1, scratch);
}

static void submit(ingest *in, point_batch *b) {
    uint64_t ticket;
    while (ingest_submit(in, b, &ticket) == -EAGAIN)
        usleep(100);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 3;
    double rate = argc > 2 ? atof(argv[2]) : 500000;
    char dir[] = "/tmp/slung-bench-latency-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    storage_opts so;
    storage_opts_default(&so);
    so.dir = dir;
    storage *st;
    sl_diag d;
    if (storage_open(&so, &st, &d) != 0) {
        fprintf(stderr, "storage_open: %s\n", d.msg);
        return 1;
    }
    if (live_registry_new(0, &reg) != 0) return 1;
    if (live_register(reg, "LAST:lat:[probe=1]", 18, &handle, &d) != 0) return 1;
    ingest_opts io = {.sink = sink};
    ingest *in;
    if (ingest_new(st, &io, &in) != 0) return 1;
    pthread_t th;
    pthread_create(&th, NULL, poller, NULL);

    buf k;
    buf_init(&k, MEM_MISC, 0);
    buf probe_key;
    buf_init(&probe_key, MEM_MISC, 0);
    key_for(&probe_key, "lat", "probe=1");
    point_batch b;
    point_batch_init(&b);
    int64_t start = clock_mono_ns();
    int64_t end = start + (int64_t)(seconds * 1e9);
    int64_t next_probe = start;
    double sent = 0;
    uint32_t host = 0;
    while (clock_mono_ns() < end) {
        int64_t now = clock_mono_ns();
        if (now >= next_probe) {
            point_batch_init(&b);
            SL_ASSERT(point_batch_add(&b, clock_realtime_ns(), (double)clock_mono_ns(), probe_key.p,
                                      (uint32_t)probe_key.len) == 0);
            submit(in, &b);
            point_batch_free(&b);
            next_probe += 2000000;
            continue;
        }
        if (sent < (double)(now - start) / 1e9 * rate) {
            char tag[32];
            snprintf(tag, sizeof(tag), "host=h%u", host++ % 1000);
            key_for(&k, "bg", tag);
            point_batch_init(&b);
            int64_t ts = clock_realtime_ns();
            for (int i = 0; i < 1000; i++)
                SL_ASSERT(point_batch_add(&b, ts + i, (double)i, k.p, (uint32_t)k.len) == 0);
            submit(in, &b);
            point_batch_free(&b);
            sent += 1000;
            continue;
        }
        usleep(50);
    }
    double elapsed = (clock_mono_ns() - start) / 1e9;
    usleep(200000);
    atomic_store(&stop, true);
    pthread_join(th, NULL);
    ingest_free(in);
    live_registry_free(reg);
    storage_close(st);
    buf_free(&k);
    buf_free(&probe_key);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) return 1;
    qsort(samples, (size_t)sample_count, sizeof(samples[0]), cmp_i64);
    if (sample_count == 0) {
        printf("no events\n");
        return 1;
    }
    printf("background %.0f points/s for %.1f s; %d events\n", sent / elapsed, elapsed,
           sample_count);
    printf(
        "ingest_submit -> live_poll returns: p50 %.1f us, p90 %.1f us, p99 %.1f us, max %.1f us\n",
        samples[sample_count / 2] / 1e3, samples[sample_count * 9 / 10] / 1e3,
        samples[sample_count * 99 / 100] / 1e3, samples[sample_count - 1] / 1e3);
    qsort(applied, (size_t)applied_count, sizeof(applied[0]), cmp_i64);
    if (applied_count > 0)
        printf("of which ingest_submit -> sink (queue + storage_write): p50 %.1f us, p99 %.1f us\n",
               applied[applied_count / 2] / 1e3, applied[applied_count * 99 / 100] / 1e3);
    return 0;
}
