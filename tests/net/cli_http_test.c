/* cli_http_test.c - the CLI's HTTP client against a real socket peer on 127.0.0.1.
 * Each test starts a one-shot peer thread that accepts one connection, reads the
 * request head (and body), records it, and writes a scripted answer. */
#include "base/buf.h"
#include "base/err.h"
#include "cli/cli.h"
#include "test.h"

#include "base/common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct peer {
    int lfd;
    uint16_t port;
    const char *answer;  /* written after the request is read; NULL = close at once */
    int answer_delay_ms; /* sleep before answering */
    char request[4096];  /* what the client sent (head + body), NUL-terminated */
    pthread_t th;
} peer;

static void *peer_main(void *arg) {
    peer *p = arg;
    int fd = accept(p->lfd, NULL, NULL);
    if (fd < 0) return NULL;
    size_t n = 0;
    /* Read until the head is complete and Content-Length bytes of body followed. */
    for (;;) {
        ssize_t r = recv(fd, p->request + n, sizeof(p->request) - 1 - n, 0);
        if (r <= 0) break;
        n += (size_t)r;
        p->request[n] = '\0';
        char *end = strstr(p->request, "\r\n\r\n");
        if (!end) continue;
        char *cl = strstr(p->request, "Content-Length: ");
        size_t want = cl ? (size_t)strtoul(cl + 16, NULL, 10) : 0;
        if (n >= (size_t)(end + 4 - p->request) + want) break;
    }
    if (p->answer_delay_ms) usleep((useconds_t)p->answer_delay_ms * 1000);
    if (p->answer) {
        size_t len = strlen(p->answer);
        /* Dribble the answer in small pieces to exercise incremental parsing. */
        for (size_t off = 0; off < len; off += 7) {
            size_t k = SL_MIN((size_t)7, len - off);
            if (send(fd, p->answer + off, k, MSG_NOSIGNAL) < 0) break;
        }
    }
    close(fd);
    return NULL;
}

static void peer_start(peer *p, const char *answer) {
    memset(p, 0, sizeof(*p));
    p->answer = answer;
    p->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(p->lfd, (struct sockaddr *)&a, sizeof(a));
    socklen_t al = sizeof(a);
    getsockname(p->lfd, (struct sockaddr *)&a, &al);
    p->port = ntohs(a.sin_port);
    listen(p->lfd, 4);
}

static void peer_run(peer *p) {
    pthread_create(&p->th, NULL, peer_main, p);
}

static void peer_stop(peer *p) {
    pthread_join(p->th, NULL);
    close(p->lfd);
}

static int request(peer *p, const char *method, const char *path, const char *body, int *status,
                   buf *out, char err[160]) {
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", p->port, path);
    return cli_http_request(method, url, body, body ? strlen(body) : 0, status, out, err);
}

/* One whole exchange: a peer that answers with answer, the client's request, the
 * peer joined (p->request then holds what the client sent). Returns request()'s rc. */
static int exchange(peer *p, const char *answer, const char *method, const char *path,
                    const char *body, int *status, buf *out, char err[160]) {
    peer_start(p, answer);
    peer_run(p);
    int rc = request(p, method, path, body, status, out, err);
    peer_stop(p);
    return rc;
}

TEST(cli_http_sends_method_path_host_and_body_and_reads_a_content_length_answer) {
    peer p;
    buf out;
    buf_init(&out, MEM_MISC, 0);
    int status = 0;
    char err[160];
    int rc = exchange(&p, "HTTP/1.1 201 Created\r\nContent-Length: 11\r\n\r\n{\"ok\":true}", "POST",
                      "/query?q=AVG%3Acpu", "hello body", &status, &out, err);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, err);
    CHECK_EQ_INT(status, 201);
    CHECK_EQ_STR(buf_cstr(&out), "{\"ok\":true}");
    CHECK(strncmp(p.request, "POST /query?q=AVG%3Acpu HTTP/1.1\r\n", 34) == 0);
    char host[64];
    snprintf(host, sizeof(host), "Host: 127.0.0.1:%u\r\n", p.port);
    CHECK(strstr(p.request, host) != NULL);
    CHECK(strstr(p.request, "Content-Length: 10\r\n") != NULL);
    CHECK(strstr(p.request, "\r\n\r\nhello body") != NULL);
    buf_free(&out);
}

TEST(cli_http_reads_chunked_and_close_delimited_bodies) {
    peer p;
    buf out;
    buf_init(&out, MEM_MISC, 0);
    int status = 0;
    char err[160];
    int rc = exchange(&p,
                      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                      "GET", "/", NULL, &status, &out, err);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, err);
    CHECK_EQ_INT(status, 200);
    CHECK_EQ_STR(buf_cstr(&out), "hello world");

    buf_reset(&out);
    rc = exchange(&p, "HTTP/1.0 404 Not Found\r\n\r\n{\"error\":\"no such workflow\"}", "GET",
                  "/workflows/x", NULL, &status, &out, err);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, err);
    CHECK_EQ_INT(status, 404);
    CHECK_EQ_STR(buf_cstr(&out), "{\"error\":\"no such workflow\"}");
    buf_free(&out);
}

