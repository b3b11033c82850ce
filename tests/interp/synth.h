// Synthetic frames for the interpolation tests: a smooth analytic texture
// (sum of sinusoids, no resampling error when shifted) and a textured disc
// moving over a textured background, as functions of the global frame index.
#pragma once
#include <math.h>
#include <stdint.h>

// Background texture value at (x, y), about 40..215.
static inline float synth_tex(double x, double y) {
    static const double k[6][3] = {{0.21, 0.05, 0.3}, {-0.07, 0.17, 1.1}, {0.13, -0.11, 2.0},
                                   {0.04, 0.29, 0.7}, {0.31, 0.19, 1.7}, {-0.23, 0.09, 2.6}};
    double v = 128;
    for (int i = 0; i < 6; i++) v += 14.0 * sin(k[i][0] * x + k[i][1] * y + k[i][2]);
    return (float)v;
}

static inline uint8_t synth_u8(double v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5); }

// Gray texture shifted by (dx, dy): I(x, y) = tex(x - dx, y - dy), as floats.
static inline void synth_gray_shifted(float * I, int w, int h, double dx, double dy) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) I[y * w + x] = synth_tex(x - dx, y - dy);
}

// Frame g of a scene: static textured background, a disc of radius 12 whose
// centre moves (1.2, 0.6) px per frame (its own texture moves with it),
// anti-aliased edge. RGB24 into rgb (h, w, 3). Time may be fractional.
static inline void synth_scene(uint8_t * rgb, int w, int h, double g) {
    const double cx = 16 + 1.2 * g, cy = 14 + 0.6 * g, r = 12;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const double bg = synth_tex(x, y);
            const double dx = x - cx, dy = y - cy;
            double cov = r + 0.5 - sqrt(dx * dx + dy * dy);
            cov = cov < 0 ? 0 : cov > 1 ? 1 : cov;
            const double fg = 255 - 0.8 * synth_tex(3 * dx + 50, 3 * dy + 20);
            uint8_t * o = rgb + 3 * (y * w + x);
            o[0] = synth_u8(bg + (fg - bg) * cov);
            o[1] = synth_u8(0.7 * bg + (0.3 * fg - 0.7 * bg) * cov);
            o[2] = synth_u8(255 - bg + (60 - (255 - bg)) * cov);
        }
}
