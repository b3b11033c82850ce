#!/usr/bin/env python3
"""Converts a PyTorch pickle (.pth / .pt / .ckpt) of tensors to safetensors, once.

timeshard never unpickles files (a pickle can run code). The official Wan2.1
repository ships its text encoder (models_t5_umt5-xxl-enc-bf16.pth) and VAE
(Wan2.1_VAE.pth) as pickles: convert them with this script (it needs PyTorch),
then give timeshard the .safetensors files. Tensors keep their names and dtypes;
a nested {'state_dict': ...} or {'model': ...} is unwrapped.

usage: python3 tools/wan/pth_to_safetensors.py IN.pth OUT.safetensors
"""
import sys

import torch
from safetensors.torch import save_file


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    # weights_only: tensors and plain containers only, no arbitrary objects
    sd = torch.load(src, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "module"):
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
    if not isinstance(sd, dict):
        raise SystemExit(f"{src}: not a dict of tensors ({type(sd).__name__})")
    tensors = {k: v.contiguous() for k, v in sd.items() if isinstance(v, torch.Tensor)}
    skipped = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if skipped:
        print(f"skipped {len(skipped)} non-tensor entries: {skipped[:5]}", file=sys.stderr)
    save_file(tensors, dst)
    n = sum(t.numel() for t in tensors.values())
    print(f"{dst}: {len(tensors)} tensors, {n} parameters")


if __name__ == "__main__":
    main()
