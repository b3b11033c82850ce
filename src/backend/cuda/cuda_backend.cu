// CUDA backend: memory on one compute stream, the ops table, and the
// per-element and per-row ops (norms, modulation, activations, RoPE,
// patchify, upsampling). GEMM-based ops live in cuda_gemm.cu, attention in
// cuda_attn.cu. Every kernel computes an output from its own row (or group)
// only, with a fixed order, so a frame's values never depend on the frames
// passed with it. Elementwise arithmetic uses explicit _rn intrinsics (no FMA
// contraction) where the CPU reference multiplies then adds, so those ops
// round exactly as the CPU does; norms keep the CPU's double statistics.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend/cuda/cuda_internal.cuh"

#define TS_CUDA_THREADS 256  // threads per block of the elementwise and row kernels

// ---- kernels --------------------------------------------------------------------------------

// Sum of v over the block (blockDim.x a multiple of 32, <= 1024), in a fixed
// order; every thread gets the result. sh: 32 doubles of shared memory.
static __device__ double ts_block_sum(double v, double * sh) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();  // sh may still be read by a previous call
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : 0.0;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// One block per row: statistics in double (biased variance), then
// y = (x - mean) * rstd [* gamma] [+ beta] in float as the CPU.
static __global__ void k_layernorm(float * y, const float * x, const float * gamma, const float * beta, int64_t rows,
                                   int D, float eps) {
    __shared__ double sh[32];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float * xr = x + r * D;
        float * yr = y + r * D;
        double s = 0.0;
        for (int d = threadIdx.x; d < D; d += blockDim.x) s += xr[d];
        double mean = ts_block_sum(s, sh) / D;
        double ss = 0.0;
        for (int d = threadIdx.x; d < D; d += blockDim.x) {
            double dv = xr[d] - mean;
            ss += dv * dv;
        }
        ss = ts_block_sum(ss, sh);
        float m = (float)mean;
        float rstd = (float)(1.0 / sqrt(ss / D + (double)eps));
        __syncthreads();  // every thread has read row r before any writes it (y may alias x)
        for (int d = threadIdx.x; d < D; d += blockDim.x) {
            float v = __fmul_rn(__fsub_rn(xr[d], m), rstd);
            if (gamma) v = __fmul_rn(v, gamma[d]);
            if (beta) v = __fadd_rn(v, beta[d]);
            yr[d] = v;
        }
    }
}

// One block per (image, group): mean and rstd over HW x cpg, in double.
static __global__ void k_groupnorm_stats(float * stats, const float * x, int64_t B, int HW, int C, int groups,
                                         float eps) {
    __shared__ double sh[32];
    int cpg = C / groups;
    int64_t n = (int64_t)HW * cpg;
    for (int64_t bg = blockIdx.x; bg < B * groups; bg += gridDim.x) {
        const float * xb = x + (bg / groups) * HW * C + (int64_t)(bg % groups) * cpg;
        double s = 0.0;
        for (int64_t e = threadIdx.x; e < n; e += blockDim.x) s += xb[(e / cpg) * C + e % cpg];
        double mean = ts_block_sum(s, sh) / (double)n;
        double ss = 0.0;
        for (int64_t e = threadIdx.x; e < n; e += blockDim.x) {
            double dv = xb[(e / cpg) * C + e % cpg] - mean;
            ss += dv * dv;
        }
        ss = ts_block_sum(ss, sh);
        if (threadIdx.x == 0) {
            stats[2 * bg] = (float)mean;
            stats[2 * bg + 1] = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
        }
    }
}

static __global__ void k_groupnorm_apply(float * y, const float * x, const float * stats, int64_t B, int HW, int C,
                                         int groups, const float * gamma, const float * beta) {
    int cpg = C / groups;
    int64_t n = B * HW * C;
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
        int c = (int)(e % C);
        const float * st = stats + 2 * ((e / C / HW) * groups + c / cpg);
        float v = __fmul_rn(__fsub_rn(x[e], st[0]), st[1]);
        if (gamma) v = __fmul_rn(v, gamma[c]);
        if (beta) v = __fadd_rn(v, beta[c]);
        y[e] = v;
    }
}

#define TS_GRID_STRIDE(e, n) \
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < (n); e += (int64_t)gridDim.x * blockDim.x)

