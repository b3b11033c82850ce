"""Measure an object's motion in a video and compare it with commanded controls (issue 19), numpy only.

Library:
    frames = score.read_video("out.h5")                 # (T, H, W, 3) uint8
    tr = measure(frames)                                # per-frame centroid, area, extents (NaN: absent)
    fit_velocity(tr), fit_growth(tr, fps), fit_bounce(tr, fps), physics_consistency(tr)
    m = compare(tr, fps, path=..., motion=..., gravity=..., bounce=..., growth=...)   # metrics + pass/fail
CLI:
    python3 tools/eval/motion.py out.h5 [--path "0:10,20 23:50,40"] [--motion 1,0] [--gravity 250]
                                        [--bounce 0.8] [--growth 0.5] [--fps 12] [--json]

Per frame (measure): the object is segmented from the background as score.detect_frame does (palette
background from the border, largest blob far from it, coverage = projection on the background-to-object
colour line, so soft or blurred edges count fractionally): centroid, area, and the extents (top, bottom,
left, right) where the row / column maximum of the coverage crosses 0.5 (sub-pixel; a symmetric blur
leaves them in place).
Fits (px, frames, seconds; origin top-left, y down):
  velocity   least-squares line through the centroids: (DX, DY) px per frame, speed and direction.
  path       RMS distance between the centroid and the commanded centre (physics.path_point) per frame.
  growth     size = sqrt(area); R = slope of log(size) against seconds.
  bounce     contacts are the frames where the vertical track turns from falling to rising; the frames
             between contacts (contact frames left out; arcs of 3 frames or more; a still run at the end
             is rest, with the frames within 1.5 px of it before: the last tiny hops) are parabolas
             sharing one acceleration, fitted jointly (each arc its own offset and slope): gravity = 2 x
             the shared coefficient. At each
             contact the two arcs meet at a time t_c; restitution = sum |v after| / sum |v before| at t_c
             over the contacts whose fall is faster than BOUNCE_V_MIN (small late hops are noise).
  physics    the floor is the frame's bottom edge. The object's true bottom is its bottom extent, or, when
             it touches the edge (clipped), its top plus its height in the frames where it is whole.
             sinking: frames whose bottom is more than 1 px below the floor; resting in the air: frames
             still (centroid y within 0.5 px over the 5 frames around) with the bottom more than 1.5 px
             above the floor. (An arc's apex at the weakest gravity the dataset draws, 60 px/s^2, moves
             0.8 px over 5 frames at 12 fps, so it is not mistaken for rest.) Diagnostic: the fraction
             of measured bounces that turn in mid-air (where the arcs meet, the bottom is more than 3 px
             above the floor).
"""
import argparse
import json
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import score  # noqa: E402
import physics as P  # noqa: E402  (tools/physics.py, on the path through score)

# goals (issue 19), at 64x64
GOALS = {"path_rms_px": 3.0, "direction_deg": 20.0, "speed_rel": 0.25, "gravity_rel": 0.25, "bounce_abs": 0.15,
         "growth_rel": 0.30}
BOUNCE_V_MIN = 20.0   # px/s: contacts with a slower fall do not count for restitution
SINK_PX = 1.0
AIR_PX = 1.5
STILL_PX = 0.5
AIR_BOUNCE_PX = 3.0  # a bounce turning this far above the floor is a turn in mid-air


# ---- per-frame measurement ---------------------------------------------------------------------------

def _edge(profile, reverse=False):
    """Sub-pixel position (px, from the start of the axis) where a coverage profile last stays >= 0.5,
    scanning from the far side: the bottom (right) edge, or with reverse=True the top (left) edge."""
    p = profile[::-1] if reverse else profile
    idx = np.flatnonzero(p >= 0.5)
    if len(idx) == 0:
        return float("nan")
    k = int(idx[-1])
    nxt = float(p[k + 1]) if k + 1 < len(p) else 0.0
    # linear between pixel centres k + 0.5 (>= 0.5) and k + 1.5 (< 0.5)
    e = k + 0.5 + (float(p[k]) - 0.5) / max(float(p[k]) - nxt, 1e-6)
    return len(p) - e if reverse else e


def measure(frames):
    """Per-frame track of the object: dict of float arrays (T,) cx, cy, area, top, bottom, left, right
    (NaN where no object), and H, W."""
    T, H, W = frames.shape[:3]
    keys = ("cx", "cy", "area", "top", "bottom", "left", "right")
    tr = {k: np.full(T, np.nan) for k in keys}
    for i, fr in enumerate(frames):
        d = score.detect_frame(fr, keep_alpha=True)
        if not d["present"]:
            continue
        a = d["alpha"]
        rows, cols = a.max(1), a.max(0)
        tr["cx"][i], tr["cy"][i], tr["area"][i] = d["cx"], d["cy"], d["area"]
        tr["top"][i], tr["bottom"][i] = _edge(rows, reverse=True), _edge(rows)
        tr["left"][i], tr["right"][i] = _edge(cols, reverse=True), _edge(cols)
    tr["H"], tr["W"] = H, W
    return tr


