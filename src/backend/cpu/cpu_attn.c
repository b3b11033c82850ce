// CPU attention: spatial (per frame and head, blocks of queries), temporal
// (per token over a window of frame slots) and cross attention to text tokens.
// Logits are q.k / sqrt(hd); softmax subtracts the row maximum (before scaling). Products use
// the deterministic GEMM of cpu_gemm.c and rows of exponentials use the
// vectorised softmax of cpu_simd.c (the context's softmax_exp), so a query's result depends only on
// its own row and its keys, never on the frames or rows passed with it nor on
// the thread count.
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "core/common.h"  // TS_ASSERT

#define TS_ATTN_QB 96  // queries per spatial job (multiple of the GEMM's 6-row tile)

static size_t ts_up16(size_t n) { return (n + 15) / 16 * 16; }

// ---- spatial ---------------------------------------------------------------------------------------------

// qkv (T*N, 3*D) -> out (T*N, D), attention among the N tokens of each frame.
// Jobs: (frame, head, run of query blocks); each packs its K and V once, then
// takes blocks of TS_ATTN_QB queries. Runs per (frame, head) are only as many
// as keeping the threads busy needs (packing is not free).
void ts_cpu_attn_spatial(ts_backend_t be, float * out, const float * qkv, int64_t T, int N, int H, int hd) {
    struct ts_cpu_ctx * cx = be->ctx;
    const int D = H * hd, ld = 3 * D, QB = TS_ATTN_QB;
    const float scale = (float)(1.0 / sqrt((double)hd));
    int64_t nqb = (N + QB - 1) / QB, nfh = T * H;
    if (nfh <= 0 || N <= 0) return;
    int64_t nrun = (2 * cx->threads + nfh - 1) / nfh;  // query runs per (frame, head)
    if (nrun > nqb) nrun = nqb;
    int64_t qb_per_run = (nqb + nrun - 1) / nrun;
    int64_t njobs = nfh * nrun;
    size_t n_kp = ts_up16(ts_cpu_gemm_packed_floats(hd, N)), n_vp = ts_up16(ts_cpu_gemm_packed_floats(N, hd));
    size_t n_s = ts_up16((size_t)QB * N), n_o = ts_up16((size_t)QB * hd), n_tile = ts_up16(ts_cpu_gemm_tile_floats());
    size_t stride;
    float * scratch = ts_cpu_scratch(be, n_kp + n_vp + n_s + n_o + n_tile + ts_up16(QB), &stride);
    int nt = cx->threads < njobs ? cx->threads : (int)njobs;
    int kpan = (N + 15) / 16, vpan = (hd + 15) / 16;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t job = 0; job < njobs; job++) {
        float * kp = scratch + (size_t)omp_get_thread_num() * stride;  // K^T packed (hd, N)
        float * vp = kp + n_kp;                                        // V packed (N, hd)
        float * S = vp + n_vp;                                         // (QB, N)
        float * O = S + n_s;                                           // (QB, hd)
        float * tile = O + n_o;
        float * inv = tile + n_tile;  // (QB)
        int64_t t = job / (H * nrun);
        int h = (int)(job / nrun % H);
        int64_t qb0 = job % nrun * qb_per_run, qb1 = qb0 + qb_per_run < nqb ? qb0 + qb_per_run : nqb;
        if (qb0 >= qb1) continue;
        const float * base = qkv + t * N * ld;
        ts_cpu_gemm_pack(kp, base + D + h * hd, ld, 1, hd, N, 0, kpan);
        ts_cpu_gemm_pack(vp, base + 2 * D + h * hd, ld, 0, N, hd, 0, vpan);
        for (int64_t qb = qb0; qb < qb1; qb++) {
            int q0 = (int)qb * QB;
            int rows = N - q0 < QB ? N - q0 : QB;
            ts_cpu_gemm_packed(cx->gemm_kernel, S, N, base + (int64_t)q0 * ld + h * hd, ld, kp, rows, hd, N, 0, kpan,
                               tile);
            for (int r = 0; r < rows; r++) inv[r] = 1.0f / cx->softmax_exp(S + (size_t)r * N, N, scale);
            ts_cpu_gemm_packed(cx->gemm_kernel, O, hd, S, N, vp, rows, N, hd, 0, vpan, tile);
            for (int r = 0; r < rows; r++) {
                float * o = out + (t * N + q0 + r) * D + h * hd;
                for (int d = 0; d < hd; d++) o[d] = O[(size_t)r * hd + d] * inv[r];
            }
        }
    }
}

// ---- temporal ----------------------------------------------------------------------------------------------

