/* net.h - the network layer: one libuv loop thread that accepts TCP connections,
 * parses HTTP/1.1 (Debian's http_parser), upgrades to WebSocket (RFC 6455, Debian's
 * libwslay) and keeps a bounded send queue per connection. net knows no points:
 * whole WebSocket messages go to a handler (the server's producer glue), HTTP
 * requests to the router (route.h).
 *
 * Connection ids are u64, unique for the process, from 1, shared by HTTP and
 * WebSocket connections (spec/ingest.md "connection id").
 *
 * The process must ignore SIGPIPE (server_run does): a peer that closes while we
 * write would otherwise kill it.
 * Threads: net_run() makes the calling thread the loop thread. Functions marked
 * "loop thread" may only be called from it (handlers and posted functions run
 * there). net_send_text, net_post, net_stop and the stats are for any thread.
 *
 * Backpressure: a handler that cannot take a message now returns NET_MSG_RETRY;
 * net keeps that message (and any later one already received) and stops reading
 * the connection until net_resume(). A connection whose unsent output passes
 * send_queue_bytes_max also stops being read until the peer drains it, so a
 * client that never reads pins at most that much plus one message's replies. */
#ifndef SL_NET_H
#define SL_NET_H

#include "base/common.h"
#include "base/err.h"
#include "net/route.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Concurrent connections accepted; past it a new connection is accepted and closed
 * at once (so the backlog does not fill), and counted. Ceiling bounds the id table. */
#define NET_CONNECTIONS_MAX_DEFAULT 10000u
#define NET_CONNECTIONS_MAX_CEILING 1000000u

/* Largest WebSocket message reassembled (--frame-bytes-max). A larger message is
 * read and discarded without being stored; the handler's on_too_big reports it and
 * the connection stays open (spec/ingest.md: over a limit is a rejected frame). */
#define NET_MSG_BYTES_MAX_DEFAULT (1u << 20)
#define NET_MSG_BYTES_MAX_CEILING (64u << 20)

/* Largest HTTP request body (--http-body-bytes-max). Past it: 413 and close. */
#define NET_HTTP_BODY_BYTES_MAX_DEFAULT (16u << 20)
#define NET_HTTP_BODY_BYTES_MAX_CEILING (1u << 30)

/* Request line + headers of one HTTP request (http_parser's own limit is 80 KiB).
 * Past it: 431 and close. */
#define NET_HTTP_HEAD_BYTES_MAX (16u << 10)

/* Unsent bytes per connection (--send-queue-bytes-max). Past it net_send_text says
 * SL_ELIMIT and the connection is not read until the peer drains below half. */
#define NET_SEND_QUEUE_BYTES_MAX_DEFAULT (1u << 20)
#define NET_SEND_QUEUE_BYTES_MAX_CEILING (256u << 20)

/* Bytes posted by other threads (net_send_text) not yet taken by the loop, all
 * connections together. Past it net_send_text says SL_ELIMIT. */
#define NET_POSTED_BYTES_MAX (64u << 20)

/* Input held by all connections together: request bodies being read (and those
 * waiting for or on a worker thread) plus WebSocket messages being reassembled.
 * The per-connection limits alone allow --connections-max times them (10,000 x
 * 16 MiB bodies); past this a body gets 503 and close, and a message is discarded
 * and reported as too big (connection kept), as if it were over its own limit.
 * Ceiling keeps the count in u32 options. */
#define NET_INPUT_BYTES_MAX_DEFAULT (256u << 20)
#define NET_INPUT_BYTES_MAX_CEILING (2048u << 20)
static_assert(NET_INPUT_BYTES_MAX_DEFAULT <= NET_INPUT_BYTES_MAX_CEILING, "default > ceiling");

/* A connection that has sent nothing complete for this long while still in HTTP
 * (no upgrade, no full request) is closed: bounds slow-loris half-requests. */
#define NET_HTTP_IDLE_TIMEOUT_MS 30000u

static_assert(NET_MSG_BYTES_MAX_DEFAULT <= NET_MSG_BYTES_MAX_CEILING, "default > ceiling");
static_assert(NET_SEND_QUEUE_BYTES_MAX_DEFAULT <= NET_SEND_QUEUE_BYTES_MAX_CEILING,
              "default > ceiling");

typedef struct net net;

typedef enum net_msg_kind { NET_MSG_TEXT = 1, NET_MSG_BINARY = 2 } net_msg_kind;

/* Handler verdicts for a message. */
enum {
    NET_MSG_TAKEN = 0, /* consumed; go on reading */
    NET_MSG_RETRY = 1, /* not consumed: net keeps it, stops reading, redelivers after net_resume */
};

