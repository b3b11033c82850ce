// The model on the CUDA backend against the CPU backend: text encoding, DiT
// forward (text-to-video, image-to-video, causal), VAE decode and encode,
// within 1e-3 (fp32). Also the DiT over the whole video vs over frame chunks
// on CUDA (each chunk a thread with its own backend, halos traded through
// device copies); the DiT with motion controls (ctl_tiny.h5); and with --time,
// the DiT forward's time on the GPU vs the CPU.
//   test_cuda_model FIXTURES_DIR [MODEL.h5 ...]   correctness (tiny.h5, then each MODEL)
//   test_cuda_model --time MODEL.h5 FRAMES        timing
// Exits 77 (skipped) when no GPU is usable.
#include <cuda_runtime_api.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"  // ts_cuda_check
#include "core/rng.h"                 // ts_rng_normal_fill
#include "parallel/parallel.h"
#include "model/controls.h"  // the control plan and vectors
#include "model/stdit/stdit.h"
#include "thread_comm.h"
#include "ts_test.h"

static ts_backend_t be_cpu, be_gpu;  // the reference and the backend under test

static const char * PROMPT = "a red circle moving left on a blue background";

static ts_model * load(const char * path, ts_backend_t be) {
    ts_model * m = NULL;
    if (ts_model_load(&m, path, be) != TS_OK) {
        fprintf(stderr, "test_cuda_model: cannot load %s on %s: %s\n", path, be->ops->name, ts_last_error());
        exit(1);
    }
    return m;
}

static int64_t latent_floats(const ts_model * m, int64_t T) {
    int64_t hw = ts_cfg_latent_hw(&m->cfg);
    return T * hw * hw * m->cfg.latent_channels;
}

static float * to_backend(ts_backend_t be, const float * h, int64_t n) {
    float * d = be->ops->alloc(be, (size_t)n * sizeof(float));
    be->ops->upload(be, d, h, (size_t)n * sizeof(float));
    return d;
}

static float * to_host(ts_backend_t be, const float * d, int64_t n) {
    float * h = ts_test_alloc(n);
    be->ops->download(be, h, d, (size_t)n * sizeof(float));
    return h;
}

// v (host) of one DiT forward over frames [0, T) of a T-frame video.
static float * dit_once(ts_model * m, const ts_text_cond * tc, const float * z_h, const float * cond_h,
                        const float * mask, int64_t T) {
    ts_backend_t be = m->be;
    int64_t n = latent_floats(m, T);
    float *z = to_backend(be, z_h, n), *cond = cond_h ? to_backend(be, cond_h, n) : NULL;
    float * v = be->ops->alloc(be, (size_t)n * sizeof(float));
    ts_dit_ws * ws = ts_dit_ws_new(m, T, 0, T);
    TS_ASSERT(ts_dit_forward(ws, m, v, z, cond, mask, 0.7f, tc, NULL) == TS_OK);
    float * out = to_host(be, v, n);
    ts_dit_ws_free(m, &ws);
    be->ops->release(be, z), be->ops->release(be, v);
    if (cond) be->ops->release(be, cond);
    return out;
}

// ---- chunks on CUDA: the in-process communicator (tests/common/thread_comm.h) over device copies ------
#define MAXP 4
static void device_copy(void * dst, const void * src, size_t bytes) {
    ts_cuda_check(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault));  // dit.c syncs its stream before posting
}
static void device_sync(void) { ts_cuda_check(cudaDeviceSynchronize()); }
static const struct ts_thread_copy cuda_threads = {"cuda-threads", device_copy, device_sync};

struct chunk_job {
    ts_model * m;
    ts_comm_t comm;
    int64_t g0, Tn, T;
    const float * z_h;  // whole video (host)
    float * v_h;        // whole video output (host)
    const ts_text_cond * tc;
};

static void * chunk_run(void * arg) {
    struct chunk_job * j = arg;
    ts_backend_t be = j->m->be;
    ts_cuda_check(cudaSetDevice(ts_backend_cuda_device(be)));
    int64_t cell = latent_floats(j->m, 1), n = j->Tn * cell;
    float * z = to_backend(be, j->z_h + j->g0 * cell, n);
    float * v = be->ops->alloc(be, (size_t)n * sizeof(float));
    ts_dit_ws * ws = ts_dit_ws_new(j->m, j->Tn, j->g0, j->T);
    TS_ASSERT(ts_dit_forward(ws, j->m, v, z, NULL, NULL, 0.7f, j->tc, j->comm) == TS_OK);
    be->ops->download(be, j->v_h + j->g0 * cell, v, (size_t)n * sizeof(float));
    ts_dit_ws_free(j->m, &ws);
    be->ops->release(be, z), be->ops->release(be, v);
    return NULL;
}

