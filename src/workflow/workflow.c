/* workflow.c - the workflow manager: deploy (validate, then start), remove, list,
 * logs; one thread per workflow running its module in a store of its own; the
 * restart policy; the watchdog that interrupts runaway guest code.
 *
 * Lifecycle of one workflow thread (states in workflow.h):
 *   loop: new store (limits: memory_mb, call_depth_max) -> instantiate with the
 *     host functions -> check exports -> call `call` (or WASI `_start`)
 *   outcome exit   (call returned 0, _start returned, proc_exit(0)): state exited
 *   outcome failed (trap, watchdog, limit, non-zero exit): state backoff, wait
 *     backoff ms (first restart_backoff_ms, doubling to WF_RESTART_BACKOFF_MS_MAX;
 *     reset after a run that lasted longer than that), then run again; with
 *     restart_backoff_ms = 0 the state is failed and the thread ends
 *   outcome broken (a missing or mistyped export, a memory over the limit): failed,
 *     no restart (it can never succeed)
 *   stop (remove, redeploy, shutdown): w->stop is set, the running store is
 *     interrupted, the backoff wait is woken, and the thread ends.
 * Every outcome is a line in the workflow's log and its last_error.
 * Invariants: (1) w->store is non-NULL exactly while a run's store exists and is
 *   only freed after being cleared under w->mu, so stop and the watchdog never
 *   interrupt a freed store; (2) deploy and remove are serialised by deploy_mu, so
 *   a name maps to at most one workflow; (3) live handles of a run are released
 *   when the run ends, whatever ended it.
 * Threads: the manager's functions from any thread; each workflow's own thread;
 * the watchdog thread. m->mu guards the list; w->mu the fields marked in
 * workflow_internal.h. Lock order: deploy_mu, then m->mu, then w->mu. */
#include "workflow/workflow_internal.h"

#include "base/clock.h"
#include "base/common.h"
#include "base/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Nice value of workflow threads (Linux per-thread priority): guest code yields the
 * CPU to the network, apply and WAL threads, so a busy workflow slows itself, not
 * ingest. 10 = half-way to the lowest priority. */
#define WF_THREAD_NICE 10

/* How often the watchdog looks at running workflows. */
#define WF_WATCHDOG_TICK_MS 20u

struct wf_manager {
    wf_config cfg;             /* immutable */
    wf_env env;                /* immutable */
    pthread_mutex_t deploy_mu; /* serialises deploy, remove, stop_all */
    pthread_mutex_t mu;        /* guards list and count */
    wf *list[WF_COUNT_MAX];    /* deployed workflows */
    uint32_t count;            /* entries of list in use */
    pthread_t watchdog;        /* the watchdog thread */
    pthread_cond_t wd_cond;    /* wakes the watchdog to exit */
    bool wd_stop;              /* (mu) the watchdog should exit */
};

typedef enum wf_outcome {
    WF_OUT_EXIT = 0, /* finished normally */
    WF_OUT_FAILED,   /* may succeed if restarted */
    WF_OUT_BROKEN,   /* will never succeed */
    WF_OUT_STOPPED,  /* asked to stop */
} wf_outcome;

void wf_config_defaults(wf_config *c) {
    memset(c, 0, sizeof(*c));
    c->memory_mb = 64;
    c->call_depth_max = 10000;
    c->writebacks_per_s = 10000;
    c->http_timeout_ms = 5000;
    c->http_follow_redirects = false;
    c->restart_backoff_ms = 1000;
    c->log_bytes_max = 1u << 20;
    c->hostless_ms_max = WF_HOSTLESS_MS_DEFAULT;
    c->poll_wait_ms = WF_POLL_WAIT_MS_DEFAULT;
}

const char *wf_state_name(wf_state s) {
    switch (s) {
    case WF_RUNNING:
        return "running";
    case WF_BACKOFF:
        return "backoff";
    case WF_EXITED:
        return "exited";
    case WF_FAILED:
        return "failed";
    }
    return "unknown";
}

const wf_config *wf__config(const wf *w) {
    return &w->m->cfg;
}
const wf_env *wf__env(const wf *w) {
    return &w->m->env;
}

void wf__host_enter(wf_run *r) {
    atomic_store(&r->w->guest_since_ns, 0);
}
void wf__host_leave(wf_run *r) {
    atomic_store(&r->w->guest_since_ns, clock_mono_ns());
}