static __global__ void k_modulate(float * y, const float * x, const float * shift, const float * scale, int ld,
                                  int64_t T, int N, int D) {
    TS_GRID_STRIDE(e, T * N * D) {
        int64_t t = e / ((int64_t)N * D);
        int d = (int)(e % D);
        y[e] = __fadd_rn(__fmul_rn(x[e], __fadd_rn(1.0f, scale[t * ld + d])), shift[t * ld + d]);
    }
}

static __global__ void k_gate_add(float * x, const float * y, const float * gate, int ld, int64_t T, int N, int D) {
    TS_GRID_STRIDE(e, T * N * D) {
        if (gate) {
            int64_t t = e / ((int64_t)N * D);
            x[e] = __fadd_rn(x[e], __fmul_rn(gate[t * ld + e % D], y[e]));
        } else {
            x[e] = __fadd_rn(x[e], y[e]);
        }
    }
}

static __global__ void k_gelu(float * x, int64_t n) {
    const float k0 = 0.7978845608028654f;  // sqrt(2/pi)
    TS_GRID_STRIDE(e, n) {
        float v = x[e];
        float inner = __fmul_rn(k0, __fadd_rn(v, __fmul_rn(__fmul_rn(__fmul_rn(0.044715f, v), v), v)));
        x[e] = __fmul_rn(__fmul_rn(0.5f, v), __fadd_rn(1.0f, tanhf(inner)));
    }
}

static __global__ void k_silu(float * x, int64_t n) {
    TS_GRID_STRIDE(e, n) { x[e] = __fdiv_rn(x[e], __fadd_rn(1.0f, expf(-x[e]))); }
}

static __global__ void k_axpby(float * y, float a, const float * x, float b, int64_t n) {
    TS_GRID_STRIDE(e, n) { y[e] = __fadd_rn(__fmul_rn(a, x[e]), __fmul_rn(b, y[e])); }
}

// One thread per (row, head, pair).
static __global__ void k_rope(float * x, int ld, int64_t rows, int H, int hd, const float * cos_tab,
                              const float * sin_tab, int64_t pos_div, int64_t pos_mod) {
    int half = hd / 2;
    TS_GRID_STRIDE(e, rows * H * half) {
        int64_t r = e / ((int64_t)H * half);
        int h = (int)(e / half % H), i = (int)(e % half);
        int64_t tr = (r / pos_div) % pos_mod;
        float c = cos_tab[tr * half + i], s = sin_tab[tr * half + i];
        float * xh = x + r * ld + (int64_t)h * hd;
        float x0 = xh[2 * i], x1 = xh[2 * i + 1];
        xh[2 * i] = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
        xh[2 * i + 1] = __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c));
    }
}

// tok (T, N, p*p*C) <-> img (T, h, w, C), one thread per value.
static __global__ void k_patch(float * tok, float * img, int64_t T, int h, int w, int C, int p, int to_tokens) {
    int gw = w / p, gh = h / p, ppc = p * p * C;
    TS_GRID_STRIDE(e, T * gh * gw * ppc) {
        int64_t tn = e / ppc;
        int rem = (int)(e % ppc);
        int py = rem / (p * C), px = rem / C % p, c = rem % C;
        int64_t t = tn / (gh * gw);
        int n = (int)(tn % (gh * gw));
        int64_t ie = ((t * h + (int64_t)(n / gw) * p + py) * w + (int64_t)(n % gw) * p + px) * C + c;
        if (to_tokens)
            tok[e] = img[ie];
        else
            img[ie] = tok[e];
    }
}

static __global__ void k_upsample2x(float * out, const float * in, int64_t B, int H, int W, int C) {
    TS_GRID_STRIDE(e, B * 4 * H * W * C) {
        int c = (int)(e % C);
        int64_t px = e / C;
        int ox = (int)(px % (2 * W));
        int64_t orow = px / (2 * W);
        int oy = (int)(orow % (2 * H));
        int64_t b = orow / (2 * H);
        out[e] = in[((b * H + oy / 2) * W + ox / 2) * C + c];
    }
}

// ---- launchers ------------------------------------------------------------------------------

static void cuda_layernorm(ts_backend_t be, float * y, const float * x, const float * gamma, const float * beta,
                           int64_t rows, int D, float eps) {
    if (rows <= 0 || D <= 0) return;
    int threads = D >= 512 ? 512 : D > 128 ? 256 : D > 32 ? 128 : 32;
    k_layernorm<<<ts_cuda_blocks(rows, 1), threads, 0, ts_cuda_stream_of(be)>>>(y, x, gamma, beta, rows, D, eps);
    ts_cuda_check(cudaGetLastError());
}

