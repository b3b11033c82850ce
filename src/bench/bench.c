// timeshard bench: time of the DiT forward (one rank) and its achieved GFLOP/s
// beside the machine's sgemm GFLOP/s measured in the same run.
#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>  // nanosleep
#include <unistd.h>

#include "backend/backend.h"
#include "backend/cpu/cpu.h"   // ts_cpu_isa (the FMA peak's width)
#include "backend/registry.h"  // --backend by name
#include "bench/bench.h"
#include "core/common.h"
#include "core/rng.h"
#include "parallel/parallel.h"
#include "model/family.h"  // ts_family_wan: Wan2.1 transformers go to bench_wan.c
#include "model/stdit/stdit.h"
#include "sample/sampler.h"
#ifdef TS_CUDA
#include "backend/cuda/cuda_backend.h"  // --backend cuda
#endif

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

double ts_bench_sgemm_gflops(int threads, int n) {
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

double ts_bench_cpu_time(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Independent accumulators per thread (16 zmm or 12 ymm: enough to cover the FMA latency on two
// units); the inputs come from memory so nothing folds at compile time.
#define FMA_ITERS 4000000
#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx512f"))) static float fma_loop512(const float * in) {
    __m512 a[16], x = _mm512_set1_ps(in[0]), y = _mm512_set1_ps(in[1]);
    for (int i = 0; i < 16; i++) a[i] = _mm512_set1_ps(in[2] * (float)i);
    for (int it = 0; it < FMA_ITERS; it++)
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) a[i] = _mm512_fmadd_ps(a[i], x, y);
    __m512 s = a[0];
    for (int i = 1; i < 16; i++) s = _mm512_add_ps(s, a[i]);
    return _mm512_reduce_add_ps(s);
}
__attribute__((target("avx2,fma"))) static float fma_loop256(const float * in) {
    __m256 a[12], x = _mm256_set1_ps(in[0]), y = _mm256_set1_ps(in[1]);
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps(in[2] * (float)i);
    for (int it = 0; it < FMA_ITERS; it++)
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], x, y);
    float out[8], s = 0.0f;
    for (int i = 1; i < 12; i++) a[0] = _mm256_add_ps(a[0], a[i]);
    _mm256_storeu_ps(out, a[0]);
    for (int i = 0; i < 8; i++) s += out[i];
    return s;
}
#endif

double ts_bench_fma_peak_gflops(int threads) {
    static volatile float in[3] = {0.999f, 0.001f, 0.5f};
    static volatile float sink;  // keeps the loops' results alive
    float v[3] = {in[0], in[1], in[2]};
    int width = 0;  // floats per FMA instruction x chains
#if defined(__x86_64__)
    int isa = ts_cpu_isa();
    width = isa >= TS_CPU_ISA_AVX512 ? 16 * 16 : isa >= TS_CPU_ISA_AVX2 ? 8 * 12 : 0;
#endif
    if (!width) return 0.0;
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double t0 = ts_time();
#pragma omp parallel num_threads(threads)
        {
#if defined(__x86_64__)
            sink = width == 256 ? fma_loop512(v) : fma_loop256(v);
#endif
        }
        double t = ts_time() - t0;
        if (t < best) best = t;
    }
    (void)sink;
    return 2.0 * width * (double)FMA_ITERS * threads / best / 1e9;
}

