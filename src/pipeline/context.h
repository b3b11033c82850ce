// The context behind ts_ctx_t: the job's ranks, the backend, the model and its
// family. Made by context.c; read by the run (generate.c) and the outputs.
#pragma once
#include "backend/backend.h"
#include "model/family.h"
#include "parallel/parallel.h"
#include "timeshard/timeshard.h"

struct ts_ctx {
    ts_parallel par;                 // ranks, MPI communicator, the halo communicator
    enum ts_dtype dtype;             // compute type of the GEMMs
    enum ts_halo halo;               // AUTO resolved by the family's denoiser
    int signals;                     // the caller opted into signal handling (ts_ctx_params.signals)
    int local_ranks;                 // ranks on this node (they share its memory)
    ts_backend_t be;                 // owned
    const struct ts_family * family; // the model's family (static table)
    void * model;                    // owned by family->free
};
