/* live_test.c - live queries: registration, matching through the index, folding
 * between polls, sliding windows, bounded waits and the exact event JSON. */
#include "base/buf.h"
#include "base/clock.h"
#include "base/common.h"
#include "base/fault.h"
#include "base/serieskey.h"
#include "query/live.h"
#include "query_test_util.h"
#include "test.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define S_NS 1000000000ll
#define MIN_NS (60 * S_NS)

static void feed1(live_registry *r, uint64_t producer, const char *name, const char **tags,
                  int64_t ts, double v) {
    point_batch b;
    point_batch_init(&b);
    b.producer_id = producer;
    add_point(&b, name, tags, ts, v);
    live_feed(r, &b);
    point_batch_free(&b);
}

static uint64_t reg(live_registry *r, const char *text) {
    uint64_t h = 0;
    sl_diag d;
    sl_diag_clear(&d);
    int rc = live_register(r, text, strlen(text), &h, &d);
    if (rc != 0) test_fail(__FILE__, __LINE__, "register '%s': %s", text, d.msg);
    return h;
}

/* Polls without waiting; returns the event text or "" (static buffer). */
static const char *poll_now(live_registry *r, uint64_t h) {
    static char text[4096];
    buf out;
    buf_init(&out, MEM_MISC, 0);
    int rc = live_poll(r, h, 0, &out);
    snprintf(text, sizeof(text), "%s", rc == 1 ? buf_cstr(&out) : "");
    buf_free(&out);
    return text;
}

TEST(registration_returns_a_handle_and_unregistering_forgets_it) {
    live_registry *r;
    CHECK_EQ_INT(live_registry_new(10, &r), 0);
    uint64_t h = reg(r, "AVG:temp:[sensor=1]");
    CHECK(h >= 1);
    CHECK_EQ_INT(live_count(r), 1);
    buf out;
    buf_init(&out, MEM_MISC, 0);
    CHECK_EQ_INT(live_poll(r, h, 0, &out), 0);
    CHECK_EQ_INT(live_poll(r, h + 12345, 0, &out), SL_ENOTFOUND);
    CHECK_EQ_INT(live_unregister(r, h), 0);
    CHECK_EQ_INT(live_poll(r, h, 0, &out), SL_ENOTFOUND);
    CHECK_EQ_INT(live_unregister(r, h), SL_ENOTFOUND);
    CHECK_EQ_INT(live_count(r), 0);
    /* A new query in the reused slot gets a different handle. */
    uint64_t h2 = reg(r, "AVG:temp:[sensor=1]");
    CHECK(h2 != h);
    CHECK_EQ_INT(live_poll(r, h, 0, &out), SL_ENOTFOUND);
    buf_free(&out);
    live_registry_free(r);
}

TEST(one_point_per_poll_is_delivered_as_the_raw_point_in_the_spec_json) {
    live_registry *r;
    CHECK_EQ_INT(live_registry_new(10, &r), 0);
    uint64_t h = reg(r, "AVG:temp:[sensor=1]");
    feed1(r, 3, "temp", (const char *[]){"unit=c", "sensor=1", NULL}, 1709481600000000000ll, 23.5);
    CHECK_EQ_STR(poll_now(r, h),
                 "{\"timestamp\":1709481600000000000,\"value\":23.5,\"tags\":[\"sensor=1\","
                 "\"unit=c\"],\"producers\":[3]}");
    CHECK_EQ_STR(poll_now(r, h), "");
    live_registry_free(r);
}

TEST(points_between_polls_fold_into_one_event_with_distinct_producers_and_newest_tags) {
    live_registry *r;
    CHECK_EQ_INT(live_registry_new(10, &r), 0);
    uint64_t h = reg(r, "SUM:temp:[sensor=1]");
    uint64_t hmax = reg(r, "MAX:temp:[]");
    feed1(r, 3, "temp", (const char *[]){"sensor=1", "x=a", NULL}, 100, 1);
    feed1(r, 7, "temp", (const char *[]){"sensor=1", "x=b", NULL}, 300, 2);
    feed1(r, 3, "temp", (const char *[]){"sensor=1", "x=c", NULL}, 200, 4); /* late */
    feed1(r, 0, "temp", (const char *[]){"sensor=2", NULL}, 400, 100);      /* no match for h */
    CHECK_EQ_STR(
        poll_now(r, h),
        "{\"timestamp\":300,\"value\":7,\"tags\":[\"sensor=1\",\"x=b\"],\"producers\":[3,7]}");
    CHECK_EQ_STR(poll_now(r, hmax),
                 "{\"timestamp\":400,\"value\":100,\"tags\":[\"sensor=2\"],\"producers\":[3,7,0]}");
    live_registry_free(r);
}

