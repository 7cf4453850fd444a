/* server_internal.h - shared by the files of src/server only: the WebSocket
 * producer glue (producer.c) that server.c wires between net and ingest, and the
 * figures api_ingest.c reports. Threads: see each function. */
#ifndef SL_SERVER_INTERNAL_H
#define SL_SERVER_INTERNAL_H

#include "ingest/frame.h"
#include "net/net.h"
#include "server/server.h"

/* {"ack":N} requests waiting for durability, per connection. Past it the
 * connection is not read until acks drain (bounds memory per producer). */
#define PRODUCER_ACKS_PENDING_MAX 4096u

/* Points a producer accumulates from several messages of one read before its batch
 * is submitted early. Bounds the latency and memory of one read; the batch is
 * submitted at the end of every read anyway. */
#define PRODUCER_BATCH_POINTS_SUBMIT 8192u

typedef struct producers producers;

typedef struct producer_stats {
    uint64_t frames_accepted; /* point frames decoded and queued */
    uint64_t
        frames_rejected; /* malformed or over a limit (each got an error frame unless opted out) */
    uint64_t points_received;   /* points in accepted frames */
    uint64_t acks_sent;         /* {"ack":N} answers */
    uint64_t batches_submitted; /* batches handed to ingest */
    uint64_t submits_blocked;   /* times the apply queue was full */
    uint64_t producers_open;    /* WebSocket producers now */
} producer_stats;

/* Loop thread (before net_run). ctx->ingest must be set; ctx->net is set later. */
int producers_new(server_ctx *ctx, const frame_limits *limits, producers **out);
/* After net_run returned, before ingest_free: submits the points producers still
 * hold (blocking). */
void producers_drain(producers *p);
/* After ingest_free (ingest's threads call producers_on_space/on_durable until then). */
void producers_free(producers *p);
/* The handler to give net_new. */
net_ws_handler producers_handler(producers *p);
/* ingest callbacks (apply thread and WAL thread): post work to the loop. */
void producers_on_space(void *arg);
void producers_on_durable(uint64_t ticket, void *arg);
/* Loop thread, about once a second: idle producers release their batch memory. */
void producers_tick(producers *p);
/* Any thread. */
void producers_get_stats(const producers *p, producer_stats *out);

/* api_ingest.c: samples the ingest rate; the server calls it once a second (loop). */
void api_ingest_tick(server_ctx *ctx);

#endif
