// Names of the public enums (backend, dtype, halo), parsed once by the caller.
#include <string.h>

#include "timeshard/timeshard.h"

static const char * const ts_backend_names[TS_BACKEND_COUNT] = {"auto", "cpu", "cuda"};
static const char * const ts_dtype_names[TS_DTYPE_COUNT] = {"fp32", "tf32", "bf16", "fp16"};
static const char * const ts_halo_names[TS_HALO_COUNT] = {"auto", "qkv", "act"};

static int ts_name_find(const char * const * names, int n, const char * s) {
    for (int i = 0; s && i < n; i++)
        if (!strcmp(names[i], s)) return i;
    return -1;
}

const char * ts_backend_kind_name(enum ts_backend_kind k) {
    return (unsigned)k < TS_BACKEND_COUNT ? ts_backend_names[k] : "?";
}
int ts_backend_kind_from_str(const char * s) { return ts_name_find(ts_backend_names, TS_BACKEND_COUNT, s); }
const char * ts_dtype_name(enum ts_dtype t) { return (unsigned)t < TS_DTYPE_COUNT ? ts_dtype_names[t] : "?"; }
int ts_dtype_from_str(const char * s) { return ts_name_find(ts_dtype_names, TS_DTYPE_COUNT, s); }
const char * ts_halo_name(enum ts_halo h) { return (unsigned)h < TS_HALO_COUNT ? ts_halo_names[h] : "?"; }
int ts_halo_from_str(const char * s) { return ts_name_find(ts_halo_names, TS_HALO_COUNT, s); }
