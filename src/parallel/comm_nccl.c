// The NCCL halo communicator on device buffers (docs/ARCHITECTURE.md "Distribution"):
// bootstrapped over MPI, sends and receives grouped on a communication stream
// that is ordered after the compute stream by an event, and the compute stream
// ordered after the exchange by another: no host synchronisation.
// Built only with -DTS_CUDA=ON (cmake/cuda.cmake puts it in ts_cuda).
#ifdef TS_CUDA
#include <cuda_runtime_api.h>
#include <nccl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/cuda/cuda_check.h"  // ts_cuda_check
#include "core/common.h"              // ts_error, ts_calloc, ts_time
#include "parallel/parallel.h"

#define ts_nccl_check(call)                                                                                           \
    do {                                                                                                              \
        ncclResult_t ts_nccl_r_ = (call);                                                                             \
        if (ts_nccl_r_ != ncclSuccess) ts_abort(__FILE__, __LINE__, "%s: %s", #call, ncclGetErrorString(ts_nccl_r_)); \
    } while (0)

typedef struct ts_comm_nccl {
    MPI_Comm comm;  // owned: a dup
    int rank, world, device;
    char host[64];
    ncclComm_t nc;          // owned
    cudaStream_t compute;   // not owned: the backend's compute stream
    cudaStream_t stream;    // owned: the exchange runs here
    cudaEvent_t ready;      // owned: compute work before the exchange is done
    cudaEvent_t done;       // owned: the exchange is done
    int posted;             // an exchange is in flight (halo_wait not yet called)
    ncclResult_t post_err;  // first NCCL error of the last halo_post
} ts_comm_nccl;

static void ts_halo_post_nccl(ts_comm_t c, const void * send_left, const void * send_right, void * recv_left,
                              void * recv_right, size_t bytes) {
    ts_comm_nccl * n = c->ctx;
    TS_ASSERT(!n->posted);  // halo_wait must complete the previous exchange first
    n->post_err = ncclSuccess;
    if (bytes == 0 || n->world == 1) return;
    int has_left = n->rank > 0, has_right = n->rank < n->world - 1;
    TS_ASSERT(!has_left || (send_left && recv_left));
    TS_ASSERT(!has_right || (send_right && recv_right));
    ts_cuda_check(cudaEventRecord(n->ready, n->compute));
    ts_cuda_check(cudaStreamWaitEvent(n->stream, n->ready, 0));
    ncclResult_t r = ncclGroupStart();
    if (r == ncclSuccess && has_left) r = ncclRecv(recv_left, bytes, ncclChar, n->rank - 1, n->nc, n->stream);
    if (r == ncclSuccess && has_left) r = ncclSend(send_left, bytes, ncclChar, n->rank - 1, n->nc, n->stream);
    if (r == ncclSuccess && has_right) r = ncclRecv(recv_right, bytes, ncclChar, n->rank + 1, n->nc, n->stream);
    if (r == ncclSuccess && has_right) r = ncclSend(send_right, bytes, ncclChar, n->rank + 1, n->nc, n->stream);
    ncclResult_t r2 = ncclGroupEnd();
    n->post_err = r != ncclSuccess ? r : r2;
    ts_cuda_check(cudaEventRecord(n->done, n->stream));
    n->posted = 1;
}

static enum ts_status ts_halo_wait_nccl(ts_comm_t c) {
    ts_comm_nccl * n = c->ctx;
    double t0 = ts_time();
    ncclResult_t err = n->post_err, async = ncclSuccess;
    if (n->posted) {
        ts_cuda_check(cudaStreamWaitEvent(n->compute, n->done, 0));  // the device waits, not the host
        n->posted = 0;
    }
    if (err == ncclSuccess && ncclCommGetAsyncError(n->nc, &async) == ncclSuccess && async != ncclInProgress)
        err = async;
    n->post_err = ncclSuccess;
    c->wait_seconds += ts_time() - t0;
    if (err != ncclSuccess)
        return ts_error(TS_ERR_DIST, "a neighbouring rank may have died; NCCL_DEBUG=WARN says more",
                        "NCCL halo exchange on rank %d of %d (%s, GPU %d) failed: %s (%s)", n->rank, n->world, n->host,
                        n->device, ncclGetErrorString(err), ncclGetLastError(n->nc));
    return TS_OK;
}

static void ts_comm_nccl_free(ts_comm_t c) {
    if (!c) return;
    ts_comm_nccl * n = c->ctx;
    if (n) {
        if (n->stream) cudaStreamSynchronize(n->stream);
        if (n->nc) ncclCommDestroy(n->nc);
        if (n->ready) cudaEventDestroy(n->ready);
        if (n->done) cudaEventDestroy(n->done);
        if (n->stream) cudaStreamDestroy(n->stream);
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized) MPI_Comm_free(&n->comm);
        free(n);
    }
    free(c);
}

