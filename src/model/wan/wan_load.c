// Loading a Wan2.1 transformer with no conversion step: a diffusers directory
// (transformer/config.json + one or sharded safetensors) or one safetensors
// file in the original Wan naming, through one name table per layout.
#include <errno.h>
#include <jansson.h>  // config.json, model_index.json
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "model/wan/wan.h"

// ---- the name tables ----------------------------------------------------------------------------
// Every tensor the model reads, by slot; a column per layout. Block names take
// the block index. The original names are Wan-Video/Wan2.1's wan/modules/
// model.py; diffusers renames them (scripts/convert_wan_to_diffusers.py) and
// swaps norm2 and norm3: the affine norm before cross-attention is the
// original's norm3 and diffusers' norm2.
// clang-format off
enum ts_wan_slot {
    S_PATCH_W, S_PATCH_B, S_TIME1_W, S_TIME1_B, S_TIME2_W, S_TIME2_B, S_TPROJ_W, S_TPROJ_B,
    S_TEXT1_W, S_TEXT1_B, S_TEXT2_W, S_TEXT2_B, S_HEAD_W, S_HEAD_B, S_HEAD_SST,
    // per block
    S_Q_W, S_Q_B, S_K_W, S_K_B, S_V_W, S_V_B, S_O_W, S_O_B, S_NORM_Q, S_NORM_K,
    S_CQ_W, S_CQ_B, S_CK_W, S_CK_B, S_CV_W, S_CV_B, S_CO_W, S_CO_B, S_CNORM_Q, S_CNORM_K,
    S_NORMX_W, S_NORMX_B, S_FFN1_W, S_FFN1_B, S_FFN2_W, S_FFN2_B, S_SST,
    S_COUNT
};
// clang-format on

static const char * const ts_wan_names[S_COUNT][TS_WAN_LAYOUT_COUNT] = {
    [S_PATCH_W] = {"patch_embedding.weight", "patch_embedding.weight"},
    [S_PATCH_B] = {"patch_embedding.bias", "patch_embedding.bias"},
    [S_TIME1_W] = {"condition_embedder.time_embedder.linear_1.weight", "time_embedding.0.weight"},
    [S_TIME1_B] = {"condition_embedder.time_embedder.linear_1.bias", "time_embedding.0.bias"},
    [S_TIME2_W] = {"condition_embedder.time_embedder.linear_2.weight", "time_embedding.2.weight"},
    [S_TIME2_B] = {"condition_embedder.time_embedder.linear_2.bias", "time_embedding.2.bias"},
    [S_TPROJ_W] = {"condition_embedder.time_proj.weight", "time_projection.1.weight"},
    [S_TPROJ_B] = {"condition_embedder.time_proj.bias", "time_projection.1.bias"},
    [S_TEXT1_W] = {"condition_embedder.text_embedder.linear_1.weight", "text_embedding.0.weight"},
    [S_TEXT1_B] = {"condition_embedder.text_embedder.linear_1.bias", "text_embedding.0.bias"},
    [S_TEXT2_W] = {"condition_embedder.text_embedder.linear_2.weight", "text_embedding.2.weight"},
    [S_TEXT2_B] = {"condition_embedder.text_embedder.linear_2.bias", "text_embedding.2.bias"},
    [S_HEAD_W] = {"proj_out.weight", "head.head.weight"},
    [S_HEAD_B] = {"proj_out.bias", "head.head.bias"},
    [S_HEAD_SST] = {"scale_shift_table", "head.modulation"},
    [S_Q_W] = {"blocks.%d.attn1.to_q.weight", "blocks.%d.self_attn.q.weight"},
    [S_Q_B] = {"blocks.%d.attn1.to_q.bias", "blocks.%d.self_attn.q.bias"},
    [S_K_W] = {"blocks.%d.attn1.to_k.weight", "blocks.%d.self_attn.k.weight"},
    [S_K_B] = {"blocks.%d.attn1.to_k.bias", "blocks.%d.self_attn.k.bias"},
    [S_V_W] = {"blocks.%d.attn1.to_v.weight", "blocks.%d.self_attn.v.weight"},
    [S_V_B] = {"blocks.%d.attn1.to_v.bias", "blocks.%d.self_attn.v.bias"},
    [S_O_W] = {"blocks.%d.attn1.to_out.0.weight", "blocks.%d.self_attn.o.weight"},
    [S_O_B] = {"blocks.%d.attn1.to_out.0.bias", "blocks.%d.self_attn.o.bias"},
    [S_NORM_Q] = {"blocks.%d.attn1.norm_q.weight", "blocks.%d.self_attn.norm_q.weight"},
    [S_NORM_K] = {"blocks.%d.attn1.norm_k.weight", "blocks.%d.self_attn.norm_k.weight"},
    [S_CQ_W] = {"blocks.%d.attn2.to_q.weight", "blocks.%d.cross_attn.q.weight"},
    [S_CQ_B] = {"blocks.%d.attn2.to_q.bias", "blocks.%d.cross_attn.q.bias"},
    [S_CK_W] = {"blocks.%d.attn2.to_k.weight", "blocks.%d.cross_attn.k.weight"},
    [S_CK_B] = {"blocks.%d.attn2.to_k.bias", "blocks.%d.cross_attn.k.bias"},
    [S_CV_W] = {"blocks.%d.attn2.to_v.weight", "blocks.%d.cross_attn.v.weight"},
    [S_CV_B] = {"blocks.%d.attn2.to_v.bias", "blocks.%d.cross_attn.v.bias"},
    [S_CO_W] = {"blocks.%d.attn2.to_out.0.weight", "blocks.%d.cross_attn.o.weight"},
    [S_CO_B] = {"blocks.%d.attn2.to_out.0.bias", "blocks.%d.cross_attn.o.bias"},
    [S_CNORM_Q] = {"blocks.%d.attn2.norm_q.weight", "blocks.%d.cross_attn.norm_q.weight"},
    [S_CNORM_K] = {"blocks.%d.attn2.norm_k.weight", "blocks.%d.cross_attn.norm_k.weight"},
    [S_NORMX_W] = {"blocks.%d.norm2.weight", "blocks.%d.norm3.weight"},
    [S_NORMX_B] = {"blocks.%d.norm2.bias", "blocks.%d.norm3.bias"},
    [S_FFN1_W] = {"blocks.%d.ffn.net.0.proj.weight", "blocks.%d.ffn.0.weight"},
    [S_FFN1_B] = {"blocks.%d.ffn.net.0.proj.bias", "blocks.%d.ffn.0.bias"},
    [S_FFN2_W] = {"blocks.%d.ffn.net.2.weight", "blocks.%d.ffn.2.weight"},
    [S_FFN2_B] = {"blocks.%d.ffn.net.2.bias", "blocks.%d.ffn.2.bias"},
    [S_SST] = {"blocks.%d.scale_shift_table", "blocks.%d.modulation"},
};

