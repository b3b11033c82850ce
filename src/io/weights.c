// Model weights from HDF5 (docs/ARCHITECTURE.md layout) or safetensors, chosen by magic
// bytes; both give a sorted tensor table, the config and the vocabulary (the
// safetensors header parsed with jansson). Also
// ts_file_sha256 (OpenSSL EVP) for the model digest.
#include "io/weights.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <inttypes.h>
#include <jansson.h>  // the safetensors header
#include <math.h>
#ifndef TS_NO_OPENSSL
#include <openssl/evp.h>  // EVP_Digest* (SHA-256)
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"

#define TS_ST_HEADER_MAX (100u << 20)  // safetensors header limit (as the reference library)
#define TS_JSON_MAX_DEPTH 64

#define TS_HINT_INFO "was it exported for another model config? see 'timeshard info %s'"

enum ts_wdtype { TS_WDTYPE_F32, TS_WDTYPE_F16, TS_WDTYPE_BF16, TS_WDTYPE_F64, TS_WDTYPE_COUNT };
static const int ts_wdtype_bytes[TS_WDTYPE_COUNT] = {4, 2, 2, 8};

struct ts_wtensor {
    char * name;   // owned
    int ndim;
    int64_t shape[TS_WEIGHTS_MAX_DIMS];
    enum ts_wdtype dtype;
    uint64_t begin, end;  // safetensors: byte range within the data section
};

enum ts_cfg_type { TS_CFG_INT, TS_CFG_FLOAT, TS_CFG_STR, TS_CFG_OTHER };

struct ts_cfg_entry {
    char * key;             // owned
    enum ts_cfg_type type;
    int64_t i;
    double f;
    char * s;               // owned (TS_CFG_STR)
};

enum ts_wkind { TS_WKIND_HDF5, TS_WKIND_SAFETENSORS };

struct ts_weights {
    char * path;                    // owned
    enum ts_wkind kind;
    struct ts_wtensor * tensors;    // owned, sorted by name
    int n_tensors;
    struct ts_cfg_entry * cfg;      // owned
    int n_cfg;
    char ** vocab;                  // owned (NULL: the file has none)
    int n_vocab;
    int has_vocab;
    // HDF5
    hid_t file, tensors_gid;        // H5I_INVALID_HID when not open
    // safetensors: the whole file mapped read-only
    uint8_t * map;
    size_t map_size;
    size_t data_start;              // 8 + header length
};

// ---- small helpers ------------------------------------------------------------

static char * ts_strdup(const char * s) {
    size_t n = strlen(s);
    char * d = ts_malloc(n + 1);
    memcpy(d, s, n + 1);
    return d;
}

static char * ts_strndup(const char * s, size_t n) {
    char * d = ts_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static int ends_with(const char * s, const char * suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void ts_hdf5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static const char * shape_str(int ndim, const int64_t * shape, char * buf, size_t n) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "(");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (k < n) snprintf(buf + k, n - k, ndim == 1 ? ",)" : ")");
    return buf;
}

static int cmp_tensor(const void * a, const void * b) {
    return strcmp(((const struct ts_wtensor *)a)->name, ((const struct ts_wtensor *)b)->name);
}

static const struct ts_wtensor * find_tensor(const ts_weights * w, const char * name) {
    struct ts_wtensor key = {.name = (char *)name};
    if (w->n_tensors == 0) return NULL;
    return bsearch(&key, w->tensors, (size_t)w->n_tensors, sizeof key, cmp_tensor);
}

static const struct ts_cfg_entry * find_cfg(const ts_weights * w, const char * key) {
    for (int i = 0; i < w->n_cfg; i++)
        if (strcmp(w->cfg[i].key, key) == 0) return &w->cfg[i];
    return NULL;
}

static struct ts_cfg_entry * cfg_add(ts_weights * w, int * cap, const char * key) {
    if (w->n_cfg == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        w->cfg = realloc(w->cfg, (size_t)*cap * sizeof *w->cfg);
        TS_ASSERT(w->cfg);
    }
    struct ts_cfg_entry * e = &w->cfg[w->n_cfg++];
    memset(e, 0, sizeof *e);
    e->key = ts_strdup(key);
    e->type = TS_CFG_OTHER;
    return e;
}

static struct ts_wtensor * tensor_add(ts_weights * w, int * cap, const char * name, size_t name_len) {
    if (w->n_tensors == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        w->tensors = realloc(w->tensors, (size_t)*cap * sizeof *w->tensors);
        TS_ASSERT(w->tensors);
    }
    struct ts_wtensor * t = &w->tensors[w->n_tensors++];
    memset(t, 0, sizeof *t);
    t->name = ts_strndup(name, name_len);
    return t;
}

