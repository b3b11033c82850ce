// The C model against the PyTorch reference (tests/fixtures/ref.h5, written by
// tools/make_fixtures.py from tools/train/tsmodel.py): tokenizer, text encoder,
// DiT forward (text-to-video, image-to-video, causal), VAE decode and encode,
// and a 2-step guided generation through the whole pipeline. Also docs/ARCHITECTURE.md's
// property 3: the DiT over the whole video and over frame chunks (each chunk a
// thread, halos traded through an in-process communicator) is bit-identical.
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ref_chunks.h"   // ref_check_chunks
#include "ref_fixture.h"  // read_ref, to_float
#include "thread_comm.h"
#include "ts_test.h"
#include "core/common.h"
#include "parallel/parallel.h"
#include "io/latents.h"
#include "model/stdit/stdit.h"

static const char * FIX;  // fixtures folder

// ---- fixture reading --------------------------------------------------------------

static char * read_attr_str(hid_t f, const char * name) {
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    hid_t t = H5Aget_type(a);
    static char buf[1024];
    memset(buf, 0, sizeof(buf));
    if (H5Tis_variable_str(t) > 0) {
        char * s = NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Aread(a, mt, &s);
        snprintf(buf, sizeof(buf), "%s", s ? s : "");
        H5free_memory(s);
        H5Tclose(mt);
    } else {
        hid_t mt = H5Tcopy(t);
        H5Tset_size(mt, sizeof(buf) - 1);
        H5Aread(a, mt, buf);
        H5Tclose(mt);
    }
    H5Tclose(t);
    H5Aclose(a);
    return buf;
}

