// Kernel timings for the CPU backend (not a test): linear GFLOP/s for a DiT-
// sized GEMM and spatial attention, at 1 and 2 threads; best of repeated
// calls over 1.5 s (robust to other load on the machine).
//   usage: bench_cpu_ops [M K N]
#include <cblas.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "core/common.h"  // ts_time
#include "ts_test.h"

static double bench_linear(int threads, int64_t M, int K, int N) {
    ts_backend_t be = ts_backend_cpu_new(threads);
    float *x = be->ops->alloc(be, (size_t)M * K * 4), *w = be->ops->alloc(be, (size_t)N * K * 4);
    float *b = be->ops->alloc(be, (size_t)N * 4), *y = be->ops->alloc(be, (size_t)M * N * 4);
    ts_test_fill(x, M * K, 1.0f);
    ts_test_fill(w, (int64_t)N * K, 0.1f);
    be->ops->linear(be, y, N, x, K, w, b, M, K, N);  // warm-up
    double best = 1e30, t0 = ts_time();
    while (ts_time() - t0 < 1.5) {
        double t1 = ts_time();
        be->ops->linear(be, y, N, x, K, w, b, M, K, N);
        double dt = ts_time() - t1;
        best = dt < best ? dt : best;
    }
    be->ops->release(be, x), be->ops->release(be, w), be->ops->release(be, b), be->ops->release(be, y);
    ts_backend_free(&be);
    return 2.0 * M * K * N / best * 1e-9;
}

// OpenBLAS, one call over all rows (what a non-deterministic linear would do), for comparison.
static double bench_openblas(int threads, int64_t M, int K, int N) {
    void openblas_set_num_threads(int);
    openblas_set_num_threads(threads);
    float *x = calloc((size_t)(M * K), 4), *w = calloc((size_t)N * K, 4), *y = calloc((size_t)(M * N), 4);
    ts_test_fill(x, M * K, 1.0f);
    ts_test_fill(w, (int64_t)N * K, 0.1f);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, N, K, 1.0f, x, K, w, K, 0.0f, y, N);
    double best = 1e30, t0 = ts_time();
    while (ts_time() - t0 < 1.5) {
        double t1 = ts_time();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, N, K, 1.0f, x, K, w, K, 0.0f, y, N);
        double dt = ts_time() - t1;
        best = dt < best ? dt : best;
    }
    free(x), free(w), free(y);
    openblas_set_num_threads(1);
    return 2.0 * M * K * N / best * 1e-9;
}

static double bench_attn(int threads, int64_t T, int N, int H, int hd) {
    ts_backend_t be = ts_backend_cpu_new(threads);
    int D = H * hd;
    float *qkv = be->ops->alloc(be, (size_t)T * N * 3 * D * 4), *out = be->ops->alloc(be, (size_t)T * N * D * 4);
    ts_test_fill(qkv, T * N * 3 * D, 1.0f);
    be->ops->attn_spatial(be, out, qkv, T, N, H, hd);
    double best = 1e30, t0 = ts_time();
    while (ts_time() - t0 < 1.5) {
        double t1 = ts_time();
        be->ops->attn_spatial(be, out, qkv, T, N, H, hd);
        double dt = ts_time() - t1;
        best = dt < best ? dt : best;
    }
    be->ops->release(be, qkv), be->ops->release(be, out);
    ts_backend_free(&be);
    return best * 1e3;
}

int main(int argc, char ** argv) {
    int64_t M = argc > 3 ? atoll(argv[1]) : 1024;
    int K = argc > 3 ? atoi(argv[2]) : 256, N = argc > 3 ? atoi(argv[3]) : 768;
    printf("#  op                        shape              threads   GFLOP/s   ms/call\n");
    for (int th = 1; th <= 2; th++) {
        double g = bench_linear(th, M, K, N);
        printf("   linear                    %4lldx%4dx%4d     %d         %7.1f   %7.3f\n", (long long)M, K, N, th, g,
               2.0 * M * K * N / g * 1e-6);
    }
    for (int th = 1; th <= 2; th++) {
        double g = bench_openblas(th, M, K, N);
        printf("   (openblas sgemm, 1 call)  %4lldx%4dx%4d     %d         %7.1f   %7.3f\n", (long long)M, K, N, th, g,
               2.0 * M * K * N / g * 1e-6);
    }
    for (int th = 1; th <= 2; th++) {
        double ms = bench_attn(th, 4, 1024, 4, 64);
        double fl = 4.0 * 4 * 4 * 1024.0 * 1024 * 64;  // QK^T and PV per (frame, head)
        printf("   attn_spatial              T=4 N=1024 H=4 hd=64  %d     %7.1f   %7.3f\n", th, fl / ms * 1e-6, ms);
    }
    return 0;
}
