#!/bin/bash
# Motion controls end to end (docs/controls.md), with a tiny random model
# built with controls (tests/fixtures/ctl_tiny.h5, tools/make_ctl_fixtures.py):
# the 2-step generation with --path --gravity --bounce --growth matches the
# PyTorch sampler, without control guidance (--control-scale 1) and with it (2.5;
# the default, 2, is neither, so that a changed default shows); the same
# settings on a storyboard line give the same bits; a storyboard whose
# segments carry different settings gives the same bits on 3 ranks as on 1 and
# differs from the run without them; every malformed or out-of-range setting
# is one clear error with no output; the shipped model takes them (3 ranks ==
# 1 rank, MP4 bytes too); a model without control weights and Wan2.1 refuse
# controls with the reason.
source "$(dirname "$0")/lib.sh"
CTL=$SRC/tests/fixtures/ctl_tiny.h5
REF=$SRC/tests/fixtures/ctl_ref.h5
P="a red circle bouncing on black background"
G=("$TS" generate --model "$CTL" --prompt "$P" --cfg 3 --seed 4321 -q --threads 1)
A=(--path "0:2,3 3:10,12 5:15,1" --gravity 125 --bounce 0.8 --growth -0.3)

same() {  # same NAME A.h5 B.h5 [differ]: latents bit-identical (or, with "differ", not)
    $PY - "$2" "$3" "${4:-same}" <<'PYEOF'
import sys, h5py, numpy as np
try:
    a, b = (h5py.File(p, "r")["latents"][:] for p in sys.argv[1:3])
except OSError as e:
    print("missing:", e); sys.exit(1)
eq = a.shape == b.shape and np.array_equal(a, b)
sys.exit(0 if eq == (sys.argv[3] == "same") else 1)
PYEOF
    verdict "$1" $((1 - $?))
}

# against the PyTorch sampler with spec A (7 frames, 2 steps, cfg 3), control guidance 1 and 2.5
vs_torch() {  # vs_torch NAME LATENTS DATASET
    $PY - "$2" "$REF" "$3" "$1" <<'PYEOF'
import sys, h5py, numpy as np
a = h5py.File(sys.argv[1])["latents"][:]
r = h5py.File(sys.argv[2])[sys.argv[3]][:]
rel = np.abs(a - r).max() / np.abs(r).max()
print(f"  {sys.argv[4]:44s} {'OK  ' if rel <= 1e-4 else 'FAIL'}   max_rel={rel:.1e}")
sys.exit(0 if rel <= 1e-4 else 1)
PYEOF
    verdict "  (latents check)" $((1 - $?))
}
"${G[@]}" --frames 7 --steps 2 --out none --latents $WORK/a.h5 "${A[@]}" --control-scale 1 2>/dev/null
vs_torch "controls: sample 2 steps vs PyTorch" $WORK/a.h5 sample.latents
"${G[@]}" --frames 7 --steps 2 --out none --latents $WORK/a25.h5 "${A[@]}" --control-scale 2.5 2>/dev/null
vs_torch "controls, guidance 2.5: vs PyTorch" $WORK/a25.h5 "sample_cs2.5.latents"
"${G[@]}" --frames 7 --steps 2 --out none --latents $WORK/a3.h5 "${A[@]}" 2>/dev/null
same "control guidance: the default is not 1" $WORK/a3.h5 $WORK/a.h5 differ
"$TS" generate --model "$CTL" --prompt "$P" --frames 9 "${A[@]}" --dry-run 2>&1 | grep -q "guidance  controls x2 "
verdict "the settings table shows control guidance 2 (the default)" $((1 - $?))
"${G[@]}" --frames 7 --steps 2 --out none --latents $WORK/none.h5 2>/dev/null
same "controls change the video" $WORK/a.h5 $WORK/none.h5 differ
# the same settings on a storyboard line (path keys joined by ';')
printf '0-6: %s | path=0:2,3;3:10,12;5:15,1 gravity=125 bounce=0.8 growth=-0.3\n' "$P" > $WORK/one.txt
"$TS" generate --model "$CTL" --storyboard $WORK/one.txt --cfg 3 --seed 4321 -q --threads 1 --frames 7 --steps 2 \
    --out none --latents $WORK/one.h5 2>/dev/null
