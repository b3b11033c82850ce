#!/bin/bash
# Bad input: each case gives one clear error line, a non-zero exit, no crash,
# and no file under the requested output name.
source "$(dirname "$0")/lib.sh"
O=$WORK/out.mp4
GEN=("$TS" generate --model "$TINY" --prompt "$PROMPT" --frames 5 --steps 1 --out "$O" -q)

expect_fail "missing model file" $O "$TS" generate --model $WORK/nope.h5 --prompt "$PROMPT" --out $O
head -c 3000 "$TINY" > $WORK/trunc.h5
expect_fail "truncated HDF5 weights" $O "$TS" generate --model $WORK/trunc.h5 --prompt "$PROMPT" --out $O
echo "not a model at all" > $WORK/text.h5
expect_fail "not a weights file" $O "$TS" generate --model $WORK/text.h5 --prompt "$PROMPT" --out $O
# safetensors: header length past the end, lying offsets, absurd sizes
$PY - "$WORK" <<'PYEOF'
import json, struct, sys
w = sys.argv[1]
def st(path, header, data=b"", hlen=None):
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h) if hlen is None else hlen) + h + data)
st(w + "/hlen.safetensors", {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8, hlen=1 << 40)
st(w + "/offs.safetensors", {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4096]}}, b"\0" * 8)
st(w + "/huge.safetensors", {"a": {"dtype": "F32", "shape": [1 << 40, 1 << 40], "data_offsets": [0, 8]}}, b"\0" * 8)
with open(w + "/short.safetensors", "wb") as f:
    f.write(b"\x10\x00")
PYEOF
for k in hlen offs huge short; do
    expect_fail "safetensors: $k" $O "$TS" generate --model $WORK/$k.safetensors --prompt "$PROMPT" --out $O
done
# wrong tensor shape: rewrite one tensor of the tiny model with another shape
$PY - "$TINY" "$WORK/shape.h5" <<'PYEOF'
import shutil, sys, h5py, numpy as np
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "r+") as f:
    del f["tensors/dit.blocks.1.attn_t_qkv.weight"]
    f["tensors/dit.blocks.1.attn_t_qkv.weight"] = np.zeros((5, 7), np.float32)
PYEOF
expect_fail "wrong tensor shape" $O "$TS" generate --model $WORK/shape.h5 --prompt "$PROMPT" --out $O
grep -q "attn_t_qkv" $WORK/err.log && grep -q "(96, 32)" $WORK/err.log; verdict "  ... names the tensor and the shape expected" $((1 - $?))
expect_fail "empty prompt" $O "${GEN[@]}" --prompt ""
expect_fail "blank prompt" $O "${GEN[@]}" --prompt "   "
expect_fail "no prompt" $O "$TS" generate --model "$TINY" --out $O
for p in "a red:: circle" "a red::abc circle" "a red::-1 circle" "a red::11 circle" "a (red circle" "a red) circle" "::2 red"; do
    expect_fail "prompt weight: '$p'" $O "${GEN[@]}" --prompt "$p"
