"""The motion controls' modules (dit.ctl_*) of EMA shards, alone, as a one-shard set PREFIX-00.pt
(bf16 as written): a round trained with --freeze-base changes nothing else, so these and the base
model's shards are the whole model (train.py --init-controls, export.py --controls-shards).

    python tools/train/split_controls.py ckpt/dit-ctl-ema tools/train/ckpt/dit-ctl
"""
import sys

import torch


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    first = torch.load(f"{src}-00.pt", map_location="cpu")
    state = {}
    for i in range(first["shards"]):
        sh = first if i == 0 else torch.load(f"{src}-{i:02d}.pt", map_location="cpu")
        state.update({k: v for k, v in sh["state"].items() if k.startswith("dit.ctl_")})
    if not state:
        raise SystemExit(f"{src}: no dit.ctl_* weights")
    meta = {k: v for k, v in first.items() if k not in ("state", "shard", "shards")}
    torch.save(dict(meta, state=state, shard=0, shards=1), f"{dst}-00.pt")
    n = sum(v.numel() for v in state.values())
    print(f"wrote {dst}-00.pt: {len(state)} tensors, {n} parameters, step {meta['step']}")


if __name__ == "__main__":
    main()
