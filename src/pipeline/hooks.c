// The pipeline's test hooks (TIMESHARD_FAULT, TIMESHARD_STEP_DELAY_MS,
// TIMESHARD_REPORT) and its SIGTERM handler (hooks.h). Handler and cleanup keep
// to async-signal-safe calls (unlink, signal, raise).
#include "pipeline/hooks.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>  // nanosleep
#include <unistd.h>

#include "core/common.h"
#include "parallel/abort.h"  // ts_parallel_on_abort

// Parses TIMESHARD_FAULT into h; a malformed value is ignored with a warning.
static void hooks_parse_fault(struct ts_hooks * h, const char * v) {
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", v);
    int rank = -1, have_step = 0;
    long long step = 0;
    enum ts_fault_kind kind = TS_FAULT_NONE;
    const char * bad = NULL;
    char * save = NULL;
    for (char * kv = strtok_r(buf, ",", &save); kv && !bad; kv = strtok_r(NULL, ",", &save)) {
        char * eq = strchr(kv, '=');
        char * end = NULL;
        if (!eq) {
            bad = kv;
            break;
        }
        *eq = '\0';
        const char * val = eq + 1;
        if (!strcmp(kv, "rank")) {
            rank = (int)strtol(val, &end, 10);
            if (!val[0] || *end || rank < 0) bad = "rank";
        } else if (!strcmp(kv, "step")) {
            step = strtoll(val, &end, 10);
            have_step = 1;
            if (!val[0] || *end || step < -1) bad = "step";
        } else if (!strcmp(kv, "kind")) {
            kind = !strcmp(val, "crash")   ? TS_FAULT_CRASH
                   : !strcmp(val, "error") ? TS_FAULT_ERROR
                   : !strcmp(val, "exit")  ? TS_FAULT_EXIT
                                           : TS_FAULT_NONE;
            if (kind == TS_FAULT_NONE) bad = "kind";
        } else {
            bad = kv;
        }
    }
    if (!bad && (rank < 0 || !have_step || kind == TS_FAULT_NONE)) bad = "a missing key";
    if (bad) {
        TS_WARN("TIMESHARD_FAULT='%s' ignored (at '%s'); the form is rank=R,step=K,kind=crash|error|exit", v, bad);
        return;
    }
    h->fault_kind = kind;
    h->fault_rank = rank;
    h->fault_step = step;
}

const struct ts_hooks * ts_hooks_get(void) {
    static struct ts_hooks h;
    static int read;
    if (read) return &h;
    read = 1;
    const char * v = getenv("TIMESHARD_FAULT");
    if (v && *v) hooks_parse_fault(&h, v);
    v = getenv("TIMESHARD_STEP_DELAY_MS");
    if (v && *v) h.step_delay_ms = atoi(v) > 0 ? atoi(v) : 0;
    v = getenv("TIMESHARD_SETUP_DELAY_MS");
    if (v && *v) h.setup_delay_ms = atoi(v) > 0 ? atoi(v) : 0;
    v = getenv("TIMESHARD_OUTPUT_DELAY_MS");
    if (v && *v) h.output_delay_ms = atoi(v) > 0 ? atoi(v) : 0;
    v = getenv("TIMESHARD_REPORT");
    h.report = v && *v && strcmp(v, "0") != 0;
    return &h;
}

// Fires the injected fault if it is due on this rank at step k: crash and exit
// where at_start is 1 (a step's start), error where it is 0 (after the forward
// passes). Returns the error's status, else TS_OK.
enum ts_status ts_hooks_fault(const struct ts_hooks * h, int rank, int64_t k, int at_start) {
    if (h->fault_kind == TS_FAULT_NONE || h->fault_rank != rank || h->fault_step != k) return TS_OK;
    if (at_start && h->fault_kind == TS_FAULT_CRASH) {
        fprintf(stderr, "timeshard: test hook: rank %d crashes at step %lld (TIMESHARD_FAULT)\n", rank, (long long)k);
        raise(SIGSEGV);
    }
    if (at_start && h->fault_kind == TS_FAULT_EXIT) {
        fprintf(stderr, "timeshard: test hook: rank %d exits at step %lld (TIMESHARD_FAULT)\n", rank, (long long)k);
        _exit(7);
    }
    if (!at_start && h->fault_kind == TS_FAULT_ERROR)
        return ts_error(TS_ERR_IO, "this is a test hook: unset TIMESHARD_FAULT", "injected fault at step %lld",
                        (long long)k);
    return TS_OK;
}

// Sleeps ms milliseconds, resuming after signals (a slow step is not cut short).
void ts_hooks_step_delay(int ms) {
    struct timespec left = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
}

// ---- SIGTERM and the temporary video -------------------------------------------------
static volatile sig_atomic_t ts_term_flag = 0;
static volatile sig_atomic_t ts_term_ph = TS_TERM_SETUP;
static volatile sig_atomic_t ts_tmp_video_set = 0;  // ts_tmp_video names a file to delete
static char ts_tmp_video[PATH_MAX];                 // rank 0's temporary video
static int ts_term_rank;

static void tmp_video_unlink(void * ud) {
    (void)ud;
    if (ts_tmp_video_set) unlink(ts_tmp_video);
}

static void on_term(int sig) {
    (void)sig;
    int saved = errno;
    ts_term_flag = 1;
    if (ts_term_ph == TS_TERM_SETUP) {
        tmp_video_unlink(NULL);
        static const char msg[] =
            "timeshard: error: stopped by SIGTERM before sampling began: no checkpoint written (one given to "
            "--resume is kept as it was)\n"
            "---> HINT: run the same command again (with --resume CHECKPOINT where one exists)\n";
        if (ts_term_rank == 0) {
            ssize_t n = write(2, msg, sizeof msg - 1);
            (void)n;
        }
        _exit(3);
    }
    errno = saved;
}

static void (*ts_term_old)(int) = SIG_DFL;
static int ts_term_installed;

void ts_term_install(int rank) {
    ts_term_clear();
    ts_term_rank = rank;
    if (ts_term_installed) return;
    ts_term_old = signal(SIGTERM, on_term);
    ts_term_installed = 1;
}

void ts_term_restore(void) {
    if (!ts_term_installed) return;
    signal(SIGTERM, ts_term_old);
    ts_term_installed = 0;
}

void ts_term_clear(void) {
    ts_term_ph = TS_TERM_SETUP;
    ts_term_flag = 0;
}
void ts_term_phase(enum ts_term_phase ph) { ts_term_ph = ph; }
int ts_term_requested(void) { return ts_term_flag; }

void ts_term_tmp_video(const char * path) {
    if (!path) {
        ts_parallel_on_abort(NULL, NULL);
        ts_tmp_video_set = 0;
        return;
    }
    ts_tmp_video_set = 0;
    snprintf(ts_tmp_video, sizeof ts_tmp_video, "%s", path);
    ts_tmp_video_set = 1;  // before the file exists: deleting a missing file is harmless
    ts_parallel_on_abort(tmp_video_unlink, NULL);
}
