// The flow schedulers (src/sample/flow_sched.c) against diffusers, and their properties.
//   test_flow_sched fixtures DIR   each case of DIR/sched.h5 (tools/wan/make_sched_fixtures.py):
//                                  timesteps exactly, sigmas and the latents after every step
//                                  within 1e-4 relative; the tiny transformer's two forwards
//                                  guided bit-exactly into what the scheduler was given; the
//                                  case over 3 uneven slices (ranks) bit-identical to the whole
//   test_flow_sched resume         N steps straight == K steps, state saved from 3 slices,
//                                  restored into 2, the rest: bit for bit, every K
//   test_flow_sched config         scheduler_config.json parsing, overrides and bad input:
//                                  one clear error each
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts_test.h"  // verdicts, bit comparison, ts_test_alloc
#include "core/common.h"
#include "sample/flow_sched.h"

#define TOL 1e-4

// max |a - b| / max |b| over n floats (b is the reference)
static double rel_err_f(const float * a, const float * b, int64_t n) {
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(d)) return INFINITY;
        if (d > num) num = d;
        if (fabs((double)b[i]) > den) den = fabs((double)b[i]);
    }
    return den > 0.0 ? num / den : num;
}

// the fake model of make_sched_fixtures.py: v = A*x + B*sin(x) + C*t/1000, in double
static double FAKE[3] = {0.8, 0.25, 0.3};
static void fake_model(const float * x, int64_t n, double t, float * v) {
    for (int64_t i = 0; i < n; i++) {
        double xd = (double)x[i];
        v[i] = (float)(FAKE[0] * xd + FAKE[1] * sin(xd) + FAKE[2] * t / 1000.0);
    }
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float randn_ish(void) {  // a sum of uniforms: enough for start latents
    float s = 0.0f;
    for (int i = 0; i < 4; i++) {
        rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
        s += (float)((double)((rng * 0x2545F4914F6CDD1Dull) >> 11) * 0x1p-53) - 0.5f;
    }
    return s * 1.7f;
}

// ---- fixtures ----------------------------------------------------------------------------

static char * attr_str(hid_t obj, const char * name) {
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return NULL;
    hid_t t = H5Aget_type(a);
    char * out = NULL;
    if (H5Tis_variable_str(t) > 0) {
        char * s = NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5T_CSET_UTF8);
        if (H5Aread(a, mt, &s) >= 0 && s) out = strdup(s);
        H5free_memory(s);
        H5Tclose(mt);
    } else {
        size_t len = H5Tget_size(t);
        out = calloc(len + 1, 1);
        hid_t mt = H5Tcopy(t);
        H5Aread(a, mt, out);
        H5Tclose(mt);
    }
    H5Tclose(t);
    H5Aclose(a);
    return out;
}

static void * read_ds(hid_t g, const char * name, hid_t mem_type, size_t elem, int64_t * n_out, int64_t * rows) {
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0) {
        fprintf(stderr, "fixture has no dataset '%s'\n", name);
        exit(2);
    }
    hid_t s = H5Dget_space(d);
    hsize_t dims[2] = {0, 1};
    int nd = H5Sget_simple_extent_dims(s, dims, NULL);
    int64_t n = (int64_t)H5Sget_simple_extent_npoints(s);
    void * buf = malloc((size_t)n * elem + 1);
    if (H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        fprintf(stderr, "cannot read dataset '%s'\n", name);
        exit(2);
    }
    H5Sclose(s);
    H5Dclose(d);
    *n_out = n;
    if (rows) *rows = nd >= 1 ? (int64_t)dims[0] : 1;
    return buf;
}

// Runs s over the latents x (n) for all its steps, the model fake (v = NULL) or replayed.
static void run_steps(ts_flow_sched_t s, float * x, int64_t n, const float * replay, float * vbuf, int from, int to) {
    for (int k = from; k < to; k++) {
        const float * v = replay ? replay + (int64_t)k * n : vbuf;
        if (!replay) fake_model(x, n, ts_flow_sched_timestep(s, k), vbuf);
        ts_flow_sched_step(s, v, x);
    }
}

