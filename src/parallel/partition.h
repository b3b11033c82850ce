// The partition of a video's frames over ranks: one pure function of
// (frames, ranks, rank), unit-tested (tests/parallel/test_parallel_partition.c).
#pragma once
#include <stdint.h>

// Frames [first, first + count) owned by rank r of P for a T-frame video:
// contiguous, in rank order, sizes differ by at most one (the first T % P
// ranks own one more). Pure function.
void ts_partition(int64_t T, int P, int r, int64_t * first, int64_t * count);

// Largest rank count P <= max_P for which every rank owns at least W frames
// of T (0 when even one rank cannot). W < 1 counts as 1: a rank needs a frame.
int ts_partition_max_ranks(int64_t T, int W, int max_P);
