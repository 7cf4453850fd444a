/* lifecycle_test.c - deploy validation, limits, hostile modules, restart policy,
 * redeploy, remove, list and logs of the wf_manager. */
#include "wf_testutil.h"

static wf_manager *mgr_with(tenv *t, void (*tweak)(wf_config *)) {
    wf_env env;
    wf_config cfg;
    tenv_init(t, &env);
    wf_config_defaults(&cfg);
    cfg.restart_backoff_ms = 0;
    if (tweak) tweak(&cfg);
    wf_manager *m = NULL;
    if (wf_manager_new(&cfg, &env, &m) < 0) return NULL;
    return m;
}

static bool wait_done(wf_manager *m, const char *name, int timeout_ms, wf_status *s) {
    int64_t end = clock_mono_ns() + (int64_t)timeout_ms * 1000000;
    while (clock_mono_ns() < end) {
        if (wf_status_get(m, name, s) == 0 && (s->state == WF_EXITED || s->state == WF_FAILED))
            return true;
        sleep_ms(5);
    }
    return false;
}

#define MINIMAL_OK                                                                              \
    "(module (memory (export \"memory\") 1)\n"                                                  \
    " (func (export \"call\") (result i32) (i32.const 0)))\n"

TEST(deploy_refuses_an_unknown_import_and_names_it) {
    tenv t;
    wf_manager *m = mgr_with(&t, NULL);
    CHECK(m);
    sl_diag d;
    int rc = wf_deploy_wat(m, "u1", "(module (import \"env\" \"u_foo\" (func (param i32)))\n"
                                    " (memory (export \"memory\") 1)\n"
                                    " (func (export \"call\") (result i32) (i32.const 0)))\n", &d);
    CHECK_EQ_INT(rc, SL_ENOTFOUND);
    CHECK_EQ_STR(d.msg, "unknown import env.u_foo");
    rc = wf_deploy_wat(m, "u2", "(module (import \"wasi_snapshot_preview1\" \"fd_seek\"\n"
                                "   (func (param i32 i64 i32 i32) (result i32)))\n"
                                " (memory (export \"memory\") 1)\n"
                                " (func (export \"_start\")))\n", &d);
    CHECK_EQ_INT(rc, SL_ENOTFOUND);
    CHECK_EQ_STR(d.msg, "unknown import wasi_snapshot_preview1.fd_seek");
    wf_status s;
    CHECK_EQ_INT(wf_status_get(m, "u1", &s), SL_ENOTFOUND); /* nothing half-started */
    wf_manager_free(m);
    tenv_destroy(&t);
}

TEST(deploy_refuses_a_host_import_with_a_type_other_than_the_spec) {
    tenv t;
    wf_manager *m = mgr_with(&t, NULL);
    CHECK(m);
    sl_diag d;
    int rc = wf_deploy_wat(m, "ty", "(module (import \"env\" \"u_poll_handle\" (func (param i32) (result i32)))\n"
                                    " (memory (export \"memory\") 1)\n"
                                    " (func (export \"allocate\") (param i32) (result i32) (i32.const 0))\n"
                                    " (func (export \"call\") (result i32) (i32.const 0)))\n", &d);
    CHECK_EQ_INT(rc, SL_EINVAL);
    CHECK_EQ_STR(d.msg, "import env.u_poll_handle has type (i32) -> (i32), the host's is (i64) -> (i32)");
    wf_manager_free(m);
    tenv_destroy(&t);
}

TEST(deploy_refuses_modules_without_the_required_exports_or_that_do_not_decode) {
    tenv t;
    wf_manager *m = mgr_with(&t, NULL);
    CHECK(m);
    sl_diag d;
    CHECK_EQ_INT(wf_deploy_wat(m, "x", "(module (memory (export \"memory\") 1))", &d), SL_EINVAL);
    CHECK_EQ_STR(d.msg, "missing export call (or WASI _start)");
    CHECK_EQ_INT(wf_deploy_wat(m, "x", "(module (func (export \"call\") (result i32) (i32.const 0)))", &d),
                 SL_EINVAL);
    CHECK_EQ_STR(d.msg, "missing export memory");
    CHECK_EQ_INT(wf_deploy_wat(m, "x", "(module (import \"env\" \"u_writeback_http\" (func (param i32 i32 i32) (result i32)))\n"
                                       " (memory (export \"memory\") 1)\n"
                                       " (func (export \"call\") (result i32) (i32.const 0)))", &d),
                 SL_EINVAL);
    CHECK_EQ_STR(d.msg, "missing export allocate (needed to return data)");
    static const uint8_t junk[] = {0, 'a', 's', 'm', 2, 0, 0, 0};
    int rc = wf_deploy(m, "x", junk, sizeof(junk), &d);
    CHECK(rc < 0);
    CHECK(strstr(d.msg, "invalid module") != NULL);
    CHECK_EQ_INT(wf_deploy(m, "bad/name", junk, sizeof(junk), &d), SL_EINVAL);
    CHECK_EQ_INT(wf_deploy(m, "", junk, sizeof(junk), &d), SL_EINVAL);
    wf_manager_free(m);
    tenv_destroy(&t);
}

