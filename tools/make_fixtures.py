"""Reference fixtures for the C engine's tests, from the PyTorch reference.

Writes tests/fixtures/tiny.h5 (an untrained tiny model in the weights format,
float32) and tests/fixtures/ref.h5 (inputs and expected outputs). ref.h5 has
attributes magic='timeshard-fixture' and version=1. Small, committed: CI needs
no PyTorch. Rerun after any change to tools/train/tsmodel.py:

    python tools/make_fixtures.py
"""
import os
import sys

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "train"))
sys.path.insert(0, HERE)
import philox  # noqa: E402
import tsmodel  # noqa: E402
from export import random_model, write_h5, write_safetensors  # noqa: E402

TINY = dict(text_len=8, text_dim=32, text_layers=2, text_heads=2, image_size=16, vae_channels="8,16", vae_groups=4,
            latent_channels=4, vae_factor=2, patch=2, width=32, depth=2, heads=2, temporal_window=2, freq_dim=32,
            shift=2.0, vae_scale=0.8)
PROMPT = "a red circle moving left on a blue background zebra"
SEED = 1234


def main():
    torch.set_num_threads(1)
    out = os.path.join(HERE, "..", "tests", "fixtures")
    os.makedirs(out, exist_ok=True)
    m = random_model(7, TINY).eval()
    m.cfg["causal"] = 0
    write_h5(m, os.path.join(out, "tiny.h5"), "f32", {"label": "untrained: tiny random model for tests"})
    write_safetensors(m, os.path.join(out, "tiny.safetensors"), "f32", {"label": "untrained: tiny random model for tests"})
    c = m.cfg
    L, h = c["text_len"], c["image_size"] // c["vae_factor"]
    C = c["latent_channels"]
    T = 7
    g = torch.Generator().manual_seed(3)
    ref = {}
    with torch.no_grad():
        ids, n, unk = tsmodel.tokenize(PROMPT, m.vocab_index, L)
        ref["text.ids"] = np.array(ids, np.int32)
        ref["text.n_valid"] = np.array([n], np.int32)
        tok, pooled, mask = m.encode_text([PROMPT], "cpu")
        ref["text.tokens"], ref["text.pooled"] = tok[0].numpy(), pooled[0].numpy()
        tok_u, pooled_u, mask_u = m.encode_text([""], "cpu")
        ref["text_empty.tokens"], ref["text_empty.pooled"] = tok_u[0].numpy(), pooled_u[0].numpy()
        # the prompt with its second word ("red") at weight 0: masked as a key in the encoder and the DiT
        tok_w0, pooled_w0, mask_w0 = m.encode_text([PROMPT], "cpu", drop_words=[(1,)])
        ref["text_w0.tokens"], ref["text_w0.pooled"] = tok_w0[0].numpy(), pooled_w0[0].numpy()
        # DiT forward on a whole 7-frame video, text-to-video and image-to-video
        z = torch.randn(1, T, h, h, C, generator=g)
        sigma = torch.tensor([0.7])
        ref["dit.z"], ref["dit.sigma"] = z[0].numpy(), sigma.numpy()
        ref["dit.v"] = m.dit(z, sigma, tok, pooled, mask)[0].numpy()
        ref["dit_w0.v"] = m.dit(z, sigma, tok_w0, pooled_w0, mask_w0)[0].numpy()
        cond = torch.zeros_like(z)
        cond[:, 0] = torch.randn(1, h, h, C, generator=g)
        cmask = torch.zeros(1, T)
        cmask[:, 0] = 1
        ref["dit.cond"] = cond[0].numpy()
        ref["dit.v_i2v"] = m.dit(z, sigma, tok, pooled, mask, cond, cmask)[0].numpy()
        # causal variant of the same weights
        m.dit.cfg["causal"] = 1
        ref["dit.v_causal"] = m.dit(z, sigma, tok, pooled, mask)[0].numpy()
        m.dit.cfg["causal"] = 0
        # VAE
        zl = torch.randn(3, h, h, C, generator=g)
        ref["vae.z"] = zl.numpy()
        ref["vae.decoded"] = m.vae.decode(zl).numpy()
        img = torch.rand(2, c["image_size"], c["image_size"], 3, generator=g) * 2 - 1
        ref["vae.image"] = img.numpy()
        ref["vae.encoded"] = m.vae.encode(img).numpy()
        # 2-step generation from the engine's own noise (Philox, stream 0)
        n_el = T * h * h * C
        noise = torch.from_numpy(philox.normal(SEED, 0, 0, n_el).reshape(1, T, h, h, C))
        ref["sample.noise"] = noise[0].numpy()
        lat = tsmodel.sample(m, PROMPT, noise, 2, 3.0)
        ref["sample.latents"] = lat[0].numpy()
        ref["sample.frames"] = tsmodel.to_uint8(m.vae.decode(lat))[0].numpy()
    path = os.path.join(out, "ref.h5")
    with h5py.File(path + ".tmp", "w") as f:
        f.attrs["magic"] = np.bytes_("timeshard-fixture")
        f.attrs["version"] = 1
        f.attrs["prompt"] = np.bytes_(PROMPT)
        f.attrs["seed"] = SEED
        f.attrs["steps"] = 2
        f.attrs["cfg"] = 3.0
        f.attrs["frames"] = T
        f.attrs["unknown_words"] = np.bytes_(",".join(unk))
        for k, v in ref.items():
            f.create_dataset(k, data=v)
    os.replace(path + ".tmp", path)
    print("wrote", path, "and tiny.h5:", ", ".join(f"{k}{tuple(v.shape)}" for k, v in ref.items()))


if __name__ == "__main__":
    main()
