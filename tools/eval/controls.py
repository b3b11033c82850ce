"""Controlled-clip suite (issue 19): generate each clip with its controls and without (the prompt alone),
measure both with tools/eval/motion.py against the commanded values, tabulate (numpy only).

    C=tools/eval/controls.py; TS=build/timeshard
    /usr/bin/python3 $C list                                  # the suite (tools/eval/controls.json)
    /usr/bin/python3 $C run --bin $TS --out runs/ctl          # controlled and baseline: table.md, results.json
    /usr/bin/python3 $C run --bin $TS --out runs/ctl --baseline-only   # the prompt alone
    /usr/bin/python3 $C run --bin $TS --out runs/ctl --controlled-only # with the controls only (quick looks)
    /usr/bin/python3 $C write-suite                           # rewrite controls.json from suite()
Common flags: --model, --steps, --cfg, --threads, --jobs, --limit N, --kinds path,motion, --score-only.
Videos already in --out are reused (OUT/base/ID.h5, OUT/ctl/ID.h5). If the engine or the model refuses
the control flags (a model without control weights), the controlled half is reported as not run, with the
engine's message, and the baseline half is still scored.
"""
import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import motion as M  # noqa: E402
import score  # noqa: E402
import vocab as V  # noqa: E402
import physics as P  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
SUITE_FILE = os.path.join(HERE, "controls.json")
FPS, SIZE = 12.0, 64
SPEEDS = (0.5, 1.0, 1.5)               # px per frame
GRAVITIES = (100.0, 250.0, 450.0)      # px/s^2
RESTITUTIONS = (0.4, 0.65, 0.9)
RATES = (0.25, 0.5, 0.8)               # growth per second, both signs
PATHS = [  # (frames, keys (F, X, Y) px): 2, 3 and 4 keys, with turns
    (24, [(0, 14, 32), (23, 50, 32)]), (24, [(0, 32, 50), (23, 32, 14)]),
    (24, [(0, 14, 14), (23, 50, 50)]), (24, [(4, 48, 20), (19, 20, 44)]),
    (24, [(0, 14, 50), (12, 32, 14), (23, 50, 50)]), (24, [(0, 50, 14), (12, 14, 32), (23, 50, 50)]),
    (24, [(0, 14, 20), (10, 44, 20), (23, 44, 50)]), (24, [(2, 32, 48), (12, 50, 24), (21, 14, 24)]),
    (48, [(0, 14, 14), (16, 50, 14), (32, 50, 50), (47, 14, 50)]),
    (48, [(0, 14, 50), (15, 28, 14), (31, 40, 50), (47, 50, 14)]),
    (48, [(0, 32, 14), (16, 50, 32), (32, 32, 50), (47, 14, 32)]),
    (48, [(4, 20, 20), (16, 44, 28), (28, 20, 36), (44, 44, 46)]),
]


def suite():
    """The controlled clips: 12 paths (2-4 keys), 24 motion vectors (8 directions x 3 speeds), 9 bounces
    (3 gravities x 3 restitutions), 6 growth rates (3 growing, 3 shrinking). Fixed seeds 300 + id."""
    combos = [(c, s) for c in V.COLOR_NAMES for s in V.SHAPES if (c, s) not in V.HELD_OUT]
    items = []

    def add(kind, word, frames, ctl, flags):
        i = len(items)
        c, s = combos[(i * 7) % len(combos)]
        bgs = [b for b in V.BG_NAMES if b != c]
        b = bgs[(i * 5) % len(bgs)]
        items.append({"id": i, "kind": kind, "color": c, "shape": s, "bg": b, "motion": word,
                      "prompt": V.caption(c, s, word, b), "frames": frames, "fps": FPS, "width": SIZE,
                      "height": SIZE, "seed": 300 + i, "controls": ctl, "flags": flags})

    for frames, keys in PATHS:
        net = (keys[-1][1] - keys[0][1], keys[-1][2] - keys[0][2])
        add("path", P._direction_word(*net), frames, {"path": [list(k) for k in keys]},
            ["--path", M.format_path(keys)])
    for d, (ux, uy) in P.DIRECTIONS.items():
        n = math.hypot(ux, uy)
        for sp in SPEEDS:
            dx, dy = round(sp * ux / n, 4), round(sp * uy / n, 4)
            add("motion", d, 24, {"motion": [dx, dy]}, ["--motion", f"{dx:g},{dy:g}"])
    for g in GRAVITIES:
        for e in RESTITUTIONS:
            add("bounce", "bouncing", 48, {"gravity": g, "bounce": e}, ["--gravity", f"{g:g}", "--bounce", f"{e:g}"])
    for r in RATES + tuple(-x for x in RATES):
        add("growth", "growing" if r > 0 else "shrinking", 24, {"growth": r}, ["--growth", f"{r:g}"])
    return items


