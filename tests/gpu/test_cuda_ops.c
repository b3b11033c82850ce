// Every op of backend.h on the CUDA backend against the CPU backend (the
// reference) on the same random inputs: one verdict per case with the max
// relative error (fp32 tolerance 1e-3). Also: memory ops bit-exact, and a
// frame's results on CUDA independent of the frames passed with it.
// Exits 77 (skipped) when no GPU is usable.
#include <math.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "core/rope.h"  // ts_rope_table_2d, ts_rope_table_1d
#include "ts_test.h"

static ts_backend_t be_cpu, be_gpu;  // the reference and the backend under test

// ---- memory ------------------------------------------------------------------------------------
static void check_memory(void) {
    const int64_t n = 100003;
    float *h = ts_test_alloc(n), *back = ts_test_alloc(n);
    ts_test_fill(h, n, 3.0f);
    float * g = be_gpu->ops->alloc(be_gpu, (size_t)n * sizeof(float));
    float * z = ts_test_alloc(n);
    be_gpu->ops->download(be_gpu, back, g, (size_t)n * sizeof(float));
    ts_verdict("memory.alloc_zeroed", memcmp(back, z, (size_t)n * sizeof(float)) == 0, "");
    be_gpu->ops->upload(be_gpu, g, h, (size_t)n * sizeof(float));
    be_gpu->ops->download(be_gpu, back, g, (size_t)n * sizeof(float));
    ts_check_bits("memory.upload_download", back, h, n);
    // overlapping copy (memmove semantics), both directions
    be_gpu->ops->copy(be_gpu, g + 1000, g, (size_t)(n - 1000) * sizeof(float));
    memmove(h + 1000, h, (size_t)(n - 1000) * sizeof(float));
    be_gpu->ops->copy(be_gpu, g, g + 7, (size_t)(n - 7) * sizeof(float));
    memmove(h, h + 7, (size_t)(n - 7) * sizeof(float));
    be_gpu->ops->download(be_gpu, back, g, (size_t)n * sizeof(float));
    ts_check_bits("memory.copy_overlapping", back, h, n);
    be_gpu->ops->release(be_gpu, g);
    free(h), free(back), free(z);
}

// ---- GEMM ops -------------------------------------------------------------------------------------
static void check_linear(const char * name, int64_t M, int K, int N, int ldx, int ldy, int bias) {
    ts_test_pair x = ts_pair_new(M * ldx, 1.0f), w = ts_pair_new((int64_t)N * K, 0.2f), b = ts_pair_new(N, 1.0f), y = ts_pair_new(M * ldy, 0.5f);
    be_cpu->ops->linear(be_cpu, y.c, ldy, x.c, ldx, w.c, bias ? b.c : NULL, M, K, N);
    be_gpu->ops->linear(be_gpu, y.g, ldy, x.g, ldx, w.g, bias ? b.g : NULL, M, K, N);
    ts_check_pair(name, y, TS_TOL_BACKEND);  // the padding columns (ldy > N) must be untouched too
    ts_pair_free(&x), ts_pair_free(&w), ts_pair_free(&b), ts_pair_free(&y);
}

static void check_conv(const char * name, int64_t B, int H, int W, int Cin, int Cout, int k, int s, int pad, int bias) {
    int Ho = (H + 2 * pad - k) / s + 1, Wo = (W + 2 * pad - k) / s + 1;
    ts_test_pair in = ts_pair_new(B * H * W * Cin, 1.0f), w = ts_pair_new((int64_t)Cout * k * k * Cin, 0.3f), b = ts_pair_new(Cout, 1.0f);
    ts_test_pair out = ts_pair_new(B * Ho * Wo * Cout, 0.0f);
    be_cpu->ops->conv2d(be_cpu, out.c, in.c, B, H, W, Cin, w.c, bias ? b.c : NULL, Cout, k, s, pad);
    be_gpu->ops->conv2d(be_gpu, out.g, in.g, B, H, W, Cin, w.g, bias ? b.g : NULL, Cout, k, s, pad);
    ts_check_pair(name, out, TS_TOL_BACKEND);
    ts_pair_free(&in), ts_pair_free(&w), ts_pair_free(&b), ts_pair_free(&out);
}

