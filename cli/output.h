/*
 * output.h - where a command's output goes: a file named by -o (or an operand), or
 * stdout for "-" or none; and its close, which is where a full disk or a closed pipe
 * is found (fclose flushes). Used by cmd_flame, cmd_export and cmd_report on the main
 * thread. Each failure prints its one message through opt_error ("cannot write
 * FILE: why") and the caller returns 2.
 */
#ifndef HEAPSPAN_CLI_OUTPUT_H
#define HEAPSPAN_CLI_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>

/* stdout for NULL or "-", else the file, created or truncated. NULL after the
 * message. */
FILE *out_open(const char *path);

/* Flushes and closes f (stdout is flushed only): 0, or -errno after the message,
 * which names what was being written (e.g. "the flame graph"). */
int out_close(FILE *f, const char *path, const char *what);

/* Whether path names a file ending in ext (".svg"), case-insensitive. */
bool out_has_ext(const char *path, const char *ext);

#endif
