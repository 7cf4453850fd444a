/* http.c - HTTP/1.1 on a connection: Debian's http_parser reads requests, the
 * router picks a handler, the answer is queued on the connection; `Upgrade:
 * websocket` requests get the RFC 6455 handshake (SHA-1 + base64 from OpenSSL).
 * Invariants: (1) the request line and headers together stay within
 *   NET_HTTP_HEAD_BYTES_MAX (else 431 and close) and the body within
 *   http_body_bytes_max (else 413 and close), so a request pins bounded memory;
 *   (2) answers leave in request order: while an offloaded (ROUTE_OFFLOAD) request
 *   runs on the threadpool, the parser is paused, reading stops, and unparsed
 *   bytes wait in c->stash; (3) only GET with Upgrade: websocket, Connection:
 *   upgrade, a 16-byte Sec-WebSocket-Key and version 13 is upgraded; (4) once an
 *   answer that closes the connection is queued, no later request is parsed or read.
 * Threads: loop thread; offloaded handlers run on a libuv worker thread with their
 *   own copy of the request. See ws.c for what follows an upgrade. */
#include "net/net_internal.h"

#include "base/log.h"

#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The part of a request net keeps while reading it. */
struct http_state {
    http_parser hp;    /* the parser; hp.data = the conn */
    buf url;           /* request target as sent */
    buf body;          /* request body (<= http_body_bytes_max) */
    size_t head_bytes; /* url + header bytes seen, for the 431 limit */
    char field[32];    /* current header name (lower-case), "" if too long */
    size_t field_len;  /* bytes of the current name seen */
    bool in_value;     /* the last header callback was a value */
    int which;         /* index of the header being collected, -1 = ignored */
    char hdr[5][128];  /* upgrade, connection, sec-websocket-key, -version, expect */
    size_t hdr_len[5];
    bool complete;   /* on_message_complete ran for the current request */
    bool error_sent; /* a 4xx was queued; the connection closes after it */
};

enum { H_UPGRADE = 0, H_CONNECTION, H_WS_KEY, H_WS_VERSION, H_EXPECT, H_COUNT };
static const char *const hdr_names[H_COUNT] = {"upgrade", "connection", "sec-websocket-key",
                                               "sec-websocket-version", "expect"};

static const char *status_text(int status) {
    switch (status) {
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 422:
        return "Unprocessable Entity";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return status < 400 ? "OK" : "Error";
    }
}

/* Queues a complete answer. keep_alive false closes the connection after it. */
static void write_answer(conn *c, int status, const char *content_type, const uint8_t *body,
                         size_t len, bool keep_alive) {
    if (c->state == CONN_CLOSING) return;
    bool no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
    /* RFC 9110 §9.3.2: an answer to HEAD has the head of the GET answer (its
     * Content-Length included) and no content; bytes after it would be taken for the
     * next answer on the connection. */
    bool head = c->http && c->http->hp.method == HTTP_HEAD;
    buf_printf(&c->out, "HTTP/1.1 %d %s\r\n", status, status_text(status));
    if (!no_body)
        buf_printf(&c->out, "Content-Type: %s\r\nContent-Length: %zu\r\n",
                   content_type ? content_type : "application/json", len);
    buf_puts(&c->out, keep_alive ? "" : "Connection: close\r\n");
    buf_puts(&c->out, "\r\n");
    if (!no_body && !head) buf_append(&c->out, body, len);
    if (!keep_alive) c->close_after_write = true;
    conn__output_added(c);
}

static void write_error(conn *c, int status, const char *msg) {
    http_resp r = {.status = status};
    buf_init(&r.body, MEM_NET, 0);
    route_error(&r, status, msg);
    write_answer(c, status, "application/json", r.body.p, r.body.len, false);
    buf_free(&r.body);
    atomic_fetch_add_explicit(&c->n->st_http_bad, 1, memory_order_relaxed);
    if (c->http) c->http->error_sent = true;
}

static bool head_grow(conn *c, size_t n) {
    http_state *h = c->http;
    h->head_bytes += n;
    return h->head_bytes <= NET_HTTP_HEAD_BYTES_MAX;
}

