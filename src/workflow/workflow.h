/* workflow.h - workflows: WebAssembly modules run against the host ABI of
 * shared/spec/workflows.md (seven `env` functions, a WASI preview-1 subset), each
 * isolated in its own store and thread, with limits, a runaway-loop watchdog, a
 * restart policy with backoff and a size-capped log.
 *
 * The server creates one wf_manager with a wf_env of callbacks (send a WebSocket
 * text frame, write a point, the live registry, historical queries), so this
 * module has no compile-time dependency on net, and tests can supply their own.
 * wf_deploy() validates the module (decode, validation, every import known and of
 * the spec's type, required exports) before anything runs: a refused module is an
 * error with a diagnostic, never a half-started workflow. Deploying a name that is
 * running replaces it (the old one is stopped first) without touching the others.
 *
 * States (one per workflow; see workflow.c for the transitions):
 *   running  --call returns 0 / proc_exit(0)-->                      exited
 *   running  --trap, limit, watchdog, non-zero exit-->  backoff --timer--> running
 *   running  --failure with restart_backoff_ms == 0, or a module that can never
 *              run (missing/mistyped export, memory over the limit)-->   failed
 *   any      --wf_remove / redeploy / wf_manager_free-->             stopped (gone)
 *
 * Threads: every function here may be called from any thread (HTTP workers, the
 * server's start-up thread). Each workflow runs on its own thread, at a lower CPU
 * priority than the server's (nice +10, see workflow.c); the env callbacks are
 * called from those threads. */
#ifndef SL_WORKFLOW_H
#define SL_WORKFLOW_H

#include "base/batch.h"
#include "base/buf.h"
#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Workflows deployed at once. Each holds a thread, a store (up to memory_mb of
 * linear memory) and a log; past this, wf_deploy() of a new name is SL_ELIMIT. */
#define WF_COUNT_MAX 64u

/* Length of a workflow name ([A-Za-z0-9_.-], it appears in URLs and logs). */
#define WF_NAME_MAX 64u

/* Largest module accepted by wf_deploy(); bounds decode memory. The HTTP body cap
 * (--http-body-bytes-max, default 16 MiB) is usually the lower limit. */
#define WF_MODULE_BYTES_MAX (64u << 20)

/* Largest Region the host reads from a guest (query text, event text, writeback
 * payload, URL, HTTP body). A longer Region is an error result, never a copy. */
#define WF_REGION_BYTES_MAX (1u << 20)

/* Largest HTTP response body handed back to the guest; a longer response aborts
 * the transfer and u_writeback_http returns 0 (logged). */
#define WF_HTTP_RESPONSE_BYTES_MAX (1u << 20)

/* Live-query handles one workflow may hold; u_query_live past it returns 0. */
#define WF_HANDLES_MAX 256u

/* Tags in one u_write_event (the series= token not counted); more -> error result. */
#define WF_EVENT_TAGS_MAX 64u

/* How long u_poll_handle waits for an event when none is pending (spec: bounded,
 * no busy spin). Also bounds how long a stop waits for a polling workflow. */
#define WF_POLL_WAIT_MS_DEFAULT 50u

/* Guest code running this long without calling the host (env or WASI) is a runaway loop: the
 * watchdog interrupts the store (the engine traps "interrupted") and the workflow
 * stops with reason "watchdog". Counted in the workflow thread's CPU time, so a guest
 * merely waiting for a core on a loaded machine is not stopped. Ceiling one hour. */
#define WF_HOSTLESS_MS_DEFAULT 5000u
#define WF_HOSTLESS_MS_CEILING 3600000u

/* Restart backoff doubles after each failed run up to this. */
#define WF_RESTART_BACKOFF_MS_MAX 60000u

/* Longest log line kept; a longer write is split into lines of this size. */
#define WF_LOG_LINE_BYTES_MAX 4096u

typedef struct wf_manager wf_manager;

/* What the host functions reach. Every callback is called from workflow threads,
 * several at once; arg is passed back unchanged. */
