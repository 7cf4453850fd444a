/* cli_http.c - the CLI's small blocking HTTP/1.1 client (cli_http_request), the
 * choice of server address (cli_server_url), and the GET-and-print step that the
 * read-only client commands share (cli_get_print).
 *
 * One request per TCP connection ("Connection: close"): connect with a timeout, write
 * the request, read until the response is complete. The response is parsed by Debian's
 * http_parser (HTTP_RESPONSE), so chunked, Content-Length and close-delimited bodies
 * all work. Only http:// URLs: the server speaks plain HTTP (docs/OPERATIONS.md).
 * Invariants: (1) every wait (connect, each write, each read) is bounded by
 *   CLI_HTTP_IO_TIMEOUT_MS; (2) the body appended to body_out never exceeds
 *   CLI_HTTP_BODY_BYTES_MAX (or body_out->max_bytes if smaller): a larger answer is
 *   an error, not a silent truncation; (3) the socket is closed on every path.
 * Threads: whichever thread calls it (the CLI's main thread); no shared state except
 *   the static string cli_server_url may return. */
#include "cli/cli.h"

#include "base/common.h"
#include "base/err.h"

#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Longest any single wait may take: connecting, sending a chunk, or the gap between
 * two received chunks. Queries and deploys answer well within it; a server that says
 * nothing for this long is reported as a timeout. SLUNG_HTTP_TIMEOUT_MS overrides it
 * (1 .. CLI_HTTP_IO_TIMEOUT_MS_CEILING). */
#define CLI_HTTP_IO_TIMEOUT_MS 60000
#define CLI_HTTP_IO_TIMEOUT_MS_CEILING 3600000

/* Largest response body the CLI accepts; more is an error ("response too large").
 * Bounds the CLI's memory against a misbehaving server. */
#define CLI_HTTP_BODY_BYTES_MAX (256u << 20)

/* Longest host name and path+query we put in a request. */
#define CLI_HTTP_HOST_MAX 256
#define CLI_HTTP_TARGET_MAX 8192

#define CLI_DEFAULT_SERVER "http://127.0.0.1:2077"

const char *cli_server_url(int *argc, char **argv) {
    const char *url = NULL;
    int out = 0;
    for (int i = 0; i < *argc; i++) {
        if (!strcmp(argv[i], "--server") && i + 1 < *argc) {
            url = argv[++i];
            continue;
        }
        if (!strncmp(argv[i], "--server=", 9)) {
            url = argv[i] + 9;
            continue;
        }
        argv[out++] = argv[i];
    }
    if (out < *argc) argv[out] = NULL;
    *argc = out;
    if (url && *url) return url;
    const char *env = getenv("SLUNG_SERVER");
    if (env && *env) return env;
    return CLI_DEFAULT_SERVER;
}

typedef struct http_url {
    char host[CLI_HTTP_HOST_MAX]; /* name or address; IPv6 without brackets */
    char port[8];                 /* decimal text */
    const char *target;           /* path + query, points into the URL; "/" if empty */
} http_url;

static int url_parse(const char *url, http_url *u, char err[160]) {
    const char *p = url;
    if (!strncmp(p, "http://", 7)) {
        p += 7;
    } else if (strstr(p, "://")) {
        snprintf(err, 160, "unsupported URL scheme in '%.100s' (only http://)", url);
        return SL_EINVAL;
    }
    const char *host_end;
    const char *host = p;
    if (*p == '[') { /* [v6addr]:port */
        host = p + 1;
        host_end = strchr(host, ']');
        if (!host_end) goto bad;
        p = host_end + 1;
    } else {
        while (*p && *p != ':' && *p != '/' && *p != '?')
            p++;
        host_end = p;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0 || hlen >= sizeof(u->host)) goto bad;
    memcpy(u->host, host, hlen);
    u->host[hlen] = '\0';
    strcpy(u->port, "80");
    if (*p == ':') {
        p++;
        size_t n = 0;
        while (p[n] >= '0' && p[n] <= '9')
            n++;
        if (n == 0 || n > 5) goto bad;
        long port = strtol(p, NULL, 10);
        if (port < 1 || port > 65535) goto bad;
        snprintf(u->port, sizeof(u->port), "%ld", port);
        p += n;
    }
    if (*p && *p != '/' && *p != '?') goto bad;
    u->target = *p ? p : "/";
    if (strlen(u->target) > CLI_HTTP_TARGET_MAX) {
        snprintf(err, 160, "URL path longer than %d bytes", CLI_HTTP_TARGET_MAX);
        return SL_ELIMIT;
    }
    return 0;
bad:
    snprintf(err, 160, "malformed server URL '%.120s'", url);
    return SL_EINVAL;
}

