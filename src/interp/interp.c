// Frame interpolation from the flows of a keyframe pair: for each pixel of the
// frame at time t, the points of a and b that move onto it (fixed-point
// iteration on the scaled flows, then bicubic backward warping), weighted by
// how well each warp converged and by forward-backward consistency (occlusion),
// and blended; where the motion is under about a pixel, the plain blend of a and
// b takes over. Also the output timing for any fps ratio, and the streaming,
// rank-splittable iterator over the output frames.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "interp/interp.h"

void ts_interp_params_init(struct ts_interp_params * p) {
    ts_flow_params_init(&p->flow);
    p->sigma_fp = 0.3f;
    p->sigma_fb = 0.75f;
    p->kappa = 1e-3f;
    p->motion_lo = 0.5f;
    p->motion_hi = 1.0f;
    p->cubic = 1;
    p->conf_radius = 4;
    p->conf_lo = 0.5f;
    p->conf_hi = 0.8f;
}

// ---- one pair -----------------------------------------------------------------------------
struct ts_interp_pair {
    int w, h;
    const uint8_t * a;  // (h, w, 3), borrowed
    const uint8_t * b;  // (h, w, 3), borrowed
    float * gray;       // (2, h, w) luma of a and b; owned, one allocation with the flows and fa, fb
    float * f01;        // (h, w, 2) flow a -> b
    float * f10;        // (h, w, 2) flow b -> a
    float * fa;         // (h, w, 4) a as floats, RGB and a pad lane (4-wide taps for the warps)
    float * fb;         // (h, w, 4) b the same
    float * conf;       // (h, w) 0..1: 0 where the flows explain too little of the change from a to b
    float * cscr;       // (2, h, w) scratch of the confidence
    uint8_t * mc;       // (nby, nbx) 1: a block of TS_INTERP_BLOCK^2 pixels that may need motion
                        // compensation, 0: all its pixels are the plain blend; owned
    int nbx, nby;
    float mc_lo;        // the motion_lo that mc was made for
};

// Side of the blocks of ts_interp_pair.mc.
#define TS_INTERP_BLOCK 8

ts_interp_pair * ts_interp_pair_new(int w, int h) {
    TS_ASSERT(w >= 1 && h >= 1);
    ts_interp_pair * pr = ts_calloc(1, sizeof *pr);
    const size_t n = (size_t)w * h;
    pr->w = w;
    pr->h = h;
    pr->gray = ts_malloc(sizeof(float) * 17 * n);
    pr->f01 = pr->gray + 2 * n;
    pr->f10 = pr->f01 + 2 * n;
    pr->fa = pr->f10 + 2 * n;
    pr->fb = pr->fa + 4 * n;
    pr->conf = pr->fb + 4 * n;
    pr->cscr = pr->conf + n;
    pr->nbx = (w + TS_INTERP_BLOCK - 1) / TS_INTERP_BLOCK;
    pr->nby = (h + TS_INTERP_BLOCK - 1) / TS_INTERP_BLOCK;
    pr->mc = ts_malloc(2 * (size_t)pr->nbx * pr->nby);
    return pr;
}

void ts_interp_pair_free(ts_interp_pair ** pp) {
    if (!*pp) return;
    free((*pp)->gray);
    free((*pp)->mc);
    TS_FREE(*pp);
}

