// The device-free parts of the GPU path, run in CI's CUDA build on a machine
// without a GPU: dtype names and parsing, the device count and its reason, a
// backend that cannot start (NULL and one clear error, no abort), device
// selection from the local rank failing cleanly. On a machine with a GPU the
// no-GPU checks do not apply: the test exits 77 (skipped) after the parsing
// checks; tests/gpu/run.sh covers that machine.
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "backend/cuda/cuda_backend.h"
#include "core/common.h"
#include "parallel/parallel.h"
#include "backend/cuda/cuda_device.h"  // ts_cuda_pick_device
#include "ts_test.h"

int main(int argc, char ** argv) {
    MPI_Init(&argc, &argv);
    // dtype names and parsing, both ways, and unknown names
    int ok = 1;
    for (int t = 0; t < TS_CUDA_DTYPE_COUNT; t++)
        ok &= ts_cuda_dtype_from_str(ts_cuda_dtype_name((enum ts_cuda_dtype)t)) == t;
    ts_verdict("dtype names round trip", ok, "fp32 tf32 bf16 fp16");
    ts_verdict("dtype 'bf16' -> BF16", ts_cuda_dtype_from_str("bf16") == TS_CUDA_DTYPE_BF16, "");
    ts_verdict("dtype 'fp64' unknown", ts_cuda_dtype_from_str("fp64") == -1, "");
    ts_verdict("dtype '' unknown", ts_cuda_dtype_from_str("") == -1, "");

    char why[256] = "";
    int n = ts_cuda_device_count(why, sizeof(why));
    if (n > 0) {
        printf("# %d GPU(s) present: the no-GPU checks are for machines without one\n", n);
        MPI_Finalize();
        return ts_test.failures ? ts_test_finish("test_cuda_nodevice") : TS_TEST_SKIP;
    }
    ts_verdict("device count 0 with a reason", n == 0 && why[0] != '\0', why);
    ts_error_clear();
    ts_backend_t be = ts_backend_cuda_new(0);
    ts_verdict("backend: NULL and one error, no abort", be == NULL && ts_last_error()[0] != '\0', ts_last_error());
    ts_error_clear();
    be = ts_backend_cuda_new(7);
    ts_verdict("backend on device 7: NULL", be == NULL, ts_last_error());
    ts_error_clear();
    int dev = -1;
    enum ts_status st = ts_cuda_pick_device(MPI_COMM_WORLD, &dev);
    ts_verdict("pick device from the local rank: error", st != TS_OK && ts_last_error()[0] != '\0', ts_last_error());
    MPI_Finalize();
    return ts_test_finish("test_cuda_nodevice");
}
