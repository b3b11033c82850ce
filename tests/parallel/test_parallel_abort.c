// Helper for parallel_abort.cmake: rank 1 ends the job (ts_parallel_abort, a fatal
// signal, or a failed TS_ASSERT) while the other ranks block in MPI_Recv.
// Usage: test_parallel_abort abort|segv|abrt|assert MARKER_FILE
// The cleanup registered with ts_parallel_on_abort deletes MARKER_FILE; the driver
// checks that mpirun ended promptly, non-zero, and that the file is gone.
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/common.h"
#include "parallel/parallel.h"

static void cleanup(void * ud) { unlink((const char *)ud); }

int main(int argc, char ** argv) {
    ts_parallel d;
    if (argc < 3 || ts_parallel_init(&d, &argc, &argv) != TS_OK) {
        fprintf(stderr, "usage: test_parallel_abort abort|segv|abrt|assert MARKER_FILE (under mpirun, >= 2 ranks)\n");
        return 2;
    }
    const char * mode = argv[1];
    ts_abort_signals_install();
    ts_parallel_on_abort(cleanup, argv[2]);
    MPI_Barrier(d.comm);
    if (d.rank == 1) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);  // let the others block first
        if (strcmp(mode, "abort") == 0) {
            ts_error(TS_ERR_IO, "check the output directory", "cannot write frame 17");
            ts_parallel_abort(&d, 3);
        } else if (strcmp(mode, "segv") == 0) {
            raise(SIGSEGV);
        } else if (strcmp(mode, "abrt") == 0) {
            abort();
        } else if (strcmp(mode, "assert") == 0) {
            TS_ASSERT(strcmp(mode, "assert") != 0);
        }
        fprintf(stderr, "rank 1 is still running after '%s'\n", mode);
        return 0;
    }
    int x = 0;
    MPI_Recv(&x, 1, MPI_INT, 1, 0, d.comm, MPI_STATUS_IGNORE);  // never sent
    fprintf(stderr, "rank %d: MPI_Recv returned\n", d.rank);
    ts_parallel_free(&d);
    return 0;
}
