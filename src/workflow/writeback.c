/* writeback.c - HTTP writeback (u_writeback_http, libcurl), the host allowlist
 * and the writeback rate limit shared by u_writeback_ws and u_writeback_http.
 *
 * Allowlist (--wf-http-allow, a comma list; spaces around entries ignored):
 *   ""            any public address: loopback, private (RFC 1918), CGNAT, link-local,
 *                 unique-local, multicast and unspecified addresses are refused
 *   "*"           any address at all
 *   "127.0.0.1", "::1"             that address
 *   "10.0.0.0/8", "fd00::/8"       addresses in that prefix
 *   "api.example.com", "*.example.com"   URLs naming that host (or a subdomain);
 *                 the address it resolves to must still be public unless an
 *                 address entry covers it, so DNS cannot point a name at loopback
 * A non-empty list allows only what it names. The decision is made on the address
 * curl is about to connect to (CURLOPT_OPENSOCKETFUNCTION), after resolution and
 * for every redirect hop, so neither DNS nor a redirect can bypass it. Proxies
 * from the environment are ignored for the same reason.
 * Requests: methods 0 GET, 1 POST, 2 PUT, 3 DELETE; http and https only (also for
 * redirects); the whole transfer bounded by http_timeout_ms; redirects followed
 * only with http_follow_redirects (at most 5); no body with GET, nor with DELETE
 * when empty; Content-Type application/json when the body starts with '{' or '['
 * after spaces, else text/plain; charset=utf-8. The response body is returned for
 * 2xx statuses only, capped at WF_HTTP_RESPONSE_BYTES_MAX (larger aborts); any
 * other status, a refused address, a timeout or a stop is a failure, logged.
 * Rate: a token bucket of writebacks_per_s tokens refilled continuously; an empty
 * bucket refuses the writeback (error result, counted, logged once a second) after
 * sleeping until the next token (at most 100 ms), so a guest looping on writebacks
 * is throttled instead of spinning a core.
 * Threads: workflow threads; curl handles are per call. */
#include "workflow/workflow_internal.h"

#include "base/clock.h"
#include "base/common.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

/* Redirect hops followed when http_follow_redirects is set. */
#define WB_REDIRECTS_MAX 5L

static pthread_once_t wb_once = PTHREAD_ONCE_INIT;

static void wb_init_once(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void wb__global_init(void) {
    pthread_once(&wb_once, wb_init_once);
}

/* ---- rate ---- */

bool wb__rate_take(wf_run *r) {
    uint32_t rate = wf__config(r->w)->writebacks_per_s;
    int64_t now = clock_mono_ns();
    if (rate > 0) {
        if (r->tokens_ns == 0) {
            r->tokens = rate; /* a fresh run starts with a full second's budget */
        } else {
            r->tokens += (double)(now - r->tokens_ns) * rate / 1e9;
            if (r->tokens > rate) r->tokens = rate;
        }
        r->tokens_ns = now;
        if (r->tokens >= 1.0) {
            r->tokens -= 1.0;
            return true;
        }
    }
    uint64_t refused = atomic_fetch_add(&r->w->writebacks_refused, 1) + 1;
    static _Thread_local int64_t last_log_s;
    if (now / 1000000000 != last_log_s) {
        last_log_s = now / 1000000000;
        wflog__host(&r->w->log,
                    "writeback refused: over the limit of %u per second (%llu refused so far)",
                    rate, (unsigned long long)refused);
    }
    int64_t wait_ns = rate > 0 ? (int64_t)((1.0 - r->tokens) * 1e9 / rate) : 100000000;
    if (wait_ns > 100000000) wait_ns = 100000000;
    if (wait_ns > 0 && !atomic_load(&r->w->stop)) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = wait_ns};
        nanosleep(&ts, NULL);
    }
    return false;
}

/* ---- allowlist ---- */

static bool v4_in(uint32_t a, uint32_t net, unsigned bits) {
    uint32_t mask = bits == 0 ? 0 : ~0u << (32 - bits);
    return (a & mask) == (net & mask);
}

static bool v4_public(uint32_t a) {
    static const struct {
        uint32_t net;
        unsigned bits;
    } denied[] = {
        {0x00000000, 8},  {0x0a000000, 8},  {0x64400000, 10}, {0x7f000000, 8},
        {0xa9fe0000, 16}, {0xac100000, 12}, {0xc0000000, 24}, {0xc0a80000, 16},
        {0xc6120000, 15}, {0xe0000000, 4},  {0xf0000000, 4},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(denied); i++)
        if (v4_in(a, denied[i].net, denied[i].bits)) return false;
    return true;
}

static bool v6_prefix(const uint8_t *a, const uint8_t *net, unsigned bits) {
    for (unsigned i = 0; i < 16 && bits > 0; i++) {
        unsigned take = bits >= 8 ? 8 : bits;
        uint8_t mask = (uint8_t)(0xff << (8 - take));
        if ((a[i] & mask) != (net[i] & mask)) return false;
        bits -= take;
    }
    return true;
}

