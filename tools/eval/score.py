"""Score a generated video against its prompt (numpy only).

Library:
    frames = read_video("out.mp4")                    # (T, H, W, 3) uint8; .mp4 via ffmpeg, or .npy
    s = score_video(frames, "a red circle moving left on a blue background")
    s["color_ok"], s["shape_ok"], s["motion_ok"], s["bg_ok"], s["presence"], ...
CLI:
    python3 tools/eval/score.py out.mp4 --prompt "a red circle moving left on a blue background" [--json]

How it works, per frame (detect_frame):
  background  the palette background (shapes.BACKGROUNDS) nearest to most border pixels; its colour is
              re-estimated as the median of those pixels.
  object      the largest 8-connected blob of pixels far from the background colour; its colour is the
              median of the blob's core (the pixels farthest from the background), named by the nearest
              object colour (shapes.COLORS). Coverage alpha = projection of each pixel on the line from
              background to object colour, so anti-aliased edges count fractionally.
  shape       from the alpha mask: the vertical skewness of the mass (-0.57 for the triangle, whose apex
              points up so its mass sits low; 0 for circle and square) picks the triangle (< -0.25); then
              fill = area / (widest row x tallest column) (circle pi/4, axis-aligned square 1) splits
              circle from square at 0.89.
  track       centroid (x, y) and area per frame.
Per video (score_video): colour and shape are the majority over frames; the motion is classified from
the track over the first `window` frames (default 16, so walls met later in long videos do not matter):
  bouncing    median second difference of y is a gravity-like downward acceleration (the dataset's
              gravity is 250 px/s^2; threshold 90), or a fall that reverses into a rise near the bottom;
  growing / shrinking vs moving: whichever is stronger relative to the dataset's smallest rates,
              log-area slope (>= 0.7 /s) against centroid speed (>= 12 px/s);
  direction   the nearest of the 8 directions to the fitted centroid velocity.
  Diagnostics (not part of motion_ok): `motion_robust`, the same decision from the median per-frame
  step (forgives one sudden jump of the object), and `jumps`, the steps where the object leaps (more
  than 4 px and 3x the median step) or its area changes by more than 50%.
Persistence: fraction of frames with an object; among those, the fraction whose per-frame colour
(shape) equals the video's majority colour (shape).
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
from collections import Counter, deque

import numpy as np

try:
    from . import vocab as V
except ImportError:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import vocab as V
import physics as P  # noqa: E402  (tools/physics.py, on the path through vocab)

BG_RGB = np.array([V.BACKGROUNDS[n] for n in V.BG_NAMES], np.float32)    # (12, 3)
OBJ_RGB = np.array([V.COLORS[n] for n in V.COLOR_NAMES], np.float32)    # (8, 3)
DIR_NAMES = list(V.DIRECTIONS)
DIR_UNIT = np.array([np.array(V.DIRECTIONS[d], float) / np.hypot(*V.DIRECTIONS[d]) for d in DIR_NAMES])
# shape decision: a triangle (apex up) is bottom-heavy, y-skewness about -0.57 (-0.38 or below even
# when blurred or through H.264), circle and square about 0 (|skew| < 0.08); then the fill of the
# widest row x tallest column separates the circle (pi/4 = 0.785, up to 0.83 seen) from the square (1.0,
# down to 0.96 seen).
TRI_SKEW = -0.25
SQUARE_FILL = 0.89

# detection settings
MIN_OBJ_DIST = 40.0   # an object's core must be this far (RGB) from the background
MIN_AREA = 4.0        # px of coverage for an object to count as present
MIN_SHAPE_AREA = 10.0  # px of coverage to classify a shape
# motion settings, in the dataset's units (seconds)
GRAVITY_MIN = 90.0        # px/s^2 (dataset: P.GRAVITY, 250)
MOVE_REF = P.SPEED_MIN / 2  # px/s, half the dataset's slowest translation (12 / 2 = 6)
GROW_REF = P.RATE_MIN      # 1/s of log-area, half the dataset's slowest growth (2 x 0.35 / 2)


# ---- input -----------------------------------------------------------------------------------------

def read_video(path):
    """(T, H, W, 3) uint8 from a .npy (uint8 (T,H,W,3)), an HDF5 file with /frames (the engine's
    `--out FILE.h5`), or any video ffmpeg reads (decoded to rgb24)."""
    if path.endswith((".h5", ".hdf5")):
        import h5py
        with h5py.File(path, "r") as f:
            v = f["frames"][:]
        if v.dtype != np.uint8 or v.ndim != 4 or v.shape[-1] != 3:
            raise ValueError(f"{path}: expected /frames uint8 (T,H,W,3), got {v.dtype} {v.shape}")
        return v
    if path.endswith(".npy"):
        v = np.load(path)
        if v.dtype != np.uint8 or v.ndim != 4 or v.shape[-1] != 3:
            raise ValueError(f"{path}: expected uint8 (T,H,W,3), got {v.dtype} {v.shape}")
        return v
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=width,height", "-of", "csv=p=0:s=x", path],
                           capture_output=True, text=True)
    if probe.returncode != 0 or "x" not in probe.stdout:
        raise ValueError(f"{path}: ffprobe cannot read it: {probe.stderr.strip()[:200]}")
    w, h = (int(x) for x in probe.stdout.strip().splitlines()[0].split("x")[:2])
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    n = len(raw) // (w * h * 3)
    return np.frombuffer(raw[:n * w * h * 3], np.uint8).reshape(n, h, w, 3)


def write_png(path, rgb):
    """Write one (H, W, 3) uint8 image as PNG with the ffmpeg binary."""
    h, w = rgb.shape[:2]
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                    "-i", "-", "-frames:v", "1", path], input=np.ascontiguousarray(rgb, np.uint8).tobytes(),
                   check=True)


def write_mp4(path, frames, fps=12, crf=None):
    """Encode (T, H, W, 3) uint8 as H.264 yuv420p MP4 (as the engine does) with the ffmpeg binary."""
    T, h, w = frames.shape[:3]
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps),
           "-i", "-", "-c:v", "libx264", "-pix_fmt", "yuv420p"]
    if crf is not None:
        cmd += ["-crf", str(crf)]
    subprocess.run(cmd + [path], input=np.ascontiguousarray(frames, np.uint8).tobytes(), check=True)


# ---- prompt ----------------------------------------------------------------------------------------

def parse_prompt(text):
    """{'color', 'shape', 'motion', 'bg'} from a caption in the dataset's words; None where absent.
    'a red circle moving up left on a dark green background' ->
    {'color': 'red', 'shape': 'circle', 'motion': 'up left', 'bg': 'dark green'}"""
    words = re.sub(r"[^a-z ]", " ", text.lower()).split()
    out = {"color": None, "shape": None, "motion": None, "bg": None}
    si = next((i for i, w in enumerate(words) if w in V.SHAPES), None)
    on = next((i for i, w in enumerate(words) if w == "on" and (si is None or i > si)), None)
    if si is not None:
        out["shape"] = words[si]
        before = " ".join(words[:si])
        out["color"] = _last_name(before, V.COLOR_NAMES)
        after = words[si + 1:on] if on is not None else words[si + 1:]
        if after and after[0] == "moving":
            d = " ".join(after[1:3])
            out["motion"] = d if d in V.DIRECTIONS else (after[1] if len(after) > 1 and after[1] in V.DIRECTIONS else None)
        elif after and after[0] in V.MOTIONS:
            out["motion"] = after[0]
    if on is not None:
        rest = " ".join(words[on + 1:])
        rest = re.sub(r"\bbackground\b.*", "", rest)
        out["bg"] = _last_name(rest, V.BG_NAMES)
    return out


def _last_name(text, names):
    """The name (possibly two words) that ends `text` best: the longest match at the latest position."""
    best, pos = None, -1
    for n in names:
        for m in re.finditer(r"\b" + re.escape(n) + r"\b", text):
            if m.start() > pos or (m.start() == pos and len(n) > len(best)):
                best, pos = n, m.start()
    # "dark green" contains "green": prefer the longer name when both end at the same place
    for n in names:
        if best and n != best and n.endswith(" " + best) and re.search(r"\b" + re.escape(n) + r"\b", text):
            best = n
    return best


# ---- per-frame detection ---------------------------------------------------------------------------

def _largest_blob(mask):
    """Largest 8-connected component of a boolean (H, W) mask, as a boolean mask."""
    H, W = mask.shape
    lab = np.zeros(H * W, np.int32)
    flat = mask.ravel()
    best, best_n, cur = 0, 0, 0
    for start in np.flatnonzero(flat):
        if lab[start]:
            continue
        cur += 1
        lab[start] = cur
        q = deque([start])
        n = 0
        while q:
            p = q.popleft()
            n += 1
            y, x = divmod(int(p), W)
            for yy in (y - 1, y, y + 1):
                if 0 <= yy < H:
                    for xx in (x - 1, x, x + 1):
                        if 0 <= xx < W:
                            k = yy * W + xx
                            if flat[k] and not lab[k]:
                                lab[k] = cur
                                q.append(k)
        if n > best_n:
            best, best_n = cur, n
    return (lab == best).reshape(H, W) if best else np.zeros_like(mask)


def nearest(rgb, table, names):
    d = ((table - np.asarray(rgb, np.float32)) ** 2).sum(-1)
    return names[int(np.argmin(d))]


def shape_features(alpha):
    """(area, fill, y-skewness, cx, cy) of a coverage map (H, W) in [0, 1]."""
    A = float(alpha.sum())
    if A <= 0:
        return 0.0, float("nan"), float("nan"), float("nan"), float("nan")
    H, W = alpha.shape
    ys = np.arange(H) + 0.5
    xs = np.arange(W) + 0.5
    py = alpha.sum(1)  # mass per row
    px = alpha.sum(0)
    cy = float((py * ys).sum() / A)
    cx = float((px * xs).sum() / A)
    fill = A / max(float(py.max()) * float(px.max()), 1e-6)  # widest row x tallest column
    var = float((py * (ys - cy) ** 2).sum() / A)
    skew = float((py * (ys - cy) ** 3).sum() / A) / max(var, 1e-6) ** 1.5
    return A, fill, skew, cx, cy


def classify_shape(fill, skew):
    if skew < TRI_SKEW:
        return "triangle"
    return "square" if fill > SQUARE_FILL else "circle"


def detect_frame(img, keep_alpha=False):
    """Detect background, object colour, shape, centroid and area in one (H, W, 3) uint8 frame.
    keep_alpha: also return the object's coverage map (H, W) float32 as out["alpha"] (None if absent)."""
    f = img.astype(np.float32)
    H, W = f.shape[:2]
    border = np.concatenate([f[0], f[-1], f[1:-1, 0], f[1:-1, -1]])
    d_bg = ((border[:, None, :] - BG_RGB[None]) ** 2).sum(-1)
    idx = np.argmin(d_bg, 1)
    k = Counter(idx.tolist()).most_common(1)[0][0]
    bg_name = V.BG_NAMES[k]
    bg = np.median(border[idx == k], 0)
    out = {"bg": bg_name, "present": False, "color": None, "shape": None,
           "cx": float("nan"), "cy": float("nan"), "area": 0.0, "fill": float("nan"), "skew": float("nan")}
    if keep_alpha:
        out["alpha"] = None
    dist = np.sqrt(((f - bg) ** 2).sum(-1))
    dmax = float(dist.max())
    if dmax < MIN_OBJ_DIST:
        return out
    blob = _largest_blob(dist > max(0.4 * dmax, 0.5 * MIN_OBJ_DIST))
    db = dist[blob]
    core = blob & (dist >= 0.8 * float(db.max()))
    obj = np.median(f[core], 0)
    ob = obj - bg
    if float(np.sqrt((ob ** 2).sum())) < MIN_OBJ_DIST:
        return out
    # coverage: projection on the background -> object line, inside the blob's box grown by 2 px
    ys, xs = np.nonzero(blob)
    y0, y1 = max(ys.min() - 2, 0), min(ys.max() + 3, H)
    x0, x1 = max(xs.min() - 2, 0), min(xs.max() + 3, W)
    alpha = np.zeros((H, W), np.float32)
    a = ((f[y0:y1, x0:x1] - bg) @ ob) / float(ob @ ob)
    alpha[y0:y1, x0:x1] = np.where(a >= 0.2, np.clip(a, 0, 1), 0)
    A, fill, skew, cx, cy = shape_features(alpha)
    if A < MIN_AREA:
        return out
    out.update(present=True, color=nearest(obj, OBJ_RGB, V.COLOR_NAMES), cx=cx, cy=cy, area=A, fill=fill,
               skew=skew, rgb=[float(v) for v in obj])
    if keep_alpha:
        out["alpha"] = alpha
    if A >= MIN_SHAPE_AREA:
        out["shape"] = classify_shape(fill, skew)
    return out


