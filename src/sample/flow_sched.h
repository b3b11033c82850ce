// Flow-matching schedulers as diffusers runs them for Wan2.1: UniPCMultistepScheduler
// (flow_prediction, use_flow_sigmas, bh1/bh2, any order up to 3) and
// FlowMatchEulerDiscreteScheduler (shift), configured from a diffusers
// scheduler/scheduler_config.json, with their multistep state for checkpoints.
//
// Usage, one rank, n_local latent elements (any layout: the update is elementwise):
//     struct ts_flow_sched_config cfg;
//     TS_TRY(ts_flow_sched_config_load("WAN_DIR/scheduler/scheduler_config.json", &cfg));
//     TS_TRY(ts_flow_sched_config_override(&cfg, "euler", 5.0));   // --sampler, --shift (optional)
//     ts_flow_sched_t s;
//     TS_TRY(ts_flow_sched_new(&cfg, steps, n_local, &s));
//     for (int k = 0; k < steps; k++) {
//         v = model(x, ts_flow_sched_timestep(s, k));   // the DiT's timestep input
//         ts_flow_sched_step(s, v, x);                  // x: step k -> k + 1, in place
//     }
//     ts_flow_sched_free(&s);
//
// Exactness: every scalar of a step (sigmas, lambdas, B(h), rho) is a function of the
// schedule alone, and each latent element is updated by the same float32 operations
// whatever n_local is, with no reduction across elements: P ranks, each stepping its
// own slice, give the 1-rank latents bit for bit. The float32 arithmetic follows
// diffusers' torch code operation by operation (scalars as 0-d float32 tensors), so
// the latents follow diffusers' to float32 rounding (tests/sample).
//
// The schedule: diffusers' UniPC with use_flow_sigmas takes
//     sigma_k = shift*s_k / (1 + (shift-1)*s_k),  s = linspace(1, 1/N, steps+1)[:-1]  (N = 1000)
// with sigma_0 = 1 - 1e-6, timesteps trunc(N*sigma_k) (int64), then sigma = 0.
// Wan's own FlowUniPCMultistepScheduler (Wan-Video/Wan2.1 wan/utils/fm_solvers_unipc.py)
// takes s = linspace(0.999, 0, steps+1)[:-1] instead (its training table's
// sigma_max/sigma_min, shift 1 at init), so most of its timesteps are 1 to 4 lower:
//     50 steps, shift 5: diffusers 999, 995, 991, ..., 305, 244, 175, 96
//                        Wan       999, 995, 991, ..., 302, 241, 172, 92  (27 of 50 differ)
//     50 steps, shift 3: diffusers 999, 993, 986, ..., 208, 162, 113, 60
//                        Wan       999, 992, 985, ..., 206, 160, 111, 57  (40 of 50 differ)
// (tools/wan/make_sched_fixtures.py --compare-wan). The update formulas are the same
// (Wan's file is diffusers 0.31's UniPC for flow). This module runs what a
// scheduler_config.json makes diffusers run, i.e. diffusers' schedule, which is what
// WanPipeline equals; Wan's own schedule is only reached by the TS_FLOW_SIGMAS_WAN
// option (not a diffusers key; equal to diffusers given those base sigmas, as
// set_timesteps(sigmas=...) does: tested).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "core/common.h"  // enum ts_status, ts_error

enum ts_flow_sched_kind { TS_FLOW_SCHED_UNIPC, TS_FLOW_SCHED_EULER, TS_FLOW_SCHED_COUNT };
// "unipc", "euler"
const char * ts_flow_sched_name(enum ts_flow_sched_kind kind);
// "unipc" | "euler" (as --sampler); anything else: TS_ERR_ARG with a hint
enum ts_status ts_flow_sched_from_str(const char * s, enum ts_flow_sched_kind * out);
// diffusers' class name for a kind: "UniPCMultistepScheduler", "FlowMatchEulerDiscreteScheduler"
const char * ts_flow_sched_class_name(enum ts_flow_sched_kind kind);

