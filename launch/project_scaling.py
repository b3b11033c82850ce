#!/usr/bin/env python3
"""Projected scaling efficiency from a few measured inputs (the performance model).

One sampler step on a rank that owns F frames costs
    t_compute = F * t_frame                      (t_frame: one frame through both guided forwards)
and its halo traffic is n_msg = 2 (guidance) * depth messages per side, each of
    b = W * N * D * bytes                       (W edge frames of N tokens of width D)
sent to both neighbours at once (full duplex), plus one small allreduce per step:
    t_comm = n_msg * (alpha + b / beta) + 2 * ceil(log2 P) * alpha
With no overlap assumed (the engine overlaps the halo with the owned frames' QKV
projection, so this is a lower bound on efficiency):
    weak scaling   (F fixed):       E(P) = t_compute / (t_compute + t_comm)
    strong scaling (T frames fixed): F = T / P,  E(P) = T * t_frame / (P * (F * t_frame + t_comm)),
                                     and P <= T / W (a rank owns at least W frames).
The final stitch (every decoded frame to rank 0 once) is outside the step and reported apart.

Inputs: --from-bench takes t_frame and the halo bytes from `timeshard bench --scaling weak --json`
rows (measured); otherwise give them (or --flops-per-frame with --tflops) on the command line.

    launch/project_scaling.py --from-bench weak.jsonl --gbps 12 --alpha-us 20
    launch/project_scaling.py --preset full-h200
"""
import argparse
import json
import math


def model_bytes(W, N, D, bytes_per):
    return W * N * D * bytes_per


def project(t_frame, depth, msg_bytes, alpha, beta, frames_per_rank, total_frames, W, ranks):
    n_msg = 2 * depth
    rows = []
    for P in ranks:
        t_msg = n_msg * (alpha + msg_bytes / beta)
        t_red = 2 * math.ceil(math.log2(P)) * alpha if P > 1 else 0.0
        t_comm = t_msg + t_red if P > 1 else 0.0
        tw = frames_per_rank * t_frame
        weak = tw / (tw + t_comm)
        strong = None
        if total_frames and P * W <= total_frames:
            F = total_frames / P
            strong = total_frames * t_frame / (P * (F * t_frame + t_comm))
        rows.append((P, tw * 1e3, t_comm * 1e3, weak, strong))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from-bench", help="JSON lines of `timeshard bench --scaling weak --json` (1-rank row used)")
    ap.add_argument("--preset", choices=["full-h200"], help="the realistic GPU preset with stated assumptions")
    ap.add_argument("--t-frame-ms", type=float, help="one frame through both guided forwards (ms)")
    ap.add_argument("--depth", type=int, default=30)
    ap.add_argument("--tokens", type=int, default=1600)
    ap.add_argument("--width", type=int, default=1536)
    ap.add_argument("--window", type=int, default=2)
    ap.add_argument("--bytes", type=int, default=4, help="bytes per activation value in the halo (fp32: 4)")
    ap.add_argument("--gbps", type=float, default=50.0, help="link bandwidth per direction, GB/s")
    ap.add_argument("--alpha-us", type=float, default=5.0, help="per-message latency, microseconds")
    ap.add_argument("--frames-per-rank", type=int, default=8)
    ap.add_argument("--frames", type=int, default=4096, help="video length for strong scaling")
    a = ap.parse_args()
    ranks = [8, 16, 32, 64, 128, 256, 512, 1024]
    note = ""
    if a.from_bench:
        rows = [json.loads(l) for l in open(a.from_bench) if l.strip().startswith("{")]
        r1 = next(r for r in rows if r["ranks"] == 1)
        t_frame = r1["step_ms"] / r1["frames"] / 1e3
        r2 = [r for r in rows if r["ranks"] >= 2]
        # bench reports MB received per step by the busiest rank: 2 sides * n_msg messages
        msg_bytes = (max(r["halo_mb"] for r in r2) * 1e6 / (2 * 2 * a.depth)) if r2 else 0.0
        note = f"measured: t_frame {t_frame * 1e3:.1f} ms, halo message {msg_bytes / 1e6:.2f} MB ({a.from_bench})"
    elif a.preset == "full-h200":
        # FLOPs per frame of one guided step of configs/bench-full.model (36 N D^2 + 4 N^2 D per block, 30 blocks,
        # two forwards), at the 447 TFLOP/s that PyTorch's bf16 factorised block reached on an H200 (ENVIRONMENT.md)
        N, D, depth = 1600, 1536, 30
        flops = 2 * depth * (36 * N * D * D + 4 * N * N * D)
        t_frame = flops / 447e12
        msg_bytes = model_bytes(a.window, N, D, a.bytes)
        note = (f"assumed: {flops / 1e12:.2f} TFLOP per frame-step at 447 TFLOP/s -> t_frame {t_frame * 1e3:.1f} ms; "
                f"halo message {msg_bytes / 1e6:.1f} MB ({a.bytes}-byte values)")
    else:
        t_frame = a.t_frame_ms / 1e3
        msg_bytes = model_bytes(a.window, a.tokens, a.width, a.bytes)
        note = f"given: t_frame {a.t_frame_ms} ms, halo message {msg_bytes / 1e6:.2f} MB"
    beta = a.gbps * 1e9
    alpha = a.alpha_us * 1e-6
    print(f"# projected scaling: {note}")
    print(f"# link {a.gbps:g} GB/s per direction, {a.alpha_us:g} us per message, no overlap assumed; "
          f"weak: {a.frames_per_rank} frames per rank; strong: {a.frames} frames")
    print("#  ranks  compute(ms)  comm(ms)  weak eff(%)  strong eff(%)")
    for P, tc, tm, weak, strong in project(t_frame, a.depth, msg_bytes, alpha, beta, a.frames_per_rank, a.frames,
                                           a.window, ranks):
        s = f"{100 * strong:13.1f}" if strong is not None else "            -"
        print(f"  {P:6d}  {tc:11.1f}  {tm:8.2f}  {100 * weak:11.1f}  {s}")


if __name__ == "__main__":
    main()
