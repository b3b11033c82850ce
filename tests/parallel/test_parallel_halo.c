// Multi-rank test of the MPI halo exchange: each rank fills its slab (left
// halo, owned frames, right halo), exchanges, and checks that the halo slots
// hold exactly the neighbours' edge frames and stay untouched at the video's ends.
// Then the broadcast of the MPI communicator (from every root, in one message
// and in many) and of the in-process one (threads).
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "parallel/parallel.h"
#include "thread_comm.h"
#include "ts_test_mpi.h"

#define SENTINEL (-1.0f)

// The value of element e of global frame g in exchange number `round`: exact in float32.
static float value(int64_t g, int64_t e, int round) { return (float)(round * 1000000 + g * 1000 + e); }

#define SCRIBBLE (-2.0f)

// One exchange of W frames of `slot` floats each over a T-frame video; CHECKs the slab.
// With `scribble` the owned frames are overwritten between halo_post and
// halo_wait: the MPI communicator sends copies, so the neighbours must still
// get the values from before.
static void exchange(ts_parallel * d, ts_comm_t c, int64_t T, int W, int64_t slot, int round, int scribble) {
    int64_t first, count;
    ts_partition(T, d->world, d->rank, &first, &count);
    int64_t S = count + 2 * W;
    float * slab = ts_malloc((size_t)(S * slot) * sizeof(float));  // (T_own + 2W, slot)
    for (int64_t s = 0; s < S; s++)
        for (int64_t e = 0; e < slot; e++)
            slab[s * slot + e] = (s >= W && s < W + count) ? value(first + s - W, e, round) : SENTINEL;
    int has_left = d->rank > 0, has_right = d->rank < d->world - 1;
    size_t bytes = (size_t)(W * slot) * sizeof(float);
    double before = c->wait_seconds;
    c->ops->halo_post(c, has_left ? slab + W * slot : NULL, has_right ? slab + count * slot : NULL,
                      has_left ? slab : NULL, has_right ? slab + (W + count) * slot : NULL, bytes);
    if (scribble)
        for (int64_t e = W * slot; e < (W + count) * slot; e++) slab[e] = SCRIBBLE;
    enum ts_status st = c->ops->halo_wait(c);
    CHECK(st == TS_OK, "halo_wait: %s", ts_last_error());
    CHECK(c->wait_seconds >= before, "wait_seconds went down");

    int bad = 0;
    for (int64_t s = 0; s < S && bad < 5; s++) {
        int64_t g = first + s - W;  // the global frame slot s should hold
        int edge = (s < W && !has_left) || (s >= W + count && !has_right);
        for (int64_t e = 0; e < slot; e++) {
            int own = s >= W && s < W + count;
            float want = edge ? SENTINEL : own && scribble ? SCRIBBLE : value(g, e, round);
            if (slab[s * slot + e] != want) {
                CHECK(0, "T=%lld W=%d slot=%lld round=%d: slab[%lld][%lld] = %.1f, want %.1f", (long long)T, W,
                      (long long)slot, round, (long long)s, (long long)e, slab[s * slot + e], want);
                bad++;
                break;
            }
        }
    }
    free(slab);
}

// Root fills `n` floats with its pattern, the others with junk; after the
// broadcast every rank holds root's. 1 if so.
static int bcast_once(ts_comm_t c, int rank, int root, int64_t n, int round) {
    float * b = ts_malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++) b[i] = rank == root ? value(root, i, round) : SENTINEL;
    int ok = c->ops->bcast(c, b, (size_t)n * sizeof(float), root) == TS_OK;
    for (int64_t i = 0; ok && i < n; i++) ok = b[i] == value(root, i, round);
    free(b);
    return ok;
}

struct tjob {
    ts_comm_t c;
    int rank, P, ok;
};
static void * thread_bcast(void * arg) {
    struct tjob * j = arg;
    j->ok = 1;
    for (int root = 0; root < j->P; root++) j->ok &= bcast_once(j->c, j->rank, root, 1000 + root, root);
    return NULL;
}

