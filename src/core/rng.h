// Counter-based RNG: Philox4x32-10 keyed by the seed, indexed by an element's
// global position, so any rank can draw exactly the numbers of its elements.
// The block function and the normal draw are defined here (static inline,
// TS_HD) so the CPU and CUDA backends share one definition.
#pragma once
#include <math.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define TS_HD __host__ __device__
#else
#define TS_HD
#endif

// One Philox4x32-10 block: counter (4 words) and key (2 words) -> 4 words.
// (Salmon et al., SC'11, "Parallel random numbers: as easy as 1, 2, 3".)
static inline TS_HD void ts_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        if (round > 0) {
            k0 += 0x9E3779B9u;  // golden ratio
            k1 += 0xBB67AE85u;  // sqrt(3) - 1
        }
        uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

// Standard normal value for global element index `idx` of stream `stream`
// (e.g. 0 = initial noise) under `seed`. Pure function: same inputs, same bits,
// on every rank, thread count and backend. Exactly (tools/philox.py mirrors it):
//   ctr = {lo32(idx/2), hi32(idx/2), stream, 0}, key = {lo32(seed), hi32(seed)}
//   o = philox4x32_10(ctr, key); u1 = (o[0] + 0.5) / 2^32; u2 = (o[1] + 0.5) / 2^32
//   r = sqrt(-2 log u1) (double); even idx: (float)(r cos(2 pi u2)), odd: (float)(r sin(2 pi u2))
// Exactly: ctr = {lo32(idx/2), hi32(idx/2), stream, 0}, key = {lo32(seed), hi32(seed)};
// u1 = (out[0] + 0.5) / 2^32, u2 = (out[1] + 0.5) / 2^32 (both in (0, 1));
// z = sqrt(-2 ln u1) * (cos | sin)(2 pi u2), evaluated in double, rounded to float.
static inline TS_HD float ts_rng_normal(uint64_t seed, uint32_t stream, uint64_t idx) {
    uint64_t blk = idx >> 1;
    const uint32_t ctr[4] = {(uint32_t)blk, (uint32_t)(blk >> 32), stream, 0u};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t r[4];
    ts_philox4x32_10(ctr, key, r);
    double u1 = ((double)r[0] + 0.5) * 0x1p-32;
    double u2 = ((double)r[1] + 0.5) * 0x1p-32;
    double rad = sqrt(-2.0 * log(u1));
    double ang = 6.283185307179586476925286766559 * u2;
    return (float)(rad * ((idx & 1) ? sin(ang) : cos(ang)));
}

// Fill out[i] = ts_rng_normal(seed, stream, first + i) for i in [0, n).
void ts_rng_normal_fill(float * out, int64_t n, uint64_t seed, uint32_t stream, uint64_t first);
