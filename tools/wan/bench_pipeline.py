#!/usr/bin/env python3
"""Prompt to video with a Wan2.1 pipeline: time and peak RSS per component,
timeshard beside diffusers' WanPipeline on the same directory, noise and threads.

timeshard runs `generate --model DIR --noise N.h5` with TIMESHARD_REPORT=1 (its
phases: loading, setup = tokenizer + text encoder + work space, sampling,
output = VAE decode + MP4 encode). diffusers runs in this process, the
components one after another with the peak RSS reset in between
(/proc/self/clear_refs): loading (from_pretrained, float32 as the reference
tests run it, or --dtype bf16), encode_prompt, the denoising loop from the
same noise with the prompt embeddings given, then the VAE decode. Needs
PyTorch, diffusers, transformers (the tools venv).

  HF_HUB_OFFLINE=1 python tools/wan/bench_pipeline.py --pipe /tmp/wan13b_pipe --bin build/timeshard \
      --frames 9 --width 160 --height 96 --steps 2 --threads 2

tools/wan/make_pipeline.py --size 1.3B writes a 1.3B-shaped pipeline. Prints
a Markdown table and one JSON line.
"""
import argparse
import json
import os
import re
import subprocess
import tempfile
import time

import h5py
import numpy as np
import torch


def peak_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def phase(fn):
    reset_peak()
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, peak_kb() / 1024.0


def run_timeshard(a, noise):
    env = dict(os.environ, TIMESHARD_REPORT="1", OMP_NUM_THREADS=str(a.threads),
               OPENBLAS_NUM_THREADS=str(a.threads))
    out = os.path.join(tempfile.mkdtemp(), "ts.mp4")
    cmd = ["/usr/bin/time", "-f", "wall_s %e", a.bin, "generate", "-q", "--model", a.pipe, "--prompt", a.prompt,
           "--negative-prompt", "", "--frames", str(a.frames), "--width", str(a.width), "--height", str(a.height),
           "--steps", str(a.steps), "--cfg", str(a.cfg), "--noise", noise, "--threads", str(a.threads), "--out", out]
    t0 = time.perf_counter()
    err = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stderr
    wall = time.perf_counter() - t0
    kv = dict(re.findall(r"(\w+) ([0-9.]+)%?", err.split("timeshard: report:")[1]))
    setup_s, samp_s, out_s = float(kv["setup_s"]), float(kv["sampling_s"]), float(kv["output_s"])
    return {"load": (wall - setup_s - samp_s - out_s, float(kv["load_peak_rss_kb"]) / 1024),
            "text": (setup_s, float(kv["setup_peak_rss_kb"]) / 1024),
            "denoise": (samp_s, float(kv["sampling_peak_rss_kb"]) / 1024),
            "decode": (out_s, float(kv["output_peak_rss_kb"]) / 1024),
            "total": (wall, float(kv["peak_rss_kb"]) / 1024)}


def run_diffusers(a, noise):
    from diffusers import WanPipeline
    torch.set_num_threads(a.threads)
    dtype = torch.float32 if a.dtype == "fp32" else torch.bfloat16
    t_all = time.perf_counter()
    reset_peak()
    pipe, t_load, m_load = phase(lambda: WanPipeline.from_pretrained(a.pipe, dtype=dtype))
    pipe.set_progress_bar_config(disable=True)
    lat0 = torch.from_numpy(noise).permute(3, 0, 1, 2).unsqueeze(0).contiguous().to(dtype)
    with torch.inference_mode():
        (pe, ne), t_text, m_text = phase(lambda: pipe.encode_prompt(
            a.prompt, "", do_classifier_free_guidance=a.cfg > 1, max_sequence_length=512))
        lat, t_dn, m_dn = phase(lambda: pipe(prompt_embeds=pe, negative_prompt_embeds=ne, latents=lat0.clone(),
                                             height=a.height, width=a.width, num_frames=a.frames,
                                             num_inference_steps=a.steps, guidance_scale=a.cfg,
                                             output_type="latent").frames)

        def decode():  # as WanPipeline does after its loop
            v = pipe.vae
            mean = torch.tensor(v.config.latents_mean).view(1, -1, 1, 1, 1).to(lat.dtype)
            std = 1.0 / torch.tensor(v.config.latents_std).view(1, -1, 1, 1, 1).to(lat.dtype)
            return pipe.video_processor.postprocess_video(v.decode(lat / std + mean, return_dict=False)[0],
                                                          output_type="np")
        _, t_dec, m_dec = phase(decode)
    total = time.perf_counter() - t_all
    return {"load": (t_load, m_load), "text": (t_text, m_text), "denoise": (t_dn, m_dn), "decode": (t_dec, m_dec),
            "total": (total, max(m_load, m_text, m_dn, m_dec))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pipe", required=True)
    ap.add_argument("--bin", default="build/timeshard")
    ap.add_argument("--prompt", default="a red fox runs across a snowy field")
    ap.add_argument("--frames", type=int, default=9)
    ap.add_argument("--width", type=int, default=160)
    ap.add_argument("--height", type=int, default=96)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--cfg", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32", help="what diffusers computes in")
    a = ap.parse_args()
    T, h, w = (a.frames - 1) // 4 + 1, a.height // 8, a.width // 8
    noise = np.random.default_rng(0).standard_normal((T, h, w, 16)).astype(np.float32)
    nf = os.path.join(tempfile.mkdtemp(), "noise.h5")
    with h5py.File(nf, "w") as f:
        f["noise"] = noise
    ts = run_timeshard(a, nf)
    df = run_diffusers(a, noise)
    names = {"load": "loading", "text": "tokenizer + text encoder", "denoise": f"denoising ({a.steps} steps, cfg {a.cfg:g})",
             "decode": "VAE decode (+ MP4 for timeshard)", "total": "prompt to frames, whole process"}
    print(f"| component | timeshard s | timeshard peak RSS MB | diffusers ({a.dtype}) s | diffusers peak RSS MB |")
    print("|---|---:|---:|---:|---:|")
    for k, n in names.items():
        print(f"| {n} | {ts[k][0]:.1f} | {ts[k][1]:.0f} | {df[k][0]:.1f} | {df[k][1]:.0f} |")
    print(json.dumps({"bench": "wan_pipeline", "pipe": a.pipe, "frames": a.frames, "width": a.width,
                      "height": a.height, "steps": a.steps, "threads": a.threads, "diffusers_dtype": a.dtype,
                      "timeshard": ts, "diffusers": df, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
