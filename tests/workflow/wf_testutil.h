/* wf_testutil.h - helpers for the workflow tests: WAT -> wasm with wat2wasm (wabt,
 * from install-deps), a recording wf_env (WebSocket frames and written points are
 * kept for the test to check; live events come from a small queue the test fills),
 * and waiting for a workflow's state. Static inline so each test file is one
 * executable. Threads: the env callbacks run on workflow threads (mutex). */
#ifndef SL_WF_TESTUTIL_H
#define SL_WF_TESTUTIL_H

#include "test.h"

#include "base/clock.h"
#include "base/serieskey.h"
#include "workflow/workflow.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Compiles WAT text to wasm bytes (malloc'd into *out). 0 or -1. */
static inline int wat_compile(const char *wat, uint8_t **out, size_t *n) {
    char dir[256];
    char in[300];
    char outp[300];
    char cmd[800];
    test_tmpdir(dir);
    snprintf(in, sizeof(in), "%s/m.wat", dir);
    snprintf(outp, sizeof(outp), "%s/m.wasm", dir);
    FILE *f = fopen(in, "w");
    if (!f) return -1;
    fputs(wat, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "wat2wasm --enable-all '%s' -o '%s'", in, outp);
    if (system(cmd) != 0) return -1;
    f = fopen(outp, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    *out = malloc((size_t)len + 1);
    *n = fread(*out, 1, (size_t)len, f);
    fclose(f);
    test_rmrf(dir);
    return 0;
}

/* Every import the tests use, a bump allocator, and $reg (addr, data, len) which
 * writes a Region. Module text continues after this prefix; close with ")". */
#define WAT_PRELUDE                                                                             \
    "(module\n"                                                                                 \
    " (import \"env\" \"u_query_live\" (func $query_live (param i32) (result i64)))\n"          \
    " (import \"env\" \"u_query_history\" (func $query_history (param i32) (result f64)))\n"    \
    " (import \"env\" \"u_poll_handle\" (func $poll (param i64) (result i32)))\n"               \
    " (import \"env\" \"u_free_handle\" (func $free_handle (param i64) (result i32)))\n"        \
    " (import \"env\" \"u_write_event\" (func $write_event (param i32 i32 i32) (result i32)))\n" \
    " (import \"env\" \"u_writeback_ws\" (func $ws (param i64 i32) (result i32)))\n"            \
    " (import \"env\" \"u_writeback_http\" (func $http (param i32 i32 i32) (result i32)))\n"    \
    " (memory (export \"memory\") 2 64)\n"                                                      \
    " (global $bump (mut i32) (i32.const 32768))\n"                                             \
    " (func (export \"allocate\") (param $n i32) (result i32) (local $p i32)\n"                 \
    "  (local.set $p (global.get $bump))\n"                                                     \
    "  (global.set $bump (i32.add (global.get $bump)\n"                                         \
    "   (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8))))\n"                    \
    "  (local.get $p))\n"                                                                       \
    " (func (export \"deallocate\") (param i32))\n"                                             \
    " (func $reg (param $r i32) (param $d i32) (param $n i32)\n"                                \
    "  (i32.store (local.get $r) (local.get $d))\n"                                             \
    "  (i32.store offset=4 (local.get $r) (local.get $n))\n"                                    \
    "  (i32.store offset=8 (local.get $r) (local.get $n)))\n"

#define TENV_FRAMES_MAX 64

/* A recording environment. ws_send: conn 998 has a full send queue, 999 is closed,
 * others receive. point_write keeps the last batch's first point. Live: handles
 * 1.. registered by text; events queued by tenv_push_event are polled in order. */
typedef struct tenv {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    uint32_t frames;                      /* frames received */
    uint64_t frame_conn[TENV_FRAMES_MAX];
    char frame_text[TENV_FRAMES_MAX][512];
    uint32_t points;                      /* batches written */
    int64_t point_ts;
    double point_value;
    char point_key[256];                  /* human form "name,tag,..." */
    uint32_t registered;                  /* live_register calls that succeeded */
    uint32_t unregistered;
    char query_text[128];
    char events[16][256];                 /* queued events */
    uint32_t event_head;
    uint32_t event_tail;
} tenv;

static inline int tenv_ws_send(void *arg, uint64_t conn, const uint8_t *p, size_t n) {
    tenv *t = arg;
    if (conn == 999) return SL_ENOTFOUND;
    if (conn == 998) return SL_ELIMIT;
    pthread_mutex_lock(&t->mu);
    if (t->frames < TENV_FRAMES_MAX) {
        t->frame_conn[t->frames] = conn;
        snprintf(t->frame_text[t->frames], sizeof(t->frame_text[0]), "%.*s", (int)n, (const char *)p);
    }
    t->frames++;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->mu);
    return 0;
}

