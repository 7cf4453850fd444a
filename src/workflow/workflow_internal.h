/* workflow_internal.h - what the files of src/workflow share (STYLE rule 2).
 *
 *   workflow.c  wf_*      manager, deploy, lifecycle threads, watchdog
 *   host.c      host__*   the seven `env` functions (shared/spec/workflows.md)
 *   wasi.c      wasi__*   the WASI preview-1 subset
 *   region.c    region__* Region reads and writes, bounds-checked
 *   writeback.c wb__*     HTTP writeback (libcurl), the host allowlist, rate limit
 *   wflog.c     wflog__*  a workflow's size-capped, line-buffered log
 *
 * Threads: a wf_run belongs to its workflow's thread; a wf is shared and says
 * which fields need its mutex. */
#ifndef SL_WORKFLOW_INTERNAL_H
#define SL_WORKFLOW_INTERNAL_H

#include "wasm/wasm.h"
#include "workflow/workflow.h"

#include <pthread.h>
#include <stdatomic.h>

/* ---- log (wflog.c) ---- */

/* Lines of a workflow, oldest dropped first past bytes_max. Any thread (mu). */
typedef struct wf_log {
    pthread_mutex_t mu;                     /* guards everything below */
    buf text;                               /* complete lines, each ending in '\n' */
    uint32_t bytes_max;                     /* cap on text.len */
    char partial[2][WF_LOG_LINE_BYTES_MAX]; /* unfinished stdout / stderr line */
    uint32_t partial_len[2];                /* bytes in partial[i] */
} wf_log;

int wflog__init(wf_log *l, uint32_t bytes_max);
void wflog__destroy(wf_log *l);
/* Guest output on stream 0 (stdout) or 1 (stderr): split into lines; a line is
 * kept once its '\n' arrives or it reaches WF_LOG_LINE_BYTES_MAX. */
void wflog__write(wf_log *l, int stream, const uint8_t *p, size_t n);
/* Flushes unfinished guest lines (the run ended). */
void wflog__flush(wf_log *l);
/* A host line: "<UTC time> slung: <text>". */
void wflog__host(wf_log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void wflog__copy(wf_log *l, buf *out);

/* ---- one workflow ---- */

typedef struct wf wf;

/* One run of a workflow: one store and instance. Workflow thread only. */
typedef struct wf_run {
    wf *w;                            /* owner */
    wasm_store *store;                /* this run's store */
    wasm_instance *inst;              /* NULL until instantiated */
    wasm_func *allocate;              /* export "allocate" or NULL */
    uint64_t handles[WF_HANDLES_MAX]; /* live handles this run registered */
    uint32_t handle_count;            /* used entries of handles */
    bool exited;                      /* proc_exit was called */
    int32_t exit_code;                /* its argument */
    double tokens;                    /* writeback token bucket */
    int64_t tokens_ns;                /* monotonic time tokens was last refilled */
    buf scratch;                      /* event and response bytes on their way to the guest */
    char msg[200];                    /* trap text a host function returns */
} wf_run;

struct wf {
    struct wf_manager *m;                    /* owner; immutable */
    char name[WF_NAME_MAX + 1];              /* immutable */
    wasm_module *module;                     /* immutable; shared by runs */
    pthread_t thread;                        /* the workflow's thread */
    pthread_mutex_t mu;                      /* guards the fields marked (mu) */
    pthread_cond_t cond;                     /* wakes the backoff wait on stop */
    atomic_bool stop;                        /* set once to end the workflow */
    wasm_store *store;                       /* (mu) current run's store, NULL between runs */
    wf_state state;                          /* (mu) */
    int64_t started_ns;                      /* (mu) wall clock of this run's start */
    uint32_t restarts;                       /* (mu) */
    char last_error[256];                    /* (mu) */
    atomic_uint_fast64_t events_handled;     /* any thread */
    atomic_uint_fast64_t writebacks_refused; /* any thread */
    atomic_int_fast64_t guest_since_ns;      /* monotonic: guest entered; 0 while in the host */
    atomic_bool watchdog_fired;              /* the watchdog interrupted this run */
    int64_t wd_since_seen;                   /* (watchdog) guest_since_ns it last saw */
    int64_t wd_cpu_at_seen;                  /* (watchdog) thread CPU ns then, -1 unknown */
    wf_log log;                              /* lines of every run */
    wf_run run;                              /* workflow thread only */
};

/* Host functions mark host time so the watchdog only counts guest time. */
void wf__host_enter(wf_run *r);
void wf__host_leave(wf_run *r);
const wf_config *wf__config(const wf *w);
const wf_env *wf__env(const wf *w);

/* ---- host function table (host.c, wasi.c) ---- */

typedef struct wf_hostfn {
    const char *module; /* "env" or "wasi_snapshot_preview1" */
    const char *name;
    uint32_t param_count;
    uint32_t result_count;
    wasm_valtype params[4];
    wasm_valtype results[1];
    wasm_host_fn fn; /* env is the wf_run */
} wf_hostfn;

const wf_hostfn *host__lookup(const char *module, const char *name);
const wf_hostfn *wasi__lookup(const char *name);
/* u_write_event's parsing (spec: decimal ns timestamp, decimal float, comma tags with
 * series=NAME, default series temp): the canonical series key is appended to key.
 * SL_EPARSE with d->msg naming the bad part. Pure; fuzzed by fuzz/wf_event. */
int host__event_parse(const char *ts_text, size_t ts_len, const char *val_text, size_t val_len,
                      const char *tag_text, size_t tag_len, int64_t *ts, double *v, buf *key,
                      sl_diag *d);
/* Unregisters every live handle the run still holds. */
void host__release_handles(wf_run *r);

/* ---- Regions (region.c) ---- */

/* Copies the bytes of the guest Region at addr into out (appended). 0, or
 * SL_EINVAL with a log line naming fn when the Region or its bytes lie outside
 * memory or exceed WF_REGION_BYTES_MAX. */
int region__read(wf_run *r, wasm_instance *inst, uint32_t addr, const char *fn, buf *out);
/* Hands bytes to the guest (allocate data, allocate Region) and sets *addr_out to
 * the Region's address. Returns NULL or a trap message (the guest's allocate
 * trapped); *addr_out = 0 when the guest's answers were unusable (logged). */
const char *region__give(wf_run *r, wasm_instance *inst, const uint8_t *p, size_t n,
                         uint32_t *addr_out);

/* ---- writeback (writeback.c) ---- */

void wb__global_init(void);
/* True if one more writeback is within writebacks_per_s (token bucket); else
 * counts a refusal and waits briefly so a flood cannot spin a core. */
bool wb__rate_take(wf_run *r);
/* Performs the request; 0 and the body appended to out (possibly empty), or <0
 * with a log line. */
int wb__http(wf_run *r, const char *url, size_t url_len, const uint8_t *body, size_t body_len,
             uint32_t method, buf *out);
/* The allowlist decision for one connection (exposed for tests of the syntax):
 * host as written in the URL, addr the address about to be connected. */
struct sockaddr;
bool wb__allowed(const char *allow, const char *host, const struct sockaddr *addr);

#endif
