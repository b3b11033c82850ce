// The CPU backend's deterministic GEMM, and the ops built on it: linear
// (x @ W^T + b), conv2d and one frame of a causal conv3d (im2col + GEMM). Attention uses it too (cpu_attn.c).
//
// Why not OpenBLAS for linear: its kernels compute an output row with an
// arithmetic order that depends on the row's position inside the call (the
// Zen/Haswell sgemm kernel, for K >= 8, rounds positions 0-5 and 6-11 of each
// 12-row tile differently, and tails differently again), so a token's bits
// would depend on where its frame starts in a rank's chunk. The GEMM here
// computes every C[i][j] as one sequential sum over k,
//     acc = 0; for k in [0, K): acc = acc + A[i][k] * B[k][j]   (fused when FMA)
// whatever i, j, M, N, the block sizes or the thread count, so a row's result
// is a pure function of that row and the weights. K is blocked (KC) by
// storing and reloading the partial sum, which leaves the order unchanged.
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TS_GEMM_X86 1
#endif

#include "backend/cpu/cpu.h"
#include "core/common.h"  // TS_ASSERT

#define TS_GEMM_MR 12   // rows per micro tile
#define TS_GEMM_NR 16   // columns per micro tile = packed panel width
#define TS_GEMM_KC 256  // k per pass (a panel pass is KC x NR floats = 16 KiB, L1-resident)
#define TS_GEMM_MB 96   // rows per parallel job (multiple of MR)
_Static_assert(TS_GEMM_MB % TS_GEMM_MR == 0 && TS_GEMM_MR % 6 == 0, "row tiles: MB a multiple of MR, MR of 6");
#define TS_GEMM_PG 8        // panels per parallel job (128 columns)
#define TS_GEMM_FUSE_M 512  // 16-bit weights, at most this many rows: widened by k block, per job

// ---- micro kernels: c (MR x NR; ldc) (+)= a (MR x kc; lda) @ bp (kc x NR) ----------------------
// `first`: start from zero instead of loading c. Every element is the same
// sequential k loop, so tiles at any position round identically.

#if TS_GEMM_X86
// 6 rows x 16 columns in twelve 8-wide accumulators.
__attribute__((target("avx2,fma"))) static inline void ts_gemm_kernel_avx2_6(int kc, const float * a, int lda,
                                                                             const float * bp, float * c, int ldc,
                                                                             int first) {
    __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    if (first) {
        c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = _mm256_setzero_ps();
    } else {
        c00 = _mm256_loadu_ps(c + 0 * ldc), c01 = _mm256_loadu_ps(c + 0 * ldc + 8);
        c10 = _mm256_loadu_ps(c + 1 * ldc), c11 = _mm256_loadu_ps(c + 1 * ldc + 8);
        c20 = _mm256_loadu_ps(c + 2 * ldc), c21 = _mm256_loadu_ps(c + 2 * ldc + 8);
        c30 = _mm256_loadu_ps(c + 3 * ldc), c31 = _mm256_loadu_ps(c + 3 * ldc + 8);
        c40 = _mm256_loadu_ps(c + 4 * ldc), c41 = _mm256_loadu_ps(c + 4 * ldc + 8);
        c50 = _mm256_loadu_ps(c + 5 * ldc), c51 = _mm256_loadu_ps(c + 5 * ldc + 8);
    }
    const float *a0 = a, *a1 = a + lda, *a2 = a + 2 * lda, *a3 = a + 3 * lda, *a4 = a + 4 * lda, *a5 = a + 5 * lda;
#pragma GCC unroll 4
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(bp + k * TS_GEMM_NR), b1 = _mm256_load_ps(bp + k * TS_GEMM_NR + 8);
        __m256 av = _mm256_broadcast_ss(a0 + k);
        c00 = _mm256_fmadd_ps(av, b0, c00), c01 = _mm256_fmadd_ps(av, b1, c01);
        av = _mm256_broadcast_ss(a1 + k);
        c10 = _mm256_fmadd_ps(av, b0, c10), c11 = _mm256_fmadd_ps(av, b1, c11);
        av = _mm256_broadcast_ss(a2 + k);
        c20 = _mm256_fmadd_ps(av, b0, c20), c21 = _mm256_fmadd_ps(av, b1, c21);
        av = _mm256_broadcast_ss(a3 + k);
        c30 = _mm256_fmadd_ps(av, b0, c30), c31 = _mm256_fmadd_ps(av, b1, c31);
        av = _mm256_broadcast_ss(a4 + k);
        c40 = _mm256_fmadd_ps(av, b0, c40), c41 = _mm256_fmadd_ps(av, b1, c41);
        av = _mm256_broadcast_ss(a5 + k);
        c50 = _mm256_fmadd_ps(av, b0, c50), c51 = _mm256_fmadd_ps(av, b1, c51);
    }
    _mm256_storeu_ps(c + 0 * ldc, c00), _mm256_storeu_ps(c + 0 * ldc + 8, c01);
    _mm256_storeu_ps(c + 1 * ldc, c10), _mm256_storeu_ps(c + 1 * ldc + 8, c11);
    _mm256_storeu_ps(c + 2 * ldc, c20), _mm256_storeu_ps(c + 2 * ldc + 8, c21);
    _mm256_storeu_ps(c + 3 * ldc, c30), _mm256_storeu_ps(c + 3 * ldc + 8, c31);
    _mm256_storeu_ps(c + 4 * ldc, c40), _mm256_storeu_ps(c + 4 * ldc + 8, c41);
    _mm256_storeu_ps(c + 5 * ldc, c50), _mm256_storeu_ps(c + 5 * ldc + 8, c51);
}

