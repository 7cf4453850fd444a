/* e2e_util.h - helpers of the end-to-end workflow tests: start and stop the real
 * `slung serve` ($SLUNG_BIN) on 127.0.0.1 at a free port with its data in a temp dir,
 * HTTP requests to it (libcurl), the seed's Python producer (e2e_producer.py), and the
 * SDK examples (sdk/build-examples.sh into $SLUNG_BUILD_DIR/sdk-examples; the ctest
 * fixture workflow/sdk_examples builds them first, and they are built here if absent).
 * Static functions: each e2e_*_test.c is one executable. */
#ifndef SL_E2E_UTIL_H
#define SL_E2E_UTIL_H

#include "wf_testutil.h"

#include "base/common.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct srv {
    pid_t pid;
    int port;
    char dir[256];
    char log[300];
} srv;

static inline int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        if (fd >= 0) close(fd);
        return 0;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static inline bool port_open(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

/* Starts slung serve with extra flags (NULL-terminated). */
static inline bool srv_start(srv *s, const char *const *extra) {
    const char *bin = getenv("SLUNG_BIN");
    if (!bin) return false;
    memset(s, 0, sizeof(*s));
    test_tmpdir(s->dir);
    snprintf(s->log, sizeof(s->log), "%s/server.log", s->dir);
    s->port = free_port();
    char port[16];
    char data[300];
    snprintf(port, sizeof(port), "%d", s->port);
    snprintf(data, sizeof(data), "%s/data", s->dir);
    const char *argv[32] = {bin, "serve", "--listen", "127.0.0.1", "--port", port, "--data-dir", data};
    int argc = 8;
    for (int i = 0; extra && extra[i] && argc < 31; i++) argv[argc++] = extra[i];
    argv[argc] = NULL;
    s->pid = fork();
    if (s->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a test that fails or crashes leaves no server */
        FILE *f = freopen(s->log, "w", stderr);
        f = freopen("/dev/null", "w", stdout);
        (void)f;
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        if (port_open(s->port)) return true;
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            return false;
        }
        sleep_ms(50);
    }
    return false;
}

/* SIGTERM and wait (SIGKILL after 20 s). Returns the exit status, -1 if killed. */
static inline int srv_stop(srv *s) {
    int status = -1;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        for (int i = 0; i < 400; i++) {
            if (waitpid(s->pid, &status, WNOHANG) == s->pid) break;
            sleep_ms(50);
            if (i == 399) {
                kill(s->pid, SIGKILL);
                waitpid(s->pid, &status, 0);
                status = -1;
            }
        }
    }
    s->pid = 0;
    return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static inline void srv_dump_log(const srv *s) {
    FILE *f = fopen(s->log, "r");
    if (!f) return;
    char line[512];
    fprintf(stderr, "---- server log ----\n");
    while (fgets(line, sizeof(line), f)) fputs(line, stderr);
    fclose(f);
}

static inline size_t on_body(char *p, size_t size, size_t n, void *arg) {
    buf_append(arg, p, size * n);
    return size * n;
}

/* One request to the server; returns the HTTP status (0 if none), body in out. */
static inline long http_req(int port, const char *method, const char *path, const void *body, size_t n,
                     buf *out) {
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    CURL *h = curl_easy_init();
    long status = 0;
    buf_reset(out);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    }
    if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    buf_cstr(out);
    return status;
}

/* The loopback port the e2e HTTP server listens on; compiled into the SDK's e2e_*
 * examples as their base URL (one build serves every test, no rebuild per run). */
#define E2E_HTTP_PORT 47391
#define E2E_BASE_URL "http://127.0.0.1:47391"

/* The SDK examples' directory in out; builds them if alert_system.wasm is absent. */
static inline bool examples_build(char out[300]) {
    const char *bd = getenv("SLUNG_BUILD_DIR");
    snprintf(out, 300, "%s/sdk-examples", bd ? bd : "/tmp");
    char probe[400];
    snprintf(probe, sizeof(probe), "%s/e2e_post_alert.wasm", out);
    if (access(probe, R_OK) == 0) return true;
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "SLUNG_EXAMPLE_BASE_URL='%s' '%s/sdk/build-examples.sh' '%s' >'%s.log' 2>&1",
             E2E_BASE_URL, test_source_dir(), out, out);
    int rc = system(cmd);
    if (rc != 0) fprintf(stderr, "sdk/build-examples.sh failed: see %s.log\n", out);
    return rc == 0;
}

/* Runs e2e_producer.py with args; its first stdout line in line. Exit status. */
static inline int producer(const char *args, char *line, size_t cap) {
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s/tests/workflow/e2e_producer.py' %s",
             test_source_dir(), args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    line[0] = 0;
    if (!fgets(line, (int)cap, p)) line[0] = 0;
    char rest[256];
    while (fgets(rest, sizeof(rest), p)) {
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline bool deploy_file(int port, const char *name, const char *path, buf *out, long *status) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    buf mod;
    buf_init(&mod, MEM_MISC, 0);
    uint8_t chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) buf_append(&mod, chunk, n);
    fclose(f);
    char p[128];
    snprintf(p, sizeof(p), "/workflows/%s", name);
    *status = http_req(port, "POST", p, mod.p, mod.len, out);
    buf_free(&mod);
    return true;
}

#endif
