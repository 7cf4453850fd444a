/* host_test.c - the seven env host functions and the WASI subset, driven by
 * small WAT modules (wat2wasm) in a real wf_manager with a recording env. */
#include "wf_testutil.h"

#include <math.h>

/* A manager that never restarts: a run's outcome stays visible. */
static wf_manager *mgr(tenv *t) {
    wf_env env;
    wf_config cfg;
    tenv_init(t, &env);
    wf_config_defaults(&cfg);
    cfg.restart_backoff_ms = 0;
    wf_manager *m = NULL;
    if (wf_manager_new(&cfg, &env, &m) < 0) return NULL;
    return m;
}

/* Deploys and waits for the run to end; returns the final status in s. */
static bool run_to_end(wf_manager *m, const char *name, const char *wat, wf_status *s) {
    sl_diag d;
    int rc = wf_deploy_wat(m, name, wat, &d);
    if (rc < 0) {
        fprintf(stderr, "deploy %s: %s\n", name, d.msg);
        return false;
    }
    int64_t end = clock_mono_ns() + 10000000000LL;
    while (clock_mono_ns() < end) {
        if (wf_status_get(m, name, s) == 0 && (s->state == WF_EXITED || s->state == WF_FAILED))
            return true;
        sleep_ms(5);
    }
    return false;
}

TEST(writeback_ws_sends_the_region_text_as_one_frame_to_that_connection) {
    tenv t;
    wf_manager *m = mgr(&t);
    CHECK(m);
    wf_status s;
    CHECK(run_to_end(m, "alert", WAT_PRELUDE
        " (data (i32.const 200) \"ALERT: threshold exceeded\")\n"
        " (func (export \"call\") (result i32)\n"
        "  (call $reg (i32.const 100) (i32.const 200) (i32.const 25))\n"
        "  (call $ws (i64.const 7) (i32.const 100))))\n", &s));
    CHECK_EQ_STR(wf_state_name(s.state), "exited");
    CHECK_EQ_INT(t.frames, 1);
    CHECK_EQ_U64(t.frame_conn[0], 7);
    CHECK_EQ_STR(t.frame_text[0], "ALERT: threshold exceeded");
    wf_manager_free(m);
    tenv_destroy(&t);
}

TEST(writeback_ws_to_a_closed_or_full_connection_returns_non_zero) {
    tenv t;
    wf_manager *m = mgr(&t);
    CHECK(m);
    wf_status s;
    /* Returns 10 * result(999, closed) + result(998, full). */
    CHECK(run_to_end(m, "closed", WAT_PRELUDE
        " (data (i32.const 200) \"hi\")\n"
        " (func (export \"call\") (result i32)\n"
        "  (call $reg (i32.const 100) (i32.const 200) (i32.const 2))\n"
        "  (i32.add (i32.mul (call $ws (i64.const 999) (i32.const 100)) (i32.const 10))\n"
        "           (call $ws (i64.const 998) (i32.const 100)))))\n", &s));
    CHECK_EQ_STR(s.last_error, "exited: call returned 12");
    CHECK_EQ_INT(t.frames, 0);
    CHECK(wf_log_has(m, "closed", "not reading"));
    wf_manager_free(m);
    tenv_destroy(&t);
}

TEST(a_region_outside_memory_is_an_error_result_not_a_crash) {
    tenv t;
    wf_manager *m = mgr(&t);
    CHECK(m);
    wf_status s;
    /* Region address past memory; Region whose bytes run past memory; length >
     * capacity; null. Each must return 3; the sum is 12. */
    CHECK(run_to_end(m, "badregion", WAT_PRELUDE
        " (func (export \"call\") (result i32) (local $sum i32)\n"
        "  (local.set $sum (call $ws (i64.const 7) (i32.const 0x7ffffff0)))\n"
        "  (call $reg (i32.const 100) (i32.const 131000) (i32.const 100))\n"
        "  (local.set $sum (i32.add (local.get $sum) (call $ws (i64.const 7) (i32.const 100))))\n"
        "  (call $reg (i32.const 100) (i32.const 200) (i32.const 5))\n"
        "  (i32.store offset=4 (i32.const 100) (i32.const 4))\n"
        "  (local.set $sum (i32.add (local.get $sum) (call $ws (i64.const 7) (i32.const 100))))\n"
        "  (i32.add (local.get $sum) (call $ws (i64.const 7) (i32.const 0)))))\n", &s));
    CHECK_EQ_STR(s.last_error, "exited: call returned 12");
    CHECK_EQ_INT(t.frames, 0);
    CHECK(wf_log_has(m, "badregion", "lies outside memory"));
    CHECK(wf_log_has(m, "badregion", "outside memory"));
    CHECK(wf_log_has(m, "badregion", "length 5 > capacity 4"));
    wf_manager_free(m);
    tenv_destroy(&t);
}

