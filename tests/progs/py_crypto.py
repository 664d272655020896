"""py_crypto.py - tests/python-tests.sh: Debian's cryptography, whose ASN.1 code is Rust
(PyO3, _rust.abi3.so): 500 DER signatures encoded by encode_many. Rust's allocations
go through malloc whatever PYTHONMALLOC says."""
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def encode_many(n):
    out = []
    for i in range(n):
        out.append(encode_dss_signature(2**255 + i, 2**254 + i))  # @rust_call
    return out


if __name__ == "__main__":
    print(len(encode_many(500)))