// The blocks of pr->mc. A pixel of a frame is the plain blend when neither flow
// moves it, nor the points that the fixed-point search visits, by more than lo
// (ts_interp_pair_frame). Those points lie within max |flow| of the pixel and a
// bilinear flow sample is no larger than its 4 taps: the blocks holding a flow
// over lo, dilated by max |flow| + 1 px, hold every pixel that may need more.
// Serial: the result must not depend on threads.
static void motion_blocks(ts_interp_pair * pr, float lo) {
    const int w = pr->w, h = pr->h, nbx = pr->nbx, nby = pr->nby, B = TS_INTERP_BLOCK;
    uint8_t * raw = pr->mc + (size_t)nbx * nby, * mc = pr->mc;
    memset(raw, 0, (size_t)nbx * nby);
    const float guard = lo - 1e-3f * (1.0f + fabsf(lo));  // rounding of the bilinear samples
    float R = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const size_t i = (size_t)y * w + x;
            float m = fmaxf(fmaxf(fabsf(pr->f01[2 * i]), fabsf(pr->f01[2 * i + 1])),
                            fmaxf(fabsf(pr->f10[2 * i]), fabsf(pr->f10[2 * i + 1])));
            if (!(m <= 1e6f)) m = 1e6f;  // NaN or huge: every block
            if (m > R) R = m;
            if (m > guard) raw[(size_t)(y / B) * nbx + x / B] = 1;
        }
    const int rb = (int)((ceilf(R) + 1.0f + (float)B - 1.0f) / (float)B);  // reach in blocks
    // separable dilation: rows into mc, then columns back into raw, copied to mc
    for (int by = 0; by < nby; by++)
        for (int bx = 0; bx < nbx; bx++) {
            uint8_t v = 0;
            for (int k = bx - rb < 0 ? 0 : bx - rb; k <= bx + rb && k < nbx && !v; k++) v = raw[(size_t)by * nbx + k];
            mc[(size_t)by * nbx + bx] = v;
        }
    for (int by = 0; by < nby; by++)
        for (int bx = 0; bx < nbx; bx++) {
            uint8_t v = 0;
            for (int k = by - rb < 0 ? 0 : by - rb; k <= by + rb && k < nby && !v; k++) v = mc[(size_t)k * nbx + bx];
            raw[(size_t)by * nbx + bx] = v;
        }
    memcpy(mc, raw, (size_t)nbx * nby);
    pr->mc_lo = lo;
}


// The flows' confidence, pr->conf: over a (2r+1)^2 window, q = the mean luma
// residual of the two flows (|b(x + f01) - a(x)| and |a(x + f10) - b(x)|) over
// the mean no-motion residual |b(x) - a(x)|. Where the flows explain the change
// (q <= lo) the confidence is 1; where they explain little more than standing
// still does (q >= hi: content that changes rather than moves, such as noise,
// digits of a counter, a fractal's detail) it is 0, and the frame is the plain
// blend there, which is the least-squares guess for unpredictable change.
// Windows with under 2 levels of change on average keep 1. Gathers in a fixed
// order: thread-independent.
static void confidence(ts_interp_pair * pr, const struct ts_interp_params * p) {
    const int w = pr->w, h = pr->h, r = p->conf_radius;
    const size_t n = (size_t)w * h;
    if (r <= 0 || !(p->conf_hi > p->conf_lo)) {
        for (size_t i = 0; i < n; i++) pr->conf[i] = 1;
        return;
    }
    const float * ga = pr->gray, * gb = pr->gray + n;
    float * em = pr->conf, * e0 = pr->cscr, * hm = pr->cscr + n;  // per pixel, then row sums
#pragma omp parallel for schedule(static)
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const size_t i = (size_t)y * w + x;
            const float ra = fabsf(ts_interp_bilinear(gb, w, h, (float)x + pr->f01[2 * i], (float)y + pr->f01[2 * i + 1]) - ga[i]);
            const float rb = fabsf(ts_interp_bilinear(ga, w, h, (float)x + pr->f10[2 * i], (float)y + pr->f10[2 * i + 1]) - gb[i]);
            em[i] = 0.5f * (ra + rb);
            e0[i] = fabsf(gb[i] - ga[i]);
        }
    // row sums: em's into hm, e0's in place (each row from its own copy)
#pragma omp parallel
    {
        float * rowm = ts_malloc(sizeof(float) * 2 * (size_t)w), * row0 = rowm + w;
#pragma omp for schedule(static)
        for (int y = 0; y < h; y++) {
            memcpy(rowm, em + (size_t)y * w, sizeof(float) * (size_t)w);
            memcpy(row0, e0 + (size_t)y * w, sizeof(float) * (size_t)w);
            for (int x = 0; x < w; x++) {
                float sm = 0, s0 = 0;
                for (int k = x - r < 0 ? 0 : x - r; k <= x + r && k < w; k++) {
                    sm += rowm[k];
                    s0 += row0[k];
                }
                hm[(size_t)y * w + x] = sm;
                e0[(size_t)y * w + x] = s0;
            }
        }
        free(rowm);
    }
    const float lo = p->conf_lo, hi = p->conf_hi;
