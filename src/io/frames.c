// Decoded frames in HDF5 (io/frames.h), serial HDF5 on rank 0.
#include "io/frames.h"

#include <errno.h>
#include <hdf5.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>  // strcasecmp
#include <unistd.h>

#include "core/common.h"
#include "io/video.h"  // ts_video_tmp_path

struct ts_frames_writer {
    hid_t file, dset;
    int w, h;
    int64_t n;
    char path[PATH_MAX], tmp[PATH_MAX];
};

int ts_frames_path(const char * path) {
    size_t n = path ? strlen(path) : 0;
    return (n > 3 && strcasecmp(path + n - 3, ".h5") == 0) || (n > 5 && strcasecmp(path + n - 5, ".hdf5") == 0);
}

enum ts_status ts_frames_writer_open(const char * path, int width, int height, double fps, ts_frames_writer ** out) {
    *out = NULL;
    ts_frames_writer * fw = ts_calloc(1, sizeof(*fw));
    fw->w = width, fw->h = height;
    fw->file = fw->dset = -1;
    if (snprintf(fw->path, sizeof fw->path, "%s", path) >= (int)sizeof fw->path ||
        ts_video_tmp_path(path, fw->tmp, sizeof fw->tmp) != 0) {
        free(fw);
        return ts_error(TS_ERR_ARG, NULL, "output path too long: %s", path);
    }
    H5E_BEGIN_TRY { fw->file = H5Fcreate(fw->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT); }
    H5E_END_TRY;
    if (fw->file < 0) {
        // HDF5 does not say why: probe the same path (which also removes what HDF5 left there)
        int e = ts_create_errno(fw->tmp);
        enum ts_status st = ts_error(TS_ERR_IO, "check that the output directory exists, is writable and has room",
                                     "cannot create %s (as %s): %s", path, fw->tmp,
                                     e ? strerror(e) : "HDF5 could not create it");
        free(fw);
        return st;
    }
    hsize_t dims[4] = {0, (hsize_t)height, (hsize_t)width, 3};
    hsize_t maxd[4] = {H5S_UNLIMITED, (hsize_t)height, (hsize_t)width, 3};
    hsize_t chunk[4] = {1, (hsize_t)height, (hsize_t)width, 3};
    hid_t sp = H5Screate_simple(4, dims, maxd);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 4, chunk);
    fw->dset = H5Dcreate2(fw->file, "frames", H5T_STD_U8LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(sp);
    int ok = fw->dset >= 0;
    if (ok) {
        hid_t asp = H5Screate(H5S_SCALAR);
        hid_t a = H5Acreate2(fw->dset, "fps", H5T_IEEE_F64LE, asp, H5P_DEFAULT, H5P_DEFAULT);
        ok = a >= 0 && H5Awrite(a, H5T_NATIVE_DOUBLE, &fps) >= 0;
        if (a >= 0) H5Aclose(a);
        H5Sclose(asp);
    }
    if (!ok) {
        ts_frames_writer_close(&fw, 0);
        return ts_error(TS_ERR_IO, NULL, "cannot create the frames dataset in %s", path);
    }
    *out = fw;
    return TS_OK;
}

enum ts_status ts_frames_writer_add(ts_frames_writer * fw, const uint8_t * rgb) {
    hsize_t dims[4] = {(hsize_t)fw->n + 1, (hsize_t)fw->h, (hsize_t)fw->w, 3};
    hsize_t start[4] = {(hsize_t)fw->n, 0, 0, 0}, count[4] = {1, (hsize_t)fw->h, (hsize_t)fw->w, 3};
    int ok = H5Dset_extent(fw->dset, dims) >= 0;
    hid_t fsp = ok ? H5Dget_space(fw->dset) : -1;
    hid_t msp = H5Screate_simple(4, count, NULL);
    ok = ok && fsp >= 0 && H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
         H5Dwrite(fw->dset, H5T_NATIVE_UINT8, msp, fsp, H5P_DEFAULT, rgb) >= 0;
    if (fsp >= 0) H5Sclose(fsp);
    H5Sclose(msp);
    if (!ok) return ts_error(TS_ERR_IO, "check the free space of the output directory", "cannot write frame %lld to %s",
                             (long long)fw->n, fw->path);
    fw->n++;
    return TS_OK;
}

enum ts_status ts_frames_writer_close(ts_frames_writer ** pfw, int commit) {
    ts_frames_writer * fw = pfw ? *pfw : NULL;
    if (!fw) return TS_OK;
    *pfw = NULL;
    int ok = 1;
    if (fw->dset >= 0) ok = H5Dclose(fw->dset) >= 0 && ok;
    if (fw->file >= 0 && H5Fclose(fw->file) < 0) {
        ts_exit_fast_mark();  // HDF5 keeps a file it could not close, and crashes on it at exit
        ok = 0;
    }
    enum ts_status st = TS_OK;
    if (commit && ok && rename(fw->tmp, fw->path) != 0)
        st = ts_error(TS_ERR_IO, NULL, "cannot rename %s to %s: %s", fw->tmp, fw->path, strerror(errno));
    else if (commit && !ok)
        st = ts_error(TS_ERR_IO, NULL, "cannot finish %s", fw->path);
    if (!commit || st != TS_OK) unlink(fw->tmp);
    free(fw);
    return st;
}
