// Small helpers for the unit tests: verdict lines, relative error, a private
// random source (independent of the code under test), failure counting.
#pragma once
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tu_failures = 0;

// One verdict line: "  name   OK   max_rel=3.1e-07"
static inline void tu_verdict(const char * name, int ok, const char * detail) {
    printf("  %-44s %s   %s\n", name, ok ? "OK  " : "FAIL", detail ? detail : "");
    fflush(stdout);
    if (!ok) tu_failures++;
}

// max |a - b| / max |b| over n values (b is the reference); NaN anywhere -> INFINITY.
static inline double tu_rel_err(const float * a, const double * b, int64_t n) {
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (isnan(d)) return INFINITY;
        if (d > num) num = d;
        if (fabs(b[i]) > den) den = fabs(b[i]);
    }
    return den > 0.0 ? num / den : num;
}

// Check a against the double reference b with tolerance tol and print the verdict.
static inline void tu_check_rel(const char * name, const float * a, const double * b, int64_t n, double tol) {
    char buf[64];
    double r = tu_rel_err(a, b, n);
    snprintf(buf, sizeof buf, "max_rel=%.1e", r);
    tu_verdict(name, r <= tol, buf);
}

// Bit-identical comparison of two float arrays, with the first differing index.
static inline void tu_check_bits(const char * name, const float * a, const float * b, int64_t n) {
    char buf[96];
    int64_t bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0) bad = i;
    if (bad < 0)
        snprintf(buf, sizeof buf, "bit-identical (%lld values)", (long long)n);
    else
        snprintf(buf, sizeof buf, "first difference at %lld: %.9g vs %.9g", (long long)bad, a[bad], b[bad]);
    tu_verdict(name, bad < 0, buf);
}

// xorshift64* uniform in [-1, 1): the tests' own random inputs.
static uint64_t tu_rng_state = 0x9E3779B97F4A7C15ull;
static inline float tu_uniform(void) {
    tu_rng_state ^= tu_rng_state >> 12;
    tu_rng_state ^= tu_rng_state << 25;
    tu_rng_state ^= tu_rng_state >> 27;
    uint64_t r = tu_rng_state * 0x2545F4914F6CDD1Dull;
    return (float)((double)(r >> 11) * 0x1p-53 * 2.0 - 1.0);
}
static inline void tu_fill(float * x, int64_t n, float amp) {
    for (int64_t i = 0; i < n; i++) x[i] = amp * tu_uniform();
}
static inline float * tu_alloc(int64_t n) {
    float * p = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    if (!p) abort();
    return p;
}
static inline double * tu_alloc_d(int64_t n) {
    double * p = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    if (!p) abort();
    return p;
}

static inline int tu_finish(const char * suite) {
    if (tu_failures)
        printf("%s: %d check(s) FAILED\n", suite, tu_failures);
    else
        printf("%s: all checks passed\n", suite);
    return tu_failures ? 1 : 0;
}