static herr_t one_case(hid_t root, const char * name, const H5L_info_t * info, void * op) {
    (void)info, (void)op;
    hid_t g = H5Gopen2(root, name, H5P_DEFAULT);
    char * cfg_text = attr_str(g, "config");
    char * model = attr_str(g, "model");
    char * flow = attr_str(g, "flow_sigmas");
    char * mdtype = attr_str(g, "model_dtype");
    int steps = 0;
    hid_t a = H5Aopen(g, "steps", H5P_DEFAULT);
    H5Aread(a, H5T_NATIVE_INT, &steps);
    H5Aclose(a);
    int64_t nt, ns, nl, nv, rows;
    double * ts = read_ds(g, "timesteps", H5T_NATIVE_DOUBLE, sizeof(double), &nt, NULL);
    float * sig = read_ds(g, "sigmas", H5T_NATIVE_FLOAT, sizeof(float), &ns, NULL);
    float * lat = read_ds(g, "latents", H5T_NATIVE_FLOAT, sizeof(float), &nl, &rows);
    float * outs = read_ds(g, "model_outputs", H5T_NATIVE_FLOAT, sizeof(float), &nv, NULL);
    const int64_t n = nl / rows;
    const int replay = model && strcmp(model, "replay") == 0;
    // the tiny cases: the two forwards, which guidance must combine into model_outputs
    float *cond = NULL, *uncond = NULL;
    double guidance = 0.0;
    if (H5Aexists(g, "guidance") > 0) {
        int64_t nc, nu;
        cond = read_ds(g, "cond", H5T_NATIVE_FLOAT, sizeof(float), &nc, NULL);
        uncond = read_ds(g, "uncond", H5T_NATIVE_FLOAT, sizeof(float), &nu, NULL);
        hid_t ga = H5Aopen(g, "guidance", H5P_DEFAULT);
        H5Aread(ga, H5T_NATIVE_DOUBLE, &guidance);
        H5Aclose(ga);
    }
    int guid_exact = 1;
    char detail[320];

    struct ts_flow_sched_config cfg;
    ts_error_clear();
    if (!cfg_text || ts_flow_sched_config_parse(cfg_text, name, &cfg) != TS_OK || rows != steps + 1 || nt != steps ||
        ns != steps + 1) {
        snprintf(detail, sizeof detail, "config or fixture shape: %s", ts_last_error());
        ts_verdict(name, 0, detail);
        goto done;
    }
    if (flow && strcmp(flow, "wan") == 0) cfg.sigmas = TS_FLOW_SIGMAS_WAN;
    cfg.model_output_bf16 = mdtype && strcmp(mdtype, "bfloat16") == 0;
    ts_flow_sched_t s;
    if (ts_flow_sched_new(&cfg, steps, n, &s) != TS_OK) {
        ts_verdict(name, 0, ts_last_error());
        goto done;
    }
    int ts_bad = -1;
    double ts_bad_value = 0.0;
    for (int k = 0; k < steps && ts_bad < 0; k++)
        if (ts_flow_sched_timestep(s, k) != ts[k]) ts_bad = k, ts_bad_value = ts_flow_sched_timestep(s, k);
    float sig_c[1024];
    for (int k = 0; k <= steps; k++) sig_c[k] = ts_flow_sched_sigma(s, k);
    double sig_rel = rel_err_f(sig_c, sig, steps + 1);
    int sig_exact = memcmp(sig_c, sig, (size_t)(steps + 1) * sizeof(float)) == 0;

    // step by step against the recorded latents (and, with the fake model, outputs)
    float *x = ts_test_alloc(n), *v = ts_test_alloc(n);
    memcpy(x, lat, (size_t)n * sizeof(float));
    double lat_rel = 0.0, out_rel = 0.0;
    int worst = 0;
    for (int k = 0; k < steps; k++) {
        if (replay && cond) {  // guidance of the recorded forwards, as WanPipeline combined them
            ts_flow_guidance(cond + (int64_t)k * n, uncond + (int64_t)k * n, guidance, n, cfg.model_output_bf16, v);
            if (memcmp(v, outs + (int64_t)k * n, (size_t)n * sizeof(float)) != 0) guid_exact = 0;
        } else if (replay) {
            memcpy(v, outs + (int64_t)k * n, (size_t)n * sizeof(float));
        } else {
            fake_model(x, n, ts_flow_sched_timestep(s, k), v);
            double r = rel_err_f(v, outs + (int64_t)k * n, n);
            if (r > out_rel) out_rel = r;
        }
        ts_flow_sched_step(s, v, x);
        double r = rel_err_f(x, lat + (int64_t)(k + 1) * n, n);
        if (r > lat_rel) lat_rel = r, worst = k;
    }
    ts_flow_sched_free(&s);

    // the same case over 3 uneven slices, one scheduler each (as 3 ranks)
    float *xs = ts_test_alloc(n), *vs = ts_test_alloc(n), *whole = ts_test_alloc(n);
    memcpy(whole, lat, (size_t)n * sizeof(float));
    ts_flow_sched_new(&cfg, steps, n, &s);
    run_steps(s, whole, n, replay ? outs : NULL, v, 0, steps);
    ts_flow_sched_free(&s);
    memcpy(xs, lat, (size_t)n * sizeof(float));
    int64_t cut[4] = {0, n / 5, n / 5 + n / 2 + 1, n};
    for (int p = 0; p < 3; p++) {
        int64_t m = cut[p + 1] - cut[p];
        ts_flow_sched_new(&cfg, steps, m, &s);
        for (int k = 0; k < steps; k++) {
            const float * vv = vs + cut[p];
            if (replay)
                memcpy(vs + cut[p], outs + (int64_t)k * n + cut[p], (size_t)m * sizeof(float));
            else
                fake_model(xs + cut[p], m, ts_flow_sched_timestep(s, k), vs + cut[p]);
            ts_flow_sched_step(s, vv, xs + cut[p]);
        }
        ts_flow_sched_free(&s);
    }
    int slices_same = memcmp(xs, whole, (size_t)n * sizeof(float)) == 0;

    int ok = ts_bad < 0 && sig_rel <= TOL && lat_rel <= TOL && out_rel <= TOL && slices_same && guid_exact;
    char tsd[64], sgd[32], outd[40] = "";
    if (ts_bad < 0)
        snprintf(tsd, sizeof tsd, "exact");
    else
        snprintf(tsd, sizeof tsd, "step %d: %.9g vs %.9g", ts_bad, ts_bad_value, ts[ts_bad]);
    if (sig_exact)
        snprintf(sgd, sizeof sgd, "bit-exact");
    else
        snprintf(sgd, sizeof sgd, "max_rel=%.1e", sig_rel);
    if (!replay) snprintf(outd, sizeof outd, ", outputs max_rel=%.1e", out_rel);
    if (cond) snprintf(outd, sizeof outd, ", guidance %g %s", guidance, guid_exact ? "bit-exact" : "DIFFERS");
    snprintf(detail, sizeof detail,
             "%s %2d steps %-6s timesteps %s, sigmas %s, latents max_rel=%.1e (step %d)%s, 3 slices %s",
             ts_flow_sched_name(cfg.kind), steps, replay ? (cfg.model_output_bf16 ? "bf16" : "replay") : "fake", tsd,
             sgd, lat_rel, worst, outd, slices_same ? "bit-identical" : "DIFFER");
    ts_verdict(name, ok, detail);
    free(x), free(v), free(xs), free(vs), free(whole);
done:
    free(cfg_text), free(model), free(flow), free(mdtype);
    free(ts), free(sig), free(lat), free(outs), free(cond), free(uncond);
    H5Gclose(g);
    return 0;
}

