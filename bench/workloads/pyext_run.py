"""pyext_run.py [N=5000000]: drives the benchext C extension.

Calls benchext.churn in chunks of 10,000 malloc/free pairs (so the
interpreter runs between calls and builds a small list of results),
then leaks exactly 1000 blocks of 1000 bytes from C.  Prints one line.
The build puts benchext.so next to a copy of this script, in build/bench/."""
import os
import resource
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchext  # noqa: E402

CHUNK = 10_000
n = int(float(sys.argv[1])) if len(sys.argv) > 1 else 5_000_000
results = []
for i in range(n // CHUNK):
    results.append(benchext.churn(CHUNK, i + 1))
leaked = benchext.leak(1000, 1000)
calls = n // CHUNK * CHUNK
ru = resource.getrusage(resource.RUSAGE_SELF)
print(f"pyext: allocs={calls} frees={calls} bytes={sum(results)} "
      f"leaked_blocks=1000 leaked_bytes={leaked} "
      f"maxrss_kb={ru.ru_maxrss} cpu_s={ru.ru_utime + ru.ru_stime:.3f}")
