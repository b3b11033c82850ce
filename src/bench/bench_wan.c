// timeshard bench on a Wan2.1 transformer (a diffusers directory, its
// transformer/ folder or one .safetensors file): the forward of one rank, and
// strong scaling over 1..P ranks with global attention.
//
//     timeshard bench --model wan13b.safetensors --frames 9 --width 160 --height 96 --threads 2 --json
//     mpirun -np 2 timeshard bench --model DIR --scaling strong --frames 17 --width 160 --height 96
//
// The input is fixed (Philox noise for the latents, a text context of 24
// random rows then zeros, as a short prompt gives), so rows can be compared
// bit for bit and runs repeated.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "core/common.h"
#include "core/rng.h"
#include "model/wan/tokenizer.h"  // TS_WAN_TEXT_LEN
#include "model/wan/wan.h"
#include "parallel/parallel.h"

#define BENCH_TEXT_ROWS 24    // rows of the text context that are not zero
#define BENCH_TIMESTEP 500.0f

// FLOPs of one forward over T latent frames of h x w (multiply-add = 2): the
// linears, both attentions (global self-attention), text embedding, patchify
// and head. Elementwise work is left out.
static double wan_flops(const struct ts_wan_config * c, int64_t T, int h, int w, int L) {
    double N = (double)T * (h / c->patch[1]) * (w / c->patch[2]), D = c->dim, F = c->ffn_dim;
    double pv = (double)c->patch[0] * c->patch[1] * c->patch[2];
    double per_block = 8 * N * D * D + 4 * N * D * D + 4 * (double)L * D * D + 4 * N * D * F  // self qkvo, cross q o, k v, FFN
                       + 4 * N * N * D + 4 * N * L * D;                                    // attention
    double once = 2.0 * L * (c->text_dim * D + D * D) + 2 * N * D * pv * (c->in_channels + c->out_channels);
    return c->layers * per_block + once;
}

struct wan_bench {
    const struct ts_bench_wan_args * a;
    ts_backend_t be;
    ts_wan_model * m;
    int64_t T;   // latent frames
    int h, w;    // latents per frame
    size_t cell; // floats per latent frame
    float * ctx; // (512, text_dim)
};

static enum ts_status wan_bench_open(struct wan_bench * b, const struct ts_bench_wan_args * a, int ranks) {
    memset(b, 0, sizeof(*b));
    b->a = a;
    TS_TRY(ts_wan_check_video(a->frames, a->width, a->height, ranks, &b->T, &b->h, &b->w));
    b->be = ts_backend_cpu_new(a->threads);
    if (!b->be) return ts_error(TS_ERR_ARG, "see 'timeshard bench --help'", "cannot make the CPU backend");
    TS_TRY(ts_wan_load(a->model_path, b->be, &b->m));
    b->cell = (size_t)b->h * b->w * b->m->cfg.in_channels;
    size_t rows = (size_t)TS_WAN_TEXT_LEN * b->m->cfg.text_dim;
    b->ctx = ts_calloc(rows, sizeof(float));
    ts_rng_normal_fill(b->ctx, (int64_t)BENCH_TEXT_ROWS * b->m->cfg.text_dim, 11, 0, 0);
    return TS_OK;
}

static void wan_bench_close(struct wan_bench * b) {
    free(b->ctx);
    ts_wan_free(&b->m);
    ts_backend_free(&b->be);
}

// This rank's latents [g0, g0 + Tn): the video's noise from its global offset.
static float * wan_bench_latents(const struct wan_bench * b, int64_t g0, int64_t Tn) {
    size_t n = (size_t)Tn * b->cell;
    float * x = ts_malloc((n ? n : 1) * sizeof(float));
    ts_rng_normal_fill(x, (int64_t)n, 42, 0, (uint64_t)g0 * b->cell);
    return x;
}

