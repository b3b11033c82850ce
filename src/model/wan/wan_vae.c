// The Wan2.1 causal 3D VAE as diffusers' AutoencoderKLWan computes it, streamed one
// frame at a time: the network is a list of stages, each taking one frame and
// handing on zero, one or two frames, every causal conv keeping its last two input
// frames (diffusers' feat_cache). Loading from a diffusers vae/ or the original naming.
#include "model/wan/wan_vae.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>  // INT64_MIN
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>  // access

#include "core/common.h"  // ts_error, TS_ASSERT, ts_malloc
#include "io/weights.h"   // ts_weights_open, ts_weights_read (float32 conversion)

#define MAX_STAGES 96

enum stage_kind {
    ST_POINT,   // 1x1x1 conv (post_quant_conv, quant_conv)
    ST_CONV,    // causal conv 3x3x3 (conv_in)
    ST_RES,     // residual block: rms, silu, conv1, rms, silu, conv2, + shortcut
    ST_ATTN,    // single-head attention within the frame, + identity
    ST_UP2D,    // nearest 2x, conv 3x3
    ST_UP3D,    // time conv (C -> 2C: two frames) after the first frame, then as UP2D per frame
    ST_DOWN2D,  // zero pad right/bottom, conv 3x3 stride 2
    ST_DOWN3D,  // as DOWN2D, then a time conv stride 2 after the first frame
    ST_HEAD,    // rms, silu, causal conv 3x3x3
    ST_EMIT,    // the result frame
};

// A causal 3D convolution's weights: kernel (kt, k, k), spatial padding k/2.
struct cconv {
    int cin, cout, kt, k;
    float * w;  // (cout, kt, k, k, cin), into the model's weight block
    float * b;  // (cout)
};

struct stage {
    enum stage_kind kind;
    int div;          // the input frame's resolution: the pixel grid / div
    int cin, cout;    // channels in and out
    float * g1;       // (cin) rms gain (RES norm1, ATTN, HEAD)
    float * g2;       // (cout) rms gain (RES norm2)
    struct cconv c1;  // RES conv1, CONV, HEAD, POINT; ATTN to_qkv (3C, C); resample time conv
    struct cconv c2;  // RES conv2; ATTN proj (C, C); resample conv2d (cout, 3, 3, cin)
    struct cconv sc;  // RES shortcut (cout, cin) when cin != cout
    int has_sc;
};

struct net {
    int n;
    struct stage st[MAX_STAGES];
    int n_up3d;  // temporal doublings (decoder)
};

struct ts_wan_vae {
    ts_backend_t be;
    struct ts_wan_vae_config cfg;
    float * block;  // owned: every weight, float32 (backend memory)
    size_t block_floats;
    struct net dec, enc;
    float inv_std[64];  // 1 / std in float32, as WanPipeline's latents_std
    double last_flops;  // work of the last decode_range (ts_wan_vae_last_flops)
};

// ---- names: diffusers' and the original Wan2.1 naming ----------------------------------

// The original name of a diffusers name (the inverse of diffusers'
// convert_wan_vae_to_diffusers); tools/wan/make_vae_fixtures.py has the same table.
static void orig_name(const char * d, char * o, size_t n) {
    static const char * const res[][2] = {
        {"norm1.gamma", "residual.0.gamma"},         {"conv1.weight", "residual.2.weight"},
        {"conv1.bias", "residual.2.bias"},           {"norm2.gamma", "residual.3.gamma"},
        {"conv2.weight", "residual.6.weight"},       {"conv2.bias", "residual.6.bias"},
        {"conv_shortcut.weight", "shortcut.weight"}, {"conv_shortcut.bias", "shortcut.bias"}};
    const char * tail;
    int i, ri, r = 0;
    char part[16] = {0};
    if (!strncmp(d, "quant_conv.", 11)) {
        snprintf(o, n, "conv1.%s", d + 11);
        return;
    }
    if (!strncmp(d, "post_quant_conv.", 16)) {
        snprintf(o, n, "conv2.%s", d + 16);
        return;
    }
    const char * dot = strchr(d, '.');
    TS_ASSERT(dot && dot - d < (int)sizeof part);
    memcpy(part, d, (size_t)(dot - d));
    const char * rest = dot + 1;
#define RES_TAIL(t)                                             \
    do {                                                        \
        const char * rt = (t);                                  \
        for (size_t q = 0; q < sizeof res / sizeof res[0]; q++) \
            if (!strcmp(rt, res[q][0])) rt = res[q][1];         \
        tail = rt;                                              \
    } while (0)
    if (!strncmp(rest, "conv_in.", 8)) {
        snprintf(o, n, "%s.conv1.%s", part, rest + 8);
    } else if (!strncmp(rest, "norm_out.", 9)) {
        snprintf(o, n, "%s.head.0.%s", part, rest + 9);
    } else if (!strncmp(rest, "conv_out.", 9)) {
        snprintf(o, n, "%s.head.2.%s", part, rest + 9);
    } else if (!strncmp(rest, "mid_block.attentions.0.", 23)) {
        snprintf(o, n, "%s.middle.1.%s", part, rest + 23);
    } else if (r = 0, sscanf(rest, "mid_block.resnets.%d.%n", &i, &r) == 1 && r > 0) {
        RES_TAIL(rest + r);
        snprintf(o, n, "%s.middle.%d.%s", part, 2 * i, tail);
    } else if (r = 0, sscanf(rest, "down_blocks.%d.%n", &i, &r) == 1 && r > 0) {
        RES_TAIL(rest + r);
        snprintf(o, n, "%s.downsamples.%d.%s", part, i, tail);
    } else if (r = 0, sscanf(rest, "up_blocks.%d.resnets.%d.%n", &i, &ri, &r) == 2 && r > 0) {
        RES_TAIL(rest + r);
        snprintf(o, n, "%s.upsamples.%d.%s", part, 4 * i + ri, tail);
    } else if (r = 0, sscanf(rest, "up_blocks.%d.upsamplers.0.%n", &i, &r) == 1 && r > 0) {
        snprintf(o, n, "%s.upsamples.%d.%s", part, 4 * i + 3, rest + r);
    } else {
        snprintf(o, n, "%s", d);
    }
#undef RES_TAIL
}

