#!/usr/bin/python3
"""Frames of a video laid out in a grid, written as one PNG (a contact sheet).

    python3 launch/contact_sheet.py out.mp4 -o sheet.png --cols 8 --every 4 --max-frames 64

Decodes with the ffmpeg binary (rgb24 raw frames through a pipe), size from ffprobe.
Frame i of the sheet is frame (i * every) of the video; frames run left to right,
then top to bottom, with a gap of --gap pixels (black) between them.
"""
import argparse
import json
import shutil
import subprocess
import sys

import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)


def probe_size(path):
    """(width, height) of the first video stream, via ffprobe."""
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                        "stream=width,height", "-of", "json", path], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"contact_sheet: ffprobe cannot read '{path}': {r.stderr.strip()[:200]}")
    streams = json.loads(r.stdout).get("streams", [])
    if not streams:
        raise SystemExit(f"contact_sheet: '{path}' has no video stream")
    return int(streams[0]["width"]), int(streams[0]["height"])


def read_frames(path, every, max_frames):
    """Frames 0, every, 2*every, ... (at most max_frames; 0 = all) as uint8 (h, w, 3) arrays."""
    w, h = probe_size(path)
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-i", path]
    if every > 1:  # keep every N-th decoded frame, then no frame-rate conversion
        cmd += ["-vf", f"select=not(mod(n\\,{every}))", "-fps_mode", "passthrough"]
    if max_frames > 0:
        cmd += ["-frames:v", str(max_frames)]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    size = w * h * 3
    frames = []
    while True:
        buf = p.stdout.read(size)
        if len(buf) < size:
            break
        frames.append(np.frombuffer(buf, np.uint8).reshape(h, w, 3))
    p.stdout.close()
    err = p.stderr.read().decode(errors="replace")
    if p.wait() != 0:
        raise SystemExit(f"contact_sheet: ffmpeg failed on '{path}': {err.strip()[:300]}")
    return frames


def grid(frames, cols, gap, scale):
    """One (H, W, 3) image: the frames in rows of cols, gap pixels apart, each scaled up by scale."""
    h, w, _ = frames[0].shape
    if scale > 1:
        frames = [f.repeat(scale, axis=0).repeat(scale, axis=1) for f in frames]
        h, w = h * scale, w * scale
    cols = max(1, min(cols, len(frames)))
    rows = (len(frames) + cols - 1) // cols
    sheet = np.zeros((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, 3), np.uint8)
    for i, f in enumerate(frames):
        r, c = divmod(i, cols)
        sheet[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = f
    return sheet


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("video", help="video file (anything ffmpeg reads)")
    ap.add_argument("-o", "--out", default=None, help="PNG to write (default: VIDEO with .png)")
    ap.add_argument("--cols", type=int, default=8, help="frames per row (default: 8)")
    ap.add_argument("--every", type=int, default=1, help="take every N-th frame (default: 1)")
    ap.add_argument("--max-frames", type=int, default=64, help="at most this many frames (default: 64; 0: all)")
    ap.add_argument("--gap", type=int, default=2, help="pixels between frames (default: 2)")
    ap.add_argument("--scale", type=int, default=0,
                    help="enlarge each frame by this integer factor (default: 0, auto: frames at least 96 px high)")
    a = ap.parse_args()
    if a.cols < 1 or a.every < 1 or a.max_frames < 0 or a.gap < 0 or a.scale < 0:
        raise SystemExit("contact_sheet: --cols and --every must be >= 1; --max-frames, --gap, --scale >= 0")
    for tool in ("ffmpeg", "ffprobe"):
        if not shutil.which(tool):
            raise SystemExit(f"contact_sheet: '{tool}' not found on PATH (install FFmpeg)")

    frames = read_frames(a.video, a.every, a.max_frames)
    if not frames:
        raise SystemExit(f"contact_sheet: no frames decoded from '{a.video}'")
    scale = a.scale or max(1, -(-96 // frames[0].shape[0]))
    sheet = grid(frames, a.cols, a.gap, scale)
    out = a.out or (a.video.rsplit(".", 1)[0] + ".png")
    plt.imsave(out, sheet)
    print(f"contact_sheet: wrote {out}: {len(frames)} frames, {sheet.shape[1]}x{sheet.shape[0]} px", file=sys.stderr)


if __name__ == "__main__":
    main()
