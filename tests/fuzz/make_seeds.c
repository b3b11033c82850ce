// Writes the HDF5 seeds of the latents fuzz target (small valid files):
//   make_seeds DIR  ->  DIR/latents.h5, DIR/checkpoint.h5, DIR/checkpoint_sampler.h5, DIR/noise.h5
// (the committed tests/fuzz/corpus/latents/ was made with it).
#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "io/latents.h"  // ts_latents_write, ts_latents_write_group

int main(int argc, char ** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    MPI_Init(&argc, &argv);
    enum { T = 3, H = 2, W = 2, C = 4 };
    float x[T * H * W * C];
    for (int i = 0; i < T * H * W * C; i++) x[i] = (float)i / 7.0f - 2.0f;
    struct ts_latents_meta meta = {.seed = 42, .steps = 2, .cfg = 4.5, .fps = 8, .step = -1};
    snprintf(meta.prompt, sizeof meta.prompt, "a red circle moving left on a blue background");
    memset(meta.model_digest, 'a', 64);
    snprintf(meta.version, sizeof meta.version, "0.1.0");
    char p[4096];
    int rc = 0;
    snprintf(p, sizeof p, "%s/latents.h5", argv[1]);
    rc |= ts_latents_write(p, MPI_COMM_SELF, T, H, W, C, 0, T, x, &meta) != TS_OK;
    meta.step = 1;
    snprintf(p, sizeof p, "%s/checkpoint.h5", argv[1]);
    rc |= ts_latents_write(p, MPI_COMM_SELF, T, H, W, C, 0, T, x, &meta) != TS_OK;
    // a multistep sampler's checkpoint: /sampler as the pipeline writes it (fewer items)
    double ts[2] = {999, 500}, sig[3] = {1, 0.5, 0};
    struct ts_lat_group g = {.name = "sampler", .n_num = 2, .n_str = 2, .n_vec = 2, .n_arr = 2};
    g.num[0].name = "step_index", g.num[0].value = 1, g.num[0].is_int = 1;
    g.num[1].name = "shift", g.num[1].value = 3;
    g.str[0].name = "sampler", g.str[1].name = "config";
    snprintf(g.str[0].value, sizeof g.str[0].value, "unipc");
    snprintf(g.str[1].value, sizeof g.str[1].value, "unipc (flow_shift 3, order 2, bh2)");
    g.vec[0].name = "timesteps", g.vec[0].v = ts, g.vec[0].n = 2;
    g.vec[1].name = "sigmas", g.vec[1].v = sig, g.vec[1].n = 3;
    g.arr[0].name = "model_output.0", g.arr[0].data = x;
    g.arr[1].name = "last_sample", g.arr[1].data = x;
    snprintf(p, sizeof p, "%s/checkpoint_sampler.h5", argv[1]);
    rc |= ts_latents_write_group(p, MPI_COMM_SELF, T, H, W, C, 0, T, x, &meta, &g) != TS_OK;
    // noise: /noise float32 (T, h, w, c), no attributes, contiguous
    snprintf(p, sizeof p, "%s/noise.h5", argv[1]);
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[4] = {T, H, W, C};
    hid_t sp = H5Screate_simple(4, dims, NULL);
    hid_t d = H5Dcreate2(f, "noise", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    rc |= H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) < 0;
    H5Dclose(d), H5Sclose(sp), H5Fclose(f);
    MPI_Finalize();
    return rc;
}