TEST(poll_handle_hands_the_event_json_to_the_guest_as_a_region) {
    tenv t;
    wf_manager *m = mgr(&t);
    CHECK(m);
    sl_diag d;
    /* Registers a live query, polls until an event arrives, echoes it to conn 5. */
    CHECK(wf_deploy_wat(m, "echo", WAT_PRELUDE
        " (data (i32.const 200) \"AVG:temp:[sensor=1]\")\n"
        " (func (export \"call\") (result i32) (local $h i64) (local $r i32)\n"
        "  (call $reg (i32.const 100) (i32.const 200) (i32.const 19))\n"
        "  (local.set $h (call $query_live (i32.const 100)))\n"
        "  (if (i64.eqz (local.get $h)) (then (return (i32.const 10))))\n"
        "  (loop $wait\n"
        "   (local.set $r (call $poll (local.get $h)))\n"
        "   (br_if $wait (i32.eqz (local.get $r))))\n"
        "  (call $ws (i64.const 5) (local.get $r))))\n", &d) == 0);
    sleep_ms(120); /* at least two empty polls first */
    const char *ev = "{\"timestamp\":1709481600000000000,\"value\":23.5,\"tags\":[\"sensor=1\"],\"producers\":[3]}";
    tenv_push_event(&t, ev);
    wf_status s;
    CHECK(wf_wait_state(m, "echo", WF_EXITED, 10000, &s));
    CHECK_EQ_INT(t.frames, 1);
    CHECK_EQ_STR(t.frame_text[0], ev);
    CHECK_EQ_STR(t.query_text, "AVG:temp:[sensor=1]");
    CHECK_EQ_U64(s.events_handled, 1);
    CHECK_EQ_INT(t.unregistered, 1); /* the run's handle is released when it ends */
    wf_manager_free(m);
    tenv_destroy(&t);
}

TEST(query_live_with_bad_text_returns_zero_and_logs_why) {
    tenv t;
    wf_manager *m = mgr(&t);
    CHECK(m);
    wf_status s;
    CHECK(run_to_end(m, "badq", WAT_PRELUDE
        " (data (i32.const 200) \"NOPE\")\n"
        " (func (export \"call\") (result i32)\n"
        "  (call $reg (i32.const 100) (i32.const 200) (i32.const 4))\n"
        "  (i32.wrap_i64 (call $query_live (i32.const 100)))))\n", &s));
    CHECK_EQ_STR(wf_state_name(s.state), "exited");
    CHECK(wf_log_has(m, "badq", "expected an aggregate at column 1"));
    wf_manager_free(m);
    tenv_destroy(&t);
}

TEST(free_handle_frees_own_handles_and_refuses_unknown_ones) {
    tenv t;
    wf_manager *m = mgr(&t);
    CHECK(m);
    wf_status s;
    /* own handle -> 0; the same again -> 1; a handle never given -> 1: returns 0*100+1*10+1. */
    CHECK(run_to_end(m, "freeh", WAT_PRELUDE
        " (data (i32.const 200) \"AVG:temp\")\n"
        " (func (export \"call\") (result i32) (local $h i64)\n"
        "  (call $reg (i32.const 100) (i32.const 200) (i32.const 8))\n"
        "  (local.set $h (call $query_live (i32.const 100)))\n"
        "  (i32.add (i32.add (i32.mul (call $free_handle (local.get $h)) (i32.const 100))\n"
        "                    (i32.mul (call $free_handle (local.get $h)) (i32.const 10)))\n"
        "           (call $free_handle (i64.const 12345)))))\n", &s));
    CHECK_EQ_STR(s.last_error, "exited: call returned 11");
    CHECK_EQ_INT(t.unregistered, 1);
    wf_manager_free(m);
    tenv_destroy(&t);
}

TEST(query_history_returns_the_aggregate_and_zero_on_error) {
    tenv t;
    wf_manager *m = mgr(&t);
    CHECK(m);
    wf_status s;
    /* 42.5 for AVG, 0.0 for a query that fails: returns 0 if both are as expected. */
    CHECK(run_to_end(m, "hist", WAT_PRELUDE
        " (data (i32.const 200) \"AVG:temp:[1h]\")\n"
        " (data (i32.const 300) \"XXX:temp\")\n"
        " (func (export \"call\") (result i32)\n"
        "  (call $reg (i32.const 100) (i32.const 200) (i32.const 13))\n"
        "  (call $reg (i32.const 120) (i32.const 300) (i32.const 8))\n"
        "  (if (f64.ne (call $query_history (i32.const 100)) (f64.const 42.5)) (then (return (i32.const 1))))\n"
        "  (if (f64.ne (call $query_history (i32.const 120)) (f64.const 0)) (then (return (i32.const 2))))\n"
        "  (i32.const 0)))\n", &s));
    CHECK_EQ_STR(wf_state_name(s.state), "exited");
    CHECK(wf_log_has(m, "hist", "unknown aggregate"));
    wf_manager_free(m);
    tenv_destroy(&t);
}