done
printf '0-2: a red circle\n4-4: a blue square\n' > $WORK/gap.txt
expect_fail "storyboard: gap (names the line)" $O "$TS" generate --model "$TINY" --storyboard $WORK/gap.txt --frames 5 --steps 1 --out $O -q
grep -q "gap.txt:2: frames 3-3 are not covered" $WORK/err.log; verdict "  ... names file and line" $((1 - $?))
printf '0-2: a red circle\n3-4: a red::11 circle\n' > $WORK/wt.txt
expect_fail "storyboard: a bad prompt weight (names the line)" $O "$TS" generate --model "$TINY" --storyboard $WORK/wt.txt --frames 5 --steps 1 --out $O -q
grep -q "wt.txt:2: weight 11" $WORK/err.log; verdict "  ... names file and line" $((1 - $?))
printf '0-99999999999999999999: a red circle\n' > $WORK/big.txt
expect_fail "storyboard: a frame number past any length" $O "$TS" generate --model "$TINY" --storyboard $WORK/big.txt --frames 5 --steps 1 --out $O -q
grep -q "big.txt:1: a frame number there is too large" $WORK/err.log; verdict "  ... says so" $((1 - $?))
expect_fail "--prompt and --storyboard" $O "${GEN[@]}" --storyboard $WORK/gap.txt
expect_fail "--blend without --storyboard" $O "${GEN[@]}" --blend 2
expect_fail "--fps-out below --fps" $O "${GEN[@]}" --fps-out 6
expect_fail "--dtype bf16 on the CPU backend" $O "${GEN[@]}" --backend cpu --dtype bf16
expect_fail "--dtype fp64" $O "${GEN[@]}" --dtype fp64
expect_fail "--halo bogus" $O "${GEN[@]}" --halo bogus
expect_fail "--backend tpu" $O "${GEN[@]}" --backend tpu
expect_fail "--frames 0" $O "${GEN[@]}" --frames 0
expect_fail "--frames -3" $O "${GEN[@]}" --frames -3
expect_fail "--frames abc" $O "${GEN[@]}" --frames abc
expect_fail "--steps 0" $O "${GEN[@]}" --steps 0
expect_fail "--cfg -1" $O "${GEN[@]}" --cfg -1
expect_fail "unknown flag" $O "${GEN[@]}" --bogus 3
expect_fail "unwritable output path" - "${GEN[@]}" --out /nonexistent-dir/x.mp4
expect_fail "unwritable latents path" $O "${GEN[@]}" --latents /nonexistent-dir/x.h5
# the latents' and the checkpoint's directories are checked before sampling, like --out's
# (a checkpoint's used to fail only when SIGTERM came, losing the run's progress)
"$TS" generate --model "$TINY" --prompt "$PROMPT" --frames 5 --steps 1 --out none --latents /nonexistent-dir/x.h5 \
    > $WORK/lat.log 2>&1
grep -q "cannot write --latents '/nonexistent-dir/x.h5': directory '/nonexistent-dir'" $WORK/lat.log &&
    ! grep -q "step 1/" $WORK/lat.log && ! grep -q "\.tmp" $WORK/lat.log
verdict "  ... before sampling, by the name given" $((1 - $?)) "$(grep -m1 error $WORK/lat.log | cut -c1-100)"
expect_fail "unwritable latents path, with --dry-run" - "${GEN[@]}" --latents /nonexistent-dir/x.h5 --dry-run
expect_fail "unwritable checkpoint path" $O "${GEN[@]}" --checkpoint /nonexistent-dir/c.h5
grep -q "cannot write --checkpoint '/nonexistent-dir/c.h5'" $WORK/err.log; verdict "  ... names --checkpoint" $((1 - $?))
touch $WORK/plain
expect_fail "checkpoint path under a regular file" $O "${GEN[@]}" --checkpoint $WORK/plain/c.h5
grep -q "'$WORK/plain' is not a directory" $WORK/err.log; verdict "  ... says so" $((1 - $?))
if [ "$(id -u)" != 0 ]; then  # root may write anywhere
    mkdir -p $WORK/ro; chmod 555 $WORK/ro
    expect_fail "checkpoint in a read-only directory" $O "${GEN[@]}" --checkpoint $WORK/ro/c.h5
    grep -q "directory '$WORK/ro': Permission denied" $WORK/err.log; verdict "  ... says so" $((1 - $?))
fi
expect_fail "--latents naming a directory" $O "${GEN[@]}" --latents $WORK
# the directory gone by the time SIGTERM asks for the checkpoint: said by the name given
mkdir -p $WORK/gone
TIMESHARD_STEP_DELAY_MS=200 "$TS" generate --model "$TINY" --prompt "$PROMPT" --frames 5 --steps 100 --threads 1 \
    --out none --checkpoint $WORK/gone/c.h5 > $WORK/gone.log 2>&1 &
