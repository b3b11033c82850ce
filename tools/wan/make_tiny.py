#!/usr/bin/env python3
"""Tiny random Wan2.1 transformers and the reference outputs the C tests compare with.

Builds several small `WanTransformer3DModel`s with diffusers (random weights,
HF_HUB_OFFLINE: nothing is downloaded), stores each twice:
  <name>/transformer/{config.json, diffusion_pytorch_model.safetensors}
      the diffusers layout (one config sharded, with its .safetensors.index.json)
  <name>.orig.safetensors
      one file in the original Wan naming (Wan-Video/Wan2.1 wan/modules/model.py),
      one of them with the `model.diffusion_model.` prefix of repackaged files
and writes <name>.io.safetensors with the inputs and diffusers' output:
  x        (T, h, w, C) float32   latents, engine layout (time-major, channels last)
  timestep (1,)         float32
  context  (L, text_dim) float32  text rows; the last rows are zeros (padding, attended)
  out      (T, h, w, C) float32   diffusers' forward, fp32 math on the stored weights
The stored dtype (fp32, bf16, fp16) is the model's; the reference runs in fp32
on those rounded values, which is what timeshard computes.

usage: HF_HUB_OFFLINE=1 venv/bin/python tools/wan/make_tiny.py tests/fixtures/wan
"""
import json
import os
import re
import sys

import torch
import diffusers
from diffusers import WanTransformer3DModel
from safetensors.torch import save_file

# name, heads, head_dim, layers, ffn, C, T, h, w, text_dim, freq_dim, L, pad, dtype, sharded, prefix, timestep
CONFIGS = [
    ("c1_hd16", 2, 16, 1, 48, 4, 1, 4, 6, 16, 256, 10, 4, torch.float32, False, False, 999.0),
    ("c2_hd32", 2, 32, 2, 64, 16, 3, 6, 4, 16, 64, 12, 5, torch.bfloat16, True, False, 733.25),
    ("c3_hd64", 1, 64, 3, 32, 4, 6, 4, 8, 16, 64, 8, 3, torch.bfloat16, False, True, 17.0),
    ("c4_hd24", 2, 24, 2, 32, 8, 5, 4, 2, 16, 256, 9, 2, torch.float16, False, False, 501.0),
]

# diffusers name -> original Wan name (the inverse of diffusers'
# convert_wan_transformer_to_diffusers table; norm2 and norm3 swap)
RULES = [
    (r"^condition_embedder\.time_embedder\.linear_1\.", "time_embedding.0."),
    (r"^condition_embedder\.time_embedder\.linear_2\.", "time_embedding.2."),
    (r"^condition_embedder\.text_embedder\.linear_1\.", "text_embedding.0."),
    (r"^condition_embedder\.text_embedder\.linear_2\.", "text_embedding.2."),
    (r"^condition_embedder\.time_proj\.", "time_projection.1."),
    (r"^blocks\.(\d+)\.attn1\.to_out\.0\.", r"blocks.\1.self_attn.o."),
    (r"^blocks\.(\d+)\.attn2\.to_out\.0\.", r"blocks.\1.cross_attn.o."),
    (r"^blocks\.(\d+)\.attn1\.to_([qkv])\.", r"blocks.\1.self_attn.\2."),
    (r"^blocks\.(\d+)\.attn2\.to_([qkv])\.", r"blocks.\1.cross_attn.\2."),
    (r"^blocks\.(\d+)\.attn1\.norm_([qk])\.", r"blocks.\1.self_attn.norm_\2."),
    (r"^blocks\.(\d+)\.attn2\.norm_([qk])\.", r"blocks.\1.cross_attn.norm_\2."),
    (r"^blocks\.(\d+)\.norm2\.", r"blocks.\1.norm3."),
    (r"^blocks\.(\d+)\.ffn\.net\.0\.proj\.", r"blocks.\1.ffn.0."),
    (r"^blocks\.(\d+)\.ffn\.net\.2\.", r"blocks.\1.ffn.2."),
    (r"^blocks\.(\d+)\.scale_shift_table$", r"blocks.\1.modulation"),
    (r"^scale_shift_table$", "head.modulation"),
    (r"^proj_out\.", "head.head."),
    (r"^patch_embedding\.", "patch_embedding."),
]


