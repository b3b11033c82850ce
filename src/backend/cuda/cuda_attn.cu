// CUDA attention: one fused kernel per kind with an online softmax (flash-
// attention style, fp32 on CUDA cores): spatial (the N tokens of a frame),
// cross (text tokens, padding mask and optional per-key bias) and temporal
// (a window of frame slots with global-index masks, optionally causal), with
// the semantics of backend.h and the CPU reference (cpu_attn.c):
//   logit = (q . k) / sqrt(hd) [+ bias], o = sum softmax(logit) v,
//   a row whose keys are all masked (-INFINITY) gives zeros.
// A query is handled by a group of G lanes (a power of two, within a warp),
// each holding up to TS_ATTN_VMAX vectors of its q and o; dot products are
// reduced across the group with shuffles. Keys are visited in index order,
// so a query's result depends only on its own row and its keys: never on the
// frames or rows passed with it, nor on the grid.
#include <math.h>
#include <stdint.h>

#include "backend/cuda/cuda_internal.cuh"

#define TS_ATTN_VMAX 8            // vectors (of VW floats) per lane
#define TS_ATTN_THREADS 128       // threads per block
#define TS_ATTN_CHUNK 8           // keys scored together between softmax updates
#define TS_ATTN_SMEM_FLOATS 8192  // K and V tile (32 KiB)

// Where things are for the row kernel (spatial and cross): `groups` groups
// (frames) of nq queries and nk keys; head h of a row starts at h*hd.
struct ts_attn_rows_args {
    const float * q;  // query row r of group g: q + g*q_gs + r*q_ld
    const float * k;  // key j of group g: k + g*kv_gs + j*kv_ld (v likewise)
    const float * v;
    float * o;           // o + g*o_gs + r*o_ld
    const float * bias;  // (nk) or NULL
    int64_t q_gs, kv_gs, o_gs;
    int q_ld, kv_ld, o_ld;
    int64_t groups;
    int nq, nk, H, hd;
    int G, nvec, kt;  // lanes per query, vectors per head, keys per shared-memory tile
    float scale;
};

// ---- device helpers ---------------------------------------------------------------------------

template <int VW>
static __device__ __forceinline__ void ts_ld(float * d, const float * s) {
    if constexpr (VW == 4) {
        float4 t = *reinterpret_cast<const float4 *>(s);
        d[0] = t.x, d[1] = t.y, d[2] = t.z, d[3] = t.w;
    } else {
        d[0] = s[0];
    }
}

template <int VW>
static __device__ __forceinline__ void ts_st(float * d, const float * s) {
    if constexpr (VW == 4)
        *reinterpret_cast<float4 *>(d) = make_float4(s[0], s[1], s[2], s[3]);
    else
        d[0] = s[0];
}

// Lane `lg` of a group of G holds vectors lg, lg + G, ... (< nvec) of a head:
// adjacent lanes read adjacent memory.
template <int VW>
static __device__ __forceinline__ void ts_load_head(float * r, const float * row, int lg, int G, int nvec) {
#pragma unroll
    for (int v = 0; v < TS_ATTN_VMAX; v++) {
        int idx = lg + G * v;
        if (idx < nvec)
            ts_ld<VW>(r + v * VW, row + idx * VW);
        else
            for (int w = 0; w < VW; w++) r[v * VW + w] = 0.0f;
    }
}

// The lane's part of q . k.
template <int VW>
static __device__ __forceinline__ float ts_dot_part(const float * q, const float * krow, int lg, int G, int nvec) {
    float acc = 0.0f;
#pragma unroll
    for (int v = 0; v < TS_ATTN_VMAX; v++) {
        int idx = lg + G * v;
        if (idx < nvec) {
            float kk[VW];
            ts_ld<VW>(kk, krow + idx * VW);
#pragma unroll
            for (int w = 0; w < VW; w++) acc = fmaf(q[v * VW + w], kk[w], acc);
        }
    }
    return acc;
}

// Sum over the G lanes of the group (mask: the group's lanes).
static __device__ __forceinline__ float ts_group_sum(float x, int G, unsigned mask) {
    for (int off = G >> 1; off > 0; off >>= 1) x += __shfl_xor_sync(mask, x, off);
    return x;
}

static __device__ __forceinline__ unsigned ts_group_mask(int G) {
    if (G >= 32) return 0xffffffffu;
    unsigned lane = threadIdx.x & 31u;
    return ((1u << G) - 1u) << (lane & ~(unsigned)(G - 1));
}