__attribute__((target("avx2,fma"))) static void ts_gemm_kernel_avx2(int kc, const float * a, int lda, const float * bp,
                                                                    float * c, int ldc, int first) {
    for (int i = 0; i < TS_GEMM_MR; i += 6) ts_gemm_kernel_avx2_6(kc, a + i * lda, lda, bp, c + i * ldc, ldc, first);
}

// 12 rows x 16 columns, one 16-wide accumulator per row: the same fused
// multiply-add per element in the same k order as the AVX2 kernel (a lane is an
// element either way), so both give the same bits; twice the width per
// instruction, and 12 independent chains to cover the FMA latency.
__attribute__((target("avx512f"))) static void ts_gemm_kernel_avx512(int kc, const float * a, int lda, const float * bp,
                                                                     float * c, int ldc, int first) {
    __m512 acc[TS_GEMM_MR];
#pragma GCC unroll 12
    for (int r = 0; r < TS_GEMM_MR; r++) acc[r] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + r * ldc);
#pragma GCC unroll 2
    for (int k = 0; k < kc; k++) {
        __m512 b = _mm512_load_ps(bp + k * TS_GEMM_NR);
#pragma GCC unroll 12
        for (int r = 0; r < TS_GEMM_MR; r++) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[r * lda + k]), b, acc[r]);
    }
#pragma GCC unroll 12
    for (int r = 0; r < TS_GEMM_MR; r++) _mm512_storeu_ps(c + r * ldc, acc[r]);
}

// Two adjacent panels at once (12 rows x 32 columns; the second panel `pstride`
// floats after the first): each broadcast of A feeds two multiply-adds, which
// halves the loads per FMA. Every element is still its own sequential k chain,
// so the bits are the one-panel kernel's.
__attribute__((target("avx512f"))) static void ts_gemm_kernel_avx512_x2(int kc, const float * a, int lda,
                                                                        const float * bp, size_t pstride, float * c,
                                                                        int ldc, int first) {
    __m512 acc0[TS_GEMM_MR], acc1[TS_GEMM_MR];
    const float * bq = bp + pstride;
#pragma GCC unroll 12
    for (int r = 0; r < TS_GEMM_MR; r++) {
        acc0[r] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + r * ldc);
        acc1[r] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + r * ldc + TS_GEMM_NR);
    }
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(bp + k * TS_GEMM_NR), b1 = _mm512_load_ps(bq + k * TS_GEMM_NR);
#pragma GCC unroll 12
        for (int r = 0; r < TS_GEMM_MR; r++) {
            __m512 av = _mm512_set1_ps(a[r * lda + k]);
            acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
            acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < TS_GEMM_MR; r++) {
        _mm512_storeu_ps(c + r * ldc, acc0[r]);
        _mm512_storeu_ps(c + r * ldc + TS_GEMM_NR, acc1[r]);
    }
}
#endif