def to_original(name):
    for pat, rep in RULES:
        if re.search(pat, name):
            return re.sub(pat, rep, name)
    raise SystemExit(f"make_tiny: no original name for {name}")


def main():
    diffusers.utils.logging.set_verbosity_error()
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/wan"
    os.makedirs(out, exist_ok=True)
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers
    for i, (name, heads, hd, layers, ffn, C, T, h, w, text_dim, freq_dim, L, pad, dtype, sharded, prefix,
            timestep) in enumerate(CONFIGS):
        torch.manual_seed(1000 + i)
        m = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=heads, attention_head_dim=hd,
                                  in_channels=C, out_channels=C, text_dim=text_dim, freq_dim=freq_dim, ffn_dim=ffn,
                                  num_layers=layers, cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6,
                                  rope_max_seq_len=1024)
        with torch.no_grad():  # larger than the init so that every term matters
            for p in m.parameters():
                p.copy_(torch.randn_like(p) * (0.5 / max(p.shape[-1], 1) ** 0.5) + 0.02 * torch.randn_like(p))
        m = m.to(dtype)
        d = os.path.join(out, name)
        m.save_pretrained(os.path.join(d, "transformer"), max_shard_size="60KB" if sharded else "10GB",
                          safe_serialization=True)
        # the original naming, from the same stored tensors
        sd = {k: v.contiguous() for k, v in m.state_dict().items()}
        orig = {(("model.diffusion_model." if prefix else "") + to_original(k)): v for k, v in sd.items()}
        back = convert_wan_transformer_to_diffusers(dict(orig))  # diffusers' own table must undo ours
        assert set(back) == set(sd), (set(back) ^ set(sd))
        for k in sd:
            assert torch.equal(back[k], sd[k]), k
        # head_dim is not in the shapes: published files use 128; these say num_heads
        save_file(orig, os.path.join(out, name + ".orig.safetensors"), metadata={"num_heads": str(heads)})

        mf = m.to(torch.float32).eval()
        g = torch.Generator().manual_seed(7)
        x = torch.randn(1, C, T, h, w, generator=g)
        ctx = torch.randn(1, L, text_dim, generator=g)
        ctx[:, L - pad:] = 0
        t = torch.tensor([timestep], dtype=torch.float32)
        with torch.no_grad():
            y = mf(hidden_states=x, timestep=t, encoder_hidden_states=ctx, return_dict=False)[0]
        io = {
            "x": x[0].permute(1, 2, 3, 0).contiguous(),
            "timestep": t,
            "context": ctx[0].contiguous(),
            "out": y[0].permute(1, 2, 3, 0).contiguous(),
        }
        save_file(io, os.path.join(out, name + ".io.safetensors"),
                  metadata={"config": name, "layout": "x, out: (T, h, w, C); context: (L, text_dim)"})
        print(f"{name}: dim {heads * hd} layers {layers} T {T} {h}x{w} C {C} {str(dtype)[6:]}"
              f" max|out| {y.abs().max():.3g}")
    # the 3D RoPE of the published head width (128: t, h, w = 44, 42, 42) on 7
    # frames of 6x8 latents (3x4 tokens): (84, 128) cos and sin, diffusers' layout
    from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed
    rope = WanRotaryPosEmbed(128, (1, 2, 2), 1024)
    fc, fs = rope(torch.zeros(1, 16, 7, 6, 8))
    save_file({"cos": fc.reshape(-1, 128).float().contiguous(), "sin": fs.reshape(-1, 128).float().contiguous()},
              os.path.join(out, "rope_hd128.safetensors"),
              metadata={"layout": "(frames 7 x 3 x 4 tokens, 128): repeat-interleaved pairs"})
    total = 0
    for root, _, files in os.walk(out):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print(f"fixtures: {total / 1e6:.2f} MB in {out}")


if __name__ == "__main__":
    main()