const char * ts_wan_layout_name(enum ts_wan_layout l) {
    return l == TS_WAN_LAYOUT_DIFFUSERS ? "diffusers" : l == TS_WAN_LAYOUT_ORIGINAL ? "original" : "?";
}

#define TS_WAN_MAX_DIM (1 << 16)  // heads x head_dim; Wan2.1 14B: 5120
#define TS_WAN_HINT_SHAPE "is the file a Wan2.1 text-to-video transformer, complete and unmodified?"

struct ts_wan_loader {
    ts_wan_model * m;
    const char * prefix;  // "" or "model.diffusion_model."
    char name[256];
    float * bump;  // next free float of m->vecs
    float * bump_end;
};

static const char * slot_name(struct ts_wan_loader * L, enum ts_wan_slot s, int block) {
    char base[200];
    snprintf(base, sizeof base, ts_wan_names[s][L->m->layout], block);
    snprintf(L->name, sizeof L->name, "%s%s", L->prefix, base);
    return L->name;
}

static const char * shape_str(int ndim, const int64_t * shape, char * buf, size_t n) {
    size_t o = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (o < n) snprintf(buf + o, n - o, ndim == 1 ? ",)" : ")");
    return buf;
}

// The tensor of slot s (block `block`), which must have this shape.
static enum ts_status get_tensor(struct ts_wan_loader * L, enum ts_wan_slot s, int block, int ndim,
                                 const int64_t * shape, const struct ts_st_tensor ** out) {
    const char * name = slot_name(L, s, block);
    const struct ts_st_tensor * t = ts_st_find(L->m->st, name);
    if (!t)
        return ts_error(TS_ERR_MODEL, TS_WAN_HINT_SHAPE, "Wan transformer '%s' (%s naming) has no tensor '%s'",
                        L->m->path, ts_wan_layout_name(L->m->layout), name);
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (!ok) {
        char a[128], b[128];
        return ts_error(TS_ERR_MODEL, TS_WAN_HINT_SHAPE, "Wan transformer '%s': tensor '%s' has shape %s, expected %s",
                        L->m->path, name, shape_str(t->ndim, t->shape, a, sizeof a),
                        shape_str(ndim, shape, b, sizeof b));
    }
    L->m->n_params += t->numel;
    *out = t;
    return TS_OK;
}

