// Fuzz target: a safetensors file (8-byte header length, JSON header, tensor
// table: dtypes, shapes, data_offsets) through ts_st_open, then every tensor's
// first and last values and the model digest.
#include "fuzz.h"
#include "io/safetensors.h"  // ts_st_open, ts_st_at, ts_st_to_float

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    fuzz_quiet();
    char path[64];
    int fd = fuzz_memfd(data, size, path, sizeof path);
    ts_st * st = NULL;
    if (ts_st_open(path, &st) == TS_OK) {
        for (int i = 0; i < ts_st_count(st); i++) {
            const struct ts_st_tensor * t = ts_st_at(st, i);
            float v[2];
            if (t->numel > 0) {
                ts_st_to_float(v, t->data, t->dtype, 0, 1);
                ts_st_to_float(v + 1, t->data, t->dtype, t->numel - 1, 1);
            }
            if (ts_st_find(st, t->name) != t) abort();
        }
        (void)ts_st_metadata(st, "format");
        char hex[65];
        (void)ts_st_digest(st, NULL, hex);
        ts_st_close(&st);
    }
    close(fd);
    return 0;
}
