"""Procedural dataset: clips of one moving shape on a plain background, with captions.

The world (colours, shapes, motions, captions, the vocabulary and the physics of the motion) is
tools/physics.py, shared with the evaluation (tools/eval); here it is sampled with a torch.Generator
and rendered with torch (CPU or GPU), vectorised over the batch. Every clip carries its ground-truth
parameters and per-frame track so the evaluator can check it.
"""
import math
import os
import sys

import torch

_TOOLS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
if _TOOLS not in sys.path:
    sys.path.insert(0, _TOOLS)
import physics  # noqa: E402  (tools/physics.py)
from physics import (BACKGROUNDS, BG_NAMES, COLOR_NAMES, COLORS, DIRECTIONS, HELD_OUT, MOTIONS,  # noqa: E402,F401
                     SHAPES, caption, vocabulary)


def sample_params(n, gen, held_out="exclude"):
    """Random clip parameters. held_out: 'exclude' (training), 'only', or 'any'."""
    out = []
    while len(out) < n:
        c = COLOR_NAMES[int(torch.randint(len(COLOR_NAMES), (1,), generator=gen))]
        s = SHAPES[int(torch.randint(len(SHAPES), (1,), generator=gen))]
        pair_held = (c, s) in HELD_OUT
        if (held_out == "exclude" and pair_held) or (held_out == "only" and not pair_held):
            continue
        m = MOTIONS[int(torch.randint(len(MOTIONS), (1,), generator=gen))]
        bgs = [b for b in BG_NAMES if b != c]
        b = bgs[int(torch.randint(len(bgs), (1,), generator=gen))]
        out.append({"color": c, "shape": s, "motion": m, "bg": b})
    return out


def _fold(x, lo, hi):
    """Reflect x into [lo, hi] (elastic walls), elementwise."""
    span = (hi - lo).clamp(min=1e-3)
    y = torch.remainder(x - lo, 2 * span)
    return lo + torch.where(y > span, 2 * span - y, y)


class TorchOps:
    """physics.tracks on torch float64 tensors (the walls as torch.tensor(float): float32 scalars)."""

    @staticmethod
    def times(frames, fps, t0):
        return torch.arange(frames, dtype=torch.float64) / fps + t0

    @staticmethod
    def zeros(B, T):
        return torch.zeros(B, T, dtype=torch.float64)

    @staticmethod
    def fold(x, lo, hi):
        return _fold(x, torch.tensor(lo), torch.tensor(hi))

    exp = staticmethod(torch.exp)

    @staticmethod
    def clamp_max(x, hi):
        return x.clamp(max=hi)

    @staticmethod
    def clamp_min(x, lo):
        return x.clamp(min=lo)

    @staticmethod
    def row(values):
        return torch.tensor(values, dtype=torch.float64)


def tracks(params, frames, fps=12.0, size=64, gen=None, t0=0.0, truth=None):
    """Per-frame centre (x, y) and radius for each clip: tensors (B, T) (physics.tracks). truth: a list
    that receives each clip's true control values (physics.control_truth)."""
    u = lambda: float(torch.rand(1, generator=gen))  # noqa: E731
    return physics.tracks(params, frames, fps, size, u, t0, TorchOps, truth=truth)


def add_controls(params, frames, gen, fps=12.0, size=64, share=0.5, kinds=None):
    """Turn about `share` of the clips into control clips (physics.draw_control: paths with 2-4 keys,
    motion vectors, bounces at any gravity and restitution, seen from up to physics.CTRL_BOUNCE_T0 s into the
    bounce so that later bounces and the rest are seen too, growth at any rate), kinds drawn uniformly
    from `kinds` (default all). Their motion word (the caption) follows the control; colour, shape and
    background stay. Draws only when called: the plain draw (sample_params, tracks) is unchanged."""
    kinds = kinds or physics.CONTROL_KINDS
    u = lambda: float(torch.rand(1, generator=gen))  # noqa: E731
    for p in params:
        if u() < share:
            kind = kinds[min(int(u() * len(kinds)), len(kinds) - 1)]
            p["control"], p["motion"] = physics.draw_control(kind, u, frames, fps, size, p["shape"],
                                                             late=physics.CTRL_BOUNCE_T0)
    return params


def own_control_mask(params):
    """(B, 14) bool: the control-vector columns of each clip's own control (a control clip's kind: path,
    motion, gravity and bounce for a bounce, growth with its planned size and centre); all False for a plain
    clip."""
    own = torch.zeros(len(params), physics.CONTROL_DIM, dtype=torch.bool)
    for i, p in enumerate(params):
        if "control" in p:  # control_truth names the groups a clip's control sets
            for g in physics.control_truth(p["control"]):
                own[i, list(physics.CONTROL_GROUPS[g])] = True
                if g == "growth":
                    own[i, list(physics.SIZE_GROUP) + list(physics.CONTROL_GROUPS["path"])] = True
    return own


