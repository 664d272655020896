"""py_threads.py - tests/python-tests.sh: 4 threads, each allocating 300 bytearrays of
its own size from a function of its own, all at once (a barrier starts them together).
A bytearray of n bytes over 512 takes n + 1 bytes from malloc, whatever PYTHONMALLOC
says, and the lists are made whole first: those lines allocate nothing else. Each
thread's blocks must be attributed to its own function and line."""
import threading

N = 300
barrier = threading.Barrier(4)


def alpha(keep):
    barrier.wait()
    for i in range(N):
        keep[i] = bytearray(10000)  # @t_alpha


def beta(keep):
    barrier.wait()
    for i in range(N):
        keep[i] = bytearray(20000)  # @t_beta


def gamma(keep):
    barrier.wait()
    for i in range(N):
        keep[i] = bytearray(30000)  # @t_gamma


def delta(keep):
    barrier.wait()
    for i in range(N):
        keep[i] = bytearray(40000)  # @t_delta


def run_thread(fn):
    keep = [None] * N
    fn(keep)  # @t_run


if __name__ == "__main__":
    threads = [threading.Thread(target=run_thread, args=(f,)) for f in (alpha, beta, gamma, delta)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("done")
