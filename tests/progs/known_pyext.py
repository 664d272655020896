"""known_pyext.py - drives the known_pyext extension for tests/report-tests.sh, which
holds the same numbers: 9 blocks leaked with malloc, 4 with PyMem_RawMalloc, 30
malloc/free pairs. The extension is imported from this script's directory."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import known_pyext  # noqa: E402

known_pyext.churn(30)
known_pyext.leak_malloc(9)
known_pyext.leak_raw(4)