same "storyboard '| settings' == the flags" $WORK/a3.h5 $WORK/one.h5

# a storyboard whose segments carry different settings, boundaries not on the ranks'
# (9 frames on 3 ranks own 0-2, 3-5, 6-8), --growth on the command line for all
cat > $WORK/sb3.txt <<SB
0-3: $P | gravity=250 bounce=0.9
4-5: $P | path=4:2,2;5:14,14
6-8: $P
SB
sed 's/ |.*//' $WORK/sb3.txt > $WORK/sb3_plain.txt
S=("$TS" generate --model "$CTL" --cfg 3 --seed 7 -q --threads 1 --frames 9 --steps 2 --out none)
"${S[@]}" --storyboard $WORK/sb3.txt --growth 0.4 --latents $WORK/sb1.h5 2>/dev/null
$MPIRUN -np 3 "${S[@]}" --storyboard $WORK/sb3.txt --growth 0.4 --latents $WORK/sb3.h5 2>/dev/null
same "controls: 3 ranks == 1 rank (storyboard + flag)" $WORK/sb1.h5 $WORK/sb3.h5
$MPIRUN -np 2 "${S[@]}" --storyboard $WORK/sb3.txt --growth 0.4 --latents $WORK/sb2.h5 2>/dev/null
same "controls: 2 ranks == 1 rank (storyboard + flag)" $WORK/sb1.h5 $WORK/sb2.h5
"${S[@]}" --storyboard $WORK/sb3_plain.txt --growth 0.4 --latents $WORK/sbp.h5 2>/dev/null
same "segments' settings change the video" $WORK/sb1.h5 $WORK/sbp.h5 differ
"${S[@]}" --prompt "$P" "${A[@]}" --latents $WORK/f1.h5 2>/dev/null
$MPIRUN -np 3 "${S[@]}" --prompt "$P" "${A[@]}" --latents $WORK/f3.h5 2>/dev/null
same "controls: 3 ranks == 1 rank (flags)" $WORK/f1.h5 $WORK/f3.h5
"${S[@]}" --prompt "$P" "${A[@]}" --control-scale 1 --latents $WORK/g1.h5 2>/dev/null
$MPIRUN -np 3 "${S[@]}" --prompt "$P" "${A[@]}" --control-scale 1 --latents $WORK/g3.h5 2>/dev/null
same "controls, no guidance: 3 ranks == 1 rank" $WORK/g1.h5 $WORK/g3.h5
"$TS" generate --model "$CTL" --prompt "$P" --frames 9 "${A[@]}" --dry-run > $WORK/dry.log 2>&1
grep -q "controls  path of 3 key(s), gravity 125 px/s^2, bounce 0.8, growth -0.3/s" $WORK/dry.log
verdict "the settings table lists the controls" $((1 - $?))
"$TS" generate --model "$CTL" --prompt "$P" --frames 9 --gravity 200 --dry-run > $WORK/dry2.log 2>&1
grep -q "controls  gravity 200 px/s^2, restitution 0.8 assumed, centre planned on 9 of 9 frames" $WORK/dry2.log
verdict "the settings table says what the planner assumes and plans" $((1 - $?))

