/* writeback_http_test.c - u_writeback_http against a real HTTP server on loopback
 * (Python's http.server, started by the test), and the allowlist's syntax. */
#include "wf_testutil.h"

#include "workflow/workflow_internal.h"

#include <arpa/inet.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the allowlist ---- */

static struct sockaddr_storage addr_of(const char *text) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
    } else if (inet_pton(AF_INET6, text, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
    }
    return ss;
}

static bool allowed(const char *allow, const char *host, const char *addr) {
    struct sockaddr_storage ss = addr_of(addr);
    return wb__allowed(allow, host, (const struct sockaddr *)&ss);
}

TEST(the_default_allowlist_admits_public_addresses_and_refuses_internal_ones) {
    CHECK(allowed("", "example.com", "93.184.216.34"));
    CHECK(allowed("", "example.com", "2606:2800:220:1::1"));
    CHECK(!allowed("", "localhost", "127.0.0.1"));
    CHECK(!allowed("", "x", "10.1.2.3"));
    CHECK(!allowed("", "x", "172.16.0.1"));
    CHECK(!allowed("", "x", "192.168.1.1"));
    CHECK(!allowed("", "x", "169.254.169.254")); /* cloud metadata */
    CHECK(!allowed("", "x", "100.64.0.1"));
    CHECK(!allowed("", "x", "0.0.0.0"));
    CHECK(!allowed("", "x", "::1"));
    CHECK(!allowed("", "x", "::ffff:127.0.0.1"));
    CHECK(!allowed("", "x", "fd00::1"));
    CHECK(!allowed("", "x", "fe80::1"));
}

TEST(allowlist_entries_name_addresses_prefixes_and_hosts) {
    CHECK(allowed("*", "x", "127.0.0.1"));
    CHECK(allowed("127.0.0.1", "localhost", "127.0.0.1"));
    CHECK(!allowed("127.0.0.1", "x", "93.184.216.34")); /* a list allows only what it names */
    CHECK(allowed(" 10.0.0.0/8 , ::1", "x", "10.200.0.1"));
    CHECK(allowed(" 10.0.0.0/8 , ::1", "x", "::1"));
    CHECK(!allowed("10.0.0.0/8", "x", "11.0.0.1"));
    CHECK(allowed("api.example.com", "API.example.com", "93.184.216.34"));
    CHECK(!allowed("api.example.com", "other.example.com", "93.184.216.34"));
    CHECK(allowed("*.example.com", "a.b.example.com", "93.184.216.34"));
    CHECK(!allowed("*.example.com", "example.com", "93.184.216.34"));
    /* A name entry cannot be pointed at an internal address through DNS. */
    CHECK(!allowed("evil.example.com", "evil.example.com", "127.0.0.1"));
    CHECK(allowed("evil.example.com,127.0.0.0/8", "evil.example.com", "127.0.0.1"));
    CHECK(!allowed("10.0.0.0/99", "x", "10.0.0.1")); /* malformed prefix covers nothing */
}

/* ---- a real HTTP server ---- */

static const char server_py[] =
    "import http.server, sys, time\n"
    "log = open(sys.argv[1], 'a')\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def log_message(self, *a): pass\n"
    "    def body(self):\n"
    "        n = int(self.headers.get('Content-Length') or 0)\n"
    "        return self.rfile.read(n).decode()\n"
    "    def answer(self, code, text, extra=None):\n"
    "        b = text.encode()\n"
    "        self.send_response(code)\n"
    "        for k, v in (extra or {}).items(): self.send_header(k, v)\n"
    "        self.send_header('Content-Length', str(len(b)))\n"
    "        self.end_headers()\n"
    "        self.wfile.write(b)\n"
    "    def handle_any(self):\n"
    "        b = self.body()\n"
    "        log.write('%s %s %s %s\\n' % (self.command, self.path, self.headers.get('Content-Type'), b)); log.flush()\n"
    "        if self.path == '/redirect': return self.answer(302, '', {'Location': '/config'})\n"
    "        if self.path == '/slow': time.sleep(10)\n"
    "        if self.path == '/big': return self.answer(200, 'x' * (2 << 20))\n"
    "        if self.path == '/empty': return self.answer(200, '')\n"
    "        if self.path == '/fail': return self.answer(500, 'broken')\n"
    "        self.answer(200, 'got %s %d' % (self.command, len(b)))\n"
    "    do_GET = do_POST = do_PUT = do_DELETE = handle_any\n"
    "s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
    "print(s.server_address[1], flush=True)\n"
    "s.serve_forever()\n";

typedef struct pysrv {
    pid_t pid;
    int port;
    char dir[256];
    char log[300];
} pysrv;

