// The ordered frame stream to rank 0 (ts_stitch): every rank produces its own
// frames, rank 0 consumes all of them in global order with bounded memory.
//
// Protocol, on a communicator duplicated for the call (so nothing it leaves
// can meet other traffic):
// - FRAME (rank r -> 0): rank r's frames in order, each one message of
//   frame_bytes, sent with MPI_Issend from a ring of `window` buffers, so at
//   most `window` are in flight and none completes before rank 0 has matched
//   it: nothing piles up in rank 0's unexpected-message queue. Rank 0 posts at
//   most `window` receives ahead, into its own ring of `window` buffers, and
//   takes the senders one after the other in rank order. While rank 0 works on
//   its own frames (and on earlier ranks' ones), the others already produce
//   theirs, up to the window.
//   A rank that stops early (its produce failed, or rank 0 told it to stop)
//   ends its stream with one empty FRAME message. So rank r's stream is always
//   either its count_r frames, or k < count_r frames and the empty message,
//   and rank 0 can always drain it exactly, never waiting on a message that
//   will not come.
// - DONE (rank r -> 0): exactly one per sender, its own status, sent as soon as
//   its stream ends: at once when produce fails. Rank 0 has a receive posted
//   for every sender from the start and checks them between frames and while
//   it waits, so it learns of a failure on any rank promptly, not when it
//   reaches that rank's frames.
// - CTRL (0 -> rank r): exactly one per sender: STOP as soon as rank 0 knows
//   of a failure (its own produce or consume, or a failed DONE, or an early
//   end of a stream), or FINISHED once it has all of r's frames. A sender
//   checks for STOP before producing each frame and while it waits for a send.
// On failure rank 0 stops calling consume, but still drains every stream (each
// is at most `window` frames once its sender has seen STOP), so every send and
// receive completes and nothing is left pending. Everyone then calls
// ts_parallel_agree with its own status: the failing rank returns its own error,
// the others TS_ERR_DIST naming it.
// MPI errors here are tier 1 (ts_mpi_check ends the job).
// Waiting never spins: every wait here tests its requests and sleeps 0.2 ms
// between tests (MPI's own Wait* busy-polls, and with more ranks than cores the
// waiting ranks took the CPU from rank 0's encoder and the producing ranks).
// The ranks leave together through a quiet barrier, so a rank done early does
// not spin in the next collective while rank 0 still encodes.
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parallel/parallel.h"

// TS_ASSERT, ts_malloc, ts_error, ts_time
#include "core/common.h"

enum { TS_TAG_FRAME = 201, TS_TAG_DONE = 202, TS_TAG_CTRL = 203 };
enum { TS_CTRL_FINISHED = 1, TS_CTRL_STOP = 2 };

static struct ts_stitch_stats ts_stitch_last;

static void ts_stitch_nap(void) {
    struct timespec ts = {0, 200000};  // 0.2 ms: a frame takes far longer to make
    nanosleep(&ts, NULL);
}

// MPI_Waitany without the busy poll.
static void ts_stitch_waitany(int n, MPI_Request * reqs, int * idx, MPI_Status * st) {
    for (int flag = 0;;) {
        ts_mpi_check(MPI_Testany(n, reqs, idx, &flag, st));
        if (flag) return;
        ts_stitch_nap();
    }
}

// MPI_Waitall (statuses ignored) without the busy poll.
static void ts_stitch_waitall(int n, MPI_Request * reqs) {
    for (int flag = 0;;) {
        ts_mpi_check(MPI_Testall(n, reqs, &flag, MPI_STATUSES_IGNORE));
        if (flag) return;
        ts_stitch_nap();
    }
}

void ts_stitch_stats(struct ts_stitch_stats * out) { *out = ts_stitch_last; }

// ---- rank 0 ------------------------------------------------------------------------

typedef struct ts_root_state {
    MPI_Comm comm;
    int world;
    int failed;          // a failure is known: no more consume, STOP sent to everyone
    MPI_Request * reqs;  // owned: (world,): [0] scratch for the request waited on, [r] DONE from rank r
    int * done_status;   // owned: (world,): DONE payload from rank r
    int * done_idx;      // owned: (world,): scratch for MPI_Testsome
    MPI_Request * ctrl;  // owned: (world,): CTRL send to rank r
    int * ctrl_msg;      // owned: (world,): CTRL payload to rank r (0: not sent yet)
} ts_root_state;

