// ts_generate: one run in phases over struct ts_run (run.h), each phase ending
// with every rank agreeing on its outcome (ts_parallel_agree), so one rank's
// failure stops all of them at the same point:
//   plan      settings resolved and checked alike on every rank, the shape from
//             the model's family, the settings table on rank 0
//   setup     conditioning (family), latents from Philox noise by global index
//             or from a checkpoint, the denoiser's workspace
//   sample    guided Euler steps (src/sample), checkpoints, SIGTERM
//   outputs   latents file, then the video (outputs.c)
// The pipeline knows no model family: everything family-specific is behind
// struct ts_family (model/family.h). docs/ARCHITECTURE.md describes the flow.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/rng.h"
#include "io/frames.h"   // ts_frames_path
#include "io/latents.h"  // ts_noise_read
#include "io/weights.h"  // ts_file_sha256
#include "io/video.h"   // ts_image_read, ts_video_encoder_check
#include "pipeline/hooks.h"
#include "pipeline/run.h"
#include "sample/sampler.h"

// ---- plan ----------------------------------------------------------------------------------

// No output replaces an input or another output (files compared, not names; a
// directory model: no output inside it or that is any of its files); the
// checkpoint may be the file resumed from (that is how a job is requeued). The
// command line checks the inputs the run does not know: --text-encoder, --vae,
// --tokenizer (the model's context), --config.
static enum ts_status plan_files(const struct ts_run * r) {
    const struct ts_gen_params * gp = r->gp;
    const char * in[] = {r->info.path, gp->storyboard_path, gp->image_path, gp->resume_path, gp->noise_path};
    const char * in_flag[] = {"--model", "--storyboard", "--image", "--resume", "--noise"};
    const char * out[] = {gp->out_path, gp->latents_path, gp->checkpoint_path};
    const char * out_flag[] = {"--out", "--latents", "--checkpoint"};
    for (int o = 0; o < 3; o++) {
        if (!out[o]) continue;
        for (int i = 0; i < 5; i++)
            if (in[i] && !(o == 2 && i == 3 && ts_same_file(out[o], in[i])))
                TS_TRY(ts_output_check(out[o], out_flag[o], in[i], in_flag[i]));
        for (int p = o + 1; p < 3; p++)
            if (out[p] && ts_same_file(out[o], out[p]))
                return ts_error(TS_ERR_ARG, "give each output its own file", "%s and %s name the same file '%s'",
                                out_flag[o], out_flag[p], out[o]);
    }
    return TS_OK;
}

// Each output's directory exists and takes new files, before any work (a
// checkpoint is written when SIGTERM comes: too late to learn it cannot be).
// Rank 0 writes the video; every rank takes part in writing the HDF5 files.
static enum ts_status plan_output_dirs(const struct ts_run * r) {
    const struct ts_gen_params * gp = r->gp;
    if (r->par->rank == 0 && gp->out_path) TS_TRY(ts_output_dir_check(gp->out_path, "--out"));
    if (gp->latents_path) TS_TRY(ts_output_dir_check(gp->latents_path, "--latents"));
    if (gp->checkpoint_path) TS_TRY(ts_output_dir_check(gp->checkpoint_path, "--checkpoint"));
    return TS_OK;
}

// The prompts as a storyboard (a single prompt is one segment over every frame).
static enum ts_status plan_story(struct ts_run * r) {
    const struct ts_gen_params * gp = r->gp;
    // storyboard ranges count video frames (the same as latent frames for the default
    // family; a family whose latent frames cover several video frames maps them itself)
    const int64_t F = r->sh.frames;
    if (gp->storyboard_path) return ts_storyboard_load(gp->storyboard_path, F, &r->sb);
    r->sb.n = 1;
    r->sb.seg = ts_calloc(1, sizeof(*r->sb.seg));
    r->sb.seg[0].first = 0, r->sb.seg[0].last = F - 1;
    snprintf(r->sb.seg[0].prompt, sizeof(r->sb.seg[0].prompt), "%s", gp->prompt);
    snprintf(r->sb.text, sizeof(r->sb.text), "%s", gp->prompt);
    return TS_OK;
}

