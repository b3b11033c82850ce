// Tests of the Wan2.1 VAE (src/model/wan/wan_vae.c):
//   test_wan_vae fixtures DIR   decode/encode vs diffusers (DIR/vae.h5), both weight layouts
//   test_wan_vae reach DIR      the decoder's temporal reach, measured (exact comparison) and derived
//   test_wan_vae shard DIR      P = 1..4 ranks' ranges == the whole decode bit for bit; the halo is tight
//   test_wan_vae memory DIR     decode peak RSS for 9 and 129 frames (streamed)
//   test_wan_vae bad DIR TMP    a config that disagrees with the tensors, a missing file, Wan2.2's VAE, ...
//   test_wan_vae ops -          the backend's conv3d and rmsnorm against plain loops, threads 1 vs 2
//   test_wan_vae bench PATH h w T   load and streamed decode time and peak RSS (not a ctest)
//   test_wan_vae cost PATH T P...   each rank's decode work (halo included) against the whole (not a ctest)
#include <hdf5.h>
#include <limits.h>  // PATH_MAX
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ts_test.h"
#include "backend/backend.h"
#include "core/common.h"
#include "model/wan/wan_vae.h"

static char g_dir[2048];

static float * read_ds(hid_t g, const char * name, hsize_t dims[4]) {
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0) {
        fprintf(stderr, "fixture has no dataset '%s'\n", name);
        exit(2);
    }
    hid_t s = H5Dget_space(d);
    H5Sget_simple_extent_dims(s, dims, NULL);
    int64_t n = (int64_t)H5Sget_simple_extent_npoints(s);
    float * buf = ts_test_alloc(n);
    if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) exit(2);
    H5Sclose(s);
    H5Dclose(d);
    return buf;
}

