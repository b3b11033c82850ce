// ts_rng_normal_fill: the counter-based normal draws (core/rng.h) over a range,
// OpenMP-parallel; each element depends only on its own index.
#include "core/rng.h"

void ts_rng_normal_fill(float * out, int64_t n, uint64_t seed, uint32_t stream, uint64_t first) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) out[i] = ts_rng_normal(seed, stream, first + (uint64_t)i);
}
