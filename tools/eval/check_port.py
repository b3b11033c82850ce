"""Check that tools/eval/gt.py (numpy) renders what tools/train/shapes.py (torch) renders.

Needs torch (not run in CI):  venv/bin/python tools/eval/check_port.py
Both are fed the same uniform stream (a torch.Generator with the same seed, drawn one number at a
time as shapes.tracks draws), for every motion, shape and colour, at 12 fps and 60 fps and with t0 > 0.
Passes when tracks agree to 1e-9 px and uint8 frames differ by at most 1 level (float32 rounding).
"""
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "train"))
import gt  # noqa: E402
import shapes  # noqa: E402
import vocab  # noqa: E402


def main():
    for name in ("COLORS", "BACKGROUNDS", "SHAPES", "DIRECTIONS", "MOTIONS", "HELD_OUT", "COLOR_NAMES", "BG_NAMES"):
        a, b = getattr(vocab, name), getattr(shapes, name)
        norm = lambda v: {k: tuple(x) for k, x in v.items()} if isinstance(v, dict) else [tuple(x) if isinstance(x, (list, tuple)) else x for x in v]  # noqa: E731
        assert norm(a) == norm(b), f"vocab.{name} differs from shapes.{name}"
    assert vocab.vocabulary() == shapes.vocabulary()
    params = gt.balanced_params(264, seed=3)
    worst_track, worst_px, n = 0.0, 0, 0
    for fps, frames, t0 in ((12.0, 16, 0.0), (60.0, 24, 0.0), (12.0, 40, 2.5)):
        g1 = torch.Generator().manual_seed(7)
        g2 = torch.Generator().manual_seed(7)
        ct = shapes.tracks(params, frames, fps=fps, gen=g1, t0=t0)
        cn = gt.tracks(params, frames, fps=fps, u=lambda: float(torch.rand(1, generator=g2)), t0=t0)
        for a, b in zip(ct, cn):
            worst_track = max(worst_track, float(np.abs(a.numpy() - b).max()))
        for i in range(0, len(params), 24):
            sl = slice(i, i + 24)
            vt = shapes.render(params[sl], *(a[sl] for a in ct))
            vt = torch.clamp(torch.floor((vt + 1.0) * 127.5 + 0.5), 0, 255).to(torch.uint8).numpy()
            vn = gt.to_uint8(gt.render(params[sl], *(a[sl] for a in cn)))
            worst_px = max(worst_px, int(np.abs(vt.astype(int) - vn.astype(int)).max()))
            n += vt.shape[0]
    ok = worst_track < 1e-9 and worst_px <= 1
    print(f"vocab tables match; {n} clips: max track diff {worst_track:.2e} px, max frame diff {worst_px} levels: "
          f"{'OK' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