// IEEE 754 half -> float, exact for every input (NaN payloads kept).
static inline float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {  // subnormal: normalise
            uint32_t e = 0;
            while (!(man & 0x400u)) {
                man <<= 1;
                e++;
            }
            bits = sign | ((113u - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline float bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

// Converts n 16-bit values stored (little-endian) at byte offset 2n of dst, in
// place, to n floats at dst. Safe: writing dst[i] only clobbers inputs <= i.
static void widen16_in_place(float * dst, int64_t n, enum ts_wdtype dt) {
    const uint8_t * src = (const uint8_t *)dst + 2 * (size_t)n;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = (uint16_t)(src[2 * i] | (src[2 * i + 1] << 8));
        dst[i] = dt == TS_WDTYPE_F16 ? half_to_float(h) : bf16_to_float(h);
    }
}

static int host_is_little_endian(void) {
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

// ---- HDF5 --------------------------------------------------------------------

// A 16-bit HDF5 float type that is IEEE half or bfloat16, else -1.
static int h5_float16_kind(hid_t type) {
    size_t spos, epos, esize, mpos, msize;
    if (H5Tget_size(type) != 2 || H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) < 0) return -1;
    if (spos == 15 && epos == 10 && esize == 5 && mpos == 0 && msize == 10 && H5Tget_ebias(type) == 15)
        return TS_WDTYPE_F16;
    if (spos == 15 && epos == 7 && esize == 8 && mpos == 0 && msize == 7 && H5Tget_ebias(type) == 127)
        return TS_WDTYPE_BF16;
    return -1;
}

struct h5_iter {
    ts_weights * w;
    int cap;
    enum ts_status st;
};

static herr_t h5_config_attr(hid_t loc, const char * name, const H5A_info_t * info, void * ud) {
    struct h5_iter * it = ud;
    struct ts_cfg_entry * e = cfg_add(it->w, &it->cap, name);
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return 0;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    hssize_t npts = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    if (npts == 1) {
        if (cls == H5T_INTEGER && H5Aread(a, H5T_NATIVE_INT64, &e->i) >= 0) {
            e->type = TS_CFG_INT;
        } else if (cls == H5T_FLOAT && H5Aread(a, H5T_NATIVE_DOUBLE, &e->f) >= 0) {
            e->type = TS_CFG_FLOAT;
        } else if (cls == H5T_STRING) {
            if (H5Tis_variable_str(t) > 0) {
                hid_t mt = H5Tcopy(H5T_C_S1);
                H5Tset_size(mt, H5T_VARIABLE);
                H5Tset_cset(mt, H5Tget_cset(t));
                char * s = NULL;
                if (H5Aread(a, mt, &s) >= 0) {
                    e->s = ts_strdup(s ? s : "");
                    e->type = TS_CFG_STR;
                    H5free_memory(s);
                }
                H5Tclose(mt);
            } else {
                size_t n = H5Tget_size(t);
                char * s = ts_calloc(n + 1, 1);
                hid_t mt = H5Tcopy(t);
                if (H5Aread(a, mt, s) >= 0) {
                    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\0')) s[--n] = '\0';
                    e->s = ts_strdup(s);
                    e->type = TS_CFG_STR;
                }
                H5Tclose(mt);
                free(s);
            }
        }
    }
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    H5Aclose(a);
    return 0;
}

static herr_t h5_tensor_link(hid_t gid, const char * name, const H5L_info_t * info, void * ud) {
    struct h5_iter * it = ud;
    ts_weights * w = it->w;
    hid_t d = H5Dopen2(gid, name, H5P_DEFAULT);
    if (d < 0) {
        it->st = ts_error(TS_ERR_FORMAT, NULL, "weights file '%s': /tensors/%s is not a dataset", w->path, name);
        return -1;
    }
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
    int ndim = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    int dt = -1;
    if (cls == H5T_FLOAT) {
        size_t sz = H5Tget_size(t);
        dt = sz == 4 ? TS_WDTYPE_F32 : sz == 8 ? TS_WDTYPE_F64 : h5_float16_kind(t);
    }
    if (dt < 0) {
        it->st = ts_error(TS_ERR_FORMAT, "tensors must be float32 or float16",
                          "weights file '%s': tensor '%s' has an unsupported type", w->path, name);
    } else if (ndim < 0 || ndim > TS_WEIGHTS_MAX_DIMS) {
        it->st = ts_error(TS_ERR_FORMAT, NULL, "weights file '%s': tensor '%s' has %d dimensions (at most %d)",
                          w->path, name, ndim, TS_WEIGHTS_MAX_DIMS);
    } else {
        struct ts_wtensor * te = tensor_add(w, &it->cap, name, strlen(name));
        hsize_t dims[TS_WEIGHTS_MAX_DIMS];
        H5Sget_simple_extent_dims(sp, dims, NULL);
        te->ndim = ndim;
        for (int i = 0; i < ndim; i++) te->shape[i] = (int64_t)dims[i];
        te->dtype = (enum ts_wdtype)dt;
    }
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    H5Dclose(d);
    return it->st == TS_OK ? 0 : -1;
}

static enum ts_status h5_read_vocab(ts_weights * w) {
    if (H5Lexists(w->file, "vocab", H5P_DEFAULT) <= 0) return TS_OK;
    enum ts_status st = TS_OK;
    hid_t d = H5Dopen2(w->file, "vocab", H5P_DEFAULT);
    if (d < 0) return ts_error(TS_ERR_FORMAT, NULL, "weights file '%s': /vocab is not a dataset", w->path);
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
    hsize_t n = 0;
    if (t < 0 || sp < 0 || H5Tget_class(t) != H5T_STRING || H5Sget_simple_extent_ndims(sp) != 1) {
        st = ts_error(TS_ERR_FORMAT, "the vocabulary is a 1-D string dataset (h5py.string_dtype())",
                      "weights file '%s': /vocab is not a 1-D string dataset", w->path);
        goto done;
    }
    H5Sget_simple_extent_dims(sp, &n, NULL);
    if (n > INT32_MAX) {
        st = ts_error(TS_ERR_FORMAT, NULL, "weights file '%s': /vocab has %llu words", w->path, (unsigned long long)n);
        goto done;
    }
    w->vocab = ts_calloc(n ? n : 1, sizeof(char *));
    w->n_vocab = (int)n;
    w->has_vocab = 1;
    if (n == 0) goto done;
    if (H5Tis_variable_str(t) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(t));
        char ** raw = ts_calloc(n, sizeof(char *));
        if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) < 0) {
            st = ts_error(TS_ERR_FORMAT, NULL, "weights file '%s': cannot read /vocab (corrupt file?)", w->path);
        } else {
            for (hsize_t i = 0; i < n; i++) w->vocab[i] = ts_strdup(raw[i] ? raw[i] : "");
            H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, raw);
        }
        free(raw);
        H5Tclose(mt);
    } else {
        size_t sz = H5Tget_size(t);
        char * raw = ts_malloc(n * sz);
        hid_t mt = H5Tcopy(t);
        if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) < 0) {
            st = ts_error(TS_ERR_FORMAT, NULL, "weights file '%s': cannot read /vocab (corrupt file?)", w->path);
        } else {
            for (hsize_t i = 0; i < n; i++) {
                const char * s = raw + i * sz;
                size_t len = 0;
                while (len < sz && s[len] != '\0') len++;
                w->vocab[i] = ts_strndup(s, len);
            }
        }
        H5Tclose(mt);
        free(raw);
    }
