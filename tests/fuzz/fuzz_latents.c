// Fuzz target: the latents / checkpoint reader (dataset /latents and its
// attributes, a checkpoint's /sampler group) and the initial-noise reader (/noise) on one rank: the shape and
// attributes first, then the frames when the file is small.
#include <mpi.h>

#include "fuzz.h"
#include "io/latents.h"  // ts_latents_read, ts_latents_read_group, ts_noise_read

int LLVMFuzzerInitialize(int * argc, char *** argv) {
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) MPI_Init(argc, argv);
    fuzz_quiet();
    return 0;
}

static void read_both(const char * path, int noise) {
    int64_t T = 0;
    int h = 0, w = 0, c = 0;
    struct ts_latents_meta meta;
    enum ts_status s = noise ? ts_noise_read(path, MPI_COMM_SELF, &T, &h, &w, &c, 0, 0, NULL)
                             : ts_latents_read(path, MPI_COMM_SELF, &T, &h, &w, &c, 0, 0, NULL, &meta);
    fuzz_why(noise ? "noise" : "latents", s);
    if (s != TS_OK) return;
    if (T < 0 || h < 0 || w < 0 || c < 0) abort();  // a reader must not hand back a negative shape
    if (T == 0 || (int64_t)h * w * c > (1 << 16) || T * h * w * c > (1 << 18)) return;
    float * buf = malloc((size_t)(T * h * w * c) * sizeof(float));
    if (noise)
        (void)ts_noise_read(path, MPI_COMM_SELF, &T, &h, &w, &c, 0, T, buf);
    else
        (void)ts_latents_read(path, MPI_COMM_SELF, &T, &h, &w, &c, 0, T, buf, &meta);
    if (!noise) {  // a checkpoint's /sampler group, as the pipeline reads it
        float * a = malloc((size_t)(T * h * w * c) * sizeof(float));
        double v[64];
        struct ts_lat_group g = {.name = "sampler", .n_num = 2, .n_str = 2, .n_vec = 2, .n_arr = 2};
        g.num[0].name = "step_index", g.num[1].name = "shift";
        g.str[0].name = "sampler", g.str[1].name = "config";
        g.vec[0].name = "timesteps", g.vec[0].v = v, g.vec[0].n = 2;
        g.vec[1].name = "sigmas", g.vec[1].v = v + 2, g.vec[1].n = 3;
        g.arr[0].name = "model_output.0", g.arr[0].data = buf;
        g.arr[1].name = "last_sample", g.arr[1].data = a;
        int found = 0;
        fuzz_why("sampler", ts_latents_read_group(path, MPI_COMM_SELF, 0, T, &g, &found));
        free(a);
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    fuzz_quiet();
    char path[64];
    int fd = fuzz_memfd(data, size, path, sizeof path);
    read_both(path, 0);
    read_both(path, 1);
    close(fd);
    return 0;
}
