// Shared by the fuzz targets: the input as a file in memory (a memfd named by
// /proc/self/fd/N, for the readers that take a path), and quiet logging.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/common.h"  // ts_log_set_level

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size);
int LLVMFuzzerInitialize(int * argc, char *** argv);

// Writes data to a new memfd; path gets "/proc/self/fd/N". Returns the fd (close it after).
static inline int fuzz_memfd(const uint8_t * data, size_t size, char * path, size_t n) {
    int fd = memfd_create("fuzz", MFD_CLOEXEC);
    if (fd < 0) abort();  // the environment, not the input
    size_t off = 0;
    while (off < size) {
        ssize_t k = write(fd, data + off, size - off);
        if (k <= 0) abort();
        off += (size_t)k;
    }
    snprintf(path, n, "/proc/self/fd/%d", fd);
    return fd;
}

// The input as a NUL-terminated string (embedded NULs kept: the parser sees the prefix).
static inline char * fuzz_cstr(const uint8_t * data, size_t size) {
    char * s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = 0;
    return s;
}

// Called at the start of every input: warnings off, the previous input's error cleared.
static inline void fuzz_quiet(void) {
    ts_log_set_level(TS_LOG_ERROR);
    ts_error_clear();
}

// FUZZ_VERBOSE=1: prints why an input was refused (to check that seeds are accepted).
static inline void fuzz_why(const char * what, enum ts_status st) {
    if (st != TS_OK && getenv("FUZZ_VERBOSE")) fprintf(stderr, "%s: %s\n", what, ts_last_error());
}
