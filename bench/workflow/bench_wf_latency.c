/* bench_wf_latency.c - event-to-writeback latency of a workflow: a point frame in ->
 * live query event -> the Rust workflow's callback -> its writeback text frame out,
 * measured by the producer that sent the point, optionally under background ingest.
 *
 * Starts `slung serve --wasm WASM` (the SDK's json_response example: AVG:temp:[sensor=1],
 * one JSON text frame back to each producer per event) on a free loopback port,
 * optionally runs a paced background ingest of another series (--rate points/s, frames
 * of 500 points of load,gen=1 on their own connection and thread, checked against
 * the time so it neither bursts nor falls behind silently: the achieved rate is
 * printed), then sends N single-point frames of temp,sensor=1, one at a time, each after the
 * previous answer plus a 1 ms gap, and times send -> text frame received
 * (CLOCK_MONOTONIC). Its own minimal RFC 6455 client (masked frames out, plain frames
 * in). Prints p50/p99/max in microseconds and the background rate achieved.
 * Not a test: never run by ctest.
 * Usage: bench_wf_latency --slung PATH --wasm json_response.wasm [--rate 500000]
 *        [--samples 2000] */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_us(long us) {
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        return 0;
    close(fd);
    return ntohs(a.sin_port);
}

static int tcp_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static int write_all(int fd, const void *p, size_t n) {
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t k = write(fd, b, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t n) {
    uint8_t *b = p;
    while (n > 0) {
        ssize_t k = read(fd, b, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

static int ws_open(int port) {
    int fd = tcp_connect(port);
    if (fd < 0) return -1;
    char req[256];
    int n = snprintf(req, sizeof(req),
                     "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     port);
    if (write_all(fd, req, (size_t)n) < 0) return -1;
    char resp[1024];
    size_t got = 0;
    while (got < sizeof(resp) - 1) { /* byte at a time: stop exactly at the blank line */
        if (read_all(fd, resp + got, 1) < 0) return -1;
        got++;
        resp[got] = 0;
        if (got >= 4 && memcmp(resp + got - 4, "\r\n\r\n", 4) == 0) break;
    }
    if (strncmp(resp, "HTTP/1.1 101", 12) != 0) return -1;
    return fd;
}

/* One masked binary frame holding one point of temp,sensor=1. */
static int ws_send_point(int fd, int64_t ts, double v) {
    uint8_t pl[64];
    size_t n = 0;
    memcpy(pl + n, &ts, 8), n += 8; /* little-endian host (x86-64) */
    memcpy(pl + n, &v, 8), n += 8;
    uint16_t sl = 4, tc = 1, tl = 8;
    memcpy(pl + n, &sl, 2), n += 2;
    memcpy(pl + n, &tc, 2), n += 2;
    memcpy(pl + n, "temp", 4), n += 4;
    memcpy(pl + n, &tl, 2), n += 2;
    memcpy(pl + n, "sensor=1", 8), n += 8;
    uint8_t fr[80];
    uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
    fr[0] = 0x82;
    fr[1] = (uint8_t)(0x80 | n);
    memcpy(fr + 2, mask, 4);
    for (size_t i = 0; i < n; i++)
        fr[6 + i] = pl[i] ^ mask[i & 3];
    return write_all(fd, fr, 6 + n);
}

/* Reads frames until a text frame; returns its length or -1 (timeout_ms). */
static int ws_read_text(int fd, int timeout_ms, char *out, size_t cap) {
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, timeout_ms) <= 0) return -1;
        uint8_t h[2];
        if (read_all(fd, h, 2) < 0) return -1;
        uint64_t len = h[1] & 0x7f;
        if (len == 126) {
            uint8_t e[2];
            if (read_all(fd, e, 2) < 0) return -1;
            len = (uint64_t)e[0] << 8 | e[1];
        } else if (len == 127) {
            uint8_t e[8];
            if (read_all(fd, e, 8) < 0) return -1;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | e[i];
        }
        char tmp[4096];
        if (len >= sizeof(tmp)) return -1;
        if (read_all(fd, tmp, (size_t)len) < 0) return -1;
        if ((h[0] & 0x0f) == 0x1) {
            size_t k = len < cap - 1 ? (size_t)len : cap - 1;
            memcpy(out, tmp, k);
            out[k] = 0;
            return (int)len;
        }
    }
}

/* ---- paced background ingest ---- */

#define LOAD_POINTS_PER_FRAME 500

typedef struct loadgen {
    int port;
    double rate; /* points per second */
    atomic_bool stop;
    uint64_t points_sent; /* when stopped */
    double seconds;       /* how long it ran */
} loadgen;

static void *load_thread(void *arg) {
    loadgen *g = arg;
    int fd = ws_open(g->port);
    if (fd < 0) return NULL;
    /* One frame: 2+2 header (16-bit length form, minimal for < 64 KiB) + 4 mask +
     * payload. Mask 0: XOR is a no-op. */
    size_t pt = 8 + 8 + 2 + 2 + 4 + 2 + 5;
    size_t pl = pt * LOAD_POINTS_PER_FRAME;
    uint8_t *fr = malloc(8 + pl);
    fr[0] = 0x82;
    fr[1] = 0x80 | 126;
    fr[2] = (uint8_t)(pl >> 8);
    fr[3] = (uint8_t)pl;
    memset(fr + 4, 0, 4);
    int64_t base = (int64_t)time(NULL) * 1000000000;
    int64_t t0 = now_ns();
    uint64_t sent = 0;
    while (!atomic_load(&g->stop)) {
        double due = g->rate * (double)(now_ns() - t0) / 1e9;
        if ((double)sent >= due) {
            sleep_us(200);
            continue;
        }
        uint8_t *p = fr + 8;
        for (int i = 0; i < LOAD_POINTS_PER_FRAME; i++) {
            int64_t ts = base + (int64_t)(sent + (uint64_t)i);
            double v = (double)i;
            uint16_t sl = 4, tc = 1, tl = 5;
            memcpy(p, &ts, 8), p += 8;
            memcpy(p, &v, 8), p += 8;
            memcpy(p, &sl, 2), p += 2;
            memcpy(p, &tc, 2), p += 2;
            memcpy(p, "load", 4), p += 4;
            memcpy(p, &tl, 2), p += 2;
            memcpy(p, "gen=1", 5), p += 5;
        }
        if (write_all(fd, fr, 8 + pl) < 0) break;
        sent += LOAD_POINTS_PER_FRAME;
    }
    g->seconds = (double)(now_ns() - t0) / 1e9;
    g->points_sent = sent;
    free(fr);
    close(fd);
    return NULL;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    const char *slung = NULL, *wasm = NULL;
    int samples = 2000;
    double rate = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--slung"))
            slung = argv[i + 1];
        else if (!strcmp(argv[i], "--wasm"))
            wasm = argv[i + 1];
        else if (!strcmp(argv[i], "--rate"))
            rate = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--samples"))
            samples = atoi(argv[i + 1]);
    }
    if (!slung || !wasm || samples < 10) {
        fprintf(stderr, "usage: bench_wf_latency --slung PATH --wasm WASM [--rate POINTS_PER_S] "
                        "[--samples N]\n");
        return 2;
    }
    char dir[] = "/tmp/slung-bench-wf-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    int port = free_port();
    char port_s[16], data[64];
    snprintf(port_s, sizeof(port_s), "%d", port);
    snprintf(data, sizeof(data), "%s/data", dir);
    pid_t srv = fork();
    if (srv == 0) {
        execl(slung, slung, "serve", "--listen", "127.0.0.1", "--port", port_s, "--data-dir", data,
              "--wasm", wasm, "--fsync", "batch", "--log-level", "warn", (char *)NULL);
        _exit(127);
    }
    int fd = -1;
    for (int i = 0; i < 200 && fd < 0; i++) {
        sleep_us(50000);
        fd = ws_open(port);
    }
    if (fd < 0) {
        fprintf(stderr, "server did not start\n");
        kill(srv, SIGKILL);
        return 1;
    }
    sleep_us(300000); /* the workflow registers its live query */
    loadgen g = {.port = port, .rate = rate};
    pthread_t lt;
    if (rate > 0) {
        pthread_create(&lt, NULL, load_thread, &g);
        sleep_us(1000000); /* let the load settle */
    }
    int64_t *lat = calloc((size_t)samples, sizeof(*lat));
    int got = 0, lost = 0;
    char text[512] = "";
    for (int i = 0; i < samples; i++) {
        int64_t t0 = now_ns();
        if (ws_send_point(fd, (int64_t)time(NULL) * 1000000000 + i, 150.0 + i) < 0) break;
        if (ws_read_text(fd, 2000, text, sizeof(text)) < 0) {
            lost++;
            continue;
        }
        lat[got++] = now_ns() - t0;
        sleep_us(1000);
    }
    close(fd);
    if (rate > 0) {
        atomic_store(&g.stop, true);
        pthread_join(lt, NULL);
        printf("background_ingest target=%.0f achieved=%.0f points/s over %.1f s\n", rate,
               g.points_sent / g.seconds, g.seconds);
    }
    kill(srv, SIGTERM);
    waitpid(srv, NULL, 0);
    char rm[128];
    snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
    if (system(rm) != 0) fprintf(stderr, "could not remove %s\n", dir);
    if (got == 0) {
        fprintf(stderr, "no writebacks received\n");
        return 1;
    }
    qsort(lat, (size_t)got, sizeof(*lat), cmp_i64);
    printf("event_to_writeback samples=%d lost=%d p50_us=%.1f p99_us=%.1f max_us=%.1f last=%s\n",
           got, lost, lat[got / 2] / 1e3, lat[(int)(got * 0.99)] / 1e3, lat[got - 1] / 1e3, text);
    free(lat);
    return 0;
}
