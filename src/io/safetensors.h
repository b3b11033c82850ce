// safetensors files memory-mapped, as stored (no conversion), one file or a
// sharded set (a `.safetensors.index.json` naming which file holds each
// tensor). The JSON (headers, index) goes through jansson.
//
//     ts_st * st;
//     TS_TRY(ts_st_open("model.safetensors", &st));      // or the .index.json
//     const struct ts_st_tensor * t = ts_st_find(st, "head.head.weight");
//     // t->data: t->nbytes bytes of t->dtype, row-major t->shape, little-endian
//     ts_st_close(&st);
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "timeshard/timeshard.h"  // enum ts_status

#define TS_ST_MAX_DIMS 8

enum ts_st_dtype { TS_ST_F32, TS_ST_F16, TS_ST_BF16, TS_ST_DTYPE_COUNT };
const char * ts_st_dtype_name(enum ts_st_dtype dt);  // "F32", "F16", "BF16"
int ts_st_dtype_bytes(enum ts_st_dtype dt);

struct ts_st_tensor {
    const char * name;  // owned by the ts_st
    enum ts_st_dtype dtype;
    int ndim;
    int64_t shape[TS_ST_MAX_DIMS];
    int64_t numel;
    const void * data;  // inside the read-only mapping; valid until ts_st_close
    uint64_t nbytes;
    int file;  // which mapped file (index into the set's files)
};

typedef struct ts_st ts_st;

// Opens a single safetensors file, or a shard index (a path ending in
// ".index.json": every shard it names is opened from its folder). Errors, each
// one line with a hint: missing or truncated files, a header that is not
// safetensors JSON, fp8 or other unsupported dtypes, GGUF files and PyTorch
// pickles (.pth / .pt / .bin) given in its place, a missing shard, an index
// naming a tensor its shard does not hold, a tensor in two shards.
enum ts_status ts_st_open(const char * path, ts_st ** out);
void ts_st_close(ts_st ** st);  // unmaps; sets *st to NULL

int ts_st_count(const ts_st * st);
const struct ts_st_tensor * ts_st_at(const ts_st * st, int i);                // sorted by name
const struct ts_st_tensor * ts_st_find(const ts_st * st, const char * name);  // NULL: absent
// The file the set was opened from (the index for a sharded set).
const char * ts_st_path(const ts_st * st);
int ts_st_file_count(const ts_st * st);
const char * ts_st_file_path(const ts_st * st, int file);
// A string value of the first file's __metadata__, or NULL (owned by st).
const char * ts_st_metadata(const ts_st * st, const char * key);
// The model digest of a set without reading gigabytes: SHA-256 over the file
// the set was opened from when it is a shard index, then every file's 8-byte
// header length and JSON header in order, then the bytes of `extra` (a config
// file; NULL for none). 64 lowercase hex chars + NUL. Without OpenSSL: an
// error naming the missing library.
enum ts_status ts_st_digest(const ts_st * st, const char * extra, char hex[65]);
// Bytes mapped over all files (the file sizes).
uint64_t ts_st_mapped_bytes(const ts_st * st);

// Refuses files a user may hand over by mistake, by magic bytes and name:
// PyTorch pickles (zip or raw pickle; hint: tools/wan/pth_to_safetensors.py),
// GGUF. Returns TS_OK when the file looks like none of them.
enum ts_status ts_st_refuse_foreign(const char * path);

// Float conversions of stored 16-bit values (exact).
static inline float ts_bf16_to_float(uint16_t h) {
    union {
        uint32_t u;
        float f;
    } v = {.u = (uint32_t)h << 16};
    return v.f;
}
float ts_f16_to_float(uint16_t h);
// n values of dtype dt starting at element offset `off` of src, to float.
void ts_st_to_float(float * dst, const void * src, enum ts_st_dtype dt, int64_t off, int64_t n);