// ---- building the networks (two passes: count the floats, then read) ----------------------

struct loader {
    const ts_weights * w;
    int orig;      // the file uses the original naming
    float * base;  // NULL while counting
    size_t used;   // floats handed out
    float * tmp;   // owned: staging for reordering (largest tensor)
    size_t tmp_floats;
    enum ts_status st;  // first error
};

// Floats of tensor `name` (diffusers naming) with PyTorch shape `shape`, reordered
// for 5D/4D convs from (out, in, ...) to (out, ..., in). NULL while counting.
static float * take(struct loader * L, const char * name, int ndim, const int64_t * shape) {
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= (size_t)shape[i];
    float * dst = L->base ? L->base + L->used : NULL;
    L->used += (numel + 15) / 16 * 16;  // 64-byte aligned tensors
    if (!L->base) {
        if (numel > L->tmp_floats) L->tmp_floats = numel;
        return NULL;
    }
    if (L->st != TS_OK) return dst;
    char oname[256];
    if (L->orig)
        orig_name(name, oname, sizeof oname);
    else
        snprintf(oname, sizeof oname, "%s", name);
    int reorder = ndim >= 4 && numel > (size_t)(shape[0] * shape[1]);  // spatial/temporal taps
    L->st = ts_weights_read(L->w, oname, ndim, shape, reorder ? L->tmp : dst);
    if (L->st != TS_OK || !reorder) return dst;
    size_t co = (size_t)shape[0], ci = (size_t)shape[1], taps = numel / (co * ci);
    for (size_t o = 0; o < co; o++)
        for (size_t c = 0; c < ci; c++)
            for (size_t t = 0; t < taps; t++) dst[(o * taps + t) * ci + c] = L->tmp[(o * ci + c) * taps + t];
    return dst;
}

// rms gain: diffusers stores (C, 1, 1, 1) (videos) or (C, 1, 1) (images)
static float * take_gamma(struct loader * L, const char * prefix, int C, int image) {
    char nm[320];
    snprintf(nm, sizeof nm, "%s.gamma", prefix);
    int64_t sh[4] = {C, 1, 1, 1};
    return take(L, nm, image ? 3 : 4, sh);
}

// A conv named `prefix` (.weight, .bias): 3D (kt, k, k) or, with conv2d set, 2D (k, k).
static struct cconv take_conv(struct loader * L, const char * prefix, int cin, int cout, int kt, int k, int conv2d) {
    struct cconv c = {cin, cout, kt, k, NULL, NULL};
    char nm[320];
    snprintf(nm, sizeof nm, "%s.weight", prefix);
    int64_t sh5[5] = {cout, cin, kt, k, k};
    int64_t sh4[4] = {cout, cin, k, k};
    c.w = conv2d ? take(L, nm, 4, sh4) : take(L, nm, 5, sh5);
    snprintf(nm, sizeof nm, "%s.bias", prefix);
    int64_t shb[1] = {cout};
    c.b = take(L, nm, 1, shb);
    return c;
}

static struct stage * add(struct net * N, enum stage_kind kind, int div, int cin, int cout) {
    TS_ASSERT(N->n < MAX_STAGES);
    struct stage * s = &N->st[N->n++];
    memset(s, 0, sizeof *s);
    s->kind = kind, s->div = div, s->cin = cin, s->cout = cout;
    return s;
}

static void add_res(struct loader * L, struct net * N, const char * prefix, int div, int cin, int cout) {
    char nm[256];
    struct stage * s = add(N, ST_RES, div, cin, cout);
    snprintf(nm, sizeof nm, "%s.norm1", prefix);
    s->g1 = take_gamma(L, nm, cin, 0);
    snprintf(nm, sizeof nm, "%s.conv1", prefix);
    s->c1 = take_conv(L, nm, cin, cout, 3, 3, 0);
    snprintf(nm, sizeof nm, "%s.norm2", prefix);
    s->g2 = take_gamma(L, nm, cout, 0);
    snprintf(nm, sizeof nm, "%s.conv2", prefix);
    s->c2 = take_conv(L, nm, cout, cout, 3, 3, 0);
    if (cin != cout) {
        snprintf(nm, sizeof nm, "%s.conv_shortcut", prefix);
        s->sc = take_conv(L, nm, cin, cout, 1, 1, 0);
        s->has_sc = 1;
    }
}

static void add_attn(struct loader * L, struct net * N, const char * prefix, int div, int C) {
    char nm[256];
    struct stage * s = add(N, ST_ATTN, div, C, C);
    snprintf(nm, sizeof nm, "%s.norm", prefix);
    s->g1 = take_gamma(L, nm, C, 1);
    snprintf(nm, sizeof nm, "%s.to_qkv", prefix);
    s->c1 = take_conv(L, nm, C, 3 * C, 1, 1, 1);
    snprintf(nm, sizeof nm, "%s.proj", prefix);
    s->c2 = take_conv(L, nm, C, C, 1, 1, 1);
}

static void add_head(struct loader * L, struct net * N, const char * part, int div, int cin, int cout) {
    char nm[256];
    struct stage * s = add(N, ST_HEAD, div, cin, cout);
    snprintf(nm, sizeof nm, "%s.norm_out", part);
    s->g1 = take_gamma(L, nm, cin, 0);
    snprintf(nm, sizeof nm, "%s.conv_out", part);
    s->c1 = take_conv(L, nm, cin, cout, 3, 3, 0);
}

