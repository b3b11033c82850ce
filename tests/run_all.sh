#!/bin/bash
# Installs the packages, builds, and runs the whole test suite with ctest:
# the Release build's tests, then every test again under AddressSanitizer,
# LeakSanitizer and UndefinedBehaviorSanitizer.
#   tests/run_all.sh
set -uo pipefail
cd "$(dirname "$0")/.."
launch/install-deps.sh || exit 1
J=$(nproc)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rc=0
echo "== build (Release) and every test"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DTS_BUILD_TESTS=ON > build-configure.log 2>&1 || { cat build-configure.log; exit 1; }
grep -E "^-- +(timeshard|MPI|HDF5|BLAS|OpenMP|FFmpeg|CUDA|tests)" build-configure.log
cmake --build build -j"$J" 2>&1 | grep -E "error|warning" ; [ "${PIPESTATUS[0]}" = 0 ] || exit 1
(cd build && ctest --output-on-failure -j1) || rc=1
echo "== every test again under ASan + UBSan"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTS_SANITIZE=ON -DTS_BUILD_TESTS=ON > build-asan-configure.log 2>&1 || { cat build-asan-configure.log; exit 1; }
cmake --build build-asan -j"$J" 2>&1 | grep -E "error|warning" ; [ "${PIPESTATUS[0]}" = 0 ] || exit 1
# LeakSanitizer is set per test (tests/common/ts_test.cmake): on, with tests/common/lsan.supp, except
# where a ts_no_lsan_tests call in tests/*/CMakeLists.txt says why not.
# Benchmarks, the two-node cluster (network namespaces, two slurmd, about 3.5 minutes), the
# encoder-bytes test (x264's determinism across rank counts, the shipped model at 37 frames:
# about 10 minutes under ASan) and the 44-clip interpolation set (a quality threshold over
# the same code interp.quality and interp.color run under ASan: 4.6 minutes there) run in
# the Release pass only.
(cd build-asan && ctest --output-on-failure -j1 -LE 'bench|multinode' -E '^(e2e\.encode|interp\.wide)$') || rc=1
NVCC=${CUDACXX:-/usr/local/cuda/bin/nvcc}
if [ -x "$NVCC" ]; then
    # One architecture to stay fast. Without a GPU the GPU tests report "skipped"
    # (tests/gpu/run.sh runs them for real on a GPU machine).
    echo "== the CUDA build (sm_${TS_CI_CUDA_ARCH:-90a}); GPU tests run only where a GPU is"
    cmake -S . -B build-cuda -DCMAKE_BUILD_TYPE=Release -DTS_CUDA=ON -DCMAKE_CUDA_COMPILER="$NVCC" \
        -DCMAKE_CUDA_ARCHITECTURES="${TS_CI_CUDA_ARCH:-90a}" -DTS_BUILD_TESTS=ON > build-cuda-configure.log 2>&1 ||
        { cat build-cuda-configure.log; exit 1; }
    cmake --build build-cuda -j"$J" 2>&1 | grep -E "error|warning" ; [ "${PIPESTATUS[0]}" = 0 ] || exit 1
    (cd build-cuda && ctest --output-on-failure -j1 -L gpu) || rc=1
else
    echo "== no nvcc at $NVCC: the CUDA build is left out"
fi
exit $rc
