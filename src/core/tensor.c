// Tensor views (numel, shape strings) and the 64-byte-aligned bump arena.
#include "core/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"  // TS_ASSERT, ts_abort

#define TS_ARENA_ALIGN 64

int64_t ts_tensor_numel(const ts_tensor * t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

const char * ts_shape_str(const ts_tensor * t, char * buf, size_t n) {
    if (n == 0) return buf;
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < t->ndim && used < n; i++) {
        int w = snprintf(buf + used, n - used, "%s%lld", i ? ", " : "(", (long long)t->shape[i]);
        if (w < 0) break;
        used += (size_t)w;
    }
    if (used < n) snprintf(buf + used, n - used, t->ndim ? ")" : "()");
    return buf;
}

static size_t ts_round_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

void ts_arena_init(ts_arena * a, size_t bytes) {
    size_t sz = ts_round_up(bytes ? bytes : TS_ARENA_ALIGN, TS_ARENA_ALIGN);
    a->base = aligned_alloc(TS_ARENA_ALIGN, sz);
    if (!a->base) ts_abort(__FILE__, __LINE__, "out of memory allocating an arena of %zu bytes", sz);
    memset(a->base, 0, sz);
    a->size = sz;
    a->used = 0;
}

void ts_arena_free(ts_arena * a) {
    free(a->base);
    a->base = NULL;
    a->size = 0;
    a->used = 0;
}

size_t ts_arena_need(int64_t n_floats) {
    TS_ASSERT(n_floats >= 0);
    return ts_round_up((size_t)n_floats * sizeof(float), TS_ARENA_ALIGN);
}

float * ts_arena_alloc(ts_arena * a, int64_t n_floats) {
    TS_ASSERT(a->base != NULL);
    size_t need = ts_arena_need(n_floats);
    if (need > a->size - a->used)
        ts_abort(__FILE__, __LINE__, "arena too small: need %zu bytes more, %zu of %zu left", need, a->size - a->used,
                 a->size);
    float * p = (float *)(a->base + a->used);
    a->used += need;
    return p;
}

ts_tensor ts_arena_tensor(ts_arena * a, int ndim, const int64_t * shape) {
    TS_ASSERT(ndim >= 0 && ndim <= TS_MAX_DIMS);
    ts_tensor t = {0};
    t.ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        TS_ASSERT(shape[i] >= 0);
        t.shape[i] = shape[i];
    }
    t.data = ts_arena_alloc(a, ts_tensor_numel(&t));
    return t;
}
