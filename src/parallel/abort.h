// Ending the whole job from one rank (see abort.c). Used by every file of
// src/parallel that talks MPI; calls none of them.
#pragma once
#include <mpi.h>

// Cleanup to run before an abort or on a fatal signal (e.g. delete temporary
// output files). One slot; NULL clears it.
void ts_parallel_on_abort(void (*fn)(void * ud), void * ud);
// Runs the registered cleanup once (async-signal-safe if the cleanup is).
void ts_abort_run_cleanup(void);

// The job an abort ends: its communicator, this rank and host (ts_parallel_init
// sets it, ts_parallel_free clears it).
void ts_abort_job_set(MPI_Comm comm, int rank, const char * host);
void ts_abort_job_clear(MPI_Comm comm);
int ts_abort_job_rank(void);
const char * ts_abort_job_host(void);

// Handlers for SIGSEGV, SIGBUS, SIGFPE, SIGABRT that report the rank, run the
// cleanup and MPI_Abort the job. Only when the caller opts in
// (ts_ctx_params.signals; the timeshard command does). Restore undoes install.
void ts_abort_signals_install(void);
void ts_abort_signals_restore(void);

// Tier 1 for MPI calls (as TS_ASSERT): on failure print file:line, the call
// and MPI's error string, then end the job with MPI_Abort.
void ts_mpi_check_(int err, const char * file, int line, const char * call);
#define ts_mpi_check(call) ts_mpi_check_((call), __FILE__, __LINE__, #call)
