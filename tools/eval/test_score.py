"""Unit tests of the scorer (numpy only, a few seconds):  /usr/bin/python3 tools/eval/test_score.py

The prompt parser on every caption the dataset can make; the vocabulary against the engine's words;
the partition; boundary metrics on a synthetic seam; persistence windows; MP4 and PNG round trips
through the ffmpeg binary (skipped when ffmpeg is missing); an empty frame reads as absent.
"""
import os
import shutil
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gt  # noqa: E402
import score  # noqa: E402
import vocab as V  # noqa: E402

FAILS = []


def check(name, ok, detail=""):
    print(f"  {name:52s} {'OK  ' if ok else 'FAIL'} {detail}")
    if not ok:
        FAILS.append(name)


def main():
    # every caption of the dataset parses back to its parts
    bad = []
    for c in V.COLOR_NAMES:
        for s in V.SHAPES:
            for m in V.MOTIONS:
                for b in V.BG_NAMES:
                    if b == c:
                        continue
                    got = score.parse_prompt(V.caption(c, s, m, b))
                    if got != {"color": c, "shape": s, "motion": m, "bg": b}:
                        bad.append((V.caption(c, s, m, b), got))
    check("parse_prompt: every dataset caption", not bad, f"{len(bad)} wrong" + (f", e.g. {bad[0]}" if bad else ""))
    p = score.parse_prompt("A red::1.5 circle moving up left on a (dark green background)::1")
    check("parse_prompt: weights and case", p == {"color": "red", "shape": "circle", "motion": "up left",
                                                   "bg": "dark green"}, str(p))
    p = score.parse_prompt("a green square growing")
    check("parse_prompt: no background", p == {"color": "green", "shape": "square", "motion": "growing", "bg": None}, str(p))
    words = set(w for w in V.vocabulary() if not w.startswith("<"))
    check("vocabulary: 27 words, as the shipped model's", len(words) == 27, str(len(words)))
    # partition: contiguous, sizes differ by at most one, first T % P ranks own one more
    okp = True
    for T in (1, 7, 16, 512, 513):
        for P in (1, 2, 3, 4, 7):
            parts = score.partition(T, P)
            sizes = [n for _, n in parts]
            okp &= sum(sizes) == T and max(sizes) - min(sizes) <= 1 and all(
                parts[r + 1][0] == parts[r][0] + parts[r][1] for r in range(P - 1)) and all(
                sizes[r] == T // P + (r < T % P) for r in range(P))
    check("partition(T, P)", okp, str(score.partition(10, 4)))
    # boundary metrics: a synthetic seam at the rank boundaries shows up, a smooth video shows none
    params = [{"color": "red", "shape": "circle", "motion": "right", "bg": "navy"}]
    vids, _, _ = gt.clips(params, frames=40, seed=1)
    v = vids[0]
    b = score.boundary_metrics(v, 4)
    check("boundary: smooth video, ratio ~1", b["boundaries"] == [10, 20, 30] and 0.6 < b["ratio"] < 1.6,
          f"ratio {b['ratio']:.2f}")
    seam = v.copy()
    for k in b["boundaries"]:
        seam[k:] = np.roll(seam[k:], 12, axis=2)
    b2 = score.boundary_metrics(seam, 4)
    check("boundary: a jump at each boundary shows", b2["ratio"] > 3, f"ratio {b2['ratio']:.2f}")
    # detection: empty frame, persistence windows
    d = score.detect_frame(np.full((64, 64, 3), 128, np.uint8))
    check("empty gray frame: no object, gray background", not d["present"] and d["bg"] == "gray", str(d["bg"]))
    dets = score.detect_video(v)
    dets[5] = score.detect_frame(np.zeros((64, 64, 3), np.uint8))
    w = score.persistence_windows(dets, {"color": "red", "shape": "circle"}, 20)
    check("persistence windows", [x["presence"] for x in w] == [0.95, 1.0] and all(x["color"] == 1 for x in w),
          str([(x["presence"], x["color"], x["shape"]) for x in w]))
    s = score.score_video(v, V.caption("red", "circle", "right", "navy"))
    check("score_video on a ground-truth clip", all(s[k + "_ok"] for k in ("color", "shape", "motion", "bg")),
          str(s["got"]))
    check("psnr", score.psnr(v[0], v[0]) == float("inf") and 20 < score.psnr(v[0], np.clip(v[0].astype(int) + 10, 0, 255)
                                                                             .astype(np.uint8)) < 30)
    if shutil.which("ffmpeg") and shutil.which("ffprobe"):
        with tempfile.TemporaryDirectory() as tmp:
            score.write_mp4(os.path.join(tmp, "a.mp4"), v)
            r = score.read_video(os.path.join(tmp, "a.mp4"))
            check("MP4 round trip: frames and size", r.shape == v.shape, str(r.shape))
            check("MP4 round trip: close (PSNR > 30 dB)", score.psnr(r, v) > 30, f"{score.psnr(r, v):.1f} dB")
            score.write_png(os.path.join(tmp, "a.png"), v[0])
            r = score.read_video(os.path.join(tmp, "a.png"))
            check("PNG round trip: exact", r.shape == (1, 64, 64, 3) and np.array_equal(r[0], v[0]))
            np.save(os.path.join(tmp, "a.npy"), v)
            check("npy input", np.array_equal(score.read_video(os.path.join(tmp, "a.npy")), v))
    else:
        print("  (no ffmpeg/ffprobe: MP4 and PNG round trips skipped)")
    print("PASSED" if not FAILS else f"FAILED ({len(FAILS)})")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
