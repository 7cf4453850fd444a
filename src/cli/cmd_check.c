/* cmd_check.c - `slung check DIR`: verifies a data directory offline with
 * storage_check() (series log, every segment block, every WAL frame) and prints one
 * line per problem (file, offset or block, what) and a summary. Never modifies DIR;
 * run it on a stopped server's directory or a copy. Exit status: 0 clean, 1 problems
 * found, 2 usage, 3 DIR cannot be read.
 * Threads: the CLI's main thread. */
#include "base/buf.h"
#include "base/log.h"
#include "cli/cli.h"
#include "storage/storage.h"

#include <stdio.h>
#include <string.h>

static int cmd_check(int argc, char **argv) {
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: slung check DIR\nVerifies a Slung data directory offline and prints "
               "every problem found.\n");
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: slung check DIR\n");
        return 2;
    }
    log_set_level(LOG_OFF); /* problems are printed once, below, not also logged */
    buf out;
    buf_init(&out, MEM_MISC, 0);
    int rc = storage_check(argv[1], &out);
    fwrite(out.p, 1, out.len, stdout);
    buf_free(&out);
    if (rc == 0) return 0;
    if (rc == SL_ECORRUPT) return 1;
    fprintf(stderr, "slung check: %s: %s\n", argv[1], sl_strerror(rc));
    return 3;
}

CLI_COMMAND(check, "verify a data directory offline", cmd_check)
