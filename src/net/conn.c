/* conn.c - one TCP connection: accept, read into the shared buffer, hand bytes to
 * HTTP or WebSocket, write queued output, pause and resume reading, close.
 * Invariants: (1) at most one uv_write is in flight per connection (c->inflight);
 *   new output accumulates in c->out and goes in the next write, so output order
 *   is preserved; (2) c->unsent == out.len + inflight.len; (3) a connection is
 *   read only while nothing pauses it (handler, send queue, offloaded request);
 *   (4) an idle connection holds no output, message or stash buffers.
 * Threads: loop thread only. See http.c and ws.c for the two protocols. */
#include "net/net_internal.h"

#include "base/log.h"

#include <stdlib.h>
#include <string.h>

/* Buffers bigger than this are released once empty, so a burst does not pin memory
 * on an idle connection. */
#define CONN_BUF_KEEP_BYTES 16384u

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    conn *c = h->data;
    net *n = c->n;
    (void)suggested;
    if (n->rbuf_busy) { /* cannot happen with one loop thread; be safe anyway */
        b->base = NULL;
        b->len = 0;
        return;
    }
    n->rbuf_busy = true;
    b->base = (char *)n->rbuf;
    b->len = NET_READ_BYTES;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
    conn *c = s->data;
    net *n = c->n;
    if (b->base == (char *)n->rbuf) n->rbuf_busy = false;
    if (nread == 0) return; /* EAGAIN */
    if (nread < 0) {
        if (nread != UV_EOF && nread != UV_ECONNRESET)
            log_debug("net", "connection %llu: read error %s", (unsigned long long)c->id,
                      uv_strerror((int)nread));
        conn__close(c);
        return;
    }
    atomic_fetch_add_explicit(&n->st_in, (uint64_t)nread, memory_order_relaxed);
    c->last_input_ms = uv_now(&n->loop);
    const uint8_t *p = (const uint8_t *)b->base;
    if (c->state == CONN_HTTP) {
        if (http__feed(c, p, (size_t)nread) < 0) conn__close(c);
    } else if (c->state == CONN_WS) {
        ws__feed(c, p, (size_t)nread);
    }
}

void conn__pause(conn *c) {
    if (!c->reading) return;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
    atomic_fetch_add_explicit(&c->n->st_paused, 1, memory_order_relaxed);
}

void conn__maybe_resume(conn *c) {
    if (c->reading || c->state == CONN_CLOSING) return;
    if (c->paused_handler || c->paused_sendq || c->paused_http) return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = true;
}

bool conn__input_take(conn *c, size_t n) {
    net *ne = c->n;
    if (n > ne->opts.input_bytes_max - SL_MIN(ne->input_bytes, ne->opts.input_bytes_max))
        return false;
    ne->input_bytes += n;
    c->input_held += n;
    return true;
}

void conn__input_give(conn *c, size_t n) {
    SL_ASSERT(n <= c->input_held);
    SL_ASSERT(n <= c->n->input_bytes);
    c->input_held -= n;
    c->n->input_bytes -= n;
}

static void on_closed(uv_handle_t *h) {
    conn *c = h->data;
    net *n = c->n;
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        n->conns = c->next;
    }
    if (c->next) c->next->prev = c->prev;
    http__free(c);
    ws__free(c);
    /* Both gave back what they held; checked in debug builds, repaired in release. */
    SL_DEBUG_ASSERT(c->input_held == 0);
    if (c->input_held) conn__input_give(c, c->input_held);
    buf_free(&c->out);
    buf_free(&c->inflight);
    mem_free(MEM_NET, c);
}

