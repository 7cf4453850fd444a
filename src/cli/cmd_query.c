/* cmd_query.c - `slung query "AVG:cpu:[host=a]:[1h]"`: runs a historical query on a
 * running server (GET /query?q=...) and prints its JSON answer on stdout.
 * Exit status: 0 answered, 1 the server refused the query (its error on stderr),
 * 2 usage, 3 the server could not be reached. --server URL or $SLUNG_SERVER picks
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
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: slung query [--server URL] \"AVG:cpu:[host=a]:[1h]\"\n");
        return 2;
    }
    buf url;
    buf_init(&url, MEM_MISC, 0);
    buf_puts(&url, server);
    while (url.len > 0 && url.p[url.len - 1] == '/')
        url.len--;
    buf_puts(&url, "/query?q=");
    url_encode(&url, argv[1]);
    buf body;
    buf_init(&body, MEM_MISC, 0);
    int status = 0;
    char err[160] = "";
    int rc = cli_http_request("GET", buf_cstr(&url), NULL, 0, &status, &body, err);
    int exit_code = 0;
    if (rc < 0) {
        fprintf(stderr, "slung query: %s: %s\n", server, err);
        exit_code = 3;
    } else if (status != 200) {
        fprintf(stderr, "slung query: HTTP %d: %s\n", status, buf_cstr(&body));
        exit_code = 1;
    } else {
        printf("%s\n", buf_cstr(&body));
    }
    buf_free(&body);
    buf_free(&url);
    return exit_code;
}

CLI_COMMAND(query, "run a historical query on a running server", cmd_query)
