#!/usr/bin/env python3
"""Runs diffusers' WanPipeline from a --noise file, for comparison with
`timeshard generate --noise`: the reference of tests/e2e/test_wan.sh.

The noise file holds /noise float32 (T_latent, h, w, 16), time-major and
channels-last as timeshard reads it (diffusers' latents are (1, 16, T, h, w));
with --make-noise it is written first (standard normal, --seed). The pipeline is
loaded with every component in float32 and run twice from the same noise:
output_type "np" (frames) and "latent" (final model-space latents). Written to
--out (HDF5):
  /frames   uint8 (F, H, W, 3) = round(255 * clamp((x + 1) / 2)) of the "np" frames
            (diffusers' postprocess gives clamp(x / 2 + 0.5, 0, 1); float32, then x255)
  /latents  float32 (T, h, w, 16): the final latents ("latent")
  /step_latents float32 (steps, T, h, w, 16): the latents after each step
  /prompt_embeds, /negative_prompt_embeds float32 (512, text_dim): the text context
attributes: prompt, negative_prompt, steps, cfg, frames, width, height, timesteps.

    HF_HUB_OFFLINE=1 venv/bin/python tools/wan/run_pipeline.py --pipe tests/fixtures/wan_pipe \\
        --noise tests/fixtures/wan_pipe/noise.h5 --make-noise --frames 9 --width 48 --height 32 \\
        --steps 3 --cfg 4.0 --prompt "a red fox runs across a snowy field" --negative-prompt "" \\
        --out tests/fixtures/wan_pipe/ref.h5
"""
import argparse

import h5py
import numpy as np
import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pipe", required=True)
    ap.add_argument("--noise", required=True)
    ap.add_argument("--make-noise", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prompt", required=True)
    ap.add_argument("--negative-prompt", default="")
    ap.add_argument("--frames", type=int, default=9)
    ap.add_argument("--width", type=int, default=48)
    ap.add_argument("--height", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--cfg", type=float, default=4.0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    from diffusers import WanPipeline

    T, h, w = (args.frames - 1) // 4 + 1, args.height // 8, args.width // 8
    if args.make_noise:
        g = np.random.default_rng(args.seed)
        with h5py.File(args.noise, "w") as f:
            f["noise"] = g.standard_normal((T, h, w, 16)).astype(np.float32)
    with h5py.File(args.noise, "r") as f:
        noise = np.asarray(f["noise"], dtype=np.float32)
    assert noise.shape == (T, h, w, 16), noise.shape
    lat0 = torch.from_numpy(noise).permute(3, 0, 1, 2).unsqueeze(0).contiguous()  # (1, 16, T, h, w)

    torch.set_num_threads(1)
    pipe = WanPipeline.from_pretrained(args.pipe, dtype=torch.float32)
    assert all(getattr(pipe, c).dtype == torch.float32 for c in ("transformer", "text_encoder", "vae"))
    pipe.set_progress_bar_config(disable=True)
    with torch.no_grad():
        pe, ne = pipe.encode_prompt(args.prompt, args.negative_prompt, do_classifier_free_guidance=True,
                                    max_sequence_length=512)
    steps = []

    def keep(p, i, t, kw):
        steps.append(kw["latents"].detach().clone())
        return {}

    common = dict(prompt=args.prompt, negative_prompt=args.negative_prompt, height=args.height, width=args.width,
                  num_frames=args.frames, num_inference_steps=args.steps, guidance_scale=args.cfg,
                  max_sequence_length=512)
    with torch.no_grad():
        lat = pipe(latents=lat0.clone(), output_type="latent", callback_on_step_end=keep, **common).frames
        video = pipe(latents=lat0.clone(), output_type="np", **common).frames  # (1, F, H, W, 3) in [0, 1]
    timesteps = [int(t) for t in pipe.scheduler.timesteps]
    video = np.asarray(video, dtype=np.float32)[0]
    frames = np.round(video * np.float32(255)).astype(np.uint8)
    cl = lambda x: x[0].permute(1, 2, 3, 0).contiguous().numpy().astype(np.float32)  # (T, h, w, C)
    with h5py.File(args.out, "w") as f:
        f["frames"] = frames
        f["latents"] = cl(lat)
        f["step_latents"] = np.stack([cl(s) for s in steps])
        f["prompt_embeds"] = pe[0].numpy().astype(np.float32)
        f["negative_prompt_embeds"] = ne[0].numpy().astype(np.float32)
        for k in ("prompt", "negative_prompt", "steps", "cfg", "frames", "width", "height"):
            f.attrs[k] = getattr(args, k)
        f.attrs["timesteps"] = np.array(timesteps, dtype=np.int64)
    print(f"{args.out}: frames {frames.shape}, latents {tuple(lat.shape)}, timesteps {timesteps}")


if __name__ == "__main__":
    main()
