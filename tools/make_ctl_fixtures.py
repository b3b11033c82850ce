"""Reference fixtures of the motion controls (docs/controls.md) for the C engine's tests.

Writes tests/fixtures/ctl_tiny.h5, a tiny untrained default-family model built with
controls (its dit.ctl_* weights, the per-frame and the per-token path hint
embeddings, random and non-zero; float16 values, stored as float16, so that
the engine reads exactly the weights the reference ran), and
tests/fixtures/ctl_ref.h5: five control specs and their per-frame vectors from
tools/physics.py control_vectors (the interface shared with the dataset, with the
planned track), and the
reference DiT's velocities with those controls, with all-zero controls and with
none. Also a 2-step guided generation with spec A from the engine's Philox noise.
Small and committed (CI has no PyTorch). Rerun after a change to
tools/train/tsmodel.py's DiT or to control_vector:

    python tools/make_ctl_fixtures.py
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
import physics  # noqa: E402
import tsmodel  # noqa: E402
from export import random_model, write_h5  # noqa: E402

TINY = dict(text_len=8, text_dim=16, text_layers=1, text_heads=2, image_size=16, vae_channels="4,8", vae_groups=2,
            latent_channels=4, vae_factor=2, patch=2, width=32, depth=2, heads=2, temporal_window=2, freq_dim=16,
            shift=2.0, vae_scale=0.8, fps=12.0, controls=tsmodel.CONTROL_DIM)
PROMPT = "a red circle bouncing on black background"
SEED = 4321
T = 7
# spec A: a path (held after its last key) with gravity, bounce and growth; spec B: a motion and gravity
# (a planned throw); spec C: a motion alone (a planned line, stopped by the wall); spec D: a gravity and a
# bounce (a planned fall that bounces); spec E: a growth alone (a planned centre, held, and a planned size).
# The same settings as text, as `timeshard generate` takes them.
SPEC_A = dict(path=[(0, 2.0, 3.0), (3, 10.0, 12.0), (5, 15.0, 1.0)], gravity=125.0, bounce=0.8, growth=-0.3)
SPEC_A_TEXT = dict(path="0:2,3 3:10,12 5:15,1", gravity="125", bounce="0.8", growth="-0.3")
SPEC_B = dict(motion=(1.5, -0.5), gravity=60.0)
SPEC_B_TEXT = dict(motion="1.5,-0.5", gravity="60")
SPEC_C = dict(motion=(3.0, 1.0))
SPEC_C_TEXT = dict(motion="3,1")
SPEC_D = dict(gravity=400.0, bounce=0.5)
SPEC_D_TEXT = dict(gravity="400", bounce="0.5")
SPEC_E = dict(growth=0.9)
SPEC_E_TEXT = dict(growth="0.9")


def vectors(spec, fps, size):
    return np.array(physics.control_vectors(T, fps, size, size, **spec), np.float32)


def main():
    torch.set_num_threads(1)
    out = os.path.join(HERE, "..", "tests", "fixtures")
    m = random_model(11, TINY).eval()
    with torch.no_grad():
        for p in m.parameters():  # float16 values: the stored weights are exactly the reference's
            p.copy_(p.half().float())
    assert m.dit.ctl_fc2.weight.abs().max() > 0 and m.dit.ctl_tok_fc2.weight.abs().max() > 0
    c = m.cfg
    write_h5(m, os.path.join(out, "ctl_tiny.h5"), "f16", {"label": "untrained: tiny random model with motion controls, for tests"})
    fps, size = c["fps"], c["image_size"]
    h, C = size // c["vae_factor"], c["latent_channels"]
    g = torch.Generator().manual_seed(5)
    ref = {"ctl.a": vectors(SPEC_A, fps, size), "ctl.b": vectors(SPEC_B, fps, size),
           "ctl.c": vectors(SPEC_C, fps, size), "ctl.d": vectors(SPEC_D, fps, size),
           "ctl.e": vectors(SPEC_E, fps, size)}
    assert ref["ctl.a"][:, 13].all() and ref["ctl.e"][:, 2].all(), "spec A has no planned size, E no centre"
    assert (np.diff(ref["ctl.d"][:, 1]) < 0).any(), "spec D does not bounce within the frames"
    assert ref["ctl.c"][-1, 0] < ref["ctl.c"][0, 0] + 3.0 * (T - 1) / size * 2 - 1e-3, "spec C meets no wall"
    with torch.no_grad():
        tok, pooled, mask = m.encode_text([PROMPT], "cpu")
        z = torch.randn(1, T, h, h, C, generator=g)
        sigma = torch.tensor([0.7])
        ref["dit.z"] = z[0].numpy()
        ctl = torch.from_numpy(ref["ctl.a"])[None]
        ref["dit.v_ctl"] = m.dit(z, sigma, tok, pooled, mask, controls=ctl)[0].numpy()
        ref["dit.v_ctl_b"] = m.dit(z, sigma, tok, pooled, mask, controls=torch.from_numpy(ref["ctl.b"])[None])[0].numpy()
        ref["dit.v_zero"] = m.dit(z, sigma, tok, pooled, mask, controls=torch.zeros(1, T, tsmodel.CONTROL_DIM))[0].numpy()
        ref["dit.v_none"] = m.dit(z, sigma, tok, pooled, mask)[0].numpy()
        # controls A on the first half of the frames only (a storyboard segment without controls
        # after one with them): the frames without get nothing from the control modules
        half = ctl.clone()
        half[:, T // 2:] = 0
        ref["dit.v_ctl_half"] = m.dit(z, sigma, tok, pooled, mask, controls=half)[0].numpy()
        # the flag gates: all-zero vectors are no controls, bit for bit
        assert np.array_equal(ref["dit.v_zero"], ref["dit.v_none"]), "all-zero control vectors changed the output"
        # the property the engine relies on: zero last layers add nothing, bit for bit
        last = (m.dit.ctl_fc2, m.dit.ctl_tok_fc2)
        keep = [(l.weight.clone(), l.bias.clone()) for l in last]
        for l in last:
            l.weight.zero_(), l.bias.zero_()
        same = torch.equal(m.dit(z, sigma, tok, pooled, mask, controls=ctl), m.dit(z, sigma, tok, pooled, mask))
        for l, (w, b) in zip(last, keep):
            l.weight.copy_(w), l.bias.copy_(b)
        assert same, "zeroed ctl_fc2 and ctl_tok_fc2 changed the reference's output"
        # each pathway reaches the output on its own (the path hint only where a path is given)
        for l, (w, b) in zip(last, keep):
            l.weight.zero_(), l.bias.zero_()
            d = (m.dit(z, sigma, tok, pooled, mask, controls=ctl)[0].numpy() - ref["dit.v_ctl"])
            l.weight.copy_(w), l.bias.copy_(b)
            assert np.abs(d).max() > 1e-3, "a control pathway adds nothing"
        for k in ("dit.v_ctl", "dit.v_ctl_b", "dit.v_ctl_half"):
            assert np.abs(ref[k] - ref["dit.v_none"]).max() > 1e-3, k  # the controls reach the output
        assert np.abs(ref["dit.v_ctl_half"] - ref["dit.v_ctl"]).max() > 1e-3, "the gates change nothing"
        # the planned size reaches the output (through the path hint's size bump and the per-frame MLP)
        nosize = ctl.clone()
        nosize[..., 12:] = 0
        assert np.abs(m.dit(z, sigma, tok, pooled, mask, controls=nosize)[0].numpy() - ref["dit.v_ctl"]).max() > 1e-3
        # 2-step guided generation with spec A from the engine's noise (Philox, stream 0)
        noise = torch.from_numpy(philox.normal(SEED, 0, 0, T * h * h * C).reshape(1, T, h, h, C))
        ref["sample.latents"] = tsmodel.sample(m, PROMPT, noise, 2, 3.0, controls=ctl)[0].numpy()
        # the same with control guidance 2.5 (--control-scale 2.5)
        ref["sample_cs2.5.latents"] = tsmodel.sample(m, PROMPT, noise, 2, 3.0, controls=ctl,
                                                     control_scale=2.5)[0].numpy()
    path = os.path.join(out, "ctl_ref.h5")
    with h5py.File(path + ".tmp", "w") as f:
        f.attrs["magic"] = np.bytes_("timeshard-fixture")
        f.attrs["version"] = 1
        f.attrs["prompt"] = np.bytes_(PROMPT)
        f.attrs["seed"] = SEED
        f.attrs["steps"] = 2
        f.attrs["cfg"] = 3.0
        f.attrs["frames"] = T
        f.attrs["sigma"] = 0.7
        for name, spec in (("a", SPEC_A_TEXT), ("b", SPEC_B_TEXT), ("c", SPEC_C_TEXT), ("d", SPEC_D_TEXT),
                           ("e", SPEC_E_TEXT)):
            for k, v in spec.items():
                f.attrs[f"ctl.{name}.{k}"] = np.bytes_(v)
        for k, v in ref.items():
            f.create_dataset(k, data=v)
    os.replace(path + ".tmp", path)
    print("wrote", path, "and ctl_tiny.h5:", ", ".join(f"{k}{tuple(v.shape)}" for k, v in ref.items()))


if __name__ == "__main__":
    main()