static void cuda_groupnorm(ts_backend_t be, float * y, const float * x, int64_t B, int HW, int C, int groups,
                           const float * gamma, const float * beta, float eps) {
    TS_ASSERT(groups > 0 && C % groups == 0);
    if (B <= 0 || HW <= 0) return;
    float * stats = (float *)ts_cuda_scratch(be, (size_t)(B * groups) * 2 * sizeof(float));
    cudaStream_t st = ts_cuda_stream_of(be);
    k_groupnorm_stats<<<ts_cuda_blocks(B * groups, 1), 512, 0, st>>>(stats, x, B, HW, C, groups, eps);
    ts_cuda_check(cudaGetLastError());
    k_groupnorm_apply<<<ts_cuda_blocks(B * HW * C, TS_CUDA_THREADS), TS_CUDA_THREADS, 0, st>>>(y, x, stats, B, HW, C,
                                                                                               groups, gamma, beta);
    ts_cuda_check(cudaGetLastError());
}

static void cuda_modulate(ts_backend_t be, float * y, const float * x, const float * shift, const float * scale, int ld,
                          int64_t T, int N, int D) {
    if (T * N * D <= 0) return;
    k_modulate<<<ts_cuda_blocks(T * N * D, TS_CUDA_THREADS), TS_CUDA_THREADS, 0, ts_cuda_stream_of(be)>>>(
        y, x, shift, scale, ld, T, N, D);
    ts_cuda_check(cudaGetLastError());
}

static void cuda_gate_add(ts_backend_t be, float * x, const float * y, const float * gate, int ld, int64_t T, int N,
                          int D) {
    if (T * N * D <= 0) return;
    k_gate_add<<<ts_cuda_blocks(T * N * D, TS_CUDA_THREADS), TS_CUDA_THREADS, 0, ts_cuda_stream_of(be)>>>(x, y, gate,
                                                                                                          ld, T, N, D);
    ts_cuda_check(cudaGetLastError());
}

static void cuda_gelu(ts_backend_t be, float * x, int64_t n) {
    if (n <= 0) return;
    k_gelu<<<ts_cuda_blocks(n, TS_CUDA_THREADS), TS_CUDA_THREADS, 0, ts_cuda_stream_of(be)>>>(x, n);
    ts_cuda_check(cudaGetLastError());
}

static void cuda_silu(ts_backend_t be, float * x, int64_t n) {
    if (n <= 0) return;
    k_silu<<<ts_cuda_blocks(n, TS_CUDA_THREADS), TS_CUDA_THREADS, 0, ts_cuda_stream_of(be)>>>(x, n);
    ts_cuda_check(cudaGetLastError());
}

static void cuda_axpby(ts_backend_t be, float * y, float a, const float * x, float b, int64_t n) {
    if (n <= 0) return;
    k_axpby<<<ts_cuda_blocks(n, TS_CUDA_THREADS), TS_CUDA_THREADS, 0, ts_cuda_stream_of(be)>>>(y, a, x, b, n);
    ts_cuda_check(cudaGetLastError());
}

static void cuda_rope(ts_backend_t be, float * x, int ld, int64_t rows, int H, int hd, const float * cos_tab,
                      const float * sin_tab, int64_t pos_div, int64_t pos_mod) {
    TS_ASSERT(hd % 2 == 0 && pos_div > 0 && pos_mod > 0);
    int64_t n = rows * H * (hd / 2);
    if (n <= 0) return;
    k_rope<<<ts_cuda_blocks(n, TS_CUDA_THREADS), TS_CUDA_THREADS, 0, ts_cuda_stream_of(be)>>>(
        x, ld, rows, H, hd, cos_tab, sin_tab, pos_div, pos_mod);
    ts_cuda_check(cudaGetLastError());
}

static void cuda_patch(ts_backend_t be, float * tok, float * img, int64_t T, int h, int w, int C, int p,
                       int to_tokens) {
    TS_ASSERT(p > 0 && h % p == 0 && w % p == 0);
    int64_t n = T * h * w * C;
    if (n <= 0) return;
    k_patch<<<ts_cuda_blocks(n, TS_CUDA_THREADS), TS_CUDA_THREADS, 0, ts_cuda_stream_of(be)>>>(tok, img, T, h, w, C, p,
                                                                                               to_tokens);
    ts_cuda_check(cudaGetLastError());
}

