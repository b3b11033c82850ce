// The model on the CUDA backend against the CPU backend: text encoding, DiT
// forward (text-to-video, image-to-video, causal), VAE decode and encode,
// within 1e-3 (fp32). Also the DiT over the whole video vs over frame chunks
// on CUDA (each chunk a thread with its own backend, halos traded through
// device copies), and with --time, the DiT forward's time on the GPU vs the CPU.
//   test_cuda_model FIXTURES_DIR [MODEL.h5 ...]   correctness (tiny.h5, then each MODEL)
//   test_cuda_model --time MODEL.h5 FRAMES        timing
// Exits 77 (skipped) when no GPU is usable.
#include <cuda_runtime_api.h>
#include <pthread.h>

#include "backend/cuda/cuda_check.h"  // ts_cuda_check
#include "core/rng.h"                 // ts_rng_normal_fill
#include "parallel/parallel.h"
#include "gpu_util.h"
#include "model/model.h"

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
    float * h = tu_alloc(n);
    be->ops->download(be, h, d, (size_t)n * sizeof(float));
    return h;
}

static void compare(const char * name, const float * gpu, const float * cpu, int64_t n, double tol) {
    double * ref = tu_alloc_d(n);
    for (int64_t i = 0; i < n; i++) ref[i] = cpu[i];
    char buf[96];
    double r = tu_rel_err(gpu, ref, n);
    snprintf(buf, sizeof buf, "max_rel=%.1e (tol %.0e)", r, tol);
    tu_verdict(name, r <= tol, buf);
    free(ref);
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

// ---- chunks on CUDA: an in-process communicator over device copies ------------------------------------
#define MAXP 4
struct tshared {
    pthread_barrier_t bar;
    int P;
    struct tcomm * c[MAXP];
};
struct tcomm {
    struct ts_comm base;
    int rank;
    struct tshared * sh;
    const void *sl, *sr;
    void *rl, *rr;
    size_t bytes;
};
static void t_post(ts_comm_t c, const void * sl, const void * sr, void * rl, void * rr, size_t bytes) {
    struct tcomm * t = (struct tcomm *)c;
    t->sl = sl, t->sr = sr, t->rl = rl, t->rr = rr, t->bytes = bytes;
}
static enum ts_status t_wait(ts_comm_t c) {
    struct tcomm * t = (struct tcomm *)c;
    pthread_barrier_wait(&t->sh->bar);  // every chunk has posted (dit.c syncs its stream before posting)
    if (t->rl && t->rank > 0) ts_cuda_check(cudaMemcpy(t->rl, t->sh->c[t->rank - 1]->sr, t->bytes, cudaMemcpyDefault));
    if (t->rr && t->rank + 1 < t->sh->P)
        ts_cuda_check(cudaMemcpy(t->rr, t->sh->c[t->rank + 1]->sl, t->bytes, cudaMemcpyDefault));
    ts_cuda_check(cudaDeviceSynchronize());
    pthread_barrier_wait(&t->sh->bar);  // every copy done before send buffers change
    return TS_OK;
}
static const struct ts_comm_ops tcomm_ops = {.name = "cuda-threads", .halo_post = t_post, .halo_wait = t_wait};

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
    struct tcomm tc[MAXP];
    struct chunk_job jobs[MAXP];
    pthread_t th[MAXP];
    struct tshared sh = {.P = P};
    pthread_barrier_init(&sh.bar, NULL, (unsigned)P);
    for (int r = 0; r < P; r++) {
        bes[r] = ts_backend_cuda_new(0);
        TS_ASSERT(bes[r]);
        ms[r] = load(path, bes[r]);
        TS_ASSERT(ts_text_encode(ms[r], PROMPT, &tcs[r]) == TS_OK);
    }
    int64_t n = latent_floats(ms[0], T);
    float *z = tu_alloc(n), *parts = tu_alloc(n);
    ts_rng_normal_fill(z, n, 11, 0, 0);
    float * whole = dit_once(ms[0], &tcs[0], z, NULL, NULL, T);
    for (int r = 0; r < P; r++) {
        memset(&tc[r], 0, sizeof tc[r]);
        tc[r].base.ops = &tcomm_ops;
        tc[r].rank = r;
        tc[r].sh = &sh;
        sh.c[r] = &tc[r];
        int64_t g0, Tn;
        ts_partition(T, P, r, &g0, &Tn);
        jobs[r] = (struct chunk_job){ms[r], P > 1 ? &tc[r].base : NULL, g0, Tn, T, z, parts, &tcs[r]};
    }
    for (int r = 0; r < P; r++) pthread_create(&th[r], NULL, chunk_run, &jobs[r]);
    for (int r = 0; r < P; r++) pthread_join(th[r], NULL);
    int same = memcmp(parts, whole, (size_t)n * sizeof(float)) == 0;
    double * ref = tu_alloc_d(n);
    for (int64_t i = 0; i < n; i++) ref[i] = whole[i];
    double r = tu_rel_err(parts, ref, n);
    char name[96], buf[128];
    snprintf(name, sizeof name, "cuda dit.chunks P=%d T=%lld", P, (long long)T);
    snprintf(buf, sizeof buf, "max_rel=%.1e (%s; tol 1e-5)", r, same ? "bit-identical" : "not bit-identical");
    tu_verdict(name, r <= 1e-5, buf);
    free(ref), free(z), free(parts), free(whole);
    for (int i = 0; i < P; i++) {
        ts_text_cond_free(ms[i], &tcs[i]);
        ts_model_free(&ms[i]);
        ts_backend_free(&bes[i]);
    }
    pthread_barrier_destroy(&sh.bar);
}