static void fast_watchdog(wf_config *c) { c->hostless_ms_max = 200; }

TEST(an_infinite_loop_without_host_calls_is_interrupted_by_the_watchdog) {
    tenv t;
    wf_manager *m = mgr_with(&t, fast_watchdog);
    CHECK(m);
    sl_diag d;
    int64_t t0 = clock_mono_ns();
    CHECK(wf_deploy_wat(m, "spin", "(module (memory (export \"memory\") 1)\n"
                                   " (func (export \"call\") (result i32) (loop $l (br $l)) (i32.const 0)))\n",
                        &d) == 0);
    wf_status s;
    CHECK(wait_done(m, "spin", 10000, &s));
    int64_t ms = (clock_mono_ns() - t0) / 1000000;
    CHECK_EQ_STR(wf_state_name(s.state), "failed");
    CHECK_MSG(strstr(s.last_error, "watchdog: guest code ran 200 ms without a host call") != NULL,
              "last_error: %s", s.last_error);
    CHECK_MSG(ms < 4000, "took %lld ms", (long long)ms);
    CHECK(wf_log_has(m, "spin", "watchdog"));
    wf_manager_free(m);
    tenv_destroy(&t);
}

TEST(remove_stops_a_runaway_loop_promptly) {
    tenv t;
    wf_manager *m = mgr_with(&t, NULL); /* default watchdog: 5 s, so the stop must interrupt */
    CHECK(m);
    sl_diag d;
    CHECK(wf_deploy_wat(m, "spin", "(module (memory (export \"memory\") 1)\n"
                                   " (func (export \"call\") (result i32) (loop $l (br $l)) (i32.const 0)))\n",
                        &d) == 0);
    sleep_ms(100);
    int64_t t0 = clock_mono_ns();
    CHECK_EQ_INT(wf_remove(m, "spin"), 0);
    int64_t ms = (clock_mono_ns() - t0) / 1000000;
    CHECK_MSG(ms < 2000, "remove took %lld ms", (long long)ms); /* the watchdog would take 5 s */
    wf_status s;
    CHECK_EQ_INT(wf_status_get(m, "spin", &s), SL_ENOTFOUND);
    CHECK_EQ_INT(wf_remove(m, "spin"), SL_ENOTFOUND);
    wf_manager_free(m);
    tenv_destroy(&t);
}

TEST(a_trap_stops_the_workflow_with_its_reason_and_location) {
    tenv t;
    wf_manager *m = mgr_with(&t, NULL);
    CHECK(m);
    sl_diag d;
    CHECK(wf_deploy_wat(m, "trap", "(module (memory (export \"memory\") 1)\n"
                                   " (func (export \"call\") (result i32)\n"
                                   "  (i32.div_u (i32.const 1) (i32.const 0))))\n", &d) == 0);
    wf_status s;
    CHECK(wait_done(m, "trap", 10000, &s));
    CHECK_EQ_STR(wf_state_name(s.state), "failed");
    CHECK_MSG(strstr(s.last_error, "trap: integer divide by zero (function 0, offset") != NULL,
              "last_error: %s", s.last_error);
    CHECK(wf_log_has(m, "trap", "not restarting"));
    wf_manager_free(m);
    tenv_destroy(&t);
}

static void shallow(wf_config *c) { c->call_depth_max = 500; }