#pragma omp parallel for schedule(static)
    for (int y = 0; y < h; y++) {
        const int k0 = y - r < 0 ? 0 : y - r, k1 = y + r < h ? y + r : h - 1;
        for (int x = 0; x < w; x++) {
            float sm = 0, s0 = 0;
            for (int k = k0; k <= k1; k++) {
                sm += hm[(size_t)k * w + x];
                s0 += e0[(size_t)k * w + x];
            }
            const int cx = (x + r < w ? x + r : w - 1) - (x - r < 0 ? 0 : x - r) + 1;
            float c = 1;
            if (s0 > 2.0f * (float)(cx * (k1 - k0 + 1))) {
                c = (hi - sm / s0) / (hi - lo);
                c = c < 0 ? 0 : c > 1 ? 1 : c;
            }
            pr->conf[(size_t)y * w + x] = c;
        }
    }
}

void ts_interp_pair_set(ts_interp_pair * pr, const struct ts_interp_params * p, const uint8_t * a, const uint8_t * b) {
    const size_t n = (size_t)pr->w * pr->h;
    pr->a = a;
    pr->b = b;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 4; k++) {
            pr->fa[4 * i + k] = k < 3 ? (float)a[3 * i + k] : 0.0f;
            pr->fb[4 * i + k] = k < 3 ? (float)b[3 * i + k] : 0.0f;
        }
    ts_interp_gray(a, pr->w, pr->h, pr->gray);
    ts_interp_gray(b, pr->w, pr->h, pr->gray + n);
    ts_flow_estimate(&p->flow, pr->gray, pr->gray + n, pr->w, pr->h, pr->f01);
    ts_flow_estimate(&p->flow, pr->gray + n, pr->gray, pr->w, pr->h, pr->f10);
    motion_blocks(pr, p->motion_lo);
    confidence(pr, p);
}

const float * ts_interp_pair_flow(const ts_interp_pair * pr, int backward) { return backward ? pr->f10 : pr->f01; }

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static inline void clampf2(float * x, float * y, int w, int h) {
    if (*x < 0) *x = 0;
    if (*y < 0) *y = 0;
    if (*x > (float)(w - 1)) *x = (float)(w - 1);
    if (*y > (float)(h - 1)) *y = (float)(h - 1);
}

// Bilinear sample of a (h, w, 2) flow, clamped to the border.
static inline __attribute__((always_inline)) void flow_at(const float * F, int w, int h, float x, float y, float * u, float * v) {
    clampf2(&x, &y, w, h);
    int x0 = (int)x, y0 = (int)y;
    if (x0 > w - 2) x0 = w > 1 ? w - 2 : 0;
    if (y0 > h - 2) y0 = h > 1 ? h - 2 : 0;
    const int x1 = w > 1 ? x0 + 1 : x0, y1 = h > 1 ? y0 + 1 : y0;
    const float fx = x - (float)x0, fy = y - (float)y0;
    const float * a = F + ((size_t)y0 * w + x0) * 2, * b = F + ((size_t)y0 * w + x1) * 2;
    const float * c = F + ((size_t)y1 * w + x0) * 2, * d = F + ((size_t)y1 * w + x1) * 2;
    const float tu = a[0] + fx * (b[0] - a[0]), bu = c[0] + fx * (d[0] - c[0]);
    const float tv = a[1] + fx * (b[1] - a[1]), bv = c[1] + fx * (d[1] - c[1]);
    *u = tu + fy * (bu - tu);
    *v = tv + fy * (bv - tv);
}

