#!/bin/bash
# Wan2.1 end to end: a tiny random WanPipeline saved by diffusers
# (tests/fixtures/wan_pipe, tools/wan/make_pipeline.py) run by `timeshard
# generate` from the noise diffusers' WanPipeline started from
# (tools/wan/run_pipeline.py wrote ref.h5): frames within 2/255 and final
# latents within 1e-3 relative of diffusers'; 1, 2 and 3 ranks bit-identical;
# checkpoints (Euler, and UniPC with its state in /sampler) resumed on other rank
# counts equal the uninterrupted run bit for bit; prompt weights; storyboards (1, 2,
# 3 ranks bit for bit, the latent-frame rule); bad input one clear error each.
source "$(dirname "$0")/lib.sh"
PIPE=$SRC/tests/fixtures/wan_pipe
REF=$PIPE/ref.h5
P="a red fox runs across a snowy field"
G=("$TS" generate --model "$PIPE" --prompt "$P" --negative-prompt "" --frames 9 --width 48 --height 32 --steps 3
   --cfg 4.0 --noise "$PIPE/noise.h5" -q)

for n in 1 2 3; do
    rc=0
    if [ $n = 1 ]; then "${G[@]}" --out $WORK/f$n.h5 --latents $WORK/l$n.h5 > $WORK/run$n.log 2>&1 || rc=$?
    else $MPIRUN -np $n "${G[@]}" --out $WORK/f$n.h5 --latents $WORK/l$n.h5 > $WORK/run$n.log 2>&1 || rc=$?; fi
    [ $rc = 0 ] && [ -s $WORK/f$n.h5 ] && [ -s $WORK/l$n.h5 ]; ok=$((1 - $?))
    verdict "wan: $n rank(s) run" $ok "rc=$rc"
    [ $ok = 1 ] || sed 's/^/      | /' $WORK/run$n.log | tail -20
done

# against diffusers, and the ranks against each other
$PY - "$REF" "$WORK" <<'PYEOF' > $WORK/cmp.txt
import sys, h5py, numpy as np
ref, w = sys.argv[1], sys.argv[2]
with h5py.File(ref, "r") as f:
    rf, rl = np.asarray(f["frames"]).astype(np.int64), np.asarray(f["latents"])
def load(n):
    try:
        with h5py.File(f"{w}/f{n}.h5", "r") as a, h5py.File(f"{w}/l{n}.h5", "r") as b:
            return np.asarray(a["frames"]), np.asarray(b["latents"])
    except OSError:
        return None, None
f1, l1 = load(1)
if f1 is None:
    print("frames 0 missing"); print("latents 0 missing")
else:
    d = np.abs(f1.astype(np.int64) - rf).max() if f1.shape == rf.shape else 999
    e = np.abs(l1 - rl).max() / np.abs(rl).max() if l1.shape == rl.shape else 999.0
    print(f"frames {int(d <= 2)} max |diff| {d}/255 over {f1.shape} ({int((f1 != rf).sum()) if f1.shape == rf.shape else -1} values differ)")
    print(f"latents {int(e <= 1e-3)} relative error {e:.3g} over {l1.shape}")
for n in (2, 3):
    fn, ln = load(n)
    same = f1 is not None and fn is not None and np.array_equal(fn, f1) and ln.tobytes() == l1.tobytes()
    print(f"ranks{n} {int(same)} frames and latents bit for bit equal to 1 rank")
PYEOF
while read -r key ok detail; do verdict "wan: $key" "$ok" "$detail"; done < $WORK/cmp.txt

# a windowed run over ranks of unequal shares (5 latent frames: 2, 2, 1), with Euler:
# 3 ranks give the 1-rank frames and latents bit for bit
W5=$WORK/noise5.h5
$PY -c "import h5py, numpy as np; h5py.File('$W5', 'w')['noise'] = np.random.default_rng(5).standard_normal((5, 4, 6, 16)).astype(np.float32)"
for n in 1 3; do
    $MPIRUN -np $n "$TS" generate --model "$PIPE" --prompt "$P" --frames 17 --width 48 --height 32 --steps 2 --cfg 4.0 \
        --window 1 --sampler euler --noise $W5 --out $WORK/w$n.h5 --latents $WORK/wl$n.h5 -q > $WORK/w$n.log 2>&1
