// Spatial attention on tensor cores, for the bf16 and fp16 compute types: a
// flash-attention-2 style kernel on mma.sync.m16n8k16 (sm_80 and later), with
// Q, K and V read as fp32, rounded to 16 bits on the way to registers and
// shared memory, scores, softmax and the output accumulated in fp32.
//
// Block: NW warps, 16 queries each, of one (frame, head); keys in tiles of
// TS_TC_BK through shared memory (K row-major, V transposed, both padded so
// that the fragment reads hit 32 distinct banks). Scores and the output stay
// in registers: the accumulator layout of S = Q K^T is the A-operand layout of
// P V, so P never leaves the registers (PTX ISA, "Matrix Fragments for
// mma.m16n8k16"): lane l, g = l / 4, t = l % 4,
//   A (16x16): a0 = (g, 2t..2t+1), a1 = (g+8, 2t..), a2 = (g, 2t+8..), a3 = (g+8, 2t+8..)
//   B (16x8):  b0 = (k 2t..2t+1, n g), b1 = (k 2t+8..2t+9, n g)
//   C (16x8):  c0,c1 = (g, 2t..2t+1), c2,c3 = (g+8, 2t..2t+1)
// A query's result depends only on its row and its frame's keys, visited in
// index order: never on the frames passed with it (docs/ARCHITECTURE.md property 3).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>

#include "backend/cuda/cuda_internal.cuh"

#define TS_TC_BK 64  // keys per shared-memory tile
#define TS_TC_NW 4   // warps per block (16 queries each)

template <typename T>
static __device__ __forceinline__ uint32_t ts_pack2(float lo, float hi);

template <>
__device__ __forceinline__ uint32_t ts_pack2<__nv_bfloat16>(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x = lo: the lower 16 bits
    return *reinterpret_cast<uint32_t *>(&v);
}

template <>
__device__ __forceinline__ uint32_t ts_pack2<__half>(float lo, float hi) {
    __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}

template <typename T>
static __device__ __forceinline__ T ts_to16(float x);
template <>
__device__ __forceinline__ __nv_bfloat16 ts_to16<__nv_bfloat16>(float x) {
    return __float2bfloat16_rn(x);
}
template <>
__device__ __forceinline__ __half ts_to16<__half>(float x) {
    return __float2half_rn(x);
}

// d += a (16x16) * b (16x8), fp32 accumulators.
template <typename T>
static __device__ __forceinline__ void ts_mma(float * d, const uint32_t * a, uint32_t b0, uint32_t b1);

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define TS_MMA_BODY(AB)                                                                                     \
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32." AB "." AB ".f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, " \
                 "{%8,%9}, {%0,%1,%2,%3};\n"                                                                  \
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])                                            \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1))
#else
#define TS_MMA_BODY(AB) __trap()
#endif
template <>
__device__ __forceinline__ void ts_mma<__nv_bfloat16>(float * d, const uint32_t * a, uint32_t b0, uint32_t b1) {
    TS_MMA_BODY("bf16");
}
template <>
__device__ __forceinline__ void ts_mma<__half>(float * d, const uint32_t * a, uint32_t b0, uint32_t b1) {
    TS_MMA_BODY("f16");
}
#undef TS_MMA_BODY

