/* ingest.c - the bounded apply queue, its apply thread, and ack tickets.
 *
 * Producers (the network loop through ingest_submit, blocking callers through
 * ingest_write_wait) put batches into a FIFO ring under in->mu. One apply thread
 * takes them in order, calls storage_write() (visible), then the sink (live
 * queries), and records (seq, ticket) so the batch's ticket completes once
 * storage reports seq durable. The ticket of a batch storage refused completes
 * with the batches before it, so acks never hang.
 *
 * Invariants: (1) tickets are issued 1, 2, 3... in queue order and the queue is
 * FIFO, so batches are applied in ticket order; (2) count <= cap, and
 * queued_points and queued_bytes are within their bounds unless a single batch
 * is queued; (3) pend[] holds
 * (seq, ticket) pairs with both increasing; a ticket is reported durable only
 * when storage's durable seq reached the seq of its batch (or, for a refused
 * batch, of the last batch written before it); (4) durable_ticket only grows and
 * on_durable runs under dmu, so reports are in order and never concurrent;
 * (5) nothing is dropped: everything queued is applied before the thread exits.
 * Memory: applied batches' arrays go to a small free list (INGEST_RECYCLE_*) and
 * are handed back to producers by ingest_submit, so steady state allocates nothing.
 * Threads: mu guards the ring, free list, flags; dmu guards pend[] and the
 * on_durable call; stats are atomics. Lock order: never both at once. */
#include "ingest/ingest.h"
#include "base/buf.h" /* storage.h uses buf without including it */
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "storage/storage.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

/* Applied batches kept for reuse (so producers that run ahead of the apply thread
 * still get grown arrays back), the largest one kept, and the bytes kept in all:
 * idle memory stays under INGEST_RECYCLE_BYTES_MAX. */
#define INGEST_RECYCLE_BATCHES 256u
#define INGEST_RECYCLE_POINTS_MAX (16u * 1024u)
#define INGEST_RECYCLE_KEY_BYTES_MAX (1u << 20)
#define INGEST_RECYCLE_BYTES_MAX (16u << 20)

/* (seq, ticket) pairs waiting for durability. When full, the newest entry is
 * overwritten by the next (a later seq and ticket): reports get coarser, never
 * early, and the array never grows. */
#define INGEST_PEND_MAX 4096u

/* Storage failures logged per second; the rest are counted. */
#define INGEST_LOG_PER_SEC 5u

typedef struct ingest_waiter {
    bool done; /* set by the apply thread under mu */
    int rc;    /* storage_write's status */
} ingest_waiter;

typedef struct ingest_slot {
    point_batch batch;     /* owned while queued */
    uint64_t ticket;       /* issued at submit */
    ingest_waiter *waiter; /* ingest_write_wait's, or NULL */
} ingest_slot;

typedef struct ingest_pend {
    uint64_t seq;    /* storage seq that must be durable */
    uint64_t ticket; /* completes then */
} ingest_pend;

struct ingest {
    storage *st;
    ingest_opts opts;        /* copy; queue_batches, queue_points, queue_bytes defaulted */
    pthread_t thread;        /* the apply thread */
    pthread_mutex_t mu;      /* ring, free list, flags below */
    pthread_cond_t nonempty; /* apply thread waits for work */
    pthread_cond_t space;    /* ingest_write_wait waits for room */
    pthread_cond_t applied;  /* ingest_write_wait waits for its batch */
    ingest_slot *slots;      /* [opts.queue_batches] ring */
    uint32_t head;           /* oldest queued slot */
    uint32_t count;          /* queued batches */
    uint64_t queued_points;  /* points in queued batches */
    uint64_t queued_bytes;   /* queued_size() of queued batches */
    uint64_t next_ticket;    /* last ticket issued */
    point_batch *free_list;  /* [INGEST_RECYCLE_BATCHES] reset batches to hand out */
    uint32_t free_count;
    size_t free_bytes; /* arrays held by free_list */
    bool closing;      /* ingest_free has begun: refuse new work, drain */
    bool want_space;   /* a submit was refused; call on_space when room frees */

    pthread_mutex_t dmu; /* pend ring and the on_durable call */
    ingest_pend *pend;   /* [INGEST_PEND_MAX] */
    uint32_t pend_head;
    uint32_t pend_count;
    uint64_t last_seq; /* apply thread: seq of the last batch storage took */
    log_ratelimit rl;  /* apply thread */

    _Atomic uint64_t durable_ticket;
    _Atomic uint64_t batches_applied;
    _Atomic uint64_t points_applied;
    _Atomic uint64_t batches_failed;
    _Atomic uint64_t points_failed;
    _Atomic uint64_t queue_full;
};

