"""Prompt-weight study: does a word's weight control its attribute?

16 prompts of the suite (tools/eval/suite.py, ids 0-15: every motion, every shape), 16 frames, 20 steps,
seeds 100 + id (as the suite). For each attribute a in colour, shape, motion and weight w in 0, 0.25,
0.5, 1, the prompt with a's word(s) weighted (`red::w`, `circle::w`, `(moving left)::w` or `bouncing::w`;
w = 1 is the unweighted prompt, which is bit for bit the same video, tested in the engine's tests), and
the adherence of every attribute to the unweighted prompt (score.py).

    /usr/bin/python3 tools/eval/weights.py --bin build/timeshard --out eval-out/weights [--jobs 2]
        [--threads 1] [--weights 0,0.25,0.5,1] [--limit 16] [--md tools/eval/results/weights.md]
Videos already in --out are reused. Chance: tools/eval/README.md (two captions of the dataset agree).
"""
import argparse
import json
import os
import re
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import score  # noqa: E402
import suite as S  # noqa: E402
from story import run_jobs  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
ATTRS = ("color", "shape", "motion", "bg")
NAMES = {"color": "colour", "shape": "shape", "motion": "motion", "bg": "background"}
CHANCE = {"color": 12.3, "shape": 33.1, "motion": 8.9, "bg": 8.2}  # tools/eval/README.md, validate.py


def weighted(p, attr, w):
    """The suite prompt p with attribute attr's word(s) at weight w (w == 1: the plain caption)."""
    text = p["prompt"]
    if w == 1:
        return text
    ws = f"{w:g}"
    if attr == "color":  # the first occurrence is the object's (the background differs from it)
        new, n = re.subn(rf"\b{p['color']}\b", f"{p['color']}::{ws}", text, count=1)
    elif attr == "shape":
        new, n = re.subn(rf"\b{p['shape']}\b", f"{p['shape']}::{ws}", text, count=1)
    else:
        m = p["motion"]
        words = m if m in ("growing", "shrinking", "bouncing") else f"moving {m}"
        rep = f"{words}::{ws}" if " " not in words else f"({words})::{ws}"
        new, n = re.subn(rf"\b{words}\b", rep, text, count=1)
    assert n == 1, (text, attr)
    return new


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default=os.path.join(ROOT, "build", "timeshard"))
    p.add_argument("--model", default=os.path.join(ROOT, "models", "default.h5"))
    p.add_argument("--out", default="eval-out/weights")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--weights", default="0,0.25,0.5,1")
    p.add_argument("--attrs", default="color,shape,motion")
    p.add_argument("--limit", type=int, default=16)
    p.add_argument("--md", default=None)
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    ws = [float(x) for x in a.weights.split(",")]
    attrs = a.attrs.split(",")
    prompts = S.suite()[:a.limit]

    def path(p, attr, w):
        return os.path.join(a.out, f"p{p['id']}_plain.mp4" if w == 1 else f"p{p['id']}_{attr}_{w:g}.mp4")

    jobs, seen = [], set()
    # the ends first (weight 0, then the plain prompt once per prompt), then the weights between
    for w in sorted(ws, key=lambda x: (x not in (0, 1), x)):
        for at in attrs:
            for q in prompts:
                out = path(q, at, w)
                if out in seen:
                    continue
                seen.add(out)
                jobs.append(([a.bin, "generate", "--model", a.model, "--prompt", weighted(q, at, w),
                              "--frames", str(a.frames), "--steps", str(a.steps), "--seed", str(q["seed"]),
                              "--threads", str(a.threads), "--out", out, "-q"], out))
    run_jobs(jobs, a.jobs)

    res, rows = {}, []
    for at in attrs:
        for w in ws:
            oks = {k: [] for k in ATTRS + ("presence",)}
            for q in prompts:
                s = score.score_video(score.read_video(path(q, at, w)), q["prompt"])
                rows.append({"id": q["id"], "attr": at, "w": w, "prompt": weighted(q, at, w), "got": s["got"],
                             "presence": s["presence"], **{k + "_ok": s[k + "_ok"] for k in ATTRS}})
                for k in ATTRS:
                    oks[k].append(bool(s[k + "_ok"]))
                oks["presence"].append(s["presence"])
            res[(at, w)] = {k: 100.0 * np.mean(v) for k, v in oks.items()}

    L = [f"{len(prompts)} suite prompts (ids 0-{len(prompts) - 1}), {a.frames} frames, {a.steps} steps, seeds "
         f"100 + id, default model; adherence to the unweighted prompt (score.py) with one attribute's word(s) "
         f"at weight w (w = 1: the unweighted prompt).", "",
         "| weighted word | w | colour | shape | motion | background | object present (frames) |",
         "|---|---|---|---|---|---|---|"]
    for at in attrs:
        for w in ws:
            r = res[(at, w)]
            L.append(f"| {NAMES[at]} | {w:g} | " + " | ".join(
                (f"**{r[k]:.1f}%**" if k == at else f"{r[k]:.1f}%") for k in ATTRS) + f" | {r['presence']:.1f}% |")
    L.append("| chance | | " + " | ".join(f"{CHANCE[k]:.1f}%" for k in ATTRS) + " | |")
    L += ["", "Bold: the weighted attribute. Chance: two captions of the dataset agree (tools/eval/README.md). "
          "A video with no object scores no colour, shape or motion (all count as misses).", ""]
    checks = []
    for at in attrs:
        seq = [res[(at, w)][at] for w in sorted(ws)]
        mono = all(x <= y + 1e-9 for x, y in zip(seq, seq[1:]))
        others = max(abs(res[(at, 0.0)][k] - res[(at, 1.0)][k]) for k in ATTRS if k != at) if 0.0 in ws and 1.0 in ws else float("nan")
        checks.append(f"- {NAMES[at]}: adherence {' -> '.join(f'{x:.1f}' for x in seq)} for w = "
                      f"{', '.join(f'{w:g}' for w in sorted(ws))} ({'monotone' if mono else 'NOT monotone'}); "
                      f"at w = 0 {res[(at, 0.0)][at]:.1f}% vs chance {CHANCE[at]:.1f}%; largest change of another "
                      f"attribute at w = 0: {others:.1f} points")
    L += checks + [""]
    table = "\n".join(L)
    print(table)
    with open(os.path.join(a.out, "weights.json"), "w") as f:
        json.dump(rows, f, default=str)
    if a.md:
        with open(a.md, "w") as f:
            f.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
