// umT5's encoder (umt5.h): safetensors memory-mapped in their stored dtype, the
// layouts' name tables, and the forward one layer at a time in float32.
#include "model/wan/umt5.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "model/wan/tokenizer.h"  // TS_WAN_TEXT_LEN

#define UMT5_HINT "umT5 loads from a text_encoder/ directory (config.json + safetensors) or one .safetensors file"

// ---- safetensors, memory-mapped -------------------------------------------------

enum st_dtype { ST_F32, ST_F16, ST_BF16, ST_OTHER };  // OTHER: kept as bytes (e.g. U8 spiece_model)

struct st_tensor {
    char * name;  // owned
    enum st_dtype dtype;
    char dtype_str[16];  // as the header writes it
    int ndim;
    int64_t shape[4];
    const unsigned char * data;  // into the file's mapping
    size_t bytes;
};

struct st_file {
    void * map;
    size_t size;
};

struct ts_umt5 {
    struct ts_umt5_config cfg;
    char path[1024];
    struct st_file * files;  // owned, n_files mappings
    int n_files;
    struct st_tensor * t;  // owned, n_t
    int n_t;
    // the tensors this model reads, by role (pointers into t)
    const struct st_tensor * embed;       // (vocab, d_model)
    const struct st_tensor * final_norm;  // (d_model)
    struct umt5_layer {
        const struct st_tensor *ln1, *q, *k, *v, *o, *rel, *ln2, *wi0, *wi1, *wo;
    } * layer;  // owned, cfg.layers
    ts_backend_t be;
    int own_be;
};

static size_t dtype_bytes(const char * dt) {  // safetensors' dtypes; 0 for unknown
    static const struct {
        const char * name;
        size_t bytes;
    } tab[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
               {"I8", 1},  {"U64", 8}, {"U32", 4}, {"U16", 2},  {"U8", 1},  {"BOOL", 1}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(tab[i].name, dt) == 0) return tab[i].bytes;
    return 0;
}

