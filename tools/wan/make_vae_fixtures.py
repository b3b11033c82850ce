#!/usr/bin/env python3
"""Fixtures for timeshard's Wan2.1 VAE (src/model/wan/wan_vae.c), from diffusers.

Builds a tiny random AutoencoderKLWan of Wan2.1's real topology (dim_mult
[1, 2, 4, 4], num_res_blocks 2, temperal_downsample [False, True, True],
z_dim 16, the 16 latents_mean/std of the real config) with a small base_dim,
and writes under OUT (default tests/fixtures/wan_vae):

  vae/config.json, vae/diffusion_pytorch_model.safetensors
        what AutoencoderKLWan.save_pretrained writes (float32)
  wan_2.1_vae.safetensors
        the same weights in the original Wan-Video/Wan2.1 naming (wan/modules/vae.py),
        stored as bfloat16 (every weight is rounded to a bf16 value first, so both
        files hold the same numbers). The names are the inverse of diffusers'
        convert_wan_vae_to_diffusers (loaders/single_file_utils.py); the script
        checks the round trip through that converter. Not checked against Wan's
        own code here.
  vae.h5
        one group per case:
        decode cases (attr kind "decode"):
          latents      (T, h, w, 16)          float32, model space (what the DiT makes)
          z            (T, h, w, 16)          float32, de-normalised as WanPipeline does:
                                                 z = latents / (1/std) + mean
          frames       (1 + 4(T-1), 8h, 8w, 3) float32, vae.decode(z), clamped to [-1, 1]
          frames_raw   same shape              the same decode before the clamp
        encode cases (attr kind "encode"):
          frames       (F, H, W, 3)           float32 in [-1, 1], F = 1 + 4k
          mean         (1 + (F-1)/4, H/8, W/8, 16)  vae.encode(x).latent_dist.mean (raw space)
          latents      same shape              model space: (mean - mean_c) * (1/std_c)
All arrays are time-major and channels-last, as the engine keeps them.

Run with the diffusers venv, offline:
    HF_HUB_OFFLINE=1 venv/bin/python tools/wan/make_vae_fixtures.py [--out DIR]
    ... --reach [--base-dim 8]   measures the decoder's temporal reach (receptive field)
Wan2.1's real size (base_dim 96, 127M parameters; never committed):
    ... --base-dim 96 --small-cases --out /tmp/wan_vae_real
    ... --out /tmp/wan_vae_real --bench 12 20 3     diffusers' decode time and peak RSS
"""
import argparse
import os
import sys

import h5py
import numpy as np
import torch
from safetensors.torch import save_file

from diffusers import AutoencoderKLWan
from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

DECODE_CASES = [  # (name, T latent frames, h, w)
    ("dec_t1_2x3", 1, 2, 3),
    ("dec_t2_3x2", 2, 3, 2),
    ("dec_t3_2x2", 3, 2, 2),
    ("dec_t4_4x3", 4, 4, 3),
    ("dec_t5_2x4", 5, 2, 4),
]
ENCODE_CASES = [  # (name, F frames, H, W)
    ("enc_f1_16x24", 1, 16, 24),
    ("enc_f5_24x16", 5, 24, 16),
    ("enc_f9_16x16", 9, 16, 16),
]


def make_vae(base_dim, seed):
    torch.manual_seed(seed)
    vae = AutoencoderKLWan(base_dim=base_dim, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2,
                           temperal_downsample=[False, True, True])
    with torch.no_grad():
        for name, p in vae.named_parameters():
            if name.endswith("gamma"):  # RMS norm gains: around 1, not all ones
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn_like(p))
            # every value a bf16 value: the bf16 single file holds the same numbers
            p.copy_(p.to(torch.bfloat16).to(torch.float32))
    return vae.eval()