static void build_decoder(struct loader * L, struct net * N, const struct ts_wan_vae_config * c) {
    int nl = c->n_levels, z = c->z_dim, dims[TS_WAN_VAE_MAX_LEVELS + 1];
    dims[0] = c->base_dim * c->dim_mult[nl - 1];
    for (int i = 0; i < nl; i++) dims[i + 1] = c->base_dim * c->dim_mult[nl - 1 - i];
    int div = 1 << (nl - 1);  // latent resolution: 8 for 4 levels
    char nm[256];
    N->n = 0, N->n_up3d = 0;
    struct stage * s = add(N, ST_POINT, div, z, z);
    s->c1 = take_conv(L, "post_quant_conv", z, z, 1, 1, 0);
    s = add(N, ST_CONV, div, z, dims[0]);
    s->c1 = take_conv(L, "decoder.conv_in", z, dims[0], 3, 3, 0);
    add_res(L, N, "decoder.mid_block.resnets.0", div, dims[0], dims[0]);
    add_attn(L, N, "decoder.mid_block.attentions.0", div, dims[0]);
    add_res(L, N, "decoder.mid_block.resnets.1", div, dims[0], dims[0]);
    int out = dims[0];
    for (int i = 0; i < nl; i++) {
        int in = i > 0 ? dims[i] / 2 : dims[i];
        out = dims[i + 1];
        for (int r = 0; r < c->num_res_blocks + 1; r++) {
            snprintf(nm, sizeof nm, "decoder.up_blocks.%d.resnets.%d", i, r);
            add_res(L, N, nm, div, in, out);
            in = out;
        }
        if (i != nl - 1) {
            int t3 = c->temporal_down[nl - 2 - i];  // temperal_upsample = temperal_downsample[::-1]
            s = add(N, t3 ? ST_UP3D : ST_UP2D, div, out, out / 2);
            snprintf(nm, sizeof nm, "decoder.up_blocks.%d.upsamplers.0.resample.1", i);
            s->c2 = take_conv(L, nm, out, out / 2, 1, 3, 1);
            if (t3) {
                snprintf(nm, sizeof nm, "decoder.up_blocks.%d.upsamplers.0.time_conv", i);
                s->c1 = take_conv(L, nm, out, 2 * out, 3, 1, 0);
                N->n_up3d++;
            }
            div /= 2;
        }
    }
    add_head(L, N, "decoder", div, out, 3);
    add(N, ST_EMIT, div, 3, 3);
}

static void build_encoder(struct loader * L, struct net * N, const struct ts_wan_vae_config * c) {
    int nl = c->n_levels, z = c->z_dim, dims[TS_WAN_VAE_MAX_LEVELS + 1];
    dims[0] = c->base_dim;
    for (int i = 0; i < nl; i++) dims[i + 1] = c->base_dim * c->dim_mult[i];
    int div = 1, idx = 0;
    char nm[256];
    N->n = 0, N->n_up3d = 0;
    struct stage * s = add(N, ST_CONV, div, 3, dims[0]);
    s->c1 = take_conv(L, "encoder.conv_in", 3, dims[0], 3, 3, 0);
    int out = dims[0];
    for (int i = 0; i < nl; i++) {
        int in = dims[i];
        out = dims[i + 1];
        for (int r = 0; r < c->num_res_blocks; r++) {
            snprintf(nm, sizeof nm, "encoder.down_blocks.%d", idx++);
            add_res(L, N, nm, div, in, out);
            in = out;
        }
        if (i != nl - 1) {
            int t3 = c->temporal_down[i];
            s = add(N, t3 ? ST_DOWN3D : ST_DOWN2D, div, out, out);
            snprintf(nm, sizeof nm, "encoder.down_blocks.%d.resample.1", idx);
            s->c2 = take_conv(L, nm, out, out, 1, 3, 1);
            if (t3) {
                snprintf(nm, sizeof nm, "encoder.down_blocks.%d.time_conv", idx);
                s->c1 = take_conv(L, nm, out, out, 3, 1, 0);
            }
            idx++;
            div *= 2;
        }
    }
    add_res(L, N, "encoder.mid_block.resnets.0", div, out, out);
    add_attn(L, N, "encoder.mid_block.attentions.0", div, out);
    add_res(L, N, "encoder.mid_block.resnets.1", div, out, out);
    add_head(L, N, "encoder", div, out, 2 * z);
    s = add(N, ST_POINT, div, 2 * z, 2 * z);
    s->c1 = take_conv(L, "quant_conv", 2 * z, 2 * z, 1, 1, 0);
    add(N, ST_EMIT, div, 2 * z, 2 * z);
}

// ---- config ----------------------------------------------------------------------------------

static const float wan21_mean[16] = {-0.7571f, -0.7089f, -0.9113f, 0.1075f,  -0.1745f, 0.9653f,  -0.1517f, 1.5508f,
                                     0.4134f,  -0.0715f, 0.5517f,  -0.3632f, -0.1922f, -0.9497f, 0.2503f,  -0.2921f};
static const float wan21_std[16] = {2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f, 2.6052f, 2.0743f,
                                    3.2687f, 2.1526f, 2.8652f, 1.5579f, 1.6382f, 1.1253f, 2.8251f, 1.9160f};

static void config_wan21(struct ts_wan_vae_config * c) {
    memset(c, 0, sizeof *c);
    c->base_dim = 96, c->z_dim = 16, c->n_levels = 4, c->num_res_blocks = 2;
    int mult[4] = {1, 2, 4, 4}, td[3] = {0, 1, 1};
    memcpy(c->dim_mult, mult, sizeof mult);
    memcpy(c->temporal_down, td, sizeof td);
    memcpy(c->latents_mean, wan21_mean, sizeof wan21_mean);
    memcpy(c->latents_std, wan21_std, sizeof wan21_std);
}

static enum ts_status json_int_array(const char * P, json_t * root, const char * key, int * dst, int max, int * n,
                                     int is_bool) {
    json_t * a = json_object_get(root, key);
    if (!a) return TS_OK;  // diffusers' default stays
    if (!json_is_array(a) || (int)json_array_size(a) > max)
        return ts_error(TS_ERR_FORMAT, NULL, "VAE config '%s': '%s' is not a list of at most %d values", P, key, max);
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t * v = json_array_get(a, i);
        if (is_bool ? !json_is_boolean(v) : !json_is_integer(v))
            return ts_error(TS_ERR_FORMAT, NULL, "VAE config '%s': '%s' holds a non-%s value", P, key,
                            is_bool ? "boolean" : "integer");
        dst[i] = is_bool ? json_is_true(v) : (int)json_integer_value(v);
    }
    *n = (int)json_array_size(a);
    return TS_OK;
}

