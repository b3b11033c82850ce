// What a run writes: latents and checkpoints (collective, parallel HDF5), the
// resume from a checkpoint, and the video: every rank decodes its own frames
// (optionally interpolated), rank 0 receives them in order and hands them to
// the MP4 encoder, the frames file and the caller's frame callback.
#include <omp.h>  // omp_set_num_threads: the interpolator's threads
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "io/frames.h"
#include "io/latents.h"
#include "io/video.h"
#include "pipeline/hooks.h"
#include "pipeline/run.h"

// ---- latents and checkpoints ---------------------------------------------------------

// Appends "\n" and a formatted line to the metadata's prompt while it has room (a truncated
// prompt compares as stored).
static void meta_line(struct ts_latents_meta * meta, const char * fmt, ...) {
    size_t k = strlen(meta->prompt);
    if (k + 1 >= sizeof(meta->prompt)) return;
    meta->prompt[k++] = '\n';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(meta->prompt + k, sizeof(meta->prompt) - k, fmt, ap);
    va_end(ap);
}

static void fill_meta(const struct ts_run * r, int64_t step, struct ts_latents_meta * meta) {
    memset(meta, 0, sizeof(*meta));
    snprintf(meta->prompt, sizeof(meta->prompt), "%.*s", (int)sizeof(meta->prompt) - 1, r->sb.text);
    // the command line's motion controls follow the prompt (a storyboard's are in its text), and
    // the other settings that change the sampled latents when given (nothing for a default, so
    // checkpoints of default runs made before these lines still resume): the file records them
    // and a resume with other ones is refused
    const struct ts_gen_params * gp = r->gp;
    const char * flags[] = {"--path", "--motion", "--gravity", "--bounce", "--growth", "--negative-prompt"};
    const char * vals[] = {gp->motion_path, gp->motion, gp->gravity, gp->bounce, gp->growth,
                           gp->negative_prompt && gp->negative_prompt[0] ? gp->negative_prompt : NULL};
    for (int i = 0; i < 6; i++)
        if (vals[i]) meta_line(meta, "%s \"%s\"", flags[i], vals[i]);
    if (gp->blend > 0) meta_line(meta, "--blend %d", gp->blend);
    if (gp->window > 0) meta_line(meta, "--window %d", gp->window);
    if (r->image_digest[0]) meta_line(meta, "--image sha256:%s", r->image_digest);
    if (r->ctl_scale != 1.0f) meta_line(meta, "--control-scale %g", r->ctl_scale);  // given or the default
    meta->seed = r->gp->seed;
    meta->steps = r->steps;
    meta->cfg = r->cfg;
    meta->fps = r->fps;
    snprintf(meta->model_digest, sizeof(meta->model_digest), "%s", r->info.digest);
    snprintf(meta->version, sizeof(meta->version), "%s", TS_VERSION);
    meta->step = step;
    snprintf(meta->sampler, sizeof meta->sampler, "%s", r->sampler->ops->name);
    snprintf(meta->sampler_config, sizeof meta->sampler_config, "%s", r->sampler->config);
    meta->shift = r->sampler->shift;
    snprintf(meta->noise, sizeof meta->noise, "%s", gp->noise_path ? "file" : "seed");
    if (gp->noise_path) {
        snprintf(meta->noise_sha256, sizeof meta->noise_sha256, "%s", r->noise_digest);
        snprintf(meta->noise_file, sizeof meta->noise_file, "%s", gp->noise_path);
    }
}

// The latents x (all ranks' frames) to `path`; step >= 0 makes it a checkpoint.
enum ts_status ts_run_latents_write(struct ts_run * r, const char * path, int64_t step) {
    struct ts_latents_meta meta;
    fill_meta(r, step, &meta);
    r->be->ops->download(r->be, r->host, r->x, (size_t)r->n_lat * sizeof(float));
    enum ts_status st = step >= 0 ? ts_run_checkpoint_write(r, path, &meta)
                                  : ts_latents_write(path, r->par->comm, r->sh.latent_frames, r->sh.lat_h, r->sh.lat_w,
                                                     r->sh.lat_c, r->g0, r->Tn, r->host, &meta);
    if (st != TS_OK) {
        // the directory checked before sampling may since have gone (or lost its write
        // permission): say that, by the name given, rather than the writer's NAME.tmp
        char msg[1024], hint[512];
        snprintf(msg, sizeof msg, "%s", ts_last_error());
        snprintf(hint, sizeof hint, "%s", ts_last_hint());
        ts_error_clear();
        if (ts_output_dir_check(path, step >= 0 ? "--checkpoint" : "--latents") == TS_OK)
            ts_error(st, hint[0] ? hint : NULL, "%s", msg);  // another cause: the writer's own message
    }
    return st;
}