def to_original_names(sd):
    """diffusers names -> Wan-Video/Wan2.1 names (the inverse of convert_wan_vae_to_diffusers)."""
    out = {}
    res = {"norm1.gamma": "residual.0.gamma", "conv1.weight": "residual.2.weight", "conv1.bias": "residual.2.bias",
           "norm2.gamma": "residual.3.gamma", "conv2.weight": "residual.6.weight", "conv2.bias": "residual.6.bias",
           "conv_shortcut.weight": "shortcut.weight", "conv_shortcut.bias": "shortcut.bias"}
    for k, v in sd.items():
        n = None
        if k.startswith("quant_conv."):
            n = k.replace("quant_conv.", "conv1.")
        elif k.startswith("post_quant_conv."):
            n = k.replace("post_quant_conv.", "conv2.")
        else:
            part, rest = k.split(".", 1)  # encoder | decoder
            if rest.startswith("conv_in."):
                n = f"{part}.conv1." + rest[len("conv_in."):]
            elif rest.startswith("norm_out."):
                n = f"{part}.head.0." + rest[len("norm_out."):]
            elif rest.startswith("conv_out."):
                n = f"{part}.head.2." + rest[len("conv_out."):]
            elif rest.startswith("mid_block.attentions.0."):
                n = f"{part}.middle.1." + rest[len("mid_block.attentions.0."):]
            elif rest.startswith("mid_block.resnets."):
                i, tail = rest[len("mid_block.resnets."):].split(".", 1)
                n = f"{part}.middle.{2 * int(i)}.{res[tail]}"
            elif rest.startswith("down_blocks."):
                i, tail = rest[len("down_blocks."):].split(".", 1)
                n = f"{part}.downsamples.{i}.{res.get(tail, tail)}"
            elif rest.startswith("up_blocks."):
                b, tail = rest[len("up_blocks."):].split(".", 1)
                b = int(b)
                if tail.startswith("resnets."):
                    r, t2 = tail[len("resnets."):].split(".", 1)
                    n = f"{part}.upsamples.{4 * b + int(r)}.{res[t2]}"
                elif tail.startswith("upsamplers.0."):
                    n = f"{part}.upsamples.{4 * b + 3}." + tail[len("upsamplers.0."):]
        if n is None:
            sys.exit(f"make_vae_fixtures: no original name for {k}")
        out[n] = v
    return out


def cl(x):
    """(1, C, T, H, W) torch -> (T, H, W, C) float32 numpy."""
    return x[0].permute(1, 2, 3, 0).contiguous().numpy().astype(np.float32)


def cf(x):
    """(T, H, W, C) numpy -> (1, C, T, H, W) torch."""
    return torch.from_numpy(np.ascontiguousarray(x.transpose(3, 0, 1, 2)))[None]


def decode_unclamped(vae, z):
    """AutoencoderKLWan._decode without the final clamp (same loop)."""
    vae.clear_cache()
    x = vae.post_quant_conv(z)
    outs = []
    for i in range(z.shape[2]):
        vae._conv_idx = [0]
        outs.append(vae.decoder(x[:, :, i:i + 1], feat_cache=vae._feat_map, feat_idx=vae._conv_idx,
                                first_chunk=(i == 0)))
    vae.clear_cache()
    return torch.cat(outs, 2)


def denorm(vae, lat):
    mean = torch.tensor(vae.config.latents_mean).view(1, 16, 1, 1, 1)
    inv_std = 1.0 / torch.tensor(vae.config.latents_std).view(1, 16, 1, 1, 1)
    return lat / inv_std + mean  # exactly WanPipeline's expression


SMALL_DECODE_CASES = [("dec_t2_2x3", 2, 2, 3)]  # --small-cases (a real-size base_dim)
SMALL_ENCODE_CASES = [("enc_f5_16x24", 5, 16, 24)]