gpid=$!
for _ in $(seq 300); do grep -q "step 1/" $WORK/gone.log 2>/dev/null && break; sleep 0.1; done
rmdir $WORK/gone; kill -TERM $gpid; rc=0; wait $gpid || rc=$?
[ $rc = 1 ] && grep -q "^timeshard: error: cannot write --checkpoint '$WORK/gone/c.h5': directory '$WORK/gone'" \
    $WORK/gone.log && ! grep -q "\.tmp" $WORK/gone.log
verdict "checkpoint directory removed before SIGTERM" $((1 - $?)) "rc=$rc: $(grep -m1 error $WORK/gone.log | cut -c1-90)"
rm -f $O  # (what the cases above would have left before they were refused)
expect_fail "unknown codec" $O "${GEN[@]}" --codec nosuchcodec
expect_fail "missing --image" $O "${GEN[@]}" --image $WORK/none.png
expect_fail "missing preset" $O "${GEN[@]}" --config nosuchpreset
expect_fail "too many ranks for the frames" $O $MPIRUN -np 3 "$TS" generate --model "$TINY" --prompt "$PROMPT" --frames 5 --steps 1 --out $O -q
grep -q "at most 2 ranks" $WORK/err.log; verdict "  ... names the largest usable rank count" $((1 - $?))
expect_fail "info on a missing file" - "$TS" info $WORK/none.h5
# inputs that are not what they claim; a resume that would mix two runs
mkdir -p $WORK/adir
expect_fail "a directory as --noise" $O "${GEN[@]}" --noise $WORK/adir
grep -q "is a directory" $WORK/err.log && [ "$(wc -l < $WORK/err.log)" -le 12 ]; verdict "  ... says so, without I/O noise" $((1 - $?))
expect_fail "a directory as --model" $O "$TS" generate --model $WORK/adir --prompt "$PROMPT" --out $O
expect_fail "info on a directory" - "$TS" info $WORK/adir
"${GEN[@]}" --out none --latents $WORK/lat.h5 --steps 3 --checkpoint $WORK/ck.h5 --checkpoint-every 1 2>/dev/null
$PY - "$WORK" <<'PYEOF'
import sys, h5py, numpy as np
w = sys.argv[1]
shape = h5py.File(w + "/lat.h5", "r")["latents"].shape
with h5py.File(w + "/nan.h5", "w") as f:
    a = np.zeros(shape, np.float32)
    a[-1, 0, 0, 0] = np.nan
    f["noise"] = a
PYEOF
expect_fail "--noise holding a NaN" $O "${GEN[@]}" --noise $WORK/nan.h5
expect_fail "--resume with another --negative-prompt" $O "${GEN[@]}" --steps 3 --resume $WORK/ck.h5 --negative-prompt "red"
grep -q "was made with another prompt" $WORK/err.log; verdict "  ... names what differs" $((1 - $?))
expect_fail "--resume from final latents (--latents)" $O "${GEN[@]}" --steps 3 --resume $WORK/lat.h5
grep -q "final latents (--latents), not a checkpoint" $WORK/err.log; verdict "  ... says so" $((1 - $?))
expect_fail "--resume with another --shift (an Euler checkpoint)" $O "${GEN[@]}" --steps 3 --resume $WORK/ck.h5 --shift 3
grep -q "was made with euler-shifted (shift 2); this run samples with euler-shifted (shift 3)" $WORK/err.log
verdict "  ... names both settings" $((1 - $?))
expect_fail "--resume at another --fps" $O "${GEN[@]}" --steps 3 --resume $WORK/ck.h5 --fps 6
grep -q "was made with 12 fps" $WORK/err.log; verdict "  ... names what differs" $((1 - $?))
# --dry-run reads the input files as the run would (a Slurm pre-flight relies on it): each of these
# passed it and failed only in the real run
$PY - "$WORK" <<'PYEOF'
import sys, h5py, numpy as np
w = sys.argv[1]
shape = h5py.File(w + "/lat.h5", "r")["latents"].shape
with h5py.File(w + "/noise.h5", "w") as f:
    f["noise"] = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