// Settings every rank checks alike (no agreement needed for these).
static enum ts_status plan_settings(struct ts_run * r) {
    const struct ts_gen_params * gp = r->gp;
    struct ts_family_defaults df;
    r->fam->defaults(r->model, &df);
    r->fam->info(r->model, &r->info);
    r->steps = gp->steps > 0 ? gp->steps : df.steps;
    r->cfg = gp->cfg >= 0 ? gp->cfg : df.cfg;
    r->fps = gp->fps > 0 ? gp->fps : df.fps;
    r->shift = df.shift;
    if (!gp->storyboard_path &&
        (!gp->prompt || !gp->prompt[0] || strspn(gp->prompt, " \t\r\n") == strlen(gp->prompt)))
        return ts_error(TS_ERR_ARG, "give --prompt \"a red circle moving left on a blue background\"",
                        "the prompt is empty");
    if (gp->frames < 0)
        return ts_error(TS_ERR_ARG, "use --frames 1 or more", "--frames must be positive (got %lld)",
                        (long long)gp->frames);
    if (gp->blend < 0) return ts_error(TS_ERR_ARG, NULL, "--blend must not be negative");
    if (r->steps > 100000) return ts_error(TS_ERR_ARG, NULL, "--steps %d is too many", r->steps);
    if (r->ctx->halo != TS_HALO_AUTO && !r->fam->halo_modes)  // given explicitly (flag, preset or the API)
        return ts_error(TS_ERR_ARG, "leave out --halo (and a preset's 'halo = ...')",
                        "--halo %s: '%s' is a model of the %s family, whose ranks gather keys and values and "
                        "trade no halo of edge frames; --halo is for the default family",
                        ts_halo_name(r->ctx->halo), r->info.path, r->fam->name);
    if (!(r->fps > 0 && r->fps <= 1000)) return ts_error(TS_ERR_ARG, NULL, "--fps must be in (0, 1000]");
    TS_TRY(r->fam->shape(r->model, gp->frames, gp->width, gp->height, gp->window, &r->sh));
    r->interp = gp->fps_out > 0;
    r->tm = (struct ts_interp_timing){1, 1};
    if (r->interp) TS_TRY(ts_interp_timing_from_fps(r->fps, gp->fps_out, &r->tm));
    const ts_parallel * d = r->par;
    const int64_t T = r->sh.latent_frames, W = r->sh.min_frames_per_rank;
    if (d->world > 1 && T < W * d->world) {
        int best = ts_partition_max_ranks(T, (int)W, d->world);
        const char * unit = T != r->sh.frames ? (T == 1 ? "latent frame" : "latent frames") : T == 1 ? "frame" : "frames";
        if (W <= 1)  // a family without a temporal window (Wan2.1: one latent frame per rank at least)
            return ts_error(TS_ERR_ARG, "run with fewer ranks or more frames",
                            "%d ranks are too many for %lld %s: each rank must own at least one; use at most %d "
                            "ranks", d->world, (long long)T, unit, best < 1 ? 1 : best);
        return ts_error(TS_ERR_ARG, "run with fewer ranks or more frames",
                        "%d ranks are too many for %lld %s: each rank must own at least %lld %s "
                        "(the temporal window); use at most %d ranks",
                        d->world, (long long)T, unit, (long long)W, unit, best < 1 ? 1 : best);
    }
    // the encoder as rank 0 will open it, before any work (run_plan agrees the outcome on every rank)
    if (d->rank == 0 && gp->out_path && !ts_frames_path(gp->out_path))
        TS_TRY(ts_video_encoder_check(gp->out_path, r->sh.width, r->sh.height, r->interp ? gp->fps_out : r->fps,
                                      gp->codec, gp->crf));
    TS_TRY(plan_files(r));
    TS_TRY(plan_output_dirs(r));
    return TS_OK;
}

