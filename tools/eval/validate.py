"""Validate the scorer on ground-truth clips (numpy only; exits non-zero when it falls short).

    /usr/bin/python3 tools/eval/validate.py                 # 330 clips, 16 frames at 12 fps
    /usr/bin/python3 tools/eval/validate.py --mp4           # the same clips through H.264 (as the engine writes)
    /usr/bin/python3 tools/eval/validate.py --quick         # 132 clips, for CI

Clips are rendered by tools/eval/gt.py (the numpy port of tools/train/shapes.py, checked against it by
check_port.py) over every colour x shape x motion (held-out pairs included), backgrounds drawn among
those allowed. Each is scored against its own caption (every attribute must reach --min, default 98%)
and against a shuffled caption (must land within --chance-tol of chance, where chance is the
probability that two captions drawn from the same set agree on the attribute).
"""
import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gt  # noqa: E402
import score  # noqa: E402

ATTRS = ("color", "shape", "motion", "bg")


def blur(vids, sigma):
    """Separable Gaussian blur over the two image axes (edges clamped), uint8 in and out."""
    r = max(1, int(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    f = vids.astype(np.float32)
    for ax in (-3, -2):
        n = f.shape[ax]
        pad = [(0, 0)] * f.ndim
        pad[ax] = (r, r)
        g = np.pad(f, pad, mode="edge")
        f = sum(w * np.take(g, np.arange(i, i + n), axis=ax) for i, w in enumerate(k))
    return np.clip(np.floor(f + 0.5), 0, 255).astype(np.uint8)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=330, help="clips (default 330: every colour x shape x motion, some twice)")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--fps", type=float, default=12.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mp4", action="store_true", help="encode each clip as H.264 MP4 and decode it before scoring")
    ap.add_argument("--blur", type=float, default=0.0, help="Gaussian blur (sigma, px) before scoring")
    ap.add_argument("--quick", action="store_true", help="132 clips (CI)")
    ap.add_argument("--min", type=float, default=0.98, help="required accuracy on true captions (default 0.98)")
    ap.add_argument("--chance-tol", type=float, default=0.10, help="shuffled accuracy within this of chance")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every miss")
    a = ap.parse_args(argv)
    n = 132 if a.quick else a.n
    t0 = time.time()
    params = gt.balanced_params(n, seed=a.seed)
    vids, caps, _ = gt.clips(params, frames=a.frames, fps=a.fps, seed=a.seed)
    if a.mp4:  # all clips one after another in one MP4 (one encode, one decode)
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "v.mp4")
            score.write_mp4(p, vids.reshape(-1, *vids.shape[2:]), fps=int(round(a.fps)))
            dec = score.read_video(p)
            assert dec.shape[0] == vids.shape[0] * vids.shape[1], f"decoded {dec.shape[0]} frames"
            vids = dec.reshape(vids.shape)
    if a.blur > 0:
        vids = blur(vids, a.blur)
    dets = [score.detect_video(v) for v in vids]
    true = [score.score_video(None, c, a.fps, dets=d) for c, d in zip(caps, dets)]
    rng = np.random.default_rng(a.seed + 1)
    perm = rng.permutation(n)
    shuf = [score.score_video(None, caps[j], a.fps, dets=d) for j, d in zip(perm, dets)]
    labels = {k: [p["bg" if k == "bg" else k] for p in params] for k in ATTRS}
    res, ok = {}, True
    print(f"# scorer validation: {n} ground-truth clips, {a.frames} frames at {a.fps:g} fps"
          f"{', through H.264 MP4' if a.mp4 else ''}{f', blurred (sigma {a.blur:g} px)' if a.blur else ''} ({time.time() - t0:.1f} s)")
    print("| attribute | true captions | shuffled captions | chance | verdict |")
    print("|---|---|---|---|---|")
    for k in ATTRS:
        acc = float(np.mean([s[k + "_ok"] for s in true]))
        sacc = float(np.mean([s[k + "_ok"] for s in shuf]))
        cnt = Counter(labels[k])
        chance = sum(c * (c - 1) for c in cnt.values()) / (n * (n - 1))
        good = acc >= a.min and abs(sacc - chance) <= a.chance_tol
        ok &= good
        res[k] = {"true": acc, "shuffled": sacc, "chance": chance, "ok": good}
        print(f"| {k} | {100 * acc:.1f}% | {100 * sacc:.1f}% | {100 * chance:.1f}% | {'OK' if good else 'FAIL'} |")
    pres = float(np.mean([s["presence"] for s in true]))
    cp = float(np.mean([s["color_persistence"] for s in true]))
    sp = float(np.mean([s["shape_persistence"] for s in true]))
    print(f"presence {100 * pres:.1f}%, colour persistence {100 * cp:.1f}%, shape persistence {100 * sp:.1f}%")
    res["persistence"] = {"presence": pres, "color": cp, "shape": sp}
    jumpy = float(np.mean([s["jumps"] > 0 for s in true]))
    rob = float(np.mean([s["motion_robust_ok"] for s in true]))
    print(f"diagnostics: motion from median steps {100 * rob:.1f}%, clips with a jump {100 * jumpy:.1f}%")
    res["diagnostics"] = {"motion_robust": rob, "jumpy": jumpy}
    misses = [(c, k, s["got"][k]) for c, s in zip(caps, true) for k in ATTRS if not s[k + "_ok"]]
    if misses:
        print(f"{len(misses)} misses" + ("" if a.verbose else " (first 10; -v for all)") + ":")
        for c, k, g in misses if a.verbose else misses[:10]:
            print(f"  {c!r}: {k} read as {g}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    print("PASSED" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
