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


def tracks(params, frames, fps, size, u, t0, ops):
    """Per-frame centre (x, y) and radius for each clip: float64 arrays (B, T) of the ops' kind.

    u: uniform [0, 1) source, drawn in this function's order. ops: zeros(B, T), times(frames, fps, t0)
    (float64 seconds), fold(x, lo, hi) (reflect into [lo, hi]), exp, clamp_max, clamp_min, row(list)."""
    B = len(params)
    t = ops.times(frames, fps, t0)  # seconds
    cx = ops.zeros(B, frames)
    cy = ops.zeros(B, frames)
    r = ops.zeros(B, frames)
    dur = (frames - 1) / fps
    for i, p in enumerate(params):
        m = p["motion"]
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
        else:  # bouncing under gravity, restitution < 1, walls reflect
            rad = BOUNCE_RAD_MIN + BOUNCE_RAD_SPAN * u()
            grav = GRAVITY
            e = RESTITUTION_MIN + RESTITUTION_SPAN * u()
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


# ---- motion controls: the per-frame control vector (docs/controls.md) ---------------------------------
CONTROL_DIM = 12


def control_vector(frame, fps, W, H, path=None, motion=None, gravity=None, bounce=None, growth=None):
    """The 12 floats a model trained with motion controls is conditioned on at generated frame `frame`
    (global index from 0) of a video at `fps` frames per second, W x H pixels; the engine computes the
    same (src/model/controls.c ts_controls_vector, in float64 then rounded to float32).

      path     [(F, X, Y), ...]: the object's centre in pixels (origin top-left, y down) at frames F,
               strictly increasing; linear between keys, held before the first and after the last
      motion   (DX, DY): pixels per generated frame
      gravity  G pixels/s^2, downwards;  bounce  E restitution in [0, 1];  growth  R per second

    v[0], v[1] = x/W*2-1, y/H*2-1 and v[2] = 1 where a path is given; v[3], v[4] = DX*fps/W, DY*fps/H
    (frame widths/heights per second), v[5] = 1; v[6] = G/(4*H), v[7] = 1; v[8] = E, v[9] = 1;
    v[10] = R, v[11] = 1. A group not given is 0 with its flag 0."""
    v = [0.0] * CONTROL_DIM
    if path:
        keys = [(int(f), float(x), float(y)) for f, x, y in path]
        if any(b[0] <= a[0] for a, b in zip(keys, keys[1:])):
            raise ValueError("path key frames must be strictly increasing")
        x, y = keys[0][1], keys[0][2]
        if frame >= keys[-1][0]:
            x, y = keys[-1][1], keys[-1][2]
        elif frame > keys[0][0]:
            i = 0
            while frame > keys[i + 1][0]:
                i += 1
            a = (frame - keys[i][0]) / (keys[i + 1][0] - keys[i][0])
            x = keys[i][1] + (keys[i + 1][1] - keys[i][1]) * a
            y = keys[i][2] + (keys[i + 1][2] - keys[i][2]) * a
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