def from_tracks(cx, cy, r, shapes, size=64):
    """An exact track (as measure returns) from physics tracks (arrays (T,)) and the shape: for the
    estimators' tests without rendering."""
    cx, cy, r = (np.asarray(a, float) for a in (cx, cy, r))
    hw, up, down = np.array([P.extent(shapes, v) for v in r]).T
    area = {"circle": math.pi * r * r, "square": (2 * P.SQUARE_HALF * r) ** 2,
            "triangle": 3 * math.sqrt(3) * (r * P.TRI_SCALE / 2) ** 2}[shapes]
    return {"cx": cx, "cy": cy, "area": area, "top": cy - up, "bottom": cy + down, "left": cx - hw,
            "right": cx + hw, "H": size, "W": size}


def _present(tr):
    return np.isfinite(tr["cx"]) & np.isfinite(tr["cy"])


# ---- fits --------------------------------------------------------------------------------------------

def fit_velocity(tr, frames=None):
    """(DX, DY) px per frame, speed (px/frame) and direction (degrees, image axes: 0 = right, 90 = down)
    of the least-squares line through the centroids (of the frames in `frames`, default all)."""
    ok = _present(tr)
    if frames is not None:
        sel = np.zeros_like(ok)
        sel[list(frames)] = True
        ok &= sel
    f = np.flatnonzero(ok)
    if len(f) < 3:
        return None
    dx = float(np.polyfit(f, tr["cx"][ok], 1)[0])
    dy = float(np.polyfit(f, tr["cy"][ok], 1)[0])
    return {"dx": dx, "dy": dy, "speed": math.hypot(dx, dy), "angle": math.degrees(math.atan2(dy, dx))}


def path_error(tr, path, f0=0):
    """RMS and max distance (px) between the centroid and the path's centre over the present frames."""
    ok = _present(tr)
    if ok.sum() == 0:
        return None
    keys = [tuple(map(float, k)) for k in path]
    d = [math.hypot(tr["cx"][i] - x, tr["cy"][i] - y)
         for i in np.flatnonzero(ok) for x, y in [P.path_point(keys, f0 + i)]]
    return {"rms": float(np.sqrt(np.mean(np.square(d)))), "max": float(np.max(d)), "frames": int(ok.sum())}


def fit_growth(tr, fps):
    """R (per second) of size = sqrt(area) = s0 exp(R t), least squares on log size; and the size curve."""
    ok = _present(tr) & (np.nan_to_num(tr["area"]) > 0)
    if ok.sum() < 3:
        return None
    t = np.flatnonzero(ok) / fps
    ls = 0.5 * np.log(tr["area"][ok])
    R, c = np.polyfit(t, ls, 1)
    resid = ls - (R * t + c)
    return {"rate": float(R), "size0": float(math.exp(c)), "resid_rms": float(np.sqrt(np.mean(resid ** 2))),
            "size": [None if not np.isfinite(a) else round(math.sqrt(a), 3) for a in tr["area"]]}


def contacts(y):
    """Frames where y (down) turns from increasing to decreasing: the frame nearest each bounce."""
    out = []
    for k in range(1, len(y) - 1):
        if np.isfinite(y[k - 1:k + 2]).all() and y[k] > y[k - 1] and y[k] > y[k + 1] and \
                (y[k] - y[k - 1]) + (y[k] - y[k + 1]) > 0.2:
            out.append(k)
    return out