TEST(deep_recursion_hits_the_call_depth_limit_as_a_trap) {
    tenv t;
    wf_manager *m = mgr_with(&t, shallow);
    CHECK(m);
    sl_diag d;
    CHECK(wf_deploy_wat(m, "deep", "(module (memory (export \"memory\") 1)\n"
                                   " (func $f (param i32) (result i32)\n"
                                   "  (call $f (i32.add (local.get 0) (i32.const 1))))\n"
                                   " (func (export \"call\") (result i32) (call $f (i32.const 0))))\n", &d) == 0);
    wf_status s;
    CHECK(wait_done(m, "deep", 10000, &s));
    CHECK_MSG(strstr(s.last_error, "call stack exhausted") != NULL, "last_error: %s", s.last_error);
    wf_manager_free(m);
    tenv_destroy(&t);
}

static void small_memory(wf_config *c) { c->memory_mb = 2; }

TEST(memory_grow_stops_at_the_configured_memory_limit) {
    tenv t;
    wf_manager *m = mgr_with(&t, small_memory);
    CHECK(m);
    sl_diag d;
    /* Grows one page at a time until refused, then returns the page count: 2 MiB = 32 pages. */
    CHECK(wf_deploy_wat(m, "grow", "(module (memory (export \"memory\") 1)\n"
                                   " (func (export \"call\") (result i32)\n"
                                   "  (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))\n"
                                   "  (memory.size)))\n", &d) == 0);
    wf_status s;
    CHECK(wait_done(m, "grow", 10000, &s));
    CHECK_EQ_STR(s.last_error, "exited: call returned 32");
    /* A module whose initial memory is over the limit never starts and is not retried. */
    CHECK(wf_deploy_wat(m, "big", "(module (memory (export \"memory\") 100)\n"
                                  " (func (export \"call\") (result i32) (i32.const 0)))\n", &d) == 0);
    CHECK(wait_done(m, "big", 10000, &s));
    CHECK_EQ_STR(wf_state_name(s.state), "failed");
    CHECK_MSG(strstr(s.last_error, "instantiation failed") != NULL, "last_error: %s", s.last_error);
    wf_manager_free(m);
    tenv_destroy(&t);
}

TEST(proc_exit_ends_the_run_with_its_code) {
    tenv t;
    wf_manager *m = mgr_with(&t, NULL);
    CHECK(m);
    sl_diag d;
    CHECK(wf_deploy_wat(m, "ex3", "(module (import \"wasi_snapshot_preview1\" \"proc_exit\" (func $e (param i32)))\n"
                                  " (memory (export \"memory\") 1)\n"
                                  " (func (export \"_start\") (call $e (i32.const 3)) (unreachable)))\n", &d) == 0);
    wf_status s;
    CHECK(wait_done(m, "ex3", 10000, &s));
    CHECK_EQ_STR(wf_state_name(s.state), "failed");
    CHECK_EQ_STR(s.last_error, "exited: proc_exit(3)");
    wf_manager_free(m);
    tenv_destroy(&t);
}

static void quick_restart(wf_config *c) { c->restart_backoff_ms = 50; }

TEST(a_failing_workflow_restarts_with_doubling_backoff) {
    tenv t;
    wf_manager *m = mgr_with(&t, quick_restart);
    CHECK(m);
    sl_diag d;
    CHECK(wf_deploy_wat(m, "flaky", "(module (memory (export \"memory\") 1)\n"
                                    " (func (export \"call\") (result i32) (unreachable)))\n", &d) == 0);
    wf_status s;
    int64_t end = clock_mono_ns() + 10000000000LL;
    while (clock_mono_ns() < end && (wf_status_get(m, "flaky", &s) < 0 || s.restarts < 3)) sleep_ms(10);
    CHECK(s.restarts >= 3);
    CHECK(wf_log_has(m, "flaky", "restarting in 50 ms"));
    CHECK(wf_log_has(m, "flaky", "restarting in 100 ms"));
    CHECK(wf_log_has(m, "flaky", "restarting in 200 ms"));
    CHECK(strstr(s.last_error, "trap: unreachable") != NULL);
    wf_manager_free(m);
    tenv_destroy(&t);
}

