// Latents and checkpoints in HDF5 (/latents float32 (T, h, w, c), one chunk
// per frame, docs/ARCHITECTURE.md attributes). With parallel HDF5 every rank writes its
// hyperslab collectively (MPI-IO); otherwise rank 0 receives the frames one
// at a time and writes serially. Files appear under their names only when
// every rank succeeded (temporary name, then rename(2) by rank 0).
#include "io/latents.h"

#include <errno.h>
#include <hdf5.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"

// TS_FORCE_SERIAL_HDF5 lets a test build the serial path against a parallel HDF5.
#if defined(TS_PARALLEL_HDF5) && !defined(TS_FORCE_SERIAL_HDF5)
#define TS_LAT_PARALLEL 1
#else
#define TS_LAT_PARALLEL 0
#endif

#define TS_LAT_TAG 7311

static const char * const lat_hint_dir = "check that the output directory exists and is writable";

// Every rank learns whether any rank failed. Ranks that did not fail record
// the first failing rank's status, message and hint, so all ranks return the
// same status with the same message.
static enum ts_status agree(MPI_Comm comm, enum ts_status st) {
    int rank, mine, first;
    MPI_Comm_rank(comm, &rank);
    mine = st != TS_OK ? rank : INT_MAX;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
    if (first == INT_MAX) return TS_OK;
    struct {
        int st;
        char msg[1536];
        char hint[512];
    } m;
    memset(&m, 0, sizeof m);
    if (rank == first) {
        m.st = (int)st;
        snprintf(m.msg, sizeof m.msg, "%s", ts_last_error());
        snprintf(m.hint, sizeof m.hint, "%s", ts_last_hint());
    }
    MPI_Bcast(&m, (int)sizeof m, MPI_BYTE, first, comm);
    if (st != TS_OK) return st;
    return ts_error((enum ts_status)m.st, m.hint[0] ? m.hint : NULL, "%s", m.msg);
}

static void write_attr_str(hid_t obj, const char * name, const char * value) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
        H5Awrite(a, t, &value);
        H5Aclose(a);
    }
    H5Sclose(sp);
    H5Tclose(t);
}

static int write_attr_num(hid_t obj, const char * name, hid_t file_type, hid_t mem_type, const void * v) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, mem_type, v) >= 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return ok;
}

static int write_attrs(hid_t d, const struct ts_latents_meta * m) {
    write_attr_str(d, "prompt", m->prompt);
    write_attr_str(d, "model_digest", m->model_digest);
    write_attr_str(d, "timeshard_version", m->version);
    const int from_file = !strcmp(m->noise, "file");
    int ok = from_file || write_attr_num(d, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, &m->seed);
    if (m->noise[0]) {
        write_attr_str(d, "noise", m->noise);
        ok &= H5Aexists(d, "noise") > 0;
    }
    if (from_file) {
        write_attr_str(d, "noise_sha256", m->noise_sha256);
        write_attr_str(d, "noise_file", m->noise_file);
        ok &= H5Aexists(d, "noise_sha256") > 0 && H5Aexists(d, "noise_file") > 0;
    }
    ok &= write_attr_num(d, "steps", H5T_STD_I64LE, H5T_NATIVE_INT64, &m->steps);
    ok &= write_attr_num(d, "cfg", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &m->cfg);
    ok &= write_attr_num(d, "fps", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &m->fps);
    if (m->step >= 0) ok &= write_attr_num(d, "step", H5T_STD_I64LE, H5T_NATIVE_INT64, &m->step);
    if (m->sampler[0]) {
        write_attr_str(d, "sampler", m->sampler);
        write_attr_str(d, "sampler_config", m->sampler_config);
        ok &= write_attr_num(d, "shift", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &m->shift);
        ok &= H5Aexists(d, "sampler") > 0 && H5Aexists(d, "sampler_config") > 0;
    }
    ok &= H5Aexists(d, "prompt") > 0 && H5Aexists(d, "model_digest") > 0 && H5Aexists(d, "timeshard_version") > 0;
    return ok;
}

// 1 when attribute a holds exactly one value: H5Aread writes every element of its
// dataspace, and the readers below give it room for one.
static int attr_is_single(hid_t a) {
    hid_t sp = H5Aget_space(a);
    if (sp < 0) return 0;
    hssize_t npts = H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    return npts == 1;
}

// ---- attributes read with their types checked ---------------------------------------
// Every attribute timeshard reads back from a latents file or a checkpoint goes through
// attr_read: a missing one is no error (older files lack newer attributes; the caller
// keeps its default), one of the wrong type (a string where a number belongs, a number
// where a string belongs, a fraction for a count, several values for one) is one
// TS_ERR_FORMAT line naming the attribute, where it is and the file.

enum attr_kind {
    ATTR_STR,    // a string: char[n]
    ATTR_COUNT,  // an integer >= 0: int64_t
    ATTR_U64,    // an unsigned 64-bit integer: uint64_t (seeds)
    ATTR_NUM,    // a finite number: double
};

static const char * const attr_kind_name[] = {"a string", "an integer >= 0", "an unsigned integer", "a finite number"};

