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
//
// Link with the installed package: find_package(timeshard) and
// target_link_libraries(app timeshard::timeshard).
#pragma once
#include <stdint.h>
#include <stdio.h>  // FILE

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
// The last error of this thread's latest call into the library: every public
// entry point clears it first, so a second failing call reports its own error.
const char * ts_last_error(void);  // "" when none
const char * ts_last_hint(void);   // "" when none

// ---- names that are parsed once (by the command line) and passed as enums ----------
enum ts_backend_kind { TS_BACKEND_AUTO, TS_BACKEND_CPU, TS_BACKEND_CUDA, TS_BACKEND_COUNT };
enum ts_dtype { TS_DTYPE_FP32, TS_DTYPE_TF32, TS_DTYPE_BF16, TS_DTYPE_FP16, TS_DTYPE_COUNT };
// What neighbours trade each block (the default model): QKV, the edge frames'
// projected q|k|v rows (3x the bytes, nothing recomputed), or ACT, their
// modulated activations (the receiver projects keys and values itself). AUTO:
// QKV on the CPU backend (compute is dear there), ACT on CUDA (bytes are dearer).
enum ts_halo { TS_HALO_AUTO, TS_HALO_QKV, TS_HALO_ACT, TS_HALO_COUNT };
const char * ts_backend_kind_name(enum ts_backend_kind k);  // "auto", "cpu", "cuda"
int ts_backend_kind_from_str(const char * s);              // -1 when unknown
const char * ts_dtype_name(enum ts_dtype t);                // "fp32", "tf32", "bf16", "fp16"
int ts_dtype_from_str(const char * s);                      // -1 when unknown
const char * ts_halo_name(enum ts_halo h);                  // "auto", "qkv", "act"
int ts_halo_from_str(const char * s);                       // -1 when unknown

// ---- logs, progress, frames: callbacks ------------------------------------------------
enum ts_log_level { TS_LOG_ERROR, TS_LOG_WARN, TS_LOG_INFO, TS_LOG_DEBUG, TS_LOG_COUNT };
// One line (no newline) at `level`, already prefixed ("timeshard: warning: ...").
// INFO and DEBUG come from rank 0 only. Without a callback lines go to stderr.
typedef void (*ts_log_fn)(enum ts_log_level level, const char * line, void * ud);
void ts_set_log_callback(ts_log_fn fn, void * ud);  // NULL: stderr
void ts_set_log_level(enum ts_log_level level);     // lines above it are dropped (default INFO)

// Progress of a long phase, on rank 0: `done` of `total` units (sampler steps,
// frames) after `elapsed` seconds. The library prints no progress itself.
struct ts_progress {
    const char * phase;  // "sampling", "video"
    int64_t done, total;
    double elapsed;
};
typedef void (*ts_progress_fn)(const struct ts_progress * p, void * ud);

// One output frame on rank 0, in order: index, RGB (height, width, 3) uint8.
// Return TS_OK to continue; anything else stops the run with that status.
typedef enum ts_status (*ts_frame_fn)(int64_t index, const uint8_t * rgb, int width, int height, void * ud);

