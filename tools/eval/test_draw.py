"""The dataset's existing draw stays what the shipped model was trained on (numpy only, a few seconds):

    /usr/bin/python3 tools/eval/test_draw.py            # checks
    /usr/bin/python3 tools/eval/test_draw.py --print    # prints the digests (to record new ones)

Hashes the tracks (rounded to 1e-9 px) and the uint8 renders of fixed-seed clips made by tools/eval/gt.py
(tools/physics.py's tracks on numpy, the numpy renderer): every colour x shape x motion at 16 frames, 48
frames from t0 = 0.5 s, and 24 fps. The digests were recorded before the control clip kinds were added to
tools/physics.py; any change to the draw (order or values of the random numbers, the motion, the renderer)
changes them. With torch (tools/train's venv) it also hashes tools/train/shapes.py's batch() from a fixed
torch.Generator seed; without torch that case is skipped.
"""
import hashlib
import os
import sys
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gt  # noqa: E402

# recorded on the draw as shipped (models/default.h5's training data), before control clips existed
DIGESTS = {
    "gt-330x16": "9698722e2f8e950b350c15b0a99e781d",
    "gt-66x48-t0.5": "29d5006701b7855324a4c1272da4c536",
    "gt-66x16-24fps": "f42d2f69f55a40b2925cf57f8b6176c1",
}
TORCH_DIGEST = "73decfed5ffd44543c333f138f6ab6ff"


def _digest(vids, tr):
    h = hashlib.sha256()
    for a in tr:
        h.update(np.round(np.asarray(a, np.float64), 9).tobytes())
    h.update(np.ascontiguousarray(vids, np.uint8).tobytes())
    return h.hexdigest()[:32]


def gt_digests():
    out = {}
    p = gt.balanced_params(330, seed=0)
    vids, caps, tr = gt.clips(p, frames=16, seed=1)
    out["gt-330x16"] = _digest(vids, tr)
    p = gt.balanced_params(66, seed=3)
    vids, caps, tr = gt.clips(p, frames=48, seed=4, t0=0.5)
    out["gt-66x48-t0.5"] = _digest(vids, tr)
    vids, caps, tr = gt.clips(p, frames=16, fps=24.0, seed=5)
    out["gt-66x16-24fps"] = _digest(vids, tr)
    return out


def torch_digest():
    import torch
    sys.path.insert(0, os.path.join(HERE, "..", "train"))
    import shapes
    g = torch.Generator().manual_seed(0)
    h = hashlib.sha256()
    for _ in range(3):
        v, caps, params = shapes.batch(16, 16, g)
        h.update(np.round(v.numpy().astype(np.float64), 6).tobytes())
        h.update("\n".join(caps).encode())
    return h.hexdigest()[:32]


class TestExistingDraw(unittest.TestCase):
    def test_gt_clips_unchanged(self):
        got = gt_digests()
        for k, want in DIGESTS.items():
            self.assertEqual(got[k], want, f"{k}: the existing draw changed")

    def test_shapes_batch_unchanged(self):
        try:
            import torch  # noqa: F401
        except ImportError:
            self.skipTest("no torch")
        self.assertEqual(torch_digest(), TORCH_DIGEST, "shapes.batch: the existing draw changed")


if __name__ == "__main__":
    if "--print" in sys.argv:
        for k, v in gt_digests().items():
            print(f"{k:16s} {v}")
        try:
            print(f"{'torch-batch':16s} {torch_digest()}")
        except ImportError:
            print("torch-batch      (no torch)")
        sys.exit(0)
    unittest.main()