// Memory, planned before anything is allocated, for the largest share of frames
// and every prompt to encode (the storyboard's segments and the negative prompt).
static enum ts_status plan_memory(struct ts_run * r) {
    const ts_parallel * d = r->par;
    const int64_t T = r->sh.latent_frames;
    r->sh.prompts = r->sb.n + 1;
    int64_t Tmax = (T + d->world - 1) / d->world;
    if (r->fam->mem_bytes) {
        char what[96];
        snprintf(what, sizeof what, "generating %lld frames on %d rank(s)", (long long)r->sh.frames, d->world);
        r->mem_plan = r->fam->mem_bytes(r->model, &r->sh, Tmax);
        if (r->ctl_scale != 1.0f)  // control guidance's third prediction
            r->mem_plan += Tmax * r->sh.lat_h * r->sh.lat_w * r->sh.lat_c * (int64_t)sizeof(float);
        TS_TRY(ts_mem_check(r->mem_plan, r->ctx->local_ranks, what, "use fewer frames or more ranks (on more nodes)"));
    }
    // mapped weights live in the page cache, once per node: where they and every local
    // rank's plan do not fit together, the run still works but reads them from disk again
    // in every step (a warning, not an error: a fast disk may make that acceptable)
    int64_t avail = ts_mem_available();
    int64_t need = r->info.mapped_bytes + r->mem_plan * r->ctx->local_ranks;
    if (r->info.mapped_bytes > 0 && avail > 0 && need > avail && d->rank == 0)
        TS_WARN("the weights (%.1f GiB, mapped, shared by this node's ranks) and %d rank(s) x %.1f GiB need "
                "%.1f GiB; this node has %.1f GiB available: the weights will be read from disk again in every "
                "step (use more nodes for fewer ranks per node, or a machine with more memory)",
                r->info.mapped_bytes / 1073741824.0, r->ctx->local_ranks, r->mem_plan / 1073741824.0,
                need / 1073741824.0, avail / 1073741824.0);
    return TS_OK;
}

// The resolved settings, one compact table on rank 0.
static void plan_print(const struct ts_run * r) {
    const struct ts_gen_params * gp = r->gp;
    const ts_parallel * d = r->par;
    const int64_t T = r->sh.latent_frames;
    TS_INFO("timeshard %s", TS_VERSION);
    TS_INFO("  model     %s (%s, %.1fM parameters%s%s)", r->info.path, r->fam->name, r->info.n_params / 1e6,
            r->info.label[0] ? ", " : "", r->info.label);
    if (gp->storyboard_path) {
        TS_INFO("  storyboard %s (%d segments, blend %d frames)", gp->storyboard_path, r->sb.n, gp->blend);
        for (int i = 0; i < r->sb.n; i++)
            TS_INFO("    %lld-%lld: %s", (long long)r->sb.seg[i].first, (long long)r->sb.seg[i].last,
                    r->sb.seg[i].prompt);
    } else {
        TS_INFO("  prompt    \"%s\"", gp->prompt);
    }
    if (r->ctl.any) {
        char what[512];
        ts_control_plan_describe(&r->ctl, what, sizeof what);
        TS_INFO("  controls  %s", what);
        if (r->ctl_scale != 1.0f)
            TS_INFO("  guidance  controls x%g (a third forward per step: the prompt without them)", r->ctl_scale);
    }
    TS_INFO("  frames    %lld at %g fps, %dx%d pixels, latents %lldx%dx%dx%d", (long long)r->sh.frames, r->fps,
            r->sh.width, r->sh.height, (long long)T, r->sh.lat_h, r->sh.lat_w, r->sh.lat_c);
    if (r->interp)
        TS_INFO("  output    %lld frames at %g fps (motion-compensated interpolation)",
                (long long)ts_interp_out_count(r->sh.frames, r->tm), gp->fps_out);
    if (gp->noise_path)  // the seed is not used
        TS_INFO("  sampler   %s, %d steps, cfg %g, shift %g, noise from '%s'", r->sampler->ops->name, r->steps, r->cfg,
                r->sampler->shift, gp->noise_path);
    else
        TS_INFO("  sampler   %s, %d steps, cfg %g, shift %g, seed %llu", r->sampler->ops->name, r->steps, r->cfg,
                r->sampler->shift, (unsigned long long)gp->seed);
    if (r->mem_plan > 0)
        TS_INFO("  memory    %.1f MiB (%.2f GiB) per rank planned beyond the weights (work space, latents, "
                "conditioning, decoder)", r->mem_plan / 1048576.0, r->mem_plan / 1073741824.0);
    const char * halo = d->world > 1 && r->fam->halo_modes ? ts_halo_name(r->ctx->halo) : "-";
    const char * unit = T != r->sh.frames ? "latent frames" : "frames";
    if (!strcmp(r->be->ops->name, "cpu"))
        TS_INFO("  ranks     %d (%lld-%lld %s each), backend cpu, %d threads per rank, fp32, halo %s", d->world,
                (long long)(T / d->world), (long long)((T + d->world - 1) / d->world), unit, r->be->threads, halo);
    else
        TS_INFO("  ranks     %d (%lld-%lld %s each), backend %s, %s, halo %s over %s", d->world,
                (long long)(T / d->world), (long long)((T + d->world - 1) / d->world), unit, r->be->ops->name,
                ts_dtype_name(r->ctx->dtype), halo, d->world > 1 ? d->halo->ops->name : "-");
    if (gp->resume_path) TS_INFO("  resume    from '%s' at step %d of %d", gp->resume_path, r->k_start, r->steps);
}

