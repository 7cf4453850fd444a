/* ingest_test.c - the apply queue against the real storage: order, visibility,
 * backpressure without loss, ack tickets that follow storage's durable seq,
 * refused batches that still complete, and a drain on ingest_free. */
#include "base/buf.h"
#include "base/fault.h"
#include "base/mem.h"
#include "base/serieskey.h"
#include "ingest/ingest.h"
#include "storage/storage.h"
#include "test.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#define TICKETS_MAX 4096

/* What the callbacks saw. */
typedef struct watch {
    storage *st;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool gate_closed;  /* the sink blocks while true */
    bool sink_entered; /* the sink has been called at least once */
    uint32_t sink_batches;
    uint64_t seq_of[TICKETS_MAX + 1]; /* sink: i-th batch (= ticket i) -> its WAL seq */
    bool order_ok;                    /* seqs increase, series ids filled */
    _Atomic uint32_t space_calls;
    uint64_t last_durable; /* last on_durable ticket */
    bool durable_ok;       /* increasing, and never before storage says durable */
} watch;

static void watch_init(watch *w) {
    memset(w, 0, sizeof(*w));
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->order_ok = true;
    w->durable_ok = true;
}

static void watch_destroy(watch *w) {
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

static void on_sink(const point_batch *b, void *arg) {
    watch *w = arg;
    pthread_mutex_lock(&w->mu);
    w->sink_entered = true;
    pthread_cond_broadcast(&w->cv);
    while (w->gate_closed)
        pthread_cond_wait(&w->cv, &w->mu);
    uint32_t t = ++w->sink_batches;
    for (uint32_t i = 0; i < b->count; i++)
        if (b->series_id[i] == 0) w->order_ok = false;
    if (t <= TICKETS_MAX) {
        if (t > 1 && b->seq <= w->seq_of[t - 1]) w->order_ok = false;
        w->seq_of[t] = b->seq;
    }
    pthread_mutex_unlock(&w->mu);
}

static void on_space(void *arg) {
    watch *w = arg;
    atomic_fetch_add(&w->space_calls, 1);
}

static void on_durable(uint64_t ticket, void *arg) {
    watch *w = arg;
    pthread_mutex_lock(&w->mu);
    if (ticket <= w->last_durable) w->durable_ok = false;
    /* Every batch up to ticket must be durable in storage's own account. */
    uint64_t durable = storage_durable_seq(w->st);
    if (ticket <= TICKETS_MAX && ticket <= w->sink_batches && w->seq_of[ticket] > durable)
        w->durable_ok = false;
    w->last_durable = ticket;
    pthread_mutex_unlock(&w->mu);
}

static void gate(watch *w, bool closed) {
    pthread_mutex_lock(&w->mu);
    w->gate_closed = closed;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

typedef struct fixture {
    char dir[256];
    storage *st;
    ingest *in;
    watch w;
} fixture;

/* Opens storage in a fresh directory and an ingest with io's queue bounds and the
 * watch's callbacks (sink, on_space, on_durable). */
static int fixture_open_opts(fixture *f, ingest_opts io, uint32_t series_max,
                             storage_fsync policy) {
    storage_opts so;
    sl_diag d;
    test_tmpdir(f->dir);
    storage_opts_default(&so);
    so.dir = f->dir;
    so.series_max = series_max;
    so.fsync = policy;
    int rc = storage_open(&so, &f->st, &d);
    if (rc < 0) {
        fprintf(stdout, "  storage_open: %s\n", d.msg);
        return rc;
    }
    watch_init(&f->w);
    f->w.st = f->st;
    io.sink = on_sink;
    io.sink_arg = &f->w;
    io.on_space = on_space;
    io.on_durable = on_durable;
    io.cb_arg = &f->w;
    return ingest_new(f->st, &io, &f->in);
}

static int fixture_open_fsync(fixture *f, uint32_t queue_batches, uint32_t series_max,
                              storage_fsync policy) {
    return fixture_open_opts(f, (ingest_opts){.queue_batches = queue_batches}, series_max, policy);
}

static int fixture_open(fixture *f, uint32_t queue_batches, uint32_t series_max) {
    return fixture_open_fsync(f, queue_batches, series_max, STORAGE_FSYNC_BATCH);
}

static void fixture_close(fixture *f) {
    ingest_free(f->in); /* NULL (a test already stopped it) is a no-op */
    storage_close(f->st);
    watch_destroy(&f->w);
    test_rmrf(f->dir);
}

/* Appends n points of series "s<series>" (no tags) at ts0, ts0+1, ... */
static void add_points(point_batch *b, uint32_t series, int64_t ts0, uint32_t n) {
    buf key;
    char name[32];
    int nl = snprintf(name, sizeof name, "s%u", series);
    sk_view nv = {(const uint8_t *)name, (uint32_t)nl};
    buf_init(&key, MEM_MISC, 0);
    SL_ASSERT(serieskey_build(&key, nv, NULL, 0, NULL) == 0);
    for (uint32_t i = 0; i < n; i++)
        SL_ASSERT(point_batch_add(b, ts0 + i, (double)i, key.p, (uint32_t)key.len) == 0);
    buf_free(&key);
}

/* Points stored for series "s<series>" (0 if unknown). */
static uint64_t stored_points(storage *st, uint32_t series) {
    buf key;
    char name[32];
    int nl = snprintf(name, sizeof name, "s%u", series);
    sk_view nv = {(const uint8_t *)name, (uint32_t)nl};
    uint32_t id;
    storage_agg a;
    buf_init(&key, MEM_MISC, 0);
    SL_ASSERT(serieskey_build(&key, nv, NULL, 0, NULL) == 0);
    int rc = storage_series_lookup(st, key.p, key.len, &id);
    buf_free(&key);
    if (rc < 0) return 0;
    storage_agg_init(&a);
    if (storage_aggregate(st, id, INT64_MIN, INT64_MAX, &a) < 0) return 0;
    return a.count;
}

static bool wait_durable(ingest *in, uint64_t ticket) {
    for (int i = 0; i < 5000; i++) {
        if (ingest_durable_ticket(in) >= ticket) return true;
        usleep(1000);
    }
    return false;
}

TEST(batches_are_applied_in_ticket_order_and_visible_after_write_wait) {
    fixture f;
    CHECK_EQ_INT(fixture_open(&f, 8, 0), 0);
    point_batch b;
    point_batch_init(&b);
    uint64_t last = 0;
    for (uint32_t i = 0; i < 100; i++) {
        add_points(&b, i % 5, (int64_t)i * 1000, 10);
        uint64_t t = 0;
        int rc;
        while ((rc = ingest_submit(f.in, &b, &t)) == -EAGAIN)
            usleep(100);
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_U64(t, last + 1); /* one ticket per batch, in submission order */
        CHECK_EQ_INT(b.count, 0);  /* taken; b is empty and reusable */
        last = t;
    }
    add_points(&b, 9, 0, 3);
    CHECK_EQ_INT(ingest_write_wait(f.in, &b), 0);
    CHECK_EQ_INT(b.count, 0);
    /* write_wait returns once visible, and FIFO means everything before it too. */
    CHECK_EQ_U64(stored_points(f.st, 9), 3);
    for (uint32_t s = 0; s < 5; s++)
        CHECK_EQ_U64(stored_points(f.st, s), 200);
    pthread_mutex_lock(&f.w.mu);
    bool ok = f.w.order_ok && f.w.sink_batches == 101;
    pthread_mutex_unlock(&f.w.mu);
    CHECK(ok);
    ingest_stats st;
    ingest_get_stats(f.in, &st);
    CHECK_EQ_U64(st.batches_applied, 101);
    CHECK_EQ_U64(st.points_applied, 1003);
    CHECK_EQ_U64(st.tickets_issued, 101);
    point_batch_free(&b);
    fixture_close(&f);
}

TEST(full_queue_returns_eagain_takes_nothing_and_never_drops) {
    fixture f;
    CHECK_EQ_INT(fixture_open(&f, 4, 0), 0);
    point_batch b;
    point_batch_init(&b);
    gate(&f.w, true); /* the apply thread stalls in the sink of the first batch */
    uint32_t accepted = 0;
    int rc = 0;
    uint64_t t;
    add_points(&b, 1, -100, 7);
    CHECK_EQ_INT(ingest_submit(f.in, &b, &t), 0);
    accepted++;
    pthread_mutex_lock(&f.w.mu);
    while (!f.w.sink_entered)
        pthread_cond_wait(&f.w.cv, &f.w.mu);
    pthread_mutex_unlock(&f.w.mu);
    for (int i = 0; i < 100; i++) {
        add_points(&b, 1, (int64_t)i * 100, 7);
        rc = ingest_submit(f.in, &b, &t);
        if (rc == -EAGAIN) break;
        CHECK_EQ_INT(rc, 0);
        accepted++;
    }
    CHECK_EQ_INT(rc, -EAGAIN);
    CHECK_EQ_INT(accepted, 5); /* 1 in the stalled sink, 4 queued */
    CHECK_EQ_INT(b.count, 7);  /* refused: nothing taken */
    ingest_stats st;
    ingest_get_stats(f.in, &st);
    CHECK_EQ_U64(st.queue_full, 1);
    CHECK_EQ_INT(atomic_load(&f.w.space_calls), 0);
    gate(&f.w, false);
    for (int i = 0; i < 5000 && atomic_load(&f.w.space_calls) == 0; i++)
        usleep(1000);
    CHECK_EQ_INT(atomic_load(&f.w.space_calls), 1); /* on_space after the refusal */
    CHECK_EQ_INT(ingest_submit(f.in, &b, &t), 0);
    CHECK_EQ_U64(t, accepted + 1);
    CHECK(wait_durable(f.in, t));
    CHECK_EQ_U64(stored_points(f.st, 1), 7 * (accepted + 1));
    point_batch_free(&b);
    fixture_close(&f);
}

TEST(queued_points_bound_refuses_more_but_always_admits_one_batch) {
    fixture f;
    CHECK_EQ_INT(fixture_open_opts(&f, (ingest_opts){.queue_batches = 64, .queue_points = 10}, 0,
                                   STORAGE_FSYNC_BATCH),
                 0);
    ingest *in = f.in;
    point_batch b;
    point_batch_init(&b);
    uint64_t t;
    gate(&f.w, true);
    add_points(&b, 1, 0, 100); /* alone over the bound: admitted into an empty queue */
    CHECK_EQ_INT(ingest_submit(in, &b, &t), 0);
    uint64_t admitted = 100;
    add_points(&b, 1, 1000, 6);
    int rc = ingest_submit(in, &b, &t);
    if (rc == 0) { /* the thread had taken the first batch: the queue was empty */
        admitted += 6;
        add_points(&b, 1, 2000, 6);
        rc = ingest_submit(in, &b, &t);
    }
    CHECK_EQ_INT(rc, -EAGAIN); /* 100 + 6 or 6 + 6 > 10 */
    CHECK_EQ_INT(b.count, 6);
    gate(&f.w, false);
    ingest_free(in); /* drains: everything admitted is applied */
    f.in = NULL;
    CHECK_EQ_U64(stored_points(f.st, 1), admitted);
    point_batch_free(&b);
    fixture_close(&f);
}

TEST(queued_bytes_bound_refuses_batches_of_big_keys_without_losing_them) {
    fixture f;
    /* Room for 64 batches and 1 M points, but only 4 KiB of queued bytes. */
    CHECK_EQ_INT(fixture_open_opts(&f, (ingest_opts){.queue_batches = 64, .queue_bytes = 4096}, 0,
                                   STORAGE_FSYNC_BATCH),
                 0);
    ingest *in = f.in;
    storage *st = f.st;
    point_batch b;
    point_batch_init(&b);
    buf key;
    char tag[3000];
    memset(tag, 'x', sizeof tag);
    sk_view name = {(const uint8_t *)"big", 3};
    sk_view tv = {(const uint8_t *)tag, sizeof tag};
    sk_view scratch[1];
    buf_init(&key, MEM_MISC, 0);
    SL_ASSERT(serieskey_build(&key, name, &tv, 1, scratch) == 0);
    gate(&f.w, true);
    uint64_t t;
    uint32_t admitted = 0;
    int rc = 0;
    for (int i = 0; i < 10 && rc == 0; i++) {
        SL_ASSERT(point_batch_add(&b, i, 1, key.p, (uint32_t)key.len) == 0);
        rc = ingest_submit(in, &b, &t);
        if (rc == 0) admitted++;
    }
    CHECK_EQ_INT(rc, -EAGAIN);
    CHECK(admitted >= 1 && admitted <= 2); /* ~3 KiB each: one queued (+1 in the sink) */
    CHECK_EQ_INT(b.count, 1);
    ingest_stats is;
    ingest_get_stats(in, &is);
    CHECK(is.queue_bytes <= 4096);
    gate(&f.w, false);
    while ((rc = ingest_submit(in, &b, &t)) == -EAGAIN) usleep(100);
    CHECK_EQ_INT(rc, 0);
    ingest_free(in); /* drains: everything admitted is applied */
    f.in = NULL;
    /* Every admitted batch and the retried one are stored (one series). */
    uint32_t id;
    storage_agg a;
    CHECK_EQ_INT(storage_series_lookup(st, key.p, key.len, &id), 0);
    storage_agg_init(&a);
    CHECK_EQ_INT(storage_aggregate(st, id, INT64_MIN, INT64_MAX, &a), 0);
    CHECK_EQ_U64(a.count, admitted + 1);
    buf_free(&key);
    point_batch_free(&b);
    fixture_close(&f);
}

TEST(ack_tickets_complete_in_order_only_once_storage_reports_them_durable) {
    fixture f;
    CHECK_EQ_INT(fixture_open(&f, 16, 0), 0);
    point_batch b;
    point_batch_init(&b);
    uint64_t t = 0;
    for (uint32_t i = 0; i < 300; i++) {
        add_points(&b, i % 3, (int64_t)i * 10, 5);
        int rc;
        while ((rc = ingest_submit(f.in, &b, &t)) == -EAGAIN)
            usleep(100);
        CHECK_EQ_INT(rc, 0);
    }
    CHECK(wait_durable(f.in, t));
    CHECK_EQ_U64(ingest_durable_ticket(f.in), 300);
    pthread_mutex_lock(&f.w.mu);
    bool ok = f.w.durable_ok && f.w.last_durable == 300;
    pthread_mutex_unlock(&f.w.mu);
    CHECK(ok);
    /* The durable ticket never passes what storage has made durable. */
    CHECK(storage_durable_seq(f.st) >= f.w.seq_of[300]);
    point_batch_free(&b);
    fixture_close(&f);
}

TEST(ack_tickets_complete_under_the_always_and_none_fsync_policies_too) {
    const storage_fsync policies[2] = {STORAGE_FSYNC_ALWAYS, STORAGE_FSYNC_NONE};
    for (int p = 0; p < 2; p++) {
        fixture f;
        CHECK_EQ_INT(fixture_open_fsync(&f, 8, 0, policies[p]), 0);
        point_batch b;
        point_batch_init(&b);
        uint64_t t = 0;
        for (uint32_t i = 0; i < 40; i++) {
            add_points(&b, 1, (int64_t)i * 10, 3);
            int rc;
            while ((rc = ingest_submit(f.in, &b, &t)) == -EAGAIN)
                usleep(100);
            CHECK_EQ_INT(rc, 0);
        }
        CHECK_MSG(wait_durable(f.in, t), "policy %d: ticket %" PRIu64 " never durable", p, t);
        pthread_mutex_lock(&f.w.mu);
        bool ok = f.w.durable_ok && f.w.last_durable == 40;
        pthread_mutex_unlock(&f.w.mu);
        CHECK(ok);
        CHECK(storage_durable_seq(f.st) >= f.w.seq_of[40]);
        point_batch_free(&b);
        fixture_close(&f);
    }
}

TEST(batch_storage_refuses_is_counted_and_its_ticket_still_completes) {
    fixture f;
    CHECK_EQ_INT(fixture_open(&f, 8, 2), 0); /* at most 2 series */
    point_batch b;
    point_batch_init(&b);
    uint64_t t;
    add_points(&b, 1, 0, 2);
    add_points(&b, 2, 0, 2);
    CHECK_EQ_INT(ingest_write_wait(f.in, &b), 0);
    add_points(&b, 3, 0, 4); /* a third series: refused whole */
    int rc = ingest_write_wait(f.in, &b);
    CHECK_MSG(rc < 0, "storage took a series past series_max");
    add_points(&b, 3, 0, 1);
    CHECK_EQ_INT(ingest_submit(f.in, &b, &t), 0);
    add_points(&b, 1, 10, 1);
    CHECK_EQ_INT(ingest_submit(f.in, &b, &t), 0);
    CHECK_EQ_U64(t, 4);
    CHECK(wait_durable(f.in, 4)); /* acks never hang on a refused batch */
    ingest_stats st;
    ingest_get_stats(f.in, &st);
    CHECK_EQ_U64(st.batches_failed, 2);
    CHECK_EQ_U64(st.points_failed, 5);
    CHECK_EQ_U64(st.batches_applied, 2);
    CHECK_EQ_U64(stored_points(f.st, 3), 0);
    CHECK_EQ_U64(stored_points(f.st, 1), 3);
    point_batch_free(&b);
    fixture_close(&f);
}

TEST(ingest_free_applies_everything_already_submitted) {
    fixture f;
    CHECK_EQ_INT(fixture_open(&f, 1024, 0), 0);
    point_batch b;
    point_batch_init(&b);
    uint64_t t;
    for (uint32_t i = 0; i < 500; i++) {
        add_points(&b, 7, (int64_t)i * 4, 4);
        CHECK_EQ_INT(ingest_submit(f.in, &b, &t), 0);
    }
    ingest_free(f.in);
    f.in = NULL;
    CHECK_EQ_U64(stored_points(f.st, 7), 2000);
    point_batch_free(&b);
    fixture_close(&f);
}

TEST(empty_batch_is_refused_without_a_ticket) {
    fixture f;
    CHECK_EQ_INT(fixture_open(&f, 4, 0), 0);
    point_batch b;
    point_batch_init(&b);
    uint64_t t = 99;
    CHECK_EQ_INT(ingest_submit(f.in, &b, &t), SL_EINVAL);
    CHECK_EQ_U64(t, 99);
    CHECK_EQ_INT(ingest_write_wait(f.in, &b), SL_EINVAL);
    add_points(&b, 1, 0, 1);
    CHECK_EQ_INT(ingest_submit(f.in, &b, &t), 0);
    CHECK_EQ_U64(t, 1);
    point_batch_free(&b);
    fixture_close(&f);
}

typedef struct writer_arg {
    ingest *in;
    uint32_t series;
    int rc;
} writer_arg;

static void *writer_main(void *arg) {
    writer_arg *a = arg;
    point_batch b;
    point_batch_init(&b);
    a->rc = 0;
    for (uint32_t i = 0; i < 50 && a->rc == 0; i++) {
        add_points(&b, a->series, (int64_t)i * 3, 3);
        a->rc = ingest_write_wait(a->in, &b);
    }
    point_batch_free(&b);
    return NULL;
}

TEST(blocking_writers_on_several_threads_share_a_small_queue_without_loss) {
    fixture f;
    CHECK_EQ_INT(fixture_open(&f, 2, 0), 0);
    pthread_t th[4];
    writer_arg args[4];
    for (uint32_t i = 0; i < 4; i++) {
        args[i] = (writer_arg){f.in, 20 + i, -1};
        CHECK_EQ_INT(pthread_create(&th[i], NULL, writer_main, &args[i]), 0);
    }
    for (uint32_t i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (uint32_t i = 0; i < 4; i++) {
        CHECK_EQ_INT(args[i].rc, 0);
        CHECK_EQ_U64(stored_points(f.st, 20 + i), 150);
    }
    fixture_close(&f);
}

TEST(ingest_new_under_allocation_failure_returns_enomem_and_leaks_nothing) {
    char dir[256];
    storage_opts so;
    storage *st;
    test_tmpdir(dir);
    storage_opts_default(&so);
    so.dir = dir;
    CHECK_EQ_INT(storage_open(&so, &st, NULL), 0);
    ingest_opts io = {.queue_batches = 8};
    for (long n = 1;; n++) {
        ingest *in = (ingest *)&io; /* must be reset to NULL on failure */
        size_t before = mem_in_use(MEM_INGEST);
        fault_arm(FAULT_ALLOC, n);
        int rc = ingest_new(st, &io, &in);
        fault_arm(FAULT_ALLOC, 0);
        if (rc == 0) {
            ingest_free(in);
            CHECK(n > 1);
            break;
        }
        CHECK_EQ_INT(rc, -ENOMEM);
        CHECK(in == NULL);
        CHECK_EQ_INT(mem_in_use(MEM_INGEST), before);
        CHECK(n < 100);
    }
    ingest_opts bad = {.queue_batches = INGEST_QUEUE_BATCHES_CEILING + 1};
    ingest *in = NULL;
    CHECK_EQ_INT(ingest_new(st, &bad, &in), SL_EINVAL);
    storage_close(st);
    test_rmrf(dir);
}
