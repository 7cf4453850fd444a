/* cmd_workflows.c - `slung workflows`: lists the workflows of a running server
 * (GET /workflows) and prints the JSON array on stdout: name, state, started (ns),
 * events_handled, restarts, writebacks_refused, last_error. Exit status: 0 listed,
 * 1 the server answered with an error, 2 usage, 3 the server could not be reached.
 * Threads: the CLI's main thread. */
#include "base/buf.h"
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
        return 2;
    }
    buf url;
    buf_init(&url, MEM_MISC, 0);
    buf_puts(&url, server);
    while (url.len > 0 && url.p[url.len - 1] == '/')
        url.len--;
    buf_puts(&url, "/workflows");
    buf body;
    buf_init(&body, MEM_MISC, 0);
    int status = 0;
    char err[160] = "";
    int rc = cli_http_request("GET", buf_cstr(&url), NULL, 0, &status, &body, err);
    int exit_code = 0;
    if (rc < 0) {
        fprintf(stderr, "slung workflows: %s: %s\n", server, err);
        exit_code = 3;
    } else if (status != 200) {
        fprintf(stderr, "slung workflows: HTTP %d: %s\n", status, buf_cstr(&body));
        exit_code = 1;
    } else {
        printf("%s\n", buf_cstr(&body));
    }
    buf_free(&body);
    buf_free(&url);
    return exit_code;
}

CLI_COMMAND(workflows, "list the workflows of a running server", cmd_workflows)