with h5py.File(w + "/noise_int.h5", "w") as f:
    f["noise"] = np.zeros(shape, np.int32)
PYEOF
DRY=("${GEN[@]}" --steps 3 --dry-run)
expect_fail "--dry-run: missing --resume" $O "${DRY[@]}" --resume $WORK/none.h5
expect_fail "--dry-run: missing --noise" $O "${DRY[@]}" --noise $WORK/none.h5
expect_fail "--dry-run: missing --image" $O "${DRY[@]}" --image $WORK/none.png
expect_fail "--dry-run: --resume from final latents" $O "${DRY[@]}" --resume $WORK/lat.h5
grep -q "final latents (--latents), not a checkpoint" $WORK/err.log; verdict "  ... says so" $((1 - $?))
expect_fail "--dry-run: --resume from a noise file" $O "${DRY[@]}" --resume $WORK/noise.h5
expect_fail "--dry-run: --noise given a checkpoint" $O "${DRY[@]}" --noise $WORK/ck.h5
grep -q "has no /noise dataset" $WORK/err.log; verdict "  ... says so" $((1 - $?))
grep -q "^---> HINT: a noise file (--noise) holds the initial latents as dataset /noise, float32" $WORK/err.log
verdict "  ... with what a noise file holds" $((1 - $?))
expect_fail "--noise: /noise of integers" $O "${GEN[@]}" --noise $WORK/noise_int.h5
grep -q "^---> HINT: a noise file (--noise) holds" $WORK/err.log; verdict "  ... with what a noise file holds" $((1 - $?))
expect_fail "--dry-run: --resume with another --seed" $O "${DRY[@]}" --resume $WORK/ck.h5 --seed 7
grep -q "was made with seed 0; this run has 7" $WORK/err.log; verdict "  ... names what differs" $((1 - $?))
expect_fail "--dry-run: --resume with another --prompt" $O "${DRY[@]}" --resume $WORK/ck.h5 --prompt "a blue square"
expect_fail "--dry-run: --resume with another --shift" $O "${DRY[@]}" --resume $WORK/ck.h5 --shift 3
expect_fail "--dry-run: --resume, 2 ranks, final latents" $O $MPIRUN -np 2 "${DRY[@]}" --resume $WORK/lat.h5
[ "$(grep -c '^timeshard: error:' $WORK/err.log)" = 1 ]; verdict "  ... said once" $((1 - $?))
"${DRY[@]}" --resume $WORK/ck.h5 --noise $WORK/noise.h5 > $WORK/dry.log 2>&1
[ $? = 1 ] && grep -q "made with seed 0's noise; this run reads it from --noise" $WORK/dry.log
verdict "--dry-run: a seed's checkpoint with --noise" $((1 - $?)) "$(grep -m1 error $WORK/dry.log | cut -c1-90)"
"$TS" generate --model "$TINY" --prompt "$PROMPT" --frames 5 --steps 3 --dry-run --resume $WORK/ck.h5 \
        --out none 2>&1 | grep -q "resume    from '$WORK/ck.h5' at step 2 of 3"
verdict "--dry-run: a matching --resume, its step" $((1 - $?))
"$TS" generate --model "$TINY" --prompt "$PROMPT" --frames 5 --steps 3 --dry-run --noise $WORK/noise.h5 --out none \
    > $WORK/dry.log 2>&1
verdict "--dry-run: a matching --noise passes" $((1 - $?)) "$(grep -m1 error $WORK/dry.log | cut -c1-90)"
# attributes of the wrong type (another tool rewrote them): one line naming the attribute and
# the file, for the resume and for info; they used to read as 0 (a string seed resumed a seed-0 run)
$PY - "$WORK" <<'PYEOF'
import shutil, sys, h5py, numpy as np
w = sys.argv[1]
cases = {"steps_str": ("steps", "3"), "seed_str": ("seed", "0"), "cfg_str": ("cfg", "4"),
         "step_frac": ("step", 2.5), "steps_arr": ("steps", np.array([3, 3], np.int64)),
         "step_neg": ("step", np.int64(-2)), "prompt_num": ("prompt", np.int64(7))}