static void cuda_patchify(ts_backend_t be, float * out, const float * in, int64_t T, int h, int w, int C, int p) {
    cuda_patch(be, out, (float *)in, T, h, w, C, p, 1);
}

static void cuda_unpatchify(ts_backend_t be, float * out, const float * in, int64_t T, int h, int w, int C, int p) {
    cuda_patch(be, (float *)in, out, T, h, w, C, p, 0);
}

static void cuda_upsample2x(ts_backend_t be, float * out, const float * in, int64_t B, int H, int W, int C) {
    int64_t n = B * 4 * H * W * C;
    if (n <= 0) return;
    k_upsample2x<<<ts_cuda_blocks(n, TS_CUDA_THREADS), TS_CUDA_THREADS, 0, ts_cuda_stream_of(be)>>>(out, in, B, H, W,
                                                                                                    C);
    ts_cuda_check(cudaGetLastError());
}

// ---- memory -------------------------------------------------------------------------------------

static void * cuda_alloc(ts_backend_t be, size_t bytes) {
    struct ts_cuda_ctx * c = ts_cuda_ctx_of(be);
    size_t sz = (bytes + 255) / 256 * 256;
    if (sz == 0) sz = 256;
    void * p = NULL;
    cudaError_t e = cudaMalloc(&p, sz);
    if (e != cudaSuccess) {
        size_t free_b = 0, total_b = 0;
        cudaGetLastError();  // clear it
        cudaMemGetInfo(&free_b, &total_b);
        ts_abort(__FILE__, __LINE__, "out of GPU memory allocating %zu bytes on device %d (%.2f of %.2f GiB free): %s",
                 sz, c->device, free_b / 1073741824.0, total_b / 1073741824.0, cudaGetErrorString(e));
    }
    ts_cuda_check(cudaMemsetAsync(p, 0, sz, c->stream));
    return p;
}

static void cuda_release(ts_backend_t be, void * p) {
    if (!p) return;
    ts_cuda_check(cudaStreamSynchronize(ts_cuda_stream_of(be)));  // queued work may still use p
    ts_cuda_weights_forget(be, p, 1);
    ts_cuda_check(cudaFree(p));
}

// Host buffers may be reused as soon as upload returns, and download's result is
// read at once: both wait for the stream.
static void cuda_upload(ts_backend_t be, void * dst, const void * src, size_t bytes) {
    if (!bytes) return;
    ts_cuda_weights_forget(be, dst, bytes);
    cudaStream_t st = ts_cuda_stream_of(be);
    ts_cuda_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, st));
    ts_cuda_check(cudaStreamSynchronize(st));
}

static void cuda_download(ts_backend_t be, void * dst, const void * src, size_t bytes) {
    if (!bytes) return;
    cudaStream_t st = ts_cuda_stream_of(be);
    ts_cuda_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, st));
    ts_cuda_check(cudaStreamSynchronize(st));
}

// Device to device on the stream; overlapping ranges (the CPU's memmove) go through scratch.
static void cuda_copy(ts_backend_t be, void * dst, const void * src, size_t bytes) {
    if (!bytes || dst == src) return;
    cudaStream_t st = ts_cuda_stream_of(be);
    const char *d = (const char *)dst, *s = (const char *)src;
    ts_cuda_weights_forget(be, dst, bytes);
    if (d < s + bytes && s < d + bytes) {
        void * tmp = ts_cuda_scratch(be, bytes);
        ts_cuda_check(cudaMemcpyAsync(tmp, src, bytes, cudaMemcpyDefault, st));
        src = tmp;
    }
    ts_cuda_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, st));
}

static void cuda_sync(ts_backend_t be) { ts_cuda_check(cudaStreamSynchronize(ts_cuda_stream_of(be))); }

void * ts_cuda_grow(struct ts_cuda_ctx * c, void ** buf, size_t * cap, size_t bytes) {
    if (bytes > *cap) {
        size_t sz = (bytes + ((size_t)1 << 20) - 1) & ~(((size_t)1 << 20) - 1);  // whole MiB
        if (*buf) {
            ts_cuda_check(cudaStreamSynchronize(c->stream));
            ts_cuda_check(cudaFree(*buf));
            *buf = NULL;
        }
        cudaError_t e = cudaMalloc(buf, sz);
        if (e != cudaSuccess)
            ts_abort(__FILE__, __LINE__, "out of GPU memory allocating %zu bytes of scratch: %s", sz,
                     cudaGetErrorString(e));
        *cap = sz;
    }
    return *buf;
}

