// The Wan2.1 diffusion transformer's forward on the CPU backend, as diffusers'
// WanTransformer3DModel computes it, over the latent frames a rank owns.
#include <math.h>
#include <stdint.h>  // INT32_MAX
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"  // ts_cpu_linear_typed, ts_cpu_attn3d
#include "core/common.h"
#include "model/wan/wan.h"

_Static_assert((int)TS_ST_F32 == TS_CPU_W_F32 && (int)TS_ST_F16 == TS_CPU_W_F16 && (int)TS_ST_BF16 == TS_CPU_W_BF16,
               "stored dtypes and the GEMM's weight dtypes agree");

struct ts_wan_ws {
    int64_t T_total, g0, T_own;  // frames [g0, g0 + T_own) of T_total
    int h, w, hp, wp, N;         // latents h x w, tokens hp x wp = N per frame
    int window;                  // 0: whole video
    int64_t need0, need1;        // frames [need0, need1) hold keys an owned frame attends to
    int L;                       // text rows per segment
    int D;                       // model width
    ts_backend_t be;             // not owned: the model's unless set
    int64_t M;                   // T_own * N rows
    float * x;                   // (M, D) the residual stream
    float * xn;                  // (M, D) normed / projected rows
    float * q;                   // (M, D)
    float * k;                   // (M, D)
    float * v;                   // (M, D)
    float * att;                 // (M, D)
    float * ffh;                 // (M, F)
    float * kv;        // (need1 - need0, 2, N, D): the K then V rows of frames need0.. (own ones computed here)
    float * tok;       // (M, 4 * max(C, C_out)) patches in and out
    float * rope_cos;  // (M, hd/2)
    float * rope_sin;  // (M, hd/2)
    float * tsin;      // (freq_dim) sinusoidal timestep
    float * temb;      // (D) time embedding
    float * temb_h;    // (D) its hidden layer / SiLU(temb)
    float * t6;        // (6D) time projection
    float * mod;       // (6D) a block's modulation: scale_shift_table + t6
    float * hmod;      // (2D) the head's shift, scale
    float * mem;       // owned: one allocation every pointer above points into
    // the text group, sized for text_segs segments (grown by the first forward that needs more)
    int text_segs;
    float * ctx;     // (text_segs, L, D) embedded text of each segment
    float * ctx_h;   // (L, D) text embedding's hidden layer
    float * ckv;     // (text_segs, L, 2D) cross-attention K | V rows of each segment
    uint8_t * used;  // (text_segs) 1 for the segments an owned frame attends to
    int * uniq;      // (text_segs) rows [uniq - 1, L) of the segment's input are equal: computed once
    int * nkey;      // (text_segs) keys the cross-attention visits: uniq, or L where the bias tail differs
    float * kbias;   // (text_segs, L) their logit bias: the prompt weights', + log(L - uniq + 1) on the last
    float * tmem;    // owned: one allocation ctx, ctx_h, ckv and kbias point into
};

// ---- pieces -------------------------------------------------------------------------------------

void ts_wan_rope_tables(float * cos_tab, float * sin_tab, int hd, int64_t g0, int64_t T_own, int hp, int wp) {
    int half = hd / 2;
    int d_h = 2 * (hd / 6), d_t = hd - 2 * d_h;  // per-axis widths (h = w), in values
    int p_t = d_t / 2, p_h = d_h / 2;            // pairs of each axis
    for (int64_t f = 0; f < T_own; f++)
        for (int y = 0; y < hp; y++)
            for (int x = 0; x < wp; x++) {
                int64_t r = (f * hp + y) * wp + x;
                for (int i = 0; i < half; i++) {
                    int axis = i < p_t ? 0 : i < p_t + p_h ? 1 : 2;
                    int j = axis == 0 ? i : axis == 1 ? i - p_t : i - p_t - p_h;  // pair within the axis
                    int dim = axis == 0 ? d_t : d_h;
                    double pos = axis == 0 ? (double)(g0 + f) : axis == 1 ? (double)y : (double)x;
                    double freq = 1.0 / pow(10000.0, (double)(2 * j) / (double)dim);
                    double a = pos * freq;
                    cos_tab[r * half + i] = (float)cos(a);
                    sin_tab[r * half + i] = (float)sin(a);
                }
            }
}

