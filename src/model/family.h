// The model-family interface: what the pipeline needs from a family of models
// (load, sizes and rules, conditioning, the denoiser over a rank's frames, the
// decoder), and nothing else. The pipeline knows no family; each family is its
// own folder behind this table (src/model/stdit/ is the first). Adding one:
// docs/ARCHITECTURE.md, "Adding a model family".
#pragma once
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "backend/backend.h"  // ts_backend_t
#include "model/prompt.h"     // struct ts_storyboard
#include "parallel/comm.h"    // ts_comm_t (no MPI)
#include "sample/sampler.h"   // ts_sampler
#include "timeshard/timeshard.h"

// What loading may be told besides the model's path: the parts a single-file
// checkpoint does not hold (NULL: beside the model, or none).
struct ts_load_opts {
    const char * text_encoder;
    const char * vae;
    const char * tokenizer;
};

// What a loaded model says about itself (metadata, `info`, the settings table).
struct ts_family_info {
    const char * path;      // as given
    const char * label;     // short description (may be "")
    const char * digest;    // SHA-256 (64 hex chars) identifying the weights
    int64_t n_params;
    int64_t mapped_bytes;   // weights read through a file mapping (the page cache, once per node); 0: none
};

// The family's defaults for what the user did not set.
struct ts_family_defaults {
    int steps;
    float cfg;
    double fps;
    float shift;          // of the sampler's schedule
    float control_scale;  // motion controls' guidance (1: none; families without controls: 1)
};

// Which prediction a denoiser makes: the prompt's, the empty (negative) prompt's,
// or the prompt's without the motion controls (control guidance; families with controls).
enum ts_pass { TS_PASS_PROMPT = 0, TS_PASS_UNCOND = 1, TS_PASS_NO_CONTROLS = 2 };

// A run's shape in the family's terms, from what the user asked for.
struct ts_shape {
    int64_t frames;         // video frames out of the decoder
    int64_t latent_frames;  // T: frames of the latents the sampler works on
    int width, height;      // pixels of a video frame
    int lat_h, lat_w, lat_c;  // one latent frame (h, w, c), time-major channels-last
    int64_t min_frames_per_rank;  // latent frames each rank must own (the halo depth)
    int window;             // latent frames each side a frame attends to (0: the family's own)
    int prompts;            // prompts to encode: storyboard segments + the negative (set by the pipeline; 0: 2)
};

// What the conditioning is built from: the prompts (a storyboard; one segment
// for a single prompt), the blend, and an optional first frame (RGB, w x h);
// the ranks, for a family that encodes on one rank and broadcasts.
struct ts_cond_request {
    const struct ts_storyboard * story;
    const char * negative;  // the unconditional prompt (NULL: the empty prompt)
    int blend;
    const uint8_t * image;  // NULL: text-to-video
    int image_w, image_h;
    ts_comm_t comm;  // NULL with one rank; else cond_new may be collective over it (every rank calls)
    int rank;        // this rank (0 with one rank)
    // (Tn, TS_CONTROL_DIM) host: the control vectors of frames [g0, g0 + Tn) (model/controls.h),
    // or NULL when none is given; only for a family whose `controls` says 1.
    const float * controls;
};

// What the denoiser may be told (per run).
struct ts_denoise_opts {
    enum ts_halo halo;  // what neighbours trade (families with a halo); TS_HALO_AUTO: the backend's default
};

struct ts_family {
    const char * name;  // "stdit", ...
    // 1 if `path` is a model of this family (cheap: magic bytes, a config key).
    int (*probe)(const char * path);
    enum ts_status (*load)(const char * path, const struct ts_load_opts * opts, ts_backend_t be, void ** model);
    void (*free)(void * model);
    void (*info)(const void * model, struct ts_family_info * out);
    void (*defaults)(const void * model, struct ts_family_defaults * out);
    // The shape for a request (frames, width and height, window; 0: the model's
    // own) with the frame-count and size rules: a clear error when they fail.
    enum ts_status (*shape)(const void * model, int64_t frames, int width, int height, int window,
                            struct ts_shape * out);
    // The sampler for a run: steps, the sampler's name and shift (NULL / 0: the
    // model's), n latents on this rank. An unknown or unsupported name is an error.
    enum ts_status (*sampler_new)(const void * model, int steps, const char * name, float shift, int64_t n,
                                  ts_sampler ** out);

