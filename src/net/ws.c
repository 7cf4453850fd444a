/* ws.c - WebSocket (RFC 6455) on a connection, on Debian's libwslay frame API.
 *
 * wslay's frame layer parses frame headers (minimal length encodings, control
 * frames fin and <= 125 bytes: WSLAY_ERR_PROTO otherwise), unmasks payloads and
 * writes our frames. The message layer is here, because wslay's event API fails
 * every text frame that is not UTF-8 (close 1007), while spec/ingest.md requires
 * point frames in text frames to be accepted byte for byte.
 *
 * Per frame (ws_chunk): a client frame must be masked, have no RSV bits, and use a
 * known opcode; a continuation needs an open message, a new text/binary frame must
 * not interrupt one (all: close 1002). Control frames are buffered in c->ctl:
 * ping -> pong with the same payload, pong ignored, close -> close echoing the code
 * (a 1-byte or invalid code: 1002), then the socket closes after the last write.
 * Data messages are reassembled in c->msg, reused from message to message (no
 * allocation per message in steady state) and bounded by frame_bytes_max: a longer
 * message is read through and discarded, on_too_big reports it, and the connection
 * stays open (spec/ingest.md: over a limit is a rejected frame).
 *
 * Pausing: while c->paused_* is set we stop calling wslay_frame_recv; unread bytes
 * wait in c->stash (and wslay's own 4 KiB buffer). A message the handler refused
 * waits in c->held and is redelivered first on resume.
 * Invariants: (1) c->msg.len <= frame_bytes_max; (2) held messages are delivered
 *   before any newer one; (3) after ws_closing nothing is delivered or sent.
 * Threads: loop thread only. */
#include "net/net_internal.h"

#include "base/log.h"

#include <errno.h>
#include <string.h>

/* Message buffers larger than this are released after the message, so one large
 * message does not pin memory on a connection that then idles. */
#define WS_MSG_KEEP_BYTES 65536u

static bool paused(const conn *c) {
    return c->paused_handler || c->paused_sendq;
}

static ssize_t recv_cb(uint8_t *out, size_t len, int flags, void *user_data) {
    conn *c = ((ws_slot *)user_data)->c;
    (void)flags;
    if (c->stash_off < c->stash.len) {
        size_t k = SL_MIN(len, c->stash.len - c->stash_off);
        memcpy(out, c->stash.p + c->stash_off, k);
        c->stash_off += k;
        if (c->stash_off == c->stash.len) {
            buf_free(&c->stash);
            c->stash_off = 0;
        }
        c->ws_fed += k;
        return (ssize_t)k;
    }
    if (c->rd_n) {
        size_t k = SL_MIN(len, c->rd_n);
        memcpy(out, c->rd_p, k);
        c->rd_p += k;
        c->rd_n -= k;
        c->ws_fed += k;
        return (ssize_t)k;
    }
    return -1; /* wslay: WSLAY_ERR_WANT_READ */
}

static ssize_t send_cb(const uint8_t *data, size_t len, int flags, void *user_data) {
    conn *c = ((ws_slot *)user_data)->c;
    (void)flags;
    buf_append(&c->out, data, len);
    return buf_failed(&c->out) ? -1 : (ssize_t)len;
}

static int genmask_cb(uint8_t *key, size_t len, void *user_data) {
    (void)user_data;
    memset(key, 0, len); /* servers do not mask (RFC 6455 §5.1); never called */
    return 0;
}

static const struct wslay_frame_callbacks callbacks = {
    .send_callback = send_cb,
    .recv_callback = recv_cb,
    .genmask_callback = genmask_cb,
};

/* wslay's frame context carries a 4 KiB input buffer. An idle connection does not
 * keep one: it borrows one when bytes arrive or a frame is sent, and gives it back
 * when everything given to it has been parsed (ws_fed == ws_parsed) at a frame
 * boundary, so nothing is lost and the context is clean for the next borrower. Up to
 * NET_WS_CTX_POOL contexts are kept, so busy connections do not allocate per read
 * and idle ones cost about 1-2 KiB (bench/net). */
static int ctx_ensure(conn *c) {
    if (c->ws) return 0;
    net *n = c->n;
    ws_slot *slot = n->ws_pool;
    if (slot) { /* a context released at a frame boundary: its state is clean */
        n->ws_pool = slot->next;
        n->ws_pool_n--;
    } else {
        slot = mem_alloc(MEM_NET, sizeof(*slot));
        if (!slot) return -ENOMEM;
        if (wslay_frame_context_init(&slot->ctx, &callbacks, slot) != 0) {
            mem_free(MEM_NET, slot);
            return -ENOMEM;
        }
    }
    slot->c = c;
    slot->next = NULL;
    c->ws = slot;
    c->ws_fed = 0;
    c->ws_parsed = 0;
    return 0;
}

