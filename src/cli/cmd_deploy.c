/* cmd_deploy.c - `slung deploy FILE [--name NAME]`: uploads a workflow module to a
 * running server (POST /workflows/NAME, body = the file's bytes). NAME defaults to
 * the file name without its directory and a ".wasm" suffix; deploying a name that
 * runs replaces it. Exit status: 0 deployed, 1 the server refused the module (its
 * reason on stderr, e.g. "unknown import env.u_foo"), 2 usage or unreadable file,
 * 3 the server could not be reached. --server URL or $SLUNG_SERVER picks the
 * server (cli.h). Threads: the CLI's main thread. */
#include "base/buf.h"
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Largest module read from disk: the server's own cap (WF_MODULE_BYTES_MAX). */
#define DEPLOY_FILE_BYTES_MAX (64u << 20)

static int read_file(const char *path, buf *out, char err[160]) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, 160, "%s", strerror(errno));
        return -1;
    }
    uint8_t chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (out->len + n > DEPLOY_FILE_BYTES_MAX) {
            snprintf(err, 160, "larger than %u bytes", DEPLOY_FILE_BYTES_MAX);
            fclose(f);
            return -1;
        }
        buf_append(out, chunk, n);
    }
    bool bad = ferror(f) || buf_failed(out);
    fclose(f);
    if (bad) snprintf(err, 160, "read error");
    return bad ? -1 : 0;
}

/* The file's base name without ".wasm". */
static void default_name(const char *path, char *out, size_t cap) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 5 && !strcmp(base + n - 5, ".wasm")) n -= 5;
    snprintf(out, cap, "%.*s", (int)n, base);
}

static int cmd_deploy(int argc, char **argv) {
    const char *server = cli_server_url(&argc, argv);
    const char *file = NULL;
    char name[128] = "";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: slung deploy [--server URL] FILE [--name NAME]\n"
                   "Deploys a workflow module to a running server; an existing NAME is replaced.\n"
                   "NAME defaults to FILE's name without .wasm.\n");
            return 0;
        } else if (!strcmp(argv[i], "--name") && i + 1 < argc) {
            snprintf(name, sizeof(name), "%s", argv[++i]);
        } else if (!strncmp(argv[i], "--name=", 7)) {
            snprintf(name, sizeof(name), "%s", argv[i] + 7);
        } else if (!file && argv[i][0] != '-') {
            file = argv[i];
        } else {
            fprintf(stderr, "slung deploy: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!file) {
        fprintf(stderr, "usage: slung deploy [--server URL] FILE [--name NAME]\n");
        return 2;
    }
    if (!name[0]) default_name(file, name, sizeof(name));
    buf module;
    buf_init(&module, MEM_MISC, 0);
    char err[160] = "";
    if (read_file(file, &module, err) < 0) {
        fprintf(stderr, "slung deploy: %s: %s\n", file, err);
        buf_free(&module);
        return 2;
    }
    buf url;
    buf_init(&url, MEM_MISC, 0);
    buf_puts(&url, server);
    while (url.len > 0 && url.p[url.len - 1] == '/')
        url.len--;
    buf_puts(&url, "/workflows/");
    buf_puts(&url, name); /* the server checks the name: [A-Za-z0-9_.-] needs no escaping */
    buf body;
    buf_init(&body, MEM_MISC, 0);
    int status = 0;
    int rc = cli_http_request("POST", buf_cstr(&url), module.p, module.len, &status, &body, err);
    int exit_code = 0;
    if (rc < 0) {
        fprintf(stderr, "slung deploy: %s: %s\n", server, err);
        exit_code = 3;
    } else if (status != 200 && status != 201) {
        fprintf(stderr, "slung deploy: HTTP %d: %s\n", status, buf_cstr(&body));
        exit_code = 1;
    } else {
        printf("%s %s (%zu bytes)\n", status == 201 ? "deployed" : "replaced", name, module.len);
    }
    buf_free(&body);
    buf_free(&url);
    buf_free(&module);
    return exit_code;
}

CLI_COMMAND(deploy, "deploy a workflow module to a running server", cmd_deploy)
