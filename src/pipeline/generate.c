// The generation pipeline on every rank: settings, noise for the owned frames,
// guided Euler sampling with halo exchange, latents to HDF5, per-rank VAE
// decode streamed in order to rank 0, which encodes the MP4.
#define _GNU_SOURCE  // sched_getaffinity, CPU_COUNT
#include <errno.h>
#include <sched.h>  // sched_getaffinity: cores this rank may use
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>  // nanosleep
#include <unistd.h>

#include "core/common.h"
#include "core/rng.h"
#include "parallel/parallel.h"
#include "io/latents.h"
#include "io/frames.h"
#include "io/video.h"
#include "interp/interp.h"
#include "model/model.h"
#include "model/prompt.h"
#include "sample/sampler.h"
#ifdef TS_CUDA
#include "backend/cuda/cuda_backend.h"  // ts_backend_cuda_new, ts_cuda_device_count, dtypes
#include "backend/cuda/cuda_device.h"   // ts_cuda_pick_device
#endif

struct ts_ctx {
    ts_parallel par;
    char dtype[8];    // compute type of the GEMMs
    enum ts_halo_mode halo_mode;
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

// CPU threads for this rank: the cores it may run on; when that is the whole
// machine (no binding), shared evenly by the ranks on this node.
static int default_threads(ts_parallel * d) {
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN), mine = cores;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) mine = CPU_COUNT(&set);
    if (mine < cores) return mine > 0 ? mine : 1;
    MPI_Comm node;
    int local = 1;
    if (MPI_Comm_split_type(d->comm, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_size(node, &local);
        MPI_Comm_free(&node);
    }
    int t = cores / (local > 0 ? local : 1);
    return t > 0 ? t : 1;
}

// The backend: --backend cpu|cuda, or cuda where this build has it and a GPU
// is present. With CUDA and several ranks the halo goes over NCCL.
static enum ts_status backend_new(ts_ctx_t ctx, const struct ts_ctx_params * p) {
    ts_parallel * d = &ctx->par;
    const char * want = p->backend;
    const char * dtype = p->dtype ? p->dtype : "fp32";
#ifdef TS_CUDA
    if (!want) {
        char why[256];
        int n = ts_cuda_device_count(why, sizeof(why));
        int all = n > 0;  // every rank must choose the same
        MPI_Allreduce(MPI_IN_PLACE, &all, 1, MPI_INT, MPI_MIN, d->comm);
        want = all ? "cuda" : "cpu";
    }
    if (!strcmp(want, "cuda")) {
        int dev = 0;
        TS_TRY(ts_cuda_pick_device(d->comm, &dev));
        ctx->be = ts_backend_cuda_new(dev);
        if (!ctx->be) return ts_error(TS_ERR_ARG, "see 'timeshard devices'", "%s", ts_last_error());
        int dt = ts_cuda_dtype_from_str(dtype);
        if (dt < 0) return ts_error(TS_ERR_ARG, "choose fp32, tf32, bf16 or fp16", "unknown --dtype '%s'", dtype);
        ts_backend_cuda_set_dtype(ctx->be, (enum ts_cuda_dtype)dt);
        snprintf(ctx->dtype, sizeof(ctx->dtype), "%s", dtype);
        return TS_OK;
    }
#else
    if (!want) want = "cpu";
#endif
    if (strcmp(want, "cpu") != 0)
        return ts_error(TS_ERR_ARG, "use --backend cpu; 'timeshard devices' lists what this build has",
                        "backend '%s' is not available in this build", want);
    if (strcmp(dtype, "fp32") != 0)
        return ts_error(TS_ERR_ARG, "the CPU backend computes in fp32", "--dtype %s needs --backend cuda", dtype);
    ctx->be = ts_backend_cpu_new(p->threads > 0 ? p->threads : default_threads(d));
    snprintf(ctx->dtype, sizeof(ctx->dtype), "fp32");
    return TS_OK;
}

