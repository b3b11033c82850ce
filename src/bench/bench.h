// timeshard bench's pieces shared by its files: bench.c (the default family,
// the command line) and bench_wan.c (Wan2.1 transformers).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "parallel/parallel.h"  // MPI_Comm

// Sorts v[0..n) in place and returns its median (the upper one for even n).
double ts_bench_median(double * v, int n);
// This machine's OpenBLAS sgemm GFLOP/s on n^3 with `threads` threads, best of 5.
double ts_bench_sgemm_gflops(int threads, int n);
// The CPU's arithmetic peak on `threads` threads: independent fused multiply-add
// chains in registers (AVX-512, else AVX2+FMA, else 4-wide multiply and add), GFLOP/s, best of 3.
double ts_bench_fma_peak_gflops(int threads);
// CPU time of the process so far (all threads), seconds.
double ts_bench_cpu_time(void);
// FNV-1a over n bytes (outputs compared bit for bit across rows).
uint64_t ts_bench_fnv1a(const void * p, size_t n);
// A barrier whose waiting ranks sleep between polls instead of spinning.
void ts_bench_quiet_barrier(MPI_Comm comm);

struct ts_bench_wan_args {
    const char * model_path;
    int64_t frames;        // video frames (4k+1)
    int width, height;     // pixels (multiples of 16)
    int threads, reps, json;
    const char * scaling;  // NULL: one rank's forward; "strong": rows of 1..P ranks under mpirun
    const char * save;     // one rank: the output, raw float32 (T, h, w, C), written here (NULL: not)
};
// `timeshard bench` on a Wan2.1 transformer (bench_wan.c): the exit status.
int ts_bench_wan(const struct ts_bench_wan_args * a);
