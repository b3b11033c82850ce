// The ST-DiT model family (docs/ARCHITECTURE.md "Model family"): config, weights, word
// tokenizer, text encoder, DiT forward over a rank's frames with halo slots,
// and the per-frame VAE. The PyTorch reference is tools/train/tsmodel.py; the
// tensor names below are its state-dict names.
#pragma once
#include <stdint.h>
#include <stdio.h>

#include "backend/backend.h"
#include "parallel/comm.h"  // ts_comm_t (no MPI in the model)
#include "timeshard/timeshard.h"

#define TS_VAE_MAX_LEVELS 4
// The path hint of a model with motion controls: per token, the path's
// centre offset from the token's centre (dx, dy, in the control vector's
// units: the frame spans -1..1), a Gaussian bump exp(-(dx^2+dy^2) /
// (2 sigma^2)), and one as wide as the planned size s (the size group,
// s at least TS_PATH_HINT_SIZE_MIN; zero without one); all zero on frames
// without a path (tsmodel.py path_hint).
#define TS_PATH_HINT_DIM 4
#define TS_PATH_HINT_SIGMA 0.25f
#define TS_PATH_HINT_SIZE_MIN 0.01f

struct ts_model_config {
    // text
    int text_len;          // L: tokens, <bos> included
    int text_dim;          // Dt
    int text_layers;
    int text_heads;
    // video and VAE
    int image_size;        // frame height = width, pixels
    int vae_factor;        // f: pixels per latent cell
    int latent_channels;   // c
    int vae_levels;
    int vae_ch[TS_VAE_MAX_LEVELS];  // encoder channels per level
    int vae_groups;
    float vae_scale;       // engine latents = VAE latents * vae_scale
    // DiT
    int patch;             // p
    int width;             // D
    int depth;
    int heads;             // H; head width hd = D / H
    int mlp_ratio;
    int temporal_window;   // W
    int causal;
    float rope_theta;
    int freq_dim;
    // sampler defaults
    float shift;
    int default_steps;
    float default_cfg;
    double fps;
    int train_frames;
    int controls;          // 0, or TS_CONTROL_DIM: trained with the per-frame motion controls (dit.ctl_*)
    char label[256];
};

// derived sizes
static inline int ts_cfg_latent_hw(const struct ts_model_config * c) { return c->image_size / c->vae_factor; }
static inline int ts_cfg_tokens(const struct ts_model_config * c) {
    int g = ts_cfg_latent_hw(c) / c->patch;
    return g * g;
}

struct ts_text_layer {
    float * ln1_w, * ln1_b;   // (Dt)
    float * q_w, * q_b;       // (Dt, Dt), (Dt)
    float * kv_w, * kv_b;     // (2Dt, Dt), (2Dt)
    float * proj_w, * proj_b; // (Dt, Dt), (Dt)
    float * ln2_w, * ln2_b;   // (Dt)
    float * fc1_w, * fc1_b;   // (4Dt, Dt), (4Dt)
    float * fc2_w, * fc2_b;   // (Dt, 4Dt), (Dt)
};

struct ts_dit_block {
    float * ada_w, * ada_b;           // (9D, D), (9D)
    float * s_qkv_w, * s_qkv_b;       // (3D, D), (3D)
    float * s_proj_w, * s_proj_b;     // (D, D), (D)
    float * t_qkv_w, * t_qkv_b;       // (3D, D), (3D)
    float * t_proj_w, * t_proj_b;     // (D, D), (D)
    float * cross_ln_w, * cross_ln_b; // (D)
    float * cross_q_w, * cross_q_b;   // (D, D), (D)
    float * cross_kv_w, * cross_kv_b; // (2D, Dt), (2D)
    float * cross_proj_w, * cross_proj_b;  // (D, D), (D)
    float * fc1_w, * fc1_b;           // (mlp*D, D), (mlp*D)
    float * fc2_w, * fc2_b;           // (D, mlp*D), (D)
};

struct ts_resblock {
    float * n1_w, * n1_b;  // (C)
    float * c1_w, * c1_b;  // (C, 3, 3, C), (C)  reordered from PyTorch (Cout, Cin, k, k)
    float * n2_w, * n2_b;
    float * c2_w, * c2_b;
};

struct ts_vae_enc {
    float * conv_in_w, * conv_in_b;                 // (ch0, 3, 3, 3)
    struct ts_resblock res[TS_VAE_MAX_LEVELS];
    float * down_w[TS_VAE_MAX_LEVELS], * down_b[TS_VAE_MAX_LEVELS];  // (ch[i+1], 3, 3, ch[i]) stride 2
    float * norm_w, * norm_b;
    float * conv_out_w, * conv_out_b;               // (c, 3, 3, ch_last)
};

