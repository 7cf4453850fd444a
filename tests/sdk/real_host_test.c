/* real_host_test.c - the SDK example modules run in the real host (src/workflow's
 * wf_manager: its host functions, Region handling, WASI, lifecycle), with a wf_env
 * whose live registry, WebSocket sender, point writer and historical query are the
 * test's instruments. Checks that what the SDKs send and expect matches what the host
 * implements; the full server path (network, storage, queries) is the workflow
 * engineer's end-to-end test with the same modules. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "base/batch.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/serieskey.h"
#include "test.h"
#include "workflow/workflow.h"

#ifndef SDK_EXAMPLES_DIR
#error "SDK_EXAMPLES_DIR must name the directory build-examples.sh writes"
#endif

#define QUEUE_MAX 64
#define SENT_MAX 128

typedef struct instruments {
    pthread_mutex_t mu;
    const char *queue[QUEUE_MAX]; /* event JSON handed out by live_poll, in order */
    int queued;
    int polled;
    int registered;               /* live_register calls */
    int unregistered;             /* live_unregister calls */
    char query[128];              /* text of the last live query */
    uint64_t sent_conn[SENT_MAX]; /* ws_send calls */
    char sent[SENT_MAX][128];
    int sent_count;
    char points[8][128]; /* "key ts value" per point written */
    int point_count;
} instruments;

static instruments ins;

static int env_ws_send(void *arg, uint64_t conn, const uint8_t *bytes, size_t len) {
    (void)arg;
    if (conn == 99) return SL_ENOTFOUND; /* a closed connection */
    pthread_mutex_lock(&ins.mu);
    if (ins.sent_count < SENT_MAX) {
        ins.sent_conn[ins.sent_count] = conn;
        snprintf(ins.sent[ins.sent_count], sizeof ins.sent[0], "%.*s", (int)len,
                 (const char *)bytes);
        ins.sent_count++;
    }
    pthread_mutex_unlock(&ins.mu);
    return 0;
}

static int env_point_write(void *arg, point_batch *b) {
    (void)arg;
    pthread_mutex_lock(&ins.mu);
    for (uint32_t i = 0; i < b->count && ins.point_count < 8; i++) {
        uint32_t klen;
        const uint8_t *key = point_batch_key(b, i, &klen);
        buf t;
        buf_init(&t, MEM_MISC, 0);
        serieskey_format(&t, key, klen);
        snprintf(ins.points[ins.point_count++], sizeof ins.points[0], "%s %lld %g", buf_cstr(&t),
                 (long long)b->ts_ns[i], b->value[i]);
        buf_free(&t);
    }
    pthread_mutex_unlock(&ins.mu);
    point_batch_free(b);
    return 0;
}

static int env_live_register(void *arg, const char *text, size_t n, uint64_t *handle, sl_diag *d) {
    (void)arg;
    (void)d;
    pthread_mutex_lock(&ins.mu);
    snprintf(ins.query, sizeof ins.query, "%.*s", (int)n, text);
    *handle = (uint64_t)++ins.registered;
    pthread_mutex_unlock(&ins.mu);
    return 0;
}

static int env_live_unregister(void *arg, uint64_t handle) {
    (void)arg;
    (void)handle;
    pthread_mutex_lock(&ins.mu);
    ins.unregistered++;
    pthread_mutex_unlock(&ins.mu);
    return 0;
}

static int env_live_poll(void *arg, uint64_t handle, uint32_t timeout_ms, buf *out) {
    (void)arg;
    (void)handle;
    pthread_mutex_lock(&ins.mu);
    if (ins.polled < ins.queued) {
        buf_puts(out, ins.queue[ins.polled++]);
        pthread_mutex_unlock(&ins.mu);
        return 1;
    }
    pthread_mutex_unlock(&ins.mu);
    struct timespec ts = {0, (long)(timeout_ms < 5 ? timeout_ms : 5) * 1000000L};
    nanosleep(&ts, NULL);
    return 0;
}

static int env_history(void *arg, const char *text, size_t n, double *value, sl_diag *d) {
    (void)arg;
    (void)text;
    (void)n;
    (void)d;
    *value = 20.0;
    return 0;
}

static wf_manager *start(void) {
    wf_config cfg;
    wf_env env = {
        .arg = NULL,
        .ws_send = env_ws_send,
        .point_write = env_point_write,
        .live_register = env_live_register,
        .live_unregister = env_live_unregister,
        .live_poll = env_live_poll,
        .history = env_history,
    };
    wf_manager *m = NULL;
    pthread_mutex_destroy(&ins.mu);
    memset(&ins, 0, sizeof(ins));
    pthread_mutex_init(&ins.mu, NULL);
    wf_config_defaults(&cfg);
    cfg.restart_backoff_ms = 0; /* a failed run stays failed: the test reads why */
    if (wf_manager_new(&cfg, &env, &m) < 0) return NULL;
    return m;
}

static int deploy(wf_manager *m, const char *name, const char *file, sl_diag *d) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", SDK_EXAMPLES_DIR, file);
    FILE *f = fopen(path, "rb");
    if (!f) return sl_diag_set(d, -ENOENT, 0, "%s missing (sdk/build-examples.sh)", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *bytes = malloc((size_t)len);
    size_t got = bytes ? fread(bytes, 1, (size_t)len, f) : 0;
    fclose(f);
    int rc = got == (size_t)len ? wf_deploy(m, name, bytes, (size_t)len, d) : -EIO;
    free(bytes);
    return rc;
}

static void push(const char *json) {
    pthread_mutex_lock(&ins.mu);
    if (ins.queued < QUEUE_MAX) ins.queue[ins.queued++] = json;
    pthread_mutex_unlock(&ins.mu);
}