/* Gives the context back to the pool (clean) or frees it (dirty or pool full). */
static void ctx_put(net *n, ws_slot *slot, bool clean) {
    slot->c = NULL;
    if (clean && n->ws_pool_n < NET_WS_CTX_POOL) {
        slot->next = n->ws_pool;
        n->ws_pool = slot;
        n->ws_pool_n++;
        return;
    }
    wslay_frame_context_free(slot->ctx);
    mem_free(MEM_NET, slot);
}

static void ctx_release_if_idle(conn *c) {
    if (!c->ws || c->in_read || c->in_frame || c->ws_fed != c->ws_parsed) return;
    if (c->stash_off < c->stash.len || c->rd_n) return;
    ctx_put(c->n, c->ws, true);
    c->ws = NULL;
    if (!c->in_msg && c->msg.len == 0) buf_free(&c->msg);
}

/* Frame header bytes as wslay accepted them (it refuses non-minimal lengths). */
static uint64_t header_bytes(const struct wslay_frame_iocb *io) {
    uint64_t n = io->payload_length;
    return 2u + (n < 126 ? 0u : n < 65536 ? 2u : 8u) + (io->mask ? 4u : 0u);
}

/* Writes one unfragmented, unmasked frame into c->out. */
static int send_frame(conn *c, uint8_t op, const uint8_t *p, size_t len) {
    if (ctx_ensure(c) < 0) return -ENOMEM;
    struct wslay_frame_iocb io;
    memset(&io, 0, sizeof(io));
    io.fin = 1;
    io.opcode = op;
    io.payload_length = len;
    io.data = p;
    io.data_length = len;
    do {
        ssize_t r = wslay_frame_send(c->ws->ctx, &io);
        if (r < 0) return -ENOMEM; /* only our send callback can fail: out of memory */
        io.data += r;
        io.data_length -= (size_t)r;
    } while (io.data_length > 0);
    return 0;
}

/* Sends a close frame and ends the connection once it is written. */
static void ws_close_with(conn *c, uint16_t code, const char *reason) {
    if (c->ws_closing || c->state != CONN_WS) return;
    uint8_t body[125];
    size_t n = 0;
    if (code) {
        body[0] = (uint8_t)(code >> 8);
        body[1] = (uint8_t)code;
        n = 2;
        size_t rl = reason ? SL_MIN(strlen(reason), sizeof(body) - 2) : 0;
        if (rl) memcpy(body + 2, reason, rl);
        n += rl;
    }
    (void)send_frame(c, WSLAY_CONNECTION_CLOSE, body, n);
    c->ws_closing = true;
    c->close_after_write = true;
    conn__pause(c);
}

static void fail(conn *c, const char *why) {
    log_debug("net", "connection %llu: WebSocket protocol error: %s", (unsigned long long)c->id,
              why);
    atomic_fetch_add_explicit(&c->n->st_ws_proto, 1, memory_order_relaxed);
    ws_close_with(c, WSLAY_CODE_PROTOCOL_ERROR, why);
}

/* Flushes output; closes the socket now if a close was sent and all is written. */
static void after_io(conn *c) {
    if (c->state != CONN_WS) return;
    conn__output_added(c);
    if (c->state == CONN_WS && c->close_after_write && !c->writing && c->out.len == 0)
        conn__close(c);
}

static void hold(conn *c, uint8_t kind, const uint8_t *p, size_t n) {
    uint8_t hdr[5];
    hdr[0] = kind;
    sl_store_u32le(hdr + 1, (uint32_t)n);
    buf_append(&c->held, hdr, sizeof(hdr));
    buf_append(&c->held, p, n);
    if (buf_failed(&c->held)) {
        log_warn("net", "connection %llu: out of memory holding a message, closing",
                 (unsigned long long)c->id);
        conn__close(c);
    }
}

static void deliver(conn *c, uint8_t kind, const uint8_t *p, size_t n) {
    static const uint8_t empty[1];
    net *ne = c->n;
    if (!p) p = empty;
    atomic_fetch_add_explicit(&ne->st_msgs, 1, memory_order_relaxed);
    if (c->paused_handler || c->held_off < c->held.len) {
        hold(c, kind, p, n);
        return;
    }
    int r = ne->opts.ws.on_message(ne->opts.ws.arg, c->id, c->user, (net_msg_kind)kind, p, n);
    if (r == NET_MSG_RETRY && c->state == CONN_WS) {
        hold(c, kind, p, n);
        c->paused_handler = true;
        conn__pause(c);
    }
}

static bool close_code_ok(uint16_t code) {
    /* RFC 6455 §7.4: codes a peer may send. */
    if (code >= 1000 && code <= 1003) return true;
    if (code >= 1007 && code <= 1011) return true;
    return code >= 3000 && code <= 4999;
}

