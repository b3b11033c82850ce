#!/bin/bash
# Inputs that used to abort, grow without bound, replace the user's files or
# pass silently: each is now one clear error (printed once, even on several
# ranks), a non-zero exit, and nothing left under the output's name.
source "$(dirname "$0")/lib.sh"
O=$WORK/out.mp4
GEN=("$TS" generate --model "$TINY" --prompt "$PROMPT" --frames 5 --steps 1 --threads 1 --out "$O" -q)

# sizes a user typed or a config claims: refused before anything is allocated
$PY - "$TINY" "$WORK" <<'PYEOF'
import shutil, sys, h5py, numpy as np
src, w = sys.argv[1], sys.argv[2]
def edit(name, **attrs):
    shutil.copy(src, f"{w}/{name}.h5")
    with h5py.File(f"{w}/{name}.h5", "r+") as f:
        for k, v in attrs.items():
            f["config"].attrs[k] = v
edit("wide", width=65536, heads=1)
edit("big_image", image_size=32768)
edit("nan_cfg", default_cfg=np.float64("nan"))
edit("inf_shift", shift=np.float64("inf"))
edit("bad_fps", fps=0.0)
shutil.copy(src, f"{w}/nan_tensor.h5")
with h5py.File(f"{w}/nan_tensor.h5", "r+") as f:
    t = f["tensors/dit.blocks.1.attn_t_qkv.weight"]
    a = t[...]; a.flat[3] = np.nan; t[...] = a
PYEOF
for m in wide big_image nan_cfg inf_shift bad_fps nan_tensor; do
    expect_fail "model config/tensors: $m" $O "$TS" generate --model $WORK/$m.h5 --prompt "$PROMPT" --frames 5 --steps 1 --out $O -q
done
grep -q "fps must be in" $WORK/err.log 2>/dev/null
"$TS" generate --model $WORK/bad_fps.h5 --prompt "$PROMPT" --frames 5 --steps 1 --out $O -q > $WORK/fps.log 2>&1
grep -q "model config: fps" $WORK/fps.log; verdict "  ... a model's bad fps is the model's, not --fps" $((1 - $?)) "$(head -c 100 $WORK/fps.log)"
expect_fail "--frames 10000000 (memory planned first)" $O "${GEN[@]}" --frames 10000000
grep -q "GiB" $WORK/err.log; verdict "  ... names what it needs and what there is" $((1 - $?)) "$(grep -m1 error $WORK/err.log | cut -c1-120)"
expect_fail "--frames 2147483648" $O "${GEN[@]}" --frames 2147483648
expect_fail "--threads 4096" $O "${GEN[@]}" --threads 4096
expect_fail "--fps 0.001 --fps-out 1000" $O "${GEN[@]}" --fps 0.001 --fps-out 1000
ffmpeg -v error -f lavfi -i testsrc2=size=64x64:rate=2 -frames:v 3 -pix_fmt yuv420p -y $WORK/in.mp4
expect_fail "interpolate --fps-in 0.001 --fps-out 1000" $WORK/o2.mp4 "$TS" interpolate $WORK/in.mp4 --fps-in 0.001 \
    --fps-out 1000 --out $WORK/o2.mp4
expect_fail "--config /dev/zero" $O "${GEN[@]}" --config /dev/zero
expect_fail "--seed 99999999999999999999999" $O "${GEN[@]}" --seed 99999999999999999999999
expect_fail "--steps 9223372036854775808" $O "${GEN[@]}" --steps 9223372036854775808
grep -q "got 9223372036854775808" $WORK/err.log; verdict "  ... echoes the number as typed" $((1 - $?))
expect_fail "a prompt of punctuation only" $O "${GEN[@]}" --prompt "... !!! ???"

# outputs that are inputs or each other: refused, the input untouched
cp "$TINY" $WORK/m.h5
sum0=$(md5sum < $WORK/m.h5)
expect_fail "--model m.h5 --out m.h5" - "$TS" generate --model $WORK/m.h5 --prompt "$PROMPT" --frames 5 --steps 1 \
    --out $WORK/m.h5 -q
