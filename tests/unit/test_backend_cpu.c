// Unit tests for the CPU backend: every op against a naive double-precision
// reference written here, bit-identical results for 1 and 2 threads, and
// independence from how rows, frames and images are grouped (docs/ARCHITECTURE.md
// property 3), including attn_temporal computed on chunks with halo slots.
#include <omp.h>

#include "backend/backend.h"
#include "backend/cpu/cpu.h"  // ts_cpu_linear_typed, ts_cpu_attn3d (CPU-only ops)
#include "ts_test.h"

#define TOL 1e-5

static ts_backend_t BE[2];  // 1 and 2 threads

// ---- memory helpers -----------------------------------------------------------------------

static float * dev(ts_backend_t be, const float * h, int64_t n) {
    float * d = be->ops->alloc(be, (size_t)n * sizeof(float));
    if (h) be->ops->upload(be, d, h, (size_t)n * sizeof(float));
    return d;
}
static void get(ts_backend_t be, float * h, const float * d, int64_t n) {
    be->ops->download(be, h, d, (size_t)n * sizeof(float));
}
static void rel(ts_backend_t be, void * d) { be->ops->release(be, d); }

// Verdicts for one op: out[0] (1 thread) against ref, out[0] vs out[1] bit for bit.
static void check_op(const char * name, float * const out[2], const double * ref, int64_t n, double tol) {
    char nm[128];
    ts_check_rel(name, out[0], ref, n, tol);
    snprintf(nm, sizeof nm, "%s 1 vs 2 threads", name);
    ts_check_bits(nm, out[0], out[1], n);
}

// ---- linear -------------------------------------------------------------------------------------

static void ref_linear(double * y, int ldy, const float * x, int ldx, const float * w, const float * b, int64_t M,
                       int K, int N) {
    for (int64_t m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = b ? b[n] : 0.0;
            for (int k = 0; k < K; k++) s += (double)x[m * ldx + k] * w[(int64_t)n * K + k];
            y[m * ldy + n] = s;
        }
}

static void test_linear_case(int64_t M, int K, int N, int ldx, int ldy) {
    float *x = ts_test_alloc(M * ldx), *w = ts_test_alloc((int64_t)N * K), *b = ts_test_alloc(N);
    ts_test_fill(x, M * ldx, 1.0f);
    ts_test_fill(w, (int64_t)N * K, 0.2f);
    ts_test_fill(b, N, 0.5f);
    double * ref = ts_test_alloc_d(M * ldy);
    for (int with_b = 0; with_b < 2; with_b++) {
        ref_linear(ref, ldy, x, ldx, w, with_b ? b : NULL, M, K, N);
        float * out[2];
        for (int t = 0; t < 2; t++) {
            float *dx = dev(BE[t], x, M * ldx), *dw = dev(BE[t], w, (int64_t)N * K), *db = dev(BE[t], b, N);
            float * dy = dev(BE[t], NULL, M * ldy);
            BE[t]->ops->linear(BE[t], dy, ldy, dx, ldx, dw, with_b ? db : NULL, M, K, N);
            out[t] = ts_test_alloc(M * ldy);
            get(BE[t], out[t], dy, M * ldy);
            rel(BE[t], dx), rel(BE[t], dw), rel(BE[t], db), rel(BE[t], dy);
        }
        // padding columns of y stay untouched (zero)
        int pad_ok = 1;
        for (int64_t m = 0; m < M; m++)
            for (int j = N; j < ldy; j++) pad_ok = pad_ok && out[0][m * ldy + j] == 0.0f;
        char nm[96];
        snprintf(nm, sizeof nm, "linear %lldx%dx%d%s", (long long)M, K, N, with_b ? " +bias" : "");
        check_op(nm, out, ref, M * ldy, TOL);
        if (ldy > N) ts_verdict("linear leaves ldy padding alone", pad_ok, NULL);
        free(out[0]), free(out[1]);
    }
    free(x), free(w), free(b), free(ref);
}

static void test_linear(void) {
    test_linear_case(150, 70, 90, 75, 93);   // strided x and y
    test_linear_case(13, 600, 40, 600, 40);  // K spans several k blocks, N not a multiple of 16
    test_linear_case(1, 33, 5, 33, 5);
}

// A row's bits must not depend on M, on the rows passed with it, nor on threads.
static void test_linear_row_independence(void) {
    const int64_t M = 200;
    const int K = 300, N = 200, ldw = K + 9;  // ldw: x copy with a wider stride
    float *x = ts_test_alloc(M * K), *xw = ts_test_alloc(M * ldw), *w = ts_test_alloc((int64_t)N * K),
          *b = ts_test_alloc(N);
    ts_test_fill(x, M * K, 1.0f);
    ts_test_fill(w, (int64_t)N * K, 0.1f);
    ts_test_fill(b, N, 0.5f);
    for (int64_t m = 0; m < M; m++) memcpy(xw + m * ldw, x + m * K, (size_t)K * sizeof(float));
    float *full = ts_test_alloc(M * N), *part = ts_test_alloc(M * N);
    omp_set_num_threads(1);
    ts_backend_t be = ts_backend_cpu_new(0);
    be->ops->linear(be, full, N, x, K, w, b, M, K, N);
    ts_backend_free(&be);
    int ok_all = 1;
    for (int nt = 1; nt <= 2; nt++) {
        omp_set_num_threads(nt);
        be = ts_backend_cpu_new(0);
        const int64_t Ms[] = {1, 7, 63, 64, 65, 130, 200};
        for (int i = 0; i < 7; i++) {
            memset(part, 0, (size_t)(M * N) * sizeof(float));
            be->ops->linear(be, part, N, x, K, w, b, Ms[i], K, N);
            ok_all = ok_all && memcmp(part, full, (size_t)(Ms[i] * N) * sizeof(float)) == 0;
        }
        // rows [r0, r1) passed alone, from a pointer offset into x and from the wider copy
        const int64_t r0s[] = {37, 1, 64, 199, 100}, r1s[] = {200, 2, 128, 200, 171};
        for (int i = 0; i < 5; i++) {
            int64_t r0 = r0s[i], n = r1s[i] - r0s[i];
            be->ops->linear(be, part, N, x + r0 * K, K, w, b, n, K, N);
            ok_all = ok_all && memcmp(part, full + r0 * N, (size_t)(n * N) * sizeof(float)) == 0;
            be->ops->linear(be, part, N, xw + r0 * ldw, ldw, w, b, n, K, N);
            ok_all = ok_all && memcmp(part, full + r0 * N, (size_t)(n * N) * sizeof(float)) == 0;
        }
        char nm[96];
        snprintf(nm, sizeof nm, "linear rows independent of M (%d thr)", nt);
        ts_verdict(nm, ok_all, "M=1,7,63,64,65,130,200; offsets 37..199 etc.");
        ts_backend_free(&be);
    }
    omp_set_num_threads(2);
    free(x), free(xw), free(w), free(b), free(full), free(part);
}

