// ST-DiT forward over one rank's frames (tools/train/tsmodel.py: DiT, Block).
// Activations are time-major (T, N, D). The temporal attention's q|k|v rows
// have W halo slots on each side, (T_own + 2W, N, 3D): the neighbours' edge
// frames land there, so temporal attention sees exactly what a single process
// would. What travels (enum ts_halo): the edge frames' projected rows
// (QKV), or their modulated activations into the halo slots of h, (T_own + 2W,
// N, D), from which the receiver projects keys and values (ACT).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"  // ts_backend_profile_inner
#include "core/common.h"
#include "core/rope.h"
#include "model/controls.h"  // TS_CONTROL_DIM
#include "model/stdit/stdit.h"

struct ts_dit_ws {
    int64_t T, g0, T_total, S;  // owned frames, first global frame, video length, slots T + 2W
    int has_left, has_right;
    enum ts_halo halo_mode;     // QKV or ACT (AUTO resolved by ts_dit_ws_set_halo_mode)
    ts_backend_t be;            // not owned: the model's backend
    double halo_wait;           // seconds in halo_wait
    float * wait_log;           // owned (malloc) when tracing: each halo_wait's seconds, in order
    int64_t n_wait_log, cap_wait_log;
    void * buf;                 // owned (backend memory): everything below
    float * x;          // (T, N, D) residual stream
    float * h;          // (S, N, D) normalised + modulated input, halo slots at both ends
    float * qkv;        // (S, N, 3D)
    float * att;        // (T, N, D)
    float * tmp;        // (T, N, D)
    float * f;          // (T, N, mlp*D)
    float * zin;        // (T, h, w, 2c+1)
    float * pin;        // (T, N, p*p*(2c+1))
    float * pout;       // (T, N, p*p*c)
    float * temb;       // (T, freq_dim)
    float * c;          // (T, D) conditioning
    float * silu_c;     // (T, D)
    float * t1;         // (T, D)
    float * pooled;     // (T, Dt) each frame's pooled prompt
    float * mod;        // (T, 9D)
    float * fmod;       // (T, 2D)
    float * rope_s_cos, * rope_s_sin;  // (N, hd/2)
    float * rope_t_cos, * rope_t_sin;  // (S, hd/2), slot s <-> global frame g0 - W + s
    float * host;       // host staging (T, h, w, 2c+1) floats, owned (malloc)
    float * tkv_segs;   // owned (backend): (cap_segs, L, 2D) text keys/values of each prompt segment
    int cap_segs;
    float * att_b;      // owned (backend): (T, N, D) second segment's cross-attention where blending
    float * ctl;        // owned (backend): (T, TS_CONTROL_DIM) the frames' control vectors, or NULL
    float * ctl_emb;    // owned (backend): (T, D) their embedding, added to the conditioning when has_ctl
    float * ctl_tok;    // owned (backend): (T, N, TS_PATH_HINT_DIM) each token's path hint
    float * ctl_tok_emb;  // owned (backend): (T, N, D) its embedding, added to the tokens' input when has_ctl
    float * ctl_gate;   // owned (backend): (2, T, D) per frame its path flag, then its largest flag, over D
    int has_ctl;
};