enum ts_status ts_ctx_new(const char * model_path, const struct ts_ctx_params * p, ts_ctx_t * out) {
    struct ts_ctx_params defaults;
    if (!p) {
        ts_ctx_params_init(&defaults);
        p = &defaults;
    }
    *out = NULL;
    ts_ctx_t ctx = ts_calloc(1, sizeof(*ctx));
    enum ts_status st = ts_parallel_init(&ctx->par, NULL, NULL);
    if (st != TS_OK) {
        free(ctx);
        return st;
    }
    st = backend_new(ctx, p);
    if (st == TS_OK) st = ts_parallel_halo_open(&ctx->par, ctx->be);
    if (st == TS_OK && p->signals) ts_abort_signals_install();
    if (st == TS_OK) {
        ctx->halo_mode = ts_halo_mode_default(ctx->be);
        if (p->halo && !strcmp(p->halo, "act"))
            ctx->halo_mode = TS_HALO_ACT;
        else if (p->halo && !strcmp(p->halo, "qkv"))
            ctx->halo_mode = TS_HALO_QKV;
        else if (p->halo)
            st = ts_error(TS_ERR_ARG, "choose qkv or act", "unknown --halo '%s'", p->halo);
    }
    if (st == TS_OK) {
        if (!model_path) model_path = ts_default_model_path();
        if (!model_path)
            st = ts_error(TS_ERR_IO, "pass --model PATH or set TIMESHARD_MODEL",
                          "the default model (models/default.h5) was not found");
        else
            st = ts_model_load(&ctx->model, model_path, ctx->be);
    }
    st = ts_parallel_agree(&ctx->par, st);
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
    ts_parallel_free(&c->par);
    free(c);
    *cp = NULL;
}

int ts_ctx_rank(ts_ctx_t ctx) { return ctx->par.rank; }
int ts_ctx_world(ts_ctx_t ctx) { return ctx->par.world; }
const ts_model * ts_ctx_model(ts_ctx_t ctx) { return ctx->model; }

// ---- test and benchmark hooks: environment variables, read once per process ---------
// TIMESHARD_FAULT="rank=R,step=K,kind=crash|error|exit" injects a failure on rank R
// at sampler step K (0-based: the step that takes the latents from K to K+1;
// K = -1: during set-up, before sampling, as a bad input file on one node would):
//   crash  raise(SIGSEGV) as the step starts, while the other ranks wait for its
//          halo: the fatal-signal handler runs the cleanup and MPI_Aborts the job.
//   error  a user-level error (TS_ERR_IO "injected fault") once the step's forward
//          passes are done; the other ranks learn it from the step's Allreduce and
//          stop at the same step, and ts_parallel_agree names the failed rank.
//   exit   _exit(7) as the step starts: a process killed without a word; the
//          launcher (mpirun, srun) then ends the job.
//   (No "hang": nothing inside the job can bound it; the job's time limit does.)
// TIMESHARD_STEP_DELAY_MS=N adds N ms of sleep to each sampler step (a signal does
//   not cut it short), so that a test can signal a run of the tiny model in
//   mid-sampling.
// TIMESHARD_REPORT=1: at the end of a successful run every rank prints one line
//   "timeshard: report: rank R peak_rss_kb N sampling_s S halo_wait_s H halo_share P%"
//   (for launch/bench_memory.sh and scaling studies).
enum ts_fault_kind { TS_FAULT_NONE, TS_FAULT_CRASH, TS_FAULT_ERROR, TS_FAULT_EXIT, TS_FAULT_COUNT };

struct ts_hooks {
    enum ts_fault_kind fault_kind;
    int fault_rank;
    int64_t fault_step;  // -1: set-up
    int step_delay_ms;
    int report;
};