/* ---- durability ---- */

/* Reports every ticket whose seq is durable. Any thread; takes dmu. */
static void ingest_complete(ingest *in, uint64_t durable_seq) {
    pthread_mutex_lock(&in->dmu);
    uint64_t ticket = 0;
    while (in->pend_count > 0 && in->pend[in->pend_head].seq <= durable_seq) {
        ticket = in->pend[in->pend_head].ticket;
        in->pend_head = (in->pend_head + 1) % INGEST_PEND_MAX;
        in->pend_count--;
    }
    if (ticket > 0) {
        SL_ASSERT(ticket > atomic_load(&in->durable_ticket));
        atomic_store(&in->durable_ticket, ticket);
        if (in->opts.on_durable) in->opts.on_durable(ticket, in->opts.cb_arg);
    }
    pthread_mutex_unlock(&in->dmu);
}

/* Apply thread: ticket completes once seq is durable. */
static void ingest_pend_push(ingest *in, uint64_t seq, uint64_t ticket) {
    pthread_mutex_lock(&in->dmu);
    if (in->pend_count > 0) {
        ingest_pend *last = &in->pend[(in->pend_head + in->pend_count - 1) % INGEST_PEND_MAX];
        SL_ASSERT(last->ticket < ticket);
        SL_ASSERT(last->seq <= seq);
        if (in->pend_count == INGEST_PEND_MAX || last->seq == seq) {
            last->seq = seq; /* coarser, never early: see INGEST_PEND_MAX */
            last->ticket = ticket;
            pthread_mutex_unlock(&in->dmu);
            return;
        }
    }
    in->pend[(in->pend_head + in->pend_count) % INGEST_PEND_MAX] = (ingest_pend){seq, ticket};
    in->pend_count++;
    pthread_mutex_unlock(&in->dmu);
}

static bool ingest_pend_waiting(ingest *in) {
    pthread_mutex_lock(&in->dmu);
    bool waiting = in->pend_count > 0;
    pthread_mutex_unlock(&in->dmu);
    return waiting;
}

void ingest_storage_durable(ingest *in, uint64_t durable_seq) {
    if (in) ingest_complete(in, durable_seq);
}

uint64_t ingest_durable_ticket(const ingest *in) {
    return atomic_load(&((ingest *)in)->durable_ticket);
}

/* ---- the apply thread ---- */

/* Applies one batch: storage, then the sink. Returns storage's status. */
static int ingest_apply(ingest *in, point_batch *b, uint64_t ticket) {
    int rc = storage_write(in->st, b);
    if (rc == 0) {
        SL_ASSERT(b->seq >= in->last_seq);
        in->last_seq = b->seq;
        atomic_fetch_add(&in->batches_applied, 1);
        atomic_fetch_add(&in->points_applied, b->count);
        if (in->opts.sink) in->opts.sink(b, in->opts.sink_arg);
    } else {
        atomic_fetch_add(&in->batches_failed, 1);
        atomic_fetch_add(&in->points_failed, b->count);
        uint32_t suppressed;
        if (log_ratelimit_allow(&in->rl, INGEST_LOG_PER_SEC, &suppressed))
            log_warn("ingest",
                     "storage refused a batch of %u points from producer %llu: %s (%u more "
                     "suppressed)",
                     b->count, (unsigned long long)b->producer_id, sl_strerror(rc), suppressed);
    }
    /* A refused batch completes with the batches before it. */
    ingest_pend_push(in, in->last_seq, ticket);
    ingest_complete(in, storage_durable_seq(in->st));
    return rc;
}

/* What a queued batch counts against queue_bytes: its points and keys in use. */
static uint64_t queued_size(const point_batch *b) {
    return (uint64_t)b->count * (8 + 8 + 4 + 4 + 4) + b->keys_len;
}

/* Bytes of b's arrays (ts, value, series_id, key_off, key_len, keys). */
static size_t batch_bytes(const point_batch *b) {
    return (size_t)b->cap * (8 + 8 + 4 + 4 + 4) + b->keys_cap;
}

/* Under mu: keeps b's arrays for reuse, or frees them. b is left zeroed. */
static void ingest_recycle(ingest *in, point_batch *b) {
    size_t bytes = batch_bytes(b);
    if (in->free_count < INGEST_RECYCLE_BATCHES && b->cap <= INGEST_RECYCLE_POINTS_MAX &&
        b->keys_cap <= INGEST_RECYCLE_KEY_BYTES_MAX &&
        in->free_bytes + bytes <= INGEST_RECYCLE_BYTES_MAX) {
        point_batch_reset(b);
        in->free_list[in->free_count++] = *b;
        in->free_bytes += bytes;
    } else {
        point_batch_free(b);
    }
    point_batch_init(b);
}