// ---- norms, modulation, elementwise ----------------------------------------------------------

static void test_layernorm(void) {
    const int64_t rows = 37;
    const int D = 96;
    float *x = ts_test_alloc(rows * D), *g = ts_test_alloc(D), *bb = ts_test_alloc(D);
    ts_test_fill(x, rows * D, 3.0f);
    for (int64_t i = 0; i < rows * D; i++) x[i] += 5.0f;  // nonzero mean
    ts_test_fill(g, D, 1.0f);
    ts_test_fill(bb, D, 1.0f);
    double * ref = ts_test_alloc_d(rows * D);
    for (int affine = 0; affine < 2; affine++) {
        for (int64_t r = 0; r < rows; r++) {
            double m = 0, v = 0;
            for (int d = 0; d < D; d++) m += x[r * D + d];
            m /= D;
            for (int d = 0; d < D; d++) v += (x[r * D + d] - m) * (x[r * D + d] - m);
            v /= D;
            for (int d = 0; d < D; d++) {
                double y = (x[r * D + d] - m) / sqrt(v + 1e-6);
                ref[r * D + d] = affine ? y * g[d] + bb[d] : y;
            }
        }
        float * out[2];
        for (int t = 0; t < 2; t++) {
            float *dx = dev(BE[t], x, rows * D), *dg = dev(BE[t], g, D), *db = dev(BE[t], bb, D);
            // in place (y aliases x)
            BE[t]->ops->layernorm(BE[t], dx, dx, affine ? dg : NULL, affine ? db : NULL, rows, D, 1e-6f);
            out[t] = ts_test_alloc(rows * D);
            get(BE[t], out[t], dx, rows * D);
            rel(BE[t], dx), rel(BE[t], dg), rel(BE[t], db);
        }
        check_op(affine ? "layernorm (affine, in place)" : "layernorm (no affine)", out, ref, rows * D, TOL);
        free(out[0]), free(out[1]);
    }
    free(x), free(g), free(bb), free(ref);
}

static void test_groupnorm(void) {
    const int64_t B = 2;
    const int HW = 50, C = 32, G = 8, cpg = C / G;
    int64_t n = B * HW * C;
    float *x = ts_test_alloc(n), *g = ts_test_alloc(C), *bb = ts_test_alloc(C);
    ts_test_fill(x, n, 2.0f);
    for (int64_t i = 0; i < n; i++) x[i] += (float)((i % C) / cpg);  // per-group offsets
    ts_test_fill(g, C, 1.0f);
    ts_test_fill(bb, C, 1.0f);
    double * ref = ts_test_alloc_d(n);
    for (int64_t b = 0; b < B; b++)
        for (int gr = 0; gr < G; gr++) {
            double m = 0, v = 0;
            for (int p = 0; p < HW; p++)
                for (int c = gr * cpg; c < (gr + 1) * cpg; c++) m += x[(b * HW + p) * C + c];
            m /= (double)HW * cpg;
            for (int p = 0; p < HW; p++)
                for (int c = gr * cpg; c < (gr + 1) * cpg; c++) {
                    double d = x[(b * HW + p) * C + c] - m;
                    v += d * d;
                }
            v /= (double)HW * cpg;
            for (int p = 0; p < HW; p++)
                for (int c = gr * cpg; c < (gr + 1) * cpg; c++) {
                    int64_t i = (b * HW + p) * C + c;
                    ref[i] = (x[i] - m) / sqrt(v + 1e-5) * g[c] + bb[c];
                }
        }
    float * out[2];
    for (int t = 0; t < 2; t++) {
        float *dx = dev(BE[t], x, n), *dy = dev(BE[t], NULL, n), *dg = dev(BE[t], g, C), *db = dev(BE[t], bb, C);
        BE[t]->ops->groupnorm(BE[t], dy, dx, B, HW, C, G, dg, db, 1e-5f);
        out[t] = ts_test_alloc(n);
        get(BE[t], out[t], dy, n);
        rel(BE[t], dx), rel(BE[t], dy), rel(BE[t], dg), rel(BE[t], db);
    }
    check_op("groupnorm", out, ref, n, TOL);
    // image 1 alone gives the same bits as within the batch
    float * one = ts_test_alloc(HW * C);
    BE[1]->ops->groupnorm(BE[1], one, x + HW * C, 1, HW, C, G, g, bb, 1e-5f);
    ts_check_bits("groupnorm image alone = in batch", one, out[0] + HW * C, HW * C);
    free(one), free(out[0]), free(out[1]), free(x), free(g), free(bb), free(ref);
}

