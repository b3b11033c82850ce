// Liveness between ranks (see heartbeat.c and docs/ARCHITECTURE.md, "Liveness"):
// a helper thread per rank exchanges small messages with rank 0 on a
// communicator of its own and ends the job, naming the silent rank and its
// host, when one has not been heard from for TIMESHARD_HEARTBEAT_S seconds.
// Independent of how long a step takes: it checks that processes and links are
// alive, not that work progresses.
#pragma once
#include <mpi.h>

// Seconds of silence after which the job ends: TIMESHARD_HEARTBEAT_S (default
// 30; 0 turns the heartbeat off). Messages go every seconds/6.
double ts_heartbeat_seconds(void);

// Starts the heartbeat over a dup of comm (collective over comm; gathers every
// rank's host name). Needs MPI_THREAD_MULTIPLE (the helper thread calls MPI);
// without it, or on one rank, or with TIMESHARD_HEARTBEAT_S=0, does nothing.
// One heartbeat per process: a second start while one runs does nothing and
// returns 0. Returns 1 when this call started it.
int ts_heartbeat_start(MPI_Comm comm, int rank, const char * host);
// Stops it (local, not collective): tells the peers this rank is leaving so
// that they stop watching it, joins the thread and frees the communicator.
// Safe to call when none runs.
void ts_heartbeat_stop(void);