// Parses TIMESHARD_FAULT into h; a malformed value is ignored with a warning.
static void hooks_parse_fault(struct ts_hooks * h, const char * v) {
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", v);
    int rank = -1, have_step = 0;
    long long step = 0;
    enum ts_fault_kind kind = TS_FAULT_NONE;
    const char * bad = NULL;
    char * save = NULL;
    for (char * kv = strtok_r(buf, ",", &save); kv && !bad; kv = strtok_r(NULL, ",", &save)) {
        char * eq = strchr(kv, '=');
        char * end = NULL;
        if (!eq) {
            bad = kv;
            break;
        }
        *eq = '\0';
        const char * val = eq + 1;
        if (!strcmp(kv, "rank")) {
            rank = (int)strtol(val, &end, 10);
            if (!val[0] || *end || rank < 0) bad = "rank";
        } else if (!strcmp(kv, "step")) {
            step = strtoll(val, &end, 10);
            have_step = 1;
            if (!val[0] || *end || step < -1) bad = "step";
        } else if (!strcmp(kv, "kind")) {
            kind = !strcmp(val, "crash")   ? TS_FAULT_CRASH
                   : !strcmp(val, "error") ? TS_FAULT_ERROR
                   : !strcmp(val, "exit")  ? TS_FAULT_EXIT
                                           : TS_FAULT_NONE;
            if (kind == TS_FAULT_NONE) bad = "kind";
        } else {
            bad = kv;
        }
    }
    if (!bad && (rank < 0 || !have_step || kind == TS_FAULT_NONE)) bad = "a missing key";
    if (bad) {
        TS_WARN("TIMESHARD_FAULT='%s' ignored (at '%s'); the form is rank=R,step=K,kind=crash|error|exit", v, bad);
        return;
    }
    h->fault_kind = kind;
    h->fault_rank = rank;
    h->fault_step = step;
}

static const struct ts_hooks * hooks_get(void) {
    static struct ts_hooks h;
    static int read;
    if (read) return &h;
    read = 1;
    const char * v = getenv("TIMESHARD_FAULT");
    if (v && *v) hooks_parse_fault(&h, v);
    v = getenv("TIMESHARD_STEP_DELAY_MS");
    if (v && *v) h.step_delay_ms = atoi(v) > 0 ? atoi(v) : 0;
    v = getenv("TIMESHARD_REPORT");
    h.report = v && *v && strcmp(v, "0") != 0;
    return &h;
}

// Fires the injected fault if it is due on this rank at step k: crash and exit
// where at_start is 1 (a step's start), error where it is 0 (after the forward
// passes). Returns the error's status, else TS_OK.
static enum ts_status hooks_fault(const struct ts_hooks * h, int rank, int64_t k, int at_start) {
    if (h->fault_kind == TS_FAULT_NONE || h->fault_rank != rank || h->fault_step != k) return TS_OK;
    if (at_start && h->fault_kind == TS_FAULT_CRASH) {
        fprintf(stderr, "timeshard: test hook: rank %d crashes at step %lld (TIMESHARD_FAULT)\n", rank, (long long)k);
        raise(SIGSEGV);
    }
    if (at_start && h->fault_kind == TS_FAULT_EXIT) {
        fprintf(stderr, "timeshard: test hook: rank %d exits at step %lld (TIMESHARD_FAULT)\n", rank, (long long)k);
        _exit(7);
    }
    if (!at_start && h->fault_kind == TS_FAULT_ERROR)
        return ts_error(TS_ERR_IO, "this is a test hook: unset TIMESHARD_FAULT", "injected fault at step %lld",
                        (long long)k);
    return TS_OK;
}

// Sleeps ms milliseconds, resuming after signals (a slow step is not cut short).
static void hooks_step_delay(int ms) {
    struct timespec left = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
}

