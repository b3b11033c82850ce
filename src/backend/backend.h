// The backend interface: a table of operations over a context. The CPU
// backend (src/backend/cpu) is the reference; CUDA slots in beside it.
//
// Conventions for every op:
// - Pointers are backend memory (from be->ops->alloc); float32.
// - Row-major. Linear weights use PyTorch's layout: W (out, in).
// - Activations are time-major (T, N, D): T frames, N tokens per frame, width D.
// - Per-frame results never depend on how many frames (or rows) an op is given,
//   nor on the thread count: no reductions across frames, fixed-size GEMM row
//   blocks. Tests check this bit for bit (docs/ARCHITECTURE.md property 3).
#pragma once
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

typedef struct ts_backend * ts_backend_t;

// Optional per-row-group positions for RoPE: the table row used by row r is
// (r / pos_div) % pos_mod. Spatial (table (N, hd/2)): pos_div 1, pos_mod N.
// Temporal (table (S, hd/2), one row per frame slot): pos_div N, pos_mod S.
struct ts_backend_ops {
    const char * name;  // "cpu", "cuda"
    void (*free)(ts_backend_t be);

    // memory
    void * (*alloc)(ts_backend_t be, size_t bytes);       // zero-filled; aborts on OOM
    void (*release)(ts_backend_t be, void * p);
    void (*upload)(ts_backend_t be, void * dst, const void * src_host, size_t bytes);
    void (*download)(ts_backend_t be, void * dst_host, const void * src, size_t bytes);
    void (*copy)(ts_backend_t be, void * dst, const void * src, size_t bytes);
    void (*sync)(ts_backend_t be);                           // wait for queued work

    // y (M, N) = x (M, K) @ w (N, K)^T + b (N); b may be NULL.
    // x has row stride ldx (>= K), y has row stride ldy (>= N).
    void (*linear)(ts_backend_t be, float * y, int ldy, const float * x, int ldx, const float * w, const float * b,
                   int64_t M, int K, int N);

    // y = LN(x) over the last dim D for `rows` rows; gamma, beta may be NULL
    // (no affine). y may alias x.
    void (*layernorm)(ts_backend_t be, float * y, const float * x, const float * gamma, const float * beta, int64_t rows,
                      int D, float eps);

    // adaLN modulation, per frame: y[t,n,:] = x[t,n,:] * (1 + scale[t*ld + :]) + shift[t*ld + :]
    // for t < T, n < N. y may alias x.
    void (*modulate)(ts_backend_t be, float * y, const float * x, const float * shift, const float * scale, int ld,
                     int64_t T, int N, int D);

    // Residual with gate: x[t,n,:] += gate[t*ld + :] * y[t,n,:]; gate NULL means plain add.
    void (*gate_add)(ts_backend_t be, float * x, const float * y, const float * gate, int ld, int64_t T, int N, int D);

    // In place, elementwise over n values.
    void (*gelu)(ts_backend_t be, float * x, int64_t n);   // tanh approximation (PyTorch approximate="tanh")
    void (*silu)(ts_backend_t be, float * x, int64_t n);

    // y = a * x + b * y over n values (sampler updates, guidance).
    void (*axpby)(ts_backend_t be, float * y, float a, const float * x, float b, int64_t n);

    // RoPE in place on `rows` rows of H heads of width hd (hd even), row stride ld.
    // Pairs are interleaved: (x[2i], x[2i+1]) of a head rotate by angle with
    // cos/sin[(tab_row) * (hd/2) + i], tab_row = (r / pos_div) % pos_mod.
    void (*rope)(ts_backend_t be, float * x, int ld, int64_t rows, int H, int hd, const float * cos_tab,
                 const float * sin_tab, int64_t pos_div, int64_t pos_mod);

    // Spatial attention within each frame. qkv (T*N, 3*D) rows [q | k | v],
    // D = H*hd, heads contiguous inside each of q, k, v; out (T*N, D).
    // softmax(q k^T / sqrt(hd)) v over the N tokens of the same frame.
    void (*attn_spatial)(ts_backend_t be, float * out, const float * qkv, int64_t T, int N, int H, int hd);

    // Temporal attention per token position over a window of frames.
    // qkv holds S = T_own + 2*W frame slots (T_own frames plus W halo slots on
    // each side), each (N, 3*D); slot s holds global frame g0 - W + s.
    // For owned frame i (slot W + i, global gi = g0 + i) and each token n, head h:
    // attend to slots j whose global frame gj satisfies 0 <= gj < T_total,
    // |gi - gj| <= W, and gj <= gi when causal. out (T_own, N, D).
    void (*attn_temporal)(ts_backend_t be, float * out, const float * qkv, int64_t T_own, int N, int H, int hd, int W,
                          int causal, int64_t g0, int64_t T_total);

