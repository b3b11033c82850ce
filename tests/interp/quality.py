"""Interpolation quality against 60 fps ground truth (numpy only, no torch).

Renders clips like tools/train/shapes.py (one anti-aliased circle, square or
triangle on a plain background; straight motion, bouncing under gravity,
growing, shrinking; 64x64) at 60 fps, keeps every 5th frame as 12 fps
keyframes, interpolates back to 60 fps with the C code (interp_raw: motion
compensated) and with the two baselines (frame repetition, linear blending),
and prints the PSNR of the in-between frames. Fails unless motion compensation
beats both baselines on average and on the fast (bouncing) clips, and its mean
PSNR is at least MIN_GAIN (4.5) dB over plain blending (the CI test, ctest -R interp.quality).

usage: quality.py INTERP_RAW WORKDIR                 # CI: the 8 clips, mc/blend/repeat PSNR
       quality.py INTERP_RAW WORKDIR --bench [--md FILE] [--reps 3]
           # benchmark: PSNR and SSIM for mc, blend, repeat and FFmpeg's minterpolate (mci, aobmc,
           # bidir), wall time of each (process wall, median of --reps runs, one thread each:
           # OMP_NUM_THREADS=1 for interp_raw, -threads 1 -filter_threads 1 for ffmpeg)
Environment: ONLY=seed,... runs a subset (mc only unless --bench); TUNE_* pass to interp_raw.
"""
import math
import os
import subprocess
import sys
import time

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


MIN_GAIN = 4.5  # dB: mc mean PSNR over blending's, the CI floor (4.81 measured)
MINTERP = "minterpolate=fps={fps}:mi_mode=mci:mc_mode=aobmc:me_mode=bidir"


def psnr(mse):
    return 99.0 if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def _gauss(n=11, sigma=1.5):
    x = np.arange(n) - (n - 1) / 2
    g = np.exp(-x * x / (2 * sigma * sigma))
    return g / g.sum()


def _filt(img, g):
    """Separable 'valid' filter over the last two axes of (N, H, W)."""
    n = len(g)
    h, w = img.shape[-2:]
    a = sum(g[i] * img[:, i:h - n + 1 + i, :] for i in range(n))
    return sum(g[i] * a[:, :, i:w - n + 1 + i] for i in range(n))


def ssim(a, b):
    """Mean SSIM (Wang et al. 2004) of frames (N, H, W, 3) uint8: on luma (BT.601 Y = 0.299 R + 0.587 G
    + 0.114 B, 0-255), 11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03, 'valid' windows only."""
    wts = np.array([0.299, 0.587, 0.114])
    x, y = a.astype(float) @ wts, b.astype(float) @ wts
    g = _gauss()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = _filt(x, g), _filt(y, g)
    sxx, syy, sxy = _filt(x * x, g) - mx * mx, _filt(y * y, g) - my * my, _filt(x * y, g) - mx * my
    m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(m.mean())


def run_timed(cmd, reps, env=None, stdin=None, stdout=None):
    """Runs cmd reps times; returns (stdout bytes of the last run, median process wall seconds)."""
    times, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, env=env, input=stdin, stdout=subprocess.PIPE if stdout is None else stdout,
                           stderr=subprocess.PIPE, check=True)
        times.append(time.perf_counter() - t0)
        out = r.stdout
    return out, float(np.median(times))