static void ingest_wait_work(ingest *in) {
    while (in->count == 0 && !in->closing) {
        pthread_mutex_unlock(&in->mu);
        bool waiting = ingest_pend_waiting(in);
        if (waiting) ingest_complete(in, storage_durable_seq(in->st));
        pthread_mutex_lock(&in->mu);
        if (in->count > 0 || in->closing) break;
        if (waiting) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_nsec += (long)INGEST_DURABLE_POLL_MS * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&in->nonempty, &in->mu, &until);
        } else {
            pthread_cond_wait(&in->nonempty, &in->mu);
        }
    }
}

static void *ingest_thread(void *arg) {
    ingest *in = arg;
    point_batch work;
    point_batch_init(&work);
    pthread_mutex_lock(&in->mu);
    for (;;) {
        ingest_wait_work(in);
        if (in->count == 0) break; /* closing and drained */
        ingest_slot *s = &in->slots[in->head];
        work = s->batch;
        point_batch_init(&s->batch);
        uint64_t ticket = s->ticket;
        ingest_waiter *waiter = s->waiter;
        in->head = (in->head + 1) % in->opts.queue_batches;
        in->count--;
        in->queued_points -= work.count;
        in->queued_bytes -= queued_size(&work);
        /* Resume a refused producer once a useful amount of room is free (an
         * eighth of the queue), not on every slot: fewer stop/start cycles. */
        uint32_t room = in->opts.queue_batches - in->count;
        bool call_space =
            in->want_space && (room >= SL_MAX(1u, in->opts.queue_batches / 8) || in->count == 0);
        if (call_space) in->want_space = false;
        pthread_cond_broadcast(&in->space);
        pthread_mutex_unlock(&in->mu);

        if (call_space && in->opts.on_space) in->opts.on_space(in->opts.cb_arg);
        int rc = ingest_apply(in, &work, ticket);

        pthread_mutex_lock(&in->mu);
        if (waiter) {
            waiter->rc = rc;
            waiter->done = true;
            pthread_cond_broadcast(&in->applied);
        }
        ingest_recycle(in, &work);
    }
    pthread_mutex_unlock(&in->mu);
    point_batch_free(&work);
    ingest_complete(in, storage_durable_seq(in->st));
    return NULL;
}

/* ---- producers ---- */

/* Under mu: can b join the queue now? */
static bool ingest_has_room(const ingest *in, const point_batch *b) {
    if (in->count == in->opts.queue_batches) return false;
    return in->count == 0 || (in->queued_points + b->count <= in->opts.queue_points &&
                              in->queued_bytes + queued_size(b) <= in->opts.queue_bytes);
}

/* Under mu, with room: queues b's contents and hands b recycled arrays. */
static uint64_t ingest_push(ingest *in, point_batch *b, ingest_waiter *waiter) {
    SL_ASSERT(in->count < in->opts.queue_batches);
    SL_ASSERT(b->count > 0);
    ingest_slot *s = &in->slots[(in->head + in->count) % in->opts.queue_batches];
    s->batch = *b;
    s->ticket = ++in->next_ticket;
    s->waiter = waiter;
    in->count++;
    in->queued_points += b->count;
    in->queued_bytes += queued_size(b);
    uint64_t producer_id = b->producer_id;
    if (in->free_count > 0) {
        *b = in->free_list[--in->free_count];
        in->free_bytes -= batch_bytes(b);
    } else {
        point_batch_init(b);
    }
    b->producer_id = producer_id; /* the caller's batch stays the producer's */
    pthread_cond_signal(&in->nonempty);
    return s->ticket;
}

int ingest_submit(ingest *in, point_batch *b, uint64_t *ticket) {
    if (b->count == 0) return SL_EINVAL;
    pthread_mutex_lock(&in->mu);
    if (in->closing) {
        pthread_mutex_unlock(&in->mu);
        return SL_ECLOSED;
    }
    if (!ingest_has_room(in, b)) {
        in->want_space = true;
        pthread_mutex_unlock(&in->mu);
        atomic_fetch_add(&in->queue_full, 1);
        return -EAGAIN;
    }
    *ticket = ingest_push(in, b, NULL);
    pthread_mutex_unlock(&in->mu);
    return 0;
}

int ingest_write_wait(ingest *in, point_batch *b) {
    if (b->count == 0) return SL_EINVAL;
    ingest_waiter w = {false, 0};
    pthread_mutex_lock(&in->mu);
    while (!in->closing && !ingest_has_room(in, b))
        pthread_cond_wait(&in->space, &in->mu);
    if (in->closing) {
        pthread_mutex_unlock(&in->mu);
        return SL_ECLOSED;
    }
    ingest_push(in, b, &w);
    while (!w.done)
        pthread_cond_wait(&in->applied, &in->mu);
    pthread_mutex_unlock(&in->mu);
    return w.rc;
}

