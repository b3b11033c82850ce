"""Time the PyTorch reference's DiT forward and the C engine's on the same
model, frames and threads, in one run, and print the ratio.

    /work/venv/bin/python tools/bench_torch.py --bin build/timeshard --threads 1 --frames 16
"""
import argparse
import json
import os
import subprocess
import sys
import time

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "train"))
import tsmodel  # noqa: E402


def load_h5(path):
    with h5py.File(path) as f:
        cfg = {}
        for k, v in f["config"].attrs.items():
            cfg[k] = v.decode() if isinstance(v, bytes) else (v.item() if hasattr(v, "item") else v)
        vocab = [w.decode() if isinstance(w, bytes) else w for w in f["vocab"][:]]
        sd = {k: torch.from_numpy(f["tensors"][k][:].astype(np.float32)) for k in f["tensors"]}
    label = cfg.pop("label", "")
    m = tsmodel.TimeshardModel(cfg, vocab)
    m.load_state_dict(sd)
    return m.eval(), label


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--model", default=os.path.join(HERE, "..", "models", "default.h5"))
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    m, _ = load_h5(a.model)
    c = m.cfg
    hw = c["image_size"] // c["vae_factor"]
    z = torch.randn(1, a.frames, hw, hw, c["latent_channels"])
    with torch.no_grad():
        tok, pooled, mask = m.encode_text(["a red circle moving left on a blue background"], "cpu")
        sigma = torch.tensor([0.5])
        m.dit(z, sigma, tok, pooled, mask)
        ts = []
        for _ in range(a.reps):
            t0 = time.perf_counter()
            m.dit(z, sigma, tok, pooled, mask)
            ts.append(time.perf_counter() - t0)
    torch_ms = sorted(ts)[len(ts) // 2] * 1e3
    out = subprocess.run([a.bin, "bench", "--model", a.model, "--frames", str(a.frames), "--threads", str(a.threads),
                          "--reps", str(a.reps), "--json"], capture_output=True, text=True, check=True)
    c_res = json.loads(out.stdout)
    print(f"# DiT forward, {a.frames} frames, {a.threads} thread(s), median of {a.reps}")
    print("#  engine      fwd(ms)  GFLOP/s")
    gf = c_res["gflop"]
    print(f"  timeshard  {c_res['fwd_ms_median']:8.2f}  {gf / c_res['fwd_ms_median'] * 1e3:7.2f}")
    print(f"  pytorch    {torch_ms:8.2f}  {gf / torch_ms * 1e3:7.2f}   (torch {torch.__version__})")
    print(f"# ratio pytorch/timeshard = {torch_ms / c_res['fwd_ms_median']:.2f}; "
          f"sgemm peak {c_res['sgemm_gflops']:.1f} GFLOP/s, timeshard at {c_res['pct_peak']:.0f}% of it")


if __name__ == "__main__":
    main()
