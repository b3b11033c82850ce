// Test filter: raw RGB24 keyframes in, interpolated raw RGB24 frames out, through
// ts_interp_stream (the quality test's C side).
// usage: interp_raw W H FPS_IN FPS_OUT IN.rgb OUT.rgb [mode]
//   mode: mc (default), blend (plain linear blending), repeat (nearest keyframe)
// Tuning hooks (environment): TUNE_VAR, TUNE_ALPHA, TUNE_FP, TUNE_FB, TUNE_STRIDE, TUNE_ITERS,
// TUNE_MIN, TUNE_PATCH, TUNE_FINEST, TUNE_MLO, TUNE_MHI, TUNE_CUBIC, TUNE_CR, TUNE_CLO, TUNE_CHI
// override the flow and interpolation defaults (quality.py: ONLY=seed,... runs a subset).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "interp/interp.h"

struct src {
    FILE * f;
    size_t fb;
};

static enum ts_status key(void * ud, int64_t g, uint8_t * rgb, int * got) {
    struct src * s = ud;
    *got = fread(rgb, 1, s->fb, s->f) == s->fb;
    return TS_OK;
}

int main(int argc, char ** argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: interp_raw W H FPS_IN FPS_OUT IN.rgb OUT.rgb [mc|blend|repeat]\n");
        return 2;
    }
    const int w = atoi(argv[1]), h = atoi(argv[2]);
    const char * mode = argc > 7 ? argv[7] : "mc";
    struct ts_interp_timing tm;
    if (ts_interp_timing_from_fps(atof(argv[3]), atof(argv[4]), &tm) != TS_OK) {
        fprintf(stderr, "interp_raw: %s\n", ts_last_error());
        return 1;
    }
    struct src s = {fopen(argv[5], "rb"), (size_t)w * h * 3};
    FILE * out = fopen(argv[6], "wb");
    if (!s.f || !out) {
        perror("interp_raw");
        return 1;
    }
    struct ts_interp_params ip;
    ts_interp_params_init(&ip);
    if (getenv("TUNE_VAR")) ip.flow.var_iters = atoi(getenv("TUNE_VAR"));
    if (getenv("TUNE_ALPHA")) ip.flow.var_alpha = atof(getenv("TUNE_ALPHA"));
    if (getenv("TUNE_FP")) ip.sigma_fp = atof(getenv("TUNE_FP"));
    if (getenv("TUNE_FB")) ip.sigma_fb = atof(getenv("TUNE_FB"));
    if (getenv("TUNE_STRIDE")) ip.flow.stride = atoi(getenv("TUNE_STRIDE"));
    if (getenv("TUNE_ITERS")) ip.flow.iters = atoi(getenv("TUNE_ITERS"));
    if (getenv("TUNE_MIN")) ip.flow.min_size = atoi(getenv("TUNE_MIN"));
    if (getenv("TUNE_PATCH")) ip.flow.patch = atoi(getenv("TUNE_PATCH"));
    if (getenv("TUNE_FINEST")) ip.flow.finest = atoi(getenv("TUNE_FINEST"));
    if (getenv("TUNE_MLO")) ip.motion_lo = atof(getenv("TUNE_MLO"));
    if (getenv("TUNE_MHI")) ip.motion_hi = atof(getenv("TUNE_MHI"));
    if (getenv("TUNE_CUBIC")) ip.cubic = atoi(getenv("TUNE_CUBIC"));
    if (getenv("TUNE_CR")) ip.conf_radius = atoi(getenv("TUNE_CR"));
    if (getenv("TUNE_CLO")) ip.conf_lo = atof(getenv("TUNE_CLO"));
    if (getenv("TUNE_CHI")) ip.conf_hi = atof(getenv("TUNE_CHI"));
    uint8_t * frame = ts_malloc(s.fb);
    double t0 = ts_time();
    int64_t n = 0;
    if (!strcmp(mode, "mc")) {
        ts_interp_stream * st = NULL;
        if (ts_interp_stream_open(&ip, w, h, tm, 0, -1, key, &s, &st) != TS_OK) return 1;
        int got = 1;
        while (ts_interp_stream_next(st, frame, NULL, &got) == TS_OK && got) {
            fwrite(frame, 1, s.fb, out);
            n++;
        }
        ts_interp_stream_free(&st);
    } else {
        // baselines on the same timing: all keyframes in memory (test sizes only)
        uint8_t * keys = NULL;
        int64_t T = 0;
        for (;;) {
            keys = realloc(keys, (T + 1) * s.fb);
            if (fread(keys + T * s.fb, 1, s.fb, s.f) != s.fb) break;
            T++;
        }
        const int64_t total = ts_interp_out_count(T, tm);
        for (int64_t j = 0; j < total; j++) {
            const int64_t k = j * tm.num / tm.den, rem = j * tm.num - k * tm.den;
            const double t = (double)rem / tm.den;
            const uint8_t * a = keys + k * s.fb, * b = rem ? keys + (k + 1) * s.fb : a;
            for (size_t i = 0; i < s.fb; i++) {
                if (!strcmp(mode, "blend")) frame[i] = (uint8_t)((1 - t) * a[i] + t * b[i] + 0.5);
                else frame[i] = t < 0.5 ? a[i] : b[i];
            }
            fwrite(frame, 1, s.fb, out);
            n++;
        }
        free(keys);
    }
    fprintf(stderr, "interp_raw: %s: %lld frames in %.2f s\n", mode, (long long)n, ts_time() - t0);
    free(frame);
    fclose(s.f);
    return fclose(out) != 0;
}
