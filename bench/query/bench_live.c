/* bench_live.c - cost of live-query matching per ingested point.
 *
 * Registers N live queries (default 10,000) on one series name, each filed under its
 * own host tag ("SUM:cpu:[host=hI AND dc=x]"), plus 100 catch-all queries on other
 * names, then feeds batches of 1,000 points spread over 100,000 hosts (so about 1 in
 * 10 points matches a query) and reports nanoseconds per point, and the same with 0
 * queries registered as a baseline. Also: a point matching through the name's
 * catch-all bucket ("COUNT:cpu:[NOT dc=y]") for the worst case where every point
 * matches. Figures are thread CPU time inside live_feed per point, so other processes
 * on a shared machine inflate them less than wall time would.
 * Usage: bench_live [queries] [points]. Single thread. */
#include "base/buf.h"
#include "base/clock.h"
#include "base/common.h"
#include "base/serieskey.h"
#include "query/live.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void add_point(point_batch *b, uint32_t host, int64_t ts, double v) {
    char h[32];
    snprintf(h, sizeof(h), "host=h%u", host);
    sk_view tags[2] = {{(const uint8_t *)h, (uint32_t)strlen(h)}, {(const uint8_t *)"dc=x", 4}};
    sk_view scratch[2];
    buf k;
    buf_init(&k, MEM_MISC, 0);
    serieskey_build(&k, (sk_view){(const uint8_t *)"cpu", 3}, tags, 2, scratch);
    SL_ASSERT(point_batch_add(b, ts, v, k.p, (uint32_t)k.len) == 0);
    buf_free(&k);
}

static int64_t cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Returns thread CPU ns per point spent in live_feed (wall time would count the other
 * processes of a shared machine). */
static double run(live_registry *r, uint32_t points) {
    enum { BATCH = 1000 };
    point_batch b;
    point_batch_init(&b);
    int64_t spent = 0;
    uint32_t done = 0;
    uint64_t rng = 88172645463325252ull;
    while (done < points) {
        point_batch_reset(&b);
        for (int i = 0; i < BATCH; i++) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            add_point(&b, (uint32_t)(rng % 100000), (int64_t)done + i, (double)i);
        }
        b.producer_id = 1;
        int64_t t = cpu_ns();
        live_feed(r, &b);
        spent += cpu_ns() - t;
        done += BATCH;
    }
    point_batch_free(&b);
    return (double)spent / done;
}

int main(int argc, char **argv) {
    uint32_t queries = argc > 1 ? (uint32_t)atoi(argv[1]) : 10000;
    uint32_t points = argc > 2 ? (uint32_t)atoi(argv[2]) : 1000000;
    live_registry *r;
    if (live_registry_new(queries + 1000, &r) != 0) return 1;
    printf("live feed, 0 queries:        %.1f ns/point\n", run(r, points));
    sl_diag d;
    uint64_t h;
    for (uint32_t i = 0; i < queries; i++) {
        char text[64];
        snprintf(text, sizeof(text), "SUM:cpu:[host=h%u AND dc=x]", i * 10);
        if (live_register(r, text, strlen(text), &h, &d) != 0) {
            fprintf(stderr, "register: %s\n", d.msg);
            return 1;
        }
    }
    for (uint32_t i = 0; i < 100; i++) {
        char text[64];
        snprintf(text, sizeof(text), "AVG:other%u:[]", i);
        if (live_register(r, text, strlen(text), &h, &d) != 0) return 1;
    }
    printf("memory per registered query: %.0f bytes (MEM_LIVE + MEM_QUERY)\n",
           (double)(mem_in_use(MEM_LIVE) + mem_in_use(MEM_QUERY)) / (queries + 100));
    printf("live feed, %u tag queries: %.1f ns/point (about 1 point in 10 matches one)\n", queries,
           run(r, points));
    if (live_register(r, "COUNT:cpu:[NOT dc=y]", 20, &h, &d) != 0) return 1;
    printf("live feed, + 1 catch-all:    %.1f ns/point (every point matches it)\n", run(r, points));
    live_registry_free(r);
    return 0;
}
