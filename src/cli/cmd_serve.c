/* cmd_serve.c - `slung serve [flags]`: load the configuration (defaults, SLUNG_*
 * environment variables, flags) and run the server until SIGINT/SIGTERM.
 * `slung serve --help` lists every flag with its variable and default.
 * Threads: the main thread becomes the network loop (server_run). */
#include "cli/cli.h"
#include "server/config.h"
#include "server/server.h"

#include <stdio.h>
#include <string.h>

static int cmd_serve(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: slung serve [flags]\n\nRuns the server: WebSocket ingest, HTTP API, "
                   "queries and workflows on one port.\n\n");
            config_print_help(stdout);
            return 0;
        }
    server_config cfg;
    config_defaults(&cfg);
    sl_diag d;
    if (config_load(&cfg, argc - 1, argv + 1, &d) < 0) {
        fprintf(stderr, "slung serve: %s\n", d.msg);
        return 2;
    }
    return server_run(&cfg);
}

CLI_COMMAND(serve, "run the server (slung serve --help lists the flags)", cmd_serve)