static int on_message_begin(http_parser *hp) {
    conn *c = hp->data;
    http_state *h = c->http;
    buf_reset(&h->url);
    conn__input_give(c, h->body.len);
    buf_reset(&h->body);
    h->head_bytes = 0;
    h->field_len = 0;
    h->field[0] = '\0';
    h->in_value = false;
    h->which = -1;
    h->complete = false;
    memset(h->hdr_len, 0, sizeof(h->hdr_len));
    return 0;
}

static int on_url(http_parser *hp, const char *at, size_t len) {
    conn *c = hp->data;
    if (!head_grow(c, len)) return 1;
    buf_append(&c->http->url, at, len);
    return 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t len) {
    conn *c = hp->data;
    http_state *h = c->http;
    if (!head_grow(c, len)) return 1;
    if (h->in_value || h->field_len == 0) { /* a new header name starts */
        h->in_value = false;
        h->field_len = 0;
        h->which = -1;
    }
    for (size_t i = 0; i < len; i++, h->field_len++)
        if (h->field_len < sizeof(h->field) - 1)
            h->field[h->field_len] = (char)(at[i] >= 'A' && at[i] <= 'Z' ? at[i] + 32 : at[i]);
    h->field[SL_MIN(h->field_len, sizeof(h->field) - 1)] = '\0';
    return 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t len) {
    conn *c = hp->data;
    http_state *h = c->http;
    if (!head_grow(c, len)) return 1;
    if (!h->in_value) {
        h->in_value = true;
        h->which = -1;
        if (h->field_len < sizeof(h->field))
            for (int i = 0; i < H_COUNT; i++)
                if (!strcmp(h->field, hdr_names[i])) h->which = i;
        if (h->which >= 0) h->hdr_len[h->which] = 0; /* a repeated header replaces */
    }
    if (h->which >= 0) {
        size_t *hl = &h->hdr_len[h->which];
        size_t room = sizeof(h->hdr[0]) - 1 - *hl;
        size_t k = SL_MIN(room, len);
        memcpy(h->hdr[h->which] + *hl, at, k);
        *hl += k;
        h->hdr[h->which][*hl] = '\0';
    }
    return 0;
}

static int on_headers_complete(http_parser *hp) {
    conn *c = hp->data;
    http_state *h = c->http;
    h->field_len = 0;
    for (int i = 0; i < H_COUNT; i++)
        h->hdr[i][h->hdr_len[i]] = '\0';
    if (hp->content_length != ULLONG_MAX && hp->content_length > c->n->opts.http_body_bytes_max) {
        write_error(c, 413, "request body is larger than --http-body-bytes-max");
        return -1; /* an error for http_parser: it stops; the 413 is already queued */
    }
    /* RFC 9110 §10.1.1: a client that sent Expect: 100-continue (curl does for larger
     * bodies) waits for this before sending the body. */
    if (!strcasecmp(h->hdr[H_EXPECT], "100-continue") && hp->http_minor >= 1 && !hp->upgrade) {
        buf_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
        conn__output_added(c);
    }
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t len) {
    conn *c = hp->data;
    http_state *h = c->http;
    if (len > c->n->opts.http_body_bytes_max - h->body.len) {
        write_error(c, 413, "request body is larger than --http-body-bytes-max");
        return 1;
    }
    if (!conn__input_take(c, len)) { /* NET_INPUT_BYTES_MAX: all connections together */
        write_error(c, 503, "the server holds too many request bodies now; retry later");
        return 1;
    }
    size_t before = h->body.len;
    buf_append(&h->body, at, len);
    if (buf_failed(&h->body)) {
        conn__input_give(c, len);
        h->body.len = before;
        write_error(c, 503, "out of memory reading the request body");
        return 1;
    }
    return 0;
}

static void dispatch(conn *c);