void conn__close(conn *c) {
    if (c->state == CONN_CLOSING) return;
    net *n = c->n;
    bool was_ws = c->state == CONN_WS;
    c->state = CONN_CLOSING;
    net__table_remove(n, c);
    atomic_fetch_sub_explicit(&n->st_open, 1, memory_order_relaxed);
    if (was_ws) {
        atomic_fetch_sub_explicit(&n->st_ws_open, 1, memory_order_relaxed);
        if (n->opts.ws.on_close) n->opts.ws.on_close(n->opts.ws.arg, c->id, c->user);
        c->user = NULL;
    }
    /* The parser and wslay context may be on the stack above us: free them in
     * on_closed, after this turn of the loop. */
    c->reading = false;
    /* A pending write is cancelled by uv_close; its callback still runs first. */
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void shrink(buf *b) {
    if (b->cap > CONN_BUF_KEEP_BYTES) buf_free(b);
    buf_reset(b);
}

static void start_write(conn *c);

static void on_written(uv_write_t *w, int status) {
    conn *c = w->data;
    net *n = c->n;
    c->writing = false;
    atomic_fetch_add_explicit(&n->st_out, c->inflight.len, memory_order_relaxed);
    shrink(&c->inflight);
    atomic_store_explicit(&c->unsent, c->out.len, memory_order_relaxed);
    if (c->state == CONN_CLOSING) return;
    if (status < 0) {
        conn__close(c);
        return;
    }
    if (c->out.len) {
        start_write(c);
        return;
    }
    shrink(&c->out);
    if (c->close_after_write) {
        conn__close(c);
        return;
    }
    if (c->paused_sendq && c->out.len + c->inflight.len <= n->opts.send_queue_bytes_max / 2) {
        c->paused_sendq = false;
        if (c->state == CONN_WS) {
            ws__resume(c);
        } else {
            conn__maybe_resume(c);
        }
    }
}

static void start_write(conn *c) {
    SL_ASSERT(!c->writing);
    SL_ASSERT(c->out.len > 0);
    buf t = c->inflight; /* empty; swap keeps both allocations for reuse */
    c->inflight = c->out;
    c->out = t;
    uv_buf_t b = uv_buf_init((char *)c->inflight.p, (unsigned)c->inflight.len);
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    if (rc < 0) {
        conn__close(c);
        return;
    }
    c->writing = true;
}

void conn__output_added(conn *c) {
    net *n = c->n;
    if (c->state == CONN_CLOSING) return;
    if (buf_failed(&c->out)) { /* out of memory for output: nothing sane to send */
        log_warn("net", "connection %llu: out of memory for output, closing",
                 (unsigned long long)c->id);
        conn__close(c);
        return;
    }
    atomic_store_explicit(&c->unsent, c->out.len + c->inflight.len, memory_order_relaxed);
    if (!c->writing && c->out.len) start_write(c);
    if (c->state != CONN_CLOSING && c->out.len + c->inflight.len > n->opts.send_queue_bytes_max &&
        !c->paused_sendq) {
        c->paused_sendq = true;
        conn__pause(c);
    }
}

static void reject_accept(net *n);

static void on_reject_closed(uv_handle_t *h) {
    net *n = h->data;
    n->reject_busy = false;
    if (n->reject_pending && !uv_is_closing((uv_handle_t *)&n->listener)) {
        n->reject_pending = false;
        reject_accept(n);
    }
}

/* Accepts the waiting connection into n->reject and closes it at once. libuv stops
 * watching the listener while a connection is left un-accepted, so skipping the
 * accept would stop the server taking any connection ever again. */
static void reject_accept(net *n) {
    if (n->reject_busy) { /* the previous one is still closing: accept when it is done */
        n->reject_pending = true;
        return;
    }
    uv_tcp_init(&n->loop, &n->reject);
    n->reject.data = n;
    n->reject_busy = true;
    (void)uv_accept((uv_stream_t *)&n->listener, (uv_stream_t *)&n->reject);
    atomic_fetch_add_explicit(&n->st_refused, 1, memory_order_relaxed);
    uv_close((uv_handle_t *)&n->reject, on_reject_closed);
}

void conn__on_connection(uv_stream_t *server, int status) {
    net *n = server->data;
    if (status < 0) {
        log_warn("net", "accept failed: %s", uv_strerror(status));
        return;
    }
    conn *c = mem_calloc(MEM_NET, 1, sizeof(*c));
    if (!c) {
        log_warn("net", "out of memory accepting a connection: closing it");
        reject_accept(n);
        return;
    }
    c->n = n;
    uv_tcp_init(&n->loop, &c->tcp);
    c->tcp.data = c;
    buf_init(&c->out, MEM_NET, 0);
    buf_init(&c->inflight, MEM_NET, 0);
    buf_init(&c->msg, MEM_NET, 0);
    buf_init(&c->held, MEM_NET, 0);
    buf_init(&c->stash, MEM_NET, 0);
    c->next = n->conns;
    if (n->conns) n->conns->prev = c;
    n->conns = c;
    c->state = CONN_HTTP;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        c->state = CONN_CLOSING;
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        return;
    }
    c->id = n->next_id++;
    c->last_input_ms = uv_now(&n->loop);
    atomic_fetch_add_explicit(&n->st_total, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&n->st_open, 1, memory_order_relaxed);
    net__table_add(n, c);
    if (atomic_load_explicit(&n->st_open, memory_order_relaxed) > n->opts.connections_max ||
        n->stopping) {
        atomic_fetch_add_explicit(&n->st_refused, 1, memory_order_relaxed);
        conn__close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    conn__maybe_resume(c);
}
