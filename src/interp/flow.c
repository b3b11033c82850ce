// Dense optical flow, DIS style (Kroeger et al., "Fast Optical Flow using Dense
// Inverse Search", ECCV 2016): per pyramid level, coarse to fine, (1) inverse-
// compositional Gauss-Newton alignment of mean-normalised patches on a grid,
// (2) densification: each pixel averages the patches covering it, weighted by
// their photometric error there, (3) a few Jacobi iterations of an edge-aware
// variational refinement (linearised brightness constancy + smoothness).
// Every loop is a gather in a fixed order: results do not depend on threads.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "interp/interp.h"

void ts_flow_params_init(struct ts_flow_params * p) {
    p->patch = 8;
    p->stride = 3;
    p->iters = 4;
    p->min_size = 16;
    p->var_iters = 3;
    p->var_alpha = 20.0f;
    p->finest = 0;
}

void ts_interp_gray(const uint8_t * rgb, int w, int h, float * gray) {
    const int64_t n = (int64_t)w * h;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++)
        gray[i] = 0.299f * rgb[3 * i] + 0.587f * rgb[3 * i + 1] + 0.114f * rgb[3 * i + 2];
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }


// Same for a (h, w, 2) flow: both components.
static inline void bilin2(const float * F, int w, int h, float x, float y, float * u, float * v) {
    if (x < 0) x = 0;
    if (y < 0) y = 0;
    if (x > (float)(w - 1)) x = (float)(w - 1);
    if (y > (float)(h - 1)) y = (float)(h - 1);
    int x0 = (int)x, y0 = (int)y;
    if (x0 > w - 2) x0 = w > 1 ? w - 2 : 0;
    if (y0 > h - 2) y0 = h > 1 ? h - 2 : 0;
    const float fx = x - (float)x0, fy = y - (float)y0;
    const int x1 = w > 1 ? x0 + 1 : x0, y1 = h > 1 ? y0 + 1 : y0;
    for (int c = 0; c < 2; c++) {
        const float a = F[((size_t)y0 * w + x0) * 2 + c], b = F[((size_t)y0 * w + x1) * 2 + c];
        const float d = F[((size_t)y1 * w + x0) * 2 + c], e = F[((size_t)y1 * w + x1) * 2 + c];
        const float top = a + fx * (b - a), bot = d + fx * (e - d);
        const float r = top + fy * (bot - top);
        if (c == 0) *u = r;
        else *v = r;
    }
}

// Next pyramid level: [1 2 1] blur then 2x2 mean. Coarse pixel i covers fine 2i, 2i+1.
static void downsample(const float * src, int w, int h, float * dst, int wc, int hc, float * tmp) {
#pragma omp parallel for schedule(static)
    for (int y = 0; y < h; y++) {
        const float * r = src + (size_t)y * w;
        for (int x = 0; x < w; x++) {
            const float l = r[clampi(x - 1, 0, w - 1)], c = r[x], rr = r[clampi(x + 1, 0, w - 1)];
            tmp[(size_t)y * w + x] = 0.25f * l + 0.5f * c + 0.25f * rr;
        }
    }
#pragma omp parallel for schedule(static)
    for (int yc = 0; yc < hc; yc++) {
        for (int xc = 0; xc < wc; xc++) {
            float acc = 0;
            for (int dy = 0; dy < 2; dy++) {
                const int y = 2 * yc + dy;
                const float * u = tmp + (size_t)clampi(y - 1, 0, h - 1) * w;
                const float * c = tmp + (size_t)y * w;
                const float * d = tmp + (size_t)clampi(y + 1, 0, h - 1) * w;
                for (int dx = 0; dx < 2; dx++) {
                    const int x = 2 * xc + dx;
                    acc += 0.25f * u[x] + 0.5f * c[x] + 0.25f * d[x];
                }
            }
            dst[(size_t)yc * wc + xc] = 0.25f * acc;
        }
    }
}