static int wan_forward_one(const struct ts_bench_wan_args * a) {
    struct wan_bench b;
    if (wan_bench_open(&b, a, 1) != TS_OK) {
        wan_bench_close(&b);
        return ts_print_last_error();
    }
    const struct ts_wan_config * c = &b.m->cfg;
    float * x = wan_bench_latents(&b, 0, b.T);
    float * v = ts_malloc((size_t)b.T * b.h * b.w * c->out_channels * sizeof(float));
    ts_wan_ws * ws = NULL;
    enum ts_status st = ts_wan_ws_new(b.m, b.T, 0, b.T, b.h, b.w, 0, TS_WAN_TEXT_LEN, &ws);
    if (st == TS_OK) st = ts_wan_forward(ws, b.m, v, x, BENCH_TIMESTEP, b.ctx, NULL);  // warm-up
    double * t = ts_malloc((size_t)a->reps * sizeof(double));
    double * tc = ts_malloc((size_t)a->reps * sizeof(double));  // CPU time of the process (all threads)
    for (int r = 0; st == TS_OK && r < a->reps; r++) {
        double t0 = ts_time(), c0 = ts_bench_cpu_time();
        st = ts_wan_forward(ws, b.m, v, x, BENCH_TIMESTEP, b.ctx, NULL);
        t[r] = ts_time() - t0;
        tc[r] = ts_bench_cpu_time() - c0;
    }
    size_t nv = (size_t)b.T * b.h * b.w * c->out_channels;
    if (st == TS_OK && a->save) {
        FILE * f = fopen(a->save, "wb");
        int ok = f && fwrite(v, sizeof(float), nv, f) == nv;
        if (f && fclose(f) != 0) ok = 0;
        if (!ok) st = ts_error(TS_ERR_IO, "check the path", "cannot write '%s'", a->save);
    }
    int rc = 0;
    if (st != TS_OK) {
        rc = ts_print_last_error();
    } else {
        double tmin = t[0];
        for (int r = 1; r < a->reps; r++) tmin = t[r] < tmin ? t[r] : tmin;
        double med = ts_bench_median(t, a->reps), gf = wan_flops(c, b.T, b.h, b.w, TS_WAN_TEXT_LEN) / 1e9;
        double peak = ts_bench_sgemm_gflops(a->threads, 1024), rss = ts_peak_rss() / 1e6;
        double fma = ts_bench_fma_peak_gflops(a->threads), cmed = ts_bench_median(tc, a->reps);
        int tokens = (int)(b.T * (b.h / c->patch[1]) * (b.w / c->patch[2]));
        uint64_t hash = ts_bench_fnv1a(v, nv * sizeof(float));
        if (a->json) {
            printf("{\"bench\": \"wan_forward\", \"model\": \"%s\", \"frames\": %lld, \"latent_frames\": %lld, "
                   "\"width\": %d, \"height\": %d, \"tokens\": %d, \"dim\": %d, \"layers\": %d, \"params\": %lld, "
                   "\"threads\": %d, \"reps\": %d, \"fwd_ms_median\": %.3f, \"fwd_ms_min\": %.3f, \"gflop\": %.3f, "
                   "\"gflops\": %.2f, \"sgemm_gflops\": %.2f, \"pct_peak\": %.1f, \"fma_peak_gflops\": %.2f, "
                   "\"pct_fma_peak\": %.1f, \"fwd_cpu_ms_median\": %.3f, \"rss_peak_mb\": %.1f, "
                   "\"out_hash\": \"%016llx\"}\n",
                   a->model_path, (long long)a->frames, (long long)b.T, a->width, a->height, tokens, c->dim, c->layers,
                   (long long)b.m->n_params, a->threads, a->reps, med * 1e3, tmin * 1e3, gf, gf / med, peak,
                   100.0 * gf / med / peak, fma, 100.0 * gf / med / fma, cmed * 1e3, rss, (unsigned long long)hash);
        } else {
            printf("# timeshard bench: Wan2.1 transformer forward on one rank, %s (%lld parameters, %s layout), cpu, "
                   "fp32 compute on stored weights\n",
                   a->model_path, (long long)b.m->n_params, ts_wan_layout_name(b.m->layout));
            printf("#  frames  latent  tokens   dim  layers  threads    fwd(ms)  cpu(ms)    GFLOP  GFLOP/s  "
                   "sgemm(GFLOP/s)  %%peak  fma(GFLOP/s)  %%fma  rss(MB)\n");
            printf("  %7lld  %6lld  %6d  %4d  %6d  %7d  %9.1f  %7.1f  %7.1f  %7.2f  %14.2f  %5.1f  %12.1f  %4.1f  "
                   "%7.1f\n",
                   (long long)a->frames, (long long)b.T, tokens, c->dim, c->layers, a->threads, med * 1e3, cmed * 1e3,
                   gf, gf / med, peak, 100.0 * gf / med / peak, fma, 100.0 * gf / med / fma, rss);
            printf("# fwd(ms): median of %d after one warm-up, %dx%d video, 512 text rows; cpu: the process's CPU "
                   "time per forward (all threads); GFLOP: the forward's arithmetic as the reference does it (all 512 text rows; rows repeating the last are computed once here); peak: OpenBLAS sgemm 1024^3, best of 5, same threads; fma: "
                   "independent fused multiply-adds in registers, the widest the CPU has, same threads (the "
                   "arithmetic peak); rss: the process's peak\n",
                   a->reps, a->width, a->height);
        }
    }
    free(t), free(tc);
    free(x), free(v);
    ts_wan_ws_free(&ws);
    wan_bench_close(&b);
    return rc;
}

// ---- strong scaling -------------------------------------------------------------------------------------