static bool v6_public(const uint8_t *a) {
    static const uint8_t zero[16] = {0};
    static const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t nat64[16] = {0, 0x64, 0xff, 0x9b};
    static const uint8_t ula[16] = {0xfc};
    static const uint8_t linklocal[16] = {0xfe, 0x80};
    static const uint8_t multicast[16] = {0xff};
    if (v6_prefix(a, mapped, 96) || v6_prefix(a, nat64, 96))
        return v4_public((uint32_t)a[12] << 24 | (uint32_t)a[13] << 16 | (uint32_t)a[14] << 8 |
                         a[15]);
    if (v6_prefix(a, zero, 127)) return false; /* :: and ::1 */
    if (v6_prefix(a, ula, 7) || v6_prefix(a, linklocal, 10) || v6_prefix(a, multicast, 8))
        return false;
    return true;
}

/* Does entry (an address or a prefix) cover addr? -1 if entry is not an address. */
static int entry_covers(const char *entry, const struct sockaddr *addr) {
    char text[64];
    unsigned bits = 0;
    const char *slash = strchr(entry, '/');
    size_t n = slash ? (size_t)(slash - entry) : strlen(entry);
    if (n >= sizeof(text)) return -1;
    memcpy(text, entry, n);
    text[n] = 0;
    uint8_t net[16];
    int family = 0;
    if (inet_pton(AF_INET, text, net) == 1) {
        family = AF_INET;
        bits = 32;
    } else if (inet_pton(AF_INET6, text, net) == 1) {
        family = AF_INET6;
        bits = 128;
    } else {
        return -1;
    }
    if (slash) {
        char *end = NULL;
        unsigned long b = strtoul(slash + 1, &end, 10);
        if (!end || *end != 0 || end == slash + 1 || b > bits)
            return 0; /* malformed: covers nothing */
        bits = (unsigned)b;
    }
    if (addr->sa_family == AF_INET && family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)addr;
        uint32_t a = ntohl(s4->sin_addr.s_addr);
        uint32_t nv;
        memcpy(&nv, net, 4);
        return v4_in(a, ntohl(nv), bits);
    }
    if (addr->sa_family == AF_INET6 && family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)addr;
        return v6_prefix(s6->sin6_addr.s6_addr, net, bits);
    }
    return 0;
}

static bool host_matches(const char *entry, const char *host) {
    if (entry[0] == '*' && entry[1] == '.') {
        size_t el = strlen(entry + 1); /* ".example.com" */
        size_t hl = strlen(host);
        return hl > el && strcasecmp(host + hl - el, entry + 1) == 0;
    }
    return strcasecmp(entry, host) == 0;
}

static bool addr_public(const struct sockaddr *addr) {
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)addr;
        return v4_public(ntohl(s4->sin_addr.s_addr));
    }
    if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)addr;
        return v6_public(s6->sin6_addr.s6_addr);
    }
    return false;
}

bool wb__allowed(const char *allow, const char *host, const struct sockaddr *addr) {
    if (addr->sa_family != AF_INET && addr->sa_family != AF_INET6) return false;
    const char *p = allow;
    while (*p == ' ')
        p++;
    if (*p == 0) return addr_public(addr);
    bool name_ok = false;
    while (*p) {
        char entry[256];
        size_t n = strcspn(p, ",");
        const char *e = p;
        size_t en = n;
        while (en > 0 && (*e == ' ' || *e == '\t'))
            e++, en--;
        while (en > 0 && (e[en - 1] == ' ' || e[en - 1] == '\t'))
            en--;
        if (en > 0 && en < sizeof(entry)) {
            memcpy(entry, e, en);
            entry[en] = 0;
            if (strcmp(entry, "*") == 0) return true;
            int c = entry_covers(entry, addr);
            if (c == 1) return true;
            if (c < 0 && host && host_matches(entry, host)) name_ok = true;
        }
        p += n;
        if (*p == ',') p++;
    }
    return name_ok && addr_public(addr);
}

/* ---- HTTP ---- */

typedef struct wb_call {
    wf_run *r;            /* the calling run */
    CURL *curl;           /* this call's handle */
    buf *out;             /* response body */
    bool too_big;         /* the body passed WF_HTTP_RESPONSE_BYTES_MAX */
    bool denied;          /* the allowlist refused an address */
    char denied_addr[64]; /* which one, for the log */
} wb_call;

static size_t wb_on_body(char *p, size_t size, size_t nmemb, void *arg) {
    wb_call *c = arg;
    size_t n = size * nmemb;
    if (c->out->len + n > WF_HTTP_RESPONSE_BYTES_MAX) {
        c->too_big = true;
        return 0; /* aborts the transfer (CURLE_WRITE_ERROR) */
    }
    buf_append(c->out, p, n);
    return buf_failed(c->out) ? 0 : n;
}

