// The GPU of each rank: its rank within the node modulo the visible GPUs,
// two ranks on one GPU refused. Built only with -DTS_CUDA=ON (ts_cuda).
#include "backend/cuda/cuda_device.h"

#include <cuda_runtime_api.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"       // ts_error, ts_calloc

// Tier 1 for the few MPI calls here (as TS_ASSERT): a failing call aborts with
// file:line; the fatal-signal handler, where installed, then ends the job.
#define ts_device_mpi_check(call)                                                                         \
    do {                                                                                           \
        int ts_mpi_err_ = (call);                                                                  \
        if (ts_mpi_err_ != MPI_SUCCESS) ts_abort(__FILE__, __LINE__, "%s failed (%d)", #call, ts_mpi_err_); \
    } while (0)

static int ts_all_ok(MPI_Comm comm, int ok) {
    int all = 0;
    ts_device_mpi_check(MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm));
    return all;
}

enum ts_status ts_cuda_pick_device(MPI_Comm comm, int * device) {
    MPI_Comm local;
    int lrank = 0, lsize = 1, rank = 0;
    ts_device_mpi_check(MPI_Comm_rank(comm, &rank));
    ts_device_mpi_check(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &local));
    ts_device_mpi_check(MPI_Comm_rank(local, &lrank));
    ts_device_mpi_check(MPI_Comm_size(local, &lsize));
    char host[64] = {0};
    gethostname(host, sizeof host - 1);

    int n = 0;
    cudaError_t ce = cudaGetDeviceCount(&n);
    if (ce != cudaSuccess) cudaGetLastError();
    int dev = (ce == cudaSuccess && n > 0) ? lrank % n : -1;
    struct {
        unsigned char uuid[16];
        int dev;
    } mine, *all = ts_calloc((size_t)lsize, sizeof *all);
    memset(&mine, 0, sizeof mine);
    mine.dev = dev;
    if (dev >= 0) {
        struct cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, dev) == cudaSuccess)
            memcpy(mine.uuid, p.uuid.bytes, 16);
        else
            cudaGetLastError();
    }
    ts_device_mpi_check(MPI_Allgather(&mine, (int)sizeof mine, MPI_BYTE, all, (int)sizeof mine, MPI_BYTE, local));
    int clash = -1;
    for (int j = 0; j < lsize && dev >= 0; j++)
        if (j != lrank && all[j].dev >= 0 && memcmp(all[j].uuid, mine.uuid, 16) == 0) {
            clash = j;
            break;
        }
    free(all);
    ts_device_mpi_check(MPI_Comm_free(&local));
    const char * share = getenv("TS_CUDA_SHARE_GPU");
    if (share && strcmp(share, "1") == 0) clash = -1;

    enum ts_status st = TS_OK;
    if (dev < 0)
        st = ts_error(TS_ERR_DIST, "use --backend cpu, or check the GPUs with nvidia-smi",
                      "rank %d (%s) sees no usable CUDA device: %s", rank, host,
                      ce == cudaSuccess ? "none found" : cudaGetErrorString(ce));
    else if (clash >= 0)
        st = ts_error(TS_ERR_DIST,
                      "launch at most one rank per GPU (e.g. mpirun --map-by ppr:<GPUs>:node, srun --gpus-per-task=1)",
                      "%d ranks on %s but %d GPU(s) visible: local ranks %d and %d would share GPU %d", lsize, host, n,
                      lrank, clash, dev);
    int all_ok = ts_all_ok(comm, st == TS_OK);
    if (st == TS_OK && !all_ok)
        st = ts_error(TS_ERR_DIST, "see the other ranks' errors", "another rank could not pick a GPU");
    *device = dev;
    return st;
}