// How the file stores attribute a, for the error: "a string", "3 values", ...
static void attr_describe(hid_t a, char * buf, size_t n) {
    hid_t sp = H5Aget_space(a);
    hssize_t npts = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    if (sp >= 0) H5Sclose(sp);
    if (npts != 1) {
        snprintf(buf, n, "an array of %lld values", (long long)npts);
        return;
    }
    hid_t t = H5Aget_type(a);
    H5T_class_t c = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    if (t >= 0) H5Tclose(t);
    snprintf(buf, n, "%s",
             c == H5T_STRING    ? "a string"
             : c == H5T_INTEGER ? "an integer"
             : c == H5T_FLOAT   ? "a floating-point number"
             : c == H5T_ENUM    ? "an enum (h5py's bool?)"
                                : "another type (compound, array or opaque)");
}

static enum ts_status attr_error(const char * path, const char * where, const char * name, enum attr_kind kind,
                                 const char * found) {
    return ts_error(TS_ERR_FORMAT,
                    "the file was changed by another tool or is not timeshard's; docs/ARCHITECTURE.md (Files) lists "
                    "each attribute's type",
                    "file '%s': attribute '%s' of %s is %s; expected %s", path, name, where, found,
                    attr_kind_name[kind]);
}

// A single string attribute (variable or fixed length, any character set) into buf.
static int attr_read_str(hid_t a, hid_t t, char * buf, size_t n) {
    int ok = 0;
    if (H5Tis_variable_str(t) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(t));
        char * s = NULL;
        ok = H5Aread(a, mt, &s) >= 0;
        if (ok) snprintf(buf, n, "%s", s ? s : "");
        if (s) H5free_memory(s);
        H5Tclose(mt);
    } else {
        size_t sz = H5Tget_size(t);
        char * s = ts_calloc(sz + 1, 1);
        hid_t mt = H5Tcopy(t);
        ok = H5Aread(a, mt, s) >= 0;
        if (ok) snprintf(buf, n, "%s", s);
        H5Tclose(mt);
        free(s);
    }
    return ok;
}

// Attribute `name` of obj (called `where` in errors, e.g. "/latents") of file `path` into
// out as kind says (n: the buffer's size for ATTR_STR). *present (may be NULL): whether
// the file has it; a missing one leaves out as it was.
static enum ts_status attr_read(hid_t obj, const char * path, const char * where, const char * name,
                                enum attr_kind kind, void * out, size_t n, int * present) {
    if (present) *present = 0;
    if (H5Aexists(obj, name) <= 0) return TS_OK;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0)
        return ts_error(TS_ERR_FORMAT, "the file may be damaged", "file '%s': cannot read attribute '%s' of %s", path,
                        name, where);
    hid_t t = H5Aget_type(a);
    H5T_class_t c = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    char found[64] = "";
    int ok = attr_is_single(a);
    if (ok && kind == ATTR_STR) {
        ok = c == H5T_STRING && attr_read_str(a, t, out, n);
    } else if (ok && c == H5T_INTEGER) {
        // read in its own signedness, so no value is clamped by the conversion
        int is_signed = H5Tget_sign(t) != H5T_SGN_NONE;
        int64_t i = 0;
        uint64_t u = 0;
        ok = H5Aread(a, is_signed ? H5T_NATIVE_INT64 : H5T_NATIVE_UINT64, is_signed ? (void *)&i : (void *)&u) >= 0;
        if (ok && is_signed && i < 0 && kind != ATTR_NUM) {
            ok = 0;
            snprintf(found, sizeof found, "%lld", (long long)i);
        } else if (ok && !is_signed && u > (uint64_t)INT64_MAX && kind == ATTR_COUNT) {
            ok = 0;
            snprintf(found, sizeof found, "%llu", (unsigned long long)u);
        } else if (ok) {
            if (kind == ATTR_COUNT)
                *(int64_t *)out = is_signed ? i : (int64_t)u;
            else if (kind == ATTR_U64)
                *(uint64_t *)out = is_signed ? (uint64_t)i : u;
            else
                *(double *)out = is_signed ? (double)i : (double)u;
        }
    } else if (ok && c == H5T_FLOAT) {
        // a count written as 30.0 (numpy's default float) is still 30; 2.5 is not a count
        double v = 0;
        ok = H5Aread(a, H5T_NATIVE_DOUBLE, &v) >= 0 && isfinite(v);
        if (ok && kind != ATTR_NUM) ok = v >= 0 && v == floor(v) && v < 9223372036854775808.0;
        if (!ok)
            snprintf(found, sizeof found, "%.17g", v);
        else if (kind == ATTR_COUNT)
            *(int64_t *)out = (int64_t)v;
        else if (kind == ATTR_U64)
            *(uint64_t *)out = (uint64_t)v;
        else
            *(double *)out = v;
    } else {
        ok = 0;
    }
    if (!ok && !found[0]) attr_describe(a, found, sizeof found);
    if (t >= 0) H5Tclose(t);
    H5Aclose(a);
    if (!ok) return attr_error(path, where, name, kind, found);
    if (present) *present = 1;
    return TS_OK;
}

