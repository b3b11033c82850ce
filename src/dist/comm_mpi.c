// The MPI halo communicator on host buffers: Irecv then Isend to both
// neighbours, Waitall in halo_wait. Exchanges above the largest message size
// (1 GiB, under MPI's int count) go as several messages per side.
#include <limits.h>
#include <stdlib.h>

#include "dist/dist.h"

// TS_ASSERT, ts_malloc, ts_error, ts_time
#include "core/common.h"

// A message travelling to the left (to rank-1) carries TS_TAG_TO_LEFT; the
// receiver expects that tag from its right neighbour, and the other way round.
// Chunks of one side share a tag: MPI keeps messages with the same source, tag
// and communicator in order.
enum { TS_TAG_TO_LEFT = 101, TS_TAG_TO_RIGHT = 102 };

#define TS_HALO_MAX_MESSAGE ((size_t)1 << 30)

typedef struct ts_comm_mpi {
    MPI_Comm comm;  // owned: a dup, freed in ts_comm_mpi_free
    int rank, world;
    size_t max_message;  // bytes per message, <= INT_MAX
    MPI_Request * reqs;  // owned: (n_reqs_cap,)
    MPI_Status * stats;  // owned: (n_reqs_cap,)
    int n_reqs, n_reqs_cap;
    int post_err;  // first MPI error of the last halo_post (MPI_SUCCESS if none)
} ts_comm_mpi;

// Posts one direction's messages (receive or send) for `bytes` bytes at p.
static void ts_halo_post_side(ts_comm_mpi * m, int recv, void * p, size_t bytes, int peer, int tag) {
    for (size_t off = 0; off < bytes; off += m->max_message) {
        size_t n = bytes - off < m->max_message ? bytes - off : m->max_message;
        TS_ASSERT(m->n_reqs < m->n_reqs_cap);
        MPI_Request * r = &m->reqs[m->n_reqs++];
        int err = recv ? MPI_Irecv((char *)p + off, (int)n, MPI_BYTE, peer, tag, m->comm, r)
                       : MPI_Isend((char *)p + off, (int)n, MPI_BYTE, peer, tag, m->comm, r);
        if (err != MPI_SUCCESS) {
            *r = MPI_REQUEST_NULL;
            if (m->post_err == MPI_SUCCESS) m->post_err = err;
        }
    }
}

static void ts_halo_post_mpi(ts_comm_t c, const void * send_left, const void * send_right, void * recv_left,
                             void * recv_right, size_t bytes) {
    ts_comm_mpi * m = c->ctx;
    TS_ASSERT(m->n_reqs == 0);  // halo_wait must complete the previous exchange first
    m->post_err = MPI_SUCCESS;
    if (bytes == 0 || m->world == 1) return;
    int has_left = m->rank > 0, has_right = m->rank < m->world - 1;
    TS_ASSERT(!has_left || (send_left && recv_left));
    TS_ASSERT(!has_right || (send_right && recv_right));

    size_t chunks = (bytes + m->max_message - 1) / m->max_message;
    TS_ASSERT(chunks <= (size_t)INT_MAX / 4);
    if ((int)chunks * 4 > m->n_reqs_cap) {
        free(m->reqs);
        free(m->stats);
        m->n_reqs_cap = (int)chunks * 4;
        m->reqs = ts_malloc((size_t)m->n_reqs_cap * sizeof *m->reqs);
        m->stats = ts_malloc((size_t)m->n_reqs_cap * sizeof *m->stats);
    }
    // Receives first, so a neighbour's send can land directly in place.
    if (has_left) ts_halo_post_side(m, 1, recv_left, bytes, m->rank - 1, TS_TAG_TO_RIGHT);
    if (has_right) ts_halo_post_side(m, 1, recv_right, bytes, m->rank + 1, TS_TAG_TO_LEFT);
    if (has_left) ts_halo_post_side(m, 0, (void *)send_left, bytes, m->rank - 1, TS_TAG_TO_LEFT);
    if (has_right) ts_halo_post_side(m, 0, (void *)send_right, bytes, m->rank + 1, TS_TAG_TO_RIGHT);
}

static enum ts_status ts_halo_wait_mpi(ts_comm_t c) {
    ts_comm_mpi * m = c->ctx;
    double t0 = ts_time();
    int err = m->n_reqs ? MPI_Waitall(m->n_reqs, m->reqs, m->stats) : MPI_SUCCESS;
    if (err == MPI_ERR_IN_STATUS)  // say what went wrong, not just that something did
        for (int i = 0; i < m->n_reqs; i++)
            if (m->stats[i].MPI_ERROR != MPI_SUCCESS) {
                err = m->stats[i].MPI_ERROR;
                break;
            }
    m->n_reqs = 0;
    c->wait_seconds += ts_time() - t0;
    if (m->post_err != MPI_SUCCESS) err = m->post_err;
    if (err != MPI_SUCCESS) {
        char msg[MPI_MAX_ERROR_STRING];
        int len = 0;
        MPI_Error_string(err, msg, &len);
        return ts_error(TS_ERR_DIST, "a neighbouring rank may have died; see its error",
                        "halo exchange on rank %d of %d failed: %s", m->rank, m->world, msg);
    }
    return TS_OK;
}

static void ts_comm_mpi_free(ts_comm_t c) {
    if (!c) return;
    ts_comm_mpi * m = c->ctx;
    if (m) {
        TS_ASSERT(m->n_reqs == 0);
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized) MPI_Comm_free(&m->comm);
        free(m->reqs);
        free(m->stats);
        free(m);
    }
    free(c);
}

static const struct ts_comm_ops ts_comm_mpi_ops = {
    .name = "mpi",
    .halo_post = ts_halo_post_mpi,
    .halo_wait = ts_halo_wait_mpi,
    .free = ts_comm_mpi_free,
};

ts_comm_t ts_comm_mpi_new(MPI_Comm comm) {
    ts_comm_mpi * m = ts_calloc(1, sizeof *m);
    ts_mpi_check(MPI_Comm_dup(comm, &m->comm));
    ts_mpi_check(MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN));
    ts_mpi_check(MPI_Comm_rank(m->comm, &m->rank));
    ts_mpi_check(MPI_Comm_size(m->comm, &m->world));
    m->max_message = TS_HALO_MAX_MESSAGE;
    m->n_reqs_cap = 4;
    m->reqs = ts_malloc((size_t)m->n_reqs_cap * sizeof *m->reqs);
    m->stats = ts_malloc((size_t)m->n_reqs_cap * sizeof *m->stats);
    ts_comm_t c = ts_calloc(1, sizeof *c);
    c->ops = &ts_comm_mpi_ops;
    c->ctx = m;
    return c;
}

void ts_comm_mpi_set_max_message(ts_comm_t c, size_t bytes) {
    TS_ASSERT(c && c->ops == &ts_comm_mpi_ops);
    ts_comm_mpi * m = c->ctx;
    TS_ASSERT(m->n_reqs == 0 && bytes >= 1 && bytes <= (size_t)INT_MAX);
    m->max_message = bytes;
}