typedef struct wf_env {
    void *arg;
    /* u_writeback_ws: one text frame to connection conn_id. 0 sent (queued),
     * SL_ENOTFOUND unknown or closed connection, SL_ELIMIT its send queue is full.
     * Borrows bytes for the call. NULL: every writeback fails. */
    int (*ws_send)(void *arg, uint64_t conn_id, const uint8_t *bytes, size_t len);
    /* u_write_event: takes the contents of *b (producer_id 0) and returns once the
     * points are visible (ingest_write_wait). NULL: write_event fails. */
    int (*point_write)(void *arg, point_batch *b);
    /* u_query_live / u_free_handle / u_poll_handle: the live registry (live.h). */
    int (*live_register)(void *arg, const char *text, size_t n, uint64_t *handle, sl_diag *d);
    int (*live_unregister)(void *arg, uint64_t handle);
    /* 1 event appended to out, 0 none within timeout_ms, <0 error. */
    int (*live_poll)(void *arg, uint64_t handle, uint32_t timeout_ms, buf *out);
    /* u_query_history: the aggregate in *value (NaN when empty). */
    int (*history)(void *arg, const char *text, size_t n, double *value, sl_diag *d);
} wf_env;

/* Limits and policy; wf_config_defaults() sets the documented defaults (the same
 * as server_config's wf_* fields). */
typedef struct wf_config {
    uint32_t memory_mb;          /* linear memory per workflow; default 64 */
    uint32_t call_depth_max;     /* nested guest calls; default 10000 -> trap */
    uint32_t writebacks_per_s;   /* ws + http writebacks per workflow; default 10000; 0 = none */
    uint32_t http_timeout_ms;    /* whole HTTP writeback; default 5000 */
    char http_allow[1024];       /* allowlist, see writeback.c; "" = public addresses only */
    bool http_follow_redirects;  /* default false */
    uint32_t restart_backoff_ms; /* first restart delay, doubling; 0 = never restart */
    uint32_t log_bytes_max;      /* log kept per workflow (oldest lines dropped); default 1 MiB */
    uint32_t hostless_ms_max;    /* watchdog, WF_HOSTLESS_MS_DEFAULT */
    uint32_t poll_wait_ms;       /* WF_POLL_WAIT_MS_DEFAULT */
} wf_config;

void wf_config_defaults(wf_config *c);

/* Copies cfg and env. Starts the watchdog thread. */
int wf_manager_new(const wf_config *cfg, const wf_env *env, wf_manager **out);
/* Stops every workflow (interrupting running guest code), joins their threads and
 * frees everything. NULL is a no-op. */
void wf_manager_free(wf_manager *m);
/* Stops every workflow but keeps the manager (server shutdown, before the network
 * loop closes, so no writeback reaches a closing loop). */
void wf_stop_all(wf_manager *m);

/* Validates bytes (copied) and starts the workflow under name, replacing one of
 * that name. SL_EINVAL bad name; SL_EPROTO/SL_EINVAL/SL_ENOTFOUND refused module
 * (d->msg says why: "unknown import env.u_foo", "missing export allocate", the
 * engine's decode or validation error); SL_ELIMIT too many workflows or too big. */
int wf_deploy(wf_manager *m, const char *name, const uint8_t *bytes, size_t n, sl_diag *d);
/* Stops and forgets name; SL_ENOTFOUND if absent. */
int wf_remove(wf_manager *m, const char *name);

typedef enum wf_state {
    WF_RUNNING = 0,
    WF_BACKOFF, /* failed; restarts when the backoff timer fires */
    WF_EXITED,  /* finished normally */
    WF_FAILED,  /* failed and will not restart */
} wf_state;

const char *wf_state_name(wf_state s);

/* A snapshot of one workflow. */
typedef struct wf_status {
    char name[WF_NAME_MAX + 1];
    wf_state state;
    int64_t started_ns;          /* wall clock of the current (or last) run's start */
    uint64_t events_handled;     /* events handed to the guest by u_poll_handle, all runs */
    uint32_t restarts;           /* runs after the first */
    uint64_t writebacks_refused; /* over the rate limit */
    char last_error[256];        /* "" if none: "trap: ... (function 3, offset 12)" */
} wf_status;

/* SL_ENOTFOUND if absent. */
int wf_status_get(wf_manager *m, const char *name, wf_status *out);
/* JSON array of every workflow:
 * [{"name":..,"state":..,"started":ns,"events_handled":N,"restarts":N,"last_error":..|null}] */
void wf_list_json(wf_manager *m, buf *out);
/* Appends the workflow's log (its stdout/stderr lines and the host's lifecycle
 * lines, oldest first, at most log_bytes_max) to out; SL_ENOTFOUND if absent. */
int wf_logs(wf_manager *m, const char *name, buf *out);

#endif