static enum ts_status read_attrs(hid_t d, const char * path, struct ts_latents_meta * m) {
    memset(m, 0, sizeof *m);
    m->step = -1;
    const char * at = "/latents";
    TS_TRY(attr_read(d, path, at, "prompt", ATTR_STR, m->prompt, sizeof m->prompt, NULL));
    TS_TRY(attr_read(d, path, at, "model_digest", ATTR_STR, m->model_digest, sizeof m->model_digest, NULL));
    TS_TRY(attr_read(d, path, at, "timeshard_version", ATTR_STR, m->version, sizeof m->version, NULL));
    TS_TRY(attr_read(d, path, at, "seed", ATTR_U64, &m->seed, 0, NULL));
    TS_TRY(attr_read(d, path, at, "steps", ATTR_COUNT, &m->steps, 0, NULL));
    TS_TRY(attr_read(d, path, at, "cfg", ATTR_NUM, &m->cfg, 0, NULL));
    TS_TRY(attr_read(d, path, at, "fps", ATTR_NUM, &m->fps, 0, NULL));
    TS_TRY(attr_read(d, path, at, "step", ATTR_COUNT, &m->step, 0, NULL));
    TS_TRY(attr_read(d, path, at, "sampler", ATTR_STR, m->sampler, sizeof m->sampler, NULL));
    TS_TRY(attr_read(d, path, at, "sampler_config", ATTR_STR, m->sampler_config, sizeof m->sampler_config, NULL));
    TS_TRY(attr_read(d, path, at, "shift", ATTR_NUM, &m->shift, 0, NULL));
    TS_TRY(attr_read(d, path, at, "noise", ATTR_STR, m->noise, sizeof m->noise, NULL));
    TS_TRY(attr_read(d, path, at, "noise_sha256", ATTR_STR, m->noise_sha256, sizeof m->noise_sha256, NULL));
    TS_TRY(attr_read(d, path, at, "noise_file", ATTR_STR, m->noise_file, sizeof m->noise_file, NULL));
    if (m->noise[0] && strcmp(m->noise, "seed") != 0 && strcmp(m->noise, "file") != 0)
        return ts_error(TS_ERR_FORMAT, "timeshard writes 'seed' or 'file'",
                        "file '%s': attribute 'noise' of %s is '%s', which timeshard does not know", path, at,
                        m->noise);
    return TS_OK;
}

// Selects frames [g0, g0 + n) of a (T, h, w, c) file space (nothing when n == 0).
static void select_frames(hid_t space, int64_t g0, int64_t n, int h, int w, int c) {
    if (n <= 0) {
        H5Sselect_none(space);
        return;
    }
    hsize_t start[4] = {(hsize_t)g0, 0, 0, 0}, count[4] = {(hsize_t)n, (hsize_t)h, (hsize_t)w, (hsize_t)c};
    H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL);
}

// A memory space for n frames (an empty selection when n == 0).
static hid_t frames_space(int64_t n, int h, int w, int c) {
    hsize_t dims[4] = {(hsize_t)(n > 0 ? n : 1), (hsize_t)h, (hsize_t)w, (hsize_t)c};
    hid_t s = H5Screate_simple(4, dims, NULL);
    if (n <= 0) H5Sselect_none(s);
    return s;
}

static enum ts_status create_error(const char * tmp, const char * kind) {
    int e = ts_create_errno(tmp);  // HDF5 (and MPI-IO) do not say why
    return ts_error(TS_ERR_IO, lat_hint_dir, "cannot create %s '%s': %s", kind, tmp,
                    e ? strerror(e) : "HDF5 could not create it");
}

static enum ts_status check_args(const char * path, int64_t T_total, int h, int w, int c, int64_t g0, int64_t T_own,
                                 const void * data, int need_data) {
    if (!path || !path[0]) return ts_error(TS_ERR_ARG, NULL, "latents: empty file name");
    if (h < 1 || w < 1 || c < 1 || T_total < 1)
        return ts_error(TS_ERR_ARG, NULL, "latents '%s': bad shape (%" PRId64 ", %d, %d, %d)", path, T_total, h, w, c);
    if ((int64_t)h * w * c > (int64_t)(INT_MAX / 4))
        return ts_error(TS_ERR_ARG, NULL, "latents '%s': a frame of %d x %d x %d floats is too large", path, h, w, c);
    if (g0 < 0 || T_own < 0 || g0 + T_own > T_total)
        return ts_error(TS_ERR_ARG, NULL, "latents '%s': frames [%" PRId64 ", %" PRId64 ") are outside [0, %" PRId64 ")",
                        path, g0, g0 + T_own, T_total);
    if (need_data && T_own > 0 && !data)
        return ts_error(TS_ERR_ARG, NULL, "latents '%s': no data for %" PRId64 " frames", path, T_own);
    return TS_OK;
}

// ---- write ----------------------------------------------------------------------

// 1 on the ranks that call HDF5 to write: every rank (parallel HDF5) or rank 0.
#define LAT_WRITER(rank) (TS_LAT_PARALLEL || (rank) == 0)