static enum ts_status read_config_json(const char * P, struct ts_wan_vae_config * c) {
    json_error_t err;
    json_t * root = json_load_file(P, 0, &err);
    if (!root)
        return ts_error(access(P, R_OK) ? TS_ERR_IO : TS_ERR_FORMAT, "a diffusers vae/ directory holds config.json",
                        "VAE config '%s': %s (line %d)", P, err.text, err.line);
    enum ts_status st = TS_OK;
    config_wan21(c);
    const char * cls = json_string_value(json_object_get(root, "_class_name"));
    if (cls && strcmp(cls, "AutoencoderKLWan"))
        st = ts_error(TS_ERR_MODEL, NULL, "VAE config '%s': class '%s', expected AutoencoderKLWan", P, cls);
    json_t * v;
    if (st == TS_OK && (v = json_object_get(root, "base_dim"))) c->base_dim = (int)json_integer_value(v);
    if (st == TS_OK && (v = json_object_get(root, "z_dim"))) c->z_dim = (int)json_integer_value(v);
    if (st == TS_OK && (v = json_object_get(root, "num_res_blocks"))) c->num_res_blocks = (int)json_integer_value(v);
    int n = c->n_levels, ntd = n - 1;
    if (st == TS_OK) st = json_int_array(P, root, "dim_mult", c->dim_mult, TS_WAN_VAE_MAX_LEVELS, &n, 0);
    c->n_levels = n;
    if (st == TS_OK)
        st = json_int_array(P, root, "temperal_downsample", c->temporal_down, TS_WAN_VAE_MAX_LEVELS, &ntd, 1);
    // what this decoder does not implement (Wan2.2's VAE, attention at other scales)
    json_t * attn = json_object_get(root, "attn_scales");
    json_t * dbd = json_object_get(root, "decoder_base_dim");
    json_t * ps = json_object_get(root, "patch_size");
    if (st == TS_OK &&
        (json_is_true(json_object_get(root, "is_residual")) || (attn && json_array_size(attn) > 0) ||
         (dbd && !json_is_null(dbd) && json_integer_value(dbd) != c->base_dim) || (ps && !json_is_null(ps))))
        st = ts_error(TS_ERR_MODEL, "Wan2.1's VAE is supported; Wan2.2's (is_residual, patch_size) is not yet",
                      "VAE config '%s': is_residual, attn_scales, decoder_base_dim or patch_size set", P);
    if (st == TS_OK && (c->base_dim <= 0 || c->z_dim <= 0 || c->z_dim > 64 || c->num_res_blocks <= 0 ||
                        c->n_levels < 1 || ntd != c->n_levels - 1))
        st = ts_error(TS_ERR_MODEL, NULL,
                      "VAE config '%s': base_dim %d, z_dim %d (at most 64), num_res_blocks %d, %d dim_mult and %d "
                      "temperal_downsample values (one fewer) make no Wan VAE",
                      P, c->base_dim, c->z_dim, c->num_res_blocks, c->n_levels, ntd);
    const char * keys[2] = {"latents_mean", "latents_std"};
    float * dst[2] = {c->latents_mean, c->latents_std};
    for (int k = 0; k < 2 && st == TS_OK; k++) {
        json_t * a = json_object_get(root, keys[k]);
        if (!a) continue;
        if (!json_is_array(a) || (int)json_array_size(a) != c->z_dim) {
            st = ts_error(TS_ERR_MODEL, NULL, "VAE config '%s': '%s' must hold z_dim = %d numbers", P, keys[k],
                          c->z_dim);
            break;
        }
        for (int i = 0; i < c->z_dim; i++) dst[k][i] = (float)json_number_value(json_array_get(a, (size_t)i));
    }
    for (int i = 0; st == TS_OK && i < c->z_dim; i++)
        if (!(c->latents_std[i] > 0.0f))
            st = ts_error(TS_ERR_MODEL, NULL, "VAE config '%s': latents_std[%d] is not positive", P, i);
    json_decref(root);
    return st;
}

// ---- loading -----------------------------------------------------------------------------------

static enum ts_status load_nets(ts_wan_vae * v, const ts_weights * w, int orig) {
    struct loader L = {w, orig, NULL, 0, NULL, 0, TS_OK};
    build_decoder(&L, &v->dec, &v->cfg);
    build_encoder(&L, &v->enc, &v->cfg);
    v->block_floats = L.used;
    v->block = v->be->ops->alloc(v->be, L.used * sizeof(float));
    L.base = v->block;
    L.used = 0;
    L.tmp = ts_malloc((L.tmp_floats ? L.tmp_floats : 1) * sizeof(float));
    build_decoder(&L, &v->dec, &v->cfg);
    build_encoder(&L, &v->enc, &v->cfg);
    free(L.tmp);
    if (L.st == TS_OK && v->be->ops->weights) v->be->ops->weights(v->be, v->block, v->block_floats * sizeof(float));
    return L.st;
}

// A single file in the original naming: Wan2.1's config, base_dim and z_dim from the tensors.
static enum ts_status config_from_tensors(const ts_weights * w, struct ts_wan_vae_config * c) {
    config_wan21(c);
    int found = 0;
    for (int i = 0; i < ts_weights_count(w); i++) {
        int nd;
        int64_t sh[TS_WEIGHTS_MAX_DIMS];
        const char * nm = ts_weights_name(w, i, &nd, sh, NULL);
        if (!strcmp(nm, "encoder.conv1.weight") && nd == 5) c->base_dim = (int)sh[0], found |= 1;
        if (!strcmp(nm, "conv2.weight") && nd == 5) c->z_dim = (int)sh[0], found |= 2;
    }
    if (found != 3 || c->z_dim > 64)
        return ts_error(TS_ERR_MODEL, "expected a Wan2.1 VAE: a diffusers vae/ directory or wan_2.1_vae.safetensors",
                        "'%s' has no 'encoder.conv1.weight' and 'conv2.weight' of a Wan2.1 VAE", ts_weights_path(w));
    if (c->z_dim != 16)
        for (int i = 0; i < c->z_dim; i++) c->latents_mean[i] = 0.0f, c->latents_std[i] = 1.0f;  // unknown constants
    return TS_OK;
}