// qkv rows (T frames of N tokens, row stride 3D: q | k | v); out rows of D.
// Grid: T * H * ceil(N / (16 NW)) blocks of 32 NW threads.
template <typename T, int HD>
static __global__ void __launch_bounds__(32 * TS_TC_NW)
    k_attn_spatial_tc(float * out, const float * qkv, int N, int H, float scale_log2) {
    constexpr int KS = HD + 8;        // K row stride (16-bit elements): fragment reads conflict-free
    constexpr int VS = TS_TC_BK + 8;  // V^T row stride
    __shared__ __align__(16) T ks[TS_TC_BK * KS];
    __shared__ __align__(16) T vt[HD * VS];

    const int D = H * HD;
    const int64_t ld = 3 * (int64_t)D;
    const int nqb = (N + 16 * TS_TC_NW - 1) / (16 * TS_TC_NW);
    const int qb = blockIdx.x % nqb;
    const int h = blockIdx.x / nqb % H;
    const int64_t f = blockIdx.x / nqb / H;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = lane >> 2, t = lane & 3;
    const float * base = qkv + f * N * ld + h * HD;  // q of token 0; k at +D, v at +2D
    const int r0 = qb * 16 * TS_TC_NW + warp * 16 + g, r1 = r0 + 8;

    // Q as A fragments, one per 16 columns of the head
    uint32_t qa[HD / 16][4];
#pragma unroll
    for (int kk = 0; kk < HD / 16; kk++) {
        int c = kk * 16 + 2 * t;
        float2 x0 = r0 < N ? *reinterpret_cast<const float2 *>(base + r0 * ld + c) : make_float2(0.f, 0.f);
        float2 x1 = r1 < N ? *reinterpret_cast<const float2 *>(base + r1 * ld + c) : make_float2(0.f, 0.f);
        float2 x2 = r0 < N ? *reinterpret_cast<const float2 *>(base + r0 * ld + c + 8) : make_float2(0.f, 0.f);
        float2 x3 = r1 < N ? *reinterpret_cast<const float2 *>(base + r1 * ld + c + 8) : make_float2(0.f, 0.f);
        qa[kk][0] = ts_pack2<T>(x0.x, x0.y);
        qa[kk][1] = ts_pack2<T>(x1.x, x1.y);
        qa[kk][2] = ts_pack2<T>(x2.x, x2.y);
        qa[kk][3] = ts_pack2<T>(x3.x, x3.y);
    }
    float o[HD / 8][4];
#pragma unroll
    for (int i = 0; i < HD / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;  // rows r0, r1 (l: this lane's part)

    for (int k0 = 0; k0 < N; k0 += TS_TC_BK) {
        __syncthreads();  // the previous tile is no longer read
        for (int e = threadIdx.x; e < TS_TC_BK * (HD / 4); e += 32 * TS_TC_NW) {
            int j = e / (HD / 4), c = e % (HD / 4) * 4;
            float4 kv = make_float4(0.f, 0.f, 0.f, 0.f), vv = kv;  // keys past N: zeros (their p is 0)
            if (k0 + j < N) {
                const float * row = base + (int64_t)(k0 + j) * ld + c;
                kv = *reinterpret_cast<const float4 *>(row + D);
                vv = *reinterpret_cast<const float4 *>(row + 2 * D);
            }
            uint32_t * kd = reinterpret_cast<uint32_t *>(ks + j * KS + c);
            kd[0] = ts_pack2<T>(kv.x, kv.y);
            kd[1] = ts_pack2<T>(kv.z, kv.w);
            vt[(c + 0) * VS + j] = ts_to16<T>(vv.x);
            vt[(c + 1) * VS + j] = ts_to16<T>(vv.y);
            vt[(c + 2) * VS + j] = ts_to16<T>(vv.z);
            vt[(c + 3) * VS + j] = ts_to16<T>(vv.w);
        }
        __syncthreads();

        // S = Q K^T: 16 rows x BK keys, in BK/8 accumulator tiles
        float s[TS_TC_BK / 8][4];
#pragma unroll
        for (int nt = 0; nt < TS_TC_BK / 8; nt++) {
            s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
            const T * krow = ks + (nt * 8 + g) * KS + 2 * t;
#pragma unroll
            for (int kk = 0; kk < HD / 16; kk++) {
                uint32_t b0 = *reinterpret_cast<const uint32_t *>(krow + kk * 16);
                uint32_t b1 = *reinterpret_cast<const uint32_t *>(krow + kk * 16 + 8);
                ts_mma<T>(s[nt], qa[kk], b0, b1);
            }
        }
        // online softmax in base 2: x = s * scale * log2(e); keys past N masked
        float mx0 = m0, mx1 = m1;
#pragma unroll
        for (int nt = 0; nt < TS_TC_BK / 8; nt++) {
#pragma unroll
            for (int i = 0; i < 4; i++) {
                int key = k0 + nt * 8 + 2 * t + (i & 1);
                s[nt][i] = key < N ? s[nt][i] * scale_log2 : -INFINITY;
            }
            mx0 = fmaxf(mx0, fmaxf(s[nt][0], s[nt][1]));
            mx1 = fmaxf(mx1, fmaxf(s[nt][2], s[nt][3]));
        }
        // the row's maximum over the 4 lanes that hold it (every tile has a key < N: finite)
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
        float c0 = exp2f(m0 - mx0), c1 = exp2f(m1 - mx1);  // 0 on the first tile
        m0 = mx0, m1 = mx1;
        l0 *= c0, l1 *= c1;
#pragma unroll
        for (int i = 0; i < HD / 8; i++) o[i][0] *= c0, o[i][1] *= c0, o[i][2] *= c1, o[i][3] *= c1;
        // P (rounded to 16 bits) as A fragments of P V, 16 keys each
        uint32_t pa[TS_TC_BK / 16][4];
#pragma unroll
        for (int nt = 0; nt < TS_TC_BK / 8; nt++) {
            float p0 = exp2f(s[nt][0] - m0), p1 = exp2f(s[nt][1] - m0);
            float p2 = exp2f(s[nt][2] - m1), p3 = exp2f(s[nt][3] - m1);
            l0 += p0 + p1, l1 += p2 + p3;
            pa[nt / 2][(nt & 1) * 2 + 0] = ts_pack2<T>(p0, p1);  // row g:   a0 (keys 2t..) / a2 (keys 2t+8..)
            pa[nt / 2][(nt & 1) * 2 + 1] = ts_pack2<T>(p2, p3);  // row g+8: a1 / a3
        }
        // O += P V: HD/8 accumulator tiles of 8 columns
#pragma unroll
        for (int dt = 0; dt < HD / 8; dt++) {
            const T * vrow = vt + (dt * 8 + g) * VS + 2 * t;
#pragma unroll
            for (int kb = 0; kb < TS_TC_BK / 16; kb++) {
                uint32_t b0 = *reinterpret_cast<const uint32_t *>(vrow + kb * 16);
                uint32_t b1 = *reinterpret_cast<const uint32_t *>(vrow + kb * 16 + 8);
                ts_mma<T>(o[dt], pa[kb], b0, b1);
            }
        }
    }
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    float i0 = 1.0f / l0, i1 = 1.0f / l1;  // l >= 1: the row's maximum contributes exp2(0)
    float * obase = out + f * N * (int64_t)D + h * HD + 2 * t;
#pragma unroll
    for (int dt = 0; dt < HD / 8; dt++) {
        if (r0 < N) *reinterpret_cast<float2 *>(obase + (int64_t)r0 * D + dt * 8) = make_float2(o[dt][0] * i0, o[dt][1] * i0);
        if (r1 < N) *reinterpret_cast<float2 *>(obase + (int64_t)r1 * D + dt * 8) = make_float2(o[dt][2] * i1, o[dt][3] * i1);
    }
}

template <typename T, int HD>
static void ts_attn_tc_launch(cudaStream_t st, float * out, const float * qkv, int64_t T_, int N, int H, float sl2) {
    int64_t nqb = (N + 16 * TS_TC_NW - 1) / (16 * TS_TC_NW);
    int64_t blocks = T_ * H * nqb;
    TS_ASSERT(blocks <= INT32_MAX);
    k_attn_spatial_tc<T, HD><<<(unsigned)blocks, 32 * TS_TC_NW, 0, st>>>(out, qkv, N, H, sl2);
}

// Runs the tensor-core kernel when it applies (16-bit compute type, head width
// 16/32/64/128, qkv 16-byte and out 8-byte aligned, a device of compute capability 8.0 or
// later) and returns 1; else returns 0 and the caller runs the fp32 kernel.
int ts_cuda_attn_spatial_tc(ts_backend_t be, float * out, const float * qkv, int64_t T, int N, int H, int hd) {
    struct ts_cuda_ctx * c = ts_cuda_ctx_of(be);
    bool half = c->dtype == TS_CUDA_DTYPE_FP16;
    if (!(c->dtype == TS_CUDA_DTYPE_BF16 || half) || c->cc_major < 8) return 0;
    if (((uintptr_t)qkv & 15u) || ((uintptr_t)out & 7u) || N <= 0 || T <= 0) return 0;
    float sl2 = (float)(1.4426950408889634 / sqrt((double)hd));
    cudaStream_t st = c->stream;
#define TS_TC_CASE(HDV)                                                   \
    case HDV:                                                             \
        if (half)                                                         \
            ts_attn_tc_launch<__half, HDV>(st, out, qkv, T, N, H, sl2);   \
        else                                                              \
            ts_attn_tc_launch<__nv_bfloat16, HDV>(st, out, qkv, T, N, H, sl2); \
        break;
    switch (hd) {
        TS_TC_CASE(16)
        TS_TC_CASE(32)
        TS_TC_CASE(64)
        TS_TC_CASE(128)
        default:
            return 0;
    }
#undef TS_TC_CASE
    ts_cuda_check(cudaGetLastError());
    return 1;
}
