// A backend that times another one op by op (`timeshard bench --profile`):
// every op waits for the inner backend before and after it, so each op's wall
// time is its own (the sum is slower than an unprofiled run: no overlap, one
// sync per op). GEMM and attention ops also count their FLOPs.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/common.h"

enum {
    P_LINEAR, P_LAYERNORM, P_MODULATE, P_GATE_ADD, P_GELU, P_SILU, P_AXPBY, P_ROPE, P_ATTN_SPATIAL, P_ATTN_TEMPORAL,
    P_ATTN_CROSS, P_PATCHIFY, P_UNPATCHIFY, P_CONV2D, P_GROUPNORM, P_UPSAMPLE2X, P_COPY, P_CONV3D, P_RMSNORM, P_COUNT
};
static const char * const p_names[P_COUNT] = {
    "linear", "layernorm", "modulate", "gate_add", "gelu", "silu", "axpby", "rope", "attn_spatial", "attn_temporal",
    "attn_cross", "patchify", "unpatchify", "conv2d", "groupnorm", "upsample2x", "copy", "conv3d", "rmsnorm"};

struct prof {
    ts_backend_t in;
    int64_t calls[P_COUNT];
    double sec[P_COUNT], flop[P_COUNT];
    double t0;
};

static struct prof * P(ts_backend_t be) { return (struct prof *)be->ctx; }

static ts_backend_t p_begin(ts_backend_t be) {
    struct prof * p = P(be);
    p->in->ops->sync(p->in);
    p->t0 = ts_time();
    return p->in;
}

static void p_end(ts_backend_t be, int op, double flop) {
    struct prof * p = P(be);
    p->in->ops->sync(p->in);
    p->sec[op] += ts_time() - p->t0;
    p->calls[op]++;
    p->flop[op] += flop;
}

// ---- forwarded without timing ----
static void p_free(ts_backend_t be) {
    if (be->ctx) ts_backend_free(&P(be)->in);
    free(be->ctx);
    free(be);
}
static void * p_alloc(ts_backend_t be, size_t n) { return P(be)->in->ops->alloc(P(be)->in, n); }
static void p_release(ts_backend_t be, void * q) { P(be)->in->ops->release(P(be)->in, q); }
static void p_upload(ts_backend_t be, void * d, const void * s, size_t n) { P(be)->in->ops->upload(P(be)->in, d, s, n); }
static void p_download(ts_backend_t be, void * d, const void * s, size_t n) {
    P(be)->in->ops->download(P(be)->in, d, s, n);
}
static void p_sync(ts_backend_t be) { P(be)->in->ops->sync(P(be)->in); }
static void p_weights(ts_backend_t be, const void * q, size_t n) {
    if (P(be)->in->ops->weights) P(be)->in->ops->weights(P(be)->in, q, n);
}