// Portable kernel: multiply then add (x86-64-v2 has no FMA), the same k order.
typedef float ts_v4f __attribute__((vector_size(16)));
static void ts_gemm_kernel_generic(int kc, const float * a, int lda, const float * bp, float * c, int ldc, int first) {
    for (int i = 0; i < TS_GEMM_MR; i += 2) {  // two rows at a time: 8 vector accumulators
        ts_v4f acc[2][4];
        for (int r = 0; r < 2; r++)
            for (int v = 0; v < 4; v++) {
                if (first)
                    acc[r][v] = (ts_v4f){0, 0, 0, 0};
                else
                    memcpy(&acc[r][v], c + (i + r) * ldc + 4 * v, sizeof(ts_v4f));
            }
        const float * ar0 = a + i * lda;
        const float * ar1 = ar0 + lda;
        for (int k = 0; k < kc; k++) {
            ts_v4f b[4];
            memcpy(b, bp + k * TS_GEMM_NR, sizeof b);
            float s0 = ar0[k], s1 = ar1[k];
            for (int v = 0; v < 4; v++) {
                ts_v4f p0 = s0 * b[v], p1 = s1 * b[v];
                acc[0][v] = acc[0][v] + p0;  // may be fused where the target has FMA: same for every element
                acc[1][v] = acc[1][v] + p1;
            }
        }
        for (int r = 0; r < 2; r++)
            for (int v = 0; v < 4; v++) memcpy(c + (i + r) * ldc + 4 * v, &acc[r][v], sizeof(ts_v4f));
    }
}

ts_gemm_kernel_fn ts_cpu_gemm_kernel_select(int isa) {
#if TS_GEMM_X86
    if (isa >= TS_CPU_ISA_AVX512) return ts_gemm_kernel_avx512;
    if (isa >= TS_CPU_ISA_AVX2) return ts_gemm_kernel_avx2;
#endif
    return ts_gemm_kernel_generic;
}

// ---- packing and the blocked driver ------------------------------------------------------------

size_t ts_cpu_gemm_packed_floats(int K, int N) {
    return (size_t)((N + TS_GEMM_NR - 1) / TS_GEMM_NR) * TS_GEMM_NR * (size_t)K;
}

void ts_cpu_gemm_pack(float * bp, const float * B, int ldb, int trans_b, int K, int N, int p0, int p1) {
    for (int p = p0; p < p1; p++) {
        float * dst = bp + (size_t)p * K * TS_GEMM_NR;
        int j0 = p * TS_GEMM_NR, nj = N - j0 < TS_GEMM_NR ? N - j0 : TS_GEMM_NR;
        if (trans_b) {  // B (N, K): scatter NR rows, each read contiguously
            for (int jj = 0; jj < TS_GEMM_NR; jj++) {
                const float * src = B + (size_t)(j0 + jj) * ldb;
                if (jj < nj)
                    for (int k = 0; k < K; k++) dst[(size_t)k * TS_GEMM_NR + jj] = src[k];
                else
                    for (int k = 0; k < K; k++) dst[(size_t)k * TS_GEMM_NR + jj] = 0.0f;
            }
        } else {  // B (K, N): copy row pieces
            for (int k = 0; k < K; k++) {
                float * d = dst + (size_t)k * TS_GEMM_NR;
                memcpy(d, B + (size_t)k * ldb + j0, (size_t)nj * sizeof(float));
                for (int jj = nj; jj < TS_GEMM_NR; jj++) d[jj] = 0.0f;
            }
        }
    }
}

// Rows [i_start, M) of one panel's columns [j0, j0 + nj) for the k block [k0, k0 + kc):
// full tiles straight, edge tiles through padded copies with the same kernel.
static void ts_gemm_panel_rows(ts_gemm_kernel_fn kern, float * C, int ldc, const float * A, int lda, const float * bpk,
                               int64_t i_start, int64_t M, int k0, int kc, int j0, int nj, float * tile) {
    float * a_pad = tile;                            // (MR, KC)
    float * c_pad = tile + TS_GEMM_MR * TS_GEMM_KC;  // (MR, NR)
    for (int64_t i0 = i_start; i0 < M; i0 += TS_GEMM_MR) {
        int mi = (int)(M - i0 < TS_GEMM_MR ? M - i0 : TS_GEMM_MR);
        const float * a = A + i0 * lda + k0;
        float * c = C + i0 * ldc + j0;
        if (mi == TS_GEMM_MR && nj == TS_GEMM_NR) {
            kern(kc, a, lda, bpk, c, ldc, k0 == 0);
            continue;
        }
        if (mi < TS_GEMM_MR) {
            for (int r = 0; r < TS_GEMM_MR; r++) {
                if (r < mi)
                    memcpy(a_pad + r * kc, a + r * lda, (size_t)kc * sizeof(float));
                else
                    memset(a_pad + r * kc, 0, (size_t)kc * sizeof(float));
            }
            a = a_pad;
        }
        memset(c_pad, 0, TS_GEMM_MR * TS_GEMM_NR * sizeof(float));
        if (k0 > 0)
            for (int r = 0; r < mi; r++) memcpy(c_pad + r * TS_GEMM_NR, c + r * ldc, (size_t)nj * sizeof(float));
        kern(kc, a, mi < TS_GEMM_MR ? kc : lda, bpk, c_pad, TS_GEMM_NR, k0 == 0);
        for (int r = 0; r < mi; r++) memcpy(c + r * ldc, c_pad + r * TS_GEMM_NR, (size_t)nj * sizeof(float));
    }
}

