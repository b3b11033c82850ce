// The CUDA backend as the rest of the engine (plain C) sees it: creation,
// device listing, and the handles the NCCL communicator needs. The ops are
// those of backend.h; the CPU backend is the reference they are tested against.
#pragma once
#include <stddef.h>

#include "backend/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

// Compute types of the CUDA backend. Storage is float32 in every case (the
// ops table's contract); the type says how GEMMs compute (cuBLAS, fp32
// accumulation): FP32 exactly (no TF32), the others on tensor cores with
// inputs rounded to TF32 / bf16 / fp16. With bf16/fp16 the GEMMs read 16-bit
// copies of the weights (ops->weights) and the spatial attention runs on tensor
// cores (16-bit Q, K, V, P; fp32 softmax and sums); the other kernels stay fp32.
enum ts_cuda_dtype {
    TS_CUDA_DTYPE_FP32,
    TS_CUDA_DTYPE_TF32,
    TS_CUDA_DTYPE_BF16,
    TS_CUDA_DTYPE_FP16,
    TS_CUDA_DTYPE_COUNT
};
const char * ts_cuda_dtype_name(enum ts_cuda_dtype t);  // "fp32", "tf32", "bf16", "fp16"
int ts_cuda_dtype_from_str(const char * s);             // -1 when unknown

// CUDA backend on `device` (compute stream, cuBLAS handle), fp32. Returns NULL
// after ts_error() (TS_ERR_ARG) when no GPU is usable: no device, device index
// out of range, driver older than the runtime ("CUDA driver/runtime
// mismatch"). Never aborts for those. Free with ts_backend_free.
ts_backend_t ts_backend_cuda_new(int device);
// 1 when `be` is a CUDA backend.
int ts_backend_is_cuda(ts_backend_t be);
// Sets the GEMM compute type (see enum ts_cuda_dtype). Call between ops.
void ts_backend_cuda_set_dtype(ts_backend_t be, enum ts_cuda_dtype t);
// The compute stream (a cudaStream_t) every op runs on, for the NCCL halo.
void * ts_backend_cuda_stream(ts_backend_t be);
int ts_backend_cuda_device(ts_backend_t be);
// A large cuBLAS GEMM (n^3) in the backend's compute type with operands stored in
// that type (bf16/fp16: 16 bits; fp32/tf32: fp32), timed: GFLOP/s, the peak for `bench`.
double ts_cuda_gemm_peak_gflops(ts_backend_t be, int n);

// Usable CUDA devices: the count, or 0 with the reason in why (may be NULL):
// no device, driver/runtime mismatch, ... Never aborts; needs no backend.
int ts_cuda_device_count(char * why, size_t why_n);
// One line for device i: "NVIDIA H200, 139.8 GiB, sm_90, 132 SMs, driver 13.0, runtime 13.0".
void ts_cuda_device_describe(int i, char * buf, size_t n);

#ifdef __cplusplus
}
#endif
