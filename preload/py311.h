/*
 * py311.h - the struct offsets of CPython 3.11 (x86_64) that preload/pystacks.c reads:
 * Include/cpython/pystate.h, Include/internal/pycore_frame.h, pycore_runtime.h,
 * Include/cpython/code.h, unicodeobject.h. The same in every 3.11.x release (their
 * layout is part of 3.11's ABI); tests/python-tests.sh checks each with offsetof
 * against the installed headers (tests/progs/py311_offsets.c). Constants only.
 */
#ifndef HEAPSPAN_PY311_H
#define HEAPSPAN_PY311_H

enum {
    PY311_RT_INTERP_HEAD = 40, /* _PyRuntimeState.interpreters.head */
    PY311_RT_AUTOTSS = 592,    /* _PyRuntimeState.gilstate.autoTSSkey (Py_tss_t) */
    PY311_TSS_INIT = 0,        /* Py_tss_t._is_initialized (int) */
    PY311_TSS_KEY = 4,         /* Py_tss_t._key (pthread_key_t) */
    PY311_TS_INTERP = 16,      /* PyThreadState.interp */
    PY311_TS_CFRAME = 56,      /* PyThreadState.cframe */
    PY311_TS_THREAD_ID = 152,  /* PyThreadState.thread_id (pthread_self()) */
    PY311_TS_CHUNK = 296,      /* PyThreadState.datastack_chunk */
    PY311_CF_CURRENT = 8,      /* _PyCFrame.current_frame */
    PY311_CHUNK_PREV = 0,      /* _PyStackChunk.previous */
    PY311_CHUNK_SIZE = 8,      /* _PyStackChunk.size, bytes of the whole chunk */
    PY311_IF_FUNC = 0,         /* _PyInterpreterFrame.f_func */
    PY311_IF_GLOBALS = 8,      /* _PyInterpreterFrame.f_globals */
    PY311_IF_CODE = 32,        /* _PyInterpreterFrame.f_code */
    PY311_IF_PREVIOUS = 48,    /* _PyInterpreterFrame.previous */
    PY311_IF_PREV_INSTR = 56,  /* _PyInterpreterFrame.prev_instr */
    PY311_IF_IS_ENTRY = 68,    /* _PyInterpreterFrame.is_entry (bool) */
    PY311_IF_READ = 72,        /* bytes of a frame read */
    PY311_OB_TYPE = 8,         /* PyObject.ob_type */
    PY311_OB_SIZE = 16,        /* PyVarObject.ob_size */
    PY311_CO_FIRSTLINENO = 72, /* PyCodeObject.co_firstlineno (int) */
    PY311_CO_FILENAME = 112,   /* PyCodeObject.co_filename */
    PY311_CO_QUALNAME = 128,   /* PyCodeObject.co_qualname */
    PY311_CO_LINETABLE = 136,  /* PyCodeObject.co_linetable (bytes) */
    PY311_CO_CODE = 184,       /* PyCodeObject.co_code_adaptive */
    PY311_STR_LENGTH = 16,     /* PyASCIIObject.length */
    PY311_STR_STATE = 32,      /* PyASCIIObject.state: interned:2 kind:3 compact:1 ascii:1 */
    PY311_STR_ASCII_DATA = 48, /* a compact ASCII string's characters */
    PY311_STR_UTF8_LEN = 48,   /* PyCompactUnicodeObject.utf8_length */
    PY311_STR_UTF8 = 56,       /* PyCompactUnicodeObject.utf8 (NULL until asked for) */

    PY311_BYTES_DATA = 32, /* PyBytesObject.ob_sval */
};

#endif
