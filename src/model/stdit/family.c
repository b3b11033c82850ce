// ST-DiT behind the model-family interface (model/family.h): the shipped
// default model and any weights of its layout. Sizes come from the config;
// one latent frame per video frame; ranks own at least W (temporal_window)
// frames; the per-frame VAE decodes with no halo.
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "model/controls.h"  // TS_CONTROL_DIM
#include "model/family.h"
#include "model/stdit/stdit.h"

// ---- model -------------------------------------------------------------------------------

static int stdit_probe(const char * path) {
    (void)path;
    return 1;  // the default family: anything no other family claims (its loader says what is wrong)
}

static enum ts_status stdit_load(const char * path, const struct ts_load_opts * opts, ts_backend_t be, void ** model) {
    if (opts && (opts->text_encoder || opts->vae || opts->tokenizer))
        return ts_error(TS_ERR_ARG, "leave out --text-encoder, --vae and --tokenizer: the model's file holds them all",
                        "'%s' is a default-family model (its text encoder, VAE and vocabulary are inside it)", path);
    ts_model * m = NULL;
    enum ts_status st = ts_model_load(&m, path, be);
    *model = m;
    return st;
}

static void stdit_free(void * model) {
    ts_model * m = model;
    ts_model_free(&m);
}

static void stdit_info(const void * model, struct ts_family_info * out) {
    const ts_model * m = model;
    out->path = m->path;
    out->label = m->cfg.label;
    out->digest = m->digest;
    out->n_params = m->n_params;
}

static void stdit_defaults(const void * model, struct ts_family_defaults * out) {
    const struct ts_model_config * c = &((const ts_model *)model)->cfg;
    out->steps = c->default_steps;
    out->cfg = c->default_cfg;
    out->fps = c->fps;
    out->shift = c->shift;
    out->control_scale = TS_CONTROL_SCALE_DEFAULT;
}

static enum ts_status stdit_shape(const void * model, int64_t frames, int width, int height, int window,
                                  struct ts_shape * out) {
    const struct ts_model_config * c = &((const ts_model *)model)->cfg;
    if (window && window != c->temporal_window)
        return ts_error(TS_ERR_ARG, "leave out --window: this model attends to the frames it was trained with",
                        "this model's temporal window is %d frames (asked for %d)", c->temporal_window, window);
    if ((width && width != c->image_size) || (height && height != c->image_size))
        return ts_error(TS_ERR_ARG, "leave out --width and --height for this model",
                        "this model makes %dx%d frames (asked for %dx%d)", c->image_size, c->image_size,
                        width ? width : c->image_size, height ? height : c->image_size);
    memset(out, 0, sizeof(*out));
    out->frames = out->latent_frames = frames > 0 ? frames : 32;  // 0: the default length
    out->width = out->height = c->image_size;
    out->lat_h = out->lat_w = ts_cfg_latent_hw(c);
    out->lat_c = c->latent_channels;
    out->min_frames_per_rank = c->temporal_window > 0 ? c->temporal_window : 1;
    out->window = c->temporal_window;
    return TS_OK;
}

static enum ts_status stdit_sampler_new(const void * model, int steps, const char * name, float shift, int64_t n,
                                        ts_sampler ** out) {
    const struct ts_model_config * c = &((const ts_model *)model)->cfg;
    (void)n;
    if (name && strcmp(name, "euler") != 0)
        return ts_error(TS_ERR_ARG, "this model samples with --sampler euler (its shifted schedule)",
                        "--sampler %s is not available for this model", name);
    *out = ts_sampler_shifted_euler_new(steps, shift > 0 ? shift : c->shift);
    return TS_OK;
}

