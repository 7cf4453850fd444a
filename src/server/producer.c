/* producer.c - WebSocket producers (spec/ingest.md): the glue between net's whole
 * messages and ingest's bounded apply queue.
 *
 * Each message is first tried as a point frame (binary and text alike); the points
 * of all messages of one socket read go into the connection's batch, which is
 * submitted at the end of the read (or earlier past PRODUCER_BATCH_POINTS_SUBMIT).
 * A text message that is not a valid frame but parses as {"ack":N} is an ack
 * request: it waits for the ticket of everything received before it and is answered
 * once ingest reports that ticket durable. Anything else is a rejected frame:
 * counted, logged (rate-limited), and answered with
 * {"error":"invalid_frame","detail":...} unless the upgrade URL said ?errors=0.
 *
 * Backpressure: when ingest_submit says -EAGAIN the batch stays with the producer,
 * net stops reading the connection (net_pause / NET_MSG_RETRY), and the producer
 * joins the FIFO `blocked` list. ingest's on_space (apply thread) posts a retry to
 * the loop, which submits blocked producers in FIFO order, so a flooding producer
 * waits its turn like everyone else and nothing is ever dropped.
 *
 * Invariants: (1) pr->last_ticket is the ticket of the last batch this connection
 *   submitted; every queued ack's ticket is <= it; (2) a producer is in `blocked`
 *   iff pr->batch holds points that ingest refused; (3) a closed connection whose
 *   batch could not be submitted stays (as an orphan) in `blocked` until it is.
 * Threads: loop thread, except producers_on_space/on_durable (post to the loop)
 *   and producers_get_stats (atomics). */
#include "server/server_internal.h"

#include "base/log.h"
#include "ingest/ingest.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

typedef struct ack_req {
    uint64_t ack;    /* the N the client chose */
    uint64_t ticket; /* durable once ingest reports >= this */
} ack_req;

typedef struct producer {
    uint64_t conn_id;          /* the connection */
    point_batch batch;         /* decoded points not yet accepted by ingest */
    uint64_t last_ticket;      /* ticket of the last submitted batch; 0 = none */
    bool errors;               /* send error frames (default) */
    bool closed;               /* the connection is gone (an orphan with points) */
    bool in_blocked;           /* in the blocked list */
    bool in_acking;            /* in the acking list */
    ack_req *acks;             /* ring [PRODUCER_ACKS_PENDING_MAX], allocated on first use */
    uint32_t ack_head;         /* oldest */
    uint32_t ack_count;        /* queued */
    bool ack_full;             /* reading paused because the ring is full */
    struct producer *blk_prev; /* blocked FIFO */
    struct producer *blk_next;
    struct producer *ack_prev; /* producers with queued acks */
    struct producer *ack_next;
    struct producer *all_prev; /* every open producer (idle sweep) */
    struct producer *all_next;
    bool active;     /* received a message since the last producers_tick */
    bool oom_paused; /* a message was refused for lack of memory: producers_tick resumes */
} producer;

struct producers {
    server_ctx *ctx;    /* borrowed: ingest, net, cfg */
    frame_decoder dec;  /* one decoder for the loop thread */
    buf scratch;        /* error and ack JSON being sent */
    producer *blk_head; /* FIFO of producers whose batch ingest refused */
    producer *blk_tail;
    producer *ack_head;          /* producers with acks waiting for durability */
    producer *all_head;          /* open producers (idle sweep) */
    log_ratelimit rl;            /* rejected-frame log lines */
    _Atomic bool space_posted;   /* a space_on_loop post is pending */
    _Atomic bool durable_posted; /* a durable_on_loop post is pending */
    _Atomic uint64_t st_ok;      /* producer_stats.frames_accepted */
    _Atomic uint64_t st_rej;     /* frames_rejected */
    _Atomic uint64_t st_points;  /* points_received */
    _Atomic uint64_t st_acks;    /* acks_sent */
    _Atomic uint64_t st_batches; /* batches_submitted */
    _Atomic uint64_t st_blocked; /* submits_blocked */
    _Atomic uint64_t st_open;    /* producers_open */
};

