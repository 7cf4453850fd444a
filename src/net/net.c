/* net.c - the network object: libuv loop, listener, the connection id table,
 * and the mutex-guarded post queue by which other threads reach the loop.
 * Invariants: (1) a connection is in the id table from accept until its handle
 *   starts closing, and is only freed after leaving it, so any thread holding mu
 *   may look a connection up and read its counters; (2) posts run in FIFO order on
 *   the loop thread; after net_run returns none is accepted (SL_ECLOSED) and the
 *   pending ones are dropped (send_text) or not run (net_post; their owner knows).
 * Threads: net_run's thread is the loop thread; net_post, net_send_text, net_stop
 *   and net_get_stats from any thread. See conn.c next. */
#include "net/net_internal.h"

#include "base/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash_id(uint64_t id) {
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdull;
    id ^= id >> 33;
    return id;
}

/* Under mu. */
static void slot_put(net *n, conn *c) {
    uint32_t mask = n->slot_cap - 1;
    uint32_t i = (uint32_t)hash_id(c->id) & mask;
    while (n->slots[i].id != 0)
        i = (i + 1) & mask;
    n->slots[i].id = c->id;
    n->slots[i].c = c;
}

/* Under mu. */
static conn *slot_get(net *n, uint64_t id) {
    uint32_t mask = n->slot_cap - 1;
    for (uint32_t i = (uint32_t)hash_id(id) & mask;; i = (i + 1) & mask) {
        if (n->slots[i].id == 0) return NULL;
        if (n->slots[i].id == id) return n->slots[i].c;
    }
}

/* Under mu. Linear probing deletion by backward shift keeps lookups correct. */
static void slot_del(net *n, uint64_t id) {
    uint32_t mask = n->slot_cap - 1;
    uint32_t i = (uint32_t)hash_id(id) & mask;
    while (n->slots[i].id != id) {
        if (n->slots[i].id == 0) return;
        i = (i + 1) & mask;
    }
    for (;;) {
        n->slots[i].id = 0;
        n->slots[i].c = NULL;
        uint32_t j = i;
        for (;;) {
            j = (j + 1) & mask;
            if (n->slots[j].id == 0) return;
            uint32_t home = (uint32_t)hash_id(n->slots[j].id) & mask;
            /* Move j back to i unless its home lies cyclically in (i, j]. */
            bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays) break;
        }
        n->slots[i] = n->slots[j];
        i = j;
    }
}

void net__table_add(net *n, conn *c) {
    pthread_mutex_lock(&n->mu);
    slot_put(n, c);
    pthread_mutex_unlock(&n->mu);
}

void net__table_remove(net *n, conn *c) {
    pthread_mutex_lock(&n->mu);
    slot_del(n, c->id);
    pthread_mutex_unlock(&n->mu);
}

conn *conn__find(net *n, uint64_t id) {
    pthread_mutex_lock(&n->mu);
    conn *c = slot_get(n, id);
    pthread_mutex_unlock(&n->mu);
    return c;
}

static void run_posts(net *n) {
    pthread_mutex_lock(&n->mu);
    post_node *p = n->post_head;
    n->post_head = n->post_tail = NULL;
    pthread_mutex_unlock(&n->mu);
    while (p) {
        post_node *next = p->next;
        if (p->fn) {
            p->fn(p->arg);
        } else {
            pthread_mutex_lock(&n->mu);
            n->posted_total -= p->len;
            conn *c = slot_get(n, p->conn_id);
            if (c) c->posted_bytes -= p->len;
            pthread_mutex_unlock(&n->mu);
            if (c && c->state == CONN_WS) (void)ws__queue(c, NET_MSG_TEXT, p->bytes, p->len);
        }
        mem_free(MEM_NET, p);
        p = next;
    }
}

static void on_wake(uv_async_t *a) {
    net *n = a->data;
    run_posts(n);
    if (n->stopping) uv_stop(&n->loop);
}

static void on_sweep(uv_timer_t *t) {
    net *n = t->data;
    uint64_t now = uv_now(&n->loop);
    for (conn *c = n->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == CONN_HTTP && !c->paused_http &&
            now - c->last_input_ms > NET_HTTP_IDLE_TIMEOUT_MS)
            conn__close(c);
    }
}

static uint32_t pick(uint32_t v, uint32_t def, uint32_t ceiling) {
    if (v == 0) return def;
    return v > ceiling ? ceiling : v;
}

