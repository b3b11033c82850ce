"""Export a model to timeshard's HDF5 weights format (docs/ARCHITECTURE.md "Files"):
every hyper-parameter an attribute of /config, the vocabulary the string
dataset /vocab, each tensor /tensors/<state-dict name>, float16 or float32.

    python tools/export.py --shards tools/train/ckpt/dit-ema --out models/default.h5 --dtype f16
    python tools/export.py --random --seed 0 --set width=32 --set depth=2 --out tiny.h5   # untrained

A model built with motion controls (config controls=14, e.g. --random --set controls=14) carries
the tensors dit.ctl_fc1.*, dit.ctl_fc2.* (the per-frame embedding) and dit.ctl_tok_fc1.*,
dit.ctl_tok_fc2.* (the per-token path hint's) in its state dict, written like the others, and the
/config attribute controls = 14 that tells the engine to load them (docs/controls.md); a model
without them gets controls = 0 (files from before have no attribute: the same).
"""
import argparse
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "train"))
import shapes  # noqa: E402
import tsmodel  # noqa: E402


def write_h5(model, path, dtype="f16", extra_attrs=None):
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        g = f.create_group("config")
        for k, v in model.cfg.items():
            g.attrs[k] = v if not isinstance(v, str) else np.bytes_(v)
        for k, v in (extra_attrs or {}).items():
            g.attrs[k] = v if not isinstance(v, str) else np.bytes_(v)
        f.create_dataset("vocab", data=np.array(model.vocab, dtype=object), dtype=h5py.string_dtype())
        t = f.create_group("tensors")
        for name, p in model.state_dict().items():
            a = p.detach().float().cpu().numpy().astype(np.float16 if dtype == "f16" else np.float32)
            # byte shuffle + deflate: ~20% smaller for f16 weights, read back by any HDF5
            big = a.ndim > 0 and a.size >= 1024
            t.create_dataset(name, data=a, **(dict(compression="gzip", compression_opts=9, shuffle=True) if big else {}))
    os.replace(tmp, path)


def write_safetensors(model, path, dtype="f32", extra_attrs=None):
    """safetensors for interchange: config values and the '\\n'-joined vocabulary as
    string metadata (safetensors metadata is str -> str)."""
    import json
    import struct
    meta = {k: str(v) for k, v in model.cfg.items()}
    meta.update({k: str(v) for k, v in (extra_attrs or {}).items()})
    meta["vocab"] = "\n".join(model.vocab)
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name, p in model.state_dict().items():
        a = p.detach().float().cpu().numpy().astype(np.float16 if dtype == "f16" else np.float32)
        b = a.tobytes()
        header[name] = {"dtype": "F16" if dtype == "f16" else "F32", "shape": list(a.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def random_model(seed, overrides):
    cfg = dict(tsmodel.DEFAULT_CONFIG)
    for k, v in overrides.items():
        cfg[k] = type(tsmodel.DEFAULT_CONFIG[k])(v)
    torch.manual_seed(seed)
    m = tsmodel.TimeshardModel(cfg, shapes.vocabulary())
    # adaLN-Zero and the zero output layer would make an untrained model output
    # zeros; give every tensor small random values so tests exercise every path.
    with torch.no_grad():
        for name, p in m.named_parameters():
            if p.dim() >= 2:
                p.normal_(0, 1.0 / max(1.0, p.shape[-1] if p.dim() == 2 else p[0].numel()) ** 0.5)
            else:
                p.normal_(0, 0.05)
            if "norm" in name or "ln" in name:
                if name.endswith("weight"):
                    p.add_(1.0)
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shards", help="EMA shard prefix written by train.py --export")
    ap.add_argument("--controls-shards", help="with --shards: the motion controls' modules (dit.ctl_*) from these "
                                              "shards (train.py --freeze-base keeps the rest of a model unchanged)")
    ap.add_argument("--random", action="store_true", help="a randomly initialised (untrained) model")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], help="config override key=value (with --random)")
    ap.add_argument("--dtype", choices=["f16", "f32"], default="f16")
    ap.add_argument("--label", default="", help="free text stored as /config attribute 'label'")
    ap.add_argument("--out", required=True, help="FILE.h5 (timeshard's format) or FILE.safetensors")
    a = ap.parse_args()
    if a.random:
        m = random_model(a.seed, dict(kv.split("=", 1) for kv in a.set))
        label = a.label or "untrained: random weights for tests"
    else:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "train"))
        from train import load_shards
        sd, meta = load_shards(a.shards)
        cfg = dict(meta["config"])
        if a.controls_shards:
            csd, cmeta = load_shards(a.controls_shards)
            sd.update({k: v for k, v in csd.items() if k.startswith("dit.ctl_")})
            meta = dict(meta, step=cmeta["step"])
        if a.controls_shards or cfg.get("controls", 0):
            # control modules made before the size group (controls = 12) get its columns at zero
            sd = tsmodel.widen_controls(sd)
            cfg["controls"] = tsmodel.CONTROL_DIM
        m = tsmodel.TimeshardModel(cfg, meta["vocab"])
        m.load_state_dict(sd)
        label = a.label or f"trained {meta['step']} steps"
    if len(label.encode()) > 255:  # the engine reads config strings of at most 255 bytes (ts_model_config.label)
        raise SystemExit(f"--label is {len(label.encode())} bytes; the engine reads at most 255")
    if a.out.endswith(".safetensors"):
        write_safetensors(m, a.out, a.dtype, {"label": label})
    else:
        write_h5(m, a.out, a.dtype, {"label": label})
    if m.cfg.get("controls", 0):
        assert all(f"dit.ctl_{p}fc{i}.{k}" in m.state_dict() for p in ("", "tok_") for i in (1, 2)
                   for k in ("weight", "bias"))
    n = sum(p.numel() for p in m.state_dict().values())
    print(f"wrote {a.out}: {n / 1e6:.2f}M parameters, {os.path.getsize(a.out) / 1e6:.1f} MB, label '{label}'")


if __name__ == "__main__":
    main()