// The checkpoint's header, settings and sampler state against this run's (the
// plan: nothing of the latents is read); its step into r->k_start. Everything
// that decides the video must match this run.
enum ts_status ts_run_resume_check(struct ts_run * r) {
    const char * path = r->gp->resume_path;
    int64_t Tf = 0;
    int h = 0, w = 0, ch = 0;
    struct ts_latents_meta meta, want;
    TS_TRY(ts_latents_read(path, r->par->comm, &Tf, &h, &w, &ch, 0, 0, NULL, &meta));
    const char * hint =
        "resume with the same prompt, motion controls, seed (or --noise), steps, cfg, sampler, shift, "
        "frames, fps, negative prompt, blend, window, image and model as the interrupted run "
        "('timeshard info CHECKPOINT' shows them)";
    if (Tf != r->sh.latent_frames || h != r->sh.lat_h || w != r->sh.lat_w || ch != r->sh.lat_c)
        return ts_error(TS_ERR_ARG, hint, "checkpoint '%s' holds %lld frames of %dx%dx%d latents; this run makes %lld",
                        path, (long long)Tf, h, w, ch, (long long)r->sh.latent_frames);
    if (meta.step < 0)  // no step: the final latents of a finished run (--latents)
        return ts_error(TS_ERR_ARG, "resume from the file --checkpoint wrote (it holds the step it stopped after)",
                        "'%s' holds a finished run's final latents (--latents), not a checkpoint", path);
    if (meta.step > r->steps)
        return ts_error(TS_ERR_FORMAT, hint, "'%s' is not a checkpoint of a %d-step run (step %lld)", path, r->steps,
                        (long long)meta.step);
    fill_meta(r, meta.step, &want);  // the prompt as stored (may be truncated)
    char diff[320] = "";
    const int ck_file = !strcmp(meta.noise, "file"), run_file = !strcmp(want.noise, "file");
    if (strcmp(meta.prompt, want.prompt) != 0)
        snprintf(diff, sizeof diff, "another prompt, other motion controls or another --negative-prompt, --blend, "
                                    "--window or --image");
    else if (meta.fps != want.fps)
        snprintf(diff, sizeof diff, "%g fps; this run has %g", meta.fps, want.fps);
    // the initial noise: the seed's, or a --noise file's (by its SHA-256); a checkpoint written before
    // the `noise` attribute is compared by its seed, as it was then
    else if (meta.noise[0] && ck_file != run_file) {
        if (ck_file)
            snprintf(diff, sizeof diff, "the noise of --noise '%.200s'; this run draws it from seed %llu",
                     meta.noise_file, (unsigned long long)want.seed);
        else
            snprintf(diff, sizeof diff, "seed %llu's noise; this run reads it from --noise '%.200s'",
                     (unsigned long long)meta.seed, want.noise_file);
    } else if (ck_file && strcmp(meta.noise_sha256, want.noise_sha256) != 0)
        snprintf(diff, sizeof diff,
                 "the noise of --noise '%.100s' (sha256 %.16s...); this run's '%.100s' is another file "
                 "(sha256 %.16s...)",
                 meta.noise_file, meta.noise_sha256, want.noise_file, want.noise_sha256);
    else if (!ck_file && (!run_file || !meta.noise[0]) && meta.seed != want.seed)
        snprintf(diff, sizeof diff, "seed %llu; this run has %llu", (unsigned long long)meta.seed,
                 (unsigned long long)want.seed);
    else if (meta.steps != want.steps)
        snprintf(diff, sizeof diff, "%lld steps; this run takes %d", (long long)meta.steps, r->steps);
    else if ((float)meta.cfg != r->cfg) snprintf(diff, sizeof diff, "cfg %g; this run has %g", meta.cfg, r->cfg);
    // the sampler's settings (older checkpoints do not say: an Euler one's shift went unchecked); another
    // sampler altogether is left to ts_run_sampler_resume, which says what its state holds
    else if (meta.sampler[0] && !strcmp(meta.sampler, want.sampler) &&
             strcmp(meta.sampler_config, want.sampler_config) != 0)
        snprintf(diff, sizeof diff, "%s; this run samples with %s", meta.sampler_config, want.sampler_config);
    else if (strcmp(meta.model_digest, want.model_digest) != 0) snprintf(diff, sizeof diff, "another model");
    if (diff[0]) return ts_error(TS_ERR_ARG, hint, "checkpoint '%s' was made with %s", path, diff);
    TS_TRY(ts_run_sampler_resume(r, path, meta.step, 0));
    if (meta.sampler[0] && strcmp(meta.sampler, want.sampler) != 0)
        return ts_error(TS_ERR_ARG, hint, "checkpoint '%s' was made with %s; this run samples with %s", path,
                        meta.sampler_config, want.sampler_config);
    r->k_start = (int)meta.step;
    return TS_OK;
}