    // Bytes one rank needs for latent frames [g0, g0 + Tn) beyond the weights
    // (activations, latents, conditioning): planned before anything is allocated.
    int64_t (*mem_bytes)(const void * model, const struct ts_shape * sh, int64_t Tn);

    // Conditioning for the latent frames [g0, g0 + Tn), built on every rank;
    // collective when req->comm is set (every rank calls it, or none does).
    enum ts_status (*cond_new)(const void * model, const struct ts_cond_request * req, const struct ts_shape * sh,
                               int64_t g0, int64_t Tn, void ** cond);
    void (*cond_free)(const void * model, void * cond);

    // The denoiser's workspace for one rank's latent frames [g0, g0 + Tn).
    void * (*denoiser_new)(const void * model, const struct ts_shape * sh, int64_t g0, int64_t Tn,
                           const struct ts_denoise_opts * opts);
    void (*denoiser_free)(const void * model, void * dn);
    // v (Tn, h, w, c) = velocity at x (Tn, h, w, c), at the sampler's model time t, with the
    // conditioning of `pass`; comm trades what the family needs with other ranks (NULL
    // with one rank). Backend memory. Collective when comm is not NULL.
    enum ts_status (*denoise)(void * dn, const void * model, float * v, const float * x, float t,
                              const void * cond, enum ts_pass pass, ts_comm_t comm);
    // Seconds this denoiser spent waiting for other ranks (benchmarks).
    double (*denoiser_wait)(const void * dn);

    // The video frames that latent frames [g0, g0 + Tn) decode to.
    int64_t (*frames_out)(const void * model, const struct ts_shape * sh, int64_t g0, int64_t Tn);
    // The decoder of this rank's frames from its latents x (Tn latent frames,
    // backend memory, kept alive while it runs). A family whose decoder looks
    // back in time fetches what it needs of earlier frames through comm first
    // (collective then; NULL with one rank), so its frames equal the 1-rank decode.
    enum ts_status (*decoder_new)(const void * model, const struct ts_shape * sh, int64_t g0, int64_t Tn,
                                  const float * x, ts_comm_t comm, void ** dec);
    void (*decoder_free)(const void * model, void * dec);
    // This rank's next output frame, in order: RGB (H, W, 3) uint8, host memory.
    enum ts_status (*decode_next)(void * dec, const void * model, uint8_t * rgb);

    // 1 when --halo (qkv or act: what neighbouring ranks trade each block) means something
    // to the family's denoiser; 0: a halo mode given explicitly is refused (TS_HALO_AUTO,
    // the default, is fine)
    int halo_modes;

    // (optional) 1 if this model was trained with the per-frame motion controls
    // (model/controls.h); NULL or 0: a control given to it is an error.
    int (*controls)(const void * model);

    // (optional) How a prompt tokenises: words, weights, unknown words, to f.
    enum ts_status (*explain)(const void * model, const char * prompt, FILE * f);

    // (optional) `timeshard info` on a part of a model that `load` refuses alone (a Wan2.1
    // transformer without its text encoder and VAE): *is_part 1 when `path` is one, then
    // described to f (config, tensors, dtypes, parameters) or an error; 0: not one, nothing
    // printed (TS_OK).
    enum ts_status (*describe_part)(const char * path, FILE * f, int * is_part);
};

// The families this build knows, in probe order.
const struct ts_family * const * ts_families(int * n);
// The family that claims `path`; NULL with an error naming the path if none.
const struct ts_family * ts_family_for_path(const char * path);

// ST-DiT (src/model/stdit/family.c).
extern const struct ts_family ts_family_stdit;
// Wan2.1 (src/model/wan/family.c).
extern const struct ts_family ts_family_wan;