static int test_fixtures(const char * dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/sched.h5", dir);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        fprintf(stderr, "cannot open %s\n", path);
        return 2;
    }
    char * magic = attr_str(f, "magic");
    if (!magic || strcmp(magic, "timeshard wan_sched fixtures") != 0) {
        fprintf(stderr, "%s is not a wan_sched fixture\n", path);
        return 2;
    }
    free(magic);
    hid_t a = H5Aopen(f, "fake_model", H5P_DEFAULT);
    H5Aread(a, H5T_NATIVE_DOUBLE, FAKE);
    H5Aclose(a);
    printf("# diffusers' schedulers vs timeshard's (%s)\n", path);
    H5Literate(f, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, one_case, NULL);
    H5Fclose(f);
    return ts_test_finish("sample.fixtures");
}

// ---- resume ----------------------------------------------------------------------------

// The whole latents' state from slices: each slice's arrays into the whole-tensor buffers.
struct ckpt {
    int n_items;
    struct ts_flow_sched_item items[TS_FLOW_SCHED_STATE_MAX];
    float * arrays[TS_FLOW_SCHED_STATE_MAX];  // (n) each
};

static void resume_case(const char * label, const struct ts_flow_sched_config * cfg, int steps, int64_t n, int K,
                        int P_save, int P_load) {
    float *x0 = ts_test_alloc(n), *ref = ts_test_alloc(n), *x = ts_test_alloc(n), *v = ts_test_alloc(n);
    for (int64_t i = 0; i < n; i++) x0[i] = randn_ish();
    ts_flow_sched_t s;
    // straight
    memcpy(ref, x0, (size_t)n * sizeof(float));
    ts_flow_sched_new(cfg, steps, n, &s);
    run_steps(s, ref, n, NULL, v, 0, steps);
    ts_flow_sched_free(&s);
    // K steps on P_save slices, saved into a whole-tensor checkpoint
    memcpy(x, x0, (size_t)n * sizeof(float));
    struct ckpt ck = {0};
    for (int p = 0; p < P_save; p++) {
        int64_t lo = n * p / P_save, hi = n * (p + 1) / P_save;
        ts_flow_sched_new(cfg, steps, hi - lo, &s);
        run_steps(s, x + lo, hi - lo, NULL, v + lo, 0, K);
        struct ts_flow_sched_item it[TS_FLOW_SCHED_STATE_MAX];
        int m = ts_flow_sched_state_get(s, it);
        ck.n_items = m;
        for (int i = 0; i < m; i++) {
            ck.items[i] = it[i];
            if (it[i].is_array) {
                if (!ck.arrays[i]) ck.arrays[i] = ts_test_alloc(n);
                memcpy(ck.arrays[i] + lo, it[i].data, (size_t)(hi - lo) * sizeof(float));
                ck.items[i].data = NULL;
            }
        }
        ts_flow_sched_free(&s);
    }
    // fresh schedulers on P_load slices, each restoring its own slice, finish
    int ok_restore = 1;
    for (int p = 0; p < P_load; p++) {
        int64_t lo = n * p / P_load, hi = n * (p + 1) / P_load;
        ts_flow_sched_new(cfg, steps, hi - lo, &s);
        struct ts_flow_sched_item it[TS_FLOW_SCHED_STATE_MAX];
        for (int i = 0; i < ck.n_items; i++) {
            it[i] = ck.items[i];
            if (it[i].is_array) it[i].data = ck.arrays[i] + lo;
        }
        ts_error_clear();
        if (ts_flow_sched_state_set(s, it, ck.n_items) != TS_OK) {
            printf("    restore: %s\n", ts_last_error());
            ok_restore = 0;
        }
        run_steps(s, x + lo, hi - lo, NULL, v + lo, ts_flow_sched_step_index(s), steps);
        ts_flow_sched_free(&s);
    }
    char name[96];
    snprintf(name, sizeof name, "resume.%s.K%d.%dto%d", label, K, P_save, P_load);
    if (ok_restore)
        ts_check_bits(name, x, ref, n);
    else
        ts_verdict(name, 0, "restore refused");
    for (int i = 0; i < ck.n_items; i++) free(ck.arrays[i]);
    free(x0), free(ref), free(x), free(v);
}

