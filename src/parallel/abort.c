// Ending the whole job from one rank: the cleanup slot (temporary outputs),
// fatal-signal handlers (installed only when the caller asks: ts_ctx_params.signals),
// and tier-1 MPI checks (ts_mpi_check). Knows nothing of the communicators.
#include "parallel/abort.h"

#include <execinfo.h>  // backtrace_symbols_fd
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// ---- job-wide state for aborts and signal handlers --------------------------------
// Written by ts_parallel_init / ts_parallel_free / ts_parallel_on_abort on the main thread,
// read by the signal handler.

static void (*ts_cleanup_fn)(void * ud);
static void * ts_cleanup_ud;
static volatile sig_atomic_t ts_cleanup_ran;
static volatile sig_atomic_t ts_parallel_active;
static int ts_signals_installed;  // ts_abort_signals_install ran (and not yet restored)
static MPI_Comm ts_abort_comm = MPI_COMM_NULL;  // a dup owned by the active ts_parallel
static int ts_init_rank;
static char ts_init_host[64];

static const int ts_fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGABRT};
#define TS_N_FATAL ((int)(sizeof ts_fatal_signals / sizeof ts_fatal_signals[0]))
static struct sigaction ts_old_actions[TS_N_FATAL];
static char ts_altstack[1 << 16];  // so a stack overflow can still be reported

void ts_parallel_on_abort(void (*fn)(void * ud), void * ud) {
    ts_cleanup_fn = NULL;  // never a new function with the old argument
    ts_cleanup_ud = ud;
    ts_cleanup_fn = fn;
}

void ts_abort_run_cleanup(void) {
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
    ts_abort_run_cleanup();
    if (ts_parallel_active) MPI_Abort(ts_abort_comm, 128 + sig);
    signal(sig, SIG_DFL);
    raise(sig);
}

void ts_abort_signals_install(void) {
    if (ts_signals_installed) return;
    ts_signals_installed = 1;
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

void ts_abort_signals_restore(void) {
    if (!ts_signals_installed) return;
    ts_signals_installed = 0;
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
    ts_abort_run_cleanup();
    if (ts_parallel_active) MPI_Abort(ts_abort_comm, 1);
    MPI_Abort(MPI_COMM_WORLD, 1);
    abort();
}

// ---- the job that an abort ends ------------------------------------------------------
void ts_abort_job_set(MPI_Comm comm, int rank, const char * host) {
    ts_init_rank = rank;
    snprintf(ts_init_host, sizeof ts_init_host, "%s", host);
    ts_abort_comm = comm;
    ts_cleanup_ran = 0;
    ts_parallel_active = 1;
}

void ts_abort_job_clear(MPI_Comm comm) {
    if (!ts_parallel_active || ts_abort_comm != comm) return;
    ts_parallel_active = 0;
    ts_abort_comm = MPI_COMM_NULL;
}

int ts_abort_job_rank(void) { return ts_init_rank; }
const char * ts_abort_job_host(void) { return ts_init_host; }
