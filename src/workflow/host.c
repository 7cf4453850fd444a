/* host.c - the seven `env` host functions of shared/spec/workflows.md, with
 * exactly the spec's wasm types:
 *   u_query_live     (i32 region) -> i64          handle >= 1, 0 on failure
 *   u_query_history  (i32 region) -> f64          aggregate, 0.0 on failure or empty
 *   u_poll_handle    (i64 handle) -> i32          Region with the event JSON, or 0
 *   u_free_handle    (i64 handle) -> i32          0 ok, 1 unknown handle
 *   u_write_event    (i32 ts, i32 value, i32 tags) -> i32   0 ok, non-zero error
 *   u_writeback_ws   (i64 producer, i32 data) -> i32        0 sent, non-zero error
 *   u_writeback_http (i32 url, i32 body, i32 method) -> i32 Region of the body, or 0
 * Invariants: (1) guest input (Regions, handles, text) never faults the host: a bad
 *   one is an error result and a line in the workflow's log; (2) a workflow can
 *   only poll or free handles it registered itself (r->handles); (3) a host
 *   function traps the guest only when the guest's own allocate traps.
 * Non-zero error results of u_writeback_ws: 1 unknown or closed connection, 2 the
 * connection's send queue is full, 3 bad Region or not UTF-8, 4 over the
 * writeback rate. u_write_event: 1 bad Region, 2 does not parse, 3 write refused.
 * Threads: the workflow's thread. See region.c, writeback.c, wasi.c. */
#include "workflow/workflow_internal.h"

#include "base/common.h"
#include "base/serieskey.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static wf_run *run_of(void *env) {
    return env;
}

static void handle_forget(wf_run *r, uint32_t i) {
    SL_ASSERT(i < r->handle_count);
    r->handles[i] = r->handles[--r->handle_count];
}

static int handle_find(const wf_run *r, uint64_t h) {
    for (uint32_t i = 0; i < r->handle_count; i++)
        if (r->handles[i] == h) return (int)i;
    return -1;
}

void host__release_handles(wf_run *r) {
    const wf_env *env = wf__env(r->w);
    for (uint32_t i = 0; i < r->handle_count; i++)
        if (env->live_unregister) env->live_unregister(env->arg, r->handles[i]);
    r->handle_count = 0;
}

/* ---- u_query_live ---- */

static const char *host_query_live(wasm_instance *caller, void *env_, const wasm_val *args,
                                   wasm_val *results) {
    wf_run *r = run_of(env_);
    const wf_env *env = wf__env(r->w);
    results[0].type = WASM_I64;
    results[0].of.i64 = 0;
    wf__host_enter(r);
    buf text;
    buf_init(&text, MEM_WORKFLOW, 0);
    if (region__read(r, caller, args[0].of.i32, "u_query_live", &text) < 0) goto done;
    if (r->handle_count == WF_HANDLES_MAX) {
        wflog__host(&r->w->log, "u_query_live: this workflow already holds %u handles",
                    WF_HANDLES_MAX);
        goto done;
    }
    if (!env->live_register) goto done;
    uint64_t h = 0;
    sl_diag d;
    sl_diag_clear(&d);
    int rc = env->live_register(env->arg, (const char *)text.p, text.len, &h, &d);
    if (rc < 0) {
        wflog__host(&r->w->log, "u_query_live \"%.*s\": %s", (int)SL_MIN(text.len, 200u),
                    (const char *)text.p, d.msg[0] ? d.msg : sl_strerror(rc));
        goto done;
    }
    SL_ASSERT(h >= 1);
    r->handles[r->handle_count++] = h;
    results[0].of.i64 = h;
done:
    buf_free(&text);
    wf__host_leave(r);
    return NULL;
}

/* ---- u_query_history ---- */

static const char *host_query_history(wasm_instance *caller, void *env_, const wasm_val *args,
                                      wasm_val *results) {
    wf_run *r = run_of(env_);
    const wf_env *env = wf__env(r->w);
    double v = 0.0;
    wf__host_enter(r);
    buf text;
    buf_init(&text, MEM_WORKFLOW, 0);
    if (region__read(r, caller, args[0].of.i32, "u_query_history", &text) < 0) goto done;
    if (!env->history) goto done;
    sl_diag d;
    sl_diag_clear(&d);
    double got = NAN;
    int rc = env->history(env->arg, (const char *)text.p, text.len, &got, &d);
    if (rc < 0) {
        wflog__host(&r->w->log, "u_query_history \"%.*s\": %s", (int)SL_MIN(text.len, 200u),
                    (const char *)text.p, d.msg[0] ? d.msg : sl_strerror(rc));
        goto done;
    }
    if (!isnan(got)) v = got; /* spec: an empty aggregate is 0.0 too */
done:
    buf_free(&text);
    results[0].type = WASM_F64;
    memcpy(&results[0].of.f64_bits, &v, sizeof(v));
    wf__host_leave(r);
    return NULL;
}