static double * to_d(const float * x, int64_t n) {
    double * d = ts_test_alloc_d(n);
    for (int64_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static void check(const char * name, const float * got, const float * ref, int64_t n, double tol) {
    double * r = to_d(ref, n);
    ts_check_rel(name, got, r, n, tol);
    free(r);
}

static ts_wan_vae * load(ts_backend_t be, const char * sub) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", g_dir, sub);
    ts_wan_vae * v = NULL;
    if (ts_wan_vae_load(be, p, &v) != TS_OK) {
        fprintf(stderr, "cannot load '%s': %s\n", p, ts_last_error());
        exit(2);
    }
    return v;
}

// ---- fixtures ----

struct fx_ctx {
    ts_wan_vae * v;
    const char * layout;
};

static herr_t one_case(hid_t root, const char * name, const H5L_info_t * info, void * op) {
    (void)info;
    struct fx_ctx * c = op;
    hid_t g = H5Gopen2(root, name, H5P_DEFAULT);
    char label[160];
    if (H5Lexists(g, "z", H5P_DEFAULT) > 0) {  // a decode case (attr kind)
        hsize_t dl[4], df[4];
        float * lat = read_ds(g, "latents", dl);
        float * z = read_ds(g, "z", dl);
        float * fr = read_ds(g, "frames", df);
        float * raw = read_ds(g, "frames_raw", df);
        int64_t T = (int64_t)dl[0], h = (int64_t)dl[1], w = (int64_t)dl[2];
        int64_t n = (int64_t)(df[0] * df[1] * df[2] * df[3]);
        TS_ASSERT((int64_t)df[0] == ts_wan_vae_frames(T) && (int64_t)df[1] == 8 * h && (int64_t)df[2] == 8 * w);
        float * out = ts_test_alloc(n);
        TS_ASSERT(ts_wan_vae_decode(c->v, lat, T, (int)h, (int)w, TS_WAN_VAE_MODEL_SPACE, out) == TS_OK);
        snprintf(label, sizeof label, "%s.%s.model_space", c->layout, name);
        check(label, out, fr, n, 1e-4);
        TS_ASSERT(ts_wan_vae_decode(c->v, z, T, (int)h, (int)w, 0, out) == TS_OK);
        snprintf(label, sizeof label, "%s.%s.raw_z", c->layout, name);
        check(label, out, fr, n, 1e-4);
        TS_ASSERT(ts_wan_vae_decode(c->v, z, T, (int)h, (int)w, TS_WAN_VAE_NO_CLAMP, out) == TS_OK);
        snprintf(label, sizeof label, "%s.%s.unclamped", c->layout, name);
        check(label, out, raw, n, 1e-4);
        free(lat), free(z), free(fr), free(raw), free(out);
    } else {
        hsize_t dfr[4], dl[4];
        float * fr = read_ds(g, "frames", dfr);
        float * mean = read_ds(g, "mean", dl);
        float * lat = read_ds(g, "latents", dl);
        int64_t n = (int64_t)(dl[0] * dl[1] * dl[2] * dl[3]);
        float * out = ts_test_alloc(n);
        TS_ASSERT(ts_wan_vae_encode(c->v, fr, (int64_t)dfr[0], (int)dfr[1], (int)dfr[2], 0, out) == TS_OK);
        snprintf(label, sizeof label, "%s.%s.mean", c->layout, name);
        check(label, out, mean, n, 1e-4);
        TS_ASSERT(ts_wan_vae_encode(c->v, fr, (int64_t)dfr[0], (int)dfr[1], (int)dfr[2], TS_WAN_VAE_MODEL_SPACE, out) ==
                  TS_OK);
        snprintf(label, sizeof label, "%s.%s.model_space", c->layout, name);
        check(label, out, lat, n, 1e-4);
        free(fr), free(mean), free(lat), free(out);
    }
    H5Gclose(g);
    return 0;
}

static int run_fixtures(void) {
    ts_backend_t be = ts_backend_cpu_new(0);
    char p[4096];
    snprintf(p, sizeof p, "%s/vae.h5", g_dir);
    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return 2;
    const char * layouts[2][2] = {{"vae", "diffusers"}, {"wan_2.1_vae.safetensors", "original"}};
    for (int l = 0; l < 2; l++) {
        struct fx_ctx c = {load(be, layouts[l][0]), layouts[l][1]};
        const struct ts_wan_vae_config * cfg = ts_wan_vae_get_config(c.v);
        printf("%s: base_dim %d z_dim %d levels %d reach %d\n", layouts[l][1], cfg->base_dim, cfg->z_dim, cfg->n_levels,
               ts_wan_vae_decode_reach(c.v));
        H5Literate(f, H5_INDEX_NAME, H5_ITER_INC, NULL, one_case, &c);
        ts_wan_vae_free(&c.v);
    }
    H5Fclose(f);
    ts_backend_free(&be);
    return ts_test_finish("wan_vae fixtures");
}

// ---- reach ----

// Index of the latent frame that output frame u belongs to.
static int64_t latent_of(int64_t u) { return u == 0 ? 0 : (u - 1) / 4 + 1; }

static int run_reach(void) {
    ts_backend_t be = ts_backend_cpu_new(0);
    ts_wan_vae * v = load(be, "vae");
    const int T = 48, h = 1, w = 2, z = 16;
    int64_t F = ts_wan_vae_frames(T), fsz = 8 * h * 8 * w * 3;
    float * lat = ts_test_alloc((int64_t)T * h * w * z);
    ts_test_fill(lat, (int64_t)T * h * w * z, 1.0f);
    float *base = ts_test_alloc(F * fsz), *pert = ts_test_alloc(F * fsz);
    TS_ASSERT(ts_wan_vae_decode(v, lat, T, h, w, TS_WAN_VAE_MODEL_SPACE | TS_WAN_VAE_NO_CLAMP, base) == TS_OK);
    int derived = ts_wan_vae_decode_reach(v), measured = -1;
    int ks[4] = {0, 1, 2, 5};
    for (int q = 0; q < 4; q++) {
        int k = ks[q];
        for (int64_t i = 0; i < h * w * z; i++) lat[k * h * w * z + i] += 1.0f;
        TS_ASSERT(ts_wan_vae_decode(v, lat, T, h, w, TS_WAN_VAE_MODEL_SPACE | TS_WAN_VAE_NO_CLAMP, pert) == TS_OK);
        for (int64_t i = 0; i < h * w * z; i++) lat[k * h * w * z + i] -= 1.0f;
        int64_t last = -1;
        for (int64_t u = 0; u < F; u++)
            if (memcmp(base + u * fsz, pert + u * fsz, (size_t)fsz * sizeof(float))) last = u;
        int r = (int)(latent_of(last) - k);
        printf("  latent %d changes output frames up to %lld (latent frame %lld): reach %d\n", k, (long long)last,
               (long long)latent_of(last), r);
        if (r > measured) measured = r;
    }
    char buf[96];
    snprintf(buf, sizeof buf, "measured %d, derived %d latent frames", measured, derived);
    ts_verdict("reach.measured_equals_derived", measured == derived, buf);
    free(lat), free(base), free(pert);
    ts_wan_vae_free(&v);
    ts_backend_free(&be);
    return ts_test_finish("wan_vae reach");
}

// ---- shard ----

static int run_shard(void) {
    ts_backend_t be1 = ts_backend_cpu_new(1), be2 = ts_backend_cpu_new(2);
    ts_wan_vae * v1 = load(be1, "vae");
    ts_wan_vae * v2 = load(be2, "vae");  // ranks alternate thread counts
    const int T = 90, h = 1, w = 2, z = 16;
    int64_t lsz = (int64_t)h * w * z, fsz = 8 * h * 8 * w * 3, F = ts_wan_vae_frames(T);
    float * lat = ts_test_alloc(T * lsz);
    ts_test_fill(lat, T * lsz, 1.5f);
    float *whole = ts_test_alloc(F * fsz), *parts = ts_test_alloc(F * fsz);
    TS_ASSERT(ts_wan_vae_decode(v1, lat, T, h, w, TS_WAN_VAE_MODEL_SPACE, whole) == TS_OK);
    double whole_flops = ts_wan_vae_last_flops(v1);
    int R = ts_wan_vae_decode_reach(v1);
    for (int P = 1; P <= 4; P++) {
        double work_max = 0;
        for (int r = 0; r < P; r++) {  // contiguous, sizes differ by at most one
            int64_t g0 = (int64_t)T * r / P, g1 = (int64_t)T * (r + 1) / P;
            int64_t s = ts_wan_vae_range_start(v1, g0);
            float * o = parts + ts_wan_vae_frames(g0) * fsz;
            ts_wan_vae * vr = r % 2 ? v2 : v1;
            TS_ASSERT(ts_wan_vae_decode_range(vr, lat + s * lsz, s, g0, g1 - g0, h, w, TS_WAN_VAE_MODEL_SPACE, o) ==
                      TS_OK);
            if (ts_wan_vae_last_flops(vr) > work_max) work_max = ts_wan_vae_last_flops(vr);
        }
        char name[64];
        snprintf(name, sizeof name, "shard.P%d (max rank work %.2f x whole)", P, work_max / whole_flops);
        ts_check_bits(name, parts, whole, F * fsz);
    }
    // one rank owning a single latent frame deep in the video, and at frame 0
    int64_t g0s[3] = {0, R, T - 1};
    for (int q = 0; q < 3; q++) {
        int64_t g0 = g0s[q], s = ts_wan_vae_range_start(v1, g0), nf = ts_wan_vae_frames(g0 + 1) - ts_wan_vae_frames(g0);
        float * o = ts_test_alloc(nf * fsz);
        TS_ASSERT(ts_wan_vae_decode_range(v2, lat + s * lsz, s, g0, 1, h, w, TS_WAN_VAE_MODEL_SPACE, o) == TS_OK);
        char name[64];
        snprintf(name, sizeof name, "shard.one_frame_at_%lld", (long long)g0);
        ts_check_bits(name, o, whole + ts_wan_vae_frames(g0) * fsz, nf * fsz);
        free(o);
    }
    // every start g0 = 1..R + 4 (the skipped stages depend on g0 - s), two frames each
    {
        int bad = -1;
        float * o = ts_test_alloc(8 * fsz);
        for (int64_t g0 = 1; g0 <= R + 4 && bad < 0; g0++) {
            int64_t s = ts_wan_vae_range_start(v1, g0), nf = ts_wan_vae_frames(g0 + 2) - ts_wan_vae_frames(g0);
            TS_ASSERT(ts_wan_vae_decode_range(v2, lat + s * lsz, s, g0, 2, h, w, TS_WAN_VAE_MODEL_SPACE, o) == TS_OK);
            if (memcmp(o, whole + ts_wan_vae_frames(g0) * fsz, (size_t)(nf * fsz) * sizeof(float))) bad = (int)g0;
        }
        char buf[96];
        snprintf(buf, sizeof buf, bad < 0 ? "bit-identical for g0 = 1..%d" : "differs at g0 = %d",
                 bad < 0 ? R + 4 : bad);
        ts_verdict("shard.every_start", bad < 0, buf);
        free(o);
    }
    // the halo is tight: starting one latent frame later changes the rank's first frames
    {
        int64_t g0 = T - 10, s = ts_wan_vae_range_start(v1, g0) + 1, Tn = 10;
        int64_t nf = ts_wan_vae_frames(g0 + Tn) - ts_wan_vae_frames(g0);
        float * o = ts_test_alloc(nf * fsz);
        ts_wan_vae_decode_range(v1, lat + s * lsz, s, g0, Tn, h, w, TS_WAN_VAE_MODEL_SPACE, o);  // refused
        ts_error_clear();
        // the same decode by hand: the streamed decoder started at s
        ts_wan_vae_dec * d;
        TS_ASSERT(ts_wan_vae_dec_new(v1, h, w, &d) == TS_OK);
        float * tmp = ts_test_alloc(4 * fsz);
        int64_t at = 0;
        for (int64_t g = s; g < g0 + Tn; g++) {
            int n = ts_wan_vae_dec_push(d, lat + g * lsz, TS_WAN_VAE_MODEL_SPACE, tmp);
            if (g >= g0) memcpy(o + at * fsz, tmp, (size_t)(n * fsz) * sizeof(float)), at += n;
        }
        ts_wan_vae_dec_free(&d);
        int same = !memcmp(o, whole + ts_wan_vae_frames(g0) * fsz, (size_t)(nf * fsz) * sizeof(float));
        char buf[96];
        snprintf(buf, sizeof buf, "halo %d - 1 gives other frames (as it must)", R);
        ts_verdict("shard.halo_is_tight", !same, buf);
        free(tmp), free(o);
    }
    {  // a too-short halo is refused
        int64_t g0 = T - 10, s = ts_wan_vae_range_start(v1, g0) + 1;
        float * o = ts_test_alloc(ts_wan_vae_frames(T) * fsz);
        enum ts_status st = ts_wan_vae_decode_range(v1, lat + s * lsz, s, g0, 10, h, w, 0, o);
        ts_verdict("shard.short_halo_refused", st == TS_ERR_ARG, ts_last_error());
        ts_error_clear();
        free(o);
    }
    free(lat), free(whole), free(parts);
    ts_wan_vae_free(&v1), ts_wan_vae_free(&v2);
    ts_backend_free(&be1), ts_backend_free(&be2);
    return ts_test_finish("wan_vae shard");
}

// ---- memory ----

static int run_memory(void) {
    ts_backend_t be = ts_backend_cpu_new(0);
    ts_wan_vae * v = load(be, "vae");
    const int h = 8, w = 12, z = 16;  // 96x64 pixels
    int64_t lsz = (int64_t)h * w * z, fsz = 8 * h * 8 * w * 3;
    float *lat = ts_test_alloc(lsz), *fr = ts_test_alloc(4 * fsz);
    int64_t Ts[3] = {3, 9, 33}, peak[3];
    double sec[3];
    for (int q = 0; q < 3; q++) {
        ts_peak_rss_reset();
        double t0 = ts_time();
        ts_wan_vae_dec * d;
        TS_ASSERT(ts_wan_vae_dec_new(v, h, w, &d) == TS_OK);
        int64_t frames = 0;
        for (int64_t g = 0; g < Ts[q]; g++) {
            ts_test_fill(lat, lsz, 1.0f);
            frames += ts_wan_vae_dec_push(d, lat, TS_WAN_VAE_MODEL_SPACE, fr);
        }
        TS_ASSERT(frames == ts_wan_vae_frames(Ts[q]));
        if (q == 0) printf("  decoder state %.2f MB at %dx%d\n", ts_wan_vae_dec_bytes(d) / 1e6, 8 * w, 8 * h);
        ts_wan_vae_dec_free(&d);
        sec[q] = ts_time() - t0;
        peak[q] = ts_peak_rss();
        printf("  %4lld frames (%2lld latent): peak RSS %.2f MB, %.2f s\n", (long long)frames, (long long)Ts[q],
               peak[q] / 1e6, sec[q]);
    }
    char buf[96];
    snprintf(buf, sizeof buf, "9 frames %.2f MB, 129 frames %.2f MB", peak[0] / 1e6, peak[2] / 1e6);
    ts_verdict("memory.flat_9_to_129_frames", peak[2] <= peak[0] + (1 << 20), buf);  // within 1 MiB
    free(lat), free(fr);
    ts_wan_vae_free(&v);
    ts_backend_free(&be);
    return ts_test_finish("wan_vae memory");
}

// ---- the backend ops (conv3d, rmsnorm) against plain double loops ----

static void ref_conv3d(double * out, const float * const * fr, int kt, int H, int W, int Cin, const float * w,
                       const float * b, int Cout, int k) {
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int o = 0; o < Cout; o++) {
                double acc = b ? b[o] : 0.0;
                for (int t = 0; t < kt; t++)
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            int iy = y + ky - k / 2, ix = x + kx - k / 2;
                            if (!fr[t] || iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                            for (int c = 0; c < Cin; c++)
                                acc += (double)w[(((size_t)o * kt + t) * k * k + ky * k + kx) * Cin + c] *
                                       fr[t][((size_t)iy * W + ix) * Cin + c];
                        }
                out[((size_t)y * W + x) * Cout + o] = acc;
            }
}