TEST(nan_and_infinite_values_are_written_as_null) {
    live_registry *r;
    CHECK_EQ_INT(live_registry_new(10, &r), 0);
    uint64_t h = reg(r, "AVG:x:[]");
    feed1(r, 1, "x", NULL, 5, INFINITY);
    CHECK_EQ_STR(poll_now(r, h), "{\"timestamp\":5,\"value\":null,\"tags\":[],\"producers\":[1]}");
    feed1(r, 1, "x", NULL, 6, NAN);
    CHECK_EQ_STR(poll_now(r, h), "{\"timestamp\":6,\"value\":null,\"tags\":[],\"producers\":[1]}");
    live_registry_free(r);
}

TEST(only_series_of_the_same_name_whose_tags_satisfy_the_expression_feed_a_query) {
    live_registry *r;
    CHECK_EQ_INT(live_registry_new(10, &r), 0);
    uint64_t h_and = reg(r, "COUNT:req:[env=prod AND NOT region=eu]");
    uint64_t h_or = reg(r, "COUNT:req:[(env=dev OR env=test) AND region=us]");
    uint64_t h_not = reg(r, "COUNT:req:[NOT env=prod]");
    feed1(r, 1, "req", (const char *[]){"env=prod", "region=us", NULL}, 1, 1);
    feed1(r, 1, "req", (const char *[]){"env=prod", "region=eu", NULL}, 2, 1);
    feed1(r, 1, "req", (const char *[]){"env=test", "region=us", NULL}, 3, 1);
    feed1(r, 1, "reqs", (const char *[]){"env=prod", "region=us", NULL}, 4, 1);
    feed1(r, 1, "req", NULL, 5, 1);
    CHECK(strstr(poll_now(r, h_and), "\"value\":1,") != NULL);
    CHECK(strstr(poll_now(r, h_or), "\"value\":1,") != NULL);
    CHECK(strstr(poll_now(r, h_not), "\"value\":2,") != NULL);
    live_registry_free(r);
}

TEST(a_span_window_slides_in_event_time_and_late_points_update_their_pane) {
    live_registry *r;
    CHECK_EQ_INT(live_registry_new(10, &r), 0);
    /* 60 s span: 60 panes of 1 s. */
    uint64_t h = reg(r, "SUM:x:[]:[60s]");
    int64_t t0 = 1000 * S_NS;
    feed1(r, 1, "x", NULL, t0, 1);
    feed1(r, 2, "x", NULL, t0 + 30 * S_NS, 2);
    CHECK(strstr(poll_now(r, h), "\"value\":3,") != NULL);
    CHECK_EQ_STR(poll_now(r, h), ""); /* nothing changed the window */
    /* Late point inside the window updates it. */
    feed1(r, 3, "x", NULL, t0 + 10 * S_NS, 4);
    CHECK_EQ_STR(poll_now(r, h),
                 "{\"timestamp\":1030000000000,\"value\":7,\"tags\":[],\"producers\":[1,2,3]}");
    /* Sliding to t0+65 s drops panes before t0+6 s: the points at t0 leave. */
    feed1(r, 4, "x", NULL, t0 + 65 * S_NS, 8);
    CHECK_EQ_STR(poll_now(r, h),
                 "{\"timestamp\":1065000000000,\"value\":14,\"tags\":[],\"producers\":[2,3,4]}");
    /* A point older than the window changes nothing and is no event. */
    feed1(r, 5, "x", NULL, t0 + 1 * S_NS, 100);
    CHECK_EQ_STR(poll_now(r, h), "");
    live_registry_free(r);
}