static void ts_root_send_ctrl(ts_root_state * s, int r, int msg) {
    if (s->ctrl_msg[r]) return;
    s->ctrl_msg[r] = msg;
    ts_mpi_check(MPI_Isend(&s->ctrl_msg[r], 1, MPI_INT, r, TS_TAG_CTRL, s->comm, &s->ctrl[r]));
}

static void ts_root_fail(ts_root_state * s) {
    if (s->failed) return;
    s->failed = 1;
    for (int r = 1; r < s->world; r++) ts_root_send_ctrl(s, r, TS_CTRL_STOP);
}

static void ts_root_done_arrived(ts_root_state * s, int r) {
    if (s->done_status[r] != TS_OK) ts_root_fail(s);
}

// Checks, without blocking, for DONE messages that have arrived.
static void ts_root_poll(ts_root_state * s) {
    if (s->world == 1) return;
    int n = 0;
    ts_mpi_check(MPI_Testsome(s->world - 1, s->reqs + 1, &n, s->done_idx, MPI_STATUSES_IGNORE));
    for (int k = 0; n != MPI_UNDEFINED && k < n; k++) ts_root_done_arrived(s, s->done_idx[k] + 1);
}

// Waits for *req while handling DONE messages that arrive meanwhile.
static void ts_root_wait(ts_root_state * s, MPI_Request * req, MPI_Status * st) {
    s->reqs[0] = *req;
    for (;;) {
        int idx = MPI_UNDEFINED;
        MPI_Status any;
        ts_stitch_waitany(s->world, s->reqs, &idx, &any);
        TS_ASSERT(idx != MPI_UNDEFINED);
        if (idx == 0) {
            *st = any;
            *req = MPI_REQUEST_NULL;
            return;
        }
        ts_root_done_arrived(s, idx);
    }
}

// Rank r's frames: given counts (world entries, in rank order) or the partition.
static void ts_stitch_range(const int64_t * counts, int64_t T_total, int world, int r, int64_t * first,
                            int64_t * count) {
    if (!counts) {
        ts_partition(T_total, world, r, first, count);
        return;
    }
    *first = 0;
    for (int i = 0; i < r; i++) *first += counts[i];
    *count = counts[r];
}