static int on_message_complete(http_parser *hp) {
    conn *c = hp->data;
    c->http->complete = true;
    if (hp->upgrade) return 0; /* http_parser stops right after; see http__feed */
    dispatch(c);
    if (c->paused_http) http_parser_pause(hp, 1);
    if (c->close_after_write) {
        /* RFC 9112 §9.6: nothing after a request answered with "Connection: close"
         * is processed; stop parsing and reading (http__feed drops the rest). */
        http_parser_pause(hp, 1);
        conn__pause(c);
    }
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* Splits the request target into decoded path and raw query (both NUL-terminated
 * in out, which must hold url.len + 2 bytes). Returns false if it is not an
 * origin-form target. */
static bool split_target(const char *url, size_t len, char *path_out, char *query_out) {
    if (len == 0 || url[0] != '/') return false;
    const char *q = memchr(url, '?', len);
    size_t plen = q ? (size_t)(q - url) : len;
    const char *hash = memchr(url, '#', len);
    if (hash && (!q || hash < q)) plen = (size_t)(hash - url);
    /* Escapes make the decoded path shorter than plen; only an escaped NUL ("%00")
     * makes it shorter than its own decoded length, and handlers take C strings. */
    size_t decoded = route__pct_decode(url, plen, path_out, plen + 1, false);
    if (strlen(path_out) != decoded) return false;
    size_t qlen = 0;
    if (q) {
        const char *qend = memchr(q, '#', len - (size_t)(q - url));
        qlen = (qend ? (size_t)(qend - q) : len - (size_t)(q - url)) - 1;
        memcpy(query_out, q + 1, qlen);
    }
    query_out[qlen] = '\0';
    return true;
}

/* An offloaded request: a self-contained copy, run on a worker thread. */
typedef struct offload {
    uv_work_t work;   /* libuv request */
    net *n;           /* the net (loop thread side) */
    uint64_t conn_id; /* the connection to answer, looked up again afterwards */
    const route_entry *route;
    bool keep_alive; /* answer keeps the connection open */
    char method[16];
    char *path;     /* owned */
    char *query;    /* owned */
    buf body;       /* taken from the connection */
    size_t input;   /* body bytes still counted in n->input_bytes (given back when done) */
    http_resp resp; /* filled by the handler */
} offload;

static void offload_run(uv_work_t *w) {
    offload *o = w->data;
    http_req req = {.method = o->method,
                    .path = o->path,
                    .query = o->query,
                    .body = o->body.p,
                    .body_len = o->body.len,
                    .conn_id = o->conn_id};
    o->route->fn(&req, &o->resp, o->route->arg);
}

static void offload_done(uv_work_t *w, int status) {
    offload *o = w->data;
    SL_ASSERT(o->input <= o->n->input_bytes);
    o->n->input_bytes -= o->input;
    conn *c = conn__find(o->n, o->conn_id);
    if (c && c->state == CONN_HTTP) {
        if (status < 0 || buf_failed(&o->resp.body)) {
            write_error(c, 500, status < 0 ? "request cancelled" : "out of memory for the answer");
        } else {
            write_answer(c, o->resp.status ? o->resp.status : 200, o->resp.content_type,
                         o->resp.body.p, o->resp.body.len, o->keep_alive);
        }
        c->paused_http = false;
        http__resume(c);
    }
    buf_free(&o->body);
    buf_free(&o->resp.body);
    mem_free(MEM_NET, o->path);
    mem_free(MEM_NET, o->query);
    mem_free(MEM_NET, o);
}

static void dispatch(conn *c) {
    net *n = c->n;
    http_state *h = c->http;
    http_parser *hp = &h->hp;
    atomic_fetch_add_explicit(&n->st_http, 1, memory_order_relaxed);
    const char *method = http_method_str((enum http_method)hp->method);
    size_t ulen = h->url.len;
    char *path = mem_alloc(MEM_NET, ulen + 2);
    char *query = mem_alloc(MEM_NET, ulen + 2);
    if (!path || !query) {
        write_error(c, 503, "out of memory reading the request");
        goto out;
    }
    if (!split_target((const char *)h->url.p, ulen, path, query)) {
        write_error(c, 400, "request target must be a path such as /health");
        goto out;
    }
    bool known = false;
    const route_entry *e = router__match(n->opts.router, method, path, &known);
    bool keep_alive = http_should_keep_alive(hp) != 0;
    if (!e) {
        http_resp r = {0};
        buf_init(&r.body, MEM_NET, 0);
        route_error(&r, known ? 405 : 404, known ? "method not allowed" : "not found");
        write_answer(c, r.status, "application/json", r.body.p, r.body.len, keep_alive);
        buf_free(&r.body);
        goto out;
    }
    if (e->flags & ROUTE_OFFLOAD) {
        offload *o = mem_calloc(MEM_NET, 1, sizeof(*o));
        if (!o) {
            write_error(c, 503, "out of memory starting the request");
            goto out;
        }
        o->n = n;
        o->conn_id = c->id;
        o->route = e;
        o->keep_alive = keep_alive;
        snprintf(o->method, sizeof(o->method), "%s", method);
        o->path = path;
        o->query = query;
        path = query = NULL;
        o->body = h->body; /* take the body; the connection gets a fresh one */
        buf_init(&h->body, MEM_NET, 0);
        /* The count moves with the body: offload_done gives it back. */
        o->input = o->body.len;
        c->input_held -= o->input;
        o->resp.status = 200;
        o->resp.content_type = "application/json";
        buf_init(&o->resp.body, MEM_NET, 0);
        o->work.data = o;
        if (uv_queue_work(&n->loop, &o->work, offload_run, offload_done) < 0) {
            n->input_bytes -= o->input;
            buf_free(&o->body);
            buf_free(&o->resp.body);
            mem_free(MEM_NET, o->path);
            mem_free(MEM_NET, o->query);
            mem_free(MEM_NET, o);
            write_error(c, 503, "cannot start the request");
            goto out;
        }
        c->paused_http = true;
        conn__pause(c);
        goto out;
    }
    http_req req = {.method = method,
                    .path = path,
                    .query = query,
                    .body = h->body.p,
                    .body_len = h->body.len,
                    .conn_id = c->id};
    http_resp resp = {.status = 200, .content_type = "application/json"};
    buf_init(&resp.body, MEM_NET, 0);
    e->fn(&req, &resp, e->arg);
    if (buf_failed(&resp.body)) {
        write_error(c, 500, "out of memory for the answer");
    } else {
        write_answer(c, resp.status ? resp.status : 200, resp.content_type, resp.body.p,
                     resp.body.len, keep_alive);
    }
    buf_free(&resp.body);
out:
    mem_free(MEM_NET, path);
    mem_free(MEM_NET, query);
    /* The handler is done with the body (an offloaded one was moved away above). */
    conn__input_give(c, h->body.len);
    buf_reset(&h->body);
    if (h->body.cap > 65536) buf_free(&h->body);
}

/* RFC 6455 §4.2.2: Sec-WebSocket-Accept = base64(SHA-1(key + GUID)). */
static void ws_accept_key(const char *key, char out[29]) {
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    uint8_t digest[SHA_DIGEST_LENGTH];
    char cat[128 + sizeof(guid)];
    size_t klen = strlen(key);
    memcpy(cat, key, klen);
    memcpy(cat + klen, guid, sizeof(guid) - 1);
    SHA1((const unsigned char *)cat, klen + sizeof(guid) - 1, digest);
    EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH);
}