static enum ts_status get_mat(struct ts_wan_loader * L, enum ts_wan_slot s, int block, int rows, int cols,
                              struct ts_wan_mat * mat) {
    const struct ts_st_tensor * t;
    int64_t shape[2] = {rows, cols};
    TS_TRY(get_tensor(L, s, block, 2, shape, &t));
    *mat = (struct ts_wan_mat){.data = t->data, .dtype = t->dtype, .rows = rows, .cols = cols};
    return TS_OK;
}

// A float32 copy of a small tensor of n values with this shape.
static enum ts_status get_vec(struct ts_wan_loader * L, enum ts_wan_slot s, int block, int ndim, const int64_t * shape,
                              const float ** out) {
    const struct ts_st_tensor * t;
    TS_TRY(get_tensor(L, s, block, ndim, shape, &t));
    TS_ASSERT(L->bump + t->numel <= L->bump_end);
    ts_st_to_float(L->bump, t->data, t->dtype, 0, t->numel);
    *out = L->bump;
    L->bump += t->numel;
    return TS_OK;
}

static enum ts_status get_vec1(struct ts_wan_loader * L, enum ts_wan_slot s, int block, int n, const float ** out) {
    int64_t shape[1] = {n};
    return get_vec(L, s, block, 1, shape, out);
}

// ---- config -------------------------------------------------------------------------------------

static enum ts_status json_int(json_t * root, const char * key, const char * path, int * v, int dflt) {
    json_t * x = json_object_get(root, key);
    if (!x || json_is_null(x)) {
        if (dflt < 0) return ts_error(TS_ERR_FORMAT, TS_WAN_HINT_SHAPE, "config '%s' has no '%s'", path, key);
        *v = dflt;
        return TS_OK;
    }
    if (!json_is_integer(x) || json_integer_value(x) <= 0 || json_integer_value(x) > (1 << 30))
        return ts_error(TS_ERR_FORMAT, NULL, "config '%s': '%s' is not a positive integer", path, key);
    *v = (int)json_integer_value(x);
    return TS_OK;
}