TEST(a_span_window_keeps_min_and_max_exact_as_panes_expire) {
    live_registry *r;
    CHECK_EQ_INT(live_registry_new(10, &r), 0);
    uint64_t hmin = reg(r, "MIN:x:[]:[1min]");
    uint64_t hmax = reg(r, "MAX:x:[]:[1min]");
    int64_t t0 = 5000 * S_NS;
    feed1(r, 1, "x", NULL, t0, -50);
    feed1(r, 1, "x", NULL, t0 + 1 * S_NS, 90);
    feed1(r, 1, "x", NULL, t0 + 20 * S_NS, 5);
    CHECK(strstr(poll_now(r, hmin), "\"value\":-50,") != NULL);
    CHECK(strstr(poll_now(r, hmax), "\"value\":90,") != NULL);
    feed1(r, 1, "x", NULL, t0 + 61 * S_NS, 7); /* window now starts at t0 + 2 s */
    CHECK(strstr(poll_now(r, hmin), "\"value\":5,") != NULL);
    CHECK(strstr(poll_now(r, hmax), "\"value\":7,") != NULL);
    live_registry_free(r);
}

TEST(a_two_time_range_feeds_only_points_inside_it_inclusive) {
    live_registry *r;
    CHECK_EQ_INT(live_registry_new(10, &r), 0);
    uint64_t h = reg(r, "COUNT:x:[]:[2000,1000]");
    feed1(r, 1, "x", NULL, 999, 1);
    feed1(r, 1, "x", NULL, 2001, 1);
    CHECK_EQ_STR(poll_now(r, h), "");
    feed1(r, 1, "x", NULL, 1000, 1);
    feed1(r, 1, "x", NULL, 2000, 1);
    CHECK(strstr(poll_now(r, h), "\"value\":2,") != NULL);
    live_registry_free(r);
}

TEST(windowed_percentiles_and_group_by_are_refused_for_live_queries_with_a_reason) {
    live_registry *r;
    CHECK_EQ_INT(live_registry_new(10, &r), 0);
    uint64_t h = 7;
    sl_diag d;
    CHECK_EQ_INT(live_register(r, "P99:x:[]:[5min]", 15, &h, &d), SL_EPARSE);
    CHECK(h == 0);
    CHECK(strstr(d.msg, "sliding window are for historical queries only") != NULL);
    CHECK_EQ_INT(live_register(r, "AVG:x:[]:[1h]:1m", 16, &h, &d), SL_EPARSE);
    CHECK(strstr(d.msg, "group-by-time") != NULL);
    CHECK_EQ_INT(live_register(r, "AVG:x:[", 7, &h, &d), SL_EPARSE);
    CHECK(strstr(d.msg, "expected a tag at column 8") != NULL);
    CHECK_EQ_INT(live_count(r), 0);
    live_registry_free(r);
}

TEST(registration_past_the_configured_maximum_is_refused) {
    live_registry *r;
    CHECK_EQ_INT(live_registry_new(3, &r), 0);
    for (int i = 0; i < 3; i++)
        reg(r, "SUM:x:[]");
    uint64_t h;
    sl_diag d;
    CHECK_EQ_INT(live_register(r, "SUM:x:[]", 8, &h, &d), SL_ELIMIT);
    CHECK(strstr(d.msg, "too many live queries") != NULL);
    live_registry_free(r);
}

TEST(producers_listed_in_one_event_are_capped_at_64_but_all_points_count) {
    live_registry *r;
    CHECK_EQ_INT(live_registry_new(10, &r), 0);
    uint64_t h = reg(r, "COUNT:x:[]");
    for (int i = 1; i <= 100; i++)
        feed1(r, (uint64_t)i, "x", NULL, i, 1);
    const char *ev = poll_now(r, h);
    CHECK(strstr(ev, "\"value\":100,") != NULL);
    int commas = 0;
    for (const char *p = strstr(ev, "producers"); *p; p++)
        commas += *p == ',';
    CHECK_EQ_INT(commas, 63);
    live_registry_free(r);
}