def write_fixtures(args):
    vae = make_vae(args.base_dim, args.seed)
    os.makedirs(args.out, exist_ok=True)
    vae.save_pretrained(os.path.join(args.out, "vae"), safe_serialization=True)
    sd = {k: v.detach().clone() for k, v in vae.state_dict().items()}
    orig = to_original_names(sd)
    back = convert_wan_vae_to_diffusers(orig)
    if set(back) != set(sd) or any(not torch.equal(back[k], sd[k]) for k in sd):
        sys.exit("make_vae_fixtures: original names do not round-trip through convert_wan_vae_to_diffusers")
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in orig.items()},
              os.path.join(args.out, "wan_2.1_vae.safetensors"))
    g = torch.Generator().manual_seed(args.seed + 1)
    with h5py.File(os.path.join(args.out, "vae.h5"), "w") as f, torch.no_grad():
        f.attrs["base_dim"] = args.base_dim
        for name, T, h, w in (SMALL_DECODE_CASES if args.small_cases else DECODE_CASES):
            lat = torch.randn(1, 16, T, h, w, generator=g)
            z = denorm(vae, lat)
            frames = vae.decode(z).sample
            raw = decode_unclamped(vae, z)
            assert torch.equal(frames, raw.clamp(-1, 1))
            grp = f.create_group(name)
            grp.attrs["kind"] = "decode"
            grp["latents"], grp["z"] = cl(lat), cl(z)
            grp["frames"], grp["frames_raw"] = cl(frames), cl(raw)
            print(f"{name}: latents {tuple(cl(lat).shape)} -> frames {tuple(cl(frames).shape)}, "
                  f"|raw| max {raw.abs().max():.3f}, clamped {(raw.abs() > 1).float().mean():.2f}")
        for name, F, H, W in (SMALL_ENCODE_CASES if args.small_cases else ENCODE_CASES):
            x = torch.rand(1, 3, F, H, W, generator=g) * 2 - 1
            mean = vae.encode(x).latent_dist.mean
            m = torch.tensor(vae.config.latents_mean).view(1, 16, 1, 1, 1)
            inv_std = 1.0 / torch.tensor(vae.config.latents_std).view(1, 16, 1, 1, 1)
            grp = f.create_group(name)
            grp.attrs["kind"] = "encode"
            grp["frames"], grp["mean"], grp["latents"] = cl(x), cl(mean), cl((mean - m) * inv_std)
            print(f"{name}: frames {tuple(cl(x).shape)} -> mean {tuple(cl(mean).shape)}")
    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(args.out) for fn in fns)
    print(f"wrote {args.out} ({total / 1e6:.2f} MB)")


def reach(args):
    """For each latent frame k, the last latent frame whose decoded frames change when
    latent frame k changes (exact float32 comparison, random weights)."""
    vae = make_vae(args.base_dim, args.seed)
    T = args.reach_frames
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        z = torch.randn(1, 16, T, 2, 2, generator=g)
        base = decode_unclamped(vae, z)
        for k in args.reach_k:
            z2 = z.clone()
            z2[:, :, k] += 1.0
            d = (decode_unclamped(vae, z2) != base).flatten(3).any(-1).any(1)[0]  # per output frame
            changed = [i for i in range(d.shape[0]) if d[i]]
            last = changed[-1]
            last_latent = 0 if last == 0 else (last - 1) // 4 + 1  # output frame -> its latent frame
            print(f"latent {k}: outputs change up to frame {last} (latent {last_latent}): "
                  f"reach {last_latent - k} latent frames")


def bench(args):
    """diffusers' decode time and peak RSS on this machine (compare: test_wan_vae bench)."""
    import resource
    import time
    torch.set_num_threads(args.threads)
    t0 = time.time()
    vae = AutoencoderKLWan.from_pretrained(os.path.join(args.out, "vae")).eval()
    rss_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    h, w, T = args.bench
    z = torch.randn(1, 16, T, h, w, generator=torch.Generator().manual_seed(3))
    t1 = time.time()
    with torch.no_grad():
        out = vae.decode(z).sample
    t2 = time.time()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    print(f"diffusers decode {T} latent frames {w}x{h} -> {tuple(out.shape)}: load {t1 - t0:.1f} s "
          f"(peak RSS {rss_load:.0f} MB), decode {t2 - t1:.1f} s, peak RSS {rss:.0f} MB, {args.threads} threads")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "wan_vae"))
    ap.add_argument("--base-dim", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--reach", action="store_true", help="measure the decoder's temporal reach instead")
    ap.add_argument("--reach-frames", type=int, default=48)
    ap.add_argument("--reach-k", type=int, nargs="*", default=[0, 1, 2, 5])
    ap.add_argument("--small-cases", action="store_true", help="one decode and one encode case (real-size base_dim)")
    ap.add_argument("--bench", type=int, nargs=3, metavar=("H", "W", "T"),
                    help="time diffusers' decode of OUT/vae on T latent frames of HxW instead")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.bench:
        bench(args)
    elif args.reach:
        reach(args)
    else:
        write_fixtures(args)


if __name__ == "__main__":
    main()
