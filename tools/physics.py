"""The moving-shapes world, written once: what the dataset (tools/train/shapes.py, torch) trains on
and what the evaluation (tools/eval: gt.py renders ground truth, score.py and vocab.py read the tables)
checks against. No torch, no numpy at import: both sides import it.

  tables      COLORS, BACKGROUNDS, SHAPES, DIRECTIONS, MOTIONS, HELD_OUT, COLOR_NAMES, BG_NAMES,
              caption(), vocabulary()
  motion      the constants (speeds, radii, growth rates, gravity, restitution, sub-steps) and
              tracks(): per-frame centre and radius of each clip. Motion is physical: constant
              speeds, gravity, bounces off floor and walls with restitution below one, no
              wrap-around. Speeds are per second, so any frame rate renders the same motion.
  outlines    the shapes' signed-distance parameters, shared by both renderers

tracks() draws its random numbers from a callable u() (uniform in [0, 1)) in one fixed order, and does
its array arithmetic through an `ops` object (ops.torch in shapes.py, NUMPY_OPS here for gt.py), so the
training data and the ground truth each compute exactly what they did when they had their own copies.
"""
import math

# ---- tables ------------------------------------------------------------------------------------------
COLORS = {
    "red": (230, 40, 40), "green": (40, 200, 60), "blue": (40, 80, 240), "yellow": (240, 220, 40),
    "cyan": (40, 220, 230), "magenta": (220, 50, 220), "white": (245, 245, 245), "orange": (250, 140, 20),
}
BACKGROUNDS = {"black": (0, 0, 0), "gray": (128, 128, 128), "navy": (10, 20, 90), "dark green": (10, 80, 30)}
BACKGROUNDS.update(COLORS)  # a background may be any colour but the object's own
SHAPES = ["circle", "square", "triangle"]
DIRECTIONS = {
    "left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1),
    "up left": (-1, -1), "up right": (1, -1), "down left": (-1, 1), "down right": (1, 1),
}
MOTIONS = list(DIRECTIONS) + ["growing", "shrinking", "bouncing"]
# colour-shape pairs never seen in training (composition is measured on them)
HELD_OUT = [("red", "triangle"), ("blue", "square"), ("yellow", "circle"), ("magenta", "triangle")]

COLOR_NAMES = list(COLORS)
BG_NAMES = list(BACKGROUNDS)


def caption(color, shape, motion, bg):
    verb = motion if motion in ("growing", "shrinking", "bouncing") else "moving " + motion
    art = lambda w: "an" if w[0] in "aeiou" else "a"  # noqa: E731
    return f"{art(color)} {color} {shape} {verb} on {art(bg)} {bg} background"


def vocabulary():
    words = set("a an on background moving".split())
    for n in COLOR_NAMES + BG_NAMES + SHAPES + MOTIONS:
        words.update(n.split())
    # <pad> 0, <bos> 1, <unk> 2, then the words sorted
    return ["<pad>", "<bos>", "<unk>"] + sorted(words)


# ---- motion (pixels and seconds) ------------------------------------------------------------------------
SPEED_MIN, SPEED_SPAN = 12.0, 12.0    # translation: px/s, uniform in [12, 24)
MOVE_RAD_MIN, MOVE_RAD_SPAN = 6.0, 4.0
RATE_MIN, RATE_SPAN = 0.35, 0.25      # growing / shrinking: relative size change per second
GROW_R0, GROW_R0_SPAN, GROW_R_MAX = 4.5, 2.0, 22.0
SHRINK_R0, SHRINK_R0_SPAN, SHRINK_R_MIN = 14.0, 4.0, 3.0
BOUNCE_RAD_MIN, BOUNCE_RAD_SPAN = 5.0, 3.0
GRAVITY = 250.0                       # px/s^2
RESTITUTION_MIN, RESTITUTION_SPAN = 0.7, 0.2
SUBSTEPS = 8                          # integration steps per frame interval


