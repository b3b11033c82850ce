// Liveness between ranks: a helper thread per rank, a star around rank 0.
//
// Why: when the network between nodes stops without a reset (a link down, a
// switch gone, a node frozen), a rank blocked in a halo wait or an all-reduce
// waits forever: TCP sends no error on an idle connection, and Open MPI's own
// checks do not cover it. A per-step deadline would not do (a real step may
// take minutes), so liveness is checked apart from the work: every rank's helper
// thread sends a small message to rank 0 every S/6 seconds and rank 0's to every
// other rank, on a communicator of their own (a dup: never matched against halo
// messages). Rank 0 watches every rank, every rank watches rank 0; a peer not
// heard from for S seconds (TIMESHARD_HEARTBEAT_S) ends the job:
//   - rank 0 tells every rank it still hears "ending, rank r is silent", prints
//     the silent rank and its host, and ends;
//   - a rank that gets that message, or no longer hears rank 0, prints it and ends.
// Ending: the registered cleanup (temporary outputs), then MPI_Abort, with a
// fallback _exit after a few seconds because MPI_Abort may itself wait on the
// lost network. So every rank has exited within about S + 3 s of the silence.
// A rank that stops its heartbeat normally (ts_heartbeat_stop) says "leaving"
// first, so a rank that finishes early is never taken for a silent one.
//
// Needs MPI_THREAD_MULTIPLE (ts_parallel_init asks for it while the heartbeat
// is on). Sends are fire-and-forget (MPI_Request_free) from constant buffers:
// a send to a silent peer must never block the thread.
#include "parallel/heartbeat.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/common.h"      // TS_WARN, TS_INFO
#include "parallel/abort.h"   // ts_abort_run_cleanup

enum { HB_ALIVE = 1, HB_LEAVING = 2, HB_ENDING = 3 };
enum { HB_TAG = 7, HB_HOST = 64 };
#define HB_EXIT_CODE 1
#define HB_GRACE_S 3  // MPI_Abort gets this long before the rank _exits itself

static const int hb_msg_alive[2] = {HB_ALIVE, -1};
static const int hb_msg_leaving[2] = {HB_LEAVING, -1};
static int hb_msg_ending[2] = {HB_ENDING, -1};  // [1]: the silent rank (written once, before sending)

static struct {
    int running;
    MPI_Comm comm;
    int rank, world;
    double limit_s, interval_s;
    char (*hosts)[HB_HOST];  // every rank's host name
    // rank 0: one receive per other rank; others: one from rank 0 (index 0)
    int npeer;
    int * peer;          // peer ranks
    int (*buf)[2];       // receive buffers
    MPI_Request * req;
    double * heard;      // when each peer was last heard from
    int * watched;       // 0 once a peer said it is leaving
    pthread_t thread;
    volatile int stop;
} hb;

static double hb_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double ts_heartbeat_seconds(void) {
    static int parsed;  // read once: ts_parallel_init asks before MPI starts, the heartbeat after
    static double value = 30.0;
    if (parsed) return value;
    parsed = 1;
    const char * s = getenv("TIMESHARD_HEARTBEAT_S");
    if (!s || !*s) return value;
    char * end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    // Much below a second the heartbeat's own sleeps and messages are too coarse: a
    // healthy job was ended at 0.001 s.
    if (errno || end == s || *end || !(v == 0.0 || v >= 0.5) || v > 86400.0) {
        TS_WARN("TIMESHARD_HEARTBEAT_S='%s' ignored (seconds in [0.5, 86400], or 0 to turn it off): using 30", s);
        return value;
    }
    value = v;
    return value;
}

static void hb_send(const int * msg, int to) {
    MPI_Request r;
    if (MPI_Isend(msg, 2, MPI_INT, to, HB_TAG, hb.comm, &r) == MPI_SUCCESS) MPI_Request_free(&r);
}

static void * hb_exit_later(void * arg) {
    (void)arg;
    sleep(HB_GRACE_S);
    _exit(HB_EXIT_CODE);
    return NULL;
}

