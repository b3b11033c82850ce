#!/bin/bash
# End to end: `timeshard interpolate` on 12 and 24 fps MP4s made by ffmpeg's
# testsrc: frame count and rate by ffprobe, and the user errors (one error line,
# non-zero exit, no output file left).
source "$(dirname "$0")/../e2e/lib.sh"

frames_of() { ffprobe -v error -select_streams v:0 -count_frames -show_entries stream=nb_read_frames -of csv=p=0 "$1"; }
rate_of() { ffprobe -v error -select_streams v:0 -show_entries stream=r_frame_rate -of csv=p=0 "$1"; }

ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=12:duration=1 -pix_fmt yuv420p "$WORK/in12.mp4"
ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=24:duration=0.5 -pix_fmt yuv420p "$WORK/in24.mp4"
n12=$(frames_of "$WORK/in12.mp4")
n24=$(frames_of "$WORK/in24.mp4")

"$TS" interpolate --help | grep -q -- '--fps-out' && verdict "interpolate --help" 1 || verdict "interpolate --help" 0

# 12 -> 60: (N-1) * 5 + 1 frames at 60 fps
rc=0; "$TS" interpolate "$WORK/in12.mp4" --fps-out 60 --out "$WORK/o60.mp4" -t 2 > "$WORK/log" 2>&1 || rc=$?
n=$(frames_of "$WORK/o60.mp4" 2>/dev/null); r=$(rate_of "$WORK/o60.mp4" 2>/dev/null)
want=$(( (n12 - 1) * 5 + 1 ))
ok=0; [ $rc = 0 ] && [ "$n" = "$want" ] && [ "$r" = "60/1" ] && ok=1
verdict "12 -> 60 fps" $ok "rc=$rc frames=$n (want $want from $n12) rate=$r"
[ $ok = 1 ] || sed 's/^/      | /' "$WORK/log"
ok=1; [ -e "$WORK/o60.mp4.tmp" ] && ok=0
verdict "no temporary file left" $ok

# 24 -> 60 (ratio 2.5): floor((N-1) * 2.5) + 1 frames
rc=0; "$TS" interpolate "$WORK/in24.mp4" --fps-out 60 --out "$WORK/o60b.mp4" -q --crf 18 > "$WORK/log" 2>&1 || rc=$?
n=$(frames_of "$WORK/o60b.mp4" 2>/dev/null); r=$(rate_of "$WORK/o60b.mp4" 2>/dev/null)
want=$(( (n24 - 1) * 5 / 2 + 1 ))
ok=0; [ $rc = 0 ] && [ "$n" = "$want" ] && [ "$r" = "60/1" ] && ok=1
verdict "24 -> 60 fps (non-integer ratio)" $ok "rc=$rc frames=$n (want $want from $n24) rate=$r"

# the output's keyframe positions look like the input (PSNR of frame 5 vs input frame 1)
p=$(ffmpeg -v error -i "$WORK/o60.mp4" -i "$WORK/in12.mp4" -filter_complex \
    "[0:v]select='eq(n\,5)'[a];[1:v]select='eq(n\,1)'[b];[a][b]psnr=stats_file=-" -f null - 2>/dev/null |
    sed -n 's/.*psnr_avg:\([0-9.inf]*\).*/\1/p' | head -1)
ok=0; [ -n "$p" ] && { [ "$p" = inf ] || awk "BEGIN{exit !($p > 30)}"; } && ok=1
verdict "output frame 5 is input frame 1" $ok "psnr=$p dB"

# a variable frame rate (frames 0.1, 0.3, 0.5, 0.7, 0.9 s apart): a warning that the frames were taken
# as evenly spaced; none for the same frames at a constant rate, or with --fps-in (an override)
ffmpeg -v error -f lavfi -i testsrc2=size=64x48:rate=10 -frames:v 6 -vf "setpts=N*N/10/TB" -fps_mode passthrough \
    -c:v ffv1 "$WORK/vfr.mkv"