[ "$(md5sum < $WORK/m.h5)" = "$sum0" ]; verdict "  ... m.h5 unchanged" $((1 - $?))
"${GEN[@]}" --out none --checkpoint $WORK/ck.h5 --checkpoint-every 1 --steps 2 > /dev/null 2>&1
cp $WORK/ck.h5 $WORK/ck0.h5
expect_fail "--resume ck.h5 --out ck.h5" - "${GEN[@]}" --steps 2 --resume $WORK/ck.h5 --out $WORK/ck.h5
cmp -s $WORK/ck.h5 $WORK/ck0.h5; verdict "  ... ck.h5 unchanged" $((1 - $?))
expect_fail "--out x.h5 --latents x.h5" $WORK/x.h5 "${GEN[@]}" --out $WORK/x.h5 --latents $WORK/x.h5
cp $WORK/in.mp4 $WORK/keep.mp4
expect_fail "interpolate in.mp4 --out in.mp4" - "$TS" interpolate $WORK/in.mp4 --fps-out 10 --out $WORK/in.mp4
cmp -s $WORK/in.mp4 $WORK/keep.mp4; verdict "  ... in.mp4 unchanged" $((1 - $?))
touch $WORK/afile
expect_fail "--out under a regular file" - "${GEN[@]}" --out $WORK/afile/o.mp4
grep -q "not a directory" $WORK/err.log; verdict "  ... says it is not a directory" $((1 - $?))
# a device or FIFO named as an output: written beside and renamed over, it would become a regular file
mknod $WORK/nul.h5 c 1 3 2> /dev/null || ln -s /dev/null $WORK/nul.h5
mkfifo $WORK/fifo.mp4 $WORK/fifo.h5
expect_fail "--latents names a device" - "${GEN[@]}" --out none --latents $WORK/nul.h5
[ -c $WORK/nul.h5 ]; verdict "  ... still a device" $((1 - $?))
expect_fail "--out names a FIFO" - "${GEN[@]}" --out $WORK/fifo.mp4
[ -p $WORK/fifo.mp4 ]; verdict "  ... still a FIFO" $((1 - $?))
expect_fail "--checkpoint names a FIFO" - "${GEN[@]}" --out none --checkpoint $WORK/fifo.h5
expect_fail "interpolate --out names a FIFO" - "$TS" interpolate $WORK/in.mp4 --fps-out 10 --out $WORK/fifo.mp4
[ -p $WORK/fifo.mp4 ] && ! [ -e $WORK/fifo.mp4.tmp ]; verdict "  ... still a FIFO, no .tmp" $((1 - $?))
printf 'frames = 5\nsteps = 1\n' > $WORK/cfg0
for f in out checkpoint; do
    cp $WORK/cfg0 $WORK/cfg.avi
    expect_fail "--config cfg.avi --$f cfg.avi" - "${GEN[@]}" --config $WORK/cfg.avi --$f $WORK/cfg.avi
    grep -q -- "--$f '$WORK/cfg.avi' is the --config file" $WORK/err.log && cmp -s $WORK/cfg.avi $WORK/cfg0
    verdict "  ... names both flags; cfg.avi unchanged" $((1 - $?))
done

# a model directory (a Wan2.1 pipeline): no output is any of its files or goes inside
# it, through links or not; nor are the parts a single file takes apart (files or
# folders). Each case on a fresh copy, checked unchanged after.
wansum() { (cd $WORK/wan && find . -type f -exec md5sum {} + | sort); }
fresh_wan() { rm -rf $WORK/wan; cp -a "$SRC/tests/fixtures/wan_pipe" $WORK/wan; }
unchanged() { wansum | cmp -s - $WORK/wan.sum; verdict "  ... every file of the pipeline unchanged" $((1 - $?)); }
fresh_wan
wansum > $WORK/wan.sum
ln -s $WORK/wan $WORK/wanlink
W=("$TS" generate --model $WORK/wan --prompt "a fox" --frames 9 --width 48 --height 32 --steps 1 --threads 1 -q
   --out none)
expect_fail "wan dir: --latents its transformer's weights" - "${W[@]}" \
    --latents $WORK/wan/transformer/diffusion_pytorch_model.safetensors
grep -q -- "--latents '$WORK/wan/transformer/diffusion_pytorch_model.safetensors' is a file of the --model directory" \
    $WORK/err.log; verdict "  ... names --latents and the model's file" $((1 - $?))
unchanged
fresh_wan
expect_fail "wan dir: --latents its scheduler_config.json" - "${W[@]}" --latents $WORK/wan/scheduler/scheduler_config.json
unchanged
fresh_wan
expect_fail "wan dir: --checkpoint a new file in it" $WORK/wan/transformer/ck.h5 "${W[@]}" \
    --checkpoint $WORK/wan/transformer/ck.h5 --checkpoint-every 1 --steps 2
grep -q -- "--checkpoint '$WORK/wan/transformer/ck.h5' lies inside the --model directory" $WORK/err.log
verdict "  ... says so" $((1 - $?))
fresh_wan
expect_fail "wan dir: --out in it through a link" $WORK/wan/o.h5 "${W[@]}" --out $WORK/wanlink/o.h5
fresh_wan
ln $WORK/wan/text_encoder/model.safetensors $WORK/hard.safetensors
expect_fail "wan dir: --latents a hard link to its encoder" - "${W[@]}" --latents $WORK/hard.safetensors
grep -q "is the same file as '$WORK/wan/text_encoder/model.safetensors'" $WORK/err.log
verdict "  ... names the model's file" $((1 - $?))
rm -f $WORK/hard.safetensors
SF=("$TS" generate --model $WORK/wan/transformer/diffusion_pytorch_model.safetensors
    --text-encoder $WORK/wan/text_encoder/model.safetensors --vae $WORK/wan/vae --tokenizer $WORK/wan/tokenizer/spiece.model
    --prompt "a fox" --frames 9 --width 48 --height 32 --steps 1 --threads 1 -q --out none)
