#!/usr/bin/python3
# Reads DIR/latents.h5, checkpoint.h5 and group.h5 (written by test_io_latents) with
# h5py and checks layout, chunking, values (bit-exact) and attributes.
# usage: check_latents.py DIR
import os
import sys

import h5py
import numpy as np

d = sys.argv[1]
T, H, W, C = map(int, open(os.path.join(d, "expect.txt")).read().split())
t, y, x, k = np.meshgrid(np.arange(T), np.arange(H), np.arange(W), np.arange(C), indexing="ij")
base = (t * 1000 + y * 100 + x * 10 + k).astype(np.float32)
fails = 0


def check(cond, what):
    global fails
    print(("  ok    " if cond else "  FAIL  ") + what)
    fails += 0 if cond else 1


for name, bias, step in (("latents.h5", 0.25, None), ("checkpoint.h5", 0.5, 8)):
    with h5py.File(os.path.join(d, name), "r") as f:
        ds = f["latents"]
        check(ds.dtype == np.float32 and ds.shape == (T, H, W, C), f"{name}: float32 {ds.shape}")
        check(ds.chunks == (1, H, W, C), f"{name}: one frame per chunk {ds.chunks}")
        a = ds[...]
        want = base + np.float32(bias)
        check(a.tobytes() == want.tobytes(), f"{name}: values bit-exact")
        at = ds.attrs
        check(at["prompt"] == "a red circle moving left \u2014 caf\u00e9", f"{name}: prompt {at['prompt']!r}")
        check(at["seed"].dtype == np.uint64 and int(at["seed"]) == 0xDEADBEEFCAFEF00D, f"{name}: seed {at['seed']!r}")
        check(int(at["steps"]) == 30 and float(at["cfg"]) == 5.5 and float(at["fps"]) == 12.5, f"{name}: steps cfg fps")
        check(at["model_digest"] == "0123456789abcdef" * 4, f"{name}: model_digest")
        check(isinstance(at["timeshard_version"], str) and len(at["timeshard_version"]) > 0,
              f"{name}: timeshard_version {at['timeshard_version']!r}")
        if step is None:
            check("step" not in at, f"{name}: no step attribute")
            check(not {"sampler", "sampler_config", "shift", "noise"} & set(at),
                  f"{name}: no sampler or noise attributes (none given)")
        else:
            check(int(at["step"]) == step, f"{name}: step == {step}")
            check(at["sampler"] == "unipc" and at["sampler_config"] == "unipc (flow_shift 3.25, order 2, bh2)",
                  f"{name}: sampler {at['sampler']!r}, sampler_config {at['sampler_config']!r}")
            check(at["shift"].dtype == np.float64 and float(at["shift"]) == 3.25, f"{name}: shift float64 3.25")
            check(at["noise"] == "seed" and "noise_sha256" not in at, f"{name}: noise 'seed', no noise_sha256")
with h5py.File(os.path.join(d, "group.h5"), "r") as f:
    g, L = f["grp"], f["latents"]
    for name, bias in (("a0", 0.75), ("a1", 1.25)):
        a = g[name]
        check(a.dtype == np.float32 and a.shape == L.shape and a.chunks == L.chunks, f"group.h5: /grp/{name} laid out as /latents")
        check(a[...].tobytes() == (base + np.float32(bias)).tobytes(), f"group.h5: /grp/{name} values bit-exact")
    at = g.attrs
    check(at["step_index"].dtype == np.int64 and int(at["step_index"]) == 3, "group.h5: int64 attribute")
    check(at["shift"].dtype == np.float64 and float(at["shift"]) == 3.25, "group.h5: float64 attribute")
    check(at["sampler"] == "unipc", "group.h5: string attribute")
    check(g["timesteps"].dtype == np.float64 and list(g["timesteps"][...]) == [999, 750.5, 500, 250, 0],
          "group.h5: /grp/timesteps float64 vector")
print("check_latents.py:", "all checks passed" if not fails else f"{fails} check(s) FAILED")
sys.exit(1 if fails else 0)