static int test_resume(void) {
    printf("# N steps straight == K steps, state from 3 slices restored into 2 (and 1 into 4), the rest\n");
    struct ts_flow_sched_config cfg;
    const int64_t n = 1000;
    struct {
        const char * label;
        enum ts_flow_sched_kind kind;
        int order, steps;
        double shift;
    } cases[] = {{"unipc.o2", TS_FLOW_SCHED_UNIPC, 2, 8, 3.0},
                 {"unipc.o1", TS_FLOW_SCHED_UNIPC, 1, 5, 5.0},
                 {"unipc.o3", TS_FLOW_SCHED_UNIPC, 3, 7, 5.0},
                 {"euler", TS_FLOW_SCHED_EULER, 1, 6, 5.0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ts_flow_sched_config_wan(&cfg, cases[c].kind, cases[c].shift);
        cfg.solver_order = cases[c].order;
        for (int K = 0; K <= cases[c].steps; K++) resume_case(cases[c].label, &cfg, cases[c].steps, n, K, 3, 2);
        resume_case(cases[c].label, &cfg, cases[c].steps, n, cases[c].steps / 2, 1, 4);
    }
    // many threads vs one, on a latent big enough to go parallel: elementwise, so bit-identical
    {
        const int64_t big = 300000;
        float *a = ts_test_alloc(big), *b = ts_test_alloc(big), *v = ts_test_alloc(big);
        for (int64_t i = 0; i < big; i++) a[i] = b[i] = randn_ish();
        ts_flow_sched_config_wan(&cfg, TS_FLOW_SCHED_UNIPC, 3.0);
        ts_flow_sched_t s;
        ts_flow_sched_new(&cfg, 6, big, &s);
        run_steps(s, a, big, NULL, v, 0, 6);
        ts_flow_sched_free(&s);
        for (int p = 0; p < 7; p++) {  // 7 slices of a few thousand (below the parallel threshold)
            int64_t lo = big * p / 7, hi = big * (p + 1) / 7;
            ts_flow_sched_new(&cfg, 6, hi - lo, &s);
            run_steps(s, b + lo, hi - lo, NULL, v + lo, 0, 6);
            ts_flow_sched_free(&s);
        }
        ts_check_bits("threads.unipc.whole_vs_7_slices", a, b, big);
        free(a), free(b), free(v);
    }
    // refused restores: another step count, a missing item; the scheduler stays usable
    {
        ts_flow_sched_config_wan(&cfg, TS_FLOW_SCHED_UNIPC, 3.0);
        ts_flow_sched_t s, t;
        ts_flow_sched_new(&cfg, 8, 10, &s);
        ts_flow_sched_new(&cfg, 9, 10, &t);
        struct ts_flow_sched_item it[TS_FLOW_SCHED_STATE_MAX];
        int m = ts_flow_sched_state_get(s, it);
        ts_error_clear();
        enum ts_status st = ts_flow_sched_state_set(t, it, m);
        char d[300];
        snprintf(d, sizeof d, "%s: %s | %s", ts_status_name(st), ts_last_error(), ts_last_hint());
        ts_verdict("resume.refused.other_steps", st == TS_ERR_ARG && strstr(ts_last_error(), "steps"), d);
        ts_error_clear();
        st = ts_flow_sched_state_set(t, it, m - 1);  // no "last_sample"
        snprintf(d, sizeof d, "%s: %s", ts_status_name(st), ts_last_error());
        ts_verdict("resume.refused.missing_item", st == TS_ERR_FORMAT && strstr(ts_last_error(), "last_sample"), d);
        struct ts_flow_sched_config e;
        ts_flow_sched_config_wan(&e, TS_FLOW_SCHED_EULER, 3.0);
        ts_flow_sched_t u;
        ts_flow_sched_new(&e, 8, 10, &u);
        ts_error_clear();
        st = ts_flow_sched_state_set(u, it, m);
        snprintf(d, sizeof d, "%s: %s", ts_status_name(st), ts_last_error());
        ts_verdict("resume.refused.other_sampler", st == TS_ERR_ARG && strstr(ts_last_error(), "kind"), d);
        ts_flow_sched_free(&s), ts_flow_sched_free(&t), ts_flow_sched_free(&u);
    }
    return ts_test_finish("sample.resume");
}

// ---- configuration -------------------------------------------------------------------------

// Wan2.1's Diffusers repos: scheduler/scheduler_config.json
static const char * WAN_UNIPC =
    "{\"_class_name\": \"UniPCMultistepScheduler\", \"_diffusers_version\": \"0.33.0.dev0\", \"beta_end\": 0.02,"
    " \"beta_schedule\": \"linear\", \"beta_start\": 0.0001, \"disable_corrector\": [], \"dynamic_thresholding_ratio\":"
    " 0.995, \"final_sigmas_type\": \"zero\", \"flow_shift\": 3.0, \"lower_order_final\": true, "
    "\"num_train_timesteps\":"
    " 1000, \"predict_x0\": true, \"prediction_type\": \"flow_prediction\", \"rescale_betas_zero_snr\": false,"
    " \"sample_max_value\": 1.0, \"solver_order\": 2, \"solver_p\": null, \"solver_type\": \"bh2\", \"steps_offset\": "
    "0,"
    " \"thresholding\": false, \"timestep_spacing\": \"linspace\", \"trained_betas\": null, \"use_beta_sigmas\": false,"
    " \"use_exponential_sigmas\": false, \"use_flow_sigmas\": true, \"use_karras_sigmas\": false}";

// WAN_UNIPC with `from` replaced by `to`
static char * edit(const char * from, const char * to) {
    static char buf[4096];
    const char * p = strstr(WAN_UNIPC, from);
    TS_ASSERT(p);
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(p - WAN_UNIPC), WAN_UNIPC, to, p + strlen(from));
    return buf;
}

