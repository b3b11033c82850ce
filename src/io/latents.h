// Latents and checkpoints in HDF5: dataset /latents float32 (T, h, w, c),
// chunked by frame, each rank writing its own hyperslab collectively (parallel
// HDF5 where available; otherwise gathered to rank 0 and written serially).
// Attributes as docs/ARCHITECTURE.md lists; checkpoints add `step` and may add a
// group (struct ts_lat_group: /sampler holds a multistep sampler's state).
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
    // the sampler that made the trajectory ("" in files written before these attributes;
    // not written when sampler is "")
    char sampler[32];          // its name: "euler-shifted", "unipc", "euler"
    char sampler_config[128];  // the settings that decide its numbers, e.g. "unipc (flow_shift 3, order 2, bh2)"
    double shift;              // its schedule's shift (0 when the file does not say)
    // where the initial noise came from: "seed" (Philox by `seed`), "file" (--noise: then
    // noise_sha256 and noise_file say which, and no `seed` attribute is written, the seed
    // being unused), or "" (files written before this attribute: the seed's)
    char noise[16];
    char noise_sha256[65];  // SHA-256 hex of the noise file
    char noise_file[1024];  // its path as given
};

// Collective over comm. Every rank passes its frames [g0, g0 + T_own) of a
// (T_total, h, w, c) tensor in host memory. Written to a temporary name and
// renamed to `path` (atomically replacing an older file) only when every rank
// succeeded. T_own may be 0.
enum ts_status ts_latents_write(const char * path, MPI_Comm comm, int64_t T_total, int h, int w, int c, int64_t g0,
                                int64_t T_own, const float * data, const struct ts_latents_meta * meta);

// A group beside /latents (e.g. /sampler): scalar attributes, string attributes,
// small 1-D float64 datasets, and float32 datasets of the latents' shape and layout
// (T, h, w, c), time-major, channels-last, one chunk per frame, each rank its own
// frames [g0, g0 + T_own) as for /latents. Names are static strings or the caller's;
// every rank passes the same names, scalars, strings and vectors (written as rank 0's).
#define TS_LAT_GROUP_MAX 16
struct ts_lat_group {
    const char * name;  // the group under the root, e.g. "sampler"
    int n_num;
    struct {
        const char * name;
        double value;  // read: filled
        int is_int;    // write: int64 attribute (value integral), else float64
    } num[TS_LAT_GROUP_MAX];
    int n_str;
    struct {
        const char * name;
        char value[256];  // read: filled ("" when the attribute is missing)
    } str[4];
    int n_vec;
    struct {
        const char * name;
        double * v;  // (n) not owned; read: filled, the file's length must be n
        int64_t n;
    } vec[4];
    int n_arr;
    struct {
        const char * name;
        float * data;  // (T_own, h, w, c) not owned; read: filled
    } arr[TS_LAT_GROUP_MAX];
};

// ts_latents_write with a group written in the same file (grp NULL: none).
enum ts_status ts_latents_write_group(const char * path, MPI_Comm comm, int64_t T_total, int h, int w, int c,
                                      int64_t g0, int64_t T_own, const float * data,
                                      const struct ts_latents_meta * meta, const struct ts_lat_group * grp);

// Collective over comm. *found: whether the file has the group grp->name. When it
// has, reads the attributes, vectors and arrays grp lists (frames [g0, g0 + T_own)
// of arrays shaped as the file's /latents, T_total h w c); a missing or misshapen
// item is a clear TS_ERR_FORMAT naming it. Strings may be missing ("").
enum ts_status ts_latents_read_group(const char * path, MPI_Comm comm, int64_t g0, int64_t T_own,
                                     struct ts_lat_group * grp, int * found);

// Collective over comm. Reads the shape and attributes (every rank), then
// frames [g0, g0 + T_own) into data when data is non-NULL (call once with
// data NULL to learn the shape). Missing file or dataset: a clear error.
enum ts_status ts_latents_read(const char * path, MPI_Comm comm, int64_t * T_total, int * h, int * w, int * c,
                               int64_t g0, int64_t T_own, float * data, struct ts_latents_meta * meta);
// The same for an initial-noise file (--noise): dataset /noise, float32
// (T, h, w, c), time-major and channels-last like /latents; no attributes.
enum ts_status ts_noise_read(const char * path, MPI_Comm comm, int64_t * T_total, int * h, int * w, int * c,
                             int64_t g0, int64_t T_own, float * data);