# ---- motion ----------------------------------------------------------------------------------------

def classify_motion(cx, cy, area, fps=12.0):
    """Motion class from a track (arrays over frames, NaN where absent) and its evidence."""
    cx, cy, area = (np.asarray(a, float) for a in (cx, cy, area))
    ok = np.isfinite(cx) & np.isfinite(cy) & (area > 0)
    ev = {}
    if ok.sum() < 4:
        return None, {"reason": "object present in fewer than 4 frames"}
    t = np.flatnonzero(ok) / fps
    x, y, la = cx[ok], cy[ok], np.log(area[ok])
    vx, vy = np.polyfit(t, x, 1)[0], np.polyfit(t, y, 1)[0]
    g = np.polyfit(t, la, 1)[0]
    # acceleration from second differences of consecutive present frames
    idx = np.flatnonzero(ok)
    trip = [(i, j, k) for i, j, k in zip(idx, idx[1:], idx[2:]) if j == i + 1 and k == j + 1]
    d2 = np.array([cy[k] - 2 * cy[j] + cy[i] for i, j, k in trip]) * fps * fps if trip else np.zeros(0)
    acc = float(np.median(d2)) if len(d2) else 0.0
    # a fall that turns into a rise near the lowest point (a bounce off the floor)
    vel = np.diff(y) * fps / np.maximum(np.diff(t) * fps, 1)
    bounce = False
    if len(vel) >= 2:
        k = int(np.argmax(y))
        fall = vel[:k].max() if k > 0 else 0.0
        rise = -vel[k:].min() if k < len(vel) else 0.0
        bounce = 0 < k < len(y) - 1 and fall > 20 and rise > 20
    # per-step velocities between consecutive present frames: their median ignores a sudden jump
    pair = [(i, j) for i, j in zip(idx, idx[1:]) if j == i + 1]
    sx = np.array([cx[j] - cx[i] for i, j in pair]) * fps
    sy = np.array([cy[j] - cy[i] for i, j in pair]) * fps
    sg = np.array([np.log(area[j] / area[i]) for i, j in pair]) * fps
    step = np.hypot(sx, sy) / fps
    jumps = int(np.sum((step > np.maximum(4.0, 3 * np.median(step))) | (np.abs(sg / fps) > 0.4))) if pair else 0
    ev.update(vx=float(vx), vy=float(vy), speed=float(np.hypot(vx, vy)), log_area_slope=float(g),
              accel_y=acc, bounce=bool(bounce), jumps=jumps)
    label, why = _decide(vx, vy, g, acc, bounce)
    if why:
        ev["reason"] = why
    if pair:
        ev["robust"] = _decide(float(np.median(sx)), float(np.median(sy)), float(np.median(sg)), acc, bounce)[0]
    return label, ev