done:
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    H5Dclose(d);
    return st;
}

static enum ts_status h5_open(ts_weights * w) {
    ts_hdf5_quiet();
    w->file = H5Fopen(w->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (w->file < 0)
        return ts_error(TS_ERR_FORMAT, "the file may be truncated (an interrupted download or copy?)",
                        "weights file '%s' is not a readable HDF5 file (truncated or corrupt)", w->path);
    struct h5_iter it = {.w = w, .cap = 0, .st = TS_OK};
    if (H5Lexists(w->file, "config", H5P_DEFAULT) > 0) {
        hid_t g = H5Oopen(w->file, "config", H5P_DEFAULT);
        hsize_t idx = 0;
        if (g < 0 || H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_INC, &idx, h5_config_attr, &it) < 0) {
            if (g >= 0) H5Oclose(g);
            return ts_error(TS_ERR_FORMAT, NULL, "weights file '%s': cannot read /config (corrupt file?)", w->path);
        }
        H5Oclose(g);
    }
    TS_TRY(h5_read_vocab(w));
    if (H5Lexists(w->file, "tensors", H5P_DEFAULT) <= 0 ||
        (w->tensors_gid = H5Gopen2(w->file, "tensors", H5P_DEFAULT)) < 0)
        return ts_error(TS_ERR_FORMAT, "a weights file has the groups /config and /tensors and the dataset /vocab",
                        "weights file '%s' has no /tensors group", w->path);
    it.cap = 0;
    hsize_t idx = 0;
    if (H5Literate(w->tensors_gid, H5_INDEX_NAME, H5_ITER_INC, &idx, h5_tensor_link, &it) < 0) {
        if (it.st != TS_OK) return it.st;
        return ts_error(TS_ERR_FORMAT, NULL, "weights file '%s': cannot list /tensors (corrupt file?)", w->path);
    }
    return TS_OK;
}

