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
enum { TS_TAG_TO_LEFT = 101, TS_TAG_TO_RIGHT = 102, TS_TAG_GATHER = 103 };

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
    MPI_Request * gather_reqs;  // owned (gather_cap,): the gather in flight
    int n_gather, gather_cap;
    int gather_err;             // first MPI error of the gather in flight
    void * gather_arrays[2];    // owned while an all-gather is in flight: counts, displacements
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
        TS_ASSERT(m->n_reqs == 0 && m->n_gather == 0);
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized) {
            ts_halo_complete_sends(m, 0);
            ts_halo_complete_sends(m, 1);
            MPI_Comm_free(&m->comm);
        }
        free(m->reqs);
        free(m->stats);
        free(m->gather_reqs);
        for (int s = 0; s < 2; s++) {
            free(m->sends[s]);
            free(m->stage[s]);
        }
        free(m);
    }
    free(c);
}

static enum ts_status ts_mpi_error(ts_comm_mpi * m, int err, const char * what) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(err, msg, &len);
    return ts_error(TS_ERR_DIST, "another rank may have died; see its error", "%s on rank %d of %d failed: %s", what,
                    m->rank, m->world, msg);
}

// Appends a request for the messages moving [off, off + n) of buf to or from `peer`.
static void ts_gather_side(ts_comm_mpi * m, int recv, char * buf, uint64_t off, uint64_t n, int peer) {
    for (uint64_t o = 0; o < n; o += m->max_message) {
        uint64_t k = n - o < m->max_message ? n - o : m->max_message;
        if (m->n_gather == m->gather_cap) {
            m->gather_cap = m->gather_cap ? 2 * m->gather_cap : 16;
            m->gather_reqs = realloc(m->gather_reqs, (size_t)m->gather_cap * sizeof *m->gather_reqs);
            TS_ASSERT(m->gather_reqs);
        }
        MPI_Request * r = &m->gather_reqs[m->n_gather++];
        int err = recv ? MPI_Irecv(buf + off + o, (int)k, MPI_BYTE, peer, TS_TAG_GATHER, m->comm, r)
                       : MPI_Isend(buf + off + o, (int)k, MPI_BYTE, peer, TS_TAG_GATHER, m->comm, r);
        if (err != MPI_SUCCESS) {
            *r = MPI_REQUEST_NULL;
            if (m->gather_err == MPI_SUCCESS) m->gather_err = err;
        }
    }
}

