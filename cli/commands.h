/*
 * commands.h - the subcommands of the heapspan CLI, listed in main.c's table. Each
 * takes the arguments after its name (argv[0] is the subcommand), parses them with
 * cli/opts.h, opens logs through analyzer/session.h, prints its one error message with
 * opt_error(), and returns the process exit status: 0 ok, 1 a gate failed, 2 an error
 * (bad input, I/O, usage), as diff(1) and grep do.
 */
#ifndef HEAPSPAN_COMMANDS_H
#define HEAPSPAN_COMMANDS_H

int cmd_run(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
int cmd_flame(int argc, char **argv);
int cmd_export(int argc, char **argv);

#endif
