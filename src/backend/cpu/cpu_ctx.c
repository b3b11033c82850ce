// The CPU backend's context helpers used by every CPU op file: aligned
// buffers, per-thread scratch, and the ISA choice (AVX2+FMA or generic).
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "core/common.h"  // ts_abort

#if defined(__x86_64__) || defined(__i386__)
#define TS_CPU_X86 1
#endif

int ts_cpu_isa(void) {
    const char * cap = getenv("TS_CPU_ISA");
    if (cap && strcmp(cap, "generic") == 0) return TS_CPU_ISA_GENERIC;
#if TS_CPU_X86
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return TS_CPU_ISA_GENERIC;
    if (cap && strcmp(cap, "avx2") == 0) return TS_CPU_ISA_AVX2;
    return __builtin_cpu_supports("avx512f") ? TS_CPU_ISA_AVX512 : TS_CPU_ISA_AVX2;
#else
    return TS_CPU_ISA_GENERIC;
#endif
}

int ts_cpu_use_avx2(void) { return ts_cpu_isa() >= TS_CPU_ISA_AVX2; }

float * ts_cpu_aligned_alloc(size_t floats) {
    size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    float * p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p) ts_abort(__FILE__, __LINE__, "out of memory allocating %zu bytes", bytes);
    return p;
}

float * ts_cpu_scratch(ts_backend_t be, size_t floats, size_t * stride) {
    struct ts_cpu_ctx * c = be->ctx;
    size_t need = (floats + 15) / 16 * 16;
    if (need > c->scratch_stride) {
        free(c->scratch);
        c->scratch = ts_cpu_aligned_alloc(need * (size_t)c->threads);
        c->scratch_stride = need;
    }
    *stride = c->scratch_stride;
    return c->scratch;
}