ts_dit_ws * ts_dit_ws_new(const ts_model * m, int64_t T, int64_t g0, int64_t T_total) {
    const struct ts_model_config * c = &m->cfg;
    int64_t W = c->temporal_window, N = ts_cfg_tokens(c), D = c->width, C = c->latent_channels, p = c->patch;
    int64_t hw = ts_cfg_latent_hw(c), hd = D / c->heads;
    ts_dit_ws * ws = ts_calloc(1, sizeof(*ws));
    ws->T = T, ws->g0 = g0, ws->T_total = T_total, ws->S = T + 2 * W;
    ws->be = m->be;
    ws->has_left = g0 > 0;
    ws->has_right = g0 + T < T_total;
    ws->halo_mode = ts_halo_mode_default(m->be);
    int64_t S = ws->S, Pin = p * p * (2 * C + 1);
    struct { float ** p; int64_t n; } parts[] = {
        {&ws->x, T * N * D}, {&ws->h, S * N * D}, {&ws->qkv, S * N * 3 * D}, {&ws->att, T * N * D},
        {&ws->tmp, T * N * D}, {&ws->f, T * N * c->mlp_ratio * D}, {&ws->zin, T * hw * hw * (2 * C + 1)},
        {&ws->pin, T * N * Pin}, {&ws->pout, T * N * p * p * C}, {&ws->temb, T * c->freq_dim}, {&ws->c, T * D},
        {&ws->silu_c, T * D}, {&ws->t1, T * D}, {&ws->pooled, T * c->text_dim}, {&ws->mod, T * 9 * D},
        {&ws->fmod, T * 2 * D}, {&ws->rope_s_cos, N * hd / 2}, {&ws->rope_s_sin, N * hd / 2},
        {&ws->rope_t_cos, S * hd / 2}, {&ws->rope_t_sin, S * hd / 2},
    };
    int np = (int)(sizeof(parts) / sizeof(parts[0]));
    int64_t total = 0;
    for (int i = 0; i < np; i++) total += (parts[i].n + 15) / 16 * 16;
    ws->buf = m->be->ops->alloc(m->be, (size_t)total * sizeof(float));
    int64_t off = 0;
    for (int i = 0; i < np; i++) {
        *parts[i].p = (float *)ws->buf + off;
        off += (parts[i].n + 15) / 16 * 16;
    }
    ws->host = ts_malloc((size_t)(T * hw * hw * (2 * C + 1) + 2 * S * hd) * sizeof(float));
    // RoPE tables: spatial over the token grid, temporal over the global frame index
    int64_t g = hw / p;
    float * cs = ts_malloc((size_t)(N * hd) * sizeof(float));
    ts_rope_table_2d(cs, cs + N * hd / 2, (int)g, (int)g, (int)hd, c->rope_theta);
    m->be->ops->upload(m->be, ws->rope_s_cos, cs, (size_t)(N * hd / 2) * sizeof(float));
    m->be->ops->upload(m->be, ws->rope_s_sin, cs + N * hd / 2, (size_t)(N * hd / 2) * sizeof(float));
    free(cs);
    int64_t * pos = ts_malloc((size_t)S * sizeof(int64_t));
    for (int64_t s = 0; s < S; s++) pos[s] = g0 - W + s;
    float * ct = ts_malloc((size_t)(S * hd) * sizeof(float));
    ts_rope_table_1d(ct, ct + S * hd / 2, pos, S, (int)(hd / 2), c->rope_theta);
    m->be->ops->upload(m->be, ws->rope_t_cos, ct, (size_t)(S * hd / 2) * sizeof(float));
    m->be->ops->upload(m->be, ws->rope_t_sin, ct + S * hd / 2, (size_t)(S * hd / 2) * sizeof(float));
    free(ct);
    free(pos);
    return ws;
}

void ts_dit_ws_free(const ts_model * m, ts_dit_ws ** wsp) {
    ts_dit_ws * ws = *wsp;
    if (!ws) return;
    m->be->ops->release(m->be, ws->buf);
    if (ws->tkv_segs) m->be->ops->release(m->be, ws->tkv_segs);
    if (ws->att_b) m->be->ops->release(m->be, ws->att_b);
    if (ws->ctl) m->be->ops->release(m->be, ws->ctl);
    if (ws->ctl_emb) m->be->ops->release(m->be, ws->ctl_emb);
    if (ws->ctl_tok) m->be->ops->release(m->be, ws->ctl_tok);
    if (ws->ctl_tok_emb) m->be->ops->release(m->be, ws->ctl_tok_emb);
    if (ws->ctl_gate) m->be->ops->release(m->be, ws->ctl_gate);
    free(ws->host);
    free(ws->wait_log);
    free(ws);
    *wsp = NULL;
}

double ts_dit_ws_halo_wait(const ts_dit_ws * ws) { return ws->halo_wait; }

