/*
 * commands.h - the subcommands of the heapspan CLI. Each takes the arguments after its
 * name (argv[0] is the subcommand) and returns the process exit status: 0 ok, 1 a gate
 * failed, 2 an error (bad input, I/O, usage), as diff(1) and grep do.
 */
#ifndef HEAPSPAN_COMMANDS_H
#define HEAPSPAN_COMMANDS_H

#include <stdbool.h>

int cmd_run(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_report(int argc, char **argv);

#endif
