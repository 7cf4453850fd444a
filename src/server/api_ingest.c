/* api_ingest.c - the ingest side's HTTP endpoints (spec/ingest.md "HTTP on the same
 * port"): POST / and plain GET / (400 with the hint to use WebSocket), GET /health,
 * POST /write (InfluxDB line protocol v1), GET /metrics (Prometheus text 0.0.4).
 * Invariants: (1) /health and /metrics only read counters (atomics, stats calls),
 *   so they run on the loop and never block; (2) /write is ROUTE_OFFLOAD: it waits
 *   for the apply queue on a worker thread, and a body is stored whole or not at
 *   all when it does not parse (lineproto_parse checks every line first).
 * Threads: handlers on the loop thread except /write (libuv worker); the rate
 *   sampler api_ingest_tick on the loop thread. */
#include "base/clock.h"
#include "base/log.h"
#include "ingest/ingest.h"
#include "ingest/lineproto.h"
#include "query/live.h"
#include "server/server_internal.h"
#include "storage/storage.h"
#include "workflow/workflow.h"

#include <stdatomic.h>
#include <string.h>

/* Ingest rate: points written during the last whole second (api_ingest_tick). */
static _Atomic uint64_t rate_points_per_s;
static uint64_t rate_last_points;

void api_ingest_tick(server_ctx *ctx) {
    storage_stats s;
    storage_get_stats(ctx->storage, &s);
    uint64_t d = s.points_written >= rate_last_points ? s.points_written - rate_last_points : 0;
    rate_last_points = s.points_written;
    atomic_store_explicit(&rate_points_per_s, d, memory_order_relaxed);
}

static void h_root(const http_req *req, http_resp *resp, void *arg) {
    (void)req;
    (void)arg;
    resp->status = 400;
    buf_puts(&resp->body,
             "{\"status\":\"ok\",\"info\":\"use websocket binary frames to stream data\"}");
}

static void h_health(const http_req *req, http_resp *resp, void *arg) {
    server_ctx *ctx = arg;
    (void)req;
    storage_stats st;
    storage_get_stats(ctx->storage, &st);
    net_stats ns;
    net_get_stats(ctx->net, &ns);
    buf *b = &resp->body;
    buf_puts(b, "{\"status\":\"ok\",\"version\":\"" SLUNG_VERSION "\",\"uptime_s\":");
    buf_json_i64(b, (clock_realtime_ns() - ctx->started_ns) / 1000000000);
    buf_puts(b, ",\"connections\":");
    buf_json_u64(b, ns.connections_open);
    buf_puts(b, ",\"producers\":");
    buf_json_u64(b, ns.websockets_open);
    buf_puts(b, ",\"points_written\":");
    buf_json_u64(b, st.points_written);
    buf_puts(b, ",\"series\":");
    buf_json_u64(b, st.series);
    buf_puts(b, ",\"points_per_s\":");
    buf_json_u64(b, atomic_load_explicit(&rate_points_per_s, memory_order_relaxed));
    buf_puts(b, ",\"durable_ticket\":");
    buf_json_u64(b, ingest_durable_ticket(ctx->ingest));
    buf_puts(b, ",\"live_queries\":");
    buf_json_u64(b, ctx->live ? live_count(ctx->live) : 0);
    buf_puts(b, ",\"memory_bytes\":");
    buf_json_u64(b, mem_in_use_total());
    buf_puts(b, ",\"corrupt_blocks\":");
    buf_json_u64(b, st.corrupt_blocks);
    buf_putc(b, '}');
}

typedef struct write_ctx {
    server_ctx *ctx;
    uint64_t points;
} write_ctx;

static int write_emit(point_batch *b, void *arg) {
    write_ctx *w = arg;
    uint32_t n = b->count;
    int rc = ingest_write_wait(w->ctx->ingest, b);
    if (rc == 0) w->points += n;
    return rc;
}