// ---- SIGTERM and the temporary video -------------------------------------------------
// While sampling, SIGTERM means: finish the step, checkpoint, exit non-zero (every
// rank learns of it from the step's Allreduce). Before and after sampling it ends
// the process as it would without a handler. Either way the run makes no video, so
// the handler deletes rank 0's temporary video at once: when Open MPI's mpirun
// ends a job because a rank failed, it sends the others SIGCONT, SIGTERM and
// SIGKILL, odls_base_sigkill_timeout (1 s) apart, and a rank blocked in the halo
// exchange would otherwise leave the file behind. The same cleanup is registered with
// ts_parallel_on_abort for this rank's own fatal signals and aborts. Handler and
// cleanup keep to async-signal-safe calls (unlink, signal, raise).
static volatile sig_atomic_t ts_term_requested = 0;
static volatile sig_atomic_t ts_term_sampling = 0;  // 1: the sampling loop polls ts_term_requested
static volatile sig_atomic_t ts_tmp_video_set = 0;  // ts_tmp_video names a file to delete
static char ts_tmp_video[PATH_MAX];                 // rank 0's temporary video

static void tmp_video_unlink(void * ud) {
    (void)ud;
    if (ts_tmp_video_set) unlink(ts_tmp_video);
}

static void on_term(int sig) {
    int saved = errno;
    ts_term_requested = 1;
    tmp_video_unlink(NULL);
    if (!ts_term_sampling) {
        signal(sig, SIG_DFL);
        raise(sig);  // delivered when the handler returns
    }
    errno = saved;
}

// The directory of `path` exists and this process may create files in it.
static enum ts_status output_dir_check(const char * path) {
    char dir[PATH_MAX];
    const char * slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (access(dir, W_OK | X_OK) != 0)
        return ts_error(TS_ERR_IO, "check that the output directory exists and is writable",
                        "cannot write '%s': directory '%s': %s", path, dir, strerror(errno));
    return TS_OK;
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
    int64_t g0;         // global index of local frame 0
};

static enum ts_status produce_frame(void * ud, int64_t i, uint8_t * buf) {
    struct decode_ud * d = ud;
    const struct ts_model_config * c = &d->m->cfg;
    int64_t cell = (int64_t)ts_cfg_latent_hw(c) * ts_cfg_latent_hw(c) * c->latent_channels;
    ts_vae_decode_u8(d->vws, d->m, buf, d->lat + i * cell);
    return TS_OK;
}

// keyframes for the interpolator: decoded on demand from this rank's latents
static enum ts_status interp_key(void * ud, int64_t g, uint8_t * rgb, int * got) {
    struct decode_ud * d = ud;
    *got = 1;
    return produce_frame(d, g - d->g0, rgb);
}

struct interp_ud {
    struct decode_ud * du;
    int64_t g0;
    ts_interp_stream * stream;  // owned
};

static enum ts_status produce_interp(void * ud, int64_t i, uint8_t * buf) {
    struct interp_ud * u = ud;
    int got = 0;
    TS_TRY(ts_interp_stream_next(u->stream, buf, NULL, &got));
    TS_ASSERT(got);  // the stream makes exactly ts_interp_out_range's frames
    return TS_OK;
}

struct encode_ud {
    ts_video_writer * vw;
    ts_frames_writer * fw;  // --out FILE.h5: decoded frames in HDF5 instead of a video
    int64_t total;
    struct progress pr;
};

static enum ts_status consume_frame(void * ud, int64_t g, const uint8_t * buf) {
    struct encode_ud * e = ud;
    if (e->vw) TS_TRY(ts_video_writer_add(e->vw, buf));
    if (e->fw) TS_TRY(ts_frames_writer_add(e->fw, buf));
    return TS_OK;
}

