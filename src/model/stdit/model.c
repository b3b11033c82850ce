// Model loading: config from /config, the vocabulary, and every tensor into
// one backend allocation, each shape checked against the config.
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"
#include "core/rng.h"
#include "io/config.h"
#include "io/weights.h"
#include "model/controls.h"  // TS_CONTROL_DIM
#include "model/stdit/stdit.h"

// ---- config ---------------------------------------------------------------------
static enum ts_status cfg_int(const ts_weights * w, const char * key, int * v, int lo, int hi) {
    int64_t x = 0;
    TS_TRY(ts_weights_config_int(w, key, &x));
    if (x < lo || x > hi)
        return ts_error(TS_ERR_MODEL, "the weights file's config is inconsistent; re-export it",
                        "model config '%s' = %lld is outside [%d, %d]", key, (long long)x, lo, hi);
    *v = (int)x;
    return TS_OK;
}

static enum ts_status cfg_float(const ts_weights * w, const char * key, float * v) {
    double x = 0;
    TS_TRY(ts_weights_config_float(w, key, &x));
    if (!isfinite(x) || fabs(x) > 1e30)
        return ts_error(TS_ERR_MODEL, "the weights file's config is damaged; re-export it",
                        "model config '%s' = %g is not a usable number", key, x);
    *v = (float)x;
    return TS_OK;
}

static enum ts_status load_config(const ts_weights * w, struct ts_model_config * c) {
    memset(c, 0, sizeof(*c));
    TS_TRY(cfg_int(w, "text_len", &c->text_len, 2, 4096));
    TS_TRY(cfg_int(w, "text_dim", &c->text_dim, 1, 1 << 16));
    TS_TRY(cfg_int(w, "text_layers", &c->text_layers, 0, 256));
    TS_TRY(cfg_int(w, "text_heads", &c->text_heads, 1, 1024));
    TS_TRY(cfg_int(w, "image_size", &c->image_size, 2, 4096));
    TS_TRY(cfg_int(w, "vae_factor", &c->vae_factor, 1, 64));
    TS_TRY(cfg_int(w, "latent_channels", &c->latent_channels, 1, 1024));
    TS_TRY(cfg_int(w, "vae_groups", &c->vae_groups, 1, 1024));
    TS_TRY(cfg_float(w, "vae_scale", &c->vae_scale));
    TS_TRY(cfg_int(w, "patch", &c->patch, 1, 64));
    TS_TRY(cfg_int(w, "width", &c->width, 1, 1 << 16));
    TS_TRY(cfg_int(w, "depth", &c->depth, 0, 1024));
    TS_TRY(cfg_int(w, "heads", &c->heads, 1, 1024));
    TS_TRY(cfg_int(w, "mlp_ratio", &c->mlp_ratio, 1, 64));
    TS_TRY(cfg_int(w, "temporal_window", &c->temporal_window, 0, 4096));
    TS_TRY(cfg_int(w, "causal", &c->causal, 0, 1));
    TS_TRY(cfg_float(w, "rope_theta", &c->rope_theta));
    TS_TRY(cfg_int(w, "freq_dim", &c->freq_dim, 2, 1 << 16));
    TS_TRY(cfg_float(w, "shift", &c->shift));
    TS_TRY(cfg_int(w, "default_steps", &c->default_steps, 1, 100000));
    TS_TRY(cfg_float(w, "default_cfg", &c->default_cfg));
    float fps = 0;
    TS_TRY(cfg_float(w, "fps", &fps));
    c->fps = fps;
    TS_TRY(cfg_int(w, "train_frames", &c->train_frames, 1, 1 << 20));
    if (ts_weights_config_has(w, "controls")) {  // absent: a model from before the motion controls
        TS_TRY(cfg_int(w, "controls", &c->controls, 0, TS_CONTROL_DIM));
        if (c->controls != 0 && c->controls != TS_CONTROL_DIM)
            return ts_error(TS_ERR_MODEL,
                            c->controls == 12 ? "a model made before the size input (12 values): export it again "
                                                "with tools/export.py, which adds the size columns at zero"
                                              : "this engine reads 14-value control vectors (docs/controls.md)",
                            "model config 'controls' = %d (expected 0 or %d)", c->controls, TS_CONTROL_DIM);
    }
    if (ts_weights_config_has(w, "label")) TS_TRY(ts_weights_config_str(w, "label", c->label, sizeof(c->label)));
    char chs[128];
    TS_TRY(ts_weights_config_str(w, "vae_channels", chs, sizeof(chs)));
    const char * s = chs;
    while (*s) {
        char * end = NULL;
        long v = strtol(s, &end, 10);
        if (end == s || v <= 0 || c->vae_levels == TS_VAE_MAX_LEVELS)
            return ts_error(TS_ERR_MODEL, NULL, "model config 'vae_channels' = '%s' is not a list of up to %d sizes",
                            chs, TS_VAE_MAX_LEVELS);
        c->vae_ch[c->vae_levels++] = (int)v;
        s = end;
        while (*s == ',' || *s == ' ') s++;
    }
    const char * bad = NULL;
    int hd = c->width / c->heads;
    if (c->width % c->heads || hd % 4) bad = "width / heads must be a multiple of 4 (2D RoPE)";
    else if (c->text_dim % c->text_heads) bad = "text_dim must be a multiple of text_heads";
    else if (c->vae_levels < 1 || (1 << (c->vae_levels - 1)) != c->vae_factor) bad = "vae_factor must be 2^(levels-1)";
    else if (c->image_size % c->vae_factor || ts_cfg_latent_hw(c) % c->patch) bad = "image size must divide by vae_factor*patch";
    else if (c->vae_scale <= 0) bad = "vae_scale must be positive";
    else if (c->shift <= 0) bad = "shift must be positive";
    else if (c->default_cfg < 0 || c->default_cfg > 100) bad = "default_cfg must be in [0, 100]";
    else if (!(c->fps > 0 && c->fps <= 1000)) bad = "fps must be in (0, 1000]";
    else if (c->rope_theta <= 0) bad = "rope_theta must be positive";
    if (bad) return ts_error(TS_ERR_MODEL, "the weights file's config is inconsistent; re-export it", "model config: %s", bad);
    return TS_OK;
}

