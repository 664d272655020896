"""pyjson.py [N=200000]: CPython's json module on a large document.

Builds N records (nested dicts, lists, strings, floats), json.dumps them
into one string, json.loads it back and compares.  Prints one line with
the document size, ok=True when the round trip is exact, and this
process's peak RSS and CPU.

bench/run starts it with PYTHONMALLOC=malloc: with pymalloc (the default)
small objects come from arenas that CPython maps itself, and the whole
program makes only a few thousand malloc calls, which measures no heap
profiler at all."""
import json
import resource
import sys

n = int(float(sys.argv[1])) if len(sys.argv) > 1 else 200_000
doc = [{"id": i, "name": "item-%d" % i, "tags": ["a", "b", str(i)], "v": i * 0.5,
        "child": {"k": [i, i + 1, i + 2]}} for i in range(n)]
text = json.dumps(doc)
back = json.loads(text)
ru = resource.getrusage(resource.RUSAGE_SELF)
print("pyjson: items=%d json_bytes=%d ok=%s maxrss_kb=%d cpu_s=%.3f"
      % (n, len(text), back == doc, ru.ru_maxrss, ru.ru_utime + ru.ru_stime))
