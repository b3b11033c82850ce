// The motion controls against the PyTorch reference (tests/fixtures/ctl_ref.h5
// and ctl_tiny.h5, written by tools/make_ctl_fixtures.py): the per-frame
// control vectors the engine builds from the flags' text equal those of
// tools/physics.py control_vector; the DiT forward with controls, with all-zero
// controls and with none matches the reference (1 and 2 threads); with the
// embedding's last layer zeroed the output is bit-identical to the model
// without the control weights; the DiT with controls over chunks (threads
// trading halos) is bit-identical to the whole video; and a model file made
// before the size group (config controls = 12) is refused with the way out.
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>  // mkstemp, unlink

#include "core/common.h"
#include "model/controls.h"
#include "model/stdit/stdit.h"
#include "parallel/parallel.h"
#include "ref_chunks.h"   // ref_check_chunks
#include "ref_fixture.h"  // read_ref, to_float
#include "thread_comm.h"
#include "ts_test.h"

// A string attribute ("" when absent).
static const char * attr_str(hid_t f, const char * name, char * buf, size_t cap) {
    buf[0] = '\0';
    if (H5Aexists(f, name) <= 0) return buf;
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    hid_t t = H5Aget_type(a);
    hid_t mt = H5Tcopy(H5T_C_S1);
    if (H5Tis_variable_str(t) > 0) {
        char * s = NULL;
        H5Tset_size(mt, H5T_VARIABLE);
        H5Aread(a, mt, &s);
        snprintf(buf, cap, "%s", s ? s : "");
        H5free_memory(s);
    } else {
        memset(buf, 0, cap);
        H5Tset_size(mt, cap - 1);
        H5Aread(a, mt, buf);
    }
    H5Tclose(mt);
    H5Tclose(t);
    H5Aclose(a);
    return buf;
}

// The vectors of a spec given as text (attributes ctl.NAME.path, ...) for frames [0, T).
static float * spec_vectors(hid_t f, const char * name, const struct ts_control_video * v) {
    static const char * const keys[TS_CONTROL_COUNT] = {"path", "motion", "gravity", "bounce", "growth"};
    char bufs[TS_CONTROL_COUNT][256];
    const char * texts[TS_CONTROL_COUNT];
    for (int g = 0; g < TS_CONTROL_COUNT; g++) {
        char an[64];
        snprintf(an, sizeof an, "ctl.%s.%s", name, keys[g]);
        texts[g] = attr_str(f, an, bufs[g], sizeof bufs[g])[0] ? bufs[g] : NULL;
    }
    struct ts_control_plan p;
    if (ts_control_plan_build(&p, texts, NULL, NULL, v) != TS_OK) {
        fprintf(stderr, "spec %s: %s\n", name, ts_last_error());
        exit(2);
    }
    float * out = calloc((size_t)v->frames * TS_CONTROL_DIM, sizeof(float));
    ts_control_plan_frames(&p, 0, v->frames, out);
    ts_control_plan_free(&p);
    return out;
}

