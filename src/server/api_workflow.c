/* api_workflow.c - the deploy API of shared/spec/workflows.md:
 *
 *   POST   /workflows/NAME       body = module bytes: deploy, or replace a running NAME
 *          201 {"name":"NAME","deployed":true}      (replacing: 200, "replaced":true)
 *          400 {"error":"unknown import env.u_foo"} refused module or bad name
 *          413 {"error":"..."}                      over WF_MODULE_BYTES_MAX or too many
 *   GET    /workflows            200 [{"name","state","started","events_handled",
 *                                      "restarts","writebacks_refused","last_error"}]
 *   GET    /workflows/NAME       200 that one object; 404 unknown
 *   GET    /workflows/NAME/logs  200 text/plain: the workflow's log; 404 unknown
 *   DELETE /workflows/NAME       200 {"name":"NAME","removed":true}; 404 unknown
 *   503 {"error":"workflows are not running"} when the server has no manager.
 * All are ROUTE_OFFLOAD: deploy validates a module and stopping a workflow waits
 * for its thread, so they never run on the network loop.
 * This file also wires the manager to the server (api_workflow_start): the wf_env
 * callbacks call net_send_text (WebSocket writeback), ingest_write_wait
 * (u_write_event, producer 0), the live registry and query_history; and
 * `slung serve --wasm FILE` deploys FILE under its file name at start.
 * Threads: HTTP worker threads and workflow threads; wf_manager is safe for
 * concurrent use; start/stop run on the server's thread. */
#include "server/server.h"

#include "base/log.h"
#include "ingest/ingest.h"
#include "net/net.h"
#include "query/live.h"
#include "query/query.h"
#include "workflow/workflow.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* "/workflows/NAME[/logs]" -> name (NUL-terminated, at most WF_NAME_MAX) and whether
 * "/logs" follows. False if the path has another shape. */
static bool parse_path(const char *path, char name[WF_NAME_MAX + 1], bool *logs) {
    static const char prefix[] = "/workflows/";
    *logs = false;
    if (strncmp(path, prefix, sizeof(prefix) - 1) != 0) return false;
    const char *p = path + sizeof(prefix) - 1;
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (n == 0 || n > WF_NAME_MAX) return false;
    if (slash) {
        if (strcmp(slash, "/logs") != 0) return false;
        *logs = true;
    }
    memcpy(name, p, n);
    name[n] = 0;
    return true;
}

static wf_manager *manager_of(void *arg, http_resp *resp) {
    server_ctx *ctx = arg;
    if (!ctx->workflows) route_error(resp, 503, "workflows are not running");
    return ctx->workflows;
}

static void handle_list(const http_req *req, http_resp *resp, void *arg) {
    wf_manager *m = manager_of(arg, resp);
    if (!m) return;
    resp->status = 200;
    wf_list_json(m, &resp->body);
}

static void status_json(const wf_status *s, buf *out) {
    buf_puts(out, "{\"name\":");
    buf_json_str(out, s->name, strlen(s->name));
    buf_puts(out, ",\"state\":");
    buf_json_str(out, wf_state_name(s->state), strlen(wf_state_name(s->state)));
    buf_puts(out, ",\"started\":");
    buf_json_i64(out, s->started_ns);
    buf_puts(out, ",\"events_handled\":");
    buf_json_u64(out, s->events_handled);
    buf_puts(out, ",\"restarts\":");
    buf_json_u64(out, s->restarts);
    buf_puts(out, ",\"writebacks_refused\":");
    buf_json_u64(out, s->writebacks_refused);
    buf_puts(out, ",\"last_error\":");
    if (s->last_error[0])
        buf_json_str(out, s->last_error, strlen(s->last_error));
    else
        buf_puts(out, "null");
    buf_putc(out, '}');
}