// CUDA DiT over the whole T-frame video vs over P chunks (a thread, backend and model each).
static void check_chunks(const char * path, int64_t T, int P) {
    ts_backend_t bes[MAXP];
    ts_model * ms[MAXP];
    ts_text_cond tcs[MAXP];
    struct chunk_job jobs[MAXP];
    struct ts_thread_group * g = ts_thread_group_new(P, &cuda_threads);
    for (int r = 0; r < P; r++) {
        bes[r] = ts_backend_cuda_new(0);
        TS_ASSERT(bes[r]);
        ms[r] = load(path, bes[r]);
        TS_ASSERT(ts_text_encode(ms[r], PROMPT, &tcs[r]) == TS_OK);
    }
    int64_t n = latent_floats(ms[0], T);
    float *z = ts_test_alloc(n), *parts = ts_test_alloc(n);
    ts_rng_normal_fill(z, n, 11, 0, 0);
    float * whole = dit_once(ms[0], &tcs[0], z, NULL, NULL, T);
    for (int r = 0; r < P; r++) {
        int64_t g0, Tn;
        ts_partition(T, P, r, &g0, &Tn);
        jobs[r] = (struct chunk_job){ms[r], P > 1 ? ts_thread_group_comm(g, r) : NULL, g0, Tn, T, z, parts, &tcs[r]};
    }
    ts_thread_group_run(g, chunk_run, jobs, sizeof jobs[0]);
    int same = memcmp(parts, whole, (size_t)n * sizeof(float)) == 0;
    double r = ts_rel_err_f(parts, whole, n);
    char name[96], buf[128];
    snprintf(name, sizeof name, "cuda dit.chunks P=%d T=%lld", P, (long long)T);
    snprintf(buf, sizeof buf, "max_rel=%.1e (%s; tol 1e-5)", r, same ? "bit-identical" : "not bit-identical");
    ts_verdict(name, r <= 1e-5, buf);
    free(z), free(parts), free(whole);
    for (int i = 0; i < P; i++) {
        ts_text_cond_free(ms[i], &tcs[i]);
        ts_model_free(&ms[i]);
        ts_backend_free(&bes[i]);
    }
    ts_thread_group_free(&g);
}