void ts_wan_attn3d_cpu(ts_backend_t be, float * out, const float * q, const float * kv, int64_t kv_g0,
                       int64_t kv_frames, int64_t T_total, int64_t g0, int64_t T_own, int N, int H, int hd,
                       int window) {
    ts_cpu_attn3d(be, out, q, kv, kv_g0, kv_frames, T_total, g0, T_own, N, H, hd, window);
}

static void lin(ts_backend_t be, float * y, int ldy, const float * x, int ldx, const struct ts_wan_mat * w,
                const float * b, int64_t M) {
    ts_cpu_linear_typed(be, y, ldy, x, ldx, w->data, (int)w->dtype, b, M, w->cols, w->rows);
}

// RMSNorm over the D values of each row (stride ld), weight g: torch.nn.RMSNorm.
static void rmsnorm(ts_backend_t be, float * x, int ld, int64_t rows, int D, const float * g, float eps) {
#pragma omp parallel for num_threads(be->threads) schedule(static) if (rows * D > 65536)
    for (int64_t r = 0; r < rows; r++) {
        float * xr = x + r * ld;
        double ss = 0.0;
        for (int d = 0; d < D; d++) ss += (double)xr[d] * xr[d];
        float inv = (float)(1.0 / sqrt(ss / D + (double)eps));
        for (int d = 0; d < D; d++) xr[d] = xr[d] * inv * g[d];
    }
}

// diffusers' Timesteps(freq_dim, flip_sin_to_cos=True, downscale_freq_shift=0),
// in float32 as PyTorch computes it: [cos(t f_i), sin(t f_i)], f_i = exp(-ln(1e4) i / half).
static void timestep_sinusoid(float * out, int freq_dim, float t) {
    int half = freq_dim / 2;
    const float c = (float)-log(10000.0);
    for (int i = 0; i < half; i++) {
        float e = c * (float)i;
        e = e / (float)half;
        float a = t * expf(e);
        out[i] = cosf(a);
        out[half + i] = sinf(a);
    }
    if (freq_dim % 2) out[freq_dim - 1] = 0.0f;
}

enum ts_status ts_wan_check_video(int64_t frames, int width, int height, int ranks, int64_t * T, int * h, int * w) {
    if (frames < 1 || (frames - 1) % 4 != 0) {
        int64_t lo = frames < 1 ? 1 : (frames - 1) / 4 * 4 + 1, hi = lo + 4;
        char hint[160];
        if (frames > 1 && hi <= INT32_MAX)
            snprintf(hint, sizeof hint, "use --frames %lld or %lld", (long long)lo, (long long)hi);
        else if (frames > 1)
            snprintf(hint, sizeof hint, "use --frames %lld", (long long)lo);
        else
            snprintf(hint, sizeof hint, "use --frames 1, 5, 9, ... (81 is Wan2.1's default)");
        return ts_error(TS_ERR_ARG, hint, "Wan2.1 makes 4k+1 frames (1, 5, ..., 77, 81); %lld is not one",
                        (long long)frames);
    }
    if (width < 16 || height < 16 || width % 16 || height % 16) {
        char hint[160];
        snprintf(hint, sizeof hint, "use --width %d --height %d (or the next multiples of 16)",
                 width < 16 ? 16 : width / 16 * 16, height < 16 ? 16 : height / 16 * 16);
        return ts_error(TS_ERR_ARG, hint, "Wan2.1 needs a width and height that are multiples of 16, not %dx%d", width,
                        height);
    }
    int64_t t = (frames - 1) / 4 + 1;
    if (ranks < 1 || ranks > t) {
        char hint[160];
        snprintf(hint, sizeof hint, "run on at most %lld ranks, or make the video longer", (long long)t);
        return ts_error(TS_ERR_ARG, hint,
                        "%d ranks for %lld frames (%lld latent frames): each rank must own at least one latent frame",
                        ranks, (long long)frames, (long long)t);
    }
    if (T) *T = t;
    if (h) *h = height / 8;
    if (w) *w = width / 8;
    return TS_OK;
}