def tracks(params, frames, fps, size, u, t0, ops, truth=None):
    """Per-frame centre (x, y) and radius for each clip: float64 arrays (B, T) of the ops' kind.

    u: uniform [0, 1) source, drawn in this function's order. ops: zeros(B, T), times(frames, fps, t0)
    (float64 seconds), fold(x, lo, hi) (reflect into [lo, hi]), exp, clamp_max, clamp_min, row(list).
    A clip whose params carry "control" (draw_control) follows it and draws nothing here.
    truth: a list to which each clip's true control values are appended (see control_truth)."""
    B = len(params)
    t = ops.times(frames, fps, t0)  # seconds
    cx = ops.zeros(B, frames)
    cy = ops.zeros(B, frames)
    r = ops.zeros(B, frames)
    dur = (frames - 1) / fps
    for i, p in enumerate(params):
        m = p["motion"]
        if "control" in p:
            xs, ys, rs = control_track(p["control"], [float(tk) for tk in t], fps, size)
            cx[i], cy[i], r[i] = ops.row(xs), ops.row(ys), ops.row(rs)
            if truth is not None:
                truth.append(control_truth(p["control"]))
            continue
        if m in DIRECTIONS:
            rad = MOVE_RAD_MIN + MOVE_RAD_SPAN * u()
            speed = SPEED_MIN + SPEED_SPAN * u()
            dx, dy = DIRECTIONS[m]
            norm = math.hypot(dx, dy)
            vx, vy = speed * dx / norm, speed * dy / norm
            lo, hi = rad, size - rad

            # start so that a training-length clip does not reach the wall
            def start(v):
                travel = abs(v) * dur
                a, b = (lo + travel, hi) if v < 0 else (lo, hi - travel) if v > 0 else (lo + 8, hi - 8)
                if b < a:
                    a = b = (lo + hi) / 2
                return a + (b - a) * u()

            x0, y0 = start(vx), start(vy)
            cx[i] = ops.fold(x0 + vx * t, lo, hi)
            cy[i] = ops.fold(y0 + vy * t, lo, hi)
            r[i] = rad
            if truth is not None:  # true while no wall is met (the start is chosen so for `frames`)
                truth.append({"motion": (vx / fps, vy / fps)})
        elif m in ("growing", "shrinking"):
            rate = RATE_MIN + RATE_SPAN * u()
            if m == "growing":
                r0 = GROW_R0 + GROW_R0_SPAN * u()
                r[i] = ops.clamp_max(r0 * ops.exp(rate * t), GROW_R_MAX)
            else:
                r0 = SHRINK_R0 + SHRINK_R0_SPAN * u()
                r[i] = ops.clamp_min(r0 * ops.exp(-rate * t), SHRINK_R_MIN)
            cx[i] = 24 + 16 * u()
            cy[i] = 24 + 16 * u()
            if truth is not None:  # true until the clamp (not reached in 16 frames at 12 fps)
                truth.append({"growth": rate if m == "growing" else -rate})
        else:  # bouncing under gravity, restitution < 1, walls reflect
            rad = BOUNCE_RAD_MIN + BOUNCE_RAD_SPAN * u()
            grav = GRAVITY
            e = RESTITUTION_MIN + RESTITUTION_SPAN * u()
            if truth is not None:
                truth.append({"gravity": grav, "bounce": e})
            vx = (6 + 12 * u()) * (1 if u() < 0.5 else -1)
            x, y = 16 + 32 * u(), 8 + 20 * u()
            vy = -20 * u()
            floor = size - rad
            h = 1.0 / (fps * SUBSTEPS)
            xs, ys = [], []
            # advance to t0 first, then record each frame
            tcur = 0.0
            for k in range(frames):
                target = float(t[k])
                while tcur < target - 1e-9:
                    step = min(h, target - tcur)
                    vy += grav * step
                    x += vx * step
                    y += vy * step
                    if y > floor:
                        y = floor - (y - floor) * e
                        vy = -abs(vy) * e
                    if x < rad or x > size - rad:
                        x = rad + abs(x - rad) if x < rad else (size - rad) - (x - (size - rad))
                        vx = -vx
                    tcur += step
                xs.append(x)
                ys.append(y)
            cx[i] = ops.row(xs)
            cy[i] = ops.row(ys)
            r[i] = rad
    return cx, cy, r