// Host buffers, over the communicator's MPI dup (what is broadcast is built on the host).
static enum ts_status ts_bcast_nccl(ts_comm_t c, void * buf, size_t bytes, int root) {
    ts_comm_nccl * n = c->ctx;
    TS_ASSERT(root >= 0 && root < n->world);
    const size_t piece = (size_t)1 << 30;
    double t0 = ts_time();
    int err = MPI_SUCCESS;
    for (size_t off = 0; off < bytes && err == MPI_SUCCESS; off += piece)
        err = MPI_Bcast((char *)buf + off, (int)(bytes - off < piece ? bytes - off : piece), MPI_BYTE, root, n->comm);
    c->wait_seconds += ts_time() - t0;
    if (err != MPI_SUCCESS)
        return ts_error(TS_ERR_DIST, "another rank may have died; see its error",
                        "broadcast on rank %d of %d (%s) failed (MPI error %d)", n->rank, n->world, n->host, err);
    return TS_OK;
}

static const struct ts_comm_ops ts_comm_nccl_ops = {
    .name = "nccl",
    .halo_post = ts_halo_post_nccl,
    .halo_wait = ts_halo_wait_nccl,
    .free = ts_comm_nccl_free,
    .bcast = ts_bcast_nccl,
};

// Collective: 1 when every rank passed ok = 1.
static int ts_all_ok(MPI_Comm comm, int ok) {
    int all = 0;
    ts_mpi_check(MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm));
    return all;
}

ts_comm_t ts_comm_nccl_new(MPI_Comm comm, int device, void * compute_stream) {
    ts_comm_nccl * n = ts_calloc(1, sizeof *n);
    ts_mpi_check(MPI_Comm_dup(comm, &n->comm));
    ts_mpi_check(MPI_Comm_rank(n->comm, &n->rank));
    ts_mpi_check(MPI_Comm_size(n->comm, &n->world));
    gethostname(n->host, sizeof n->host - 1);
    n->device = device;
    n->compute = (cudaStream_t)compute_stream;
    ts_comm_t c = ts_calloc(1, sizeof *c);
    c->ops = &ts_comm_nccl_ops;
    c->ctx = n;

    cudaError_t ce = cudaSetDevice(device);
    if (ce == cudaSuccess) ce = cudaStreamCreateWithFlags(&n->stream, cudaStreamNonBlocking);
    if (ce == cudaSuccess) ce = cudaEventCreateWithFlags(&n->ready, cudaEventDisableTiming);
    if (ce == cudaSuccess) ce = cudaEventCreateWithFlags(&n->done, cudaEventDisableTiming);
    if (!ts_all_ok(n->comm, ce == cudaSuccess)) {
        if (ce != cudaSuccess)
            ts_error(TS_ERR_DIST, "check the GPU with nvidia-smi", "rank %d (%s): CUDA device %d unusable: %s", n->rank,
                     n->host, device, cudaGetErrorString(ce));
        else
            ts_error(TS_ERR_DIST, "see the other ranks' errors", "another rank could not set up its GPU");
        ts_comm_nccl_free(c);
        return NULL;
    }

    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    ncclResult_t r = ncclSuccess;
    if (n->rank == 0) r = ncclGetUniqueId(&id);
    if (!ts_all_ok(n->comm, r == ncclSuccess)) {
        ts_error(TS_ERR_DIST, "NCCL_DEBUG=WARN says more", "ncclGetUniqueId failed on rank 0: %s",
                 n->rank == 0 ? ncclGetErrorString(r) : "see rank 0");
        ts_comm_nccl_free(c);
        return NULL;
    }
    ts_mpi_check(MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, n->comm));
    r = ncclCommInitRank(&n->nc, n->world, id, n->rank);
    if (r != ncclSuccess) n->nc = NULL;
    if (!ts_all_ok(n->comm, r == ncclSuccess)) {
        if (r != ncclSuccess)
            ts_error(TS_ERR_DIST, "two ranks on one GPU need a distinct NCCL_HOSTID each; NCCL_DEBUG=WARN says more",
                     "ncclCommInitRank failed on rank %d of %d (%s, GPU %d): %s", n->rank, n->world, n->host, device,
                     ncclGetErrorString(r));
        else
            ts_error(TS_ERR_DIST, "see the other ranks' errors", "NCCL could not start on another rank");
        ts_comm_nccl_free(c);
        return NULL;
    }
    return c;
}

#else
typedef int ts_comm_nccl_not_built;  // without TS_CUDA this file is empty (ISO C wants a declaration)
#endif
