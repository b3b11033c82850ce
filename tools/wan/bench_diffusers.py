#!/usr/bin/env python3
"""The Wan2.1 transformer forward: timeshard against diffusers, same machine, same run.

Turns alternate the two (`timeshard bench --model M --json`, then diffusers'
WanTransformer3DModel on the same file, shape and threads), so drift in the
machine's speed touches both alike; the ratio is taken per turn. Needs
PyTorch and diffusers (the tools venv), never the engine.

  python tools/wan/bench_diffusers.py --model /tmp/wan13b.safetensors --bin build/timeshard \
      --frames 9 --width 160 --height 96 --threads 2 --turns 3 --reps 3 --dtype bf16

--model: one safetensors file in the original Wan naming (tools/wan/make_big.py
writes a 1.3B-shaped one) or a diffusers directory. --dtype: what diffusers
computes in (fp32: the weights widened at load, as the engine computes; bf16:
the stored weights as they are). Both sides get the same input (the engine's
Philox noise, tools/philox.py); ratios are diffusers' time over the engine's,
from wall time and from process CPU time (all threads; steadier where other
work shares the machine); the summary gives the outputs' largest
difference relative to diffusers' largest value (the engine computes in float32,
so compare against --dtype fp32). Prints one JSON line per turn and a summary.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import time

import numpy as np
import torch
from safetensors import safe_open

import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from philox import normal  # noqa: E402  the engine's own noise, so both sides get the same input


def config_from_file(path):
    """The transformer's config from the original-naming tensors' shapes (as the engine infers it)."""
    with safe_open(path, "pt") as f:
        keys = list(f.keys())
        pre = "model.diffusion_model." if any(k.startswith("model.diffusion_model.") for k in keys) else ""
        dim, C = f.get_slice(pre + "patch_embedding.weight").get_shape()[:2]
        ffn = f.get_slice(pre + "blocks.0.ffn.0.weight").get_shape()[0]
        text_dim = f.get_slice(pre + "text_embedding.0.weight").get_shape()[1]
        freq = f.get_slice(pre + "time_embedding.0.weight").get_shape()[1]
        out = f.get_slice(pre + "head.head.weight").get_shape()[0] // 4
        heads = int((f.metadata() or {}).get("num_heads", dim // 128))  # 128 wide in every published Wan2.1
    layers = len({k.split(".")[len(pre.split(".")) ] for k in keys if k.startswith(pre + "blocks.")})
    return dict(patch_size=(1, 2, 2), num_attention_heads=heads, attention_head_dim=dim // heads, in_channels=C,
                out_channels=out, text_dim=text_dim, freq_dim=freq, ffn_dim=ffn, num_layers=layers,
                cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024), pre


def load(path, dtype):
    from diffusers import WanTransformer3DModel
    if os.path.isdir(path):
        sub = os.path.join(path, "transformer")
        return WanTransformer3DModel.from_pretrained(sub if os.path.isdir(sub) else path, dtype=dtype).eval()
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers
    from safetensors.torch import load_file
    cfg, pre = config_from_file(path)
    from accelerate import init_empty_weights
    with init_empty_weights(include_buffers=False):  # parameters come from the file; buffers (RoPE) are made
        m = WanTransformer3DModel(**cfg)
    sd = load_file(path)
    sd = {k[len(pre):]: v for k, v in sd.items()}
    sd = convert_wan_transformer_to_diffusers(sd)
    m.load_state_dict({k: v.to(dtype) for k, v in sd.items()}, assign=True, strict=True)
    del sd
    return m.eval()


def vm_hwm_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--bin", default="build/timeshard")
    ap.add_argument("--frames", type=int, default=9)
    ap.add_argument("--width", type=int, default=160)
    ap.add_argument("--height", type=int, default=96)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--turns", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3, help="timed forwards per turn and side (median)")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="bf16")
    ap.add_argument("--save", default="/tmp/ts_bench_wan_out.f32", help="where the engine writes its output")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dtype = torch.float32 if a.dtype == "fp32" else torch.bfloat16
    t0 = time.time()
    m = load(a.model, dtype)
    load_s = time.time() - t0
    T, h, w = (a.frames - 1) // 4 + 1, a.height // 8, a.width // 8
    C, D = m.config.in_channels, m.config.text_dim
    # bench_wan.c's input: Philox seed 42 latents (T, h, w, C), seed 11 for 24 text rows, zeros after
    x = torch.from_numpy(normal(42, 0, 0, T * h * w * C).reshape(T, h, w, C)).permute(3, 0, 1, 2)[None]
    x = x.contiguous().to(dtype)
    ctx = torch.zeros(1, 512, D)
    ctx[0, :24] = torch.from_numpy(normal(11, 0, 0, 24 * D).reshape(24, D))
    ctx = ctx.to(dtype)
    ts = torch.tensor([500.0])

    def fwd():
        with torch.inference_mode():
            return m(hidden_states=x, timestep=ts, encoder_hidden_states=ctx, return_dict=False)[0]

    ref = fwd().float()[0].permute(1, 2, 3, 0).numpy()  # (T, h, w, C), also the warm-up
    torch_rss = vm_hwm_mb()
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), OPENBLAS_NUM_THREADS=str(a.threads))
    cmd = [a.bin, "bench", "--model", a.model, "--frames", str(a.frames), "--width", str(a.width), "--height",
           str(a.height), "--threads", str(a.threads), "--reps", str(a.reps), "--json"]
    ratios, ts_ms, pt_ms, rel = [], [], [], None
    cpu_ratios = []  # the same from CPU time (process, all threads): steadier on a shared machine
    for turn in range(a.turns):
        save = ["--save-output", a.save] if turn == 0 else []
        out = subprocess.run(cmd + save, env=env, capture_output=True, text=True, check=True).stdout
        if turn == 0:  # the engine's output against diffusers' on the same input
            mine = np.fromfile(a.save, dtype=np.float32).reshape(ref.shape)
            rel = float(np.abs(mine - ref).max() / np.abs(ref).max())
        row = json.loads(out.strip().splitlines()[-1])
        times, cpu = [], []
        for _ in range(a.reps):
            t0, c0 = time.perf_counter(), time.process_time()
            fwd()
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        pt = statistics.median(times) * 1e3
        pt_cpu = statistics.median(cpu) * 1e3
        cpu_ratios.append(pt_cpu / row["fwd_cpu_ms_median"])
        ratios.append(pt / row["fwd_ms_median"])
        ts_ms.append(row["fwd_ms_median"])
        pt_ms.append(pt)
        print(json.dumps({"turn": turn + 1, "timeshard_ms": row["fwd_ms_median"], "diffusers_ms": round(pt, 3),
                          "ratio": round(ratios[-1], 4), "timeshard_cpu_ms": row["fwd_cpu_ms_median"],
                          "diffusers_cpu_ms": round(pt_cpu, 3), "cpu_ratio": round(cpu_ratios[-1], 4),
                          "timeshard_rss_mb": row["rss_peak_mb"], "fma_peak_gflops": row["fma_peak_gflops"],
                          "sgemm_gflops": row["sgemm_gflops"]}), flush=True)
    print(json.dumps({"summary": "wan_forward_vs_diffusers", "model": a.model, "params": row["params"],
                      "frames": a.frames, "width": a.width, "height": a.height, "tokens": row["tokens"],
                      "threads": a.threads, "turns": a.turns, "reps": a.reps, "diffusers_dtype": a.dtype,
                      "timeshard_ms_median": statistics.median(ts_ms), "diffusers_ms_median": statistics.median(pt_ms),
                      "ratio_median": round(statistics.median(ratios), 4), "ratio_min": round(min(ratios), 4),
                      "ratio_max": round(max(ratios), 4), "cpu_ratio_median": round(statistics.median(cpu_ratios), 4),
                      "cpu_ratio_min": round(min(cpu_ratios), 4), "cpu_ratio_max": round(max(cpu_ratios), 4),
                      "max_rel_diff": rel, "timeshard_rss_mb": row["rss_peak_mb"],
                      "diffusers_rss_mb": round(torch_rss, 1), "diffusers_load_s": round(load_s, 1),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
