"""Storyboard study: does each segment of a storyboard follow its own prompt?

8 three-segment storyboards of 48 frames, segments 0-13, 14-33, 34-47 (uneven, so that the 3-rank
partition 0-15 | 16-31 | 32-47 does not line up with them), prompts from the suite (tools/eval/suite.py,
ids 0-23: consecutive prompts differ in motion and shape, mostly in colour and background), seed 200 + i.

  1. each storyboard on 3 ranks (mpirun -np 3) and on 1 rank: the final latents must be bit-identical;
  2. each segment's frames of the 3-rank video, scored against that segment's prompt (score.py);
  3. for comparison, a single-prompt 48-frame video of each segment's prompt with the same seed, the same
     frame range scored against the same prompt.
Reports adherence per attribute over the 24 segments, storyboard vs single prompt, and the difference.

    /usr/bin/python3 tools/eval/story.py --bin build/timeshard --out eval-out/story [--blend 0,4]
        [--jobs 2] [--threads 1] [--steps 20] [--limit N] [--md tools/eval/results/story.md]
Videos already in --out are reused.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import score  # noqa: E402
import suite as S  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
FRAMES = 48
SEGS = [(0, 13), (14, 33), (34, 47)]
RANKS = 3
ATTRS = ("color", "shape", "motion", "bg")
NAMES = {"color": "colour", "shape": "shape", "motion": "motion", "bg": "background"}
TARGET = 5.0  # points


def boards(n=8):
    prompts = S.suite()
    return [{"id": i, "seed": 200 + i, "segs": [(a, b, prompts[3 * i + k]["prompt"]) for k, (a, b) in enumerate(SEGS)]}
            for i in range(n)]


def base_cmd(a, seed, out, latents, np_=1):
    cmd = []
    if np_ > 1:
        cmd = [a.mpirun, "--oversubscribe", "--bind-to", "none", "-np", str(np_)]
    cmd += [a.bin, "generate", "--model", a.model, "--frames", str(FRAMES), "--steps", str(a.steps),
            "--seed", str(seed), "--threads", str(a.threads), "--out", out, "-q"]
    if latents:
        cmd += ["--latents", latents]
    return cmd


def run_jobs(jobs, n):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1")
    todo = [(c, o) for c, o in jobs if not os.path.exists(o)]
    done = []

    def one(job):
        cmd, out = job
        t0 = time.time()
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0 or not os.path.exists(out):
            raise RuntimeError(f"failed (rc={r.returncode}): {shlex.join(cmd)}\n{r.stderr[-800:]}")
        done.append(1)
        print(f"  [{len(done)}/{len(todo)}] {time.time() - t0:6.1f} s  {os.path.basename(out)}", flush=True)

    if todo:
        print(f"generating {len(todo)} videos, {n} at a time", flush=True)
        with ThreadPoolExecutor(max(1, n)) as ex:
            list(ex.map(one, todo))


def latents(path):
    import h5py  # only for the bit-identity check
    with h5py.File(path, "r") as f:
        return f["/latents"][()]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default=os.path.join(ROOT, "build", "timeshard"))
    p.add_argument("--model", default=os.path.join(ROOT, "models", "default.h5"))
    p.add_argument("--mpirun", default="mpirun")
    p.add_argument("--out", default="eval-out/story")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--jobs", type=int, default=2, help="1-rank runs at once (3-rank runs go one at a time)")
    p.add_argument("--blend", default="0", help="comma-separated --blend values; the first is the main table")
    p.add_argument("--limit", type=int, default=8)
    p.add_argument("--md", default=None)
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    blends = [int(x) for x in a.blend.split(",")]
    bs = boards(a.limit)
    for b in bs:
        with open(os.path.join(a.out, f"story{b['id']}.txt"), "w") as f:
            f.write("".join(f"{s}-{e}: {pr}\n" for s, e, pr in b["segs"]))

    def sb(b, blend, np_):
        tag = f"story{b['id']}_b{blend}_np{np_}"
        out = os.path.join(a.out, tag + ".mp4")
        cmd = base_cmd(a, b["seed"], out, os.path.join(a.out, tag + ".h5"), np_)
        cmd += ["--storyboard", os.path.join(a.out, f"story{b['id']}.txt"), "--blend", str(blend)]
        return cmd, out

    def single(b, k):
        out = os.path.join(a.out, f"single{b['id']}_{k}.mp4")
        cmd = base_cmd(a, b["seed"], out, None) + ["--prompt", b["segs"][k][2]]
        return cmd, out

    run_jobs([sb(b, bl, RANKS) for b in bs for bl in blends], 1)  # 3 processes each
    run_jobs([sb(b, bl, 1) for b in bs for bl in blends] + [single(b, k) for b in bs for k in range(3)], a.jobs)

    ident = {}
    for bl in blends:
        ident[bl] = [bool(np.array_equal(latents(os.path.join(a.out, f"story{b['id']}_b{bl}_np{RANKS}.h5")),
                                         latents(os.path.join(a.out, f"story{b['id']}_b{bl}_np1.h5")))) for b in bs]
    rows = []
    for b in bs:
        vids = {bl: score.read_video(os.path.join(a.out, f"story{b['id']}_b{bl}_np{RANKS}.mp4")) for bl in blends}
        for k, (s, e, pr) in enumerate(b["segs"]):
            sv = score.read_video(os.path.join(a.out, f"single{b['id']}_{k}.mp4"))
            r = {"board": b["id"], "seg": k, "frames": [s, e], "prompt": pr,
                 "single": score.score_video(sv[s:e + 1], pr)}
            for bl in blends:
                r[f"story_b{bl}"] = score.score_video(vids[bl][s:e + 1], pr)
            rows.append(r)

    def pct(key, at):
        v = [r[key][at + "_ok"] for r in rows if r[key][at + "_ok"] is not None]
        return 100.0 * sum(v) / max(len(v), 1)

    L = [f"{len(bs)} storyboards x 3 segments ({', '.join(f'{s}-{e}' for s, e in SEGS)} of {FRAMES} frames; "
         f"{RANKS} ranks own 0-15, 16-31, 32-47), {a.steps} steps, seeds 200-{199 + len(bs)}, default model. "
         f"Adherence over the {len(rows)} segments (score.py on each segment's frames of the H.264 video); "
         f"single prompt: a {FRAMES}-frame video of the segment's prompt, same seed, same frame range.", "",
         "| attribute | single prompt | " + " | ".join(f"storyboard, blend {bl}" for bl in blends) + " | "
         + " | ".join(f"difference, blend {bl} (points)" for bl in blends) + " |",
         "|---|---|" + "---|" * (2 * len(blends))]
    verdict = {}
    for at in ATTRS:
        one = pct("single", at)
        st = [pct(f"story_b{bl}", at) for bl in blends]
        verdict[at] = abs(st[0] - one) <= TARGET or st[0] >= one
        L.append(f"| {NAMES[at]} | {one:.1f}% | " + " | ".join(f"{x:.1f}%" for x in st) + " | "
                 + " | ".join(f"{x - one:+.1f}" for x in st) + " |")
    L += ["", "3 ranks vs 1 rank, final latents bit-identical: "
          + ", ".join(f"blend {bl}: {sum(ident[bl])}/{len(bs)}" for bl in blends), "",
          "Per segment (blend %d): board/segment, frames, prompt, single -> storyboard got (colour shape motion bg)"
          % blends[0], ""]
    for r in rows:
        g1, g2 = r["single"]["got"], r[f"story_b{blends[0]}"]["got"]
        L.append(f"- {r['board']}/{r['seg']} {r['frames'][0]}-{r['frames'][1]} \"{r['prompt']}\": "
                 f"{g1['color']} {g1['shape']} {g1['motion']} {g1['bg']} -> "
                 f"{g2['color']} {g2['shape']} {g2['motion']} {g2['bg']}")
    L += ["", "Within %g points (or better) of single-prompt, blend %d: " % (TARGET, blends[0])
          + ", ".join(f"{NAMES[k]} {'yes' if v else 'NO'}" for k, v in verdict.items()), ""]
    table = "\n".join(L)
    print(table)
    with open(os.path.join(a.out, "story.json"), "w") as f:
        json.dump({"rows": [{k: v for k, v in r.items()} for r in rows], "identical": ident}, f, default=str)
    if a.md:
        with open(a.md, "w") as f:
            f.write(table)
    return 0 if all(verdict.values()) and all(all(v) for v in ident.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
