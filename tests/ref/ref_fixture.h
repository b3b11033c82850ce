// Reading the PyTorch reference fixtures (tests/fixtures/*.h5, written by
// tools/make_fixtures.py and tools/make_ctl_fixtures.py): shared by the ref tests.
#pragma once
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

// A dataset as doubles (malloc; n_out: its element count). A missing dataset ends the test (exit 2).
static inline double * read_ref(hid_t f, const char * name, int64_t * n_out) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) {
        fprintf(stderr, "fixture has no dataset '%s'\n", name);
        exit(2);
    }
    hid_t s = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(s);
    double * buf = malloc((size_t)n * sizeof(double));
    H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    H5Sclose(s);
    H5Dclose(d);
    if (n_out) *n_out = n;
    return buf;
}

static inline float * to_float(const double * a, int64_t n) {
    float * f = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) f[i] = (float)a[i];
    return f;
}