static void blk_push(producers *ps, producer *pr) {
    if (pr->in_blocked) return;
    pr->in_blocked = true;
    pr->blk_next = NULL;
    pr->blk_prev = ps->blk_tail;
    if (ps->blk_tail) {
        ps->blk_tail->blk_next = pr;
    } else {
        ps->blk_head = pr;
    }
    ps->blk_tail = pr;
}

static void blk_remove(producers *ps, producer *pr) {
    if (!pr->in_blocked) return;
    pr->in_blocked = false;
    if (pr->blk_prev) {
        pr->blk_prev->blk_next = pr->blk_next;
    } else {
        ps->blk_head = pr->blk_next;
    }
    if (pr->blk_next) {
        pr->blk_next->blk_prev = pr->blk_prev;
    } else {
        ps->blk_tail = pr->blk_prev;
    }
    pr->blk_next = pr->blk_prev = NULL;
}

static void ack_list_add(producers *ps, producer *pr) {
    if (pr->in_acking) return;
    pr->in_acking = true;
    pr->ack_prev = NULL;
    pr->ack_next = ps->ack_head;
    if (ps->ack_head) ps->ack_head->ack_prev = pr;
    ps->ack_head = pr;
}

static void ack_list_remove(producers *ps, producer *pr) {
    if (!pr->in_acking) return;
    pr->in_acking = false;
    if (pr->ack_prev) {
        pr->ack_prev->ack_next = pr->ack_next;
    } else {
        ps->ack_head = pr->ack_next;
    }
    if (pr->ack_next) pr->ack_next->ack_prev = pr->ack_prev;
    pr->ack_next = pr->ack_prev = NULL;
}

static void producer_free(producer *pr) {
    point_batch_free(&pr->batch);
    mem_free(MEM_INGEST, pr->acks);
    mem_free(MEM_INGEST, pr);
}

/* Submits pr->batch if it holds points. 0 submitted (or nothing to do), -EAGAIN
 * queue full (pr is then in the blocked list). */
static int submit(producers *ps, producer *pr) {
    if (pr->batch.count == 0) return 0;
    pr->batch.producer_id = pr->conn_id;
    uint64_t ticket = 0;
    uint32_t points = pr->batch.count;
    int rc = ingest_submit(ps->ctx->ingest, &pr->batch, &ticket);
    if (rc == -EAGAIN) {
        if (!pr->in_blocked) atomic_fetch_add_explicit(&ps->st_blocked, 1, memory_order_relaxed);
        blk_push(ps, pr);
        return rc;
    }
    if (rc < 0) { /* SL_ECLOSED: ingest is stopping, which the stop order rules out */
        log_error("ingest", "connection %llu: %u points not queued: %s",
                  (unsigned long long)pr->conn_id, points, sl_strerror(rc));
        point_batch_reset(&pr->batch);
        blk_remove(ps, pr);
        return 0;
    }
    SL_ASSERT(ticket > pr->last_ticket);
    pr->last_ticket = ticket;
    atomic_fetch_add_explicit(&ps->st_batches, 1, memory_order_relaxed);
    blk_remove(ps, pr);
    return 0;
}

static void send_text(producers *ps, producer *pr, buf *b) {
    if (pr->closed || buf_failed(b)) return;
    (void)net_ws_send(ps->ctx->net, pr->conn_id, NET_MSG_TEXT, b->p, b->len);
}

static void reject(producers *ps, producer *pr, const sl_diag *d) {
    atomic_fetch_add_explicit(&ps->st_rej, 1, memory_order_relaxed);
    uint32_t suppressed = 0;
    if (log_ratelimit_allow(&ps->rl, 5, &suppressed))
        log_warn("ingest", "connection %llu: frame rejected: %s (%u similar lines suppressed)",
                 (unsigned long long)pr->conn_id, d->msg, suppressed);
    if (!pr->errors) return;
    buf_reset(&ps->scratch);
    frame_error_json(&ps->scratch, d);
    send_text(ps, pr, &ps->scratch);
}