done
$PY - "$WORK" <<'PYEOF' > $WORK/cmpw.txt
import sys, h5py, numpy as np
w = sys.argv[1]
try:
    a = [np.asarray(h5py.File(f"{w}/{k}.h5", "r")[d]) for k, d in (("w1", "frames"), ("w3", "frames"), ("wl1", "latents"), ("wl3", "latents"))]
    print(int(a[0].shape == (17, 32, 48, 3) and np.array_equal(a[0], a[1]) and a[2].tobytes() == a[3].tobytes()), a[0].shape)
except OSError as e:
    print(0, e)
PYEOF
read -r ok detail < $WORK/cmpw.txt; verdict "wan: window 1, euler, 3 ranks == 1 rank" "$ok" "$detail"
# the same pipeline as a single-file transformer with --text-encoder, --vae and --tokenizer
# (no scheduler config: Wan's UniPC, here with the directory's shift): the directory's run
"$TS" generate --model "$PIPE/transformer/diffusion_pytorch_model.safetensors" --text-encoder "$PIPE/text_encoder" \
    --vae "$PIPE/vae" --tokenizer "$PIPE/tokenizer" --shift 3 --prompt "$P" --negative-prompt "" --frames 9 --width 48 \
    --height 32 --steps 3 --cfg 4.0 --noise "$PIPE/noise.h5" --out $WORK/sf.h5 --latents $WORK/sl.h5 -q > $WORK/sf.log 2>&1
$PY - "$WORK" <<'PYEOF' > $WORK/cmps.txt
import sys, h5py, numpy as np
w = sys.argv[1]
try:
    a = [np.asarray(h5py.File(f"{w}/{k}.h5", "r")[d]) for k, d in (("sf", "frames"), ("f1", "frames"), ("sl", "latents"), ("l1", "latents"))]
    print(int(np.array_equal(a[0], a[1]) and a[2].tobytes() == a[3].tobytes()))
except OSError as e:
    print(0, e)
PYEOF
read -r ok detail < $WORK/cmps.txt; verdict "wan: single file + --text-encoder --vae --tokenizer == the directory" "$ok" "${detail:-}"
# the latents record the sampler and its shift: the directory's UniPC with scheduler_config.json's
# shift 3, a single file's default (Wan's UniPC, shift 5), the windowed run's Euler
"$TS" generate --model "$PIPE/transformer/diffusion_pytorch_model.safetensors" --text-encoder "$PIPE/text_encoder" \
    --vae "$PIPE/vae" --tokenizer "$PIPE/tokenizer" --prompt "$P" --frames 5 --width 48 --height 32 --steps 1 \
    --out none --latents $WORK/sl5.h5 -q > $WORK/sl5.log 2>&1
$PY - "$WORK" <<'PYEOF' > $WORK/cmpa.txt
import sys, h5py
w = sys.argv[1]
want = {"l1": ("unipc", 3.0, "unipc (flow_shift 3, order 2, bh2)"), "sl5": ("unipc", 5.0, "unipc (flow_shift 5, order 2, bh2)"),
        "wl1": ("euler", 3.0, "euler (shift 3)")}
for k, (s, sh, cfg) in want.items():
    try:
        a = h5py.File(f"{w}/{k}.h5", "r")["latents"].attrs
        got = (a.get("sampler"), float(a.get("shift", -1)), a.get("sampler_config"))
    except OSError as e:
        got = str(e)
    print(f"{k} {int(got == (s, sh, cfg))} {got}")
PYEOF
while read -r key ok detail; do verdict "wan: latents attributes sampler, shift ($key)" "$ok" "$detail"; done < $WORK/cmpa.txt
# Euler checkpoint at step 2 of 4 on 3 ranks, resumed on 2: the uninterrupted latents bit for bit
A=("$TS" generate --model "$PIPE" --prompt "$P" --frames 17 --width 48 --height 32 --steps 4 --cfg 4 --sampler euler -q)
$MPIRUN -np 3 "${A[@]}" --checkpoint $WORK/ck.h5 --checkpoint-every 2 --latents $WORK/full.h5 --out $WORK/ckf.h5 > $WORK/ck.log 2>&1
$MPIRUN -np 2 "${A[@]}" --resume $WORK/ck.h5 --latents $WORK/res.h5 --out $WORK/resf.h5 > $WORK/res.log 2>&1
$PY - "$WORK" <<'PYEOF' > $WORK/cmpr.txt
import sys, h5py, numpy as np
w = sys.argv[1]
try:
    a, b = (np.asarray(h5py.File(f"{w}/{k}.h5", "r")["latents"]) for k in ("full", "res"))
    print(int(a.tobytes() == b.tobytes()))