// transformer/config.json of a diffusers directory.
static enum ts_status read_diffusers_config(const char * path, struct ts_wan_config * c) {
    json_error_t jerr;
    json_t * root = json_load_file(path, 0, &jerr);
    if (!root) {
        if (access(path, R_OK) != 0)
            return ts_error(TS_ERR_IO, "a diffusers directory has transformer/config.json", "cannot read '%s': %s",
                            path, strerror(errno));
        return ts_error(TS_ERR_FORMAT, NULL, "'%s': bad JSON at line %d: %s", path, jerr.line, jerr.text);
    }
    enum ts_status s = TS_OK;
    const char * cls = json_string_value(json_object_get(root, "_class_name"));
    if (!cls || strcmp(cls, "WanTransformer3DModel") != 0) {
        s = ts_error(TS_ERR_MODEL, "timeshard runs Wan2.1 text-to-video transformers (WanTransformer3DModel)",
                     "'%s' describes a '%s', not a WanTransformer3DModel", path, cls ? cls : "(no _class_name)");
        goto done;
    }
    if ((s = json_int(root, "num_attention_heads", path, &c->heads, -1)) != TS_OK ||
        (s = json_int(root, "attention_head_dim", path, &c->head_dim, -1)) != TS_OK ||
        (s = json_int(root, "in_channels", path, &c->in_channels, 16)) != TS_OK ||
        (s = json_int(root, "out_channels", path, &c->out_channels, c->in_channels)) != TS_OK ||
        (s = json_int(root, "text_dim", path, &c->text_dim, 4096)) != TS_OK ||
        (s = json_int(root, "freq_dim", path, &c->freq_dim, 256)) != TS_OK ||
        (s = json_int(root, "ffn_dim", path, &c->ffn_dim, -1)) != TS_OK ||
        (s = json_int(root, "num_layers", path, &c->layers, -1)) != TS_OK ||
        (s = json_int(root, "rope_max_seq_len", path, &c->rope_max_seq_len, 1024)) != TS_OK)
        goto done;
    if ((int64_t)c->heads * c->head_dim > TS_WAN_MAX_DIM) {
        s = ts_error(TS_ERR_FORMAT, TS_WAN_HINT_SHAPE,
                     "config '%s': width %lld (%d heads x %d) is beyond any Wan2.1 (5120)", path,
                     (long long)c->heads * c->head_dim, c->heads, c->head_dim);
        goto done;
    }
    c->dim = c->heads * c->head_dim;
    json_t * ps = json_object_get(root, "patch_size");
    c->patch[0] = 1, c->patch[1] = 2, c->patch[2] = 2;
    if (ps) {
        if (!json_is_array(ps) || json_array_size(ps) != 3) {
            s = ts_error(TS_ERR_FORMAT, NULL, "config '%s': patch_size is not [t, h, w]", path);
            goto done;
        }
        for (int i = 0; i < 3; i++) c->patch[i] = (int)json_integer_value(json_array_get(ps, (size_t)i));
    }
    json_t * eps = json_object_get(root, "eps");
    c->eps = eps && json_is_number(eps) ? (float)json_number_value(eps) : 1e-6f;
    const char * qk = json_string_value(json_object_get(root, "qk_norm"));
    json_t * img = json_object_get(root, "image_dim");
    json_t * akv = json_object_get(root, "added_kv_proj_dim");
    if ((img && !json_is_null(img)) || (akv && !json_is_null(akv)))
        s = ts_error(TS_ERR_MODEL, "only the text-to-video Wan2.1 transformers run (T2V-1.3B, T2V-14B)",
                     "'%s' is an image-to-video transformer (image_dim / added_kv_proj_dim set)", path);
    else if (qk && strcmp(qk, "rms_norm_across_heads") != 0)
        s = ts_error(TS_ERR_MODEL, "Wan2.1 normalises q and k across all heads (rms_norm_across_heads)",
                     "'%s': qk_norm '%s' is not supported (only rms_norm_across_heads)", path, qk);
    else if (json_is_false(json_object_get(root, "cross_attn_norm")))
        s = ts_error(TS_ERR_MODEL, "Wan2.1 normalises before cross-attention (cross_attn_norm true)",
                     "'%s': cross_attn_norm false is not supported", path);
done:
    json_decref(root);
    return s;
}

// Infers the config of a single file from its tensors' shapes.
static enum ts_status infer_config(struct ts_wan_loader * L, const char * path) {
    ts_wan_model * m = L->m;
    struct ts_wan_config * c = &m->cfg;
    const struct ts_st_tensor * pe = ts_st_find(m->st, slot_name(L, S_PATCH_W, 0));
    const struct ts_st_tensor * t1 = ts_st_find(m->st, slot_name(L, S_TIME1_W, 0));
    const struct ts_st_tensor * x1 = ts_st_find(m->st, slot_name(L, S_TEXT1_W, 0));
    const struct ts_st_tensor * f1 = ts_st_find(m->st, slot_name(L, S_FFN1_W, 0));
    const struct ts_st_tensor * hd = ts_st_find(m->st, slot_name(L, S_HEAD_W, 0));
    if (!pe || pe->ndim != 5 || !t1 || t1->ndim != 2 || !x1 || x1->ndim != 2 || !f1 || f1->ndim != 2 || !hd ||
        hd->ndim != 2)
        return ts_error(
            TS_ERR_MODEL, TS_WAN_HINT_SHAPE,
            "'%s' lacks the tensors a Wan transformer's config is read from (patch_embedding, time, text, ffn, head)",
            path);
    c->dim = (int)pe->shape[0];
    c->in_channels = (int)pe->shape[1];
    for (int i = 0; i < 3; i++) c->patch[i] = (int)pe->shape[2 + i];
    c->freq_dim = (int)t1->shape[1];
    c->text_dim = (int)x1->shape[1];
    c->ffn_dim = (int)f1->shape[0];
    int pp = c->patch[0] * c->patch[1] * c->patch[2];
    c->out_channels = pp > 0 ? (int)(hd->shape[0] / pp) : 0;
    c->layers = 0;
    while (ts_st_find(m->st, slot_name(L, S_SST, c->layers))) c->layers++;
    c->eps = 1e-6f;
    c->rope_max_seq_len = 1024;
    // heads: every published Wan2.1 uses head_dim 128 (1.3B: 12, 14B: 40)
    // unless the file says otherwise
    c->head_dim = 128;
    c->heads = c->dim / 128;
    const char * nh = ts_st_metadata(m->st, "num_heads");
    if (nh && atoi(nh) > 0) {
        c->heads = atoi(nh);
        c->head_dim = c->dim / c->heads;
    }
    if (c->heads <= 0 || c->heads * c->head_dim != c->dim)
        return ts_error(TS_ERR_MODEL, "published Wan2.1 transformers have width 1536 or 5120 (head_dim 128)",
                        "'%s': width %d is not a multiple of head_dim %d", path, c->dim, c->head_dim);
    return TS_OK;
}