    // Cross attention of `rows` query rows to L text tokens.
    // q (rows, D); kv (L, 2*D) rows [k | v]; only the first n_valid tokens are
    // attended (padding mask). bias (L) may be NULL: added to every logit of
    // that key (prompt weights add log w; -INFINITY masks). out (rows, D).
    void (*attn_cross)(ts_backend_t be, float * out, const float * q, const float * kv, int64_t rows, int H, int hd,
                       int L, int n_valid, const float * bias);

    // (T, h, w, C) -> (T, N, p*p*C), N = (h/p)*(w/p); token n = (y/p)*(w/p) + x/p,
    // vector index (py*p + px)*C + c.
    void (*patchify)(ts_backend_t be, float * out, const float * in, int64_t T, int h, int w, int C, int p);
    // The inverse: (T, N, p*p*C) -> (T, h, w, C).
    void (*unpatchify)(ts_backend_t be, float * out, const float * in, int64_t T, int h, int w, int C, int p);

    // ---- VAE ops, images NHWC: (B, H, W, C) ----
    // 2D convolution, kernel k x k, zero padding pad, stride s.
    // w (Cout, k, k, Cin) (the loader reorders PyTorch's (Cout, Cin, k, k)), b (Cout) or NULL.
    // out (B, Ho, Wo, Cout), Ho = (H + 2*pad - k)/s + 1.
    void (*conv2d)(ts_backend_t be, float * out, const float * in, int64_t B, int H, int W, int Cin, const float * w,
                   const float * b, int Cout, int k, int s, int pad);
    // GroupNorm per image over (H*W, C/groups) for each group; gamma, beta (C).
    void (*groupnorm)(ts_backend_t be, float * y, const float * x, int64_t B, int HW, int C, int groups,
                      const float * gamma, const float * beta, float eps);
    // Nearest-neighbour 2x upsampling: (B, H, W, C) -> (B, 2H, 2W, C).
    void (*upsample2x)(ts_backend_t be, float * out, const float * in, int64_t B, int H, int W, int C);

    // Optional (NULL where a backend has no use for it): [p, p + bytes), from alloc,
    // holds weights that stay unchanged until released. A backend may keep
    // converted copies (the CUDA backend: 16-bit copies for its bf16/fp16 GEMMs).
    void (*weights)(ts_backend_t be, const void * p, size_t bytes);

    // ---- causal 3D VAE ops (Wan2.1), frames (H, W, C) channels-last; optional ----
    // One output frame of a 3D convolution, kernel (kt, k, k), spatial zero padding
    // k/2, stride 1: out (H, W, Cout) = sum over t < kt of conv2d(frames[t], w[:, t]) + b.
    // frames[t] (H, W, Cin), NULL for a zero frame (causal padding); w (Cout, kt, k, k, Cin)
    // (the loader reorders PyTorch's (Cout, Cin, kt, k, k)); b (Cout) or NULL.
    void (*conv3d)(ts_backend_t be, float * out, const float * const * frames, int kt, int H, int W, int Cin,
                   const float * w, const float * b, int Cout, int k);
    // RMS norm over the last dim D (F.normalize(x) * sqrt(D) * gamma):
    // y = x / max(||x||_2, 1e-12) * sqrt(D) * gamma for `rows` rows; y may alias x.
    void (*rmsnorm)(ts_backend_t be, float * y, const float * x, const float * gamma, int64_t rows, int D);
};

struct ts_backend {
    const struct ts_backend_ops * ops;
    void * ctx;       // backend-owned state
    int threads;      // CPU threads (OpenMP) used by this backend
};

// A backend that times `inner` op by op (bench --profile); owns inner. Each op
// waits for inner before and after it. ts_backend_profile_print writes the
// per-op table (calls, ms, %, GFLOP/s of GEMMs and attention) averaged over
// `runs`; _reset zeroes it; _inner gives the wrapped backend (or `be` itself).
ts_backend_t ts_backend_profile_new(ts_backend_t inner);
void ts_backend_profile_reset(ts_backend_t be);
void ts_backend_profile_print(ts_backend_t be, FILE * f, int runs);
ts_backend_t ts_backend_profile_inner(ts_backend_t be);

// CPU backend with `threads` OpenMP threads (0: all cores). Its GEMM is the
// project's own (cpu_gemm.c): every output is summed over k in one order, so a
// row's result depends neither on M nor on the thread count.
ts_backend_t ts_backend_cpu_new(int threads);
void ts_backend_free(ts_backend_t * be);  // sets *be to NULL