enum ts_status ts_wan_vae_load(ts_backend_t be, const char * path, ts_wan_vae ** out) {
    *out = NULL;
    ts_backend_t inner = ts_backend_profile_inner(be);
    if (!inner->ops->conv3d || !inner->ops->rmsnorm)
        return ts_error(TS_ERR_ARG, "run Wan2.1 with --backend cpu for now",
                        "the %s backend has no Wan VAE ops (conv3d, rmsnorm) yet", inner->ops->name);
    struct stat sb;
    if (stat(path, &sb) != 0) return ts_error(TS_ERR_IO, NULL, "VAE '%s' not found", path);
    ts_wan_vae * v = ts_calloc(1, sizeof *v);
    v->be = be;
    char cfg_path[4096], st_path[4096];
    enum ts_status st;
    ts_weights * w = NULL;
    int orig = 0;
    if (S_ISDIR(sb.st_mode)) {
        snprintf(cfg_path, sizeof cfg_path, "%s/config.json", path);
        snprintf(st_path, sizeof st_path, "%s/diffusion_pytorch_model.safetensors", path);
        st = read_config_json(cfg_path, &v->cfg);
        if (st == TS_OK) st = ts_weights_open(st_path, &w);
    } else {
        st = ts_weights_open(path, &w);
        orig = st == TS_OK && ts_weights_has(w, "decoder.middle.0.residual.0.gamma");
        if (st == TS_OK && !orig)
            st = ts_error(TS_ERR_MODEL, "give the diffusers vae/ directory (with its config.json) instead",
                          "'%s' is not a Wan2.1 VAE in the original naming (no 'decoder.middle.0.residual.0.gamma')",
                          path);
        if (st == TS_OK) st = config_from_tensors(w, &v->cfg);
    }
    if (st == TS_OK) st = load_nets(v, w, orig);
    ts_weights_close(&w);
    if (st != TS_OK) {
        ts_wan_vae_free(&v);
        return st;
    }
    for (int i = 0; i < v->cfg.z_dim; i++) v->inv_std[i] = 1.0f / v->cfg.latents_std[i];
    *out = v;
    return TS_OK;
}

void ts_wan_vae_free(ts_wan_vae ** vp) {
    if (!vp || !*vp) return;
    ts_wan_vae * v = *vp;
    if (v->block) v->be->ops->release(v->be, v->block);
    free(v);
    *vp = NULL;
}

const struct ts_wan_vae_config * ts_wan_vae_get_config(const ts_wan_vae * v) { return &v->cfg; }

int64_t ts_wan_vae_frames(int64_t T) { return T <= 0 ? 0 : 1 + 4 * (T - 1); }

// The reach, walked forward through the decoder from a latent frame k far from the
// start: each causal conv with 3 taps moves the last dependent frame 2 frames on at
// its own rate; a temporal upsampling (its time conv, then frame v -> 2v-1, 2v)
// doubles the rate; back at latent rate, output frame u belongs to latent ceil(u/2^n).
int ts_wan_vae_decode_reach(const ts_wan_vae * v) {
    const int64_t k = 1 << 20;
    int64_t last = k;
    const struct net * N = &v->dec;
    for (int i = 0; i < N->n; i++) {
        const struct stage * s = &N->st[i];
        switch (s->kind) {
            case ST_CONV:
            case ST_HEAD:
                last += 2;
                break;
            case ST_RES:
                last += 4;
                break;
            case ST_UP3D:
                last = 2 * (last + 2);
                break;
            default:
                break;
        }
    }
    for (int i = 0; i < N->n_up3d; i++) last = (last + 1) / 2;
    return (int)(last - k);
}

double ts_wan_vae_last_flops(const ts_wan_vae * v) { return v->last_flops; }

int64_t ts_wan_vae_range_start(const ts_wan_vae * v, int64_t g0) {
    int64_t s = g0 - ts_wan_vae_decode_reach(v);
    return s > 0 ? s : 0;
}

// ---- the streamed network ------------------------------------------------------------------

// The last two input frames of a causal conv: prev[1] the newest; n valid (0..2).
struct fcache {
    float * prev[2];
    int n;
};

struct stream {
    ts_wan_vae * v;
    const struct net * N;
    int H, W;  // the pixel grid
    struct fcache cache[MAX_STAGES][2];
    int64_t thr[MAX_STAGES];  // a stage runs on its input frames from this index on (skip_before)
    int64_t pushed;           // frames pushed since the reset
    double flops;             // multiply-adds x 2 of the convolutions, GEMMs and attention run
    float * tc[MAX_STAGES];   // owned: UP3D's two time-conv frames (HW, 2C)
    float *A, *B, *C, *S;     // owned: work frames, `work` floats each
    size_t work;
    size_t bytes;  // all of the above
    // the output of the last push
    float * out;  // caller's buffer
    int n_out;
    int flags;
};

static void stream_reset(struct stream * s);

static float * salloc(struct stream * s, size_t floats) {
    s->bytes += floats * sizeof(float);
    return s->v->be->ops->alloc(s->v->be, floats * sizeof(float));
}

static int64_t px(const struct stream * s, int div) { return (int64_t)(s->H / div) * (s->W / div); }