// The motion controls: their syntax and ranges first (every error names its flag
// or storyboard line), then whether this model takes them at all.
static enum ts_status plan_controls(struct ts_run * r) {
    const struct ts_gen_params * gp = r->gp;
    const char * texts[TS_CONTROL_COUNT] = {gp->motion_path, gp->motion, gp->gravity, gp->bounce, gp->growth};
    struct ts_control_video v = {r->sh.frames, r->sh.width, r->sh.height, r->fps};
    TS_TRY(ts_control_plan_build(&r->ctl, texts, &r->sb, gp->storyboard_path, &v));
    r->ctl_scale = 1.0f;
    if (gp->control_scale > TS_CONTROL_SCALE_MAX || gp->control_scale != gp->control_scale)
        return ts_error(TS_ERR_ARG, NULL, "--control-scale: %g is outside [0, %g]", gp->control_scale,
                        TS_CONTROL_SCALE_MAX);
    if (!r->ctl.any && gp->control_scale >= 0)
        return ts_error(TS_ERR_ARG, "give a motion control (--path, --motion, --gravity, --bounce, --growth or a "
                        "storyboard's '| ...' settings), or leave out --control-scale",
                        "--control-scale needs a motion control to guide");
    if (!r->ctl.any) return TS_OK;
    const char * leave = "leave out --path, --motion, --gravity, --bounce and --growth (and a storyboard's '| ...' "
                         "settings); see docs/controls.md";
    if (!r->fam->controls)
        return ts_error(TS_ERR_ARG, leave, "'%s' is a model of the %s family, which takes no motion controls (yet)",
                        r->info.path, r->fam->name);
    if (!r->fam->controls(r->model))
        return ts_error(TS_ERR_ARG, leave, "this model was not trained with motion controls; '%s' has no control "
                        "weights (dit.ctl_*)", r->info.path);
    struct ts_family_defaults df;
    r->fam->defaults(r->model, &df);
    r->ctl_scale = gp->control_scale >= 0 ? gp->control_scale : df.control_scale;
    return TS_OK;
}