static void expect_error(const char * name, const char * json, enum ts_status want, const char * word) {
    struct ts_flow_sched_config cfg;
    ts_error_clear();
    enum ts_status st = ts_flow_sched_config_parse(json, "scheduler_config.json", &cfg);
    char d[512];
    snprintf(d, sizeof d, "%s: %s | HINT: %.60s...", ts_status_name(st), ts_last_error(), ts_last_hint());
    ts_verdict(name, st == want && strstr(ts_last_error(), word) && ts_last_hint()[0], d);
}

static int test_config(const char * dir) {
    printf("# scheduler_config.json, overrides, bad input\n");
    struct ts_flow_sched_config cfg, wan;
    char d[256];
    ts_error_clear();
    enum ts_status st = ts_flow_sched_config_parse(WAN_UNIPC, "wan", &cfg);
    ts_flow_sched_config_wan(&wan, TS_FLOW_SCHED_UNIPC, 3.0);
    int same = st == TS_OK && cfg.kind == wan.kind && cfg.shift == 3.0 && cfg.solver_order == 2 &&
               !cfg.solver_type_bh1 && cfg.lower_order_final && !cfg.final_sigma_min && cfg.n_disable_corrector == 0 &&
               cfg.num_train_timesteps == 1000;
    snprintf(d, sizeof d, "%s",
             st == TS_OK ? "UniPC, flow_shift 3, bh2, order 2 == ts_flow_sched_config_wan" : ts_last_error());
    ts_verdict("config.wan21_diffusers_unipc", same, d);

    ts_error_clear();
    st = ts_flow_sched_config_parse(
        "{\"_class_name\": \"FlowMatchEulerDiscreteScheduler\", \"shift\": 5.0,"
        " \"use_dynamic_shifting\": false, \"base_shift\": 0.5, \"max_shift\": 1.15}",
        "euler", &cfg);
    ts_verdict("config.euler_shift5", st == TS_OK && cfg.kind == TS_FLOW_SCHED_EULER && cfg.shift == 5.0,
               st == TS_OK ? "Euler, shift 5" : ts_last_error());

    ts_error_clear();
    st = ts_flow_sched_config_parse(edit("\"beta_end\"", "\"some_future_key\": 7, \"beta_end\""), "x", &cfg);
    ts_verdict("config.unknown_key_ignored", st == TS_OK, st == TS_OK ? "warned, parsed" : ts_last_error());

    // overrides as --sampler / --shift pass them
    ts_flow_sched_config_parse(WAN_UNIPC, "wan", &cfg);
    st = ts_flow_sched_config_override(&cfg, "euler", 0.0);
    ts_verdict("override.sampler_euler_keeps_shift", st == TS_OK && cfg.kind == TS_FLOW_SCHED_EULER && cfg.shift == 3.0,
               "UniPC(3.0) --sampler euler -> Euler(3.0)");
    st = ts_flow_sched_config_override(&cfg, "unipc", 5.0);
    ts_verdict("override.sampler_unipc_shift5",
               st == TS_OK && cfg.kind == TS_FLOW_SCHED_UNIPC && cfg.shift == 5.0 && cfg.solver_order == 2,
               "Euler --sampler unipc --shift 5 -> Wan's UniPC(5.0)");
    char line[128];
    ts_flow_sched_config_str(&cfg, line, sizeof line);
    ts_verdict("override.describe", strcmp(line, "unipc (flow_shift 5, order 2, bh2)") == 0, line);
    ts_error_clear();
    st = ts_flow_sched_config_override(&cfg, NULL, -2.0);
    snprintf(d, sizeof d, "%s: %s | HINT: %s", ts_status_name(st), ts_last_error(), ts_last_hint());
    ts_verdict("override.bad_shift", st == TS_ERR_ARG && strstr(ts_last_error(), "--shift") && cfg.shift == 5.0, d);
    ts_error_clear();
    st = ts_flow_sched_config_override(&cfg, "ddim", 0.0);
    snprintf(d, sizeof d, "%s: %s | HINT: %s", ts_status_name(st), ts_last_error(), ts_last_hint());
    ts_verdict("override.bad_sampler", st == TS_ERR_ARG && strstr(ts_last_error(), "ddim"), d);

    // bad input: one clear error each
    expect_error("bad.unknown_class", edit("UniPCMultistepScheduler", "DPMSolverMultistepScheduler"), TS_ERR_FORMAT,
                 "DPMSolverMultistepScheduler");
    expect_error("bad.no_class", edit("\"_class_name\": \"UniPCMultistepScheduler\", ", ""), TS_ERR_FORMAT,
                 "_class_name");
    expect_error("bad.epsilon", edit("\"flow_prediction\"", "\"epsilon\""), TS_ERR_FORMAT, "prediction_type");
    expect_error("bad.no_prediction_type", edit("\"prediction_type\": \"flow_prediction\", ", ""), TS_ERR_FORMAT,
                 "prediction_type");
    expect_error("bad.no_flow_sigmas", edit("\"use_flow_sigmas\": true", "\"use_flow_sigmas\": false"), TS_ERR_FORMAT,
                 "use_flow_sigmas");
    expect_error("bad.karras", edit("\"use_karras_sigmas\": false", "\"use_karras_sigmas\": true"), TS_ERR_FORMAT,
                 "use_karras_sigmas");
    expect_error("bad.thresholding", edit("\"thresholding\": false", "\"thresholding\": true"), TS_ERR_FORMAT,
                 "thresholding");
    expect_error("bad.dynamic_shifting", edit("\"beta_end\"", "\"use_dynamic_shifting\": true, \"beta_end\""),
                 TS_ERR_FORMAT, "use_dynamic_shifting");
    expect_error("bad.order4", edit("\"solver_order\": 2", "\"solver_order\": 4"), TS_ERR_FORMAT, "solver_order");
    expect_error("bad.solver_type", edit("\"bh2\"", "\"dpm\""), TS_ERR_FORMAT, "solver_type");
    expect_error("bad.final_sigmas_type", edit("\"zero\"", "\"one\""), TS_ERR_FORMAT, "final_sigmas_type");
    expect_error("bad.shift_type", edit("\"flow_shift\": 3.0", "\"flow_shift\": \"3\""), TS_ERR_FORMAT, "flow_shift");
    expect_error("bad.shift_negative", edit("\"flow_shift\": 3.0", "\"flow_shift\": -1"), TS_ERR_FORMAT, "flow_shift");
    expect_error("bad.solver_p", edit("\"solver_p\": null", "\"solver_p\": {}"), TS_ERR_FORMAT, "solver_p");
    expect_error("bad.disable_corrector", edit("\"disable_corrector\": []", "\"disable_corrector\": [\"a\"]"),
                 TS_ERR_FORMAT, "disable_corrector");
    expect_error(
        "bad.euler_stochastic",
        "{\"_class_name\": \"FlowMatchEulerDiscreteScheduler\", \"shift\": 5.0, \"stochastic_sampling\": true}",
        TS_ERR_FORMAT, "stochastic_sampling");
    expect_error("bad.euler_invert",
                 "{\"_class_name\": \"FlowMatchEulerDiscreteScheduler\", \"shift\": 5.0, \"invert_sigmas\": true}",
                 TS_ERR_FORMAT, "invert_sigmas");
    expect_error("bad.not_json", "{\"_class_name\": \"UniPCMultistepScheduler\",", TS_ERR_FORMAT, "not valid JSON");
    expect_error("bad.not_object", "[1, 2]", TS_ERR_FORMAT, "not a JSON object");

    ts_error_clear();
    char path[1024];
    snprintf(path, sizeof path, "%s/no_such_scheduler_config.json", dir);
    st = ts_flow_sched_config_load(path, &cfg);
    snprintf(d, sizeof d, "%s: %s", ts_status_name(st), ts_last_error());
    ts_verdict("bad.missing_file", st == TS_ERR_IO && strstr(ts_last_error(), "no_such"), d);
    snprintf(path, sizeof path, "%s/scheduler_config.json", dir);
    ts_error_clear();
    st = ts_flow_sched_config_load(path, &cfg);
    ts_verdict("config.load_file", st == TS_OK && cfg.kind == TS_FLOW_SCHED_UNIPC && cfg.shift == 3.0,
               st == TS_OK ? path : ts_last_error());

    ts_flow_sched_t s;
    ts_error_clear();
    st = ts_flow_sched_new(&wan, 0, 10, &s);
    snprintf(d, sizeof d, "%s: %s", ts_status_name(st), ts_last_error());
    ts_verdict("bad.zero_steps", st == TS_ERR_ARG && s == NULL, d);
    return ts_test_finish("sample.config");
}

int main(int argc, char ** argv) {
    const char * mode = argc > 1 ? argv[1] : "";
    const char * dir = argc > 2 ? argv[2] : TS_SOURCE_DIR "/tests/fixtures/wan_sched";
    ts_log_set_level(TS_LOG_ERROR);  // the unknown-key warning is expected
    if (strcmp(mode, "fixtures") == 0) return test_fixtures(dir);
    if (strcmp(mode, "resume") == 0) return test_resume();
    if (strcmp(mode, "config") == 0) return test_config(dir);
    fprintf(stderr, "usage: test_flow_sched fixtures|resume|config [FIXTURE_DIR]\n");
    return 2;
}