// Reads the checkpoint ts_run_resume_check accepted: this rank's frames of its
// latents into r->host, the sampler's state into the sampler.
enum ts_status ts_run_resume_read(struct ts_run * r) {
    const char * path = r->gp->resume_path;
    int64_t Tf = 0;
    int h = 0, w = 0, ch = 0;
    struct ts_latents_meta meta;
    TS_TRY(ts_latents_read(path, r->par->comm, &Tf, &h, &w, &ch, r->g0, r->Tn, r->host, &meta));
    if (meta.step != r->k_start || Tf != r->sh.latent_frames || h != r->sh.lat_h || w != r->sh.lat_w ||
        ch != r->sh.lat_c)  // rewritten since the plan read it
        return ts_error(TS_ERR_IO, "let one job at a time write the checkpoint",
                        "checkpoint '%s' changed while this run was reading it", path);
    return ts_run_sampler_resume(r, path, meta.step, 1);
}

// ---- the video: decode, interpolate, stitch, encode ------------------------------------
// A rank's output frames come from its family's decoder in order; the
// interpolator reads the rank's first frame twice (once for the left
// neighbour's halo), so that one is kept.

struct video_out {
    struct ts_run * r;
    void * dec;                 // owned: the family's decoder
    ts_interp_stream * stream;  // owned: this rank's interpolated frames (--fps-out)
    ts_video_writer * vw;       // rank 0: the MP4
    ts_frames_writer * fw;      // rank 0: --out FILE.h5
    int64_t total;              // frames in the output
    int64_t f0, Fn;             // this rank's decoded frames [f0, f0 + Fn) of the video
    int64_t decoded;            // frames decode_next has given
    uint8_t * first;            // owned: this rank's first frame (Fn > 0)
    size_t fb;                  // bytes of a frame
    double t0;
};

// This rank's decoded frame i (i = 0, then 0, 1, 2, ... in order).
static enum ts_status produce_frame(void * ud, int64_t i, uint8_t * buf) {
    struct video_out * v = ud;
    if (i == 0 && v->decoded > 0) {
        memcpy(buf, v->first, v->fb);
        return TS_OK;
    }
    TS_ASSERT(i == v->decoded);  // the decoder runs forward only
    TS_TRY(v->r->fam->decode_next(v->dec, v->r->model, buf));
    if (v->decoded++ == 0) memcpy(v->first, buf, v->fb);
    return TS_OK;
}

// Keyframes for the interpolator: this rank's decoded frames by video index.
static enum ts_status interp_key(void * ud, int64_t g, uint8_t * rgb, int * got) {
    struct video_out * v = ud;
    *got = 1;
    return produce_frame(v, g - v->f0, rgb);
}

static enum ts_status produce_interp(void * ud, int64_t i, uint8_t * buf) {
    struct video_out * v = ud;
    int got = 0;
    TS_TRY(ts_interp_stream_next(v->stream, buf, NULL, &got));
    TS_ASSERT(got);  // the stream makes exactly ts_interp_out_range's frames
    return TS_OK;
}

static enum ts_status consume_frame(void * ud, int64_t g, const uint8_t * buf) {
    struct video_out * v = ud;
    const struct ts_gen_params * gp = v->r->gp;
    if (v->vw) TS_TRY(ts_video_writer_add(v->vw, buf));
    if (v->fw) TS_TRY(ts_frames_writer_add(v->fw, buf));
    if (gp->on_frame) TS_TRY(gp->on_frame(g, buf, v->r->sh.width, v->r->sh.height, gp->frame_ud));
    if (gp->progress) {
        struct ts_progress p = {"video", g + 1, v->total, ts_time() - v->t0};
        gp->progress(&p, gp->progress_ud);
    }
    return TS_OK;
}

// Rank 0 makes the temporary output now, when the stitch begins: a run that
// fails or is killed before leaves no file behind.
static enum ts_status open_outputs(struct video_out * v) {
    struct ts_run * r = v->r;
    const struct ts_gen_params * gp = r->gp;
    if (r->par->rank != 0 || !gp->out_path) return TS_OK;
    double fps = r->interp ? gp->fps_out : r->fps;
    if (ts_frames_path(gp->out_path)) return ts_frames_writer_open(gp->out_path, r->sh.width, r->sh.height, fps, &v->fw);
    char tmp[4096];
    if (r->ctx->signals && ts_video_tmp_path(gp->out_path, tmp, sizeof(tmp)) == 0) ts_term_tmp_video(tmp);
    return ts_video_writer_open(gp->out_path, r->sh.width, r->sh.height, fps, gp->codec, gp->crf, &v->vw);
}