// ---- tensors ----------------------------------------------------------------------
// The list of (name, shape, destination) built from the config; loaded in two
// passes (size, then read) into one allocation.
struct wentry {
    char name[128];
    int ndim;
    int64_t shape[4];
    float ** dst;
    int conv;  // PyTorch conv weight (Cout, Cin, k, k) stored as (Cout, k, k, Cin)
};

struct wlist {
    struct wentry * e;
    int n, cap;
};

static void add(struct wlist * l, float ** dst, int conv, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                const char * fmt, ...) TS_PRINTF(9, 10);
static void add(struct wlist * l, float ** dst, int conv, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                const char * fmt, ...) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->e = realloc(l->e, (size_t)l->cap * sizeof(*l->e));
        TS_ASSERT(l->e);
    }
    struct wentry * e = &l->e[l->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->name, sizeof(e->name), fmt, ap);
    va_end(ap);
    e->ndim = ndim;
    int64_t d[4] = {d0, d1, d2, d3};
    memcpy(e->shape, d, sizeof(d));
    e->dst = dst;
    e->conv = conv;
}


static void add_linear(struct wlist * l, float ** w, float ** b, int64_t out, int64_t in, const char * name) {
    add(l, w, 0, 2, out, in, 0, 0, "%s.weight", name);
    add(l, b, 0, 1, out, 0, 0, 0, "%s.bias", name);
}

static void add_vec(struct wlist * l, float ** w, float ** b, int64_t n, const char * name) {
    add(l, w, 0, 1, n, 0, 0, 0, "%s.weight", name);
    add(l, b, 0, 1, n, 0, 0, 0, "%s.bias", name);
}

static void add_conv(struct wlist * l, float ** w, float ** b, int64_t cout, int64_t cin, const char * name) {
    add(l, w, 1, 4, cout, cin, 3, 3, "%s.weight", name);
    add(l, b, 0, 1, cout, 0, 0, 0, "%s.bias", name);
}

static void add_res(struct wlist * l, struct ts_resblock * r, int64_t ch, const char * prefix) {
    char n[128];
    snprintf(n, sizeof(n), "%s.norm1", prefix);
    add_vec(l, &r->n1_w, &r->n1_b, ch, n);
    snprintf(n, sizeof(n), "%s.conv1", prefix);
    add_conv(l, &r->c1_w, &r->c1_b, ch, ch, n);
    snprintf(n, sizeof(n), "%s.norm2", prefix);
    add_vec(l, &r->n2_w, &r->n2_b, ch, n);
    snprintf(n, sizeof(n), "%s.conv2", prefix);
    add_conv(l, &r->c2_w, &r->c2_b, ch, ch, n);
}