/* The WebSocket side of the server. All callbacks run on the loop thread. */
typedef struct net_ws_handler {
    /* A WebSocket upgrade asked for path (decoded, e.g. "/" or "/subscribe") with the
     * URL's raw query string (e.g. "errors=0"). Called before the 101 answer; *user is
     * kept with the connection and passed back. SL_ENOTFOUND refuses with 404, any
     * other nonzero with 503. */
    int (*on_open)(void *arg, uint64_t conn_id, const char *path, const char *query, void **user);
    /* One whole text or binary message; p is borrowed for the call.
     * Returns NET_MSG_TAKEN or NET_MSG_RETRY. */
    int (*on_message)(void *arg, uint64_t conn_id, void *user, net_msg_kind kind, const uint8_t *p,
                      size_t n);
    /* After the messages of one socket read were delivered: a point to submit the
     * batch the messages filled (may be NULL). */
    void (*on_read_end)(void *arg, uint64_t conn_id, void *user);
    /* A message over frame_bytes_max was discarded (bytes: at least this many). */
    void (*on_too_big)(void *arg, uint64_t conn_id, void *user, uint64_t bytes);
    /* The connection closed (either side); user must be released here. */
    void (*on_close)(void *arg, uint64_t conn_id, void *user);
    void *arg;
} net_ws_handler;

typedef struct net_opts {
    const char *listen_addr;       /* IPv4 or IPv6 literal, e.g. "0.0.0.0" */
    uint16_t port;                 /* 0 = any free port (net_port tells which) */
    uint32_t connections_max;      /* 0 = default */
    uint32_t frame_bytes_max;      /* WebSocket message; 0 = default */
    uint32_t http_body_bytes_max;  /* 0 = default */
    uint32_t send_queue_bytes_max; /* 0 = default */
    uint32_t input_bytes_max;      /* NET_INPUT_BYTES_MAX_*; 0 = default */
    const router *router;          /* borrowed; must outlive the net */
    net_ws_handler ws;             /* on_message NULL = WebSocket upgrades refused */
} net_opts;

/* Figures for /health and /metrics. Any thread (relaxed atomics). */
typedef struct net_stats {
    uint64_t connections_open;    /* TCP connections now */
    uint64_t websockets_open;     /* of which upgraded */
    uint64_t connections_total;   /* accepted since start */
    uint64_t connections_refused; /* closed at once: over connections_max or out of memory */
    uint64_t http_requests;       /* requests dispatched */
    uint64_t http_bad_requests;   /* malformed or over a limit */
    uint64_t ws_messages_in;      /* whole messages delivered */
    uint64_t ws_messages_too_big; /* discarded over frame_bytes_max */
    uint64_t ws_protocol_errors;  /* connections failed for RFC 6455 violations */
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t reads_paused; /* times a connection stopped being read (backpressure) */
} net_stats;

/* Binds and listens (nothing runs until net_run). On failure *out = NULL and d says
 * why ("cannot listen on 0.0.0.0:2077: address already in use"). */
int net_new(const net_opts *opts, net **out, sl_diag *d);
/* The bound port (useful with port 0). */
uint16_t net_port(const net *n);
/* Runs the loop on the calling thread until net_stop(); then closes every
 * connection and returns 0. */
int net_run(net *n);
/* Any thread, also from a uv_signal handler: makes net_run return soon. */
void net_stop(net *n);
/* After net_run returned (or if it never ran). NULL is a no-op. */
void net_free(net *n);

/* The loop, for timers and signals the server adds (loop thread after net_new). */
struct uv_loop_s *net_loop(net *n);

/* Any thread: runs fn(arg) on the loop thread soon, in posting order.
 * Returns 0, -ENOMEM, or SL_ECLOSED once the loop is stopping (fn will not run). */
int net_post(net *n, void (*fn)(void *arg), void *arg);

/* Any thread: queues a text message to WebSocket conn_id (bytes are copied).
 * 0 queued; SL_ENOTFOUND unknown, closed or not a WebSocket; SL_ELIMIT when that
 * connection's unsent bytes would pass send_queue_bytes_max (or all posts pass
 * NET_POSTED_BYTES_MAX); -ENOMEM. */
int net_send_text(net *n, uint64_t conn_id, const uint8_t *p, size_t len);

/* Loop thread: the same for the producer glue (acks, errors). Same results. */
int net_ws_send(net *n, uint64_t conn_id, net_msg_kind kind, const uint8_t *p, size_t len);
/* Loop thread: a connection that got NET_MSG_RETRY (or net_pause) is read again;
 * held messages are redelivered first. Unknown ids are ignored. */
void net_resume(net *n, uint64_t conn_id);
/* Loop thread: stops reading conn_id until net_resume. */
void net_pause(net *n, uint64_t conn_id);

void net_get_stats(const net *n, net_stats *out);

/* Router lifetime (route.h declares route_add and helpers). */
int router_new(router **out);
void router_free(router *r); /* NULL is a no-op */

#endif
