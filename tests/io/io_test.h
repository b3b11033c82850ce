// Tiny check helpers shared by the tests of src/io: one verdict line per check,
// a failure count for the exit status.
#pragma once
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/common.h"

static int io_test_failures;

#define CHECK(cond, ...) \
    do { \
        if (cond) { \
            printf("  ok    "); \
        } else { \
            printf("  FAIL  %s:%d: ", __FILE__, __LINE__); \
            io_test_failures++; \
        } \
        printf(__VA_ARGS__); \
        printf("\n"); \
    } while (0)

// Checks a call returned `want` and, when `needle` is non-NULL, that the
// recorded message contains it; clears the error record before and after.
#define CHECK_ERR(call, want, needle, ...) \
    do { \
        ts_error_clear(); \
        enum ts_status st_ = (call); \
        const char * nd_ = (needle); \
        int ok_ = st_ == (want) && (!nd_ || strstr(ts_last_error(), nd_) != NULL); \
        char what_[256]; \
        snprintf(what_, sizeof what_, __VA_ARGS__); \
        CHECK(ok_, "%-40s -> %s%s%s", what_, ts_status_name(st_), st_ ? ": " : "", ts_last_error()); \
        ts_error_clear(); \
    } while (0)

#define CHECK_OK(call, ...) CHECK_ERR(call, TS_OK, NULL, __VA_ARGS__)

static inline int io_file_exists(const char * path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static inline int io_write_file(const char * path, const void * data, size_t n) {
    FILE * f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

static inline int io_test_summary(const char * name) {
    if (io_test_failures) printf("%s: %d check(s) FAILED\n", name, io_test_failures);
    else printf("%s: all checks passed\n", name);
    return io_test_failures ? 1 : 0;
}