static enum ts_status h5_read(const ts_weights * w, const struct ts_wtensor * t, int64_t numel, float * dst) {
    hid_t d = H5Dopen2(w->tensors_gid, t->name, H5P_DEFAULT);
    if (d < 0)
        return ts_error(TS_ERR_FORMAT, NULL, "weights file '%s': cannot open tensor '%s' (corrupt file?)", w->path,
                        t->name);
    herr_t e;
    if (t->dtype == TS_WDTYPE_F16 || t->dtype == TS_WDTYPE_BF16) {
        // Read the raw little-endian 16-bit words into the upper half of dst,
        // then widen exactly (HDF5 1.10's soft conversion changes NaN payloads
        // and is slow).
        hid_t ft = H5Dget_type(d);
        hid_t mt = H5Tcopy(ft);
        H5Tset_order(mt, H5T_ORDER_LE);
        e = H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, (uint8_t *)dst + 2 * (size_t)numel);
        H5Tclose(mt);
        H5Tclose(ft);
        if (e >= 0) widen16_in_place(dst, numel, t->dtype);
    } else {
        e = H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst);
    }
    H5Dclose(d);
    if (e < 0)
        return ts_error(TS_ERR_FORMAT, "the file may be truncated (an interrupted download or copy?)",
                        "weights file '%s': cannot read tensor '%s' (truncated or corrupt file)", w->path, t->name);
    return TS_OK;
}

// ---- JSON (jansson) helpers for the safetensors header ------------------------

// Nesting depth of JSON text (strings skipped) at byte `upto` (its maximum over
// [0, upto) when `max` is set): jansson accepts far deeper headers than any
// safetensors file has, and says only "duplicate object key" without the level.
static int json_depth(const char * s, size_t n, size_t upto, int max) {
    int depth = 0, deepest = 0, in_str = 0;
    for (size_t i = 0; i < n && i < upto; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > deepest) deepest = depth;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return max ? deepest : depth;
}

// A JSON number (jansson decodes integers as reals here, so that huge ones are
// range errors, not parse errors) that is a non-negative integer below 2^63, else -1.
static int json_uint(const json_t * v, uint64_t * out) {
    if (!json_is_number(v)) return -1;
    double x = json_number_value(v);
    if (!(x >= 0.0) || x >= 9223372036854775808.0 || x != floor(x)) return -1;
    *out = (uint64_t)x;
    return 0;
}

// ---- safetensors ---------------------------------------------------------------

static enum ts_status st_tensor(ts_weights * w, int * cap, const char * name, json_t * v, uint64_t data_size) {
    const char * P = w->path;
    const char * hint = "the file may be truncated or not written by a safetensors library";
    if (!json_is_object(v))
        return ts_error(TS_ERR_FORMAT, hint, "safetensors file '%s': entry '%s' is not an object", P, name);
    json_t *dtype = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
           *offs = json_object_get(v, "data_offsets");
    if (!dtype || !shape || !offs)
        return ts_error(TS_ERR_FORMAT, hint, "safetensors file '%s': tensor '%s' lacks %s", P, name,
                        !dtype ? "'dtype'" : !shape ? "'shape'" : "'data_offsets'");
    if (!json_is_string(dtype))
        return ts_error(TS_ERR_FORMAT, hint, "safetensors file '%s': tensor '%s' has a non-string dtype", P, name);
    const char * dts = json_string_value(dtype);
    enum ts_wdtype dt;
    if (strcmp(dts, "F32") == 0) dt = TS_WDTYPE_F32;
    else if (strcmp(dts, "F16") == 0) dt = TS_WDTYPE_F16;
    else if (strcmp(dts, "BF16") == 0) dt = TS_WDTYPE_BF16;
    else
        return ts_error(TS_ERR_FORMAT, "supported dtypes: F32, F16, BF16",
                        "safetensors file '%s': tensor '%s' has unsupported dtype '%s'", P, name, dts);
    int nd = json_is_array(shape) ? (int)json_array_size(shape) : 0;
    if (!json_is_array(shape) || nd > TS_WEIGHTS_MAX_DIMS)
        return ts_error(TS_ERR_FORMAT, hint, "safetensors file '%s': tensor '%s' has a bad shape (an array of at most %d sizes)",
                        P, name, TS_WEIGHTS_MAX_DIMS);
    uint64_t bytes = (uint64_t)ts_wdtype_bytes[dt];
    int64_t dims[TS_WEIGHTS_MAX_DIMS];
    for (int i = 0; i < nd; i++) {
        uint64_t d;
        json_t * di = json_array_get(shape, (size_t)i);
        if (json_uint(di, &d) || __builtin_mul_overflow(bytes, d, &bytes) || bytes > (uint64_t)INT64_MAX) {
            char num[64] = "not a number";
            if (json_is_number(di)) snprintf(num, sizeof num, "%.17g", json_number_value(di));
            return ts_error(TS_ERR_FORMAT, hint, "safetensors file '%s': tensor '%s' has an absurd shape (dimension %d: %s)",
                            P, name, i, num);
        }
        dims[i] = (int64_t)d;
    }
    uint64_t b, e;
    if (!json_is_array(offs) || json_array_size(offs) != 2 || json_uint(json_array_get(offs, 0), &b) ||
        json_uint(json_array_get(offs, 1), &e))
        return ts_error(TS_ERR_FORMAT, hint, "safetensors file '%s': tensor '%s' has bad data_offsets (want [begin, end])",
                        P, name);
    if (b > e)
        return ts_error(TS_ERR_FORMAT, hint, "safetensors file '%s': tensor '%s' has data_offsets [%" PRIu64 ", %" PRIu64 "] with begin > end",
                        P, name, b, e);
    if (e > data_size)
        return ts_error(TS_ERR_FORMAT, hint,
                        "safetensors file '%s': tensor '%s' data_offsets end %" PRIu64 " is past the end of the data (%" PRIu64 " bytes)",
                        P, name, e, data_size);
    if (e - b != bytes) {
        char sb[160];
        return ts_error(TS_ERR_FORMAT, hint,
                        "safetensors file '%s': tensor '%s' spans %" PRIu64 " bytes but %s %s needs %" PRIu64, P, name,
                        e - b, dts, shape_str(nd, dims, sb, sizeof sb), bytes);
    }
    struct ts_wtensor * t = tensor_add(w, cap, name, strlen(name));
    t->ndim = nd;
    memcpy(t->shape, dims, sizeof(int64_t) * (size_t)nd);
    t->dtype = dt;
    t->begin = b;
    t->end = e;
    return TS_OK;
}

