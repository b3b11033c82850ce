"""The motion estimators (tools/eval/motion.py) on ground truth, numpy only (about half a minute):

    /usr/bin/python3 tools/eval/test_motion.py

Clips of every control kind with known parameters are drawn by tools/physics.py (draw_control) and rendered
by gt.py's numpy renderer, as uint8 frames, sharp and with mild blur (sigma 1 px) plus noise (sigma 3
levels); the estimators must recover the parameters far inside the goals (motion.GOALS): path RMS <= 0.5 px
(goal 3), direction <= 3 deg (20), speed <= 5% (25%), gravity <= 10% (25%), restitution <= 0.06 (0.15),
growth rate <= 5% (30%). The physics checks read 0 on the renders and catch an object pushed into the floor
and one held in the air.
"""
import os
import sys
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gt  # noqa: E402
import motion as M  # noqa: E402
import physics as P  # noqa: E402

TIGHT = {"path_rms_px": 0.5, "direction_deg": 3.0, "speed_rel": 0.05, "gravity_rel": 0.10, "bounce_abs": 0.06,
         "growth_rel": 0.05}


def blur_noise(vid, sigma, noise, seed):
    """uint8 (T, H, W, 3) -> blurred (Gaussian, sigma px, edges replicated) plus Gaussian noise, uint8."""
    f = vid.astype(np.float32)
    if sigma > 0:
        k = np.arange(-3, 4)
        w = np.exp(-k ** 2 / (2 * sigma * sigma))
        w /= w.sum()
        for ax in (1, 2):
            pad = [(0, 0)] * 4
            pad[ax] = (3, 3)
            p = np.pad(f, pad, mode="edge")
            n = f.shape[ax]
            f = sum(wi * np.take(p, np.arange(i, i + n), axis=ax) for i, wi in enumerate(w))
    f = f + noise * np.random.default_rng(seed).standard_normal(f.shape)
    return np.clip(np.floor(f + 0.5), 0, 255).astype(np.uint8)


def control_clips(kind, n, frames, seed, sigma=0.0, noise=0.0):
    """n clips of one control kind: (params, true controls, uint8 videos)."""
    rng = np.random.default_rng(seed)
    u = lambda: float(rng.random())  # noqa: E731
    params = []
    for i in range(n):
        shape, color = P.SHAPES[i % 3], P.COLOR_NAMES[(i * 3) % 8]
        c, word = P.draw_control(kind, u, frames, 12.0, 64, shape)
        bgs = [b for b in P.BG_NAMES if b != color]
        params.append({"color": color, "shape": shape, "motion": word, "bg": bgs[(i * 5) % len(bgs)], "control": c})
    truth = []
    cx, cy, r = gt.tracks(params, frames, truth=truth)
    vids = [gt.to_uint8(gt.render([p], cx[i:i + 1], cy[i:i + 1], r[i:i + 1])[0]) for i, p in enumerate(params)]
    if sigma > 0 or noise > 0:
        vids = [blur_noise(v, sigma, noise, i) for i, v in enumerate(vids)]
    return params, truth, vids


