/* pyext: CPython extension "benchext" for the Python workload.
 *   benchext.churn(n, seed) -> bytes: n malloc/free pairs, sizes 16..512,
 *       window of 64 live blocks, made 4 C frames below the Python call.
 *   benchext.leak(count, size) -> bytes: mallocs count blocks of size bytes
 *       and drops them (a known, deliberate leak).                      */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "churn_loop.h"

static PyObject *py_churn(PyObject *self, PyObject *args)
{
    (void)self;
    long n;
    unsigned long long seed = 1;
    if (!PyArg_ParseTuple(args, "l|K", &n, &seed))
        return NULL;
    unsigned long bytes = descend(3, n, seed * 0x9E3779B97F4A7C15ull | 1);
    return PyLong_FromUnsignedLong(bytes);
}

__attribute__((noinline)) static void *leak_one(size_t size)
{
    char *p = malloc(size);
    if (p)
        memset(p, 0xAB, size);
    ESCAPE(p); /* without this GCC deletes the leak */
    return p;
}

static PyObject *py_leak(PyObject *self, PyObject *args)
{
    (void)self;
    long count, size;
    if (!PyArg_ParseTuple(args, "ll", &count, &size))
        return NULL;
    for (long i = 0; i < count; i++)
        (void)leak_one((size_t)size); /* pointer dropped on purpose */
    return PyLong_FromLong(count * size);
}

static PyMethodDef methods[] = {
    { "churn", py_churn, METH_VARARGS, "n malloc/free pairs; returns bytes allocated" },
    { "leak", py_leak, METH_VARARGS, "leak count blocks of size bytes; returns bytes" },
    { NULL, NULL, 0, NULL }
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "benchext",
    .m_doc = "heap profiler benchmark extension",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit_benchext(void)
{
    return PyModule_Create(&module);
}
