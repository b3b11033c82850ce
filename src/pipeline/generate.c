// The generation pipeline on every rank: settings, noise for the owned frames,
// guided Euler sampling with halo exchange, latents to HDF5, per-rank VAE
// decode streamed in order to rank 0, which encodes the MP4.
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"
#include "core/rng.h"
#include "dist/dist.h"
#include "io/latents.h"
#include "io/video.h"
#include "model/model.h"
#include "sample/sampler.h"

struct ts_ctx {
    ts_dist dist;
    ts_backend_t be;  // owned
    ts_model * model; // owned
};

void ts_gen_params_init(struct ts_gen_params * p) {
    memset(p, 0, sizeof(*p));
    p->frames = 32;
    p->cfg = -1.0f;
    p->crf = -1;
    p->progress = 1;
}

void ts_ctx_params_init(struct ts_ctx_params * p) {
    memset(p, 0, sizeof(*p));
    p->backend = "cpu";
}

static int file_exists(const char * path) { return path && access(path, R_OK) == 0; }

const char * ts_default_model_path(void) {
    static char buf[PATH_MAX];
    const char * env = getenv("TIMESHARD_MODEL");
    if (env && *env) return env;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char * slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            const char * rel[] = {"/../share/timeshard/models/default.h5", "/../models/default.h5",
                                  "/../../models/default.h5"};
            for (int i = 0; i < 3; i++) {
                snprintf(buf, sizeof(buf), "%s%s", exe, rel[i]);
                if (file_exists(buf)) return buf;
            }
        }
    }
    snprintf(buf, sizeof(buf), "%s/models/default.h5", TS_DEFAULT_MODEL_DIR);
    if (file_exists(buf)) return buf;
    snprintf(buf, sizeof(buf), "%s/models/default.h5", TS_SOURCE_DIR);
    if (file_exists(buf)) return buf;
    return NULL;
}

enum ts_status ts_ctx_new(const char * model_path, const struct ts_ctx_params * p, ts_ctx_t * out) {
    struct ts_ctx_params defaults;
    if (!p) {
        ts_ctx_params_init(&defaults);
        p = &defaults;
    }
    *out = NULL;
    ts_ctx_t ctx = ts_calloc(1, sizeof(*ctx));
    enum ts_status st = ts_dist_init(&ctx->dist, NULL, NULL);
    if (st != TS_OK) {
        free(ctx);
        return st;
    }
    if (p->backend && strcmp(p->backend, "cpu") != 0) {
        st = ts_error(TS_ERR_ARG, "use --backend cpu; 'timeshard devices' lists what this build has",
                      "backend '%s' is not available in this build", p->backend);
    }
    if (st == TS_OK) {
        ctx->be = ts_backend_cpu_new(p->threads);
        if (!model_path) model_path = ts_default_model_path();
        if (!model_path)
            st = ts_error(TS_ERR_IO, "pass --model PATH or set TIMESHARD_MODEL",
                          "the default model (models/default.h5) was not found");
        else
            st = ts_model_load(&ctx->model, model_path, ctx->be);
    }
    st = ts_dist_agree(&ctx->dist, st);
    if (st != TS_OK) {
        ts_ctx_free(&ctx);
        return st;
    }
    *out = ctx;
    return TS_OK;
}

void ts_ctx_free(ts_ctx_t * cp) {
    ts_ctx_t c = *cp;
    if (!c) return;
    ts_model_free(&c->model);
    if (c->be) ts_backend_free(&c->be);
    ts_dist_free(&c->dist);
    free(c);
    *cp = NULL;
}

int ts_ctx_rank(ts_ctx_t ctx) { return ctx->dist.rank; }
int ts_ctx_world(ts_ctx_t ctx) { return ctx->dist.world; }
const ts_model * ts_ctx_model(ts_ctx_t ctx) { return ctx->model; }

// ---- SIGTERM: finish the step, checkpoint, exit non-zero -------------------------
static volatile sig_atomic_t ts_term_requested = 0;
static void on_term(int sig) {
    (void)sig;
    ts_term_requested = 1;
}

