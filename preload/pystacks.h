/*
 * pystacks.h - Python frames in native stacks (CPython 3.11). When a captured stack
 * holds return addresses into the interpreter's evaluation loop
 * (_PyEval_EvalFrameDefault), the calling thread's own chain of interpreter frames is
 * read in-process - no GIL, no call into the C API, nothing that locks or allocates -
 * and one pseudo-frame per Python frame is inserted after each evaluation-loop frame:
 * the frames that call of the loop was running, innermost first (format/logfmt.h,
 * LF_PY_FRAME). Each code object met is written to the log once, as an LF_META_PYCODE
 * record (its qualified name, file, first line and line table); the analyzer turns
 * (code, instruction) into a line.
 *
 * What makes reading safe from inside malloc, on the allocating thread:
 * - The thread state is the thread's own: pthread_getspecific on the interpreter's
 *   autoTSSkey (no allocation, no lock; never the thread-local of 3.12+, never
 *   _PyRuntime.gilstate.tstate_current, which names the GIL holder, not the caller),
 *   and its thread_id must be pthread_self(). A thread allocating without the GIL
 *   reads its own frames, never another thread's.
 * - Only this thread pushes and pops its frames, and it is inside malloc, so the
 *   chain is not changing under the reader; CPython links a frame as current only
 *   once it is initialised. Still nothing is trusted: a frame must lie inside one of
 *   the thread's data-stack chunks (mapped while linked) or be read with
 *   process_vm_readv, which fails instead of faulting; its code object must have
 *   PyCode_Type as its type, its strings PyUnicode_Type, its line table PyBytes_Type;
 *   the instruction offset must fall inside the code; no more frames are read
 *   than the stack can hold (PY_MAX_FRAMES at most). The number of evaluation-loop calls in the
 * native stack must equal the number of entry frames in the chain (one per call): otherwise the
 * frames are not matched to the native stack by guesswork but dropped, and a marker pseudo-frame
 * counts them.
 *
 * Interpreters of other versions (3.12 moved the thread state to a C thread-local,
 * 3.13 publishes _Py_DebugOffsets) are recognised and reported in the LF_META_PYTHON
 * record with the reason their stacks stay native.
 */
#ifndef HEAPSPAN_PYSTACKS_H
#define HEAPSPAN_PYSTACKS_H

#include <stdbool.h>
#include <stdint.h>

#include "format/logfmt.h"
#include "preload/stackhash.h"

/* The evaluation loop's code range, [py_eval_lo, py_eval_hi); 0, 0 until an
 * interpreter whose frames can be read is found. */
extern uint64_t py_eval_lo, py_eval_hi;

/* Looks for a CPython interpreter in the process (by its exported symbols), once it is
 * found or found unsupported no more; queues its LF_META_PYTHON record. Called at
 * start-up and from the writer's tick (a libpython loaded later by dlopen). */
void py_detect(void);

#define PY_MAX_FRAMES 512 /* Python frames read per stack, at most */
#define PY_MEMO       512 /* code objects a thread remembers the ids of */
#define PY_LAST       256 /* frames of its last chain a thread remembers */

/* What a thread keeps for py_augment, with its stack state (preload/stacks.c): the
 * chain just read, the frames of the one before, and the ids of the code objects it
 * met last - a small table in the
 * thread's cache instead of a probe into the process's, which is tens of megabytes. A
 * memo is checked against the code object's fingerprint, and against the registry's
 * generation (a forked child starts a new one). Zeroed memory is a valid empty state. */
struct py_thread {
    uint64_t chain[PY_MAX_FRAMES];
    struct {
        uint64_t co, fp;
        uint32_t id, gen;
    } memo[PY_MEMO];
    /* The frames read last, by depth: a frame met again at the same depth, with the
     * same function, globals, code object and instruction, gives the same entry
     * without its checks (pystacks.c says why that is enough). */
    struct {
        uint64_t f, co, instr, func, globals, val;
        uint32_t gen;
        bool entry;
    } last[PY_LAST];
    uint64_t self;     /* pthread_self(), once asked */
    uint32_t last_n;   /* the depth of the chain read last */
    uint32_t last_how; /* and how it ended (pystacks.c, enum chain) */
    /* The outer part of the last stack py_augment built, from the first loop call's
     * Python frames out (its tail), kept with its hash state: while the chain and the
     * native frames out of that loop call's stay the same, as they do under a C
     * function that allocates again and again, or under Python code whose innermost
     * frame alone moves, a stack is its new inner native frames put before that tail.
     * Valid while tail_n > 0. */
    int tail_n;                /* entries of the tail, at the end of the out buffer; 0: none */
    int tail_inner;            /* native frames before it in the stack built on it last */
    int tail_native;           /* native frames in it */
    int tail_chain;            /* the frames of the chain it was built with */
    int tail_cap;              /* the out buffer's size it was built for */
    struct sh_state tail_hash; /* of the whole tail */
    struct sh_state tail_hash_outer;       /* of the tail but its first entry */
    uint64_t tail_pcs[LF_MAX_STACK_DEPTH]; /* its native frames */
};

/* Given a captured native stack pcs[0..n) (cut: it was cut at the depth limit), writes
 * it with the Python frames inserted (at most cap entries) into out, a buffer of cap
 * entries, where *stack is where it starts; returns its depth k; or -1 when the stack
 * holds no evaluation-loop frame (use pcs as they are). *hash: the state of its hash
 * with its outer hash->k frames taken; sh_take of (*stack)[0 .. k - hash->k) and sh_end
 * give its sh_hash. *again: it is the stack the last call that returned one returned,
 * unchanged. */
int py_augment(const uint64_t *pcs, int n, bool cut, uint64_t *out, int cap, struct py_thread *pt,
               const uint64_t **stack, struct sh_state *hash, bool *again);

/* After fork, in the child: a fresh registry (its log names every code object anew)
 * and, when it records, its LF_META_PYTHON record. */
void py_fork_child(bool recording);

#endif
