#!/bin/bash
# Scorer self-test (ctest quality.scorer, numpy only, < 30 s): unit tests of tools/eval/score.py, then
# the scorer on 132 ground-truth clips rendered by tools/eval/gt.py (>= 98% on colour, shape, motion
# and background; shuffled captions near chance).
set -u
SRC=${SRC:?source tree}
/usr/bin/python3 "$SRC/tools/eval/test_score.py" || exit 1
/usr/bin/python3 "$SRC/tools/eval/validate.py" --quick