def fit_bounce(tr, fps):
    """Gravity (px/s^2) from parabolic arcs between bounces sharing one acceleration, restitution from the
    arcs' vertical speeds where they meet. None when there are not enough frames in flight."""
    y = np.asarray(tr["cy"], float)
    T = len(y)
    # a still run at the end (steps under 0.1 px) is rest, not flight
    s = T - 1
    while s >= 1 and np.isfinite(y[s - 1:s + 1]).all() and abs(y[s] - y[s - 1]) < 0.1:
        s -= 1
    end = T
    if T - s >= 3:
        rest_y = float(np.median(y[s:]))
        while s >= 1 and np.isfinite(y[s - 1]) and abs(y[s - 1] - rest_y) < 1.5:  # the last tiny hops
            s -= 1
        end = s
    cs = [k for k in contacts(y) if k < end - 1]
    bounds = [-1] + cs + [end]
    segs = []
    for a, b in zip(bounds, bounds[1:]):
        f = np.array([k for k in range(a + 1, b) if np.isfinite(y[k])])
        if len(f) >= 3:  # shorter arcs straddle contacts or rest: left out
            segs.append(f)
    nseg = len(segs)
    if nseg == 0:
        return None
    # y = a_i + b_i (t - m_i) + c (t - m_i)^2, t in seconds, m_i the arc's mean time
    rows, rhs, mids = [], [], []
    for i, f in enumerate(segs):
        t = f / fps
        m = float(t.mean())
        mids.append(m)
        for tk, yk in zip(t, y[f]):
            row = np.zeros(2 * nseg + 1)
            row[2 * i], row[2 * i + 1], row[-1] = 1.0, tk - m, (tk - m) ** 2
            rows.append(row)
            rhs.append(yk)
    A, bvec = np.array(rows), np.array(rhs)
    sol, *_ = np.linalg.lstsq(A, bvec, rcond=None)
    c = float(sol[-1])
    out = {"gravity": 2 * c, "arcs": nseg, "contacts": cs, "rest_from": int(end) if end < T else None,
           "resid_rms": float(np.sqrt(np.mean((A @ sol - bvec) ** 2)))}
    # restitution at each contact between consecutive arcs
    vb, va, per = [], [], []
    for i in range(nseg - 1):
        f1, f2 = segs[i], segs[i + 1]
        if f2[0] - f1[-1] > 3:  # not consecutive arcs around one contact
            continue
        a1, b1, m1 = sol[2 * i], sol[2 * i + 1], mids[i]
        a2, b2, m2 = sol[2 * i + 2], sol[2 * i + 3], mids[i + 1]
        # p1(t) = p2(t): the t^2 terms cancel (shared c), linear in t
        k1 = b1 - 2 * c * m1 - (b2 - 2 * c * m2)
        k0 = (a1 - b1 * m1 + c * m1 * m1) - (a2 - b2 * m2 + c * m2 * m2)
        if abs(k1) < 1e-9:
            continue
        tc = -k0 / k1
        if not (f1[-1] / fps - 0.5 / fps <= tc <= f2[0] / fps + 0.5 / fps):
            tc = (f1[-1] + f2[0]) / 2 / fps
        v1 = b1 + 2 * c * (tc - m1)
        v2 = b2 + 2 * c * (tc - m2)
        if v1 <= 0 or v2 >= 0:
            continue
        per.append({"t": float(tc), "v_before": float(v1), "v_after": float(v2), "e": float(-v2 / v1),
                    "floor_y": float(a1 + b1 * (tc - m1) + c * (tc - m1) ** 2)})
        if v1 >= BOUNCE_V_MIN:
            vb.append(v1)
            va.append(-v2)
    out["bounces"] = per
    out["restitution"] = float(sum(va) / sum(vb)) if vb else None
    return out


def physics_consistency(tr):
    """Fractions of the present frames where the object sinks more than 1 px below the floor (the frame's
    bottom edge), and where it rests in the air (still, its bottom more than 1.5 px above the floor)."""
    H = tr["H"]
    ok = _present(tr) & np.isfinite(tr["bottom"]) & np.isfinite(tr["top"])
    n = int(ok.sum())
    if n == 0:
        return {"sink": None, "air_rest": None, "frames": 0}
    clipped = ok & (tr["bottom"] >= H - 0.5)
    whole = ok & ~clipped & (tr["top"] > 0.5)
    height = float(np.median((tr["bottom"] - tr["top"])[whole])) if whole.any() else float("nan")
    bottom = np.where(clipped, tr["top"] + height, tr["bottom"]) if np.isfinite(height) else tr["bottom"]
    sink = ok & (bottom > H + SINK_PX)
    y = tr["cy"]
    air = np.zeros_like(ok)
    for k in range(2, len(y) - 2):
        w = y[k - 2:k + 3]
        if ok[k] and np.isfinite(w).all() and np.ptp(w) < STILL_PX and bottom[k] < H - AIR_PX:
            air[k] = True
    return {"sink": float(sink.sum() / n), "air_rest": float(air.sum() / n), "frames": n,
            "max_sink_px": float(np.nanmax(np.where(ok, bottom - H, np.nan))), "height": height}


def air_bounces(tr, b):
    """Fraction of the measured bounces (fit_bounce) that turn more than AIR_BOUNCE_PX above the floor:
    the object's bottom where the two arcs meet (the arcs' centre there plus the median bottom-to-centre
    offset of the frames where it is whole). None without measured bounces."""
    if not b or not b["bounces"]:
        return None
    whole = _present(tr) & np.isfinite(tr["bottom"]) & (tr["bottom"] < tr["H"] - 0.5)
    if not whole.any():
        return None
    off = float(np.median((tr["bottom"] - tr["cy"])[whole]))
    return float(np.mean([x["floor_y"] + off < tr["H"] - AIR_BOUNCE_PX for x in b["bounces"]]))


# ---- against commanded values ------------------------------------------------------------------------