// Each rank interpolates its own keyframe pairs, the last one with its right
// neighbour's first frame (the 1-frame halo); rank r's output frames follow
// from its keyframes (ts_interp_out_range), streamed to rank 0 in order.
static enum ts_status stream_interp(struct video_out * v, const int64_t * frames) {
    struct ts_run * r = v->r;
    ts_parallel * d = r->par;
    uint8_t * first = ts_malloc(v->fb), * halo = ts_malloc(v->fb);
    int has_halo = 0;
    enum ts_status st = produce_frame(v, 0, first);
    if (st == TS_OK) st = ts_parallel_frame_halo(d, first, halo, v->fb, &has_halo);
    const int64_t F = r->sh.frames;
    int64_t * counts = ts_calloc((size_t)d->world, sizeof(int64_t));
    for (int k = 0, f0 = 0; k < d->world; f0 += (int)frames[k], k++) {
        int64_t j0, jn;
        ts_interp_out_range(F, f0, frames[k], r->tm, &j0, &jn);
        counts[k] = jn;
    }
    struct ts_interp_params ip;
    ts_interp_params_init(&ip);
    if (st == TS_OK)
        st = ts_interp_rank_stream_open(&ip, r->sh.width, r->sh.height, r->tm, v->f0, v->Fn, interp_key, v,
                                        has_halo ? halo : NULL, &v->stream);
    st = ts_parallel_agree(d, st);
    if (st == TS_OK) st = ts_stitch_counts(d, counts, v->total, v->fb, 4, produce_interp, v, consume_frame, v);
    ts_interp_stream_free(&v->stream);
    free(counts);
    free(first);
    free(halo);
    return st;
}

// The video frames each rank decodes: frames[k] for rank k, the same on every rank.
static void frames_per_rank(const struct ts_run * r, int64_t * frames) {
    for (int k = 0; k < r->par->world; k++) {
        int64_t a, b;
        ts_partition(r->sh.latent_frames, r->par->world, k, &a, &b);
        frames[k] = r->fam->frames_out(r->model, &r->sh, a, b);
    }
}

enum ts_status ts_run_video(struct ts_run * r) {
    const struct ts_gen_params * gp = r->gp;
    ts_parallel * d = r->par;
    if (!gp->out_path && !gp->on_frame) return TS_OK;
    struct video_out v = {.r = r, .t0 = ts_time(), .fb = (size_t)r->sh.width * r->sh.height * 3};
    int64_t * frames = ts_calloc((size_t)d->world, sizeof(int64_t));
    frames_per_rank(r, frames);
    for (int k = 0; k < d->rank; k++) v.f0 += frames[k];
    v.Fn = frames[d->rank];
    TS_ASSERT(v.f0 + v.Fn <= r->sh.frames);
    v.total = r->interp ? ts_interp_out_count(r->sh.frames, r->tm) : r->sh.frames;
    v.first = ts_malloc(v.fb);
    // the interpolator's OpenMP loops use this rank's threads, not every core
    // of the node (ranks sharing cores would each start all of them)
    if (r->be->threads > 0) omp_set_num_threads(r->be->threads);
    enum ts_status st = r->fam->decoder_new(r->model, &r->sh, r->g0, r->Tn, r->x, d->world > 1 ? d->halo : NULL, &v.dec);
    if (st == TS_OK) st = open_outputs(&v);
    st = ts_parallel_agree(d, st);
    if (st == TS_OK && !r->interp)
        st = ts_stitch_counts(d, frames, v.total, v.fb, 4, produce_frame, &v, consume_frame, &v);
    else if (st == TS_OK)
        st = stream_interp(&v, frames);
    if (d->rank == 0 && st == TS_OK && (v.fw || v.vw)) {
        st = v.fw ? ts_frames_writer_close(&v.fw, 1) : ts_video_writer_close(&v.vw, 1);
        if (st == TS_OK)
            TS_INFO("wrote %s: %lld frames, %dx%d, %g fps (sampling %.1fs, decode+encode %.1fs)", gp->out_path,
                    (long long)v.total, r->sh.width, r->sh.height, r->interp ? gp->fps_out : r->fps, r->t_sample,
                    ts_time() - v.t0);
    }
    st = ts_parallel_agree(d, st);
    if (v.vw) ts_video_writer_close(&v.vw, 0);  // failure: nothing under the requested name
    if (v.fw) ts_frames_writer_close(&v.fw, 0);
    if (r->ctx->signals) ts_term_tmp_video(NULL);
    if (v.dec) r->fam->decoder_free(r->model, v.dec);
    free(v.first);
    free(frames);
    return st;
}
