// Common definitions: status codes, the two tiers of errors, logging.
// Tier 1 (bugs, broken environment): TS_ASSERT / ts_abort print file:line and abort.
// Tier 2 (anything a user can cause): functions return enum ts_status after
// recording one message and a hint with ts_error(); the CLI prints them.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "timeshard/timeshard.h"  // enum ts_status

#if defined(__GNUC__)
#define TS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define TS_NORETURN __attribute__((noreturn))
#else
#define TS_PRINTF(a, b)
#define TS_NORETURN
#endif

// ---- tier 1: bugs and broken environments ---------------------------------
TS_NORETURN void ts_abort(const char * file, int line, const char * fmt, ...) TS_PRINTF(3, 4);
#define TS_ASSERT(x) \
    do { \
        if (!(x)) ts_abort(__FILE__, __LINE__, "assert(%s)", #x); \
    } while (0)

// malloc/calloc that abort on failure (out of memory is not a user error)
void * ts_malloc(size_t bytes);
void * ts_calloc(size_t n, size_t size);
#define TS_FREE(p) \
    do { \
        free(p); \
        (p) = NULL; \
    } while (0)

// ---- tier 2: user-caused errors --------------------------------------------
// Records the message (and an optional hint, may be NULL) and returns `st`.
// The first error recorded wins until ts_error_clear(): the root cause is kept.
enum ts_status ts_error(enum ts_status st, const char * hint, const char * fmt, ...) TS_PRINTF(3, 4);
void ts_error_clear(void);
// Propagate: if expr is not TS_OK, return it.
#define TS_TRY(expr) \
    do { \
        enum ts_status ts_try_st_ = (expr); \
        if (ts_try_st_ != TS_OK) return ts_try_st_; \
    } while (0)

// ---- logging ----------------------------------------------------------------
// (enum ts_log_level is public: timeshard.h)
// Only messages at or below the level are printed (default TS_LOG_INFO).
void ts_log_set_level(enum ts_log_level level);
enum ts_log_level ts_log_get_level(void);
// Rank used for prefixes and for "only rank 0 prints info" (default 0).
void ts_log_set_rank(int rank, int world);
// INFO and DEBUG print only on rank 0; WARN and ERROR print on every rank, with
// "[rank R host]" when world > 1. Output goes to the log callback
// (ts_set_log_callback), else to stderr, one line per write.
void ts_log(enum ts_log_level level, const char * fmt, ...) TS_PRINTF(2, 3);
#define TS_INFO(...) ts_log(TS_LOG_INFO, __VA_ARGS__)
#define TS_WARN(...) ts_log(TS_LOG_WARN, __VA_ARGS__)
#define TS_DEBUG(...) ts_log(TS_LOG_DEBUG, __VA_ARGS__)

// ---- bounded input ----------------------------------------------------------
#define TS_TEXT_MAX_BYTES (16 << 20)  // presets and storyboards are read up to this size
// Opens a regular text file (not a device, not a directory, not over
// TS_TEXT_MAX_BYTES); errors say `what` ("storyboard") and the path.
enum ts_status ts_text_open(const char * path, const char * what, const char * hint, FILE ** out);
// One line into buf (cap bytes; newline and trailing CR stripped, *len its
// length). Returns 1, 0 at the end of the file, -1 when the line does not fit
// (the rest of it is skipped), -2 when it holds a NUL byte.
int ts_text_line(FILE * f, char * buf, size_t cap, size_t * len);
// 1 when a and b name the same file: the same inode where both exist, else the
// same directory and the same last component (outputs compared with inputs).
int ts_same_file(const char * a, const char * b);
// How writing `out` (first as out.tmp, then renamed) would touch the input `in`, a
// file or a directory: 0 not at all; 1 it is `in` (the same file, links followed);
// 2 it is a file under the directory `in` (a hard link, or one the directory links
// to; its path into what, cap bytes); 3 it would be written inside the directory `in`.
int ts_output_touches(const char * out, const char * in, char * what, size_t cap);
// TS_OK, or one error naming out_flag ("--latents") and what it would replace of the
// input named by in_flag ("--model"): the file, or the directory's file it is.
enum ts_status ts_output_check(const char * out, const char * out_flag, const char * in, const char * in_flag);
// TS_OK when the output `path` (given as `flag`) can be made: not a directory, and
// its directory exists and this process may create files there; else one error.
enum ts_status ts_output_dir_check(const char * path, const char * flag);
// 1 when path names a directory (following links).
int ts_is_dir(const char * path);
// The rank a launcher (mpirun, srun, any PMI/PMIx one) gave this process, read from its
// environment before MPI starts; -1 when no launcher started it.
int ts_launcher_rank(void);
// Why a file cannot be made at `path` (HDF5 and MPI-IO do not say): creates it, writes a
// page, removes it; the errno that stopped it (ENOSPC, EACCES, ...), 0 when nothing did.
int ts_create_errno(const char * path);
// Bytes free for a new file at `path` (on its directory's file system); -1 unknown.
int64_t ts_disk_free(const char * path);
// A library left in a state its own teardown crashes on (HDF5 after a file it could
// not close: a full disk): the command then ends with _exit, past the atexit handlers
// (HDF5's and MPI_Finalize). ts_exit_fast_pending says whether one was marked.
void ts_exit_fast_mark(void);
int ts_exit_fast_pending(void);
// Memory this process could still get (MemAvailable), bytes; -1 unknown.
int64_t ts_mem_available(void);
// TS_OK when `bytes` per rank fit in the available memory shared by `sharers`
// ranks of this node; else an error naming what needs it, and how much of each.
enum ts_status ts_mem_check(int64_t bytes, int sharers, const char * what, const char * hint);

// wall clock, seconds (monotonic)
double ts_time(void);
// peak resident set size of this process, bytes (VmHWM, else getrusage)
int64_t ts_peak_rss(void);
// Starts a new peak at the current resident size (Linux: /proc/self/clear_refs);
// returns 0 when the system cannot, and the peak then stays the process's.
int ts_peak_rss_reset(void);