/* ---- validation ---- */

static bool name_valid(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > WF_NAME_MAX) return false;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.';
        if (!ok) return false;
    }
    return true;
}

static void type_text(char *out, size_t cap, uint32_t np, const wasm_valtype *p, uint32_t nr,
                      const wasm_valtype *r) {
    size_t k = 0;
    k += (size_t)snprintf(out + k, cap - k, "(");
    for (uint32_t i = 0; i < np && k < cap; i++) {
        const char *t = p[i] == WASM_I32   ? "i32"
                        : p[i] == WASM_I64 ? "i64"
                        : p[i] == WASM_F32 ? "f32"
                        : p[i] == WASM_F64 ? "f64"
                                           : "ref";
        k += (size_t)snprintf(out + k, cap - k, "%s%s", i ? " " : "", t);
    }
    if (k < cap) k += (size_t)snprintf(out + k, cap - k, ") -> (");
    for (uint32_t i = 0; i < nr && k < cap; i++) {
        const char *t = r[i] == WASM_I32   ? "i32"
                        : r[i] == WASM_I64 ? "i64"
                        : r[i] == WASM_F32 ? "f32"
                        : r[i] == WASM_F64 ? "f64"
                                           : "ref";
        k += (size_t)snprintf(out + k, cap - k, "%s%s", i ? " " : "", t);
    }
    if (k < cap) snprintf(out + k, cap - k, ")");
}

static bool type_equal(const wasm_functype *t, const wf_hostfn *h) {
    if (t->param_count != h->param_count || t->result_count != h->result_count) return false;
    for (uint32_t i = 0; i < h->param_count; i++)
        if (t->params[i] != h->params[i]) return false;
    for (uint32_t i = 0; i < h->result_count; i++)
        if (t->results[i] != h->results[i]) return false;
    return true;
}

/* Every import is a host function of the spec with its type; the needed exports
 * exist. Fills d with the first problem. */
static int module_check(const wasm_module *mod, sl_diag *d) {
    size_t n = wasm_module_import_count(mod);
    bool needs_allocate = false;
    for (size_t i = 0; i < n; i++) {
        wasm_import_info info;
        wasm_module_import(mod, i, &info);
        if (info.kind != WASM_EXTERN_FUNC)
            return sl_diag_set(d, SL_EINVAL, 0, "import %s.%s: only functions can be imported",
                               info.module, info.name);
        const wf_hostfn *h = host__lookup(info.module, info.name);
        if (!h)
            return sl_diag_set(d, SL_ENOTFOUND, 0, "unknown import %s.%s", info.module, info.name);
        if (!type_equal(&info.func, h)) {
            char got[64];
            char want[64];
            type_text(got, sizeof(got), info.func.param_count, info.func.params,
                      info.func.result_count, info.func.results);
            type_text(want, sizeof(want), h->param_count, h->params, h->result_count, h->results);
            return sl_diag_set(d, SL_EINVAL, 0, "import %s.%s has type %s, the host's is %s",
                               info.module, info.name, got, want);
        }
        if (strcmp(info.name, "u_poll_handle") == 0 || strcmp(info.name, "u_writeback_http") == 0)
            needs_allocate = true;
    }
    bool has_memory = false;
    bool has_entry = false;
    bool has_allocate = false;
    size_t ne = wasm_module_export_count(mod);
    for (size_t i = 0; i < ne; i++) {
        const char *name = NULL;
        wasm_extern_kind kind;
        wasm_module_export(mod, i, &name, &kind);
        if (kind == WASM_EXTERN_MEMORY && strcmp(name, "memory") == 0) has_memory = true;
        if (kind == WASM_EXTERN_FUNC && (strcmp(name, "call") == 0 || strcmp(name, "_start") == 0))
            has_entry = true;
        if (kind == WASM_EXTERN_FUNC && strcmp(name, "allocate") == 0) has_allocate = true;
    }
    if (!has_memory) return sl_diag_set(d, SL_EINVAL, 0, "missing export memory");
    if (!has_entry) return sl_diag_set(d, SL_EINVAL, 0, "missing export call (or WASI _start)");
    if (needs_allocate && !has_allocate)
        return sl_diag_set(d, SL_EINVAL, 0, "missing export allocate (needed to return data)");
    return 0;
}

/* ---- one run ---- */