class NumpyOps:
    """tracks() on numpy float64 arrays (tools/eval/gt.py). fold rounds the walls to float32, as the
    torch version's torch.tensor(lo), torch.tensor(hi) do, so the two agree (tools/eval/check_port.py)."""

    def __init__(self):
        import numpy as np
        self.np = np

    def times(self, frames, fps, t0):
        return self.np.arange(frames, dtype=self.np.float64) / fps + t0

    def zeros(self, B, T):
        return self.np.zeros((B, T))

    def fold(self, x, lo, hi):
        np = self.np
        lo, hi = float(np.float32(lo)), float(np.float32(hi))
        span = max(float(np.float32(hi - lo)), 1e-3)
        y = np.mod(x - lo, 2 * span)
        return lo + np.where(y > span, 2 * span - y, y)

    def exp(self, x):
        return self.np.exp(x)

    def clamp_max(self, x, hi):
        return self.np.minimum(x, hi)

    def clamp_min(self, x, lo):
        return self.np.maximum(x, lo)

    def row(self, values):
        return self.np.asarray(values, dtype=self.np.float64)


# ---- outlines (signed distances, pixels; r is the clip's radius) ------------------------------------------
SQUARE_HALF = 0.85  # the square's half side: r * 0.85
TRI_SCALE = 1.15    # the triangle (apex up) is cut by three lines at rt / 2 from the centre, rt = r * 1.15


# ---- controls (issue 19: motion paths and physics parameters) ----------------------------------------------
# Clip kinds whose motion is set by a control, drawn widely (draw_control) for a model that takes the control
# vector (control_vector) as conditioning. They come only through draw_control: the draw above is untouched.
# Captions use the existing words: a path or a motion vector by its net direction, a bounce "bouncing" at
# any gravity, growth "growing" or "shrinking" at any rate.
CONTROL_KINDS = ["path", "motion", "bounce", "growth"]
CONTROL_GROUPS = {"path": (0, 1, 2), "motion": (3, 4, 5), "gravity": (6, 7), "bounce": (8, 9), "growth": (10, 11)}
# the planned size (the radius, control_vector's size=): set by the engine where a growth holds, never given
SIZE_GROUP = (12, 13)
CTRL_SPEED_MIN, CTRL_SPEED_MAX = 0.25, 4.0       # motion vectors: px per frame, log-uniform
CTRL_SEG_SPEED_MAX = 4.0                         # path keys: at most this many px per frame between keys
CTRL_GRAVITY_MIN, CTRL_GRAVITY_MAX = 60.0, 500.0  # px/s^2, log-uniform
CTRL_E_MIN, CTRL_E_MAX = 0.3, 0.95                # restitution, uniform
CTRL_RATE_MIN, CTRL_RATE_MAX = 0.12, 1.0          # growth: |R| per second, log-uniform
CTRL_R_LO, CTRL_R_HI = 3.5, 20.0                  # growth: the radius stays within, over the drawn clip
REST_HEIGHT = 0.25                                # px: a rebound lower than this leaves the object resting
CTRL_BOUNCE_T0 = 2.5                              # s: training's bounce clips start up to this far in


def extent(shape, r):
    """(half width, above the centre, below the centre) of a shape of radius r, in px."""
    if shape == "square":
        return r * SQUARE_HALF, r * SQUARE_HALF, r * SQUARE_HALF
    if shape == "triangle":  # equilateral, inradius rt / 2, apex up
        rt = r * TRI_SCALE
        return rt * math.sqrt(3) / 2, rt, rt / 2
    return r, r, r


def _direction_word(dx, dy):
    """The nearest of the 8 caption directions to (dx, dy) (image axes, y down)."""
    best, bd = None, -2.0
    for w, (ux, uy) in DIRECTIONS.items():
        c = (dx * ux + dy * uy) / (math.hypot(ux, uy) * max(math.hypot(dx, dy), 1e-12))
        if c > bd:
            best, bd = w, c
    return best


def _loguni(u, lo, hi):
    return lo * math.exp(math.log(hi / lo) * u())