static enum ts_status st_open(struct ts_umt5 * m, const char * path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return ts_error(TS_ERR_IO, UMT5_HINT, "cannot open umT5 weights '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || sb.st_size < 8) {
        close(fd);
        return ts_error(TS_ERR_FORMAT, UMT5_HINT, "umT5 weights '%s' are not a safetensors file (too short)", path);
    }
    size_t size = (size_t)sb.st_size;
    void * map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return ts_error(TS_ERR_IO, UMT5_HINT, "cannot map '%s': %s", path, strerror(errno));
    m->files = realloc(m->files, (size_t)(m->n_files + 1) * sizeof *m->files);
    TS_ASSERT(m->files);
    m->files[m->n_files++] = (struct st_file){map, size};
    const unsigned char * p = map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | p[i];
    if (hlen > size - 8)
        return ts_error(TS_ERR_FORMAT, UMT5_HINT, "'%s' is not a safetensors file (header length %llu past its end)",
                        path, (unsigned long long)hlen);
    json_error_t jerr;
    json_t * h = json_loadb((const char *)p + 8, (size_t)hlen, 0, &jerr);
    if (!json_is_object(h)) {
        json_decref(h);
        return ts_error(TS_ERR_FORMAT, UMT5_HINT, "'%s' is not a safetensors file (its header is not JSON: %s)", path,
                        jerr.text);
    }
    const unsigned char * data = p + 8 + hlen;
    size_t data_n = size - 8 - (size_t)hlen;
    enum ts_status st = TS_OK;
    const char * key;
    json_t * v;
    json_object_foreach(h, key, v) {
        if (strcmp(key, "__metadata__") == 0) continue;
        const char * dt = json_string_value(json_object_get(v, "dtype"));
        json_t * shape = json_object_get(v, "shape");
        json_t * offs = json_object_get(v, "data_offsets");
        if (!dt || !json_is_array(shape) || json_array_size(offs) != 2 || json_array_size(shape) > 4) {
            st = ts_error(TS_ERR_FORMAT, UMT5_HINT, "'%s': tensor '%s' has a malformed header entry", path, key);
            break;
        }
        struct st_tensor t = {0};
        if (strncmp(dt, "F8", 2) == 0) {
            st = ts_error(
                TS_ERR_FORMAT,
                "fp8 text encoders are not supported: use the fp16 or bf16 file (e.g. umt5_xxl_fp16.safetensors)",
                "'%s': tensor '%s' has dtype %s", path, key, dt);
            break;
        }
        size_t eb = dtype_bytes(dt);
        if (!eb) {
            st = ts_error(TS_ERR_FORMAT, UMT5_HINT, "'%s': tensor '%s' has unknown dtype '%s'", path, key, dt);
            break;
        }
        t.dtype = strcmp(dt, "F32") == 0    ? ST_F32
                  : strcmp(dt, "F16") == 0  ? ST_F16
                  : strcmp(dt, "BF16") == 0 ? ST_BF16
                                            : ST_OTHER;
        snprintf(t.dtype_str, sizeof t.dtype_str, "%s", dt);
        t.ndim = (int)json_array_size(shape);
        size_t numel = 1;
        for (int d = 0; d < t.ndim; d++) {
            t.shape[d] = json_integer_value(json_array_get(shape, (size_t)d));
            numel *= (size_t)t.shape[d];
        }
        json_int_t b = json_integer_value(json_array_get(offs, 0)), e = json_integer_value(json_array_get(offs, 1));
        if (b < 0 || e < b || (size_t)e > data_n || (size_t)(e - b) != numel * eb) {
            st = ts_error(TS_ERR_FORMAT, UMT5_HINT, "'%s': tensor '%s' has data offsets [%lld, %lld) that do not fit",
                          path, key, (long long)b, (long long)e);
            break;
        }
        t.data = data + b;
        t.bytes = (size_t)(e - b);
        t.name = strdup(key);
        TS_ASSERT(t.name);
        m->t = realloc(m->t, (size_t)(m->n_t + 1) * sizeof *m->t);
        TS_ASSERT(m->t);
        m->t[m->n_t++] = t;
    }
    json_decref(h);
    return st;
}

static const struct st_tensor * st_find(const struct ts_umt5 * m, const char * name) {
    for (int i = 0; i < m->n_t; i++)
        if (strcmp(m->t[i].name, name) == 0) return &m->t[i];
    return NULL;
}

static inline float f16_to_f32(uint16_t h) {
    uint32_t s = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1F, f = h & 0x3FF, u;
    if (e == 0) {
        if (f == 0)
            u = s;
        else {  // subnormal
            e = 127 - 15 + 1;
            while (!(f & 0x400)) f <<= 1, e--;
            u = s | (e << 23) | ((f & 0x3FF) << 13);
        }
    } else if (e == 31)
        u = s | 0x7F800000u | (f << 13);
    else
        u = s | ((e + 127 - 15) << 23) | (f << 13);
    float r;
    memcpy(&r, &u, 4);
    return r;
}

// n values from element `first` of t, converted to float32.
static void st_to_f32(const struct st_tensor * t, size_t first, size_t n, float * dst) {
    if (t->dtype == ST_F32) {
        memcpy(dst, t->data + 4 * first, 4 * n);
        return;
    }
    const unsigned char * p = t->data + 2 * first;
#pragma omp parallel for schedule(static) if (n >= (1 << 16))
    for (size_t i = 0; i < n; i++) {
        uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
        if (t->dtype == ST_F16)
            dst[i] = f16_to_f32(h);
        else {
            uint32_t u = (uint32_t)h << 16;
            memcpy(&dst[i], &u, 4);
        }
    }
}
static size_t st_numel(const struct st_tensor * t) {
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
    return n;
}
// Drops the tensor's pages from this process (they are read again from the file).
static void st_release(const struct st_tensor * t) {
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t b = ((uintptr_t)t->data + (uintptr_t)pg - 1) & ~(uintptr_t)(pg - 1);
    uintptr_t e = ((uintptr_t)t->data + t->bytes) & ~(uintptr_t)(pg - 1);
    if (e > b) madvise((void *)b, e - b, MADV_DONTNEED);
}