void ts_dit_ws_trace_waits(ts_dit_ws * ws, int on) {
    free(ws->wait_log);
    ws->wait_log = NULL;
    ws->n_wait_log = ws->cap_wait_log = 0;
    if (on) {
        ws->cap_wait_log = 256;
        ws->wait_log = ts_malloc((size_t)ws->cap_wait_log * sizeof(float));
    }
}

const float * ts_dit_ws_waits(const ts_dit_ws * ws, int64_t * n) {
    *n = ws->n_wait_log;
    return ws->wait_log;
}

enum ts_halo ts_halo_mode_default(ts_backend_t be) {
    return strcmp(ts_backend_profile_inner(be)->ops->name, "cpu") == 0 ? TS_HALO_QKV : TS_HALO_ACT;
}

void ts_dit_ws_set_halo_mode(ts_dit_ws * ws, enum ts_halo mode) {
    ws->halo_mode = mode == TS_HALO_AUTO ? ts_halo_mode_default(ws->be) : mode;
}

size_t ts_dit_halo_bytes(const ts_model * m, enum ts_halo mode) {
    const struct ts_model_config * c = &m->cfg;
    return (size_t)c->temporal_window * ts_cfg_tokens(c) * c->width * (mode == TS_HALO_QKV ? 3 : 1) * sizeof(float);
}

// The path hint of T frames' control vectors ctl (T, TS_CONTROL_DIM) over a
// g x g token grid: out (T, g*g, TS_PATH_HINT_DIM), float32 in the order of
// tools/train/tsmodel.py path_hint, so that the reference gets the same values.
static void path_hint(float * out, const float * ctl, int64_t T, int g) {
    const float two_s2 = 2.0f * TS_PATH_HINT_SIGMA * TS_PATH_HINT_SIGMA;
    for (int64_t t = 0; t < T; t++) {
        const float * v = ctl + t * TS_CONTROL_DIM;
        const float cx = v[0], cy = v[1], flag = v[2];
        const float sz = fmaxf(v[TS_CONTROL_SIZE], TS_PATH_HINT_SIZE_MIN), sflag = flag * v[TS_CONTROL_SIZE + 1];
        const float two_z2 = 2.0f * sz * sz;
        for (int i = 0; i < g; i++) {
            const float py = ((float)i + 0.5f) / (float)g * 2.0f - 1.0f;
            for (int j = 0; j < g; j++) {
                const float px = ((float)j + 0.5f) / (float)g * 2.0f - 1.0f;
                float * o = out + ((t * g + i) * g + j) * TS_PATH_HINT_DIM;
                const float dx = (cx - px) * flag, dy = (cy - py) * flag;
                const float d2 = dx * dx + dy * dy;
                o[0] = dx, o[1] = dy, o[2] = expf(-d2 / two_s2) * flag, o[3] = expf(-d2 / two_z2) * sflag;
            }
        }
    }
}