TEST(ten_thousand_queries_each_see_only_their_own_series) {
    live_registry *r;
    CHECK_EQ_INT(live_registry_new(20000, &r), 0);
    static uint64_t hs[10000];
    for (int i = 0; i < 10000; i++) {
        char text[64];
        snprintf(text, sizeof(text), "SUM:cpu:[host=h%d AND dc=x]", i);
        hs[i] = reg(r, text);
        CHECK(hs[i] >= 1);
    }
    point_batch b;
    point_batch_init(&b);
    for (int i = 0; i < 10000; i += 7) {
        char tag[32];
        snprintf(tag, sizeof(tag), "host=h%d", i);
        add_point(&b, "cpu", (const char *[]){tag, "dc=x", NULL}, i, i);
    }
    live_feed(r, &b);
    point_batch_free(&b);
    for (int i = 0; i < 10000; i++) {
        const char *ev = poll_now(r, hs[i]);
        if (i % 7 == 0) {
            char want[64];
            snprintf(want, sizeof(want), "\"value\":%d,", i);
            CHECK_MSG(strstr(ev, want) != NULL, "query %d: %s", i, ev);
        } else {
            CHECK_MSG(ev[0] == '\0', "query %d got %s", i, ev);
        }
    }
    CHECK_EQ_INT(live_registry_check(r), 0);
    for (int i = 0; i < 10000; i++)
        CHECK_EQ_INT(live_unregister(r, hs[i]), 0);
    CHECK_EQ_INT(live_count(r), 0);
    CHECK_EQ_INT(live_registry_check(r), 0);
    live_registry_free(r);
}

typedef struct feeder {
    live_registry *r;
    int delay_ms;
} feeder;

static void *feed_later(void *arg) {
    feeder *f = arg;
    usleep((useconds_t)f->delay_ms * 1000);
    feed1(f->r, 9, "x", NULL, 1, 42);
    return NULL;
}

TEST(poll_waits_a_bounded_time_and_wakes_when_a_point_arrives) {
    live_registry *r;
    CHECK_EQ_INT(live_registry_new(10, &r), 0);
    uint64_t h = reg(r, "LAST:x:[]");
    buf out;
    buf_init(&out, MEM_MISC, 0);
    int64_t t = clock_mono_ns();
    CHECK_EQ_INT(live_poll(r, h, 50, &out), 0);
    int64_t waited = clock_mono_ns() - t;
    CHECK(waited >= 45 * 1000000ll);
    CHECK(waited < 2000 * 1000000ll);
    feeder f = {r, 30};
    pthread_t th;
    pthread_create(&th, NULL, feed_later, &f);
    t = clock_mono_ns();
    CHECK_EQ_INT(live_poll(r, h, 5000, &out), 1);
    waited = clock_mono_ns() - t;
    pthread_join(th, NULL);
    CHECK(waited < 2000 * 1000000ll);
    CHECK(strstr(buf_cstr(&out), "\"value\":42,") != NULL);
    buf_free(&out);
    live_registry_free(r);
}

typedef struct poller {
    live_registry *r;
    uint64_t h;
    int rc;
} poller;

static void *poll_long(void *arg) {
    poller *p = arg;
    buf out;
    buf_init(&out, MEM_MISC, 0);
    p->rc = live_poll(p->r, p->h, 10000, &out);
    buf_free(&out);
    return NULL;
}

TEST(unregistering_a_query_while_it_is_polled_wakes_the_poller_with_not_found) {
    live_registry *r;
    CHECK_EQ_INT(live_registry_new(10, &r), 0);
    poller p = {r, reg(r, "LAST:x:[]"), 99};
    pthread_t th;
    pthread_create(&th, NULL, poll_long, &p);
    usleep(30000);
    int64_t t = clock_mono_ns();
    CHECK_EQ_INT(live_unregister(r, p.h), 0);
    pthread_join(th, NULL);
    CHECK(clock_mono_ns() - t < 2000 * 1000000ll);
    CHECK_EQ_INT(p.rc, SL_ENOTFOUND);
    live_registry_free(r);
}

