/* route.c - the router of route.h: a short ordered table of (method, path, flags,
 * handler), matched first-come, plus query-string decoding for handlers.
 * Invariants: (1) routes are only added before net_run (no locking); (2) a route's
 *   method and path are copies owned by the router.
 * Threads: route_add before start; router__match and the helpers from any thread. */
#include "net/net_internal.h"

#include "base/common.h"

#include <errno.h>
#include <string.h>

int router_new(router **out) {
    router *r = mem_calloc(MEM_NET, 1, sizeof(*r));
    *out = r;
    return r ? 0 : -ENOMEM;
}

void router_free(router *r) {
    if (!r) return;
    for (uint32_t i = 0; i < r->count; i++) {
        mem_free(MEM_NET, r->routes[i].method);
        mem_free(MEM_NET, r->routes[i].path);
    }
    mem_free(MEM_NET, r);
}

int route_add(router *r, const char *method, const char *path, unsigned flags, http_handler fn,
              void *arg) {
    SL_ASSERT(path != NULL);
    SL_ASSERT(fn != NULL);
    if (r->count == NET_ROUTES_MAX) return SL_ELIMIT;
    route_entry *e = &r->routes[r->count];
    e->method = method ? mem_strndup(MEM_NET, method, strlen(method)) : NULL;
    e->path = mem_strndup(MEM_NET, path, strlen(path));
    if ((method && !e->method) || !e->path) {
        mem_free(MEM_NET, e->method);
        mem_free(MEM_NET, e->path);
        return -ENOMEM;
    }
    e->flags = flags;
    e->fn = fn;
    e->arg = arg;
    r->count++;
    return 0;
}

const route_entry *router__match(const router *r, const char *method, const char *path,
                                 bool *path_known) {
    *path_known = false;
    for (uint32_t i = 0; r && i < r->count; i++) {
        const route_entry *e = &r->routes[i];
        bool hit = (e->flags & ROUTE_PREFIX) ? !strncmp(path, e->path, strlen(e->path))
                                             : !strcmp(path, e->path);
        if (!hit) continue;
        *path_known = true;
        if (!e->method || !strcmp(e->method, method)) return e;
    }
    return NULL;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t route__pct_decode(const char *s, size_t n, char *out, size_t cap, bool plus_is_space) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < n) {
            int hi = hexval(s[i + 1]);
            int lo = hexval(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                c = (char)(hi << 4 | lo);
                i += 2;
            }
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (o + 1 < cap) out[o] = c;
        o++;
    }
    if (cap) out[o < cap ? o : cap - 1] = '\0';
    return o;
}

int route_query_param(const char *query, const char *name, char *out, size_t cap) {
    SL_ASSERT(cap > 0);
    size_t name_len = strlen(name);
    const char *p = query ? query : "";
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t klen = eq ? (size_t)(eq - p) : len;
        char key[64];
        if (klen < sizeof(key)) {
            route__pct_decode(p, klen, key, sizeof(key), true);
            if (strlen(key) == name_len && !memcmp(key, name, name_len)) {
                const char *v = eq ? eq + 1 : p + len;
                size_t vlen = (size_t)(p + len - v);
                size_t need = route__pct_decode(v, vlen, out, cap, true);
                if (need >= cap) return SL_ELIMIT;
                /* "%00": callers take a C string, which would silently end early. */
                return strlen(out) != need ? SL_EINVAL : 1;
            }
        }
        p += len;
        if (*p == '&') p++;
    }
    out[0] = '\0';
    return 0;
}

void route_error(http_resp *resp, int status, const char *msg) {
    resp->status = status;
    resp->content_type = "application/json";
    buf_reset(&resp->body);
    buf_puts(&resp->body, "{\"error\":");
    buf_json_str(&resp->body, msg, strlen(msg));
    buf_putc(&resp->body, '}');
}
