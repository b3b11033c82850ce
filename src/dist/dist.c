// The job: MPI start-up and shutdown (ts_dist_init / ts_dist_free), the
// collective failure check (ts_dist_agree), and ending the whole job from one
// rank (ts_dist_abort, fatal-signal handlers, the cleanup slot, ts_mpi_check).
#include "dist/dist.h"

#include <execinfo.h>  // backtrace_symbols_fd
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// ts_error, ts_last_error, ts_log_set_rank, TS_ASSERT
#include "core/common.h"

// ---- job-wide state for aborts and signal handlers --------------------------------
// Written by ts_dist_init / ts_dist_free / ts_dist_on_abort on the main thread,
// read by the signal handler.

static void (*ts_cleanup_fn)(void * ud);
static void * ts_cleanup_ud;
static volatile sig_atomic_t ts_cleanup_ran;
static volatile sig_atomic_t ts_dist_active;    // MPI usable for MPI_Abort
static MPI_Comm ts_abort_comm = MPI_COMM_NULL;  // a dup owned by the active ts_dist
static int ts_init_rank;
static char ts_init_host[64];
static int ts_we_initialized;  // MPI_Init was ours, so MPI_Finalize is too

static const int ts_fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGABRT};
#define TS_N_FATAL ((int)(sizeof ts_fatal_signals / sizeof ts_fatal_signals[0]))
static struct sigaction ts_old_actions[TS_N_FATAL];
static char ts_altstack[1 << 16];  // so a stack overflow can still be reported

void ts_dist_on_abort(void (*fn)(void * ud), void * ud) {
    ts_cleanup_fn = NULL;  // never a new function with the old argument
    ts_cleanup_ud = ud;
    ts_cleanup_fn = fn;
}

static void ts_run_cleanup(void) {
    if (ts_cleanup_ran) return;
    ts_cleanup_ran = 1;
    if (ts_cleanup_fn) ts_cleanup_fn(ts_cleanup_ud);
}

// ---- fatal signals -----------------------------------------------------------------

// Appends s to buf at *n (async-signal-safe).
static void ts_sig_puts(char * buf, size_t cap, size_t * n, const char * s) {
    while (*s && *n + 1 < cap) buf[(*n)++] = *s++;
}

static void ts_sig_putint(char * buf, size_t cap, size_t * n, int v) {
    char d[16];
    int k = 0;
    unsigned u = v < 0 ? 0u - (unsigned)v : (unsigned)v;
    do {
        d[k++] = (char)('0' + u % 10);
        u /= 10;
    } while (u && k < 15);
    if (v < 0 && *n + 1 < cap) buf[(*n)++] = '-';
    while (k > 0 && *n + 1 < cap) buf[(*n)++] = d[--k];
}

static const char * ts_sig_name(int sig) {
    switch (sig) {
        case SIGSEGV:
            return " (SIGSEGV)";
        case SIGBUS:
            return " (SIGBUS)";
        case SIGFPE:
            return " (SIGFPE)";
        case SIGABRT:
            return " (SIGABRT)";
        default:
            return "";
    }
}