except OSError as e:
    print(0, e)
PYEOF
read -r ok detail < $WORK/cmpr.txt; verdict "wan: euler checkpoint on 3 ranks resumed on 2 == uninterrupted" "$ok" "${detail:-}"
[ "$ok" = 1 ] || tail -5 $WORK/res.log
# UniPC (order 2, the directory's scheduler) checkpoint at step 2 of 4 on 3 ranks: /sampler holds its
# state; resumed on 2 ranks and on 1, the uninterrupted 1-rank latents bit for bit. The same checkpoint
# with its state arrays zeroed resumes to other latents: the state is what makes them equal.
U=("$TS" generate --model "$PIPE" --prompt "$P" --frames 17 --width 48 --height 32 --steps 4 --cfg 4 -q --out none)
"${U[@]}" --latents $WORK/u1.h5 > $WORK/u1.log 2>&1
$MPIRUN -np 3 "${U[@]}" --checkpoint $WORK/uck.h5 --checkpoint-every 2 --latents $WORK/u3.h5 > $WORK/uck.log 2>&1
$MPIRUN -np 2 "${U[@]}" --resume $WORK/uck.h5 --latents $WORK/ur2.h5 > $WORK/ur2.log 2>&1
"${U[@]}" --resume $WORK/uck.h5 --latents $WORK/ur1.h5 > $WORK/ur1.log 2>&1
$PY - "$WORK" <<'PYEOF' > $WORK/uz.txt
import sys, h5py, numpy as np
w = sys.argv[1]
try:
    with h5py.File(f"{w}/uck.h5", "r") as f, h5py.File(f"{w}/uz.h5", "w") as g:
        for k in ("latents", "sampler"):
            f.copy(k, g)
        for k in ("model_output.0", "model_output.1", "last_sample"):
            g["sampler"][k][...] = 0
    print(1)
except (OSError, KeyError) as e:
    print(0, e)
PYEOF
$MPIRUN -np 2 "${U[@]}" --resume $WORK/uz.h5 --latents $WORK/urz.h5 > $WORK/urz.log 2>&1
$PY - "$WORK" <<'PYEOF' > $WORK/cmpu.txt
import sys, h5py, numpy as np
w = sys.argv[1]
def lat(k):
    try:
        with h5py.File(f"{w}/{k}.h5", "r") as f:
            return np.asarray(f["latents"])
    except OSError:
        return None
try:
    with h5py.File(f"{w}/uck.h5", "r") as f:
        s, L = f["sampler"], f["latents"]
        arrays = ("model_output.0", "model_output.1", "last_sample")
        ok = int(L.attrs["step"]) == 2 and s.attrs["sampler"] == "unipc" and int(s.attrs["step_index"]) == 2
        ok &= s.attrs["config"] == "unipc (flow_shift 3, order 2, bh2)" and int(s.attrs["lower_order_nums"]) == 2
        ok &= all(s[k].dtype == np.float32 and s[k].shape == L.shape and s[k].chunks == L.chunks for k in arrays)
        ok &= all(np.abs(s[k][...]).max() > 0 for k in arrays) and s["timesteps"].shape == (4,) and s["sigmas"].shape == (5,)
        print(f"layout {int(ok)} /sampler: {', '.join(sorted(s))}; {', '.join(sorted(s.attrs))}")
    with h5py.File(f"{w}/ck.h5", "r") as f:
        print(f"euler {int('sampler' not in f)} no /sampler group")
except (OSError, KeyError) as e:
    print(f"layout 0 {e}"); print(f"euler 0 {e}")
