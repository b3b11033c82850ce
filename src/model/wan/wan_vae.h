// The Wan2.1 causal 3D VAE (diffusers' AutoencoderKLWan, Wan-Video/Wan2.1's WanVAE):
// loading, the streamed decoder (one latent frame at a time with the causal cache),
// its time-sharded decode (a left halo of latent frames, bit-identical to the
// 1-rank decode) and the encoder. CPU backend (the conv3d and rmsnorm ops).
//
//     ts_wan_vae * vae;
//     TS_TRY(ts_wan_vae_load(be, "WAN_DIR/vae", &vae));        // or a wan_2.1_vae.safetensors
//     float * frames = malloc(ts_wan_vae_frames(T) * 8*h * 8*w * 3 * sizeof(float));
//     TS_TRY(ts_wan_vae_decode(vae, latents, T, h, w, TS_WAN_VAE_MODEL_SPACE, frames));
//     // a rank owning latent frames [g0, g0 + Tn): latents from s = ts_wan_vae_range_start(vae, g0)
//     TS_TRY(ts_wan_vae_decode_range(vae, latents + s*h*w*16, s, g0, Tn, h, w, TS_WAN_VAE_MODEL_SPACE, out));
//     ts_wan_vae_free(&vae);
//
// Layouts (time-major, channels-last, as the engine keeps them):
//   latents (T, h, w, z_dim)           z_dim = 16 in Wan2.1
//   frames  (F, H, W, 3), H = 8h, W = 8w, F = 1 + 4(T - 1), values in [-1, 1]
// Latents are model space (what the DiT makes; WanPipeline's output_type="latent")
// with TS_WAN_VAE_MODEL_SPACE: the decoder first de-normalises them as WanPipeline
// does (z = x / (1/std) + mean, per channel, float32), and the encoder returns
// (mean - m) * (1/std). Without the flag they are the VAE's raw latents
// (vae.decode's input, latent_dist.mean).
//
// Temporal dependence (docs/wan_vae.md): every causal conv sees its input's
// last 3 frames at its own frame rate, so the decoded frames of latent frame g
// depend on latent frames [g - R, g] only, R = ts_wan_vae_decode_reach (38 for
// Wan2.1's topology: latent frame k still changes the first two frames of latent
// frame k + 38), and on nothing else: the cache holds conv inputs, no state passes
// further. A decode that starts at latent frame s > 0 as if it were a video's first
// frame differs from the 1-rank decode by zeros in place of the frames before s at
// every causal conv's input (reaching latent frame s - 1 + R at most) and by latent
// frame s not upsampled in time (reaching s + 14): it gives the 1-rank frames bit for
// bit from latent frame s + R on. That is the halo: R latent frames (tests/wan_vae
// checks it is also the least that works).
#pragma once
#include <stdint.h>

#include "backend/backend.h"
#include "timeshard/timeshard.h"  // enum ts_status

#define TS_WAN_VAE_MAX_LEVELS 8

struct ts_wan_vae_config {
    int base_dim;                              // 96 in Wan2.1
    int z_dim;                                 // 16
    int n_levels;                              // len(dim_mult): 4
    int dim_mult[TS_WAN_VAE_MAX_LEVELS];       // [1, 2, 4, 4]
    int num_res_blocks;                        // 2
    int temporal_down[TS_WAN_VAE_MAX_LEVELS];  // n_levels - 1 flags: [0, 1, 1] (the decoder's reversed)
    float latents_mean[64];                    // (z_dim) float32 as torch.tensor(config list)
    float latents_std[64];                     // (z_dim)
};

enum ts_wan_vae_flags {
    TS_WAN_VAE_MODEL_SPACE = 1,  // latents in model space (de-normalise on decode, normalise on encode)
    TS_WAN_VAE_NO_CLAMP = 2,     // decode: leave frames unclamped (tests; diffusers clamps to [-1, 1])
};

typedef struct ts_wan_vae ts_wan_vae;  // weights (float32 on the backend) and config

// Loads from a diffusers `vae/` directory (config.json + diffusion_pytorch_model.safetensors)
// or from one safetensors file in the original Wan2.1 naming (wan_2.1_vae.safetensors;
// config: Wan2.1's, base_dim and z_dim read off the tensors). Tensors bf16, fp16 or fp32,
// converted to float32 (Wan2.1's VAE: 127M parameters, ~508 MB). A tensor whose shape
// disagrees with the config is an error naming it. The backend needs the conv3d and
// rmsnorm ops (the CPU backend has them; CUDA not yet: TS_ERR_ARG naming it).
enum ts_status ts_wan_vae_load(ts_backend_t be, const char * path, ts_wan_vae ** out);
void ts_wan_vae_free(ts_wan_vae ** vae);  // sets *vae to NULL
const struct ts_wan_vae_config * ts_wan_vae_get_config(const ts_wan_vae * vae);