TEST(redeploy_replaces_the_running_module_and_keeps_the_others) {
    tenv t;
    wf_manager *m = mgr_with(&t, NULL);
    CHECK(m);
    sl_diag d;
    const char *poller = WAT_PRELUDE
        " (data (i32.const 200) \"AVG:temp\")\n"
        " (func (export \"call\") (result i32) (local $h i64)\n"
        "  (call $reg (i32.const 100) (i32.const 200) (i32.const 8))\n"
        "  (local.set $h (call $query_live (i32.const 100)))\n"
        "  (loop $l (drop (call $poll (local.get $h))) (br $l))\n"
        "  (i32.const 0)))\n";
    CHECK(wf_deploy_wat(m, "a", poller, &d) == 0);
    CHECK(wf_deploy_wat(m, "b", poller, &d) == 0);
    CHECK(tenv_wait_registered(&t, 2, 10000)); /* both pollers hold a live query */
    CHECK(wf_deploy_wat(m, "a", MINIMAL_OK, &d) == 0);
    wf_status s;
    CHECK(wait_done(m, "a", 10000, &s));
    CHECK_EQ_STR(wf_state_name(s.state), "exited");
    CHECK(wf_status_get(m, "b", &s) == 0);
    CHECK_EQ_STR(wf_state_name(s.state), "running");
    buf list;
    buf_init(&list, MEM_MISC, 0);
    wf_list_json(m, &list);
    const char *j = buf_cstr(&list);
    CHECK(strstr(j, "\"name\":\"a\",\"state\":\"exited\"") != NULL);
    CHECK(strstr(j, "\"name\":\"b\",\"state\":\"running\"") != NULL);
    CHECK(strstr(j, "\"events_handled\":0") != NULL);
    CHECK(strstr(j, "\"last_error\":null") != NULL);
    buf_free(&list);
    CHECK(wf_log_has(m, "a", "replacing the previous module"));
    wf_manager_free(m);
    /* Both pollers' handles were released when they stopped. */
    CHECK_EQ_INT(t.unregistered, 2);
    tenv_destroy(&t);
}

static void small_log(wf_config *c) { c->log_bytes_max = 4096; }

TEST(the_log_keeps_only_the_newest_lines_within_its_size_cap) {
    tenv t;
    wf_manager *m = mgr_with(&t, small_log);
    CHECK(m);
    sl_diag d;
    /* 2000 lines "line NNNN\n"-ish: writes a 100-byte line 2000 times, then "last\n". */
    CHECK(wf_deploy_wat(m, "chatty",
        "(module (import \"wasi_snapshot_preview1\" \"fd_write\" (func $w (param i32 i32 i32 i32) (result i32)))\n"
        " (memory (export \"memory\") 1)\n"
        " (data (i32.const 100) \"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\\n\")\n"
        " (data (i32.const 300) \"last\\n\")\n"
        " (func (export \"_start\") (local $i i32)\n"
        "  (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 101))\n"
        "  (loop $l (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))\n"
        "   (local.set $i (i32.add (local.get $i) (i32.const 1)))\n"
        "   (br_if $l (i32.lt_u (local.get $i) (i32.const 2000))))\n"
        "  (i32.store (i32.const 0) (i32.const 300)) (i32.store (i32.const 4) (i32.const 5))\n"
        "  (drop (call $w (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 16)))))\n", &d) == 0);
    wf_status s;
    CHECK(wait_done(m, "chatty", 10000, &s));
    buf b;
    buf_init(&b, MEM_MISC, 0);
    CHECK(wf_logs(m, "chatty", &b) == 0);
    CHECK_MSG(b.len <= 4096, "log is %zu bytes", b.len);
    CHECK(b.len > 3000);
    const char *text = buf_cstr(&b);
    CHECK(strstr(text, "last\n") != NULL);
    CHECK(text[b.len - 1] == '\n');
    buf_free(&b);
    wf_manager_free(m);
    tenv_destroy(&t);
}

static void slow_writebacks(wf_config *c) { c->writebacks_per_s = 100; }