def draw_control(kind, u, frames, fps, size, shape, late=0.0):
    """A control clip of `kind` (CONTROL_KINDS) for `frames` frames at `fps`, drawn from u() (uniform [0, 1)).
    late: a bounce clip starts up to this many seconds into its bounce (training: CTRL_BOUNCE_T0).
    Returns (control, motion word for the caption). control: a dict of plain floats that control_track
    renders, control_truth labels and draw_control fits inside the frame for `frames` frames from t = 0."""
    n = max(frames - 1, 1)
    dur = n / fps
    if kind == "motion":
        rad = 6.0 + 4.0 * u()
        hw, up, down = extent(shape, rad)
        ang = 2 * math.pi * u()
        speed = _loguni(u, CTRL_SPEED_MIN, CTRL_SPEED_MAX)
        dx, dy = speed * math.cos(ang), speed * math.sin(ang)
        # fit the travel inside the frame (1 px margin), slowing down when it cannot
        room_x, room_y = size - 2 * hw - 2, size - up - down - 2
        k = min(1.0, room_x / max(abs(dx) * n, 1e-9), room_y / max(abs(dy) * n, 1e-9))
        dx, dy = dx * k, dy * k

        def start(d, lo, hi):
            a, b = (lo - d * n, hi) if d < 0 else (lo, hi - d * n)
            return a + (b - a) * u()

        x0 = start(dx, hw + 1, size - hw - 1)
        y0 = start(dy, up + 1, size - down - 1)
        c = {"kind": "motion", "shape": shape, "rad": rad, "start": (x0, y0), "motion": (dx, dy)}
        return c, _direction_word(dx, dy)
    if kind == "path":
        rad = 5.0 + 4.0 * u()
        hw, up, down = extent(shape, rad)
        lo_x, hi_x, lo_y, hi_y = hw + 1, size - hw - 1, up + 1, size - down - 1
        nk = 2 + min(int(3 * u()), 2)
        # key frames: the first in the first quarter, the last in the last quarter, the rest between, >= 2 apart
        f_first = int(round(n / 4 * u()))
        f_last = n - int(round(n / 4 * u()))
        fs = [f_first]
        for j in range(1, nk - 1):
            a = f_first + (f_last - f_first) * j / (nk - 1)
            fs.append(int(round(a + (u() - 0.5) * (f_last - f_first) / (2 * (nk - 1)))))
        fs.append(f_last)
        fs = sorted(set(fs))
        for _ in range(50):
            pts = [(lo_x + (hi_x - lo_x) * u(), lo_y + (hi_y - lo_y) * u())]
            for j in range(1, len(fs)):
                for _ in range(20):
                    q = (lo_x + (hi_x - lo_x) * u(), lo_y + (hi_y - lo_y) * u())
                    dxy = (q[0] - pts[-1][0], q[1] - pts[-1][1])
                    d = math.hypot(*dxy)
                    ok = d <= CTRL_SEG_SPEED_MAX * (fs[j] - fs[j - 1]) and d >= 6
                    if ok and j >= 2:  # turn by at least 30 degrees
                        px, py = pts[-1][0] - pts[-2][0], pts[-1][1] - pts[-2][1]
                        ok = (px * dxy[0] + py * dxy[1]) / (math.hypot(px, py) * d + 1e-9) < math.cos(math.pi / 6)
                    if ok:
                        break
                pts.append(q)
            net = (pts[-1][0] - pts[0][0], pts[-1][1] - pts[0][1])
            if math.hypot(*net) >= 8:
                break
        keys = [(float(f), x, y) for f, (x, y) in zip(fs, pts)]
        c = {"kind": "path", "shape": shape, "rad": rad, "path": keys}
        return c, _direction_word(*net)
    if kind == "bounce":
        rad = BOUNCE_RAD_MIN + BOUNCE_RAD_SPAN * u()
        hw, up, down = extent(shape, rad)
        g = _loguni(u, CTRL_GRAVITY_MIN, CTRL_GRAVITY_MAX)
        e = CTRL_E_MIN + (CTRL_E_MAX - CTRL_E_MIN) * u()
        vx = (6 + 12 * u()) * (1 if u() < 0.5 else -1)
        x0 = 16 + 32 * u()
        y0 = up + 1 + (size * 0.45 - up - 1) * u()
        vy0 = -20 * u()
        # late > 0: the clip shows the bounce from t0 on (up to `late` s in): later bounces and the rest too
        t0 = late * u() if late > 0 else 0.0
        c = {"kind": "bounce", "shape": shape, "rad": rad, "gravity": g, "bounce": e, "start": (x0, y0),
             "velocity": (vx, vy0), "t0": t0}
        return c, "bouncing"
    if kind == "growth":
        rate = _loguni(u, CTRL_RATE_MIN, CTRL_RATE_MAX)
        rate = min(rate, 0.95 * math.log(CTRL_R_HI / CTRL_R_LO) / dur)
        f = math.exp(rate * dur)
        grow = u() < 0.5
        if grow:  # r0 in [R_LO, R_HI / f]
            r0 = CTRL_R_LO + (CTRL_R_HI / f - CTRL_R_LO) * u()
        else:     # r0 in [R_LO f, R_HI]
            r0 = CTRL_R_LO * f + (CTRL_R_HI - CTRL_R_LO * f) * u()
        c = {"kind": "growth", "shape": shape, "r0": r0, "growth": rate if grow else -rate,
             "start": (24 + 16 * u(), 24 + 16 * u())}
        return c, "growing" if grow else "shrinking"
    raise ValueError(f"unknown control kind {kind!r} (one of {CONTROL_KINDS})")