static void build_list(ts_model * m, struct wlist * l) {
    const struct ts_model_config * c = &m->cfg;
    int64_t Dt = c->text_dim, D = c->width, V = m->vocab_n, C = c->latent_channels, p = c->patch;
    char n[128];
    add(l, &m->text.tok_emb, 0, 2, V, Dt, 0, 0, "text.tok_emb.weight");
    add(l, &m->text.pos_emb, 0, 2, c->text_len, Dt, 0, 0, "text.pos_emb");
    for (int i = 0; i < c->text_layers; i++) {
        struct ts_text_layer * t = &m->text.layers[i];
        snprintf(n, sizeof(n), "text.layers.%d.ln1", i), add_vec(l, &t->ln1_w, &t->ln1_b, Dt, n);
        snprintf(n, sizeof(n), "text.layers.%d.q", i), add_linear(l, &t->q_w, &t->q_b, Dt, Dt, n);
        snprintf(n, sizeof(n), "text.layers.%d.kv", i), add_linear(l, &t->kv_w, &t->kv_b, 2 * Dt, Dt, n);
        snprintf(n, sizeof(n), "text.layers.%d.proj", i), add_linear(l, &t->proj_w, &t->proj_b, Dt, Dt, n);
        snprintf(n, sizeof(n), "text.layers.%d.ln2", i), add_vec(l, &t->ln2_w, &t->ln2_b, Dt, n);
        snprintf(n, sizeof(n), "text.layers.%d.mlp.fc1", i), add_linear(l, &t->fc1_w, &t->fc1_b, 4 * Dt, Dt, n);
        snprintf(n, sizeof(n), "text.layers.%d.mlp.fc2", i), add_linear(l, &t->fc2_w, &t->fc2_b, Dt, 4 * Dt, n);
    }
    add_vec(l, &m->text.ln_f_w, &m->text.ln_f_b, Dt, "text.ln_f");
    add_linear(l, &m->dit.patch_in_w, &m->dit.patch_in_b, D, p * p * (2 * C + 1), "dit.patch_in");
    add_linear(l, &m->dit.t_fc1_w, &m->dit.t_fc1_b, D, c->freq_dim, "dit.t_fc1");
    add_linear(l, &m->dit.t_fc2_w, &m->dit.t_fc2_b, D, D, "dit.t_fc2");
    add_linear(l, &m->dit.text_proj_w, &m->dit.text_proj_b, D, Dt, "dit.text_proj");
    if (c->controls) {
        add_linear(l, &m->dit.ctl_fc1_w, &m->dit.ctl_fc1_b, D, c->controls, "dit.ctl_fc1");
        add_linear(l, &m->dit.ctl_fc2_w, &m->dit.ctl_fc2_b, D, D, "dit.ctl_fc2");
        add_linear(l, &m->dit.ctl_tok_fc1_w, &m->dit.ctl_tok_fc1_b, D, TS_PATH_HINT_DIM, "dit.ctl_tok_fc1");
        add_linear(l, &m->dit.ctl_tok_fc2_w, &m->dit.ctl_tok_fc2_b, D, D, "dit.ctl_tok_fc2");
    }
    for (int i = 0; i < c->depth; i++) {
        struct ts_dit_block * b = &m->dit.blocks[i];
        int64_t Hm = (int64_t)c->mlp_ratio * D;
        snprintf(n, sizeof(n), "dit.blocks.%d.ada", i), add_linear(l, &b->ada_w, &b->ada_b, 9 * D, D, n);
        snprintf(n, sizeof(n), "dit.blocks.%d.attn_s_qkv", i), add_linear(l, &b->s_qkv_w, &b->s_qkv_b, 3 * D, D, n);
        snprintf(n, sizeof(n), "dit.blocks.%d.attn_s_proj", i), add_linear(l, &b->s_proj_w, &b->s_proj_b, D, D, n);
        snprintf(n, sizeof(n), "dit.blocks.%d.attn_t_qkv", i), add_linear(l, &b->t_qkv_w, &b->t_qkv_b, 3 * D, D, n);
        snprintf(n, sizeof(n), "dit.blocks.%d.attn_t_proj", i), add_linear(l, &b->t_proj_w, &b->t_proj_b, D, D, n);
        snprintf(n, sizeof(n), "dit.blocks.%d.cross_ln", i), add_vec(l, &b->cross_ln_w, &b->cross_ln_b, D, n);
        snprintf(n, sizeof(n), "dit.blocks.%d.cross_q", i), add_linear(l, &b->cross_q_w, &b->cross_q_b, D, D, n);
        snprintf(n, sizeof(n), "dit.blocks.%d.cross_kv", i), add_linear(l, &b->cross_kv_w, &b->cross_kv_b, 2 * D, Dt, n);
        snprintf(n, sizeof(n), "dit.blocks.%d.cross_proj", i),
            add_linear(l, &b->cross_proj_w, &b->cross_proj_b, D, D, n);
        snprintf(n, sizeof(n), "dit.blocks.%d.mlp.fc1", i), add_linear(l, &b->fc1_w, &b->fc1_b, Hm, D, n);
        snprintf(n, sizeof(n), "dit.blocks.%d.mlp.fc2", i), add_linear(l, &b->fc2_w, &b->fc2_b, D, Hm, n);
    }
    add_linear(l, &m->dit.final_ada_w, &m->dit.final_ada_b, 2 * D, D, "dit.final_ada");
    add_linear(l, &m->dit.final_out_w, &m->dit.final_out_b, p * p * C, D, "dit.final_out");
    // VAE encoder: channels ch[0..levels)
    const int * ch = c->vae_ch;
    int nl = c->vae_levels;
    add_conv(l, &m->enc.conv_in_w, &m->enc.conv_in_b, ch[0], 3, "vae.encoder.conv_in");
    for (int i = 0; i < nl; i++) {
        snprintf(n, sizeof(n), "vae.encoder.res.%d", i), add_res(l, &m->enc.res[i], ch[i], n);
        if (i + 1 < nl)
            snprintf(n, sizeof(n), "vae.encoder.down.%d", i),
                add_conv(l, &m->enc.down_w[i], &m->enc.down_b[i], ch[i + 1], ch[i], n);
    }
    add_vec(l, &m->enc.norm_w, &m->enc.norm_b, ch[nl - 1], "vae.encoder.norm_out");
    add_conv(l, &m->enc.conv_out_w, &m->enc.conv_out_b, C, ch[nl - 1], "vae.encoder.conv_out");
    // decoder: channels reversed
    add_conv(l, &m->dec.conv_in_w, &m->dec.conv_in_b, ch[nl - 1], C, "vae.decoder.conv_in");
    for (int i = 0; i < nl; i++) {
        int ci = ch[nl - 1 - i];
        snprintf(n, sizeof(n), "vae.decoder.res.%d", i), add_res(l, &m->dec.res[i], ci, n);
        if (i + 1 < nl)
            snprintf(n, sizeof(n), "vae.decoder.up.%d", i),
                add_conv(l, &m->dec.up_w[i], &m->dec.up_b[i], ch[nl - 2 - i], ci, n);
    }
    add_vec(l, &m->dec.norm_w, &m->dec.norm_b, ch[0], "vae.decoder.norm_out");
    add_conv(l, &m->dec.conv_out_w, &m->dec.conv_out_b, 3, ch[0], "vae.decoder.conv_out");
}

