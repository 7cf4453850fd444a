/* cmd_workflows.c - `slung workflows`: lists the workflows of a running server
 * (GET /workflows) and prints the JSON array on stdout: name, state, started (ns),
 * events_handled, restarts, writebacks_refused, last_error. Exit status: 0 listed,
 * 1 the server answered with an error, 2 usage, 3 the server could not be reached.
 * Threads: the CLI's main thread. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

static int cmd_workflows(int argc, char **argv) {
    const char *server = cli_server_url(&argc, argv);
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: slung workflows [--server URL]\n"
               "Lists the deployed workflows of a running server as JSON.\n");
        return 0;
    }
    if (argc != 1) {
        fprintf(stderr, "usage: slung workflows [--server URL]\n");
        return CLI_EXIT_USAGE;
    }
    return cli_get_print("workflows", server, "/workflows", true);
}

CLI_COMMAND(workflows, "list the workflows of a running server", cmd_workflows)