a = lat("u1")
for k, what in (("u3", "3 ranks with checkpoints"), ("ur2", "resumed on 2 ranks"), ("ur1", "resumed on 1 rank")):
    b = lat(k)
    print(f"{k} {int(a is not None and b is not None and a.tobytes() == b.tobytes())} {what} == uninterrupted 1 rank")
z = lat("urz")
print(f"urz {int(a is not None and z is not None and z.shape == a.shape and a.tobytes() != z.tobytes())} "
      f"state zeroed -> other latents (max |diff| {np.abs(z - a).max() if a is not None and z is not None else 'n/a'})")
PYEOF
while read -r key ok detail; do verdict "wan: unipc checkpoint: $key" "$ok" "$detail"; done < $WORK/cmpu.txt
grep -q "^ur2 1" $WORK/cmpu.txt || tail -5 $WORK/ur2.log
# MP4 at twice the model's rate (interpolated) on 2 ranks: 9 frames -> 17
$MPIRUN -np 2 "${G[@]}" --fps-out 32 --out $WORK/v.mp4 > $WORK/v.log 2>&1
n=$(ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 $WORK/v.mp4 2>/dev/null)
[ "$n" = 17 ]; verdict "wan: MP4 with --fps-out 32 on 2 ranks: 17 frames" $((1 - $?)) "got ${n:-none}"
"$TS" info "$PIPE" > $WORK/info.txt 2>&1
grep -q "81 frames, 832x480 pixels, latents (21, 60, 104, 16)" $WORK/info.txt && grep -q "shift  *3" $WORK/info.txt
verdict "wan: info shows the defaults (81 frames, 832x480, the scheduler's shift)" $((1 - $?))
# a transformer alone (one file, or the diffusers transformer/ folder): its config, tensors, dtypes and
# parameters, as for the other weights files (it was refused as needing --text-encoder and --vae, and
# the folder as not a weights file)
for t in "$PIPE/transformer/diffusion_pytorch_model.safetensors" "$PIPE/transformer"; do
    rc=0; "$TS" info "$t" > $WORK/tinfo.txt 2>&1 || rc=$?
    [ $rc = 0 ] && grep -q "^# wan transformer $t (diffusers naming" $WORK/tinfo.txt &&
        grep -q "^# config ($PIPE/transformer/config.json)$" $WORK/tinfo.txt && grep -q "^  layers  *2$" $WORK/tinfo.txt &&
        grep -qE "^  blocks.0.attn1.to_q.weight +\(32, 32\) +bf16$" $WORK/tinfo.txt &&
        grep -q "^# 48032 parameters (bf16 48032)$" $WORK/tinfo.txt
    verdict "wan: info on the transformer's $([ -d "$t" ] && echo folder || echo file)" $((1 - $?)) \
        "rc=$rc: $(head -c 90 $WORK/tinfo.txt)"
done
rc=0; "$TS" info "$SRC/tests/fixtures/wan/c1_hd16.orig.safetensors" > $WORK/tinfo.txt 2>&1 || rc=$?
[ $rc = 0 ] && grep -q "(original naming; to generate, it needs --text-encoder and --vae)" $WORK/tinfo.txt &&
    grep -q "^# config (inferred from the tensors' shapes)$" $WORK/tinfo.txt && grep -q "^  layers  *1$" $WORK/tinfo.txt &&
    grep -qE "^# [0-9]+ parameters \(" $WORK/tinfo.txt
verdict "wan: info on an original-naming file" $((1 - $?)) "rc=$rc: $(head -c 90 $WORK/tinfo.txt)"

# bench on a Wan2.1 transformer: strong-scaling rows of 1..3 ranks, each checked against 1 rank's output
$MPIRUN -np 3 "$TS" bench --model "$PIPE" --scaling strong --frames 13 --width 48 --height 32 --reps 1 --json \
    > $WORK/wbench.json
$PY - $WORK/wbench.json <<'PYEOF'
import sys, json
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
ok = [r["ranks"] for r in rows] == [1, 2, 3] and all(r["same_as_1_rank"] for r in rows)
ok = ok and rows[0]["gather_mb"] == 0 and all(r["gather_mb"] > 0 and 0 <= r["wait_pct"] <= 100 for r in rows[1:])
print(f"  {'wan: bench --scaling strong (3 ranks)':44s} {'OK  ' if ok else 'FAIL'}   "
      f"gather_mb={[r.get('gather_mb') for r in rows]}")
