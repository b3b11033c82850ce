// CPU backend (the reference): memory, the ops table, and the per-element and
// per-row ops (norms, modulation, activations, RoPE, patchify, upsampling).
// GEMM-based ops live in cpu_gemm.c, attention in cpu_attn.c.
// Every loop is OpenMP over independent elements, rows or groups, each with a
// fixed arithmetic order, so results do not depend on the thread count.
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "core/common.h"  // ts_abort, ts_calloc

// OpenBLAS (linked by ts_core): the backend has its own deterministic GEMM
// (cpu_gemm.c), but BLAS called elsewhere in the process must not spawn
// threads on top of the OpenMP ones.
void openblas_set_num_threads(int num_threads);

// Loops over fewer elements than this run on one thread (no fork cost).
#define TS_CPU_PAR_MIN 16384

// ---- memory -----------------------------------------------------------------------

static void * cpu_alloc(ts_backend_t be, size_t bytes) {
    size_t sz = (bytes + 63) / 64 * 64;
    if (sz == 0) sz = 64;
    void * p = aligned_alloc(64, sz);
    if (!p) ts_abort(__FILE__, __LINE__, "out of memory allocating %zu bytes", sz);
    memset(p, 0, sz);
    return p;
}

static void cpu_release(ts_backend_t be, void * p) { free(p); }
static void cpu_upload(ts_backend_t be, void * dst, const void * src, size_t bytes) { memcpy(dst, src, bytes); }
static void cpu_download(ts_backend_t be, void * dst, const void * src, size_t bytes) { memcpy(dst, src, bytes); }
static void cpu_copy(ts_backend_t be, void * dst, const void * src, size_t bytes) { memmove(dst, src, bytes); }
static void cpu_sync(ts_backend_t be) {}

// ---- norms ---------------------------------------------------------------------------

// x (rows, D) -> y (rows, D); statistics in double, biased variance (PyTorch).
static void cpu_layernorm(ts_backend_t be, float * y, const float * x, const float * gamma, const float * beta,
                          int64_t rows, int D, float eps) {
#pragma omp parallel for num_threads(ts_cpu_threads(be)) schedule(static) if (rows * D > TS_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float * xr = x + r * D;
        float * yr = y + r * D;
        double sum = 0.0;
        for (int d = 0; d < D; d++) sum += xr[d];
        double mean = sum / D;
        double ss = 0.0;
        for (int d = 0; d < D; d++) {
            double dv = xr[d] - mean;
            ss += dv * dv;
        }
        float m = (float)mean;
        float rstd = (float)(1.0 / sqrt(ss / D + (double)eps));
        if (gamma && beta) {
            for (int d = 0; d < D; d++) yr[d] = (xr[d] - m) * rstd * gamma[d] + beta[d];
        } else if (gamma) {
            for (int d = 0; d < D; d++) yr[d] = (xr[d] - m) * rstd * gamma[d];
        } else {
            for (int d = 0; d < D; d++) yr[d] = (xr[d] - m) * rstd;
            if (beta)
                for (int d = 0; d < D; d++) yr[d] += beta[d];
        }
    }
}

// x (B, HW, C), C = groups * cpg: each (image, group) normalised over HW x cpg.
static void cpu_groupnorm(ts_backend_t be, float * y, const float * x, int64_t B, int HW, int C, int groups,
                          const float * gamma, const float * beta, float eps) {
    TS_ASSERT(groups > 0 && C % groups == 0);
    int cpg = C / groups;
    int nt = ts_cpu_threads(be);
    float * stats = ts_calloc((size_t)(B * groups) * 2, sizeof(float));  // (B, groups, {mean, rstd})
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t bg = 0; bg < B * groups; bg++) {
        int64_t b = bg / groups;
        int g = (int)(bg % groups);
        const float * xb = x + b * HW * C + (int64_t)g * cpg;
        double sum = 0.0;
        for (int64_t i = 0; i < HW; i++)
            for (int c = 0; c < cpg; c++) sum += xb[i * C + c];
        double n = (double)HW * cpg;
        double mean = sum / n;
        double ss = 0.0;
        for (int64_t i = 0; i < HW; i++)
            for (int c = 0; c < cpg; c++) {
                double dv = xb[i * C + c] - mean;
                ss += dv * dv;
            }
        stats[2 * bg] = (float)mean;
        stats[2 * bg + 1] = (float)(1.0 / sqrt(ss / n + (double)eps));
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t p = 0; p < B * HW; p++) {
        const float * st = stats + 2 * (p / HW) * groups;
        const float * xp = x + p * C;
        float * yp = y + p * C;
        for (int c = 0; c < C; c++) {
            int g = c / cpg;
            float v = (xp[c] - st[2 * g]) * st[2 * g + 1];
            if (gamma) v *= gamma[c];
            if (beta) v += beta[c];
            yp[c] = v;
        }
    }
    free(stats);
}