// The DiT workspace (ts_dit_ws_new's buffers, and the controls' vectors, path
// hints and embeddings for a model with them), the latents and two velocities,
// their host copy and the image conditioning, in floats.
static int64_t stdit_mem_bytes(const void * model, const struct ts_shape * sh, int64_t Tn) {
    const struct ts_model_config * c = &((const ts_model *)model)->cfg;
    int64_t N = ts_cfg_tokens(c), D = c->width, S = Tn + 2 * (int64_t)c->temporal_window;
    int64_t act = N * D * (Tn * (3 + (int64_t)c->mlp_ratio) + S * 4);  // x, att, tmp, f; h and qkv over the slots
    if (c->controls) act += Tn * (c->controls + 3 * D + N * (TS_PATH_HINT_DIM + D));
    int64_t lat = (int64_t)sh->lat_h * sh->lat_w * sh->lat_c * Tn;
    int64_t per_frame = (int64_t)c->text_dim + 12 * (int64_t)D + 4 * N * c->patch * c->patch * (2 * c->latent_channels + 1);
    return (act + 8 * lat + Tn * per_frame) * (int64_t)sizeof(float);
}

// ---- conditioning --------------------------------------------------------------------------

// The prompts' encodings and the per-frame plan of one rank, and the
// image-to-video conditioning when a first frame is given.
struct stdit_cond {
    ts_text_cond * segs;        // owned: one per storyboard segment
    const ts_text_cond ** segp; // owned: pointers to segs
    int n_segs;
    ts_text_cond uncond;        // the empty prompt, or the negative prompt
    int * seg_a, * seg_b;       // owned (Tn)
    float * alpha;              // owned (Tn)
    struct ts_story_text story;
    float * image;              // owned, backend memory (Tn, h, w, c) or NULL
    float * image_mask;         // owned, host (Tn) or NULL
    float * controls;           // owned, host (Tn, TS_CONTROL_DIM), or NULL for a model without controls
};

static void stdit_cond_free(const void * model, void * cp) {
    const ts_model * m = model;
    struct stdit_cond * c = cp;
    if (!c) return;
    for (int i = 0; i < c->n_segs; i++) ts_text_cond_free(m, &c->segs[i]);
    ts_text_cond_free(m, &c->uncond);
    free(c->segs);
    free(c->segp);
    free(c->seg_a);
    free(c->seg_b);
    free(c->alpha);
    if (c->image) m->be->ops->release(m->be, c->image);
    free(c->image_mask);
    free(c->controls);
    free(c);
}

// The first frame's latents on the rank that owns frame 0.
static enum ts_status stdit_image_cond(const ts_model * m, const struct ts_cond_request * req, int64_t g0, int64_t Tn,
                                       int64_t cell, struct stdit_cond * c) {
    const struct ts_model_config * mc = &m->cfg;
    ts_backend_t be = m->be;
    c->image_mask = ts_calloc((size_t)(Tn > 0 ? Tn : 1), sizeof(float));
    c->image = be->ops->alloc(be, (size_t)(Tn > 0 ? Tn * cell : 1) * sizeof(float));
    if (g0 != 0 || Tn <= 0) return TS_OK;
    if (req->image_w != mc->image_size || req->image_h != mc->image_size)
        return ts_error(TS_ERR_ARG, "resize the image to the model's resolution first",
                        "--image is %dx%d; the model makes %dx%d frames", req->image_w, req->image_h,
                        mc->image_size, mc->image_size);
    int64_t px = (int64_t)req->image_w * req->image_h * 3;
    float * f = ts_malloc((size_t)px * sizeof(float));
    for (int64_t i = 0; i < px; i++) f[i] = req->image[i] / 127.5f - 1.0f;
    float * dimg = be->ops->alloc(be, (size_t)px * sizeof(float));
    be->ops->upload(be, dimg, f, (size_t)px * sizeof(float));
    ts_vae_ws * vws = ts_vae_ws_new(m);
    ts_vae_encode(vws, m, c->image, dimg);
    ts_vae_ws_free(m, &vws);
    be->ops->release(be, dimg);
    free(f);
    c->image_mask[0] = 1.0f;
    return TS_OK;
}

