/* fuzz_net.c - the network layer's parsing of untrusted bytes: HTTP requests
 * (http_parser + our head/body limits and routing) and, after a real upgrade,
 * WebSocket frames (wslay's frame parser + our message layer: fragments, control
 * frames, close, oversize, held messages).
 *
 * One net runs on a loop thread for the whole process. Each input is one TCP
 * connection: if the first byte is odd the input (after it) is sent raw as HTTP;
 * otherwise a valid upgrade is sent first and the rest is the client's WebSocket
 * stream. The client then half-closes and reads until the server closes, so every
 * input runs to completion inside the server. The handler echoes messages and
 * refuses every third one once (NET_MSG_RETRY, resumed through net_post) to drive
 * the held-message path. Small limits (frame 4 KiB, body 4 KiB, send queue 8 KiB)
 * make the limit paths reachable. */
#include "base/buf.h"
#include "base/common.h"
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24 /* Linux 4.2+; glibc 2.36 headers lack it */
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static net *g_net;
static router *g_router;
static uint16_t g_port;
static unsigned g_count;

static void h_ok(const http_req *req, http_resp *resp, void *arg) {
    (void)arg;
    buf_append(&resp->body, req->body, req->body_len);
}

static void resume_cb(void *arg) {
    net_resume(g_net, (uint64_t)(uintptr_t)arg);
}

static int on_open(void *arg, uint64_t id, const char *path, const char *query, void **user) {
    (void)arg;
    (void)id;
    (void)query;
    *user = NULL;
    return strcmp(path, "/") == 0 ? 0 : SL_ENOTFOUND;
}

static int on_message(void *arg, uint64_t id, void *user, net_msg_kind kind, const uint8_t *p,
                      size_t n) {
    (void)arg;
    (void)user;
    if (++g_count % 3 == 0) {
        net_post(g_net, resume_cb, (void *)(uintptr_t)id);
        return NET_MSG_RETRY;
    }
    net_ws_send(g_net, id, kind, p, n);
    return NET_MSG_TAKEN;
}

static void on_too_big(void *arg, uint64_t id, void *user, uint64_t bytes) {
    (void)arg;
    (void)user;
    (void)bytes;
    net_ws_send(g_net, id, NET_MSG_TEXT, (const uint8_t *)"too big", 7);
}

static void *loop_main(void *arg) {
    net_run(arg);
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN); /* as server_run does: a peer may close mid-write */
    if (router_new(&g_router) < 0) abort();
    route_add(g_router, NULL, "/", ROUTE_PREFIX, h_ok, NULL);
    net_opts o = {.listen_addr = "127.0.0.1",
                  .frame_bytes_max = 4096,
                  .http_body_bytes_max = 4096,
                  .send_queue_bytes_max = 8192,
                  .router = g_router,
                  .ws = {.on_open = on_open, .on_message = on_message, .on_too_big = on_too_big}};
    sl_diag d;
    if (net_new(&o, &g_net, &d) < 0) abort();
    g_port = net_port(g_net);
    pthread_t th;
    pthread_create(&th, NULL, loop_main, g_net);
    pthread_detach(th);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons(g_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    /* Thousands of connections a second. Each comes from its own loopback source
     * address (all of 127/8 is local), so the kernel never runs out of 4-tuples
     * however many TIME_WAIT entries the previous inputs left behind; the port is
     * picked at connect time (IP_BIND_ADDRESS_NO_PORT) from that address's own
     * range. A transient shortage of sockets or ports is waited out and, if it
     * persists, the input is skipped: it says nothing about the server. Only a
     * refused connection means the listener is gone, which is a server bug. */
    static uint32_t source_seq;
    int one = 1;
    int fd = -1;
    for (int tries = 0;; tries++) {
        if (tries == 2000) {
            fprintf(stderr, "fuzz_net: no loopback connection after %d tries (errno %d); input skipped\n",
                    tries, errno);
            return 0;
        }
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) {
            if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS && errno != ENOMEM) abort();
            usleep(1000);
            continue;
        }
        uint32_t host = (source_seq++ % 0xFFFFFEu) + 1; /* 127.0.0.1 .. 127.255.255.254 */
        struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7F000000u | host)};
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) == 0 &&
            connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
            break;
        int e = errno;
        close(fd);
        if (e == ECONNREFUSED) abort();
        usleep(1000);
    }
    struct linger no_linger = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &no_linger, sizeof(no_linger));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* no Nagle delays */
    if (!(data[0] & 1)) {
        static const char up[] = "GET / HTTP/1.1\r\nHost: f\r\nUpgrade: websocket\r\n"
                                 "Connection: Upgrade\r\nSec-WebSocket-Key: "
                                 "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        send(fd, up, sizeof(up) - 1, MSG_NOSIGNAL);
    }
    /* Write and read alternately so a server that answers a lot never blocks us. */
    size_t off = 1;
    if (off == size) shutdown(fd, SHUT_WR); /* nothing after the selector byte */
    char sink[16384];
    int idle = 0;
    while (idle < 200) { /* 200 x 10 ms without progress: give up on this input */
        struct pollfd p = {.fd = fd, .events = POLLIN | (off < size ? POLLOUT : 0)};
        if (poll(&p, 1, 10) <= 0) {
            idle++;
            continue;
        }
        if (p.revents & POLLOUT) {
            ssize_t w =
                send(fd, data + off, SL_MIN(size - off, (size_t)4096), MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0) off += (size_t)w;
            if (off == size) shutdown(fd, SHUT_WR);
            if (w < 0) off = size;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
            if (r == 0 || (r < 0 && off == size)) break;
        }
        idle = 0;
    }
    close(fd);
    return 0;
}