// The whole tensor in float32, then its pages dropped from this process.
static void to_f32(const struct st_tensor * t, float * dst) {
    st_to_f32(t, 0, st_numel(t), dst);
    st_release(t);
}

// ---- loading ---------------------------------------------------------------------

static int is_dir(const char * p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}
static int is_file(const char * p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static enum ts_status open_dir(struct ts_umt5 * m, const char * dir) {
    char p[2048];
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    if (is_file(p)) {  // sharded: every file the weight map names, once
        json_error_t jerr;
        json_t * idx = json_load_file(p, 0, &jerr);
        json_t * wm = json_object_get(idx, "weight_map");
        if (!json_is_object(wm)) {
            json_decref(idx);
            return ts_error(TS_ERR_FORMAT, UMT5_HINT, "'%s' has no weight_map", p);
        }
        enum ts_status st = TS_OK;
        char ** seen = NULL;
        int n_seen = 0;
        const char * key;
        json_t * v;
        json_object_foreach(wm, key, v) {
            const char * f = json_string_value(v);
            int dup = 0;
            for (int i = 0; f && i < n_seen; i++) dup |= strcmp(seen[i], f) == 0;
            if (!f || dup) continue;
            seen = realloc(seen, (size_t)(n_seen + 1) * sizeof *seen);
            seen[n_seen++] = strdup(f);
            snprintf(p, sizeof p, "%s/%s", dir, f);
            if (!is_file(p)) {
                st = ts_error(TS_ERR_IO, "download every shard the index names",
                              "umT5 shard '%s' (named by %s/model.safetensors.index.json) is missing", p, dir);
                break;
            }
            if ((st = st_open(m, p)) != TS_OK) break;
        }
        if (st == TS_OK)  // every tensor the index names is in a shard
            json_object_foreach(wm, key, v) if (!st_find(m, key)) {
                st = ts_error(TS_ERR_FORMAT, UMT5_HINT, "the umT5 shard index names tensor '%s', which no shard holds",
                              key);
                break;
            }
        for (int i = 0; i < n_seen; i++) free(seen[i]);
        free(seen);
        json_decref(idx);
        return st;
    }
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    if (is_file(p)) return st_open(m, p);
    return ts_error(TS_ERR_IO, UMT5_HINT,
                    "umT5 directory '%s' has neither model.safetensors nor model.safetensors.index.json", dir);
}

static enum ts_status need(const struct ts_umt5 * m, const char * name, int ndim, int64_t a, int64_t b,
                           const struct st_tensor ** out) {
    const struct st_tensor * t = st_find(m, name);
    if (!t)
        return ts_error(TS_ERR_MODEL,
                        "is it a umT5 text encoder (transformers' UMT5EncoderModel or Wan's umt5-xxl encoder)?",
                        "umT5 weights '%s' have no tensor '%s'", m->path, name);
    if (t->ndim != ndim || t->shape[0] != a || (ndim == 2 && t->shape[1] != b))
        return ts_error(TS_ERR_MODEL, "the tensors disagree with each other or with config.json",
                        "umT5 tensor '%s' has shape (%lld%s%lld), expected (%lld%s%lld)", name, (long long)t->shape[0],
                        t->ndim == 2 ? ", " : "", t->ndim == 2 ? (long long)t->shape[1] : 0LL, (long long)a,
                        ndim == 2 ? ", " : "", ndim == 2 ? (long long)b : 0LL);
    if (t->dtype == ST_OTHER)
        return ts_error(TS_ERR_FORMAT, "umT5 weights are F32, F16 or BF16", "umT5 tensor '%s' has dtype %s", name,
                        t->dtype_str);
    *out = t;
    return TS_OK;
}

static int cfg_int(json_t * c, const char * key, int * v) {
    json_t * x = json_object_get(c, key);
    if (!json_is_integer(x)) return 0;
    *v = (int)json_integer_value(x);
    return 1;
}

// The config: sizes from the tensors' shapes, checked against config.json when there is one.
static enum ts_status resolve(struct ts_umt5 * m, const char * dir) {
    enum { TF, WAN } layout;
    const char * pre = "encoder.";
    if (st_find(m, "token_embedding.weight"))
        layout = WAN;
    else {
        layout = TF;
        if (!st_find(m, "encoder.block.0.layer.0.SelfAttention.q.weight") &&
            st_find(m, "block.0.layer.0.SelfAttention.q.weight"))
            pre = "";
    }
    char n[256];
    const struct st_tensor * e = st_find(m, layout == WAN ? "token_embedding.weight" : "shared.weight");
    if (!e && layout == TF) {
        snprintf(n, sizeof n, "%sembed_tokens.weight", pre);
        e = st_find(m, n);
    }
    const char * q0 = layout == WAN ? "blocks.0.attn.q.weight" : NULL;
    char q0b[128], rel0[128], wi0[128];
    if (layout == TF) {
        snprintf(q0b, sizeof q0b, "%sblock.0.layer.0.SelfAttention.q.weight", pre);
        q0 = q0b;
    }
    snprintf(rel0, sizeof rel0,
             layout == WAN ? "blocks.0.pos_embedding.embedding.weight"
                           : "%sblock.0.layer.0.SelfAttention.relative_attention_bias.weight",
             pre);
    snprintf(wi0, sizeof wi0,
             layout == WAN ? "blocks.0.ffn.gate.0.weight" : "%sblock.0.layer.1.DenseReluDense.wi_0.weight", pre);
    const struct st_tensor *tq = st_find(m, q0), *tr = st_find(m, rel0), *tf = st_find(m, wi0);
    if (e && e->dtype == ST_OTHER)
        return ts_error(TS_ERR_FORMAT, "umT5 weights are F32, F16 or BF16", "umT5 tensor '%s' has dtype %s", e->name,
                        e->dtype_str);
    if (!e || !tq || !tr || !tf || e->ndim != 2 || tq->ndim != 2 || tr->ndim != 2 || tf->ndim != 2) {
        if (!tf && layout == TF) {
            snprintf(n, sizeof n, "%sblock.0.layer.1.DenseReluDense.wi.weight", pre);
            if (st_find(m, n))
                return ts_error(TS_ERR_MODEL, "umT5 (Wan2.1's text encoder) has a gated GELU feed-forward",
                                "umT5 weights '%s' have a non-gated feed-forward ('%s')", m->path, n);
        }
        return ts_error(TS_ERR_MODEL,
                        "is it a umT5 text encoder (transformers' UMT5EncoderModel or Wan's umt5-xxl encoder)?",
                        "umT5 weights '%s' have no tensor '%s'", m->path,
                        !e    ? (layout == WAN ? "token_embedding.weight" : "shared.weight")
                        : !tq ? q0
                        : !tr ? rel0
                              : wi0);
    }
    struct ts_umt5_config * c = &m->cfg;
    c->vocab = (int)e->shape[0];
    c->d_model = (int)e->shape[1];
    c->buckets = (int)tr->shape[0];
    c->heads = (int)tr->shape[1];
    c->d_kv = (int)(tq->shape[0] / c->heads);
    c->d_ff = (int)tf->shape[0];
    c->max_distance = 128;
    c->eps = 1e-6;
    for (c->layers = 0;; c->layers++) {
        if (layout == WAN)
            snprintf(n, sizeof n, "blocks.%d.attn.q.weight", c->layers);
        else
            snprintf(n, sizeof n, "%sblock.%d.layer.0.SelfAttention.q.weight", pre, c->layers);
        if (!st_find(m, n)) break;
    }
    if (dir) {  // config.json, when there is one, must agree
        char p[2048];
        snprintf(p, sizeof p, "%s/config.json", dir);
        if (is_file(p)) {
            json_error_t jerr;
            json_t * j = json_load_file(p, 0, &jerr);
            if (!j)
                return ts_error(TS_ERR_FORMAT, UMT5_HINT, "'%s' is not valid JSON: %s (line %d)", p, jerr.text,
                                jerr.line);
            const char * keys[] = {"d_model", "num_heads",  "d_kv",
                                   "d_ff",    "num_layers", "relative_attention_num_buckets"};
            const int have[] = {c->d_model, c->heads, c->d_kv, c->d_ff, c->layers, c->buckets};
            const char * bad = NULL;
            int v, got = 0, want = 0;
            for (int i = 0; i < 6 && !bad; i++)
                if (cfg_int(j, keys[i], &v) && v != have[i]) bad = keys[i], got = v, want = have[i];
            if (cfg_int(j, "relative_attention_max_distance", &v)) c->max_distance = v;
            json_t * eps = json_object_get(j, "layer_norm_epsilon");
            if (json_is_number(eps)) c->eps = json_number_value(eps);
            const char * ffj = json_string_value(json_object_get(j, "feed_forward_proj"));
            char ffb[64] = "";
            const char * ff = ffj ? (snprintf(ffb, sizeof ffb, "%s", ffj), ffb) : NULL;
            int gated = ff && strncmp(ff, "gated-", 6) == 0;
            int gelu = ff && strcmp(ff, "gated-gelu") == 0;
            json_decref(j);
            if (bad)
                return ts_error(TS_ERR_MODEL, "the tensors disagree with config.json",
                                "'%s' says %s = %d, the tensors %d", p, bad, got, want);
            if (ff && (!gated || !gelu))
                return ts_error(TS_ERR_MODEL, "umT5 (Wan2.1's text encoder) uses feed_forward_proj \"gated-gelu\"",
                                "'%s': feed_forward_proj \"%s\" is not supported", p, ff);
        }
    }
    if (c->layers < 1 || c->heads < 1 || c->d_kv < 1 || (int64_t)c->heads * c->d_kv != tq->shape[0])
        return ts_error(TS_ERR_MODEL, UMT5_HINT, "umT5 weights '%s': inconsistent attention shapes", m->path);
    // every tensor of every layer, by role, with its shape
    const int64_t d = c->d_model, in = (int64_t)c->heads * c->d_kv, f = c->d_ff;
    m->embed = e;
    m->layer = ts_calloc((size_t)c->layers, sizeof *m->layer);
    for (int l = 0; l < c->layers; l++) {
        struct umt5_layer * L = &m->layer[l];
        struct {
            const char *tf, *wan;
            int ndim;
            int64_t a, b;
            const struct st_tensor ** dst;
        } roles[] = {
            {"layer.0.layer_norm", "norm1", 1, d, 0, &L->ln1},
            {"layer.0.SelfAttention.q", "attn.q", 2, in, d, &L->q},
            {"layer.0.SelfAttention.k", "attn.k", 2, in, d, &L->k},
            {"layer.0.SelfAttention.v", "attn.v", 2, in, d, &L->v},
            {"layer.0.SelfAttention.o", "attn.o", 2, d, in, &L->o},
            {"layer.0.SelfAttention.relative_attention_bias", "pos_embedding.embedding", 2, c->buckets, c->heads,
             &L->rel},
            {"layer.1.layer_norm", "norm2", 1, d, 0, &L->ln2},
            {"layer.1.DenseReluDense.wi_0", "ffn.gate.0", 2, f, d, &L->wi0},
            {"layer.1.DenseReluDense.wi_1", "ffn.fc1", 2, f, d, &L->wi1},
            {"layer.1.DenseReluDense.wo", "ffn.fc2", 2, d, f, &L->wo},
        };
        for (size_t r = 0; r < sizeof roles / sizeof roles[0]; r++) {
            if (layout == WAN)
                snprintf(n, sizeof n, "blocks.%d.%s.weight", l, roles[r].wan);
            else
                snprintf(n, sizeof n, "%sblock.%d.%s.weight", pre, l, roles[r].tf);
            TS_TRY(need(m, n, roles[r].ndim, roles[r].a, roles[r].b, roles[r].dst));
        }
    }
    if (layout == WAN)
        snprintf(n, sizeof n, "norm.weight");
    else
        snprintf(n, sizeof n, "%sfinal_layer_norm.weight", pre);
    return need(m, n, 1, d, 0, &m->final_norm);
}

enum ts_status ts_umt5_load(const char * path, ts_backend_t be, ts_umt5_t * out) {
    *out = NULL;
    if (be && strcmp(be->ops->name, "cpu") != 0)
        return ts_error(TS_ERR_ARG, "the text encoder runs on the CPU; its output is copied to the device",
                        "umT5 runs on the CPU backend, not '%s'", be->ops->name);
    struct ts_umt5 * m = ts_calloc(1, sizeof *m);
    snprintf(m->path, sizeof m->path, "%s", path);
    enum ts_status st;
    const char * dir = NULL;
    if (is_dir(path)) {
        dir = path;
        st = open_dir(m, path);
    } else if (is_file(path)) {
        st = st_open(m, path);
    } else {
        st = ts_error(TS_ERR_IO, UMT5_HINT, "umT5 weights '%s' do not exist", path);
    }
    if (st == TS_OK) st = resolve(m, dir);
    if (st != TS_OK) {
        ts_umt5_free(&m);
        return st;
    }
    TS_DEBUG("umT5 '%s': %d layers, d_model %d, %d heads x %d, d_ff %d, vocab %d, %s", path, m->cfg.layers,
             m->cfg.d_model, m->cfg.heads, m->cfg.d_kv, m->cfg.d_ff, m->cfg.vocab, m->embed->dtype_str);
    m->be = be;
    if (!be) {
        m->be = ts_backend_cpu_new(0);
        m->own_be = 1;
    }
    *out = m;
    return TS_OK;
}

void ts_umt5_free(ts_umt5_t * enc) {
    if (!enc || !*enc) return;
    struct ts_umt5 * m = *enc;
    for (int i = 0; i < m->n_t; i++) free(m->t[i].name);
    free(m->t);
    for (int i = 0; i < m->n_files; i++) munmap(m->files[i].map, m->files[i].size);
    free(m->files);
    free(m->layer);
    if (m->own_be) ts_backend_free(&m->be);
    free(m);
    *enc = NULL;
}

const struct ts_umt5_config * ts_umt5_config(const ts_umt5_t enc) { return &enc->cfg; }

int ts_umt5_spiece(const ts_umt5_t enc, const void ** data, size_t * n) {
    const struct st_tensor * t = st_find(enc, "spiece_model");
    if (!t || strcmp(t->dtype_str, "U8") != 0) return 0;
    *data = t->data;
    *n = t->bytes;
    return 1;
}
int ts_umt5_dim(const ts_umt5_t enc) { return enc->cfg.d_model; }

// ---- the forward -------------------------------------------------------------------

// transformers' UMT5Attention._relative_position_bucket, bidirectional, in float32 as it is.
static int rel_bucket(int rel, int buckets, int max_distance) {
    int nb = buckets / 2, b = rel > 0 ? nb : 0;
    int a = rel < 0 ? -rel : rel, max_exact = nb / 2;
    if (a < max_exact) return b + a;
    float lr =
        logf((float)a / (float)max_exact) / (float)log((double)max_distance / max_exact) * (float)(nb - max_exact);
    int large = max_exact + (int)lr;
    return b + (large < nb - 1 ? large : nb - 1);
}

static void rmsnorm(float * y, const float * x, const float * w, int n, int d, double eps) {
    for (int i = 0; i < n; i++) {
        const float * xi = x + (size_t)i * d;
        float * yi = y + (size_t)i * d;
        double ss = 0.0;
        for (int j = 0; j < d; j++) ss += (double)xi[j] * xi[j];
        float r = (float)(1.0 / sqrt(ss / d + eps));
        for (int j = 0; j < d; j++) yi[j] = w[j] * (xi[j] * r);
    }
}

// out (n, H*dk) = softmax(q k^T + bias(i - j) + kbias_j) v, per head; q, k, v (n, H*dk).
static void attention(float * out, const float * q, const float * k, const float * v, const float * rel,
                      const float * kbias, int n, int H, int dk, int buckets, int max_distance, int threads) {
    const int inner = H * dk;
    int * bucket = ts_malloc(sizeof(int) * (size_t)(2 * n - 1));  // by j - i + n - 1
    for (int r = -(n - 1); r <= n - 1; r++) bucket[r + n - 1] = rel_bucket(r, buckets, max_distance);
#pragma omp parallel num_threads(threads)
    {
        float * p = ts_malloc(sizeof(float) * (size_t)n);
#pragma omp for collapse(2) schedule(static)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < n; i++) {
                const float * qi = q + (size_t)i * inner + (size_t)h * dk;
                float mx = -INFINITY;
                for (int j = 0; j < n; j++) {
                    const float * kj = k + (size_t)j * inner + (size_t)h * dk;
                    float s = 0.0f;
                    for (int c = 0; c < dk; c++) s += qi[c] * kj[c];
                    s += rel[(size_t)bucket[j - i + n - 1] * H + h] + (kbias ? kbias[j] : 0.0f);
                    p[j] = s;
                    if (s > mx) mx = s;
                }
                double sum = 0.0;
                for (int j = 0; j < n; j++) sum += (p[j] = expf(p[j] - mx));
                float inv = (float)(1.0 / sum);
                float * oi = out + (size_t)i * inner + (size_t)h * dk;
                for (int c = 0; c < dk; c++) oi[c] = 0.0f;
                for (int j = 0; j < n; j++) {
                    const float * vj = v + (size_t)j * inner + (size_t)h * dk;
                    float pj = p[j] * inv;
                    for (int c = 0; c < dk; c++) oi[c] += pj * vj[c];
                }
            }
        free(p);
    }
    free(bucket);
}