// ---- per-row and elementwise ops ---------------------------------------------------------------------
static void check_layernorm(const char * name, int64_t rows, int D, int affine, int inplace) {
    ts_test_pair x = ts_pair_new(rows * D, 2.0f), g = ts_pair_new(D, 1.0f), b = ts_pair_new(D, 1.0f), y = ts_pair_new(rows * D, 0.0f);
    // an offset mean, as in a residual stream
    float * h = ts_test_alloc(rows * D);
    ts_test_fill(h, rows * D, 2.0f);
    for (int64_t i = 0; i < rows * D; i++) h[i] += 5.0f;
    ts_pair_set(x, h);
    free(h);
    const float *gc = affine & 1 ? g.c : NULL, *gg = affine & 1 ? g.g : NULL;
    const float *bc = affine & 2 ? b.c : NULL, *bg = affine & 2 ? b.g : NULL;
    be_cpu->ops->layernorm(be_cpu, inplace ? x.c : y.c, x.c, gc, bc, rows, D, 1e-6f);
    be_gpu->ops->layernorm(be_gpu, inplace ? x.g : y.g, x.g, gg, bg, rows, D, 1e-6f);
    ts_check_pair(name, inplace ? x : y, TS_TOL_BACKEND);
    ts_pair_free(&x), ts_pair_free(&g), ts_pair_free(&b), ts_pair_free(&y);
}

static void check_groupnorm(const char * name, int64_t B, int HW, int C, int groups, int affine) {
    ts_test_pair x = ts_pair_new(B * HW * C, 2.0f), g = ts_pair_new(C, 1.0f), b = ts_pair_new(C, 1.0f), y = ts_pair_new(B * HW * C, 0.0f);
    be_cpu->ops->groupnorm(be_cpu, y.c, x.c, B, HW, C, groups, affine ? g.c : NULL, affine ? b.c : NULL, 1e-6f);
    be_gpu->ops->groupnorm(be_gpu, y.g, x.g, B, HW, C, groups, affine ? g.g : NULL, affine ? b.g : NULL, 1e-6f);
    ts_check_pair(name, y, TS_TOL_BACKEND);
    ts_pair_free(&x), ts_pair_free(&g), ts_pair_free(&b), ts_pair_free(&y);
}

