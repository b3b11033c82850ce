// Unit tests of src/interp: flow accuracy on translating textures, the timing
// rule, interpolation quality on a synthetic scene, the plain blend under a
// pixel of motion, bit-identical results for any thread count and for any
// split of the keyframes into rank pieces.
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts_test.h"
#include "core/common.h"
#include "parallel/parallel.h"  // ts_partition
#include "interp/interp.h"
#include "synth.h"

// Mean and max flow error against a constant (dx, dy), over pixels at least m from the border.
static void flow_error(const float * F, int w, int h, int m, double dx, double dy, double * mean, double * p95) {
    int n = 0;
    double * e = malloc(sizeof(double) * w * h);
    double s = 0;
    for (int y = m; y < h - m; y++)
        for (int x = m; x < w - m; x++) {
            const double ex = F[2 * (y * w + x)] - dx, ey = F[2 * (y * w + x) + 1] - dy;
            e[n] = sqrt(ex * ex + ey * ey);
            s += e[n++];
        }
    // 95th percentile by partial selection (small n)
    int k = (int)(0.95 * n);
    for (int i = 0; i <= k; i++)
        for (int j = i + 1; j < n; j++)
            if (e[j] < e[i]) {
                double t = e[i];
                e[i] = e[j];
                e[j] = t;
            }
    *mean = s / n;
    *p95 = e[k];
    free(e);
}

static void test_flow_translation(void) {
    const int w = 128, h = 96;
    float * I0 = malloc(sizeof(float) * w * h), * I1 = malloc(sizeof(float) * w * h);
    float * F = malloc(sizeof(float) * 2 * w * h);
    struct ts_flow_params fp;
    ts_flow_params_init(&fp);
    const double shifts[][2] = {{0.4, -0.3}, {2.3, -1.7}, {-6.5, 4.25}, {9.0, -5.5}};
    for (int i = 0; i < 4; i++) {
        const double dx = shifts[i][0], dy = shifts[i][1];
        synth_gray_shifted(I0, w, h, 0, 0);
        synth_gray_shifted(I1, w, h, dx, dy);
        ts_flow_estimate(&fp, I0, I1, w, h, F);
        double mean, p95;
        // margin: pixels whose match leaves the frame have no answer
        const int m = 4 + (int)ceil(fmax(fabs(dx), fabs(dy)));
        flow_error(F, w, h, m, dx, dy, &mean, &p95);
        char name[64], det[96];
        snprintf(name, sizeof name, "flow.translate(%.2f,%.2f)", dx, dy);
        snprintf(det, sizeof det, "mean_err=%.3f px  p95=%.3f px (limits 0.25, 0.25)", mean, p95);
        ts_verdict(name, mean < 0.25 && p95 < 0.25, det);
    }
    free(I0);
    free(I1);
    free(F);
}

