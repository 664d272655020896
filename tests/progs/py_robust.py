"""py_robust.py - tests/python-tests.sh: frames that come and go under the shim.
Exceptions raised through native code (json's C decoder calling a hook that raises,
sorted's C sort calling a key that raises), a generator, async functions, and threads
that exit while others allocate. Each allocates blocks of a size of its own (a
bytearray of n bytes over 512 takes n + 1 from malloc), so that each size's sites can
be checked to be its function's, at its line, and no other."""
import asyncio
import json
import threading


def hook(obj):
    buf = bytearray(5001)  # @r_hook
    raise ValueError(len(buf))


def raise_through_c():
    n = 0
    for _ in range(100):
        try:
            json.loads('{"a": 1}', object_hook=hook)  # @r_json
        except ValueError:
            n += 1
    return n


def bad_key(x):
    buf = bytearray(5002)  # @r_key
    raise KeyError(x + len(buf))


def raise_through_sort():
    n = 0
    for _ in range(100):
        try:
            sorted([3, 1, 2], key=bad_key)  # @r_sort
        except KeyError:
            n += 1
    return n


def blocks():
    for _ in range(100):
        yield bytearray(5003)  # @r_gen


async def fetch(i):
    await asyncio.sleep(0)
    return bytearray(5004)  # @r_async


async def gather_all():
    return await asyncio.gather(*(fetch(i) for i in range(100)))


def short_lived():
    b = bytearray(5005)  # @r_short
    return len(b)


def churn(stop):
    while not stop.is_set():
        b = bytearray(5006)  # @r_churn
        del b


if __name__ == "__main__":
    stop = threading.Event()
    churner = threading.Thread(target=churn, args=(stop,))
    churner.start()
    for _ in range(50):
        t = threading.Thread(target=short_lived)
        t.start()
        t.join()
    a = raise_through_c()
    b = raise_through_sort()
    c = sum(len(x) for x in blocks())
    d = len(asyncio.run(gather_all()))
    stop.set()
    churner.join()
    print(a, b, c, d)