def load_suite(path=SUITE_FILE):
    with open(path) as f:
        return json.load(f)["clips"]


# ---- running ---------------------------------------------------------------------------------------

def engine_cmd(a, clip, out, controlled):
    cmd = [a.bin, "generate", "--model", a.model, "--prompt", clip["prompt"], "--frames", str(clip["frames"]),
           "--steps", str(a.steps), "--seed", str(clip["seed"]), "--out", out, "-q"]
    if a.cfg is not None:
        cmd += ["--cfg", str(a.cfg)]
    if a.threads:
        cmd += ["--threads", str(a.threads)]
    return cmd + (clip["flags"] if controlled else [])


def run_jobs(a, jobs, label):
    """jobs: [(cmd, out)]. Runs the missing ones; returns (seconds per run, first error or None).
    The first failure stops the rest of this half (a model without controls fails them all alike)."""
    todo = [(c, o) for c, o in jobs if not os.path.exists(o)] if not a.score_only else []
    times, err = [], []

    def one(job):
        if err:
            return
        cmd, out = job
        t0 = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0 or not os.path.exists(out):
            msg = " / ".join((r.stderr or r.stdout).strip().splitlines()[-2:])
            err.append(f"rc={r.returncode}: {msg}  [{shlex.join(cmd)}]")
            return
        times.append(time.time() - t0)
        print(f"  {label} [{len(times)}/{len(todo)}] {times[-1]:6.1f} s  {os.path.basename(out)}", flush=True)

    if todo:
        print(f"{label}: generating {len(todo)} videos ({len(jobs) - len(todo)} already there), {a.jobs} at a time",
              flush=True)
        with ThreadPoolExecutor(max(1, a.jobs)) as ex:
            list(ex.map(one, todo))
    return times, (err[0] if err else None)


def measure_clip(path, clip):
    frames = score.read_video(path)
    tr = M.measure(frames)
    ctl = clip["controls"]
    m = M.compare(tr, clip["fps"], path=ctl.get("path"), motion=ctl.get("motion"), gravity=ctl.get("gravity"),
                  bounce=ctl.get("bounce"), growth=ctl.get("growth"))
    s = score.score_video(frames, clip["prompt"], clip["fps"])
    m["prompt_motion"] = s["got"]["motion"]
    m["prompt_motion_ok"] = s["motion_ok"]
    m["prompt_all_ok"] = all(s[k + "_ok"] for k in ("color", "shape", "motion", "bg"))
    return m


# ---- tables ----------------------------------------------------------------------------------------

def _med(xs):
    xs = [x for x in xs if x is not None and np.isfinite(x)]
    return float(np.median(xs)) if xs else None


def _rate(xs):
    xs = [x for x in xs if x is not None]
    return float(np.mean(xs)) if xs else None