// ---- timed ----
static void p_copy(ts_backend_t be, void * d, const void * s, size_t n) {
    ts_backend_t in = p_begin(be);
    in->ops->copy(in, d, s, n);
    p_end(be, P_COPY, 0);
}
static void p_linear(ts_backend_t be, float * y, int ldy, const float * x, int ldx, const float * w, const float * b,
                     int64_t M, int K, int N) {
    ts_backend_t in = p_begin(be);
    in->ops->linear(in, y, ldy, x, ldx, w, b, M, K, N);
    p_end(be, P_LINEAR, 2.0 * M * K * N);
}
static void p_layernorm(ts_backend_t be, float * y, const float * x, const float * g, const float * b, int64_t rows,
                        int D, float eps) {
    ts_backend_t in = p_begin(be);
    in->ops->layernorm(in, y, x, g, b, rows, D, eps);
    p_end(be, P_LAYERNORM, 0);
}
static void p_modulate(ts_backend_t be, float * y, const float * x, const float * sh, const float * sc, int ld,
                       int64_t T, int N, int D) {
    ts_backend_t in = p_begin(be);
    in->ops->modulate(in, y, x, sh, sc, ld, T, N, D);
    p_end(be, P_MODULATE, 0);
}
static void p_gate_add(ts_backend_t be, float * x, const float * y, const float * g, int ld, int64_t T, int N, int D) {
    ts_backend_t in = p_begin(be);
    in->ops->gate_add(in, x, y, g, ld, T, N, D);
    p_end(be, P_GATE_ADD, 0);
}
static void p_gelu(ts_backend_t be, float * x, int64_t n) {
    ts_backend_t in = p_begin(be);
    in->ops->gelu(in, x, n);
    p_end(be, P_GELU, 0);
}
static void p_silu(ts_backend_t be, float * x, int64_t n) {
    ts_backend_t in = p_begin(be);
    in->ops->silu(in, x, n);
    p_end(be, P_SILU, 0);
}
static void p_axpby(ts_backend_t be, float * y, float a, const float * x, float b, int64_t n) {
    ts_backend_t in = p_begin(be);
    in->ops->axpby(in, y, a, x, b, n);
    p_end(be, P_AXPBY, 0);
}
static void p_rope(ts_backend_t be, float * x, int ld, int64_t rows, int H, int hd, const float * c, const float * s,
                   int64_t pd, int64_t pm) {
    ts_backend_t in = p_begin(be);
    in->ops->rope(in, x, ld, rows, H, hd, c, s, pd, pm);
    p_end(be, P_ROPE, 0);
}
static void p_attn_spatial(ts_backend_t be, float * out, const float * qkv, int64_t T, int N, int H, int hd) {
    ts_backend_t in = p_begin(be);
    in->ops->attn_spatial(in, out, qkv, T, N, H, hd);
    p_end(be, P_ATTN_SPATIAL, 4.0 * T * N * (double)N * H * hd);
}
static void p_attn_temporal(ts_backend_t be, float * out, const float * qkv, int64_t T, int N, int H, int hd, int W,
                            int causal, int64_t g0, int64_t Tt) {
    ts_backend_t in = p_begin(be);
    in->ops->attn_temporal(in, out, qkv, T, N, H, hd, W, causal, g0, Tt);
    p_end(be, P_ATTN_TEMPORAL, 4.0 * T * N * (2.0 * W + 1) * H * hd);
}
static void p_attn_cross(ts_backend_t be, float * out, const float * q, const float * kv, int64_t rows, int H, int hd,
                         int L, int nv, const float * bias) {
    ts_backend_t in = p_begin(be);
    in->ops->attn_cross(in, out, q, kv, rows, H, hd, L, nv, bias);
    p_end(be, P_ATTN_CROSS, 4.0 * rows * (double)nv * H * hd);
}
static void p_patchify(ts_backend_t be, float * out, const float * x, int64_t T, int h, int w, int C, int p) {
    ts_backend_t in = p_begin(be);
    in->ops->patchify(in, out, x, T, h, w, C, p);
    p_end(be, P_PATCHIFY, 0);
}
static void p_unpatchify(ts_backend_t be, float * out, const float * x, int64_t T, int h, int w, int C, int p) {
    ts_backend_t in = p_begin(be);
    in->ops->unpatchify(in, out, x, T, h, w, C, p);
    p_end(be, P_UNPATCHIFY, 0);
}
static void p_conv2d(ts_backend_t be, float * out, const float * x, int64_t B, int H, int W, int Cin, const float * w,
                     const float * b, int Cout, int k, int s, int pad) {
    ts_backend_t in = p_begin(be);
    in->ops->conv2d(in, out, x, B, H, W, Cin, w, b, Cout, k, s, pad);
    double Ho = (H + 2 * pad - k) / s + 1, Wo = (W + 2 * pad - k) / s + 1;
    p_end(be, P_CONV2D, 2.0 * B * Ho * Wo * Cout * k * k * Cin);
}
static void p_groupnorm(ts_backend_t be, float * y, const float * x, int64_t B, int HW, int C, int g, const float * ga,
                        const float * be_, float eps) {
    ts_backend_t in = p_begin(be);
    in->ops->groupnorm(in, y, x, B, HW, C, g, ga, be_, eps);
    p_end(be, P_GROUPNORM, 0);
}
static void p_upsample2x(ts_backend_t be, float * out, const float * x, int64_t B, int H, int W, int C) {
    ts_backend_t in = p_begin(be);
    in->ops->upsample2x(in, out, x, B, H, W, C);
    p_end(be, P_UPSAMPLE2X, 0);
}

