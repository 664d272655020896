/*
 * known_pyext.c - a CPython extension that leaks known amounts from C, for
 * tests/report-tests.sh, driven by known_pyext.py (the runner holds the same numbers;
 * each call's "@name" comment gives it the line).
 *
 *   @py_malloc   known_pyext.leak_malloc(n): n x 54321 bytes with malloc, leaked
 *   @py_raw      known_pyext.leak_raw(n): n x 43210 bytes with PyMem_RawMalloc, leaked
 *   @py_churn    known_pyext.churn(n): n x 32109 bytes with malloc, each freed at once
 *
 * PyMem_RawMalloc is an allocator frame: the site is its caller. The sizes are ones no
 * interpreter object has, and the sites are told apart by function anyway.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>

/* gcc -O2 deletes allocations whose pointer never escapes (bench/workloads/common.h). */
static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

__attribute__((noipa)) static int known_leak_malloc(int n)
{
    for (int i = 0; i < n; i++) {
        void *p = malloc(54321); /* @py_malloc */
        if (p == NULL)
            return -1;
        ESCAPE(p);
    }
    return 0;
}

__attribute__((noipa)) static int known_leak_raw(int n)
{
    for (int i = 0; i < n; i++) {
        void *p = PyMem_RawMalloc(43210); /* @py_raw */
        if (p == NULL)
            return -1;
        ESCAPE(p);
    }
    return 0;
}

__attribute__((noipa)) static void known_churn(int n)
{
    for (int i = 0; i < n; i++) {
        void *p = malloc(32109); /* @py_churn */
        ESCAPE(p);
        free(p);
    }
}

static PyObject *py_leak_malloc(PyObject *self, PyObject *args)
{
    int n;

    (void)self;
    if (!PyArg_ParseTuple(args, "i", &n))
        return NULL;
    if (known_leak_malloc(n) < 0)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyObject *py_leak_raw(PyObject *self, PyObject *args)
{
    int n;

    (void)self;
    if (!PyArg_ParseTuple(args, "i", &n))
        return NULL;
    if (known_leak_raw(n) < 0)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyObject *py_churn(PyObject *self, PyObject *args)
{
    int n;

    (void)self;
    if (!PyArg_ParseTuple(args, "i", &n))
        return NULL;
    known_churn(n);
    Py_RETURN_NONE;
}

static PyMethodDef known_methods[] = {
    { "leak_malloc", py_leak_malloc, METH_VARARGS, "leak_malloc(n): leak n x 54321 bytes" },
    { "leak_raw", py_leak_raw, METH_VARARGS, "leak_raw(n): leak n x 43210 bytes" },
    { "churn", py_churn, METH_VARARGS, "churn(n): malloc and free n x 32109 bytes" },
    { NULL, NULL, 0, NULL },
};

static struct PyModuleDef known_module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "known_pyext",
    .m_doc = "heapspan report test extension",
    .m_size = -1,
    .m_methods = known_methods,
};

PyMODINIT_FUNC PyInit_known_pyext(void);

PyMODINIT_FUNC PyInit_known_pyext(void)
{
    return PyModule_Create(&known_module);
}