// Which base sigmas the flow schedule shifts (UniPC only).
enum ts_flow_sigmas {
    TS_FLOW_SIGMAS_DIFFUSERS,  // linspace(1, 1/N, steps+1)[:-1], sigma_0 -= 1e-6: what diffusers runs
    TS_FLOW_SIGMAS_WAN,        // linspace(0.999, 0, steps+1)[:-1]: Wan's own FlowUniPCMultistepScheduler
    TS_FLOW_SIGMAS_COUNT
};

#define TS_FLOW_SCHED_MAX_ORDER 3
#define TS_FLOW_SCHED_MAX_DISABLED 16

// The options of either scheduler that change its numbers; everything else in a
// scheduler_config.json is either irrelevant with flow sigmas or refused. Plain data (no
// pointers): one rank may parse the file and broadcast the struct as bytes.
struct ts_flow_sched_config {
    enum ts_flow_sched_kind kind;
    int num_train_timesteps;  // N, 1000
    double shift;             // UniPC: flow_shift; Euler: shift
    // UniPC
    int solver_order;         // 1..TS_FLOW_SCHED_MAX_ORDER (diffusers: 2)
    int solver_type_bh1;      // 0: bh2 (diffusers' default; "midpoint", "heun", "logrho" map here), 1: bh1
    int lower_order_final;    // 1
    int final_sigma_min;      // 0: final_sigmas_type "zero", 1: "sigma_min" (last sigma repeated)
    int n_disable_corrector;  // steps whose corrector is skipped (diffusers' step_index - 1 values)
    int disable_corrector[TS_FLOW_SCHED_MAX_DISABLED];
    enum ts_flow_sigmas sigmas;  // TS_FLOW_SIGMAS_DIFFUSERS
    // 0: float32 throughout (diffusers with a float32 transformer). 1: round as diffusers
    // does when the transformer (so the model output) is bfloat16 and the latents float32:
    // torch then casts the 0-d float32 scalar to bf16 and rounds the product, so
    // UniPC's x0 = x - bf16(bf16(sigma)*v), and Euler's x + bf16(bf16(dt)*v) is rounded to
    // bf16 (FlowMatchEulerDiscreteScheduler returns the model output's dtype: WanPipeline's
    // latents are bf16 after every Euler step). The model output given is the bf16 value
    // widened to float (exact).
    int model_output_bf16;
};

// Wan2.1 as its Diffusers repos configure it: UniPC, flow_prediction, flow sigmas, bh2,
// order 2, lower_order_final, final sigma zero, with the given shift (3.0 in the
// Diffusers repos' scheduler_config.json; 5.0 is Wan's own default). For kind Euler:
// FlowMatchEulerDiscreteScheduler(shift).
void ts_flow_sched_config_wan(struct ts_flow_sched_config * cfg, enum ts_flow_sched_kind kind, double shift);

// A diffusers scheduler_config.json: `_class_name` chooses the scheduler, missing keys
// take that class's own defaults (as diffusers' from_config does), and every option is
// checked: an unknown class, a value this module does not implement (prediction_type
// other than flow_prediction, use_flow_sigmas false, karras/exponential/beta sigmas,
// dynamic shifting, thresholding, solver_p, shift_terminal, invert_sigmas,
// stochastic_sampling, ...) or a malformed value is one TS_ERR_FORMAT with a hint.
// Unknown keys are ignored with a warning, as diffusers does. `origin` names the
// source in messages (a path).
enum ts_status ts_flow_sched_config_parse(const char * json_text, const char * origin,
                                          struct ts_flow_sched_config * cfg);
// Reads and parses a file (TS_ERR_IO when it cannot be read).
enum ts_status ts_flow_sched_config_load(const char * path, struct ts_flow_sched_config * cfg);
// The command line's overrides: sampler "unipc" | "euler" (NULL: keep the config's) and
// shift (0: keep; negative or not finite: TS_ERR_ARG). Switching to UniPC gives Wan's
// UniPC (ts_flow_sched_config_wan) with the config's shift; switching to Euler keeps
// the shift.
enum ts_status ts_flow_sched_config_override(struct ts_flow_sched_config * cfg, const char * sampler, double shift);
// One line for the settings table, e.g. "unipc (flow_shift 3, order 2, bh2)" or
// "euler (shift 5)"; returns buf.
const char * ts_flow_sched_config_str(const struct ts_flow_sched_config * cfg, char * buf, size_t size);

