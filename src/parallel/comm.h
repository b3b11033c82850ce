// The halo communicator interface (a vtable, as backends are): what the model
// sees of the other ranks. No MPI here: the model includes this, not mpi.h.
// Implementations: comm_mpi.c (host buffers), comm_nccl.c (device buffers; its
// broadcast goes over MPI on host buffers).
#pragma once
#include <stddef.h>

#include "timeshard/timeshard.h"  // enum ts_status

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
    // (optional: NULL where not implemented) Gather, collective. Ranges are
    // byte offsets into one global layout that every rank agrees on: rank r
    // owns [own_off, own_off + own_bytes) and needs [need_off, need_off +
    // need_bytes), which contains its owned range; its buffer `buf` holds
    // just the needed range (byte need_off of the layout at buf[0]), its own
    // bytes already in place. Once gather_wait returns, the rest of the needed
    // range holds what the other ranks own there; nothing else is sent to it.
    // Owned ranges must not overlap. buf stays untouched between post and
    // wait (work that does not read it goes in between). One gather at a time.
    // Every rank needing the whole layout is an all-gather.
    // (Wan2.1: each rank's K|V rows of the frames within the window, every block.)
    enum ts_status (*gather_post)(ts_comm_t c, void * buf, size_t own_off, size_t own_bytes, size_t need_off,
                                  size_t need_bytes);
    enum ts_status (*gather_wait)(ts_comm_t c);
    // (optional: NULL where not implemented) Broadcast, collective and
    // blocking: the `bytes` at root's buf are copied to every other rank's buf.
    // Host memory on every communicator (what travels is built on the host:
    // Wan2.1's text encoder output, encoded on rank 0 only).
    enum ts_status (*bcast)(ts_comm_t c, void * buf, size_t bytes, int root);
};

struct ts_comm {
    const struct ts_comm_ops * ops;
    void * ctx;
    double wait_seconds;  // total time spent inside halo_wait and gather_wait (for benchmarks)
};
