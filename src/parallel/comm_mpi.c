// The MPI halo communicator on host buffers. halo_post copies what it sends
// into one of two staging slots, posts the receives and then the sends;
// halo_wait completes the receives only. A send completes when its receiver
// has reached MPI again, so waiting for it in halo_wait would tie each rank to
// its neighbour's halo_wait, not to its halo_post: measured with Open MPI 4.1
// (shared memory, single-copy get) on 2 ranks, a rank waiting on both its
// send and its receive returned 300 ms later, when the neighbour reached its
// own wait, than one waiting on the receive alone, which returned as soon as
// the neighbour had posted. The sends of a slot are completed when the slot
// comes round again (two exchanges later: by then the neighbour has received
// them) and when the communicator is freed. Exchanges above the largest
// message size (1 GiB, under MPI's int count) go as several messages per side.
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "parallel/parallel.h"

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
    MPI_Request * reqs;  // owned: (n_reqs_cap,): the receives of the exchange in flight
    MPI_Status * stats;  // owned: (n_reqs_cap,)
    int n_reqs, n_reqs_cap;
    // Two staging slots for what is sent: slot s holds bytes for the left and
    // the right neighbour (2 * stage_bytes) and the requests of its sends.
    char * stage[2];           // owned
    size_t stage_bytes;        // per side
    MPI_Request * sends[2];    // owned: (n_reqs_cap,)
    int n_sends[2];
    int slot;                  // the slot the next halo_post fills
    MPI_Request gather;  // the all-gather in flight (MPI_REQUEST_NULL when none)
    void * gather_arrays[3];  // owned while it is: layouts, counts, displacements
    int post_err;  // first MPI error of the last halo_post (MPI_SUCCESS if none)
    int send_err;  // first MPI error of a completed send not yet reported
} ts_comm_mpi;

// Posts one direction's messages (receive or send) for `bytes` bytes at p.
static void ts_halo_post_side(ts_comm_mpi * m, int recv, void * p, size_t bytes, int peer, int tag) {
    MPI_Request * reqs = recv ? m->reqs : m->sends[m->slot];
    int * n_reqs = recv ? &m->n_reqs : &m->n_sends[m->slot];
    for (size_t off = 0; off < bytes; off += m->max_message) {
        size_t n = bytes - off < m->max_message ? bytes - off : m->max_message;
        TS_ASSERT(*n_reqs < m->n_reqs_cap);
        MPI_Request * r = &reqs[(*n_reqs)++];
        int err = recv ? MPI_Irecv((char *)p + off, (int)n, MPI_BYTE, peer, tag, m->comm, r)
                       : MPI_Isend((char *)p + off, (int)n, MPI_BYTE, peer, tag, m->comm, r);
        if (err != MPI_SUCCESS) {
            *r = MPI_REQUEST_NULL;
            if (m->post_err == MPI_SUCCESS) m->post_err = err;
        }
    }
}

