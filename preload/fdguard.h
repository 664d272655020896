/*
 * fdguard.h - keeps the shim's file descriptor out of the program's way, and the
 * program's files out of the shim's.
 *
 * Daemons, Python's subprocess and many servers close every descriptor they did not
 * open (close in a loop, close_range, closefrom) and then open files of their own. The
 * shim's one descriptor, the log, would be closed under the shim, its number handed to
 * the program's next open(), and the shim's next write would land in the program's file.
 * So it sits at a high number (rt_fd_move_high), and these hooks leave it alone:
 *
 *   close(log)              returns 0 and closes nothing (the program never opened it)
 *   close_range, closefrom  close the ranges around it
 *   dup2/dup3(x, log)       move the log to another number first, then proceed
 *
 * A raw system call gets past the hooks (binaries built against glibc before 2.34 call
 * close_range so). Then the number is the program's: the hooks recognise the log only
 * while the number still names the file the shim created (device and inode, wr_is_log_fd),
 * and the writer checks the same before every write and stops recording if it does not
 * (writer.c). libunwind's memory validation, which writes through a pipe of its own, is
 * given no pipe at all: the shim is linked with --wrap=pipe2,close,read,syscall, and the
 * __wrap_ functions here answer its calls without a descriptor (fdguard.c says how).
 * The log's guard skips a vfork child (another pid in this memory, its own descriptor
 * table); the log is close-on-exec.
 */
#ifndef HEAPSPAN_FDGUARD_H
#define HEAPSPAN_FDGUARD_H

/* Looks the real functions up (dlsym: not async-signal-safe, so once, at start; until
 * then the hooks make the system calls themselves). */
void fdg_init(void);

#endif
