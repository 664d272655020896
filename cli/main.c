/* main.c - the heapspan CLI: the table of subcommands, which also makes the usage. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/opts.h"
#include "format/logfmt.h"

#ifndef HEAPSPAN_VERSION
#define HEAPSPAN_VERSION "0.1.0"
#endif

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *synopsis; /* one line, for the usage */
};

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
    { "run", cmd_run, "run a program with the shim, recording its heap to a log" },
    { "report", cmd_report, "rank a log's call sites: peak, leaks, churn, bloat" },
    { "snapshot", cmd_snapshot,
      "write the heap at a point of a log (end, peak, marker) to a file" },
    { "dump", cmd_dump, "print a log's records, or their totals, live blocks or stacks" },
    { "diff", cmd_diff, "compare two recordings; fail when a total grew past a budget" },
    { "flame", cmd_flame, "draw a flame graph of a recording (HTML page or SVG)" },
    { "export", cmd_export, "write pprof, folded stacks or speedscope, or push to Pyroscope" },
    { "version", cmd_version, "print the version" },
    { "help", cmd_help, "print this list" },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
    fputs("usage: heapspan COMMAND [ARGS...]\n\n", out);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].synopsis);
    fputs("\n`heapspan COMMAND --help` describes a command; `man heapspan` all of them.\n"
          "Exit status: 0 ok; 1 a budget of `heapspan diff --fail-on-growth` was exceeded;\n"
          "2 an error. `heapspan run` exits with the program's status.\n",
          out);
}

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("heapspan %s (log format %d)\n", HEAPSPAN_VERSION, LF_VERSION);
    return 0;
}

static int cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    usage(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--version"))
        name = "version";
    else if (!strcmp(name, "--help") || !strcmp(name, "-h"))
        name = "help";
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (!strcmp(name, commands[i].name)) {
            opt_set_command(commands[i].name);
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    const char *names[N_COMMANDS];
    for (size_t i = 0; i < N_COMMANDS; i++)
        names[i] = commands[i].name;
    const char *near = opt_nearest(name, names, N_COMMANDS);
    if (near != NULL)
        opt_error("unknown command '%s'; did you mean '%s'?", name, near);
    else
        opt_error("unknown command '%s'", name);
    fputc('\n', stderr);
    usage(stderr);
    return 2;
}
