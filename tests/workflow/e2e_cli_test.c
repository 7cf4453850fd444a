/* e2e_cli_test.c - `slung deploy`, `slung workflows` and `slung logs` against the
 * real server. */
#include "e2e_util.h"

TEST(the_cli_deploys_lists_and_shows_logs_of_a_workflow) {
    srv s;
    CHECK(srv_start(&s, NULL));
    char tmp[256];
    test_tmpdir(tmp);
    uint8_t *bytes = NULL;
    size_t n = 0;
    CHECK(wat_compile("(module (import \"wasi_snapshot_preview1\" \"fd_write\" (func $w (param i32 i32 i32 i32) (result i32)))\n"
                      " (memory (export \"memory\") 1)\n"
                      " (data (i32.const 100) \"hello from wasm\\n\")\n"
                      " (func (export \"_start\")\n"
                      "  (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 16))\n"
                      "  (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))",
                      &bytes, &n) == 0);
    char path[300];
    snprintf(path, sizeof(path), "%s/hello.wasm", tmp);
    FILE *f = fopen(path, "wb");
    CHECK(f);
    fwrite(bytes, 1, n, f);
    fclose(f);
    free(bytes);
    char cmd[1024];
    char line[512];
    snprintf(cmd, sizeof(cmd), "'%s' deploy --server http://127.0.0.1:%d '%s' --name greeter 2>&1",
             getenv("SLUNG_BIN"), s.port, path);
    FILE *p = popen(cmd, "r");
    CHECK(p && fgets(line, sizeof(line), p));
    int st = pclose(p);
    CHECK_MSG(WEXITSTATUS(st) == 0 && strncmp(line, "deployed greeter", 16) == 0, "%s", line);
    snprintf(cmd, sizeof(cmd), "'%s' workflows --server http://127.0.0.1:%d", getenv("SLUNG_BIN"), s.port);
    for (int i = 0; i < 50; i++) { /* it runs to its end within moments */
        sleep_ms(100);
        p = popen(cmd, "r");
        CHECK(p && fgets(line, sizeof(line), p));
        pclose(p);
        if (strstr(line, "\"state\":\"exited\"")) break;
    }
    CHECK_MSG(strstr(line, "\"name\":\"greeter\",\"state\":\"exited\"") != NULL, "%s", line);
    snprintf(cmd, sizeof(cmd), "'%s' logs --server http://127.0.0.1:%d greeter", getenv("SLUNG_BIN"), s.port);
    p = popen(cmd, "r");
    bool hello = false;
    while (p && fgets(line, sizeof(line), p))
        if (strcmp(line, "hello from wasm\n") == 0) hello = true;
    pclose(p);
    CHECK(hello);
    /* Deploying the same name again replaces it, without restarting the server. */
    snprintf(cmd, sizeof(cmd), "'%s' deploy --server http://127.0.0.1:%d '%s' --name greeter 2>&1",
             getenv("SLUNG_BIN"), s.port, path);
    p = popen(cmd, "r");
    CHECK(p && fgets(line, sizeof(line), p));
    st = pclose(p);
    CHECK_MSG(WEXITSTATUS(st) == 0 && strncmp(line, "replaced greeter", 16) == 0, "%s", line);
    /* A module the server refuses: exit status 1 and the reason. */
    snprintf(cmd, sizeof(cmd), "'%s' deploy --server http://127.0.0.1:%d /etc/hostname --name junk 2>&1",
             getenv("SLUNG_BIN"), s.port);
    p = popen(cmd, "r");
    CHECK(p && fgets(line, sizeof(line), p));
    st = pclose(p);
    CHECK_MSG(WEXITSTATUS(st) == 1 && strstr(line, "invalid module") != NULL, "%s", line);
    snprintf(cmd, sizeof(cmd), "'%s' logs --server http://127.0.0.1:%d nosuch 2>/dev/null", getenv("SLUNG_BIN"), s.port);
    CHECK_EQ_INT(WEXITSTATUS(system(cmd)), 1);
    CHECK_EQ_INT(srv_stop(&s), 0);
    test_rmrf(s.dir);
    test_rmrf(tmp);
}