static int cmp_double(const void * a, const void * b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double ts_bench_median(double * v, int n) {
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return v[n / 2];
}

// ---- scaling: strong (fixed frames) and weak (fixed frames per rank) ---------------------
struct row {
    int ranks;
    int64_t frames;
    double step_ms;     // median over reps of the max over ranks
    double halo_mb;     // bytes received per step by the busiest rank
    double wait_pct;    // halo wait / step time, max over ranks
    double stitch_ms;   // VAE decode + ordered stream to rank 0
    double rss_mb;      // peak RSS, max over ranks
    uint64_t hash;      // of the gathered latents
};

uint64_t ts_bench_fnv1a(const void * p, size_t n) {
    const unsigned char * b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

struct null_decode {
    const ts_model * m;
    ts_vae_ws * vws;
    const float * lat;
};
static enum ts_status bench_produce(void * ud, int64_t i, uint8_t * buf) {
    struct null_decode * d = ud;
    const struct ts_model_config * c = &d->m->cfg;
    int64_t cell = (int64_t)ts_cfg_latent_hw(c) * ts_cfg_latent_hw(c) * c->latent_channels;
    ts_vae_decode_u8(d->vws, d->m, buf, d->lat + i * cell);
    return TS_OK;
}
static enum ts_status bench_consume(void * ud, int64_t g, const uint8_t * buf) { return TS_OK; }

// --halo-trace: every rank's halo waits of the timed steps (one per block and
// forward), on stderr in rank order.
static void print_waits(MPI_Comm comm, const ts_dit_ws * ws, double time_timed) {
    int rank, P;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &P);
    int64_t n = 0;
    const float * w = ts_dit_ws_waits(ws, &n);
    double * ms = ts_malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += ms[i] = w[i] * 1e3;
    for (int q = 0; q < P; q++) {
        MPI_Barrier(comm);
        if (q != rank || n == 0) continue;
        fflush(stdout);
        fprintf(stderr, "# halo-trace: row of %d rank(s), rank %d: %lld waits (ms):", P, rank, (long long)n);
        for (int64_t i = 0; i < n; i++) fprintf(stderr, " %.1f", ms[i]);
        qsort(ms, (size_t)n, sizeof(double), cmp_double);
        fprintf(stderr, "\n# halo-trace: rank %d: median %.1f, 90th %.1f, max %.1f, sum %.1f ms of %.1f ms (%.1f%%)\n", rank,
                ms[n / 2], ms[(n * 9) / 10], ms[n - 1], sum, time_timed * 1e3, 100.0 * sum / (time_timed * 1e3));
        fflush(stderr);
    }
    free(ms);
}

// One row on the ranks of `comm` (collective over it): warm-up step, then
// `reps` timed sampler steps (two DiT forwards with guidance, Euler update).
static void run_row(MPI_Comm comm, const ts_model * m, const ts_text_cond * tc, const ts_text_cond * tu, int64_t T,
                    int reps, int stitch, enum ts_halo hm, int trace, struct row * out) {
    int rank, P;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &P);
    const struct ts_model_config * c = &m->cfg;
    ts_backend_t be = m->be;
    const struct ts_backend_ops * op = be->ops;
    int64_t g0, Tn;
    ts_partition(T, P, rank, &g0, &Tn);
    int hw = ts_cfg_latent_hw(c);
    int64_t cell = (int64_t)hw * hw * c->latent_channels, n = Tn * cell;
    float * host = ts_malloc((size_t)n * sizeof(float));
    ts_rng_normal_fill(host, n, 42, 0, (uint64_t)(g0 * cell));
    float * x = op->alloc(be, (size_t)n * sizeof(float));
    float * vc = op->alloc(be, (size_t)n * sizeof(float));
    float * vu = op->alloc(be, (size_t)n * sizeof(float));
    op->upload(be, x, host, (size_t)n * sizeof(float));
    ts_comm_t halo = P > 1 ? ts_comm_mpi_new(comm) : NULL;
    ts_dit_ws * ws = ts_dit_ws_new(m, Tn, g0, T);
    ts_dit_ws_set_halo_mode(ws, hm);
    int steps = reps + 1;
    double * t = ts_malloc((size_t)steps * sizeof(double));
    double wait_timed = 0, time_timed = 0;
    for (int k = 0; k < steps; k++) {
        MPI_Barrier(comm);
        double w0 = ts_dit_ws_halo_wait(ws), t0 = ts_time();
        float s0 = (float)ts_schedule_sigma(k, steps, c->shift);
        float dt = (float)(ts_schedule_sigma(k + 1, steps, c->shift) - ts_schedule_sigma(k, steps, c->shift));
        TS_ASSERT(ts_dit_forward(ws, m, vc, x, NULL, NULL, s0, tc, halo) == TS_OK);
        TS_ASSERT(ts_dit_forward(ws, m, vu, x, NULL, NULL, s0, tu, halo) == TS_OK);
        ts_sample_euler_guided(be, x, vc, vu, c->default_cfg, dt, n);
        op->sync(be);
        double dt_s = ts_time() - t0;
        MPI_Allreduce(&dt_s, &t[k], 1, MPI_DOUBLE, MPI_MAX, comm);
        if (k > 0) {
            wait_timed += ts_dit_ws_halo_wait(ws) - w0;
            time_timed += dt_s;
        } else {
            if (be != ts_backend_profile_inner(be)) ts_backend_profile_reset(be);  // --profile: the timed steps only
            if (trace && P > 1) ts_dit_ws_trace_waits(ws, 1);
        }
    }
    if (trace && P > 1) print_waits(comm, ws, time_timed);
    out->ranks = P;
    out->frames = T;
    out->step_ms = ts_bench_median(t + 1, reps) * 1e3;
    double wait_pct = time_timed > 0 ? 100.0 * wait_timed / time_timed : 0;
    MPI_Allreduce(MPI_IN_PLACE, &wait_pct, 1, MPI_DOUBLE, MPI_MAX, comm);
    out->wait_pct = wait_pct;
    int sides = (g0 > 0) + (g0 + Tn < T);
    double halo_b = 2.0 * c->depth * sides * (double)ts_dit_halo_bytes(m, hm);
    MPI_Allreduce(&halo_b, &out->halo_mb, 1, MPI_DOUBLE, MPI_MAX, comm);
    out->halo_mb /= 1e6;
    // the latents, gathered in order for the checksum
    op->download(be, host, x, (size_t)n * sizeof(float));
    int * counts = NULL, * displs = NULL;
    float * all = NULL;
    if (rank == 0) {
        counts = ts_malloc((size_t)P * sizeof(int));
        displs = ts_malloc((size_t)P * sizeof(int));
        for (int r = 0; r < P; r++) {
            int64_t a, b;
            ts_partition(T, P, r, &a, &b);
            counts[r] = (int)(b * cell);
            displs[r] = (int)(a * cell);
        }
        all = ts_malloc((size_t)(T * cell) * sizeof(float));
    }
    MPI_Gatherv(host, (int)n, MPI_FLOAT, all, counts, displs, MPI_FLOAT, 0, comm);
    if (rank == 0) out->hash = ts_bench_fnv1a(all, (size_t)(T * cell) * sizeof(float));
    free(all), free(counts), free(displs);
    // stitch: decode on every rank, ordered stream to rank 0 (no encoding)
    out->stitch_ms = 0;
    if (stitch) {
        ts_parallel sd;
        memset(&sd, 0, sizeof(sd));
        sd.rank = rank, sd.world = P, sd.comm = comm;
        size_t fb = (size_t)c->image_size * c->image_size * 3;
        struct null_decode du = {m, ts_vae_ws_new(m), x};
        MPI_Barrier(comm);
        double t0 = ts_time();
        TS_ASSERT(ts_stitch(&sd, T, fb, 4, bench_produce, &du, bench_consume, NULL) == TS_OK);
        double st = (ts_time() - t0) * 1e3;
        MPI_Allreduce(&st, &out->stitch_ms, 1, MPI_DOUBLE, MPI_MAX, comm);
        ts_vae_ws_free(m, &du.vws);
    }
    double rss = ts_peak_rss() / 1e6;
    MPI_Allreduce(&rss, &out->rss_mb, 1, MPI_DOUBLE, MPI_MAX, comm);
    ts_dit_ws_free(m, &ws);
    if (halo) halo->ops->free(halo);
    op->release(be, x), op->release(be, vc), op->release(be, vu);
    free(host);
    free(t);
}