// The input files as the run reads them, on every rank before any work (and so
// with --dry-run): --image decoded where frame 0 is (kept for the conditioning),
// --noise's dataset and shape, --resume's header, settings and sampler state
// against this run's; the digests the latents' files record. Collective: each
// part is agreed before the next, as the checkpoint's read is collective.
static enum ts_status plan_inputs(struct ts_run * r) {
    const struct ts_gen_params * gp = r->gp;
    if (gp->image_path) {
        enum ts_status st = TS_OK;
        int translucent = 0;
        if (r->g0 == 0 && r->Tn > 0)
            st = ts_image_read(gp->image_path, &r->image, &r->image_w, &r->image_h, &translucent);
        if (translucent)  // read by rank 0 alone (frame 0 is its): said once
            TS_WARN(
                "--image '%s' has transparent pixels: its alpha channel is ignored and the colours stored under "
                "them are used (flatten it onto a background first to choose what shows there)",
                gp->image_path);
        if (st == TS_OK) st = ts_file_sha256(gp->image_path, r->image_digest);  // for the files' record
        TS_TRY(ts_parallel_agree(r->par, st));
    }
    if (gp->noise_path) {
        int64_t Tf = 0;
        int h = 0, w = 0, c = 0;
        TS_TRY(ts_noise_read(gp->noise_path, r->par->comm, &Tf, &h, &w, &c, 0, 0, NULL));  // collective, agreed
        if (Tf != r->sh.latent_frames || h != r->sh.lat_h || w != r->sh.lat_w || c != r->sh.lat_c)
            return ts_error(TS_ERR_ARG, "write /noise as (latent frames, h, w, channels), float32",
                            "--noise '%s' holds (%lld, %d, %d, %d); this run's latents are (%lld, %d, %d, %d)",
                            gp->noise_path, (long long)Tf, h, w, c, (long long)r->sh.latent_frames, r->sh.lat_h,
                            r->sh.lat_w, r->sh.lat_c);
        // the files record which noise (a resume compares it)
        TS_TRY(ts_parallel_agree(r->par, ts_file_sha256(gp->noise_path, r->noise_digest)));
    }
    if (gp->resume_path) TS_TRY(ts_run_resume_check(r));  // collective, agreed
    return TS_OK;
}

static enum ts_status run_plan(struct ts_run * r) {
    enum ts_status st = plan_settings(r);
    if (st == TS_OK) st = plan_story(r);  // every rank reads the file: one failing (a node without it) fails all
    if (st == TS_OK) st = plan_controls(r);
    if (st == TS_OK) st = plan_memory(r);
    st = ts_parallel_agree(r->par, st);
    if (st != TS_OK) return st;
    ts_partition(r->sh.latent_frames, r->par->world, r->par->rank, &r->g0, &r->Tn);
    r->cell = (int64_t)r->sh.lat_h * r->sh.lat_w * r->sh.lat_c;
    r->n_lat = r->Tn * r->cell;
    const struct ts_gen_params * gp = r->gp;
    st = r->fam->sampler_new(r->model, r->steps, gp->sampler, gp->shift, r->n_lat, &r->sampler);
    if (st != TS_OK) return st;  // alike on every rank
    TS_TRY(plan_inputs(r));
    if (r->par->rank == 0) plan_print(r);
    return TS_OK;
}

// ---- setup ---------------------------------------------------------------------------------

// The conditioning: the family's (its prompts encoded on every rank, or on one
// and broadcast: collective), the first frame where it is given.
static enum ts_status setup_cond(struct ts_run * r) {
    const struct ts_gen_params * gp = r->gp;
    ts_comm_t comm = r->par->world > 1 ? r->par->halo : NULL;
    struct ts_cond_request req = {&r->sb, gp->negative_prompt, gp->blend, NULL, 0, 0, comm, r->par->rank, NULL};
    static const uint8_t none = 0;
    if (gp->image_path) {  // read by the plan where frame 0 is; ranks without it only allocate the mask
        req.image = r->image ? r->image : &none;
        req.image_w = r->image_w, req.image_h = r->image_h;
    }
    // the control vectors of the owned frames, by their global index (the default family's latent
    // frames are its video frames; only families that say they take controls get them)
    float * ctl = NULL;
    if (r->ctl.any) {
        ctl = ts_calloc((size_t)(r->Tn > 0 ? r->Tn : 1) * TS_CONTROL_DIM, sizeof(float));
        ts_control_plan_frames(&r->ctl, r->g0, r->Tn, ctl);
        req.controls = ctl;
    }
    enum ts_status st = r->fam->cond_new(r->model, &req, &r->sh, r->g0, r->Tn, &r->cond);
    free(r->image);  // encoded: no longer needed
    r->image = NULL;
    free(ctl);
    return st;
}

