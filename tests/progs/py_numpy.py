"""py_numpy.py - tests/python-tests.sh: an 8 MiB numpy array (1024 x 1024 float64)
allocated by build_matrix, called from handle_request, called from the module. The
markers name the lines the report must show."""
import numpy as np


def build_matrix(n):
    m = np.ones((n, n))  # @np_alloc
    return m


def handle_request():
    return build_matrix(1024)  # @np_call


if __name__ == "__main__":
    x = handle_request()  # @np_module
    print(x.shape)