static int wb_on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    wb_call *c = arg;
    return atomic_load(&c->r->w->stop) ? 1 : 0; /* a stop aborts a slow request */
}

/* The host of the URL being connected (changes on redirects). */
static void wb_current_host(CURL *curl, char *out, size_t cap) {
    char *url = NULL;
    out[0] = 0;
    if (curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &url) != CURLE_OK || !url) return;
    CURLU *u = curl_url();
    char *host = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        snprintf(out, cap, "%s", host);
        curl_free(host);
    }
    curl_url_cleanup(u);
}

static curl_socket_t wb_on_open(void *arg, curlsocktype purpose, struct curl_sockaddr *a) {
    wb_call *c = arg;
    char host[256];
    wb_current_host(c->curl, host, sizeof(host));
    if (!wb__allowed(wf__config(c->r->w)->http_allow, host, &a->addr)) {
        c->denied = true;
        const void *raw =
            a->addr.sa_family == AF_INET
                ? (const void *)&((const struct sockaddr_in *)(const void *)&a->addr)->sin_addr
                : (const void *)&((const struct sockaddr_in6 *)(const void *)&a->addr)->sin6_addr;
        if (!inet_ntop(a->family, raw, c->denied_addr, sizeof(c->denied_addr)))
            snprintf(c->denied_addr, sizeof(c->denied_addr), "?");
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static const char *const wb_method_names[] = {"GET", "POST", "PUT", "DELETE"};

int wb__http(wf_run *r, const char *url, size_t url_len, const uint8_t *body, size_t body_len,
             uint32_t method, buf *out) {
    SL_ASSERT(method <= 3);
    const wf_config *cfg = wf__config(r->w);
    int rc = -EIO;
    char *u = NULL;
    struct curl_slist *headers = NULL;
    char errbuf[CURL_ERROR_SIZE];
    wb_call call = {.r = r, .out = out};
    if (url_len == 0 || memchr(url, 0, url_len) || url_len > 8192) {
        wflog__host(&r->w->log, "u_writeback_http: the URL is empty, too long or holds a NUL");
        return SL_EINVAL;
    }
    u = mem_strndup(MEM_WORKFLOW, url, url_len);
    if (!u) return -ENOMEM;
    wb__global_init();
    call.curl = curl_easy_init();
    if (!call.curl) goto done;
    CURL *h = call.curl;
    errbuf[0] = 0;
    curl_easy_setopt(h, CURLOPT_URL, u);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, cfg->http_follow_redirects ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, WB_REDIRECTS_MAX);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)cfg->http_timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->http_timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "slung-workflow/" SLUNG_VERSION);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, wb_on_open);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &call);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, wb_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &call);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, wb_on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &call);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    headers = curl_slist_append(headers, "Expect:");
    size_t sp = 0;
    while (sp < body_len &&
           (body[sp] == ' ' || body[sp] == '\n' || body[sp] == '\t' || body[sp] == '\r'))
        sp++;
    bool json = sp < body_len && (body[sp] == '{' || body[sp] == '[');
    headers = curl_slist_append(headers, json ? "Content-Type: application/json"
                                              : "Content-Type: text/plain; charset=utf-8");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    bool send_body = method == 1 || method == 2 || (method == 3 && body_len > 0);
    if (method == 0) curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    if (send_body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body_len ? (const char *)body : "");
    }
    if (method == 2) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
    if (method == 3) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    CURLcode cr = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    const char *m = wb_method_names[method];
    int ushow = (int)SL_MIN(url_len, 200u);
    if (call.denied) {
        wflog__host(&r->w->log,
                    "u_writeback_http %s %.*s: address %s is not allowed (--wf-http-allow)", m,
                    ushow, url, call.denied_addr);
        rc = SL_EINVAL;
    } else if (call.too_big) {
        wflog__host(&r->w->log, "u_writeback_http %s %.*s: response body over %u bytes", m, ushow,
                    url, WF_HTTP_RESPONSE_BYTES_MAX);
        rc = SL_ELIMIT;
    } else if (cr != CURLE_OK) {
        wflog__host(&r->w->log, "u_writeback_http %s %.*s: %s", m, ushow, url,
                    errbuf[0] ? errbuf : curl_easy_strerror(cr));
    } else if (status < 200 || status > 299) {
        wflog__host(&r->w->log, "u_writeback_http %s %.*s: status %ld", m, ushow, url, status);
    } else {
        rc = 0;
    }
    if (rc < 0) buf_reset(out);
done:
    curl_slist_free_all(headers);
    if (call.curl) curl_easy_cleanup(call.curl);
    mem_free(MEM_WORKFLOW, u);
    return rc;
}