static int io_timeout_ms(void) {
    const char *env = getenv("SLUNG_HTTP_TIMEOUT_MS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v >= 1 && v <= CLI_HTTP_IO_TIMEOUT_MS_CEILING) return (int)v;
    }
    return CLI_HTTP_IO_TIMEOUT_MS;
}

/* Waits for events on fd; 0 ready, -ETIMEDOUT, or -errno. */
static int wait_fd(int fd, short events, int timeout_ms) {
    struct pollfd pfd = {.fd = fd, .events = events};
    for (;;) {
        int n = poll(&pfd, 1, timeout_ms);
        if (n > 0) return 0;
        if (n == 0) return -ETIMEDOUT;
        if (errno != EINTR) return -errno;
    }
}

static int connect_to(const http_url *u, int timeout_ms, int *fd_out, char err[160]) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(u->host, u->port, &hints, &res);
    if (gai != 0) {
        snprintf(err, 160, "cannot resolve '%.64s': %s", u->host, gai_strerror(gai));
        return -EHOSTUNREACH;
    }
    int rc = -ECONNREFUSED;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            rc = -errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            rc = 0;
        } else if (errno != EINPROGRESS) {
            rc = -errno;
        } else if ((rc = wait_fd(fd, POLLOUT, timeout_ms)) == 0) {
            int soerr = 0;
            socklen_t len = sizeof(soerr);
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0) soerr = errno;
            rc = soerr ? -soerr : 0;
        }
        if (rc == 0) {
            *fd_out = fd;
            break;
        }
        close(fd);
    }
    freeaddrinfo(res);
    if (rc < 0)
        snprintf(err, 160, "cannot connect to %.64s:%s: %s", u->host, u->port,
                 rc == -ETIMEDOUT ? "timed out" : strerror(-rc));
    return rc;
}

static int send_all(int fd, const void *p, size_t n, int timeout_ms) {
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w > 0) {
            b += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = wait_fd(fd, POLLOUT, timeout_ms);
            if (rc < 0) return rc;
            continue;
        }
        return w < 0 ? -errno : -EIO;
    }
    return 0;
}

/* Parser state shared with http_parser's callbacks through parser.data. */
typedef struct resp_state {
    buf *body;         /* caller's buffer; borrowed */
    size_t body_bytes; /* bytes of body seen so far */
    size_t body_max;   /* CLI_HTTP_BODY_BYTES_MAX or the buffer's own, smaller, max */
    bool too_large;    /* body_max was exceeded */
    bool complete;     /* on_message_complete ran */
} resp_state;

static int on_body(http_parser *hp, const char *at, size_t len) {
    resp_state *st = hp->data;
    if (len > st->body_max - st->body_bytes) {
        st->too_large = true;
        return 1; /* stops the parser */
    }
    st->body_bytes += len;
    if (!st->body) return 0; /* the caller does not want the body */
    buf_append(st->body, at, len);
    if (buf_failed(st->body)) {
        st->too_large = true;
        return 1;
    }
    return 0;
}

static int on_message_complete(http_parser *hp) {
    resp_state *st = hp->data;
    st->complete = true;
    return 1; /* one response per connection: stop here */
}