TEST(writebacks_over_the_rate_limit_are_refused_and_throttled) {
    tenv t;
    wf_manager *m = mgr_with(&t, slow_writebacks);
    CHECK(m);
    sl_diag d;
    /* 400 writebacks as fast as the guest can: returns how many succeeded. */
    int64_t t0 = clock_mono_ns();
    CHECK(wf_deploy_wat(m, "flood", WAT_PRELUDE
        " (data (i32.const 200) \"x\")\n"
        " (func (export \"call\") (result i32) (local $i i32) (local $ok i32)\n"
        "  (call $reg (i32.const 100) (i32.const 200) (i32.const 1))\n"
        "  (loop $l\n"
        "   (if (i32.eqz (call $ws (i64.const 1) (i32.const 100)))\n"
        "    (then (local.set $ok (i32.add (local.get $ok) (i32.const 1)))))\n"
        "   (local.set $i (i32.add (local.get $i) (i32.const 1)))\n"
        "   (br_if $l (i32.lt_u (local.get $i) (i32.const 400))))\n"
        "  (i32.add (local.get $ok) (i32.const 1000))))\n", &d) == 0);
    wf_status s;
    CHECK(wait_done(m, "flood", 20000, &s));
    double secs = (double)(clock_mono_ns() - t0) / 1e9;
    int ok = 0;
    CHECK(sscanf(s.last_error, "exited: call returned %d", &ok) == 1);
    ok -= 1000;
    CHECK_EQ_INT((int)t.frames, ok);
    CHECK_MSG(ok < 400 && ok <= 100 + (int)(secs * 100) + 5, "%d writebacks in %.2f s", ok, secs);
    CHECK_EQ_U64(s.writebacks_refused, (uint64_t)(400 - ok));
    CHECK(wf_log_has(m, "flood", "writeback refused: over the limit of 100 per second"));
    wf_manager_free(m);
    tenv_destroy(&t);
}

TEST(deploying_more_than_the_workflow_limit_is_refused_but_redeploy_still_works) {
    tenv t;
    wf_manager *m = mgr_with(&t, NULL);
    CHECK(m);
    uint8_t *bytes = NULL;
    size_t n = 0;
    CHECK(wat_compile(MINIMAL_OK, &bytes, &n) == 0);
    sl_diag d;
    char name[32];
    for (uint32_t i = 0; i < WF_COUNT_MAX; i++) {
        snprintf(name, sizeof(name), "w%u", i);
        CHECK_MSG(wf_deploy(m, name, bytes, n, &d) == 0, "%s: %s", name, d.msg);
    }
    CHECK_EQ_INT(wf_deploy(m, "one-too-many", bytes, n, &d), SL_ELIMIT);
    CHECK(strstr(d.msg, "workflows are deployed, the limit") != NULL);
    CHECK_EQ_INT(wf_deploy(m, "w0", bytes, n, &d), 0); /* replacing is not a new one */
    CHECK_EQ_INT(wf_remove(m, "w1"), 0);
    CHECK_EQ_INT(wf_deploy(m, "one-more", bytes, n, &d), 0);
    free(bytes);
    wf_manager_free(m);
    tenv_destroy(&t);
}

TEST(a_loop_that_keeps_calling_wasi_is_not_mistaken_for_a_runaway) {
    tenv t;
    wf_manager *m = mgr_with(&t, fast_watchdog); /* 200 ms */
    CHECK(m);
    sl_diag d;
    /* Prints a line and reads the monotonic clock until 600 ms have passed, then exits. */
    CHECK(wf_deploy_wat(m, "busy",
        "(module (import \"wasi_snapshot_preview1\" \"fd_write\" (func $w (param i32 i32 i32 i32) (result i32)))\n"
        " (import \"wasi_snapshot_preview1\" \"clock_time_get\" (func $clock (param i32 i64 i32) (result i32)))\n"
        " (memory (export \"memory\") 1)\n"
        " (data (i32.const 100) \"tick\\n\")\n"
        " (func (export \"_start\") (local $t0 i64)\n"
        "  (drop (call $clock (i32.const 1) (i64.const 1) (i32.const 200)))\n"
        "  (local.set $t0 (i64.load (i32.const 200)))\n"
        "  (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 5))\n"
        "  (loop $l (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))\n"
        "   (drop (call $clock (i32.const 1) (i64.const 1) (i32.const 200)))\n"
        "   (br_if $l (i64.lt_u (i64.sub (i64.load (i32.const 200)) (local.get $t0)) (i64.const 600000000))))))\n",
        &d) == 0);
    wf_status s;
    CHECK(wait_done(m, "busy", 10000, &s));
    CHECK_MSG(s.state == WF_EXITED, "%s: %s", wf_state_name(s.state), s.last_error);
    CHECK(wf_log_has(m, "busy", "tick\n"));
    wf_manager_free(m);
    tenv_destroy(&t);
}
