// The partition of T frames over P ranks (ts_partition) and the largest rank
// count that leaves every rank W frames (ts_partition_max_ranks). Pure.
#include "parallel/parallel.h"

// TS_ASSERT
#include "core/common.h"

void ts_partition(int64_t T, int P, int r, int64_t * first, int64_t * count) {
    TS_ASSERT(T >= 0 && P >= 1 && r >= 0 && r < P);
    int64_t base = T / P;
    int64_t rem = T % P;  // the first `rem` ranks own base + 1 frames
    *count = base + (r < rem ? 1 : 0);
    *first = (int64_t)r * base + (r < rem ? r : rem);
}

// The smallest share is floor(T / P) frames, so P works iff floor(T / P) >= W,
// that is P <= T / W. A rank always needs at least one frame, so W < 1 counts as 1.
int ts_partition_max_ranks(int64_t T, int W, int max_P) {
    if (W < 1) W = 1;
    if (T < W || max_P < 1) return 0;
    int64_t p = T / W;
    return p < max_P ? (int)p : max_P;
}