static void h_write(const http_req *req, http_resp *resp, void *arg) {
    server_ctx *ctx = arg;
    char prec_s[8];
    lineproto_precision prec = LINEPROTO_NS;
    int pr = route_query_param(req->query, "precision", prec_s, sizeof(prec_s));
    if (pr < 0 || (pr == 1 && lineproto_precision_parse(prec_s, strlen(prec_s), &prec) < 0)) {
        route_error(resp, 400, "precision must be one of ns, us, ms, s");
        return;
    }
    lineproto_limits lim;
    lineproto_limits_default(&lim);
    lim.tags_max = SL_MIN(ctx->cfg->tags_per_point_max, LINEPROTO_TAGS_MAX_CEILING);
    lineproto_parser lp;
    int rc = lineproto_parser_init(&lp, &lim);
    if (rc < 0) {
        route_error(resp, 503, "out of memory for the line protocol parser");
        return;
    }
    point_batch b;
    point_batch_init(&b);
    b.producer_id = req->conn_id;
    write_ctx w = {.ctx = ctx};
    sl_diag d;
    sl_diag_clear(&d);
    long n = lineproto_parse(&lp, req->body, req->body_len, prec, clock_realtime_ns(), &b,
                             write_emit, &w, &d);
    point_batch_free(&b);
    lineproto_parser_free(&lp);
    if (n >= 0) {
        resp->status = 204;
        return;
    }
    if (n == SL_EPARSE || n == SL_ELIMIT) {
        resp->status = 400;
        buf_puts(&resp->body, "{\"error\":");
        buf_json_str(&resp->body, d.msg, strlen(d.msg));
        buf_puts(&resp->body, ",\"offset\":");
        buf_json_u64(&resp->body, d.offset);
        buf_putc(&resp->body, '}');
        return;
    }
    char msg[160];
    snprintf(msg, sizeof(msg), "write failed after %llu points: %s", (unsigned long long)w.points,
             sl_strerror((int)n));
    route_error(resp, 500, msg);
}

static void metric(buf *b, const char *name, const char *type, const char *help, uint64_t v) {
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
               (unsigned long long)v);
}

