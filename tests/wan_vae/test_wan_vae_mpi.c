// Multi-rank test of the time-sharded Wan VAE decode (under mpirun): each rank holds
// only its own latent frames, fetches its halo from the ranks before it
// (ts_wan_vae_halo_latents) and decodes its range; its frames must equal the whole
// video's decode (computed on every rank) bit for bit.
//   test_wan_vae_mpi FIXTURE_DIR
#include <stdlib.h>
#include <string.h>

#include "ts_test_mpi.h"
#include "core/common.h"
#include "model/wan/wan_vae.h"
#include "parallel/parallel.h"

// latent value of element e of global frame g: a fixed pseudo-random function
static float lat_value(int64_t g, int64_t e) {
    uint64_t x = (uint64_t)(g * 1000003 + e) * 0x9E3779B97F4A7C15ull;
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    return (float)((double)(x >> 11) * 0x1p-53 * 3.0 - 1.5);
}

int main(int argc, char ** argv) {
    ts_parallel d;
    if (ts_parallel_init(&d, &argc, &argv) != TS_OK || argc < 2) {
        fprintf(stderr, "usage: test_wan_vae_mpi FIXTURE_DIR (%s)\n", ts_last_error());
        return 1;
    }
    ts_test_mpi_begin(d.comm);
    CHECK(ts_parallel_halo_open(&d, NULL) == TS_OK, "halo_open");
    char path[4096];
    snprintf(path, sizeof path, "%s/vae", argv[1]);
    ts_backend_t be = ts_backend_cpu_new(1);
    ts_wan_vae * v = NULL;
    CHECK(ts_wan_vae_load(be, path, &v) == TS_OK, "load: %s", ts_last_error());
    const int h = 1, w = 1, z = 16;  // 8x8 pixels: the point is the frames' order, not their size
    const int64_t lsz = (int64_t)h * w * z, fsz = 8 * h * 8 * w * 3;
    // every rank owning one frame (many rounds), a few, and more than the reach
    int64_t Ts[3] = {d.world, 7 * d.world + 1, 45 * d.world + 2};
    for (int q = 0; q < 3 && v; q++) {
        int64_t T = Ts[q], first, count;
        ts_partition(T, d.world, d.rank, &first, &count);
        float * all = ts_malloc((size_t)(T * lsz) * sizeof(float));
        for (int64_t g = 0; g < T; g++)
            for (int64_t e = 0; e < lsz; e++) all[g * lsz + e] = lat_value(g, e);
        int64_t s = ts_wan_vae_range_start(v, first), nh = first - s;
        float * halo_own = ts_malloc((size_t)((nh + count) * lsz + 1) * sizeof(float));  // (halo | own)
        memcpy(halo_own + nh * lsz, all + first * lsz, (size_t)(count * lsz) * sizeof(float));
        enum ts_status st = ts_wan_vae_halo_latents(v, d.halo, d.rank, d.world, T, h, w, halo_own + nh * lsz, halo_own);
        CHECK(st == TS_OK, "halo_latents: %s", ts_last_error());
        CHECK(memcmp(halo_own, all + s * lsz, (size_t)(nh * lsz) * sizeof(float)) == 0,
              "T=%lld: the halo (%lld frames from %lld) is not the predecessors' latents", (long long)T, (long long)nh,
              (long long)s);
        int64_t F = ts_wan_vae_frames(T), f0 = ts_wan_vae_frames(first), nf = ts_wan_vae_frames(first + count) - f0;
        float * whole = ts_malloc((size_t)(F * fsz) * sizeof(float));
        float * mine = ts_malloc((size_t)(nf * fsz + 1) * sizeof(float));
        CHECK(ts_wan_vae_decode(v, all, T, h, w, TS_WAN_VAE_MODEL_SPACE, whole) == TS_OK, "decode");
        CHECK(ts_wan_vae_decode_range(v, halo_own, s, first, count, h, w, TS_WAN_VAE_MODEL_SPACE, mine) == TS_OK,
              "decode_range: %s", ts_last_error());
        CHECK(memcmp(mine, whole + f0 * fsz, (size_t)(nf * fsz) * sizeof(float)) == 0,
              "T=%lld rank %d: frames [%lld, %lld) differ from the whole decode", (long long)T, d.rank, (long long)f0,
              (long long)(f0 + nf));
        free(all), free(halo_own), free(whole), free(mine);
    }
    char name[64];
    snprintf(name, sizeof name, "wan_vae.mpi (%d ranks)", d.world);
    int failed = ts_mpi_group(d.comm, name);
    ts_wan_vae_free(&v);
    ts_backend_free(&be);
    ts_parallel_free(&d);
    return failed ? 1 : 0;
}
