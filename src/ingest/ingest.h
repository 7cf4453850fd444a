/* ingest.h - decoded points on their way into storage and live queries.
 *
 * The network loop decodes frames (frame.h) and line protocol (lineproto.h) into
 * point batches and submits them here. One apply thread takes batches from a
 * bounded queue, calls storage_write(), then the sink (live queries). The queue
 * never drops: when it is full, ingest_submit() refuses (-EAGAIN) and the caller
 * stops reading from that producer until the space callback fires, so TCP flow
 * control pushes back. Threads: see each function. */
#ifndef SL_INGEST_H
#define SL_INGEST_H

#include "base/batch.h"
#include "base/common.h"
#include "base/err.h"

#include <stdint.h>

struct storage;
typedef struct ingest ingest;

/* Default batches in the apply queue (ingest_opts.queue_batches = 0). */
#define INGEST_QUEUE_BATCHES_DEFAULT 1024u
#define INGEST_QUEUE_BATCHES_CEILING (1u << 20)

/* Points queued but not yet applied. Past it ingest_submit() refuses (-EAGAIN)
 * unless the queue is empty, so one big batch always gets in. Bounds the memory
 * the queue pins (about 28 bytes a point plus keys) whatever the batch sizes:
 * 1 M points is ~0.4 s of work at the target rate. Ceiling: BATCH_POINTS_MAX
 * times the batch ceiling would not fit in memory, so 64 M. */
#define INGEST_QUEUE_POINTS_DEFAULT (1u << 20)
#define INGEST_QUEUE_POINTS_CEILING (64u << 20)
static_assert(INGEST_QUEUE_POINTS_DEFAULT <= INGEST_QUEUE_POINTS_CEILING, "default > ceiling");

/* Bytes of queued batches (28 a point plus their series keys). Past it, as for
 * points: -EAGAIN unless the queue is empty. Bounds what few big-keyed points can
 * pin: 1024 one-point frames of 1 MiB keys would otherwise hold 1 GiB. */
#define INGEST_QUEUE_BYTES_DEFAULT (64u << 20)
#define INGEST_QUEUE_BYTES_CEILING (1u << 30)
static_assert(INGEST_QUEUE_BYTES_DEFAULT <= INGEST_QUEUE_BYTES_CEILING, "default > ceiling");

/* Apply thread, after a batch is visible in storage (series ids filled). */
typedef void (*ingest_sink_fn)(const point_batch *b, void *arg);

/* Apply thread: queue space freed after an ingest_submit() returned -EAGAIN. */
typedef void (*ingest_space_fn)(void *arg);
/* WAL thread: every batch with ticket <= ticket is durable (acks may be sent). */
typedef void (*ingest_durable_fn)(uint64_t ticket, void *arg);

typedef struct ingest_opts {
    uint32_t queue_batches;   /* bounded apply queue; default 1024 */
    ingest_sink_fn sink;      /* may be NULL */
    void *sink_arg;
    ingest_space_fn on_space; /* may be NULL */
    ingest_durable_fn on_durable; /* may be NULL */
    void *cb_arg;             /* for on_space and on_durable */
    uint32_t queue_points;    /* bound on queued points; 0 = INGEST_QUEUE_POINTS_DEFAULT */
    uint32_t queue_bytes;     /* bound on queued bytes; 0 = INGEST_QUEUE_BYTES_DEFAULT */
} ingest_opts;

/* Starts the apply thread. SL_EINVAL for a limit past its ceiling, -ENOMEM, or
 * the pthread error. on_durable runs on the WAL thread (from
 * ingest_storage_durable) or on the apply thread (which also polls storage's
 * durable seq while tickets wait), never two at once, tickets increasing; it must
 * not call ingest_free. */
int ingest_new(struct storage *st, const ingest_opts *opts, ingest **out);
/* Drains the queue (everything submitted is applied), stops the thread. NULL ok. */
void ingest_free(ingest *in);

/* Network loop: never blocks. On success takes ownership of *b's contents (b is
 * left empty and reusable) and sets *ticket: tickets increase by one per accepted
 * batch in submission order, and a batch is durable once on_durable reports a
 * ticket >= its own. -EAGAIN when the queue is full: nothing is taken; retry after
 * on_space. A batch that storage refuses (series limit, disk full) is logged and
 * counted, and its ticket still completes so acks never hang. */
int ingest_submit(ingest *in, point_batch *b, uint64_t *ticket);
/* (ingest_submit also returns SL_EINVAL for an empty batch and SL_ECLOSED once
 * ingest_free has begun; nothing is taken either way.) */
/* Highest durable ticket so far. Any thread. */
uint64_t ingest_durable_ticket(const ingest *in);

/* Optional, for the lowest ack latency: call from storage's durable callback
 * (storage_opts.durable_cb, WAL thread) with its durable_seq. Without it the apply
 * thread polls storage_durable_seq() every INGEST_DURABLE_POLL_MS while tickets
 * wait. in == NULL (storage opened before ingest) is a no-op. */
#define INGEST_DURABLE_POLL_MS 1u
void ingest_storage_durable(ingest *in, uint64_t durable_seq);

/* Figures for /health and /metrics. Any thread. */
typedef struct ingest_stats {
    uint64_t batches_applied; /* storage_write succeeded */
    uint64_t points_applied;
    uint64_t batches_failed;  /* storage_write refused (logged, ticket completed) */
    uint64_t points_failed;
    uint64_t queue_full;      /* ingest_submit returned -EAGAIN */
    uint64_t queue_batches;   /* now in the queue */
    uint64_t queue_points;    /* now in the queue */
    uint64_t queue_bytes;     /* now in the queue (28 a point plus keys) */
    uint64_t tickets_issued;  /* last ticket handed out */
    uint64_t durable_ticket;  /* ingest_durable_ticket() */
} ingest_stats;
void ingest_get_stats(const ingest *in, ingest_stats *out);

/* From a thread that may block (workflows' write_event, HTTP worker threads):
 * takes ownership of *b's contents (b is left empty and reusable), waits for
 * queue space, and returns once the batch is applied (visible) with its status
 * (storage_write's). SL_ECLOSED (nothing taken) once ingest_free has begun;
 * SL_EINVAL (nothing taken) for an empty batch, as ingest_submit. */
int ingest_write_wait(ingest *in, point_batch *b);

#endif