def minterpolate(keys, reps):
    """FFmpeg's minterpolate on the keyframes (rawvideo in, rawvideo out, yuv444p inside: the filter
    takes YUV only, so the frames pass RGB -> YUV 4:4:4 -> RGB, which caps a keyframe at ~50 dB).
    Output frame j is time j/60 (checked: frame 5k is keyframe k); the filter stops at the last input's
    start, so the last keyframe is fed twice and the first (T-1)*STEP+1 frames are kept."""
    T = len(keys)
    feed = np.concatenate([keys, keys[-1:]])
    cmd = ["ffmpeg", "-v", "error", "-threads", "1", "-filter_threads", "1", "-f", "rawvideo", "-pix_fmt",
           "rgb24", "-s", f"{SIZE}x{SIZE}", "-r", str(FPS_GT // STEP), "-i", "-",
           "-vf", "format=yuv444p," + MINTERP.format(fps=FPS_GT), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    out, dt = run_timed(cmd, reps, stdin=feed.tobytes())
    got = np.frombuffer(out, np.uint8).reshape(-1, SIZE, SIZE, 3)
    want = (T - 1) * STEP + 1
    if len(got) < want:
        raise RuntimeError(f"minterpolate gave {len(got)} frames, expected >= {want}")
    return got[:want], dt


def main():
    args = sys.argv[1:]
    bench = "--bench" in args
    md = args[args.index("--md") + 1] if "--md" in args else None
    reps = int(args[args.index("--reps") + 1]) if "--reps" in args else 3
    exe, work = args[0], args[1]
    os.makedirs(work, exist_ok=True)
    frames = 2 * FPS_GT + 1  # 2 s: 25 keyframes -> 121 frames
    keys_idx = np.arange(0, frames, STEP)
    mid = np.setdiff1d(np.arange(frames), keys_idx)
    rows, fails = [], 0
    modes = ("repeat", "blend", "mc") + (("minterpolate",) if bench else ())
    env = dict(os.environ, OMP_NUM_THREADS="1") if bench else None
    print(f"# {len(CLIPS)} clips, {SIZE}x{SIZE}, {frames} frames at {FPS_GT} fps; keyframes every {STEP}th "
          f"({FPS_GT // STEP} fps); PSNR (dB) over the {len(mid)} in-between frames of each clip")
    print(f"#  {'clip':38s} " + " ".join(f"{m[:7]:>7s}" for m in modes))
    only = os.environ.get("ONLY")
    for shape, color, motion, bg, seed in CLIPS:
        if only and str(seed) not in only.split(","):
            continue
        rng = np.random.RandomState(seed)
        gt = render(shape, color, bg, *track(motion, frames, rng))
        kin = os.path.join(work, f"keys{seed}.rgb")
        gt[keys_idx].tofile(kin)
        res, sim, secs = {}, {}, {}
        for mode in (("mc",) if only and not bench else modes):
            if mode == "minterpolate":
                got, secs[mode] = minterpolate(gt[keys_idx], reps)
            else:
                out = os.path.join(work, f"out{seed}_{mode}.rgb")
                _, secs[mode] = run_timed([exe, str(SIZE), str(SIZE), str(FPS_GT // STEP), str(FPS_GT), kin, out,
                                           mode], reps if bench else 1, env=env, stdout=subprocess.DEVNULL)
                got = np.fromfile(out, np.uint8)
                if got.size != gt.size:
                    print(f"FAIL {mode}: {got.size // (SIZE * SIZE * 3)} frames, expected {frames}")
                    fails += 1
                    res[mode] = sim[mode] = 0.0
                    continue
                got = got.reshape(gt.shape)
                if not np.array_equal(got[keys_idx], gt[keys_idx]):
                    print(f"FAIL {mode}: keyframe positions are not the keyframes")
                    fails += 1
            res[mode] = psnr(np.mean((got[mid].astype(float) - gt[mid].astype(float)) ** 2))
            if bench:
                sim[mode] = ssim(got[mid], gt[mid])
        name = f"{color} {shape} {motion} on {bg}"
        rows.append((name, motion, res, sim, secs))
        print(f"   {name:38s} " + " ".join(f"{res.get(m, 0):7.2f}" for m in modes), flush=True)
    have = [m for m in modes if all(m in r[2] for r in rows)]
    mean = {m: float(np.mean([r[2][m] for r in rows])) for m in have}
    print(f"   {'mean':38s} " + " ".join(f"{mean.get(m, 0):7.2f}" for m in modes))
    if {"repeat", "blend", "mc"} <= set(have):
        if not (mean["mc"] > mean["repeat"] and mean["mc"] > mean["blend"]):
            print("FAIL: motion compensation does not beat both baselines on average")
            fails += 1
        if mean["mc"] < mean["blend"] + MIN_GAIN:
            print(f"FAIL: motion compensation {mean['mc']:.2f} dB < blending {mean['blend']:.2f} + {MIN_GAIN} dB")
            fails += 1
        for name, motion, r, _, _ in rows:
            if motion == "bouncing" and not (r["mc"] > r["blend"] and r["mc"] > r["repeat"]):
                print(f"FAIL: {name}: motion compensation does not beat both baselines")
                fails += 1
    if bench:
        table = bench_table(rows, have, len(mid), reps)
        print(table)
        if md:
            with open(md, "w") as f:
                f.write(table)
    print("PASSED" if not fails else f"FAILED ({fails})")
    return 1 if fails else 0


def bench_table(rows, modes, nmid, reps):
    label = {"repeat": "repeat", "blend": "blend", "mc": "timeshard mc", "minterpolate": "minterpolate (mci)"}
    L = [f"PSNR (dB, RGB, over the {nmid} in-between frames) / SSIM (luma, 11x11 Gaussian) against the true "
         f"60 fps frames; {len(rows)} clips of 25 keyframes (12 fps) -> 121 frames.", "",
         "| clip | " + " | ".join(label[m] for m in modes) + " |", "|---|" + "---|" * len(modes)]
    for name, _, r, s, _ in rows:
        L.append(f"| {name} | " + " | ".join(f"{r[m]:.2f} / {s[m]:.4f}" for m in modes) + " |")
    L.append("| **mean** | " + " | ".join(f"**{np.mean([x[2][m] for x in rows]):.2f} / "
                                          f"{np.mean([x[3][m] for x in rows]):.4f}**" for m in modes) + " |")
    L.append("| wall time, all clips (s) | " + " | ".join(f"{sum(x[4][m] for x in rows):.2f}" for m in modes)
             + " |")
    L += ["", f"Wall time: the whole process per clip (interp_raw: read keyframes, interpolate, write raw "
          f"frames; ffmpeg: start, decode raw, filter, write raw), median of {reps} runs, summed over the "
          f"clips; one thread each (OMP_NUM_THREADS=1; ffmpeg -threads 1 -filter_threads 1).", ""]
    return "\n".join(L)


if __name__ == "__main__":
    sys.exit(main())
