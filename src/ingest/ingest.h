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
#include "base/err.h"

#include <stdint.h>

struct storage;
typedef struct ingest ingest;

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
} ingest_opts;

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
/* Highest durable ticket so far. Any thread. */
uint64_t ingest_durable_ticket(const ingest *in);

/* From a thread that may block (workflows' write_event, HTTP worker threads):
 * takes ownership of *b's contents (b is left empty and reusable), waits for
 * queue space, and returns once the batch is applied (visible) with its status. */
int ingest_write_wait(ingest *in, point_batch *b);

#endif