// Bilinear sample of RGB24 at (x, y), clamped to the border: rgb[3] as floats.
static inline void rgb_at(const uint8_t * I, int w, int h, float x, float y, float * rgb) {
    clampf2(&x, &y, w, h);
    int x0 = (int)x, y0 = (int)y;
    if (x0 > w - 2) x0 = w > 1 ? w - 2 : 0;
    if (y0 > h - 2) y0 = h > 1 ? h - 2 : 0;
    const int x1 = w > 1 ? x0 + 1 : x0, y1 = h > 1 ? y0 + 1 : y0;
    const float fx = x - (float)x0, fy = y - (float)y0;
    const uint8_t * a = I + ((size_t)y0 * w + x0) * 3, * b = I + ((size_t)y0 * w + x1) * 3;
    const uint8_t * c = I + ((size_t)y1 * w + x0) * 3, * d = I + ((size_t)y1 * w + x1) * 3;
    for (int k = 0; k < 3; k++) {
        const float top = a[k] + fx * ((float)b[k] - a[k]), bot = c[k] + fx * ((float)d[k] - c[k]);
        rgb[k] = top + fy * (bot - top);
    }
}

// Catmull-Rom weights of the 4 taps around a sample at fraction f of the way from tap 1 to tap 2.
static inline void cr_weights(float f, float * wt) {
    const float f2 = f * f, f3 = f2 * f;
    wt[0] = -0.5f * f3 + f2 - 0.5f * f;
    wt[1] = 1.5f * f3 - 2.5f * f2 + 1.0f;
    wt[2] = -1.5f * f3 + 2.0f * f2 + 0.5f * f;
    wt[3] = 0.5f * f3 - 0.5f * f2;
}

// Bicubic (Catmull-Rom) sample at (x, y) of an (h, w, 4) float image, taps clamped
// to the border: rgb[3].
static inline void rgb_cubic_at(const float * I, int w, int h, float x, float y, float * rgb) {
    clampf2(&x, &y, w, h);
    const int x0 = (int)x, y0 = (int)y;
    float wx[4], wy[4];
    cr_weights(x - (float)x0, wx);
    cr_weights(y - (float)y0, wy);
    int xs[4], ys[4];
    if (x0 >= 1 && x0 + 2 < w) {
        for (int i = 0; i < 4; i++) xs[i] = 4 * (x0 - 1 + i);
    } else {
        for (int i = 0; i < 4; i++) xs[i] = 4 * clampi(x0 - 1 + i, 0, w - 1);
    }
    for (int j = 0; j < 4; j++) ys[j] = clampi(y0 - 1 + j, 0, h - 1);
    float acc[4] = {0, 0, 0, 0};
    for (int j = 0; j < 4; j++) {
        const float * r = I + (size_t)ys[j] * w * 4;
        float row[4] = {0, 0, 0, 0};
        for (int i = 0; i < 4; i++)
            for (int k = 0; k < 4; k++) row[k] += wx[i] * r[xs[i] + k];
        for (int k = 0; k < 4; k++) acc[k] += wy[j] * row[k];
    }
    rgb[0] = acc[0];
    rgb[1] = acc[1];
    rgb[2] = acc[2];
}

// The point p of the source frame that flow F (source -> other frame) carries onto
// (x, y) at fraction s of the way: p + s F(p) = (x, y). Fixed-point iteration
// p <- (x, y) - s F(p) from p = (x, y); the iterate with the smallest residual
// wins (it does not converge across occlusion boundaries: the residual says so).
// Stops once the residual is under TS_INTERP_FP_TOL px. F(p) into (*pu, *pv).
// (x, y) is a pixel (integers).
#define TS_INTERP_FP_ITERS 6
#define TS_INTERP_FP_TOL 0.01f
static inline float fixed_point(const float * F, int w, int h, float s, float x, float y, float * px, float * py,
                                float * pu, float * pv) {
    float cx = x, cy = y, bx = x, by = y, bu = 0, bv = 0, best = INFINITY;
    for (int it = 0; it < TS_INTERP_FP_ITERS; it++) {
        float u, v;
        if (it == 0 && x < (float)(w - 1) && y < (float)(h - 1)) {  // on the grid: the sample is the tap
            const size_t i = (size_t)y * w + (size_t)x;
            u = F[2 * i];
            v = F[2 * i + 1];
        } else {
            flow_at(F, w, h, cx, cy, &u, &v);
        }
        const float rx = cx + s * u - x, ry = cy + s * v - y;
        const float r = rx * rx + ry * ry;
        if (r < best) {
            best = r;
            bx = cx;
            by = cy;
            bu = u;
            bv = v;
        }
        if (r < TS_INTERP_FP_TOL * TS_INTERP_FP_TOL) break;
        cx = x - s * u;
        cy = y - s * v;
    }
    *px = bx;
    *py = by;
    *pu = bu;
    *pv = bv;
    return sqrtf(best);
}

