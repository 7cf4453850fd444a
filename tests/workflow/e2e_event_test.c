/* e2e_event_test.c - host functions against the real server's parts: a point a
 * workflow writes (u_write_event) is stored and its own historical query reads it;
 * u_writeback_ws to a producer that does not read fails once net's bounded send
 * queue is full (the server's memory stays bounded). */
#include "e2e_util.h"

TEST(a_point_written_by_a_workflow_is_stored_and_queryable) {
    srv s;
    CHECK(srv_start(&s, NULL));
    uint8_t *bytes = NULL;
    size_t n = 0;
    /* write_event(1000, 42.5, "series=wfout, src=e2e"), then SUM over it must be 42.5. */
    CHECK(wat_compile(WAT_PRELUDE
        " (data (i32.const 200) \"1000\")\n"
        " (data (i32.const 300) \"42.5\")\n"
        " (data (i32.const 400) \"series=wfout, src=e2e\")\n"
        " (data (i32.const 500) \"SUM:wfout:[src=e2e]\")\n"
        " (func (export \"call\") (result i32)\n"
        "  (call $reg (i32.const 100) (i32.const 200) (i32.const 4))\n"
        "  (call $reg (i32.const 112) (i32.const 300) (i32.const 4))\n"
        "  (call $reg (i32.const 124) (i32.const 400) (i32.const 21))\n"
        "  (call $reg (i32.const 136) (i32.const 500) (i32.const 19))\n"
        "  (if (call $write_event (i32.const 100) (i32.const 112) (i32.const 124))\n"
        "   (then (return (i32.const 1))))\n"
        "  (if (f64.ne (call $query_history (i32.const 136)) (f64.const 42.5))\n"
        "   (then (return (i32.const 2))))\n"
        "  (i32.const 0)))\n", &bytes, &n) == 0);
    buf b;
    buf_init(&b, MEM_MISC, 0);
    long st = http_req(s.port, "POST", "/workflows/writer", bytes, n, &b);
    free(bytes);
    CHECK_EQ_INT(st, 201);
    bool done = false;
    for (int i = 0; i < 200 && !done; i++) {
        sleep_ms(25);
        st = http_req(s.port, "GET", "/workflows/writer", NULL, 0, &b);
        done = st == 200 && strstr(buf_cstr(&b), "\"state\":\"running\"") == NULL;
    }
    CHECK_MSG(strstr(buf_cstr(&b), "\"state\":\"exited\"") != NULL, "HTTP %ld: %s", st, buf_cstr(&b));
    st = http_req(s.port, "GET", "/query?q=SUM%3Awfout%3A%5Bsrc%3De2e%5D", NULL, 0, &b);
    CHECK_EQ_INT(st, 200);
    CHECK_MSG(strstr(buf_cstr(&b), "\"value\":42.5") != NULL, "%s", buf_cstr(&b));
    CHECK(strstr(buf_cstr(&b), "\"count\":1") != NULL);
    buf_free(&b);
    CHECK_EQ_INT(srv_stop(&s), 0);
    test_rmrf(s.dir);
}

TEST(writeback_to_a_producer_that_does_not_read_fails_once_its_send_queue_is_full) {
    srv s;
    CHECK(srv_start(&s, NULL));
    uint8_t *bytes = NULL;
    size_t n = 0;
    /* Waits for an event of AVG:idle:[k=1], takes the producer id after the last '['
     * of the event JSON, then writes 60,000-byte frames to it until a writeback fails
     * (at most 20,000); returns 100 + that result (2 = send queue full). */
    CHECK(wat_compile(WAT_PRELUDE
        " (data (i32.const 200) \"AVG:idle:[k=1]\")\n"
        " (func (export \"call\") (result i32) (local $h i64) (local $r i32) (local $e i32)\n"
        "  (local $c i32) (local $id i64) (local $i i32) (local $rc i32)\n"
        "  (call $reg (i32.const 100) (i32.const 200) (i32.const 14))\n"
        "  (local.set $h (call $query_live (i32.const 100)))\n"
        "  (loop $wait (local.set $r (call $poll (local.get $h))) (br_if $wait (i32.eqz (local.get $r))))\n"
        "  (local.set $e (i32.add (i32.load (local.get $r)) (i32.load offset=8 (local.get $r))))\n"
        "  (loop $back (local.set $e (i32.sub (local.get $e) (i32.const 1)))\n"
        "   (br_if $back (i32.ne (i32.load8_u (local.get $e)) (i32.const 91))))\n"
        "  (block $done (loop $dig\n"
        "   (local.set $e (i32.add (local.get $e) (i32.const 1)))\n"
        "   (local.set $c (i32.load8_u (local.get $e)))\n"
        "   (br_if $done (i32.or (i32.lt_u (local.get $c) (i32.const 48)) (i32.gt_u (local.get $c) (i32.const 57))))\n"
        "   (local.set $id (i64.add (i64.mul (local.get $id) (i64.const 10))\n"
        "                           (i64.extend_i32_u (i32.sub (local.get $c) (i32.const 48)))))\n"
        "   (br $dig)))\n"
        "  (call $reg (i32.const 120) (i32.const 65536) (i32.const 60000))\n"
        "  (block $out (loop $send\n"
        "   (local.set $rc (call $ws (local.get $id) (i32.const 120)))\n"
        "   (br_if $out (local.get $rc))\n"
        "   (local.set $i (i32.add (local.get $i) (i32.const 1)))\n"
        "   (br_if $send (i32.lt_u (local.get $i) (i32.const 20000)))))\n"
        "  (i32.add (i32.const 100) (local.get $rc))))\n", &bytes, &n) == 0);
    buf b;
    buf_init(&b, MEM_MISC, 0);
    long st = http_req(s.port, "POST", "/workflows/pusher", bytes, n, &b);
    free(bytes);
    CHECK_EQ_INT(st, 201);
    /* Wait until the guest's u_query_live has registered (its own thread, so later
     * than the deploy's answer, and much later on a loaded machine). */
    for (int i = 0; i < 400; i++) {
        http_req(s.port, "GET", "/health", NULL, 0, &b);
        if (strstr(buf_cstr(&b), "\"live_queries\":1")) break;
        sleep_ms(25);
    }
    CHECK_MSG(strstr(buf_cstr(&b), "\"live_queries\":1") != NULL, "%s", buf_cstr(&b));
    char line[128];
    char args[128];
    snprintf(args, sizeof(args), "idle %d idle k=1 1 4", s.port);
    CHECK(producer(args, line, sizeof(line)) == 0);
    http_req(s.port, "GET", "/workflows/pusher", NULL, 0, &b);
    CHECK_MSG(strstr(buf_cstr(&b), "exited: call returned 102") != NULL, "%s", buf_cstr(&b));
    http_req(s.port, "GET", "/workflows/pusher/logs", NULL, 0, &b);
    CHECK(strstr(buf_cstr(&b), "is not reading (send queue full)") != NULL);
    buf_free(&b);
    CHECK_EQ_INT(srv_stop(&s), 0);
    test_rmrf(s.dir);
}