static void handle_get(const http_req *req, http_resp *resp, void *arg) {
    char name[WF_NAME_MAX + 1];
    bool logs = false;
    if (!parse_path(req->path, name, &logs)) {
        route_error(resp, 404, "expected /workflows/NAME or /workflows/NAME/logs");
        return;
    }
    wf_manager *m = manager_of(arg, resp);
    if (!m) return;
    if (logs) {
        if (wf_logs(m, name, &resp->body) < 0) {
            route_error(resp, 404, "no such workflow");
            return;
        }
        resp->status = 200;
        resp->content_type = "text/plain; charset=utf-8";
        return;
    }
    wf_status s;
    if (wf_status_get(m, name, &s) < 0) {
        route_error(resp, 404, "no such workflow");
        return;
    }
    resp->status = 200;
    status_json(&s, &resp->body);
}

static void handle_post(const http_req *req, http_resp *resp, void *arg) {
    char name[WF_NAME_MAX + 1];
    bool logs = false;
    if (!parse_path(req->path, name, &logs) || logs) {
        route_error(resp, 400, "deploy with POST /workflows/NAME (NAME: 1-64 of [A-Za-z0-9_.-])");
        return;
    }
    wf_manager *m = manager_of(arg, resp);
    if (!m) return;
    wf_status old;
    bool replacing = wf_status_get(m, name, &old) == 0;
    sl_diag d;
    int rc = wf_deploy(m, name, req->body, req->body_len, &d);
    if (rc < 0) {
        route_error(resp,
                    rc == SL_ELIMIT                  ? 413
                    : rc == -ENOMEM || rc == -EAGAIN ? 503
                                                     : 400,
                    d.msg[0] ? d.msg : sl_strerror(rc));
        return;
    }
    resp->status = replacing ? 200 : 201;
    buf_puts(&resp->body, "{\"name\":");
    buf_json_str(&resp->body, name, strlen(name));
    buf_puts(&resp->body, replacing ? ",\"replaced\":true}" : ",\"deployed\":true}");
}

static void handle_delete(const http_req *req, http_resp *resp, void *arg) {
    char name[WF_NAME_MAX + 1];
    bool logs = false;
    if (!parse_path(req->path, name, &logs) || logs) {
        route_error(resp, 404, "expected DELETE /workflows/NAME");
        return;
    }
    wf_manager *m = manager_of(arg, resp);
    if (!m) return;
    if (wf_remove(m, name) < 0) {
        route_error(resp, 404, "no such workflow");
        return;
    }
    resp->status = 200;
    buf_puts(&resp->body, "{\"name\":");
    buf_json_str(&resp->body, name, strlen(name));
    buf_puts(&resp->body, ",\"removed\":true}");
}

/* ---- the environment workflows run against ---- */

static int env_ws_send(void *arg, uint64_t conn_id, const uint8_t *p, size_t n) {
    server_ctx *ctx = arg;
    if (!ctx->net) return SL_ENOTFOUND;
    int rc = net_send_text(ctx->net, conn_id, p, n);
    return rc == -ENOMEM ? SL_ELIMIT : rc;
}

static int env_point_write(void *arg, point_batch *b) {
    server_ctx *ctx = arg;
    if (!ctx->ingest) return SL_ECLOSED;
    return ingest_write_wait(ctx->ingest, b);
}

static int env_live_register(void *arg, const char *text, size_t n, uint64_t *h, sl_diag *d) {
    server_ctx *ctx = arg;
    if (!ctx->live) return sl_diag_set(d, SL_ENOTFOUND, 0, "live queries are not running");
    return live_register(ctx->live, text, n, h, d);
}

static int env_live_unregister(void *arg, uint64_t h) {
    server_ctx *ctx = arg;
    return ctx->live ? live_unregister(ctx->live, h) : SL_ENOTFOUND;
}

static int env_live_poll(void *arg, uint64_t h, uint32_t timeout_ms, buf *out) {
    server_ctx *ctx = arg;
    return ctx->live ? live_poll(ctx->live, h, timeout_ms, out) : SL_ENOTFOUND;
}

static int env_history(void *arg, const char *text, size_t n, double *value, sl_diag *d) {
    server_ctx *ctx = arg;
    query_limits lim = {.series_max = ctx->cfg->query_series_max, .buckets_max = 0};
    query_result r;
    int rc = query_history(ctx->storage, text, n, &lim, &r, d);
    if (rc < 0) return rc;
    *value = r.value;
    query_result_free(&r);
    return 0;
}