def _decide(vx, vy, g, acc, bounce):
    if acc > GRAVITY_MIN or (bounce and acc > 0.3 * GRAVITY_MIN):
        return "bouncing", None
    speed = float(np.hypot(vx, vy))
    move, grow = speed / MOVE_REF, abs(g) / GROW_REF
    if max(move, grow) < 1:
        return None, "no clear motion"
    if grow > move:
        return ("growing" if g > 0 else "shrinking"), None
    u = np.array([vx, vy]) / speed
    return DIR_NAMES[int(np.argmax(DIR_UNIT @ u))], None


# ---- per video -------------------------------------------------------------------------------------

def detect_video(frames):
    return [detect_frame(fr) for fr in frames]


def _majority(vals):
    vals = [v for v in vals if v is not None]
    return Counter(vals).most_common(1)[0][0] if vals else None


def score_video(frames, prompt, fps=12.0, window=16, dets=None):
    """Scores of one video against its prompt. frames: (T, H, W, 3) uint8."""
    want = parse_prompt(prompt) if isinstance(prompt, str) else dict(prompt)
    dets = dets if dets is not None else detect_video(frames)
    T = len(dets)
    pres = np.array([d["present"] for d in dets])
    colors = [d["color"] for d in dets]
    shapes = [d["shape"] for d in dets]
    got = {"color": _majority(colors), "shape": _majority(shapes), "bg": _majority([d["bg"] for d in dets])}
    w = min(window, T)
    tr = {k: np.array([d[k] for d in dets]) for k in ("cx", "cy", "area")}
    got["motion"], mev = classify_motion(tr["cx"][:w], tr["cy"][:w], tr["area"][:w], fps)
    npres = int(pres.sum())
    s = {"prompt": prompt if isinstance(prompt, str) else None, "frames": T, "want": want, "got": got,
         "presence": npres / max(T, 1),
         "color_persistence": sum(c == got["color"] for c in colors if c) / max(npres, 1),
         "shape_persistence": sum(c == got["shape"] for c in shapes if c) / max(sum(1 for c in shapes if c), 1),
         "motion_evidence": mev,
         "track": {k: [None if not np.isfinite(v) else round(float(v), 3) for v in tr[k]] for k in tr}}
    for k in ("color", "shape", "motion", "bg"):
        s[k + "_ok"] = None if want.get(k) is None else bool(got[k] == want[k])
    # diagnostics: the motion from median per-frame steps (forgives a sudden jump), and the jumps
    s["motion_robust"] = mev.get("robust")
    s["motion_robust_ok"] = None if want.get("motion") is None else bool(mev.get("robust") == want["motion"])
    s["jumps"] = mev.get("jumps", 0)
    return s


