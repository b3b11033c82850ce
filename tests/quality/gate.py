"""Quality gate: generate a handful of prompts with the shipped model and fail when the scores drop
below tests/quality/thresholds.json. Called by test_quality.sh (ctest quality.gate).

    /usr/bin/python3 tests/quality/gate.py --bin build/timeshard [--src .] [--keep DIR]

thresholds.json holds the run settings (model, frames, steps, ranks, threads), the prompts with their
seeds, "min" (the thresholds: fraction of the prompts right per attribute, and mean presence and
persistence) and "measured" (what the model scored when the thresholds were set; for reference).
Set min a bit below measured; rerun with --measure to print a fresh "measured" block.

An optional "controls" block gates the motion controls: clips of tools/eval/controls.json ("ids"),
generated with their control flags in the same run settings, measured by tools/eval/motion.py against
every control they command. The median path RMS distance to the commanded centre over the path clips
must stay at or below "max_path_rms_px" (set between what the model measured with the controls and
without them, so that the gate fails when the controls stop steering), and the share of clips meeting
all their goals (issue 19's: direction, speed, gravity, restitution, growth, path) at or above "min_ok".
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tools", "eval"))
import motion  # noqa: E402
import score  # noqa: E402

KEYS = ("color", "shape", "motion", "bg", "presence", "color_persistence", "shape_persistence")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--thresholds", default=os.path.join(SRC, "tests", "quality", "thresholds.json"))
    ap.add_argument("--mpirun", default=os.environ.get("MPIRUN") or "mpirun")
    ap.add_argument("--keep", help="keep the videos in this folder (default: a temporary one)")
    ap.add_argument("--measure", action="store_true", help="print the scores as a 'measured' block, no verdict")
    a = ap.parse_args(argv)
    with open(a.thresholds) as f:
        th = json.load(f)
    run = th["run"]
    model = os.path.join(SRC, run["model"]) if not os.path.isabs(run["model"]) else run["model"]
    if not os.path.exists(model):
        print(f"FAILED: no model at {model}")
        return 1
    out = a.keep or tempfile.mkdtemp(prefix="ts-quality.")
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    rows = []
    print(f"# quality gate: {len(th['prompts'])} prompts, {run['frames']} frames, {run['steps']} steps, "
          f"{run['ranks']} ranks x {run['threads']} thread(s), {run['model']}")
    print(f"#  {'prompt':58s} {'colour':>7s} {'shape':>9s} {'motion':>10s} {'bg':>10s}  pres   time")
    def generate_cmd(prompt, seed, frames, path, extra=()):
        cmd = [a.mpirun, "--oversubscribe", "-np", str(run["ranks"])] if run["ranks"] > 1 else []
        cmd += [a.bin, "generate", "--model", model, "--prompt", prompt, "--seed", str(seed), "--frames", str(frames),
                "--steps", str(run["steps"]), "--threads", str(run["threads"]), "--out", path, "-q"]
        if run.get("cfg") is not None:
            cmd += ["--cfg", str(run["cfg"])]
        return cmd + list(extra)

    for i, p in enumerate(th["prompts"]):
        path = os.path.join(out, f"{i:02d}.mp4")
        cmd = generate_cmd(p["prompt"], p["seed"], run["frames"], path)
        t0 = time.time()
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        dt = time.time() - t0
        if r.returncode != 0 or not os.path.exists(path):
            print(f"FAILED: the engine failed on {p['prompt']!r} (rc={r.returncode}):\n{r.stderr[-2000:]}")
            return 1
        s = score.score_video(score.read_video(path), p["prompt"], run.get("fps", 12.0))
        rows.append(s)
        mark = lambda k: ("" if s[k + "_ok"] else "x ") + str(s["got"][k])  # noqa: E731
        print(f"   {p['prompt'][:58]:58s} {mark('color'):>7s} {mark('shape'):>9s} {mark('motion'):>10s} "
              f"{mark('bg'):>10s}  {s['presence']:.2f} {dt:5.0f}s", flush=True)
    got = {k: float(np.mean([r[k + "_ok"] for r in rows])) for k in KEYS[:4]}
    got.update({k: float(np.mean([r[k] for r in rows])) for k in KEYS[4:]})
    ctl = th.get("controls")
    if ctl:
        with open(os.path.join(SRC, "tools", "eval", "controls.json")) as f:
            clips = {c["id"]: c for c in json.load(f)["clips"]}
        errs, oks = [], []
        print(f"# controls: clips {ctl['ids']} of tools/eval/controls.json")
        for cid in ctl["ids"]:
            c = clips[cid]
            path = os.path.join(out, f"ctl{cid:03d}.mp4")
            r = subprocess.run(generate_cmd(c["prompt"], c["seed"], c["frames"], path, c["flags"]), env=env,
                               capture_output=True, text=True)
            if r.returncode != 0 or not os.path.exists(path):
                print(f"FAILED: the engine failed on controlled clip {cid} (rc={r.returncode}):\n{r.stderr[-2000:]}")
                return 1
            m = motion.compare(motion.measure(score.read_video(path)), c["fps"], **c["controls"])
            oks.append(bool(m["ok"]) and all(m["ok"].values()))
            what = ", ".join(f"{k} {'ok' if v else 'MISSED'}" for k, v in m["ok"].items())
            if "path" in c["controls"]:
                pe = (m.get("path_error") or {}).get("rms")
                errs.append(pe if pe is not None else float("inf"))
                what += f" (path RMS {errs[-1]:.2f} px)"
            print(f"   {c['prompt'][:50]:50s} {' '.join(c['flags'])[:40]:40s} {what}", flush=True)
        if errs:
            got["path_rms_px"] = float(np.median(errs))
        got["controls_ok"] = float(np.mean(oks))
    if a.measure:
        print(json.dumps({"measured": {k: round(v, 3) for k, v in got.items()}}, indent=1))
        return 0
    fails = 0
    if ctl:
        if "max_path_rms_px" in ctl:
            ok = got.get("path_rms_px", float("inf")) <= ctl["max_path_rms_px"] + 1e-9
            fails += not ok
            print(f"  {'path_rms_px (median)':20s} {got.get('path_rms_px', float('nan')):6.2f}  (max "
                  f"{ctl['max_path_rms_px']:.2f}, measured {ctl.get('measured', {}).get('path_rms_px', float('nan')):.2f}"
                  f", without controls {ctl.get('measured', {}).get('baseline_path_rms_px', float('nan')):.2f})  "
                  f"{'OK' if ok else 'FAIL'}")
        if "min_ok" in ctl:
            ok = got["controls_ok"] >= ctl["min_ok"] - 1e-9
            fails += not ok
            print(f"  {'controls_ok':20s} {got['controls_ok']:6.3f}  (min {ctl['min_ok']:.3f}, measured "
                  f"{ctl.get('measured', {}).get('controls_ok', float('nan')):.3f})  {'OK' if ok else 'FAIL'}")
    for k in KEYS:
        lo = th["min"].get(k)
        if lo is None:
            continue
        ok = got[k] >= lo - 1e-9
        fails += not ok
        print(f"  {k:20s} {got[k]:6.3f}  (min {lo:.3f}, measured {th.get('measured', {}).get(k, float('nan')):.3f})  "
              f"{'OK' if ok else 'FAIL'}")
    print("PASSED" if not fails else f"FAILED ({fails})")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