void ts_dit_ws_set_controls(ts_dit_ws * ws, const ts_model * m, const float * ctl) {
    if (!m->dit.ctl_fc1_w) {
        TS_ASSERT(!ctl);  // the family refuses controls for a model without their weights
        return;
    }
    ts_backend_t be = m->be;
    const struct ts_backend_ops * op = be->ops;
    const struct ts_model_config * c = &m->cfg;
    const int64_t T = ws->T, D = c->width, K = TS_CONTROL_DIM, N = ts_cfg_tokens(c), KH = TS_PATH_HINT_DIM;
    ws->has_ctl = 0;
    if (T <= 0 || !ctl) return;  // none given: exactly the model without the control modules
    if (!ws->ctl) ws->ctl = op->alloc(be, (size_t)(T * K) * sizeof(float));
    if (!ws->ctl_emb) ws->ctl_emb = op->alloc(be, (size_t)(T * D) * sizeof(float));
    if (!ws->ctl_tok) ws->ctl_tok = op->alloc(be, (size_t)(T * N * KH) * sizeof(float));
    if (!ws->ctl_tok_emb) ws->ctl_tok_emb = op->alloc(be, (size_t)(T * N * D) * sizeof(float));
    if (!ws->ctl_gate) ws->ctl_gate = op->alloc(be, (size_t)(2 * T * D) * sizeof(float));
    float * host = ts_malloc((size_t)(T * K) * sizeof(float));
    memcpy(host, ctl, (size_t)(T * K) * sizeof(float));
    op->upload(be, ws->ctl, host, (size_t)(T * K) * sizeof(float));
    // The gates (tsmodel.py forward): the path hint's embedding counts only in frames with a
    // path, the per-frame embedding only in frames with any control, so that frames without
    // controls compute what the model without the modules computes (x + 0 * y).
    float * gate = ts_malloc((size_t)(2 * T * D) * sizeof(float));
    for (int64_t t = 0; t < T; t++) {
        const float * v = host + t * K;
        float any = 0.0f;
        for (int g = 0; g < TS_CONTROL_COUNT; g++) any = fmaxf(any, v[ts_control_flag_index((enum ts_control_group)g)]);
        for (int64_t d = 0; d < D; d++) gate[t * D + d] = v[ts_control_flag_index(TS_CONTROL_PATH)];
        for (int64_t d = 0; d < D; d++) gate[(T + t) * D + d] = any;
    }
    op->upload(be, ws->ctl_gate, gate, (size_t)(2 * T * D) * sizeof(float));
    free(gate);
    float * hint = ts_malloc((size_t)(T * N * KH) * sizeof(float));
    path_hint(hint, host, T, ts_cfg_latent_hw(c) / c->patch);
    op->upload(be, ws->ctl_tok, hint, (size_t)(T * N * KH) * sizeof(float));
    free(hint);
    free(host);
    // MLP: Linear(14, D), SiLU, Linear(D, D); ws->t1 is free scratch between forwards
    op->linear(be, ws->ctl_emb, D, ws->ctl, K, m->dit.ctl_fc1_w, m->dit.ctl_fc1_b, T, K, D);
    op->silu(be, ws->ctl_emb, T * D);
    op->linear(be, ws->t1, D, ws->ctl_emb, D, m->dit.ctl_fc2_w, m->dit.ctl_fc2_b, T, D, D);
    op->copy(be, ws->ctl_emb, ws->t1, (size_t)(T * D) * sizeof(float));
    // per token: Linear(4, D), SiLU, Linear(D, D); ws->tmp (T, N, D) likewise
    op->linear(be, ws->tmp, D, ws->ctl_tok, KH, m->dit.ctl_tok_fc1_w, m->dit.ctl_tok_fc1_b, T * N, KH, D);
    op->silu(be, ws->tmp, T * N * D);
    op->linear(be, ws->ctl_tok_emb, D, ws->tmp, D, m->dit.ctl_tok_fc2_w, m->dit.ctl_tok_fc2_b, T * N, D, D);
    ws->has_ctl = 1;
}

// Sinusoidal embedding of sigma * 1000, [cos | sin], in float32 as the reference.
static void timestep_embedding(float * out, float sigma, int dim) {
    int half = dim / 2;
    float t = sigma * 1000.0f;
    const float neg_log = (float)(-log(10000.0));
    for (int i = 0; i < half; i++) {
        float freq = expf(neg_log * (float)i / (float)half);
        float a = t * freq;
        out[i] = cosf(a);
        out[half + i] = sinf(a);
    }
}

enum ts_status ts_dit_forward(ts_dit_ws * ws, const ts_model * m, float * v, const float * z, const float * cond,
                              const float * cond_mask, float sigma, const ts_text_cond * text, ts_comm_t halo) {
    int * zeros = ts_calloc((size_t)ws->T + 1, sizeof(int));
    float * alpha0 = ts_calloc((size_t)ws->T + 1, sizeof(float));
    const ts_text_cond * segs[1] = {text};
    struct ts_story_text st = {segs, 1, zeros, zeros, alpha0};
    enum ts_status r = ts_dit_forward_story(ws, m, v, z, cond, cond_mask, sigma, &st, halo);
    free(zeros);
    free(alpha0);
    return r;
}