static void p_conv3d(ts_backend_t be, float * out, const float * const * frames, int kt, int H, int W, int Cin,
                     const float * w, const float * b, int Cout, int k) {
    ts_backend_t in = p_begin(be);
    in->ops->conv3d(in, out, frames, kt, H, W, Cin, w, b, Cout, k);
    p_end(be, P_CONV3D, 2.0 * H * W * Cout * kt * k * k * Cin);
}
static void p_rmsnorm(ts_backend_t be, float * y, const float * x, const float * g, int64_t rows, int D) {
    ts_backend_t in = p_begin(be);
    in->ops->rmsnorm(in, y, x, g, rows, D);
    p_end(be, P_RMSNORM, 0);
}

static const struct ts_backend_ops p_ops = {
    .name = "profile",
    .free = p_free,
    .alloc = p_alloc,
    .release = p_release,
    .upload = p_upload,
    .download = p_download,
    .copy = p_copy,
    .sync = p_sync,
    .linear = p_linear,
    .layernorm = p_layernorm,
    .modulate = p_modulate,
    .gate_add = p_gate_add,
    .gelu = p_gelu,
    .silu = p_silu,
    .axpby = p_axpby,
    .rope = p_rope,
    .attn_spatial = p_attn_spatial,
    .attn_temporal = p_attn_temporal,
    .attn_cross = p_attn_cross,
    .patchify = p_patchify,
    .unpatchify = p_unpatchify,
    .conv2d = p_conv2d,
    .groupnorm = p_groupnorm,
    .upsample2x = p_upsample2x,
    .weights = p_weights,
    .conv3d = p_conv3d,
    .rmsnorm = p_rmsnorm,
};

ts_backend_t ts_backend_profile_new(ts_backend_t inner) {
    struct prof * p = ts_calloc(1, sizeof(*p));
    p->in = inner;
    struct ts_backend * be = ts_calloc(1, sizeof(*be));
    be->ops = &p_ops;
    be->ctx = p;
    be->threads = inner->threads;
    return be;
}

void ts_backend_profile_reset(ts_backend_t be) {
    struct prof * p = P(be);
    memset(p->calls, 0, sizeof p->calls);
    memset(p->sec, 0, sizeof p->sec);
    memset(p->flop, 0, sizeof p->flop);
}

void ts_backend_profile_print(ts_backend_t be, FILE * f, int runs) {
    struct prof * p = P(be);
    double total = 0;
    for (int i = 0; i < P_COUNT; i++) total += p->sec[i];
    if (runs < 1) runs = 1;
    fprintf(f, "# profile (%s backend), per run, averaged over %d; each op timed alone (synced)\n", p->in->ops->name,
            runs);
    fprintf(f, "#  op               calls      ms      %%   GFLOP/s\n");
    for (int i = 0; i < P_COUNT; i++) {
        if (!p->calls[i]) continue;
        char rate[32] = "";
        if (p->flop[i] > 0) snprintf(rate, sizeof rate, "%9.1f", p->flop[i] / p->sec[i] / 1e9);
        fprintf(f, "   %-15s %6lld %8.2f  %5.1f %s\n", p_names[i], (long long)(p->calls[i] / runs),
                p->sec[i] / runs * 1e3, 100.0 * p->sec[i] / (total > 0 ? total : 1), rate);
    }
    fprintf(f, "   %-15s %6s %8.2f  100.0\n", "total", "", total / runs * 1e3);
}

ts_backend_t ts_backend_profile_inner(ts_backend_t be) {
    return be && be->ops == &p_ops ? P(be)->in : be;
}
