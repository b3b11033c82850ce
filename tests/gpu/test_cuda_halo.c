// The NCCL halo communicator under mpirun (2+ ranks): device buffers produced
// on the compute stream right before halo_post and consumed on it right after
// halo_wait, no host sync in between, checked bit for bit against the
// neighbours' patterns for several sizes and many rounds; then the DiT over
// the ranks' chunks with the NCCL halo vs the whole video on rank 0's GPU.
// Two ranks on one GPU need TS_CUDA_SHARE_GPU=1 and a distinct NCCL_HOSTID
// per rank (tests/gpu/run.sh sets them). Exits 77 (skipped) without a GPU.
//   mpirun -np 2 test_cuda_halo [FIXTURES_DIR]
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "core/common.h"
#include "core/rng.h"
#include "parallel/parallel.h"
#include "backend/cuda/cuda_device.h"  // ts_cuda_pick_device
#include "model/stdit/stdit.h"
#include "ts_test_mpi.h"

static int rank, world;

// The byte that rank r sends towards `side` (0 left, 1 right) at offset i in round k.
static uint8_t pattern(int r, int side, size_t i, int k) {
    uint32_t x = (uint32_t)(r * 7919 + side * 104729 + k * 15485863) ^ (uint32_t)(i * 2654435761u);
    x ^= x >> 13;
    return (uint8_t)(x * 0x5bd1e995u >> 24);
}

static int check_halo(ts_backend_t be, ts_comm_t comm, size_t bytes, int rounds) {
    const struct ts_backend_ops * op = be->ops;
    int has_l = rank > 0, has_r = rank < world - 1;
    uint8_t *h = malloc(bytes), *got = malloc(bytes);
    void * stage = op->alloc(be, 2 * bytes);  // patterns, uploaded, then copied on the stream
    void * send = op->alloc(be, 2 * bytes);   // [left | right]
    void * recv = op->alloc(be, 2 * bytes);   // [from left | from right]
    void * seen = op->alloc(be, 2 * bytes);   // recv copied on the stream after halo_wait
    int bad = 0;
    for (int k = 0; k < rounds; k++) {
        for (int side = 0; side < 2; side++) {
            for (size_t i = 0; i < bytes; i++) h[i] = pattern(rank, side, i, k);
            op->upload(be, (char *)stage + side * bytes, h, bytes);
        }
        // produced on the compute stream, not waited for by the host: halo_post must order itself after it
        op->copy(be, send, stage, 2 * bytes);
        comm->ops->halo_post(comm, has_l ? send : NULL, has_r ? (char *)send + bytes : NULL, has_l ? recv : NULL,
                             has_r ? (char *)recv + bytes : NULL, bytes);
        enum ts_status st = comm->ops->halo_wait(comm);
        CHECK(st == TS_OK, "halo_wait: %s", ts_last_error());
        op->copy(be, seen, recv, 2 * bytes);  // must see the received data: the stream waits on the exchange
        for (int side = 0; side < 2; side++) {
            if (side == 0 ? !has_l : !has_r) continue;
            int from = side == 0 ? rank - 1 : rank + 1;
            op->download(be, got, (char *)seen + side * bytes, bytes);
            for (size_t i = 0; i < bytes; i++)
                if (got[i] != pattern(from, 1 - side, i, k)) {
                    if (bad++ < 3)
                        CHECK(0, "round %d, %zu bytes, from rank %d: byte %zu is %u, expected %u", k, bytes, from, i,
                              got[i], pattern(from, 1 - side, i, k));
                    break;
                }
        }
    }
    op->release(be, stage), op->release(be, send), op->release(be, recv), op->release(be, seen);
    free(h), free(got);
    char name[96];
    snprintf(name, sizeof name, "nccl.halo np=%d %zu bytes x %d rounds", world, bytes, rounds);
    return ts_mpi_group(MPI_COMM_WORLD, name);
}

