/*
 * fdguard.h - keeps the log's file descriptor out of the program's way.
 *
 * Daemons, Python's subprocess and many servers close every descriptor they did not
 * open (close in a loop, close_range, closefrom) and then open files of their own. The
 * log's descriptor would be closed under the writer, and its number handed to the
 * program's next open(): the writer's next chunk would land in the program's file. So
 * the log sits at a high number (writer.c), and these hooks leave it alone:
 *
 *   close(log)             returns 0 and closes nothing (the program never opened it)
 *   close_range, closefrom close the range around it
 *   dup2/dup3(x, log)      move the log to another high number first, then proceed
 *
 * Every other descriptor goes straight to the real call. A vfork child (another pid in
 * this memory, its own descriptor table) is not guarded: it execs or exits soon, and the
 * log is close-on-exec anyway.
 */
#ifndef HEAPSPAN_FDGUARD_H
#define HEAPSPAN_FDGUARD_H

/* Looks the real functions up (dlsym: not async-signal-safe, so once, at start; until
 * then the hooks make the system calls themselves). */
void fdg_init(void);

#endif
