"""The dataset's vocabulary (colours, backgrounds, shapes, motions, held-out pairs): the tables of
tools/physics.py, which tools/train/shapes.py imports too, so the evaluation reads exactly what the
training code uses, without torch.
"""
import os
import sys

_TOOLS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
if _TOOLS not in sys.path:
    sys.path.insert(0, _TOOLS)
import physics as _physics  # noqa: E402  (tools/physics.py)

COLORS = {k: tuple(v) for k, v in _physics.COLORS.items()}          # object colours
BACKGROUNDS = {k: tuple(v) for k, v in _physics.BACKGROUNDS.items()}  # includes COLORS
SHAPES = list(_physics.SHAPES)
DIRECTIONS = dict(_physics.DIRECTIONS)  # name -> (dx, dy), image coordinates (y down)
MOTIONS = list(_physics.MOTIONS)
HELD_OUT = [tuple(p) for p in _physics.HELD_OUT]
COLOR_NAMES = list(_physics.COLOR_NAMES)
BG_NAMES = list(_physics.BG_NAMES)
caption = _physics.caption
vocabulary = _physics.vocabulary