enum ts_status ts_umt5_encode(ts_umt5_t m, const int32_t * ids, int n, const float * weight, float * out) {
    struct ts_umt5_prompt p = {ids, n, weight, out};
    return ts_umt5_encode_batch(m, &p, 1);
}

enum ts_status ts_umt5_encode_batch(ts_umt5_t m, const struct ts_umt5_prompt * pr, int n_prompts) {
    const struct ts_umt5_config * c = &m->cfg;
    int n = 0;  // rows of all prompts, one after the other
    for (int p = 0; p < n_prompts; p++) {
        if (pr[p].n_valid < 1 || pr[p].n_valid > TS_WAN_TEXT_LEN)
            return ts_error(TS_ERR_ARG, NULL, "umT5 takes 1..%d tokens, not %d", TS_WAN_TEXT_LEN, pr[p].n_valid);
        for (int i = 0; i < pr[p].n_valid; i++) {
            if (pr[p].ids[i] < 0 || pr[p].ids[i] >= c->vocab)
                return ts_error(TS_ERR_ARG, "the tokenizer and the text encoder must come from the same checkpoint",
                                "token id %d (position %d) is outside umT5's vocabulary of %d", pr[p].ids[i], i,
                                c->vocab);
            if (pr[p].weight && !(pr[p].weight[i] > 0.0f))
                return ts_error(TS_ERR_ARG, NULL, "prompt weight %g at token %d is not positive", pr[p].weight[i], i);
        }
        n += pr[p].n_valid;
    }
    if (n_prompts < 1) return TS_OK;
    const int d = c->d_model, in = c->heads * c->d_kv, f = c->d_ff;
    const size_t dd = (size_t)d;
    // activations (n, ...): the prompts' rows stacked; a GEMM row does not depend on the others
    float * x = ts_malloc(sizeof(float) * (size_t)n * dd);
    float * h = ts_malloc(sizeof(float) * (size_t)n * dd);
    float * qkv = ts_malloc(sizeof(float) * (size_t)n * 3 * (size_t)in);
    float * att = ts_malloc(sizeof(float) * (size_t)n * (size_t)in);
    float * f0 = ts_malloc(sizeof(float) * (size_t)n * (size_t)f);
    float * f1 = ts_malloc(sizeof(float) * (size_t)n * (size_t)f);
    float * kb = ts_malloc(sizeof(float) * (size_t)n);  // log of the prompt weights
    // weights in float32, a group of matrices at a time: q|k|v, o, wi_0|wi_1, wo
    size_t w_attn = (size_t)in * dd, w_ff = (size_t)f * dd;
    size_t w_max = 3 * w_attn > 2 * w_ff ? 3 * w_attn : 2 * w_ff;
    float * w = ts_malloc(sizeof(float) * (w_max + 3 * dd + (size_t)c->buckets * c->heads));
    float *ln1 = w + w_max, *ln2 = ln1 + dd, *lnf = ln2 + dd, *rel = lnf + dd;
    for (int p = 0, r = 0; p < n_prompts; r += pr[p++].n_valid)
        for (int i = 0; i < pr[p].n_valid; i++) {
            st_to_f32(m->embed, (size_t)pr[p].ids[i] * dd, dd, x + (size_t)(r + i) * dd);
            kb[r + i] = pr[p].weight ? logf(pr[p].weight[i]) : 0.0f;
        }
    ts_backend_t be = m->be;
    float *q = qkv, *k = qkv + (size_t)n * in, *v = k + (size_t)n * in;
    for (int l = 0; l < c->layers; l++) {
        const struct umt5_layer * L = &m->layer[l];
        to_f32(L->ln1, ln1), to_f32(L->ln2, ln2), to_f32(L->rel, rel);
        rmsnorm(h, x, ln1, n, d, c->eps);
        to_f32(L->q, w), to_f32(L->k, w + w_attn), to_f32(L->v, w + 2 * w_attn);
        be->ops->linear(be, q, in, h, d, w, NULL, n, d, in);
        be->ops->linear(be, k, in, h, d, w + w_attn, NULL, n, d, in);
        be->ops->linear(be, v, in, h, d, w + 2 * w_attn, NULL, n, d, in);
        for (int p = 0, r = 0; p < n_prompts; r += pr[p++].n_valid) {
            size_t o = (size_t)r * in;
            attention(att + o, q + o, k + o, v + o, rel, pr[p].weight ? kb + r : NULL, pr[p].n_valid, c->heads, c->d_kv,
                      c->buckets, c->max_distance, be->threads > 0 ? be->threads : 1);
        }
        to_f32(L->o, w);
        be->ops->linear(be, h, d, att, in, w, NULL, n, in, d);
        for (size_t i = 0; i < (size_t)n * dd; i++) x[i] += h[i];
        rmsnorm(h, x, ln2, n, d, c->eps);
        to_f32(L->wi0, w), to_f32(L->wi1, w + w_ff);
        be->ops->linear(be, f0, f, h, d, w, NULL, n, d, f);
        be->ops->linear(be, f1, f, h, d, w + w_ff, NULL, n, d, f);
        be->ops->gelu(be, f0, (int64_t)n * f);
        for (size_t i = 0; i < (size_t)n * f; i++) f0[i] *= f1[i];
        to_f32(L->wo, w);
        be->ops->linear(be, h, d, f0, f, w, NULL, n, f, d);
        for (size_t i = 0; i < (size_t)n * dd; i++) x[i] += h[i];
    }
    to_f32(m->final_norm, lnf);
    for (int p = 0, r = 0; p < n_prompts; r += pr[p++].n_valid) {
        rmsnorm(pr[p].out, x + (size_t)r * dd, lnf, pr[p].n_valid, d, c->eps);
        memset(pr[p].out + (size_t)pr[p].n_valid * dd, 0,
               sizeof(float) * (size_t)(TS_WAN_TEXT_LEN - pr[p].n_valid) * dd);
    }
    free(x), free(h), free(qkv), free(att), free(f0), free(f1), free(w), free(kb);
    return TS_OK;
}
