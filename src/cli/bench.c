// timeshard bench: time of the DiT forward (one rank) and its achieved GFLOP/s
// beside the machine's sgemm GFLOP/s measured in the same run.
#include <cblas.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "cli/cli.h"
#include "core/common.h"
#include "core/rng.h"
#include "model/model.h"

void openblas_set_num_threads(int);

// FLOPs of one DiT forward over T frames (multiply-add = 2), linears and attention.
static double dit_flops(const struct ts_model_config * c, int64_t T) {
    double N = ts_cfg_tokens(c), D = c->width, Hm = (double)c->mlp_ratio * D, L = c->text_len;
    double W = c->temporal_window, p = c->patch, C = c->latent_channels;
    double per_block = 2 * N * D * D * 10 + 4 * N * D * Hm   // qkv x2, proj x2, cross q/proj; MLP
                       + 4 * N * N * D + 4 * N * (2 * W + 1) * D + 4 * N * L * D  // attention
                       + 2 * D * 9 * D + 2 * L * c->text_dim * 2 * D / T;       // adaLN; text k/v (per call)
    double io = 2 * N * D * p * p * (2 * C + 1) + 2 * N * D * p * p * C;
    return T * (c->depth * per_block + io);
}

static double sgemm_gflops(int threads, int n) {
    float * a = ts_malloc((size_t)n * n * sizeof(float));
    float * b = ts_malloc((size_t)n * n * sizeof(float));
    float * cc = ts_malloc((size_t)n * n * sizeof(float));
    ts_rng_normal_fill(a, (int64_t)n * n, 1, 0, 0);
    ts_rng_normal_fill(b, (int64_t)n * n, 2, 0, 0);
    openblas_set_num_threads(threads);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, a, n, b, n, 0.f, cc, n);
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        double t0 = ts_time();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, a, n, b, n, 0.f, cc, n);
        double t = ts_time() - t0;
        if (t < best) best = t;
    }
    openblas_set_num_threads(1);
    free(a), free(b), free(cc);
    return 2.0 * n * n * (double)n / best / 1e9;
}

static int cmp_double(const void * a, const void * b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int ts_cli_bench(int argc, char ** argv) {
    const char * model_path = NULL;
    int frames = 16, threads = 1, reps = 5, json = 0;
    static const struct option lo[] = {{"model", required_argument, 0, 'm'}, {"frames", required_argument, 0, 'n'},
                                       {"threads", required_argument, 0, 't'}, {"reps", required_argument, 0, 'r'},
                                       {"json", no_argument, 0, 'j'},          {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "m:n:t:r:jh", lo, NULL)) != -1) {
        switch (ch) {
        case 'm': model_path = optarg; break;
        case 'n': frames = atoi(optarg); break;
        case 't': threads = atoi(optarg); break;
        case 'r': reps = atoi(optarg); break;
        case 'j': json = 1; break;
        case 'h':
            printf("usage: timeshard bench [options]\n\n"
                   "Times the DiT forward of one rank (median of --reps after a warm-up) and\n"
                   "reports its GFLOP/s beside this machine's sgemm GFLOP/s, same threads.\n\n"
                   "  -m, --model PATH   weights (default: the shipped model)\n"
                   "  -n, --frames N     frames in the forward (default: 16)\n"
                   "  -t, --threads N    CPU threads (default: 1)\n"
                   "  -r, --reps N       timed repetitions (default: 5)\n"
                   "      --json         one JSON object instead of the table\n");
            return 0;
        default:
            fprintf(stderr, "timeshard: error: bad bench option\n---> HINT: see 'timeshard bench --help'\n");
            return 1;
        }
    }
    if (frames < 1 || threads < 1 || reps < 1) {
        fprintf(stderr, "timeshard: error: --frames, --threads and --reps must be positive\n");
        return 1;
    }
    if (!model_path) model_path = ts_default_model_path();
    if (!model_path) {
        ts_error(TS_ERR_IO, "pass --model PATH", "the default model was not found");
        return ts_cli_fail();
    }
    ts_backend_t be = ts_backend_cpu_new(threads);
    ts_model * m = NULL;
    if (ts_model_load(&m, model_path, be) != TS_OK) {
        ts_backend_free(&be);
        return ts_cli_fail();
    }
    const struct ts_model_config * c = &m->cfg;
    int hw = ts_cfg_latent_hw(c);
    int64_t n = (int64_t)frames * hw * hw * c->latent_channels;
    float * z = be->ops->alloc(be, (size_t)n * sizeof(float));
    float * v = be->ops->alloc(be, (size_t)n * sizeof(float));
    float * host = ts_malloc((size_t)n * sizeof(float));
    ts_rng_normal_fill(host, n, 7, 0, 0);
    be->ops->upload(be, z, host, (size_t)n * sizeof(float));
    ts_log_set_level(TS_LOG_ERROR);
    ts_text_cond tc = {0};
    ts_text_encode(m, "a red circle moving left on a blue background", &tc);
    ts_dit_ws * ws = ts_dit_ws_new(m, frames, 0, frames);
    ts_dit_forward(ws, m, v, z, NULL, NULL, 0.5f, &tc, NULL);  // warm-up
    double * t = ts_malloc((size_t)reps * sizeof(double));
    for (int r = 0; r < reps; r++) {
        double t0 = ts_time();
        ts_dit_forward(ws, m, v, z, NULL, NULL, 0.5f, &tc, NULL);
        t[r] = ts_time() - t0;
    }
    qsort(t, (size_t)reps, sizeof(double), cmp_double);
    double med = t[reps / 2];
    double gf = dit_flops(c, frames) / 1e9;
    double peak = sgemm_gflops(threads, 1024);
    if (json) {
        printf("{\"bench\": \"dit_forward\", \"model\": \"%s\", \"frames\": %d, \"tokens\": %d, \"width\": %d, "
               "\"depth\": %d, \"threads\": %d, \"reps\": %d, \"fwd_ms_median\": %.3f, \"fwd_ms_min\": %.3f, "
               "\"gflop\": %.4f, \"gflops\": %.2f, \"sgemm_gflops\": %.2f, \"pct_peak\": %.1f}\n",
               model_path, frames, ts_cfg_tokens(c), c->width, c->depth, threads, reps, med * 1e3, t[0] * 1e3, gf,
               gf / med, peak, 100.0 * gf / med / peak);
    } else {
        printf("# timeshard bench: DiT forward on one rank, %s\n", model_path);
        printf("#  frames  tokens  width  depth  threads   fwd(ms)   GFLOP  GFLOP/s  sgemm(GFLOP/s)  %%peak\n");
        printf("  %7d  %6d  %5d  %5d  %7d  %8.2f  %6.3f  %7.2f  %14.2f  %5.1f\n", frames, ts_cfg_tokens(c), c->width,
               c->depth, threads, med * 1e3, gf, gf / med, peak, 100.0 * gf / med / peak);
        printf("# fwd(ms): median of %d after one warm-up; sgemm: 1024^3, best of 5, same threads\n", reps);
    }
    free(t);
    free(host);
    ts_dit_ws_free(m, &ws);
    ts_text_cond_free(m, &tc);
    be->ops->release(be, z);
    be->ops->release(be, v);
    ts_model_free(&m);
    ts_backend_free(&be);
    return 0;
}