// Online softmax state of one query (this lane's part of o): folds in a key of
// logit s and value row vrow. -INFINITY logits add nothing.
template <int VW>
static __device__ __forceinline__ void ts_online_add(float & m, float & l, float * o, float s, const float * vrow,
                                                     int lg, int G, int nvec) {
    if (s == -INFINITY) return;
    float mn = fmaxf(m, s);
    float corr = expf(m - mn);  // 0 when m is -INFINITY
    float p = expf(s - mn);
    l = l * corr + p;
    m = mn;
#pragma unroll
    for (int v = 0; v < TS_ATTN_VMAX; v++) {
        int idx = lg + G * v;
        if (idx < nvec) {
            float vv[VW];
            ts_ld<VW>(vv, vrow + idx * VW);
#pragma unroll
            for (int w = 0; w < VW; w++) o[v * VW + w] = fmaf(p, vv[w], o[v * VW + w] * corr);
        }
    }
}

// out = o / l (0 when every key was masked)
template <int VW>
static __device__ __forceinline__ void ts_store_head(float * orow, float * o, float l, int lg, int G, int nvec) {
    float inv = l > 0.0f ? 1.0f / l : 0.0f;
#pragma unroll
    for (int v = 0; v < TS_ATTN_VMAX; v++) {
        int idx = lg + G * v;
        if (idx < nvec) {
            float t[VW];
            for (int w = 0; w < VW; w++) t[w] = o[v * VW + w] * inv;
            ts_st<VW>(orow + idx * VW, t);
        }
    }
}

// ---- kernels --------------------------------------------------------------------------------

// Spatial and cross attention. Block: (group, head, block of queries); keys
// and values of the (group, head) pass through shared memory in tiles of kt.
template <int VW>
static __global__ void __launch_bounds__(TS_ATTN_THREADS) k_attn_rows(struct ts_attn_rows_args a) {
    extern __shared__ float4 ts_attn_smem4[];
    float * ks = reinterpret_cast<float *>(ts_attn_smem4);  // (kt, hd)
    float * vs = ks + (size_t)a.kt * a.hd;                  // (kt, hd)
    const int G = a.G, nvec = a.nvec, hd = a.hd;
    const int qpb = blockDim.x / G;
    const int64_t nqb = (a.nq + qpb - 1) / qpb;
    const int64_t blk = blockIdx.x;
    const int qb = (int)(blk % nqb);
    const int h = (int)(blk / nqb % a.H);
    const int64_t g = blk / nqb / a.H;
    const int lg = threadIdx.x % G;
    const int qi = qb * qpb + threadIdx.x / G;
    const bool valid = qi < a.nq;
    const unsigned mask = ts_group_mask(G);

    float q[TS_ATTN_VMAX * VW], o[TS_ATTN_VMAX * VW];
    if (valid)
        ts_load_head<VW>(q, a.q + g * a.q_gs + (int64_t)qi * a.q_ld + h * hd, lg, G, nvec);
    else
        for (int i = 0; i < TS_ATTN_VMAX * VW; i++) q[i] = 0.0f;
    for (int i = 0; i < TS_ATTN_VMAX * VW; i++) o[i] = 0.0f;
    float m = -INFINITY, l = 0.0f;

    const float * kbase = a.k + g * a.kv_gs + h * hd;
    const float * vbase = a.v + g * a.kv_gs + h * hd;
    for (int k0 = 0; k0 < a.nk; k0 += a.kt) {
        int kt = a.nk - k0 < a.kt ? a.nk - k0 : a.kt;
        __syncthreads();  // the previous tile is no longer read
        for (int e = threadIdx.x; e < kt * (hd / VW); e += blockDim.x) {
            int j = e / (hd / VW), c = e % (hd / VW) * VW;
            ts_ld<VW>(ks + j * hd + c, kbase + (int64_t)(k0 + j) * a.kv_ld + c);
            ts_ld<VW>(vs + j * hd + c, vbase + (int64_t)(k0 + j) * a.kv_ld + c);
        }
        __syncthreads();
        for (int j0 = 0; j0 < kt; j0 += TS_ATTN_CHUNK) {
            float s[TS_ATTN_CHUNK];
#pragma unroll
            for (int c = 0; c < TS_ATTN_CHUNK; c++) {
                int j = j0 + c;
                float d = j < kt ? ts_dot_part<VW>(q, ks + j * hd, lg, G, nvec) : 0.0f;
                d = ts_group_sum(d, G, mask);
                s[c] = j < kt ? d * a.scale + (a.bias ? a.bias[k0 + j] : 0.0f) : -INFINITY;
            }
            float mx = m;
#pragma unroll
            for (int c = 0; c < TS_ATTN_CHUNK; c++) mx = fmaxf(mx, s[c]);
            if (mx == -INFINITY) continue;  // every key so far masked
            float corr = expf(m - mx);
            l *= corr;
            for (int i = 0; i < TS_ATTN_VMAX * VW; i++) o[i] *= corr;
            m = mx;
#pragma unroll
            for (int c = 0; c < TS_ATTN_CHUNK; c++) {
                if (s[c] == -INFINITY) continue;
                float p = expf(s[c] - mx);
                l += p;
                const float * vrow = vs + (j0 + c) * hd;
#pragma unroll
                for (int v = 0; v < TS_ATTN_VMAX; v++) {
                    int idx = lg + G * v;
                    if (idx < nvec) {
                        float vv[VW];
                        ts_ld<VW>(vv, vrow + idx * VW);
#pragma unroll
                        for (int w = 0; w < VW; w++) o[v * VW + w] = fmaf(p, vv[w], o[v * VW + w]);
                    }
                }
            }
        }
    }
    if (valid) ts_store_head<VW>(a.o + g * a.o_gs + (int64_t)qi * a.o_ld + h * hd, o, l, lg, G, nvec);
}