TEST(registration_and_feeding_survive_the_failure_of_any_allocation) {
    size_t before = mem_in_use(MEM_LIVE) + mem_in_use(MEM_QUERY);
    live_registry *r;
    CHECK_EQ_INT(live_registry_new(10, &r), 0);
    uint64_t h = 0;
    int n;
    for (n = 1; n < 100; n++) {
        sl_diag d;
        fault_arm(FAULT_ALLOC, n);
        int rc = live_register(r, "SUM:x:[a=1]:[1min]", 18, &h, &d);
        fault_arm(FAULT_ALLOC, 0);
        if (rc == 0) break;
        CHECK_EQ_INT(rc, -ENOMEM);
        CHECK_EQ_INT(live_count(r), 0);
    }
    CHECK(n > 1);
    CHECK(h >= 1);
    CHECK_EQ_INT(live_registry_check(r), 0);
    /* A failed allocation while feeding loses at most tags or a producer id, never
     * a point's value. */
    for (n = 1; n < 4; n++) {
        point_batch b;
        point_batch_init(&b);
        b.producer_id = (uint64_t)n;
        add_point(&b, "x", (const char *[]){"a=1", NULL}, n, 10);
        fault_arm(FAULT_ALLOC, n);
        live_feed(r, &b);
        fault_arm(FAULT_ALLOC, 0);
        point_batch_free(&b);
    }
    CHECK(strstr(poll_now(r, h), "\"value\":30,") != NULL);
    live_registry_free(r);
    CHECK_EQ_U64(mem_in_use(MEM_LIVE) + mem_in_use(MEM_QUERY), before);
}

TEST(a_live_percentile_summarises_the_points_since_the_last_poll) {
    live_registry *r;
    CHECK_EQ_INT(live_registry_new(10, &r), 0);
    uint64_t h = reg(r, "P90:x:[]");
    for (int i = 1; i <= 100; i++)
        feed1(r, 1, "x", NULL, i, 101 - i);
    CHECK(strstr(poll_now(r, h), "\"value\":90,") != NULL);
    feed1(r, 1, "x", NULL, 500, 7);
    CHECK(strstr(poll_now(r, h), "\"value\":7,") != NULL);
    /* Past the sample size the answer is approximate but stays near the truth (899). */
    for (int i = 0; i < 5000; i++)
        feed1(r, 1, "x", NULL, 1000 + i, i % 1000);
    const char *ev = poll_now(r, h);
    const char *v = strstr(ev, "\"value\":");
    CHECK(v != NULL);
    double p90 = strtod(v + 8, NULL);
    CHECK_MSG(p90 >= 850 && p90 <= 950, "%s", ev);
    live_registry_free(r);
}

TEST(random_registration_and_removal_keep_the_index_consistent_and_exact) {
    live_registry *r;
    CHECK_EQ_INT(live_registry_new(1000, &r), 0);
    static const char *texts[] = {"SUM:a:[]",           "SUM:a:[t=1]",     "SUM:a:[t=1 AND u=2]",
                                  "SUM:b:[t=1 OR u=2]", "SUM:b:[NOT t=1]", "SUM:a:[u=2 NOT t=1]"};
    uint64_t hs[200] = {0};
    int which[200];
    srand(3);
    for (int round = 0; round < 3000; round++) {
        int i = rand() % 200;
        if (hs[i]) {
            CHECK_EQ_INT(live_unregister(r, hs[i]), 0);
            hs[i] = 0;
        } else {
            which[i] = rand() % 6;
            hs[i] = reg(r, texts[which[i]]);
            CHECK(hs[i] >= 1);
        }
        if (round % 100 == 0) CHECK_EQ_INT(live_registry_check(r), 0);
    }
    /* One point of a{t=1,u=2}: exactly the queries whose expression it satisfies. */
    feed1(r, 1, "a", (const char *[]){"t=1", "u=2", NULL}, 1, 5);
    for (int i = 0; i < 200; i++) {
        if (!hs[i]) continue;
        bool want = which[i] <= 2;
        const char *ev = poll_now(r, hs[i]);
        CHECK_MSG((ev[0] != '\0') == want, "%s: '%s'", texts[which[i]], ev);
    }
    CHECK_EQ_INT(live_registry_check(r), 0);
    live_registry_free(r);
}

typedef struct stress {
    live_registry *r;
    _Atomic bool stop;
    _Atomic uint64_t handles[8];
    _Atomic uint64_t events;
} stress;