static void h_metrics(const http_req *req, http_resp *resp, void *arg) {
    server_ctx *ctx = arg;
    (void)req;
    resp->content_type = "text/plain; version=0.0.4";
    storage_stats st;
    storage_get_stats(ctx->storage, &st);
    net_stats ns;
    net_get_stats(ctx->net, &ns);
    producer_stats ps;
    producers_get_stats(ctx->producers, &ps);
    buf *b = &resp->body;
    metric(b, "slung_points_written_total", "counter", "Points written to storage.",
           st.points_written);
    metric(b, "slung_ingest_points_per_second", "gauge",
           "Points written to storage during the last second.",
           atomic_load_explicit(&rate_points_per_s, memory_order_relaxed));
    metric(b, "slung_ingest_points_received_total", "counter",
           "Points in accepted WebSocket point frames.", ps.points_received);
    metric(b, "slung_ingest_frames_accepted_total", "counter", "Point frames accepted.",
           ps.frames_accepted);
    metric(b, "slung_ingest_frames_rejected_total", "counter",
           "Point frames rejected (malformed or over a limit).", ps.frames_rejected);
    metric(b, "slung_ingest_acks_sent_total", "counter", "{\"ack\":N} answers sent.", ps.acks_sent);
    metric(b, "slung_ingest_queue_full_total", "counter",
           "Times a producer was paused because the apply queue was full.", ps.submits_blocked);
    metric(b, "slung_series", "gauge", "Series in the index.", st.series);
    metric(b, "slung_connections_open", "gauge", "Open TCP connections.", ns.connections_open);
    metric(b, "slung_websockets_open", "gauge", "Open WebSocket connections.", ns.websockets_open);
    metric(b, "slung_connections_total", "counter", "Connections accepted.", ns.connections_total);
    metric(b, "slung_connections_refused_total", "counter",
           "Connections closed at once (over --connections-max, or out of memory).",
           ns.connections_refused);
    metric(b, "slung_http_requests_total", "counter", "HTTP requests dispatched.",
           ns.http_requests);
    metric(b, "slung_http_bad_requests_total", "counter",
           "HTTP requests refused as malformed or over a limit.", ns.http_bad_requests);
    metric(b, "slung_ws_messages_total", "counter", "WebSocket messages received.",
           ns.ws_messages_in);
    metric(b, "slung_ws_messages_too_big_total", "counter",
           "WebSocket messages over --frame-bytes-max (discarded).", ns.ws_messages_too_big);
    metric(b, "slung_ws_protocol_errors_total", "counter",
           "WebSocket connections failed for protocol errors.", ns.ws_protocol_errors);
    metric(b, "slung_net_reads_paused_total", "counter",
           "Times a connection stopped being read (backpressure).", ns.reads_paused);
    metric(b, "slung_net_bytes_received_total", "counter", "Bytes read from sockets.", ns.bytes_in);
    metric(b, "slung_net_bytes_sent_total", "counter", "Bytes written to sockets.", ns.bytes_out);
    metric(b, "slung_wal_fsyncs_total", "counter", "WAL fsyncs.", st.fsyncs);
    buf_printf(b,
               "# HELP slung_wal_fsync_seconds_total Time spent in WAL fsyncs.\n"
               "# TYPE slung_wal_fsync_seconds_total counter\nslung_wal_fsync_seconds_total %.9f\n"
               "# HELP slung_wal_fsync_seconds_max Longest WAL fsync.\n"
               "# TYPE slung_wal_fsync_seconds_max gauge\nslung_wal_fsync_seconds_max %.9f\n",
               (double)st.fsync_ns_total / 1e9, (double)st.fsync_ns_max / 1e9);
    metric(b, "slung_wal_bytes", "gauge", "Bytes in WAL files.", st.wal_bytes);
    metric(b, "slung_segment_bytes", "gauge", "Bytes in segment files.", st.segment_bytes);
    metric(b, "slung_segments", "gauge", "Segment files.", st.segments);
    metric(b, "slung_memtable_bytes", "gauge", "Bytes in the memtable.", st.memtable_bytes);
    metric(b, "slung_corrupt_blocks", "gauge", "Stored blocks that failed verification.",
           st.corrupt_blocks);
    metric(b, "slung_live_queries", "gauge", "Registered live queries.",
           ctx->live ? live_count(ctx->live) : 0);
    /* Workflows per state, counted from the manager's own listing. */
    if (ctx->workflows) {
        buf list;
        buf_init(&list, MEM_WORKFLOW, 0);
        wf_list_json(ctx->workflows, &list);
        const char *text = buf_cstr(&list);
        buf_puts(b, "# HELP slung_workflows Workflows by state.\n# TYPE slung_workflows gauge\n");
        for (int w = WF_RUNNING; w <= WF_FAILED; w++) {
            char needle[48];
            snprintf(needle, sizeof(needle), "\"state\":\"%s\"", wf_state_name((wf_state)w));
            uint64_t n = 0;
            for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
                n++;
            buf_printf(b, "slung_workflows{state=\"%s\"} %llu\n", wf_state_name((wf_state)w),
                       (unsigned long long)n);
        }
        buf_free(&list);
    }
    buf_puts(b, "# HELP slung_memory_bytes Heap bytes in use per owner.\n"
                "# TYPE slung_memory_bytes gauge\n");
    for (int t = 0; t < MEM_TAG_COUNT; t++)
        buf_printf(b, "slung_memory_bytes{tag=\"%s\"} %zu\n", mem_tag_name((mem_tag)t),
                   mem_in_use((mem_tag)t));
}

void api_ingest_routes(router *r, server_ctx *ctx) {
    int rc = 0;
    rc |= route_add(r, "GET", "/health", 0, h_health, ctx);
    rc |= route_add(r, "GET", "/metrics", 0, h_metrics, ctx);
    rc |= route_add(r, "POST", "/write", ROUTE_OFFLOAD, h_write, ctx);
    rc |= route_add(r, "GET", "/", 0, h_root, ctx);
    rc |= route_add(r, "POST", "/", 0, h_root, ctx);
    if (rc != 0) log_error("server", "cannot register the ingest routes");
}