/* ---- u_poll_handle ---- */

/* A poll that fails at once (unknown handle, registry gone) still takes the bounded
 * wait, so an SDK looping on 0 does not spin a core (spec: no busy spin). */
static void poll_idle(wf_run *r) {
    uint32_t ms = wf__config(r->w)->poll_wait_ms;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    if (!atomic_load(&r->w->stop)) nanosleep(&ts, NULL);
}

static const char *host_poll_handle(wasm_instance *caller, void *env_, const wasm_val *args,
                                    wasm_val *results) {
    wf_run *r = run_of(env_);
    const wf_env *env = wf__env(r->w);
    const char *trap = NULL;
    uint64_t h = args[0].of.i64;
    results[0].type = WASM_I32;
    results[0].of.i32 = 0;
    wf__host_enter(r);
    /* A workflow being stopped gets 0 (spec). */
    if (atomic_load(&r->w->stop) || !env->live_poll) goto done;
    if (handle_find(r, h) < 0) {
        wflog__host(&r->w->log, "u_poll_handle: unknown handle %llu", (unsigned long long)h);
        poll_idle(r);
        goto done;
    }
    buf_reset(&r->scratch);
    int rc = env->live_poll(env->arg, h, wf__config(r->w)->poll_wait_ms, &r->scratch);
    if (rc < 0) poll_idle(r);
    if (rc <= 0 || buf_failed(&r->scratch)) goto done;
    uint32_t addr = 0;
    trap = region__give(r, caller, r->scratch.p, r->scratch.len, &addr);
    if (!trap && addr) {
        atomic_fetch_add(&r->w->events_handled, 1);
        results[0].of.i32 = addr;
    }
done:
    wf__host_leave(r);
    return trap;
}

/* ---- u_free_handle ---- */

static const char *host_free_handle(wasm_instance *caller, void *env_, const wasm_val *args,
                                    wasm_val *results) {
    wf_run *r = run_of(env_);
    const wf_env *env = wf__env(r->w);
    uint64_t h = args[0].of.i64;
    results[0].type = WASM_I32;
    results[0].of.i32 = 1;
    wf__host_enter(r);
    int i = handle_find(r, h);
    if (i >= 0) {
        if (env->live_unregister) env->live_unregister(env->arg, h);
        handle_forget(r, (uint32_t)i);
        results[0].of.i32 = 0;
    }
    wf__host_leave(r);
    return NULL;
}

/* ---- u_write_event ---- */

/* Trims ASCII spaces and tabs at both ends of [*p, *p + *n). */
static void trim(const char **p, size_t *n) {
    while (*n > 0 && ((*p)[0] == ' ' || (*p)[0] == '\t')) {
        (*p)++;
        (*n)--;
    }
    while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
        (*n)--;
}

/* Decimal integer, optional sign, nothing else. */
static int parse_i64(const char *p, size_t n, int64_t *out) {
    char tmp[32];
    trim(&p, &n);
    if (n == 0 || n >= sizeof(tmp)) return SL_EPARSE;
    memcpy(tmp, p, n);
    tmp[n] = 0;
    for (size_t i = (tmp[0] == '-' || tmp[0] == '+') ? 1 : 0; i < n; i++)
        if (tmp[i] < '0' || tmp[i] > '9') return SL_EPARSE;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno != 0 || end != tmp + n) return SL_EPARSE;
    *out = v;
    return 0;
}

/* Decimal float (strtod syntax without hex, inf or nan): a finite value. */
static int parse_f64(const char *p, size_t n, double *out) {
    char tmp[64];
    trim(&p, &n);
    if (n == 0 || n >= sizeof(tmp)) return SL_EPARSE;
    memcpy(tmp, p, n);
    tmp[n] = 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789+-.eE", tmp[i])) return SL_EPARSE;
    char *end = NULL;
    errno = 0;
    double v = strtod(tmp, &end);
    if (end != tmp + n || !isfinite(v)) return SL_EPARSE;
    *out = v;
    return 0;
}