# a checkpoint records the controls: resumed with them (on 3 ranks) it gives the uninterrupted
# bits; resumed with other controls it is refused
"${S[@]}" --prompt "$P" "${A[@]}" --steps 3 --latents $WORK/full.h5 2>/dev/null
"${S[@]}" --prompt "$P" "${A[@]}" --steps 3 --checkpoint $WORK/ck.h5 --checkpoint-every 2 --latents $WORK/first.h5 2>/dev/null
$MPIRUN -np 3 "${S[@]}" --prompt "$P" "${A[@]}" --steps 3 --resume $WORK/ck.h5 --latents $WORK/resumed.h5 2>/dev/null
same "controls: checkpoint resumed on 3 ranks == uninterrupted" $WORK/full.h5 $WORK/resumed.h5
expect_fail "controls: resumed with another --gravity" - "${S[@]}" --prompt "$P" --path "0:2,3 3:10,12 5:15,1" \
    --gravity 100 --bounce 0.8 --growth -0.3 --steps 3 --resume $WORK/ck.h5
grep -q "another prompt, other motion controls" $WORK/err.log; verdict "  ... says why" $((1 - $?))
expect_fail "controls: resumed with another --control-scale" - "${S[@]}" --prompt "$P" "${A[@]}" --steps 3 \
    --control-scale 3 --resume $WORK/ck.h5
grep -q "another prompt, other motion controls" $WORK/err.log; verdict "  ... says why" $((1 - $?))

# `info` shows that a model takes controls
"$TS" info "$CTL" > $WORK/info.txt 2>&1
grep -qE '^  controls +14$' $WORK/info.txt && grep -q 'dit.ctl_fc2.weight' $WORK/info.txt
verdict "info: config controls 14 and the dit.ctl_* tensors" $((1 - $?))

# bad settings: one clear error each, nothing written
O=$WORK/out.mp4
E=("$TS" generate --model "$CTL" --prompt "$P" --frames 8 --steps 1 --out "$O" -q)
check_err() {  # check_err NAME TEXT ARGS...: fails, and the error line holds TEXT
    local name=$1 text=$2; shift 2
    expect_fail "$name" $O "${E[@]}" "$@"
    grep '^timeshard: error:' $WORK/err.log | grep -qF -- "$text"; verdict "  ... says '$text'" $((1 - $?))
}
check_err "--path malformed" "--path: malformed key '0:1'" --path "0:1"
check_err "--path empty" "--path: no keys" --path ""
check_err "--path frames unsorted" "key frames must increase (2 after 5)" --path "5:1,1 2:3,3"
check_err "--path duplicate frame" "frame 5 has two keys" --path "5:1,1 5:3,3"
check_err "--path frame past the video" "key frame 8 is outside the video's frames 0-7" --path "0:1,1 8:3,3"
check_err "--path negative frame" "key frame -1 is outside" --path "-1:1,1"
check_err "--path outside the frame" "key 3:17,2 is outside the 16x16 frame" --path "0:1,1 3:17,2"
check_err "--path not finite" "malformed key '0:nan,2'" --path "0:nan,2"
check_err "--motion malformed" "--motion: expected DX,DY" --motion "1;2"
check_err "--motion not finite" "--motion: expected DX,DY" --motion "inf,0"
check_err "--motion too fast" "moves more than the 16x16 frame" --motion "20,0"
check_err "--motion with --path" "cannot go with a" --path "0:1,1" --motion "1,0"
check_err "--gravity negative" "--gravity: -9.8 is outside [0, 10000]" --gravity -9.8
check_err "--gravity not a number" "--gravity: expected a finite number, got 'lots'" --gravity lots
check_err "--gravity nan" "--gravity: expected a finite number" --gravity nan
check_err "--bounce above 1" "--bounce: 1.2 is outside [0, 1]" --bounce 1.2
check_err "--bounce negative" "--bounce: -0.5 is outside [0, 1]" --bounce -0.5
check_err "--growth too large" "--growth: 50 is outside [-10, 10]" --growth 50
check_err "--growth empty" "--growth: expected a finite number" --growth ""
check_err "--control-scale without a control" "--control-scale needs a motion control" --control-scale 2
check_err "--control-scale too large" "--control-scale" --gravity 100 --control-scale 25
check_err "--control-scale negative" "--control-scale" --gravity 100 --control-scale -1
printf '0-3: %s | gravity=1 bounce\n4-7: %s\n' "$P" "$P" > $WORK/bad1.txt
printf '0-3: %s\n4-7: %s | path=2:1,1\n' "$P" "$P" > $WORK/bad2.txt
printf '0-3: %s | \n4-7: %s\n' "$P" "$P" > $WORK/bad3.txt
printf '0-3: %s | path=0:1,1\n4-7: %s\n' "$P" "$P" > $WORK/bad4.txt
E=("$TS" generate --model "$CTL" --frames 8 --steps 1 --out "$O" -q)
check_err "storyboard: setting without '='" "bad1.txt:1: expected key=value, got 'bounce'" --storyboard $WORK/bad1.txt
check_err "storyboard: path key outside its segment" "bad2.txt:2: path: key frame 2 is outside this segment's frames 4-7" --storyboard $WORK/bad2.txt
check_err "storyboard: nothing after '|'" "bad3.txt:1: nothing after '|'" --storyboard $WORK/bad3.txt
check_err "storyboard: a path meets --motion" "bad4.txt:1: this segment's path meets the command line's --motion" --storyboard $WORK/bad4.txt --motion 1,1