def path_point(path, f):
    """Centre (x, y) on a path [(F, X, Y), ...] at frame f: linear between keys, held outside them."""
    keys = sorted(path)
    if f <= keys[0][0]:
        return keys[0][1], keys[0][2]
    for (f0, x0, y0), (f1, x1, y1) in zip(keys, keys[1:]):
        if f <= f1:
            a = (f - f0) / (f1 - f0) if f1 > f0 else 1.0
            return x0 + (x1 - x0) * a, y0 + (y1 - y0) * a
    return keys[-1][1], keys[-1][2]


def bounce_track(times, fps, size, shape, rad, g, e, start, velocity):
    """Centre per time (seconds, increasing from >= 0) of an object bouncing on the frame's bottom edge:
    gravity g px/s^2, restitution e, walls reflect. It never goes below the floor, and it comes to rest on
    the floor (never in the air) once a rebound would rise less than REST_HEIGHT px."""
    width, height = size if isinstance(size, tuple) else (size, size)  # size: px, or (W, H)
    hw, up, down = extent(shape, rad)
    floor = height - down
    x, y = start
    vx, vy = velocity
    h = 1.0 / (fps * SUBSTEPS)
    v_rest = math.sqrt(2 * g * REST_HEIGHT)
    resting = False
    xs, ys = [], []
    tcur = 0.0
    for target in times:
        while tcur < target - 1e-9:
            step = min(h, target - tcur)
            x += vx * step
            if not resting:
                vy += g * step
                y += vy * step
                if y > floor:
                    vy = abs(vy) * e
                    if vy < v_rest:
                        resting, y, vy = True, floor, 0.0
                    else:
                        y = floor - (y - floor) * e
                        vy = -vy
            if x < hw or x > width - hw:
                x = hw + abs(x - hw) if x < hw else (width - hw) - (x - (width - hw))
                vx = -vx
            tcur += step
        xs.append(x)
        ys.append(y)
    return xs, ys


def control_track(c, times, fps, size):
    """Centre and radius lists, one value per time (seconds), of a control clip (draw_control)."""
    if c["kind"] == "motion":
        (x0, y0), (dx, dy) = c["start"], c["motion"]
        hw, up, down = extent(c["shape"], c["rad"])
        xs = [min(max(x0 + dx * t * fps, hw), size - hw) for t in times]  # stops at a wall past the drawn clip
        ys = [min(max(y0 + dy * t * fps, up), size - down) for t in times]
        return xs, ys, [c["rad"]] * len(times)
    if c["kind"] == "path":
        pts = [path_point(c["path"], t * fps) for t in times]
        return [p[0] for p in pts], [p[1] for p in pts], [c["rad"]] * len(times)
    if c["kind"] == "bounce":
        t0 = c.get("t0", 0.0)
        xs, ys = bounce_track([t + t0 for t in times], fps, size, c["shape"], c["rad"], c["gravity"], c["bounce"],
                              c["start"], c["velocity"])
        return xs, ys, [c["rad"]] * len(times)
    if c["kind"] == "growth":
        rs = [c["r0"] * math.exp(c["growth"] * t) for t in times]
        return [c["start"][0]] * len(times), [c["start"][1]] * len(times), rs
    raise ValueError(f"unknown control kind {c['kind']!r}")


def control_truth(c):
    """The true control values of a control clip, as control_vector's keyword arguments."""
    if c["kind"] == "motion":
        return {"motion": tuple(c["motion"])}
    if c["kind"] == "path":
        return {"path": [tuple(k) for k in c["path"]]}
    if c["kind"] == "bounce":
        return {"gravity": c["gravity"], "bounce": c["bounce"]}
    return {"growth": c["growth"]}


