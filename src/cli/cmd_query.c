/* cmd_query.c - `slung query "AVG:cpu:[host=a]:[1h]"`: runs a historical query on a
 * running server (GET /query?q=...) and prints its JSON answer on stdout.
 * Exit status (cli.h CLI_EXIT_*): 0 answered, 1 the server refused the query (its
 * error on stderr), 2 usage, 3 the server could not be reached. --server URL or $SLUNG_SERVER picks
 * the server (cli.h). Threads: the CLI's main thread. */
#include "base/buf.h"
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

/* Percent-encodes everything but RFC 3986 unreserved bytes. */
static void url_encode(buf *out, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            buf_putc(out, (char)c);
        } else {
            buf_putc(out, '%');
            buf_putc(out, hex[c >> 4]);
            buf_putc(out, hex[c & 15]);
        }
    }
}

static int cmd_query(int argc, char **argv) {
    const char *server = cli_server_url(&argc, argv);
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: slung query [--server URL] \"AGG:series:[tags]:[range][:bucket]\"\n"
               "Runs a historical query on a running server and prints its JSON answer.\n"
               "example: slung query \"AVG:cpu:[host=a]:[1h]\"\n");
        return CLI_EXIT_OK;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: slung query [--server URL] \"AVG:cpu:[host=a]:[1h]\"\n");
        return CLI_EXIT_USAGE;
    }
    buf path;
    buf_init(&path, MEM_MISC, 0);
    buf_puts(&path, "/query?q=");
    url_encode(&path, argv[1]);
    int exit_code = CLI_EXIT_UNREACHABLE;
    if (buf_failed(&path))
        fprintf(stderr, "slung query: out of memory for the request\n");
    else
        exit_code = cli_get_print("query", server, buf_cstr(&path), true);
    buf_free(&path);
    return exit_code;
}

CLI_COMMAND(query, "run a historical query on a running server", cmd_query)
