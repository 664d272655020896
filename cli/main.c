/* main.c - the heapspan CLI: picks the subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "format/logfmt.h"

#ifndef HEAPSPAN_VERSION
#define HEAPSPAN_VERSION "0.1.0"
#endif

static const char usage[] =
    "usage: heapspan COMMAND [ARGS...]\n"
    "\n"
    "  run   [options] -- PROG [ARGS...]   record PROG's heap to a log\n"
    "  report [--top N] [--format text|json|markdown] [--from S] [--to S] LOG\n"
    "                                      call sites: peak, leaks, churn, bloat\n"
    "  dump  [--summary|--live|--stacks] LOG   the log's records as text\n"
    "  version                             print the version\n"
    "\n"
    "`heapspan COMMAND --help` describes a command. Exit status: 0 ok, 1 a gate\n"
    "failed, 2 an error.\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "dump"))
        return cmd_dump(argc - 1, argv + 1);
    if (!strcmp(cmd, "report"))
        return cmd_report(argc - 1, argv + 1);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("heapspan %s (log format %d)\n", HEAPSPAN_VERSION, LF_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        fputs(usage, stdout);
        return 0;
    }
    fprintf(stderr, "heapspan: unknown command '%s'\n\n%s", cmd, usage);
    return 2;
}