TEST(write_event_parses_the_three_text_regions_into_one_point) {
    tenv t;
    wf_manager *m = mgr(&t);
    CHECK(m);
    wf_status s;
    CHECK(run_to_end(m, "we", WAT_PRELUDE
        " (data (i32.const 200) \" 1700000000000000123 \")\n"
        " (data (i32.const 300) \" 23.25\")\n"
        " (data (i32.const 400) \"host=a , series=cpu,, b=2 \")\n"
        " (func (export \"call\") (result i32)\n"
        "  (call $reg (i32.const 100) (i32.const 200) (i32.const 21))\n"
        "  (call $reg (i32.const 112) (i32.const 300) (i32.const 6))\n"
        "  (call $reg (i32.const 124) (i32.const 400) (i32.const 26))\n"
        "  (call $write_event (i32.const 100) (i32.const 112) (i32.const 124))))\n", &s));
    CHECK_EQ_STR(wf_state_name(s.state), "exited");
    CHECK_EQ_INT(t.points, 1);
    CHECK_EQ_INT(t.point_ts, 1700000000000000123LL);
    CHECK(t.point_value == 23.25);
    CHECK_EQ_STR(t.point_key, "cpu,b=2,host=a");
    wf_manager_free(m);
    tenv_destroy(&t);
}

TEST(write_event_without_a_series_token_writes_series_temp) {
    tenv t;
    wf_manager *m = mgr(&t);
    CHECK(m);
    wf_status s;
    CHECK(run_to_end(m, "we2", WAT_PRELUDE
        " (data (i32.const 200) \"5\")\n"
        " (data (i32.const 300) \"-1e3\")\n"
        " (data (i32.const 400) \"sensor=1\")\n"
        " (func (export \"call\") (result i32)\n"
        "  (call $reg (i32.const 100) (i32.const 200) (i32.const 1))\n"
        "  (call $reg (i32.const 112) (i32.const 300) (i32.const 4))\n"
        "  (call $reg (i32.const 124) (i32.const 400) (i32.const 8))\n"
        "  (call $write_event (i32.const 100) (i32.const 112) (i32.const 124))))\n", &s));
    CHECK_EQ_STR(wf_state_name(s.state), "exited");
    CHECK_EQ_STR(t.point_key, "temp,sensor=1");
    CHECK(t.point_value == -1000.0);
    wf_manager_free(m);
    tenv_destroy(&t);
}

TEST(write_event_with_a_value_that_is_not_a_number_fails_and_writes_nothing) {
    tenv t;
    wf_manager *m = mgr(&t);
    CHECK(m);
    wf_status s;
    CHECK(run_to_end(m, "we3", WAT_PRELUDE
        " (data (i32.const 200) \"5\")\n"
        " (data (i32.const 300) \"nan\")\n"
        " (data (i32.const 400) \"\")\n"
        " (func (export \"call\") (result i32)\n"
        "  (call $reg (i32.const 100) (i32.const 200) (i32.const 1))\n"
        "  (call $reg (i32.const 112) (i32.const 300) (i32.const 3))\n"
        "  (call $reg (i32.const 124) (i32.const 400) (i32.const 0))\n"
        "  (call $write_event (i32.const 100) (i32.const 112) (i32.const 124))))\n", &s));
    CHECK_EQ_STR(s.last_error, "exited: call returned 2");
    CHECK_EQ_INT(t.points, 0);
    CHECK(wf_log_has(m, "we3", "is not a finite decimal number"));
    wf_manager_free(m);
    tenv_destroy(&t);
}