static void test_modulate_gate(void) {
    const int64_t T = 3;
    const int N = 5, D = 24, ld = 6 * D;  // shift/scale/gate as chunks of an adaLN (T, 6D) output
    int64_t n = T * N * D;
    float *x = ts_test_alloc(n), *y = ts_test_alloc(n), *ada = ts_test_alloc(T * ld);
    ts_test_fill(x, n, 2.0f);
    ts_test_fill(y, n, 2.0f);
    ts_test_fill(ada, T * ld, 1.0f);
    const float *shift = ada + D, *scale = ada + 3 * D, *gate = ada + 5 * D;
    double * ref = ts_test_alloc_d(n);
    for (int64_t t = 0; t < T; t++)
        for (int i = 0; i < N; i++)
            for (int d = 0; d < D; d++) {
                int64_t k = (t * N + i) * D + d;
                ref[k] = x[k] * (1.0 + scale[t * ld + d]) + shift[t * ld + d];
            }
    float * out[2];
    for (int t = 0; t < 2; t++) {
        float *dx = dev(BE[t], x, n), *da = dev(BE[t], ada, T * ld);
        BE[t]->ops->modulate(BE[t], dx, dx, da + D, da + 3 * D, ld, T, N, D);
        out[t] = ts_test_alloc(n);
        get(BE[t], out[t], dx, n);
        rel(BE[t], dx), rel(BE[t], da);
    }
    check_op("modulate (in place, ld)", out, ref, n, TOL);
    free(out[0]), free(out[1]);

    for (int with_gate = 0; with_gate < 2; with_gate++) {
        for (int64_t t = 0; t < T; t++)
            for (int i = 0; i < N; i++)
                for (int d = 0; d < D; d++) {
                    int64_t k = (t * N + i) * D + d;
                    ref[k] = x[k] + (with_gate ? (double)gate[t * ld + d] : 1.0) * y[k];
                }
        for (int t = 0; t < 2; t++) {
            float *dx = dev(BE[t], x, n), *dy = dev(BE[t], y, n), *da = dev(BE[t], ada, T * ld);
            BE[t]->ops->gate_add(BE[t], dx, dy, with_gate ? da + 5 * D : NULL, ld, T, N, D);
            out[t] = ts_test_alloc(n);
            get(BE[t], out[t], dx, n);
            rel(BE[t], dx), rel(BE[t], dy), rel(BE[t], da);
        }
        check_op(with_gate ? "gate_add (gate)" : "gate_add (plain)", out, ref, n, TOL);
        free(out[0]), free(out[1]);
    }
    free(x), free(y), free(ada), free(ref);
}

static void test_elementwise(void) {
    const int64_t n = 40000;  // above the serial threshold
    float *x = ts_test_alloc(n), *y = ts_test_alloc(n);
    ts_test_fill(x, n, 8.0f);
    ts_test_fill(y, n, 3.0f);
    double * ref = ts_test_alloc_d(n);
    float * out[2];
    for (int op = 0; op < 3; op++) {
        for (int64_t i = 0; i < n; i++) {
            double v = x[i];
            if (op == 0) ref[i] = 0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
            if (op == 1) ref[i] = v / (1.0 + exp(-v));
            if (op == 2) ref[i] = 0.75 * v - 1.25 * y[i];
        }
        for (int t = 0; t < 2; t++) {
            float *dx = dev(BE[t], x, n), *dy = dev(BE[t], y, n);
            if (op == 0) BE[t]->ops->gelu(BE[t], dx, n);
            if (op == 1) BE[t]->ops->silu(BE[t], dx, n);
            if (op == 2) BE[t]->ops->axpby(BE[t], dy, 0.75f, dx, -1.25f, n);
            out[t] = ts_test_alloc(n);
            get(BE[t], out[t], op == 2 ? dy : dx, n);
            rel(BE[t], dx), rel(BE[t], dy);
        }
        check_op(op == 0 ? "gelu (tanh)" : op == 1 ? "silu" : "axpby", out, ref, n, TOL);
        free(out[0]), free(out[1]);
    }
    free(x), free(y), free(ref);
}

// ---- RoPE -------------------------------------------------------------------------------------------

static void test_rope(void) {
    const int H = 3, hd = 8, D = H * hd, ld = 3 * D, half = hd / 2;
    const int N = 6;
    const int64_t T = 4, rows = T * N;
    float * x = ts_test_alloc(rows * ld);
    ts_test_fill(x, rows * ld, 1.0f);
    for (int variant = 0; variant < 2; variant++) {
        // spatial: table (N, half), pos_div 1, pos_mod N; temporal: table (T, half), pos_div N, pos_mod T
        int64_t ntab = variant == 0 ? N : T, pdiv = variant == 0 ? 1 : N, pmod = ntab;
        float *ct = ts_test_alloc(ntab * half), *st = ts_test_alloc(ntab * half);
        for (int64_t p = 0; p < ntab; p++)
            for (int i = 0; i < half; i++) {
                double a = (p + 1) * 0.37 * (i + 1);
                ct[p * half + i] = (float)cos(a), st[p * half + i] = (float)sin(a);
            }
        double * ref = ts_test_alloc_d(rows * ld);
        for (int64_t r = 0; r < rows; r++) {
            int64_t tr = variant == 0 ? r % N : r / N;
            for (int j = 0; j < ld; j++) ref[r * ld + j] = x[r * ld + j];
            for (int h = 0; h < H; h++)
                for (int i = 0; i < half; i++) {
                    double a = x[r * ld + h * hd + 2 * i], b = x[r * ld + h * hd + 2 * i + 1];
                    double c = ct[tr * half + i], s = st[tr * half + i];
                    ref[r * ld + h * hd + 2 * i] = a * c - b * s;
                    ref[r * ld + h * hd + 2 * i + 1] = a * s + b * c;
                }
        }
        float * out[2];
        for (int t = 0; t < 2; t++) {
            float *dx = dev(BE[t], x, rows * ld), *dc = dev(BE[t], ct, ntab * half), *ds = dev(BE[t], st, ntab * half);
            BE[t]->ops->rope(BE[t], dx, ld, rows, H, hd, dc, ds, pdiv, pmod);
            out[t] = ts_test_alloc(rows * ld);
            get(BE[t], out[t], dx, rows * ld);
            rel(BE[t], dx), rel(BE[t], dc), rel(BE[t], ds);
        }
        check_op(variant == 0 ? "rope (spatial positions)" : "rope (temporal positions)", out, ref, rows * ld, TOL);
        free(out[0]), free(out[1]), free(ct), free(st), free(ref);
    }
    free(x);
}