static void on_control(conn *c) {
    switch (c->frame_op) {
    case WSLAY_PING:
        (void)send_frame(c, WSLAY_PONG, c->ctl, c->ctl_len);
        break;
    case WSLAY_PONG:
        break;
    case WSLAY_CONNECTION_CLOSE:
        if (c->ctl_len == 0) {
            ws_close_with(c, 0, NULL); /* no status: answer without one */
        } else if (c->ctl_len == 1) {
            fail(c, "close frame with a 1-byte payload");
        } else {
            uint16_t code = (uint16_t)(c->ctl[0] << 8 | c->ctl[1]);
            if (!close_code_ok(code)) {
                fail(c, "invalid close code");
            } else {
                ws_close_with(c, code, NULL);
            }
        }
        break;
    default:
        SL_ASSERT(0); /* ws_chunk admits only these three */
    }
}

static void on_message_end(conn *c) {
    net *n = c->n;
    c->in_msg = false;
    if (c->msg_too_big) {
        atomic_fetch_add_explicit(&n->st_too_big, 1, memory_order_relaxed);
        if (n->opts.ws.on_too_big)
            n->opts.ws.on_too_big(n->opts.ws.arg, c->id, c->user, c->msg_bytes);
        c->msg_too_big = false;
    } else {
        deliver(c, c->msg_op, c->msg.p, c->msg.len);
    }
    conn__input_give(c, c->msg.len);
    if (c->msg.cap > WS_MSG_KEEP_BYTES) buf_free(&c->msg);
    buf_reset(&c->msg);
    c->msg_bytes = 0;
}

/* One piece of a frame from wslay_frame_recv. */
static void ws_chunk(conn *c, const struct wslay_frame_iocb *io) {
    if (!c->in_frame) { /* a frame starts */
        c->ws_parsed += header_bytes(io);
        if (!io->mask) {
            fail(c, "client frames must be masked");
            return;
        }
        if (io->rsv) {
            fail(c, "reserved bits set without an extension");
            return;
        }
        uint8_t op = io->opcode;
        if (wslay_is_ctrl_frame(op)) {
            if (op != WSLAY_CONNECTION_CLOSE && op != WSLAY_PING && op != WSLAY_PONG) {
                fail(c, "reserved control opcode");
                return;
            }
            if (!io->fin || io->payload_length > 125) {
                fail(c, "bad control frame");
                return;
            }
            c->ctl_len = 0;
        } else if (op == WSLAY_CONTINUATION_FRAME) {
            if (!c->in_msg) {
                fail(c, "continuation frame without a message");
                return;
            }
        } else if (op == WSLAY_TEXT_FRAME || op == WSLAY_BINARY_FRAME) {
            if (c->in_msg) {
                fail(c, "new message before the previous one ended");
                return;
            }
            c->in_msg = true;
            c->msg_op = op;
            c->msg_bytes = 0;
            c->msg_too_big = false;
            conn__input_give(c, c->msg.len);
            buf_reset(&c->msg);
        } else {
            {
                fail(c, "reserved data opcode");
                return;
            }
        }
        c->in_frame = true;
        c->frame_op = op;
        c->frame_fin = io->fin;
        c->frame_len = io->payload_length;
        c->frame_got = 0;
    }
    size_t n = io->data_length;
    if (n > c->frame_len - c->frame_got) {
        fail(c, "frame longer than its header says");
        return;
    }
    if (wslay_is_ctrl_frame(c->frame_op)) {
        memcpy(c->ctl + c->ctl_len, io->data, n); /* <= 125 in all, checked above */
        c->ctl_len = (uint8_t)(c->ctl_len + n);
    } else if (n) {
        c->msg_bytes += n;
        /* Over this message's limit, or over what all connections may hold together
         * (NET_INPUT_BYTES_MAX): read through and discarded, reported as too big. */
        if (!c->msg_too_big && (c->msg.len + n > c->n->opts.frame_bytes_max ||
                                !conn__input_take(c, n))) {
            c->msg_too_big = true;
            conn__input_give(c, c->msg.len);
            buf_free(&c->msg);
        }
        if (!c->msg_too_big) {
            buf_append(&c->msg, io->data, n);
            if (buf_failed(&c->msg)) { /* out of memory: treat as a message we cannot take */
                c->msg_too_big = true;
                conn__input_give(c, c->msg.len + n); /* len did not grow: n was taken too */
                buf_free(&c->msg);
            }
        }
    }
    c->frame_got += n;
    c->ws_parsed += n;
    if (c->frame_got < c->frame_len) return;
    c->in_frame = false;
    if (wslay_is_ctrl_frame(c->frame_op)) {
        on_control(c);
    } else if (c->frame_fin) {
        on_message_end(c);
    }
}