static int run_ops(void) {
    ts_backend_t be1 = ts_backend_cpu_new(1), be2 = ts_backend_cpu_new(2);
    struct {
        int kt, k, H, W, Cin, Cout, null0;
    } cs[] = {{3, 3, 5, 7, 3, 5, 1}, {3, 3, 23, 31, 8, 17, 0}, {3, 1, 9, 4, 6, 12, 1},
              {1, 1, 6, 5, 7, 3, 0}, {1, 1, 6, 5, 7, 3, 1},    {3, 3, 1, 1, 4, 4, 0}};
    for (size_t q = 0; q < sizeof cs / sizeof cs[0]; q++) {
        int kt = cs[q].kt, k = cs[q].k, H = cs[q].H, W = cs[q].W, Cin = cs[q].Cin, Cout = cs[q].Cout;
        int64_t fn = (int64_t)H * W * Cin, on = (int64_t)H * W * Cout, wn = (int64_t)Cout * kt * k * k * Cin;
        float *frames = ts_test_alloc(3 * fn), *w = ts_test_alloc(wn), *b = ts_test_alloc(Cout);
        ts_test_fill(frames, 3 * fn, 1.0f), ts_test_fill(w, wn, 0.3f), ts_test_fill(b, Cout, 0.5f);
        const float * fr[3] = {cs[q].null0 ? NULL : frames, frames + fn, frames + 2 * fn};
        float *o1 = ts_test_alloc(on), *o2 = ts_test_alloc(on);
        double * ref = ts_test_alloc_d(on);
        be1->ops->conv3d(be1, o1, fr, kt, H, W, Cin, w, b, Cout, k);
        be2->ops->conv3d(be2, o2, fr, kt, H, W, Cin, w, b, Cout, k);
        ref_conv3d(ref, fr, kt, H, W, Cin, w, b, Cout, k);
        char name[96];
        snprintf(name, sizeof name, "conv3d.kt%d_k%d_%dx%d_%d_%d%s", kt, k, W, H, Cin, Cout,
                 cs[q].null0 ? "_zero_frame" : "");
        ts_check_rel(name, o1, ref, on, 1e-6);
        snprintf(name, sizeof name, "conv3d.kt%d_k%d_%dx%d.threads_1_vs_2", kt, k, W, H);
        ts_check_bits(name, o1, o2, on);
        free(frames), free(w), free(b), free(o1), free(o2), free(ref);
    }
    int rows = 300, D = 24;
    float *x = ts_test_alloc((int64_t)rows * D), *g = ts_test_alloc(D), *y = ts_test_alloc((int64_t)rows * D);
    double * ref = ts_test_alloc_d((int64_t)rows * D);
    ts_test_fill(x, (int64_t)rows * D, 2.0f), ts_test_fill(g, D, 1.0f);
    memset(x, 0, D * sizeof(float));  // a zero row: 0, not NaN (the norm is clamped to 1e-12)
    for (int r = 0; r < rows; r++) {
        double ss = 0;
        for (int d = 0; d < D; d++) ss += (double)x[r * D + d] * x[r * D + d];
        double n = sqrt(ss) < 1e-12 ? 1e-12 : sqrt(ss);
        for (int d = 0; d < D; d++) ref[r * D + d] = x[r * D + d] / n * sqrt((double)D) * g[d];
    }
    be2->ops->rmsnorm(be2, y, x, g, rows, D);
    ts_check_rel("rmsnorm.300x24", y, ref, (int64_t)rows * D, 1e-6);
    be2->ops->rmsnorm(be2, x, x, g, rows, D);  // in place
    ts_check_bits("rmsnorm.in_place", x, y, (int64_t)rows * D);
    free(x), free(g), free(y), free(ref);
    ts_backend_free(&be1), ts_backend_free(&be2);
    return ts_test_finish("wan_vae ops");
}