fresh_wan
expect_fail "wan single file: --latents the --text-encoder file" - "${SF[@]}" \
    --latents $WORK/wan/text_encoder/model.safetensors
grep -q -- "is the --text-encoder file" $WORK/err.log; verdict "  ... names --text-encoder" $((1 - $?))
unchanged
fresh_wan
expect_fail "wan single file: --latents a file of --vae DIR" - "${SF[@]}" \
    --latents $WORK/wan/vae/diffusion_pytorch_model.safetensors
grep -q -- "of the --vae directory" $WORK/err.log; verdict "  ... names --vae" $((1 - $?))
unchanged
fresh_wan
expect_fail "wan single file: --latents the --tokenizer file" - "${SF[@]}" --latents $WORK/wan/tokenizer/spiece.model
unchanged
rm -f $O  # (what the cases above would have left before they were refused)

# storyboards: long lines, NUL bytes, negative frames
$PY - "$WORK" <<'PYEOF'
import sys
w = sys.argv[1]
open(f"{w}/long.txt", "w").write("0-4: a red circle " + "moving left " * 400 + "\n")
open(f"{w}/nul.txt", "wb").write(b"0-4: a red circle\x00 on a blue background\n")
open(f"{w}/neg.txt", "w").write("-1-3: a red circle\n4-4: a blue square\n")
PYEOF
S=("$TS" generate --model "$TINY" --frames 5 --steps 1 --threads 1 --out "$O" -q)
expect_fail "storyboard line over 4095 bytes" $O "${S[@]}" --storyboard $WORK/long.txt
expect_fail "storyboard line with a NUL byte" $O "${S[@]}" --storyboard $WORK/nul.txt
expect_fail "storyboard frame -1" $O "${S[@]}" --storyboard $WORK/neg.txt
grep -q "start at 0" $WORK/err.log; verdict "  ... says frames start at 0" $((1 - $?))

# safetensors whose tensors overlap in the data (the format forbids it)
$PY - "$WORK" <<'PYEOF'
import json, struct, sys
h = json.dumps({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}).encode()
open(sys.argv[1] + "/overlap.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + b"\0" * 12)
PYEOF
expect_fail "safetensors with overlapping data_offsets" $O "$TS" generate --model $WORK/overlap.safetensors --prompt "$PROMPT" --out $O
grep -q "overlap" $WORK/err.log; verdict "  ... says the tensors overlap" $((1 - $?))

# an all-NaN checkpoint is refused, not turned into an all-NaN video
$PY - "$WORK/ck0.h5" "$WORK/nan.h5" <<'PYEOF'
import shutil, sys, h5py, numpy as np
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "r+") as f:
    f["latents"][...] = np.nan
PYEOF
expect_fail "--resume an all-NaN checkpoint" $O "${GEN[@]}" --steps 2 --resume $WORK/nan.h5

# an error every rank sees alike is printed once
$MPIRUN -np 3 "${GEN[@]}" --frames 4 > $WORK/np3.log 2>&1
n=$(grep -c "^timeshard: error:" $WORK/np3.log)
[ "$n" = 1 ]; verdict "3 ranks, too many for 4 frames: one error line" $((1 - $?)) "$n lines"
# a full disk (a small tmpfs; skipped where mounting is not allowed)
mkdir -p $WORK/small
if mount -t tmpfs -o size=64k tmpfs $WORK/small 2> /dev/null; then
    trap 'umount $WORK/small 2> /dev/null; rm -rf "$WORK"' EXIT
    dd if=/dev/zero of=$WORK/small/fill bs=4k count=100 2> /dev/null
    expect_fail "--out f.h5 on a full disk" $WORK/small/f.h5 "${GEN[@]}" --out $WORK/small/f.h5
    grep -q "No space left" $WORK/err.log && ! [ -e $WORK/small/f.h5.tmp ]
    verdict "  ... says so, leaves no .tmp" $((1 - $?))
    expect_fail "--latents on a full disk" $WORK/small/l.h5 "${GEN[@]}" --out none --latents $WORK/small/l.h5
    grep -q "no room for the latents file" $WORK/err.log; verdict "  ... says so before writing" $((1 - $?))
    expect_fail "--checkpoint on a full disk" $WORK/small/c.h5 "${GEN[@]}" --out none --steps 2 \
        --checkpoint $WORK/small/c.h5 --checkpoint-every 1
    # the disk fills during the write (the room check skipped): HDF5 cannot close the
    # file, and its teardown at exit used to crash on it (SIGSEGV)
    for np in 1 2; do
        TIMESHARD_TEST_NO_ROOM_CHECK=1 expect_fail "full disk mid-write, $np rank(s)" $WORK/small/l.h5 \
            $MPIRUN -x TIMESHARD_TEST_NO_ROOM_CHECK -np $np "${GEN[@]}" --out none --latents $WORK/small/l.h5
        ! [ -e $WORK/small/l.h5.tmp ]; verdict "  ... no .tmp left" $((1 - $?))
    done
else
    echo "  full disk: skipped (cannot mount a tmpfs here)"
fi
finish