# models that take no controls: the reason, whichever control
E=("$TS" generate --model "$TINY" --prompt "$P" --frames 8 --steps 1 --out "$O" -q)
check_err "model without control weights: --gravity" "this model was not trained with motion controls" --gravity 100
printf '0-7: %s | bounce=0.5\n' "$P" > $WORK/sbt.txt
E=("$TS" generate --model "$TINY" --frames 8 --steps 1 --out "$O" -q)
check_err "model without control weights: storyboard" "this model was not trained with motion controls" --storyboard $WORK/sbt.txt

# the shipped model takes them: a planned throw (--motion with --gravity and --bounce) and a storyboard
# segment's path give the same MP4 bytes and latents on 3 ranks as on 1, and change the video
printf '0-5: a red circle bouncing on a blue background | motion=1.5,0 gravity=250 bounce=0.7\n6-11: a red circle moving left on a blue background | path=6:50,20;11:14,40\n' > $WORK/sbs.txt
D=("$TS" generate --model "$SRC/models/default.h5" --storyboard $WORK/sbs.txt --frames 12 --steps 4 --seed 5 -q --threads 1)
"${D[@]}" --out $WORK/d1.mp4 --latents $WORK/d1.h5 2>/dev/null
$MPIRUN -np 3 "${D[@]}" --out $WORK/d3.mp4 --latents $WORK/d3.h5 2>/dev/null
same "the shipped model, controls: 3 ranks == 1 rank (latents)" $WORK/d1.h5 $WORK/d3.h5
cmp -s $WORK/d1.mp4 $WORK/d3.mp4
verdict "the shipped model, controls: 3 ranks == 1 rank (MP4 bytes)" $((1 - $?))
sed 's/ |.*//' $WORK/sbs.txt > $WORK/sbs_plain.txt
"$TS" generate --model "$SRC/models/default.h5" --storyboard $WORK/sbs_plain.txt --frames 12 --steps 4 --seed 5 -q \
    --threads 1 --out none --latents $WORK/d0.h5 2>/dev/null
same "the shipped model: controls change the video" $WORK/d1.h5 $WORK/d0.h5 differ
E=("$TS" generate --model "$SRC/tests/fixtures/wan_pipe" --prompt "a red fox" --frames 9 --width 48 --height 32 --steps 1 --out "$O" -q)
check_err "Wan2.1: --bounce" "of the wan family, which takes no motion controls" --bounce 0.5

# --help tells of them
"$TS" generate --help > $WORK/help.txt
ok=1
for f in "--path" "--motion DX,DY" "--gravity G" "--bounce E" "--growth R" "the shipped"; do grep -qF -- "$f" $WORK/help.txt || ok=0; done
verdict "--help describes the motion controls" $ok
finish