static void wf_set_error(wf *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wf_set_error(wf *w, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&w->mu);
    snprintf(w->last_error, sizeof(w->last_error), "%s", msg);
    pthread_mutex_unlock(&w->mu);
    wflog__host(&w->log, "%s", msg);
    log_warn("workflow", "%s: %s", w->name, msg);
}

static bool func_has_type(wasm_func *f, uint32_t np, wasm_valtype p0, uint32_t nr,
                          wasm_valtype r0) {
    wasm_functype t;
    wasm_func_type(f, &t);
    if (t.param_count != np || t.result_count != nr) return false;
    if (np == 1 && t.params[0] != p0) return false;
    if (nr == 1 && t.results[0] != r0) return false;
    return true;
}

/* Looks up export name as a function; NULL if absent or not a function. */
static wasm_func *export_func(wasm_instance *inst, const char *name) {
    wasm_extern e;
    if (wasm_instance_export(inst, name, &e) < 0 || e.kind != WASM_EXTERN_FUNC) return NULL;
    return e.of.func;
}

static wf_outcome wf_run_call(wf *w, wf_run *r) {
    wasm_diag d;
    memset(&d, 0, sizeof(d));
    size_t n = wasm_module_import_count(w->module);
    wasm_extern imports[256];
    if (n > SL_ARRAY_LEN(imports)) { /* 15 host functions exist; more imports repeat them */
        wf_set_error(w, "the module imports %zu functions, more than the host's %zu", n,
                     SL_ARRAY_LEN(imports));
        return WF_OUT_BROKEN;
    }
    for (size_t i = 0; i < n; i++) {
        wasm_import_info info;
        wasm_module_import(w->module, i, &info);
        const wf_hostfn *h = host__lookup(info.module, info.name);
        SL_ASSERT(h); /* module_check() passed at deploy */
        wasm_functype t = {h->param_count, h->result_count, h->params, h->results};
        imports[i].kind = WASM_EXTERN_FUNC;
        imports[i].of.func = wasm_func_new_host(r->store, &t, h->fn, r);
        if (!imports[i].of.func) {
            wf_set_error(w, "out of memory creating host functions");
            return WF_OUT_FAILED;
        }
    }
    wf__host_leave(r); /* start functions run guest code: the watchdog watches */
    int rc = wasm_instantiate(r->store, w->module, imports, n, &r->inst, &d);
    wf__host_enter(r);
    if (rc < 0) {
        if (atomic_load(&w->stop)) return WF_OUT_STOPPED;
        if (rc == SL_ETRAP) {
            wf_set_error(w, "trap in start function: %s (function %u, offset %u)", d.msg,
                         d.func_index, d.offset);
            return WF_OUT_FAILED;
        }
        wf_set_error(w, "instantiation failed: %s", d.msg[0] ? d.msg : sl_strerror(rc));
        return rc == -ENOMEM ? WF_OUT_FAILED : WF_OUT_BROKEN;
    }
    if (!wasm_instance_memory(r->inst)) {
        wf_set_error(w, "missing export memory");
        return WF_OUT_BROKEN;
    }
    r->allocate = export_func(r->inst, "allocate");
    if (r->allocate && !func_has_type(r->allocate, 1, WASM_I32, 1, WASM_I32)) {
        wf_set_error(w, "export allocate must have type (i32) -> (i32)");
        return WF_OUT_BROKEN;
    }
    wasm_func *entry = export_func(r->inst, "call");
    bool is_call = entry != NULL;
    if (is_call && !func_has_type(entry, 0, 0, 1, WASM_I32)) {
        wf_set_error(w, "export call must have type () -> (i32)");
        return WF_OUT_BROKEN;
    }
    if (!entry) entry = export_func(r->inst, "_start");
    if (!entry || (!is_call && !func_has_type(entry, 0, 0, 0, 0))) {
        wf_set_error(w, "missing export call () -> (i32) or _start () -> ()");
        return WF_OUT_BROKEN;
    }
    wflog__host(&w->log, "started (%s)", is_call ? "call" : "_start");
    wasm_val res;
    memset(&d, 0, sizeof(d));
    wf__host_leave(r);
    rc = wasm_func_call(r->store, entry, NULL, 0, &res, is_call ? 1 : 0, &d);
    wf__host_enter(r);
    if (r->exited) {
        if (r->exit_code == 0) {
            wflog__host(&w->log, "exited: proc_exit(0)");
            return WF_OUT_EXIT;
        }
        wf_set_error(w, "exited: proc_exit(%" PRId32 ")", r->exit_code);
        return WF_OUT_FAILED;
    }
    if (rc == 0) {
        int32_t v = is_call ? (int32_t)res.of.i32 : 0;
        if (v == 0) {
            wflog__host(&w->log, "exited: %s returned 0", is_call ? "call" : "_start");
            return WF_OUT_EXIT;
        }
        wf_set_error(w, "exited: call returned %" PRId32, v);
        return WF_OUT_FAILED;
    }
    if (atomic_load(&w->watchdog_fired)) {
        wf_set_error(w,
                     "watchdog: guest code ran %u ms without a host call, interrupted "
                     "(function %u, offset %u)",
                     w->m->cfg.hostless_ms_max, d.func_index, d.offset);
        return WF_OUT_FAILED;
    }
    if (atomic_load(&w->stop)) return WF_OUT_STOPPED;
    if (rc == SL_ETRAP)
        wf_set_error(w, "trap: %s (function %u, offset %u)", d.msg, d.func_index, d.offset);
    else
        wf_set_error(w, "failed: %s", d.msg[0] ? d.msg : sl_strerror(rc));
    return WF_OUT_FAILED;
}