// One row's state on a rank that takes part in it: rows of p ranks, the first p
// ranks of the job.
struct wan_row {
    int p;
    MPI_Comm sub;         // MPI_COMM_NULL on ranks outside the row
    ts_comm_t comm;       // NULL for one rank
    ts_wan_ws * ws;
    int64_t g0, Tn;
    float * x, * v;
    double * t, * wait;   // per turn: max over the row's ranks (rank 0 keeps them)
    double gather_mb;     // per forward, the busiest rank
    uint64_t hash;        // of the gathered output (rank 0)
};

static enum ts_status wan_row_open(struct wan_row * r, const struct wan_bench * b, const ts_parallel * d, int p) {
    memset(r, 0, sizeof(*r));
    r->p = p;
    r->sub = MPI_COMM_NULL;
    r->t = ts_calloc((size_t)b->a->reps, sizeof(double));
    r->wait = ts_calloc((size_t)b->a->reps, sizeof(double));
    MPI_Comm_split(d->comm, d->rank < p ? 0 : MPI_UNDEFINED, d->rank, &r->sub);
    if (r->sub == MPI_COMM_NULL) return TS_OK;
    ts_partition(b->T, p, d->rank, &r->g0, &r->Tn);
    r->x = wan_bench_latents(b, r->g0, r->Tn);
    r->v = ts_malloc((size_t)r->Tn * b->h * b->w * b->m->cfg.out_channels * sizeof(float));
    if (p > 1) r->comm = ts_comm_mpi_new(r->sub);
    TS_TRY(ts_wan_ws_new(b->m, b->T, r->g0, r->Tn, b->h, b->w, 0, TS_WAN_TEXT_LEN, &r->ws));
    double mb = p > 1 ? (double)ts_wan_ws_gather_bytes(r->ws) * b->m->cfg.layers / 1e6 : 0.0;
    MPI_Allreduce(&mb, &r->gather_mb, 1, MPI_DOUBLE, MPI_MAX, r->sub);
    return TS_OK;
}

static void wan_row_close(struct wan_row * r) {
    if (!r->t) return;  // never opened
    ts_wan_ws_free(&r->ws);
    if (r->comm) r->comm->ops->free(r->comm);
    if (r->sub != MPI_COMM_NULL) MPI_Comm_free(&r->sub);
    free(r->x), free(r->v), free(r->t), free(r->wait);
}

// One forward of the row (collective over its ranks); turn < 0 is the warm-up.
static enum ts_status wan_row_step(struct wan_row * r, const struct wan_bench * b, int turn) {
    MPI_Barrier(r->sub);
    double w0 = r->comm ? r->comm->wait_seconds : 0.0, t0 = ts_time();
    enum ts_status st = ts_wan_forward(r->ws, b->m, r->v, r->x, BENCH_TIMESTEP, b->ctx, r->comm);
    double dt = ts_time() - t0, wt = r->comm ? r->comm->wait_seconds - w0 : 0.0;
    int bad = st != TS_OK, any = 0;
    MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, r->sub);
    if (any) return st != TS_OK ? st : ts_error(TS_ERR_DIST, "see the other ranks' errors", "another rank's forward failed");
    if (turn >= 0) {
        double share = dt > 0 ? wt / dt : 0.0;
        MPI_Reduce(&dt, &r->t[turn], 1, MPI_DOUBLE, MPI_MAX, 0, r->sub);
        MPI_Reduce(&share, &r->wait[turn], 1, MPI_DOUBLE, MPI_MAX, 0, r->sub);
    }
    return TS_OK;
}

// The row's output gathered in frame order on rank 0, hashed.
static void wan_row_hash(struct wan_row * r, const struct wan_bench * b) {
    int rank, p;
    MPI_Comm_rank(r->sub, &rank);
    MPI_Comm_size(r->sub, &p);
    size_t fo = (size_t)b->h * b->w * b->m->cfg.out_channels;
    int * counts = NULL, * displs = NULL;
    float * all = NULL;
    if (rank == 0) {
        counts = ts_malloc((size_t)p * sizeof(int));
        displs = ts_malloc((size_t)p * sizeof(int));
        for (int q = 0; q < p; q++) {
            int64_t a, n;
            ts_partition(b->T, p, q, &a, &n);
            counts[q] = (int)(n * (int64_t)fo);
            displs[q] = (int)(a * (int64_t)fo);
        }
        all = ts_malloc((size_t)b->T * fo * sizeof(float));
    }
    MPI_Gatherv(r->v, (int)(r->Tn * (int64_t)fo), MPI_FLOAT, all, counts, displs, MPI_FLOAT, 0, r->sub);
    if (rank == 0) r->hash = ts_bench_fnv1a(all, (size_t)b->T * fo * sizeof(float));
    free(all), free(counts), free(displs);
}