// Temporal attention: one query per (owned frame i, token n, head h), keys
// and values read straight from the slots of the frames in its window.
template <int VW>
static __global__ void __launch_bounds__(TS_ATTN_THREADS)
    k_attn_temporal(float * out, const float * qkv, int64_t T_own, int N, int H, int hd, int W, int causal, int64_t g0,
                    int64_t T_total, int G, int nvec, float scale) {
    const int D = H * hd;
    const int64_t ld = 3 * (int64_t)D;
    const int qpb = blockDim.x / G;
    const int64_t qidx = (int64_t)blockIdx.x * qpb + threadIdx.x / G;
    const int lg = threadIdx.x % G;
    if (qidx >= T_own * N * H) return;  // whole groups leave together
    const unsigned mask = ts_group_mask(G);
    const int h = (int)(qidx % H);
    const int n = (int)(qidx / H % N);
    const int64_t i = qidx / H / N;
    const int64_t gi = g0 + i;
    int64_t lo = gi - W > 0 ? gi - W : 0;
    int64_t hi = gi + W < T_total - 1 ? gi + W : T_total - 1;
    if (causal && hi > gi) hi = gi;

    float q[TS_ATTN_VMAX * VW], o[TS_ATTN_VMAX * VW];
    ts_load_head<VW>(q, qkv + ((W + i) * N + n) * ld + h * hd, lg, G, nvec);
    for (int e = 0; e < TS_ATTN_VMAX * VW; e++) o[e] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    for (int64_t gj = lo; gj <= hi; gj++) {
        const float * krow = qkv + ((gj - g0 + W) * N + n) * ld + D + h * hd;  // slot of frame gj: gj - g0 + W
        float d = ts_group_sum(ts_dot_part<VW>(q, krow, lg, G, nvec), G, mask);
        ts_online_add<VW>(m, l, o, d * scale, krow + D, lg, G, nvec);
    }
    ts_store_head<VW>(out + (i * N + n) * (int64_t)D + h * hd, o, l, lg, G, nvec);
}

// ---- launchers ------------------------------------------------------------------------------

// Lanes per query: the smallest power of two with at most TS_ATTN_VMAX vectors each.
static int ts_attn_lanes(int nvec) {
    int G = 1;
    while (G < 32 && G * TS_ATTN_VMAX < nvec) G *= 2;
    TS_ASSERT(G * TS_ATTN_VMAX >= nvec);  // head width <= 32 * VMAX * VW
    return G;
}

static bool ts_aligned16(const void * p) { return ((uintptr_t)p & 15u) == 0; }

