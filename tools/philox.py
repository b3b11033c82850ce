"""Philox4x32-10 normals exactly as the engine draws them (src/core/rng.h), in numpy.

Element idx of stream s under seed k: ctr = (lo32(idx/2), hi32(idx/2), s, 0),
key = (lo32(k), hi32(k)); u1 = (o0 + 0.5)/2^32, u2 = (o1 + 0.5)/2^32;
r = sqrt(-2 ln u1); even idx: r cos(2 pi u2), odd: r sin(2 pi u2); float32.
"""
import numpy as np

M0, M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
W0, W1 = np.uint32(0x9E3779B9), np.uint32(0xBB67AE85)


def philox4x32_10(c0, c1, c2, c3, k0, k1):
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint32).copy() for c in (c0, c1, c2, c3))
    k0, k1 = np.uint32(k0), np.uint32(k1)
    with np.errstate(over="ignore"):
        for r in range(10):
            if r > 0:
                k0 = np.uint32(k0 + W0)
                k1 = np.uint32(k1 + W1)
            p0 = M0 * c0.astype(np.uint64)
            p1 = M1 * c2.astype(np.uint64)
            hi0, lo0 = (p0 >> np.uint64(32)).astype(np.uint32), p0.astype(np.uint32)
            hi1, lo1 = (p1 >> np.uint64(32)).astype(np.uint32), p1.astype(np.uint32)
            c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


def normal(seed, stream, first, n):
    idx = np.arange(first, first + n, dtype=np.uint64)
    blk = idx >> np.uint64(1)
    lo = blk.astype(np.uint32)
    hi = (blk >> np.uint64(32)).astype(np.uint32)
    o0, o1, _, _ = philox4x32_10(lo, hi, np.full(n, stream, np.uint32), np.zeros(n, np.uint32),
                                 seed & 0xFFFFFFFF, seed >> 32)
    u1 = (o0.astype(np.float64) + 0.5) * 2.0 ** -32
    u2 = (o1.astype(np.float64) + 0.5) * 2.0 ** -32
    r = np.sqrt(-2.0 * np.log(u1))
    ang = 2 * np.pi * u2
    return np.where(idx & np.uint64(1), r * np.sin(ang), r * np.cos(ang)).astype(np.float32)


if __name__ == "__main__":
    # Known-answer vectors of Random123 (kat_vectors): philox4x32 10 rounds
    print([hex(int(x[0])) for x in philox4x32_10([0], [0], [0], [0], 0, 0)])
    print(normal(42, 0, 0, 4))