// Completes the sends posted from slot s, keeping the first error for the next
// halo_wait to report.
static void ts_halo_complete_sends(ts_comm_mpi * m, int s) {
    if (m->n_sends[s] == 0) return;
    int err = MPI_Waitall(m->n_sends[s], m->sends[s], m->stats);
    if (err == MPI_ERR_IN_STATUS)
        for (int i = 0; i < m->n_sends[s]; i++)
            if (m->stats[i].MPI_ERROR != MPI_SUCCESS) {
                err = m->stats[i].MPI_ERROR;
                break;
            }
    if (err != MPI_SUCCESS && m->send_err == MPI_SUCCESS) m->send_err = err;
    m->n_sends[s] = 0;
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

    // the slot's previous sends went out two exchanges ago: normally complete by now
    double t0 = ts_time();
    ts_halo_complete_sends(m, m->slot);
    size_t chunks = (bytes + m->max_message - 1) / m->max_message;
    TS_ASSERT(chunks <= (size_t)INT_MAX / 4);
    if ((int)chunks * 2 > m->n_reqs_cap || bytes > m->stage_bytes) {  // grow: drain the other slot too
        ts_halo_complete_sends(m, 1 - m->slot);
        if ((int)chunks * 2 > m->n_reqs_cap) {
            m->n_reqs_cap = (int)chunks * 2;
            free(m->reqs);
            free(m->stats);
            m->reqs = ts_malloc((size_t)m->n_reqs_cap * sizeof *m->reqs);
            m->stats = ts_malloc((size_t)m->n_reqs_cap * sizeof *m->stats);
            for (int s = 0; s < 2; s++) {
                free(m->sends[s]);
                m->sends[s] = ts_malloc((size_t)m->n_reqs_cap * sizeof *m->sends[s]);
            }
        }
        if (bytes > m->stage_bytes) {
            for (int s = 0; s < 2; s++) {
                free(m->stage[s]);
                m->stage[s] = ts_malloc(2 * bytes);
            }
            m->stage_bytes = bytes;
        }
    }
    c->wait_seconds += ts_time() - t0;

    char * out_left = m->stage[m->slot], * out_right = m->stage[m->slot] + m->stage_bytes;
    if (has_left) memcpy(out_left, send_left, bytes);
    if (has_right) memcpy(out_right, send_right, bytes);
    // Receives first, so a neighbour's send can land directly in place.
    if (has_left) ts_halo_post_side(m, 1, recv_left, bytes, m->rank - 1, TS_TAG_TO_RIGHT);
    if (has_right) ts_halo_post_side(m, 1, recv_right, bytes, m->rank + 1, TS_TAG_TO_LEFT);
    if (has_left) ts_halo_post_side(m, 0, out_left, bytes, m->rank - 1, TS_TAG_TO_LEFT);
    if (has_right) ts_halo_post_side(m, 0, out_right, bytes, m->rank + 1, TS_TAG_TO_RIGHT);
    m->slot = 1 - m->slot;
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
    if (err == MPI_SUCCESS && m->send_err != MPI_SUCCESS) err = m->send_err;
    m->send_err = MPI_SUCCESS;
    if (err != MPI_SUCCESS) {
        char msg[MPI_MAX_ERROR_STRING];
        int len = 0;
        MPI_Error_string(err, msg, &len);
        return ts_error(TS_ERR_DIST, "a neighbouring rank may have died; see its error",
                        "halo exchange on rank %d of %d failed: %s", m->rank, m->world, msg);
    }
    return TS_OK;
}

// Every posted send has a matching receive on the neighbour, which completes it
// before the neighbour's next collective; a job that failed ends in MPI_Abort
// before it gets here.
static void ts_comm_mpi_free(ts_comm_t c) {
    if (!c) return;
    ts_comm_mpi * m = c->ctx;
    if (m) {
        TS_ASSERT(m->n_reqs == 0 && m->gather == MPI_REQUEST_NULL);
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized) {
            ts_halo_complete_sends(m, 0);
            ts_halo_complete_sends(m, 1);
            MPI_Comm_free(&m->comm);
        }
        free(m->reqs);
        free(m->stats);
        for (int s = 0; s < 2; s++) {
            free(m->sends[s]);
            free(m->stage[s]);
        }
        free(m);
    }
    free(c);
}

// All-gather in place: the ranks first agree on every block's offset and size
// (16 bytes each, a blocking MPI_Allgather), then MPI_Iallgatherv moves the
// blocks, as units of 4 bytes (or bytes when a size or offset is not a
// multiple of 4) so that blocks of up to 8 GiB fit MPI's int counts.
static enum ts_status ts_mpi_error(ts_comm_mpi * m, int err, const char * what) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(err, msg, &len);
    return ts_error(TS_ERR_DIST, "another rank may have died; see its error", "%s on rank %d of %d failed: %s", what,
                    m->rank, m->world, msg);
}

