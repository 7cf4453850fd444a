/* cli.h - `slung <command>`: each command lives in its own cmd_<name>.c and
 * registers itself with CLI_COMMAND, so adding one touches no shared file.
 * Commands that talk to a running server use cli_http_request() (cli_http.c). */
#ifndef SL_CLI_H
#define SL_CLI_H

#include "base/buf.h"

#include <stdbool.h>

typedef int (*cli_cmd_fn)(int argc, char **argv); /* argv[0] is the command name */

void cli_register(const char *name, const char *summary, cli_cmd_fn fn);

#define CLI_COMMAND(name, summary, fn)                                               \
    __attribute__((constructor)) static void cli_register_##name(void) {             \
        cli_register(#name, summary, fn);                                            \
    }

/* Server address for client commands: --server URL flag, else $SLUNG_SERVER, else
 * http://127.0.0.1:2077. */
const char *cli_server_url(int *argc, char **argv);

/* Blocking HTTP/1.1 request to url (http://host:port/path?query). Fills status and
 * appends the response body to body_out. Returns 0 or a negative error (connection
 * refused, timeout, malformed response) with a message in err (160 bytes). */
int cli_http_request(const char *method, const char *url, const void *body, size_t body_len,
                     int *status, buf *body_out, char err[160]);

/* Exit statuses shared by the commands that read from a running server. */
enum { CLI_EXIT_OK = 0, CLI_EXIT_REFUSED = 1, CLI_EXIT_USAGE = 2, CLI_EXIT_UNREACHABLE = 3 };

/* GET server + path (path starts with '/', already percent-encoded; trailing '/' of
 * server dropped) and print a 200 answer's body on stdout, with a newline after it
 * when newline is true. Other statuses print "slung <cmd>: HTTP <status>: <body>" and
 * unreachable servers "slung <cmd>: <server>: <why>" on stderr. Returns CLI_EXIT_OK,
 * CLI_EXIT_REFUSED (status != 200) or CLI_EXIT_UNREACHABLE. */
int cli_get_print(const char *cmd, const char *server, const char *path, bool newline);

#endif
