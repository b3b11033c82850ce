"""Interpolation quality against 60 fps ground truth (numpy only, no torch).

Renders clips like tools/train/shapes.py (one anti-aliased circle, square or
triangle on a plain background; straight motion, bouncing under gravity,
growing, shrinking; 64x64) at 60 fps, keeps every 5th frame as 12 fps
keyframes, interpolates back to 60 fps with the C code (interp_raw: motion
compensated) and with the two baselines (frame repetition, linear blending),
and prints the PSNR of the in-between frames. Fails unless motion compensation
beats both baselines on average and on the fast (bouncing) clips.

usage: quality.py INTERP_RAW WORKDIR
"""
import math
import os
import subprocess
import sys

import numpy as np

SIZE, FPS_GT, STEP = 64, 60, 5  # keyframes at 12 fps
COLORS = {"red": (230, 40, 40), "green": (40, 200, 60), "blue": (40, 80, 240), "yellow": (240, 220, 40),
          "cyan": (40, 220, 230), "white": (245, 245, 245), "orange": (250, 140, 20)}
BGS = {"black": (0, 0, 0), "gray": (128, 128, 128), "navy": (10, 20, 90), "dark green": (10, 80, 30)}
DIRS = {"right": (1, 0), "up": (0, -1), "down left": (-1, 1)}


def fold(x, lo, hi):
    span = max(hi - lo, 1e-3)
    y = np.remainder(x - lo, 2 * span)
    return lo + np.where(y > span, 2 * span - y, y)


def track(motion, frames, rng):
    """Centre (x, y) and radius per frame, as tools/train/shapes.py moves them."""
    t = np.arange(frames) / FPS_GT
    if motion in DIRS:
        rad = 6 + 4 * rng.rand()
        speed = 12 + 12 * rng.rand()
        dx, dy = DIRS[motion]
        n = math.hypot(dx, dy)
        x0, y0 = 16 + 32 * rng.rand(), 16 + 32 * rng.rand()
        cx = fold(x0 + speed * dx / n * t, rad, SIZE - rad)
        cy = fold(y0 + speed * dy / n * t, rad, SIZE - rad)
        return cx, cy, np.full(frames, rad)
    if motion in ("growing", "shrinking"):
        rate = 0.35 + 0.25 * rng.rand()
        r = (4.5 + 2 * rng.rand()) * np.exp(rate * t) if motion == "growing" else (14 + 4 * rng.rand()) * np.exp(-rate * t)
        r = np.clip(r, 3.0, 22.0)
        return np.full(frames, 24 + 16 * rng.rand()), np.full(frames, 24 + 16 * rng.rand()), r
    # bouncing under gravity, restitution < 1, walls reflect (8 substeps per frame)
    rad = 5 + 3 * rng.rand()
    grav, e = 250.0, 0.7 + 0.2 * rng.rand()
    vx = (6 + 12 * rng.rand()) * (1 if rng.rand() < 0.5 else -1)
    x, y, vy = 16 + 32 * rng.rand(), 8 + 20 * rng.rand(), -20 * rng.rand()
    floor, h = SIZE - rad, 1.0 / (FPS_GT * 8)
    xs, ys = [], []
    for k in range(frames):
        if k:
            for _ in range(8):
                vy += grav * h
                x += vx * h
                y += vy * h
                if y > floor:
                    y, vy = floor - (y - floor) * e, -abs(vy) * e
                if x < rad or x > SIZE - rad:
                    x = rad + abs(x - rad) if x < rad else (SIZE - rad) - (x - (SIZE - rad))
                    vx = -vx
        xs.append(x)
        ys.append(y)
    return np.array(xs), np.array(ys), np.full(frames, rad)