// ---- the model ----------------------------------------------------------------------------------

// The config's sizes against the file's own tensors, before anything is sized
// from them: a config claiming a width, channels, FFN width or depth its
// tensors do not have is one error here, not a huge allocation.
static enum ts_status check_sizes(struct ts_wan_loader * L) {
    const struct ts_wan_config * c = &L->m->cfg;
    const struct ts_st_tensor * t;
    int64_t pp = (int64_t)c->patch[0] * c->patch[1] * c->patch[2];
    int64_t pe[5] = {c->dim, c->in_channels, c->patch[0], c->patch[1], c->patch[2]};
    int64_t head[2] = {pp * c->out_channels, c->dim};
    int64_t ffn[2] = {c->ffn_dim, c->dim};
    TS_TRY(get_tensor(L, S_PATCH_W, 0, 5, pe, &t));
    TS_TRY(get_tensor(L, S_HEAD_W, 0, 2, head, &t));
    TS_TRY(get_tensor(L, S_FFN1_W, 0, 2, ffn, &t));
    if (!ts_st_find(L->m->st, slot_name(L, S_Q_W, c->layers - 1)))  // the depth: its last block is there
        return ts_error(TS_ERR_MODEL, TS_WAN_HINT_SHAPE,
                        "Wan transformer '%s' (%s naming) has no tensor '%s' (the config says %d layers)", L->m->path,
                        ts_wan_layout_name(L->m->layout), slot_name(L, S_Q_W, c->layers - 1), c->layers);
    L->m->n_params = 0;  // get_tensor counted them; load_tensors counts every tensor once
    return TS_OK;
}

static enum ts_status load_tensors(struct ts_wan_loader * L) {
    ts_wan_model * m = L->m;
    const struct ts_wan_config * c = &m->cfg;
    int D = c->dim, F = c->ffn_dim, C = c->in_channels, pp = c->patch[0] * c->patch[1] * c->patch[2];
    int P = pp * c->out_channels;
    size_t vec_floats =
        (size_t)D * C * pp * 2 + (size_t)D * 16 + (size_t)P + (size_t)c->layers * ((size_t)D * 24 + (size_t)F);
    m->vecs = ts_malloc(vec_floats * sizeof(float));
    L->bump = m->vecs;
    L->bump_end = m->vecs + vec_floats;

