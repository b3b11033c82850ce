// The MPI part of the test harness (ts_test.h): verdicts agreed over the ranks.
//   ts_test_mpi_begin(comm)        after MPI_Init: failure lines then name their rank
//   CHECK(cond, ...)               on any rank, as in ts_test.h
//   ts_mpi_group(comm, name)       the failed CHECKs summed over the ranks; rank 0
//                                  prints one verdict line; every rank gets the sum
//   ts_mpi_all(comm, ok)           1 when ok holds on every rank (for VERDICT)
//   ts_test_mpi_finish(comm, name) the failures summed over the ranks; rank 0 prints
//                                  the summary; the exit status, the same on every rank
#pragma once
#include <mpi.h>

#include "ts_test.h"

static inline void ts_test_mpi_begin(MPI_Comm comm) {
    MPI_Comm_rank(comm, &ts_test.rank);
    MPI_Comm_size(comm, &ts_test.world);
}

static inline int ts_mpi_all(MPI_Comm comm, int ok) {
    int all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, comm);
    return all;
}

static inline int ts_mpi_group(MPI_Comm comm, const char * name) {
    int mine = ts_test.pending, total = 0, rank = 0;
    MPI_Allreduce(&mine, &total, 1, MPI_INT, MPI_SUM, comm);
    MPI_Comm_rank(comm, &rank);
    ts_test.pending = 0;
    if (rank == 0) {
        char detail[48] = "";
        if (total) snprintf(detail, sizeof detail, "(%d over the ranks)", total);
        ts_verdict(name, total == 0, detail);  // counts one failure on rank 0
    } else if (total) {
        ts_test.failures++;
    }
    return total;
}

static inline int ts_test_mpi_finish(MPI_Comm comm, const char * suite) {
    int mine = ts_test.failures + ts_test.pending, total = 0, rank = 0;
    MPI_Allreduce(&mine, &total, 1, MPI_INT, MPI_MAX, comm);
    MPI_Comm_rank(comm, &rank);
    if (rank == 0) {
        if (total)
            printf("%s: %d check(s) FAILED\n", suite, total);
        else
            printf("%s: all checks passed\n", suite);
        fflush(stdout);
    }
    return total ? 1 : 0;
}
