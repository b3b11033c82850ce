// The CUDA backend's entry in the backend table (backend/registry.c).
// Built only with -DTS_CUDA=ON (ts_cuda).
#include <stdio.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_device.h"  // ts_cuda_pick_device
#include "backend/registry.h"
#include "core/common.h"

static int cuda_available(char * why, size_t why_n) { return ts_cuda_device_count(why, why_n); }

static ts_backend_t cuda_create(const struct ts_backend_init * init) {
    ts_backend_t be = ts_backend_cuda_new(init->device);
    if (!be) {
        ts_error(TS_ERR_ARG, "see 'timeshard devices'", "%s", ts_last_error());
        return NULL;
    }
    // enum ts_dtype and enum ts_cuda_dtype list the types in the same order
    ts_backend_cuda_set_dtype(be, (enum ts_cuda_dtype)init->dtype);
    return be;
}

static void cuda_describe(FILE * f) {
    char why[256] = "";
    int n = ts_cuda_device_count(why, sizeof(why));
    if (n <= 0) fprintf(f, "  cuda     no usable GPU: %s\n", why[0] ? why : "none found");
    for (int i = 0; i < n; i++) {
        char buf[256];
        ts_cuda_device_describe(i, buf, sizeof(buf));
        fprintf(f, "  cuda:%d   %s\n", i, buf);
    }
}

const struct ts_backend_reg ts_backend_reg_cuda = {
    .kind = TS_BACKEND_CUDA,
    .name = "cuda",
    .available = cuda_available,
    .select_device = ts_cuda_pick_device,
    .create = cuda_create,
    .describe = cuda_describe,
};
