"""Quality suite: generate with the C engine, score with tools/eval/score.py (numpy only).

    S=tools/eval/suite.py; TS=build/timeshard
    /usr/bin/python3 $S list                                   # the prompt suite
    /usr/bin/python3 $S t2v  --bin $TS --out runs/t2v          # 66 prompts, 16 frames, 20 steps: table + JSON
    /usr/bin/python3 $S i2v  --bin $TS --out runs/i2v          # first frame given: PSNR on frame 0, motion
    /usr/bin/python3 $S long --bin $TS --out runs/long -np 4 --frames 512   # persistence + rank boundaries
    /usr/bin/python3 $S boundary VIDEO.mp4 --ranks 4           # rank-boundary change of any video
Common flags: --model (default models/default.h5), --frames, --steps, --cfg, -np RANKS (runs under
mpirun), --threads, --jobs (runs at once), --limit N (first N prompts), --prompts a,b (indices).
Videos already in --out are reused (a run can be resumed, or re-scored with --score-only).
Writes OUT/results.json and OUT/table.md.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gt  # noqa: E402
import score  # noqa: E402
import vocab as V  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
ATTRS = ("color", "shape", "motion", "bg")
NAMES = {"color": "colour", "shape": "shape", "motion": "motion", "bg": "background"}
TARGETS = {"color": 0.95, "motion": 0.90, "shape": 0.85}  # issue 6; held-out within HELD_GAP of the rest
HELD_GAP = 0.10


# ---- the suite -------------------------------------------------------------------------------------

def suite(n=66):
    """n prompts (default 66: each motion 6 times, each shape 22 times), about a quarter of them
    held-out colour-shape pairs (every 4th), colours and backgrounds balanced greedily; fixed seeds."""
    held_for = {s: [c for c, s2 in V.HELD_OUT if s2 == s] for s in V.SHAPES}
    ccount, bcount, hcount = Counter(), Counter(), Counter()
    rng = np.random.default_rng(6)  # tie-breaks only; the suite is fixed
    out = []
    for i in range(n):
        m = V.MOTIONS[i % len(V.MOTIONS)]
        s = V.SHAPES[i % len(V.SHAPES)]
        if i % 4 == 0 and held_for[s]:  # the held-out pairs of this shape, in turn
            c = held_for[s][hcount[s] % len(held_for[s])]
            hcount[s] += 1
        else:
            allowed = [c for c in V.COLOR_NAMES if (c, s) not in V.HELD_OUT]
            pri = rng.permutation(len(allowed))
            c = min(allowed, key=lambda c: (ccount[c], pri[allowed.index(c)]))
        ccount[c] += 1
        bgs = [b for b in V.BG_NAMES if b != c]
        pri = rng.permutation(len(bgs))
        b = min(bgs, key=lambda b: (bcount[b], pri[bgs.index(b)]))
        bcount[b] += 1
        out.append({"id": i, "color": c, "shape": s, "motion": m, "bg": b, "held_out": (c, s) in V.HELD_OUT,
                    "seed": 100 + i, "prompt": V.caption(c, s, m, b)})
    return out


# ---- running the engine ----------------------------------------------------------------------------

def engine_cmd(a, prompt, seed, out, frames=None, image=None):
    cmd = []
    if a.np > 1:
        cmd = [a.mpirun, "--oversubscribe", "--bind-to", "none", "-np", str(a.np)]
    cmd += [a.bin, "generate", "--model", a.model, "--prompt", prompt, "--frames", str(frames or a.frames),
            "--steps", str(a.steps), "--seed", str(seed), "--out", out, "-q"]
    if a.cfg is not None:
        cmd += ["--cfg", str(a.cfg)]
    if a.threads:
        cmd += ["--threads", str(a.threads)]
    if image:
        cmd += ["--image", image]
    return cmd


def run_all(a, jobs):
    """jobs: list of (cmd, out). Runs those whose output is missing; returns seconds per run."""
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    todo = [(c, o) for c, o in jobs if not os.path.exists(o)]
    if a.score_only:
        todo = []
    times = []

    def one(job):
        cmd, out = job
        t0 = time.time()
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        dt = time.time() - t0
        if r.returncode != 0 or not os.path.exists(out):
            msg = (r.stderr or r.stdout).strip().splitlines()[-3:]
            raise RuntimeError(f"engine failed (rc={r.returncode}): {shlex.join(cmd)}\n  " + "\n  ".join(msg))
        times.append(dt)
        print(f"  [{len(times)}/{len(todo)}] {dt:6.1f} s  {os.path.basename(out)}", flush=True)
        return dt

    if todo:
        print(f"generating {len(todo)} videos ({len(jobs) - len(todo)} already there), {a.jobs} at a time", flush=True)
        with ThreadPoolExecutor(max(1, a.jobs)) as ex:
            list(ex.map(one, todo))
    return times


def select(a, items):
    if a.prompts:  # in the order given
        byid = {p["id"]: p for p in items}
        items = [byid[int(x)] for x in a.prompts.split(",")]
    return items[:a.limit] if a.limit else items


# ---- tables ----------------------------------------------------------------------------------------

def pct(x):
    return "-" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.1f}%"


def mean_ok(rows, k):
    v = [r[k + "_ok"] for r in rows if r.get(k + "_ok") is not None]
    return float(np.mean(v)) if v else None


def summarize(rows):
    groups = {"all": rows, "held-out": [r for r in rows if r["held_out"]], "rest": [r for r in rows if not r["held_out"]]}
    summ = {}
    for g, rs in groups.items():
        d = {"n": len(rs)}
        for k in ATTRS:
            d[k] = mean_ok(rs, k)
        d["all4"] = float(np.mean([all(r[k + "_ok"] for k in ATTRS) for r in rs])) if rs else None
        for k in ("presence", "color_persistence", "shape_persistence"):
            d[k] = float(np.mean([r[k] for r in rs])) if rs else None
        d["motion_robust"] = mean_ok(rs, "motion_robust")
        d["jumpy"] = float(np.mean([r["jumps"] > 0 for r in rs])) if rs else None
        summ[g] = d
    return summ


def t2v_table(summ, rows, header):
    L = [header, "", "| | all | held-out pairs | rest | target |", "|---|---|---|---|---|"]
    L.append(f"| prompts | {summ['all']['n']} | {summ['held-out']['n']} | {summ['rest']['n']} | |")
    for k in ATTRS + ("all4", "presence", "color_persistence", "shape_persistence", "motion_robust", "jumpy"):
        name = {"all4": "all four right", "presence": "presence", "color_persistence": "colour persistence",
                "shape_persistence": "shape persistence", "motion_robust": "motion, from median steps (diagnostic)",
                "jumpy": "clips where the object jumps (diagnostic)"}.get(k, NAMES.get(k))
        tgt = f">= {100 * TARGETS[k]:.0f}%" if k in TARGETS else ""
        L.append(f"| {name} | {pct(summ['all'][k])} | {pct(summ['held-out'][k])} | {pct(summ['rest'][k])} | {tgt} |")
    L += ["", "| motion | n | colour | shape | motion | background |", "|---|---|---|---|---|---|"]
    for m in V.MOTIONS:
        rs = [r for r in rows if r["want"]["motion"] == m]
        if rs:
            L.append(f"| {m} | {len(rs)} | " + " | ".join(pct(mean_ok(rs, k)) for k in ATTRS) + " |")
    return "\n".join(L)


def verdicts(summ):
    out = []
    for k, t in TARGETS.items():
        v = summ["all"][k]
        out.append((f"{NAMES[k]} >= {100 * t:.0f}%", v is not None and v >= t, pct(v)))
    for k in TARGETS:
        h, r = summ["held-out"][k], summ["rest"][k]
        if h is not None and r is not None:
            out.append((f"held-out {NAMES[k]} within {100 * HELD_GAP:.0f} points of the rest", r - h <= HELD_GAP + 1e-9,
                        f"{pct(h)} vs {pct(r)}"))
    return out


def write_outputs(a, res, table):
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.join(a.out, "table.md"), "w") as f:
        f.write(table + "\n")
    print(table)
    print(f"\nwrote {a.out}/results.json and {a.out}/table.md")


def command_line():
    return "/usr/bin/python3 tools/eval/suite.py " + " ".join(shlex.quote(x) for x in sys.argv[1:])


# ---- modes -----------------------------------------------------------------------------------------

def cmd_t2v(a):
    items = select(a, suite(a.n))
    jobs = [(engine_cmd(a, p["prompt"], p["seed"], os.path.join(a.out, f"{p['id']:03d}.mp4")),
             os.path.join(a.out, f"{p['id']:03d}.mp4")) for p in items]
    times = run_all(a, jobs)
    rows = []
    for p, (_, path) in zip(items, jobs):
        s = score.score_video(score.read_video(path), p["prompt"], a.fps)
        s.update(id=p["id"], seed=p["seed"], held_out=p["held_out"], video=os.path.basename(path))
        rows.append(s)
    summ = summarize(rows)
    hdr = (f"Text-to-video, {len(rows)} prompts ({summ['held-out']['n']} held-out pairs), {a.frames} frames, "
           f"{a.steps} steps, {a.np} rank(s), model {os.path.relpath(a.model, ROOT) if a.model.startswith(ROOT) else a.model}"
           f"\n\n`{command_line()}`")
    table = t2v_table(summ, rows, hdr)
    vs = verdicts(summ)
    table += "\n\n" + "\n".join(f"- {n}: {v} ({'met' if ok else 'NOT met'})" for n, ok, v in vs)
    res = {"mode": "t2v", "summary": summ, "verdicts": [{"check": n, "ok": ok, "value": v} for n, ok, v in vs],
           "settings": settings(a), "seconds_per_video": float(np.mean(times)) if times else None, "videos": rows}
    write_outputs(a, res, table)
    return 0 if all(ok for _, ok, _ in vs) or not a.strict else 1


def settings(a):
    return {k: getattr(a, k) for k in ("model", "frames", "steps", "cfg", "np", "threads", "fps")}


def cmd_i2v(a):
    """First frame from the dataset (its own track, seeded), motion from the prompt."""
    items = select(a, suite(a.n))
    rows = []
    pngs, jobs, refs = [], [], []
    for p in items:
        vids, caps, tr = gt.clips([p], frames=a.frames, fps=a.fps, seed=p["seed"])
        png = os.path.join(a.out, f"{p['id']:03d}-first.png")
        if not os.path.exists(png):
            score.write_png(png, vids[0, 0])
        path = os.path.join(a.out, f"{p['id']:03d}.mp4")
        jobs.append((engine_cmd(a, p["prompt"], p["seed"], path, image=png), path))
        refs.append(vids[0])
    times = run_all(a, jobs)
    for p, (_, path), ref in zip(items, jobs, refs):
        v = score.read_video(path)
        first = score.read_video(os.path.join(a.out, f"{p['id']:03d}-first.png"))[0]
        s = score.score_video(v, p["prompt"], a.fps)
        gref = score.detect_video(ref)
        rt = np.array([[d["cx"], d["cy"], d["area"]] for d in gref])
        gtk = np.array([[np.nan if x is None else x for x in s["track"][k]] for k in ("cx", "cy", "area")]).T
        s["psnr0"] = score.psnr(v[0], first)
        s["start_err_px"] = float(np.hypot(*(gtk[0, :2] - rt[0, :2]))) if np.isfinite(gtk[0, 0]) else None
        # does the clip carry on the given frame's motion: displacement (or log-area change) against the truth's
        n = min(len(gtk), len(rt))
        dg, dr = gtk[n - 1, :2] - gtk[0, :2], rt[n - 1, :2] - rt[0, :2]
        if p["motion"] in ("growing", "shrinking"):
            ok = np.isfinite(gtk[[0, n - 1], 2]).all() and np.sign(np.log(gtk[n - 1, 2] / gtk[0, 2])) == np.sign(
                np.log(rt[n - 1, 2] / rt[0, 2]))
            s["continues"] = bool(ok)
        else:
            cos = float(dg @ dr / (np.linalg.norm(dg) * np.linalg.norm(dr) + 1e-9)) if np.isfinite(dg).all() else -1.0
            s["direction_cos"] = cos
            s["continues"] = bool(s["motion_ok"]) if p["motion"] == "bouncing" else cos > 0.7
        s.update(id=p["id"], seed=p["seed"], held_out=p["held_out"], video=os.path.basename(path))
        rows.append(s)
    summ = summarize(rows)
    ps = np.array([r["psnr0"] for r in rows])
    cont = float(np.mean([r["continues"] for r in rows]))
    hdr = (f"Image-to-video, {len(rows)} prompts, first frame rendered by the dataset, {a.frames} frames, {a.steps} steps"
           f"\n\n`{command_line()}`")
    table = t2v_table(summ, rows, hdr)
    table += (f"\n\nframe-0 PSNR vs the given frame: mean {ps.mean():.1f} dB, min {ps.min():.1f} dB, "
              f"{100 * np.mean(ps >= 25):.0f}% >= 25 dB\nmotion continues the given frame's track: {pct(cont)} "
              f"(direction within ~45 deg of the truth's, growth of the same sign; bouncing: classified bouncing)")
    vs = [("frame-0 PSNR >= 25 dB (mean)", ps.mean() >= 25, f"{ps.mean():.1f} dB"),
          ("motion continues (>= 90%)", cont >= 0.9, pct(cont))]
    table += "\n" + "\n".join(f"- {n}: {v} ({'met' if ok else 'NOT met'})" for n, ok, v in vs)
    res = {"mode": "i2v", "summary": summ, "psnr0_mean": float(ps.mean()), "psnr0_min": float(ps.min()),
           "continues": cont, "verdicts": [{"check": n, "ok": bool(ok), "value": v} for n, ok, v in vs],
           "settings": settings(a), "seconds_per_video": float(np.mean(times)) if times else None, "videos": rows}
    write_outputs(a, res, table)
    return 0 if all(ok for _, ok, _ in vs) or not a.strict else 1


def long_report(v, prompt, ranks, window, fps):
    dets = score.detect_video(v)
    s = score.score_video(v, prompt, fps, dets=dets)
    want = s["want"]
    win = score.persistence_windows(dets, want, window)
    b = score.boundary_metrics(v, ranks) if ranks > 1 else None
    L = [f"| frames | presence | colour = prompt | shape = prompt |", "|---|---|---|---|"]
    for w in win:
        L.append(f"| {w['start']}-{w['start'] + w['frames'] - 1} | {pct(w['presence'])} | {pct(w['color'])} | {pct(w['shape'])} |")
    minp = min(w["presence"] for w in win)
    minc = min(w["color"] for w in win)
    mins = min(w["shape"] for w in win)
    L.append("")
    L.append(f"whole video ({len(v)} frames): presence {pct(s['presence'])}, colour {s['got']['color']} "
             f"(persistence {pct(s['color_persistence'])}), shape {s['got']['shape']} (persistence "
             f"{pct(s['shape_persistence'])}); worst window: presence {pct(minp)}, colour {pct(minc)}, shape {pct(mins)}; "
             f"motion over the first 16 frames: {s['got']['motion']} (want {want['motion']})")
    if b:
        L.append(f"rank boundaries ({ranks} ranks, first frames {b['boundaries']}): mean abs change "
                 f"{b['boundary_mean']:.2f} vs {b['inside_mean']:.2f} inside chunks (ratio {b['ratio']:.2f}; inside p95 "
                 f"{b['inside_p95']:.2f}); each boundary vs its neighbours: "
                 + ", ".join(f"{x:.2f}" for x in b["boundary_vs_local"]))
    return s, win, b, "\n".join(L)


def cmd_long(a):
    p = {"prompt": a.prompt, "seed": a.seed}
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, f"long-{a.frames}f-{a.np}r.mp4")
    times = run_all(a, [(engine_cmd(a, p["prompt"], p["seed"], path), path)])
    v = score.read_video(path)
    s, win, b, body = long_report(v, a.prompt, a.np, a.window_frames, a.fps)
    hdr = f"Long video: \"{a.prompt}\", {len(v)} frames on {a.np} rank(s), {a.steps} steps\n\n`{command_line()}`\n"
    ok = s["presence"] >= 0.98 and s["color_ok"] and s["shape_ok"] and s["color_persistence"] >= 0.95 \
        and s["shape_persistence"] >= 0.9
    table = hdr + "\n" + body + f"\n\nstays present, keeps its colour and shape: {'yes' if ok else 'NO'}"
    res = {"mode": "long", "score": s, "windows": win, "boundary": b, "ok": bool(ok), "settings": settings(a),
           "seconds": times[0] if times else None}
    write_outputs(a, res, table)
    return 0 if ok or not a.strict else 1


def cmd_boundary(a):
    v = score.read_video(a.video)
    s, win, b, body = long_report(v, a.prompt or "", a.ranks, a.window_frames, a.fps)
    print(body if a.prompt else body.split("\n")[-1])
    return 0


def cmd_list(a):
    items = suite(a.n)
    for p in items:
        print(f"{p['id']:3d} seed {p['seed']:4d} {'H' if p['held_out'] else ' '} {p['prompt']}")
    for k in ("color", "shape", "motion", "bg"):
        print(f"# {k}: " + ", ".join(f"{n} {c}" for n, c in sorted(Counter(p[k] for p in items).items())))
    print(f"# held-out: {sum(p['held_out'] for p in items)} of {len(items)}")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 1)[1])
    ap.add_argument("mode", choices=["t2v", "i2v", "long", "boundary", "list"])
    ap.add_argument("video", nargs="?", help="boundary: the video")
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "timeshard"), help="the timeshard binary")
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "default.h5"))
    ap.add_argument("--out", default="eval-out")
    ap.add_argument("--n", type=int, default=66, help="prompts in the suite (default 66)")
    ap.add_argument("--frames", type=int, default=None, help="frames (default 16; long: 512)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--cfg", type=float, default=None, help="guidance (default: the model's)")
    ap.add_argument("-np", "--np", type=int, default=1, help="ranks (runs under mpirun when > 1)")
    ap.add_argument("--ranks", type=int, default=1, help="boundary: ranks the video was made on")
    ap.add_argument("--mpirun", default="mpirun")
    ap.add_argument("--threads", type=int, default=0, help="threads per rank (default: the engine's)")
    ap.add_argument("--jobs", type=int, default=1, help="engine runs at once (default 1)")
    ap.add_argument("--fps", type=float, default=12.0)
    ap.add_argument("--limit", type=int, default=0, help="only the first N prompts")
    ap.add_argument("--prompts", help="only these prompt ids, in this order (comma-separated)")
    ap.add_argument("--prompt", default="a red circle moving right on a navy background", help="long: the prompt")
    ap.add_argument("--seed", type=int, default=7, help="long: the seed")
    ap.add_argument("--window-frames", type=int, default=32, help="long: persistence window (frames)")
    ap.add_argument("--score-only", action="store_true", help="score the videos in --out, generate nothing")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is not met")
    a = ap.parse_args(argv)
    if a.frames is None:
        a.frames = 512 if a.mode == "long" else 16
    if a.mode in ("t2v", "i2v", "long"):
        a.bin, a.model, a.out = os.path.abspath(a.bin), os.path.abspath(a.model), os.path.abspath(a.out)
        os.makedirs(a.out, exist_ok=True)
        if not a.score_only and not os.access(a.bin, os.X_OK):
            ap.error(f"no engine binary at {a.bin} (build it, or give --bin)")
    if a.mode == "boundary" and not a.video:
        ap.error("boundary needs a video")
    return {"t2v": cmd_t2v, "i2v": cmd_i2v, "long": cmd_long, "boundary": cmd_boundary, "list": cmd_list}[a.mode](a)


if __name__ == "__main__":
    sys.exit(main())