int cli_http_request(const char *method, const char *url, const void *body, size_t body_len,
                     int *status, buf *body_out, char err[160]) {
    SL_ASSERT(method != NULL);
    SL_ASSERT(url != NULL);
    err[0] = '\0';
    *status = 0;
    http_url u;
    int rc = url_parse(url, &u, err);
    if (rc < 0) return rc;
    int timeout_ms = io_timeout_ms();
    int fd = -1;
    if ((rc = connect_to(&u, timeout_ms, &fd, err)) < 0) return rc;

    /* Request head. The host header carries the port as RFC 9110 §7.2 asks. */
    char head[CLI_HTTP_TARGET_MAX + CLI_HTTP_HOST_MAX + 256];
    bool v6 = strchr(u.host, ':') != NULL;
    int hn = snprintf(head, sizeof(head),
                      "%s %s HTTP/1.1\r\nHost: %s%s%s:%s\r\nUser-Agent: slung/%s\r\n"
                      "Accept: */*\r\nConnection: close\r\nContent-Length: %zu\r\n%s\r\n",
                      method, u.target, v6 ? "[" : "", u.host, v6 ? "]" : "", u.port, SLUNG_VERSION,
                      body ? body_len : 0,
                      body && body_len ? "Content-Type: application/octet-stream\r\n" : "");
    SL_ASSERT(hn > 0);
    SL_ASSERT((size_t)hn < sizeof(head)); /* bounded by CLI_HTTP_*_MAX above */
    if ((rc = send_all(fd, head, (size_t)hn, timeout_ms)) < 0 ||
        (body && body_len && (rc = send_all(fd, body, body_len, timeout_ms)) < 0)) {
        snprintf(err, 160, "sending request to %.64s:%s: %s", u.host, u.port,
                 rc == -ETIMEDOUT ? "timed out" : strerror(-rc));
        goto done;
    }

    http_parser_settings settings;
    http_parser_settings_init(&settings);
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
    resp_state st = {.body = body_out, .body_max = CLI_HTTP_BODY_BYTES_MAX};
    if (body_out && body_out->max_bytes &&
        body_out->max_bytes - SL_MIN(body_out->max_bytes, body_out->len) < st.body_max)
        st.body_max = body_out->max_bytes - SL_MIN(body_out->max_bytes, body_out->len);
    http_parser hp;
    http_parser_init(&hp, HTTP_RESPONSE);
    hp.data = &st;

    char rbuf[16384];
    for (;;) {
        ssize_t n = recv(fd, rbuf, sizeof(rbuf), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if ((rc = wait_fd(fd, POLLIN, timeout_ms)) < 0) {
                snprintf(err, 160, "waiting for the response from %.64s:%s: %s", u.host, u.port,
                         rc == -ETIMEDOUT ? "timed out" : strerror(-rc));
                goto done;
            }
            continue;
        }
        if (n < 0) {
            rc = -errno;
            snprintf(err, 160, "reading the response from %.64s:%s: %s", u.host, u.port,
                     strerror(errno));
            goto done;
        }
        /* n == 0 is EOF: http_parser is told with a 0-length execute, which completes a
         * close-delimited body or reports a truncated one. */
        size_t used = http_parser_execute(&hp, &settings, rbuf, (size_t)n);
        if (st.complete) break;
        if (st.too_large) {
            rc = SL_ELIMIT;
            snprintf(err, 160, "response body larger than %zu bytes", st.body_max);
            goto done;
        }
        if (n == 0 && HTTP_PARSER_ERRNO(&hp) == HPE_INVALID_EOF_STATE) {
            rc = SL_EPROTO;
            snprintf(err, 160, "connection to %.64s:%s closed before a complete response", u.host,
                     u.port);
            goto done;
        }
        if (HTTP_PARSER_ERRNO(&hp) != HPE_OK || used != (size_t)n) {
            rc = SL_EPROTO;
            snprintf(err, 160, "malformed HTTP response from %.64s:%s: %s", u.host, u.port,
                     http_errno_description(HTTP_PARSER_ERRNO(&hp)));
            goto done;
        }
        if (n == 0) {
            rc = SL_EPROTO;
            snprintf(err, 160, "connection to %.64s:%s closed before a complete response", u.host,
                     u.port);
            goto done;
        }
    }
    *status = (int)hp.status_code;
    rc = 0;
done:
    close(fd);
    return rc;
}

int cli_get_print(const char *cmd, const char *server, const char *path, bool newline) {
    buf url;
    buf_init(&url, MEM_MISC, 0);
    buf_puts(&url, server);
    while (url.len > 0 && url.p[url.len - 1] == '/')
        url.len--;
    buf_puts(&url, path);
    buf body;
    buf_init(&body, MEM_MISC, 0);
    int status = 0;
    char err[160] = "";
    int rc = buf_failed(&url) ? -ENOMEM : 0;
    if (rc == 0) rc = cli_http_request("GET", buf_cstr(&url), NULL, 0, &status, &body, err);
    int exit_code = CLI_EXIT_OK;
    if (rc < 0) {
        fprintf(stderr, "slung %s: %s: %s\n", cmd, server, err[0] ? err : sl_strerror(rc));
        exit_code = CLI_EXIT_UNREACHABLE;
    } else if (status != 200) {
        fprintf(stderr, "slung %s: HTTP %d: %s\n", cmd, status, buf_cstr(&body));
        exit_code = CLI_EXIT_REFUSED;
    } else {
        fwrite(body.p, 1, body.len, stdout);
        if (newline) fputc('\n', stdout);
    }
    buf_free(&body);
    buf_free(&url);
    return exit_code;
}
