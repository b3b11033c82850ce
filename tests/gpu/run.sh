#!/usr/bin/env bash
# All GPU checks in one go, on a machine with an NVIDIA GPU: configure with
# CUDA (no FFmpeg; serial HDF5 is fine), build, run every check with one
# verdict line each, then time the DiT forward on the GPU against the CPU.
# Takes a few minutes (most of it the build).
#
#   tests/gpu/run.sh [BUILD_DIR]        (default: build-gpu in the source tree)
#   env: CUDA_ARCH (default 90a; 80 for A100), JOBS (default: all cores),
#        TS_GPU_FRAMES (frames for the timing, default 128),
#        TS_GPU_PHASE: all (default), checks (correctness only) or timing (timings
#        only; run it alone on the GPU, after the checks in the same build folder)
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build-gpu}
ARCH=${CUDA_ARCH:-90a}
JOBS=${JOBS:-$(nproc)}
FRAMES=${TS_GPU_FRAMES:-128}
PHASE=${TS_GPU_PHASE:-all}
case $PHASE in all | checks | timing) ;; *) echo "TS_GPU_PHASE must be all, checks or timing" >&2; exit 2 ;; esac
FIX=$ROOT/tests/fixtures
MODEL=$ROOT/models/default.h5
[ -f "$MODEL" ] || MODEL=$FIX/tiny.h5
LOGS=$BUILD/gpu-logs
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
t_start=$(date +%s)
fails=0

# step NAME TIMEOUT CMD...: runs CMD into $LOGS/NAME.log, shows its verdict lines
# (and the log's tail when it fails), prints the step's own verdict.
step() {
    local name=$1 limit=$2
    shift 2
    local t0 rc
    t0=$(date +%s)
    timeout "$limit" "$@" >"$LOGS/$name.log" 2>&1
    rc=$?
    case $name in
    configure) ;;
    build) printf '# %d compiler warning(s)\n' "$(grep -c 'warning' "$LOGS/$name.log")" ;;
    *) grep -E '^  |^#|OK$|FAILED|SKIPPED' "$LOGS/$name.log" || true ;;
    esac
    if [ $rc -eq 0 ]; then
        printf '%-58s OK     (%ds)\n' "== $name" $(($(date +%s) - t0))
    elif [ $rc -eq 77 ]; then  # the test found no usable GPU: on this script's machine that is a failure
        fails=$((fails + 1))
        printf '%-58s SKIP   (no usable GPU)\n' "== $name"
    else
        fails=$((fails + 1))
        printf '%-58s FAIL   (exit %d, %ds; log %s)\n' "== $name" $rc $(($(date +%s) - t0)) "$LOGS/$name.log"
        tail -n 25 "$LOGS/$name.log" | sed 's/^/    | /'
    fi
    return $rc
}

mkdir -p "$LOGS"
echo "# timeshard GPU checks: $(date -u '+%Y-%m-%d %H:%M UTC'), $(hostname)"
nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader 2>/dev/null | sed 's/^/# GPU /' ||
    echo "# nvidia-smi not found"
NGPU=$(nvidia-smi -L 2>/dev/null | wc -l)
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
[ -f "$BUILD/CMakeCache.txt" ] && GEN=()  # keep the generator of an existing build folder

step configure 300 cmake -S "$ROOT" -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DTS_CUDA=ON -DTS_FFMPEG=OFF \
    -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DTS_BUILD_TESTS=ON || { echo "GPU checks: configure failed"; exit 1; }
grep -E '^-- +(CUDA|cuBLAS|NCCL|HDF5|MPI|BLAS|FFmpeg) ' "$LOGS/configure.log" | sed 's/^--/#/'
step build 600 cmake --build "$BUILD" -j "$JOBS" --target test_cuda_ops test_cuda_model test_cuda_halo timeshard ||
    { echo "GPU checks: build failed"; exit 1; }

if [ "$PHASE" != timing ]; then
step cuda_ops 300 "$BUILD/tests/gpu/test_cuda_ops"
step cuda_model 300 "$BUILD/tests/gpu/test_cuda_model" "$FIX" "$MODEL"
# Two ranks; on one GPU NCCL needs a distinct NCCL_HOSTID per rank and the socket transport on loopback.
SHARE=0
[ "$NGPU" -lt 2 ] && SHARE=1
step nccl_halo_np2 300 mpirun --oversubscribe --bind-to none -np 2 -x TS_CUDA_SHARE_GPU=$SHARE \
    -x NCCL_SOCKET_IFNAME=lo -x NCCL_IB_DISABLE=1 \
    sh -c 'NCCL_HOSTID=ts-gpu-check-$OMPI_COMM_WORLD_RANK exec "$0" "$@"' \
    "$BUILD/tests/gpu/test_cuda_halo" "$FIX" "$MODEL"
if [ "$NGPU" -ge 3 ]; then
    step nccl_halo_np3 300 mpirun --oversubscribe --bind-to none -np 3 -x NCCL_IB_DISABLE=1 \
        "$BUILD/tests/gpu/test_cuda_halo" "$FIX"
fi
# Whole generations on the GPU against the CPU backend: fp32 latents within 1e-3 and
# frames within 1/255; bf16 videos scored no worse than fp32 (frames to HDF5: no FFmpeg).
step generation 300 bash "$ROOT/tests/gpu/gen_compare.sh" "$BUILD/timeshard" "$MODEL" "$LOGS"
fi
if [ "$PHASE" != checks ]; then
step timing 300 "$BUILD/tests/gpu/test_cuda_model" --time "$MODEL" "$FRAMES"
# The realistic preset (width 1536, depth 30, 1600 tokens per frame): the engine's forward,
# its TFLOP/s and share of cuBLAS's GEMM peak in the same dtype, against PyTorch (SDPA) on the same GPU.
for dt in bf16 fp32; do
    step "bench_full_$dt" 300 python3 "$ROOT/tools/bench_torch.py" --bin "$BUILD/timeshard" --device cuda --dtype $dt \
        --model synth:bench-full --frames 8 --reps 5
done
fi
echo "# total $(($(date +%s) - t_start)) s"
if [ $fails -eq 0 ]; then
    echo "GPU checks: all passed"
else
    echo "GPU checks: $fails step(s) FAILED (logs in $LOGS)"
fi
[ $fails -eq 0 ]
