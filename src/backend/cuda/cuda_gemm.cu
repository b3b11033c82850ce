// CUDA GEMM-based ops: linear (x @ W^T + b) through cuBLAS, and conv2d as an
// im2col kernel plus the same GEMM. The bias is added after the product, as
// the CPU reference does. fp32 runs cuBLAS in CUBLAS_COMPUTE_32F_PEDANTIC (no
// TF32); the other compute types use tensor cores with fp32 accumulation.
//
// Caveat (docs/ARCHITECTURE.md property 3): cuBLAS picks its kernel from the shape, so a
// row's bits may depend on M (split-K, tile choice). Results across chunkings
// agree within fp32 rounding, not bit for bit; tests/gpu measures it.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
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

// x (M, K; ldx) fp32 -> lp (M, K) 16-bit, contiguous.
static __device__ __forceinline__ void ts_st16(__half * p, float v) { *p = __float2half_rn(v); }
static __device__ __forceinline__ void ts_st16(__nv_bfloat16 * p, float v) { *p = __float2bfloat16_rn(v); }

template <typename T>
static __global__ void k_to16(T * lp, const float * x, int64_t M, int K, int ldx) {
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < M * K; e += (int64_t)gridDim.x * blockDim.x)
        ts_st16(lp + e, x[e / K * ldx + e % K]);
}

// ---- 16-bit weight mirrors ------------------------------------------------------------------------
// ops->weights registers a read-only buffer; a bf16 or fp16 GEMM reading its
// weight operand from one makes the 16-bit copy once (2 bytes per weight) and
// reads that, with the activations rounded into a 16-bit scratch per call:
// both operands then go to cuBLAS in 16 bits, as in the frameworks. Upload,
// copy into, or release of a registered buffer drops its copies.

void ts_cuda_weights(ts_backend_t be, const void * p, size_t bytes) {
    struct ts_cuda_ctx * c = ts_cuda_ctx_of(be);
    if (!p || !bytes) return;
    ts_cuda_weights_forget(be, p, bytes);
    if (c->wm_n == c->wm_cap) {
        c->wm_cap = c->wm_cap ? 2 * c->wm_cap : 8;
        c->wm = (struct ts_cuda_wmirror *)realloc(c->wm, (size_t)c->wm_cap * sizeof(*c->wm));
        TS_ASSERT(c->wm);
    }
    struct ts_cuda_wmirror * m = &c->wm[c->wm_n++];
    m->p = (const char *)p, m->bytes = bytes, m->bf16 = NULL, m->fp16 = NULL;
}

void ts_cuda_weights_forget(ts_backend_t be, const void * p, size_t bytes) {
    struct ts_cuda_ctx * c = ts_cuda_ctx_of(be);
    const char * q = (const char *)p;
    for (int i = 0; i < c->wm_n;) {
        struct ts_cuda_wmirror * m = &c->wm[i];
        if (q < m->p + m->bytes && m->p < q + bytes) {
            if (m->bf16 || m->fp16) ts_cuda_check(cudaStreamSynchronize(c->stream));  // queued GEMMs may read them
            if (m->bf16) cudaFree(m->bf16);
            if (m->fp16) cudaFree(m->fp16);
            c->wm[i] = c->wm[--c->wm_n];
        } else {
            i++;
        }
    }
}

void ts_cuda_weights_free_all(struct ts_cuda_ctx * c) {
    for (int i = 0; i < c->wm_n; i++) {
        if (c->wm[i].bf16) cudaFree(c->wm[i].bf16);
        if (c->wm[i].fp16) cudaFree(c->wm[i].fp16);
    }
    free(c->wm);
    c->wm = NULL, c->wm_n = c->wm_cap = 0;
}