int net_new(const net_opts *opts, net **out, sl_diag *d) {
    SL_ASSERT(opts != NULL);
    SL_ASSERT(out != NULL);
    *out = NULL;
    net *n = mem_calloc(MEM_NET, 1, sizeof(*n));
    if (!n) return sl_diag_set(d, -ENOMEM, 0, "out of memory creating the network loop");
    n->opts = *opts;
    n->opts.connections_max =
        pick(opts->connections_max, NET_CONNECTIONS_MAX_DEFAULT, NET_CONNECTIONS_MAX_CEILING);
    n->opts.frame_bytes_max =
        pick(opts->frame_bytes_max, NET_MSG_BYTES_MAX_DEFAULT, NET_MSG_BYTES_MAX_CEILING);
    n->opts.http_body_bytes_max = pick(opts->http_body_bytes_max, NET_HTTP_BODY_BYTES_MAX_DEFAULT,
                                       NET_HTTP_BODY_BYTES_MAX_CEILING);
    n->opts.send_queue_bytes_max =
        pick(opts->send_queue_bytes_max, NET_SEND_QUEUE_BYTES_MAX_DEFAULT,
             NET_SEND_QUEUE_BYTES_MAX_CEILING);
    n->opts.input_bytes_max =
        pick(opts->input_bytes_max, NET_INPUT_BYTES_MAX_DEFAULT, NET_INPUT_BYTES_MAX_CEILING);
    n->next_id = 1;
    int rc;
    uint32_t cap = 16;
    while (cap < 2 * n->opts.connections_max + 2)
        cap *= 2;
    n->slot_cap = cap;
    n->slots = mem_calloc(MEM_NET, cap, sizeof(*n->slots));
    n->rbuf = mem_alloc(MEM_NET, NET_READ_BYTES);
    if (!n->slots || !n->rbuf) {
        rc = sl_diag_set(d, -ENOMEM, 0, "out of memory creating the network loop");
        goto fail_free;
    }
    pthread_mutex_init(&n->mu, NULL);
    if ((rc = uv_loop_init(&n->loop)) < 0) {
        sl_diag_set(d, rc, 0, "cannot create the event loop: %s", uv_strerror(rc));
        goto fail_mutex;
    }
    uv_tcp_init(&n->loop, &n->listener);
    n->listener.data = n;
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } addr;
    const char *host = opts->listen_addr && *opts->listen_addr ? opts->listen_addr : "0.0.0.0";
    if (strchr(host, ':')) {
        rc = uv_ip6_addr(host, opts->port, &addr.in6);
    } else {
        rc = uv_ip4_addr(host, opts->port, &addr.in4);
    }
    if (rc < 0) {
        sl_diag_set(d, SL_EINVAL, 0, "--listen '%.64s' is not an IPv4 or IPv6 address", host);
        rc = SL_EINVAL;
        goto fail_loop;
    }
    if ((rc = uv_tcp_bind(&n->listener, &addr.sa, 0)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&n->listener, 1024, conn__on_connection)) < 0) {
        sl_diag_set(d, rc, 0, "cannot listen on %.64s:%u: %s", host, opts->port, uv_strerror(rc));
        goto fail_loop;
    }
    struct sockaddr_storage bound;
    int blen = sizeof(bound);
    uv_tcp_getsockname(&n->listener, (struct sockaddr *)&bound, &blen);
    n->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                          : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    uv_async_init(&n->loop, &n->wake, on_wake);
    n->wake.data = n;
    uv_timer_init(&n->loop, &n->sweep);
    n->sweep.data = n;
    uv_timer_start(&n->sweep, on_sweep, 1000, 1000);
    uv_unref((uv_handle_t *)&n->sweep);
    *out = n;
    return 0;
fail_loop:
    uv_close((uv_handle_t *)&n->listener, NULL);
    uv_run(&n->loop, UV_RUN_DEFAULT);
    uv_loop_close(&n->loop);
fail_mutex:
    pthread_mutex_destroy(&n->mu);
fail_free:
    mem_free(MEM_NET, n->slots);
    mem_free(MEM_NET, n->rbuf);
    mem_free(MEM_NET, n);
    return rc;
}

uint16_t net_port(const net *n) {
    return n->port;
}

struct uv_loop_s *net_loop(net *n) {
    return &n->loop;
}

int net_run(net *n) {
    uv_run(&n->loop, UV_RUN_DEFAULT);
    /* Stopping: refuse new posts, say goodbye to WebSockets, close everything. */
    pthread_mutex_lock(&n->mu);
    n->closed = true;
    pthread_mutex_unlock(&n->mu);
    n->stopping = true;
    run_posts(n);
    for (conn *c = n->conns; c; c = c->next)
        if (c->state == CONN_WS) ws__shutdown(c);
    /* Give the close frames one short loop turn to leave, then close all. */
    uv_run(&n->loop, UV_RUN_NOWAIT);
    for (conn *c = n->conns, *next; c; c = next) {
        next = c->next;
        conn__close(c);
    }
    uv_close((uv_handle_t *)&n->listener, NULL);
    uv_close((uv_handle_t *)&n->wake, NULL);
    uv_close((uv_handle_t *)&n->sweep, NULL);
    uv_run(&n->loop, UV_RUN_DEFAULT);
    run_posts(n); /* frees anything posted in between */
    return 0;
}