// ---- attention ------------------------------------------------------------------------------------

// softmax-weighted sum in double over keys j with valid[j]; logits l[j]
static void ref_attend(double * o, const double * l, const int * valid, int nk, const float * const * v, int hd) {
    double mx = -INFINITY, sum = 0;
    for (int j = 0; j < nk; j++)
        if (valid[j] && l[j] > mx) mx = l[j];
    for (int d = 0; d < hd; d++) o[d] = 0;
    if (mx == -INFINITY) return;
    for (int j = 0; j < nk; j++) {
        if (!valid[j]) continue;
        double p = exp(l[j] - mx);
        sum += p;
        for (int d = 0; d < hd; d++) o[d] += p * v[j][d];
    }
    for (int d = 0; d < hd; d++) o[d] /= sum;
}

static double ref_dot(const float * a, const float * b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

static void test_attn_spatial(void) {
    // (N, H, hd): odd row strides (3*D*4 bytes not a multiple of 64), hd not a
    // multiple of 16, N beyond one k block of the P @ V product
    const int Ns[] = {70, 64, 130, 300, 45}, Hs[] = {2, 2, 3, 1, 3}, hds[] = {16, 16, 8, 24, 40};
    for (int ni = 0; ni < 5; ni++) {
        const int64_t T = 3;
        const int N = Ns[ni], H = Hs[ni], hd = hds[ni], D = H * hd, ld = 3 * D;
        float * qkv = ts_test_alloc(T * N * ld);
        ts_test_fill(qkv, T * N * ld, 1.5f);
        double *ref = ts_test_alloc_d(T * N * D), *l = ts_test_alloc_d(N);
        int * valid = calloc((size_t)N, sizeof(int));
        const float ** v = calloc((size_t)N, sizeof(float *));
        for (int j = 0; j < N; j++) valid[j] = 1;
        for (int64_t t = 0; t < T; t++)
            for (int h = 0; h < H; h++)
                for (int i = 0; i < N; i++) {
                    const float * q = qkv + (t * N + i) * ld + h * hd;
                    for (int j = 0; j < N; j++) {
                        l[j] = ref_dot(q, qkv + (t * N + j) * ld + D + h * hd, hd) / sqrt((double)hd);
                        v[j] = qkv + (t * N + j) * ld + 2 * D + h * hd;
                    }
                    ref_attend(ref + (t * N + i) * D + h * hd, l, valid, N, v, hd);
                }
        float * out[2];
        for (int t = 0; t < 2; t++) {
            float *dq = dev(BE[t], qkv, T * N * ld), *dout = dev(BE[t], NULL, T * N * D);
            BE[t]->ops->attn_spatial(BE[t], dout, dq, T, N, H, hd);
            out[t] = ts_test_alloc(T * N * D);
            get(BE[t], out[t], dout, T * N * D);
            rel(BE[t], dq), rel(BE[t], dout);
        }
        char nm[64];
        snprintf(nm, sizeof nm, "attn_spatial N=%d H=%d hd=%d", N, H, hd);
        check_op(nm, out, ref, T * N * D, TOL);
        // frames [1, 3) alone
        float * part = ts_test_alloc(2 * N * D);
        BE[1]->ops->attn_spatial(BE[1], part, qkv + N * ld, 2, N, H, hd);
        snprintf(nm, sizeof nm, "attn_spatial N=%d frames alone", N);
        ts_check_bits(nm, part, out[0] + N * D, 2 * N * D);
        free(part), free(out[0]), free(out[1]), free(qkv), free(ref), free(l), free(valid), free(v);
    }
}

// Reference temporal attention on the whole video (T frames, no halo needed).
static void ref_temporal(double * ref, const float * qkv, int64_t T, int N, int H, int hd, int W, int causal) {
    const int D = H * hd, ld = 3 * D;
    double l[64];
    int valid[64];
    const float * v[64];
    for (int64_t i = 0; i < T; i++)
        for (int n = 0; n < N; n++)
            for (int h = 0; h < H; h++) {
                const float * q = qkv + (i * N + n) * ld + h * hd;
                for (int64_t j = 0; j < T; j++) {
                    valid[j] = llabs(i - j) <= W && (!causal || j <= i);
                    l[j] = ref_dot(q, qkv + (j * N + n) * ld + D + h * hd, hd) / sqrt((double)hd);
                    v[j] = qkv + (j * N + n) * ld + 2 * D + h * hd;
                }
                ref_attend(ref + (i * N + n) * D + h * hd, l, valid, (int)T, v, hd);
            }
}

static void test_attn_temporal(void) {
    const int64_t T = 11;
    const int N = 5, H = 2, hd = 8, D = H * hd, ld = 3 * D;
    float * qkv = ts_test_alloc(T * N * ld);
    ts_test_fill(qkv, T * N * ld, 1.5f);
    double * ref = ts_test_alloc_d(T * N * D);
    for (int W = 1; W <= 3; W++)
        for (int causal = 0; causal < 2; causal++) {
            ref_temporal(ref, qkv, T, N, H, hd, W, causal);
            // whole video: T_own = T, g0 = 0, W empty halo slots on each side (NaN: must not be read)
            int64_t S = T + 2 * W;
            float * slots = ts_test_alloc(S * N * ld);
            for (int64_t i = 0; i < S * N * ld; i++) slots[i] = NAN;
            memcpy(slots + W * N * ld, qkv, (size_t)(T * N * ld) * sizeof(float));
            float * out[2];
            for (int t = 0; t < 2; t++) {
                float *ds = dev(BE[t], slots, S * N * ld), *dout = dev(BE[t], NULL, T * N * D);
                BE[t]->ops->attn_temporal(BE[t], dout, ds, T, N, H, hd, W, causal, 0, T);
                out[t] = ts_test_alloc(T * N * D);
                get(BE[t], out[t], dout, T * N * D);
                rel(BE[t], ds), rel(BE[t], dout);
            }
            char nm[96];
            snprintf(nm, sizeof nm, "attn_temporal W=%d causal=%d", W, causal);
            check_op(nm, out, ref, T * N * D, TOL);

            // chunks [a, b) with halo slots filled from the whole video (NaN outside it)
            const int64_t cuts[][5] = {{0, 3, 7, 11, -1}, {0, 1, 2, 10, 11}, {0, 5, 6, 11, -1}, {0, W, 2 * W, T, -1}};
            int ok = 1;
            for (int c = 0; c < 4; c++)
                for (int k = 0; k + 1 < 5 && cuts[c][k + 1] >= 0; k++) {
                    int64_t a = cuts[c][k], b = cuts[c][k + 1], To = b - a, Sc = To + 2 * W;
                    float * cs = ts_test_alloc(Sc * N * ld);
                    for (int64_t s = 0; s < Sc; s++) {
                        int64_t g = a - W + s;
                        for (int64_t e = 0; e < N * ld; e++)
                            cs[s * N * ld + e] = (g >= 0 && g < T) ? qkv[g * N * ld + e] : NAN;
                    }
                    float * co = ts_test_alloc(To * N * D);
                    BE[c % 2]->ops->attn_temporal(BE[c % 2], co, cs, To, N, H, hd, W, causal, a, T);
                    ok = ok && memcmp(co, out[0] + a * N * D, (size_t)(To * N * D) * sizeof(float)) == 0;
                    free(cs), free(co);
                }
            snprintf(nm, sizeof nm, "attn_temporal W=%d causal=%d chunks", W, causal);
            ts_verdict(nm, ok, "bit-identical to whole video");
            free(out[0]), free(out[1]), free(slots);
        }
    free(qkv), free(ref);
}

// 16-bit weights: the result is the float32 GEMM's on the widened values, bit
// for bit, with few rows and many (two ways of widening), also when the weight is
// packed in several column slabs (K large), with half subnormals, and with
// panels and k tails the vector widening skips.
static void test_linear_typed(void) {
    // few rows (each job widens its panels by k block) and many (the whole weight packed in slabs)
    const int Ms[3] = {7, 7, 600}, Ks[3] = {100, 65536, 300}, Ns[3] = {37, 200, 50};
    for (int c = 0; c < 3; c++) {
        int64_t M = Ms[c];
        int K = Ks[c], N = Ns[c];
        float *x = ts_test_alloc(M * K), *wf = ts_test_alloc((int64_t)N * K), *b = ts_test_alloc(N);
        uint16_t * w16 = malloc((size_t)N * K * sizeof(uint16_t));
        ts_test_fill(x, M * K, 1.0f);
        ts_test_fill(b, N, 0.5f);
        for (int dt = TS_CPU_W_F16; dt <= TS_CPU_W_BF16; dt++) {
            for (int64_t i = 0; i < (int64_t)N * K; i++) {  // random 16-bit values and their exact widening
                float v = 0.1f * ts_test_uniform();
                uint32_t bits;
                memcpy(&bits, &v, 4);
                if (dt == TS_CPU_W_BF16) {
                    w16[i] = (uint16_t)(bits >> 16);
                    bits = (uint32_t)w16[i] << 16;
                    memcpy(&wf[i], &bits, 4);
                } else if (i % 7 == 3) {  // a subnormal half (or zero): m * 2^-24, exact in float
                    uint16_t m = (uint16_t)(bits & 0x3ff);
                    w16[i] = (uint16_t)(((bits >> 31) << 15) | m);
                    wf[i] = ldexpf((float)m, -24) * ((bits >> 31) ? -1.0f : 1.0f);
                } else {  // a normal half: sign, exponent 2^-9 .. 2^-4, mantissa
                    uint16_t e = (uint16_t)(6 + (i % 6)), m = (uint16_t)(bits & 0x3ff);
                    w16[i] = (uint16_t)(((bits >> 31) << 15) | (e << 10) | m);
                    uint32_t fb = ((bits >> 31) << 31) | ((uint32_t)(e + 112) << 23) | ((uint32_t)m << 13);
                    memcpy(&wf[i], &fb, 4);
                }
            }
            float *y16 = ts_test_alloc(M * N), *y32 = ts_test_alloc(M * N);
            ts_cpu_linear_typed(BE[1], y16, N, x, K, w16, dt, b, M, K, N);
            BE[0]->ops->linear(BE[0], y32, N, x, K, wf, b, M, K, N);
            char nm[96];
            snprintf(nm, sizeof nm, "linear %s weights %lldx%dx%d", dt == TS_CPU_W_BF16 ? "bf16" : "f16", (long long)M, K, N);
            ts_check_bits(nm, y16, y32, M * N);
            free(y16), free(y32);
        }
        free(x), free(wf), free(b), free(w16);
    }
}

// Windowed 3D attention (Wan2.1) against a double-precision softmax over all
// tokens of the frames within the window; chunks of query frames, with only
// the needed K|V frames given, bit-identical to the whole video.
static void test_attn3d(void) {
    const int64_t T = 6;
    const int N = 7, H = 2, hd = 8, D = H * hd;
    float *q = ts_test_alloc(T * N * D), *kv = ts_test_alloc(T * 2 * N * D);
    ts_test_fill(q, T * N * D, 1.5f);
    ts_test_fill(kv, T * 2 * N * D, 1.5f);
    double * ref = ts_test_alloc_d(T * N * D);
    for (int W = 0; W <= 2; W++) {
        for (int64_t f = 0; f < T; f++)
            for (int n = 0; n < N; n++)
                for (int h = 0; h < H; h++) {
                    const float * qr = q + (f * N + n) * D + h * hd;
                    double s[64], mx = -INFINITY, sum = 0.0;
                    int cnt = 0;
                    for (int64_t g = 0; g < T; g++) {
                        if (W > 0 && (g < f - W || g > f + W)) continue;
                        for (int j = 0; j < N; j++) {
                            const float * kr = kv + (g * 2 * N + j) * D + h * hd;
                            double d = 0.0;
                            for (int i = 0; i < hd; i++) d += (double)qr[i] * kr[i];
                            s[cnt] = d / sqrt((double)hd);
                            mx = s[cnt] > mx ? s[cnt] : mx;
                            cnt++;
                        }
                    }
                    for (int i = 0; i < cnt; i++) sum += (s[i] = exp(s[i] - mx));
                    double * o = ref + (f * N + n) * D + h * hd;
                    for (int i = 0; i < hd; i++) o[i] = 0.0;
                    cnt = 0;
                    for (int64_t g = 0; g < T; g++) {
                        if (W > 0 && (g < f - W || g > f + W)) continue;
                        for (int j = 0; j < N; j++, cnt++) {
                            const float * vr = kv + ((g * 2 + 1) * N + j) * D + h * hd;
                            for (int i = 0; i < hd; i++) o[i] += s[cnt] / sum * vr[i];
                        }
                    }
                }
        float * out[2];
        for (int t = 0; t < 2; t++) {
            out[t] = ts_test_alloc(T * N * D);
            ts_cpu_attn3d(BE[t], out[t], q, kv, 0, T, T, 0, T, N, H, hd, W);
        }
        char nm[96];
        snprintf(nm, sizeof nm, "attn3d W=%d", W);
        check_op(nm, out, ref, T * N * D, TOL);
        int ok = 1;
        for (int64_t a = 0; a < T; a += 2) {  // chunks of 2 frames, K|V of [a - W, a + 2 + W) only
            int64_t lo = W > 0 && a - W > 0 ? a - W : 0, hi = W > 0 && a + 2 + W < T ? a + 2 + W : T;
            float * co = ts_test_alloc(2 * N * D);
            ts_cpu_attn3d(BE[a % 4 ? 1 : 0], co, q + a * N * D, kv + lo * 2 * N * D, lo, hi - lo, T, a, 2, N, H, hd, W);
            ok = ok && memcmp(co, out[0] + a * N * D, (size_t)(2 * N * D) * sizeof(float)) == 0;
            free(co);
        }
        snprintf(nm, sizeof nm, "attn3d W=%d chunks", W);
        ts_verdict(nm, ok, "bit-identical to whole video");
        free(out[0]), free(out[1]);
    }
    free(q), free(kv), free(ref);
}

static void test_attn_cross(void) {
    const int64_t rows = 150;
    const int H = 2, hd = 16, D = H * hd, L = 12;
    float *q = ts_test_alloc(rows * D), *kv = ts_test_alloc((int64_t)L * 2 * D), *bias = ts_test_alloc(L);
    ts_test_fill(q, rows * D, 1.5f);
    ts_test_fill(kv, (int64_t)L * 2 * D, 1.5f);
    double *ref = ts_test_alloc_d(rows * D), l[16];
    int valid[16];
    const float * v[16];
    // cases: (n_valid, bias kind) bias 0 none, 1 log weights with a -inf, 2 all valid keys -inf
    const int nvs[] = {9, 9, 9, L, 0};
    const int bks[] = {0, 1, 2, 1, 0};
    const char * names[] = {"attn_cross n_valid=9", "attn_cross bias", "attn_cross all masked", "attn_cross n_valid=L",
                            "attn_cross n_valid=0"};
    for (int cs = 0; cs < 5; cs++) {
        int nv = nvs[cs], bk = bks[cs];
        for (int j = 0; j < L; j++) bias[j] = bk == 2 ? -INFINITY : bk == 1 ? (float)log(0.5 + 0.25 * j) : 0.0f;
        if (bk == 1) bias[3] = -INFINITY;
        for (int64_t r = 0; r < rows; r++)
            for (int h = 0; h < H; h++) {
                for (int j = 0; j < L; j++) {
                    valid[j] = j < nv && !(bk && isinf(bias[j]));
                    l[j] = ref_dot(q + r * D + h * hd, kv + (int64_t)j * 2 * D + h * hd, hd) / sqrt((double)hd) +
                           (bk && valid[j] ? bias[j] : 0.0);
                    v[j] = kv + (int64_t)j * 2 * D + D + h * hd;
                }
                ref_attend(ref + r * D + h * hd, l, valid, L, v, hd);
            }
        float * out[2];
        for (int t = 0; t < 2; t++) {
            float *dq = dev(BE[t], q, rows * D), *dkv = dev(BE[t], kv, (int64_t)L * 2 * D), *db = dev(BE[t], bias, L);
            float * dout = dev(BE[t], NULL, rows * D);
            BE[t]->ops->upload(BE[t], dout, q, (size_t)(rows * D) * sizeof(float));  // must be overwritten
            BE[t]->ops->attn_cross(BE[t], dout, dq, dkv, rows, H, hd, L, nv, bk ? db : NULL);
            out[t] = ts_test_alloc(rows * D);
            get(BE[t], out[t], dout, rows * D);
            rel(BE[t], dq), rel(BE[t], dkv), rel(BE[t], db), rel(BE[t], dout);
        }
        check_op(names[cs], out, ref, rows * D, TOL);
        if (cs == 1) {  // rows [37, 150) alone
            float * part = ts_test_alloc(rows * D);
            BE[1]->ops->attn_cross(BE[1], part, q + 37 * D, kv, rows - 37, H, hd, L, nv, bias);
            ts_check_bits("attn_cross rows alone", part, out[0] + 37 * D, (rows - 37) * D);
            free(part);
        }
        free(out[0]), free(out[1]);
    }
    free(q), free(kv), free(bias), free(ref);
}

// ---- layout and VAE ops ------------------------------------------------------------------------------

static void test_patchify(void) {
    const int64_t T = 2;
    const int h = 6, w = 8, C = 3, p = 2, gw = w / p, N = (h / p) * gw;
    int64_t n = T * h * w * C;
    float * img = ts_test_alloc(n);
    ts_test_fill(img, n, 1.0f);
    double * ref = ts_test_alloc_d(n);
    for (int64_t t = 0; t < T; t++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < C; c++) {
                    int tok = (y / p) * gw + x / p, vi = ((y % p) * p + x % p) * C + c;
                    ref[(t * N + tok) * p * p * C + vi] = img[((t * h + y) * w + x) * C + c];
                }
    float *out[2], *back = ts_test_alloc(n);
    for (int t = 0; t < 2; t++) {
        float *di = dev(BE[t], img, n), *dt = dev(BE[t], NULL, n), *db = dev(BE[t], NULL, n);
        BE[t]->ops->patchify(BE[t], dt, di, T, h, w, C, p);
        out[t] = ts_test_alloc(n);
        get(BE[t], out[t], dt, n);
        BE[t]->ops->unpatchify(BE[t], db, dt, T, h, w, C, p);
        if (t == 0) get(BE[t], back, db, n);
        rel(BE[t], di), rel(BE[t], dt), rel(BE[t], db);
    }
    check_op("patchify", out, ref, n, 0.0);
    ts_check_bits("unpatchify(patchify(x)) = x", back, img, n);
    free(out[0]), free(out[1]), free(back), free(img), free(ref);
}

static void test_conv2d(void) {
    struct {
        int64_t B;
        int H, W, Cin, Cout, k, s, pad;
    } cs[] = {{2, 9, 11, 5, 7, 3, 1, 1},
              {2, 9, 11, 5, 7, 3, 2, 1},
              {1, 7, 6, 4, 3, 1, 1, 0},
              {3, 20, 21, 8, 6, 3, 1, 1},
              {1, 24, 23, 40, 20, 3, 1, 1}};
    for (int ci = 0; ci < 5; ci++) {
        int64_t B = cs[ci].B;
        int H = cs[ci].H, W = cs[ci].W, Cin = cs[ci].Cin, Cout = cs[ci].Cout, k = cs[ci].k, s = cs[ci].s,
            pad = cs[ci].pad;
        int Ho = (H + 2 * pad - k) / s + 1, Wo = (W + 2 * pad - k) / s + 1;
        int64_t nin = B * H * W * Cin, nout = B * Ho * Wo * Cout, nw = (int64_t)Cout * k * k * Cin;
        float *in = ts_test_alloc(nin), *w = ts_test_alloc(nw), *b = ts_test_alloc(Cout);
        ts_test_fill(in, nin, 1.0f);
        ts_test_fill(w, nw, 0.3f);
        ts_test_fill(b, Cout, 0.5f);
        double * ref = ts_test_alloc_d(nout);
        for (int64_t bi = 0; bi < B; bi++)
            for (int oy = 0; oy < Ho; oy++)
                for (int ox = 0; ox < Wo; ox++)
                    for (int co = 0; co < Cout; co++) {
                        double acc = b[co];
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = oy * s - pad + ky, ix = ox * s - pad + kx;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                for (int c = 0; c < Cin; c++)
                                    acc += (double)in[((bi * H + iy) * W + ix) * Cin + c] *
                                           w[(((int64_t)co * k + ky) * k + kx) * Cin + c];
                            }
                        ref[((bi * Ho + oy) * Wo + ox) * Cout + co] = acc;
                    }
        float * out[2];
        for (int t = 0; t < 2; t++) {
            float *di = dev(BE[t], in, nin), *dw = dev(BE[t], w, nw), *db = dev(BE[t], b, Cout);
            float * dout = dev(BE[t], NULL, nout);
            BE[t]->ops->conv2d(BE[t], dout, di, B, H, W, Cin, dw, db, Cout, k, s, pad);
            out[t] = ts_test_alloc(nout);
            get(BE[t], out[t], dout, nout);
            rel(BE[t], di), rel(BE[t], dw), rel(BE[t], db), rel(BE[t], dout);
        }
        char nm[96];
        snprintf(nm, sizeof nm, "conv2d k=%d s=%d pad=%d %dx%dx%d", k, s, pad, H, W, Cin);
        check_op(nm, out, ref, nout, TOL);
        // last image alone
        int64_t per_in = (int64_t)H * W * Cin, per_out = (int64_t)Ho * Wo * Cout;
        float * one = ts_test_alloc(per_out);
        BE[1]->ops->conv2d(BE[1], one, in + (B - 1) * per_in, 1, H, W, Cin, w, b, Cout, k, s, pad);
        snprintf(nm, sizeof nm, "conv2d k=%d s=%d image alone", k, s);
        ts_check_bits(nm, one, out[0] + (B - 1) * per_out, per_out);
        free(one), free(out[0]), free(out[1]), free(in), free(w), free(b), free(ref);
    }
}

