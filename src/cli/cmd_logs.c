/* cmd_logs.c - `slung logs NAME`: prints a workflow's log from a running server
 * (GET /workflows/NAME/logs): its stdout/stderr lines and the host's lifecycle
 * lines (started, trapped and why, restarting). Exit status: 0 printed, 1 unknown
 * workflow or server error, 2 usage, 3 the server could not be reached.
 * Threads: the CLI's main thread. */
#include "base/buf.h"
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

static int cmd_logs(int argc, char **argv) {
    const char *server = cli_server_url(&argc, argv);
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: slung logs [--server URL] NAME\nPrints a workflow's log.\n");
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: slung logs [--server URL] NAME\n");
        return 2;
    }
    for (const char *p = argv[1]; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.')) {
            fprintf(stderr, "slung logs: workflow names are made of [A-Za-z0-9_.-]\n");
            return 2;
        }
    }
    buf url;
    buf_init(&url, MEM_MISC, 0);
    buf_puts(&url, server);
    while (url.len > 0 && url.p[url.len - 1] == '/')
        url.len--;
    buf_puts(&url, "/workflows/");
    buf_puts(&url, argv[1]);
    buf_puts(&url, "/logs");
    buf body;
    buf_init(&body, MEM_MISC, 0);
    int status = 0;
    char err[160] = "";
    int rc = cli_http_request("GET", buf_cstr(&url), NULL, 0, &status, &body, err);
    int exit_code = 0;
    if (rc < 0) {
        fprintf(stderr, "slung logs: %s: %s\n", server, err);
        exit_code = 3;
    } else if (status != 200) {
        fprintf(stderr, "slung logs: HTTP %d: %s\n", status, buf_cstr(&body));
        exit_code = 1;
    } else {
        fwrite(body.p, 1, body.len, stdout);
    }
    buf_free(&body);
    buf_free(&url);
    return exit_code;
}

CLI_COMMAND(logs, "print a workflow's log from a running server", cmd_logs)