void net_stop(net *n) {
    pthread_mutex_lock(&n->mu);
    n->stopping = true;
    pthread_mutex_unlock(&n->mu);
    uv_async_send(&n->wake);
}

void net_free(net *n) {
    if (!n) return;
    if (!n->closed) { /* never ran: close the handles made by net_new */
        n->closed = true;
        uv_close((uv_handle_t *)&n->listener, NULL);
        uv_close((uv_handle_t *)&n->wake, NULL);
        uv_close((uv_handle_t *)&n->sweep, NULL);
        uv_run(&n->loop, UV_RUN_DEFAULT);
    }
    ws__pool_free(n);
    int rc = uv_loop_close(&n->loop);
    if (rc < 0) log_warn("net", "event loop closed with handles open: %s", uv_strerror(rc));
    for (post_node *p = n->post_head, *next; p; p = next) {
        next = p->next;
        mem_free(MEM_NET, p);
    }
    pthread_mutex_destroy(&n->mu);
    mem_free(MEM_NET, n->slots);
    mem_free(MEM_NET, n->rbuf);
    mem_free(MEM_NET, n);
}

static void post_push(net *n, post_node *p) {
    p->next = NULL;
    if (n->post_tail) {
        n->post_tail->next = p;
    } else {
        n->post_head = p;
    }
    n->post_tail = p;
}

int net_post(net *n, void (*fn)(void *arg), void *arg) {
    SL_ASSERT(fn != NULL);
    post_node *p = mem_alloc(MEM_NET, sizeof(*p));
    if (!p) return -ENOMEM;
    p->fn = fn;
    p->arg = arg;
    p->len = 0;
    pthread_mutex_lock(&n->mu);
    if (n->closed) {
        pthread_mutex_unlock(&n->mu);
        mem_free(MEM_NET, p);
        return SL_ECLOSED;
    }
    post_push(n, p);
    pthread_mutex_unlock(&n->mu);
    uv_async_send(&n->wake);
    return 0;
}

int net_send_text(net *n, uint64_t conn_id, const uint8_t *bytes, size_t len) {
    if (len > n->opts.send_queue_bytes_max) return SL_ELIMIT;
    post_node *p = mem_alloc(MEM_NET, sizeof(*p) + len);
    if (!p) return -ENOMEM;
    p->fn = NULL;
    p->conn_id = conn_id;
    p->len = len;
    if (len) memcpy(p->bytes, bytes, len);
    int rc = 0;
    pthread_mutex_lock(&n->mu);
    conn *c = n->closed ? NULL : slot_get(n, conn_id);
    if (!c || !c->ws_ready) {
        rc = SL_ENOTFOUND;
    } else if (atomic_load_explicit(&c->unsent, memory_order_relaxed) + c->posted_bytes + len >
                   n->opts.send_queue_bytes_max ||
               n->posted_total + len > NET_POSTED_BYTES_MAX) {
        rc = SL_ELIMIT;
    } else {
        c->posted_bytes += len;
        n->posted_total += len;
        post_push(n, p);
    }
    pthread_mutex_unlock(&n->mu);
    if (rc < 0) {
        mem_free(MEM_NET, p);
        return rc;
    }
    uv_async_send(&n->wake);
    return 0;
}

int net_ws_send(net *n, uint64_t conn_id, net_msg_kind kind, const uint8_t *p, size_t len) {
    conn *c = conn__find(n, conn_id);
    if (!c || c->state != CONN_WS) return SL_ENOTFOUND;
    return ws__queue(c, kind, p, len);
}

void net_resume(net *n, uint64_t conn_id) {
    conn *c = conn__find(n, conn_id);
    if (!c || c->state != CONN_WS || !c->paused_handler) return;
    c->paused_handler = false;
    ws__resume(c);
}

void net_pause(net *n, uint64_t conn_id) {
    conn *c = conn__find(n, conn_id);
    if (!c || c->state != CONN_WS) return;
    c->paused_handler = true;
    conn__pause(c);
}

void net_get_stats(const net *n, net_stats *s) {
#define LD(x) atomic_load_explicit(&n->x, memory_order_relaxed)
    s->connections_open = LD(st_open);
    s->websockets_open = LD(st_ws_open);
    s->connections_total = LD(st_total);
    s->connections_refused = LD(st_refused);
    s->http_requests = LD(st_http);
    s->http_bad_requests = LD(st_http_bad);
    s->ws_messages_in = LD(st_msgs);
    s->ws_messages_too_big = LD(st_too_big);
    s->ws_protocol_errors = LD(st_ws_proto);
    s->bytes_in = LD(st_in);
    s->bytes_out = LD(st_out);
    s->reads_paused = LD(st_paused);
#undef LD
}