    // patch embedding: (D, C, pt, ph, pw) -> float32 (D, ph*pw*C) in patchify's (py, px, c) order
    const struct ts_st_tensor * pe;
    int64_t pshape[5] = {D, C, c->patch[0], c->patch[1], c->patch[2]};
    TS_TRY(get_tensor(L, S_PATCH_W, 0, 5, pshape, &pe));
    float * tmp = ts_malloc((size_t)pe->numel * sizeof(float));
    ts_st_to_float(tmp, pe->data, pe->dtype, 0, pe->numel);
    m->patch_w = L->bump;
    L->bump += pe->numel;
    for (int d = 0; d < D; d++)
        for (int ci = 0; ci < C; ci++)
            for (int q = 0; q < pp; q++) m->patch_w[((size_t)d * pp + q) * C + ci] = tmp[((size_t)d * C + ci) * pp + q];
    free(tmp);
    TS_TRY(get_vec1(L, S_PATCH_B, 0, D, &m->patch_b));
    TS_TRY(get_mat(L, S_TIME1_W, 0, D, c->freq_dim, &m->time1));
    TS_TRY(get_vec1(L, S_TIME1_B, 0, D, &m->time1_b));
    TS_TRY(get_mat(L, S_TIME2_W, 0, D, D, &m->time2));
    TS_TRY(get_vec1(L, S_TIME2_B, 0, D, &m->time2_b));
    TS_TRY(get_mat(L, S_TPROJ_W, 0, 6 * D, D, &m->tproj));
    TS_TRY(get_vec1(L, S_TPROJ_B, 0, 6 * D, &m->tproj_b));
    TS_TRY(get_mat(L, S_TEXT1_W, 0, D, c->text_dim, &m->text1));
    TS_TRY(get_vec1(L, S_TEXT1_B, 0, D, &m->text1_b));
    TS_TRY(get_mat(L, S_TEXT2_W, 0, D, D, &m->text2));
    TS_TRY(get_vec1(L, S_TEXT2_B, 0, D, &m->text2_b));
    TS_TRY(get_mat(L, S_HEAD_W, 0, P, D, &m->head));
    TS_TRY(get_vec1(L, S_HEAD_B, 0, P, &m->head_b));
    int64_t sst2[3] = {1, 2, D}, sst6[3] = {1, 6, D};
    TS_TRY(get_vec(L, S_HEAD_SST, 0, 3, sst2, &m->head_sst));

    m->blocks = ts_calloc((size_t)c->layers, sizeof *m->blocks);
    for (int i = 0; i < c->layers; i++) {
        struct ts_wan_block * b = &m->blocks[i];
        TS_TRY(get_mat(L, S_Q_W, i, D, D, &b->q));
        TS_TRY(get_vec1(L, S_Q_B, i, D, &b->q_b));
        TS_TRY(get_mat(L, S_K_W, i, D, D, &b->k));
        TS_TRY(get_vec1(L, S_K_B, i, D, &b->k_b));
        TS_TRY(get_mat(L, S_V_W, i, D, D, &b->v));
        TS_TRY(get_vec1(L, S_V_B, i, D, &b->v_b));
        TS_TRY(get_mat(L, S_O_W, i, D, D, &b->o));
        TS_TRY(get_vec1(L, S_O_B, i, D, &b->o_b));
        TS_TRY(get_vec1(L, S_NORM_Q, i, D, &b->norm_q));
        TS_TRY(get_vec1(L, S_NORM_K, i, D, &b->norm_k));
        TS_TRY(get_mat(L, S_CQ_W, i, D, D, &b->cq));
        TS_TRY(get_vec1(L, S_CQ_B, i, D, &b->cq_b));
        TS_TRY(get_mat(L, S_CK_W, i, D, D, &b->ck));
        TS_TRY(get_vec1(L, S_CK_B, i, D, &b->ck_b));
        TS_TRY(get_mat(L, S_CV_W, i, D, D, &b->cv));
        TS_TRY(get_vec1(L, S_CV_B, i, D, &b->cv_b));
        TS_TRY(get_mat(L, S_CO_W, i, D, D, &b->co));
        TS_TRY(get_vec1(L, S_CO_B, i, D, &b->co_b));
        TS_TRY(get_vec1(L, S_CNORM_Q, i, D, &b->cnorm_q));
        TS_TRY(get_vec1(L, S_CNORM_K, i, D, &b->cnorm_k));
        TS_TRY(get_vec1(L, S_NORMX_W, i, D, &b->norm_x_w));
        TS_TRY(get_vec1(L, S_NORMX_B, i, D, &b->norm_x_b));
        TS_TRY(get_mat(L, S_FFN1_W, i, F, D, &b->ffn1));
        TS_TRY(get_vec1(L, S_FFN1_B, i, F, &b->ffn1_b));
        TS_TRY(get_mat(L, S_FFN2_W, i, D, F, &b->ffn2));
        TS_TRY(get_vec1(L, S_FFN2_B, i, D, &b->ffn2_b));
        TS_TRY(get_vec(L, S_SST, i, 3, sst6, &b->sst));
    }
    // the head's rows are (pt, ph, pw, c) with c fastest: patchify's order already (pt = 1)
    if (m->n_params != 0) {
        int64_t n_file = 0;
        for (int i = 0; i < ts_st_count(m->st); i++) n_file += ts_st_at(m->st, i)->numel;
        if (n_file != m->n_params)
            TS_WARN("Wan transformer '%s': %lld parameters unused (tensors the model does not read)", m->path,
                    (long long)(n_file - m->n_params));
    }
    return TS_OK;
}

