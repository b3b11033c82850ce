// Distributed interpolation under mpirun: each rank owns a contiguous run of
// keyframes (ts_partition), gets its right neighbour's first keyframe through
// ts_parallel_frame_halo, streams its output frames, and sends them to rank 0,
// which checks them byte for byte against its own one-rank stream.
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ts_test_mpi.h"
#include "core/common.h"
#include "parallel/parallel.h"
#include "interp/interp.h"
#include "synth.h"

enum { W = 64, H = 48 };

static enum ts_status key(void * ud, int64_t g, uint8_t * rgb, int * got) {
    const int64_t T = *(const int64_t *)ud;
    *got = g < T;
    if (*got) synth_scene(rgb, W, H, (double)g * 5);
    return TS_OK;
}

int main(int argc, char ** argv) {
    ts_parallel d;
    if (ts_parallel_init(&d, &argc, &argv) != TS_OK) return 1;
    ts_test_mpi_begin(d.comm);
    omp_set_num_threads(1 + d.rank % 2);  // ranks differ in threads too
    const size_t fb = (size_t)W * H * 3;
    struct ts_interp_params ip;
    ts_interp_params_init(&ip);
    const struct ts_interp_timing tms[] = {{1, 5}, {2, 5}};
    const int64_t Ts[] = {9, 6};
    for (int c = 0; c < 2; c++) {
        const struct ts_interp_timing tm = tms[c];
        int64_t T = Ts[c] < d.world ? d.world : Ts[c];
        int64_t g0, cnt, j0, jn;
        ts_partition(T, d.world, d.rank, &g0, &cnt);
        ts_interp_out_range(T, g0, cnt, tm, &j0, &jn);
        uint8_t * first = malloc(fb), * halo = malloc(fb), * frame = malloc(fb), * ref = malloc(fb);
        synth_scene(first, W, H, (double)g0 * 5);
        int has_halo = 0;
        CHECK(ts_parallel_frame_halo(&d, first, halo, fb, &has_halo) == TS_OK, "halo");
        CHECK(has_halo == (d.rank < d.world - 1), "has_halo %d", has_halo);
        ts_interp_stream * s = NULL;
        CHECK(ts_interp_rank_stream_open(&ip, W, H, tm, g0, cnt, key, &T, has_halo ? halo : NULL, &s) == TS_OK, "open");
        int64_t n = 0, j = 0;
        int got = 1;
        if (d.rank == 0) {
            // one-rank reference, then this rank's frames, then the others' in rank order
            ts_interp_stream * r = NULL;
            ts_interp_stream_open(&ip, W, H, tm, 0, -1, key, &T, &r);
            const int64_t total = ts_interp_out_count(T, tm);
            int64_t bad = -1;
            for (int src = 0; src < d.world; src++) {
                int64_t sg0, scnt, sj0, sjn;
                ts_partition(T, d.world, src, &sg0, &scnt);
                ts_interp_out_range(T, sg0, scnt, tm, &sj0, &sjn);
                for (int64_t i = 0; i < sjn; i++) {
                    if (src == 0) {
                        CHECK(ts_interp_stream_next(s, frame, &j, &got) == TS_OK && got && j == sj0 + i, "own frame");
                        n++;
                    } else {
                        MPI_Recv(frame, (int)fb, MPI_BYTE, src, 1, d.comm, MPI_STATUS_IGNORE);
                    }
                    CHECK(ts_interp_stream_next(r, ref, &j, &got) == TS_OK && got, "reference frame");
                    if (memcmp(frame, ref, fb) && bad < 0) bad = sj0 + i;
                }
            }
            CHECK(ts_interp_stream_next(r, ref, &j, &got) == TS_OK && !got, "reference has %lld frames", (long long)total);
            CHECK(bad < 0, "frame %lld differs from the one-rank video (timing %lld/%lld, %d ranks)", (long long)bad,
                  (long long)tm.num, (long long)tm.den, d.world);
            ts_interp_stream_free(&r);
        } else {
            while (ts_interp_stream_next(s, frame, &j, &got) == TS_OK && got) {
                CHECK(j == j0 + n, "frame index %lld, expected %lld", (long long)j, (long long)(j0 + n));
                MPI_Send(frame, (int)fb, MPI_BYTE, 0, 1, d.comm);
                n++;
            }
        }
        CHECK(ts_interp_stream_next(s, frame, &j, &got) == TS_OK && !got, "stream did not end");
        CHECK(n == jn, "rank made %lld frames, expected %lld", (long long)n, (long long)jn);
        ts_interp_stream_free(&s);
        free(first);
        free(halo);
        free(frame);
        free(ref);
    }
    char name[64];
    snprintf(name, sizeof name, "interp.mpi (%d ranks)", d.world);
    ts_mpi_group(d.comm, name);
    int rc = ts_test_mpi_finish(d.comm, "test_interp_mpi");
    ts_parallel_free(&d);
    return rc;
}
