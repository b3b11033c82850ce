#!/usr/bin/python3
# Writes the tiny weights fixtures under tests/io/data/ that test_weights.c reads:
#   tiny_weights.h5       docs/ARCHITECTURE.md layout (/config attrs, /vocab, /tensors/<name>)
#   tiny_weights.safetensors  the same tensors, config and vocab in __metadata__
# Values are chosen so the C test can check them from first principles
# (arange, exact in float16 and bfloat16). Run: /usr/bin/python3 tests/io/make_fixtures.py
import json
import os
import struct

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")

VOCAB = ["<pad>", "a", "red", "circle", "caf\u00e9", "moving"]
CONFIG = {"depth": 2, "width": 64, "temporal_window": 2, "rope_theta": 10000.0,
          "shift": 3.5, "name": "tiny-test"}


def tensors():
    return {
        # float32 (3, 4) = arange(12) - 5.5
        "blocks.0.attn_s.qkv.weight": (np.arange(12, dtype=np.float32) - 5.5).reshape(3, 4),
        # float16 (2, 3) = arange(6) * 0.5 - 1  (exact in f16)
        "blocks.0.attn_s.qkv.bias": (np.arange(6, dtype=np.float32) * 0.5 - 1.0).astype(np.float16).reshape(2, 3),
        # float16 with extremes: 65504 (max), 2**-24 (smallest subnormal), -0, 1/3 (rounded)
        "final.scale": np.array([65504.0, 2.0**-24, -0.0, 1.0 / 3.0], dtype=np.float16),
        # float32 (2, 2, 2, 2) = arange(16)
        "patch.weight": np.arange(16, dtype=np.float32).reshape(2, 2, 2, 2),
    }


def write_h5(path):
    with h5py.File(path, "w") as f:
        cfg = f.create_group("config")
        for k, v in CONFIG.items():
            if isinstance(v, int):
                cfg.attrs[k] = np.int64(v)
            elif isinstance(v, float):
                cfg.attrs[k] = np.float64(v)
            else:
                cfg.attrs[k] = v  # variable-length UTF-8 string
        f.create_dataset("vocab", data=np.array(VOCAB, dtype=object), dtype=h5py.string_dtype())
        t = f.create_group("tensors")
        for name, arr in tensors().items():
            t.create_dataset(name, data=arr)


def write_safetensors(path):
    tens = tensors()
    # add a bfloat16 tensor: [1, -2, 0.5, 3] (exact in bf16), stored as the top 16 bits of f32
    bf = np.array([1.0, -2.0, 0.5, 3.0], dtype=np.float32).view(np.uint32) >> 16
    header = {}
    blobs = []
    off = 0
    for name, arr in tens.items():
        b = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        dt = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16"}[arr.dtype]
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    b = bf.astype("<u2").tobytes()
    header["bf.weight"] = {"dtype": "BF16", "shape": [2, 2], "data_offsets": [off, off + len(b)]}
    blobs.append(b)
    off += len(b)
    meta = {k: str(v) for k, v in CONFIG.items()}
    meta["vocab"] = "\n".join(VOCAB)
    header["__metadata__"] = meta
    hj = json.dumps(header, ensure_ascii=True).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


if __name__ == "__main__":
    os.makedirs(DATA, exist_ok=True)
    write_h5(os.path.join(DATA, "tiny_weights.h5"))
    write_safetensors(os.path.join(DATA, "tiny_weights.safetensors"))
    print("wrote", DATA)
