// Distribution over ranks: the partition of frames, the communicator interface
// (halo exchange, ordered frame stream to rank 0), job-wide failure handling.
#pragma once
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "timeshard/timeshard.h"

// Frames [first, first + count) owned by rank r of P for a T-frame video:
// contiguous, in rank order, sizes differ by at most one (the first T % P
// ranks own one more). Pure function.
void ts_partition(int64_t T, int P, int r, int64_t * first, int64_t * count);

// Largest rank count P <= max_P for which every rank owns at least W frames
// of T (0 when even one rank cannot). W < 1 counts as 1: a rank needs a frame.
int ts_partition_max_ranks(int64_t T, int W, int max_P);

typedef struct ts_comm * ts_comm_t;

// A communicator: the halo exchange between neighbours. MPI on host buffers
// is the first implementation; NCCL on device buffers the second.
struct ts_comm_ops {
    const char * name;  // "mpi", "nccl"
    // Starts the exchange: send_left (bytes) to rank-1, send_right to rank+1,
    // receive from rank-1 into recv_left and from rank+1 into recv_right.
    // Ranks 0 and P-1 skip their missing neighbour (those pointers may be
    // NULL). Returns at once; buffers must stay untouched until halo_wait (the
    // MPI communicator copies what it sends, so its send buffers are free
    // again when halo_post returns; the NCCL one reads them in place).
    void (*halo_post)(ts_comm_t c, const void * send_left, const void * send_right, void * recv_left, void * recv_right,
                      size_t bytes);
    // Completes the receives of the exchange started by halo_post. The MPI
    // communicator completes its sends later (see comm_mpi.c).
    enum ts_status (*halo_wait)(ts_comm_t c);
    void (*free)(ts_comm_t c);
};

struct ts_comm {
    const struct ts_comm_ops * ops;
    void * ctx;
    double wait_seconds;  // total time spent inside halo_wait (for benchmarks)
};

// One struct for the job: rank, world size, the MPI communicator, the halo
// communicator.
typedef struct ts_dist {
    int rank;
    int world;
    MPI_Comm comm;        // a dup of MPI_COMM_WORLD
    ts_comm_t halo;       // owned; MPI halo by default
    char host[64];
} ts_dist;

// MPI_Init (if not yet), dup the world communicator, create the MPI halo
// communicator. Works without mpirun (singleton: world 1). Installs handlers
// for SIGSEGV, SIGBUS, SIGFPE, SIGABRT that run the cleanup (ts_dist_on_abort)
// and MPI_Abort the job; none for SIGTERM/SIGINT.
enum ts_status ts_dist_init(ts_dist * d, int * argc, char *** argv);
void ts_dist_free(ts_dist * d);  // MPI_Finalize (if ts_dist_init started MPI), handlers restored

// Collective over comm (it is duplicated, so halo messages never meet others).
ts_comm_t ts_comm_mpi_new(MPI_Comm comm);
// Test hook: largest single MPI message the MPI halo sends (default 1 GiB);
// bigger exchanges go as several messages. Call between exchanges.
void ts_comm_mpi_set_max_message(ts_comm_t c, size_t bytes);

// Tier 1 for MPI calls (as TS_ASSERT): on failure print file:line, the call
// and MPI's error string, then end the job with MPI_Abort.
void ts_mpi_check_(int err, const char * file, int line, const char * call);
#define ts_mpi_check(call) ts_mpi_check_((call), __FILE__, __LINE__, #call)

// Collective "did anyone fail?": returns TS_OK if every rank passed TS_OK,
// else TS_ERR_DIST on the ranks that passed TS_OK (their message says which
// rank failed) and the rank's own status on the failed ones.
enum ts_status ts_dist_agree(ts_dist * d, enum ts_status mine);

// Ends the whole job now (MPI_Abort) after printing the last error on this
// rank: for failures in the middle of collective work, where the other ranks
// may be blocked in communication. Runs the registered cleanup first.
void ts_dist_abort(ts_dist * d, int code);
// Cleanup to run before an abort or on a fatal signal (e.g. delete temporary
// output files). One slot; NULL clears it.
void ts_dist_on_abort(void (*fn)(void * ud), void * ud);

// Ordered frame stream to rank 0. Collective. Rank r produces its T_own frames
// in order with produce(ud, i, buf) (frame_bytes each); rank 0 receives every
// frame of the video in global order and calls consume(ud, g, buf) for g = 0 ..
// T_total-1. Rank 0 holds at most `window` frames of other ranks at a time
// (synchronous sends, credit window), so its memory does not grow with the
// video's length. A failing produce or consume ends the stream on every rank
// with an error.
typedef enum ts_status (*ts_frame_produce_fn)(void * ud, int64_t i, uint8_t * buf);
typedef enum ts_status (*ts_frame_consume_fn)(void * ud, int64_t g, const uint8_t * buf);
enum ts_status ts_stitch(ts_dist * d, int64_t T_total, size_t frame_bytes, int window, ts_frame_produce_fn produce,
                         void * pud, ts_frame_consume_fn consume, void * cud);

// The same stream with rank r producing counts[r] frames (counts: world
// entries, the same on every rank, summing to T_total) instead of the
// partition's: for outputs whose frames per rank follow other rules (e.g.
// frames interpolated between each rank's keyframes). counts NULL: ts_stitch.
enum ts_status ts_stitch_counts(ts_dist * d, const int64_t * counts, int64_t T_total, size_t frame_bytes, int window,
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

#ifdef TS_CUDA
// ---- NCCL (src/dist/comm_nccl.c, built with -DTS_CUDA=ON) ----------------------
// The NCCL halo communicator on device buffers. Collective over comm (dup'ed):
// rank 0 makes the unique id, MPI_Bcast, ncclCommInitRank on `device`.
// compute_stream (a cudaStream_t: ts_backend_cuda_stream) is the stream the
// halo buffers are produced and consumed on: halo_post orders the exchange
// after the work queued there (an event, no host sync) and runs it on the
// communicator's own stream; halo_wait makes the compute stream wait for it.
// Returns NULL after ts_error (on every rank) when NCCL cannot start.
ts_comm_t ts_comm_nccl_new(MPI_Comm comm, int device, void * compute_stream);

// The GPU of this rank: its rank among the ranks of its node (MPI_COMM_TYPE_SHARED)
// modulo the visible GPUs. Collective over comm. Two ranks of a node on the same
// GPU (same UUID) are an error (TS_ERR_DIST, saying how many ranks and GPUs)
// unless TS_CUDA_SHARE_GPU=1 is set (tests; NCCL then needs a distinct
// NCCL_HOSTID per rank). Also an error when the rank sees no GPU.
enum ts_status ts_cuda_pick_device(MPI_Comm comm, int * device);
#endif