// ---- the model, CUDA vs CPU ----------------------------------------------------------------------------
static void check_model(const char * path, const char * tag, int64_t T) {
    ts_model *mc = load(path, be_cpu), *mg = load(path, be_gpu);
    const struct ts_model_config * c = &mc->cfg;
    char name[128];
    printf("# %s: width %d, depth %d, heads %d, %d tokens per frame, W=%d, %lld frames\n", tag, c->width, c->depth,
           c->heads, ts_cfg_tokens(c), c->temporal_window, (long long)T);

    // text encoder
    ts_text_cond tcc, tcg;
    TS_ASSERT(ts_text_encode(mc, PROMPT, &tcc) == TS_OK && ts_text_encode(mg, PROMPT, &tcg) == TS_OK);
    int L = c->text_len, Dt = c->text_dim;
    float *a = to_host(be_cpu, tcc.tokens, (int64_t)L * Dt), *b = to_host(be_gpu, tcg.tokens, (int64_t)L * Dt);
    snprintf(name, sizeof name, "%s text.tokens", tag);
    ts_check_rel_f(name, b, a, (int64_t)L * Dt, TS_TOL_BACKEND);
    free(a), free(b);
    a = to_host(be_cpu, tcc.pooled, Dt), b = to_host(be_gpu, tcg.pooled, Dt);
    snprintf(name, sizeof name, "%s text.pooled", tag);
    ts_check_rel_f(name, b, a, Dt, TS_TOL_BACKEND);
    free(a), free(b);
    ts_text_cond ucc, ucg;  // the empty prompt (guidance)
    TS_ASSERT(ts_text_encode(mc, "", &ucc) == TS_OK && ts_text_encode(mg, "", &ucg) == TS_OK);
    a = to_host(be_cpu, ucc.tokens, (int64_t)L * Dt), b = to_host(be_gpu, ucg.tokens, (int64_t)L * Dt);
    snprintf(name, sizeof name, "%s text.tokens empty prompt", tag);
    ts_check_rel_f(name, b, a, (int64_t)L * Dt, TS_TOL_BACKEND);
    free(a), free(b);

    // DiT: text-to-video, image-to-video, causal
    int64_t n = latent_floats(mc, T);
    float *z = ts_test_alloc(n), *cond = ts_test_alloc(n), *mask = ts_test_alloc(T);
    ts_rng_normal_fill(z, n, 7, 0, 0);
    ts_rng_normal_fill(cond, n, 8, 0, 0);
    mask[0] = 1.0f;
    const int causal0 = c->causal;
    for (int pass = 0; pass < 3; pass++) {
        mc->cfg.causal = mg->cfg.causal = pass == 2 ? 1 : causal0;
        const float * cnd = pass == 1 ? cond : NULL;
        const float * msk = pass == 1 ? mask : NULL;
        float *vc = dit_once(mc, &tcc, z, cnd, msk, T), *vg = dit_once(mg, &tcg, z, cnd, msk, T);
        snprintf(name, sizeof name, "%s dit.forward %s", tag, (const char *[]){"t2v", "i2v", "causal"}[pass]);
        ts_check_rel_f(name, vg, vc, n, TS_TOL_BACKEND);
        free(vc), free(vg);
    }
    mc->cfg.causal = mg->cfg.causal = causal0;
    // the unconditional branch as the sampler runs it
    {
        float *vc = dit_once(mc, &ucc, z, NULL, NULL, T), *vg = dit_once(mg, &ucg, z, NULL, NULL, T);
        snprintf(name, sizeof name, "%s dit.forward empty prompt", tag);
        ts_check_rel_f(name, vg, vc, n, TS_TOL_BACKEND);
        free(vc), free(vg);
    }

    // VAE: decode and encode one frame
    int64_t nz = latent_floats(mc, 1), px = (int64_t)c->image_size * c->image_size * 3;
    ts_vae_ws *wc = ts_vae_ws_new(mc), *wg = ts_vae_ws_new(mg);
    float *zc = to_backend(be_cpu, z, nz), *zg = to_backend(be_gpu, z, nz);
    float * rc = be_cpu->ops->alloc(be_cpu, (size_t)px * sizeof(float));
    float * rg = be_gpu->ops->alloc(be_gpu, (size_t)px * sizeof(float));
    ts_vae_decode(wc, mc, rc, zc);
    ts_vae_decode(wg, mg, rg, zg);
    a = to_host(be_cpu, rc, px), b = to_host(be_gpu, rg, px);
    snprintf(name, sizeof name, "%s vae.decode", tag);
    ts_check_rel_f(name, b, a, px, TS_TOL_BACKEND);
    uint8_t *ua = malloc((size_t)px), *ub = malloc((size_t)px);
    ts_to_uint8(ua, a, px);
    ts_to_uint8(ub, b, px);
    int maxd = 0;
    for (int64_t i = 0; i < px; i++) maxd = abs((int)ua[i] - (int)ub[i]) > maxd ? abs((int)ua[i] - (int)ub[i]) : maxd;
    char buf[64];
    snprintf(buf, sizeof buf, "max |diff| = %d (tol 1)", maxd);
    snprintf(name, sizeof name, "%s vae.decode uint8", tag);
    ts_verdict(name, maxd <= 1, buf);
    free(ua), free(ub);
    // encode the CPU's decoded frame on both
    be_cpu->ops->upload(be_cpu, rc, a, (size_t)px * sizeof(float));
    be_gpu->ops->upload(be_gpu, rg, a, (size_t)px * sizeof(float));
    free(a), free(b);
    ts_vae_encode(wc, mc, zc, rc);
    ts_vae_encode(wg, mg, zg, rg);
    a = to_host(be_cpu, zc, nz), b = to_host(be_gpu, zg, nz);
    snprintf(name, sizeof name, "%s vae.encode", tag);
    ts_check_rel_f(name, b, a, nz, TS_TOL_BACKEND);
    free(a), free(b);

    be_cpu->ops->release(be_cpu, zc), be_cpu->ops->release(be_cpu, rc);
    be_gpu->ops->release(be_gpu, zg), be_gpu->ops->release(be_gpu, rg);
    ts_vae_ws_free(mc, &wc), ts_vae_ws_free(mg, &wg);
    ts_text_cond_free(mc, &tcc), ts_text_cond_free(mg, &tcg);
    ts_text_cond_free(mc, &ucc), ts_text_cond_free(mg, &ucg);
    ts_model_free(&mc), ts_model_free(&mg);
    free(z), free(cond), free(mask);
}

