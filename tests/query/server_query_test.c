/* server_query_test.c - GET /query and `slung query` against a real `slung serve`
 * (SLUNG_BIN, run with --query-series-max 3) on a random loopback port, fed through
 * POST /write. */
#include "base/buf.h"
#include "base/clock.h"
#include "cli/cli.h"
#include "test.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct server {
    pid_t pid;
    int port;
    char dir[256];
    char url[64];
} server;

static int http(const char *method, const char *url, const char *body, buf *out) {
    int status = 0;
    char err[160];
    buf_reset(out);
    int rc = cli_http_request(method, url, body, body ? strlen(body) : 0, &status, out, err);
    return rc < 0 ? rc : status;
}

static bool server_start(server *s) {
    const char *bin = getenv("SLUNG_BIN");
    if (!bin || access(bin, X_OK) != 0) {
        test_fail(__FILE__, __LINE__, "SLUNG_BIN is not an executable: %s", bin ? bin : "(unset)");
        return false;
    }
    test_tmpdir(s->dir);
    srand((unsigned)(getpid() ^ clock_mono_ns()));
    for (int attempt = 0; attempt < 5; attempt++) {
        s->port = 20000 + rand() % 40000;
        snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", s->port);
        char port[16];
        char data[300];
        char log_path[300];
        snprintf(port, sizeof(port), "%d", s->port);
        snprintf(data, sizeof(data), "%s/data", s->dir);
        snprintf(log_path, sizeof(log_path), "%s/server.log", s->dir);
        s->pid = fork();
        if (s->pid == 0) {
            FILE *f = freopen(log_path, "w", stderr);
            (void)f;
            execl(bin, bin, "serve", "--listen", "127.0.0.1", "--port", port, "--data-dir", data,
                  "--fsync", "none", "--query-series-max", "3", (char *)NULL);
            _exit(127);
        }
        buf out;
        buf_init(&out, MEM_MISC, 0);
        char health[96];
        snprintf(health, sizeof(health), "%s/health", s->url);
        for (int i = 0; i < 200; i++) {
            if (http("GET", health, NULL, &out) == 200) {
                buf_free(&out);
                return true;
            }
            int st;
            if (waitpid(s->pid, &st, WNOHANG) == s->pid) break; /* port taken: retry */
            usleep(50000);
        }
        buf_free(&out);
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
    }
    test_fail(__FILE__, __LINE__, "slung serve did not start (see %s/server.log)", s->dir);
    return false;
}

static void server_stop(server *s) {
    kill(s->pid, SIGTERM);
    waitpid(s->pid, NULL, 0);
    test_rmrf(s->dir);
}

/* Runs `slung query --server URL text`; returns the exit status, stdout in out. */
static int cli_query(const server *s, const char *text, char *out, size_t cap) {
    int fds[2];
    if (pipe(fds) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, 2);
        execl(getenv("SLUNG_BIN"), "slung", "query", "--server", s->url, text, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fds[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(get_query_answers_json_and_a_400_with_the_column_of_a_parse_error) {
    server s;
    if (!server_start(&s)) return;
    buf out;
    buf_init(&out, MEM_MISC, 0);
    char url[256];
    snprintf(url, sizeof(url), "%s/write", s.url);
    CHECK_EQ_INT(http("POST", url,
                      "cpu,host=a value=1 10\ncpu,host=a value=3 20\ncpu,host=b value=100 30\n",
                      &out),
                 204);
    snprintf(url, sizeof(url), "%s/query?q=AVG%%3Acpu%%3A%%5Bhost%%3Da%%5D", s.url);
    CHECK_EQ_INT(http("GET", url, NULL, &out), 200);
    CHECK_EQ_STR(buf_cstr(&out), "{\"value\":2,\"count\":2}");
    snprintf(url, sizeof(url), "%s/query?q=AVG%%3Anone%%3A%%5B%%5D", s.url);
    CHECK_EQ_INT(http("GET", url, NULL, &out), 200);
    CHECK_EQ_STR(buf_cstr(&out), "{\"value\":null,\"count\":0}");
    snprintf(url, sizeof(url), "%s/query?q=AVG%%3Acpu%%3A%%5Bhost%%3Da%%3A%%5B1h%%5D", s.url);
    CHECK_EQ_INT(http("GET", url, NULL, &out), 400);
    CHECK_EQ_STR(buf_cstr(&out), "{\"error\":\"expected ']' at column 16\"}");
    snprintf(url, sizeof(url), "%s/query?q=SUM%%3Acpu%%3A%%5B%%5D%%3A%%5B0%%2C100%%5D%%3A20ns",
             s.url);
    CHECK_EQ_INT(http("GET", url, NULL, &out), 200);
    CHECK(strstr(buf_cstr(&out), "\"buckets\":[{\"start\":0,\"value\":1,\"count\":1}") != NULL);
    snprintf(url, sizeof(url), "%s/query", s.url);
    CHECK_EQ_INT(http("GET", url, NULL, &out), 400);
    /* The server runs with --query-series-max 3: four series are refused clearly. */
    snprintf(url, sizeof(url), "%s/write", s.url);
    CHECK_EQ_INT(http("POST", url, "m,k=1 value=1 1\nm,k=2 value=1 1\nm,k=3 value=1 1\n", &out),
                 204);
    snprintf(url, sizeof(url), "%s/query?q=COUNT%%3Am%%3A%%5B%%5D", s.url);
    CHECK_EQ_INT(http("GET", url, NULL, &out), 200);
    CHECK_EQ_STR(buf_cstr(&out), "{\"value\":3,\"count\":3}");
    snprintf(url, sizeof(url), "%s/write", s.url);
    CHECK_EQ_INT(http("POST", url, "m,k=4 value=1 1\n", &out), 204);
    snprintf(url, sizeof(url), "%s/query?q=COUNT%%3Am%%3A%%5B%%5D", s.url);
    CHECK_EQ_INT(http("GET", url, NULL, &out), 422);
    CHECK_EQ_STR(buf_cstr(&out),
                 "{\"error\":\"query matches more than 3 series (limit --query-series-max)\"}");
    buf_free(&out);
    server_stop(&s);
}

TEST(slung_query_prints_the_answer_and_fails_on_a_bad_query) {
    server s;
    if (!server_start(&s)) return;
    buf out;
    buf_init(&out, MEM_MISC, 0);
    char url[256];
    snprintf(url, sizeof(url), "%s/write", s.url);
    CHECK_EQ_INT(http("POST", url, "cpu,host=a value=1 10\ncpu,host=a value=3 20\n", &out), 204);
    buf_free(&out);
    char text[512];
    CHECK_EQ_INT(cli_query(&s, "SUM:cpu:[host=a]", text, sizeof(text)), 0);
    CHECK_EQ_STR(text, "{\"value\":4,\"count\":2}\n");
    CHECK_EQ_INT(cli_query(&s, "AVGX:cpu:[]", text, sizeof(text)), 1);
    CHECK_EQ_STR(text, "");
    server_stop(&s);
}