def control_labels(truth, frames, fps, W, H, f0=0, centres=None, radii=None):
    """Per clip and frame the control vector of its true values: [clip][frame][CONTROL_DIM] (plain floats).
    truth: tracks(..., truth=list)'s list; f0: global index of the first frame (t0 * fps). centres: tracks()'s
    (cx, cy); with them a clip with a motion, a gravity, a bounce or a growth and no path gets its centre per
    frame in the path group, as the engine's planned track (plan_track) gives it. radii: tracks()'s r; with
    them a clip with a growth gets its radius per frame in the size group, as the engine plans it (plan_size)."""
    out = []
    for i, tr in enumerate(truth):
        rows = [control_vector(f0 + k, fps, W, H, **tr) for k in range(frames)]
        if centres is not None and not tr.get("path") and any(k in tr for k in ("motion", "gravity", "bounce",
                                                                                  "growth")):
            for k, v in enumerate(rows):
                v[0], v[1], v[2] = float(centres[0][i][k]) / W * 2 - 1, float(centres[1][i][k]) / H * 2 - 1, 1.0
        if radii is not None and "growth" in tr:
            for k, v in enumerate(rows):
                set_size(v, float(radii[i][k]), W, H)
        out.append(rows)
    return out


def drop_controls(labels, p, u):
    """labels with each control group (CONTROL_GROUPS) of each clip dropped (values and flag zeroed, all
    frames alike) independently with probability p, the size group with the growth; u() draws 5 numbers per
    clip, in CONTROL_GROUPS' order."""
    out = []
    for clip in labels:
        drop = [i for n, g in CONTROL_GROUPS.items() for i in ((g + SIZE_GROUP if n == "growth" else g)
                                                               if u() < p else ())]
        out.append([[0.0 if i in drop else v for i, v in enumerate(vec)] for vec in clip])
    return out


# ---- the planner: a path from a motion, a gravity or a bounce (docs/controls.md "The planned track") ------
# The engine (src/model/controls.c plan_run) plans the same track, in the same order of operations.
PLAN_REF = 64.0          # the planner's constants are px of a 64 px frame, scaled to the video
PLAN_RADIUS = 6.5        # the nominal object: the middle bouncing radius (BOUNCE_RAD_MIN + BOUNCE_RAD_SPAN / 2)
PLAN_START_X, PLAN_START_DROP = 20.0, 7.0   # a bounce starts at x, and this far below the top-most centre
PLAN_VX = 12.0           # px/s rightwards when a bounce is given no motion
PLAN_GRAVITY, PLAN_RESTITUTION = 250.0, 0.8  # a bounce without a gravity; a gravity without a bounce
PLAN_SIZE_MID = 8.4      # a growth's radius at the run's middle frame: near the geometric middle of CTRL_R_LO..HI


def plan_track(frames, fps, W, H, motion=None, gravity=None, bounce=None, growth=None):
    """The planned centre [(x, y)] per frame 0..frames-1 of a video whose controls hold for all its frames and
    give no path, or None when nothing is planned (no motion, gravity, bounce or growth). A motion alone: a
    straight line centred on the frame at the middle frame, stopping at the walls; with a gravity or a bounce:
    the object starts at the upper left (PLAN_START_*) with the motion as its velocity (else PLAN_VX
    rightwards) and falls and bounces as bounce_track moves the dataset's objects; a growth alone: the frame's
    centre."""
    if motion is None and gravity is None and bounce is None:
        return None if growth is None else [(W / 2, H / 2)] * frames
    rad = PLAN_RADIUS * min(W, H) / PLAN_REF
    if gravity is None and bounce is None:
        dx, dy = motion
        xs, ys = W / 2 - dx * (frames - 1) / 2, H / 2 - dy * (frames - 1) / 2
        return [(min(max(xs + dx * k, rad), W - rad), min(max(ys + dy * k, rad), H - rad)) for k in range(frames)]
    g = gravity if gravity is not None else PLAN_GRAVITY * H / PLAN_REF
    e = bounce if bounce is not None else PLAN_RESTITUTION
    v = (motion[0] * fps, motion[1] * fps) if motion is not None else (PLAN_VX * W / PLAN_REF, 0.0)
    start = (PLAN_START_X * W / PLAN_REF, rad + PLAN_START_DROP * H / PLAN_REF)
    xs, ys = bounce_track([k / fps for k in range(frames)], fps, (W, H), "circle", rad, g, e, start, v)
    return list(zip(xs, ys))