// Completes the posted halo exchange, counting the time spent waiting.
static enum ts_status halo_wait_timed(ts_dit_ws * ws, ts_comm_t halo) {
    double t0 = ts_time();
    enum ts_status st = halo->ops->halo_wait(halo);
    double dt = ts_time() - t0;
    ws->halo_wait += dt;
    if (ws->wait_log) {
        if (ws->n_wait_log == ws->cap_wait_log) {
            float * grown = ts_malloc((size_t)ws->cap_wait_log * 2 * sizeof(float));
            memcpy(grown, ws->wait_log, (size_t)ws->n_wait_log * sizeof(float));
            free(ws->wait_log);
            ws->wait_log = grown;
            ws->cap_wait_log *= 2;
        }
        ws->wait_log[ws->n_wait_log++] = (float)dt;
    }
    return st;
}

// The rest of a block from its temporal attention on, for owned frames [t0, t1):
// temporal attention (q|k|v rows rotated, the halo slots filled where these
// frames' windows reach them), its projection, cross attention to each frame's
// prompt (text keys/values in ws->tkv_segs), the MLP. Row-local apart from the
// temporal window, so frames may go in any split with the same bits.
static void block_tail(ts_dit_ws * ws, const ts_model * m, const struct ts_dit_block * b,
                       const struct ts_story_text * story, int64_t t0, int64_t t1) {
    const struct ts_model_config * c = &m->cfg;
    ts_backend_t be = m->be;
    const struct ts_backend_ops * op = be->ops;
    const int64_t W = c->temporal_window, n = t1 - t0;
    const int N = ts_cfg_tokens(c), D = c->width, H = c->heads, hd = D / H, L = c->text_len, Hm = c->mlp_ratio * D;
    if (n <= 0) return;
    const int64_t nN = n * N;
    float * x = ws->x + t0 * N * D;
    float * h = ws->h + (W + t0) * N * D;  // owned slots of h as scratch
    float * att = ws->att + t0 * N * D;
    float * tmp = ws->tmp + t0 * N * D;
    float * f = ws->f + t0 * N * Hm;
    const float * mod = ws->mod + t0 * 9 * D;
    // slots shift with t0: frame t0 + i reads slot W + t0 + i (as frame i of a chunk starting at g0 + t0)
    op->attn_temporal(be, att, ws->qkv + t0 * N * 3 * D, n, N, H, hd, (int)W, c->causal, ws->g0 + t0, ws->T_total);
    op->linear(be, tmp, D, att, D, b->t_proj_w, b->t_proj_b, nN, D, D);
    op->gate_add(be, x, tmp, mod + 5 * D, 9 * D, n, N, D);

    // cross attention to the prompt's tokens; runs of frames with the same prompt attend together
    op->layernorm(be, h, x, b->cross_ln_w, b->cross_ln_b, nN, D, 1e-6f);
    op->linear(be, tmp, D, h, D, b->cross_q_w, b->cross_q_b, nN, D, D);
    for (int64_t r0 = t0; r0 < t1;) {
        int sa = story->seg_a[r0];
        int64_t r1 = r0 + 1;
        while (r1 < t1 && story->seg_a[r1] == sa) r1++;
        const ts_text_cond * tc = story->segs[sa];
        op->attn_cross(be, ws->att + r0 * N * D, ws->tmp + r0 * N * D, ws->tkv_segs + (size_t)sa * L * 2 * D,
                       (r1 - r0) * N, H, hd, L, tc->n_valid, tc->bias);
        r0 = r1;
    }
    // blended frames: mix with the other segment's attention output
    for (int64_t t = t0; t < t1; t++) {
        float a = story->alpha[t];
        if (a <= 0.0f) continue;
        const ts_text_cond * tb = story->segs[story->seg_b[t]];
        op->attn_cross(be, ws->att_b + t * N * D, ws->tmp + t * N * D,
                       ws->tkv_segs + (size_t)story->seg_b[t] * L * 2 * D, N, H, hd, L, tb->n_valid, tb->bias);
        op->axpby(be, ws->att + t * N * D, a, ws->att_b + t * N * D, 1.0f - a, (int64_t)N * D);
    }
    op->linear(be, tmp, D, att, D, b->cross_proj_w, b->cross_proj_b, nN, D, D);
    op->gate_add(be, x, tmp, NULL, 0, n, N, D);

    // MLP
    op->layernorm(be, h, x, NULL, NULL, nN, D, 1e-6f);
    op->modulate(be, h, h, mod + 6 * D, mod + 7 * D, 9 * D, n, N, D);
    op->linear(be, f, Hm, h, D, b->fc1_w, b->fc1_b, nN, D, Hm);
    op->gelu(be, f, nN * Hm);
    op->linear(be, tmp, D, f, Hm, b->fc2_w, b->fc2_b, nN, Hm, D);
    op->gate_add(be, x, tmp, mod + 8 * D, 9 * D, n, N, D);
}

