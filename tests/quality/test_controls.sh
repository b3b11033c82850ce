#!/bin/bash
# Control clips and their measurement (ctest quality.controls, numpy only, < 30 s): the dataset's plain
# draw is unchanged (digests), the control clips and control vectors (tools/physics.py), and the motion
# estimators (tools/eval/motion.py) recover known paths, velocities, gravity, restitution and growth.
set -u
SRC=${SRC:?source tree}
/usr/bin/python3 "$SRC/tools/eval/test_draw.py" || exit 1
/usr/bin/python3 "$SRC/tools/eval/test_controls.py" || exit 1
/usr/bin/python3 "$SRC/tools/eval/test_motion.py"