// A barrier whose waiting ranks sleep between polls: MPI_Barrier spins, and a
// rank spinning beside a row it is not part of would slow that row's cores on a
// machine whose cores share a physical core or a power budget.
void ts_bench_quiet_barrier(MPI_Comm comm) {
    MPI_Request rq;
    MPI_Ibarrier(comm, &rq);
    for (int done = 0;;) {
        MPI_Test(&rq, &done, MPI_STATUS_IGNORE);
        if (done) return;
        struct timespec ts = {0, 200000};  // 0.2 ms
        nanosleep(&ts, NULL);
    }
}

// Rows for 1..P ranks (P = the job's size) inside one job: the first p ranks
// The rows' table (or JSON lines) on rank 0 from what the turns measured; the
// count of rows whose latents differ from the 1-rank ones.
struct scaling_acc {
    int world, rounds;
    struct row * rows;          // (world) the last turn's row, the peak RSS over turns
    double * times, * waits;    // [p-1][round]
    int * wrong;                // (world)
    double * ind_max, * ind_imb;  // --ceiling: [p-1][round], (world)
};

static int scaling_print(const struct scaling_acc * a, const char * mode, int weak, int ceiling, int json,
                         int threads, int reps, const char * model_path, enum ts_halo hm) {
    const int rounds = a->rounds;
    int wrong_total = 0;
    for (int p = 1; p <= a->world; p++) {
        struct row * r = &a->rows[p - 1];
        double * tp = a->times + (size_t)(p - 1) * rounds;
        if (rounds > 1) r->step_ms = ts_bench_median(tp, rounds);
        // wait: median over turns, like the step time; the mean is reported too
        double * wp = a->waits + (size_t)(p - 1) * rounds, wait_mean = 0;
        for (int k = 0; k < rounds; k++) wait_mean += wp[k] / rounds;
        r->wait_pct = ts_bench_median(wp, rounds);
        wrong_total += a->wrong[p - 1];
        double t1 = a->rows[0].step_ms;
        double speedup = weak ? t1 * p / r->step_ms : t1 / r->step_ms;
        double eff = weak ? 100.0 * t1 / r->step_ms : 100.0 * t1 / (p * r->step_ms);
        double ceil_pct = 100.0;
        if (ceiling && p > 1) {
            double ti = ts_bench_median(a->ind_max + (size_t)(p - 1) * rounds, rounds);
            ceil_pct = weak ? 100.0 * t1 / ti : 100.0 * t1 / (p * ti);
        }
        char extra[96] = "";
        if (ceiling && json)
            snprintf(extra, sizeof(extra), ", \"ceiling\": %.2f, \"imbalance_pct\": %.3f", ceil_pct, a->ind_imb[p - 1]);
        else if (ceiling)
            snprintf(extra, sizeof(extra), "  %7.1f  %8.2f", ceil_pct, a->ind_imb[p - 1]);
        if (json)
            printf("{\"mode\": \"%s\", \"ranks\": %d, \"frames\": %lld, \"step_ms\": %.2f, \"halo_mb\": %.3f, "
                   "\"wait_pct\": %.3f, \"wait_mean_pct\": %.3f, \"stitch_ms\": %.2f, \"rss_mb\": %.1f, \"speedup\": %.3f, "
                   "\"efficiency\": %.2f, \"wrong\": %d, \"threads\": %d, \"reps\": %d, \"model\": \"%s\", "
                   "\"halo\": \"%s\"%s}\n",
                   mode, p, (long long)r->frames, r->step_ms, r->halo_mb, r->wait_pct, wait_mean, r->stitch_ms,
                   r->rss_mb, speedup, eff, a->wrong[p - 1], threads, reps, model_path, hm == TS_HALO_QKV ? "qkv" : "act",
                   extra);
        else
            printf("  %6d  %6lld  %8.1f  %8.2f  %7.2f  %10.1f  %7.1f  %7.2f  %6.1f  %6d%s\n", p, (long long)r->frames,
                   r->step_ms, r->halo_mb, r->wait_pct, r->stitch_ms, r->rss_mb, speedup, eff, a->wrong[p - 1], extra);
        fflush(stdout);
    }
    return wrong_total;
}

