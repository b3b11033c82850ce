// Backends by name (as ggml_backend_init_by_name): one table entry per backend
// this build has, so callers never test TS_CUDA themselves.
#pragma once
#include <mpi.h>  // MPI_Comm: a rank's device is chosen among the ranks of its node
#include <stdio.h>

#include "backend/backend.h"
#include "timeshard/timeshard.h"

struct ts_backend_init {
    int threads;          // CPU threads (0: all cores)
    enum ts_dtype dtype;  // compute type of the GEMMs
    int device;           // from select_device (or 0)
};

struct ts_backend_reg {
    enum ts_backend_kind kind;
    const char * name;
    // Usable devices on this rank (0 with the reason in why).
    int (*available)(char * why, size_t why_n);
    // This rank's device among the ranks of its node (optional: CPU has none). Collective over comm.
    enum ts_status (*select_device)(MPI_Comm comm, int * device);
    // NULL after ts_error (an unsupported dtype, no usable device).
    ts_backend_t (*create)(const struct ts_backend_init * init);
    // One line per device to f (`timeshard devices`).
    void (*describe)(FILE * f);
};

// The entry for kind (AUTO is not an entry); NULL when this build lacks it.
const struct ts_backend_reg * ts_backend_reg_find(enum ts_backend_kind kind);
// Every entry of this build, in order (cpu first).
const struct ts_backend_reg * const * ts_backend_regs(int * n);