/* "series=NAME, a=1 ,b=2": NAME (default "temp") and the other non-empty tokens. */
static int parse_tags(const char *p, size_t n, sk_view *name, sk_view *tags, uint32_t *tag_count) {
    static const char series_prefix[] = "series=";
    name->p = (const uint8_t *)"temp";
    name->n = 4;
    *tag_count = 0;
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && p[j] != ',')
            j++;
        const char *tok = p + i;
        size_t len = j - i;
        trim(&tok, &len);
        if (len >= sizeof(series_prefix) - 1 &&
            memcmp(tok, series_prefix, sizeof(series_prefix) - 1) == 0) {
            const char *s = tok + sizeof(series_prefix) - 1;
            size_t sn = len - (sizeof(series_prefix) - 1);
            trim(&s, &sn);
            if (sn == 0 || sn > UINT16_MAX) return SL_EPARSE;
            name->p = (const uint8_t *)s;
            name->n = (uint32_t)sn;
        } else if (len > 0) {
            if (*tag_count == WF_EVENT_TAGS_MAX || len > UINT16_MAX) return SL_ELIMIT;
            tags[*tag_count].p = (const uint8_t *)tok;
            tags[*tag_count].n = (uint32_t)len;
            (*tag_count)++;
        }
        i = j + 1;
    }
    return 0;
}

int host__event_parse(const char *ts_text, size_t ts_len, const char *val_text, size_t val_len,
                      const char *tag_text, size_t tag_len, int64_t *ts, double *v, buf *key,
                      sl_diag *d) {
    /* An empty buf has no bytes at all: never do arithmetic on a null pointer. */
    if (!ts_text) ts_text = "";
    if (!val_text) val_text = "";
    if (!tag_text) tag_text = "";
    if (parse_i64(ts_text, ts_len, ts) < 0)
        return sl_diag_set(d, SL_EPARSE, 0, "timestamp \"%.*s\" is not a decimal integer",
                           (int)SL_MIN(ts_len, 40u), ts_text);
    if (parse_f64(val_text, val_len, v) < 0)
        return sl_diag_set(d, SL_EPARSE, 0, "value \"%.*s\" is not a finite decimal number",
                           (int)SL_MIN(val_len, 40u), val_text);
    sk_view name;
    sk_view tags[WF_EVENT_TAGS_MAX];
    sk_view scratch[WF_EVENT_TAGS_MAX];
    uint32_t tag_count = 0;
    if (parse_tags(tag_text, tag_len, &name, tags, &tag_count) < 0 ||
        serieskey_build(key, name, tags, tag_count, scratch) < 0 || buf_failed(key))
        return sl_diag_set(d, SL_EPARSE, 0, "tags \"%.*s\" are invalid (at most %u tags)",
                           (int)SL_MIN(tag_len, 80u), tag_text, WF_EVENT_TAGS_MAX);
    return 0;
}

static const char *host_write_event(wasm_instance *caller, void *env_, const wasm_val *args,
                                    wasm_val *results) {
    wf_run *r = run_of(env_);
    const wf_env *env = wf__env(r->w);
    uint32_t result = 1;
    wf__host_enter(r);
    buf ts_text;
    buf val_text;
    buf tag_text;
    buf key;
    point_batch b;
    buf_init(&ts_text, MEM_WORKFLOW, 0);
    buf_init(&val_text, MEM_WORKFLOW, 0);
    buf_init(&tag_text, MEM_WORKFLOW, 0);
    buf_init(&key, MEM_WORKFLOW, 0);
    point_batch_init(&b);
    if (region__read(r, caller, args[0].of.i32, "u_write_event ts", &ts_text) < 0) goto done;
    if (region__read(r, caller, args[1].of.i32, "u_write_event value", &val_text) < 0) goto done;
    if (region__read(r, caller, args[2].of.i32, "u_write_event tags", &tag_text) < 0) goto done;
    result = 2;
    int64_t ts = 0;
    double v = 0;
    sl_diag d;
    if (host__event_parse((const char *)ts_text.p, ts_text.len, (const char *)val_text.p,
                          val_text.len, (const char *)tag_text.p, tag_text.len, &ts, &v, &key,
                          &d) < 0) {
        wflog__host(&r->w->log, "u_write_event: %s", d.msg);
        goto done;
    }
    result = 3;
    if (!env->point_write) goto done;
    if (point_batch_add(&b, ts, v, key.p, (uint32_t)key.len) < 0) goto done;
    b.producer_id = 0; /* spec: points from write_event have producer 0 */
    int rc = env->point_write(env->arg, &b);
    if (rc < 0) {
        wflog__host(&r->w->log, "u_write_event: write refused: %s", sl_strerror(rc));
        goto done;
    }
    result = 0;
done:
    point_batch_free(&b);
    buf_free(&key);
    buf_free(&tag_text);
    buf_free(&val_text);
    buf_free(&ts_text);
    results[0].type = WASM_I32;
    results[0].of.i32 = result;
    wf__host_leave(r);
    return NULL;
}