// Central-difference gradients, one-sided at the border.
static void gradients(const float * I, int w, int h, float * gx, float * gy) {
#pragma omp parallel for schedule(static)
    for (int y = 0; y < h; y++) {
        const int ym = clampi(y - 1, 0, h - 1), yp = clampi(y + 1, 0, h - 1);
        for (int x = 0; x < w; x++) {
            const int xm = clampi(x - 1, 0, w - 1), xp = clampi(x + 1, 0, w - 1);
            const size_t i = (size_t)y * w + x;
            gx[i] = (I[(size_t)y * w + xp] - I[(size_t)y * w + xm]) / (float)(xp - xm > 0 ? xp - xm : 1);
            gy[i] = (I[(size_t)yp * w + x] - I[(size_t)ym * w + x]) / (float)(yp - ym > 0 ? yp - ym : 1);
        }
    }
}

// Left edge of patch i on an axis of n pixels (patch ps, stride st): the grid
// ends with a patch flush against the far border.
static inline int patch_pos(int i, int st, int n, int ps) {
    const int p = i * st;
    return p < n - ps ? p : n - ps;
}
static inline int patch_count(int n, int ps, int st) { return (n - ps + st - 1) / st + 1; }

// Bilinear samples of I1 over the ps x ps patch at (x0, y0) shifted by (u, v), into o.
static void warp_patch(const float * I1, int w, int h, int ps, int x0, int y0, float u, float v, float * o) {
    const float xs = (float)x0 + u, ys = (float)y0 + v;
    if (xs >= 0 && ys >= 0 && xs + (float)ps < (float)w && ys + (float)ps < (float)h) {
        // inside: one set of bilinear weights for the whole patch
        const int ix = (int)xs, iy = (int)ys;
        const float fx = xs - (float)ix, fy = ys - (float)iy;
        for (int yy = 0; yy < ps; yy++) {
            const float * r0 = I1 + (size_t)(iy + yy) * w + ix, * r1 = r0 + w;
            for (int xx = 0; xx < ps; xx++) {
                const float top = r0[xx] + fx * (r0[xx + 1] - r0[xx]);
                const float bot = r1[xx] + fx * (r1[xx + 1] - r1[xx]);
                o[yy * ps + xx] = top + fy * (bot - top);
            }
        }
    } else {
        for (int yy = 0; yy < ps; yy++)
            for (int xx = 0; xx < ps; xx++) o[yy * ps + xx] = ts_interp_bilinear(I1, w, h, (float)(x0 + xx) + u, (float)(y0 + yy) + v);
    }
}

// Inverse search for every patch: flows (np, 2) from the dense initial flow U, and
// each patch's densification weights (np, ps, ps): 1 / max(1, |I1(x + u) - I0(x)|)
// at the patch's final flow.
static void inverse_search(const struct ts_flow_params * p, int ps, const float * I0, const float * I1,
                           const float * gx, const float * gy, int w, int h, const float * U, float * pf,
                           float * pw) {
    const int st = p->stride;
    const int nx = patch_count(w, ps, st), ny = patch_count(h, ps, st);
    const int n = ps * ps;
#pragma omp parallel
    {
        float * buf = ts_malloc(sizeof(float) * 4 * (size_t)n);  // template, centred gx, centred gy, warped
        float * T = buf, * cx = buf + n, * cy = buf + 2 * n, * Wp = buf + 3 * n;
#pragma omp for schedule(static)
        for (int pi = 0; pi < nx * ny; pi++) {
            const int x0 = patch_pos(pi % nx, st, w, ps), y0 = patch_pos(pi / nx, st, h, ps);
            float mT = 0, mgx = 0, mgy = 0, u = 0, v = 0;
            for (int yy = 0; yy < ps; yy++)
                for (int xx = 0; xx < ps; xx++) {
                    const size_t i = (size_t)(y0 + yy) * w + x0 + xx;
                    const int k = yy * ps + xx;
                    T[k] = I0[i];
                    cx[k] = gx[i];
                    cy[k] = gy[i];
                    mT += I0[i];
                    mgx += gx[i];
                    mgy += gy[i];
                    u += U[2 * i];
                    v += U[2 * i + 1];
                }
            mT /= (float)n;
            mgx /= (float)n;
            mgy /= (float)n;
            u /= (float)n;
            v /= (float)n;
            float h11 = 0, h12 = 0, h22 = 0;
            for (int k = 0; k < n; k++) {
                T[k] -= mT;
                cx[k] -= mgx;
                cy[k] -= mgy;
                h11 += cx[k] * cx[k];
                h12 += cx[k] * cy[k];
                h22 += cy[k] * cy[k];
            }
            // Levenberg-style damping: flat patches keep their initial flow
            const float damp = 1e-3f * (h11 + h22) + 1.0f;
            h11 += damp;
            h22 += damp;
            const float det = h11 * h22 - h12 * h12;
            const float u_init = u, v_init = v;
            float cost_init = -1, cost = 0;
            for (int it = 0; it <= p->iters; it++) {
                // residual of the mean-normalised patches at (u, v)
                warp_patch(I1, w, h, ps, x0, y0, u, v, Wp);
                float mW = 0;
                for (int k = 0; k < n; k++) mW += Wp[k];
                mW /= (float)n;
                float b1 = 0, b2 = 0;
                cost = 0;
                for (int k = 0; k < n; k++) {
                    const float e = Wp[k] - mW - T[k];
                    b1 += cx[k] * e;
                    b2 += cy[k] * e;
                    cost += e * e;
                }
                if (cost_init < 0) cost_init = cost;
                if (it == p->iters) break;
                const float du = (h22 * b1 - h12 * b2) / det;
                const float dv = (h11 * b2 - h12 * b1) / det;
                u -= du;
                v -= dv;
                if (du * du + dv * dv < 1e-6f) {
                    it = p->iters - 1;  // one more pass for the final cost
                }
            }
            if (!(cost <= cost_init)) {  // diverged (or NaN): keep the initial flow
                u = u_init;
                v = v_init;
                warp_patch(I1, w, h, ps, x0, y0, u, v, Wp);
            }
            pf[2 * pi] = u;
            pf[2 * pi + 1] = v;
            float * wo = pw + (size_t)pi * n;  // Wp is I1 at the final flow
            for (int yy = 0; yy < ps; yy++)
                for (int xx = 0; xx < ps; xx++) {
                    const float d = fabsf(Wp[yy * ps + xx] - I0[(size_t)(y0 + yy) * w + x0 + xx]);
                    wo[yy * ps + xx] = 1.0f / (d > 1.0f ? d : 1.0f);
                }
        }
        free(buf);
    }
}