// One k block [k0, k0 + kc) of panels [p0, p1): panel p's rows of that block at
// bpk0 + (p - p0) * pstride. Full pairs of panels go through the two-panel kernel
// where the kernel has one.
static void ts_gemm_kblock(ts_gemm_kernel_fn kern, float * C, int ldc, const float * A, int lda, const float * bpk0,
                           size_t pstride, int64_t M, int N, int k0, int kc, int p0, int p1, float * tile) {
#if TS_GEMM_X86
    const int pair = kern == ts_gemm_kernel_avx512;  // the same bits as the one-panel kernel
    const int64_t M_full = M / TS_GEMM_MR * TS_GEMM_MR;
#endif
    for (int p = p0; p < p1; p++) {
        const float * bpk = bpk0 + (size_t)(p - p0) * pstride;
        int j0 = p * TS_GEMM_NR, nj = N - j0 < TS_GEMM_NR ? N - j0 : TS_GEMM_NR;
#if TS_GEMM_X86
        if (pair && p + 1 < p1 && N - j0 >= 2 * TS_GEMM_NR) {  // two full panels
            for (int64_t i0 = 0; i0 < M_full; i0 += TS_GEMM_MR)
                ts_gemm_kernel_avx512_x2(kc, A + i0 * lda + k0, lda, bpk, pstride, C + i0 * ldc + j0, ldc, k0 == 0);
            ts_gemm_panel_rows(kern, C, ldc, A, lda, bpk, M_full, M, k0, kc, j0, TS_GEMM_NR, tile);
            ts_gemm_panel_rows(kern, C, ldc, A, lda, bpk + pstride, M_full, M, k0, kc, j0 + TS_GEMM_NR, TS_GEMM_NR,
                               tile);
            p++;
            continue;
        }
#endif
        ts_gemm_panel_rows(kern, C, ldc, A, lda, bpk, 0, M, k0, kc, j0, nj, tile);
    }
}

void ts_cpu_gemm_packed(ts_gemm_kernel_fn kern, float * C, int ldc, const float * A, int lda, const float * bp,
                        int64_t M, int K, int N, int p0, int p1, float * tile) {
    const size_t pstride = (size_t)K * TS_GEMM_NR;
    for (int k0 = 0; k0 < K; k0 += TS_GEMM_KC) {
        int kc = K - k0 < TS_GEMM_KC ? K - k0 : TS_GEMM_KC;
        ts_gemm_kblock(kern, C, ldc, A, lda, bp + (size_t)p0 * pstride + (size_t)k0 * TS_GEMM_NR, pstride, M, N, k0, kc,
                       p0, p1, tile);
    }
}

size_t ts_cpu_gemm_tile_floats(void) { return TS_GEMM_MR * TS_GEMM_KC + TS_GEMM_MR * TS_GEMM_NR; }

// Packs op(B) into the context's pack buffer (OpenMP over panels) and returns it.
static const float * ts_cpu_gemm_pack_all(ts_backend_t be, const float * B, int ldb, int trans_b, int K, int N) {
    struct ts_cpu_ctx * cx = be->ctx;
    size_t need = ts_cpu_gemm_packed_floats(K, N);
    if (need > cx->pack_floats) {
        free(cx->pack);
        cx->pack = ts_cpu_aligned_alloc(need);
        cx->pack_floats = need;
    }
    int npan = (N + TS_GEMM_NR - 1) / TS_GEMM_NR;
#pragma omp parallel for num_threads(cx->threads) schedule(static)
    for (int p = 0; p < npan; p++) ts_cpu_gemm_pack(cx->pack, B, ldb, trans_b, K, N, p, p + 1);
    return cx->pack;
}

// y[j] += b[j], j in [0, n): one rounding each, so any vector width gives the same bits.
static void ts_gemm_add_bias(float * restrict y, const float * restrict b, int n) {
    int j = 0;
    for (; j + 4 <= n; j += 4) {
        ts_v4f v, w;
        memcpy(&v, y + j, sizeof v);
        memcpy(&w, b + j, sizeof w);
        v += w;
        memcpy(y + j, &v, sizeof v);
    }
    for (; j < n; j++) y[j] += b[j];
}