// The 16-bit copy of w when w (n floats) lies in a registered buffer, else NULL.
static const void * ts_cuda_weights_lp(struct ts_cuda_ctx * c, const float * w, int64_t n, bool half) {
    const char * q = (const char *)w;
    for (int i = 0; i < c->wm_n; i++) {
        struct ts_cuda_wmirror * m = &c->wm[i];
        if (q < m->p || q + n * sizeof(float) > m->p + m->bytes) continue;
        void ** lp = half ? &m->fp16 : &m->bf16;
        int64_t count = (int64_t)(m->bytes / sizeof(float));
        if (!*lp) {
            cudaError_t e = cudaMalloc(lp, (size_t)count * 2);
            if (e != cudaSuccess) {  // no room for the copy: this buffer's GEMMs stay on the fp32 path
                cudaGetLastError();
                *lp = NULL;
                return NULL;
            }
            unsigned nb = ts_cuda_blocks(count, TS_CUDA_THREADS);
            if (half)
                k_to16<__half><<<nb, TS_CUDA_THREADS, 0, c->stream>>>((__half *)*lp, (const float *)m->p, count, 1, 1);
            else
                k_to16<__nv_bfloat16>
                    <<<nb, TS_CUDA_THREADS, 0, c->stream>>>((__nv_bfloat16 *)*lp, (const float *)m->p, count, 1, 1);
            ts_cuda_check(cudaGetLastError());
        }
        return (const char *)*lp + (q - m->p) / sizeof(float) * 2;
    }
    return NULL;
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
    bool half = c->dtype == TS_CUDA_DTYPE_FP16;
    const void * wlp = (c->dtype == TS_CUDA_DTYPE_BF16 || half) ? ts_cuda_weights_lp(c, w, (int64_t)(N - 1) * ldw + K, half) : NULL;
    if (wlp) {  // both operands in 16 bits
        cudaDataType_t t16 = half ? CUDA_R_16F : CUDA_R_16BF;
        const int64_t rows = ((int64_t)1 << 27) / K + 1;  // activation rows rounded per call (256 MiB at most)
        for (int64_t m0 = 0; m0 < M; m0 += rows) {
            int mi = (int)(M - m0 < rows ? M - m0 : rows);
            void * xlp = ts_cuda_grow(c, &c->lp_x, &c->lp_x_bytes, (size_t)mi * K * 2);
            unsigned nb = ts_cuda_blocks((int64_t)mi * K, TS_CUDA_THREADS);
            if (half)
                k_to16<__half><<<nb, TS_CUDA_THREADS, 0, c->stream>>>((__half *)xlp, x + m0 * ldx, mi, K, ldx);
            else
                k_to16<__nv_bfloat16><<<nb, TS_CUDA_THREADS, 0, c->stream>>>((__nv_bfloat16 *)xlp, x + m0 * ldx, mi, K, ldx);
            ts_cuda_check(cudaGetLastError());
            ts_cublas_check(cublasGemmEx(c->cublas, CUBLAS_OP_T, CUBLAS_OP_N, N, mi, K, &one, wlp, t16, ldw, xlp, t16,
                                         K, &zero, y + m0 * ldy, CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F,
                                         CUBLAS_GEMM_DEFAULT));
        }
    } else {
        for (int64_t m0 = 0; m0 < M; m0 += chunk) {
            int mi = (int)(M - m0 < chunk ? M - m0 : chunk);
            ts_cublas_check(cublasGemmEx(c->cublas, CUBLAS_OP_T, CUBLAS_OP_N, N, mi, K, &one, w, CUDA_R_32F, ldw,
                                         x + m0 * ldx, CUDA_R_32F, ldx, &zero, y + m0 * ldy, CUDA_R_32F, ldy, ct,
                                         CUBLAS_GEMM_DEFAULT));
        }
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

// A large GEMM as cuBLAS runs it in the backend's compute type, operands in that
// type's storage (16-bit for bf16/fp16, fp32 otherwise), fp32 output: the peak
// the engine's GEMMs are measured against. GFLOP/s, best of 5 runs of 4.
extern "C" double ts_cuda_gemm_peak_gflops(ts_backend_t be, int n) {
    struct ts_cuda_ctx * c = ts_cuda_ctx_of(be);
    bool b16 = c->dtype == TS_CUDA_DTYPE_BF16, f16 = c->dtype == TS_CUDA_DTYPE_FP16;
    size_t esz = b16 || f16 ? 2 : 4;
    cudaDataType_t t = b16 ? CUDA_R_16BF : f16 ? CUDA_R_16F : CUDA_R_32F;
    cublasComputeType_t ct = b16 || f16 ? CUBLAS_COMPUTE_32F : ts_cuda_compute_type(c->dtype);
    size_t nn = (size_t)n * n;
    void *a = NULL, *bm = NULL;
    float * y = NULL;
    ts_cuda_check(cudaMalloc(&a, nn * esz));
    ts_cuda_check(cudaMalloc(&bm, nn * esz));
    ts_cuda_check(cudaMalloc((void **)&y, nn * sizeof(float)));
    ts_cuda_check(cudaMemsetAsync(a, 0, nn * esz, c->stream));  // zeros: the tensor cores' speed does not
    ts_cuda_check(cudaMemsetAsync(bm, 0, nn * esz, c->stream));  // depend on the values
    const float one = 1.0f, zero = 0.0f;
    cudaEvent_t e0, e1;
    ts_cuda_check(cudaEventCreate(&e0));
    ts_cuda_check(cudaEventCreate(&e1));
    float best = 1e30f;
    for (int r = 0; r < 6; r++) {  // the first run warms up
        ts_cuda_check(cudaEventRecord(e0, c->stream));
        for (int k = 0; k < 4; k++)
            ts_cublas_check(cublasGemmEx(c->cublas, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &one, a, t, n, bm, t, n, &zero,
                                         y, CUDA_R_32F, n, ct, CUBLAS_GEMM_DEFAULT));
        ts_cuda_check(cudaEventRecord(e1, c->stream));
        ts_cuda_check(cudaEventSynchronize(e1));
        float ms = 0;
        ts_cuda_check(cudaEventElapsedTime(&ms, e0, e1));
        if (r > 0 && ms / 4 < best) best = ms / 4;
    }
    cudaEventDestroy(e0), cudaEventDestroy(e1);
    cudaFree(a), cudaFree(bm), cudaFree(y);
    return 2.0 * n * n * (double)n / (best * 1e-3) / 1e9;
}