// ---- bad input ----

static int run_bad(const char * tmp) {
    ts_backend_t be = ts_backend_cpu_new(0);
    ts_wan_vae * v = NULL;
    char p[4096], q[PATH_MAX + 64];
    mkdir(tmp, 0755);
    // a config whose base_dim disagrees with the tensors
    snprintf(p, sizeof p, "%s/config.json", tmp);
    FILE * f = fopen(p, "w");
    fprintf(f, "{\"_class_name\": \"AutoencoderKLWan\", \"base_dim\": 8, \"z_dim\": 16}\n");
    fclose(f);
    snprintf(p, sizeof p, "%s/diffusion_pytorch_model.safetensors", tmp);
    char absdir[PATH_MAX];
    TS_ASSERT(realpath(g_dir, absdir));
    snprintf(q, sizeof q, "%s/vae/diffusion_pytorch_model.safetensors", absdir);
    unlink(p);
    TS_ASSERT(symlink(q, p) == 0);
    enum ts_status st = ts_wan_vae_load(be, tmp, &v);
    ts_verdict("bad.config_disagrees_with_tensors", st == TS_ERR_MODEL && !v && strstr(ts_last_error(), "shape"),
               ts_last_error());
    ts_error_clear();
    // Wan2.2's VAE
    snprintf(p, sizeof p, "%s/config.json", tmp);
    f = fopen(p, "w");
    fprintf(f, "{\"_class_name\": \"AutoencoderKLWan\", \"base_dim\": 4, \"is_residual\": true}\n");
    fclose(f);
    st = ts_wan_vae_load(be, tmp, &v);
    ts_verdict("bad.wan22_vae_refused", st == TS_ERR_MODEL && !v, ts_last_error());
    ts_error_clear();
    // not JSON
    f = fopen(p, "w");
    fprintf(f, "{\"base_dim\": \n");
    fclose(f);
    st = ts_wan_vae_load(be, tmp, &v);
    ts_verdict("bad.config_not_json", st == TS_ERR_FORMAT && !v, ts_last_error());
    ts_error_clear();
    // a missing path; a safetensors file that is not a Wan VAE
    st = ts_wan_vae_load(be, "/nonexistent/vae", &v);
    ts_verdict("bad.missing", st == TS_ERR_IO && !v, ts_last_error());
    ts_error_clear();
    st = ts_wan_vae_load(be, q, &v);
    ts_verdict("bad.diffusers_file_given_alone", st == TS_ERR_MODEL && !v, ts_last_error());
    ts_error_clear();
    // a backend without the VAE ops (as CUDA today): one clear error
    struct ts_backend_ops ops = *be->ops;
    ops.conv3d = NULL;
    ops.name = "cuda-like";
    struct ts_backend fake = *be;
    fake.ops = &ops;
    snprintf(p, sizeof p, "%s/vae", g_dir);
    st = ts_wan_vae_load(&fake, p, &v);
    ts_verdict("bad.backend_without_conv3d", st == TS_ERR_ARG && !v && strstr(ts_last_error(), "cuda-like"),
               ts_last_error());
    ts_error_clear();
    // encode: frames not 1 + 4k
    v = load(be, "vae");
    float x[2 * 8 * 8 * 3] = {0}, lat[16];
    st = ts_wan_vae_encode(v, x, 2, 8, 8, 0, lat);
    ts_verdict("bad.encode_frames_not_4k_plus_1", st == TS_ERR_ARG, ts_last_error());
    ts_error_clear();
    ts_wan_vae_free(&v);
    ts_backend_free(&be);
    return ts_test_finish("wan_vae bad input");
}

