#!/usr/bin/env python3
"""Writes a Wan2.1-shaped transformer with random bf16 weights, for memory checks.

Never committed (gigabytes). One safetensors file in the original Wan naming
(as the repackaged single files are), written tensor by tensor so that this
script's own memory stays small. Needs numpy only.

  --size 1.3B   dim 1536, ffn 8960, 30 layers: ~2.8 GB of random bf16 values
  --size 14B    dim 5120, ffn 13824, 40 layers: ~28 GB, written SPARSE (the
                header and the small tensors only; the big matrices read as zeros)

usage: python3 tools/wan/make_big.py --size 1.3B /tmp/wan13b.safetensors
"""
import argparse
import json
import os
import struct

import numpy as np

SIZES = {"1.3B": (1536, 8960, 12, 30), "14B": (5120, 13824, 40, 40)}


def tensors(dim, ffn, layers, C=16, text_dim=4096, freq_dim=256):
    t = [("patch_embedding.weight", (dim, C, 1, 2, 2)), ("patch_embedding.bias", (dim,)),
         ("text_embedding.0.weight", (dim, text_dim)), ("text_embedding.0.bias", (dim,)),
         ("text_embedding.2.weight", (dim, dim)), ("text_embedding.2.bias", (dim,)),
         ("time_embedding.0.weight", (dim, freq_dim)), ("time_embedding.0.bias", (dim,)),
         ("time_embedding.2.weight", (dim, dim)), ("time_embedding.2.bias", (dim,)),
         ("time_projection.1.weight", (6 * dim, dim)), ("time_projection.1.bias", (6 * dim,))]
    for i in range(layers):
        b = f"blocks.{i}."
        for a in ("self_attn", "cross_attn"):
            for p in "qkvo":
                t += [(b + f"{a}.{p}.weight", (dim, dim)), (b + f"{a}.{p}.bias", (dim,))]
            t += [(b + f"{a}.norm_q.weight", (dim,)), (b + f"{a}.norm_k.weight", (dim,))]
        t += [(b + "norm3.weight", (dim,)), (b + "norm3.bias", (dim,)),
              (b + "ffn.0.weight", (ffn, dim)), (b + "ffn.0.bias", (ffn,)),
              (b + "ffn.2.weight", (dim, ffn)), (b + "ffn.2.bias", (dim,)),
              (b + "modulation", (1, 6, dim))]
    t += [("head.head.weight", (4 * C, dim)), ("head.head.bias", (4 * C,)), ("head.modulation", (1, 2, dim))]
    return t


def random_bf16(n, rng, small):
    # sign, exponent 2^-10 .. 2^-6 (2^-3 .. 2^0 for vectors), random mantissa
    e = rng.integers(117, 122, n, dtype=np.uint16) if small else rng.integers(124, 128, n, dtype=np.uint16)
    return ((rng.integers(0, 2, n, dtype=np.uint16) << 15) | (e << 7) | rng.integers(0, 128, n, dtype=np.uint16))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", choices=SIZES, default="1.3B")
    ap.add_argument("out")
    a = ap.parse_args()
    dim, ffn, heads, layers = SIZES[a.size]
    sparse = a.size == "14B"
    ts = tensors(dim, ffn, layers)
    header, off = {}, 0
    for name, shape in ts:
        n = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    header["__metadata__"] = {"format": "pt", "note": f"random Wan2.1-{a.size}-shaped weights"}
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    rng = np.random.default_rng(0)
    with open(a.out, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        base = f.tell()
        for name, shape in ts:
            n = int(np.prod(shape))
            if sparse and len(shape) >= 2 and n >= dim * dim:
                continue  # a hole: reads as zeros
            f.seek(base + header[name]["data_offsets"][0])
            for s in range(0, n, 1 << 24):
                f.write(random_bf16(min(1 << 24, n - s), rng, len(shape) >= 2).tobytes())
        f.truncate(base + off)
    print(f"{a.out}: Wan2.1-{a.size} shape, {sum(int(np.prod(s)) for _, s in ts)} parameters, "
          f"{(base + off) / 1e9:.2f} GB{' (sparse)' if sparse else ''}")


if __name__ == "__main__":
    main()