// Creates a float32 (T, h, w, c) dataset chunked by frame in loc; H5I_INVALID_HID on failure.
static hid_t create_frames(hid_t loc, const char * name, int64_t T, int h, int w, int c) {
    hsize_t dims[4] = {(hsize_t)T, (hsize_t)h, (hsize_t)w, (hsize_t)c},
            chunk[4] = {1, (hsize_t)h, (hsize_t)w, (hsize_t)c};
    hid_t space = H5Screate_simple(4, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 4, chunk);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
    hid_t d = H5Dcreate2(loc, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(space);
    return d;
}

// Creates /latents with its attributes in an open file; H5I_INVALID_HID on failure.
static hid_t create_dataset(hid_t file, int64_t T, int h, int w, int c, const struct ts_latents_meta * m) {
    hid_t d = create_frames(file, "latents", T, h, w, c);
    if (d >= 0 && !write_attrs(d, m)) {
        H5Dclose(d);
        d = H5I_INVALID_HID;
    }
    return d;
}

// One write: the shape, this rank's frames, the temporary file's name.
struct wjob {
    MPI_Comm cm;
    int rank, world;
    int64_t T, g0, T_own;
    int h, w, c;
    const char * tmp;
};

#if TS_LAT_PARALLEL
// This rank's frames into dataset d, collectively.
static enum ts_status write_frames(const struct wjob * j, hid_t d, const float * data) {
    hid_t fs = H5Dget_space(d), ms = frames_space(j->T_own, j->h, j->w, j->c);
    select_frames(fs, j->g0, j->T_own, j->h, j->w, j->c);
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
    H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
    herr_t e = H5Dwrite(d, H5T_NATIVE_FLOAT, ms, fs, dxpl, data);
    H5Pclose(dxpl);
    H5Sclose(ms);
    H5Sclose(fs);
    return e < 0 ? ts_error(TS_ERR_IO, "is the disk full?", "cannot write latents to '%s'", j->tmp) : TS_OK;
}
#else
// Rank 0 writes its frames into d, then receives the others' one frame at a time (d is
// rank 0's only).
static enum ts_status write_frames(const struct wjob * j, hid_t d, const float * data) {
    const size_t frame = (size_t)j->h * (size_t)j->w * (size_t)j->c;
    enum ts_status st = TS_OK;
    if (j->rank != 0) {
        int64_t range[2] = {j->g0, j->T_own};
        MPI_Send(range, 2, MPI_INT64_T, 0, TS_LAT_TAG, j->cm);
        for (int64_t f = 0; f < j->T_own; f++)
            MPI_Send(data + (size_t)f * frame, (int)frame, MPI_FLOAT, 0, TS_LAT_TAG, j->cm);
        return TS_OK;
    }
    hid_t fs = H5Dget_space(d);
    if (j->T_own > 0) {
        hid_t ms = frames_space(j->T_own, j->h, j->w, j->c);
        select_frames(fs, j->g0, j->T_own, j->h, j->w, j->c);
        if (H5Dwrite(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, data) < 0)
            st = ts_error(TS_ERR_IO, "is the disk full?", "cannot write latents to '%s'", j->tmp);
        H5Sclose(ms);
    }
    float * buf = ts_malloc(frame * sizeof(float));
    hid_t ms1 = frames_space(1, j->h, j->w, j->c);
    for (int r = 1; r < j->world; r++) {
        int64_t range[2];
        MPI_Recv(range, 2, MPI_INT64_T, r, TS_LAT_TAG, j->cm, MPI_STATUS_IGNORE);
        for (int64_t f = 0; f < range[1]; f++) {
            MPI_Recv(buf, (int)frame, MPI_FLOAT, r, TS_LAT_TAG, j->cm, MPI_STATUS_IGNORE);
            if (st != TS_OK) continue;  // keep receiving so the senders finish
            select_frames(fs, range[0] + f, 1, j->h, j->w, j->c);
            if (H5Dwrite(d, H5T_NATIVE_FLOAT, ms1, fs, H5P_DEFAULT, buf) < 0)
                st = ts_error(TS_ERR_IO, "is the disk full?", "cannot write latents to '%s'", j->tmp);
        }
    }
    H5Sclose(ms1);
    free(buf);
    H5Sclose(fs);
    return st;
}
#endif

// A 1-D float64 dataset of rank 0's values (collective under parallel HDF5: the
// other ranks select nothing); 1 on success.
static int write_vector(hid_t loc, const char * name, const double * v, int64_t n, int rank) {
    hsize_t dim = (hsize_t)n;
    hid_t fs = H5Screate_simple(1, &dim, NULL);
    hid_t d = H5Dcreate2(loc, name, H5T_IEEE_F64LE, fs, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int ok = d >= 0;
    if (ok && n > 0) {
        hid_t ms = H5Screate_simple(1, &dim, NULL);
        hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
#if TS_LAT_PARALLEL
        H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
#endif
        if (rank != 0) H5Sselect_none(ms), H5Sselect_none(fs);
        ok = H5Dwrite(d, H5T_NATIVE_DOUBLE, ms, fs, dxpl, v) >= 0;
        H5Pclose(dxpl);
        H5Sclose(ms);
    }
    if (d >= 0) ok &= H5Dclose(d) >= 0;
    H5Sclose(fs);
    return ok;
}

// Creates group g with its attributes and vectors in an open file; H5I_INVALID_HID on failure.
static hid_t create_group(hid_t file, const struct ts_lat_group * g, int rank) {
    hid_t gr = H5Gcreate2(file, g->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (gr < 0) return gr;
    int ok = 1;
    for (int i = 0; i < g->n_num; i++) {
        int64_t v = (int64_t)g->num[i].value;
        ok &= g->num[i].is_int
                  ? write_attr_num(gr, g->num[i].name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v)
                  : write_attr_num(gr, g->num[i].name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &g->num[i].value);
    }
    for (int i = 0; i < g->n_str; i++) {
        write_attr_str(gr, g->str[i].name, g->str[i].value);
        ok &= H5Aexists(gr, g->str[i].name) > 0;
    }
    for (int i = 0; i < g->n_vec; i++) ok &= write_vector(gr, g->vec[i].name, g->vec[i].v, g->vec[i].n, rank);
    if (!ok) {
        H5Gclose(gr);
        gr = H5I_INVALID_HID;
    }
    return gr;
}

// The group and its arrays (every rank its frames); agreed.
static enum ts_status write_group(const struct wjob * j, hid_t file, const struct ts_lat_group * g) {
    const int who = LAT_WRITER(j->rank);
    hid_t gr = who ? create_group(file, g, j->rank) : H5I_INVALID_HID;
    enum ts_status st =
        agree(j->cm, who && gr < 0 ? ts_error(TS_ERR_IO, NULL, "cannot create /%s in '%s'", g->name, j->tmp) : TS_OK);
    for (int i = 0; st == TS_OK && i < g->n_arr; i++) {
        hid_t d = who ? create_frames(gr, g->arr[i].name, j->T, j->h, j->w, j->c) : H5I_INVALID_HID;
        st = agree(j->cm, who && d < 0 ? ts_error(TS_ERR_IO, NULL, "cannot create /%s/%s in '%s'", g->name,
                                                  g->arr[i].name, j->tmp)
                                       : TS_OK);
        if (st == TS_OK) st = agree(j->cm, write_frames(j, d, g->arr[i].data));
        if (d >= 0) H5Dclose(d);
    }
    if (gr >= 0) H5Gclose(gr);
    return st;
}

// Rank 0's scalars and strings on every rank (collective HDF5 metadata must match).
static void group_bcast(struct ts_lat_group * g, MPI_Comm cm) {
    for (int i = 0; i < g->n_num; i++) MPI_Bcast(&g->num[i].value, 1, MPI_DOUBLE, 0, cm);
    for (int i = 0; i < g->n_str; i++) {
        g->str[i].value[sizeof g->str[i].value - 1] = '\0';
        MPI_Bcast(g->str[i].value, (int)sizeof g->str[i].value, MPI_CHAR, 0, cm);
    }
}

// The file at the temporary name: /latents and the group; agreed.
static enum ts_status write_file(const struct wjob * j, const char * kind, const float * data,
                                 const struct ts_latents_meta * m, const struct ts_lat_group * g) {
    const int who = LAT_WRITER(j->rank);
    hid_t file = H5I_INVALID_HID;
    enum ts_status st = TS_OK;
    if (who) {
        hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
#if TS_LAT_PARALLEL
        H5Pset_fapl_mpio(fapl, j->cm, MPI_INFO_NULL);
#endif
        file = H5Fcreate(j->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
        H5Pclose(fapl);
        if (file < 0)  // MPI-IO opens collectively: every rank fails alike
            st = j->rank == 0 ? create_error(j->tmp, kind)
                              : ts_error(TS_ERR_IO, lat_hint_dir, "cannot create %s '%s'", kind, j->tmp);
    }
    st = agree(j->cm, st);
    if (st != TS_OK) return st;
    hid_t d = who ? create_dataset(file, j->T, j->h, j->w, j->c, m) : H5I_INVALID_HID;
    st = agree(j->cm,
               who && d < 0 ? ts_error(TS_ERR_IO, NULL, "cannot create the latents dataset in '%s'", j->tmp) : TS_OK);
    if (st == TS_OK) st = agree(j->cm, write_frames(j, d, data));
    if (d >= 0 && H5Dclose(d) < 0) {
        ts_exit_fast_mark();
        if (st == TS_OK) st = ts_error(TS_ERR_IO, "is the disk full?", "cannot write the %s '%s'", kind, j->tmp);
    }
    st = agree(j->cm, st);
    if (st == TS_OK && g) st = write_group(j, file, g);
    // A close that fails (a full disk) leaves HDF5 holding a file its teardown at exit
    // crashes on (H5F__close_cb, also from MPI_Finalize): the command then ends with _exit.
    if (file >= 0 && H5Fclose(file) < 0) {
        ts_exit_fast_mark();
        if (st == TS_OK) st = ts_error(TS_ERR_IO, "is the disk full?", "cannot finish %s '%s'", kind, j->tmp);
    }
    return agree(j->cm, st);
}

enum ts_status ts_latents_write_group(const char * path, MPI_Comm comm, int64_t T_total, int h, int w, int c,
                                      int64_t g0, int64_t T_own, const float * data,
                                      const struct ts_latents_meta * meta, const struct ts_lat_group * grp) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const char * kind = meta && meta->step >= 0 ? "checkpoint" : "latents file";
    MPI_Comm cm;
    MPI_Comm_dup(comm, &cm);
    int rank, world;
    MPI_Comm_rank(cm, &rank);
    MPI_Comm_size(cm, &world);

    enum ts_status st = agree(cm, check_args(path, T_total, h, w, c, g0, T_own, data, 1));
    if (st == TS_OK && grp) {
        int bad = grp->n_num > TS_LAT_GROUP_MAX || grp->n_arr > TS_LAT_GROUP_MAX || grp->n_str > 4 || grp->n_vec > 4;
        for (int i = 0; i < grp->n_arr && !bad; i++) bad = T_own > 0 && !grp->arr[i].data;
        st = agree(cm, bad ? ts_error(TS_ERR_ARG, NULL, "latents '%s': a bad group /%s", path, grp->name) : TS_OK);
    }
    if (st != TS_OK) goto out;
    int64_t sum = 0;
    MPI_Allreduce(&T_own, &sum, 1, MPI_INT64_T, MPI_SUM, cm);
    if (sum != T_total) {
        st = ts_error(TS_ERR_ARG, NULL, "latents '%s': the ranks own %" PRId64 " frames in all, expected %" PRId64,
                      path, sum, T_total);
        goto out;
    }

    // Rank 0's attributes everywhere: collective HDF5 metadata must match.
    struct ts_latents_meta m;
    memset(&m, 0, sizeof m);
    m.step = -1;
    if (meta) m = *meta;
    m.prompt[sizeof m.prompt - 1] = m.model_digest[sizeof m.model_digest - 1] = m.version[sizeof m.version - 1] = '\0';
    m.sampler[sizeof m.sampler - 1] = m.sampler_config[sizeof m.sampler_config - 1] = '\0';
    m.noise[sizeof m.noise - 1] = m.noise_sha256[sizeof m.noise_sha256 - 1] = m.noise_file[sizeof m.noise_file - 1] =
        '\0';
    MPI_Bcast(&m, (int)sizeof m, MPI_BYTE, 0, cm);
    struct ts_lat_group g;
    if (grp) {
        g = *grp;
        group_bcast(&g, cm);
    }

    // Room for the file before any of it is written: HDF5 cannot be left half-written
    // cleanly (above). Rank 0 looks; the ranks share the folder or fail alike in writing.
    // (TIMESHARD_TEST_NO_ROOM_CHECK=1 skips it, so that a test can fill the disk mid-write.)
    if (rank == 0 && !getenv("TIMESHARD_TEST_NO_ROOM_CHECK")) {
        int64_t need = T_total * h * w * c * (int64_t)sizeof(float) * (1 + (grp ? grp->n_arr : 0)) + ((int64_t)1 << 20);
        int64_t room = ts_disk_free(path);
        if (room >= 0 && room < need)
            st = ts_error(TS_ERR_IO, "free space there, or write it to another folder",
                          "no room for the %s '%s': it needs %.1f MB, the disk has %.1f MB free", kind, path,
                          (double)need / 1e6, (double)room / 1e6);
    }
    st = agree(cm, st);
    if (st != TS_OK) goto out;

    size_t tlen = strlen(path) + 5;
    char * tmp = ts_malloc(tlen);
    snprintf(tmp, tlen, "%s.tmp", path);
    struct wjob j = {cm, rank, world, T_total, g0, T_own, h, w, c, tmp};
    st = write_file(&j, kind, data, &m, grp ? &g : NULL);

    if (st == TS_OK) {  // everyone succeeded: publish
        enum ts_status rs = TS_OK;
        if (rank == 0 && rename(tmp, path) != 0)
            rs = ts_error(TS_ERR_IO, lat_hint_dir, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
        st = agree(cm, rs);
    }
    if (st != TS_OK && rank == 0) unlink(tmp);  // an older file at `path` stays as it was
    free(tmp);
out:
    MPI_Comm_free(&cm);
    return st;
}

enum ts_status ts_latents_write(const char * path, MPI_Comm comm, int64_t T_total, int h, int w, int c, int64_t g0,
                                int64_t T_own, const float * data, const struct ts_latents_meta * meta) {
    return ts_latents_write_group(path, comm, T_total, h, w, c, g0, T_own, data, meta, NULL);
}

// ---- read -------------------------------------------------------------------------

// A dataset compressed with a filter this HDF5 library lacks (h5py's LZF, a plugin's)
// reads as a failure that looks like damage: name the filter instead.
static enum ts_status check_filters(hid_t d, const char * path, const char * dset) {
    hid_t dcpl = H5Dget_create_plist(d);
    enum ts_status st = TS_OK;
    int n = dcpl >= 0 ? H5Pget_nfilters(dcpl) : 0;
    for (int i = 0; i < n && st == TS_OK; i++) {
        unsigned flags = 0, cd[8];
        size_t ncd = 8;
        char name[64] = "";
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof name, name, NULL);
        if (id >= 0 && H5Zfilter_avail(id) <= 0)
            st = ts_error(TS_ERR_FORMAT, "write it uncompressed or with gzip (h5py: compression='gzip')",
                          "file '%s': /%s is compressed with HDF5 filter %d%s%s%s, which this HDF5 library does not have",
                          path, dset, (int)id, name[0] ? " (" : "", name, name[0] ? ")" : "");
    }
    if (dcpl >= 0) H5Pclose(dcpl);
    return st;
}

static enum ts_status read_frames(const char * path, const char * dset, MPI_Comm comm, int64_t * T_total, int * h,
                                  int * w, int * c,
                               int64_t g0, int64_t T_own, float * data, struct ts_latents_meta * meta) {
    TS_ASSERT(path && T_total && h && w && c);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    MPI_Comm cm;
    MPI_Comm_dup(comm, &cm);
    enum ts_status st = TS_OK;
    if (access(path, R_OK) != 0)
        st = ts_error(TS_ERR_IO, "check the path given with --resume, --latents or --noise", "cannot open %s file '%s': %s",
                      dset, path, strerror(errno));
    else if (ts_is_dir(path))
        st = ts_error(TS_ERR_IO, "give the HDF5 file itself, not its folder", "'%s' is a directory, not a %s file", path,
                      dset);
    st = agree(cm, st);
    if (st != TS_OK) {
        MPI_Comm_free(&cm);
        return st;
    }

    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
#if TS_LAT_PARALLEL
    H5Pset_fapl_mpio(fapl, cm, MPI_INFO_NULL);
#endif
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    hid_t d = H5I_INVALID_HID, fs = H5I_INVALID_HID;
    int64_t dims64[4] = {0, 0, 0, 0};
    // what a file of this kind holds (a noise file is the user's own, not one timeshard wrote)
    const int noise = !strcmp(dset, "noise");
    const char * kind = noise ? "a noise file (--noise) holds the initial latents as dataset /noise, float32 "
                                "(T_latent, h, w, C), time-major and channels-last; 'timeshard generate --dry-run' "
                                "prints the run's latents shape"
                              : "latents files are written by 'timeshard generate --latents' or --checkpoint";
    if (file < 0) {
        st = ts_error(TS_ERR_FORMAT, "the file may be truncated (a run killed while writing?)",
                      "%s file '%s' is not a readable HDF5 file", dset, path);
    } else if (H5Lexists(file, dset, H5P_DEFAULT) <= 0 || (d = H5Dopen2(file, dset, H5P_DEFAULT)) < 0) {
        st = ts_error(TS_ERR_FORMAT, kind, "file '%s' has no /%s dataset", path, dset);
    } else {
        hid_t t = H5Dget_type(d);
        fs = H5Dget_space(d);
        hsize_t dims[4];
        if (H5Tget_class(t) != H5T_FLOAT || H5Sget_simple_extent_ndims(fs) != 4) {
            st = ts_error(TS_ERR_FORMAT, noise ? kind : NULL, "file '%s': /%s is not a float (T, h, w, c) dataset",
                          path, dset);
        } else {
            H5Sget_simple_extent_dims(fs, dims, NULL);
            for (int i = 0; i < 4; i++) dims64[i] = (int64_t)dims[i];
            if (dims[1] > INT_MAX || dims[2] > INT_MAX || dims[3] > INT_MAX)
                st = ts_error(TS_ERR_FORMAT, NULL, "file '%s': /%s has an absurd frame size", path, dset);
        }
        if (st == TS_OK) st = check_filters(d, path, dset);
        H5Tclose(t);
    }
    if (st == TS_OK) {
        *T_total = dims64[0];
        *h = (int)dims64[1];
        *w = (int)dims64[2];
        *c = (int)dims64[3];
        if (meta) st = read_attrs(d, path, meta);
        if (data && (g0 < 0 || T_own < 0 || g0 + T_own > dims64[0]))
            st = ts_error(TS_ERR_ARG, NULL,
                          "file '%s': /%s has %" PRId64 " frames; frames [%" PRId64 ", %" PRId64 ") were asked for", path,
                          dset, dims64[0], g0, g0 + T_own);
    }
    st = agree(cm, st);

    int mine = st == TS_OK && data && T_own > 0, any = 0;
    MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, cm);
    if (st == TS_OK && any) {
        int64_t n = mine ? T_own : 0;
        hid_t ms = frames_space(n, *h, *w, *c);
        select_frames(fs, g0, n, *h, *w, *c);
        hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
#if TS_LAT_PARALLEL
        H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
#endif
        if (H5Dread(d, H5T_NATIVE_FLOAT, ms, fs, dxpl, data) < 0)
            st = ts_error(TS_ERR_FORMAT, "the file may be truncated (a run killed while writing?)",
                          "cannot read /%s from '%s'", dset, path);
        H5Pclose(dxpl);
        H5Sclose(ms);
        st = agree(cm, st);
    }
    if (fs >= 0) H5Sclose(fs);
    if (d >= 0) H5Dclose(d);
    if (file >= 0) H5Fclose(file);
    MPI_Comm_free(&cm);
    return st;
}

enum ts_status ts_latents_read(const char * path, MPI_Comm comm, int64_t * T_total, int * h, int * w, int * c,
                               int64_t g0, int64_t T_own, float * data, struct ts_latents_meta * meta) {
    return read_frames(path, "latents", comm, T_total, h, w, c, g0, T_own, data, meta);
}

enum ts_status ts_noise_read(const char * path, MPI_Comm comm, int64_t * T_total, int * h, int * w, int * c,
                             int64_t g0, int64_t T_own, float * data) {
    return read_frames(path, "noise", comm, T_total, h, w, c, g0, T_own, data, NULL);
}

// ---- read a group ---------------------------------------------------------------------

// The dims of a float32-convertible 4-D dataset `name` in loc; 0 when it is not one.
static int frames_dims(hid_t loc, const char * name, hsize_t dims[4]) {
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) return 0;
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) return 0;
    hid_t t = H5Dget_type(d), fs = H5Dget_space(d);
    int ok = H5Tget_class(t) == H5T_FLOAT && H5Sget_simple_extent_ndims(fs) == 4 &&
             H5Sget_simple_extent_dims(fs, dims, NULL) == 4;
    H5Sclose(fs);
    H5Tclose(t);
    H5Dclose(d);
    return ok;
}

