#!/bin/bash
# Installs the build into a fresh prefix, builds tests/consumer against the
# installed package (find_package(timeshard)), runs its API test and checks
# that the frames it received through the callback are the frames of the file.
#   run.sh BUILD_DIR SOURCE_DIR WORK_DIR
set -euo pipefail
BUILD=$1 SRC=$2 WORK=$3
rm -rf "$WORK" && mkdir -p "$WORK"
cmake --install "$BUILD" --prefix "$WORK/prefix" > "$WORK/install.log"
test -f "$WORK/prefix/include/timeshard/timeshard.h"
cmake -S "$SRC/tests/consumer" -B "$WORK/build" -DCMAKE_PREFIX_PATH="$WORK/prefix" > "$WORK/configure.log" ||
    { cat "$WORK/configure.log"; exit 1; }
cmake --build "$WORK/build" > "$WORK/build.log" || { cat "$WORK/build.log"; exit 1; }
"$WORK/build/api_test" "$SRC/tests/fixtures/tiny.h5" "$WORK/out.h5" "$WORK/frames.raw"
/usr/bin/python3 - "$WORK/out.h5" "$WORK/frames.raw" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")["frames"][...]
raw = np.fromfile(sys.argv[2], dtype=np.uint8)
ok = raw.size == f.size and np.array_equal(raw.reshape(f.shape), f)
print("%-44s %s   %s" % ("api.callback_frames_equal_file", "OK" if ok else "FAILED", f.shape))
sys.exit(0 if ok else 1)
PY
