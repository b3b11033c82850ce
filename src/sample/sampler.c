// The shifted rectified-flow schedule (tools/train/tsmodel.py: schedule) and
// the guided Euler step.
#include "sample/sampler.h"

double ts_schedule_sigma(int k, int steps, double shift) {
    double t = 1.0 - (double)k / (double)steps;
    return shift * t / (1.0 + (shift - 1.0) * t);
}

void ts_sample_euler_guided(ts_backend_t be, float * x, float * vc, float * vu, float cfg, double dt, int64_t n) {
    const struct ts_backend_ops * op = be->ops;
    if (cfg != 1.0f) {
        op->axpby(be, vc, -1.0f, vu, 1.0f, n);  // vc - vu
        op->axpby(be, vu, cfg, vc, 1.0f, n);    // vu + cfg (vc - vu)
        op->axpby(be, x, (float)dt, vu, 1.0f, n);
    } else {
        op->axpby(be, x, (float)dt, vc, 1.0f, n);
    }
}