int main(int argc, char ** argv) {
    const char * fix = argc > 1 ? argv[1] : TS_SOURCE_DIR "/tests/fixtures";
    char model_path[1024], ref_path[1024], prompt[256], buf[64];
    snprintf(model_path, sizeof(model_path), "%s/ctl_tiny.h5", fix);
    snprintf(ref_path, sizeof(ref_path), "%s/ctl_ref.h5", fix);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(ref_path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0 || strcmp(attr_str(f, "magic", buf, sizeof buf), "timeshard-fixture") != 0) {
        fprintf(stderr, "cannot open the fixture %s\n", ref_path);
        return 2;
    }
    attr_str(f, "prompt", prompt, sizeof prompt);

    // the vectors: the engine's from the flags' text == tools/physics.py control_vectors'
    ts_backend_t be0 = ts_backend_cpu_new(1);
    ts_model * m0 = NULL;
    TS_ASSERT(ts_model_load(&m0, model_path, be0) == TS_OK);
    VERDICT(m0->cfg.controls == TS_CONTROL_DIM && m0->dit.ctl_fc1_w && m0->dit.ctl_fc2_w && m0->dit.ctl_tok_fc1_w &&
                m0->dit.ctl_tok_fc2_w,
            "model: config controls = %d, control weights loaded", m0->cfg.controls);
    {  // a file made before the size group (config controls = 12) is refused, with the way out
        char old_path[] = "/tmp/ts-ctl12-XXXXXX";
        int fd = mkstemp(old_path);
        FILE * in = fopen(model_path, "rb");
        FILE * out = fd >= 0 ? fdopen(fd, "wb") : NULL;
        TS_ASSERT(in && out);
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, in)) > 0) TS_ASSERT(fwrite(chunk, 1, n, out) == n);
        fclose(in);
        fclose(out);
        // the attribute is deleted and written again (H5Awrite on it in place fails in HDF5 1.10)
        hid_t of = H5Fopen(old_path, H5F_ACC_RDWR, H5P_DEFAULT);
        hid_t og = of >= 0 ? H5Gopen2(of, "config", H5P_DEFAULT) : -1;
        TS_ASSERT(og >= 0 && H5Adelete(og, "controls") >= 0);
        hid_t sp = H5Screate(H5S_SCALAR);
        hid_t oa = H5Acreate2(og, "controls", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
        const long long twelve = 12;
        TS_ASSERT(oa >= 0 && H5Awrite(oa, H5T_NATIVE_LLONG, &twelve) >= 0);
        H5Aclose(oa);
        H5Sclose(sp);
        H5Gclose(og);
        H5Fclose(of);
        ts_model * m12 = NULL;
        ts_error_clear();
        enum ts_status st12 = ts_model_load(&m12, old_path, be0);
        VERDICT(st12 != TS_OK && strstr(ts_last_error(), "'controls' = 12") &&
                    strstr(ts_last_hint(), "export it again with tools/export.py"),
                "a model with controls = 12 is refused: %s / %s", ts_last_error(), ts_last_hint());
        if (m12) ts_model_free(&m12);
        unlink(old_path);
    }
    int64_t nz = 0;
    double * rz = read_ref(f, "dit.z", &nz);
    const int hw = ts_cfg_latent_hw(&m0->cfg);
    const int64_t T = nz / ((int64_t)hw * hw * m0->cfg.latent_channels);
    struct ts_control_video video = {T, m0->cfg.image_size, m0->cfg.image_size, m0->cfg.fps};
    float * ctl_a = spec_vectors(f, "a", &video);
    float * ctl_b = spec_vectors(f, "b", &video);
    int64_t nc = 0;
    double * ra = read_ref(f, "ctl.a", &nc);
    double * rb = read_ref(f, "ctl.b", NULL);
    VERDICT(nc == T * TS_CONTROL_DIM, "ctl.a holds %lld frames of %d", (long long)(nc / TS_CONTROL_DIM),
            TS_CONTROL_DIM);
    ts_check_rel("controls A (path, gravity, bounce, growth) == control_vector", ctl_a, ra, nc, 1e-6);
    ts_check_rel("controls B (motion, gravity: a planned throw) == control_vectors", ctl_b, rb, nc, 1e-6);
    // the planner alone: a motion stopped by the wall, a fall that bounces (tools/physics.py
    // plan_track), a growth (a held centre and a planned size, plan_size)
    static const char * const planned[3][2] = {
        {"c", "controls C (motion alone: a planned line) == control_vectors"},
        {"d", "controls D (gravity, bounce: a planned fall) == control_vectors"},
        {"e", "controls E (growth alone: a held centre, a planned size) == control_vectors"},
    };
    for (int s = 0; s < 3; s++) {
        char ds[16];
        snprintf(ds, sizeof ds, "ctl.%s", planned[s][0]);
        float * got = spec_vectors(f, planned[s][0], &video);
        double * want = read_ref(f, ds, NULL);
        ts_check_rel(planned[s][1], got, want, nc, 1e-6);
        free(got);
        free(want);
    }
    ts_model_free(&m0);
    ts_backend_free(&be0);

    float * z = to_float(rz, nz);
    float * zeros = calloc((size_t)(T * TS_CONTROL_DIM), sizeof(float));
    float * half = calloc((size_t)(T * TS_CONTROL_DIM), sizeof(float));  // A, then frames without controls
    memcpy(half, ctl_a, (size_t)(T / 2 * TS_CONTROL_DIM) * sizeof(float));
    for (int threads = 1; threads <= 2; threads++) {
        printf("# threads %d\n", threads);
        ts_backend_t be = ts_backend_cpu_new(threads);
        ts_model * m = NULL;
        TS_ASSERT(ts_model_load(&m, model_path, be) == TS_OK);
        ts_text_cond tc = {0};
        TS_ASSERT(ts_text_encode(m, prompt, &tc) == TS_OK);
        float * v = calloc((size_t)nz, sizeof(float));
        float * v_none = calloc((size_t)nz, sizeof(float));
        ts_dit_ws * ws = ts_dit_ws_new(m, T, 0, T);
        struct {
            const char * name;
            const float * ctl;
            const char * ref;
        } cases[] = {
            {"dit.forward, controls A", ctl_a, "dit.v_ctl"},
            {"dit.forward, controls B", ctl_b, "dit.v_ctl_b"},
            {"dit.forward, controls all zero (none given)", zeros, "dit.v_zero"},
            {"dit.forward, controls A on the first half of the frames", half, "dit.v_ctl_half"},
        };
        for (int i = 0; i < 4; i++) {
            ts_dit_ws_set_controls(ws, m, cases[i].ctl);
            TS_ASSERT(ts_dit_forward(ws, m, v, z, NULL, NULL, 0.7f, &tc, NULL) == TS_OK);
            double * r = read_ref(f, cases[i].ref, NULL);
            ts_check_rel(cases[i].name, v, r, nz, 1e-4);
            free(r);
        }
        // no control vector at all (a workspace never given one): the reference's controls=None
        ts_dit_ws * ws2 = ts_dit_ws_new(m, T, 0, T);
        TS_ASSERT(ts_dit_forward(ws2, m, v_none, z, NULL, NULL, 0.7f, &tc, NULL) == TS_OK);
        double * r = read_ref(f, "dit.v_none", NULL);
        ts_check_rel("dit.forward, no controls", v_none, r, nz, 1e-4);
        free(r);
        // the flag gates: all-zero vectors add nothing, bit for bit
        ts_dit_ws_set_controls(ws, m, zeros);
        TS_ASSERT(ts_dit_forward(ws, m, v, z, NULL, NULL, 0.7f, &tc, NULL) == TS_OK);
        ts_check_bits("dit.forward, all-zero control vectors == no controls", v, v_none, nz);
        // both embeddings' last layers zeroed (CPU backend: weights in host memory): with
        // controls A the output is the no-controls output, bit for bit
        const int64_t D = m->cfg.width;
        memset(m->dit.ctl_fc2_w, 0, (size_t)(D * D) * sizeof(float));
        memset(m->dit.ctl_fc2_b, 0, (size_t)D * sizeof(float));
        memset(m->dit.ctl_tok_fc2_w, 0, (size_t)(D * D) * sizeof(float));
        memset(m->dit.ctl_tok_fc2_b, 0, (size_t)D * sizeof(float));
        ts_dit_ws_set_controls(ws, m, ctl_a);
        TS_ASSERT(ts_dit_forward(ws, m, v, z, NULL, NULL, 0.7f, &tc, NULL) == TS_OK);
        ts_check_bits("dit.forward, zeroed ctl_fc2 and ctl_tok_fc2 == no controls", v, v_none, nz);
        // and with the control weights taken away (a model without them): the same bits
        ts_dit_ws * ws3 = ts_dit_ws_new(m, T, 0, T);
        float * keep[4] = {m->dit.ctl_fc1_w, m->dit.ctl_fc1_b, m->dit.ctl_fc2_w, m->dit.ctl_fc2_b};
        m->dit.ctl_fc1_w = m->dit.ctl_fc1_b = m->dit.ctl_fc2_w = m->dit.ctl_fc2_b = NULL;
        ts_dit_ws_set_controls(ws3, m, NULL);
        TS_ASSERT(ts_dit_forward(ws3, m, v, z, NULL, NULL, 0.7f, &tc, NULL) == TS_OK);
        m->dit.ctl_fc1_w = keep[0], m->dit.ctl_fc1_b = keep[1], m->dit.ctl_fc2_w = keep[2], m->dit.ctl_fc2_b = keep[3];
        ts_check_bits("dit.forward, model without control weights == no controls", v, v_none, nz);
        ts_dit_ws_free(m, &ws);
        ts_dit_ws_free(m, &ws2);
        ts_dit_ws_free(m, &ws3);
        ts_text_cond_free(m, &tc);
        ts_model_free(&m);
        ts_backend_free(&be);
        free(v), free(v_none);
    }
    // controls are per frame by the global index: chunks == the whole video, bit for bit
    for (int P = 2; P <= 3; P++) ref_check_chunks(model_path, prompt, z, ctl_a, T, P, -1);
    H5Fclose(f);
    free(rz), free(z), free(ra), free(rb), free(ctl_a), free(ctl_b), free(zeros), free(half);
    return ts_test_finish("test_ref_controls");
}
