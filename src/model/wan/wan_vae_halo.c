// The latent frames a rank's time-sharded Wan VAE decode needs from the ranks before
// it (its halo), fetched through the halo communicator: rounds of neighbour
// exchanges, each passing the last R frames a rank knows one rank to the right.
#include <stdlib.h>
#include <string.h>

#include "core/common.h"  // ts_malloc, TS_ASSERT
#include "model/wan/wan_vae.h"
#include "parallel/comm.h"       // the halo communicator
#include "parallel/partition.h"  // ts_partition

// One round on the table every rank computes alike: known[r] (frames rank r holds
// right before its first frame) becomes min(need[r], count[r-1] + known[r-1]).
// Returns 1 when a value grew (another round is needed).
static int halo_round(int P, int64_t R, const int64_t * first, const int64_t * count, int64_t * known) {
    int grew = 0;
    for (int r = P - 1; r >= 1; r--) {  // right to left: each uses the round before's known[r-1]
        int64_t need = first[r] < R ? first[r] : R;
        int64_t k = count[r - 1] + known[r - 1];
        if (k > need) k = need;
        if (k > known[r]) known[r] = k, grew = 1;
    }
    return grew;
}

enum ts_status ts_wan_vae_halo_latents(const ts_wan_vae * vae, ts_comm_t comm, int rank, int world, int64_t T, int h,
                                       int w, const float * own, float * halo) {
    TS_ASSERT(world >= 1 && rank >= 0 && rank < world && T >= world && h > 0 && w > 0);
    const int64_t R = ts_wan_vae_decode_reach(vae);
    const size_t lat = (size_t)h * w * ts_wan_vae_get_config(vae)->z_dim;  // floats per latent frame
    const size_t msg = (size_t)R * lat * sizeof(float);
    int64_t * tab = ts_malloc(3 * (size_t)world * sizeof(int64_t));
    int64_t *known = tab, *first = tab + world, *count = tab + 2 * world;
    for (int r = 0; r < world; r++) ts_partition(T, world, r, &first[r], &count[r]), known[r] = 0;
    // R-slot buffers, right-aligned: slot j of `mine` holds frame first[rank] - R + j, slot
    // j of `out` frame first[rank] + count[rank] - R + j (the right neighbour's mine).
    float * buf = ts_malloc(4 * msg);
    float *mine = buf, *out = buf + (size_t)R * lat, *in = buf + 2 * (size_t)R * lat, *unused = in + (size_t)R * lat;
    int has_left = rank > 0, has_right = rank < world - 1;
    enum ts_status st = TS_OK;
    for (;;) {
        int64_t n = count[rank] + known[rank] < R ? count[rank] + known[rank] : R;  // frames to send on
        int64_t end = first[rank] + count[rank];
        for (int64_t j = R - n; j < R; j++) {
            int64_t g = end - R + j;
            const float * src =
                g >= first[rank] ? own + (size_t)(g - first[rank]) * lat : mine + (size_t)(g - (first[rank] - R)) * lat;
            memcpy(out + (size_t)j * lat, src, lat * sizeof(float));
        }
        if (!halo_round(world, R, first, count, known)) break;  // the same answer on every rank
        // The exchange goes both ways; only what travels right is used.
        comm->ops->halo_post(comm, has_left ? out : NULL, has_right ? out : NULL, has_left ? in : NULL,
                             has_right ? unused : NULL, msg);
        st = comm->ops->halo_wait(comm);
        if (st != TS_OK) break;
        if (has_left) memcpy(mine, in, msg);
    }
    int64_t need = first[rank] - ts_wan_vae_range_start(vae, first[rank]);
    TS_ASSERT(st != TS_OK || known[rank] == need);
    if (st == TS_OK && need > 0) memcpy(halo, mine + (size_t)(R - need) * lat, (size_t)need * lat * sizeof(float));
    free(buf);
    free(tab);
    return st;
}