class Estimators(unittest.TestCase):
    CASES = ((0.0, 0.0), (1.0, 3.0))  # sharp; blurred sigma 1 px plus noise sigma 3 levels

    def each(self, kind, n, frames, seed):
        for sigma, noise in self.CASES:
            params, truth, vids = control_clips(kind, n, frames, seed, sigma, noise)
            for p, t, v in zip(params, truth, vids):
                m = M.compare(M.measure(v), 12.0, **t)
                self.assertEqual(m["presence"], 1.0)
                yield (sigma, noise, p["shape"], t), m

    def test_motion(self):
        for why, m in self.each("motion", 12, 24, 1):
            self.assertLessEqual(m["direction_err_deg"], TIGHT["direction_deg"], why)
            self.assertLessEqual(abs(m["speed_rel_err"]), TIGHT["speed_rel"], why)
            self.assertTrue(m["ok"]["direction"] and m["ok"]["speed"])

    def test_path(self):
        for why, m in self.each("path", 12, 24, 2):
            self.assertLessEqual(m["path_error"]["rms"], TIGHT["path_rms_px"], why)
            self.assertTrue(m["ok"]["path"])

    def test_growth(self):
        for why, m in self.each("growth", 12, 24, 3):
            self.assertLessEqual(abs(m["growth_rel_err"]), TIGHT["growth_rel"], why)
            self.assertTrue(m["ok"]["growth_sign"] and m["ok"]["growth"])

    def test_bounce(self):
        for why, m in self.each("bounce", 12, 48, 4):
            self.assertLessEqual(abs(m["gravity_rel_err"]), TIGHT["gravity_rel"], why)
            self.assertLessEqual(abs(m["bounce_abs_err"]), TIGHT["bounce_abs"], why)
            self.assertEqual(m["physics"]["sink"], 0.0, why)
            self.assertEqual(m["physics"]["air_rest"], 0.0, why)
            self.assertEqual(m["physics"]["air_bounce"], 0.0, why)

    def test_plain_bouncing(self):
        """The shipped dataset's bounce (gravity 250, restitution 0.7-0.9), circles: measured as drawn."""
        params = [{"color": "red", "shape": "circle", "motion": "bouncing", "bg": "navy"} for _ in range(6)]
        vids, _, _ = gt.clips(params, frames=48, seed=5)
        rng = np.random.default_rng(5)
        truth = []
        gt.tracks(params, 48, u=lambda: float(rng.random()), truth=truth)
        for v, t in zip(vids, truth):
            m = M.compare(M.measure(v), 12.0, **t)
            self.assertTrue(m["ok"]["gravity"] and m["ok"]["bounce"], (t, m.get("gravity_rel_err"), m.get("bounce_abs_err")))
            self.assertEqual(m["physics"]["sink"], 0.0)

    def test_violations(self):
        """An object pushed 4 px into the floor at its bounces, and one held still mid-air, are caught."""
        params, truth, vids = control_clips("bounce", 3, 48, 4)
        _, _, cx, cy, r = None, None, *gt.tracks(params, 48, truth=[])
        for i, p in enumerate(params):
            floor = 64 - P.extent(p["shape"], r[i, 0])[2]
            y = cy[i].copy()
            y[y > floor - 3] += 4                           # sinks 4 px near the floor
            held = y.copy()
            held[20:30] = 30.0                              # hangs still at y = 30 for 10 frames
            for yy, key in ((y, "sink"), (held, "air_rest")):
                v = gt.to_uint8(gt.render([p], cx[i:i + 1], yy[None], r[i:i + 1])[0])
                ph = M.physics_consistency(M.measure(v))
                self.assertGreater(ph[key], 0.05, (key, ph))
            ph = M.physics_consistency(M.measure(vids[i]))
            self.assertEqual((ph["sink"], ph["air_rest"]), (0.0, 0.0))

    def test_spec_units(self):
        """Velocity in px per frame and the path in px, as the engine's flags take them."""
        tr = M.from_tracks(np.arange(10) * 1.5 + 10, np.full(10, 20.0), np.full(10, 6.0), "circle")
        v = M.fit_velocity(tr)
        self.assertAlmostEqual(v["dx"], 1.5)
        self.assertAlmostEqual(v["angle"], 0.0)
        pe = M.path_error(tr, [(0, 10, 20), (9, 23.5, 20)])
        self.assertAlmostEqual(pe["rms"], 0.0)
        self.assertEqual(M.parse_path(M.format_path([(0, 10, 20), (9, 23.5, 20)])), [(0, 10, 20), (9, 23.5, 20)])
        self.assertAlmostEqual(M.angle_diff(179, -179), 2.0)


if __name__ == "__main__":
    unittest.main()