// Latents: the noise of the owned frames from their global index, or a checkpoint's.
static enum ts_status setup_latents(struct ts_run * r) {
    const struct ts_backend_ops * op = r->be->ops;
    size_t bytes = (size_t)(r->n_lat > 0 ? r->n_lat : 1) * sizeof(float);
    r->x = op->alloc(r->be, bytes);
    r->vc = op->alloc(r->be, bytes);
    r->vu = op->alloc(r->be, bytes);
    if (r->ctl_scale != 1.0f) r->vn = op->alloc(r->be, bytes);
    r->host = ts_malloc(bytes);
    // the files were checked with the plan (plan_inputs): their frames are read here
    if (r->gp->noise_path) {
        int64_t Tf = 0;
        int h = 0, w = 0, c = 0;
        TS_TRY(ts_noise_read(r->gp->noise_path, r->par->comm, &Tf, &h, &w, &c, r->g0, r->Tn, r->host));
    }
    if (r->gp->resume_path) {  // its latents replace any --noise
        TS_TRY(ts_run_resume_read(r));
    } else if (!r->gp->noise_path) {
        ts_rng_normal_fill(r->host, r->n_lat, r->gp->seed, 0, (uint64_t)(r->g0 * r->cell));
    }
    if (r->gp->resume_path || r->gp->noise_path)  // read from a file: all finite
        for (int64_t i = 0; i < r->n_lat; i++)
            if (!isfinite(r->host[i])) {
                const long long f = (long long)(r->g0 + i / r->cell);
                if (r->gp->resume_path)
                    return ts_error(TS_ERR_FORMAT, "the checkpoint is damaged; start again without --resume",
                                    "checkpoint '%s' holds a value that is not a finite number (latent frame %lld)",
                                    r->gp->resume_path, f);
                return ts_error(TS_ERR_FORMAT, "write finite float32 values to /noise (e.g. standard normal draws)",
                                "--noise '%s' holds a value that is not a finite number (latent frame %lld)",
                                r->gp->noise_path, f);
            }
    op->upload(r->be, r->x, r->host, (size_t)r->n_lat * sizeof(float));
    return TS_OK;
}

static enum ts_status run_setup(struct ts_run * r) {
    const struct ts_hooks * hk = ts_hooks_get();
    // the outputs' directories were checked with the plan; the video's file is made when
    // it begins (outputs.c). The conditioning may be collective: every rank enters it.
    enum ts_status st = setup_cond(r);
    if (st == TS_OK) st = setup_latents(r);
    if (st == TS_OK) {
        struct ts_denoise_opts opts = {r->ctx->halo};
        r->dn = r->fam->denoiser_new(r->model, &r->sh, r->g0, r->Tn, &opts);
    }
    if (st == TS_OK) st = ts_hooks_fault(hk, r->par->rank, -1, 1);
    if (st == TS_OK) st = ts_hooks_fault(hk, r->par->rank, -1, 0);
    return ts_parallel_agree(r->par, st);
}

// ---- sample --------------------------------------------------------------------------------

