"""Time the PyTorch reference's DiT forward and the C engine's on the same
model, frames and threads (or GPU and dtype), in one run, and print the ratio.

    venv/bin/python tools/bench_torch.py --bin build/timeshard --threads 1 --frames 16
    python3 tools/bench_torch.py --bin build-gpu/timeshard --device cuda --dtype bf16 \
        --model synth:bench-full --frames 8          # on a GPU machine, the realistic preset
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


def synth_model(spec):
    """The PyTorch model of a synth:NAME config (configs/NAME.model); random weights (timing only)."""
    path = spec[6:]
    if "/" not in path:
        path = os.path.join(HERE, "..", "configs", path + ".model")
    cfg = dict(tsmodel.DEFAULT_CONFIG)
    vocab_n = 64
    for line in open(path):
        line = line.split("#")[0].strip()
        if not line or "=" not in line:
            continue
        k, v = (x.strip() for x in line.split("=", 1))
        if k == "vocab_size":
            vocab_n = int(v)
        elif k in cfg:
            cfg[k] = type(tsmodel.DEFAULT_CONFIG[k])(v)
    cfg["vae_factor"] = 2 ** (len(str(cfg["vae_channels"]).split(",")) - 1)
    vocab = ["<pad>", "<bos>", "<unk>"] + [f"w{i}" for i in range(3, vocab_n)]
    return tsmodel.TimeshardModel(cfg, vocab).eval(), cfg.get("label", "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--model", default=os.path.join(HERE, "..", "models", "default.h5"))
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    with torch.device(dev):  # random weights made on the device: seconds, not minutes, at 2B parameters
        m, _ = synth_model(a.model) if a.model.startswith("synth:") else load_h5(a.model)
    m = m.to(dev)
    amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(a.dtype)
    c = m.cfg
    hw = c["image_size"] // c["vae_factor"]
    z = torch.randn(1, a.frames, hw, hw, c["latent_channels"], device=dev)
    sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)
    with torch.no_grad(), torch.autocast(a.device, dtype=amp or torch.float32, enabled=amp is not None):
        tok, pooled, mask = m.encode_text(["a red circle moving left on a blue background"], dev)
        sigma = torch.tensor([0.5], device=dev)
        m.dit(z, sigma, tok, pooled, mask)
        sync()
        ts = []
        for _ in range(a.reps):
            t0 = time.perf_counter()
            m.dit(z, sigma, tok, pooled, mask)
            sync()
            ts.append(time.perf_counter() - t0)
    torch_ms = sorted(ts)[len(ts) // 2] * 1e3
    cmd = [a.bin, "bench", "--model", a.model, "--frames", str(a.frames), "--threads", str(a.threads), "--reps",
           str(a.reps), "--json"]
    if a.device == "cuda":
        cmd += ["--backend", "cuda", "--dtype", a.dtype]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    c_res = json.loads(out.stdout)
    where = f"{torch.cuda.get_device_name()} {a.dtype}" if a.device == "cuda" else f"{a.threads} thread(s)"
    print(f"# DiT forward, {a.model}, {a.frames} frames, {where}, median of {a.reps}")
    print("#  engine      fwd(ms)  GFLOP/s")
    gf = c_res["gflop"]
    print(f"  timeshard  {c_res['fwd_ms_median']:8.2f}  {gf / c_res['fwd_ms_median'] * 1e3:7.2f}")
    print(f"  pytorch    {torch_ms:8.2f}  {gf / torch_ms * 1e3:7.2f}   (torch {torch.__version__})")
    print(f"# ratio pytorch/timeshard = {torch_ms / c_res['fwd_ms_median']:.2f}; "
          f"GEMM peak {c_res['sgemm_gflops']:.1f} GFLOP/s, timeshard at {c_res['pct_peak']:.0f}% of it")


if __name__ == "__main__":
    main()
