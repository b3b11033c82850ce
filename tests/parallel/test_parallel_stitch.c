// Multi-rank test of the ordered frame stream (ts_stitch): order and content
// on rank 0, the bound on buffered frames, overlap of production with rank 0's
// own work, small and large frames, ranks without frames, bad arguments.
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/common.h"
#include "parallel/parallel.h"
#include "ts_test_mpi.h"

typedef struct stream {
    ts_parallel * d;
    int64_t first, count;  // this rank's frames
    size_t frame_bytes;
    int64_t next;         // rank 0: the global index consume should see next
    int64_t bad;          // rank 0: frames with wrong index or content
    double own_sleep;     // rank 0: seconds to spend on each of its own frames
    double t_own_done;    // rank 0: when its last own frame was consumed
    double * t_produced;  // owned: (count,) when each frame was produced
} stream;

static uint8_t frame_byte(int64_t g, size_t j) { return (uint8_t)((g * 131 + (int64_t)j * 7 + (g >> 8)) & 0xff); }

static void fill(uint8_t * buf, int64_t g, size_t n) {
    for (size_t j = 0; j < n; j++) buf[j] = frame_byte(g, j);
    if (n >= sizeof g) memcpy(buf, &g, sizeof g);
}

static enum ts_status produce(void * ud, int64_t i, uint8_t * buf) {
    stream * s = ud;
    if (!(i >= 0 && i < s->count)) {
        CHECK(0, "produce called with i=%lld of %lld", (long long)i, (long long)s->count);
        return TS_ERR_ARG;
    }
    fill(buf, s->first + i, s->frame_bytes);
    s->t_produced[i] = ts_time();
    return TS_OK;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static enum ts_status consume(void * ud, int64_t g, const uint8_t * buf) {
    stream * s = ud;
    if (g != s->next) s->bad++;
    int ok = 1;
    if (s->frame_bytes >= sizeof g) {
        int64_t tag;
        memcpy(&tag, buf, sizeof tag);
        ok = tag == g;
    }
    for (size_t j = sizeof g; ok && j < s->frame_bytes; j++) ok = buf[j] == frame_byte(g, j);
    if (!ok) s->bad++;
    s->next = g + 1;
    if (g < s->count) {  // rank 0's own frames
        if (s->own_sleep > 0) sleep_s(s->own_sleep);
        if (g == s->count - 1) s->t_own_done = ts_time();
    }
    return TS_OK;
}

// One stream; checks everything visible on this rank.
static void run(ts_parallel * d, int64_t T, size_t frame_bytes, int window, double own_sleep, int check_overlap) {
    stream s = {.d = d, .frame_bytes = frame_bytes, .own_sleep = own_sleep};
    ts_partition(T, d->world, d->rank, &s.first, &s.count);
    s.t_produced = ts_calloc((size_t)(s.count + 1), sizeof(double));
    enum ts_status st = ts_stitch(d, T, frame_bytes, window, produce, &s, consume, &s);
    CHECK(st == TS_OK, "T=%lld bytes=%zu window=%d: %s", (long long)T, frame_bytes, window, ts_last_error());
    struct ts_stitch_stats stats;
    ts_stitch_stats(&stats);
    CHECK(stats.frames_produced == s.count, "T=%lld: produced %lld of %lld", (long long)T,
          (long long)stats.frames_produced, (long long)s.count);
    CHECK(stats.recv_posted_max <= window && stats.send_outstanding_max <= window,
          "T=%lld window=%d: %d frames held, %d in flight", (long long)T, window, stats.recv_posted_max,
          stats.send_outstanding_max);
    if (d->rank == 0) {
        CHECK(s.next == T && s.bad == 0 && stats.frames_consumed == T,
              "T=%lld bytes=%zu window=%d: %lld consumed, %lld bad", (long long)T, frame_bytes, window,
              (long long)s.next, (long long)s.bad);
        // With frames of other ranks to fetch, the window is used in full (up to their count).
        int64_t most = 0;
        for (int r = 1; r < d->world; r++) {
            int64_t f, c;
            ts_partition(T, d->world, r, &f, &c);
            if (c > most) most = c;
        }
        int want = most < window ? (int)most : window;
        CHECK(stats.recv_posted_max == want, "T=%lld window=%d: rank 0 held at most %d frames, want %d", (long long)T,
              window, stats.recv_posted_max, want);
    }
    if (check_overlap && d->world > 1) {
        // Every sender has produced its first `window` frames before rank 0 is done
        // with its own (overlap), and no more than that (the credit window).
        double t_own = s.t_own_done;
        MPI_Bcast(&t_own, 1, MPI_DOUBLE, 0, d->comm);
        if (d->rank > 0) {
            int64_t k = s.count < window ? s.count : window;
            CHECK(k == 0 || s.t_produced[k - 1] < t_own, "rank %d produced frame %lld only after rank 0's own frames",
                  d->rank, (long long)(k - 1));
            CHECK(s.count <= window || s.t_produced[window] > t_own,
                  "rank %d produced frame %d (past the window) before rank 0 was done with its own", d->rank, window);
        }
    }
    free(s.t_produced);
}

int main(int argc, char ** argv) {
    ts_parallel d;
    if (ts_parallel_init(&d, &argc, &argv) != TS_OK) {
        fprintf(stderr, "ts_parallel_init: %s\n", ts_last_error());
        return 1;
    }
    ts_test_mpi_begin(d.comm);
    const int64_t Ts[] = {0, 1, 2, 3, 7, 10, 37};
    const size_t sizes[] = {1, 100, 4096, 300000};
    const int windows[] = {1, 2, 4, 8};
    for (int t = 0; t < 7; t++)
        for (int b = 0; b < 4; b++)
            for (int w = 0; w < 4; w++) run(&d, Ts[t], sizes[b], windows[w], 0, 0);
    ts_mpi_group(d.comm, "parallel.stitch.order");

    run(&d, 1000, 64, 4, 0, 0);
    ts_mpi_group(d.comm, "parallel.stitch.long (T=1000, window 4)");

    run(&d, 12, 1 << 20, 3, 0, 0);
    ts_mpi_group(d.comm, "parallel.stitch.large_frames (1 MiB)");

    run(&d, (int64_t)d.world * 4 + 1, 512, 2, 0.05, 1);  // small frames: a plain Isend would not wait
    ts_mpi_group(d.comm, "parallel.stitch.overlap");

    // Bad arguments: the same error on every rank, no hang.
    stream s = {.d = &d, .frame_bytes = 16};
    s.t_produced = ts_calloc(64, sizeof(double));
    ts_error_clear();
    CHECK(ts_stitch(&d, 10, 16, 0, produce, &s, consume, &s) == TS_ERR_ARG, "window 0 accepted");
    ts_error_clear();
    CHECK(ts_stitch(&d, 10, (size_t)3 << 30, 2, produce, &s, consume, &s) == TS_ERR_ARG, "3 GiB frames accepted");
    ts_error_clear();
    free(s.t_produced);
    ts_mpi_group(d.comm, "parallel.stitch.bad_args");

    int rc = ts_test_mpi_finish(d.comm, "test_parallel_stitch");
    ts_parallel_free(&d);
    return rc;
}