// ---- progress ------------------------------------------------------------------------
struct progress {
    double t0, last;
    int tty;
};

static void progress_step(struct progress * pr, int k, int steps) {
    double now = ts_time();
    double rate = k / (now - pr->t0);
    double eta = (steps - k) / (rate > 0 ? rate : 1e-9);
    if (pr->tty) {
        fprintf(stderr, "\r  step %d/%d  %.2f it/s  ETA %.0fs   ", k, steps, rate, eta);
        if (k == steps) fprintf(stderr, "\n");
        fflush(stderr);
    } else if (k == steps || now - pr->last >= 10.0 || k == 1) {
        fprintf(stderr, "timeshard: step %d/%d  %.2f it/s  ETA %.0fs\n", k, steps, rate, eta);
        pr->last = now;
    }
}

// ---- the frame stream: decode on every rank, encode on rank 0 -------------------------
struct decode_ud {
    const ts_model * m;
    ts_vae_ws * vws;
    const float * lat;  // (T_own, h, w, c) backend memory
    float * rgb;        // (H, W, 3) backend memory
    float * host;       // (H, W, 3) host
};

static enum ts_status produce_frame(void * ud, int64_t i, uint8_t * buf) {
    struct decode_ud * d = ud;
    const struct ts_model_config * c = &d->m->cfg;
    int64_t cell = (int64_t)ts_cfg_latent_hw(c) * ts_cfg_latent_hw(c) * c->latent_channels;
    int64_t px = (int64_t)c->image_size * c->image_size * 3;
    ts_vae_decode(d->vws, d->m, d->rgb, d->lat + i * cell);
    d->m->be->ops->download(d->m->be, d->host, d->rgb, (size_t)px * sizeof(float));
    ts_to_uint8(buf, d->host, px);
    return TS_OK;
}

struct encode_ud {
    ts_video_writer * vw;
    int64_t total;
    struct progress pr;
};

static enum ts_status consume_frame(void * ud, int64_t g, const uint8_t * buf) {
    struct encode_ud * e = ud;
    if (e->vw) TS_TRY(ts_video_writer_add(e->vw, buf));
    return TS_OK;
}

static void fill_meta(struct ts_latents_meta * meta, const struct ts_gen_params * gp, const ts_model * m, int steps,
                      float cfg, double fps, int64_t step) {
    memset(meta, 0, sizeof(*meta));
    snprintf(meta->prompt, sizeof(meta->prompt), "%s", gp->prompt);
    meta->seed = gp->seed;
    meta->steps = steps;
    meta->cfg = cfg;
    meta->fps = fps;
    snprintf(meta->model_digest, sizeof(meta->model_digest), "%s", m->digest);
    snprintf(meta->version, sizeof(meta->version), "%s", TS_VERSION);
    meta->step = step;
}

// Reads a checkpoint's latents for frames [g0, g0+Tn) into host and its step;
// everything that decides the video must match this run.
static enum ts_status resume_read(ts_dist * d, const struct ts_gen_params * gp, const ts_model * m, int steps,
                                  float cfg, int64_t T, int64_t g0, int64_t Tn, float * host, int * step) {
    const struct ts_model_config * c = &m->cfg;
    int64_t Tf = 0;
    int h = 0, w = 0, ch = 0;
    struct ts_latents_meta meta;
    TS_TRY(ts_latents_read(gp->resume_path, d->comm, &Tf, &h, &w, &ch, 0, 0, NULL, &meta));
    const char * hint = "resume with the same prompt, seed, steps, cfg, frames and model as the interrupted run";
    if (Tf != T || h != ts_cfg_latent_hw(c) || w != h || ch != c->latent_channels)
        return ts_error(TS_ERR_ARG, hint, "checkpoint '%s' holds %lld frames of %dx%dx%d latents; this run makes %lld",
                        gp->resume_path, (long long)Tf, h, w, ch, (long long)T);
    if (meta.step < 0 || meta.step > steps)
        return ts_error(TS_ERR_FORMAT, hint, "'%s' is not a checkpoint of a %d-step run (step %lld)", gp->resume_path,
                        steps, (long long)meta.step);
    if (strcmp(meta.prompt, gp->prompt) != 0 || meta.seed != gp->seed || meta.steps != steps ||
        (float)meta.cfg != cfg || strcmp(meta.model_digest, m->digest) != 0)
        return ts_error(TS_ERR_ARG, hint, "checkpoint '%s' was made with other settings or another model",
                        gp->resume_path);
    TS_TRY(ts_latents_read(gp->resume_path, d->comm, &Tf, &h, &w, &ch, g0, Tn, host, &meta));
    *step = (int)meta.step;
    return TS_OK;
}

