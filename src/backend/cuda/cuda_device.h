// Choosing a rank's GPU (needs MPI to see the other ranks of the node).
#pragma once
#include <mpi.h>

#include "timeshard/timeshard.h"  // enum ts_status

// The GPU of this rank: its rank among the ranks of its node (MPI_COMM_TYPE_SHARED)
// modulo the visible GPUs. Collective over comm. Two ranks of a node on the same
// GPU (same UUID) are an error (TS_ERR_DIST, saying how many ranks and GPUs)
// unless TS_CUDA_SHARE_GPU=1 is set (tests; NCCL then needs a distinct
// NCCL_HOSTID per rank). Also an error when the rank sees no GPU.
enum ts_status ts_cuda_pick_device(MPI_Comm comm, int * device);