// The scalars, strings and vectors grp lists from group gr (independent reads).
static enum ts_status read_group_small(hid_t gr, const char * path, struct ts_lat_group * g) {
    const char * hint = "the checkpoint is damaged, or was not written by timeshard";
    char where[80];
    snprintf(where, sizeof where, "/%s", g->name);
    for (int i = 0; i < g->n_num; i++) {
        int present = 0;
        TS_TRY(attr_read(gr, path, where, g->num[i].name, ATTR_NUM, &g->num[i].value, 0, &present));
        if (!present)
            return ts_error(TS_ERR_FORMAT, hint, "file '%s': /%s has no number attribute '%s'", path, g->name,
                            g->num[i].name);
    }
    for (int i = 0; i < g->n_str; i++) {
        g->str[i].value[0] = '\0';
        TS_TRY(attr_read(gr, path, where, g->str[i].name, ATTR_STR, g->str[i].value, sizeof g->str[i].value, NULL));
    }
    for (int i = 0; i < g->n_vec; i++) {
        hid_t d = H5Lexists(gr, g->vec[i].name, H5P_DEFAULT) > 0 ? H5Dopen2(gr, g->vec[i].name, H5P_DEFAULT)
                                                                 : H5I_INVALID_HID;
        hsize_t n = 0;
        int ok = d >= 0;
        if (ok) {
            hid_t fs = H5Dget_space(d), t = H5Dget_type(d);
            ok = H5Tget_class(t) == H5T_FLOAT && H5Sget_simple_extent_ndims(fs) == 1 &&
                 H5Sget_simple_extent_dims(fs, &n, NULL) == 1 && n == (hsize_t)g->vec[i].n;
            if (ok && n > 0) ok = H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, g->vec[i].v) >= 0;
            H5Tclose(t);
            H5Sclose(fs);
            H5Dclose(d);
        }
        if (!ok)
            return ts_error(TS_ERR_FORMAT, hint, "file '%s': /%s/%s is missing or is not %lld numbers", path, g->name,
                            g->vec[i].name, (long long)g->vec[i].n);
    }
    return TS_OK;
}

