/* net_internal.h - structures shared by the files of src/net (net.c, conn.c,
 * http.c, ws.c, route.c). Nothing outside src/net includes this.
 *
 * Connection state machine (conn.c, http.c, ws.c):
 *
 *   HTTP --http__upgrade()--> WS --peer close / ws error--> CLOSING --uv_close--> freed
 *     |                                                        ^
 *     +-- EOF, read error, bad request, idle timeout ----------+
 *
 *   HTTP: c->http holds the parser and the request being read; requests are answered
 *         in order (an offloaded one pauses reading until it is answered).
 *   WS:   c->ws is the wslay frame parser; c->msg holds at most one partial message
 *         (<= frame_bytes_max); c->held holds the message a handler refused
 *         (NET_MSG_RETRY); c->stash holds read bytes not yet given to wslay while
 *         paused. Once a close frame is sent (c->ws_closing) nothing more is read
 *         and the socket closes after the last write.
 *   CLOSING: no reads; the handle is closing; c is freed in the close callback.
 *
 * Threads: everything here is loop-thread only, except net.mu-guarded fields
 * (the id table, the post queue, c->posted_bytes) and the atomics. */
#ifndef SL_NET_INTERNAL_H
#define SL_NET_INTERNAL_H

#include "base/buf.h"
#include "base/common.h"
#include "net/net.h"

#include <http_parser.h>
#include <pthread.h>
#include <stdatomic.h>
#include <uv.h>
#include <wslay/wslay.h>

/* Routes in one router; the server registers about twenty. */
#define NET_ROUTES_MAX 64u

/* Bytes read from a socket at once, into one buffer shared by all connections
 * (handlers run synchronously, so no read outlives its callback). */
#define NET_READ_BYTES 65536u

/* Header fields remembered per request (name and value lengths are bounded by
 * NET_HTTP_HEAD_BYTES_MAX in total); other headers are ignored. */
#define NET_HTTP_HEADERS_MAX 32u

typedef struct route_entry {
    char *method;    /* NULL = any; owned */
    char *path;      /* owned */
    unsigned flags;  /* ROUTE_PREFIX, ROUTE_OFFLOAD */
    http_handler fn; /* the handler */
    void *arg;       /* its argument */
} route_entry;

struct router {
    route_entry routes[NET_ROUTES_MAX]; /* [count] in registration order */
    uint32_t count;                     /* routes in use */
};

typedef enum conn_state { CONN_HTTP = 0, CONN_WS, CONN_CLOSING } conn_state;

/* wslay frame contexts (4 KiB input buffer each) kept for reuse; see ws.c. */
#define NET_WS_CTX_POOL 64u

/* A wslay frame context lent to one connection at a time (ws.c). wslay's callbacks
 * get the slot, so a context can move between connections at a frame boundary. */
typedef struct ws_slot {
    wslay_frame_context_ptr ctx; /* made with user_data = this slot */
    struct conn *c;              /* the borrower; NULL while pooled */
    struct ws_slot *next;        /* pool link */
} ws_slot;

typedef struct http_state http_state; /* http.c */

typedef struct conn {
    uv_tcp_t tcp;      /* the socket; tcp.data = this */
    net *n;            /* owner */
    uint64_t id;       /* connection id, from 1 */
    conn_state state;  /* see the state machine above */
    struct conn *prev; /* all connections, for shutdown and the idle sweep */
    struct conn *next;
    uint64_t last_input_ms; /* uv_now at the last read (HTTP idle timeout) */
    size_t input_held;      /* bytes of http body + msg counted in n->input_bytes */
    /* HTTP */
    http_state *http; /* parser + request in progress; NULL once upgraded */
    /* WebSocket */
    ws_slot *ws;         /* wslay frame parser, lent while bytes are in flight (ws.c) */
    void *user;          /* handler's per-connection state */
    buf msg;             /* the message being reassembled */
    uint64_t msg_bytes;  /* its length so far (also counted when discarding) */
    uint64_t frame_len;  /* payload length of the frame being received */
    uint64_t frame_got;  /* payload bytes of it received so far */
    uint8_t frame_op;    /* opcode of the frame being received */
    uint8_t frame_fin;   /* fin bit of that frame */
    uint8_t msg_op;      /* opcode of the message being received (1 text, 2 binary) */
    bool in_frame;       /* between a frame's header and its last payload byte */
    bool in_msg;         /* a data message has started and not yet ended (fin) */
    bool msg_too_big;    /* discarding the rest of an oversize message */
    bool ws_closing;     /* a close frame was sent: no more frames in or out */
    uint64_t ws_fed;     /* bytes given to wslay since its context was made */
    uint64_t ws_parsed;  /* header + payload bytes of the frames it returned */
    uint8_t ctl_len;     /* bytes in ctl */
    uint8_t ctl[125];    /* payload of the control frame being received (RFC 6455 §5.5) */
    const uint8_t *rd_p; /* read bytes not yet given to wslay (borrowed, this read) */
    size_t rd_n;         /* their count */
    buf stash;           /* read bytes kept while paused; consumed from stash_off */
    size_t stash_off;
    buf held; /* held messages: [u8 kind][u32 len][bytes]..., from held_off */
    size_t held_off;
    /* output */
    buf out;                /* bytes waiting for the next write */
    buf inflight;           /* bytes of the write in progress */
    uv_write_t wreq;        /* the write in progress */
    bool writing;           /* wreq is in flight */
    _Atomic size_t unsent;  /* out.len + inflight.len (read by net_send_text) */
    size_t posted_bytes;    /* net_send_text bytes not yet taken by the loop; under mu */
    bool ws_ready;          /* under mu: upgraded (net_send_text may post to it) */
    bool close_after_write; /* close once out and inflight are empty */
    /* reading */
    bool reading;        /* uv_read_start is in effect */
    bool paused_handler; /* a handler refused a message or asked net_pause */
    bool paused_sendq;   /* unsent passed send_queue_bytes_max */
    bool paused_http;    /* an offloaded request is running */
    bool in_read;        /* inside read processing (no re-entrant feeding) */
} conn;