// work, the others wait.
static int bench_scaling(const char * model_path, const char * mode, int64_t frames, int threads, int reps, int json,
                         int stitch, int profile, const char * halo, int trace, int ceiling) {
    ts_parallel d;
    if (ts_parallel_init(&d, NULL, NULL) != TS_OK) return ts_print_last_error();
    int weak = !strcmp(mode, "weak");
    ts_backend_t be = ts_backend_cpu_new(threads);
    if (profile) be = ts_backend_profile_new(be);
    ts_model * m = NULL;
    enum ts_status st = ts_model_load(&m, model_path, be);
    st = ts_parallel_agree(&d, st);
    if (st != TS_OK) {
        if (d.rank == 0) ts_print_last_error();
        ts_backend_free(&be);
        ts_parallel_free(&d);
        return 1;
    }
    const struct ts_model_config * c = &m->cfg;
    int W = c->temporal_window;
    enum ts_halo hm = !halo ? ts_halo_mode_default(be) : strcmp(halo, "act") ? TS_HALO_QKV : TS_HALO_ACT;
    if ((weak && frames < W) || (!weak && frames < (int64_t)W * d.world)) {
        if (d.rank == 0)
            fprintf(stderr, "timeshard: error: each rank must own at least %d frames (the temporal window)\n"
                            "---> HINT: bench more --frames or run fewer ranks\n", W);
        ts_model_free(&m), ts_backend_free(&be), ts_parallel_free(&d);
        return 1;
    }
    ts_log_set_level(TS_LOG_ERROR);
    ts_text_cond tc = {0}, tu = {0};
    ts_text_encode(m, "a red circle moving left on a blue background", &tc);
    ts_text_encode(m, "", &tu);
    struct row * rows = ts_calloc((size_t)d.world, sizeof(struct row));
    int wrong_total = 0;
    if (d.rank == 0 && !json) {
        printf("# timeshard bench --scaling %s: %s (%s), %lld frames%s, %d thread(s) per rank, halo %s, median of %d "
               "steps (rows in turns)\n", mode, model_path, c->label, (long long)frames, weak ? " per rank" : "", threads,
               hm == TS_HALO_QKV ? "qkv" : "act", reps);
        printf("#  ranks  frames  step(ms)  halo(MB)  wait(%%)  stitch(ms)  rss(MB)  speedup  eff(%%)  #wrong%s\n",
               ceiling ? "  ceil(%)  imbal(%)" : "");
    }
    // Rows take turns, one timed step each per round (after a warm-up step), so a
    // machine whose speed drifts over minutes slows every row alike; --profile runs
    // each row's steps in one go instead, to print one table per row.
    const int rounds = profile ? 1 : reps, per_round = profile ? reps : 1;
    double * times = ts_calloc((size_t)d.world * rounds, sizeof(double));  // [p-1][round], rank 0
    double * waits = ts_calloc((size_t)d.world * rounds, sizeof(double));  // [p-1][round], rank 0
    int * wrong = ts_calloc((size_t)d.world, sizeof(int));
    uint64_t * want = ts_calloc((size_t)d.world, sizeof(uint64_t));  // 1-rank checksum per row length
    // --ceiling: per row and turn, the slowest and fastest of p ranks each running
    // its own frames as an independent 1-rank problem, all at once (no exchange)
    double * ind_max = ts_calloc((size_t)d.world * rounds, sizeof(double));
    double * ind_imb = ts_calloc((size_t)d.world, sizeof(double));
    for (int rd = 0; rd < rounds; rd++) {
        for (int p = 1; p <= d.world; p++) {
            int64_t T = weak ? frames * p : frames;
            MPI_Comm sub;
            MPI_Comm_split(d.comm, d.rank < p ? 0 : MPI_UNDEFINED, d.rank, &sub);
            struct row r;
            memset(&r, 0, sizeof(r));
            ts_peak_rss_reset();  // each row's own peak
            ts_bench_quiet_barrier(d.comm);
            if (d.rank < p) {
                run_row(sub, m, &tc, &tu, T, per_round, stitch && rd == rounds - 1, hm, trace, &r);
                for (int q = 0; profile && q < p; q++) {  // each rank's table, in rank order
                    MPI_Barrier(sub);
                    if (d.rank == q) {
                        fflush(stdout);
                        fprintf(stderr, "# --profile: row of %d rank(s), rank %d, %d sampler steps of 2 forwards\n", p,
                                q, reps);
                        ts_backend_profile_print(be, stderr, reps);
                        fflush(stderr);
                    }
                }
                if (ceiling && p > 1) {
                    int64_t g0, Tn = frames;
                    if (!weak) ts_partition(frames, p, d.rank, &g0, &Tn);
                    struct row ri;
                    MPI_Barrier(sub);
                    run_row(MPI_COMM_SELF, m, &tc, &tu, Tn, per_round, 0, hm, 0, &ri);
                    double hi, lo;
                    MPI_Reduce(&ri.step_ms, &hi, 1, MPI_DOUBLE, MPI_MAX, 0, sub);
                    MPI_Reduce(&ri.step_ms, &lo, 1, MPI_DOUBLE, MPI_MIN, 0, sub);
                    if (d.rank == 0) {
                        ind_max[(size_t)(p - 1) * rounds + rd] = hi;
                        ind_imb[p - 1] += 100.0 * (hi - lo) / hi / rounds;
                    }
                }
                MPI_Comm_free(&sub);
            }
            // the 1-rank checksum of this length, once (weak rows: rank 0 alone recomputes it)
            if (rd == 0) {
                if (p == 1 || !weak) {
                    want[p - 1] = p == 1 ? r.hash : want[0];
                } else {
                    MPI_Comm one;
                    MPI_Comm_split(d.comm, d.rank == 0 ? 0 : MPI_UNDEFINED, d.rank, &one);
                    if (d.rank == 0) {
                        struct row r1;
                        run_row(one, m, &tc, &tu, T, per_round, 0, hm, 0, &r1);
                        want[p - 1] = r1.hash;
                        MPI_Comm_free(&one);
                    }
                }
            }
            ts_bench_quiet_barrier(d.comm);
            if (d.rank == 0) {
                times[(size_t)(p - 1) * rounds + rd] = r.step_ms;
                waits[(size_t)(p - 1) * rounds + rd] = r.wait_pct;
                wrong[p - 1] |= r.hash != want[p - 1];
                struct row * o = &rows[p - 1];
                double rss = o->rss_mb > r.rss_mb ? o->rss_mb : r.rss_mb;
                if (rd == rounds - 1) *o = r;
                o->rss_mb = rss;
            }
        }
        if (d.rank == 0 && rounds > 1 && isatty(2)) fprintf(stderr, "# turn %d of %d done\n", rd + 1, rounds);
    }
    if (d.rank == 0) {
        struct scaling_acc acc = {d.world, rounds, rows, times, waits, wrong, ind_max, ind_imb};
        wrong_total = scaling_print(&acc, mode, weak, ceiling, json, threads, reps, model_path, hm);
    }
    free(times), free(waits), free(wrong), free(want), free(ind_max), free(ind_imb);
    if (d.rank == 0 && !json)
        printf("# step: one sampler step (2 DiT forwards + guidance + Euler), max over ranks; halo: MB received per step "
               "by the busiest rank; wait: halo wait / step time, max over ranks; #wrong: rows whose latents differ "
               "from 1 rank's\n%s# %s: %d row(s) wrong\n",
               ceiling ? "# ceil: the efficiency of the same ranks each running its own frames alone at the same time "
                         "(no exchange; median over turns of the slowest); imbal: (slowest - fastest) / slowest of "
                         "those runs, mean over turns\n" : "",
               wrong_total ? "FAILED" : "OK", wrong_total);
    free(rows);
    ts_text_cond_free(m, &tc), ts_text_cond_free(m, &tu);
    ts_model_free(&m);
    ts_backend_free(&be);
    ts_parallel_free(&d);
    return wrong_total ? 1 : 0;
}