sys.exit(0 if ok else 1)
PYEOF
verdict "  (wan bench)" $((1 - $?))
"$TS" bench --model "$PIPE" --frames 9 --width 48 --height 32 --reps 1 --json --save-output $WORK/wv.f32 > $WORK/wb1.json
$PY - $WORK/wb1.json $WORK/wv.f32 <<'PYEOF'
import sys, json, os
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
ok = r["bench"] == "wan_forward" and r["latent_frames"] == 3 and r["tokens"] == 18 and r["fwd_ms_median"] > 0
ok = ok and os.path.getsize(sys.argv[2]) == 3 * 4 * 6 * 16 * 4  # (T, h, w, C) float32
print(f"  {'wan: bench one forward, --save-output':44s} {'OK  ' if ok else 'FAIL'}   tokens={r.get('tokens')}")
sys.exit(0 if ok else 1)
PYEOF
verdict "  (wan bench forward)" $((1 - $?))
expect_fail "wan: bench --scaling weak" $WORK/none "$TS" bench --model "$PIPE" --scaling weak
# --dry-run: the settings and the memory plan, nothing written; the plan still refuses what cannot fit
"$TS" generate --dry-run --model "$PIPE" --prompt "$P" --frames 81 --width 832 --height 480 --out $WORK/dry.mp4 \
    > $WORK/dry.txt 2>&1
rc=$?
ok=0; [ $rc = 0 ] && [ ! -e $WORK/dry.mp4 ] && grep -q "memory .* MiB (.* GiB) per rank planned" $WORK/dry.txt && ok=1
verdict "wan: --dry-run prints the memory plan, writes nothing" $ok "rc=$rc"
# the plan counts every prompt it encodes: each storyboard segment adds its text rows
# (512 x (text_dim + 3 dim) floats = 256 KiB for this pipeline's 32 and 32)
printf '0-20: %s\n21-40: a blue bird flies\n41-80: a green frog sits\n' "$P" > $WORK/dry3.txt
"$TS" generate --dry-run --model "$PIPE" --storyboard $WORK/dry3.txt --frames 81 --width 832 --height 480 \
    > $WORK/dry3.txt.out 2>&1
/usr/bin/python3 - $WORK/dry.txt $WORK/dry3.txt.out <<'PYEOF'
import re, sys
mib = [float(re.search(r"memory +([0-9.]+) MiB", open(f).read()).group(1)) for f in sys.argv[1:]]
d = mib[1] - mib[0]
ok = abs(d - 2 * 0.25) < 0.11  # two more prompts, 0.25 MiB each, printed to 0.1 MiB
print(f"  {'wan: --dry-run plans each storyboard prompt':44s} {'OK  ' if ok else 'FAIL'}   +{d:.1f} MiB")
sys.exit(0 if ok else 1)
PYEOF
verdict "  (wan dry-run storyboard memory)" $((1 - $?))
expect_fail "wan: --dry-run of a video too large for memory" $WORK/dry.mp4 "$TS" generate --dry-run --model "$PIPE" \
    --prompt "$P" --frames 100001 --width 1920 --height 1088 --out $WORK/dry.mp4
grep -q "needs .* GiB per rank" $WORK/err.log; verdict "  ... says what it needs" $((1 - $?))

# prompt weights (umT5's attention and the DiT's cross-attention): a weight moves the
# latents; weight 1 written out is the plain prompt bit for bit
PW="a red fox::2.5 runs across a (snowy field)::0.5"
"${G[@]:0:${#G[@]}-1}" --prompt "$PW" --latents $WORK/pw.h5 --out $WORK/pwf.h5 > $WORK/pw.log 2>&1  # not quiet
"${G[@]}" --prompt "a red fox::1 runs across a snowy field" --latents $WORK/p1.h5 --out $WORK/p1f.h5 > $WORK/p1.log 2>&1
$PY - "$WORK" <<'PYEOF' > $WORK/cmpp.txt
import sys, h5py, numpy as np
w = sys.argv[1]
try:
    a, b, c = (np.asarray(h5py.File(f"{w}/{k}.h5", "r")["latents"]) for k in ("l1", "pw", "p1"))
    print(f"weighted {int(not np.array_equal(a, b))} max|diff| {np.abs(a - b).max():.3g} from the plain prompt")
    print(f"weight1 {int(a.tobytes() == c.tobytes())} 'fox::1' bit for bit the plain prompt")