def summarize(rows):
    """Per kind: the metrics (medians of errors, fractions within the goals)."""
    out = {}
    for kind in ("path", "motion", "bounce", "growth"):
        rs = [r for r in rows if r["kind"] == kind]
        if not rs:
            continue
        d = {"n": len(rs), "prompt_motion": _rate([r["prompt_motion_ok"] for r in rs]),
             "presence": _rate([r["presence"] for r in rs])}
        if kind == "path":
            d["path_rms_px"] = _med([(r.get("path_error") or {}).get("rms") for r in rs])
            d["path_ok"] = _rate([r["ok"]["path"] for r in rs])
        if kind == "motion":
            d["direction_err_deg"] = _med([r.get("direction_err_deg") for r in rs])
            d["direction_ok"] = _rate([r["ok"]["direction"] for r in rs])
            d["speed_abs_rel_err"] = _med([abs(r["speed_rel_err"]) if "speed_rel_err" in r else None for r in rs])
            d["speed_ok"] = _rate([r["ok"]["speed"] for r in rs])
            d["both_ok"] = _rate([r["ok"]["direction"] and r["ok"]["speed"] for r in rs])
        if kind == "bounce":
            d["gravity_abs_rel_err"] = _med([abs(r["gravity_rel_err"]) if "gravity_rel_err" in r else None for r in rs])
            d["gravity_ok"] = _rate([r["ok"]["gravity"] for r in rs])
            d["bounce_abs_err"] = _med([abs(r["bounce_abs_err"]) if "bounce_abs_err" in r else None for r in rs])
            d["bounce_ok"] = _rate([r["ok"]["bounce"] for r in rs])
            d["measured"] = _rate([r["bounce"] is not None and r["bounce"]["restitution"] is not None for r in rs])
            d["sink"] = _rate([r["physics"]["sink"] for r in rs])
            d["air_rest"] = _rate([r["physics"]["air_rest"] for r in rs])
            d["air_bounce"] = _rate([r["physics"].get("air_bounce") for r in rs])
        if kind == "growth":
            d["growth_sign_ok"] = _rate([r["ok"]["growth_sign"] for r in rs])
            d["growth_abs_rel_err"] = _med([abs(r["growth_rel_err"]) if "growth_rel_err" in r else None for r in rs])
            d["growth_ok"] = _rate([r["ok"]["growth"] for r in rs])
        out[kind] = d
    return out


ROWS = [  # (kind, key, name, format)
    ("path", "path_rms_px", "path: RMS distance to the commanded centre, median (px; goal <= 3)", "px"),
    ("path", "path_ok", "path: clips within 3 px RMS", "pct"),
    ("motion", "direction_err_deg", "motion: direction error, median (deg; goal <= 20)", "deg"),
    ("motion", "direction_ok", "motion: direction within 20 deg", "pct"),
    ("motion", "speed_abs_rel_err", "motion: speed error, median |rel| (goal <= 25%)", "pct"),
    ("motion", "speed_ok", "motion: speed within 25%", "pct"),
    ("motion", "both_ok", "motion: direction and speed both within", "pct"),
    ("bounce", "measured", "bounce: arcs and a bounce measurable", "pct"),
    ("bounce", "gravity_abs_rel_err", "bounce: gravity error, median |rel| (goal <= 25%)", "pct"),
    ("bounce", "gravity_ok", "bounce: gravity within 25%", "pct"),
    ("bounce", "bounce_abs_err", "bounce: restitution error, median |abs| (goal <= 0.15)", "num"),
    ("bounce", "bounce_ok", "bounce: restitution within 0.15", "pct"),
    ("bounce", "sink", "bounce: frames sinking > 1 px into the floor", "pct"),
    ("bounce", "air_rest", "bounce: frames resting in the air", "pct"),
    ("bounce", "air_bounce", "bounce: bounces turning in mid-air, > 3 px above the floor (diagnostic)", "pct"),
    ("growth", "growth_sign_ok", "growth: direction right", "pct"),
    ("growth", "growth_abs_rel_err", "growth: rate error, median |rel| (goal <= 30%)", "pct"),
    ("growth", "growth_ok", "growth: right direction and rate within 30%", "pct"),
]


