// The 1-frame halo of distributed interpolation: each rank's first keyframe
// goes to its left neighbour, which needs it for its last pair (MPI_Sendrecv).
#include <limits.h>

#include "core/common.h"
#include "parallel/parallel.h"

enum ts_status ts_parallel_frame_halo(ts_parallel * d, const uint8_t * first, uint8_t * halo, size_t frame_bytes,
                                       int * has_halo) {
    const int left = d->rank > 0 ? d->rank - 1 : MPI_PROC_NULL;
    const int right = d->rank < d->world - 1 ? d->rank + 1 : MPI_PROC_NULL;
    const int tag = 7301;
    // messages of at most INT_MAX bytes, in order
    for (size_t off = 0; off < frame_bytes;) {
        size_t n = frame_bytes - off;
        if (n > (size_t)INT_MAX) n = (size_t)INT_MAX;
        ts_mpi_check(MPI_Sendrecv(first + off, (int)n, MPI_BYTE, left, tag, halo + off,
                                  (int)n, MPI_BYTE, right, tag, d->comm, MPI_STATUS_IGNORE));
        off += n;
    }
    *has_halo = right != MPI_PROC_NULL;
    return TS_OK;
}
