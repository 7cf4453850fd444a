/* bench_load.c - WebSocket load generator for the ingest path.
 *
 * Opens N WebSocket connections to a running server (its own minimal RFC 6455
 * client: upgrade handshake with Sec-WebSocket-Accept check, masked binary frames,
 * unmasked server frames read back), and for a duration sends multi-point frames
 * (P points each, cycling over S series `load,host=c<conn>,series=<i>`; tags sent
 * sorted unless --unsorted-tags). With --ack
 * it sends a `{"ack":N}` text frame after every K frames, keeps at most W of them
 * outstanding per connection, counts a point as acked once the server answers the
 * ack that follows it, and at the end waits (up to 10 s) for the last ack.
 * With --pid it reads the SERVER's utime+stime from /proc/<pid>/stat before and
 * after, and reports points per server CPU-second - the ingest efficiency figure.
 *
 * Output: one line of key=value figures (see the printf at the end), the change
 * in the server's points_written (GET /health) over the run, and with --ack the
 * ack round trip p50/p99/max.
 * One thread; poll() over the connections. Not a test: never run by ctest.
 * Usage: bench_load --port P [--host 127.0.0.1] [--conns 4] [--series 1000]
 *        [--points 100] [--duration 10] [--pid PID] [--ack] [--ack-every 16]
 *        [--window 4] [--unsorted-tags] */
#include "base/common.h"
#include "base/mem.h"
#include "ingest/frame.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONNS_MAX 1024
#define OUT_BYTES_MAX (4u << 20) /* a connection's unsent bytes */
#define IN_BYTES_MAX (64u << 10) /* a connection's unparsed server bytes */
#define ACK_WINDOW_MAX 256

typedef struct opts {
    const char *host;
    int port;
    int conns;
    uint32_t series;
    uint32_t points;
    double duration_s;
    int pid;
    int ack;
    uint32_t ack_every;
    uint32_t window;
    int unsorted; /* send tags as series=,host= (the decoder must sort them) */
} opts;

