// The exactness of the Wan2.1 forward under time-sharding, in one process:
// P = 1..4 threads acting as ranks (each its own frames, backend and work
// space; K|V rows exchanged through an in-process all-gather, as a rank
// receives them) give the whole-video forward bit for bit, with global and
// windowed attention; a window >= T gives the global result bit for bit; the
// whole-video forward does not depend on the thread count. Storyboards: each
// latent frame cross-attends to its own segment's text (with prompt weights),
// blended frames mix two, and P ranks give the whole video bit for bit.
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "model/wan/wan.h"
#include "parallel/partition.h"
#include "wan_fixture.h"

// ---- an all-gather between threads ------------------------------------------------------------

#define MAXP 8
struct tshared {
    int P;
    pthread_barrier_t bar;
    void * buf[MAXP];
    size_t own[MAXP][2], need[MAXP][2];
    size_t received[MAXP];  // bytes each rank received, over the whole forward
};
struct tcomm {
    struct ts_comm base;  // first: a ts_comm_t is a struct tcomm *
    struct tshared * sh;
    int rank;
};
static enum ts_status t_post(ts_comm_t c, void * buf, size_t own_off, size_t own_bytes, size_t need_off,
                             size_t need_bytes) {
    struct tcomm * t = (struct tcomm *)c;
    struct tshared * sh = t->sh;
    sh->buf[t->rank] = buf;
    sh->own[t->rank][0] = own_off, sh->own[t->rank][1] = own_off + own_bytes;
    sh->need[t->rank][0] = need_off, sh->need[t->rank][1] = need_off + need_bytes;
    return TS_OK;
}
static enum ts_status t_wait(ts_comm_t c) {
    struct tcomm * t = (struct tcomm *)c;
    struct tshared * sh = t->sh;
    int me = t->rank;
    pthread_barrier_wait(&sh->bar);  // every rank's block is in place
    for (int r = 0; r < sh->P; r++) {
        size_t lo = sh->own[r][0] > sh->need[me][0] ? sh->own[r][0] : sh->need[me][0];
        size_t hi = sh->own[r][1] < sh->need[me][1] ? sh->own[r][1] : sh->need[me][1];
        if (r != me && lo < hi) {
            memcpy((char *)sh->buf[me] + (lo - sh->need[me][0]), (char *)sh->buf[r] + (lo - sh->need[r][0]), hi - lo);
            sh->received[me] += hi - lo;
        }
    }
    pthread_barrier_wait(&sh->bar);  // every copy done before a buffer changes
    return TS_OK;
}
static const struct ts_comm_ops tcomm_ops = {.name = "threads", .gather_post = t_post, .gather_wait = t_wait};

struct job {
    const ts_wan_model * m;
    struct tcomm comm;
    int64_t g0, Tn, T;
    int window;
    const struct wan_io * io;
    const struct ts_wan_text * tx;  // NULL: io->context for every frame
    float * v;                      // whole video output (T, h, w, C)
    enum ts_status st;
};

static void * run_rank(void * arg) {
    struct job * j = arg;
    const struct wan_io * io = j->io;
    ts_backend_t be = ts_backend_cpu_new(1);
    ts_wan_ws * ws = NULL;
    int64_t fsz = (int64_t)io->h * io->w * io->C;
    j->st = ts_wan_ws_new(j->m, j->T, j->g0, j->Tn, io->h, io->w, j->window, io->L, &ws);
    if (j->st == TS_OK) {
        ts_wan_ws_set_backend(ws, be);
        if (j->tx) {  // this rank's slice of the per-frame plan
            struct ts_wan_text t = *j->tx;
            t.seg_a = t.seg_a + j->g0, t.seg_b = t.seg_b + j->g0, t.alpha = t.alpha + j->g0;
            j->st =
                ts_wan_forward_text(ws, j->m, j->v + j->g0 * fsz, io->x + j->g0 * fsz, io->timestep, &t, &j->comm.base);
        } else {
            j->st = ts_wan_forward(ws, j->m, j->v + j->g0 * fsz, io->x + j->g0 * fsz, io->timestep, io->context,
                                   &j->comm.base);
        }
    }
    ts_wan_ws_free(&ws);
    ts_backend_free(&be);
    return NULL;
}