static void wan_scaling_print(const struct wan_row * rows, const struct wan_bench * b, int P) {
    const struct ts_bench_wan_args * a = b->a;
    const int reps = a->reps;
    double * tmp = ts_malloc((size_t)reps * sizeof(double));
    double t1 = 0;
    if (!a->json) {
        printf("# timeshard bench --scaling strong: Wan2.1 transformer %s, %lld frames (%lld latent) at %dx%d, global "
               "attention, %d thread(s) per rank, median of %d forwards (rows in turns)\n",
               a->model_path, (long long)a->frames, (long long)b->T, a->width, a->height, a->threads, reps);
        printf("#  ranks  fwd(ms)  gather(MB)  wait(%%)  speedup  eff(%%)  same\n");
    }
    for (int p = 1; p <= P; p++) {
        const struct wan_row * r = &rows[p - 1];
        memcpy(tmp, r->t, (size_t)reps * sizeof(double));
        double ms = ts_bench_median(tmp, reps) * 1e3;
        memcpy(tmp, r->wait, (size_t)reps * sizeof(double));
        double wait = 100.0 * ts_bench_median(tmp, reps);
        if (p == 1) t1 = ms;
        double sp = t1 / ms;
        int same = r->hash == rows[0].hash;
        if (a->json)
            printf("{\"bench\": \"wan_scaling\", \"mode\": \"strong\", \"model\": \"%s\", \"ranks\": %d, \"frames\": %lld, "
                   "\"latent_frames\": %lld, \"width\": %d, \"height\": %d, \"threads\": %d, \"reps\": %d, "
                   "\"fwd_ms\": %.3f, \"gather_mb\": %.3f, \"wait_pct\": %.2f, \"speedup\": %.4f, \"efficiency\": %.2f, "
                   "\"same_as_1_rank\": %s}\n",
                   a->model_path, p, (long long)a->frames, (long long)b->T, a->width, a->height, a->threads, reps, ms,
                   r->gather_mb, wait, sp, 100.0 * sp / p, same ? "true" : "false");
        else
            printf("  %6d  %7.1f  %10.2f  %7.2f  %7.3f  %6.1f  %4s\n", p, ms, r->gather_mb, wait, sp, 100.0 * sp / p,
                   same ? "yes" : "NO");
    }
    if (!a->json)
        printf("# fwd: one transformer forward, max over ranks; gather: MB of other ranks' keys and values received "
               "per forward by the busiest rank; wait: time in the gather's waits / forward time, max over ranks, "
               "median over turns; same: the output equals 1 rank's bit for bit\n");
    free(tmp);
}

static int wan_scaling(const struct ts_bench_wan_args * a) {
    ts_parallel d;
    if (ts_parallel_init(&d, NULL, NULL) != TS_OK) return ts_print_last_error();
    struct wan_bench b;
    enum ts_status st = ts_parallel_agree(&d, wan_bench_open(&b, a, d.world));
    struct wan_row * rows = ts_calloc((size_t)d.world, sizeof(struct wan_row));
    for (int p = 1; st == TS_OK && p <= d.world; p++) st = ts_parallel_agree(&d, wan_row_open(&rows[p - 1], &b, &d, p));
    // rows take turns (a warm-up forward each first), so drift in the machine's speed slows every row alike
    for (int turn = -1; st == TS_OK && turn < a->reps; turn++) {
        for (int p = 1; st == TS_OK && p <= d.world; p++) {
            enum ts_status s = TS_OK;
            ts_bench_quiet_barrier(d.comm);
            if (rows[p - 1].sub != MPI_COMM_NULL) s = wan_row_step(&rows[p - 1], &b, turn);
            st = ts_parallel_agree(&d, s);
        }
        if (d.rank == 0 && turn >= 0 && a->reps > 1 && !a->json) fprintf(stderr, "# turn %d of %d done\n", turn + 1, a->reps);
    }
    int wrong = 0;
    if (st == TS_OK) {
        for (int p = 1; p <= d.world; p++)
            if (rows[p - 1].sub != MPI_COMM_NULL) wan_row_hash(&rows[p - 1], &b);
        if (d.rank == 0) {
            wan_scaling_print(rows, &b, d.world);
            for (int p = 2; p <= d.world; p++) wrong += rows[p - 1].hash != rows[0].hash;
            if (!a->json) printf("# %s: %d row(s) differ from 1 rank's\n", wrong ? "FAILED" : "OK", wrong);
        }
    } else if (d.rank == 0) {
        ts_print_last_error();
    }
    for (int p = 1; p <= d.world; p++) wan_row_close(&rows[p - 1]);
    free(rows);
    wan_bench_close(&b);
    ts_parallel_free(&d);
    return st != TS_OK || wrong ? 1 : 0;
}

int ts_bench_wan(const struct ts_bench_wan_args * a) {
    ts_log_set_level(TS_LOG_ERROR);
    return a->scaling ? wan_scaling(a) : wan_forward_one(a);
}
