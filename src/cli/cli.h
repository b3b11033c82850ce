// The command line's own helpers: its error record (parse errors of flags and
// presets, printed like the library's), and the progress printer. The command
// uses nothing of the library but its public header.
#pragma once
#include <stdarg.h>

#include "timeshard/timeshard.h"

// Records a command-line error (the first wins until cli_error_clear) and
// returns st.
enum ts_status cli_error(enum ts_status st, const char * hint, const char * fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cli_error_clear(void);
const char * cli_last_error(void);
#define CLI_TRY(expr) \
    do { \
        enum ts_status cli_try_st_ = (expr); \
        if (cli_try_st_ != TS_OK) return cli_try_st_; \
    } while (0)

// Prints the command line's error if one is recorded, else the library's:
// "timeshard: error: ..." and "---> HINT: ...". Returns 1.
int cli_fail(void);

// This process's rank as the launcher (mpirun, srun) set it, before MPI starts
// (0 when not launched by one): errors every rank sees alike print once.
int cli_launcher_rank(void);

// Progress lines on stderr: one rewritten line on a terminal, plain lines every
// 10 s (and the first and last) when stderr is a file (Slurm logs).
struct cli_progress {
    int tty;
    double last;  // elapsed seconds at the last plain line
};
void cli_progress_init(struct cli_progress * p);
void cli_progress_print(const struct ts_progress * p, void * ud);
