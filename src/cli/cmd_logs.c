/* cmd_logs.c - `slung logs NAME`: prints a workflow's log from a running server
 * (GET /workflows/NAME/logs): its stdout/stderr lines and the host's lifecycle
 * lines (started, trapped and why, restarting). Exit status: 0 printed, 1 unknown
 * workflow or server error, 2 usage, 3 the server could not be reached.
 * Threads: the CLI's main thread. */
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
        return CLI_EXIT_USAGE;
    }
    for (const char *p = argv[1]; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.')) {
            fprintf(stderr, "slung logs: workflow names are made of [A-Za-z0-9_.-]\n");
            return CLI_EXIT_USAGE;
        }
    }
    /* The name is checked above to hold no character that needs percent-encoding. */
    char path[512];
    if (snprintf(path, sizeof path, "/workflows/%s/logs", argv[1]) >= (int)sizeof path) {
        fprintf(stderr, "slung logs: workflow name too long\n");
        return CLI_EXIT_USAGE;
    }
    return cli_get_print("logs", server, path, false);
}

CLI_COMMAND(logs, "print a workflow's log from a running server", cmd_logs)
