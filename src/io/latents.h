// Latents and checkpoints in HDF5: dataset /latents float32 (T, h, w, c),
// chunked by frame, each rank writing its own hyperslab collectively (parallel
// HDF5 where available; otherwise gathered to rank 0 and written serially).
// Attributes as docs/ARCHITECTURE.md lists; checkpoints add `step`.
#pragma once
#include <mpi.h>
#include <stdint.h>

#include "timeshard/timeshard.h"

struct ts_latents_meta {
    char prompt[4096];        // prompt or storyboard text
    uint64_t seed;
    int64_t steps;
    double cfg;
    double fps;
    char model_digest[65];    // SHA-256 hex of the weights file
    char version[32];         // timeshard version
    int64_t step;             // sampler step for checkpoints; -1: not a checkpoint (attribute omitted)
};

// Collective over comm. Every rank passes its frames [g0, g0 + T_own) of a
// (T_total, h, w, c) tensor in host memory. Written to a temporary name and
// renamed to `path` (atomically replacing an older file) only when every rank
// succeeded. T_own may be 0.
enum ts_status ts_latents_write(const char * path, MPI_Comm comm, int64_t T_total, int h, int w, int c, int64_t g0,
                                int64_t T_own, const float * data, const struct ts_latents_meta * meta);

// Collective over comm. Reads the shape and attributes (every rank), then
// frames [g0, g0 + T_own) into data when data is non-NULL (call once with
// data NULL to learn the shape). Missing file or dataset: a clear error.
enum ts_status ts_latents_read(const char * path, MPI_Comm comm, int64_t * T_total, int * h, int * w, int * c,
                               int64_t g0, int64_t T_own, float * data, struct ts_latents_meta * meta);
// The same for an initial-noise file (--noise): dataset /noise, float32
// (T, h, w, c), time-major and channels-last like /latents; no attributes.
enum ts_status ts_noise_read(const char * path, MPI_Comm comm, int64_t * T_total, int * h, int * w, int * c,
                             int64_t g0, int64_t T_own, float * data);
