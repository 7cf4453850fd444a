/* main.c - dispatches `slung <command>` to the registered commands. */
#include "cli/cli.h"
#include "server/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLI_COMMANDS_MAX 32

static struct {
    const char *name;
    const char *summary;
    cli_cmd_fn fn;
} commands[CLI_COMMANDS_MAX];
static int command_count;

void cli_register(const char *name, const char *summary, cli_cmd_fn fn) {
    if (command_count == CLI_COMMANDS_MAX) abort(); /* a build-time mistake, not input */
    commands[command_count].name = name;
    commands[command_count].summary = summary;
    commands[command_count].fn = fn;
    command_count++;
}

static void usage(FILE *out) {
    fprintf(out, "slung %s - a real-time runtime for temporal data streams\n\n", SLUNG_VERSION);
    fprintf(out, "usage: slung <command> [options]\n\ncommands:\n");
    /* Sorted for a stable listing regardless of link order. */
    for (int i = 0; i < command_count; i++)
        for (int j = i + 1; j < command_count; j++)
            if (strcmp(commands[j].name, commands[i].name) < 0) {
                __typeof__(commands[0]) t = commands[i];
                commands[i] = commands[j];
                commands[j] = t;
            }
    for (int i = 0; i < command_count; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`slung <command> --help` lists a command's options.\n");
    fprintf(out, "\n`slung serve` settings (flags and SLUNG_* variables):\n");
    config_print_help(out);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("slung %s\n", SLUNG_VERSION);
        return 0;
    }
    for (int i = 0; i < command_count; i++)
        if (!strcmp(commands[i].name, argv[1])) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "slung: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
