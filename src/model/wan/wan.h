// The Wan2.1 family: its diffusion transformer (WanTransformer3DModel),
// loaded as users download it, and its forward over a rank's latent frames.
//
//     ts_wan_model * m;
//     TS_TRY(ts_wan_load("Wan2.1-T2V-1.3B-Diffusers", be, &m));   // or one .safetensors file
//     ts_wan_ws * ws;
//     TS_TRY(ts_wan_ws_new(m, T, 0, T, h, w, 0, 512, &ws));       // whole video, global attention
//     TS_TRY(ts_wan_forward(ws, m, v, x, 999.0f, ctx, NULL));     // v, x: (T, h, w, C); ctx (512, 4096)
//
// On P ranks each rank calls ts_wan_ws_new with its own frames [g0, g0 + T_own)
// (ts_partition) and ts_wan_forward with the communicator.
//     ts_wan_ws_free(&ws);
//     ts_wan_free(&m);
//
// Layouts. Latents are time-major and channels-last, (T, h, w, C), as the
// engine keeps them (diffusers' (C, T, h, w) transposed). Tokens are the
// (1, 2, 2) patches of a frame in row-major order, N = (h/2)(w/2) per frame;
// activations are (T_own, N, D). Text rows are (L, text_dim), L = 512 for the
// published models (rows past the prompt are zeros and are attended: no mask);
// a storyboard gives each latent frame its segment's rows, and prompt weights
// add log w to the cross-attention logits of the weighted keys (ts_wan_text).
//
// Exactness. Self-attention covers every token of the latent frames within
// +-window of the query's frame (window 0: the whole video). Keys are reduced
// one latent frame at a time in global frame order with an online softmax, and
// every other op works row by row, so a rank's result for its frames does not
// depend on how the video is split (docs/ARCHITECTURE.md, property 2), bit for bit on the
// CPU. A window at least as long as the video is the global case, bit for bit.
//
// Weights stay memory-mapped in their stored dtype (F32, F16, BF16); a GEMM
// widens a weight while packing it, in column slabs of at most 32 MiB. Only
// the vectors (biases, norms, modulation tables) and the patch embedding
// (D x 64) are held as float32 copies.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"      // ts_backend_t
#include "io/safetensors.h"       // ts_st, enum ts_st_dtype
#include "parallel/comm.h"        // ts_comm_t
#include "timeshard/timeshard.h"  // enum ts_status

// The checkpoint layouts with a name table each (wan_load.c).
enum ts_wan_layout { TS_WAN_LAYOUT_DIFFUSERS, TS_WAN_LAYOUT_ORIGINAL, TS_WAN_LAYOUT_COUNT };
const char * ts_wan_layout_name(enum ts_wan_layout l);  // "diffusers", "original"

struct ts_wan_config {
    int dim;               // D = heads * head_dim (1536 for 1.3B, 5120 for 14B)
    int ffn_dim;           // F (8960, 13824)
    int heads;             // H (12, 40)
    int head_dim;          // hd (128)
    int layers;            // (30, 40)
    int in_channels;       // C (16)
    int out_channels;      // (16)
    int text_dim;          // (4096: umT5-XXL)
    int freq_dim;          // sinusoidal timestep width (256)
    int patch[3];          // (1, 2, 2): t, h, w
    float eps;             // 1e-6
    int rope_max_seq_len;  // 1024: positions per axis the reference tabulates
};

// A linear's weight, (rows = out, cols = in), as stored (mapped, not owned).
struct ts_wan_mat {
    const void * data;
    enum ts_st_dtype dtype;
    int rows, cols;
};

struct ts_wan_block {
    struct ts_wan_mat q, k, v, o;            // self-attention, each (D, D)
    const float *q_b, *k_b, *v_b, *o_b;      // (D)
    const float *norm_q, *norm_k;            // (D): RMSNorm across all heads
    struct ts_wan_mat cq, ck, cv, co;        // cross-attention, (D, D)
    const float *cq_b, *ck_b, *cv_b, *co_b;  // (D)
    const float *cnorm_q, *cnorm_k;          // (D)
    const float *norm_x_w, *norm_x_b;        // (D): affine LayerNorm before cross-attention
                                             // (diffusers 'norm2', original 'norm3'); NULL if absent
    struct ts_wan_mat ffn1, ffn2;            // (F, D), (D, F)
    const float *ffn1_b, *ffn2_b;            // (F), (D)
    const float * sst;                       // (6, D): shift, scale, gate, c_shift, c_scale, c_gate
};

typedef struct ts_wan_model {
    struct ts_wan_config cfg;
    enum ts_wan_layout layout;
    ts_backend_t be;                 // not owned
    ts_st * st;                      // owned: the mapped file(s)
    char * path;                     // owned: what was loaded
    char * config_path;              // owned: transformer/config.json (NULL for a single file)
    char digest[65];                 // model_digest: SHA-256 of the shard index, headers, config
    float * patch_w;                 // (D, ph*pw*C): columns in (py, px, c) order (patchify's)
    const float * patch_b;           // (D)
    struct ts_wan_mat time1, time2;  // (D, freq_dim), (D, D)
    const float *time1_b, *time2_b;  // (D)
    struct ts_wan_mat tproj;         // (6D, D)
    const float * tproj_b;           // (6D)
    struct ts_wan_mat text1, text2;  // (D, text_dim), (D, D)
    const float *text1_b, *text2_b;  // (D)
    struct ts_wan_mat head;          // (pt*ph*pw*C_out, D), rows in (py, px, c) order
    const float * head_b;            // (pt*ph*pw*C_out)
    const float * head_sst;          // (2, D): shift, scale
    struct ts_wan_block * blocks;    // owned (layers,)
    float * vecs;                    // owned: the float32 copies every const float * above points into
    int64_t n_params;
} ts_wan_model;

