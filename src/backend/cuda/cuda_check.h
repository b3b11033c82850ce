// Tier-1 checks for CUDA, cuBLAS and NCCL calls (docs/ARCHITECTURE.md): on failure print
// file:line, the call and the library's error string, then abort. Usable from
// C (comm_nccl.c) and CUDA C++ alike.
#pragma once
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif
#include "core/common.h"  // ts_abort
#ifdef __cplusplus
}
#endif

#define ts_cuda_check(call)                                                                      \
    do {                                                                                         \
        cudaError_t ts_cuda_err_ = (call);                                                       \
        if (ts_cuda_err_ != cudaSuccess)                                                         \
            ts_abort(__FILE__, __LINE__, "%s: %s (%s)", #call, cudaGetErrorString(ts_cuda_err_), \
                     cudaGetErrorName(ts_cuda_err_));                                            \
    } while (0)
