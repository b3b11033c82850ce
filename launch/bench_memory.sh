#!/bin/bash
# Memory benchmark (not a test): peak resident memory per rank from the
# TIMESHARD_REPORT=1 line every rank prints at the end of a run.
#  (a) rank 0's extra memory (rank 0 peak RSS minus rank 1's, 2 ranks) against
#      the video length: rank 0 streams the frames into the encoder, so the
#      difference must not grow with the length (flat within 10% between the
#      two longest lengths). At a short length a difference near 0 means the
#      model load set both ranks' peak, which hides rank 0's extra memory.
#  (b) peak RSS per rank against the rank count at a fixed length: each rank
#      holds only its own frames, so it should shrink as ranks are added.
# Also prints each rank's sampling time and the share of it spent waiting for
# halos. Runs the tiny test model, and the shipped default model when present.
#
# usage: launch/bench_memory.sh [--lengths "64 256 1024"] [--fixed T] [--ranks "1 2 4"]
#                               [--steps S] [--model PATH]...
# env:   TS (the timeshard binary; default: the first of build*/timeshard),
#        MPIRUN (default: mpirun)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TS=${TS:-$(ls -t "$ROOT"/build*/timeshard 2>/dev/null | head -1)}
MPIRUN=${MPIRUN:-mpirun}
LENGTHS="64 256 1024" FIXED=1024 RANKS="1 2 4" STEPS=2 MODELS=()
while [ $# -gt 0 ]; do
    case $1 in
        --lengths) LENGTHS=$2; shift 2 ;;
        --fixed) FIXED=$2; shift 2 ;;
        --ranks) RANKS=$2; shift 2 ;;
        --steps) STEPS=$2; shift 2 ;;
        --model) MODELS+=("$2"); shift 2 ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench_memory.sh: unknown option '$1' (see --help)" >&2; exit 1 ;;
    esac
done
[ -x "$TS" ] || { echo "bench_memory.sh: no timeshard binary; build it or set TS=path" >&2; exit 1; }
if [ ${#MODELS[@]} = 0 ]; then
    MODELS=("$ROOT/tests/fixtures/tiny.h5")
    [ -f "$ROOT/models/default.h5" ] && MODELS+=("$ROOT/models/default.h5")
fi
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
WORK=$(mktemp -d /tmp/ts-bench-mem.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# run MODEL NP FRAMES: one generation with the MP4 written (rank 0 encodes);
# leaves the report lines, one per rank "R rss_kb sampling_s halo_wait_s", in $WORK/rep
run() {
    local cmd=("$MPIRUN" --oversubscribe --bind-to none -np "$2" "$TS" generate --model "$1" --prompt "a red circle"
               --frames "$3" --steps "$STEPS" --threads 1 -q --out "$WORK/out.mp4")
    echo "#   TIMESHARD_REPORT=1 $(printf '%q ' "${cmd[@]}")" | sed "s|$WORK|\$TMP|g" >> "$WORK/cmds"
    if ! TIMESHARD_REPORT=1 "${cmd[@]}" > "$WORK/log" 2>&1; then
        echo "bench_memory.sh: run failed: ${cmd[*]}" >&2
        sed 's/^/    | /' "$WORK/log" | tail -15 >&2
        exit 1
    fi
    awk '/report: rank / { for (i = 1; i < NF; i++) v[$i] = $(i + 1)
                           print v["rank"], v["peak_rss_kb"], v["sampling_s"], v["halo_wait_s"] }' "$WORK/log" |
        sort -n > "$WORK/rep"
    [ "$(wc -l < "$WORK/rep")" = "$2" ] || { echo "bench_memory.sh: expected $2 report lines" >&2; exit 1; }
}
rss_of() { awk -v r="$1" '$1 == r { print $2 }' "$WORK/rep"; }
mib() { [ "$1" = - ] && echo - || awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

echo "# timeshard memory benchmark: $(date -u +%Y-%m-%dT%H:%MZ) on $(hostname), $(nproc) cores"
echo "# binary $TS ($("$TS" --version)), $STEPS sampler steps, 1 thread per rank, MP4 written"
for model in "${MODELS[@]}"; do
    : > "$WORK/cmds"
    echo "#"
    echo "# model $model"
    echo "# (a) rank 0's extra memory against video length, 2 ranks"
    printf '#%7s  %12s  %12s  %12s\n' frames rank0_rss rank1_rss rank0-rank1
    printf '#%7s  %12s  %12s  %12s\n' "" "(MiB)" "(MiB)" "(MiB)"
    deltas=()
    for T in $LENGTHS; do
        run "$model" 2 "$T"
        r0=$(rss_of 0) r1=$(rss_of 1)
        deltas+=($((r0 - r1)))
        printf ' %7d  %12s  %12s  %12s\n' "$T" "$(mib "$r0")" "$(mib "$r1")" "$(mib $((r0 - r1)))"
    done
    n=${#deltas[@]}
    if [ "$n" -ge 2 ]; then
        read -r -a lens <<< "$LENGTHS"
        awk -v a="${deltas[n - 2]}" -v b="${deltas[n - 1]}" -v s="${lens[n - 2]}" -v l="${lens[n - 1]}" 'BEGIN {
            g = b - a; m = (a < 0 ? -a : a) > (b < 0 ? -b : b) ? (a < 0 ? -a : a) : (b < 0 ? -b : b)
            p = m > 0 ? 100 * g / m : 0
            printf "# rank 0 extra memory changed by %+d KiB (%+.1f%%) from %d to %d frames: %s\n", g, p, s, l,
                   (p <= 10 && p >= -10) ? "flat (within 10%)" : "NOT flat (over 10%)" }'
    fi
    echo "#"
    echo "# (b) peak RSS per rank against rank count, $FIXED frames"
    printf '#%6s  %12s  %12s  %12s  %10s  %10s  %8s\n' ranks rank0_rss max_other min_other sampling halo_wait halo
    printf '#%6s  %12s  %12s  %12s  %10s  %10s  %8s\n' "" "(MiB)" "(MiB)" "(MiB)" "(s, max)" "(s, max)" "(%, max)"
    for P in $RANKS; do
        run "$model" "$P" "$FIXED"
        r0=$(rss_of 0)
        read -r omax omin < <(awk '$1 > 0 { if ($2 > mx) mx = $2; if (mn == "" || $2 < mn) mn = $2 }
                                   END { print (mx == "" ? "-" : mx), (mn == "" ? "-" : mn) }' "$WORK/rep")
        read -r smax hmax hpct < <(awk '{ if ($3 > s) s = $3; if ($4 > h) h = $4
                                          if ($3 > 0 && 100 * $4 / $3 > p) p = 100 * $4 / $3 }
                                        END { print s + 0, h + 0, p + 0 }' "$WORK/rep")
        printf ' %6d  %12s  %12s  %12s  %10.3f  %10.3f  %8.1f\n' "$P" "$(mib "$r0")" "$(mib "$omax")" "$(mib "$omin")" \
            "$smax" "$hmax" "$hpct"
    done
    echo "# commands:"
    cat "$WORK/cmds"
done