/* ---- u_writeback_ws ---- */

/* RFC 3629 well-formed UTF-8 (a text frame must be, RFC 6455 §5.6). */
static bool utf8_valid(const uint8_t *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i <= k) return false;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xc0) != 0x80) return false;
            cp = cp << 6 | (p[i + j] & 0x3f);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000))
            return false;
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += k + 1;
    }
    return true;
}

static const char *host_writeback_ws(wasm_instance *caller, void *env_, const wasm_val *args,
                                     wasm_val *results) {
    wf_run *r = run_of(env_);
    const wf_env *env = wf__env(r->w);
    uint64_t conn = args[0].of.i64;
    uint32_t result = 4;
    wf__host_enter(r);
    buf data;
    buf_init(&data, MEM_WORKFLOW, 0);
    if (!wb__rate_take(r)) goto done;
    result = 3;
    if (region__read(r, caller, args[1].of.i32, "u_writeback_ws", &data) < 0) goto done;
    if (!utf8_valid(data.p, data.len)) {
        wflog__host(&r->w->log, "u_writeback_ws: data is not UTF-8, not sent as a text frame");
        goto done;
    }
    result = 1;
    if (!env->ws_send) goto done;
    int rc = env->ws_send(env->arg, conn, data.p, data.len);
    if (rc == 0) {
        result = 0;
    } else if (rc == SL_ELIMIT) {
        result = 2;
        wflog__host(&r->w->log, "u_writeback_ws: connection %llu is not reading (send queue full)",
                    (unsigned long long)conn);
    }
done:
    buf_free(&data);
    results[0].type = WASM_I32;
    results[0].of.i32 = result;
    wf__host_leave(r);
    return NULL;
}

/* ---- u_writeback_http ---- */

static const char *host_writeback_http(wasm_instance *caller, void *env_, const wasm_val *args,
                                       wasm_val *results) {
    wf_run *r = run_of(env_);
    const char *trap = NULL;
    uint32_t method = args[2].of.i32;
    results[0].type = WASM_I32;
    results[0].of.i32 = 0;
    wf__host_enter(r);
    buf url;
    buf body;
    buf_init(&url, MEM_WORKFLOW, 0);
    buf_init(&body, MEM_WORKFLOW, 0);
    if (!wb__rate_take(r)) goto done;
    if (method > 3) {
        wflog__host(&r->w->log, "u_writeback_http: method %u is not 0-3", method);
        goto done;
    }
    if (region__read(r, caller, args[0].of.i32, "u_writeback_http url", &url) < 0) goto done;
    if (region__read(r, caller, args[1].of.i32, "u_writeback_http body", &body) < 0) goto done;
    buf_reset(&r->scratch);
    if (wb__http(r, (const char *)url.p, url.len, body.p, body.len, method, &r->scratch) < 0)
        goto done;
    if (r->scratch.len == 0) goto done; /* spec: 0 for no body */
    uint32_t addr = 0;
    trap = region__give(r, caller, r->scratch.p, r->scratch.len, &addr);
    if (!trap) results[0].of.i32 = addr;
done:
    buf_free(&body);
    buf_free(&url);
    wf__host_leave(r);
    return trap;
}

#define I32 WASM_I32
#define I64 WASM_I64
#define F64 WASM_F64

static const wf_hostfn host_table[] = {
    {"env", "u_query_live", 1, 1, {I32}, {I64}, host_query_live},
    {"env", "u_query_history", 1, 1, {I32}, {F64}, host_query_history},
    {"env", "u_poll_handle", 1, 1, {I64}, {I32}, host_poll_handle},
    {"env", "u_free_handle", 1, 1, {I64}, {I32}, host_free_handle},
    {"env", "u_write_event", 3, 1, {I32, I32, I32}, {I32}, host_write_event},
    {"env", "u_writeback_ws", 2, 1, {I64, I32}, {I32}, host_writeback_ws},
    {"env", "u_writeback_http", 3, 1, {I32, I32, I32}, {I32}, host_writeback_http},
};

const wf_hostfn *host__lookup(const char *module, const char *name) {
    if (strcmp(module, "wasi_snapshot_preview1") == 0) return wasi__lookup(name);
    if (strcmp(module, "env") != 0) return NULL;
    for (size_t i = 0; i < SL_ARRAY_LEN(host_table); i++)
        if (strcmp(host_table[i].name, name) == 0) return &host_table[i];
    return NULL;
}
