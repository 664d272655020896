/*
 * hsext.c - a CPython extension that allocates from C, for the `pyext` integration test.
 * hsext.work(total, leak, size) mallocs `total` blocks of `size` bytes: total - leak of
 * them in hsext_churn (freed at once) and `leak` in hsext_leak (never freed). Python's
 * own allocator sits on top of malloc too, so the test picks a size no interpreter
 * object has (23457) and checks the leak by the innermost frame.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>

static void *volatile sink;
#define ESCAPE(p) (sink = (void *)(p))

__attribute__((noipa)) static void hsext_churn(size_t size)
{
    void *p = malloc(size);
    ESCAPE(p);
    free(p);
}

__attribute__((noipa)) static void *hsext_leak(size_t size)
{
    void *p = malloc(size);
    ESCAPE(p);
    return p;
}

static PyObject *hsext_work(PyObject *self, PyObject *args)
{
    int total, leak;
    Py_ssize_t size;

    (void)self;
    if (!PyArg_ParseTuple(args, "iin", &total, &leak, &size))
        return NULL;
    if (leak > total || size <= 0) {
        PyErr_SetString(PyExc_ValueError, "need 0 <= leak <= total and size > 0");
        return NULL;
    }
    for (int i = 0; i < total - leak; i++)
        hsext_churn((size_t)size);
    for (int i = 0; i < leak; i++)
        if (hsext_leak((size_t)size) == NULL)
            return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyMethodDef hsext_methods[] = {
    { "work", hsext_work, METH_VARARGS, "work(total, leak, size): malloc total blocks, leak some" },
    { NULL, NULL, 0, NULL },
};

static struct PyModuleDef hsext_module = {
    PyModuleDef_HEAD_INIT, .m_name = "hsext",          .m_doc = "heapspan test extension",
    .m_size = -1,          .m_methods = hsext_methods,
};

PyMODINIT_FUNC PyInit_hsext(void);

PyMODINIT_FUNC PyInit_hsext(void)
{
    return PyModule_Create(&hsext_module);
}