/* `--wasm FILE`: the name is the file name without directory and ".wasm", with
 * bytes outside [A-Za-z0-9_.-] replaced by '_'. */
static int deploy_file(wf_manager *m, const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char name[WF_NAME_MAX + 1];
    size_t n = strlen(base);
    if (n > 5 && !strcmp(base + n - 5, ".wasm")) n -= 5;
    if (n > WF_NAME_MAX) n = WF_NAME_MAX;
    if (n == 0) {
        base = "main";
        n = 4;
    }
    memcpy(name, base, n);
    name[n] = 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            name[i] = '_';
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        log_error("workflow", "--wasm %s: %s", path, strerror(errno));
        return -errno;
    }
    buf bytes;
    buf_init(&bytes, MEM_WORKFLOW, WF_MODULE_BYTES_MAX);
    uint8_t chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&bytes, chunk, got);
    bool bad = ferror(f) || buf_failed(&bytes);
    fclose(f);
    if (bad) {
        log_error("workflow", "--wasm %s: unreadable or over %u bytes", path, WF_MODULE_BYTES_MAX);
        buf_free(&bytes);
        return SL_ELIMIT;
    }
    sl_diag d;
    int rc = wf_deploy(m, name, bytes.p, bytes.len, &d);
    buf_free(&bytes);
    if (rc < 0) {
        log_error("workflow", "--wasm %s: %s", path, d.msg[0] ? d.msg : sl_strerror(rc));
        return rc;
    }
    log_info("workflow", "--wasm %s runs as workflow '%s'", path, name);
    return 0;
}

int api_workflow_start(server_ctx *ctx) {
    const server_config *cfg = ctx->cfg;
    wf_config wc;
    wf_config_defaults(&wc);
    wc.memory_mb = cfg->wf_memory_mb;
    wc.call_depth_max = cfg->wf_call_depth_max;
    wc.writebacks_per_s = cfg->wf_writebacks_per_s;
    wc.http_timeout_ms = cfg->wf_http_timeout_ms;
    snprintf(wc.http_allow, sizeof(wc.http_allow), "%s", cfg->wf_http_allow);
    wc.http_follow_redirects = cfg->wf_http_follow_redirects;
    wc.restart_backoff_ms = cfg->wf_restart_backoff_ms;
    wc.log_bytes_max = cfg->wf_log_bytes_max;
    wf_env env = {
        .arg = ctx,
        .ws_send = env_ws_send,
        .point_write = env_point_write,
        .live_register = env_live_register,
        .live_unregister = env_live_unregister,
        .live_poll = env_live_poll,
        .history = env_history,
    };
    wf_manager *m = NULL;
    int rc = wf_manager_new(&wc, &env, &m);
    if (rc < 0) {
        log_error("workflow", "cannot start the workflow runtime: %s", sl_strerror(rc));
        return rc;
    }
    if (cfg->wasm_file[0] && (rc = deploy_file(m, cfg->wasm_file)) < 0) {
        wf_manager_free(m);
        return rc;
    }
    ctx->workflows = m;
    return 0;
}

void api_workflow_stop(server_ctx *ctx) {
    wf_stop_all(ctx->workflows);
}

void api_workflow_free(server_ctx *ctx) {
    wf_manager_free(ctx->workflows);
    ctx->workflows = NULL;
}

void api_workflow_routes(router *r, server_ctx *ctx) {
    /* Registration happens before the server starts; -ENOMEM here is fatal there. */
    (void)route_add(r, "GET", "/workflows", ROUTE_OFFLOAD, handle_list, ctx);
    (void)route_add(r, "GET", "/workflows/", ROUTE_PREFIX | ROUTE_OFFLOAD, handle_get, ctx);
    (void)route_add(r, "POST", "/workflows/", ROUTE_PREFIX | ROUTE_OFFLOAD, handle_post, ctx);
    (void)route_add(r, "DELETE", "/workflows/", ROUTE_PREFIX | ROUTE_OFFLOAD, handle_delete, ctx);
}