static enum ts_status st_metadata(ts_weights * w, json_t * v) {
    if (!json_is_object(v))
        return ts_error(TS_ERR_FORMAT, NULL, "safetensors file '%s': __metadata__ is not an object", w->path);
    int cap = 0;
    const char * key;
    json_t * x;
    json_object_foreach(v, key, x) {
        if (!json_is_string(x))
            return ts_error(TS_ERR_FORMAT, "safetensors metadata values are strings",
                            "safetensors file '%s': __metadata__ value '%s' is not a string", w->path, key);
        if (strcmp(key, "vocab") == 0) {
            const char * s = json_string_value(x);
            int n = *s ? 1 : 0;
            for (const char * c = s; *c; c++) n += *c == '\n';
            w->vocab = ts_calloc(n ? (size_t)n : 1, sizeof(char *));
            w->n_vocab = n;
            w->has_vocab = 1;
            for (int k = 0; k < n; k++) {
                const char * nl = strchr(s, '\n');
                size_t len = nl ? (size_t)(nl - s) : strlen(s);
                w->vocab[k] = ts_strndup(s, len);
                s += len + (nl ? 1 : 0);
            }
            continue;
        }
        struct ts_cfg_entry * e = cfg_add(w, &cap, key);
        e->type = TS_CFG_STR;
        e->s = ts_strdup(json_string_value(x));
    }
    return TS_OK;
}

static int cmp_begin(const void * a, const void * b) {
    uint64_t x = (*(const struct ts_wtensor * const *)a)->begin, y = (*(const struct ts_wtensor * const *)b)->begin;
    return x < y ? -1 : x > y;
}

// The format forbids tensors whose byte ranges overlap (one write would change another).
static enum ts_status st_no_overlap(const ts_weights * w) {
    if (w->n_tensors < 2) return TS_OK;
    const struct ts_wtensor ** by = ts_malloc((size_t)w->n_tensors * sizeof(*by));
    for (int i = 0; i < w->n_tensors; i++) by[i] = &w->tensors[i];
    qsort(by, (size_t)w->n_tensors, sizeof(*by), cmp_begin);
    enum ts_status st = TS_OK;
    for (int i = 1; i < w->n_tensors && st == TS_OK; i++)
        if (by[i]->begin < by[i - 1]->end && by[i]->end > by[i]->begin)
            st = ts_error(TS_ERR_FORMAT, "the file is damaged; export it again",
                          "safetensors file '%s': tensors '%s' and '%s' overlap in the data", w->path, by[i - 1]->name,
                          by[i]->name);
    free(by);
    return st;
}