static wf_outcome wf_run_once(wf *w) {
    const wf_config *cfg = &w->m->cfg;
    wasm_limits lim;
    memset(&lim, 0, sizeof(lim));
    lim.memory_pages_max = cfg->memory_mb * 16u; /* 64 KiB pages */
    lim.call_depth_max = cfg->call_depth_max;
    wasm_store *store = NULL;
    int rc = wasm_store_new(&lim, &store);
    if (rc < 0) {
        wf_set_error(w, "cannot create a store: %s", sl_strerror(rc));
        return WF_OUT_FAILED;
    }
    pthread_mutex_lock(&w->mu);
    if (atomic_load(&w->stop)) {
        pthread_mutex_unlock(&w->mu);
        wasm_store_free(store);
        return WF_OUT_STOPPED;
    }
    w->store = store;
    w->state = WF_RUNNING;
    w->started_ns = clock_realtime_ns();
    pthread_mutex_unlock(&w->mu);

    wf_run *r = &w->run;
    memset(r, 0, sizeof(*r));
    r->w = w;
    r->store = store;
    buf_init(&r->scratch, MEM_WORKFLOW, 0);
    atomic_store(&w->watchdog_fired, false);
    wf_outcome o = wf_run_call(w, r);
    atomic_store(&w->guest_since_ns, 0);

    host__release_handles(r);
    buf_free(&r->scratch);
    wflog__flush(&w->log);
    pthread_mutex_lock(&w->mu);
    w->store = NULL; /* invariant 1 */
    pthread_mutex_unlock(&w->mu);
    wasm_store_free(store);
    return o;
}

static void *wf_thread(void *arg) {
    wf *w = arg;
    /* Best effort: without the permission to lower priority the workflow still runs. */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WF_THREAD_NICE);
    const wf_config *cfg = &w->m->cfg;
    uint32_t backoff_ms = cfg->restart_backoff_ms;
    for (;;) {
        int64_t t0 = clock_mono_ns();
        wf_outcome o = wf_run_once(w);
        int64_t ran_ms = (clock_mono_ns() - t0) / 1000000;
        if (o == WF_OUT_STOPPED || atomic_load(&w->stop)) break;
        pthread_mutex_lock(&w->mu);
        if (o == WF_OUT_EXIT) {
            w->state = WF_EXITED;
            pthread_mutex_unlock(&w->mu);
            break;
        }
        if (o == WF_OUT_BROKEN || cfg->restart_backoff_ms == 0) {
            w->state = WF_FAILED;
            pthread_mutex_unlock(&w->mu);
            wflog__host(&w->log, "not restarting");
            break;
        }
        if (ran_ms > WF_RESTART_BACKOFF_MS_MAX) backoff_ms = cfg->restart_backoff_ms;
        w->state = WF_BACKOFF;
        pthread_mutex_unlock(&w->mu);
        wflog__host(&w->log, "restarting in %u ms", backoff_ms);

        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        int64_t ns = (int64_t)until.tv_nsec + (int64_t)backoff_ms * 1000000;
        until.tv_sec += ns / 1000000000;
        until.tv_nsec = ns % 1000000000;
        pthread_mutex_lock(&w->mu);
        while (!atomic_load(&w->stop)) {
            if (pthread_cond_timedwait(&w->cond, &w->mu, &until) == ETIMEDOUT) break;
        }
        bool stopping = atomic_load(&w->stop);
        if (!stopping) w->restarts++;
        pthread_mutex_unlock(&w->mu);
        if (stopping) break;
        backoff_ms = SL_MIN(backoff_ms * 2u, WF_RESTART_BACKOFF_MS_MAX);
    }
    return NULL;
}