void * ts_cuda_scratch(ts_backend_t be, size_t bytes) {
    struct ts_cuda_ctx * c = ts_cuda_ctx_of(be);
    return ts_cuda_grow(c, &c->scratch, &c->scratch_bytes, bytes);
}

// ---- the backend --------------------------------------------------------------------------------

static void cuda_free(ts_backend_t be) {
    struct ts_cuda_ctx * c = ts_cuda_ctx_of(be);
    if (c) {
        cudaStreamSynchronize(c->stream);
        if (c->scratch) cudaFree(c->scratch);
        if (c->lp_x) cudaFree(c->lp_x);
        ts_cuda_weights_free_all(c);
        if (c->cublas) cublasDestroy(c->cublas);
        if (c->stream) cudaStreamDestroy(c->stream);
        free(c);
    }
    free(be);
}

static const struct ts_backend_ops ts_cuda_ops = {
    /* .name = */ "cuda",
    /* .free = */ cuda_free,
    /* .alloc = */ cuda_alloc,
    /* .release = */ cuda_release,
    /* .upload = */ cuda_upload,
    /* .download = */ cuda_download,
    /* .copy = */ cuda_copy,
    /* .sync = */ cuda_sync,
    /* .linear = */ ts_cuda_linear,
    /* .layernorm = */ cuda_layernorm,
    /* .modulate = */ cuda_modulate,
    /* .gate_add = */ cuda_gate_add,
    /* .gelu = */ cuda_gelu,
    /* .silu = */ cuda_silu,
    /* .axpby = */ cuda_axpby,
    /* .rope = */ cuda_rope,
    /* .attn_spatial = */ ts_cuda_attn_spatial,
    /* .attn_temporal = */ ts_cuda_attn_temporal,
    /* .attn_cross = */ ts_cuda_attn_cross,
    /* .patchify = */ cuda_patchify,
    /* .unpatchify = */ cuda_unpatchify,
    /* .conv2d = */ ts_cuda_conv2d,
    /* .groupnorm = */ cuda_groupnorm,
    /* .upsample2x = */ cuda_upsample2x,
    /* .weights = */ ts_cuda_weights,
};

static const char * const ts_cuda_dtype_names[TS_CUDA_DTYPE_COUNT] = {"fp32", "tf32", "bf16", "fp16"};

extern "C" const char * ts_cuda_dtype_name(enum ts_cuda_dtype t) {
    return (unsigned)t < TS_CUDA_DTYPE_COUNT ? ts_cuda_dtype_names[t] : "?";
}

extern "C" int ts_cuda_dtype_from_str(const char * s) {
    for (int i = 0; i < TS_CUDA_DTYPE_COUNT; i++)
        if (s && strcmp(s, ts_cuda_dtype_names[i]) == 0) return i;
    return -1;
}

// Why no device is usable, in words (err from cudaGetDeviceCount).
static void ts_cuda_why(cudaError_t err, char * why, size_t n) {
    int drv = 0, rt = 0;
    cudaDriverGetVersion(&drv);
    cudaRuntimeGetVersion(&rt);
    if (drv == 0 && err != cudaSuccess && err != cudaErrorNoDevice)
        snprintf(why, n, "no NVIDIA driver found (libcuda); this build needs one for CUDA %d.%d or newer (%s)",
                 rt / 1000, rt % 1000 / 10, cudaGetErrorString(err));
    else if (err == cudaErrorInsufficientDriver || err == cudaErrorCompatNotSupportedOnDevice || (drv > 0 && drv < rt))
        snprintf(why, n, "CUDA driver/runtime mismatch: the driver supports CUDA %d.%d, this build needs %d.%d (%s)",
                 drv / 1000, drv % 1000 / 10, rt / 1000, rt % 1000 / 10, cudaGetErrorString(err));
    else if (err == cudaErrorNoDevice || err == cudaSuccess)
        snprintf(why, n, "no CUDA device found (driver CUDA %d.%d)", drv / 1000, drv % 1000 / 10);
    else
        snprintf(why, n, "CUDA is not usable: %s (%s)", cudaGetErrorString(err), cudaGetErrorName(err));
}

extern "C" int ts_cuda_device_count(char * why, size_t why_n) {
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess || n <= 0) {
        cudaGetLastError();  // clear the sticky-free error state
        if (why && why_n) ts_cuda_why(err, why, why_n);
        return 0;
    }
    if (why && why_n) why[0] = '\0';
    return n;
}

