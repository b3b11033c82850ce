// safetensors files and shard sets, memory-mapped as stored; headers and shard
// indexes parsed with jansson.
#include "io/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>  // json_loadb, json_object_foreach
#ifndef TS_NO_OPENSSL
#include <openssl/evp.h>  // EVP_Digest* (SHA-256)
#endif
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"

#define TS_ST_HEADER_MAX (100u << 20)  // header limit of the reference library
#define TS_ST_HINT_FILE "the file may be truncated or not written by a safetensors library"

struct ts_st_file {
    char * path;    // owned
    uint8_t * map;  // owned mapping (munmap)
    size_t size;
};

struct ts_st {
    char * path;                // owned: what was opened
    struct ts_st_file * files;  // owned (n_files,)
    int n_files;
    struct ts_st_tensor * tensors;  // owned (n_tensors,), sorted by name; names owned
    int n_tensors, cap_tensors;
    json_t * metadata;  // owned reference: the first file's __metadata__ (or NULL)
};

static const char * ts_st_dtype_names[TS_ST_DTYPE_COUNT] = {"F32", "F16", "BF16"};
static const int ts_st_dtype_sizes[TS_ST_DTYPE_COUNT] = {4, 2, 2};
const char * ts_st_dtype_name(enum ts_st_dtype dt) { return dt < TS_ST_DTYPE_COUNT ? ts_st_dtype_names[dt] : "?"; }
int ts_st_dtype_bytes(enum ts_st_dtype dt) { return ts_st_dtype_sizes[dt]; }