/* ---- the watchdog ---- */

/* CPU time the workflow's thread has used, in ns; -1 if it cannot be read (the
 * thread just ended). */
static int64_t wf_thread_cpu_ns(wf *w) {
    clockid_t cid;
    struct timespec ts;
    if (pthread_getcpuclockid(w->thread, &cid) != 0 || clock_gettime(cid, &ts) != 0) return -1;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Guest code is measured in the CPU time of its thread, not in wall time: a workflow
 * thread runs at nice +10, so on a busy server a healthy guest that calls the host
 * every few microseconds can wait far longer than the limit for a core between two
 * calls, and must not be taken for a runaway. The count starts when the watchdog
 * first sees a stretch of guest code (at most one tick late, never early). */
static bool wf_guest_over_limit(wf *w, int64_t since, int64_t now, int64_t limit_ns) {
    int64_t cpu = wf_thread_cpu_ns(w);
    if (since != w->wd_since_seen) {
        w->wd_since_seen = since;
        w->wd_cpu_at_seen = cpu;
        return false;
    }
    if (cpu < 0 || w->wd_cpu_at_seen < 0) return now - since > limit_ns;
    return cpu - w->wd_cpu_at_seen > limit_ns;
}

static void *wf_watchdog(void *arg) {
    wf_manager *m = arg;
    pthread_mutex_lock(&m->mu);
    while (!m->wd_stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        int64_t ns = (int64_t)until.tv_nsec + WF_WATCHDOG_TICK_MS * 1000000;
        until.tv_sec += ns / 1000000000;
        until.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&m->wd_cond, &m->mu, &until);
        int64_t now = clock_mono_ns();
        int64_t limit_ns = (int64_t)m->cfg.hostless_ms_max * 1000000;
        for (uint32_t i = 0; i < m->count; i++) {
            wf *w = m->list[i];
            int64_t since = atomic_load(&w->guest_since_ns);
            if (since == 0 || atomic_load(&w->watchdog_fired)) continue;
            if (!wf_guest_over_limit(w, since, now, limit_ns)) continue;
            atomic_store(&w->watchdog_fired, true);
            pthread_mutex_lock(&w->mu);
            if (w->store) wasm_store_interrupt(w->store);
            pthread_mutex_unlock(&w->mu);
        }
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

/* ---- the manager ---- */

int wf_manager_new(const wf_config *cfg, const wf_env *env, wf_manager **out) {
    *out = NULL;
    SL_ASSERT(cfg);
    SL_ASSERT(env);
    wf_manager *m = mem_calloc(MEM_WORKFLOW, 1, sizeof(*m));
    if (!m) return -ENOMEM;
    m->cfg = *cfg;
    m->cfg.http_allow[sizeof(m->cfg.http_allow) - 1] = 0;
    if (m->cfg.log_bytes_max < 1024) m->cfg.log_bytes_max = 1024;
    if (m->cfg.hostless_ms_max == 0 || m->cfg.hostless_ms_max > WF_HOSTLESS_MS_CEILING)
        m->cfg.hostless_ms_max = WF_HOSTLESS_MS_DEFAULT;
    if (m->cfg.memory_mb == 0) m->cfg.memory_mb = 64;
    if (m->cfg.memory_mb > 4096) m->cfg.memory_mb = 4096; /* wasm32's whole address space */
    if (m->cfg.restart_backoff_ms > WF_RESTART_BACKOFF_MS_MAX)
        m->cfg.restart_backoff_ms = WF_RESTART_BACKOFF_MS_MAX;
    m->env = *env;
    wb__global_init();
    pthread_mutex_init(&m->deploy_mu, NULL);
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->wd_cond, NULL);
    if (pthread_create(&m->watchdog, NULL, wf_watchdog, m) != 0) {
        pthread_cond_destroy(&m->wd_cond);
        pthread_mutex_destroy(&m->mu);
        pthread_mutex_destroy(&m->deploy_mu);
        mem_free(MEM_WORKFLOW, m);
        return -EAGAIN;
    }
    *out = m;
    return 0;
}

static void wf_stop_join(wf *w) {
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->stop, true);
    if (w->store) wasm_store_interrupt(w->store);
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
}

