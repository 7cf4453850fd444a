/* bench_lineproto.c - CPU cost of parsing InfluxDB line protocol (POST /write)
 * without HTTP or storage: 200,000 Telegraf-like lines (2 tags, 3 numeric fields,
 * a timestamp) parsed --rounds times by lineproto_parse (both passes: check, then
 * fill batches; the emit callback only counts). Prints lines, points and MB per
 * CPU-second of this process. Not a test.
 * Usage: bench_lineproto [--rounds 5] */
#include "base/buf.h"
#include "base/mem.h"
#include "ingest/lineproto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LINES 200000

static int emit_count(point_batch *b, void *arg) {
    *(long *)arg += b->count;
    return 0;
}

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    int rounds = 5;
    if (argc == 3 && !strcmp(argv[1], "--rounds")) rounds = atoi(argv[2]);
    if (rounds < 1) return 2;
    buf body;
    buf_init(&body, MEM_MISC, 0);
    for (int i = 0; i < LINES; i++)
        buf_printf(&body,
                   "cpu,host=server%d,region=eu-west usage_user=%d.5,usage_system=%di,value=%d "
                   "17000000000%08d\n",
                   i % 100, i, i, i, i);
    if (buf_failed(&body)) return 1;
    lineproto_parser lp;
    lineproto_limits l;
    lineproto_limits_default(&l);
    if (lineproto_parser_init(&lp, &l) < 0) return 1;
    point_batch b;
    point_batch_init(&b);
    long points = 0;
    double c0 = cpu_s();
    for (int r = 0; r < rounds; r++) {
        long n =
            lineproto_parse(&lp, body.p, body.len, LINEPROTO_NS, 1, &b, emit_count, &points, NULL);
        if (n != 3L * LINES) return 1;
    }
    double cpu = cpu_s() - c0;
    printf("lines=%d rounds=%d bytes_per_round=%zu cpu_s=%.3f lines_per_cpu_s=%.0f "
           "points_per_cpu_s=%.0f mb_per_cpu_s=%.1f\n",
           LINES, rounds, body.len, cpu, (double)LINES * rounds / cpu, points / cpu,
           (double)body.len * rounds / cpu / 1e6);
    point_batch_free(&b);
    lineproto_parser_free(&lp);
    buf_free(&body);
    return 0;
}