static void *stress_feed(void *arg) {
    stress *s = arg;
    point_batch b;
    point_batch_init(&b);
    int64_t ts = 0;
    while (!s->stop) {
        point_batch_reset(&b);
        for (int i = 0; i < 50; i++) {
            char tag[16];
            snprintf(tag, sizeof(tag), "k=%d", i % 4);
            add_point(&b, "s", (const char *[]){tag, NULL}, ts++, i);
        }
        b.producer_id = (uint64_t)(ts % 5);
        live_feed(s->r, &b);
    }
    point_batch_free(&b);
    return NULL;
}

static void *stress_poll(void *arg) {
    stress *s = arg;
    buf out;
    buf_init(&out, MEM_MISC, 0);
    unsigned i = 0;
    while (!s->stop) {
        uint64_t h = s->handles[i++ % 8];
        buf_reset(&out);
        int rc = live_poll(s->r, h, 5, &out);
        if (rc == 1) s->events++;
        SL_ASSERT(rc == 0 || rc == 1 || rc == SL_ENOTFOUND);
    }
    buf_free(&out);
    return NULL;
}

static void *stress_churn(void *arg) {
    stress *s = arg;
    static const char *texts[] = {"SUM:s:[k=1]", "AVG:s:[]:[100ns]", "COUNT:s:[NOT k=2]",
                                  "P50:s:[k=0 OR k=3]"};
    unsigned i = 0;
    while (!s->stop) {
        unsigned slot = i % 8;
        uint64_t old = s->handles[slot];
        if (old) SL_ASSERT(live_unregister(s->r, old) == 0);
        uint64_t h = 0;
        sl_diag d;
        SL_ASSERT(live_register(s->r, texts[i % 4], strlen(texts[i % 4]), &h, &d) == 0);
        s->handles[slot] = h;
        i++;
        usleep(200);
    }
    return NULL;
}

TEST(feeding_polling_and_churning_queries_concurrently_stays_consistent) {
    stress s = {0};
    CHECK_EQ_INT(live_registry_new(100, &s.r), 0);
    pthread_t th[4];
    pthread_create(&th[0], NULL, stress_churn, &s);
    pthread_create(&th[1], NULL, stress_feed, &s);
    pthread_create(&th[2], NULL, stress_poll, &s);
    pthread_create(&th[3], NULL, stress_poll, &s);
    usleep(400000);
    s.stop = true;
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK(s.events > 0);
    CHECK_EQ_INT(live_registry_check(s.r), 0);
    CHECK(live_count(s.r) <= 8);
    live_registry_free(s.r);
}

TEST(a_span_window_handles_timestamps_at_the_ends_of_time) {
    live_registry *r;
    CHECK_EQ_INT(live_registry_new(10, &r), 0);
    uint64_t h = reg(r, "COUNT:x:[]:[10ns]"); /* 1 ns panes */
    feed1(r, 1, "x", NULL, INT64_MIN, 1);
    feed1(r, 1, "x", NULL, INT64_MIN + 3, 1);
    CHECK(strstr(poll_now(r, h), "\"value\":2,") != NULL);
    feed1(r, 1, "x", NULL, INT64_MAX, 1);
    CHECK(strstr(poll_now(r, h), "\"value\":1,") != NULL);
    feed1(r, 1, "x", NULL, INT64_MAX - 9, 1);
    feed1(r, 1, "x", NULL, INT64_MAX - 10, 1); /* outside the 10 panes */
    CHECK(strstr(poll_now(r, h), "\"value\":2,") != NULL);
    live_registry_free(r);
}

TEST(first_and_last_of_a_point_at_the_end_of_time_are_its_value) {
    live_registry *r;
    CHECK_EQ_INT(live_registry_new(10, &r), 0);
    uint64_t hf = reg(r, "FIRST:x:[]");
    uint64_t hl = reg(r, "LAST:x:[]");
    feed1(r, 1, "x", NULL, INT64_MAX, 5);
    CHECK(strstr(poll_now(r, hf), "\"value\":5,") != NULL);
    CHECK(strstr(poll_now(r, hl), "\"value\":5,") != NULL);
    live_registry_free(r);
}