static void fill_meta(struct ts_latents_meta * meta, const struct ts_gen_params * gp, const char * prompt_text,
                      const ts_model * m, int steps, float cfg, double fps, int64_t step) {
    memset(meta, 0, sizeof(*meta));
    snprintf(meta->prompt, sizeof(meta->prompt), "%.*s", (int)sizeof(meta->prompt) - 1, prompt_text);
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
static enum ts_status resume_read(ts_parallel * d, const struct ts_gen_params * gp, const char * prompt_text,
                                  const ts_model * m, int steps,
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
    char want[sizeof(meta.prompt)];
    snprintf(want, sizeof(want), "%.*s", (int)sizeof(want) - 1, prompt_text);  // as stored (may be truncated)
    if (strcmp(meta.prompt, want) != 0 || meta.seed != gp->seed || meta.steps != steps ||
        (float)meta.cfg != cfg || strcmp(meta.model_digest, m->digest) != 0)
        return ts_error(TS_ERR_ARG, hint, "checkpoint '%s' was made with other settings or another model",
                        gp->resume_path);
    TS_TRY(ts_latents_read(gp->resume_path, d->comm, &Tf, &h, &w, &ch, g0, Tn, host, &meta));
    *step = (int)meta.step;
    return TS_OK;
}

// ---- generate ----------------------------------------------------------------------
enum ts_status ts_generate(ts_ctx_t ctx, const struct ts_gen_params * gp) {
    ts_parallel * d = &ctx->par;
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
    if (!gp->storyboard_path &&
        (!gp->prompt || !gp->prompt[0] || strspn(gp->prompt, " \t\r\n") == strlen(gp->prompt)))
        return ts_error(TS_ERR_ARG, "give --prompt \"a red circle moving left on a blue background\"",
                        "the prompt is empty");
    if (T <= 0) return ts_error(TS_ERR_ARG, "use --frames 1 or more", "--frames must be positive (got %lld)", (long long)T);
    if (gp->blend < 0) return ts_error(TS_ERR_ARG, NULL, "--blend must not be negative");
    struct ts_interp_timing tm = {1, 1};
    const int interp = gp->fps_out > 0;
    if (interp) TS_TRY(ts_interp_timing_from_fps(fps, gp->fps_out, &tm));
    // a storyboard: every rank reads it; one failing (a file missing on one node) fails all
    struct ts_storyboard sb;
    memset(&sb, 0, sizeof(sb));
    if (gp->storyboard_path) {
        st = ts_storyboard_load(gp->storyboard_path, T, &sb);
        st = ts_parallel_agree(d, st);
        if (st != TS_OK) return st;
    } else {
        sb.n = 1;
        sb.seg = ts_calloc(1, sizeof(*sb.seg));
        sb.seg[0].first = 0, sb.seg[0].last = T - 1;
        snprintf(sb.seg[0].prompt, sizeof(sb.seg[0].prompt), "%s", gp->prompt);
        snprintf(sb.text, sizeof(sb.text), "%s", gp->prompt);
    }
    const char * prompt_text = sb.text;  // what the latents' metadata records
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
        if (gp->storyboard_path) {
            TS_INFO("  storyboard %s (%d segments, blend %d frames)", gp->storyboard_path, sb.n, gp->blend);
            for (int i = 0; i < sb.n; i++)
                TS_INFO("    %lld-%lld: %s", (long long)sb.seg[i].first, (long long)sb.seg[i].last, sb.seg[i].prompt);
        } else {
            TS_INFO("  prompt    \"%s\"", gp->prompt);
        }
        TS_INFO("  frames    %lld at %g fps, %dx%d pixels, latents %dx%dx%d", (long long)T, fps, c->image_size,
                c->image_size, hw, hw, C);
        if (interp)
            TS_INFO("  output    %lld frames at %g fps (motion-compensated interpolation)",
                    (long long)ts_interp_out_count(T, tm), gp->fps_out);
        TS_INFO("  sampler   %d steps, cfg %g, shift %g, seed %llu", steps, cfg, c->shift,
                (unsigned long long)gp->seed);
        const char * hm = ctx->halo_mode == TS_HALO_QKV ? "qkv" : "act";
        if (!strcmp(be->ops->name, "cpu"))
            TS_INFO("  ranks     %d (%lld-%lld frames each), backend cpu, %d threads per rank, fp32, halo %s",
                    d->world, (long long)(T / d->world), (long long)((T + d->world - 1) / d->world), be->threads,
                    d->world > 1 ? hm : "-");
        else
            TS_INFO("  ranks     %d (%lld-%lld frames each), backend %s, %s, halo %s over %s", d->world,
                    (long long)(T / d->world), (long long)((T + d->world - 1) / d->world), be->ops->name, ctx->dtype,
                    d->world > 1 ? hm : "-", d->world > 1 ? d->halo->ops->name : "-");
    }

    // -- from here SIGTERM deletes the temporary video (on_term), as does an abort
    const struct ts_hooks * hk = hooks_get();
    ts_term_requested = 0;
    ts_term_sampling = 0;
    void (*old_term)(int) = signal(SIGTERM, on_term);
    int cleanup_registered = 0;

    // -- the output's directory checked now, so a bad path fails before the model works;
    //    the file itself is made once every rank has finished its set-up (below)
    ts_video_writer * vw = NULL;
    ts_frames_writer * fw = NULL;
    if (st == TS_OK && d->rank == 0 && gp->out_path) st = output_dir_check(gp->out_path);
    // -- prompt encodings (every rank, redundantly)
    ts_text_cond tu = {0};
    ts_text_cond * tcs = ts_calloc((size_t)sb.n, sizeof(*tcs));
    const ts_text_cond ** segs = ts_calloc((size_t)sb.n, sizeof(*segs));
    for (int i = 0; i < sb.n && st == TS_OK; i++) {
        st = ts_text_encode(m, sb.seg[i].prompt, &tcs[i]);
        segs[i] = &tcs[i];
    }
    int * seg_a = ts_calloc((size_t)Tn + 1, sizeof(int));
    int * seg_b = ts_calloc((size_t)Tn + 1, sizeof(int));
    float * alpha = ts_calloc((size_t)Tn + 1, sizeof(float));
    ts_storyboard_frames(&sb, gp->blend, g0, Tn, seg_a, seg_b, alpha);
    const struct ts_story_text story = {segs, sb.n, seg_a, seg_b, alpha};
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
        st = resume_read(d, gp, prompt_text, m, steps, cfg, T, g0, Tn, host, &k_start);
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
    if (st == TS_OK) st = hooks_fault(hk, d->rank, -1, 1);
    if (st == TS_OK) st = hooks_fault(hk, d->rank, -1, 0);
    st = ts_parallel_agree(d, st);

    // -- rank 0 makes the temporary output only now: a rank failing in its set-up
    //    ends the job before any file exists (a SIGTERM arriving on another thread
    //    while the file was being made could otherwise leave it behind)
    if (st == TS_OK) {  // the same on every rank after ts_parallel_agree
        if (d->rank == 0 && gp->out_path) {
            if (ts_video_tmp_path(gp->out_path, ts_tmp_video, sizeof(ts_tmp_video)) == 0) {
                ts_tmp_video_set = 1;  // before the file exists: deleting a missing file is harmless
                ts_parallel_on_abort(tmp_video_unlink, NULL);
                cleanup_registered = 1;
            }
            if (ts_frames_path(gp->out_path))
                st = ts_frames_writer_open(gp->out_path, c->image_size, c->image_size, interp ? gp->fps_out : fps,
                                           &fw);
            else
                st = ts_video_writer_open(gp->out_path, c->image_size, c->image_size, interp ? gp->fps_out : fps,
                                          gp->codec, gp->crf, &vw);
        }
        st = ts_parallel_agree(d, st);
    }

    // -- sampling
    ts_dit_ws * ws = NULL;
    double t_sample = 0, halo_wait = 0;
    if (st == TS_OK) {
        ws = ts_dit_ws_new(m, Tn, g0, T);
        ts_dit_ws_set_halo_mode(ws, ctx->halo_mode);
        ts_comm_t halo = d->world > 1 ? d->halo : NULL;
        struct progress pr = {ts_time(), 0, isatty(2)};
        double t0 = ts_time();
        int failed_elsewhere = 0;  // another rank failed: leave the loop with st TS_OK
        ts_term_sampling = 1;
        for (int k = k_start; k < steps; k++) {
            float s0 = (float)ts_schedule_sigma(k, steps, c->shift);
            double dt = ts_schedule_sigma(k + 1, steps, c->shift) - ts_schedule_sigma(k, steps, c->shift);
            hooks_fault(hk, d->rank, k, 1);
            st = ts_dit_forward_story(ws, m, vc, x, cond, cond_mask, s0, &story, halo);
            if (st == TS_OK && cfg != 1.0f) st = ts_dit_forward(ws, m, vu, x, cond, cond_mask, s0, &tu, halo);
            if (st == TS_OK) st = hooks_fault(hk, d->rank, k, 0);
            if (st == TS_OK && cfg != 1.0f) {
                // v = v_u + cfg * (v_c - v_u)
                op->axpby(be, vc, -1.0f, vu, 1.0f, n_lat);
                op->axpby(be, vu, cfg, vc, 1.0f, n_lat);
                op->axpby(be, x, (float)dt, vu, 1.0f, n_lat);
            } else if (st == TS_OK) {
                op->axpby(be, x, (float)dt, vc, 1.0f, n_lat);
            }
            if (hk->step_delay_ms > 0) hooks_step_delay(hk->step_delay_ms);
            if (d->rank == 0 && gp->progress && st == TS_OK) progress_step(&pr, k + 1 - k_start, steps - k_start);
            // every rank learns at once whether any rank failed (all stop at this step;
            // ts_parallel_agree below says which) or got SIGTERM (checkpoint, then stop)
            int flags[2] = {ts_term_requested, st != TS_OK};  // term, failed
            if (d->world > 1) ts_mpi_check(MPI_Allreduce(MPI_IN_PLACE, flags, 2, MPI_INT, MPI_MAX, d->comm));
            if (flags[1]) {
                failed_elsewhere = st == TS_OK;
                break;
            }
            const int term = flags[0];
            if (gp->checkpoint_path &&
                (term || (gp->checkpoint_every > 0 && (k + 1) % gp->checkpoint_every == 0 && k + 1 < steps))) {
                struct ts_latents_meta meta;
                fill_meta(&meta, gp, prompt_text, m, steps, cfg, fps, k + 1);
                op->download(be, host, x, (size_t)n_lat * sizeof(float));
                st = ts_latents_write(gp->checkpoint_path, d->comm, T, hw, hw, C, g0, Tn, host, &meta);
                st = ts_parallel_agree(d, st);  // every rank leaves the loop here if any failed
                if (st != TS_OK) break;
                if (d->rank == 0) TS_INFO("checkpoint at step %d: %s", k + 1, gp->checkpoint_path);
            }
            if (term) {
                st = ts_error(TS_ERR_INTERRUPTED,
                              gp->checkpoint_path ? "continue with --resume <checkpoint>"
                                                  : "pass --checkpoint FILE to keep progress",
                              "stopped by SIGTERM after step %d of %d%s", k + 1, steps,
                              gp->checkpoint_path ? " (checkpoint written)" : "");
                break;
            }
        }
        t_sample = ts_time() - t0;
        ts_term_sampling = 0;
        // a SIGTERM too late for the last step's check ends the process as after sampling
        if (ts_term_requested && st == TS_OK && !failed_elsewhere) raise(SIGTERM);
        halo_wait = ts_dit_ws_halo_wait(ws);
    }
    st = ts_parallel_agree(d, st);

    // -- latents file (collective)
    if (st == TS_OK && gp->latents_path) {
        op->download(be, host, x, (size_t)n_lat * sizeof(float));
        struct ts_latents_meta meta;
        fill_meta(&meta, gp, prompt_text, m, steps, cfg, fps, -1);
        st = ts_latents_write(gp->latents_path, d->comm, T, hw, hw, C, g0, Tn, host, &meta);
    }

    // -- decode on every rank, stream to rank 0 in order, encode
    if (st == TS_OK && gp->out_path) {
        double t0 = ts_time();
        size_t fb = (size_t)c->image_size * c->image_size * 3;
        struct decode_ud du = {m, vws, x, g0};
        struct encode_ud eu = {vw, fw, T, {ts_time(), 0, isatty(2)}};
        int64_t T_out = T;
        if (!interp) {
            st = ts_stitch(d, T, fb, 4, produce_frame, &du, consume_frame, &eu);
        } else {
            // each rank interpolates its own keyframe pairs, the last one with its right
            // neighbour's first frame (the 1-frame halo); rank r's output frames follow
            // from its keyframes (ts_interp_out_range), streamed to rank 0 in order
            uint8_t * first = ts_malloc(fb), * halo_f = ts_malloc(fb);
            int has_halo = 0;
            st = produce_frame(&du, 0, first);
            if (st == TS_OK) st = ts_parallel_frame_halo(d, first, halo_f, fb, &has_halo);
            int64_t * counts = ts_calloc((size_t)d->world, sizeof(int64_t));
            T_out = 0;
            for (int r = 0; r < d->world; r++) {
                int64_t a, b, j0, jn;
                ts_partition(T, d->world, r, &a, &b);
                ts_interp_out_range(T, a, b, tm, &j0, &jn);
                counts[r] = jn;
                T_out += jn;
            }
            struct ts_interp_params ip;
            ts_interp_params_init(&ip);
            struct interp_ud iu = {&du, g0, NULL};
            if (st == TS_OK)
                st = ts_interp_rank_stream_open(&ip, c->image_size, c->image_size, tm, g0, Tn, interp_key, &du,
                                                has_halo ? halo_f : NULL, &iu.stream);
            st = ts_parallel_agree(d, st);
            if (st == TS_OK) st = ts_stitch_counts(d, counts, T_out, fb, 4, produce_interp, &iu, consume_frame, &eu);
            ts_interp_stream_free(&iu.stream);
            free(counts);
            free(first);
            free(halo_f);
        }
        if (d->rank == 0 && st == TS_OK) {
            st = fw ? ts_frames_writer_close(&fw, 1) : ts_video_writer_close(&vw, 1);
            if (st == TS_OK)
                TS_INFO("wrote %s: %lld frames, %dx%d, %g fps (sampling %.1fs, decode+encode %.1fs)", gp->out_path,
                        (long long)T_out, c->image_size, c->image_size, interp ? gp->fps_out : fps, t_sample,
                        ts_time() - t0);
        }
        st = ts_parallel_agree(d, st);
    }
    if (vw) ts_video_writer_close(&vw, 0);  // failure: nothing under the requested name
    if (fw) ts_frames_writer_close(&fw, 0);
    if (cleanup_registered) {
        ts_parallel_on_abort(NULL, NULL);
        ts_tmp_video_set = 0;
    }
    signal(SIGTERM, old_term);
    if (st == TS_OK && gp->latents_path && d->rank == 0) TS_INFO("wrote %s", gp->latents_path);
    if (st == TS_OK && hk->report)
        fprintf(stderr,
                "timeshard: report: rank %d peak_rss_kb %lld sampling_s %.3f halo_wait_s %.3f halo_share %.1f%%\n",
                d->rank, (long long)(ts_peak_rss() / 1024), t_sample, halo_wait,
                t_sample > 0 ? 100.0 * halo_wait / t_sample : 0.0);

    ts_dit_ws_free(m, &ws);
    ts_vae_ws_free(m, &vws);
    for (int i = 0; i < sb.n; i++) ts_text_cond_free(m, &tcs[i]);
    free(tcs);
    free(segs);
    free(seg_a);
    free(seg_b);
    free(alpha);
    ts_storyboard_free(&sb);
    ts_text_cond_free(m, &tu);
    op->release(be, x);
    op->release(be, vc);
    op->release(be, vu);
    if (cond) op->release(be, cond);
    free(cond_mask);
    free(host);
    return st;
}