static void test_upsample(void) {
    const int64_t B = 2;
    const int H = 5, W = 7, C = 3;
    int64_t nin = B * H * W * C, nout = 4 * nin;
    float * in = ts_test_alloc(nin);
    ts_test_fill(in, nin, 1.0f);
    double * ref = ts_test_alloc_d(nout);
    for (int64_t b = 0; b < B; b++)
        for (int y = 0; y < 2 * H; y++)
            for (int x = 0; x < 2 * W; x++)
                for (int c = 0; c < C; c++)
                    ref[((b * 2 * H + y) * 2 * W + x) * C + c] = in[((b * H + y / 2) * W + x / 2) * C + c];
    float * out[2];
    for (int t = 0; t < 2; t++) {
        float *di = dev(BE[t], in, nin), *dout = dev(BE[t], NULL, nout);
        BE[t]->ops->upsample2x(BE[t], dout, di, B, H, W, C);
        out[t] = ts_test_alloc(nout);
        get(BE[t], out[t], dout, nout);
        rel(BE[t], di), rel(BE[t], dout);
    }
    check_op("upsample2x", out, ref, nout, 0.0);
    free(out[0]), free(out[1]), free(in), free(ref);
}

// TESTCHECK passes TS_OK on and returns the first failed status.
static enum ts_status testcheck_stops(int * reached) {
    TESTCHECK(TS_OK);
    TESTCHECK(TS_ERR_ARG);
    *reached = 1;
    return TS_OK;
}