// Dense flow from the patch flows: each pixel averages the patches covering it,
// weighted by 1 / max(1, |I1(x + u_i) - I0(x)|) (pw, from inverse_search).
static void densify(const struct ts_flow_params * p, int ps, int w, int h, const float * pf, const float * pw,
                    float * U) {
    const int st = p->stride;
    const int nx = patch_count(w, ps, st), ny = patch_count(h, ps, st);
#pragma omp parallel for schedule(static)
    for (int y = 0; y < h; y++) {
        int jy0 = (y - ps + 1 + st - 1) / st;
        if (y - ps + 1 <= 0) jy0 = 0;
        for (int x = 0; x < w; x++) {
            int jx0 = (x - ps + 1 + st - 1) / st;
            if (x - ps + 1 <= 0) jx0 = 0;
            float su = 0, sv = 0, sw = 0;
            for (int jy = jy0; jy < ny; jy++) {
                const int py = patch_pos(jy, st, h, ps);
                if (py > y) break;
                if (y >= py + ps) continue;
                for (int jx = jx0; jx < nx; jx++) {
                    const int px = patch_pos(jx, st, w, ps);
                    if (px > x) break;
                    if (x >= px + ps) continue;
                    const float u = pf[2 * (jy * nx + jx)], v = pf[2 * (jy * nx + jx) + 1];
                    const float wt = pw[(size_t)(jy * nx + jx) * ps * ps + (size_t)(y - py) * ps + (x - px)];
                    su += wt * u;
                    sv += wt * v;
                    sw += wt;
                }
            }
            if (sw > 0) {
                U[2 * ((size_t)y * w + x)] = su / sw;
                U[2 * ((size_t)y * w + x) + 1] = sv / sw;
            }
        }
    }
}