// One rank's DiT forward: median time, GFLOP/s against the machine's GEMM
// peak measured in the same call, and the per-op profile with --profile.
// A whole number for a bench flag in [lo, hi]; 0 (after one error line) when it is not one.
// The command line's errors: every rank of a launched job finds the same ones, and rank
// 0 alone prints them (a rank a launcher did not start is rank 0).
static void bench_arg_error(const char * fmt, ...) __attribute__((format(printf, 1, 2)));
static void bench_arg_error(const char * fmt, ...) {
    if (ts_launcher_rank() > 0) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

static int bench_int(const char * flag, const char * v, long long lo, long long hi, int * out) {
    char * end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        bench_arg_error("timeshard: error: %s '%s' is not a whole number in [%lld, %lld]\n"
                        "---> HINT: see 'timeshard bench --help'\n", flag, v, lo, hi);
        return 0;
    }
    *out = (int)x;
    return 1;
}

static int bench_forward(const char * model_path, const char * backend, const char * dtype, int frames, int threads,
                         int reps, int json, int profile) {
    ts_backend_t be = NULL;
    int kind = ts_backend_kind_from_str(backend), dt = ts_dtype_from_str(dtype);
    const struct ts_backend_reg * reg = kind > 0 ? ts_backend_reg_find((enum ts_backend_kind)kind) : NULL;
    if (kind <= 0 || dt < 0) {
        ts_error(TS_ERR_ARG, "see 'timeshard bench --help'", "bench: unknown --backend '%s' or --dtype '%s'", backend,
                 dtype);
        return ts_print_last_error();
    }
    if (!reg) {
        ts_error(TS_ERR_ARG, "configure with -DTS_CUDA=ON", "this build has no %s backend", backend);
        return ts_print_last_error();
    }
    struct ts_backend_init init = {threads, (enum ts_dtype)dt, 0};
    be = reg->create(&init);
    if (!be) return ts_print_last_error();
    const int on_gpu = kind == TS_BACKEND_CUDA;
    if (profile) be = ts_backend_profile_new(be);
    ts_model * m = NULL;
    if (ts_model_load(&m, model_path, be) != TS_OK) {
        ts_backend_free(&be);
        return ts_print_last_error();
    }
    const struct ts_model_config * c = &m->cfg;
    struct ts_shape sh;
    if (!on_gpu) {  // what a generation of these frames on one rank would plan: refused when it does not fit
        char what[64];
        snprintf(what, sizeof what, "a forward of %d frames", frames);
        if (ts_family_stdit.shape(m, frames, 0, 0, 0, &sh) != TS_OK ||
            ts_mem_check(ts_family_stdit.mem_bytes(m, &sh, sh.latent_frames), 1, what, "bench fewer --frames") != TS_OK) {
            ts_model_free(&m);
            ts_backend_free(&be);
            return ts_print_last_error();
        }
    }
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
    be->ops->sync(be);
    if (profile) ts_backend_profile_reset(be);
    double * t = ts_malloc((size_t)reps * sizeof(double));
    for (int r = 0; r < reps; r++) {
        double t0 = ts_time();
        ts_dit_forward(ws, m, v, z, NULL, NULL, 0.5f, &tc, NULL);
        be->ops->sync(be);
        t[r] = ts_time() - t0;
    }
    double med = ts_bench_median(t, reps);
    double gf = dit_flops(c, frames) / 1e9;
#ifdef TS_CUDA
    double peak = on_gpu ? ts_cuda_gemm_peak_gflops(ts_backend_profile_inner(be), 8192) : ts_bench_sgemm_gflops(threads, 1024);
#else
    double peak = ts_bench_sgemm_gflops(threads, 1024);
#endif
    if (json) {
        printf("{\"bench\": \"dit_forward\", \"model\": \"%s\", \"frames\": %d, \"tokens\": %d, \"width\": %d, "
               "\"depth\": %d, \"threads\": %d, \"reps\": %d, \"fwd_ms_median\": %.3f, \"fwd_ms_min\": %.3f, "
               "\"gflop\": %.4f, \"gflops\": %.2f, \"sgemm_gflops\": %.2f, \"pct_peak\": %.1f}\n",
               model_path, frames, ts_cfg_tokens(c), c->width, c->depth, threads, reps, med * 1e3, t[0] * 1e3, gf,
               gf / med, peak, 100.0 * gf / med / peak);
    } else {
        printf("# timeshard bench: DiT forward on one rank, %s, backend %s, %s%s\n", model_path,
               ts_backend_profile_inner(be)->ops->name, on_gpu ? dtype : "fp32", profile ? " (profiled)" : "");
        printf("#  frames  tokens  width  depth  threads   fwd(ms)   GFLOP  GFLOP/s  sgemm(GFLOP/s)  %%peak\n");
        printf("  %7d  %6d  %5d  %5d  %7d  %8.2f  %6.3f  %7.2f  %14.2f  %5.1f\n", frames, ts_cfg_tokens(c), c->width,
               c->depth, threads, med * 1e3, gf, gf / med, peak, 100.0 * gf / med / peak);
        printf("# fwd(ms): median of %d after one warm-up; peak: %s\n", reps,
               on_gpu ? "cuBLAS on 8192^3 in the same dtype (16-bit operands for bf16/fp16), best of 5" : "OpenBLAS sgemm 1024^3, best of 5, same threads");
    }
    if (profile) ts_backend_profile_print(be, json ? stderr : stdout, reps);
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

// A bench without --scaling times one rank's forward: under mpirun -np P every rank
// would time its own at once, competing for the cores, and print its own table. Refused
// there (rank 0 says why; every rank returns 1); 0 on one rank. MPI is started only
// under a launcher.
static int bench_one_rank(void) {
    if (ts_launcher_rank() < 0) return 0;
    ts_parallel d;
    if (ts_parallel_init(&d, NULL, NULL) != TS_OK) return ts_print_last_error();
    const int world = d.world, rank = d.rank;
    ts_parallel_free(&d);
    if (world == 1) return 0;
    if (rank == 0)
        fprintf(stderr,
                "timeshard: error: bench without --scaling times one rank's forward; on %d ranks each would "
                "time its own at once, competing for the cores\n"
                "---> HINT: run it as one process (no mpirun), or pass --scaling strong to time 1..%d ranks "
                "in one job\n",
                world, world);
    return 1;
}

int ts_bench_command(int argc, char ** argv) {
    ts_error_clear();
    const char * model_path = NULL;
    int frames = 0, threads = 1, reps = 5, json = 0, stitch = 1, profile = 0, trace = 0, ceiling = 0;
    int width = 0, height = 0;
    const char * save = NULL;
    const char * scaling = NULL, * backend = "cpu", * dtype = "fp32", * halo = NULL;
    static const struct option lo[] = {{"backend", required_argument, 0, 'B'}, {"dtype", required_argument, 0, 'D'},{"model", required_argument, 0, 'm'}, {"frames", required_argument, 0, 'n'},
                                       {"threads", required_argument, 0, 't'}, {"reps", required_argument, 0, 'r'},
                                       {"json", no_argument, 0, 'j'},          {"help", no_argument, 0, 'h'},
                                       {"scaling", required_argument, 0, 's'}, {"no-stitch", no_argument, 0, 'N'},
                                       {"profile", no_argument, 0, 'P'},       {"halo", required_argument, 0, 'H'},
                                       {"halo-trace", no_argument, 0, 'T'},    {"ceiling", no_argument, 0, 'C'},
                                       {"width", required_argument, 0, 'W'},   {"height", required_argument, 0, 'E'},
                                       {"save-output", required_argument, 0, 'O'},
                                       {0, 0, 0, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "m:n:t:r:jhs:", lo, NULL)) != -1) {
        switch (ch) {
        case 's': scaling = optarg; break;
        case 'B': backend = optarg; break;
        case 'D': dtype = optarg; break;
        case 'N': stitch = 0; break;
        case 'P': profile = 1; break;
        case 'T': trace = 1; break;
        case 'C': ceiling = 1; break;
        case 'H': halo = optarg; break;
        case 'W': if (!bench_int("--width", optarg, 1, 8192, &width)) return 1; break;
        case 'E': if (!bench_int("--height", optarg, 1, 8192, &height)) return 1; break;
        case 'O': save = optarg; break;
        case 'm': model_path = optarg; break;
        case 'n': if (!bench_int("--frames", optarg, 1, 1 << 20, &frames)) return 1; break;
        case 't': if (!bench_int("--threads", optarg, 1, 4096, &threads)) return 1; break;
        case 'r': if (!bench_int("--reps", optarg, 1, 100000, &reps)) return 1; break;
        case 'j': json = 1; break;
        case 'h':
            if (ts_launcher_rank() > 0) return 0;  // rank 0 prints the help
            printf("usage: timeshard bench [options]\n\n"
                   "Times the DiT forward of one rank (median of --reps after a warm-up) and\n"
                   "reports its GFLOP/s beside this machine's sgemm GFLOP/s, same threads. Run it as\n"
                   "one process: under mpirun it needs --scaling (more than one rank without it is\n"
                   "refused, as each rank would time its own forward while competing for the cores).\n\n"
                   "  -m, --model PATH   weights (default: the shipped model); a Wan2.1 transformer (a\n"
                   "                     diffusers directory or one .safetensors file) times its forward\n"
                   "                     on a fixed input on the CPU (--scaling strong only; not with\n"
                   "                     --halo, --halo-trace, --ceiling, --no-stitch, --profile,\n"
                   "                     --backend, --dtype)\n"
                   "  -n, --frames N     frames in the forward (default: 16; Wan2.1: video frames, 4k+1,\n"
                   "                     default 9)\n"
                   "      --width W, --height H  Wan2.1: the video's size (multiples of 16; default 160x96)\n"
                   "      --save-output F  Wan2.1, one rank: the forward's output, raw float32 (T, h, w, C),\n"
                   "                     to compare with another implementation (tools/wan/bench_diffusers.py)\n"
                   "  -t, --threads N    CPU threads (default: 1)\n"
                   "  -r, --reps N       timed repetitions (default: 5)\n"
                   "      --json         JSON (one object per line) instead of the table\n"
                   "      --scaling MODE strong (--frames in all) or weak (--frames per rank): under\n"
                   "                     mpirun -np P, one row per rank count 1..P in one job; each row\n"
                   "                     times --reps sampler steps, the rows taking turns (a warm-up\n"
                   "                     step, then one timed step, per row and turn), and checks its\n"
                   "                     latents against 1 rank's every turn; rss is each row's own peak\n"
                   "      --no-stitch    skip the decode + stitch timing in scaling rows\n"
                   "      --halo MODE    scaling rows: qkv (default on cpu) or act, as generate --halo\n"
                   "      --halo-trace   scaling rows: every rank's halo waits of the timed steps (one\n"
                   "                     per block and forward, ms) and their median/90th/max, on stderr\n"
                   "      --ceiling      scaling rows: also time, in the same turns, each row's ranks running\n"
                   "                     their own frames as independent 1-rank problems at once (no\n"
                   "                     exchange): ceil = the efficiency that allows, imbal = how far the\n"
                   "                     slowest of them trails the fastest (the machine's share of the wait)\n"
                   "      --backend NAME cpu (default) or cuda (CUDA builds; single-rank timing only):\n"
                   "                     the peak is then a cuBLAS GEMM on 8192^3 in --dtype (16-bit operands\n"
                   "                     for bf16/fp16)\n"
                   "      --dtype NAME   cuda: fp32, tf32, bf16 or fp16 (default fp32); bf16/fp16 also run the\n"
                   "                     spatial attention on tensor cores\n"
                   "      --profile      also time each op alone (the forward waits for the device\n"
                   "                     after every op, so its time grows) and print the per-op table\n"
                   "                     (with --scaling: every rank's, per row, on stderr; the rows\n"
                   "                     then run one after another, not in turns)\n");
            return 0;
        default:
            bench_arg_error("timeshard: error: bad bench option\n---> HINT: see 'timeshard bench --help'\n");
            return 1;
        }
    }
    if (optind < argc) {
        bench_arg_error("timeshard: error: bench takes no argument '%s'\n---> HINT: see 'timeshard bench --help'\n",
                argv[optind]);
        return 1;
    }
    if (model_path && ts_family_wan.probe(model_path)) {
        if (scaling && strcmp(scaling, "strong")) {
            bench_arg_error("timeshard: error: Wan2.1 benches --scaling strong only\n---> HINT: drop --scaling or pass strong\n");
            return 1;
        }
        // the default family's options: a Wan2.1 bench would ignore them
        const char * other = halo ? "--halo" : trace ? "--halo-trace" : ceiling ? "--ceiling" : !stitch ? "--no-stitch"
                             : profile                     ? "--profile"
                             : strcmp(backend, "cpu") != 0 ? "--backend"
                             : strcmp(dtype, "fp32") != 0  ? "--dtype"
                                                           : NULL;
        if (other) {
            bench_arg_error("timeshard: error: %s is not available for a Wan2.1 bench (it times the CPU forward)\n"
                            "---> HINT: leave out %s; see 'timeshard bench --help'\n", other, other);
            return 1;
        }
        if (frames < 0 || width < 0 || height < 0 || threads < 1 || reps < 1) {
            bench_arg_error("timeshard: error: --frames, --width, --height, --threads and --reps must be positive\n"
                            "---> HINT: see 'timeshard bench --help'\n");
            return 1;
        }
        if (!scaling && bench_one_rank() != 0) return 1;
        struct ts_bench_wan_args a = {model_path, frames ? frames : 9, width ? width : 160, height ? height : 96,
                                      threads, reps, json, scaling, save};
        return ts_bench_wan(&a);
    }
    if (width || height || save) {
        bench_arg_error("timeshard: error: --width, --height and --save-output are for Wan2.1 models\n---> HINT: the default "
                        "family's size is its model's\n");
        return 1;
    }
    if (!frames) frames = 16;
    if (frames < 1 || threads < 1 || reps < 1) {
        bench_arg_error("timeshard: error: --frames, --threads and --reps must be positive\n---> HINT: see 'timeshard bench --help'\n");
        return 1;
    }
    if (!model_path) model_path = ts_default_model_path();
    if (scaling && strcmp(scaling, "strong") && strcmp(scaling, "weak")) {
        bench_arg_error("timeshard: error: --scaling must be strong or weak\n---> HINT: strong: --frames in all; weak: --frames per rank\n");
        return 1;
    }
    if (halo && strcmp(halo, "qkv") && strcmp(halo, "act")) {
        bench_arg_error("timeshard: error: --halo must be qkv or act\n---> HINT: see 'timeshard bench --help'\n");
        return 1;
    }
    if (scaling && model_path)
        return bench_scaling(model_path, scaling, frames, threads, reps, json, stitch, profile, halo, trace, ceiling);
    if (!model_path) {
        ts_error(TS_ERR_IO, "pass --model PATH", "the default model was not found");
        return ts_print_last_error();
    }
    if (bench_one_rank() != 0) return 1;
    return bench_forward(model_path, backend, dtype, frames, threads, reps, json, profile);
}
