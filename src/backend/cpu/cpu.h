// Internals of the CPU backend shared by its files: the context (thread count,
// per-thread scratch, kernels chosen for this CPU) and the deterministic GEMM
// whose per-row results do not depend on M, row position or thread count.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

// Output pixels per im2col block in conv2d (bounds the im2col buffer).
#define TS_CPU_CONV_ROWS 512

// Micro kernel of the deterministic GEMM (cpu_gemm.c):
// c (6 x 16; ldc) = (first ? 0 : c) + a (6 x kc; lda) @ bp (kc x 16, packed).
typedef void (*ts_gemm_kernel_fn)(int kc, const float * a, int lda, const float * bp, float * c, int ldc, int first);
// s (n) <- exp(scale * (s - max s)) in place (scale > 0); returns the sum (0 when
// every s is -INFINITY, then all weights are 0). The summation order depends only on n.
typedef float (*ts_softmax_exp_fn)(float * s, int n, float scale);

struct ts_cpu_ctx {
    int threads;                    // OpenMP threads for every parallel loop
    float * scratch;                // owned: threads * scratch_stride floats, 64-byte aligned
    size_t scratch_stride;          // floats per thread (multiple of 16)
    float * pack;                   // owned: packed GEMM operand (ts_cpu_gemm), 64-byte aligned
    size_t pack_floats;             // its capacity
    int avx2;                       // use the AVX2+FMA kernels (ts_cpu_use_avx2)
    int isa;                        // enum ts_cpu_isa: the GEMM kernel's instruction set
    ts_gemm_kernel_fn gemm_kernel;  // for this CPU, chosen once
    ts_softmax_exp_fn softmax_exp;  // for this CPU, chosen once
};

// The instruction sets the kernels use: the CPU's best, capped by TS_CPU_ISA
// (generic, avx2 or avx512) in the environment. Generic kernels round
// differently (no FMA), so all ranks of a job must agree (same CPU features,
// same setting); AVX2 and AVX-512 give the same bits.
enum ts_cpu_isa { TS_CPU_ISA_GENERIC, TS_CPU_ISA_AVX2, TS_CPU_ISA_AVX512 };
int ts_cpu_isa(void);
// ts_cpu_isa() >= TS_CPU_ISA_AVX2: the CPU has AVX2 and FMA and they may be used.
int ts_cpu_use_avx2(void);
// GELU (tanh form) and SiLU of 8 floats in place, AVX2+FMA (cpu_attn.c).
void ts_cpu_gelu8(float * x);
void ts_cpu_silu8(float * x);

// 64-byte aligned, aborts on out of memory; free with free().
float * ts_cpu_aligned_alloc(size_t floats);

// Threads to use in an op of `be`.
static inline int ts_cpu_threads(ts_backend_t be) { return ((struct ts_cpu_ctx *)be->ctx)->threads; }

// Per-thread scratch of at least `floats` floats each; thread t uses
// base + t * stride (stride returned in *stride). Grows, never shrinks; ops run
// from one host thread, so growing between ops is safe. Contents undefined.
float * ts_cpu_scratch(ts_backend_t be, size_t floats, size_t * stride);

// ---- deterministic GEMM (cpu_gemm.c) ----
// Every C[i][j] is one sequential sum over k, whatever its position, M, N,
// blocking or thread count: a row's bits depend only on that row and B.

// The micro kernel for an enum ts_cpu_isa: AVX-512 or AVX2+FMA (fused multiply-add, the same
// bits), or portable (multiply, then add).
ts_gemm_kernel_fn ts_cpu_gemm_kernel_select(int isa);
// The softmax row function (cpu_attn.c): AVX2 (8 lane sums, fixed tree) or portable (sequential).
ts_softmax_exp_fn ts_cpu_softmax_exp_select(int avx2);
// Floats of op(B) (K x N) packed in panels of 16 columns (zero-padded).
size_t ts_cpu_gemm_packed_floats(int K, int N);
// Pack panels [p0, p1) of op(B): B^T of B (N, K; ldb) when trans_b, else B (K, N; ldb).
void ts_cpu_gemm_pack(float * bp, const float * B, int ldb, int trans_b, int K, int N, int p0, int p1);
// Per-thread tile scratch (floats) that ts_cpu_gemm_packed needs.
size_t ts_cpu_gemm_tile_floats(void);
// Single-threaded: C (M, N; ldc) columns of panels [p0, p1) = A (M, K; lda) @ packed bp.
void ts_cpu_gemm_packed(ts_gemm_kernel_fn kern, float * C, int ldc, const float * A, int lda, const float * bp,
                        int64_t M, int K, int N, int p0, int p1, float * tile);
// OpenMP: C (M, N; ldc) = A (M, K; lda) @ op(B) (+ bias (N), may be NULL).
void ts_cpu_gemm(ts_backend_t be, float * C, int ldc, const float * A, int lda, const float * B, int ldb, int trans_b,
                 const float * bias, int64_t M, int K, int N);

// y (M, N; ldy) = x (M, K; ldx) @ w (N, K)^T + b, with w stored as wdtype (0 float32,
// 1 IEEE half, 2 bfloat16; row-major, little-endian) and converted to float32
// while packed, in column slabs of at most 32 MiB of floats (the backend's
// reused pack buffer: no float32 copy of a whole weight is ever made). The
// result is the float32 GEMM's on the widened values, bit for bit.
enum { TS_CPU_W_F32, TS_CPU_W_F16, TS_CPU_W_BF16 };
void ts_cpu_linear_typed(ts_backend_t be, float * y, int ldy, const float * x, int ldx, const void * w, int wdtype,
                         const float * b, int64_t M, int K, int N);

// Windowed 3D attention in a fixed global order (cpu_attn3d.c). q (T_own*N, D)
// holds the query rows of frames g0 .. g0+T_own-1; kv (kv_frames, 2, N, D) the
// key rows then value rows of frames kv_g0 .. kv_g0+kv_frames-1, which must
// include every frame within the window of an owned frame. Query rows of frame f attend to all N tokens of every frame
// g with |f - g| <= window (window 0: all frames); key frames are reduced one
// at a time in increasing g with an online softmax, so the result of a row is
// a function of that row and the frames' K/V only. out (T_own*N, D).
void ts_cpu_attn3d(ts_backend_t be, float * out, const float * q, const float * kv, int64_t kv_g0, int64_t kv_frames,
                   int64_t T_total, int64_t g0, int64_t T_own, int N, int H, int hd, int window);

// The ops defined outside cpu_backend.c (signatures as in struct ts_backend_ops).
void ts_cpu_linear(ts_backend_t be, float * y, int ldy, const float * x, int ldx, const float * w, const float * b,
                   int64_t M, int K, int N);
void ts_cpu_conv2d(ts_backend_t be, float * out, const float * in, int64_t B, int H, int W, int Cin, const float * w,
                   const float * b, int Cout, int k, int s, int pad);
void ts_cpu_attn_spatial(ts_backend_t be, float * out, const float * qkv, int64_t T, int N, int H, int hd);
void ts_cpu_attn_temporal(ts_backend_t be, float * out, const float * qkv, int64_t T_own, int N, int H, int hd, int W,
                          int causal, int64_t g0, int64_t T_total);
void ts_cpu_attn_cross(ts_backend_t be, float * out, const float * q, const float * kv, int64_t rows, int H, int hd,
                       int L, int n_valid, const float * bias);
void ts_cpu_conv3d(ts_backend_t be, float * out, const float * const * frames, int kt, int H, int W, int Cin,
                   const float * w, const float * b, int Cout, int k);