typedef struct ts_flow_sched * ts_flow_sched_t;

// A scheduler for `steps` steps over n_local latent elements (this rank's slice).
// Sets the schedule as diffusers' set_timesteps(steps) does and begins at step 0 (as
// WanPipeline's set_begin_index(0)). TS_ERR_ARG for steps < 1 or a bad config.
enum ts_status ts_flow_sched_new(const struct ts_flow_sched_config * cfg, int steps, int64_t n_local,
                                 ts_flow_sched_t * out);
// Frees and sets *s to NULL (NULL is fine).
void ts_flow_sched_free(ts_flow_sched_t * s);

int ts_flow_sched_steps(ts_flow_sched_t s);
// The next step to take (0..steps); steps when done.
int ts_flow_sched_step_index(ts_flow_sched_t s);
// The model's timestep input at step k (0 <= k < steps): UniPC's int64 timesteps
// (integral values), Euler's float32 timesteps, widened to double exactly.
double ts_flow_sched_timestep(ts_flow_sched_t s, int k);
// sigma_k (0 <= k <= steps) as the scheduler holds it (float32); sigma_steps is the final one.
float ts_flow_sched_sigma(ts_flow_sched_t s, int k);

// One step: model_output (the guided velocity at the current step, n_local floats) and
// sample (n_local floats, the latents at step k) -> sample at step k+1, in place.
// Aborts if called past the last step (a bug in the caller).
void ts_flow_sched_step(ts_flow_sched_t s, const float * model_output, float * sample);

// Classifier-free guidance as WanPipeline combines its two forwards:
//     out = uncond + g * (cond - uncond)
// in float32 with g rounded to float (a Python scalar), or, with model_output_bf16, each
// operation rounded to bf16 as torch does on bf16 tensors. out may be cond or uncond.
// WanPipeline guides only when g > 1 (ts_flow_guidance_on); otherwise it runs the
// conditional forward alone and uses its output as is.
void ts_flow_guidance(const float * cond, const float * uncond, double g, int64_t n, int model_output_bf16,
                      float * out);
static inline int ts_flow_guidance_on(double g) { return g > 1.0; }

// ---- state, for checkpoints ----------------------------------------------------
// The state is a fixed list of named items for a given config (independent of the
// step reached): scalars, and latent-shaped float32 arrays of n_local elements in the
// layout of the latents the caller steps (this rank's slice of a (T, h, w, c) tensor
// the checkpoint stores whole, as it stores the latents). Arrays not yet in use hold
// zeros. Scalars: "kind", "steps", "shift", "solver_order", "flow_sigmas" identify the
// run (a restore checks them), "step_index", "lower_order_nums", "this_order",
// "has_last_sample" carry the state. Arrays (UniPC): "model_output.0" .. (oldest first,
// solver_order of them: the x0 predictions of the last steps) and "last_sample".
// diffusers' timestep_list is not kept: only its solver_p (refused) reads it. Euler's
// state is its step_index alone. A checkpoint holds it as the group /sampler
// (src/pipeline/sampler_state.c).
#define TS_FLOW_SCHED_STATE_MAX 16
struct ts_flow_sched_item {
    const char * name;  // static string
    int is_array;       // 1: data holds n_local floats; 0: scalar in value
    float * data;       // array (get: the scheduler's own buffer, read-only; set: caller's)
    double value;       // scalar (integers are exact)
};
// Lists the state; returns the number of items (<= TS_FLOW_SCHED_STATE_MAX). Array
// items point into the scheduler and stay valid until its next step or free.
int ts_flow_sched_state_get(ts_flow_sched_t s, struct ts_flow_sched_item * items);
// Restores a state listed by ts_flow_sched_state_get on a scheduler of the same config
// and steps (on any rank, with this rank's slices, of n_local elements each): copies the
// arrays, sets the scalars. A missing item, or a scalar that does not fit this run
// (another sampler, step count, shift or order; a step out of range), is TS_ERR_FORMAT
// or TS_ERR_ARG with a hint, and leaves the scheduler unchanged.
enum ts_status ts_flow_sched_state_set(ts_flow_sched_t s, const struct ts_flow_sched_item * items, int n_items);