static int64_t numel(const struct wentry * e) {
    int64_t n = 1;
    for (int i = 0; i < e->ndim; i++) n *= e->shape[i];
    return n;
}

// Weights of a synthetic model: drawn from Philox under `seed` (tensor i uses
// stream i): matrices N(0, 1/fan_in), norm scales 1, biases 0, embeddings N(0, 0.02).
static void synth_tensor(const struct wentry * e, int index, uint64_t seed, float * dst) {
    int64_t n = 1, fan_in = 1;
    for (int i = 0; i < e->ndim; i++) n *= e->shape[i];
    for (int i = 1; i < e->ndim; i++) fan_in *= e->shape[i];
    size_t len = strlen(e->name);
    int is_bias = len > 5 && strcmp(e->name + len - 5, ".bias") == 0;
    if (is_bias) {
        memset(dst, 0, (size_t)n * sizeof(float));
    } else if (e->ndim == 1) {
        for (int64_t i = 0; i < n; i++) dst[i] = 1.0f;
    } else {
        float sc = strstr(e->name, "emb") ? 0.02f : 1.0f / sqrtf((float)fan_in);
        if (strstr(e->name, ".ada.") || strstr(e->name, "final_")) sc *= 0.1f;
        ts_rng_normal_fill(dst, n, seed, (uint32_t)index, 0);
        for (int64_t i = 0; i < n; i++) dst[i] *= sc;
    }
}