#define WASI_PRELUDE                                                                            \
    "(module\n"                                                                                 \
    " (import \"wasi_snapshot_preview1\" \"fd_write\" (func $fd_write (param i32 i32 i32 i32) (result i32)))\n" \
    " (import \"wasi_snapshot_preview1\" \"proc_exit\" (func $exit (param i32)))\n"             \
    " (import \"wasi_snapshot_preview1\" \"args_sizes_get\" (func $args_sizes (param i32 i32) (result i32)))\n" \
    " (import \"wasi_snapshot_preview1\" \"args_get\" (func $args_get (param i32 i32) (result i32)))\n" \
    " (import \"wasi_snapshot_preview1\" \"clock_time_get\" (func $clock (param i32 i64 i32) (result i32)))\n" \
    " (import \"wasi_snapshot_preview1\" \"random_get\" (func $random (param i32 i32) (result i32)))\n" \
    " (memory (export \"memory\") 1)\n"                                                         \
    " (func $out (param $fd i32) (param $p i32) (param $n i32) (result i32)\n"                  \
    "  (i32.store (i32.const 0) (local.get $p))\n"                                              \
    "  (i32.store (i32.const 4) (local.get $n))\n"                                              \
    "  (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 16)))\n"

TEST(wasi_stdout_and_stderr_go_to_the_log_line_by_line) {
    tenv t;
    wf_manager *m = mgr(&t);
    CHECK(m);
    wf_status s;
    CHECK(run_to_end(m, "wasi", WASI_PRELUDE
        " (data (i32.const 100) \"hello\\nwor\")\n"
        " (data (i32.const 200) \"ld\\n\")\n"
        " (data (i32.const 300) \"oops\\n\")\n"
        " (func (export \"_start\")\n"
        "  (drop (call $out (i32.const 1) (i32.const 100) (i32.const 9)))\n"
        "  (drop (call $out (i32.const 2) (i32.const 300) (i32.const 5)))\n"
        "  (drop (call $out (i32.const 1) (i32.const 200) (i32.const 3)))\n"
        "  (if (i32.ne (call $out (i32.const 7) (i32.const 200) (i32.const 3)) (i32.const 8))\n"
        "   (then (unreachable)))\n"
        "  (call $exit (i32.const 0))))\n", &s));
    CHECK_EQ_STR(wf_state_name(s.state), "exited");
    CHECK(wf_log_has(m, "wasi", "\nhello\n"));
    CHECK(wf_log_has(m, "wasi", "\noops\nworld\n"));
    CHECK(wf_log_has(m, "wasi", "exited: proc_exit(0)"));
    wf_manager_free(m);
    tenv_destroy(&t);
}

TEST(wasi_args_are_the_workflow_name_and_clock_and_random_work) {
    tenv t;
    wf_manager *m = mgr(&t);
    CHECK(m);
    wf_status s;
    /* argv[0] is printed; the realtime clock must be after 2020; random_get fills 32
     * bytes that are not all zero. */
    CHECK(run_to_end(m, "argname", WASI_PRELUDE
        " (func (export \"_start\") (local $len i32) (local $i i32) (local $or i32)\n"
        "  (drop (call $args_sizes (i32.const 20) (i32.const 24)))\n"
        "  (if (i32.ne (i32.load (i32.const 20)) (i32.const 1)) (then (unreachable)))\n"
        "  (local.set $len (i32.load (i32.const 24)))\n"
        "  (drop (call $args_get (i32.const 32) (i32.const 64)))\n"
        "  (i32.store8 (i32.add (i32.const 63) (local.get $len)) (i32.const 10))\n"
        "  (drop (call $out (i32.const 1) (i32.load (i32.const 32)) (local.get $len)))\n"
        "  (if (call $clock (i32.const 0) (i64.const 1) (i32.const 200)) (then (unreachable)))\n"
        "  (if (i64.lt_u (i64.load (i32.const 200)) (i64.const 1577836800000000000)) (then (unreachable)))\n"
        "  (if (call $random (i32.const 300) (i32.const 32)) (then (unreachable)))\n"
        "  (loop $l (local.set $or (i32.or (local.get $or) (i32.load8_u (i32.add (i32.const 300) (local.get $i)))))\n"
        "   (local.set $i (i32.add (local.get $i) (i32.const 1)))\n"
        "   (br_if $l (i32.lt_u (local.get $i) (i32.const 32))))\n"
        "  (if (i32.eqz (local.get $or)) (then (unreachable)))\n"
        "  (if (i32.ne (call $random (i32.const 65530) (i32.const 32)) (i32.const 21)) (then (unreachable)))))\n",
        &s));
    CHECK_MSG(s.state == WF_EXITED, "state %s: %s", wf_state_name(s.state), s.last_error);
    CHECK(wf_log_has(m, "argname", "\nargname\n"));
    wf_manager_free(m);
    tenv_destroy(&t);
}