static enum ts_status ts_allgather_post_mpi(ts_comm_t c, void * buf, size_t offset, size_t bytes) {
    ts_comm_mpi * m = c->ctx;
    TS_ASSERT(m->gather == MPI_REQUEST_NULL);  // allgather_wait completes the previous one first
    double t0 = ts_time();
    uint64_t mine[2] = {offset, bytes};
    uint64_t * all = ts_malloc((size_t)m->world * 2 * sizeof(uint64_t));
    int * counts = ts_malloc((size_t)m->world * sizeof(int));
    int * displs = ts_malloc((size_t)m->world * sizeof(int));
    int err = MPI_Allgather(mine, 2, MPI_UINT64_T, all, 2, MPI_UINT64_T, m->comm);
    enum ts_status st = TS_OK;
    if (err == MPI_SUCCESS) {
        size_t unit = 4;
        for (int r = 0; r < m->world; r++)
            if (all[2 * r] % 4 || all[2 * r + 1] % 4) unit = 1;
        for (int r = 0; r < m->world && st == TS_OK; r++) {
            uint64_t d = all[2 * r] / unit, n = all[2 * r + 1] / unit;
            if (d > (uint64_t)INT_MAX || n > (uint64_t)INT_MAX || d + n > (uint64_t)INT_MAX)
                st = ts_error(TS_ERR_DIST, "use more ranks or a shorter video",
                              "all-gather block of rank %d (%llu bytes at %llu) is too large for MPI", r,
                              (unsigned long long)all[2 * r + 1], (unsigned long long)all[2 * r]);
            counts[r] = (int)n;
            displs[r] = (int)d;
        }
        // (counts and displs must live until the gather completes: freed in allgather_wait)
        if (st == TS_OK)
            err = MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs,
                                  unit == 4 ? MPI_FLOAT : MPI_BYTE, m->comm, &m->gather);
    }
    c->wait_seconds += ts_time() - t0;
    if (st == TS_OK && err != MPI_SUCCESS) {
        m->gather = MPI_REQUEST_NULL;
        st = ts_mpi_error(m, err, "all-gather");
    }
    if (st != TS_OK || m->gather == MPI_REQUEST_NULL) {
        free(all), free(counts), free(displs);
        return st;
    }
    m->gather_arrays[0] = all, m->gather_arrays[1] = counts, m->gather_arrays[2] = displs;
    return TS_OK;
}

static enum ts_status ts_allgather_wait_mpi(ts_comm_t c) {
    ts_comm_mpi * m = c->ctx;
    double t0 = ts_time();
    int err = m->gather == MPI_REQUEST_NULL ? MPI_SUCCESS : MPI_Wait(&m->gather, MPI_STATUS_IGNORE);
    m->gather = MPI_REQUEST_NULL;
    for (int i = 0; i < 3; i++) {
        free(m->gather_arrays[i]);
        m->gather_arrays[i] = NULL;
    }
    c->wait_seconds += ts_time() - t0;
    return err == MPI_SUCCESS ? TS_OK : ts_mpi_error(m, err, "all-gather");
}

static const struct ts_comm_ops ts_comm_mpi_ops = {
    .name = "mpi",
    .halo_post = ts_halo_post_mpi,
    .halo_wait = ts_halo_wait_mpi,
    .free = ts_comm_mpi_free,
    .allgather_post = ts_allgather_post_mpi,
    .allgather_wait = ts_allgather_wait_mpi,
};

ts_comm_t ts_comm_mpi_new(MPI_Comm comm) {
    ts_comm_mpi * m = ts_calloc(1, sizeof *m);
    ts_mpi_check(MPI_Comm_dup(comm, &m->comm));
    ts_mpi_check(MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN));
    ts_mpi_check(MPI_Comm_rank(m->comm, &m->rank));
    ts_mpi_check(MPI_Comm_size(m->comm, &m->world));
    m->max_message = TS_HALO_MAX_MESSAGE;
    m->n_reqs_cap = 2;
    m->reqs = ts_malloc((size_t)m->n_reqs_cap * sizeof *m->reqs);
    m->stats = ts_malloc((size_t)m->n_reqs_cap * sizeof *m->stats);
    for (int s = 0; s < 2; s++) m->sends[s] = ts_malloc((size_t)m->n_reqs_cap * sizeof *m->sends[s]);
    m->post_err = m->send_err = MPI_SUCCESS;
    m->gather = MPI_REQUEST_NULL;
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
