// The test harness of every C test (after nccl-tests' common.h): checks, one
// verdict line per check, relative error as docs/ARCHITECTURE.md defines it, the tests'
// own random inputs. No MPI here: multi-rank tests add ts_test_mpi.h, which
// reduces verdicts over the ranks.
//
// Two ways to check:
//   one verdict line per check      ts_verdict(name, ok, detail), VERDICT(cond, "name %d", ...),
//                                   ts_check_rel / ts_check_rel_f / ts_check_bits, CHECK_ERR / CHECK_OK
//   a group of checks, one line     CHECK(cond, "why %d", ...) silently counts a failure (printing
//                                   where and why); ts_group(name) or ts_mpi_group(comm, name) closes
//                                   the group with one verdict line
// A verdict line:
//   "  dit.forward t2v                                  OK       max_rel=3.1e-06"
//   "  dit.forward t2v                                  FAILED   max_rel=2.0e-02"
// and at the end ts_test_finish(suite) prints "suite: all checks passed" or
// "suite: N check(s) FAILED" and returns the exit status.
// TESTCHECK(call) runs a call returning enum ts_status and, when it fails,
// counts a failure, prints it with ts_last_error() and returns the status
// from the calling function.
#pragma once
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"  // enum ts_status, ts_last_error, ts_error_clear

#define TS_TEST_SKIP 77  // ctest SKIP_RETURN_CODE: the test does not apply here

// The state of one test program (one per process).
struct ts_test_state {
    int failures;  // failed checks so far (verdict lines marked FAILED, failed TESTCHECKs)
    int pending;   // failed CHECKs since the last group verdict
    int rank;      // this process's rank in ts_test_mpi.h tests (-1: not a multi-rank test)
    int world;
};
extern struct ts_test_state ts_test;

// ---- verdicts ------------------------------------------------------------------------------
// One verdict line; returns ok. detail may be NULL.
int ts_verdict(const char * name, int ok, const char * detail);
// The same with a printf-style name; on failure the detail is file:line and the condition.
int ts_verdict_at(const char * file, int line, int ok, const char * cond, const char * fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define VERDICT(cond, ...) ts_verdict_at(__FILE__, __LINE__, (cond) ? 1 : 0, #cond, __VA_ARGS__)

// A check inside a group: silent when it holds; otherwise prints file:line, the
// condition and the printf-style reason (the first 20 failures of a group), and
// counts it for the group's verdict. Returns cond.
int ts_check_at(const char * file, int line, int ok, const char * cond, const char * fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define CHECK(cond, ...) ts_check_at(__FILE__, __LINE__, (cond) ? 1 : 0, #cond, __VA_ARGS__)
// Closes a group of CHECKs in this process: one verdict line, "FAILED (n)" with
// n failed CHECKs. Returns n.
int ts_group(const char * name);

// Checks that `call` (an enum ts_status expression) returns `want` and, when
// `needle` is non-NULL, that the error message contains it; the error record is
// cleared before and after. One verdict line, named by the printf-style rest.
#define CHECK_ERR(call, want, needle, ...)                                                             \
    do {                                                                                               \
        ts_error_clear();                                                                              \
        enum ts_status st_ = (call);                                                                   \
        const char * nd_ = (needle);                                                                   \
        int ok_ = st_ == (want) && (!nd_ || strstr(ts_last_error(), nd_) != NULL);                     \
        char what_[256];                                                                               \
        snprintf(what_, sizeof what_, __VA_ARGS__);                                                    \
        VERDICT(ok_, "%-40s -> %s%s%s", what_, ts_status_name(st_), st_ ? ": " : "", ts_last_error()); \
        ts_error_clear();                                                                              \
    } while (0)
#define CHECK_OK(call, ...) CHECK_ERR(call, TS_OK, NULL, __VA_ARGS__)

// Runs a call returning enum ts_status; on failure counts it, prints where, the
// call and ts_last_error(), and returns the status from the enclosing function.
#define TESTCHECK(call)                                             \
    do {                                                            \
        enum ts_status tc_st_ = (call);                             \
        if (tc_st_ != TS_OK) {                                      \
            ts_test_call_failed(__FILE__, __LINE__, #call, tc_st_); \
            return tc_st_;                                          \
        }                                                           \
    } while (0)
void ts_test_call_failed(const char * file, int line, const char * call, enum ts_status st);

// "suite: all checks passed" / "suite: N check(s) FAILED"; the exit status (0 or 1).
int ts_test_finish(const char * suite);

// ---- comparisons (docs/ARCHITECTURE.md: max |a - b| / max |b| over the tensor; b is the reference) -------
// NaN anywhere in a or b: INFINITY.
double ts_rel_err(const float * a, const double * b, int64_t n);
double ts_rel_err_f(const float * a, const float * b, int64_t n);
// Verdict "max_rel=3.1e-06 (tol 1e-04)"; returns ok.
int ts_check_rel(const char * name, const float * a, const double * b, int64_t n, double tol);
int ts_check_rel_f(const char * name, const float * a, const float * b, int64_t n, double tol);
// Bit-identical float arrays; the verdict names the first difference. Returns ok.
int ts_check_bits(const char * name, const float * a, const float * b, int64_t n);
// Index of the first differing float (bitwise), -1 when identical.
int64_t ts_first_diff(const float * a, const float * b, int64_t n);

// ---- the tests' own inputs -----------------------------------------------------------------
// xorshift64* uniform in [-1, 1), independent of the code under test.
float ts_test_uniform(void);
void ts_test_seed(uint64_t seed);
void ts_test_fill(float * x, int64_t n, float amp);  // uniform in [-amp, amp)
float * ts_test_alloc(int64_t n);                    // zeroed; aborts when out of memory
double * ts_test_alloc_d(int64_t n);
double * ts_test_to_double(const float * x, int64_t n);  // a copy as the reference type

// ---- files ---------------------------------------------------------------------------------
int ts_test_file_exists(const char * path);
int ts_test_write_file(const char * path, const void * data, size_t n);  // 0 or -1

// ---- one tensor on two backends (every op on each backend, compared with the CPU one) --------
// The CPU backend is the reference; the other is the one under test (CUDA).
#define TS_TOL_BACKEND 1e-3  // fp32 on another backend vs the CPU (docs/ARCHITECTURE.md: relative error)
struct ts_backend;           // backend/backend.h
typedef struct ts_test_pair {
    float * c;  // on the CPU backend (the reference)
    float * g;  // on the backend under test
    int64_t n;
} ts_test_pair;
// The two backends the pairs below live on.
void ts_test_backends(struct ts_backend * cpu, struct ts_backend * other);
// n values uniform in [-amp, amp) (amp 0: zeros), the same on both.
ts_test_pair ts_pair_new(int64_t n, float amp);
void ts_pair_set(ts_test_pair p, const float * host);  // the same host values into both
void ts_pair_free(ts_test_pair * p);
// max |other - cpu| / max |cpu| over the first n values (n <= 0: all).
double ts_pair_rel(ts_test_pair p, int64_t n);
// Verdict: the backend under test within tol of the CPU. Returns ok.
int ts_check_pair(const char * name, ts_test_pair p, double tol);
