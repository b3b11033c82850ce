// Counter-based RNG: Philox4x32-10 keyed by the seed, indexed by an element's
// global position, so any rank can draw exactly the numbers of its elements.
#pragma once
#include <stdint.h>

#if defined(__CUDACC__)
#define TS_HD __host__ __device__
#else
#define TS_HD
#endif

// One Philox4x32-10 block: counter (4 words) and key (2 words) -> 4 words.
TS_HD void ts_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

// Standard normal value for global element index `idx` of stream `stream`
// (e.g. 0 = initial noise) under `seed`. Pure function: same inputs, same bits,
// on every rank, thread count and backend. Box-Muller on two uniforms of the
// block for counter (idx/2, stream); even idx takes the cos branch, odd the sin.
TS_HD float ts_rng_normal(uint64_t seed, uint32_t stream, uint64_t idx);

// Fill out[i] = ts_rng_normal(seed, stream, first + i) for i in [0, n).
void ts_rng_normal_fill(float * out, int64_t n, uint64_t seed, uint32_t stream, uint64_t first);