def render(shape, color, bg, cx, cy, r):
    """Frames (T, SIZE, SIZE, 3) uint8, anti-aliased edges (coverage of a signed distance)."""
    yy, xx = np.meshgrid(np.arange(SIZE) + 0.5, np.arange(SIZE) + 0.5, indexing="ij")
    dx = xx[None] - cx[:, None, None]
    dy = yy[None] - cy[:, None, None]
    r = r[:, None, None]
    if shape == "circle":
        sd = np.sqrt(dx * dx + dy * dy) - r
    elif shape == "square":
        sd = np.maximum(np.abs(dx), np.abs(dy)) - r * 0.85
    else:
        s30, c30, rt = 0.5, math.sqrt(3) / 2, r * 1.15
        sd = np.maximum(np.maximum(dy - rt / 2, -c30 * dx - s30 * dy - rt / 2), c30 * dx - s30 * dy - rt / 2)
    cov = np.clip(0.5 - sd, 0, 1)[..., None]
    fg, bgc = np.array(COLORS[color], float), np.array(BGS[bg], float)
    return np.clip(np.rint(bgc + (fg - bgc) * cov), 0, 255).astype(np.uint8)


CLIPS = [  # (shape, color, motion, background, seed)
    ("circle", "red", "right", "navy", 1),
    ("square", "yellow", "down left", "gray", 2),
    ("triangle", "cyan", "up", "black", 3),
    ("circle", "white", "bouncing", "navy", 4),
    ("square", "orange", "bouncing", "dark green", 5),
    ("triangle", "green", "bouncing", "black", 6),
    ("circle", "blue", "growing", "gray", 7),
    ("square", "red", "shrinking", "black", 8),
]


def psnr(mse):
    return 99.0 if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def main():
    exe, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    frames = 2 * FPS_GT + 1  # 2 s: 25 keyframes -> 121 frames
    keys_idx = np.arange(0, frames, STEP)
    rows, fails = [], 0
    print(f"# {len(CLIPS)} clips, {SIZE}x{SIZE}, {frames} frames at {FPS_GT} fps; keyframes every {STEP}th "
          f"({FPS_GT // STEP} fps); PSNR (dB) over the {frames - len(keys_idx)} in-between frames of each clip")
    print(f"#  {'clip':38s} {'repeat':>7s} {'blend':>7s} {'mc':>7s}")
    only = os.environ.get("ONLY")
    for shape, color, motion, bg, seed in CLIPS:
        if only and str(seed) not in only.split(","):
            continue
        rng = np.random.RandomState(seed)
        gt = render(shape, color, bg, *track(motion, frames, rng))
        kin = os.path.join(work, f"keys{seed}.rgb")
        gt[keys_idx].tofile(kin)
        res = {}
        for mode in (("mc",) if only else ("repeat", "blend", "mc")):
            out = os.path.join(work, f"out{seed}_{mode}.rgb")
            subprocess.run([exe, str(SIZE), str(SIZE), str(FPS_GT // STEP), str(FPS_GT), kin, out, mode], check=True)
            got = np.fromfile(out, np.uint8)
            if got.size != gt.size:
                print(f"FAIL {mode}: {got.size // (SIZE * SIZE * 3)} frames, expected {frames}")
                fails += 1
                res[mode] = 0.0
                continue
            got = got.reshape(gt.shape)
            if not np.array_equal(got[keys_idx], gt[keys_idx]):
                print(f"FAIL {mode}: keyframe positions are not the keyframes")
                fails += 1
            mid = np.setdiff1d(np.arange(frames), keys_idx)
            res[mode] = psnr(np.mean((got[mid].astype(float) - gt[mid].astype(float)) ** 2))
        name = f"{color} {shape} {motion} on {bg}"
        rows.append((name, motion, res))
        print(f"   {name:38s} {res.get('repeat', 0):7.2f} {res.get('blend', 0):7.2f} {res['mc']:7.2f}")
    mean = {m: float(np.mean([r[2][m] for r in rows])) for m in ("repeat", "blend", "mc")}
    print(f"   {'mean':38s} {mean['repeat']:7.2f} {mean['blend']:7.2f} {mean['mc']:7.2f}")
    if not (mean["mc"] > mean["repeat"] and mean["mc"] > mean["blend"]):
        print("FAIL: motion compensation does not beat both baselines on average")
        fails += 1
    for name, motion, r in rows:
        if motion == "bouncing" and not (r["mc"] > r["blend"] and r["mc"] > r["repeat"]):
            print(f"FAIL: {name}: motion compensation does not beat both baselines")
            fails += 1
    print("PASSED" if not fails else f"FAILED ({fails})")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
