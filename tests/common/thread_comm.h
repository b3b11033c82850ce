// An in-process halo communicator (the ts_comm vtable of src/parallel/comm.h,
// no MPI): P threads, each one "rank" owning a chunk of the video, trade their
// halos (and broadcast host buffers) through shared memory. The tests use it
// to run the DiT over chunks in one process and compare with the whole video
// (docs/ARCHITECTURE.md, property 3).
//   struct ts_thread_group * g = ts_thread_group_new(P, NULL);  // memcpy (host buffers)
//   ... job r uses ts_thread_group_comm(g, r) as its communicator ...
//   ts_thread_group_run(g, fn, jobs, sizeof jobs[0]);           // one thread per rank
//   ts_thread_group_free(&g);
// Device buffers: pass a copy function (e.g. cudaMemcpy, then a device sync).
#pragma once
#include <stddef.h>

#include "parallel/comm.h"

#define TS_THREAD_GROUP_MAX 16

// Copies bytes between two ranks' buffers; called by the receiving thread.
// sync (may be NULL) runs after a thread's copies, before the group moves on.
struct ts_thread_copy {
    const char * name;  // the communicator's name ("threads" for host memory)
    void (*copy)(void * dst, const void * src, size_t bytes);
    void (*sync)(void);
};

struct ts_thread_group;
// P ranks (1..TS_THREAD_GROUP_MAX); copy NULL: memcpy on host memory.
struct ts_thread_group * ts_thread_group_new(int P, const struct ts_thread_copy * copy);
ts_comm_t ts_thread_group_comm(struct ts_thread_group * g, int rank);
// Runs fn(jobs + r * job_size) for r in [0, P), each on its own thread, and waits for all.
void ts_thread_group_run(struct ts_thread_group * g, void * (*fn)(void *), void * jobs, size_t job_size);
void ts_thread_group_free(struct ts_thread_group ** g);