/* ---- life cycle ---- */

int ingest_new(struct storage *st, const ingest_opts *opts, ingest **out) {
    *out = NULL;
    SL_ASSERT(st != NULL);
    ingest_opts o = *opts;
    if (o.queue_batches == 0) o.queue_batches = INGEST_QUEUE_BATCHES_DEFAULT;
    if (o.queue_points == 0) o.queue_points = INGEST_QUEUE_POINTS_DEFAULT;
    if (o.queue_bytes == 0) o.queue_bytes = INGEST_QUEUE_BYTES_DEFAULT;
    if (o.queue_batches > INGEST_QUEUE_BATCHES_CEILING) return SL_EINVAL;
    if (o.queue_points > INGEST_QUEUE_POINTS_CEILING) return SL_EINVAL;
    if (o.queue_bytes > INGEST_QUEUE_BYTES_CEILING) return SL_EINVAL;
    ingest *in = mem_calloc(MEM_INGEST, 1, sizeof(*in));
    if (!in) return -ENOMEM;
    int rc = -ENOMEM;
    in->st = st;
    in->opts = o;
    in->slots = mem_calloc(MEM_INGEST, o.queue_batches, sizeof(*in->slots));
    in->free_list = mem_calloc(MEM_INGEST, INGEST_RECYCLE_BATCHES, sizeof(*in->free_list));
    in->pend = mem_calloc(MEM_INGEST, INGEST_PEND_MAX, sizeof(*in->pend));
    if (!in->slots || !in->free_list || !in->pend) goto fail_free;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* ingest_wait_work's timed wait */
    pthread_mutex_init(&in->mu, NULL);
    pthread_mutex_init(&in->dmu, NULL);
    pthread_cond_init(&in->nonempty, &ca);
    pthread_cond_init(&in->space, NULL);
    pthread_cond_init(&in->applied, NULL);
    pthread_condattr_destroy(&ca);
    /* Tickets of an empty queue: everything already durable. */
    in->last_seq = storage_durable_seq(st);
    rc = -pthread_create(&in->thread, NULL, ingest_thread, in);
    if (rc < 0) goto fail_sync;
    *out = in;
    return 0;
fail_sync:
    pthread_cond_destroy(&in->applied);
    pthread_cond_destroy(&in->space);
    pthread_cond_destroy(&in->nonempty);
    pthread_mutex_destroy(&in->dmu);
    pthread_mutex_destroy(&in->mu);
fail_free:
    mem_free(MEM_INGEST, in->pend);
    mem_free(MEM_INGEST, in->free_list);
    mem_free(MEM_INGEST, in->slots);
    mem_free(MEM_INGEST, in);
    return rc;
}

void ingest_free(ingest *in) {
    if (!in) return;
    pthread_mutex_lock(&in->mu);
    in->closing = true;
    pthread_cond_broadcast(&in->nonempty);
    pthread_cond_broadcast(&in->space);
    pthread_mutex_unlock(&in->mu);
    pthread_join(in->thread, NULL);
    SL_ASSERT(in->count == 0);
    for (uint32_t i = 0; i < in->free_count; i++)
        point_batch_free(&in->free_list[i]);
    pthread_cond_destroy(&in->applied);
    pthread_cond_destroy(&in->space);
    pthread_cond_destroy(&in->nonempty);
    pthread_mutex_destroy(&in->dmu);
    pthread_mutex_destroy(&in->mu);
    mem_free(MEM_INGEST, in->pend);
    mem_free(MEM_INGEST, in->free_list);
    mem_free(MEM_INGEST, in->slots);
    mem_free(MEM_INGEST, in);
}

void ingest_get_stats(const ingest *in, ingest_stats *out) {
    ingest *m = (ingest *)in; /* mu is taken for a consistent queue snapshot */
    memset(out, 0, sizeof(*out));
    out->batches_applied = atomic_load(&m->batches_applied);
    out->points_applied = atomic_load(&m->points_applied);
    out->batches_failed = atomic_load(&m->batches_failed);
    out->points_failed = atomic_load(&m->points_failed);
    out->queue_full = atomic_load(&m->queue_full);
    out->durable_ticket = atomic_load(&m->durable_ticket);
    pthread_mutex_lock(&m->mu);
    out->queue_batches = m->count;
    out->queue_points = m->queued_points;
    out->queue_bytes = m->queued_bytes;
    out->tickets_issued = m->next_ticket;
    pthread_mutex_unlock(&m->mu);
}
