/* server.h - wires the modules together and owns their lifetimes (`slung serve`).
 *
 * Start order: storage (recovery) -> live registry -> ingest apply thread ->
 * workflows -> network loop; stop in reverse, syncing the WAL last. Each module's
 * HTTP endpoints live in src/server/api_<module>.c and register through the
 * functions below, so no module depends on net's internals. */
#ifndef SL_SERVER_H
#define SL_SERVER_H

#include "net/route.h"
#include "server/config.h"

struct storage;
struct ingest;
struct live_registry;
struct wf_manager;

/* What endpoint handlers may use. Pointers are valid while the server runs. */
typedef struct server_ctx {
    const server_config *cfg;
    struct storage *storage;
    struct ingest *ingest;
    struct live_registry *live;
    struct wf_manager *workflows;  /* NULL until the workflow runtime is started */
    int64_t started_ns;            /* wall clock at start, for /health */
    struct net *net;               /* network loop: net_send_text (net/net.h) for writebacks */
    struct producers *producers;   /* WebSocket producers (src/server/producer.c), for /metrics */
} server_ctx;

/* Runs the server until SIGINT/SIGTERM; returns the process exit status. */
int server_run(const server_config *cfg);

/* Route registration, one per api_<module>.c file. */
void api_ingest_routes(router *r, server_ctx *ctx);   /* /, /health, /write, /metrics */
void api_query_routes(router *r, server_ctx *ctx);    /* /query */
void api_workflow_routes(router *r, server_ctx *ctx); /* /workflows... */

/* The workflow runtime (api_workflow.c). start: after net_new (ctx->net set, before
 * net_run), creates ctx->workflows wired to net, ingest, live and storage, and runs
 * cfg->wasm_file if set (a refused module fails the start, logged). stop: stops
 * every workflow (call before the loop closes connections). free: after net_run. */
int api_workflow_start(server_ctx *ctx);
void api_workflow_stop(server_ctx *ctx);
void api_workflow_free(server_ctx *ctx);

#endif