// Variational refinement of U: minimise, per pixel, the gradient-normalised
// linearised brightness constancy (Iz + Ix du + Iy dv)^2 / (|grad I|^2 + 1) plus
// alpha * sum over the 4 neighbours of a_n |w - w_n|^2, where a_n falls off
// across image edges of I0. Jacobi iterations (two buffers): thread-independent.
static void refine(const struct ts_flow_params * p, const float * I0, const float * I1, int w, int h, float * U,
                   float * scratch) {
    const size_t n = (size_t)w * h;
    float * Iz = scratch, * Ix = scratch + n, * Iy = scratch + 2 * n;
    float * Wn = scratch + 3 * n;  // (h, w, 4) neighbour weights: left, right, up, down
    float * A = scratch + 7 * n, * B = scratch + 9 * n;  // (h, w, 2) flow buffers
#pragma omp parallel for schedule(static)
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            const size_t i = (size_t)y * w + x;
            const float u = U[2 * i], v = U[2 * i + 1];
            const float xs = (float)x + u, ys = (float)y + v;
            const float c = ts_interp_bilinear(I1, w, h, xs, ys);
            // gradient of the warped image: average of I0's and I1's (at the warp)
            const float gx1 = 0.5f * (ts_interp_bilinear(I1, w, h, xs + 1, ys) - ts_interp_bilinear(I1, w, h, xs - 1, ys));
            const float gy1 = 0.5f * (ts_interp_bilinear(I1, w, h, xs, ys + 1) - ts_interp_bilinear(I1, w, h, xs, ys - 1));
            const float gx0 = 0.5f * (I0[(size_t)y * w + clampi(x + 1, 0, w - 1)] - I0[(size_t)y * w + clampi(x - 1, 0, w - 1)]);
            const float gy0 = 0.5f * (I0[(size_t)clampi(y + 1, 0, h - 1) * w + x] - I0[(size_t)clampi(y - 1, 0, h - 1) * w + x]);
            Ix[i] = 0.5f * (gx0 + gx1);
            Iy[i] = 0.5f * (gy0 + gy1);
            Iz[i] = c - I0[i];
            // right and down here; left and up are the neighbours' right and down (same value)
            const float dr = x + 1 < w ? I0[i + 1] - I0[i] : 0, dd = y + 1 < h ? I0[i + w] - I0[i] : 0;
            Wn[4 * i + 1] = x + 1 < w ? p->var_alpha * expf(-dr * dr / 50.0f) : 0;
            Wn[4 * i + 3] = y + 1 < h ? p->var_alpha * expf(-dd * dd / 50.0f) : 0;
        }
    }
#pragma omp parallel for schedule(static)
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const size_t i = (size_t)y * w + x;
            Wn[4 * i + 0] = x > 0 ? Wn[4 * (i - 1) + 1] : 0;
            Wn[4 * i + 2] = y > 0 ? Wn[4 * (i - w) + 3] : 0;
        }
    memcpy(A, U, sizeof(float) * 2 * n);
    for (int it = 0; it < p->var_iters; it++) {
        const float * src = (it & 1) ? B : A;
        float * dst = (it & 1) ? A : B;
#pragma omp parallel for schedule(static)
        for (int y = 0; y < h; y++) {
            // neighbour rows, clamped: a neighbour outside the image has weight 0 and
            // adds exactly 0 (the flows are finite), so no branch in the inner loop
            const float * up = src + 2 * (size_t)(y > 0 ? y - 1 : y) * w;
            const float * dn = src + 2 * (size_t)(y + 1 < h ? y + 1 : y) * w;
            const float * row = src + 2 * (size_t)y * w;
            for (int x = 0; x < w; x++) {
                const size_t i = (size_t)y * w + x;
                const int xl = x > 0 ? x - 1 : x, xr = x + 1 < w ? x + 1 : x;
                const float * a = Wn + 4 * i;
                const float su = a[0] * row[2 * xl] + a[1] * row[2 * xr] + a[2] * up[2 * x] + a[3] * dn[2 * x];
                const float sv = a[0] * row[2 * xl + 1] + a[1] * row[2 * xr + 1] + a[2] * up[2 * x + 1] +
                                 a[3] * dn[2 * x + 1];
                const float sw = a[0] + a[1] + a[2] + a[3];
                const float ix = Ix[i], iy = Iy[i];
                const float beta = 1.0f / (ix * ix + iy * iy + 1.0f);
                // neighbour mean increments relative to the linearisation point U
                const float au = sw > 0 ? su / sw - U[2 * i] : 0, av = sw > 0 ? sv / sw - U[2 * i + 1] : 0;
                const float r = Iz[i] + ix * au + iy * av;
                const float den = sw + beta * (ix * ix + iy * iy);
                const float k = den > 0 ? beta * r / den : 0;
                dst[2 * i] = U[2 * i] + au - ix * k;
                dst[2 * i + 1] = U[2 * i + 1] + av - iy * k;
            }
        }
    }
    memcpy(U, (p->var_iters & 1) ? B : A, sizeof(float) * 2 * n);
}