static bool has_token(const char *list, const char *token) {
    size_t tl = strlen(token);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *s = p;
        while (*p && *p != ',')
            p++;
        const char *e = p;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - s) == tl && !strncasecmp(s, token, tl)) return true;
    }
    return false;
}

/* Returns 0 when upgraded, <0 when an error answer was queued. */
static int upgrade(conn *c) {
    net *n = c->n;
    http_state *h = c->http;
    char key_dec[32];
    if (h->hp.method != HTTP_GET || !has_token(h->hdr[H_UPGRADE], "websocket") ||
        !has_token(h->hdr[H_CONNECTION], "upgrade")) {
        write_error(c, 400, "only GET with Upgrade: websocket is supported");
        return -1;
    }
    if (strcmp(h->hdr[H_WS_VERSION], "13") != 0) {
        buf_puts(&c->out, "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n"
                          "Content-Length: 0\r\nConnection: close\r\n\r\n");
        c->close_after_write = true;
        conn__output_added(c);
        return -1;
    }
    /* The key must be base64 of 16 bytes: 24 characters ending in "==". */
    size_t klen = strlen(h->hdr[H_WS_KEY]);
    if (klen != 24 ||
        EVP_DecodeBlock((unsigned char *)key_dec, (const unsigned char *)h->hdr[H_WS_KEY], 24) !=
            18 ||
        h->hdr[H_WS_KEY][22] != '=' || h->hdr[H_WS_KEY][23] != '=') {
        write_error(c, 400, "Sec-WebSocket-Key must be base64 of 16 bytes");
        return -1;
    }
    if (!n->opts.ws.on_message) {
        write_error(c, 404, "no WebSocket endpoint here");
        return -1;
    }
    size_t ulen = h->url.len;
    char *path = mem_alloc(MEM_NET, ulen + 2);
    char *query = mem_alloc(MEM_NET, ulen + 2);
    int rc = -1;
    if (!path || !query) {
        write_error(c, 503, "out of memory");
        goto out;
    }
    if (!split_target((const char *)h->url.p, ulen, path, query)) {
        write_error(c, 400, "request target must be a path such as /");
        goto out;
    }
    void *user = NULL;
    int orc =
        n->opts.ws.on_open ? n->opts.ws.on_open(n->opts.ws.arg, c->id, path, query, &user) : 0;
    if (orc != 0) {
        write_error(c, orc == SL_ENOTFOUND ? 404 : 503,
                    orc == SL_ENOTFOUND ? "no WebSocket endpoint at this path"
                                        : "cannot accept the WebSocket now");
        goto out;
    }
    c->user = user;
    /* The connection is a WebSocket before the client can see the 101, so a
     * net_send_text right after the handshake finds it. */
    if (ws__start(c) < 0) { /* ws__start closed it and released user */
        rc = -2;
        goto out;
    }
    char accept[29];
    ws_accept_key(h->hdr[H_WS_KEY], accept);
    buf_printf(&c->out,
               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
               accept);
    conn__output_added(c);
    rc = 0;
out:
    mem_free(MEM_NET, path);
    mem_free(MEM_NET, query);
    return rc;
}

