"""py_fork.py - tests/python-tests.sh: a forked child allocates from a function of its
own; its log must name its code objects anew (the parent's log holds the parent's)."""
import os


def child_work():
    out = [None] * 40
    for i in range(40):
        out[i] = bytearray(6001)  # @f_child
    return out


def parent_work():
    out = [None] * 30
    for i in range(30):
        out[i] = bytearray(6002)  # @f_parent
    return out


if __name__ == "__main__":
    keep = parent_work()
    pid = os.fork()
    if pid == 0:
        kept = child_work()
        os._exit(0 if len(kept) == 40 else 1)
    _, status = os.waitpid(pid, 0)
    print(len(keep), os.waitstatus_to_exitcode(status))