// Video frames of T latent frames: 1 + 4(T - 1) (0 for T = 0). Latent frame g > 0
// decodes to frames [1 + 4(g - 1), 4g]; latent frame 0 to frame 0.
int64_t ts_wan_vae_frames(int64_t T);
// The decoder's temporal reach R in latent frames, derived from the config: the
// frames of latent frame g depend on latent frames [g - R, g] only.
int ts_wan_vae_decode_reach(const ts_wan_vae * vae);
// First latent frame a rank owning [g0, ...) must decode from: max(0, g0 - R).
int64_t ts_wan_vae_range_start(const ts_wan_vae * vae, int64_t g0);

// Decodes a whole video: latents (T, h, w, z_dim) -> frames (1 + 4(T-1), 8h, 8w, 3).
enum ts_status ts_wan_vae_decode(ts_wan_vae * vae, const float * latents, int64_t T, int h, int w, int flags,
                                 float * frames);
// The time-sharded decode: the frames of latent frames [g0, g0 + Tn), bit-identical
// to those of ts_wan_vae_decode of the whole video. latents holds latent frames
// [s, g0 + Tn) (s = ts_wan_vae_range_start(vae, g0); its predecessors' frames are the
// halo), (g0 + Tn - s, h, w, z_dim). frames receives ts_wan_vae_frames(g0 + Tn) -
// ts_wan_vae_frames(g0) frames (8h, 8w, 3). Work: Tn latent frames plus the halo's
// cone (ts_wan_vae_dec_skip_before), ts_wan_vae_last_flops afterwards.
enum ts_status ts_wan_vae_decode_range(ts_wan_vae * vae, const float * latents, int64_t s, int64_t g0, int64_t Tn,
                                       int h, int w, int flags, float * frames);
double ts_wan_vae_last_flops(const ts_wan_vae * vae);  // of the last decode or decode_range

// The halo a rank's decode_range needs: latent frames [s, g0) (s =
// ts_wan_vae_range_start(vae, g0)) from the ranks before it, possibly several ranks
// away when they own fewer than R frames. Collective over the communicator's ranks,
// partitioned by ts_partition(T, world, rank): own (count, h, w, z_dim), halo
// receives (g0 - s, h, w, z_dim), frames s..g0-1 in order. Rounds of neighbour exchanges of R frames each
// (one round when every rank owns at least R frames; the exchange runs both ways, what
// goes left is unused).
struct ts_comm;
enum ts_status ts_wan_vae_halo_latents(const ts_wan_vae * vae, struct ts_comm * comm, int rank, int world, int64_t T,
                                       int h, int w, const float * own, float * halo);

// The streamed decoder: one latent frame in, its frames out; memory is fixed by
// (h, w) (the last two input frames of every causal conv), not by the video length.
typedef struct ts_wan_vae_dec ts_wan_vae_dec;
enum ts_status ts_wan_vae_dec_new(ts_wan_vae * vae, int h, int w, ts_wan_vae_dec ** out);
// Starts a new video: the next latent frame is treated as frame 0 (skip_before cleared).
void ts_wan_vae_dec_reset(ts_wan_vae_dec * d);
// Only the frames of the L0-th latent frame pushed (from the reset) on are wanted: each
// stage skips the frames that cannot reach them (the halo's exact cone: the cheap
// low-resolution stages run on all R halo frames, the full-resolution ones on the last
// few), and the pushes before it return 0 frames. L0 = 0: nothing skipped.
void ts_wan_vae_dec_skip_before(ts_wan_vae_dec * d, int64_t L0);
// Work done since the decoder was made: 2 x multiply-adds of its convolutions, GEMMs, attention.
double ts_wan_vae_dec_flops(const ts_wan_vae_dec * d);
// latent (h, w, z_dim) -> frames (n, 8h, 8w, 3), room for 4; returns n (1 for a
// video's first latent frame, else 4; 0 before skip_before's latent frame).
int ts_wan_vae_dec_push(ts_wan_vae_dec * d, const float * latent, int flags, float * frames);
void ts_wan_vae_dec_free(ts_wan_vae_dec ** d);  // sets *d to NULL
// Bytes the decoder state holds (caches and work buffers).
size_t ts_wan_vae_dec_bytes(const ts_wan_vae_dec * d);

// Encodes frames (F, H, W, 3), F = 1 + 4k, H and W multiples of 8, as diffusers'
// encode (chunks of 1, then 4 frames; each frame streamed through the causal cache)
// -> latents (1 + k, H/8, W/8, z_dim): the posterior mean (raw, or model space).
enum ts_status ts_wan_vae_encode(ts_wan_vae * vae, const float * frames, int64_t F, int H, int W, int flags,
                                 float * latents);