// ---- the model, CUDA vs CPU ----------------------------------------------------------------------------
static void check_model(const char * path, const char * tag, int64_t T) {
    ts_model *mc = load(path, tg_cpu), *mg = load(path, tg_gpu);
    const struct ts_model_config * c = &mc->cfg;
    char name[128];
    printf("# %s: width %d, depth %d, heads %d, %d tokens per frame, W=%d, %lld frames\n", tag, c->width, c->depth,
           c->heads, ts_cfg_tokens(c), c->temporal_window, (long long)T);

    // text encoder
    ts_text_cond tcc, tcg;
    TS_ASSERT(ts_text_encode(mc, PROMPT, &tcc) == TS_OK && ts_text_encode(mg, PROMPT, &tcg) == TS_OK);
    int L = c->text_len, Dt = c->text_dim;
    float *a = to_host(tg_cpu, tcc.tokens, (int64_t)L * Dt), *b = to_host(tg_gpu, tcg.tokens, (int64_t)L * Dt);
    snprintf(name, sizeof name, "%s text.tokens", tag);
    compare(name, b, a, (int64_t)L * Dt, TG_TOL);
    free(a), free(b);
    a = to_host(tg_cpu, tcc.pooled, Dt), b = to_host(tg_gpu, tcg.pooled, Dt);
    snprintf(name, sizeof name, "%s text.pooled", tag);
    compare(name, b, a, Dt, TG_TOL);
    free(a), free(b);
    ts_text_cond ucc, ucg;  // the empty prompt (guidance)
    TS_ASSERT(ts_text_encode(mc, "", &ucc) == TS_OK && ts_text_encode(mg, "", &ucg) == TS_OK);
    a = to_host(tg_cpu, ucc.tokens, (int64_t)L * Dt), b = to_host(tg_gpu, ucg.tokens, (int64_t)L * Dt);
    snprintf(name, sizeof name, "%s text.tokens empty prompt", tag);
    compare(name, b, a, (int64_t)L * Dt, TG_TOL);
    free(a), free(b);

    // DiT: text-to-video, image-to-video, causal
    int64_t n = latent_floats(mc, T);
    float *z = tu_alloc(n), *cond = tu_alloc(n), *mask = tu_alloc(T);
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
        compare(name, vg, vc, n, TG_TOL);
        free(vc), free(vg);
    }
    mc->cfg.causal = mg->cfg.causal = causal0;
    // the unconditional branch as the sampler runs it
    {
        float *vc = dit_once(mc, &ucc, z, NULL, NULL, T), *vg = dit_once(mg, &ucg, z, NULL, NULL, T);
        snprintf(name, sizeof name, "%s dit.forward empty prompt", tag);
        compare(name, vg, vc, n, TG_TOL);
        free(vc), free(vg);
    }

    // VAE: decode and encode one frame
    int64_t nz = latent_floats(mc, 1), px = (int64_t)c->image_size * c->image_size * 3;
    ts_vae_ws *wc = ts_vae_ws_new(mc), *wg = ts_vae_ws_new(mg);
    float *zc = to_backend(tg_cpu, z, nz), *zg = to_backend(tg_gpu, z, nz);
    float * rc = tg_cpu->ops->alloc(tg_cpu, (size_t)px * sizeof(float));
    float * rg = tg_gpu->ops->alloc(tg_gpu, (size_t)px * sizeof(float));
    ts_vae_decode(wc, mc, rc, zc);
    ts_vae_decode(wg, mg, rg, zg);
    a = to_host(tg_cpu, rc, px), b = to_host(tg_gpu, rg, px);
    snprintf(name, sizeof name, "%s vae.decode", tag);
    compare(name, b, a, px, TG_TOL);
    uint8_t *ua = malloc((size_t)px), *ub = malloc((size_t)px);
    ts_to_uint8(ua, a, px);
    ts_to_uint8(ub, b, px);
    int maxd = 0;
    for (int64_t i = 0; i < px; i++) maxd = abs((int)ua[i] - (int)ub[i]) > maxd ? abs((int)ua[i] - (int)ub[i]) : maxd;
    char buf[64];
    snprintf(buf, sizeof buf, "max |diff| = %d (tol 1)", maxd);
    snprintf(name, sizeof name, "%s vae.decode uint8", tag);
    tu_verdict(name, maxd <= 1, buf);
    free(ua), free(ub);
    // encode the CPU's decoded frame on both
    tg_cpu->ops->upload(tg_cpu, rc, a, (size_t)px * sizeof(float));
    tg_gpu->ops->upload(tg_gpu, rg, a, (size_t)px * sizeof(float));
    free(a), free(b);
    ts_vae_encode(wc, mc, zc, rc);
    ts_vae_encode(wg, mg, zg, rg);
    a = to_host(tg_cpu, zc, nz), b = to_host(tg_gpu, zg, nz);
    snprintf(name, sizeof name, "%s vae.encode", tag);
    compare(name, b, a, nz, TG_TOL);
    free(a), free(b);

    tg_cpu->ops->release(tg_cpu, zc), tg_cpu->ops->release(tg_cpu, rc);
    tg_gpu->ops->release(tg_gpu, zg), tg_gpu->ops->release(tg_gpu, rg);
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
    float * zh = tu_alloc(n);
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
    ts_model *mc = load(path, tg_cpu), *mg = load(path, tg_gpu);
    const struct ts_model_config * c = &mc->cfg;
    int64_t n = latent_floats(mc, T);
    float *vc = tu_alloc(n), *vg = tu_alloc(n), *vx = tu_alloc(n);
    char dev[256];
    ts_cuda_device_describe(ts_backend_cuda_device(tg_gpu), dev, sizeof dev);
    printf("# timing: DiT forward, %s (width %d, depth %d, %d heads), %lld frames x %d tokens, median\n", path,
           c->width, c->depth, c->heads, (long long)T, ts_cfg_tokens(c));
    printf("# GPU: %s\n", dev);
    double tc = time_dit(mc, T, 3, vc);
    printf("  timing dit.forward  cpu  %2d threads    %10.2f ms\n", tg_cpu->threads, tc * 1e3);
    double tg = time_dit(mg, T, 10, vg);
    double * ref = tu_alloc_d(n);
    for (int64_t i = 0; i < n; i++) ref[i] = vc[i];
    printf("  timing dit.forward  cuda fp32          %10.2f ms   %6.1fx cpu   max_rel vs cpu %.1e\n", tg * 1e3, tc / tg,
           tu_rel_err(vg, ref, n));
    for (int t = TS_CUDA_DTYPE_TF32; t < TS_CUDA_DTYPE_COUNT; t++) {
        ts_backend_cuda_set_dtype(tg_gpu, (enum ts_cuda_dtype)t);
        double tt = time_dit(mg, T, 10, vx);
        printf("  timing dit.forward  cuda %-4s          %10.2f ms   %6.1fx cpu   max_rel vs cpu %.1e\n",
               ts_cuda_dtype_name((enum ts_cuda_dtype)t), tt * 1e3, tc / tt, tu_rel_err(vx, ref, n));
    }
    ts_backend_cuda_set_dtype(tg_gpu, TS_CUDA_DTYPE_FP32);
    fflush(stdout);
    free(vc), free(vg), free(vx), free(ref);
    ts_model_free(&mc), ts_model_free(&mg);
    return 0;
}

int main(int argc, char ** argv) {
    char why[256];
    int ndev = ts_cuda_device_count(why, sizeof why);
    tg_gpu = ndev > 0 ? ts_backend_cuda_new(0) : NULL;
    if (!tg_gpu) {
        printf("test_cuda_model: SKIPPED: %s\n", ndev > 0 ? ts_last_error() : why);
        return TG_SKIP;
    }
    tg_cpu = ts_backend_cpu_new(0);
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
        for (int i = 2; i < argc; i++) {
            const char * base = strrchr(argv[i], '/');
            check_model(argv[i], base ? base + 1 : argv[i], 12);
            check_chunks(argv[i], 12, 3);
        }
        rc = tu_finish("test_cuda_model");
    }
    ts_backend_free(&tg_cpu);
    ts_backend_free(&tg_gpu);
    return rc;
}