typedef struct conn {
    int fd;
    int idx;
    int open;     /* handshake done */
    char key[32]; /* Sec-WebSocket-Key sent */
    uint8_t *out; /* bytes to send */
    size_t out_off;
    size_t out_len;
    uint8_t in[IN_BYTES_MAX];
    size_t in_len;
    uint64_t frames_sent;                /* data frames queued */
    uint64_t points_sent;                /* points queued */
    uint64_t ack_next;                   /* next ack id to send */
    uint64_t ack_points[ACK_WINDOW_MAX]; /* points_sent when ack id was sent (by id % MAX) */
    double ack_sent_s[ACK_WINDOW_MAX];   /* when ack id was queued (by id % MAX) */
    uint64_t ack_wait_from;              /* oldest outstanding ack id */
    uint64_t points_acked;
    uint64_t errors;      /* {"error":...} frames received */
    uint64_t series_next; /* next series index */
    int64_t ts_next;
    uint32_t rng;
} conn;

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint32_t rng_next(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Server CPU seconds (utime + stime) of pid, or -1. */
static double proc_cpu_s(int pid) {
    char path[64];
    char text[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *p = strrchr(text, ')'); /* comm may hold spaces */
    if (!p) return -1;
    unsigned long utime = 0;
    unsigned long stime = 0;
    /* After ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt
     * cmajflt utime(14) stime(15). */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* Appends a masked client frame (FIN, opcode op) carrying payload to c->out. */
static void ws_put_frame(conn *c, int op, const uint8_t *payload, size_t n) {
    uint8_t *p = c->out + c->out_len;
    size_t h = 0;
    p[h++] = (uint8_t)(0x80 | op);
    if (n < 126) {
        p[h++] = (uint8_t)(0x80 | n);
    } else if (n <= 0xffff) {
        p[h++] = 0x80 | 126;
        p[h++] = (uint8_t)(n >> 8);
        p[h++] = (uint8_t)n;
    } else {
        p[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            p[h++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    uint32_t m = rng_next(&c->rng);
    uint8_t mask[4] = {(uint8_t)m, (uint8_t)(m >> 8), (uint8_t)(m >> 16), (uint8_t)(m >> 24)};
    memcpy(p + h, mask, 4);
    h += 4;
    uint8_t *dst = p + h;
    if (payload != dst) memmove(dst, payload, n);
    uint64_t m8;
    memcpy(&m8,
           (uint8_t[8]){mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]}, 8);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, dst + i, 8);
        v ^= m8;
        memcpy(dst + i, &v, 8);
    }
    for (; i < n; i++)
        dst[i] ^= mask[i & 3];
    c->out_len += h + n;
}

/* Per-series bytes after the point header: series name and tags, pre-encoded. */
typedef struct series_tab {
    uint8_t **suffix;
    uint16_t *suffix_len;
} series_tab;

static void series_tab_build(series_tab *t, const opts *o, int conn_idx) {
    t->suffix = calloc(o->series, sizeof(*t->suffix));
    t->suffix_len = calloc(o->series, sizeof(*t->suffix_len));
    if (!t->suffix || !t->suffix_len) abort();
    for (uint32_t i = 0; i < o->series; i++) {
        char s[32];
        char h[32];
        int sn = snprintf(s, sizeof s, "series=%u", i);
        int hn = snprintf(h, sizeof h, "host=c%d", conn_idx);
        sk_view sv = {(const uint8_t *)s, (uint32_t)sn};
        sk_view hv = {(const uint8_t *)h, (uint32_t)hn};
        /* Sorted by default (host= < series=), as clients with a fixed tag list
         * usually send them; --unsorted-tags makes the server sort each point's. */
        sk_view tags[2] = {o->unsorted ? sv : hv, o->unsorted ? hv : sv};
        buf b;
        buf_init(&b, MEM_MISC, 0);
        if (frame_encode_point(&b, 0, 0, "load", 4, tags, 2) != 0) abort();
        t->suffix_len[i] = (uint16_t)(b.len - FRAME_POINT_HEADER_BYTES);
        t->suffix[i] = malloc(t->suffix_len[i]);
        if (!t->suffix[i]) abort();
        memcpy(t->suffix[i], b.p + FRAME_POINT_HEADER_BYTES, t->suffix_len[i]);
        buf_free(&b);
    }
}

/* Queues one data frame of o->points points (payload built in place, then masked). */
static void queue_data_frame(conn *c, const opts *o, const series_tab *t) {
    size_t hdr_max = 14;
    uint8_t *payload = c->out + c->out_len + hdr_max;
    size_t n = 0;
    for (uint32_t j = 0; j < o->points; j++) {
        uint32_t s = (uint32_t)(c->series_next++ % o->series);
        uint8_t *p = payload + n;
        double v = (double)(c->ts_next % 1000) * 0.25;
        uint64_t vb;
        memcpy(&vb, &v, 8);
        sl_store_u64le(p, (uint64_t)c->ts_next++);
        sl_store_u64le(p + 8, vb);
        sl_store_u16le(p + 16, 4);
        sl_store_u16le(p + 18, 2);
        memcpy(p + 20, t->suffix[s], t->suffix_len[s]);
        n += FRAME_POINT_HEADER_BYTES + t->suffix_len[s];
    }
    ws_put_frame(c, 0x2, payload, n);
    c->frames_sent++;
    c->points_sent += o->points;
}

/* Ack round trips (queued -> answered), in 50 us buckets up to 1 s. */
#define LAT_BUCKET_S 50e-6
#define LAT_BUCKETS 20000
static uint64_t lat_hist[LAT_BUCKETS + 1];
static uint64_t lat_count;
static double lat_max_s;

static void lat_add(double s) {
    size_t i = (size_t)(s / LAT_BUCKET_S);
    lat_hist[i < LAT_BUCKETS ? i : LAT_BUCKETS]++;
    lat_count++;
    if (s > lat_max_s) lat_max_s = s;
}

static double lat_quantile(double q) {
    uint64_t want = (uint64_t)(q * (double)lat_count);
    uint64_t seen = 0;
    for (size_t i = 0; i <= LAT_BUCKETS; i++) {
        seen += lat_hist[i];
        if (seen > want) return (double)(i + 1) * LAT_BUCKET_S;
    }
    return lat_max_s;
}

static void queue_ack(conn *c) {
    char text[48];
    int n = snprintf(text, sizeof text, "{\"ack\":%llu}", (unsigned long long)c->ack_next);
    c->ack_points[c->ack_next % ACK_WINDOW_MAX] = c->points_sent;
    c->ack_sent_s[c->ack_next % ACK_WINDOW_MAX] = mono_s();
    c->ack_next++;
    ws_put_frame(c, 0x1, (const uint8_t *)text, (size_t)n);
}

static size_t frame_bytes_max_of(const opts *o, const series_tab *t) {
    size_t m = 0;
    for (uint32_t i = 0; i < o->series; i++)
        m = SL_MAX(m, t->suffix_len[i]);
    return 14 + (size_t)o->points * (FRAME_POINT_HEADER_BYTES + m) + 64;
}

static int connect_to(const opts *o) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    char port[16];
    snprintf(port, sizeof port, "%d", o->port);
    if (getaddrinfo(o->host, port, &hints, &res) != 0) return -1;
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void base64(const uint8_t *in, size_t n, char *out) {
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* Sends the upgrade request and checks the 101 answer (blocking). */
static int handshake(conn *c, const opts *o) {
    uint8_t raw[16];
    for (int i = 0; i < 16; i++)
        raw[i] = (uint8_t)rng_next(&c->rng);
    base64(raw, 16, c->key);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: "
                     "Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     o->host, o->port, c->key);
    if (write(c->fd, req, (size_t)n) != n) return -1;
    size_t got = 0;
    char *end = NULL;
    while (!end) {
        if (got == sizeof c->in - 1) return -1;
        ssize_t r = read(c->fd, c->in + got, sizeof c->in - 1 - got);
        if (r <= 0) return -1;
        got += (size_t)r;
        c->in[got] = '\0';
        end = strstr((char *)c->in, "\r\n\r\n");
    }
    if (strncmp((char *)c->in, "HTTP/1.1 101", 12) != 0) {
        fprintf(stderr, "conn %d: no upgrade: %.60s\n", c->idx, (char *)c->in);
        return -1;
    }
    /* Sec-WebSocket-Accept = base64(SHA-1(key + GUID)) (RFC 6455 section 4.2.2). */
    char cat[128];
    unsigned char sha[EVP_MAX_MD_SIZE];
    unsigned int sha_n = 0;
    char want[64];
    snprintf(cat, sizeof cat, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", c->key);
    EVP_Digest(cat, strlen(cat), sha, &sha_n, EVP_sha1(), NULL);
    base64(sha, sha_n, want);
    if (!strcasestr((char *)c->in, "Sec-WebSocket-Accept:") || !strstr((char *)c->in, want)) {
        fprintf(stderr, "conn %d: bad Sec-WebSocket-Accept\n", c->idx);
        return -1;
    }
    size_t hdr = (size_t)(end + 4 - (char *)c->in);
    memmove(c->in, c->in + hdr, got - hdr);
    c->in_len = got - hdr;
    c->open = 1;
    return 0;
}

/* Parses complete server frames in c->in. Returns -1 on close or protocol error. */
static int read_frames(conn *c, const opts *o) {
    size_t off = 0;
    int rc = 0;
    while (c->in_len - off >= 2) {
        const uint8_t *p = c->in + off;
        int op = p[0] & 0x0f;
        if (p[1] & 0x80) return -1; /* servers never mask */
        uint64_t len = p[1] & 0x7f;
        size_t h = 2;
        if (len == 126) {
            if (c->in_len - off < 4) break;
            len = (uint64_t)p[2] << 8 | p[3];
            h = 4;
        } else if (len == 127) {
            if (c->in_len - off < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | p[2 + i];
            h = 10;
        }
        if (len > sizeof c->in - 10) return -1;
        if (c->in_len - off < h + len) break;
        const uint8_t *pl = p + h;
        if (op == 0x1) {
            uint64_t ack;
            if (frame_parse_ack(pl, (size_t)len, &ack) == 0) {
                if (ack >= c->ack_wait_from && ack < c->ack_next) {
                    double now = mono_s();
                    for (uint64_t a = c->ack_wait_from; a <= ack; a++)
                        lat_add(now - c->ack_sent_s[a % ACK_WINDOW_MAX]);
                    c->points_acked = c->ack_points[ack % ACK_WINDOW_MAX];
                    c->ack_wait_from = ack + 1;
                }
            } else if (len > 9 && memcmp(pl, "{\"error\"", 8) == 0) {
                if (c->errors++ == 0)
                    fprintf(stderr, "conn %d: %.*s\n", c->idx, (int)SL_MIN(len, 300), pl);
            }
        } else if (op == 0x8) {
            rc = -1;
        }
        off += h + (size_t)len;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return rc;
}

/* The server's points_written from GET /health, or -1 (any failure). Lets the
 * report compare what was acked with what the server says it stored. */
static long long health_points_written(const opts *o) {
    int fd = connect_to(o);
    if (fd < 0) return -1;
    char req[256];
    int n = snprintf(req, sizeof req,
                     "GET /health HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n", o->host,
                     o->port);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    char resp[8192];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof resp - 1 && (r = read(fd, resp + got, sizeof resp - 1 - got)) > 0)
        got += (size_t)r;
    close(fd);
    resp[got] = '\0';
    const char *k = strstr(resp, "\"points_written\":");
    return k ? atoll(k + strlen("\"points_written\":")) : -1;
}

static void usage(void) {
    fprintf(stderr, "usage: bench_load --port P [--host H] [--conns N] [--series S] [--points P]\n"
                    "       [--duration SEC] [--pid SERVER_PID] [--ack] [--ack-every K] "
                    "[--window W] [--unsorted-tags]\n");
    exit(2);
}

int main(int argc, char **argv) {
    opts o = {.host = "127.0.0.1",
              .port = 0,
              .conns = 4,
              .series = 1000,
              .points = 100,
              .duration_s = 10,
              .pid = 0,
              .ack = 0,
              .ack_every = 16,
              .window = 4};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--ack")) {
            o.ack = 1;
            continue;
        }
        if (!strcmp(a, "--unsorted-tags")) {
            o.unsorted = 1;
            continue;
        }
        if (!v) usage();
        if (!strcmp(a, "--host"))
            o.host = v;
        else if (!strcmp(a, "--port"))
            o.port = atoi(v);
        else if (!strcmp(a, "--conns"))
            o.conns = atoi(v);
        else if (!strcmp(a, "--series"))
            o.series = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--points"))
            o.points = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--duration"))
            o.duration_s = atof(v);
        else if (!strcmp(a, "--pid"))
            o.pid = atoi(v);
        else if (!strcmp(a, "--ack-every"))
            o.ack_every = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--window"))
            o.window = (uint32_t)strtoul(v, NULL, 10);
        else
            usage();
        i++;
    }
    if (o.port <= 0 || o.conns < 1 || o.conns > CONNS_MAX || o.series < 1 || o.points < 1 ||
        o.ack_every < 1 || o.window < 1 || o.window >= ACK_WINDOW_MAX)
        usage();

    conn *cs = calloc((size_t)o.conns, sizeof(*cs));
    series_tab *tabs = calloc((size_t)o.conns, sizeof(*tabs));
    struct pollfd *pfd = calloc((size_t)o.conns, sizeof(*pfd));
    if (!cs || !tabs || !pfd) return 1;
    int64_t ts0 = (int64_t)time(NULL) * 1000000000;
    size_t frame_max = 0;
    for (int i = 0; i < o.conns; i++) {
        conn *c = &cs[i];
        c->idx = i;
        c->rng = 2463534242u + (uint32_t)i * 7919u;
        c->ts_next = ts0;
        c->series_next = (uint64_t)i * 7;
        series_tab_build(&tabs[i], &o, i);
        frame_max = frame_bytes_max_of(&o, &tabs[i]);
        if (frame_max * 2 > OUT_BYTES_MAX) {
            fprintf(stderr, "frames of %zu bytes are too big for this generator\n", frame_max);
            return 2;
        }
        c->out = malloc(OUT_BYTES_MAX);
        c->fd = connect_to(&o);
        if (!c->out || c->fd < 0 || handshake(c, &o) != 0) {
            fprintf(stderr, "conn %d: cannot connect to %s:%d\n", i, o.host, o.port);
            return 1;
        }
    }
    long long written0 = health_points_written(&o);
    double cpu0 = o.pid ? proc_cpu_s(o.pid) : -1;
    double t0 = mono_s();
    double t_end = t0 + o.duration_s;
    int sending = 1;
    double drain_deadline = 0;
    for (;;) {
        double now = mono_s();
        if (sending && now >= t_end) {
            sending = 0;
            drain_deadline = now + 10;
            if (o.ack)
                for (int i = 0; i < o.conns; i++)
                    if (cs[i].out_len + 64 <= OUT_BYTES_MAX) queue_ack(&cs[i]);
        }
        int waiting = 0;
        for (int i = 0; i < o.conns; i++) {
            conn *c = &cs[i];
            /* Fill the send buffer while under the ack window. */
            while (sending && c->out_len + frame_max <= OUT_BYTES_MAX / 2 &&
                   (!o.ack || c->ack_next - c->ack_wait_from < o.window)) {
                queue_data_frame(c, &o, &tabs[i]);
                if (o.ack && c->frames_sent % o.ack_every == 0) queue_ack(c);
            }
            pfd[i].fd = c->fd;
            pfd[i].events = POLLIN | (c->out_len > c->out_off ? POLLOUT : 0);
            if (c->out_len > c->out_off || (o.ack && c->ack_wait_from < c->ack_next)) waiting++;
        }
        if (!sending && (waiting == 0 || now >= drain_deadline)) break;
        if (poll(pfd, (nfds_t)o.conns, 100) < 0 && errno != EINTR) break;
        for (int i = 0; i < o.conns; i++) {
            conn *c = &cs[i];
            if (pfd[i].revents & POLLOUT) {
                ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (w > 0) c->out_off += (size_t)w;
                if (c->out_off == c->out_len)
                    c->out_off = c->out_len = 0;
                else if (c->out_off > OUT_BYTES_MAX / 2) {
                    memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
                    c->out_len -= c->out_off;
                    c->out_off = 0;
                }
            }
            if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t r = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, MSG_DONTWAIT);
                if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR) ||
                    (r > 0 && (c->in_len += (size_t)r, read_frames(c, &o) < 0))) {
                    fprintf(stderr, "conn %d: closed by the server\n", i);
                    return 1;
                }
            }
        }
    }
    double elapsed = mono_s() - t0;
    double cpu1 = o.pid ? proc_cpu_s(o.pid) : -1;
    long long written1 = health_points_written(&o);
    uint64_t sent = 0;
    uint64_t acked = 0;
    uint64_t errors = 0;
    uint64_t frames = 0;
    for (int i = 0; i < o.conns; i++) {
        sent += cs[i].points_sent;
        acked += cs[i].points_acked;
        errors += cs[i].errors;
        frames += cs[i].frames_sent;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double self_cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                      (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    uint64_t counted = o.ack ? acked : sent;
    double server_cpu = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
    printf("conns=%d series=%u tags=%s points_per_frame=%u elapsed_s=%.2f frames=%llu "
           "points_sent=%llu "
           "points_acked=%s%llu errors=%llu points_per_s=%.0f (%s) client_cpu_s=%.2f "
           "server_cpu_s=%.2f points_per_server_cpu_s=%.0f\n",
           o.conns, o.series, o.unsorted ? "unsorted" : "sorted", o.points, elapsed,
           (unsigned long long)frames, (unsigned long long)sent,
           o.ack ? "" : "n/a:", (unsigned long long)acked, (unsigned long long)errors,
           counted / elapsed, o.ack ? "acked" : "sent", self_cpu, server_cpu,
           server_cpu > 0 ? counted / server_cpu : 0.0);
    if (written0 >= 0 && written1 >= 0)
        printf("server_points_written_delta=%lld (GET /health before and after)\n",
               written1 - written0);
    if (o.ack && lat_count)
        printf("ack_round_trip_ms p50=%.2f p99=%.2f max=%.2f (n=%llu; from queuing the ack "
               "request, so it includes the data queued before it)\n",
               lat_quantile(0.5) * 1e3, lat_quantile(0.99) * 1e3, lat_max_s * 1e3,
               (unsigned long long)lat_count);
    for (int i = 0; i < o.conns; i++) {
        close(cs[i].fd);
        free(cs[i].out);
        for (uint32_t s = 0; s < o.series; s++)
            free(tabs[i].suffix[s]);
        free(tabs[i].suffix);
        free(tabs[i].suffix_len);
    }
    free(cs);
    free(tabs);
    free(pfd);
    return 0;
}