extern "C" void ts_cuda_device_describe(int i, char * buf, size_t n) {
    cudaDeviceProp p;
    int drv = 0, rt = 0;
    cudaDriverGetVersion(&drv);
    cudaRuntimeGetVersion(&rt);
    cudaError_t err = cudaGetDeviceProperties(&p, i);
    if (err != cudaSuccess) {
        cudaGetLastError();
        snprintf(buf, n, "device %d: %s", i, cudaGetErrorString(err));
        return;
    }
    snprintf(buf, n, "%s, %.1f GiB, sm_%d%d, %d SMs, driver %d.%d, runtime %d.%d", p.name,
             p.totalGlobalMem / 1073741824.0, p.major, p.minor, p.multiProcessorCount, drv / 1000, drv % 1000 / 10,
             rt / 1000, rt % 1000 / 10);
}

extern "C" ts_backend_t ts_backend_cuda_new(int device) {
    char why[256];
    int n = ts_cuda_device_count(why, sizeof why);
    if (n == 0) {
        ts_error(TS_ERR_ARG, "use --backend cpu, or run on a machine with an NVIDIA GPU and a recent driver", "%s",
                 why);
        return NULL;
    }
    if (device < 0 || device >= n) {
        ts_error(TS_ERR_ARG, "'timeshard devices' lists the devices", "CUDA device %d does not exist (%d found)",
                 device, n);
        return NULL;
    }
    cudaError_t err = cudaSetDevice(device);
    cudaStream_t stream = NULL;
    if (err == cudaSuccess) err = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
    if (err != cudaSuccess) {
        cudaGetLastError();
        ts_cuda_why(err, why, sizeof why);
        ts_error(TS_ERR_ARG, "use --backend cpu; check nvidia-smi", "CUDA device %d cannot be used: %s", device, why);
        return NULL;
    }
    cublasHandle_t h = NULL;
    cublasStatus_t bs = cublasCreate(&h);
    if (bs != CUBLAS_STATUS_SUCCESS) {
        cudaStreamDestroy(stream);
        ts_error(TS_ERR_ARG, "use --backend cpu; check the cuBLAS installation", "cuBLAS cannot start on device %d: %s",
                 device, cublasGetStatusString(bs));
        return NULL;
    }
    ts_cublas_check(cublasSetStream(h, stream));
    ts_cublas_check(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST));
    struct ts_cuda_ctx * c = (struct ts_cuda_ctx *)ts_calloc(1, sizeof *c);
    c->device = device;
    c->stream = stream;
    c->cublas = h;
    ts_cuda_check(cudaDeviceGetAttribute(&c->sm_count, cudaDevAttrMultiProcessorCount, device));
    ts_cuda_check(cudaDeviceGetAttribute(&c->cc_major, cudaDevAttrComputeCapabilityMajor, device));
    struct ts_backend * be = (struct ts_backend *)ts_calloc(1, sizeof *be);
    be->ops = &ts_cuda_ops;
    be->ctx = c;
    be->threads = 1;
    ts_backend_cuda_set_dtype(be, TS_CUDA_DTYPE_FP32);
    return be;
}

extern "C" int ts_backend_is_cuda(ts_backend_t be) { return be && be->ops == &ts_cuda_ops; }

extern "C" void ts_backend_cuda_set_dtype(ts_backend_t be, enum ts_cuda_dtype t) {
    TS_ASSERT(ts_backend_is_cuda(be) && (unsigned)t < TS_CUDA_DTYPE_COUNT);
    struct ts_cuda_ctx * c = ts_cuda_ctx_of(be);
    c->dtype = t;
    // fp32: exactly the prescribed type, no TF32 even with NVIDIA_TF32_OVERRIDE
    ts_cublas_check(cublasSetMathMode(c->cublas, t == TS_CUDA_DTYPE_FP32 ? CUBLAS_PEDANTIC_MATH : CUBLAS_DEFAULT_MATH));
}

extern "C" void * ts_backend_cuda_stream(ts_backend_t be) {
    TS_ASSERT(ts_backend_is_cuda(be));
    return (void *)ts_cuda_stream_of(be);
}

extern "C" int ts_backend_cuda_device(ts_backend_t be) {
    TS_ASSERT(ts_backend_is_cuda(be));
    return ts_cuda_ctx_of(be)->device;
}