static void check_elementwise(void) {
    const int64_t T = 3, N = 50, D = 64, ld = 9 * D;
    ts_test_pair x = ts_pair_new(T * N * D, 2.0f), y = ts_pair_new(T * N * D, 0.0f), mod = ts_pair_new(T * ld, 0.5f);
    be_cpu->ops->modulate(be_cpu, y.c, x.c, mod.c + 3 * D, mod.c + 4 * D, (int)ld, T, (int)N, (int)D);
    be_gpu->ops->modulate(be_gpu, y.g, x.g, mod.g + 3 * D, mod.g + 4 * D, (int)ld, T, (int)N, (int)D);
    ts_check_pair("modulate", y, TS_TOL_BACKEND);
    be_cpu->ops->modulate(be_cpu, x.c, x.c, mod.c, mod.c + D, (int)ld, T, (int)N, (int)D);
    be_gpu->ops->modulate(be_gpu, x.g, x.g, mod.g, mod.g + D, (int)ld, T, (int)N, (int)D);
    ts_check_pair("modulate.inplace", x, TS_TOL_BACKEND);
    be_cpu->ops->gate_add(be_cpu, x.c, y.c, mod.c + 2 * D, (int)ld, T, (int)N, (int)D);
    be_gpu->ops->gate_add(be_gpu, x.g, y.g, mod.g + 2 * D, (int)ld, T, (int)N, (int)D);
    ts_check_pair("gate_add", x, TS_TOL_BACKEND);
    be_cpu->ops->gate_add(be_cpu, x.c, y.c, NULL, 0, 1, (int)(T * N), (int)D);
    be_gpu->ops->gate_add(be_gpu, x.g, y.g, NULL, 0, 1, (int)(T * N), (int)D);
    ts_check_pair("gate_add.nogate", x, TS_TOL_BACKEND);
    ts_test_pair a = ts_pair_new(100001, 6.0f);
    be_cpu->ops->gelu(be_cpu, a.c, a.n);
    be_gpu->ops->gelu(be_gpu, a.g, a.n);
    ts_check_pair("gelu", a, TS_TOL_BACKEND);
    ts_test_pair s = ts_pair_new(100001, 12.0f);
    be_cpu->ops->silu(be_cpu, s.c, s.n);
    be_gpu->ops->silu(be_gpu, s.g, s.n);
    ts_check_pair("silu", s, TS_TOL_BACKEND);
    be_cpu->ops->axpby(be_cpu, s.c, -0.75f, a.c, 1.25f, s.n);
    be_gpu->ops->axpby(be_gpu, s.g, -0.75f, a.g, 1.25f, s.n);
    ts_check_pair("axpby", s, TS_TOL_BACKEND);
    be_cpu->ops->axpby(be_cpu, s.c, 0.0f, s.c, 1.0f / 0.8f, s.n);  // the VAE's in-place scaling
    be_gpu->ops->axpby(be_gpu, s.g, 0.0f, s.g, 1.0f / 0.8f, s.n);
    ts_check_pair("axpby.alias", s, TS_TOL_BACKEND);
    ts_pair_free(&x), ts_pair_free(&y), ts_pair_free(&mod), ts_pair_free(&a), ts_pair_free(&s);
}

static void check_rope(void) {
    const int T = 3, gh = 4, gw = 5, N = gh * gw, H = 3, hd = 32, D = H * hd, W = 2, S = T + 2 * W;
    float * tab = ts_test_alloc(2 * (int64_t)(N > S ? N : S) * hd / 2);
    ts_test_pair cs = ts_pair_new((int64_t)N * hd / 2, 0.0f), sn = ts_pair_new((int64_t)N * hd / 2, 0.0f);
    ts_rope_table_2d(tab, tab + N * hd / 2, gh, gw, hd, 10000.0f);
    ts_pair_set(cs, tab);
    ts_pair_set(sn, tab + N * hd / 2);
    ts_test_pair qkv = ts_pair_new((int64_t)S * N * 3 * D, 1.0f);
    be_cpu->ops->rope(be_cpu, qkv.c, 3 * D, (int64_t)T * N, H, hd, cs.c, sn.c, 1, N);
    be_gpu->ops->rope(be_gpu, qkv.g, 3 * D, (int64_t)T * N, H, hd, cs.g, sn.g, 1, N);
    ts_check_pair("rope.spatial_2d", qkv, TS_TOL_BACKEND);
    int64_t pos[16];
    for (int s = 0; s < S; s++) pos[s] = 7 - W + s;  // global frames 5..
    ts_test_pair ct = ts_pair_new((int64_t)S * hd / 2, 0.0f), st = ts_pair_new((int64_t)S * hd / 2, 0.0f);
    ts_rope_table_1d(tab, tab + S * hd / 2, pos, S, hd / 2, 10000.0f);
    ts_pair_set(ct, tab);
    ts_pair_set(st, tab + S * hd / 2);
    be_cpu->ops->rope(be_cpu, qkv.c + D, 3 * D, (int64_t)S * N, H, hd, ct.c, st.c, N, S);
    be_gpu->ops->rope(be_gpu, qkv.g + D, 3 * D, (int64_t)S * N, H, hd, ct.g, st.g, N, S);
    ts_check_pair("rope.temporal_1d", qkv, TS_TOL_BACKEND);
    free(tab);
    ts_pair_free(&cs), ts_pair_free(&sn), ts_pair_free(&ct), ts_pair_free(&st), ts_pair_free(&qkv);
}