// buf holds the needed range. The ranks first agree on every rank's owned and needed ranges (32 bytes
// each, a blocking MPI_Allgather). When every rank needs the whole buffer,
// MPI_Iallgatherv moves the blocks (as 4-byte units where sizes allow, so
// blocks up to 8 GiB fit MPI's int counts); otherwise each pair of ranks
// exchanges the intersection of one's owned range with the other's needed one
// (Isend/Irecv in pieces of at most max_message bytes).
static enum ts_status ts_gather_post_mpi(ts_comm_t c, void * buf, size_t own_off, size_t own_bytes, size_t need_off,
                                         size_t need_bytes) {
    ts_comm_mpi * m = c->ctx;
    TS_ASSERT(m->n_gather == 0);  // gather_wait completes the previous one first
    TS_ASSERT(own_off >= need_off && own_off + own_bytes <= need_off + need_bytes);
    double t0 = ts_time();
    uint64_t mine[4] = {own_off, own_bytes, need_off, need_bytes};
    uint64_t * all = ts_malloc((size_t)m->world * 4 * sizeof(uint64_t));
    m->gather_err = MPI_Allgather(mine, 4, MPI_UINT64_T, all, 4, MPI_UINT64_T, m->comm);
    enum ts_status st = TS_OK;
    if (m->gather_err == MPI_SUCCESS) {
        uint64_t end = 0;
        for (int r = 0; r < m->world; r++) end = all[4 * r] + all[4 * r + 1] > end ? all[4 * r] + all[4 * r + 1] : end;
        int everything = 1;
        size_t unit = 4;
        for (int r = 0; r < m->world; r++) {
            everything &= all[4 * r + 2] == 0 && all[4 * r + 3] >= end;
            if (all[4 * r] % 4 || all[4 * r + 1] % 4) unit = 1;
        }
        int fits = 1;
        for (int r = 0; r < m->world; r++) fits &= (all[4 * r] + all[4 * r + 1]) / unit <= (uint64_t)INT_MAX;
        if (everything && fits) {
            int * counts = ts_malloc((size_t)m->world * sizeof(int));
            int * displs = ts_malloc((size_t)m->world * sizeof(int));
            for (int r = 0; r < m->world; r++) counts[r] = (int)(all[4 * r + 1] / unit), displs[r] = (int)(all[4 * r] / unit);
            m->gather_cap = m->gather_cap ? m->gather_cap : 16;
            if (!m->gather_reqs) m->gather_reqs = ts_malloc((size_t)m->gather_cap * sizeof *m->gather_reqs);
            // counts and displs must live until the gather completes: freed in gather_wait
            m->gather_err = MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs,
                                            unit == 4 ? MPI_FLOAT : MPI_BYTE, m->comm, &m->gather_reqs[0]);
            m->n_gather = 1;
            m->gather_arrays[0] = counts, m->gather_arrays[1] = displs;
        } else {
            for (int s = 0; s < m->world; s++) {
                if (s == m->rank) continue;
                // what s owns of what I need; what I own of what s needs
                uint64_t a0 = all[4 * s], a1 = a0 + all[4 * s + 1], b0 = need_off, b1 = need_off + need_bytes;
                uint64_t lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
                if (lo < hi) ts_gather_side(m, 1, buf, lo - need_off, hi - lo, s);
                a0 = own_off, a1 = own_off + own_bytes, b0 = all[4 * s + 2], b1 = b0 + all[4 * s + 3];
                lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
                if (lo < hi) ts_gather_side(m, 0, buf, lo - need_off, hi - lo, s);
            }
        }
    }
    free(all);
    c->wait_seconds += ts_time() - t0;
    if (m->gather_err != MPI_SUCCESS && m->n_gather == 0) {
        int err = m->gather_err;
        m->gather_err = MPI_SUCCESS;
        st = ts_mpi_error(m, err, "gather");
    }
    return st;
}

static enum ts_status ts_gather_wait_mpi(ts_comm_t c) {
    ts_comm_mpi * m = c->ctx;
    double t0 = ts_time();
    int err = m->n_gather ? MPI_Waitall(m->n_gather, m->gather_reqs, MPI_STATUSES_IGNORE) : MPI_SUCCESS;
    if (m->gather_err != MPI_SUCCESS) err = m->gather_err;
    m->gather_err = MPI_SUCCESS;
    m->n_gather = 0;
    for (int i = 0; i < 2; i++) {
        free(m->gather_arrays[i]);
        m->gather_arrays[i] = NULL;
    }
    c->wait_seconds += ts_time() - t0;
    return err == MPI_SUCCESS ? TS_OK : ts_mpi_error(m, err, "gather");
}

// MPI_Bcast in pieces of at most max_message bytes (MPI's int counts).
static enum ts_status ts_bcast_mpi(ts_comm_t c, void * buf, size_t bytes, int root) {
    ts_comm_mpi * m = c->ctx;
    TS_ASSERT(root >= 0 && root < m->world);
    double t0 = ts_time();
    int err = MPI_SUCCESS;
    for (size_t off = 0; off < bytes && err == MPI_SUCCESS; off += m->max_message) {
        size_t n = bytes - off < m->max_message ? bytes - off : m->max_message;
        err = MPI_Bcast((char *)buf + off, (int)n, MPI_BYTE, root, m->comm);
    }
    c->wait_seconds += ts_time() - t0;
    return err == MPI_SUCCESS ? TS_OK : ts_mpi_error(m, err, "broadcast");
}

static const struct ts_comm_ops ts_comm_mpi_ops = {
    .name = "mpi",
    .halo_post = ts_halo_post_mpi,
    .halo_wait = ts_halo_wait_mpi,
    .free = ts_comm_mpi_free,
    .gather_post = ts_gather_post_mpi,
    .gather_wait = ts_gather_wait_mpi,
    .bcast = ts_bcast_mpi,
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
    m->gather_err = MPI_SUCCESS;
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