// C (M, N; ldc) = A (M, K; lda) @ packed bp (+ bias): OpenMP over (row block, column group) jobs.
static void ts_cpu_gemm_run(ts_backend_t be, float * C, int ldc, const float * A, int lda, const float * bp,
                            const float * bias, int64_t M, int K, int N) {
    struct ts_cpu_ctx * cx = be->ctx;
    int npan = (N + TS_GEMM_NR - 1) / TS_GEMM_NR;
    size_t stride;
    float * tiles = ts_cpu_scratch(be, ts_cpu_gemm_tile_floats(), &stride);
    int64_t nrb = (M + TS_GEMM_MB - 1) / TS_GEMM_MB;
    int ncg = (npan + TS_GEMM_PG - 1) / TS_GEMM_PG;
    int64_t njobs = nrb * ncg;
    int nt = cx->threads < njobs ? cx->threads : (int)njobs;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t job = 0; job < njobs; job++) {
        float * tile = tiles + (size_t)omp_get_thread_num() * stride;
        int64_t i0 = job / ncg * TS_GEMM_MB;
        int p0 = (int)(job % ncg) * TS_GEMM_PG, p1 = p0 + TS_GEMM_PG < npan ? p0 + TS_GEMM_PG : npan;
        int64_t mi = M - i0 < TS_GEMM_MB ? M - i0 : TS_GEMM_MB;
        ts_cpu_gemm_packed(cx->gemm_kernel, C + i0 * ldc, ldc, A + i0 * lda, lda, bp, mi, K, N, p0, p1, tile);
        if (bias) {
            int j0 = p0 * TS_GEMM_NR, j1 = p1 * TS_GEMM_NR < N ? p1 * TS_GEMM_NR : N;
            for (int64_t i = i0; i < i0 + mi; i++) ts_gemm_add_bias(C + i * ldc + j0, bias + j0, j1 - j0);
        }
    }
}

void ts_cpu_gemm(ts_backend_t be, float * C, int ldc, const float * A, int lda, const float * B, int ldb, int trans_b,
                 const float * bias, int64_t M, int K, int N) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int64_t i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[i * ldc + j] = bias ? bias[j] : 0.0f;
        return;
    }
    const float * bp = ts_cpu_gemm_pack_all(be, B, ldb, trans_b, K, N);
    ts_cpu_gemm_run(be, C, ldc, A, lda, bp, bias, M, K, N);
}

// ---- ops ------------------------------------------------------------------------------------------------

// y (M, N; ldy) = x (M, K; ldx) @ w (N, K)^T + b (N)
void ts_cpu_linear(ts_backend_t be, float * y, int ldy, const float * x, int ldx, const float * w, const float * b,
                   int64_t M, int K, int N) {
    TS_ASSERT(ldx >= K && ldy >= N);
    ts_cpu_gemm(be, y, ldy, x, ldx, w, K, 1, b, M, K, N);
}

// out (B, Ho, Wo, Cout) = conv(in (B, H, W, Cin), w (Cout, k, k, Cin)) + b: im2col blocks of
// TS_CPU_CONV_ROWS output pixels through the deterministic GEMM (w packed once per call).
void ts_cpu_conv2d(ts_backend_t be, float * out, const float * in, int64_t B, int H, int W, int Cin, const float * w,
                   const float * b, int Cout, int k, int s, int pad) {
    TS_ASSERT(k > 0 && s > 0 && pad >= 0);
    int Ho = (H + 2 * pad - k) / s + 1;
    int Wo = (W + 2 * pad - k) / s + 1;
    if (B <= 0 || Ho <= 0 || Wo <= 0) return;
    int KK = k * k * Cin;                // im2col row: (ky, kx, ci), matching w's layout
    if (k == 1 && s == 1 && pad == 0) {  // 1x1: the image is its own im2col
        ts_cpu_gemm(be, out, Cout, in, Cin, w, Cin, 1, b, B * H * W, Cin, Cout);
        return;
    }
    const int BR = TS_CPU_CONV_ROWS;
    int64_t npix = (int64_t)Ho * Wo;
    float * col = ts_malloc((size_t)BR * KK * sizeof(float));  // (BR, KK) im2col block
    const float * wp = ts_cpu_gemm_pack_all(be, w, KK, 1, KK, Cout);
    for (int64_t bi = 0; bi < B; bi++) {
        const float * img = in + bi * H * W * Cin;
        for (int64_t p0 = 0; p0 < npix; p0 += BR) {
            int64_t np = npix - p0 < BR ? npix - p0 : BR;
#pragma omp parallel for num_threads(ts_cpu_threads(be)) schedule(static)
            for (int64_t r = 0; r < np; r++) {
                float * cr = col + (size_t)r * KK;
                int oy = (int)((p0 + r) / Wo), ox = (int)((p0 + r) % Wo);
                for (int ky = 0; ky < k; ky++) {
                    int iy = oy * s - pad + ky;
                    for (int kx = 0; kx < k; kx++) {
                        int ix = ox * s - pad + kx;
                        float * dst = cr + (size_t)(ky * k + kx) * Cin;
                        if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                            memset(dst, 0, (size_t)Cin * sizeof(float));
                        else
                            memcpy(dst, img + ((int64_t)iy * W + ix) * Cin, (size_t)Cin * sizeof(float));
                    }
                }
            }
            ts_cpu_gemm_run(be, out + (bi * npix + p0) * Cout, Cout, col, KK, wp, b, np, KK, Cout);
        }
    }
    free(col);
}

