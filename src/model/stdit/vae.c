// Per-frame VAE decoder and encoder (tools/train/tsmodel.py: Encoder, Decoder),
// NHWC, one frame at a time, so a frame's pixels never depend on its neighbours.
#include <stdlib.h>

#include "core/common.h"
#include "model/stdit/stdit.h"

struct ts_vae_ws {
    void * buf;          // owned (backend memory)
    float * a, * b, * t; // each max_floats
    int64_t max_floats;
    float * rgb;         // (H, W, 3) backend memory, in buf
    float * host;        // (H, W, 3) host, owned (malloc)
};

ts_vae_ws * ts_vae_ws_new(const ts_model * m) {
    const struct ts_model_config * c = &m->cfg;
    int64_t mx = 0;
    for (int i = 0; i < c->vae_levels; i++) {
        int64_t side = c->image_size >> i;  // level i runs at image_size / 2^i
        int64_t chs = c->vae_ch[i];
        if (i + 1 < c->vae_levels && c->vae_ch[i + 1] > chs) chs = c->vae_ch[i + 1];
        if (side * side * chs > mx) mx = side * side * chs;
    }
    int64_t img = (int64_t)c->image_size * c->image_size * 3;
    if (img > mx) mx = img;
    ts_vae_ws * ws = ts_calloc(1, sizeof(*ws));
    ws->max_floats = (mx + 15) / 16 * 16;
    int64_t img16 = (img + 15) / 16 * 16;
    ws->buf = m->be->ops->alloc(m->be, (size_t)(3 * ws->max_floats + img16) * sizeof(float));
    ws->a = ws->buf;
    ws->b = ws->a + ws->max_floats;
    ws->t = ws->b + ws->max_floats;
    ws->rgb = ws->t + ws->max_floats;
    ws->host = ts_malloc((size_t)img * sizeof(float));
    return ws;
}

void ts_vae_ws_free(const ts_model * m, ts_vae_ws ** wsp) {
    if (!*wsp) return;
    m->be->ops->release(m->be, (*wsp)->buf);
    free((*wsp)->host);
    free(*wsp);
    *wsp = NULL;
}

// x (side, side, ch) += conv2(silu(gn2(conv1(silu(gn1(x)))))), using t and u as scratch
static void resblock(const ts_model * m, const struct ts_resblock * r, float * x, float * t, float * u, int side,
                     int ch) {
    const struct ts_backend_ops * op = m->be->ops;
    ts_backend_t be = m->be;
    int64_t n = (int64_t)side * side * ch;
    int g = m->cfg.vae_groups;
    op->groupnorm(be, t, x, 1, side * side, ch, g, r->n1_w, r->n1_b, 1e-6f);
    op->silu(be, t, n);
    op->conv2d(be, u, t, 1, side, side, ch, r->c1_w, r->c1_b, ch, 3, 1, 1);
    op->groupnorm(be, t, u, 1, side * side, ch, g, r->n2_w, r->n2_b, 1e-6f);
    op->silu(be, t, n);
    op->conv2d(be, u, t, 1, side, side, ch, r->c2_w, r->c2_b, ch, 3, 1, 1);
    op->gate_add(be, x, u, NULL, 0, 1, side * side, ch);
}

void ts_vae_decode(ts_vae_ws * ws, const ts_model * m, float * rgb, const float * z) {
    const struct ts_model_config * c = &m->cfg;
    const struct ts_backend_ops * op = m->be->ops;
    ts_backend_t be = m->be;
    int nl = c->vae_levels, side = ts_cfg_latent_hw(c), C = c->latent_channels;
    float * a = ws->a, * b = ws->b, * t = ws->t;
    // z / vae_scale
    op->copy(be, t, z, (size_t)side * side * C * sizeof(float));
    op->axpby(be, t, 0.0f, t, 1.0f / c->vae_scale, (int64_t)side * side * C);
    int ch = c->vae_ch[nl - 1];
    op->conv2d(be, a, t, 1, side, side, C, m->dec.conv_in_w, m->dec.conv_in_b, ch, 3, 1, 1);
    for (int i = 0; i < nl; i++) {
        resblock(m, &m->dec.res[i], a, b, t, side, ch);
        if (i + 1 < nl) {
            int ch2 = c->vae_ch[nl - 2 - i];
            op->upsample2x(be, b, a, 1, side, side, ch);
            side *= 2;
            op->conv2d(be, a, b, 1, side, side, ch, m->dec.up_w[i], m->dec.up_b[i], ch2, 3, 1, 1);
            ch = ch2;
        }
    }
    op->groupnorm(be, b, a, 1, side * side, ch, c->vae_groups, m->dec.norm_w, m->dec.norm_b, 1e-6f);
    op->silu(be, b, (int64_t)side * side * ch);
    op->conv2d(be, rgb, b, 1, side, side, ch, m->dec.conv_out_w, m->dec.conv_out_b, 3, 3, 1, 1);
}

void ts_vae_encode(ts_vae_ws * ws, const ts_model * m, float * z, const float * rgb) {
    const struct ts_model_config * c = &m->cfg;
    const struct ts_backend_ops * op = m->be->ops;
    ts_backend_t be = m->be;
    int nl = c->vae_levels, side = c->image_size, C = c->latent_channels;
    float * a = ws->a, * b = ws->b, * t = ws->t;
    int ch = c->vae_ch[0];
    op->conv2d(be, a, rgb, 1, side, side, 3, m->enc.conv_in_w, m->enc.conv_in_b, ch, 3, 1, 1);
    for (int i = 0; i < nl; i++) {
        resblock(m, &m->enc.res[i], a, b, t, side, ch);
        if (i + 1 < nl) {
            int ch2 = c->vae_ch[i + 1];
            op->conv2d(be, b, a, 1, side, side, ch, m->enc.down_w[i], m->enc.down_b[i], ch2, 3, 2, 1);
            side /= 2;
            op->copy(be, a, b, (size_t)side * side * ch2 * sizeof(float));
            ch = ch2;
        }
    }
    op->groupnorm(be, b, a, 1, side * side, ch, c->vae_groups, m->enc.norm_w, m->enc.norm_b, 1e-6f);
    op->silu(be, b, (int64_t)side * side * ch);
    op->conv2d(be, z, b, 1, side, side, ch, m->enc.conv_out_w, m->enc.conv_out_b, C, 3, 1, 1);
    op->axpby(be, z, 0.0f, z, c->vae_scale, (int64_t)side * side * C);
}

void ts_vae_decode_u8(ts_vae_ws * ws, const ts_model * m, uint8_t * out, const float * z) {
    int64_t px = (int64_t)m->cfg.image_size * m->cfg.image_size * 3;
    ts_vae_decode(ws, m, ws->rgb, z);
    m->be->ops->download(m->be, ws->host, ws->rgb, (size_t)px * sizeof(float));
    ts_to_uint8(out, ws->host, px);
}