// ---- work space ---------------------------------------------------------------------------------

// The text group for n segments (replacing the previous one: nothing in it lives between forwards).
static void text_group_alloc(ts_wan_ws * ws, int n) {
    const size_t L = (size_t)ws->L, D = (size_t)ws->D;
    const size_t a = (n * L * D + 15) / 16 * 16, b = (L * D + 15) / 16 * 16, c = (n * L * 2 * D + 15) / 16 * 16;
    const size_t e = (n * L + 15) / 16 * 16;
    free(ws->tmem);
    free(ws->used);
    free(ws->uniq);
    free(ws->nkey);
    ws->tmem = ts_cpu_aligned_alloc(a + b + c + e);
    memset(ws->tmem, 0, (a + b + c + e) * sizeof(float));
    ws->ctx = ws->tmem, ws->ctx_h = ws->tmem + a, ws->ckv = ws->tmem + a + b, ws->kbias = ws->tmem + a + b + c;
    ws->used = ts_calloc((size_t)n, 1);
    ws->uniq = ts_calloc((size_t)n, sizeof(int));
    ws->nkey = ts_calloc((size_t)n, sizeof(int));
    ws->text_segs = n;
}

enum ts_status ts_wan_ws_new(const ts_wan_model * m, int64_t T_total, int64_t g0, int64_t T_own, int h, int w,
                             int window, int text_len, ts_wan_ws ** out) {
    TS_ASSERT(m && out);
    *out = NULL;
    const struct ts_wan_config * c = &m->cfg;
    if (T_total < 1 || T_own < 1 || g0 < 0 || g0 + T_own > T_total)
        return ts_error(TS_ERR_ARG, "each rank owns at least one latent frame",
                        "frames [%lld, %lld) are not a part of a %lld-frame video", (long long)g0,
                        (long long)(g0 + T_own), (long long)T_total);
    if (h < 2 || w < 2 || h % 2 || w % 2)
        return ts_error(TS_ERR_ARG, "the width and height are multiples of 16 (latents: multiples of 2)",
                        "latent size %dx%d is not a multiple of the (2, 2) patch", w, h);
    if (h / 2 > c->rope_max_seq_len || w / 2 > c->rope_max_seq_len || T_total > c->rope_max_seq_len)
        return ts_error(TS_ERR_ARG, NULL,
                        "a %lld x %d x %d latent video has more positions per axis than the model's %d",
                        (long long)T_total, h / 2, w / 2, c->rope_max_seq_len);
    if (window < 0) return ts_error(TS_ERR_ARG, NULL, "window %d is negative", window);
    if (text_len < 1) return ts_error(TS_ERR_ARG, NULL, "the text context has no rows");
    ts_wan_ws * ws = ts_calloc(1, sizeof *ws);
    ws->T_total = T_total, ws->g0 = g0, ws->T_own = T_own, ws->h = h, ws->w = w;
    ws->hp = h / 2, ws->wp = w / 2, ws->N = ws->hp * ws->wp, ws->window = window, ws->L = text_len;
    ws->M = T_own * ws->N;
    ws->need0 = window > 0 && g0 - window > 0 ? g0 - window : 0;
    ws->need1 = window > 0 && g0 + T_own + window < T_total ? g0 + T_own + window : T_total;
    int64_t kv_frames = ws->need1 - ws->need0;
    ws->D = c->dim;
    ws->be = m->be;
    int64_t D = c->dim, M = ws->M, L = text_len, half = c->head_dim / 2;
    int cmax = c->in_channels > c->out_channels ? c->in_channels : c->out_channels;
    (void)L;
    size_t sizes[] = {
        (size_t)(M * D),
        (size_t)(M * D),
        (size_t)(M * D),
        (size_t)(M * D),
        (size_t)(M * D),
        (size_t)(M * D),
        (size_t)M * c->ffn_dim,
        (size_t)(kv_frames * 2 * ws->N * D),
        (size_t)M * 4 * cmax,
        (size_t)(M * half),
        (size_t)(M * half),
        (size_t)c->freq_dim + 1,
        (size_t)D,
        (size_t)D,
        (size_t)(6 * D),
        (size_t)(6 * D),
        (size_t)(2 * D),
    };
    float ** ptrs[] = {&ws->x,    &ws->xn,     &ws->q,   &ws->k,        &ws->v,        &ws->att,
                       &ws->ffh,  &ws->kv,     &ws->tok, &ws->rope_cos, &ws->rope_sin, &ws->tsin,
                       &ws->temb, &ws->temb_h, &ws->t6,  &ws->mod,      &ws->hmod};
    size_t n = sizeof sizes / sizeof *sizes, total = 0;
    TS_ASSERT(n == sizeof ptrs / sizeof *ptrs);
    for (size_t i = 0; i < n; i++) total += (sizes[i] + 15) / 16 * 16;
    ws->mem = ts_cpu_aligned_alloc(total);
    memset(ws->mem, 0, total * sizeof(float));
    float * p = ws->mem;
    for (size_t i = 0; i < n; i++) {
        *ptrs[i] = p;
        p += (sizes[i] + 15) / 16 * 16;
    }
    ts_wan_rope_tables(ws->rope_cos, ws->rope_sin, c->head_dim, g0, T_own, ws->hp, ws->wp);
    text_group_alloc(ws, 1);
    *out = ws;
    return TS_OK;
}