// What to generate. ts_gen_params_init fills the defaults; 0 / NULL / negative
// fields mean "the model's default" where noted.
struct ts_gen_params {
    const char * prompt;           // required unless storyboard_path (may not be empty)
    const char * storyboard_path;  // lines "FIRST-LAST: prompt" (instead of prompt)
    int blend;                     // storyboard: frames mixed around each boundary (default 0)
    double fps_out;                // > fps: interpolate the output to this rate (0: none)
    int64_t frames;                // video length in frames (0: the model's; 32, Wan2.1 81)
    int steps;                     // sampler steps (0: model default)
    float cfg;                     // guidance scale (< 0: model default)
    uint64_t seed;                 // default 0
    double fps;                    // output frame rate (0: model's)
    int width, height;             // pixels (0: the model's)
    const char * negative_prompt;  // the unconditional prompt of guidance (NULL: "")
    int window;                    // latent frames each side that attention sees (0: the model's own)
    const char * sampler;          // "unipc", "euler" (NULL: the model's)
    float shift;                   // of the sampler's schedule (0: the model's)
    const char * noise_path;       // HDF5 /noise float32 (T_latent, h, w, C): the initial noise (NULL: Philox by seed)
    const char * out_path;         // MP4, or FILE.h5 for the decoded frames (NULL: none)
    const char * codec;            // libavcodec encoder (NULL: libx264)
    int crf;                       // < 0: codec default
    const char * latents_path;     // HDF5 latents (NULL: none)
    const char * image_path;       // first frame for image-to-video (NULL: text-to-video)
    const char * checkpoint_path;  // HDF5 checkpoint written every checkpoint_every steps (NULL: none)
    int checkpoint_every;          // default 0: only when stopped by SIGTERM
    const char * resume_path;      // continue from this checkpoint (NULL: start fresh)
    ts_progress_fn progress;       // rank 0 (NULL: none)
    void * progress_ud;
    ts_frame_fn on_frame;          // rank 0, every output frame in order (NULL: none); may be the only output
    void * frame_ud;
    int dry_run;                   // 1: check every setting and input file, print the plan and its memory,
                                   // then return TS_OK (nothing encoded, sampled or written)
    // Motion controls (docs/controls.md), as text like the flags take them; NULL: not given.
    // Only for a model trained with them; a storyboard line's '| key=value' settings
    // replace these group by group for its frames.
    const char * motion_path;      // "F:X,Y F:X,Y ...": the object's centre in pixels at generated frames F
    const char * motion;           // "DX,DY": pixels per generated frame (not with motion_path)
    const char * gravity;          // pixels/s^2, downwards, >= 0
    const char * bounce;           // restitution in [0, 1]
    const char * growth;           // R: size(t) = size(0) exp(R t), t in seconds
    float control_scale;           // their guidance: the prompt's prediction pushed away from the same without
                                   // them, v + (s - 1)(v - v0), a third forward per step (< 0: the model's
                                   // default; 1: none; only with a control given)
};
void ts_gen_params_init(struct ts_gen_params * p);

struct ts_ctx_params {
    int threads;                   // CPU threads per rank (0: the cores this rank may use, shared by the node's ranks)
    enum ts_backend_kind backend;  // AUTO: cuda where every rank has a GPU, else cpu
    enum ts_dtype dtype;           // FP32 (default); CUDA also TF32, BF16, FP16 (GEMM math)
    enum ts_halo halo;             // AUTO (default)
    const char * text_encoder;     // parts a single-file model does not hold (NULL: beside the model, or none)
    const char * vae;
    const char * tokenizer;
    int signals;  // 1: the context installs handlers for fatal signals (report the rank, delete
                  // temporary outputs, end the job) and, while generating, SIGTERM (checkpoint,
                  // then stop); 0 (default): the caller's handlers stay as they are
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

// ---- the other commands --------------------------------------------------------------
// `timeshard info PATH`: what a model, latents or checkpoint file holds
// (config, tensors, digest) to stdout; errors to stderr; the exit code.
int ts_info_command(const char * path);
// The backends and devices this build finds, to f.
void ts_devices_print(FILE * f);
// How a prompt tokenises for a model (NULL: the default): words, weights, unknown words.
enum ts_status ts_prompt_explain_model(const char * model_path, const char * prompt, FILE * f);

// The commands with options of their own, run as `timeshard interpolate ...` and
// `timeshard bench ...` run them (argv[0] is the command's name); each prints
// its own results and errors and returns the process exit code.
// interpolate: motion-compensated interpolation of a video file to a higher rate.
int ts_interpolate_command(int argc, char ** argv);
// bench: scaling rows over the job's ranks, or one rank's forward (per-op profile).
int ts_bench_command(int argc, char ** argv);

// Run presets: text files of `key = value` lines ('#' comments), keys being the
// long flag names of `timeshard generate`. Calls cb for each key/value in
// order; cb returns TS_OK or an error status, which stops parsing. Malformed
// lines are errors naming file and line.
typedef enum ts_status (*ts_kv_fn)(void * ud, const char * key, const char * value, const char * file, int line);
enum ts_status ts_kv_parse_file(const char * path, ts_kv_fn cb, void * ud);
// Prints the last error and its hint as the command line does:
// "timeshard: error: ..." and "---> HINT: ...". Returns 1.
int ts_print_last_error(void);

#ifdef __cplusplus
}
#endif