static enum ts_status st_open(ts_weights * w) {
    const char * P = w->path;
    const char * hint = "the file may be truncated or not written by a safetensors library";
    int fd = open(P, O_RDONLY);
    if (fd < 0) return ts_error(TS_ERR_IO, NULL, "cannot open weights file '%s': %s", P, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || sb.st_size < 0) {
        int e = errno;
        close(fd);
        return ts_error(TS_ERR_IO, NULL, "cannot stat weights file '%s': %s", P, strerror(e));
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (size < 8) {
        close(fd);
        return ts_error(TS_ERR_FORMAT, hint, "safetensors file '%s' is %" PRIu64 " bytes, shorter than its 8-byte header length",
                        P, size);
    }
    w->map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (w->map == MAP_FAILED) {
        w->map = NULL;
        return ts_error(TS_ERR_IO, NULL, "cannot map weights file '%s': %s", P, strerror(errno));
    }
    w->map_size = (size_t)size;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | w->map[i];
    if (hlen > TS_ST_HEADER_MAX)
        return ts_error(TS_ERR_FORMAT, hint, "safetensors file '%s': header length %" PRIu64 " is absurd (limit %u bytes)", P,
                        hlen, TS_ST_HEADER_MAX);
    if (hlen > size - 8)
        return ts_error(TS_ERR_FORMAT, hint,
                        "safetensors file '%s': header length %" PRIu64 " is past the end of the file (%" PRIu64 " bytes)", P,
                        hlen, size);
    if (hlen < 2)
        return ts_error(TS_ERR_FORMAT, hint, "safetensors file '%s': header length %" PRIu64 " is too short", P, hlen);
    if (w->map[8] != '{')
        return ts_error(TS_ERR_FORMAT, hint, "safetensors file '%s': the JSON header does not start with '{'", P);
    w->data_start = 8 + (size_t)hlen;
    uint64_t data_size = size - 8 - hlen;

    const char * hs = (const char *)w->map + 8;
    if (json_depth(hs, (size_t)hlen, (size_t)hlen, 1) > TS_JSON_MAX_DEPTH)
        return ts_error(TS_ERR_FORMAT, hint, "safetensors file '%s': bad JSON header: nesting too deep (over %d levels)", P,
                        TS_JSON_MAX_DEPTH);
    json_error_t jerr;
    json_t * root = json_loadb(hs, (size_t)hlen, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr);
    if (!root) {
        if (json_error_code(&jerr) == json_error_duplicate_key && jerr.position > 0 && (size_t)jerr.position <= hlen &&
            hs[jerr.position - 1] == '"') {  // the key just read ends at position: name it
            size_t end = (size_t)jerr.position - 1, beg = end;
            while (beg > 0 && !(hs[beg - 1] == '"' && (beg < 2 || hs[beg - 2] != '\\'))) beg--;
            char * key = ts_strndup(hs + beg, end - beg);
            enum ts_status st;
            if (json_depth(hs, (size_t)hlen, beg, 0) == 1)
                st = ts_error(TS_ERR_FORMAT, NULL, "weights file '%s' has tensor '%s' twice", P, key);
            else
                st = ts_error(TS_ERR_FORMAT, hint, "safetensors file '%s': bad JSON header: key '%s' twice in an entry", P, key);
            free(key);
            return st;
        }
        if (json_error_code(&jerr) == json_error_end_of_input_expected)
            return ts_error(TS_ERR_FORMAT, hint, "safetensors file '%s': bad JSON header: trailing characters after the object",
                            P);
        return ts_error(TS_ERR_FORMAT, hint, "safetensors file '%s': bad JSON header: %s (byte %d)", P, jerr.text,
                        jerr.position);
    }
    enum ts_status st = TS_OK;
    if (!json_is_object(root)) {
        st = ts_error(TS_ERR_FORMAT, hint, "safetensors file '%s': the JSON header is not an object", P);
        goto done;
    }
    int cap = 0;
    const char * key;
    json_t * v;
    json_object_foreach(root, key, v) {
        if (st != TS_OK) break;
        if (strcmp(key, "__metadata__") != 0)
            st = st_tensor(w, &cap, key, v, data_size);
        else
            st = st_metadata(w, v);
    }
    if (st == TS_OK) st = st_no_overlap(w);
done:
    json_decref(root);
    return st;
}

static enum ts_status st_read(const ts_weights * w, const struct ts_wtensor * t, int64_t numel, float * dst) {
    TS_ASSERT(host_is_little_endian());
    const uint8_t * src = w->map + w->data_start + t->begin;
    if (t->dtype == TS_WDTYPE_F32) {
        memcpy(dst, src, (size_t)numel * 4);
    } else {
        memcpy((uint8_t *)dst + 2 * (size_t)numel, src, (size_t)numel * 2);
        widen16_in_place(dst, numel, t->dtype);
    }
    return TS_OK;
}

// ---- the public API ---------------------------------------------------------------

enum ts_status ts_weights_open(const char * path, ts_weights ** out) {
    TS_ASSERT(path && out);
    *out = NULL;
    if (ts_is_dir(path))
        return ts_error(TS_ERR_IO, "give a weights file (.h5, .safetensors) or a model directory that has one",
                        "'%s' is a directory, not a weights file", path);
    FILE * f = fopen(path, "rb");
    if (!f)
        return ts_error(TS_ERR_IO, "check the path given with --model", "cannot open weights file '%s': %s", path,
                        strerror(errno));
    uint8_t magic[9] = {0};
    size_t got = fread(magic, 1, sizeof magic, f);
    fclose(f);
    static const uint8_t h5sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