static void check_layout(void) {
    const int64_t T = 2;
    const int h = 8, w = 12, C = 9, p = 2;
    ts_test_pair img = ts_pair_new(T * h * w * C, 1.0f), tok = ts_pair_new(T * h * w * C, 0.0f), back = ts_pair_new(T * h * w * C, 0.0f);
    be_cpu->ops->patchify(be_cpu, tok.c, img.c, T, h, w, C, p);
    be_gpu->ops->patchify(be_gpu, tok.g, img.g, T, h, w, C, p);
    ts_check_pair("patchify", tok, 0.0);
    be_cpu->ops->unpatchify(be_cpu, back.c, tok.c, T, h, w, C, p);
    be_gpu->ops->unpatchify(be_gpu, back.g, tok.g, T, h, w, C, p);
    ts_check_pair("unpatchify", back, 0.0);
    ts_test_pair up = ts_pair_new(T * 4 * h * w * C, 0.0f);
    be_cpu->ops->upsample2x(be_cpu, up.c, img.c, T, h, w, C);
    be_gpu->ops->upsample2x(be_gpu, up.g, img.g, T, h, w, C);
    ts_check_pair("upsample2x", up, 0.0);
    ts_pair_free(&img), ts_pair_free(&tok), ts_pair_free(&back), ts_pair_free(&up);
}

// ---- attention ----------------------------------------------------------------------------------------
static void check_spatial(int64_t T, int N, int H, int hd) {
    char name[96];
    int D = H * hd;
    ts_test_pair qkv = ts_pair_new(T * N * 3 * D, 1.5f), out = ts_pair_new(T * N * D, 0.0f);
    be_cpu->ops->attn_spatial(be_cpu, out.c, qkv.c, T, N, H, hd);
    be_gpu->ops->attn_spatial(be_gpu, out.g, qkv.g, T, N, H, hd);
    snprintf(name, sizeof name, "attn_spatial T=%lld N=%d H=%d hd=%d", (long long)T, N, H, hd);
    ts_check_pair(name, out, TS_TOL_BACKEND);
    ts_pair_free(&qkv), ts_pair_free(&out);
}

static void check_temporal(int64_t T_own, int N, int H, int hd, int W, int causal, int64_t g0, int64_t T_total) {
    char name[128];
    int D = H * hd;
    int64_t S = T_own + 2 * W;
    ts_test_pair qkv = ts_pair_new(S * N * 3 * D, 1.5f), out = ts_pair_new(T_own * N * D, 0.0f);
    be_cpu->ops->attn_temporal(be_cpu, out.c, qkv.c, T_own, N, H, hd, W, causal, g0, T_total);
    be_gpu->ops->attn_temporal(be_gpu, out.g, qkv.g, T_own, N, H, hd, W, causal, g0, T_total);
    snprintf(name, sizeof name, "attn_temporal T=%lld W=%d g0=%lld/%lld hd=%d%s", (long long)T_own, W, (long long)g0,
             (long long)T_total, hd, causal ? " causal" : "");
    ts_check_pair(name, out, TS_TOL_BACKEND);
    ts_pair_free(&qkv), ts_pair_free(&out);
}

