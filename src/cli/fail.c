// The command line's error record and printer, and its progress printer.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/common.h"  // ts_launcher_rank

static char cli_msg[1024];
static char cli_hint[512];
static int cli_set;

enum ts_status cli_error(enum ts_status st, const char * hint, const char * fmt, ...) {
    if (cli_set) return st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cli_msg, sizeof cli_msg, fmt, ap);
    va_end(ap);
    snprintf(cli_hint, sizeof cli_hint, "%s", hint ? hint : "see 'timeshard COMMAND --help'");
    cli_set = 1;
    return st;
}

void cli_error_clear(void) {
    cli_msg[0] = cli_hint[0] = '\0';
    cli_set = 0;
}

const char * cli_last_error(void) { return cli_msg; }

int cli_fail(void) {
    if (!cli_set) return ts_print_last_error();
    fprintf(stderr, "timeshard: error: %s\n", cli_msg);
    if (cli_hint[0]) fprintf(stderr, "---> HINT: %s\n", cli_hint);
    fflush(stderr);
    return 1;
}

void cli_progress_init(struct cli_progress * p) {
    p->tty = isatty(2);
    p->last = -1e9;
}

void cli_progress_print(const struct ts_progress * p, void * ud) {
    struct cli_progress * pr = ud;
    if (p->phase[0] != 's') return;  // sampling only: the video phase is short and ends in its summary line
    double rate = p->elapsed > 0 ? p->done / p->elapsed : 0;
    double eta = (p->total - p->done) / (rate > 0 ? rate : 1e-9);
    if (pr->tty) {
        fprintf(stderr, "\r  step %lld/%lld  %.2f it/s  ETA %.0fs   ", (long long)p->done, (long long)p->total, rate, eta);
        if (p->done == p->total) fprintf(stderr, "\n");
        fflush(stderr);
    } else if (p->done == p->total || p->elapsed - pr->last >= 10.0 || p->done == 1) {
        fprintf(stderr, "timeshard: step %lld/%lld  %.2f it/s  ETA %.0fs\n", (long long)p->done, (long long)p->total,
                rate, eta);
        pr->last = p->elapsed;
    }
}

int cli_launcher_rank(void) {
    int r = ts_launcher_rank();
    return r < 0 ? 0 : r;
}
