// The Wan2.1 transformer's forward equals diffusers' WanTransformer3DModel on
// tiny random models (fp32, bf16, fp16 stored), loaded from the diffusers
// layout and from one original-naming file; both layouts give the same bits;
// prompt weights as a bias on the cross-attention's text keys.
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "model/wan/wan.h"
#include "wan_fixture.h"

// Prompt weights in the cross-attention (<name>.weighted.safetensors, tools/wan/make_weighted.py):
// log-weights (one -inf) on the text keys against diffusers with the same bias in
// attn2's logits; a zero bias gives the unweighted path bit for bit; every key
// masked gives a finite output (the cross-attention adds nothing).
static void weighted(const char * dir, const char * cname, ts_backend_t be) {
    struct wan_io io = {0};
    char path[1024], name[160];
    snprintf(name, sizeof name, "wan.%s.weighted", cname);
    snprintf(path, sizeof path, "%s/%s.weighted.safetensors", dir, cname);
    ts_st * st = NULL;
    ts_wan_model * m = NULL;
    ts_wan_ws * ws = NULL;
    if (wan_io_open(&io, dir, cname) || ts_st_open(path, &st) != TS_OK) {
        ts_verdict(name, 0, "fixture unreadable");
        return;
    }
    snprintf(path, sizeof path, "%s/%s", dir, cname);
    const struct ts_st_tensor *tb = ts_st_find(st, "bias"), *to = ts_st_find(st, "out");
    if (!tb || !to || tb->shape[0] != io.L || ts_wan_load(path, be, &m) != TS_OK ||
        ts_wan_ws_new(m, io.T, 0, io.T, io.h, io.w, 0, io.L, &ws) != TS_OK) {
        ts_verdict(name, 0, ts_last_error());
    } else {
        int64_t n = (int64_t)io.T * io.h * io.w * io.C;
        float *a = ts_test_alloc(n), *b = ts_test_alloc(n), *bias = ts_test_alloc(io.L);
        double * ref = ts_test_alloc_d(n);
        for (int64_t i = 0; i < n; i++) ref[i] = ((const float *)to->data)[i];
        const float * bp[1] = {tb->data};
        struct ts_wan_text tx = {io.context, bp, 1, NULL, NULL, NULL};
        if (ts_wan_forward_text(ws, m, a, io.x, io.timestep, &tx, NULL) != TS_OK)
            ts_verdict(name, 0, ts_last_error());
        else
            ts_check_rel(name, a, ref, n, 1e-4);
        // a zero bias and no bias: the same bits
        bp[0] = bias;
        char nm[200];
        snprintf(nm, sizeof nm, "wan.%s.zero_bias_is_unweighted", cname);
        if (ts_wan_forward_text(ws, m, a, io.x, io.timestep, &tx, NULL) != TS_OK ||
            ts_wan_forward(ws, m, b, io.x, io.timestep, io.context, NULL) != TS_OK)
            ts_verdict(nm, 0, ts_last_error());
        else
            ts_check_bits(nm, a, b, n);
        for (int i = 0; i < io.L; i++) bias[i] = -INFINITY;
        int finite = ts_wan_forward_text(ws, m, a, io.x, io.timestep, &tx, NULL) == TS_OK;
        for (int64_t i = 0; finite && i < n; i++) finite = isfinite(a[i]);
        snprintf(nm, sizeof nm, "wan.%s.every_key_masked_is_finite", cname);
        ts_verdict(nm, finite, NULL);
        free(a);
        free(b);
        free(bias);
        free(ref);
    }
    ts_wan_ws_free(&ws);
    ts_wan_free(&m);
    ts_st_close(&st);
    ts_st_close(&io.st);
}

