// Wan2.1's forward on P MPI ranks (each owning whole latent frames, K|V rows
// all-gathered through the MPI communicator every block) equals the 1-process
// forward bit for bit, global and windowed. Run under mpirun with any P <= T.
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "model/wan/wan.h"
#include "parallel/parallel.h"   // ts_comm_mpi_new
#include "parallel/partition.h"  // ts_partition
#include "wan_fixture.h"

int main(int argc, char ** argv) {
    MPI_Init(&argc, &argv);
    int rank, P;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &P);
    if (argc < 2) {
        if (rank == 0) fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
        MPI_Finalize();
        return 2;
    }
    ts_backend_t be = ts_backend_cpu_new(1);
    ts_comm_t comm = ts_comm_mpi_new(MPI_COMM_WORLD);
    const char * cfgs[] = {"c3_hd64", "c4_hd24"};
    int fail = 0;
    for (int ci = 0; ci < 2; ci++) {
        struct wan_io io = {0};
        char path[1024], name[160];
        snprintf(path, sizeof path, "%s/%s.orig.safetensors", argv[1], cfgs[ci]);
        ts_wan_model * m = NULL;
        if (wan_io_open(&io, argv[1], cfgs[ci]) || ts_wan_load(path, be, &m) != TS_OK) {
            fprintf(stderr, "rank %d: %s\n", rank, ts_last_error());
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        if (P > io.T) {  // the rank limit: one latent frame each
            if (rank == 0) printf("  %s: %d ranks > %d latent frames, skipped\n", cfgs[ci], P, io.T);
            ts_wan_free(&m);
            ts_st_close(&io.st);
            continue;
        }
        int64_t fsz = (int64_t)io.h * io.w * io.C, n = io.T * fsz;
        int64_t g0, Tn;
        ts_partition(io.T, P, rank, &g0, &Tn);
        int windows[] = {0, 1, 2};
        for (int wi = 0; wi < 3; wi++) {
            int W = windows[wi];
            ts_wan_ws * ws = NULL;
            float * mine = ts_test_alloc(Tn * fsz);
            enum ts_status st = ts_wan_ws_new(m, io.T, g0, Tn, io.h, io.w, W, io.L, &ws);
            if (st == TS_OK) st = ts_wan_forward(ws, m, mine, io.x + g0 * fsz, io.timestep, io.context, comm);
            if (st != TS_OK) {
                fprintf(stderr, "rank %d: %s\n", rank, ts_last_error());
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
            ts_wan_ws_free(&ws);
            int *counts = calloc((size_t)P, sizeof(int)), *displs = calloc((size_t)P, sizeof(int));
            for (int r = 0; r < P; r++) {
                int64_t a, b;
                ts_partition(io.T, P, r, &a, &b);
                counts[r] = (int)(b * fsz), displs[r] = (int)(a * fsz);
            }
            float * all = rank == 0 ? ts_test_alloc(n) : NULL;
            MPI_Gatherv(mine, (int)(Tn * fsz), MPI_FLOAT, all, counts, displs, MPI_FLOAT, 0, MPI_COMM_WORLD);
            if (rank == 0) {
                float * ref = ts_test_alloc(n);
                ts_wan_ws * w1 = NULL;
                if (ts_wan_ws_new(m, io.T, 0, io.T, io.h, io.w, W, io.L, &w1) != TS_OK ||
                    ts_wan_forward(w1, m, ref, io.x, io.timestep, io.context, NULL) != TS_OK)
                    ts_verdict("one-process forward", 0, ts_last_error());
                ts_wan_ws_free(&w1);
                snprintf(name, sizeof name, "wan.mpi.%s.T%d.window%d.P%d_vs_1", cfgs[ci], io.T, W, P);
                ts_check_bits(name, all, ref, n);
                free(ref);
            }
            free(all);
            free(mine);
            free(counts);
            free(displs);
        }
        ts_wan_free(&m);
        ts_st_close(&io.st);
    }
    if (rank == 0) fail = ts_test_finish("test_wan_mpi");
    comm->ops->free(comm);
    ts_backend_free(&be);
    MPI_Bcast(&fail, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Finalize();
    return fail;
}