static void read_end(conn *c) {
    net *n = c->n;
    if (c->state == CONN_WS && n->opts.ws.on_read_end)
        n->opts.ws.on_read_end(n->opts.ws.arg, c->id, c->user);
}

void ws__feed(conn *c, const uint8_t *p, size_t n) {
    if (c->state != CONN_WS || c->in_read) return;
    if (ctx_ensure(c) < 0) {
        log_warn("net", "connection %llu: out of memory for the WebSocket",
                 (unsigned long long)c->id);
        conn__close(c);
        return;
    }
    c->in_read = true;
    c->rd_p = p;
    c->rd_n = n;
    while (c->state == CONN_WS && !c->ws_closing && !paused(c)) {
        struct wslay_frame_iocb io;
        memset(&io, 0, sizeof(io));
        ssize_t r = wslay_frame_recv(c->ws->ctx, &io);
        if (r == WSLAY_ERR_WANT_READ) break;
        if (r < 0) {
            fail(c, r == WSLAY_ERR_PROTO ? "malformed frame header" : "frame error");
            break;
        }
        ws_chunk(c, &io);
    }
    c->in_read = false;
    if (c->state != CONN_WS) return;
    if (c->rd_n && !c->ws_closing) { /* paused part-way: keep the rest for later */
        buf_append(&c->stash, c->rd_p, c->rd_n);
        if (buf_failed(&c->stash)) {
            conn__close(c);
            return;
        }
    }
    c->rd_n = 0;
    read_end(c);
    after_io(c);
    if (c->state == CONN_WS) ctx_release_if_idle(c);
}

/* Delivers held messages while the handler takes them. False if it refused again. */
static bool replay_held(conn *c) {
    net *n = c->n;
    while (c->held_off < c->held.len && c->state == CONN_WS) {
        const uint8_t *h = c->held.p + c->held_off;
        uint8_t kind = h[0];
        uint32_t len = sl_load_u32le(h + 1);
        int r =
            n->opts.ws.on_message(n->opts.ws.arg, c->id, c->user, (net_msg_kind)kind, h + 5, len);
        if (r == NET_MSG_RETRY) {
            c->paused_handler = true;
            conn__pause(c);
            return false;
        }
        c->held_off += 5 + (size_t)len;
    }
    buf_free(&c->held);
    c->held_off = 0;
    return true;
}

void ws__resume(conn *c) {
    if (c->state != CONN_WS || paused(c) || c->in_read || c->ws_closing) return;
    if (c->held_off < c->held.len) {
        bool all = replay_held(c);
        read_end(c);
        if (!all || c->state != CONN_WS) {
            after_io(c);
            return;
        }
    }
    /* Parse what wslay and the stash still hold, then read the socket again. */
    ws__feed(c, NULL, 0);
    if (c->state == CONN_WS && !c->ws_closing) conn__maybe_resume(c);
}

int ws__start(conn *c) {
    /* The wslay context is made when the first bytes arrive (ctx_ensure). */
    c->state = CONN_WS;
    pthread_mutex_lock(&c->n->mu);
    c->ws_ready = true; /* other threads read this, not c->state */
    pthread_mutex_unlock(&c->n->mu);
    atomic_fetch_add_explicit(&c->n->st_ws_open, 1, memory_order_relaxed);
    return 0;
}

int ws__queue(conn *c, net_msg_kind kind, const uint8_t *p, size_t len) {
    if (c->state != CONN_WS || c->ws_closing) return SL_ENOTFOUND;
    int rc = send_frame(c, kind == NET_MSG_TEXT ? WSLAY_TEXT_FRAME : WSLAY_BINARY_FRAME, p, len);
    if (rc < 0) return rc;
    if (!c->in_read) { /* inside a read, ws__feed flushes at its end */
        after_io(c);
        if (c->state == CONN_WS) ctx_release_if_idle(c);
    }
    return 0;
}

void ws__shutdown(conn *c) {
    ws_close_with(c, WSLAY_CODE_GOING_AWAY, "server shutting down");
    after_io(c);
}

void ws__free(conn *c) {
    if (c->ws) ctx_put(c->n, c->ws, false); /* may hold part of a frame: not reused */
    c->ws = NULL;
    conn__input_give(c, c->msg.len);
    buf_free(&c->msg);
    buf_free(&c->held);
    buf_free(&c->stash);
}

void ws__pool_free(net *n) {
    while (n->ws_pool) {
        ws_slot *slot = n->ws_pool;
        n->ws_pool = slot->next;
        wslay_frame_context_free(slot->ctx);
        mem_free(MEM_NET, slot);
    }
    n->ws_pool_n = 0;
}
