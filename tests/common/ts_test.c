// The test harness (ts_test.h): verdict lines, failure counts, comparisons.
#include "ts_test.h"

#include <stdarg.h>
#include <sys/stat.h>

#include "backend/backend.h"

struct ts_test_state ts_test = {0, 0, -1, 1};

#define TS_TEST_PRINT_MAX 20  // failed CHECKs printed per group (all are counted)

int ts_verdict(const char * name, int ok, const char * detail) {
    printf("  %-48s %-6s   %s\n", name, ok ? "OK" : "FAILED", detail ? detail : "");
    fflush(stdout);
    if (!ok) ts_test.failures++;
    return ok;
}

int ts_verdict_at(const char * file, int line, int ok, const char * cond, const char * fmt, ...) {
    char name[512], detail[640] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (!ok) snprintf(detail, sizeof detail, "%s:%d: %s", file, line, cond);
    return ts_verdict(name, ok, detail);
}

static void where(FILE * f) {
    if (ts_test.rank >= 0) fprintf(f, " [rank %d]", ts_test.rank);
}

int ts_check_at(const char * file, int line, int ok, const char * cond, const char * fmt, ...) {
    if (ok) return 1;
    if (ts_test.pending++ < TS_TEST_PRINT_MAX) {
        fflush(stdout);
        fprintf(stderr, "FAILED");
        where(stderr);
        fprintf(stderr, " %s:%d: %s: ", file, line, cond);
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\n");
        fflush(stderr);
    }
    return 0;
}

int ts_group(const char * name) {
    int n = ts_test.pending;
    char detail[32] = "";
    if (n) snprintf(detail, sizeof detail, "(%d)", n);
    ts_test.pending = 0;
    ts_verdict(name, n == 0, detail);
    return n;
}

void ts_test_call_failed(const char * file, int line, const char * call, enum ts_status st) {
    fflush(stdout);
    fprintf(stderr, "FAILED");
    where(stderr);
    fprintf(stderr, " %s:%d: %s -> %s: %s\n", file, line, call, ts_status_name(st), ts_last_error());
    fflush(stderr);
    ts_test.failures++;
}

int ts_test_finish(const char * suite) {
    int n = ts_test.failures + ts_test.pending;  // a group left open still counts
    if (n)
        printf("%s: %d check(s) FAILED\n", suite, n);
    else
        printf("%s: all checks passed\n", suite);
    fflush(stdout);
    return n ? 1 : 0;
}

// ---- comparisons -----------------------------------------------------------------------------
double ts_rel_err(const float * a, const double * b, int64_t n) {
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (isnan(d)) return INFINITY;
        if (d > num) num = d;
        if (fabs(b[i]) > den) den = fabs(b[i]);
    }
    return den > 0.0 ? num / den : num;
}

double ts_rel_err_f(const float * a, const float * b, int64_t n) {
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(d)) return INFINITY;
        if (d > num) num = d;
        if (fabs((double)b[i]) > den) den = fabs((double)b[i]);
    }
    return den > 0.0 ? num / den : num;
}

static int rel_verdict(const char * name, double r, double tol) {
    char buf[64];
    snprintf(buf, sizeof buf, "max_rel=%.1e (tol %.0e)", r, tol);
    return ts_verdict(name, r <= tol, buf);
}

int ts_check_rel(const char * name, const float * a, const double * b, int64_t n, double tol) {
    return rel_verdict(name, ts_rel_err(a, b, n), tol);
}

int ts_check_rel_f(const char * name, const float * a, const float * b, int64_t n, double tol) {
    return rel_verdict(name, ts_rel_err_f(a, b, n), tol);
}

int64_t ts_first_diff(const float * a, const float * b, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0) return i;
    return -1;
}

int ts_check_bits(const char * name, const float * a, const float * b, int64_t n) {
    char buf[96];
    int64_t bad = ts_first_diff(a, b, n);
    if (bad < 0)
        snprintf(buf, sizeof buf, "bit-identical (%lld values)", (long long)n);
    else
        snprintf(buf, sizeof buf, "first difference at %lld: %.9g vs %.9g", (long long)bad, a[bad], b[bad]);
    return ts_verdict(name, bad < 0, buf);
}

// ---- inputs ----------------------------------------------------------------------------------
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

void ts_test_seed(uint64_t seed) { rng_state = seed ? seed : 0x9E3779B97F4A7C15ull; }

float ts_test_uniform(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    uint64_t r = rng_state * 0x2545F4914F6CDD1Dull;
    return (float)((double)(r >> 11) * 0x1p-53 * 2.0 - 1.0);
}

void ts_test_fill(float * x, int64_t n, float amp) {
    for (int64_t i = 0; i < n; i++) x[i] = amp * ts_test_uniform();
}

float * ts_test_alloc(int64_t n) {
    float * p = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    if (!p) abort();
    return p;
}

double * ts_test_alloc_d(int64_t n) {
    double * p = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    if (!p) abort();
    return p;
}

double * ts_test_to_double(const float * x, int64_t n) {
    double * d = ts_test_alloc_d(n);
    for (int64_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

// ---- files -----------------------------------------------------------------------------------
int ts_test_file_exists(const char * path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

int ts_test_write_file(const char * path, const void * data, size_t n) {
    FILE * f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

// ---- two backends ----------------------------------------------------------------------------
static ts_backend_t pair_cpu, pair_other;

void ts_test_backends(struct ts_backend * cpu, struct ts_backend * other) { pair_cpu = cpu, pair_other = other; }

ts_test_pair ts_pair_new(int64_t n, float amp) {
    TS_ASSERT(pair_cpu && pair_other);
    ts_test_pair p = {NULL, NULL, n};
    size_t bytes = (size_t)(n > 0 ? n : 1) * sizeof(float);
    float * h = ts_test_alloc(n);
    if (amp != 0.0f) ts_test_fill(h, n, amp);
    p.c = pair_cpu->ops->alloc(pair_cpu, bytes);
    p.g = pair_other->ops->alloc(pair_other, bytes);
    pair_cpu->ops->upload(pair_cpu, p.c, h, bytes);
    pair_other->ops->upload(pair_other, p.g, h, bytes);
    free(h);
    return p;
}

void ts_pair_set(ts_test_pair p, const float * host) {
    pair_cpu->ops->upload(pair_cpu, p.c, host, (size_t)p.n * sizeof(float));
    pair_other->ops->upload(pair_other, p.g, host, (size_t)p.n * sizeof(float));
}

void ts_pair_free(ts_test_pair * p) {
    pair_cpu->ops->release(pair_cpu, p->c);
    pair_other->ops->release(pair_other, p->g);
    p->c = p->g = NULL;
}

double ts_pair_rel(ts_test_pair p, int64_t n) {
    if (n <= 0) n = p.n;
    float *hc = ts_test_alloc(n), *hg = ts_test_alloc(n);
    pair_cpu->ops->download(pair_cpu, hc, p.c, (size_t)n * sizeof(float));
    pair_other->ops->download(pair_other, hg, p.g, (size_t)n * sizeof(float));
    double r = ts_rel_err_f(hg, hc, n);
    free(hc), free(hg);
    return r;
}

int ts_check_pair(const char * name, ts_test_pair p, double tol) { return rel_verdict(name, ts_pair_rel(p, 0), tol); }