// One sampler step k on every rank: the (guided pair of) forwards, the update.
// Control guidance (docs/controls.md): the prompt's prediction vc is pushed away
// from the same without the controls, vc + (s - 1)(vc - vn), before the
// classifier-free guidance of the sampler's step.
static enum ts_status sample_step(struct ts_run * r, int k) {
    ts_comm_t halo = r->par->world > 1 ? r->par->halo : NULL;
    ts_sampler * s = r->sampler;
    float t = s->ops->model_time(s, k);
    TS_TRY(r->fam->denoise(r->dn, r->model, r->vc, r->x, t, r->cond, TS_PASS_PROMPT, halo));
    if (r->vn) {
        TS_TRY(r->fam->denoise(r->dn, r->model, r->vn, r->x, t, r->cond, TS_PASS_NO_CONTROLS, halo));
        r->be->ops->axpby(r->be, r->vc, 1.0f - r->ctl_scale, r->vn, r->ctl_scale, r->n_lat);
    }
    if (s->ops->guided(s, r->cfg))
        TS_TRY(r->fam->denoise(r->dn, r->model, r->vu, r->x, t, r->cond, TS_PASS_UNCOND, halo));
    TS_TRY(ts_hooks_fault(ts_hooks_get(), r->par->rank, k, 0));
    s->ops->step(s, r->be, r->x, r->vc, r->vu, r->cfg, r->n_lat, k);
    return TS_OK;
}

// After step k: a checkpoint when one is due or SIGTERM asked for it; the
// SIGTERM stop. Every rank takes the same branch (term is agreed).
static enum ts_status sample_after(struct ts_run * r, int k, int term) {
    const struct ts_gen_params * gp = r->gp;
    int due = gp->checkpoint_every > 0 && (k + 1) % gp->checkpoint_every == 0 && k + 1 < r->steps;
    if (gp->checkpoint_path && (term || due)) {
        enum ts_status st = ts_run_latents_write(r, gp->checkpoint_path, k + 1);
        TS_TRY(ts_parallel_agree(r->par, st));
        if (r->par->rank == 0) TS_INFO("checkpoint at step %d: %s", k + 1, gp->checkpoint_path);
    }
    if (term)
        return ts_error(TS_ERR_INTERRUPTED,
                        gp->checkpoint_path ? "continue with --resume <checkpoint>" : "pass --checkpoint FILE to keep progress",
                        "stopped by SIGTERM after step %d of %d%s", k + 1, r->steps,
                        gp->checkpoint_path ? " (checkpoint written)" : "");
    return TS_OK;
}

static enum ts_status run_sample(struct ts_run * r) {
    const struct ts_hooks * hk = ts_hooks_get();
    const struct ts_gen_params * gp = r->gp;
    ts_parallel * d = r->par;
    enum ts_status st = TS_OK;
    double t0 = ts_time();
    if (r->ctx->signals) ts_term_phase(TS_TERM_SAMPLING);
    for (int k = r->k_start; k < r->steps; k++) {
        ts_hooks_fault(hk, d->rank, k, 1);
        st = sample_step(r, k);
        if (hk->step_delay_ms > 0) ts_hooks_step_delay(hk->step_delay_ms);
        if (d->rank == 0 && gp->progress && st == TS_OK) {
            struct ts_progress p = {"sampling", k + 1 - r->k_start, r->steps - r->k_start, ts_time() - t0};
            gp->progress(&p, gp->progress_ud);
        }
        // every rank learns at once whether any rank failed (all stop at this step;
        // ts_parallel_agree below says which) or got SIGTERM (checkpoint, then stop)
        int flags[2] = {ts_term_requested(), st != TS_OK};
        if (d->world > 1) ts_mpi_check(MPI_Allreduce(MPI_IN_PLACE, flags, 2, MPI_INT, MPI_MAX, d->comm));
        if (flags[1]) break;  // a rank failed (this one or another): ts_parallel_agree says which
        st = sample_after(r, k, flags[0]);
        if (st != TS_OK) break;
    }
    r->t_sample = ts_time() - t0;
    // a SIGTERM from here on (or too late for the last step's check) lets the outputs finish
    if (r->ctx->signals) ts_term_phase(TS_TERM_FINISH);
    r->halo_wait = r->fam->denoiser_wait(r->dn);
    return ts_parallel_agree(d, st);
}

// ---- outputs, report, free -----------------------------------------------------------------

static enum ts_status run_outputs(struct ts_run * r) {
    const char * lat = r->gp->latents_path;
    if (lat) TS_TRY(ts_run_latents_write(r, lat, -1));  // collective: every rank returns the same
    TS_TRY(ts_run_video(r));
    if (lat && r->par->rank == 0) TS_INFO("wrote %s", lat);
    return TS_OK;
}

