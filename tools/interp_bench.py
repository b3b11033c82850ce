"""The wider interpolation benchmark: 12 -> 60 fps on clips of 4 sizes and 11 classes.

Ground truth at 60 fps, every 5th frame kept as the 12 fps keyframes, the
in-between frames compared (PSNR, RGB) for frame repetition, linear blending,
timeshard's interpolator (interp_raw, motion compensated) and FFmpeg's
minterpolate (mi_mode=mci, mc_mode=aobmc, me_mode=bidir). Wall time: the whole
process per clip, one thread each (OMP_NUM_THREADS=1; ffmpeg -threads 1
-filter_threads 1), summed.

Classes (each at 64, 96, 128 and 256 px square, 1 s = 61 frames, 13 keyframes):
  slow      a shape drifting 0.3-3 px per keyframe interval
  fast      a shape moving 6-14 px per keyframe interval (scaled with the size)
  growth    a shape growing or shrinking (tests/interp/quality.py's motion)
  bounce    a shape bouncing under gravity (quality.py's motion)
  textured  a shape moving over a smoothed-noise background
  gradient  a shape moving over a two-colour gradient background
  pan       a camera pan over a textured scene, 1-4 px per keyframe interval
  testsrc2, mandelbrot, life, cellauto   FFmpeg's sources rendered at 60 fps

usage: python3 tools/interp_bench.py build/tests/interp/interp_raw WORKDIR [--md FILE]
       [--sizes 64,96,128,256] [--classes slow,fast,...] [--check] [--floor DB]
Needs numpy and ffmpeg. Prints the per-class table and the goals' verdicts.
  --check      exit 1 unless the quality goals hold: above minterpolate on the mean and on
               every class, never more than 0.3 dB below blending on a class (the times are
               printed, not checked: they follow the machine's load)
  --floor DB   the CI floor (ctest interp.wide): no minterpolate, the FFmpeg classes only where
               an ffmpeg is found; exit 1 if a class is more than 0.3 dB below blending or the
               mean gain over blending is under DB
"""
import shutil
import math
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "interp"))
import quality as q  # noqa: E402  render, track, psnr, run_timed, MINTERP

FPS, STEP, FRAMES = 60, 5, 61
CLASSES = ["slow", "fast", "growth", "bounce", "textured", "gradient", "pan", "testsrc2", "mandelbrot", "life",
           "cellauto"]
SIZES = [64, 96, 128, 256]
SHAPES = ["circle", "square", "triangle"]


