// RoPE angle tables shared by the CPU and CUDA backends (built on the host,
// uploaded once). Angles are computed in double and rounded to float.
// The tables feed be->ops->rope: entry [row * (hd/2) + i] rotates the pair
// (x[2i], x[2i+1]) of a head.
#pragma once
#include <math.h>
#include <stdint.h>

// cos, sin (npos, dim_pairs): angle(p, i) = pos[p] * theta^(-i / dim_pairs),
// i.e. the standard RoPE frequency theta^(-2i / d) for a head of d = 2*dim_pairs.
static inline void ts_rope_table_1d(float * cos_tab, float * sin_tab, const int64_t * pos, int64_t npos, int dim_pairs,
                                    float theta) {
    for (int64_t p = 0; p < npos; p++) {
        for (int i = 0; i < dim_pairs; i++) {
            double freq = pow((double)theta, -(double)i / (double)dim_pairs);
            double ang = (double)pos[p] * freq;
            cos_tab[p * dim_pairs + i] = (float)cos(ang);
            sin_tab[p * dim_pairs + i] = (float)sin(ang);
        }
    }
}

// 2D RoPE for a gh x gw token grid, head width hd (multiple of 4).
// cos, sin (gh*gw, hd/2); token n = y*gw + x. Pairs [0, hd/4) rotate by y and
// pairs [hd/4, hd/2) by x, each with the 1D frequencies of dim_pairs = hd/4.
static inline void ts_rope_table_2d(float * cos_tab, float * sin_tab, int gh, int gw, int hd, float theta) {
    int q = hd / 4, half = hd / 2;
    for (int y = 0; y < gh; y++) {
        for (int x = 0; x < gw; x++) {
            int64_t n = (int64_t)y * gw + x;
            for (int i = 0; i < q; i++) {
                double freq = pow((double)theta, -(double)i / (double)q);
                double ay = (double)y * freq, ax = (double)x * freq;
                cos_tab[n * half + i] = (float)cos(ay);
                sin_tab[n * half + i] = (float)sin(ay);
                cos_tab[n * half + q + i] = (float)cos(ax);
                sin_tab[n * half + q + i] = (float)sin(ax);
            }
        }
    }
}
