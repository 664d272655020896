"""py_objects.py - tests/python-tests.sh: 20000 small lists, none over 512 bytes:
pymalloc serves them from its arenas unless PYTHONMALLOC=malloc."""


def make_objects(n):
    out = [None] * n
    for i in range(n):
        out[i] = [i]  # @o_make
    return out


if __name__ == "__main__":
    print(len(make_objects(20000)))