static int is_dir(const char * p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int is_file(const char * p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

// model_index.json (optional): its transformer entry must be a WanTransformer3DModel.
static enum ts_status check_model_index(const char * dir) {
    char p[4096];
    snprintf(p, sizeof p, "%s/model_index.json", dir);
    if (!is_file(p)) return TS_OK;
    json_error_t jerr;
    json_t * root = json_load_file(p, 0, &jerr);
    if (!root) return ts_error(TS_ERR_FORMAT, NULL, "'%s': bad JSON at line %d: %s", p, jerr.line, jerr.text);
    enum ts_status s = TS_OK;
    const char * cls = json_string_value(json_object_get(root, "_class_name"));
    json_t * tr = json_object_get(root, "transformer");
    const char * tcls = json_is_array(tr) ? json_string_value(json_array_get(tr, 1)) : NULL;
    if (cls && strcmp(cls, "WanPipeline") != 0)
        s = ts_error(TS_ERR_MODEL, "timeshard runs Wan2.1 text-to-video pipelines (WanPipeline)",
                     "'%s' is a '%s', not a WanPipeline", p, cls);
    else if (!tcls)
        s = ts_error(TS_ERR_MODEL, NULL, "'%s' names no transformer component", p);
    else if (strcmp(tcls, "WanTransformer3DModel") != 0)
        s = ts_error(TS_ERR_MODEL, "timeshard runs Wan2.1 text-to-video transformers (WanTransformer3DModel)",
                     "'%s': the transformer is a '%s', not a WanTransformer3DModel", p, tcls);
    if (s == TS_OK) {  // Wan2.2's WanPipeline: a second transformer for low noise, or timesteps per token
        json_t * t2 = json_object_get(root, "transformer_2");
        json_t * br = json_object_get(root, "boundary_ratio");
        const char * what = json_is_array(t2) && json_string_value(json_array_get(t2, 1)) ? "a second transformer "
                                                                                           "(transformer_2)"
                            : br && !json_is_null(br)                    ? "a boundary_ratio"
                            : json_is_true(json_object_get(root, "expand_timesteps")) ? "expand_timesteps"
                                                                                      : NULL;
        if (what)
            s = ts_error(TS_ERR_MODEL, "timeshard runs Wan2.1 (one transformer); Wan2.2 is not supported yet",
                         "'%s' has %s: a Wan2.2 pipeline", p, what);
    }
    json_decref(root);
    return s;
}

static char * str_printf(const char * fmt, ...) TS_PRINTF(1, 2);
static char * str_printf(const char * fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char * s = ts_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static enum ts_status wan_load(const char * path, ts_wan_model * m) {
    struct ts_wan_loader L = {.m = m, .prefix = ""};
    char * cfg_path = NULL;
    char * weights = NULL;
    enum ts_status s = TS_OK;
    if (is_dir(path)) {
        TS_TRY(check_model_index(path));
        char * tdir = str_printf("%s/transformer", path);
        if (!is_dir(tdir)) {
            free(tdir);
            tdir = str_printf("%s", path);  // the transformer folder itself
        }
        cfg_path = str_printf("%s/config.json", tdir);
        char * single = str_printf("%s/diffusion_pytorch_model.safetensors", tdir);
        char * index = str_printf("%s/diffusion_pytorch_model.safetensors.index.json", tdir);
        char * bin = str_printf("%s/diffusion_pytorch_model.bin", tdir);
        if (is_file(index))
            weights = index, index = NULL;
        else if (is_file(single))
            weights = single, single = NULL;
        else if (is_file(bin))
            s = ts_error(TS_ERR_FORMAT,
                         "convert it once with: python3 tools/wan/pth_to_safetensors.py IN.bin OUT.safetensors (needs "
                         "PyTorch), or download the safetensors files",
                         "'%s' is a PyTorch pickle, which timeshard does not load (pickles can run code)", bin);
        else
            s = ts_error(TS_ERR_IO, "a diffusers directory holds transformer/diffusion_pytorch_model*.safetensors",
                         "'%s' has no transformer weights (diffusion_pytorch_model.safetensors or its .index.json)",
                         tdir);
        if (s == TS_OK && !is_file(cfg_path))
            s = ts_error(TS_ERR_IO, "a diffusers directory holds transformer/config.json", "'%s' is missing", cfg_path);
        free(single), free(index), free(bin), free(tdir);
        if (s == TS_OK) s = read_diffusers_config(cfg_path, &m->cfg);
        if (s == TS_OK) s = ts_st_open(weights, &m->st);
        m->layout = TS_WAN_LAYOUT_DIFFUSERS;
    } else {
        s = ts_st_open(path, &m->st);
        if (s == TS_OK) {
            // which naming, which prefix
            static const char * prefixes[] = {"", "model.diffusion_model.", "diffusion_model.", "model."};
            int found = 0;
            for (int lay = 0; lay < TS_WAN_LAYOUT_COUNT && !found; lay++)
                for (size_t p = 0; p < sizeof prefixes / sizeof *prefixes && !found; p++) {
                    m->layout = (enum ts_wan_layout)lay;
                    L.prefix = prefixes[p];
                    found = ts_st_find(m->st, slot_name(&L, S_Q_W, 0)) != NULL;
                }
            if (!found)
                s = ts_error(TS_ERR_MODEL, "give a Wan2.1 transformer: a diffusers directory or one .safetensors file",
                             "'%s' holds no Wan transformer (no 'blocks.0.attn1.to_q.weight' nor "
                             "'blocks.0.self_attn.q.weight', with or without a prefix)",
                             path);
            // a diffusers-named file given alone: its folder's config.json when there is one
            const char * slash = strrchr(path, '/');
            if (s == TS_OK && m->layout == TS_WAN_LAYOUT_DIFFUSERS) {
                char * cp = str_printf("%.*sconfig.json", slash ? (int)(slash - path + 1) : 0, path);
                if (is_file(cp))
                    cfg_path = cp;
                else
                    free(cp);
            }
            if (s == TS_OK) s = cfg_path ? read_diffusers_config(cfg_path, &m->cfg) : infer_config(&L, path);
        }
    }
    struct ts_wan_config * c = &m->cfg;
    if (s == TS_OK && (c->patch[0] != 1 || c->patch[1] != 2 || c->patch[2] != 2))
        s = ts_error(TS_ERR_MODEL, "Wan2.1 patches latents (1, 2, 2)", "'%s': patch size (%d, %d, %d) is not supported",
                     path, c->patch[0], c->patch[1], c->patch[2]);
    if (s == TS_OK && (c->head_dim % 2 || c->layers <= 0 || c->in_channels <= 0 || c->out_channels <= 0))
        s = ts_error(TS_ERR_MODEL, TS_WAN_HINT_SHAPE, "'%s': config not usable (head_dim %d, %d layers, %d channels)",
                     path, c->head_dim, c->layers, c->in_channels);
    if (s == TS_OK) s = check_sizes(&L);
    if (s == TS_OK) s = load_tensors(&L);
    if (s == TS_OK) s = ts_st_digest(m->st, cfg_path, m->digest);
    if (s == TS_OK && cfg_path) m->config_path = str_printf("%s", cfg_path);
    free(cfg_path);
    free(weights);
    return s;
}

enum ts_status ts_wan_load(const char * path, ts_backend_t be, ts_wan_model ** out) {
    TS_ASSERT(path && out);
    *out = NULL;
    if (!be || strcmp(be->ops->name, "cpu") != 0)
        return ts_error(TS_ERR_ARG, "use --backend cpu (the CUDA kernels of Wan are not written yet)",
                        "Wan2.1 runs on the CPU backend only, not on '%s'", be ? be->ops->name : "(none)");
    if (!is_dir(path) && !is_file(path))
        return ts_error(TS_ERR_IO, "check the path given with --model", "cannot open Wan model '%s': %s", path,
                        strerror(errno));
    if (is_file(path)) TS_TRY(ts_st_refuse_foreign(path));
    ts_wan_model * m = ts_calloc(1, sizeof *m);
    m->be = be;
    m->path = str_printf("%s", path);
    enum ts_status s = wan_load(path, m);
    if (s != TS_OK) {
        ts_wan_free(&m);
        return s;
    }
    *out = m;
    return TS_OK;
}

void ts_wan_free(ts_wan_model ** pm) {
    if (!pm || !*pm) return;
    ts_wan_model * m = *pm;
    ts_st_close(&m->st);
    free(m->blocks);
    free(m->vecs);
    free(m->path);
    free(m->config_path);
    free(m);
    *pm = NULL;
}
