// Model weights: HDF5 (docs/ARCHITECTURE.md layout: /config attributes, /vocab strings,
// /tensors/<name> float32 or float16) or safetensors (config and vocab in the
// header's __metadata__). Every tensor is converted to float32 on load.
#pragma once
#include <stdint.h>
#include <stddef.h>

#include "timeshard/timeshard.h"

typedef struct ts_weights ts_weights;  // an open weights file

// Opens HDF5 or safetensors (chosen by magic bytes, not extension). A missing,
// truncated or malformed file is a TS_ERR_IO / TS_ERR_FORMAT error naming it.
enum ts_status ts_weights_open(const char * path, ts_weights ** out);
void ts_weights_close(ts_weights ** w);  // sets *w to NULL
const char * ts_weights_path(const ts_weights * w);

// Config values (HDF5: attributes of /config; safetensors: __metadata__ keys).
// A missing key is an error naming it; ints and floats accept either type.
enum ts_status ts_weights_config_int(const ts_weights * w, const char * key, int64_t * v);
enum ts_status ts_weights_config_float(const ts_weights * w, const char * key, double * v);
enum ts_status ts_weights_config_str(const ts_weights * w, const char * key, char * buf, size_t n);
int ts_weights_config_has(const ts_weights * w, const char * key);

// The vocabulary, in id order (HDF5: /vocab; safetensors: __metadata__
// "vocab", words joined by '\n'). *words is an array of n strings owned by w.
enum ts_status ts_weights_vocab(const ts_weights * w, const char * const ** words, int * n);

// 1 if tensor `name` exists.
int ts_weights_has(const ts_weights * w, const char * name);
// Reads tensor `name`, which must have exactly this shape, into dst (float32,
// host memory, numel floats). Missing: "weights file 'P' has no tensor 'N'";
// other shape: "... tensor 'N' has shape (a, b), expected (c, d)"; both with a
// hint. f16 and f32 accepted.
enum ts_status ts_weights_read(const ts_weights * w, const char * name, int ndim, const int64_t * shape, float * dst);
// Number of tensors and the name of tensor i (for `timeshard info`): its rank, shape
// (room for TS_WEIGHTS_MAX_DIMS) and stored type ("f32", "f16", "bf16", "f64"), each optional.
#define TS_WEIGHTS_MAX_DIMS 8
int ts_weights_count(const ts_weights * w);
const char * ts_weights_name(const ts_weights * w, int i, int * ndim, int64_t * shape, const char ** dtype);

// SHA-256 of a file's bytes as 64 lowercase hex chars + NUL.
enum ts_status ts_file_sha256(const char * path, char hex[65]);