static enum ts_status stdit_cond_new(const void * model, const struct ts_cond_request * req, const struct ts_shape * sh,
                                     int64_t g0, int64_t Tn, void ** out) {
    const ts_model * m = model;
    const struct ts_storyboard * sb = req->story;
    struct stdit_cond * c = ts_calloc(1, sizeof(*c));
    *out = c;
    c->n_segs = sb->n;
    c->segs = ts_calloc((size_t)sb->n, sizeof(*c->segs));
    c->segp = ts_calloc((size_t)sb->n, sizeof(*c->segp));
    for (int i = 0; i < sb->n; i++) {
        int n_words = 0, max_words = (int)strlen(sb->seg[i].prompt) + 1;
        struct ts_prompt_word * words = ts_malloc((size_t)max_words * sizeof(*words));
        enum ts_status st = ts_prompt_parse(sb->seg[i].prompt, words, max_words, &n_words);
        free(words);
        if (st != TS_OK && sb->path[0]) {  // a storyboard's line: name the file and the line
            char msg[512], hint[512];
            snprintf(msg, sizeof msg, "%s", ts_last_error());
            snprintf(hint, sizeof hint, "%s", ts_last_hint());
            ts_error_clear();  // the first error stands otherwise
            return ts_error(st, hint[0] ? hint : NULL, "%s:%d: %s", sb->path, sb->seg[i].line, msg);
        }
        TS_TRY(st);
        if (n_words == 0)
            return ts_error(TS_ERR_ARG, "the default model reads words of letters and digits, e.g. \"a red circle\"",
                            "the prompt '%s' has no words", sb->seg[i].prompt);
        // the prompt's warnings (unknown words, ...) once, from rank 0: every rank reads the same text
        enum ts_log_level level = ts_log_get_level();
        if (req->rank != 0) ts_log_set_level(TS_LOG_ERROR);
        st = ts_text_encode(m, sb->seg[i].prompt, &c->segs[i]);
        ts_log_set_level(level);
        TS_TRY(st);
        c->segp[i] = &c->segs[i];
    }
    c->seg_a = ts_calloc((size_t)Tn + 1, sizeof(int));
    c->seg_b = ts_calloc((size_t)Tn + 1, sizeof(int));
    c->alpha = ts_calloc((size_t)Tn + 1, sizeof(float));
    ts_storyboard_frames(sb, req->blend, g0, Tn, c->seg_a, c->seg_b, c->alpha);
    c->story = (struct ts_story_text){c->segp, sb->n, c->seg_a, c->seg_b, c->alpha};
    enum ts_log_level level = ts_log_get_level();
    ts_log_set_level(TS_LOG_ERROR);  // the empty prompt warns about nothing useful
    enum ts_status st = ts_text_encode(m, req->negative ? req->negative : "", &c->uncond);
    ts_log_set_level(level);
    TS_TRY(st);
    if (req->image) TS_TRY(stdit_image_cond(m, req, g0, Tn, (int64_t)sh->lat_h * sh->lat_w * sh->lat_c, c));
    // controls given: every frame gets its vector (all zeros where none applies, which the
    // model's flag gates make add nothing); none given: the model computes without its
    // control modules, exactly as the model it was fine-tuned from when its base was frozen
    TS_ASSERT(!req->controls || m->dit.ctl_fc1_w);
    if (req->controls) {
        c->controls = ts_calloc((size_t)(Tn > 0 ? Tn : 1) * TS_CONTROL_DIM, sizeof(float));
        memcpy(c->controls, req->controls, (size_t)Tn * TS_CONTROL_DIM * sizeof(float));
    }
    return TS_OK;
}

static int stdit_controls(const void * model) { return ((const ts_model *)model)->dit.ctl_fc1_w != NULL; }

// ---- denoiser ------------------------------------------------------------------------------