enum ts_status ts_dit_forward_story(ts_dit_ws * ws, const ts_model * m, float * v, const float * z, const float * cond,
                                    const float * cond_mask, float sigma, const struct ts_story_text * story,
                                    ts_comm_t halo) {
    const struct ts_model_config * c = &m->cfg;
    ts_backend_t be = m->be;
    const struct ts_backend_ops * op = be->ops;
    const int64_t T = ws->T, S = ws->S, W = c->temporal_window;
    const int N = ts_cfg_tokens(c), D = c->width, H = c->heads, hd = D / H, C = c->latent_channels, p = c->patch;
    const int hw = ts_cfg_latent_hw(c), L = c->text_len, Dt = c->text_dim;
    const int Cin = 2 * C + 1, Pin = p * p * Cin;
    const int64_t TN = T * N, cells = (int64_t)hw * hw;
    const size_t fl = sizeof(float);
    TS_ASSERT(halo || (!ws->has_left && !ws->has_right));

    // input: [z | cond | mask] per latent cell, patchified, projected to width D
    float * zh = ws->host;
    float * tmpz = ts_malloc((size_t)(T * cells * C) * fl);
    op->download(be, tmpz, z, (size_t)(T * cells * C) * fl);
    for (int64_t i = 0; i < T * cells; i++) {
        memcpy(zh + i * Cin, tmpz + i * C, (size_t)C * fl);
        zh[i * Cin + 2 * C] = cond_mask ? cond_mask[i / cells] : 0.0f;
    }
    if (cond) op->download(be, tmpz, cond, (size_t)(T * cells * C) * fl);
    else memset(tmpz, 0, (size_t)(T * cells * C) * fl);
    for (int64_t i = 0; i < T * cells; i++) memcpy(zh + i * Cin + C, tmpz + i * C, (size_t)C * fl);
    free(tmpz);
    op->upload(be, ws->zin, zh, (size_t)(T * cells * Cin) * fl);
    op->patchify(be, ws->pin, ws->zin, T, hw, hw, Cin, p);
    op->linear(be, ws->x, D, ws->pin, Pin, m->dit.patch_in_w, m->dit.patch_in_b, TN, Pin, D);
    if (ws->has_ctl) op->gate_add(be, ws->x, ws->ctl_tok_emb, ws->ctl_gate, D, T, N, D);  // + path flag * the hint's embedding

    // conditioning per frame: MLP(timestep embedding) + projection of the frame's pooled prompt
    float * te = ts_malloc((size_t)(T * c->freq_dim) * fl);
    for (int64_t t = 0; t < T; t++) timestep_embedding(te + t * c->freq_dim, sigma, c->freq_dim);
    op->upload(be, ws->temb, te, (size_t)(T * c->freq_dim) * fl);
    free(te);
    op->linear(be, ws->t1, D, ws->temb, c->freq_dim, m->dit.t_fc1_w, m->dit.t_fc1_b, T, c->freq_dim, D);
    op->silu(be, ws->t1, T * D);
    op->linear(be, ws->c, D, ws->t1, D, m->dit.t_fc2_w, m->dit.t_fc2_b, T, D, D);
    int any_blend = 0;
    for (int64_t t = 0; t < T; t++) {
        op->copy(be, ws->pooled + t * Dt, story->segs[story->seg_a[t]]->pooled, (size_t)Dt * fl);
        float a = story->alpha[t];
        if (a > 0.0f) {
            any_blend = 1;
            op->axpby(be, ws->pooled + t * Dt, a, story->segs[story->seg_b[t]]->pooled, 1.0f - a, Dt);
        }
    }
    if (story->n_segs > ws->cap_segs) {
        if (ws->tkv_segs) op->release(be, ws->tkv_segs);
        ws->tkv_segs = op->alloc(be, (size_t)story->n_segs * L * 2 * D * fl);
        ws->cap_segs = story->n_segs;
    }
    if (any_blend && !ws->att_b) ws->att_b = op->alloc(be, (size_t)TN * D * fl);
    char * used = ts_calloc((size_t)story->n_segs, 1);
    for (int64_t t = 0; t < T; t++) {
        used[story->seg_a[t]] = 1;
        if (story->alpha[t] > 0.0f) used[story->seg_b[t]] = 1;
    }
    op->linear(be, ws->t1, D, ws->pooled, Dt, m->dit.text_proj_w, m->dit.text_proj_b, T, Dt, D);
    op->gate_add(be, ws->c, ws->t1, NULL, 0, T, 1, D);
    if (ws->has_ctl) op->gate_add(be, ws->c, ws->ctl_emb, ws->ctl_gate + T * D, D, T, 1, D);  // + any flag * the embedding
    op->copy(be, ws->silu_c, ws->c, (size_t)(T * D) * fl);
    op->silu(be, ws->silu_c, T * D);

    float * hown = ws->h + W * N * D;          // owned slots of h
    float * qkv_own = ws->qkv + W * N * 3 * D;  // owned slots of qkv
    const size_t halo_bytes = (size_t)W * N * D * fl, halo_bytes_qkv = 3 * halo_bytes;
    for (int l = 0; l < c->depth; l++) {
        const struct ts_dit_block * b = &m->dit.blocks[l];
        float * mod = ws->mod;
        op->linear(be, mod, 9 * D, ws->silu_c, D, b->ada_w, b->ada_b, T, D, 9 * D);

        // spatial attention within each frame, 2D RoPE
        op->layernorm(be, hown, ws->x, NULL, NULL, TN, D, 1e-6f);
        op->modulate(be, hown, hown, mod + 0 * D, mod + 1 * D, 9 * D, T, N, D);
        op->linear(be, qkv_own, 3 * D, hown, D, b->s_qkv_w, b->s_qkv_b, TN, D, 3 * D);
        op->rope(be, qkv_own, 3 * D, TN, H, hd, ws->rope_s_cos, ws->rope_s_sin, 1, N);
        op->rope(be, qkv_own + D, 3 * D, TN, H, hd, ws->rope_s_cos, ws->rope_s_sin, 1, N);
        op->attn_spatial(be, ws->att, qkv_own, T, N, H, hd);
        op->linear(be, ws->tmp, D, ws->att, D, b->s_proj_w, b->s_proj_b, TN, D, D);
        op->gate_add(be, ws->x, ws->tmp, mod + 2 * D, 9 * D, T, N, D);

        // the prompt segments' text keys/values for this block's cross attention
        for (int sgi = 0; sgi < story->n_segs; sgi++)
            if (used[sgi])
                op->linear(be, ws->tkv_segs + (size_t)sgi * L * 2 * D, 2 * D, story->segs[sgi]->tokens, Dt,
                           b->cross_kv_w, b->cross_kv_b, L, Dt, 2 * D);

        // temporal attention, with W edge frames traded with the neighbours
        op->layernorm(be, hown, ws->x, NULL, NULL, TN, D, 1e-6f);
        op->modulate(be, hown, hown, mod + 3 * D, mod + 4 * D, 9 * D, T, N, D);
        const int trade = halo && W > 0 && (ws->has_left || ws->has_right);
        enum ts_status hst = TS_OK;
        if (trade && ws->halo_mode == TS_HALO_QKV) {
            // QKV: the edge frames [0, e0) and [e1, T) are projected first and sent as
            // q|k|v rows; the frames between are projected while they travel. (Finishing
            // the inner frames' block before the wait as well hid no more: the smaller
            // GEMMs lost more than the overlap gained, measured on 2 CPU ranks.)
            int64_t e0 = ws->has_left ? W : 0, e1 = ws->has_right ? T - W : T;
            if (e1 <= e0) e0 = e1 = T;  // the edges cover every owned frame
            if (e0 > 0) op->linear(be, qkv_own, 3 * D, hown, D, b->t_qkv_w, b->t_qkv_b, e0 * N, D, 3 * D);
            if (e1 < T)
                op->linear(be, qkv_own + e1 * N * 3 * D, 3 * D, hown + e1 * N * D, D, b->t_qkv_w, b->t_qkv_b,
                           (T - e1) * N, D, 3 * D);
            op->sync(be);
            halo->ops->halo_post(halo, ws->has_left ? qkv_own : NULL,
                                 ws->has_right ? qkv_own + (T - W) * N * 3 * D : NULL, ws->has_left ? ws->qkv : NULL,
                                 ws->has_right ? qkv_own + TN * 3 * D : NULL, halo_bytes_qkv);
            if (e1 > e0)
                op->linear(be, qkv_own + e0 * N * 3 * D, 3 * D, hown + e0 * N * D, D, b->t_qkv_w, b->t_qkv_b,
                           (e1 - e0) * N, D, 3 * D);
            hst = halo_wait_timed(ws, halo);
        } else if (trade) {
            // ACT: the edge frames' modulated activations travel while the owned frames
            // are projected; the receiver projects the halo frames' keys and values
            op->sync(be);
            halo->ops->halo_post(halo, ws->has_left ? hown : NULL,
                                 ws->has_right ? hown + (T - W) * N * D : NULL, ws->has_left ? ws->h : NULL,
                                 ws->has_right ? hown + T * N * D : NULL, halo_bytes);
            op->linear(be, qkv_own, 3 * D, hown, D, b->t_qkv_w, b->t_qkv_b, TN, D, 3 * D);
            hst = halo_wait_timed(ws, halo);
            // the halo frames give keys and values only: project those columns (weight rows D..3D)
            const float * kv_w = b->t_qkv_w + (size_t)D * D;
            const float * kv_b = b->t_qkv_b ? b->t_qkv_b + D : NULL;
            if (hst == TS_OK && ws->has_left) op->linear(be, ws->qkv + D, 3 * D, ws->h, D, kv_w, kv_b, W * N, D, 2 * D);
            if (hst == TS_OK && ws->has_right)
                op->linear(be, qkv_own + TN * 3 * D + D, 3 * D, hown + TN * D, D, kv_w, kv_b, W * N, D, 2 * D);
        } else {
            op->linear(be, qkv_own, 3 * D, hown, D, b->t_qkv_w, b->t_qkv_b, TN, D, 3 * D);
        }
        if (hst != TS_OK) {
            free(used);
            return hst;
        }
        // queries of the owned frames (table rows from slot W on), keys of every slot
        op->rope(be, qkv_own, 3 * D, TN, H, hd, ws->rope_t_cos + W * hd / 2, ws->rope_t_sin + W * hd / 2, N, S);
        op->rope(be, ws->qkv + D, 3 * D, S * N, H, hd, ws->rope_t_cos, ws->rope_t_sin, N, S);
        block_tail(ws, m, b, story, 0, T);
    }

    // final adaLN, projection to patches, unpatchify
    op->linear(be, ws->fmod, 2 * D, ws->silu_c, D, m->dit.final_ada_w, m->dit.final_ada_b, T, D, 2 * D);
    op->layernorm(be, hown, ws->x, NULL, NULL, TN, D, 1e-6f);
    op->modulate(be, hown, hown, ws->fmod, ws->fmod + D, 2 * D, T, N, D);
    op->linear(be, ws->pout, p * p * C, hown, D, m->dit.final_out_w, m->dit.final_out_b, TN, D, p * p * C);
    op->unpatchify(be, v, ws->pout, T, hw, hw, C, p);
    free(used);
    return TS_OK;
}
