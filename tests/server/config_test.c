/* config_test.c - `slung serve` settings: defaults, SLUNG_* variables, flags (the
 * flag wins), bad values named clearly, and the --help table. */
#include "base/err.h"
#include "server/config.h"
#include "test.h"

#include <stdlib.h>

TEST(defaults_match_the_documented_values) {
    server_config c;
    config_defaults(&c);
    CHECK_EQ_STR(c.listen_addr, "0.0.0.0");
    CHECK_EQ_INT(c.port, 2077);
    CHECK_EQ_INT(c.connections_max, 10000);
    CHECK_EQ_INT(c.frame_bytes_max, 1 << 20);
    CHECK_EQ_INT(c.tags_per_point_max, 64);
    CHECK_EQ_INT(c.http_body_bytes_max, 16 << 20);
    CHECK_EQ_INT(c.send_queue_bytes_max, 1 << 20);
    CHECK_EQ_INT(c.ingest_queue_batches, 1024);
    CHECK_EQ_STR(c.data_dir, "./slung-data");
    CHECK_EQ_STR(c.fsync, "batch");
    CHECK_EQ_INT(c.fsync_interval_ms, 2);
    CHECK_EQ_U64(c.memtable_bytes_max, 64ull << 20);
    CHECK_EQ_INT(c.retention_s, 0);
    CHECK_EQ_INT(c.series_max, 10000000);
    CHECK_EQ_INT(c.query_series_max, 100000);
    CHECK_EQ_INT(c.live_queries_max, 100000);
    CHECK_EQ_STR(c.wasm_file, "");
    CHECK_EQ_INT(c.wf_memory_mb, 64);
    CHECK_EQ_INT(c.wf_call_depth_max, 10000);
    CHECK_EQ_INT(c.wf_writebacks_per_s, 10000);
    CHECK_EQ_INT(c.wf_http_timeout_ms, 5000);
    CHECK_EQ_STR(c.wf_http_allow, "");
    CHECK(!c.wf_http_follow_redirects);
    CHECK_EQ_INT(c.wf_restart_backoff_ms, 1000);
    CHECK_EQ_INT(c.wf_log_bytes_max, 1 << 20);
    CHECK_EQ_STR(c.log_level, "info");
}

TEST(environment_sets_values_and_flags_override_it) {
    setenv("SLUNG_PORT", "3000", 1);
    setenv("SLUNG_FSYNC", "always", 1);
    setenv("SLUNG_DATA_DIR", "/tmp/env-dir", 1);
    server_config c;
    config_defaults(&c);
    char a0[] = "--port", a1[] = "4000", a2[] = "--log-level=debug",
         a3[] = "--wf-http-follow-redirects";
    char *argv[] = {a0, a1, a2, a3};
    sl_diag d;
    int rc = config_load(&c, 4, argv, &d);
    unsetenv("SLUNG_PORT");
    unsetenv("SLUNG_FSYNC");
    unsetenv("SLUNG_DATA_DIR");
    CHECK_MSG(rc == 0, "%s", d.msg);
    CHECK_EQ_INT(c.port, 4000);
    CHECK_EQ_STR(c.fsync, "always");
    CHECK_EQ_STR(c.data_dir, "/tmp/env-dir");
    CHECK_EQ_STR(c.log_level, "debug");
    CHECK(c.wf_http_follow_redirects);
}

TEST(unknown_flags_and_bad_values_are_refused_naming_the_flag) {
    server_config c;
    config_defaults(&c);
    sl_diag d;
    char f1[] = "--no-such-flag";
    char *a1[] = {f1};
    CHECK_EQ_INT(config_load(&c, 1, a1, &d), SL_EINVAL);
    CHECK(strstr(d.msg, "--no-such-flag") != NULL);
    char f2[] = "--port", v2[] = "70000";
    char *a2[] = {f2, v2};
    CHECK_EQ_INT(config_load(&c, 2, a2, &d), SL_EINVAL);
    CHECK(strstr(d.msg, "--port") != NULL);
    char f3[] = "--fsync", v3[] = "sometimes";
    char *a3[] = {f3, v3};
    CHECK_EQ_INT(config_load(&c, 2, a3, &d), SL_EINVAL);
    CHECK(strstr(d.msg, "batch|always|none") != NULL);
    char f4[] = "--frame-bytes-max", v4[] = "-5";
    char *a4[] = {f4, v4};
    CHECK_EQ_INT(config_load(&c, 2, a4, &d), SL_EINVAL);
    char f5[] = "--connections-max";
    char *a5[] = {f5};
    CHECK_EQ_INT(config_load(&c, 1, a5, &d), SL_EINVAL);
    CHECK(strstr(d.msg, "needs a value") != NULL);
    char f6[] = "--listen", v6[] = "localhost";
    char *a6[] = {f6, v6};
    CHECK_EQ_INT(config_load(&c, 2, a6, &d), SL_EINVAL);
    CHECK(strstr(d.msg, "IPv4 or IPv6") != NULL);
    config_defaults(&c);
    setenv("SLUNG_SEND_QUEUE_BYTES_MAX", "12abc", 1);
    CHECK_EQ_INT(config_load(&c, 0, NULL, &d), SL_EINVAL);
    unsetenv("SLUNG_SEND_QUEUE_BYTES_MAX");
    CHECK(strstr(d.msg, "SLUNG_SEND_QUEUE_BYTES_MAX") != NULL);
}

TEST(help_lists_every_flag_with_its_variable_and_default) {
    char path[256];
    test_tmpdir(path);
    strcat(path, "/help.txt");
    FILE *f = fopen(path, "w+");
    CHECK(f != NULL);
    config_print_help(f);
    long n = ftell(f);
    rewind(f);
    char *text = calloc(1, (size_t)n + 1);
    CHECK(fread(text, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    const char *must[] = {"--listen",
                          "--port",
                          "SLUNG_PORT",
                          "default: 2077",
                          "--data-dir",
                          "--fsync batch|always|none",
                          "--fsync-interval-ms",
                          "--frame-bytes-max",
                          "--send-queue-bytes-max",
                          "--log-level",
                          "SLUNG_WF_HTTP_ALLOW"};
    for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++)
        CHECK_MSG(strstr(text, must[i]) != NULL, "help lacks %s", must[i]);
    free(text);
}

TEST(the_largest_accepted_retention_still_fits_in_nanoseconds) {
    /* server.c multiplies --retention-s by 1e9 into an int64: a bound past
     * INT64_MAX / 1e9 seconds would overflow (undefined behaviour) at start-up. */
    server_config c;
    config_defaults(&c);
    sl_diag d;
    char f1[] = "--retention-s", v1[] = "1099511627776"; /* 2^40 s: once accepted */
    char *a1[] = {f1, v1};
    CHECK_EQ_INT(config_load(&c, 2, a1, &d), SL_EINVAL);
    CHECK(strstr(d.msg, "--retention-s") != NULL);
    char v2[] = "9223372036"; /* INT64_MAX / 1e9, rounded down: about 292 years */
    char *a2[] = {f1, v2};
    CHECK_EQ_INT(config_load(&c, 2, a2, &d), 0);
    CHECK_EQ_INT(c.retention_s, 9223372036LL);
    CHECK(c.retention_s <= INT64_MAX / 1000000000);
}
