/*
 * settings.h - the recording settings both sides agree on: the HEAPSPAN_* environment
 * variables the shim reads (and `heapspan run` sets), their defaults, and their limits.
 * The single place where these names and numbers are written: preload/rt.c parses them,
 * cli/cmd_run.c validates options against the same bounds before it starts a program,
 * and docs/cli.md lists them for users. Constants only: no code, no allocation, no I/O.
 */
#ifndef HEAPSPAN_SETTINGS_H
#define HEAPSPAN_SETTINGS_H

/* Variables the shim reads at start (docs/cli.md, "The same, for services"). */
#define HS_ENV_OUTPUT            "HEAPSPAN_OUTPUT"            /* log path template */
#define HS_ENV_SAMPLE_BYTES      "HEAPSPAN_SAMPLE_BYTES"      /* mean sampling interval */
#define HS_ENV_DEPTH             "HEAPSPAN_DEPTH"             /* frames kept per stack */
#define HS_ENV_FOLLOW_CHILDREN   "HEAPSPAN_FOLLOW_CHILDREN"   /* forks and execs log too */
#define HS_ENV_MARKER_SIGNAL     "HEAPSPAN_MARKER_SIGNAL"     /* the snapshot signal */
#define HS_ENV_SNAPSHOT_INTERVAL "HEAPSPAN_SNAPSHOT_INTERVAL" /* seconds between markers */
#define HS_ENV_QUIET             "HEAPSPAN_QUIET"             /* no start-up line */
#define HS_ENV_SNAPSHOT_ON_RSS   "HEAPSPAN_SNAPSHOT_ON_RSS"   /* marker per step of RSS */
/* Set by `heapspan run` for the shim, not by users. */
#define HS_ENV_ROOT_PID "HEAPSPAN_ROOT_PID" /* the pid `heapspan run` started */
#define HS_ENV_MANIFEST "HEAPSPAN_MANIFEST" /* file each log's path is appended to */
/* The root process's log, already created (empty, mode 0600) by `heapspan run`, which
 * has checked that it can be: the root's images take it instead of HEAPSPAN_OUTPUT. */
#define HS_ENV_ROOT_LOG "HEAPSPAN_ROOT_LOG"
/* Read by `heapspan run` only: the shim to preload instead of the one beside it. */
#define HS_ENV_SHIM "HEAPSPAN_SHIM"

/* For messages: HS_XSTR(HS_MAX_DEPTH) is "1024". */
#define HS_STR(x)  #x
#define HS_XSTR(x) HS_STR(x)

/* Defaults. */
#define HS_DEFAULT_OUTPUT        "heapspan.%p.hsl"
#define HS_DEFAULT_DEPTH         128
#define HS_DEFAULT_MARKER_SIGNAL 12 /* SIGUSR2 */

/* Limits. A stack deeper than HS_MAX_DEPTH frames is cut; readers refuse stack records
 * deeper than this (format/logfmt.h uses it as LF_MAX_STACK_DEPTH). */
#define HS_MAX_DEPTH             1024
#define HS_SNAPSHOT_INTERVAL_MIN 0.001 /* seconds */
#define HS_SNAPSHOT_INTERVAL_MAX 86400
#define HS_MAX_PATH              4096 /* a log path, an executable path, a module path */

#endif