// ---- generate ----------------------------------------------------------------------
enum ts_status ts_generate(ts_ctx_t ctx, const struct ts_gen_params * gp) {
    ts_dist * d = &ctx->dist;
    const ts_model * m = ctx->model;
    const struct ts_model_config * c = &m->cfg;
    ts_backend_t be = ctx->be;
    const struct ts_backend_ops * op = be->ops;
    enum ts_status st = TS_OK;

    // -- settings, checked the same way on every rank
    const int steps = gp->steps > 0 ? gp->steps : c->default_steps;
    const float cfg = gp->cfg >= 0 ? gp->cfg : c->default_cfg;
    const double fps = gp->fps > 0 ? gp->fps : c->fps;
    const int64_t T = gp->frames;
    const int W = c->temporal_window;
    if (!gp->prompt || !gp->prompt[0] || strspn(gp->prompt, " \t\r\n") == strlen(gp->prompt))
        return ts_error(TS_ERR_ARG, "give --prompt \"a red circle moving left on a blue background\"",
                        "the prompt is empty");
    if (T <= 0) return ts_error(TS_ERR_ARG, "use --frames 1 or more", "--frames must be positive (got %lld)", (long long)T);
    if (steps > 100000) return ts_error(TS_ERR_ARG, NULL, "--steps %d is too many", steps);
    if (!(fps > 0 && fps <= 1000)) return ts_error(TS_ERR_ARG, NULL, "--fps must be in (0, 1000]");
    if (d->world > 1 && T < (int64_t)W * d->world) {
        int best = ts_partition_max_ranks(T, W, d->world);
        if (best < 1) best = 1;
        return ts_error(TS_ERR_ARG, "run with fewer ranks or more frames",
                        "%d ranks are too many for %lld frames: each rank must own at least %d frames "
                        "(the temporal window); use at most %d ranks",
                        d->world, (long long)T, W, best);
    }
    int64_t g0 = 0, Tn = 0;
    ts_partition(T, d->world, d->rank, &g0, &Tn);
    const int hw = ts_cfg_latent_hw(c), C = c->latent_channels;
    const int64_t cell = (int64_t)hw * hw * C;
    const int64_t n_lat = Tn * cell;

    if (d->rank == 0) {
        TS_INFO("timeshard %s", TS_VERSION);
        TS_INFO("  model     %s (%.1fM parameters%s%s%s)", m->path, m->n_params / 1e6, c->label[0] ? ", " : "",
                c->label, "");
        TS_INFO("  prompt    \"%s\"", gp->prompt);
        TS_INFO("  frames    %lld at %g fps, %dx%d pixels, latents %dx%dx%d", (long long)T, fps, c->image_size,
                c->image_size, hw, hw, C);
        TS_INFO("  sampler   %d steps, cfg %g, shift %g, seed %llu", steps, cfg, c->shift,
                (unsigned long long)gp->seed);
        TS_INFO("  ranks     %d (%lld-%lld frames each), backend %s, %d threads per rank, fp32", d->world,
                (long long)(T / d->world), (long long)((T + d->world - 1) / d->world), be->ops->name, be->threads);
    }

    // -- outputs opened before the work, so a bad path fails in seconds
    ts_video_writer * vw = NULL;
    if (d->rank == 0 && gp->out_path)
        st = ts_video_writer_open(gp->out_path, c->image_size, c->image_size, fps, gp->codec, gp->crf, &vw);

