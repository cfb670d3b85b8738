"""pybpf-hash64: the one hash function of hash maps and bloom filters.

It is defined so a JIT can reimplement it in a few native instructions, and so every process that
shares a pinned map computes the same buckets.  Over the key bytes ``data`` and a 64-bit ``seed``
(all arithmetic modulo 2**64)::

    h = seed * 0x9E3779B97F4A7C15 ^ len(data)
    for each 8-byte little-endian word w of data (the last word zero-padded):
        h = (h ^ w) * 0x9E3779B97F4A7C15
        h ^= h >> 32
    # splitmix64 finaliser
    h ^= h >> 30;  h *= 0xBF58476D1CE4E5B9
    h ^= h >> 27;  h *= 0x94D049BB133111EB
    h ^= h >> 31

Hash maps use the low 32 bits (``seed`` 0) as the element hash and ``hash & (n_buckets - 1)`` as
the bucket.  The bloom filter uses ``hash64(value, i) & bitset_mask`` for hash function ``i``.
The kernel uses jhash with a random seed; pybpf's seed is fixed (as with ``BPF_F_ZERO_SEED``) so
iteration order is reproducible.
"""

from __future__ import annotations

_M = (1 << 64) - 1
_K = 0x9E3779B97F4A7C15
_F1 = 0xBF58476D1CE4E5B9
_F2 = 0x94D049BB133111EB


def hash64(data: bytes, seed: int = 0) -> int:
    """pybpf-hash64 of ``data`` (see the module docstring)."""
    n = len(data)
    h = ((seed * _K) & _M) ^ n
    if 0 < n <= 8:
        h = ((h ^ int.from_bytes(data, "little")) * _K) & _M
        h ^= h >> 32
    else:
        for i in range(0, n, 8):
            h = ((h ^ int.from_bytes(data[i : i + 8], "little")) * _K) & _M
            h ^= h >> 32
    h ^= h >> 30
    h = (h * _F1) & _M
    h ^= h >> 27
    h = (h * _F2) & _M
    return h ^ (h >> 31)


def hash32(data: bytes) -> int:
    """The element hash of hash maps: the low 32 bits of ``hash64(data, 0)``."""
    return hash64(data) & 0xFFFFFFFF
