// Status names, the error record (ts_error / ts_last_error), logging with rank
// prefixes, ts_abort, allocation that aborts on failure, clock and peak RSS.
#include "core/common.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

// ---- status names ------------------------------------------------------------

const char * ts_status_name(enum ts_status st) {
    static const char * const names[TS_ERR_COUNT] = {
        [TS_OK] = "ok",
        [TS_ERR_ARG] = "bad argument",
        [TS_ERR_IO] = "i/o error",
        [TS_ERR_FORMAT] = "bad file format",
        [TS_ERR_MODEL] = "model mismatch",
        [TS_ERR_DIST] = "distributed error",
        [TS_ERR_INTERRUPTED] = "interrupted",
    };
    if ((int)st < 0 || st >= TS_ERR_COUNT) return "unknown status";
    return names[st];
}

// The hint of an error recorded without one of its own: what to look at next.
static const char * ts_status_hint(enum ts_status st) {
    switch (st) {
        case TS_ERR_ARG: return "see 'timeshard generate --help' (or the command's --help)";
        case TS_ERR_IO: return "check the path, that the file exists and that it may be read or written";
        case TS_ERR_FORMAT:
            return "the file is damaged or not of the kind expected (for weights, latents and checkpoints, "
                   "'timeshard info FILE' shows what it holds)";
        case TS_ERR_MODEL: return "the weights do not fit their config; 'timeshard info MODEL' shows both";
        case TS_ERR_DIST: return "see the other ranks' messages; check the MPI launch (mpirun, srun --mpi=pmix)";
        case TS_ERR_INTERRUPTED: return "continue with --resume <checkpoint>";
        default: return "";
    }
}

// ---- error record: the first error wins until ts_error_clear() -------------------

static pthread_mutex_t ts_err_mu = PTHREAD_MUTEX_INITIALIZER;
static char ts_err_msg[1024];
static char ts_err_hint[1024];
static int ts_err_set;

enum ts_status ts_error(enum ts_status st, const char * hint, const char * fmt, ...) {
    pthread_mutex_lock(&ts_err_mu);
    if (!ts_err_set) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ts_err_msg, sizeof ts_err_msg, fmt, ap);
        va_end(ap);
        snprintf(ts_err_hint, sizeof ts_err_hint, "%s", hint ? hint : ts_status_hint(st));
        ts_err_set = 1;
    }
    pthread_mutex_unlock(&ts_err_mu);
    return st;
}

void ts_error_clear(void) {
    pthread_mutex_lock(&ts_err_mu);
    ts_err_msg[0] = '\0';
    ts_err_hint[0] = '\0';
    ts_err_set = 0;
    pthread_mutex_unlock(&ts_err_mu);
}

int ts_print_last_error(void) {
    const char * e = ts_last_error();
    const char * h = ts_last_hint();
    fprintf(stderr, "timeshard: error: %s\n", e && *e ? e : "unknown error");
    if (h && *h) fprintf(stderr, "---> HINT: %s\n", h);
    fflush(stderr);
    return 1;
}

// The returned buffers stay valid until the next ts_error_clear().
const char * ts_last_error(void) { return ts_err_msg; }
const char * ts_last_hint(void) { return ts_err_hint; }

// ---- logging -------------------------------------------------------------------

static enum ts_log_level ts_log_level_cur = TS_LOG_INFO;
static int ts_log_rank = 0;
static int ts_log_world = 1;
static char ts_log_host[64] = "";

static ts_log_fn ts_log_cb;
static void * ts_log_cb_ud;

void ts_log_set_level(enum ts_log_level level) { ts_log_level_cur = level; }
enum ts_log_level ts_log_get_level(void) { return ts_log_level_cur; }
void ts_set_log_level(enum ts_log_level level) { ts_log_level_cur = level; }

void ts_set_log_callback(ts_log_fn fn, void * ud) {
    ts_log_cb = NULL;  // never the new function with the old argument
    ts_log_cb_ud = ud;
    ts_log_cb = fn;
}

void ts_log_set_rank(int rank, int world) {
    ts_log_rank = rank;
    ts_log_world = world;
    if (gethostname(ts_log_host, sizeof ts_log_host) != 0) snprintf(ts_log_host, sizeof ts_log_host, "?");
    ts_log_host[sizeof ts_log_host - 1] = '\0';
}