    // -- prompt encodings (every rank, redundantly)
    ts_text_cond tc = {0}, tu = {0};
    if (st == TS_OK) st = ts_text_encode(m, gp->prompt, &tc);
    if (st == TS_OK) {
        ts_log_set_level(TS_LOG_ERROR);  // the empty prompt warns about nothing useful
        st = ts_text_encode(m, "", &tu);
        ts_log_set_level(TS_LOG_INFO);
    }

    // -- latents: noise of the owned frames from their global index
    float * x = op->alloc(be, (size_t)(n_lat > 0 ? n_lat : 1) * sizeof(float));
    float * vc = op->alloc(be, (size_t)(n_lat > 0 ? n_lat : 1) * sizeof(float));
    float * vu = op->alloc(be, (size_t)(n_lat > 0 ? n_lat : 1) * sizeof(float));
    float * host = ts_malloc((size_t)(n_lat > 0 ? n_lat : 1) * sizeof(float));
    int k_start = 0;
    if (st == TS_OK && gp->resume_path) {
        st = resume_read(d, gp, m, steps, cfg, T, g0, Tn, host, &k_start);
        if (st == TS_OK && d->rank == 0)
            TS_INFO("  resume    from '%s' at step %d of %d", gp->resume_path, k_start, steps);
    } else {
        ts_rng_normal_fill(host, n_lat, gp->seed, 0, (uint64_t)(g0 * cell));
    }
    op->upload(be, x, host, (size_t)n_lat * sizeof(float));

    // -- image-to-video: the rank owning frame 0 encodes the given first frame
    float * cond = NULL;
    float * cond_mask = NULL;
    ts_vae_ws * vws = ts_vae_ws_new(m);
    if (st == TS_OK && gp->image_path) {
        cond_mask = ts_calloc((size_t)(Tn > 0 ? Tn : 1), sizeof(float));
        cond = op->alloc(be, (size_t)(n_lat > 0 ? n_lat : 1) * sizeof(float));
        if (g0 == 0 && Tn > 0) {
            uint8_t * img = NULL;
            int iw = 0, ih = 0;
            st = ts_image_read(gp->image_path, &img, &iw, &ih);
            if (st == TS_OK && (iw != c->image_size || ih != c->image_size))
                st = ts_error(TS_ERR_ARG, "resize the image to the model's resolution first",
                              "--image '%s' is %dx%d; the model makes %dx%d frames", gp->image_path, iw, ih,
                              c->image_size, c->image_size);
            if (st == TS_OK) {
                int64_t px = (int64_t)iw * ih * 3;
                float * f = ts_malloc((size_t)px * sizeof(float));
                for (int64_t i = 0; i < px; i++) f[i] = img[i] / 127.5f - 1.0f;
                float * dimg = op->alloc(be, (size_t)px * sizeof(float));
                op->upload(be, dimg, f, (size_t)px * sizeof(float));
                ts_vae_encode(vws, m, cond, dimg);
                op->release(be, dimg);
                free(f);
                cond_mask[0] = 1.0f;
            }
            free(img);
        }
    }
    st = ts_dist_agree(d, st);