// Every tensor the config asks for is in the file with that shape: checked
// before anything is allocated, so a config that lies about its sizes is an
// error naming the tensor, never a huge allocation.
static enum ts_status check_shapes(const ts_weights * w, const struct wlist * l) {
    int n = ts_weights_count(w);
    for (int i = 0; i < l->n; i++) {
        const struct wentry * e = &l->e[i];
        int found = 0;
        for (int j = 0; j < n && !found; j++) {
            int nd = 0;
            int64_t sh[TS_WEIGHTS_MAX_DIMS] = {0};
            if (strcmp(ts_weights_name(w, j, &nd, sh, NULL), e->name) != 0) continue;
            found = 1;
            int same = nd == e->ndim;
            for (int d = 0; same && d < nd; d++) same = sh[d] == e->shape[d];
            if (!same) {
                float dummy;
                return ts_weights_read(w, e->name, e->ndim, e->shape, &dummy);  // its error names both shapes
            }
        }
        if (!found)
            return ts_error(TS_ERR_MODEL, "was it exported for another model config? see 'timeshard info FILE'",
                            "weights file '%s' has no tensor '%s'", ts_weights_path(w), e->name);
    }
    return TS_OK;
}

static enum ts_status load_tensors(ts_model * m, const ts_weights * w, int synthetic, uint64_t seed) {
    struct wlist l = {0};
    build_list(m, &l);
    int64_t total = 0, maxn = 0;
    for (int i = 0; i < l.n; i++) {
        int64_t k = (numel(&l.e[i]) + 15) / 16 * 16;  // 64-byte aligned
        total += k;
        if (k > maxn) maxn = k;
    }
    // the host copy, one tensor's staging and the backend's copy
    enum ts_status st0 = synthetic ? TS_OK : check_shapes(w, &l);
    if (st0 == TS_OK)
        st0 = ts_mem_check((2 * total + maxn) * (int64_t)sizeof(float), 1, "loading the model's weights",
                           "is the model's config what it should be? see 'timeshard info FILE'");
    if (st0 != TS_OK) {
        free(l.e);
        return st0;
    }
    float * host = ts_malloc((size_t)total * sizeof(float));
    float * tmp = ts_malloc((size_t)maxn * sizeof(float));
    enum ts_status st = TS_OK;
    int64_t off = 0;
    for (int i = 0; i < l.n && st == TS_OK; i++) {
        struct wentry * e = &l.e[i];
        int64_t k = numel(e);
        if (synthetic) synth_tensor(e, i, seed, e->conv ? tmp : host + off);
        else st = ts_weights_read(w, e->name, e->ndim, e->shape, e->conv ? tmp : host + off);
        if (st == TS_OK && e->conv) {  // (Cout, Cin, kh, kw) -> (Cout, kh, kw, Cin)
            int64_t co = e->shape[0], ci = e->shape[1], kk = e->shape[2] * e->shape[3];
            float * dst = host + off;
            for (int64_t o = 0; o < co; o++)
                for (int64_t c = 0; c < ci; c++)
                    for (int64_t q = 0; q < kk; q++) dst[(o * kk + q) * ci + c] = tmp[(o * ci + c) * kk + q];
        }
        for (int64_t q = 0; st == TS_OK && !synthetic && q < k; q++)
            if (!isfinite(host[off + q]))
                st = ts_error(TS_ERR_MODEL, "the weights file is damaged; export it again",
                              "weights file '%s': tensor '%s' holds a value that is not a finite number",
                              ts_weights_path(w), e->name);
        off += (k + 15) / 16 * 16;
    }
    if (st == TS_OK) {
        m->wbuf = m->be->ops->alloc(m->be, (size_t)total * sizeof(float));
        m->be->ops->upload(m->be, m->wbuf, host, (size_t)total * sizeof(float));
        if (m->be->ops->weights) m->be->ops->weights(m->be, m->wbuf, (size_t)total * sizeof(float));
        off = 0;
        for (int i = 0; i < l.n; i++) {
            *l.e[i].dst = (float *)m->wbuf + off;
            off += (numel(&l.e[i]) + 15) / 16 * 16;
            m->n_params += numel(&l.e[i]);
        }
    }
    free(host);
    free(tmp);
    free(l.e);
    return st;
}