def per_clip(rows):
    """The controlled clips one line each: what was commanded, what was measured, whether every goal of
    the clip's controls was met."""
    L = ["Per clip (controlled; \"goals\" is every goal of the clip's controls met):", "",
         "| id | kind | controls | measured | goals |", "|---:|---|---|---|:--:|"]
    for r in sorted(rows, key=lambda r: r["id"]):
        if r["kind"] == "path":
            pe = (r.get("path_error") or {}).get("rms")
            got = f"path RMS {pe:.2f} px" if pe is not None else "no track"
        elif r["kind"] == "motion":
            v = r.get("velocity") or {}
            got = f"measured {v['dx']:+.2f},{v['dy']:+.2f} px/frame" if v.get("dx") is not None else "no track"
        elif r["kind"] == "bounce":
            b = r.get("bounce") or {}
            g, e = b.get("gravity"), b.get("restitution")
            got = (f"gravity {g:.0f}" if g is not None else "gravity -") + \
                  (f", restitution {e:.2f}" if e is not None else ", restitution -") + \
                  f", frames sinking {100 * r['physics']['sink']:.0f}%"
        else:
            gr = (r.get("growth") or {}).get("rate")
            got = f"rate {gr:+.3f}/s" if gr is not None else "no size curve"
        met = bool(r["ok"]) and all(r["ok"].values())
        L.append(f"| {r['id']} | {r['kind']} | `{r['flags']}` | {got} | {'yes' if met else 'no'} |")
    return "\n".join(L)


def fmt(v, kind):
    if v is None:
        return "-"
    return {"px": f"{v:.2f}", "deg": f"{v:.1f}", "pct": f"{100 * v:.1f}%", "num": f"{v:.3f}"}[kind]


def table(summ_ctl, summ_base, header, note):
    L = [header, "", "| kind | metric | controlled | baseline (prompt alone) |", "|---|---|---|---|"]
    for kind in ("path", "motion", "bounce", "growth"):
        b, c = summ_base.get(kind), summ_ctl.get(kind) if summ_ctl else None
        if not b and not c:
            continue
        L.append(f"| {kind} | clips | {c['n'] if c else 'not run'} | {b['n'] if b else 'not run'} |")
        for k2, key, name, f in ROWS:
            if k2 == kind:
                L.append(f"| {kind} | {name.split(': ', 1)[1]} | {fmt(c.get(key), f) if c else '-'} | "
                         f"{fmt(b.get(key), f) if b else '-'} |")
        L.append(f"| {kind} | prompt's motion word recognised (score.py) | {fmt(c['prompt_motion'], 'pct') if c else '-'} | "
                 f"{fmt(b['prompt_motion'], 'pct') if b else '-'} |")
    if note:
        L += ["", note]
    return "\n".join(L)


# ---- modes -----------------------------------------------------------------------------------------

def select(a, items):
    if a.kinds:
        ks = a.kinds.split(",")
        items = [c for c in items if c["kind"] in ks]
    if a.ids:
        want = {int(x) for x in a.ids.split(",")}
        items = [c for c in items if c["id"] in want]
    return items[:a.limit] if a.limit else items