except OSError as e:
    print(f"weighted 0 {e}"); print(f"weight1 0 {e}")
PYEOF
while read -r key ok detail; do verdict "wan: prompt $key" "$ok" "$detail"; done < $WORK/cmpp.txt
grep -q "wrote" $WORK/pw.log && ! grep -q "warning" $WORK/pw.log
verdict "  ... no warning (weights act in the transformer too)" $((1 - $?))

# storyboards: ranges count video frames; latent frame j (video frames 4j-3..4j; 0 for j = 0)
# takes the segment of its first video frame. 17 frames = 5 latent frames (0, 1-4, 5-8, 9-12, 13-16).
S=("$TS" generate --model "$PIPE" --negative-prompt "" --frames 17 --width 48 --height 32 --steps 2 --cfg 4.0
   --noise $W5 -q)
printf '0-8: %s\n9-12: a blue bird::2 flies over the (dark sea)::0.5\n13-16: a green frog sits on a leaf\n' "$P" > $WORK/s3.txt
for n in 1 2 3; do
    $MPIRUN -np $n "${S[@]}" --storyboard $WORK/s3.txt --blend 4 --out $WORK/s3f$n.h5 --latents $WORK/s3l$n.h5 \
        > $WORK/s3_$n.log 2>&1
done
printf '0-16: %s\n' "$P" > $WORK/one.txt
printf '0-8: %s\n9-16: a blue bird flies over the sea\n' "$P" > $WORK/two.txt
printf '0-5: %s\n6-16: a blue bird flies over the sea\n' "$P" > $WORK/two_b.txt  # latent 2 (5-8) starts in segment 1
printf '0-4: %s\n5-16: a blue bird flies over the sea\n' "$P" > $WORK/two_c.txt  # latent 2 in segment 2
"${S[@]}" --storyboard $WORK/one.txt --latents $WORK/one.h5 > $WORK/one.log 2>&1
"${S[@]}" --prompt "$P" --latents $WORK/pa.h5 > $WORK/pa.log 2>&1
"${S[@]}" --prompt "a blue bird flies over the sea" --latents $WORK/pb.h5 > $WORK/pb.log 2>&1
"${S[@]}" --storyboard $WORK/two.txt --latents $WORK/two.h5 > $WORK/two.log 2>&1
"${S[@]}" --storyboard $WORK/two_b.txt --latents $WORK/two_b.h5 > $WORK/two_b.log 2>&1
"${S[@]:0:${#S[@]}-1}" --storyboard $WORK/two_c.txt --latents $WORK/two_c.h5 > $WORK/two_c.log 2>&1  # not quiet
$PY - "$WORK" <<'PYEOF' > $WORK/cmpst.txt
import sys, h5py, numpy as np
w = sys.argv[1]
def get(k, d="latents"):
    try:
        return np.asarray(h5py.File(f"{w}/{k}.h5", "r")[d])
    except OSError:
        return None
l1, f1 = get("s3l1"), get("s3f1", "frames")
for n in (2, 3):
    ln, fn = get(f"s3l{n}"), get(f"s3f{n}", "frames")
    ok = l1 is not None and ln is not None and fn is not None and ln.tobytes() == l1.tobytes() and np.array_equal(fn, f1)
    print(f"s3_ranks{n} {int(ok)} frames and latents bit for bit equal to 1 rank")