static void stream_init(struct stream * s, ts_wan_vae * v, const struct net * N, int H, int W) {
    memset(s, 0, sizeof *s);
    s->v = v, s->N = N, s->H = H, s->W = W;
    size_t work = 0;
    for (int i = 0; i < N->n; i++) {
        const struct stage * st = &N->st[i];
        int64_t hw = px(s, st->div);
        int cmax = st->cin > st->cout ? st->cin : st->cout;
        if (st->kind == ST_ATTN) cmax = 3 * st->cin;
        if (st->kind == ST_UP2D || st->kind == ST_UP3D) hw *= 4;  // the upsampled frame
        if ((size_t)(hw * cmax) > work) work = (size_t)(hw * cmax);
        if (st->kind == ST_DOWN2D || st->kind == ST_DOWN3D) {  // the padded frame
            size_t padded = (size_t)(s->H / st->div + 1) * (s->W / st->div + 1) * st->cin;
            if (padded > work) work = padded;
        }
        int nc = 0, cch[2] = {0, 0}, cdiv = st->div;
        switch (st->kind) {
            case ST_CONV:
            case ST_HEAD:
                nc = 1, cch[0] = st->cin;
                break;
            case ST_RES:
                nc = 2, cch[0] = st->cin, cch[1] = st->cout;
                break;
            case ST_UP3D:
                nc = 1, cch[0] = st->cin;
                s->tc[i] = salloc(s, (size_t)(hw / 4) * 2 * st->cin);
                break;
            case ST_DOWN3D:
                nc = 1, cch[0] = st->cout, cdiv = st->div * 2;
                break;
            default:
                break;
        }
        for (int c = 0; c < nc; c++)
            for (int j = 0; j < 2; j++) s->cache[i][c].prev[j] = salloc(s, (size_t)px(s, cdiv) * cch[c]);
    }
    s->work = work;
    s->A = salloc(s, work), s->B = salloc(s, work), s->C = salloc(s, work), s->S = salloc(s, work);
    stream_reset(s);
}

static void stream_free(struct stream * s) {
    ts_backend_t be = s->v->be;
    for (int i = 0; i < s->N->n; i++) {
        for (int c = 0; c < 2; c++)
            for (int j = 0; j < 2; j++)
                if (s->cache[i][c].prev[j]) be->ops->release(be, s->cache[i][c].prev[j]);
        if (s->tc[i]) be->ops->release(be, s->tc[i]);
    }
    be->ops->release(be, s->A), be->ops->release(be, s->B), be->ops->release(be, s->C), be->ops->release(be, s->S);
}

static void stream_reset(struct stream * s) {
    for (int i = 0; i < s->N->n; i++) {
        s->cache[i][0].n = s->cache[i][1].n = 0;
        s->thr[i] = INT64_MIN;
    }
    s->pushed = 0;
}

// out = causal conv of x with the cache's frames before it; then x joins the cache.
static void cconv_run(struct stream * s, struct fcache * fc, const struct cconv * c, float * out, const float * x,
                      int h, int w) {
    ts_backend_t be = s->v->be;
    s->flops += 2.0 * h * w * c->cout * c->kt * c->k * c->k * c->cin;
    const float * fr[3] = {fc->n >= 2 ? fc->prev[0] : NULL, fc->n >= 1 ? fc->prev[1] : NULL, x};
    be->ops->conv3d(be, out, fr, 3, h, w, c->cin, c->w, c->b, c->cout, c->k);
    float * t = fc->prev[0];
    fc->prev[0] = fc->prev[1], fc->prev[1] = t;
    memcpy(t, x, (size_t)h * w * c->cin * sizeof(float));
    if (fc->n < 2) fc->n++;
}

static void run_stage(struct stream * s, int i, int64_t idx);

// UP2D's spatial part and UP3D's per frame: in (h, w, C) -> s->A (2h, 2w, C/2), then on as
// frame idx of the next stage (nothing when that stage skips it).
static void upsample_on(struct stream * s, int i, const float * in, int64_t idx) {
    const struct stage * st = &s->N->st[i];
    ts_backend_t be = s->v->be;
    int h = s->H / st->div, w = s->W / st->div;
    if (idx < s->thr[i + 1]) return;
    be->ops->upsample2x(be, s->C, in, 1, h, w, st->cin);
    be->ops->conv2d(be, s->A, s->C, 1, 2 * h, 2 * w, st->cin, st->c2.w, st->c2.b, st->cout, 3, 1, 1);
    s->flops += 2.0 * 4 * h * w * st->cout * 9 * st->cin;
    run_stage(s, i + 1, idx);
}

// s->A (h, w, C) -> s->A (h/2, w/2, C): ZeroPad2d((0, 1, 0, 1)), conv 3x3 stride 2.
static void downsample2d(struct stream * s, const struct stage * st) {
    ts_backend_t be = s->v->be;
    int h = s->H / st->div, w = s->W / st->div, C = st->cin;
    size_t row = (size_t)w * C;
    memset(s->B, 0, (size_t)(h + 1) * (w + 1) * C * sizeof(float));
    for (int y = 0; y < h; y++) memcpy(s->B + (size_t)y * (w + 1) * C, s->A + y * row, row * sizeof(float));
    be->ops->conv2d(be, s->A, s->B, 1, h + 1, w + 1, C, st->c2.w, st->c2.b, st->cout, 3, 2, 0);
    s->flops += 2.0 * (h / 2) * (w / 2) * st->cout * 9 * C;
}