static inline int tenv_point_write(void *arg, point_batch *b) {
    tenv *t = arg;
    buf human;
    buf_init(&human, MEM_MISC, 0);
    uint32_t klen = 0;
    const uint8_t *k = point_batch_key(b, 0, &klen);
    serieskey_format(&human, k, klen);
    pthread_mutex_lock(&t->mu);
    t->points++;
    t->point_ts = b->ts_ns[0];
    t->point_value = b->value[0];
    snprintf(t->point_key, sizeof(t->point_key), "%s", buf_cstr(&human));
    pthread_mutex_unlock(&t->mu);
    buf_free(&human);
    point_batch_reset(b);
    return 0;
}

static inline int tenv_live_register(void *arg, const char *text, size_t n, uint64_t *h, sl_diag *d) {
    tenv *t = arg;
    if (n == 0 || text[0] != 'A') return sl_diag_set(d, SL_EPARSE, 1, "expected an aggregate at column 1");
    pthread_mutex_lock(&t->mu);
    *h = ++t->registered;
    snprintf(t->query_text, sizeof(t->query_text), "%.*s", (int)n, text);
    pthread_mutex_unlock(&t->mu);
    return 0;
}

static inline int tenv_live_unregister(void *arg, uint64_t h) {
    tenv *t = arg;
    pthread_mutex_lock(&t->mu);
    t->unregistered++;
    pthread_mutex_unlock(&t->mu);
    return 0;
}

static inline int tenv_live_poll(void *arg, uint64_t h, uint32_t timeout_ms, buf *out) {
    tenv *t = arg;
    pthread_mutex_lock(&t->mu);
    if (t->event_head == t->event_tail && timeout_ms > 0) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)timeout_ms * 1000000;
        until.tv_sec += until.tv_nsec / 1000000000;
        until.tv_nsec %= 1000000000;
        pthread_cond_timedwait(&t->cond, &t->mu, &until);
    }
    int rc = 0;
    if (t->event_head != t->event_tail) {
        buf_puts(out, t->events[t->event_head++ % 16]);
        rc = 1;
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

static inline int tenv_history(void *arg, const char *text, size_t n, double *v, sl_diag *d) {
    if (n >= 3 && memcmp(text, "AVG", 3) == 0) {
        *v = 42.5;
        return 0;
    }
    return sl_diag_set(d, SL_EPARSE, 1, "unknown aggregate");
}

static inline void tenv_push_event(tenv *t, const char *json) {
    pthread_mutex_lock(&t->mu);
    snprintf(t->events[t->event_tail++ % 16], sizeof(t->events[0]), "%s", json);
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->mu);
}

static inline void tenv_init(tenv *t, wf_env *env) {
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cond, NULL);
    memset(env, 0, sizeof(*env));
    env->arg = t;
    env->ws_send = tenv_ws_send;
    env->point_write = tenv_point_write;
    env->live_register = tenv_live_register;
    env->live_unregister = tenv_live_unregister;
    env->live_poll = tenv_live_poll;
    env->history = tenv_history;
}

static inline void tenv_destroy(tenv *t) {
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->mu);
}

static inline void sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Waits up to timeout_ms until at least n live queries have been registered: a
 * guest's u_query_live runs on its own thread, later than wf_deploy returns, and
 * much later on a loaded machine. True if they were. */
static inline bool tenv_wait_registered(tenv *t, uint32_t n, int timeout_ms) {
    int64_t end = clock_mono_ns() + (int64_t)timeout_ms * 1000000;
    pthread_mutex_lock(&t->mu);
    while (t->registered < n && clock_mono_ns() < end) {
        pthread_mutex_unlock(&t->mu);
        sleep_ms(5);
        pthread_mutex_lock(&t->mu);
    }
    bool ok = t->registered >= n;
    pthread_mutex_unlock(&t->mu);
    return ok;
}

/* Waits up to timeout_ms until name leaves WF_RUNNING (or reaches want when want
 * is not WF_RUNNING). Fills s. True if it did. */
static inline bool wf_wait_state(wf_manager *m, const char *name, wf_state want, int timeout_ms,
                                 wf_status *s) {
    int64_t end = clock_mono_ns() + (int64_t)timeout_ms * 1000000;
    while (clock_mono_ns() < end) {
        if (wf_status_get(m, name, s) == 0 && s->state == want) return true;
        sleep_ms(5);
    }
    return false;
}

/* Deploys WAT text as name; returns wf_deploy's status, d filled. */
static inline int wf_deploy_wat(wf_manager *m, const char *name, const char *wat, sl_diag *d) {
    uint8_t *bytes = NULL;
    size_t n = 0;
    if (wat_compile(wat, &bytes, &n) < 0) return sl_diag_set(d, -EINVAL, 0, "wat2wasm failed");
    int rc = wf_deploy(m, name, bytes, n, d);
    free(bytes);
    return rc;
}

/* True if the workflow's log contains needle. */
static inline bool wf_log_has(wf_manager *m, const char *name, const char *needle) {
    buf b;
    buf_init(&b, MEM_MISC, 0);
    bool found = wf_logs(m, name, &b) == 0 && strstr(buf_cstr(&b), needle) != NULL;
    buf_free(&b);
    return found;
}

#endif
