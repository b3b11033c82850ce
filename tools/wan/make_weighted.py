#!/usr/bin/env python3
"""Reference outputs of the tiny Wan2.1 transformers with prompt weights in the cross-attention.

For each model make_tiny.py wrote (tests/fixtures/wan/<name>/transformer), runs
diffusers' WanTransformer3DModel on the same inputs (<name>.io.safetensors)
with an additive bias on the cross-attention (attn2) logits of the text keys:
log(w) for a weighted key, -inf for weight 0, 0 elsewhere (the padding rows
too), which is how timeshard applies prompt weights. The bias goes in as the
attention processor's float attention mask (scaled_dot_product_attention adds
it to q.k / sqrt(hd)). Checked first: a zero bias gives the stored unweighted
output. Writes <name>.weighted.safetensors:
  bias (L,)          float32  the bias per text row
  out  (T, h, w, C)  float32  diffusers' forward with it

usage: HF_HUB_OFFLINE=1 venv/bin/python tools/wan/make_weighted.py tests/fixtures/wan
"""
import math
import os
import sys

import torch
import diffusers
from diffusers import WanTransformer3DModel
from safetensors.torch import load_file, save_file

NAMES = ["c1_hd16", "c2_hd32", "c3_hd64", "c4_hd24"]
# weights of the first text rows (the rest 1); 0 masks that key
WEIGHTS = [1.5, 1.0, 0.5, 0.0, 2.5, 1.0, 0.25, 3.0]


class BiasedCross:
    """attn2's processor with an additive bias on the keys' logits."""

    def __init__(self, inner, bias):
        self.inner, self.bias = inner, bias

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        mask = self.bias.view(1, 1, 1, -1)
        return self.inner(attn, hidden_states, encoder_hidden_states, mask, rotary_emb)


def run(m, io, bias):
    for b in m.blocks:
        b.attn2.processor = BiasedCross(b.attn2.processor.inner if isinstance(b.attn2.processor, BiasedCross)
                                        else b.attn2.processor, bias)
    x = io["x"].permute(3, 0, 1, 2).unsqueeze(0)  # (1, C, T, h, w)
    with torch.no_grad():
        y = m(hidden_states=x, timestep=io["timestep"], encoder_hidden_states=io["context"].unsqueeze(0),
              return_dict=False)[0]
    return y[0].permute(1, 2, 3, 0).contiguous()


def main():
    diffusers.utils.logging.set_verbosity_error()
    d = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/wan"
    for name in NAMES:
        m = WanTransformer3DModel.from_pretrained(os.path.join(d, name, "transformer")).to(torch.float32).eval()
        io = load_file(os.path.join(d, name + ".io.safetensors"))
        L = io["context"].shape[0]
        zero = run(m, io, torch.zeros(L))
        err = ((zero - io["out"]).abs().max() / io["out"].abs().max()).item()
        assert err < 1e-6, f"{name}: the biased processor with a zero bias is off by {err}"
        w = torch.ones(L)
        n = min(len(WEIGHTS), L - 2)
        w[:n] = torch.tensor(WEIGHTS[:n])
        bias = torch.tensor([math.log(v) if v > 0 else -math.inf for v in w.tolist()], dtype=torch.float32)
        out = run(m, io, bias)
        rel = ((out - io["out"]).abs().max() / io["out"].abs().max()).item()
        save_file({"bias": bias.contiguous(), "out": out}, os.path.join(d, name + ".weighted.safetensors"),
                  metadata={"layout": "bias (L,): added to the cross-attention logits; out (T, h, w, C)"})
        print(f"{name}: zero bias == stored output (rel {err:.2g}); weighted output differs by rel {rel:.3g}")


if __name__ == "__main__":
    main()
