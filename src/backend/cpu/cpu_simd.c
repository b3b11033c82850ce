// SIMD helpers shared by the CPU ops: rows of softmax exponentials (generic and
// AVX2+FMA, chosen once per backend) and GELU / SiLU on blocks of 8 floats.
// Every element's value depends only on its inputs, never on n or the threads.
#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TS_ATTN_X86 1
#endif

#include "backend/cpu/cpu.h"

// ---- softmax exponentials ---------------------------------------------------------------------------
// s (n) <- exp(scale * (s - max s)), returns the sum; -INFINITY logits get
// weight 0 and an all -INFINITY row gives all zeros and sum 0. The AVX2 exp is
// Cephes' expf polynomial (about 1 ulp); arguments below -87 give 0.

static float ts_softmax_exp_generic(float * s, int n, float scale) {
    float mx = -INFINITY;
    for (int j = 0; j < n; j++) mx = s[j] > mx ? s[j] : mx;
    if (mx == -INFINITY) {
        memset(s, 0, (size_t)n * sizeof(float));
        return 0.0f;
    }
    float sum = 0.0f;
    for (int j = 0; j < n; j++) {
        s[j] = expf((s[j] - mx) * scale);
        sum += s[j];
    }
    return sum;
}

#if TS_ATTN_X86
__attribute__((target("avx2,fma"))) static inline __m256 ts_exp8(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.0f);
    __m256 zero_mask = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);  // also true for -inf
    x = _mm256_max_ps(x, lo);
    x = _mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f));
    __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
    y = _mm256_mul_ps(y, _mm256_castsi256_ps(e));
    return _mm256_andnot_ps(zero_mask, y);
}

// 8 lanes throughout; the tail is padded with -INFINITY (weight 0). The sum
// is 8 lane sums added in a fixed tree, so it depends only on n and s.
__attribute__((target("avx2,fma"))) static float ts_softmax_exp_avx2(float * s, int n, float scale) {
    int n8 = n / 8 * 8;
    float tail[8];
    for (int j = 0; j < 8; j++) tail[j] = n8 + j < n ? s[n8 + j] : -INFINITY;
    __m256 vmx = _mm256_loadu_ps(tail);
    for (int j = 0; j < n8; j += 8) vmx = _mm256_max_ps(vmx, _mm256_loadu_ps(s + j));
    float m8[8];
    _mm256_storeu_ps(m8, vmx);
    float mx = m8[0];
    for (int j = 1; j < 8; j++) mx = m8[j] > mx ? m8[j] : mx;
    if (mx == -INFINITY) {
        memset(s, 0, (size_t)n * sizeof(float));
        return 0.0f;
    }
    __m256 vm = _mm256_set1_ps(mx), vs = _mm256_set1_ps(scale), acc = _mm256_setzero_ps();
    for (int j = 0; j < n8; j += 8) {
        __m256 e = ts_exp8(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm), vs));
        _mm256_storeu_ps(s + j, e);
        acc = _mm256_add_ps(acc, e);
    }
    if (n8 < n) {
        __m256 e = ts_exp8(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(tail), vm), vs));
        _mm256_storeu_ps(tail, e);
        for (int j = n8; j < n; j++) s[j] = tail[j - n8];
        acc = _mm256_add_ps(acc, e);
    }
    float a[8];
    _mm256_storeu_ps(a, acc);
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

// GELU (tanh form) and SiLU on blocks of 8 with the same exp: 0.5 (1 + tanh u)
// = 1 / (1 + exp(-2u)). Every element goes through the vector code (the tail
// through a padded block), so its value never depends on n or the threads.
__attribute__((target("avx2,fma"))) void ts_cpu_gelu8(float * x) {
    __m256 v = _mm256_loadu_ps(x);
    __m256 u = _mm256_mul_ps(_mm256_set1_ps(0.7978845608028654f),
                             _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(0.044715f), v), _mm256_mul_ps(v, v), v));
    __m256 e = ts_exp8(_mm256_mul_ps(u, _mm256_set1_ps(-2.0f)));
    _mm256_storeu_ps(x, _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), e)));
}

__attribute__((target("avx2,fma"))) void ts_cpu_silu8(float * x) {
    __m256 v = _mm256_loadu_ps(x);
    __m256 e = ts_exp8(_mm256_sub_ps(_mm256_setzero_ps(), v));
    _mm256_storeu_ps(x, _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), e)));
}
#endif

ts_softmax_exp_fn ts_cpu_softmax_exp_select(int avx2) {
#if TS_ATTN_X86
    if (avx2) return ts_softmax_exp_avx2;
#endif
    return ts_softmax_exp_generic;
}
