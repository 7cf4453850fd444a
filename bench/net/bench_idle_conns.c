/* bench_idle_conns.c - memory a running server spends per idle WebSocket connection.
 *
 * Reads the server's VmRSS (/proc/<pid>/status), opens N WebSocket connections
 * (upgrade handshake, 101 checked), with --point sends one valid point on each (so
 * every connection has been through the producer path once), waits 3 s, reads
 * VmRSS again and prints (after - before) / N. The connections are then closed.
 * Raise the open-file limit (ulimit -n) above N. One run; not a test: never run by
 * ctest. Usage: bench_idle_conns --port P --pid PID [--conns 1000] [--point]
 *               [--host 127.0.0.1] */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static long rss_kb(int pid) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmRSS:", 6)) kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

static int ws_open(const char *host, int port, int send_point) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    const char *req = "GET / HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n";
    if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) goto fail;
    char head[512];
    size_t n = 0;
    while (n + 1 < sizeof(head)) {
        ssize_t r = read(fd, head + n, 1);
        if (r <= 0) goto fail;
        n++;
        head[n] = '\0';
        if (n >= 4 && !memcmp(head + n - 4, "\r\n\r\n", 4)) break;
    }
    if (strncmp(head, "HTTP/1.1 101", 12) != 0) goto fail;
    if (!send_point) return fd;
    /* One masked binary frame with one point: ts, value, "idle", no tags (mask 0). */
    uint8_t frame[2 + 4 + 24];
    frame[0] = 0x82;
    frame[1] = 0x80 | 24;
    memset(frame + 2, 0, 4);
    memset(frame + 6, 0, 24);
    frame[6 + 16] = 4; /* series_len = 4, tag_count = 0 */
    memcpy(frame + 6 + 20, "idle", 4);
    if (write(fd, frame, sizeof(frame)) != (ssize_t)sizeof(frame)) goto fail;
    return fd;
fail:
    close(fd);
    return -1;
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    int port = 0;
    int pid = 0;
    int conns = 1000;
    int send_point = 0;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--point")) send_point = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--point")) {
            i--;
            continue;
        }
        if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--pid"))
            pid = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--conns"))
            conns = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--host"))
            host = argv[i + 1];
    }
    if (!port || !pid || conns <= 0) {
        fprintf(stderr, "usage: bench_idle_conns --port P --pid PID [--conns 1000]\n");
        return 2;
    }
    int *fds = calloc((size_t)conns, sizeof(int));
    if (!fds) return 1;
    long before = rss_kb(pid);
    int opened = 0;
    for (int i = 0; i < conns; i++) {
        fds[i] = ws_open(host, port, send_point);
        if (fds[i] >= 0) opened++;
    }
    sleep(3); /* idle producers release their batch memory after 1-2 s */
    long after = rss_kb(pid);
    printf("point=%d conns=%d opened=%d rss_before_kb=%ld rss_after_kb=%ld bytes_per_conn=%.0f\n",
           send_point, conns, opened, before, after,
           opened ? (double)(after - before) * 1024.0 / opened : 0.0);
    for (int i = 0; i < conns; i++)
        if (fds[i] >= 0) close(fds[i]);
    free(fds);
    return opened == conns ? 0 : 1;
}
