// One generation on one rank: every setting resolved, every allocation owned
// (freed once by ts_run_free). The phases of generate.c fill it in order;
// outputs.c writes what it holds (latents, checkpoints, the video).
#pragma once
#include <stdint.h>

#include "interp/interp.h"  // struct ts_interp_timing
#include "model/controls.h"  // struct ts_control_plan
#include "model/prompt.h"   // struct ts_storyboard
#include "pipeline/context.h"

struct ts_run {
    ts_ctx_t ctx;                     // not owned
    const struct ts_gen_params * gp;  // not owned
    const struct ts_family * fam;     // the model's family
    void * model;                     // not owned (the context's)
    ts_backend_t be;                  // not owned
    ts_parallel * par;                // not owned

    // the plan: the same on every rank
    struct ts_family_info info;
    struct ts_shape sh;
    int steps;
    float cfg, shift;
    double fps;
    int64_t mem_plan;                 // bytes per rank beyond the weights (the family's plan; 0: none)
    int interp;                       // --fps-out: motion-compensated interpolation
    struct ts_interp_timing tm;
    struct ts_storyboard sb;          // owned (a single prompt is one segment)
    struct ts_control_plan ctl;       // owned: the motion controls (ctl.any 0: none given)
    float ctl_scale;                  // their guidance (1: none, no third forward)
    char image_digest[65];            // SHA-256 of --image ("" when none): recorded in the latents' files
    char noise_digest[65];            // SHA-256 of the --noise file ("" when none): recorded likewise
    uint8_t * image;                  // owned: --image's RGB (image_h, image_w, 3), read by the plan on the
    int image_w, image_h;             //   rank owning frame 0; NULL elsewhere or without --image
    int64_t g0, Tn;                   // this rank's latent frames [g0, g0 + Tn)
    int64_t cell;                     // floats per latent frame (h * w * c)
    int64_t n_lat;                    // Tn * cell

    // conditioning and latents
    void * cond;                      // owned (family->cond_free)
    float * x, * vc, * vu;            // owned, backend memory (n_lat): latents, two velocities
    float * vn;                       // owned, backend (n_lat): the prompt's velocity without the controls, or NULL
    float * host;                     // owned, host (n_lat): staging for files
    int k_start;                      // first sampler step (resume: the checkpoint's)

    // sampling
    ts_sampler * sampler;             // owned: the family's (schedule, update)
    void * dn;                        // owned (family->denoiser_free)
    double t_sample, halo_wait;       // seconds
    double t0;                        // when the run started

    // TIMESHARD_REPORT: each phase's time and peak RSS (bytes; the peak is reset between phases)
    double t_setup, t_out;
    int64_t rss_load, rss_setup, rss_sample, rss_out;
};

// outputs.c: latents and checkpoints (collective), the resume, the video.
// The resume in two parts: the checkpoint checked against the run (the plan;
// sets k_start), then its frames and sampler state read (setup).
enum ts_status ts_run_resume_check(struct ts_run * r);
enum ts_status ts_run_resume_read(struct ts_run * r);
enum ts_status ts_run_latents_write(struct ts_run * r, const char * path, int64_t step);
enum ts_status ts_run_video(struct ts_run * r);
// sampler_state.c: a checkpoint with the sampler's state when it keeps one (/sampler:
// its name, settings, scalars, schedule and latent-shaped arrays); resumed from one,
// on any rank count. The latents are in r->host. A resume whose sampler, settings or
// schedule differ from the checkpoint's, or a multistep sampler resumed from a
// checkpoint without /sampler, is one clear error. restore 0: those checks alone.
struct ts_latents_meta;
enum ts_status ts_run_checkpoint_write(struct ts_run * r, const char * path, const struct ts_latents_meta * meta);
enum ts_status ts_run_sampler_resume(struct ts_run * r, const char * path, int64_t step, int restore);