// Forward-backward mismatch at p of frame "src", whose flow is (u, v) = F(p): |F(p) + G(p + F(p))|.
static inline float fb_error(const float * G, int w, int h, float px, float py, float u, float v) {
    float gu, gv;
    flow_at(G, w, h, px + u, py + v, &gu, &gv);
    const float ex = u + gu, ey = v + gv;
    return sqrtf(ex * ex + ey * ey) / (1.0f + 0.05f * sqrtf(u * u + v * v));
}

// Largest component of a (h, w, 2) flow at pixel (x, y), in pixels.
static inline float flow_linf(const float * F, int w, int x, int y) {
    const float u = fabsf(F[2 * ((size_t)y * w + x)]), v = fabsf(F[2 * ((size_t)y * w + x) + 1]);
    return u > v ? u : v;
}

// Pixel i of the plain blend (1 - t) a + t b into out.
static inline void blend_px(const uint8_t * a, const uint8_t * b, float t, size_t i, uint8_t * out) {
    for (int k = 0; k < 3; k++) {
        const float v = (1.0f - t) * a[3 * i + k] + t * b[3 * i + k] + 0.5f;
        out[3 * i + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

void ts_interp_pair_frame(const ts_interp_pair * pr, const struct ts_interp_params * p, double t, uint8_t * out) {
    TS_ASSERT(pr->a && pr->b && t > 0 && t < 1);
    const int w = pr->w, h = pr->h;
    const float tf = (float)t;
    const float ifp = 1.0f / (p->sigma_fp * p->sigma_fp), ifb = 1.0f / (p->sigma_fb * p->sigma_fb);
    const float mlo = p->motion_lo, mspan = p->motion_hi - p->motion_lo;
    const int use_mc = pr->mc_lo == p->motion_lo;  // the blocks hold for these parameters
#pragma omp parallel for schedule(static)
    for (int y = 0; y < h; y++) {
        const uint8_t * mrow = use_mc ? pr->mc + (size_t)(y / TS_INTERP_BLOCK) * pr->nbx : NULL;
        for (int x = 0; x < w; x++) {
            const float conf = pr->conf[(size_t)y * w + x];
            if ((mrow && !mrow[x / TS_INTERP_BLOCK]) || conf == 0) {  // the plain blend (conf: see below)
                blend_px(pr->a, pr->b, tf, (size_t)y * w + x, out);
                continue;
            }
            float pax, pay, pbx, pby, ca[3], cb[3];
            // a's point that reaches (x, y) at t, and b's point that got there at t
            float ua, va, ub, vb;
            const float ra = fixed_point(pr->f01, w, h, tf, (float)x, (float)y, &pax, &pay, &ua, &va);
            const float rb = fixed_point(pr->f10, w, h, 1.0f - tf, (float)x, (float)y, &pbx, &pby, &ub, &vb);
            const float ea = fb_error(pr->f10, w, h, pax, pay, ua, va);
            const float eb = fb_error(pr->f01, w, h, pbx, pby, ub, vb);
            // Motion at this pixel: the largest flow component of the pixel itself (both
            // directions) and of its two source points. Under about a pixel of motion the
            // plain blend is the better guess: for a sharp (1 px anti-aliased) edge moving
            // d px, blending is exact while no pixel boundary is crossed and beats bicubic
            // warping for d below ~0.9 px (bilinear warping for d below 1); smoother
            // content moves the crossover lower, hence the ramp from motion_lo to motion_hi.
            float m = flow_linf(pr->f01, w, x, y);
            const float mb = flow_linf(pr->f10, w, x, y);
            m = mb > m ? mb : m;
            const float m1 = fmaxf(fmaxf(fabsf(ua), fabsf(va)), fmaxf(fabsf(ub), fabsf(vb)));
            m = m1 > m ? m1 : m;
            float g = mspan > 0 ? (m - mlo) / mspan : (m > mlo ? 1.0f : 0.0f);
            g = g < 0 ? 0 : g > 1 ? 1 : g;
            g *= conf;  // content that changes rather than moves: the blend
            if (g == 0) {  // under a pixel of motion: the plain blend
                blend_px(pr->a, pr->b, tf, (size_t)y * w + x, out);
                continue;
            }
            const size_t i = (size_t)y * w + x;
            uint8_t * o = out + i * 3;
            float wa = (1.0f - tf) * expf(-ra * ra * ifp) * (p->kappa + expf(-ea * ea * ifb));
            float wb = tf * expf(-rb * rb * ifp) * (p->kappa + expf(-eb * eb * ifb));
            if (!(wa + wb > 1e-30f)) {  // neither warp holds: plain blend of the warps
                wa = 1.0f - tf;
                wb = tf;
            }
            // a hypothesis with a negligible share (under 1e-5) is not sampled
            const float tiny = 1e-5f * (wa + wb);
            if (wa < tiny) {
                ca[0] = ca[1] = ca[2] = 0;
                wa = 0;
            } else if (p->cubic) {
                rgb_cubic_at(pr->fa, w, h, pax, pay, ca);
            } else {
                rgb_at(pr->a, w, h, pax, pay, ca);
            }
            if (wb < tiny) {
                cb[0] = cb[1] = cb[2] = 0;
                wb = 0;
            } else if (p->cubic) {
                rgb_cubic_at(pr->fb, w, h, pbx, pby, cb);
            } else {
                rgb_at(pr->b, w, h, pbx, pby, cb);
            }
            const float inv = 1.0f / (wa + wb);
            for (int k = 0; k < 3; k++) {
                const float bl = (1.0f - tf) * pr->a[3 * i + k] + tf * pr->b[3 * i + k];
                float v = g * (wa * ca[k] + wb * cb[k]) * inv + (1.0f - g) * bl + 0.5f;
                o[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    }
}

void ts_interp_frames(const struct ts_interp_params * p, const uint8_t * a, const uint8_t * b, int w, int h, int n,
                      uint8_t * out) {
    ts_interp_pair * pr = ts_interp_pair_new(w, h);
    ts_interp_pair_set(pr, p, a, b);
    for (int k = 1; k <= n; k++) ts_interp_pair_frame(pr, p, (double)k / (n + 1), out + (size_t)(k - 1) * w * h * 3);
    ts_interp_pair_free(&pr);
}

// ---- timing -------------------------------------------------------------------------------
static int64_t gcd64(int64_t a, int64_t b) {
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

// Best rational approximation of x > 0 with denominator <= maxden (continued fractions).
static void to_fraction(double x, int64_t maxden, int64_t * num, int64_t * den) {
    int64_t h0 = 0, h1 = 1, k0 = 1, k1 = 0;
    double r = x;
    for (int i = 0; i < 64; i++) {
        const double a = floor(r);
        if (a > 1e12) break;
        const int64_t ai = (int64_t)a;
        const int64_t h2 = ai * h1 + h0, k2 = ai * k1 + k0;
        if (k2 > maxden) break;
        h0 = h1;
        h1 = h2;
        k0 = k1;
        k1 = k2;
        if (fabs(x - (double)h1 / (double)k1) <= 1e-9 * x) break;
        const double f = r - a;
        if (f < 1e-12) break;
        r = 1.0 / f;
    }
    if (k1 == 0) {  // x beyond the first convergent's range
        h1 = (int64_t)llround(x);
        k1 = 1;
    }
    *num = h1;
    *den = k1;
}

enum ts_status ts_interp_timing_from_fps(double fps_in, double fps_out, struct ts_interp_timing * out) {
    if (!(fps_in > 0 && isfinite(fps_in) && fps_in <= 1e6))
        return ts_error(TS_ERR_ARG, "give the input's rate with --fps-in", "input frame rate %g is not usable", fps_in);
    if (!(fps_out > 0 && isfinite(fps_out) && fps_out <= 1e6))
        return ts_error(TS_ERR_ARG, "e.g. --fps-out 60", "output frame rate %g is not usable", fps_out);
    int64_t pi, qi, po, qo;
    to_fraction(fps_in, 100100, &pi, &qi);
    to_fraction(fps_out, 100100, &po, &qo);
    int64_t num = pi * qo, den = qi * po;
    const int64_t g = gcd64(num, den);
    num /= g;
    den /= g;
    if (num <= 0 || num >= den)
        return ts_error(TS_ERR_ARG, "interpolation makes more frames: choose a higher --fps-out",
                        "--fps-out %g is not above the input's frame rate %g", fps_out, fps_in);
    if (den > TS_INTERP_MAX_RATIO * num)
        return ts_error(TS_ERR_ARG, "interpolate in stages, or raise the input's rate",
                        "--fps-out %g is more than %d times the input's frame rate %g", fps_out, TS_INTERP_MAX_RATIO,
                        fps_in);
    out->num = num;
    out->den = den;
    return TS_OK;
}

int64_t ts_interp_out_count(int64_t T, struct ts_interp_timing tm) {
    return T <= 0 ? 0 : (T - 1) * tm.den / tm.num + 1;
}

void ts_interp_out_range(int64_t T, int64_t g0, int64_t count, struct ts_interp_timing tm, int64_t * j0, int64_t * jn) {
    TS_ASSERT(tm.num > 0 && tm.den > tm.num && g0 >= 0 && count >= 0);
    const int64_t total = ts_interp_out_count(T, tm);
    int64_t a = (g0 * tm.den + tm.num - 1) / tm.num;                                          // first j with k >= g0
    int64_t b = g0 + count >= T ? total : ((g0 + count) * tm.den + tm.num - 1) / tm.num;  // first j with k >= g0+count
    if (a > total) a = total;
    if (b < a) b = a;
    *j0 = a;
    *jn = b - a;
}

// ---- streaming ---------------------------------------------------------------------------
struct ts_interp_stream {
    struct ts_interp_params p;
    struct ts_interp_timing tm;
    int w, h;
    int64_t g0, count;      // keyframes [g0, g0 + count), count -1: to the source's end
    ts_interp_key_fn key;
    void * ud;
    int rank_mode;          // 1: the halo frame g0 + count comes from `halo`
    const uint8_t * halo;   // (h, w, 3) borrowed, NULL: no right neighbour
    uint8_t * keys;         // (2, h, w, 3) the two keyframe slots; owned
    uint8_t * ka;           // (h, w, 3) keyframe k_a: one of the slots
    uint8_t * kb;           // (h, w, 3) keyframe k_a + 1 when has_b: the other slot
    int64_t k_a;            // -1 before the first read
    int has_b;
    ts_interp_pair * pair;  // flows of (ka, kb) when pair_ready; owned
    int pair_ready;
    int64_t j;              // next output frame (global index)
    int done;
    int64_t keys_read, frames_out;
};

static enum ts_status stream_open(const struct ts_interp_params * p, int w, int h, struct ts_interp_timing tm,
                                  int64_t g0, int64_t count, ts_interp_key_fn key, void * ud, int rank_mode,
                                  const uint8_t * halo, ts_interp_stream ** out) {
    *out = NULL;
    if (w < 2 || h < 2)
        return ts_error(TS_ERR_ARG, "the motion estimate needs frames of at least 2x2 pixels",
                        "frames of %dx%d are too small to interpolate", w, h);
    TS_ASSERT(tm.num > 0 && tm.den > tm.num && g0 >= 0 && count >= -1 && key);
    ts_interp_stream * s = ts_calloc(1, sizeof *s);
    s->p = *p;
    s->tm = tm;
    s->w = w;
    s->h = h;
    s->g0 = g0;
    s->count = count;
    s->key = key;
    s->ud = ud;
    s->rank_mode = rank_mode;
    s->halo = halo;
    const size_t fb = (size_t)w * h * 3;
    s->keys = ts_malloc(2 * fb);
    s->ka = s->keys;
    s->kb = s->keys + fb;
    s->k_a = -1;
    s->pair = ts_interp_pair_new(w, h);
    s->j = (g0 * tm.den + tm.num - 1) / tm.num;  // first j with k >= g0
    *out = s;
    return TS_OK;
}

enum ts_status ts_interp_stream_open(const struct ts_interp_params * p, int w, int h, struct ts_interp_timing tm,
                                     int64_t g0, int64_t count, ts_interp_key_fn key, void * ud,
                                     ts_interp_stream ** out) {
    return stream_open(p, w, h, tm, g0, count, key, ud, 0, NULL, out);
}

enum ts_status ts_interp_rank_stream_open(const struct ts_interp_params * p, int w, int h,
                                          struct ts_interp_timing tm, int64_t g0, int64_t count,
                                          ts_interp_key_fn key, void * ud, const uint8_t * halo,
                                          ts_interp_stream ** out) {
    TS_ASSERT(count >= 1);
    return stream_open(p, w, h, tm, g0, count, key, ud, 1, halo, out);
}

void ts_interp_stream_free(ts_interp_stream ** ps) {
    ts_interp_stream * s = *ps;
    if (!s) return;
    ts_interp_pair_free(&s->pair);
    free(s->keys);
    TS_FREE(*ps);
}

void ts_interp_stream_counts(const ts_interp_stream * s, int64_t * keys_read, int64_t * frames_out) {
    if (keys_read) *keys_read = s->keys_read;
    if (frames_out) *frames_out = s->frames_out;
}

// Keyframe g into buf (the source, or the halo for the rank's right neighbour's frame).
static enum ts_status load_key(ts_interp_stream * s, int64_t g, uint8_t * buf, int * got) {
    *got = 0;
    if (s->rank_mode && g >= s->g0 + s->count) {
        TS_ASSERT(g == s->g0 + s->count);
        if (s->halo) {
            memcpy(buf, s->halo, (size_t)s->w * s->h * 3);
            *got = 1;
        }
        return TS_OK;
    }
    TS_TRY(s->key(s->ud, g, buf, got));
    if (*got) s->keys_read++;
    else if (s->rank_mode || (s->count >= 0 && g < s->g0 + s->count))
        return ts_error(TS_ERR_FORMAT, NULL, "keyframe %lld is missing: the source ended early", (long long)g);
    return TS_OK;
}

enum ts_status ts_interp_stream_next(ts_interp_stream * s, uint8_t * rgb, int64_t * jout, int * got) {
    *got = 0;
    if (s->done) return TS_OK;
    const int64_t k = s->j * s->tm.num / s->tm.den;
    const int64_t rem = s->j * s->tm.num - k * s->tm.den;
    if (s->count >= 0 && k >= s->g0 + s->count) {
        s->done = 1;
        return TS_OK;
    }
    int ok = 0;
    if (s->k_a < 0) {
        enum ts_status st = load_key(s, s->g0, s->ka, &ok);
        if (st != TS_OK || !ok) {
            s->done = 1;
            return st;
        }
        s->k_a = s->g0;
    }
    while (s->k_a < k) {  // advance: b becomes a
        if (!s->has_b) {
            enum ts_status st = load_key(s, s->k_a + 1, s->kb, &ok);
            if (st != TS_OK || !ok) {
                s->done = 1;
                return st;
            }
        }
        uint8_t * t = s->ka;
        s->ka = s->kb;
        s->kb = t;
        s->k_a++;
        s->has_b = 0;
        s->pair_ready = 0;
    }
    if (rem == 0) {
        memcpy(rgb, s->ka, (size_t)s->w * s->h * 3);
    } else {
        if (!s->has_b) {
            enum ts_status st = load_key(s, s->k_a + 1, s->kb, &ok);
            if (st != TS_OK || !ok) {  // past the last keyframe: the video ends
                s->done = 1;
                return st;
            }
            s->has_b = 1;
        }
        if (!s->pair_ready) {
            ts_interp_pair_set(s->pair, &s->p, s->ka, s->kb);
            s->pair_ready = 1;
        }
        ts_interp_pair_frame(s->pair, &s->p, (double)rem / (double)s->tm.den, rgb);
    }
    if (jout) *jout = s->j;
    s->j++;
    s->frames_out++;
    *got = 1;
    return TS_OK;
}