// The checks can fail: a one-ulp change, a small error (against a double or a
// float reference), a failed CHECK in a group and a failed TESTCHECK are each reported.
static void test_harness(void) {
    float a[4] = {1.0f, -2.0f, 3.0f, 0.5f}, b[4], bf[4];
    double r[4] = {1.0, -2.0, 3.0, 0.5};
    memcpy(b, a, sizeof a);
    memcpy(bf, a, sizeof a);
    b[2] = nextafterf(b[2], 4.0f);
    int saved = ts_test.failures;
    int caught_bits = 0, caught_rel = 0, caught_rel_f = 0, caught_group = 0, caught_call = 0, reached = 0;
    printf("  (harness self-test: the next four verdicts and a TESTCHECK must say FAILED)\n");
    ts_check_bits("harness: one-ulp change", a, b, 4);
    caught_bits = ts_test.failures == saved + 1;
    a[1] = -2.0001f;
    ts_check_rel("harness: 3e-5 error", a, r, 4, TOL);
    caught_rel = ts_test.failures == saved + 2;
    ts_check_rel_f("harness: 3e-5 error, float reference", a, bf, 4, TOL);
    caught_rel_f = ts_test.failures == saved + 3;
    CHECK(1 == 1, "holds");
    CHECK(a[1] == bf[1], "a[1] = %g, want %g (expected to fail)", a[1], bf[1]);
    caught_group = ts_group("harness: a group with one failed CHECK") == 1 && ts_test.failures == saved + 4;
    caught_call = testcheck_stops(&reached) == TS_ERR_ARG && !reached && ts_test.failures == saved + 5;
    ts_test.failures = saved;
    ts_verdict("harness catches all five", caught_bits && caught_rel && caught_rel_f && caught_group && caught_call,
               NULL);
}