def cmd_run(a):
    items = select(a, load_suite(a.suite))
    for d in ("base", "ctl"):
        os.makedirs(os.path.join(a.out, d), exist_ok=True)
    # --controlled-only (a quick look at a model in training): the prompt-alone half is left out
    bjobs = [] if a.controlled_only else [(engine_cmd(a, c, os.path.join(a.out, "base", f"{c['id']:03d}.h5"), False),
                                           os.path.join(a.out, "base", f"{c['id']:03d}.h5")) for c in items]
    t0 = time.time()
    btimes, berr = run_jobs(a, bjobs, "baseline")
    bwall = time.time() - t0
    ctimes, cerr, cwall = [], None, 0.0
    if a.baseline_only:
        cerr = "not run (--baseline-only)"
    else:
        cjobs = [(engine_cmd(a, c, os.path.join(a.out, "ctl", f"{c['id']:03d}.h5"), True),
                  os.path.join(a.out, "ctl", f"{c['id']:03d}.h5")) for c in items]
        t0 = time.time()
        ctimes, cerr = run_jobs(a, cjobs, "controlled")
        cwall = time.time() - t0
        if cerr:
            print(f"controlled half NOT run: the engine refused the control flags ({cerr})\n"
                  "---> HINT: a model trained with controls is needed; --baseline-only runs the prompt alone", flush=True)
    rows = {"base": [], "ctl": []}
    for half in ("base", "ctl"):
        if half == "base" and a.controlled_only:
            continue
        for c in items:
            path = os.path.join(a.out, half, f"{c['id']:03d}.h5")
            if os.path.exists(path):
                m = measure_clip(path, c)
                m.update(id=c["id"], kind=c["kind"], prompt=c["prompt"], controls=c["controls"],
                         flags=shlex.join(c["flags"]), video=f"{half}/{c['id']:03d}.h5")
                rows[half].append(m)
    if not rows["ctl"] and not cerr:
        cerr = "not run (no controlled videos in --out)"
    if berr:
        print(f"baseline: engine failed: {berr}", flush=True)
    sb, sc = summarize(rows["base"]), summarize(rows["ctl"]) if rows["ctl"] else None
    hdr = (f"Controlled clips (issue 19): {len(items)} clips, {len(rows['base'])} baseline videos and "
           f"{len(rows['ctl'])} controlled, {a.steps} steps, 64x64 at 12 fps, model "
           f"{os.path.relpath(a.model, ROOT) if a.model.startswith(ROOT) else a.model}\n\n"
           f"`/usr/bin/python3 tools/eval/controls.py {' '.join(shlex.quote(x) for x in sys.argv[1:])}`")
    note = ""
    if cerr:
        note = f"Controlled half: {cerr}"
    secs = btimes + ctimes
    if secs:
        note += (("\n\n" if note else "") + f"Generation: {len(secs)} videos, {np.mean(secs):.1f} s each on average "
                 f"({a.jobs} at a time, {a.threads or 'default'} thread(s) each); baseline half {bwall / 60:.1f} min wall")
    tab = table(sc, sb, hdr, note)
    if rows["ctl"]:
        tab += "\n\n" + per_clip(rows["ctl"])
    res = {"summary": {"controlled": sc, "baseline": sb}, "controlled_error": cerr, "baseline_error": berr,
           "settings": {k: getattr(a, k) for k in ("model", "steps", "cfg", "threads", "jobs")},
           "seconds_per_video": float(np.mean(secs)) if secs else None, "baseline_wall_s": bwall,
           "controlled_wall_s": cwall, "goals": M.GOALS, "videos": rows}
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.join(a.out, "table.md"), "w") as f:
        f.write(tab + "\n")
    print(tab)
    print(f"\nwrote {a.out}/results.json and {a.out}/table.md")
    return 1 if berr else 0


def cmd_list(a):
    for c in select(a, load_suite(a.suite)):
        print(f"{c['id']:3d} {c['kind']:6s} {c['frames']:2d}f seed {c['seed']} {c['prompt']:60s} {shlex.join(c['flags'])}")
    return 0


def cmd_write_suite(a):
    items = suite()
    about = ("issue 19 controlled clips (tools/eval/controls.py suite()): paths with 2-4 keys, motion vectors "
             "8 directions x 3 speeds (px/frame), gravity x restitution, growth and shrink; controls in the "
             "engine's units (px, frames, seconds), flags for timeshard generate")
    with open(a.suite, "w") as f:  # one clip per line
        f.write('{"about": ' + json.dumps(about) + ',\n "clips": [\n')
        f.write(",\n".join("  " + json.dumps(c) for c in items) + "\n]}\n")
    assert load_suite(a.suite) == items
    print(f"wrote {a.suite}: {len(items)} clips")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 1)[1])
    ap.add_argument("mode", choices=["run", "list", "write-suite"])
    ap.add_argument("--suite", default=SUITE_FILE)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "timeshard"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "default.h5"))
    ap.add_argument("--out", default="eval-out/controls")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--cfg", type=float, default=None)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--kinds", help="only these kinds (path,motion,bounce,growth)")
    ap.add_argument("--ids", help="only these clip ids (comma-separated)")
    ap.add_argument("--baseline-only", action="store_true", help="generate the prompt alone, not the controlled half")
    ap.add_argument("--controlled-only", action="store_true", help="generate and score the controlled half only")
    ap.add_argument("--score-only", action="store_true", help="score the videos in --out, generate nothing")
    a = ap.parse_args(argv)
    if a.mode == "run":
        a.bin, a.model, a.out = os.path.abspath(a.bin), os.path.abspath(a.model), os.path.abspath(a.out)
        if not a.score_only and not os.access(a.bin, os.X_OK):
            ap.error(f"no engine binary at {a.bin} (build it, or give --bin)")
    return {"run": cmd_run, "list": cmd_list, "write-suite": cmd_write_suite}[a.mode](a)


if __name__ == "__main__":
    sys.exit(main())
