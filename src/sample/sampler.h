// Sampling: the samplers a family runs behind one interface (the pipeline and
// the bench step through it), the default model's shifted rectified-flow
// schedule with its guided Euler step, and diffusers' flow-matching schedulers
// (flow_sched.h) for Wan2.1.
#pragma once
#include <stdint.h>

#include "backend/backend.h"
#include "sample/flow_sched.h"

// sigma_k for k = 0..steps: t = 1 - k/steps, sigma = shift*t / (1 + (shift-1)*t),
// computed in double as the reference (tools/train/tsmodel.py: schedule).
double ts_schedule_sigma(int k, int steps, double shift);

// One guided Euler step, elementwise over n latents (backend memory):
//   v = vu + cfg * (vc - vu);  x += dt * v
// with cfg == 1 meaning no guidance (vu unused, may be NULL): x += dt * vc.
// vc and vu are overwritten. Per element the same arithmetic whatever n is, so
// P ranks give the 1-rank latents.
void ts_sample_euler_guided(ts_backend_t be, float * x, float * vc, float * vu, float cfg, double dt, int64_t n);

// ---- the sampler interface -------------------------------------------------------------
// Every update is elementwise over a rank's latents: P ranks give the 1-rank video.
typedef struct ts_sampler ts_sampler;
struct ts_sampler_ops {
    const char * name;  // "euler-shifted", "unipc", "euler"
    // What the denoiser is given at step k: the noise level (the default model)
    // or the timestep in [0, 1000] (Wan2.1).
    float (*model_time)(const ts_sampler * s, int k);
    // 1 when step k needs the unconditional forward too (guidance on).
    int (*guided)(const ts_sampler * s, float cfg);
    // Step k: vc the conditional velocity, vu the unconditional one (when
    // guided), both overwritten; x updated in place. n latents of this rank.
    void (*step)(ts_sampler * s, ts_backend_t be, float * x, float * vc, float * vu, float cfg, int64_t n, int k);
    // 1 when the sampler carries state between steps beyond the latents
    // (multistep): a checkpoint then holds it (state_get, state_set; outputs.c
    // writes it as the group /sampler).
    int stateful;
    void (*free)(ts_sampler * s);
    // (optional; stateful samplers) the state as flow_sched.h lists it: scalars,
    // and arrays of the rank's n latents in the latents' layout.
    int (*state_get)(ts_sampler * s, struct ts_flow_sched_item * items);
    enum ts_status (*state_set)(ts_sampler * s, const struct ts_flow_sched_item * items, int n_items);
    // (optional) the noise level sigma_k, k = 0..steps, as the sampler holds it.
    double (*sigma)(const ts_sampler * s, int k);
};
struct ts_sampler {
    const struct ts_sampler_ops * ops;
    int steps;
    double shift;
    void * ctx;        // owned by the implementation
    char config[128];  // the settings that decide its numbers, e.g. "unipc (flow_shift 3, order 2, bh2)"
};

// The default model's sampler: ts_schedule_sigma and ts_sample_euler_guided.
ts_sampler * ts_sampler_shifted_euler_new(int steps, double shift);
// diffusers' UniPC or Euler flow-matching scheduler (config from a directory's
// scheduler_config.json), on host latents (the CPU backend), n per rank.
enum ts_status ts_sampler_flow_new(const struct ts_flow_sched_config * cfg, int steps, int64_t n, ts_sampler ** out);
void ts_sampler_free(ts_sampler ** s);