// x (rows, D) -> y: x / max(||x||, 1e-12) * sqrt(D) * gamma, as PyTorch's F.normalize
// (the norm in double here, rounded to float) times the scale, then the gain.
static void cpu_rmsnorm(ts_backend_t be, float * y, const float * x, const float * gamma, int64_t rows, int D) {
    const float scale = (float)sqrt((double)D);
#pragma omp parallel for num_threads(ts_cpu_threads(be)) schedule(static) if (rows * D > TS_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float * xr = x + r * D;
        float * yr = y + r * D;
        double ss = 0.0;
        for (int d = 0; d < D; d++) ss += (double)xr[d] * xr[d];
        float n = (float)sqrt(ss);
        if (n < 1e-12f) n = 1e-12f;
        for (int d = 0; d < D; d++) yr[d] = xr[d] / n * scale * gamma[d];
    }
}

// ---- modulation, residual, activations, axpby ------------------------------------------

static void cpu_modulate(ts_backend_t be, float * y, const float * x, const float * shift, const float * scale, int ld,
                         int64_t T, int N, int D) {
#pragma omp parallel for num_threads(ts_cpu_threads(be)) schedule(static) if (T * N * D > TS_CPU_PAR_MIN)
    for (int64_t r = 0; r < T * N; r++) {
        int64_t t = r / N;
        const float * sh = shift + t * ld;
        const float * sc = scale + t * ld;
        const float * xr = x + r * D;
        float * yr = y + r * D;
        for (int d = 0; d < D; d++) yr[d] = xr[d] * (1.0f + sc[d]) + sh[d];
    }
}

static void cpu_gate_add(ts_backend_t be, float * x, const float * y, const float * gate, int ld, int64_t T, int N,
                         int D) {
#pragma omp parallel for num_threads(ts_cpu_threads(be)) schedule(static) if (T * N * D > TS_CPU_PAR_MIN)
    for (int64_t r = 0; r < T * N; r++) {
        float * xr = x + r * D;
        const float * yr = y + r * D;
        if (gate) {
            const float * gr = gate + (r / N) * ld;
            for (int d = 0; d < D; d++) xr[d] += gr[d] * yr[d];
        } else {
            for (int d = 0; d < D; d++) xr[d] += yr[d];
        }
    }
}

// Runs f on every block of 8 (the last one padded), blocks spread over threads.
static void run_blocks8(ts_backend_t be, float * x, int64_t n, void (*f)(float *)) {
    int64_t nb = (n + 7) / 8;
#pragma omp parallel for num_threads(ts_cpu_threads(be)) schedule(static) if (n > TS_CPU_PAR_MIN)
    for (int64_t b = 0; b < nb; b++) {
        if (b * 8 + 8 <= n) {
            f(x + b * 8);
        } else {
            float t[8] = {0};
            int64_t k = n - b * 8;
            memcpy(t, x + b * 8, (size_t)k * sizeof(float));
            f(t);
            memcpy(x + b * 8, t, (size_t)k * sizeof(float));
        }
    }
}

static void cpu_gelu(ts_backend_t be, float * x, int64_t n) {
    const float k0 = 0.7978845608028654f;  // sqrt(2/pi)
    if (((struct ts_cpu_ctx *)be->ctx)->avx2) {
        run_blocks8(be, x, n, ts_cpu_gelu8);
        return;
    }
#pragma omp parallel for num_threads(ts_cpu_threads(be)) schedule(static) if (n > TS_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(k0 * (v + 0.044715f * v * v * v)));
    }
}

static void cpu_silu(ts_backend_t be, float * x, int64_t n) {
    if (((struct ts_cpu_ctx *)be->ctx)->avx2) {
        run_blocks8(be, x, n, ts_cpu_silu8);
        return;
    }
#pragma omp parallel for num_threads(ts_cpu_threads(be)) schedule(static) if (n > TS_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-x[i]));
}

static void cpu_axpby(ts_backend_t be, float * y, float a, const float * x, float b, int64_t n) {
#pragma omp parallel for num_threads(ts_cpu_threads(be)) schedule(static) if (n > TS_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = a * x[i] + b * y[i];
}

// ---- RoPE ------------------------------------------------------------------------------

// x rows of H heads of width hd, row stride ld; interleaved pairs (2i, 2i+1).
static void cpu_rope(ts_backend_t be, float * x, int ld, int64_t rows, int H, int hd, const float * cos_tab,
                     const float * sin_tab, int64_t pos_div, int64_t pos_mod) {
    TS_ASSERT(hd % 2 == 0 && pos_div > 0 && pos_mod > 0);
    int half = hd / 2;
#pragma omp parallel for num_threads(ts_cpu_threads(be)) schedule(static) if (rows * H * hd > TS_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        int64_t tr = (r / pos_div) % pos_mod;
        const float * ct = cos_tab + tr * half;
        const float * st = sin_tab + tr * half;
        for (int h = 0; h < H; h++) {
            float * xh = x + r * ld + (int64_t)h * hd;
            for (int i = 0; i < half; i++) {
                float x0 = xh[2 * i], x1 = xh[2 * i + 1];
                xh[2 * i] = x0 * ct[i] - x1 * st[i];
                xh[2 * i + 1] = x0 * st[i] + x1 * ct[i];
            }
        }
    }
}