// Runs stage i on the frame in s->A, frame idx of the stage's input (counted from the
// stream's first frame at the stage's frame rate), and the stages after it on what it
// hands on. A frame before the stage's threshold is skipped: nothing after it needs it.
static void run_stage(struct stream * s, int i, int64_t idx) {
    const struct stage * st = &s->N->st[i];
    ts_backend_t be = s->v->be;
    if (idx < s->thr[i]) return;
    int h = s->H / st->div, w = s->W / st->div;
    int64_t hw = (int64_t)h * w;
    size_t fb = (size_t)hw * sizeof(float);
    switch (st->kind) {
        case ST_POINT:
            be->ops->linear(be, s->B, st->cout, s->A, st->cin, st->c1.w, st->c1.b, hw, st->cin, st->cout);
            s->flops += 2.0 * hw * st->cout * st->cin;
            memcpy(s->A, s->B, fb * st->cout);
            break;
        case ST_CONV:
            cconv_run(s, &s->cache[i][0], &st->c1, s->B, s->A, h, w);
            memcpy(s->A, s->B, fb * st->cout);
            break;
        case ST_RES: {
            const float * sc = s->A;
            if (st->has_sc) {
                be->ops->linear(be, s->S, st->cout, s->A, st->cin, st->sc.w, st->sc.b, hw, st->cin, st->cout);
                s->flops += 2.0 * hw * st->cout * st->cin;
                sc = s->S;
            }
            be->ops->rmsnorm(be, s->B, s->A, st->g1, hw, st->cin);
            be->ops->silu(be, s->B, hw * st->cin);
            cconv_run(s, &s->cache[i][0], &st->c1, s->C, s->B, h, w);
            be->ops->rmsnorm(be, s->B, s->C, st->g2, hw, st->cout);
            be->ops->silu(be, s->B, hw * st->cout);
            cconv_run(s, &s->cache[i][1], &st->c2, s->C, s->B, h, w);
            for (int64_t j = 0; j < hw * st->cout; j++) s->A[j] = s->C[j] + sc[j];
            break;
        }
        case ST_ATTN: {
            int C = st->cin;
            be->ops->rmsnorm(be, s->B, s->A, st->g1, hw, C);
            be->ops->linear(be, s->S, 3 * C, s->B, C, st->c1.w, st->c1.b, hw, C, 3 * C);
            be->ops->attn_spatial(be, s->C, s->S, 1, (int)hw, 1, C);
            be->ops->linear(be, s->B, C, s->C, C, st->c2.w, st->c2.b, hw, C, C);
            s->flops += 2.0 * hw * 4 * C * C + 4.0 * hw * hw * C;
            for (int64_t j = 0; j < hw * C; j++) s->A[j] = s->B[j] + s->A[j];
            break;
        }
        case ST_UP2D:
            memcpy(s->B, s->A, fb * st->cin);
            upsample_on(s, i, s->B, idx);
            return;
        case ST_UP3D: {
            int C = st->cin;
            if (idx == 0) {  // a video's first frame: no time conv (diffusers' "Rep"), one frame on
                memcpy(s->B, s->A, fb * C);
                upsample_on(s, i, s->B, 0);
                return;
            }
            float * tc = s->tc[i];
            cconv_run(s, &s->cache[i][0], &st->c1, tc, s->A, h, w);  // (hw, 2C): frame 2v-1 | frame 2v
            for (int f = 0; f < 2; f++) {
                for (int64_t p = 0; p < hw; p++) memcpy(s->B + p * C, tc + (p * 2 + f) * C, (size_t)C * sizeof(float));
                upsample_on(s, i, s->B, 2 * idx - 1 + f);
            }
            return;
        }
        case ST_DOWN2D:
            downsample2d(s, st);
            break;
        case ST_DOWN3D: {
            downsample2d(s, st);
            int h2 = h / 2, w2 = w / 2;
            size_t fb2 = (size_t)h2 * w2 * st->cout * sizeof(float);
            struct fcache * fc = &s->cache[i][0];  // prev[0]: frame idx-2 (the last handed on), prev[1]: idx-1
            int64_t n = idx;
            if (n == 0) {
                memcpy(fc->prev[0], s->A, fb2);  // a video's first frame goes on as it is
            } else if (n % 2 == 1) {
                memcpy(fc->prev[1], s->A, fb2);  // wait for the pair's second frame
                return;
            } else {
                const float * fr[3] = {fc->prev[0], fc->prev[1], s->A};
                be->ops->conv3d(be, s->B, fr, 3, h2, w2, st->cout, st->c1.w, st->c1.b, st->cout, 1);
                s->flops += 2.0 * h2 * w2 * st->cout * 3 * st->cout;
                memcpy(fc->prev[0], s->A, fb2);
                memcpy(s->A, s->B, fb2);
            }
            run_stage(s, i + 1, n / 2);  // frames 0, then (1, 2) -> 1, (3, 4) -> 2, ...
            return;
        }
        case ST_HEAD:
            be->ops->rmsnorm(be, s->B, s->A, st->g1, hw, st->cin);
            be->ops->silu(be, s->B, hw * st->cin);
            cconv_run(s, &s->cache[i][0], &st->c1, s->A, s->B, h, w);
            break;
        case ST_EMIT:
            if (s->N == &s->v->dec) {  // RGB frame, clamped as diffusers' decode
                float * o = s->out + (size_t)s->n_out * hw * 3;
                for (int64_t j = 0; j < hw * 3; j++) {
                    float x = s->A[j];
                    if (!(s->flags & TS_WAN_VAE_NO_CLAMP)) x = x < -1.0f ? -1.0f : x > 1.0f ? 1.0f : x;
                    o[j] = x;
                }
            } else {  // the posterior mean: the first z_dim channels of 2 z_dim
                int z = s->v->cfg.z_dim;
                float * o = s->out + (size_t)s->n_out * hw * z;
                for (int64_t p = 0; p < hw; p++)
                    for (int c = 0; c < z; c++) {
                        float x = s->A[p * 2 * z + c];
                        if (s->flags & TS_WAN_VAE_MODEL_SPACE) x = (x - s->v->cfg.latents_mean[c]) * s->v->inv_std[c];
                        o[p * z + c] = x;
                    }
            }
            s->n_out++;
            return;
    }
    run_stage(s, i + 1, idx);
}

// ---- the decoder ----------------------------------------------------------------------------------

struct ts_wan_vae_dec {
    struct stream s;
    int h, w;  // latent grid
};

enum ts_status ts_wan_vae_dec_new(ts_wan_vae * v, int h, int w, ts_wan_vae_dec ** out) {
    *out = NULL;
    if (h <= 0 || w <= 0) return ts_error(TS_ERR_ARG, NULL, "Wan VAE: latent size %dx%d is not positive", h, w);
    int f = 1 << (v->cfg.n_levels - 1);
    ts_wan_vae_dec * d = ts_calloc(1, sizeof *d);
    d->h = h, d->w = w;
    stream_init(&d->s, v, &v->dec, h * f, w * f);
    *out = d;
    return TS_OK;
}

