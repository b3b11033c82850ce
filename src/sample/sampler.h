// Rectified-flow sampling: the shifted schedule and the guided Euler update,
// used by the pipeline and the benchmark alike.
#pragma once
#include <stdint.h>

#include "backend/backend.h"

// sigma_k for k = 0..steps: t = 1 - k/steps, sigma = shift*t / (1 + (shift-1)*t),
// computed in double as the reference (tools/train/tsmodel.py: schedule).
double ts_schedule_sigma(int k, int steps, double shift);

// One guided Euler step, elementwise over n latents (backend memory):
//   v = vu + cfg * (vc - vu);  x += dt * v
// with cfg == 1 meaning no guidance (vu unused, may be NULL): x += dt * vc.
// vc and vu are overwritten. Per element the same arithmetic whatever n is, so
// P ranks give the 1-rank latents.
void ts_sample_euler_guided(ts_backend_t be, float * x, float * vc, float * vu, float cfg, double dt, int64_t n);