static enum ts_status ts_stitch_root(MPI_Comm comm, const int64_t * counts, int world, int64_t T_total, size_t frame_bytes, int window,
                                     ts_frame_produce_fn produce, void * pud, ts_frame_consume_fn consume, void * cud) {
    enum ts_status st = TS_OK;
    ts_root_state s = {.comm = comm, .world = world};
    s.reqs = ts_malloc((size_t)world * sizeof *s.reqs);
    s.done_status = ts_calloc((size_t)world, sizeof *s.done_status);
    s.done_idx = ts_calloc((size_t)world, sizeof *s.done_idx);
    s.ctrl = ts_malloc((size_t)world * sizeof *s.ctrl);
    s.ctrl_msg = ts_calloc((size_t)world, sizeof *s.ctrl_msg);
    for (int r = 0; r < world; r++) s.reqs[r] = s.ctrl[r] = MPI_REQUEST_NULL;
    for (int r = 1; r < world; r++)
        ts_mpi_check(MPI_Irecv(&s.done_status[r], 1, MPI_INT, r, TS_TAG_DONE, comm, &s.reqs[r]));

    // One ring of `window` frames, also holding rank 0's own frame.
    int64_t most = 1;
    for (int r = 1; r < world; r++) {
        int64_t first, count;
        ts_stitch_range(counts, T_total, world, r, &first, &count);
        if (count > most) most = count;
    }
    int nbuf = most < window ? (int)most : window;
    TS_ASSERT(frame_bytes <= SIZE_MAX / (size_t)nbuf);
    uint8_t * ring = ts_malloc((size_t)nbuf * frame_bytes);  // (nbuf, frame_bytes)
    MPI_Request * rreq = ts_malloc((size_t)nbuf * sizeof *rreq);
    for (int k = 0; k < nbuf; k++) rreq[k] = MPI_REQUEST_NULL;

    // Rank 0's own frames, while the others fill their windows.
    int64_t first0, count0;
    ts_stitch_range(counts, T_total, world, 0, &first0, &count0);
    for (int64_t i = 0; i < count0 && !s.failed; i++) {
        ts_root_poll(&s);
        if (s.failed) break;
        enum ts_status e = produce(pud, i, ring);
        if (e != TS_OK) {
            st = e;
            ts_root_fail(&s);
            break;
        }
        ts_stitch_last.frames_produced++;
        e = consume(cud, first0 + i, ring);
        if (e != TS_OK) {
            st = e;
            ts_root_fail(&s);
            break;
        }
        ts_stitch_last.frames_consumed++;
    }

    // Then every other rank's frames in rank order; after a failure, only drained.
    for (int r = 1; r < world; r++) {
        int64_t first, count;
        ts_stitch_range(counts, T_total, world, r, &first, &count);
        int64_t head = 0, posted = 0;  // messages of r processed, receives posted
        while (head < count) {
            for (; posted < count && posted - head < nbuf; posted++)
                ts_mpi_check(MPI_Irecv(ring + (size_t)(posted % nbuf) * frame_bytes, (int)frame_bytes, MPI_BYTE, r,
                                       TS_TAG_FRAME, comm, &rreq[posted % nbuf]));
            if (posted - head > ts_stitch_last.recv_posted_max) ts_stitch_last.recv_posted_max = (int)(posted - head);
            int k = (int)(head % nbuf);
            MPI_Status mst;
            ts_root_wait(&s, &rreq[k], &mst);
            int got = 0;
            ts_mpi_check(MPI_Get_count(&mst, MPI_BYTE, &got));
            head++;
            if (got == 0) {  // r stopped early: its stream ends here
                ts_root_fail(&s);
                break;
            }
            TS_ASSERT((size_t)got == frame_bytes);
            if (s.failed) continue;
            enum ts_status e = consume(cud, first + head - 1, ring + (size_t)k * frame_bytes);
            if (e != TS_OK) {
                st = e;
                ts_root_fail(&s);
                continue;
            }
            ts_stitch_last.frames_consumed++;
        }
        // Receives posted past an early end will never match: cancel them.
        for (int64_t m = head; m < posted; m++) {
            MPI_Request * q = &rreq[m % nbuf];
            ts_mpi_check(MPI_Cancel(q));
            MPI_Status cst;
            ts_mpi_check(MPI_Wait(q, &cst));  // a cancelled receive completes at once
            int cancelled = 0;
            MPI_Test_cancelled(&cst, &cancelled);
            TS_ASSERT(cancelled);  // r sends nothing after its empty message
        }
        ts_root_send_ctrl(&s, r, TS_CTRL_FINISHED);
    }

    ts_stitch_waitall(world, s.ctrl);
    s.reqs[0] = MPI_REQUEST_NULL;
    ts_stitch_waitall(world, s.reqs);
    free(rreq);
    free(ring);
    free(s.reqs);
    free(s.done_status);
    free(s.done_idx);
    free(s.ctrl);
    free(s.ctrl_msg);
    return st;
}

// ---- the other ranks --------------------------------------------------------------------