for k, (name, v) in cases.items():
    shutil.copy(w + "/ck.h5", f"{w}/ck_{k}.h5")
    with h5py.File(f"{w}/ck_{k}.h5", "r+") as f:
        del f["latents"].attrs[name]
        f["latents"].attrs[name] = v
PYEOF
for k in "steps_str steps a string; expected an integer >= 0" "seed_str seed a string; expected an unsigned integer" \
         "cfg_str cfg a string; expected a finite number" "step_frac step 2.5; expected an integer >= 0" \
         "steps_arr steps an array of 2 values; expected an integer >= 0" "step_neg step -2; expected an integer >= 0" \
         "prompt_num prompt an integer; expected a string"; do
    read -r c name what <<< "$k"
    expect_fail "--resume: attribute '$name' as ${what%%;*}" $O "${GEN[@]}" --steps 3 --resume $WORK/ck_$c.h5
    grep -q "^timeshard: error: file '$WORK/ck_$c.h5': attribute '$name' of /latents is $what$" $WORK/err.log
    verdict "  ... names the attribute, the file and the type" $((1 - $?))
done
expect_fail "info: attribute 'steps' as a string" - "$TS" info $WORK/ck_steps_str.h5
grep -q "attribute 'steps' of /latents is a string" $WORK/err.log; verdict "  ... the same line" $((1 - $?))
expect_fail "an encoder that refuses the settings (mjpeg, yuv420p)" $O "${GEN[@]}" --codec mjpeg --latents $WORK/enc.h5
# the latents are written after sampling: none means it failed before (it used to fail at the encode)
grep -q "Non full-range" $WORK/err.log && [ ! -e $WORK/enc.h5 ]
verdict "  ... before sampling (no latents written), with libav's reason" $((1 - $?))
expect_fail "x265 --crf 63 (it takes <= 51), with --dry-run" - "${GEN[@]}" --codec libx265 --crf 63 --dry-run
expect_fail "x264 --crf 55 (it would clamp to 51)" $O "${GEN[@]}" --crf 55
grep -q "beyond x264's 51" $WORK/err.log; verdict "  ... says so" $((1 - $?))
expect_fail "bench --frames abc" - "$TS" bench --model "$TINY" --frames abc
$MPIRUN -np 2 "$TS" bench --model "$TINY" --frames abc > $WORK/b2.log 2>&1
n=$(grep -c '^timeshard: error:' $WORK/b2.log)
[ "$n" = 1 ]; verdict "  ... on 2 ranks: one error line" $((1 - $?)) "$n"
expect_fail "bench --threads 1.5" - "$TS" bench --model "$TINY" --threads 1.5
expect_fail "bench with a stray argument" - "$TS" bench --model "$TINY" --frames 2 --reps 1 extra
expect_fail "bench beyond memory" - "$TS" bench --model "$TINY" --frames 1048576 --reps 1
# one rank's forward: under mpirun without --scaling every rank timed its own while they competed
expect_fail "bench on 2 ranks without --scaling" - $MPIRUN -np 2 "$TS" bench --model "$TINY" --frames 2 --reps 1
[ "$(grep -c '^timeshard: error:' $WORK/err.log)" = 1 ] && ! grep -q "fwd(ms)" $WORK/err.log
verdict "  ... said once, no table" $((1 - $?))
expect_fail "bench a Wan2.1 transformer on 2 ranks, no --scaling" - $MPIRUN -np 2 "$TS" bench \
    --model "$SRC/tests/fixtures/wan_pipe/transformer/diffusion_pytorch_model.safetensors" --reps 1
$MPIRUN -np 1 "$TS" bench --model "$TINY" --frames 2 --reps 1 2>&1 | grep -q "fwd(ms)"
verdict "bench under mpirun -np 1" $((1 - $?))
finish