// ---- timing ----------------------------------------------------------------------------------------------
// Median seconds of `reps` DiT forwards over T frames (after warm-up); the
// last v downloaded into v_out (may be NULL).
static double time_dit(ts_model * m, int64_t T, int reps, float * v_out) {
    ts_backend_t be = m->be;
    ts_text_cond tc;
    TS_ASSERT(ts_text_encode(m, PROMPT, &tc) == TS_OK);
    int64_t n = latent_floats(m, T);
    float * zh = ts_test_alloc(n);
    ts_rng_normal_fill(zh, n, 5, 0, 0);
    float * z = to_backend(be, zh, n);
    float * v = be->ops->alloc(be, (size_t)n * sizeof(float));
    ts_dit_ws * ws = ts_dit_ws_new(m, T, 0, T);
    double t[64];
    if (reps > 64) reps = 64;
    for (int i = -2; i < reps; i++) {
        be->ops->sync(be);
        double t0 = ts_time();
        TS_ASSERT(ts_dit_forward(ws, m, v, z, NULL, NULL, 0.7f, &tc, NULL) == TS_OK);
        be->ops->sync(be);
        if (i >= 0) t[i] = ts_time() - t0;
    }
    for (int i = 0; i < reps; i++)  // sort for the median
        for (int j = i + 1; j < reps; j++)
            if (t[j] < t[i]) {
                double x = t[i];
                t[i] = t[j], t[j] = x;
            }
    if (v_out) be->ops->download(be, v_out, v, (size_t)n * sizeof(float));
    ts_dit_ws_free(m, &ws);
    be->ops->release(be, z), be->ops->release(be, v);
    ts_text_cond_free(m, &tc);
    free(zh);
    return t[reps / 2];
}

static int run_timing(const char * path, int64_t T) {
    ts_model *mc = load(path, be_cpu), *mg = load(path, be_gpu);
    const struct ts_model_config * c = &mc->cfg;
    int64_t n = latent_floats(mc, T);
    float *vc = ts_test_alloc(n), *vg = ts_test_alloc(n), *vx = ts_test_alloc(n);
    char dev[256];
    ts_cuda_device_describe(ts_backend_cuda_device(be_gpu), dev, sizeof dev);
    printf("# timing: DiT forward, %s (width %d, depth %d, %d heads), %lld frames x %d tokens, median\n", path,
           c->width, c->depth, c->heads, (long long)T, ts_cfg_tokens(c));
    printf("# GPU: %s\n", dev);
    double tc = time_dit(mc, T, 3, vc);
    printf("  timing dit.forward  cpu  %2d threads    %10.2f ms\n", be_cpu->threads, tc * 1e3);
    double tg = time_dit(mg, T, 10, vg);
    double * ref = ts_test_alloc_d(n);
    for (int64_t i = 0; i < n; i++) ref[i] = vc[i];
    printf("  timing dit.forward  cuda fp32          %10.2f ms   %6.1fx cpu   max_rel vs cpu %.1e\n", tg * 1e3, tc / tg,
           ts_rel_err(vg, ref, n));
    for (int t = TS_CUDA_DTYPE_TF32; t < TS_CUDA_DTYPE_COUNT; t++) {
        ts_backend_cuda_set_dtype(be_gpu, (enum ts_cuda_dtype)t);
        double tt = time_dit(mg, T, 10, vx);
        printf("  timing dit.forward  cuda %-4s          %10.2f ms   %6.1fx cpu   max_rel vs cpu %.1e\n",
               ts_cuda_dtype_name((enum ts_cuda_dtype)t), tt * 1e3, tc / tt, ts_rel_err(vx, ref, n));
    }
    ts_backend_cuda_set_dtype(be_gpu, TS_CUDA_DTYPE_FP32);
    fflush(stdout);
    free(vc), free(vg), free(vx), free(ref);
    ts_model_free(&mc), ts_model_free(&mg);
    return 0;
}

