// Test and benchmark hooks of the pipeline, read from the environment once per
// process, and the SIGTERM / temporary-video handling of a run.
#pragma once
#include <stdint.h>

#include "timeshard/timeshard.h"

// TIMESHARD_FAULT="rank=R,step=K,kind=crash|error|exit" injects a failure on rank R
// at sampler step K (0-based: the step that takes the latents from K to K+1;
// K = -1: during set-up, before sampling, as a bad input file on one node would):
//   crash  raise(SIGSEGV) as the step starts, while the other ranks wait for its
//          halo: the fatal-signal handler runs the cleanup and MPI_Aborts the job.
//   error  a user-level error (TS_ERR_IO "injected fault") once the step's forward
//          passes are done; the other ranks learn it from the step's Allreduce and
//          stop at the same step, and ts_parallel_agree names the failed rank.
//   exit   _exit(7) as the step starts: a process killed without a word; the
//          launcher (mpirun, srun) then ends the job.
//   (No "hang": nothing inside the job can bound it; the job's time limit does.)
// TIMESHARD_STEP_DELAY_MS=N adds N ms of sleep to each sampler step (a signal does
//   not cut it short), so that a test can signal a run of the tiny model in
//   mid-sampling. TIMESHARD_SETUP_DELAY_MS and TIMESHARD_OUTPUT_DELAY_MS do the same
//   once, before a run's set-up and before its outputs (SIGTERM in those phases).
// TIMESHARD_TEST_NO_ROOM_CHECK=1 (io/latents.c) skips the free-space check before a
//   latents file or checkpoint is written, so that a test can fill the disk mid-write.
// TIMESHARD_REPORT=1: at the end of a successful run every rank prints one line
//   "timeshard: report: rank R peak_rss_kb N sampling_s S halo_wait_s H halo_share P%"
//   (for launch/bench_memory.sh and scaling studies).
enum ts_fault_kind { TS_FAULT_NONE, TS_FAULT_CRASH, TS_FAULT_ERROR, TS_FAULT_EXIT, TS_FAULT_COUNT };

struct ts_hooks {
    enum ts_fault_kind fault_kind;
    int fault_rank;
    int64_t fault_step;  // -1: set-up
    int step_delay_ms;
    int setup_delay_ms, output_delay_ms;
    int report;
};

const struct ts_hooks * ts_hooks_get(void);
// Fires the injected fault if it is due on this rank at step k: crash and exit
// where at_start is 1 (a step's start), error where it is 0 (after the forward
// passes). Returns the error's status, else TS_OK.
enum ts_status ts_hooks_fault(const struct ts_hooks * h, int rank, int64_t k, int at_start);
// Sleeps ms milliseconds, resuming after signals (a slow step is not cut short).
void ts_hooks_step_delay(int ms);

// ---- SIGTERM and the temporary video (only when the context's caller opted in) ----
// What SIGTERM (a Slurm time limit) does depends on the phase of the run:
//   TS_TERM_SETUP     loading, planning, setting up: nothing to keep yet, so the rank
//                     prints one line (rank 0) and ends at once with status 3, the
//                     status of a stop that can be resumed (a checkpoint being resumed
//                     is untouched), deleting rank 0's temporary video if one is
//                     registered;
//   TS_TERM_SAMPLING  sampling polls ts_term_requested: finish the step, checkpoint,
//                     exit 3;
//   TS_TERM_FINISH    after the last step: the outputs are finished (a run that has
//                     sampled everything is worth its last seconds), then noted.
void ts_term_install(int rank);   // the handler, phase TS_TERM_SETUP (once per context)
void ts_term_restore(void);       // the previous handler back
enum ts_term_phase { TS_TERM_SETUP, TS_TERM_SAMPLING, TS_TERM_FINISH };
void ts_term_phase(enum ts_term_phase ph);
int ts_term_requested(void);      // SIGTERM arrived during this run
void ts_term_clear(void);         // a new run: no SIGTERM yet, phase TS_TERM_SETUP
// The temporary video to delete on SIGTERM or an abort (NULL: none).
void ts_term_tmp_video(const char * path);