// Ends this rank (and, through MPI_Abort, whatever of the job can still be reached).
static void hb_end(void) {
    fflush(stderr);
    ts_abort_run_cleanup();
    pthread_t t;
    if (pthread_create(&t, NULL, hb_exit_later, NULL) != 0) _exit(HB_EXIT_CODE);
    MPI_Abort(hb.comm, HB_EXIT_CODE);
    pause();  // MPI_Abort returned: the fallback ends the process
    _exit(HB_EXIT_CODE);
}

static const char * hb_host(int r) { return r >= 0 && r < hb.world ? hb.hosts[r] : "?"; }

static void hb_post(int i) {
    if (MPI_Irecv(hb.buf[i], 2, MPI_INT, hb.peer[i], HB_TAG, hb.comm, &hb.req[i]) != MPI_SUCCESS)
        hb.req[i] = MPI_REQUEST_NULL;
}

static void * hb_main(void * arg) {
    (void)arg;
    double next_send = 0.0;
    int * idx = malloc(sizeof(int) * (size_t)hb.npeer);
    if (!idx) return NULL;
    while (!hb.stop) {
        double now = hb_now();
        if (now >= next_send) {
            for (int i = 0; i < hb.npeer; i++)
                if (hb.watched[i]) hb_send(hb_msg_alive, hb.peer[i]);
            next_send = now + hb.interval_s;
        }
        int n = 0;
        if (MPI_Testsome(hb.npeer, hb.req, &n, idx, MPI_STATUSES_IGNORE) != MPI_SUCCESS) n = 0;
        now = hb_now();
        for (int k = 0; k < (n == MPI_UNDEFINED ? 0 : n); k++) {
            int i = idx[k];
            hb.heard[i] = now;
            if (hb.buf[i][0] == HB_LEAVING) {
                hb.watched[i] = 0;  // finished normally: no longer watched, no repost
                continue;
            }
            if (hb.buf[i][0] == HB_ENDING) {
                int s = hb.buf[i][1];
                fprintf(stderr,
                        "timeshard: error: [rank %d %s] rank 0 (%s) has heard nothing from rank %d (%s) for %.0f s "
                        "(TIMESHARD_HEARTBEAT_S): its process or the network to it is gone; ending the job\n"
                        "---> HINT: check rank %d's node (%s) and the network between the nodes; a job with "
                        "--checkpoint-every can be resumed with --resume\n",
                        hb.rank, hb_host(hb.rank), hb_host(0), s, hb_host(s), hb.limit_s, s, hb_host(s));
                hb_end();
            }
            hb_post(i);
        }
        for (int i = 0; i < hb.npeer; i++) {
            if (!hb.watched[i] || now - hb.heard[i] <= hb.limit_s) continue;
            int s = hb.peer[i];
            if (hb.rank == 0) {
                hb_msg_ending[1] = s;
                for (int j = 0; j < hb.npeer; j++)
                    if (j != i && hb.watched[j] && now - hb.heard[j] <= hb.limit_s) hb_send(hb_msg_ending, hb.peer[j]);
            }
            fprintf(stderr,
                    "timeshard: error: [rank %d %s] no heartbeat from rank %d (%s) for %.0f s "
                    "(TIMESHARD_HEARTBEAT_S): its process or the network to it is gone; ending the job\n"
                    "---> HINT: check rank %d's node (%s) and the network between the nodes; a job with "
                    "--checkpoint-every can be resumed with --resume\n",
                    hb.rank, hb_host(hb.rank), s, hb_host(s), now - hb.heard[i], s, hb_host(s));
            hb_end();
        }
        struct timespec tick = {0, 50 * 1000 * 1000};
        nanosleep(&tick, NULL);
    }
    free(idx);
    return NULL;
}

static void hb_release(void) {
    free(hb.hosts);
    free(hb.peer);
    free(hb.buf);
    free(hb.req);
    free(hb.heard);
    free(hb.watched);
    hb.hosts = NULL;
    hb.peer = NULL;
    hb.buf = NULL;
    hb.req = NULL;
    hb.heard = NULL;
    hb.watched = NULL;
}