void ts_wan_ws_free(ts_wan_ws ** pws) {
    if (!pws || !*pws) return;
    free((*pws)->mem);
    free((*pws)->tmem);
    free((*pws)->used);
    free((*pws)->uniq);
    free((*pws)->nkey);
    free(*pws);
    *pws = NULL;
}

void ts_wan_ws_set_backend(ts_wan_ws * ws, ts_backend_t be) {
    TS_ASSERT(be && strcmp(be->ops->name, "cpu") == 0);
    ws->be = be;
}

size_t ts_wan_ws_gather_bytes(const ts_wan_ws * ws) {
    return (size_t)(ws->need1 - ws->need0 - ws->T_own) * ws->N * 2 * (size_t)ws->D * sizeof(float);
}

// ---- the text: segments, weights, cross-attention --------------------------------------------------

static int seg_of(const struct ts_wan_text * tx, int64_t t) { return tx->seg_a ? tx->seg_a[t] : 0; }
static float alpha_of(const struct ts_wan_text * tx, int64_t t) { return tx->alpha && tx->seg_b ? tx->alpha[t] : 0.0f; }

// Rows [u - 1, L) of x (L rows of n floats) are bit-identical: the smallest such u >= 1.
// The text encoder's rows past the prompt are all zero (padding to 512), so a
// short prompt leaves u = its length + 1.
static int repeated_tail(const float * x, int L, int n) {
    const float * last = x + (size_t)(L - 1) * n;
    int u = L;
    while (u > 1 && memcmp(x + (size_t)(u - 2) * n, last, (size_t)n * sizeof(float)) == 0) u--;
    return u;
}

// rows [u, L) of y (stride ld, n floats each) = row u - 1.
static void copy_tail(float * y, int ld, int u, int L, int n) {
    for (int r = u; r < L; r++) memcpy(y + (size_t)r * ld, y + (size_t)(u - 1) * ld, (size_t)n * sizeof(float));
}

// The cross-attention's keys of segment sg. Its keys and values in rows [u - 1, L)
// are equal (u = uniq: the text's repeated tail, computed once), so where their
// bias is equal too they are one key visited once with log(L - u + 1) added to
// its logit: its weight in the softmax is then (L - u + 1) exp(l), as for the L -
// u + 1 copies, and a short prompt's cross-attention costs u keys instead of L.
// The same arithmetic, summed in another order: within rounding of the L keys.
static void key_plan(ts_wan_ws * ws, int sg, const float * bias) {
    const int L = ws->L, u = ws->uniq[sg];
    float * kb = ws->kbias + (size_t)sg * L;
    int tail_same = 1;
    for (int j = u; bias && j < L && tail_same; j++) tail_same = bias[j] == bias[u - 1];
    ws->nkey[sg] = tail_same ? u : L;
    for (int j = 0; j < L; j++) kb[j] = bias ? bias[j] : 0.0f;
    if (tail_same && u < L) kb[u - 1] += logf((float)(L - u + 1));
}