static void wf_destroy(wf *w) {
    wasm_module_free(w->module);
    wflog__destroy(&w->log);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mu);
    mem_free(MEM_WORKFLOW, w);
}

/* Index of name in m->list or -1; m->mu held. */
static int wf_find(wf_manager *m, const char *name) {
    for (uint32_t i = 0; i < m->count; i++)
        if (strcmp(m->list[i]->name, name) == 0) return (int)i;
    return -1;
}

/* Takes w out of the list; m->mu held. */
static void wf_unlist(wf_manager *m, uint32_t i) {
    SL_ASSERT(i < m->count);
    m->list[i] = m->list[--m->count];
}

int wf_deploy(wf_manager *m, const char *name, const uint8_t *bytes, size_t n, sl_diag *d) {
    sl_diag_clear(d);
    if (!name_valid(name))
        return sl_diag_set(d, SL_EINVAL, 0, "workflow names are 1-%u characters of [A-Za-z0-9_.-]",
                           WF_NAME_MAX);
    if (n > WF_MODULE_BYTES_MAX)
        return sl_diag_set(d, SL_ELIMIT, 0, "module is %zu bytes, over the %u-byte limit", n,
                           WF_MODULE_BYTES_MAX);
    wasm_module *mod = NULL;
    wasm_diag wd;
    memset(&wd, 0, sizeof(wd));
    int rc = wasm_module_new(bytes, n, &mod, &wd);
    if (rc < 0)
        return sl_diag_set(d, rc, wd.offset, "invalid module: %s (at byte %u)",
                           wd.msg[0] ? wd.msg : sl_strerror(rc), wd.offset);
    if ((rc = module_check(mod, d)) < 0) {
        wasm_module_free(mod);
        return rc;
    }
    wf *w = mem_calloc(MEM_WORKFLOW, 1, sizeof(*w));
    if (!w) {
        wasm_module_free(mod);
        return sl_diag_set(d, -ENOMEM, 0, "out of memory");
    }
    w->m = m;
    snprintf(w->name, sizeof(w->name), "%s", name);
    w->module = mod;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cond, NULL);
    if ((rc = wflog__init(&w->log, m->cfg.log_bytes_max)) < 0) {
        wf_destroy(w);
        return sl_diag_set(d, rc, 0, "out of memory");
    }

    pthread_mutex_lock(&m->deploy_mu);
    pthread_mutex_lock(&m->mu);
    int old = wf_find(m, name);
    wf *prev = NULL;
    if (old < 0 && m->count == WF_COUNT_MAX) {
        pthread_mutex_unlock(&m->mu);
        pthread_mutex_unlock(&m->deploy_mu);
        wf_destroy(w);
        return sl_diag_set(d, SL_ELIMIT, 0, "%u workflows are deployed, the limit", WF_COUNT_MAX);
    }
    if (old >= 0) {
        prev = m->list[old];
        wf_unlist(m, (uint32_t)old);
    }
    pthread_mutex_unlock(&m->mu);
    if (prev) { /* redeploy: the old one stops first, so a name never runs twice */
        wf_stop_join(prev);
        wf_destroy(prev);
    }
    wflog__host(&w->log, "deployed (%zu bytes)%s", n,
                prev ? ", replacing the previous module" : "");
    w->state = WF_RUNNING;
    w->started_ns = clock_realtime_ns();
    if (pthread_create(&w->thread, NULL, wf_thread, w) != 0) {
        pthread_mutex_unlock(&m->deploy_mu);
        wf_destroy(w);
        return sl_diag_set(d, -EAGAIN, 0, "cannot start a thread for the workflow");
    }
    pthread_mutex_lock(&m->mu);
    m->list[m->count++] = w;
    pthread_mutex_unlock(&m->mu);
    pthread_mutex_unlock(&m->deploy_mu);
    log_info("workflow", "%s: deployed (%zu bytes)", name, n);
    return 0;
}