int main(int argc, char ** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
        return 2;
    }
    const char * dir = argv[1];
    ts_backend_t be = ts_backend_cpu_new(2);
    for (int ci = 0; ci < WAN_N_CONFIGS; ci++) {
        struct wan_io io = {0};
        if (wan_io_open(&io, dir, wan_configs[ci])) {
            ts_verdict(wan_configs[ci], 0, "fixture unreadable");
            continue;
        }
        int64_t n = (int64_t)io.T * io.h * io.w * io.C;
        double * ref = ts_test_alloc_d(n);
        for (int64_t i = 0; i < n; i++) ref[i] = io.out[i];
        float * outs[3] = {0};
        for (int k = 0; k < 3; k++) {  // diffusers directory, original-naming file, diffusers file alone
            int lay = k == 1 ? TS_WAN_LAYOUT_ORIGINAL : TS_WAN_LAYOUT_DIFFUSERS;
            char path[1024], name[128];
            if (k == 0)
                snprintf(path, sizeof path, "%s/%s", dir, wan_configs[ci]);
            else if (k == 1)
                snprintf(path, sizeof path, "%s/%s.orig.safetensors", dir, wan_configs[ci]);
            else if (ci != 1)  // (the sharded one has no single file)
                snprintf(path, sizeof path, "%s/%s/transformer/diffusion_pytorch_model.safetensors", dir,
                         wan_configs[ci]);
            else
                continue;
            snprintf(name, sizeof name, "wan.%s.%s", wan_configs[ci],
                     k == 2 ? "diffusers_file" : ts_wan_layout_name(lay));
            ts_error_clear();
            ts_wan_model * m = NULL;
            ts_wan_ws * ws = NULL;
            if (ts_wan_load(path, be, &m) != TS_OK ||
                ts_wan_ws_new(m, io.T, 0, io.T, io.h, io.w, 0, io.L, &ws) != TS_OK) {
                ts_verdict(name, 0, ts_last_error());
                ts_wan_free(&m);
                continue;
            }
            if ((int)m->layout != lay) ts_verdict(name, 0, "loaded as the other layout");
            if (strlen(m->digest) != 64) ts_verdict(name, 0, "no model digest");
            if (ci == 1 && k == 0) {  // the sharded one: index, 6 headers, config (checked with hashlib)
                char dn[160];
                snprintf(dn, sizeof dn, "%s.model_digest", name);
                ts_verdict(dn,
                           strcmp(m->digest, "c5bf68763235e18d3608af6610c59b1e4103ab6c4200e926846f833fcd088cce") == 0,
                           m->digest);
            }
            outs[k] = ts_test_alloc(n);
            enum ts_status st = ts_wan_forward(ws, m, outs[k], io.x, io.timestep, io.context, NULL);
            if (st != TS_OK)
                ts_verdict(name, 0, ts_last_error());
            else
                ts_check_rel(name, outs[k], ref, n, 1e-4);
            ts_wan_ws_free(&ws);
            ts_wan_free(&m);
        }
        if (outs[0] && outs[1]) {
            char name[128];
            snprintf(name, sizeof name, "wan.%s.layouts_agree", wan_configs[ci]);
            ts_check_bits(name, outs[0], outs[1], n);
        }
        free(outs[0]);
        free(outs[1]);
        free(outs[2]);
        free(ref);
        ts_st_close(&io.st);
    }
    for (int ci = 0; ci < WAN_N_CONFIGS; ci++) weighted(dir, wan_configs[ci], be);
    // the 3D RoPE at the published head width 128 (t, h, w = 44, 42, 42) against
    // diffusers' WanRotaryPosEmbed: 7 frames of 3x4 tokens, whole and from frame 2
    char rp[1024];
    snprintf(rp, sizeof rp, "%s/rope_hd128.safetensors", dir);
    ts_st * rs = NULL;
    if (ts_st_open(rp, &rs) != TS_OK) {
        ts_verdict("wan.rope_hd128", 0, ts_last_error());
    } else {
        const float * rc = ts_st_find(rs, "cos")->data;
        const float * rsn = ts_st_find(rs, "sin")->data;
        const int half = 64, per = 12;
        float *ct = ts_test_alloc(7 * per * half), *stb = ts_test_alloc(7 * per * half);
        int64_t g0s[2] = {0, 2}, Ts[2] = {7, 3};
        for (int k = 0; k < 2; k++) {
            ts_wan_rope_tables(ct, stb, 128, g0s[k], Ts[k], 3, 4);
            double err = 0.0;
            for (int64_t r = 0; r < Ts[k] * per; r++)
                for (int i = 0; i < half; i++) {
                    int64_t rr = g0s[k] * per + r;  // the reference row; pair i uses cos[2i], sin[2i + 1]
                    double e1 = fabs((double)ct[r * half + i] - rc[rr * 128 + 2 * i]);
                    double e2 = fabs((double)stb[r * half + i] - rsn[rr * 128 + 2 * i + 1]);
                    err = e1 > err ? e1 : err;
                    err = e2 > err ? e2 : err;
                }
            char name[64], d[64];
            snprintf(name, sizeof name, "wan.rope_hd128.frames_%lld_to_%lld", (long long)g0s[k],
                     (long long)(g0s[k] + Ts[k] - 1));
            snprintf(d, sizeof d, "max|diff|=%.1e", err);
            ts_verdict(name, err <= 1e-7, d);
        }
        free(ct);
        free(stb);
        ts_st_close(&rs);
    }
    ts_backend_free(&be);
    return ts_test_finish("test_wan_ref");
}