    // -- sampling
    ts_dit_ws * ws = NULL;
    double t_sample = 0;
    if (st == TS_OK) {
        ws = ts_dit_ws_new(m, Tn, g0, T);
        ts_comm_t halo = d->world > 1 ? d->halo : NULL;
        struct progress pr = {ts_time(), 0, isatty(2)};
        void (*old_term)(int) = signal(SIGTERM, on_term);
        double t0 = ts_time();
        ts_term_requested = 0;
        for (int k = k_start; k < steps && st == TS_OK; k++) {
            float s0 = (float)ts_schedule_sigma(k, steps, c->shift);
            double dt = ts_schedule_sigma(k + 1, steps, c->shift) - ts_schedule_sigma(k, steps, c->shift);
            st = ts_dit_forward(ws, m, vc, x, cond, cond_mask, s0, &tc, halo);
            if (st == TS_OK && cfg != 1.0f) {
                st = ts_dit_forward(ws, m, vu, x, cond, cond_mask, s0, &tu, halo);
                // v = v_u + cfg * (v_c - v_u)
                op->axpby(be, vc, -1.0f, vu, 1.0f, n_lat);
                op->axpby(be, vu, cfg, vc, 1.0f, n_lat);
                op->axpby(be, x, (float)dt, vu, 1.0f, n_lat);
            } else if (st == TS_OK) {
                op->axpby(be, x, (float)dt, vc, 1.0f, n_lat);
            }
            if (d->rank == 0 && gp->progress) progress_step(&pr, k + 1 - k_start, steps - k_start);
            // checkpoint every K steps, and when any rank got SIGTERM (then stop)
            int term = ts_term_requested;
            if (d->world > 1) MPI_Allreduce(MPI_IN_PLACE, &term, 1, MPI_INT, MPI_MAX, d->comm);
            int ckpt = gp->checkpoint_path && st == TS_OK &&
                       (term || (gp->checkpoint_every > 0 && (k + 1) % gp->checkpoint_every == 0 && k + 1 < steps));
            if (ckpt) {
                struct ts_latents_meta meta;
                fill_meta(&meta, gp, m, steps, cfg, fps, k + 1);
                op->download(be, host, x, (size_t)n_lat * sizeof(float));
                st = ts_latents_write(gp->checkpoint_path, d->comm, T, hw, hw, C, g0, Tn, host, &meta);
                if (st == TS_OK && d->rank == 0) TS_INFO("checkpoint at step %d: %s", k + 1, gp->checkpoint_path);
            }
            if (term && st == TS_OK)
                st = ts_error(TS_ERR_INTERRUPTED,
                              gp->checkpoint_path ? "continue with --resume <checkpoint>" : "pass --checkpoint FILE to keep progress",
                              "stopped by SIGTERM after step %d of %d%s", k + 1, steps,
                              gp->checkpoint_path ? " (checkpoint written)" : "");
        }
        t_sample = ts_time() - t0;
        signal(SIGTERM, old_term);
    }
    st = ts_dist_agree(d, st);

    // -- latents file (collective)
    if (st == TS_OK && gp->latents_path) {
        op->download(be, host, x, (size_t)n_lat * sizeof(float));
        struct ts_latents_meta meta;
        fill_meta(&meta, gp, m, steps, cfg, fps, -1);
        st = ts_latents_write(gp->latents_path, d->comm, T, hw, hw, C, g0, Tn, host, &meta);
    }

    // -- decode on every rank, stream to rank 0 in order, encode
    if (st == TS_OK && gp->out_path) {
        double t0 = ts_time();
        size_t fb = (size_t)c->image_size * c->image_size * 3;
        struct decode_ud du = {m, vws, x, op->alloc(be, fb * sizeof(float)), ts_malloc(fb * sizeof(float))};
        struct encode_ud eu = {vw, T, {ts_time(), 0, isatty(2)}};
        st = ts_stitch(d, T, fb, 4, produce_frame, &du, consume_frame, &eu);
        op->release(be, du.rgb);
        free(du.host);
        if (d->rank == 0 && st == TS_OK) {
            st = ts_video_writer_close(&vw, 1);
            if (st == TS_OK)
                TS_INFO("wrote %s: %lld frames, %dx%d, %g fps (sampling %.1fs, decode+encode %.1fs)", gp->out_path,
                        (long long)T, c->image_size, c->image_size, fps, t_sample, ts_time() - t0);
        }
        st = ts_dist_agree(d, st);
    }
    if (vw) ts_video_writer_close(&vw, 0);  // failure: nothing under the requested name
    if (st == TS_OK && gp->latents_path && d->rank == 0) TS_INFO("wrote %s", gp->latents_path);

    ts_dit_ws_free(m, &ws);
    ts_vae_ws_free(m, &vws);
    ts_text_cond_free(m, &tc);
    ts_text_cond_free(m, &tu);
    op->release(be, x);
    op->release(be, vc);
    op->release(be, vu);
    if (cond) op->release(be, cond);
    free(cond_mask);
    free(host);
    return st;
}