int main(int argc, char ** argv) {
    ts_parallel d;
    if (ts_parallel_init(&d, &argc, &argv) != TS_OK) {
        fprintf(stderr, "ts_parallel_init: %s\n", ts_last_error());
        return 1;
    }
    ts_test_mpi_begin(d.comm);
    CHECK(ts_parallel_halo_open(&d, NULL) == TS_OK, "halo_open");
    CHECK(d.halo && strcmp(d.halo->ops->name, "mpi") == 0, "the default halo is MPI");
    const int64_t slots[] = {1, 5, 1000};
    for (int W = 1; W <= 3; W++) {
        const int64_t Ts[] = {(int64_t)d.world * W, (int64_t)d.world * W + 1, (int64_t)d.world * (W + 1) - 1,
                              (int64_t)d.world * W * 2 + 3};
        for (int t = 0; t < 4; t++) {
            if (ts_partition_max_ranks(Ts[t], W, d.world) < d.world) continue;
            for (int s = 0; s < 3; s++)
                for (int round = 0; round < 2; round++) exchange(&d, d.halo, Ts[t], W, slots[s], round, 0);
        }
    }
    ts_mpi_group(d.comm, "parallel.halo");

    // Exchanges split into many messages (the path for halos over 1 GiB), with
    // a message size that does not divide the bytes or even a float.
    ts_comm_t c = ts_comm_mpi_new(d.comm);
    const size_t maxes[] = {7, 64, 4000};
    for (int m = 0; m < 3; m++) {
        ts_comm_mpi_set_max_message(c, maxes[m]);
        for (int W = 2; W <= 3; W++) exchange(&d, c, (int64_t)d.world * W + d.world / 2, W, 1000, m, 0);
    }
    c->ops->free(c);
    ts_mpi_group(d.comm, "parallel.halo.chunked");

    // Send buffers reused as soon as halo_post returns, over more exchanges in a
    // row than there are staging slots, with sizes that grow and shrink.
    c = ts_comm_mpi_new(d.comm);
    const int64_t sizes[] = {5, 1000, 3, 4000, 1000, 1};
    for (int round = 0; round < 6; round++) exchange(&d, c, (int64_t)d.world * 2 + 1, 2, sizes[round], round, 1);
    c->ops->free(c);
    ts_mpi_group(d.comm, "parallel.halo.reuse");

    // Broadcast from every root: small, large, empty, and in pieces that do not divide it.
    int ok = 1;
    for (int root = 0; root < d.world; root++) {
        ok &= bcast_once(d.halo, d.rank, root, 1, root);
        ok &= bcast_once(d.halo, d.rank, root, 300000, root + 1);
        ok &= bcast_once(d.halo, d.rank, root, 0, 0);
    }
    CHECK(ok, "bcast: a rank did not receive root's floats");
    c = ts_comm_mpi_new(d.comm);
    ts_comm_mpi_set_max_message(c, 7);
    for (int root = 0; root < d.world; root++) CHECK(bcast_once(c, d.rank, root, 1001, root), "bcast in 7-byte pieces");
    c->ops->free(c);
    ts_mpi_group(d.comm, "parallel.bcast");

    // the in-process communicator's broadcast (P threads, every root)
    if (d.rank == 0) {
        for (int P = 1; P <= 4; P++) {
            struct ts_thread_group * g = ts_thread_group_new(P, NULL);
            struct tjob jobs[4];
            for (int r = 0; r < P; r++) jobs[r] = (struct tjob){ts_thread_group_comm(g, r), r, P, 0};
            ts_thread_group_run(g, thread_bcast, jobs, sizeof jobs[0]);
            for (int r = 0; r < P; r++) CHECK(jobs[r].ok, "threads bcast P=%d: rank %d", P, r);
            ts_thread_group_free(&g);
        }
    }
    ts_mpi_group(d.comm, "parallel.bcast.threads");

    int rc = ts_test_mpi_finish(d.comm, "test_parallel_halo");
    ts_parallel_free(&d);
    return rc;
}