    ts_weights * w = ts_calloc(1, sizeof *w);
    w->path = ts_strdup(path);
    w->file = w->tensors_gid = H5I_INVALID_HID;
    enum ts_status st;
    if (got >= 8 && memcmp(magic, h5sig, 8) == 0) {
        w->kind = TS_WKIND_HDF5;
        st = h5_open(w);
    } else if ((got == 9 && magic[8] == '{') || ends_with(path, ".safetensors")) {
        w->kind = TS_WKIND_SAFETENSORS;
        st = st_open(w);
    } else {
        ts_hdf5_quiet();
        if (H5Fis_hdf5(path) > 0) {  // HDF5 with a user block
            w->kind = TS_WKIND_HDF5;
            st = h5_open(w);
        } else {
            st = ts_error(TS_ERR_FORMAT, "weights are HDF5 (.h5) or safetensors files",
                          "weights file '%s' is neither HDF5 nor safetensors (%s)", path,
                          got < 9 ? "too short" : "unknown magic bytes");
        }
    }
    if (st == TS_OK && w->n_tensors > 1) {
        qsort(w->tensors, (size_t)w->n_tensors, sizeof *w->tensors, cmp_tensor);
        for (int i = 1; i < w->n_tensors; i++)
            if (strcmp(w->tensors[i - 1].name, w->tensors[i].name) == 0) {
                st = ts_error(TS_ERR_FORMAT, NULL, "weights file '%s' has tensor '%s' twice", path, w->tensors[i].name);
                break;
            }
    }
    if (st != TS_OK) {
        ts_weights_close(&w);
        return st;
    }
    *out = w;
    return TS_OK;
}

void ts_weights_close(ts_weights ** pw) {
    if (!pw || !*pw) return;
    ts_weights * w = *pw;
    if (w->tensors_gid >= 0) H5Gclose(w->tensors_gid);
    if (w->file >= 0) H5Fclose(w->file);
    if (w->map) munmap(w->map, w->map_size);
    for (int i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->tensors);
    for (int i = 0; i < w->n_cfg; i++) {
        free(w->cfg[i].key);
        free(w->cfg[i].s);
    }
    free(w->cfg);
    for (int i = 0; i < w->n_vocab; i++) free(w->vocab[i]);
    free(w->vocab);
    free(w->path);
    free(w);
    *pw = NULL;
}

const char * ts_weights_path(const ts_weights * w) { return w->path; }

int ts_weights_config_has(const ts_weights * w, const char * key) { return find_cfg(w, key) != NULL; }

static enum ts_status cfg_missing(const ts_weights * w, const char * key) {
    return ts_error(TS_ERR_MODEL, "the model's config lacks a hyper-parameter this engine needs; see 'timeshard info'",
                    "weights file '%s' has no config key '%s'", w->path, key);
}

static enum ts_status cfg_badtype(const ts_weights * w, const char * key, const char * want) {
    return ts_error(TS_ERR_MODEL, NULL, "weights file '%s': config key '%s' is not %s", w->path, key, want);
}

enum ts_status ts_weights_config_int(const ts_weights * w, const char * key, int64_t * v) {
    const struct ts_cfg_entry * e = find_cfg(w, key);
    if (!e) return cfg_missing(w, key);
    double f;
    switch (e->type) {
    case TS_CFG_INT: *v = e->i; return TS_OK;
    case TS_CFG_FLOAT: f = e->f; break;
    case TS_CFG_STR: {
        char * end;
        errno = 0;
        long long x = strtoll(e->s, &end, 10);
        if (end != e->s && *end == '\0' && errno == 0) {
            *v = x;
            return TS_OK;
        }
        f = strtod(e->s, &end);
        if (end == e->s || *end != '\0') return cfg_badtype(w, key, "an integer");
        break;
    }
    default: return cfg_badtype(w, key, "an integer");
    }
    if (!(f == floor(f) && fabs(f) < 9.0e18)) return cfg_badtype(w, key, "an integer");
    *v = (int64_t)f;
    return TS_OK;
}

enum ts_status ts_weights_config_float(const ts_weights * w, const char * key, double * v) {
    const struct ts_cfg_entry * e = find_cfg(w, key);
    if (!e) return cfg_missing(w, key);
    switch (e->type) {
    case TS_CFG_INT: *v = (double)e->i; return TS_OK;
    case TS_CFG_FLOAT: *v = e->f; return TS_OK;
    case TS_CFG_STR: {
        char * end;
        double f = strtod(e->s, &end);
        if (end == e->s || *end != '\0') return cfg_badtype(w, key, "a number");
        *v = f;
        return TS_OK;
    }
    default: return cfg_badtype(w, key, "a number");
    }
}

enum ts_status ts_weights_config_str(const ts_weights * w, const char * key, char * buf, size_t n) {
    const struct ts_cfg_entry * e = find_cfg(w, key);
    if (!e) return cfg_missing(w, key);
    int k;
    switch (e->type) {
    case TS_CFG_INT: k = snprintf(buf, n, "%" PRId64, e->i); break;
    case TS_CFG_FLOAT: k = snprintf(buf, n, "%.17g", e->f); break;
    case TS_CFG_STR: k = snprintf(buf, n, "%s", e->s); break;
    default: return cfg_badtype(w, key, "a string or number");
    }
    if (k < 0 || (size_t)k >= n)
        return ts_error(TS_ERR_MODEL, NULL, "weights file '%s': config key '%s' is longer than %zu bytes", w->path, key,
                        n ? n - 1 : 0);
    return TS_OK;
}

enum ts_status ts_weights_vocab(const ts_weights * w, const char * const ** words, int * n) {
    if (!w->has_vocab)
        return ts_error(TS_ERR_MODEL, "a weights file stores its vocabulary in /vocab (safetensors: __metadata__ 'vocab')",
                        "weights file '%s' has no vocabulary", w->path);
    *words = (const char * const *)w->vocab;
    *n = w->n_vocab;
    return TS_OK;
}

int ts_weights_has(const ts_weights * w, const char * name) { return find_tensor(w, name) != NULL; }

enum ts_status ts_weights_read(const ts_weights * w, const char * name, int ndim, const int64_t * shape, float * dst) {
    TS_ASSERT(w && name && dst && (ndim == 0 || shape));
    const struct ts_wtensor * t = find_tensor(w, name);
    char hint[1200];
    snprintf(hint, sizeof hint, TS_HINT_INFO, w->path);
    if (!t) return ts_error(TS_ERR_MODEL, hint, "weights file '%s' has no tensor '%s'", w->path, name);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char a[200], b[200];
        return ts_error(TS_ERR_MODEL, hint, "weights file '%s': tensor '%s' has shape %s, expected %s", w->path, name,
                        shape_str(t->ndim, t->shape, a, sizeof a), shape_str(ndim, shape, b, sizeof b));
    }
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= shape[i];
    if (numel == 0) return TS_OK;
    return w->kind == TS_WKIND_HDF5 ? h5_read(w, t, numel, dst) : st_read(w, t, numel, dst);
}