def partition(T, P):
    """(start, count) of each rank's frames: contiguous, sizes differ by at most one, the first T % P
    ranks own one more (as src/parallel's partition)."""
    base, extra = divmod(T, P)
    out, s = [], 0
    for r in range(P):
        n = base + (1 if r < extra else 0)
        out.append((s, n))
        s += n
    return out


def boundary_metrics(frames, ranks):
    """Mean absolute frame-to-frame change (0-255 levels) across rank boundaries vs inside chunks."""
    f = frames.astype(np.float32)
    diff = np.abs(f[1:] - f[:-1]).mean(axis=(1, 2, 3))  # diff[k-1]: change from frame k-1 to k
    starts = [s for s, n in partition(len(frames), ranks)[1:] if n > 0]
    bset = set(starts)
    b = np.array([diff[k - 1] for k in starts]) if starts else np.zeros(0)
    inside = np.array([diff[k - 1] for k in range(1, len(frames)) if k not in bset])
    local = []  # each boundary against the median of the 3 changes on each side
    for k in starts:
        nb = [diff[j - 1] for j in range(k - 3, k + 4) if j != k and 1 <= j < len(frames)]
        local.append(float(diff[k - 1] / max(np.median(nb), 1e-6)))
    bm = float(b.mean()) if len(b) else float("nan")
    im = float(inside.mean()) if len(inside) else float("nan")
    return {"ranks": ranks, "boundaries": starts, "boundary_mean": bm, "inside_mean": im,
            "inside_p95": float(np.percentile(inside, 95)) if len(inside) else float("nan"),
            "ratio": bm / im if im > 0 else float("nan"), "boundary_vs_local": local,
            "boundary_changes": [float(x) for x in b]}


