// The job's ranks: MPI start-up and shutdown, the collective failure check,
// ending the whole job from one rank, the communicator chosen once for the
// backend, the ordered frame stream to rank 0 and the interpolator's 1-frame
// halo. docs/ARCHITECTURE.md ("Distribution") describes the protocols.
#pragma once
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"     // ts_backend_t
#include "parallel/abort.h"      // ts_mpi_check, ts_parallel_on_abort
#include "parallel/comm.h"       // ts_comm_t
#include "parallel/partition.h"  // ts_partition
#include "timeshard/timeshard.h"

// One struct for the job: rank, world size, the MPI communicator, the halo
// communicator.
typedef struct ts_parallel {
    int rank;
    int world;
    MPI_Comm comm;        // a dup of MPI_COMM_WORLD
    ts_comm_t halo;       // owned; MPI halo by default
    char host[64];
    int heartbeat;        // this context started the liveness heartbeat (heartbeat.h)
} ts_parallel;

// MPI_Init (if not yet) and dup the world communicator. Works without mpirun
// (singleton: world 1). Starts the heartbeat between ranks on several ranks
// (parallel/heartbeat.h; TIMESHARD_HEARTBEAT_S), stopped by ts_parallel_free. No halo communicator yet (ts_parallel_halo_open) and
// no signal handlers (ts_abort_signals_install, for callers that opt in).
enum ts_status ts_parallel_init(ts_parallel * d, int * argc, char *** argv);
void ts_parallel_free(ts_parallel * d);  // the halo and communicator freed (MPI_Finalize at exit if ts_parallel_init started MPI)
// The halo communicator, chosen once for the backend: NCCL for a CUDA backend
// on several ranks, MPI otherwise (be may be NULL: MPI). Collective.
enum ts_status ts_parallel_halo_open(ts_parallel * d, ts_backend_t be);

// Collective over comm (it is duplicated, so halo messages never meet others).
ts_comm_t ts_comm_mpi_new(MPI_Comm comm);
// Test hook: largest single MPI message the MPI halo sends (default 1 GiB);
// bigger exchanges go as several messages. Call between exchanges.
void ts_comm_mpi_set_max_message(ts_comm_t c, size_t bytes);


// Collective "did anyone fail?": returns TS_OK if every rank passed TS_OK,
// else TS_ERR_DIST on the ranks that passed TS_OK (their message says which
// rank failed) and the rank's own status on the failed ones.
enum ts_status ts_parallel_agree(ts_parallel * d, enum ts_status mine);

// Ends the whole job now (MPI_Abort) after printing the last error on this
// rank: for failures in the middle of collective work, where the other ranks
// may be blocked in communication. Runs the registered cleanup first.
void ts_parallel_abort(ts_parallel * d, int code);

// Ordered frame stream to rank 0. Collective. Rank r produces its T_own frames
// in order with produce(ud, i, buf) (frame_bytes each); rank 0 receives every
// frame of the video in global order and calls consume(ud, g, buf) for g = 0 ..
// T_total-1. Rank 0 holds at most `window` frames of other ranks at a time
// (synchronous sends, credit window), so its memory does not grow with the
// video's length. A failing produce or consume ends the stream on every rank
// with an error.
typedef enum ts_status (*ts_frame_produce_fn)(void * ud, int64_t i, uint8_t * buf);
typedef enum ts_status (*ts_frame_consume_fn)(void * ud, int64_t g, const uint8_t * buf);
enum ts_status ts_stitch(ts_parallel * d, int64_t T_total, size_t frame_bytes, int window, ts_frame_produce_fn produce,
                         void * pud, ts_frame_consume_fn consume, void * cud);

// The same stream with rank r producing counts[r] frames (counts: world
// entries, the same on every rank, summing to T_total) instead of the
// partition's: for outputs whose frames per rank follow other rules (e.g.
// frames interpolated between each rank's keyframes). counts NULL: ts_stitch.
enum ts_status ts_stitch_counts(ts_parallel * d, const int64_t * counts, int64_t T_total, size_t frame_bytes, int window,
                                ts_frame_produce_fn produce, void * pud, ts_frame_consume_fn consume, void * cud);

// Test hook: what the last ts_stitch did on this rank.
struct ts_stitch_stats {
    int64_t frames_produced;   // by this rank's produce
    int64_t frames_consumed;   // rank 0: consume calls
    int recv_posted_max;       // rank 0: most frames of other ranks held at once (<= window)
    int send_outstanding_max;  // other ranks: most frame sends in flight at once (<= window)
    double seconds;            // wall time inside ts_stitch
};
void ts_stitch_stats(struct ts_stitch_stats * out);

// The interpolator's 1-frame halo over MPI: every rank sends `first` (its first
// keyframe, frame_bytes) to its left neighbour and receives its right
// neighbour's into `halo` (a frame_bytes buffer on every rank). *has_halo = 0 on
// the last rank (halo untouched). Collective over d->comm.
enum ts_status ts_parallel_frame_halo(ts_parallel * d, const uint8_t * first, uint8_t * halo, size_t frame_bytes,
                                      int * has_halo);

#ifdef TS_CUDA
// ---- NCCL (src/parallel/comm_nccl.c, built with -DTS_CUDA=ON) ----------------------
// The NCCL halo communicator on device buffers. Collective over comm (dup'ed):
// rank 0 makes the unique id, MPI_Bcast, ncclCommInitRank on `device`.
// compute_stream (a cudaStream_t: ts_backend_cuda_stream) is the stream the
// halo buffers are produced and consumed on: halo_post orders the exchange
// after the work queued there (an event, no host sync) and runs it on the
// communicator's own stream; halo_wait makes the compute stream wait for it.
// Returns NULL after ts_error (on every rank) when NCCL cannot start.
ts_comm_t ts_comm_nccl_new(MPI_Comm comm, int device, void * compute_stream);

#endif