// Checks the segments, marks those the owned frames attend to and embeds their
// text (linear, GELU (tanh), linear). A row's values depend on that row alone
// (the GEMM sums each output in one fixed order), so rows equal to the last one
// are computed once and copied: the same bits, and a short prompt's 500 padding
// rows cost one row in the text embedding and every block's keys and values.
static enum ts_status text_prepare(ts_wan_ws * ws, const ts_wan_model * m, const struct ts_wan_text * tx) {
    const struct ts_wan_config * c = &m->cfg;
    ts_backend_t be = ws->be;
    const int D = c->dim, L = ws->L;
    if (!tx || !tx->ctx || tx->n_segs < 1) return ts_error(TS_ERR_ARG, NULL, "the forward has no text context");
    if (tx->n_segs > ws->text_segs) text_group_alloc(ws, tx->n_segs);
    memset(ws->used, 0, (size_t)ws->text_segs);
    for (int64_t t = 0; t < ws->T_own; t++) {
        int a = seg_of(tx, t), b = alpha_of(tx, t) > 0.0f ? tx->seg_b[t] : a;
        if (a < 0 || a >= tx->n_segs || b < 0 || b >= tx->n_segs)
            return ts_error(TS_ERR_ARG, NULL, "latent frame %lld names text segment %d of %d", (long long)(ws->g0 + t),
                            a < 0 || a >= tx->n_segs ? a : b, tx->n_segs);
        ws->used[a] = ws->used[b] = 1;
    }
    for (int sg = 0; sg < tx->n_segs; sg++) {
        if (!ws->used[sg]) continue;
        const float * in = tx->ctx + (size_t)sg * L * c->text_dim;
        int u = ws->uniq[sg] = repeated_tail(in, L, c->text_dim);
        lin(be, ws->ctx_h, D, in, c->text_dim, &m->text1, m->text1_b, u);
        be->ops->gelu(be, ws->ctx_h, (int64_t)u * D);
        lin(be, ws->ctx + (size_t)sg * L * D, D, ws->ctx_h, D, &m->text2, m->text2_b, u);
        copy_tail(ws->ctx + (size_t)sg * L * D, D, u, L, D);
        key_plan(ws, sg, tx->bias ? tx->bias[sg] : NULL);
    }
    return TS_OK;
}

// A block's cross-attention keys and values of every segment in use, (L, 2D) each.
static void cross_kv(ts_wan_ws * ws, const struct ts_wan_block * b, int n_segs, float eps) {
    const int D = ws->D, L = ws->L;
    for (int sg = 0; sg < n_segs; sg++) {
        if (!ws->used[sg]) continue;
        float * ckv = ws->ckv + (size_t)sg * L * 2 * D;
        const float * ctx = ws->ctx + (size_t)sg * L * D;
        int u = ws->uniq[sg];  // rows [u, L) repeat row u - 1 (text_prepare)
        lin(ws->be, ckv, 2 * D, ctx, D, &b->ck, b->ck_b, u);
        lin(ws->be, ckv + D, 2 * D, ctx, D, &b->cv, b->cv_b, u);
        rmsnorm(ws->be, ckv, 2 * D, u, D, b->cnorm_k, eps);
        copy_tail(ckv, 2 * D, u, L, 2 * D);
    }
}

// att (M, D) = cross-attention of the queries q (M, D) to each frame's segment:
// runs of frames with one segment attend together; a blended frame then mixes in
// its second segment's output, (1 - alpha) A + alpha B (xn is the scratch).
static void cross_attn(ts_wan_ws * ws, const struct ts_wan_text * tx, int H, int hd) {
    ts_backend_t be = ws->be;
    const int D = ws->D, L = ws->L, N = ws->N;
    for (int64_t r0 = 0; r0 < ws->T_own;) {
        int sa = seg_of(tx, r0);
        int64_t r1 = r0 + 1;
        while (r1 < ws->T_own && seg_of(tx, r1) == sa) r1++;
        be->ops->attn_cross(be, ws->att + r0 * N * D, ws->q + r0 * N * D, ws->ckv + (size_t)sa * L * 2 * D,
                            (r1 - r0) * N, H, hd, L, ws->nkey[sa], ws->kbias + (size_t)sa * L);
        r0 = r1;
    }
    for (int64_t t = 0; t < ws->T_own; t++) {
        float a = alpha_of(tx, t);
        if (a <= 0.0f) continue;
        int sb = tx->seg_b[t];
        be->ops->attn_cross(be, ws->xn, ws->q + t * N * D, ws->ckv + (size_t)sb * L * 2 * D, N, H, hd, L,
                            ws->nkey[sb], ws->kbias + (size_t)sb * L);
        be->ops->axpby(be, ws->att + t * N * D, a, ws->xn, 1.0f - a, (int64_t)N * D);
    }
}

