"""The dataset's control clips and control vectors (tools/physics.py, issue 19), numpy only, seconds:

    /usr/bin/python3 tools/eval/test_controls.py

control_vector against the spec shared with the C engine; draw_control's clips for every kind: captions in
the fixed vocabulary, the object inside the frame, labels equal to the drawn values, paths through their
keys, straight motion at the drawn velocity, growth at the drawn rate; bounces never below the floor and
never resting in the air; the planner (plan_track, control_vectors); drop_controls; the plain kinds' true
values. (The plain draw's digests are
test_draw.py.)
"""
import math
import os
import sys
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gt  # noqa: E402
import physics as P  # noqa: E402  (tools/physics.py, on the path through gt)

VOCAB = P.vocabulary()


def json_round(x):
    import json
    return json.loads(json.dumps(x))


def draw(kind, n, frames=16, fps=12.0, seed=0, late=0.0):
    rng = np.random.default_rng(seed)
    u = lambda: float(rng.random())  # noqa: E731
    out = []
    for i in range(n):
        shape = P.SHAPES[i % 3]
        c, word = P.draw_control(kind, u, frames, fps, 64, shape, late=late)
        out.append({"color": "red", "shape": shape, "motion": word, "bg": "navy", "control": c})
    return out


class TestControlVector(unittest.TestCase):
    def test_spec(self):
        self.assertEqual(P.control_vector(3, 12.0, 64, 64), [0.0] * 14)
        v = P.control_vector(5, 12.0, 64, 48, path=[(0, 10, 20), (10, 30, 40)], motion=(2, -1), gravity=240,
                             bounce=0.8, growth=-0.5)
        want = [20 / 64 * 2 - 1, 30 / 48 * 2 - 1, 1, 2 * 12 / 64, -12 / 48, 1, 240 / (4 * 48), 1, 0.8, 1, -0.5, 1,
                0, 0]  # the size group is planned, never given
        np.testing.assert_allclose(v, want, atol=1e-12)
        self.assertEqual(len(v), 14)

    def test_path_held_and_linear(self):
        path = [(4, 10, 10), (8, 30, 10), (12, 30, 50)]
        self.assertEqual(P.control_vector(0, 12, 64, 64, path=path)[:3], [10 / 32 - 1, 10 / 32 - 1, 1.0])
        self.assertEqual(P.control_vector(20, 12, 64, 64, path=path)[:3], [30 / 32 - 1, 50 / 32 - 1, 1.0])
        np.testing.assert_allclose(P.control_vector(10, 12, 64, 64, path=path)[:2], [30 / 32 - 1, 30 / 32 - 1])
        with self.assertRaises(ValueError):  # keys out of order: refused, as the engine's --path refuses them
            P.control_vector(6, 12, 64, 64, path=list(reversed(path)))

    def test_each_group_alone(self):
        for kw, idx in (({"motion": (1, 1)}, 5), ({"gravity": 100}, 7), ({"bounce": 0.5}, 9), ({"growth": 0.3}, 11)):
            v = P.control_vector(0, 12, 64, 64, **kw)
            self.assertEqual([i for i, x in enumerate(v) if x == 1.0 and i % 2 == 1 or (i == 2 and x)], [idx], kw)