static void * stdit_denoiser_new(const void * model, const struct ts_shape * sh, int64_t g0, int64_t Tn,
                                 const struct ts_denoise_opts * opts) {
    const ts_model * m = model;
    ts_dit_ws * ws = ts_dit_ws_new(m, Tn, g0, sh->latent_frames);
    ts_dit_ws_set_halo_mode(ws, opts ? (enum ts_halo)opts->halo : TS_HALO_AUTO);
    return ws;
}

static void stdit_denoiser_free(const void * model, void * dn) {
    ts_dit_ws * ws = dn;
    ts_dit_ws_free(model, &ws);
}

static enum ts_status stdit_denoise(void * dn, const void * model, float * v, const float * x, float t,
                                   const void * cond, enum ts_pass pass, ts_comm_t comm) {
    const struct stdit_cond * c = cond;  // t: the noise level sigma
    // the controls hold for both passes of classifier-free guidance (it acts on the prompt
    // alone); control guidance's pass is the prompt's without them
    ts_dit_ws_set_controls(dn, model, pass == TS_PASS_NO_CONTROLS ? NULL : c->controls);
    if (pass == TS_PASS_UNCOND) return ts_dit_forward(dn, model, v, x, c->image, c->image_mask, t, &c->uncond, comm);
    return ts_dit_forward_story(dn, model, v, x, c->image, c->image_mask, t, &c->story, comm);
}

static double stdit_denoiser_wait(const void * dn) { return ts_dit_ws_halo_wait(dn); }

// ---- decoder: one latent frame is one video frame, no halo -----------------------------

static int64_t stdit_frames_out(const void * model, const struct ts_shape * sh, int64_t g0, int64_t Tn) {
    (void)model, (void)sh, (void)g0;
    return Tn;
}

struct stdit_dec {
    ts_vae_ws * ws;   // owned
    const float * x;  // (Tn, h, w, c) backend memory, not owned
    int64_t next, Tn, cell;
};

static enum ts_status stdit_decoder_new(const void * model, const struct ts_shape * sh, int64_t g0, int64_t Tn,
                                        const float * x, ts_comm_t comm, void ** out) {
    (void)g0, (void)comm;
    struct stdit_dec * d = ts_calloc(1, sizeof(*d));
    d->ws = ts_vae_ws_new(model);
    d->x = x;
    d->Tn = Tn;
    d->cell = (int64_t)sh->lat_h * sh->lat_w * sh->lat_c;
    *out = d;
    return TS_OK;
}

static void stdit_decoder_free(const void * model, void * dec) {
    struct stdit_dec * d = dec;
    if (!d) return;
    ts_vae_ws_free(model, &d->ws);
    free(d);
}

static enum ts_status stdit_decode_next(void * dec, const void * model, uint8_t * rgb) {
    struct stdit_dec * d = dec;
    TS_ASSERT(d->next < d->Tn);
    ts_vae_decode_u8(d->ws, model, rgb, d->x + d->next++ * d->cell);
    return TS_OK;
}

static enum ts_status stdit_explain(const void * model, const char * prompt, FILE * f) {
    return ts_prompt_explain(model, prompt, f);
}

const struct ts_family ts_family_stdit = {
    .name = "stdit",
    .probe = stdit_probe,
    .load = stdit_load,
    .free = stdit_free,
    .info = stdit_info,
    .defaults = stdit_defaults,
    .shape = stdit_shape,
    .sampler_new = stdit_sampler_new,
    .mem_bytes = stdit_mem_bytes,
    .cond_new = stdit_cond_new,
    .cond_free = stdit_cond_free,
    .denoiser_new = stdit_denoiser_new,
    .denoiser_free = stdit_denoiser_free,
    .denoise = stdit_denoise,
    .denoiser_wait = stdit_denoiser_wait,
    .frames_out = stdit_frames_out,
    .decoder_new = stdit_decoder_new,
    .decoder_free = stdit_decoder_free,
    .decode_next = stdit_decode_next,
    .halo_modes = 1,
    .controls = stdit_controls,
    .explain = stdit_explain,
};