// bias_mode 0: none, 1: log weights, 2: some keys -INFINITY, 3: every key -INFINITY (zeros)
static void check_cross(int64_t rows, int H, int hd, int L, int n_valid, int bias_mode) {
    char name[128];
    int D = H * hd;
    ts_test_pair q = ts_pair_new(rows * D, 1.5f), kv = ts_pair_new((int64_t)L * 2 * D, 1.5f), out = ts_pair_new(rows * D, 0.7f);
    ts_test_pair bias = ts_pair_new(L, 0.0f);
    float * bh = ts_test_alloc(L);
    for (int j = 0; j < L; j++) {
        bh[j] = bias_mode == 1 ? logf(0.5f + (float)j / L) : 0.0f;
        if (bias_mode == 2 && j % 3 == 1) bh[j] = -INFINITY;
        if (bias_mode == 3) bh[j] = -INFINITY;
    }
    ts_pair_set(bias, bh);
    free(bh);
    be_cpu->ops->attn_cross(be_cpu, out.c, q.c, kv.c, rows, H, hd, L, n_valid, bias_mode ? bias.c : NULL);
    be_gpu->ops->attn_cross(be_gpu, out.g, q.g, kv.g, rows, H, hd, L, n_valid, bias_mode ? bias.g : NULL);
    snprintf(name, sizeof name, "attn_cross rows=%lld hd=%d L=%d valid=%d bias=%s", (long long)rows, hd, L, n_valid,
             (const char *[]){"none", "log", "-inf some", "-inf all"}[bias_mode]);
    ts_check_pair(name, out, TS_TOL_BACKEND);
    ts_pair_free(&q), ts_pair_free(&kv), ts_pair_free(&out), ts_pair_free(&bias);
}

// ---- per-frame independence on CUDA (docs/ARCHITECTURE.md property 3, own kernels) -------------------------------
static void download_gpu(float * h, const float * g, int64_t n) {
    be_gpu->ops->download(be_gpu, h, g, (size_t)n * sizeof(float));
}

static void check_frame_independence(void) {
    ts_backend_t be = be_gpu;
    const int T = 8, N = 36, H = 2, hd = 64, D = H * hd, W = 2;
    // spatial: frames 3..5 alone vs all 8
    float * qkv = be->ops->alloc(be, (size_t)(T + 2 * W) * N * 3 * D * sizeof(float));
    float * h = ts_test_alloc((int64_t)(T + 2 * W) * N * 3 * D);
    ts_test_fill(h, (int64_t)(T + 2 * W) * N * 3 * D, 1.5f);
    be->ops->upload(be, qkv, h, (size_t)(T + 2 * W) * N * 3 * D * sizeof(float));
    float * o_all = be->ops->alloc(be, (size_t)T * N * D * sizeof(float));
    float * o_part = be->ops->alloc(be, (size_t)T * N * D * sizeof(float));
    float *ha = ts_test_alloc((int64_t)T * N * D), *hp = ts_test_alloc((int64_t)T * N * D);
    be->ops->attn_spatial(be, o_all, qkv, T, N, H, hd);
    be->ops->attn_spatial(be, o_part, qkv + (int64_t)3 * N * 3 * D, 3, N, H, hd);
    download_gpu(ha, o_all + (int64_t)3 * N * D, 3 * N * D);
    download_gpu(hp, o_part, 3 * N * D);
    ts_check_bits("frames.attn_spatial (3 of 8 frames)", hp, ha, 3 * N * D);
    // temporal: the whole video (slots = frames + W empty slots each side) vs a chunk with halos
    be->ops->attn_temporal(be, o_all, qkv, T, N, H, hd, W, 0, 0, T);
    int64_t g0 = 3, Tn = 3;  // chunk frames 3..5: slots start at global g0 - W = slot g0 of the whole buffer
    be->ops->attn_temporal(be, o_part, qkv + g0 * N * 3 * D, Tn, N, H, hd, W, 0, g0, T);
    download_gpu(ha, o_all + g0 * N * D, Tn * N * D);
    download_gpu(hp, o_part, Tn * N * D);
    ts_check_bits("frames.attn_temporal (chunk vs whole)", hp, ha, Tn * N * D);
    // layernorm and the elementwise ops: rows subset
    be->ops->layernorm(be, o_all, qkv, NULL, NULL, (int64_t)T * N, D, 1e-6f);
    be->ops->layernorm(be, o_part, qkv + (int64_t)5 * N * D, NULL, NULL, 2 * N, D, 1e-6f);
    download_gpu(ha, o_all + (int64_t)5 * N * D, 2 * N * D);
    download_gpu(hp, o_part, 2 * N * D);
    ts_check_bits("frames.layernorm (rows subset)", hp, ha, 2 * N * D);
    // linear through cuBLAS: a row may round differently with another M (kernel choice); measured, tolerance 1e-5
    float * w = be->ops->alloc(be, (size_t)D * 4 * D * sizeof(float));
    be->ops->upload(be, w, h, (size_t)D * 4 * D * sizeof(float));
    int64_t M = (int64_t)T * N;
    be->ops->linear(be, o_all, D, qkv, D, w, NULL, M, D, D);
    be->ops->linear(be, o_part, D, qkv + (int64_t)N * D, D, w, NULL, N, D, D);
    download_gpu(ha, o_all + (int64_t)N * D, N * D);
    download_gpu(hp, o_part, N * D);
    double * ref = ts_test_alloc_d(N * D);
    for (int64_t i = 0; i < N * D; i++) ref[i] = ha[i];
    double r = ts_rel_err(hp, ref, N * D);
    char buf[96];
    snprintf(buf, sizeof buf, "max_rel=%.1e (%s; tol 1e-5)", r,
             memcmp(ha, hp, (size_t)N * D * sizeof(float)) == 0 ? "bit-identical" : "not bit-identical");
    ts_verdict("frames.linear (one frame of 8, cuBLAS)", r <= 1e-5, buf);
    free(ref), free(h), free(ha), free(hp);
    be->ops->release(be, qkv), be->ops->release(be, o_all), be->ops->release(be, o_part), be->ops->release(be, w);
}

