// CUDA GEMM-based ops: linear (x @ W^T + b) through cuBLAS, and conv2d as an
// im2col kernel plus the same GEMM. The bias is added after the product, as
// the CPU reference does. fp32 runs cuBLAS in CUBLAS_COMPUTE_32F_PEDANTIC (no
// TF32); the other compute types use tensor cores with fp32 accumulation.
//
// Caveat (DESIGN.md property 3): cuBLAS picks its kernel from the shape, so a
// row's bits may depend on M (split-K, tile choice). Results across chunkings
// agree within fp32 rounding, not bit for bit; tests/gpu measures it.
#include <limits.h>

#include "backend/cuda/cuda_internal.cuh"

#define TS_CUDA_THREADS 256
#define TS_CUDA_IM2COL_FLOATS ((int64_t)1 << 26)  // largest im2col block (256 MiB)

// ---- kernels --------------------------------------------------------------------------------

// y[i, j] (+)= b[j] for i < M, j < N (row stride ldy); `set`: y = b (or 0 when b is NULL).
static __global__ void k_bias(float * y, int ldy, const float * b, int64_t M, int N, int set) {
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < M * N; e += (int64_t)gridDim.x * blockDim.x) {
        int64_t i = e / N;
        int j = (int)(e % N);
        float bj = b ? b[j] : 0.0f;
        y[i * ldy + j] = set ? bj : __fadd_rn(y[i * ldy + j], bj);
    }
}

// col (rows, k*k*Cin) for output pixels [r0, r0 + rows) of the batch (B, Ho, Wo):
// row r, column (ky, kx, ci) = in[b, oy*s - pad + ky, ox*s - pad + kx, ci] or 0 outside.
static __global__ void k_im2col(float * col, const float * in, int64_t r0, int64_t rows, int H, int W, int Cin, int k,
                                int s, int pad, int Ho, int Wo) {
    int64_t KK = (int64_t)k * k * Cin;
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < rows * KK;
         e += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = r0 + e / KK;
        int q = (int)(e % KK);
        int ky = q / (k * Cin), kx = q / Cin % k, ci = q % Cin;
        int64_t b = r / ((int64_t)Ho * Wo);
        int pix = (int)(r % ((int64_t)Ho * Wo));
        int iy = pix / Wo * s - pad + ky, ix = pix % Wo * s - pad + kx;
        col[e] = (iy < 0 || iy >= H || ix < 0 || ix >= W) ? 0.0f : in[((b * H + iy) * W + ix) * Cin + ci];
    }
}

// ---- GEMM -------------------------------------------------------------------------------------

static cublasComputeType_t ts_cuda_compute_type(enum ts_cuda_dtype t) {
    switch (t) {
        case TS_CUDA_DTYPE_TF32:
            return CUBLAS_COMPUTE_32F_FAST_TF32;
        case TS_CUDA_DTYPE_BF16:
            return CUBLAS_COMPUTE_32F_FAST_16BF;
        case TS_CUDA_DTYPE_FP16:
            return CUBLAS_COMPUTE_32F_FAST_16F;
        default:
            return CUBLAS_COMPUTE_32F_PEDANTIC;
    }
}

// y (M, N; ldy) = x (M, K; ldx) @ w (N, K; ldw)^T + b (N, may be NULL), row-major.
// cuBLAS is column-major, where the row-major arrays read as their transposes:
// y^T (N x M, ld ldy) = op_T(w^T (K x N, ld ldw)) @ x^T (K x M, ld ldx).
static void ts_cuda_gemm_nt(ts_backend_t be, float * y, int ldy, const float * x, int ldx, const float * w, int ldw,
                            const float * b, int64_t M, int K, int N) {
    struct ts_cuda_ctx * c = ts_cuda_ctx_of(be);
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        k_bias<<<ts_cuda_blocks(M * N, TS_CUDA_THREADS), TS_CUDA_THREADS, 0, c->stream>>>(y, ldy, b, M, N, 1);
        ts_cuda_check(cudaGetLastError());
        return;
    }
    const float one = 1.0f, zero = 0.0f;
    cublasComputeType_t ct = ts_cuda_compute_type(c->dtype);
    const int64_t chunk = INT_MAX / 2;  // cuBLAS sizes are int
    for (int64_t m0 = 0; m0 < M; m0 += chunk) {
        int mi = (int)(M - m0 < chunk ? M - m0 : chunk);
        ts_cublas_check(cublasGemmEx(c->cublas, CUBLAS_OP_T, CUBLAS_OP_N, N, mi, K, &one, w, CUDA_R_32F, ldw,
                                     x + m0 * ldx, CUDA_R_32F, ldx, &zero, y + m0 * ldy, CUDA_R_32F, ldy, ct,
                                     CUBLAS_GEMM_DEFAULT));
    }
    if (b) {
        k_bias<<<ts_cuda_blocks(M * N, TS_CUDA_THREADS), TS_CUDA_THREADS, 0, c->stream>>>(y, ldy, b, M, N, 0);
        ts_cuda_check(cudaGetLastError());
    }
}

void ts_cuda_linear(ts_backend_t be, float * y, int ldy, const float * x, int ldx, const float * w, const float * b,
                    int64_t M, int K, int N) {
    TS_ASSERT(ldx >= K && ldy >= N);
    ts_cuda_gemm_nt(be, y, ldy, x, ldx > 0 ? ldx : 1, w, K > 0 ? K : 1, b, M, K, N);
}

// out (B, Ho, Wo, Cout) = conv(in (B, H, W, Cin), w (Cout, k, k, Cin)) + b: im2col blocks of
// output pixels (the whole batch at once when it fits) through the GEMM.
void ts_cuda_conv2d(ts_backend_t be, float * out, const float * in, int64_t B, int H, int W, int Cin, const float * w,
                    const float * b, int Cout, int k, int s, int pad) {
    TS_ASSERT(k > 0 && s > 0 && pad >= 0);
    int Ho = (H + 2 * pad - k) / s + 1;
    int Wo = (W + 2 * pad - k) / s + 1;
    if (B <= 0 || Ho <= 0 || Wo <= 0) return;
    int KK = k * k * Cin;
    if (k == 1 && s == 1 && pad == 0) {  // 1x1: the image is its own im2col
        ts_cuda_gemm_nt(be, out, Cout, in, Cin, w, Cin, b, B * H * W, Cin, Cout);
        return;
    }
    int64_t rows = B * Ho * Wo;
    int64_t br = TS_CUDA_IM2COL_FLOATS / KK;
    if (br < 1) br = 1;
    if (br > rows) br = rows;
    float * col = (float *)ts_cuda_scratch(be, (size_t)(br * KK) * sizeof(float));
    cudaStream_t st = ts_cuda_stream_of(be);
    for (int64_t r0 = 0; r0 < rows; r0 += br) {
        int64_t nr = rows - r0 < br ? rows - r0 : br;
        k_im2col<<<ts_cuda_blocks(nr * KK, TS_CUDA_THREADS), TS_CUDA_THREADS, 0, st>>>(col, in, r0, nr, H, W, Cin, k, s,
                                                                                       pad, Ho, Wo);
        ts_cuda_check(cudaGetLastError());
        ts_cuda_gemm_nt(be, out + r0 * Cout, Cout, col, KK, w, KK, b, nr, KK, Cout);
    }
}