one, pa, pb, two, tb, tc = (get(k) for k in ("one", "pa", "pb", "two", "two_b", "two_c"))
ok = one is not None and pa is not None and one.tobytes() == pa.tobytes()
print(f"one_segment {int(ok)} bit for bit the plain --prompt run")
ok = two is not None and pb is not None and not np.array_equal(two, pa) and not np.array_equal(two, pb)
print(f"two_segments {int(ok)} differ from either prompt alone")
ok = tb is not None and tb.tobytes() == two.tobytes() and tc is not None and not np.array_equal(tc, two)
print(f"latent_rule {int(ok)} 0-5/6-16 == 0-8/9-16 (latent 2 starts at video 5); 0-4/5-16 differs")
PYEOF
while read -r key ok detail; do verdict "wan: storyboard $key" "$ok" "$detail"; done < $WORK/cmpst.txt
grep -q "segment 2 (video frames 5-16): latent frames 2-4" $WORK/two_c.log
verdict "  ... rank 0 prints each segment's latent frames" $((1 - $?))

# --explain-prompt: each token's piece (U+2581 starting a word), id and weight; text no piece of this
# tiny vocabulary covers (the 'x') named as such
"$TS" generate --model "$PIPE" --explain-prompt --prompt "a red fox::2.5 runs" > $WORK/explain.txt 2>&1
grep -qE $'^ +1  \xe2\x96\x81red +59 +1$' $WORK/explain.txt && grep -qE '^ +3  f +127 +2.5$' $WORK/explain.txt &&
    grep -qE '^ +5  .* 2 +2.5  \(text no piece covers\)$' $WORK/explain.txt && grep -qE '^ +7  </s> +1 +1$' $WORK/explain.txt &&
    grep -q "^# 8 tokens (with </s>)" $WORK/explain.txt
verdict "wan: --explain-prompt prints pieces, ids, weights" $((1 - $?))

# bad input: one clear error each
O=$WORK/bad.h5
expect_fail "wan: frames not 4k+1" $O "${G[@]}" --frames 8 --out $O
grep -q "use --frames 5 or 9" $WORK/err.log; verdict "  ... names the nearest valid counts" $((1 - $?))
expect_fail "wan: width not a multiple of 16" $O "${G[@]}" --width 40 --out $O
expect_fail "wan: height not a multiple of 16" $O "${G[@]}" --height 24 --out $O
ffmpeg -v error -f lavfi -i color=c=red:s=48x32 -frames:v 1 $WORK/first.png
expect_fail "wan: --image (not supported yet)" $O "${G[@]}" --image $WORK/first.png --out $O
# --halo chooses what the default family's ranks trade; Wan2.1's gather and ignored it
for h in act qkv; do
    expect_fail "wan: --halo $h (the default family's)" $O "${G[@]}" --halo $h --out $O
    grep -q "^timeshard: error: --halo $h: .* is a model of the wan family" $WORK/err.log
    verdict "  ... says why" $((1 - $?))
done
expect_fail "wan: bench --halo act" - "$TS" bench --model "$PIPE" --halo act --reps 1
expect_fail "wan: more ranks than latent frames" $O $MPIRUN -np 4 "${G[@]}" --out $O
grep -q "use at most 3 ranks" $WORK/err.log; verdict "  ... names the largest rank count" $((1 - $?))
grep -q "for 3 latent frames" $WORK/err.log; verdict "  ... counts latent frames" $((1 - $?))
! grep -q "temporal window" $WORK/err.log; verdict "  ... speaks of no temporal window (Wan2.1 has none)" $((1 - $?))
ONE=$SRC/tests/fixtures/wan/c1_hd16.orig.safetensors
expect_fail "wan: single file without --vae" $O "$TS" generate --model "$ONE" --prompt "$P" --frames 5 --width 32 \
    --height 32 --steps 1 --text-encoder "$PIPE/text_encoder" --out $O
grep -q -- "--vae" $WORK/err.log; verdict "  ... names --vae" $((1 - $?))
expect_fail "wan: single file without --text-encoder and --vae" $O "$TS" generate --model "$ONE" --prompt "$P" \
    --frames 5 --width 32 --height 32 --steps 1 --out $O
grep -q -- "--text-encoder and --vae" $WORK/err.log; verdict "  ... names both flags" $((1 - $?))
expect_fail "wan: a text encoder of another width" $O "$TS" generate --model "$ONE" --prompt "$P" --frames 5 --width 32 \
    --height 32 --steps 1 --text-encoder "$PIPE/text_encoder" --vae "$PIPE/vae" --tokenizer "$PIPE/tokenizer" --out $O