static enum ts_status ts_stitch_sender(MPI_Comm comm, const int64_t * counts, int rank, int world, int64_t T_total, size_t frame_bytes,
                                       int window, ts_frame_produce_fn produce, void * pud) {
    int64_t first, count;
    ts_stitch_range(counts, T_total, world, rank, &first, &count);
    int nbuf = count < window ? (int)(count > 0 ? count : 1) : window;
    TS_ASSERT(frame_bytes <= SIZE_MAX / (size_t)nbuf);
    uint8_t * ring = ts_malloc((size_t)nbuf * frame_bytes);  // (nbuf, frame_bytes)
    // [0, nbuf): frame sends; [nbuf]: the CTRL receive (for Waitany); [nbuf+1]: end; [nbuf+2]: DONE
    MPI_Request * reqs = ts_malloc((size_t)(nbuf + 3) * sizeof *reqs);
    for (int k = 0; k < nbuf + 3; k++) reqs[k] = MPI_REQUEST_NULL;
    MPI_Request * ctrl = &reqs[nbuf];
    int ctrl_msg = 0, ctrl_done = 0, in_flight = 0;
    ts_mpi_check(MPI_Irecv(&ctrl_msg, 1, MPI_INT, 0, TS_TAG_CTRL, comm, ctrl));

    enum ts_status st = TS_OK;
    int64_t i = 0;
    for (; i < count; i++) {
        int k = (int)(i % nbuf);
        // Wait for the slot's previous send, or for STOP, whichever comes first.
        while (reqs[k] != MPI_REQUEST_NULL && !ctrl_done) {
            MPI_Request two[2] = {reqs[k], *ctrl};
            int idx = MPI_UNDEFINED;
            ts_stitch_waitany(2, two, &idx, MPI_STATUS_IGNORE);
            reqs[k] = two[0];
            *ctrl = two[1];
            if (idx == 0) in_flight--;
            if (idx == 1) ctrl_done = 1;
        }
        if (!ctrl_done) ts_mpi_check(MPI_Test(ctrl, &ctrl_done, MPI_STATUS_IGNORE));
        if (ctrl_done) {
            TS_ASSERT(ctrl_msg == TS_CTRL_STOP);  // FINISHED comes only after the whole stream
            break;
        }
        st = produce(pud, i, ring + (size_t)k * frame_bytes);
        if (st != TS_OK) break;
        ts_stitch_last.frames_produced++;
        ts_mpi_check(
            MPI_Issend(ring + (size_t)k * frame_bytes, (int)frame_bytes, MPI_BYTE, 0, TS_TAG_FRAME, comm, &reqs[k]));
        in_flight++;
        if (in_flight > ts_stitch_last.send_outstanding_max) ts_stitch_last.send_outstanding_max = in_flight;
    }
    static uint8_t empty;  // the end-of-stream message has no bytes
    if (i < count) ts_mpi_check(MPI_Issend(&empty, 0, MPI_BYTE, 0, TS_TAG_FRAME, comm, &reqs[nbuf + 1]));
    int done_status = (int)st;
    ts_mpi_check(MPI_Isend(&done_status, 1, MPI_INT, 0, TS_TAG_DONE, comm, &reqs[nbuf + 2]));
    ts_stitch_waitall(nbuf + 3, reqs);  // rank 0 drains everything; CTRL included
    free(reqs);
    free(ring);
    return st;
}

// ---- the call ------------------------------------------------------------------------------

enum ts_status ts_stitch(ts_parallel * d, int64_t T_total, size_t frame_bytes, int window, ts_frame_produce_fn produce,
                         void * pud, ts_frame_consume_fn consume, void * cud) {
    return ts_stitch_counts(d, NULL, T_total, frame_bytes, window, produce, pud, consume, cud);
}

enum ts_status ts_stitch_counts(ts_parallel * d, const int64_t * counts, int64_t T_total, size_t frame_bytes, int window,
                                ts_frame_produce_fn produce, void * pud, ts_frame_consume_fn consume, void * cud) {
    double t0 = ts_time();
    memset(&ts_stitch_last, 0, sizeof ts_stitch_last);
    // The same arguments on every rank, so every rank returns the same way here.
    if (T_total < 0 || window < 1 || frame_bytes == 0 || frame_bytes > (size_t)INT32_MAX)
        return ts_error(TS_ERR_ARG, "frames must fit one MPI message (under 2 GiB) and the window be >= 1",
                        "bad frame stream: %lld frames of %zu bytes, window %d", (long long)T_total, frame_bytes,
                        window);
    TS_ASSERT(produce && (d->rank != 0 || consume));
    if (counts) {
        int64_t sum = 0;
        for (int r = 0; r < d->world; r++) sum += counts[r];
        TS_ASSERT(sum == T_total);
    }

    MPI_Comm comm;
    ts_mpi_check(MPI_Comm_dup(d->comm, &comm));
    ts_mpi_check(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN));
    enum ts_status st = d->rank == 0
                            ? ts_stitch_root(comm, counts, d->world, T_total, frame_bytes, window, produce, pud, consume, cud)
                            : ts_stitch_sender(comm, counts, d->rank, d->world, T_total, frame_bytes, window, produce, pud);
    // leave together, quietly: the agreement below is a collective that spins
    MPI_Request bar;
    ts_mpi_check(MPI_Ibarrier(comm, &bar));
    ts_stitch_waitall(1, &bar);
    ts_mpi_check(MPI_Comm_free(&comm));
    st = ts_parallel_agree(d, st);
    ts_stitch_last.seconds = ts_time() - t0;
    return st;
}