TEST(cli_http_reports_refused_connection_truncated_and_malformed_answers) {
    buf out;
    buf_init(&out, MEM_MISC, 0);
    int status = 0;
    char err[160];

    /* A port that was just released: nothing listens there. */
    peer p;
    peer_start(&p, NULL);
    close(p.lfd);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/health", p.port);
    int rc = cli_http_request("GET", url, NULL, 0, &status, &out, err);
    CHECK(rc < 0);
    CHECK_MSG(strstr(err, "cannot connect") != NULL, "err: %s", err);

    rc = exchange(&p, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", "GET", "/", NULL,
                  &status, &out, err);
    CHECK_EQ_INT(rc, SL_EPROTO);
    CHECK_MSG(strstr(err, "closed before a complete response") != NULL, "err: %s", err);

    rc = exchange(&p, "this is not HTTP at all\r\n\r\n", "GET", "/", NULL, &status, &out, err);
    CHECK_EQ_INT(rc, SL_EPROTO);
    CHECK_MSG(strstr(err, "malformed HTTP response") != NULL, "err: %s", err);

    rc = cli_http_request("GET", "https://127.0.0.1/", NULL, 0, &status, &out, err);
    CHECK_EQ_INT(rc, SL_EINVAL);
    rc = cli_http_request("GET", "http://127.0.0.1:99999/", NULL, 0, &status, &out, err);
    CHECK_EQ_INT(rc, SL_EINVAL);
    buf_free(&out);
}

TEST(cli_http_gives_up_on_a_silent_server_after_the_timeout) {
    setenv("SLUNG_HTTP_TIMEOUT_MS", "200", 1);
    peer p;
    peer_start(&p, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    p.answer_delay_ms = 1500;
    peer_run(&p);
    buf out;
    buf_init(&out, MEM_MISC, 0);
    int status = 0;
    char err[160];
    int rc = request(&p, "GET", "/", NULL, &status, &out, err);
    peer_stop(&p);
    unsetenv("SLUNG_HTTP_TIMEOUT_MS");
    CHECK_EQ_INT(rc, -ETIMEDOUT);
    CHECK_MSG(strstr(err, "timed out") != NULL, "err: %s", err);
    buf_free(&out);
}

TEST(cli_http_refuses_a_body_larger_than_the_callers_buffer_limit) {
    peer p;
    buf out;
    buf_init(&out, MEM_MISC, 8);
    int status = 0;
    char err[160];
    int rc = exchange(&p, "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n01234567890123456789",
                      "GET", "/", NULL, &status, &out, err);
    CHECK_EQ_INT(rc, SL_ELIMIT);
    CHECK_MSG(strstr(err, "larger than") != NULL, "err: %s", err);
    buf_free(&out);
}

TEST(cli_server_url_takes_the_flag_then_the_environment_then_the_default) {
    char a0[] = "query", a1[] = "--server", a2[] = "http://h:1", a3[] = "SELECT";
    char *argv[] = {a0, a1, a2, a3, NULL};
    int argc = 4;
    CHECK_EQ_STR(cli_server_url(&argc, argv), "http://h:1");
    CHECK_EQ_INT(argc, 2);
    CHECK_EQ_STR(argv[1], "SELECT");
    setenv("SLUNG_SERVER", "http://env:2", 1);
    char b0[] = "query";
    char *argv2[] = {b0, NULL};
    argc = 1;
    CHECK_EQ_STR(cli_server_url(&argc, argv2), "http://env:2");
    unsetenv("SLUNG_SERVER");
    CHECK_EQ_STR(cli_server_url(&argc, argv2), "http://127.0.0.1:2077");
}

/* Runs cli_get_print with stdout redirected to a file; returns its exit status and
 * what it printed in out. */
static int get_print(peer *p, const char *server_suffix, const char *path, bool newline, char *out,
                     size_t cap) {
    char server[128];
    snprintf(server, sizeof(server), "http://127.0.0.1:%u%s", p->port, server_suffix);
    char tmp[] = "/tmp/slung-cli-get-print-XXXXXX";
    int fd = mkstemp(tmp);
    SL_ASSERT(fd >= 0);
    fflush(stdout);
    int saved = dup(1);
    dup2(fd, 1);
    int rc = cli_get_print("test", server, path, newline);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    ssize_t n = pread(fd, out, cap - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(tmp);
    return rc;
}

TEST(cli_get_print_prints_a_200_body_and_maps_other_answers_to_exit_statuses) {
    peer p;
    char out[256];
    peer_start(&p, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"value\":1}");
    peer_run(&p);
    int rc = get_print(&p, "//", "/query?q=x", true, out, sizeof(out));
    peer_stop(&p);
    CHECK_EQ_INT(rc, CLI_EXIT_OK);
    CHECK_EQ_STR(out, "{\"value\":1}\n");
    /* The server's trailing slashes are dropped, so the path is not "//query". */
    CHECK(strncmp(p.request, "GET /query?q=x HTTP/1.1\r\n", 25) == 0);

    peer_start(&p, "HTTP/1.1 400 Bad Request\r\nContent-Length: 7\r\n\r\n{\"e\":1}");
    peer_run(&p);
    rc = get_print(&p, "", "/query?q=y", false, out, sizeof(out));
    peer_stop(&p);
    CHECK_EQ_INT(rc, CLI_EXIT_REFUSED);
    CHECK_EQ_STR(out, ""); /* the error goes to stderr, not stdout */

    peer_start(&p, NULL);
    close(p.lfd); /* nobody listens on p.port any more */
    rc = get_print(&p, "", "/x", false, out, sizeof(out));
    CHECK_EQ_INT(rc, CLI_EXIT_UNREACHABLE);
}
