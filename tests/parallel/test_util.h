// Checks for the dist tests: count failures per rank, agree on a verdict.
#pragma once
#include <mpi.h>
#include <stdio.h>

static int ts_test_failures;

#define CHECK(cond, ...)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            int rank_ = 0, init_ = 0;                                                        \
            MPI_Initialized(&init_);                                                         \
            if (init_) MPI_Comm_rank(MPI_COMM_WORLD, &rank_);                                \
            fprintf(stderr, "FAIL [rank %d] %s:%d: %s: ", rank_, __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                    \
            fprintf(stderr, "\n");                                                           \
            ts_test_failures++;                                                              \
        }                                                                                    \
    } while (0)

// Sum of failures over all ranks; rank 0 prints "name  OK" or "name  FAILED (n)".
static int ts_test_verdict(MPI_Comm comm, const char * name) {
    int total = 0, rank = 0;
    MPI_Allreduce(&ts_test_failures, &total, 1, MPI_INT, MPI_SUM, comm);
    MPI_Comm_rank(comm, &rank);
    if (rank == 0) {
        if (total)
            printf("%-40s FAILED (%d)\n", name, total);
        else
            printf("%-40s OK\n", name);
        fflush(stdout);
    }
    ts_test_failures = 0;
    return total;
}
