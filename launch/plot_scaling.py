#!/usr/bin/python3
"""Scaling results (JSON lines or a JSON list of rows) -> a PNG: time per step and
parallel efficiency against the number of ranks.

    python3 launch/plot_scaling.py scaling-strong-123.jsonl -o strong.png
    python3 launch/plot_scaling.py strong.jsonl weak.jsonl -o both.png --title "H100, 2 nodes"

Rows need "ranks" and "step_ms". "efficiency" is used when present: percent in
`timeshard bench --json` rows (they have "mode"), a fraction in the slurm/ sweeps'
rows; without it, it is computed from the first row of the series (strong when
"frames" stays the same, weak when it grows). A "ceiling" (percent, `timeshard bench
--ceiling`: the same ranks running independently at once) is drawn dashed beside the
efficiency; rows whose "wrong" is non-zero or whose "identical" is false are marked.
Rows are grouped into series by "kind" (else by file name); rows without a step_ms
(failed runs) are skipped with a note. Other keys are ignored.
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator, ScalarFormatter  # noqa: E402


def read_rows(path):
    """Rows from a file holding a JSON list, one JSON object, or JSON lines."""
    with open(path) as f:
        text = f.read()
    stripped = text.strip()
    if not stripped:
        return []
    if stripped[0] == "[":
        rows = json.loads(stripped)
    else:
        try:
            one = json.loads(stripped)
            rows = [one] if isinstance(one, dict) else list(one)
        except json.JSONDecodeError:
            rows = []
            for n, line in enumerate(text.splitlines(), 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise SystemExit(f"plot_scaling: {path}:{n}: not JSON ({e.msg})")
    for r in rows:
        if not isinstance(r, dict):
            raise SystemExit(f"plot_scaling: {path}: rows must be JSON objects, got {type(r).__name__}")
    return rows


def series_of(paths):
    """{label: [rows sorted by ranks]}, usable rows only."""
    series = {}
    for path in paths:
        for r in read_rows(path):
            if r.get("ranks") is None or r.get("step_ms") is None:
                print(f"plot_scaling: skipping a row without ranks/step_ms in {path}: {json.dumps(r)[:120]}",
                      file=sys.stderr)
                continue
            label = r.get("kind") or os.path.splitext(os.path.basename(path))[0]
            series.setdefault(label, []).append(r)
    for rows in series.values():
        rows.sort(key=lambda r: r["ranks"])
    return series


def efficiencies(rows):
    """The rows' efficiency as a fraction: the bench's "efficiency" (percent), else computed from the first row."""
    n0, t0 = rows[0]["ranks"], rows[0]["step_ms"]
    weak = len({r.get("frames") for r in rows}) > 1
    out = []
    for r in rows:
        e = r.get("efficiency")
        if e is not None:
            if "mode" in r:  # timeshard bench --json gives percent; the sbatch sweeps a fraction
                e = e / 100.0
        else:
            e = t0 / r["step_ms"] if weak else (t0 * n0) / (r["step_ms"] * r["ranks"])
        out.append(e)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("inputs", nargs="+", help="JSON lines or JSON list files")
    ap.add_argument("-o", "--out", default="scaling.png", help="PNG to write (default: scaling.png)")
    ap.add_argument("--title", default=None, help="chart title")
    ap.add_argument("--dpi", type=int, default=120)
    a = ap.parse_args()

    series = series_of(a.inputs)
    if not series:
        raise SystemExit("plot_scaling: no usable rows (need 'ranks' and 'step_ms')")

    fig, (ax_t, ax_e) = plt.subplots(1, 2, figsize=(11, 4.2))
    all_ranks = sorted({r["ranks"] for rows in series.values() for r in rows})
    for label, rows in series.items():
        ranks = [r["ranks"] for r in rows]
        t = [r["step_ms"] for r in rows]
        weak = len({r.get("frames") for r in rows}) > 1
        line = ax_t.plot(ranks, t, "o-", label=label)[0]
        if len(rows) > 1 and not weak:  # ideal strong scaling: t0 * n0 / n
            ax_t.plot(ranks, [t[0] * ranks[0] / n for n in ranks], ":", color=line.get_color(), alpha=0.6,
                      label=f"{label} ideal")
        ax_e.plot(ranks, efficiencies(rows), "o-", color=line.get_color(), label=label)
        if all(r.get("ceiling") is not None for r in rows):  # bench --ceiling: what the machine allows
            ax_e.plot(ranks, [r["ceiling"] / 100.0 for r in rows], "x--", color=line.get_color(), alpha=0.6,
                      label=f"{label} ceiling")
        for r, e in zip(rows, efficiencies(rows)):
            if r.get("identical") is False or r.get("wrong", 0) > 0:  # a wrong result: mark it
                ax_e.annotate("wrong", (r["ranks"], e), color="red", textcoords="offset points", xytext=(4, 4))

    for ax in (ax_t, ax_e):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(FixedLocator(all_ranks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.set_xlabel("ranks")
        ax.grid(True, which="both", alpha=0.3)
    ax_t.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax_t.yaxis.set_major_formatter(plain)
    ax_t.yaxis.set_minor_formatter(plain)
    ax_t.set_ylabel("time per sampler step (ms)")
    ax_t.set_title("time per step")
    ax_e.axhline(1.0, color="gray", lw=0.8, ls="--")
    ax_e.set_ylim(0, max(1.1, max(max(efficiencies(rows)) for rows in series.values()) * 1.05))
    ax_e.set_ylabel("parallel efficiency")
    ax_e.set_title("efficiency")
    ax_t.legend(fontsize=8)
    ax_e.legend(fontsize=8)
    if a.title:
        fig.suptitle(a.title)
    fig.tight_layout()
    fig.savefig(a.out, dpi=a.dpi)
    print(f"plot_scaling: wrote {a.out} ({sum(len(v) for v in series.values())} points, {len(series)} series)")


if __name__ == "__main__":
    main()