class TestControlClips(unittest.TestCase):
    def clips(self, kind, n=60, frames=16, fps=12.0, seed=0, late=0.0):
        params = draw(kind, n, frames, fps, seed, late)
        truth = []
        cx, cy, r = gt.tracks(params, frames, fps=fps, u=lambda: 1 / 0, truth=truth)  # control clips draw nothing
        return params, truth, cx, cy, r

    def inside(self, params, cx, cy, r):
        for p, x, y, rr in zip(params, cx, cy, r):
            hw, up, down = np.array([P.extent(p["shape"], v) for v in rr]).T
            self.assertTrue(np.all(x - hw >= -1e-9) and np.all(x + hw <= 64 + 1e-9), p["control"])
            self.assertTrue(np.all(y - up >= -1e-9) and np.all(y + down <= 64 + 1e-9), p["control"])

    def test_captions_in_vocabulary(self):
        for kind in P.CONTROL_KINDS:
            for p in draw(kind, 40, seed=1):
                words = P.caption(p["color"], p["shape"], p["motion"], p["bg"]).split()
                self.assertTrue(all(w in VOCAB for w in words), words)
                self.assertIn(p["motion"], P.MOTIONS)
        self.assertEqual(len(VOCAB), 30)

    def test_motion(self):
        params, truth, cx, cy, r = self.clips("motion", frames=16)
        self.inside(params, cx, cy, r)
        speeds = []
        for p, tr, x, y in zip(params, truth, cx, cy):
            dx, dy = tr["motion"]
            np.testing.assert_allclose(np.diff(x), dx, atol=1e-9)
            np.testing.assert_allclose(np.diff(y), dy, atol=1e-9)
            ux, uy = P.DIRECTIONS[p["motion"]]
            self.assertGreater((dx * ux + dy * uy) / (math.hypot(ux, uy) * math.hypot(dx, dy)), math.cos(math.radians(22.6)))
            speeds.append(math.hypot(dx, dy))
        self.assertLess(min(speeds), 0.5)
        self.assertGreater(max(speeds), 2.5)

    def test_path(self):
        params, truth, cx, cy, r = self.clips("path", frames=16)
        self.inside(params, cx, cy, r)
        nkeys = set()
        for p, tr, x, y in zip(params, truth, cx, cy):
            keys = tr["path"]
            nkeys.add(len(keys))
            for f, kx, ky in keys:
                self.assertAlmostEqual(x[int(f)], kx, places=9)
                self.assertAlmostEqual(y[int(f)], ky, places=9)
            self.assertEqual((x[0], y[0]), (keys[0][1], keys[0][2]))  # held before the first key
            self.assertEqual((x[-1], y[-1]), (keys[-1][1], keys[-1][2]))
            net = (keys[-1][1] - keys[0][1], keys[-1][2] - keys[0][2])
            self.assertEqual(p["motion"], P._direction_word(*net))
            lab = P.control_labels([tr], 16, 12.0, 64, 64)[0]
            np.testing.assert_allclose([(v[0] + 1) * 32 for v in lab], x, atol=1e-9)
            np.testing.assert_allclose([(v[1] + 1) * 32 for v in lab], y, atol=1e-9)
        self.assertEqual(nkeys, {2, 3, 4})

    def test_growth(self):
        params, truth, cx, cy, r = self.clips("growth", frames=24)
        self.inside(params, cx, cy, r)
        signs = set()
        for p, tr, rr in zip(params, truth, r):
            np.testing.assert_allclose(np.diff(np.log(rr)) * 12, tr["growth"], rtol=1e-9)
            self.assertEqual(p["motion"], "growing" if tr["growth"] > 0 else "shrinking")
            signs.add(tr["growth"] > 0)
        self.assertEqual(signs, {True, False})

    def test_bounce_physics(self):
        """Never more than 1 px (here: at all) into the floor, never at rest above it; gravity and
        restitution drawn over their ranges; the labels carry them."""
        params, truth, cx, cy, r = self.clips("bounce", n=90, frames=96, fps=12.0, seed=2)
        self.inside(params, cx, cy, r)
        gs = [tr["gravity"] for tr in truth]
        es = [tr["bounce"] for tr in truth]
        self.assertTrue(min(gs) < 90 and max(gs) > 400 and min(es) < 0.4 and max(es) > 0.85, (min(gs), max(gs)))
        rested = 0
        for p, y, rr in zip(params, cy, r):
            floor = 64 - P.extent(p["shape"], rr[0])[2]
            self.assertLessEqual(float(y.max()), floor + 1e-9)
            # a still object (3 frames within 0.01 px) is on the floor
            for k in range(2, len(y)):
                if np.ptp(y[k - 2:k + 1]) < 0.01:
                    self.assertAlmostEqual(float(y[k]), floor, places=9)
                    rested += 1
        self.assertGreater(rested, 0)  # some come to rest within 8 s, on the floor
        v = P.control_labels(truth[:1], 2, 12.0, 64, 64)[0][1]
        self.assertEqual(v[6:10], [gs[0] / 256, 1.0, es[0], 1.0])
        # training's clips seen from later in the bounce: the same physics from t0 on
        params, truth, cx, cy, r = self.clips("bounce", n=60, frames=16, fps=12.0, seed=3, late=P.CTRL_BOUNCE_T0)
        t0s = [p["control"]["t0"] for p in params]
        self.assertTrue(min(t0s) < 0.3 and max(t0s) > 2.0, (min(t0s), max(t0s)))
        self.inside(params, cx, cy, r)
        still = 0  # the purpose: some show the object at rest on the floor, and none goes below it
        for p, y, rr in zip(params, cy, r):
            floor = 64 - P.extent(p["shape"], rr[0])[2]
            self.assertLessEqual(float(y.max()), floor + 1e-9)
            still += int(np.ptp(y[-4:]) < 0.01 and abs(float(y[-1]) - floor) < 1e-9)
        self.assertGreater(still, 3)

    def test_plan_track(self):
        """The planner (the engine's twin, compared with it by ref.controls): a motion alone is a straight line
        centred on the frame at the middle frame, stopped by the walls; a gravity or a bounce is a fall from
        the nominal start that reaches the floor (64 - 6.5) and never passes it; control_vectors puts the plan
        in the path group beside the given groups, and a given path wins."""
        tr = P.plan_track(24, 12.0, 64, 64, motion=(1.0, -0.5))
        self.assertEqual(tr[0], (32 - 11.5, 32 + 5.75))
        self.assertEqual(tr[23], (32 + 11.5, 32 - 5.75))
        tr = P.plan_track(24, 12.0, 64, 64, motion=(4.0, 0.0))
        self.assertEqual((tr[0][0], tr[23][0]), (6.5, 57.5))
        self.assertIsNone(P.plan_track(24, 12.0, 64, 64))
        for g, e in ((100.0, 0.4), (450.0, 0.9), (None, 0.5), (250.0, None)):
            tr = P.plan_track(48, 12.0, 64, 64, gravity=g, bounce=e)
            ys = [y for _, y in tr]
            self.assertEqual(tr[0], (20.0, 13.5))
            self.assertLessEqual(max(ys), 57.5)
            self.assertGreater(max(ys), 55.0, (g, e))
            self.assertTrue(any(b < a for a, b in zip(ys, ys[1:])), (g, e))  # it rises again: a bounce
        v = P.control_vectors(24, 12.0, 64, 64, motion=(1.0, -0.5), growth=0.3)
        self.assertEqual(v[0][:3], [(32 - 11.5) / 32 - 1, (32 + 5.75) / 32 - 1, 1.0])
        self.assertEqual(v[0][3:12], P.control_vector(0, 12.0, 64, 64, motion=(1.0, -0.5), growth=0.3)[3:12])
        # the planned size: 8.4 px at the middle frame 11.5, times exp(0.3 t); v = r / 32
        self.assertAlmostEqual(v[0][12], 8.4 * math.exp(0.3 * -11.5 / 12) / 32, places=12)
        self.assertAlmostEqual(v[23][12], 8.4 * math.exp(0.3 * 11.5 / 12) / 32, places=12)
        self.assertEqual(v[0][13], 1.0)
        v = P.control_vectors(24, 12.0, 64, 64, path=[(0, 10, 10)], gravity=250.0)
        self.assertEqual(v[5][:3], [10 / 32 - 1, 10 / 32 - 1, 1.0])
        self.assertEqual(v[5][12:], [0.0, 0.0])  # no growth, no size
        # a growth alone: the object held at the frame's centre; a fast one held within 3.5 .. 20 px
        self.assertEqual(P.control_vectors(3, 12.0, 64, 64, growth=0.5)[1][:3], [0.0, 0.0, 1.0])
        rs = P.plan_size(32, 12.0, 64, 64, 3.0)
        self.assertEqual((rs[0], rs[31]), (3.5, 20.0))
        self.assertEqual(P.plan_size(32, 12.0, 128, 96, 3.0)[31], 30.0)  # scaled to the smaller side

    def test_drop(self):
        rng = np.random.default_rng(0)
        lab = P.control_labels([{"path": [(0, 1, 2)], "motion": (1, 1), "gravity": 1, "bounce": .5, "growth": .1}] * 400,
                               3, 12.0, 64, 64)
        d = P.drop_controls(lab, 0.3, lambda: float(rng.random()))
        for g, idx in P.CONTROL_GROUPS.items():
            flag = idx[-1]
            kept = np.mean([c[0][flag] for c in d])
            self.assertTrue(0.63 < kept < 0.77, (g, kept))
            for c in d:  # a group goes whole, on every frame
                self.assertTrue(all(all(f[i] == 0 for i in idx) for f in c) or all(f[flag] == 1 for f in c))
        self.assertEqual(P.drop_controls(lab, 0.0, lambda: 0.5), lab)

    def test_plain_truth(self):
        params = gt.balanced_params(33, seed=0)
        truth = []
        rng = np.random.default_rng(1)
        cx, cy, r = gt.tracks(params, 16, u=lambda: float(rng.random()), truth=truth)
        self.assertEqual(len(truth), 33)
        for p, tr, x, y, rr in zip(params, truth, cx, cy, r):
            if p["motion"] in P.DIRECTIONS:
                np.testing.assert_allclose(np.diff(x), tr["motion"][0], atol=1e-6)
                np.testing.assert_allclose(np.diff(y), tr["motion"][1], atol=1e-6)
            elif p["motion"] == "bouncing":
                self.assertEqual(tr["gravity"], P.GRAVITY)
            else:
                np.testing.assert_allclose(np.diff(np.log(rr)) * 12, tr["growth"], rtol=1e-6)
            # the centre per frame, as planned; a growth's radius too
            lab = P.control_labels([tr], 16, 12.0, 64, 64, centres=([x], [y]), radii=[rr])[0]
            self.assertEqual([v[:3] for v in lab], [[a / 32 - 1, b / 32 - 1, 1.0] for a, b in zip(x, y)])
            if p["motion"] in ("growing", "shrinking"):
                self.assertEqual([v[12:] for v in lab], [[s / 64 * 2, 1.0] for s in rr])
            else:
                self.assertEqual([v[12:] for v in lab], [[0.0, 0.0]] * 16)
            self.assertEqual(P.control_labels([tr], 16, 12.0, 64, 64)[0][3][:3], [0.0, 0.0, 0.0])

    def test_suite_file(self):
        """controls.json is controls.suite(): >= 48 clips of every kind, prompts in the vocabulary, flags
        that say what the controls say."""
        import controls
        import motion as M
        items = controls.load_suite()
        self.assertEqual(items, json_round(controls.suite()))
        self.assertGreaterEqual(len(items), 48)
        self.assertEqual({c["kind"] for c in items}, set(P.CONTROL_KINDS))
        for c in items:
            self.assertTrue(all(w in VOCAB for w in c["prompt"].split()), c["prompt"])
            fl, ctl = c["flags"], c["controls"]
            if "path" in ctl:
                self.assertEqual(M.parse_path(fl[1]), [tuple(k) for k in ctl["path"]])
                self.assertTrue(all(0 <= f < c["frames"] and 0 < x < 64 and 0 < y < 64 for f, x, y in ctl["path"]))
            if "motion" in ctl:
                self.assertEqual([float(x) for x in fl[1].split(",")], ctl["motion"])
            for k in ("gravity", "bounce", "growth"):
                if k in ctl:
                    self.assertEqual(float(fl[fl.index("--" + k) + 1]), ctl[k])

    def test_torch_side(self):
        """shapes.py (torch) makes the same control clips and labels as gt.py (numpy)."""
        try:
            import torch
        except ImportError:
            self.skipTest("no torch")
        sys.path.insert(0, os.path.join(HERE, "..", "train"))
        import shapes
        params = [p for k in P.CONTROL_KINDS for p in draw(k, 6, 24, 12.0, 7)]
        tt, tg = [], []
        a = shapes.tracks(params, 24, truth=tt)
        b = gt.tracks(params, 24, truth=tg)
        for x, y in zip(a, b):
            np.testing.assert_allclose(x.numpy(), y, atol=1e-9)
        self.assertEqual(tt, tg)
        lab = shapes.control_labels(tt, 24)
        np.testing.assert_allclose(lab.numpy(), np.array(P.control_labels(tg, 24, 12.0, 64, 64), np.float32))
        g = torch.Generator().manual_seed(0)
        v, caps, ps, lab = shapes.batch(32, 16, g, controls=True, control_drop=0.1)
        self.assertEqual(tuple(lab.shape), (32, 16, 12))
        self.assertTrue(any("control" in p for p in ps) and not all("control" in p for p in ps))
        self.assertTrue(all(w in VOCAB for c in caps for w in c.split()))


if __name__ == "__main__":
    unittest.main()
