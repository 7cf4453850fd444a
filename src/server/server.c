/* server.c - `slung serve`: start the modules in order, run the network loop, stop
 * them in reverse on SIGINT/SIGTERM.
 *
 * Start: storage (opens and replays the WAL) -> live registry -> producers + ingest
 *   (apply thread) -> routes -> network (listen) -> workflows -> loop.
 * Stop (signal -> workflows stop, net_stop): the loop closes every connection
 *   (WebSockets get close 1001); producers hand over points still held
 *   (producers_drain); ingest drains its queue (every accepted point is applied) and
 *   stops its threads; only then are producers and the net freed (ingest's threads
 *   call into both until ingest_free returns); storage_close syncs the WAL; exit
 *   status 0. A second signal during shutdown exits at once (1).
 * Invariants: (1) nothing is torn down while a thread that uses it still runs:
 *   the loop stops before ingest, ingest before producers, net and storage; (2) every
 *   failure at start is one clear log line and a non-zero exit, never a half-running
 *   server.
 * Threads: the caller's thread becomes the network loop thread. */
#include "server/server.h"

#include "base/clock.h"
#include "base/log.h"
#include "ingest/ingest.h"
#include "query/live.h"
#include "server/server_internal.h"
#include "storage/storage.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

typedef struct server {
    server_ctx ctx;
    net *net;
    uv_signal_t sig_int;
    uv_signal_t sig_term;
    uv_timer_t tick;
    int signals;           /* signals received */
} server;