// ---- weights stored in 16 bits ------------------------------------------------------------------

static inline float ts_gemm_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {
            uint32_t e = 0;
            while (!(man & 0x400u)) {
                man <<= 1;
                e++;
            }
            bits = sign | ((113u - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

#if TS_GEMM_X86
// Widens 8 consecutive 16-bit values to 8 floats (exact either way).
__attribute__((target("avx2,f16c"))) static inline __m256 ts_gemm_widen8(const uint16_t * src, int bf16) {
    __m128i h = _mm_loadu_si128((const __m128i *)src);
    if (bf16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

// dst[k][0..7] = r[0..7][k] for k in 0..7: an 8 x 8 transpose, dst rows TS_GEMM_NR apart.
__attribute__((target("avx2"))) static inline void ts_gemm_transpose8(float * dst, __m256 r0, __m256 r1, __m256 r2,
                                                                      __m256 r3, __m256 r4, __m256 r5, __m256 r6,
                                                                      __m256 r7) {
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
    _mm256_storeu_ps(dst + 0 * TS_GEMM_NR, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + 1 * TS_GEMM_NR, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * TS_GEMM_NR, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * TS_GEMM_NR, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * TS_GEMM_NR, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * TS_GEMM_NR, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * TS_GEMM_NR, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * TS_GEMM_NR, _mm256_permute2f128_ps(u3, u7, 0x31));
}

// k in [0, kc) of one full panel (16 rows of W, `ldw` apart) widened 8 k at a
// time and transposed in registers; returns the k it reached (the caller finishes the tail).
__attribute__((target("avx2,f16c"))) static int ts_gemm_pack16_panel_avx2(float * dst, const uint16_t * W, size_t ldw,
                                                                          int bf16, int kc) {
    int k = 0;
    for (; k + 8 <= kc; k += 8) {
        for (int half = 0; half < 2; half++) {
            const uint16_t * s = W + 8 * half * ldw + k;
            ts_gemm_transpose8(dst + (size_t)k * TS_GEMM_NR + 8 * half, ts_gemm_widen8(s, bf16),
                               ts_gemm_widen8(s + ldw, bf16), ts_gemm_widen8(s + 2 * ldw, bf16),
                               ts_gemm_widen8(s + 3 * ldw, bf16), ts_gemm_widen8(s + 4 * ldw, bf16),
                               ts_gemm_widen8(s + 5 * ldw, bf16), ts_gemm_widen8(s + 6 * ldw, bf16),
                               ts_gemm_widen8(s + 7 * ldw, bf16));
        }
    }
    return k;
}
#endif

// Panels [p0, p1) of W^T for W (N, ldw) stored in 16 bits, its k in [0, K) (a
// column block of W when K < ldw), widened to float, each panel K x NR
// (`vec`: full panels through the AVX2 + F16C path; the same values).
static void ts_cpu_gemm_pack16(float * bp, const uint16_t * W, size_t ldw, int bf16, int K, int N, int p0, int p1,
                               int vec) {
    for (int p = p0; p < p1; p++) {
        float * dst = bp + (size_t)(p - p0) * K * TS_GEMM_NR;
        int j0 = p * TS_GEMM_NR, nj = N - j0 < TS_GEMM_NR ? N - j0 : TS_GEMM_NR;
        int k0 = 0;
#if TS_GEMM_X86
        if (vec && nj == TS_GEMM_NR) k0 = ts_gemm_pack16_panel_avx2(dst, W + (size_t)j0 * ldw, ldw, bf16, K);
#else
        (void)vec;
#endif
        for (int jj = 0; jj < TS_GEMM_NR; jj++) {
            const uint16_t * src = W + (size_t)(j0 + jj) * ldw;
            if (jj >= nj) {
                for (int k = k0; k < K; k++) dst[(size_t)k * TS_GEMM_NR + jj] = 0.0f;
            } else if (bf16) {
                for (int k = k0; k < K; k++) {
                    uint32_t bits = (uint32_t)src[k] << 16;
                    float f;
                    memcpy(&f, &bits, 4);
                    dst[(size_t)k * TS_GEMM_NR + jj] = f;
                }
            } else {
                for (int k = k0; k < K; k++) dst[(size_t)k * TS_GEMM_NR + jj] = ts_gemm_half_to_float(src[k]);
            }
        }
    }
}

// Few rows (M <= TS_GEMM_FUSE_M, as a short video's tokens or a time step):
// every weight would be used by few row tiles, so instead of widening the
// whole matrix into memory and reading it back, each job (two panels, 32
// columns) widens one k block of its panels into a cache-resident buffer and
// runs every row over it. The k order of each output, the kernel and the bias
// step are the packed path's: the same bits.
static void ts_cpu_linear16_fused(ts_backend_t be, float * y, int ldy, const float * x, int ldx, const uint16_t * W,
                                  int bf16, int vec, const float * b, int64_t M, int K, int N) {
    struct ts_cpu_ctx * cx = be->ctx;
    const int npan = (N + TS_GEMM_NR - 1) / TS_GEMM_NR, njobs = (npan + 1) / 2;
    const size_t buf_floats = (size_t)2 * TS_GEMM_KC * TS_GEMM_NR;
    size_t stride;
    float * scratch = ts_cpu_scratch(be, buf_floats + ts_cpu_gemm_tile_floats(), &stride);
    int nt = cx->threads < njobs ? cx->threads : njobs;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int job = 0; job < njobs; job++) {
        float * buf = scratch + (size_t)omp_get_thread_num() * stride;  // 64-byte aligned: stride is
        float * tile = buf + buf_floats;                                // a multiple of 16 floats
        int p0 = 2 * job, p1 = p0 + 2 < npan ? p0 + 2 : npan;
        for (int k0 = 0; k0 < K; k0 += TS_GEMM_KC) {
            int kc = K - k0 < TS_GEMM_KC ? K - k0 : TS_GEMM_KC;
            ts_cpu_gemm_pack16(buf, W + k0, (size_t)K, bf16, kc, N, p0, p1, vec);
            // The weight is streamed from memory once: short runs of 32 rows that the
            // hardware prefetcher does not follow, so ask for the next block (the
            // next k block of these rows, else the next job's first) while this one computes.
            int nk0 = k0 + TS_GEMM_KC < K ? k0 + TS_GEMM_KC : 0, nkc = nk0 ? (K - nk0 < kc ? K - nk0 : kc) : kc;
            int nr0 = (nk0 ? p0 : p1) * TS_GEMM_NR, nr1 = nr0 + 2 * TS_GEMM_NR < N ? nr0 + 2 * TS_GEMM_NR : N;
            for (int r = nr0; r < nr1; r++) {
                // Every line of the row's run, from the one holding its first value: a
                // tensor need not start on a line (safetensors aligns to 8 bytes). Into L2,
                // not L1: the rows' activations stream through L1 while this block computes.
                const char *s = (const char *)(W + (size_t)r * K + nk0),
                           *e = (const char *)(W + (size_t)r * K + nk0 + nkc);
                for (const char * l = (const char *)((uintptr_t)s & ~(uintptr_t)63); l < e; l += 64)
                    __builtin_prefetch(l, 0, 1);
            }
            ts_gemm_kblock(cx->gemm_kernel, y, ldy, x, ldx, buf, (size_t)kc * TS_GEMM_NR, M, N, k0, kc, p0, p1, tile);
        }
        if (b) {
            int j0 = p0 * TS_GEMM_NR, j1 = p1 * TS_GEMM_NR < N ? p1 * TS_GEMM_NR : N;
            for (int64_t i = 0; i < M; i++) ts_gemm_add_bias(y + i * ldy + j0, b + j0, j1 - j0);
        }
    }
}

// Column slabs of a 16-bit weight are widened and packed at most this many
// floats at a time (32 MiB), whatever the matrix's size.
#define TS_GEMM_SLAB_FLOATS ((size_t)8 << 20)

void ts_cpu_linear_typed(ts_backend_t be, float * y, int ldy, const float * x, int ldx, const void * w, int wdtype,
                         const float * b, int64_t M, int K, int N) {
    if (wdtype == TS_CPU_W_F32) {
        ts_cpu_linear(be, y, ldy, x, ldx, w, b, M, K, N);
        return;
    }
    TS_ASSERT(wdtype == TS_CPU_W_F16 || wdtype == TS_CPU_W_BF16);
    TS_ASSERT(ldx >= K && ldy >= N && K > 0);
    if (M <= 0 || N <= 0) return;
    struct ts_cpu_ctx * cx = be->ctx;
    const uint16_t * W = w;
#if TS_GEMM_X86
    const int vec = cx->avx2 && __builtin_cpu_supports("f16c");
#else
    const int vec = 0;
#endif
    if (M <= TS_GEMM_FUSE_M) {
        ts_cpu_linear16_fused(be, y, ldy, x, ldx, W, wdtype == TS_CPU_W_BF16, vec, b, M, K, N);
        return;
    }
    // Every output is the same k-ordered sum whichever slab its column is in,
    // so slabs change no bit of the result.
    int slab = (int)(TS_GEMM_SLAB_FLOATS / (size_t)K) / TS_GEMM_NR * TS_GEMM_NR;
    if (slab < TS_GEMM_NR) slab = TS_GEMM_NR;
    if (slab > N) slab = N;
    size_t need = ts_cpu_gemm_packed_floats(K, slab);
    if (need > cx->pack_floats) {
        free(cx->pack);
        cx->pack = ts_cpu_aligned_alloc(need);
        cx->pack_floats = need;
    }
    for (int j0 = 0; j0 < N; j0 += slab) {
        int nj = N - j0 < slab ? N - j0 : slab;
        int npan = (nj + TS_GEMM_NR - 1) / TS_GEMM_NR;
#pragma omp parallel for num_threads(cx->threads) schedule(static)
        for (int p = 0; p < npan; p++)
            ts_cpu_gemm_pack16(cx->pack + (size_t)p * K * TS_GEMM_NR, W + (size_t)j0 * K, (size_t)K,
                               wdtype == TS_CPU_W_BF16, K, nj, p, p + 1, vec);
        ts_cpu_gemm_run(be, y + j0, ldy, x, ldx, cx->pack, b ? b + j0 : NULL, M, K, nj);
    }
}

// out (H, W, Cout) = conv3d of kt frames (H, W, Cin) (NULL: zeros), kernel (kt, k, k), pad k/2:
// im2col blocks of TS_CPU_CONV_ROWS pixels, rows (t, ky, kx, ci) as w's layout, through the
// deterministic GEMM (w packed once per call). A pixel's result depends only on its inputs.
void ts_cpu_conv3d(ts_backend_t be, float * out, const float * const * frames, int kt, int H, int W, int Cin,
                   const float * w, const float * b, int Cout, int k) {
    TS_ASSERT(kt > 0 && k > 0 && k % 2 == 1);
    if (H <= 0 || W <= 0) return;
    int pad = k / 2;
    int KK = kt * k * k * Cin;
    if (kt == 1 && k == 1 && frames[0]) {  // pointwise: the frame is its own im2col
        ts_cpu_gemm(be, out, Cout, frames[0], Cin, w, Cin, 1, b, (int64_t)H * W, Cin, Cout);
        return;
    }
    const int BR = TS_CPU_CONV_ROWS;
    int64_t npix = (int64_t)H * W;
    float * col = ts_malloc((size_t)BR * KK * sizeof(float));  // (BR, KK) im2col block
    const float * wp = ts_cpu_gemm_pack_all(be, w, KK, 1, KK, Cout);
    size_t run = (size_t)Cin * sizeof(float);
    for (int64_t p0 = 0; p0 < npix; p0 += BR) {
        int64_t np = npix - p0 < BR ? npix - p0 : BR;
#pragma omp parallel for num_threads(ts_cpu_threads(be)) schedule(static) if (np * KK > 16384)
        for (int64_t r = 0; r < np; r++) {
            float * cr = col + (size_t)r * KK;
            int oy = (int)((p0 + r) / W), ox = (int)((p0 + r) % W);
            for (int t = 0; t < kt; t++)
                for (int ky = 0; ky < k; ky++) {
                    int iy = oy - pad + ky;
                    for (int kx = 0; kx < k; kx++) {
                        int ix = ox - pad + kx;
                        float * dst = cr + (size_t)((t * k + ky) * k + kx) * Cin;
                        if (!frames[t] || iy < 0 || iy >= H || ix < 0 || ix >= W)
                            memset(dst, 0, run);
                        else
                            memcpy(dst, frames[t] + ((int64_t)iy * W + ix) * Cin, run);
                    }
                }
        }
        ts_cpu_gemm_run(be, out + p0 * Cout, Cout, col, KK, wp, b, np, KK, Cout);
    }
    free(col);
}