int ts_heartbeat_start(MPI_Comm comm, int rank, const char * host) {
    if (hb.running) return 0;
    int world = 1;
    MPI_Comm_size(comm, &world);
    double limit = ts_heartbeat_seconds();
    // every rank decides alike (the same environment; the thread level is the job's)
    int level = MPI_THREAD_SINGLE;
    MPI_Query_thread(&level);
    if (world < 2 || limit <= 0.0) return 0;
    if (level < MPI_THREAD_MULTIPLE) {
        if (rank == 0)
            TS_WARN("no heartbeat between ranks: MPI provides thread level %d, below MPI_THREAD_MULTIPLE; a lost "
                    "node or link may leave the job waiting until the launcher ends it",
                    level);
        return 0;
    }
    memset(&hb, 0, sizeof hb);
    hb.rank = rank;
    hb.world = world;
    hb.limit_s = limit;
    hb.interval_s = limit / 6.0;
    if (MPI_Comm_dup(comm, &hb.comm) != MPI_SUCCESS) return 0;
    MPI_Comm_set_errhandler(hb.comm, MPI_ERRORS_RETURN);
    hb.npeer = rank == 0 ? world - 1 : 1;
    hb.hosts = calloc((size_t)world, HB_HOST);
    hb.peer = calloc((size_t)hb.npeer, sizeof *hb.peer);
    hb.buf = calloc((size_t)hb.npeer, sizeof *hb.buf);
    hb.req = calloc((size_t)hb.npeer, sizeof *hb.req);
    hb.heard = calloc((size_t)hb.npeer, sizeof *hb.heard);
    hb.watched = calloc((size_t)hb.npeer, sizeof *hb.watched);
    int ok = hb.hosts && hb.peer && hb.buf && hb.req && hb.heard && hb.watched, all_ok = 0;
    char mine[HB_HOST];
    snprintf(mine, sizeof mine, "%s", host ? host : "?");
    // collective on every rank whatever happened above, so that no rank waits alone
    if (MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, hb.comm) != MPI_SUCCESS) all_ok = 0;
    if (all_ok && MPI_Allgather(mine, HB_HOST, MPI_CHAR, hb.hosts, HB_HOST, MPI_CHAR, hb.comm) != MPI_SUCCESS)
        all_ok = 0;
    if (!all_ok) {
        MPI_Comm_free(&hb.comm);
        hb_release();
        return 0;
    }
    for (int r = 0; r < world; r++) hb.hosts[r][HB_HOST - 1] = '\0';
    double now = hb_now();
    for (int i = 0; i < hb.npeer; i++) {
        hb.peer[i] = rank == 0 ? i + 1 : 0;
        hb.heard[i] = now;
        hb.watched[i] = 1;
        hb_post(i);
    }
    hb.stop = 0;
    if (pthread_create(&hb.thread, NULL, hb_main, NULL) != 0) {
        for (int i = 0; i < hb.npeer; i++)
            if (hb.req[i] != MPI_REQUEST_NULL) {
                MPI_Cancel(&hb.req[i]);
                MPI_Wait(&hb.req[i], MPI_STATUS_IGNORE);
            }
        MPI_Comm_free(&hb.comm);
        hb_release();
        TS_WARN("no heartbeat between ranks: cannot start its thread");
        return 0;
    }
    hb.running = 1;
    return 1;
}

void ts_heartbeat_stop(void) {
    if (!hb.running) return;
    // exit() inside MPI_Abort on the heartbeat's own thread runs the atexit handlers there
    if (pthread_equal(pthread_self(), hb.thread)) return;
    hb.stop = 1;
    pthread_join(hb.thread, NULL);
    hb.running = 0;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) {
        for (int i = 0; i < hb.npeer; i++)
            if (hb.watched[i]) hb_send(hb_msg_leaving, hb.peer[i]);
        for (int i = 0; i < hb.npeer; i++)
            if (hb.req[i] != MPI_REQUEST_NULL) {
                MPI_Cancel(&hb.req[i]);
                MPI_Wait(&hb.req[i], MPI_STATUS_IGNORE);
            }
        MPI_Comm_free(&hb.comm);
    }
    hb_release();
}