struct ts_vae_dec {
    float * conv_in_w, * conv_in_b;                 // (ch_last, 3, 3, c)
    struct ts_resblock res[TS_VAE_MAX_LEVELS];      // channels reversed
    float * up_w[TS_VAE_MAX_LEVELS], * up_b[TS_VAE_MAX_LEVELS];
    float * norm_w, * norm_b;
    float * conv_out_w, * conv_out_b;               // (3, 3, 3, ch0)
};

typedef struct ts_model {
    struct ts_model_config cfg;
    ts_backend_t be;            // not owned
    char ** vocab;              // owned: vocab_n words, id order
    int vocab_n;
    char path[1024];
    char digest[65];            // SHA-256 of the weights file
    int64_t n_params;
    void * wbuf;                // owned (backend memory): every weight below points into it

    struct {
        float * tok_emb;        // (V, Dt)
        float * pos_emb;        // (L, Dt)
        struct ts_text_layer * layers;  // owned (host array of pointers), text_layers
        float * ln_f_w, * ln_f_b;
    } text;
    struct {
        float * patch_in_w, * patch_in_b;   // (D, p*p*(2c+1)), (D)
        float * t_fc1_w, * t_fc1_b;         // (D, freq_dim)
        float * t_fc2_w, * t_fc2_b;         // (D, D)
        float * text_proj_w, * text_proj_b; // (D, Dt)
        float * ctl_fc1_w, * ctl_fc1_b;     // (D, 12), (D): the control vector's embedding (NULL: none)
        float * ctl_fc2_w, * ctl_fc2_b;     // (D, D), (D)
        float * ctl_tok_fc1_w, * ctl_tok_fc1_b; // (D, 3), (D): the path hint's embedding, per token
        float * ctl_tok_fc2_w, * ctl_tok_fc2_b; // (D, D), (D)
        struct ts_dit_block * blocks;       // owned host array, depth
        float * final_ada_w, * final_ada_b; // (2D, D)
        float * final_out_w, * final_out_b; // (p*p*c, D)
    } dit;
    struct ts_vae_enc enc;
    struct ts_vae_dec dec;
} ts_model;

// Loads config, vocabulary and every tensor, checking each shape against the
// config. Errors name the file and the tensor.
enum ts_status ts_model_load(ts_model ** out, const char * path, ts_backend_t be);
void ts_model_free(ts_model ** m);

// ---- tokenizer ------------------------------------------------------------
// Parses `text` (model/prompt.h: words of [a-z0-9], lower-cased, with optional
// weights); ids = [<bos>, words...] truncated to L, padded with <pad> (0);
// weights (L, may be NULL) the tokens' weights (1 for <bos> and padding).
// Unknown words become <unk> (2) and are listed, comma-separated, in `unknown`
// (may be NULL). *n_valid: tokens used (>= 1); *n_words: words in the text.
enum ts_status ts_tokenize(const ts_model * m, const char * text, int32_t * ids, float * weights, int * n_valid,
                           char * unknown, size_t unknown_n, int * n_words);

// Prints the tokens, their weights and the unknown words of a prompt.
enum ts_status ts_prompt_explain(const ts_model * m, const char * text, FILE * f);

// ---- text encoder -----------------------------------------------------------
// A prompt's encoding in backend memory.
typedef struct ts_text_cond {
    float * tokens;   // (L, Dt)
    float * pooled;   // (Dt) weighted mean of the valid tokens
    float * bias;     // (L) log of each token's weight for cross-attention; NULL when every weight is 1
    int n_valid;
} ts_text_cond;

// Encodes `text` (may be "" for the unconditional prompt). Warns about unknown
// words and truncation. out's buffers are allocated here; free with ts_text_cond_free.
enum ts_status ts_text_encode(const ts_model * m, const char * text, ts_text_cond * out);
void ts_text_cond_free(const ts_model * m, ts_text_cond * c);