// ---- synthetic models (benchmark presets): config from a file, weights from a seed ----
struct synth_cfg {
    struct ts_model_config c;
    uint64_t seed;
    int vocab;
};

static enum ts_status synth_kv(void * ud, const char * key, const char * v, const char * file, int line) {
    struct synth_cfg * s = ud;
    struct ts_model_config * c = &s->c;
    struct { const char * k; int * p; } ints[] = {
        {"text_len", &c->text_len}, {"text_dim", &c->text_dim}, {"text_layers", &c->text_layers},
        {"text_heads", &c->text_heads}, {"image_size", &c->image_size}, {"vae_factor", &c->vae_factor},
        {"latent_channels", &c->latent_channels}, {"vae_groups", &c->vae_groups}, {"patch", &c->patch},
        {"width", &c->width}, {"depth", &c->depth}, {"heads", &c->heads}, {"mlp_ratio", &c->mlp_ratio},
        {"temporal_window", &c->temporal_window}, {"causal", &c->causal}, {"freq_dim", &c->freq_dim},
        {"default_steps", &c->default_steps}, {"train_frames", &c->train_frames}, {"vocab_size", &s->vocab},
    };
    char * end = NULL;
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        if (strcmp(key, ints[i].k)) continue;
        long x = strtol(v, &end, 10);
        if (!*v || *end || x < 0 || x > (1L << 24))
            return ts_error(TS_ERR_FORMAT, NULL, "%s:%d: '%s' needs a non-negative integer", file, line, key);
        *ints[i].p = (int)x;
        return TS_OK;
    }
    double f = strtod(v, &end);
    int num = *v && !*end;
    if (!strcmp(key, "vae_scale") && num) c->vae_scale = (float)f;
    else if (!strcmp(key, "rope_theta") && num) c->rope_theta = (float)f;
    else if (!strcmp(key, "shift") && num) c->shift = (float)f;
    else if (!strcmp(key, "default_cfg") && num) c->default_cfg = (float)f;
    else if (!strcmp(key, "fps") && num) c->fps = f;
    else if (!strcmp(key, "seed") && num) s->seed = (uint64_t)f;
    else if (!strcmp(key, "label")) snprintf(c->label, sizeof(c->label), "%s", v);
    else if (!strcmp(key, "vae_channels")) {
        c->vae_levels = 0;
        const char * p = v;
        while (*p) {
            long x = strtol(p, &end, 10);
            if (end == p || x <= 0 || c->vae_levels == TS_VAE_MAX_LEVELS)
                return ts_error(TS_ERR_FORMAT, NULL, "%s:%d: bad vae_channels '%s'", file, line, v);
            c->vae_ch[c->vae_levels++] = (int)x;
            p = end;
            while (*p == ',' || *p == ' ') p++;
        }
    } else
        return ts_error(TS_ERR_FORMAT, "keys are the model config names (see 'timeshard info models/default.h5')",
                        "%s:%d: unknown or non-numeric model setting '%s'", file, line, key);
    return TS_OK;
}

