// Rectified-flow sampling: the shifted schedule and the guided Euler update.
#pragma once

// sigma_k for k = 0..steps: t = 1 - k/steps, sigma = shift*t / (1 + (shift-1)*t),
// computed in double as the reference (tools/train/tsmodel.py: schedule).
double ts_schedule_sigma(int k, int steps, double shift);
