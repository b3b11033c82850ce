// The shifted rectified-flow schedule (tools/train/tsmodel.py: schedule).
#include "sample/sampler.h"

double ts_schedule_sigma(int k, int steps, double shift) {
    double t = 1.0 - (double)k / (double)steps;
    return shift * t / (1.0 + (shift - 1.0) * t);
}