// The 16-bit paths: spatial attention on tensor cores (head widths 16..128, a
// partial last key tile and query block) and GEMMs reading 16-bit copies of
// registered weights, against the CPU's fp32; a re-uploaded weight buffer must
// be read anew; a frame's attention must not depend on the frames passed with it.
static void check_16bit(void) {
    static const struct {
        enum ts_cuda_dtype t;
        double tol;
    } types[] = {{TS_CUDA_DTYPE_BF16, 2e-2}, {TS_CUDA_DTYPE_FP16, 5e-3}};
    static const int shapes[][4] = {{3, 77, 3, 64}, {2, 64, 2, 16}, {1, 300, 2, 128}, {2, 33, 4, 32},
                                    {1, 1600, 2, 128}, {2, 33, 4, 48} /* fp32 kernel */};
    for (int i = 0; i < 2; i++) {
        ts_backend_cuda_set_dtype(be_gpu, types[i].t);
        const char * dn = ts_cuda_dtype_name(types[i].t);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int64_t T = shapes[s][0];
            int N = shapes[s][1], H = shapes[s][2], hd = shapes[s][3], D = H * hd;
            char name[96];
            ts_test_pair qkv = ts_pair_new(T * N * 3 * D, 1.5f), out = ts_pair_new(T * N * D, 0.0f);
            be_cpu->ops->attn_spatial(be_cpu, out.c, qkv.c, T, N, H, hd);
            be_gpu->ops->attn_spatial(be_gpu, out.g, qkv.g, T, N, H, hd);
            snprintf(name, sizeof name, "attn_spatial %s T=%lld N=%d H=%d hd=%d", dn, (long long)T, N, H, hd);
            ts_check_pair(name, out, types[i].tol);
            ts_pair_free(&qkv), ts_pair_free(&out);
        }
        // registered weights: the GEMM reads their 16-bit copy
        const int64_t M = 700;
        const int K = 320, N = 200;
        ts_test_pair x = ts_pair_new(M * K, 1.0f), w = ts_pair_new((int64_t)N * K, 0.2f), b = ts_pair_new(N, 1.0f), y = ts_pair_new(M * N, 0.0f);
        be_gpu->ops->weights(be_gpu, w.g, (size_t)N * K * sizeof(float));
        be_cpu->ops->linear(be_cpu, y.c, N, x.c, K, w.c, b.c, M, K, N);
        be_gpu->ops->linear(be_gpu, y.g, N, x.g, K, w.g, b.g, M, K, N);
        char name[96];
        snprintf(name, sizeof name, "linear %s registered weights", dn);
        ts_check_pair(name, y, types[i].tol);
        // a weight sub-range (as the model's tensors within its one buffer), strided x
        be_cpu->ops->linear(be_cpu, y.c, N, x.c, K, w.c + 40 * K, NULL, M / 2, K - 64, N - 40);
        be_gpu->ops->linear(be_gpu, y.g, N, x.g, K, w.g + 40 * K, NULL, M / 2, K - 64, N - 40);
        snprintf(name, sizeof name, "linear %s registered weights, sub-range", dn);
        ts_check_pair(name, y, types[i].tol);
        float * h = ts_test_alloc((int64_t)N * K);
        ts_test_fill(h, (int64_t)N * K, 0.7f);
        ts_pair_set(w, h);  // new values in the registered buffer: the copy must go
        free(h);
        be_cpu->ops->linear(be_cpu, y.c, N, x.c, K, w.c, b.c, M, K, N);
        be_gpu->ops->linear(be_gpu, y.g, N, x.g, K, w.g, b.g, M, K, N);
        snprintf(name, sizeof name, "linear %s registered weights, re-uploaded", dn);
        ts_check_pair(name, y, types[i].tol);
        ts_pair_free(&x), ts_pair_free(&w), ts_pair_free(&b), ts_pair_free(&y);
    }
    // frame independence of the tensor-core kernel: frames 2..4 alone vs all 7, bit for bit
    ts_backend_cuda_set_dtype(be_gpu, TS_CUDA_DTYPE_BF16);
    const int64_t T = 7;
    const int N = 150, H = 2, hd = 64, D = H * hd;
    ts_test_pair qkv = ts_pair_new(T * N * 3 * D, 1.5f), o_all = ts_pair_new(T * N * D, 0.0f), o_part = ts_pair_new(T * N * D, 0.0f);
    be_gpu->ops->attn_spatial(be_gpu, o_all.g, qkv.g, T, N, H, hd);
    be_gpu->ops->attn_spatial(be_gpu, o_part.g, qkv.g + (int64_t)2 * N * 3 * D, 3, N, H, hd);
    float *ha = ts_test_alloc(3 * N * D), *hp = ts_test_alloc(3 * N * D);
    download_gpu(ha, o_all.g + (int64_t)2 * N * D, 3 * N * D);
    download_gpu(hp, o_part.g, 3 * N * D);
    ts_check_bits("frames.attn_spatial bf16 tensor cores (3 of 7 frames)", hp, ha, 3 * N * D);
    free(ha), free(hp);
    ts_pair_free(&qkv), ts_pair_free(&o_all), ts_pair_free(&o_part);
    ts_backend_cuda_set_dtype(be_gpu, TS_CUDA_DTYPE_FP32);
}