void ts_wan_vae_dec_reset(ts_wan_vae_dec * d) { stream_reset(&d->s); }

int ts_wan_vae_dec_push(ts_wan_vae_dec * d, const float * latent, int flags, float * frames) {
    struct stream * s = &d->s;
    const ts_wan_vae * v = s->v;
    int z = v->cfg.z_dim;
    int64_t hw = (int64_t)d->h * d->w;
    if (flags & TS_WAN_VAE_MODEL_SPACE) {  // WanPipeline: latents / (1 / std) + mean
        for (int64_t p = 0; p < hw; p++)
            for (int c = 0; c < z; c++) s->A[p * z + c] = latent[p * z + c] / v->inv_std[c] + v->cfg.latents_mean[c];
    } else {
        memcpy(s->A, latent, (size_t)hw * z * sizeof(float));
    }
    s->out = frames, s->n_out = 0, s->flags = flags;
    run_stage(s, 0, s->pushed++);
    return s->n_out;
}

// Thresholds walked back from the first output frame wanted (frame ts_wan_vae_frames(L0)
// of the stream): a 3-tap causal conv needs its input from 2 frames earlier; a temporal
// upsampling's output frames 2v-1, 2v need its input frames from v - 2 on.
void ts_wan_vae_dec_skip_before(ts_wan_vae_dec * d, int64_t L0) {
    struct stream * s = &d->s;
    int64_t t = ts_wan_vae_frames(L0);
    for (int i = s->N->n - 1; i >= 0; i--) {
        const struct stage * st = &s->N->st[i];
        switch (st->kind) {
            case ST_CONV:
            case ST_HEAD:
                t -= 2;
                break;
            case ST_RES:
                t -= 4;
                break;
            case ST_UP3D:
                t = (t >= 0 ? (t + 1) / 2 : -((-t) / 2)) - 2;
                break;  // ceil(t / 2) - 2
            default:
                break;
        }
        s->thr[i] = L0 > 0 ? t : INT64_MIN;
    }
}

double ts_wan_vae_dec_flops(const ts_wan_vae_dec * d) { return d->s.flops; }

void ts_wan_vae_dec_free(ts_wan_vae_dec ** dp) {
    if (!dp || !*dp) return;
    stream_free(&(*dp)->s);
    free(*dp);
    *dp = NULL;
}

size_t ts_wan_vae_dec_bytes(const ts_wan_vae_dec * d) { return d->s.bytes; }

enum ts_status ts_wan_vae_decode_range(ts_wan_vae * v, const float * latents, int64_t s0, int64_t g0, int64_t Tn, int h,
                                       int w, int flags, float * frames) {
    if (s0 < 0 || s0 > g0 || Tn < 0)
        return ts_error(TS_ERR_ARG, NULL, "Wan VAE: decode range from %lld for [%lld, +%lld) is not a range",
                        (long long)s0, (long long)g0, (long long)Tn);
    if (s0 > ts_wan_vae_range_start(v, g0))
        return ts_error(TS_ERR_ARG, NULL,
                        "Wan VAE: a decode of latent frames from %lld needs its halo from %lld (reach %d), given %lld",
                        (long long)g0, (long long)ts_wan_vae_range_start(v, g0), ts_wan_vae_decode_reach(v),
                        (long long)s0);
    if (Tn == 0) return TS_OK;
    ts_wan_vae_dec * d;
    TS_TRY(ts_wan_vae_dec_new(v, h, w, &d));
    ts_wan_vae_dec_skip_before(d, g0 - s0);
    int f = 1 << (v->cfg.n_levels - 1);
    size_t frame = (size_t)h * f * w * f * 3, lat = (size_t)h * w * v->cfg.z_dim;
    float * tmp = ts_malloc(4 * frame * sizeof(float));
    float * o = frames;
    for (int64_t g = s0; g < g0 + Tn; g++) {
        int n = ts_wan_vae_dec_push(d, latents + (size_t)(g - s0) * lat, flags, tmp);
        TS_ASSERT(g >= g0 || n == 0);
        memcpy(o, tmp, (size_t)n * frame * sizeof(float));
        o += (size_t)n * frame;
    }
    TS_ASSERT(o == frames + (size_t)(ts_wan_vae_frames(g0 + Tn) - ts_wan_vae_frames(g0)) * frame);
    v->last_flops = ts_wan_vae_dec_flops(d);
    free(tmp);
    ts_wan_vae_dec_free(&d);
    return TS_OK;
}

enum ts_status ts_wan_vae_decode(ts_wan_vae * v, const float * latents, int64_t T, int h, int w, int flags,
                                 float * frames) {
    return ts_wan_vae_decode_range(v, latents, 0, 0, T, h, w, flags, frames);
}

// ---- the encoder ------------------------------------------------------------------------------------

enum ts_status ts_wan_vae_encode(ts_wan_vae * v, const float * frames, int64_t F, int H, int W, int flags,
                                 float * latents) {
    int f = 1 << (v->cfg.n_levels - 1);
    if (F < 1 || (F - 1) % 4 != 0 || H <= 0 || W <= 0 || H % f || W % f)
        return ts_error(TS_ERR_ARG, "frames 1 + 4k, sizes multiples of 8", "Wan VAE encode: %lld frames of %dx%d",
                        (long long)F, W, H);
    struct stream s;
    stream_init(&s, v, &v->enc, H, W);
    s.out = latents, s.flags = flags;
    size_t fr = (size_t)H * W * 3;
    stream_reset(&s);
    for (int64_t t = 0; t < F; t++) {
        memcpy(s.A, frames + t * fr, fr * sizeof(float));
        run_stage(&s, 0, t);
    }
    TS_ASSERT(s.n_out == 1 + (F - 1) / 4);
    stream_free(&s);
    return TS_OK;
}