TEST(polling_an_unknown_handle_waits_instead_of_spinning) {
    tenv t;
    wf_manager *m = mgr(&t);
    CHECK(m);
    wf_status s;
    int64_t t0 = clock_mono_ns();
    /* Ten polls of a handle never registered: each returns 0 after the bounded wait. */
    CHECK(run_to_end(m, "spinpoll", WAT_PRELUDE
        " (func (export \"call\") (result i32) (local $i i32) (local $sum i32)\n"
        "  (loop $l (local.set $sum (i32.add (local.get $sum) (call $poll (i64.const 12345))))\n"
        "   (local.set $i (i32.add (local.get $i) (i32.const 1)))\n"
        "   (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))\n"
        "  (local.get $sum)))\n", &s));
    int64_t ms = (clock_mono_ns() - t0) / 1000000;
    CHECK_EQ_STR(wf_state_name(s.state), "exited");
    CHECK_MSG(ms >= 10 * WF_POLL_WAIT_MS_DEFAULT, "ten failed polls took only %lld ms", (long long)ms);
    CHECK(wf_log_has(m, "spinpoll", "u_poll_handle: unknown handle 12345"));
    wf_manager_free(m);
    tenv_destroy(&t);
}

/* A guest whose allocate always answers alloc_result: it registers a live query,
 * polls it ten times and returns what the call tail computes from $r (the OR of the
 * poll results). The host must hand over no event and write nothing. */
static bool deploy_bad_allocate(wf_manager *m, const char *name, const char *alloc_result,
                                const char *call_tail) {
    char wat[2048];
    snprintf(wat, sizeof wat,
        "(module (import \"env\" \"u_query_live\" (func $ql (param i32) (result i64)))\n"
        " (import \"env\" \"u_poll_handle\" (func $poll (param i64) (result i32)))\n"
        " (memory (export \"memory\") 1)\n"
        " (data (i32.const 0) \"\\5a\")\n"
        " (data (i32.const 200) \"AVG:temp\")\n"
        " (func (export \"allocate\") (param i32) (result i32) (i32.const %s))\n"
        " (func (export \"call\") (result i32) (local $h i64) (local $i i32) (local $r i32)\n"
        "  (i32.store (i32.const 100) (i32.const 200)) (i32.store (i32.const 104) (i32.const 8))\n"
        "  (i32.store (i32.const 108) (i32.const 8))\n"
        "  (local.set $h (call $ql (i32.const 100)))\n"
        "  (loop $l (local.set $r (i32.or (local.get $r) (call $poll (local.get $h))))\n"
        "   (local.set $i (i32.add (local.get $i) (i32.const 1)))\n"
        "   (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))\n"
        "  %s))\n",
        alloc_result, call_tail);
    sl_diag d;
    return wf_deploy_wat(m, name, wat, &d) == 0;
}

TEST(an_allocate_that_fails_with_0_gets_no_data_and_the_guests_address_0_is_untouched) {
    tenv t;
    wf_manager *m = mgr(&t);
    CHECK(m);
    /* call returns 0 only if no poll gave data and the byte at address 0 is still 0x5a. */
    CHECK(deploy_bad_allocate(m, "nullalloc", "0",
                              "(if (result i32) (local.get $r) (then (i32.const 1))\n"
                              "   (else (i32.ne (i32.load8_u (i32.const 0)) (i32.const 0x5a))))"));
    tenv_push_event(&t, "{\"timestamp\":1,\"value\":2,\"tags\":[],\"producers\":[]}");
    wf_status s;
    CHECK(wf_wait_state(m, "nullalloc", WF_EXITED, 10000, &s));
    CHECK_EQ_U64(s.events_handled, 0);
    CHECK(wf_log_has(m, "nullalloc", "null or outside memory"));
    CHECK(wf_log_has(m, "nullalloc", "exited: call returned 0"));
    wf_manager_free(m);
    tenv_destroy(&t);
}

TEST(an_allocate_that_returns_memory_outside_the_guest_gets_no_data_and_no_fault) {
    tenv t;
    wf_manager *m = mgr(&t);
    CHECK(m);
    /* allocate answers an address past the end of memory: the event cannot be handed
     * over, so poll returns 0 (logged) and the host writes nothing anywhere. */
    CHECK(deploy_bad_allocate(m, "badalloc", "0x7ffffff0", "(local.get $r)"));
    tenv_push_event(&t, "{\"timestamp\":1,\"value\":2,\"tags\":[],\"producers\":[]}");
    wf_status s;
    CHECK(wf_wait_state(m, "badalloc", WF_EXITED, 10000, &s));
    CHECK_EQ_U64(s.events_handled, 0);
    CHECK(wf_log_has(m, "badalloc", "outside memory"));
    wf_manager_free(m);
    tenv_destroy(&t);
}
