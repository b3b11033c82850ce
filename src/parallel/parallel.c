// The job: MPI start-up and shutdown (ts_parallel_init / ts_parallel_free), the
// collective failure check (ts_parallel_agree), ending the whole job from one rank
// (ts_parallel_abort) and the halo communicator chosen once for the backend.
#include "parallel/parallel.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// ts_error, ts_last_error, ts_log_set_rank, TS_ASSERT
#include "core/common.h"
// ts_abort_job_set, ts_abort_run_cleanup, ts_abort_signals_install
#include "parallel/abort.h"
// ts_heartbeat_start, ts_heartbeat_stop, ts_heartbeat_seconds: liveness between ranks
#include "parallel/heartbeat.h"
#ifdef TS_CUDA
#include "backend/cuda/cuda_backend.h"  // ts_backend_is_cuda, ts_backend_cuda_stream: the NCCL halo
#endif

static int ts_we_initialized;  // MPI_Init was ours, so MPI_Finalize is too

// ---- start-up and shutdown ------------------------------------------------------------

static enum ts_status ts_mpi_status(int err, const char * what) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(err, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "MPI error %d", err);
    return ts_error(TS_ERR_DIST, "is the job launched with a working MPI (mpirun, srun --mpi=pmix)?", "%s failed: %s",
                    what, msg);
}

// MPI_Finalize at exit when ts_parallel_init started MPI (and nobody finalized it).
static void ts_parallel_finalize(void) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) ts_heartbeat_stop();  // its thread must not call MPI past MPI_Finalize
    if (ts_we_initialized && !finalized) MPI_Finalize();
}

enum ts_status ts_parallel_init(ts_parallel * d, int * argc, char *** argv) {
    memset(d, 0, sizeof *d);
    d->comm = MPI_COMM_NULL;
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (finalized) return ts_error(TS_ERR_DIST, NULL, "MPI was already finalized in this process");
    if (!initialized) {
        int provided = 0;
        // The heartbeat's thread calls MPI (src/parallel/heartbeat.c): ask for MULTIPLE while it is on.
        int want = ts_heartbeat_seconds() > 0.0 ? MPI_THREAD_MULTIPLE : MPI_THREAD_FUNNELED;
        int err = MPI_Init_thread(argc, argv, want, &provided);
        if (err != MPI_SUCCESS) return ts_mpi_status(err, "MPI_Init_thread");
        ts_we_initialized = 1;
        atexit(ts_parallel_finalize);  // at exit, not in ts_parallel_free: a process may make several contexts
        if (provided < MPI_THREAD_FUNNELED)
            TS_WARN("MPI provides thread level %d, below MPI_THREAD_FUNNELED; OpenMP regions must not call MPI",
                    provided);
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int err = MPI_Comm_dup(MPI_COMM_WORLD, &d->comm);
    if (err != MPI_SUCCESS) return ts_mpi_status(err, "MPI_Comm_dup");
    MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(d->comm, &d->rank);
    MPI_Comm_size(d->comm, &d->world);
    if (gethostname(d->host, sizeof d->host) != 0) snprintf(d->host, sizeof d->host, "?");
    d->host[sizeof d->host - 1] = '\0';
    ts_log_set_rank(d->rank, d->world);

    ts_abort_job_set(d->comm, d->rank, d->host);
    d->heartbeat = ts_heartbeat_start(d->comm, d->rank, d->host);  // collective; none on one rank
    return TS_OK;
}

void ts_parallel_free(ts_parallel * d) {
    if (!d) return;
    if (d->heartbeat) ts_heartbeat_stop();
    d->heartbeat = 0;
    ts_abort_job_clear(d->comm);
    if (d->halo) {
        d->halo->ops->free(d->halo);
        d->halo = NULL;
    }
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return;
    if (d->comm != MPI_COMM_NULL) MPI_Comm_free(&d->comm);
}

// ---- failure handling ----------------------------------------------------------------

// What the first failing rank tells the others.
struct ts_fail_report {
    int status;
    char host[64];
    char msg[384];
    char hint[256];
};

enum ts_status ts_parallel_agree(ts_parallel * d, enum ts_status mine) {
    if (d->world == 1) return mine;
    // The lowest failing rank speaks for all; INT_MAX: nobody failed.
    int me = mine != TS_OK ? d->rank : INT_MAX, first = INT_MAX;
    int err = MPI_Allreduce(&me, &first, 1, MPI_INT, MPI_MIN, d->comm);
    if (err != MPI_SUCCESS) return ts_mpi_status(err, "MPI_Allreduce in ts_parallel_agree");
    if (first == INT_MAX) return TS_OK;

    struct ts_fail_report rep;
    memset(&rep, 0, sizeof rep);
    if (d->rank == first) {
        rep.status = (int)mine;
        snprintf(rep.host, sizeof rep.host, "%s", d->host);
        snprintf(rep.msg, sizeof rep.msg, "%s", ts_last_error());
        snprintf(rep.hint, sizeof rep.hint, "%s", ts_last_hint());
    }
    err = MPI_Bcast(&rep, (int)sizeof rep, MPI_BYTE, first, d->comm);
    if (err != MPI_SUCCESS) return ts_mpi_status(err, "MPI_Bcast in ts_parallel_agree");
    if (mine != TS_OK) return mine;
    rep.host[sizeof rep.host - 1] = rep.msg[sizeof rep.msg - 1] = rep.hint[sizeof rep.hint - 1] = '\0';
    return ts_error(TS_ERR_DIST, rep.hint[0] ? rep.hint : NULL, "rank %d (%s) failed: %s", first, rep.host,
                    rep.msg[0] ? rep.msg : ts_status_name((enum ts_status)rep.status));
}

void ts_parallel_abort(ts_parallel * d, int code) {
    if (code == 0) code = 1;
    ts_abort_run_cleanup();
    int rank = d ? d->rank : ts_abort_job_rank();
    const char * host = d ? d->host : ts_abort_job_host();
    const char * msg = ts_last_error();
    const char * hint = ts_last_hint();
    fprintf(stderr, "timeshard: error: [rank %d %s] %s; ending the job\n", rank, host,
            msg[0] ? msg : "aborted (no error recorded)");
    if (hint[0]) fprintf(stderr, "---> HINT: %s\n", hint);
    fflush(stderr);
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (initialized && !finalized) MPI_Abort(d && d->comm != MPI_COMM_NULL ? d->comm : MPI_COMM_WORLD, code);
    exit(code);
}

// ---- the halo communicator, chosen once -----------------------------------------------
enum ts_status ts_parallel_halo_open(ts_parallel * d, ts_backend_t be) {
    TS_ASSERT(!d->halo);
#ifdef TS_CUDA
    if (be && ts_backend_is_cuda(be) && d->world > 1) {
        d->halo = ts_comm_nccl_new(d->comm, ts_backend_cuda_device(be), ts_backend_cuda_stream(be));
        return d->halo ? TS_OK : TS_ERR_DIST;
    }
#endif
    (void)be;
    d->halo = ts_comm_mpi_new(d->comm);
    return TS_OK;
}