static void test_timing(void) {
    struct ts_interp_timing tm;
    int ok = ts_interp_timing_from_fps(12, 60, &tm) == TS_OK && tm.num == 1 && tm.den == 5;
    ok = ok && ts_interp_out_count(13, tm) == 61 && ts_interp_out_count(1, tm) == 1 && ts_interp_out_count(0, tm) == 0;
    ts_verdict("timing.12to60", ok, "1/5, 13 keyframes -> 61 frames");
    ok = ts_interp_timing_from_fps(24, 60, &tm) == TS_OK && tm.num == 2 && tm.den == 5;
    ok = ok && ts_interp_out_count(5, tm) == 11;  // 4 * 2.5 = 10 -> 11
    ok = ok && ts_interp_out_count(4, tm) == 8;   // 3 * 2.5 = 7.5 -> 8
    ts_verdict("timing.24to60", ok, "2/5, 5 keyframes -> 11, 4 -> 8");
    ok = ts_interp_timing_from_fps(30000.0 / 1001, 60000.0 / 1001, &tm) == TS_OK && tm.num == 1 && tm.den == 2;
    ok = ok && ts_interp_timing_from_fps(30000.0 / 1001, 60, &tm) == TS_OK && tm.num == 500 && tm.den == 1001;
    ts_verdict("timing.ntsc", ok, "29.97->59.94 = 1/2, 29.97->60 = 500/1001");
    ts_error_clear();
    ok = ts_interp_timing_from_fps(60, 60, &tm) == TS_ERR_ARG;
    ts_error_clear();
    ok = ok && ts_interp_timing_from_fps(60, 30, &tm) == TS_ERR_ARG;
    ts_error_clear();
    ok = ok && ts_interp_timing_from_fps(0, 30, &tm) == TS_ERR_ARG;
    ts_error_clear();
    ts_verdict("timing.errors", ok, "fps-out <= fps-in and zero rates are errors");
    // ranges over any split cover [0, total) in order
    const struct ts_interp_timing tms[] = {{1, 5}, {2, 5}, {1000, 2002}, {3, 7}};
    ok = 1;
    for (int i = 0; i < 4; i++)
        for (int64_t T = 1; T < 30; T++)
            for (int P = 1; P <= T && P <= 6; P++) {
                int64_t next = 0;
                for (int r = 0; r < P; r++) {
                    int64_t g0, n, j0, jn;
                    ts_partition(T, P, r, &g0, &n);
                    ts_interp_out_range(T, g0, n, tms[i], &j0, &jn);
                    ok = ok && j0 == next && jn >= 0;
                    next = j0 + jn;
                }
                ok = ok && next == ts_interp_out_count(T, tms[i]);
            }
    ts_verdict("timing.rank_ranges", ok, "ranges tile the output for every split");
}

// ---- keyframe sources ---------------------------------------------------------------------
struct scene_src {
    int w, h;
    int64_t T;         // keyframes in the video
    int64_t fail_at;   // return an error at this keyframe (-1: never)
    int64_t last;      // last g asked (checks the order)
    int order_ok;
};

static enum ts_status scene_key(void * ud, int64_t g, uint8_t * rgb, int * got) {
    struct scene_src * s = ud;
    if (g <= s->last) s->order_ok = 0;
    s->last = g;
    if (g == s->fail_at) return ts_error(TS_ERR_IO, NULL, "test source fails at %lld", (long long)g);
    *got = g < s->T;
    if (*got) synth_scene(rgb, s->w, s->h, (double)g * 5);  // 5 ground-truth frames per keyframe
    return TS_OK;
}

// All output frames of keyframes [g0, g0+count) (count -1: all) into out; returns the count.
static int64_t run_stream(const struct ts_interp_params * ip, struct scene_src * src, struct ts_interp_timing tm,
                          int64_t g0, int64_t count, int rank, const uint8_t * halo, uint8_t * out, int64_t max) {
    ts_interp_stream * s = NULL;
    enum ts_status st = rank ? ts_interp_rank_stream_open(ip, src->w, src->h, tm, g0, count, scene_key, src, halo, &s)
                             : ts_interp_stream_open(ip, src->w, src->h, tm, g0, count, scene_key, src, &s);
    if (st != TS_OK) return -1;
    const size_t fb = (size_t)src->w * src->h * 3;
    int64_t n = 0, j = 0;
    int got = 1;
    while ((st = ts_interp_stream_next(s, out + (n < max ? n : max - 1) * fb, &j, &got)) == TS_OK && got) n++;
    ts_interp_stream_free(&s);
    return st == TS_OK ? n : -1;
}

static double psnr_u8(const uint8_t * a, const uint8_t * b, size_t n) {
    double se = 0;
    for (size_t i = 0; i < n; i++) se += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return se == 0 ? 99 : 10 * log10(255.0 * 255.0 / (se / n));
}