// With TIMESHARD_REPORT: the peak RSS so far (bytes), then the peak reset so
// that the next phase's is its own; 0 without the report.
static int64_t run_phase_peak(void) {
    if (!ts_hooks_get()->report) return 0;
    int64_t p = ts_peak_rss();
    ts_peak_rss_reset();
    return p;
}

static void run_report(const struct ts_run * r) {
    if (!ts_hooks_get()->report) return;
    int64_t peak = r->rss_load;
    const int64_t ph[] = {r->rss_setup, r->rss_sample, r->rss_out};
    for (int i = 0; i < 3; i++) peak = ph[i] > peak ? ph[i] : peak;
    fprintf(stderr, "timeshard: report: rank %d peak_rss_kb %lld sampling_s %.3f halo_wait_s %.3f halo_share %.1f%% "
            "load_peak_rss_kb %lld setup_s %.3f setup_peak_rss_kb %lld sampling_peak_rss_kb %lld output_s %.3f "
            "output_peak_rss_kb %lld\n",
            r->par->rank, (long long)(peak / 1024), r->t_sample, r->halo_wait,
            r->t_sample > 0 ? 100.0 * r->halo_wait / r->t_sample : 0.0, (long long)(r->rss_load / 1024), r->t_setup,
            (long long)(r->rss_setup / 1024), (long long)(r->rss_sample / 1024), r->t_out,
            (long long)(r->rss_out / 1024));
}

static void run_free(struct ts_run * r) {
    const struct ts_backend_ops * op = r->be->ops;
    if (r->dn) r->fam->denoiser_free(r->model, r->dn);
    ts_sampler_free(&r->sampler);
    if (r->cond) r->fam->cond_free(r->model, r->cond);
    if (r->x) op->release(r->be, r->x);
    if (r->vc) op->release(r->be, r->vc);
    if (r->vu) op->release(r->be, r->vu);
    if (r->vn) op->release(r->be, r->vn);
    free(r->host);
    free(r->image);
    ts_control_plan_free(&r->ctl);
    ts_storyboard_free(&r->sb);
    memset(r, 0, sizeof(*r));
}

enum ts_status ts_generate(ts_ctx_t ctx, const struct ts_gen_params * gp) {
    ts_error_clear();
    struct ts_run r;
    memset(&r, 0, sizeof(r));
    r = (struct ts_run){.ctx = ctx, .gp = gp, .ctl_scale = 1.0f, .fam = ctx->family, .model = ctx->model, .be = ctx->be,
                        .par = &ctx->par, .t0 = ts_time()};
    if (ctx->signals) ts_term_clear();  // the handler is the context's: this run has had no SIGTERM yet
    r.rss_load = run_phase_peak();  // loading the model (the context) and whatever came before
    enum ts_status st = run_plan(&r);
    if (st == TS_OK && gp->dry_run) {  // the plan is printed: nothing more
        run_free(&r);
        return TS_OK;
    }
    double t = ts_time();
    if (st == TS_OK && ts_hooks_get()->setup_delay_ms > 0) ts_hooks_step_delay(ts_hooks_get()->setup_delay_ms);
    if (st == TS_OK) st = run_setup(&r);
    r.t_setup = ts_time() - t;
    r.rss_setup = run_phase_peak();
    if (st == TS_OK) st = run_sample(&r);
    r.rss_sample = run_phase_peak();
    t = ts_time();
    if (st == TS_OK && ts_hooks_get()->output_delay_ms > 0) ts_hooks_step_delay(ts_hooks_get()->output_delay_ms);
    if (st == TS_OK) st = run_outputs(&r);
    r.t_out = ts_time() - t;
    r.rss_out = run_phase_peak();
    if (st == TS_OK) run_report(&r);
    if (ctx->signals && st == TS_OK && ts_term_requested() && r.par->rank == 0)
        TS_WARN("SIGTERM came after the last sampler step: the outputs were finished first");
    run_free(&r);
    return st;
}