static void test_memory(void) {
    ts_backend_t be = BE[0];
    float * p = be->ops->alloc(be, 1000);
    int ok = ((uintptr_t)p % 64) == 0;
    for (int i = 0; i < 250; i++) ok = ok && p[i] == 0.0f;
    float h[250], g[250];
    ts_test_fill(h, 250, 1.0f);
    be->ops->upload(be, p, h, sizeof h);
    float * p2 = be->ops->alloc(be, 1000);
    be->ops->copy(be, p2, p, sizeof h);
    be->ops->sync(be);
    be->ops->download(be, g, p2, sizeof g);
    ok = ok && memcmp(g, h, sizeof h) == 0;
    be->ops->release(be, p);
    be->ops->release(be, p2);
    ok = ok && strcmp(be->ops->name, "cpu") == 0 && BE[0]->threads == 1 && BE[1]->threads == 2;
    ts_verdict("alloc (aligned, zeroed), copies", ok, NULL);
}

// The AVX-512 and AVX2 GEMM kernels give the same bits (one fused multiply-add
// per element in the same k order, whatever the vector width), on full and
// edge tiles and across K blocks; checked where the CPU has both.
static void test_gemm_isa(void) {
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        ts_verdict("gemm kernels avx512 == avx2 (no AVX-512 here: skipped)", 1, NULL);
        return;
    }
    const int64_t M = 37;
    const int K = 600, N = 45;  // 4 row tiles of 12 (one partial), 3 panels (one partial), 3 K blocks
    float *A = ts_test_alloc(M * K), *B = ts_test_alloc((int64_t)N * K);
    ts_test_fill(A, M * K, 1.0f);
    ts_test_fill(B, (int64_t)N * K, 0.3f);
    float * bp = ts_cpu_aligned_alloc(ts_cpu_gemm_packed_floats(K, N));
    float * tile = ts_cpu_aligned_alloc(ts_cpu_gemm_tile_floats());
    int npan = (N + 15) / 16;
    ts_cpu_gemm_pack(bp, B, K, 1, K, N, 0, npan);
    float *c2 = ts_test_alloc(M * N), *c5 = ts_test_alloc(M * N);
    ts_cpu_gemm_packed(ts_cpu_gemm_kernel_select(TS_CPU_ISA_AVX2), c2, N, A, K, bp, M, K, N, 0, npan, tile);
    ts_cpu_gemm_packed(ts_cpu_gemm_kernel_select(TS_CPU_ISA_AVX512), c5, N, A, K, bp, M, K, N, 0, npan, tile);
    ts_check_bits("gemm kernels avx512 == avx2 (37x600x45)", c5, c2, M * N);
    double * ref = ts_test_alloc_d(M * N);
    for (int64_t i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0;
            for (int k = 0; k < K; k++) acc += (double)A[i * K + k] * B[(int64_t)j * K + k];
            ref[i * N + j] = acc;
        }
    ts_check_rel("gemm kernel avx512 vs double reference", c5, ref, M * N, TOL);
    free(A), free(B), free(bp), free(tile), free(c2), free(c5), free(ref);
}

int main(void) {
    printf("test_backend_cpu\n");
    BE[0] = ts_backend_cpu_new(1);
    BE[1] = ts_backend_cpu_new(2);
    test_harness();
    test_memory();
    test_linear();
    test_linear_row_independence();
    test_layernorm();
    test_groupnorm();
    test_modulate_gate();
    test_elementwise();
    test_rope();
    test_attn_spatial();
    test_attn_temporal();
    test_attn_cross();
    test_attn3d();
    test_linear_typed();
    test_gemm_isa();
    test_patchify();
    test_conv2d();
    test_upsample();
    ts_backend_free(&BE[0]);
    ts_backend_free(&BE[1]);
    int ok = BE[0] == NULL;
    ts_verdict("ts_backend_free sets NULL", ok, NULL);
    return ts_test_finish("test_backend_cpu");
}