float ts_f16_to_float(uint16_t h) {
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

void ts_st_to_float(float * dst, const void * src, enum ts_st_dtype dt, int64_t off, int64_t n) {
    if (dt == TS_ST_F32) {
        memcpy(dst, (const float *)src + off, (size_t)n * sizeof(float));
    } else {
        // byte loads: a header whose length is odd leaves the data at an odd address
        const uint8_t * s = (const uint8_t *)src + 2 * off;
        uint16_t h;
        if (dt == TS_ST_BF16)
            for (int64_t i = 0; i < n; i++) memcpy(&h, s + 2 * i, 2), dst[i] = ts_bf16_to_float(h);
        else
            for (int64_t i = 0; i < n; i++) memcpy(&h, s + 2 * i, 2), dst[i] = ts_f16_to_float(h);
    }
}

static char * st_strdup(const char * s) {
    size_t n = strlen(s);
    char * d = ts_malloc(n + 1);
    memcpy(d, s, n + 1);
    return d;
}

static int ends_with(const char * s, const char * suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

enum ts_status ts_st_refuse_foreign(const char * path) {
    FILE * f = fopen(path, "rb");
    if (!f) return TS_OK;  // the caller reports missing files in its own words
    uint8_t m[8] = {0};
    size_t got = fread(m, 1, sizeof m, f);
    fclose(f);
    if (got >= 4 && memcmp(m, "GGUF", 4) == 0)
        return ts_error(TS_ERR_FORMAT,
                        "use the bf16 or fp16 safetensors release of the model (GGUF quantisations are not read)",
                        "'%s' is a GGUF file, which timeshard does not load", path);
    int zip = got >= 4 && memcmp(m, "PK\x03\x04", 4) == 0;
    int pickle = got >= 2 && m[0] == 0x80 && m[1] >= 2 && m[1] <= 5;
    if (zip || pickle || ends_with(path, ".pth") || ends_with(path, ".pt") || ends_with(path, ".ckpt"))
        return ts_error(
            TS_ERR_FORMAT,
            "convert it once with: python3 tools/wan/pth_to_safetensors.py IN.pth OUT.safetensors (needs PyTorch)",
            "'%s' is a PyTorch pickle, which timeshard does not load (pickles can run code)", path);
    return TS_OK;
}

// ---- one file ------------------------------------------------------------------------------------

static struct ts_st_tensor * st_add(ts_st * st) {
    if (st->n_tensors == st->cap_tensors) {
        st->cap_tensors = st->cap_tensors ? 2 * st->cap_tensors : 64;
        struct ts_st_tensor * t = realloc(st->tensors, (size_t)st->cap_tensors * sizeof *t);
        TS_ASSERT(t);
        st->tensors = t;
    }
    struct ts_st_tensor * t = &st->tensors[st->n_tensors++];
    memset(t, 0, sizeof *t);
    return t;
}

static enum ts_status st_entry(ts_st * st, int file, const char * name, json_t * v, const uint8_t * data,
                               uint64_t data_size) {
    const char * P = st->files[file].path;
    if (!json_is_object(v))
        return ts_error(TS_ERR_FORMAT, TS_ST_HINT_FILE, "safetensors file '%s': entry '%s' is not an object", P, name);
    json_t *dtype = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
           *offs = json_object_get(v, "data_offsets");
    if (!json_is_string(dtype) || !json_is_array(shape) || !json_is_array(offs))
        return ts_error(TS_ERR_FORMAT, TS_ST_HINT_FILE, "safetensors file '%s': tensor '%s' lacks a valid %s", P, name,
                        !json_is_string(dtype)  ? "'dtype'"
                        : !json_is_array(shape) ? "'shape'"
                                                : "'data_offsets'");
    const char * ds = json_string_value(dtype);
    int dt = -1;
    for (int i = 0; i < TS_ST_DTYPE_COUNT; i++)
        if (strcmp(ds, ts_st_dtype_names[i]) == 0) dt = i;
    if (dt < 0) {
        if (strncmp(ds, "F8", 2) == 0)
            return ts_error(TS_ERR_FORMAT, "fp8 checkpoints are not read: use the bf16 or fp16 release of the model",
                            "safetensors file '%s': tensor '%s' is stored as %s (fp8)", P, name, ds);
        return ts_error(TS_ERR_FORMAT, "supported dtypes: F32, F16, BF16",
                        "safetensors file '%s': tensor '%s' has unsupported dtype '%s'", P, name, ds);
    }
    size_t nd = json_array_size(shape);
    if (nd > TS_ST_MAX_DIMS)
        return ts_error(TS_ERR_FORMAT, TS_ST_HINT_FILE,
                        "safetensors file '%s': tensor '%s' has %zu dimensions (at most %d)", P, name, nd,
                        TS_ST_MAX_DIMS);
    struct ts_st_tensor t = {.dtype = (enum ts_st_dtype)dt, .ndim = (int)nd, .numel = 1, .file = file};
    uint64_t bytes = (uint64_t)ts_st_dtype_sizes[dt];
    for (size_t i = 0; i < nd; i++) {
        json_t * d = json_array_get(shape, i);
        json_int_t x = json_is_integer(d) ? json_integer_value(d) : -1;
        if (x < 0 || __builtin_mul_overflow(bytes, (uint64_t)x, &bytes) || bytes > (uint64_t)INT64_MAX)
            return ts_error(TS_ERR_FORMAT, TS_ST_HINT_FILE, "safetensors file '%s': tensor '%s' has a bad shape", P,
                            name);
        t.shape[i] = x;
        t.numel *= x;
    }
    json_t *jb = json_array_get(offs, 0), *je = json_array_get(offs, 1);
    json_int_t b = json_is_integer(jb) ? json_integer_value(jb) : -1,
               e = json_is_integer(je) ? json_integer_value(je) : -1;
    if (json_array_size(offs) != 2 || b < 0 || e < b || (uint64_t)e > data_size)
        return ts_error(TS_ERR_FORMAT, TS_ST_HINT_FILE, "safetensors file '%s': tensor '%s' has bad data_offsets", P,
                        name);
    if ((uint64_t)(e - b) != bytes)
        return ts_error(TS_ERR_FORMAT, TS_ST_HINT_FILE,
                        "safetensors file '%s': tensor '%s' spans %" PRId64 " bytes, its dtype and shape need %" PRIu64,
                        P, name, (int64_t)(e - b), bytes);
    t.data = data + b;
    t.nbytes = bytes;
    t.name = st_strdup(name);
    *st_add(st) = t;
    return TS_OK;
}

static int st_cmp_data(const void * a, const void * b) {
    const uint8_t * x = (*(const struct ts_st_tensor * const *)a)->data;
    const uint8_t * y = (*(const struct ts_st_tensor * const *)b)->data;
    return x < y ? -1 : x > y;
}

// The format forbids tensors of one file whose byte ranges overlap.
static enum ts_status st_no_overlap(const ts_st * st, int file, const char * path) {
    const struct ts_st_tensor ** by = ts_malloc((size_t)(st->n_tensors + 1) * sizeof(*by));
    int n = 0;
    for (int i = 0; i < st->n_tensors; i++)
        if (st->tensors[i].file == file) by[n++] = &st->tensors[i];
    qsort(by, (size_t)n, sizeof(*by), st_cmp_data);
    enum ts_status s = TS_OK;
    for (int i = 1; i < n && s == TS_OK; i++) {
        const uint8_t * prev_end = (const uint8_t *)by[i - 1]->data + by[i - 1]->nbytes;
        if (by[i]->nbytes > 0 && (const uint8_t *)by[i]->data < prev_end)
            s = ts_error(TS_ERR_FORMAT, TS_ST_HINT_FILE, "safetensors file '%s': tensors '%s' and '%s' overlap in the data",
                         path, by[i - 1]->name, by[i]->name);
    }
    free(by);
    return s;
}

// Maps `path` as file number `file` of the set and adds its tensors.
static enum ts_status st_open_file(ts_st * st, const char * path) {
    TS_TRY(ts_st_refuse_foreign(path));
    int fd = open(path, O_RDONLY);
    if (fd < 0) return ts_error(TS_ERR_IO, NULL, "cannot open safetensors file '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return ts_error(TS_ERR_IO, NULL, "cannot stat '%s': %s", path, strerror(e));
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (size < 10) {
        close(fd);
        return ts_error(TS_ERR_FORMAT, TS_ST_HINT_FILE, "safetensors file '%s' is only %" PRIu64 " bytes", path, size);
    }
    uint8_t * map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return ts_error(TS_ERR_IO, NULL, "cannot map '%s': %s", path, strerror(errno));
    int file = st->n_files++;
    st->files = realloc(st->files, (size_t)st->n_files * sizeof *st->files);
    TS_ASSERT(st->files);
    st->files[file] = (struct ts_st_file){.path = st_strdup(path), .map = map, .size = (size_t)size};

    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | map[i];
    if (hlen > TS_ST_HEADER_MAX || hlen > size - 8 || map[8] != '{')
        return ts_error(TS_ERR_FORMAT, TS_ST_HINT_FILE,
                        "'%s' is not a safetensors file (bad header length or JSON start)", path);
    json_error_t jerr;
    json_t * root = json_loadb((const char *)map + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return ts_error(TS_ERR_FORMAT, TS_ST_HINT_FILE, "safetensors file '%s': bad JSON header: %s", path, jerr.text);
    enum ts_status s = TS_OK;
    if (!json_is_object(root))
        s = ts_error(TS_ERR_FORMAT, TS_ST_HINT_FILE, "safetensors file '%s': header is not an object", path);
    const char * key;
    json_t * v;
    json_object_foreach(root, key, v) {
        if (s != TS_OK) break;
        if (strcmp(key, "__metadata__") == 0) {
            if (!st->metadata && json_is_object(v)) st->metadata = json_incref(v);
            continue;
        }
        s = st_entry(st, file, key, v, map + 8 + hlen, size - 8 - hlen);
    }
    json_decref(root);
    if (s == TS_OK) s = st_no_overlap(st, file, path);
    return s;
}

static int st_cmp(const void * a, const void * b) {
    return strcmp(((const struct ts_st_tensor *)a)->name, ((const struct ts_st_tensor *)b)->name);
}

// ---- shard index -------------------------------------------------------------------------------

static enum ts_status st_open_index(ts_st * st, const char * path) {
    json_error_t jerr;
    json_t * root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (access(path, R_OK) != 0)
            return ts_error(TS_ERR_IO, NULL, "cannot open shard index '%s': %s", path, strerror(errno));
        return ts_error(TS_ERR_FORMAT, "the index may be truncated", "shard index '%s': bad JSON at line %d: %s", path,
                        jerr.line, jerr.text);
    }
    enum ts_status s = TS_OK;
    json_t * map = json_object_get(root, "weight_map");
    if (!json_is_object(map)) {
        json_decref(root);
        return ts_error(TS_ERR_FORMAT, "a shard index is an object with a 'weight_map'",
                        "shard index '%s' has no 'weight_map' object", path);
    }
    // folder of the index
    const char * slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path + 1) : 0;
    const char * key;
    json_t * v;
    // open each distinct shard once, in order of first mention
    json_object_foreach(map, key, v) {
        if (!json_is_string(v)) {
            s = ts_error(TS_ERR_FORMAT, NULL, "shard index '%s': the entry for '%s' is not a file name", path, key);
            break;
        }
        const char * fn = json_string_value(v);
        if (strchr(fn, '/') || strcmp(fn, "..") == 0) {
            s = ts_error(TS_ERR_FORMAT, NULL, "shard index '%s' names '%s', outside its folder", path, fn);
            break;
        }
        char * full = ts_malloc(dlen + strlen(fn) + 1);
        memcpy(full, path, dlen);
        strcpy(full + dlen, fn);
        int seen = 0;
        for (int f = 0; f < st->n_files; f++) seen |= strcmp(st->files[f].path, full) == 0;
        if (!seen) {
            if (access(full, F_OK) != 0)
                s = ts_error(TS_ERR_IO,
                             "download every shard the index lists (an interrupted download leaves some out)",
                             "shard '%s' named by index '%s' is missing", full, path);
            else
                s = st_open_file(st, full);
        }
        free(full);
        if (s != TS_OK) break;
    }
    if (s == TS_OK) {
        qsort(st->tensors, (size_t)st->n_tensors, sizeof *st->tensors, st_cmp);
        json_object_foreach(map, key, v) {
            const struct ts_st_tensor * t = ts_st_find(st, key);
            const char * fn = json_string_value(v);
            const char * tf = t ? strrchr(st->files[t->file].path, '/') : NULL;
            tf = tf ? tf + 1 : t ? st->files[t->file].path : NULL;
            if (!t || strcmp(tf, fn) != 0) {
                s = ts_error(TS_ERR_FORMAT, "the shards do not match their index: download them again",
                             "shard index '%s' names tensor '%s' in '%s', which does not hold it", path, key, fn);
                break;
            }
        }
    }
    json_decref(root);
    return s;
}

// ---- the API -----------------------------------------------------------------------------------

void ts_st_close(ts_st ** pst) {
    if (!pst || !*pst) return;
    ts_st * st = *pst;
    for (int i = 0; i < st->n_files; i++) {
        if (st->files[i].map) munmap(st->files[i].map, st->files[i].size);
        free(st->files[i].path);
    }
    for (int i = 0; i < st->n_tensors; i++) free((char *)st->tensors[i].name);
    free(st->files);
    free(st->tensors);
    json_decref(st->metadata);
    free(st->path);
    free(st);
    *pst = NULL;
}

enum ts_status ts_st_open(const char * path, ts_st ** out) {
    TS_ASSERT(path && out);
    *out = NULL;
    ts_st * st = ts_calloc(1, sizeof *st);
    st->path = st_strdup(path);
    enum ts_status s = ends_with(path, ".index.json") ? st_open_index(st, path) : st_open_file(st, path);
    if (s == TS_OK) {
        qsort(st->tensors, (size_t)st->n_tensors, sizeof *st->tensors, st_cmp);
        for (int i = 1; i < st->n_tensors && s == TS_OK; i++)
            if (strcmp(st->tensors[i - 1].name, st->tensors[i].name) == 0)
                s = ts_error(TS_ERR_FORMAT, "the shards overlap: download them again",
                             "tensor '%s' is stored twice ('%s' and '%s')", st->tensors[i].name,
                             st->files[st->tensors[i - 1].file].path, st->files[st->tensors[i].file].path);
    }
    if (s != TS_OK) {
        ts_st_close(&st);
        return s;
    }
    *out = st;
    return TS_OK;
}

int ts_st_count(const ts_st * st) { return st->n_tensors; }
const struct ts_st_tensor * ts_st_at(const ts_st * st, int i) { return &st->tensors[i]; }
const char * ts_st_path(const ts_st * st) { return st->path; }
int ts_st_file_count(const ts_st * st) { return st->n_files; }
const char * ts_st_file_path(const ts_st * st, int file) { return st->files[file].path; }

uint64_t ts_st_mapped_bytes(const ts_st * st) {
    uint64_t n = 0;
    for (int i = 0; i < st->n_files; i++) n += st->files[i].size;
    return n;
}

const struct ts_st_tensor * ts_st_find(const ts_st * st, const char * name) {
    int lo = 0, hi = st->n_tensors - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(st->tensors[mid].name, name);
        if (c == 0) return &st->tensors[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

const char * ts_st_metadata(const ts_st * st, const char * key) {
    return st->metadata ? json_string_value(json_object_get(st->metadata, key)) : NULL;
}

// Adds a whole (small) file to the digest.
#ifndef TS_NO_OPENSSL
static enum ts_status digest_file(EVP_MD_CTX * ctx, const char * path) {
    FILE * f = fopen(path, "rb");
    if (!f) return ts_error(TS_ERR_IO, NULL, "cannot read '%s' for the model digest: %s", path, strerror(errno));
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) EVP_DigestUpdate(ctx, buf, n);
    fclose(f);
    return TS_OK;
}
#endif

enum ts_status ts_st_digest(const ts_st * st, const char * extra, char hex[65]) {
#ifdef TS_NO_OPENSSL
    (void)st, (void)extra;
    hex[0] = 0;
    return ts_error(TS_ERR_IO, "install libssl-dev and rebuild", "model digest unavailable: built without OpenSSL");
#else
    EVP_MD_CTX * ctx = EVP_MD_CTX_new();
    TS_ASSERT(ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1);
    enum ts_status s = TS_OK;
    if (ends_with(st->path, ".index.json")) s = digest_file(ctx, st->path);
    for (int i = 0; i < st->n_files && s == TS_OK; i++) {
        uint64_t hlen = 0;
        for (int k = 7; k >= 0; k--) hlen = (hlen << 8) | st->files[i].map[k];
        EVP_DigestUpdate(ctx, st->files[i].map, 8 + (size_t)hlen);
    }
    if (s == TS_OK && extra) s = digest_file(ctx, extra);
    unsigned char md[32];
    unsigned int mdn = 0;
    EVP_DigestFinal_ex(ctx, md, &mdn);
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return s;
#endif
}