// ---- bench: load and streamed decode of a VAE at a size (not a ctest) ----

static int run_bench(const char * path, int h, int w, int T) {
    ts_backend_t be = ts_backend_cpu_new(0);
    double t0 = ts_time();
    ts_wan_vae * v = NULL;
    if (ts_wan_vae_load(be, path, &v) != TS_OK) {
        fprintf(stderr, "%s\n", ts_last_error());
        return 2;
    }
    double t1 = ts_time();
    int64_t rss_load = ts_peak_rss();
    int z = ts_wan_vae_get_config(v)->z_dim;
    int64_t lsz = (int64_t)h * w * z, fsz = 8 * h * 8 * w * 3;
    float *lat = ts_test_alloc(lsz), *fr = ts_test_alloc(4 * fsz);
    ts_peak_rss_reset();  // from here: the weights, the decoder and its frames
    ts_wan_vae_dec * d;
    TS_ASSERT(ts_wan_vae_dec_new(v, h, w, &d) == TS_OK);
    double t2 = ts_time(), first = 0;
    int64_t frames = 0;
    for (int g = 0; g < T; g++) {
        ts_test_fill(lat, lsz, 1.0f);
        frames += ts_wan_vae_dec_push(d, lat, TS_WAN_VAE_MODEL_SPACE, fr);
        if (g == 0) first = ts_time() - t2;
    }
    double t3 = ts_time();
    printf(
        "timeshard decode %d latent frames %dx%d -> %lld frames %dx%d: load %.1f s (peak RSS %.0f MB), "
        "decode %.1f s (first latent frame %.1f s), peak RSS while decoding %.0f MB, decoder state %.0f MB, "
        "%d threads\n",
        T, w, h, (long long)frames, 8 * w, 8 * h, t1 - t0, rss_load / 1e6, t3 - t2, first, ts_peak_rss() / 1e6,
        ts_wan_vae_dec_bytes(d) / 1e6, be->threads);
    ts_wan_vae_dec_free(&d);
    free(lat), free(fr);
    ts_wan_vae_free(&v);
    ts_backend_free(&be);
    return 0;
}

