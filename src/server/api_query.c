/* api_query.c - GET /query?q=<query>: a historical query (spec/query.md).
 *
 *   200 {"value":V,"count":N}                        V null when nothing matched
 *   200 {"value":V,"count":N,"buckets":[{"start":T,"value":V,"count":N},...]}  group-by
 *   400 {"error":"expected ']' at column 17"}         the query does not parse
 *   400 {"error":"missing query parameter q"}          no q= (or q holds "%00")
 *   422 {"error":"query matches more than N series (limit --query-series-max)"}
 *   500 {"error":"..."}                               storage failed
 * Registered with ROUTE_OFFLOAD: it reads storage and may take milliseconds, so it
 * runs on an HTTP worker thread, never the network loop.
 * Threads: HTTP worker threads; query_history is safe concurrently with ingest. */
#include "query/query.h"
#include "server/server.h"

#include <stdio.h>
#include <string.h>

static void handle_query(const http_req *req, http_resp *resp, void *arg) {
    server_ctx *ctx = arg;
    char text[QUERY_TEXT_BYTES_MAX + 1];
    int rc = route_query_param(req->query, "q", text, sizeof(text));
    if (rc == 0) {
        route_error(resp, 400, "missing query parameter q (GET /query?q=AVG:cpu:[host=a]:[1h])");
        return;
    }
    if (rc == SL_EINVAL) {
        route_error(resp, 400, "query parameter q holds a NUL byte (%00)");
        return;
    }
    if (rc < 0) {
        char msg[96];
        snprintf(msg, sizeof(msg), "query longer than %u bytes", QUERY_TEXT_BYTES_MAX);
        route_error(resp, 400, msg);
        return;
    }
    query_limits lim = {.series_max = ctx->cfg ? ctx->cfg->query_series_max : 0, .buckets_max = 0};
    query_result r;
    sl_diag d;
    sl_diag_clear(&d);
    rc = query_history(ctx->storage, text, strlen(text), &lim, &r, &d);
    if (rc < 0) {
        int status = rc == SL_EPARSE ? 400 : rc == SL_ELIMIT ? 422 : 500;
        route_error(resp, status, d.msg[0] ? d.msg : sl_strerror(rc));
        return;
    }
    resp->status = 200;
    query_result_json(&r, &resp->body);
    query_result_free(&r);
}

void api_query_routes(router *r, server_ctx *ctx) {
    /* Registration happens before the server starts; -ENOMEM here is fatal there. */
    (void)route_add(r, "GET", "/query", ROUTE_OFFLOAD, handle_query, ctx);
}