// DiT over the ranks' chunks (NCCL halo) vs the whole video on rank 0 (no halo).
static int check_dit(ts_backend_t be, ts_comm_t comm, const char * path, int64_t T, enum ts_halo hm) {
    ts_model * m = NULL;
    if (ts_model_load(&m, path, be) != TS_OK) {
        CHECK(0, "load %s: %s", path, ts_last_error());
        return ts_mpi_group(MPI_COMM_WORLD, "nccl.dit chunks vs whole");
    }
    const struct ts_backend_ops * op = be->ops;
    int64_t hw = ts_cfg_latent_hw(&m->cfg), cell = hw * hw * m->cfg.latent_channels, n = T * cell;
    int64_t g0, Tn;
    ts_partition(T, world, rank, &g0, &Tn);
    float *z_h = malloc((size_t)n * sizeof(float)), *v_h = malloc((size_t)n * sizeof(float));
    ts_rng_normal_fill(z_h, n, 3, 0, 0);  // every rank draws the whole video's noise; uses its frames
    ts_text_cond tc;
    TS_ASSERT(ts_text_encode(m, "a red circle moving left on a blue background", &tc) == TS_OK);
    float *z = op->alloc(be, (size_t)(Tn * cell) * sizeof(float)),
          *v = op->alloc(be, (size_t)(Tn * cell) * sizeof(float));
    op->upload(be, z, z_h + g0 * cell, (size_t)(Tn * cell) * sizeof(float));
    ts_dit_ws * ws = ts_dit_ws_new(m, Tn, g0, T);
    ts_dit_ws_set_halo_mode(ws, hm);
    enum ts_status st = ts_dit_forward(ws, m, v, z, NULL, NULL, 0.7f, &tc, world > 1 ? comm : NULL);
    CHECK(st == TS_OK, "dit forward: %s", ts_last_error());
    float * part = malloc((size_t)(Tn * cell) * sizeof(float));
    op->download(be, part, v, (size_t)(Tn * cell) * sizeof(float));
    int *counts = malloc((size_t)world * sizeof(int)), *displs = malloc((size_t)world * sizeof(int));
    for (int r = 0; r < world; r++) {
        int64_t a, b;
        ts_partition(T, world, r, &a, &b);
        counts[r] = (int)(b * cell), displs[r] = (int)(a * cell);
    }
    MPI_Gatherv(part, (int)(Tn * cell), MPI_FLOAT, v_h, counts, displs, MPI_FLOAT, 0, MPI_COMM_WORLD);
    ts_dit_ws_free(m, &ws);
    op->release(be, z), op->release(be, v);
    char name[128];
    snprintf(name, sizeof name, "nccl.dit np=%d T=%lld halo %s chunks vs whole", world, (long long)T,
             hm == TS_HALO_QKV ? "qkv" : "act");
    if (rank == 0) {
        float *zw = op->alloc(be, (size_t)n * sizeof(float)), *vw = op->alloc(be, (size_t)n * sizeof(float));
        op->upload(be, zw, z_h, (size_t)n * sizeof(float));
        ts_dit_ws * w1 = ts_dit_ws_new(m, T, 0, T);
        TS_ASSERT(ts_dit_forward(w1, m, vw, zw, NULL, NULL, 0.7f, &tc, NULL) == TS_OK);
        float * whole = malloc((size_t)n * sizeof(float));
        op->download(be, whole, vw, (size_t)n * sizeof(float));
        double rel = ts_rel_err_f(v_h, whole, n);  // NaN: INFINITY
        int same = memcmp(v_h, whole, (size_t)n * sizeof(float)) == 0;
        CHECK(rel <= 1e-5 && rel == rel, "max_rel %.2e > 1e-5", rel);
        printf("# %s: max_rel=%.1e (%s)\n", name, rel, same ? "bit-identical" : "not bit-identical");
        free(whole);
        ts_dit_ws_free(m, &w1);
        op->release(be, zw), op->release(be, vw);
    }
    int fails = ts_mpi_group(MPI_COMM_WORLD, name);
    ts_text_cond_free(m, &tc);
    ts_model_free(&m);
    free(z_h), free(v_h), free(part), free(counts), free(displs);
    return fails;
}

int main(int argc, char ** argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    ts_test_mpi_begin(MPI_COMM_WORLD);
    setvbuf(stdout, NULL, _IOLBF, 0);
    char why[256];
    int ndev = ts_cuda_device_count(why, sizeof why), min_dev = 0;
    MPI_Allreduce(&ndev, &min_dev, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (min_dev == 0) {
        if (rank == 0) printf("test_cuda_halo: SKIPPED: %s\n", ndev ? "a rank sees no GPU" : why);
        MPI_Finalize();
        return 77;
    }
    int dev = -1;
    if (ts_cuda_pick_device(MPI_COMM_WORLD, &dev) != TS_OK) {
        fprintf(stderr, "rank %d: %s\n---> HINT: %s\n", rank, ts_last_error(), ts_last_hint());
        MPI_Finalize();
        return 1;
    }
    ts_backend_t be = ts_backend_cuda_new(dev);
    int ok = be != NULL, all_ok = 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (!all_ok) {
        if (!ok) fprintf(stderr, "rank %d: %s\n", rank, ts_last_error());
        MPI_Finalize();
        return 1;
    }
    ts_cuda_device_describe(dev, why, sizeof why);
    printf("# rank %d of %d: GPU %d (%s)\n", rank, world, dev, why);
    ts_comm_t comm = ts_comm_nccl_new(MPI_COMM_WORLD, dev, ts_backend_cuda_stream(be));
    if (!comm) {
        fprintf(stderr, "rank %d: %s\n---> HINT: %s\n", rank, ts_last_error(), ts_last_hint());
        ts_backend_free(&be);
        MPI_Finalize();
        return 1;
    }
    int failures = 0;
    failures += check_halo(be, comm, 1, 5);
    failures += check_halo(be, comm, 4096 + 3, 20);
    failures += check_halo(be, comm, ((size_t)16 << 20) + 5, 5);
    const char * fix = argc > 1 ? argv[1] : TS_SOURCE_DIR "/tests/fixtures";
    char tiny[1024];
    snprintf(tiny, sizeof tiny, "%s/tiny.h5", fix);
    for (int hm = TS_HALO_ACT; hm <= TS_HALO_QKV; hm++) {
        failures += check_dit(be, comm, tiny, 3 * (int64_t)world + 1, (enum ts_halo)hm);
        for (int i = 2; i < argc; i++) failures += check_dit(be, comm, argv[i], 4 * (int64_t)world, (enum ts_halo)hm);
    }
    comm->ops->free(comm);
    ts_backend_free(&be);
    if (rank == 0) printf("test_cuda_halo: %s\n", failures ? "checks FAILED" : "all checks passed");
    MPI_Finalize();
    return failures ? 1 : 0;
}
