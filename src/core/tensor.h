// Tensors with shapes, and arenas: one allocation per group (weights,
// activations) with tensors pointing into it.
#pragma once
#include <stddef.h>  // size_t
#include <stdint.h>

#define TS_MAX_DIMS 4

// A view of float32 data with a shape. Does not own `data` (its arena does).
typedef struct ts_tensor {
    float * data;
    int ndim;
    int64_t shape[TS_MAX_DIMS];
} ts_tensor;

int64_t ts_tensor_numel(const ts_tensor * t);
// "(16, 64, 256)" into buf; returns buf
const char * ts_shape_str(const ts_tensor * t, char * buf, size_t n);

// A bump allocator over one block. Every pointer it hands out is 64-byte aligned.
typedef struct ts_arena {
    char * base;     // owned: freed by ts_arena_free
    size_t size;     // bytes
    size_t used;     // bytes
} ts_arena;

void ts_arena_init(ts_arena * a, size_t bytes);   // aborts on out of memory
void ts_arena_free(ts_arena * a);                  // sets base to NULL
// Bytes ts_arena_alloc would consume for n floats (for sizing a group first).
size_t ts_arena_need(int64_t n_floats);
// Aborts (tier 1) when the arena is too small: callers size it first.
float * ts_arena_alloc(ts_arena * a, int64_t n_floats);
ts_tensor ts_arena_tensor(ts_arena * a, int ndim, const int64_t * shape);