int main(int argc, char ** argv) {
    FIX = argc > 1 ? argv[1] : TS_SOURCE_DIR "/tests/fixtures";
    char model_path[1024], ref_path[1024];
    snprintf(model_path, sizeof(model_path), "%s/tiny.h5", FIX);
    snprintf(ref_path, sizeof(ref_path), "%s/ref.h5", FIX);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(ref_path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        fprintf(stderr, "cannot open %s\n", ref_path);
        return 2;
    }
    if (strcmp(read_attr_str(f, "magic"), "timeshard-fixture") != 0) {
        fprintf(stderr, "%s is not a timeshard fixture\n", ref_path);
        return 2;
    }
    char prompt[1024];
    snprintf(prompt, sizeof(prompt), "%s", read_attr_str(f, "prompt"));
    char unknown_ref[256];
    snprintf(unknown_ref, sizeof(unknown_ref), "%s", read_attr_str(f, "unknown_words"));

    for (int threads = 1; threads <= 2; threads++) {
        printf("# threads %d\n", threads);
        ts_backend_t be = ts_backend_cpu_new(threads);
        ts_model * m = NULL;
        if (ts_model_load(&m, model_path, be) != TS_OK) {
            fprintf(stderr, "load: %s\n", ts_last_error());
            return 1;
        }
        const struct ts_model_config * c = &m->cfg;
        int L = c->text_len;
        int64_t n;
        // tokenizer
        int32_t ids[64];
        char unknown[256];
        int words = 0, nv = 0;
        TS_ASSERT(ts_tokenize(m, prompt, ids, NULL, &nv, unknown, sizeof(unknown), &words) == TS_OK);
        double * rid = read_ref(f, "text.ids", NULL);
        double * rnv = read_ref(f, "text.n_valid", NULL);
        int ok = nv == (int)rnv[0];
        for (int i = 0; i < L; i++) ok &= ids[i] == (int32_t)rid[i];
        ts_verdict("tokenizer.ids", ok, "");
        ts_verdict("tokenizer.unknown", strcmp(unknown, unknown_ref) == 0, unknown);
        free(rid), free(rnv);
        // text encoder
        ts_text_cond tc = {0}, tu = {0};
        TS_ASSERT(ts_text_encode(m, prompt, &tc) == TS_OK);
        TS_ASSERT(ts_text_encode(m, "", &tu) == TS_OK);
        double * r = read_ref(f, "text.tokens", &n);
        ts_check_rel("text.tokens", tc.tokens, r, n, 1e-4);
        free(r);
        r = read_ref(f, "text.pooled", &n);
        ts_check_rel("text.pooled", tc.pooled, r, n, 1e-4);
        free(r);
        r = read_ref(f, "text_empty.tokens", &n);
        ts_check_rel("text_empty.tokens", tu.tokens, r, n, 1e-4);
        free(r);
        // the second word at weight 0 ("red::0"): the reference masks it as a key in
        // the encoder's attention and the DiT's cross attention, and pools without it
        TS_ASSERT(strncmp(prompt, "a red ", 6) == 0);
        char prompt_w0[1100];
        snprintf(prompt_w0, sizeof prompt_w0, "a red::0 %s", prompt + 6);
        ts_text_cond tw = {0};
        TS_ASSERT(ts_text_encode(m, prompt_w0, &tw) == TS_OK);
        r = read_ref(f, "text_w0.tokens", &n);
        ts_check_rel("text.tokens, a word at weight 0", tw.tokens, r, n, 1e-4);
        free(r);
        r = read_ref(f, "text_w0.pooled", &n);
        ts_check_rel("text.pooled, a word at weight 0", tw.pooled, r, n, 1e-4);
        free(r);
        // DiT: whole video
        double * rz = read_ref(f, "dit.z", &n);
        float * z = to_float(rz, n);
        int64_t T = n / ((int64_t)ts_cfg_latent_hw(c) * ts_cfg_latent_hw(c) * c->latent_channels);
        float * v = calloc((size_t)n, sizeof(float));
        ts_dit_ws * ws = ts_dit_ws_new(m, T, 0, T);
        TS_ASSERT(ts_dit_forward(ws, m, v, z, NULL, NULL, 0.7f, &tc, NULL) == TS_OK);
        r = read_ref(f, "dit.v", NULL);
        ts_check_rel("dit.forward t2v", v, r, n, 1e-4);
        free(r);
        TS_ASSERT(ts_dit_forward(ws, m, v, z, NULL, NULL, 0.7f, &tw, NULL) == TS_OK);
        r = read_ref(f, "dit_w0.v", NULL);
        ts_check_rel("dit.forward t2v, a word at weight 0", v, r, n, 1e-4);
        free(r);
        ts_text_cond_free(m, &tw);
        double * rc = read_ref(f, "dit.cond", NULL);
        float * cond = to_float(rc, n);
        float * cmask = calloc((size_t)T, sizeof(float));
        cmask[0] = 1.0f;
        TS_ASSERT(ts_dit_forward(ws, m, v, z, cond, cmask, 0.7f, &tc, NULL) == TS_OK);
        r = read_ref(f, "dit.v_i2v", NULL);
        ts_check_rel("dit.forward i2v", v, r, n, 1e-4);
        free(r);
        m->cfg.causal = 1;
        TS_ASSERT(ts_dit_forward(ws, m, v, z, NULL, NULL, 0.7f, &tc, NULL) == TS_OK);
        m->cfg.causal = 0;
        r = read_ref(f, "dit.v_causal", NULL);
        ts_check_rel("dit.forward causal", v, r, n, 1e-4);
        free(r);
        ts_dit_ws_free(m, &ws);
        // VAE
        int64_t nz;
        double * rvz = read_ref(f, "vae.z", &nz);
        float * vz = to_float(rvz, nz);
        int hw = ts_cfg_latent_hw(c), H = c->image_size;
        int64_t frames = nz / ((int64_t)hw * hw * c->latent_channels);
        float * img = calloc((size_t)(frames * H * H * 3), sizeof(float));
        ts_vae_ws * vws = ts_vae_ws_new(m);
        for (int64_t i = 0; i < frames; i++)
            ts_vae_decode(vws, m, img + i * H * H * 3, vz + i * hw * hw * c->latent_channels);
        r = read_ref(f, "vae.decoded", NULL);
        ts_check_rel("vae.decode", img, r, frames * H * H * 3, 1e-4);
        free(r);
        int64_t ni;
        double * rimg = read_ref(f, "vae.image", &ni);
        float * fimg = to_float(rimg, ni);
        int64_t nimg = ni / ((int64_t)H * H * 3);
        float * enc = calloc((size_t)(nimg * hw * hw * c->latent_channels), sizeof(float));
        for (int64_t i = 0; i < nimg; i++)
            ts_vae_encode(vws, m, enc + i * hw * hw * c->latent_channels, fimg + i * H * H * 3);
        r = read_ref(f, "vae.encoded", NULL);
        ts_check_rel("vae.encode", enc, r, nimg * hw * hw * c->latent_channels, 1e-4);
        free(r);
        ts_vae_ws_free(m, &vws);
        free(rimg), free(fimg), free(enc), free(rvz), free(vz), free(img);
        free(rz), free(z), free(v), free(rc), free(cond), free(cmask);
        ts_text_cond_free(m, &tc);
        ts_text_cond_free(m, &tu);
        ts_model_free(&m);
        ts_backend_free(&be);
    }

    // property 3: whole video vs chunks, bit for bit (T = 7 frames, W = 2)
    {
        int64_t n;
        double * rz = read_ref(f, "dit.z", &n);
        float * z = to_float(rz, n);
        for (int P = 2; P <= 3; P++) ref_check_chunks(model_path, "a red circle moving left on a blue background", z, NULL, 7, P, 0);
        ref_check_chunks(model_path, "a red circle moving left on a blue background", z, NULL, 7, 3, 1);
        free(rz), free(z);
    }
    H5Fclose(f);
    return ts_test_finish("test_ref");
}
