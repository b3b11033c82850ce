#!/bin/bash
# Colours through `timeshard interpolate`: inputs made by the ffmpeg CLI with
# libx264 (untagged limited range, as most files are; full range tagged BT.709;
# an untagged 1280x720 file, which FFmpeg decodes with the BT.601 matrix like any
# other untagged file). The output's keyframes, decoded by ffmpeg, must be the
# input's frames as ffmpeg decodes them: within 1 level with a lossless encode
# (--crf 0), no shift of the mean with the default CRF; and the output is tagged
# with the input's range and matrix, and with primaries and transfer.
source "$(dirname "$0")/../e2e/lib.sh"

mk() {  # NAME LAVFI-SOURCE [ffmpeg output options...]; DUR seconds (default 0.5)
    local name=$1 src=$2; shift 2
    ffmpeg -v error -y -f lavfi -i "$src" -t "${DUR:-0.5}" -r 12 -c:v libx264 -pix_fmt yuv420p "$@" "$WORK/$name.mp4"
}
# untagged, limited range (ffmpeg's default for yuv420p)
mk gray "color=c=0x808080:s=64x48:r=12"
mk navy "color=c=0x000080:s=64x48:r=12"
mk dgreen "color=c=0x006400:s=64x48:r=12"
mk ramp "nullsrc=s=64x48:r=12,format=rgb24,geq=r='X*4':g='X*4':b='X*4'"
mk cramp "nullsrc=s=64x48:r=12,format=rgb24,geq=r='X*3+20':g='Y*4+10':b='230-X*3'"
DUR=0.25 mk hd "color=c=0x000080:s=1280x720:r=12,drawbox=x=320:y=180:w=640:h=360:c=0x006400:t=fill" -preset ultrafast
# full range, tagged BT.709 (range, matrix, primaries, transfer)
FULL=(-vf scale=out_range=full:out_color_matrix=bt709 -color_range pc -colorspace bt709 -color_primaries bt709
      -color_trc bt709)
mk full_ramp "nullsrc=s=64x48:r=12,format=rgb24,geq=r='X*4':g='X*4':b='X*4'" "${FULL[@]}"
mk full_cramp "nullsrc=s=64x48:r=12,format=rgb24,geq=r='X*3+20':g='Y*4+10':b='230-X*3'" "${FULL[@]}"
mk full_navy "color=c=0x000080:s=64x48:r=12" "${FULL[@]}"

tags() { ffprobe -v error -select_streams v:0 -show_entries stream=color_range,color_space,color_primaries,color_transfer \
    -of default=nw=1 "$1" | sort | tr '\n' ' '; }

for name in gray navy dgreen ramp cramp hd full_ramp full_cramp full_navy; do
    for crf in 0 23; do
        out="$WORK/${name}_$crf.mp4"
        rc=0; "$TS" interpolate "$WORK/$name.mp4" --fps-out 60 --crf $crf --out "$out" -q -t 2 > "$WORK/log" 2>&1 || rc=$?
        [ $rc = 0 ] || { verdict "interpolate $name (crf $crf)" 0 "rc=$rc"; sed 's/^/      | /' "$WORK/log"; continue; }
        $PY - "$WORK/$name.mp4" "$out" $crf "$name (crf $crf)" <<'PYEOF'
import sys, subprocess, json, numpy as np
def dec(p):
    s = json.loads(subprocess.check_output(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                                            "stream=width,height", "-of", "json", p]))["streams"][0]
    raw = subprocess.check_output(["ffmpeg", "-v", "error", "-i", p, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
    return np.frombuffer(raw, np.uint8).reshape(-1, s["height"], s["width"], 3).astype(int)
a, b = dec(sys.argv[1]), dec(sys.argv[2])
crf, what = int(sys.argv[3]), sys.argv[4]
keys = b[::5]  # 12 -> 60 fps: every 5th output frame is a keyframe
n = min(len(a), len(keys))
d = keys[:n] - a[:n]
bias = np.abs(d.reshape(-1, 3).mean(0)).max()
if crf == 0:
    ok = n == len(a) and np.abs(d).max() <= 1 and len(b) == (len(a) - 1) * 5 + 1
else:
    ok = n == len(a) and bias <= 0.5
print(f"  {'keyframes ' + what:44s} {'OK  ' if ok else 'FAIL'}   max|d|={np.abs(d).max()} "
      f"mean|d|={np.abs(d).mean():.3f} worst channel bias={bias:.3f} (keys {n} of {len(a)})")
sys.exit(0 if ok else 1)
PYEOF
        [ $? = 0 ] || FAILS=$((FAILS + 1))
    done
    t_in=$(tags "$WORK/$name.mp4"); t_out=$(tags "$WORK/${name}_0.mp4")
    case $name in
    full_*) want="color_primaries=bt709 color_range=pc color_space=bt709 color_transfer=bt709 " ;;
    *) want="color_primaries=bt709 color_range=tv color_space=smpte170m color_transfer=bt709 " ;;
    esac
    [ "$t_out" = "$want" ]; verdict "tags of $name" $((1 - $?)) "in: $t_in-> out: $t_out"
done
finish