// ---- DiT ----------------------------------------------------------------------
// Workspace for the DiT forward over up to T_own frames of one rank, with W
// halo slots on each side. One allocation (backend memory).
typedef struct ts_dit_ws ts_dit_ws;
ts_dit_ws * ts_dit_ws_new(const ts_model * m, int64_t T_own, int64_t g0, int64_t T_total);
void ts_dit_ws_free(const ts_model * m, ts_dit_ws ** ws);
// halo wait time accumulated by this workspace's forwards (seconds)
double ts_dit_ws_halo_wait(const ts_dit_ws * ws);
// Tracing (for bench --halo-trace): with on, every halo wait's seconds are kept in
// order (one per block and forward); ts_dit_ws_waits returns them (NULL when off).
void ts_dit_ws_trace_waits(ts_dit_ws * ws, int on);
const float * ts_dit_ws_waits(const ts_dit_ws * ws, int64_t * n);
// What the temporal halo carries (ts_ctx_params.halo): TS_HALO_ACT, the W edge
// frames' modulated activations (W*N*D floats per side; the receiver projects
// their keys and values), or TS_HALO_QKV, their projected q|k|v rows (W*N*3D
// floats; nothing recomputed, the edge frames projected first so the transfer
// overlaps the rest). Both give the same values (bit for bit on the CPU).
// (enum ts_halo is public, in timeshard.h; ts_dit_ws_set_halo_mode resolves TS_HALO_AUTO.)
// The default for a backend: QKV on the CPU, ACT on CUDA.
enum ts_halo ts_halo_mode_default(ts_backend_t be);
void ts_dit_ws_set_halo_mode(ts_dit_ws * ws, enum ts_halo mode);
// Bytes one side of one block's exchange carries.
size_t ts_dit_halo_bytes(const ts_model * m, enum ts_halo mode);

// Per-frame motion controls (model/controls.h) for the forwards that follow:
// ctl (T_own, TS_CONTROL_DIM) host, the vectors of this workspace's frames
// [g0, g0 + T_own); NULL: none, and the forward is exactly the model's without
// its control modules. Their embedding MLP(ctl) (dit.ctl_fc1, SiLU, dit.ctl_fc2)
// times the frame's largest flag is added to each frame's conditioning, and each
// token's path hint (the path's centre seen from the token: TS_PATH_HINT_DIM
// values, tools/train/tsmodel.py path_hint) embedded by dit.ctl_tok_fc1, SiLU,
// dit.ctl_tok_fc2, times the frame's path flag, is added to the token's input:
// a frame without controls gets nothing from them. A model without the control weights takes no
// controls (an assertion: the family refuses them first) and computes exactly
// what it did before they existed.
void ts_dit_ws_set_controls(ts_dit_ws * ws, const ts_model * m, const float * ctl);

// v (T_own, h, w, c) = DiT(z (T_own, h, w, c), sigma) on frames [g0, g0+T_own)
// of a T_total-frame video. cond (T_own, h, w, c) and cond_mask (T_own) give
// image-to-video conditioning (both NULL: none; host memory for cond_mask).
// halo: the communicator trading W boundary frames with the neighbouring
// ranks (NULL with one rank). All tensors in backend memory except cond_mask.
enum ts_status ts_dit_forward(ts_dit_ws * ws, const ts_model * m, float * v, const float * z, const float * cond,
                              const float * cond_mask, float sigma, const ts_text_cond * text, ts_comm_t halo);

// Per-frame prompts (storyboards): owned frame t uses prompt segs[seg_a[t]];
// where alpha[t] > 0 its cross-attention output and pooled conditioning are
// (1 - alpha) * those of seg_a + alpha * those of seg_b. Host arrays (T_own).
// One segment with alpha 0 everywhere is exactly ts_dit_forward.
struct ts_story_text {
    const ts_text_cond * const * segs;
    int n_segs;
    const int * seg_a;
    const int * seg_b;
    const float * alpha;
};
enum ts_status ts_dit_forward_story(ts_dit_ws * ws, const ts_model * m, float * v, const float * z, const float * cond,
                                    const float * cond_mask, float sigma, const struct ts_story_text * st,
                                    ts_comm_t halo);

// ---- VAE ------------------------------------------------------------------------
typedef struct ts_vae_ws ts_vae_ws;
ts_vae_ws * ts_vae_ws_new(const ts_model * m);
void ts_vae_ws_free(const ts_model * m, ts_vae_ws ** ws);
// One frame: z (h, w, c) engine latents -> rgb (H, W, 3) floats in about [-1, 1].
void ts_vae_decode(ts_vae_ws * ws, const ts_model * m, float * rgb, const float * z);
// One frame: rgb (H, W, 3) in [-1, 1] -> z (h, w, c) engine latents.
void ts_vae_encode(ts_vae_ws * ws, const ts_model * m, float * z, const float * rgb);
// One frame: z (h, w, c) engine latents (backend memory) -> out (H, W, 3) uint8 on the host.
void ts_vae_decode_u8(ts_vae_ws * ws, const ts_model * m, uint8_t * out, const float * z);
// [-1, 1] floats -> uint8 as the reference does: floor((x + 1) * 127.5 + 0.5), clamped.
void ts_to_uint8(uint8_t * out, const float * x, int64_t n);