static void whole(ts_wan_model * m, ts_backend_t be, const struct wan_io * io, int window, float * v) {
    ts_wan_ws * ws = NULL;
    if (ts_wan_ws_new(m, io->T, 0, io->T, io->h, io->w, window, io->L, &ws) != TS_OK ||
        (ts_wan_ws_set_backend(ws, be), ts_wan_forward(ws, m, v, io->x, io->timestep, io->context, NULL)) != TS_OK)
        ts_verdict("whole-video forward", 0, ts_last_error());
    ts_wan_ws_free(&ws);
}

// P threads as ranks over the whole video (window W, text tx or io's context) into got: 1 if every rank ran.
static int run_ranks(const ts_wan_model * m, const struct wan_io * io, const struct ts_wan_text * tx, int W, int P,
                     float * got, struct tshared * sh) {
    *sh = (struct tshared){.P = P};
    pthread_barrier_init(&sh->bar, NULL, (unsigned)P);
    struct job jobs[MAXP];
    pthread_t th[MAXP];
    for (int r = 0; r < P; r++) {
        jobs[r] = (struct job){.m = m, .T = io->T, .window = W, .io = io, .tx = tx, .v = got};
        jobs[r].comm.base.ops = &tcomm_ops;
        jobs[r].comm.sh = sh;
        jobs[r].comm.rank = r;
        ts_partition(io->T, P, r, &jobs[r].g0, &jobs[r].Tn);
        pthread_create(&th[r], NULL, run_rank, &jobs[r]);
    }
    int ok = 1;
    for (int r = 0; r < P; r++) {
        pthread_join(th[r], NULL);
        ok &= jobs[r].st == TS_OK;
    }
    pthread_barrier_destroy(&sh->bar);
    return ok;
}

// 1 if frames [f0, f1) of a and b (frames of fsz floats) hold the same bits.
static int frames_equal(const float * a, const float * b, int64_t f0, int64_t f1, int64_t fsz) {
    return memcmp(a + f0 * fsz, b + f0 * fsz, (size_t)((f1 - f0) * fsz) * sizeof(float)) == 0;
}