static void test_quality(const struct ts_interp_params * ip) {
    const int w = 96, h = 64;
    const size_t fb = (size_t)w * h * 3;
    uint8_t * a = malloc(fb), * b = malloc(fb), * mid = malloc(4 * fb), * gt = malloc(fb), * blend = malloc(fb);
    synth_scene(a, w, h, 5);
    synth_scene(b, w, h, 10);
    ts_interp_frames(ip, a, b, w, h, 4, mid);
    double p_mc = 0, p_blend = 0, p_rep = 0;
    for (int k = 1; k <= 4; k++) {
        synth_scene(gt, w, h, 5 + k);
        const double t = k / 5.0;
        for (size_t i = 0; i < fb; i++) blend[i] = synth_u8((1 - t) * a[i] + t * b[i]);
        p_mc += psnr_u8(mid + (k - 1) * fb, gt, fb) / 4;
        p_blend += psnr_u8(blend, gt, fb) / 4;
        p_rep += psnr_u8(t < 0.5 ? a : b, gt, fb) / 4;  // nearest keyframe
    }
    char det[128];
    snprintf(det, sizeof det, "PSNR mc=%.2f dB  blend=%.2f  repeat=%.2f (mc > both + 3 dB)", p_mc, p_blend, p_rep);
    ts_verdict("interp.quality.disc_on_texture", p_mc > p_blend + 3 && p_mc > p_rep + 3, det);
    free(a);
    free(b);
    free(mid);
    free(gt);
    free(blend);
}

// Under motion_lo of motion everywhere the frame is the plain blend, byte for byte;
// with the gate off (motion_lo = motion_hi = -1) the same pair is motion-compensated.
static void test_subpixel_blend(const struct ts_interp_params * ip) {
    const int w = 64, h = 48;
    const size_t fb = (size_t)w * h * 3;
    uint8_t * a = malloc(fb), * b = malloc(fb), * out = malloc(fb), * blend = malloc(fb);
    synth_scene(a, w, h, 3);
    synth_scene(b, w, h, 3.1);  // the disc moves (0.12, 0.06) px
    ts_interp_pair * pr = ts_interp_pair_new(w, h);
    ts_interp_pair_set(pr, ip, a, b);
    const float * f01 = ts_interp_pair_flow(pr, 0), * f10 = ts_interp_pair_flow(pr, 1);
    float fmax = 0;
    for (size_t i = 0; i < 2 * (size_t)w * h; i++) fmax = fmaxf(fmax, fmaxf(fabsf(f01[i]), fabsf(f10[i])));
    ts_interp_pair_frame(pr, ip, 0.4, out);
    for (size_t i = 0; i < fb; i++) {
        const float t = 0.4f, v = (1.0f - t) * a[i] + t * b[i] + 0.5f;  // as the library rounds
        blend[i] = (uint8_t)(v > 255 ? 255 : v);
    }
    int ok = fmax < ip->motion_lo && !memcmp(out, blend, fb);
    struct ts_interp_params off = *ip;
    off.motion_lo = off.motion_hi = -1;
    ts_interp_pair_set(pr, &off, a, b);
    ts_interp_pair_frame(pr, &off, 0.4, out);
    ok = ok && memcmp(out, blend, fb) != 0;
    char det[96];
    snprintf(det, sizeof det, "max |flow| %.3f px < %.2f: the blend; gate off: warped", fmax, ip->motion_lo);
    ts_verdict("interp.subpixel_is_blend", ok, det);
    ts_interp_pair_free(&pr);
    free(a);
    free(b);
    free(out);
    free(blend);
}

static void test_threads(const struct ts_interp_params * ip) {
    const int w = 80, h = 56;
    const size_t fb = (size_t)w * h * 3;
    uint8_t * a = malloc(fb), * b = malloc(fb), * out1 = malloc(3 * fb), * outn = malloc(3 * fb);
    synth_scene(a, w, h, 0);
    synth_scene(b, w, h, 5);
    omp_set_num_threads(1);
    ts_interp_frames(ip, a, b, w, h, 3, out1);
    int ok = 1;
    char det[96] = "bit-identical for 1, 2, 3, 5 threads";
    const int nt[] = {2, 3, 5};
    for (int i = 0; i < 3; i++) {
        omp_set_num_threads(nt[i]);
        memset(outn, 0, 3 * fb);
        ts_interp_frames(ip, a, b, w, h, 3, outn);
        if (memcmp(out1, outn, 3 * fb)) {
            ok = 0;
            snprintf(det, sizeof det, "%d threads differ from 1", nt[i]);
        }
    }
    omp_set_num_threads(2);
    ts_verdict("interp.threads", ok, det);
    free(a);
    free(b);
    free(out1);
    free(outn);
}

