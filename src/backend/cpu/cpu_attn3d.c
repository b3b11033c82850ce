// 3D attention over a temporal window with a fixed global reduction order
// (Wan2.1's self-attention): keys are taken one frame at a time, in global
// frame order, with an online softmax, so a query's result never depends on
// how the frames are split over ranks or on the thread count.
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "core/common.h"  // TS_ASSERT, ts_malloc

#define TS_ATTN3D_QB 96  // query rows per job (multiple of the GEMM's 6-row tile)

static size_t up16(size_t n) { return (n + 15) / 16 * 16; }

void ts_cpu_attn3d(ts_backend_t be, float * out, const float * q, const float * kv, int64_t kv_g0, int64_t kv_frames,
                   int64_t T_total, int64_t g0, int64_t T_own, int N, int H, int hd, int window) {
    struct ts_cpu_ctx * cx = be->ctx;
    TS_ASSERT(g0 >= 0 && T_own >= 1 && g0 + T_own <= T_total && N > 0 && hd > 0 && window >= 0);
    const int D = H * hd;
    const int64_t M = T_own * N;
    const float scale = (float)(1.0 / sqrt((double)hd));
    int64_t W = window > 0 ? window : T_total;  // W >= T_total: every frame of the video
    int64_t lo = g0 - W < 0 ? 0 : g0 - W, hi = g0 + T_own + W > T_total ? T_total : g0 + T_own + W;
    TS_ASSERT(kv_g0 <= lo && hi <= kv_g0 + kv_frames);

    float * run_max = ts_malloc((size_t)M * H * sizeof(float));  // (M, H): running max of scaled scores
    float * run_sum = ts_malloc((size_t)M * H * sizeof(float));  // (M, H): running sum of weights
    for (int64_t i = 0; i < M * H; i++) run_max[i] = -INFINITY, run_sum[i] = 0.0f;
    for (int64_t r = 0; r < M; r++) memset(out + r * D, 0, (size_t)D * sizeof(float));

    int kpan = (N + 15) / 16, vpan = (hd + 15) / 16;
    size_t n_kp = up16(ts_cpu_gemm_packed_floats(hd, N)), n_vp = up16(ts_cpu_gemm_packed_floats(N, hd));
    float * packed = ts_cpu_aligned_alloc((n_kp + n_vp) * (size_t)H);  // per head: K^T (hd, N), V (N, hd)
    size_t n_s = up16((size_t)TS_ATTN3D_QB * N), n_o = up16((size_t)TS_ATTN3D_QB * hd),
           n_tile = up16(ts_cpu_gemm_tile_floats());
    size_t stride;
    float * scratch = ts_cpu_scratch(be, n_s + n_o + n_tile, &stride);

    for (int64_t gj = lo; gj < hi; gj++) {  // key frames in global order
        // owned query frames within the window of gj: a contiguous run of rows
        int64_t f0 = gj - W - g0, f1 = gj + W - g0 + 1;
        if (f0 < 0) f0 = 0;
        if (f1 > T_own) f1 = T_own;
        if (f0 >= f1) continue;
        const float * K = kv + ((gj - kv_g0) * 2 + 0) * (int64_t)N * D;
        const float * V = kv + ((gj - kv_g0) * 2 + 1) * (int64_t)N * D;
#pragma omp parallel for num_threads(cx->threads) schedule(static) if (H > 1)
        for (int h = 0; h < H; h++) {
            float * kp = packed + (size_t)h * (n_kp + n_vp);
            ts_cpu_gemm_pack(kp, K + h * hd, D, 1, hd, N, 0, kpan);
            ts_cpu_gemm_pack(kp + n_kp, V + h * hd, D, 0, N, hd, 0, vpan);
        }
        int64_t r_lo = f0 * N, r_hi = f1 * N;
        int64_t nrb = (r_hi - r_lo + TS_ATTN3D_QB - 1) / TS_ATTN3D_QB, njobs = nrb * H;
        int nt = cx->threads < njobs ? cx->threads : (int)njobs;
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t job = 0; job < njobs; job++) {
            float * S = scratch + (size_t)omp_get_thread_num() * stride;  // (QB, N)
            float * O = S + n_s;                                          // (QB, hd)
            float * tile = O + n_o;
            int64_t r0 = r_lo + job / H * TS_ATTN3D_QB;
            int h = (int)(job % H);
            int nr = (int)(r_hi - r0 < TS_ATTN3D_QB ? r_hi - r0 : TS_ATTN3D_QB);
            const float * kp = packed + (size_t)h * (n_kp + n_vp);
            ts_cpu_gemm_packed(cx->gemm_kernel, S, N, q + r0 * D + h * hd, D, kp, nr, hd, N, 0, kpan, tile);
            float blk_max[TS_ATTN3D_QB], blk_sum[TS_ATTN3D_QB];
            for (int r = 0; r < nr; r++) {
                float * s = S + (size_t)r * N;
                float mx = -INFINITY;
                for (int j = 0; j < N; j++) {
                    s[j] *= scale;
                    mx = s[j] > mx ? s[j] : mx;
                }
                blk_max[r] = mx;
                blk_sum[r] = cx->softmax_exp(s, N, 1.0f);  // exp(s - mx), summed in a fixed order
            }
            ts_cpu_gemm_packed(cx->gemm_kernel, O, hd, S, N, kp + n_kp, nr, N, hd, 0, vpan, tile);
            for (int r = 0; r < nr; r++) {
                int64_t i = (r0 + r) * H + h;
                float m_old = run_max[i], m_new = blk_max[r] > m_old ? blk_max[r] : m_old;
                float a_old = expf(m_old - m_new), a_blk = expf(blk_max[r] - m_new);  // exp(-inf) = 0 the first time
                run_sum[i] = run_sum[i] * a_old + blk_sum[r] * a_blk;
                run_max[i] = m_new;
                float * o = out + (r0 + r) * D + h * hd;
                const float * ob = O + (size_t)r * hd;
                for (int d = 0; d < hd; d++) o[d] = o[d] * a_old + ob[d] * a_blk;
            }
        }
    }
#pragma omp parallel for num_threads(cx->threads) schedule(static) if (M * D > 65536)
    for (int64_t r = 0; r < M; r++)
        for (int h = 0; h < H; h++) {
            float inv = 1.0f / run_sum[r * H + h];
            float * o = out + r * D + h * hd;
            for (int d = 0; d < hd; d++) o[d] *= inv;
        }
    free(packed);
    free(run_max);
    free(run_sum);
}