// "[rank R host] " into buf when world > 1, else "".
static const char * ts_rank_prefix(char * buf, size_t n) {
    if (ts_log_world > 1)
        snprintf(buf, n, "[rank %d %s] ", ts_log_rank, ts_log_host);
    else
        buf[0] = '\0';
    return buf;
}

// One line to the callback, or to stderr in a single write, so lines from ranks
// do not interleave mid-line.
static void ts_log_emit(enum ts_log_level level, const char * prefix, const char * kind, const char * fmt, va_list ap) {
    char line[4096];
    int n = snprintf(line, sizeof line, "%s%s", prefix, kind);
    if (n < 0) return;
    if ((size_t)n < sizeof line) {
        int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        if (m > 0) n += m;
    }
    if ((size_t)n >= sizeof line - 1) n = (int)sizeof line - 2;
    if (ts_log_cb) {
        while (n > 0 && line[n - 1] == '\n') n--;
        line[n] = '\0';
        ts_log_cb(level, line, ts_log_cb_ud);
        return;
    }
    if (n == 0 || line[n - 1] != '\n') line[n++] = '\n';
    fwrite(line, 1, (size_t)n, stderr);
    fflush(stderr);
}

void ts_log(enum ts_log_level level, const char * fmt, ...) {
    if (level > ts_log_level_cur) return;
    if ((level == TS_LOG_INFO || level == TS_LOG_DEBUG) && ts_log_rank != 0) return;
    static const char * const kinds[TS_LOG_COUNT] = {
        [TS_LOG_ERROR] = "timeshard: error: ",
        [TS_LOG_WARN] = "timeshard: warning: ",
        [TS_LOG_INFO] = "",
        [TS_LOG_DEBUG] = "timeshard: debug: ",
    };
    char prefix[96] = "";
    if (level == TS_LOG_ERROR || level == TS_LOG_WARN) ts_rank_prefix(prefix, sizeof prefix);
    va_list ap;
    va_start(ap, fmt);
    ts_log_emit(level, prefix, kinds[level < TS_LOG_COUNT ? level : TS_LOG_DEBUG], fmt, ap);
    va_end(ap);
}

// ---- tier 1 --------------------------------------------------------------------

void ts_abort(const char * file, int line, const char * fmt, ...) {
    char prefix[96];
    char kind[512];
    ts_rank_prefix(prefix, sizeof prefix);
    snprintf(kind, sizeof kind, "timeshard: internal error at %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    ts_log_emit(TS_LOG_ERROR, prefix, kind, fmt, ap);
    va_end(ap);
    abort();
}

void * ts_malloc(size_t bytes) {
    void * p = malloc(bytes ? bytes : 1);
    if (!p) ts_abort(__FILE__, __LINE__, "out of memory allocating %zu bytes", bytes);
    return p;
}

void * ts_calloc(size_t n, size_t size) {
    void * p = calloc(n ? n : 1, size ? size : 1);
    if (!p) ts_abort(__FILE__, __LINE__, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

// ---- clock and memory -------------------------------------------------------------

double ts_time(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int64_t ts_peak_rss(void) {
    FILE * f = fopen("/proc/self/status", "r");
    if (f) {
        char line[256];
        long long kb = -1;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "VmHWM: %lld kB", &kb) == 1) break;
        fclose(f);
        if (kb >= 0) return (int64_t)kb * 1024;
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (int64_t)ru.ru_maxrss * 1024;  // Linux reports KiB
}

int ts_peak_rss_reset(void) {
    FILE * f = fopen("/proc/self/clear_refs", "w");
    if (!f) return 0;
    int ok = fputs("5", f) >= 0;  // 5: reset the peak resident set size (Linux 4.0)
    ok = (fclose(f) == 0) && ok;
    return ok;
}

int ts_launcher_rank(void) {
    const char * vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"};
    for (int i = 0; i < 4; i++) {
        const char * v = getenv(vars[i]);
        if (v && *v) return atoi(v);
    }
    return -1;
}

static int ts_exit_fast_flag;
void ts_exit_fast_mark(void) { ts_exit_fast_flag = 1; }
int ts_exit_fast_pending(void) { return ts_exit_fast_flag; }