def control_labels(truth, frames, fps=12.0, size=64, t0=0.0, drop=0.0, gen=None, centres=None, radii=None):
    """(B, T, 14) float32 control vectors (physics.control_vector) of each clip's true values, with the
    clip's centre per frame in the path group of a motion, a bounce or a growth when centres = tracks()'s
    (cx, cy) are given, and its radius in the size group of a growth when radii = tracks()'s r are (what the
    engine plans for them); with drop > 0 each control group of each clip is zeroed (values and flag) with
    probability `drop`."""
    lab = physics.control_labels(truth, frames, fps, size, size, f0=round(t0 * fps), centres=centres, radii=radii)
    if drop > 0:
        lab = physics.drop_controls(lab, drop, lambda: float(torch.rand(1, generator=gen)))
    return torch.tensor(lab, dtype=torch.float32).view(len(truth), frames, physics.CONTROL_DIM)


def render(params, cx, cy, r, size=64, device="cpu", coverage=False):
    """Frames (B, T, size, size, 3) float in [-1, 1], anti-aliased edges; coverage=True: and the object's
    coverage of each pixel (B, T, size, size) in [0, 1]."""
    B, T = cx.shape
    cx, cy, r = (a.to(device=device, dtype=torch.float32).view(B, T, 1, 1) for a in (cx, cy, r))
    yy, xx = torch.meshgrid(torch.arange(size, device=device, dtype=torch.float32) + 0.5,
                            torch.arange(size, device=device, dtype=torch.float32) + 0.5, indexing="ij")
    dx, dy = xx - cx, yy - cy
    sd = torch.empty(B, T, size, size, device=device)
    shape_id = torch.tensor([SHAPES.index(p["shape"]) for p in params], device=device).view(B, 1, 1, 1)
    circle = torch.sqrt(dx * dx + dy * dy) - r
    square = torch.maximum(dx.abs(), dy.abs()) - r * physics.SQUARE_HALF
    s30, c30 = 0.5, math.sqrt(3) / 2
    rt = r * physics.TRI_SCALE
    tri = torch.maximum(torch.maximum(dy - rt / 2, -c30 * dx - s30 * dy - rt / 2), c30 * dx - s30 * dy - rt / 2)
    sd = torch.where(shape_id == 0, circle, torch.where(shape_id == 1, square, tri))
    cov = (0.5 - sd).clamp(0, 1).unsqueeze(-1)  # (B, T, H, W, 1)
    fg = torch.tensor([COLORS[p["color"]] for p in params], device=device, dtype=torch.float32).view(B, 1, 1, 1, 3)
    bg = torch.tensor([BACKGROUNDS[p["bg"]] for p in params], device=device, dtype=torch.float32).view(B, 1, 1, 1, 3)
    img = (bg + (fg - bg) * cov) / 127.5 - 1.0
    return (img, cov.squeeze(-1)) if coverage else img


def batch(n, frames, gen, fps=12.0, device="cpu", held_out="exclude", controls=False, control_share=0.5,
          control_drop=0.0):
    """A training batch: frames (B, T, 64, 64, 3) in [-1, 1], captions, params.
    controls=True: about control_share of the clips are control clips (add_controls) and a fourth value
    comes back, the control vectors (B, T, 14) of every clip's true values (the plain kinds carry theirs
    too: velocity, gravity and restitution, growth rate), each group dropped with probability control_drop.
    controls=False draws exactly what it always did."""
    params = sample_params(n, gen, held_out)
    if controls:
        add_controls(params, frames, gen, fps=fps, share=control_share)
    truth = [] if controls else None
    cx, cy, r = tracks(params, frames, fps=fps, gen=gen, truth=truth)
    video = render(params, cx, cy, r, device=device)
    caps = [caption(p["color"], p["shape"], p["motion"], p["bg"]) for p in params]
    if controls:
        return video, caps, params, control_labels(truth, frames, fps, drop=control_drop, gen=gen,
                                                   centres=(cx, cy), radii=r).to(device)
    return video, caps, params


if __name__ == "__main__":
    g = torch.Generator().manual_seed(0)
    v, caps, _ = batch(4, 16, g)
    print(v.shape, v.min().item(), v.max().item())
    print("\n".join(caps))
    print(len(vocabulary()), "words")
    v, caps, params, lab = batch(8, 16, g, controls=True, control_drop=0.2)
    for c, p, l in zip(caps, params, lab):
        print(p.get("control", {}).get("kind", "-"), c, [round(x, 3) for x in l[0].tolist()])