def smooth_noise(rng, h, w, scale):
    """A smoothed random texture (h, w, 3) in 0..255: bilinear upsampling of coarse noise."""
    gh, gw = max(2, h // scale + 2), max(2, w // scale + 2)
    g = rng.rand(gh, gw, 3) * 200 + 28
    ys, xs = np.linspace(0, gh - 1.001, h), np.linspace(0, gw - 1.001, w)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    a, b = g[y0][:, x0], g[y0][:, x0 + 1]
    c, d = g[y0 + 1][:, x0], g[y0 + 1][:, x0 + 1]
    return (a * (1 - fy) * (1 - fx) + b * (1 - fy) * fx + c * fy * (1 - fx) + d * fy * fx)


def shape_over(bg, shape, color, cx, cy, r):
    """A shape over a per-frame background bg (h, w, 3) float: frames (T, h, w, 3) uint8."""
    h, w = bg.shape[:2]
    yy, xx = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
    out = []
    for k in range(len(cx)):
        dx, dy = xx - cx[k], yy - cy[k]
        if shape == "circle":
            sd = np.sqrt(dx * dx + dy * dy) - r[k]
        elif shape == "square":
            sd = np.maximum(np.abs(dx), np.abs(dy)) - r[k] * 0.85
        else:
            s30, c30, rt = 0.5, math.sqrt(3) / 2, r[k] * 1.15
            sd = np.maximum(np.maximum(dy - rt / 2, -c30 * dx - s30 * dy - rt / 2), c30 * dx - s30 * dy - rt / 2)
        cov = np.clip(0.5 - sd, 0, 1)[..., None]
        out.append(np.clip(np.rint(bg + (np.array(color, float) - bg) * cov), 0, 255).astype(np.uint8))
    return np.stack(out)


def linear_track(rng, size, px_per_key):
    """Centre and radius per frame for a straight move of px_per_key pixels per keyframe interval."""
    ang = rng.rand() * 2 * math.pi
    v = px_per_key / STEP  # px per 60 fps frame
    rad = size * (0.08 + 0.06 * rng.rand())
    t = np.arange(FRAMES)
    span = v * (FRAMES - 1)
    cx0 = size / 2 - math.cos(ang) * span / 2
    cy0 = size / 2 - math.sin(ang) * span / 2
    cx = q.fold(cx0 + math.cos(ang) * v * t, rad, size - rad)
    cy = q.fold(cy0 + math.sin(ang) * v * t, rad, size - rad)
    return cx, cy, np.full(FRAMES, rad)


def ffmpeg_source(name, size):
    src = {"testsrc2": f"testsrc2=s={size}x{size}:r={FPS}",
           "mandelbrot": f"mandelbrot=s={size}x{size}:r={FPS}",
           "life": f"life=s={size}x{size}:r={FPS}:mold=10:ratio=0.2:seed=7:life_color=#ffd040:death_color=#402080",
           "cellauto": f"cellauto=s={size}x{size}:r={FPS}:rule=110:seed=5"}[name]
    raw = subprocess.check_output(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", src, "-frames:v", str(FRAMES),
                                   "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
    return np.frombuffer(raw, np.uint8).reshape(FRAMES, size, size, 3)


def make_clip(cls, size, seed):
    rng = np.random.RandomState(seed)
    color = tuple(int(c) for c in q.COLORS[list(q.COLORS)[seed % len(q.COLORS)]])
    shape = SHAPES[seed % 3]
    plain = np.array(q.BGS[list(q.BGS)[seed % len(q.BGS)]], float)[None, None] * np.ones((size, size, 1))
    if cls in ("slow", "fast", "textured", "gradient"):
        ppk = 0.3 + 2.7 * rng.rand() if cls == "slow" else (6 + 8 * rng.rand()) * size / 64
        cx, cy, r = linear_track(rng, size, ppk)
        if cls == "textured":
            bg = smooth_noise(rng, size, size, max(3, size // 16))
        elif cls == "gradient":
            ramp = np.linspace(0, 1, size)[None, :, None]
            bg = np.array([20, 40, 120], float) * (1 - ramp) + np.array([230, 180, 60], float) * ramp
            bg = bg * np.ones((size, 1, 1))
        else:
            bg = plain
        return shape_over(bg, shape, color, cx, cy, r)
    if cls in ("growth", "bounce"):
        q.SIZE = size  # quality.py's motions read its SIZE
        motion = ("growing" if seed % 2 else "shrinking") if cls == "growth" else "bouncing"
        cx, cy, r = q.track(motion, FRAMES, rng)
        if cls == "growth":
            s = size / 64
            cx, cy, r = cx * s, cy * s, r * s
        return shape_over(plain, shape, color, cx, cy, r)
    if cls == "pan":
        ppk = 1 + 3 * rng.rand()
        v = ppk / STEP
        ang = rng.rand() * 2 * math.pi
        big = size + int(math.ceil(v * FRAMES)) + 8
        scene = smooth_noise(rng, big, big, max(3, size // 12))
        yy, xx = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
        out = []
        ox0 = 4 + (big - size - 8) * (0 if math.cos(ang) >= 0 else 1)
        oy0 = 4 + (big - size - 8) * (0 if math.sin(ang) >= 0 else 1)
        for k in range(FRAMES):  # bilinear sampling at a sub-pixel offset
            ox, oy = ox0 + math.cos(ang) * v * k, oy0 + math.sin(ang) * v * k
            x0, y0 = int(math.floor(ox)), int(math.floor(oy))
            fx, fy = ox - x0, oy - y0
            a = scene[y0 + yy, x0 + xx]
            b = scene[y0 + yy, x0 + 1 + xx]
            c = scene[y0 + 1 + yy, x0 + xx]
            d = scene[y0 + 1 + yy, x0 + 1 + xx]
            f = a * (1 - fy) * (1 - fx) + b * (1 - fy) * fx + c * fy * (1 - fx) + d * fy * fx
            out.append(np.clip(np.rint(f), 0, 255).astype(np.uint8))
        return np.stack(out)
    return ffmpeg_source(cls, size)


def minterpolate(keys, size):
    feed = np.concatenate([keys, keys[-1:]])
    cmd = ["ffmpeg", "-v", "error", "-threads", "1", "-filter_threads", "1", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{size}x{size}", "-r", str(FPS // STEP), "-i", "-", "-vf",
           "format=yuv444p," + q.MINTERP.format(fps=FPS), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    out, dt = q.run_timed(cmd, 1, stdin=feed.tobytes())
    got = np.frombuffer(out, np.uint8).reshape(-1, size, size, 3)
    want = (len(keys) - 1) * STEP + 1
    if len(got) < want:
        raise RuntimeError(f"minterpolate gave {len(got)} frames, expected >= {want}")
    return got[:want], dt


def main():
    args = sys.argv[1:]
    exe, work = args[0], args[1]
    md = args[args.index("--md") + 1] if "--md" in args else None
    sizes = [int(s) for s in args[args.index("--sizes") + 1].split(",")] if "--sizes" in args else SIZES
    classes = args[args.index("--classes") + 1].split(",") if "--classes" in args else CLASSES
    floor = float(args[args.index("--floor") + 1]) if "--floor" in args else None
    if floor is not None and not shutil.which("ffmpeg"):
        classes = [c for c in classes if c not in ("testsrc2", "mandelbrot", "life", "cellauto")]
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    keys_idx = np.arange(0, FRAMES, STEP)
    mid = np.setdiff1d(np.arange(FRAMES), keys_idx)
    modes = ["repeat", "blend", "mc"] + ([] if floor is not None else ["minterpolate"])
    res = {c: {m: [] for m in modes} for c in classes}
    secs = {m: 0.0 for m in modes}
    for ci, cls in enumerate(classes):
        for si, size in enumerate(sizes):
            seed = 100 * ci + si + 1
            gt = make_clip(cls, size, seed)
            kin = os.path.join(work, f"{cls}{size}.rgb")
            gt[keys_idx].tofile(kin)
            row = []
            for m in modes:
                if m == "minterpolate":
                    got, dt = minterpolate(gt[keys_idx], size)
                else:
                    out = os.path.join(work, f"{cls}{size}_{m}.rgb")
                    _, dt = q.run_timed([exe, str(size), str(size), str(FPS // STEP), str(FPS), kin, out, m], 1,
                                        env=env, stdout=subprocess.DEVNULL)
                    got = np.fromfile(out, np.uint8).reshape(gt.shape)
                secs[m] += dt
                p = q.psnr(np.mean((got[mid].astype(float) - gt[mid].astype(float)) ** 2))
                res[cls][m].append(p)
                row.append(p)
            print(f"  {cls:10s} {size:4d}  " + "  ".join(f"{m[:6]} {p:6.2f}" for m, p in zip(modes, row)),
                  flush=True)
    if floor is not None:
        return check_floor(res, classes, floor)
    table, fails = report(res, classes, sizes, modes, secs, len(mid))
    print(table)
    if md:
        with open(md, "w") as f:
            f.write(table)
    if "--check" in args:
        print("PASSED" if not fails else "FAILED: " + "; ".join(fails))
        return 1 if fails else 0
    return 0


def check_floor(res, classes, floor):
    cm = {c: {m: float(np.mean(res[c][m])) for m in ("blend", "mc")} for c in classes}
    fails = [f"{c}: {cm[c]['mc']:.2f} dB, more than 0.3 dB below blending ({cm[c]['blend']:.2f})"
             for c in classes if cm[c]["mc"] < cm[c]["blend"] - 0.3]
    gain = float(np.mean([cm[c]["mc"] - cm[c]["blend"] for c in classes]))
    print(f"{len(classes)} classes: mean gain over blending {gain:+.2f} dB (floor {floor:+.2f}); least "
          + min((f"{cm[c]['mc'] - cm[c]['blend']:+.2f} ({c})" for c in classes), key=lambda t: float(t.split()[0])))
    if gain < floor:
        fails.append(f"mean gain over blending {gain:.2f} dB < {floor:.2f}")
    print("PASSED" if not fails else "FAILED: " + "; ".join(fails))
    return 1 if fails else 0


def report(res, classes, sizes, modes, secs, nmid):
    label = {"repeat": "repeat", "blend": "blend", "mc": "timeshard", "minterpolate": "minterpolate (mci, aobmc, bidir)"}
    n = len(classes) * len(sizes)
    L = [f"12 -> 60 fps, {n} clips ({len(classes)} classes x sizes {', '.join(map(str, sizes))} px), "
         f"{FRAMES} frames each; PSNR (dB, RGB) over the {nmid} in-between frames, mean over the sizes.", "",
         "| class | " + " | ".join(label[m] for m in modes) + " | timeshard - minterpolate | timeshard - blend |",
         "|---|" + "---|" * (len(modes) + 2)]
    cm = {c: {m: float(np.mean(res[c][m])) for m in modes} for c in classes}
    for c in classes:
        best = max(cm[c][m] for m in modes)
        cells = [(f"**{cm[c][m]:.2f}**" if cm[c][m] == best else f"{cm[c][m]:.2f}") for m in modes]
        L.append(f"| {c} | " + " | ".join(cells) + f" | {cm[c]['mc'] - cm[c]['minterpolate']:+.2f} | "
                 f"{cm[c]['mc'] - cm[c]['blend']:+.2f} |")
    mean = {m: float(np.mean([cm[c][m] for c in classes])) for m in modes}
    L.append("| **mean** | " + " | ".join(f"{mean[m]:.2f}" for m in modes) +
             f" | {mean['mc'] - mean['minterpolate']:+.2f} | {mean['mc'] - mean['blend']:+.2f} |")
    L.append("| wall time, all clips, 1 thread (s) | " + " | ".join(f"{secs[m]:.1f}" for m in modes) + " | | |")
    beat_mi = [c for c in classes if cm[c]["mc"] <= cm[c]["minterpolate"]]
    below_bl = [c for c in classes if cm[c]["mc"] < cm[c]["blend"] - 0.3]
    L += ["", "Goals:",
          f"- better than minterpolate on the mean: {'yes' if mean['mc'] > mean['minterpolate'] else 'NO'} "
          f"({mean['mc'] - mean['minterpolate']:+.2f} dB); on every class: "
          f"{'yes' if not beat_mi else 'NO (' + ', '.join(beat_mi) + ')'}",
          f"- never more than 0.3 dB below blending on a class: "
          f"{'yes' if not below_bl else 'NO (' + ', '.join(below_bl) + ')'}",
          f"- faster than minterpolate on one thread: {'yes' if secs['mc'] < secs['minterpolate'] else 'NO'} "
          f"({secs['mc']:.1f} s against {secs['minterpolate']:.1f} s)", ""]
    fails = ([] if mean["mc"] > mean["minterpolate"] else ["mean not above minterpolate"]) + \
        [f"{c} not above minterpolate" for c in beat_mi] + [f"{c} more than 0.3 dB below blending" for c in below_bl]
    return "\n".join(L), fails


if __name__ == "__main__":
    sys.exit(main())