grep -q "makes 32-wide rows; the transformer reads 16" $WORK/err.log; verdict "  ... names both widths" $((1 - $?))
printf '0-3: a red fox\n5-8: a blue bird\n' > $WORK/gap.txt
expect_fail "wan: storyboard with a gap" $O "$TS" generate --model "$PIPE" --storyboard $WORK/gap.txt \
    --frames 9 --width 48 --height 32 --steps 1 --out $O
grep -q "gap.txt" $WORK/err.log; verdict "  ... names the file" $((1 - $?))
printf '0-8 a red fox\n' > $WORK/syntax.txt
expect_fail "wan: storyboard line without 'FIRST-LAST:'" $O "$TS" generate --model "$PIPE" --storyboard $WORK/syntax.txt \
    --frames 9 --width 48 --height 32 --steps 1 --out $O
printf '0-4: a red fox\n5-12: a blue bird\n' > $WORK/past.txt
expect_fail "wan: storyboard past the video's 9 frames" $O "$TS" generate --model "$PIPE" --storyboard $WORK/past.txt \
    --frames 9 --width 48 --height 32 --steps 1 --out $O
# resuming the UniPC checkpoint with other sampler settings, or UniPC from an Euler checkpoint
expect_fail "wan: unipc checkpoint resumed with --sampler euler" $O "${U[@]}" --resume $WORK/uck.h5 --sampler euler --latents $O
grep -q "holds a multistep sampler's state (/sampler); this run samples with euler" $WORK/err.log
verdict "  ... says the checkpoint holds a multistep state" $((1 - $?))
expect_fail "wan: unipc checkpoint resumed with --steps 5" $O "${U[@]}" --resume $WORK/uck.h5 --steps 5 --latents $O
grep -q "was made with 4 steps; this run takes 5" $WORK/err.log; verdict "  ... names both step counts" $((1 - $?))
expect_fail "wan: unipc checkpoint resumed with --shift 5" $O "${U[@]}" --resume $WORK/uck.h5 --shift 5 --latents $O
grep -q "made with unipc (flow_shift 3, order 2, bh2); this run samples with unipc (flow_shift 5" $WORK/err.log
verdict "  ... names both settings" $((1 - $?))
expect_fail "wan: euler checkpoint resumed with --shift 5" $O "${A[@]}" --resume $WORK/ck.h5 --shift 5 --latents $O \
    --out none
grep -q "was made with euler (shift 3); this run samples with euler (shift 5)" $WORK/err.log
verdict "  ... names both settings (an Euler checkpoint has no /sampler)" $((1 - $?))
expect_fail "wan: unipc resumed from an euler checkpoint" $O "$TS" generate --model "$PIPE" --prompt "$P" --frames 17 \
    --width 48 --height 32 --steps 4 --cfg 4 --resume $WORK/ck.h5 --latents $O --out none
grep -q "holds no sampler state (/sampler): the unipc sampler cannot continue from it" $WORK/err.log
verdict "  ... says it holds no sampler state" $((1 - $?))
$PY -c "
import h5py
with h5py.File('$WORK/uck.h5', 'r') as f, h5py.File('$WORK/ucut.h5', 'w') as g:
    f.copy('latents', g); f.copy('sampler', g)
    del g['sampler/last_sample']
"
expect_fail "wan: unipc checkpoint missing /sampler/last_sample" $O "${U[@]}" --resume $WORK/ucut.h5 --latents $O
grep -q "/sampler/last_sample is missing" $WORK/err.log; verdict "  ... names the dataset" $((1 - $?))
$PY -c "
import h5py
with h5py.File('$WORK/uck.h5', 'r') as f, h5py.File('$WORK/ustr.h5', 'w') as g:
    f.copy('latents', g); f.copy('sampler', g)
    del g['sampler'].attrs['step_index']; g['sampler'].attrs['step_index'] = '2'
"
expect_fail "wan: unipc checkpoint with /sampler step_index a string" $O "${U[@]}" --resume $WORK/ustr.h5 --latents $O
grep -q "attribute 'step_index' of /sampler is a string; expected a finite number" $WORK/err.log
verdict "  ... names the attribute and the type" $((1 - $?))
finish
