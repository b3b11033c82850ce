"""The dataset's vocabulary (colours, backgrounds, shapes, motions, held-out pairs), read from
tools/train/shapes.py without importing torch.

shapes.py imports torch at top level, and CI has no torch. Rather than copy its tables (which
would drift), this module executes shapes.py's source with the `import torch` line removed:
the tables and the pure-Python helpers (`caption`, `vocabulary`) come out exactly as the
training code defines them; the torch functions (`tracks`, `render`, ...) are left out
(tools/eval/gt.py is their numpy port).
"""
import ast
import os

SHAPES_PY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train", "shapes.py")
_TORCH_FUNCS = {"sample_params", "_fold", "tracks", "render", "batch"}


def _load(path=SHAPES_PY):
    with open(path) as f:
        src = f.read()
    tree = ast.parse(src, path)
    body = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue  # torch (math is imported below)
        if isinstance(node, ast.FunctionDef) and node.name in _TORCH_FUNCS:
            continue
        if isinstance(node, ast.If):  # if __name__ == "__main__"
            continue
        body.append(node)
    mod = ast.Module(body=body, type_ignores=[])
    ns = {"__name__": "shapes_tables", "math": __import__("math")}
    exec(compile(mod, path, "exec"), ns)
    return ns


_ns = _load()
COLORS = {k: tuple(v) for k, v in _ns["COLORS"].items()}          # object colours
BACKGROUNDS = {k: tuple(v) for k, v in _ns["BACKGROUNDS"].items()}  # includes COLORS
SHAPES = list(_ns["SHAPES"])
DIRECTIONS = dict(_ns["DIRECTIONS"])  # name -> (dx, dy), image coordinates (y down)
MOTIONS = list(_ns["MOTIONS"])
HELD_OUT = [tuple(p) for p in _ns["HELD_OUT"]]
COLOR_NAMES = list(_ns["COLOR_NAMES"])
BG_NAMES = list(_ns["BG_NAMES"])
caption = _ns["caption"]
vocabulary = _ns["vocabulary"]

for _need in ("COLORS", "BACKGROUNDS", "SHAPES", "DIRECTIONS", "MOTIONS", "HELD_OUT"):
    assert _ns.get(_need), f"{SHAPES_PY}: no table {_need} (did shapes.py change layout?)"