// Frames [g0, g0 + T_own) of array i of the group, shaped as /latents (dims); agreed.
static enum ts_status read_group_array(hid_t gr, const char * path, const struct ts_lat_group * g, int i,
                                       const hsize_t dims[4], int64_t g0, int64_t T_own, MPI_Comm cm) {
    hsize_t ad[4];
    const char * name = g->arr[i].name;
    int ok = frames_dims(gr, name, ad) && !memcmp(ad, dims, sizeof ad);
    enum ts_status st =
        agree(cm, ok ? TS_OK
                     : ts_error(TS_ERR_FORMAT, "the checkpoint is damaged, or was not written by timeshard",
                                "file '%s': /%s/%s is missing or not shaped as /latents", path, g->name, name));
    if (st != TS_OK) return st;
    hid_t d = H5Dopen2(gr, name, H5P_DEFAULT), fs = H5Dget_space(d);
    const int h = (int)dims[1], w = (int)dims[2], c = (int)dims[3];
    hid_t ms = frames_space(T_own, h, w, c);
    select_frames(fs, g0, T_own, h, w, c);
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
#if TS_LAT_PARALLEL
    H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
#endif
    if (H5Dread(d, H5T_NATIVE_FLOAT, ms, fs, dxpl, g->arr[i].data) < 0)
        st = ts_error(TS_ERR_FORMAT, "the file may be truncated (a run killed while writing?)",
                      "cannot read /%s/%s from '%s'", g->name, name, path);
    H5Pclose(dxpl);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(d);
    return agree(cm, st);
}

