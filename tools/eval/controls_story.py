"""Storyboards whose segments carry different controls (issue 19): does each segment follow its own?
And do 3 ranks give the 1-rank video? numpy (+ h5py) only; the engine does the generating.

    /usr/bin/python3 tools/eval/controls_story.py --model MODEL.h5 --out runs/ctl-story [--ranks 3]

Each storyboard has two 24-frame segments with different controls (paths; a path then a motion; a
bounce then a motion, planned on from where the bounce ends). The
video is generated with the segments' settings and, as the baseline, with the same lines without them;
each segment's track is measured against its own commanded path (tools/eval/motion.py path_error,
frames global). With --ranks P the controlled videos are generated again on P ranks (mpirun) and
compared byte for byte. Writes OUT/table.md and OUT/results.json.
"""
import argparse
import json
import math
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import motion as M  # noqa: E402
import score  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
STORIES = [  # (lines: (first, last, prompt, settings or "")); a path's keys are global frame indices
    [(0, 23, "a red circle moving right on a black background", "path=0:14,32;23:50,32"),
     (24, 47, "a red circle moving up on a black background", "path=24:32,50;47:32,14")],
    [(0, 23, "a green square moving down right on a white background", "path=0:14,14;23:50,50"),
     (24, 47, "a green square moving left on a white background", "path=24:50,20;47:14,44")],
    [(0, 23, "a blue triangle moving down on a yellow background", "path=0:20,14;12:44,32;23:20,50"),
     (24, 47, "a blue triangle moving right on a yellow background", "motion=1.5,0")],
    [(0, 23, "an orange circle bouncing on a navy background", "gravity=450 bounce=0.8"),
     (24, 47, "an orange circle moving left on a navy background", "motion=-1,-0.5")],
]


def story_text(lines, with_settings):
    return "".join(f"{a}-{b}: {p}" + (f" | {s}" if with_settings and s else "") + "\n" for a, b, p, s in lines)


def parse_settings(s):
    out = {}
    for kv in s.split():
        k, v = kv.split("=", 1)
        if k == "path":  # keys joined by ';' on a storyboard line, by spaces on the command line
            out["path"] = M.parse_path(v.replace(";", " "))
        elif k == "motion":
            out["motion"] = tuple(float(x) for x in v.split(","))
        elif k in ("gravity", "bounce"):
            out[k] = float(v)
    return out


def generate(a, story_path, out, ranks=1):
    cmd = [a.bin, "generate", "--model", a.model, "--storyboard", story_path, "--frames", "48", "--steps",
           str(a.steps), "--seed", str(a.seed), "--out", out, "-q", "--threads", str(a.threads)]
    if ranks > 1:
        cmd = ["mpirun", "--oversubscribe", "-np", str(ranks)] + cmd
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(f"engine failed (rc {r.returncode}): {r.stderr.strip()[-400:]}")


def segment_errors(video, lines, fps):
    frames = score.read_video(video)
    out = []
    for a, b, _, s in lines:
        ctl = parse_settings(s)
        tr = M.measure(frames[a:b + 1])
        m = M.compare(tr, fps, path=ctl.get("path"), motion=ctl.get("motion"), gravity=ctl.get("gravity"),
                      bounce=ctl.get("bounce"), f0=a)
        row = {"frames": f"{a}-{b}", "settings": s}
        if "path" in ctl:
            pe = m.get("path_error")
            row["path_rms_px"] = pe["rms"] if pe else None
        if "motion" in ctl:
            row["direction_err_deg"] = m.get("direction_err_deg")
            row["speed_rel_err"] = m.get("speed_rel_err")
        if "gravity" in ctl:
            row["gravity_rel_err"] = m.get("gravity_rel_err")
            row["bounce_abs_err"] = m.get("bounce_abs_err")
        out.append(row)
    return out


def fmt(v, f):
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f.format(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 1)[1])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "timeshard"))
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", default="eval-out/controls-story")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--fps", type=float, default=12.0)
    ap.add_argument("--ranks", type=int, default=0, help="also generate the controlled videos on this many ranks")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    res = []
    L = [f"Storyboards with different controls per segment, {len(STORIES)} stories x 2 segments, 48 frames, "
         f"{a.steps} steps, seed {a.seed}, model {a.model}", "",
         f"`/usr/bin/python3 tools/eval/controls_story.py {' '.join(sys.argv[1:])}`", "",
         "| story | frames | settings | controlled: path RMS px / motion dir err deg, speed err / gravity, "
         "restitution err | baseline (no settings) |",
         "|---|---|---|---|---|"]
    for i, lines in enumerate(STORIES):
        rec = {"story": i}
        for half, with_s in (("ctl", True), ("base", False)):
            sp = os.path.join(a.out, f"story{i}-{half}.txt")
            with open(sp, "w") as f:
                f.write(story_text(lines, with_s))
            vid = os.path.join(a.out, f"story{i}-{half}.h5")
            if not os.path.exists(vid):
                generate(a, sp, vid)
            rec[half] = segment_errors(vid, lines, a.fps)
        if a.ranks > 1:
            vid = os.path.join(a.out, f"story{i}-ctl-np{a.ranks}.h5")
            if not os.path.exists(vid):
                generate(a, os.path.join(a.out, f"story{i}-ctl.txt"), vid, a.ranks)
            import h5py
            with h5py.File(vid) as f1, h5py.File(os.path.join(a.out, f"story{i}-ctl.h5")) as f0:
                rec["ranks_equal"] = bool(np.array_equal(f1["frames"][:], f0["frames"][:]))
        res.append(rec)
        for c, b in zip(rec["ctl"], rec["base"]):
            def cell(r):
                if "path_rms_px" in r:
                    return fmt(r["path_rms_px"], "{:.2f} px")
                if "gravity_rel_err" in r:
                    return (f"gravity {fmt(r.get('gravity_rel_err'), '{:+.0%}')}, restitution "
                            f"{fmt(r.get('bounce_abs_err'), '{:+.2f}')}")
                return f"{fmt(r.get('direction_err_deg'), '{:.1f}')} deg, {fmt(r.get('speed_rel_err'), '{:+.0%}')}"
            L.append(f"| {i} | {c['frames']} | `{c['settings']}` | {cell(c)} | {cell(b)} |")
    if a.ranks > 1:
        eq = [r["ranks_equal"] for r in res]
        L += ["", f"{a.ranks} ranks give the 1-rank frames byte for byte: {sum(eq)}/{len(eq)} stories"]
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.join(a.out, "table.md"), "w") as f:
        f.write("\n".join(L) + "\n")
    print("\n".join(L))
    return 0 if all(r.get("ranks_equal", True) for r in res) else 1


if __name__ == "__main__":
    sys.exit(main())