typedef struct conn_slot {
    uint64_t id; /* 0 = empty */
    conn *c;
} conn_slot;

typedef struct post_node {
    struct post_node *next;
    void (*fn)(void *arg); /* NULL for a send_text node */
    void *arg;
    uint64_t conn_id; /* send_text: the target */
    size_t len;       /* send_text: bytes that follow */
    uint8_t bytes[];  /* send_text payload */
} post_node;

struct net {
    net_opts opts;         /* validated copy (defaults filled) */
    uv_loop_t loop;        /* owned */
    uv_tcp_t listener;     /* the listening socket */
    uv_async_t wake;       /* other threads -> loop: posts and stop */
    uv_timer_t sweep;      /* idle-HTTP sweep, once a second */
    uv_tcp_t reject;       /* accepts and closes a connection we have no memory for */
    bool reject_busy;      /* reject is closing (uv_close not yet called back) */
    bool reject_pending;   /* another connection waits for reject to be free */
    uint16_t port;         /* bound port */
    uint8_t *rbuf;         /* [NET_READ_BYTES] shared read buffer */
    bool rbuf_busy;        /* handed to libuv and not yet returned */
    conn *conns;           /* list of all live connections */
    ws_slot *ws_pool;      /* idle wslay contexts (loop thread), at most NET_WS_CTX_POOL */
    uint32_t ws_pool_n;    /* how many */
    uint64_t next_id;      /* next connection id (loop thread) */
    uint64_t input_bytes;  /* loop thread: input held, <= opts.input_bytes_max (net.h) */
    _Atomic bool stopping; /* set by net_stop (any thread): shutting down */
    /* guarded by mu */
    pthread_mutex_t mu;
    conn_slot *slots;     /* open-addressing id table, [slot_cap] */
    uint32_t slot_cap;    /* power of two >= 2 * connections_max */
    post_node *post_head; /* FIFO of posts */
    post_node *post_tail;
    size_t posted_total; /* bytes in send_text posts */
    bool closed;         /* no more posts accepted */
    /* statistics (net_stats): relaxed atomics, written by the loop, read anywhere */
    _Atomic uint64_t st_open;     /* connections_open */
    _Atomic uint64_t st_ws_open;  /* websockets_open */
    _Atomic uint64_t st_total;    /* connections_total */
    _Atomic uint64_t st_refused;  /* connections_refused */
    _Atomic uint64_t st_http;     /* http_requests */
    _Atomic uint64_t st_http_bad; /* http_bad_requests */
    _Atomic uint64_t st_msgs;     /* ws_messages_in */
    _Atomic uint64_t st_too_big;  /* ws_messages_too_big */
    _Atomic uint64_t st_ws_proto; /* ws_protocol_errors */
    _Atomic uint64_t st_in;       /* bytes_in */
    _Atomic uint64_t st_out;      /* bytes_out */
    _Atomic uint64_t st_paused;   /* reads_paused */
};

/* route.c */
const route_entry *router__match(const router *r, const char *method, const char *path,
                                 bool *path_known);
size_t route__pct_decode(const char *s, size_t n, char *out, size_t cap, bool plus_is_space);

/* net.c */
void net__table_add(net *n, conn *c);
void net__table_remove(net *n, conn *c);

/* conn.c */
conn *conn__find(net *n, uint64_t id); /* loop thread */
void conn__close(conn *c);             /* idempotent; frees after uv_close */
void conn__output_added(conn *c);      /* start a write if needed; apply send-queue pause */
void conn__pause(conn *c);             /* uv_read_stop if reading */
void conn__maybe_resume(conn *c);      /* restart reading once nothing pauses it */
void conn__on_connection(uv_stream_t *server, int status);
/* NET_INPUT_BYTES_MAX accounting (loop thread). take: false (nothing counted) if n
 * more bytes would pass opts.input_bytes_max; give: those bytes were released. */
bool conn__input_take(conn *c, size_t n);
void conn__input_give(conn *c, size_t n);

/* http.c */
int http__feed(conn *c, const uint8_t *p, size_t n); /* <0: close the connection */
void http__free(conn *c);
void http__resume(conn *c); /* after an offloaded answer */

/* ws.c */
int ws__start(conn *c);                             /* after the 101 answer was queued */
void ws__feed(conn *c, const uint8_t *p, size_t n); /* may close c */
void ws__free(conn *c);
void ws__pool_free(net *n); /* at net_free */
int ws__queue(conn *c, net_msg_kind kind, const uint8_t *p, size_t len);
void ws__resume(conn *c);   /* redeliver held, drain stash */
void ws__shutdown(conn *c); /* send close 1001 (going away) */

#endif