// ---- cost: the work of each rank's range (halo cone included) against the whole decode ----

static int run_cost(const char * path, int T, int nP, char ** Ps) {
    ts_backend_t be = ts_backend_cpu_new(0);
    ts_wan_vae * v = NULL;
    if (ts_wan_vae_load(be, path, &v) != TS_OK) {
        fprintf(stderr, "%s\n", ts_last_error());
        return 2;
    }
    const int h = 1, w = 1;
    int64_t lsz = 16, fsz = 8 * 8 * 3;
    float *lat = ts_test_alloc(T * lsz), *fr = ts_test_alloc(ts_wan_vae_frames(T) * fsz);
    ts_test_fill(lat, T * lsz, 1.0f);
    TS_ASSERT(ts_wan_vae_decode(v, lat, T, h, w, 0, fr) == TS_OK);
    double whole = ts_wan_vae_last_flops(v);
    printf("#  latent  frames  ranks  max_rank_work  all_ranks_work  speedup_bound  (work: x whole decode; halo %d)\n",
           ts_wan_vae_decode_reach(v));
    for (int q = 0; q < nP; q++) {
        int P = atoi(Ps[q]);
        double mx = 0, sum = 0;
        for (int r = 0; r < P; r++) {
            int64_t g0 = (int64_t)T * r / P, g1 = (int64_t)T * (r + 1) / P, s = ts_wan_vae_range_start(v, g0);
            TS_ASSERT(ts_wan_vae_decode_range(v, lat + s * lsz, s, g0, g1 - g0, h, w, 0, fr) == TS_OK);
            double f = ts_wan_vae_last_flops(v);
            sum += f, mx = f > mx ? f : mx;
        }
        printf("   %6d  %6lld  %5d  %13.3f  %14.3f  %13.2f\n", T, (long long)ts_wan_vae_frames(T), P, mx / whole,
               sum / whole, whole / mx);
    }
    free(lat), free(fr);
    ts_wan_vae_free(&v);
    ts_backend_free(&be);
    return 0;
}

int main(int argc, char ** argv) {
    if (argc >= 5 && !strcmp(argv[1], "cost")) return run_cost(argv[2], atoi(argv[3]), argc - 4, argv + 4);
    if (argc == 6 && !strcmp(argv[1], "bench")) return run_bench(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (argc < 3) {
        fprintf(stderr, "usage: test_wan_vae fixtures|reach|shard|memory|bad|ops DIR [TMP]\n");
        return 2;
    }
    snprintf(g_dir, sizeof g_dir, "%s", argv[2]);
    if (!strcmp(argv[1], "fixtures")) return run_fixtures();
    if (!strcmp(argv[1], "reach")) return run_reach();
    if (!strcmp(argv[1], "shard")) return run_shard();
    if (!strcmp(argv[1], "memory")) return run_memory();
    if (!strcmp(argv[1], "bad") && argc > 3) return run_bad(argv[3]);
    if (!strcmp(argv[1], "ops")) return run_ops();
    return 2;
}
