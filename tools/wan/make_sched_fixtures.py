#!/usr/bin/env python3
"""Fixtures for timeshard's flow schedulers (src/sample/flow_sched.c), from diffusers.

Writes tests/fixtures/wan_sched/scheduler_config.json (UniPC, flow_shift 3.0, as
Wan2.1's Diffusers repos configure it) and tests/fixtures/wan_sched/sched.h5: one
group per case, each with
  attrs  config (the scheduler_config.json text diffusers saves), steps, model
         ("fake": the C test runs the same fake model on its own latents;
         "replay": the C test replays the recorded model outputs), model_dtype
         ("float32", or "bfloat16": a bf16 transformer, whose outputs make diffusers
         round sigma*v, and Euler's latents, to bf16), flow_sigmas
         ("diffusers" or "wan": Wan's own base sigmas handed to set_timesteps)
  timesteps     (steps,)        float64: what the pipeline hands the model
  sigmas        (steps+1,)      float32: the scheduler's sigma table
  latents       (steps+1, n)    float32: the start, then the latents after each step
  model_outputs (steps, n)      float32: what the scheduler was given at each step
  cond, uncond  (steps, n)      float32: the tiny cases' two forwards (attr guidance)

Every case runs the scheduler as WanPipeline does: set_timesteps(steps),
set_begin_index(0), step(noise_pred, t, latents) per timestep. The "tiny" cases
run WanPipeline itself (a tiny random WanTransformer3DModel, prompt embeddings
given, classifier-free guidance 4.3, output_type "latent") and record the
transformer's outputs and what reaches scheduler.step.

The fake model, computed in float64 from the float32 latents, then rounded:
    v = A*x + B*sin(x) + C*t/1000        (t: the timestep the model is given)

Run with the diffusers venv, offline:
    HF_HUB_OFFLINE=1 venv/bin/python tools/wan/make_sched_fixtures.py [--out DIR]
    ... --compare-wan   prints diffusers' and Wan's own UniPC timesteps side by side
"""
import argparse
import json
import os
import sys

import h5py
import numpy as np
import torch

from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler

A, B, C = 0.8, 0.25, 0.3
GUIDANCE = 4.3  # not a bf16 value: shows how torch rounds the Python scalar
SHAPE = (1, 4, 2, 4, 4)  # (batch, channels, latent frames, h, w): 128 elements


def fake_model(x, t):
    x64 = x.astype(np.float64)
    return (A * x64 + B * np.sin(x64) + C * float(t) / 1000.0).astype(np.float32)