static bool pysrv_start(pysrv *p) {
    char script[300];
    test_tmpdir(p->dir);
    snprintf(script, sizeof(script), "%s/srv.py", p->dir);
    snprintf(p->log, sizeof(p->log), "%s/requests.log", p->dir);
    FILE *f = fopen(script, "w");
    if (!f) return false;
    fputs(server_py, f);
    fclose(f);
    int fds[2];
    if (pipe(fds) < 0) return false;
    p->pid = fork();
    if (p->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive a test that crashed */
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl("/usr/bin/python3", "python3", script, p->log, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char line[32] = {0};
    size_t got = 0;
    while (got < sizeof(line) - 1 && !memchr(line, '\n', got)) {
        ssize_t n = read(fds[0], line + got, sizeof(line) - 1 - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fds[0]);
    p->port = atoi(line);
    return p->port > 0;
}

static void pysrv_stop(pysrv *p) {
    if (p->pid > 0) {
        kill(p->pid, SIGTERM);
        waitpid(p->pid, NULL, 0);
    }
    test_rmrf(p->dir);
}

static bool pysrv_log_has(pysrv *p, const char *needle) {
    FILE *f = fopen(p->log, "r");
    if (!f) return false;
    char text[8192];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = 0;
    return strstr(text, needle) != NULL;
}

static const char *allow_text;
static uint32_t timeout_ms = 5000;

static void http_cfg(wf_config *c) {
    c->restart_backoff_ms = 0;
    c->http_timeout_ms = timeout_ms;
    snprintf(c->http_allow, sizeof(c->http_allow), "%s", allow_text);
}

static wf_manager *mgr_http(tenv *t, const char *allow) {
    wf_env env;
    wf_config cfg;
    tenv_init(t, &env);
    wf_config_defaults(&cfg);
    allow_text = allow;
    http_cfg(&cfg);
    wf_manager *m = NULL;
    return wf_manager_new(&cfg, &env, &m) < 0 ? NULL : m;
}

/* Length of WAT string text after its \" escapes are undone. */
static size_t wat_len(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        if (*s != '\\') n++;
    return n;
}

/* A module that sends method to url with body and forwards the response body to
 * connection 9; returns 0 if a body came back, 1 if not. */
static void http_wat(char *out, size_t cap, const char *url, const char *body, int method) {
    snprintf(out, cap, WAT_PRELUDE
             " (data (i32.const 200) \"%s\")\n"
             " (data (i32.const 600) \"%s\")\n"
             " (func (export \"call\") (result i32) (local $r i32)\n"
             "  (call $reg (i32.const 100) (i32.const 200) (i32.const %zu))\n"
             "  (call $reg (i32.const 112) (i32.const 600) (i32.const %zu))\n"
             "  (local.set $r (call $http (i32.const 100) (i32.const 112) (i32.const %d)))\n"
             "  (if (i32.eqz (local.get $r)) (then (return (i32.const 1))))\n"
             "  (drop (call $ws (i64.const 9) (local.get $r)))\n"
             "  (i32.const 0)))\n",
             url, body, wat_len(url), wat_len(body), method);
}

static bool run_http(wf_manager *m, const char *name, const char *url, const char *body, int method,
                     wf_status *s) {
    char wat[8192];
    sl_diag d;
    http_wat(wat, sizeof(wat), url, body, method);
    if (wf_deploy_wat(m, name, wat, &d) < 0) return false;
    int64_t end = clock_mono_ns() + 20000000000LL;
    while (clock_mono_ns() < end) {
        if (wf_status_get(m, name, s) == 0 && (s->state == WF_EXITED || s->state == WF_FAILED))
            return true;
        sleep_ms(5);
    }
    return false;
}

static void writeback_http_posts_the_body_and_returns_the_response_body_run(pysrv *pp);
TEST(writeback_http_posts_the_body_and_returns_the_response_body) {
    pysrv p;
    CHECK(pysrv_start(&p));
    writeback_http_posts_the_body_and_returns_the_response_body_run(&p);
    pysrv_stop(&p);
}

static void writeback_http_posts_the_body_and_returns_the_response_body_run(pysrv *pp) {
    pysrv p = *pp;
    tenv t;
    wf_manager *m = mgr_http(&t, "127.0.0.1");
    CHECK(m);
    char url[128];
    wf_status s;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/alerts", p.port);
    CHECK(run_http(m, "post", url, "{\\\"level\\\":\\\"critical\\\",\\\"value\\\":105.3}", 1, &s));
    CHECK_MSG(s.state == WF_EXITED, "%s", s.last_error);
    CHECK(pysrv_log_has(&p, "POST /alerts application/json {\"level\":\"critical\",\"value\":105.3}\n"));
    CHECK_EQ_INT(t.frames, 1);
    CHECK_EQ_STR(t.frame_text[0], "got POST 34");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/config", p.port);
    CHECK(run_http(m, "get", url, "", 0, &s));
    CHECK_MSG(s.state == WF_EXITED, "%s", s.last_error);
    CHECK_EQ_STR(t.frame_text[1], "got GET 0");
    CHECK(run_http(m, "put", url, "v=1", 2, &s));
    CHECK_EQ_STR(t.frame_text[2], "got PUT 3");
    CHECK(pysrv_log_has(&p, "PUT /config text/plain; charset=utf-8 v=1\n"));
    CHECK(run_http(m, "del", url, "", 3, &s));
    CHECK_EQ_STR(t.frame_text[3], "got DELETE 0");
    /* A 2xx with an empty body and a 500 both give 0 (no body / failure). */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/empty", p.port);
    CHECK(run_http(m, "empty", url, "", 0, &s));
    CHECK_EQ_STR(s.last_error, "exited: call returned 1");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/fail", p.port);
    CHECK(run_http(m, "fail", url, "", 0, &s));
    CHECK_EQ_STR(s.last_error, "exited: call returned 1");
    CHECK(wf_log_has(m, "fail", "status 500"));
    wf_manager_free(m);
    tenv_destroy(&t);
}

static void writeback_http_refuses_loopback_unless_allowed_and_unknown_methods_run(pysrv *pp);
TEST(writeback_http_refuses_loopback_unless_allowed_and_unknown_methods) {
    pysrv p;
    CHECK(pysrv_start(&p));
    writeback_http_refuses_loopback_unless_allowed_and_unknown_methods_run(&p);
    pysrv_stop(&p);
}

static void writeback_http_refuses_loopback_unless_allowed_and_unknown_methods_run(pysrv *pp) {
    pysrv p = *pp;
    tenv t;
    wf_manager *m = mgr_http(&t, ""); /* production default: public addresses only */
    CHECK(m);
    char url[128];
    wf_status s;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/alerts", p.port);
    CHECK(run_http(m, "deny", url, "x", 1, &s));
    CHECK_EQ_STR(s.last_error, "exited: call returned 1");
    CHECK(wf_log_has(m, "deny", "address 127.0.0.1 is not allowed"));
    snprintf(url, sizeof(url), "http://localhost:%d/alerts", p.port);
    CHECK(run_http(m, "deny2", url, "x", 1, &s));
    CHECK_EQ_STR(s.last_error, "exited: call returned 1");
    CHECK(run_http(m, "method", url, "x", 4, &s));
    CHECK(wf_log_has(m, "method", "method 4 is not 0-3"));
    snprintf(url, sizeof(url), "file:///etc/passwd");
    CHECK(run_http(m, "file", url, "", 0, &s));
    CHECK_EQ_STR(s.last_error, "exited: call returned 1");
    CHECK(!pysrv_log_has(&p, "/alerts"));
    wf_manager_free(m);
    tenv_destroy(&t);
}

static void writeback_http_does_not_follow_redirects_caps_the_body_and_times_out_run(pysrv *pp);
TEST(writeback_http_does_not_follow_redirects_caps_the_body_and_times_out) {
    pysrv p;
    CHECK(pysrv_start(&p));
    writeback_http_does_not_follow_redirects_caps_the_body_and_times_out_run(&p);
    pysrv_stop(&p);
}

static void writeback_http_does_not_follow_redirects_caps_the_body_and_times_out_run(pysrv *pp) {
    pysrv p = *pp;
    tenv t;
    timeout_ms = 500;
    wf_manager *m = mgr_http(&t, "127.0.0.0/8");
    timeout_ms = 5000;
    CHECK(m);
    char url[128];
    wf_status s;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/redirect", p.port);
    CHECK(run_http(m, "redir", url, "", 0, &s));
    CHECK_EQ_STR(s.last_error, "exited: call returned 1");
    CHECK(wf_log_has(m, "redir", "status 302"));
    CHECK(!pysrv_log_has(&p, "GET /config"));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/big", p.port);
    CHECK(run_http(m, "big", url, "", 0, &s));
    CHECK_EQ_STR(s.last_error, "exited: call returned 1");
    CHECK(wf_log_has(m, "big", "response body over"));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/slow", p.port);
    int64_t t0 = clock_mono_ns();
    CHECK(run_http(m, "slow", url, "", 0, &s));
    int64_t ms = (clock_mono_ns() - t0) / 1000000;
    CHECK_EQ_STR(s.last_error, "exited: call returned 1");
    CHECK_MSG(ms < 5000, "took %lld ms with a 500 ms timeout (the server answers after 10 s)", (long long)ms);
    CHECK(wf_log_has(m, "slow", "imed out"));
    wf_manager_free(m);
    tenv_destroy(&t);
}
