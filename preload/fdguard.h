/*
 * fdguard.h - keeps the shim's file descriptors out of the program's way.
 *
 * Daemons, Python's subprocess and many servers close every descriptor they did not
 * open (close in a loop, close_range, closefrom) and then open files of their own. The
 * shim's descriptors - the log, and the pipe libunwind writes through to test whether an
 * address is readable - would be closed under the shim, their numbers handed to the
 * program's next open(), and the shim's next write would land in the program's file.
 * So they sit at high numbers (rt_fd_move_high), and these hooks leave them alone:
 *
 *   close(shim's)           returns 0 and closes nothing (the program never opened it)
 *   close_range, closefrom  close the ranges around them
 *   dup2/dup3(x, log)       move the log to another number first, then proceed
 *   dup2/dup3(x, pipe end)  proceed: the number is the program's now; libunwind's next
 *                           validation finds its pipe unreadable and opens another
 *
 * The shim's own calls reach the real functions: it is linked with --wrap=pipe2,close,
 * read, so libunwind's pipe2, close and read land in the __wrap_ functions here, which
 * move new pipes high, forget closed ends, and make a pipe the program has taken an end
 * of read as closed. Every other descriptor goes straight to the real call. The log's
 * guard skips a vfork child (another pid in this memory, its own descriptor table); the
 * log and the pipe are close-on-exec.
 */
#ifndef HEAPSPAN_FDGUARD_H
#define HEAPSPAN_FDGUARD_H

/* Looks the real functions up (dlsym: not async-signal-safe, so once, at start; until
 * then the hooks make the system calls themselves). */
void fdg_init(void);

#endif
