// Unit test of ts_partition and ts_partition_max_ranks (pure: no MPI needed).
#include <stdio.h>

#include "parallel/partition.h"
#include "ts_test.h"

static void test_cover(void) {
    for (int64_t T = 1; T <= 300; T++) {
        for (int P = 1; P <= 40; P++) {
            int64_t next = 0, sum = 0, lo = T, hi = 0;
            for (int r = 0; r < P; r++) {
                int64_t first = -1, count = -1;
                ts_partition(T, P, r, &first, &count);
                CHECK(first == next, "T=%lld P=%d r=%d first=%lld want %lld", (long long)T, P, r, (long long)first,
                      (long long)next);
                CHECK(count >= 0, "T=%lld P=%d r=%d count=%lld", (long long)T, P, r, (long long)count);
                // the first T % P ranks own one more
                CHECK(count == T / P + (r < T % P), "T=%lld P=%d r=%d count=%lld", (long long)T, P, r,
                      (long long)count);
                next = first + count;
                sum += count;
                if (count < lo) lo = count;
                if (count > hi) hi = count;
            }
            CHECK(sum == T && next == T, "T=%lld P=%d sum=%lld end=%lld", (long long)T, P, (long long)sum,
                  (long long)next);
            CHECK(hi - lo <= 1, "T=%lld P=%d sizes %lld..%lld", (long long)T, P, (long long)lo, (long long)hi);
        }
    }
    // large values do not overflow
    int64_t first, count;
    ts_partition((int64_t)1 << 40, 7, 6, &first, &count);
    CHECK(first + count == (int64_t)1 << 40, "2^40 frames over 7 ranks");
}

// Largest P <= max_P whose partition gives every rank >= max(W, 1) frames, by trying each P.
static int brute_max_ranks(int64_t T, int W, int max_P) {
    int best = 0;
    for (int P = 1; P <= max_P; P++) {
        int ok = 1;
        for (int r = 0; r < P && ok; r++) {
            int64_t first, count;
            ts_partition(T, P, r, &first, &count);
            if (count < W || count < 1) ok = 0;
        }
        if (ok) best = P;
    }
    return best;
}

static void test_max_ranks(void) {
    for (int64_t T = 0; T <= 300; T++)
        for (int W = 0; W <= 9; W++)
            for (int max_P = 0; max_P <= 40; max_P++) {
                int got = ts_partition_max_ranks(T, W, max_P), want = brute_max_ranks(T, W, max_P);
                CHECK(got == want, "T=%lld W=%d max_P=%d: got %d want %d", (long long)T, W, max_P, got, want);
            }
    CHECK(ts_partition_max_ranks((int64_t)1 << 40, 2, 1 << 30) == 1 << 30, "huge T is capped by max_P");
}

int main(void) {
    test_cover();
    test_max_ranks();
    ts_group("parallel.partition");
    return ts_test_finish("test_parallel_partition");
}