// The motion controls (ctl_tiny.h5, a model with control weights): the DiT with
// per-frame control vectors on CUDA vs the CPU, and without any.
static void check_controls(const char * path, int64_t T) {
    ts_model *mc = load(path, be_cpu), *mg = load(path, be_gpu);
    TS_ASSERT(mc->dit.ctl_fc1_w && mg->dit.ctl_fc1_w);
    struct ts_control_video vid = {T, mc->cfg.image_size, mc->cfg.image_size, mc->cfg.fps};
    const char * texts[TS_CONTROL_COUNT] = {"0:2,3 3:10,12 5:15,1", NULL, "125", "0.8", "-0.3"};
    struct ts_control_plan plan;
    TS_ASSERT(ts_control_plan_build(&plan, texts, NULL, NULL, &vid) == TS_OK);
    float * ctl = ts_test_alloc(T * TS_CONTROL_DIM);
    ts_control_plan_frames(&plan, 0, T, ctl);
    ts_control_plan_free(&plan);
    int64_t n = latent_floats(mc, T);
    float * z = ts_test_alloc(n);
    ts_rng_normal_fill(z, n, 11, 0, 0);
    ts_text_cond tcc, tcg;
    TS_ASSERT(ts_text_encode(mc, PROMPT, &tcc) == TS_OK && ts_text_encode(mg, PROMPT, &tcg) == TS_OK);
    for (int with = 0; with <= 1; with++) {
        float * out[2];
        ts_model * ms[2] = {mc, mg};
        const ts_text_cond * tcs[2] = {&tcc, &tcg};
        for (int k = 0; k < 2; k++) {
            ts_backend_t be = ms[k]->be;
            float * zd = to_backend(be, z, n);
            float * v = be->ops->alloc(be, (size_t)n * sizeof(float));
            ts_dit_ws * ws = ts_dit_ws_new(ms[k], T, 0, T);
            if (with) ts_dit_ws_set_controls(ws, ms[k], ctl);
            TS_ASSERT(ts_dit_forward(ws, ms[k], v, zd, NULL, NULL, 0.7f, tcs[k], NULL) == TS_OK);
            out[k] = to_host(be, v, n);
            ts_dit_ws_free(ms[k], &ws);
            be->ops->release(be, zd), be->ops->release(be, v);
        }
        ts_check_rel_f(with ? "ctl_tiny dit.forward with controls" : "ctl_tiny dit.forward without controls", out[1],
                       out[0], n, TS_TOL_BACKEND);
        free(out[0]), free(out[1]);
    }
    ts_text_cond_free(mc, &tcc), ts_text_cond_free(mg, &tcg);
    free(ctl), free(z);
    ts_model_free(&mc), ts_model_free(&mg);
}

int main(int argc, char ** argv) {
    char why[256];
    int ndev = ts_cuda_device_count(why, sizeof why);
    be_gpu = ndev > 0 ? ts_backend_cuda_new(0) : NULL;
    if (!be_gpu) {
        printf("test_cuda_model: SKIPPED: %s\n", ndev > 0 ? ts_last_error() : why);
        return TS_TEST_SKIP;
    }
    be_cpu = ts_backend_cpu_new(0);
    ts_test_backends(be_cpu, be_gpu);
    int rc;
    if (argc >= 4 && strcmp(argv[1], "--time") == 0) {
        rc = run_timing(argv[2], atoll(argv[3]));
    } else {
        const char * fix = argc > 1 ? argv[1] : TS_SOURCE_DIR "/tests/fixtures";
        char tiny[1024];
        snprintf(tiny, sizeof tiny, "%s/tiny.h5", fix);
        ts_cuda_device_describe(0, why, sizeof why);
        printf("# the model on CUDA (%s) vs CPU\n", why);
        check_model(tiny, "tiny", 7);
        check_chunks(tiny, 9, 1);
        check_chunks(tiny, 9, 2);
        check_chunks(tiny, 10, 3);
        char ctl[1024];
        snprintf(ctl, sizeof ctl, "%s/ctl_tiny.h5", fix);
        check_controls(ctl, 7);
        for (int i = 2; i < argc; i++) {
            const char * base = strrchr(argv[i], '/');
            check_model(argv[i], base ? base + 1 : argv[i], 12);
            check_chunks(argv[i], 12, 3);
        }
        rc = ts_test_finish("test_cuda_model");
    }
    ts_backend_free(&be_cpu);
    ts_backend_free(&be_gpu);
    return rc;
}