def unipc(**kw):
    base = dict(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    base.update(kw)
    return UniPCMultistepScheduler(**base)


def euler(shift):
    return FlowMatchEulerDiscreteScheduler(shift=shift)


def config_text(sched):
    """The JSON diffusers writes into scheduler/scheduler_config.json."""
    return sched.to_json_string()


def wan_base_sigmas(steps, n_train=1000):
    """Wan's FlowUniPCMultistepScheduler: linspace(sigma_max, sigma_min, steps+1)[:-1] of its
    training table (shift 1 at init), before the sampling shift."""
    alphas = np.linspace(1, 1 / n_train, n_train)[::-1].copy()
    table = torch.from_numpy(1.0 - alphas).to(torch.float32)
    return np.linspace(table[0].item(), table[-1].item(), steps + 1).copy()[:-1]


def start_latents(seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(SHAPE).astype(np.float32)


def run_fake(sched, steps, seed, sigmas=None):
    if sigmas is None:
        sched.set_timesteps(steps)
    else:
        sched.set_timesteps(sigmas=np.array(sigmas, dtype=np.float64))
    sched.set_begin_index(0)
    x = torch.from_numpy(start_latents(seed))
    lat, outs, ts = [x.numpy().copy()], [], []
    for t in sched.timesteps:
        v = torch.from_numpy(fake_model(x.numpy(), t.item()))
        ts.append(float(t.item()))
        outs.append(v.numpy().copy())
        x = sched.step(v, t, x, return_dict=False)[0]
        lat.append(x.numpy().copy())
    return np.array(ts), sched.sigmas.numpy().astype(np.float32), np.stack(lat), np.stack(outs)


def run_tiny(sched, steps, seed, dtype=torch.float32):
    """WanPipeline with a tiny random transformer; records what reaches scheduler.step."""
    from diffusers import WanPipeline, WanTransformer3DModel

    torch.manual_seed(seed)
    tr = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=SHAPE[1],
                               out_channels=SHAPE[1], text_dim=16, freq_dim=32, ffn_dim=32, num_layers=2,
                               cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32).eval()
    tr = tr.to(dtype)
    pipe = WanPipeline(tokenizer=None, text_encoder=None, vae=None, scheduler=sched, transformer=tr)
    g = torch.Generator().manual_seed(seed + 1)
    pe = torch.randn(1, 8, 16, generator=g)
    ne = torch.randn(1, 8, 16, generator=g)
    x0 = torch.from_numpy(start_latents(seed))
    rec = {"t": [], "v": [], "x": [x0.numpy().copy()], "fw": []}
    orig_step = sched.step
    orig_forward = tr.forward

    def forward(*a, **k):  # per step: the conditional forward, then the unconditional one
        out = orig_forward(*a, **k)
        rec["fw"].append(out[0].detach().float().numpy().copy())
        return out

    tr.forward = forward

    def step(model_output, t, sample, *a, **k):
        out = orig_step(model_output, t, sample, *a, **k)
        rec["t"].append(float(t.item()))
        rec["v"].append(model_output.detach().float().numpy().copy())
        prev = out[0] if isinstance(out, tuple) else out.prev_sample
        rec["x"].append(prev.detach().float().numpy().copy())
        return out

    sched.step = step
    # height/width/frames only size the (given) latents: 8x spatial, 4x temporal
    lat = pipe(prompt_embeds=pe, negative_prompt_embeds=ne, height=SHAPE[3] * 8, width=SHAPE[4] * 8,
               num_frames=(SHAPE[2] - 1) * 4 + 1, num_inference_steps=steps, guidance_scale=GUIDANCE, latents=x0,
               output_type="latent", return_dict=False)[0]
    sched.step = orig_step
    tr.forward = orig_forward
    assert np.array_equal(lat.float().numpy(), rec["x"][-1]) and len(rec["fw"]) == 2 * steps
    fw = np.stack(rec["fw"])
    return (np.array(rec["t"]), sched.sigmas.numpy().astype(np.float32), np.stack(rec["x"]), np.stack(rec["v"]),
            fw[0::2], fw[1::2])


def cases():
    # name, scheduler factory, steps, model, flow sigmas (the tiny transformer in bf16: model "replay_bf16")
    yield "unipc_s3_n1", lambda: unipc(flow_shift=3.0), 1, "fake", "diffusers"
    yield "unipc_s3_n4", lambda: unipc(flow_shift=3.0), 4, "fake", "diffusers"
    yield "unipc_s3_n10", lambda: unipc(flow_shift=3.0), 10, "fake", "diffusers"
    yield "unipc_s3_n50", lambda: unipc(flow_shift=3.0), 50, "fake", "diffusers"
    yield "unipc_s5_n50", lambda: unipc(flow_shift=5.0), 50, "fake", "diffusers"
    yield "unipc_s5_n10_order1", lambda: unipc(flow_shift=5.0, solver_order=1), 10, "fake", "diffusers"
    yield "unipc_s5_n10_order3", lambda: unipc(flow_shift=5.0, solver_order=3), 10, "fake", "diffusers"
    yield ("unipc_s7_n12_bh1_variants",
           lambda: unipc(flow_shift=7.0, solver_type="bh1", lower_order_final=False, disable_corrector=[0, 3],
                         final_sigmas_type="sigma_min"), 12, "fake", "diffusers")
    yield "unipc_s5_n20_wansigmas", lambda: unipc(flow_shift=5.0), 20, "fake", "wan"
    yield "euler_s3_n1", lambda: euler(3.0), 1, "fake", "diffusers"
    yield "euler_s3_n4", lambda: euler(3.0), 4, "fake", "diffusers"
    yield "euler_s5_n10", lambda: euler(5.0), 10, "fake", "diffusers"
    yield "euler_s5_n50", lambda: euler(5.0), 50, "fake", "diffusers"
    yield "tiny_unipc_s3_n10", lambda: unipc(flow_shift=3.0), 10, "replay", "diffusers"
    yield "tiny_euler_s5_n8", lambda: euler(5.0), 8, "replay", "diffusers"
    yield "tiny_unipc_s3_n10_bf16", lambda: unipc(flow_shift=3.0), 10, "replay_bf16", "diffusers"
    yield "tiny_euler_s5_n8_bf16", lambda: euler(5.0), 8, "replay_bf16", "diffusers"


def compare_wan():
    for shift in (3.0, 5.0):
        for steps in (10, 30, 50):
            s = unipc(flow_shift=shift)
            s.set_timesteps(steps)
            d = s.timesteps.tolist()
            sg = wan_base_sigmas(steps)
            sg = shift * sg / (1 + (shift - 1) * sg)
            w = (sg * 1000).astype(np.int64).tolist()
            print(f"shift {shift} steps {steps}: diffusers ...{d[-4:]}  wan ...{w[-4:]}  "
                  f"(differ at {sum(a != b for a, b in zip(d, w))} of {steps})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "..", "tests", "fixtures", "wan_sched"))
    ap.add_argument("--compare-wan", action="store_true")
    a = ap.parse_args()
    if a.compare_wan:
        compare_wan()
        return
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "sched.h5")
    torch.set_num_threads(1)
    with h5py.File(path + ".tmp", "w") as f:
        f.attrs["magic"] = "timeshard wan_sched fixtures"
        f.attrs["version"] = 1
        f.attrs["fake_model"] = np.array([A, B, C])
        for i, (name, make, steps, model, flow) in enumerate(cases()):
            sched = make()
            cfg = config_text(sched)
            if model == "fake":
                sig = wan_base_sigmas(steps) if flow == "wan" else None
                ts, sigmas, lat, outs = run_fake(sched, steps, seed=100 + i, sigmas=sig)
                cond = uncond = None
            else:
                dt = torch.bfloat16 if model == "replay_bf16" else torch.float32
                ts, sigmas, lat, outs, cond, uncond = run_tiny(sched, steps, seed=100 + i, dtype=dt)
            assert np.all(np.isfinite(lat)) and np.abs(lat).max() < 100, name
            g = f.create_group(name)
            g.attrs["config"] = cfg
            g.attrs["steps"] = steps
            g.attrs["model"] = "replay" if model.startswith("replay") else model
            g.attrs["model_dtype"] = "bfloat16" if model == "replay_bf16" else "float32"
            g.attrs["flow_sigmas"] = flow
            g.create_dataset("timesteps", data=ts.astype(np.float64))
            g.create_dataset("sigmas", data=sigmas)
            n = int(np.prod(SHAPE))
            g.create_dataset("latents", data=lat.reshape(steps + 1, n), compression="gzip", shuffle=True)
            g.create_dataset("model_outputs", data=outs.reshape(steps, n), compression="gzip", shuffle=True)
            if cond is not None:  # the two forwards WanPipeline combined (guidance 5.0) into model_outputs
                g.attrs["guidance"] = GUIDANCE
                g.create_dataset("cond", data=cond.reshape(steps, n), compression="gzip", shuffle=True)
                g.create_dataset("uncond", data=uncond.reshape(steps, n), compression="gzip", shuffle=True)
            print(f"{name:28s} {json.loads(cfg)['_class_name']:32s} steps {steps:3d}  t ...{ts[-3:].tolist()}  "
                  f"max|x_end| {np.abs(lat[-1]).max():.3f}")
    os.replace(path + ".tmp", path)
    unipc(flow_shift=3.0).save_config(a.out)  # scheduler_config.json as Wan2.1's Diffusers repos ship it
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    sys.exit(main())