/* Waits up to 20 s for pred() (checked under the lock). */
static bool wait_for(bool (*pred)(void)) {
    for (int i = 0; i < 2000; i++) {
        pthread_mutex_lock(&ins.mu);
        bool ok = pred();
        pthread_mutex_unlock(&ins.mu);
        if (ok) return true;
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    return false;
}

static bool four_sent(void) {
    return ins.sent_count >= 4;
}
static bool all_polled(void) {
    return ins.polled == ins.queued;
}

static bool wait_state(wf_manager *m, const char *name, wf_state want, wf_status *st) {
    for (int i = 0; i < 2000; i++) {
        if (wf_status_get(m, name, st) == 0 && st->state == want) return true;
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    return false;
}

#define EV_HIGH                                                                                    \
    "{\"timestamp\":1709481600000000000,\"value\":150.5,\"tags\":[\"sensor=1\"],\"producers\":[3," \
    "7]}"
#define EV_LOW                                                                                     \
    "{\"timestamp\":1709481600000000001,\"value\":50,\"tags\":[\"sensor=1\"],\"producers\":[3]}"
#define EV_CLOSED "{\"timestamp\":5,\"value\":200,\"tags\":[],\"producers\":[99]}"

static void check_alert(const char *file) {
    wf_manager *m = start();
    sl_diag d;
    wf_status st;
    buf log;
    CHECK(m != NULL);
    push(EV_HIGH);
    push(EV_LOW);
    push(EV_HIGH);
    int rc = deploy(m, "alert", file, &d);
    CHECK_MSG(rc == 0, "%s refused: %s", file, d.msg);
    CHECK_MSG(wait_for(four_sent), "%s sent %d messages", file, ins.sent_count);
    CHECK_EQ_STR(ins.query, "AVG:temp:[sensor=1]");
    CHECK_EQ_U64(ins.sent_conn[0], 3);
    CHECK_EQ_U64(ins.sent_conn[1], 7);
    CHECK_EQ_STR(ins.sent[0], "ALERT: threshold exceeded");
    CHECK(wait_for(all_polled));
    CHECK_EQ_INT(wf_status_get(m, "alert", &st), 0);
    CHECK_EQ_INT(st.state, WF_RUNNING);
    buf_init(&log, MEM_MISC, 0);
    wf_logs(m, "alert", &log);
    CHECK_MSG(strstr(buf_cstr(&log), "event timestamp=1709481600000000000 value=150.5") != NULL,
              "log: %s", buf_cstr(&log));

    /* A closed producer makes writeback_ws fail: the example's `?` ends the run with
     * call() = 1, which the host records as a failure with the SDK's message. */
    push(EV_CLOSED);
    CHECK_MSG(wait_state(m, "alert", WF_FAILED, &st), "state %s", wf_state_name(st.state));
    buf_reset(&log);
    wf_logs(m, "alert", &log);
    CHECK_MSG(strstr(buf_cstr(&log), "workflow failed") != NULL, "log: %s", buf_cstr(&log));
    buf_free(&log);
    wf_manager_free(m);
}

TEST(rust_alert_example_runs_in_the_real_host_and_writes_back_to_each_producer) {
    check_alert("alert_system.wasm");
}

TEST(c_alert_example_runs_in_the_real_host_and_writes_back_to_each_producer) {
    check_alert("c_alert_system.wasm");
}

TEST(derive_example_writes_points_through_the_real_host_then_frees_its_handle_and_exits) {
    wf_manager *m = start();
    sl_diag d;
    wf_status st;
    CHECK(m != NULL);
    push("{\"timestamp\":1000,\"value\":21.5,\"tags\":[],\"producers\":[0]}");
    push("{\"timestamp\":2000,\"value\":19,\"tags\":[],\"producers\":[0]}");
    push("{\"timestamp\":3000,\"value\":20.25,\"tags\":[],\"producers\":[0]}");
    int rc = deploy(m, "derive", "e2e_derive.wasm", &d);
    CHECK_MSG(rc == 0, "refused: %s", d.msg);
    CHECK_MSG(wait_state(m, "derive", WF_EXITED, &st), "state %s: %s", wf_state_name(st.state),
              st.last_error);
    CHECK_EQ_INT(ins.point_count, 3);
    CHECK_EQ_STR(ins.points[0], "temp_delta,sensor=1 1000 1.5");
    CHECK_EQ_STR(ins.points[1], "temp_delta,sensor=1 2000 -1");
    CHECK_EQ_STR(ins.points[2], "temp_delta,sensor=1 3000 0.25");
    CHECK_EQ_INT(ins.unregistered, 1);
    wf_manager_free(m);
}

TEST(json_response_examples_run_in_the_real_host) {
    const char *files[] = {"json_response.wasm", "c_json_response.wasm"};
    const char *want[] = {
        "{\"status\":\"high\",\"timestamp\":1709481600000000000,\"value\":150.5}",
        "{\"timestamp\":1709481600000000000,\"value\":150.5,\"status\":\"high\"}"};
    for (int i = 0; i < 2; i++) {
        wf_manager *m = start();
        sl_diag d;
        CHECK(m != NULL);
        push(EV_HIGH);
        push(EV_HIGH);
        int rc = deploy(m, "json", files[i], &d);
        CHECK_MSG(rc == 0, "%s refused: %s", files[i], d.msg);
        CHECK_MSG(wait_for(four_sent), "%s sent %d", files[i], ins.sent_count);
        CHECK_EQ_STR(ins.sent[0], want[i]);
        wf_manager_free(m);
    }
}
