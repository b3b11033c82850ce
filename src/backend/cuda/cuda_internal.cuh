// Internals shared by the CUDA backend's files: the context, the cuBLAS check,
// launch helpers and the ops defined outside cuda_backend.cu.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
}
#include "backend/cuda/cuda_check.h"  // ts_cuda_check, ts_abort

#define ts_cublas_check(call)                                                                        \
    do {                                                                                             \
        cublasStatus_t ts_cublas_st_ = (call);                                                       \
        if (ts_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                                  \
            ts_abort(__FILE__, __LINE__, "%s: %s (%s)", #call, cublasGetStatusString(ts_cublas_st_), \
                     cublasGetStatusName(ts_cublas_st_));                                            \
    } while (0)

struct ts_cuda_ctx {
    int device;
    cudaStream_t stream;       // owned: every op and copy is queued here
    cublasHandle_t cublas;     // owned, bound to stream
    enum ts_cuda_dtype dtype;  // GEMM compute type (storage is fp32)
    void * scratch;            // owned (device): im2col blocks, norm statistics, overlapping copies
    size_t scratch_bytes;      // its capacity
    int sm_count;
    int cc_major;              // compute capability (major)
    // 16-bit GEMMs (bf16, fp16): the activations rounded into lp_x, the weights
    // read from a 16-bit mirror of each buffer registered with ops->weights
    void * lp_x;  // owned (device)
    size_t lp_x_bytes;
    struct ts_cuda_wmirror * wm;  // owned array
    int wm_n, wm_cap;
};

// A read-only weight buffer and its 16-bit copies (made at the first GEMM that needs one).
struct ts_cuda_wmirror {
    const char * p;  // the fp32 buffer
    size_t bytes;
    void * bf16;  // owned (device) or NULL
    void * fp16;  // owned (device) or NULL
};

static inline struct ts_cuda_ctx * ts_cuda_ctx_of(ts_backend_t be) { return (struct ts_cuda_ctx *)be->ctx; }
static inline cudaStream_t ts_cuda_stream_of(ts_backend_t be) { return ts_cuda_ctx_of(be)->stream; }

// Device scratch of at least `bytes` bytes, valid until the next call (stream
// ordered: the ops run on one stream, so reuse between ops is safe). Grows,
// never shrinks; growing waits for the stream first.
void * ts_cuda_scratch(ts_backend_t be, size_t bytes);
// The same for any device buffer *buf of capacity *cap that c owns.
void * ts_cuda_grow(struct ts_cuda_ctx * c, void ** buf, size_t * cap, size_t bytes);

// Grid size for a grid-stride loop over n items with `threads` per block.
static inline unsigned ts_cuda_blocks(int64_t n, int threads) {
    int64_t b = (n + threads - 1) / threads;
    if (b < 1) b = 1;
    if (b > 65535LL * 32) b = 65535LL * 32;  // grid-stride loops cover the rest
    return (unsigned)b;
}

// ---- ops defined outside cuda_backend.cu (signatures as in struct ts_backend_ops) ----
// cuda_gemm.cu
void ts_cuda_weights(ts_backend_t be, const void * p, size_t bytes);  // ops->weights
void ts_cuda_weights_forget(ts_backend_t be, const void * p, size_t bytes);  // p..p+bytes changed or freed
void ts_cuda_weights_free_all(struct ts_cuda_ctx * c);
void ts_cuda_linear(ts_backend_t be, float * y, int ldy, const float * x, int ldx, const float * w, const float * b,
                    int64_t M, int K, int N);
void ts_cuda_conv2d(ts_backend_t be, float * out, const float * in, int64_t B, int H, int W, int Cin, const float * w,
                    const float * b, int Cout, int k, int s, int pad);
// cuda_attn.cu
void ts_cuda_attn_spatial(ts_backend_t be, float * out, const float * qkv, int64_t T, int N, int H, int hd);
void ts_cuda_attn_temporal(ts_backend_t be, float * out, const float * qkv, int64_t T_own, int N, int H, int hd, int W,
                           int causal, int64_t g0, int64_t T_total);
// cuda_attn_tc.cu: the tensor-core spatial attention for bf16/fp16; returns 0 when it does not apply
int ts_cuda_attn_spatial_tc(ts_backend_t be, float * out, const float * qkv, int64_t T, int N, int H, int hd);
void ts_cuda_attn_cross(ts_backend_t be, float * out, const float * q, const float * kv, int64_t rows, int H, int hd,
                        int L, int n_valid, const float * bias);
