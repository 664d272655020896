/*
 * progress.h - a progress line on stderr while a command reads a long log: shown only
 * when stderr is a terminal and only once the work has taken PG_AFTER_S seconds (short
 * reports stay silent, and pipes, files and CI logs never get one), redrawn four times
 * a second in place ("\r", erase to the end of the line), erased when the work is
 * done, so that what follows starts on a clean line.
 *
 * Used by cli/cmd_*.c on the main thread: pg_begin before session_open (it gives the
 * session the struct to keep up to date and starts one thread, which blocks every
 * signal), pg_end after. Allocates nothing but the thread; if the thread cannot start,
 * there is no progress line and nothing else changes.
 */
#ifndef HEAPSPAN_CLI_PROGRESS_H
#define HEAPSPAN_CLI_PROGRESS_H

#include "analyzer/session.h"

#define PG_AFTER_S 2.0 /* seconds of work before the line appears */

/* Starts watching o's session for the command and file named: sets o->progress. */
void pg_begin(const char *command, struct session_options *o);

/* Stops, and erases the line if one was drawn. Safe without a pg_begin. */
void pg_end(void);

#endif
