"""Ground-truth clips without torch: the dataset's motion (tools/physics.py, shared with
tools/train/shapes.py) on numpy arrays, and a numpy port of shapes.py's `render`.

`tracks` takes its random numbers from a callable `u()` (uniform in [0, 1)), drawn in the same order as
shapes.tracks draws `torch.rand(1, generator=gen)` (both call physics.tracks); tools/eval/check_port.py
feeds both the same stream (with torch) and checks tracks and frames agree, so the numpy side cannot drift
from the dataset unnoticed. Clip parameters come from `balanced_params` (every colour x shape x motion,
backgrounds cycled) rather than shapes.sample_params, so validation covers every class.
"""
import math
import os
import sys

import numpy as np

try:
    from . import vocab as V
except ImportError:  # run as a script from tools/eval
    import vocab as V
_TOOLS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
if _TOOLS not in sys.path:
    sys.path.insert(0, _TOOLS)
import physics  # noqa: E402  (tools/physics.py)

NUMPY_OPS = physics.NumpyOps()


def tracks(params, frames, fps=12.0, size=64, u=None, t0=0.0, truth=None):
    """Per-frame centre (x, y) and radius for each clip: float64 arrays (B, T). As shapes.tracks (params
    with a "control" follow it; truth: a list receiving each clip's true control values)."""
    if u is None:
        rng = np.random.default_rng(0)
        u = lambda: float(rng.random())  # noqa: E731
    return physics.tracks(params, frames, fps, size, u, t0, NUMPY_OPS, truth=truth)


def render(params, cx, cy, r, size=64):
    """Frames (B, T, size, size, 3) float32 in [-1, 1], as shapes.render (float32 arithmetic)."""
    f32 = np.float32
    B, T = cx.shape
    cx, cy, r = (np.asarray(a, f32).reshape(B, T, 1, 1) for a in (cx, cy, r))
    ax = np.arange(size, dtype=f32) + f32(0.5)
    yy, xx = np.meshgrid(ax, ax, indexing="ij")
    dx, dy = xx - cx, yy - cy
    shape_id = np.array([V.SHAPES.index(p["shape"]) for p in params]).reshape(B, 1, 1, 1)
    circle = np.sqrt(dx * dx + dy * dy) - r
    square = np.maximum(np.abs(dx), np.abs(dy)) - r * f32(physics.SQUARE_HALF)
    s30, c30 = f32(0.5), f32(math.sqrt(3) / 2)
    rt = r * f32(physics.TRI_SCALE)
    tri = np.maximum(np.maximum(dy - rt / 2, -c30 * dx - s30 * dy - rt / 2), c30 * dx - s30 * dy - rt / 2)
    sd = np.where(shape_id == 0, circle, np.where(shape_id == 1, square, tri))
    cov = np.clip(f32(0.5) - sd, 0, 1)[..., None]
    fg = np.array([V.COLORS[p["color"]] for p in params], f32).reshape(B, 1, 1, 1, 3)
    bg = np.array([V.BACKGROUNDS[p["bg"]] for p in params], f32).reshape(B, 1, 1, 1, 3)
    img = bg + (fg - bg) * cov
    return (img / f32(127.5) - f32(1.0)).astype(f32)


def to_uint8(x):
    """[-1, 1] -> uint8 as the engine converts: floor((x + 1) * 127.5 + 0.5), clamped."""
    return np.clip(np.floor((x.astype(np.float32) + 1.0) * 127.5 + 0.5), 0, 255).astype(np.uint8)


def balanced_params(n, seed=0, held_out="any"):
    """n clip parameters covering colour x shape x motion evenly (cycled in a shuffled order),
    backgrounds drawn among those allowed. held_out: 'any', 'exclude' or 'only'."""
    rng = np.random.default_rng(seed)
    combos = [(c, s, m) for c in V.COLOR_NAMES for s in V.SHAPES for m in V.MOTIONS
              if held_out == "any" or ((c, s) in V.HELD_OUT) == (held_out == "only")]
    out = []
    while len(out) < n:
        for j in rng.permutation(len(combos)):
            c, s, m = combos[j]
            bgs = [b for b in V.BG_NAMES if b != c]
            out.append({"color": c, "shape": s, "motion": m, "bg": bgs[int(rng.integers(len(bgs)))]})
            if len(out) == n:
                break
    return out


def clips(params, frames=16, fps=12.0, seed=0, t0=0.0):
    """uint8 clips (B, T, 64, 64, 3) and captions for the given parameters."""
    rng = np.random.default_rng(seed)
    cx, cy, r = tracks(params, frames, fps=fps, u=lambda: float(rng.random()), t0=t0)
    vids = np.stack([to_uint8(render([p], cx[i:i + 1], cy[i:i + 1], r[i:i + 1])[0]) for i, p in enumerate(params)])
    caps = [V.caption(p["color"], p["shape"], p["motion"], p["bg"]) for p in params]
    return vids, caps, (cx, cy, r)
