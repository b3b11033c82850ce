#!/bin/bash
# Quality gate (ctest quality.gate): a handful of prompts generated with the shipped model on 2 ranks,
# scored by tools/eval/score.py; fails when a score drops below tests/quality/thresholds.json.
# Needs mpirun, ffmpeg/ffprobe and Debian's python3-numpy. Env: TS (the binary), SRC (the source tree).
set -u
TS=${TS:?path to the timeshard binary}
SRC=${SRC:?source tree}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
exec /usr/bin/python3 "$SRC/tests/quality/gate.py" --bin "$TS" ${QUALITY_KEEP:+--keep "$QUALITY_KEEP"}