int ts_weights_count(const ts_weights * w) { return w->n_tensors; }

const char * ts_weights_name(const ts_weights * w, int i, int * ndim, int64_t * shape, const char ** dtype) {
    static const char * names[TS_WDTYPE_COUNT] = {"f32", "f16", "bf16", "f64"};
    if (i < 0 || i >= w->n_tensors) return NULL;
    const struct ts_wtensor * t = &w->tensors[i];
    if (ndim) *ndim = t->ndim;
    if (shape)
        for (int k = 0; k < t->ndim; k++) shape[k] = t->shape[k];
    if (dtype) *dtype = names[t->dtype];
    return t->name;
}

enum ts_status ts_file_sha256(const char * path, char hex[65]) {
    FILE * f = fopen(path, "rb");
    if (!f) return ts_error(TS_ERR_IO, NULL, "cannot open '%s' for hashing: %s", path, strerror(errno));
#ifdef TS_NO_OPENSSL  // built without OpenSSL (e.g. a GPU test machine): no digest
    fclose(f);
    snprintf(hex, 65, "unavailable");
    return TS_OK;
#else
    EVP_MD_CTX * ctx = EVP_MD_CTX_new();
    TS_ASSERT(ctx);
    TS_ASSERT(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1);
    size_t cap = 1 << 20, n;
    unsigned char * buf = ts_malloc(cap);
    while ((n = fread(buf, 1, cap, f)) > 0) TS_ASSERT(EVP_DigestUpdate(ctx, buf, n) == 1);
    int err = ferror(f);
    fclose(f);
    free(buf);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    TS_ASSERT(EVP_DigestFinal_ex(ctx, md, &len) == 1 && len == 32);
    EVP_MD_CTX_free(ctx);
    if (err) return ts_error(TS_ERR_IO, NULL, "cannot read '%s' for hashing", path);
    for (unsigned int i = 0; i < len; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[64] = '\0';
    return TS_OK;
#endif
}