// Storyboards on model `cfg` over 7 random latent frames: segment A (the
// fixture's text) for frames 0-2, B (other text, prompt weights) for 3-6.
// With one layer a frame's output depends on its own segment's text only, so
// each frame equals the single-text forward of its segment bit for bit; a
// blended frame differs from both; a one-segment plan is the plain forward;
// 1-4 ranks give the whole video bit for bit.
static void story_checks(const char * dir, const char * cfg, ts_backend_t be) {
    struct wan_io io = {0};
    char path[1024], name[160];
    snprintf(path, sizeof path, "%s/%s", dir, cfg);
    ts_wan_model * m = NULL;
    if (wan_io_open(&io, dir, cfg) || ts_wan_load(path, be, &m) != TS_OK) {
        ts_verdict(cfg, 0, ts_last_error());
        return;
    }
    io.T = 7;
    const int64_t fsz = (int64_t)io.h * io.w * io.C, n = io.T * fsz, rows = (int64_t)io.L * io.text_dim;
    float *x = ts_test_alloc(n), *ctx = ts_test_alloc(2 * rows), *bias = ts_test_alloc(io.L);
    ts_test_fill(x, n, 1.0f);
    memcpy(ctx, io.context, (size_t)rows * sizeof(float));
    ts_test_fill(ctx + rows, rows - 2 * io.text_dim, 1.0f);  // B: 2 rows of padding
    for (int i = 0; i < io.L; i++) bias[i] = i == 1 ? logf(2.5f) : i == 2 ? -INFINITY : 0.0f;
    io.x = x;
    int seg_a[7] = {0, 0, 0, 1, 1, 1, 1}, seg_b[7] = {0}, zero[7] = {0};
    float alpha[7] = {0}, none[7] = {0};
    const float * biases[2] = {NULL, bias};
    float *a = ts_test_alloc(n), *b = ts_test_alloc(n), *story = ts_test_alloc(n), *one = ts_test_alloc(n),
          *got = ts_test_alloc(n);
    struct ts_wan_text ta = {ctx, NULL, 1, NULL, NULL, NULL}, tb = {ctx + rows, biases + 1, 1, NULL, NULL, NULL};
    struct ts_wan_text ts1 = {ctx, biases, 1, zero, zero, none}, ts2 = {ctx, biases, 2, seg_a, seg_b, alpha};
    ts_wan_ws * ws = NULL;
    int ok = ts_wan_ws_new(m, io.T, 0, io.T, io.h, io.w, 0, io.L, &ws) == TS_OK &&
             ts_wan_forward_text(ws, m, a, x, io.timestep, &ta, NULL) == TS_OK &&
             ts_wan_forward_text(ws, m, b, x, io.timestep, &tb, NULL) == TS_OK &&
             ts_wan_forward_text(ws, m, one, x, io.timestep, &ts1, NULL) == TS_OK &&
             ts_wan_forward_text(ws, m, story, x, io.timestep, &ts2, NULL) == TS_OK;
    if (!ok) ts_verdict(cfg, 0, ts_last_error());
    snprintf(name, sizeof name, "wan.%s.story.one_segment_is_plain", cfg);
    if (ok) ts_check_bits(name, one, a, n);
    if (ok && m->cfg.layers == 1) {
        snprintf(name, sizeof name, "wan.%s.story.frames_0-2_are_A_3-6_are_B", cfg);
        ts_verdict(name, frames_equal(story, a, 0, 3, fsz) && frames_equal(story, b, 3, 7, fsz), NULL);
        snprintf(name, sizeof name, "wan.%s.story.A_and_B_differ", cfg);
        ts_verdict(name, !frames_equal(a, b, 0, 7, fsz), NULL);
    }
    // frame 3 blended: half B (its own), half A; the other frames as before
    alpha[3] = 0.5f, seg_b[3] = 0;
    ok = ok && ts_wan_forward_text(ws, m, got, x, io.timestep, &ts2, NULL) == TS_OK;
    if (ok && m->cfg.layers == 1) {
        snprintf(name, sizeof name, "wan.%s.story.blend_only_frame_3", cfg);
        ts_verdict(name,
                   frames_equal(got, story, 0, 3, fsz) && frames_equal(got, story, 4, 7, fsz) &&
                       !frames_equal(got, story, 3, 4, fsz) && !frames_equal(got, a, 3, 4, fsz),
                   NULL);
    }
    memcpy(story, got, (size_t)n * sizeof(float));
    for (int P = 1; ok && P <= 4; P++) {
        struct tshared sh;
        memset(got, 0, (size_t)n * sizeof(float));
        snprintf(name, sizeof name, "wan.%s.story.P%d_vs_whole", cfg, P);
        if (!run_ranks(m, &io, &ts2, 0, P, got, &sh))
            ts_verdict(name, 0, ts_last_error());
        else
            ts_check_bits(name, got, story, n);
    }
    ts_wan_ws_free(&ws);
    free(x), free(ctx), free(bias), free(a), free(b), free(story), free(one), free(got);
    ts_wan_free(&m);
    ts_st_close(&io.st);
}