def angle_diff(a, b):
    return abs((a - b + 180) % 360 - 180)


def compare(tr, fps, path=None, motion=None, gravity=None, bounce=None, growth=None, f0=0):
    """Measured values and, for each commanded control, the error and whether it meets GOALS."""
    T = len(tr["cx"])
    out = {"frames": T, "presence": float(_present(tr).mean()), "velocity": fit_velocity(tr),
           "growth": fit_growth(tr, fps)}
    if out["growth"]:
        out["growth"].pop("size")  # the curve is in track; keep the summary short
    out["bounce"] = fit_bounce(tr, fps)
    out["physics"] = physics_consistency(tr)
    out["physics"]["air_bounce"] = air_bounces(tr, out["bounce"])
    ok = {}
    if path:
        pe = path_error(tr, path, f0)
        out["path_error"] = pe
        ok["path"] = pe is not None and pe["rms"] <= GOALS["path_rms_px"]
    if motion is not None:
        v = out["velocity"]
        want = math.degrees(math.atan2(motion[1], motion[0]))
        ws = math.hypot(*motion)
        if v:
            out["direction_err_deg"] = angle_diff(v["angle"], want)
            out["speed_rel_err"] = v["speed"] / ws - 1
        ok["direction"] = bool(v) and out["direction_err_deg"] <= GOALS["direction_deg"]
        ok["speed"] = bool(v) and abs(out["speed_rel_err"]) <= GOALS["speed_rel"]
    b = out["bounce"]
    if gravity is not None:
        if b:
            out["gravity_rel_err"] = b["gravity"] / gravity - 1
        ok["gravity"] = bool(b) and abs(out["gravity_rel_err"]) <= GOALS["gravity_rel"]
    if bounce is not None:
        e = b["restitution"] if b else None
        if e is not None:
            out["bounce_abs_err"] = e - bounce
        ok["bounce"] = e is not None and abs(e - bounce) <= GOALS["bounce_abs"]
    if growth is not None:
        g = out["growth"]
        if g:
            out["growth_rel_err"] = g["rate"] / growth - 1
        ok["growth_sign"] = bool(g) and (g["rate"] > 0) == (growth > 0)
        ok["growth"] = bool(g) and ok["growth_sign"] and abs(out["growth_rel_err"]) <= GOALS["growth_rel"]
    out["ok"] = ok
    out["track"] = {k: [None if not np.isfinite(v) else round(float(v), 3) for v in tr[k]]
                    for k in ("cx", "cy", "area", "bottom")}
    return out


def parse_path(s):
    """'F:X,Y F:X,Y ...' -> [(F, X, Y), ...] (the engine's --path syntax)."""
    keys = []
    for tok in s.split():
        f, xy = tok.split(":")
        x, y = xy.split(",")
        keys.append((float(f), float(x), float(y)))
    return keys


def format_path(keys):
    return " ".join(f"{int(f)}:{x:g},{y:g}" for f, x, y in keys)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("video", help=".h5 with /frames (timeshard --out F.h5), .mp4, or .npy uint8 (T,H,W,3)")
    ap.add_argument("--path", help="'F:X,Y F:X,Y ...' commanded centre keys (px)")
    ap.add_argument("--motion", help="DX,DY px per frame")
    ap.add_argument("--gravity", type=float)
    ap.add_argument("--bounce", type=float)
    ap.add_argument("--growth", type=float)
    ap.add_argument("--fps", type=float, default=12.0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    tr = measure(score.read_video(a.video))
    m = compare(tr, a.fps, path=parse_path(a.path) if a.path else None,
                motion=tuple(float(x) for x in a.motion.split(",")) if a.motion else None,
                gravity=a.gravity, bounce=a.bounce, growth=a.growth)
    if a.json:
        print(json.dumps(m, indent=1))
        return 0
    v, g, b, ph = m["velocity"], m["growth"], m["bounce"], m["physics"]
    print(f"presence {m['presence']:.2f} over {m['frames']} frames")
    if v:
        print(f"velocity {v['dx']:+.2f},{v['dy']:+.2f} px/frame (speed {v['speed']:.2f}, {v['angle']:.0f} deg)")
    if g:
        print(f"growth   {g['rate']:+.3f} /s")
    if b:
        e = b["restitution"]
        print(f"bounce   gravity {b['gravity']:.0f} px/s^2, restitution {'-' if e is None else f'{e:.2f}'}, "
              f"contacts {b['contacts']}")
    print(f"physics  sinking {ph['sink']}, resting in the air {ph['air_rest']}")
    if "path_error" in m and m["path_error"]:
        print(f"path     RMS {m['path_error']['rms']:.2f} px, max {m['path_error']['max']:.2f} px")
    for k, ok in m["ok"].items():
        print(f"{k:12s} {'OK' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