ffmpeg -v error -f lavfi -i testsrc2=size=64x48:rate=10 -frames:v 6 -c:v ffv1 "$WORK/cfr.mkv"
"$TS" interpolate "$WORK/vfr.mkv" --fps-out 30 --out "$WORK/vfr.mp4" > "$WORK/log1" 2>&1
"$TS" interpolate "$WORK/cfr.mkv" --fps-out 30 --out "$WORK/cfr.mp4" > "$WORK/log2" 2>&1
"$TS" interpolate "$WORK/vfr.mkv" --fps-in 10 --fps-out 30 --out "$WORK/vfr2.mp4" > "$WORK/log3" 2>&1
grep -q "variable frame rate (its frames are 0.1 to 0.9 s apart)" "$WORK/log1" && ! grep -q warning "$WORK/log2" &&
    ! grep -q warning "$WORK/log3"
verdict "variable frame rate: warned, not for a constant rate or --fps-in" $((1 - $?))

# an odd frame size (no 2x2 chroma blocks): yuv444p out, the size kept
ffmpeg -v error -f lavfi -i testsrc=size=64x48:rate=10 -frames:v 6 -vf scale=33:17 -pix_fmt yuv444p -c:v ffv1 "$WORK/odd.mkv"
rc=0; "$TS" interpolate "$WORK/odd.mkv" --fps-out 20 --out "$WORK/odd.mp4" -q > "$WORK/log" 2>&1 || rc=$?
got=$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height,pix_fmt -of csv=p=0 "$WORK/odd.mp4" 2>/dev/null)
ok=0; [ $rc = 0 ] && [ "$got" = "33,17,yuv444p" ] && ok=1
verdict "33x17 input: 33x17 yuv444p output" $ok "rc=$rc stream=$got"
expect_fail "libx265 on frames under 64x64 (x265 corrupts its heap on some)" "$WORK/odd265.mp4" \
    "$TS" interpolate "$WORK/odd.mkv" --fps-out 20 --codec libx265 --out "$WORK/odd265.mp4"

# errors: one line, non-zero exit, no output
expect_fail "missing input" "$WORK/e1.mp4" "$TS" interpolate "$WORK/nope.mp4" --fps-out 60 --out "$WORK/e1.mp4"
expect_fail "fps-out not above the input's" "$WORK/e2.mp4" "$TS" interpolate "$WORK/in24.mp4" --fps-out 24 --out "$WORK/e2.mp4"
expect_fail "fps-out below the input's" "$WORK/e3.mp4" "$TS" interpolate "$WORK/in24.mp4" --fps-out 12 --out "$WORK/e3.mp4"
expect_fail "unwritable output" "$WORK/nodir/e4.mp4" "$TS" interpolate "$WORK/in12.mp4" --fps-out 60 --out "$WORK/nodir/e4.mp4"
expect_fail "no --fps-out" "$WORK/e5.mp4" "$TS" interpolate "$WORK/in12.mp4" --out "$WORK/e5.mp4"
expect_fail "bad --fps-out" "$WORK/e6.mp4" "$TS" interpolate "$WORK/in12.mp4" --fps-out abc --out "$WORK/e6.mp4"
echo "not a video" > "$WORK/bad.mp4"
expect_fail "input not a video" "$WORK/e7.mp4" "$TS" interpolate "$WORK/bad.mp4" --fps-out 60 --out "$WORK/e7.mp4"
expect_fail "no input" - "$TS" interpolate --fps-out 60
# under mpirun rank 0 does the work: its argument errors and its help are said once, not per rank
expect_fail "no --fps-out, 2 ranks" "$WORK/e8.mp4" $MPIRUN -np 2 "$TS" interpolate "$WORK/in12.mp4" --out "$WORK/e8.mp4"
[ "$(grep -c '^timeshard: error:' "$WORK/err.log")" = 1 ]; verdict "  ... said once" $((1 - $?))
n=$($MPIRUN -np 2 "$TS" interpolate --help 2>&1 | grep -c '^usage:'); [ "$n" = 1 ]
verdict "interpolate --help, 2 ranks: printed once" $((1 - $?)) "$n copies"
finish