int main(int argc, char ** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
        return 2;
    }
    const char * dir = argv[1];
    ts_backend_t be1 = ts_backend_cpu_new(1), be2 = ts_backend_cpu_new(2);
    // the three fixtures as diffusers ran them, then c3's model on larger random
    // latents (7 frames of 20x24: 120 tokens a frame, so the GEMM's and the
    // attention's row blocks fall across frame and rank boundaries differently)
    const char * cfgs[] = {"c3_hd64", "c4_hd24", "c2_hd32", "c3_hd64"};
    float *big_x = NULL, *big_ctx = NULL;
    for (int ci = 0; ci < 4; ci++) {
        struct wan_io io = {0};
        char path[1024], name[160];
        snprintf(path, sizeof path, "%s/%s", dir, ci == 3 ? "c3_hd64" : cfgs[ci]);
        ts_wan_model * m = NULL;
        if (wan_io_open(&io, dir, ci == 3 ? "c3_hd64" : cfgs[ci]) || ts_wan_load(path, be2, &m) != TS_OK) {
            ts_verdict(cfgs[ci], 0, ts_last_error());
            continue;
        }
        if (ci == 3) {
            io.T = 7, io.h = 20, io.w = 24, io.L = 16;
            big_x = ts_test_alloc((int64_t)io.T * io.h * io.w * io.C);
            big_ctx = ts_test_alloc((int64_t)io.L * io.text_dim);
            ts_test_fill(big_x, (int64_t)io.T * io.h * io.w * io.C, 1.0f);
            ts_test_fill(big_ctx, (int64_t)12 * io.text_dim, 1.0f);  // 4 zero rows of padding
            io.x = big_x, io.context = big_ctx, io.timestep = 321.5f;
            cfgs[ci] = "c3_hd64_20x24";
        }
        int64_t n = (int64_t)io.T * io.h * io.w * io.C;
        float * ref = ts_test_alloc(n);
        float * got = ts_test_alloc(n);
        whole(m, be2, &io, 0, ref);
        whole(m, be1, &io, 0, got);
        snprintf(name, sizeof name, "wan.%s.threads_1_vs_2", cfgs[ci]);
        ts_check_bits(name, got, ref, n);
        whole(m, be1, &io, io.T, got);
        snprintf(name, sizeof name, "wan.%s.window_T_vs_global", cfgs[ci]);
        ts_check_bits(name, got, ref, n);
        int windows[] = {0, 1, 2};
        for (int wi = 0; wi < 3; wi++) {
            int W = windows[wi];
            if (W >= io.T) continue;
            float * wref = ts_test_alloc(n);
            whole(m, be2, &io, W, wref);
            if (W >= io.T - 1) {  // covers every frame: the global result
                snprintf(name, sizeof name, "wan.%s.window%d_of_T%d_vs_global", cfgs[ci], W, io.T);
                ts_check_bits(name, wref, ref, n);
            } else if (W > 0) {  // a real window changes the result (it is not silently global)
                double num = 0;
                for (int64_t i = 0; i < n; i++) num = fabs(wref[i] - ref[i]) > num ? fabs(wref[i] - ref[i]) : num;
                snprintf(name, sizeof name, "wan.%s.window%d_differs_from_global", cfgs[ci], W);
                char d[64];
                snprintf(d, sizeof d, "max|diff|=%.2g", num);
                ts_verdict(name, num > 0, d);
            }
            for (int P = 1; P <= 4 && P <= io.T; P++) {
                struct tshared sh;
                memset(got, 0, (size_t)n * sizeof(float));
                int ok = run_ranks(m, &io, NULL, W, P, got, &sh);
                snprintf(name, sizeof name, "wan.%s.T%d.window%d.P%d_vs_whole", cfgs[ci], io.T, W, P);
                if (!ok)
                    ts_verdict(name, 0, ts_last_error());
                else
                    ts_check_bits(name, got, wref, n);
                // each rank received exactly the other ranks' frames within its window, every block
                int exact = 1;
                size_t frame_kv = (size_t)(io.h / 2) * (io.w / 2) * 2 * m->cfg.dim * sizeof(float), total = 0;
                for (int r = 0; r < P; r++) {
                    int64_t g0 = 0, Tn = 0;
                    ts_partition(io.T, P, r, &g0, &Tn);
                    int64_t lo = W > 0 && g0 - W > 0 ? g0 - W : 0;
                    int64_t hi = W > 0 && g0 + Tn + W < io.T ? g0 + Tn + W : io.T;
                    size_t want = (size_t)(hi - lo - Tn) * frame_kv * (size_t)m->cfg.layers;
                    exact &= sh.received[r] == want;
                    total += sh.received[r];
                }
                char d[96];
                snprintf(d, sizeof d, "%zu bytes received in all (%d blocks)", total, m->cfg.layers);
                snprintf(name, sizeof name, "wan.%s.T%d.window%d.P%d_gathers_only_the_window", cfgs[ci], io.T, W, P);
                ts_verdict(name, exact, d);
            }
            free(wref);
        }
        free(ref);
        free(got);
        ts_wan_free(&m);
        ts_st_close(&io.st);
    }
    free(big_x);
    free(big_ctx);
    story_checks(dir, "c1_hd16", be2);
    story_checks(dir, "c2_hd32", be2);
    ts_backend_free(&be1);
    ts_backend_free(&be2);
    return ts_test_finish("test_wan_chunks");
}