// qkv (T_own + 2W slots, N, 3*D), slot s = global frame g0 - W + s -> out (T_own, N, D).
// Keys are visited in increasing global frame; dot products and the weighted
// sum are sequential loops, so chunks with halos reproduce the whole video.
void ts_cpu_attn_temporal(ts_backend_t be, float * out, const float * qkv, int64_t T_own, int N, int H, int hd, int W,
                          int causal, int64_t g0, int64_t T_total) {
    struct ts_cpu_ctx * cx = be->ctx;
    TS_ASSERT(W >= 0 && g0 >= 0 && g0 + T_own <= T_total);
    const int D = H * hd, ld = 3 * D;
    const float scale = (float)(1.0 / sqrt((double)hd));
    int64_t njobs = T_own * N;
    if (njobs <= 0) return;
    size_t stride;
    float * scratch = ts_cpu_scratch(be, (size_t)(2 * W + 1), &stride);
#pragma omp parallel for num_threads(cx->threads) schedule(static)
    for (int64_t job = 0; job < njobs; job++) {
        float * sc = scratch + (size_t)omp_get_thread_num() * stride;  // (2W + 1) weights
        int64_t i = job / N;
        int n = (int)(job % N);
        int64_t gi = g0 + i;
        int64_t lo = gi - W > 0 ? gi - W : 0;
        int64_t hi = gi + W < T_total - 1 ? gi + W : T_total - 1;
        if (causal && hi > gi) hi = gi;
        int nk = (int)(hi - lo + 1);
        const float * kbase = qkv + ((lo - g0 + W) * N + n) * ld;  // slot of global frame gj: gj - g0 + W
        int64_t kstep = (int64_t)N * ld;
        const float * qrow = qkv + ((W + i) * N + n) * ld;
        float * orow = out + job * D;
        for (int h = 0; h < H; h++) {
            const float * q = qrow + h * hd;
            for (int j = 0; j < nk; j++) {
                const float * k = kbase + j * kstep + D + h * hd;
                float dot = 0.0f;
                for (int d = 0; d < hd; d++) dot += q[d] * k[d];
                sc[j] = dot;
            }
            float inv = 1.0f / cx->softmax_exp(sc, nk, scale);
            float * o = orow + h * hd;
            memset(o, 0, (size_t)hd * sizeof(float));
            for (int j = 0; j < nk; j++) {
                const float * v = kbase + j * kstep + 2 * D + h * hd;
                for (int d = 0; d < hd; d++) o[d] += sc[j] * v[d];
            }
            for (int d = 0; d < hd; d++) o[d] *= inv;
        }
    }
}

// ---- cross ---------------------------------------------------------------------------------------------------

// q (rows, D), kv (L, 2*D) -> out (rows, D); keys [0, n_valid), optional bias (L).
// K and V of every head are packed once; jobs are (block of rows, head).
void ts_cpu_attn_cross(ts_backend_t be, float * out, const float * q, const float * kv, int64_t rows, int H, int hd,
                       int L, int n_valid, const float * bias) {
    struct ts_cpu_ctx * cx = be->ctx;
    TS_ASSERT(n_valid <= L);
    const int D = H * hd, RB = TS_ATTN_QB;
    if (rows <= 0) return;
    if (n_valid <= 0) {
        memset(out, 0, (size_t)rows * D * sizeof(float));
        return;
    }
    const float scale = (float)(1.0 / sqrt((double)hd));
    int kpan = (n_valid + 15) / 16, vpan = (hd + 15) / 16;
    size_t n_kp = ts_up16(ts_cpu_gemm_packed_floats(hd, n_valid)),
           n_vp = ts_up16(ts_cpu_gemm_packed_floats(n_valid, hd));
    float * packed = ts_cpu_aligned_alloc((n_kp + n_vp) * (size_t)H);  // per head: K^T (hd, n_valid), V (n_valid, hd)
    for (int h = 0; h < H; h++) {
        float * kp = packed + (size_t)h * (n_kp + n_vp);
        ts_cpu_gemm_pack(kp, kv + h * hd, 2 * D, 1, hd, n_valid, 0, kpan);
        ts_cpu_gemm_pack(kp + n_kp, kv + D + h * hd, 2 * D, 0, n_valid, hd, 0, vpan);
    }
    int64_t nrb = (rows + RB - 1) / RB;
    int64_t njobs = nrb * H;
    size_t n_s = ts_up16((size_t)RB * n_valid), n_o = ts_up16((size_t)RB * hd),
           n_tile = ts_up16(ts_cpu_gemm_tile_floats());
    size_t stride;
    float * scratch = ts_cpu_scratch(be, n_s + n_o + n_tile + ts_up16(RB), &stride);
    int nt = cx->threads < njobs ? cx->threads : (int)njobs;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t job = 0; job < njobs; job++) {
        float * S = scratch + (size_t)omp_get_thread_num() * stride;  // (RB, n_valid)
        float * O = S + n_s;                                          // (RB, hd)
        float * tile = O + n_o;
        float * inv = tile + n_tile;  // (RB)
        int64_t r0 = job / H * RB;
        int h = (int)(job % H);
        int nr = (int)(rows - r0 < RB ? rows - r0 : RB);
        const float * kp = packed + (size_t)h * (n_kp + n_vp);
        ts_cpu_gemm_packed(cx->gemm_kernel, S, n_valid, q + r0 * D + h * hd, D, kp, nr, hd, n_valid, 0, kpan, tile);
        for (int r = 0; r < nr; r++) {
            float * s = S + (size_t)r * n_valid;
            for (int j = 0; j < n_valid; j++) s[j] = s[j] * scale + (bias ? bias[j] : 0.0f);
            float sum = cx->softmax_exp(s, n_valid, 1.0f);
            inv[r] = sum > 0.0f ? 1.0f / sum : 0.0f;
        }
        ts_cpu_gemm_packed(cx->gemm_kernel, O, hd, S, n_valid, kp + n_kp, nr, n_valid, hd, 0, vpan, tile);
        for (int r = 0; r < nr; r++) {
            float * o = out + (r0 + r) * D + h * hd;
            for (int d = 0; d < hd; d++) o[d] = O[(size_t)r * hd + d] * inv[r];
        }
    }
    free(packed);
}