int http__feed(conn *c, const uint8_t *p, size_t n) {
    if (!c->http) {
        c->http = mem_calloc(MEM_NET, 1, sizeof(*c->http));
        if (!c->http) return -ENOMEM;
        http_parser_init(&c->http->hp, HTTP_REQUEST);
        c->http->hp.data = c;
        buf_init(&c->http->url, MEM_NET, NET_HTTP_HEAD_BYTES_MAX);
        buf_init(&c->http->body, MEM_NET, 0);
    }
    http_state *h = c->http;
    size_t used = http_parser_execute(&h->hp, &settings, (const char *)p, n);
    if (c->state != CONN_HTTP) return 0;
    enum http_errno e = HTTP_PARSER_ERRNO(&h->hp);
    if (e == HPE_PAUSED) { /* an offloaded request: keep the rest for later */
        if (c->close_after_write) return 0; /* the answer closes: nothing more is read */
        buf_append(&c->stash, p + used, n - used);
        return buf_failed(&c->stash) ? -ENOMEM : 0;
    }
    if (h->error_sent) return 0; /* closes after the answer is written */
    if (h->hp.upgrade && h->complete) {
        int rc = upgrade(c);
        if (rc == -2 || c->state != CONN_WS) return 0;
        http__free(c); /* the parser is not needed any more: idle WebSockets stay small */
        /* Bytes after the handshake are already WebSocket frames. */
        if (used < n) ws__feed(c, p + used, n - used);
        return 0;
    }
    if (e != HPE_OK) {
        if (e == HPE_CB_url || e == HPE_CB_header_field || e == HPE_CB_header_value ||
            e == HPE_HEADER_OVERFLOW) {
            write_error(c, 431, "request line and headers exceed 16 KiB");
        } else {
            char msg[128];
            snprintf(msg, sizeof(msg), "malformed HTTP request: %s", http_errno_description(e));
            write_error(c, 400, msg);
        }
        log_debug("net", "connection %llu: bad HTTP request: %s", (unsigned long long)c->id,
                  http_errno_description(e));
        return 0;
    }
    return 0;
}

void http__resume(conn *c) {
    if (!c->http || c->state != CONN_HTTP) return;
    if (c->close_after_write) return; /* the answer closes: what follows is not served */
    http_parser_pause(&c->http->hp, 0);
    if (c->stash.len > c->stash_off) {
        /* Feed what arrived behind the offloaded request; may pause again. */
        buf rest = c->stash;
        size_t off = c->stash_off;
        buf_init(&c->stash, MEM_NET, 0);
        c->stash_off = 0;
        int rc = http__feed(c, rest.p + off, rest.len - off);
        buf_free(&rest);
        if (rc < 0) {
            conn__close(c);
            return;
        }
    }
    conn__maybe_resume(c);
}

void http__free(conn *c) {
    if (!c->http) return;
    conn__input_give(c, c->http->body.len);
    buf_free(&c->http->url);
    buf_free(&c->http->body);
    mem_free(MEM_NET, c->http);
    c->http = NULL;
}