// GEMM compute types other than fp32: within their precision of the CPU's fp32.
static void check_dtypes(void) {
    const int64_t M = 512;
    const int K = 256, N = 384;
    static const struct {
        enum ts_cuda_dtype t;
        double tol;
    } types[] = {{TS_CUDA_DTYPE_TF32, 5e-3}, {TS_CUDA_DTYPE_BF16, 3e-2}, {TS_CUDA_DTYPE_FP16, 5e-3}};
    for (int i = 0; i < 3; i++) {
        char name[64];
        ts_test_pair x = ts_pair_new(M * K, 1.0f), w = ts_pair_new((int64_t)N * K, 0.2f), y = ts_pair_new(M * N, 0.0f);
        ts_backend_cuda_set_dtype(be_gpu, types[i].t);
        be_cpu->ops->linear(be_cpu, y.c, N, x.c, K, w.c, NULL, M, K, N);
        be_gpu->ops->linear(be_gpu, y.g, N, x.g, K, w.g, NULL, M, K, N);
        snprintf(name, sizeof name, "linear dtype=%s", ts_cuda_dtype_name(types[i].t));
        ts_check_pair(name, y, types[i].tol);
        ts_pair_free(&x), ts_pair_free(&w), ts_pair_free(&y);
    }
    ts_backend_cuda_set_dtype(be_gpu, TS_CUDA_DTYPE_FP32);
}