static void send_ack(producers *ps, producer *pr, uint64_t ack) {
    buf_reset(&ps->scratch);
    frame_ack_json(&ps->scratch, ack);
    send_text(ps, pr, &ps->scratch);
    atomic_fetch_add_explicit(&ps->st_acks, 1, memory_order_relaxed);
}

/* Answers every queued ack whose ticket is durable. */
static void acks_release(producers *ps, producer *pr, uint64_t durable) {
    while (pr->ack_count && pr->acks[pr->ack_head].ticket <= durable) {
        send_ack(ps, pr, pr->acks[pr->ack_head].ack);
        pr->ack_head = (pr->ack_head + 1) % PRODUCER_ACKS_PENDING_MAX;
        pr->ack_count--;
    }
    if (pr->ack_count == 0) ack_list_remove(ps, pr);
    if (pr->ack_full && pr->ack_count < PRODUCER_ACKS_PENDING_MAX) {
        pr->ack_full = false;
        net_resume(ps->ctx->net, pr->conn_id);
    }
}

/* Returns NET_MSG_TAKEN or NET_MSG_RETRY. */
static int on_ack(producers *ps, producer *pr, uint64_t ack) {
    if (submit(ps, pr) < 0) return NET_MSG_RETRY; /* the points before it come first */
    uint64_t ticket = pr->last_ticket;
    if (pr->ack_count == 0 && (ticket == 0 || ingest_durable_ticket(ps->ctx->ingest) >= ticket)) {
        send_ack(ps, pr, ack); /* nothing older waits and all before it is durable */
        return NET_MSG_TAKEN;
    }
    if (!pr->acks) {
        pr->acks = mem_calloc(MEM_INGEST, PRODUCER_ACKS_PENDING_MAX, sizeof(*pr->acks));
        if (!pr->acks) { /* held by net; producers_tick retries within a second */
            pr->oom_paused = true;
            return NET_MSG_RETRY;
        }
    }
    if (pr->ack_count == PRODUCER_ACKS_PENDING_MAX) {
        pr->ack_full = true;
        return NET_MSG_RETRY;
    }
    uint32_t slot = (pr->ack_head + pr->ack_count) % PRODUCER_ACKS_PENDING_MAX;
    pr->acks[slot].ack = ack;
    pr->acks[slot].ticket = ticket;
    pr->ack_count++;
    ack_list_add(ps, pr);
    /* Durability may have advanced since the last on_durable: release what it allows. */
    acks_release(ps, pr, ingest_durable_ticket(ps->ctx->ingest));
    return NET_MSG_TAKEN;
}

static int on_message(void *arg, uint64_t conn_id, void *user, net_msg_kind kind, const uint8_t *p,
                      size_t n) {
    producers *ps = arg;
    producer *pr = user;
    (void)conn_id;
    pr->active = true;
    if (pr->in_blocked) return NET_MSG_RETRY; /* earlier points first */
    sl_diag d;
    sl_diag_clear(&d);
    uint32_t before = pr->batch.count;
    int rc = frame_decode(&ps->dec, p, n, &pr->batch, &d);
    if (rc == SL_ELIMIT && pr->batch.count > 0) {
        /* Perhaps only the batch is full: submit it and decode into an empty one. */
        if (submit(ps, pr) < 0) return NET_MSG_RETRY;
        before = 0;
        sl_diag_clear(&d);
        rc = frame_decode(&ps->dec, p, n, &pr->batch, &d);
    }
    if (rc == 0) {
        atomic_fetch_add_explicit(&ps->st_ok, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&ps->st_points, pr->batch.count - before, memory_order_relaxed);
        if (pr->batch.count >= PRODUCER_BATCH_POINTS_SUBMIT) (void)submit(ps, pr);
        return NET_MSG_TAKEN;
    }
    if (rc == -ENOMEM) { /* held by net; producers_tick retries within a second */
        pr->oom_paused = true;
        return NET_MSG_RETRY;
    }
    uint64_t ack;
    if (kind == NET_MSG_TEXT && frame_parse_ack(p, n, &ack) == 0) return on_ack(ps, pr, ack);
    reject(ps, pr, &d);
    return NET_MSG_TAKEN;
}