// A fatal signal on this rank: report it, run the cleanup, end the whole job so
// that no other rank waits forever on this one. write() is async-signal-safe and
// the cleanup should keep to calls like unlink(); backtrace and MPI_Abort are a
// pragmatic choice (the process is lost anyway). SA_RESETHAND: a second fault
// here kills outright.
static void ts_fatal_signal_handler(int sig) {
    char line[256];
    size_t n = 0;
    ts_sig_puts(line, sizeof line, &n, "timeshard: error: [rank ");
    ts_sig_putint(line, sizeof line, &n, ts_init_rank);
    ts_sig_puts(line, sizeof line, &n, " ");
    ts_sig_puts(line, sizeof line, &n, ts_init_host);
    ts_sig_puts(line, sizeof line, &n, "] fatal signal ");
    ts_sig_putint(line, sizeof line, &n, sig);
    ts_sig_puts(line, sizeof line, &n, ts_sig_name(sig));
    ts_sig_puts(line, sizeof line, &n, "; ending the job\n");
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
    if (sig != SIGABRT) {  // ts_abort (SIGABRT) has already said where
        void * frames[32];
        int nf = backtrace(frames, 32);
        backtrace_symbols_fd(frames, nf, STDERR_FILENO);
    }
    ts_run_cleanup();
    if (ts_dist_active) MPI_Abort(ts_abort_comm, 128 + sig);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void ts_install_signal_handlers(void) {
    void * frame;
    backtrace(&frame, 1);  // loads libgcc now: the first call allocates, which a handler must not
    stack_t ss = {.ss_sp = ts_altstack, .ss_size = sizeof ts_altstack, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ts_fatal_signal_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND | SA_ONSTACK;
    for (int i = 0; i < TS_N_FATAL; i++) sigaction(ts_fatal_signals[i], &sa, &ts_old_actions[i]);
}

static void ts_restore_signal_handlers(void) {
    for (int i = 0; i < TS_N_FATAL; i++) sigaction(ts_fatal_signals[i], &ts_old_actions[i], NULL);
}

// ---- tier 1 for MPI -----------------------------------------------------------------

void ts_mpi_check_(int err, const char * file, int line, const char * call) {
    if (err == MPI_SUCCESS) return;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(err, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "MPI error %d", err);
    fprintf(stderr, "timeshard: internal error at %s:%d: [rank %d %s] %s failed: %s\n", file, line, ts_init_rank,
            ts_init_host, call, msg);
    fflush(stderr);
    ts_run_cleanup();
    if (ts_dist_active) MPI_Abort(ts_abort_comm, 1);
    MPI_Abort(MPI_COMM_WORLD, 1);
    abort();
}

// ---- start-up and shutdown ------------------------------------------------------------

static enum ts_status ts_mpi_status(int err, const char * what) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(err, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "MPI error %d", err);
    return ts_error(TS_ERR_DIST, "is the job launched with a working MPI (mpirun, srun --mpi=pmix)?", "%s failed: %s",
                    what, msg);
}

enum ts_status ts_dist_init(ts_dist * d, int * argc, char *** argv) {
    memset(d, 0, sizeof *d);
    d->comm = MPI_COMM_NULL;
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (finalized) return ts_error(TS_ERR_DIST, NULL, "MPI was already finalized in this process");
    if (!initialized) {
        int provided = 0;
        int err = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
        if (err != MPI_SUCCESS) return ts_mpi_status(err, "MPI_Init_thread");
        ts_we_initialized = 1;
        if (provided < MPI_THREAD_FUNNELED)
            TS_WARN("MPI provides thread level %d, below MPI_THREAD_FUNNELED; OpenMP regions must not call MPI",
                    provided);
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int err = MPI_Comm_dup(MPI_COMM_WORLD, &d->comm);
    if (err != MPI_SUCCESS) return ts_mpi_status(err, "MPI_Comm_dup");
    MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(d->comm, &d->rank);
    MPI_Comm_size(d->comm, &d->world);
    if (gethostname(d->host, sizeof d->host) != 0) snprintf(d->host, sizeof d->host, "?");
    d->host[sizeof d->host - 1] = '\0';
    ts_log_set_rank(d->rank, d->world);

    ts_init_rank = d->rank;
    memcpy(ts_init_host, d->host, sizeof ts_init_host);
    ts_abort_comm = d->comm;
    ts_cleanup_ran = 0;
    ts_dist_active = 1;
    ts_install_signal_handlers();

    d->halo = ts_comm_mpi_new(d->comm);
    return TS_OK;
}

void ts_dist_free(ts_dist * d) {
    if (!d) return;
    if (ts_dist_active && ts_abort_comm == d->comm) {
        ts_restore_signal_handlers();
        ts_dist_active = 0;
        ts_abort_comm = MPI_COMM_NULL;
    }
    if (d->halo) {
        d->halo->ops->free(d->halo);
        d->halo = NULL;
    }
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return;
    if (d->comm != MPI_COMM_NULL) MPI_Comm_free(&d->comm);
    if (ts_we_initialized) {
        MPI_Finalize();
        ts_we_initialized = 0;
    }
}

// ---- failure handling ----------------------------------------------------------------

// What the first failing rank tells the others.
struct ts_fail_report {
    int status;
    char host[64];
    char msg[384];
    char hint[256];
};

enum ts_status ts_dist_agree(ts_dist * d, enum ts_status mine) {
    if (d->world == 1) return mine;
    // The lowest failing rank speaks for all; INT_MAX: nobody failed.
    int me = mine != TS_OK ? d->rank : INT_MAX, first = INT_MAX;
    int err = MPI_Allreduce(&me, &first, 1, MPI_INT, MPI_MIN, d->comm);
    if (err != MPI_SUCCESS) return ts_mpi_status(err, "MPI_Allreduce in ts_dist_agree");
    if (first == INT_MAX) return TS_OK;

    struct ts_fail_report rep;
    memset(&rep, 0, sizeof rep);
    if (d->rank == first) {
        rep.status = (int)mine;
        snprintf(rep.host, sizeof rep.host, "%s", d->host);
        snprintf(rep.msg, sizeof rep.msg, "%s", ts_last_error());
        snprintf(rep.hint, sizeof rep.hint, "%s", ts_last_hint());
    }
    err = MPI_Bcast(&rep, (int)sizeof rep, MPI_BYTE, first, d->comm);
    if (err != MPI_SUCCESS) return ts_mpi_status(err, "MPI_Bcast in ts_dist_agree");
    if (mine != TS_OK) return mine;
    rep.host[sizeof rep.host - 1] = rep.msg[sizeof rep.msg - 1] = rep.hint[sizeof rep.hint - 1] = '\0';
    return ts_error(TS_ERR_DIST, rep.hint[0] ? rep.hint : NULL, "rank %d (%s) failed: %s", first, rep.host,
                    rep.msg[0] ? rep.msg : ts_status_name((enum ts_status)rep.status));
}

void ts_dist_abort(ts_dist * d, int code) {
    if (code == 0) code = 1;
    ts_run_cleanup();
    int rank = d ? d->rank : ts_init_rank;
    const char * host = d ? d->host : ts_init_host;
    const char * msg = ts_last_error();
    const char * hint = ts_last_hint();
    fprintf(stderr, "timeshard: error: [rank %d %s] %s; ending the job\n", rank, host,
            msg[0] ? msg : "aborted (no error recorded)");
    if (hint[0]) fprintf(stderr, "---> HINT: %s\n", hint);
    fflush(stderr);
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (initialized && !finalized) MPI_Abort(d && d->comm != MPI_COMM_NULL ? d->comm : MPI_COMM_WORLD, code);
    exit(code);
}
