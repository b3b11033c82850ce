// Motion-compensated frame interpolation: dense optical flow (a pyramidal DIS
// method), bidirectional bicubic backward warping with occlusion weights, plain
// blending where the motion is under a pixel; the output timing for any fps
// ratio; a streaming, rank-splittable frame iterator.
//
// Usage (one process, 12 -> 60 fps, keyframes from a callback):
//     struct ts_interp_params ip;
//     ts_interp_params_init(&ip);
//     struct ts_interp_timing tm;
//     ts_interp_timing_from_fps(12, 60, &tm);                  // 4 in-betweens per pair
//     ts_interp_stream * s = NULL;
//     ts_interp_stream_open(&ip, w, h, tm, 0, -1, read_key, ud, &s);  // all keyframes
//     for (int got = 1; ts_interp_stream_next(s, rgb, NULL, &got) == TS_OK && got;)
//         ts_video_writer_add(vw, rgb);
//     ts_interp_stream_free(&s);
//
// Every result is a per-pixel gather in a fixed arithmetic order: the bytes do
// not depend on the OpenMP thread count, and an in-between frame depends only
// on its two keyframes, so P ranks (each with a 1-frame halo from its right
// neighbour) produce exactly the frames of one.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "timeshard/timeshard.h"  // enum ts_status

// ---- optical flow -------------------------------------------------------------------
// DIS (Kroeger et al., ECCV 2016), coarse to fine: on each pyramid level, an
// inverse-compositional Gauss-Newton search per patch on a regular grid of
// overlapping patches, then densification (per pixel, patches weighted by their
// photometric error), then a few Jacobi iterations of variational refinement.
struct ts_flow_params {
    int patch;        // patch side in pixels (default 8)
    int stride;       // step of the patch grid (default 3)
    int iters;        // Gauss-Newton iterations per patch and level (default 4)
    int min_size;     // the coarsest level's shorter side is at least this (default 16)
    int var_iters;    // variational refinement iterations per level, 0 = off (default 3)
    float var_alpha;  // smoothness weight of the refinement (default 20)
    int finest;       // finest level with a patch search (0: full size); finer levels only refine (default 0)
};
void ts_flow_params_init(struct ts_flow_params * p);

// Luma (BT.601) of RGB24 (h, w, 3) into gray (h, w), values 0..255.
void ts_interp_gray(const uint8_t * rgb, int w, int h, float * gray);

// Dense flow from I0 to I1 (grayscale, (h, w), values 0..255): I0(x) ~ I1(x + flow(x)).
// flow: (h, w, 2) interleaved (dx, dy) in pixels. Allocates its scratch per call.
void ts_flow_estimate(const struct ts_flow_params * p, const float * I0, const float * I1, int w, int h, float * flow);

// ---- interpolation of one pair ------------------------------------------------------
struct ts_interp_params {
    struct ts_flow_params flow;
    float sigma_fp;   // fixed-point residual (px) at which a warp hypothesis loses its weight (default 0.3)
    float sigma_fb;   // forward-backward mismatch (px) tolerated for "visible in both" (default 0.75)
    float kappa;      // weight left to a hypothesis whose point is occluded in the other frame (default 1e-3)
    float motion_lo;  // px per keyframe interval: a pixel moving at most this is the plain blend of a and b (default 0.5)
    float motion_hi;  // px: from this motion on fully motion-compensated, linear in between (default 1)
    int cubic;        // 1: bicubic (Catmull-Rom) warps, 0: bilinear (default 1)
    // Confidence: over (2 conf_radius + 1)^2 windows, the flows' luma residual over
    // the no-motion residual; up to conf_lo fully motion-compensated, from conf_hi
    // on the plain blend, linear in between (defaults 4, 0.5, 0.8; radius 0 = off).
    int conf_radius;
    float conf_lo, conf_hi;
};
void ts_interp_params_init(struct ts_interp_params * p);

// The flows of one keyframe pair; frames at any t in (0, 1) come from it.
typedef struct ts_interp_pair ts_interp_pair;
ts_interp_pair * ts_interp_pair_new(int w, int h);  // owned by the caller: ts_interp_pair_free
void ts_interp_pair_free(ts_interp_pair ** pp);
// Estimates the flows a->b and b->a. a and b (RGB24) must stay alive and
// unchanged while frames are made from the pair.
void ts_interp_pair_set(ts_interp_pair * pr, const struct ts_interp_params * p, const uint8_t * a, const uint8_t * b);
// The frame at time t (0 < t < 1 between a and b), RGB24, into out.
void ts_interp_pair_frame(const ts_interp_pair * pr, const struct ts_interp_params * p, double t, uint8_t * out);
// Read-only views for tests: (h, w, 2) flows a->b and b->a.
const float * ts_interp_pair_flow(const ts_interp_pair * pr, int backward);

// n in-between frames of a and b at t = k / (n + 1), k = 1..n, into out (n, h, w, 3).
void ts_interp_frames(const struct ts_interp_params * p, const uint8_t * a, const uint8_t * b, int w, int h, int n,
                      uint8_t * out);