int wf_remove(wf_manager *m, const char *name) {
    pthread_mutex_lock(&m->deploy_mu);
    pthread_mutex_lock(&m->mu);
    int i = wf_find(m, name);
    wf *w = NULL;
    if (i >= 0) {
        w = m->list[i];
        wf_unlist(m, (uint32_t)i);
    }
    pthread_mutex_unlock(&m->mu);
    if (w) {
        wf_stop_join(w);
        wf_destroy(w);
        log_info("workflow", "%s: removed", name);
    }
    pthread_mutex_unlock(&m->deploy_mu);
    return w ? 0 : SL_ENOTFOUND;
}

void wf_stop_all(wf_manager *m) {
    if (!m) return;
    pthread_mutex_lock(&m->deploy_mu);
    pthread_mutex_lock(&m->mu);
    wf *all[WF_COUNT_MAX];
    uint32_t n = m->count;
    memcpy(all, m->list, n * sizeof(all[0]));
    m->count = 0;
    pthread_mutex_unlock(&m->mu);
    /* Signal every one first so they stop in parallel, then join. */
    for (uint32_t i = 0; i < n; i++) {
        pthread_mutex_lock(&all[i]->mu);
        atomic_store(&all[i]->stop, true);
        if (all[i]->store) wasm_store_interrupt(all[i]->store);
        pthread_cond_broadcast(&all[i]->cond);
        pthread_mutex_unlock(&all[i]->mu);
    }
    for (uint32_t i = 0; i < n; i++) {
        wf_stop_join(all[i]);
        wf_destroy(all[i]);
    }
    pthread_mutex_unlock(&m->deploy_mu);
}

void wf_manager_free(wf_manager *m) {
    if (!m) return;
    wf_stop_all(m);
    pthread_mutex_lock(&m->mu);
    m->wd_stop = true;
    pthread_cond_broadcast(&m->wd_cond);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->watchdog, NULL);
    pthread_cond_destroy(&m->wd_cond);
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->deploy_mu);
    mem_free(MEM_WORKFLOW, m);
}

/* m->mu held. */
static void wf_snapshot(wf *w, wf_status *out) {
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", w->name);
    pthread_mutex_lock(&w->mu);
    out->state = w->state;
    out->started_ns = w->started_ns;
    out->restarts = w->restarts;
    snprintf(out->last_error, sizeof(out->last_error), "%s", w->last_error);
    pthread_mutex_unlock(&w->mu);
    out->events_handled = atomic_load(&w->events_handled);
    out->writebacks_refused = atomic_load(&w->writebacks_refused);
}

int wf_status_get(wf_manager *m, const char *name, wf_status *out) {
    pthread_mutex_lock(&m->mu);
    int i = wf_find(m, name);
    if (i >= 0) wf_snapshot(m->list[i], out);
    pthread_mutex_unlock(&m->mu);
    return i >= 0 ? 0 : SL_ENOTFOUND;
}

void wf_list_json(wf_manager *m, buf *out) {
    buf_putc(out, '[');
    pthread_mutex_lock(&m->mu);
    for (uint32_t i = 0; i < m->count; i++) {
        wf_status s;
        wf_snapshot(m->list[i], &s);
        if (i) buf_putc(out, ',');
        buf_puts(out, "{\"name\":");
        buf_json_str(out, s.name, strlen(s.name));
        buf_puts(out, ",\"state\":");
        buf_json_str(out, wf_state_name(s.state), strlen(wf_state_name(s.state)));
        buf_puts(out, ",\"started\":");
        buf_json_i64(out, s.started_ns);
        buf_puts(out, ",\"events_handled\":");
        buf_json_u64(out, s.events_handled);
        buf_puts(out, ",\"restarts\":");
        buf_json_u64(out, s.restarts);
        buf_puts(out, ",\"writebacks_refused\":");
        buf_json_u64(out, s.writebacks_refused);
        buf_puts(out, ",\"last_error\":");
        if (s.last_error[0])
            buf_json_str(out, s.last_error, strlen(s.last_error));
        else
            buf_puts(out, "null");
        buf_putc(out, '}');
    }
    pthread_mutex_unlock(&m->mu);
    buf_putc(out, ']');
}

int wf_logs(wf_manager *m, const char *name, buf *out) {
    pthread_mutex_lock(&m->mu);
    int i = wf_find(m, name);
    if (i >= 0) wflog__copy(&m->list[i]->log, out);
    pthread_mutex_unlock(&m->mu);
    return i >= 0 ? 0 : SL_ENOTFOUND;
}