// Loads `path`: a diffusers pipeline directory (model_index.json optional),
// its transformer/ folder, or one .safetensors file in the original Wan naming
// (with or without the 'model.diffusion_model.' prefix; config inferred from
// shapes, head_dim 128 as in every published Wan2.1 unless the file's
// __metadata__ says 'num_heads'). Errors (one line and a hint): a missing
// shard, an index naming an absent tensor, a misshapen or missing tensor, an
// unknown class name, a .pth pickle, fp8 or GGUF files.
enum ts_status ts_wan_load(const char * path, ts_backend_t be, ts_wan_model ** out);
void ts_wan_free(ts_wan_model ** m);  // sets *m to NULL

// Per-rank work space of one forward: this rank owns latent frames
// [g0, g0 + T_own) of T_total, each h x w latents (h, w even). window: latent
// frames each side a query attends to (0: the whole video).
typedef struct ts_wan_ws ts_wan_ws;
enum ts_status ts_wan_ws_new(const ts_wan_model * m, int64_t T_total, int64_t g0, int64_t T_own, int h, int w,
                             int window, int text_len, ts_wan_ws ** out);
void ts_wan_ws_free(ts_wan_ws ** ws);
// Runs this work space's forwards on `be` (a CPU backend) instead of the
// model's: threads of one process acting as ranks share a model but not a
// backend (the backend's scratch is per backend).
void ts_wan_ws_set_backend(ts_wan_ws * ws, ts_backend_t be);
// Bytes this rank receives per block through the communicator: the K|V rows
// of the other ranks' frames within its window (all of them without one).
size_t ts_wan_ws_gather_bytes(const ts_wan_ws * ws);

// What the cross-attention reads: the text rows of one or more segments (a
// storyboard's prompts; one for a single prompt), the segment each owned
// latent frame attends to, and optional prompt weights as a bias on the text
// keys' logits. The per-frame arrays are indexed by owned frame (global frame
// g0 + t), so every rank reads the same segment for a frame.
struct ts_wan_text {
    const float * ctx;           // (n_segs, L, text_dim): each segment's encoder rows
    const float * const * bias;  // (n_segs) or NULL: per segment (L) added to the logits of each key
                                 // (log w; -INFINITY masks it), or NULL for none (the unweighted path)
    int n_segs;                  // >= 1
    const int * seg_a;           // (T_own) or NULL (all segment 0): the segment of each owned frame
    const int * seg_b;           // (T_own) or NULL: the segment blended in where alpha > 0
    const float * alpha;         // (T_own) or NULL: the cross-attention output is (1 - a) A + a B
};

// v_out (T_own, h, w, C_out) = the transformer's output (flow velocity) for
// x_in (T_own, h, w, C) of this rank's frames at `timestep` (the scheduler's
// value, 0..1000), text_ctx (text_len, text_dim) from the text encoder.
// comm: NULL when this process owns the whole video; otherwise every rank
// calls together, and in every block each rank receives the K|V rows of the
// frames within its window from the ranks that own them, through comm's
// gather slot (collective).
enum ts_status ts_wan_forward(ts_wan_ws * ws, const ts_wan_model * m, float * v_out, const float * x_in, float timestep,
                              const float * text_ctx, ts_comm_t comm);
// The same with a storyboard's segments and prompt weights (struct ts_wan_text).
// One segment without bias is ts_wan_forward, bit for bit. The work space's
// text buffers grow to n_segs segments on first use.
enum ts_status ts_wan_forward_text(ts_wan_ws * ws, const ts_wan_model * m, float * v_out, const float * x_in,
                                   float timestep, const struct ts_wan_text * text, ts_comm_t comm);

// The video's size rules, checked before anything runs (one clear error each):
// `frames` video frames must be 4k+1 (the causal VAE maps frame 0 to latent
// frame 0 and each later 4 frames to one latent frame; diffusers rounds other
// counts with a warning, timeshard refuses them naming the nearest valid
// ones), width and height multiples of 16 (VAE 8x, then the 2x2 patch), and at
// most one rank per latent frame. Gives the latent sizes: T = (frames-1)/4 + 1,
// h = height/8, w = width/8.
enum ts_status ts_wan_check_video(int64_t frames, int width, int height, int ranks, int64_t * T, int * h, int * w);

// ---- pieces shared with the tests ----

// The 3D RoPE tables of tokens (frames g0.., h/2 x w/2 per frame), diffusers'
// WanRotaryPosEmbed: pairs split t, h, w = hd/2 - 2*(hd/6), hd/6, hd/6 (in
// pairs), theta 10000 per axis, angles and cos/sin in float64, stored float32.
// cos_tab, sin_tab: (T_own * N, hd/2).
void ts_wan_rope_tables(float * cos_tab, float * sin_tab, int hd, int64_t g0, int64_t T_own, int hp, int wp);

// The windowed 3D attention over frames in global order (CPU). q (T_own*N, D)
// of frames g0..; kv (kv_frames, 2, N, D): the K then V rows of frames kv_g0..
// (at least those within the window of an owned frame). out (T_own*N, D).
// window 0: all frames.
void ts_wan_attn3d_cpu(ts_backend_t be, float * out, const float * q, const float * kv, int64_t kv_g0,
                       int64_t kv_frames, int64_t T_total, int64_t g0, int64_t T_own, int N, int H, int hd, int window);