enum ts_status ts_latents_read_group(const char * path, MPI_Comm comm, int64_t g0, int64_t T_own,
                                     struct ts_lat_group * grp, int * found) {
    TS_ASSERT(path && grp && grp->name && found);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    *found = 0;
    MPI_Comm cm;
    MPI_Comm_dup(comm, &cm);
    enum ts_status st = TS_OK;
    if (access(path, R_OK) != 0)
        st = ts_error(TS_ERR_IO, "check the path given with --resume", "cannot open '%s': %s", path, strerror(errno));
    else if (ts_is_dir(path))
        st = ts_error(TS_ERR_IO, "give the HDF5 file itself, not its folder", "'%s' is a directory, not a checkpoint",
                      path);
    st = agree(cm, st);
    hid_t file = H5I_INVALID_HID, gr = H5I_INVALID_HID;
    hsize_t dims[4] = {0, 0, 0, 0};
    if (st == TS_OK) {
        hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
#if TS_LAT_PARALLEL
        H5Pset_fapl_mpio(fapl, cm, MPI_INFO_NULL);
#endif
        file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
        H5Pclose(fapl);
        if (file < 0 || !frames_dims(file, "latents", dims))
            st = ts_error(TS_ERR_FORMAT, "latents files are written by 'timeshard generate --latents' or --checkpoint",
                          "file '%s' has no float (T, h, w, c) /latents dataset", path);
        else if (g0 < 0 || T_own < 0 || (hsize_t)(g0 + T_own) > dims[0] || dims[1] > INT_MAX || dims[2] > INT_MAX ||
                 dims[3] > INT_MAX)
            st = ts_error(TS_ERR_ARG, NULL, "file '%s': frames [%lld, %lld) of /%s were asked for", path, (long long)g0,
                          (long long)(g0 + T_own), grp->name);
        else if (H5Lexists(file, grp->name, H5P_DEFAULT) > 0 && (gr = H5Gopen2(file, grp->name, H5P_DEFAULT)) < 0)
            st = ts_error(TS_ERR_FORMAT, NULL, "file '%s': /%s is not a group", path, grp->name);
        if (st == TS_OK && gr >= 0) st = read_group_small(gr, path, grp);
    }
    st = agree(cm, st);
    for (int i = 0; st == TS_OK && gr >= 0 && i < grp->n_arr; i++)
        st = read_group_array(gr, path, grp, i, dims, g0, T_own, cm);
    if (st == TS_OK) *found = gr >= 0;
    if (gr >= 0) H5Gclose(gr);
    if (file >= 0) H5Fclose(file);
    MPI_Comm_free(&cm);
    return st;
}