// ---- layout ------------------------------------------------------------------------------

// in (T, h, w, C) <-> out (T, N, p*p*C); `to_tokens` picks the direction.
static void cpu_patch_copy(ts_backend_t be, float * tok, float * img, int64_t T, int h, int w, int C, int p,
                           int to_tokens) {
    TS_ASSERT(p > 0 && h % p == 0 && w % p == 0);
    int gh = h / p, gw = w / p;
    size_t run = (size_t)p * C * sizeof(float);  // one patch row: p pixels of C channels
#pragma omp parallel for num_threads(ts_cpu_threads(be)) schedule(static) if (T * h * w * C > TS_CPU_PAR_MIN)
    for (int64_t tn = 0; tn < T * gh * gw; tn++) {
        int64_t t = tn / (gh * gw);
        int n = (int)(tn % (gh * gw));
        int gy = n / gw, gx = n % gw;
        for (int py = 0; py < p; py++) {
            float * tp = tok + tn * p * p * C + (int64_t)py * p * C;
            float * ip = img + ((t * h + (int64_t)gy * p + py) * w + (int64_t)gx * p) * C;
            if (to_tokens)
                memcpy(tp, ip, run);
            else
                memcpy(ip, tp, run);
        }
    }
}

static void cpu_patchify(ts_backend_t be, float * out, const float * in, int64_t T, int h, int w, int C, int p) {
    cpu_patch_copy(be, out, (float *)in, T, h, w, C, p, 1);
}

static void cpu_unpatchify(ts_backend_t be, float * out, const float * in, int64_t T, int h, int w, int C, int p) {
    cpu_patch_copy(be, (float *)in, out, T, h, w, C, p, 0);
}

// (B, H, W, C) -> (B, 2H, 2W, C)
static void cpu_upsample2x(ts_backend_t be, float * out, const float * in, int64_t B, int H, int W, int C) {
    size_t px = (size_t)C * sizeof(float);
#pragma omp parallel for num_threads(ts_cpu_threads(be)) schedule(static) if (B * H * W * C > TS_CPU_PAR_MIN)
    for (int64_t orow = 0; orow < B * 2 * H; orow++) {
        int64_t b = orow / (2 * H);
        int y = (int)(orow % (2 * H)) / 2;
        const float * ir = in + (b * H + y) * W * C;
        float * o = out + orow * 2 * W * C;
        for (int x = 0; x < W; x++) {
            memcpy(o + (int64_t)(2 * x) * C, ir + (int64_t)x * C, px);
            memcpy(o + (int64_t)(2 * x + 1) * C, ir + (int64_t)x * C, px);
        }
    }
}

// ---- the backend ----------------------------------------------------------------------------

static void cpu_free(ts_backend_t be) {
    struct ts_cpu_ctx * c = be->ctx;
    free(c->scratch);
    free(c->pack);
    free(c);
    free(be);
}

static const struct ts_backend_ops ts_cpu_ops = {
    .name = "cpu",
    .free = cpu_free,
    .alloc = cpu_alloc,
    .release = cpu_release,
    .upload = cpu_upload,
    .download = cpu_download,
    .copy = cpu_copy,
    .sync = cpu_sync,
    .linear = ts_cpu_linear,
    .layernorm = cpu_layernorm,
    .modulate = cpu_modulate,
    .gate_add = cpu_gate_add,
    .gelu = cpu_gelu,
    .silu = cpu_silu,
    .axpby = cpu_axpby,
    .rope = cpu_rope,
    .attn_spatial = ts_cpu_attn_spatial,
    .attn_temporal = ts_cpu_attn_temporal,
    .attn_cross = ts_cpu_attn_cross,
    .patchify = cpu_patchify,
    .unpatchify = cpu_unpatchify,
    .conv2d = ts_cpu_conv2d,
    .groupnorm = cpu_groupnorm,
    .upsample2x = cpu_upsample2x,
    .conv3d = ts_cpu_conv3d,
    .rmsnorm = cpu_rmsnorm,
};

ts_backend_t ts_backend_cpu_new(int threads) {
    openblas_set_num_threads(1);
    struct ts_backend * be = ts_calloc(1, sizeof *be);
    struct ts_cpu_ctx * c = ts_calloc(1, sizeof *c);
    c->threads = threads > 0 ? threads : omp_get_max_threads();
    c->isa = ts_cpu_isa();
    c->avx2 = c->isa >= TS_CPU_ISA_AVX2;
    c->gemm_kernel = ts_cpu_gemm_kernel_select(c->isa);
    c->softmax_exp = ts_cpu_softmax_exp_select(c->avx2);
    be->ops = &ts_cpu_ops;
    be->ctx = c;
    be->threads = c->threads;
    return be;
}

// Generic: frees any backend through its own ops (lives here as the CPU
// backend is always built).
void ts_backend_free(ts_backend_t * be) {
    if (!be || !*be) return;
    (*be)->ops->free(*be);
    *be = NULL;
}