def persistence_windows(dets, want, window=32):
    """Per time window: presence, and among present frames the fraction with the prompt's colour / shape."""
    rows = []
    for s in range(0, len(dets), window):
        w = dets[s:s + window]
        p = [d for d in w if d["present"]]
        rows.append({"start": s, "frames": len(w), "presence": len(p) / len(w),
                     "color": sum(d["color"] == want.get("color") for d in p) / max(len(p), 1),
                     "shape": sum(d["shape"] == want.get("shape") for d in p if d["shape"]) /
                     max(sum(1 for d in p if d["shape"]), 1)})
    return rows


def psnr(a, b):
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("video", help=".mp4 (or anything ffmpeg reads), .h5 with /frames, or .npy uint8 (T,H,W,3)")
    ap.add_argument("--prompt", required=True)
    ap.add_argument("--fps", type=float, default=12.0, help="frame rate the motion is measured at (default 12)")
    ap.add_argument("--window", type=int, default=16, help="frames used to classify the motion (default 16)")
    ap.add_argument("--ranks", type=int, default=0, help="also report rank-boundary change for this many ranks")
    ap.add_argument("--json", action="store_true", help="print the full result as JSON")
    a = ap.parse_args(argv)
    frames = read_video(a.video)
    s = score_video(frames, a.prompt, a.fps, a.window)
    if a.ranks > 1:
        s["boundary"] = boundary_metrics(frames, a.ranks)
    if a.json:
        print(json.dumps(s, indent=1))
    else:
        for k in ("color", "shape", "motion", "bg"):
            ok = s[k + "_ok"]
            print(f"{k:8s} want {str(s['want'][k]):12s} got {str(s['got'][k]):12s} "
                  f"{'-' if ok is None else 'OK' if ok else 'WRONG'}")
        print(f"presence {s['presence']:.3f}  colour persistence {s['color_persistence']:.3f}  "
              f"shape persistence {s['shape_persistence']:.3f}  ({s['frames']} frames)")
        if "boundary" in s:
            b = s["boundary"]
            print(f"rank boundaries {b['boundaries']}: mean change {b['boundary_mean']:.2f} vs inside "
                  f"{b['inside_mean']:.2f} (ratio {b['ratio']:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
