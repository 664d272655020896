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

struct rd_log;
struct agg;
struct sym_cache;
/* Reads a log into an aggregate, symbolized unless !symbols: what every reporting
 * command starts with. 0, or 2 after printing the error. The caller frees all three
 * (agg_free, sym_close, rd_close), also on failure. */
int report_load(const char *path, double from, double to, bool symbols, const char *dbg_path,
                bool debuginfod, struct rd_log **rp, struct agg **ap, struct sym_cache **sp);

#endif
