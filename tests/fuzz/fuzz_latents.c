// Fuzz target: the latents / checkpoint reader (dataset /latents and its
// attributes) and the initial-noise reader (/noise) on one rank: the shape and
// attributes first, then the frames when the file is small.
#include <mpi.h>

#include "fuzz.h"
#include "io/latents.h"  // ts_latents_read, ts_noise_read

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
