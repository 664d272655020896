/* py311_offsets.c - tests/python-tests.sh: every offset preload/py311.h states, against
 * offsetof over the installed CPython 3.11 headers (internal ones included). Prints
 * one line per offset that differs and exits 1 if any does. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <internal/pycore_code.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_runtime.h>
#include <stddef.h>
#include <stdio.h>

#include "preload/py311.h"

static int bad;

static void same(const char *what, size_t want, size_t got)
{
    if (want != got) {
        printf("%s: py311.h says %zu, the headers %zu\n", what, want, got);
        bad = 1;
    }
}

#define CHECK(name, type, member) same(#type "." #member, PY311_##name, offsetof(type, member))

int main(void)
{
    CHECK(RT_INTERP_HEAD, _PyRuntimeState, interpreters.head);
    CHECK(RT_AUTOTSS, _PyRuntimeState, gilstate.autoTSSkey);
    CHECK(TSS_INIT, Py_tss_t, _is_initialized);
    CHECK(TSS_KEY, Py_tss_t, _key);
    CHECK(TS_INTERP, PyThreadState, interp);
    CHECK(TS_CFRAME, PyThreadState, cframe);
    CHECK(TS_THREAD_ID, PyThreadState, thread_id);
    CHECK(TS_CHUNK, PyThreadState, datastack_chunk);
    CHECK(CF_CURRENT, _PyCFrame, current_frame);
    CHECK(CHUNK_PREV, _PyStackChunk, previous);
    CHECK(CHUNK_SIZE, _PyStackChunk, size);
    CHECK(IF_FUNC, _PyInterpreterFrame, f_func);
    CHECK(IF_GLOBALS, _PyInterpreterFrame, f_globals);
    CHECK(IF_CODE, _PyInterpreterFrame, f_code);
    CHECK(IF_PREVIOUS, _PyInterpreterFrame, previous);
    CHECK(IF_PREV_INSTR, _PyInterpreterFrame, prev_instr);
    CHECK(IF_IS_ENTRY, _PyInterpreterFrame, is_entry);
    same("_PyInterpreterFrame: bytes read cover is_entry", 1,
         PY311_IF_READ >= offsetof(_PyInterpreterFrame, is_entry) + 1 &&
             PY311_IF_READ <= sizeof(_PyInterpreterFrame));
    CHECK(OB_TYPE, PyObject, ob_type);
    CHECK(OB_SIZE, PyVarObject, ob_size);
    CHECK(CO_FIRSTLINENO, PyCodeObject, co_firstlineno);
    CHECK(CO_FILENAME, PyCodeObject, co_filename);
    CHECK(CO_QUALNAME, PyCodeObject, co_qualname);
    CHECK(CO_LINETABLE, PyCodeObject, co_linetable);
    CHECK(CO_CODE, PyCodeObject, co_code_adaptive);
    CHECK(STR_LENGTH, PyASCIIObject, length);
    same("PyASCIIObject.state", PY311_STR_STATE, sizeof(PyObject) + 2 * sizeof(Py_ssize_t));
    CHECK(STR_UTF8_LEN, PyCompactUnicodeObject, utf8_length);
    CHECK(STR_UTF8, PyCompactUnicodeObject, utf8);
    same("sizeof(PyASCIIObject)", PY311_STR_ASCII_DATA, sizeof(PyASCIIObject));
    CHECK(BYTES_DATA, PyBytesObject, ob_sval);
    /* The state bits pystacks.c tests: compact 0x20, ascii 0x40 of the state's byte. */
    PyASCIIObject probe = { 0 };
    probe.state.compact = 1;
    same("PyASCIIObject.state.compact bit", 0x20, ((unsigned char *)&probe)[PY311_STR_STATE]);
    memset(&probe, 0, sizeof(probe));
    probe.state.ascii = 1;
    same("PyASCIIObject.state.ascii bit", 0x40, ((unsigned char *)&probe)[PY311_STR_STATE]);
    return bad;
}