static void test_rank_split(const struct ts_interp_params * ip) {
    const int w = 64, h = 48;
    const size_t fb = (size_t)w * h * 3;
    const int64_t T = 7;
    const struct ts_interp_timing tms[] = {{1, 5}, {2, 5}};
    for (int ti = 0; ti < 2; ti++) {
        const struct ts_interp_timing tm = tms[ti];
        const int64_t total = ts_interp_out_count(T, tm);
        uint8_t * ref = malloc(total * fb), * got = malloc(total * fb), * halo = malloc(fb);
        struct scene_src src = {w, h, T, -1, -1, 1};
        int64_t n_ref = run_stream(ip, &src, tm, 0, -1, 0, NULL, ref, total);
        int ok = n_ref == total && src.order_ok;
        char det[128];
        snprintf(det, sizeof det, "%lld frames", (long long)n_ref);
        for (int P = 2; P <= 4 && ok; P++) {
            int64_t off = 0;
            for (int r = 0; r < P && ok; r++) {
                int64_t g0, cnt, j0, jn;
                ts_partition(T, P, r, &g0, &cnt);
                ts_interp_out_range(T, g0, cnt, tm, &j0, &jn);
                const int last = r == P - 1;
                if (!last) synth_scene(halo, w, h, (double)(g0 + cnt) * 5);  // the right neighbour's first frame
                struct scene_src rs = {w, h, g0 + cnt, -1, g0 - 1, 1};     // this rank sees only its frames
                int64_t n = run_stream(ip, &rs, tm, g0, cnt, 1, last ? NULL : halo, got + off * fb, total - off);
                ok = ok && n == jn && j0 == off && rs.order_ok;
                off += n > 0 ? n : 0;
            }
            ok = ok && off == total && !memcmp(ref, got, total * fb);
            if (!ok) snprintf(det, sizeof det, "P=%d differs from one piece", P);
        }
        if (ok) snprintf(det, sizeof det, "%lld frames, P = 1..4 byte-identical", (long long)total);
        char name[64];
        snprintf(name, sizeof name, "interp.rank_split.%lld/%lld", (long long)tm.num, (long long)tm.den);
        ts_verdict(name, ok, det);
        free(ref);
        free(got);
        free(halo);
    }
}

static void test_stream_errors(const struct ts_interp_params * ip) {
    const int w = 32, h = 24;
    const size_t fb = (size_t)w * h * 3;
    uint8_t * out = malloc(16 * fb);
    struct ts_interp_timing tm = {1, 3};
    // a failing source: the error comes back with its message
    struct scene_src src = {w, h, 5, 2, -1, 1};
    ts_error_clear();
    int64_t n = run_stream(ip, &src, tm, 0, -1, 0, NULL, out, 16);
    int ok = n == -1 && strstr(ts_last_error(), "fails at 2") != NULL;
    ts_error_clear();
    // a rank whose source ends before its range does
    struct scene_src shortsrc = {w, h, 2, -1, -1, 1};
    n = run_stream(ip, &shortsrc, tm, 0, 4, 1, NULL, out, 16);
    ok = ok && n == -1 && strstr(ts_last_error(), "missing") != NULL;
    ts_error_clear();
    // one keyframe: one frame; none: none
    struct scene_src one = {w, h, 1, -1, -1, 1}, none = {w, h, 0, -1, -1, 1};
    ok = ok && run_stream(ip, &one, tm, 0, -1, 0, NULL, out, 16) == 1;
    ok = ok && run_stream(ip, &none, tm, 0, -1, 0, NULL, out, 16) == 0;
    ts_verdict("interp.stream.errors_and_edges", ok, "source error kept, early end reported, 1 and 0 keyframes");
    free(out);
}