#define TS_FLOW_MAX_LEVELS 16

void ts_flow_estimate(const struct ts_flow_params * p, const float * I0, const float * I1, int w, int h, float * flow) {
    TS_ASSERT(w >= 1 && h >= 1 && p->patch >= 2 && p->stride >= 1);
    // pyramid sizes
    int lw[TS_FLOW_MAX_LEVELS], lh[TS_FLOW_MAX_LEVELS], L = 1;
    lw[0] = w;
    lh[0] = h;
    const int floor_size = p->min_size > p->patch ? p->min_size : p->patch;
    while (L < TS_FLOW_MAX_LEVELS && lw[L - 1] / 2 >= floor_size && lh[L - 1] / 2 >= floor_size) {
        lw[L] = lw[L - 1] / 2;
        lh[L] = lh[L - 1] / 2;
        L++;
    }
    // one allocation: two pyramids, gradients, flows, refinement scratch
    const size_t n0 = (size_t)w * h;
    size_t pyr = 0;
    size_t off[TS_FLOW_MAX_LEVELS];
    for (int l = 0; l < L; l++) {
        off[l] = pyr;
        pyr += (size_t)lw[l] * lh[l];
    }
    const int st = p->stride;
    const size_t npatch = (size_t)patch_count(w, p->patch < w ? p->patch : w, st) *
                          (size_t)patch_count(h, p->patch < h ? p->patch : h, st);
    float * mem = ts_malloc(sizeof(float) * (2 * pyr + n0 /* blur tmp */ + 2 * n0 /* gx gy */ + 2 * n0 /* U coarse */ +
                                             2 * npatch + 11 * n0 /* refine */ +
                                             npatch * (size_t)p->patch * p->patch /* patch weights */));
    float * P0 = mem, * P1 = P0 + pyr, * tmp = P1 + pyr, * gx = tmp + n0, * gy = gx + n0, * Uc = gy + n0,
          * pf = Uc + 2 * n0, * scratch = pf + 2 * npatch, * pw = scratch + 11 * n0;
    memcpy(P0, I0, sizeof(float) * n0);
    memcpy(P1, I1, sizeof(float) * n0);
    for (int l = 1; l < L; l++) {
        downsample(P0 + off[l - 1], lw[l - 1], lh[l - 1], P0 + off[l], lw[l], lh[l], tmp);
        downsample(P1 + off[l - 1], lw[l - 1], lh[l - 1], P1 + off[l], lw[l], lh[l], tmp);
    }
    for (int l = L - 1; l >= 0; l--) {
        const int wl = lw[l], hl = lh[l];
        const float * A = P0 + off[l], * B = P1 + off[l];
        float * U = l == 0 ? flow : tmp;  // this level's dense flow (tmp is free after the pyramid)
        if (l == L - 1) {
            memset(U, 0, sizeof(float) * 2 * (size_t)wl * hl);
        } else {
            // upsample the coarser flow (in Uc): fine x <-> coarse (x - 0.5) / 2, vectors doubled
            const int wc = lw[l + 1], hc = lh[l + 1];
#pragma omp parallel for schedule(static)
            for (int y = 0; y < hl; y++)
                for (int x = 0; x < wl; x++) {
                    float u = 0, v = 0;
                    bilin2(Uc, wc, hc, ((float)x - 0.5f) * 0.5f, ((float)y - 0.5f) * 0.5f, &u, &v);
                    U[2 * ((size_t)y * wl + x)] = 2 * u;
                    U[2 * ((size_t)y * wl + x) + 1] = 2 * v;
                }
        }
        const int ps = p->patch < wl && p->patch < hl ? p->patch : (wl < hl ? wl : hl);
        if (l >= p->finest || l == L - 1) {
            gradients(A, wl, hl, gx, gy);
            inverse_search(p, ps, A, B, gx, gy, wl, hl, U, pf, pw);
            densify(p, ps, wl, hl, pf, pw, U);
        }
        if (p->var_iters > 0) refine(p, A, B, wl, hl, U, scratch);
        if (l > 0) memcpy(Uc, U, sizeof(float) * 2 * (size_t)wl * hl);
    }
    free(mem);
}
