// timeshard: long video generation with a latent video diffusion transformer
// whose frames are spread over many ranks (MPI on CPUs, NCCL on GPUs).
//
// Usage (one process; under mpirun every rank runs the same code):
//
//     struct ts_gen_params gp;
//     ts_gen_params_init(&gp);
//     gp.prompt = "a red circle moving left on a blue background";
//     gp.frames = 32;
//     gp.out_path = "out.mp4";
//     ts_ctx_t ctx = NULL;
//     if (ts_ctx_new(NULL /* default model */, NULL, &ctx) != TS_OK ||
//         ts_generate(ctx, &gp) != TS_OK)
//         fprintf(stderr, "error: %s\n", ts_last_error());
//     ts_ctx_free(&ctx);
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TS_VERSION "0.1.0"

// What a call returns. Anything but TS_OK comes with ts_last_error() and
// usually ts_last_hint().
enum ts_status {
    TS_OK = 0,
    TS_ERR_ARG,          // bad flag or parameter value
    TS_ERR_IO,           // file missing, unreadable or unwritable
    TS_ERR_FORMAT,       // file present but malformed or inconsistent
    TS_ERR_MODEL,        // weights do not match the model config
    TS_ERR_DIST,         // distributed setup or another rank failed
    TS_ERR_INTERRUPTED,  // stopped by a signal after writing a checkpoint
    TS_ERR_COUNT
};
const char * ts_status_name(enum ts_status st);
const char * ts_last_error(void);  // "" when none
const char * ts_last_hint(void);   // "" when none

// What to generate. ts_gen_params_init fills the defaults; 0 / NULL / negative
// fields mean "the model's default" where noted.
struct ts_gen_params {
    const char * prompt;           // required unless storyboard_path (may not be empty)
    const char * storyboard_path;  // lines "FIRST-LAST: prompt" (instead of prompt)
    int blend;                     // storyboard: frames mixed around each boundary (default 0)
    double fps_out;                // > fps: interpolate the output to this rate (0: none)
    int64_t frames;                // video length in frames (default 32)
    int steps;                     // sampler steps (0: model default)
    float cfg;                     // guidance scale (< 0: model default)
    uint64_t seed;                 // default 0
    double fps;                    // output frame rate (0: model's)
    const char * out_path;         // MP4 (NULL: none)
    const char * codec;            // libavcodec encoder (NULL: libx264)
    int crf;                       // < 0: codec default
    const char * latents_path;     // HDF5 latents (NULL: none)
    const char * image_path;       // first frame for image-to-video (NULL: text-to-video)
    const char * checkpoint_path;  // HDF5 checkpoint written every checkpoint_every steps (NULL: none)
    int checkpoint_every;          // default 0: only when stopped by SIGTERM
    const char * resume_path;      // continue from this checkpoint (NULL: start fresh)
    int progress;                  // 1: progress lines on rank 0 (default)
};
void ts_gen_params_init(struct ts_gen_params * p);

struct ts_ctx_params {
    int threads;          // CPU threads per rank (0: all cores / ranks on the node)
    const char * backend; // "cpu", "cuda", or NULL: cuda where a GPU is present, else cpu
    const char * dtype;   // "fp32" (default); CUDA also "tf32", "bf16", "fp16" (GEMM math)
    const char * halo;    // what neighbours trade each block: "qkv" (the edge frames' projected rows,
                          // 3x the bytes, nothing recomputed) or "act" (their modulated activations,
                          // the receiver projects keys and values itself); NULL: qkv on the CPU
                          // backend (compute is dear there), act on CUDA (bytes are dearer)
    int signals;          // 1: the context installs handlers for fatal signals (report the rank, delete
                          // temporary outputs, end the job) and SIGTERM (checkpoint, then stop);
                          // 0 (default): the caller's handlers stay as they are
};
void ts_ctx_params_init(struct ts_ctx_params * p);

// A loaded model plus the job's ranks. Every rank creates one (collective).
typedef struct ts_ctx * ts_ctx_t;
// model_path NULL: the shipped default model. Initialises MPI if needed.
enum ts_status ts_ctx_new(const char * model_path, const struct ts_ctx_params * p, ts_ctx_t * out);
void ts_ctx_free(ts_ctx_t * ctx);
int ts_ctx_rank(ts_ctx_t ctx);
int ts_ctx_world(ts_ctx_t ctx);

// Generates a video (collective over the ranks). Outputs appear under their
// names only when complete.
enum ts_status ts_generate(ts_ctx_t ctx, const struct ts_gen_params * p);

// The shipped default model's path (searched: $TIMESHARD_MODEL, next to the
// binary's install prefix, the source tree); NULL when none is found.
const char * ts_default_model_path(void);

#ifdef __cplusplus
}
#endif