def plan_size(frames, fps, W, H, growth):
    """The planned radius (px) per frame 0..frames-1 of a video whose growth R holds for all its frames:
    PLAN_SIZE_MID at the middle frame, times exp(R t), held within CTRL_R_LO..CTRL_R_HI (all of a 64 px
    frame, scaled to the smaller side)."""
    s = min(W, H) / PLAN_REF
    mid = (frames - 1) / 2
    return [min(max(PLAN_SIZE_MID * s * math.exp(growth * (k - mid) / fps), CTRL_R_LO * s), CTRL_R_HI * s)
            for k in range(frames)]


def control_vectors(frames, fps, W, H, f0=0, **spec):
    """control_vector of frames f0 .. f0+frames-1 of a video of `frames` frames with the controls `spec`, the
    planned track (plan_track) in the path group where no path is given and the planned size (plan_size) in
    the size group where a growth is: what the engine conditions on."""
    tr = None if spec.get("path") else plan_track(frames, fps, W, H, spec.get("motion"), spec.get("gravity"),
                                                  spec.get("bounce"), spec.get("growth"))
    rs = plan_size(frames, fps, W, H, spec["growth"]) if spec.get("growth") is not None else None
    out = []
    for k in range(frames):
        v = control_vector(f0 + k, fps, W, H, **spec)
        if tr is not None:
            v[0], v[1], v[2] = tr[k][0] / W * 2 - 1, tr[k][1] / H * 2 - 1, 1.0
        if rs is not None:
            set_size(v, rs[k], W, H)
        out.append(v)
    return out


# ---- motion controls: the per-frame control vector (docs/controls.md) ---------------------------------
CONTROL_DIM = 14


def set_size(v, r, W, H):
    """Sets the size group of control vector v: radius r pixels as r/min(W,H)*2, and its flag."""
    v[SIZE_GROUP[0]], v[SIZE_GROUP[1]] = r / min(W, H) * 2, 1.0


def control_vector(frame, fps, W, H, path=None, motion=None, gravity=None, bounce=None, growth=None):
    """The 14 floats a model trained with motion controls is conditioned on at generated frame `frame`
    (global index from 0) of a video at `fps` frames per second, W x H pixels; the engine computes the
    same (src/model/controls.c ts_controls_vector, in float64 then rounded to float32).

      path     [(F, X, Y), ...]: the object's centre in pixels (origin top-left, y down) at frames F,
               strictly increasing; linear between keys, held before the first and after the last
      motion   (DX, DY): pixels per generated frame
      gravity  G pixels/s^2, downwards;  bounce  E restitution in [0, 1];  growth  R per second

    v[0], v[1] = x/W*2-1, y/H*2-1 and v[2] = 1 where a path is given; v[3], v[4] = DX*fps/W, DY*fps/H
    (frame widths/heights per second), v[5] = 1; v[6] = G/(4*H), v[7] = 1; v[8] = E, v[9] = 1;
    v[10] = R, v[11] = 1. A group not given is 0 with its flag 0. v[12], v[13]: the size group, the object's
    radius r as r/min(W,H)*2 and its flag, never given: the engine plans it where a growth holds
    (control_vectors); it is 0 here."""
    v = [0.0] * CONTROL_DIM
    if path:
        keys = [(float(int(f)), float(x), float(y)) for f, x, y in path]
        if any(b[0] <= a[0] for a, b in zip(keys, keys[1:])):
            raise ValueError("path key frames must be strictly increasing")
        x, y = path_point(keys, float(frame))
        v[0], v[1], v[2] = x / W * 2 - 1, y / H * 2 - 1, 1.0
    if motion is not None:
        v[3], v[4], v[5] = motion[0] * fps / W, motion[1] * fps / H, 1.0
    if gravity is not None:
        v[6], v[7] = gravity / (4 * H), 1.0
    if bounce is not None:
        v[8], v[9] = float(bounce), 1.0
    if growth is not None:
        v[10], v[11] = float(growth), 1.0
    return v