static void on_signal(uv_signal_t *h, int signum) {
    server *s = h->data;
    if (++s->signals > 1) {
        log_warn("server", "second signal during shutdown: exiting now");
        _exit(1);
    }
    log_info("server", "%s received: shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    api_workflow_stop(&s->ctx); /* before the loop closes the connections they write to */
    net_stop(s->net);
}

static void on_tick(uv_timer_t *t) {
    server *s = t->data;
    api_ingest_tick(&s->ctx);
    producers_tick(s->ctx.producers);
}

static int fsync_policy(const char *name, storage_fsync *out) {
    if (!strcmp(name, "batch")) {
        *out = STORAGE_FSYNC_BATCH;
    } else if (!strcmp(name, "always")) {
        *out = STORAGE_FSYNC_ALWAYS;
    } else if (!strcmp(name, "none")) {
        *out = STORAGE_FSYNC_NONE;
    } else {
        return SL_EINVAL;
    }
    return 0;
}

static void live_sink(const point_batch *b, void *arg) {
    server_ctx *ctx = arg;
    if (ctx->live) live_feed(ctx->live, b);
}

int server_run(const server_config *cfg) {
    server s;
    memset(&s, 0, sizeof(s));
    s.ctx.cfg = cfg;
    s.ctx.started_ns = clock_realtime_ns();
    int level = log_level_parse(cfg->log_level);
    if (level >= 0) log_set_level((log_level)level);
    signal(SIGPIPE, SIG_IGN);
    /* --connections-max sockets need as many descriptors: take the hard limit. */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &nofile);
    }
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY &&
        nofile.rlim_cur < (rlim_t)cfg->connections_max + 64)
        log_warn("server", "open-file limit %llu is below --connections-max %u: raise ulimit -n",
                 (unsigned long long)nofile.rlim_cur, cfg->connections_max);
    int rc;
    int status = 1;
    router *r = NULL;
    sl_diag d;
    sl_diag_clear(&d);

    /* 1. Storage: recovery happens here. */
    storage_opts so;
    storage_opts_default(&so);
    so.dir = cfg->data_dir;
    if (fsync_policy(cfg->fsync, &so.fsync) < 0) {
        log_error("server", "--fsync must be batch, always or none (got '%s')", cfg->fsync);
        return 2;
    }
    so.fsync_interval_ms = cfg->fsync_interval_ms;
    so.memtable_bytes_max = cfg->memtable_bytes_max;
    so.retention_ns = cfg->retention_s * 1000000000;
    so.series_max = cfg->series_max;
    /* Durability reaches producers through ingest's on_durable callback. */
    if ((rc = storage_open(&so, &s.ctx.storage, &d)) < 0) {
        log_error("server", "cannot open data directory %s: %s", cfg->data_dir,
                  d.msg[0] ? d.msg : sl_strerror(rc));
        return 1;
    }

    /* 2. Live registry: the query module creates it here (s.ctx.live). */
    if ((rc = live_registry_new(cfg->live_queries_max, &s.ctx.live)) < 0) {
        log_error("server", "cannot create the live query registry: %s", sl_strerror(rc));
        storage_close(s.ctx.storage);
        return 1;
    }

    /* 3. Ingest. Producers exist first because ingest calls back into them. */
    frame_limits fl;
    frame_limits_default(&fl);
    fl.frame_bytes_max = cfg->frame_bytes_max;
    fl.tags_per_point_max = cfg->tags_per_point_max;
    if ((rc = producers_new(&s.ctx, &fl, &s.ctx.producers)) < 0) {
        log_error("server", "cannot set up producers: %s", sl_strerror(rc));
        goto close_storage;
    }
    ingest_opts io = {
        .queue_batches = cfg->ingest_queue_batches,
        .sink = live_sink,
        .sink_arg = &s.ctx,
        .on_space = producers_on_space,
        .on_durable = producers_on_durable,
        .cb_arg = s.ctx.producers,
    };
    if ((rc = ingest_new(s.ctx.storage, &io, &s.ctx.ingest)) < 0) {
        log_error("server", "cannot start the apply thread: %s", sl_strerror(rc));
        goto free_producers;
    }

    /* 4. Workflows start right after net_new below (api_workflow_start), so that
     *    net_send_text(s.ctx.net, ...) is their WebSocket writeback. */

    /* 5. Routes and the network. */
    if (router_new(&r) < 0) {
        log_error("server", "out of memory for the router");
        goto stop_all;
    }
    api_ingest_routes(r, &s.ctx);
    api_query_routes(r, &s.ctx);
    api_workflow_routes(r, &s.ctx);
    net_opts no = {
        .listen_addr = cfg->listen_addr,
        .port = cfg->port,
        .connections_max = cfg->connections_max,
        .frame_bytes_max = cfg->frame_bytes_max,
        .http_body_bytes_max = cfg->http_body_bytes_max,
        .send_queue_bytes_max = cfg->send_queue_bytes_max,
        .router = r,
        .ws = producers_handler(s.ctx.producers),
    };
    if ((rc = net_new(&no, &s.net, &d)) < 0) {
        log_error("server", "%s", d.msg);
        goto stop_all;
    }
    s.ctx.net = s.net;
    /* 4. Workflows (api_workflow.c), now that writebacks can reach the net. */
    if ((rc = api_workflow_start(&s.ctx)) < 0) goto stop_all;
    uv_loop_t *loop = net_loop(s.net);
    uv_signal_init(loop, &s.sig_int);
    uv_signal_init(loop, &s.sig_term);
    s.sig_int.data = s.sig_term.data = &s;
    uv_signal_start(&s.sig_int, on_signal, SIGINT);
    uv_signal_start(&s.sig_term, on_signal, SIGTERM);
    uv_timer_init(loop, &s.tick);
    s.tick.data = &s;
    uv_timer_start(&s.tick, on_tick, 1000, 1000);
    /* Unreferenced: they must not keep net_run's final loop turn alive. */
    uv_unref((uv_handle_t *)&s.tick);
    uv_unref((uv_handle_t *)&s.sig_int);
    uv_unref((uv_handle_t *)&s.sig_term);
    log_info("server", "slung %s listening on %s:%u (data %s, fsync %s)", SLUNG_VERSION,
             cfg->listen_addr, net_port(s.net), cfg->data_dir, cfg->fsync);

    net_run(s.net); /* until SIGINT/SIGTERM */

    uv_close((uv_handle_t *)&s.sig_int, NULL);
    uv_close((uv_handle_t *)&s.sig_term, NULL);
    uv_close((uv_handle_t *)&s.tick, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    status = 0;
stop_all:
    /* Producers' held points go in before the apply thread drains and stops. The net
     * is freed last: ingest's threads may still post to it (refused once closed). */
    api_workflow_free(&s.ctx);
    producers_drain(s.ctx.producers);
    ingest_free(s.ctx.ingest); /* its threads call into producers until it returns */
    producers_free(s.ctx.producers);
    s.ctx.producers = NULL;
    net_free(s.net);
    router_free(r);
    goto close_storage;
free_producers:
    producers_free(s.ctx.producers);
close_storage:
    live_registry_free(s.ctx.live); /* after ingest (its feeder) and workflows (pollers) */
    s.ctx.live = NULL;
    storage_close(s.ctx.storage); /* fsyncs the WAL */
    if (status == 0) log_info("server", "stopped cleanly");
    return status;
}