// "synth:FILE" or "synth:NAME" (configs/NAME.model beside the binary or in the source tree)
static enum ts_status load_synthetic(ts_model * m, const char * spec) {
    char path[1024];
    const char * name = spec + 6;
    if (strchr(name, '/')) snprintf(path, sizeof(path), "%s", name);
    else snprintf(path, sizeof(path), "%s/configs/%s.model", TS_SOURCE_DIR, name);
    if (access(path, R_OK) != 0)
        return ts_error(TS_ERR_IO, "name a preset of configs/ (synth:NAME for configs/NAME.model) or a file (synth:PATH)",
                        "no synthetic model '%s': cannot open '%s': %s", name, path, strerror(errno));
    struct synth_cfg s;
    memset(&s, 0, sizeof(s));
    struct ts_model_config * c = &s.c;
    // defaults: those of the shipped model's family
    c->text_len = 24, c->text_dim = 128, c->text_layers = 2, c->text_heads = 4, c->image_size = 64;
    c->vae_factor = 4, c->latent_channels = 4, c->vae_levels = 3, c->vae_ch[0] = 32, c->vae_ch[1] = 64;
    c->vae_ch[2] = 128, c->vae_groups = 8, c->vae_scale = 1.0f, c->patch = 2, c->width = 256, c->depth = 6;
    c->heads = 4, c->mlp_ratio = 4, c->temporal_window = 2, c->rope_theta = 10000.0f, c->freq_dim = 256;
    c->shift = 2.0f, c->default_steps = 20, c->default_cfg = 4.0f, c->fps = 12.0, c->train_frames = 16;
    s.vocab = 64;
    TS_TRY(ts_kv_parse_file(path, synth_kv, &s));
    m->cfg = s.c;
    if (!m->cfg.label[0]) snprintf(m->cfg.label, sizeof(m->cfg.label), "synthetic: random weights, seed %llu",
                                   (unsigned long long)s.seed);
    if (s.vocab < 3) s.vocab = 3;
    m->vocab_n = s.vocab;
    m->vocab = ts_calloc((size_t)s.vocab, sizeof(char *));
    const char * special[3] = {"<pad>", "<bos>", "<unk>"};
    for (int i = 0; i < s.vocab; i++) {
        char wd[32];
        snprintf(wd, sizeof(wd), "w%d", i);
        m->vocab[i] = strdup(i < 3 ? special[i] : wd);
    }
    m->text.layers = ts_calloc((size_t)m->cfg.text_layers + 1, sizeof(struct ts_text_layer));
    m->dit.blocks = ts_calloc((size_t)m->cfg.depth + 1, sizeof(struct ts_dit_block));
    TS_TRY(load_tensors(m, NULL, 1, s.seed));
    TS_TRY(ts_file_sha256(path, m->digest));  // the config file decides the weights
    return TS_OK;
}

enum ts_status ts_model_load(ts_model ** out, const char * path, ts_backend_t be) {
    *out = NULL;
    if (strncmp(path, "synth:", 6) == 0) {
        ts_model * m = ts_calloc(1, sizeof(*m));
        m->be = be;
        snprintf(m->path, sizeof(m->path), "%s", path);
        enum ts_status st = load_synthetic(m, path);
        if (st != TS_OK) ts_model_free(&m);
        *out = m;
        return st;
    }
    ts_weights * w = NULL;
    TS_TRY(ts_weights_open(path, &w));
    ts_model * m = ts_calloc(1, sizeof(*m));
    m->be = be;
    snprintf(m->path, sizeof(m->path), "%s", path);
    enum ts_status st = load_config(w, &m->cfg);
    if (st == TS_OK) {
        const char * const * words = NULL;
        int n = 0;
        st = ts_weights_vocab(w, &words, &n);
        if (st == TS_OK && n < 3)
            st = ts_error(TS_ERR_MODEL, NULL, "weights file '%s' has a vocabulary of %d words (need <pad> <bos> <unk>)",
                          path, n);
        if (st == TS_OK) {
            m->vocab_n = n;
            m->vocab = ts_calloc((size_t)n, sizeof(char *));
            for (int i = 0; i < n; i++) m->vocab[i] = strdup(words[i]);
        }
    }
    if (st == TS_OK) {
        m->text.layers = ts_calloc((size_t)m->cfg.text_layers + 1, sizeof(struct ts_text_layer));
        m->dit.blocks = ts_calloc((size_t)m->cfg.depth + 1, sizeof(struct ts_dit_block));
        st = load_tensors(m, w, 0, 0);
    }
    if (st == TS_OK) st = ts_file_sha256(path, m->digest);
    ts_weights_close(&w);
    if (st != TS_OK) {
        ts_model_free(&m);
        return st;
    }
    *out = m;
    return TS_OK;
}

void ts_model_free(ts_model ** mp) {
    ts_model * m = *mp;
    if (!m) return;
    if (m->wbuf) m->be->ops->release(m->be, m->wbuf);
    for (int i = 0; i < m->vocab_n; i++) free(m->vocab[i]);
    free(m->vocab);
    free(m->text.layers);
    free(m->dit.blocks);
    free(m);
    *mp = NULL;
}

void ts_to_uint8(uint8_t * out, const float * x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = floorf((x[i] + 1.0f) * 127.5f + 0.5f);
        out[i] = (uint8_t)(v < 0.f ? 0.f : v > 255.f ? 255.f : v);
    }
}