// ---- timing ---------------------------------------------------------------------------
// Output frame j (j >= 0) sits at keyframe position s_j = j * num / den
// (num / den = fps_in / fps_out < 1, exact integers). With k = floor(s_j) and
// t = s_j - k: t == 0 copies keyframe k, otherwise the frame is interpolated at
// t between keyframes k and k+1. Integer ratios R give R-1 in-betweens per pair
// (12 -> 60: 4); other ratios place each output frame at its exact time (24 ->
// 60: t = 0, 0.4, 0.8, 0.2, 0.6, 0, ...). A video of T keyframes gives
// floor((T-1) * den / num) + 1 frames ((T-1) * R + 1 for integer R): the output
// ends at the last keyframe, never after it.
struct ts_interp_timing {
    int64_t num;  // > 0
    int64_t den;  // > num
};
// From frame rates given as doubles (e.g. av_q2d of a stream's rate): each is
// turned into the nearest fraction with denominator <= 1001*100 (29.97 ->
// 30000/1001). Error (TS_ERR_ARG) when fps_out is not above fps_in.
#define TS_INTERP_MAX_RATIO 120  // output frames per input frame, at most
enum ts_status ts_interp_timing_from_fps(double fps_in, double fps_out, struct ts_interp_timing * out);
// Frames out of T keyframes (0 for T = 0).
int64_t ts_interp_out_count(int64_t T, struct ts_interp_timing tm);
// The output frames [*j0, *j0 + *jn) made by the owner of keyframes [g0, g0 + count)
// of a T-keyframe video: those whose k lies in its range. Concatenated over
// ranks in order they are the frames of one rank. Pure function.
void ts_interp_out_range(int64_t T, int64_t g0, int64_t count, struct ts_interp_timing tm, int64_t * j0, int64_t * jn);

// ---- streaming ---------------------------------------------------------------------
// Keyframe source: fills rgb (h, w, 3) with keyframe g (global index), *got = 1,
// or *got = 0 when the video has no frame g (its end). Called with g increasing,
// each g once: g0, g0+1, ..., and g0+count (the halo: the right neighbour's first
// frame) when interpolation needs it.
typedef enum ts_status (*ts_interp_key_fn)(void * ud, int64_t g, uint8_t * rgb, int * got);

typedef struct ts_interp_stream ts_interp_stream;
// The output frames of keyframes [g0, g0 + count) (count = -1: up to the end of
// the source), in order. Holds two keyframes, the pair (their luma, float RGB
// copies, flows and confidence: 68 bytes a pixel) and one frame's scratch: memory does not
// grow with the video. *out owned by the caller.
enum ts_status ts_interp_stream_open(const struct ts_interp_params * p, int w, int h, struct ts_interp_timing tm,
                                     int64_t g0, int64_t count, ts_interp_key_fn key, void * ud,
                                     ts_interp_stream ** out);
// The next output frame into rgb; *j (may be NULL) gets its global index.
// *got = 0 at the end. A source error is returned as it came.
enum ts_status ts_interp_stream_next(ts_interp_stream * s, uint8_t * rgb, int64_t * j, int * got);
// Keyframes read so far and frames written so far (for logs and tests).
void ts_interp_stream_counts(const ts_interp_stream * s, int64_t * keys_read, int64_t * frames_out);
void ts_interp_stream_free(ts_interp_stream ** ps);

// ---- ranks -------------------------------------------------------------------------------
// For a rank that owns keyframes [g0, g0 + count), count >= 1: a stream of its
// output frames (ts_interp_out_range) that reads its keyframes from key(g) for
// g in [g0, g0 + count) and the halo frame g0 + count from `halo` (NULL on the
// last rank, whose stream ends at the video's last keyframe). `halo` must stay
// alive while the stream runs. The concatenation over ranks equals the one-rank
// stream byte for byte.
enum ts_status ts_interp_rank_stream_open(const struct ts_interp_params * p, int w, int h,
                                          struct ts_interp_timing tm, int64_t g0, int64_t count,
                                          ts_interp_key_fn key, void * ud, const uint8_t * halo,
                                          ts_interp_stream ** out);

// Bilinear sample of a (h, w) plane at (x, y), clamped to the border (flow.c, interp.c).
static inline float ts_interp_bilinear(const float * I, int w, int h, float x, float y) {
    if (x < 0) x = 0;
    if (y < 0) y = 0;
    if (x > (float)(w - 1)) x = (float)(w - 1);
    if (y > (float)(h - 1)) y = (float)(h - 1);
    int x0 = (int)x, y0 = (int)y;
    if (x0 > w - 2) x0 = w > 1 ? w - 2 : 0;
    if (y0 > h - 2) y0 = h > 1 ? h - 2 : 0;
    const float fx = x - (float)x0, fy = y - (float)y0;
    const int x1 = w > 1 ? x0 + 1 : x0, y1 = h > 1 ? y0 + 1 : y0;
    const float * r0 = I + (size_t)y0 * w;
    const float * r1 = I + (size_t)y1 * w;
    const float top = r0[x0] + fx * (r0[x1] - r0[x0]);
    const float bot = r1[x0] + fx * (r1[x1] - r1[x0]);
    return top + fy * (bot - top);
}