int main(void) {
    char why[256];
    int ndev = ts_cuda_device_count(why, sizeof why);
    ts_backend_t probe = ndev > 0 ? ts_backend_cuda_new(0) : NULL;
    if (!probe) {
        printf("test_cuda_ops: SKIPPED: %s\n", ndev > 0 ? ts_last_error() : why);
        return TS_TEST_SKIP;
    }
    ts_cuda_device_describe(0, why, sizeof why);
    printf("# CUDA ops vs CPU ops on %s\n", why);
    be_gpu = probe;
    be_cpu = ts_backend_cpu_new(0);
    ts_test_backends(be_cpu, be_gpu);

    check_memory();
    check_linear("linear M=300 K=200 N=136 bias", 300, 200, 136, 200, 136, 1);
    check_linear("linear strided ldx=208 ldy=140 nobias", 300, 200, 136, 208, 140, 0);
    check_linear("linear M=1 K=7 N=5", 1, 7, 5, 7, 5, 1);
    check_linear("linear M=4099 K=256 N=768", 4099, 256, 768, 256, 768, 1);
    check_conv("conv2d 3x3 s1 p1 B=2 13x13 5->7", 2, 13, 13, 5, 7, 3, 1, 1, 1);
    check_conv("conv2d 3x3 s2 p1 B=1 16x16 8->16", 1, 16, 16, 8, 16, 3, 2, 1, 1);
    check_conv("conv2d 1x1 B=2 9x9 32->3 nobias", 2, 9, 9, 32, 3, 1, 1, 0, 0);
    check_conv("conv2d 3x3 s1 p0 B=1 31x17 64->32", 1, 31, 17, 64, 32, 3, 1, 0, 1);
    check_layernorm("layernorm D=256 affine", 77, 256, 3, 0);
    check_layernorm("layernorm D=33 none inplace", 50, 33, 0, 1);
    check_layernorm("layernorm D=1536 gamma-only", 20, 1536, 1, 0);
    check_layernorm("layernorm D=32 beta-only inplace", 64, 32, 2, 1);
    check_groupnorm("groupnorm B=2 HW=49 C=32 g=8", 2, 49, 32, 8, 1);
    check_groupnorm("groupnorm B=1 HW=4096 C=128 g=8 noaffine", 1, 4096, 128, 8, 0);
    check_elementwise();
    check_rope();
    check_layout();
    check_spatial(3, 77, 3, 64);
    check_spatial(2, 64, 2, 16);
    check_spatial(1, 300, 2, 128);
    check_spatial(2, 33, 4, 48);
    check_spatial(1, 20, 2, 6);  // head width not a multiple of 4: scalar path
    check_spatial(1, 256, 1, 256);
    for (int causal = 0; causal <= 1; causal++) {
        check_temporal(5, 10, 2, 32, 2, causal, 0, 5);
        check_temporal(4, 10, 2, 32, 2, causal, 3, 12);
        check_temporal(3, 7, 2, 64, 3, causal, 9, 12);
        check_temporal(6, 4, 4, 16, 1, causal, 2, 100);
    }
    check_temporal(4, 9, 2, 32, 0, 0, 2, 8);
    check_temporal(4, 9, 2, 6, 2, 0, 2, 8);
    check_cross(100, 4, 32, 24, 17, 0);
    check_cross(100, 4, 32, 24, 24, 1);
    check_cross(37, 2, 64, 77, 60, 2);
    check_cross(37, 2, 64, 20, 20, 3);
    check_cross(16, 2, 16, 8, 5, 0);
    check_cross(50, 3, 48, 300, 290, 1);
    check_cross(10, 2, 32, 8, 0, 0);
    check_frame_independence();
    check_dtypes();
    check_16bit();

    ts_backend_free(&be_cpu);
    ts_backend_free(&be_gpu);
    return ts_test_finish("test_cuda_ops");
}
