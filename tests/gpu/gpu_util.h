// Helpers for the GPU tests: a tensor held on both backends (same random
// contents), comparison of the CUDA result with the CPU one (relative error,
// docs/ARCHITECTURE.md), and the skip exit code (77) when this machine has no usable GPU.
#pragma once
#include "../unit/test_util.h"
#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "core/common.h"

#define TG_SKIP 77   // ctest SKIP_RETURN_CODE
#define TG_TOL 1e-3  // fp32 CUDA vs CPU (docs/ARCHITECTURE.md: relative error)

static ts_backend_t tg_cpu, tg_gpu;

// One tensor on both backends.
typedef struct {
    float * c;  // CPU backend memory
    float * g;  // CUDA backend memory
    int64_t n;
} tg_buf;

// n values, uniform in [-amp, amp) (amp 0: zeros), uploaded to both.
static inline tg_buf tg_new(int64_t n, float amp) {
    tg_buf b = {NULL, NULL, n};
    size_t bytes = (size_t)(n > 0 ? n : 1) * sizeof(float);
    float * h = tu_alloc(n);
    if (amp != 0.0f) tu_fill(h, n, amp);
    b.c = tg_cpu->ops->alloc(tg_cpu, bytes);
    b.g = tg_gpu->ops->alloc(tg_gpu, bytes);
    tg_cpu->ops->upload(tg_cpu, b.c, h, bytes);
    tg_gpu->ops->upload(tg_gpu, b.g, h, bytes);
    free(h);
    return b;
}

// The same host values into both.
static inline void tg_set(tg_buf b, const float * h) {
    tg_cpu->ops->upload(tg_cpu, b.c, h, (size_t)b.n * sizeof(float));
    tg_gpu->ops->upload(tg_gpu, b.g, h, (size_t)b.n * sizeof(float));
}

static inline void tg_free(tg_buf * b) {
    tg_cpu->ops->release(tg_cpu, b->c);
    tg_gpu->ops->release(tg_gpu, b->g);
    b->c = b->g = NULL;
}

// max |gpu - cpu| / max |cpu| over the first n values of b (n <= 0: all).
static inline double tg_rel(tg_buf b, int64_t n) {
    if (n <= 0) n = b.n;
    float *hc = tu_alloc(n), *hg = tu_alloc(n);
    double * ref = tu_alloc_d(n);
    tg_cpu->ops->download(tg_cpu, hc, b.c, (size_t)n * sizeof(float));
    tg_gpu->ops->download(tg_gpu, hg, b.g, (size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) ref[i] = hc[i];
    double r = tu_rel_err(hg, ref, n);
    free(hc), free(hg), free(ref);
    return r;
}

// Verdict: CUDA vs CPU within tol.
static inline void tg_check(const char * name, tg_buf b, double tol) {
    char buf[96];
    double r = tg_rel(b, 0);
    snprintf(buf, sizeof buf, "max_rel=%.1e (tol %.0e)", r, tol);
    tu_verdict(name, r <= tol, buf);
}