// ---- the forward --------------------------------------------------------------------------------

enum ts_status ts_wan_forward(ts_wan_ws * ws, const ts_wan_model * m, float * v_out, const float * x_in, float timestep,
                              const float * text_ctx, ts_comm_t comm) {
    const struct ts_wan_text tx = {text_ctx, NULL, 1, NULL, NULL, NULL};
    return ts_wan_forward_text(ws, m, v_out, x_in, timestep, &tx, comm);
}

enum ts_status ts_wan_forward_text(ts_wan_ws * ws, const ts_wan_model * m, float * v_out, const float * x_in,
                                   float timestep, const struct ts_wan_text * text, ts_comm_t comm) {
    const struct ts_wan_config * c = &m->cfg;
    ts_backend_t be = ws->be;
    const struct ts_backend_ops * op = be->ops;
    const int D = c->dim, H = c->heads, hd = c->head_dim, F = c->ffn_dim, N = ws->N;
    const int64_t M = ws->M;
    const float eps = c->eps;
    if (comm && (!comm->ops->gather_post || !comm->ops->gather_wait))
        return ts_error(TS_ERR_ARG, "use the MPI communicator for Wan2.1 on several ranks",
                        "the '%s' communicator cannot all-gather (Wan2.1's global attention needs it)",
                        comm->ops->name);
    if (!comm && ws->T_own != ws->T_total)
        return ts_error(TS_ERR_ARG, NULL, "a rank owning %lld of %lld frames needs a communicator",
                        (long long)ws->T_own, (long long)ws->T_total);

    // patch embedding: (T, h, w, C) -> (M, 4C) -> (M, D)
    op->patchify(be, ws->tok, x_in, ws->T_own, ws->h, ws->w, c->in_channels, 2);
    op->linear(be, ws->x, D, ws->tok, 4 * c->in_channels, m->patch_w, m->patch_b, M, 4 * c->in_channels, D);

    // time: sinusoid -> linear, SiLU, linear = temb; SiLU, linear = t6 (6D)
    timestep_sinusoid(ws->tsin, c->freq_dim, timestep);
    lin(be, ws->temb_h, D, ws->tsin, c->freq_dim, &m->time1, m->time1_b, 1);
    op->silu(be, ws->temb_h, D);
    lin(be, ws->temb, D, ws->temb_h, D, &m->time2, m->time2_b, 1);
    memcpy(ws->temb_h, ws->temb, (size_t)D * sizeof(float));
    op->silu(be, ws->temb_h, D);
    lin(be, ws->t6, 6 * D, ws->temb_h, D, &m->tproj, m->tproj_b, 1);
    for (int d = 0; d < 2 * D; d++) ws->hmod[d] = m->head_sst[d] + ws->temb[d % D];

    TS_TRY(text_prepare(ws, m, text));

    const size_t frame_kv = (size_t)2 * N * D;  // floats of one frame's K and V
    for (int li = 0; li < c->layers; li++) {
        const struct ts_wan_block * b = &m->blocks[li];
        for (int d = 0; d < 6 * D; d++) ws->mod[d] = b->sst[d] + ws->t6[d];
        const float *sh = ws->mod, *sc = ws->mod + D, *gate = ws->mod + 2 * D;
        const float *c_sh = ws->mod + 3 * D, *c_sc = ws->mod + 4 * D, *c_gate = ws->mod + 5 * D;

        // 1. self-attention over the frames within the window, all tokens
        op->layernorm(be, ws->xn, ws->x, NULL, NULL, M, D, eps);
        op->modulate(be, ws->xn, ws->xn, sh, sc, 0, 1, (int)M, D);
        lin(be, ws->q, D, ws->xn, D, &b->q, b->q_b, M);
        lin(be, ws->k, D, ws->xn, D, &b->k, b->k_b, M);
        lin(be, ws->v, D, ws->xn, D, &b->v, b->v_b, M);
        rmsnorm(be, ws->q, D, M, D, b->norm_q, eps);
        rmsnorm(be, ws->k, D, M, D, b->norm_k, eps);
        op->rope(be, ws->q, D, M, H, hd, ws->rope_cos, ws->rope_sin, 1, M);
        op->rope(be, ws->k, D, M, H, hd, ws->rope_cos, ws->rope_sin, 1, M);
        for (int64_t f = 0; f < ws->T_own; f++) {
            float * slot = ws->kv + (size_t)(ws->g0 + f - ws->need0) * frame_kv;
            memcpy(slot, ws->k + f * N * D, (size_t)N * D * sizeof(float));
            memcpy(slot + (size_t)N * D, ws->v + f * N * D, (size_t)N * D * sizeof(float));
        }
        if (comm)  // the K|V rows of the frames within the window, from whichever ranks own them
            TS_TRY(comm->ops->gather_post(comm, ws->kv, (size_t)ws->g0 * frame_kv * sizeof(float),
                                          (size_t)ws->T_own * frame_kv * sizeof(float),
                                          (size_t)ws->need0 * frame_kv * sizeof(float),
                                          (size_t)(ws->need1 - ws->need0) * frame_kv * sizeof(float)));
        // while the K|V rows travel: the cross-attention's text keys and values
        cross_kv(ws, b, text->n_segs, eps);
        if (comm) TS_TRY(comm->ops->gather_wait(comm));
        ts_cpu_attn3d(be, ws->att, ws->q, ws->kv, ws->need0, ws->need1 - ws->need0, ws->T_total, ws->g0, ws->T_own, N,
                      H, hd, ws->window);
        lin(be, ws->xn, D, ws->att, D, &b->o, b->o_b, M);
        op->gate_add(be, ws->x, ws->xn, gate, 0, 1, (int)M, D);

        // 2. cross-attention to every text row of the frame's segment (the repeated padding as one key), affine LayerNorm
        op->layernorm(be, ws->xn, ws->x, b->norm_x_w, b->norm_x_b, M, D, eps);
        lin(be, ws->q, D, ws->xn, D, &b->cq, b->cq_b, M);
        rmsnorm(be, ws->q, D, M, D, b->cnorm_q, eps);
        cross_attn(ws, text, H, hd);
        lin(be, ws->xn, D, ws->att, D, &b->co, b->co_b, M);
        op->gate_add(be, ws->x, ws->xn, NULL, 0, 1, (int)M, D);

        // 3. feed-forward, GELU (tanh)
        op->layernorm(be, ws->xn, ws->x, NULL, NULL, M, D, eps);
        op->modulate(be, ws->xn, ws->xn, c_sh, c_sc, 0, 1, (int)M, D);
        lin(be, ws->ffh, F, ws->xn, D, &b->ffn1, b->ffn1_b, M);
        op->gelu(be, ws->ffh, M * F);
        lin(be, ws->xn, D, ws->ffh, F, &b->ffn2, b->ffn2_b, M);
        op->gate_add(be, ws->x, ws->xn, c_gate, 0, 1, (int)M, D);
    }

    // head: LayerNorm, 2-way modulation from temb, linear, unpatchify
    op->layernorm(be, ws->xn, ws->x, NULL, NULL, M, D, eps);
    op->modulate(be, ws->xn, ws->xn, ws->hmod, ws->hmod + D, 0, 1, (int)M, D);
    int P = 4 * c->out_channels;
    lin(be, ws->tok, P, ws->xn, D, &m->head, m->head_b, M);
    op->unpatchify(be, v_out, ws->tok, ws->T_own, ws->h, ws->w, c->out_channels, 2);
    return TS_OK;
}