static void ts_attn_rows_launch(ts_backend_t be, struct ts_attn_rows_args a) {
    if (a.nq <= 0 || a.groups <= 0 || a.H <= 0) return;
    // float4 when every row and head start is 16-byte aligned
    bool v4 = a.hd % 4 == 0 && a.q_ld % 4 == 0 && a.kv_ld % 4 == 0 && a.o_ld % 4 == 0 && a.q_gs % 4 == 0 &&
              a.kv_gs % 4 == 0 && a.o_gs % 4 == 0 && ts_aligned16(a.q) && ts_aligned16(a.k) && ts_aligned16(a.v) &&
              ts_aligned16(a.o);
    int VW = v4 ? 4 : 1;
    a.nvec = a.hd / VW;
    a.G = ts_attn_lanes(a.nvec);
    a.kt = TS_ATTN_SMEM_FLOATS / (2 * a.hd);
    if (a.kt < 1) a.kt = 1;
    if (a.kt > 128) a.kt = 128;
    size_t smem = (size_t)2 * a.kt * a.hd * sizeof(float);
    TS_ASSERT(smem <= 48 * 1024);
    int qpb = TS_ATTN_THREADS / a.G;
    int64_t blocks = a.groups * a.H * ((a.nq + qpb - 1) / qpb);
    TS_ASSERT(blocks <= INT32_MAX);
    cudaStream_t st = ts_cuda_stream_of(be);
    if (v4)
        k_attn_rows<4><<<(unsigned)blocks, TS_ATTN_THREADS, smem, st>>>(a);
    else
        k_attn_rows<1><<<(unsigned)blocks, TS_ATTN_THREADS, smem, st>>>(a);
    ts_cuda_check(cudaGetLastError());
}

void ts_cuda_attn_spatial(ts_backend_t be, float * out, const float * qkv, int64_t T, int N, int H, int hd) {
    if (ts_cuda_attn_spatial_tc(be, out, qkv, T, N, H, hd)) return;  // bf16/fp16 on tensor cores
    const int D = H * hd;
    struct ts_attn_rows_args a = {};
    a.q = qkv, a.k = qkv + D, a.v = qkv + 2 * D, a.o = out, a.bias = NULL;
    a.q_ld = a.kv_ld = 3 * D, a.o_ld = D;
    a.q_gs = a.kv_gs = (int64_t)N * 3 * D, a.o_gs = (int64_t)N * D;
    a.groups = T, a.nq = N, a.nk = N, a.H = H, a.hd = hd;
    a.scale = (float)(1.0 / sqrt((double)hd));
    ts_attn_rows_launch(be, a);
}

void ts_cuda_attn_cross(ts_backend_t be, float * out, const float * q, const float * kv, int64_t rows, int H, int hd,
                        int L, int n_valid, const float * bias) {
    TS_ASSERT(n_valid <= L);
    const int D = H * hd;
    if (rows <= 0) return;
    if (n_valid <= 0) {
        ts_cuda_check(cudaMemsetAsync(out, 0, (size_t)rows * D * sizeof(float), ts_cuda_stream_of(be)));
        return;
    }
    // rows in groups of at most 2^30 queries (the kernel's query index is an int)
    const int64_t chunk = (int64_t)1 << 30;
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        struct ts_attn_rows_args a = {};
        a.q = q + r0 * D, a.k = kv, a.v = kv + D, a.o = out + r0 * D, a.bias = bias;
        a.q_ld = D, a.kv_ld = 2 * D, a.o_ld = D;
        a.q_gs = a.kv_gs = a.o_gs = 0;
        a.groups = 1, a.nq = (int)(rows - r0 < chunk ? rows - r0 : chunk), a.nk = n_valid, a.H = H, a.hd = hd;
        a.scale = (float)(1.0 / sqrt((double)hd));
        ts_attn_rows_launch(be, a);
    }
}

void ts_cuda_attn_temporal(ts_backend_t be, float * out, const float * qkv, int64_t T_own, int N, int H, int hd, int W,
                           int causal, int64_t g0, int64_t T_total) {
    TS_ASSERT(W >= 0 && g0 >= 0 && g0 + T_own <= T_total);
    int64_t nq = T_own * N * H;
    if (nq <= 0) return;
    bool v4 = hd % 4 == 0 && ts_aligned16(qkv) && ts_aligned16(out);  // row strides 3D, D: multiples of hd
    int VW = v4 ? 4 : 1, nvec = hd / VW, G = ts_attn_lanes(nvec);
    int qpb = TS_ATTN_THREADS / G;
    int64_t blocks = (nq + qpb - 1) / qpb;
    TS_ASSERT(blocks <= INT32_MAX);
    float scale = (float)(1.0 / sqrt((double)hd));
    cudaStream_t st = ts_cuda_stream_of(be);
    if (v4)
        k_attn_temporal<4><<<(unsigned)blocks, TS_ATTN_THREADS, 0, st>>>(out, qkv, T_own, N, H, hd, W, causal, g0,
                                                                         T_total, G, nvec, scale);
    else
        k_attn_temporal<1><<<(unsigned)blocks, TS_ATTN_THREADS, 0, st>>>(out, qkv, T_own, N, H, hd, W, causal, g0,
                                                                         T_total, G, nvec, scale);
    ts_cuda_check(cudaGetLastError());
}