static void on_read_end(void *arg, uint64_t conn_id, void *user) {
    producers *ps = arg;
    producer *pr = user;
    if (!pr->in_blocked && submit(ps, pr) < 0) {
        net_pause(ps->ctx->net, conn_id);
        return;
    }
    /* Between reads a producer holds no point memory: ingest hands back recycled
     * arrays on submit, sized for the largest batch seen; keeping them per producer
     * would pin up to BATCH_POINTS_MAX points' worth on every connection. */
    if (pr->batch.count == 0 && (pr->batch.cap || pr->batch.keys_cap)) {
        point_batch_free(&pr->batch);
        point_batch_init(&pr->batch);
    }
}

static void on_too_big(void *arg, uint64_t conn_id, void *user, uint64_t bytes) {
    producers *ps = arg;
    producer *pr = user;
    (void)conn_id;
    sl_diag d;
    sl_diag_set(&d, SL_ELIMIT, 0,
                "message of %llu bytes exceeds --frame-bytes-max (%u bytes); no point of it was "
                "stored",
                (unsigned long long)bytes, ps->ctx->cfg->frame_bytes_max);
    reject(ps, pr, &d);
}

static int on_open(void *arg, uint64_t conn_id, const char *path, const char *query, void **user) {
    producers *ps = arg;
    /* Producers stream on "/". Other WebSocket endpoints (e.g. /subscribe) hook in
     * here, dispatching on path before this line. */
    if (strcmp(path, "/") != 0) return SL_ENOTFOUND;
    producer *pr = mem_calloc(MEM_INGEST, 1, sizeof(*pr));
    if (!pr) return -ENOMEM;
    pr->conn_id = conn_id;
    point_batch_init(&pr->batch);
    char v[8];
    pr->errors = !(route_query_param(query, "errors", v, sizeof(v)) == 1 && !strcmp(v, "0"));
    *user = pr;
    pr->all_next = ps->all_head;
    if (ps->all_head) ps->all_head->all_prev = pr;
    ps->all_head = pr;
    atomic_fetch_add_explicit(&ps->st_open, 1, memory_order_relaxed);
    return 0;
}

static void on_close(void *arg, uint64_t conn_id, void *user) {
    producers *ps = arg;
    producer *pr = user;
    (void)conn_id;
    if (!pr) return;
    atomic_fetch_sub_explicit(&ps->st_open, 1, memory_order_relaxed);
    ack_list_remove(ps, pr);
    if (pr->all_prev) {
        pr->all_prev->all_next = pr->all_next;
    } else {
        ps->all_head = pr->all_next;
    }
    if (pr->all_next) pr->all_next->all_prev = pr->all_prev;
    pr->all_prev = pr->all_next = NULL;
    pr->closed = true;
    /* Points received before the close are stored even though nobody waits for them. */
    if (!pr->in_blocked && submit(ps, pr) == 0) {
        producer_free(pr);
        return;
    }
    /* Stays in the blocked list as an orphan; freed once its batch is submitted. */
}

static void space_on_loop(void *arg) {
    producers *ps = arg;
    atomic_store_explicit(&ps->space_posted, false, memory_order_relaxed);
    while (ps->blk_head) {
        producer *pr = ps->blk_head;
        blk_remove(ps, pr);
        if (submit(ps, pr) < 0) break; /* back at the tail; wait for the next on_space */
        if (pr->closed) {
            producer_free(pr);
        } else {
            net_resume(ps->ctx->net, pr->conn_id);
        }
    }
}

static void durable_on_loop(void *arg) {
    producers *ps = arg;
    atomic_store_explicit(&ps->durable_posted, false, memory_order_relaxed);
    uint64_t durable = ingest_durable_ticket(ps->ctx->ingest);
    for (producer *pr = ps->ack_head, *next; pr; pr = next) {
        next = pr->ack_next;
        acks_release(ps, pr, durable);
    }
}