// Content that changes rather than moves: a 24x24 square of independent noise in
// each keyframe (a different draw), beside the moving disc of synth_scene. Where
// the flows cannot explain the change, the frame moves towards the plain blend:
// under half the deviation from it that the warps give with the confidence off
// (radius 0; 0.38 of it measured: bilinear samples of white noise are smoother
// than the noise, so the flows' residual comes out at about 0.6-0.7 of the
// no-motion one and the gate is only partly closed); the disc is still motion-
// compensated; the result is the same for 1, 2 and 3 threads.
static void test_confidence(const struct ts_interp_params * ip) {
    const int w = 96, h = 64, n0 = 60, m0 = 8, side = 24;
    const size_t fb = (size_t)w * h * 3;
    uint8_t * a = malloc(fb), * b = malloc(fb), * out = malloc(fb), * out2 = malloc(fb), * blend = malloc(fb);
    synth_scene(a, w, h, 0);
    synth_scene(b, w, h, 5);
    uint32_t s = 12345;
    for (int k = 0; k < 2; k++)
        for (int y = m0; y < m0 + side; y++)
            for (int x = n0; x < n0 + side; x++)
                for (int c = 0; c < 3; c++) {
                    s = s * 1664525u + 1013904223u;
                    (k ? b : a)[3 * (y * w + x) + c] = (uint8_t)(s >> 24);
                }
    omp_set_num_threads(1);
    ts_interp_frames(ip, a, b, w, h, 1, out);  // t = 1/2
    for (size_t i = 0; i < fb; i++) blend[i] = (uint8_t)(0.5f * a[i] + 0.5f * b[i] + 0.5f);
    // the inner part of the noise square (the window reaches 4 px past its edge):
    // mean |frame - blend| there, with the confidence and without it (below)
    double dev_on = 0, dev_off = 0;
    for (int y = m0 + 4; y < m0 + side - 4; y++)
        for (int x = n0 + 4; x < n0 + side - 4; x++)
            for (int c = 0; c < 3; c++) dev_on += abs((int)out[3 * (y * w + x) + c] - (int)blend[3 * (y * w + x) + c]);
    // the disc (centre (19, 15.5) at t = 1/2) is warped, not blended
    int disc_warped = 0;
    for (int y = 8; y < 24; y++)
        for (int x = 12; x < 28; x++)
            for (int c = 0; c < 3; c++) disc_warped += abs((int)out[3 * (y * w + x) + c] - (int)blend[3 * (y * w + x) + c]) > 8;
    int same = 1;
    for (int nt = 2; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        ts_interp_frames(ip, a, b, w, h, 1, out2);
        same = same && !memcmp(out, out2, fb);
    }
    struct ts_interp_params off = *ip;
    off.conf_radius = 0;
    ts_interp_frames(&off, a, b, w, h, 1, out2);
    for (int y = m0 + 4; y < m0 + side - 4; y++)
        for (int x = n0 + 4; x < n0 + side - 4; x++)
            for (int c = 0; c < 3; c++) dev_off += abs((int)out2[3 * (y * w + x) + c] - (int)blend[3 * (y * w + x) + c]);
    const double ns = 3.0 * (side - 8) * (side - 8);
    dev_on /= ns;
    dev_off /= ns;
    omp_set_num_threads(2);
    char det[160];
    snprintf(det, sizeof det, "noise square: mean |frame - blend| %.2f levels (confidence off: %.2f); disc warped at %d "
             "samples; 1-3 threads same: %d", dev_on, dev_off, disc_warped, same);
    ts_verdict("interp.confidence", dev_on < 0.5 * dev_off && disc_warped > 50 && same, det);
    free(a);
    free(b);
    free(out);
    free(out2);
    free(blend);
}

int main(void) {
    omp_set_num_threads(2);
    struct ts_interp_params ip;
    ts_interp_params_init(&ip);
    test_timing();
    test_flow_translation();
    test_quality(&ip);
    test_subpixel_blend(&ip);
    test_threads(&ip);
    test_confidence(&ip);
    test_rank_split(&ip);
    test_stream_errors(&ip);
    return ts_test_finish("test_interp");
}