void producers_tick(producers *ps) {
    /* next is read first: net_resume may close this connection (on_close frees pr). */
    for (producer *pr = ps->all_head, *next; pr; pr = next) {
        next = pr->all_next;
        /* A producer quiet for a whole tick gives its batch arrays back, so idle
         * connections hold no point memory; a busy one keeps reusing them. */
        if (!pr->active && pr->batch.count == 0 && !pr->in_blocked &&
            (pr->batch.cap || pr->batch.keys_cap)) {
            point_batch_free(&pr->batch);
            point_batch_init(&pr->batch);
        }
        pr->active = false;
        /* Nothing else resumes a producer paused for memory (no queue space event
         * comes for it), so without this its connection would stay paused forever. */
        if (pr->oom_paused) {
            pr->oom_paused = false;
            net_resume(ps->ctx->net, pr->conn_id);
        }
    }
}

void producers_on_space(void *arg) {
    producers *ps = arg;
    if (!ps->ctx->net || atomic_exchange(&ps->space_posted, true)) return;
    if (net_post(ps->ctx->net, space_on_loop, ps) < 0)
        atomic_store_explicit(&ps->space_posted, false, memory_order_relaxed);
}

void producers_on_durable(uint64_t ticket, void *arg) {
    producers *ps = arg;
    (void)ticket;
    if (!ps->ctx->net || atomic_exchange(&ps->durable_posted, true)) return;
    if (net_post(ps->ctx->net, durable_on_loop, ps) < 0)
        atomic_store_explicit(&ps->durable_posted, false, memory_order_relaxed);
}

int producers_new(server_ctx *ctx, const frame_limits *limits, producers **out) {
    *out = NULL;
    producers *ps = mem_calloc(MEM_INGEST, 1, sizeof(*ps));
    if (!ps) return -ENOMEM;
    ps->ctx = ctx;
    int rc = frame_decoder_init(&ps->dec, limits);
    if (rc < 0) {
        mem_free(MEM_INGEST, ps);
        return rc;
    }
    buf_init(&ps->scratch, MEM_INGEST, 0);
    *out = ps;
    return 0;
}

void producers_drain(producers *ps) {
    if (!ps) return;
    /* Orphans: closed connections whose points ingest had no room for. The loop is
     * gone, so wait for room here. */
    while (ps->blk_head) {
        producer *pr = ps->blk_head;
        blk_remove(ps, pr);
        if (pr->batch.count) {
            pr->batch.producer_id = pr->conn_id;
            int rc = ingest_write_wait(ps->ctx->ingest, &pr->batch);
            if (rc < 0)
                log_error("ingest", "connection %llu: points lost at shutdown: %s",
                          (unsigned long long)pr->conn_id, sl_strerror(rc));
        }
        if (pr->closed) producer_free(pr);
    }
}

void producers_free(producers *ps) {
    if (!ps) return;
    producers_drain(ps); /* no-op when the server already drained */
    frame_decoder_free(&ps->dec);
    buf_free(&ps->scratch);
    mem_free(MEM_INGEST, ps);
}

net_ws_handler producers_handler(producers *ps) {
    net_ws_handler h = {
        .on_open = on_open,
        .on_message = on_message,
        .on_read_end = on_read_end,
        .on_too_big = on_too_big,
        .on_close = on_close,
        .arg = ps,
    };
    return h;
}

void producers_get_stats(const producers *ps, producer_stats *s) {
#define LD(x) atomic_load_explicit(&ps->x, memory_order_relaxed)
    s->frames_accepted = LD(st_ok);
    s->frames_rejected = LD(st_rej);
    s->points_received = LD(st_points);
    s->acks_sent = LD(st_acks);
    s->batches_submitted = LD(st_batches);
    s->submits_blocked = LD(st_blocked);
    s->producers_open = LD(st_open);
#undef LD
}
